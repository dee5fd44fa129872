"""Our clients against the simulators, over HTTP routed into the app in-process (``transport.routed``): the
cashier, pay, query, callbacks with their faults, close, refunds, bills."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlalchemy import select

from o2o.kit.time import frozen_clock, now
from o2o.wallet.channels import alipay, get_channel, keys
from o2o.wallet.channels.base import (
    BillKind,
    BillRow,
    ChannelName,
    ChannelRefused,
    InvalidSignature,
    RefundRequest,
    RefundStatus,
    TradeRequest,
    TradeStatus,
)
from o2o.wallet.channels.sim import service
from o2o.wallet.channels.sim.models import SimNotification, SimTrade
from tests.wallet.channels.conftest import cashier_forms, set_rates

CHANNELS = ["alipay-sim", "wechatpay-sim"]


def trade_request(receiver, name: str, out_trade_no: str = "PAY-000001", amount: int = 1234, minutes: int = 15):
    return TradeRequest(
        out_trade_no=out_trade_no,
        amount_fen=amount,
        subject="Noodle House · 2 bowls",
        expires_at=now() + dt.timedelta(minutes=minutes),
        notify_url=receiver.url(name),
        return_url=f"{receiver.settings.base_url}/orders/42?paid=1",
    )


def open_cashier(browser, client, request):
    page = browser.get(client.checkout_url(request))
    assert page.status_code == 200, page.text
    return page


def pay_at_cashier(browser, page, *, expect=303):
    token, actions = cashier_forms(page.text)
    answer = browser.post(
        actions["pay"], data={"csrf_token": token, "redirect_url": _redirect_field(page.text)}, follow_redirects=False
    )
    assert answer.status_code == expect, answer.text
    return answer


def _redirect_field(html: str) -> str:
    marker = 'name="redirect_url" value="'
    start = html.find(marker)
    return "" if start < 0 else html[start + len(marker) : html.find('"', start + len(marker))].replace("&amp;", "&")


def deliveries(db, channel: str | None = None):
    with db.sessionmaker() as s:
        rows = service.deliveries(s)
    return [(n, d) for n, d in rows if channel is None or n.channel == channel]


@pytest.mark.parametrize("name", CHANNELS)
def test_checkout_pay_query_and_one_callback(db, settings, in_process, receiver, name):
    client = get_channel(name, settings)
    request = trade_request(receiver, name)
    assert client.query(request.out_trade_no).status is TradeStatus.NOT_FOUND or name == "wechatpay-sim"

    page = open_cashier(in_process, client, request)
    assert 'data-testid="cashier"' in page.text and "¥12.34" in page.text and "Noodle House · 2 bowls" in page.text
    assert 'data-testid="pay"' in page.text and 'data-testid="cancel"' in page.text
    assert ("<svg" in page.text) is (name == "wechatpay-sim")  # the QR code of code_url
    assert client.query(request.out_trade_no).status is TradeStatus.WAITING

    answer = pay_at_cashier(in_process, page)
    target = answer.headers["location"]
    assert target.startswith(request.return_url)
    if name == "alipay-sim":  # Alipay signs the return parameters (never proof of payment, but checkable)
        params = dict(parse_qsl(urlsplit(target).query))
        assert params["out_trade_no"] == request.out_trade_no and params["total_amount"] == "12.34"
        alipay.verify_notification(
            {k: v for k, v in params.items() if k not in ("paid",)}, keys.alipay_provider(settings).private_key.public_key()
        )

    trade = client.query(request.out_trade_no)
    assert (trade.status, trade.amount_fen, trade.channel) == (TradeStatus.PAID, 1234, ChannelName(name))
    assert trade.channel_trade_no and trade.paid_at is not None

    assert service.deliver_due(db, settings) == 1
    [notification] = receiver.accepted()
    assert notification.trade.out_trade_no == request.out_trade_no and notification.trade.amount_fen == 1234
    assert notification.trade.status is TradeStatus.PAID
    assert notification.trade.channel_trade_no == trade.channel_trade_no
    assert notification.merchant_id == (keys.ALIPAY_APP_ID if name == "alipay-sim" else keys.WECHAT_MCHID)
    [(sent, delivery)] = deliveries(db)
    assert (sent.variant, sent.status, delivery.accepted, delivery.attempt) == ("genuine", "delivered", True, 1)
    assert service.deliver_due(db, settings) == 0  # nothing is sent again once accepted
    # Paying again (a reload) changes nothing and sends nothing.
    with db.sessionmaker() as s:
        assert s.scalars(select(SimNotification)).all().__len__() == 1


@pytest.mark.parametrize("name", CHANNELS)
def test_duplicates_and_tampered_copies_at_rate_one(db, app, settings, in_process, receiver, name):
    noisy = set_rates(app, duplicate=1, tamper=1)
    client = get_channel(name, noisy)
    request = trade_request(receiver, name)
    pay_at_cashier(in_process, open_cashier(in_process, client, request))

    assert service.deliver_due(db, noisy) == 3
    accepted = receiver.accepted()
    assert len(accepted) == 2 and accepted[0] == accepted[1]  # the duplicate is the same notification
    [refused] = receiver.refused()
    assert isinstance(refused.error, InvalidSignature)
    by_variant = {n.variant: (n, d) for n, d in deliveries(db)}
    assert by_variant["tampered"][0].status == "sent" and not by_variant["tampered"][1].accepted
    assert by_variant["genuine"][1].accepted and by_variant["duplicate"][1].accepted
    assert service.deliver_due(db, noisy) == 0  # a forgery is tried once


@pytest.mark.parametrize(("name", "fault"), [(c, f) for c in CHANNELS for f in service.FAULTS[ChannelName(c).value]])
def test_every_kind_of_tampering_is_refused(db, settings, name, fault):
    """Each fault the simulators inject, built as they would send it, fails our verification."""
    client = get_channel(name, settings)
    with db.session() as s:
        trade = service.create_or_get_trade(
            s, channel=name, merchant_id=keys.ALIPAY_APP_ID if name == "alipay-sim" else keys.WECHAT_MCHID,
            out_trade_no="PAY-000001", amount_fen=500, subject="x", notify_url="http://127.0.0.1:8000/n",
            return_url=None, expires_at=now() + dt.timedelta(minutes=5),
        )
        service.pay(s, settings, trade)
        [genuine] = s.scalars(select(SimNotification)).all()
        s.expunge(genuine)
    good = service.build_callback(settings, genuine, now())
    assert client.parse_notification(good.body, good.headers).trade.amount_fen == 500
    genuine.fault, genuine.variant = fault, "tampered"
    bad = service.build_callback(settings, genuine, now())
    with pytest.raises(InvalidSignature):
        client.parse_notification(bad.body, bad.headers)


def test_a_stale_wechat_callback_is_refused(db, settings):
    client = get_channel("wechatpay-sim", settings)
    with db.session() as s:
        trade = service.create_or_get_trade(
            s, channel="wechatpay-sim", merchant_id=keys.WECHAT_MCHID, out_trade_no="PAY-000001", amount_fen=500,
            subject="x", notify_url="http://127.0.0.1:8000/n", return_url=None, expires_at=now() + dt.timedelta(minutes=5),
        )
        service.pay(s, settings, trade)
        [row] = s.scalars(select(SimNotification)).all()
        s.expunge(row)
    old = service.build_callback(settings, row, now() - dt.timedelta(minutes=6))
    with pytest.raises(InvalidSignature, match="stale"):
        client.parse_notification(old.body, old.headers)


@pytest.mark.parametrize("name", CHANNELS)
def test_callbacks_are_retried_until_accepted(db, settings, in_process, receiver, name):
    client = get_channel(name, settings)
    request = trade_request(receiver, name)
    receiver.fail_next = 2
    with frozen_clock() as clock:
        pay_at_cashier(in_process, open_cashier(in_process, client, request))
        assert service.deliver_due(db, settings) == 1
        assert service.deliver_due(db, settings) == 0  # backing off
        clock.advance(seconds=1)
        assert service.deliver_due(db, settings) == 1
        clock.advance(seconds=1)
        assert service.deliver_due(db, settings) == 0
        clock.advance(seconds=1)
        assert service.deliver_due(db, settings) == 1
    attempts = [(d.attempt, d.accepted) for _n, d in deliveries(db)]
    assert attempts == [(1, False), (2, False), (3, True)]
    if name == "alipay-sim":
        assert [d.response_body for _n, d in deliveries(db)] == ["fail", "fail", "success"]
    assert len(receiver.accepted()) == 1


def test_delays_deliver_late_and_out_of_order(db, app, settings, in_process, receiver):
    """With delays, callbacks go out when due, ordered by due time rather than by payment time."""
    noisy = set_rates(app, duplicate=1, delay=5)
    client = get_channel("alipay-sim", noisy)
    with frozen_clock() as clock:
        start = now()
        for n in range(1, 5):
            pay_at_cashier(in_process, open_cashier(in_process, client, trade_request(receiver, "alipay-sim", f"PAY-00000{n}")))
        with db.sessionmaker() as s:
            due = sorted((n.deliver_at, n.id) for n in s.scalars(select(SimNotification)))
        assert len(due) == 8 and due[-1][0] > start
        sent_before = service.deliver_due(db, noisy)
        assert sent_before == sum(1 for at, _ in due if at <= start)
        clock.advance(seconds=11)
        assert service.deliver_due(db, noisy) == 8 - sent_before
    order = [n.id for n, _d in deliveries(db)]
    assert order == [i for _at, i in due]  # the order they fell due
    paid_order = [p.trade.out_trade_no for p in receiver.accepted()]
    assert len(paid_order) == 8 and set(paid_order) == {f"PAY-00000{n}" for n in range(1, 5)}


@pytest.mark.parametrize("name", CHANNELS)
def test_close_an_unpaid_trade_then_it_cannot_be_paid(db, settings, in_process, receiver, name):
    client = get_channel(name, settings)
    request = trade_request(receiver, name)
    page = open_cashier(in_process, client, request)
    closed = client.close(request.out_trade_no)
    assert (closed.status, closed.amount_fen) == (TradeStatus.CLOSED, 1234)
    answer = pay_at_cashier(in_process, page, expect=409)
    assert 'data-code="closed"' in answer.text
    assert client.query(request.out_trade_no).status is TradeStatus.CLOSED
    assert client.close(request.out_trade_no).status is TradeStatus.CLOSED  # idempotent
    assert service.deliver_due(db, settings) == 0 and receiver.received == []


@pytest.mark.parametrize("name", CHANNELS)
def test_close_of_a_paid_trade_reports_it_paid(settings, in_process, receiver, name):
    client = get_channel(name, settings)
    request = trade_request(receiver, name)
    pay_at_cashier(in_process, open_cashier(in_process, client, request))
    trade = client.close(request.out_trade_no)
    assert (trade.status, trade.amount_fen) == (TradeStatus.PAID, 1234)


def test_alipay_close_before_the_cashier_opened_forbids_the_number(settings, in_process, receiver):
    client = get_channel("alipay-sim", settings)
    request = trade_request(receiver, "alipay-sim")
    assert client.close(request.out_trade_no).status is TradeStatus.NOT_FOUND
    page = in_process.get(client.checkout_url(request))
    assert page.status_code == 400 and 'data-code="ACQ.TRADE_HAS_CLOSE"' in page.text
    assert client.query(request.out_trade_no).status is TradeStatus.NOT_FOUND


def test_same_number_with_another_amount_is_refused(settings, in_process, receiver):
    wechat = get_channel("wechatpay-sim", settings)
    wechat.checkout_url(trade_request(receiver, "wechatpay-sim"))
    assert wechat.checkout_url(trade_request(receiver, "wechatpay-sim"))  # the same request again: fine
    with pytest.raises(ChannelRefused) as refused:
        wechat.checkout_url(trade_request(receiver, "wechatpay-sim", amount=999))
    assert refused.value.code == "INVALID_REQUEST"
    ali = get_channel("alipay-sim", settings)
    open_cashier(in_process, ali, trade_request(receiver, "alipay-sim"))
    page = in_process.get(ali.checkout_url(trade_request(receiver, "alipay-sim", amount=999)))
    assert page.status_code == 400 and 'data-code="ACQ.CONTEXT_INCONSISTENT"' in page.text
    assert ali.query("PAY-000001").amount_fen == 1234


@pytest.mark.parametrize("name", CHANNELS)
def test_refund_and_query_refund(db, settings, in_process, receiver, name):
    client = get_channel(name, settings)
    request = trade_request(receiver, name, amount=1000)
    pay_at_cashier(in_process, open_cashier(in_process, client, request))

    first = client.refund(RefundRequest(request.out_trade_no, "RF-000001", 300, 1000, "one bowl was cold"))
    assert (first.status, first.refund_fen, first.out_refund_no) == (RefundStatus.SUCCEEDED, 300, "RF-000001")
    again = client.refund(RefundRequest(request.out_trade_no, "RF-000001", 300, 1000))
    assert (again.status, again.refund_fen) == (RefundStatus.SUCCEEDED, 300)
    queried = client.query_refund(request.out_trade_no, "RF-000001")
    assert (queried.status, queried.refund_fen) == (RefundStatus.SUCCEEDED, 300)
    assert client.query_refund(request.out_trade_no, "RF-000404").status is RefundStatus.NOT_FOUND
    assert client.query_refund("PAY-404404", "RF-000001").status is RefundStatus.NOT_FOUND

    with pytest.raises(ChannelRefused):
        client.refund(RefundRequest(request.out_trade_no, "RF-000002", 701, 1000))
    with pytest.raises(ChannelRefused):
        client.refund(RefundRequest(request.out_trade_no, "RF-000001", 400, 1000))  # same number, other amount
    assert client.refund(RefundRequest(request.out_trade_no, "RF-000002", 700, 1000)).refund_fen == 700
    with db.sessionmaker() as s:
        assert s.scalar(select(SimTrade.refunded_fen)) == 1000
    assert client.query(request.out_trade_no).status is TradeStatus.PAID  # refunds do not change that


def test_alipay_full_refund_sends_trade_closed(db, app, settings, in_process, receiver):
    noisy = set_rates(app, duplicate=1)
    client = get_channel("alipay-sim", noisy)
    request = trade_request(receiver, "alipay-sim", amount=1000)
    pay_at_cashier(in_process, open_cashier(in_process, client, request))
    client.refund(RefundRequest(request.out_trade_no, "RF-000001", 1000, 1000))
    assert service.deliver_due(db, noisy) == 4
    statuses = sorted(p.trade.raw_status for p in receiver.accepted())
    assert statuses == ["TRADE_CLOSED", "TRADE_CLOSED", "TRADE_SUCCESS", "TRADE_SUCCESS"]
    # Closed by a full refund is still a paid trade, with its amount.
    assert {(p.trade.status, p.trade.amount_fen) for p in receiver.accepted()} == {(TradeStatus.PAID, 1000)}
    assert client.query(request.out_trade_no).raw_status == "TRADE_CLOSED"
    assert client.query(request.out_trade_no).status is TradeStatus.PAID


def test_refund_of_an_unpaid_trade_is_refused(settings, in_process, receiver):
    for name in CHANNELS:
        client = get_channel(name, settings)
        request = trade_request(receiver, name)
        open_cashier(in_process, client, request)
        with pytest.raises(ChannelRefused):
            client.refund(RefundRequest(request.out_trade_no, "RF-000001", 100, 1234))


@pytest.mark.parametrize("name", CHANNELS)
def test_bill_of_a_day(settings, in_process, receiver, name):
    client = get_channel(name, settings)
    noon = dt.datetime(2026, 11, 26, 4, 0, tzinfo=dt.UTC)  # 12:00 China time
    with frozen_clock(noon) as clock:
        request = trade_request(receiver, name, amount=1000)
        pay_at_cashier(in_process, open_cashier(in_process, client, request))
        clock.advance(minutes=30)
        refund = client.refund(RefundRequest(request.out_trade_no, "RF-000001", 250, 1000))
        other = trade_request(receiver, name, out_trade_no="PAY-000002", amount=88)
        open_cashier(in_process, client, other)  # never paid: not in the bill
        with pytest.raises(ChannelRefused):
            client.bill(dt.date(2026, 11, 26))  # the day is not over
        clock.advance(hours=12)  # 00:30 the next day, China time
        rows = client.bill(dt.date(2026, 11, 26))
        trade = client.query(request.out_trade_no)
        assert client.bill(dt.date(2026, 11, 25)) == []
    channel = ChannelName(name)
    assert rows == [
        BillRow(channel, BillKind.PAYMENT, "PAY-000001", trade.channel_trade_no, 1000, noon),
        BillRow(channel, BillKind.REFUND, "PAY-000001", trade.channel_trade_no, 250, refund.succeeded_at, "RF-000001"),
    ]


def test_cashier_needs_the_csrf_token(db, settings, in_process, receiver):
    client = get_channel("alipay-sim", settings)
    page = open_cashier(in_process, client, trade_request(receiver, "alipay-sim"))
    _token, actions = cashier_forms(page.text)
    answer = in_process.post(actions["pay"], data={"csrf_token": "forged"}, follow_redirects=False)
    assert answer.status_code == 403
    assert client.query("PAY-000001").status is TradeStatus.WAITING
    with db.sessionmaker() as s:
        assert s.scalars(select(SimNotification)).all() == []


@pytest.mark.parametrize("name", CHANNELS)
def test_cancel_at_the_cashier(settings, in_process, receiver, name):
    client = get_channel(name, settings)
    request = trade_request(receiver, name)
    page = open_cashier(in_process, client, request)
    token, actions = cashier_forms(page.text)
    answer = in_process.post(
        actions["cancel"], data={"csrf_token": token, "redirect_url": _redirect_field(page.text)}, follow_redirects=False
    )
    assert answer.status_code == 303 and answer.headers["location"] == request.return_url
    assert client.query(request.out_trade_no).status is TradeStatus.CLOSED
    assert 'data-testid="cashier-closed"' in in_process.get(client.checkout_url(request) if name == "alipay-sim" else page.url).text


def test_wechat_cashier_for_an_unknown_code_is_not_found(in_process):
    page = in_process.get("/sim/wechatpay/cashier", params={"code_url": "weixin://wxpay/bizpayurl?pr=nope"})
    assert page.status_code == 404 and 'data-code="not_found"' in page.text


def test_the_simulators_refuse_unsigned_or_forged_calls(settings, in_process):
    browser = in_process
    # WeChat: no Authorization, then a forged one.
    answer = browser.post("/sim/wechatpay/v3/pay/transactions/native", content=b"{}")
    assert answer.status_code == 401 and answer.json()["code"] == "SIGN_ERROR"
    assert answer.headers["Wechatpay-Signature"]  # errors are signed too
    forged = (
        'WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="n",signature="c2lnbg==",'
        f'timestamp="{int(now().timestamp())}",serial_no="{keys.wechat_merchant(settings).serial_no}"'
    )
    answer = browser.post("/sim/wechatpay/v3/pay/transactions/native", content=b"{}", headers={"Authorization": forged})
    assert answer.status_code == 401
    # Alipay: a query whose signature is wrong.
    merchant = keys.alipay_merchant(settings)
    params = alipay.api_request(
        app_id=merchant.app_id, private_key=merchant.private_key, method=alipay.TRADE_QUERY,
        biz_content={"out_trade_no": "PAY-000001"}, now=now(),
    )
    params["biz_content"] = '{"out_trade_no":"PAY-000002"}'
    answer = browser.post("/sim/alipay/gateway.do", data=params)
    body = json.loads(answer.content)["alipay_trade_query_response"]
    assert (body["code"], body["sub_code"]) == ("40002", "isv.invalid-signature")
