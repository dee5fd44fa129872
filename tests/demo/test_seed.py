"""The demo city: deterministic, realistic, and replaceable without touching other cities."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from typing import Any

import phonenumbers
import pytest
from shapely.geometry import Point
from sqlalchemy import func, insert, select

from o2o.accounts.models import Person, RoleGrant
from o2o.cities.models import City, District
from o2o.config import Settings
from o2o.db import Database
from o2o.deals.models import Deal, DealStore, Voucher
from o2o.demo import service
from o2o.demo.generator import DEMO_ACCOUNTS, SIZES, STEPS, DemoContext, DemoStep, run_steps
from o2o.demo.geography import BEIJING
from o2o.kit.geo import h3_cell, polygon_from_geojson
from o2o.kit.ids import uuid7_time_ms
from o2o.orders.models import Order, OrderEventRecord, OrderLine
from o2o.stores import hours
from o2o.stores.models import (
    CATEGORIES,
    MenuCategory,
    MenuItem,
    MenuOption,
    MenuOptionGroup,
    Merchant,
    StockLevel,
    Store,
)
from tests.factories import new_city

CITY_TABLES = (
    City, District, Merchant, Store, Person, RoleGrant, MenuCategory, MenuItem, MenuOptionGroup, MenuOption,
    StockLevel, Order, OrderLine, OrderEventRecord, Deal, DealStore, Voucher,
)
ROLES = {
    "customer",
    "merchant_owner",
    "merchant_staff",
    "courier",
    "fleet_operator",
    "home_agent",
    "platform_operator",
}


def canonical_dump(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the demo's tables in id order, in a form that compares across runs."""

    def plain(value: Any) -> Any:
        if isinstance(value, uuid.UUID):
            return value.hex
        if isinstance(value, dt.datetime):
            return value.isoformat()
        return value

    out = {}
    with database.sessionmaker() as s:
        for model in CITY_TABLES:
            table = model.__table__
            rows = s.execute(select(table).order_by(*table.primary_key.columns)).all()
            out[table.name] = [tuple(plain(v) for v in row) for row in rows]
    return out


def seed(database: Database, **kwargs: Any) -> service.SeedSummary:
    with database.session() as s:
        return service.seed(s, **{"size": "small", "seed": 42, **kwargs})


def test_same_seed_same_city_different_seed_different_city(db: Database) -> None:
    first = seed(db)
    dump1 = canonical_dump(db)
    again = seed(db, replace=True)
    assert again.replaced and again.city_id == first.city_id
    assert again.deleted == {name: len(rows) for name, rows in dump1.items()}
    dump2 = canonical_dump(db)
    assert dump2 == dump1  # same rows, same ids, same timestamps
    other = seed(db, seed=7, replace=True)
    dump3 = canonical_dump(db)
    assert other.city_id != first.city_id
    assert {r[0] for r in dump3["stores"]}.isdisjoint(r[0] for r in dump1["stores"])
    assert [r[4] for r in dump3["stores"]] != [r[4] for r in dump1["stores"]]  # names differ too


def test_small_city_counts_and_ids(db: Database) -> None:
    summary = seed(db)
    size = SIZES["small"]
    assert summary.counts["cities"] == 1
    assert summary.counts["districts"] == len(BEIJING.districts) == 6
    assert summary.counts["stores"] == size.stores
    assert summary.counts["people"] == size.people
    assert 1 <= summary.counts["merchants"] <= size.stores
    with db.sessionmaker() as s:
        for model in CITY_TABLES:
            assert s.scalar(select(func.count()).select_from(model)) == summary.counts[model.__tablename__]
        # Ids are UUIDv7 from the fixed demo epoch, time-ordered, and created_at is the id's time.
        stores = s.scalars(select(Store).order_by(Store.id)).all()
        assert all(st.id.version == 7 for st in stores)
        assert all(
            st.created_at == dt.datetime.fromtimestamp(uuid7_time_ms(st.id) / 1000, dt.UTC) for st in stores
        )


def test_sizes() -> None:
    assert SIZES["small"].stores < SIZES["medium"].stores < SIZES["large"].stores
    assert SIZES["large"].stores >= 1_000 and SIZES["large"].people >= 100_000


def test_every_store_lies_in_its_district_inside_the_city(db: Database) -> None:
    seed(db)
    with db.sessionmaker() as s:
        districts = {d.id: d for d in s.scalars(select(District))}
        polygons = {i: polygon_from_geojson(json.loads(d.boundary_geojson)) for i, d in districts.items()}
        stores = s.scalars(select(Store)).all()
    boundary = BEIJING.boundary_polygon
    for store in stores:
        point = Point(store.lng, store.lat)
        assert polygons[store.district_id].covers(point), store.name
        assert boundary.covers(point)
        assert not any(zone.covers(store.lat, store.lng) for zone in BEIJING.excluded)
        assert store.h3_r9 == h3_cell(store.lat, store.lng)
        assert store.category in CATEGORIES
        hours.parse_hours(store.opening_hours)  # valid
        assert 3.0 <= store.rating <= 5.0 and store.prep_minutes > 0
        assert phonenumbers.is_valid_number(phonenumbers.parse(store.phone))
    # Districts tile the city: their areas add up to the boundary's, and each holds its seat.
    assert sum(p.area for p in polygons.values()) == pytest.approx(boundary.area, rel=1e-6)
    for d in districts.values():
        assert polygons[d.id].covers(Point(d.center_lng, d.center_lat))


