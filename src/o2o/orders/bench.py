"""``o2o bench checkout``: paid checkouts per second end to end over HTTP, next to ``GET /healthz`` in the same run,
and a flash sale of one hot item that must never oversell.

What one run does:

1. creates a fresh database (PostgreSQL: a new database on the server at ``O2O_BENCH_POSTGRES_URL``, dropped at
   the end; SQLite: a temporary file) and migrates it;
2. seeds a city with ``stores`` stores (or ``cities`` cities sharing them out), each store with a menu (items
   with a required size and optional extras) whose stock is tracked with far more units than any run sells;
   ``customers`` people with the customer role, a bearer token each (``accounts.service.create_session``) and a
   wallet funded by a real top-up applied as a verified channel callback would
   (``wallet.payments.apply_channel_trade``); and, in a city of its own, a flash-sale store with one hot item of
   exactly ``hot_units`` units;
3. starts ``o2o serve --workers N`` on a free loopback port against that database (in-process worker on, demo
   seeding off) and waits for ``/readyz``;
4. **healthz**: ``clients`` keep-alive connections loop ``GET /healthz`` for ``seconds``: the framework, server
   and machine baseline, and the proof that the load generator can drive far more than the checkouts need;
5. **checkout**: the same number of connections each loop ``POST /api/orders`` with ``pay_with: wallet`` and an
   ``Idempotency-Key``, as a random customer, for a random store, 1 to 3 random lines with their options, as a
   delivery to a random address inside the store's area or as takeout. A 201 is a paid order; anything else is
   counted by status and problem code;
6. **hot item**: ``hot_clients`` connections buy the hot item (one unit each time, each connection its own
   customer) until they are told ``out_of_stock``. Then the database is checked: exactly ``hot_units`` sold,
   stock 0 with nothing held, every sold order paid, and the flash-sale city's escrow holding exactly the money
   of those orders (one payment transfer per paid order, for its total). Any violation is an oversell (or a lost
   sale): the command prints it and exits with code 1.

Where the time goes, per phase: the CPU milliseconds per request of the server's processes, of the PostgreSQL
backends serving the bench's database and of the load generator (Linux ``/proc``), and on PostgreSQL what the
busy backends were doing, sampled from ``pg_stat_activity`` (running, waiting for a lock, idle in a transaction
while the application works between two statements).

The load generator is a small asyncio HTTP/1.1 client (keep-alive, one coroutine per connection, no third-party
client library) so that it costs the shared cores as little as possible; its ``/healthz`` rate is reported
beside the checkout rate. The server processes, the database server and the load generator share the machine's
cores: the figures are those of the whole machine, not of the server alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import math
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from o2o import migrate
from o2o.accounts import service as accounts
from o2o.cities.models import City
from o2o.config import Settings
from o2o.db import Database, make_null_pool_engine
from o2o.kit.geo import h3_cell
from o2o.kit.time import now as clock_now
from o2o.orders.models import Order, OrderLine
from o2o.orders.state import OrderState
from o2o.stores import stock
from o2o.stores.models import MenuCategory, MenuItem, MenuOption, MenuOptionGroup, Merchant, Store
from o2o.wallet import chart, payments
from o2o.wallet import service as ledger
from o2o.wallet.channels import base as ch

DEFAULT_POSTGRES_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CURRENCY = "CNY"
CITY_CENTER = (31.2304, 121.4737)  # the stores spread around this point
FLASH_CENTER = (31.3000, 121.5000)
STORE_SPREAD_M = 5_000
DELIVERY_RADIUS_M = 3_000
MIN_ORDER = 2_000  # fen
ALWAYS_OPEN = json.dumps({day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")})
ITEMS_PER_STORE = 8
UNLIMITED_UNITS = stock.MAX_ON_HAND  # tracked, but more than any run sells
WALLET_FUNDING = payments.MAX_AMOUNT  # fen per customer: one top-up of the largest amount a payment may have
HOT_PRICE = 990  # fen; the flash-sale store charges no packaging fee, so one unit's order totals exactly this
DELIVERY_SHARE = 0.7  # the rest are takeout orders
READY_TIMEOUT_S = 180.0  # a loaded machine compiling every module afresh (no .pyc) starts slowly
HOT_TIMEOUT_S = 120.0  # a flash sale that has not sold out by then has lost sales: reported as a violation
OUT_OF_STOCK = "out_of_stock"


class Backend(enum.StrEnum):
    postgresql = "postgresql"
    sqlite = "sqlite"


class BenchError(RuntimeError):
    """The bench could not run (the server did not start, or died)."""


# ---------------------------------------------------------------------------------------------------- the seed


@dataclass(frozen=True)
class BenchItem:
    item_id: uuid.UUID
    price: int
    # One tuple of (option id, price delta) per option group: ``required`` groups need exactly one pick.
    required: tuple[tuple[tuple[uuid.UUID, int], ...], ...] = ()
    extras: tuple[tuple[uuid.UUID, int], ...] = ()  # at most one pick, optional


@dataclass(frozen=True)
class BenchStore:
    store_id: uuid.UUID
    lat: float
    lng: float
    items: tuple[BenchItem, ...]


@dataclass(frozen=True)
class Customer:
    person_id: uuid.UUID
    token: str


@dataclass(frozen=True)
class HotItem:
    city_id: uuid.UUID
    store_id: uuid.UUID
    item_id: uuid.UUID
    price: int
    units: int


@dataclass(frozen=True)
class Seeded:
    city_id: uuid.UUID
    stores: tuple[BenchStore, ...]
    customers: tuple[Customer, ...]
    hot: HotItem


def _offset(origin: tuple[float, float], distance_m: float, bearing: float) -> tuple[float, float]:
    """A point ``distance_m`` from ``origin`` towards ``bearing`` (radians); flat-earth, fine for a few km."""
    lat, lng = origin
    dlat = distance_m * math.cos(bearing) / 111_320.0
    dlng = distance_m * math.sin(bearing) / (111_320.0 * math.cos(math.radians(lat)))
    return lat + dlat, lng + dlng


def _new_city(slug: str, name: str, center: tuple[float, float]) -> City:
    return City(
        slug=slug,
        name=name,
        country_code="CN",
        timezone="Asia/Shanghai",
        currency=CURRENCY,
        locale="zh-CN",
        center_lat=center[0],
        center_lng=center[1],
    )


def _new_store(city_id: uuid.UUID, merchant_id: uuid.UUID, name: str, at: tuple[float, float], **terms: int) -> Store:
    return Store(
        city_id=city_id,
        merchant_id=merchant_id,
        name=name,
        category="food",
        lat=at[0],
        lng=at[1],
        h3_r9=h3_cell(*at),
        opening_hours=ALWAYS_OPEN,
        prep_minutes=12,
        delivery_radius_m=DELIVERY_RADIUS_M,
        delivery_base_fee=300,
        delivery_base_m=1_000,
        delivery_fee_per_km=100,
        **terms,
    )


def seed_city(
    db: Database,
    *,
    stores: int,
    rng: random.Random,
    slug: str = "bench-city",
    center: tuple[float, float] = CITY_CENTER,
) -> tuple[uuid.UUID, list[BenchStore]]:
    """A city with ``stores`` always-open stores around its centre, each with a menu of ``ITEMS_PER_STORE`` items
    (the first two with a required size, the first four with optional extras), every item's stock tracked."""
    made: list[BenchStore] = []
    moment = clock_now()
    with db.session() as s:
        city = _new_city(slug, slug.replace("-", " ").title(), center)
        s.add(city)
        s.flush()
        merchant = Merchant(city_id=city.id, name="Bench Foods Ltd", commission_rate_bp=1500)
        s.add(merchant)
        s.flush()
        for n in range(stores):
            at = _offset(center, rng.uniform(0, STORE_SPREAD_M), rng.uniform(0, 2 * math.pi))
            store = _new_store(
                city.id, merchant.id, f"Bench Kitchen {n + 1}", at, min_order=MIN_ORDER, packaging_fee=100
            )
            s.add(store)
            s.flush()
            mains = MenuCategory(city_id=city.id, store_id=store.id, name="Mains", position=0)
            drinks = MenuCategory(city_id=city.id, store_id=store.id, name="Drinks", position=1)
            s.add_all([mains, drinks])
            s.flush()
            items: list[BenchItem] = []
            for i in range(ITEMS_PER_STORE):
                category = mains if i < ITEMS_PER_STORE - 2 else drinks
                price = rng.randrange(600, 4_800, 100)
                item = MenuItem(
                    city_id=city.id,
                    store_id=store.id,
                    category_id=category.id,
                    name=f"Dish {i + 1}",
                    price=price,
                    position=i,
                    updated_at=moment,
                )
                s.add(item)
                s.flush()
                required: list[tuple[tuple[uuid.UUID, int], ...]] = []
                extras: tuple[tuple[uuid.UUID, int], ...] = ()
                if i < 2:
                    size = MenuOptionGroup(city_id=city.id, item_id=item.id, name="Size", min_picks=1, max_picks=1)
                    s.add(size)
                    s.flush()
                    picks = [
                        MenuOption(city_id=city.id, group_id=size.id, name=n_, price_delta=d, position=p)
                        for p, (n_, d) in enumerate((("Regular", 0), ("Large", 300)))
                    ]
                    s.add_all(picks)
                    s.flush()
                    required.append(tuple((o.id, o.price_delta) for o in picks))
                if i < 4:
                    extra = MenuOptionGroup(
                        city_id=city.id, item_id=item.id, name="Extras", min_picks=0, max_picks=1, position=1
                    )
                    s.add(extra)
                    s.flush()
                    picks = [
                        MenuOption(city_id=city.id, group_id=extra.id, name=n_, price_delta=d, position=p)
                        for p, (n_, d) in enumerate((("Egg", 200), ("Cheese", 300)))
                    ]
                    s.add_all(picks)
                    s.flush()
                    extras = tuple((o.id, o.price_delta) for o in picks)
                stock.set_on_hand(
                    s, city_id=city.id, store_id=store.id, item_id=item.id, on_hand=UNLIMITED_UNITS, now=moment
                )
                items.append(BenchItem(item.id, price, tuple(required), extras))
            made.append(BenchStore(store.id, store.lat, store.lng, tuple(items)))
        return city.id, made


