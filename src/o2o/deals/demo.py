"""The demo city's deals: a share of its stores sell group-buy deals, with a month of voucher sales and redemptions
behind them for the analytics.

Registers its step with the generator at import (``o2o.demo.generator.STEPS``).

The history claims no money. A voucher sold through the app has a payment intent and real ledger transfers; the
history's vouchers have neither (``intent_id`` is NULL). Writing real transfers for them would tie the demo city to
ledger rows that ``o2o demo --replace`` cannot delete (``wallet_transfers`` has no ``city_id``, and the city's
accounts could then not be deleted either), and a ledger that says nothing is better than one that lies. So the
history is only what happened in the shops: redeemed vouchers (most) and vouchers refunded at their owner's request.
It holds no voucher that could still be used, refunded or settled, so the jobs, the money and the invariants never
meet it. ``voucher_sales`` and ``voucher_redemptions`` count it like any other.

Deterministic: the same seed gives the same deals and vouchers, their windows placed around the day the city is
seeded (its local midnight), so a fresh demo always shows a recent month. Voucher ids carry their sale time (UUIDv7
from a seeded stream), so "my vouchers" lists them newest first like real ones.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from o2o.deals import rules
from o2o.demo.generator import STEPS, DemoContext, DemoStep
from o2o.kit import time as clock
from o2o.kit.ids import make_uuid7

HISTORY_DAYS = 30
# Which trades sell group-buy deals, and how likely a store of that trade is to have some.
DEAL_SHARE = {
    "food": 0.55, "breakfast": 0.3, "coffee": 0.5, "tea": 0.5, "bakery": 0.4, "bar": 0.6, "fruit": 0.2,
    "flowers": 0.25, "grocery": 0.15, "convenience": 0.08, "pharmacy": 0.0,
}
# (items with a typical unit price in fen) and deal titles, per trade.
MENUS: dict[str, tuple[tuple[tuple[str, int], ...], tuple[str, ...]]] = {
    "food": (
        (("招牌水饺", 2_800), ("酸辣汤", 1_800), ("宫保鸡丁", 3_800), ("鱼香肉丝", 3_200), ("米饭", 300),
         ("凉拌黄瓜", 1_400), ("红烧牛肉面", 2_600), ("小笼包", 2_200), ("烤鸭（半只）", 8_800), ("时令蔬菜", 2_000)),
        ("单人套餐", "双人套餐", "三至四人餐", "午市特惠套餐", "招牌双人餐"),
    ),
    "breakfast": (
        (("豆浆", 400), ("油条", 300), ("鲜肉包子", 350), ("茶叶蛋", 250), ("小米粥", 500), ("煎饼果子", 900)),
        ("早餐套餐", "双人早餐"),
    ),
    "coffee": (
        (("美式咖啡", 2_200), ("拿铁", 2_800), ("卡布奇诺", 2_800), ("可颂", 1_800), ("提拉米苏", 3_200)),
        ("咖啡双杯券", "咖啡+甜点", "下午茶套餐"),
    ),
    "tea": (
        (("珍珠奶茶", 1_600), ("杨枝甘露", 1_900), ("满杯水果茶", 1_800), ("芝士奶盖茶", 2_000)),
        ("饮品双杯", "招牌饮品单杯", "三杯畅饮"),
    ),
    "bakery": (
        (("全麦吐司", 1_600), ("葡式蛋挞", 800), ("牛角包", 1_200), ("蛋糕切件", 2_800)),
        ("烘焙组合", "下午茶甜点套餐"),
    ),
    "bar": (
        (("精酿啤酒", 3_800), ("特调鸡尾酒", 6_800), ("小食拼盘", 4_800), ("薯条", 2_200)),
        ("双人畅饮", "欢乐时光套餐", "周末派对套餐"),
    ),
    "fruit": ((("鲜切果盒", 2_800), ("时令水果拼盘", 4_800)), ("鲜果套餐",)),
    "flowers": ((("鲜花花束", 12_800), ("手写贺卡", 500)), ("节日花束",)),
    "grocery": ((("全场通用代金券 ¥100", 10_000),), ("¥100代金券",)),
    "convenience": ((("全场通用代金券 ¥50", 5_000),), ("¥50代金券",)),
}
assert set(DEAL_SHARE) >= set(MENUS)


def _anchor(ctx: DemoContext) -> dt.datetime:
    """Today's local midnight in the city (UTC), shared with later history steps through ``ctx.extra``."""
    if "history_until" not in ctx.extra:
        zone = ZoneInfo(ctx.city["timezone"])
        today = clock.now().astimezone(zone).date()
        ctx.extra["history_until"] = dt.datetime.combine(today, dt.time(), zone).astimezone(dt.UTC)
    return ctx.extra["history_until"]


