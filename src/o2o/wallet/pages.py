"""Wallet pages: the wallet (balance, top-up, history), a payment's page (checkout or status), the hand-off to a
channel's cashier and the way back from it, "pay this shop" (the counter QR code), and a store's daily statement.

The rules the pages keep:

* Every form carries the CSRF token; a refused form is drawn again with a message for people (and changes
  nothing: the change runs in a savepoint), a successful one redirects (303).
* Channel calls never run while this request holds a database transaction: on SQLite our transaction holds the
  write lock the simulator needs, so a call made inside it would wait for itself. The hand-off and the return
  route do their reads, end the transaction (``session.rollback()``), then let the service open its own short
  units of work (``payments.checkout_url``, ``payments.resolve_intent``).
* Amounts typed by people are read as text into minor units (fen) exactly, never through a float.
* A payment is shown to its payer only: anyone else gets "not found", as for a payment that does not exist.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import structlog
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from o2o.accounts import service as accounts
from o2o.accounts.pages import N_, page_auth
from o2o.accounts.permissions import Action, Resource, authorize
from o2o.cities import service as cities
from o2o.cities.models import City
from o2o.errors import AppError
from o2o.http import DbSession, api_router
from o2o.kit import time as clock
from o2o.kit.money import MINOR_UNITS, SYMBOLS
from o2o.stores import service as stores
from o2o.wallet import chart, payments
from o2o.wallet.intents import IntentStatus
from o2o.wallet.models import PaymentIntent
from o2o.web.render import csrf_refusal as _csrf_refusal
from o2o.web.render import format_money as _money
from o2o.web.render import parse_id as _parse_id
from o2o.web.render import render
from o2o.web.render import see_other as _redirect
from o2o.web.render import translate as _tr

log = structlog.get_logger("o2o.wallet.pages")

router = api_router(include_in_schema=False)

FormStr = Annotated[str, Form()]
DEFAULT_CURRENCY = "CNY"
CHART_DAYS = 14
NOTE_MAX = 60

# What each refusal says on a page (the API's `detail` is for developers; these are for people).
MESSAGES = {
    "csrf_failed": N_("The form's security token is missing or out of date. Reload the page and try again."),
    "invalid_amount": N_("Enter an amount between {min} and {max}, with at most {decimals} decimals."),
    "unknown_channel": N_("Choose how to pay: Alipay or WeChat Pay."),
    "unknown_store": N_("This shop does not exist (any more)."),
    "no_city": N_("There is no city to top up in yet."),
    "insufficient_funds": N_(
        "Your wallet holds {available}; this payment needs {amount}. Top up your wallet, or pay with Alipay or "
        "WeChat Pay."
    ),
    "payment_intent_not_payable": N_("This payment cannot be paid now: it is {status}."),
    "payment_intent_expired": N_("This payment was not completed in time and is closed. Start again if you still want to pay."),
    "payment_intent_not_cancelable": N_("This payment can no longer be canceled: it is {status}."),
    "payment_intent_not_found": N_("There is no such payment, or it is not yours."),
    "currency_mismatch": N_("This payment is in a currency the channels do not take."),
    "channel_unavailable": N_("The payment channel did not answer. Nothing was charged; try again in a moment."),
    "channel_refused": N_("The payment channel refused this payment. Nothing was charged; choose another way to pay."),
    "forbidden": N_("Only the store's owner and the city's operators can see its statements."),
    "not_found": N_("This page does not exist."),
    "invalid_day": N_("Choose a day written as YYYY-MM-DD."),
}
STATUS_NAMES = {
    IntentStatus.REQUIRES_PAYMENT: N_("Awaiting payment"),
    IntentStatus.PROCESSING: N_("Processing"),
    IntentStatus.SUCCEEDED: N_("Paid"),
    IntentStatus.FAILED: N_("Failed"),
    IntentStatus.CANCELED: N_("Canceled"),
}
METHOD_NAMES = {
    payments.METHOD_WALLET: N_("Wallet"),
    "alipay-sim": N_("Alipay (sim)"),
    "wechatpay-sim": N_("WeChat Pay (sim)"),
}
CHANNEL_CHOICES = ("alipay-sim", "wechatpay-sim")
KIND_NAMES = {
    chart.TransferCode.TOP_UP: N_("Top-up"),
    chart.TransferCode.PAYMENT: N_("Payment"),
    chart.TransferCode.REFUND: N_("Refund"),
    chart.TransferCode.RETURN_UNACCEPTED: N_("Returned payment"),
}
LINE_STATUS_NAMES = {"posted": N_("done"), "pending": N_("pending"), "released": N_("released")}
CANCEL_REASONS = {
    "requested": N_("You canceled this payment."),
    "expired": N_("This payment was not completed in time."),
    "abandoned": N_("The seller withdrew this payment."),
}
FAILURE_NAMES = {
    "amount_mismatch": N_("The channel collected a different amount than asked; all of it is being sent back."),
}
REFUND_STATUS_NAMES = {"pending": N_("on its way"), "succeeded": N_("refunded"), "failed": N_("failed")}
REFUND_DESTINATIONS = {"wallet": N_("to your wallet"), "channel": N_("to the account you paid with")}
TOP_UP_DESCRIPTION = "Wallet top-up"  # as payments.create_top_up writes it
PURPOSE_DESCRIPTIONS = {payments.Purpose.TOP_UP: N_("Wallet top-up")}


def _message(request: Request, error: AppError, currency: str = DEFAULT_CURRENCY, **values: Any) -> str:
    """The refusal in words for people, in the page's language (amounts in ``currency``)."""
    template = MESSAGES.get(error.code)
    if template is None:
        return error.detail
    if error.code == "invalid_amount":
        values |= {
            "min": _money(request, 1, currency),
            "max": _money(request, payments.MAX_AMOUNT, currency),
            "decimals": MINOR_UNITS.get(currency, 2),
        }
    return _tr(request, template, **values)


