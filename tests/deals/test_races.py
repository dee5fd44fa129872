"""Races on PostgreSQL with real concurrent connections (SQLite serialises writers, so they cannot happen there):
two tills redeem one voucher, a redemption races a refund, buyers race for the last units and for a per-person
limit. Each contender is its own thread with its own session (or its own HTTP client against a live server)."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from o2o.accounts import service as accounts
from o2o.accounts.models import Person
from o2o.accounts.permissions import Role
from o2o.config import Settings
from o2o.db import Database
from o2o.deals import service
from o2o.errors import AppError
from tests.deals.conftest import T0, World, available, deal, fund, posted, publish, token_for, voucher
from tests.wallet.conftest import assert_ledger_sound

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]


def race(db: Database, works: list[Callable[[Any], Any]]) -> list[Any]:
    """Run each ``work(session)`` in its own thread and unit of work, all released at once; their answers (or
    the AppError they raised), in order."""
    assert db.dialect == "postgresql"
    barrier = threading.Barrier(len(works))
    results: list[Any] = [None] * len(works)

    def run(index: int, work: Callable[[Any], Any]) -> None:
        barrier.wait()
        try:
            with db.session() as s:
                results[index] = work(s)
        except AppError as exc:
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i, w)) for i, w in enumerate(works)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def outcome(result: Any) -> str:
    return result.code if isinstance(result, AppError) else "ok"


def test_two_tills_redeem_one_voucher_over_http(
    db: Database, settings: Settings, world: World, live_server, at_t0
) -> None:  # type: ignore[no-untyped-def]
    deal_id = publish(db, world)
    fund(db, settings, world, 50_000)
    with db.session() as s:  # another till of the same shop, staffed by someone else
        second = Person(phone_e164="+8613712345678")
        s.add(second)
        s.flush()
        accounts.ensure_role(s, second.id, Role.MERCHANT_STAFF, city_id=world.city_id, store_id=world.store_id)
    tills = [token_for(db, settings, world.staff_id), token_for(db, settings, second.id)]
    bought = []
    for _ in range(6):
        with db.session() as s:
            bought.append(service.buy(s, deal_id, world.customer_id, settings=settings, pay_with_wallet=True, now=T0))
    url = f"{live_server.url}/api/merchant/stores/{world.store_id}/vouchers/redeem"

    def till(index: int, scan: str, barrier: threading.Barrier, answers: list) -> None:  # type: ignore[type-arg]
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            answers[index] = client.post(url, json={"scan": scan}, headers=tills[index])

    for purchase in bought:
        barrier = threading.Barrier(2)
        answers: list[httpx.Response | None] = [None, None]
        threads = [threading.Thread(target=till, args=(i, purchase.voucher.code, barrier, answers)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        statuses = sorted(a.status_code for a in answers if a is not None)
        assert statuses == [200, 409], [a.text for a in answers if a is not None]
        loser = next(a for a in answers if a is not None and a.status_code == 409)
        assert loser.json()["code"] == "voucher_already_redeemed"
        assert voucher(db, purchase.voucher.id).version == 2  # issued, then redeemed once


def test_a_redemption_racing_a_refund(db: Database, settings: Settings, world: World) -> None:
    deal_id = publish(db, world)
    fund(db, settings, world, 100_000)
    bought = []
    for _ in range(8):
        with db.session() as s:
            bought.append(service.buy(s, deal_id, world.customer_id, settings=settings, pay_with_wallet=True, now=T0))
    won: Counter = Counter()
    for purchase in bought:
        results = race(db, [
            lambda s, p=purchase: service.redeem(s, settings, world.store_id, p.voucher.code, world.staff_id, now=T0),
            lambda s, p=purchase: service.refund_voucher(s, settings, p.voucher.id, world.customer_id, now=T0),
        ])
        redeemed, refunded = (outcome(r) for r in results)
        assert sorted([redeemed, refunded]) in (["ok", "voucher_refunded"], ["ok", "voucher_already_redeemed"])
        final = voucher(db, purchase.voucher.id)
        assert final.status == ("redeemed" if redeemed == "ok" else "refunded")
        won[final.status] += 1
    price = bought[0].voucher.price
    assert available(db, world.customer_id) == 100_000 - won["redeemed"] * price
    from o2o.wallet import chart

    assert posted(db, chart.sales_escrow(world.city_id, "CNY")) == won["redeemed"] * price
    assert deal(db, deal_id).quantity_sold == won["redeemed"]
    assert_ledger_sound(db)


def _buyers(db: Database, settings: Settings, world: World, n: int) -> list[uuid.UUID]:
    with db.session() as s:
        people = [Person(phone_e164=f"+86136{i:08d}") for i in range(n)]
        s.add_all(people)
        s.flush()
        for p in people:
            accounts.ensure_role(s, p.id, Role.CUSTOMER)
        ids = [p.id for p in people]
    for person in ids:
        fund(db, settings, world, 10_000, person=person)
    return ids


def test_buyers_of_the_last_units_never_oversell(db: Database, settings: Settings, world: World) -> None:
    deal_id = publish(db, world, quantity_total=3)
    buyers = _buyers(db, settings, world, 10)
    results = race(db, [
        lambda s, b=b: service.buy(s, deal_id, b, settings=settings, pay_with_wallet=True, now=T0) for b in buyers
    ])
    assert Counter(outcome(r) for r in results) == {"ok": 3, "deal_sold_out": 7}
    assert deal(db, deal_id).quantity_sold == 3
    winners = [b for b, r in zip(buyers, results, strict=True) if not isinstance(r, AppError)]
    assert all(available(db, b) == 10_000 - 3_990 for b in winners)
    assert all(available(db, b) == 10_000 for b in buyers if b not in winners)
    assert_ledger_sound(db)


def test_one_person_racing_for_a_per_person_limit(db: Database, settings: Settings, world: World) -> None:
    deal_id = publish(db, world, per_person_limit=2)
    fund(db, settings, world, 50_000)
    results = race(db, [
        lambda s: service.buy(s, deal_id, world.customer_id, settings=settings, pay_with_wallet=True, now=T0)
        for _ in range(5)
    ])
    assert Counter(outcome(r) for r in results) == {"ok": 2, "purchase_limit_reached": 3}
    assert deal(db, deal_id).quantity_sold == 2
    assert available(db, world.customer_id) == 50_000 - 2 * 3_990
