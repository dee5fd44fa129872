"""Orders as a Hypothesis state machine over the real service and database: whatever customers, shops, couriers
and deadlines do, in any order, every order is in a legal state reached by legal steps, money is conserved
(every fen a customer paid is in escrow, refunded, or settled to the store, the platform and the courier), a
canceled paid order is refunded exactly once, and stock adds up."""

from __future__ import annotations

import datetime as dt
import os
import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import select

from o2o.config import Settings
from o2o.db import Database
from o2o.errors import AppError
from o2o.kit.time import now
from o2o.orders import service
from o2o.orders.models import Order, OrderEventRecord
from o2o.orders.state import Actor, OrderEvent, OrderKind, OrderState, PaymentMode, allowed_events, next_state
from o2o.stores.menu import LineRequest
from o2o.stores.models import StockLevel
from o2o.wallet import chart, payments
from o2o.wallet import service as ledger
from o2o.wallet.models import PaymentIntent, Refund
from tests.orders.conftest import Kitchen, fund, make_kitchen
from tests.wallet.conftest import assert_ledger_sound

EXAMPLES = int(os.environ.get("O2O_PROPERTY_EXAMPLES", "20"))
NEAR = service.Destination(lat=39.905, lng=116.405)
START_MONEY = 500_000
SHOP_STEPS = (OrderEvent.ACCEPT, OrderEvent.START, OrderEvent.MARK_READY, OrderEvent.PICK_UP, OrderEvent.DELIVER,
              OrderEvent.CANCEL_BY_MERCHANT)


