"""Concurrent catalogue edits on PostgreSQL with real connections: the rules that span rows hold when two edits
race, because every edit takes the store's catalogue (its version row) first.

- A price cut and a new discount are each fine alone, together they would let the unit price go below zero:
  exactly one lands.
- Two merchants' tabs add a category of the same name at once (over HTTP, against a live server): one lands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import select

from o2o.accounts import service as accounts
from o2o.db import Database
from o2o.errors import AppError
from o2o.stores import catalogue, menu
from o2o.stores.models import MenuCategory, Store
from tests.stores.catalogue_helpers import Shop, shop  # noqa: F401

# SQLite serialises writers: the races can only happen on PostgreSQL.
pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


def race(db: Database, *edits: Callable[..., object]) -> list[str]:
    """Run the edits at the same moment, each in its own unit of work; their outcomes ("ok" or the refusal's code)."""
    assert db.dialect == "postgresql"
    barrier = threading.Barrier(len(edits))
    outcomes: list[str] = ["?"] * len(edits)

    def run(index: int, edit: Callable[..., object]) -> None:
        barrier.wait()
        try:
            with db.session() as s:
                edit(s)
            outcomes[index] = "ok"
        except AppError as exc:
            outcomes[index] = exc.code

    threads = [threading.Thread(target=run, args=(i, e)) for i, e in enumerate(edits)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return outcomes


def test_a_price_cut_and_a_new_discount_never_both_land(db: Database, shop: Shop) -> None:  # noqa: F811
    for round_ in range(4):
        with db.session() as s:
            category = catalogue.create_category(s, shop.store_id, name=f"Round {round_}")
            item = catalogue.create_item(s, shop.store_id, category_id=category.id, name="Noodles", price=1000)
            catalogue.create_option_group(s, shop.store_id, item.id, name="Coupon", min_picks=0, max_picks=1,
                                          options=[{"name": "Member", "price_delta": -300}])
            item_id = item.id
        outcomes = race(
            db,
            lambda s, i=item_id: catalogue.update_item(s, shop.store_id, i, {"price": 500}),  # floor 200 alone
            lambda s, i=item_id: catalogue.create_option_group(  # floor 100 alone
                s, shop.store_id, i, name="Happy hour", min_picks=0, max_picks=1,
                options=[{"name": "Happy hour", "price_delta": -600}],
            ),
        )
        assert sorted(outcomes) == ["ok", "unit_price_below_zero"], outcomes
        with db.sessionmaker() as s:
            noodles = catalogue.load_menu(s, shop.store_id).items[item_id]
            assert menu.item_lowest_unit_price(noodles) >= 0


def test_the_same_category_name_from_two_tabs_lands_once(db: Database, shop: Shop, app, live_server) -> None:  # noqa: F811
    with db.session() as s:
        token, _row = accounts.create_session(s, app.state.settings, shop.owner_id, method="otp")
    url = f"{live_server.url}/api/merchant/stores/{shop.store_id}/categories"
    for round_ in range(3):
        barrier = threading.Barrier(4)
        statuses: list[int] = []

        def post(name: str = f"Specials {round_}", barrier: threading.Barrier = barrier,
                 statuses: list[int] = statuses) -> None:
            with httpx.Client(timeout=30) as http:
                barrier.wait()
                response = http.post(url, json={"name": name}, headers={"Authorization": f"Bearer {token}"})
                statuses.append(response.status_code)

        threads = [threading.Thread(target=post) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(statuses) == [201, 409, 409, 409], statuses
    with db.sessionmaker() as s:
        names = s.scalars(select(MenuCategory.name).where(MenuCategory.store_id == shop.store_id)).all()
        version = s.scalar(select(Store.catalogue_version).where(Store.id == shop.store_id))
    assert sorted(names) == [f"Specials {n}" for n in range(3)]
    assert version == 3  # the refused attempts took the catalogue too, and rolled their bump back
