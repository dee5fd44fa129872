"""The orders API through HTTP: typed refusals that change nothing, the shop's steps and permissions, idempotent
retries, and (PostgreSQL) races over real connections: 200 buyers through the app and the counter for 50 units,
and a customer's cancel racing the shop's accept."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from o2o.accounts import service as accounts
from o2o.accounts.models import Person
from o2o.accounts.permissions import Role
from o2o.db import Database
from o2o.orders.models import Order
from o2o.stores import stock
from o2o.wallet import chart
from o2o.wallet import service as ledger
from o2o.wallet.models import PaymentIntent, Refund
from tests.orders.conftest import Kitchen, available, fund, make_kitchen, on_hand, token_for, wallet_available
from tests.wallet.conftest import assert_ledger_sound

NEAR = {"lat": 39.905, "lng": 116.405, "text": "3 Dongjiao Lane"}


def body(k: Kitchen, **kw) -> dict:  # type: ignore[no-untyped-def]
    out = {
        "store_id": str(k.store_id),
        "kind": "delivery",
        "address": NEAR,
        "lines": [
            {"item_id": str(k.noodles), "quantity": 2, "option_ids": [str(k.size_large)]},
            {"item_id": str(k.cola), "quantity": 3},
        ],
    }
    out.update(kw)
    return out


def count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    with db.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_orders_need_a_signed_in_customer(client: TestClient, kitchen: Kitchen) -> None:
    r = client.post("/api/orders", json=body(kitchen))
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")


def test_quote_then_place_and_pay_then_the_shop_works_it(client: TestClient, db: Database, settings,  # type: ignore[no-untyped-def]
                                                         kitchen: Kitchen) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    me = token_for(client, db, kitchen.customer_id)
    q = client.post("/api/orders/quote", json=body(kitchen), headers=me)
    assert q.status_code == 200, q.text
    assert (q.json()["subtotal"], q.json()["total"]) == (5700, 6100)
    r = client.post("/api/orders", json=body(kitchen, pay_with="wallet", expected_total=6100), headers=me)
    assert r.status_code == 201, r.text
    order = r.json()
    assert order["state"] == "paid" and [e["state"] for e in order["events"]] == ["placed", "paid"]
    staff = token_for(client, db, kitchen.staff_id)
    base = f"/api/merchant/stores/{kitchen.store_id}/orders"
    incoming = client.get(base, params={"state": "paid"}, headers=staff).json()
    assert [o["id"] for o in incoming] == [order["id"]]
    for step in ("accept", "start", "ready"):
        r = client.post(f"{base}/{order['id']}/{step}", headers=staff)
        assert r.status_code == 200, r.text
    courier = token_for(client, db, kitchen.courier_id)
    assert client.post(f"/api/courier/orders/{order['id']}/pick-up", headers=courier).status_code == 200
    r = client.post(f"/api/courier/orders/{order['id']}/deliver", headers=courier)
    assert r.status_code == 200 and r.json()["state"] == "completed"
    mine = client.get(f"/api/orders/{order['id']}", headers=me).json()
    assert [e["event"] for e in mine["events"]][-3:] == ["pick_up", "deliver", "complete"]
    sales = {row["channel"]: row for row in client.get(
        f"/api/merchant/stores/{kitchen.store_id}/sales", headers=staff).json()}
    assert sales["delivery"]["orders"] == 1 and sales["delivery"]["amount"] == 6100


def test_price_change_places_nothing(client: TestClient, db: Database, settings, kitchen: Kitchen) -> None:  # type: ignore[no-untyped-def]
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    me = token_for(client, db, kitchen.customer_id)
    r = client.post("/api/orders", json=body(kitchen, pay_with="wallet", expected_total=5000), headers=me)
    assert r.status_code == 409 and r.json()["code"] == "price_changed" and r.json()["total"] == 6100
    assert count(db, Order) == 0 and wallet_available(db, kitchen.customer_id) == 10_000


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        (lambda k: {"lines": [{"item_id": str(uuid.uuid4()), "quantity": 1}]}, 422, "unknown_item"),
        (lambda k: {"lines": [{"item_id": str(k.noodles), "quantity": 1, "option_ids": [str(uuid.uuid4())]}]},
         422, "unknown_option"),
        (lambda k: {"lines": [{"item_id": str(k.noodles), "quantity": 1}]}, 422, "option_picks"),
        (lambda k: {"lines": [{"item_id": str(k.noodles), "quantity": 1,
                               "option_ids": [str(k.size_large), str(k.size_small)]}]}, 422, "option_picks"),
        (lambda k: {"lines": [{"item_id": str(k.cola), "quantity": 0}]}, 422, "invalid_quantity"),
        (lambda k: {"lines": [{"item_id": str(k.cola), "quantity": 1_000_000}]}, 422, "invalid_quantity"),
        (lambda k: {"lines": []}, 422, "empty_cart"),
        (lambda k: {"address": {"lat": 40.3, "lng": 117.0}}, 409, "outside_delivery_area"),
        (lambda k: {"address": None}, 422, "address_required"),
        (lambda k: {"lines": [{"item_id": str(k.dumplings), "quantity": 6}]}, 409, "out_of_stock"),
        (lambda k: {"store_id": str(uuid.uuid4())}, 404, "store_not_found"),
        (lambda k: {"payment_mode": "at_counter"}, 422, "invalid_payment_mode"),
        (lambda k: {"lines": [{"item_id": str(k.cola), "quantity": "many"}]}, 422, "validation_failed"),
    ],
)
def test_bad_orders_are_refused_with_their_code_and_change_nothing(  # type: ignore[no-untyped-def]
    client: TestClient, db: Database, settings, kitchen: Kitchen, change, status, code
) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    me = token_for(client, db, kitchen.customer_id)
    r = client.post("/api/orders", json=body(kitchen, pay_with="wallet", **change(kitchen)), headers=me)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    if code != "validation_failed":
        assert r.json()["code"] == code
    assert count(db, Order) == 0 and count(db, PaymentIntent) == 1  # the top-up only
    assert wallet_available(db, kitchen.customer_id) == 10_000
    assert (available(db, kitchen.cola), available(db, kitchen.dumplings)) == (20, 5)


def test_outside_opening_hours_is_refused(client: TestClient, db: Database, settings, kitchen: Kitchen) -> None:  # type: ignore[no-untyped-def]
    from o2o.stores.models import Store

    with db.session() as s:
        s.get(Store, kitchen.store_id).opening_hours = "{}"  # closed every day
    me = token_for(client, db, kitchen.customer_id)
    r = client.post("/api/orders", json=body(kitchen), headers=me)
    assert r.status_code == 409 and r.json()["code"] == "store_closed"
    assert count(db, Order) == 0


def test_another_stores_staff_and_customers_cannot_work_the_order(client: TestClient, db: Database, settings,  # type: ignore[no-untyped-def]
                                                                   kitchen: Kitchen) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    me = token_for(client, db, kitchen.customer_id)
    order = client.post("/api/orders", json=body(kitchen, pay_with="wallet"), headers=me).json()
    with db.session() as s:
        accounts.ensure_role(s, kitchen.other_customer_id, Role.MERCHANT_STAFF, city_id=kitchen.city_id,
                             store_id=kitchen.other_store_id)
    stranger = token_for(client, db, kitchen.other_customer_id)
    r = client.post(f"/api/merchant/stores/{kitchen.store_id}/orders/{order['id']}/accept", headers=stranger)
    assert r.status_code == 403
    r = client.post(f"/api/merchant/stores/{kitchen.other_store_id}/orders/{order['id']}/accept", headers=stranger)
    assert r.status_code == 404 and r.json()["code"] == "order_not_found"
    assert client.get(f"/api/orders/{order['id']}", headers=stranger).status_code == 404
    r = client.post(f"/api/merchant/stores/{kitchen.store_id}/orders/{order['id']}/accept", headers=me)
    assert r.status_code == 403
    with db.sessionmaker() as s:
        assert s.get(Order, uuid.UUID(order["id"])).state == "paid"


def test_a_retried_checkout_with_one_key_places_one_order(client: TestClient, db: Database, settings,  # type: ignore[no-untyped-def]
                                                          kitchen: Kitchen) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 20_000)
    me = {**token_for(client, db, kitchen.customer_id), "Idempotency-Key": "checkout-1"}
    first = client.post("/api/orders", json=body(kitchen, pay_with="wallet"), headers=me)
    second = client.post("/api/orders", json=body(kitchen, pay_with="wallet"), headers=me)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert count(db, Order) == 1 and wallet_available(db, kitchen.customer_id) == 20_000 - 6100


def test_counter_sale_and_stock_through_the_api(client: TestClient, db: Database, kitchen: Kitchen) -> None:
    staff = token_for(client, db, kitchen.staff_id)
    url = f"/api/merchant/stores/{kitchen.store_id}/counter-sales"
    r = client.post(url, json={"lines": [{"item_id": str(kitchen.dumplings), "quantity": 2}], "tender": "cash"},
                    headers=staff)
    assert r.status_code == 201 and r.json()["total"] == 4800 and r.json()["state"] == "completed"
    r = client.post(url, json={"lines": [{"item_id": str(kitchen.dumplings), "quantity": 4}], "tender": "cash"},
                    headers=staff)
    assert r.status_code == 409 and r.json()["code"] == "out_of_stock" and r.json()["items"][0]["available"] == 3
    assert on_hand(db, kitchen.dumplings) == 3


def test_event_feed_and_webhooks(client: TestClient, db: Database, settings, kitchen: Kitchen) -> None:  # type: ignore[no-untyped-def]
    owner = token_for(client, db, kitchen.owner_id)
    staff = token_for(client, db, kitchen.staff_id)
    hooks = f"/api/merchant/stores/{kitchen.store_id}/webhooks"
    assert client.post(hooks, json={"url": "ftp://nope"}, headers=owner).json()["code"] == "invalid_webhook_url"
    assert client.post(hooks, json={"url": "https://pos.example.com/h"}, headers=staff).status_code == 403
    hook = client.post(hooks, json={"url": "https://pos.example.com/h"}, headers=owner)
    assert hook.status_code == 201 and len(hook.json()["secret"]) == 64
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    me = token_for(client, db, kitchen.customer_id)
    client.post("/api/orders", json=body(kitchen, pay_with="wallet"), headers=me)
    feed = client.get(f"/api/merchant/stores/{kitchen.store_id}/order-events", headers=staff).json()
    assert [e["event"] for e in feed] == ["place", "pay"]
    newer = client.get(f"/api/merchant/stores/{kitchen.store_id}/order-events", params={"after": feed[0]["id"]},
                       headers=staff).json()
    assert [e["event"] for e in newer] == ["pay"]
    assert client.delete(f"{hooks}/{hook.json()['id']}", headers=owner).status_code == 204
    assert client.get(hooks, headers=owner).json()[0]["active"] is False


# ---------------------------------------------------------------------------------------------------- races (PostgreSQL)


def _customers(db: Database, settings, k: Kitchen, n: int, amount: int) -> list[str]:  # type: ignore[no-untyped-def]
    tokens = []
    with db.session() as s:
        people = [Person(phone_e164=f"+86137{i:08d}") for i in range(n)]
        s.add_all(people)
        s.flush()
        ids = [p.id for p in people]
        for person_id in ids:
            accounts.ensure_role(s, person_id, Role.CUSTOMER)
            tokens.append(accounts.create_session(s, settings, person_id, method="otp")[0])
    for person_id in ids:
        fund(db, settings, k.city_id, person_id, amount)
    return tokens


@pytest.mark.postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_hundred_buyers_through_the_app_and_the_counter_race_for_fifty_units(db: Database, settings,  # type: ignore[no-untyped-def]
                                                                                  live_server) -> None:
    k = make_kitchen(db, slug="hotitem")
    with db.session() as s:
        stock.set_on_hand(s, city_id=k.city_id, store_id=k.store_id, item_id=k.dumplings, on_hand=50)
        staff_token = accounts.create_session(s, settings, k.staff_id, method="otp")[0]
    tokens = _customers(db, settings, k, 150, 5_000)
    outcomes: list[tuple[str, int, str]] = []
    barrier = threading.Barrier(25)
    line = [{"item_id": str(k.dumplings), "quantity": 1}]

    def app_buyer(token: str) -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as c:
            barrier.wait(timeout=60)
            r = c.post("/api/orders", headers={"Authorization": f"Bearer {token}"},
                       json={"store_id": str(k.store_id), "kind": "takeout", "lines": line, "pay_with": "wallet"})
            outcomes.append(("app", r.status_code, r.json().get("code", "")))

    def counter_buyer(_n: int) -> None:
        with httpx.Client(base_url=live_server.url, timeout=60) as c:
            barrier.wait(timeout=60)
            r = c.post(f"/api/merchant/stores/{k.store_id}/counter-sales",
                       headers={"Authorization": f"Bearer {staff_token}"}, json={"lines": line, "tender": "cash"})
            outcomes.append(("counter", r.status_code, r.json().get("code", "")))

    threads = [threading.Thread(target=app_buyer, args=(t,)) for t in tokens]
    threads += [threading.Thread(target=counter_buyer, args=(n,)) for n in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sold = [o for o in outcomes if o[1] == 201]
    refused = [o for o in outcomes if o[1] != 201]
    assert len(outcomes) == 200
    assert len(sold) == 50, refused[:5]
    assert {(status, code) for _w, status, code in refused} == {(409, "out_of_stock")}
    assert on_hand(db, k.dumplings) == 0 and available(db, k.dumplings) == 0
    app_sales = sum(1 for who, *_ in sold if who == "app")
    with db.sessionmaker() as s:
        orders = s.scalars(select(Order).where(Order.store_id == k.store_id, Order.state != "canceled")).all()
        assert len(orders) == 50 and sum(o.total for o in orders) == 50 * 2400 + app_sales * 100  # + packaging
        escrow = chart.sales_escrow(k.city_id, "CNY").id
        assert ledger.balances(s, [escrow])[escrow].posted == app_sales * 2500
    assert_ledger_sound(db)


@pytest.mark.postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_cancel_racing_an_accept_ends_in_one_state_refunded_at_most_once(db: Database, settings,  # type: ignore[no-untyped-def]
                                                                           live_server) -> None:
    k = make_kitchen(db, slug="racecancel")
    with db.session() as s:
        staff_token = accounts.create_session(s, settings, k.staff_id, method="otp")[0]
        customer_token = accounts.create_session(s, settings, k.customer_id, method="otp")[0]
    fund(db, settings, k.city_id, k.customer_id, 200_000)
    finals: list[str] = []
    for _round in range(10):
        with httpx.Client(base_url=live_server.url, timeout=60) as c:
            order = c.post("/api/orders", headers={"Authorization": f"Bearer {customer_token}"},
                           json={"store_id": str(k.store_id), "kind": "takeout", "pay_with": "wallet",
                                 "lines": [{"item_id": str(k.cola), "quantity": 1}, {"item_id": str(k.noodles),
                                            "quantity": 1, "option_ids": [str(k.size_small)]}]}).json()
        barrier = threading.Barrier(2)
        answers: dict[str, int] = {}

        def act(who: str, url: str, token: str, barrier: threading.Barrier = barrier,
                answers: dict[str, int] = answers) -> None:
            with httpx.Client(base_url=live_server.url, timeout=60) as c:
                barrier.wait(timeout=30)
                answers[who] = c.post(url, headers={"Authorization": f"Bearer {token}"}).status_code

        threads = [
            threading.Thread(target=act, args=("cancel", f"/api/orders/{order['id']}/cancel", customer_token)),
            threading.Thread(target=act, args=(
                "accept", f"/api/merchant/stores/{k.store_id}/orders/{order['id']}/accept", staff_token)),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with db.sessionmaker() as s:
            final = s.get(Order, uuid.UUID(order["id"]))
            refunds = s.scalars(select(Refund).where(Refund.intent_id == final.intent_id)).all()
        assert sorted(answers.values()) == [200, 409]
        if final.state == "canceled":
            assert answers == {"cancel": 200, "accept": 409} and len(refunds) == 1
            assert refunds[0].amount == final.total
        else:
            assert final.state == "accepted" and answers == {"cancel": 409, "accept": 200} and refunds == []
        finals.append(final.state)
    spent = sum(1 for f in finals if f == "accepted") * 2400  # noodles 1800 + cola 500 + packaging 100
    assert wallet_available(db, k.customer_id) == 200_000 - spent
    assert_ledger_sound(db)
