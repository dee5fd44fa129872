"""The simulated providers' own state: their trades, refunds, and the callbacks they owe merchants.

These tables belong to the outside systems, not to us: nothing of ours reads them (our side only talks to the
simulators over HTTP). They carry no ``city_id``: a provider has no idea of our cities.

* ``channel_sim_trades``: one per (channel, out_trade_no), the merchant's idempotency key. ``status`` is the
  normalised state (``waiting`` / ``paid`` / ``closed``); the provider's own word is derived from it and from
  ``refunded_fen`` (Alipay ``TRADE_CLOSED`` after a full refund, WeChat ``REFUND``). A close of a trade the
  provider never saw leaves a *tombstone* (``amount_fen = 0``, closed) so that number can never be paid later.
* ``channel_sim_refunds``: one per (trade, out_refund_no); ``refunded_fen`` on the trade is their sum, guarded by
  a check constraint and a conditional update so concurrent refunds never exceed the amount.
* ``channel_sim_notifications``: callbacks queued for delivery (genuine, duplicated, delayed or tampered copies),
  claimed by the deliverer with a conditional update; ``channel_sim_deliveries`` logs every attempt: what was
  sent and what the merchant answered.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db import Base, CreatedAtMixin, IdMixin


class SimTrade(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "channel_sim_trades"
    __table_args__ = (
        UniqueConstraint("channel", "out_trade_no"),
        CheckConstraint("amount_fen >= 0", name="amount_non_negative"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunds_within_amount"),
        Index("ix_channel_sim_trades_due", "status", "expires_at"),
        Index("ix_channel_sim_trades_paid", "channel", "paid_at"),
    )

    channel: Mapped[str] = mapped_column(String(16))
    merchant_id: Mapped[str] = mapped_column(String(32))  # Alipay app_id / WeChat mchid
    out_trade_no: Mapped[str] = mapped_column(String(64))
    channel_trade_no: Mapped[str] = mapped_column(String(64), unique=True)  # trade_no / transaction_id
    cashier_token: Mapped[str] = mapped_column(String(64), unique=True)  # the cashier's handle (code_url's pr=)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    subject: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))  # waiting | paid | closed
    closed_reason: Mapped[str | None] = mapped_column(String(16))  # closed | cancelled | expired | unknown
    notify_url: Mapped[str] = mapped_column(String(1024))
    return_url: Mapped[str | None] = mapped_column(String(1024))
    expires_at: Mapped[dt.datetime] = mapped_column()
    paid_at: Mapped[dt.datetime | None] = mapped_column()
    closed_at: Mapped[dt.datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=0)


class SimRefund(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "channel_sim_refunds"
    __table_args__ = (
        UniqueConstraint("trade_id", "out_refund_no"),
        CheckConstraint("refund_fen > 0", name="refund_positive"),
        Index("ix_channel_sim_refunds_succeeded", "channel", "succeeded_at"),
    )

    trade_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel_sim_trades.id"))
    channel: Mapped[str] = mapped_column(String(16))
    out_refund_no: Mapped[str] = mapped_column(String(64))
    channel_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    refund_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(16))  # succeeded (the simulators settle refunds at once)
    succeeded_at: Mapped[dt.datetime | None] = mapped_column()


class SimNotification(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "channel_sim_notifications"
    __table_args__ = (Index("ix_channel_sim_notifications_due", "status", "deliver_at"),)

    trade_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel_sim_trades.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    notify_id: Mapped[str] = mapped_column(String(64))  # the same for every copy of one event
    event: Mapped[str] = mapped_column(String(32))  # TRADE_SUCCESS | TRADE_CLOSED | TRANSACTION.SUCCESS
    variant: Mapped[str] = mapped_column(String(16))  # genuine | duplicate | tampered
    fault: Mapped[str | None] = mapped_column(String(32))  # tampered copies: amount | signature | ciphertext
    notify_url: Mapped[str] = mapped_column(String(1024))
    payload: Mapped[str] = mapped_column(Text)  # the event's content as JSON; signed afresh at each attempt
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | delivered | sent | failed
    deliver_at: Mapped[dt.datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[uuid.UUID | None] = mapped_column()
    delivered_at: Mapped[dt.datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)


class SimDelivery(IdMixin, Base):
    """One attempt to deliver a notification: the exact request and the merchant's answer."""

    __tablename__ = "channel_sim_deliveries"

    notification_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channel_sim_notifications.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    sent_at: Mapped[dt.datetime] = mapped_column()
    request_headers: Mapped[str] = mapped_column(Text)  # JSON object
    request_body: Mapped[str] = mapped_column(Text)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
