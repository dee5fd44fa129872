"""The ledger's tables: accounts with their four balance counters, immutable transfers, and burnt ids.

The rules live in ``wallet/ledger.py``; these tables only hold its state. Amounts are BIGINT (the core keeps
every component in ``0..AMOUNT_MAX = 2**63 - 1``). ``version`` on an account guards every balance update
(``UPDATE ... WHERE id = :id AND version = :v``), so a lost race is detected on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db import Base


class WalletAccount(Base):
    """A ledger account (TigerBeetle's ``Account``): ``currency`` is its ledger, ``kind`` its code.

    ``city_id`` is set on platform accounts (one per city); a person's wallet is per person and currency and
    belongs to no city, so it is nullable here.
    """

    __tablename__ = "wallet_accounts"
    __table_args__ = (
        CheckConstraint(
            "debits_pending >= 0 AND debits_posted >= 0 AND credits_pending >= 0 AND credits_posted >= 0",
            name="balances_non_negative",
        ),
        Index("ix_wallet_accounts_owner", "owner_kind", "owner_id", "currency"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    city_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("cities.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    kind: Mapped[str] = mapped_column(String(32))
    owner_kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[uuid.UUID | None] = mapped_column()
    flags: Mapped[int] = mapped_column(Integer)
    debits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    debits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_posted: Mapped[int] = mapped_column(BigInteger, default=0)
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[dt.datetime] = mapped_column()


class WalletTransfer(Base):
    """An immutable transfer record (TigerBeetle's ``Transfer``). ``pending_status`` is the one mutable column:
    set on pending transfers only, it leaves ``pending`` at most once (a conditional update), and the unique
    ``pending_id`` lets at most one post or void name a pending transfer."""

    __tablename__ = "wallet_transfers"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        Index("ix_wallet_transfers_due", "pending_status", "expires_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    debit_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallet_accounts.id"), index=True)
    credit_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallet_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    code: Mapped[int] = mapped_column(Integer)
    flags: Mapped[int] = mapped_column(Integer)
    pending_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("wallet_transfers.id"), unique=True)
    timeout: Mapped[int] = mapped_column(Integer, default=0)
    user_data_128: Mapped[uuid.UUID | None] = mapped_column()
    user_data_64: Mapped[int] = mapped_column(BigInteger, default=0)
    user_data_32: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column()
    expires_at: Mapped[dt.datetime | None] = mapped_column()
    pending_status: Mapped[str | None] = mapped_column(String(16))


class WalletFailedTransfer(Base):
    """An id that failed with a state-dependent result (``TRANSIENT_RESULTS``): ``id_already_failed`` forever."""

    __tablename__ = "wallet_failed_transfers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    result: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column()