def seed_hot_item(db: Database, *, units: int, slug: str = "bench-flash") -> HotItem:
    """A flash-sale city of its own, with one store selling one item of exactly ``units`` units: its sales escrow
    then holds the money of the hot item's orders and nothing else."""
    moment = clock_now()
    with db.session() as s:
        city = _new_city(slug, "Flash Sale City", FLASH_CENTER)
        s.add(city)
        s.flush()
        merchant = Merchant(city_id=city.id, name="Flash Sale Ltd", commission_rate_bp=1000)
        s.add(merchant)
        s.flush()
        store = _new_store(city.id, merchant.id, "Flash Sale", FLASH_CENTER, min_order=0, packaging_fee=0)
        s.add(store)
        s.flush()
        category = MenuCategory(city_id=city.id, store_id=store.id, name="Today only", position=0)
        s.add(category)
        s.flush()
        item = MenuItem(
            city_id=city.id,
            store_id=store.id,
            category_id=category.id,
            name="Mooncake gift box",
            price=HOT_PRICE,
            updated_at=moment,
        )
        s.add(item)
        s.flush()
        stock.set_on_hand(s, city_id=city.id, store_id=store.id, item_id=item.id, on_hand=units, now=moment)
        return HotItem(city.id, store.id, item.id, HOT_PRICE, units)


