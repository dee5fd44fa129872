"""Deals pages. Customers: the city's deals, a deal (what it includes, price against the original, its stores, buy
with the wallet), and "my vouchers" with their QR codes and short codes. A store's console: its deals (create,
publish, withdraw) and redemption (scan or type a code, see what the voucher is for, redeem, undo for a few
minutes).

The rules the pages keep, as the wallet's do: every form carries the CSRF token; a refused form is drawn again
with a message for people and changes nothing (the change runs in a savepoint); a form that worked redirects (303).
Amounts are read as text into fen exactly; dates and hours are the city's.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from typing import Annotated, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import segno
import structlog
from babel import dates as babel_dates
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from o2o import i18n
from o2o.accounts import service as accounts
from o2o.accounts.pages import N_, page_auth
from o2o.accounts.permissions import Action, Resource, authorize
from o2o.cities.models import City
from o2o.config import Settings
from o2o.deals import rules, service
from o2o.deals.rules import DealTerms, Line, UsageRules
from o2o.errors import AppError
from o2o.http import DbSession, api_router
from o2o.kit import time as clock
from o2o.kit.money import SYMBOLS
from o2o.stores import service as stores
from o2o.wallet import payments
from o2o.wallet.pages import format_amount_input, parse_amount
from o2o.web.render import csrf_refusal, render, see_other
from o2o.web.render import format_money as _money
from o2o.web.render import parse_id as _parse_id
from o2o.web.render import translate as _tr

log = structlog.get_logger("o2o.deals.pages")

router = api_router(include_in_schema=False)

FormStr = Annotated[str, Form()]
FormList = Annotated[list[str], Form()]

# What each refusal says on a page (the API's `detail` is for developers; these are for people).
MESSAGES = {
    "csrf_failed": N_("The form's security token is missing or out of date. Reload the page and try again."),
    "forbidden": N_("You may not do this here."),
    "not_found": N_("This page does not exist."),
    "unknown_store": N_("This shop does not exist (any more)."),
    "deal_not_found": N_("There is no such deal."),
    "deal_not_on_sale": N_("This deal is not on sale now."),
    "deal_sold_out": N_("This deal is sold out."),
    "deal_not_publishable": N_("Only a draft can be put on sale."),
    "deal_not_withdrawable": N_("This deal is withdrawn already."),
    "purchase_limit_reached": N_("You hold as many vouchers of this deal as one person may."),
    "insufficient_funds": N_("Your wallet holds {available}; this voucher costs {amount}. Top up your wallet, or pay "
                             "another way."),
    "payment_intent_not_payable": N_("This payment cannot be made now."),
    "voucher_forged": N_("This QR code was not issued by o2o. Do not accept it."),
    "voucher_not_found": N_("No voucher has this code. Check the digits and try again."),
    "voucher_expired": N_("This voucher has expired."),
    "voucher_already_redeemed": N_("This voucher has already been redeemed."),
    "voucher_not_for_this_store": N_("This voucher is not valid in this shop."),
    "voucher_not_usable_now": N_("This voucher cannot be used now (its days, hours or start date)."),
    "voucher_refunded": N_("This voucher was refunded."),
    "voucher_not_paid": N_("This voucher is not paid for."),
    "voucher_not_redeemed": N_("This voucher is not redeemed here, so there is nothing to undo."),
    "undo_window_passed": N_("The few minutes to undo this redemption have passed."),
    "store_not_of_merchant": N_("A deal covers only your own shops."),
    "scan_empty": N_("Scan the voucher's QR code, or type its 12-digit code."),
}
# What to fix in the deal form, by the field ``rules.check_terms`` names (its own words are for developers).
FIELD_MESSAGES = {
    "title": N_("Give the deal a title (up to 80 characters)."),
    "lines": N_("List what the deal includes, one item per line, e.g. \"2 x pork dumplings\" (up to 12 lines)."),
    "price": N_("Enter the deal's price, for example 39.90."),
    "original_price": N_("Enter the original price: at least the deal's price."),
    "quantity_total": N_("Enter how many vouchers are on sale (1 to 100,000), or leave it empty for unlimited."),
    "per_person_limit": N_("Enter how many vouchers one person may hold (1 to 20), or leave it empty."),
    "sale_starts_at": N_("Choose the days the deal is on sale."),
    "sale_ends_at": N_("The sale ends on or after the day it starts, within a year."),
    "valid_from": N_("Choose the days the vouchers can be used."),
    "valid_until": N_("Vouchers stay valid at least until the sale ends, and for at most 400 days."),
    "weekdays": N_("Choose at least one weekday the vouchers can be used."),
    "hours": N_("Give both hours (start before end), or leave both empty for all day."),
    "store_ids": N_("A deal covers at most 10 shops."),
}
STATUS_NAMES = {
    "pending": N_("Awaiting payment"),
    "issued": N_("Ready to use"),
    "redeemed": N_("Used"),
    "refunded": N_("Refunded"),
    "canceled": N_("Canceled"),
}
DEAL_STATUS_NAMES = {"draft": N_("Draft"), "published": N_("On sale"), "withdrawn": N_("Withdrawn")}
WEEKDAY_NAMES = {
    "mon": N_("Mon"), "tue": N_("Tue"), "wed": N_("Wed"), "thu": N_("Thu"), "fri": N_("Fri"), "sat": N_("Sat"),
    "sun": N_("Sun"),
}
REFUND_REASONS = {"requested": N_("Refunded to your wallet."), "expired": N_("Expired unused: refunded to your wallet.")}
DEFAULT_CURRENCY = "CNY"
DEFAULT_TIMEZONE = "Asia/Shanghai"


# ---------------------------------------------------------------------------------------------------- helpers


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _message(request: Request, error: AppError, **values: Any) -> str:
    if error.code == "invalid_deal":
        template = FIELD_MESSAGES.get(str(error.extra.get("field")))
        return _tr(request, template) if template else error.detail
    template = MESSAGES.get(error.code)
    if template is None:
        return error.detail
    return _tr(request, template, **values) if values else _tr(request, template)


def _sign_in_first(request: Request, next_url: str | None = None) -> Response:
    if next_url is None:
        next_url = request.url.path
    return see_other("/signin?next=" + quote(next_url, safe="/"))


def _notice(request: Request, code: str, status_code: int, links: list[tuple[str, str]] | None = None) -> HTMLResponse:
    return _render(
        request,
        "deals/notice.html",
        {"title": _tr(request, N_("Not found") if status_code == 404 else N_("Not allowed") if status_code == 403
                      else N_("Something is not right")),
         "detail": _tr(request, MESSAGES.get(code, MESSAGES["not_found"])), "code": code,
         "links": links or [("/deals", _tr(request, N_("Deals")))]},
        status_code=status_code,
    )


def show_from(value: dt.datetime, timezone: str) -> str:
    """A window's start in the city's time: the date alone when it is a local midnight (as the console sets it)."""
    local = clock.in_zone(value, timezone)
    locale = i18n.current_locale()  # called while the template renders, in the page's language
    if local.time() == dt.time():
        return babel_dates.format_date(local.date(), "medium", locale=locale)
    return f"{babel_dates.format_date(local.date(), 'medium', locale=locale)} {babel_dates.format_time(local, 'short', locale=locale)}"


def show_until(value: dt.datetime, timezone: str) -> str:
    """A window's end: ``[.., midnight)`` reads as "until" the day before, the last day it is good."""
    local = clock.in_zone(value, timezone)
    if local.time() == dt.time():
        return babel_dates.format_date(local.date() - dt.timedelta(days=1), "medium", locale=i18n.current_locale())
    return show_from(value, timezone)