def _sign_in_first(request: Request, next_url: str | None = None) -> RedirectResponse:
    if next_url is None:
        next_url = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return _redirect("/signin?next=" + quote(next_url, safe="/"))


def _notice_page(
    request: Request,
    *,
    title: str,
    detail: str,
    code: str,
    status_code: int,
    links: list[tuple[str, str]] | None = None,
) -> HTMLResponse:
    """A page that says what went wrong and offers ways on (``links``: (url, label) pairs)."""
    return render(
        request,
        "wallet/notice.html",
        {"title": title, "detail": detail, "code": code, "links": links or [("/wallet", _tr(request, N_("My wallet")))],
         "nav": "wallet"},
        status_code=status_code,
    )


def _not_found(request: Request, what: str = "not_found") -> HTMLResponse:
    return _notice_page(
        request,
        title=_tr(request, N_("Not found")),
        detail=_tr(request, MESSAGES[what]),
        code=what,
        status_code=404,
    )


# --------------------------------------------------------------------------------------------------------------
# Amounts typed by people


_AMOUNT = re.compile(r"([0-9]{1,9})(?:\.([0-9]*))?")
# A Chinese input method types full-width digits and point: read them as the ASCII ones.
_FULL_WIDTH = str.maketrans("０１２３４５６７８９．", "0123456789.")


def parse_amount(text: str, currency: str) -> int | None:
    """``"12.5"`` -> 1250 fen (for CNY): digits, an optional point and at most the currency's decimals; a leading
    currency sign, spaces and full-width digits are allowed. Exact (no float on the way); None when it is not
    such an amount."""
    decimals = MINOR_UNITS.get(currency, 2)
    cleaned = text.translate(_FULL_WIDTH).strip().replace(" ", "").replace("\u00a0", "")
    for sign in {SYMBOLS.get(currency, ""), "¥", "￥"} - {""}:
        if cleaned.startswith(sign):
            cleaned = cleaned[len(sign):]
            break
    match = _AMOUNT.fullmatch(cleaned)
    if match is None:
        return None
    whole, fraction = match.group(1), match.group(2) or ""
    if len(fraction) > decimals:
        return None
    return int(whole) * 10**decimals + (int(fraction.ljust(decimals, "0")) if decimals else 0)


