"""The cashiers in a real browser on a phone-sized screen, over real HTTP: our client signs a checkout, the
customer pays at the simulated cashier and comes back to the shop; then our queries and the callbacks travel
over real loopback connections too (no in-process routing here)."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.responses import PlainTextResponse

from o2o.kit.time import now
from o2o.wallet.channels import get_channel
from o2o.wallet.channels.base import TradeRequest, TradeStatus
from o2o.wallet.channels.sim import service
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.browser


def in_chromium(scenario: Callable[[object], None]) -> None:
    """Run ``scenario(browser)`` with a Chromium of its own, in a thread of its own: Playwright's sync API allows
    one instance per thread, and ``tests/browser`` keeps one open in the main thread for the whole session."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium")
    from playwright.sync_api import sync_playwright

    failure: list[BaseException] = []

    def run() -> None:
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    scenario(browser)
                finally:
                    browser.close()
        except BaseException as exc:  # handed to the test's thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="cashier-browser")
    thread.start()
    thread.join(120)
    assert not thread.is_alive(), "the browser scenario did not finish"
    if failure:
        raise failure[0]


@pytest.fixture
def public(app, live_server, receiver):
    """The app's settings with its public URL set to the live server (what the channels and cashiers use)."""
    app.state.settings = app.state.settings.model_copy(update={"public_url": live_server.url})
    receiver.settings = app.state.settings
    app.add_api_route("/test/back", lambda: PlainTextResponse("back at the shop"), methods=["GET"])
    return app.state.settings


@pytest.mark.parametrize("name", ["alipay-sim", "wechatpay-sim"])
def test_pay_at_the_cashier_in_a_browser(db, public, receiver, name):
    from playwright.sync_api import expect

    client = get_channel(name, public)
    request = TradeRequest(
        "PAY-BROWSE01", 4250, "Noodle House · 2 bowls", now() + dt.timedelta(minutes=15), receiver.url(name),
        f"{public.base_url}/test/back",
    )
    checkout = client.checkout_url(request)

    def customer(browser) -> None:
        context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
        page = context.new_page()
        page.set_default_timeout(10_000)
        try:
            page.goto(checkout)
            expect(page.get_by_test_id("cashier")).to_have_attribute("data-status", "waiting")
            expect(page.get_by_test_id("amount")).to_contain_text("42.50")
            expect(page.get_by_test_id("subject")).to_have_text("Noodle House · 2 bowls")
            if name == "wechatpay-sim":
                expect(page.get_by_test_id("qr").locator("svg")).to_be_visible()
            pay = page.get_by_test_id("pay")
            box = pay.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] >= 44  # thumb-sized on a phone
            pay.click()
            page.wait_for_url(f"{public.base_url}/test/back**")
            expect(page.locator("body")).to_contain_text("back at the shop")
        finally:
            context.close()

    in_chromium(customer)

    trade = client.query(request.out_trade_no)  # real HTTP to the live server
    assert (trade.status, trade.amount_fen) == (TradeStatus.PAID, 4250)
    assert service.deliver_due(db, public) == 1  # real HTTP to our receiver
    [notification] = receiver.accepted()
    assert notification.trade.out_trade_no == "PAY-BROWSE01" and notification.trade.amount_fen == 4250
