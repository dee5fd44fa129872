"""Orders on both databases: quotes, checkout with holds, payment through the wallet, the shop's steps,
cancellations with their refunds, completion with its settlement, deadlines, counter sales and events."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from o2o.config import Settings
from o2o.db import Database
from o2o.errors import AppError
from o2o.kit.time import now
from o2o.orders import service
from o2o.orders.models import Order
from o2o.orders.state import Actor, OrderEvent, OrderKind, PaymentMode
from o2o.outbox import OutboxMessage
from o2o.stores.menu import LineRequest
from o2o.wallet import chart, payments
from o2o.wallet import service as ledger
from o2o.wallet.models import PaymentIntent, Refund
from tests.orders.conftest import Kitchen, available, fund, on_hand, wallet_available
from tests.wallet.conftest import assert_ledger_sound

NEAR = service.Destination(lat=39.905, lng=116.405, address="3 Dongjiao Lane")  # ~700 m from the store
FAR = service.Destination(lat=40.2, lng=116.9, address="Somewhere else")


def lines(k: Kitchen) -> list[LineRequest]:
    return [
        LineRequest(k.noodles, 2, (k.size_large, k.spice_hot)),  # (1800 + 300) x 2
        LineRequest(k.cola, 3),  # 500 x 3
    ]


def place(db: Database, settings: Settings, k: Kitchen, **kw) -> Order:  # type: ignore[no-untyped-def]
    kw.setdefault("kind", OrderKind.DELIVERY)
    kw.setdefault("destination", NEAR if kw["kind"] == OrderKind.DELIVERY else None)
    kw.setdefault("lines", lines(k))
    with db.session() as s:
        return service.place(s, settings, customer_id=kw.pop("customer_id", k.customer_id), store_id=k.store_id, **kw)


def step(db: Database, k: Kitchen, order: Order, event: OrderEvent, **kw) -> Order:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return service.merchant_step(s, order.id, event, store_id=k.store_id, person_id=k.staff_id, **kw)


def count(db: Database, model) -> int:  # type: ignore[no-untyped-def]
    with db.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def events_of(db: Database, order: Order) -> list[str]:
    with db.sessionmaker() as s:
        return [f"{e.event}:{e.state}" for e in service.order_events(s, order.id)]


def test_a_quote_prices_items_options_and_fees(db: Database, kitchen: Kitchen) -> None:
    with db.sessionmaker() as s:
        q = service.quote(s, store_id=kitchen.store_id, kind=OrderKind.DELIVERY, lines=lines(kitchen), destination=NEAR)
    assert q.subtotal == 2 * 2100 + 3 * 500
    assert q.packaging_fee == 100
    assert q.delivery_fee == 300  # within the first kilometre
    assert q.total == q.subtotal + 100 + 300
    assert 600 < q.distance_m < 800
    assert q.promised_at > q.ready_at
    assert count(db, Order) == 0 and available(db, kitchen.cola) == 20


def test_delivery_refusals_change_nothing(db: Database, settings: Settings, kitchen: Kitchen) -> None:
    cases = [
        (dict(destination=FAR), "outside_delivery_area"),
        (dict(destination=None), "address_required"),
        (dict(lines=[LineRequest(kitchen.cola, 1)]), "below_minimum_order"),
        (dict(lines=[LineRequest(kitchen.cola, 21)]), "out_of_stock"),
        (dict(lines=[LineRequest(kitchen.cola, 0)]), "invalid_quantity"),
        (dict(lines=[LineRequest(kitchen.cola, 1_000_000)]), "invalid_quantity"),
        (dict(lines=[LineRequest(kitchen.noodles, 1)]), "option_picks"),
        (dict(lines=[LineRequest(kitchen.noodles, 1, (kitchen.size_large, kitchen.size_small))]), "option_picks"),
        (dict(lines=[LineRequest(kitchen.store_id, 1)]), "unknown_item"),
        (dict(kind=OrderKind.DELIVERY, payment_mode=PaymentMode.AT_COUNTER), "invalid_payment_mode"),
    ]
    for kw, code in cases:
        with pytest.raises(AppError) as caught:
            place(db, settings, kitchen, **kw)
        assert caught.value.code == code, kw
    assert count(db, Order) == 0 and count(db, PaymentIntent) == 0
    assert available(db, kitchen.cola) == 20


def test_pay_accept_prepare_deliver_complete_settles_once(db: Database, settings: Settings, kitchen: Kitchen) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    order = place(db, settings, kitchen, pay_with_wallet=True)
    assert order.state == "paid" and order.total == 6100
    assert wallet_available(db, kitchen.customer_id) == 10_000 - 6100
    assert (on_hand(db, kitchen.cola), available(db, kitchen.cola)) == (17, 17)
    for event in (OrderEvent.ACCEPT, OrderEvent.START, OrderEvent.MARK_READY):
        order = step(db, kitchen, order, event)
    with db.session() as s:
        order = service.merchant_step(s, order.id, OrderEvent.PICK_UP, store_id=kitchen.store_id,
                                      person_id=kitchen.courier_id, actor=Actor.COURIER)
        order = service.merchant_step(s, order.id, OrderEvent.DELIVER, store_id=kitchen.store_id,
                                      person_id=kitchen.courier_id, actor=Actor.COURIER)
    assert order.state == "completed" and order.courier_person_id == kitchen.courier_id
    assert events_of(db, order) == [
        "place:placed", "pay:paid", "accept:accepted", "start:preparing", "mark_ready:ready", "pick_up:picked_up",
        "deliver:delivered", "complete:completed",
    ]
    with db.sessionmaker() as s:
        intent = s.get(PaymentIntent, order.intent_id)
        assert intent.settled_at is not None
        assert intent.settled_courier == 300
        assert intent.settled_merchant + intent.settled_commission == 6100 - 300
        courier_account = chart.courier_payable(kitchen.courier_id, kitchen.city_id, "CNY").id
        courier = ledger.balances(s, [courier_account])[courier_account]
    assert courier.posted == 300
    assert_ledger_sound(db)


def test_takeout_completes_when_collected(db: Database, settings: Settings, kitchen: Kitchen) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    order = place(db, settings, kitchen, kind=OrderKind.TAKEOUT, pay_with_wallet=True)
    assert order.delivery_fee == 0 and order.packaging_fee == 100
    order = step(db, kitchen, order, OrderEvent.ACCEPT)
    order = step(db, kitchen, order, OrderEvent.MARK_READY)  # straight to ready: passes through preparing
    order = step(db, kitchen, order, OrderEvent.PICK_UP)
    assert order.state == "completed"
    assert events_of(db, order)[-4:] == ["start:preparing", "mark_ready:ready", "pick_up:picked_up",
                                         "complete:completed"]
    with pytest.raises(AppError) as caught:
        step(db, kitchen, order, OrderEvent.DELIVER)
    assert caught.value.code == "order_state_conflict"


def test_click_and_collect_paid_at_the_counter(db: Database, settings: Settings, kitchen: Kitchen) -> None:
    order = place(db, settings, kitchen, kind=OrderKind.CLICK_COLLECT, payment_mode=PaymentMode.AT_COUNTER)
    assert order.state == "placed" and order.intent_id is None and order.accept_deadline is not None
    assert (on_hand(db, kitchen.cola), available(db, kitchen.cola)) == (20, 17)  # held for the reservation
    order = step(db, kitchen, order, OrderEvent.ACCEPT)
    assert (on_hand(db, kitchen.cola), available(db, kitchen.cola)) == (17, 17)  # set aside for the customer
    order = step(db, kitchen, order, OrderEvent.MARK_READY)
    with pytest.raises(AppError) as caught:
        step(db, kitchen, order, OrderEvent.PICK_UP)
    assert caught.value.code == "tender_required"
    order = step(db, kitchen, order, OrderEvent.PICK_UP, tender="cash")
    assert order.state == "completed" and order.tender == "cash" and order.paid_at is not None


def test_customer_cancel_of_a_paid_order_refunds_once_and_restocks(db: Database, settings: Settings,
                                                                 kitchen: Kitchen) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    order = place(db, settings, kitchen, pay_with_wallet=True)
    with db.session() as s:
        canceled = service.cancel_by_customer(s, order.id, kitchen.customer_id)
    with db.session() as s:
        again = service.cancel_by_customer(s, order.id, kitchen.customer_id)  # a retry changes nothing
    assert canceled.state == again.state == "canceled" and canceled.refund_id is not None
    assert wallet_available(db, kitchen.customer_id) == 10_000
    assert on_hand(db, kitchen.cola) == 20
    assert count(db, Refund) == 1
    assert_ledger_sound(db)


def test_customer_cannot_cancel_after_acceptance_but_the_shop_can_with_a_reason(
    db: Database, settings: Settings, kitchen: Kitchen
) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    order = place(db, settings, kitchen, pay_with_wallet=True)
    order = step(db, kitchen, order, OrderEvent.ACCEPT)
    with pytest.raises(AppError) as caught, db.session() as s:
        service.cancel_by_customer(s, order.id, kitchen.customer_id)
    assert caught.value.code == "order_state_conflict"
    with pytest.raises(AppError) as caught:
        step(db, kitchen, order, OrderEvent.CANCEL_BY_MERCHANT, reason="because")
    assert caught.value.code == "invalid_cancel_reason"
    order = step(db, kitchen, order, OrderEvent.CANCEL_BY_MERCHANT, reason="too_busy")
    assert (order.state, order.cancel_reason, order.canceled_by) == ("canceled", "too_busy", "merchant")
    assert wallet_available(db, kitchen.customer_id) == 10_000
    assert on_hand(db, kitchen.cola) == 20


def test_unpaid_order_is_canceled_at_its_deadline_and_frees_its_units(
    db: Database, settings: Settings, kitchen: Kitchen
) -> None:
    order = place(db, settings, kitchen)
    assert order.state == "placed" and available(db, kitchen.cola) == 17
    with db.session() as s:
        payments.expire_unpaid(s, order.pay_deadline + dt.timedelta(seconds=1))
    with db.sessionmaker() as s:
        order = service.get_order(s, order.id)
    assert (order.state, order.cancel_reason) == ("canceled", "unpaid")
    assert available(db, kitchen.cola) == 20


def test_paid_after_the_hold_lapsed_and_units_were_sold_is_refunded(
    db: Database, settings: Settings, kitchen: Kitchen
) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 20_000)
    t0 = now()
    with db.session() as s:
        order = service.place(s, settings, customer_id=kitchen.customer_id, store_id=kitchen.store_id,
                              kind=OrderKind.DELIVERY, lines=[LineRequest(kitchen.dumplings, 5)], destination=NEAR,
                              now=t0)
    late = t0 + dt.timedelta(minutes=settings.stock_hold_minutes + 1)
    with db.session() as s:
        service.sell_at_counter(s, store_id=kitchen.store_id, clerk_id=kitchen.staff_id,
                                lines=[LineRequest(kitchen.dumplings, 1)], tender="cash", now=late)
    with db.session() as s:
        service.pay_with_wallet(s, order.id, kitchen.customer_id, now=late)
    with db.sessionmaker() as s:
        order = service.get_order(s, order.id)
    assert (order.state, order.cancel_reason) == ("canceled", "out_of_stock")
    assert wallet_available(db, kitchen.customer_id) == 20_000
    assert on_hand(db, kitchen.dumplings) == 4
    assert_ledger_sound(db)


def test_an_order_not_accepted_in_time_is_canceled_and_refunded(
    db: Database, settings: Settings, kitchen: Kitchen
) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    order = place(db, settings, kitchen, pay_with_wallet=True)
    with db.session() as s:
        assert service.expire_unaccepted(s, order.accept_deadline - dt.timedelta(seconds=1)) == 0
    with db.session() as s:
        assert service.expire_unaccepted(s, order.accept_deadline + dt.timedelta(seconds=1)) == 1
    with db.sessionmaker() as s:
        order = service.get_order(s, order.id)
    assert (order.state, order.cancel_reason) == ("canceled", "not_accepted")
    assert wallet_available(db, kitchen.customer_id) == 10_000


def test_insufficient_funds_places_nothing(db: Database, settings: Settings, kitchen: Kitchen) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 1_000)
    with pytest.raises(AppError) as caught:
        place(db, settings, kitchen, pay_with_wallet=True)
    assert caught.value.code == "insufficient_funds"
    assert count(db, Order) == 0 and available(db, kitchen.cola) == 20
    assert wallet_available(db, kitchen.customer_id) == 1_000


def test_counter_sale_takes_stock_from_the_same_number(db: Database, kitchen: Kitchen) -> None:
    with db.session() as s:
        order = service.sell_at_counter(s, store_id=kitchen.store_id, clerk_id=kitchen.staff_id,
                                        lines=[LineRequest(kitchen.cola, 2)], tender="card")
    assert (order.kind, order.state, order.total) == ("counter", "completed", 1000)
    assert on_hand(db, kitchen.cola) == 18
    with pytest.raises(AppError) as caught, db.session() as s:
        service.sell_at_counter(s, store_id=kitchen.store_id, clerk_id=kitchen.staff_id,
                                lines=[LineRequest(kitchen.cola, 19)], tender="card")
    assert caught.value.code == "out_of_stock"
    assert on_hand(db, kitchen.cola) == 18 and count(db, Order) == 1


def test_events_are_polled_in_order_and_webhooks_enqueued(db: Database, settings: Settings, kitchen: Kitchen) -> None:
    with db.session() as s:
        hook = service.add_webhook(s, store_id=kitchen.store_id, url="https://pos.example.com/hook")
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
    order = place(db, settings, kitchen, pay_with_wallet=True)
    step(db, kitchen, order, OrderEvent.ACCEPT)
    with db.sessionmaker() as s:
        events = service.store_events(s, kitchen.store_id)
        assert [e.event for e in events] == ["place", "pay", "accept"]
        assert [e.event for e in service.store_events(s, kitchen.store_id, after=events[0].id)] == ["pay", "accept"]
        messages = s.scalars(select(OutboxMessage).where(OutboxMessage.topic == service.WEBHOOK_TOPIC)).all()
    assert [json.loads(m.payload)["event"]["type"] for m in messages] == ["order.placed", "order.paid", "order.accepted"]
    assert {json.loads(m.payload)["webhook_id"] for m in messages} == {str(hook.id)}


def test_sign_webhook_is_an_hmac_of_time_and_body() -> None:
    import hashlib
    import hmac

    sig = service.sign_webhook("s3cret", 1_700_000_000, b'{"a":1}')
    expected = hmac.new(b"s3cret", b'1700000000.{"a":1}', hashlib.sha256).hexdigest()
    assert sig == f"t=1700000000,v1={expected}"


def test_sales_by_channel(db: Database, settings: Settings, kitchen: Kitchen) -> None:
    fund(db, settings, kitchen.city_id, kitchen.customer_id, 20_000)
    place(db, settings, kitchen, pay_with_wallet=True)
    place(db, settings, kitchen, kind=OrderKind.TAKEOUT, pay_with_wallet=True)
    canceled = place(db, settings, kitchen, pay_with_wallet=True)
    with db.session() as s:
        service.cancel_by_customer(s, canceled.id, kitchen.customer_id)
        service.sell_at_counter(s, store_id=kitchen.store_id, clerk_id=kitchen.staff_id,
                                lines=[LineRequest(kitchen.cola, 2)], tender="cash")
    with db.sessionmaker() as s:
        rows = {r.channel: (r.orders, r.amount) for r in service.sales_by_channel(
            s, kitchen.store_id, now() - dt.timedelta(hours=1), now() + dt.timedelta(hours=1))}
    assert rows == {"delivery": (1, 6100), "takeout": (1, 5800), "click_collect": (0, 0), "counter": (1, 1000)}
