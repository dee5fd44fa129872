"""The deals pages through HTTP, as a browser sends them (cookie session, CSRF token in every form): the deal page
and buying with the wallet, my vouchers with their QR codes, a store's console and redemption."""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from o2o.accounts import service as accounts
from o2o.config import Settings
from o2o.db import Database
from o2o.deals import service
from o2o.deals.models import Deal
from tests.deals.conftest import T0, World, available, code_of, deal, fund, publish, snapshot, voucher

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(client: TestClient, db: Database, person_id: uuid.UUID) -> TestClient:
    with db.session() as s:
        token, _row = accounts.create_session(s, client.app.state.settings, person_id, method="otp")
    client.cookies.set("o2o_session", token)
    return client


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def error_code(html: str) -> str | None:
    found = re.search(r'data-testid="form-error" data-code="([^"]+)"', html)
    return found.group(1) if found else None


@pytest.fixture
def browser(client: TestClient, at_t0) -> TestClient:  # type: ignore[no-untyped-def]
    return client


def test_a_deal_page_then_buy_with_the_wallet(browser: TestClient, db: Database, settings: Settings,
                                              world: World) -> None:
    deal_id = publish(db, world, quantity_total=3)
    page = browser.get(f"/deals/{deal_id}")
    assert page.status_code == 200
    html = page.text
    assert "Dumpling lunch for two" in html and "2 × pork dumplings" in html and "Noodle House East" in html
    assert "¥39.90" in html and "¥56.00" in html and "29% off" in html
    assert 'data-testid="sign-in-to-buy"' in html  # signed out
    r = browser.post(f"/deals/{deal_id}/buy", data={"method": "wallet"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=/deals/")

    sign_in(browser, db, world.customer_id)
    html = browser.get(f"/deals/{deal_id}").text
    token = csrf_of(html)
    assert 'data-testid="buy-wallet"' in html
    before = snapshot(db)
    r = browser.post(f"/deals/{deal_id}/buy", data={"method": "wallet", "csrf_token": token})
    assert r.status_code == 402 and error_code(r.text) == "insufficient_funds"
    assert "/wallet?amount=39.90#top-up" in r.text
    r = browser.post(f"/deals/{deal_id}/buy", data={"method": "wallet", "csrf_token": "forged"})
    assert r.status_code == 403 and error_code(r.text) == "csrf_failed"
    assert snapshot(db) == before

    fund(db, settings, world, 5_000)
    r = browser.post(f"/deals/{deal_id}/buy", data={"method": "wallet", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/me/vouchers?bought=")
    voucher_id = uuid.UUID(r.headers["location"].split("bought=")[1].split("#")[0])
    mine = browser.get(r.headers["location"]).text
    assert 'data-testid="voucher-qr"' in mine and "<svg" in mine and 'class="deals-qr-code"' in mine
    code = code_of(db, voucher_id)
    assert f"{code[:4]} {code[4:8]} {code[8:]}" in mine
    assert available(db, world.customer_id) == 5_000 - 3_990

    # Paying another way: the wallet's checkout page takes over.
    r = browser.post(f"/deals/{deal_id}/buy", data={"method": "other", "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/wallet/payments/")
    pending = browser.get("/me/vouchers").text
    assert 'data-status="pending"' in pending and 'data-testid="voucher-pay"' in pending

    # Refund the issued one from the page.
    r = browser.post(f"/me/vouchers/{voucher_id}/refund", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert voucher(db, voucher_id).status == "refunded" and available(db, world.customer_id) == 5_000
    r = browser.post(f"/me/vouchers/{voucher_id}/refund", data={"csrf_token": "nope"})
    assert r.status_code == 403


def test_pages_for_what_is_not_there(browser: TestClient, db: Database, world: World) -> None:
    assert browser.get(f"/deals/{uuid.uuid4()}").status_code == 404
    assert browser.get("/deals/not-an-id").status_code == 404
    assert browser.get("/me/vouchers", follow_redirects=False).headers["location"] == "/signin?next=/me/vouchers"
    publish(db, world)
    listing = browser.get("/deals").text
    assert "Dumpling lunch for two" in listing and "Deals in Dealville" in listing
    sign_in(browser, db, world.customer_id)
    assert 'data-testid="no-vouchers"' in browser.get("/me/vouchers").text
    assert browser.get(f"/merchant/stores/{world.store_id}/deals").status_code == 403
    assert browser.get(f"/merchant/stores/{world.store_id}/redeem").status_code == 403
    assert browser.get(f"/merchant/stores/{uuid.uuid4()}/redeem").status_code == 404


def test_the_console_creates_publishes_and_withdraws(browser: TestClient, db: Database, world: World) -> None:
    sign_in(browser, db, world.owner_id)
    url = f"/merchant/stores/{world.store_id}/deals"
    html = browser.get(url).text
    assert 'data-testid="no-store-deals"' in html and "Noodle House East" in html  # the branch to cover
    token = csrf_of(html)
    form = {
        "csrf_token": token, "title": "Noodles for one", "includes": "1 x beef noodles\nsmashed cucumber\nTea x 2",
        "price": "18", "original_price": "¥24.50", "quantity": "", "per_person_limit": "2",
        "sale_from": "2026-11-24", "sale_until": "2026-12-24", "valid_from": "2026-11-24",
        "valid_until": "2027-01-31", "weekdays": ["mon", "tue", "wed", "thu", "fri"], "hours_start": "11:00",
        "hours_end": "14:00", "store_ids": [str(world.branch_id)],
    }
    before = snapshot(db)
    r = browser.post(url, data={**form, "price": "30", "original_price": "20"})
    assert r.status_code == 400 and 'data-field="original_price"' in r.text
    assert 'value="Noodles for one"' in r.text  # what was typed is kept
    r = browser.post(url, data={**form, "hours_end": ""})
    assert r.status_code == 400 and 'data-field="hours"' in r.text
    r = browser.post(url, data={**form, "sale_until": "soon"})
    assert r.status_code == 400 and 'data-field="sale_ends_at"' in r.text
    r = browser.post(url, data={**form, "csrf_token": "x"})
    assert r.status_code == 403
    assert snapshot(db) == before

    r = browser.post(url, data=form, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("done=created")
    with db.sessionmaker() as s:
        created = s.query(Deal).one()
        view = service.get_deal(s, created.id, include_drafts=True)
    assert created.status == "draft" and (created.price, created.original_price) == (1_800, 2_450)
    assert [(line.name, line.quantity) for line in view.lines] == [("beef noodles", 1), ("smashed cucumber", 1),
                                                                  ("Tea", 2)]
    assert (created.usable_start_minute, created.usable_end_minute, created.usable_weekdays) == (660, 840, 0b11111)
    assert created.per_person_limit == 2 and created.quantity_total is None
    assert created.sale_starts_at.isoformat() == "2026-11-23T16:00:00+00:00"  # local midnight in Beijing
    assert created.valid_until.isoformat() == "2027-01-31T16:00:00+00:00"  # the end of that local day
    assert sorted(view.store_ids) == sorted([world.store_id, world.branch_id])

    html = browser.get(url).text
    assert 'data-status="draft"' in html
    r = browser.post(f"{url}/{created.id}/publish", data={"csrf_token": token}, follow_redirects=False)
    assert r.headers["location"].endswith("done=published") and deal(db, created.id).status == "published"
    r = browser.post(f"{url}/{created.id}/publish", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and deal(db, created.id).status == "published"  # again: harmless
    r = browser.post(f"{url}/{created.id}/withdraw", data={"csrf_token": token}, follow_redirects=False)
    assert r.headers["location"].endswith("done=withdrawn") and deal(db, created.id).status == "withdrawn"
    r = browser.post(f"{url}/{uuid.uuid4()}/withdraw", data={"csrf_token": token})
    assert r.status_code == 404 and error_code(r.text) == "deal_not_found"


def test_redeem_by_code_then_undo(browser: TestClient, db: Database, settings: Settings, world: World) -> None:
    deal_id = publish(db, world)
    fund(db, settings, world, 5_000)
    with db.session() as s:
        bought = service.buy(s, deal_id, world.customer_id, settings=settings, pay_with_wallet=True, now=T0)
    code = bought.voucher.code
    sign_in(browser, db, world.staff_id)
    url = f"/merchant/stores/{world.store_id}/redeem"
    html = browser.get(url).text
    assert 'data-testid="no-recent"' in html
    token = csrf_of(html)

    before = snapshot(db)
    r = browser.post(f"{url}/check", data={"csrf_token": token, "scan": "1234"})
    assert r.status_code == 404 and error_code(r.text) == "voucher_not_found"
    r = browser.post(f"{url}/check", data={"csrf_token": token, "scan": "O2OV1.abc.def"})
    assert r.status_code == 400 and error_code(r.text) == "voucher_forged"
    r = browser.post(f"{url}/check", data={"csrf_token": token, "scan": "  "})
    assert r.status_code == 400 and error_code(r.text) == "scan_empty"
    r = browser.post(f"{url}/check", data={"csrf_token": token, "scan": code})
    assert r.status_code == 200 and 'data-testid="checked"' in r.text and "2 × pork dumplings" in r.text
    assert snapshot(db) == before  # checking changes nothing

    r = browser.post(url, data={"csrf_token": token, "scan": code}, follow_redirects=False)
    assert r.status_code == 303 and "redeemed=" in r.headers["location"]
    html = browser.get(r.headers["location"]).text
    assert 'data-testid="redeemed"' in html and 'data-testid="undo"' in html
    r = browser.post(url, data={"csrf_token": token, "scan": code})
    assert r.status_code == 409 and error_code(r.text) == "voucher_already_redeemed"

    r = browser.post(f"{url}/{bought.voucher.id}/undo", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303 and voucher(db, bought.voucher.id).status == "issued"
    assert 'data-testid="undone"' in browser.get(r.headers["location"]).text
    r = browser.post(f"{url}/{bought.voucher.id}/undo", data={"csrf_token": token})
    assert r.status_code == 409 and error_code(r.text) == "voucher_not_redeemed"

    sign_in(browser, db, world.stranger_staff_id)
    stranger = f"/merchant/stores/{world.stranger_store_id}/redeem"
    r = browser.post(f"{stranger}/check", data={"csrf_token": csrf_of(browser.get(stranger).text), "scan": code})
    assert r.status_code == 409 and error_code(r.text) == "voucher_not_for_this_store"
