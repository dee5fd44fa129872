"""Stores: merchants, stores, catalogue and the stock every channel shares."""
