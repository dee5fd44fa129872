"""Order use cases: quote, place (holding stock), pay through the wallet, the shop's steps, cancellations with
their refunds, completion with its settlement, counter sales, and the reads behind the pages and the API.

The rules that keep money and stock right whatever happens at once:

- An order moves only by ``_move``: a conditional ``UPDATE orders ... WHERE state = :seen AND seq = :seen_seq``.
  Two moves from one state (cancel racing accept) cannot both win; the loser reads the order again and either
  finds its move still possible from the new state or gets ``order_state_conflict``.
- Money follows the move that won, in the same transaction: a cancellation of a paid order refunds it through
  the wallet with the refund number ``order-<id>`` (the wallet makes a second refund with that number the
  first one), and completion settles its payment once (the wallet's ``settle`` is once-only).
- The wallet tells us a payment succeeded or closed through ``payments.on_outcome(ORDER)``, inside the
  transaction that moved the payment, so "paid" and the money commit together, even for a channel callback
  that arrives after the order was canceled (then the money goes straight back).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from o2o import outbox
from o2o.config import Settings
from o2o.db import settings_of, transaction_memo
from o2o.errors import AppError
from o2o.kit import time as clock
from o2o.kit.ids import uuid7
from o2o.orders import pricing
from o2o.orders.models import Order, OrderEventRecord, OrderLine, OrderWebhook
from o2o.orders.state import (
    AUTO_COMPLETE_AFTER,
    MERCHANT_CANCEL_REASONS,
    NOT_STARTED,
    Actor,
    IllegalTransition,
    OrderEvent,
    OrderKind,
    OrderState,
    PaymentMode,
    next_state,
    valid_combination,
)
from o2o.stores import catalogue, stock
from o2o.stores import menu as menu_mod
from o2o.stores.menu import LineRequest
from o2o.wallet import payments
from o2o.wallet.intents import CancellationReason, IntentStatus
from o2o.wallet.models import PaymentIntent

log = structlog.get_logger("o2o.orders")

TENDERS = ("cash", "card")
WEBHOOK_TOPIC = "orders.webhook"
MAX_MOVE_ATTEMPTS = 10


def _now(now: dt.datetime | None) -> dt.datetime:
    return clock.now() if now is None else now


def _reference(order_id: uuid.UUID) -> str:
    return f"order:{order_id}"


# ---------------------------------------------------------------------------------------------------- errors


def order_not_found() -> AppError:
    return AppError("order_not_found", 404, "No such order.")


def state_conflict(order: Order, event: OrderEvent) -> AppError:
    return AppError(
        "order_state_conflict",
        409,
        f"The order is {order.state}: {event.value.replace('_', ' ')} is not possible now.",
        extra={"state": order.state},
    )


# ---------------------------------------------------------------------------------------------------- loading


def get_order(session: Session, order_id: uuid.UUID) -> Order:
    order = session.get(Order, order_id, populate_existing=True)
    if order is None:
        raise order_not_found()
    return order


def order_lines(session: Session, order_id: uuid.UUID) -> list[OrderLine]:
    return list(session.scalars(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)))


def order_events(session: Session, order_id: uuid.UUID) -> list[OrderEventRecord]:
    return list(
        session.scalars(
            select(OrderEventRecord).where(OrderEventRecord.order_id == order_id).order_by(OrderEventRecord.seq)
        )
    )


def _quantities(session: Session, order_id: uuid.UUID) -> dict[uuid.UUID, int]:
    out: dict[uuid.UUID, int] = {}
    for item_id, quantity in session.execute(
        select(OrderLine.item_id, OrderLine.quantity).where(OrderLine.order_id == order_id)
    ):
        out[item_id] = out.get(item_id, 0) + quantity
    return out


# ---------------------------------------------------------------------------------------------------- moves


def _record_event(
    session: Session,
    order: Order,
    seq: int,
    event: str,
    state: str,
    actor: Actor,
    person_id: uuid.UUID | None,
    reason: str | None,
    now: dt.datetime,
) -> None:
    record = OrderEventRecord(
        id=uuid7(),
        city_id=order.city_id,
        order_id=order.id,
        store_id=order.store_id,
        seq=seq,
        event=event,
        state=state,
        actor=actor.value,
        actor_person_id=person_id,
        reason=reason,
        at=now,
    )
    session.add(record)
    _enqueue_webhooks(session, order, record)


def _move(
    session: Session,
    order: Order,
    event: OrderEvent,
    actor: Actor,
    now: dt.datetime,
    *,
    person_id: uuid.UUID | None = None,
    reason: str | None = None,
    **values: object,
) -> Order:
    """Apply ``event`` to the order as it is now; re-read and retry if someone else moved it meanwhile.

    Raises ``order_state_conflict`` (409) when the event is not possible from the state the order is in."""
    for _ in range(MAX_MOVE_ATTEMPTS):
        try:
            new = next_state(OrderKind(order.kind), PaymentMode(order.payment_mode), OrderState(order.state), event)
        except IllegalTransition:
            raise state_conflict(order, event) from None
        moved = session.execute(
            update(Order)
            .where(Order.id == order.id, Order.state == order.state, Order.seq == order.seq)
            .values(state=new.value, seq=order.seq + 1, updated_at=now, **values)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 1:
            _record_event(session, order, order.seq + 1, event.value, new.value, actor, person_id, reason, now)
            session.flush()
            return get_order(session, order.id)
        order = get_order(session, order.id)
    raise AppError("order_busy", 409, "The order is changing; try again.")


# ---------------------------------------------------------------------------------------------------- quotes and checkout


@dataclass(frozen=True)
class Destination:
    lat: float
    lng: float
    address: str = ""


def quote(
    session: Session,
    *,
    store_id: uuid.UUID,
    kind: OrderKind,
    lines: Sequence[LineRequest],
    destination: Destination | None = None,
    now: dt.datetime | None = None,
) -> pricing.Quote:
    return _quote(session, store_id=store_id, kind=kind, lines=lines, destination=destination, now=_now(now))[0]


def _quote(
    session: Session,
    *,
    store_id: uuid.UUID,
    kind: OrderKind,
    lines: Sequence[LineRequest],
    destination: Destination | None,
    now: dt.datetime,
) -> tuple[pricing.Quote, catalogue.StoreRef]:
    if kind == OrderKind.COUNTER:
        raise AppError("invalid_order_kind", 422, "Counter sales go through the point of sale.")
    ref = catalogue.store_ref(session, store_id)  # read once: the terms and the menu both need it
    terms = catalogue.terms_of(ref)
    menu = catalogue.load_menu(session, store_id, ref=ref)
    priced = menu_mod.price_lines(menu, lines, clock.in_zone(now, menu.timezone))
    where = None if destination is None else (destination.lat, destination.lng)
    return pricing.quote(kind, priced, terms, now=now, destination=where), ref


def _order_lines(order: Order, q: pricing.Quote) -> list[OrderLine]:
    return [
        OrderLine(
            id=uuid7(),
            city_id=order.city_id,
            order_id=order.id,
            item_id=line.item_id,
            name=line.name[:120],
            quantity=line.quantity,
            unit_price=line.unit_price,
            line_total=line.line_total,
            options=json.dumps(
                [
                    {"option_id": str(o.option_id), "group": o.group_name, "name": o.name, "price_delta": o.price_delta}
                    for o in line.options
                ],
                ensure_ascii=False,
            ),
        )
        for line in q.lines
    ]


def place(
    session: Session,
    settings: Settings,
    *,
    customer_id: uuid.UUID,
    store_id: uuid.UUID,
    kind: OrderKind,
    lines: Sequence[LineRequest],
    payment_mode: PaymentMode = PaymentMode.ONLINE,
    destination: Destination | None = None,
    note: str = "",
    pay_with_wallet: bool = False,
    expected_total: int | None = None,
    now: dt.datetime | None = None,
) -> Order:
    """Place an order: price it, hold its units (``stock_hold_minutes``), and open its payment (which closes
    after ``order_unpaid_minutes``). With ``pay_with_wallet`` it is paid in the same step, or nothing happens
    (402 ``insufficient_funds``). A click-and-collect order paid at the counter waits for the shop instead."""
    now = _now(now)
    if not valid_combination(kind, payment_mode) or kind == OrderKind.COUNTER:
        raise AppError(
            "invalid_payment_mode", 422, "Only click-and-collect orders can be paid at the counter."
        )
    q, ref = _quote(session, store_id=store_id, kind=kind, lines=lines, destination=destination, now=now)
    if expected_total is not None and expected_total != q.total:
        raise AppError(
            "price_changed", 409, f"The total is now {q.total} fen, not {expected_total}: look at the new quote.",
            extra={"total": q.total},
        )
    store = ref.store
    order = Order(
        id=uuid7(),
        city_id=store.city_id,
        store_id=store_id,
        customer_person_id=customer_id,
        kind=kind.value,
        payment_mode=payment_mode.value,
        state=OrderState.PLACED.value,
        seq=1,
        currency=q.currency,
        subtotal=q.subtotal,
        packaging_fee=q.packaging_fee,
        delivery_fee=q.delivery_fee,
        total=q.total,
        distance_m=q.distance_m,
        address=(destination.address if destination else "")[:200],
        dest_lat=destination.lat if destination and kind == OrderKind.DELIVERY else None,
        dest_lng=destination.lng if destination and kind == OrderKind.DELIVERY else None,
        note=note.strip()[:200],
        pickup_code=f"{secrets.randbelow(10_000):04d}",
        ready_by=q.ready_at,
        promised_at=q.promised_at,
        stock_sold=False,
        restocked=False,
        created_at=now,
        updated_at=now,
    )
    hold_until = now + dt.timedelta(minutes=settings.stock_hold_minutes)
    if payment_mode == PaymentMode.ONLINE:
        order.pay_deadline = now + dt.timedelta(minutes=settings.order_unpaid_minutes)
    else:
        order.accept_deadline = now + dt.timedelta(minutes=settings.order_accept_minutes)
        hold_until = max(hold_until, order.accept_deadline)  # the shop's answer must find the units still there
    session.add(order)
    session.add_all(_order_lines(order, q))
    session.flush()
    stock.hold(
        session, city_id=store.city_id, store_id=store_id, reference=_reference(order.id),
        quantities=q.quantities, until=hold_until, now=now,
    )
    _record_event(session, order, 1, "place", OrderState.PLACED.value, Actor.CUSTOMER, customer_id, None, now)
    if payment_mode == PaymentMode.ONLINE:
        intent = payments.create_intent(
            session,
            city_id=store.city_id,
            payer_id=customer_id,
            amount=q.total,
            currency=q.currency,
            purpose=payments.Purpose.ORDER,
            description=f"{store.name} · {_describe(q)}",
            store_id=store_id,
            reference=str(order.id),
            expires_in=dt.timedelta(minutes=settings.order_unpaid_minutes),
            settings=settings,
            now=now,
        )
        session.execute(
            update(Order).where(Order.id == order.id).values(intent_id=intent.id).execution_options(
                synchronize_session=False
            )
        )
        if pay_with_wallet:
            payments.pay_from_wallet(session, intent.id, customer_id, now)
    else:
        payments.wake_worker_after_commit(session)  # the acceptance deadline is due work
    return get_order(session, order.id)


def _describe(q: pricing.Quote) -> str:
    names = ", ".join(f"{line.name} × {line.quantity}" for line in q.lines[:3])
    return names + (" …" if len(q.lines) > 3 else "")


def _store(session: Session, store_id: uuid.UUID):  # type: ignore[no-untyped-def]
    from o2o.stores import service as stores

    sale = stores.store_for_sale(session, store_id)
    if sale is None:
        raise AppError("store_not_found", 404, "No such store.")
    return sale


def pay_with_wallet(session: Session, order_id: uuid.UUID, customer_id: uuid.UUID, now: dt.datetime | None = None) -> Order:
    """Pay a placed order from the customer's wallet (402 ``insufficient_funds`` changes nothing)."""
    order = customer_order(session, order_id, customer_id)
    if order.intent_id is None:
        raise AppError("not_payable", 409, "This order is paid at the counter.")
    if order.state != OrderState.PLACED:
        if order.state != OrderState.CANCELED and order.paid_at is not None:
            return order  # a retry of a payment that went through
        raise AppError("not_payable", 409, f"The order is {order.state}.", extra={"state": order.state})
    payments.pay_from_wallet(session, order.intent_id, customer_id, _now(now))
    return get_order(session, order_id)


