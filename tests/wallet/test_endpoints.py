"""The wallet API through HTTP: auth, typed errors that change nothing, idempotent retries, and races.

Channel-paid flows with the simulators end to end are in ``test_channel_flows.py``.
"""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from o2o.accounts import service as accounts
from o2o.accounts.permissions import Role
from o2o.db import Database
from o2o.wallet import chart, payments
from o2o.wallet import service as ledger
from o2o.wallet.channels import base as ch
from o2o.wallet.models import PaymentIntent, Refund, WalletTransfer
from tests.wallet.conftest import Shop, assert_ledger_sound


def token_for(client: TestClient, db: Database, person_id: uuid.UUID) -> dict[str, str]:
    with db.session() as s:
        token, _row = accounts.create_session(s, client.app.state.settings, person_id, method="otp")
    return {"Authorization": f"Bearer {token}"}


def grant(db: Database, person_id: uuid.UUID, role: Role, **scope: uuid.UUID) -> None:
    with db.session() as s:
        accounts.ensure_role(s, person_id, role, **scope)


def fund(db: Database, settings, shop: Shop, amount: int, person: uuid.UUID | None = None) -> None:  # type: ignore[no-untyped-def]
    """Credit a wallet the way a verified channel callback does."""
    person = person or shop.customer_id
    with db.session() as s:
        intent = payments.create_top_up(s, payer_id=person, city_id=shop.city_id, currency="CNY", amount=amount,
                                        settings=settings)
        intent = payments.start_channel(s, intent.id, person, "alipay-sim")
        trade_no = intent.trade_no
    with db.session() as s:
        payments.apply_channel_trade(
            s, ch.ChannelTrade(ch.ChannelName.ALIPAY_SIM, trade_no, ch.TradeStatus.PAID, amount, "T1")
        )


def count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    with db.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def customer(client: TestClient, db: Database, shop: Shop) -> dict[str, str]:
    return token_for(client, db, shop.customer_id)


def test_the_wallet_needs_a_signed_in_person(client: TestClient) -> None:
    r = client.get("/api/wallet")
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated"


def test_pay_a_shop_from_the_wallet(client: TestClient, db: Database, settings, shop: Shop, customer) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/wallet", headers=customer).json()["available"] == 0
    r = client.post("/api/wallet/payment-intents", json={"store_id": str(shop.store_id), "amount": 2_500,
                                                         "note": "table 4"}, headers=customer)
    assert r.status_code == 201, r.text
    intent = r.json()
    assert (intent["status"], intent["amount"], intent["description"]) == ("requires_payment", 2_500,
                                                                           "Noodle House · table 4")
    r = client.post(f"/api/wallet/payment-intents/{intent['id']}/confirm", json={"method": "wallet"}, headers=customer)
    assert r.status_code == 402 and r.json()["code"] == "insufficient_funds"
    assert count(db, WalletTransfer) == 0

    fund(db, settings, shop, 3_000)
    r = client.post(f"/api/wallet/payment-intents/{intent['id']}/confirm", json={"method": "wallet"},
                    headers={**customer, "Idempotency-Key": "pay-1"})
    assert r.status_code == 200 and r.json()["status"] == "succeeded"
    again = client.post(f"/api/wallet/payment-intents/{intent['id']}/confirm", json={"method": "wallet"},
                        headers={**customer, "Idempotency-Key": "pay-1"})
    assert again.headers.get("idempotent-replayed") == "true" and again.json() == r.json()
    balance = client.get("/api/wallet", headers=customer).json()
    assert (balance["available"], balance["posted"]) == (500, 500)
    kinds = [(line["kind"], line["amount"]) for line in client.get("/api/wallet/transactions", headers=customer).json()]
    assert sorted(kinds) == [("payment", -2_500), ("top_up", 3_000)]
    assert_ledger_sound(db)


