"""The orders API: quotes and orders for customers (``/api/orders``), the shop's side (``/api/merchant/stores/
{store_id}/orders``: incoming orders, their steps, the event feed and webhooks, sales by channel), the point of
sale (``.../counter-sales``) and the courier's two steps.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Literal

from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from o2o.accounts.endpoints import AUTH_ERRORS, require
from o2o.accounts.permissions import Action, Principal, Resource
from o2o.cities import service as cities
from o2o.errors import AppError, problem_responses
from o2o.http import DbSession, api_router
from o2o.kit.time import now
from o2o.orders import jobs, service  # noqa: F401  (jobs: registration)
from o2o.orders.models import Order
from o2o.orders.pricing import Quote
from o2o.orders.schemas import (
    ChannelSalesOut,
    CounterSaleIn,
    EventOut,
    LineIn,
    LineOut,
    MerchantStep,
    OptionOut,
    OrderCreate,
    OrderOut,
    QuoteIn,
    QuoteOut,
    WebhookIn,
    WebhookOut,
)
from o2o.orders.state import Actor, OrderEvent, OrderKind, PaymentMode
from o2o.stores.menu import LineRequest

router = api_router(tags=["orders"])

FORBIDDEN = (403, "forbidden")
NOT_FOUND = (404, "order_not_found")
STATE_CONFLICT = (409, "order_state_conflict")
MENU_ERRORS = (
    (422, "empty_cart"), (422, "too_many_lines"), (422, "invalid_quantity"), (422, "unknown_item"),
    (422, "unknown_option"), (422, "duplicate_option"), (422, "option_picks"), (409, "item_sold_out"),
    (409, "option_sold_out"), (409, "item_unavailable_now"),
)
CHECKOUT_ERRORS = (
    (404, "store_not_found"), (409, "store_paused"), (409, "store_closed"), (422, "address_required"),
    (409, "outside_delivery_area"), (409, "below_minimum_order"), (409, "out_of_stock"),
    (422, "invalid_payment_mode"),
)
STEP_PATHS: dict[str, OrderEvent] = {
    "accept": OrderEvent.ACCEPT,
    "start": OrderEvent.START,
    "ready": OrderEvent.MARK_READY,
    "pick-up": OrderEvent.PICK_UP,
    "deliver": OrderEvent.DELIVER,
    "cancel": OrderEvent.CANCEL_BY_MERCHANT,
}


def _anywhere() -> Resource:
    return Resource()


# Any signed-in customer may buy; their orders are their own (someone else's is "not found").
Customer = Annotated[Principal, Depends(require(Action.PURCHASE, _anywhere))]


def _lines(lines: list[LineIn]) -> list[LineRequest]:
    return [LineRequest(item_id=line.item_id, quantity=line.quantity, option_ids=tuple(line.option_ids)) for line in lines]


def _destination(body: QuoteIn) -> service.Destination | None:
    if body.address is None:
        return None
    return service.Destination(lat=body.address.lat, lng=body.address.lng, address=body.address.text)


def quote_out(store_id: uuid.UUID, q: Quote) -> QuoteOut:
    return QuoteOut(
        store_id=store_id,
        kind=q.kind.value,  # type: ignore[arg-type]
        currency=q.currency,
        lines=[
            LineOut(
                item_id=line.item_id, name=line.name, quantity=line.quantity, unit_price=line.unit_price,
                line_total=line.line_total,
                options=[
                    OptionOut(option_id=o.option_id, group=o.group_name, name=o.name, price_delta=o.price_delta)
                    for o in line.options
                ],
            )
            for line in q.lines
        ],
        subtotal=q.subtotal,
        packaging_fee=q.packaging_fee,
        delivery_fee=q.delivery_fee,
        total=q.total,
        distance_m=q.distance_m,
        ready_at=q.ready_at,
        promised_at=q.promised_at,
    )


def order_out(session: Session, order: Order, *, with_events: bool = True) -> OrderOut:
    out = OrderOut.model_validate(order, from_attributes=True)
    out.lines = [
        LineOut(
            item_id=line.item_id, name=line.name, quantity=line.quantity, unit_price=line.unit_price,
            line_total=line.line_total, options=[OptionOut(**o) for o in json.loads(line.options)],
        )
        for line in service.order_lines(session, order.id)
    ]
    if with_events:
        out.events = [EventOut.model_validate(e, from_attributes=True) for e in service.order_events(session, order.id)]
    return out


# ---------------------------------------------------------------------------------------------------- customers


@router.post(
    "/api/orders/quote",
    response_model=QuoteOut,
    summary="Price an order before paying",
    description=(
        "Items with their options, packaging fee, delivery fee by distance, the minimum order, and the promised "
        "ready or delivery time. Nothing is held or placed."
    ),
    responses=problem_responses(*AUTH_ERRORS, *MENU_ERRORS, *CHECKOUT_ERRORS),
)
def quote(
    body: QuoteIn, session: DbSession, principal: Customer
) -> QuoteOut:
    q = service.quote(
        session, store_id=body.store_id, kind=OrderKind(body.kind), lines=_lines(body.lines),
        destination=_destination(body),
    )
    return quote_out(body.store_id, q)


@router.post(
    "/api/orders",
    status_code=201,
    response_model=OrderOut,
    summary="Place an order",
    description=(
        "Prices the order, holds its units (10 minutes by default) and opens its payment intent "
        "(`payment_intent_id`: confirm it with `POST /api/wallet/payment-intents/{id}/confirm`, or send "
        "`pay_with: wallet` to pay in this same step). Unpaid after 15 minutes, it is canceled and its units "
        "freed. A click-and-collect order paid at the counter waits for the shop to accept it."
    ),
    responses=problem_responses(
        *AUTH_ERRORS, *MENU_ERRORS, *CHECKOUT_ERRORS, (402, "insufficient_funds"), (409, "price_changed")
    ),
)
def place(
    request: Request,
    body: OrderCreate,
    session: DbSession,
    principal: Customer,
) -> OrderOut:
    order = service.place(
        session,
        request.app.state.settings,
        customer_id=principal.person_id,
        store_id=body.store_id,
        kind=OrderKind(body.kind),
        payment_mode=PaymentMode(body.payment_mode),
        lines=_lines(body.lines),
        destination=_destination(body),
        note=body.note,
        pay_with_wallet=body.pay_with == "wallet",
        expected_total=body.expected_total,
    )
    return order_out(session, order)


@router.get(
    "/api/orders",
    response_model=list[OrderOut],
    summary="My orders, newest first",
    responses=problem_responses(*AUTH_ERRORS),
)
def my_orders(
    session: DbSession,
    principal: Customer,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[uuid.UUID | None, Query(description="Only orders older than this one (paging).")] = None,
) -> list[OrderOut]:
    orders = service.customer_orders(session, principal.person_id, limit=limit, before=before)
    return [order_out(session, o, with_events=False) for o in orders]


@router.get(
    "/api/orders/{order_id}",
    response_model=OrderOut,
    summary="One of my orders, with its timeline",
    description="The truth about the order: its state, lines, money and every event with its time.",
    responses=problem_responses(*AUTH_ERRORS, NOT_FOUND),
)
def my_order(
    order_id: uuid.UUID,
    session: DbSession,
    principal: Customer,
) -> OrderOut:
    return order_out(session, service.customer_order(session, order_id, principal.person_id))


@router.post(
    "/api/orders/{order_id}/pay",
    response_model=OrderOut,
    summary="Pay a placed order from my wallet",
    responses=problem_responses(*AUTH_ERRORS, NOT_FOUND, (402, "insufficient_funds"), (409, "not_payable")),
)
def pay(
    order_id: uuid.UUID,
    session: DbSession,
    principal: Customer,
) -> OrderOut:
    return order_out(session, service.pay_with_wallet(session, order_id, principal.person_id))


@router.post(
    "/api/orders/{order_id}/cancel",
    response_model=OrderOut,
    summary="Cancel my order before the shop accepts it",
    description="A paid order is refunded in full, exactly once; its units go back on the shelf.",
    responses=problem_responses(*AUTH_ERRORS, NOT_FOUND, STATE_CONFLICT),
)
def cancel(
    order_id: uuid.UUID,
    session: DbSession,
    principal: Customer,
) -> OrderOut:
    return order_out(session, service.cancel_by_customer(session, order_id, principal.person_id))


# ---------------------------------------------------------------------------------------------------- the shop


def _store_resource(store_id: uuid.UUID, session: DbSession) -> Resource:
    from o2o.stores import service as stores

    store = stores.store_for_sale(session, store_id)
    if store is None:
        raise AppError("store_not_found", 404, "No such store.")
    return Resource(city_id=store.city_id, store_id=store.store_id)


StoreOperator = Annotated[Principal, Depends(require(Action.STORE_OPERATE, _store_resource))]
StoreManager = Annotated[Principal, Depends(require(Action.STORE_MANAGE, _store_resource))]


@router.get(
    "/api/merchant/stores/{store_id}/orders",
    response_model=list[OrderOut],
    summary="The store's orders, newest first",
    description="Filter by `state` (repeatable) for the incoming queue: `paid` orders wait to be accepted.",
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN),
)
def store_orders(
    store_id: uuid.UUID,
    session: DbSession,
    principal: StoreOperator,
    state: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[uuid.UUID | None, Query()] = None,
) -> list[OrderOut]:
    orders = service.store_orders(session, store_id, states=state, limit=limit, before=before)
    return [order_out(session, o, with_events=False) for o in orders]


@router.get(
    "/api/merchant/stores/{store_id}/orders/{order_id}",
    response_model=OrderOut,
    summary="One of the store's orders, with its timeline",
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN, NOT_FOUND),
)
def store_order(store_id: uuid.UUID, order_id: uuid.UUID, session: DbSession, principal: StoreOperator) -> OrderOut:
    order = service.get_order(session, order_id)
    if order.store_id != store_id:
        raise service.order_not_found()
    return order_out(session, order)


@router.post(
    "/api/merchant/stores/{store_id}/orders/{order_id}/{step}",
    response_model=OrderOut,
    summary="Take a step on an order: accept, start, ready, pick-up, deliver, cancel",
    description=(
        "`accept` a paid order (or a click-and-collect reservation paid at the counter), `start` preparing, "
        "mark it `ready`, hand it over (`pick-up`: to the courier, or to the customer, who says the pickup code; "
        "an order paid at the counter needs `tender`), `deliver` it (the shop's own rider), or `cancel` it with "
        "a `reason` (refunded in full, once). Delivery or collection completes the order and settles its money."
    ),
    responses=problem_responses(
        *AUTH_ERRORS, FORBIDDEN, NOT_FOUND, STATE_CONFLICT, (422, "invalid_cancel_reason"), (422, "tender_required"),
        (404, "unknown_step"),
    ),
)
def merchant_step(
    store_id: uuid.UUID,
    order_id: uuid.UUID,
    step: str,
    session: DbSession,
    principal: StoreOperator,
    body: MerchantStep | None = None,
) -> OrderOut:
    event = STEP_PATHS.get(step)
    if event is None:
        raise AppError("unknown_step", 404, "Steps are: " + ", ".join(STEP_PATHS) + ".")
    body = body or MerchantStep()
    order = service.merchant_step(
        session, order_id, event, store_id=store_id, person_id=principal.person_id, reason=body.reason,
        tender=body.tender,
    )
    return order_out(session, order)


@router.post(
    "/api/merchant/stores/{store_id}/counter-sales",
    status_code=201,
    response_model=OrderOut,
    summary="Sell at the counter (point of sale)",
    description=(
        "The same catalogue and the same stock as the app: the units are taken at once, or nothing is sold "
        "(409 `out_of_stock`)."
    ),
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN, *MENU_ERRORS, (409, "out_of_stock"), (422, "invalid_tender")),
)
def counter_sale(store_id: uuid.UUID, body: CounterSaleIn, session: DbSession, principal: StoreOperator) -> OrderOut:
    order = service.sell_at_counter(
        session, store_id=store_id, clerk_id=principal.person_id, lines=_lines(body.lines), tender=body.tender
    )
    return order_out(session, order)


@router.get(
    "/api/merchant/stores/{store_id}/order-events",
    response_model=list[EventOut],
    summary="The store's order events, oldest first (poll with `after`)",
    description="Pass the last event id you have as `after` to get only newer ones.",
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN),
)
def store_events(
    store_id: uuid.UUID,
    session: DbSession,
    principal: StoreOperator,
    after: Annotated[uuid.UUID | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[EventOut]:
    return [EventOut.model_validate(e, from_attributes=True) for e in service.store_events(session, store_id, after=after, limit=limit)]


@router.get(
    "/api/merchant/stores/{store_id}/sales",
    response_model=list[ChannelSalesOut],
    summary="Sales by channel on a local day",
    description="Delivery, takeout, click-and-collect, counter and vouchers: orders and amounts paid that day.",
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN),
)
def sales(
    store_id: uuid.UUID,
    session: DbSession,
    principal: StoreOperator,
    day: Annotated[dt.date | None, Query(description="A local date; today when omitted.")] = None,
) -> list[ChannelSalesOut]:
    return [ChannelSalesOut(**vars(row)) for row in sales_by_channel(session, store_id, day)]


def sales_by_channel(session: Session, store_id: uuid.UUID, day: dt.date | None) -> list[service.ChannelSales]:
    """The store's sales on a local day, with its vouchers when the deals domain is there."""
    from o2o.stores import service as stores

    store = stores.store_for_sale(session, store_id)
    if store is None:
        raise AppError("store_not_found", 404, "No such store.")
    tz = cities.city_timezone(session, store.city_id) or "UTC"
    start, end = day_bounds(day, tz)
    rows = service.sales_by_channel(session, store_id, start, end)
    try:
        from o2o.deals import service as deals
    except ImportError:  # pragma: no cover - deals are part of the platform; this keeps orders testable alone
        return rows
    count, amount = deals.voucher_sales(session, store_id, start, end)
    return [*rows, service.ChannelSales("vouchers", count, amount)]