def seed_customers(
    db: Database, settings: Settings, *, count: int, city_id: uuid.UUID, funding: int = WALLET_FUNDING
) -> list[Customer]:
    """``count`` people with the customer role, a bearer token each and a funded wallet.

    The top-up goes through the wallet as in production: an intent, a trade opened at the Alipay-style channel,
    then the channel's "paid" applied in a separate transaction, as its verified callback would be."""
    people: list[tuple[uuid.UUID, str]] = []
    trades: list[tuple[str, int]] = []
    with db.session() as s:
        for n in range(count):
            person, _created = accounts.get_or_create_person(s, f"+86137{n:08d}")
            token, _row = accounts.create_session(s, settings, person.id, method="otp")
            intent = payments.create_top_up(
                s, payer_id=person.id, city_id=city_id, currency=CURRENCY, amount=funding, settings=settings
            )
            intent = payments.start_channel(s, intent.id, person.id, ch.ChannelName.ALIPAY_SIM.value)
            people.append((person.id, token))
            trades.append((intent.trade_no, funding))
    with db.session() as s:
        for trade_no, amount in trades:
            applied = payments.apply_channel_trade(
                s, ch.ChannelTrade(ch.ChannelName.ALIPAY_SIM, trade_no, ch.TradeStatus.PAID, amount, f"T-{trade_no}")
            )
            if applied != "paid":
                raise BenchError(f"a bench top-up was not applied: {applied}")
    return [Customer(person_id, token) for person_id, token in people]


def seed(
    db: Database,
    settings: Settings,
    *,
    stores: int,
    customers: int,
    hot_units: int,
    rng: random.Random,
    cities: int = 1,
) -> Seeded:
    """The bench's world. With ``cities`` > 1 the stores are shared out among that many cities (each with its own
    sales escrow in the ledger, which every paid order of the city credits)."""
    made: list[BenchStore] = []
    city_ids = []
    for c in range(cities):
        share = stores // cities + (1 if c < stores % cities else 0)
        center = _offset(CITY_CENTER, 50_000.0 * c, 0.0)  # cities 50 km apart
        city_id, city_stores = seed_city(db, stores=share, rng=rng, slug=f"bench-city-{c + 1}", center=center)
        city_ids.append(city_id)
        made += city_stores
    hot = seed_hot_item(db, units=hot_units)
    people = seed_customers(db, settings, count=customers, city_id=city_ids[0])
    return Seeded(city_ids[0], tuple(made), tuple(people), hot)


# ---------------------------------------------------------------------------------------------------- orders


def random_order(rng: random.Random, stores: Sequence[BenchStore]) -> dict[str, Any]:
    """The body of a paid checkout: a random store, 1 to 3 distinct items with their options, enough for the
    minimum order; a delivery to a random address well inside the store's area, or takeout."""
    store = stores[rng.randrange(len(stores))]
    lines = []
    subtotal = 0
    for item in rng.sample(store.items, rng.randint(1, 3)):
        option_ids: list[str] = []
        unit = item.price
        for group in item.required:
            option_id, delta = group[rng.randrange(len(group))]
            option_ids.append(str(option_id))
            unit += delta
        if item.extras and rng.random() < 0.5:
            option_id, delta = item.extras[rng.randrange(len(item.extras))]
            option_ids.append(str(option_id))
            unit += delta
        quantity = rng.randint(1, 2)
        lines.append({"item_id": str(item.item_id), "quantity": quantity, "option_ids": option_ids})
        subtotal += unit * quantity
    if subtotal < MIN_ORDER:  # one more of the first line, as a customer tops up a small basket
        first_unit = subtotal // sum(line["quantity"] for line in lines) or 1
        lines[0]["quantity"] += math.ceil((MIN_ORDER - subtotal) / first_unit)
    body: dict[str, Any] = {"store_id": str(store.store_id), "lines": lines, "pay_with": "wallet"}
    if rng.random() < DELIVERY_SHARE:
        lat, lng = _offset(
            (store.lat, store.lng), rng.uniform(50, 0.8 * DELIVERY_RADIUS_M), rng.uniform(0, 2 * math.pi)
        )
        body["kind"] = "delivery"
        body["address"] = {"lat": round(lat, 6), "lng": round(lng, 6), "text": f"Bench Road {rng.randint(1, 999)}"}
    else:
        body["kind"] = "takeout"
    return body


def hot_order(hot: HotItem) -> dict[str, Any]:
    return {
        "store_id": str(hot.store_id),
        "kind": "takeout",
        "lines": [{"item_id": str(hot.item_id), "quantity": 1, "option_ids": []}],
        "pay_with": "wallet",
    }


# ---------------------------------------------------------------------------------------------------- the check


@dataclass
class HotCheck:
    units: int
    sold_units: int
    paid_orders: int
    orders_by_state: dict[str, int]
    on_hand: int | None
    held: int | None
    escrow_balance: int
    paid_total: int
    escrow_payments: int
    violations: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


