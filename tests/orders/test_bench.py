"""``o2o bench checkout``: a short run on SQLite prints every figure and finds no oversell; the flash sale's
check counts exactly what was sold and paid, and catches a sale beyond the units there were."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from o2o.config import Settings
from o2o.db import Database
from o2o.orders import bench, service
from o2o.orders.state import OrderKind
from o2o.stores import stock
from o2o.stores.menu import LineRequest

O2O = str(Path(sys.executable).parent / "o2o")
KEYS = {"database", "orders_per_s", "p50_ms", "p99_ms", "healthz_per_s", "hot_item_orders_per_s"}


def test_a_short_run_on_sqlite_prints_the_figures_and_sells_exactly_the_hot_units() -> None:
    args = [O2O, "bench", "checkout", "--database", "sqlite", "--json", "--seconds", "1", "--warmup", "0"]
    # One server process: a second one only doubles the start-up (every module compiled afresh) in a test.
    args += ["--workers", "1", "--clients", "4", "--stores", "2", "--cities", "2", "--customers", "12"]
    args += ["--hot-units", "15", "--hot-clients", "6"]
    # Its own process, as a person runs it (and away from any event loop a browser test left in this one).
    result = subprocess.run(args, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]

    figures = json.loads(result.stdout)
    assert figures.keys() >= KEYS
    assert figures["database"] == "sqlite"
    for key in KEYS - {"database"}:
        assert isinstance(figures[key], float) and figures[key] > 0, key
    assert figures["p50_ms"] <= figures["p99_ms"]
    assert figures["no_oversell"] is True and figures["violations"] == []
    # Every checkout the generator sends is a valid one: paid, or nothing else.
    assert figures["errors"] == {} and figures["checkout"]["ok"] == figures["checkout"]["requests"] > 0
    assert figures["clients"] == 4 and figures["workers"] == 1 and figures["cities"] == 2
    assert figures["machine_cores"] >= 1 and figures["checkout"]["cpu_ms_per_order"]["server"] > 0
    hot = figures["hot_item"]
    assert hot["ok"] == 15 and hot["units"] == 15 and hot["clients"] == 6
    assert hot["check"] == {
        "sold_units": 15,
        "paid_orders": 15,
        "orders_by_state": {"paid": 15},
        "on_hand": 0,
        "held": 0,
        "escrow_balance": 15 * bench.HOT_PRICE,
        "paid_total": 15 * bench.HOT_PRICE,
        "escrow_payments": 15,
    }


def _buy(db: Database, settings: Settings, hot: bench.HotItem, customer: bench.Customer) -> None:
    with db.session() as s:
        service.place(
            s,
            settings,
            customer_id=customer.person_id,
            store_id=hot.store_id,
            kind=OrderKind.TAKEOUT,
            lines=[LineRequest(hot.item_id, 1)],
            pay_with_wallet=True,
        )


def test_the_flash_sale_check_counts_what_was_sold_and_flags_an_oversell(db: Database, settings: Settings) -> None:
    hot = bench.seed_hot_item(db, units=3)
    buyers = bench.seed_customers(db, settings, count=5, city_id=hot.city_id, funding=10_000)

    half = bench.verify_hot_item(db, hot)
    assert half.sold_units == 0 and half.on_hand == 3
    assert half.violations == [
        "only 0 of 3 units sold when the sale ended",
        "stock after the sale: on hand 3, held 0 (expected 0 and 0)",
    ]

    for buyer in buyers[:3]:
        _buy(db, settings, hot, buyer)
    with pytest.raises(stock.OutOfStock):
        _buy(db, settings, hot, buyers[3])  # sold out: nothing placed, nothing paid
    check = bench.verify_hot_item(db, hot, paid_responses=3)
    assert check.ok, check.violations
    assert (check.sold_units, check.paid_orders, check.on_hand, check.held) == (3, 3, 0, 0)
    assert check.escrow_balance == check.paid_total == 3 * bench.HOT_PRICE and check.escrow_payments == 3
    assert check.orders_by_state == {"paid": 3}

    # The buyers were told of a sale the database does not have.
    assert bench.verify_hot_item(db, hot, paid_responses=4).violations == [
        "the buyers were told 4 orders were paid; the database has 3"
    ]
    # One more unit appears on the shelf and is sold: four paid orders for a sale of three units.
    with db.session() as s:
        stock.set_on_hand(s, city_id=hot.city_id, store_id=hot.store_id, item_id=hot.item_id, on_hand=1)
    _buy(db, settings, hot, buyers[4])
    oversold = bench.verify_hot_item(db, hot)
    assert not oversold.ok
    assert oversold.violations == ["OVERSELL: 4 units in 4 paid orders, only 3 in stock"]


def test_random_orders_are_valid_checkouts(db: Database, settings: Settings) -> None:
    """Whatever the generator draws (store, items, options, delivery address or takeout), the service prices and
    places it: in the area, above the minimum order, with every required option picked."""
    rng = random.Random(5)
    city_id, stores = bench.seed_city(db, stores=3, rng=rng)
    (customer,) = bench.seed_customers(db, settings, count=1, city_id=city_id)
    kinds = set()
    for _ in range(25):
        body = bench.random_order(rng, stores)
        kinds.add(body["kind"])
        address = body.get("address")
        with db.session() as s:
            order = service.place(
                s,
                settings,
                customer_id=customer.person_id,
                store_id=uuid.UUID(body["store_id"]),
                kind=OrderKind(body["kind"]),
                lines=[
                    LineRequest(uuid.UUID(li["item_id"]), li["quantity"], tuple(uuid.UUID(o) for o in li["option_ids"]))
                    for li in body["lines"]
                ],
                destination=None if address is None else service.Destination(address["lat"], address["lng"]),
                pay_with_wallet=True,
            )
            assert order.state == "paid" and order.subtotal >= bench.MIN_ORDER
    assert kinds == {"delivery", "takeout"}
