"""A Hypothesis state machine over the payments service on a real database: whatever the sequence of payments,
channel outcomes (duplicated, late, out of order), cancellations, refunds and settlements, money is conserved
and every account holds exactly what the records say it should."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import select

from o2o.config import Settings
from o2o.db import Database
from o2o.errors import AppError
from o2o.wallet import chart, payments
from o2o.wallet import service as ledger
from o2o.wallet.channels import base as ch
from o2o.wallet.intents import IntentStatus
from o2o.wallet.ledger import check_invariants
from o2o.wallet.models import ChannelTrade, PaymentIntent, Refund
from tests.wallet.conftest import make_shop

_cities = itertools.count()
CHANNELS = [ch.ChannelName.ALIPAY_SIM, ch.ChannelName.WECHATPAY_SIM]
T0 = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)


def _machine(db: Database, cfg: Settings) -> type[RuleBasedStateMachine]:
    class Payments(RuleBasedStateMachine):
        @initialize()
        def open_city(self) -> None:
            self.shop = make_shop(db, f"prop-{next(_cities)}-{uuid.uuid4().hex[:6]}", commission_bp=1_234)
            self.people = [self.shop.customer_id, self.shop.other_id]
            self.intents: list[uuid.UUID] = []
            self.trades: list[tuple[str, ch.ChannelName, int]] = []  # every trade ever opened
            self.now = T0

        def _do(self, fn):  # type: ignore[no-untyped-def]
            try:
                with db.session() as s:
                    return fn(s)
            except AppError:
                return None  # a business refusal: it must have changed nothing (the invariants check it)
            except payments.UnknownTrade:
                return None

        # ------------------------------------------------------------------ intents

        @rule(amount=st.integers(1, 5_000), who=st.integers(0, 1))
        def new_sale(self, amount: int, who: int) -> None:
            intent = self._do(lambda s: payments.create_store_payment(
                s, payer_id=self.people[who], store_id=self.shop.store_id, amount=amount, note="", settings=cfg,
                now=self.now))
            self.intents.append(intent.id)

        @rule(amount=st.integers(1, 8_000), who=st.integers(0, 1), channel=st.sampled_from(CHANNELS))
        def new_top_up(self, amount: int, who: int, channel: ch.ChannelName) -> None:
            def run(s):  # type: ignore[no-untyped-def]
                intent = payments.create_top_up(s, payer_id=self.people[who], city_id=self.shop.city_id,
                                                currency="CNY", amount=amount, settings=cfg, now=self.now)
                return payments.start_channel(s, intent.id, self.people[who], channel.value, now=self.now)

            intent = self._do(run)
            self.intents.append(intent.id)
            self.trades.append((intent.trade_no, channel, amount))

        def _intent(self, i: int) -> PaymentIntent:
            with db.sessionmaker() as s:
                return payments.get_intent(s, self.intents[i % len(self.intents)])

        @precondition(lambda self: self.intents)
        @rule(i=st.integers(0, 1000))
        def pay_from_wallet(self, i: int) -> None:
            intent = self._intent(i)
            self._do(lambda s: payments.pay_from_wallet(s, intent.id, intent.payer_person_id, now=self.now))

        @precondition(lambda self: self.intents)
        @rule(i=st.integers(0, 1000), channel=st.sampled_from(CHANNELS))
        def start_channel(self, i: int, channel: ch.ChannelName) -> None:
            intent = self._intent(i)
            done = self._do(lambda s: payments.start_channel(s, intent.id, intent.payer_person_id, channel.value,
                                                             now=self.now))
            if done is not None and done.trade_no and all(t[0] != done.trade_no for t in self.trades):
                self.trades.append((done.trade_no, channel, done.amount))

        @precondition(lambda self: self.intents)
        @rule(i=st.integers(0, 1000))
        def cancel(self, i: int) -> None:
            intent = self._intent(i)
            self._do(lambda s: payments.cancel(s, intent.id, now=self.now))

        # ------------------------------------------------------------------ the channel speaks (any trade, any order)

        @precondition(lambda self: self.trades)
        @rule(t=st.integers(0, 1000), copies=st.integers(1, 3), off_by=st.sampled_from([0, 0, 0, 1]))
        def channel_paid(self, t: int, copies: int, off_by: int) -> None:
            trade_no, channel, amount = self.trades[t % len(self.trades)]
            info = ch.ChannelTrade(channel, trade_no, ch.TradeStatus.PAID, amount + off_by, "X" + trade_no, self.now)
            with db.sessionmaker() as s:
                state = s.scalar(select(ChannelTrade.status).where(ChannelTrade.out_trade_no == trade_no))
            if state == "closed":
                return  # a consistent channel never pays a trade it closed (that path has its own unit test)
            for _ in range(copies):
                self._do(lambda s: payments.apply_channel_trade(s, info, now=self.now))

        @precondition(lambda self: self.trades)
        @rule(t=st.integers(0, 1000))
        def channel_closed(self, t: int) -> None:
            trade_no, channel, _amount = self.trades[t % len(self.trades)]
            info = ch.ChannelTrade(channel, trade_no, ch.TradeStatus.CLOSED, 0)
            self._do(lambda s: payments.apply_channel_trade(s, info, now=self.now))

        # ------------------------------------------------------------------ refunds, settlement

        @precondition(lambda self: self.intents)
        @rule(i=st.integers(0, 1000), amount=st.integers(1, 3_000), to_wallet=st.booleans(), n=st.integers(0, 3))
        def refund(self, i: int, amount: int, to_wallet: bool, n: int) -> None:
            intent = self._intent(i)
            self._do(lambda s: payments.refund(s, intent.id, refund_no=f"r{n}", amount=amount, to_wallet=to_wallet,
                                               now=self.now))

        @rule(ok=st.booleans(), k=st.integers(0, 1000))
        def channel_answers_a_refund(self, ok: bool, k: int) -> None:
            with db.sessionmaker() as s:
                pending = list(s.scalars(select(Refund.id).where(Refund.status == "pending").order_by(Refund.id)))
            if pending:
                refund_id = pending[k % len(pending)]
                self._do(lambda s: payments._finish_refund(s, refund_id, succeeded=ok, failure="X", now=self.now))

        @precondition(lambda self: self.intents)
        @rule(i=st.integers(0, 1000), fee=st.integers(0, 800), with_courier=st.booleans())
        def settle(self, i: int, fee: int, with_courier: bool) -> None:
            intent = self._intent(i)
            courier = self.shop.courier_id if with_courier else None
            self._do(lambda s: payments.settle(s, intent.id, courier_person_id=courier,
                                               courier_fee=fee if with_courier else 0, now=self.now))

        # ------------------------------------------------------------------ what must always hold

        @invariant()
        def money_is_where_the_records_say(self) -> None:
            city = self.shop.city_id
            with db.sessionmaker() as s:
                accounts = ledger.all_accounts(s)
                transfers, statuses = ledger.journal(s)
                assert check_invariants(accounts, transfers, statuses) == []
                intents = list(s.scalars(select(PaymentIntent).where(PaymentIntent.city_id == city)))
                trades = list(s.scalars(select(ChannelTrade).where(ChannelTrade.city_id == city)))
                refunds = list(s.scalars(select(Refund).where(Refund.city_id == city)))
                posted = {a.id: a.balance().posted for a in accounts}
                available = {a.id: a.balance().available for a in accounts}
            by_intent = {i.id: i for i in intents}
            live_refunds: dict[uuid.UUID, int] = {}
            for r in refunds:
                if r.reason != "unaccepted_payment" and r.status != "failed":
                    live_refunds[r.intent_id] = live_refunds.get(r.intent_id, 0) + r.amount
            for i in intents:
                assert i.refunded_amount == live_refunds.get(i.id, 0)
                assert 0 <= i.refunded_amount <= i.amount
                if i.refunded_amount:
                    assert i.status == IntentStatus.SUCCEEDED
                if i.settled_at is not None:
                    after = i.reversed_merchant + i.reversed_commission  # refunded after settlement
                    net = i.amount - (i.refunded_amount - after)
                    assert i.settled_merchant + i.settled_commission + i.settled_courier == net
                    assert 0 <= i.reversed_merchant <= i.settled_merchant
                    assert 0 <= i.reversed_commission <= i.settled_commission
            accepted = [t for t in trades if t.accepted]
            assert len({t.intent_id for t in accepted}) == len(accepted)  # one paid trade per intent, at most
            for t in accepted:
                intent = by_intent[t.intent_id]
                assert intent.status == IntentStatus.SUCCEEDED and intent.method == t.channel

            def wallet_expected(person: uuid.UUID) -> tuple[int, int]:
                total = 0
                reserved = 0
                for i in intents:
                    if i.payer_person_id != person or i.status != IntentStatus.SUCCEEDED:
                        continue
                    total += i.amount if i.purpose == payments.Purpose.TOP_UP else (
                        -i.amount if i.method == "wallet" else 0)
                for r in refunds:
                    i = by_intent[r.intent_id]
                    if i.payer_person_id != person or r.reason == "unaccepted_payment":
                        continue
                    if r.destination == "wallet" and r.status == "succeeded":
                        total += r.amount
                    if i.purpose == payments.Purpose.TOP_UP and r.destination == "channel":
                        if r.status == "succeeded":
                            total -= r.amount
                        elif r.status == "pending":
                            reserved += r.amount
                return total, total - reserved

            for person in self.people:
                spec = chart.customer_wallet(person, "CNY")
                assert (posted.get(spec.id, 0), available.get(spec.id, 0)) == wallet_expected(person)

            for channel in CHANNELS:
                spec = chart.channel_clearing(channel.value, city, "CNY")
                collected = sum(t.paid_amount for t in trades if t.channel == channel.value and t.status == "paid")
                paid_back = sum(r.amount for r in refunds if r.destination == "channel" and r.status == "succeeded"
                                and next(t for t in trades if t.id == r.trade_id).channel == channel.value)
                assert posted.get(spec.id, 0) == collected - paid_back

            escrow = chart.sales_escrow(city, "CNY")
            held = 0
            for i in intents:
                if i.purpose == payments.Purpose.TOP_UP or i.status != IntentStatus.SUCCEEDED or i.settled_at:
                    continue
                held += i.amount
            for r in refunds:
                i = by_intent[r.intent_id]
                if r.reason == "unaccepted_payment":
                    held += r.amount if r.status != "succeeded" else 0
                elif i.purpose != payments.Purpose.TOP_UP and not i.settled_at and r.status == "succeeded":
                    held -= r.amount
                elif i.settled_at and r.status == "pending":
                    held += r.amount  # taken back from the store, on its way out through the channel
            assert posted.get(escrow.id, 0) == held
            merchant = posted.get(chart.merchant_receivable(self.shop.store_id, city, "CNY").id, 0)
            revenue = posted.get(chart.platform_revenue(city, "CNY").id, 0)
            courier = posted.get(chart.courier_payable(self.shop.courier_id, city, "CNY").id, 0)
            settled = [i for i in intents if i.settled_at is not None]
            assert merchant == sum(i.settled_merchant - i.reversed_merchant for i in settled)
            assert revenue == sum(i.settled_commission - i.reversed_commission for i in settled)
            assert courier == sum(i.settled_courier for i in settled)

    return Payments


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_payments_state_machine(db: Database, settings: Settings) -> None:
    machine = _machine(db, settings)
    run = settings_profile(machine)
    run()


def settings_profile(machine: type[RuleBasedStateMachine]):  # type: ignore[no-untyped-def]
    from hypothesis.stateful import run_state_machine_as_test

    def run() -> None:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=int(__import__("os").environ.get("O2O_PROPERTY_EXAMPLES", "25")), stateful_step_count=30, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            ),
        )

    return run