def includes_text(lines: tuple[Line, ...]) -> str:
    return ", ".join(f"{line.quantity} × {line.name}" for line in lines)


def _render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    return render(request, template, {"show_from": show_from, "show_until": show_until, **context},
                  status_code=status_code)


def qr_svg(payload: str, title: str) -> str:
    """The QR code of a voucher's signed payload, as inline SVG (no script, no external asset)."""
    return segno.make(payload, error="m").svg_inline(scale=4, border=2, svgclass="deals-qr-code", title=title)


def _timezone(session: Session, city_id: uuid.UUID) -> str:
    return service.city_timezone(session, city_id)


def _rules_text(request: Request, deal_rules: UsageRules) -> str:
    days = (
        _tr(request, N_("Every day"))
        if deal_rules.every_day
        else _tr(request, N_("Mon–Fri"))
        if deal_rules.weekdays == rules.WORKDAYS
        else _tr(request, N_("Sat–Sun"))
        if deal_rules.weekdays == rules.WEEKEND
        else ", ".join(_tr(request, WEEKDAY_NAMES[d]) for d in rules.weekday_names(deal_rules.weekdays))
    )
    if deal_rules.start_minute is None or deal_rules.end_minute is None:
        return days + " · " + _tr(request, N_("all day"))
    return f"{days} · {rules.hhmm(deal_rules.start_minute)}–{rules.hhmm(deal_rules.end_minute)}"


