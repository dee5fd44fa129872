"""Order test helpers: a city with a store that never closes, a small menu with options and stock, people with
roles, wallets with money, tokens."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from o2o.accounts import service as accounts
from o2o.accounts.models import Person
from o2o.accounts.permissions import Role
from o2o.config import Settings
from o2o.db import Database
from o2o.kit.geo import h3_cell
from o2o.kit.time import now
from o2o.stores import stock
from o2o.stores.models import MenuCategory, MenuItem, MenuOption, MenuOptionGroup, Merchant, Store
from o2o.wallet import payments
from o2o.wallet.channels import base as ch
from tests.factories import new_city

_phones = itertools.count(5_000)
ALWAYS_OPEN = json.dumps({day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
STORE_AT = (39.9, 116.4)


@dataclass(frozen=True)
class Kitchen:
    city_id: uuid.UUID
    store_id: uuid.UUID
    other_store_id: uuid.UUID
    customer_id: uuid.UUID
    other_customer_id: uuid.UUID
    owner_id: uuid.UUID
    staff_id: uuid.UUID
    courier_id: uuid.UUID
    noodles: uuid.UUID  # 1800 fen, untracked stock, a required size group and an optional spice group
    size_large: uuid.UUID  # +300
    size_small: uuid.UUID  # +0
    spice_hot: uuid.UUID  # +0
    cola: uuid.UUID  # 500 fen, 20 in stock
    dumplings: uuid.UUID  # 2400 fen, 5 in stock


def make_kitchen(db: Database, slug: str = "noodleville", commission_bp: int = 1000) -> Kitchen:
    with db.session() as s:
        city = new_city(slug)
        s.add(city)
        s.flush()
        merchant = Merchant(city_id=city.id, name="Lanzhou Noodles Ltd", commission_rate_bp=commission_bp)
        s.add(merchant)
        s.flush()
        stores = [
            Store(
                city_id=city.id, merchant_id=merchant.id, name=name, category="food", lat=STORE_AT[0],
                lng=STORE_AT[1], h3_r9=h3_cell(*STORE_AT), opening_hours=ALWAYS_OPEN, prep_minutes=12,
                delivery_radius_m=3000, min_order=1000, packaging_fee=100, delivery_base_fee=300,
                delivery_base_m=1000, delivery_fee_per_km=100,
            )
            for name in ("Lanzhou Noodles", "Other Shop")
        ]
        people = [Person(phone_e164=f"+86139{next(_phones):08d}") for _ in range(6)]
        s.add_all([*stores, *people])
        s.flush()
        store = stores[0]
        moment = now()
        mains = MenuCategory(city_id=city.id, store_id=store.id, name="Mains", position=0)
        drinks = MenuCategory(city_id=city.id, store_id=store.id, name="Drinks", position=1)
        s.add_all([mains, drinks])
        s.flush()
        noodles = MenuItem(city_id=city.id, store_id=store.id, category_id=mains.id, name="Beef noodles", price=1800,
                           updated_at=moment)
        dumplings = MenuItem(city_id=city.id, store_id=store.id, category_id=mains.id, name="Dumplings", price=2400,
                             updated_at=moment)
        cola = MenuItem(city_id=city.id, store_id=store.id, category_id=drinks.id, name="Cola", price=500,
                        updated_at=moment)
        s.add_all([noodles, dumplings, cola])
        s.flush()
        size = MenuOptionGroup(city_id=city.id, item_id=noodles.id, name="Size", min_picks=1, max_picks=1)
        spice = MenuOptionGroup(city_id=city.id, item_id=noodles.id, name="Spice", min_picks=0, max_picks=1,
                                position=1)
        s.add_all([size, spice])
        s.flush()
        large = MenuOption(city_id=city.id, group_id=size.id, name="Large", price_delta=300)
        small = MenuOption(city_id=city.id, group_id=size.id, name="Small", price_delta=0, position=1)
        hot = MenuOption(city_id=city.id, group_id=spice.id, name="Hot", price_delta=0)
        s.add_all([large, small, hot])
        s.flush()
        for item, units in ((cola, 20), (dumplings, 5)):
            stock.set_on_hand(s, city_id=city.id, store_id=store.id, item_id=item.id, on_hand=units)
        owner, staff, courier = people[2].id, people[3].id, people[4].id
        for person in (people[0], people[1], people[5]):
            accounts.ensure_role(s, person.id, Role.CUSTOMER)
        accounts.ensure_role(s, owner, Role.MERCHANT_OWNER, city_id=city.id, store_id=store.id)
        accounts.ensure_role(s, staff, Role.MERCHANT_STAFF, city_id=city.id, store_id=store.id)
        accounts.ensure_role(s, courier, Role.COURIER, city_id=city.id)
        return Kitchen(
            city_id=city.id, store_id=store.id, other_store_id=stores[1].id, customer_id=people[0].id,
            other_customer_id=people[1].id, owner_id=owner, staff_id=staff, courier_id=courier,
            noodles=noodles.id, size_large=large.id, size_small=small.id, spice_hot=hot.id, cola=cola.id,
            dumplings=dumplings.id,
        )


@pytest.fixture
def kitchen(db: Database) -> Kitchen:
    return make_kitchen(db)


def fund(db: Database, settings: Settings, city_id: uuid.UUID, person_id: uuid.UUID, amount: int) -> None:
    """Credit a wallet the way a verified channel callback does."""
    with db.session() as s:
        intent = payments.create_top_up(s, payer_id=person_id, city_id=city_id, currency="CNY", amount=amount,
                                        settings=settings)
        intent = payments.start_channel(s, intent.id, person_id, "alipay-sim")
        trade_no = intent.trade_no
    with db.session() as s:
        payments.apply_channel_trade(
            s, ch.ChannelTrade(ch.ChannelName.ALIPAY_SIM, trade_no, ch.TradeStatus.PAID, amount, f"T-{trade_no}")
        )


def token_for(client: TestClient, db: Database, person_id: uuid.UUID) -> dict[str, str]:
    with db.session() as s:
        token, _row = accounts.create_session(s, client.app.state.settings, person_id, method="otp")
    return {"Authorization": f"Bearer {token}"}


def wallet_available(db: Database, person_id: uuid.UUID) -> int:
    with db.sessionmaker() as s:
        return payments.wallet_balance(s, person_id, "CNY").available


def on_hand(db: Database, item_id: uuid.UUID) -> int | None:
    with db.sessionmaker() as s:
        level = stock.levels(s, [item_id]).get(item_id)
        return None if level is None else level.on_hand


def available(db: Database, item_id: uuid.UUID) -> int | None:
    with db.sessionmaker() as s:
        level = stock.levels(s, [item_id]).get(item_id)
        return None if level is None else level.available
