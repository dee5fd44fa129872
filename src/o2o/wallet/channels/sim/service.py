"""The simulated providers' logic: trades, the cashier's pay and cancel, close, expiry, refunds, bills, and the
callbacks they owe the merchant (queued with faults, delivered by ``deliver_due``).

Provider-neutral: both simulators share these rules and differ only in the words they use (``endpoints.py``
speaks Alipay's and WeChat Pay's). Errors are ``SimError`` with a neutral ``reason`` the endpoints translate.

Concurrency follows the platform's rules even though these are "outside" systems: a trade is created once per
(channel, out_trade_no) by its unique constraint; paying, closing and expiring are conditional updates from
``waiting``; a refund raises ``refunded_fen`` with ``UPDATE ... WHERE refunded_fen + :n <= amount_fen`` and is
unique per (trade, out_refund_no). Callbacks are claimed with a conditional update (as ``o2o.outbox`` does), so
several workers never send one copy twice at the same time, and are sent after the claim's commit.

Faults are driven by ``O2O_CHANNEL_SIM_SEED``: for each (channel, out_trade_no, event) a ``random.Random`` seeded
with ``"{seed}:{channel}:{out_trade_no}:{event}"`` draws the genuine copy's delay, whether a duplicate follows
(``channel_sim_duplicate_rate``) and its delay, and whether a tampered copy is sent as well
(``channel_sim_tamper_rate``), with which fault and delay. The same draws are made whatever the rates, so a
trade's schedule depends only on the seed and the rates' thresholds.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import random
import secrets
import uuid
import zipfile
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2o.config import Settings
from o2o.db import Database
from o2o.kit.ids import uuid7
from o2o.kit.time import now as clock
from o2o.wallet.channels import alipay, keys, transport, wechatpay
from o2o.wallet.channels.base import ChannelName
from o2o.wallet.channels.sim.models import SimDelivery, SimNotification, SimRefund, SimTrade

log = structlog.get_logger("o2o.channel_sim")

ALIPAY = ChannelName.ALIPAY_SIM.value
WECHAT = ChannelName.WECHATPAY_SIM.value
CHINA = dt.timezone(dt.timedelta(hours=8), "CST")

WAITING, PAID, CLOSED = "waiting", "paid", "closed"
CLAIM_SECONDS = 60
RETRY_SCHEDULE = (1, 2, 4, 8, 15, 30, 60, 180, 600, 1800)  # seconds after each failed attempt
MAX_ATTEMPTS = len(RETRY_SCHEDULE) + 1
FAULTS = {ALIPAY: ("amount", "signature"), WECHAT: ("amount", "signature", "ciphertext")}


class SimError(Exception):
    """A provider refusal. ``reason``: not_found, amount_mismatch, closed, paid, expired, not_paid,
    refund_exceeds, refund_conflict, total_mismatch, bill_not_ready, invalid."""

    def __init__(self, reason: str, message: str = "") -> None:
        super().__init__(f"{reason}: {message}" if message else reason)
        self.reason = reason
        self.message = message or reason


# ----------------------------------------------------------------------------------------------------------------
# Trades


def _digits(n: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(n))


def _channel_trade_no(channel: str, moment: dt.datetime) -> str:
    day = moment.astimezone(CHINA).strftime("%Y%m%d")
    # Alipay: 2026112622001400001234567890 ; WeChat: 4200001234202611260000000000
    return f"{day}2200{_digits(16)}" if channel == ALIPAY else f"4200{_digits(6)}{day}{_digits(10)}"


def is_tombstone(trade: SimTrade) -> bool:
    """A close of a number the provider never saw: remembered so it can never be paid, invisible otherwise."""
    return trade.amount_fen == 0


def find_trade(session: Session, channel: str, merchant_id: str, out_trade_no: str) -> SimTrade | None:
    """The trade, tombstones included."""
    return session.scalars(
        select(SimTrade).where(
            SimTrade.channel == channel, SimTrade.out_trade_no == out_trade_no, SimTrade.merchant_id == merchant_id
        )
    ).one_or_none()


def visible_trade(session: Session, channel: str, merchant_id: str, out_trade_no: str) -> SimTrade | None:
    trade = find_trade(session, channel, merchant_id, out_trade_no)
    return None if trade is None or is_tombstone(trade) else trade


def trade_by_token(session: Session, channel: str, token: str) -> SimTrade | None:
    trade = session.scalars(
        select(SimTrade).where(SimTrade.channel == channel, SimTrade.cashier_token == token)
    ).one_or_none()
    return None if trade is None or is_tombstone(trade) else trade


def _check_same(trade: SimTrade, amount_fen: int) -> SimTrade:
    if is_tombstone(trade):
        raise SimError("closed", "this trade number was closed")
    if trade.amount_fen != amount_fen:
        raise SimError("amount_mismatch", "this trade number exists with another amount")
    return trade


def create_or_get_trade(
    session: Session,
    *,
    channel: str,
    merchant_id: str,
    out_trade_no: str,
    amount_fen: int,
    subject: str,
    notify_url: str,
    return_url: str | None,
    expires_at: dt.datetime,
    now: dt.datetime | None = None,
) -> SimTrade:
    """The trade for ``out_trade_no``: created on first sight, the same one after (idempotent). The same number
    with another amount is refused (``amount_mismatch``), as both providers do."""
    moment = now or clock()
    if amount_fen <= 0:
        raise SimError("invalid", "the amount must be positive")
    existing = find_trade(session, channel, merchant_id, out_trade_no)
    if existing is not None:
        return _check_same(existing, amount_fen)
    trade = SimTrade(
        channel=channel,
        merchant_id=merchant_id,
        out_trade_no=out_trade_no,
        channel_trade_no=_channel_trade_no(channel, moment),
        cashier_token=secrets.token_urlsafe(18),
        amount_fen=amount_fen,
        refunded_fen=0,
        subject=subject[:256],
        status=WAITING,
        notify_url=notify_url,
        return_url=return_url,
        expires_at=expires_at,
        created_at=moment,
        version=0,
    )
    try:
        with session.begin_nested():
            session.add(trade)
            session.flush()
    except IntegrityError:  # a concurrent twin created it first
        existing = find_trade(session, channel, merchant_id, out_trade_no)
        if existing is None:
            raise
        return _check_same(existing, amount_fen)
    log.info("sim_trade_created", channel=channel, out_trade_no=out_trade_no, amount_fen=amount_fen)
    return trade


def _transition(session: Session, trade: SimTrade, *conditions: Any, **values: Any) -> bool:
    result = session.execute(
        update(SimTrade)
        .where(SimTrade.id == trade.id, SimTrade.version == trade.version, *conditions)
        .values(version=SimTrade.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    session.refresh(trade)
    return result.rowcount == 1


def pay(session: Session, settings: Settings, trade: SimTrade, now: dt.datetime | None = None) -> SimTrade:
    """The customer pays at the cashier. Paying a paid trade again changes nothing; a closed or expired trade
    cannot be paid. Queues the payment callback(s)."""
    moment = now or clock()
    for _ in range(3):
        if trade.status == PAID:
            return trade
        if trade.status == CLOSED:
            if trade.closed_reason == "expired":
                raise SimError("expired", "this trade has expired")
            raise SimError("closed", "this trade is closed")
        if trade.expires_at <= moment:
            _transition(
                session, trade, SimTrade.status == WAITING, status=CLOSED, closed_reason="expired", closed_at=moment
            )
            continue
        if _transition(session, trade, SimTrade.status == WAITING, status=PAID, paid_at=moment):
            queue_payment_notifications(session, settings, trade, moment)
            log.info("sim_trade_paid", channel=trade.channel, out_trade_no=trade.out_trade_no)
            return trade
    if trade.status == PAID:
        return trade
    raise SimError("expired" if trade.closed_reason == "expired" else "closed", "this trade can no longer be paid")


def cancel(session: Session, trade: SimTrade, now: dt.datetime | None = None) -> SimTrade:
    """The customer declines at the cashier: the simulators close the trade (so the merchant's query sees it)."""
    moment = now or clock()
    if trade.status == WAITING:
        _transition(session, trade, SimTrade.status == WAITING, status=CLOSED, closed_reason="cancelled", closed_at=moment)
    if trade.status == PAID:
        raise SimError("paid", "this trade is already paid")
    return trade


def close(
    session: Session, channel: str, merchant_id: str, out_trade_no: str, now: dt.datetime | None = None
) -> SimTrade | None:
    """The merchant closes an unpaid trade; ``None`` when the provider never saw the number (a tombstone is kept
    so it can never be paid later). A paid trade is refused (``paid``)."""
    moment = now or clock()
    trade = find_trade(session, channel, merchant_id, out_trade_no)
    if trade is None:
        tombstone = SimTrade(
            channel=channel,
            merchant_id=merchant_id,
            out_trade_no=out_trade_no,
            channel_trade_no=_channel_trade_no(channel, moment),
            cashier_token=secrets.token_urlsafe(18),
            amount_fen=0,
            refunded_fen=0,
            subject="",
            status=CLOSED,
            closed_reason="unknown",
            notify_url="",
            expires_at=moment,
            closed_at=moment,
            created_at=moment,
            version=0,
        )
        try:
            with session.begin_nested():
                session.add(tombstone)
                session.flush()
        except IntegrityError:
            trade = find_trade(session, channel, merchant_id, out_trade_no)
            if trade is None:
                raise
        else:
            return None
    if is_tombstone(trade):
        return None
    if trade.status == WAITING:
        _transition(session, trade, SimTrade.status == WAITING, status=CLOSED, closed_reason="closed", closed_at=moment)
    if trade.status == PAID:
        raise SimError("paid", "the trade is paid; refund it instead")
    return trade


def expire_due(session: Session, now: dt.datetime | None = None, limit: int = 200) -> int:
    """Close waiting trades past their expiry (as the providers do at ``time_expire``)."""
    moment = now or clock()
    ids = session.scalars(
        select(SimTrade.id)
        .where(SimTrade.status == WAITING, SimTrade.expires_at <= moment)
        .order_by(SimTrade.expires_at)
        .limit(limit)
    ).all()
    closed = 0
    for trade_id in ids:
        result = session.execute(
            update(SimTrade)
            .where(SimTrade.id == trade_id, SimTrade.status == WAITING, SimTrade.expires_at <= moment)
            .values(status=CLOSED, closed_reason="expired", closed_at=moment, version=SimTrade.version + 1)
            .execution_options(synchronize_session=False)
        )
        closed += result.rowcount
    return closed


def alipay_status(trade: SimTrade) -> str:
    if trade.status == WAITING:
        return alipay.WAIT_BUYER_PAY
    if trade.status == PAID:
        return alipay.TRADE_CLOSED if trade.refunded_fen >= trade.amount_fen else alipay.TRADE_SUCCESS
    return alipay.TRADE_CLOSED


def wechat_state(trade: SimTrade) -> str:
    if trade.status == WAITING:
        return wechatpay.NOTPAY
    if trade.status == PAID:
        return wechatpay.REFUND if trade.refunded_fen > 0 else wechatpay.SUCCESS
    return wechatpay.CLOSED


# ----------------------------------------------------------------------------------------------------------------
# Refunds


def find_refund(session: Session, trade: SimTrade, out_refund_no: str) -> SimRefund | None:
    return session.scalars(
        select(SimRefund).where(SimRefund.trade_id == trade.id, SimRefund.out_refund_no == out_refund_no)
    ).one_or_none()


def find_refund_by_number(session: Session, channel: str, merchant_id: str, out_refund_no: str) -> SimRefund | None:
    """WeChat Pay looks refunds up by out_refund_no alone (unique per merchant there): the earliest one."""
    return session.scalars(
        select(SimRefund)
        .join(SimTrade, SimTrade.id == SimRefund.trade_id)
        .where(SimRefund.channel == channel, SimRefund.out_refund_no == out_refund_no, SimTrade.merchant_id == merchant_id)
        .order_by(SimRefund.id)
        .limit(1)
    ).one_or_none()


def _same_refund(existing: SimRefund, refund_fen: int) -> SimRefund:
    if existing.refund_fen != refund_fen:
        raise SimError("refund_conflict", "this out_refund_no was used with another amount")
    return existing


def refund(
    session: Session,
    settings: Settings,
    *,
    channel: str,
    merchant_id: str,
    out_trade_no: str,
    out_refund_no: str,
    refund_fen: int,
    reason: str = "",
    total_fen: int | None = None,
    now: dt.datetime | None = None,
) -> tuple[SimRefund, bool]:
    """Refund part of a paid trade, at most what is left; idempotent by out_refund_no. Returns the refund and
    whether this call created it. The simulators settle refunds at once."""
    moment = now or clock()
    trade = visible_trade(session, channel, merchant_id, out_trade_no)
    if trade is None:
        raise SimError("not_found", "no such trade")
    if total_fen is not None and total_fen != trade.amount_fen:
        raise SimError("total_mismatch", "the order total does not match")
    existing = find_refund(session, trade, out_refund_no)
    if existing is not None:
        return _same_refund(existing, refund_fen), False
    if trade.status != PAID:
        raise SimError("not_paid", "only a paid trade can be refunded")
    if refund_fen <= 0:
        raise SimError("invalid", "the refund amount must be positive")
    row = SimRefund(
        trade_id=trade.id,
        channel=channel,
        out_refund_no=out_refund_no,
        channel_refund_no=(f"{moment.astimezone(CHINA):%Y%m%d}{_digits(20)}" if channel == ALIPAY else f"50{_digits(28)}"),
        refund_fen=refund_fen,
        reason=reason[:256],
        status="succeeded",
        succeeded_at=moment,
        created_at=moment,
    )
    try:
        with session.begin_nested():
            result = session.execute(
                update(SimTrade)
                .where(SimTrade.id == trade.id, SimTrade.refunded_fen + refund_fen <= SimTrade.amount_fen)
                .values(refunded_fen=SimTrade.refunded_fen + refund_fen, version=SimTrade.version + 1)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount != 1:
                raise SimError("refund_exceeds", "the refund is more than what is left of the trade")
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent twin with the same out_refund_no won
        existing = find_refund(session, trade, out_refund_no)
        if existing is None:
            raise
        return _same_refund(existing, refund_fen), False
    session.refresh(trade)
    log.info("sim_refund", channel=channel, out_trade_no=out_trade_no, out_refund_no=out_refund_no, fen=refund_fen)
    if channel == ALIPAY and trade.refunded_fen == trade.amount_fen:
        queue_closed_notification(session, settings, trade, row, moment)
    return row, True


# ----------------------------------------------------------------------------------------------------------------
# Bills


@dataclass(frozen=True)
class BillEntry:
    kind: str  # payment | refund
    trade: SimTrade
    refund: SimRefund | None
    occurred_at: dt.datetime


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The China-time day as a UTC interval [start, end)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=CHINA).astimezone(dt.UTC)
    return start, start + dt.timedelta(days=1)


def bill(
    session: Session, channel: str, merchant_id: str, day: dt.date, now: dt.datetime | None = None
) -> list[BillEntry]:
    """Every payment and refund that succeeded during ``day`` (China time), by time. Refused until the day is
    over (``bill_not_ready``)."""
    start, end = day_bounds(day)
    if end > (now or clock()):
        raise SimError("bill_not_ready", "the bill of a day exists once the day is over")
    trades = session.scalars(
        select(SimTrade)
        .where(
            SimTrade.channel == channel,
            SimTrade.merchant_id == merchant_id,
            SimTrade.paid_at >= start,
            SimTrade.paid_at < end,
        )
        .order_by(SimTrade.paid_at, SimTrade.id)
    ).all()
    entries = [BillEntry("payment", t, None, t.paid_at) for t in trades if t.paid_at is not None]
    refunds = session.execute(
        select(SimRefund, SimTrade)
        .join(SimTrade, SimTrade.id == SimRefund.trade_id)
        .where(
            SimRefund.channel == channel,
            SimTrade.merchant_id == merchant_id,
            SimRefund.succeeded_at >= start,
            SimRefund.succeeded_at < end,
        )
        .order_by(SimRefund.succeeded_at, SimRefund.id)
    ).all()
    entries += [BillEntry("refund", t, r, r.succeeded_at) for r, t in refunds if r.succeeded_at is not None]
    entries.sort(key=lambda e: (e.occurred_at, e.kind, e.trade.out_trade_no))
    return entries


def _bill_text(value: str) -> str:
    return value.replace(",", "，").replace("\n", " ").replace("\r", " ").replace("`", "'")


def wechat_bill_file(entries: list[BillEntry], appid: str, mchid: str) -> str:
    """WeChat Pay's trade bill (type ALL): header, one row per payment and per refund, then the totals."""
    lines = [wechatpay.BILL_HEADER]
    paid = refunded = 0
    for e in entries:
        t, r = e.trade, e.refund
        when = e.occurred_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
        amount = wechatpay.bill_yuan(t.amount_fen)
        if r is None:
            paid += t.amount_fen
            state, refund_id, out_refund_no, refund_amount, refund_state = "SUCCESS", "0", "0", "0.00", ""
        else:
            refunded += r.refund_fen
            state, refund_id, out_refund_no = "REFUND", r.channel_refund_no, r.out_refund_no
            refund_amount, refund_state = wechatpay.bill_yuan(r.refund_fen), "SUCCESS"
        lines.append(
            wechatpay.bill_line(
                [
                    when, appid, mchid, "0", "", t.channel_trade_no, t.out_trade_no, "o_sim_buyer", "NATIVE", state,
                    "OTHERS", "CNY", amount if r is None else "0.00", "0.00", refund_id, out_refund_no, refund_amount,
                    "0.00", "ORIGINAL" if r is not None else "", refund_state, _bill_text(t.subject), "", "0.00",
                    "0.60%", amount, refund_amount, "",
                ]
            )
        )
    lines.append(wechatpay.BILL_TOTALS_HEADER)
    lines.append(
        wechatpay.bill_line(
            [
                str(len(entries)), wechatpay.bill_yuan(paid), wechatpay.bill_yuan(refunded), "0.00", "0.00",
                wechatpay.bill_yuan(paid), wechatpay.bill_yuan(refunded),
            ]
        )
    )
    return "\r\n".join(lines) + "\r\n"


ALIPAY_BILL_COLUMNS = [
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员", "终端号",
    "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）",
    "券核销金额（元）", "券名称", "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
]


def alipay_bill_zip(entries: list[BillEntry], seller_id: str, day: dt.date) -> bytes:
    """Alipay's trade bill: a zip holding the detail CSV in GBK, comment lines starting with ``#``; ids end with
    a tab (as Alipay writes them, to keep spreadsheets from mangling them); refunds have negative amounts."""
    out = io.StringIO()
    out.write("#支付宝业务明细查询\r\n")
    out.write(f"#账号：[{seller_id}]\r\n")
    out.write(f"#起始日期：[{day:%Y年%m月%d日} 00:00:00]   终止日期：[{day + dt.timedelta(days=1):%Y年%m月%d日} 00:00:00]\r\n")
    out.write("#-----------------------------------------业务明细列表----------------------------------------\r\n")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(ALIPAY_BILL_COLUMNS)
    received = refunded = 0
    for e in entries:
        t, r = e.trade, e.refund
        created = t.created_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
        done = e.occurred_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
        if r is None:
            received += t.amount_fen
            kind, net, batch = "交易", alipay.yuan(t.amount_fen), ""
        else:
            refunded += r.refund_fen
            kind, net, batch = "退款", "-" + alipay.yuan(r.refund_fen), r.out_refund_no + "\t"
        writer.writerow(
            [
                t.channel_trade_no + "\t", t.out_trade_no + "\t", kind, t.subject, created, done, "", "", "", "",
                "sim***@example.com", alipay.yuan(t.amount_fen), net, "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00",
                "0.00", batch, "0.00", "0.00", "",
            ]
        )
    out.write("#-----------------------------------------业务明细列表结束------------------------------------\r\n")
    out.write(
        f"#交易合计：{sum(1 for e in entries if e.refund is None)}笔，商家实收：{alipay.yuan(received)}元，"
        f"退款合计：{sum(1 for e in entries if e.refund is not None)}笔，商家实收退款：-{alipay.yuan(refunded)}元\r\n"
    )
    out.write(f"#导出时间：[{clock().astimezone(CHINA):%Y年%m月%d日 %H:%M:%S}]\r\n")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{seller_id}_{day:%Y%m%d}_业务明细.csv", out.getvalue().encode("gbk", errors="replace"))
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------------------------
# Callbacks: queued with faults, delivered after commit


@dataclass(frozen=True)
class FaultPlan:
    genuine_delay: float
    duplicate_delay: float | None  # None: no duplicate
    tamper: tuple[str, float] | None  # (fault, delay) or None


def fault_plan(settings: Settings, channel: str, out_trade_no: str, event: str) -> FaultPlan:
    """Deterministic per (seed, channel, out_trade_no, event): the same draws are made whatever the rates."""
    rng = random.Random(f"{settings.channel_sim_seed}:{channel}:{out_trade_no}:{event}")
    max_delay = max(0.0, float(settings.channel_sim_max_delay_seconds))
    genuine_delay, duplicate_draw, duplicate_delay, tamper_draw, tamper_delay, fault_draw = (
        rng.random() for _ in range(6)
    )
    faults = FAULTS[channel]
    return FaultPlan(
        genuine_delay=genuine_delay * max_delay,
        duplicate_delay=duplicate_delay * max_delay if duplicate_draw < settings.channel_sim_duplicate_rate else None,
        tamper=(
            (faults[int(fault_draw * len(faults))], tamper_delay * max_delay)
            if tamper_draw < settings.channel_sim_tamper_rate
            else None
        ),
    )


def _enqueue(
    session: Session, settings: Settings, trade: SimTrade, event: str, payload: dict[str, Any], moment: dt.datetime
) -> list[SimNotification]:
    plan = fault_plan(settings, trade.channel, trade.out_trade_no, event)
    notify_id = payload.get("notify_id") or payload.get("event_id") or uuid.uuid4().hex
    copies: list[tuple[str, str | None, float]] = [("genuine", None, plan.genuine_delay)]
    if plan.duplicate_delay is not None:
        copies.append(("duplicate", None, plan.genuine_delay + plan.duplicate_delay))
    if plan.tamper is not None:
        copies.append(("tampered", plan.tamper[0], plan.tamper[1]))
    rows = []
    for variant, fault, delay in copies:
        row = SimNotification(
            trade_id=trade.id,
            channel=trade.channel,
            notify_id=notify_id,
            event=event,
            variant=variant,
            fault=fault,
            notify_url=trade.notify_url,
            payload=json.dumps(payload, ensure_ascii=False, sort_keys=True),
            status="pending",
            deliver_at=moment + dt.timedelta(seconds=delay),
            attempts=0,
            created_at=moment,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    log.info(
        "sim_notifications_queued",
        channel=trade.channel,
        out_trade_no=trade.out_trade_no,
        callback=event,
        copies=[(v, f, round(d, 3)) for v, f, d in copies],
    )
    return rows


def _alipay_trade_params(trade: SimTrade, notify_id: str) -> dict[str, str]:
    assert trade.paid_at is not None
    amount = alipay.yuan(trade.amount_fen)
    return {
        "notify_type": "trade_status_sync",
        "notify_id": notify_id,
        "charset": "utf-8",
        "version": "1.0",
        "app_id": trade.merchant_id,
        "auth_app_id": trade.merchant_id,
        "seller_id": keys.ALIPAY_SELLER_ID,
        "buyer_id": "2088102177846880",
        "buyer_logon_id": "sim***@example.com",
        "trade_no": trade.channel_trade_no,
        "out_trade_no": trade.out_trade_no,
        "subject": trade.subject,
        "total_amount": amount,
        "receipt_amount": amount,
        "invoice_amount": amount,
        "buyer_pay_amount": amount,
        "point_amount": "0.00",
        "gmt_create": alipay.china_time(trade.created_at),
        "gmt_payment": alipay.china_time(trade.paid_at),
        "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")),
    }


