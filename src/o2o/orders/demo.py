"""The demo city's order history: about 30 days of past orders at every demo store, for the sales pages and analytics.

What it makes, per store, from the store's own catalogue (the ``catalogues`` step runs before this one; its rows are
read back from the database through the step's session):

- orders spread over the 30 local days before today, more at lunch (11-13 h) and dinner (17-20 h), weekends busier,
  only while the store is open, more for well-rated stores;
- kinds mixed as on a real platform: delivery most, then counter sales, takeout, click-and-collect (a share of those
  paid at the counter); 1 to 4 lines with options picked as the menu requires, up to the store's minimum order;
  delivery fees by distance from the store's terms, addresses in the store's district;
- most orders completed (placed, paid, accepted, prepared, ready, handed over, delivered, completed, each event
  with its time and actor), some canceled (by the customer before the shop accepted, unpaid in time, rejected by
  the shop with one of its reason codes, or not accepted in time).

These are history rows, not sales that happened through the wallet: **no money moves for them** (no payment
intent, no ledger transfer, no settlement or refund) and no stock is taken. They are marked so that nobody mistakes
them for paid orders: ``intent_id`` is NULL on every one of them (an online order placed through ``orders.service``
always has its payment intent), and a canceled paid one has no ``refund_id``. Reconciliation and statements read
the ledger, so they never see these rows; the sales-by-channel figures (which count orders) do, as intended.

Fast: plain row dicts inserted with Core executemany in batches (``DemoContext.insert``); the history per store is
capped (``TOTAL_ORDERS`` shared among the stores, at most ``MAX_PER_STORE`` each) so even the large city (1,500
stores) takes a few seconds. Deterministic for a seed and a day: the step's own RNG and the context's seeded ids
(the dates follow the day it runs). Registered on import (``o2o.demo.generator.STEPS``), right after the catalogues.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select

from o2o.demo.generator import STEPS, DemoContext, DemoStep
from o2o.kit import time as clock
from o2o.kit.geo import haversine_m
from o2o.orders.pricing import PICKUP_MINUTES, travel_minutes
from o2o.orders.state import MERCHANT_CANCEL_REASONS
from o2o.stores import demo_catalogue  # noqa: F401  (registers the catalogues step, which must run before this one)
from o2o.stores import hours as hours_mod

DAYS = 30
TOTAL_ORDERS = 8_000  # shared among the city's stores
MIN_PER_STORE = 4
MAX_PER_STORE = 45
METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180

# Orders per hour of the day (local time): breakfast, a lunch peak, an afternoon lull, a dinner peak, late snacks.
HOUR_WEIGHTS = (
    0.15, 0.08, 0.04, 0.02, 0.02, 0.05, 0.3, 0.7, 0.9, 0.7, 0.9, 2.6,
    3.0, 1.8, 0.8, 0.7, 0.9, 2.2, 3.0, 2.5, 1.6, 1.0, 0.6, 0.35,
)
WEEKDAY_WEIGHTS = (1.0, 0.95, 1.0, 1.05, 1.2, 1.4, 1.35)  # Monday first: Friday night and the weekend are busier
# (delivery, takeout, click_collect, counter) by trade: shops people walk into sell more at the counter.
KIND_WEIGHTS: dict[str, tuple[float, float, float, float]] = {
    "food": (0.62, 0.14, 0.06, 0.18),
    "breakfast": (0.35, 0.2, 0.1, 0.35),
    "coffee": (0.42, 0.18, 0.12, 0.28),
    "tea": (0.5, 0.16, 0.1, 0.24),
    "bakery": (0.3, 0.12, 0.13, 0.45),
    "convenience": (0.4, 0.05, 0.1, 0.45),
    "grocery": (0.45, 0.05, 0.15, 0.35),
    "fruit": (0.45, 0.05, 0.15, 0.35),
    "pharmacy": (0.5, 0.05, 0.1, 0.35),
    "flowers": (0.45, 0.05, 0.2, 0.3),
    "bar": (0.25, 0.1, 0.05, 0.6),
}
KINDS = ("delivery", "takeout", "click_collect", "counter")
LINES_WEIGHTS = (0.45, 0.3, 0.17, 0.08)  # 1, 2, 3 or 4 lines
QUANTITY_WEIGHTS = (0.8, 0.15, 0.05)  # 1, 2 or 3 of a line
CANCEL_SHARE = 0.07
# Why online orders were canceled: (event, actor, state before, reason) and how often.
CANCELLATIONS = (
    ("cancel_by_customer", "customer", "placed", "customer_request", 0.3),
    ("expire_unpaid", "platform", "placed", "unpaid", 0.25),
    ("cancel_by_merchant", "merchant", "paid", None, 0.3),  # a reason code from the shop
    ("expire_unaccepted", "platform", "paid", "not_accepted", 0.15),
)
MERCHANT_REASON_WEIGHTS = {"too_busy": 4, "out_of_stock": 4, "item_unavailable": 2, "store_closed": 1,
                           "address_unreachable": 1, "other": 1}
OWN_RIDER_SHARE = 0.15  # deliveries by the shop's own rider rather than a platform courier
NOTES = ("", "", "", "", "", "", "少放辣", "不要香菜", "放门口就好", "多给点餐巾纸", "请尽快", "不要葱")
assert set(MERCHANT_REASON_WEIGHTS) <= set(MERCHANT_CANCEL_REASONS)


@dataclass
class _Menu:
    items: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[uuid.UUID, list[dict[str, Any]]] = field(default_factory=dict)  # item id -> its option groups


def _tables() -> dict[str, Any]:
    from o2o.models import metadata

    return dict(metadata.tables)


def _menus(ctx: DemoContext) -> dict[uuid.UUID, _Menu]:
    """The city's live catalogues, read back from the database (what the catalogue step wrote)."""
    t = _tables()
    items, groups, options = t["menu_items"], t["menu_option_groups"], t["menu_options"]
    categories = t["menu_categories"]
    session = ctx.session
    city = ctx.city_id
    menus: dict[uuid.UUID, _Menu] = defaultdict(_Menu)
    live_categories = set(
        session.scalars(select(categories.c.id).where(categories.c.city_id == city, categories.c.archived.is_(False)))
    )
    for row in session.execute(
        select(items.c.id, items.c.store_id, items.c.category_id, items.c.name, items.c.price)
        .where(items.c.city_id == city, items.c.archived.is_(False))
        .order_by(items.c.id)
    ).mappings():
        if row["category_id"] in live_categories:
            menus[row["store_id"]].items.append(dict(row))
    options_of: dict[uuid.UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in session.execute(
        select(options.c.id, options.c.group_id, options.c.name, options.c.price_delta)
        .where(options.c.city_id == city)
        .order_by(options.c.group_id, options.c.position, options.c.id)
    ).mappings():
        options_of[row["group_id"]].append(dict(row))
    store_of_item = {item["id"]: store_id for store_id, menu in menus.items() for item in menu.items}
    for row in session.execute(
        select(groups.c.id, groups.c.item_id, groups.c.name, groups.c.min_picks, groups.c.max_picks)
        .where(groups.c.city_id == city)
        .order_by(groups.c.item_id, groups.c.position, groups.c.id)
    ).mappings():
        store_id = store_of_item.get(row["item_id"])
        if store_id is not None:
            menus[store_id].groups.setdefault(row["item_id"], []).append({**row, "options": options_of[row["id"]]})
    return menus


def _terms(ctx: DemoContext) -> dict[uuid.UUID, dict[str, Any]]:
    stores = _tables()["stores"]
    rows = ctx.session.execute(
        select(
            stores.c.id, stores.c.min_order, stores.c.packaging_fee, stores.c.delivery_base_fee, stores.c.delivery_base_m,
            stores.c.delivery_fee_per_km, stores.c.delivery_radius_m,
        ).where(stores.c.city_id == ctx.city_id)
    ).mappings()
    return {row["id"]: dict(row) for row in rows}


def _staff_and_couriers(ctx: DemoContext) -> tuple[dict[uuid.UUID, list[uuid.UUID]], list[uuid.UUID]]:
    staff: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    couriers = []
    for grant in ctx.grants:
        if grant["role"] in ("merchant_staff", "merchant_owner") and grant["store_id"] is not None:
            staff[grant["store_id"]].append(grant["person_id"])
        elif grant["role"] == "courier":
            couriers.append(grant["person_id"])
    return staff, couriers


def _customers(ctx: DemoContext) -> tuple[list[uuid.UUID], uuid.UUID | None]:
    """Everyone can buy; the demo customer's account gets a share of the orders, to have a history to look at."""
    from o2o.demo.generator import DEMO_ACCOUNTS

    demo_phone = next(phone for phone, role, _ in DEMO_ACCOUNTS if role == "customer")
    demo = next((p["id"] for p in ctx.people if p["phone_e164"] == demo_phone), None)
    return [p["id"] for p in ctx.people], demo


def _pick_lines(rng: Any, menu: _Menu, min_subtotal: int) -> list[dict[str, Any]]:
    """1 to 4 lines (more while below ``min_subtotal``), each item with the options its groups require, sometimes
    one more; unit prices as the menu computes them (never below zero)."""
    lines: list[dict[str, Any]] = []
    wanted = rng.choices((1, 2, 3, 4), LINES_WEIGHTS)[0]
    subtotal = 0
    while len(lines) < wanted or (subtotal < min_subtotal and len(lines) < 8):
        item = rng.choice(menu.items)
        picked: list[tuple[str, dict[str, Any]]] = []
        for group in menu.groups.get(item["id"], []):
            count = group["min_picks"] + (1 if group["max_picks"] > group["min_picks"] and rng.random() < 0.25 else 0)
            count = min(count, len(group["options"]))
            picked.extend((group["name"], option) for option in rng.sample(group["options"], count))
        quantity = rng.choices((1, 2, 3), QUANTITY_WEIGHTS)[0]
        unit_price = max(0, item["price"] + sum(option["price_delta"] for _group, option in picked))
        lines.append(
            {
                "item_id": item["id"],
                "name": item["name"][:120],
                "quantity": quantity,
                "unit_price": unit_price,
                "line_total": unit_price * quantity,
                "options": json.dumps(
                    [{"option_id": str(o["id"]), "group": group, "name": o["name"], "price_delta": o["price_delta"]}
                     for group, o in picked],
                    ensure_ascii=False,
                ),
            }
        )
        subtotal += unit_price * quantity
    return lines


def _moment(rng: Any, store: dict[str, Any], today: dt.date, zone: ZoneInfo, day_weights: list[float]) -> dt.datetime | None:
    """A local moment in the last ``DAYS`` days when the store was open, weighted by weekday and hour (UTC)."""
    days = list(range(1, DAYS + 1))
    for _ in range(12):
        day = today - dt.timedelta(days=rng.choices(days, day_weights)[0])
        hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
        local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60), rng.randrange(60)), zone)
        if hours_mod.is_open(store["opening_hours"], local):
            return local.astimezone(dt.UTC)
    return None


