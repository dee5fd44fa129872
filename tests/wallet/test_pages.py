"""The wallet's pages through HTTP (SQLite and PostgreSQL): the wallet, top-ups handed off to a simulated cashier
and back, a payment's checkout and status, "pay this shop", and a store's daily statement.

Refused forms are drawn again with a message and change nothing (no intent, no ledger account, no transfer).
Channel HTTP runs inside the app (``transport.routed``), so a whole top-up goes through the real simulator.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from o2o import i18n
from o2o.accounts import service as accounts
from o2o.accounts.permissions import Role
from o2o.config import Settings
from o2o.db import Database
from o2o.kit.geo import h3_cell
from o2o.kit.time import frozen_clock
from o2o.stores.models import Merchant, Store
from o2o.wallet import errors as wallet_errors
from o2o.wallet import payments
from o2o.wallet.channels import base as ch
from o2o.wallet.channels import transport
from o2o.wallet.channels.sim.models import SimNotification
from o2o.wallet.intents import IntentStatus
from o2o.wallet.models import PaymentIntent, WalletAccount, WalletTransfer
from o2o.wallet.pages import chart_bars, format_amount_input, parse_amount
from o2o.worker import run_once
from tests.factories import new_city
from tests.wallet.conftest import Shop, assert_ledger_sound

BASE = "http://testserver"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    """The app at the test client's address (the cashier sends people back there), simulators without faults."""
    return Settings(
        env="test",
        database_url=db.url,
        var_dir=tmp_path / "var",
        inprocess_worker=False,
        demo_seed_on_start=False,
        public_url=BASE,
        channel_sim_duplicate_rate=0.0,
        channel_sim_tamper_rate=0.0,
        channel_sim_max_delay_seconds=0.0,
    )


@pytest.fixture
def routed(app) -> Iterator[None]:
    """Channel HTTP (our clients -> the simulators, their callbacks -> us) runs inside the app."""
    server = TestClient(app, base_url=BASE)
    with transport.routed(lambda: server):
        yield


def sign_in(client: TestClient, db: Database, person_id: uuid.UUID) -> TestClient:
    with db.session() as s:
        token, _row = accounts.create_session(s, client.app.state.settings, person_id, method="otp")
    client.cookies.set("o2o_session", token)
    return client


@pytest.fixture
def customer(client: TestClient, db: Database, shop: Shop) -> TestClient:
    return sign_in(client, db, shop.customer_id)


@pytest.fixture
def other(app, db: Database, shop: Shop) -> Iterator[TestClient]:
    with TestClient(app, base_url=BASE) as c:
        yield sign_in(c, db, shop.other_id)


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "no CSRF token on the page"
    return found.group(1)


def error_code(html: str) -> str | None:
    found = re.search(r'data-testid="form-error" data-code="([^"]+)"', html)
    return found.group(1) if found else None


def yuan(fen: int) -> str:
    """An amount as the pages show it (English)."""
    return i18n.format_money(fen, "CNY", "en")


def fund(db: Database, settings: Settings, shop: Shop, amount: int, person: uuid.UUID | None = None) -> None:
    """Credit a wallet as a verified channel callback does."""
    person = person or shop.customer_id
    with db.session() as s:
        intent = payments.create_top_up(s, payer_id=person, city_id=shop.city_id, currency="CNY", amount=amount,
                                        settings=settings)
        intent = payments.start_channel(s, intent.id, person, "alipay-sim")
        trade_no = intent.trade_no
    with db.session() as s:
        paid = ch.ChannelTrade(ch.ChannelName.ALIPAY_SIM, trade_no, ch.TradeStatus.PAID, amount, "T" + trade_no)
        assert payments.apply_channel_trade(s, paid) == "paid"


def store_payment(db: Database, settings: Settings, shop: Shop, amount: int, note: str = "table 4") -> uuid.UUID:
    with db.session() as s:
        return payments.create_store_payment(s, payer_id=shop.customer_id, store_id=shop.store_id, amount=amount,
                                             note=note, settings=settings).id


def intent_of(db: Database, intent_id: uuid.UUID) -> PaymentIntent:
    with db.sessionmaker() as s:
        return payments.get_intent(s, intent_id)


def available(db: Database, person_id: uuid.UUID) -> int:
    with db.sessionmaker() as s:
        return payments.wallet_balance(s, person_id, "CNY").available


def counts(db: Database) -> tuple[int, int, int]:
    """(intents, ledger accounts, transfers): what a refused form must leave as it was."""
    with db.sessionmaker() as s:
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(model)) or 0
            for model in (PaymentIntent, WalletAccount, WalletTransfer)
        )