def _deal_context(request: Request, session: Session, view: service.DealView, now: dt.datetime) -> dict[str, Any]:
    deal = view.deal
    tz = _timezone(session, deal.city_id)
    names = service.store_names(session, view.store_ids)
    return {
        "deal": deal,
        "view": view,
        "lines": view.lines,
        "timezone": tz,
        "stores": [(s, *names.get(s, ("", ""))) for s in view.store_ids],
        "home_store_name": names.get(deal.store_id, ("", ""))[0],
        "rules_text": _rules_text(request, view.rules),
        "discount": round(100 * (deal.original_price - deal.price) / deal.original_price) if deal.original_price else 0,
        "quantity_left": view.quantity_left,
        "on_sale": view.on_sale(now),
        "buyable": view.buyable(now),
        "sold_out": view.quantity_left == 0,
    }


def _store_page_guard(
    request: Request, session: Session, store_id: str, action: Action
) -> tuple[accounts.Authenticated, stores.StoreForSale] | Response:
    """The signed-in person and the store, if they may do ``action`` there; else the page to show instead."""
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request)
    parsed = _parse_id(store_id)
    store = stores.store_for_sale(session, parsed) if parsed is not None else None
    if store is None:
        return _notice(request, "unknown_store", 404, [("/", _tr(request, N_("Home")))])
    try:
        authorize(auth.principal, action, Resource(city_id=store.city_id, store_id=store.store_id))
    except AppError:
        return _notice(request, "forbidden", 403, [("/", _tr(request, N_("Home")))])
    return auth, store


# ---------------------------------------------------------------------------------------------------- the city's deals


def _person_city(session: Session, person_id: uuid.UUID | None) -> City | None:
    city = None
    if person_id is not None:
        person = accounts.get_person(session, person_id)
        city = session.get(City, person.home_city_id) if person.home_city_id is not None else None
    return city or session.scalars(select(City).order_by(City.id).limit(1)).first()


@router.get("/deals", response_class=HTMLResponse)
def deals_page(request: Request, session: DbSession, cursor: str | None = None) -> Response:
    auth = page_auth(request)
    city = _person_city(session, auth.person_id if auth else None)
    if city is None:
        return _notice(request, "not_found", 404, [("/", _tr(request, N_("Home")))])
    try:
        views, next_cursor = service.list_deals(session, city_id=city.id, cursor=cursor, limit=24)
    except AppError:  # a tampered cursor: start from the top
        views, next_cursor = service.list_deals(session, city_id=city.id, limit=24)
    now = clock.now()
    names = service.store_names(session, sorted({v.deal.store_id for v in views}))
    return _render(
        request,
        "deals/list.html",
        {
            "nav": "deals",
            "city": city,
            "items": [
                {"view": v, "store_name": names.get(v.deal.store_id, ("", ""))[0], "buyable": v.buyable(now),
                 "includes": includes_text(v.lines)}
                for v in views
            ],
            "next_cursor": next_cursor,
        },
    )


