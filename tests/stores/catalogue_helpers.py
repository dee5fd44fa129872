"""Helpers for the catalogue tests: a city with two always-open stores, their people and roles, a small menu built
through the service, signed-in clients, and a snapshot of every catalogue row (to assert that a refusal changed
nothing)."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from o2o.accounts import service as accounts
from o2o.accounts.models import Person
from o2o.accounts.permissions import Role
from o2o.db import Database
from o2o.kit.geo import h3_cell
from o2o.stores import catalogue, hours
from o2o.stores.models import MenuCategory, MenuItem, MenuOption, MenuOptionGroup, Merchant, Store
from tests.factories import new_city

STORE_AT = (39.9147, 116.4108)
ALWAYS_OPEN = hours.every_day(("00:00", "24:00")).to_json()
_phones = itertools.count(1)


@dataclass(frozen=True)
class Shop:
    city_id: uuid.UUID
    store_id: uuid.UUID
    other_store_id: uuid.UUID
    owner_id: uuid.UUID
    staff_id: uuid.UUID
    other_staff_id: uuid.UUID  # staff of the other store
    customer_id: uuid.UUID
    operator_id: uuid.UUID  # a platform operator of the city


def make_shop(db: Database, slug: str = "menuville") -> Shop:
    with db.session() as s:
        city = new_city(slug)
        s.add(city)
        s.flush()
        merchant = Merchant(city_id=city.id, name="Lanzhou Noodles Ltd")
        s.add(merchant)
        s.flush()
        stores = [
            Store(city_id=city.id, merchant_id=merchant.id, name=name, category="food", lat=STORE_AT[0],
                  lng=STORE_AT[1], h3_r9=h3_cell(*STORE_AT), opening_hours=ALWAYS_OPEN, prep_minutes=12,
                  rating=4.6, address="东城区王府井大街88号")
            for name in ("兰州拉面（王府井店）", "Other Shop")
        ]
        people = [Person(phone_e164=f"+86137{next(_phones):08d}") for _ in range(5)]
        s.add_all([*stores, *people])
        s.flush()
        owner, staff, other_staff, customer, operator = (p.id for p in people)
        accounts.ensure_role(s, owner, Role.MERCHANT_OWNER, city_id=city.id, store_id=stores[0].id)
        accounts.ensure_role(s, staff, Role.MERCHANT_STAFF, city_id=city.id, store_id=stores[0].id)
        accounts.ensure_role(s, other_staff, Role.MERCHANT_STAFF, city_id=city.id, store_id=stores[1].id)
        accounts.ensure_role(s, customer, Role.CUSTOMER)
        accounts.ensure_role(s, operator, Role.PLATFORM_OPERATOR, city_id=city.id)
        return Shop(city.id, stores[0].id, stores[1].id, owner, staff, other_staff, customer, operator)


@pytest.fixture
def shop(db: Database) -> Shop:
    return make_shop(db)


@dataclass(frozen=True)
class Built:
    """The ids of ``build_menu``'s catalogue."""

    mains: uuid.UUID
    breakfast: uuid.UUID
    drinks: uuid.UUID
    noodles: uuid.UUID
    pancake: uuid.UUID
    cola: uuid.UUID
    size: uuid.UUID
    small: uuid.UUID
    large: uuid.UUID
    extras: uuid.UUID
    egg: uuid.UUID
    beef: uuid.UUID


def build_menu(db: Database, store_id: uuid.UUID) -> Built:
    """Mains (noodles: a required size, optional extras), a breakfast category offered 06:30-10:30, drinks."""
    with db.session() as s:
        mains = catalogue.create_category(s, store_id, name="Mains")
        breakfast = catalogue.create_category(s, store_id, name="Breakfast", available_windows=[["06:30", "10:30"]])
        drinks = catalogue.create_category(s, store_id, name="Drinks")
        noodles = catalogue.create_item(s, store_id, category_id=mains.id, name="Beef noodles", price=1800,
                                        image="🍜", description="Hand-pulled")
        pancake = catalogue.create_item(s, store_id, category_id=breakfast.id, name="Jianbing", price=800)
        cola = catalogue.create_item(s, store_id, category_id=drinks.id, name="Cola", price=500)
        size = catalogue.create_option_group(
            s, store_id, noodles.id, name="Size", min_picks=1, max_picks=1,
            options=[{"name": "Small", "price_delta": -300}, {"name": "Large", "price_delta": 400}],
        )
        extras = catalogue.create_option_group(
            s, store_id, noodles.id, name="Extras", min_picks=0, max_picks=2,
            options=[{"name": "Egg", "price_delta": 200}, {"name": "Beef", "price_delta": 800}],
        )
        options = {o.name: o.id for o in s.scalars(select(MenuOption))}
        return Built(mains.id, breakfast.id, drinks.id, noodles.id, pancake.id, cola.id, size.id, options["Small"],
                     options["Large"], extras.id, options["Egg"], options["Beef"])


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the stores and catalogue tables, in id order."""
    out = {}
    with db.sessionmaker() as s:
        for model in (Store, MenuCategory, MenuItem, MenuOptionGroup, MenuOption):
            table = model.__table__
            out[table.name] = [tuple(row) for row in s.execute(select(table).order_by(table.c.id))]
    return out


def bearer(client: TestClient, db: Database, person_id: uuid.UUID) -> dict[str, str]:
    with db.session() as s:
        token, _row = accounts.create_session(s, client.app.state.settings, person_id, method="otp")
    return {"Authorization": f"Bearer {token}"}


def sign_in(client: TestClient, db: Database, person_id: uuid.UUID) -> TestClient:
    with db.session() as s:
        token, _row = accounts.create_session(s, client.app.state.settings, person_id, method="otp")
    client.cookies.set("o2o_session", token)
    return client
