"""The contract between the payments service and a payment channel (``alipay-sim``, ``wechatpay-sim``).

A channel is an outside system: it collects money from a customer for one of our trades, tells us about it
with signed callbacks (at least once, possibly duplicated, late, out of order or tampered with), answers
queries, closes unpaid trades, refunds, and publishes a daily bill file. The payments service only talks to
channels through this interface, so a real Alipay or WeChat Pay client can stand behind it later.

Conventions shared by both channels:

* ``out_trade_no`` is our trade number (the payment intent's) and the channel's idempotency key: asking twice
  to collect the same trade gives the same trade, never a second payment. ``out_refund_no`` plays the same role
  for refunds.
* Amounts are integers in fen (CNY minor units). Both channels are CNY only.
* Every call that cannot tell what happened (timeout, connection reset, 5xx) raises ``OutcomeUnknown``; the
  caller resolves it later by *querying*, never by asking again for a new payment.
* Calls never run inside one of our database transactions (they are I/O to another system, and on SQLite our
  transaction holds the write lock the simulator needs): they run in the worker, in the hand-off route, or in
  outbox handlers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class ChannelName(StrEnum):
    ALIPAY_SIM = "alipay-sim"
    WECHATPAY_SIM = "wechatpay-sim"


class TradeStatus(StrEnum):
    """A channel trade, normalised. Alipay: WAIT_BUYER_PAY / TRADE_SUCCESS / TRADE_FINISHED / TRADE_CLOSED;
    WeChat Pay: NOTPAY, USERPAYING / SUCCESS, REFUND / CLOSED, REVOKED, PAYERROR."""

    NOT_FOUND = "not_found"  # the channel never saw this out_trade_no
    WAITING = "waiting"  # created, not paid yet
    PAID = "paid"  # the customer paid (refunds later do not change this)
    CLOSED = "closed"  # closed without payment; can never be paid


class RefundStatus(StrEnum):
    NOT_FOUND = "not_found"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class ChannelError(Exception):
    """Base of the channel errors."""


class OutcomeUnknown(ChannelError):
    """The call may or may not have taken effect (timeout, connection lost, 5xx). Query later."""


class ChannelRefused(ChannelError):
    """The channel answered and refused (a business error with the provider's code, e.g. ``TRADE_HAS_SUCCESS``,
    ``REFUND_AMT_RESTRICTION``, ``ORDER_PAID``). Nothing happened at the channel."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(f"{code}: {message}" if message else code)
        self.code = code
        self.message = message


class InvalidSignature(ChannelError):
    """A callback or response whose signature (or decryption) does not check out. Nothing may be read from it."""


class InvalidNotification(ChannelError):
    """A correctly signed callback that we cannot use (unknown event type, missing fields, wrong app id)."""


@dataclass(frozen=True)
class TradeRequest:
    """What we ask a channel to collect."""

    out_trade_no: str  # 6..32 chars of [0-9A-Za-z_-]
    amount_fen: int  # > 0
    subject: str  # shown to the customer at the cashier
    expires_at: dt.datetime  # UTC; the channel closes the trade after this
    notify_url: str  # absolute URL of our callback endpoint
    return_url: str  # absolute URL the cashier sends the customer back to (never trusted for the outcome)


@dataclass(frozen=True)
class ChannelTrade:
    """A trade as the channel sees it (answer to a query, a close, or read from a callback)."""

    channel: ChannelName
    out_trade_no: str
    status: TradeStatus
    amount_fen: int  # 0 when NOT_FOUND
    channel_trade_no: str | None = None  # Alipay trade_no / WeChat transaction_id
    paid_at: dt.datetime | None = None  # UTC
    raw_status: str = ""  # the provider's own word, for logs and pages