@payments.on_outcome(payments.Purpose.ORDER)
def _payment_outcome(session: Session, intent: PaymentIntent, now: dt.datetime) -> None:
    """The wallet moved an order's payment to a final state (inside its transaction). Idempotent."""
    if intent.reference is None:
        return
    order = session.get(Order, uuid.UUID(intent.reference), populate_existing=True)
    if order is None:
        return
    settings = settings_of(session)
    if intent.status == IntentStatus.SUCCEEDED:
        if order.state == OrderState.PLACED:
            _paid(session, order, settings, now)
        elif order.state == OrderState.CANCELED:
            _refund(session, order, "canceled_before_payment", now)  # paid after all: give it back at once
    elif order.state == OrderState.PLACED and order.payment_mode == PaymentMode.ONLINE:
        canceled = _move(
            session, order, OrderEvent.EXPIRE_UNPAID, Actor.PLATFORM, now,
            reason="unpaid", canceled_at=now, cancel_reason="unpaid", canceled_by=Actor.PLATFORM.value,
        )
        _after_cancel(session, canceled, was=OrderState.PLACED, now=now)


def _paid(session: Session, order: Order, settings: Settings, now: dt.datetime) -> None:
    try:
        stock.commit(session, _reference(order.id), _quantities(session, order.id), now)
    except stock.OutOfStock:
        # The hold lapsed and the units went to someone else: the payment goes straight back.
        paid = _move(session, order, OrderEvent.PAY, Actor.PLATFORM, now, paid_at=now)
        canceled = _move(
            session, paid, OrderEvent.PAYMENT_FAILED, Actor.PLATFORM, now,
            reason="out_of_stock", canceled_at=now, cancel_reason="out_of_stock", canceled_by=Actor.PLATFORM.value,
        )
        _after_cancel(session, canceled, was=OrderState.PAID, now=now)
        return
    _move(
        session, order, OrderEvent.PAY, Actor.PLATFORM, now,
        paid_at=now, stock_sold=True,
        accept_deadline=now + dt.timedelta(minutes=settings.order_accept_minutes),
    )
    payments.wake_worker_after_commit(session)


