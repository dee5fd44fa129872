"""The simulated providers' rules on a real database: idempotent trades, pay, close, expiry, refunds never above
the amount, bills per China-time day, and the seeded fault plan."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import func, select

from o2o.kit.time import frozen_clock
from o2o.wallet.channels.sim import service
from o2o.wallet.channels.sim.models import SimNotification, SimRefund, SimTrade
from o2o.wallet.channels.sim.service import ALIPAY, WECHAT, SimError
from tests.wallet.channels.conftest import with_rates

T0 = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)  # 12:00 in China


def new_trade(session, channel=ALIPAY, out_trade_no="PAY-000001", amount=1000, now=T0, minutes=15) -> SimTrade:
    return service.create_or_get_trade(
        session,
        channel=channel,
        merchant_id="M1",
        out_trade_no=out_trade_no,
        amount_fen=amount,
        subject="Noodles",
        notify_url="http://127.0.0.1:8000/notify",
        return_url="http://127.0.0.1:8000/back",
        expires_at=now + dt.timedelta(minutes=minutes),
        now=now,
    )


def count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("channel", [ALIPAY, WECHAT])
def test_create_is_idempotent_by_out_trade_no(session, channel):
    first = new_trade(session, channel)
    again = new_trade(session, channel)
    assert again.id == first.id and count(session, SimTrade) == 1
    with pytest.raises(SimError) as refused:
        new_trade(session, channel, amount=1001)
    assert refused.value.reason == "amount_mismatch"
    assert count(session, SimTrade) == 1 and first.amount_fen == 1000
    # The same number at the other provider is another trade.
    other = new_trade(session, ALIPAY if channel == WECHAT else WECHAT)
    assert other.id != first.id and count(session, SimTrade) == 2


def test_pay_once_queues_one_genuine_callback(session, settings):
    trade = new_trade(session)
    service.pay(session, settings, trade, now=T0 + dt.timedelta(minutes=1))
    service.pay(session, settings, trade, now=T0 + dt.timedelta(minutes=2))  # a double click
    assert trade.status == "paid" and trade.paid_at == T0 + dt.timedelta(minutes=1)
    rows = session.scalars(select(SimNotification)).all()
    assert [(n.variant, n.event, n.deliver_at) for n in rows] == [("genuine", "TRADE_SUCCESS", T0 + dt.timedelta(minutes=1))]


def test_close_refused_when_paid(session, settings):
    trade = new_trade(session)
    service.pay(session, settings, trade, now=T0)
    with pytest.raises(SimError) as refused:
        service.close(session, ALIPAY, "M1", trade.out_trade_no, now=T0)
    assert refused.value.reason == "paid"
    session.refresh(trade)
    assert trade.status == "paid" and trade.closed_at is None


def test_a_closed_trade_can_never_be_paid(session, settings):
    trade = new_trade(session)
    closed = service.close(session, ALIPAY, "M1", trade.out_trade_no, now=T0)
    assert closed is not None and closed.status == "closed" and closed.closed_reason == "closed"
    assert service.close(session, ALIPAY, "M1", trade.out_trade_no, now=T0).status == "closed"  # idempotent
    with pytest.raises(SimError) as refused:
        service.pay(session, settings, trade, now=T0)
    assert refused.value.reason == "closed"
    assert trade.status == "closed" and trade.paid_at is None and count(session, SimNotification) == 0


def test_closing_an_unknown_number_forbids_it_for_ever(session):
    assert service.close(session, WECHAT, "M1", "PAY-NEVER01", now=T0) is None
    assert service.visible_trade(session, WECHAT, "M1", "PAY-NEVER01") is None
    with pytest.raises(SimError) as refused:
        new_trade(session, WECHAT, "PAY-NEVER01")
    assert refused.value.reason == "closed"
    assert service.close(session, WECHAT, "M1", "PAY-NEVER01", now=T0) is None


def test_an_expired_trade_cannot_be_paid(session, settings):
    trade = new_trade(session, minutes=15)
    with pytest.raises(SimError) as refused:
        service.pay(session, settings, trade, now=T0 + dt.timedelta(minutes=15))
    assert refused.value.reason == "expired"
    assert trade.status == "closed" and trade.closed_reason == "expired" and count(session, SimNotification) == 0


def test_expire_due_closes_only_what_is_due(session):
    due = new_trade(session, out_trade_no="PAY-000001", minutes=5)
    later = new_trade(session, out_trade_no="PAY-000002", minutes=30)
    assert service.expire_due(session, now=T0 + dt.timedelta(minutes=10)) == 1
    session.refresh(due)
    session.refresh(later)
    assert (due.status, due.closed_reason, later.status) == ("closed", "expired", "waiting")
    assert service.expire_due(session, now=T0 + dt.timedelta(minutes=10)) == 0


def test_cancel_at_the_cashier_closes(session, settings):
    trade = new_trade(session)
    service.cancel(session, trade, now=T0)
    assert trade.status == "closed" and trade.closed_reason == "cancelled"
    paid = new_trade(session, out_trade_no="PAY-000002")
    service.pay(session, settings, paid, now=T0)
    with pytest.raises(SimError):
        service.cancel(session, paid, now=T0)
    assert paid.status == "paid"


def refund(session, settings, out_refund_no, fen, channel=ALIPAY, **kw):
    return service.refund(
        session, settings, channel=channel, merchant_id="M1", out_trade_no="PAY-000001", out_refund_no=out_refund_no,
        refund_fen=fen, now=T0, **kw,
    )


@pytest.mark.parametrize("channel", [ALIPAY, WECHAT])
def test_refunds_never_exceed_the_amount(session, settings, channel):
    trade = new_trade(session, channel)
    service.pay(session, settings, trade, now=T0)
    first, created = refund(session, settings, "RF-000001", 300, channel)
    assert created and first.refund_fen == 300
    _, created = refund(session, settings, "RF-000002", 700, channel)
    assert created
    with pytest.raises(SimError) as refused:
        refund(session, settings, "RF-000003", 1, channel)
    assert refused.value.reason == "refund_exceeds"
    session.refresh(trade)
    assert trade.refunded_fen == 1000 and count(session, SimRefund) == 2


def test_refund_is_idempotent_by_out_refund_no(session, settings):
    trade = new_trade(session, WECHAT)
    service.pay(session, settings, trade, now=T0)
    first, created = refund(session, settings, "RF-000001", 400, WECHAT)
    again, created_again = refund(session, settings, "RF-000001", 400, WECHAT)
    assert created and not created_again and again.id == first.id
    with pytest.raises(SimError) as refused:
        refund(session, settings, "RF-000001", 500, WECHAT)
    assert refused.value.reason == "refund_conflict"
    with pytest.raises(SimError) as mismatch:
        refund(session, settings, "RF-000002", 100, WECHAT, total_fen=999)
    assert mismatch.value.reason == "total_mismatch"
    session.refresh(trade)
    assert trade.refunded_fen == 400 and count(session, SimRefund) == 1


def test_refund_of_unpaid_or_unknown_trades_is_refused(session, settings):
    with pytest.raises(SimError) as unknown:
        refund(session, settings, "RF-000001", 100)
    assert unknown.value.reason == "not_found"
    new_trade(session)
    with pytest.raises(SimError) as unpaid:
        refund(session, settings, "RF-000001", 100)
    assert unpaid.value.reason == "not_paid"
    assert count(session, SimRefund) == 0


def test_alipay_says_trade_closed_after_a_full_refund(session, settings):
    trade = new_trade(session)
    service.pay(session, settings, trade, now=T0)
    refund(session, settings, "RF-000001", 600)
    assert [n.event for n in session.scalars(select(SimNotification))] == ["TRADE_SUCCESS"]
    assert service.alipay_status(trade) == "TRADE_SUCCESS"
    refund(session, settings, "RF-000002", 400)
    session.refresh(trade)
    events = [n.event for n in session.scalars(select(SimNotification).order_by(SimNotification.id))]
    assert events == ["TRADE_SUCCESS", "TRADE_CLOSED"]
    assert service.alipay_status(trade) == "TRADE_CLOSED" and trade.status == "paid"


def test_concurrent_refunds_never_exceed_the_amount(db, settings):
    """Two refunds of 600 of a 1000 trade at once, on separate connections: exactly one succeeds."""
    with db.session() as s:
        trade = new_trade(s)
        service.pay(s, settings, trade, now=T0)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def attempt(n: int) -> None:
        barrier.wait()
        try:
            with db.session() as s:
                refund(s, settings, f"RF-00000{n}", 600)
            outcomes.append("ok")
        except SimError as exc:
            outcomes.append(exc.reason)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok", "refund_exceeds"]
    with db.session() as s:
        assert s.scalar(select(SimTrade.refunded_fen)) == 600 and count(s, SimRefund) == 1


def test_bill_covers_the_china_time_day(session, settings):
    late = new_trade(session, out_trade_no="PAY-000001", now=dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC), minutes=120)
    service.pay(session, settings, late, now=dt.datetime(2026, 11, 26, 15, 59, 59, tzinfo=dt.UTC))  # 23:59:59 CST
    early = new_trade(session, out_trade_no="PAY-000002", now=dt.datetime(2026, 11, 26, 15, 0, tzinfo=dt.UTC), minutes=120)
    service.pay(session, settings, early, now=dt.datetime(2026, 11, 26, 16, 0, 0, tzinfo=dt.UTC))  # 00:00 CST, 27th
    service.refund(
        session, settings, channel=ALIPAY, merchant_id="M1", out_trade_no="PAY-000001", out_refund_no="RF-000001",
        refund_fen=250, now=dt.datetime(2026, 11, 26, 17, 0, tzinfo=dt.UTC),
    )
    after = dt.datetime(2026, 11, 28, 0, 0, tzinfo=dt.UTC)
    day26 = service.bill(session, ALIPAY, "M1", dt.date(2026, 11, 26), now=after)
    day27 = service.bill(session, ALIPAY, "M1", dt.date(2026, 11, 27), now=after)
    assert [(e.kind, e.trade.out_trade_no) for e in day26] == [("payment", "PAY-000001")]
    assert [(e.kind, e.trade.out_trade_no, e.refund and e.refund.refund_fen) for e in day27] == [
        ("payment", "PAY-000002", None),
        ("refund", "PAY-000001", 250),
    ]
    assert service.bill(session, WECHAT, "M1", dt.date(2026, 11, 26), now=after) == []
    with pytest.raises(SimError) as early_bill:
        service.bill(session, ALIPAY, "M1", dt.date(2026, 11, 27), now=dt.datetime(2026, 11, 27, 15, 59, tzinfo=dt.UTC))
    assert early_bill.value.reason == "bill_not_ready"


def test_the_fault_plan_is_deterministic_per_seed_and_trade(settings):
    plan = service.fault_plan(with_rates(settings, duplicate=0.5, tamper=0.5, delay=5), ALIPAY, "PAY-1", "TRADE_SUCCESS")
    same = service.fault_plan(with_rates(settings, duplicate=0.5, tamper=0.5, delay=5), ALIPAY, "PAY-1", "TRADE_SUCCESS")
    assert plan == same
    assert 0 <= plan.genuine_delay < 5
    never = service.fault_plan(with_rates(settings, delay=5), ALIPAY, "PAY-1", "TRADE_SUCCESS")
    always = service.fault_plan(with_rates(settings, duplicate=1, tamper=1, delay=5), ALIPAY, "PAY-1", "TRADE_SUCCESS")
    # The same draws whatever the rates: only whether a copy is sent changes.
    assert never.genuine_delay == always.genuine_delay == plan.genuine_delay
    assert never.duplicate_delay is None and never.tamper is None
    assert always.duplicate_delay is not None and always.tamper is not None and always.tamper[0] in ("amount", "signature")
    plans = {
        service.fault_plan(with_rates(settings, delay=5, seed=seed), ALIPAY, "PAY-1", "TRADE_SUCCESS").genuine_delay
        for seed in range(20)
    }
    assert len(plans) == 20  # the seed drives it
    faults = {
        service.fault_plan(with_rates(settings, tamper=1, seed=seed), WECHAT, f"PAY-{seed}", "TRANSACTION.SUCCESS").tamper[0]
        for seed in range(60)
    }
    assert faults == {"amount", "signature", "ciphertext"}


def test_rates_at_one_queue_three_copies_with_frozen_clock(session, settings):
    noisy = with_rates(settings, duplicate=1, tamper=1, delay=3)
    with frozen_clock(T0):
        trade = new_trade(session)
        service.pay(session, noisy, trade)
    rows = session.scalars(select(SimNotification).order_by(SimNotification.deliver_at)).all()
    assert sorted(n.variant for n in rows) == ["duplicate", "genuine", "tampered"]
    assert len({n.notify_id for n in rows}) == 1
    assert all(T0 <= n.deliver_at < T0 + dt.timedelta(seconds=6) for n in rows)
    genuine = next(n for n in rows if n.variant == "genuine")
    duplicate = next(n for n in rows if n.variant == "duplicate")
    assert duplicate.deliver_at >= genuine.deliver_at
