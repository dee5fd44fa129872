"""Store pages: the customer's store page (its terms and menu, with "Add to cart"), an item's page (where a shelf QR
code lands: the item with this shop's stock), the merchant's catalogue console, and printable shelf labels.

The rules the pages keep (as the wallet's do):

* Every form carries the CSRF token; a refused form is drawn again with a message for people and changes nothing
  (the change runs in a savepoint), a successful one redirects (303) back to the console.
* Amounts typed by people are read as text into fen exactly (``o2o.wallet.pages.parse_amount``), never a float.
* The console is for the store's owner (and the city's operators); its staff see it too but only flip the
  sold-out switches. Anyone else gets "not allowed".
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

import segno
from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from o2o.accounts.pages import N_, page_auth
from o2o.accounts.permissions import Action, Principal, Resource, can
from o2o.errors import AppError
from o2o.http import DbSession, api_router
from o2o.kit import time as clock
from o2o.kit.money import SYMBOLS
from o2o.stores import catalogue
from o2o.stores import delivery_terms as terms_mod
from o2o.stores import hours as hours_mod
from o2o.stores import menu as menu_mod
from o2o.wallet.pages import format_amount_input, parse_amount
from o2o.web.render import csrf_refusal, render, see_other
from o2o.web.render import parse_id as _parse_id
from o2o.web.render import translate as _tr

router = api_router(include_in_schema=False)

FormStr = Annotated[str, Form()]

CATEGORY_NAMES = {
    "food": N_("Restaurant"),
    "breakfast": N_("Breakfast"),
    "convenience": N_("Convenience store"),
    "grocery": N_("Grocery"),
    "fruit": N_("Fruit"),
    "pharmacy": N_("Pharmacy"),
    "flowers": N_("Flowers"),
    "coffee": N_("Coffee"),
    "tea": N_("Tea"),
    "bakery": N_("Bakery"),
    "bar": N_("Bar"),
}

# What each refusal says on a page (the API's `detail` is for developers; these are for people).
MESSAGES = {
    "csrf_failed": N_("The form's security token is missing or out of date. Reload the page and try again."),
    "invalid_name": N_("Give a name of 1 to {max} characters."),
    "invalid_price": N_("Enter a price such as 12 or 12.50."),
    "invalid_price_delta": N_("Enter a price change such as +3, -2 or 0."),
    "invalid_picks": N_("The number of picks does not work: at least 0, at most {max}, and the most at least the least."),
    "invalid_windows": N_("Write the times like 06:30-10:30, several separated by commas; leave empty for all day."),
    "invalid_description": N_("The description is too long."),
    "invalid_image": N_("The picture is one emoji or a few characters."),
    "duplicate_name": N_("That name is already used here. Choose another one."),
    "unknown_menu_category": N_("Choose one of the store's categories."),
    "category_not_empty": N_("This category still holds items: archive or move them first."),
    "unit_price_below_zero": N_("With that change an item could cost less than nothing. Raise its price or lower the discount."),
    "catalogue_limit": N_("The catalogue has reached its size limit here."),
    "invalid_fee": N_("Enter the fees and the minimum order as amounts such as 3 or 2.50."),
    "invalid_delivery_radius": N_("The delivery radius is between {min} and {max} metres."),
    "invalid_delivery_base": N_("The distance the base fee covers is between 0 and {max} metres."),
    "invalid_prep_minutes": N_("The preparation time is between 0 and {max} minutes."),
    "menu_item_not_found": N_("This item is no longer on the menu."),
    "menu_category_not_found": N_("This category is no longer on the menu."),
    "option_group_not_found": N_("This option group no longer exists."),
    "option_not_found": N_("This option no longer exists."),
    "store_not_found": N_("This shop does not exist (any more)."),
    "forbidden": N_("Only the store's owner and staff can open its catalogue."),
}
SAVED = {
    "category": N_("Category added."),
    "item": N_("Item added."),
    "price": N_("Price saved."),
    "sold_out": N_("Marked sold out."),
    "back": N_("Back on sale."),
    "archived": N_("Item archived: it is off the menu."),
    "group": N_("Options added."),
    "option": N_("Option added."),
    "settings": N_("Store settings saved."),
}


def _notice(request: Request, *, title: str, detail: str, code: str, status_code: int,
            links: list[tuple[str, str]] | None = None) -> HTMLResponse:
    return render(
        request,
        "stores/notice.html",
        {"title": title, "detail": detail, "code": code, "links": links or [("/", _tr(request, N_("Home")))]},
        status_code=status_code,
    )


def _not_found(request: Request, code: str = "store_not_found") -> HTMLResponse:
    return _notice(request, title=_tr(request, N_("Not found")), detail=_tr(request, MESSAGES[code]), code=code,
                   status_code=404)


def _message(request: Request, error: AppError) -> str:
    template = MESSAGES.get(error.code)
    if template is None:
        return error.detail
    values: dict[str, Any] = {
        "max": {
            "invalid_name": error.extra.get("max_length", catalogue.NAME_MAX["item"]),
            "invalid_picks": catalogue.MAX_OPTIONS,
            "invalid_delivery_radius": terms_mod.MAX_RADIUS_M,
            "invalid_delivery_base": terms_mod.MAX_RADIUS_M,
            "invalid_prep_minutes": catalogue.MAX_PREP_MINUTES,
        }.get(error.code, ""),
        "min": terms_mod.MIN_RADIUS_M,
    }
    return _tr(request, template, **values)


# --------------------------------------------------------------------------------------------------------------
# What people type


_WINDOW = re.compile(r"(\d{1,2}):(\d{2})\s*[-–—~至到]\s*(\d{1,2}):(\d{2})")


def parse_windows_text(text: str) -> list[list[str]] | None:
    """``"6:30-10:30, 17:00–20:00"`` -> ``[["06:30", "10:30"], ["17:00", "20:00"]]``; empty -> None (always).
    Anything else is refused as ``invalid_windows``."""
    cleaned = text.strip()
    if not cleaned:
        return None
    pairs = []
    rest = _WINDOW.sub("", cleaned)
    if re.sub(r"[\s,，;；、]", "", rest):
        raise AppError("invalid_windows", 422, "not a list of HH:MM-HH:MM windows")
    for h1, m1, h2, m2 in _WINDOW.findall(cleaned):
        pairs.append([f"{int(h1):02d}:{m1}", f"{int(h2):02d}:{m2}"])
    return pairs


def windows_text(pairs: list[list[str]] | None) -> str:
    return ", ".join(f"{a}-{b}" for a, b in pairs or [])


def _read_price(text: str, currency: str, code: str = "invalid_price") -> int:
    amount = parse_amount(text, currency)
    if amount is None:
        raise AppError(code, 422, "not an amount")
    return amount


def parse_delta(text: str, currency: str) -> int:
    """``"+3"`` -> 300, ``"-2.5"`` -> -250, ``""`` -> 0 (fen, for CNY)."""
    cleaned = text.strip().replace("＋", "+").replace("－", "-").replace("−", "-")
    if not cleaned:
        return 0
    sign = -1 if cleaned.startswith("-") else 1
    amount = parse_amount(cleaned.lstrip("+-"), currency)
    if amount is None:
        raise AppError("invalid_price_delta", 422, "not a price change")
    return sign * amount


_OPTION_LINE = re.compile(r"^(.*?)[\s:：,，]*([+\-＋－−]\s*[0-9０-９.．]+)?\s*$")


def parse_option_lines(text: str, currency: str) -> list[dict[str, Any]]:
    """One option a line: a name and an optional price change (``大份 +3``)."""
    options = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        match = _OPTION_LINE.match(line)
        name, delta = (match.group(1), match.group(2)) if match else (line, None)
        options.append({"name": name, "price_delta": parse_delta((delta or "").replace(" ", ""), currency)})
    return options


def _int_field(text: str, code: str) -> int:
    cleaned = text.strip()
    if not re.fullmatch(r"-?\d{1,7}", cleaned):
        raise AppError(code, 422, "not a whole number")
    return int(cleaned)


# --------------------------------------------------------------------------------------------------------------
# The customer's pages


def _near(request: Request) -> tuple[float, float] | None:
    try:
        lat = float(request.query_params.get("lat", ""))
        lng = float(request.query_params.get("lng", ""))
    except ValueError:
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return lat, lng


def _store_header(request: Request, ref: catalogue.StoreRef, view: catalogue.MenuView) -> dict[str, Any]:
    store = ref.store
    terms = catalogue.terms_of(ref)
    hours = hours_mod.parse_hours(store.opening_hours)
    open_now = hours_mod.is_open(hours, view.local_time)
    change = hours_mod.next_change(hours, view.local_time)
    near = _near(request)
    distance = delivers = fee = None
    if near is not None:
        distance = terms.distance_m(*near)
        delivers = terms.covers(*near)
        fee = terms.delivery_fee(distance) if delivers else None
    return {
        "store": store,
        "terms": terms,
        "currency": ref.currency,
        "category_name": _tr(request, CATEGORY_NAMES.get(store.category, store.category)),
        "open_now": open_now,
        "next_change": change.strftime("%H:%M") if change is not None else None,
        "hours_today": [f"{a}–{b}" for a, b in hours.as_dict()[hours_mod.DAYS[view.local_time.weekday()]]],
        "distance": distance,
        "delivers_here": delivers,
        "delivery_fee_here": fee,
        "symbol": SYMBOLS.get(ref.currency, ref.currency),
    }


def _item_context(view: catalogue.MenuView, item: menu_mod.Item, *, accepting: bool = True) -> dict[str, Any]:
    """What the pages show of an item now; ``can_add``: the "Add to cart" button works (not while paused)."""
    next_at = None if view.available_now(item) else view.next_available(item)
    own, of_category = view.menu.item_windows(item)
    return {
        "item": item,
        "sold_out": view.sold_out(item),
        "available_now": view.available_now(item),
        "orderable": view.orderable(item),
        "can_add": view.orderable(item) and accepting,
        "paused": not accepting,
        "units_left": view.units_left(item),
        "windows": ", ".join(w for w in (menu_mod.describe_windows(own), menu_mod.describe_windows(of_category)) if w),
        "next_available": next_at.strftime("%H:%M") if next_at is not None else None,
        "next_day": next_at is not None and next_at.date() != view.local_time.date(),
    }


@router.get("/stores/{store_id}", response_class=HTMLResponse)
def store_page(request: Request, session: DbSession, store_id: str) -> Response:
    parsed = _parse_id(store_id)
    if parsed is None:
        return _not_found(request)
    try:
        ref = catalogue.store_ref(session, parsed)
        view = catalogue.menu_view(session, parsed)
    except AppError:
        return _not_found(request)
    sections = [
        {
            "category": category,
            "available_now": view.category_available_now(category),
            "windows": menu_mod.describe_windows(category.windows),
            "items": [
                _item_context(view, item, accepting=ref.store.accepting_orders)
                for item in view.menu.items_of(category)
            ],
        }
        for category in view.menu.categories
    ]
    return render(
        request,
        "stores/store.html",
        {
            **_store_header(request, ref, view),
            "sections": [s for s in sections if s["items"]],
            "empty_menu": not view.menu.items,
            "signed_in": page_auth(request) is not None,
            "next_url": request.url.path,
        },
    )


@router.get("/stores/{store_id}/items/{item_id}", response_class=HTMLResponse)
def item_page(request: Request, session: DbSession, store_id: str, item_id: str) -> Response:
    parsed_store, parsed_item = _parse_id(store_id), _parse_id(item_id)
    if parsed_store is None:
        return _not_found(request)
    try:
        ref = catalogue.store_ref(session, parsed_store)
        view = catalogue.menu_view(session, parsed_store)
    except AppError:
        return _not_found(request)
    item = view.menu.items.get(parsed_item) if parsed_item is not None else None
    if item is None:
        return _notice(
            request,
            title=_tr(request, N_("Not found")),
            detail=_tr(request, MESSAGES["menu_item_not_found"]),
            code="menu_item_not_found",
            status_code=404,
            links=[(f"/stores/{parsed_store}", _tr(request, N_("See the shop's menu")))],
        )
    category = view.menu.category(item.category_id)
    return render(
        request,
        "stores/item.html",
        {
            **_store_header(request, ref, view),
            **_item_context(view, item, accepting=ref.store.accepting_orders),
            "entry": _item_context(view, item, accepting=ref.store.accepting_orders),
            "category": category,
            "signed_in": page_auth(request) is not None,
            "next_url": request.url.path,
        },
    )


def qr_svg(url: str, *, scale: int = 4) -> Markup:
    """An inline SVG QR code for ``url`` (error correction M, survives a crease in a paper label)."""
    return Markup(segno.make(url, error="m").svg_inline(scale=scale, border=2, svgclass="shelf-qr", title=url))


@router.get("/stores/{store_id}/items/{item_id}/qr.svg")
def item_qr(request: Request, session: DbSession, store_id: str, item_id: str) -> Response:
    """The shelf QR code of an item as an SVG file (for a label printer)."""
    parsed_store, parsed_item = _parse_id(store_id), _parse_id(item_id)
    if parsed_store is None or parsed_item is None:
        return _not_found(request, "menu_item_not_found")
    try:
        menu = catalogue.load_menu(session, parsed_store)
    except AppError:
        return _not_found(request)
    if parsed_item not in menu.items:
        return _not_found(request, "menu_item_not_found")
    buffer = io.BytesIO()
    url = catalogue.shelf_url(request.app.state.settings.base_url, parsed_store, parsed_item)
    segno.make(url, error="m").save(buffer, kind="svg", scale=8, border=2, title=url)
    return Response(buffer.getvalue(), media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})


# --------------------------------------------------------------------------------------------------------------
# The merchant's console


def _console_access(
    request: Request, session: Session, store_id: str
) -> tuple[catalogue.StoreRef, Principal, bool] | Response:
    """(the store, the person, may they manage it) or the response to give instead."""
    auth = page_auth(request)
    if auth is None:
        return see_other("/signin?next=" + quote(request.url.path, safe="/"))
    parsed = _parse_id(store_id)
    if parsed is None:
        return _not_found(request)
    try:
        ref = catalogue.store_ref(session, parsed)
    except AppError:
        return _not_found(request)
    resource = Resource(city_id=ref.store.city_id, store_id=ref.store.id)
    manages = can(auth.principal, Action.STORE_MANAGE, resource)
    if not manages and not can(auth.principal, Action.STORE_OPERATE, resource):
        return _notice(
            request,
            title=_tr(request, N_("Not allowed")),
            detail=_tr(request, MESSAGES["forbidden"]),
            code="forbidden",
            status_code=403,
        )
    return ref, auth.principal, manages


def _console(
    request: Request,
    session: Session,
    ref: catalogue.StoreRef,
    manages: bool,
    *,
    error: AppError | None = None,
    error_at: str | None = None,
    values: dict[str, str] | None = None,
) -> HTMLResponse:
    store_id = ref.store.id
    view = catalogue.menu_view(session, store_id)
    saved = request.query_params.get("saved")
    sections = [
        {
            "category": category,
            "windows": windows_text(menu_mod.window_pairs(category.windows)),
            "items": [
                {
                    **_item_context(view, item),
                    "price_input": format_amount_input(item.price, ref.currency),
                }
                for item in view.menu.items_of(category)
            ],
        }
        for category in view.menu.categories
    ]
    store = ref.store
    settings_values = {
        "delivery_radius_m": str(store.delivery_radius_m),
        "min_order": format_amount_input(store.min_order, ref.currency),
        "packaging_fee": format_amount_input(store.packaging_fee, ref.currency),
        "delivery_base_fee": format_amount_input(store.delivery_base_fee, ref.currency),
        "delivery_base_m": str(store.delivery_base_m),
        "delivery_fee_per_km": format_amount_input(store.delivery_fee_per_km, ref.currency),
        "prep_minutes": str(store.prep_minutes),
    }
    if error_at == "settings" and values:
        settings_values.update(values)
    return render(
        request,
        "stores/catalogue.html",
        {
            "nav": "catalogue",
            "store": store,
            "currency": ref.currency,
            "symbol": SYMBOLS.get(ref.currency, ref.currency),
            "sections": sections,
            "categories": view.menu.categories,
            "manages": manages,
            "error": _message(request, error) if error else None,
            "error_code": error.code if error else None,
            "error_at": error_at,
            "values": values or {},
            "settings_values": settings_values,
            "has_area": store.delivery_area is not None,
            "saved": _tr(request, SAVED[saved]) if saved in SAVED else None,
            "limits": {"name": catalogue.NAME_MAX, "radius": (terms_mod.MIN_RADIUS_M, terms_mod.MAX_RADIUS_M),
                       "prep": catalogue.MAX_PREP_MINUTES, "picks": catalogue.MAX_OPTIONS},
        },
        status_code=error.status if error else 200,
    )


@router.get("/merchant/stores/{store_id}/catalogue", response_class=HTMLResponse)
def console_page(request: Request, session: DbSession, store_id: str) -> Response:
    access = _console_access(request, session, store_id)
    if isinstance(access, Response):
        return access
    ref, _principal, manages = access
    return _console(request, session, ref, manages)


def _console_post(
    request: Request,
    session: Session,
    store_id: str,
    csrf_token: str,
    change: Callable[[catalogue.StoreRef], str],
    *,
    where: str,
    values: dict[str, str],
    managers_only: bool = True,
) -> Response:
    """Run one console form: check access and the CSRF token, apply ``change`` in a savepoint (a refusal leaves
    nothing behind), then back to the console (303) with what was saved, or the console again with the message."""
    access = _console_access(request, session, store_id)
    if isinstance(access, Response):
        return access
    ref, _principal, manages = access
    if managers_only and not manages:
        return _notice(request, title=_tr(request, N_("Not allowed")), detail=_tr(request, MESSAGES["forbidden"]),
                       code="forbidden", status_code=403)
    if (bad := csrf_refusal(request, csrf_token)) is not None:
        return _console(request, session, ref, manages, error=bad, error_at=where, values=values)
    try:
        with session.begin_nested():
            saved = change(ref)
    except AppError as exc:
        session.expire_all()  # the savepoint rolled back: read the catalogue again as it is
        return _console(request, session, ref, manages, error=exc, error_at=where, values=values)
    return see_other(f"/merchant/stores/{ref.store.id}/catalogue?saved={saved}#{where}")


@router.post("/merchant/stores/{store_id}/catalogue/categories")
def console_add_category(
    request: Request, session: DbSession, store_id: str, name: FormStr = "", windows: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def change(ref: catalogue.StoreRef) -> str:
        catalogue.create_category(session, ref.store.id, name=name, available_windows=parse_windows_text(windows))
        return "category"

    return _console_post(request, session, store_id, csrf_token, change, where="add-category",
                         values={"name": name[:100], "windows": windows[:200]})


@router.post("/merchant/stores/{store_id}/catalogue/items")
def console_add_item(
    request: Request, session: DbSession, store_id: str, category_id: FormStr = "", name: FormStr = "",
    price: FormStr = "", description: FormStr = "", image: FormStr = "", windows: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    def change(ref: catalogue.StoreRef) -> str:
        category = _parse_id(category_id)
        if category is None:
            raise AppError("unknown_menu_category", 422, "choose a category")
        catalogue.create_item(
            session, ref.store.id, category_id=category, name=name, price=_read_price(price, ref.currency),
            description=description, image=image or None, available_windows=parse_windows_text(windows),
        )
        return "item"

    return _console_post(
        request, session, store_id, csrf_token, change, where="add-item",
        values={"category_id": category_id, "name": name[:100], "price": price[:20], "description": description[:600],
                "image": image[:20], "windows": windows[:200]},
    )


@router.post("/merchant/stores/{store_id}/catalogue/items/{item_id}/price")
def console_item_price(
    request: Request, session: DbSession, store_id: str, item_id: str, price: FormStr = "", csrf_token: FormStr = ""
) -> Response:
    def change(ref: catalogue.StoreRef) -> str:
        parsed = _parse_id(item_id)
        if parsed is None:
            raise AppError("menu_item_not_found", 404, "no such item")
        catalogue.update_item(session, ref.store.id, parsed, {"price": _read_price(price, ref.currency)})
        return "price"

    return _console_post(request, session, store_id, csrf_token, change, where=f"item-{item_id}",
                         values={"price": price[:20]})


@router.post("/merchant/stores/{store_id}/catalogue/items/{item_id}/sold-out")
def console_item_sold_out(
    request: Request, session: DbSession, store_id: str, item_id: str, sold_out: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    flag = sold_out == "1"

    def change(ref: catalogue.StoreRef) -> str:
        parsed = _parse_id(item_id)
        if parsed is None:
            raise AppError("menu_item_not_found", 404, "no such item")
        catalogue.set_item_sold_out(session, ref.store.id, parsed, flag)
        return "sold_out" if flag else "back"

    return _console_post(request, session, store_id, csrf_token, change, where=f"item-{item_id}", values={},
                         managers_only=False)


@router.post("/merchant/stores/{store_id}/catalogue/items/{item_id}/archive")
def console_item_archive(
    request: Request, session: DbSession, store_id: str, item_id: str, csrf_token: FormStr = ""
) -> Response:
    def change(ref: catalogue.StoreRef) -> str:
        parsed = _parse_id(item_id)
        if parsed is None:
            raise AppError("menu_item_not_found", 404, "no such item")
        catalogue.archive_item(session, ref.store.id, parsed)
        return "archived"

    return _console_post(request, session, store_id, csrf_token, change, where="menu", values={})


@router.post("/merchant/stores/{store_id}/catalogue/items/{item_id}/option-groups")
def console_add_group(
    request: Request, session: DbSession, store_id: str, item_id: str, name: FormStr = "", min_picks: FormStr = "0",
    max_picks: FormStr = "1", options: FormStr = "", csrf_token: FormStr = "",
) -> Response:
    def change(ref: catalogue.StoreRef) -> str:
        parsed = _parse_id(item_id)
        if parsed is None:
            raise AppError("menu_item_not_found", 404, "no such item")
        catalogue.create_option_group(
            session, ref.store.id, parsed, name=name, min_picks=_int_field(min_picks, "invalid_picks"),
            max_picks=_int_field(max_picks, "invalid_picks"), options=parse_option_lines(options, ref.currency),
        )
        return "group"

    return _console_post(
        request, session, store_id, csrf_token, change, where=f"item-{item_id}",
        values={"group_item": item_id, "group_name": name[:100], "min_picks": min_picks[:4], "max_picks": max_picks[:4],
                "options": options[:2000]},
    )


@router.post("/merchant/stores/{store_id}/catalogue/option-groups/{group_id}/options")
def console_add_option(
    request: Request, session: DbSession, store_id: str, group_id: str, name: FormStr = "",
    price_delta: FormStr = "", item_id: FormStr = "", csrf_token: FormStr = "",
) -> Response:
    def change(ref: catalogue.StoreRef) -> str:
        parsed = _parse_id(group_id)
        if parsed is None:
            raise AppError("option_group_not_found", 404, "no such group")
        catalogue.create_option(session, ref.store.id, parsed, name=name,
                                price_delta=parse_delta(price_delta, ref.currency))
        return "option"

    return _console_post(
        request, session, store_id, csrf_token, change, where=f"item-{item_id}" if _parse_id(item_id) else "menu",
        values={"option_group": group_id, "option_name": name[:100], "price_delta": price_delta[:20]},
    )


@router.post("/merchant/stores/{store_id}/catalogue/options/{option_id}/sold-out")
def console_option_sold_out(
    request: Request, session: DbSession, store_id: str, option_id: str, sold_out: FormStr = "",
    item_id: FormStr = "", csrf_token: FormStr = "",
) -> Response:
    flag = sold_out == "1"

    def change(ref: catalogue.StoreRef) -> str:
        parsed = _parse_id(option_id)
        if parsed is None:
            raise AppError("option_not_found", 404, "no such option")
        catalogue.set_option_sold_out(session, ref.store.id, parsed, flag)
        return "sold_out" if flag else "back"

    return _console_post(request, session, store_id, csrf_token, change,
                         where=f"item-{item_id}" if _parse_id(item_id) else "menu", values={}, managers_only=False)


@router.post("/merchant/stores/{store_id}/catalogue/settings")
def console_settings(
    request: Request, session: DbSession, store_id: str, delivery_radius_m: FormStr = "", min_order: FormStr = "",
    packaging_fee: FormStr = "", delivery_base_fee: FormStr = "", delivery_base_m: FormStr = "",
    delivery_fee_per_km: FormStr = "", prep_minutes: FormStr = "", accepting_orders: FormStr = "",
    csrf_token: FormStr = "",
) -> Response:
    typed = {
        "delivery_radius_m": delivery_radius_m, "min_order": min_order, "packaging_fee": packaging_fee,
        "delivery_base_fee": delivery_base_fee, "delivery_base_m": delivery_base_m,
        "delivery_fee_per_km": delivery_fee_per_km, "prep_minutes": prep_minutes,
    }

    def change(ref: catalogue.StoreRef) -> str:
        changes: dict[str, Any] = {
            "delivery_radius_m": _int_field(delivery_radius_m, "invalid_delivery_radius"),
            "delivery_base_m": _int_field(delivery_base_m, "invalid_delivery_base"),
            "prep_minutes": _int_field(prep_minutes, "invalid_prep_minutes"),
            "accepting_orders": accepting_orders == "1",
        }
        for field in ("min_order", "packaging_fee", "delivery_base_fee", "delivery_fee_per_km"):
            changes[field] = _read_price(typed[field], ref.currency, "invalid_fee")
        catalogue.update_settings(session, ref.store.id, changes)
        return "settings"

    return _console_post(request, session, store_id, csrf_token, change, where="settings",
                         values={k: v[:20] for k, v in typed.items()})


@router.get("/merchant/stores/{store_id}/labels", response_class=HTMLResponse)
def labels_page(request: Request, session: DbSession, store_id: str) -> Response:
    """Printable shelf labels: name, price and a QR code to the item's page, for every item on the menu."""
    access = _console_access(request, session, store_id)
    if isinstance(access, Response):
        return access
    ref, _principal, _manages = access
    labels = catalogue.shelf_labels(session, ref.store.id, request.app.state.settings.base_url)
    return render(
        request,
        "stores/labels.html",
        {
            "store": ref.store,
            "labels": [{"label": label, "qr": qr_svg(label.url)} for label in labels],
            "printed_at": clock.in_zone(clock.now(), ref.timezone).strftime("%Y-%m-%d"),
        },
    )