@dataclass(frozen=True)
class PaymentNotification:
    """A callback that passed signature verification (and, for WeChat, decryption)."""

    channel: ChannelName
    notify_id: str  # the provider's id of this notification (Alipay notify_id / WeChat event id)
    merchant_id: str  # Alipay app_id / WeChat mchid: must be ours
    trade: ChannelTrade


@dataclass(frozen=True)
class NotificationAck:
    """What to answer the channel: Alipay wants the bare text ``success``; WeChat Pay v3 wants 200 (or 204)
    when accepted and a 4xx/5xx with ``{"code": "FAIL", "message": ...}`` to be called again."""

    status_code: int
    media_type: str
    body: bytes


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    out_refund_no: str  # our refund request number: the refund's idempotency key
    refund_fen: int  # > 0, and the sum of a trade's refunds never exceeds its amount
    total_fen: int  # the trade's amount (WeChat wants it; Alipay checks it against its own)
    reason: str = ""


@dataclass(frozen=True)
class ChannelRefund:
    channel: ChannelName
    out_trade_no: str
    out_refund_no: str
    status: RefundStatus
    refund_fen: int  # 0 when NOT_FOUND
    channel_refund_no: str | None = None
    succeeded_at: dt.datetime | None = None


class BillKind(StrEnum):
    PAYMENT = "payment"
    REFUND = "refund"


@dataclass(frozen=True)
class BillRow:
    """One line of a channel's daily bill file: a payment that succeeded or a refund that succeeded that day
    (the day in China Standard Time, as both providers cut their bills)."""

    channel: ChannelName
    kind: BillKind
    out_trade_no: str
    channel_trade_no: str
    amount_fen: int  # the payment's amount, or the refund's amount (positive)
    occurred_at: dt.datetime  # UTC
    out_refund_no: str | None = None


class Channel(Protocol):
    """What the payments service needs from a channel. Implementations: ``alipay-sim`` and ``wechatpay-sim``
    clients (``o2o.wallet.channels.clients``)."""

    name: ChannelName

    def checkout_url(self, trade: TradeRequest) -> str:
        """The URL of the cashier where the customer pays this trade. Idempotent by ``out_trade_no`` (the same
        request gives the same trade; the same number with a different amount raises ``ChannelRefused``).
        Alipay-style channels sign the page-pay request locally (no call); WeChat-style ones call the channel
        for a ``code_url`` first (may raise ``OutcomeUnknown``)."""
        ...

    def query(self, out_trade_no: str) -> ChannelTrade:
        """The trade's state at the channel (``NOT_FOUND`` when it never saw it). Raises ``OutcomeUnknown``."""
        ...

    def close(self, out_trade_no: str) -> ChannelTrade:
        """Close an unpaid trade so it can never be paid, then answer its state: ``CLOSED`` (or ``NOT_FOUND``),
        or ``PAID`` when the customer paid first (the close is then refused by the channel and reported here as
        the paid trade, not as an error). Raises ``OutcomeUnknown``."""
        ...

    def refund(self, request: RefundRequest) -> ChannelRefund:
        """Refund part or all of a paid trade; idempotent by ``out_refund_no``. Raises ``ChannelRefused`` (e.g.
        more than what is left) or ``OutcomeUnknown``."""
        ...

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> ChannelRefund:
        ...

    def parse_notification(self, body: bytes, headers: Mapping[str, str]) -> PaymentNotification:
        """Verify the callback's signature over the raw ``body`` (and headers) *before* reading anything, then
        decode it. Raises ``InvalidSignature`` or ``InvalidNotification``; header names are case-insensitive."""
        ...

    def ack(self, accepted: bool, message: str = "") -> NotificationAck:
        """The answer the channel expects for a callback we accepted (or want to receive again)."""
        ...

    def bill(self, day: dt.date) -> list[BillRow]:
        """The day's bill (China Standard Time day): every payment and refund that succeeded that day. Raises
        ``ChannelRefused`` when the bill does not exist yet (the day is not over) and ``OutcomeUnknown``."""
        ...
