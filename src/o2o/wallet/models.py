"""The ledger's tables: accounts with their four balance counters, immutable transfers, and burnt ids.

The rules live in ``wallet/ledger.py``; these tables only hold its state. Amounts are BIGINT (the core keeps
every component in ``0..AMOUNT_MAX = 2**63 - 1``). ``version`` on an account guards every balance update
(``UPDATE ... WHERE id = :id AND version = :v``), so a lost race is detected on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db import Base, CreatedAtMixin, IdMixin


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


# ---------------------------------------------------------------------------------------------------- payments


class PaymentIntent(IdMixin, CreatedAtMixin, Base):
    """One amount to collect for one thing sold (``o2o.wallet.intents`` has the state machine).

    ``refunded_amount`` counts every refund not failed (pending ones too), so a conditional
    ``UPDATE ... SET refunded_amount = refunded_amount + :r WHERE refunded_amount + :r <= amount`` caps refunds at
    what was paid even when two arrive at once. The settlement columns are set once, by a conditional update on
    ``settled_at IS NULL``.
    """

    __tablename__ = "wallet_payment_intents"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("refunded_amount >= 0 AND refunded_amount <= amount", name="refunds_within_amount"),
        Index("ix_wallet_payment_intents_due", "status", "next_check_at"),
        Index("ix_wallet_payment_intents_payer", "payer_person_id", "id"),
        Index("ix_wallet_payment_intents_reference", "purpose", "reference"),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    reference: Mapped[str | None] = mapped_column(String(64))
    payer_person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(20))
    method: Mapped[str | None] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    trade_no: Mapped[str | None] = mapped_column(String(32))  # the live channel trade's out_trade_no
    close_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    cancellation_reason: Mapped[str | None] = mapped_column(String(16))
    failure_code: Mapped[str | None] = mapped_column(String(48))
    expires_at: Mapped[dt.datetime] = mapped_column()
    next_check_at: Mapped[dt.datetime | None] = mapped_column()  # when the resolver asks the channel next
    checks: Mapped[int] = mapped_column(Integer, default=0)
    succeeded_at: Mapped[dt.datetime | None] = mapped_column()
    canceled_at: Mapped[dt.datetime | None] = mapped_column()
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_at: Mapped[dt.datetime | None] = mapped_column()
    courier_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    settled_merchant: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_commission: Mapped[int] = mapped_column(BigInteger, default=0)
    settled_courier: Mapped[int] = mapped_column(BigInteger, default=0)
    # Refunds after settlement take the money back from the merchant and the platform, in proportion.
    reversed_merchant: Mapped[int] = mapped_column(BigInteger, default=0)
    reversed_commission: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column()


class ChannelTrade(IdMixin, CreatedAtMixin, Base):
    """One attempt to collect an intent through a channel: ``out_trade_no`` is the channel's idempotency key.

    A new attempt starts only once the previous trade is known closed, so at most one trade of an intent can
    ever be paid; a payment on any other trade (a bug, or a channel gone wrong) is accepted into the ledger and
    sent straight back (``wallet_refunds`` with reason ``unaccepted_payment``)."""

    __tablename__ = "wallet_channel_trades"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id"), index=True)
    intent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallet_payment_intents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12))  # waiting | paid | closed
    channel_trade_no: Mapped[str | None] = mapped_column(String(64))
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_at: Mapped[dt.datetime | None] = mapped_column()  # the channel's time of payment
    closed_at: Mapped[dt.datetime | None] = mapped_column()
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)  # its money paid the intent


class Refund(IdMixin, CreatedAtMixin, Base):
    """A refund of (part of) a paid intent, idempotent by the caller's ``refund_no``.

    To the wallet it completes in the request. Back through the channel it reserves the amount in the ledger
    (a pending transfer escrow -> clearing), asks the channel after the commit, and posts or voids on the answer.
    """

    __tablename__ = "wallet_refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        UniqueConstraint("intent_id", "refund_no", name="uq_wallet_refunds_refund_no"),
        Index("ix_wallet_refunds_due", "status", "next_check_at"),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id"), index=True)
    intent_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("wallet_payment_intents.id"), index=True)
    trade_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("wallet_channel_trades.id"))
    refund_no: Mapped[str] = mapped_column(String(64))
    out_refund_no: Mapped[str] = mapped_column(String(32), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(String(200), default="")
    destination: Mapped[str] = mapped_column(String(16))  # wallet | channel
    status: Mapped[str] = mapped_column(String(12))  # pending | succeeded | failed
    failure_code: Mapped[str | None] = mapped_column(String(48))
    requested_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id"))
    channel_refund_no: Mapped[str | None] = mapped_column(String(64))
    succeeded_at: Mapped[dt.datetime | None] = mapped_column()
    next_check_at: Mapped[dt.datetime | None] = mapped_column()
    checks: Mapped[int] = mapped_column(Integer, default=0)
    # A refund of a settled sale: what it took back from the store and from the platform's commission.
    reversed_merchant: Mapped[int] = mapped_column(BigInteger, default=0)
    reversed_commission: Mapped[int] = mapped_column(BigInteger, default=0)


class Reconciliation(IdMixin, CreatedAtMixin, Base):
    """A comparison of one channel's bill for one day (China Standard Time) with our own records."""

    __tablename__ = "wallet_reconciliations"
    __table_args__ = (UniqueConstraint("channel", "day", name="uq_wallet_reconciliations_channel_day"),)

    channel: Mapped[str] = mapped_column(String(16))
    day: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # matched | differences
    our_entries: Mapped[int] = mapped_column(Integer)
    channel_entries: Mapped[int] = mapped_column(Integer)
    our_total: Mapped[int] = mapped_column(BigInteger)  # payments minus refunds, fen
    channel_total: Mapped[int] = mapped_column(BigInteger)


class ReconciliationDifference(IdMixin, Base):
    __tablename__ = "wallet_reconciliation_differences"

    reconciliation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("wallet_reconciliations.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))  # missing_in_ours | missing_in_channel | amount_differs
    entry: Mapped[str] = mapped_column(String(8))  # payment | refund
    out_trade_no: Mapped[str] = mapped_column(String(32))
    out_refund_no: Mapped[str | None] = mapped_column(String(32))
    ours: Mapped[int | None] = mapped_column(BigInteger)
    theirs: Mapped[int | None] = mapped_column(BigInteger)