def location(response) -> str:  # type: ignore[no-untyped-def]
    assert response.status_code == 303, (response.status_code, response.text[:500])
    return response.headers["location"]


# ---------------------------------------------------------------------------------------------------- pure helpers


@pytest.mark.parametrize(
    ("text", "fen"),
    [("12", 1200), ("12.5", 1250), ("12.50", 1250), ("0.01", 1), (" ¥ 88.80 ", 8880), ("￥5", 500), ("12.", 1200),
     ("50000", 5_000_000), ("１２．５", 1250)],
)
def test_amounts_are_read_exactly(text: str, fen: int) -> None:
    assert parse_amount(text, "CNY") == fen


@pytest.mark.parametrize("text", ["", "abc", "12.345", ".5", "-1", "1e3", "1,000", "12.5.1", "0x10", "٣", "1 2/3"])
def test_what_is_not_an_amount(text: str) -> None:
    assert parse_amount(text, "CNY") is None


def test_amounts_follow_the_currency() -> None:
    assert parse_amount("1200", "KRW") == 1200 and parse_amount("12.5", "KRW") is None
    assert format_amount_input(1250, "CNY") == "12.50" and format_amount_input(7, "CNY") == "0.07"
    assert format_amount_input(1200, "KRW") == "1200"
    # Every amount a person can type comes back the same (no float on the way).
    for fen in (1, 10, 99, 100, 101, 123_456, 4_999_999, 5_000_000):
        assert parse_amount(format_amount_input(fen, "CNY"), "CNY") == fen


def test_chart_bars_scale_to_the_best_day() -> None:
    days = [dt.date(2026, 11, d) for d in range(1, 5)]
    bars = chart_bars(list(zip(days, [0, 500, 1000, 1], strict=True)), current=days[2])
    assert [b.height for b in bars][:3] == [0.0, 64.0, 128.0]
    assert bars[3].height == 2.0  # a tiny day still shows
    assert [b.current for b in bars] == [False, False, True, False]
    assert all(b.y + b.height == 140.0 for b in bars)
    assert all(b.x >= 0 and b.x + b.width <= 448 for b in bars)
    assert [b.height for b in chart_bars([(days[0], 0)], days[0])] == [0.0]  # nothing settled: no division by zero


# ---------------------------------------------------------------------------------------------------- signing in


def test_the_pages_ask_to_sign_in_first(client: TestClient, db: Database, settings: Settings, shop: Shop) -> None:
    intent_id = store_payment(db, settings, shop, 100)
    for path, back in [
        ("/wallet", "/wallet"),
        (f"/wallet/payments/{intent_id}", f"/wallet/payments/{intent_id}"),
        (f"/wallet/payments/{intent_id}/checkout", f"/wallet/payments/{intent_id}"),
        (f"/stores/{shop.store_id}/pay", f"/stores/{shop.store_id}/pay"),
        (f"/merchant/stores/{shop.store_id}/statement?day=2026-11-25",
         f"/merchant/stores/{shop.store_id}/statement%3Fday%3D2026-11-25"),
    ]:
        r = client.get(path, follow_redirects=False)
        assert location(r) == f"/signin?next={back}", path
    for path in (f"/wallet/payments/{intent_id}/pay", f"/wallet/payments/{intent_id}/cancel", "/wallet/top-up",
                 f"/stores/{shop.store_id}/pay"):
        r = client.post(path, data={"method": "wallet", "amount": "1"}, follow_redirects=False)
        assert location(r).startswith("/signin?next=/"), path
    assert intent_of(db, intent_id).status == IntentStatus.REQUIRES_PAYMENT
    assert 'data-testid="nav-wallet"' not in client.get("/signin").text


# ---------------------------------------------------------------------------------------------------- the wallet


def test_the_wallet_shows_balance_history_and_payments(
    customer: TestClient, db: Database, settings: Settings, shop: Shop
) -> None:
    r = customer.get("/wallet")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'data-testid="balance-available" data-amount="0"' in r.text
    assert 'data-testid="no-history"' in r.text and 'data-testid="no-intents"' in r.text
    assert 'data-testid="nav-wallet">Wallet</a>' in r.text.replace('aria-current="page" ', "")
    assert 'aria-current="page" data-testid="nav-wallet"' in r.text
    for label in ('<label for="top-up-amount">', "Alipay (sim)", "WeChat Pay (sim)"):
        assert label in r.text

    fund(db, settings, shop, 10_000)
    intent_id = store_payment(db, settings, shop, 2_550)
    with db.session() as s:
        payments.pay_from_wallet(s, intent_id, shop.customer_id)
    page = customer.get("/wallet").text
    assert 'data-testid="balance-available" data-amount="7450"' in page and yuan(7_450) in page
    rows = re.findall(r'data-testid="history-row" data-amount="(-?\d+)" data-status="(\w+)"', page)
    assert rows == [("-2550", "posted"), ("10000", "posted")]  # newest first, signed
    assert "-" + yuan(2_550) in page and "+" + yuan(10_000) in page
    assert "Noodle House · table 4" in page and f'href="/wallet/payments/{intent_id}"' in page
    intents = re.findall(r'data-testid="intent-row" data-intent="([^"]+)" data-status="(\w+)"', page)
    assert intents[0] == (str(intent_id), "succeeded") and len(intents) == 2
    assert "Wallet top-up" in page


