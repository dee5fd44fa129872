"""Saving a store from the landing page's "Open now" list, in a real browser on a phone-sized screen: a visitor
taps Save, signs up, comes back, saves the store and finds it on the profile page.

The server runs on real time, so the store is picked from the page, not assumed. The demo city has stores open
around the clock (24h convenience stores), so the list is never empty.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from o2o.accounts.models import Favourite, Person
from o2o.demo.service import seed_database
from o2o.kit.time import in_zone
from o2o.stores import hours
from o2o.stores.models import Store
from tests.browser.test_first_visit import sign_up_or_in

PHONE = "13712345678"


@pytest.fixture
def city(db):
    summary = seed_database(db, size="small", seed_value=7)
    with db.sessionmaker() as s:
        schedules = s.scalars(select(Store.opening_hours)).all()
    assert any(hours.parse_hours(text).always_open for text in schedules), "a store that never closes"
    return summary


def steady_open_store(page, db, timezone: str) -> tuple[str, str]:
    """(id, name) of the first listed store that stays open for the next ten minutes, so the list still holds
    it when the visitor comes back (the first such entry can only move down if stores open meanwhile)."""
    entries = page.get_by_test_id("open-store")
    entries.first.wait_for()
    listed = [entries.nth(i).get_attribute("data-store-id") for i in range(entries.count())]
    with db.sessionmaker() as s:
        schedules = {store_id: text for store_id, text in s.execute(select(Store.id, Store.opening_hours))}
    soon = [in_zone(dt.datetime.now(dt.UTC) + dt.timedelta(minutes=m), timezone) for m in (0, 5, 10)]
    for store_id in listed:
        if all(hours.is_open(schedules[uuid.UUID(store_id)], t) for t in soon):
            name = page.locator(f'[data-testid="open-store"][data-store-id="{store_id}"]')
            return store_id, name.get_by_test_id("open-store-name").inner_text()
    raise AssertionError(f"none of the listed stores stays open for ten minutes: {listed}")


def test_a_visitor_saves_an_open_store(page, city, db, live_server):
    page.goto("/")
    open_now = page.get_by_role("region", name="Open now")
    expect(open_now.get_by_role("heading", name="Open now")).to_be_visible()
    assert open_now.get_by_role("list").count() == 1
    store_id, store_name = steady_open_store(page, db, "Asia/Shanghai")
    entry = page.locator(f'[data-testid="open-store"][data-store-id="{store_id}"]')

    # Signed out, Save is a link to sign up that comes back here.
    save = entry.get_by_test_id("favourite")
    expect(save).to_have_text("☆ Save")
    save.click()
    page.wait_for_url(f"{live_server.url}/signup?next=/")
    expect(page.get_by_test_id("phone")).to_be_visible()

    # Sign up with the code from the outbox (the helper opens "/{mode}": the query keeps next=/), and land back
    # on the landing page, signed in.
    sign_up_or_in(page, "signup?next=/", PHONE, name="Han Meimei")
    page.wait_for_url(f"{live_server.url}/")
    expect(page.get_by_test_id("nav-me")).to_have_text("Han Meimei")

    # Now Save is a button; tapping it saves the store and shows it saved.
    save = entry.get_by_test_id("favourite")
    expect(save).to_have_attribute("aria-pressed", "false")
    expect(save).to_have_text("☆ Save")
    save.click()
    page.wait_for_url(f"{live_server.url}/")
    saved = entry.get_by_test_id("favourite")
    expect(saved).to_have_attribute("aria-pressed", "true")
    expect(saved).to_have_text("★ Saved")
    assert page.locator('[data-testid="open-store"] [aria-pressed="true"]').count() == 1

    # The profile lists it.
    page.get_by_test_id("nav-me").click()
    page.wait_for_url(f"{live_server.url}/me")
    row = page.get_by_test_id("favourite-row")
    expect(row).to_have_count(1)
    assert row.get_attribute("data-kind") == "store" and row.get_attribute("data-target") == store_id
    expect(row).to_contain_text(store_name)
    with db.sessionmaker() as s:
        person_id = s.scalar(select(Person.id).where(Person.phone_e164 == "+86" + PHONE))
        rows = [tuple(r) for r in s.execute(select(Favourite.person_id, Favourite.kind, Favourite.target_id))]
    assert rows == [(person_id, "store", uuid.UUID(store_id))]
