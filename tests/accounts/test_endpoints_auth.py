"""The sign-in API: codes, sessions, tokens, CSRF for cookie calls, Idempotency-Key replays.

Every failure is checked for its status and code and for what did not change."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from o2o.accounts.models import AuthSession, OtpCode, Person, RoleGrant
from o2o.idempotency import IdempotencyRecord
from o2o.kit.time import frozen_clock
from o2o.outbox import OutboxMessage
from tests.accounts.conftest import OTHER_PHONE, PHONE, at, bearer, count, latest_code, sms_messages, wrong

OTP = "/api/accounts/otp"
SESSIONS = "/api/accounts/sessions"
ME = "/api/accounts/me"
T0 = at(2026, 3, 15, 2, 0, 0)


def problem(r, status: int, code: str) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/problem+json"
    body = r.json()
    assert body["code"] == code and body["status"] == status
    return body


def attempts(db) -> int:
    with db.sessionmaker() as s:
        return s.scalars(select(OtpCode.attempts).order_by(OtpCode.seq.desc())).first()


def nothing_signed_in(db) -> None:
    assert count(db, Person) == 0 and count(db, AuthSession) == 0 and count(db, RoleGrant) == 0


# --------------------------------------------------------------------------------------------------------------
# Codes


def test_send_code(client, db):
    with frozen_clock(T0):
        r = client.post(OTP, json={"phone": "138 0013 8000"})
    assert r.status_code == 202
    assert r.json() == {"phone_e164": PHONE, "expires_at": "2026-03-15T02:05:00Z"}
    assert count(db, OtpCode) == 1 and len(sms_messages(db, PHONE)) == 1


def test_send_code_to_a_bad_phone(client, db):
    for phone in ("abc", "12345", "010 6552 9988", "+86 138 0013 800", " "):
        problem(client.post(OTP, json={"phone": phone}), 400, "invalid_phone")
    assert count(db, OtpCode) == 0 and count(db, OutboxMessage) == 0


MALFORMED_CODE_REQUESTS = [
    ({"phone": PHONE, "channel": "sms"}, "channel"),  # unknown field
    ({"phone": 13800138000}, "phone"),  # wrong type
    ({"phone": "1" * 33}, "phone"),  # overlong
    ({"phone": ""}, "phone"),
    ({}, "phone"),
    ([PHONE], "body"),
]


def test_send_code_malformed(client, db):
    for payload, where in MALFORMED_CODE_REQUESTS:
        body = problem(client.post(OTP, json=payload), 422, "invalid_request")
        assert any(where in [str(p) for p in e["loc"]] for e in body["errors"]), payload
    assert count(db, OtpCode) == 0 and count(db, OutboxMessage) == 0


def test_send_code_rate_limit(client, db):
    with frozen_clock(T0) as clock:
        for _ in range(5):
            assert client.post(OTP, json={"phone": PHONE}).status_code == 202
            clock.advance(minutes=1)
        r = client.post(OTP, json={"phone": PHONE})
    body = problem(r, 429, "otp_rate_limited")
    assert r.headers["retry-after"] == "3300" and body["retry_after"] == 3300
    assert count(db, OtpCode) == 5 and len(sms_messages(db)) == 5


# --------------------------------------------------------------------------------------------------------------
# Signing in


def test_sign_up_then_sign_in(client, db, api):
    code = api.send_code()
    r = client.post(SESSIONS, json={"phone": "+86 138 0013 8000", "code": code, "display_name": "Li Lei"})
    assert r.status_code == 201
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["created"] is True and body["token_type"] == "bearer"
    expires = dt.datetime.fromisoformat(body["expires_at"])
    assert dt.timedelta(days=29, hours=23) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    person = body["person"]
    assert (person["phone_e164"], person["phone_masked"], person["display_name"]) == (
        PHONE,
        "+86 138****8000",
        "Li Lei",
    )
    assert [g["role"] for g in person["roles"]] == ["customer"]
    assert (person["verified"], person["age"], person["has_password"]) == (False, None, False)
    me = client.get(ME, headers=bearer(body["token"]))
    assert me.status_code == 200 and me.json()["id"] == person["id"]
    again = api.sign_in()
    assert again["created"] is False and again["person"]["id"] == person["id"]
    assert again["token"] != body["token"]
    assert count(db, Person) == 1 and count(db, AuthSession) == 2


def test_wrong_code_is_refused_but_counted(client, db, api):
    code = api.send_code()
    body = problem(client.post(SESSIONS, json={"phone": PHONE, "code": wrong(code)}), 400, "otp_invalid")
    assert body["attempts_left"] == 4
    assert attempts(db) == 1  # the spent try was committed with the failure
    nothing_signed_in(db)


def test_five_wrong_codes_kill_the_code(client, db, api):
    code = api.send_code()
    for left in (4, 3, 2, 1, 0):
        body = problem(client.post(SESSIONS, json={"phone": PHONE, "code": wrong(code)}), 400, "otp_invalid")
        assert body["attempts_left"] == left
    problem(client.post(SESSIONS, json={"phone": PHONE, "code": code}), 429, "otp_attempts_exceeded")
    assert attempts(db) == 5
    nothing_signed_in(db)


def test_expired_code(client, db, api):
    with frozen_clock(T0) as clock:
        code = api.send_code()
        clock.advance(minutes=5)
        problem(client.post(SESSIONS, json={"phone": PHONE, "code": code}), 400, "otp_expired")
    assert attempts(db) == 0
    nothing_signed_in(db)


def test_reused_code(client, db, api):
    code = api.send_code()
    assert client.post(SESSIONS, json={"phone": PHONE, "code": code}).status_code == 201
    problem(client.post(SESSIONS, json={"phone": PHONE, "code": code}), 409, "otp_already_used")
    assert count(db, AuthSession) == 1 and count(db, Person) == 1


def test_code_for_another_phone(client, db, api):
    code = api.send_code(PHONE)
    body = problem(client.post(SESSIONS, json={"phone": OTHER_PHONE, "code": code}), 400, "otp_invalid")
    assert "attempts_left" not in body
    nothing_signed_in(db)


MALFORMED_SIGN_INS = [
    {"phone": PHONE},  # neither code nor password
    {"phone": PHONE, "code": "123456", "password": "secret secret"},  # both
    {"phone": PHONE, "code": "12345"},
    {"phone": PHONE, "code": "1234567"},
    {"phone": PHONE, "code": "12345a"},
    {"phone": PHONE, "code": 123456},  # wrong type
    {"phone": PHONE, "code": "123456", "remember": True},  # unknown field
    {"phone": "1" * 33, "code": "123456"},  # overlong
    {"phone": PHONE, "code": "123456", "display_name": "x" * 51},
    {"phone": PHONE, "password": "p" * 129},
    {"phone": PHONE, "password": "secret secret", "display_name": "x"},
    {"phone": PHONE, "code": None, "password": None},
]


def test_malformed_sign_in(client, db, api):
    api.send_code()
    for payload in MALFORMED_SIGN_INS:
        problem(client.post(SESSIONS, json=payload), 422, "invalid_request")
    assert attempts(db) == 0
    nothing_signed_in(db)


def test_malformed_phone_on_sign_in(client, db, api):
    problem(client.post(SESSIONS, json={"phone": "010 6552 9988", "code": "123456"}), 400, "invalid_phone")
    nothing_signed_in(db)


def test_password_sign_in_and_its_failures(client, db, api):
    token = api.token()
    assert (
        client.put(
            f"{ME}/password", json={"password": "correct horse battery"}, headers=bearer(token)
        ).status_code
        == 204
    )
    ok = client.post(SESSIONS, json={"phone": "13800138000", "password": "correct horse battery"})
    assert ok.status_code == 201 and ok.json()["created"] is False
    sessions_before = count(db, AuthSession)
    bad = problem(
        client.post(SESSIONS, json={"phone": PHONE, "password": "wrong horse"}), 401, "invalid_credentials"
    )
    unknown = problem(
        client.post(SESSIONS, json={"phone": OTHER_PHONE, "password": "correct horse battery"}),
        401,
        "invalid_credentials",
    )
    assert bad == unknown  # the same answer: no way to tell which phones have accounts
    assert count(db, AuthSession) == sessions_before and count(db, Person) == 1
    with db.sessionmaker() as s:
        assert s.scalars(select(Person.failed_password_attempts)).one() == 1


# --------------------------------------------------------------------------------------------------------------
# Idempotency-Key


def test_a_replayed_sign_in_returns_the_first_answer(client, db, api):
    code = api.send_code()
    headers = {"Idempotency-Key": "sign-in-1"}
    first = client.post(SESSIONS, json={"phone": PHONE, "code": code}, headers=headers)
    second = client.post(SESSIONS, json={"phone": PHONE, "code": code}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.content == first.content
    assert second.headers["idempotent-replayed"] == "true"
    assert count(db, AuthSession) == 1 and count(db, Person) == 1 and attempts(db) == 1
    assert client.get(ME, headers=bearer(second.json()["token"])).status_code == 200
    reused = client.post(SESSIONS, json={"phone": PHONE, "code": wrong(code)}, headers=headers)
    problem(reused, 422, "idempotency_key_reused")
    assert attempts(db) == 1


def test_a_failed_sign_in_is_not_remembered_but_its_try_is(client, db, api):
    code = api.send_code()
    headers = {"Idempotency-Key": "sign-in-2"}
    payload = {"phone": PHONE, "code": wrong(code)}
    problem(client.post(SESSIONS, json=payload, headers=headers), 400, "otp_invalid")
    assert attempts(db) == 1 and count(db, IdempotencyRecord) == 0
    again = problem(client.post(SESSIONS, json=payload, headers=headers), 400, "otp_invalid")
    assert again["attempts_left"] == 3 and attempts(db) == 2


def test_a_replayed_code_request_sends_one_message(client, db):
    headers = {"Idempotency-Key": "otp-1"}
    a = client.post(OTP, json={"phone": PHONE}, headers=headers)
    b = client.post(OTP, json={"phone": PHONE}, headers=headers)
    assert a.status_code == b.status_code == 202 and a.content == b.content
    assert count(db, OtpCode) == 1 and len(sms_messages(db)) == 1


# --------------------------------------------------------------------------------------------------------------
# Tokens


def test_missing_and_bad_credentials(client, db, api):
    token = api.token()
    r = client.get(ME)
    problem(r, 401, "unauthenticated")
    assert r.headers["www-authenticate"] == "Bearer"
    for header in (f"Bearer {token}x", "Bearer " + "A" * 43, f"Basic {token}", "Bearer", "Bearer   ", token):
        r = client.get(ME, headers={"Authorization": header})
        problem(r, 401, "invalid_token")
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    client.cookies.set("o2o_session", "forged")
    problem(client.get(ME), 401, "invalid_token")


def test_expired_token(client, db, api):
    with frozen_clock(T0) as clock:
        token = api.token()
        clock.advance(days=29, hours=23)
        assert client.get(ME, headers=bearer(token)).status_code == 200
        clock.advance(hours=1)
        problem(client.get(ME, headers=bearer(token)), 401, "invalid_token")


def test_sign_out_revokes_only_that_token(client, db, api):
    one, two = api.token(), api.token()
    assert client.delete(f"{SESSIONS}/current", headers=bearer(one)).status_code == 204
    problem(client.get(ME, headers=bearer(one)), 401, "invalid_token")
    problem(client.delete(f"{SESSIONS}/current", headers=bearer(one)), 401, "invalid_token")
    assert client.get(ME, headers=bearer(two)).status_code == 200
    problem(client.delete(f"{SESSIONS}/current"), 401, "unauthenticated")


def test_my_devices(client, db, api):
    mine, other = api.token(), api.token()
    theirs = api.token(OTHER_PHONE)
    r = client.get(f"{ME}/sessions", headers=bearer(mine))
    assert r.status_code == 200
    devices = r.json()
    assert len(devices) == 2 and [d["current"] for d in devices] == [False, True]
    their_id = client.get(f"{ME}/sessions", headers=bearer(theirs)).json()[0]["id"]
    # Another person's session: not found (and not revoked).
    problem(client.delete(f"{ME}/sessions/{their_id}", headers=bearer(mine)), 404, "session_not_found")
    assert client.get(ME, headers=bearer(theirs)).status_code == 200
    other_id = devices[0]["id"]
    assert client.delete(f"{ME}/sessions/{other_id}", headers=bearer(mine)).status_code == 204
    problem(client.get(ME, headers=bearer(other)), 401, "invalid_token")
    problem(client.delete(f"{ME}/sessions/not-a-uuid", headers=bearer(mine)), 422, "invalid_request")


# --------------------------------------------------------------------------------------------------------------
# The page cookie on the API: reads need nothing more, changes need the CSRF token.


def test_cookie_authenticated_changes_need_the_csrf_token(client, db, api):
    token = api.token()
    client.cookies.set("o2o_session", token)
    assert client.get(ME).status_code == 200  # reading: no token needed
    problem(client.patch(ME, json={"display_name": "Mallory"}), 403, "csrf_failed")
    client.cookies.set("o2o_csrf", "the-csrf-token")
    problem(
        client.patch(ME, json={"display_name": "Mallory"}, headers={"X-CSRF-Token": "another"}),
        403,
        "csrf_failed",
    )
    problem(client.delete(f"{SESSIONS}/current"), 403, "csrf_failed")
    with db.sessionmaker() as s:
        assert s.scalars(select(Person.display_name)).one() is None
        assert s.scalars(select(AuthSession.revoked_at)).one() is None
    r = client.patch(ME, json={"display_name": "Li Lei"}, headers={"X-CSRF-Token": "the-csrf-token"})
    assert r.status_code == 200 and r.json()["display_name"] == "Li Lei"


def test_bearer_calls_need_no_csrf_token(client, db, api):
    token = api.token()
    client.cookies.clear()
    r = client.patch(ME, json={"display_name": "Li Lei"}, headers=bearer(token))
    assert r.status_code == 200


def test_token_is_never_stored_in_clear(client, db, api):
    body = api.sign_in()
    with db.sessionmaker() as s:
        rows = s.scalars(select(AuthSession)).all()
    assert all(body["token"] not in (r.token_hash or "") for r in rows)
    assert dt.datetime.fromisoformat(body["expires_at"]) > dt.datetime.now(dt.UTC)


def test_the_code_only_travels_in_the_text_message(client, db, api):
    code = api.send_code()
    r = client.post(OTP, json={"phone": OTHER_PHONE})
    assert code not in r.text
    assert latest_code(db, PHONE) == code