def verify_hot_item(db: Database, hot: HotItem, *, paid_responses: int | None = None) -> HotCheck:
    """Check the flash sale in the database once it is over: exactly ``hot.units`` sold, all paid, stock 0 with
    nothing held, and the flash-sale city's escrow holding exactly the money of the paid orders (one payment
    transfer per paid order, of its total). ``paid_responses``: the 201s the buyers got, which must match."""
    escrow = chart.sales_escrow(hot.city_id, CURRENCY)
    with db.sessionmaker() as s:
        by_state = dict(
            s.execute(
                select(Order.state, func.count()).where(Order.store_id == hot.store_id).group_by(Order.state)
            ).all()
        )
        paid = s.execute(
            select(Order.id, Order.intent_id, Order.total).where(
                Order.store_id == hot.store_id, Order.paid_at.is_not(None), Order.state != OrderState.CANCELED.value
            )
        ).all()
        sold_units = s.scalar(
            select(func.coalesce(func.sum(OrderLine.quantity), 0))
            .join(Order, Order.id == OrderLine.order_id)
            .where(
                Order.store_id == hot.store_id,
                OrderLine.item_id == hot.item_id,
                Order.paid_at.is_not(None),
                Order.state != OrderState.CANCELED.value,
            )
        )
        level = stock.levels(s, [hot.item_id]).get(hot.item_id)
        balance = ledger.balances(s, [escrow.id]).get(escrow.id)
        transfers = ledger.account_transfers(s, escrow.id, limit=4 * hot.units + 1_000)
    check = HotCheck(
        units=hot.units,
        sold_units=int(sold_units or 0),
        paid_orders=len(paid),
        orders_by_state={str(k): int(v) for k, v in by_state.items()},
        on_hand=None if level is None else level.on_hand,
        held=None if level is None else level.held,
        escrow_balance=0 if balance is None else balance.posted,
        paid_total=sum(total for _id, _intent, total in paid),
        escrow_payments=0,
    )
    v = check.violations
    if check.sold_units > hot.units or check.paid_orders > hot.units:
        v.append(f"OVERSELL: {check.sold_units} units in {check.paid_orders} paid orders, only {hot.units} in stock")
    elif check.sold_units < hot.units:
        v.append(f"only {check.sold_units} of {hot.units} units sold when the sale ended")
    if check.on_hand != 0 or check.held != 0:
        v.append(f"stock after the sale: on hand {check.on_hand}, held {check.held} (expected 0 and 0)")
    unpaid = {state: n for state, n in check.orders_by_state.items() if state != OrderState.PAID.value}
    if unpaid:
        v.append(f"orders left in other states: {unpaid}")
    payments_in = {
        t.user_data_128: t.amount
        for t in transfers
        if t.credit_account_id == escrow.id and t.code == chart.TransferCode.PAYMENT
    }
    check.escrow_payments = len(payments_in)
    if payments_in != {intent_id: total for _id, intent_id, total in paid}:
        v.append(
            f"the escrow's payments ({len(payments_in)}, {sum(payments_in.values())} fen) are not those of the "
            f"{len(paid)} paid orders ({check.paid_total} fen)"
        )
    if check.escrow_balance != check.paid_total:
        v.append(f"the escrow holds {check.escrow_balance} fen, the paid orders total {check.paid_total} fen")
    if paid_responses is not None and paid_responses != check.paid_orders:
        v.append(f"the buyers were told {paid_responses} orders were paid; the database has {check.paid_orders}")
    return check


# ---------------------------------------------------------------------------------------------------- load generator


class ConnectionLost(Exception):
    pass


class HttpConnection:
    """One keep-alive HTTP/1.1 connection to the server: a request at a time, as a browser's or an app's.

    Deliberately tiny (a request line, headers, a body; a status line, headers, a Content-Length or chunked
    body): the generator shares the cores with the server, so every microsecond it spends is taken from it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, headers: bytes = b"", body: bytes = b"") -> tuple[int, bytes]:
        """(status, body). ``headers`` are ready-made ``Name: value\\r\\n`` lines. Raises ``ConnectionLost``."""
        try:
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            assert self._reader is not None
            head = f"{method} {path} HTTP/1.1\r\n".encode() + self._host_header + headers
            if body or method in ("POST", "PUT", "PATCH"):
                head += b"Content-Length: %d\r\n" % len(body)
            self._writer.write(head + b"\r\n" + body)
            raw = await self._reader.readuntil(b"\r\n\r\n")
            status = int(raw[9:12])
            length, chunked, close = -1, False, False
            for line in raw.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"transfer-encoding" and b"chunked" in value.lower():
                    chunked = True
                elif name == b"connection" and b"close" in value.lower():
                    close = True
            if chunked:
                data = await self._read_chunked()
            elif length >= 0:
                data = await self._reader.readexactly(length)
            else:
                data = await self._reader.read()
                close = True
            if close:
                await self.close()
            return status, data
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            await self.close()
            raise ConnectionLost(f"{type(exc).__name__}: {exc}") from exc

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        parts = []
        while True:
            size = int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self._reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self._reader.readexactly(size))
            await self._reader.readexactly(2)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@dataclass
class PhaseResult:
    """What one phase measured: requests sent, successes (200 / 201), their latencies, failures by code."""

    requests: int = 0
    ok: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds, of the successful requests
    errors: Counter[str] = field(default_factory=Counter)

    @property
    def per_second(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    def percentile_ms(self, p: float) -> float:
        lat = sorted(self.latencies)
        if not lat:
            return 0.0
        return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2)

    def summary(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "per_s": round(self.per_second, 1),
            "p50_ms": self.percentile_ms(0.50),
            "p90_ms": self.percentile_ms(0.90),
            "p99_ms": self.percentile_ms(0.99),
            "max_ms": round(max(self.latencies) * 1000, 2) if self.latencies else 0.0,
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 2) if self.latencies else 0.0,
            "errors": dict(self.errors.most_common()),
        }


def error_key(status: int, body: bytes) -> str:
    """``"409 out_of_stock"``: the status and the problem's ``code`` when the body is problem+json."""
    code = None
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        code = json.loads(body).get("code")
    return f"{status} {code}" if code else str(status)


