"""The order state machine (pure: no database, no web), in the spirit of the Open Delivery standard.

    placed --pay--> paid --accept--> accepted --start--> preparing --ready--> ready
    ready --pick_up--> picked_up --deliver--> delivered --complete--> completed      (delivery)
    ready --pick_up--> picked_up --complete--> completed                             (takeout, click-and-collect)

- A click-and-collect order paid at the counter skips ``paid``: the shop accepts the reservation while it is
  ``placed``, and the clerk takes the money when the customer collects (``pick_up`` records the payment).
- ``mark_ready`` from ``accepted`` is allowed (a dish that needs no preparation): the order passes through
  ``preparing`` in the same step, and both events are recorded.
- Cancellation: by the customer before the shop accepts (``placed`` or ``paid``); by the shop with a reason
  code until the order leaves the shop (``picked_up``); by the platform when unpaid after the payment deadline
  (``placed``) or not accepted in time (``paid``). A counter sale is complete when it is made.
- ``completed`` and ``canceled`` are final. Money moves with the transitions: ``pay`` takes it into escrow,
  ``cancel`` of a paid order refunds it (once), ``complete`` settles it (merchant, commission, courier).
"""

from __future__ import annotations

from enum import StrEnum


class OrderKind(StrEnum):
    DELIVERY = "delivery"
    TAKEOUT = "takeout"  # paid online, the customer collects
    CLICK_COLLECT = "click_collect"  # reserved online, paid online or at the counter, collected in the shop
    COUNTER = "counter"  # sold at the shop counter through the point of sale


