"""Helpers for the accounts tests: cities to point at, codes read from the SMS outbox, signed-in clients."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from o2o.accounts import favourites, service
from o2o.db import Database
from o2o.outbox import OutboxMessage
from tests.factories import new_city

PHONE = "+8613800138000"
OTHER_PHONE = "+8613900139000"
THIRD_PHONE = "+8615000150000"
_CODE = re.compile(r"\b(\d{6})\b")


def gb11643_check(body17: str) -> str:
    """The check character, computed independently of the code under test: weight 2^(k-1) mod 11 for the
    digit in position k counted from the right (the check character being position 1)."""
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(body17))
    return "10X98765432"[total % 11]


def id_number(area: str = "110105", birth: str = "19900307", seq: str = "123") -> str:
    body = area + birth + seq
    return body + gb11643_check(body)


def count(db: Database, model: Any, *where: Any) -> int:
    with db.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where)) or 0


def sms_messages(db: Database, phone: str | None = None) -> list[dict[str, Any]]:
    """The SMS outbox, newest first."""
    with db.sessionmaker() as s:
        rows = s.scalars(
            select(OutboxMessage).where(OutboxMessage.topic == "sms").order_by(OutboxMessage.id.desc())
        ).all()
        out = [json.loads(r.payload) for r in rows]
    return [m for m in out if phone is None or m["phone"] == phone]


def latest_code(db: Database, phone: str = PHONE) -> str:
    messages = sms_messages(db, phone)
    assert messages, f"no text message to {phone}"
    match = _CODE.search(messages[0]["text"])
    assert match, messages[0]["text"]
    return match.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Api:
    """Drives the accounts API like a client would."""

    def __init__(self, client: TestClient, db: Database) -> None:
        self.client = client
        self.db = db

    def send_code(self, phone: str = PHONE) -> str:
        r = self.client.post("/api/accounts/otp", json={"phone": phone})
        assert r.status_code == 202, r.text
        return latest_code(self.db, phone)

    def sign_in(self, phone: str = PHONE, **extra: Any) -> dict[str, Any]:
        code = self.send_code(phone)
        r = self.client.post("/api/accounts/sessions", json={"phone": phone, "code": code, **extra})
        assert r.status_code == 201, r.text
        return r.json()

    def token(self, phone: str = PHONE) -> str:
        """A bearer token for the person with this phone (signed up if new), made by the service directly:
        the HTTP sign-in has its own tests, and this keeps the others fast."""
        with self.db.session() as s:
            person, _created = service.get_or_create_person(s, phone)
            token, _row = service.create_session(s, self.client.app.state.settings, person.id, method="otp")
        return token

    def person_id(self, token: str) -> uuid.UUID:
        with self.db.sessionmaker() as s:
            return service.authenticate(s, token).person_id


@pytest.fixture
def api(client: TestClient, db: Database) -> Api:
    return Api(client, db)


@pytest.fixture
def make_city(db: Database):
    def make(slug: str = "testville", timezone: str = "Asia/Shanghai") -> uuid.UUID:
        with db.session() as s:
            city = new_city(slug, timezone=timezone)
            s.add(city)
            s.flush()
            return city.id

    return make


def insert_store(db: Database, city_id: uuid.UUID, name: str = "Test store") -> uuid.UUID:
    """A real store row (with its merchant): role grants name stores by foreign key."""
    from o2o.kit.geo import h3_cell
    from o2o.stores.models import Merchant, Store

    with db.session() as s:
        merchant = Merchant(city_id=city_id, name=f"{name} Ltd")
        s.add(merchant)
        s.flush()
        store = Store(
            city_id=city_id, merchant_id=merchant.id, name=name, category="food", lat=39.9, lng=116.4,
            h3_r9=h3_cell(39.9, 116.4),
        )
        s.add(store)
        s.flush()
        return store.id


@pytest.fixture
def make_store(db: Database):
    return lambda city_id, name="Test store": insert_store(db, city_id, name)


class Targets:
    """Favourite targets (real store rows, since role grants reference stores) with a resolver of the test's own."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.city_of: dict[uuid.UUID, uuid.UUID] = {}

    def add(self, city_id: uuid.UUID) -> uuid.UUID:
        target = insert_store(self.db, city_id)
        self.city_of[target] = city_id
        return target


@pytest.fixture
def stores(db: Database) -> Iterator[Targets]:
    """Registers a "store" favourite resolver for the test (and puts back whatever was registered)."""
    targets = Targets(db)
    previous = (favourites._resolvers.get("store"), favourites._describers.get("store"))
    favourites.register_favourite_target(
        "store",
        lambda _session, target_id: targets.city_of.get(target_id),
        describe=lambda _session, ids: {
            i: favourites.Target(title=f"Store {i.hex[:4]}", url=f"/stores/{i}") for i in ids
        },
    )
    yield targets
    favourites.unregister_favourite_target("store")
    if previous[0] is not None:
        favourites._resolvers["store"] = previous[0]
    if previous[1] is not None:
        favourites._describers["store"] = previous[1]


@pytest.fixture
def no_deals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Deals have not registered a resolver yet; make sure of it even once they do."""
    monkeypatch.delitem(favourites._resolvers, "deal", raising=False)


def at(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)