# ---------------------------------------------------------------------------------------------------- cancellations


def _refund(session: Session, order: Order, reason: str, now: dt.datetime) -> None:
    if order.intent_id is None:
        return
    intent = payments.get_intent(session, order.intent_id)
    if intent.status != IntentStatus.SUCCEEDED:
        return
    left = intent.amount - intent.refunded_amount
    existing = [r for r in payments.intent_refunds(session, intent.id) if r.refund_no == f"order-{order.id}"]
    if existing:
        return
    if left <= 0:
        return
    refund = payments.refund(
        session, intent.id, refund_no=f"order-{order.id}", amount=left, reason=reason, now=now
    )
    session.execute(
        update(Order).where(Order.id == order.id).values(refund_id=refund.id).execution_options(
            synchronize_session=False
        )
    )


def _after_cancel(session: Session, order: Order, *, was: OrderState, now: dt.datetime) -> None:
    """What a cancellation sets in motion, once (only the move that won calls this)."""
    if order.stock_sold:
        if was in NOT_STARTED:
            stock.restock(session, _quantities(session, order.id), now)
            session.execute(
                update(Order).where(Order.id == order.id).values(restocked=True).execution_options(
                    synchronize_session=False
                )
            )
    else:
        stock.release(session, _reference(order.id), now)
    if order.intent_id is not None:
        intent = payments.get_intent(session, order.intent_id)
        if intent.status == IntentStatus.SUCCEEDED:
            _refund(session, order, order.cancel_reason or "canceled", now)
        elif intent.status in (IntentStatus.REQUIRES_PAYMENT, IntentStatus.PROCESSING):
            # Nobody will pay this now. A channel trade still open is closed; if the customer paid first, the
            # outcome hook sees a canceled order and refunds.
            payments.cancel(session, intent.id, reason=CancellationReason.ABANDONED, now=now)