def wechat_transaction(trade: SimTrade) -> dict[str, Any]:
    """The transaction object (query answers and callbacks)."""
    state = wechat_state(trade)
    body: dict[str, Any] = {
        "appid": keys.WECHAT_APPID,
        "mchid": trade.merchant_id,
        "out_trade_no": trade.out_trade_no,
        "trade_type": "NATIVE",
        "trade_state": state,
        "trade_state_desc": wechatpay.TRADE_STATE_DESC[state],
        "attach": "",
        "amount": {"total": trade.amount_fen, "currency": "CNY"},
    }
    if trade.paid_at is not None:
        body.update(
            transaction_id=trade.channel_trade_no,
            bank_type="OTHERS",
            success_time=wechatpay.rfc3339(trade.paid_at),
            payer={"openid": "o_sim_buyer"},
        )
        body["amount"].update(payer_total=trade.amount_fen, payer_currency="CNY")
    return body


def queue_payment_notifications(
    session: Session, settings: Settings, trade: SimTrade, moment: dt.datetime
) -> list[SimNotification]:
    if trade.channel == ALIPAY:
        params = _alipay_trade_params(trade, uuid.uuid4().hex + "sim")
        params["trade_status"] = alipay.TRADE_SUCCESS
        return _enqueue(session, settings, trade, alipay.TRADE_SUCCESS, params, moment)
    transaction = wechat_transaction(trade)
    transaction["trade_state"] = wechatpay.SUCCESS
    transaction["trade_state_desc"] = wechatpay.TRADE_STATE_DESC[wechatpay.SUCCESS]
    payload = {"event_id": str(uuid.uuid4()), "create_time": wechatpay.rfc3339(moment), "transaction": transaction}
    return _enqueue(session, settings, trade, "TRANSACTION.SUCCESS", payload, moment)