# ---------------------------------------------------------------------------------------------------- a deal


def _deal_page(
    request: Request, session: Session, view: service.DealView, *, error: AppError | None = None
) -> HTMLResponse:
    auth = page_auth(request)
    context = _deal_context(request, session, view, clock.now())
    balance = None
    message = None
    if auth is not None:
        balance = payments.wallet_balance(session, auth.person_id, view.deal.currency).available
    if error is not None:
        message = _message(
            request, error,
            available=_money(request, balance or 0, view.deal.currency),
            amount=_money(request, view.deal.price, view.deal.currency),
        ) if error.code == "insufficient_funds" else _message(request, error)
    shortfall = max(view.deal.price - (balance or 0), 0)
    context |= {
        "signed_in": auth is not None,
        "balance": balance,
        "error": message,
        "error_code": error.code if error else None,
        "top_up_url": "/wallet?amount=" + format_amount_input(shortfall, view.deal.currency) + "#top-up"
        if shortfall else "/wallet#top-up",
    }
    return _render(request, "deals/deal.html", context, status_code=error.status if error else 200)


@router.get("/deals/{deal_id}", response_class=HTMLResponse)
def deal_page(request: Request, session: DbSession, deal_id: str) -> Response:
    parsed = _parse_id(deal_id)
    try:
        view = service.get_deal(session, parsed) if parsed is not None else None
    except AppError:
        view = None
    if view is None:
        return _notice(request, "deal_not_found", 404)
    return _deal_page(request, session, view)


@router.post("/deals/{deal_id}/buy")
def deal_buy(
    request: Request, session: DbSession, deal_id: str, method: FormStr = "wallet", csrf_token: FormStr = ""
) -> Response:
    auth = page_auth(request)
    parsed = _parse_id(deal_id)
    if auth is None:
        return _sign_in_first(request, f"/deals/{parsed}" if parsed else "/deals")
    try:
        view = service.get_deal(session, parsed) if parsed is not None else None
    except AppError:
        view = None
    if view is None:
        return _notice(request, "deal_not_found", 404)
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _deal_page(request, session, view, error=bad)
    try:
        authorize(auth.principal, Action.PURCHASE, Resource(owner_id=auth.person_id))
        with session.begin_nested():
            purchase = service.buy(session, view.deal.id, auth.person_id, settings=_settings(request),
                                   pay_with_wallet=method == "wallet")
    except AppError as exc:
        return _deal_page(request, session, service.get_deal(session, view.deal.id), error=exc)
    if method == "wallet":
        return see_other(f"/me/vouchers?bought={purchase.voucher.id}#voucher-{purchase.voucher.id}")
    return see_other(f"/wallet/payments/{purchase.intent.id}")  # Alipay, WeChat Pay (or the wallet) there


# ---------------------------------------------------------------------------------------------------- my vouchers

SHOWN_STATUSES = ["pending", "issued", "redeemed", "refunded"]