def test_a_channel_confirm_gives_the_cashier_hand_off(client: TestClient, db: Database, shop: Shop, customer) -> None:  # type: ignore[no-untyped-def]
    intent = client.post("/api/wallet/payment-intents", json={"store_id": str(shop.store_id), "amount": 100},
                         headers=customer).json()
    r = client.post(f"/api/wallet/payment-intents/{intent['id']}/confirm", json={"method": "wechatpay-sim"},
                    headers=customer)
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "processing" and body["method"] == "wechatpay-sim"
    assert f"/wallet/payments/{intent['id']}/checkout?t=" in body["next_action"]["url"]
    r = client.post(f"/api/wallet/payment-intents/{intent['id']}/confirm", json={"method": "bitcoin"},
                    headers=customer)
    assert r.status_code == 422
    r = client.post(f"/api/wallet/payment-intents/{intent['id']}/cancel", headers=customer)
    assert r.json()["status"] == "processing" and r.json()["cancel_requested"] is True


def test_someone_elses_payment_is_not_found(client: TestClient, db: Database, shop: Shop, customer) -> None:  # type: ignore[no-untyped-def]
    intent = client.post("/api/wallet/payment-intents", json={"store_id": str(shop.store_id), "amount": 100},
                         headers=customer).json()
    stranger = token_for(client, db, shop.other_id)
    for method, path, body in (
        ("GET", "", None),
        ("POST", "/confirm", {"method": "wallet"}),
        ("POST", "/cancel", None),
    ):
        r = client.request(method, f"/api/wallet/payment-intents/{intent['id']}{path}", json=body, headers=stranger)
        assert r.status_code == 404 and r.json()["code"] == "payment_intent_not_found"
    assert client.get(f"/api/wallet/payment-intents/{intent['id']}", headers=customer).json()["status"] == (
        "requires_payment"
    )


def test_unknown_store_and_bad_amounts(client: TestClient, db: Database, shop: Shop, customer) -> None:  # type: ignore[no-untyped-def]
    r = client.post("/api/wallet/payment-intents", json={"store_id": str(uuid.uuid4()), "amount": 100},
                    headers=customer)
    assert r.status_code == 400 and r.json()["code"] == "unknown_store"
    for amount in (0, -1, 5_000_001, 1.5, "12"):
        r = client.post("/api/wallet/payment-intents", json={"store_id": str(shop.store_id), "amount": amount},
                        headers=customer)
        assert r.status_code == 422, amount
    assert count(db, PaymentIntent) == 0


def test_refunds_by_the_store_owner_only(client: TestClient, db: Database, settings, shop: Shop, customer) -> None:  # type: ignore[no-untyped-def]
    fund(db, settings, shop, 1_000)
    intent = client.post("/api/wallet/payment-intents", json={"store_id": str(shop.store_id), "amount": 1_000},
                         headers=customer).json()
    client.post(f"/api/wallet/payment-intents/{intent['id']}/confirm", json={"method": "wallet"}, headers=customer)
    refund = {"refund_no": "r-1", "amount": 400, "reason": "cold noodles"}
    r = client.post(f"/api/wallet/payment-intents/{intent['id']}/refunds", json=refund, headers=customer)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert count(db, Refund) == 0

    owner = shop.other_id
    grant(db, owner, Role.MERCHANT_OWNER, city_id=shop.city_id, store_id=shop.store_id)
    owner_auth = token_for(client, db, owner)
    r = client.post(f"/api/wallet/payment-intents/{intent['id']}/refunds", json=refund, headers=owner_auth)
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["destination"], r.json()["amount"]) == ("succeeded", "wallet", 400)
    same = client.post(f"/api/wallet/payment-intents/{intent['id']}/refunds", json=refund, headers=owner_auth)
    assert same.status_code == 201 and same.json()["id"] == r.json()["id"]
    r = client.post(f"/api/wallet/payment-intents/{intent['id']}/refunds",
                    json={"refund_no": "r-2", "amount": 601}, headers=owner_auth)
    assert r.status_code == 409 and r.json()["code"] == "refund_exceeds_payment"
    assert client.get("/api/wallet", headers=customer).json()["available"] == 400
    listed = client.get(f"/api/wallet/payment-intents/{intent['id']}/refunds", headers=customer).json()
    assert [x["refund_no"] for x in listed] == ["r-1"]
    assert_ledger_sound(db)


