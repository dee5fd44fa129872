"""The demo city generator: an ordered list of steps that each add one layer of the city.

A step is a name and a function of a ``DemoContext``. The context holds what earlier steps made (the city,
districts, merchants, stores, people) as plain row dicts, and gives each step:

- ``ctx.rng``: a ``random.Random`` seeded from (city, seed, step name), so adding a step never changes the
  rows that the steps before it make;
- ``ctx.new_id()``: UUIDv7-shaped ids from a fixed epoch and a seeded RNG: the same seed gives the same ids,
  and rows are still time-ordered (``created_at`` is the id's time);
- ``ctx.insert(table, rows)``: Core executemany in large batches (no ORM object per row), with progress;
- ``ctx.take_people(n)``: people from the pool of those who have no job yet (owners, staff, couriers ...).

Later work appends its own steps (catalogues, couriers' shifts, bikes, order history)::

    from o2o.demo.generator import STEPS, DemoStep
    STEPS.append(DemoStep("catalogues", make_catalogues, estimate=lambda ctx: len(ctx.stores)))
"""

from __future__ import annotations

import datetime as dt
import math
import random
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from o2o.demo import names
from o2o.demo.geography import CitySpec, geojson_of
from o2o.kit.geo import PolygonIndex, h3_cell, haversine_m
from o2o.kit.ids import make_uuid7
from o2o.stores import hours as store_hours
from o2o.stores.models import CATEGORIES

# Demo ids start here (2025-01-01T00:00:00Z) and step one millisecond per row.
DEMO_EPOCH_MS = 1_735_689_600_000
BATCH = 5_000
METRES_PER_DEGREE = 6_371_008.8 * math.pi / 180

# People with known phone numbers, to sign in as each role (sign-in codes appear in the dev SMS outbox).
DEMO_ACCOUNTS: tuple[tuple[str, str, str], ...] = (
    ("+8613800000000", "platform_operator", "演示运营 Demo Operator"),
    ("+8613800000001", "merchant_owner", "演示商家 Demo Merchant"),
    ("+8613800000002", "merchant_staff", "演示店员 Demo Staff"),
    ("+8613800000003", "courier", "演示骑手 Demo Courier"),
    ("+8613800000004", "fleet_operator", "演示车队 Demo Fleet"),
    ("+8613800000005", "home_agent", "演示经纪人 Demo Agent"),
    ("+8613800000006", "customer", "演示顾客 Demo Customer"),
)
DEMO_PHONE_BLOCK = "+86138000000"  # +86 138 0000 00xx is kept for these; generated numbers avoid it
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "134",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "153",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "173",
    "175",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "184",
    "185",
    "186",
    "187",
    "188",
    "189",
    "198",
    "199",
)


@dataclass(frozen=True)
class DemoSize:
    name: str
    stores: int
    people: int


SIZES: dict[str, DemoSize] = {
    "small": DemoSize("small", stores=60, people=400),
    "medium": DemoSize("medium", stores=400, people=10_000),
    "large": DemoSize("large", stores=1_500, people=100_000),
}