def test_people_roles_and_merchants(db: Database) -> None:
    seed(db)
    with db.sessionmaker() as s:
        people = s.scalars(select(Person)).all()
        grants = s.scalars(select(RoleGrant)).all()
        merchants = s.scalars(select(Merchant)).all()
        stores = s.scalars(select(Store)).all()
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(p.phone_e164)) for p in people)
    assert all(p.phone_e164.startswith("+861") and len(p.phone_e164) == 14 for p in people)
    assert len({p.phone_e164 for p in people}) == len(people)
    assert {p.locale for p in people} == {"zh-CN", "en"}
    assert all(p.display_name for p in people)
    by_role = Counter(g.role for g in grants)
    assert set(by_role) == ROLES
    assert by_role["customer"] == len(people)
    assert by_role["platform_operator"] == 1
    # The documented demo accounts hold their roles.
    phone_of = {p.id: p.phone_e164 for p in people}
    roles_of: dict[str, set[str]] = {}
    for g in grants:
        roles_of.setdefault(phone_of[g.person_id], set()).add(g.role)
    for phone, role, _name in DEMO_ACCOUNTS:
        assert role in roles_of[phone]
    operator = next(g for g in grants if g.role == "platform_operator")
    assert phone_of[operator.person_id] == "+8613800000000"
    assert operator.city_id is None and operator.store_id is None
    # Every merchant has an owner, who holds merchant_owner for each of its stores, and 1..N stores.
    store_ids_of = Counter(st.merchant_id for st in stores)
    owner_grants = {(g.person_id, g.store_id) for g in grants if g.role == "merchant_owner"}
    for m in merchants:
        assert store_ids_of[m.id] >= 1 and m.owner_person_id is not None
        for st in stores:
            if st.merchant_id == m.id:
                assert (m.owner_person_id, st.id) in owner_grants
    assert max(store_ids_of.values()) > 1  # some chains
    staffed = {g.store_id for g in grants if g.role == "merchant_staff"}
    assert staffed == {st.id for st in stores}


def test_seeding_an_existing_city_is_refused_and_changes_nothing(db: Database) -> None:
    seed(db)
    before = canonical_dump(db)
    with pytest.raises(service.CityExists):
        seed(db, seed=9)
    assert canonical_dump(db) == before


def test_replace_touches_no_other_city(db: Database) -> None:
    seed(db)
    with db.session() as s:
        other = new_city("elsewhere", center=(31.23, 121.47))
        s.add(other)
        s.flush()
        person = Person(phone_e164="+8613912345678", display_name="Other", locale="en", home_city_id=other.id)
        s.add(person)
        s.flush()
        merchant = Merchant(
            city_id=other.id, name="Other Co", owner_person_id=person.id, commission_rate_bp=1000
        )
        s.add(merchant)
        s.flush()
        s.execute(
            insert(Store.__table__),
            [
                {
                    "city_id": other.id,
                    "merchant_id": merchant.id,
                    "name": "Other store",
                    "category": "food",
                    "lat": 31.23,
                    "lng": 121.47,
                    "h3_r9": h3_cell(31.23, 121.47),
                }
            ],
        )
    seed(db, replace=True)
    with db.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(City)) == 2
        assert s.scalar(select(func.count()).select_from(Store).where(Store.city_id == other.id)) == 1
        assert s.scalar(select(Person.id).where(Person.phone_e164 == "+8613912345678")) == person.id
        assert s.scalar(select(func.count()).select_from(Store)) == SIZES["small"].stores + 1


def test_steps_are_extensible_and_each_step_has_its_own_random_stream(db: Database) -> None:
    seen: list[tuple[str, int]] = []

    def extra_step(ctx: DemoContext) -> None:
        seen.append((ctx.city["slug"], len(ctx.stores)))
        ctx.extra["extra"] = ctx.rng.random()

    with db.session() as s:
        ctx = DemoContext(session=s, spec=BEIJING, size=SIZES["small"], seed=42)
        run_steps(ctx, [*STEPS, DemoStep("extra", extra_step)])
        first_store_ids = [st["id"] for st in ctx.stores]
    assert seen == [("beijing", SIZES["small"].stores)]
    assert ctx.extra["extra"] == ctx.rng_for("extra").random()
    _wipe_and_seed = seed(db, replace=True)  # the built-in steps alone make the same stores
    with db.sessionmaker() as s:
        assert s.scalars(select(Store.id).order_by(Store.id)).all() == first_store_ids
    assert _wipe_and_seed.counts["stores"] == len(first_store_ids)


def test_ensure_demo_city_seeds_only_an_empty_database(db: Database, tmp_path) -> None:
    settings = Settings(env="test", database_url=db.url, var_dir=tmp_path, demo_size="small", demo_seed=5)
    summary = service.ensure_demo_city(settings)
    assert summary is not None and summary.seed == 5 and summary.counts["stores"] == SIZES["small"].stores
    assert service.ensure_demo_city(settings) is None
    with db.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(City)) == 1
