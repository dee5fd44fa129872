"""The profile API: reading and changing one's own profile, password and real name."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from o2o.accounts.models import Person
from o2o.kit.time import frozen_clock
from tests.accounts.conftest import OTHER_PHONE, PHONE, at, bearer, id_number

ME = "/api/accounts/me"


def problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == code
    return r.json()


def person_row(db, phone: str = PHONE) -> Person:
    with db.sessionmaker() as s:
        return s.scalars(select(Person).where(Person.phone_e164 == phone)).one()


def snapshot(db, phone: str = PHONE) -> dict:
    row = person_row(db, phone)
    return {c.key: getattr(row, c.key) for c in Person.__table__.columns}


def test_my_profile(client, api):
    token = api.token()
    body = client.get(ME, headers=bearer(token)).json()
    assert set(body) == {
        "id",
        "phone_e164",
        "phone_masked",
        "display_name",
        "locale",
        "home_city_id",
        "has_password",
        "verified",
        "real_name",
        "id_number_masked",
        "age",
        "roles",
        "created_at",
    }
    assert (body["phone_e164"], body["phone_masked"], body["locale"]) == (PHONE, "+86 138****8000", "en")


def test_update_profile(client, db, api, make_city):
    city = make_city()
    token = api.token()
    r = client.patch(
        ME,
        json={"display_name": "Han Meimei", "locale": "zh-CN", "home_city_id": str(city)},
        headers=bearer(token),
    )
    assert r.status_code == 200
    body = r.json()
    assert (body["display_name"], body["locale"], body["home_city_id"]) == ("Han Meimei", "zh-CN", str(city))
    r = client.patch(ME, json={"home_city_id": None}, headers=bearer(token))
    assert (r.json()["display_name"], r.json()["home_city_id"]) == ("Han Meimei", None)
    r = client.patch(ME, json={}, headers=bearer(token))
    assert r.status_code == 200 and r.json()["display_name"] == "Han Meimei"


BAD_PROFILE_UPDATES = [
    ({"home_city_id": str(uuid.uuid4())}, 400, "unknown_city"),
    ({"locale": "fr-FR"}, 400, "unsupported_locale"),
    ({"locale": None}, 422, "invalid_request"),
    ({"display_name": "   "}, 400, "invalid_display_name"),
    ({"display_name": "x" * 51}, 422, "invalid_request"),  # overlong
    ({"display_name": 5}, 422, "invalid_request"),  # wrong type
    ({"home_city_id": "beijing"}, 422, "invalid_request"),
    ({"phone_e164": OTHER_PHONE}, 422, "invalid_request"),  # not changeable: unknown field
    ({"roles": ["platform_operator"]}, 422, "invalid_request"),
    ({"verified": True}, 422, "invalid_request"),
]


def test_bad_profile_updates_change_nothing(client, db, api):
    token = api.token()
    before = snapshot(db)
    for payload, status, code in BAD_PROFILE_UPDATES:
        problem(client.patch(ME, json=payload, headers=bearer(token)), status, code)
        assert snapshot(db) == before, payload


def test_profile_needs_sign_in(client, db):
    problem(client.get(ME), 401, "unauthenticated")
    problem(client.patch(ME, json={"display_name": "x"}), 401, "unauthenticated")
    problem(client.put(f"{ME}/password", json={"password": "long enough"}), 401, "unauthenticated")
    problem(
        client.post(f"{ME}/real-name", json={"real_name": "李雷", "id_number": id_number()}),
        401,
        "unauthenticated",
    )


def test_set_and_change_password(client, db, api):
    with frozen_clock(at(2026, 3, 15, 2)) as clock:
        token = api.token()
        assert (
            client.put(
                f"{ME}/password", json={"password": "first password 1"}, headers=bearer(token)
            ).status_code
            == 204
        )
        assert client.get(ME, headers=bearer(token)).json()["has_password"] is True
        clock.advance(minutes=11)
        before = snapshot(db)
        problem(
            client.put(f"{ME}/password", json={"password": "second password 2"}, headers=bearer(token)),
            403,
            "reauthentication_required",
        )
        problem(
            client.put(
                f"{ME}/password",
                json={"password": "second password 2", "current_password": "nope"},
                headers=bearer(token),
            ),
            403,
            "invalid_current_password",
        )
        problem(
            client.put(
                f"{ME}/password",
                json={"password": "password", "current_password": "first password 1"},
                headers=bearer(token),
            ),
            400,
            "weak_password",
        )
        problem(
            client.put(f"{ME}/password", json={"password": "short"}, headers=bearer(token)),
            422,
            "invalid_request",
        )
        problem(
            client.put(f"{ME}/password", json={"password": "x" * 129}, headers=bearer(token)),
            422,
            "invalid_request",
        )
        problem(
            client.put(
                f"{ME}/password", json={"password": "long enough", "hint": "x"}, headers=bearer(token)
            ),
            422,
            "invalid_request",
        )
        assert snapshot(db) == before
        r = client.put(
            f"{ME}/password",
            json={"password": "second password 2", "current_password": "first password 1"},
            headers=bearer(token),
        )
        assert r.status_code == 204


def test_real_name(client, db, api, make_city):
    token = api.token()
    number = id_number(birth="20000307")
    with frozen_clock(at(2026, 3, 6, 16, 30)):  # 7 March 00:30 in Shanghai: the 26th birthday
        r = client.post(
            f"{ME}/real-name", json={"real_name": "李雷", "id_number": number}, headers=bearer(token)
        )
        assert r.status_code == 200
        body = r.json()
        assert (body["verified"], body["real_name"], body["age"]) == (True, "李雷", 26)
        assert body["id_number_masked"] == number[:6] + "********" + number[-4:]
        assert number not in r.text
        # In a city whose day has not turned yet, the age is still 25.
        la = make_city("la", timezone="America/Los_Angeles")
        assert client.patch(ME, json={"home_city_id": str(la)}, headers=bearer(token)).json()["age"] == 25
    row = snapshot(db)
    assert not any(number in str(v) for v in row.values())
    problem(
        client.post(
            f"{ME}/real-name", json={"real_name": "李雷", "id_number": number}, headers=bearer(token)
        ),
        409,
        "already_verified",
    )
    other = api.token(OTHER_PHONE)
    problem(
        client.post(
            f"{ME}/real-name",
            json={"real_name": "韩梅梅", "id_number": number.lower()},
            headers=bearer(other),
        ),
        409,
        "id_number_in_use",
    )
    assert person_row(db, OTHER_PHONE).verified_at is None


BAD_REAL_NAMES = [
    (
        {"real_name": "李雷", "id_number": id_number()[:17] + ("1" if id_number()[-1] == "0" else "0")},
        400,
        "invalid_id_number",
    ),
    ({"real_name": "李雷", "id_number": id_number(birth="19900230")}, 400, "invalid_id_number"),
    ({"real_name": "李雷", "id_number": id_number(birth="20990101")}, 400, "invalid_id_number"),
    ({"real_name": "李雷", "id_number": id_number(area="000000")}, 400, "invalid_id_number"),
    ({"real_name": "李雷", "id_number": "11010519491231002"}, 400, "invalid_id_number"),
    ({"real_name": "李雷", "id_number": "1" * 33}, 422, "invalid_request"),  # overlong
    ({"real_name": "李雷", "id_number": 110105194912310021}, 422, "invalid_request"),  # wrong type
    ({"real_name": "x" * 51, "id_number": id_number()}, 422, "invalid_request"),
    ({"real_name": "李雷"}, 422, "invalid_request"),
    ({"real_name": "李雷", "id_number": id_number(), "birth_date": "1990-01-01"}, 422, "invalid_request"),
    ({"real_name": "R2-D2", "id_number": id_number()}, 400, "invalid_real_name"),
]


def test_bad_real_name_input_changes_nothing(client, db, api):
    token = api.token()
    before = snapshot(db)
    for payload, status, code in BAD_REAL_NAMES:
        problem(client.post(f"{ME}/real-name", json=payload, headers=bearer(token)), status, code)
        assert snapshot(db) == before, payload