class Progress(Protocol):
    def start(self, step: str, total: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def finish(self) -> None: ...


class NullProgress:
    def start(self, step: str, total: int) -> None:
        pass

    def advance(self, n: int) -> None:
        pass

    def finish(self) -> None:
        pass


@dataclass
class DemoContext:
    session: Session
    spec: CitySpec
    size: DemoSize
    seed: int
    progress: Progress = field(default_factory=NullProgress)
    rng: random.Random = field(default_factory=random.Random)
    city: dict[str, Any] = field(default_factory=dict)
    districts: list[dict[str, Any]] = field(default_factory=list)
    district_index: list[tuple[dict[str, Any], PolygonIndex]] = field(default_factory=list)
    merchants: list[dict[str, Any]] = field(default_factory=list)
    stores: list[dict[str, Any]] = field(default_factory=list)
    people: list[dict[str, Any]] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    pool: list[int] = field(default_factory=list)  # indexes into ``people`` of those without a job yet
    extra: dict[str, Any] = field(default_factory=dict)  # for later steps to share what they made

    def __post_init__(self) -> None:
        self._id_rng = random.Random(f"{self.spec.slug}:{self.seed}:ids")
        self._id_ms = DEMO_EPOCH_MS

    @property
    def city_id(self) -> uuid.UUID:
        return self.city["id"]

    def rng_for(self, name: str) -> random.Random:
        return random.Random(f"{self.spec.slug}:{self.seed}:{name}")

    def new_id(self) -> uuid.UUID:
        self._id_ms += 1
        return make_uuid7(self._id_ms, self._id_rng.getrandbits(12), self._id_rng.getrandbits(62))

    @staticmethod
    def created_at(row_id: uuid.UUID) -> dt.datetime:
        return dt.datetime.fromtimestamp((row_id.int >> 80) / 1000, dt.UTC)

    def insert(self, table: Table, rows: Sequence[dict[str, Any]], *, advance: bool = True) -> None:
        for start in range(0, len(rows), BATCH):
            chunk = rows[start : start + BATCH]
            self.session.execute(insert(table), list(chunk))
            if advance:
                self.progress.advance(len(chunk))
        self.counts[table.name] = self.counts.get(table.name, 0) + len(rows)

    def take_people(self, n: int) -> list[dict[str, Any]]:
        taken = self.pool[:n]
        del self.pool[:n]
        return [self.people[i] for i in taken]

    def district_at(self, lat: float, lng: float) -> dict[str, Any] | None:
        for district, index in self.district_index:
            if index.covers(lat, lng):
                return district
        return None


@dataclass(frozen=True)
class DemoStep:
    name: str
    run: Callable[[DemoContext], None]
    estimate: Callable[[DemoContext], int] = lambda ctx: 1
    description: str = ""


# ------------------------------------------------------------------------------------------------------------
# Built-in steps


def _tables() -> dict[str, Table]:
    from o2o.models import metadata

    return dict(metadata.tables)


def step_city(ctx: DemoContext) -> None:
    tables = _tables()
    spec = ctx.spec
    city_id = ctx.new_id()
    ctx.city = {
        "id": city_id,
        "slug": spec.slug,
        "name": spec.name,
        "country_code": spec.country_code,
        "timezone": spec.timezone,
        "currency": spec.currency,
        "locale": spec.locale,
        "center_lat": spec.center[0],
        "center_lng": spec.center[1],
        "created_at": ctx.created_at(city_id),
    }
    ctx.insert(tables["cities"], [ctx.city], advance=False)
    for district_spec, geometry in spec.district_geometries:
        district_id = ctx.new_id()
        row = {
            "id": district_id,
            "city_id": city_id,
            "slug": district_spec.slug,
            "name": district_spec.name,
            "boundary_geojson": geojson_of(geometry),
            "center_lat": district_spec.seat[0],
            "center_lng": district_spec.seat[1],
            "created_at": ctx.created_at(district_id),
        }
        ctx.districts.append(row)
        ctx.district_index.append((row, PolygonIndex(geometry)))
    ctx.insert(tables["districts"], ctx.districts, advance=False)
    ctx.extra["district_specs"] = {d.slug: d for d, _ in spec.district_geometries}
    ctx.progress.advance(1)


def _mobile(rng: random.Random, used: set[str]) -> str:
    while True:
        number = "+86" + rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"
        if number not in used and not number.startswith(DEMO_PHONE_BLOCK):
            used.add(number)
            return number


def step_people(ctx: DemoContext) -> None:
    table = _tables().get("people")
    if table is None:  # the accounts tables are not there (yet)
        return
    rng = ctx.rng
    used: set[str] = set()
    rows = ctx.people
    for phone, _role, display in DEMO_ACCOUNTS:
        person_id = ctx.new_id()
        used.add(phone)
        rows.append(
            {
                "id": person_id,
                "phone_e164": phone,
                "display_name": display,
                "locale": "en",
                "home_city_id": ctx.city_id,
                "created_at": ctx.created_at(person_id),
            }
        )
    for _ in range(max(0, ctx.size.people - len(DEMO_ACCOUNTS))):
        person_id = ctx.new_id()
        zh, pinyin = names.person_name(rng)
        english = rng.random() < 0.12
        rows.append(
            {
                "id": person_id,
                "phone_e164": _mobile(rng, used),
                "display_name": pinyin if english else zh,
                "locale": "en" if english else "zh-CN",
                "home_city_id": ctx.city_id,
                "created_at": ctx.created_at(person_id),
            }
        )
    pool = list(range(len(DEMO_ACCOUNTS), len(rows)))
    rng.shuffle(pool)
    ctx.pool = pool
    ctx.insert(table, rows)


# Opening hours per category: (weight, hours) choices, as canonical JSON text shared by many stores.
def _h(**days: list[tuple[str, str]]) -> str:
    return store_hours.build(**days).to_json()


def _daily(*pairs: tuple[str, str]) -> str:
    return store_hours.every_day(*pairs).to_json()


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
HOURS: dict[str, tuple[tuple[float, str], ...]] = {
    "breakfast": (
        (0.6, _daily(("06:00", "10:00"))),
        (0.25, _daily(("05:30", "10:30"))),
        (0.15, _daily(("06:30", "13:00"))),
    ),
    "food": (
        (0.55, _daily(("10:00", "14:00"), ("17:00", "22:00"))),
        (0.25, _daily(("10:30", "21:30"))),
        (0.12, _daily(("11:00", "02:00"))),  # skewers and barbecue, late into the night
        (
            0.08,
            _h(
                **{
                    d: [("11:00", "14:00"), ("17:00", "21:30")]
                    for d in ("tue", "wed", "thu", "fri", "sat", "sun")
                }
            ),
        ),
    ),
    "convenience": ((0.7, _daily(("00:00", "24:00"))), (0.3, _daily(("07:00", "23:00")))),
    "grocery": ((0.6, _daily(("07:00", "21:00"))), (0.4, _daily(("06:30", "22:00")))),
    "fruit": ((1.0, _daily(("08:00", "22:00"))),),
    "pharmacy": ((0.8, _daily(("08:00", "22:00"))), (0.2, _daily(("00:00", "24:00")))),
    "flowers": ((1.0, _daily(("09:00", "20:00"))),),
    "coffee": (
        (
            0.7,
            _h(
                **{d: [("07:30", "20:00")] for d in _WEEKDAYS},
                sat=[("09:00", "21:00")],
                sun=[("09:00", "21:00")],
            ),
        ),
        (0.3, _daily(("08:00", "22:00"))),
    ),
    "tea": ((1.0, _daily(("10:00", "22:00"))),),
    "bakery": ((0.7, _daily(("07:00", "21:00"))), (0.3, _daily(("08:00", "20:00")))),
    "bar": (
        (
            0.6,
            _h(
                tue=[("18:00", "01:00")],
                wed=[("18:00", "01:00")],
                thu=[("18:00", "01:00")],
                fri=[("18:00", "03:00")],
                sat=[("18:00", "03:00")],
                sun=[("18:00", "01:00")],
            ),
        ),
        (0.4, _daily(("19:00", "02:00"))),
    ),
}
CATEGORY_WEIGHTS: dict[str, float] = {
    "food": 34,
    "breakfast": 7,
    "convenience": 12,
    "grocery": 7,
    "fruit": 5,
    "pharmacy": 6,
    "flowers": 3,
    "coffee": 9,
    "tea": 8,
    "bakery": 5,
    "bar": 4,
}
COMMISSION_BP: dict[str, tuple[int, int]] = {
    "food": (1800, 2300),
    "breakfast": (1500, 2000),
    "convenience": (800, 1200),
    "grocery": (800, 1200),
    "fruit": (1000, 1500),
    "pharmacy": (600, 1000),
    "flowers": (1200, 1800),
    "coffee": (1500, 2000),
    "tea": (1600, 2100),
    "bakery": (1300, 1800),
    "bar": (1500, 2000),
}
PREP_MINUTES: dict[str, tuple[int, int]] = {
    "food": (10, 25),
    "breakfast": (4, 10),
    "convenience": (3, 6),
    "grocery": (5, 12),
    "fruit": (4, 8),
    "pharmacy": (3, 8),
    "flowers": (15, 30),
    "coffee": (4, 8),
    "tea": (5, 12),
    "bakery": (4, 10),
    "bar": (5, 10),
}
assert set(HOURS) == set(CATEGORY_WEIGHTS) == set(CATEGORIES)


def _pick(rng: random.Random, options: tuple[tuple[float, str], ...]) -> str:
    return rng.choices([o for _, o in options], [w for w, _ in options])[0]


def _chain_size(rng: random.Random) -> int:
    r = rng.random()
    return 1 if r < 0.72 else rng.randint(2, 4) if r < 0.93 else rng.randint(5, 12)


def _sample_point(ctx: DemoContext, rng: random.Random, category: str) -> tuple[float, float, Any]:
    spec = ctx.spec
    bias = spec.category_hub_bias.get(category, {})
    weights = [h.weight * bias.get(h.name_en, 1.0) for h in spec.hubs]
    boundary = ctx.extra["boundary_index"]
    for _ in range(10_000):
        if rng.random() < 0.62:
            hub = rng.choices(spec.hubs, weights)[0]
            centre, sigma = hub.at, hub.sigma_m
        else:
            hub, centre, sigma = None, spec.center, spec.spread_m
        lat = centre[0] + rng.gauss(0, sigma) / METRES_PER_DEGREE
        lng = centre[1] + rng.gauss(0, sigma) / (METRES_PER_DEGREE * math.cos(math.radians(centre[0])))
        lat, lng = round(lat, 6), round(lng, 6)
        if not boundary.covers(lat, lng) or any(zone.covers(lat, lng) for zone in spec.excluded):
            continue
        return lat, lng, hub
    raise RuntimeError("could not place a store inside the city")  # pragma: no cover


def _landline(rng: random.Random, area_code: str) -> str:
    return f"+86{area_code}{rng.choice('5678')}{rng.randrange(10_000_000):07d}"


def step_stores(ctx: DemoContext) -> None:
    tables = _tables()
    rng = ctx.rng
    spec = ctx.spec
    ctx.extra["boundary_index"] = PolygonIndex(spec.boundary_polygon)
    district_specs = ctx.extra["district_specs"]
    categories = list(CATEGORY_WEIGHTS)
    category_weights = [CATEGORY_WEIGHTS[c] for c in categories]
    used_brands: set[str] = set()
    remaining = ctx.size.stores
    # The demo merchant owns the first merchant.
    demo_owner = next((p for p in ctx.people if p["phone_e164"] == DEMO_ACCOUNTS[1][0]), None)
    owners = [demo_owner] if demo_owner else []
    # Every trade appears at least once, even in the smallest city; then they come by their weights.
    first_round = list(categories)
    rng.shuffle(first_round)
    max_chain = max(2, ctx.size.stores // 20)  # no chain dominates a small city
    while remaining > 0:
        category = first_round.pop() if first_round else rng.choices(categories, category_weights)[0]
        n = min(_chain_size(rng), remaining, max_chain)
        remaining -= n
        brand = names.brand_name(rng, category)
        for _ in range(8):
            if brand not in used_brands:
                break
            brand = names.brand_name(rng, category)
        used_brands.add(brand)
        merchant_id = ctx.new_id()
        owner = owners.pop() if owners else next(iter(ctx.take_people(1)), None)
        low, high = COMMISSION_BP[category]
        merchant = {
            "id": merchant_id,
            "city_id": ctx.city_id,
            "name": f"北京{brand}{names.COMPANY_SUFFIX[category]}",
            "owner_person_id": owner["id"] if owner else None,
            "commission_rate_bp": rng.randrange(low, high + 1, 50),
            "created_at": ctx.created_at(merchant_id),
        }
        ctx.merchants.append(merchant)
        branch_names: set[str] = set()
        for _ in range(n):
            lat, lng, hub = _sample_point(ctx, rng, category)
            district = ctx.district_at(lat, lng)
            if district is None:  # a hair's breadth gap between two rounded borders: nudge towards the centre
                lat, lng = spec.center
                district = ctx.district_at(lat, lng)
            assert district is not None
            dspec = district_specs[district["slug"]]
            in_hub = hub is not None and haversine_m((lat, lng), hub.at) < 2_000
            street = hub.street if in_hub and rng.random() < 0.6 else rng.choice(dspec.streets)
            name = brand
            if n > 1:
                area = hub.name_zh if in_hub else street
                for ordinal in names.ORDINALS:
                    name = f"{brand}（{area}{ordinal}店）"
                    if name not in branch_names:
                        break
                branch_names.add(name)
            store_id = ctx.new_id()
            p_low, p_high = PREP_MINUTES[category]
            ctx.stores.append(
                {
                    "id": store_id,
                    "city_id": ctx.city_id,
                    "merchant_id": merchant_id,
                    "district_id": district["id"],
                    "name": name,
                    "category": category,
                    "lat": lat,
                    "lng": lng,
                    "h3_r9": h3_cell(lat, lng, 9),
                    "address": f"{dspec.name_zh}{street}{rng.randint(1, 299)}号",
                    "phone": _landline(rng, spec.area_code),
                    "opening_hours": _pick(rng, HOURS[category]),
                    "prep_minutes": rng.randint(p_low, p_high),
                    "rating": round(min(5.0, max(3.0, rng.gauss(4.5, 0.3))), 1),
                    "created_at": ctx.created_at(store_id),
                }
            )
    ctx.insert(tables["merchants"], ctx.merchants, advance=False)
    ctx.insert(tables["stores"], ctx.stores)


def _grant(
    ctx: DemoContext, person: dict[str, Any], role: str, city: bool, store_id: uuid.UUID | None = None
) -> None:
    scope_key = ctx.extra["scope_key"]
    grant_id = ctx.new_id()
    city_id = ctx.city_id if city or store_id is not None else None
    ctx.grants.append(
        {
            "id": grant_id,
            "person_id": person["id"],
            "role": role,
            "city_id": city_id,
            "store_id": store_id,
            "scope_key": scope_key(city_id, store_id),
            "created_at": ctx.created_at(grant_id),
        }
    )


def step_roles(ctx: DemoContext) -> None:
    table = _tables().get("role_grants")
    if table is None or not ctx.people:
        return
    from o2o.accounts.models import scope_key

    ctx.extra["scope_key"] = scope_key
    rng = ctx.rng
    size = ctx.size.people
    demo = {role: next(p for p in ctx.people if p["phone_e164"] == phone) for phone, role, _ in DEMO_ACCOUNTS}
    # Everyone can buy: the customer role is platform-wide.
    for person in ctx.people:
        _grant(ctx, person, "customer", city=False)
    _grant(ctx, demo["platform_operator"], "platform_operator", city=False)
    # Owners manage each of their merchant's stores; staff work in one store.
    by_id = {p["id"]: p for p in ctx.people}
    stores_of: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for store in ctx.stores:
        stores_of.setdefault(store["merchant_id"], []).append(store)
    for merchant in ctx.merchants:
        owner = by_id.get(merchant["owner_person_id"])
        if owner is not None:
            for store in stores_of.get(merchant["id"], []):
                _grant(ctx, owner, "merchant_owner", city=True, store_id=store["id"])
    for index, store in enumerate(ctx.stores):
        staff = ctx.take_people(rng.randint(1, 3 if len(stores_of[store["merchant_id"]]) > 1 else 2))
        if index == 0:
            staff.insert(0, demo["merchant_staff"])
        for person in staff:
            _grant(ctx, person, "merchant_staff", city=True, store_id=store["id"])
    for role, share, minimum in (
        ("courier", 0.02, 5),
        ("fleet_operator", 1 / 20_000, 1),
        ("home_agent", 0.005, 2),
    ):
        people = [demo[role], *ctx.take_people(max(minimum, round(size * share)) - 1)]
        for person in people:
            _grant(ctx, person, role, city=True)
    ctx.insert(table, ctx.grants)


STEPS: list[DemoStep] = [
    DemoStep("city", step_city, description="City and districts"),
    DemoStep("people", step_people, estimate=lambda ctx: ctx.size.people, description="People"),
    DemoStep("stores", step_stores, estimate=lambda ctx: ctx.size.stores, description="Merchants and stores"),
    DemoStep(
        "roles",
        step_roles,
        estimate=lambda ctx: int(ctx.size.people * 1.03) + 3 * ctx.size.stores,
        description="Roles",
    ),
]


def run_steps(ctx: DemoContext, steps: Sequence[DemoStep] | None = None) -> None:
    for step in steps if steps is not None else STEPS:
        ctx.rng = ctx.rng_for(step.name)
        ctx.progress.start(step.description or step.name, max(1, step.estimate(ctx)))
        step.run(ctx)
        ctx.progress.finish()


def summary_counts(ctx: DemoContext) -> dict[str, int]:
    return dict(sorted(ctx.counts.items()))
