"""Ordering in a real browser on a phone-sized screen, against a real server: a customer fills a cart from the store
page, checks out for delivery (the address's location from the browser's geolocation) paying with the wallet, and
watches the order's page change by itself while the shop, in a second browser, sees the order arrive on its console
(which refreshes by itself too), accepts it and marks it ready.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import expect

from o2o.config import Settings
from o2o.db import Database
from o2o.i18n import format_money
from o2o.orders import service
from tests.browser.test_wallet_pages import phone_of, sign_in_with_a_code
from tests.orders.conftest import Kitchen, fund, make_kitchen, wallet_available

HOME = {"latitude": 39.9045, "longitude": 116.4}  # ~500 m from the kitchen


def yuan(fen: int) -> str:
    return format_money(fen, "CNY", "en")


@pytest.fixture
def kitchen(db: Database, settings: Settings) -> Kitchen:
    kitchen = make_kitchen(db)
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    return kitchen


@pytest.fixture
def phone(browser, live_server) -> Iterator:  # type: ignore[no-untyped-def]
    """The customer's phone: a small screen that shares its location."""
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 390, "height": 844}, geolocation=HOME,
        permissions=["geolocation"],
    )
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def till(browser, live_server) -> Iterator:  # type: ignore[no-untyped-def]
    """The shop's tablet."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 820, "height": 1180})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def test_order_for_delivery_and_watch_it_move(phone, till, live_server, db: Database, kitchen: Kitchen) -> None:  # type: ignore[no-untyped-def]
    store = f"/stores/{kitchen.store_id}"

    # The shop's staff opens the console first: nothing new yet.
    till.goto(f"/merchant/stores/{kitchen.store_id}/orders")
    till.wait_for_url(re.compile(r"/signin\?next="))
    sign_in_with_a_code(till, phone_of(db, kitchen.staff_id))
    till.wait_for_url(f"{live_server.url}/merchant/stores/{kitchen.store_id}/orders")
    expect(till.get_by_test_id("group-incoming").get_by_test_id("console-order")).to_have_count(0)

    # The customer signs in (the cart is theirs), then fills it from the store page.
    phone.goto("/cart")
    phone.wait_for_url(re.compile(r"/signin\?next=/cart$"))
    sign_in_with_a_code(phone, phone_of(db, kitchen.customer_id))
    phone.wait_for_url(f"{live_server.url}/cart")
    expect(phone.get_by_test_id("cart-empty")).to_be_visible()

    phone.goto(store)
    noodles = phone.get_by_test_id(f"add-form-{kitchen.noodles}")
    noodles.get_by_label("Size").select_option(str(kitchen.size_large))
    noodles.get_by_test_id("add-to-cart").click()
    phone.wait_for_url(re.compile(r"/cart\?added="))
    expect(phone.get_by_role("status").filter(has_text="Added to your cart.")).to_be_visible()

    phone.goto(store)
    cola = phone.get_by_test_id(f"add-form-{kitchen.cola}")
    cola.get_by_label("Quantity").fill("2")
    cola.get_by_test_id("add-to-cart").click()
    phone.wait_for_url(re.compile(r"/cart\?added="))
    expect(phone.get_by_test_id("cart-line")).to_have_count(2)
    expect(phone.get_by_test_id("cart-subtotal")).to_have_text(yuan(3_100))

    # Checkout: delivery, the address typed, its location from the phone.
    phone.get_by_test_id("cart-checkout").click()
    phone.wait_for_url(f"{live_server.url}/checkout/{kitchen.store_id}")
    expect(phone.get_by_role("radio", name=re.compile("^Delivery"))).to_be_checked()
    phone.get_by_label("Address").fill("3 Dongcheng Rd, flat 501")
    phone.get_by_test_id("checkout-locate").click()
    expect(phone.get_by_label("Latitude")).to_have_value("39.904500")
    expect(phone.get_by_label("Longitude")).to_have_value("116.400000")
    phone.get_by_test_id("checkout-update").click()
    expect(phone.get_by_test_id("quote-total")).to_have_text(yuan(3_500))  # items, packaging 1.00, delivery 3.00
    expect(phone.get_by_test_id("wallet-balance")).to_contain_text(yuan(10_000))
    phone.get_by_test_id("pay-wallet").click()

    # The order's page: paid, waiting for the shop.
    phone.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}$"))
    order_id = uuid.UUID(phone.url.rsplit("/", 1)[1])
    order = phone.get_by_test_id("order")
    expect(order).to_have_attribute("data-state", "paid")
    expect(phone.get_by_test_id("order-state")).to_have_text("Waiting for the shop")
    assert wallet_available(db, kitchen.customer_id) == 6_500

    # The console shows the new order by itself, with the time left to accept it.
    incoming = till.get_by_test_id("group-incoming").get_by_test_id("console-order")
    expect(incoming).to_have_count(1, timeout=15_000)
    expect(incoming).to_have_attribute("data-order-id", str(order_id))
    expect(incoming.get_by_test_id("console-countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
    incoming.get_by_test_id("step-accept").click()

    # The customer's page follows without a reload by hand.
    expect(order).to_have_attribute("data-state", "accepted", timeout=15_000)
    expect(phone.get_by_test_id("order-state")).to_have_text("Accepted")
    expect(phone.get_by_test_id("order-cancel")).to_have_count(0)

    active = till.get_by_test_id("group-active").get_by_test_id("console-order")
    expect(active).to_have_attribute("data-order-id", str(order_id))
    active.get_by_test_id("step-ready").click()
    expect(till.get_by_test_id("group-ready").get_by_test_id("console-order")).to_have_count(1)

    expect(order).to_have_attribute("data-state", "ready", timeout=15_000)
    expect(phone.get_by_test_id("timeline-event")).to_have_count(5)  # place, pay, accept, start, ready
    with db.sessionmaker() as s:
        assert service.get_order(s, order_id).state == "ready"

    # My orders list it with its state.
    phone.goto("/orders")
    expect(phone.get_by_test_id("order-row")).to_have_attribute("data-state", "ready")
