"""Order pages: "stores near me", the cart, the checkout, my orders with their live status, and the merchant's
console (incoming orders, the point of sale, stock, sales by channel).

The rules the pages keep (those of the wallet pages):

* Every form carries the CSRF token; a refused form is drawn again with a message for people and changes
  nothing (the change runs in a savepoint), a successful one redirects (303).
* Anonymous visitors are sent to sign in and brought back; an order or a cart is shown to its owner only
  (anyone else gets "not found"), a store's console to the people who work in it (``store.operate``), its
  owner-only parts to its owner (``store.manage``).
* Times are shown in the city's time zone; amounts with the ``money`` filter (the locale's format of
  ``o2o.kit.money`` amounts); every word through ``_()``.
* Pages that change by themselves (an order's status, the incoming orders) poll the JSON API from our own small
  script (``static/orders.js``) and reload when something happened; without JavaScript they refresh every few
  seconds (``<noscript><meta http-equiv="refresh">``).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlencode

import structlog
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from o2o import i18n
from o2o.accounts import service as accounts
from o2o.accounts.pages import N_, page_auth
from o2o.accounts.permissions import Action, Resource, Role, authorize, can
from o2o.cities import service as cities
from o2o.cities.models import City
from o2o.errors import AppError
from o2o.http import DbSession, api_router
from o2o.kit import time as clock
from o2o.orders import carts, pricing, service
from o2o.orders.endpoints import STEP_PATHS, day_bounds, sales_by_channel
from o2o.orders.models import Order, OrderEventRecord
from o2o.orders.state import (
    FINAL,
    MERCHANT_CANCEL_REASONS,
    OrderEvent,
    OrderKind,
    OrderState,
    PaymentMode,
    allowed_events,
)
from o2o.stores import catalogue, stock
from o2o.stores import menu as menu_mod
from o2o.stores import service as stores
from o2o.stores.models import CATEGORIES
from o2o.wallet import payments
from o2o.wallet.pages import format_amount_input
from o2o.web.render import csrf_refusal, render, request_locale, see_other
from o2o.web.render import format_money as _money
from o2o.web.render import parse_id as _parse_id
from o2o.web.render import translate as _tr

log = structlog.get_logger("o2o.orders.pages")

router = api_router(include_in_schema=False)

FormStr = Annotated[str, Form()]
FormList = Annotated[list[str], Form()]

WHERE_COOKIE = "o2o_where"  # the last place a person looked for stores from: "lat_lng", to prefill the checkout
WHERE_MAX_AGE = 30 * 24 * 3600
NEAR_PAGE_SIZE = 20
RADII = (1000, 2000, 3000, 5000)
DEFAULT_RADIUS = 3000
ORDERS_PAGE_SIZE = 20
KINDS = (OrderKind.DELIVERY, OrderKind.TAKEOUT, OrderKind.CLICK_COLLECT)
CHANNELS = ("alipay-sim", "wechatpay-sim")
PAY_CHOICES = ("wallet", *CHANNELS, "counter")
NOTE_MAX = 200
ADDRESS_MAX = 200
POLL_SECONDS = 3
DONE_TODAY_LIMIT = 100

# What each refusal says on a page (the API's `detail` is for developers; these are for people).
MESSAGES = {
    "csrf_failed": N_("The form's security token is missing or out of date. Reload the page and try again."),
    "store_not_found": N_("This store does not exist (any more)."),
    "order_not_found": N_("There is no such order, or it is not yours."),
    "empty_cart": N_("Your cart at this store is empty."),
    "too_many_lines": N_("A cart holds at most {max_lines} different lines."),
    "invalid_quantity": N_("Choose a quantity from 1 to {max_quantity}."),
    "unknown_item": N_("{item} is not on this store's menu (any more)."),
    "unknown_option": N_("One of the options chosen for {item} is not offered (any more)."),
    "duplicate_option": N_("An option of {item} was chosen twice."),
    "option_picks": N_("Choose {picks} for “{group}” of {item}."),
    "item_sold_out": N_("{item} is sold out."),
    "option_sold_out": N_("An option chosen for {item} is sold out."),
    "item_unavailable_now": N_("{item} is not offered at this hour."),
    "out_of_stock": N_("Not enough left: {items}."),
    "store_paused": N_("This store is not taking online orders right now."),
    "store_closed": N_("This store is closed now; see its opening hours."),
    "address_required": N_("Enter the delivery address and its location (latitude and longitude)."),
    "outside_delivery_area": N_("This address is outside the store's delivery area ({distance} away)."),
    "below_minimum_order": N_("The store's minimum order is {min_order}; your items come to {subtotal}."),
    "invalid_payment_mode": N_("Only click-and-collect orders can be paid at the counter."),
    "insufficient_funds": N_(
        "Your wallet holds {available}; this order needs {amount}. Top up your wallet, or pay with Alipay or "
        "WeChat Pay. Nothing was ordered."
    ),
    "price_changed": N_("The price changed since you looked: the total is now {total}. Check it and pay again."),
    "order_state_conflict": N_("This order is {state} now: that step is no longer possible."),
    "order_busy": N_("The order is changing right now; try again."),
    "invalid_cancel_reason": N_("Choose why the order is rejected."),
    "tender_required": N_("Say how the customer paid at the counter: cash or card."),
    "invalid_tender": N_("Choose cash or card."),
    "invalid_step": N_("That is not a step for this order."),
    "unknown_step": N_("That is not a step for this order."),
    "stock_below_held": N_("{held} units are held by checkouts in progress; the stock cannot go below that."),
    "invalid_stock": N_("Enter a whole number of units from 0 to {max}."),
    "forbidden": N_("You do not work in this store, or this part is for its owner."),
    "cart_line_not_found": N_("This line is no longer in your cart."),
    "cart_busy": N_("Your cart is changing right now; try again."),
    "invalid_location": N_("A location is a latitude from -90 to 90 and a longitude from -180 to 180."),
    "invalid_day": N_("Choose a day written as YYYY-MM-DD."),
    "unknown_channel": N_("Choose how to pay."),
    "payment_intent_not_payable": N_("This payment cannot be paid now."),
    "payment_intent_expired": N_("This payment was not completed in time and is closed."),
    "currency_mismatch": N_("This payment is in a currency the channels do not take."),
    "unknown_category": N_("Choose a category from the list."),
    "invalid_order_kind": N_("Choose delivery, takeout or click and collect."),
    "invalid_cursor": N_("That page of results no longer exists; start again."),
    "city_not_found": N_("There is no such city."),
    "district_not_found": N_("There is no such district in this city."),
    "no_city": N_("There is no city here yet."),
    "not_found": N_("This page does not exist."),
    "not_payable": N_("This order cannot be paid now."),
}
KIND_NAMES = {
    "delivery": N_("Delivery"),
    "takeout": N_("Takeout"),
    "click_collect": N_("Click and collect"),
    "counter": N_("Counter sale"),
}
KIND_HINTS = {
    "delivery": N_("A courier brings it to your door."),
    "takeout": N_("Paid now, packed for you to collect."),
    "click_collect": N_("Reserved now, collected in the shop; pay now or at the counter."),
}
CHANNEL_NAMES = {
    "delivery": N_("Delivery"),
    "takeout": N_("Takeout"),
    "click_collect": N_("Click and collect"),
    "counter": N_("Counter"),
    "vouchers": N_("Vouchers"),
}
STATE_NAMES = {
    "placed": N_("Waiting for payment"),
    "paid": N_("Waiting for the shop"),
    "accepted": N_("Accepted"),
    "preparing": N_("Being prepared"),
    "ready": N_("Ready"),
    "picked_up": N_("On its way"),
    "delivered": N_("Delivered"),
    "completed": N_("Completed"),
    "canceled": N_("Canceled"),
}
# A click-and-collect reservation paid at the counter waits for the shop, not for a payment.
RESERVED_NAME = N_("Reserved: waiting for the shop")
# The same states as the shop reads them.
MERCHANT_STATE_NAMES = {**STATE_NAMES, "placed": N_("Reserved, pay at the counter"), "paid": N_("New")}
EVENT_NAMES = {
    "place": N_("Order placed"),
    "sell": N_("Sold at the counter"),
    "pay": N_("Paid"),
    "accept": N_("Accepted by the shop"),
    "start": N_("The shop started preparing it"),
    "mark_ready": N_("Ready"),
    "pick_up": N_("Handed over"),
    "deliver": N_("Delivered"),
    "complete": N_("Completed"),
    "cancel_by_customer": N_("Canceled by the customer"),
    "cancel_by_merchant": N_("Canceled by the shop"),
    "expire_unpaid": N_("Canceled: not paid in time"),
    "expire_unaccepted": N_("Canceled: the shop did not answer in time"),
    "payment_failed": N_("Canceled: sold out meanwhile"),
}
REASON_NAMES = {
    "out_of_stock": N_("Out of stock"),
    "store_closed": N_("The store is closed"),
    "too_busy": N_("Too busy"),
    "address_unreachable": N_("The address cannot be reached"),
    "customer_no_show": N_("The customer did not come"),
    "item_unavailable": N_("An item is unavailable"),
    "other": N_("Another reason"),
    "customer_request": N_("At the customer's request"),
    "unpaid": N_("Not paid in time"),
    "not_accepted": N_("Not accepted in time"),
}
STEP_NAMES = {
    "accept": N_("Accept"),
    "start": N_("Start preparing"),
    "ready": N_("Ready"),
    "pick-up": N_("Handed over"),
    "deliver": N_("Delivered"),
    "cancel": N_("Reject"),
}
CATEGORY_NAMES = {
    "food": N_("Restaurant"),
    "breakfast": N_("Breakfast"),
    "convenience": N_("Convenience store"),
    "grocery": N_("Groceries"),
    "fruit": N_("Fruit"),
    "pharmacy": N_("Pharmacy"),
    "flowers": N_("Flowers"),
    "coffee": N_("Coffee"),
    "tea": N_("Tea and drinks"),
    "bakery": N_("Bakery"),
    "bar": N_("Bar"),
}
TENDER_NAMES = {"cash": N_("Cash"), "card": N_("Card"), "wallet": N_("Wallet")}
REFUND_STATUS_NAMES = {"pending": N_("on its way"), "succeeded": N_("refunded"), "failed": N_("failed")}
ROLE_NAMES = {Role.MERCHANT_OWNER: N_("Owner"), Role.MERCHANT_STAFF: N_("Staff")}
_EVENT_OF_STEP = {event: path for path, event in STEP_PATHS.items()}


# --------------------------------------------------------------------------------------------------------------
# Shared bits


def _distance(request: Request, metres: float) -> str:
    with i18n.use_locale(request_locale(request)):
        return i18n.format_distance(metres)


def _picks_wanted(request: Request, min_picks: int, max_picks: int) -> str:
    if min_picks == max_picks:
        return _tr(request, N_("exactly {n}"), n=min_picks)
    if min_picks == 0:
        return _tr(request, N_("at most {n}"), n=max_picks)
    return _tr(request, N_("from {low} to {high}"), low=min_picks, high=max_picks)


def explain(
    request: Request, error: AppError, *, currency: str = "CNY", names: dict[str, str] | None = None,
    **values: Any,
) -> str:
    """A refusal in words for people, in the page's language. ``names`` maps item ids (text) to names."""
    template = MESSAGES.get(error.code)
    if template is None:
        return error.detail
    extra = error.extra or {}
    names = names or {}

    def item_name(item_id: Any) -> str:
        return names.get(str(item_id)) or _tr(request, N_("An item"))

    filled: dict[str, Any] = {
        "item": item_name(extra.get("item_id")),
        "max_lines": extra.get("max_lines", menu_mod.MAX_LINES),
        "max_quantity": menu_mod.MAX_QUANTITY,
        "group": extra.get("group", ""),
        "picks": _picks_wanted(request, int(extra.get("min_picks", 1)), int(extra.get("max_picks", 1))),
        "held": extra.get("held", 0),
        "max": stock.MAX_ON_HAND,
        "state": _tr(request, STATE_NAMES.get(str(extra.get("state")), N_("changed"))).lower(),
        "distance": _distance(request, float(extra.get("distance_m", 0))),
    }
    if "min_order" in extra:
        filled["min_order"] = _money(request, int(extra["min_order"]), currency)
        filled["subtotal"] = _money(request, int(extra.get("subtotal", 0)), currency)
    if "total" in extra:
        filled["total"] = _money(request, int(extra["total"]), currency)
    if error.code == "out_of_stock":
        filled["items"] = ", ".join(
            _tr(request, N_("{item} ({left} left)"), item=item_name(row.get("item_id")), left=row.get("available", 0))
            for row in extra.get("items", [])
        )
    filled.update(values)
    return _tr(request, template, **filled)


