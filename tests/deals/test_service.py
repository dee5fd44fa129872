"""Deals and vouchers on a real database (SQLite and PostgreSQL): publishing, buying through the wallet, redeeming
once with an undo window, refunds, expiry and settlement, and refusals that change nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from o2o.config import Settings
from o2o.db import Database
from o2o.deals import service, signing
from o2o.deals.rules import UsageRules, weekday_mask
from o2o.errors import AppError
from o2o.wallet import chart, payments
from o2o.wallet.channels import base as ch
from o2o.wallet.intents import IntentStatus
from tests.deals.conftest import (
    DAY,
    T0,
    World,
    available,
    buy,
    code_of,
    deal,
    fund,
    publish,
    snapshot,
    terms,
    voucher,
)
from tests.wallet.conftest import assert_ledger_sound

MINUTE = dt.timedelta(minutes=1)


def refused(db: Database, code: str, fn) -> AppError:  # type: ignore[no-untyped-def]
    """``fn(session)`` fails with ``code`` and leaves everything as it was."""
    before = snapshot(db)
    with db.session() as s, pytest.raises(AppError) as caught:
        fn(s)
    assert caught.value.code == code, caught.value.detail
    assert snapshot(db) == before
    return caught.value


# ---------------------------------------------------------------------------------------------------- deals


def test_a_deal_is_drafted_published_and_withdrawn(db: Database, world: World) -> None:
    with db.session() as s:
        view = service.create_deal(s, store_id=world.store_id, terms=terms(title="  Dumpling   lunch "),
                                   other_store_ids=[world.branch_id, world.store_id], now=T0)
    assert view.deal.status == "draft" and view.deal.title == "Dumpling lunch"
    assert sorted(view.store_ids) == sorted([world.store_id, world.branch_id])
    with db.sessionmaker() as s:
        assert service.list_deals(s, city_id=world.city_id, now=T0)[0] == []  # a draft is not on sale
        with pytest.raises(AppError) as hidden:
            service.get_deal(s, view.deal.id)
        assert hidden.value.code == "deal_not_found"
    with db.session() as s:
        published = service.publish_deal(s, world.store_id, view.deal.id, now=T0)
        assert published.deal.status == "published" and published.deal.published_at == T0
        assert service.publish_deal(s, world.store_id, view.deal.id, now=T0).deal.status == "published"  # a retry
    with db.sessionmaker() as s:
        listed, _ = service.list_deals(s, city_id=world.city_id, now=T0)
        assert [d.deal.id for d in listed] == [view.deal.id]
        assert [d.deal.id for d in service.list_deals(s, store_id=world.branch_id, now=T0)[0]] == [view.deal.id]
        assert service.list_deals(s, store_id=world.stranger_store_id, now=T0)[0] == []
        assert service.list_deals(s, city_id=world.city_id, now=T0 + 11 * DAY)[0] == []  # the sale is over
    with db.session() as s:
        assert service.withdraw_deal(s, world.store_id, view.deal.id, now=T0).deal.status == "withdrawn"
    refused(db, "deal_not_publishable", lambda s: service.publish_deal(s, world.store_id, view.deal.id, now=T0))
    # Another store's console cannot reach it, even the branch it covers.
    refused(db, "deal_not_found", lambda s: service.withdraw_deal(s, world.branch_id, view.deal.id, now=T0))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"title": "   "}, "title"),
        ({"lines": ()}, "lines"),
        ({"original_price": 3_000}, "original_price"),
        ({"sale_ends_at": T0 - 2 * DAY}, "sale_ends_at"),
        ({"valid_until": T0 + 5 * DAY}, "valid_until"),  # before the sale ends
        ({"rules": UsageRules(weekdays=0)}, "weekdays"),
        ({"rules": UsageRules(start_minute=900, end_minute=600)}, "hours"),
    ],
)
def test_terms_that_cannot_hold_are_refused(db: Database, world: World, changes: dict, field: str) -> None:
    error = refused(db, "invalid_deal",
                    lambda s: service.create_deal(s, store_id=world.store_id, terms=terms(**changes), now=T0))
    assert error.extra["field"] == field and error.status == 400


def test_a_deal_covers_only_its_merchants_stores(db: Database, world: World) -> None:
    refused(db, "store_not_of_merchant", lambda s: service.create_deal(
        s, store_id=world.store_id, terms=terms(), other_store_ids=[world.stranger_store_id], now=T0))


# ---------------------------------------------------------------------------------------------------- buying


def test_buying_with_the_wallet_issues_a_voucher_and_keeps_the_money_in_escrow(
    db: Database, settings: Settings, world: World
) -> None:
    deal_id = publish(db, world, quantity_total=5)
    fund(db, settings, world, 10_000)
    purchase = buy(db, settings, deal_id, world.customer_id)
    assert purchase.voucher.status == "issued" and purchase.voucher.issued_at == T0
    assert purchase.intent.status == IntentStatus.SUCCEEDED and purchase.intent.purpose == "voucher"
    assert purchase.intent.reference == str(purchase.voucher.id) and purchase.intent.store_id == world.store_id
    assert len(purchase.voucher.code) == 12 and purchase.voucher.code.isdigit()
    assert deal(db, deal_id).quantity_sold == 1
    assert available(db, world.customer_id) == 10_000 - 3_990
    with db.sessionmaker() as s:
        escrow = chart.sales_escrow(world.city_id, "CNY")
        assert payments.ledger.balances(s, [escrow.id])[escrow.id].posted == 3_990
        mine, _ = service.my_vouchers(s, settings, world.customer_id)
        assert [v.voucher.id for v in mine] == [purchase.voucher.id]
        assert mine[0].qr_payload is not None and mine[0].code_display.count(" ") == 2
    assert_ledger_sound(db)


def test_without_enough_money_nothing_is_bought(db: Database, settings: Settings, world: World) -> None:
    deal_id = publish(db, world, quantity_total=1)
    fund(db, settings, world, 1_000)
    refused(db, "insufficient_funds", lambda s: service.buy(s, deal_id, world.customer_id, settings=settings,
                                                            pay_with_wallet=True, now=T0))
    assert deal(db, deal_id).quantity_sold == 0
    assert available(db, world.customer_id) == 1_000


def test_only_a_deal_on_sale_can_be_bought(db: Database, settings: Settings, world: World) -> None:
    fund(db, settings, world, 50_000)
    deal_id = publish(db, world, quantity_total=1)

    def attempt(at: dt.datetime):  # type: ignore[no-untyped-def]
        return lambda s: service.buy(s, deal_id, world.customer_id, settings=settings, pay_with_wallet=True, now=at)

    refused(db, "deal_not_on_sale", attempt(T0 - 2 * DAY))
    refused(db, "deal_not_on_sale", attempt(T0 + 10 * DAY))
    buy(db, settings, deal_id, world.customer_id)
    refused(db, "deal_sold_out", attempt(T0))
    with db.session() as s:
        draft = service.create_deal(s, store_id=world.store_id, terms=terms(), now=T0).deal.id
    refused(db, "deal_not_found", lambda s: service.buy(s, draft, world.customer_id, settings=settings, now=T0))
    with db.session() as s:
        service.withdraw_deal(s, world.store_id, deal_id, now=T0)
    refused(db, "deal_not_on_sale", attempt(T0))


def test_the_per_person_limit_counts_vouchers_held_and_frees_on_refund(
    db: Database, settings: Settings, world: World
) -> None:
    fund(db, settings, world, 50_000)
    deal_id = publish(db, world, per_person_limit=2)
    first = buy(db, settings, deal_id, world.customer_id)
    buy(db, settings, deal_id, world.customer_id)
    refused(db, "purchase_limit_reached", lambda s: service.buy(s, deal_id, world.customer_id, settings=settings,
                                                                pay_with_wallet=True, now=T0))
    with db.session() as s:
        service.refund_voucher(s, settings, first.voucher.id, world.customer_id, now=T0)
    buy(db, settings, deal_id, world.customer_id)  # the refund gave the slot back
    fund(db, settings, world, 10_000, person=world.shop.other_id)
    buy(db, settings, deal_id, world.shop.other_id)  # the limit is per person
    assert deal(db, deal_id).quantity_sold == 3


def test_paying_later_issues_on_payment_and_a_closed_payment_releases_the_unit(
    db: Database, settings: Settings, world: World
) -> None:
    deal_id = publish(db, world, quantity_total=1, per_person_limit=1)
    pending = buy(db, settings, deal_id, world.customer_id, wallet=False)
    assert pending.voucher.status == "pending" and pending.intent.status == IntentStatus.REQUIRES_PAYMENT
    assert deal(db, deal_id).quantity_sold == 1
    with db.session() as s:  # the customer gives up: the intent is canceled, and the unit and the slot come back
        payments.cancel(s, pending.intent.id, payer_id=world.customer_id, now=T0)
    assert voucher(db, pending.voucher.id).status == "canceled"
    assert deal(db, deal_id).quantity_sold == 0
    with db.session() as s:  # the handler is idempotent: a second announcement changes nothing
        service._voucher_payment_outcome(s, payments.get_intent(s, pending.intent.id), T0)
    assert deal(db, deal_id).quantity_sold == 0

    again = buy(db, settings, deal_id, world.customer_id, wallet=False)
    with db.session() as s:  # paid through a channel this time
        intent = payments.start_channel(s, again.intent.id, world.customer_id, "wechatpay-sim", now=T0)
        trade_no = intent.trade_no
    with db.session() as s:
        payments.apply_channel_trade(s, ch.ChannelTrade(ch.ChannelName.WECHATPAY_SIM, trade_no, ch.TradeStatus.PAID,
                                                        3_990, "W1"), now=T0 + MINUTE)
    issued = voucher(db, again.voucher.id)
    assert issued.status == "issued" and issued.issued_at == T0 + MINUTE
    assert_ledger_sound(db)


def test_an_unpaid_purchase_closes_at_the_payment_deadline(db: Database, settings: Settings, world: World) -> None:
    deal_id = publish(db, world, quantity_total=3)
    pending = buy(db, settings, deal_id, world.customer_id, wallet=False)
    with db.session() as s:
        assert payments.expire_unpaid(s, now=T0 + dt.timedelta(minutes=settings.payment_timeout_minutes)) == 1
    assert voucher(db, pending.voucher.id).status == "canceled"
    assert deal(db, deal_id).quantity_sold == 0


# ---------------------------------------------------------------------------------------------------- in the shop


@pytest.fixture
def issued(db: Database, settings: Settings, world: World):  # type: ignore[no-untyped-def]
    deal_id = publish(db, world, quantity_total=10)
    fund(db, settings, world, 20_000)
    return buy(db, settings, deal_id, world.customer_id)


def _qr(db: Database, settings: Settings, world: World, voucher_id) -> str:  # type: ignore[no-untyped-def]
    with db.sessionmaker() as s:
        qr = service.my_voucher(s, settings, voucher_id, world.customer_id).qr_payload
    assert qr is not None
    return qr


def test_redeem_by_code_once_then_undo_within_the_window(db: Database, settings: Settings, world: World, issued) -> None:  # type: ignore[no-untyped-def]
    code = code_of(db, issued.voucher.id)
    typed = f" {code[:4]}-{code[4:8]} {code[8:]} "
    with db.sessionmaker() as s:
        checked = service.check_voucher(s, settings, world.store_id, typed, now=T0)
    assert checked.voucher.id == issued.voucher.id and checked.deal.deal.title == "Dumpling lunch for two"
    with db.session() as s:
        done = service.redeem(s, settings, world.store_id, typed, world.staff_id, now=T0)
    assert done.voucher.status == "redeemed" and done.undo_until == T0 + dt.timedelta(minutes=10)
    assert done.qr_payload is None
    refused(db, "voucher_already_redeemed",
            lambda s: service.redeem(s, settings, world.store_id, code, world.staff_id, now=T0 + MINUTE))
    # Undo: only in the store that redeemed it, within the window.
    refused(db, "voucher_not_redeemed", lambda s: service.undo_redemption(
        s, settings, world.branch_id, issued.voucher.id, world.branch_staff_id, now=T0 + MINUTE))
    refused(db, "voucher_not_found", lambda s: service.undo_redemption(
        s, settings, world.stranger_store_id, issued.voucher.id, world.stranger_staff_id, now=T0 + MINUTE))
    with db.session() as s:
        undone = service.undo_redemption(s, settings, world.store_id, issued.voucher.id, world.staff_id,
                                         now=T0 + 9 * MINUTE)
    assert undone.voucher.status == "issued" and undone.voucher.redeemed_at is None
    refused(db, "voucher_not_redeemed", lambda s: service.undo_redemption(
        s, settings, world.store_id, issued.voucher.id, world.staff_id, now=T0 + 9 * MINUTE))
    # Redeemed again, in the branch this time, by its QR code; the undo window then passes.
    qr = _qr(db, settings, world, issued.voucher.id)
    with db.session() as s:
        service.redeem(s, settings, world.branch_id, qr, world.branch_staff_id, now=T0 + 10 * MINUTE)
    refused(db, "undo_window_passed", lambda s: service.undo_redemption(
        s, settings, world.branch_id, issued.voucher.id, world.branch_staff_id, now=T0 + 20 * MINUTE))
    with db.sessionmaker() as s:
        assert service.voucher_redemptions(s, world.branch_id, T0, T0 + DAY) == (1, 3_990)
        assert service.voucher_redemptions(s, world.store_id, T0, T0 + DAY) == (0, 0)  # that one was undone
        assert service.voucher_sales(s, world.store_id, T0, T0 + DAY) == (1, 3_990)
        assert service.voucher_sales(s, world.store_id, T0 + MINUTE, T0 + DAY) == (0, 0)
        assert service.voucher_sales(s, world.branch_id, T0, T0 + DAY) == (0, 0)  # sold by the deal's own store


def test_settlement_pays_the_merchant_once_the_undo_window_passed(
    db: Database, settings: Settings, world: World, issued
) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        service.redeem(s, settings, world.store_id, code_of(db, issued.voucher.id), world.staff_id, now=T0)
    with db.session() as s:
        assert service.settle_redeemed(s, settings, now=T0 + 9 * MINUTE) == 0  # still undoable
    with db.session() as s:
        assert service.settle_redeemed(s, settings, now=T0 + 10 * MINUTE) == 1
    with db.session() as s:
        assert service.settle_redeemed(s, settings, now=T0 + 60 * MINUTE) == 0  # once
    settled = voucher(db, issued.voucher.id)
    assert settled.settled_at == T0 + 10 * MINUTE
    with db.sessionmaker() as s:
        intent = payments.get_intent(s, issued.intent.id)
        assert (intent.settled_merchant, intent.settled_commission) == (3_391, 599)  # 15% of 39.90, half up
        receivable = chart.merchant_receivable(world.store_id, world.city_id, "CNY")
        assert payments.ledger.balances(s, [receivable.id])[receivable.id].posted == 3_391
    refused(db, "undo_window_passed", lambda s: service.undo_redemption(
        s, settings, world.store_id, issued.voucher.id, world.staff_id, now=T0 + 5 * MINUTE))  # even "in time"
    refused(db, "voucher_already_redeemed", lambda s: service.refund_voucher(
        s, settings, issued.voucher.id, world.customer_id, now=T0 + DAY))
    assert_ledger_sound(db)


def test_the_undo_window_is_configurable(db: Database, settings: Settings, world: World, issued) -> None:  # type: ignore[no-untyped-def]
    quick = settings.model_copy()
    object.__setattr__(quick, "voucher_undo_minutes", 2)
    with db.session() as s:
        done = service.redeem(s, quick, world.store_id, code_of(db, issued.voucher.id), world.staff_id, now=T0)
    assert done.undo_until == T0 + 2 * MINUTE
    with db.session() as s:
        assert service.settle_redeemed(s, quick, now=T0 + 2 * MINUTE) == 1


def test_scans_that_cannot_be_redeemed_change_nothing(db: Database, settings: Settings, world: World, issued) -> None:  # type: ignore[no-untyped-def]
    code = code_of(db, issued.voucher.id)
    qr = _qr(db, settings, world, issued.voucher.id)

    def redeem(text: str, store=world.store_id, at=T0):  # type: ignore[no-untyped-def]
        return lambda s: service.redeem(s, settings, store, text, world.staff_id, now=at)

    # A forged QR: a payload re-signed with another key, a tampered payload, a truncated signature.
    other_key = signing.sign("another-secret", signing.Ticket(issued.voucher.id, code, issued.voucher.deal_id,
                                                              (world.stranger_store_id,), T0 + 90 * DAY))
    head, body, sig = qr.split(".")
    assert refused(db, "voucher_forged", redeem(other_key)).status == 400
    refused(db, "voucher_forged", redeem(f"{head}.{body[:-2]}AA.{sig}"))
    refused(db, "voucher_forged", redeem(f"{head}.{body}.{sig[:-4]}"))
    assert refused(db, "voucher_not_found", redeem("0000 0000 0000" if code != "000000000000" else "1" * 12)).status == 404
    refused(db, "voucher_not_found", redeem("not a code"))
    refused(db, "voucher_not_for_this_store", redeem(code, store=world.stranger_store_id))
    refused(db, "voucher_not_for_this_store", redeem(qr, store=world.stranger_store_id))
    refused(db, "voucher_expired", redeem(code, at=T0 + 30 * DAY))
    refused(db, "voucher_not_usable_now", redeem(code, at=T0 - 2 * DAY))  # before valid_from
    with db.session() as s:
        service.refund_voucher(s, settings, issued.voucher.id, world.customer_id, now=T0)
    refused(db, "voucher_refunded", redeem(code))
    with db.sessionmaker() as s, pytest.raises(AppError) as caught:
        service.check_voucher(s, settings, world.store_id, qr, now=T0)
    assert caught.value.code == "voucher_refunded"


def test_usage_rules_are_read_in_the_city_time(db: Database, settings: Settings, world: World) -> None:
    rules = UsageRules(weekdays=weekday_mask(["mon", "tue", "wed", "thu", "fri"]), start_minute=11 * 60,
                       end_minute=14 * 60)
    deal_id = publish(db, world, rules=rules)
    fund(db, settings, world, 10_000)
    code = code_of(db, buy(db, settings, deal_id, world.customer_id).voucher.id)

    def redeem(at: dt.datetime):  # type: ignore[no-untyped-def]
        return lambda s: service.redeem(s, settings, world.store_id, code, world.staff_id, now=at)

    refused(db, "voucher_not_usable_now", redeem(T0 + 3 * DAY))  # Saturday noon in Beijing
    refused(db, "voucher_not_usable_now", redeem(T0 + dt.timedelta(hours=2, minutes=30)))  # Wednesday 14:30
    refused(db, "voucher_not_usable_now", redeem(T0 - dt.timedelta(hours=1, minutes=1)))  # Wednesday 10:59
    with db.session() as s:  # 11:00 in Beijing is 03:00 UTC
        assert service.redeem(s, settings, world.store_id, code, world.staff_id,
                              now=T0 - dt.timedelta(hours=1)).voucher.status == "redeemed"


# ---------------------------------------------------------------------------------------------------- refunds, expiry


def test_the_owner_refunds_an_unused_voucher_to_the_wallet(db: Database, settings: Settings, world: World, issued) -> None:  # type: ignore[no-untyped-def]
    assert available(db, world.customer_id) == 20_000 - 3_990
    refused(db, "voucher_not_found", lambda s: service.refund_voucher(s, settings, issued.voucher.id,
                                                                      world.shop.other_id, now=T0))
    with db.session() as s:
        view = service.refund_voucher(s, settings, issued.voucher.id, world.customer_id, now=T0 + MINUTE)
    assert view.voucher.status == "refunded" and view.voucher.refund_reason == "requested"
    assert view.qr_payload is None
    assert available(db, world.customer_id) == 20_000
    assert deal(db, issued.voucher.deal_id).quantity_sold == 0
    with db.session() as s:  # asking again answers the same and moves nothing
        assert service.refund_voucher(s, settings, issued.voucher.id, world.customer_id).voucher.status == "refunded"
    assert available(db, world.customer_id) == 20_000
    assert_ledger_sound(db)


def test_expired_vouchers_are_refunded_by_the_job_and_others_are_left_alone(
    db: Database, settings: Settings, world: World
) -> None:
    deal_id = publish(db, world)
    fund(db, settings, world, 20_000)
    unused = buy(db, settings, deal_id, world.customer_id)
    used = buy(db, settings, deal_id, world.customer_id)
    with db.session() as s:
        service.redeem(s, settings, world.store_id, code_of(db, used.voucher.id), world.staff_id, now=T0)
    with db.session() as s:
        assert service.expire_vouchers(s, now=T0 + 29 * DAY) == 0
    with db.session() as s:
        assert service.expire_vouchers(s, now=T0 + 30 * DAY) == 1
    with db.session() as s:
        assert service.expire_vouchers(s, now=T0 + 31 * DAY) == 0
    expired = voucher(db, unused.voucher.id)
    assert (expired.status, expired.refund_reason) == ("refunded", "expired")
    assert voucher(db, used.voucher.id).status == "redeemed"
    assert available(db, world.customer_id) == 20_000 - 3_990
    refused(db, "voucher_expired", lambda s: service.redeem(s, settings, world.store_id, expired.code,
                                                            world.staff_id, now=T0 + 31 * DAY))
    assert_ledger_sound(db)


def test_a_payment_refunded_through_the_wallet_makes_the_voucher_unusable(
    db: Database, settings: Settings, world: World, issued
) -> None:  # type: ignore[no-untyped-def]
    with db.session() as s:
        payments.refund(s, issued.intent.id, refund_no="support-1", amount=3_990, to_wallet=True, now=T0)
    refused(db, "voucher_refunded", lambda s: service.redeem(s, settings, world.store_id, issued.voucher.code,
                                                             world.staff_id, now=T0))
    with db.session() as s:  # the owner's refund then moves no more money: it was all given back already
        service.refund_voucher(s, settings, issued.voucher.id, world.customer_id, now=T0)
    assert available(db, world.customer_id) == 20_000
    assert_ledger_sound(db)



def test_the_worker_jobs_refund_expired_vouchers_and_settle_redemptions(
    db: Database, settings: Settings, world: World, issued
) -> None:  # type: ignore[no-untyped-def]
    from o2o.deals import jobs  # noqa: F401  (registers the jobs)
    from o2o.kit.time import frozen_clock
    from o2o.worker import run_once

    deal_id = issued.voucher.deal_id
    used = buy(db, settings, deal_id, world.customer_id)
    with db.session() as s:
        service.redeem(s, settings, world.store_id, used.voucher.code, world.staff_id, now=T0)
    names = ["deals.expire_vouchers", "deals.settle_redemptions"]
    with frozen_clock(T0 + 5 * MINUTE):
        assert run_once(db, names) == {"deals.expire_vouchers": 0, "deals.settle_redemptions": 0}
    with frozen_clock(T0 + 30 * DAY):
        assert run_once(db, names) == {"deals.expire_vouchers": 1, "deals.settle_redemptions": 1}
        assert run_once(db, names) == {"deals.expire_vouchers": 0, "deals.settle_redemptions": 0}
    assert voucher(db, issued.voucher.id).refund_reason == "expired"
    assert voucher(db, used.voucher.id).settled_at == T0 + 30 * DAY
    assert available(db, world.customer_id) == 20_000 - 3_990
    assert_ledger_sound(db)


def test_a_code_drawn_twice_is_drawn_again(db: Database, settings: Settings, world: World, issued, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from o2o.deals import rules

    taken = issued.voucher.code
    draws = iter([taken, taken, "000000000001"])
    monkeypatch.setattr(rules, "new_code", lambda: next(draws))
    second = buy(db, settings, issued.voucher.deal_id, world.customer_id)
    assert second.voucher.code == "000000000001" and second.voucher.status == "issued"
    assert voucher(db, issued.voucher.id).code == taken