def format_amount_input(amount: int, currency: str) -> str:
    """Fen back into what a person types (``1250`` -> ``"12.50"``), to fill a form."""
    decimals = MINOR_UNITS.get(currency, 2)
    if decimals == 0:
        return str(amount)
    major, minor = divmod(amount, 10**decimals)
    return f"{major}.{minor:0{decimals}d}"


def _read_amount(text: str, currency: str) -> int:
    amount = parse_amount(text, currency)
    if amount is None or not 0 < amount <= payments.MAX_AMOUNT:
        raise AppError("invalid_amount", 400, "not an amount of money in the currency's minor units")
    return amount


# --------------------------------------------------------------------------------------------------------------
# The wallet


def _wallet_city(session: Session, person_id: uuid.UUID) -> City | None:
    """Where a person's top-ups are collected: their home city, else the first city."""
    person = accounts.get_person(session, person_id)
    city = session.get(City, person.home_city_id) if person.home_city_id is not None else None
    if city is None:
        city = session.scalars(select(City).order_by(City.id).limit(1)).first()
    return city


def _wallet_page(
    request: Request,
    session: Session,
    auth: accounts.Authenticated,
    *,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    person = accounts.get_person(session, auth.person_id)
    city = _wallet_city(session, auth.person_id)
    currency = city.currency if city is not None else DEFAULT_CURRENCY
    timezone = accounts.person_timezone(session, person)
    balance = payments.wallet_balance(session, person.id, currency)
    history = payments.wallet_history(session, person.id, currency, limit=30)
    intents = payments.list_intents(session, person.id, limit=10)
    values = dict(values or {})
    if "amount" not in values:
        prefill = parse_amount(request.query_params.get("amount", ""), currency)
        values["amount"] = format_amount_input(prefill, currency) if prefill else ""
    values.setdefault("channel", CHANNEL_CHOICES[0])
    top_up = _tr(request, PURPOSE_DESCRIPTIONS[payments.Purpose.TOP_UP])
    return render(
        request,
        "wallet/wallet.html",
        {
            "nav": "wallet",
            "city": city,
            "currency": currency,
            "timezone": timezone,
            "balance": balance,
            "history": history,
            "intents": intents,
            "values": values,
            "error": _message(request, error, currency) if error else None,
            "error_code": error.code if error else None,
            "channels": CHANNEL_CHOICES,
            "method_names": METHOD_NAMES,
            "status_names": STATUS_NAMES,
            "kind_names": KIND_NAMES,
            "line_status_names": LINE_STATUS_NAMES,
            "purpose_descriptions": PURPOSE_DESCRIPTIONS,
            # The service writes a top-up's description in English; people read it in their language.
            "describe": lambda text: top_up if text == TOP_UP_DESCRIPTION else text,
            "max_amount": payments.MAX_AMOUNT,
        },
        status_code=error.status if error else 200,
    )


@router.get("/wallet", response_class=HTMLResponse)
def wallet_page(request: Request, session: DbSession) -> Response:
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request, "/wallet")
    return _wallet_page(request, session, auth)