def test_settlement_and_the_store_statement(client: TestClient, db: Database, settings, shop: Shop, customer) -> None:  # type: ignore[no-untyped-def]
    fund(db, settings, shop, 2_000)
    intent = client.post("/api/wallet/payment-intents", json={"store_id": str(shop.store_id), "amount": 2_000},
                         headers=customer).json()
    client.post(f"/api/wallet/payment-intents/{intent['id']}/confirm", json={"method": "wallet"}, headers=customer)
    r = client.post(f"/api/wallet/payment-intents/{intent['id']}/settle", json={}, headers=customer)
    assert r.status_code == 403
    operator = shop.courier_id
    grant(db, operator, Role.PLATFORM_OPERATOR, city_id=shop.city_id)
    r = client.post(f"/api/wallet/payment-intents/{intent['id']}/settle", json={}, headers=token_for(client, db,
                                                                                                     operator))
    assert r.status_code == 200 and r.json()["settled_at"] is not None
    with db.sessionmaker() as s:
        settled = payments.get_intent(s, uuid.UUID(intent["id"]))
        day = settled.settled_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Shanghai")).date()
        receivable = chart.merchant_receivable(shop.store_id, shop.city_id, "CNY")
        assert ledger.balances(s, [receivable.id])[receivable.id].posted == 1_700
    r = client.get(f"/api/wallet/stores/{shop.store_id}/statements/{day}", headers=customer)
    assert r.status_code == 403
    r = client.get(f"/api/wallet/stores/{shop.store_id}/statements/{day}", headers=token_for(client, db, operator))
    assert r.status_code == 200
    statement = r.json()
    assert (statement["total_gross"], statement["total_commission"], statement["total_net"]) == (2_000, 300, 1_700)
    assert statement["closing_balance"] - statement["opening_balance"] == 1_700


@pytest.mark.postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_ten_parallel_confirms_with_one_key_make_one_transfer(db: Database, settings, shop: Shop, live_server) -> None:  # type: ignore[no-untyped-def]
    """Real connections, real threads: ten identical requests, one payment, one ledger transfer."""
    fund(db, settings, shop, 5_000)
    with db.session() as s:
        token, _ = accounts.create_session(s, settings, shop.customer_id, method="otp")
        intent = payments.create_store_payment(s, payer_id=shop.customer_id, store_id=shop.store_id, amount=1_234,
                                               note="", settings=settings)
    before = count(db, WalletTransfer)
    results: list[httpx.Response] = []
    barrier = threading.Barrier(10)

    def send() -> None:
        with httpx.Client(base_url=live_server.url, timeout=30) as c:
            barrier.wait()
            results.append(c.post(f"/api/wallet/payment-intents/{intent.id}/confirm", json={"method": "wallet"},
                                  headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "one-payment"}))

    threads = [threading.Thread(target=send) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status_code for r in results] == [200] * 10, [r.text for r in results]
    assert {r.json()["status"] for r in results} == {"succeeded"}
    assert count(db, WalletTransfer) == before + 1
    with db.sessionmaker() as s:
        assert payments.wallet_balance(s, shop.customer_id, "CNY").available == 5_000 - 1_234
    assert_ledger_sound(db)


@pytest.mark.postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_racing_refunds_never_exceed_the_payment(db: Database, settings, shop: Shop) -> None:  # type: ignore[no-untyped-def]
    """Ten refunds of 300 against a 1,000 payment, each its own connection: exactly three go through."""
    fund(db, settings, shop, 1_000)
    with db.session() as s:
        intent = payments.create_store_payment(s, payer_id=shop.customer_id, store_id=shop.store_id, amount=1_000,
                                               note="", settings=settings)
        payments.pay_from_wallet(s, intent.id, shop.customer_id)
    barrier = threading.Barrier(10)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        barrier.wait()
        try:
            with db.session() as s:
                payments.refund(s, intent.id, refund_no=f"r{n}", amount=300)
            answer = "ok"
        except Exception as exc:
            answer = getattr(exc, "code", repr(exc))
        with lock:
            outcomes.append(answer)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] * 3 + ["refund_exceeds_payment"] * 7
    with db.sessionmaker() as s:
        assert payments.get_intent(s, intent.id).refunded_amount == 900
        assert payments.wallet_balance(s, shop.customer_id, "CNY").available == 900
    assert_ledger_sound(db)
