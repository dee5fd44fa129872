"""The demo city's stock: shops that sell goods off a shelf (convenience, grocery, fruit, pharmacy, flowers,
bakery) count their items; kitchens cook to order and leave their dishes untracked (unlimited).

A handful of items are nearly gone (1 to 3 left) and a few are at zero, so "N left here" and sold-out states
show up in the demo. Registered on import, right after the catalogues step.
"""

from __future__ import annotations

from typing import Any

from o2o.demo.generator import STEPS, DemoContext, DemoStep
from o2o.stores import demo_catalogue  # noqa: F401  (its step must run first)

SHELF_TRADES = frozenset({"convenience", "grocery", "fruit", "pharmacy", "flowers", "bakery"})


def make_stock(ctx: DemoContext) -> None:
    from o2o.models import metadata

    rng = ctx.rng
    shelf_stores = {s["id"] for s in ctx.stores if s["category"] in SHELF_TRADES}
    rows: list[dict[str, Any]] = []
    now = ctx.created_at(ctx.new_id())
    for item in ctx.extra.get("menu_items", []):
        if item["store_id"] not in shelf_stores:
            continue
        roll = rng.random()
        on_hand = 0 if roll < 0.03 else rng.randint(1, 3) if roll < 0.12 else rng.randint(8, 120)
        rows.append({
            "item_id": item["id"], "store_id": item["store_id"], "city_id": item["city_id"], "on_hand": on_hand,
            "held": 0, "updated_at": now,
        })
    ctx.insert(metadata.tables["stock_levels"], rows)


STEP = DemoStep("stock", make_stock, estimate=lambda ctx: len(ctx.extra.get("menu_items", [])),
                description="Shelf stock of shops")
if not any(step.name == STEP.name for step in STEPS):
    names = [step.name for step in STEPS]
    STEPS.insert(names.index("catalogues") + 1 if "catalogues" in names else len(STEPS), STEP)