def cancel_by_customer(
    session: Session, order_id: uuid.UUID, customer_id: uuid.UUID, now: dt.datetime | None = None
) -> Order:
    """The customer cancels before the shop accepts; a paid order is refunded in full."""
    now = _now(now)
    order = customer_order(session, order_id, customer_id)
    if order.state == OrderState.CANCELED and order.canceled_by == Actor.CUSTOMER:
        return order  # a retry
    was = OrderState(order.state)
    canceled = _move(
        session, order, OrderEvent.CANCEL_BY_CUSTOMER, Actor.CUSTOMER, now,
        person_id=customer_id, reason="customer_request",
        canceled_at=now, cancel_reason="customer_request", canceled_by=Actor.CUSTOMER.value,
    )
    _after_cancel(session, canceled, was=_previous(session, canceled, was), now=now)
    return get_order(session, order_id)


def _previous(session: Session, order: Order, fallback: OrderState) -> OrderState:
    """The state the order was in just before its last event (the move may have retried from a newer one)."""
    events = order_events(session, order.id)
    return OrderState(events[-2].state) if len(events) >= 2 else fallback


# ---------------------------------------------------------------------------------------------------- the shop's steps


def merchant_step(
    session: Session,
    order_id: uuid.UUID,
    event: OrderEvent,
    *,
    store_id: uuid.UUID,
    person_id: uuid.UUID,
    reason: str | None = None,
    tender: str | None = None,
    actor: Actor = Actor.MERCHANT,
    now: dt.datetime | None = None,
) -> Order:
    """accept / start / mark_ready / pick_up / deliver / cancel_by_merchant, by the shop (or a courier for
    pick_up and deliver). Completion follows delivery (or collection) in the same step and settles the money."""
    now = _now(now)
    order = get_order(session, order_id)
    if order.store_id != store_id:
        raise order_not_found()
    values: dict[str, object] = {}
    if event == OrderEvent.CANCEL_BY_MERCHANT:
        if reason not in MERCHANT_CANCEL_REASONS:
            raise AppError(
                "invalid_cancel_reason", 422,
                "The reason must be one of: " + ", ".join(MERCHANT_CANCEL_REASONS) + ".",
            )
        values = {"canceled_at": now, "cancel_reason": reason, "canceled_by": Actor.MERCHANT.value}
    elif event == OrderEvent.ACCEPT and order.payment_mode == PaymentMode.AT_COUNTER:
        values = {}
    elif event == OrderEvent.PICK_UP:
        if order.payment_mode == PaymentMode.AT_COUNTER:
            if tender not in TENDERS:
                raise AppError("tender_required", 422, "Say how the customer paid at the counter: cash or card.")
            values = {"tender": tender, "paid_at": now, "clerk_person_id": person_id}
        if actor == Actor.COURIER:
            values["courier_person_id"] = person_id
    elif event not in (OrderEvent.ACCEPT, OrderEvent.START, OrderEvent.MARK_READY, OrderEvent.DELIVER):
        raise AppError("invalid_step", 422, f"{event.value} is not a step a shop takes.")
    if actor == Actor.COURIER and event not in (OrderEvent.PICK_UP, OrderEvent.DELIVER):
        raise AppError("invalid_step", 422, "A courier picks orders up and delivers them.")
    if actor == Actor.COURIER and order.kind != OrderKind.DELIVERY:
        raise state_conflict(order, event)
    if actor == Actor.COURIER and order.courier_person_id not in (None, person_id):
        raise AppError("not_your_delivery", 403, "Another courier has this order.")
    was = OrderState(order.state)
    if event == OrderEvent.MARK_READY and order.state == OrderState.ACCEPTED:
        order = _move(session, order, OrderEvent.START, actor, now, person_id=person_id)
    moved = _move(session, order, event, actor, now, person_id=person_id, reason=reason, **values)
    if event == OrderEvent.CANCEL_BY_MERCHANT:
        _after_cancel(session, moved, was=_previous(session, moved, was), now=now)
    elif event == OrderEvent.ACCEPT and moved.payment_mode == PaymentMode.AT_COUNTER:
        # The reservation is confirmed: its units leave the shelf for the customer.
        stock.commit(session, _reference(moved.id), _quantities(session, moved.id), now)
        session.execute(
            update(Order).where(Order.id == moved.id).values(stock_sold=True).execution_options(
                synchronize_session=False
            )
        )
    elif AUTO_COMPLETE_AFTER.get(OrderKind(moved.kind)) == moved.state:
        _complete(session, moved, now)
    return get_order(session, order_id)