def check_machine(db: Database, app_settings: Settings) -> None:
    class Orders(RuleBasedStateMachine):
        @initialize()
        def setup(self) -> None:
            self.k: Kitchen = make_kitchen(db, slug=f"prop{uuid.uuid4().hex[:8]}")
            fund(db, app_settings, self.k.city_id, self.k.customer_id, START_MONEY)
            self.clock = now()
            self.orders: list[uuid.UUID] = []
            self.counter_dumplings = 0

        def _order(self, index: int) -> Order | None:
            if not self.orders:
                return None
            with db.sessionmaker() as s:
                return service.get_order(s, self.orders[index % len(self.orders)])

        @rule(kind=st.sampled_from([OrderKind.DELIVERY, OrderKind.TAKEOUT, OrderKind.CLICK_COLLECT]),
              at_counter=st.booleans(), pay=st.booleans(), dumplings=st.integers(1, 3), colas=st.integers(0, 4))
        def place(self, kind: OrderKind, at_counter: bool, pay: bool, dumplings: int, colas: int) -> None:
            mode = PaymentMode.AT_COUNTER if at_counter and kind == OrderKind.CLICK_COLLECT else PaymentMode.ONLINE
            lines = [LineRequest(self.k.dumplings, dumplings)] + ([LineRequest(self.k.cola, colas)] if colas else [])
            try:
                with db.session() as s:
                    order = service.place(
                        s, app_settings, customer_id=self.k.customer_id, store_id=self.k.store_id, kind=kind,
                        payment_mode=mode, lines=lines, destination=NEAR if kind == OrderKind.DELIVERY else None,
                        pay_with_wallet=pay and mode == PaymentMode.ONLINE, now=self.clock,
                    )
                self.orders.append(order.id)
            except AppError as refused:
                assert refused.code == "out_of_stock"

        @rule(index=st.integers(0, 50))
        def pay_later(self, index: int) -> None:
            order = self._order(index)
            if order is None:
                return
            try:
                with db.session() as s:
                    service.pay_with_wallet(s, order.id, self.k.customer_id, now=self.clock)
            except AppError as refused:
                assert refused.code in ("not_payable", "payment_intent_not_payable", "payment_intent_expired")

        @rule(index=st.integers(0, 50),
              event=st.sampled_from(SHOP_STEPS),
              courier=st.booleans())
        def shop_or_courier_step(self, index: int, event: OrderEvent, courier: bool) -> None:
            order = self._order(index)
            if order is None or order.kind == OrderKind.COUNTER:
                return
            by_courier = courier and event in (OrderEvent.PICK_UP, OrderEvent.DELIVER)
            try:
                with db.session() as s:
                    service.merchant_step(
                        s, order.id, event, store_id=self.k.store_id,
                        person_id=self.k.courier_id if by_courier else self.k.staff_id,
                        actor=Actor.COURIER if by_courier else Actor.MERCHANT,
                        reason="too_busy" if event == OrderEvent.CANCEL_BY_MERCHANT else None,
                        tender="cash", now=self.clock,
                    )
            except AppError as refused:
                assert refused.code in ("order_state_conflict", "not_your_delivery"), refused.code

        @rule(index=st.integers(0, 50), choice=st.integers(0, 10), courier=st.booleans())
        def advance(self, index: int, choice: int, courier: bool) -> None:
            """A step the order can take now (the random rule above mostly tries illegal ones)."""
            order = self._order(index)
            if order is None:
                return
            steps = [e for e in allowed_events(OrderKind(order.kind), PaymentMode(order.payment_mode),
                                               OrderState(order.state)) if e in SHOP_STEPS]
            if steps:
                self.shop_or_courier_step(index, steps[choice % len(steps)], courier)

        @rule(index=st.integers(0, 50))
        def customer_cancels(self, index: int) -> None:
            order = self._order(index)
            if order is None:
                return
            try:
                with db.session() as s:
                    service.cancel_by_customer(s, order.id, self.k.customer_id, now=self.clock)
            except AppError as refused:
                assert refused.code == "order_state_conflict"

        @rule(units=st.integers(1, 3))
        def counter_sale(self, units: int) -> None:
            try:
                with db.session() as s:
                    service.sell_at_counter(s, store_id=self.k.store_id, clerk_id=self.k.staff_id,
                                            lines=[LineRequest(self.k.dumplings, units)], tender="cash", now=self.clock)
                self.counter_dumplings += units
            except AppError as refused:
                assert refused.code == "out_of_stock"

        @rule(minutes=st.integers(1, 20))
        def time_passes(self, minutes: int) -> None:
            self.clock += dt.timedelta(minutes=minutes)
            with db.session() as s:
                payments.expire_unpaid(s, self.clock)
            with db.session() as s:
                service.expire_unaccepted(s, self.clock)

        @invariant()
        def orders_are_legal_and_money_adds_up(self) -> None:
            if not hasattr(self, "k"):
                return
            with db.sessionmaker() as s:
                orders = s.scalars(select(Order).where(Order.store_id == self.k.store_id)).all()
                paid_in = refunded = settled = 0
                for order in orders:
                    events = s.scalars(select(OrderEventRecord).where(OrderEventRecord.order_id == order.id)
                                       .order_by(OrderEventRecord.seq)).all()
                    assert [e.seq for e in events] == list(range(1, len(events) + 1))
                    assert events[-1].state == order.state
                    kind, mode = OrderKind(order.kind), PaymentMode(order.payment_mode)
                    state = OrderState(events[0].state)
                    for e in events[1:]:  # every recorded step was a legal move
                        state = next_state(kind, mode, state, OrderEvent(e.event))
                        assert state == OrderState(e.state)
                    if order.intent_id is None:
                        continue
                    intent = s.get(PaymentIntent, order.intent_id)
                    refunds = s.scalars(select(Refund).where(Refund.intent_id == intent.id)).all()
                    if intent.status == "succeeded":
                        paid_in += intent.amount
                        refunded += sum(r.amount for r in refunds)
                        if order.state == "canceled":
                            assert [r.amount for r in refunds] == [intent.amount]  # exactly once, in full
                        else:
                            assert refunds == []
                    else:
                        assert order.state in ("placed", "canceled") and refunds == []
                    if order.state == "completed":
                        assert intent.settled_at is not None
                        settled += intent.settled_merchant + intent.settled_commission + intent.settled_courier
                    else:
                        assert intent.settled_at is None
                escrow = chart.sales_escrow(self.k.city_id, "CNY").id
                held = ledger.balances(s, [escrow]).get(escrow)
                assert (held.posted if held else 0) == paid_in - refunded - settled
                wallet = payments.wallet_balance(s, self.k.customer_id, "CNY")
                assert wallet.posted == START_MONEY - paid_in + refunded
                level = s.get(StockLevel, self.k.dumplings)
                assert 0 <= level.held <= level.on_hand

        def teardown(self) -> None:
            assert_ledger_sound(db)

    Orders.TestCase.settings = settings(
        max_examples=EXAMPLES, stateful_step_count=25, deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    Orders.TestCase().runTest()


def test_orders_state_machine(db: Database, settings: Settings) -> None:
    check_machine(db, settings)
