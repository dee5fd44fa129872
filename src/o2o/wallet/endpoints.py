"""The wallet API (``/api/wallet``): balance and history, top-ups, payment intents, refunds, settlement,
statements, reconciliation, and the channels' callbacks.

Channel calls never run inside our transaction (the channel is another system, and on SQLite our transaction
holds the write lock it may need): the routes that make one end their read-only transaction first
(``_end_read_only_transaction``) and let the service open its own short units of work.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import structlog
from fastapi import Depends, Query, Request, Response
from sqlalchemy.orm import Session

from o2o.accounts import errors as account_errors
from o2o.accounts.endpoints import AUTH_ERRORS, CurrentPrincipal, require
from o2o.accounts.permissions import Action, Principal, Resource
from o2o.cities import service as cities
from o2o.errors import problem_responses
from o2o.http import DbSession, api_router
from o2o.wallet import errors as e
from o2o.wallet import jobs, payments, reconciliation  # noqa: F401  (jobs: registration)
from o2o.wallet.channels import base as ch
from o2o.wallet.models import PaymentIntent, Reconciliation
from o2o.wallet.schemas import (
    BalanceOut,
    Confirm,
    DifferenceOut,
    NextAction,
    PaymentIntentOut,
    ReconcileRun,
    ReconciliationOut,
    RefundCreate,
    RefundOut,
    Settle,
    StatementLineOut,
    StatementOut,
    StorePaymentCreate,
    TopUpCreate,
    WalletLineOut,
)

log = structlog.get_logger("o2o.wallet.endpoints")

router = api_router(prefix="/api/wallet", tags=["wallet"])

CODE_NAMES = {code.value: code.name.lower() for code in payments.chart.TransferCode}


def intent_out(request: Request, intent: PaymentIntent) -> PaymentIntentOut:
    out = PaymentIntentOut.model_validate(intent, from_attributes=True)
    if intent.status == "processing" and not intent.close_requested:
        settings = request.app.state.settings
        token = payments.checkout_token(settings, intent.id)
        out.next_action = NextAction(url=f"{settings.base_url}/wallet/payments/{intent.id}/checkout?t={token}")
    return out


def _end_read_only_transaction(session: Session) -> None:
    """End the request's transaction before calling a channel. Only for routes that have written nothing."""
    session.rollback()


def _statement_out(statement: payments.Statement) -> StatementOut:
    return StatementOut(
        owner=statement.owner,  # type: ignore[arg-type]
        owner_id=statement.owner_id,
        day=statement.day,
        timezone=statement.timezone,
        currency=statement.currency,
        opening_balance=statement.opening_balance,
        closing_balance=statement.closing_balance,
        total_gross=statement.total_gross,
        total_commission=statement.total_commission,
        total_net=statement.total_net,
        lines=[StatementLineOut.model_validate(line, from_attributes=True) for line in statement.lines],
    )


# ---------------------------------------------------------------------------------------------------- the wallet


@router.get(
    "",
    response_model=BalanceOut,
    summary="My wallet's balance",
    description="Posted, pending and available amounts in fen. A wallet never goes below zero.",
    responses=problem_responses(*AUTH_ERRORS),
)
def my_balance(
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.WALLET_USE))],
    currency: Annotated[str, Query(pattern="^[A-Z]{3}$")] = "CNY",
) -> BalanceOut:
    return BalanceOut.model_validate(payments.wallet_balance(session, principal.person_id, currency),
                                     from_attributes=True)


@router.get(
    "/transactions",
    response_model=list[WalletLineOut],
    summary="My wallet's movements, newest first",
    responses=problem_responses(*AUTH_ERRORS),
)
def my_transactions(
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.WALLET_USE))],
    currency: Annotated[str, Query(pattern="^[A-Z]{3}$")] = "CNY",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[WalletLineOut]:
    return [
        WalletLineOut(
            transfer_id=line.transfer_id,
            at=line.at,
            kind=CODE_NAMES.get(line.code, str(line.code)),
            amount=line.amount,
            status=line.status,  # type: ignore[arg-type]
            payment_intent_id=line.intent_id,
            description=line.description,
        )
        for line in payments.wallet_history(session, principal.person_id, currency, limit)
    ]