def _complete(session: Session, order: Order, now: dt.datetime) -> None:
    completed = _move(session, order, OrderEvent.COMPLETE, Actor.PLATFORM, now, completed_at=now)
    if completed.intent_id is not None:
        courier = completed.courier_person_id
        payments.settle(
            session,
            completed.intent_id,
            courier_person_id=courier,
            courier_fee=completed.delivery_fee if courier is not None else 0,
            now=now,
        )


# ---------------------------------------------------------------------------------------------------- the counter


def sell_at_counter(
    session: Session,
    *,
    store_id: uuid.UUID,
    clerk_id: uuid.UUID,
    lines: Sequence[LineRequest],
    tender: str,
    now: dt.datetime | None = None,
) -> Order:
    """A sale at the shop counter (the point of sale): the same catalogue and the same stock as the app, the
    units taken at once (409 ``out_of_stock`` when short, nothing sold), the money taken by the clerk."""
    now = _now(now)
    if tender not in TENDERS:
        raise AppError("invalid_tender", 422, "The tender is cash or card.")
    sale = _store(session, store_id)
    priced = catalogue.price_cart(session, store_id, lines, at=now)
    subtotal = sum(line.line_total for line in priced)
    order = Order(
        id=uuid7(),
        city_id=sale.city_id,
        store_id=store_id,
        customer_person_id=None,
        kind=OrderKind.COUNTER.value,
        payment_mode=PaymentMode.AT_COUNTER.value,
        state=OrderState.COMPLETED.value,
        seq=1,
        currency=sale.currency,
        subtotal=subtotal,
        packaging_fee=0,
        delivery_fee=0,
        total=subtotal,
        pickup_code="",
        ready_by=now,
        promised_at=now,
        paid_at=now,
        completed_at=now,
        stock_sold=True,
        restocked=False,
        tender=tender,
        clerk_person_id=clerk_id,
        created_at=now,
        updated_at=now,
    )
    q_quantities: dict[uuid.UUID, int] = {}
    for line in priced:
        q_quantities[line.item_id] = q_quantities.get(line.item_id, 0) + line.quantity
    stock.sell_now(session, q_quantities, now)
    session.add(order)
    session.flush()
    session.add_all(
        _order_lines(order, pricing.Quote(
            kind=OrderKind.COUNTER, currency=sale.currency, lines=tuple(priced), subtotal=subtotal, packaging_fee=0,
            delivery_fee=0, total=subtotal, distance_m=None, ready_at=now, promised_at=now,
        ))
    )
    _record_event(session, order, 1, "sell", OrderState.COMPLETED.value, Actor.MERCHANT, clerk_id, None, now)
    session.flush()
    return order