def test_someone_else_sees_their_own_wallet(
    customer: TestClient, other: TestClient, db: Database, settings: Settings, shop: Shop
) -> None:
    fund(db, settings, shop, 5_000)
    page = other.get("/wallet").text
    assert 'data-testid="balance-available" data-amount="0"' in page and 'data-testid="no-history"' in page


def test_a_top_up_goes_through_the_cashier_and_back(
    customer: TestClient, db: Database, settings: Settings, shop: Shop, routed: None
) -> None:
    token = csrf_of(customer.get("/wallet").text)
    r = customer.post("/wallet/top-up", data={"amount": "88.50", "channel": "alipay-sim", "csrf_token": token},
                      follow_redirects=False)
    checkout = location(r)
    intent_id = uuid.UUID(re.fullmatch(r"/wallet/payments/([0-9a-f-]+)/checkout", checkout).group(1))
    intent = intent_of(db, intent_id)
    assert (intent.purpose, intent.amount, intent.currency, intent.city_id) == ("top_up", 8_850, "CNY", shop.city_id)
    assert (intent.status, intent.method, intent.payer_person_id) == ("processing", "alipay-sim", shop.customer_id)

    # The hand-off: to the channel's gateway, which opens the trade and shows its cashier.
    gateway = location(customer.get(checkout, follow_redirects=False))
    assert gateway.startswith(f"{BASE}/sim/alipay/gateway.do?")
    cashier = customer.get(gateway)
    assert cashier.status_code == 200 and 'data-testid="cashier"' in cashier.text and "88.50" in cashier.text
    pay_action = re.search(r'<form method="post" action="([^"]+/pay)"', cashier.text).group(1)
    back = location(customer.post(pay_action, data={"csrf_token": csrf_of(cashier.text)}, follow_redirects=False))
    assert urlsplit(back).path == f"/wallet/payments/{intent_id}/return"
    assert available(db, shop.customer_id) == 0  # no callback yet: the return route asks the channel itself

    r = customer.get(back, follow_redirects=False)
    assert location(r) == f"/wallet/payments/{intent_id}"
    assert intent_of(db, intent_id).status == IntentStatus.SUCCEEDED
    page = customer.get(f"/wallet/payments/{intent_id}").text
    assert 'data-testid="payment" data-status="succeeded"' in page and 'data-testid="payment-succeeded"' in page
    assert available(db, shop.customer_id) == 8_850
    # The channel's callback comes later (the worker's job): acknowledged, and it moves nothing more.
    assert run_once(db, ["channel_sim.deliver"]) == {"channel_sim.deliver": 1}
    with db.sessionmaker() as s:
        assert s.scalars(select(SimNotification.status)).all() == ["delivered"]
    assert available(db, shop.customer_id) == 8_850
    assert 'data-testid="balance-available" data-amount="8850"' in customer.get("/wallet").text
    assert_ledger_sound(db)


def test_a_top_up_through_wechat_pay(
    customer: TestClient, db: Database, settings: Settings, shop: Shop, routed: None
) -> None:
    token = csrf_of(customer.get("/wallet").text)
    checkout = location(customer.post("/wallet/top-up", data={"amount": "20", "channel": "wechatpay-sim",
                                                               "csrf_token": token}, follow_redirects=False))
    intent_id = uuid.UUID(checkout.split("/")[3])
    cashier_url = location(customer.get(checkout, follow_redirects=False))
    assert urlsplit(cashier_url).path == "/sim/wechatpay/cashier"
    cashier = customer.get(cashier_url)
    assert cashier.status_code == 200 and "20.00" in cashier.text
    pay_action = re.search(r'<form method="post" action="([^"]+/pay)"', cashier.text).group(1)
    redirect = re.search(r'name="redirect_url" value="([^"]*)"', cashier.text).group(1)
    back = location(customer.post(pay_action, data={"csrf_token": csrf_of(cashier.text), "redirect_url": redirect},
                                  follow_redirects=False))
    assert location(customer.get(back, follow_redirects=False)) == f"/wallet/payments/{intent_id}"
    assert intent_of(db, intent_id).status == IntentStatus.SUCCEEDED and available(db, shop.customer_id) == 2_000