def _sign_in_first(request: Request, next_url: str) -> Response:
    return see_other("/signin?next=" + quote(next_url, safe="/?=&"))


def _notice(
    request: Request,
    *,
    title: str,
    detail: str,
    code: str,
    status_code: int,
    links: list[tuple[str, str]] | None = None,
) -> HTMLResponse:
    return render(
        request,
        "orders/notice.html",
        {"title": title, "detail": detail, "code": code, "links": links or [("/", _tr(request, N_("Home")))]},
        status_code=status_code,
    )


def _not_found(request: Request, code: str = "not_found", links: list[tuple[str, str]] | None = None) -> HTMLResponse:
    return _notice(
        request, title=_tr(request, N_("Not found")), detail=_tr(request, MESSAGES[code]), code=code,
        status_code=404, links=links,
    )


def _forbidden(request: Request, links: list[tuple[str, str]] | None = None) -> HTMLResponse:
    return _notice(
        request, title=_tr(request, N_("Not allowed")), detail=_tr(request, MESSAGES["forbidden"]), code="forbidden",
        status_code=403, links=links or [("/merchant", _tr(request, N_("My stores")))],
    )


def _safe_next(value: str | None) -> str | None:
    """A local path to go back to after a form (never another site)."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value and len(value) < 500:
        return value
    return None


def _hhmm(value: dt.datetime | None, tz: str, today: dt.date | None = None) -> str:
    """``14:05`` today, ``11-24 14:05`` another day (in the city's time zone)."""
    if value is None:
        return ""
    local = clock.in_zone(value, tz)
    if today is not None and local.date() != today:
        return local.strftime("%m-%d %H:%M")
    return local.strftime("%H:%M")


def _timezone_of_city(session: Session, city_id: uuid.UUID) -> str:
    return cities.city_timezone(session, city_id) or accounts.DEFAULT_TIMEZONE


# --------------------------------------------------------------------------------------------------------------
# Stores near me


@dataclass(frozen=True)
class NearStore:
    id: uuid.UUID
    name: str
    category: str
    rating: float
    distance_m: float
    open_now: bool
    accepting_orders: bool
    delivers: bool
    delivery_fee: int | None
    eta_minutes: int | None  # prep + pickup + travel, for delivery
    min_order: int
    currency: str


def _parse_float(text: str | None) -> float | None:
    if text is None or text.strip() == "":
        return None
    try:
        value = float(text.strip())
    except ValueError:
        raise AppError("invalid_location", 422, "not a number") from None
    if not math.isfinite(value):
        raise AppError("invalid_location", 422, "not a finite number")
    return value


def _parse_location(lat: str | None, lng: str | None) -> tuple[float, float] | None:
    """(lat, lng) when both are given and on Earth; None when neither; ``invalid_location`` otherwise."""
    la, ln = _parse_float(lat), _parse_float(lng)
    if la is None and ln is None:
        return None
    if la is None or ln is None or not (-90 <= la <= 90 and -180 <= ln <= 180):
        raise AppError("invalid_location", 422, "latitude -90..90 and longitude -180..180")
    return la, ln


def _where_cookie(request: Request) -> tuple[float, float] | None:
    try:
        lat, lng = (request.cookies.get(WHERE_COOKIE) or "").split("_")
        return _parse_location(lat, lng)
    except (ValueError, AppError):
        return None


def _page_city(session: Session, request: Request, slug: str | None) -> City | None:
    """The city asked for, else the signed-in person's home city, else the first city (as the landing page)."""
    if slug:
        return cities.get_city(session, slug)
    auth = page_auth(request)
    if auth is not None:
        person = accounts.get_person(session, auth.person_id)
        if person.home_city_id is not None:
            home = session.get(City, person.home_city_id)
            if home is not None:
                return home
    first = cities.list_cities(session, cursor=None, limit=1).items
    return cities.get_city(session, first[0].slug) if first else None


def near_store(terms: Any, store: Any, at: tuple[float, float]) -> NearStore:
    """What the list says about one store seen from ``at``: the fee and the estimated delivery time if it
    delivers there (prep + pickup + travel, as ``orders.pricing`` promises it)."""
    distance = float(store.distance_m or 0.0)
    delivers = terms.covers(*at)
    eta = store.prep_minutes + pricing.PICKUP_MINUTES + pricing.travel_minutes(distance) if delivers else None
    return NearStore(
        id=store.id, name=store.name, category=store.category, rating=store.rating, distance_m=distance,
        open_now=store.open_now, accepting_orders=terms.accepting_orders, delivers=delivers,
        delivery_fee=terms.delivery_fee(distance) if delivers else None, eta_minutes=eta,
        min_order=terms.min_order, currency=terms.currency,
    )


@router.get("/stores/near", response_class=HTMLResponse)
def stores_near(
    request: Request,
    session: DbSession,
    city: str | None = None,
    lat: str | None = None,
    lng: str | None = None,
    district: str | None = None,
    category: str | None = None,
    radius: str | None = None,
    cursor: str | None = None,
) -> Response:
    try:
        the_city = _page_city(session, request, (city or "").strip()[:64] or None)
    except AppError as exc:
        return _not_found(request, exc.code if exc.code in MESSAGES else "not_found")
    if the_city is None:
        return _not_found(request, "no_city")
    districts = cities.district_summaries(session, the_city, {})
    error: AppError | None = None
    try:
        located = _parse_location(lat, lng)
    except AppError as exc:
        error, located = exc, None
    chosen_district = next((d for d in districts if d.slug == district), None) if district else None
    if district and chosen_district is None:
        error = AppError("district_not_found", 422, "no such district")
    if located is not None:
        at, source = located, "location"
    elif chosen_district is not None:
        at, source = (chosen_district.center.lat, chosen_district.center.lng), "district"
    elif (saved := _where_cookie(request)) is not None and not district:
        at, source = saved, "saved"
    else:
        at, source = (the_city.center_lat, the_city.center_lng), "centre"
    radius_m = int(radius) if radius and radius.isdigit() and int(radius) in RADII else DEFAULT_RADIUS
    category = category if category else None
    found: list[NearStore] = []
    next_cursor = None
    if category is not None and category not in CATEGORIES:
        error = AppError("unknown_category", 422, "unknown category")
        category = None
    try:
        listed, next_cursor = stores.list_stores(
            session, the_city.id, the_city.timezone, cursor=cursor or None, limit=NEAR_PAGE_SIZE,
            category=category, near=stores.Near(at[0], at[1], radius_m),
        )
        found = [near_store(catalogue.delivery_terms(session, s.id), s, at) for s in listed]
    except AppError as exc:
        error = exc
    params = {
        "city": city or "", "lat": lat or "", "lng": lng or "", "district": district or "",
        "category": category or "", "radius": str(radius_m),
    }
    more_url = None
    if next_cursor:
        more_url = "/stores/near?" + urlencode({k: v for k, v in {**params, "cursor": next_cursor}.items() if v})
    response = render(
        request,
        "orders/near.html",
        {
            "nav": "near",
            "city": the_city,
            "districts": districts,
            "stores": found,
            "at": at,
            "source": source,
            "district": chosen_district,
            "category": category,
            "categories": CATEGORIES,
            "category_names": CATEGORY_NAMES,
            "radius": radius_m,
            "radii": RADII,
            "params": params,
            "more_url": more_url,
            "paged": bool(cursor),
            "error": explain(request, error) if error else None,
            "error_code": error.code if error else None,
        },
        status_code=error.status if error else 200,
    )
    if located is not None:
        # Remembered for the checkout's delivery address (the person's own choice, on their own device).
        response.set_cookie(
            WHERE_COOKIE, f"{located[0]:.6f}_{located[1]:.6f}", max_age=WHERE_MAX_AGE, httponly=True, samesite="lax",
            secure=request.url.scheme == "https", path="/",
        )
    return response


# --------------------------------------------------------------------------------------------------------------
# The cart


def _menu_names(session: Session, store_id: uuid.UUID) -> dict[str, str]:
    try:
        menu = catalogue.load_menu(session, store_id)
    except AppError:
        return {}
    return {str(item_id): item.name for item_id, item in menu.items.items()}


def _cart_page(
    request: Request,
    session: Session,
    auth: accounts.Authenticated,
    *,
    error: AppError | None = None,
    error_store: uuid.UUID | None = None,
) -> HTMLResponse:
    views = [carts.view(session, cart) for cart in carts.carts_of(session, auth.person_id)]
    message = None
    if error is not None:
        names = _menu_names(session, error_store) if error_store else {}
        message = explain(request, error, names=names)
    added = _parse_id(request.query_params.get("added"))
    flash = None
    if added is not None and error is None:
        flash = {"kind": "ok", "text": _tr(request, N_("Added to your cart."))}
    return render(
        request,
        "orders/cart.html",
        {
            "nav": "cart",
            "views": views,
            "error": message,
            "error_code": error.code if error else None,
            "error_store": error_store,
            "flash": flash,
            "max_quantity": menu_mod.MAX_QUANTITY,
            "explain": lambda exc, names: explain(request, exc, names=names),
        },
        status_code=error.status if error else 200,
    )


@router.get("/cart", response_class=HTMLResponse)
def cart_page(request: Request, session: DbSession) -> Response:
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request, "/cart")
    return _cart_page(request, session, auth)


