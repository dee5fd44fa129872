"""A Hypothesis state machine over deals and vouchers on a real database: whatever the sequence of purchases
(wallet now, or later, or never), payments, cancellations, redemptions in either store, undos, refunds, expiries,
settlements and time passing,

* a voucher is redeemed at most once (a redemption while redeemed always fails, an undone one counts no more, and
  a settled one can be neither undone nor refunded);
* money is conserved: the ledger balances, and the customers' wallets, the city's escrow, the store's receivable
  and the platform's revenue hold exactly what the vouchers say;
* a deal is never oversold, and its units sold are the vouchers holding one.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import uuid

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from o2o.config import Settings
from o2o.db import Database
from o2o.deals import service
from o2o.deals.models import Deal, Voucher
from o2o.errors import AppError
from o2o.wallet import chart, payments
from o2o.wallet import service as ledger
from o2o.wallet.ledger import check_invariants
from o2o.wallet.models import PaymentIntent
from tests.deals.conftest import DAY, T0, fund, make_world, publish

_worlds = itertools.count()
QUANTITY = 4
FUNDS = 12_000
PRICE = 3_990


def _machine(db: Database, cfg: Settings) -> type[RuleBasedStateMachine]:
    class Vouchers(RuleBasedStateMachine):
        @initialize()
        def open_shop(self) -> None:
            self.world = make_world(db, f"prop-deals-{next(_worlds)}-{uuid.uuid4().hex[:6]}", commission_bp=1_234)
            self.people = [self.world.customer_id, self.world.shop.other_id]
            for person in self.people:
                fund(db, cfg, self.world, FUNDS, person=person)
            self.deal_id = publish(db, self.world, quantity_total=QUANTITY, sale_ends_at=T0 + DAY,
                                   valid_until=T0 + 2 * DAY)
            self.vouchers: list[uuid.UUID] = []
            self.redeemed: dict[uuid.UUID, int] = {}  # the model: effective redemptions per voucher
            self.settled: set[uuid.UUID] = set()
            self.now = T0

        def _do(self, fn):  # type: ignore[no-untyped-def]
            try:
                with db.session() as s:
                    return fn(s)
            except AppError:
                return None  # a refusal: the invariants check that it changed nothing wrong

        def _voucher(self, i: int, status: str | None = None) -> Voucher:
            """The i-th voucher, among those in ``status`` when there are any (so that most attempts can work,
            while the rest still try every refusal)."""
            with db.sessionmaker() as s:
                query = select(Voucher).where(Voucher.city_id == self.world.city_id).order_by(Voucher.id)
                candidates = list(s.scalars(query.where(Voucher.status == status))) if status else []
                candidates = candidates or list(s.scalars(query))
            return candidates[i % len(candidates)]

        # ------------------------------------------------------------------ buying and paying

        @rule(who=st.integers(0, 1), wallet=st.booleans())
        def buy(self, who: int, wallet: bool) -> None:
            bought = self._do(lambda s: service.buy(s, self.deal_id, self.people[who], settings=cfg,
                                                    pay_with_wallet=wallet, now=self.now))
            if bought is not None:
                self.vouchers.append(bought.voucher.id)

        @precondition(lambda self: self.vouchers)
        @rule(i=st.integers(0, 100))
        def pay_later(self, i: int) -> None:
            v = self._voucher(i, "pending")
            if v.intent_id is not None:
                self._do(lambda s: payments.pay_from_wallet(s, v.intent_id, v.owner_person_id, now=self.now))

        @precondition(lambda self: self.vouchers)
        @rule(i=st.integers(0, 100))
        def cancel_payment(self, i: int) -> None:
            v = self._voucher(i)
            if v.intent_id is not None:
                self._do(lambda s: payments.cancel(s, v.intent_id, now=self.now))

        # ------------------------------------------------------------------ in the shop

        @precondition(lambda self: self.vouchers)
        @rule(i=st.integers(0, 100), branch=st.booleans(), by_qr=st.booleans(), aim=st.booleans())
        def redeem(self, i: int, branch: bool, by_qr: bool, aim: bool) -> None:
            v = self._voucher(i, "issued" if aim else None)
            store = self.world.branch_id if branch else self.world.store_id
            staff = self.world.branch_staff_id if branch else self.world.staff_id
            scan = v.code
            if by_qr and v.status == "issued":
                with db.sessionmaker() as s:
                    scan = service.my_voucher(s, cfg, v.id, v.owner_person_id).qr_payload or v.code
            was = self.redeemed.get(v.id, 0)
            done = self._do(lambda s: service.redeem(s, cfg, store, scan, staff, now=self.now))
            if done is not None:
                assert was == 0, "a voucher was redeemed twice"
                self.redeemed[v.id] = 1

        @precondition(lambda self: self.vouchers)
        @rule(i=st.integers(0, 100), branch=st.booleans(), aim=st.booleans())
        def undo(self, i: int, branch: bool, aim: bool) -> None:
            v = self._voucher(i, "redeemed" if aim else None)
            store = self.world.branch_id if branch else self.world.store_id
            staff = self.world.branch_staff_id if branch else self.world.staff_id
            done = self._do(lambda s: service.undo_redemption(s, cfg, store, v.id, staff, now=self.now))
            if done is not None:
                assert self.redeemed.get(v.id) == 1 and v.id not in self.settled
                self.redeemed[v.id] = 0

        @precondition(lambda self: self.vouchers)
        @rule(i=st.integers(0, 100), aim=st.booleans())
        def refund(self, i: int, aim: bool) -> None:
            v = self._voucher(i, "issued" if aim else None)
            done = self._do(lambda s: service.refund_voucher(s, cfg, v.id, v.owner_person_id, now=self.now))
            if done is not None:
                assert self.redeemed.get(v.id, 0) == 0, "a redeemed voucher was refunded"

        # ------------------------------------------------------------------ time and the jobs

        @rule(minutes=st.sampled_from([1, 6, 11, 60 * 13, 60 * 24]))
        def time_passes(self, minutes: int) -> None:
            self.now += dt.timedelta(minutes=minutes)

        @rule()
        def jobs_run(self) -> None:
            """The worker's jobs, as they would run now: unpaid intents close, expired vouchers are refunded,
            redemptions past their undo window are settled (once, and only those)."""
            self._do(lambda s: payments.expire_unpaid(s, now=self.now))
            self._do(lambda s: service.expire_vouchers(s, now=self.now))
            with db.sessionmaker() as s:
                due = set(s.scalars(select(Voucher.id).where(Voucher.city_id == self.world.city_id,
                                                              Voucher.status == "redeemed", Voucher.settled_at.is_(None))))
            self._do(lambda s: service.settle_redeemed(s, cfg, now=self.now))
            with db.sessionmaker() as s:
                now_settled = set(s.scalars(select(Voucher.id).where(Voucher.city_id == self.world.city_id,
                                                                      Voucher.settled_at.is_not(None))))
            assert self.settled <= now_settled and now_settled - self.settled <= due
            self.settled = now_settled

        # ------------------------------------------------------------------ what must always hold

        @invariant()
        def redeemed_at_most_once_and_money_where_the_vouchers_say(self) -> None:
            w = self.world
            with db.sessionmaker() as s:
                accounts = ledger.all_accounts(s)
                transfers, statuses = ledger.journal(s)
                assert check_invariants(accounts, transfers, statuses) == []
                vouchers = list(s.scalars(select(Voucher).where(Voucher.city_id == w.city_id)))
                intents = {i.id: i for i in s.scalars(select(PaymentIntent).where(
                    PaymentIntent.city_id == w.city_id, PaymentIntent.purpose == payments.Purpose.VOUCHER))}
                deal = s.get(Deal, self.deal_id)
                posted = {a.id: a.balance().posted for a in accounts}
            assert deal is not None
            holding = [v for v in vouchers if v.status in ("pending", "issued", "redeemed")]
            assert deal.quantity_sold == len(holding) <= QUANTITY
            for v in vouchers:
                intent = intents[v.intent_id]
                assert self.redeemed.get(v.id, 0) == (1 if v.status == "redeemed" else 0)
                assert (v.settled_at is not None) == (intent.settled_at is not None)
                if v.settled_at is not None:
                    assert v.status == "redeemed" and v.redeemed_at is not None
                    assert v.redeemed_at + dt.timedelta(minutes=10) <= v.settled_at
                assert (v.status in ("issued", "redeemed", "refunded")) == (intent.status == "succeeded")
                assert intent.refunded_amount == (v.price if v.status == "refunded" else 0)
                if v.status in ("pending", "canceled"):
                    assert v.limit_slot is None or v.status == "pending"
            paid = [v for v in vouchers if v.status in ("issued", "redeemed")]
            for person in self.people:
                spent = sum(v.price for v in paid if v.owner_person_id == person)
                assert posted.get(chart.customer_wallet(person, "CNY").id, 0) == FUNDS - spent
            escrow = posted.get(chart.sales_escrow(w.city_id, "CNY").id, 0)
            assert escrow == sum(v.price for v in paid if v.settled_at is None)
            merchant = posted.get(chart.merchant_receivable(w.store_id, w.city_id, "CNY").id, 0)
            revenue = posted.get(chart.platform_revenue(w.city_id, "CNY").id, 0)
            settled = [v for v in paid if v.settled_at is not None]
            assert merchant + revenue == sum(v.price for v in settled)
            assert revenue == sum((v.price * 1_234 + 5_000) // 10_000 for v in settled)

    return Vouchers


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_vouchers_state_machine(db: Database, settings: Settings) -> None:
    run_state_machine_as_test(
        _machine(db, settings),
        settings=settings_for_ci(),
    )


def settings_for_ci() -> hypothesis_settings:
    return hypothesis_settings(
        max_examples=int(os.environ.get("O2O_PROPERTY_EXAMPLES", "10")),
        stateful_step_count=25,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
