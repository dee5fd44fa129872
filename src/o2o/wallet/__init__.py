"""The wallet: a double-entry ledger with TigerBeetle's semantics, payments, refunds and settlement.

``ledger_types`` and ``ledger`` are the pure core (no database, no web): the rules every persisted ledger
applies, and ``Ledger``, the in-memory reference implementation the persisted one is tested against.
"""
