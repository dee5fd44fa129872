"""Stock with holds, on both databases: all-or-nothing takes, lapsed holds freed without a sweeper, commits that
re-take a lapsed hold, and (PostgreSQL) many buyers racing for a few units."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from o2o.db import Database
from o2o.kit.time import now
from o2o.stores import stock
from o2o.stores.models import StockHold, StockLevel
from tests.orders.conftest import Kitchen, available, make_kitchen, on_hand


@pytest.fixture
def kitchen(db: Database) -> Kitchen:
    return make_kitchen(db)


def _hold(db: Database, k: Kitchen, ref: str, quantities: dict, *, until: dt.datetime | None = None,
          at: dt.datetime | None = None) -> None:
    with db.session() as s:
        stock.hold(s, city_id=k.city_id, store_id=k.store_id, reference=ref, quantities=quantities, until=until, now=at)


def test_a_hold_sets_units_aside_and_a_commit_sells_them(db: Database, kitchen: Kitchen) -> None:
    _hold(db, kitchen, "o1", {kitchen.cola: 3, kitchen.dumplings: 2})
    assert (available(db, kitchen.cola), on_hand(db, kitchen.cola)) == (17, 20)
    assert available(db, kitchen.dumplings) == 3
    with db.session() as s:
        stock.commit(s, "o1", {kitchen.cola: 3, kitchen.dumplings: 2})
    assert (available(db, kitchen.cola), on_hand(db, kitchen.cola)) == (17, 17)
    with db.sessionmaker() as s:
        assert {h.status for h in stock.holds_of(s, "o1")} == {"committed"}
        assert s.get(StockLevel, kitchen.cola).held == 0


def test_all_or_nothing_when_one_item_is_short(db: Database, kitchen: Kitchen) -> None:
    with pytest.raises(stock.OutOfStock) as caught, db.session() as s:
        stock.hold(s, city_id=kitchen.city_id, store_id=kitchen.store_id, reference="o1",
                   quantities={kitchen.cola: 3, kitchen.dumplings: 6})
    assert caught.value.code == "out_of_stock"
    assert caught.value.shortfall == {kitchen.dumplings: 5}
    assert (available(db, kitchen.cola), available(db, kitchen.dumplings)) == (20, 5)
    with db.sessionmaker() as s:
        assert s.scalars(select(StockHold)).all() == []


def test_a_failed_take_inside_a_caller_transaction_leaves_nothing(db: Database, kitchen: Kitchen) -> None:
    """The savepoint: a caller that catches the refusal and commits anyway has taken nothing."""
    with db.session() as s, pytest.raises(stock.OutOfStock):
        stock.sell_now(s, {kitchen.cola: 1, kitchen.dumplings: 9})
    assert (on_hand(db, kitchen.cola), on_hand(db, kitchen.dumplings)) == (20, 5)


def test_untracked_items_are_unlimited(db: Database, kitchen: Kitchen) -> None:
    _hold(db, kitchen, "o1", {kitchen.noodles: 500})
    with db.session() as s:
        stock.commit(s, "o1", {kitchen.noodles: 500})
        stock.sell_now(s, {kitchen.noodles: 10_000})
        assert stock.available(s, kitchen.store_id, [kitchen.noodles, kitchen.cola]) == {
            kitchen.noodles: None, kitchen.cola: 20,
        }


def test_an_expired_hold_frees_its_units_for_the_next_buyer_without_a_sweeper(db: Database, kitchen: Kitchen) -> None:
    t0 = now()
    _hold(db, kitchen, "slow", {kitchen.dumplings: 5}, until=t0 + dt.timedelta(minutes=10), at=t0)
    with pytest.raises(stock.OutOfStock), db.session() as s:
        stock.sell_now(s, {kitchen.dumplings: 1}, now=t0 + dt.timedelta(minutes=9))
    later = t0 + dt.timedelta(minutes=10, seconds=1)
    with db.session() as s:
        assert stock.levels(s, [kitchen.dumplings], later)[kitchen.dumplings].available == 5
        stock.sell_now(s, {kitchen.dumplings: 4}, now=later)
    with db.sessionmaker() as s:
        assert [h.status for h in stock.holds_of(s, "slow")] == ["expired"]
        level = s.get(StockLevel, kitchen.dumplings)
        assert (level.on_hand, level.held) == (1, 0)


def test_commit_of_a_lapsed_hold_retakes_units_if_still_free(db: Database, kitchen: Kitchen) -> None:
    t0 = now()
    _hold(db, kitchen, "late", {kitchen.dumplings: 2}, until=t0 + dt.timedelta(minutes=10), at=t0)
    with db.session() as s:
        stock.sweep_expired(s, t0 + dt.timedelta(minutes=11))
    with db.session() as s:
        stock.commit(s, "late", {kitchen.dumplings: 2}, now=t0 + dt.timedelta(minutes=12))
    assert (on_hand(db, kitchen.dumplings), available(db, kitchen.dumplings)) == (3, 3)


def test_commit_of_a_lapsed_hold_fails_when_the_units_went_elsewhere(db: Database, kitchen: Kitchen) -> None:
    t0 = now()
    _hold(db, kitchen, "late", {kitchen.dumplings: 2, kitchen.cola: 1}, until=t0 + dt.timedelta(minutes=10), at=t0)
    with db.session() as s:
        stock.sell_now(s, {kitchen.dumplings: 5}, now=t0 + dt.timedelta(minutes=11))  # reclaims, then sells all
    with pytest.raises(stock.OutOfStock), db.session() as s:
        stock.commit(s, "late", {kitchen.dumplings: 2, kitchen.cola: 1}, now=t0 + dt.timedelta(minutes=12))
    assert (on_hand(db, kitchen.dumplings), on_hand(db, kitchen.cola)) == (0, 20)


def test_release_gives_units_back_once(db: Database, kitchen: Kitchen) -> None:
    _hold(db, kitchen, "o1", {kitchen.cola: 4})
    with db.session() as s:
        assert stock.release(s, "o1") == 4
        assert stock.release(s, "o1") == 0
    assert available(db, kitchen.cola) == 20


def test_stock_cannot_be_set_below_what_checkouts_hold(db: Database, kitchen: Kitchen) -> None:
    _hold(db, kitchen, "o1", {kitchen.cola: 4})
    with pytest.raises(stock.AppError) as caught, db.session() as s:
        stock.set_on_hand(s, city_id=kitchen.city_id, store_id=kitchen.store_id, item_id=kitchen.cola, on_hand=3)
    assert caught.value.code == "stock_below_held"
    with pytest.raises(stock.AppError) as caught, db.session() as s:
        stock.set_on_hand(s, city_id=kitchen.city_id, store_id=kitchen.store_id, item_id=kitchen.cola, on_hand=-1)
    assert caught.value.code == "invalid_stock"
    assert on_hand(db, kitchen.cola) == 20
    with db.session() as s:
        level = stock.set_on_hand(s, city_id=kitchen.city_id, store_id=kitchen.store_id, item_id=kitchen.cola,
                                  on_hand=4)
    assert level is not None and (level.on_hand, level.available) == (4, 0)


ops = st.lists(
    st.tuples(
        st.sampled_from(["hold", "commit", "release", "sell", "restock", "tick"]),
        st.integers(min_value=0, max_value=4),  # which checkout
        st.integers(min_value=1, max_value=4),  # units
    ),
    max_size=25,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=ops)
def test_stock_is_never_negative_and_adds_up(db: Database, steps) -> None:  # type: ignore[no-untyped-def]
    """Any interleaving of holds, commits, releases, counter sales, restocks and passing time: stock never goes
    below zero, units are never sold twice, and on_hand = start - sold + restocked."""
    k = make_kitchen(db, slug=f"prop{uuid.uuid4().hex[:8]}")
    clock = now()
    sold = restocked = 0
    held: dict[int, int] = {}
    for op, checkout, units in steps:
        ref = f"c{checkout}-{k.store_id}"
        try:
            with db.session() as s:
                if op == "hold" and checkout not in held:
                    stock.hold(s, city_id=k.city_id, store_id=k.store_id, reference=ref,
                               quantities={k.dumplings: units}, until=clock + dt.timedelta(minutes=10), now=clock)
                    held[checkout] = units
                elif op == "commit" and checkout in held:
                    stock.commit(s, ref, {k.dumplings: held[checkout]}, now=clock)
                    sold += held.pop(checkout)
                elif op == "release" and checkout in held:
                    stock.release(s, ref, now=clock)
                    held.pop(checkout)
                elif op == "sell":
                    stock.sell_now(s, {k.dumplings: units}, now=clock)
                    sold += units
                elif op == "restock":
                    stock.restock(s, {k.dumplings: units}, now=clock)
                    restocked += units
                elif op == "tick":
                    clock += dt.timedelta(minutes=units * 3)
        except stock.OutOfStock:
            if op == "commit":
                held.pop(checkout)  # that checkout is over: its order is canceled
        with db.sessionmaker() as s:
            level = s.get(StockLevel, k.dumplings)
            assert level.on_hand >= 0 and level.held >= 0 and level.on_hand >= level.held
            assert level.on_hand == 5 - sold + restocked
            active = sum(h.quantity for h in s.scalars(select(StockHold).where(
                StockHold.item_id == k.dumplings, StockHold.status == "active")))
            assert level.held == active


@pytest.mark.postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_hundred_buyers_race_for_fifty_units(db: Database) -> None:
    k = make_kitchen(db, slug="racetown")
    with db.session() as s:
        stock.set_on_hand(s, city_id=k.city_id, store_id=k.store_id, item_id=k.cola, on_hand=50)
    wins: list[str] = []
    losses: list[str] = []
    barrier = threading.Barrier(50)

    def buyer(n: int) -> None:
        ref = f"buyer-{n}"
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=30)
        try:
            with db.session() as s:
                if n % 2:
                    stock.sell_now(s, {k.cola: 1})  # at the counter
                else:
                    stock.hold(s, city_id=k.city_id, store_id=k.store_id, reference=ref, quantities={k.cola: 1})
                    stock.commit(s, ref, {k.cola: 1})
            wins.append(ref)
        except stock.OutOfStock:
            losses.append(ref)

    threads = [threading.Thread(target=buyer, args=(n,)) for n in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert (len(wins), len(losses)) == (50, 150)
    assert on_hand(db, k.cola) == 0
