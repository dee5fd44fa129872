"""The store pages in a real browser on a phone-sized screen, against a real server: a member of the shop's staff
marks an item sold out in the merchant console, and a customer's store page shows it sold out (no "Add to cart");
back on sale, it can be added again. The item's page (where a shelf QR code lands) agrees."""

from __future__ import annotations

import uuid

from playwright.sync_api import expect

from o2o.accounts import service as accounts
from o2o.db import Database
from tests.stores.catalogue_helpers import build_menu, make_shop


def session_cookie(db: Database, settings, person_id: uuid.UUID, url: str) -> dict:  # type: ignore[no-untyped-def]
    with db.session() as s:
        token, _row = accounts.create_session(s, settings, person_id, method="otp")
    return {"name": "o2o_session", "value": token, "url": url}


def test_staff_mark_an_item_sold_out_and_customers_see_it(page, browser, live_server, app, db: Database) -> None:  # type: ignore[no-untyped-def]
    shop = make_shop(db)
    built = build_menu(db, shop.store_id)
    store_url = f"/stores/{shop.store_id}"

    # The customer sees the noodles on sale.
    page.goto(store_url)
    noodles = page.locator(f'[data-testid="item"][data-item-id="{built.noodles}"]')
    expect(noodles).to_have_attribute("data-sold-out", "false")
    expect(noodles.get_by_test_id("add-to-cart")).to_be_enabled()
    expect(noodles.get_by_test_id("sold-out")).to_have_count(0)

    # A member of the staff marks them sold out in the console.
    staff = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    staff.add_cookies([session_cookie(db, app.state.settings, shop.staff_id, live_server.url)])
    console = staff.new_page()
    console.set_default_timeout(10_000)
    console.goto(f"/merchant/stores/{shop.store_id}/catalogue")
    card = console.locator(f'[data-testid="console-item"][data-item-id="{built.noodles}"]')
    expect(card).to_have_attribute("data-sold-out", "false")
    card.get_by_test_id("toggle-sold-out").click()
    expect(console.get_by_test_id("saved")).to_be_visible()
    expect(card).to_have_attribute("data-sold-out", "true")
    expect(card.get_by_test_id("toggle-sold-out")).to_have_text("Back on sale")

    # The customer's page shows them sold out, and so does the item's own page.
    page.reload()
    expect(noodles).to_have_attribute("data-sold-out", "true")
    expect(noodles.get_by_test_id("sold-out")).to_be_visible()
    expect(noodles.get_by_test_id("add-to-cart")).to_be_disabled()
    expect(noodles.get_by_test_id("add-to-cart")).to_have_text("Sold out")
    page.goto(f"{store_url}/items/{built.noodles}")
    expect(page.get_by_test_id("item-page")).to_have_attribute("data-sold-out", "true")
    expect(page.get_by_test_id("reserve")).to_have_count(0)

    # Back on sale: the customer can add them again.
    card.get_by_test_id("toggle-sold-out").click()
    expect(card).to_have_attribute("data-sold-out", "false")
    page.goto(store_url)
    expect(noodles).to_have_attribute("data-sold-out", "false")
    expect(noodles.get_by_test_id("add-to-cart")).to_be_enabled()
    staff.close()