@router.post("/cart/add")
def cart_add(
    request: Request,
    session: DbSession,
    store_id: FormStr = "",
    item_id: FormStr = "",
    quantity: FormStr = "1",
    option_id: FormList = [],  # noqa: B006  (FastAPI copies the default)
    next: FormStr = "",
    kind: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    """Put an item in the cart from a store's page. ``kind=click_collect`` (the store page's "Reserve to collect")
    goes on to the checkout for a click-and-collect order; ``next`` (a local path) is where to go back to."""
    store = _parse_id(store_id)
    back = f"/stores/{store}" if store else "/stores/near"
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request, back)
    links = [(back, _tr(request, N_("Back to the store"))), ("/cart", _tr(request, N_("My cart")))]
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _notice(request, title=_tr(request, N_("Not added")), detail=explain(request, bad), code=bad.code,
                       status_code=bad.status, links=links)
    if not can(auth.principal, Action.PURCHASE):
        return _notice(request, title=_tr(request, N_("Not allowed")),
                       detail=_tr(request, N_("This account cannot buy.")), code="forbidden", status_code=403)
    item = _parse_id(item_id)
    options = [_parse_id(o) for o in option_id if o]
    try:
        if store is None:
            raise AppError("store_not_found", 404, "no such store")
        if item is None or any(o is None for o in options):
            raise AppError("unknown_item", 422, "not an item of this store")
        amount = int(quantity.strip()) if re.fullmatch(r"\s*[0-9]{1,3}\s*", quantity or "") else -1
        with session.begin_nested():  # a refusal leaves the cart as it was
            carts.add(
                session, person_id=auth.person_id, store_id=store, item_id=item, quantity=amount,
                option_ids=[o for o in options if o is not None],
            )
    except AppError as exc:
        names = _menu_names(session, store) if store else {}
        if item is not None and exc.code in ("item_sold_out", "option_sold_out", "option_picks", "unknown_option",
                                             "item_unavailable_now", "duplicate_option", "unknown_item"):
            exc.extra.setdefault("item_id", str(item))
        return _notice(request, title=_tr(request, N_("Not added to your cart")), detail=explain(request, exc, names=names),
                       code=exc.code, status_code=exc.status, links=links)
    if kind == OrderKind.CLICK_COLLECT.value:
        return see_other(f"/checkout/{store}?kind={OrderKind.CLICK_COLLECT.value}")
    return see_other(_safe_next(next) or f"/cart?added={store}")


