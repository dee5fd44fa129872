"""Payments on a real database (SQLite and PostgreSQL): intents, channel outcomes, refunds, settlement.

Channel outcomes are fed to ``apply_channel_trade`` as a verified callback or a query would deliver them; the
channels' own signing and delivery are tested in ``tests/wallet/channels``.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select

from o2o.config import Settings
from o2o.db import Database
from o2o.errors import AppError
from o2o.kit.time import frozen_clock
from o2o.wallet import chart, payments
from o2o.wallet import service as ledger
from o2o.wallet.channels import base as ch
from o2o.wallet.intents import IntentStatus
from o2o.wallet.models import ChannelTrade, PaymentIntent, Refund, WalletTransfer
from tests.wallet.conftest import Shop, assert_ledger_sound

T0 = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)  # noon in Beijing
ALIPAY = ch.ChannelName.ALIPAY_SIM


@pytest.fixture
def cfg(settings: Settings) -> Settings:
    return settings


def paid(trade_no: str, amount: int, channel: ch.ChannelName = ALIPAY, at: dt.datetime = T0) -> ch.ChannelTrade:
    return ch.ChannelTrade(channel, trade_no, ch.TradeStatus.PAID, amount, f"CH{trade_no}", at, "TRADE_SUCCESS")


def closed(trade_no: str, channel: ch.ChannelName = ALIPAY) -> ch.ChannelTrade:
    return ch.ChannelTrade(channel, trade_no, ch.TradeStatus.CLOSED, 0, None, None, "TRADE_CLOSED")


def wallet_of(db: Database, person_id) -> ledger.Balance:  # type: ignore[no-untyped-def]
    with db.sessionmaker() as s:
        return payments.wallet_balance(s, person_id, "CNY")


def balance(db: Database, spec: chart.AccountSpec) -> int:
    with db.sessionmaker() as s:
        found = ledger.balances(s, [spec.id])
    return found[spec.id].posted if spec.id in found else 0


def transfer_count(db: Database) -> int:
    with db.sessionmaker() as s:
        return s.scalar(select(func.count()).select_from(WalletTransfer)) or 0


def top_up(db: Database, cfg: Settings, shop: Shop, amount: int, person=None) -> PaymentIntent:  # type: ignore[no-untyped-def]
    person = person or shop.customer_id
    with db.session() as s:
        intent = payments.create_top_up(s, payer_id=person, city_id=shop.city_id, currency="CNY", amount=amount,
                                        settings=cfg, now=T0)
        intent = payments.start_channel(s, intent.id, person, ALIPAY.value, now=T0)
    with db.session() as s:
        assert payments.apply_channel_trade(s, paid(intent.trade_no, amount), now=T0) == "paid"
    return intent


def store_payment(db: Database, cfg: Settings, shop: Shop, amount: int) -> PaymentIntent:
    with db.session() as s:
        return payments.create_store_payment(s, payer_id=shop.customer_id, store_id=shop.store_id, amount=amount,
                                             note="table 4", settings=cfg, now=T0)


def get(db: Database, intent_id) -> PaymentIntent:  # type: ignore[no-untyped-def]
    with db.sessionmaker() as s:
        return payments.get_intent(s, intent_id)


# ---------------------------------------------------------------------------------------------------- top-up, wallet pay


def test_top_up_through_a_channel_credits_the_wallet_once(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = top_up(db, cfg, shop, 10_000)
    assert get(db, intent.id).status == IntentStatus.SUCCEEDED
    assert wallet_of(db, shop.customer_id).available == 10_000
    before = transfer_count(db)
    for _ in range(3):  # duplicated callbacks and a late query say the same thing
        with db.session() as s:
            assert payments.apply_channel_trade(s, paid(intent.trade_no, 10_000), now=T0) == "no_change"
    assert transfer_count(db) == before
    assert wallet_of(db, shop.customer_id).available == 10_000
    assert balance(db, chart.channel_clearing(ALIPAY.value, shop.city_id, "CNY")) == 10_000  # debit-normal
    assert_ledger_sound(db)


def test_wallet_payment_needs_funds_and_changes_nothing_without_them(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = store_payment(db, cfg, shop, 2_500)
    with db.session() as s, pytest.raises(AppError) as refused:
        payments.pay_from_wallet(s, intent.id, shop.customer_id, now=T0)
    assert refused.value.code == "insufficient_funds" and refused.value.status == 402
    assert get(db, intent.id).status == IntentStatus.REQUIRES_PAYMENT
    assert transfer_count(db) == 0

    top_up(db, cfg, shop, 2_000)
    with db.session() as s, pytest.raises(AppError):
        payments.pay_from_wallet(s, intent.id, shop.customer_id, now=T0)
    assert wallet_of(db, shop.customer_id).available == 2_000
    top_up(db, cfg, shop, 1_000)
    with db.session() as s:
        done = payments.pay_from_wallet(s, intent.id, shop.customer_id, now=T0)
    assert done.status == IntentStatus.SUCCEEDED and done.method == "wallet"
    assert wallet_of(db, shop.customer_id).available == 500
    assert balance(db, chart.sales_escrow(shop.city_id, "CNY")) == 2_500
    with db.session() as s:  # a retry answers the same, moving nothing
        assert payments.pay_from_wallet(s, intent.id, shop.customer_id, now=T0).status == IntentStatus.SUCCEEDED
    assert wallet_of(db, shop.customer_id).available == 500
    assert_ledger_sound(db)


def test_someone_elses_intent_is_not_found(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = store_payment(db, cfg, shop, 100)
    with db.session() as s, pytest.raises(AppError) as refused:
        payments.pay_from_wallet(s, intent.id, shop.other_id, now=T0)
    assert refused.value.code == "payment_intent_not_found"


def test_bad_amounts_are_refused(db: Database, cfg: Settings, shop: Shop) -> None:
    for amount in (0, -5, payments.MAX_AMOUNT + 1):
        with db.session() as s, pytest.raises(AppError) as refused:
            payments.create_store_payment(s, payer_id=shop.customer_id, store_id=shop.store_id, amount=amount,
                                          note="", settings=cfg, now=T0)
        assert refused.value.code == "invalid_amount"
    with db.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(PaymentIntent)) == 0


# ---------------------------------------------------------------------------------------------------- channel outcomes


def test_a_paid_callback_with_the_wrong_amount_fails_the_intent_and_sends_the_money_back(
    db: Database, cfg: Settings, shop: Shop
) -> None:
    intent = store_payment(db, cfg, shop, 3_000)
    with db.session() as s:
        intent = payments.start_channel(s, intent.id, shop.customer_id, ALIPAY.value, now=T0)
    with db.session() as s:
        assert payments.apply_channel_trade(s, paid(intent.trade_no, 1), now=T0) == "returned"
    after = get(db, intent.id)
    assert after.status == IntentStatus.FAILED and after.failure_code == "amount_mismatch"
    with db.sessionmaker() as s:
        (refund,) = s.scalars(select(Refund)).all()
    assert (refund.amount, refund.destination, refund.status, refund.reason) == (1, "channel", "pending",
                                                                                  "unaccepted_payment")
    escrow = chart.sales_escrow(shop.city_id, "CNY")
    with db.sessionmaker() as s:
        b = ledger.balances(s, [escrow.id])[escrow.id]
    assert (b.posted, b.available) == (1, 0)  # in, and reserved to go back out
    assert_ledger_sound(db)


def test_closed_trade_lets_the_customer_try_again_and_a_late_payment_on_it_goes_back(
    db: Database, cfg: Settings, shop: Shop
) -> None:
    intent = store_payment(db, cfg, shop, 800)
    with db.session() as s:
        first = payments.start_channel(s, intent.id, shop.customer_id, ALIPAY.value, now=T0).trade_no
    with db.session() as s:
        assert payments.apply_channel_trade(s, closed(first), now=T0) == "closed"
    again = get(db, intent.id)
    assert again.status == IntentStatus.REQUIRES_PAYMENT and again.trade_no is None
    with db.session() as s:
        second = payments.start_channel(s, intent.id, shop.customer_id, "wechatpay-sim", now=T0).trade_no
    assert second != first
    with db.session() as s:  # out of order: the first trade's payment shows up after all
        assert payments.apply_channel_trade(s, paid(first, 800), now=T0) == "returned"
    with db.session() as s:
        assert payments.apply_channel_trade(s, paid(second, 800, ch.ChannelName.WECHATPAY_SIM), now=T0) == "paid"
    assert get(db, intent.id).status == IntentStatus.SUCCEEDED
    assert balance(db, chart.sales_escrow(shop.city_id, "CNY")) == 1_600  # 800 kept, 800 on its way back
    with db.session() as s:  # a closed callback after the payment changes nothing
        assert payments.apply_channel_trade(s, closed(second, ch.ChannelName.WECHATPAY_SIM), now=T0) == "no_change"
    assert get(db, intent.id).status == IntentStatus.SUCCEEDED
    assert_ledger_sound(db)


def test_cancel_while_processing_waits_for_the_channel(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = store_payment(db, cfg, shop, 500)
    with db.session() as s:
        trade_no = payments.start_channel(s, intent.id, shop.customer_id, ALIPAY.value, now=T0).trade_no
    with db.session() as s:
        asked = payments.cancel(s, intent.id, payer_id=shop.customer_id, now=T0)
    assert asked.status == IntentStatus.PROCESSING and asked.close_requested
    with db.session() as s:
        assert payments.apply_channel_trade(s, closed(trade_no), now=T0) == "closed"
    final = get(db, intent.id)
    assert final.status == IntentStatus.CANCELED and final.cancellation_reason == "requested"


def test_unknown_trade_is_refused(db: Database, shop: Shop) -> None:
    with db.session() as s, pytest.raises(payments.UnknownTrade):
        payments.apply_channel_trade(s, paid("nosuchtrade01", 100), now=T0)


def test_unpaid_intents_expire(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = store_payment(db, cfg, shop, 100)
    later = T0 + dt.timedelta(minutes=cfg.payment_timeout_minutes)
    with db.session() as s:
        assert payments.expire_unpaid(s, now=later - dt.timedelta(seconds=1)) == 0
    with db.session() as s:
        assert payments.expire_unpaid(s, now=later) == 1
    final = get(db, intent.id)
    assert final.status == IntentStatus.CANCELED and final.cancellation_reason == "expired"
    with db.session() as s, pytest.raises(AppError) as refused:
        payments.pay_from_wallet(s, intent.id, shop.customer_id, now=later)
    assert refused.value.code == "payment_intent_not_payable"


# ---------------------------------------------------------------------------------------------------- refunds


def paid_from_wallet(db: Database, cfg: Settings, shop: Shop, amount: int) -> PaymentIntent:
    top_up(db, cfg, shop, amount)
    intent = store_payment(db, cfg, shop, amount)
    with db.session() as s:
        return payments.pay_from_wallet(s, intent.id, shop.customer_id, now=T0)


def test_refunds_to_the_wallet_are_idempotent_and_capped(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = paid_from_wallet(db, cfg, shop, 1_000)
    with db.session() as s:
        first = payments.refund(s, intent.id, refund_no="r1", amount=300, now=T0)
    with db.session() as s:
        again = payments.refund(s, intent.id, refund_no="r1", amount=300, now=T0)
    assert again.id == first.id and first.status == "succeeded"
    assert wallet_of(db, shop.customer_id).available == 300
    with db.session() as s, pytest.raises(AppError) as reused:
        payments.refund(s, intent.id, refund_no="r1", amount=200, now=T0)
    assert reused.value.code == "refund_no_reused"
    with db.session() as s, pytest.raises(AppError) as too_much:
        payments.refund(s, intent.id, refund_no="r2", amount=701, now=T0)
    assert too_much.value.code == "refund_exceeds_payment"
    with db.session() as s:
        payments.refund(s, intent.id, refund_no="r2", amount=700, now=T0)
    assert wallet_of(db, shop.customer_id).available == 1_000
    assert get(db, intent.id).refunded_amount == 1_000
    assert balance(db, chart.sales_escrow(shop.city_id, "CNY")) == 0
    assert_ledger_sound(db)


def test_a_channel_refund_reserves_then_posts_or_voids(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = store_payment(db, cfg, shop, 2_000)
    with db.session() as s:
        trade_no = payments.start_channel(s, intent.id, shop.customer_id, ALIPAY.value, now=T0).trade_no
    with db.session() as s:
        payments.apply_channel_trade(s, paid(trade_no, 2_000), now=T0)
    with db.session() as s:
        ok = payments.refund(s, intent.id, refund_no="a", amount=500, now=T0)
        bad = payments.refund(s, intent.id, refund_no="b", amount=700, now=T0)
    escrow = chart.sales_escrow(shop.city_id, "CNY")
    with db.sessionmaker() as s:
        b = ledger.balances(s, [escrow.id])[escrow.id]
    assert (b.posted, b.available) == (2_000, 800)
    with db.session() as s:
        assert payments._finish_refund(s, ok.id, succeeded=True, now=T0) == "succeeded"
        assert payments._finish_refund(s, bad.id, succeeded=False, failure="REFUND_AMT_RESTRICTION", now=T0) == "failed"
    with db.session() as s:  # finishing twice changes nothing
        assert payments._finish_refund(s, ok.id, succeeded=True, now=T0) == "no_change"
    with db.sessionmaker() as s:
        b = ledger.balances(s, [escrow.id])[escrow.id]
    assert (b.posted, b.available) == (1_500, 1_500)
    assert get(db, intent.id).refunded_amount == 500  # the failed one gave its room back
    assert_ledger_sound(db)


def test_nothing_but_a_paid_intent_refunds(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = store_payment(db, cfg, shop, 100)
    with db.session() as s, pytest.raises(AppError) as refused:
        payments.refund(s, intent.id, refund_no="x", amount=100, now=T0)
    assert refused.value.code == "payment_not_refundable"
    with db.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 0


# ---------------------------------------------------------------------------------------------------- settlement


def test_settlement_splits_the_sale_in_one_batch_once(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = paid_from_wallet(db, cfg, shop, 10_000)
    with db.session() as s:
        payments.refund(s, intent.id, refund_no="part", amount=1_000, now=T0)
    with db.session() as s:
        done = payments.settle(s, intent.id, courier_person_id=shop.courier_id, courier_fee=600, now=T0)
    # 9,000 left: courier 600, commission 15% of 8,400 = 1,260, merchant 7,140
    assert (done.settled_merchant, done.settled_commission, done.settled_courier) == (7_140, 1_260, 600)
    assert balance(db, chart.merchant_receivable(shop.store_id, shop.city_id, "CNY")) == 7_140
    assert balance(db, chart.platform_revenue(shop.city_id, "CNY")) == 1_260
    assert balance(db, chart.courier_payable(shop.courier_id, shop.city_id, "CNY")) == 600
    assert balance(db, chart.sales_escrow(shop.city_id, "CNY")) == 0
    before = transfer_count(db)
    with db.session() as s:
        payments.settle(s, intent.id, courier_person_id=shop.courier_id, courier_fee=600, now=T0)
    assert transfer_count(db) == before
    assert_ledger_sound(db)


def test_a_settled_sale_refunds_from_the_store_and_the_platform_in_proportion(
    db: Database, cfg: Settings, shop: Shop
) -> None:
    intent = paid_from_wallet(db, cfg, shop, 10_000)
    with db.session() as s:
        payments.settle(s, intent.id, courier_person_id=shop.courier_id, courier_fee=1_000, now=T0)
    # 9,000 distributed: commission 15% = 1,350, merchant 7,650; the courier keeps 1,000.
    receivable = chart.merchant_receivable(shop.store_id, shop.city_id, "CNY")
    revenue = chart.platform_revenue(shop.city_id, "CNY")
    with db.session() as s:
        first = payments.refund(s, intent.id, refund_no="late-1", amount=333, now=T0)
    assert (first.reversed_merchant, first.reversed_commission) == (283, 50)  # 333 * 0.15 = 49.95 -> 50
    with db.session() as s:
        payments.refund(s, intent.id, refund_no="late-2", amount=8_667, now=T0)
    done = get(db, intent.id)
    assert (done.reversed_merchant, done.reversed_commission) == (7_650, 1_350)  # exactly all of it, no drift
    assert balance(db, receivable) == 0 and balance(db, revenue) == 0
    assert balance(db, chart.courier_payable(shop.courier_id, shop.city_id, "CNY")) == 1_000
    assert wallet_of(db, shop.customer_id).available == 9_000
    with db.session() as s, pytest.raises(AppError) as refused:
        payments.refund(s, intent.id, refund_no="late-3", amount=1, now=T0)
    assert refused.value.code == "refund_exceeds_payment"
    with db.sessionmaker() as s:
        day = payments.statement(s, day=dt.date(2026, 11, 26), timezone="Asia/Shanghai", currency="CNY",
                                 store_id=shop.store_id, city_id=shop.city_id)
    assert day.total_net == 0 and len(day.lines) == 3  # the sale and its two refunds
    assert_ledger_sound(db)


def test_a_settled_sale_cannot_refund_more_than_the_store_still_holds(
    db: Database, cfg: Settings, shop: Shop
) -> None:
    intent = paid_from_wallet(db, cfg, shop, 1_000)
    with db.session() as s:
        payments.settle(s, intent.id, now=T0)
    receivable = chart.merchant_receivable(shop.store_id, shop.city_id, "CNY")
    with db.session() as s:  # the store's money went elsewhere (a payout, in time)
        payments._must(payments._transfer(s, [payments.Transfer(
            id=uuid.uuid4(), debit_account_id=receivable.id,
            credit_account_id=chart.platform_revenue(shop.city_id, "CNY").id, amount=850, currency="CNY", code=99,
        )], T0), "a test payout")
    with db.session() as s, pytest.raises(AppError) as refused:
        payments.refund(s, intent.id, refund_no="r", amount=500, now=T0)
    assert refused.value.code == "merchant_balance_insufficient"
    after = get(db, intent.id)
    assert (after.refunded_amount, after.reversed_merchant) == (0, 0)
    with db.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(Refund)) == 0
    assert_ledger_sound(db)


def test_settlement_waits_for_channel_refunds(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = store_payment(db, cfg, shop, 900)
    with db.session() as s:
        trade_no = payments.start_channel(s, intent.id, shop.customer_id, ALIPAY.value, now=T0).trade_no
    with db.session() as s:
        payments.apply_channel_trade(s, paid(trade_no, 900), now=T0)
    with db.session() as s:
        payments.refund(s, intent.id, refund_no="a", amount=100, now=T0)
    with db.session() as s, pytest.raises(AppError) as refused:
        payments.settle(s, intent.id, now=T0)
    assert refused.value.code == "refund_in_progress"
    assert get(db, intent.id).settled_at is None


def test_store_payments_settle_the_next_day_and_show_on_the_statement(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = paid_from_wallet(db, cfg, shop, 4_000)
    midnight_before = dt.datetime(2026, 11, 26, 16, 0, tzinfo=dt.UTC)  # 00:00 on the 27th in Beijing
    with db.session() as s:
        assert payments.settle_due_store_payments(s, before=T0, now=T0) == 0  # paid at T0, not before it
    settle_at = midnight_before + dt.timedelta(minutes=5)
    with db.session() as s:
        assert payments.settle_due_store_payments(s, before=midnight_before, now=settle_at) == 1
    with db.sessionmaker() as s:
        statement = payments.statement(s, day=dt.date(2026, 11, 27), timezone="Asia/Shanghai", currency="CNY",
                                       store_id=shop.store_id, city_id=shop.city_id)
    assert [line.intent_id for line in statement.lines] == [intent.id]
    assert (statement.opening_balance, statement.closing_balance) == (0, 3_400)
    assert (statement.total_gross, statement.total_commission, statement.total_net) == (4_000, 600, 3_400)
    with db.sessionmaker() as s:
        empty = payments.statement(s, day=dt.date(2026, 11, 26), timezone="Asia/Shanghai", currency="CNY",
                                   store_id=shop.store_id, city_id=shop.city_id)
    assert empty.lines == [] and empty.closing_balance == 0


def test_wallet_history_lists_movements_newest_first(db: Database, cfg: Settings, shop: Shop) -> None:
    with frozen_clock(T0):
        intent = paid_from_wallet(db, cfg, shop, 1_200)
    with db.sessionmaker() as s:
        lines = payments.wallet_history(s, shop.customer_id, "CNY")
    assert sorted(line.amount for line in lines) == [-1_200, 1_200]
    assert {line.description for line in lines} == {"Wallet top-up", "Noodle House · table 4"}
    assert any(line.intent_id == intent.id for line in lines)


def test_channel_trades_are_recorded_per_attempt(db: Database, cfg: Settings, shop: Shop) -> None:
    intent = store_payment(db, cfg, shop, 100)
    with db.session() as s:
        payments.start_channel(s, intent.id, shop.customer_id, ALIPAY.value, now=T0)
    with db.session() as s:  # confirming again with the same channel opens nothing new
        payments.start_channel(s, intent.id, shop.customer_id, ALIPAY.value, now=T0)
    with db.sessionmaker() as s:
        assert s.scalar(select(func.count()).select_from(ChannelTrade)) == 1
