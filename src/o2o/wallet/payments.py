"""Payments: intents paid from the wallet or through a channel, top-ups, refunds and settlement.

The rules that keep money right, whatever the faults:

* Every state change is a conditional UPDATE whose row count is checked (``WHERE status = 'processing'``,
  ``WHERE refunded_amount + :r <= amount``, ``WHERE settled_at IS NULL``), so of two racing requests, callbacks or
  workers exactly one moves a row; the other sees zero rows and answers from the new state. This holds on SQLite
  (writers serialised) and on PostgreSQL (the second UPDATE waits for the first and re-checks its WHERE).
* Every ledger transfer has an id derived from what it is for (``chart.transfer_id("channel-payment", trade)``),
  so even a repeated write of the same fact is the ledger's idempotent ``exists``, never a second movement.
* A channel trade's money is applied once: the callback and the resolver both go through ``apply_channel_trade``
  and only the one that moves the trade out of ``waiting`` writes to the ledger.
* Channel calls happen outside our transactions (``resolve_intent``, ``process_refund``, ``checkout_url``); a call
  whose outcome is unknown is followed by a *query*, never by a second payment.

The service never commits: the request boundary, the worker or the test does.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.orm import Session

from o2o import outbox
from o2o.config import Settings
from o2o.db import Database
from o2o.kit import time as clock
from o2o.kit.ids import uuid7
from o2o.stores import service as stores
from o2o.wallet import chart
from o2o.wallet import errors as e
from o2o.wallet import service as ledger
from o2o.wallet.channels import base as ch
from o2o.wallet.intents import (
    CancellationReason,
    IntentEvent,
    IntentStatus,
    closed_event,
    next_status,
    settlement_split,
)
from o2o.wallet.ledger import Balance, CreateTransferResult, Transfer, TransferFlags, TransferRecord
from o2o.wallet.models import ChannelTrade, PaymentIntent, Refund
from o2o.wallet.models import WalletTransfer as T

log = structlog.get_logger("o2o.wallet.payments")


class Purpose:
    """What an intent pays for. Other domains pass their own (``order``, ``voucher``, ``ride``, ``pass``)."""

    STORE_PAYMENT = "store_payment"  # a customer pays a shop at its counter (scan the shop's code, type the sum)
    TOP_UP = "top_up"
    ORDER = "order"
    VOUCHER = "voucher"
    RIDE = "ride"
    PASS = "pass"


METHOD_WALLET = "wallet"
CHANNELS = tuple(c.value for c in ch.ChannelName)
MAX_AMOUNT = 5_000_000  # 50,000.00 yuan: above any single O2O purchase, far below overflow
MAX_CHANNEL_ATTEMPTS = 20
FIRST_CHECK = dt.timedelta(seconds=20)  # ask the channel if no callback came by then
MAX_CHECK_INTERVAL = dt.timedelta(minutes=10)
CLAIM = dt.timedelta(seconds=60)  # a worker's claim on a due intent or refund


def _now(now: dt.datetime | None) -> dt.datetime:
    return clock.now() if now is None else now


def _backoff(checks: int) -> dt.timedelta:
    return min(FIRST_CHECK * (2 ** max(checks, 0)), MAX_CHECK_INTERVAL)


# What another domain does when one of its intents reaches a final state (an order becomes paid, a voucher is
# issued, an unpaid order is canceled). Called inside the transaction that moved the intent, so the domain's
# change and the money move commit together. Keyed by ``Purpose``; a handler must be idempotent: it may be
# called again for an intent it has already seen (a batch expiry, a retry).
OutcomeHandler = Callable[[Session, PaymentIntent, dt.datetime], None]
_outcome_handlers: dict[str, OutcomeHandler] = {}


def on_outcome(purpose: str) -> Callable[[OutcomeHandler], OutcomeHandler]:
    """Register the handler called when an intent of ``purpose`` succeeds, fails or is canceled."""

    def register(fn: OutcomeHandler) -> OutcomeHandler:
        _outcome_handlers[purpose] = fn
        return fn

    return register


def _announce(session: Session, intent_id: uuid.UUID, now: dt.datetime) -> None:
    intent = get_intent(session, intent_id)
    fn = _outcome_handlers.get(intent.purpose)
    if fn is not None and intent.status in (
        IntentStatus.SUCCEEDED.value, IntentStatus.FAILED.value, IntentStatus.CANCELED.value
    ):
        fn(session, intent, now)


def wake_worker_after_commit(session: Session) -> None:
    """Due work was written: wake the in-process worker once this transaction commits."""
    outbox.wake_after_commit(session)


# ---------------------------------------------------------------------------------------------------- loading


def get_intent(session: Session, intent_id: uuid.UUID, *, payer_id: uuid.UUID | None = None) -> PaymentIntent:
    """The intent, fresh from the database; someone else's is "not found" when ``payer_id`` is given."""
    intent = session.get(PaymentIntent, intent_id, populate_existing=True)
    if intent is None or (payer_id is not None and intent.payer_person_id != payer_id):
        raise e.intent_not_found()
    return intent


def current_trade(session: Session, intent: PaymentIntent) -> ChannelTrade | None:
    if intent.trade_no is None:
        return None
    return session.scalar(
        select(ChannelTrade).where(ChannelTrade.out_trade_no == intent.trade_no).execution_options(
            populate_existing=True
        )
    )


def intent_trades(session: Session, intent_id: uuid.UUID) -> list[ChannelTrade]:
    return list(session.scalars(select(ChannelTrade).where(ChannelTrade.intent_id == intent_id).order_by(ChannelTrade.id)))


def intent_refunds(session: Session, intent_id: uuid.UUID) -> list[Refund]:
    return list(
        session.scalars(
            select(Refund).where(Refund.intent_id == intent_id).order_by(Refund.id).execution_options(
                populate_existing=True
            )
        )
    )


def list_intents(
    session: Session, payer_id: uuid.UUID, *, limit: int = 20, before: uuid.UUID | None = None
) -> list[PaymentIntent]:
    query = select(PaymentIntent).where(PaymentIntent.payer_person_id == payer_id)
    if before is not None:
        query = query.where(PaymentIntent.id < before)
    return list(session.scalars(query.order_by(PaymentIntent.id.desc()).limit(limit)))


def _target_account(intent: PaymentIntent) -> chart.AccountSpec:
    """Where the intent's money goes when paid: the payer's wallet for a top-up, the city's escrow otherwise."""
    if intent.purpose == Purpose.TOP_UP:
        return chart.customer_wallet(intent.payer_person_id, intent.currency)
    return chart.sales_escrow(intent.city_id, intent.currency)