@router.post("/wallet/top-up")
def wallet_top_up(
    request: Request,
    session: DbSession,
    amount: FormStr = "",
    channel: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request, "/wallet")
    values = {"amount": amount[:32], "channel": channel if channel in CHANNEL_CHOICES else ""}
    if (bad := _csrf_refusal(request, csrf_token)) is not None:
        return _wallet_page(request, session, auth, error=bad, values=values)
    city = _wallet_city(session, auth.person_id)
    if city is None:
        return _wallet_page(request, session, auth, error=AppError("no_city", 409, "no city"), values=values)
    try:
        if channel not in CHANNEL_CHOICES:
            raise AppError("unknown_channel", 400, "choose a channel")
        fen = _read_amount(amount, city.currency)
        with session.begin_nested():  # a refusal leaves nothing behind
            intent = payments.create_top_up(
                session, payer_id=auth.person_id, city_id=city.id, currency=city.currency, amount=fen,
                settings=request.app.state.settings,
            )
            intent = payments.start_channel(session, intent.id, auth.person_id, channel)
    except AppError as exc:
        return _wallet_page(request, session, auth, error=exc, values=values)
    # The hand-off runs in its own request, once this one has committed the intent and its trade.
    return _redirect(f"/wallet/payments/{intent.id}/checkout")


# --------------------------------------------------------------------------------------------------------------
# A payment: the checkout while unpaid, its status afterwards


def _intent_page(
    request: Request,
    session: Session,
    auth: accounts.Authenticated,
    intent: PaymentIntent,
    *,
    error: AppError | None = None,
) -> HTMLResponse:
    timezone = cities.city_timezone(session, intent.city_id) or accounts.DEFAULT_TIMEZONE
    store = stores.store_for_sale(session, intent.store_id) if intent.store_id is not None else None
    balance = payments.wallet_balance(session, auth.person_id, intent.currency)
    refunds = payments.intent_refunds(session, intent.id)
    now = clock.now()
    expires_at = clock.ensure_utc(intent.expires_at)
    seconds_left = (expires_at - now).total_seconds()
    status = IntentStatus(intent.status)
    payable = status == IntentStatus.REQUIRES_PAYMENT and seconds_left > 0
    processing = status == IntentStatus.PROCESSING
    message = None
    if error is not None:
        message = _message(
            request,
            error,
            intent.currency,
            available=_money(request, balance.available, intent.currency),
            amount=_money(request, intent.amount, intent.currency),
            status=_tr(request, STATUS_NAMES[status]).lower(),
        )
    shortfall = max(intent.amount - balance.available, 0)
    description = intent.description
    if intent.purpose in PURPOSE_DESCRIPTIONS:
        description = _tr(request, PURPOSE_DESCRIPTIONS[intent.purpose])
    return render(
        request,
        "wallet/payment.html",
        {
            "nav": "wallet",
            "intent": intent,
            "status": status.value,
            "description": description,
            "store": store,
            "timezone": timezone,
            "balance": balance,
            "refunds": refunds,
            "payable": payable,
            "wallet_payable": payable and intent.purpose != payments.Purpose.TOP_UP,
            "channel_payable": payable and intent.currency == "CNY",
            "processing": processing,
            "cancelable": payable or (processing and not intent.close_requested),
            "expired": status == IntentStatus.REQUIRES_PAYMENT and seconds_left <= 0,
            "minutes_left": max(1, math.ceil(seconds_left / 60)) if seconds_left > 0 else 0,
            "expires_local": clock.in_zone(expires_at, timezone).strftime("%H:%M"),
            "refresh_seconds": 3 if processing else None,
            "top_up_url": "/wallet?amount=" + format_amount_input(shortfall, intent.currency) + "#top-up"
            if shortfall
            else "/wallet#top-up",
            "error": message,
            # Paying for an order or a voucher: the way back to it (the pages that follow it are the domain's).
            "follow_url": f"/orders/{intent.reference}" if intent.purpose == payments.Purpose.ORDER and intent.reference
            else "/me/vouchers" if intent.purpose == payments.Purpose.VOUCHER else None,
            "error_code": error.code if error else None,
            "status_names": STATUS_NAMES,
            "method_names": METHOD_NAMES,
            "cancel_reasons": CANCEL_REASONS,
            "failure_names": FAILURE_NAMES,
            "refund_status_names": REFUND_STATUS_NAMES,
            "refund_destinations": REFUND_DESTINATIONS,
        },
        status_code=error.status if error else 200,
    )