def day_bounds(day: dt.date | None, tz: str) -> tuple[dt.datetime, dt.datetime]:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(tz)
    day = day or now().astimezone(zone).date()
    start = dt.datetime.combine(day, dt.time(0), zone)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


@router.post(
    "/api/merchant/stores/{store_id}/webhooks",
    status_code=201,
    response_model=WebhookOut,
    summary="Receive the store's order events as signed webhooks",
    description=(
        "Each order event is POSTed as JSON with `O2O-Event-Id` and `O2O-Signature: t=<unix>,v1=<hex>` (HMAC-SHA256 "
        "of `<t>.<body>` with the secret), retried with backoff until answered 2xx."
    ),
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN, (422, "invalid_webhook_url")),
)
def add_webhook(store_id: uuid.UUID, body: WebhookIn, session: DbSession, principal: StoreManager) -> WebhookOut:
    return WebhookOut.model_validate(service.add_webhook(session, store_id=store_id, url=body.url), from_attributes=True)


@router.get(
    "/api/merchant/stores/{store_id}/webhooks",
    response_model=list[WebhookOut],
    summary="The store's webhooks",
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN),
)
def list_webhooks(store_id: uuid.UUID, session: DbSession, principal: StoreManager) -> list[WebhookOut]:
    return [WebhookOut.model_validate(h, from_attributes=True) for h in service.webhooks_of(session, store_id)]


