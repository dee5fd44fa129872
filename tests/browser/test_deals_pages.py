"""Deals in a real browser on a phone-sized screen, against a real server: a customer signs in, buys a voucher with
the wallet on the deal's page and sees its QR code and code; a member of the shop's staff types that code on the
redemption page, sees what the voucher is for, redeems it, and could undo it."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from o2o.config import Settings
from o2o.db import Database
from o2o.deals import service
from o2o.deals.models import Voucher
from o2o.i18n import format_money
from o2o.kit import time as clock
from tests.browser.test_first_visit import code_from_outbox
from tests.deals.conftest import World, available, fund, make_world, terms
from tests.wallet.conftest import assert_ledger_sound


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(env="test", database_url=db.url, var_dir=tmp_path / "var", inprocess_worker=False,
                    demo_seed_on_start=False)


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db, "browserville")


@pytest.fixture
def server(live_server) -> Iterator:  # type: ignore[no-untyped-def]
    yield live_server


def sign_in(page, db: Database, person_id) -> None:  # type: ignore[no-untyped-def]
    """On the sign-in page: the phone, the code from the development SMS outbox, then back where we were."""
    from o2o.accounts import service as accounts

    with db.sessionmaker() as s:
        digits = accounts.get_person(s, person_id).phone_e164.removeprefix("+86")
    page.get_by_test_id("phone").fill(digits)
    page.get_by_test_id("send-code").click()
    page.get_by_test_id("code").fill(code_from_outbox(page, digits))
    page.get_by_test_id("verify").click()


# One backend is enough here: the same flow runs on both in tests/deals/test_pages.py, and the races over real
# HTTP connections on PostgreSQL in tests/deals/test_races.py.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_buy_a_voucher_then_the_shop_redeems_it(page, browser, server, db: Database, settings: Settings,  # type: ignore[no-untyped-def]
                                                world: World) -> None:
    now = clock.now()
    day = dt.timedelta(days=1)
    with db.session() as s:
        deal_id = service.create_deal(
            s, store_id=world.store_id, other_store_ids=[world.branch_id], publish=True, now=now,
            terms=terms(sale_starts_at=now - day, sale_ends_at=now + 10 * day, valid_from=now - day,
                        valid_until=now + 30 * day),
        ).deal.id
    fund(db, settings, world, 10_000)

    # The deal's page, signed out: what it includes, the price against the original, its shops.
    page.goto(f"/deals/{deal_id}")
    expect(page.get_by_test_id("deal-title")).to_have_text("Dumpling lunch for two")
    expect(page.get_by_test_id("deal-price")).to_have_text(format_money(3_990, "CNY", "en"))
    expect(page.get_by_test_id("deal-original-price")).to_contain_text(format_money(5_600, "CNY", "en"))
    expect(page.get_by_test_id("deal-lines")).to_contain_text("2 × pork dumplings")
    expect(page.get_by_test_id("deal-stores")).to_contain_text("Noodle House East")
    page.get_by_test_id("sign-in-to-buy").click()
    page.wait_for_url(re.compile(r"/signin\?next="))
    sign_in(page, db, world.customer_id)
    page.wait_for_url(f"{server.url}/deals/{deal_id}")

    # Buy with the wallet: the voucher, its QR code and its code.
    buy = page.get_by_role("button", name=f"Buy with wallet (balance {format_money(10_000, 'CNY', 'en')})")
    buy.click()
    page.wait_for_url(re.compile(r"/me/vouchers\?bought="))
    expect(page.get_by_test_id("notice")).to_be_visible()
    voucher_card = page.get_by_test_id("voucher").first
    expect(voucher_card).to_have_attribute("data-status", "issued")
    qr = voucher_card.get_by_test_id("voucher-qr").locator("svg")
    expect(qr).to_be_visible()
    box = qr.bounding_box()
    assert box is not None and box["width"] >= 120  # big enough to scan from a phone
    code = voucher_card.get_by_test_id("voucher-code").inner_text().strip()
    assert re.fullmatch(r"\d{4} \d{4} \d{4}", code)
    assert available(db, world.customer_id) == 10_000 - 3_990

    # The shop's staff, on their own phone: type the code, see what it is for, redeem.
    staff = browser.new_context(base_url=server.url, viewport={"width": 390, "height": 844})
    try:
        till = staff.new_page()
        till.set_default_timeout(10_000)
        till.goto(f"/merchant/stores/{world.store_id}/redeem")
        till.wait_for_url(re.compile(r"/signin\?next="))
        sign_in(till, db, world.staff_id)
        till.wait_for_url(f"{server.url}/merchant/stores/{world.store_id}/redeem")
        scan = till.get_by_label("QR code or 12-digit code")
        expect(scan).to_be_focused()
        scan.fill(code)
        scan.press("Enter")
        checked = till.get_by_test_id("checked")
        expect(checked).to_contain_text("Dumpling lunch for two")
        expect(till.get_by_test_id("checked-lines")).to_contain_text("1 × hot and sour soup")
        expect(till.get_by_test_id("checked-code")).to_have_text(code)
        till.get_by_test_id("redeem").click()
        expect(till.get_by_test_id("redeemed")).to_contain_text("Redeemed: Dumpling lunch for two")
        expect(till.get_by_test_id("recent-row")).to_have_count(1)
        expect(till.get_by_test_id("undo")).to_be_visible()

        # The same code again is refused, with the reason in words.
        till.get_by_label("QR code or 12-digit code").fill(code)
        till.get_by_test_id("scan-check").click()
        expect(till.get_by_test_id("form-error")).to_have_attribute("data-code", "voucher_already_redeemed")
    finally:
        staff.close()

    # The customer's voucher now shows as used.
    page.reload()
    expect(page.get_by_test_id("voucher").first).to_have_attribute("data-status", "redeemed")
    with db.sessionmaker() as s:
        redeemed = s.query(Voucher).one()
    assert redeemed.status == "redeemed" and redeemed.redeemed_by == world.staff_id
    assert_ledger_sound(db)