Request = tuple[str, str, bytes, bytes]  # method, path, headers, body
MakeRequest = Callable[[int, random.Random], Request]


async def _timed_phase(
    host: str, port: int, clients: int, seconds: float, make: MakeRequest, ok_status: int, seed: int
) -> PhaseResult:
    """``clients`` connections, each sending ``make(client, rng)`` requests back to back for ``seconds``."""
    total = PhaseResult()
    connections = [HttpConnection(host, port) for _ in range(clients)]
    started = time.perf_counter()
    deadline = started + seconds
    ends = [started] * clients

    async def client(n: int) -> None:
        rng = random.Random(seed * 1_000_003 + n)
        conn = connections[n]
        while time.perf_counter() < deadline:
            method, path, headers, body = make(n, rng)
            sent = time.perf_counter()
            try:
                status, data = await conn.request(method, path, headers, body)
            except ConnectionLost:
                total.requests += 1
                total.errors["connection_lost"] += 1
                await asyncio.sleep(0.05)  # a server that went away must not turn this into a busy loop
                continue
            total.requests += 1
            if status == ok_status:
                total.ok += 1
                total.latencies.append(time.perf_counter() - sent)
            else:
                total.errors[error_key(status, data)] += 1
        ends[n] = time.perf_counter()

    try:
        await asyncio.gather(*(client(n) for n in range(clients)))
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    total.seconds = max(ends) - started
    return total


@dataclass
class HotResult(PhaseResult):
    sold_out_after: float = 0.0  # seconds from the start to the last buyer's "out_of_stock"
    unfinished_buyers: int = 0  # buyers still without an answer of "sold out" at the time limit


async def _hot_phase(host: str, port: int, buyers: Sequence[bytes], body: bytes, timeout: float) -> HotResult:
    """Every buyer (its ready-made auth header) buys one unit after another until told ``out_of_stock``.
    The rate is the paid orders over the time from the start to the last paid order."""
    result = HotResult()
    connections = [HttpConnection(host, port) for _ in buyers]
    started = time.perf_counter()
    deadline = started + timeout
    last_paid = started
    finished = 0

    async def buyer(n: int) -> None:
        nonlocal last_paid, finished
        conn = connections[n]
        while time.perf_counter() < deadline:
            headers = buyers[n] + b"Idempotency-Key: " + uuid.uuid4().hex.encode() + b"\r\n"
            sent = time.perf_counter()
            try:
                status, data = await conn.request("POST", "/api/orders", headers, body)
            except ConnectionLost:
                result.requests += 1
                result.errors["connection_lost"] += 1
                await asyncio.sleep(0.05)
                continue
            result.requests += 1
            if status == 201:
                result.ok += 1
                last_paid = time.perf_counter()
                result.latencies.append(last_paid - sent)
                continue
            key = error_key(status, data)
            if key == f"409 {OUT_OF_STOCK}":
                finished += 1
                result.sold_out_after = max(result.sold_out_after, time.perf_counter() - started)
                return
            result.errors[key] += 1

    try:
        await asyncio.gather(*(buyer(n) for n in range(len(buyers))))
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    result.seconds = last_paid - started
    result.unfinished_buyers = len(buyers) - finished
    return result


def _new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop  # comes with uvicorn[standard]; a faster loop leaves more of the cores to the server
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _drive(coro: Awaitable[Any]) -> Any:
    loop = _new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


# ---------------------------------------------------------------------------------------------------- database and server


def _postgres_admin_url() -> str:
    return os.environ.get("O2O_BENCH_POSTGRES_URL", DEFAULT_POSTGRES_ADMIN_URL)


@contextlib.contextmanager
def fresh_database(backend: Backend, workdir: Path) -> Iterator[str]:
    """A new, migrated database, gone afterwards: a PostgreSQL database created and dropped, or a SQLite file."""
    if backend is Backend.sqlite:
        url = f"sqlite:///{workdir / 'bench.db'}"
        migrate.upgrade(url)
        yield url
        return
    admin_url = _postgres_admin_url()
    name = f"o2o_bench_checkout_{uuid.uuid4().hex[:8]}"
    admin = make_null_pool_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        migrate.upgrade(url)
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_server(
    database_url: str, workdir: Path, *, workers: int, host: str = "127.0.0.1"
) -> Iterator[tuple[str, int, subprocess.Popen]]:
    """``o2o serve --workers N`` on a free port against ``database_url``: the in-process worker on, the demo
    city off, logs in ``workdir/server.log``. Yields once ``/readyz`` answers 200; stops the server after."""
    port = _free_port(host)
    env = {
        **os.environ,
        "O2O_DATABASE_URL": database_url,
        "O2O_VAR_DIR": str(workdir / "var"),
        "O2O_DEMO_SEED_ON_START": "false",
        "O2O_INPROCESS_WORKER": "true",
        "O2O_LOG_FORMAT": "json",
    }
    log_path = workdir / "server.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "o2o.cli",
                "serve",
                "--host",
                host,
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--no-seed-demo",
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(host, port, server, log_path)
            yield host, port, server
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