@router.delete(
    "/api/merchant/stores/{store_id}/webhooks/{webhook_id}",
    status_code=204,
    summary="Stop a webhook",
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN, (404, "webhook_not_found")),
)
def remove_webhook(store_id: uuid.UUID, webhook_id: uuid.UUID, session: DbSession, principal: StoreManager) -> Response:
    service.remove_webhook(session, store_id=store_id, webhook_id=webhook_id)
    return Response(status_code=204)


# ---------------------------------------------------------------------------------------------------- couriers


def _order_city(order_id: uuid.UUID, session: DbSession) -> Resource:
    order = session.get(Order, order_id)
    if order is None:
        raise service.order_not_found()
    return Resource(city_id=order.city_id)


@router.post(
    "/api/courier/orders/{order_id}/{step}",
    response_model=OrderOut,
    summary="A courier picks up or delivers an order",
    description="`pick-up` at the shop (the order becomes the courier's), then `deliver` at the door.",
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN, NOT_FOUND, STATE_CONFLICT, (403, "not_your_delivery")),
)
def courier_step(
    order_id: uuid.UUID,
    step: Literal["pick-up", "deliver"],
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.DELIVERY_WORK, _order_city))],
) -> OrderOut:
    order = service.get_order(session, order_id)
    order = service.merchant_step(
        session, order_id, STEP_PATHS[step], store_id=order.store_id, person_id=principal.person_id,
        actor=Actor.COURIER,
    )
    return order_out(session, order)
