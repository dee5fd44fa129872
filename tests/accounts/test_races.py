"""Races on PostgreSQL with real threads and separate connections (SQLite serialises writers, so the races
cannot happen there). Each submission is one unit of work that commits, failure or not."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from o2o.accounts import favourites, service
from o2o.accounts.models import AuthSession, Favourite, OtpCode, Person, RoleGrant
from o2o.accounts.permissions import Role
from o2o.errors import AppError
from tests.accounts.conftest import PHONE, count, latest_code, wrong

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.parametrize("database_url", ["postgresql"], indirect=True),
]

THREADS = 10


def race(db, work: Callable[[Any], Any]) -> list[Any]:
    """Run ``work(session)`` in THREADS threads at once, each in its own unit of work; returns the answers."""
    assert db.dialect == "postgresql"
    barrier = threading.Barrier(THREADS)
    results: list[Any] = []
    lock = threading.Lock()

    def run() -> None:
        barrier.wait()
        try:
            with db.session() as s:
                answer = work(s)
        except AppError as exc:
            answer = exc
        with lock:
            results.append(answer)

    threads = [threading.Thread(target=run) for _ in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == THREADS
    return results


def codes(results: list[Any]) -> Counter:
    return Counter("signed_in" if isinstance(r, service.SignIn) else r.code for r in results)


def attempts(db) -> int:
    with db.sessionmaker() as s:
        return s.scalars(select(OtpCode.attempts)).one()


def send_code(db, settings) -> str:
    with db.session() as s:
        service.request_code(s, settings, PHONE)
    return latest_code(db)


def test_ten_wrong_codes_at_once_spend_exactly_five_tries(db, settings):
    code = send_code(db, settings)
    results = race(db, lambda s: service.sign_in_with_code(s, settings, PHONE, wrong(code)))
    assert codes(results) == {"otp_invalid": 5, "otp_attempts_exceeded": 5}
    assert attempts(db) == 5
    assert count(db, Person) == 0 and count(db, AuthSession) == 0


def test_ten_right_codes_at_once_sign_in_once(db, settings):
    code = send_code(db, settings)
    results = race(db, lambda s: service.sign_in_with_code(s, settings, PHONE, code))
    assert codes(results) == {"signed_in": 1, "otp_already_used": 9}
    assert attempts(db) == 1
    assert count(db, Person) == 1 and count(db, AuthSession) == 1 and count(db, RoleGrant) == 1


def test_right_and_wrong_codes_mixed(db, settings):
    code = send_code(db, settings)
    turn = iter(range(THREADS))
    lock = threading.Lock()

    def submit(s):
        with lock:
            n = next(turn)
        return service.sign_in_with_code(s, settings, PHONE, code if n == 0 else wrong(code))

    results = race(db, submit)
    tally = codes(results)
    assert attempts(db) <= 5
    assert tally["signed_in"] <= 1
    assert count(db, Person) == tally["signed_in"] and count(db, AuthSession) == tally["signed_in"]
    assert sum(tally.values()) == THREADS


def test_ten_code_requests_at_once_send_five(db, settings):
    results = race(db, lambda s: service.request_code(s, settings, PHONE))
    assert Counter(type(r).__name__ if not isinstance(r, AppError) else r.code for r in results) == {
        "CodeSent": 5,
        "otp_rate_limited": 5,
    }
    assert count(db, OtpCode) == 5
    with db.sessionmaker() as s:
        assert sorted(s.scalars(select(OtpCode.seq))) == [1, 2, 3, 4, 5]


def test_concurrent_sign_ups_create_one_person(db, settings):
    results = race(db, lambda s: service.get_or_create_person(s, PHONE)[1])
    assert results.count(True) == 1 and results.count(False) == THREADS - 1
    assert count(db, Person) == 1 and count(db, RoleGrant) == 1


def test_concurrent_grants_and_favourites_make_one_row(db, settings, make_city, stores):
    city = make_city()
    store = stores.add(city)
    with db.session() as s:
        person_id = service.get_or_create_person(s, PHONE)[0].id

    def both(s):
        service.ensure_role(s, person_id, Role.COURIER, city_id=city)
        return favourites.add_favourite(s, person_id, "store", store).created

    results = race(db, both)
    assert results.count(True) == 1
    assert count(db, RoleGrant, RoleGrant.role == "courier") == 1
    assert count(db, Favourite) == 1