@pytest.mark.parametrize(
    ("amount", "channel"),
    [("", "alipay-sim"), ("abc", "alipay-sim"), ("0", "alipay-sim"), ("0.00", "wechatpay-sim"),
     ("12.345", "alipay-sim"), ("50000.01", "alipay-sim"), ("-5", "alipay-sim"), ("10", ""), ("10", "paypal")],
)
def test_a_refused_top_up_changes_nothing(
    customer: TestClient, db: Database, shop: Shop, amount: str, channel: str
) -> None:
    token = csrf_of(customer.get("/wallet").text)
    before = counts(db)
    r = customer.post("/wallet/top-up", data={"amount": amount, "channel": channel, "csrf_token": token},
                      follow_redirects=False)
    assert r.status_code == 400
    assert error_code(r.text) == ("unknown_channel" if amount == "10" else "invalid_amount")
    assert f'value="{amount}" data-testid="top-up-amount"' in r.text  # what was typed is kept
    if error_code(r.text) == "invalid_amount":
        assert f"between {yuan(1)} and {yuan(5_000_000)}" in r.text
    assert counts(db) == before


def test_a_top_up_needs_the_forms_token(customer: TestClient, db: Database, shop: Shop) -> None:
    customer.get("/wallet")
    before = counts(db)
    for token in ("", "forged"):
        r = customer.post("/wallet/top-up", data={"amount": "10", "channel": "alipay-sim", "csrf_token": token})
        assert r.status_code == 403 and error_code(r.text) == "csrf_failed"
    assert counts(db) == before


def test_the_wallet_prefills_a_shortfall(customer: TestClient, shop: Shop) -> None:
    assert 'value="12.30" data-testid="top-up-amount"' in customer.get("/wallet?amount=12.3").text
    assert 'value="" data-testid="top-up-amount"' in customer.get("/wallet?amount=nonsense").text


# ---------------------------------------------------------------------------------------------------- a payment


def test_the_checkout_page(customer: TestClient, db: Database, settings: Settings, shop: Shop) -> None:
    fund(db, settings, shop, 1_234)
    intent_id = store_payment(db, settings, shop, 2_500)
    r = customer.get(f"/wallet/payments/{intent_id}")
    assert r.status_code == 200
    page = r.text
    assert 'data-testid="payment" data-status="requires_payment"' in page
    assert "Noodle House · table 4" in page and yuan(2_500) in page
    assert f"Pay from wallet (balance {yuan(1_234)})" in page
    for testid in ("pay-wallet", "pay-alipay-sim", "pay-wechatpay-sim", "cancel", "countdown"):
        assert f'data-testid="{testid}"' in page, testid
    assert re.search(r"Pay within 1[45] minutes \(before \d\d:\d\d\)", page)
    assert 'http-equiv="refresh"' not in page


def test_a_top_up_cannot_be_paid_from_the_wallet(customer: TestClient, db: Database, settings: Settings,
                                                  shop: Shop) -> None:
    with db.session() as s:
        intent_id = payments.create_top_up(s, payer_id=shop.customer_id, city_id=shop.city_id, currency="CNY",
                                           amount=500, settings=settings).id
    page = customer.get(f"/wallet/payments/{intent_id}").text
    assert "Wallet top-up" in page and 'data-testid="pay-alipay-sim"' in page
    assert 'data-testid="pay-wallet"' not in page


def test_someone_elses_payment_is_not_found(
    customer: TestClient, other: TestClient, db: Database, settings: Settings, shop: Shop
) -> None:
    fund(db, settings, shop, 5_000, person=shop.other_id)
    intent_id = store_payment(db, settings, shop, 2_500)
    token = csrf_of(other.get("/wallet").text)
    before = counts(db)
    for method, path, data in [
        ("get", f"/wallet/payments/{intent_id}", None),
        ("get", f"/wallet/payments/{intent_id}/checkout", None),
        ("post", f"/wallet/payments/{intent_id}/pay", {"method": "wallet", "csrf_token": token}),
        ("post", f"/wallet/payments/{intent_id}/pay", {"method": "alipay-sim", "csrf_token": token}),
        ("post", f"/wallet/payments/{intent_id}/cancel", {"csrf_token": token}),
        ("get", "/wallet/payments/not-a-uuid", None),
        ("get", f"/wallet/payments/{uuid.uuid4()}", None),
    ]:
        r = getattr(other, method)(path, data=data, follow_redirects=False) if data else other.get(
            path, follow_redirects=False)
        assert r.status_code == 404, path
        assert error_code(r.text) == "payment_intent_not_found"
        assert "Noodle House" not in r.text
    assert counts(db) == before and intent_of(db, intent_id).status == IntentStatus.REQUIRES_PAYMENT


