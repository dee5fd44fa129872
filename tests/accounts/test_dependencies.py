"""The dependencies other domains use: CurrentPrincipal, OptionalPrincipal and require(action, resource)."""

from __future__ import annotations

import uuid
from typing import Annotated

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from o2o.accounts import service
from o2o.accounts.endpoints import CurrentPrincipal, OptionalPrincipal, require
from o2o.accounts.permissions import Action, Principal, Resource, Role
from o2o.http import api_router
from tests.accounts.conftest import OTHER_PHONE, PHONE, bearer

_city: dict[str, uuid.UUID] = {}

router = api_router(prefix="/t-accounts")


def store_resource(store_id: uuid.UUID) -> Resource:
    """What the stores domain would write: the store's city, looked up by id."""
    return Resource(city_id=_city["id"], store_id=store_id)


@router.post("/stores/{store_id}/accept")
def accept_order(
    store_id: uuid.UUID,
    principal: Annotated[Principal, Depends(require(Action.STORE_OPERATE, store_resource))],
) -> dict:
    return {"by": str(principal.person_id), "store": str(store_id)}


@router.get("/whoami")
def whoami(principal: OptionalPrincipal) -> dict:
    return {"person_id": str(principal.person_id) if principal else None}


@router.get("/mine")
def mine(principal: CurrentPrincipal) -> dict:
    return {"person_id": str(principal.person_id), "roles": sorted(g.role.value for g in principal.grants)}


@pytest.fixture
def tclient(app: FastAPI):
    app.include_router(router)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def staff_token(db, api, make_city, make_store):
    token = api.token(PHONE)
    city = _city["id"] = make_city()
    _city["store"] = make_store(city, "Staffed")
    _city["other_store"] = make_store(city, "Elsewhere")
    with db.session() as s:
        service.ensure_role(s, api.person_id(token), Role.MERCHANT_STAFF, city_id=city, store_id=_city["store"])
    return token


def code_of(r) -> tuple[int, str]:
    return r.status_code, r.json().get("code")


def test_require_with_a_resource(tclient, api, staff_token):
    assert tclient.post(f"/t-accounts/stores/{_city['store']}/accept", headers=bearer(staff_token)).status_code == 200
    assert code_of(tclient.post(f"/t-accounts/stores/{_city['other_store']}/accept", headers=bearer(staff_token))) == (
        403,
        "forbidden",
    )
    customer = api.token(OTHER_PHONE)
    assert code_of(tclient.post(f"/t-accounts/stores/{_city['store']}/accept", headers=bearer(customer))) == (
        403,
        "forbidden",
    )
    assert code_of(tclient.post(f"/t-accounts/stores/{_city['store']}/accept")) == (401, "unauthenticated")
    assert code_of(tclient.post(f"/t-accounts/stores/{_city['store']}/accept", headers=bearer("forged"))) == (
        401,
        "invalid_token",
    )


def test_cookie_calls_to_other_domains_need_the_csrf_token_too(tclient, staff_token):
    tclient.cookies.set("o2o_session", staff_token)
    assert code_of(tclient.post(f"/t-accounts/stores/{_city['store']}/accept")) == (403, "csrf_failed")
    tclient.cookies.set("o2o_csrf", "t")
    assert (
        tclient.post(f"/t-accounts/stores/{_city['store']}/accept", headers={"X-CSRF-Token": "t"}).status_code == 200
    )


def test_optional_and_current_principal(tclient, api, staff_token):
    assert tclient.get("/t-accounts/whoami").json() == {"person_id": None}
    person_id = str(api.person_id(staff_token))
    assert tclient.get("/t-accounts/whoami", headers=bearer(staff_token)).json() == {"person_id": person_id}
    # A credential that was sent must be valid, even where signing in is optional.
    assert code_of(tclient.get("/t-accounts/whoami", headers=bearer("forged"))) == (401, "invalid_token")
    assert code_of(tclient.get("/t-accounts/mine")) == (401, "unauthenticated")
    body = tclient.get("/t-accounts/mine", headers=bearer(staff_token)).json()
    assert body == {"person_id": person_id, "roles": ["customer", "merchant_staff"]}
