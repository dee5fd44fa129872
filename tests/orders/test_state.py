"""The order state machine, pure: every path stays inside the legal states and ends where it should."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2o.orders.state import (
    CANCELLATIONS,
    FINAL,
    TRANSITIONS,
    IllegalTransition,
    OrderEvent,
    OrderKind,
    OrderState,
    PaymentMode,
    allowed_events,
    next_state,
    reachable_states,
)

ONLINE_KINDS = [OrderKind.DELIVERY, OrderKind.TAKEOUT, OrderKind.CLICK_COLLECT]


def test_happy_path_of_a_delivery():
    state = OrderState.PLACED
    for event in (
        OrderEvent.PAY, OrderEvent.ACCEPT, OrderEvent.START, OrderEvent.MARK_READY, OrderEvent.PICK_UP,
        OrderEvent.DELIVER, OrderEvent.COMPLETE,
    ):
        state = next_state(OrderKind.DELIVERY, PaymentMode.ONLINE, state, event)
    assert state == OrderState.COMPLETED


def test_takeout_is_complete_after_collection_and_never_delivered():
    state = OrderState.PLACED
    for event in (OrderEvent.PAY, OrderEvent.ACCEPT, OrderEvent.MARK_READY, OrderEvent.PICK_UP):
        state = next_state(OrderKind.TAKEOUT, PaymentMode.ONLINE, state, event)
    assert state == OrderState.PICKED_UP
    with pytest.raises(IllegalTransition):
        next_state(OrderKind.TAKEOUT, PaymentMode.ONLINE, state, OrderEvent.DELIVER)
    assert next_state(OrderKind.TAKEOUT, PaymentMode.ONLINE, state, OrderEvent.COMPLETE) == OrderState.COMPLETED
    assert OrderState.DELIVERED not in reachable_states(OrderKind.TAKEOUT, PaymentMode.ONLINE)


def test_pay_at_counter_reservation_skips_paid():
    assert OrderState.PAID not in reachable_states(OrderKind.CLICK_COLLECT, PaymentMode.AT_COUNTER)
    assert next_state(OrderKind.CLICK_COLLECT, PaymentMode.AT_COUNTER, OrderState.PLACED, OrderEvent.ACCEPT) == (
        OrderState.ACCEPTED
    )
    with pytest.raises(IllegalTransition):
        next_state(OrderKind.CLICK_COLLECT, PaymentMode.AT_COUNTER, OrderState.PLACED, OrderEvent.PAY)


@pytest.mark.parametrize("kind", ONLINE_KINDS)
def test_customer_cancels_only_before_acceptance(kind):
    assert next_state(kind, PaymentMode.ONLINE, OrderState.PLACED, OrderEvent.CANCEL_BY_CUSTOMER) == OrderState.CANCELED
    assert next_state(kind, PaymentMode.ONLINE, OrderState.PAID, OrderEvent.CANCEL_BY_CUSTOMER) == OrderState.CANCELED
    for state in (OrderState.ACCEPTED, OrderState.PREPARING, OrderState.READY, OrderState.PICKED_UP):
        with pytest.raises(IllegalTransition):
            next_state(kind, PaymentMode.ONLINE, state, OrderEvent.CANCEL_BY_CUSTOMER)


def test_an_unpaid_order_cannot_be_accepted_and_a_picked_up_one_cannot_be_canceled():
    with pytest.raises(IllegalTransition):
        next_state(OrderKind.DELIVERY, PaymentMode.ONLINE, OrderState.PLACED, OrderEvent.ACCEPT)
    with pytest.raises(IllegalTransition):
        next_state(OrderKind.DELIVERY, PaymentMode.ONLINE, OrderState.PICKED_UP, OrderEvent.CANCEL_BY_MERCHANT)


def test_final_states_have_no_way_out():
    for table in TRANSITIONS.values():
        assert not [key for key in table if key[0] in FINAL]


combos = st.sampled_from(sorted(k for k in TRANSITIONS if k[0] != OrderKind.COUNTER))


@settings(max_examples=300, deadline=None)
@given(combo=combos, events=st.lists(st.sampled_from(list(OrderEvent)), max_size=30))
def test_any_sequence_of_events_stays_legal(combo, events):
    """Whatever is tried, in any order: an illegal event is refused and changes nothing, every state reached is
    reachable by the table, a final state is never left, and an order is canceled only by a cancellation."""
    kind, mode = combo
    legal = reachable_states(kind, mode)
    state = OrderState.PLACED
    history = [state]
    for event in events:
        allowed = event in allowed_events(kind, mode, state)
        try:
            new = next_state(kind, mode, state, event)
        except IllegalTransition:
            assert not allowed
            continue
        assert allowed
        assert state not in FINAL
        assert new in legal
        if new == OrderState.CANCELED:
            assert event in CANCELLATIONS
        if new == OrderState.COMPLETED:
            assert OrderState.PICKED_UP in history  # nothing completes before it left the shop
            assert mode == PaymentMode.AT_COUNTER or OrderState.PAID in history
        state = new
        history.append(state)
