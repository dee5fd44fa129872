"""Deals API input and output. Money is an integer in fen with its currency; times are UTC (ISO 8601)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from o2o.deals import rules

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DealStatus = Literal["draft", "published", "withdrawn"]
VoucherStatusLiteral = Literal["pending", "issued", "redeemed", "refunded", "canceled"]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# ---------------------------------------------------------------------------------------------------- deals


class LineIn(_In):
    name: str = Field(min_length=1, max_length=60, examples=["pork and chive dumplings"])
    quantity: int = Field(strict=True, ge=1, le=rules.MAX_LINE_QUANTITY, examples=[2])


class HoursIn(_In):
    start: str = Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$", description="Local time HH:MM.", examples=["11:00"])
    end: str = Field(pattern=r"^([01]\d|2[0-4]):[0-5]\d$", description="Local time HH:MM (24:00: midnight).",
                     examples=["14:00"])


class DealCreate(_In):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "Dumpling lunch for two",
                    "lines": [{"name": "pork and chive dumplings", "quantity": 2}, {"name": "hot and sour soup",
                                                                                    "quantity": 1}],
                    "price": 3_990,
                    "original_price": 5_600,
                    "quantity_total": 100,
                    "per_person_limit": 2,
                    "sale_starts_at": "2026-12-01T00:00:00Z",
                    "sale_ends_at": "2027-01-31T16:00:00Z",
                    "valid_from": "2026-12-01T00:00:00Z",
                    "valid_until": "2027-03-01T16:00:00Z",
                    "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                    "hours": {"start": "11:00", "end": "14:00"},
                    "store_ids": [],
                    "publish": True,
                }
            ]
        },
    )

    title: str = Field(min_length=1, max_length=80, examples=["Dumpling lunch for two"])
    lines: list[LineIn] = Field(min_length=1, max_length=rules.MAX_LINES, description="What the deal includes.")
    price: int = Field(strict=True, gt=0, le=rules.MAX_PRICE, description="Fen.", examples=[3_990])
    original_price: int = Field(strict=True, gt=0, le=rules.MAX_PRICE, description="Fen; at least the price.",
                                examples=[5_600])
    quantity_total: int | None = Field(default=None, strict=True, ge=1, le=rules.MAX_QUANTITY,
                                       description="Vouchers on sale; null for unlimited.", examples=[100])
    per_person_limit: int | None = Field(default=None, strict=True, ge=1, le=rules.MAX_PER_PERSON,
                                         description="Vouchers one person may hold; null for no limit.",
                                         examples=[2])
    sale_starts_at: AwareDatetime = Field(examples=["2026-12-01T00:00:00Z"])
    sale_ends_at: AwareDatetime = Field(examples=["2027-01-31T16:00:00Z"])
    valid_from: AwareDatetime = Field(description="Vouchers can be used from then ...",
                                      examples=["2026-12-01T00:00:00Z"])
    valid_until: AwareDatetime = Field(description="... until then (at least until the sale ends); unused ones are "
                                       "refunded automatically then.", examples=["2027-03-01T16:00:00Z"])
    weekdays: list[Weekday] = Field(default_factory=lambda: list(rules.WEEKDAYS), min_length=1,
                                    description="Days of the week the vouchers can be used (city time).",
                                    examples=[["mon", "tue", "wed", "thu", "fri"]])
    hours: HoursIn | None = Field(default=None, description="Local hours they can be used; null for all day.")
    store_ids: list[uuid.UUID] = Field(default_factory=list, max_length=rules.MAX_STORES - 1,
                                       description="Other stores of the same merchant where the vouchers are good.")
    publish: bool = Field(default=False, description="Put it on sale at once instead of keeping a draft.")


class LineOut(_Out):
    name: str
    quantity: int


class HoursOut(_Out):
    start: str = Field(examples=["11:00"])
    end: str = Field(examples=["14:00"])


class StoreRef(_Out):
    id: uuid.UUID
    name: str
    address: str


class DealOut(_Out):
    id: uuid.UUID
    city_id: uuid.UUID
    store_id: uuid.UUID = Field(description="The store that sells it (and is paid for it).")
    title: str
    lines: list[LineOut]
    includes: str = Field(description="The lines in a few words.", examples=["2 x dumplings, 1 x soup"])
    price: int = Field(examples=[3_990])
    original_price: int = Field(examples=[5_600])
    currency: str = Field(examples=["CNY"])
    discount_percent: int = Field(description="How much cheaper than the original price, rounded.", examples=[29])
    quantity_total: int | None
    quantity_left: int | None = Field(description="Null when unlimited.")
    per_person_limit: int | None
    sale_starts_at: dt.datetime
    sale_ends_at: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime
    weekdays: list[Weekday]
    hours: HoursOut | None
    status: DealStatus
    on_sale: bool = Field(description="Published, inside its sale window and not sold out.")
    stores: list[StoreRef] = Field(description="Where its vouchers are good.")
    created_at: dt.datetime
    published_at: dt.datetime | None


class DealPage(_Out):
    items: list[DealOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null at the end.")


# ---------------------------------------------------------------------------------------------------- vouchers


class PurchaseCreate(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"pay_with": "wallet"}]})

    pay_with: Literal["wallet", "later"] = Field(
        default="wallet",
        description="`wallet`: paid from the wallet at once (402 `insufficient_funds` changes nothing). `later`: "
        "the voucher waits for its payment intent, paid through `/api/wallet/payment-intents/{id}/confirm` "
        "(wallet, alipay-sim or wechatpay-sim) before it closes.",
    )


class VoucherOut(_Out):
    id: uuid.UUID
    deal_id: uuid.UUID
    deal_title: str
    includes: str = Field(examples=["2 x dumplings, 1 x soup"])
    status: VoucherStatusLiteral
    price: int
    currency: str
    code: str | None = Field(description="The 12-digit short code in groups of four, once paid for.",
                             examples=["4821 0937 5512"])
    qr_payload: str | None = Field(
        description="What the voucher's QR code holds, while it can be used: `O2OV1.<payload>.<Ed25519 signature>` "
        "(check it offline with `GET /api/deals/voucher-key`).",
    )
    stores: list[StoreRef]
    valid_from: dt.datetime
    valid_until: dt.datetime
    weekdays: list[Weekday]
    hours: HoursOut | None
    payment_intent_id: uuid.UUID | None
    issued_at: dt.datetime | None
    redeemed_at: dt.datetime | None
    redeemed_store_id: uuid.UUID | None
    undo_until: dt.datetime | None = Field(description="A redemption can be undone until then.")
    settled_at: dt.datetime | None
    refunded_at: dt.datetime | None
    refund_reason: Literal["requested", "expired"] | None
    created_at: dt.datetime


class PurchaseOut(_Out):
    voucher: VoucherOut
    payment_intent_id: uuid.UUID
    payment_status: str = Field(examples=["succeeded", "requires_payment"])
    payment_url: str = Field(description="The wallet's page to pay (or see) the payment.")


class VoucherPage(_Out):
    items: list[VoucherOut]
    next_cursor: str | None


class ScanIn(_In):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"scan": "4821 0937 5512"}]})

    scan: str = Field(
        min_length=1,
        max_length=2_100,
        description="What the scanner typed (the QR payload), or the 12-digit short code as the customer reads it "
        "(spaces allowed).",
        examples=["4821 0937 5512"],
    )


class StaffVoucherOut(_Out):
    """A voucher as a store's staff see it: what it is for, never who owns it."""

    id: uuid.UUID
    deal_id: uuid.UUID
    deal_title: str
    lines: list[LineOut]
    includes: str
    status: VoucherStatusLiteral
    price: int
    currency: str
    code: str = Field(examples=["4821 0937 5512"])
    valid_until: dt.datetime
    redeemed_at: dt.datetime | None
    redeemed_store_id: uuid.UUID | None
    undo_until: dt.datetime | None
    settled_at: dt.datetime | None


class VoucherKeyOut(_Out):
    algorithm: Literal["Ed25519"] = "Ed25519"
    key_id: str = Field(description="First 8 bytes of the key's SHA-256, hex.", examples=["3f9c2a1b7d4e8f60"])
    public_key: str = Field(description="The raw 32-byte public key, base64url without padding.")
    format: str = Field(
        default="O2OV1.<base64url(JSON)>.<base64url(signature over 'O2OV1.<base64url(JSON)>')>",
        description="JSON keys: v voucher id, c code, d deal id, s store ids (ids as base64url of 16 bytes), "
        "u valid until (Unix seconds).",
    )

