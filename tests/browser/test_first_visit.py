"""A newcomer's first visit, in a real browser on a phone-sized screen: see the city on the map, sign up with a
code from the SMS outbox, sign out, sign in again."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from o2o.accounts.models import Person
from o2o.demo.service import seed_database

PHONE = "13912345678"


@pytest.fixture
def demo_city(db):
    return seed_database(db, size="small", seed_value=7)


def code_from_outbox(page, phone_digits: str) -> str:
    """Read the newest code sent to this phone from /dev/outbox, as a developer would."""
    outbox = page.context.new_page()
    outbox.goto("/dev/outbox")
    row = outbox.get_by_test_id("sms-row").filter(has_text=phone_digits[-4:]).first
    text = row.get_by_test_id("sms-text").inner_text()
    outbox.close()
    match = re.search(r"\b(\d{6})\b", text)
    assert match, f"no code in {text!r}"
    return match.group(1)


def sign_up_or_in(page, mode: str, phone: str, name: str | None = None) -> None:
    page.goto(f"/{mode}")
    if name is not None:
        page.get_by_test_id("display-name").fill(name)
    page.get_by_test_id("phone").fill(phone)
    page.get_by_test_id("send-code").click()
    page.get_by_test_id("code").wait_for()
    page.get_by_test_id("code").fill(code_from_outbox(page, phone))
    page.get_by_test_id("verify").click()


def test_map_signup_signout_signin(page, demo_city, db):
    # The landing page shows the city: one shape per district, one dot per store.
    page.goto("/")
    city_map = page.get_by_test_id("city-map")
    city_map.wait_for()
    assert city_map.locator("path.district").count() == demo_city.counts["districts"]
    assert city_map.locator("circle.store").count() == demo_city.counts["stores"]
    assert page.get_by_role("link", name=re.compile("API")).get_attribute("href") == "/docs"

    # Sign up with a code from the outbox.
    page.get_by_role("link", name="Sign up").click()
    assert page.url.endswith("/signup")
    sign_up_or_in(page, "signup", PHONE, name="Li Lei")
    page.get_by_test_id("nav-me").wait_for()
    assert page.get_by_test_id("nav-me").inner_text() == "Li Lei"
    assert page.get_by_test_id("phone-masked").inner_text().endswith("5678")
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Person).where(Person.phone_e164 == "+86" + PHONE)) == 1

    # The map is still there when signed in.
    page.goto("/")
    page.get_by_test_id("city-map").wait_for()

    # Sign out: the navigation offers sign-in again, and /me asks to sign in.
    page.get_by_test_id("signout").click()
    page.get_by_role("link", name="Sign in").wait_for()
    assert page.get_by_test_id("nav-me").count() == 0
    page.goto("/me")
    assert "/signin" in page.url

    # Sign in again with a new code: the same person, not a new one.
    sign_up_or_in(page, "signin", PHONE)
    page.get_by_test_id("nav-me").wait_for()
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(Person).where(Person.phone_e164 == "+86" + PHONE)) == 1


def test_wrong_code_shows_an_error_and_keeps_the_form(page, demo_city):
    page.goto("/signin")
    page.get_by_test_id("phone").fill(PHONE)
    page.get_by_test_id("send-code").click()
    page.get_by_test_id("code").fill("000000" if code_from_outbox(page, PHONE) != "000000" else "111111")
    page.get_by_test_id("verify").click()
    error = page.get_by_test_id("form-error")
    error.wait_for()
    assert error.get_attribute("data-code") == "otp_invalid"
    assert page.get_by_test_id("nav-me").count() == 0
