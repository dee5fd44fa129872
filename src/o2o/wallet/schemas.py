"""Wallet API input and output. Money is an integer in fen with its currency; times are UTC."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Method = Literal["wallet", "alipay-sim", "wechatpay-sim"]
ChannelLiteral = Literal["alipay-sim", "wechatpay-sim"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class BalanceOut(_Out):
    currency: str = Field(examples=["CNY"])
    posted: int = Field(description="Settled balance, fen.", examples=[12_050])
    pending_in: int = Field(description="On its way in (reserved by pending transfers), fen.")
    pending_out: int = Field(description="Reserved to leave (a pending refund of a top-up, a ride's hold), fen.")
    available: int = Field(description="What can be spent now: posted minus pending_out, fen.", examples=[12_050])


class WalletLineOut(_Out):
    transfer_id: uuid.UUID
    at: dt.datetime
    kind: str = Field(examples=["top_up", "payment", "refund"])
    amount: int = Field(description="Signed, fen: + into the wallet, - out of it.", examples=[-2_500])
    status: Literal["posted", "pending", "released"]
    payment_intent_id: uuid.UUID | None
    description: str


class NextAction(_Out):
    type: Literal["redirect_to_url"] = "redirect_to_url"
    url: str = Field(description="Open this in a browser: it leads to the channel's cashier.")


class PaymentIntentOut(_Out):
    id: uuid.UUID
    city_id: uuid.UUID
    purpose: str = Field(examples=["store_payment", "top_up", "order"])
    store_id: uuid.UUID | None
    amount: int = Field(examples=[2_500])
    currency: str = Field(examples=["CNY"])
    description: str
    status: Literal["requires_payment", "processing", "succeeded", "failed", "canceled"]
    method: str | None = Field(description="wallet, alipay-sim or wechatpay-sim once chosen.")
    cancel_requested: bool = Field(validation_alias="close_requested")
    cancellation_reason: str | None
    failure_code: str | None
    expires_at: dt.datetime = Field(description="An unpaid intent closes by itself then.")
    created_at: dt.datetime
    succeeded_at: dt.datetime | None
    canceled_at: dt.datetime | None
    refunded_amount: int
    settled_at: dt.datetime | None
    next_action: NextAction | None = Field(
        default=None, description="While processing through a channel: where the customer pays."
    )


class StorePaymentCreate(_In):
    store_id: uuid.UUID
    amount: int = Field(strict=True, gt=0, le=5_000_000, description="Fen.", examples=[2_500])
    note: str = Field(default="", max_length=60, description="Shown on both sides, e.g. a table number.")


class TopUpCreate(_In):
    city_id: uuid.UUID = Field(description="The city whose channel account collects the money.")
    amount: int = Field(strict=True, gt=0, le=5_000_000, description="Fen.", examples=[10_000])
    channel: ChannelLiteral


class Confirm(_In):
    method: Method


class RefundCreate(_In):
    refund_no: str = Field(
        min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_\-]+$",
        description="Your refund request number: the same number gets the same refund back.",
        examples=["order-1234-r1"],
    )
    amount: int = Field(strict=True, gt=0, le=5_000_000, description="Fen; never more than what is left of the payment.")
    reason: str = Field(default="", max_length=200)
    to_wallet: bool = Field(
        default=False,
        description="For a payment made through a channel: refund to the customer's wallet (at once) instead of "
        "back through the channel.",
    )


class RefundOut(_Out):
    id: uuid.UUID
    payment_intent_id: uuid.UUID = Field(validation_alias="intent_id")
    refund_no: str
    amount: int
    currency: str
    reason: str
    destination: Literal["wallet", "channel"]
    status: Literal["pending", "succeeded", "failed"]
    failure_code: str | None
    created_at: dt.datetime
    succeeded_at: dt.datetime | None


class Settle(_In):
    courier_person_id: uuid.UUID | None = None
    courier_fee: int = Field(default=0, strict=True, ge=0, le=5_000_000)


class StatementLineOut(_Out):
    payment_intent_id: uuid.UUID = Field(validation_alias="intent_id")
    settled_at: dt.datetime
    description: str
    gross: int
    refunded: int
    commission: int
    courier_fee: int
    net: int


class StatementOut(_Out):
    owner: Literal["store", "courier"]
    owner_id: uuid.UUID
    day: dt.date
    timezone: str
    currency: str
    opening_balance: int
    closing_balance: int
    total_gross: int
    total_commission: int
    total_net: int
    lines: list[StatementLineOut]


class ReconcileRun(_In):
    channel: ChannelLiteral
    day: dt.date = Field(description="A day in China Standard Time, as the channels cut their bills.")


class DifferenceOut(_Out):
    kind: Literal["missing_in_ours", "missing_in_channel", "amount_differs"]
    entry: Literal["payment", "refund"]
    out_trade_no: str
    out_refund_no: str | None
    ours: int | None
    theirs: int | None


class ReconciliationOut(_Out):
    id: uuid.UUID
    channel: str
    day: dt.date
    status: Literal["matched", "differences"]
    our_entries: int
    channel_entries: int
    our_total: int
    channel_total: int
    created_at: dt.datetime
    differences: list[DifferenceOut] = []