def test_pay_from_the_wallet_declines_without_funds_then_succeeds(
    customer: TestClient, db: Database, settings: Settings, shop: Shop
) -> None:
    intent_id = store_payment(db, settings, shop, 2_500)
    fund(db, settings, shop, 1_000)
    token = csrf_of(customer.get(f"/wallet/payments/{intent_id}").text)
    before = counts(db)
    r = customer.post(f"/wallet/payments/{intent_id}/pay", data={"method": "wallet", "csrf_token": token})
    assert r.status_code == 402 and error_code(r.text) == "insufficient_funds"
    assert f"Your wallet holds {yuan(1_000)}; this payment needs {yuan(2_500)}." in r.text
    assert 'href="/wallet?amount=15.00#top-up" data-testid="top-up-link"' in r.text
    assert 'data-status="requires_payment"' in r.text
    assert counts(db) == before  # no transfer, not even a ledger account was left behind
    assert intent_of(db, intent_id).status == IntentStatus.REQUIRES_PAYMENT
    assert available(db, shop.customer_id) == 1_000

    fund(db, settings, shop, 2_000)
    r = customer.post(f"/wallet/payments/{intent_id}/pay", data={"method": "wallet", "csrf_token": token},
                      follow_redirects=False)
    assert location(r) == f"/wallet/payments/{intent_id}"
    done = intent_of(db, intent_id)
    assert (done.status, done.method) == ("succeeded", "wallet")
    assert available(db, shop.customer_id) == 500
    page = customer.get(f"/wallet/payments/{intent_id}").text
    assert 'data-testid="payment-succeeded"' in page and 'data-testid="pay-wallet"' not in page
    assert 'data-testid="cancel"' not in page

    # Paying again is harmless: the payment stands, nothing more moves.
    r = customer.post(f"/wallet/payments/{intent_id}/pay", data={"method": "wallet", "csrf_token": token},
                      follow_redirects=False)
    assert location(r) == f"/wallet/payments/{intent_id}" and available(db, shop.customer_id) == 500
    assert_ledger_sound(db)


def test_a_payment_form_needs_its_token(customer: TestClient, db: Database, settings: Settings, shop: Shop) -> None:
    fund(db, settings, shop, 5_000)
    intent_id = store_payment(db, settings, shop, 2_500)
    customer.get("/wallet")
    before = counts(db)
    for path, data in [(f"/wallet/payments/{intent_id}/pay", {"method": "wallet"}),
                       (f"/wallet/payments/{intent_id}/pay", {"method": "wallet", "csrf_token": "forged"}),
                       (f"/wallet/payments/{intent_id}/cancel", {})]:
        r = customer.post(path, data=data)
        assert r.status_code == 403 and error_code(r.text) == "csrf_failed", path
    assert counts(db) == before and intent_of(db, intent_id).status == IntentStatus.REQUIRES_PAYMENT


def test_an_unknown_method_is_refused(customer: TestClient, db: Database, settings: Settings, shop: Shop) -> None:
    intent_id = store_payment(db, settings, shop, 2_500)
    token = csrf_of(customer.get("/wallet").text)
    r = customer.post(f"/wallet/payments/{intent_id}/pay", data={"method": "paypal", "csrf_token": token})
    assert r.status_code == 400 and error_code(r.text) == "unknown_channel"
    assert intent_of(db, intent_id).status == IntentStatus.REQUIRES_PAYMENT