def _transition(
    session: Session,
    intent: PaymentIntent,
    expected: IntentStatus,
    event: IntentEvent,
    now: dt.datetime,
    *conditions: Any,
    **values: Any,
) -> bool:
    """Move the intent ``expected`` -> next, if it is still ``expected`` (and ``conditions`` hold)."""
    new = next_status(expected, event)
    result = session.execute(
        update(PaymentIntent)
        .where(PaymentIntent.id == intent.id, PaymentIntent.status == expected.value, *conditions)
        .values(status=new.value, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _transfer(session: Session, transfers: Sequence[Transfer], now: dt.datetime) -> list[CreateTransferResult]:
    return ledger.create_transfers(session, transfers, now)


def _must(results: Sequence[CreateTransferResult], what: str) -> None:
    bad = [r for r in results if r not in (CreateTransferResult.OK, CreateTransferResult.EXISTS)]
    if bad:
        raise RuntimeError(f"ledger refused {what}: {bad}")


# ---------------------------------------------------------------------------------------------------- intents


def create_intent(
    session: Session,
    *,
    city_id: uuid.UUID,
    payer_id: uuid.UUID,
    amount: int,
    currency: str,
    purpose: str,
    description: str,
    settings: Settings,
    store_id: uuid.UUID | None = None,
    reference: str | None = None,
    expires_in: dt.timedelta | None = None,
    now: dt.datetime | None = None,
) -> PaymentIntent:
    """A new intent in ``requires_payment``; it closes by itself ``payment_timeout_minutes`` (or ``expires_in``)
    later if unpaid."""
    now = _now(now)
    if not isinstance(amount, int) or isinstance(amount, bool) or not 0 < amount <= MAX_AMOUNT:
        raise e.invalid_amount(f"The amount must be between 1 and {MAX_AMOUNT} fen.")
    intent = PaymentIntent(
        id=None,
        city_id=city_id,
        purpose=purpose,
        reference=reference,
        payer_person_id=payer_id,
        store_id=store_id,
        amount=amount,
        currency=currency,
        description=description[:128],
        status=IntentStatus.REQUIRES_PAYMENT.value,
        attempts=0,
        close_requested=False,
        expires_at=now + (expires_in or dt.timedelta(minutes=settings.payment_timeout_minutes)),
        refunded_amount=0,
        checks=0,
        settled_merchant=0,
        settled_commission=0,
        settled_courier=0,
        created_at=now,
        updated_at=now,
    )
    intent.id = uuid7()
    session.add(intent)
    session.flush()
    wake_worker_after_commit(session)  # the expiry sweep should see it
    return intent


def create_store_payment(
    session: Session,
    *,
    payer_id: uuid.UUID,
    store_id: uuid.UUID,
    amount: int,
    note: str,
    settings: Settings,
    now: dt.datetime | None = None,
) -> PaymentIntent:
    """A customer pays a shop at its counter: the amount the shop asks, to be settled to the shop (T+1)."""
    store = stores.store_for_sale(session, store_id)
    if store is None:
        raise e.unknown_store()
    description = store.name if not note.strip() else f"{store.name} · {note.strip()}"
    return create_intent(
        session,
        city_id=store.city_id,
        payer_id=payer_id,
        amount=amount,
        currency=store.currency,
        purpose=Purpose.STORE_PAYMENT,
        description=description,
        store_id=store_id,
        settings=settings,
        now=now,
    )


def create_top_up(
    session: Session,
    *,
    payer_id: uuid.UUID,
    city_id: uuid.UUID,
    currency: str,
    amount: int,
    settings: Settings,
    now: dt.datetime | None = None,
) -> PaymentIntent:
    return create_intent(
        session,
        city_id=city_id,
        payer_id=payer_id,
        amount=amount,
        currency=currency,
        purpose=Purpose.TOP_UP,
        description="Wallet top-up",
        settings=settings,
        now=now,
    )


def pay_from_wallet(
    session: Session, intent_id: uuid.UUID, payer_id: uuid.UUID, now: dt.datetime | None = None
) -> PaymentIntent:
    """Pay from the payer's wallet balance, at once. Insufficient funds change nothing (402)."""
    now = _now(now)
    intent = get_intent(session, intent_id, payer_id=payer_id)
    if intent.status == IntentStatus.SUCCEEDED and intent.method == METHOD_WALLET:
        return intent  # a retry of a payment that went through
    if intent.purpose == Purpose.TOP_UP:
        raise e.not_payable("a top-up, paid through a channel only")
    if intent.status != IntentStatus.REQUIRES_PAYMENT:
        raise e.not_payable(intent.status)
    if intent.expires_at <= now:
        raise e.expired()
    wallet = chart.customer_wallet(payer_id, intent.currency)
    target = _target_account(intent)
    try:
        # A savepoint, so that a refusal leaves nothing behind even for a caller that catches the error.
        with session.begin_nested():
            chart.ensure(session, [wallet, target], now)
            result = _pay_from_wallet_once(session, intent, wallet, target, now)
    except _AlreadyMoved:
        intent = get_intent(session, intent_id)
        if intent.status == IntentStatus.SUCCEEDED and intent.method == METHOD_WALLET:
            return intent
        raise e.not_payable(intent.status) from None
    except _Refused as refused:
        available = wallet_balance(session, payer_id, intent.currency).available
        raise e.insufficient_funds(available, intent.amount) from refused
    _must([result], "a wallet payment")
    _announce(session, intent_id, now)
    return get_intent(session, intent_id)


class _AlreadyMoved(Exception):
    pass


class _Refused(Exception):
    pass


def _pay_from_wallet_once(
    session: Session, intent: PaymentIntent, wallet: chart.AccountSpec, target: chart.AccountSpec, now: dt.datetime
) -> CreateTransferResult:
    if not _transition(
        session,
        intent,
        IntentStatus.REQUIRES_PAYMENT,
        IntentEvent.PAY_FROM_WALLET,
        now,
        PaymentIntent.expires_at > now,
        method=METHOD_WALLET,
        succeeded_at=now,
        next_check_at=None,
    ):
        raise _AlreadyMoved
    (result,) = _transfer(
        session,
        [
            Transfer(
                id=chart.transfer_id("wallet-payment", intent.id),
                debit_account_id=wallet.id,
                credit_account_id=target.id,
                amount=intent.amount,
                currency=intent.currency,
                code=chart.TransferCode.PAYMENT,
                user_data_128=intent.id,
            )
        ],
        now,
    )
    if result == CreateTransferResult.EXCEEDS_CREDITS:
        raise _Refused(result)
    return result


def _out_trade_no(intent_id: uuid.UUID, attempt: int) -> str:
    return base64.b32encode(intent_id.bytes).decode().rstrip("=").lower() + f"{attempt:02d}"


def start_channel(
    session: Session, intent_id: uuid.UUID, payer_id: uuid.UUID, channel: str, now: dt.datetime | None = None
) -> PaymentIntent:
    """Open a trade at ``channel`` for the intent (``processing``); the customer then pays at its cashier
    (``checkout_url``). Confirming again with the same channel while processing is a no-op."""
    now = _now(now)
    if channel not in CHANNELS:
        raise e.unknown_channel(channel)
    intent = get_intent(session, intent_id, payer_id=payer_id)
    if intent.status == IntentStatus.PROCESSING and intent.method == channel and not intent.close_requested:
        return intent
    if intent.status != IntentStatus.REQUIRES_PAYMENT:
        raise e.not_payable(intent.status)
    if intent.expires_at <= now:
        raise e.expired()
    if intent.currency != "CNY":
        raise e.currency_mismatch("CNY")
    if intent.attempts >= MAX_CHANNEL_ATTEMPTS:
        raise e.not_payable("out of attempts")
    attempt = intent.attempts + 1
    trade_no = _out_trade_no(intent.id, attempt)
    if not _transition(
        session,
        intent,
        IntentStatus.REQUIRES_PAYMENT,
        IntentEvent.START_CHANNEL,
        now,
        PaymentIntent.attempts == intent.attempts,
        PaymentIntent.expires_at > now,
        method=channel,
        attempts=attempt,
        trade_no=trade_no,
        next_check_at=now + FIRST_CHECK,
        checks=0,
    ):
        intent = get_intent(session, intent_id)
        if intent.status == IntentStatus.PROCESSING and intent.method == channel:
            return intent
        raise e.not_payable(intent.status)
    session.add(
        ChannelTrade(
            city_id=intent.city_id,
            intent_id=intent.id,
            channel=channel,
            out_trade_no=trade_no,
            amount=intent.amount,
            status="waiting",
            paid_amount=0,
            accepted=False,
            created_at=now,
        )
    )
    session.flush()
    wake_worker_after_commit(session)
    return get_intent(session, intent_id)


def cancel(
    session: Session,
    intent_id: uuid.UUID,
    *,
    payer_id: uuid.UUID | None = None,
    reason: CancellationReason = CancellationReason.REQUESTED,
    now: dt.datetime | None = None,
) -> PaymentIntent:
    """Cancel an unpaid intent. One with a live channel trade stays ``processing`` until the channel confirms
    the trade closed (then ``canceled``), or succeeds if the customer paid first."""
    now = _now(now)
    intent = get_intent(session, intent_id, payer_id=payer_id)
    if intent.status == IntentStatus.CANCELED:
        return intent
    if intent.status == IntentStatus.REQUIRES_PAYMENT:
        if _transition(
            session,
            intent,
            IntentStatus.REQUIRES_PAYMENT,
            IntentEvent.CANCEL,
            now,
            canceled_at=now,
            cancellation_reason=reason.value,
        ):
            _announce(session, intent_id, now)
            return get_intent(session, intent_id)
        return cancel(session, intent_id, payer_id=payer_id, reason=reason, now=now)  # it moved: look again
    if intent.status == IntentStatus.PROCESSING:
        session.execute(
            update(PaymentIntent)
            .where(PaymentIntent.id == intent.id, PaymentIntent.status == IntentStatus.PROCESSING.value)
            .values(close_requested=True, cancellation_reason=reason.value, next_check_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        wake_worker_after_commit(session)
        return get_intent(session, intent_id)
    raise e.not_cancelable(intent.status)


def expire_unpaid(session: Session, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Cancel intents still ``requires_payment`` at their deadline; processing ones get a close asked for."""
    now = _now(now)
    due = list(
        session.scalars(
            select(PaymentIntent.id)
            .where(PaymentIntent.status == IntentStatus.REQUIRES_PAYMENT.value, PaymentIntent.expires_at <= now)
            .limit(limit)
        )
    )
    if due:
        session.execute(
            update(PaymentIntent)
            .where(PaymentIntent.id.in_(due), PaymentIntent.status == IntentStatus.REQUIRES_PAYMENT.value)
            .values(
                status=next_status(IntentStatus.REQUIRES_PAYMENT, IntentEvent.EXPIRE).value,
                canceled_at=now,
                cancellation_reason=CancellationReason.EXPIRED.value,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        for intent_id in due:
            _announce(session, intent_id, now)
    return len(due)


# ---------------------------------------------------------------------------------------------------- channel outcomes


class UnknownTrade(Exception):
    """A correctly signed callback about a trade we have no record of."""


def _returning_refund(
    session: Session, intent: PaymentIntent, trade: ChannelTrade, amount: int, now: dt.datetime
) -> None:
    """Money a channel collected that no intent accepted (a second payment, a wrong amount, a closed intent)
    goes into the escrow and straight back out through the channel, in full."""
    clearing = chart.channel_clearing(trade.channel, intent.city_id, intent.currency)
    escrow = chart.sales_escrow(intent.city_id, intent.currency)
    chart.ensure(session, [clearing, escrow], now)
    _must(
        _transfer(
            session,
            [
                Transfer(
                    id=chart.transfer_id("channel-payment", trade.id),
                    debit_account_id=clearing.id,
                    credit_account_id=escrow.id,
                    amount=amount,
                    currency=intent.currency,
                    code=chart.TransferCode.RETURN_UNACCEPTED,
                    user_data_128=intent.id,
                )
            ],
            now,
        ),
        "an unaccepted channel payment",
    )
    _record_refund(
        session, intent, trade, source=escrow, refund_no=f"return-{trade.out_trade_no}", amount=amount,
        reason="unaccepted_payment", requested_by=None, now=now,
    )
    log.warning("channel_payment_returned", intent=str(intent.id), trade=trade.out_trade_no, amount=amount)


def apply_channel_trade(session: Session, info: ch.ChannelTrade, now: dt.datetime | None = None) -> str:
    """Apply what a channel says about one of our trades (from a verified callback or a query). Idempotent:
    returns ``paid``, ``returned``, ``closed`` or ``no_change``."""
    now = _now(now)
    trade = session.scalar(
        select(ChannelTrade).where(ChannelTrade.out_trade_no == info.out_trade_no).execution_options(
            populate_existing=True
        )
    )
    if trade is None or trade.channel != info.channel.value:
        raise UnknownTrade(info.out_trade_no)
    if info.status == ch.TradeStatus.PAID:
        return _apply_paid(session, trade, info, now)
    if info.status == ch.TradeStatus.CLOSED:
        return _apply_closed(session, trade, now)
    return "no_change"


def _apply_paid(session: Session, trade: ChannelTrade, info: ch.ChannelTrade, now: dt.datetime) -> str:
    moved = session.execute(
        update(ChannelTrade)
        .where(ChannelTrade.id == trade.id, ChannelTrade.status.in_(("waiting", "closed")))
        .values(
            status="paid",
            paid_amount=info.amount_fen,
            channel_trade_no=info.channel_trade_no,
            paid_at=info.paid_at or now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return "no_change"  # this payment was applied already (a duplicate callback, or the resolver got there)
    intent = get_intent(session, trade.intent_id)
    right_amount = info.amount_fen == trade.amount == intent.amount
    live = intent.trade_no == trade.out_trade_no
    accepted = (
        right_amount
        and live
        and _transition(
            session,
            intent,
            IntentStatus.PROCESSING,
            IntentEvent.CHANNEL_PAID,
            now,
            PaymentIntent.trade_no == trade.out_trade_no,
            succeeded_at=now,
            next_check_at=None,
        )
    )
    if not accepted:
        failed = live and not right_amount and _transition(
            session,
            intent,
            IntentStatus.PROCESSING,
            IntentEvent.CHANNEL_PAID_WRONG_AMOUNT,
            now,
            PaymentIntent.trade_no == trade.out_trade_no,
            failure_code="amount_mismatch",
            next_check_at=None,
        )
        _returning_refund(session, intent, trade, info.amount_fen, now)
        if failed:
            _announce(session, intent.id, now)
        return "returned"
    clearing = chart.channel_clearing(trade.channel, intent.city_id, intent.currency)
    target = _target_account(intent)
    chart.ensure(session, [clearing, target], now)
    code = chart.TransferCode.TOP_UP if intent.purpose == Purpose.TOP_UP else chart.TransferCode.PAYMENT
    _must(
        _transfer(
            session,
            [
                Transfer(
                    id=chart.transfer_id("channel-payment", trade.id),
                    debit_account_id=clearing.id,
                    credit_account_id=target.id,
                    amount=intent.amount,
                    currency=intent.currency,
                    code=code,
                    user_data_128=intent.id,
                )
            ],
            now,
        ),
        "a channel payment",
    )
    session.execute(
        update(ChannelTrade).where(ChannelTrade.id == trade.id).values(accepted=True).execution_options(
            synchronize_session=False
        )
    )
    _announce(session, intent.id, now)
    return "paid"


def _apply_closed(session: Session, trade: ChannelTrade, now: dt.datetime) -> str:
    moved = session.execute(
        update(ChannelTrade)
        .where(ChannelTrade.id == trade.id, ChannelTrade.status == "waiting")
        .values(status="closed", closed_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return "no_change"  # already closed, or paid (a paid trade stays paid; refunds are tracked apart)
    intent = get_intent(session, trade.intent_id)
    if intent.status != IntentStatus.PROCESSING or intent.trade_no != trade.out_trade_no:
        return "closed"
    expired = now >= intent.expires_at
    event = closed_event(intent.close_requested or expired)
    if event == IntentEvent.CHANNEL_CLOSED_AS_ASKED:
        reason = intent.cancellation_reason or CancellationReason.EXPIRED.value
        values: dict[str, Any] = {"canceled_at": now, "cancellation_reason": reason, "next_check_at": None}
    else:
        values = {"trade_no": None, "method": None, "next_check_at": None}
    if _transition(
        session, intent, IntentStatus.PROCESSING, event, now, PaymentIntent.trade_no == trade.out_trade_no, **values
    ):
        _announce(session, intent.id, now)
    return "closed"


def accept_notification(session: Session, notification: ch.PaymentNotification, now: dt.datetime | None = None) -> str:
    """A callback whose signature checked out: apply it once. (The endpoint verified it on the raw body.)"""
    return apply_channel_trade(session, notification.trade, now)


# ---------------------------------------------------------------------------------------------------- talking to channels


def _channel(name: str, settings: Settings) -> ch.Channel:
    from o2o.wallet.channels import get_channel

    return get_channel(name, settings)


def checkout_token(settings: Settings, intent_id: uuid.UUID) -> str:
    """A token that lets whoever holds the hand-off link open the intent's cashier without a page session (an
    app with a bearer token opens ``next_action.url`` in a browser). The cashier itself is such a bearer link at
    the real providers too; the token only proves the link came from us."""
    mac = hmac.new(settings.secret_key.encode(), f"checkout:{intent_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac[:18]).decode()


def checkout_token_valid(settings: Settings, intent_id: uuid.UUID, token: str) -> bool:
    return hmac.compare_digest(checkout_token(settings, intent_id), token)


def trade_request(settings: Settings, intent: PaymentIntent) -> ch.TradeRequest:
    base = settings.base_url
    assert intent.trade_no is not None and intent.method is not None
    return ch.TradeRequest(
        out_trade_no=intent.trade_no,
        amount_fen=intent.amount,
        subject=intent.description,
        expires_at=intent.expires_at,
        notify_url=f"{base}/api/wallet/channels/{intent.method}/notify",
        return_url=f"{base}/wallet/payments/{intent.id}/return",
    )


def checkout_url(db: Database, settings: Settings, intent_id: uuid.UUID) -> str:
    """The cashier URL for a processing intent. Runs outside any transaction (it may call the channel)."""
    with db.session() as session:
        intent = get_intent(session, intent_id)
        if intent.status != IntentStatus.PROCESSING or intent.close_requested:
            raise e.not_payable(intent.status)
        request = trade_request(settings, intent)
        method = intent.method
    assert method is not None
    try:
        return _channel(method, settings).checkout_url(request)
    except ch.OutcomeUnknown:
        raise e.channel_unavailable() from None
    except ch.ChannelRefused as refused:
        log.warning("checkout_refused", intent=str(intent_id), code=refused.code)
        raise e.not_payable(f"refused by the channel ({refused.code})") from None


def resolve_intent(db: Database, settings: Settings, intent_id: uuid.UUID, now: dt.datetime | None = None) -> str:
    """Settle an intent's unknown outcome by asking the channel (and closing the trade when the intent expired or
    a cancellation was asked for). Runs outside any transaction. Returns what happened."""
    now = _now(now)
    with db.session() as session:
        intent = get_intent(session, intent_id)
        if intent.status != IntentStatus.PROCESSING or intent.trade_no is None or intent.method is None:
            return "not_processing"
        trade_no, method, checks = intent.trade_no, intent.method, intent.checks
        close_seen = intent.close_requested
        must_close = close_seen or now >= intent.expires_at
    channel = _channel(method, settings)
    try:
        info = channel.query(trade_no)
        if info.status in (ch.TradeStatus.WAITING, ch.TradeStatus.NOT_FOUND) and must_close:
            info = channel.close(trade_no)
    except ch.ChannelError as failure:
        log.warning("channel_query_failed", intent=str(intent_id), error=str(failure))
        _reschedule(db, intent_id, trade_no, checks, now, close_seen)
        return "unknown"
    if info.status == ch.TradeStatus.NOT_FOUND and must_close:
        # Closed or never opened: the signed request expires with the intent, and a payment that still
        # arrived later would be returned (``_apply_paid`` on a closed trade).
        info = ch.ChannelTrade(channel=info.channel, out_trade_no=trade_no, status=ch.TradeStatus.CLOSED, amount_fen=0)
    if info.status in (ch.TradeStatus.PAID, ch.TradeStatus.CLOSED):
        with db.session() as session:
            return apply_channel_trade(session, info, now)
    _reschedule(db, intent_id, trade_no, checks, now, close_seen)
    return "waiting"


def _reschedule(
    db: Database, intent_id: uuid.UUID, trade_no: str, checks: int, now: dt.datetime, close_seen: bool
) -> None:
    """Push the next look back. Not if a cancellation came while we asked the channel (``close_requested``
    changed since we read it): the cancellation's own ``next_check_at = now`` must stand, or its close would
    wait a whole back-off (up to ``MAX_CHECK_INTERVAL``) with the trade still payable."""
    with db.session() as session:
        intent = get_intent(session, intent_id)
        when = now + _backoff(checks)
        if not intent.close_requested and now < intent.expires_at:
            when = min(when, intent.expires_at)
        session.execute(
            update(PaymentIntent)
            .where(
                PaymentIntent.id == intent_id,
                PaymentIntent.trade_no == trade_no,
                PaymentIntent.close_requested == close_seen,
            )
            .values(next_check_at=when, checks=PaymentIntent.checks + 1)
            .execution_options(synchronize_session=False)
        )


def _claim_due(db: Database, model: Any, status: str, now: dt.datetime, limit: int) -> list[uuid.UUID]:
    """Rows of ``model`` in ``status`` whose ``next_check_at`` is due, claimed by pushing it ``CLAIM`` ahead with a
    conditional UPDATE on the value seen, so that several workers never work on the same row at once."""
    claimed: list[uuid.UUID] = []
    with db.session() as session:
        due = session.execute(
            select(model.id, model.next_check_at)
            .where(model.status == status, model.next_check_at <= now)
            .order_by(model.next_check_at)
            .limit(limit)
        ).all()
        for row_id, seen in due:
            moved = session.execute(
                update(model)
                .where(model.id == row_id, model.status == status, model.next_check_at == seen)
                .values(next_check_at=now + CLAIM)
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount == 1:
                claimed.append(row_id)
    return claimed


def claim_due_intents(db: Database, now: dt.datetime | None = None, limit: int = 50) -> list[uuid.UUID]:
    """Processing intents due for a look at the channel (claimed)."""
    return _claim_due(db, PaymentIntent, IntentStatus.PROCESSING.value, _now(now), limit)


# ---------------------------------------------------------------------------------------------------- refunds


def _clawback_legs(intent: PaymentIntent, refund_id: uuid.UUID, merchant: int, commission: int) -> list[Transfer]:
    """Take a settled sale's refund back from the store and the platform into the escrow (linked to what follows)."""
    assert intent.store_id is not None
    escrow = chart.sales_escrow(intent.city_id, intent.currency)
    legs = [
        (chart.merchant_receivable(intent.store_id, intent.city_id, intent.currency), merchant, "clawback-merchant"),
        (chart.platform_revenue(intent.city_id, intent.currency), commission, "clawback-commission"),
    ]
    return [
        Transfer(
            id=chart.transfer_id(tag, refund_id),
            debit_account_id=spec.id,
            credit_account_id=escrow.id,
            amount=amount,
            currency=intent.currency,
            code=chart.TransferCode.CLAWBACK,
            flags=TransferFlags.LINKED,
            user_data_128=intent.id,
        )
        for spec, amount, tag in legs
        if amount > 0
    ]


def _record_refund(
    session: Session,
    intent: PaymentIntent,
    trade: ChannelTrade | None,
    *,
    source: chart.AccountSpec,
    refund_no: str,
    amount: int,
    reason: str,
    requested_by: uuid.UUID | None,
    now: dt.datetime,
    reversed_merchant: int = 0,
    reversed_commission: int = 0,
) -> Refund:
    """Write a refund and move its money: to the wallet at once, or reserved (pending) towards the channel's
    clearing account until the channel pays it out. A settled sale's refund first takes the money back from the
    store and the platform, in the same linked batch, so all of it happens or none."""
    via_channel = trade is not None
    refund = Refund(
        id=uuid7(),
        city_id=intent.city_id,
        intent_id=intent.id,
        trade_id=trade.id if trade is not None else None,
        refund_no=refund_no,
        amount=amount,
        currency=intent.currency,
        reason=reason[:200],
        destination="channel" if via_channel else "wallet",
        status="pending" if via_channel else "succeeded",
        requested_by=requested_by,
        succeeded_at=None if via_channel else now,
        next_check_at=now if via_channel else None,
        checks=0,
        created_at=now,
        reversed_merchant=reversed_merchant,
        reversed_commission=reversed_commission,
    )
    refund.out_refund_no = refund.id.hex
    session.add(refund)
    session.flush()
    if trade is not None:
        target = chart.channel_clearing(trade.channel, intent.city_id, intent.currency)
        last = Transfer(
            id=chart.transfer_id("refund-reserve", refund.id),
            debit_account_id=source.id,
            credit_account_id=target.id,
            amount=amount,
            currency=intent.currency,
            code=chart.TransferCode.REFUND,
            flags=TransferFlags.PENDING,
            user_data_128=intent.id,
        )
    else:
        target = chart.customer_wallet(intent.payer_person_id, intent.currency)
        last = Transfer(
            id=chart.transfer_id("refund", refund.id),
            debit_account_id=source.id,
            credit_account_id=target.id,
            amount=amount,
            currency=intent.currency,
            code=chart.TransferCode.REFUND,
            user_data_128=intent.id,
        )
    clawback = _clawback_legs(intent, refund.id, reversed_merchant, reversed_commission) if (
        reversed_merchant or reversed_commission
    ) else []
    accounts = [target, source]
    if clawback:
        assert intent.store_id is not None
        accounts += [chart.merchant_receivable(intent.store_id, intent.city_id, intent.currency),
                     chart.platform_revenue(intent.city_id, intent.currency)]
    chart.ensure(session, accounts, now)
    results = _transfer(session, [*clawback, last], now)
    if CreateTransferResult.EXCEEDS_CREDITS in results:
        if clawback and results[0] == CreateTransferResult.EXCEEDS_CREDITS:
            raise e.merchant_balance_insufficient()
        found = ledger.balances(session, [source.id]).get(source.id)
        raise e.insufficient_funds(found.available if found else 0, amount)
    _must(results, "a refund")
    if via_channel:
        wake_worker_after_commit(session)
    return refund


def refund(
    session: Session,
    intent_id: uuid.UUID,
    *,
    refund_no: str,
    amount: int,
    reason: str = "",
    to_wallet: bool | None = None,
    requested_by: uuid.UUID | None = None,
    now: dt.datetime | None = None,
) -> Refund:
    """Refund ``amount`` of a paid intent, idempotent by ``refund_no`` (the same number and amount answer the
    first refund; a different amount is refused). Never more than what was paid, even with refunds racing.

    A payment from the wallet goes back to the wallet at once. A payment through a channel goes back through the
    channel (``to_wallet=False``, the default) or, faster, to the wallet (``to_wallet=True``). A top-up can only
    go back through its channel, and only what is still in the wallet.
    """
    now = _now(now)
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise e.invalid_amount("A refund is a positive number of fen.")
    intent = get_intent(session, intent_id)
    existing = session.scalar(select(Refund).where(Refund.intent_id == intent_id, Refund.refund_no == refund_no))
    if existing is not None:
        if existing.amount != amount:
            raise e.refund_no_reused()
        return existing
    if intent.status != IntentStatus.SUCCEEDED:
        raise e.not_refundable(f"This payment is {intent.status}; only a paid one can be refunded.")
    via_channel = intent.method in CHANNELS and not (to_wallet and intent.purpose != Purpose.TOP_UP)
    # A savepoint: a refusal part-way (a top-up already spent) leaves nothing behind. A lost race (the intent
    # moved under us) reads again and retries; each retry sees a newer state, so this ends.
    for _ in range(20):
        try:
            with session.begin_nested():
                return _refund_once(session, intent, refund_no, amount, reason, via_channel, requested_by, now)
        except _IntentMoved:
            intent = get_intent(session, intent_id)
            existing = session.scalar(select(Refund).where(Refund.intent_id == intent_id, Refund.refund_no == refund_no))
            if existing is not None:
                if existing.amount != amount:
                    raise e.refund_no_reused() from None
                return existing
    raise e.refund_in_progress()


def _refund_once(
    session: Session,
    intent: PaymentIntent,
    refund_no: str,
    amount: int,
    reason: str,
    via_channel: bool,
    requested_by: uuid.UUID | None,
    now: dt.datetime,
) -> Refund:
    """Reserve room for the refund on the intent (a conditional UPDATE against what was read), then move money.

    Before settlement the money is still in the escrow. After it, the refund comes back from the store's share
    and the platform's commission in proportion (the courier keeps the fee for work done): the cumulative
    commission taken back is always ``round(refunded_after_settlement * commission / (merchant + commission))``,
    so several partial refunds add up to exactly the full reversal."""
    seen_refunded, seen_commission = intent.refunded_amount, intent.reversed_commission
    conditions = [
        PaymentIntent.id == intent.id,
        PaymentIntent.status == IntentStatus.SUCCEEDED.value,
        PaymentIntent.refunded_amount == seen_refunded,
        PaymentIntent.reversed_commission == seen_commission,
    ]
    back_merchant = back_commission = 0
    if intent.settled_at is None:
        limit = intent.amount
        conditions.append(PaymentIntent.settled_at.is_(None))
    else:
        limit = intent.amount - intent.settled_courier
        pool = intent.settled_merchant + intent.settled_commission
        taken = intent.reversed_merchant + intent.reversed_commission
        if amount > pool - taken:
            raise e.refund_exceeds(pool - taken)
        target = ((taken + amount) * intent.settled_commission * 2 + pool) // (2 * pool)  # round half up
        back_commission = target - intent.reversed_commission
        back_merchant = amount - back_commission
        conditions.append(PaymentIntent.settled_at.is_not(None))
    if seen_refunded + amount > limit:
        raise e.refund_exceeds(limit - seen_refunded)
    moved = session.execute(
        update(PaymentIntent)
        .where(*conditions)
        .values(
            refunded_amount=PaymentIntent.refunded_amount + amount,
            reversed_merchant=PaymentIntent.reversed_merchant + back_merchant,
            reversed_commission=PaymentIntent.reversed_commission + back_commission,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise _IntentMoved
    source = _target_account(intent)
    trade = None
    if via_channel:
        trade = session.scalar(
            select(ChannelTrade).where(ChannelTrade.intent_id == intent.id, ChannelTrade.accepted.is_(True))
        )
        assert trade is not None, "a channel-paid intent has its accepted trade"
    return _record_refund(
        session, intent, trade, source=source, refund_no=refund_no, amount=amount, reason=reason,
        requested_by=requested_by, now=now, reversed_merchant=back_merchant, reversed_commission=back_commission,
    )


class _IntentMoved(Exception):
    """The intent changed between our read and our conditional update (another refund, a settlement)."""


def claim_due_refunds(db: Database, now: dt.datetime | None = None, limit: int = 50) -> list[uuid.UUID]:
    """Channel refunds due to be paid out or looked up (claimed)."""
    return _claim_due(db, Refund, "pending", _now(now), limit)


def process_refund(db: Database, settings: Settings, refund_id: uuid.UUID, now: dt.datetime | None = None) -> str:
    """Ask the channel to pay a pending refund out (outside any transaction), then post or void its reservation.
    The refund call is idempotent by ``out_refund_no``; after a first unknown outcome we query before asking."""
    now = _now(now)
    with db.session() as session:
        record = session.get(Refund, refund_id)
        if record is None or record.status != "pending" or record.trade_id is None:
            return "not_pending"
        trade = session.get(ChannelTrade, record.trade_id)
        assert trade is not None
        request = ch.RefundRequest(
            out_trade_no=trade.out_trade_no,
            out_refund_no=record.out_refund_no,
            refund_fen=record.amount,
            total_fen=trade.paid_amount or trade.amount,
            reason=record.reason,
        )
        channel_name, checks = trade.channel, record.checks
    channel = _channel(channel_name, settings)
    try:
        answer = None
        if checks > 0:
            answer = channel.query_refund(request.out_trade_no, request.out_refund_no)
        if answer is None or answer.status == ch.RefundStatus.NOT_FOUND:
            answer = channel.refund(request)
    except ch.ChannelRefused as refused:
        with db.session() as session:
            return _finish_refund(session, refund_id, succeeded=False, failure=refused.code, now=now)
    except ch.ChannelError as failure:
        log.warning("channel_refund_unknown", refund=str(refund_id), error=str(failure))
        _reschedule_refund(db, refund_id, checks, now)
        return "unknown"
    if answer.status == ch.RefundStatus.SUCCEEDED:
        with db.session() as session:
            return _finish_refund(
                session, refund_id, succeeded=True, channel_refund_no=answer.channel_refund_no,
                at=answer.succeeded_at, now=now,
            )
    if answer.status == ch.RefundStatus.FAILED:
        with db.session() as session:
            return _finish_refund(session, refund_id, succeeded=False, failure="channel_failed", now=now)
    _reschedule_refund(db, refund_id, checks, now)
    return "processing"


def _reschedule_refund(db: Database, refund_id: uuid.UUID, checks: int, now: dt.datetime) -> None:
    with db.session() as session:
        session.execute(
            update(Refund)
            .where(Refund.id == refund_id, Refund.status == "pending")
            .values(next_check_at=now + _backoff(checks), checks=Refund.checks + 1)
            .execution_options(synchronize_session=False)
        )


def _finish_refund(
    session: Session,
    refund_id: uuid.UUID,
    *,
    succeeded: bool,
    now: dt.datetime,
    failure: str | None = None,
    channel_refund_no: str | None = None,
    at: dt.datetime | None = None,
) -> str:
    values: dict[str, Any] = {"next_check_at": None}
    if succeeded:
        values |= {"status": "succeeded", "succeeded_at": at or now, "channel_refund_no": channel_refund_no}
    else:
        values |= {"status": "failed", "failure_code": failure}
    moved = session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.status == "pending")
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return "no_change"
    record = session.get(Refund, refund_id, populate_existing=True)
    assert record is not None
    flag = TransferFlags.POST_PENDING_TRANSFER if succeeded else TransferFlags.VOID_PENDING_TRANSFER
    _must(
        _transfer(
            session,
            [
                Transfer(
                    id=chart.transfer_id("refund-post" if succeeded else "refund-void", record.id),
                    pending_id=chart.transfer_id("refund-reserve", record.id),
                    flags=flag,
                )
            ],
            now,
        ),
        "a refund's outcome",
    )
    if not succeeded and record.reason != "unaccepted_payment":
        session.execute(
            update(PaymentIntent)
            .where(PaymentIntent.id == record.intent_id)
            .values(
                refunded_amount=PaymentIntent.refunded_amount - record.amount,
                reversed_merchant=PaymentIntent.reversed_merchant - record.reversed_merchant,
                reversed_commission=PaymentIntent.reversed_commission - record.reversed_commission,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if record.reversed_merchant or record.reversed_commission:
            _resettle(session, record, now)
    log.info("refund_finished", refund=str(refund_id), succeeded=succeeded, failure=failure)
    return "succeeded" if succeeded else "failed"


def _resettle(session: Session, record: Refund, now: dt.datetime) -> None:
    """A settled sale's refund failed at the channel: what it took back goes to the store and the platform again."""
    intent = get_intent(session, record.intent_id)
    assert intent.store_id is not None
    escrow = chart.sales_escrow(intent.city_id, intent.currency)
    legs = [
        (chart.merchant_receivable(intent.store_id, intent.city_id, intent.currency), record.reversed_merchant,
         chart.TransferCode.SETTLE_MERCHANT, "resettle-merchant"),
        (chart.platform_revenue(intent.city_id, intent.currency), record.reversed_commission,
         chart.TransferCode.SETTLE_COMMISSION, "resettle-commission"),
    ]
    _pay_out_of_escrow(session, intent, escrow, legs, record.id, now, "a re-settlement")


Leg = tuple[chart.AccountSpec, int, chart.TransferCode, str]


def _pay_out_of_escrow(
    session: Session,
    intent: PaymentIntent,
    escrow: chart.AccountSpec,
    legs: list[Leg],
    key: uuid.UUID,
    now: dt.datetime,
    what: str,
) -> None:
    """Move money from the escrow to each leg's account in one linked batch (all or nothing); empty legs are
    skipped (the ledger refuses zero amounts). Transfer ids are the legs' tags on ``key``: once only."""
    legs = [leg for leg in legs if leg[1] > 0]
    chart.ensure(session, [escrow, *(leg[0] for leg in legs)], now)
    batch = [
        Transfer(
            id=chart.transfer_id(tag, key),
            debit_account_id=escrow.id,
            credit_account_id=spec.id,
            amount=amount,
            currency=intent.currency,
            code=code,
            flags=TransferFlags.LINKED if i < len(legs) - 1 else TransferFlags.NONE,
            user_data_128=intent.id,
        )
        for i, (spec, amount, code, tag) in enumerate(legs)
    ]
    if batch:
        _must(_transfer(session, batch, now), what)


# ---------------------------------------------------------------------------------------------------- settlement


def settle(
    session: Session,
    intent_id: uuid.UUID,
    *,
    courier_person_id: uuid.UUID | None = None,
    courier_fee: int = 0,
    now: dt.datetime | None = None,
) -> PaymentIntent:
    """A sale completed: split what is left of its payment (paid minus refunded) into the merchant's share, the
    platform's commission (the merchant's rate) and the courier's fee, in one linked batch. Once only."""
    now = _now(now)
    intent = get_intent(session, intent_id)
    if intent.settled_at is not None:
        return intent
    if intent.status != IntentStatus.SUCCEEDED or intent.store_id is None:
        raise e.not_settleable("Only a paid sale of a store can be settled.")
    if courier_fee < 0 or (courier_fee > 0 and courier_person_id is None):
        raise e.invalid_amount("A courier's fee needs the courier and cannot be negative.")
    pending = session.scalar(
        select(func.count()).select_from(Refund).where(Refund.intent_id == intent.id, Refund.status == "pending")
    )
    if pending:
        raise e.refund_in_progress()
    store = stores.store_for_sale(session, intent.store_id)
    if store is None:
        raise e.unknown_store()
    net = intent.amount - intent.refunded_amount
    if courier_fee > net:
        raise e.not_settleable(f"The courier's fee exceeds what is left of the sale ({net} fen).")
    merchant, commission, courier = settlement_split(net, store.commission_rate_bp, courier_fee)
    moved = session.execute(
        update(PaymentIntent)
        .where(
            PaymentIntent.id == intent.id,
            PaymentIntent.settled_at.is_(None),
            PaymentIntent.refunded_amount == intent.refunded_amount,
            PaymentIntent.status == IntentStatus.SUCCEEDED.value,
            ~exists().where(Refund.intent_id == intent.id, Refund.status == "pending"),
        )
        .values(
            settled_at=now,
            courier_person_id=courier_person_id,
            settled_merchant=merchant,
            settled_commission=commission,
            settled_courier=courier,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return settle(session, intent_id, courier_person_id=courier_person_id, courier_fee=courier_fee, now=now)
    escrow = chart.sales_escrow(intent.city_id, intent.currency)
    legs: list[Leg] = [
        (chart.merchant_receivable(intent.store_id, intent.city_id, intent.currency), merchant,
         chart.TransferCode.SETTLE_MERCHANT, "settle-merchant"),
        (chart.platform_revenue(intent.city_id, intent.currency), commission,
         chart.TransferCode.SETTLE_COMMISSION, "settle-commission"),
    ]
    if courier_person_id is not None:
        legs.append(
            (chart.courier_payable(courier_person_id, intent.city_id, intent.currency), courier,
             chart.TransferCode.SETTLE_COURIER, "settle-courier")
        )
    _pay_out_of_escrow(session, intent, escrow, legs, intent.id, now, "a settlement")
    return get_intent(session, intent_id)


def settle_due_store_payments(
    session: Session, before: dt.datetime, now: dt.datetime | None = None, limit: int = 200
) -> int:
    """Shop payments settle T+1: those paid before ``before`` (the city's last local midnight) and not settled."""
    due = list(
        session.scalars(
            select(PaymentIntent.id)
            .where(
                PaymentIntent.purpose == Purpose.STORE_PAYMENT,
                PaymentIntent.status == IntentStatus.SUCCEEDED.value,
                PaymentIntent.settled_at.is_(None),
                PaymentIntent.succeeded_at < before,
                ~exists().where(Refund.intent_id == PaymentIntent.id, Refund.status == "pending"),
            )
            .limit(limit)
        )
    )
    for intent_id in due:
        settle(session, intent_id, now=now)
    return len(due)


# ---------------------------------------------------------------------------------------------------- the wallet


@dataclass(frozen=True)
class WalletLine:
    transfer_id: uuid.UUID
    at: dt.datetime
    code: int
    amount: int  # signed: + into the wallet, - out of it
    status: str  # posted | pending | released
    intent_id: uuid.UUID | None
    description: str


def wallet_balance(session: Session, person_id: uuid.UUID, currency: str) -> Balance:
    spec = chart.customer_wallet(person_id, currency)
    found = ledger.balances(session, [spec.id])
    return found.get(spec.id) or Balance(currency, 0, 0, 0, 0)


def wallet_history(session: Session, person_id: uuid.UUID, currency: str, limit: int = 50) -> list[WalletLine]:
    """The wallet's movements, newest first. A reservation shows once, with what became of it."""
    spec = chart.customer_wallet(person_id, currency)
    records: list[TransferRecord] = ledger.account_transfers(session, spec.id, limit * 2)
    statuses = ledger.pending_statuses(session, {r.id for r in records if r.is_pending})
    intent_ids = {r.user_data_128 for r in records if r.user_data_128 is not None}
    descriptions = dict(
        session.execute(
            select(PaymentIntent.id, PaymentIntent.description).where(PaymentIntent.id.in_(intent_ids))
        ).all()
    ) if intent_ids else {}
    lines = []
    for r in sorted(records, key=lambda r: r.timestamp, reverse=True):
        if r.is_post or r.is_void:
            continue  # shown on the reservation they resolve
        status = "posted"
        if r.is_pending:
            state = statuses.get(r.id)
            status = {"pending": "pending", "posted": "posted"}.get(state.value if state else "", "released")
        sign = 1 if r.credit_account_id == spec.id else -1
        lines.append(
            WalletLine(r.id, r.timestamp, r.code, sign * r.amount, status, r.user_data_128,
                       descriptions.get(r.user_data_128, ""))
        )
    return lines[:limit]


# ---------------------------------------------------------------------------------------------------- statements


@dataclass(frozen=True)
class StatementLine:
    intent_id: uuid.UUID
    settled_at: dt.datetime
    description: str
    gross: int  # what the customer paid
    refunded: int
    commission: int
    courier_fee: int
    net: int  # what this statement's owner received


@dataclass(frozen=True)
class Statement:
    owner: str  # store | courier
    owner_id: uuid.UUID
    day: dt.date
    timezone: str
    currency: str
    opening_balance: int
    closing_balance: int
    lines: list[StatementLine]

    @property
    def total_net(self) -> int:
        return sum(line.net for line in self.lines)

    @property
    def total_gross(self) -> int:
        return sum(line.gross for line in self.lines)

    @property
    def total_commission(self) -> int:
        return sum(line.commission for line in self.lines)


def _day_bounds(day: dt.date, tz: str) -> tuple[dt.datetime, dt.datetime]:
    zone = ZoneInfo(tz)
    start = dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), zone).astimezone(dt.UTC)
    return start, end


def _posted_balance_before(session: Session, account_id: uuid.UUID, moment: dt.datetime) -> int:
    """The credit-side posted balance of an account at ``moment`` (ordinary transfers and posts count)."""
    settled = T.flags.op("&")(int(TransferFlags.PENDING | TransferFlags.VOID_PENDING_TRANSFER)) == 0
    credit = session.scalar(
        select(func.coalesce(func.sum(T.amount), 0)).where(T.credit_account_id == account_id, T.created_at < moment, settled)
    )
    debit = session.scalar(
        select(func.coalesce(func.sum(T.amount), 0)).where(T.debit_account_id == account_id, T.created_at < moment, settled)
    )
    return int(credit) - int(debit)


def net_settled_by_day(
    session: Session, *, store_id: uuid.UUID, first: dt.date, last: dt.date, timezone: str
) -> dict[dt.date, int]:
    """What a store received per local day from ``first`` to ``last`` (one query; days without sales are 0)."""
    start, _ = _day_bounds(first, timezone)
    _, end = _day_bounds(last, timezone)
    zone = ZoneInfo(timezone)
    days = {first + dt.timedelta(days=n): 0 for n in range((last - first).days + 1)}
    rows = session.execute(
        select(PaymentIntent.settled_at, PaymentIntent.settled_merchant).where(
            PaymentIntent.store_id == store_id, PaymentIntent.settled_at >= start, PaymentIntent.settled_at < end
        )
    )
    for settled_at, net in rows:
        day = settled_at.astimezone(zone).date()
        if day in days:
            days[day] += net
    return days


def statement(
    session: Session, *, day: dt.date, timezone: str, currency: str,
    store_id: uuid.UUID | None = None, courier_id: uuid.UUID | None = None, city_id: uuid.UUID | None = None,
) -> Statement:
    """A store's or a courier's statement for one local day: the sales settled to them that day, with the
    balance of their account at the day's start and end (from the ledger)."""
    start, end = _day_bounds(day, timezone)
    in_day = and_(PaymentIntent.settled_at >= start, PaymentIntent.settled_at < end)
    if store_id is not None:
        assert city_id is not None
        account = chart.merchant_receivable(store_id, city_id, currency)
        who, owner_id = "store", store_id
        rows = session.scalars(
            select(PaymentIntent).where(PaymentIntent.store_id == store_id, in_day).order_by(PaymentIntent.settled_at)
        )
        lines = [
            StatementLine(i.id, i.settled_at, i.description, i.amount, i.amount - i.settled_courier
                          - i.settled_commission - i.settled_merchant, i.settled_commission, i.settled_courier,
                          i.settled_merchant)
            for i in rows
            if i.settled_at is not None
        ]
        # Refunds of sales settled earlier, taken back from the store that day (a refund the channel later
        # refuses is settled again; the balances, from the ledger, always show it).
        clawbacks = session.execute(
            select(Refund, PaymentIntent.description)
            .join(PaymentIntent, PaymentIntent.id == Refund.intent_id)
            .where(
                PaymentIntent.store_id == store_id,
                Refund.created_at >= start,
                Refund.created_at < end,
                Refund.status != "failed",
                (Refund.reversed_merchant + Refund.reversed_commission) > 0,
            )
            .order_by(Refund.created_at)
        ).all()
        lines += [
            StatementLine(r.intent_id, r.created_at, description, 0, r.amount, -r.reversed_commission, 0,
                          -r.reversed_merchant)
            for r, description in clawbacks
        ]
        lines.sort(key=lambda line: line.settled_at)
    else:
        assert courier_id is not None and city_id is not None
        account = chart.courier_payable(courier_id, city_id, currency)
        who, owner_id = "courier", courier_id
        rows = session.scalars(
            select(PaymentIntent)
            .where(PaymentIntent.courier_person_id == courier_id, in_day)
            .order_by(PaymentIntent.settled_at)
        )
        lines = [
            StatementLine(i.id, i.settled_at, i.description, i.amount, i.refunded_amount, 0, i.settled_courier,
                          i.settled_courier)
            for i in rows
            if i.settled_at is not None
        ]
    return Statement(
        owner=who,
        owner_id=owner_id,
        day=day,
        timezone=timezone,
        currency=currency,
        opening_balance=_posted_balance_before(session, account.id, start),
        closing_balance=_posted_balance_before(session, account.id, end),
        lines=lines,
    )