def _vouchers_page(
    request: Request, session: Session, auth: accounts.Authenticated, *, error: AppError | None = None,
    notice: str | None = None, highlight: uuid.UUID | None = None,
) -> HTMLResponse:
    settings = _settings(request)
    views, _next = service.my_vouchers(session, settings, auth.person_id, limit=50, statuses=SHOWN_STATUSES)
    names = service.store_names(session, sorted({s for v in views for s in v.deal.store_ids}))
    now = clock.now()
    items = []
    for view in views:
        v = view.voucher
        tz = _timezone(session, v.city_id)
        items.append({
            "view": view,
            "voucher": v,
            "title": view.deal.deal.title,
            "includes": includes_text(view.deal.lines),
            "stores": [names.get(s, ("", ""))[0] for s in view.deal.store_ids],
            "rules_text": _rules_text(request, view.deal.rules),
            "timezone": tz,
            "qr": qr_svg(view.qr_payload, _tr(request, N_("Voucher QR code"))) if view.qr_payload else None,
            "usable_now": view.qr_payload is not None and rules.usable_refusal(
                view.deal.rules, v.valid_from, v.valid_until, now, tz) is None,
            "highlight": v.id == highlight,
        })
    return _render(
        request,
        "deals/vouchers.html",
        {
            "nav": "vouchers",
            "items": items,
            "status_names": STATUS_NAMES,
            "refund_reasons": REFUND_REASONS,
            "error": _message(request, error) if error else None,
            "error_code": error.code if error else None,
            "notice": notice,
        },
        status_code=error.status if error else 200,
    )


@router.get("/me/vouchers", response_class=HTMLResponse)
def vouchers_page(request: Request, session: DbSession, bought: str = "", refunded: str = "") -> Response:
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request, "/me/vouchers")
    notice = None
    highlight = _parse_id(bought) or _parse_id(refunded)
    if _parse_id(bought):
        notice = _tr(request, N_("Bought. Show the QR code (or the code) in the shop."))
    elif _parse_id(refunded):
        notice = _tr(request, N_("Refunded to your wallet."))
    return _vouchers_page(request, session, auth, notice=notice, highlight=highlight)


@router.post("/me/vouchers/{voucher_id}/refund")
def voucher_refund(request: Request, session: DbSession, voucher_id: str, csrf_token: FormStr = "") -> Response:
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request, "/me/vouchers")
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _vouchers_page(request, session, auth, error=bad)
    parsed = _parse_id(voucher_id)
    try:
        if parsed is None:
            raise AppError("voucher_not_found", 404, "no such voucher")
        with session.begin_nested():
            service.refund_voucher(session, _settings(request), parsed, auth.person_id)
    except AppError as exc:
        return _vouchers_page(request, session, auth, error=exc)
    return see_other(f"/me/vouchers?refunded={parsed}#voucher-{parsed}")


# ---------------------------------------------------------------------------------------------------- a store's deals