def _destination(rng: Any, store: dict[str, Any], radius_m: int) -> tuple[float, float, float]:
    """A customer's door within the delivery radius (denser near the store), and its distance."""
    r = max(150.0, radius_m * math.sqrt(rng.random()) * 0.95)
    bearing = rng.uniform(0, 2 * math.pi)
    lat = store["lat"] + r * math.cos(bearing) / METRES_PER_DEGREE
    lng = store["lng"] + r * math.sin(bearing) / (METRES_PER_DEGREE * math.cos(math.radians(store["lat"])))
    lat, lng = round(lat, 6), round(lng, 6)
    return lat, lng, haversine_m((store["lat"], store["lng"]), (lat, lng))


def make_order_history(ctx: DemoContext) -> None:
    tables = _tables()
    rng = ctx.rng
    menus = _menus(ctx)
    terms = _terms(ctx)
    staff_of, couriers = _staff_and_couriers(ctx)
    people, demo_customer = _customers(ctx)
    if not people:
        return
    zone = ZoneInfo(ctx.city["timezone"])
    today = clock.now().astimezone(zone).date()
    day_weights = [WEEKDAY_WEIGHTS[(today - dt.timedelta(days=d)).weekday()] for d in range(1, DAYS + 1)]
    district_names = {d["id"]: d["name"] for d in ctx.districts}
    district_slugs = {d["id"]: d["slug"] for d in ctx.districts}
    district_specs = ctx.extra.get("district_specs", {})
    per_store = max(MIN_PER_STORE, min(MAX_PER_STORE, TOTAL_ORDERS // max(1, len(ctx.stores))))

    drafts: list[dict[str, Any]] = []  # one per order: the row and its events, before ids are given in time order
    for store in ctx.stores:
        ctx.progress.advance(1)
        menu = menus.get(store["id"])
        term = terms.get(store["id"])
        if menu is None or not menu.items or term is None:
            continue  # no catalogue: nothing could have been sold
        popularity = 0.45 + 0.55 * max(0.0, min(1.0, (store["rating"] - 3.0) / 2.0))
        count = max(1, round(per_store * popularity * rng.uniform(0.8, 1.0)))
        workers = staff_of.get(store["id"]) or [None]
        spec = district_specs.get(district_slugs.get(store["district_id"]))
        for _ in range(count):
            at = _moment(rng, store, today, zone, day_weights)
            if at is None:
                continue
            kind = rng.choices(KINDS, KIND_WEIGHTS.get(store["category"], KIND_WEIGHTS["food"]))[0]
            drafts.append(
                _draft(rng, store, term, menu, kind, at, people, demo_customer, workers, couriers,
                       district_names.get(store["district_id"], ""), spec)
            )
    drafts.sort(key=lambda d: (d["order"]["created_at"], d["order"]["store_id"]))
    orders, lines, events = [], [], []
    for draft in drafts:
        order_id = ctx.new_id()
        order = {**draft["order"], "id": order_id}
        orders.append(order)
        for line in draft["lines"]:
            lines.append({**line, "id": ctx.new_id(), "order_id": order_id, "city_id": ctx.city_id})
        for seq, event in enumerate(draft["events"], start=1):
            events.append(
                {**event, "id": ctx.new_id(), "order_id": order_id, "store_id": order["store_id"],
                 "city_id": ctx.city_id, "seq": seq}
            )
        order["seq"] = len(draft["events"])
    ctx.insert(tables["orders"], orders, advance=False)
    ctx.insert(tables["order_lines"], lines, advance=False)
    ctx.insert(tables["order_events"], events, advance=False)


def _draft(
    rng: Any, store: dict[str, Any], term: dict[str, Any], menu: _Menu, kind: str, at: dt.datetime,
    people: list[uuid.UUID], demo_customer: uuid.UUID | None, workers: list[uuid.UUID | None],
    couriers: list[uuid.UUID], district_name: str, spec: Any,
) -> dict[str, Any]:
    counter = kind == "counter"
    lines = _pick_lines(rng, menu, 0 if counter else term["min_order"])
    subtotal = sum(line["line_total"] for line in lines)
    clerk = rng.choice(workers)
    events: list[dict[str, Any]] = []

    def event(name: str, state: str, actor: str, when: dt.datetime, who: uuid.UUID | None = None,
              reason: str | None = None) -> None:
        events.append({"event": name, "state": state, "actor": actor, "actor_person_id": who, "reason": reason,
                       "at": when})

    prep = dt.timedelta(minutes=store["prep_minutes"])
    order: dict[str, Any] = {
        "city_id": store["city_id"], "store_id": store["id"], "kind": kind, "currency": "CNY",
        "subtotal": subtotal, "packaging_fee": 0, "delivery_fee": 0, "distance_m": None, "address": "",
        "dest_lat": None, "dest_lng": None, "note": "", "pickup_code": "", "intent_id": None,
        "pay_deadline": None, "accept_deadline": None, "paid_at": None, "completed_at": None, "canceled_at": None,
        "cancel_reason": None, "canceled_by": None, "stock_sold": True, "restocked": False, "refund_id": None,
        "courier_person_id": None, "tender": None, "clerk_person_id": None, "created_at": at,
    }
    if counter:
        tender = "card" if rng.random() < 0.6 else "cash"
        order.update(
            customer_person_id=None, payment_mode="at_counter", state="completed", total=subtotal, ready_by=at,
            promised_at=at, paid_at=at, completed_at=at, tender=tender, clerk_person_id=clerk, updated_at=at,
        )
        event("sell", "completed", "merchant", at, clerk)
        return {"order": order, "lines": lines, "events": events}

    customer = demo_customer if demo_customer is not None and rng.random() < 0.01 else rng.choice(people)
    at_counter = kind == "click_collect" and rng.random() < 0.3
    packaging = term["packaging_fee"] if kind in ("delivery", "takeout") else 0
    promised = at + prep
    if kind == "delivery":
        lat, lng, distance = _destination(rng, store, term["delivery_radius_m"])
        fee = term["delivery_base_fee"] + term["delivery_fee_per_km"] * math.ceil(
            max(0.0, distance - term["delivery_base_m"]) / 1000
        )
        street = rng.choice(spec.streets) if spec is not None and spec.streets else ""
        order.update(
            delivery_fee=fee, distance_m=round(distance, 1), dest_lat=lat, dest_lng=lng,
            address=f"{district_name.split(' ')[0]}{street}{rng.randint(1, 300)}号院{rng.randint(1, 20)}号楼"
            f"{rng.randint(1, 6)}单元{rng.randint(1, 30)}{rng.randint(1, 4):02d}"[:200],
        )
        promised = at + prep + dt.timedelta(minutes=PICKUP_MINUTES + travel_minutes(distance))
    else:
        order["pickup_code"] = f"{rng.randrange(10_000):04d}"
    order.update(
        customer_person_id=customer, payment_mode="at_counter" if at_counter else "online", packaging_fee=packaging,
        total=subtotal + packaging + order["delivery_fee"], ready_by=at + prep, promised_at=promised,
        note=rng.choice(NOTES),
    )
    if not at_counter:
        order["pay_deadline"] = at + dt.timedelta(minutes=15)
    event("place", "placed", "customer", at, customer)
    now = at

    def later(low: float, high: float) -> dt.datetime:
        nonlocal now
        now = now + dt.timedelta(seconds=rng.uniform(low, high))
        return now

    canceled = rng.random() < CANCEL_SHARE
    cancellation = rng.choices(CANCELLATIONS, [c[4] for c in CANCELLATIONS])[0] if canceled else None
    if at_counter and cancellation is not None and cancellation[2] == "paid":
        cancellation = ("cancel_by_merchant", "merchant", "placed", None, 0)  # a reservation the shop turned down
    if at_counter and cancellation is not None and cancellation[0] == "expire_unpaid":
        cancellation = ("expire_unaccepted", "platform", "placed", "not_accepted", 0)

    if cancellation is not None and cancellation[2] == "placed":
        name, actor, _before, reason, _w = cancellation
        deadlines = {"expire_unpaid": at + dt.timedelta(minutes=15), "expire_unaccepted": at + dt.timedelta(minutes=10)}
        when = deadlines.get(name) or later(30, 300)
        reason = reason or rng.choices(list(MERCHANT_REASON_WEIGHTS), list(MERCHANT_REASON_WEIGHTS.values()))[0]
        who = customer if actor == "customer" else (clerk if actor == "merchant" else None)
        event(name, "canceled", actor, when, who, reason)
        order.update(state="canceled", canceled_at=when, cancel_reason=reason, canceled_by=actor, stock_sold=False,
                     updated_at=when)
        return {"order": order, "lines": lines, "events": events}

    if not at_counter:
        paid = later(15, 90)
        event("pay", "paid", "platform", paid)
        order.update(paid_at=paid, accept_deadline=paid + dt.timedelta(minutes=10))
    else:
        order["accept_deadline"] = at + dt.timedelta(minutes=10)
    if cancellation is not None:  # rejected or left unanswered once paid: the units went back on the shelf
        name, actor, _before, reason, _w = cancellation
        if name == "expire_unaccepted":
            when = order["accept_deadline"]
        else:
            when = later(30, 400)
            reason = rng.choices(list(MERCHANT_REASON_WEIGHTS), list(MERCHANT_REASON_WEIGHTS.values()))[0]
        event(name, "canceled", actor, when, clerk if actor == "merchant" else None, reason)
        order.update(state="canceled", canceled_at=when, cancel_reason=reason, canceled_by=actor, restocked=True,
                     updated_at=when)
        return {"order": order, "lines": lines, "events": events}

    event("accept", "accepted", "merchant", later(20, 240), clerk)
    event("start", "preparing", "merchant", later(0, 60), clerk)
    ready = max(later(60, 120), at + prep + dt.timedelta(minutes=rng.uniform(-2, 6)))
    now = ready
    event("mark_ready", "ready", "merchant", ready, clerk)
    if kind == "delivery":
        own_rider = not couriers or rng.random() < OWN_RIDER_SHARE
        courier = None if own_rider else rng.choice(couriers)
        actor, who = ("merchant", clerk) if own_rider else ("courier", courier)
        picked = later(60, 480)
        event("pick_up", "picked_up", actor, picked, who)
        delivered = later(travel_minutes(order["distance_m"]) * 50, travel_minutes(order["distance_m"]) * 80 + 120)
        event("deliver", "delivered", actor, delivered, who)
        order["courier_person_id"] = courier
    else:
        picked = later(120, 1500)
        if at_counter:
            order.update(tender="card" if rng.random() < 0.6 else "cash", paid_at=picked, clerk_person_id=clerk)
        event("pick_up", "picked_up", "merchant", picked, clerk)
    done = now
    event("complete", "completed", "platform", done)
    order.update(state="completed", completed_at=done, updated_at=done)
    return {"order": order, "lines": lines, "events": events}


STEP = DemoStep(
    "order_history",
    make_order_history,
    estimate=lambda ctx: len(ctx.stores),
    description="Order history",
)
if not any(step.name == STEP.name for step in STEPS):
    # Right after the catalogues, whatever order the modules were imported in.
    after = next((i for i, step in enumerate(STEPS) if step.name == "catalogues"), len(STEPS) - 1)
    STEPS.insert(after + 1, STEP)