def queue_closed_notification(
    session: Session, settings: Settings, trade: SimTrade, last_refund: SimRefund, moment: dt.datetime
) -> list[SimNotification]:
    """Alipay tells the merchant ``TRADE_CLOSED`` once a trade is fully refunded."""
    params = _alipay_trade_params(trade, uuid.uuid4().hex + "sim")
    params.update(
        trade_status=alipay.TRADE_CLOSED,
        out_biz_no=last_refund.out_refund_no,
        refund_fee=alipay.yuan(trade.refunded_fen),
        gmt_refund=alipay.china_time(moment) + ".000",
        gmt_close=alipay.china_time(moment),
    )
    return _enqueue(session, settings, trade, alipay.TRADE_CLOSED, params, moment)


@dataclass(frozen=True)
class OutgoingCallback:
    headers: dict[str, str]
    body: bytes


def _tampered_amount(text: str) -> str:
    return alipay.yuan(alipay.fen(text) + 100 if alipay.fen(text) < 1_000_000 else alipay.fen(text) - 100)


def build_callback(settings: Settings, notification: SimNotification, moment: dt.datetime) -> OutgoingCallback:
    """The HTTP request of one delivery attempt, signed now (and tampered after signing for tampered copies)."""
    payload = json.loads(notification.payload)
    if notification.channel == ALIPAY:
        provider = keys.alipay_provider(settings)
        params = dict(payload)
        params["notify_time"] = alipay.china_time(moment)
        key = keys.forger_key(settings) if notification.fault == "signature" else provider.private_key
        signed = alipay.sign_notification(params, key)
        if notification.fault == "amount":
            signed["total_amount"] = _tampered_amount(signed["total_amount"])
            signed["receipt_amount"] = signed["total_amount"]
        return OutgoingCallback(
            {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "User-Agent": "Mozilla/4.0"},
            urlencode(signed).encode("utf-8"),
        )
    wx = keys.wechat_provider(settings)
    nonce = secrets.token_hex(6)  # 12 characters, as WeChat Pay's resource nonces are
    body = wechatpay.notification_body(
        event_id=payload["event_id"],
        create_time=payload["create_time"],
        transaction=payload["transaction"],
        apiv3_key=wx.apiv3_key,
        nonce=nonce,
    )
    if notification.fault == "ciphertext":  # the resource corrupted, the envelope signed as if it were fine
        envelope = json.loads(body)
        sealed = bytearray(base64.b64decode(envelope["resource"]["ciphertext"]))
        sealed[len(sealed) // 2] ^= 0x01
        envelope["resource"]["ciphertext"] = base64.b64encode(bytes(sealed)).decode()
        body = wechatpay.dumps(envelope)
    key = keys.forger_key(settings) if notification.fault == "signature" else wx.private_key
    headers = wechatpay.signed_headers(
        private_key=key, serial_no=wx.platform_serial_no, body=body, timestamp=int(moment.timestamp())
    )
    if notification.fault == "amount":  # a different body under the genuine body's signature
        altered = dict(payload["transaction"])
        altered["amount"] = {**altered["amount"], "total": altered["amount"]["total"] + 100}
        altered["amount"]["payer_total"] = altered["amount"]["total"]
        body = wechatpay.notification_body(
            event_id=payload["event_id"],
            create_time=payload["create_time"],
            transaction=altered,
            apiv3_key=wx.apiv3_key,
            nonce=nonce,
        )
    headers.update({"Content-Type": "application/json", "User-Agent": "Mozilla/4.0", "Request-ID": str(uuid.uuid4())})
    return OutgoingCallback(headers, body.encode("utf-8"))


def accepted_answer(channel: str, status_code: int, body: bytes) -> bool:
    """Alipay: the body is exactly ``success``; WeChat Pay: 200 or 204."""
    if channel == ALIPAY:
        return status_code == 200 and body == alipay.ACK_SUCCESS
    return status_code in (200, 204)


def _claim(db: Database, moment: dt.datetime, limit: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    claimer = uuid7()
    with db.session() as session:
        due = session.scalars(
            select(SimNotification.id)
            .where(SimNotification.status == "pending", SimNotification.deliver_at <= moment)
            .order_by(SimNotification.deliver_at, SimNotification.id)
            .limit(limit)
        ).all()
        claimed = []
        for notification_id in due:
            result = session.execute(
                update(SimNotification)
                .where(
                    SimNotification.id == notification_id,
                    SimNotification.status == "pending",
                    SimNotification.deliver_at <= moment,
                )
                .values(claimed_by=claimer, deliver_at=moment + dt.timedelta(seconds=CLAIM_SECONDS))
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                claimed.append(notification_id)
    return claimer, claimed


def deliver_due(db: Database, settings: Settings, *, limit: int = 50, now: dt.datetime | None = None) -> int:
    """Send the due callbacks (in the order they are due), each in its own exchange after the claim's commit;
    returns how many attempts were made. Genuine copies and duplicates are retried with back-off until the
    merchant answers as the provider expects; a tampered copy is sent once."""
    moment = now or clock()
    claimer, claimed = _claim(db, moment, limit)
    attempts = 0
    for notification_id in claimed:
        with db.session() as session:
            notification = session.get(SimNotification, notification_id)
            if notification is None or notification.status != "pending" or notification.claimed_by != claimer:
                continue
            session.expunge(notification)
        sent_at = clock() if now is None else moment
        outgoing = build_callback(settings, notification, sent_at)
        status_code: int | None = None
        answer: bytes = b""
        error: str | None = None
        try:
            with transport.client(httpx.Timeout(10.0, connect=5.0)) as http:
                response = http.post(notification.notify_url, content=outgoing.body, headers=outgoing.headers)
                status_code, answer = response.status_code, response.content
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:2000]
        accepted = status_code is not None and accepted_answer(notification.channel, status_code, answer)
        attempts += 1
        _record(db, notification, claimer, outgoing, status_code, answer, error, accepted, sent_at)
    return attempts


def _record(
    db: Database,
    notification: SimNotification,
    claimer: uuid.UUID,
    outgoing: OutgoingCallback,
    status_code: int | None,
    answer: bytes,
    error: str | None,
    accepted: bool,
    sent_at: dt.datetime,
) -> None:
    with db.session() as session:
        row = session.get(SimNotification, notification.id)
        if row is None or row.claimed_by != claimer:
            return
        row.attempts += 1
        row.claimed_by = None
        session.add(
            SimDelivery(
                notification_id=row.id,
                attempt=row.attempts,
                sent_at=sent_at,
                request_headers=json.dumps(outgoing.headers, ensure_ascii=False, sort_keys=True),
                request_body=outgoing.body.decode("utf-8"),
                status_code=status_code,
                response_body=answer[:2000].decode("utf-8", errors="replace") if status_code is not None else None,
                error=error,
                accepted=accepted,
            )
        )
        if accepted:
            row.status, row.delivered_at = "delivered", sent_at
        elif row.variant == "tampered":
            row.status = "sent"  # a forgery is tried once; a correct merchant refuses it
        elif row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
        else:
            row.deliver_at = sent_at + dt.timedelta(seconds=RETRY_SCHEDULE[row.attempts - 1])
        row.last_error = error or (None if accepted else f"answered {status_code}: {answer[:200]!r}")
        log.info(
            "sim_callback_sent",
            channel=row.channel,
            callback=row.event,
            variant=row.variant,
            fault=row.fault,
            notify_id=row.notify_id,
            attempt=row.attempts,
            status_code=status_code,
            accepted=accepted,
            error=error,
        )


def deliveries(session: Session, trade: SimTrade | None = None) -> list[tuple[SimNotification, SimDelivery]]:
    """Every delivery attempt (oldest first), optionally of one trade: what tests and the sim's pages read."""
    query = select(SimNotification, SimDelivery).join(SimDelivery, SimDelivery.notification_id == SimNotification.id)
    if trade is not None:
        query = query.where(SimNotification.trade_id == trade.id)
    return [(n, d) for n, d in session.execute(query.order_by(SimDelivery.sent_at, SimDelivery.id)).all()]