@router.post(
    "/top-ups",
    status_code=201,
    response_model=PaymentIntentOut,
    summary="Top up my wallet through a channel",
    description=(
        "Creates a top-up intent and opens a trade at the channel. Send the customer to `next_action.url` "
        "(the channel's cashier); the wallet is credited when the channel confirms, exactly once."
    ),
    responses=problem_responses(*AUTH_ERRORS, account_errors.UNKNOWN_CITY, e.INVALID_AMOUNT, e.CURRENCY_MISMATCH),
)
def create_top_up(
    request: Request,
    body: TopUpCreate,
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.WALLET_USE))],
) -> PaymentIntentOut:
    from o2o.cities.models import City

    city = session.get(City, body.city_id)
    if city is None:
        raise account_errors.unknown_city()
    settings = request.app.state.settings
    intent = payments.create_top_up(
        session, payer_id=principal.person_id, city_id=city.id, currency=city.currency, amount=body.amount,
        settings=settings,
    )
    intent = payments.start_channel(session, intent.id, principal.person_id, body.channel)
    return intent_out(request, intent)


# ---------------------------------------------------------------------------------------------------- intents


@router.post(
    "/payment-intents",
    status_code=201,
    response_model=PaymentIntentOut,
    summary="Pay a shop (scan its code, type the amount)",
    description=(
        "Creates a payment intent for a shop; confirm it with the wallet or a channel. Other domains (orders, "
        "vouchers, rides) create their intents through the service."
    ),
    responses=problem_responses(*AUTH_ERRORS, e.UNKNOWN_STORE, e.INVALID_AMOUNT),
)
def create_store_payment(
    request: Request,
    body: StorePaymentCreate,
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.WALLET_USE))],
) -> PaymentIntentOut:
    intent = payments.create_store_payment(
        session, payer_id=principal.person_id, store_id=body.store_id, amount=body.amount, note=body.note,
        settings=request.app.state.settings,
    )
    return intent_out(request, intent)


@router.get(
    "/payment-intents",
    response_model=list[PaymentIntentOut],
    summary="My payments, newest first",
    responses=problem_responses(*AUTH_ERRORS),
)
def list_my_intents(
    request: Request,
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.WALLET_USE))],
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    before: Annotated[uuid.UUID | None, Query(description="Only intents older than this one (paging).")] = None,
) -> list[PaymentIntentOut]:
    return [intent_out(request, i) for i in payments.list_intents(session, principal.person_id, limit=limit,
                                                                   before=before)]


def _my_intent(intent_id: uuid.UUID, session: DbSession, principal: CurrentPrincipal) -> PaymentIntent:
    return payments.get_intent(session, intent_id, payer_id=principal.person_id)


MyIntent = Annotated[PaymentIntent, Depends(_my_intent)]


@router.get(
    "/payment-intents/{intent_id}",
    response_model=PaymentIntentOut,
    summary="One of my payments",
    description="The truth about a payment: poll it after the cashier (callbacks can take a moment).",
    responses=problem_responses(*AUTH_ERRORS, e.INTENT_NOT_FOUND),
)
def get_my_intent(request: Request, intent: MyIntent) -> PaymentIntentOut:
    return intent_out(request, intent)


@router.post(
    "/payment-intents/{intent_id}/confirm",
    response_model=PaymentIntentOut,
    summary="Pay an intent: from the wallet, or through a channel",
    description=(
        "`wallet`: paid at once from the balance (402 `insufficient_funds` changes nothing). `alipay-sim` / "
        "`wechatpay-sim`: the intent becomes `processing`; send the customer to `next_action.url`. Confirming "
        "again with the same channel is harmless. Send an `Idempotency-Key` to make retries safe."
    ),
    responses=problem_responses(
        *AUTH_ERRORS, e.INTENT_NOT_FOUND, e.INSUFFICIENT_FUNDS, e.INTENT_NOT_PAYABLE, e.INTENT_EXPIRED,
        e.UNKNOWN_CHANNEL, e.CURRENCY_MISMATCH,
    ),
)
def confirm_intent(request: Request, body: Confirm, intent: MyIntent, session: DbSession) -> PaymentIntentOut:
    if body.method == payments.METHOD_WALLET:
        done = payments.pay_from_wallet(session, intent.id, intent.payer_person_id)
    else:
        done = payments.start_channel(session, intent.id, intent.payer_person_id, body.method)
    return intent_out(request, done)


@router.post(
    "/payment-intents/{intent_id}/cancel",
    response_model=PaymentIntentOut,
    summary="Cancel an unpaid payment",
    description=(
        "An intent awaiting payment is canceled at once. One being paid at a channel keeps `processing` with "
        "`cancel_requested` until the channel confirms the trade closed; if the customer paid first, the payment "
        "stands (refund it instead)."
    ),
    responses=problem_responses(*AUTH_ERRORS, e.INTENT_NOT_FOUND, e.INTENT_NOT_CANCELABLE),
)
def cancel_intent(request: Request, intent: MyIntent, session: DbSession) -> PaymentIntentOut:
    return intent_out(request, payments.cancel(session, intent.id, payer_id=intent.payer_person_id))