_LINE_LEADING = re.compile(r"^\s*(\d{1,2})\s*[x×*]\s*(.+?)\s*$", re.IGNORECASE)
_LINE_TRAILING = re.compile(r"^\s*(.+?)\s*[x×*]\s*(\d{1,2})\s*$", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*(\d{1,6})\s*$")


def parse_lines(text: str) -> tuple[Line, ...]:
    """One item per line: ``2 x pork dumplings``, ``pork dumplings x 2`` or ``soup`` (one)."""
    lines = []
    for raw in text.splitlines():
        if not raw.strip():
            continue
        if match := _LINE_LEADING.match(raw):
            lines.append(Line(match.group(2), int(match.group(1))))
        elif match := _LINE_TRAILING.match(raw):
            lines.append(Line(match.group(1), int(match.group(2))))
        else:
            lines.append(Line(raw.strip(), 1))
    return tuple(lines)


def _optional_number(text: str, field: str) -> int | None:
    if not text.strip():
        return None
    match = _NUMBER.match(text)
    if match is None:
        raise AppError("invalid_deal", 400, "not a whole number", extra={"field": field})
    return int(match.group(1))


def _local_day(text: str, field: str, timezone: str, *, end: bool = False) -> dt.datetime:
    """A date typed in the form as the start of that local day (or, with ``end``, the start of the next)."""
    try:
        day = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise AppError("invalid_deal", 400, "not a date", extra={"field": field}) from None
    if end:
        day += dt.timedelta(days=1)
    return dt.datetime.combine(day, dt.time(), ZoneInfo(timezone)).astimezone(dt.UTC)


def terms_from_form(form: dict[str, Any], currency: str, timezone: str) -> DealTerms:
    """The deal form as terms (``check_terms`` then judges them); a field that cannot be read raises
    ``invalid_deal`` naming it."""
    price = parse_amount(form["price"], currency)
    if price is None or price <= 0:
        raise AppError("invalid_deal", 400, "not an amount", extra={"field": "price"})
    original = parse_amount(form["original_price"], currency) if form["original_price"].strip() else price
    if original is None:
        raise AppError("invalid_deal", 400, "not an amount", extra={"field": "original_price"})
    start, end = form["hours_start"].strip(), form["hours_end"].strip()
    try:
        hours = (rules.minute_of(start), rules.minute_of(end)) if start or end else (None, None)
        weekdays = rules.weekday_mask(form["weekdays"])
    except rules.InvalidTerms as bad:
        raise AppError("invalid_deal", 400, bad.message, extra={"field": bad.field}) from None
    if (start == "") != (end == ""):
        raise AppError("invalid_deal", 400, "both hours", extra={"field": "hours"})
    return DealTerms(
        title=form["title"],
        lines=parse_lines(form["includes"]),
        price=price,
        original_price=original,
        quantity_total=_optional_number(form["quantity"], "quantity_total"),
        per_person_limit=_optional_number(form["per_person_limit"], "per_person_limit"),
        sale_starts_at=_local_day(form["sale_from"], "sale_starts_at", timezone),
        sale_ends_at=_local_day(form["sale_until"], "sale_ends_at", timezone, end=True),
        valid_from=_local_day(form["valid_from"] or form["sale_from"], "valid_from", timezone),
        valid_until=_local_day(form["valid_until"], "valid_until", timezone, end=True),
        rules=UsageRules(weekdays, *hours),
    )


def _default_form(timezone: str) -> dict[str, Any]:
    today = clock.now().astimezone(ZoneInfo(timezone)).date()
    return {
        "title": "", "includes": "", "price": "", "original_price": "", "quantity": "", "per_person_limit": "",
        "sale_from": today.isoformat(), "sale_until": (today + dt.timedelta(days=30)).isoformat(),
        "valid_from": today.isoformat(), "valid_until": (today + dt.timedelta(days=90)).isoformat(),
        "weekdays": list(rules.WEEKDAYS), "hours_start": "", "hours_end": "", "store_ids": [], "publish": "on",
    }


def _console_page(
    request: Request,
    session: Session,
    store: stores.StoreForSale,
    *,
    error: AppError | None = None,
    form: dict[str, Any] | None = None,
    notice: str | None = None,
) -> HTMLResponse:
    timezone = _timezone(session, store.city_id)
    views, _next = service.store_deals(session, store.store_id, limit=100)
    now = clock.now()
    items = [
        {"view": v, "includes": includes_text(v.lines), "rules_text": _rules_text(request, v.rules),
         "on_sale": v.on_sale(now), "sold_out": v.quantity_left == 0}
        for v in views
    ]
    return _render(
        request,
        "deals/console.html",
        {
            "nav": "console",
            "store": store,
            "timezone": timezone,
            "items": items,
            "form": form or _default_form(timezone),
            "siblings": service.sibling_stores(session, store.store_id),
            "weekdays": rules.WEEKDAYS,
            "weekday_names": WEEKDAY_NAMES,
            "deal_status_names": DEAL_STATUS_NAMES,
            "symbol": SYMBOLS.get(store.currency, store.currency),
            "error": _message(request, error) if error else None,
            "error_code": error.code if error else None,
            "error_field": error.extra.get("field") if error else None,
            "notice": notice,
        },
        status_code=error.status if error else 200,
    )


@router.get("/merchant/stores/{store_id}/deals", response_class=HTMLResponse)
def console_page(request: Request, session: DbSession, store_id: str, done: str = "") -> Response:
    found = _store_page_guard(request, session, store_id, Action.STORE_MANAGE)
    if isinstance(found, Response):
        return found
    _auth, store = found
    notices = {"created": N_("The deal is saved."), "published": N_("The deal is on sale."),
               "withdrawn": N_("The deal is withdrawn; vouchers sold stay good.")}
    notice = _tr(request, notices[done]) if done in notices else None
    return _console_page(request, session, store, notice=notice)


@router.post("/merchant/stores/{store_id}/deals")
def console_create(
    request: Request,
    session: DbSession,
    store_id: str,
    title: FormStr = "",
    includes: FormStr = "",
    price: FormStr = "",
    original_price: FormStr = "",
    quantity: FormStr = "",
    per_person_limit: FormStr = "",
    sale_from: FormStr = "",
    sale_until: FormStr = "",
    valid_from: FormStr = "",
    valid_until: FormStr = "",
    weekdays: FormList = [],  # noqa: B006  (FastAPI copies form defaults)
    hours_start: FormStr = "",
    hours_end: FormStr = "",
    store_ids: FormList = [],  # noqa: B006
    publish: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    found = _store_page_guard(request, session, store_id, Action.STORE_MANAGE)
    if isinstance(found, Response):
        return found
    auth, store = found
    form = {
        "title": title[:80], "includes": includes[:2000], "price": price[:16], "original_price": original_price[:16],
        "quantity": quantity[:8], "per_person_limit": per_person_limit[:4], "sale_from": sale_from[:10],
        "sale_until": sale_until[:10], "valid_from": valid_from[:10], "valid_until": valid_until[:10],
        "weekdays": weekdays[:7], "hours_start": hours_start[:5], "hours_end": hours_end[:5],
        "store_ids": store_ids[: rules.MAX_STORES], "publish": publish,
    }
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _console_page(request, session, store, error=bad, form=form)
    timezone = _timezone(session, store.city_id)
    try:
        terms = terms_from_form(form, store.currency, timezone)
        others = [parsed for s in form["store_ids"] if (parsed := _parse_id(s)) is not None]
        with session.begin_nested():
            service.create_deal(session, store_id=store.store_id, terms=terms, other_store_ids=others,
                                created_by=auth.person_id, publish=bool(publish))
    except AppError as exc:
        return _console_page(request, session, store, error=exc, form=form)
    return see_other(f"/merchant/stores/{store.store_id}/deals?done={'published' if publish else 'created'}")


def _console_action(request: Request, session: Session, store_id: str, deal_id: str, csrf_token: str,
                    action: str) -> Response:
    found = _store_page_guard(request, session, store_id, Action.STORE_MANAGE)
    if isinstance(found, Response):
        return found
    _auth, store = found
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _console_page(request, session, store, error=bad)
    try:
        parsed = _parse_id(deal_id)
        if parsed is None:
            raise AppError("deal_not_found", 404, "no such deal")
        with session.begin_nested():
            if action == "publish":
                service.publish_deal(session, store.store_id, parsed)
            else:
                service.withdraw_deal(session, store.store_id, parsed)
    except AppError as exc:
        return _console_page(request, session, store, error=exc)
    done = "published" if action == "publish" else "withdrawn"
    return see_other(f"/merchant/stores/{store.store_id}/deals?done={done}")


@router.post("/merchant/stores/{store_id}/deals/{deal_id}/publish")
def console_publish(request: Request, session: DbSession, store_id: str, deal_id: str,
                    csrf_token: FormStr = "") -> Response:
    return _console_action(request, session, store_id, deal_id, csrf_token, "publish")


@router.post("/merchant/stores/{store_id}/deals/{deal_id}/withdraw")
def console_withdraw(request: Request, session: DbSession, store_id: str, deal_id: str,
                     csrf_token: FormStr = "") -> Response:
    return _console_action(request, session, store_id, deal_id, csrf_token, "withdraw")


# ---------------------------------------------------------------------------------------------------- redemption


def _redeem_page(
    request: Request,
    session: Session,
    store: stores.StoreForSale,
    *,
    error: AppError | None = None,
    scan: str = "",
    checked: service.VoucherView | None = None,
    done: uuid.UUID | None = None,
    undone: uuid.UUID | None = None,
) -> HTMLResponse:
    settings = _settings(request)
    timezone = _timezone(session, store.city_id)
    now = clock.now()
    recent = service.recent_redemptions(session, settings, store.store_id, now)
    done_view = next((v for v in recent if v.voucher.id == done), None)
    return _render(
        request,
        "deals/redeem.html",
        {
            "nav": "redeem",
            "store": store,
            "timezone": timezone,
            "scan": scan if error is not None or checked is not None else "",
            "checked": checked,
            "checked_includes": includes_text(checked.deal.lines) if checked else "",
            "done": done_view,
            "undone": undone is not None,
            "recent": [
                {"view": v, "includes": includes_text(v.deal.lines),
                 "undoable": v.undo_until is not None and v.undo_until > now}
                for v in recent
            ],
            "error": _message(request, error) if error else None,
            "error_code": error.code if error else None,
        },
        status_code=error.status if error else 200,
    )


@router.get("/merchant/stores/{store_id}/redeem", response_class=HTMLResponse)
def redeem_page(request: Request, session: DbSession, store_id: str, redeemed: str = "", undone: str = "") -> Response:
    found = _store_page_guard(request, session, store_id, Action.STORE_OPERATE)
    if isinstance(found, Response):
        return found
    _auth, store = found
    return _redeem_page(request, session, store, done=_parse_id(redeemed), undone=_parse_id(undone))


@router.post("/merchant/stores/{store_id}/redeem/check")
def redeem_check(request: Request, session: DbSession, store_id: str, scan: FormStr = "",
                 csrf_token: FormStr = "") -> Response:
    found = _store_page_guard(request, session, store_id, Action.STORE_OPERATE)
    if isinstance(found, Response):
        return found
    _auth, store = found
    scan = scan.strip()[:2100]
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _redeem_page(request, session, store, error=bad, scan=scan)
    if not scan:
        return _redeem_page(request, session, store, error=AppError("scan_empty", 400, "nothing scanned"))
    try:
        checked = service.check_voucher(session, _settings(request), store.store_id, scan)
    except AppError as exc:
        return _redeem_page(request, session, store, error=exc, scan=scan)
    return _redeem_page(request, session, store, scan=scan, checked=checked)


@router.post("/merchant/stores/{store_id}/redeem")
def redeem_submit(request: Request, session: DbSession, store_id: str, scan: FormStr = "",
                  csrf_token: FormStr = "") -> Response:
    found = _store_page_guard(request, session, store_id, Action.STORE_OPERATE)
    if isinstance(found, Response):
        return found
    auth, store = found
    scan = scan.strip()[:2100]
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _redeem_page(request, session, store, error=bad, scan=scan)
    try:
        with session.begin_nested():
            view = service.redeem(session, _settings(request), store.store_id, scan, auth.person_id)
    except AppError as exc:
        return _redeem_page(request, session, store, error=exc, scan=scan)
    return see_other(f"/merchant/stores/{store.store_id}/redeem?redeemed={view.voucher.id}")


@router.post("/merchant/stores/{store_id}/redeem/{voucher_id}/undo")
def redeem_undo(request: Request, session: DbSession, store_id: str, voucher_id: str,
                csrf_token: FormStr = "") -> Response:
    found = _store_page_guard(request, session, store_id, Action.STORE_OPERATE)
    if isinstance(found, Response):
        return found
    auth, store = found
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _redeem_page(request, session, store, error=bad)
    try:
        parsed = _parse_id(voucher_id)
        if parsed is None:
            raise AppError("voucher_not_found", 404, "no such voucher")
        with session.begin_nested():
            service.undo_redemption(session, _settings(request), store.store_id, parsed, auth.person_id)
    except AppError as exc:
        return _redeem_page(request, session, store, error=exc)
    return see_other(f"/merchant/stores/{store.store_id}/redeem?undone={parsed}")
