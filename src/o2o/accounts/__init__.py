"""Accounts: people, phones, one-time codes, sessions, roles, real-name verification, favourites."""