def _cart_change(
    request: Request, session: Session, store_id: str, key: str, quantity: int | None, csrf_token: str
) -> Response:
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request, "/cart")
    store = _parse_id(store_id)
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _cart_page(request, session, auth, error=bad, error_store=store)
    try:
        if store is None:
            raise carts.cart_line_invalid("no such cart")
        if quantity is None:
            raise AppError("invalid_quantity", 422, "not a quantity")
        with session.begin_nested():
            carts.set_quantity(session, person_id=auth.person_id, store_id=store, key=key[:32], quantity=quantity)
    except AppError as exc:
        return _cart_page(request, session, auth, error=exc, error_store=store)
    return see_other("/cart")


@router.post("/cart/update")
def cart_update(
    request: Request, session: DbSession, store_id: FormStr = "", key: FormStr = "", quantity: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    amount = int(quantity.strip()) if re.fullmatch(r"\s*[0-9]{1,3}\s*", quantity or "") else None
    return _cart_change(request, session, store_id, key, amount, csrf_token)


@router.post("/cart/remove")
def cart_remove(
    request: Request, session: DbSession, store_id: FormStr = "", key: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    return _cart_change(request, session, store_id, key, 0, csrf_token)


# --------------------------------------------------------------------------------------------------------------
# The checkout


@dataclass
class CheckoutForm:
    kind: str = OrderKind.DELIVERY.value
    payment_mode: str = PaymentMode.ONLINE.value
    lat: str = ""
    lng: str = ""
    address: str = ""
    note: str = ""

    def destination(self) -> service.Destination | None:
        located = _parse_location(self.lat, self.lng)
        if located is None:
            return None
        return service.Destination(lat=located[0], lng=located[1], address=self.address.strip()[:ADDRESS_MAX])

    def query(self) -> str:
        return urlencode({k: v for k, v in vars(self).items() if v})


def _checkout_form(
    request: Request, kind: str | None, payment_mode: str | None, lat: str | None, lng: str | None,
    address: str | None, note: str | None,
) -> CheckoutForm:
    form = CheckoutForm(
        kind=kind if kind in {k.value for k in KINDS} else OrderKind.DELIVERY.value,
        payment_mode=PaymentMode.AT_COUNTER.value if payment_mode == PaymentMode.AT_COUNTER.value else PaymentMode.ONLINE.value,
        lat=(lat or "").strip()[:32],
        lng=(lng or "").strip()[:32],
        address=(address or "").strip()[:ADDRESS_MAX],
        note=(note or "").strip()[:NOTE_MAX],
    )
    if form.kind != OrderKind.CLICK_COLLECT.value:
        form.payment_mode = PaymentMode.ONLINE.value
    if not form.lat and not form.lng and lat is None and lng is None:
        saved = _where_cookie(request)
        if saved is not None:
            form.lat, form.lng = f"{saved[0]:.6f}", f"{saved[1]:.6f}"
    return form


def _checkout_page(
    request: Request,
    session: Session,
    auth: accounts.Authenticated,
    store_id: uuid.UUID,
    form: CheckoutForm,
    *,
    error: AppError | None = None,
) -> HTMLResponse:
    cart = carts.cart_of(session, auth.person_id, store_id)
    ref = catalogue.store_ref(session, store_id)
    quote = None
    quote_error: AppError | None = None
    if cart is not None:
        try:
            quote = service.quote(
                session, store_id=store_id, kind=OrderKind(form.kind), lines=carts.requests_of(cart),
                destination=form.destination() if form.kind == OrderKind.DELIVERY.value else None,
            )
        except AppError as exc:
            quote_error = exc
    names = _menu_names(session, store_id) if (error or quote_error) else {}
    balance = payments.wallet_balance(session, auth.person_id, ref.currency)
    message = None
    shortfall = 0
    if error is not None:
        amount = quote.total if quote is not None else 0
        shortfall = max(0, amount - balance.available)
        message = explain(
            request, error, currency=ref.currency, names=names,
            available=_money(request, balance.available, ref.currency), amount=_money(request, amount, ref.currency),
        )
    today = clock.in_zone(clock.now(), ref.timezone).date()
    return render(
        request,
        "orders/checkout.html",
        {
            "nav": "cart",
            "store": ref.store,
            "currency": ref.currency,
            "timezone": ref.timezone,
            "cart": cart,
            "form": form,
            "kinds": [k.value for k in KINDS],
            "kind_names": KIND_NAMES,
            "kind_hints": KIND_HINTS,
            "quote": quote,
            "promised": _hhmm(quote.promised_at, ref.timezone, today) if quote else None,
            "quote_error": explain(request, quote_error, currency=ref.currency, names=names) if quote_error else None,
            "quote_error_code": quote_error.code if quote_error else None,
            "balance": balance,
            "error": message,
            "error_code": error.code if error else None,
            "top_up_url": "/wallet?amount=" + (format_amount_input(shortfall, ref.currency) if shortfall else "")
            + "#top-up",
            "channels": CHANNELS,
            "note_max": NOTE_MAX,
            "address_max": ADDRESS_MAX,
        },
        status_code=error.status if error else 200,
    )


def _checkout_guard(request: Request, session: Session, store_id: str, next_url: str) -> tuple[accounts.Authenticated, uuid.UUID] | Response:
    auth = page_auth(request)
    parsed = _parse_id(store_id)
    if auth is None:
        return _sign_in_first(request, next_url if parsed else "/cart")
    if parsed is None:
        return _not_found(request, "store_not_found", links=[("/cart", _tr(request, N_("My cart")))])
    try:
        catalogue.store_ref(session, parsed)
    except AppError:
        return _not_found(request, "store_not_found", links=[("/cart", _tr(request, N_("My cart")))])
    if not can(auth.principal, Action.PURCHASE):
        return _notice(request, title=_tr(request, N_("Not allowed")),
                       detail=_tr(request, N_("This account cannot buy.")), code="forbidden", status_code=403)
    if carts.cart_of(session, auth.person_id, parsed) is None:
        return _notice(
            request, title=_tr(request, N_("Nothing to check out")), detail=_tr(request, MESSAGES["empty_cart"]),
            code="empty_cart", status_code=404,
            links=[(f"/stores/{parsed}", _tr(request, N_("Back to the store"))), ("/cart", _tr(request, N_("My cart")))],
        )
    return auth, parsed


@router.get("/checkout/{store_id}", response_class=HTMLResponse)
def checkout_page(
    request: Request,
    session: DbSession,
    store_id: str,
    kind: str | None = None,
    payment_mode: str | None = None,
    lat: str | None = None,
    lng: str | None = None,
    address: str | None = None,
    note: str | None = None,
) -> Response:
    found = _checkout_guard(request, session, store_id, request.url.path + (f"?{request.url.query}" if request.url.query else ""))
    if isinstance(found, Response):
        return found
    auth, store = found
    form = _checkout_form(request, kind, payment_mode, lat, lng, address, note)
    return _checkout_page(request, session, auth, store, form)


@router.post("/checkout/{store_id}")
def checkout_pay(
    request: Request,
    session: DbSession,
    store_id: str,
    kind: FormStr = "",
    payment_mode: FormStr = "",
    lat: FormStr = "",
    lng: FormStr = "",
    address: FormStr = "",
    note: FormStr = "",
    pay: FormStr = "",
    expected_total: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    found = _checkout_guard(request, session, store_id, f"/checkout/{_parse_id(store_id)}")
    if isinstance(found, Response):
        return found
    auth, store = found
    form = _checkout_form(request, kind, payment_mode, lat, lng, address, note)
    if pay == "quote":  # "Update the price": nothing changes, the page shows the new quote
        return _checkout_page(request, session, auth, store, form)
    if pay == "counter":
        form.payment_mode = PaymentMode.AT_COUNTER.value
    elif form.payment_mode == PaymentMode.AT_COUNTER.value:
        form.payment_mode = PaymentMode.ONLINE.value
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _checkout_page(request, session, auth, store, form, error=bad)
    cart = carts.cart_of(session, auth.person_id, store)
    assert cart is not None  # the guard saw it
    try:
        if pay not in PAY_CHOICES:
            raise AppError("unknown_channel", 422, "choose how to pay")
        if form.kind not in {k.value for k in KINDS}:
            raise AppError("invalid_order_kind", 422, "choose a kind")
        expected = int(expected_total) if expected_total.isdigit() else None
        destination = form.destination() if form.kind == OrderKind.DELIVERY.value else None
        with session.begin_nested():  # a refusal (insufficient funds, sold out meanwhile ...) places nothing
            order = service.place(
                session,
                request.app.state.settings,
                customer_id=auth.person_id,
                store_id=store,
                kind=OrderKind(form.kind),
                payment_mode=PaymentMode(form.payment_mode),
                lines=carts.requests_of(cart),
                destination=destination,
                note=form.note,
                pay_with_wallet=pay == "wallet",
                expected_total=expected,
            )
            if pay in CHANNELS:
                assert order.intent_id is not None
                payments.start_channel(session, order.intent_id, auth.person_id, pay)
            carts.clear(session, auth.person_id, store)
    except AppError as exc:
        return _checkout_page(request, session, auth, store, form, error=exc)
    log.info("order_checked_out", order=str(order.id), pay=pay, kind=form.kind)
    if pay in CHANNELS:
        # The wallet's hand-off to the channel's cashier runs in its own request, once this one has committed.
        return see_other(f"/wallet/payments/{order.intent_id}/checkout")
    return see_other(f"/orders/{order.id}")


# --------------------------------------------------------------------------------------------------------------
# My orders


@dataclass(frozen=True)
class TimelineEntry:
    event: str
    state: str
    at: str
    reason: str | None


def state_name(order: Order) -> str:
    """The order's state in the customer's words (untranslated: the template translates it)."""
    if order.state == OrderState.PLACED and order.payment_mode == PaymentMode.AT_COUNTER:
        return RESERVED_NAME
    return STATE_NAMES[order.state]


def _store_names(session: Session, store_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    names = {}
    for store_id in set(store_ids):
        sale = stores.store_for_sale(session, store_id)
        names[store_id] = sale.name if sale is not None else "—"
    return names


@router.get("/orders", response_class=HTMLResponse)
def my_orders(request: Request, session: DbSession, before: str | None = None) -> Response:
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request, "/orders")
    older_than = _parse_id(before)
    orders = service.customer_orders(session, auth.person_id, limit=ORDERS_PAGE_SIZE + 1, before=older_than)
    more = len(orders) > ORDERS_PAGE_SIZE
    orders = orders[:ORDERS_PAGE_SIZE]
    names = _store_names(session, [o.store_id for o in orders])
    zones = {o.city_id: _timezone_of_city(session, o.city_id) for o in orders}
    return render(
        request,
        "orders/list.html",
        {
            "nav": "orders",
            "orders": orders,
            "names": names,
            "zones": zones,
            "state_name": state_name,
            "kind_names": KIND_NAMES,
            "older_url": f"/orders?before={orders[-1].id}" if more and orders else None,
            "final": {s.value for s in FINAL},
        },
    )


def _my_order(request: Request, session: Session, order_id: str) -> tuple[accounts.Authenticated, Order] | Response:
    auth = page_auth(request)
    parsed = _parse_id(order_id)
    if auth is None:
        return _sign_in_first(request, f"/orders/{parsed}" if parsed else "/orders")
    links = [("/orders", _tr(request, N_("My orders")))]
    if parsed is None:
        return _not_found(request, "order_not_found", links)
    try:
        return auth, service.customer_order(session, parsed, auth.person_id)
    except AppError:
        return _not_found(request, "order_not_found", links)


def _timeline(session: Session, order: Order, tz: str, today: dt.date) -> list[TimelineEntry]:
    return [
        TimelineEntry(event=e.event, state=e.state, at=_hhmm(e.at, tz, today), reason=e.reason)
        for e in service.order_events(session, order.id)
    ]


def _order_page(
    request: Request, session: Session, order: Order, *, error: AppError | None = None
) -> HTMLResponse:
    tz = _timezone_of_city(session, order.city_id)
    today = clock.in_zone(clock.now(), tz).date()
    sale = stores.store_for_sale(session, order.store_id)
    lines = service.order_lines(session, order.id)
    timeline = _timeline(session, order, tz, today)
    intent = payments.get_intent(session, order.intent_id) if order.intent_id is not None else None
    refunds = payments.intent_refunds(session, intent.id) if intent is not None else []
    live = order.state not in {s.value for s in FINAL}
    cancelable = OrderEvent.CANCEL_BY_CUSTOMER in allowed_events(
        OrderKind(order.kind), PaymentMode(order.payment_mode), OrderState(order.state)
    )
    awaiting_payment = (
        order.state == OrderState.PLACED and intent is not None and intent.status in ("requires_payment", "processing")
    )
    return render(
        request,
        "orders/order.html",
        {
            "nav": "orders",
            "order": order,
            "store_name": sale.name if sale else "—",
            "lines": lines,
            "options_of": _options_text,
            "timeline": timeline,
            "timezone": tz,
            "promised": _hhmm(order.promised_at, tz, today),
            "ready_by": _hhmm(order.ready_by, tz, today),
            "placed_at": order.created_at,
            "intent": intent,
            "refunds": refunds,
            "refunded": sum(r.amount for r in refunds if r.status != "failed"),
            "live": live,
            "cancelable": cancelable,
            "awaiting_payment": awaiting_payment,
            "poll_url": f"/api/orders/{order.id}",
            "poll_seconds": POLL_SECONDS,
            "events_count": len(timeline),
            "state_name": state_name,
            "kind_names": KIND_NAMES,
            "event_names": EVENT_NAMES,
            "reason_names": REASON_NAMES,
            "tender_names": TENDER_NAMES,
            "refund_status_names": REFUND_STATUS_NAMES,
            "show_code": order.kind in (OrderKind.TAKEOUT.value, OrderKind.CLICK_COLLECT.value),
            "error": explain(request, error, currency=order.currency) if error else None,
            "error_code": error.code if error else None,
        },
        status_code=error.status if error else 200,
    )


def _options_text(line: Any) -> str:
    """An order line's picked options as the order kept them ("Size: Large, Spice: Hot")."""
    try:
        options = json.loads(line.options or "[]")
    except ValueError:
        return ""
    return ", ".join(f"{o.get('group', '')}: {o.get('name', '')}" for o in options)


@router.get("/orders/{order_id}", response_class=HTMLResponse)
def order_page(request: Request, session: DbSession, order_id: str) -> Response:
    found = _my_order(request, session, order_id)
    if isinstance(found, Response):
        return found
    _auth, order = found
    return _order_page(request, session, order)


@router.post("/orders/{order_id}/cancel")
def order_cancel(request: Request, session: DbSession, order_id: str, csrf_token: FormStr = "") -> Response:
    found = _my_order(request, session, order_id)
    if isinstance(found, Response):
        return found
    auth, order = found
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _order_page(request, session, order, error=bad)
    try:
        with session.begin_nested():
            service.cancel_by_customer(session, order.id, auth.person_id)
    except AppError as exc:
        return _order_page(request, session, service.get_order(session, order.id), error=exc)
    return see_other(f"/orders/{order.id}")


# --------------------------------------------------------------------------------------------------------------
# The merchant's console


@dataclass(frozen=True)
class WorkPlace:
    store_id: uuid.UUID
    name: str
    role: Role
    manage: bool
    finance: bool


@router.get("/merchant", response_class=HTMLResponse)
def merchant_home(request: Request, session: DbSession) -> Response:
    auth = page_auth(request)
    if auth is None:
        return _sign_in_first(request, "/merchant")
    roles: dict[uuid.UUID, Role] = {}
    for grant in auth.principal.grants:
        if grant.store_id is None or grant.role not in (Role.MERCHANT_OWNER, Role.MERCHANT_STAFF):
            continue
        if roles.get(grant.store_id) != Role.MERCHANT_OWNER:
            roles[grant.store_id] = grant.role
    places = []
    for store_id, role in roles.items():
        sale = stores.store_for_sale(session, store_id)
        if sale is None:
            continue
        resource = Resource(city_id=sale.city_id, store_id=store_id)
        places.append(
            WorkPlace(
                store_id=store_id, name=sale.name, role=role,
                manage=can(auth.principal, Action.STORE_MANAGE, resource),
                finance=can(auth.principal, Action.STORE_FINANCE, resource),
            )
        )
    places.sort(key=lambda p: (p.role != Role.MERCHANT_OWNER, p.name))
    return render(request, "orders/merchant_home.html", {"nav": "merchant", "places": places, "role_names": ROLE_NAMES})


@dataclass(frozen=True)
class MerchantStore:
    auth: accounts.Authenticated
    ref: catalogue.StoreRef
    manage: bool

    @property
    def id(self) -> uuid.UUID:
        return self.ref.store.id

    @property
    def city_id(self) -> uuid.UUID:
        return self.ref.store.city_id


def _merchant_store(
    request: Request, session: Session, store_id: str, action: Action = Action.STORE_OPERATE
) -> MerchantStore | Response:
    """The signed-in person and the store they work in, or the answer instead (sign in, 404, 403)."""
    auth = page_auth(request)
    parsed = _parse_id(store_id)
    if auth is None:
        return _sign_in_first(request, request.url.path if parsed else "/merchant")
    links = [("/merchant", _tr(request, N_("My stores")))]
    if parsed is None:
        return _not_found(request, "store_not_found", links)
    try:
        ref = catalogue.store_ref(session, parsed)
    except AppError:
        return _not_found(request, "store_not_found", links)
    resource = Resource(city_id=ref.store.city_id, store_id=ref.store.id)
    try:
        authorize(auth.principal, action, resource)
    except AppError:
        return _forbidden(request, links)
    return MerchantStore(auth, ref, can(auth.principal, Action.STORE_MANAGE, resource))


def latest_event_id(session: Session, store_id: uuid.UUID) -> uuid.UUID | None:
    """The id of the store's newest order event (the console polls for events after it)."""
    return session.scalar(
        select(OrderEventRecord.id)
        .where(OrderEventRecord.store_id == store_id)
        .order_by(OrderEventRecord.id.desc())
        .limit(1)
    )


@dataclass(frozen=True)
class ConsoleOrder:
    order: Order
    lines: list[Any]
    steps: list[str]  # the step paths the shop may take now, in the order of the buttons
    deadline: dt.datetime | None  # to accept by (UTC)
    minutes_left: int | None
    created: str
    promised: str


def _console_order(order: Order, lines: list[Any], tz: str, today: dt.date, now: dt.datetime) -> ConsoleOrder:
    events = allowed_events(OrderKind(order.kind), PaymentMode(order.payment_mode), OrderState(order.state))
    steps = [_EVENT_OF_STEP[e] for e in events if e in _EVENT_OF_STEP]
    steps.sort(key=list(STEP_PATHS).index)
    deadline = None
    minutes_left = None
    waiting = order.state == OrderState.PAID or (
        order.state == OrderState.PLACED and order.payment_mode == PaymentMode.AT_COUNTER
    )
    if waiting and order.accept_deadline is not None:
        deadline = clock.ensure_utc(order.accept_deadline)
        minutes_left = max(0, math.ceil((deadline - now).total_seconds() / 60))
    return ConsoleOrder(
        order=order, lines=lines, steps=steps, deadline=deadline, minutes_left=minutes_left,
        created=_hhmm(order.created_at, tz, today), promised=_hhmm(order.promised_at, tz, today),
    )


def _orders_console(
    request: Request, session: Session, where: MerchantStore, *, error: AppError | None = None,
    error_order: uuid.UUID | None = None,
) -> HTMLResponse:
    tz = where.ref.timezone
    now = clock.now()
    today = clock.in_zone(now, tz).date()
    start, _end = day_bounds(today, tz)
    waiting = [
        o for o in service.store_orders(session, where.id, states=["paid", "placed"], limit=200)
        if o.state == OrderState.PAID or o.payment_mode == PaymentMode.AT_COUNTER
    ]
    waiting.sort(key=lambda o: (o.accept_deadline or o.created_at, o.id))
    active = service.store_orders(session, where.id, states=["accepted", "preparing"], limit=200)
    ready = service.store_orders(session, where.id, states=["ready", "picked_up"], limit=200)
    done = [
        o for o in service.store_orders(session, where.id, states=["completed", "canceled"], limit=DONE_TODAY_LIMIT)
        if clock.ensure_utc(o.updated_at) >= start and o.kind != OrderKind.COUNTER
    ]
    every = [*waiting, *active, *ready, *done]
    lines = service.lines_of(session, [o.id for o in every])
    groups = [
        ("incoming", N_("New orders"), [_console_order(o, lines[o.id], tz, today, now) for o in waiting]),
        ("active", N_("In progress"), [_console_order(o, lines[o.id], tz, today, now) for o in active]),
        ("ready", N_("Ready and on their way"), [_console_order(o, lines[o.id], tz, today, now) for o in ready]),
        ("done", N_("Done today"), [_console_order(o, lines[o.id], tz, today, now) for o in done]),
    ]
    last_event = latest_event_id(session, where.id)
    return render(
        request,
        "orders/merchant_orders.html",
        {
            "nav": "merchant",
            "section": "orders",
            "store": where.ref.store,
            "manage": where.manage,
            "currency": where.ref.currency,
            "groups": groups,
            "reasons": MERCHANT_CANCEL_REASONS,
            "reason_names": REASON_NAMES,
            "step_names": STEP_NAMES,
            "state_names": MERCHANT_STATE_NAMES,
            "kind_names": KIND_NAMES,
            "tender_names": TENDER_NAMES,
            "options_of": _options_text,
            "poll_url": f"/api/merchant/stores/{where.id}/order-events"
            + (f"?after={last_event}" if last_event else ""),
            "poll_seconds": POLL_SECONDS,
            "error": explain(request, error, currency=where.ref.currency) if error else None,
            "error_code": error.code if error else None,
            "error_order": error_order,
        },
        status_code=error.status if error else 200,
    )


@router.get("/merchant/stores/{store_id}/orders", response_class=HTMLResponse)
def merchant_orders(request: Request, session: DbSession, store_id: str) -> Response:
    where = _merchant_store(request, session, store_id)
    if isinstance(where, Response):
        return where
    return _orders_console(request, session, where)


@router.post("/merchant/stores/{store_id}/orders/{order_id}/{step}")
def merchant_order_step(
    request: Request,
    session: DbSession,
    store_id: str,
    order_id: str,
    step: str,
    reason: FormStr = "",
    tender: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    where = _merchant_store(request, session, store_id)
    if isinstance(where, Response):
        return where
    parsed = _parse_id(order_id)
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _orders_console(request, session, where, error=bad, error_order=parsed)
    try:
        event = STEP_PATHS.get(step)
        if event is None:
            raise AppError("unknown_step", 404, "no such step")
        if parsed is None:
            raise service.order_not_found()
        with session.begin_nested():
            service.merchant_step(
                session, parsed, event, store_id=where.id, person_id=where.auth.person_id,
                reason=reason or None, tender=tender or None,
            )
    except AppError as exc:
        return _orders_console(request, session, where, error=exc, error_order=parsed)
    return see_other(f"/merchant/stores/{where.id}/orders#order-{parsed}")


# ---- the point of sale


def parse_ticket(text: str | None) -> list[carts.CartLine]:
    """The counter's ticket from the page's URL: ``item:qty:opt,opt;item:qty:`` (malformed lines are dropped)."""
    lines = []
    for part in (text or "").split(";")[: menu_mod.MAX_LINES]:
        fields = part.split(":")
        if len(fields) != 3 or not fields[1].isdigit():
            continue
        item = _parse_id(fields[0])
        options = [_parse_id(o) for o in fields[2].split(",") if o]
        quantity = int(fields[1])
        if item is None or any(o is None for o in options) or not 1 <= quantity <= menu_mod.MAX_QUANTITY:
            continue
        lines.append(carts.CartLine(item, quantity, tuple(o for o in options if o is not None)))
    return lines


def ticket_text(lines: Sequence[carts.CartLine]) -> str:
    return ";".join(f"{line.item_id}:{line.quantity}:{','.join(str(o) for o in line.option_ids)}" for line in lines)


def add_to_ticket(lines: Sequence[carts.CartLine], line: carts.CartLine) -> list[carts.CartLine]:
    """The same item with the same options adds to its line (up to the most one line holds)."""
    out = list(lines)
    for index, existing in enumerate(out):
        if existing.key == line.key:
            out[index] = carts.CartLine(
                existing.item_id, min(existing.quantity + line.quantity, menu_mod.MAX_QUANTITY), existing.option_ids
            )
            return out
    if len(out) < menu_mod.MAX_LINES:
        out.append(line)
    return out


def _counter_url(store_id: uuid.UUID, lines: Sequence[carts.CartLine], **extra: str) -> str:
    params = {"ticket": ticket_text(lines), **extra} if lines else dict(extra)
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/merchant/stores/{store_id}/counter" + (f"?{query}" if query else "")


def _counter_page(
    request: Request,
    session: Session,
    where: MerchantStore,
    ticket: list[carts.CartLine],
    *,
    error: AppError | None = None,
    tender: str = "",
) -> HTMLResponse:
    view = catalogue.menu_view(session, where.id)
    menu = view.menu
    priced_lines = []
    for index, line in enumerate(ticket):
        item = menu.items.get(line.item_id)
        try:
            (priced,) = menu_mod.price_lines(menu, [line.request()], view.local_time)
            problem = None
        except AppError as exc:
            priced, problem = None, exc
        picked = set(line.option_ids)
        options = [f"{g.name}: {o.name}" for g in item.groups for o in g.options if o.id in picked] if item else []
        rest = [other for i, other in enumerate(ticket) if i != index]
        priced_lines.append(
            {
                "name": item.name if item else None, "quantity": line.quantity, "options": options,
                "priced": priced, "problem": problem, "remove_url": _counter_url(where.id, rest),
            }
        )
    names = {str(item_id): item.name for item_id, item in menu.items.items()}
    sold = None
    sold_id = _parse_id(request.query_params.get("sold"))
    if sold_id is not None and error is None:
        try:
            order = service.get_order(session, sold_id)
            if order.store_id == where.id and order.kind == OrderKind.COUNTER:
                sold = order
        except AppError:
            sold = None
    return render(
        request,
        "orders/counter.html",
        {
            "nav": "merchant",
            "section": "counter",
            "store": where.ref.store,
            "manage": where.manage,
            "currency": where.ref.currency,
            "view": view,
            "menu": menu,
            "ticket": ticket_text(ticket),
            "lines": priced_lines,
            "total": sum(line["priced"].line_total for line in priced_lines if line["priced"] is not None),
            "sellable": bool(priced_lines) and all(line["problem"] is None for line in priced_lines),
            "explain": lambda exc: explain(request, exc, currency=where.ref.currency, names=names),
            "sold": sold,
            "tender": tender,
            "tender_names": TENDER_NAMES,
            "error": explain(request, error, currency=where.ref.currency, names=names) if error else None,
            "error_code": error.code if error else None,
        },
        status_code=error.status if error else 200,
    )


@router.get("/merchant/stores/{store_id}/counter", response_class=HTMLResponse)
def counter_page(
    request: Request,
    session: DbSession,
    store_id: str,
    ticket: str | None = None,
    add: str | None = None,
    quantity: str | None = None,
) -> Response:
    """The point of sale. The ticket being rung up lives in the page's address (nothing is stored before the
    sale): adding a line is a GET that answers with the new address."""
    where = _merchant_store(request, session, store_id)
    if isinstance(where, Response):
        return where
    lines = parse_ticket(ticket)
    if add is not None:
        item = _parse_id(add)
        options = [_parse_id(o) for o in request.query_params.getlist("option_id") if o]
        amount = int(quantity) if quantity and quantity.isdigit() else 1
        if item is not None and all(o is not None for o in options) and 1 <= amount <= menu_mod.MAX_QUANTITY:
            lines = add_to_ticket(lines, carts.CartLine(item, amount, tuple(o for o in options if o is not None)))
        return see_other(_counter_url(where.id, lines))
    return _counter_page(request, session, where, lines)


@router.post("/merchant/stores/{store_id}/counter")
def counter_sell(
    request: Request,
    session: DbSession,
    store_id: str,
    ticket: FormStr = "",
    tender: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    where = _merchant_store(request, session, store_id)
    if isinstance(where, Response):
        return where
    lines = parse_ticket(ticket)
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _counter_page(request, session, where, lines, error=bad, tender=tender)
    try:
        if tender not in service.TENDERS:
            raise AppError("invalid_tender", 422, "cash or card")
        with session.begin_nested():  # out of stock: nothing sold, nothing taken
            order = service.sell_at_counter(
                session, store_id=where.id, clerk_id=where.auth.person_id, lines=[line.request() for line in lines],
                tender=tender,
            )
    except AppError as exc:
        return _counter_page(request, session, where, lines, error=exc, tender=tender)
    return see_other(_counter_url(where.id, [], sold=str(order.id)))


# ---- stock


def _stock_page(
    request: Request, session: Session, where: MerchantStore, *, error: AppError | None = None,
    error_item: uuid.UUID | None = None, saved: uuid.UUID | None = None,
) -> HTMLResponse:
    menu = catalogue.load_menu(session, where.id)
    levels = stock.levels(session, list(menu.items))
    rows = []
    for category in menu.categories:
        for item in menu.items_of(category):
            rows.append({"item": item, "category": category.name, "level": levels.get(item.id)})
    names = {str(item_id): item.name for item_id, item in menu.items.items()}
    return render(
        request,
        "orders/stock.html",
        {
            "nav": "merchant",
            "section": "stock",
            "store": where.ref.store,
            "manage": where.manage,
            "rows": rows,
            "max_on_hand": stock.MAX_ON_HAND,
            "error": explain(request, error, names=names) if error else None,
            "error_code": error.code if error else None,
            "error_item": error_item,
            "saved": saved,
        },
        status_code=error.status if error else 200,
    )


@router.get("/merchant/stores/{store_id}/stock", response_class=HTMLResponse)
def stock_page(request: Request, session: DbSession, store_id: str) -> Response:
    where = _merchant_store(request, session, store_id)
    if isinstance(where, Response):
        return where
    return _stock_page(request, session, where, saved=_parse_id(request.query_params.get("saved")))


@router.post("/merchant/stores/{store_id}/stock")
def stock_set(
    request: Request,
    session: DbSession,
    store_id: str,
    item_id: FormStr = "",
    on_hand: FormStr = "",
    action: FormStr = "set",
    csrf_token: FormStr = "",
) -> Response:
    """Count the shelf (staff and owner), or stop counting an item so it sells without limit (owner only)."""
    where = _merchant_store(request, session, store_id)
    if isinstance(where, Response):
        return where
    item = _parse_id(item_id)
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _stock_page(request, session, where, error=bad, error_item=item)
    if action == "untrack" and not where.manage:
        return _forbidden(request, [(f"/merchant/stores/{where.id}/stock", _tr(request, N_("Back to the stock")))])
    try:
        menu = catalogue.load_menu(session, where.id)
        if item is None or item not in menu.items:
            raise AppError("unknown_item", 422, "not an item of this store")
        if action == "untrack":
            units = None
        else:
            text = on_hand.strip()
            if not re.fullmatch(r"[0-9]{1,7}", text):
                raise AppError("invalid_stock", 422, "a whole number")
            units = int(text)
        with session.begin_nested():  # stock_below_held: nothing changes
            stock.set_on_hand(
                session, city_id=where.city_id, store_id=where.id, item_id=item, on_hand=units,
            )
    except AppError as exc:
        if item is not None:
            exc.extra.setdefault("item_id", str(item))
        return _stock_page(request, session, where, error=exc, error_item=item)
    return see_other(f"/merchant/stores/{where.id}/stock?saved={item}#item-{item}")


# ---- sales by channel


CHART_WIDTH, CHART_HEIGHT, CHART_TOP, CHART_BASE = 440.0, 200.0, 16.0, 160.0


@dataclass(frozen=True)
class ChannelBar:
    channel: str
    orders: int
    amount: int
    x: float
    y: float
    width: float
    height: float


def channel_bars(rows: Sequence[service.ChannelSales]) -> list[ChannelBar]:
    """One bar per channel, laid out in the chart's coordinates (the best channel = the full height)."""
    slot = CHART_WIDTH / max(len(rows), 1)
    width = slot * 0.6
    top = max([row.amount for row in rows] + [1])
    bars = []
    for i, row in enumerate(rows):
        height = (CHART_BASE - CHART_TOP) * max(row.amount, 0) / top
        if row.amount > 0:
            height = max(height, 2.0)
        bars.append(ChannelBar(row.channel, row.orders, row.amount, round(i * slot + (slot - width) / 2, 1),
                               round(CHART_BASE - height, 1), round(width, 1), round(height, 1)))
    return bars


def _day_of(text: str) -> dt.date | None:
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


@router.get("/merchant/stores/{store_id}/sales", response_class=HTMLResponse)
def sales_page(request: Request, session: DbSession, store_id: str, day: str | None = None) -> Response:
    where = _merchant_store(request, session, store_id)
    if isinstance(where, Response):
        return where
    tz = where.ref.timezone
    today = clock.in_zone(clock.now(), tz).date()
    shown = today
    if day:
        chosen = _day_of(day.strip())
        if chosen is None:
            return _notice(
                request, title=_tr(request, N_("Which day?")), detail=_tr(request, MESSAGES["invalid_day"]),
                code="invalid_day", status_code=400,
                links=[(f"/merchant/stores/{where.id}/sales", _tr(request, N_("Today's sales")))],
            )
        shown = chosen
    rows = sales_by_channel(session, where.id, shown)
    return render(
        request,
        "orders/sales.html",
        {
            "nav": "merchant",
            "section": "sales",
            "store": where.ref.store,
            "manage": where.manage,
            "currency": where.ref.currency,
            "rows": rows,
            "bars": channel_bars(rows),
            "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "top": CHART_TOP, "base": CHART_BASE},
            "channel_names": CHANNEL_NAMES,
            "total_orders": sum(r.orders for r in rows),
            "total_amount": sum(r.amount for r in rows),
            "day": shown,
            "today": today,
            "previous_day": shown - dt.timedelta(days=1),
            "next_day": shown + dt.timedelta(days=1) if shown < today else None,
        },
    )
