"""Stores API shapes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Store(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str = Field(examples=["张记饺子馆（王府井店）"])
    category: str = Field(examples=["food"])
    district: str | None = Field(description="The district's slug", examples=["dongcheng"])
    lat: float = Field(examples=[39.9147])
    lng: float = Field(examples=[116.4108])
    address: str = Field(examples=["东城区王府井大街88号"])
    phone: str | None = Field(description="E.164", examples=["+861065123456"])
    opening_hours: dict[str, list[list[str]]] = Field(
        description="Weekly intervals in the city's local time; a close at or before the open crosses midnight",
        examples=[{"mon": [["10:00", "14:00"], ["17:00", "22:00"]], "sat": [["18:00", "02:00"]]}],
    )
    open_now: bool = Field(description="Open at the time of the request, in the city's time zone")
    prep_minutes: int = Field(ge=0, examples=[15])
    rating: float = Field(ge=0, le=5, examples=[4.6])
    distance_m: float | None = Field(
        default=None,
        description="Metres from `near`, when the listing was asked for near a point",
        examples=[412.5],
    )


# --------------------------------------------------------------------------------------------------------------
# The catalogue. Money is an integer in the city's minor units (fen) with the menu's currency. Limits on values
# (name lengths, prices, picks) are checked by the service, which refuses with a precise code (invalid_price ...).

WINDOWS_DESCRIPTION = (
    "Daily windows in the city's local time when this is offered (a breakfast menu); an end at or before its start "
    "crosses midnight. `null`: whenever the store is open."
)
WINDOWS_EXAMPLE = [["06:30", "10:30"]]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DeliveryTermsOut(BaseModel):
    radius_m: int = Field(description="Delivers within this many metres (unless `area` is set)", examples=[3000])
    area: dict[str, Any] | None = Field(
        description="A GeoJSON Polygon ([lng, lat]) the store delivers inside; wins over `radius_m` when set",
        examples=[None],
    )
    min_order: int = Field(description="Minimum items subtotal, fen", examples=[2000])
    packaging_fee: int = Field(description="Per order, fen", examples=[100])
    base_fee: int = Field(description="Delivery fee for the first `base_m` metres, fen", examples=[300])
    base_m: int = Field(examples=[3000])
    per_km_fee: int = Field(description="Added for every started kilometre beyond `base_m`, fen", examples=[100])
    currency: str = Field(examples=["CNY"])


class StoreDetail(Store):
    currency: str = Field(examples=["CNY"])
    timezone: str = Field(examples=["Asia/Shanghai"])
    accepting_orders: bool = Field(description="False while the store has paused online orders")
    delivery: DeliveryTermsOut
    catalogue_version: int = Field(description="Changes whenever the menu or the terms change", examples=[12])
    delivers_here: bool | None = Field(
        default=None, description="With `lat` and `lng`: whether that address is inside the delivery area"
    )
    delivery_fee: int | None = Field(
        default=None, description="With `lat` and `lng` inside the area: the delivery fee there, fen", examples=[400]
    )


class OptionOut(BaseModel):
    id: uuid.UUID
    name: str = Field(examples=["大份"])
    price_delta: int = Field(description="Added to the item's price, fen (may be negative)", examples=[300])
    sold_out: bool
    position: int


class OptionGroupOut(BaseModel):
    id: uuid.UUID
    name: str = Field(examples=["份量"])
    min_picks: int = Field(ge=0, examples=[1])
    max_picks: int = Field(ge=1, examples=[1])
    position: int
    options: list[OptionOut]


class ItemOut(BaseModel):
    id: uuid.UUID
    category_id: uuid.UUID
    name: str = Field(examples=["牛肉拉面"])
    description: str = Field(examples=["手工拉面，清汤牛骨"])
    price: int = Field(description="Fen, before options", examples=[2800])
    image: str | None = Field(description="An emoji or a short text shown as the picture", examples=["🍜"])
    position: int
    available_windows: list[list[str]] | None = Field(description=WINDOWS_DESCRIPTION, examples=[WINDOWS_EXAMPLE])
    sold_out: bool = Field(
        description="Not for sale now: switched off, a required choice ran out, or no unit left in the shop"
    )
    available_now: bool = Field(description="Inside its (and its category's) time windows at this moment")
    orderable: bool = Field(description="Can be put in a cart now: not sold out and available now")
    stock: int | None = Field(
        description="Units one can still buy in this shop; null when the shop does not count them (unlimited)",
        examples=[None],
    )
    option_groups: list[OptionGroupOut]


class CategoryOut(BaseModel):
    id: uuid.UUID
    name: str = Field(examples=["招牌面食"])
    position: int
    available_windows: list[list[str]] | None = Field(description=WINDOWS_DESCRIPTION, examples=[None])
    available_now: bool
    items: list[ItemOut]


class MenuOut(BaseModel):
    store_id: uuid.UUID
    currency: str = Field(examples=["CNY"])
    version: int = Field(description="The store's catalogue version (changes with every edit)", examples=[12])
    local_time: dt.datetime = Field(description="The moment the flags were computed for, in the city's time zone")
    categories: list[CategoryOut]


class ItemDetail(ItemOut):
    store_id: uuid.UUID
    store_name: str = Field(examples=["张记饺子馆（王府井店）"])
    category_name: str = Field(examples=["招牌面食"])
    currency: str = Field(examples=["CNY"])
    next_available_at: dt.datetime | None = Field(
        description="When it is next offered (local time), if not now; null if now or never"
    )
    shelf_url: str = Field(description="What the item's shelf QR code opens", examples=["https://o2o.example/stores/…/items/…"])


class LineIn(_In):
    item_id: uuid.UUID
    quantity: int = Field(strict=True, description="1 to 99", examples=[2])
    option_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100, description="One per picked option")


class QuoteLinesIn(_In):
    lines: list[LineIn] = Field(max_length=1000, description="At most 50 lines are priced; more is `too_many_lines`")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "lines": [
                        {
                            "item_id": "0195f6a2-7c1e-7d3a-9b4e-2f6d8a1c3e5b",
                            "quantity": 2,
                            "option_ids": ["0195f6a2-7c1e-7d3a-9b4e-2f6d8a1c3e60"],
                        }
                    ]
                }
            ]
        },
    )


class PricedOptionOut(BaseModel):
    option_id: uuid.UUID
    group_name: str = Field(examples=["份量"])
    name: str = Field(examples=["大份"])
    price_delta: int = Field(examples=[300])


class PricedLineOut(BaseModel):
    item_id: uuid.UUID
    name: str = Field(examples=["牛肉拉面"])
    quantity: int = Field(examples=[2])
    unit_price: int = Field(description="The item's price plus its options' deltas, fen", examples=[3100])
    options: list[PricedOptionOut]
    line_total: int = Field(examples=[6200])


class QuoteLinesOut(BaseModel):
    currency: str = Field(examples=["CNY"])
    lines: list[PricedLineOut]
    subtotal: int = Field(description="Sum of the line totals, fen (before packaging and delivery)", examples=[6200])
    menu_version: int = Field(examples=[12])


# ---- the merchant's edits


class CategoryCreate(_In):
    name: str = Field(description="1 to 40 characters, unique in the store", examples=["早餐"])
    available_windows: list[list[str]] | None = Field(
        default=None, description=WINDOWS_DESCRIPTION, examples=[WINDOWS_EXAMPLE]
    )


class CategoryUpdate(_In):
    name: str | None = Field(default=None, examples=["早餐"])
    available_windows: list[list[str]] | None = Field(
        default=None, description=WINDOWS_DESCRIPTION + " Send `null` to lift the restriction."
    )


class ItemCreate(_In):
    category_id: uuid.UUID
    name: str = Field(description="1 to 60 characters, unique in its category", examples=["牛肉拉面"])
    price: int = Field(strict=True, description="Fen, 0 to 1000000", examples=[2800])
    description: str = Field(default="", description="At most 500 characters")
    image: str | None = Field(default=None, description="An emoji or up to 16 characters", examples=["🍜"])
    available_windows: list[list[str]] | None = Field(default=None, description=WINDOWS_DESCRIPTION)
    sold_out: bool = Field(default=False, strict=True)


class ItemUpdate(_In):
    category_id: uuid.UUID | None = Field(default=None, description="Move the item to another category")
    name: str | None = None
    price: int | None = Field(default=None, strict=True, examples=[2600])
    description: str | None = None
    image: str | None = None
    available_windows: list[list[str]] | None = Field(default=None, description=WINDOWS_DESCRIPTION)
    sold_out: bool | None = Field(default=None, strict=True)


class SoldOutSet(_In):
    sold_out: bool = Field(strict=True, examples=[True])


class OptionCreate(_In):
    name: str = Field(description="1 to 30 characters, unique in its group", examples=["大份"])
    price_delta: int = Field(strict=True, default=0, description="Fen, may be negative (a unit price never goes below 0)", examples=[300])
    sold_out: bool = Field(default=False, strict=True)


class OptionUpdate(_In):
    name: str | None = None
    price_delta: int | None = Field(default=None, strict=True, examples=[400])
    sold_out: bool | None = Field(default=None, strict=True)


class OptionGroupCreate(_In):
    name: str = Field(description="1 to 30 characters, unique on the item", examples=["份量"])
    min_picks: int = Field(strict=True, default=0, description="0 for an optional choice", examples=[1])
    max_picks: int = Field(strict=True, default=1, description="At least 1 and at least min_picks", examples=[1])
    options: list[OptionCreate] = Field(default_factory=list, max_length=100)


class OptionGroupUpdate(_In):
    name: str | None = None
    min_picks: int | None = Field(default=None, strict=True)
    max_picks: int | None = Field(default=None, strict=True)


class Reorder(_In):
    ids: list[uuid.UUID] = Field(description="Every id of the list exactly once, in the new order", max_length=5000)


class StoreSettings(BaseModel):
    delivery_radius_m: int = Field(examples=[3000])
    delivery_area: dict[str, Any] | None = Field(description="GeoJSON Polygon, [lng, lat]")
    min_order: int = Field(examples=[2000])
    packaging_fee: int = Field(examples=[100])
    delivery_base_fee: int = Field(examples=[300])
    delivery_base_m: int = Field(examples=[3000])
    delivery_fee_per_km: int = Field(examples=[100])
    prep_minutes: int = Field(examples=[15])
    opening_hours: dict[str, list[list[str]]]
    accepting_orders: bool
    currency: str = Field(examples=["CNY"])
    catalogue_version: int


class StoreSettingsUpdate(_In):
    delivery_radius_m: int | None = Field(default=None, strict=True, description="100 to 20000 metres", examples=[3000])
    delivery_area: dict[str, Any] | None = Field(
        default=None,
        description="A GeoJSON Polygon ([lng, lat], at most 200 points, simple, inside the city, holding the store); "
        "`null` goes back to the radius",
    )
    min_order: int | None = Field(default=None, strict=True, description="Fen, items subtotal", examples=[2000])
    packaging_fee: int | None = Field(default=None, strict=True, description="Fen per order", examples=[100])
    delivery_base_fee: int | None = Field(default=None, strict=True, examples=[300])
    delivery_base_m: int | None = Field(default=None, strict=True, examples=[3000])
    delivery_fee_per_km: int | None = Field(default=None, strict=True, examples=[100])
    prep_minutes: int | None = Field(default=None, strict=True, description="0 to 240", examples=[15])
    opening_hours: dict[str, Any] | None = Field(
        default=None, examples=[{"mon": [["10:00", "14:00"], ["17:00", "22:00"]]}]
    )
    accepting_orders: bool | None = Field(default=None, strict=True, description="false pauses online orders now")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"accepting_orders": False}, {"min_order": 2000, "packaging_fee": 100}]},
    )


class ShelfLabelOut(BaseModel):
    item_id: uuid.UUID
    name: str = Field(examples=["牛肉拉面"])
    category: str = Field(examples=["招牌面食"])
    price: int = Field(description="Fen: the lowest unit price (with the cheapest options)", examples=[2800])
    from_price: bool = Field(description="Options can make it cost more: print “from”")
    currency: str = Field(examples=["CNY"])
    url: str = Field(description="What the label's QR code opens")
    qr_svg_url: str = Field(description="The QR code as SVG")