class OrderState(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    ACCEPTED = "accepted"
    PREPARING = "preparing"
    READY = "ready"
    PICKED_UP = "picked_up"
    DELIVERED = "delivered"
    COMPLETED = "completed"
    CANCELED = "canceled"


class OrderEvent(StrEnum):
    PAY = "pay"
    ACCEPT = "accept"
    START = "start"
    MARK_READY = "mark_ready"
    PICK_UP = "pick_up"
    DELIVER = "deliver"
    COMPLETE = "complete"
    CANCEL_BY_CUSTOMER = "cancel_by_customer"
    CANCEL_BY_MERCHANT = "cancel_by_merchant"
    EXPIRE_UNPAID = "expire_unpaid"
    EXPIRE_UNACCEPTED = "expire_unaccepted"
    PAYMENT_FAILED = "payment_failed"  # paid, but the units are gone (a lapsed hold found nothing left)


class PaymentMode(StrEnum):
    ONLINE = "online"
    AT_COUNTER = "at_counter"


class Actor(StrEnum):
    CUSTOMER = "customer"
    MERCHANT = "merchant"
    COURIER = "courier"
    PLATFORM = "platform"


# Why a shop cancels, as Open Delivery names them (shown to the customer, counted for the merchant's record).
MERCHANT_CANCEL_REASONS = (
    "out_of_stock",
    "store_closed",
    "too_busy",
    "address_unreachable",
    "customer_no_show",
    "item_unavailable",
    "other",
)

FINAL = frozenset({OrderState.COMPLETED, OrderState.CANCELED})
# Until these, the kitchen has not started: a cancellation puts the units back on the shelf.
NOT_STARTED = frozenset({OrderState.PLACED, OrderState.PAID, OrderState.ACCEPTED})

S, E = OrderState, OrderEvent

_COMMON: dict[tuple[OrderState, OrderEvent], OrderState] = {
    (S.PLACED, E.PAY): S.PAID,
    (S.PLACED, E.CANCEL_BY_CUSTOMER): S.CANCELED,
    (S.PLACED, E.EXPIRE_UNPAID): S.CANCELED,
    (S.PAID, E.ACCEPT): S.ACCEPTED,
    (S.PAID, E.CANCEL_BY_CUSTOMER): S.CANCELED,
    (S.PAID, E.CANCEL_BY_MERCHANT): S.CANCELED,
    (S.PAID, E.EXPIRE_UNACCEPTED): S.CANCELED,
    (S.PAID, E.PAYMENT_FAILED): S.CANCELED,
    (S.ACCEPTED, E.START): S.PREPARING,
    (S.ACCEPTED, E.MARK_READY): S.READY,
    (S.ACCEPTED, E.CANCEL_BY_MERCHANT): S.CANCELED,
    (S.PREPARING, E.MARK_READY): S.READY,
    (S.PREPARING, E.CANCEL_BY_MERCHANT): S.CANCELED,
    (S.READY, E.PICK_UP): S.PICKED_UP,
    (S.READY, E.CANCEL_BY_MERCHANT): S.CANCELED,
}

TRANSITIONS: dict[tuple[OrderKind, PaymentMode], dict[tuple[OrderState, OrderEvent], OrderState]] = {
    (OrderKind.DELIVERY, PaymentMode.ONLINE): {
        **_COMMON,
        (S.PICKED_UP, E.DELIVER): S.DELIVERED,
        (S.DELIVERED, E.COMPLETE): S.COMPLETED,
    },
    (OrderKind.TAKEOUT, PaymentMode.ONLINE): {**_COMMON, (S.PICKED_UP, E.COMPLETE): S.COMPLETED},
    (OrderKind.CLICK_COLLECT, PaymentMode.ONLINE): {**_COMMON, (S.PICKED_UP, E.COMPLETE): S.COMPLETED},
    (OrderKind.CLICK_COLLECT, PaymentMode.AT_COUNTER): {
        (S.PLACED, E.ACCEPT): S.ACCEPTED,
        (S.PLACED, E.CANCEL_BY_CUSTOMER): S.CANCELED,
        (S.PLACED, E.CANCEL_BY_MERCHANT): S.CANCELED,
        (S.PLACED, E.EXPIRE_UNACCEPTED): S.CANCELED,
        (S.ACCEPTED, E.START): S.PREPARING,
        (S.ACCEPTED, E.MARK_READY): S.READY,
        (S.ACCEPTED, E.CANCEL_BY_MERCHANT): S.CANCELED,
        (S.PREPARING, E.MARK_READY): S.READY,
        (S.PREPARING, E.CANCEL_BY_MERCHANT): S.CANCELED,
        (S.READY, E.PICK_UP): S.PICKED_UP,  # collected and paid at the counter
        (S.READY, E.CANCEL_BY_MERCHANT): S.CANCELED,
        (S.PICKED_UP, E.COMPLETE): S.COMPLETED,
    },
    # A counter sale is made complete; it has no transitions.
    (OrderKind.COUNTER, PaymentMode.AT_COUNTER): {},
}

# Who may cause each event (the service checks the caller's role against this).
ACTORS: dict[OrderEvent, frozenset[Actor]] = {
    E.PAY: frozenset({Actor.PLATFORM}),  # the wallet says the payment succeeded
    E.ACCEPT: frozenset({Actor.MERCHANT}),
    E.START: frozenset({Actor.MERCHANT}),
    E.MARK_READY: frozenset({Actor.MERCHANT}),
    E.PICK_UP: frozenset({Actor.MERCHANT, Actor.COURIER}),  # handed to the courier or to the customer
    E.DELIVER: frozenset({Actor.MERCHANT, Actor.COURIER}),  # the shop's own rider, or a platform courier
    E.COMPLETE: frozenset({Actor.PLATFORM}),
    E.CANCEL_BY_CUSTOMER: frozenset({Actor.CUSTOMER}),
    E.CANCEL_BY_MERCHANT: frozenset({Actor.MERCHANT}),
    E.EXPIRE_UNPAID: frozenset({Actor.PLATFORM}),
    E.EXPIRE_UNACCEPTED: frozenset({Actor.PLATFORM}),
    E.PAYMENT_FAILED: frozenset({Actor.PLATFORM}),
}


class IllegalTransition(ValueError):
    def __init__(self, state: OrderState, event: OrderEvent) -> None:
        super().__init__(f"{event.value} is not possible when the order is {state.value}")
        self.state = state
        self.event = event


def valid_combination(kind: OrderKind, mode: PaymentMode) -> bool:
    return (kind, mode) in TRANSITIONS


def next_state(kind: OrderKind, mode: PaymentMode, state: OrderState, event: OrderEvent) -> OrderState:
    """The state after ``event``, or ``IllegalTransition``."""
    table = TRANSITIONS.get((kind, mode))
    if table is None:
        raise ValueError(f"no order is {kind.value} paid {mode.value}")
    new = table.get((state, event))
    if new is None:
        raise IllegalTransition(state, event)
    return new


def allowed_events(kind: OrderKind, mode: PaymentMode, state: OrderState) -> list[OrderEvent]:
    return [event for (s, event) in TRANSITIONS[(kind, mode)] if s == state]


CANCELLATIONS = frozenset(
    {E.CANCEL_BY_CUSTOMER, E.CANCEL_BY_MERCHANT, E.EXPIRE_UNPAID, E.EXPIRE_UNACCEPTED, E.PAYMENT_FAILED}
)

# After these events the platform completes the order in the same step (completion settles the money).
AUTO_COMPLETE_AFTER: dict[OrderKind, OrderState] = {
    OrderKind.DELIVERY: OrderState.DELIVERED,
    OrderKind.TAKEOUT: OrderState.PICKED_UP,
    OrderKind.CLICK_COLLECT: OrderState.PICKED_UP,
}


def reachable_states(kind: OrderKind, mode: PaymentMode) -> set[OrderState]:
    """Every state an order of this kind can reach from where it starts (for the property tests)."""
    start = OrderState.COMPLETED if kind == OrderKind.COUNTER else OrderState.PLACED
    seen = {start}
    frontier = [start]
    table = TRANSITIONS[(kind, mode)]
    while frontier:
        state = frontier.pop()
        for (s, _event), new in table.items():
            if s == state and new not in seen:
                seen.add(new)
                frontier.append(new)
    return seen
