"""The accounts pages: sign up, sign in (code or password), sign out, the profile, favourite buttons, the dev
SMS outbox. Forms re-render with a message and what was typed; every form checks the CSRF token."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from o2o.accounts.models import AuthSession, Favourite, OtpCode, Person
from o2o.accounts.pages import safe_next
from o2o.config import Settings
from o2o.outbox import OutboxMessage
from o2o.web.render import templates
from tests.accounts.conftest import (
    OTHER_PHONE,
    PHONE,
    bearer,
    count,
    id_number,
    latest_code,
    sms_messages,
    wrong,
)


def csrf(client: TestClient, path: str = "/signin") -> str:
    r = client.get(path)
    assert r.status_code == 200
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    assert client.cookies.get("o2o_csrf") == token
    return token


def value_of(html: str, testid: str) -> str | None:
    tag = re.search(rf'<input[^>]*data-testid="{testid}"[^>]*>', html, re.DOTALL)
    assert tag, f"no input {testid}"
    found = re.search(r'value="([^"]*)"', tag.group(0))
    return found.group(1) if found else None


def error_code(html: str) -> str | None:
    found = re.search(r'data-code="([^"]+)"', html)
    return found.group(1) if found else None


def web_sign_in(client: TestClient, db, phone: str = PHONE, mode: str = "signin", **extra: str):
    token = csrf(client, f"/{mode}")
    r = client.post(f"/{mode}/code", data={"phone": phone, "csrf_token": token, **extra})
    assert r.status_code == 200, r.text
    code = latest_code(db, phone)
    return client.post(
        f"/{mode}/verify",
        data={"phone": phone, "code": code, "csrf_token": token, **extra},
        follow_redirects=False,
    )


def session_token(client: TestClient) -> str:
    return client.cookies.get("o2o_session")


# --------------------------------------------------------------------------------------------------------------
# Signing up and in


def test_signup_page(client):
    r = client.get("/signup")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    for testid in ("phone", "send-code", "display-name"):
        assert f'data-testid="{testid}"' in r.text
    assert '<label for="phone">' in r.text and 'id="phone"' in r.text
    assert "o2o_csrf" in r.headers["set-cookie"] and "HttpOnly" in r.headers["set-cookie"]
    assert 'href="/signin"' in r.text  # the nav offers signing in: nobody is signed in


def test_sign_up_with_a_code(client, db):
    token = csrf(client, "/signup")
    r = client.post(
        "/signup/code", data={"phone": "138 0013 8000", "display_name": "Li Lei", "csrf_token": token}
    )
    assert r.status_code == 200
    for testid in ("code", "verify"):
        assert f'data-testid="{testid}"' in r.text
    assert 'data-testid="notice"' in r.text and "+86 138 0013 8000" in r.text
    assert value_of(r.text, "code") == ""
    code = latest_code(db)
    r = client.post(
        "/signup/verify",
        data={"phone": PHONE, "code": code, "display_name": "Li Lei", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/me"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("o2o_session=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie and "Max-Age=2592000" in cookie
    with db.sessionmaker() as s:
        person = s.scalars(select(Person)).one()
        assert (person.phone_e164, person.display_name) == (PHONE, "Li Lei")
        assert s.scalars(select(AuthSession.channel)).one() == "web"
    me = client.get("/me")
    assert me.status_code == 200
    assert 'data-testid="nav-me"' in me.text and "Li Lei" in me.text
    assert "+86 138****8000" in me.text and 'data-testid="signout"' in me.text
    assert 'data-role="customer"' in me.text


def test_cookie_is_secure_over_https(app, db):
    with TestClient(app, base_url="https://testserver") as client:
        r = web_sign_in(client, db)
    assert r.status_code == 303 and "Secure" in r.headers["set-cookie"]


def test_sign_in_goes_back_where_the_person_came_from(client, db):
    token = csrf(client, "/signin?next=/stores/abc%3Fx%3D1")
    page = client.get("/signin?next=/stores/abc%3Fx%3D1").text
    assert 'name="next" value="/stores/abc?x=1"' in page
    client.post("/signin/code", data={"phone": PHONE, "csrf_token": token, "next": "/stores/abc?x=1"})
    r = client.post(
        "/signin/verify",
        data={"phone": PHONE, "code": latest_code(db), "csrf_token": token, "next": "/stores/abc?x=1"},
        follow_redirects=False,
    )
    assert r.headers["location"] == "/stores/abc?x=1"


@pytest.mark.parametrize(
    "next_url", ["//evil.example/x", "https://evil.example", "/\\evil", "/ok\r\nSet-Cookie:x"]
)
def test_next_cannot_leave_the_site(next_url):
    assert safe_next(next_url) == "/me"


def test_next_is_checked_when_signing_in(client, db):
    token = csrf(client)
    client.post("/signin/code", data={"phone": PHONE, "csrf_token": token, "next": "//evil.example/x"})
    r = client.post(
        "/signin/verify",
        data={"phone": PHONE, "code": latest_code(db), "csrf_token": token, "next": "//evil.example/x"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/me"


def test_signed_in_people_skip_the_sign_in_page(client, db):
    web_sign_in(client, db)
    r = client.get("/signin", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/me"


def test_bad_phone_re_renders_the_form(client, db):
    token = csrf(client, "/signup")
    for phone in ("abc", "010 6552 9988", "1" * 40):
        r = client.post("/signup/code", data={"phone": phone, "display_name": "Li Lei", "csrf_token": token})
        assert r.status_code == 400
        assert error_code(r.text) == "invalid_phone"
        assert 'role="alert"' in r.text and "Enter a mobile number" in r.text
        assert value_of(r.text, "phone") == phone and value_of(r.text, "display-name") == "Li Lei"
        assert 'aria-invalid="true"' in r.text
    assert count(db, OtpCode) == 0 and count(db, OutboxMessage) == 0


def test_rate_limit_on_the_page(client, db):
    token = csrf(client)
    for _ in range(5):
        assert client.post("/signin/code", data={"phone": PHONE, "csrf_token": token}).status_code == 200
    r = client.post("/signin/code", data={"phone": PHONE, "csrf_token": token})
    assert r.status_code == 429 and error_code(r.text) == "otp_rate_limited"
    assert "Try again in 60 minutes" in r.text and value_of(r.text, "phone") == PHONE
    assert count(db, OtpCode) == 5


def test_wrong_code_re_renders_and_counts(client, db):
    token = csrf(client)
    client.post("/signin/code", data={"phone": PHONE, "csrf_token": token})
    typed = wrong(latest_code(db))
    r = client.post("/signin/verify", data={"phone": PHONE, "code": typed, "csrf_token": token})
    assert r.status_code == 400 and error_code(r.text) == "otp_invalid"
    assert "4 tries left" in r.text
    assert value_of(r.text, "code") == typed and 'name="phone" value="+8613800138000"' in r.text
    assert 'data-testid="resend"' in r.text
    with db.sessionmaker() as s:
        assert s.scalars(select(OtpCode.attempts)).one() == 1
    assert count(db, Person) == 0 and count(db, AuthSession) == 0 and "o2o_session" not in client.cookies


def test_malformed_code_spends_no_try(client, db):
    token = csrf(client)
    client.post("/signin/code", data={"phone": PHONE, "csrf_token": token})
    for typed in ("12a456", "123", "", "1234567", "１２３４５６"):
        r = client.post("/signin/verify", data={"phone": PHONE, "code": typed, "csrf_token": token})
        assert r.status_code == 400 and error_code(r.text) == "otp_malformed", typed
    with db.sessionmaker() as s:
        assert s.scalars(select(OtpCode.attempts)).one() == 0
    assert count(db, Person) == 0


def test_expired_and_reused_codes_on_the_page(client, db):
    r = web_sign_in(client, db)
    assert r.status_code == 303
    code = latest_code(db)
    client.cookies.delete("o2o_session")
    token = client.cookies.get("o2o_csrf")
    r = client.post("/signin/verify", data={"phone": PHONE, "code": code, "csrf_token": token})
    assert r.status_code == 409 and error_code(r.text) == "otp_already_used"
    assert count(db, AuthSession) == 1


def test_password_sign_in_on_the_page(client, db, api):
    bearer_token = api.token()
    client.put(
        "/api/accounts/me/password", json={"password": "correct horse battery"}, headers=bearer(bearer_token)
    )
    token = csrf(client)
    page = client.get("/signin").text
    for testid in ("password-phone", "password", "password-signin"):
        assert f'data-testid="{testid}"' in page
    r = client.post("/signin/password", data={"phone": PHONE, "password": "wrong horse", "csrf_token": token})
    assert r.status_code == 401 and error_code(r.text) == "invalid_credentials"
    assert value_of(r.text, "password-phone") == PHONE and value_of(r.text, "password") is None
    sessions = count(db, AuthSession)
    r = client.post(
        "/signin/password",
        data={"phone": PHONE, "password": "correct horse battery", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303 and session_token(client)
    assert count(db, AuthSession) == sessions + 1


# --------------------------------------------------------------------------------------------------------------
# CSRF on every form


SIGN_IN_FORMS = [
    ("/signup/code", {"phone": PHONE}),
    ("/signup/verify", {"phone": PHONE, "code": "123456"}),
    ("/signin/code", {"phone": PHONE}),
    ("/signin/verify", {"phone": PHONE, "code": "123456"}),
    ("/signin/password", {"phone": PHONE, "password": "whatever it is"}),
]


def test_sign_in_forms_need_the_csrf_token(client, db):
    csrf(client)
    for path, data in SIGN_IN_FORMS:
        for token in (None, "", "forged"):
            payload = data | ({"csrf_token": token} if token is not None else {})
            r = client.post(path, data=payload)
            assert r.status_code == 403 and error_code(r.text) == "csrf_failed", (path, token)
            assert r.headers["content-type"].startswith("text/html")
    client.cookies.delete("o2o_csrf")  # a token in the form but no cookie to match it
    r = client.post("/signin/code", data={"phone": PHONE, "csrf_token": "whatever"})
    assert r.status_code == 403 and error_code(r.text) == "csrf_failed"
    assert count(db, OtpCode) == 0 and count(db, OutboxMessage) == 0 and count(db, Person) == 0


def test_verify_without_csrf_spends_no_try(client, db):
    token = csrf(client)
    client.post("/signin/code", data={"phone": PHONE, "csrf_token": token})
    r = client.post("/signin/verify", data={"phone": PHONE, "code": latest_code(db)})
    assert r.status_code == 403 and error_code(r.text) == "csrf_failed"
    with db.sessionmaker() as s:
        assert s.scalars(select(OtpCode.attempts)).one() == 0
    assert count(db, Person) == 0 and count(db, AuthSession) == 0


def test_profile_forms_need_the_csrf_token(client, db):
    web_sign_in(client, db)
    for path, data in (
        ("/me/profile", {"display_name": "Mallory"}),
        ("/me/password", {"password": "correct horse battery"}),
        ("/me/real-name", {"real_name": "李雷", "id_number": id_number()}),
    ):
        r = client.post(path, data=data)
        assert r.status_code == 403 and error_code(r.text) == "csrf_failed", path
    with db.sessionmaker() as s:
        person = s.scalars(select(Person)).one()
        assert (person.display_name, person.password_hash, person.verified_at) == (None, None, None)


def test_sign_out(client, db):
    web_sign_in(client, db)
    token = session_token(client)
    r = client.post("/signout", data={}, follow_redirects=False)
    assert r.status_code == 403 and error_code(r.text) == "csrf_failed"
    assert client.get("/api/accounts/me", headers=bearer(token)).status_code == 200  # still signed in
    r = client.post("/signout", data={"csrf_token": client.cookies.get("o2o_csrf")}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    assert 'o2o_session=""' in r.headers["set-cookie"] and "Max-Age=0" in r.headers["set-cookie"]
    assert client.get("/api/accounts/me", headers=bearer(token)).json()["code"] == "invalid_token"
    assert client.get("/me", follow_redirects=False).headers["location"] == "/signin?next=/me"


def test_a_stale_cookie_is_just_signed_out(client, db):
    client.cookies.set("o2o_session", "not-a-real-token")
    r = client.get("/signin")
    assert r.status_code == 200 and 'data-testid="nav-me"' not in r.text
    assert client.get("/me", follow_redirects=False).status_code == 303


# --------------------------------------------------------------------------------------------------------------
# The profile page


def test_profile_page_forms(client, db):
    web_sign_in(client, db)
    token = client.cookies.get("o2o_csrf")
    page = client.get("/me").text
    assert 'data-testid="unverified"' in page and 'data-testid="no-favourites"' in page
    r = client.post(
        "/me/profile", data={"display_name": "  Han Meimei ", "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/me?done=profile"
    page = client.get("/me?done=profile").text
    assert "Han Meimei" in page and "Your profile is saved." in page
    r = client.post("/me/profile", data={"display_name": "x" * 51, "csrf_token": token})
    assert r.status_code == 400 and error_code(r.text) == "invalid_display_name"
    assert value_of(r.text, "display-name") == "x" * 51
    r = client.post("/me/password", data={"password": "password", "csrf_token": token})
    assert r.status_code == 400 and error_code(r.text) == "weak_password"
    r = client.post(
        "/me/password",
        data={"password": "correct horse battery", "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    with db.sessionmaker() as s:
        person = s.scalars(select(Person)).one()
        assert person.display_name == "Han Meimei" and person.password_hash is not None


def test_real_name_on_the_profile_page(client, db):
    web_sign_in(client, db)
    token = client.cookies.get("o2o_csrf")
    number = id_number(birth="19900307")
    bad = number[:17] + ("0" if number[-1] != "0" else "1")
    r = client.post("/me/real-name", data={"real_name": "李雷", "id_number": bad, "csrf_token": token})
    assert r.status_code == 400 and error_code(r.text) == "invalid_id_number"
    assert "check character" in r.text
    assert value_of(r.text, "real-name") == "李雷" and value_of(r.text, "id-number") == bad
    with db.sessionmaker() as s:
        assert s.scalars(select(Person.verified_at)).one() is None
    r = client.post(
        "/me/real-name",
        data={"real_name": "李雷", "id_number": number, "csrf_token": token},
        follow_redirects=False,
    )
    assert r.status_code == 303
    page = client.get("/me").text
    assert 'data-testid="verified"' in page and number[:6] + "********" + number[-4:] in page
    assert number not in page and 'data-testid="real-name-form"' not in page


def test_a_second_account_cannot_reuse_a_number_on_the_page(client, db, api):
    number = id_number()
    other = api.token(OTHER_PHONE)
    client.post(
        "/api/accounts/me/real-name", json={"real_name": "韩梅梅", "id_number": number}, headers=bearer(other)
    )
    client.cookies.clear()
    web_sign_in(client, db)
    r = client.post(
        "/me/real-name",
        data={"real_name": "李雷", "id_number": number, "csrf_token": client.cookies.get("o2o_csrf")},
    )
    assert r.status_code == 409 and error_code(r.text) == "id_number_in_use"


# --------------------------------------------------------------------------------------------------------------
# Favourite buttons


def test_anonymous_favourite_button_goes_to_sign_up(client, db, stores, make_city):
    store = stores.add(make_city())
    token = csrf(client)
    r = client.post(
        f"/me/favourites/store/{store}",
        data={"csrf_token": token, "next": "/stores/x?page=2"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/signup?next=/stores/x%3Fpage%3D2"
    assert count(db, Favourite) == 0


def test_favourite_button_saves_and_removes(client, db, stores, make_city):
    store = stores.add(make_city())
    web_sign_in(client, db)
    token = client.cookies.get("o2o_csrf")
    r = client.post(
        f"/me/favourites/store/{store}",
        data={"csrf_token": token, "next": "/stores/x"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/stores/x"
    assert count(db, Favourite) == 1
    page = client.get("/me").text
    assert f'data-target="{store}"' in page and f'href="/stores/{store}"' in page
    r = client.post(
        f"/me/favourites/store/{store}",
        data={"csrf_token": token, "action": "remove", "next": "/me"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and count(db, Favourite) == 0
    r = client.post(f"/me/favourites/store/{store}", data={"next": "/me"})
    assert r.status_code == 403 and error_code(r.text) == "csrf_failed"
    r = client.post(f"/me/favourites/store/{uuid.uuid4()}", data={"csrf_token": token})
    assert r.status_code == 404 and error_code(r.text) == "favourite_target_not_found"
    assert count(db, Favourite) == 0


def render_button(client, signed_in: bool, saved: bool = False) -> str:
    template = templates.env.from_string(
        '{% from "accounts/_favourite.html" import favourite_button with context %}'
        '{{ favourite_button("store", target, saved=saved) }}'
    )

    class Url:
        path, query = "/stores/abc", "page=2"

    class Req:
        url = Url()

    person = {"display_name": "Li"} if signed_in else None
    return template.render(request=Req(), current_person=person, csrf_token="tok", target="t-1", saved=saved)


def test_favourite_button_macro(client):
    anonymous = render_button(client, signed_in=False)
    assert 'href="/signup?next=/stores/abc%3Fpage%3D2"' in anonymous and "<form" not in anonymous
    signed = render_button(client, signed_in=True)
    assert 'action="/me/favourites/store/t-1"' in signed and 'value="tok"' in signed
    assert 'aria-pressed="false"' in signed and 'name="action" value="add"' in signed
    saved = render_button(client, signed_in=True, saved=True)
    assert 'aria-pressed="true"' in saved and 'name="action" value="remove"' in saved


# --------------------------------------------------------------------------------------------------------------
# The development SMS outbox


def test_dev_outbox_lists_messages_newest_first(client, db):
    token = csrf(client)
    client.post("/signin/code", data={"phone": PHONE, "csrf_token": token})
    client.post("/signin/code", data={"phone": OTHER_PHONE, "csrf_token": token})
    r = client.get("/dev/outbox")
    assert r.status_code == 200
    rows = re.findall(r'data-testid="sms-phone">([^<]+)<', r.text)
    assert rows == ["+86 139 0013 9000", "+86 138 0013 8000"]
    assert latest_code(db, OTHER_PHONE) in r.text and latest_code(db, PHONE) in r.text
    assert r.text.count('data-testid="sms-status">pending<') == 2
    assert len(sms_messages(db)) == 2


def test_dev_outbox_is_404_in_production(db, tmp_path):
    from o2o.app import create_app

    settings = Settings(
        env="production",
        secret_key="a-production-secret-" + "x" * 20,
        database_url=db.url,
        var_dir=tmp_path,
        inprocess_worker=False,
        demo_seed_on_start=False,
    )
    with TestClient(create_app(settings, db)) as client:
        r = client.get("/dev/outbox")
        assert r.status_code == 404 and error_code(r.text) == "not_found"
        assert "/dev/outbox" not in client.get("/signin").text