# ---------------------------------------------------------------------------------------------------- refunds


def _refundable(intent_id: uuid.UUID, session: DbSession) -> Resource:
    intent = payments.get_intent(session, intent_id)
    owner = intent.payer_person_id if intent.purpose == payments.Purpose.TOP_UP else None
    return Resource(owner_id=owner, city_id=intent.city_id, store_id=intent.store_id)


@router.post(
    "/payment-intents/{intent_id}/refunds",
    status_code=201,
    response_model=RefundOut,
    summary="Refund a payment, in full or in part",
    description=(
        "By the store's owner or the city's operators (a person may refund their own unspent top-up). Idempotent "
        "by `refund_no`; never more than what was paid. A wallet payment goes back to the wallet at once; a "
        "channel payment goes back through the channel (`pending` until it confirms) unless `to_wallet`. A settled "
        "sale is refunded from the store's balance and the platform's commission in proportion (the courier keeps "
        "the fee)."
    ),
    responses=problem_responses(
        *AUTH_ERRORS, account_errors.FORBIDDEN, e.INTENT_NOT_FOUND, e.NOT_REFUNDABLE, e.REFUND_EXCEEDS_PAYMENT,
        e.REFUND_NO_REUSED, e.MERCHANT_BALANCE_INSUFFICIENT, e.INSUFFICIENT_FUNDS,
    ),
)
def create_refund(
    intent_id: uuid.UUID,
    body: RefundCreate,
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.PAYMENT_REFUND, _refundable))],
) -> RefundOut:
    record = payments.refund(
        session, intent_id, refund_no=body.refund_no, amount=body.amount, reason=body.reason,
        to_wallet=body.to_wallet, requested_by=principal.person_id,
    )
    return RefundOut.model_validate(record, from_attributes=True)


@router.get(
    "/payment-intents/{intent_id}/refunds",
    response_model=list[RefundOut],
    summary="A payment's refunds",
    responses=problem_responses(*AUTH_ERRORS, account_errors.FORBIDDEN, e.INTENT_NOT_FOUND),
)
def list_refunds(
    intent_id: uuid.UUID,
    session: DbSession,
    principal: CurrentPrincipal,
) -> list[RefundOut]:
    intent = payments.get_intent(session, intent_id)
    if intent.payer_person_id != principal.person_id:
        from o2o.accounts.permissions import authorize

        authorize(principal, Action.PAYMENT_REFUND, _refundable(intent_id, session))
    return [RefundOut.model_validate(r, from_attributes=True) for r in payments.intent_refunds(session, intent_id)]


# ---------------------------------------------------------------------------------------------------- settlement


def _in_city(intent_id: uuid.UUID, session: DbSession) -> Resource:
    intent = payments.get_intent(session, intent_id)
    return Resource(city_id=intent.city_id)


@router.post(
    "/payment-intents/{intent_id}/settle",
    response_model=PaymentIntentOut,
    summary="Settle a completed sale",
    description=(
        "Splits what is left of the payment into the merchant's share, the platform's commission (the "
        "merchant's rate) and the courier's fee, in one linked ledger batch; once only. Orders settle on "
        "completion and shop payments the next day by themselves: this is the operators' manual lever."
    ),
    responses=problem_responses(
        *AUTH_ERRORS, account_errors.FORBIDDEN, e.INTENT_NOT_FOUND, e.NOT_SETTLEABLE, e.REFUND_IN_PROGRESS,
        e.INVALID_AMOUNT,
    ),
)
def settle_intent(
    request: Request,
    intent_id: uuid.UUID,
    body: Settle,
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.CITY_OPERATE, _in_city))],
) -> PaymentIntentOut:
    intent = payments.settle(session, intent_id, courier_person_id=body.courier_person_id,
                             courier_fee=body.courier_fee)
    return intent_out(request, intent)


# ---------------------------------------------------------------------------------------------------- statements


def _store_resource(store_id: uuid.UUID, session: DbSession) -> Resource:
    from o2o.stores import service as stores

    store = stores.store_for_sale(session, store_id)
    if store is None:
        raise e.unknown_store()
    return Resource(city_id=store.city_id, store_id=store.store_id)


