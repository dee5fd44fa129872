"""What an order costs and when it arrives (pure: no database, no web).

A quote is computed the same way before payment (``POST /api/orders/quote``) and when the order is placed, so the
customer pays exactly what they were shown unless the menu changed in between.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from o2o.errors import AppError
from o2o.kit.time import in_zone
from o2o.orders.state import OrderKind
from o2o.stores import hours as hours_mod
from o2o.stores.delivery_terms import DeliveryTerms
from o2o.stores.menu import PricedLine

COURIER_SPEED_M_PER_MIN = 250.0  # 15 km/h through city streets, an e-bike courier's pace
PICKUP_MINUTES = 5  # from the shop's counter to the courier's bag
ROAD_FACTOR = 1.3  # streets are longer than the straight line
PRICE_CHANGE_TOLERANCE = 0  # a quote is paid exactly as shown


@dataclass(frozen=True)
class Quote:
    kind: OrderKind
    currency: str
    lines: tuple[PricedLine, ...]
    subtotal: int
    packaging_fee: int
    delivery_fee: int
    total: int
    distance_m: float | None
    ready_at: dt.datetime  # UTC: when the shop should have it ready
    promised_at: dt.datetime  # UTC: delivered (delivery) or ready to collect (the others)

    @property
    def quantities(self) -> dict:
        out: dict = {}
        for line in self.lines:
            out[line.item_id] = out.get(line.item_id, 0) + line.quantity
        return out


def travel_minutes(distance_m: float) -> int:
    return math.ceil(distance_m * ROAD_FACTOR / COURIER_SPEED_M_PER_MIN)


def check_open(terms: DeliveryTerms, now_utc: dt.datetime) -> None:
    if not terms.accepting_orders:
        raise AppError("store_paused", 409, "This store is not taking online orders right now.")
    local = in_zone(now_utc, terms.timezone)
    if not hours_mod.is_open(terms.opening_hours, local):
        raise AppError("store_closed", 409, "This store is closed now; see its opening hours.")


def quote(
    kind: OrderKind,
    lines: Sequence[PricedLine],
    terms: DeliveryTerms,
    *,
    now: dt.datetime,
    destination: tuple[float, float] | None = None,
    check_hours: bool = True,
) -> Quote:
    """Price ``lines`` (already checked against the menu) as an order of ``kind`` placed at ``now`` (UTC).

    Refusals (each a 4xx with its code): ``store_paused``, ``store_closed``, ``address_required``,
    ``outside_delivery_area``, ``below_minimum_order``."""
    if check_hours:
        check_open(terms, now)
    subtotal = sum(line.line_total for line in lines)
    distance: float | None = None
    delivery_fee = 0
    if kind == OrderKind.DELIVERY:
        if destination is None:
            raise AppError("address_required", 422, "A delivery order needs the address's lat and lng.")
        lat, lng = destination
        if not terms.covers(lat, lng):
            raise AppError(
                "outside_delivery_area",
                409,
                "This address is outside the store's delivery area.",
                extra={"distance_m": round(terms.distance_m(lat, lng))},
            )
        distance = terms.distance_m(lat, lng)
        delivery_fee = terms.delivery_fee(distance)
    if kind != OrderKind.COUNTER and subtotal < terms.min_order:
        raise AppError(
            "below_minimum_order",
            409,
            f"The store's minimum order is {terms.min_order} fen; this one is {subtotal}.",
            extra={"min_order": terms.min_order, "subtotal": subtotal},
        )
    packaging = terms.packaging_fee if kind in (OrderKind.DELIVERY, OrderKind.TAKEOUT) else 0
    ready_at = now + dt.timedelta(minutes=terms.prep_minutes)
    promised_at = ready_at
    if distance is not None:
        promised_at = ready_at + dt.timedelta(minutes=PICKUP_MINUTES + travel_minutes(distance))
    return Quote(
        kind=kind,
        currency=terms.currency,
        lines=tuple(lines),
        subtotal=subtotal,
        packaging_fee=packaging,
        delivery_fee=delivery_fee,
        total=subtotal + packaging + delivery_fee,
        distance_m=None if distance is None else round(distance, 1),
        ready_at=ready_at,
        promised_at=promised_at,
    )
