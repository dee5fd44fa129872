"""Accounts tables (filled in by the accounts work)."""
