"""Wallet test helpers: a city, a store with its merchant, people, and ledger checks."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from o2o.accounts.models import Person
from o2o.config import Settings
from o2o.db import Database
from o2o.kit.geo import h3_cell
from o2o.stores.models import Merchant, Store
from o2o.wallet import service as ledger
from o2o.wallet.channels import transport
from o2o.wallet.ledger import check_invariants
from tests.factories import new_city

_phones = itertools.count(1)


@dataclass(frozen=True)
class Shop:
    city_id: uuid.UUID
    store_id: uuid.UUID
    merchant_id: uuid.UUID
    customer_id: uuid.UUID
    other_id: uuid.UUID
    courier_id: uuid.UUID


def make_shop(db: Database, slug: str = "payville", commission_bp: int = 1500) -> Shop:
    with db.session() as s:
        city = new_city(slug)
        s.add(city)
        s.flush()
        merchant = Merchant(city_id=city.id, name="Noodle House Ltd", commission_rate_bp=commission_bp)
        s.add(merchant)
        s.flush()
        store = Store(
            city_id=city.id, merchant_id=merchant.id, name="Noodle House", category="food", lat=39.9, lng=116.4,
            h3_r9=h3_cell(39.9, 116.4),
        )
        people = [Person(phone_e164=f"+86138{next(_phones):08d}") for _ in range(3)]
        s.add_all([store, *people])
        s.flush()
        return Shop(city.id, store.id, merchant.id, people[0].id, people[1].id, people[2].id)


@pytest.fixture
def shop(db: Database) -> Shop:
    return make_shop(db)


def assert_ledger_sound(db: Database) -> None:
    """Conservation, floors and at-most-once over the whole persisted ledger."""
    with db.sessionmaker() as s:
        accounts = ledger.all_accounts(s)
        transfers, statuses = ledger.journal(s)
    assert check_invariants(accounts, transfers, statuses) == []


# --------------------------------------------------------------------------------------------------------------
# The simulated channels, in-process: our clients -> the simulators, the simulators' callbacks -> the app.


def with_rates(settings: Settings, *, duplicate: float = 0.0, tamper: float = 0.0, delay: float = 0.0, seed: int = 7) -> Settings:
    return settings.model_copy(
        update={
            "channel_sim_duplicate_rate": duplicate,
            "channel_sim_tamper_rate": tamper,
            "channel_sim_max_delay_seconds": delay,
            "channel_sim_seed": seed,
        }
    )


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The simulators without faults or delays (tests turn them on with ``set_rates``)."""
    return with_rates(settings)


def set_rates(app, **rates: float) -> Settings:
    """Change the fault rates the running app's simulators use; returns the new settings."""
    app.state.settings = with_rates(app.state.settings, **rates)
    app.state.db.settings = app.state.settings  # the jobs read these
    return app.state.settings


@pytest.fixture
def in_process(app, settings: Settings) -> Iterator[TestClient]:
    """Every channel HTTP exchange runs inside ``app``; yields a browser (cookies kept, at the public URL)."""
    server = TestClient(app, base_url=settings.base_url)
    with transport.routed(lambda: server):
        yield TestClient(app, base_url=settings.base_url)


_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_ACTION = re.compile(r'<form method="post" action="([^"]+/(pay|cancel))"')


def cashier_forms(html: str) -> tuple[str, dict[str, str]]:
    """The CSRF token and the pay/cancel actions of a cashier page."""
    token = _CSRF.search(html)
    assert token is not None, html
    return token.group(1), {m.group(2): m.group(1) for m in _ACTION.finditer(html)}