def _lines(rng: random.Random, category: str) -> tuple[list[tuple[str, int]], int, str]:
    items, titles = MENUS[category]
    count = 1 if len(items) <= 2 else rng.randint(2, min(4, len(items)))
    chosen = rng.sample(items, count) if count < len(items) else list(items)
    lines = [(name, 1 if price > 5_000 else rng.choice((1, 1, 2))) for name, price in chosen]
    original = sum(dict(items)[name] * qty for name, qty in lines)
    return lines, original, rng.choice(titles)


def _deal_row(ctx: DemoContext, rng: random.Random, store: dict[str, Any], anchor: dt.datetime) -> dict[str, Any]:
    lines, original, title = _lines(rng, store["category"])
    price = max(100, int(original * rng.uniform(0.58, 0.88)) // 10 * 10)  # to the jiao, as shops price
    sale_starts = anchor - dt.timedelta(days=HISTORY_DAYS + rng.randint(3, 20))
    sale_ends = anchor + dt.timedelta(days=rng.randint(20, 90))
    weekdays, start, end = rules.EVERY_DAY, None, None
    roll = rng.random()
    if roll < 0.2:
        weekdays = rules.WORKDAYS
    if store["category"] == "food" and roll > 0.85:
        start, end = 11 * 60, 14 * 60  # a lunch deal
    deal_id = ctx.new_id()
    created = ctx.created_at(deal_id)
    return {
        "id": deal_id,
        "city_id": ctx.city_id,
        "merchant_id": store["merchant_id"],
        "store_id": store["id"],
        "title": title,
        "lines": json.dumps([[n, q] for n, q in lines], ensure_ascii=False, separators=(",", ":")),
        "price": price,
        "original_price": original,
        "currency": ctx.city["currency"],
        "quantity_total": None if rng.random() < 0.4 else rng.choice((100, 200, 300, 500, 1_000)),
        "quantity_sold": 0,
        "per_person_limit": rng.choice((None, None, None, 2, 5)),
        "sale_starts_at": sale_starts,
        "sale_ends_at": sale_ends,
        "valid_from": sale_starts,
        "valid_until": sale_ends + dt.timedelta(days=rng.choice((30, 60, 90))),
        "usable_weekdays": weekdays,
        "usable_start_minute": start,
        "usable_end_minute": end,
        "status": "published",
        "created_by": None,
        "published_at": created,
        "withdrawn_at": None,
        "updated_at": created,
        "created_at": created,
    }


def _usable_moment(rng: random.Random, deal: dict[str, Any], after: dt.datetime, zone: ZoneInfo,
                   until: dt.datetime) -> dt.datetime | None:
    """A plausible moment to redeem: within a few days after ``after``, on an allowed day and hour, before
    ``until``; None if there is none."""
    usage = rules.UsageRules(deal["usable_weekdays"], deal["usable_start_minute"], deal["usable_end_minute"])
    for _ in range(12):
        day = (after.astimezone(zone) + dt.timedelta(days=rng.randint(0, 4))).date()
        low, high = 10 * 60, 21 * 60
        if usage.start_minute is not None and usage.end_minute is not None:
            low, high = usage.start_minute, usage.end_minute
        minute = rng.randrange(low, high)
        local = dt.datetime.combine(day, dt.time(minute // 60, minute % 60, rng.randrange(60)), zone)
        moment = local.astimezone(dt.UTC)
        if after < moment < until and usage.allows(local):
            return moment
    return None


def step_deals(ctx: DemoContext) -> None:
    from o2o.models import metadata

    tables = metadata.tables
    if "deals" not in tables or not ctx.stores or not ctx.people:
        return
    rng = ctx.rng
    anchor = _anchor(ctx)
    zone = ZoneInfo(ctx.city["timezone"])
    chains: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for store in ctx.stores:
        chains.setdefault(store["merchant_id"], []).append(store)
    staff_of: dict[uuid.UUID, list[uuid.UUID]] = {}
    for grant in ctx.grants:
        if grant["role"] == "merchant_staff" and grant["store_id"] is not None:
            staff_of.setdefault(grant["store_id"], []).append(grant["person_id"])
    buyers = [p["id"] for p in ctx.people]
    deals: list[dict[str, Any]] = []
    deal_stores: list[dict[str, Any]] = []
    vouchers: list[dict[str, Any]] = []
    codes: set[str] = set()
    for index, store in enumerate(ctx.stores):
        # The demo staff's store (the first) always sells, so the demo accounts find deals to redeem.
        share = DEAL_SHARE.get(store["category"], 0.0)
        if store["category"] not in MENUS or (index > 0 and rng.random() >= share):
            continue
        for _ in range(1 if rng.random() < 0.7 else 2):
            deal = _deal_row(ctx, rng, store, anchor)
            chain = chains[store["merchant_id"]]
            covered = [store, *[s for s in chain if s is not store][: rules.MAX_STORES - 1]]
            deals.append(deal)
            deal_stores += [{"deal_id": deal["id"], "store_id": s["id"], "city_id": ctx.city_id} for s in covered]
            sold = rng.randint(2, 8 if len(ctx.stores) > 200 else 18)
            if deal["quantity_total"] is not None:
                sold = min(sold, deal["quantity_total"] // 2)
            for _sale in range(sold):
                voucher = _history_voucher(ctx, rng, deal, covered, staff_of, buyers, anchor, zone, codes)
                vouchers.append(voucher)
                if voucher["status"] == "redeemed":
                    deal["quantity_sold"] += 1
    ctx.insert(tables["deals"], deals)
    ctx.insert(tables["deal_stores"], deal_stores, advance=False)
    ctx.insert(tables["vouchers"], vouchers)
    ctx.extra["deals"] = deals


def _history_voucher(
    ctx: DemoContext,
    rng: random.Random,
    deal: dict[str, Any],
    covered: list[dict[str, Any]],
    staff_of: dict[uuid.UUID, list[uuid.UUID]],
    buyers: list[uuid.UUID],
    anchor: dt.datetime,
    zone: ZoneInfo,
    codes: set[str],
) -> dict[str, Any]:
    sold_at = anchor - dt.timedelta(seconds=rng.randrange(HISTORY_DAYS * 86_400))
    sold_local = sold_at.astimezone(zone)
    if not 8 <= sold_local.hour < 23:  # people buy while awake
        sold_at += dt.timedelta(hours=12)
        sold_at = min(sold_at, anchor - dt.timedelta(minutes=5))
    code = rules.new_code(rng.randrange)
    while code in codes:
        code = rules.new_code(rng.randrange)
    codes.add(code)
    redeemed_at = _usable_moment(rng, deal, sold_at, zone, anchor) if rng.random() < 0.85 else None
    at_store = rng.choice(covered) if redeemed_at is not None else None
    staff = staff_of.get(at_store["id"], []) if at_store is not None else []
    refunded_at = None if redeemed_at is not None else sold_at + dt.timedelta(minutes=rng.randint(5, 3 * 24 * 60))
    refunded_at = min(refunded_at, anchor) if refunded_at is not None else None
    last = redeemed_at or refunded_at or sold_at
    return {
        "id": make_uuid7(int(sold_at.timestamp() * 1000), rng.getrandbits(12), rng.getrandbits(62)),
        "city_id": ctx.city_id,
        "deal_id": deal["id"],
        "store_id": deal["store_id"],
        "owner_person_id": rng.choice(buyers),
        "intent_id": None,
        "code": code,
        "price": deal["price"],
        "currency": deal["currency"],
        "status": "redeemed" if redeemed_at is not None else "refunded",
        "limit_slot": None,
        "valid_from": deal["valid_from"],
        "valid_until": deal["valid_until"],
        "issued_at": sold_at,
        "redeemed_at": redeemed_at,
        "redeemed_store_id": at_store["id"] if at_store is not None else None,
        "redeemed_by": rng.choice(staff) if staff else None,
        "settled_at": None,
        "refunded_at": refunded_at,
        "refund_reason": "requested" if refunded_at is not None else None,
        "canceled_at": None,
        "version": 2,
        "updated_at": last,
        "created_at": sold_at,
    }


def _estimate(ctx: DemoContext) -> int:
    return int(len(ctx.stores) * 0.45 * 1.3 * 9)


STEP = DemoStep("deals", step_deals, estimate=_estimate, description="Deals and vouchers")


def register() -> None:
    """Add the step to the generator (once): done at import."""
    if not any(step.name == STEP.name for step in STEPS):
        STEPS.append(STEP)


register()
