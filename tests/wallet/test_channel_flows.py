"""Payments through the simulated channels end to end, in-process: our API and service, the channels' cashiers,
their faulty callbacks into our notify endpoint, queries on unknown outcomes, closes, refunds, bills and the
reconciliation."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from o2o.accounts.permissions import Role
from o2o.db import Database
from o2o.kit.time import frozen_clock, now
from o2o.wallet import chart, payments, reconciliation
from o2o.wallet import service as ledger
from o2o.wallet.channels.sim import service as sim
from o2o.wallet.channels.sim.models import SimNotification, SimTrade
from o2o.wallet.models import ChannelTrade, Refund, WalletTransfer
from tests.wallet.channels.test_end_to_end import _redirect_field
from tests.wallet.conftest import Shop, assert_ledger_sound, cashier_forms, set_rates
from tests.wallet.test_endpoints import grant, token_for

CHANNELS = ["alipay-sim", "wechatpay-sim"]


def count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    with db.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def pay_at_cashier(db: Database, app, browser: TestClient, intent_id: uuid.UUID) -> None:  # type: ignore[no-untyped-def]
    """The customer opens the cashier (our hand-off gives its URL) and presses Pay."""
    url = payments.checkout_url(db, app.state.settings, intent_id)
    page = browser.get(url)
    assert page.status_code == 200, page.text
    token, actions = cashier_forms(page.text)
    answer = browser.post(actions["pay"], data={"csrf_token": token, "redirect_url": _redirect_field(page.text)},
                          follow_redirects=False)
    assert answer.status_code == 303, answer.text


def deliver_all(db: Database, app) -> int:  # type: ignore[no-untyped-def]
    """Deliver every queued callback, late ones included (the clock runs ahead of the longest delay)."""
    total = 0
    with frozen_clock(now() + dt.timedelta(minutes=2)):  # both sides see the same later time
        for _ in range(10):
            sent = sim.deliver_due(db, app.state.settings)
            total += sent
            if not sent:
                break
    return total


@pytest.fixture
def customer(client: TestClient, db: Database, shop: Shop) -> dict[str, str]:
    return token_for(client, db, shop.customer_id)


@pytest.mark.parametrize("channel", CHANNELS)
def test_top_up_with_duplicated_and_tampered_callbacks_credits_once(
    app, client: TestClient, db: Database, shop: Shop, customer, in_process: TestClient, channel: str  # type: ignore[no-untyped-def]
) -> None:
    set_rates(app, duplicate=1.0, tamper=1.0, delay=3.0)
    r = client.post("/api/wallet/top-ups", json={"city_id": str(shop.city_id), "amount": 5_000, "channel": channel},
                    headers=customer)
    assert r.status_code == 201, r.text
    intent_id = uuid.UUID(r.json()["id"])
    assert r.json()["status"] == "processing"
    pay_at_cashier(db, app, in_process, intent_id)

    deliver_all(db, app)
    with db.sessionmaker() as s:
        rows = sim.deliveries(s)
    answers = [(n.variant == "tampered", d.accepted) for n, d in rows]
    assert any(t for t, _ in answers) and any(not t for t, _ in answers)
    assert all(not accepted for tampered, accepted in answers if tampered)  # every forged copy refused
    genuine = [accepted for tampered, accepted in answers if not tampered]
    assert len(genuine) >= 2 and all(genuine)  # duplicates acknowledged (and applied once)
    assert client.get(f"/api/wallet/payment-intents/{intent_id}", headers=customer).json()["status"] == "succeeded"
    assert client.get("/api/wallet", headers=customer).json()["available"] == 5_000
    with db.sessionmaker() as s:
        transfers = s.scalars(select(WalletTransfer).where(WalletTransfer.user_data_128 == intent_id)).all()
    assert len(transfers) == 1
    assert_ledger_sound(db)


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_lost_callback_is_resolved_by_a_query_never_by_paying_again(
    app, client: TestClient, db: Database, shop: Shop, customer, in_process: TestClient, channel: str  # type: ignore[no-untyped-def]
) -> None:
    intent = client.post("/api/wallet/payment-intents", json={"store_id": str(shop.store_id), "amount": 1_888},
                         headers=customer).json()
    client.post(f"/api/wallet/payment-intents/{intent['id']}/confirm", json={"method": channel}, headers=customer)
    intent_id = uuid.UUID(intent["id"])
    pay_at_cashier(db, app, in_process, intent_id)
    # No callback delivered yet (lost, late): the resolver asks the channel.
    assert payments.resolve_intent(db, app.state.settings, intent_id) == "paid"
    assert client.get(f"/api/wallet/payment-intents/{intent_id}", headers=customer).json()["status"] == "succeeded"
    deliver_all(db, app)  # the late callbacks change nothing
    with db.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(SimTrade).where(SimTrade.channel == channel)) == 1
        escrow = chart.sales_escrow(shop.city_id, "CNY")
        assert ledger.balances(s, [escrow.id])[escrow.id].posted == 1_888
    assert_ledger_sound(db)


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_unpaid_trade_is_closed_at_the_deadline_and_cannot_be_paid_after(
    app, client: TestClient, db: Database, shop: Shop, customer, in_process: TestClient, channel: str  # type: ignore[no-untyped-def]
) -> None:
    intent = client.post("/api/wallet/payment-intents", json={"store_id": str(shop.store_id), "amount": 700},
                         headers=customer).json()
    client.post(f"/api/wallet/payment-intents/{intent['id']}/confirm", json={"method": channel}, headers=customer)
    intent_id = uuid.UUID(intent["id"])
    url = payments.checkout_url(db, app.state.settings, intent_id)
    page = in_process.get(url)
    assert page.status_code == 200
    assert payments.resolve_intent(db, app.state.settings, intent_id) == "waiting"  # not due yet
    later = now() + dt.timedelta(minutes=app.state.settings.payment_timeout_minutes, seconds=1)
    with frozen_clock(later):
        assert payments.resolve_intent(db, app.state.settings, intent_id) == "closed"
        token, actions = cashier_forms(page.text)
        late = in_process.post(actions["pay"], data={"csrf_token": token, "redirect_url": _redirect_field(page.text)},
                               follow_redirects=False)
    assert late.status_code != 303 or "closed" in late.text.lower()
    final = client.get(f"/api/wallet/payment-intents/{intent_id}", headers=customer).json()
    assert (final["status"], final["cancellation_reason"]) == ("canceled", "expired")
    assert count(db, WalletTransfer) == 0


@pytest.mark.parametrize("channel", CHANNELS)
def test_refund_through_the_channel_and_reconcile_the_day(
    app, client: TestClient, db: Database, shop: Shop, customer, in_process: TestClient, channel: str  # type: ignore[no-untyped-def]
) -> None:
    intent = client.post("/api/wallet/payment-intents", json={"store_id": str(shop.store_id), "amount": 3_000},
                         headers=customer).json()
    intent_id = uuid.UUID(intent["id"])
    client.post(f"/api/wallet/payment-intents/{intent_id}/confirm", json={"method": channel}, headers=customer)
    pay_at_cashier(db, app, in_process, intent_id)
    deliver_all(db, app)
    grant(db, shop.other_id, Role.MERCHANT_OWNER, city_id=shop.city_id, store_id=shop.store_id)
    owner = token_for(client, db, shop.other_id)
    r = client.post(f"/api/wallet/payment-intents/{intent_id}/refunds",
                    json={"refund_no": "back-1", "amount": 1_000, "reason": "one bowl was missing"}, headers=owner)
    assert r.status_code == 201 and r.json()["status"] == "pending" and r.json()["destination"] == "channel"
    refund_id = uuid.UUID(r.json()["id"])
    assert payments.process_refund(db, app.state.settings, refund_id) == "succeeded"
    assert payments.process_refund(db, app.state.settings, refund_id) == "not_pending"
    listed = client.get(f"/api/wallet/payment-intents/{intent_id}/refunds", headers=owner).json()
    assert [x["status"] for x in listed] == ["succeeded"]
    escrow = chart.sales_escrow(shop.city_id, "CNY")
    with db.sessionmaker() as s:
        b = ledger.balances(s, [escrow.id])[escrow.id]
    assert (b.posted, b.available) == (2_000, 2_000)

    day = reconciliation.yesterday_in_china(now() + dt.timedelta(days=1))  # today, China time
    with frozen_clock(now() + dt.timedelta(days=1)):
        report = reconciliation.reconcile(db, app.state.settings, channel, day)
    assert (report.status, report.our_entries, report.channel_entries) == ("matched", 2, 2)
    assert report.our_total == report.channel_total == 2_000

    # Our records drift (say a refund recorded with the wrong amount): the next run reports it.
    with db.session() as s:
        s.execute(update(Refund).where(Refund.id == refund_id).values(amount=999))
    with frozen_clock(now() + dt.timedelta(days=1)):
        report = reconciliation.reconcile(db, app.state.settings, channel, day)
    with db.sessionmaker() as s:
        diffs = [(d.kind, d.entry, d.ours, d.theirs) for d in reconciliation.differences_of(s, report.id)]
    assert report.status == "differences" and diffs == [("amount_differs", "refund", 999, 1_000)]


def test_the_bill_is_not_ready_before_the_day_ends(
    app, client: TestClient, db: Database, shop: Shop, in_process: TestClient  # type: ignore[no-untyped-def]
) -> None:
    operator = shop.courier_id
    grant(db, operator, Role.PLATFORM_OPERATOR)
    auth = token_for(client, db, operator)
    today = reconciliation.yesterday_in_china(now() + dt.timedelta(days=1))
    r = client.post("/api/wallet/reconciliations", json={"channel": "alipay-sim", "day": str(today)}, headers=auth)
    assert r.status_code == 409 and r.json()["code"] == "bill_not_ready"
    yesterday = reconciliation.yesterday_in_china()
    r = client.post("/api/wallet/reconciliations", json={"channel": "alipay-sim", "day": str(yesterday)}, headers=auth)
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["our_entries"]) == ("matched", 0)
    assert [x["day"] for x in client.get("/api/wallet/reconciliations", headers=auth).json()] == [str(yesterday)]
    customer = token_for(client, db, shop.customer_id)
    assert client.get("/api/wallet/reconciliations", headers=customer).status_code == 403


def test_a_tampered_callback_changes_nothing(
    app, client: TestClient, db: Database, shop: Shop, customer, in_process: TestClient  # type: ignore[no-untyped-def]
) -> None:
    set_rates(app, duplicate=0.0, tamper=1.0, delay=0.0)
    intent = client.post("/api/wallet/top-ups", json={"city_id": str(shop.city_id), "amount": 900,
                                                      "channel": "alipay-sim"}, headers=customer).json()
    intent_id = uuid.UUID(intent["id"])
    pay_at_cashier(db, app, in_process, intent_id)
    # Deliver the forged copies only: they must be refused and leave no trace.
    with db.sessionmaker() as s:
        rows = s.scalars(select(SimNotification).where(SimNotification.variant == "tampered")).all()
        genuine = s.scalars(select(SimNotification).where(SimNotification.variant != "tampered")).all()
    assert rows and genuine
    with db.session() as s:  # keep the genuine one back for now
        s.execute(update(SimNotification).where(SimNotification.variant != "tampered").values(status="held"))
    deliver_all(db, app)
    assert count(db, WalletTransfer) == 0
    with db.sessionmaker() as s:
        trade = s.scalars(select(ChannelTrade)).one()
        assert trade.status == "waiting"
    assert client.get(f"/api/wallet/payment-intents/{intent_id}", headers=customer).json()["status"] == "processing"
    with db.session() as s:  # now the genuine callback arrives
        s.execute(update(SimNotification).where(SimNotification.status == "held").values(status="pending"))
    deliver_all(db, app)
    assert client.get(f"/api/wallet/payment-intents/{intent_id}", headers=customer).json()["status"] == "succeeded"
    assert count(db, WalletTransfer) == 1


@pytest.mark.parametrize("channel", CHANNELS)
def test_an_app_opens_the_cashier_from_next_action_without_a_page_session(
    app, client: TestClient, db: Database, shop: Shop, customer, in_process: TestClient, channel: str  # type: ignore[no-untyped-def]
) -> None:
    intent = client.post("/api/wallet/payment-intents", json={"store_id": str(shop.store_id), "amount": 450},
                         headers=customer).json()
    confirmed = client.post(f"/api/wallet/payment-intents/{intent['id']}/confirm", json={"method": channel},
                            headers=customer).json()
    url = confirmed["next_action"]["url"]
    hand_off = in_process.get(url, follow_redirects=False)  # a browser with no cookie of ours
    assert hand_off.status_code == 303 and "/sim/" in hand_off.headers["location"]
    forged = in_process.get(url[:-3] + "AAA", follow_redirects=False)
    assert forged.status_code == 303 and "/sim/" not in forged.headers["location"]  # sign in first
