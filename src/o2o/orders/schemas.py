"""Orders API input and output. Money is an integer in fen with its currency; times are UTC."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["delivery", "takeout", "click_collect"]
Mode = Literal["online", "at_counter"]
State = Literal["placed", "paid", "accepted", "preparing", "ready", "picked_up", "delivered", "completed", "canceled"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class LineIn(_In):
    item_id: uuid.UUID
    # Bounds are checked by the menu (``invalid_quantity``, a 422 with its code), not here: any integer is taken.
    quantity: int = Field(strict=True, examples=[2])
    option_ids: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class AddressIn(_In):
    lat: float = Field(ge=-90, le=90, examples=[39.9163])
    lng: float = Field(ge=-180, le=180, examples=[116.3972])
    text: str = Field(default="", max_length=200, examples=["东城区东华门街道 3 号楼 2 单元 501"])


class QuoteIn(_In):
    store_id: uuid.UUID
    kind: Kind = Field(examples=["delivery"])
    lines: list[LineIn] = Field(max_length=60)
    address: AddressIn | None = Field(default=None, description="Needed for delivery.")


class OrderCreate(QuoteIn):
    payment_mode: Mode = Field(default="online", description="`at_counter` only for click-and-collect.")
    note: str = Field(default="", max_length=200, examples=["少放辣"])
    pay_with: Literal["wallet"] | None = Field(
        default=None,
        description="`wallet`: pay from the wallet in the same step (402 `insufficient_funds` places nothing). "
        "Without it the order waits for its payment intent to be confirmed (wallet or a channel).",
    )
    expected_total: int | None = Field(
        default=None, description="The total the customer saw; if the price changed since, nothing is placed (409)."
    )


class OptionOut(_Out):
    option_id: uuid.UUID
    group: str
    name: str
    price_delta: int


class LineOut(_Out):
    item_id: uuid.UUID
    name: str
    quantity: int
    unit_price: int
    line_total: int
    options: list[OptionOut]


class QuoteOut(_Out):
    store_id: uuid.UUID
    kind: Kind
    currency: str = Field(examples=["CNY"])
    lines: list[LineOut]
    subtotal: int
    packaging_fee: int
    delivery_fee: int
    total: int
    distance_m: float | None
    ready_at: dt.datetime
    promised_at: dt.datetime = Field(description="Delivered (delivery) or ready to collect (the others).")


class EventOut(_Out):
    id: uuid.UUID
    order_id: uuid.UUID
    seq: int
    event: str = Field(examples=["accept"])
    state: State
    actor: Literal["customer", "merchant", "courier", "platform"]
    reason: str | None
    at: dt.datetime


class OrderOut(_Out):
    id: uuid.UUID
    city_id: uuid.UUID
    store_id: uuid.UUID
    kind: Literal["delivery", "takeout", "click_collect", "counter"]
    payment_mode: Mode
    state: State
    currency: str
    subtotal: int
    packaging_fee: int
    delivery_fee: int
    total: int
    distance_m: float | None
    address: str
    note: str
    pickup_code: str = Field(description="Said at the counter to collect a takeout or click-and-collect order.")
    payment_intent_id: uuid.UUID | None = Field(validation_alias="intent_id")
    pay_deadline: dt.datetime | None
    accept_deadline: dt.datetime | None
    ready_by: dt.datetime
    promised_at: dt.datetime
    paid_at: dt.datetime | None
    completed_at: dt.datetime | None
    canceled_at: dt.datetime | None
    cancel_reason: str | None
    canceled_by: str | None
    refund_id: uuid.UUID | None
    tender: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    lines: list[LineOut] = Field(default_factory=list)
    events: list[EventOut] = Field(default_factory=list)


class MerchantStep(_In):
    reason: str | None = Field(default=None, description="For `cancel`: one of the reason codes.")
    tender: Literal["cash", "card"] | None = Field(
        default=None, description="For `pick_up` of an order paid at the counter: how the customer paid."
    )


class CounterSaleIn(_In):
    lines: list[LineIn] = Field(max_length=60)
    tender: Literal["cash", "card"]


class WebhookIn(_In):
    url: str = Field(max_length=500, examples=["https://pos.example.com/o2o/events"])


class WebhookOut(_Out):
    id: uuid.UUID
    store_id: uuid.UUID
    url: str
    active: bool
    secret: str = Field(description="Verify `O2O-Signature: t=..,v1=HMAC-SHA256(secret, t + '.' + body)` with it.")
    created_at: dt.datetime


class ChannelSalesOut(_Out):
    channel: Literal["delivery", "takeout", "click_collect", "counter", "vouchers"]
    orders: int
    amount: int
