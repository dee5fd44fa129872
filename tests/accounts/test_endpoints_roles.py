"""Granting and revoking roles over the API: operators in their city, store owners for their staff."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from o2o.accounts import service
from o2o.accounts.models import RoleGrant
from o2o.accounts.permissions import Role
from tests.accounts.conftest import OTHER_PHONE, PHONE, THIRD_PHONE, bearer, count

PEOPLE = "/api/accounts/people"


def problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    return r.json()


def grants(db) -> set[tuple[str, str, uuid.UUID | None, uuid.UUID | None]]:
    with db.sessionmaker() as s:
        return {(str(g.person_id), g.role, g.city_id, g.store_id) for g in s.scalars(select(RoleGrant))}


@pytest.fixture
def world(db, api, make_city, make_store):
    """Two cities; an operator of city A, a platform-wide operator, a store owner in A, and a plain customer."""
    a, b = make_city("a"), make_city("b")
    people = {}
    for name, phone in (
        ("op_a", "+8613700137000"),
        ("op_all", "+8613600136000"),
        ("owner", THIRD_PHONE),
        ("alice", PHONE),
        ("bob", OTHER_PHONE),
    ):
        token = api.token(phone)
        people[name] = (token, api.person_id(token))
    store_a, store_a2 = make_store(a, "Store A"), make_store(a, "Store A2")
    with db.session() as s:
        service.ensure_role(s, people["op_a"][1], Role.PLATFORM_OPERATOR, city_id=a)
        service.ensure_role(s, people["op_all"][1], Role.PLATFORM_OPERATOR)
        service.ensure_role(s, people["owner"][1], Role.MERCHANT_OWNER, city_id=a, store_id=store_a)
    return {"a": a, "b": b, "store_a": store_a, "store_a2": store_a2, **people}


def roles_url(world, who: str) -> str:
    return f"{PEOPLE}/{world[who][1]}/roles"


def tok(world, who: str) -> dict:
    return bearer(world[who][0])


def test_operator_grants_in_their_city(client, db, world):
    url = roles_url(world, "alice")
    r = client.post(url, json={"role": "courier", "city_id": str(world["a"])}, headers=tok(world, "op_a"))
    assert r.status_code == 201
    assert (r.json()["role"], r.json()["city_id"], r.json()["store_id"]) == ("courier", str(world["a"]), None)
    again = client.post(url, json={"role": "courier", "city_id": str(world["a"])}, headers=tok(world, "op_a"))
    assert again.status_code == 200 and again.json()["id"] == r.json()["id"]
    with db.sessionmaker() as s:
        assert (
            s.scalars(select(RoleGrant.granted_by).where(RoleGrant.role == "courier")).one()
            == world["op_a"][1]
        )
    # The new role counts at once: alice's own profile lists it.
    me = client.get("/api/accounts/me", headers=tok(world, "alice")).json()
    assert {g["role"] for g in me["roles"]} == {"customer", "courier"}


REFUSED_GRANTS = [
    ("op_a", {"role": "courier", "city_id": "b"}, 403, "forbidden"),  # another city
    ("op_a", {"role": "platform_operator"}, 403, "forbidden"),  # platform-wide
    ("alice", {"role": "courier", "city_id": "a"}, 403, "forbidden"),  # not an operator (herself)
    ("bob", {"role": "courier", "city_id": "a"}, 403, "forbidden"),
    ("owner", {"role": "courier", "city_id": "a"}, 403, "forbidden"),
    ("owner", {"role": "merchant_staff", "city_id": "a", "store_id": "store_a2"}, 403, "forbidden"),
    ("owner", {"role": "merchant_owner", "city_id": "a", "store_id": "store_a"}, 403, "forbidden"),
    ("op_a", {"role": "courier"}, 400, "invalid_role_scope"),
    ("op_a", {"role": "courier", "city_id": "a", "store_id": "store_a"}, 400, "invalid_role_scope"),
    ("op_a", {"role": "merchant_staff", "store_id": "store_a"}, 400, "invalid_role_scope"),
    ("op_all", {"role": "customer", "city_id": "a"}, 400, "invalid_role_scope"),
    ("op_all", {"role": "courier", "city_id": "unknown"}, 400, "unknown_city"),
    ("op_a", {"role": "astronaut", "city_id": "a"}, 422, "invalid_request"),
    ("op_a", {"role": "courier", "city_id": "a", "note": "x"}, 422, "invalid_request"),
    ("op_a", {"role": 7, "city_id": "a"}, 422, "invalid_request"),
    ("op_a", {"role": "courier", "city_id": "not-a-uuid-at-all"}, 422, "invalid_request"),
]


def test_refused_grants_change_nothing(client, db, world):
    values = {
        "a": str(world["a"]),
        "b": str(world["b"]),
        "store_a": str(world["store_a"]),
        "store_a2": str(world["store_a2"]),
        "unknown": str(uuid.uuid4()),
    }
    before = grants(db)
    for who, payload, status, code in REFUSED_GRANTS:
        body = {k: values.get(v, v) if isinstance(v, str) and k != "role" else v for k, v in payload.items()}
        problem(client.post(roles_url(world, "alice"), json=body, headers=tok(world, who)), status, code)
        assert grants(db) == before, (who, payload)


def test_unknown_person(client, db, world):
    url = f"{PEOPLE}/{uuid.uuid4()}/roles"
    before = grants(db)
    problem(
        client.post(url, json={"role": "courier", "city_id": str(world["a"])}, headers=tok(world, "op_a")),
        404,
        "person_not_found",
    )
    # Someone who may not grant learns nothing about whether the person exists.
    problem(
        client.post(url, json={"role": "courier", "city_id": str(world["a"])}, headers=tok(world, "alice")),
        403,
        "forbidden",
    )
    problem(client.post(url, json={"role": "courier", "city_id": str(world["a"])}), 401, "unauthenticated")
    assert grants(db) == before


def test_store_owner_hires_and_lets_go_staff(client, db, world):
    url = roles_url(world, "bob")
    body = {"role": "merchant_staff", "city_id": str(world["a"]), "store_id": str(world["store_a"])}
    assert client.post(url, json=body, headers=tok(world, "owner")).status_code == 201
    query = {"role": "merchant_staff", "city_id": str(world["a"]), "store_id": str(world["store_a"])}
    problem(client.delete(url, params=query, headers=tok(world, "alice")), 403, "forbidden")
    assert (str(world["bob"][1]), "merchant_staff", world["a"], world["store_a"]) in grants(db)
    assert client.delete(url, params=query, headers=tok(world, "owner")).status_code == 204
    problem(client.delete(url, params=query, headers=tok(world, "owner")), 404, "role_grant_not_found")
    assert (str(world["bob"][1]), "merchant_staff", world["a"], world["store_a"]) not in grants(db)


def test_store_grants_are_checked_against_the_store_when_stores_are_known(client, db, world, stores):
    store = stores.add(world["a"])
    url = roles_url(world, "bob")
    ok = {"role": "merchant_staff", "city_id": str(world["a"]), "store_id": str(store)}
    assert client.post(url, json=ok, headers=tok(world, "op_a")).status_code == 201
    wrong_city = {
        "role": "merchant_staff",
        "city_id": str(world["a"]),
        "store_id": str(stores.add(world["b"])),
    }
    missing = {"role": "merchant_staff", "city_id": str(world["a"]), "store_id": str(uuid.uuid4())}
    before = grants(db)
    for body in (wrong_city, missing):
        problem(client.post(url, json=body, headers=tok(world, "op_all")), 400, "unknown_store")
    assert grants(db) == before


def test_revoking(client, db, world):
    url = roles_url(world, "alice")
    client.post(url, json={"role": "home_agent", "city_id": str(world["a"])}, headers=tok(world, "op_a"))
    query = {"role": "home_agent", "city_id": str(world["a"])}
    problem(
        client.delete(
            url, params={"role": "home_agent", "city_id": str(world["b"])}, headers=tok(world, "op_a")
        ),
        403,
        "forbidden",
    )
    problem(client.delete(url, params=query, headers=tok(world, "bob")), 403, "forbidden")
    problem(
        client.delete(url, params={"role": "astronaut"}, headers=tok(world, "op_a")), 422, "invalid_request"
    )
    problem(client.delete(url, params=query), 401, "unauthenticated")
    assert (str(world["alice"][1]), "home_agent", world["a"], None) in grants(db)
    assert client.delete(url, params=query, headers=tok(world, "op_a")).status_code == 204
    assert (str(world["alice"][1]), "home_agent", world["a"], None) not in grants(db)


def test_reading_roles(client, db, world):
    url = roles_url(world, "alice")
    client.post(url, json={"role": "courier", "city_id": str(world["a"])}, headers=tok(world, "op_all"))
    client.post(url, json={"role": "courier", "city_id": str(world["b"])}, headers=tok(world, "op_all"))
    mine = client.get(url, headers=tok(world, "alice"))
    assert mine.status_code == 200
    assert sorted((g["role"], g["city_id"]) for g in mine.json()) == sorted(
        [("customer", None), ("courier", str(world["a"])), ("courier", str(world["b"]))]
    )
    as_op_a = client.get(url, headers=tok(world, "op_a")).json()
    assert [(g["role"], g["city_id"]) for g in as_op_a] == [("courier", str(world["a"]))]
    assert len(client.get(url, headers=tok(world, "op_all")).json()) == 3
    problem(client.get(url, headers=tok(world, "bob")), 403, "forbidden")  # another person's data
    problem(client.get(url, headers=tok(world, "owner")), 403, "forbidden")
    problem(client.get(f"{PEOPLE}/{uuid.uuid4()}/roles", headers=tok(world, "op_a")), 404, "person_not_found")


def test_finding_people_by_phone(client, db, world):
    r = client.get(PEOPLE, params={"phone": "138 0013 8000"}, headers=tok(world, "op_a"))
    assert r.status_code == 200
    assert r.json() == {"id": str(world["alice"][1]), "phone_masked": "+86 138****8000", "display_name": None}
    problem(client.get(PEOPLE, params={"phone": PHONE}, headers=tok(world, "bob")), 403, "forbidden")
    problem(client.get(PEOPLE, params={"phone": PHONE}, headers=tok(world, "owner")), 403, "forbidden")
    problem(
        client.get(PEOPLE, params={"phone": "+8618800188000"}, headers=tok(world, "op_a")),
        404,
        "person_not_found",
    )
    problem(client.get(PEOPLE, params={"phone": "12"}, headers=tok(world, "op_a")), 400, "invalid_phone")
    problem(
        client.get(PEOPLE, params={"phone": "1" * 33}, headers=tok(world, "op_a")), 422, "invalid_request"
    )
    problem(client.get(PEOPLE, params={"phone": PHONE}), 401, "unauthenticated")
    assert count(db, RoleGrant) == 8  # nothing was granted by looking