# ---------------------------------------------------------------------------------------------------- deadlines (jobs)


def expire_unaccepted(session: Session, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Cancel (and refund) orders the shop did not accept by their deadline. Safe with several workers: each
    cancellation is a conditional move, and a lost race is skipped."""
    now = _now(now)
    due = list(
        session.scalars(
            select(Order.id)
            .where(
                Order.state.in_((OrderState.PAID.value, OrderState.PLACED.value)),
                Order.accept_deadline.is_not(None),
                Order.accept_deadline <= now,
            )
            .order_by(Order.accept_deadline)
            .limit(limit)
        )
    )
    done = 0
    for order_id in due:
        order = get_order(session, order_id)
        if order.state == OrderState.PLACED and order.payment_mode == PaymentMode.ONLINE:
            continue  # waiting for its payment, which has its own deadline
        was = OrderState(order.state)
        try:
            with session.begin_nested():
                canceled = _move(
                    session, order, OrderEvent.EXPIRE_UNACCEPTED, Actor.PLATFORM, now,
                    reason="not_accepted", canceled_at=now, cancel_reason="not_accepted",
                    canceled_by=Actor.PLATFORM.value,
                )
                _after_cancel(session, canceled, was=was, now=now)
                done += 1
        except AppError:
            continue  # the shop accepted meanwhile
    return done


# ---------------------------------------------------------------------------------------------------- reads


def customer_order(session: Session, order_id: uuid.UUID, customer_id: uuid.UUID) -> Order:
    order = session.get(Order, order_id, populate_existing=True)
    if order is None or order.customer_person_id != customer_id:
        raise order_not_found()
    return order


def customer_orders(
    session: Session, customer_id: uuid.UUID, *, limit: int = 20, before: uuid.UUID | None = None
) -> list[Order]:
    query = select(Order).where(Order.customer_person_id == customer_id)
    if before is not None:
        query = query.where(Order.id < before)
    return list(session.scalars(query.order_by(Order.id.desc()).limit(limit)))


def store_orders(
    session: Session,
    store_id: uuid.UUID,
    *,
    states: Sequence[str] | None = None,
    limit: int = 50,
    before: uuid.UUID | None = None,
) -> list[Order]:
    query = select(Order).where(Order.store_id == store_id)
    if states:
        query = query.where(Order.state.in_(list(states)))
    if before is not None:
        query = query.where(Order.id < before)
    return list(session.scalars(query.order_by(Order.id.desc()).limit(limit)))


def lines_of(session: Session, order_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[OrderLine]]:
    out: dict[uuid.UUID, list[OrderLine]] = {order_id: [] for order_id in order_ids}
    if order_ids:
        for line in session.scalars(
            select(OrderLine).where(OrderLine.order_id.in_(list(order_ids))).order_by(OrderLine.id)
        ):
            out[line.order_id].append(line)
    return out


def store_events(
    session: Session, store_id: uuid.UUID, *, after: uuid.UUID | None = None, limit: int = 100
) -> list[OrderEventRecord]:
    """A store's order events in the order they happened, after the event ``after`` (polling)."""
    query = select(OrderEventRecord).where(OrderEventRecord.store_id == store_id)
    if after is not None:
        query = query.where(OrderEventRecord.id > after)
    return list(session.scalars(query.order_by(OrderEventRecord.id).limit(limit)))


@dataclass(frozen=True)
class ChannelSales:
    channel: str
    orders: int
    amount: int


def sales_by_channel(
    session: Session, store_id: uuid.UUID, start: dt.datetime, end: dt.datetime
) -> list[ChannelSales]:
    """Orders paid in [start, end) and not canceled, by kind (delivery, takeout, click-and-collect, counter)."""
    rows = session.execute(
        select(Order.kind, func.count(), func.coalesce(func.sum(Order.total), 0))
        .where(
            Order.store_id == store_id,
            Order.paid_at >= start,
            Order.paid_at < end,
            Order.state != OrderState.CANCELED.value,
        )
        .group_by(Order.kind)
    ).all()
    found = {kind: (count, int(amount)) for kind, count, amount in rows}
    return [ChannelSales(kind.value, *found.get(kind.value, (0, 0))) for kind in OrderKind]


# ---------------------------------------------------------------------------------------------------- webhooks


def add_webhook(session: Session, *, store_id: uuid.UUID, url: str) -> OrderWebhook:
    if not (url.startswith("https://") or url.startswith("http://")) or len(url) > 500:
        raise AppError("invalid_webhook_url", 422, "A webhook URL is an http(s) URL of at most 500 characters.")
    sale = _store(session, store_id)
    existing = session.scalar(select(OrderWebhook).where(OrderWebhook.store_id == store_id, OrderWebhook.url == url))
    if existing is not None:
        existing.active = True
        session.flush()
        transaction_memo(session, "order_webhooks").pop(store_id, None)
        return existing
    hook = OrderWebhook(
        id=uuid7(), city_id=sale.city_id, store_id=store_id, url=url, secret=secrets.token_hex(32), active=True
    )
    session.add(hook)
    session.flush()
    transaction_memo(session, "order_webhooks").pop(store_id, None)
    return hook


def webhooks_of(session: Session, store_id: uuid.UUID) -> list[OrderWebhook]:
    return list(session.scalars(select(OrderWebhook).where(OrderWebhook.store_id == store_id).order_by(OrderWebhook.id)))


def remove_webhook(session: Session, *, store_id: uuid.UUID, webhook_id: uuid.UUID) -> None:
    hook = session.get(OrderWebhook, webhook_id)
    if hook is None or hook.store_id != store_id:
        raise AppError("webhook_not_found", 404, "No such webhook.")
    hook.active = False
    session.flush()
    transaction_memo(session, "order_webhooks").pop(store_id, None)


def event_payload(order: Order, record: OrderEventRecord) -> dict[str, object]:
    return {
        "id": str(record.id),
        "type": f"order.{record.state}",
        "event": record.event,
        "order_id": str(order.id),
        "store_id": str(order.store_id),
        "seq": record.seq,
        "state": record.state,
        "actor": record.actor,
        "reason": record.reason,
        "at": record.at.isoformat(),
        "order_url": f"/api/merchant/stores/{order.store_id}/orders/{order.id}",
    }


def _active_webhooks(session: Session, store_id: uuid.UUID) -> list[uuid.UUID]:
    """The store's active webhooks, read once per transaction (a checkout writes two events)."""
    memo = transaction_memo(session, "order_webhooks")
    if store_id not in memo:
        memo[store_id] = list(
            session.scalars(
                select(OrderWebhook.id).where(OrderWebhook.store_id == store_id, OrderWebhook.active.is_(True))
            )
        )
    return memo[store_id]


def _enqueue_webhooks(session: Session, order: Order, record: OrderEventRecord) -> None:
    for hook_id in _active_webhooks(session, order.store_id):
        outbox.enqueue(
            session,
            WEBHOOK_TOPIC,
            {"webhook_id": str(hook_id), "event": event_payload(order, record)},
            city_id=order.city_id,
        )


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``: the receiver recomputes it and rejects old
    timestamps, so a captured delivery cannot be replayed later."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"
