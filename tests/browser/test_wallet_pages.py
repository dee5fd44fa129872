"""The wallet in a real browser on a phone-sized screen, against a real server: a customer signs in, tops up
through the simulated Alipay cashier and comes back to a paid top-up, pays a shop from the wallet at its counter,
and the shop's owner reads the day's statement.

The simulated channel is the real one (its gateway, its cashier page, its server API over real HTTP to the live
server); the app's public URL is the live server's, so the cashier sends the browser back to us.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from o2o.accounts import service as accounts
from o2o.accounts.permissions import Role
from o2o.config import Settings
from o2o.db import Database
from o2o.i18n import format_money
from o2o.wallet import payments
from o2o.wallet.channels import base as ch
from o2o.wallet.channels.sim.models import SimNotification
from o2o.wallet.intents import IntentStatus
from o2o.wallet.models import PaymentIntent
from o2o.worker import run_once
from tests.browser.test_first_visit import code_from_outbox
from tests.wallet.conftest import Shop, assert_ledger_sound, make_shop


def yuan(fen: int) -> str:
    return format_money(fen, "CNY", "en")


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    """Simulators without faults or delays; the public URL is set once the live server has its port."""
    return Settings(
        env="test",
        database_url=db.url,
        var_dir=tmp_path / "var",
        inprocess_worker=False,
        demo_seed_on_start=False,
        channel_sim_duplicate_rate=0.0,
        channel_sim_tamper_rate=0.0,
        channel_sim_max_delay_seconds=0.0,
    )


@pytest.fixture
def server(app, live_server) -> Iterator:  # type: ignore[no-untyped-def]
    """The live server, reachable by the channels (and the cashier's way back) at its own URL."""
    app.state.settings = app.state.settings.model_copy(update={"public_url": live_server.url})
    yield live_server


@pytest.fixture
def shop(db: Database) -> Shop:
    return make_shop(db)


def phone_of(db: Database, person_id: uuid.UUID) -> str:
    with db.sessionmaker() as s:
        return accounts.get_person(s, person_id).phone_e164


def sign_in_with_a_code(page, phone_e164: str) -> None:  # type: ignore[no-untyped-def]
    """On the sign-in page: the phone, the code from the development SMS outbox, then back where we were."""
    digits = phone_e164.removeprefix("+86")
    page.get_by_test_id("phone").fill(digits)
    page.get_by_test_id("send-code").click()
    page.get_by_test_id("code").fill(code_from_outbox(page, digits))
    page.get_by_test_id("verify").click()


def available(db: Database, person_id: uuid.UUID) -> int:
    with db.sessionmaker() as s:
        return payments.wallet_balance(s, person_id, "CNY").available


def test_top_up_through_the_cashier_then_pay_a_shop(page, server, db: Database, shop: Shop) -> None:  # type: ignore[no-untyped-def]
    # Signed out, the wallet asks to sign in first and comes back.
    page.goto("/wallet")
    page.wait_for_url(re.compile(r"/signin\?next=/wallet$"))
    sign_in_with_a_code(page, phone_of(db, shop.customer_id))
    page.wait_for_url(f"{server.url}/wallet")
    expect(page.get_by_test_id("nav-wallet")).to_have_attribute("aria-current", "page")
    expect(page.get_by_test_id("balance-available")).to_have_text(yuan(0))
    expect(page.get_by_test_id("no-history")).to_be_visible()

    # Top up ¥100 with Alipay (sim): the form by its labels, sent with the keyboard.
    page.get_by_label("Alipay (sim)").check()
    amount = page.get_by_label("Amount (CNY)")
    amount.fill("100")
    amount.press("Enter")

    # The hand-off lands on the simulator's cashier, which shows the trade.
    cashier = page.get_by_test_id("cashier")
    expect(cashier).to_be_visible()
    assert "/sim/alipay/cashier/" in page.url
    expect(cashier).to_have_attribute("data-channel", "alipay-sim")
    expect(page.get_by_test_id("amount")).to_contain_text("100.00")
    page.get_by_test_id("pay").click()

    # Back on our payment page, which shows the real outcome at once (the return route asked the channel).
    payment = page.get_by_test_id("payment")
    expect(payment).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("payment-succeeded")).to_be_visible()
    expect(page.get_by_test_id("payment-description")).to_have_text("Wallet top-up")
    top_up_id = uuid.UUID(payment.get_attribute("data-intent"))
    assert page.url == f"{server.url}/wallet/payments/{top_up_id}"

    # The channel's callbacks arrive later (the worker's job): they change nothing more.
    assert run_once(db, ["channel_sim.deliver"]) == {"channel_sim.deliver": 1}
    with db.sessionmaker() as s:
        assert s.scalars(select(SimNotification.status)).all() == ["delivered"]  # we acknowledged it
    assert available(db, shop.customer_id) == 10_000

    page.get_by_test_id("nav-wallet").click()
    page.wait_for_url(f"{server.url}/wallet")
    expect(page.get_by_test_id("balance-available")).to_have_text(yuan(10_000))
    rows = page.get_by_test_id("history-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("+" + yuan(10_000))
    expect(page.get_by_test_id("intent-row").first).to_have_attribute("data-status", "succeeded")

    # Pay the shop at its counter: the amount and a note, then from the wallet.
    page.goto(f"/stores/{shop.store_id}/pay")
    expect(page.get_by_test_id("store-name")).to_have_text("Noodle House")
    page.get_by_label("Amount (CNY)").fill("36.50")
    page.get_by_label("Note").fill("table 7")
    page.get_by_test_id("store-pay-submit").click()
    expect(page.get_by_test_id("payment")).to_have_attribute("data-status", "requires_payment")
    expect(page.get_by_test_id("countdown")).to_contain_text("Pay within 15 minutes")
    pay = page.get_by_role("button", name=f"Pay from wallet (balance {yuan(10_000)})")
    expect(pay).to_be_visible()
    pay.click()
    expect(page.get_by_test_id("payment")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("payment-description")).to_have_text("Noodle House · table 7")

    page.get_by_role("link", name="Back to my wallet").click()
    expect(page.get_by_test_id("balance-available")).to_have_text(yuan(10_000 - 3_650))
    expect(page.get_by_test_id("history-row").first).to_contain_text("-" + yuan(3_650))
    assert available(db, shop.customer_id) == 6_350
    with db.sessionmaker() as s:
        statuses = sorted(s.scalars(select(PaymentIntent.status)).all())
    assert statuses == [IntentStatus.SUCCEEDED, IntentStatus.SUCCEEDED]
    assert_ledger_sound(db)


def test_a_paid_shop_payment_on_the_owners_statement(  # type: ignore[no-untyped-def]
    page, browser, server, db: Database, settings: Settings, shop: Shop
) -> None:
    # A customer paid ¥36.50 from the wallet and the sale was settled (the T+1 job does it after midnight).
    with db.session() as s:
        top_up = payments.start_channel(
            s,
            payments.create_top_up(s, payer_id=shop.customer_id, city_id=shop.city_id, currency="CNY", amount=5_000,
                                   settings=settings).id,
            shop.customer_id,
            "alipay-sim",
        )
        paid = ch.ChannelTrade(ch.ChannelName.ALIPAY_SIM, top_up.trade_no, ch.TradeStatus.PAID, 5_000, "T1")
    with db.session() as s:
        assert payments.apply_channel_trade(s, paid) == "paid"
    with db.session() as s:
        sale = payments.create_store_payment(s, payer_id=shop.customer_id, store_id=shop.store_id, amount=3_650,
                                             note="table 7", settings=settings).id
    with db.session() as s:
        payments.pay_from_wallet(s, sale, shop.customer_id)
    with db.session() as s:
        payments.settle(s, sale)
    with db.session() as s:
        accounts.ensure_role(s, shop.courier_id, Role.MERCHANT_OWNER, city_id=shop.city_id, store_id=shop.store_id)

    # The owner signs in on the statement page: yesterday first (nothing yet), then today.
    page.goto(f"/merchant/stores/{shop.store_id}/statement")
    page.wait_for_url(re.compile(r"/signin\?next="))
    sign_in_with_a_code(page, phone_of(db, shop.courier_id))
    page.wait_for_url(re.compile(rf"/merchant/stores/{shop.store_id}/statement$"))
    expect(page.get_by_test_id("no-lines")).to_be_visible()
    expect(page.get_by_test_id("chart-bar")).to_have_count(14)
    page.get_by_test_id("next-day").click()
    line = page.get_by_test_id("statement-line")
    expect(line).to_have_count(1)
    expect(line).to_contain_text("Noodle House · table 7")
    expect(line).to_have_attribute("data-net", "3102")  # ¥36.50 less 15% commission (¥5.48)
    expect(page.get_by_test_id("closing-balance")).to_have_text(yuan(3_102))
    expect(page.get_by_test_id("next-day")).to_have_count(0)
    expect(page.get_by_test_id("chart-bar").last).to_have_attribute("data-net", "3102")

    # A customer who is not the owner is refused.
    other = browser.new_context(base_url=server.url, viewport={"width": 390, "height": 844})
    try:
        stranger = other.new_page()
        stranger.goto(f"/merchant/stores/{shop.store_id}/statement")
        sign_in_with_a_code(stranger, phone_of(db, shop.other_id))
        expect(stranger.get_by_test_id("form-error")).to_have_attribute("data-code", "forbidden")
        assert stranger.get_by_test_id("statement-line").count() == 0
    finally:
        other.close()
