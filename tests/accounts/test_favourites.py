"""Favourites: save (idempotent), remove, list with a cursor; other kinds refused until their domain lands."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from o2o.accounts import favourites
from o2o.accounts.models import Favourite
from o2o.errors import AppError
from tests.accounts.conftest import OTHER_PHONE, bearer, count

FAV = "/api/accounts/me/favourites"


def problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    return r.json()


def test_save_is_idempotent(client, db, api, stores, make_city):
    city = make_city()
    store = stores.add(city)
    token = api.token()
    first = client.put(f"{FAV}/store/{store}", headers=bearer(token))
    assert first.status_code == 201
    assert first.json()["kind"] == "store" and first.json()["target_id"] == str(store)
    assert first.json()["city_id"] == str(city)
    again = client.put(f"{FAV}/store/{store}", headers=bearer(token))
    assert again.status_code == 200 and again.json() == first.json()
    assert count(db, Favourite) == 1


def test_remove_is_idempotent(client, db, api, stores, make_city):
    store = stores.add(make_city())
    token = api.token()
    client.put(f"{FAV}/store/{store}", headers=bearer(token))
    assert client.delete(f"{FAV}/store/{store}", headers=bearer(token)).status_code == 204
    assert count(db, Favourite) == 0
    assert client.delete(f"{FAV}/store/{store}", headers=bearer(token)).status_code == 204


def test_kinds_not_available_yet(client, db, api, no_deals):
    token = api.token()
    body = problem(
        client.put(f"{FAV}/deal/{uuid.uuid4()}", headers=bearer(token)), 400, "favourite_kind_unavailable"
    )
    assert body["kind"] == "deal"
    assert count(db, Favourite) == 0


def test_malformed_targets(client, db, api, stores):
    token = api.token()
    for path in ("/car/{id}", "/store/not-a-uuid", "/STORE/{id}"):
        problem(client.put(FAV + path.format(id=uuid.uuid4()), headers=bearer(token)), 422, "invalid_request")
    assert count(db, Favourite) == 0


def test_missing_target(client, db, api, stores):
    token = api.token()
    body = problem(
        client.put(f"{FAV}/store/{uuid.uuid4()}", headers=bearer(token)), 404, "favourite_target_not_found"
    )
    assert body["kind"] == "store"
    assert count(db, Favourite) == 0


def test_anonymous_visitors_get_401(client, db, stores, make_city):
    store = stores.add(make_city())
    problem(client.put(f"{FAV}/store/{store}"), 401, "unauthenticated")
    problem(client.delete(f"{FAV}/store/{store}"), 401, "unauthenticated")
    problem(client.get(FAV), 401, "unauthenticated")
    assert count(db, Favourite) == 0


def test_listing_with_a_cursor(client, db, api, stores, make_city):
    city = make_city()
    token = api.token()
    saved = [stores.add(city) for _ in range(5)]
    for target in saved:
        assert client.put(f"{FAV}/store/{target}", headers=bearer(token)).status_code == 201
    seen, cursor = [], None
    for _ in range(3):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(FAV, params=params, headers=bearer(token)).json()
        seen += [item["target_id"] for item in page["items"]]
        cursor = page["next_cursor"]
    assert cursor is None
    assert seen == [str(t) for t in reversed(saved)]  # newest first
    assert client.get(FAV, params={"kind": "home"}, headers=bearer(token)).json() == {
        "items": [],
        "next_cursor": None,
    }
    assert len(client.get(FAV, params={"kind": "store"}, headers=bearer(token)).json()["items"]) == 5


BAD_LISTINGS = [
    ({"cursor": "garbage"}, 400, "invalid_cursor"),
    ({"limit": 0}, 422, "invalid_request"),
    ({"limit": 101}, 422, "invalid_request"),
    ({"limit": "many"}, 422, "invalid_request"),
    ({"kind": "car"}, 422, "invalid_request"),
    ({"cursor": "x" * 513}, 422, "invalid_request"),
]


def test_bad_listing_parameters(client, api):
    token = api.token()
    for params, status, code in BAD_LISTINGS:
        problem(client.get(FAV, params=params, headers=bearer(token)), status, code)


def test_nobody_sees_or_changes_another_persons_favourites(client, db, api, stores, make_city):
    store = stores.add(make_city())
    alice, bob = api.token(), api.token(OTHER_PHONE)
    client.put(f"{FAV}/store/{store}", headers=bearer(alice))
    assert client.get(FAV, headers=bearer(bob)).json()["items"] == []
    assert (
        client.delete(f"{FAV}/store/{store}", headers=bearer(bob)).status_code == 204
    )  # removes bob's (none)
    assert count(db, Favourite) == 1
    assert len(client.get(FAV, headers=bearer(alice)).json()["items"]) == 1


def test_register_refuses_unknown_kinds():
    with pytest.raises(ValueError):
        favourites.register_favourite_target("car", lambda s, i: None)


def test_service_functions(db, stores, make_city, api):
    city = make_city()
    a, b = stores.add(city), stores.add(city)
    person_id = api.person_id(api.token())
    with db.session() as s:
        assert favourites.add_favourite(s, person_id, "store", a).created is True
        assert favourites.add_favourite(s, person_id, "store", a).created is False
        assert favourites.saved_targets(s, person_id, "store", [a, b]) == {a}
        assert favourites.saved_targets(s, None, "store", [a, b]) == set()
        with pytest.raises(AppError) as err:
            favourites.add_favourite(s, person_id, "store", uuid.uuid4())
        assert err.value.code == "favourite_target_not_found"
        assert favourites.remove_favourite(s, person_id, "store", a) is True
        assert favourites.remove_favourite(s, person_id, "store", a) is False
    with db.sessionmaker() as s:
        assert s.scalars(select(Favourite)).all() == []