def _my_intent(
    request: Request, session: Session, intent_id: str
) -> tuple[accounts.Authenticated, PaymentIntent] | Response:
    """The signed-in payer and their intent, or the response to give instead (sign in first, not found)."""
    auth = page_auth(request)
    if auth is None:
        parsed = _parse_id(intent_id)
        return _sign_in_first(request, f"/wallet/payments/{parsed}" if parsed else "/wallet")
    parsed = _parse_id(intent_id)
    if parsed is None:
        return _not_found(request, "payment_intent_not_found")
    try:
        intent = payments.get_intent(session, parsed, payer_id=auth.person_id)
    except AppError:
        return _not_found(request, "payment_intent_not_found")
    return auth, intent


@router.get("/wallet/payments/{intent_id}", response_class=HTMLResponse)
def payment_page(request: Request, session: DbSession, intent_id: str) -> Response:
    found = _my_intent(request, session, intent_id)
    if isinstance(found, Response):
        return found
    auth, intent = found
    return _intent_page(request, session, auth, intent)


@router.post("/wallet/payments/{intent_id}/pay")
def payment_pay(
    request: Request, session: DbSession, intent_id: str, method: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    found = _my_intent(request, session, intent_id)
    if isinstance(found, Response):
        return found
    auth, intent = found
    if (bad := _csrf_refusal(request, csrf_token)) is not None:
        return _intent_page(request, session, auth, intent, error=bad)
    try:
        with session.begin_nested():  # a refusal (insufficient funds ...) leaves nothing behind, accounts included
            if method == payments.METHOD_WALLET:
                payments.pay_from_wallet(session, intent.id, auth.person_id)
            elif method in CHANNEL_CHOICES:
                payments.start_channel(session, intent.id, auth.person_id, method)
            else:
                raise AppError("unknown_channel", 400, "choose a way to pay")
    except AppError as exc:
        return _intent_page(request, session, auth, payments.get_intent(session, intent.id), error=exc)
    if method == payments.METHOD_WALLET:
        return _redirect(f"/wallet/payments/{intent.id}")
    return _redirect(f"/wallet/payments/{intent.id}/checkout")


@router.post("/wallet/payments/{intent_id}/cancel")
def payment_cancel(request: Request, session: DbSession, intent_id: str, csrf_token: FormStr = "") -> Response:
    found = _my_intent(request, session, intent_id)
    if isinstance(found, Response):
        return found
    auth, intent = found
    if (bad := _csrf_refusal(request, csrf_token)) is not None:
        return _intent_page(request, session, auth, intent, error=bad)
    try:
        with session.begin_nested():
            payments.cancel(session, intent.id, payer_id=auth.person_id)
    except AppError as exc:
        return _intent_page(request, session, auth, payments.get_intent(session, intent.id), error=exc)
    return _redirect(f"/wallet/payments/{intent.id}")


@router.get("/wallet/payments/{intent_id}/checkout", response_class=HTMLResponse)
def payment_checkout(request: Request, session: DbSession, intent_id: str) -> Response:
    """The hand-off to the channel's cashier. The checks read with this request's session; the transaction then
    ends before the channel is asked for the cashier's address (``payments.checkout_url`` opens its own).

    The API's ``next_action.url`` carries a signed token (``?t=``) instead of a page session: an app signed in
    with a bearer token opens it in a browser."""
    parsed = _parse_id(intent_id)
    token = request.query_params.get("t")
    ticket = parsed is not None and token is not None and payments.checkout_token_valid(
        request.app.state.settings, parsed, token
    )
    if ticket:
        assert parsed is not None
        intent = session.get(PaymentIntent, parsed)
        if intent is None:
            return _not_found(request, "payment_intent_not_found")
    else:
        found = _my_intent(request, session, intent_id)
        if isinstance(found, Response):
            return found
        _auth, intent = found
    key = intent.id
    back = f"/wallet/payments/{key}"
    if intent.status != IntentStatus.PROCESSING or intent.close_requested:
        return _redirect(back)  # nothing to pay at a cashier: the payment's page says why
    session.rollback()  # no transaction may be open while the channel is called (see the module's docstring)
    try:
        url = payments.checkout_url(request.app.state.db, request.app.state.settings, key)
    except AppError as exc:
        if exc.code == "channel_unavailable":
            return _notice_page(
                request,
                title=_tr(request, N_("The cashier is not answering")),
                detail=_tr(request, MESSAGES["channel_unavailable"]),
                code=exc.code,
                status_code=503,
                links=[(f"{back}/checkout", _tr(request, N_("Try again"))), (back, _tr(request, N_("Back to the payment")))],
            )
        log.info("checkout_refused", intent=str(key), code=exc.code, detail=exc.detail)
        return _notice_page(
            request,
            title=_tr(request, N_("This payment cannot go to the cashier")),
            detail=_tr(request, MESSAGES["channel_refused"]),
            code=exc.code,
            status_code=exc.status,
            links=[(back, _tr(request, N_("Back to the payment")))],
        )
    return _redirect(url)


@router.get("/wallet/payments/{intent_id}/return")
def payment_return(request: Request, session: DbSession, intent_id: str) -> Response:
    """Where the cashier sends the customer back. Its query parameters are never trusted: if the payment is still
    processing we ask the channel ourselves (outside any transaction of ours), so the page shows the real outcome
    at once. Triggering that needs no sign-in (it reveals nothing); the payment's page checks the payer."""
    parsed = _parse_id(intent_id)
    if parsed is None:
        return _not_found(request, "payment_intent_not_found")
    intent = session.get(PaymentIntent, parsed)
    processing = intent is not None and intent.status == IntentStatus.PROCESSING
    session.rollback()
    if processing:
        try:
            outcome = payments.resolve_intent(request.app.state.db, request.app.state.settings, parsed)
            log.info("payment_return_resolved", intent=str(parsed), outcome=outcome)
        except Exception:  # the worker asks again later; the customer still gets their page (auto-refreshing)
            log.exception("payment_return_resolve_failed", intent=str(parsed))
    return _redirect(f"/wallet/payments/{parsed}")


# --------------------------------------------------------------------------------------------------------------
# Pay this shop (what a customer sees after scanning the shop's counter QR code)


def _store_pay_page(
    request: Request,
    store: stores.StoreForSale,
    *,
    error: AppError | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "wallet/store_pay.html",
        {
            "store": store,
            "values": values or {},
            "error": _message(request, error, store.currency) if error else None,
            "error_code": error.code if error else None,
            "note_max": NOTE_MAX,
            "symbol": SYMBOLS.get(store.currency, store.currency),
        },
        status_code=error.status if error else 200,
    )


def _store_for_page(request: Request, session: Session, store_id: str) -> stores.StoreForSale | Response:
    parsed = _parse_id(store_id)
    store = stores.store_for_sale(session, parsed) if parsed is not None else None
    if store is None:
        return _not_found(request, "unknown_store")
    return store


@router.get("/stores/{store_id}/pay", response_class=HTMLResponse)
def store_pay_page(request: Request, session: DbSession, store_id: str) -> Response:
    if page_auth(request) is None:
        return _sign_in_first(request)
    store = _store_for_page(request, session, store_id)
    if isinstance(store, Response):
        return store
    return _store_pay_page(request, store)


@router.post("/stores/{store_id}/pay")
def store_pay(
    request: Request,
    session: DbSession,
    store_id: str,
    amount: FormStr = "",
    note: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request, request.url.path)
    store = _store_for_page(request, session, store_id)
    if isinstance(store, Response):
        return store
    values = {"amount": amount[:32], "note": note[:NOTE_MAX]}
    if (bad := _csrf_refusal(request, csrf_token)) is not None:
        return _store_pay_page(request, store, error=bad, values=values)
    try:
        fen = _read_amount(amount, store.currency)
        with session.begin_nested():
            intent = payments.create_store_payment(
                session, payer_id=auth.person_id, store_id=store.store_id, amount=fen, note=note[:NOTE_MAX],
                settings=request.app.state.settings,
            )
    except AppError as exc:
        return _store_pay_page(request, store, error=exc, values=values)
    return _redirect(f"/wallet/payments/{intent.id}")


# --------------------------------------------------------------------------------------------------------------
# A store's daily statement (its owner, the city's operators)


@dataclass(frozen=True)
class Bar:
    day: dt.date
    net: int
    x: float
    y: float
    width: float
    height: float
    current: bool


CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BASE = 448.0, 170.0, 12.0, 140.0


def chart_bars(nets: list[tuple[dt.date, int]], current: dt.date) -> list[Bar]:
    """Bars for the days' net amounts, laid out in the chart's coordinates (tallest bar = the full height)."""
    slot = CHART_WIDTH / max(len(nets), 1)
    width = slot * 0.7
    top = max([net for _day, net in nets] + [1])
    bars = []
    for i, (day, net) in enumerate(nets):
        height = (CHART_BASE - CHART_TOP) * max(net, 0) / top
        if net > 0:
            height = max(height, 2.0)  # a small day still shows
        bars.append(Bar(day, net, round(i * slot + (slot - width) / 2, 1), round(CHART_BASE - height, 1),
                        round(width, 1), round(height, 1), day == current))
    return bars


def _day_of(text: str) -> dt.date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


@router.get("/merchant/stores/{store_id}/statement", response_class=HTMLResponse)
def store_statement_page(request: Request, session: DbSession, store_id: str, day: str | None = None) -> Response:
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request)
    store = _store_for_page(request, session, store_id)
    if isinstance(store, Response):
        return store
    try:
        authorize(auth.principal, Action.STORE_FINANCE, Resource(city_id=store.city_id, store_id=store.store_id))
    except AppError as exc:
        return _notice_page(
            request,
            title=_tr(request, N_("Not allowed")),
            detail=_tr(request, MESSAGES["forbidden"]),
            code=exc.code,
            status_code=403,
            links=[("/", _tr(request, N_("Home")))],
        )
    timezone = cities.city_timezone(session, store.city_id) or accounts.DEFAULT_TIMEZONE
    today = clock.now().astimezone(ZoneInfo(timezone)).date()
    shown = today - dt.timedelta(days=1)
    if day:
        chosen = _day_of(day)
        if chosen is None:
            return _notice_page(
                request,
                title=_tr(request, N_("Which day?")),
                detail=_tr(request, MESSAGES["invalid_day"]),
                code="invalid_day",
                status_code=400,
                links=[(request.url.path, _tr(request, N_("Yesterday's statement")))],
            )
        shown = chosen

    def statement_of(d: dt.date) -> payments.Statement:
        return payments.statement(
            session, day=d, timezone=timezone, currency=store.currency, store_id=store.store_id, city_id=store.city_id
        )

    statement = statement_of(shown)
    per_day = payments.net_settled_by_day(
        session, store_id=store.store_id, first=shown - dt.timedelta(days=CHART_DAYS - 1), last=shown,
        timezone=timezone,
    )
    nets = sorted(per_day.items())
    return render(
        request,
        "wallet/statement.html",
        {
            "nav": "statement",
            "store": store,
            "statement": statement,
            "timezone": timezone,
            "day": shown,
            "today": today,
            "previous_day": shown - dt.timedelta(days=1),
            "next_day": shown + dt.timedelta(days=1) if shown < today else None,
            "times": {line.intent_id: clock.in_zone(line.settled_at, timezone).strftime("%H:%M") for line in statement.lines},
            "total_refunded": sum(line.refunded for line in statement.lines),
            "total_courier": sum(line.courier_fee for line in statement.lines),
            "bars": chart_bars(nets, shown),
            "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "top": CHART_TOP, "base": CHART_BASE},
            "chart_total": sum(net for _d, net in nets),
        },
    )