def _log_tail(path: Path, lines: int = 20) -> str:
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def _wait_ready(host: str, port: int, server: subprocess.Popen, log_path: Path) -> None:
    async def ready() -> bool:
        conn = HttpConnection(host, port)
        try:
            status, _ = await conn.request("GET", "/readyz")
            return status == 200
        except ConnectionLost:
            return False
        finally:
            await conn.close()

    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _drive(ready()):
        if server.poll() is not None:
            raise BenchError(f"the server exited with code {server.returncode}:\n{_log_tail(log_path)}")
        if time.monotonic() > deadline:
            raise BenchError(f"the server was not ready after {READY_TIMEOUT_S:.0f} s:\n{_log_tail(log_path)}")
        time.sleep(0.2)


def _check_alive(server: subprocess.Popen, workdir: Path) -> None:
    if server.poll() is not None:
        raise BenchError(f"the server died (exit code {server.returncode}):\n{_log_tail(workdir / 'server.log')}")


# ---------------------------------------------------------------------------------------------------- where the time goes


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``); 0 for one that is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    with contextlib.suppress(OSError, ValueError):
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


class CpuMeter:
    """CPU seconds spent by the server's processes, by the database's backends serving the bench's database
    (PostgreSQL; SQLite runs inside the server) and by this load generator, between two readings: what one
    request costs each of them, on cores they share."""

    def __init__(self, server: subprocess.Popen, db: Database) -> None:
        self.server, self.db = server, db
        self.available = Path("/proc/self/stat").exists()

    def _database_pids(self) -> list[int]:
        if self.db.dialect != "postgresql":
            return []
        with self.db.engine.connect() as conn:
            return list(
                conn.scalars(
                    text(
                        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            )

    def read(self) -> dict[str, dict[int, float]]:
        if not self.available:
            return {}
        server = [self.server.pid, *_children(self.server.pid)]
        return {
            "server": {pid: _cpu_seconds(pid) for pid in server},
            "database": {pid: _cpu_seconds(pid) for pid in self._database_pids()},
            "load_generator": {os.getpid(): _cpu_seconds(os.getpid())},
        }

    @staticmethod
    def per_request_ms(
        before: Mapping[str, Mapping[int, float]], after: Mapping[str, Mapping[int, float]], requests: int
    ) -> dict[str, float]:
        """CPU milliseconds per request of each part (a process that appeared meanwhile counts from zero)."""
        if not before or not requests:
            return {}
        return {
            part: round(sum(t - before[part].get(pid, 0.0) for pid, t in after[part].items()) * 1000 / requests, 3)
            for part in after
        }


class WaitSampler:
    """What the database's backends serving the bench are doing, sampled every ``interval`` seconds from a
    connection of its own (PostgreSQL's ``pg_stat_activity``): running, waiting for a lock (``Lock:advisory``,
    ``Lock:transactionid`` ...), flushing the WAL at commit, or idle in a transaction while the application
    works between two statements (``idle in transaction``). Shares of all samples of busy backends."""

    QUERY = text(
        "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
    )

    def __init__(self, url: str, interval: float = 0.02) -> None:
        import threading

        self.url, self.interval = url, interval
        self.counts: Counter[str] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-wait-sampler", daemon=True)

    def __enter__(self) -> WaitSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        engine = make_null_pool_engine(self.url)
        try:
            with engine.connect() as conn:
                conn = conn.execution_options(isolation_level="AUTOCOMMIT")
                while not self._stop.wait(self.interval):
                    for state, kind, event_name in conn.execute(self.QUERY):
                        if state == "idle":
                            continue  # a pooled connection between requests: not part of any checkout
                        if state == "idle in transaction":
                            self.counts["idle in transaction (the application's turn)"] += 1
                        elif kind is None:
                            self.counts["running"] += 1
                        else:
                            self.counts[f"{kind}:{event_name}"] += 1
        finally:
            engine.dispose()

    def shares(self) -> dict[str, float]:
        total = sum(self.counts.values())
        return {k: round(v / total, 3) for k, v in self.counts.most_common()} if total else {}


# ---------------------------------------------------------------------------------------------------- the bench


def _auth_header(token: str) -> bytes:
    return f"Authorization: Bearer {token}\r\n".encode()


def run(
    backend: Backend = Backend.postgresql,
    *,
    seconds: float = 10.0,
    clients: int = 16,
    workers: int = 2,
    stores: int = 20,
    cities: int = 1,
    customers: int = 200,
    hot_units: int = 200,
    hot_clients: int = 64,
    warmup: float = 2.0,
    seed_value: int = 1,
    on_phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the whole bench (see the module's docstring) and return its figures. The hot item's check is in
    ``hot_item.check``; ``no_oversell`` is False when it found any violation."""
    say = on_phase or (lambda _phase: None)
    if cities > stores:
        raise ValueError("every city needs a store: --cities <= --stores")
    if hot_clients > customers:
        raise ValueError("every hot-item buyer needs a customer of its own: --hot-clients <= --customers")
    rng = random.Random(seed_value)
    workdir = Path(tempfile.mkdtemp(prefix="o2o-bench-checkout-"))
    try:
        say("creating and migrating a fresh database")
        with fresh_database(backend, workdir) as url:
            settings = Settings(database_url=url, var_dir=workdir / "var", demo_seed_on_start=False)
            db = Database(url, settings=settings)
            try:
                say(f"seeding {stores} stores, {customers} customers with funded wallets, {hot_units} hot units")
                started = time.perf_counter()
                seeded = seed(
                    db, settings, stores=stores, customers=customers, hot_units=hot_units, rng=rng, cities=cities
                )
                seed_seconds = time.perf_counter() - started
                say(f"starting o2o serve --workers {workers}")
                with running_server(url, workdir, workers=workers) as (host, port, server):
                    figures = _phases(
                        host,
                        port,
                        server,
                        workdir,
                        db,
                        seeded,
                        seconds=seconds,
                        clients=clients,
                        hot_clients=hot_clients,
                        warmup=warmup,
                        seed_value=seed_value,
                        say=say,
                    )
                say("checking the flash sale in the database")
                check = verify_hot_item(db, seeded.hot, paid_responses=figures["hot"].ok)
            finally:
                db.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    healthz, checkout, hot = figures["healthz"], figures["checkout"], figures["hot"]
    if hot.unfinished_buyers:
        check.violations.append(
            f"{hot.unfinished_buyers} buyers never heard 'out_of_stock' within {HOT_TIMEOUT_S:.0f} s"
        )
    cores = os.cpu_count() or 1
    return {
        "database": backend.value,
        "orders_per_s": round(checkout.per_second, 1),
        "p50_ms": checkout.percentile_ms(0.50),
        "p99_ms": checkout.percentile_ms(0.99),
        "healthz_per_s": round(healthz.per_second, 1),
        "hot_item_orders_per_s": round(hot.per_second, 1),
        "no_oversell": check.ok,
        "violations": check.violations,
        "clients": clients,
        "workers": workers,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "machine_cores": cores,
        "shared_cores": (
            f"the {workers} server processes, the database server and this load generator share the machine's "
            f"{cores} cores"
        ),
        "stores": stores,
        "cities": cities,
        "customers": customers,
        "seed_seconds": round(seed_seconds, 2),
        "errors": dict(checkout.errors.most_common()),
        "healthz": {**healthz.summary(), "cpu_ms_per_request": figures["cpu"].get("healthz", {})},
        "checkout": {
            **checkout.summary(),
            "cpu_ms_per_order": figures["cpu"].get("checkout", {}),
            "database_waits": figures["waits"].get("checkout", {}),
        },
        "hot_item": {
            "cpu_ms_per_order": figures["cpu"].get("hot", {}),
            "database_waits": figures["waits"].get("hot", {}),
            **hot.summary(),
            "units": hot_units,
            "clients": hot_clients,
            "sold_out_after_s": round(hot.sold_out_after, 3),
            "check": {
                "sold_units": check.sold_units,
                "paid_orders": check.paid_orders,
                "orders_by_state": check.orders_by_state,
                "on_hand": check.on_hand,
                "held": check.held,
                "escrow_balance": check.escrow_balance,
                "paid_total": check.paid_total,
                "escrow_payments": check.escrow_payments,
            },
        },
    }


def _phases(
    host: str,
    port: int,
    server: subprocess.Popen,
    workdir: Path,
    db: Database,
    seeded: Seeded,
    *,
    seconds: float,
    clients: int,
    hot_clients: int,
    warmup: float,
    seed_value: int,
    say: Callable[[str], None],
) -> dict[str, Any]:
    def healthz(_n: int, _rng: random.Random) -> Request:
        return "GET", "/healthz", b"", b""

    # Each connection buys as its own customers (connection n: customers n, n + clients, ...), as people do:
    # one checkout at a time each.
    auth = [_auth_header(c.token) + b"Content-Type: application/json\r\n" for c in seeded.customers]
    mine = [auth[n::clients] or auth for n in range(clients)]

    def checkout(n: int, rng: random.Random) -> Request:
        body = json.dumps(random_order(rng, seeded.stores)).encode()
        headers = mine[n][rng.randrange(len(mine[n]))] + b"Idempotency-Key: " + uuid.uuid4().hex.encode() + b"\r\n"
        return "POST", "/api/orders", headers, body

    if warmup > 0:
        say("warming up")
        _drive(_timed_phase(host, port, clients, warmup / 2, healthz, 200, seed_value))
        _drive(_timed_phase(host, port, clients, warmup / 2, checkout, 201, seed_value + 7))
        _check_alive(server, workdir)
    meter = CpuMeter(server, db)
    sampling = db.dialect == "postgresql"
    cpu: dict[str, dict[str, float]] = {}
    waits: dict[str, dict[str, float]] = {}

    def measured(name: str, coro: Awaitable[PhaseResult]) -> PhaseResult:
        before = meter.read()
        sampler = WaitSampler(db.url) if sampling and name != "healthz" else None
        with sampler or contextlib.nullcontext():
            result: PhaseResult = _drive(coro)
        cpu[name] = CpuMeter.per_request_ms(before, meter.read(), result.ok)
        if sampler is not None:
            waits[name] = sampler.shares()
        _check_alive(server, workdir)
        return result

    say(f"GET /healthz, {clients} connections, {seconds:g} s")
    healthz_result = measured("healthz", _timed_phase(host, port, clients, seconds, healthz, 200, seed_value))
    say(f"paid checkouts, {clients} connections, {seconds:g} s")
    checkout_result = measured("checkout", _timed_phase(host, port, clients, seconds, checkout, 201, seed_value + 1))
    say(f"hot item: {hot_clients} buyers for {seeded.hot.units} units")
    buyers = auth[-hot_clients:]  # the last customers: other people than the checkout phase's busiest
    hot_body = json.dumps(hot_order(seeded.hot)).encode()
    hot_result = measured("hot", _hot_phase(host, port, buyers, hot_body, HOT_TIMEOUT_S))
    return {"healthz": healthz_result, "checkout": checkout_result, "hot": hot_result, "cpu": cpu, "waits": waits}


# ---------------------------------------------------------------------------------------------------- the command


def checkout_command(
    database: Annotated[
        Backend,
        typer.Option(help="PostgreSQL (a fresh database on O2O_BENCH_POSTGRES_URL's server) or a SQLite file."),
    ] = Backend.postgresql,
    seconds: Annotated[float, typer.Option(min=0.2, help="How long the healthz and the checkout phases run.")] = 10.0,
    clients: Annotated[
        int, typer.Option(min=1, max=512, help="Concurrent keep-alive connections of the healthz and checkout phases.")
    ] = 16,
    workers: Annotated[int, typer.Option(min=1, max=16, help="Server processes (o2o serve --workers).")] = 2,
    stores: Annotated[int, typer.Option(min=1, max=2_000, help="Stores, shared out among the cities.")] = 20,
    cities: Annotated[
        int,
        typer.Option(
            min=1, max=100, help="Cities of the checkout phase: each has its own sales escrow, which its orders credit."
        ),
    ] = 1,
    customers: Annotated[int, typer.Option(min=1, max=20_000, help="Customers with funded wallets.")] = 200,
    hot_units: Annotated[int, typer.Option(min=1, max=100_000, help="Units of the hot item.")] = 200,
    hot_clients: Annotated[
        int, typer.Option(min=1, max=512, help="Buyers of the hot item at once (each its own customer).")
    ] = 64,
    warmup: Annotated[
        float, typer.Option(min=0, help="Seconds of healthz and checkouts before measuring (not counted).")
    ] = 2.0,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")
    ] = False,
) -> None:
    """Paid checkouts per second end to end over HTTP against o2o serve, beside GET /healthz and a flash sale.

    \b
    On a fresh database (created, migrated, seeded, dropped at the end):
    healthz   --clients connections loop GET /healthz: the baseline,
              and the ceiling of the load generator
    checkout  --clients connections loop POST /api/orders paid from the
              wallet: random store, items and options; a delivery inside
              the area or takeout; an Idempotency-Key each
    hot item  --hot-clients buyers take one unit each until the
              --hot-units are sold out. The database is then checked:
              exactly that many sold, stock 0, the escrow holding the
              money of exactly those orders. Any oversell: exit code 1.

    The server processes, the database and the load generator share the machine's cores.
    """
    from rich.console import Console
    from rich.table import Table as RichTable

    from o2o.cli import console
    from o2o.observability import configure_logging

    configure_logging("warning")  # the seed's log lines (people created...) would drown the figures

    try:
        with console.status("checkout bench") as status:
            figures = run(
                database,
                seconds=seconds,
                clients=clients,
                workers=workers,
                stores=stores,
                cities=cities,
                customers=customers,
                hot_units=hot_units,
                hot_clients=hot_clients,
                warmup=warmup,
                on_phase=lambda phase: status.update(f"checkout bench: {phase}"),
            )
    except (BenchError, ValueError) as exc:
        console.print(f"[red]The checkout bench could not run:[/red] {exc}")
        raise typer.Exit(2) from exc
    if as_json:
        print(json.dumps(figures))
    else:
        _print_table(Console(), RichTable, figures)
    if not figures["no_oversell"]:
        console.print("[bold red]The flash sale broke its rules:[/bold red] " + "; ".join(figures["violations"]))
        raise typer.Exit(1)


def _print_table(out: Any, table_type: Any, figures: Mapping[str, Any]) -> None:
    hot = figures["hot_item"]
    table = table_type(
        title=(
            f"Checkout on {figures['database']}: o2o serve --workers {figures['workers']}, {figures['seconds']:g} s, "
            f"{figures['stores']} stores in {figures['cities']} {'city' if figures['cities'] == 1 else 'cities'}"
        ),
        caption=figures["shared_cores"] + ".",
    )
    for column in ("phase", "connections", "per second", "p50 ms", "p99 ms", "failures"):
        table.add_column(column, justify="left" if column in ("phase", "failures") else "right")

    def failures(errors: Mapping[str, int]) -> str:
        return ", ".join(f"{k}: {v}" for k, v in errors.items()) or "none"

    rows = (
        ("GET /healthz (baseline)", figures["clients"], figures["healthz"]),
        ("paid checkouts", figures["clients"], figures["checkout"]),
        (f"hot item, {hot['units']} units", hot["clients"], hot),
    )
    for label, connections, phase in rows:
        table.add_row(
            label,
            str(connections),
            f"{phase['per_s']:,.0f}",
            f"{phase['p50_ms']:,.1f}",
            f"{phase['p99_ms']:,.1f}",
            failures(phase["errors"]),
        )
    out.print(table)
    cpu_rows = [
        (label, phase.get("cpu_ms_per_request") or phase.get("cpu_ms_per_order") or {})
        for label, _connections, phase in rows
    ]
    if any(parts for _label, parts in cpu_rows):
        cpu = table_type(title="CPU milliseconds per request (per paid order) on the shared cores")
        for column in ("phase", "server", "database", "load generator"):
            cpu.add_column(column, justify="left" if column == "phase" else "right")
        for label, parts in cpu_rows:
            cpu.add_row(label, *(f"{parts.get(k, 0.0):.2f}" for k in ("server", "database", "load_generator")))
        out.print(cpu)
    for label, waits in (
        ("checkouts", figures["checkout"].get("database_waits")),
        ("hot item", hot.get("database_waits")),
    ):
        if waits:
            out.print(f"PostgreSQL backends during the {label}: " + ", ".join(f"{k} {v:.0%}" for k, v in waits.items()))
    check = hot["check"]
    verdict = "[green]no oversell[/green]" if figures["no_oversell"] else "[bold red]VIOLATED[/bold red]"
    out.print(
        f"Hot item: {check['sold_units']} of {hot['units']} units sold in {check['paid_orders']} paid orders, "
        f"stock {check['on_hand']} (held {check['held']}), escrow {check['escrow_balance']} fen for "
        f"{check['escrow_payments']} payments = {check['paid_total']} fen paid: {verdict}."
    )
