"""The demo catalogues: every demo store gets a menu for its trade and delivery terms, the menus obey the
catalogue's rules (no negative unit price, breakfast only in the morning, a required choice left on sale), and an
app can price a cart from them."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from sqlalchemy import func, select

from o2o.db import Database
from o2o.demo import service
from o2o.demo.generator import STEPS
from o2o.stores import catalogue, menu
from o2o.stores import demo_catalogue as demo  # importing it registers the step
from o2o.stores.models import MenuItem, Store

EIGHT_IN_BEIJING = dt.datetime(2025, 3, 3, 0, 0, tzinfo=dt.UTC)


def test_the_step_is_registered_once() -> None:
    import importlib

    importlib.reload(demo)  # imported twice (the app and the demo both import it): still one step
    names = [step.name for step in STEPS]
    assert names.count("catalogues") == 1
    assert names.index("catalogues") > names.index("stores")  # menus need their stores


def test_every_demo_store_gets_a_menu_and_terms(db: Database) -> None:
    summary = service.seed_database(db, size="small", seed_value=42)
    assert summary.counts["menu_items"] > 60 * 5 and summary.counts["menu_options"] > 0
    with db.sessionmaker() as s:
        stores = s.scalars(select(Store).order_by(Store.id)).all()
        per_store = dict(s.execute(select(MenuItem.store_id, func.count()).group_by(MenuItem.store_id)).all())
        assert all(per_store.get(store.id, 0) >= 3 for store in stores)
        assert len({store.delivery_radius_m for store in stores}) > 1
        assert sum(not store.accepting_orders for store in stores) < len(stores) / 4
        checked: Counter[str] = Counter()
        for store in stores:
            m = catalogue.load_menu(s, store.id)
            assert m.categories and m.items
            for item in m.items.values():
                assert item.price > 0 and menu.item_lowest_unit_price(item) > 0, (store.name, item.name)
                assert item.orderable_options, (store.name, item.name)  # a required choice stays on sale
            if store.category == "breakfast":
                assert all(menu.window_pairs(c.windows) == [["06:00", "10:30"]] for c in m.categories)
            if store.category in ("coffee", "tea"):
                assert any({"杯型", "温度"} <= {g.name for g in item.groups} for item in m.items.values())
            if store.category == "food":
                assert any({"份量", "辣度"} <= {g.name for g in item.groups} for item in m.items.values())
            # An app prices the first orderable item with the first option of each required choice.
            item = next(i for i in m.items.values() if not i.sold_out)
            picks = tuple(next(o.id for o in g.options if not o.sold_out) for g in item.groups if g.min_picks)
            [line] = catalogue.price_cart(s, store.id, [menu.LineRequest(item.id, 2, picks)], at=EIGHT_IN_BEIJING)
            assert line.line_total == 2 * line.unit_price > 0
            checked[store.category] += 1
    assert set(checked) >= {"food", "breakfast", "coffee", "tea", "convenience", "pharmacy", "flowers"}