@router.get(
    "/stores/{store_id}/statements/{day}",
    response_model=StatementOut,
    summary="A store's daily statement",
    description="The sales settled to the store on a local day, with the receivable's opening and closing balance.",
    responses=problem_responses(*AUTH_ERRORS, account_errors.FORBIDDEN, e.UNKNOWN_STORE),
)
def store_statement(
    store_id: uuid.UUID,
    day: dt.date,
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.STORE_FINANCE, _store_resource))],
) -> StatementOut:
    from o2o.stores import service as stores

    store = stores.store_for_sale(session, store_id)
    assert store is not None
    tz = cities.city_timezone(session, store.city_id) or "UTC"
    return _statement_out(
        payments.statement(session, day=day, timezone=tz, currency=store.currency, store_id=store_id,
                           city_id=store.city_id)
    )


@router.get(
    "/courier-statements/{city_id}/{day}",
    response_model=StatementOut,
    summary="My daily statement as a courier",
    responses=problem_responses(*AUTH_ERRORS, account_errors.UNKNOWN_CITY),
)
def courier_statement(
    city_id: uuid.UUID,
    day: dt.date,
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.WALLET_USE))],
) -> StatementOut:
    from o2o.cities.models import City

    city = session.get(City, city_id)
    if city is None:
        raise account_errors.unknown_city()
    return _statement_out(
        payments.statement(session, day=day, timezone=city.timezone, currency=city.currency,
                           courier_id=principal.person_id, city_id=city.id)
    )


# ---------------------------------------------------------------------------------------------------- reconciliation


def _reconciliation_out(session: Session, report: Reconciliation) -> ReconciliationOut:
    out = ReconciliationOut.model_validate(report, from_attributes=True)
    out.differences = [DifferenceOut.model_validate(d, from_attributes=True)
                       for d in reconciliation.differences_of(session, report.id)]
    return out


@router.get(
    "/reconciliations",
    response_model=list[ReconciliationOut],
    summary="Reconciliation reports (platform operators)",
    responses=problem_responses(*AUTH_ERRORS, account_errors.FORBIDDEN),
)
def list_reconciliations(
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.PLATFORM_FINANCE, lambda: Resource()))],
    channel: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
) -> list[ReconciliationOut]:
    from sqlalchemy import select

    query = select(Reconciliation).order_by(Reconciliation.day.desc(), Reconciliation.channel).limit(limit)
    if channel:
        query = query.where(Reconciliation.channel == channel)
    return [_reconciliation_out(session, r) for r in session.scalars(query)]


@router.post(
    "/reconciliations",
    status_code=201,
    response_model=ReconciliationOut,
    summary="Reconcile a channel's bill for a day now (platform operators)",
    description="Runs daily by itself for yesterday; this reruns a day, replacing its report.",
    responses=problem_responses(
        *AUTH_ERRORS, account_errors.FORBIDDEN, e.RECONCILIATION_NOT_READY, e.CHANNEL_UNAVAILABLE
    ),
)
def run_reconciliation(
    request: Request,
    body: ReconcileRun,
    session: DbSession,
    principal: Annotated[Principal, Depends(require(Action.PLATFORM_FINANCE, lambda: Resource()))],
) -> ReconciliationOut:
    _end_read_only_transaction(session)
    db = request.app.state.db
    report = reconciliation.reconcile(db, request.app.state.settings, body.channel, body.day)
    return _reconciliation_out(session, session.get(Reconciliation, report.id))  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------------- callbacks


@router.post(
    "/channels/{channel}/notify",
    summary="A channel's payment callback",
    description=(
        "Called by the channel, not by people. The signature is verified on the raw body before anything is "
        "read; a trade is then applied once, whatever the number of copies. Answers as the channel expects: "
        "Alipay the text `success`, WeChat Pay v3 a 200 (anything else makes the channel call again)."
    ),
    response_class=Response,
    include_in_schema=True,
)
async def channel_notify(channel: str, request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    from o2o.wallet.channels import get_channel

    if channel not in payments.CHANNELS:
        raise e.unknown_channel(channel)
    body = await request.body()
    client = get_channel(channel, request.app.state.settings)
    try:
        notification = client.parse_notification(body, dict(request.headers))
    except (ch.InvalidSignature, ch.InvalidNotification) as refused:
        log.warning("callback_refused", channel=channel, error=str(refused), size=len(body))
        ack = client.ack(False, "signature or content refused")
        return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)
    session = request.state.db_session
    try:
        outcome = await run_in_threadpool(payments.accept_notification, session, notification)
    except payments.UnknownTrade:
        log.warning("callback_unknown_trade", channel=channel, trade=notification.trade.out_trade_no)
        ack = client.ack(False, "unknown trade")
        return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)
    log.info("callback_applied", channel=channel, trade=notification.trade.out_trade_no, outcome=outcome,
             notify_id=notification.notify_id)
    ack = client.ack(True)
    return Response(ack.body, status_code=ack.status_code, media_type=ack.media_type)