def test_pay_through_a_channel_hands_off_and_shows_processing(
    customer: TestClient, db: Database, settings: Settings, shop: Shop, routed: None
) -> None:
    intent_id = store_payment(db, settings, shop, 2_500)
    token = csrf_of(customer.get("/wallet").text)
    r = customer.post(f"/wallet/payments/{intent_id}/pay", data={"method": "alipay-sim", "csrf_token": token},
                      follow_redirects=False)
    assert location(r) == f"/wallet/payments/{intent_id}/checkout"
    assert (intent_of(db, intent_id).status, intent_of(db, intent_id).method) == ("processing", "alipay-sim")
    page = customer.get(f"/wallet/payments/{intent_id}").text
    assert 'data-status="processing"' in page and 'http-equiv="refresh" content="3"' in page
    assert f'href="/wallet/payments/{intent_id}/checkout" data-testid="continue-cashier"' in page
    assert 'data-testid="pay-wallet"' not in page and 'data-testid="cancel"' in page
    assert location(customer.get(f"/wallet/payments/{intent_id}/checkout", follow_redirects=False)).startswith(
        f"{BASE}/sim/alipay/gateway.do?")

    # Back without paying: the channel still waits, so the payment is still processing.
    assert location(customer.get(f"/wallet/payments/{intent_id}/return", follow_redirects=False)) == (
        f"/wallet/payments/{intent_id}")
    assert intent_of(db, intent_id).status == IntentStatus.PROCESSING

    # Canceling asks the channel to close the trade; until it confirms, the page says so.
    r = customer.post(f"/wallet/payments/{intent_id}/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert location(r) == f"/wallet/payments/{intent_id}"
    page = customer.get(f"/wallet/payments/{intent_id}").text
    assert 'data-testid="payment-closing"' in page and 'data-testid="continue-cashier"' not in page
    assert location(customer.get(f"/wallet/payments/{intent_id}/checkout", follow_redirects=False)) == (
        f"/wallet/payments/{intent_id}")
    # The return route (or the worker) asks the channel, which closes the trade: canceled.
    customer.get(f"/wallet/payments/{intent_id}/return", follow_redirects=False)
    assert intent_of(db, intent_id).status == IntentStatus.CANCELED
    assert 'data-testid="payment-canceled"' in customer.get(f"/wallet/payments/{intent_id}").text


def test_cancel_an_unpaid_payment(customer: TestClient, db: Database, settings: Settings, shop: Shop) -> None:
    intent_id = store_payment(db, settings, shop, 2_500)
    token = csrf_of(customer.get("/wallet").text)
    r = customer.post(f"/wallet/payments/{intent_id}/cancel", data={"csrf_token": token}, follow_redirects=False)
    assert location(r) == f"/wallet/payments/{intent_id}"
    assert intent_of(db, intent_id).status == IntentStatus.CANCELED
    page = customer.get(f"/wallet/payments/{intent_id}").text
    assert 'data-status="canceled"' in page and "You canceled this payment." in page
    assert 'data-testid="pay-wallet"' not in page and 'data-testid="cancel"' not in page
    # Paying a canceled payment is refused with the page and a message; nothing moves.
    before = counts(db)
    r = customer.post(f"/wallet/payments/{intent_id}/pay", data={"method": "wallet", "csrf_token": token})
    assert r.status_code == 409 and error_code(r.text) == "payment_intent_not_payable"
    assert "it is canceled" in r.text and counts(db) == before


def test_an_expired_payment_cannot_be_paid(customer: TestClient, db: Database, settings: Settings,
                                           shop: Shop) -> None:
    fund(db, settings, shop, 5_000)
    start = dt.datetime.now(dt.UTC)
    with frozen_clock(start) as clock:
        intent_id = store_payment(db, settings, shop, 2_500)
        token = csrf_of(customer.get("/wallet").text)
        clock.advance(minutes=settings.payment_timeout_minutes + 1)
        page = customer.get(f"/wallet/payments/{intent_id}").text
        assert 'data-testid="payment-expired"' in page and 'data-testid="pay-wallet"' not in page
        r = customer.post(f"/wallet/payments/{intent_id}/pay", data={"method": "wallet", "csrf_token": token})
        assert r.status_code == 409 and error_code(r.text) == "payment_intent_expired"
    assert available(db, shop.customer_id) == 5_000


def test_a_payment_with_refunds_lists_them(customer: TestClient, db: Database, settings: Settings,
                                           shop: Shop) -> None:
    fund(db, settings, shop, 5_000)
    intent_id = store_payment(db, settings, shop, 2_500)
    with db.session() as s:
        payments.pay_from_wallet(s, intent_id, shop.customer_id)
    with db.session() as s:
        payments.refund(s, intent_id, refund_no="r1", amount=700, reason="cold noodles")
    page = customer.get(f"/wallet/payments/{intent_id}").text
    assert re.search(r'data-testid="refund-row" data-status="succeeded" data-amount="700"', page)
    assert f'data-testid="refunded-amount">{yuan(700)}<' in page and "to your wallet" in page


def test_the_checkout_says_when_the_channel_is_down(
    customer: TestClient, db: Database, settings: Settings, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    intent_id = store_payment(db, settings, shop, 2_500)
    with db.session() as s:
        payments.start_channel(s, intent_id, shop.customer_id, "wechatpay-sim")

    def down(database, cfg, key):  # type: ignore[no-untyped-def]
        with database.session() as s:  # the channel may write to the database: no transaction of ours is open
            assert payments.get_intent(s, key).status == IntentStatus.PROCESSING
        raise wallet_errors.channel_unavailable()

    monkeypatch.setattr(payments, "checkout_url", down)
    r = customer.get(f"/wallet/payments/{intent_id}/checkout", follow_redirects=False)
    assert r.status_code == 503 and error_code(r.text) == "channel_unavailable"
    assert f'href="/wallet/payments/{intent_id}/checkout"' in r.text  # try again
    assert f'href="/wallet/payments/{intent_id}"' in r.text
    assert intent_of(db, intent_id).status == IntentStatus.PROCESSING


def test_the_return_route_needs_no_sign_in_and_reveals_nothing(
    app, customer: TestClient, db: Database, settings: Settings, shop: Shop, routed: None
) -> None:
    intent_id = store_payment(db, settings, shop, 2_500)
    token = csrf_of(customer.get("/wallet").text)
    gateway = location(customer.get(location(customer.post(
        f"/wallet/payments/{intent_id}/pay", data={"method": "alipay-sim", "csrf_token": token},
        follow_redirects=False)), follow_redirects=False))
    cashier = customer.get(gateway)
    pay_action = re.search(r'<form method="post" action="([^"]+/pay)"', cashier.text).group(1)
    customer.post(pay_action, data={"csrf_token": csrf_of(cashier.text)}, follow_redirects=False)
    assert intent_of(db, intent_id).status == IntentStatus.PROCESSING  # no callback delivered yet

    with TestClient(app, base_url=BASE) as stranger:  # the cashier's redirect, forged query and all
        r = stranger.get(f"/wallet/payments/{intent_id}/return?trade_status=TRADE_FAILED", follow_redirects=False)
        assert location(r) == f"/wallet/payments/{intent_id}"
        assert intent_of(db, intent_id).status == IntentStatus.SUCCEEDED  # what the channel says, not the query
        assert "/signin" in location(stranger.get(location(r), follow_redirects=False))
        assert stranger.get("/wallet/payments/nonsense/return").status_code == 404
    # Once resolved, a second return changes nothing.
    before = counts(db)
    assert location(customer.get(f"/wallet/payments/{intent_id}/return", follow_redirects=False))
    assert counts(db) == before
    assert_ledger_sound(db)


# ---------------------------------------------------------------------------------------------------- pay this shop


def test_pay_a_shop_at_its_counter(customer: TestClient, db: Database, shop: Shop) -> None:
    r = customer.get(f"/stores/{shop.store_id}/pay")
    assert r.status_code == 200
    assert 'data-testid="store-name">Noodle House<' in r.text
    assert '<label for="store-pay-amount">' in r.text and '<label for="store-pay-note">' in r.text
    r = customer.post(f"/stores/{shop.store_id}/pay",
                      data={"amount": "36.5", "note": " table 7 ", "csrf_token": csrf_of(r.text)},
                      follow_redirects=False)
    intent_id = uuid.UUID(location(r).rsplit("/", 1)[1])
    intent = intent_of(db, intent_id)
    assert (intent.amount, intent.store_id, intent.purpose, intent.description, intent.payer_person_id) == (
        3_650, shop.store_id, "store_payment", "Noodle House · table 7", shop.customer_id)
    assert intent.status == IntentStatus.REQUIRES_PAYMENT


def test_a_refused_shop_payment_changes_nothing(customer: TestClient, db: Database, shop: Shop) -> None:
    token = csrf_of(customer.get(f"/stores/{shop.store_id}/pay").text)
    before = counts(db)
    r = customer.post(f"/stores/{shop.store_id}/pay", data={"amount": "3.141", "note": "tea", "csrf_token": token})
    assert r.status_code == 400 and error_code(r.text) == "invalid_amount"
    assert 'value="tea" data-testid="store-pay-note"' in r.text and 'value="3.141"' in r.text
    r = customer.post(f"/stores/{shop.store_id}/pay", data={"amount": "3", "csrf_token": "forged"})
    assert r.status_code == 403 and error_code(r.text) == "csrf_failed"
    for store in (uuid.uuid4(), "nonsense"):
        assert customer.get(f"/stores/{store}/pay").status_code == 404
        r = customer.post(f"/stores/{store}/pay", data={"amount": "3", "csrf_token": token})
        assert r.status_code == 404 and error_code(r.text) == "unknown_store"
    assert counts(db) == before


# ---------------------------------------------------------------------------------------------------- statements


def settled_sale(db: Database, settings: Settings, shop: Shop, amount: int) -> uuid.UUID:
    fund(db, settings, shop, amount)
    intent_id = store_payment(db, settings, shop, amount)
    with db.session() as s:
        payments.pay_from_wallet(s, intent_id, shop.customer_id)
    with db.session() as s:
        payments.settle(s, intent_id)
    return intent_id


@dataclass(frozen=True)
class OtherCity:
    city_id: uuid.UUID
    store_id: uuid.UUID


def another_city(db: Database) -> OtherCity:
    """A second city with a store of its own (and no people)."""
    with db.session() as s:
        city = new_city("elseville")
        s.add(city)
        s.flush()
        merchant = Merchant(city_id=city.id, name="Tea Corner Ltd")
        s.add(merchant)
        s.flush()
        store = Store(city_id=city.id, merchant_id=merchant.id, name="Tea Corner", category="tea", lat=31.2,
                      lng=121.5, h3_r9=h3_cell(31.2, 121.5))
        s.add(store)
        s.flush()
        return OtherCity(city.id, store.id)


def test_a_store_owner_sees_the_daily_statement(
    app, db: Database, settings: Settings, shop: Shop
) -> None:
    # 2026-11-26 12:00 in Beijing: a sale of ¥100 settled (15% commission), another the next morning.
    noon = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)
    with frozen_clock(noon) as clock:
        first = settled_sale(db, settings, shop, 10_000)
        clock.advance(hours=20)
        settled_sale(db, settings, shop, 2_000)
        clock.advance(hours=1)  # 2026-11-27 09:00 in Beijing
        with db.session() as s:
            accounts.ensure_role(s, shop.courier_id, Role.MERCHANT_OWNER, city_id=shop.city_id, store_id=shop.store_id)
        with TestClient(app, base_url=BASE) as owner:
            sign_in(owner, db, shop.courier_id)
            r = owner.get(f"/merchant/stores/{shop.store_id}/statement")  # yesterday by default
            assert r.status_code == 200
            page = r.text
            assert 'data-testid="statement-day">2026-11-26<' in page
            lines = re.findall(r'data-testid="statement-line" data-intent="([^"]+)" data-net="(\d+)"', page)
            assert lines == [(str(first), "8500")]
            assert 'data-testid="opening-balance" data-amount="0"' in page
            assert 'data-testid="closing-balance" data-amount="8500"' in page
            assert 'data-testid="total-net" data-amount="8500"' in page
            assert yuan(10_000) in page and "-" + yuan(1_500) in page and yuan(8_500) in page
            assert 'href="?day=2026-11-25"' in page and 'href="?day=2026-11-27" class="button' in page
            bars = re.findall(r'data-testid="chart-bar"\s+data-day="([\d-]+)" data-net="(\d+)"', page)
            assert len(bars) == 14 and bars[-1] == ("2026-11-26", "8500") and bars[0][0] == "2026-11-13"
            assert sum(int(net) for _day, net in bars) == 8500

            page = owner.get(f"/merchant/stores/{shop.store_id}/statement?day=2026-11-27").text
            assert 'data-testid="opening-balance" data-amount="8500"' in page
            assert 'data-testid="closing-balance" data-amount="10200"' in page
            assert 'data-testid="next-day"' not in page  # today: no statement of tomorrow yet

            page = owner.get(f"/merchant/stores/{shop.store_id}/statement?day=2026-11-20").text
            assert 'data-testid="no-lines"' in page and 'data-testid="closing-balance" data-amount="0"' in page
            r = owner.get(f"/merchant/stores/{shop.store_id}/statement?day=2026-13-01")
            assert r.status_code == 400 and error_code(r.text) == "invalid_day"


def test_statements_are_for_the_owner_and_the_citys_operators(
    app, customer: TestClient, db: Database, settings: Settings, shop: Shop
) -> None:
    settled_sale(db, settings, shop, 1_000)
    path = f"/merchant/stores/{shop.store_id}/statement"
    r = customer.get(path)
    assert r.status_code == 403 and error_code(r.text) == "forbidden"
    assert "Noodle House" not in r.text.split('id="notice-title"', 1)[1]

    other_city = another_city(db)
    with db.session() as s:
        operator, _ = accounts.get_or_create_person(s, "+8613900000001")
        operator_elsewhere, _ = accounts.get_or_create_person(s, "+8613900000002")
        owner_elsewhere, _ = accounts.get_or_create_person(s, "+8613900000003")
        accounts.ensure_role(s, operator.id, Role.PLATFORM_OPERATOR, city_id=shop.city_id)
        accounts.ensure_role(s, operator_elsewhere.id, Role.PLATFORM_OPERATOR, city_id=other_city.city_id)
        accounts.ensure_role(s, owner_elsewhere.id, Role.MERCHANT_OWNER, city_id=other_city.city_id,
                             store_id=other_city.store_id)
        people = [(operator.id, 200), (operator_elsewhere.id, 403), (owner_elsewhere.id, 403)]
    for person, status in people:
        with TestClient(app, base_url=BASE) as c:
            assert sign_in(c, db, person).get(path).status_code == status
    assert customer.get(f"/merchant/stores/{uuid.uuid4()}/statement").status_code == 404
