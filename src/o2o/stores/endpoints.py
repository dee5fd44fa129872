"""The stores API: a store with its delivery terms, its menu, an item (what a shelf QR code opens) and pricing lines
for apps (``/api/stores``), and the merchant's catalogue (``/api/merchant/stores/{store_id}/...``).

Reading is public. Editing the catalogue and the store's settings is for the store's owner (and the city's
operators): ``store.manage``. The sold-out switches are for the staff too (``store.operate``). Every edit takes
the store's catalogue first (``catalogue.py``), so concurrent edits take turns and a refusal changes nothing.
"""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response

from o2o.accounts.endpoints import AUTH_ERRORS, CurrentPrincipal, require
from o2o.accounts.errors import FORBIDDEN, INVALID_REQUEST
from o2o.accounts.permissions import Action, Principal, Resource, authorize, can
from o2o.errors import problem_responses
from o2o.http import DbSession, api_router
from o2o.kit import time as clock
from o2o.stores import catalogue
from o2o.stores import delivery_terms as terms_mod
from o2o.stores import errors as e
from o2o.stores import hours as hours_mod
from o2o.stores import menu as menu_mod
from o2o.stores import service as stores_service
from o2o.stores.schemas import (
    CategoryCreate,
    CategoryOut,
    CategoryUpdate,
    DeliveryTermsOut,
    ItemCreate,
    ItemDetail,
    ItemOut,
    ItemUpdate,
    MenuOut,
    OptionCreate,
    OptionGroupCreate,
    OptionGroupOut,
    OptionGroupUpdate,
    OptionOut,
    OptionUpdate,
    PricedLineOut,
    PricedOptionOut,
    QuoteLinesIn,
    QuoteLinesOut,
    Reorder,
    ShelfLabelOut,
    SoldOutSet,
    StoreDetail,
    StoreSettings,
    StoreSettingsUpdate,
)

router = api_router(prefix="/api/stores", tags=["stores"])
merchant_router = api_router(prefix="/api/merchant/stores/{store_id}", tags=["stores"])

CART_ERRORS = (
    e.EMPTY_CART, e.TOO_MANY_LINES, e.INVALID_QUANTITY, e.UNKNOWN_ITEM, e.UNKNOWN_OPTION, e.DUPLICATE_OPTION,
    e.OPTION_PICKS, e.ITEM_SOLD_OUT, e.OPTION_SOLD_OUT, e.ITEM_UNAVAILABLE_NOW,
)
EDIT_ERRORS = (*AUTH_ERRORS, FORBIDDEN, e.STORE_NOT_FOUND, INVALID_REQUEST)


# --------------------------------------------------------------------------------------------------------------
# Shapes


def item_out(view: catalogue.MenuView, item: menu_mod.Item) -> ItemOut:
    return ItemOut(
        id=item.id,
        category_id=item.category_id,
        name=item.name,
        description=item.description,
        price=item.price,
        image=item.image,
        position=item.position,
        available_windows=menu_mod.window_pairs(item.windows),
        sold_out=view.sold_out(item),
        available_now=view.available_now(item),
        orderable=view.orderable(item),
        stock=view.units_left(item),
        option_groups=[group_out(g) for g in item.groups],
    )


def group_out(group: menu_mod.OptionGroup) -> OptionGroupOut:
    return OptionGroupOut(
        id=group.id,
        name=group.name,
        min_picks=group.min_picks,
        max_picks=group.max_picks,
        position=group.position,
        options=[option_out(o) for o in group.options],
    )


def option_out(option: menu_mod.Option) -> OptionOut:
    return OptionOut(
        id=option.id, name=option.name, price_delta=option.price_delta, sold_out=option.sold_out,
        position=option.position,
    )


def category_out(view: catalogue.MenuView, category: menu_mod.Category) -> CategoryOut:
    return CategoryOut(
        id=category.id,
        name=category.name,
        position=category.position,
        available_windows=menu_mod.window_pairs(category.windows),
        available_now=view.category_available_now(category),
        items=[item_out(view, item) for item in view.menu.items_of(category)],
    )


def menu_out(view: catalogue.MenuView) -> MenuOut:
    return MenuOut(
        store_id=view.menu.store_id,
        currency=view.menu.currency,
        version=view.menu.version,
        local_time=view.local_time,
        categories=[category_out(view, c) for c in view.menu.categories],
    )


def terms_out(terms: terms_mod.DeliveryTerms) -> DeliveryTermsOut:
    return DeliveryTermsOut(
        radius_m=terms.radius_m,
        area=terms_mod.area_to_geojson(terms.area) if terms.area is not None else None,  # type: ignore[arg-type]
        min_order=terms.min_order,
        packaging_fee=terms.packaging_fee,
        base_fee=terms.base_fee,
        base_m=terms.base_m,
        per_km_fee=terms.per_km_fee,
        currency=terms.currency,
    )


def settings_out(ref: catalogue.StoreRef) -> StoreSettings:
    store = ref.store
    return StoreSettings(
        delivery_radius_m=store.delivery_radius_m,
        delivery_area=json.loads(store.delivery_area) if store.delivery_area else None,
        min_order=store.min_order,
        packaging_fee=store.packaging_fee,
        delivery_base_fee=store.delivery_base_fee,
        delivery_base_m=store.delivery_base_m,
        delivery_fee_per_km=store.delivery_fee_per_km,
        prep_minutes=store.prep_minutes,
        opening_hours=hours_mod.parse_hours(store.opening_hours).as_dict(),
        accepting_orders=store.accepting_orders,
        currency=ref.currency,
        catalogue_version=store.catalogue_version,
    )


def _find_item(view: catalogue.MenuView, item_id: uuid.UUID) -> menu_mod.Item:
    item = view.menu.items.get(item_id)
    if item is None:
        raise e.item_not_found()
    return item


def _find_group(view: catalogue.MenuView, group_id: uuid.UUID) -> menu_mod.OptionGroup:
    for item in view.menu.items.values():
        for group in item.groups:
            if group.id == group_id:
                return group
    raise e.group_not_found()


def _find_option(view: catalogue.MenuView, option_id: uuid.UUID) -> menu_mod.Option:
    for item in view.menu.items.values():
        for group in item.groups:
            for option in group.options:
                if option.id == option_id:
                    return option
    raise e.option_not_found()


# --------------------------------------------------------------------------------------------------------------
# Public


@router.get(
    "/{store_id}",
    response_model=StoreDetail,
    summary="A store: where, when it is open, its delivery terms and whether it takes orders now",
    responses=problem_responses(e.STORE_NOT_FOUND, INVALID_REQUEST),
)
def get_store(
    store_id: uuid.UUID,
    session: DbSession,
    lat: Annotated[float | None, Query(ge=-90, le=90, description="An address's latitude", examples=[39.91])] = None,
    lng: Annotated[float | None, Query(ge=-180, le=180, description="An address's longitude", examples=[116.41])] = None,
) -> StoreDetail:
    """With `lat` and `lng` (an address), the answer also says the distance, whether the store delivers there and
    the delivery fee."""
    ref = catalogue.store_ref(session, store_id)
    terms = catalogue.terms_of(ref)
    local = clock.in_zone(clock.now(), ref.timezone)
    distance = delivers = fee = None
    if lat is not None and lng is not None:
        distance = round(terms.distance_m(lat, lng), 1)
        delivers = terms.covers(lat, lng)
        fee = terms.delivery_fee(distance) if delivers else None
    base = stores_service.to_schema(ref.store, local, ref.district, distance=distance)
    return StoreDetail(
        **base.model_dump(),
        currency=ref.currency,
        timezone=ref.timezone,
        accepting_orders=ref.store.accepting_orders,
        delivery=terms_out(terms),
        catalogue_version=ref.store.catalogue_version,
        delivers_here=delivers,
        delivery_fee=fee,
    )


@router.get(
    "/{store_id}/menu",
    response_model=MenuOut,
    summary="A store's menu: categories, items, options, what is sold out or offered now, and stock",
    responses=problem_responses(e.STORE_NOT_FOUND, INVALID_REQUEST),
)
def get_menu(store_id: uuid.UUID, session: DbSession) -> MenuOut:
    """Flags are for the moment of the request in the city's time zone: `available_now` follows the time windows
    (a breakfast menu), `sold_out` the shop's switches and its stock, `orderable` both."""
    return menu_out(catalogue.menu_view(session, store_id))


@router.get(
    "/{store_id}/items/{item_id}",
    response_model=ItemDetail,
    summary="One item with this store's stock (what a shelf QR code opens)",
    responses=problem_responses(e.STORE_NOT_FOUND, e.ITEM_NOT_FOUND, INVALID_REQUEST),
)
def get_item(store_id: uuid.UUID, item_id: uuid.UUID, session: DbSession, request: Request) -> ItemDetail:
    view = catalogue.menu_view(session, store_id)
    item = _find_item(view, item_id)
    ref = catalogue.store_ref(session, store_id)
    category = view.menu.category(item.category_id)
    next_at = None if view.available_now(item) else view.next_available(item)
    return ItemDetail(
        **item_out(view, item).model_dump(),
        store_id=store_id,
        store_name=ref.store.name,
        category_name=category.name if category is not None else "",
        currency=view.menu.currency,
        next_available_at=next_at,
        shelf_url=catalogue.shelf_url(request.app.state.settings.base_url, store_id, item_id),
    )


@router.post(
    "/{store_id}/quote-lines",
    response_model=QuoteLinesOut,
    summary="Price cart lines without ordering",
    responses=problem_responses(e.STORE_NOT_FOUND, INVALID_REQUEST, *CART_ERRORS),
)
def quote_lines(store_id: uuid.UUID, body: QuoteLinesIn, session: DbSession) -> QuoteLinesOut:
    """Each line is an item, a quantity (1 to 99) and the picked options; the same item with other options is
    another line. The whole list is priced at this moment or refused with one problem: 422 for a wrong request
    (`unknown_item`, `option_picks` ...), 409 for what the store cannot sell now (`item_sold_out`,
    `item_unavailable_now` ...). Packaging and delivery fees come with the order's quote."""
    menu = catalogue.load_menu(session, store_id)
    lines = [menu_mod.LineRequest(line.item_id, line.quantity, tuple(line.option_ids)) for line in body.lines]
    priced = menu_mod.price_lines(menu, lines, clock.in_zone(clock.now(), menu.timezone))
    return QuoteLinesOut(
        currency=menu.currency,
        lines=[
            PricedLineOut(
                item_id=p.item_id,
                name=p.name,
                quantity=p.quantity,
                unit_price=p.unit_price,
                options=[PricedOptionOut(**vars(o)) for o in p.options],
                line_total=p.line_total,
            )
            for p in priced
        ],
        subtotal=menu_mod.subtotal(priced),
        menu_version=menu.version,
    )


# --------------------------------------------------------------------------------------------------------------
# The merchant's catalogue


def store_resource(store_id: uuid.UUID, session: DbSession) -> Resource:
    return Resource(city_id=catalogue.store_city(session, store_id), store_id=store_id)


Manager = Annotated[Principal, Depends(require(Action.STORE_MANAGE, store_resource))]


async def _owner_or_staff(principal: CurrentPrincipal, target: Resource = Depends(store_resource)) -> Principal:
    """The sold-out switch: the store's staff (``store.operate``) or whoever manages it (``store.manage``)."""
    if not can(principal, Action.STORE_OPERATE, target):
        authorize(principal, Action.STORE_MANAGE, target)
    return principal


Operator = Annotated[Principal, Depends(_owner_or_staff)]


def _view(session: DbSession, store_id: uuid.UUID) -> catalogue.MenuView:
    return catalogue.menu_view(session, store_id)


def _changes(body: Any) -> dict[str, Any]:
    return body.model_dump(exclude_unset=True)


@merchant_router.post(
    "/categories",
    status_code=201,
    response_model=CategoryOut,
    summary="Add a menu category",
    responses=problem_responses(
        *EDIT_ERRORS, e.INVALID_NAME, e.INVALID_WINDOWS, e.DUPLICATE_NAME, e.CATALOGUE_LIMIT
    ),
)
def create_category(store_id: uuid.UUID, body: CategoryCreate, session: DbSession, _who: Manager) -> CategoryOut:
    """Added at the end of the menu. `available_windows` limits the whole category to local times (a breakfast
    menu: `[["06:30", "10:30"]]`)."""
    category = catalogue.create_category(session, store_id, name=body.name, available_windows=body.available_windows)
    view = _view(session, store_id)
    found = view.menu.category(category.id)
    assert found is not None
    return category_out(view, found)


@merchant_router.patch(
    "/categories/{category_id}",
    response_model=CategoryOut,
    summary="Rename a category or change its time windows",
    responses=problem_responses(
        *EDIT_ERRORS, e.CATEGORY_NOT_FOUND, e.INVALID_NAME, e.INVALID_WINDOWS, e.DUPLICATE_NAME, e.NOTHING_TO_CHANGE
    ),
)
def update_category(
    store_id: uuid.UUID, category_id: uuid.UUID, body: CategoryUpdate, session: DbSession, _who: Manager
) -> CategoryOut:
    catalogue.update_category(session, store_id, category_id, _changes(body))
    view = _view(session, store_id)
    found = view.menu.category(category_id)
    assert found is not None
    return category_out(view, found)


@merchant_router.delete(
    "/categories/{category_id}",
    status_code=204,
    summary="Archive an empty category",
    responses=problem_responses(*EDIT_ERRORS, e.CATEGORY_NOT_FOUND, e.CATEGORY_NOT_EMPTY),
)
def archive_category(store_id: uuid.UUID, category_id: uuid.UUID, session: DbSession, _who: Manager) -> Response:
    """A category that still holds items is refused with `category_not_empty`: archive or move them first."""
    catalogue.archive_category(session, store_id, category_id)
    return Response(status_code=204)


@merchant_router.put(
    "/categories/order",
    response_model=MenuOut,
    summary="Put the categories in a new order",
    responses=problem_responses(*EDIT_ERRORS, e.INVALID_ORDER),
)
def reorder_categories(store_id: uuid.UUID, body: Reorder, session: DbSession, _who: Manager) -> MenuOut:
    catalogue.reorder_categories(session, store_id, body.ids)
    return menu_out(_view(session, store_id))


@merchant_router.post(
    "/items",
    status_code=201,
    response_model=ItemOut,
    summary="Add an item",
    responses=problem_responses(
        *EDIT_ERRORS, e.UNKNOWN_CATEGORY, e.INVALID_NAME, e.INVALID_PRICE, e.INVALID_DESCRIPTION, e.INVALID_IMAGE,
        e.INVALID_WINDOWS, e.INVALID_SOLD_OUT, e.DUPLICATE_NAME, e.CATALOGUE_LIMIT,
    ),
)
def create_item(store_id: uuid.UUID, body: ItemCreate, session: DbSession, _who: Manager) -> ItemOut:
    """Added at the end of its category; give it options with `POST /items/{item_id}/option-groups`."""
    item = catalogue.create_item(session, store_id, **body.model_dump())
    view = _view(session, store_id)
    return item_out(view, _find_item(view, item.id))


@merchant_router.patch(
    "/items/{item_id}",
    response_model=ItemOut,
    summary="Change an item: name, price, description, picture, time windows, category, sold out",
    responses=problem_responses(
        *EDIT_ERRORS, e.ITEM_NOT_FOUND, e.UNKNOWN_CATEGORY, e.INVALID_NAME, e.INVALID_PRICE, e.INVALID_DESCRIPTION,
        e.INVALID_IMAGE, e.INVALID_WINDOWS, e.INVALID_SOLD_OUT, e.DUPLICATE_NAME, e.UNIT_PRICE_BELOW_ZERO,
        e.NOTHING_TO_CHANGE,
    ),
)
def update_item(
    store_id: uuid.UUID, item_id: uuid.UUID, body: ItemUpdate, session: DbSession, _who: Manager
) -> ItemOut:
    """A new price is refused with `unit_price_below_zero` when the cheapest pick of options would then cost
    less than nothing. Orders already placed keep the price they were placed at."""
    catalogue.update_item(session, store_id, item_id, _changes(body))
    view = _view(session, store_id)
    return item_out(view, _find_item(view, item_id))


@merchant_router.delete(
    "/items/{item_id}",
    status_code=204,
    summary="Archive an item (it leaves the menu; past orders keep pointing at it)",
    responses=problem_responses(*EDIT_ERRORS, e.ITEM_NOT_FOUND),
)
def archive_item(store_id: uuid.UUID, item_id: uuid.UUID, session: DbSession, _who: Manager) -> Response:
    catalogue.archive_item(session, store_id, item_id)
    return Response(status_code=204)


@merchant_router.put(
    "/categories/{category_id}/items/order",
    response_model=CategoryOut,
    summary="Put a category's items in a new order",
    responses=problem_responses(*EDIT_ERRORS, e.CATEGORY_NOT_FOUND, e.INVALID_ORDER),
)
def reorder_items(
    store_id: uuid.UUID, category_id: uuid.UUID, body: Reorder, session: DbSession, _who: Manager
) -> CategoryOut:
    catalogue.reorder_items(session, store_id, category_id, body.ids)
    view = _view(session, store_id)
    found = view.menu.category(category_id)
    assert found is not None
    return category_out(view, found)


@merchant_router.put(
    "/items/{item_id}/sold-out",
    response_model=ItemOut,
    summary="The sold-out switch of an item (staff too)",
    responses=problem_responses(*EDIT_ERRORS, e.ITEM_NOT_FOUND),
)
def set_item_sold_out(
    store_id: uuid.UUID, item_id: uuid.UUID, body: SoldOutSet, session: DbSession, _who: Operator
) -> ItemOut:
    """Idempotent: switching it to what it already is changes nothing."""
    catalogue.set_item_sold_out(session, store_id, item_id, body.sold_out)
    view = _view(session, store_id)
    return item_out(view, _find_item(view, item_id))


@merchant_router.post(
    "/items/{item_id}/option-groups",
    status_code=201,
    response_model=OptionGroupOut,
    summary="Add a group of options to an item (size, spice ...), with its options",
    responses=problem_responses(
        *EDIT_ERRORS, e.ITEM_NOT_FOUND, e.INVALID_NAME, e.INVALID_PICKS, e.INVALID_PRICE_DELTA, e.INVALID_SOLD_OUT,
        e.DUPLICATE_NAME, e.UNIT_PRICE_BELOW_ZERO, e.CATALOGUE_LIMIT,
    ),
)
def create_option_group(
    store_id: uuid.UUID, item_id: uuid.UUID, body: OptionGroupCreate, session: DbSession, _who: Manager
) -> OptionGroupOut:
    """`min_picks` 1 and `max_picks` 1 is a required single choice (a size); 0 and 3 is up to three extras."""
    group = catalogue.create_option_group(
        session, store_id, item_id, name=body.name, min_picks=body.min_picks, max_picks=body.max_picks,
        options=[o.model_dump() for o in body.options],
    )
    return group_out(_find_group(_view(session, store_id), group.id))


@merchant_router.patch(
    "/option-groups/{group_id}",
    response_model=OptionGroupOut,
    summary="Rename an option group or change its picks",
    responses=problem_responses(
        *EDIT_ERRORS, e.GROUP_NOT_FOUND, e.INVALID_NAME, e.INVALID_PICKS, e.DUPLICATE_NAME, e.UNIT_PRICE_BELOW_ZERO,
        e.NOTHING_TO_CHANGE,
    ),
)
def update_option_group(
    store_id: uuid.UUID, group_id: uuid.UUID, body: OptionGroupUpdate, session: DbSession, _who: Manager
) -> OptionGroupOut:
    catalogue.update_option_group(session, store_id, group_id, _changes(body))
    return group_out(_find_group(_view(session, store_id), group_id))


@merchant_router.delete(
    "/option-groups/{group_id}",
    status_code=204,
    summary="Delete an option group and its options",
    responses=problem_responses(*EDIT_ERRORS, e.GROUP_NOT_FOUND, e.UNIT_PRICE_BELOW_ZERO),
)
def delete_option_group(store_id: uuid.UUID, group_id: uuid.UUID, session: DbSession, _who: Manager) -> Response:
    """Orders keep a copy of the options they were placed with."""
    catalogue.delete_option_group(session, store_id, group_id)
    return Response(status_code=204)


@merchant_router.put(
    "/items/{item_id}/option-groups/order",
    response_model=ItemOut,
    summary="Put an item's option groups in a new order",
    responses=problem_responses(*EDIT_ERRORS, e.ITEM_NOT_FOUND, e.INVALID_ORDER),
)
def reorder_option_groups(
    store_id: uuid.UUID, item_id: uuid.UUID, body: Reorder, session: DbSession, _who: Manager
) -> ItemOut:
    catalogue.reorder_option_groups(session, store_id, item_id, body.ids)
    view = _view(session, store_id)
    return item_out(view, _find_item(view, item_id))


@merchant_router.post(
    "/option-groups/{group_id}/options",
    status_code=201,
    response_model=OptionOut,
    summary="Add an option to a group",
    responses=problem_responses(
        *EDIT_ERRORS, e.GROUP_NOT_FOUND, e.INVALID_NAME, e.INVALID_PRICE_DELTA, e.INVALID_SOLD_OUT, e.DUPLICATE_NAME,
        e.UNIT_PRICE_BELOW_ZERO, e.CATALOGUE_LIMIT,
    ),
)
def create_option(
    store_id: uuid.UUID, group_id: uuid.UUID, body: OptionCreate, session: DbSession, _who: Manager
) -> OptionOut:
    option = catalogue.create_option(
        session, store_id, group_id, name=body.name, price_delta=body.price_delta, sold_out=body.sold_out
    )
    return option_out(_find_option(_view(session, store_id), option.id))


@merchant_router.patch(
    "/options/{option_id}",
    response_model=OptionOut,
    summary="Rename an option or change its price delta",
    responses=problem_responses(
        *EDIT_ERRORS, e.OPTION_NOT_FOUND, e.INVALID_NAME, e.INVALID_PRICE_DELTA, e.INVALID_SOLD_OUT, e.DUPLICATE_NAME,
        e.UNIT_PRICE_BELOW_ZERO, e.NOTHING_TO_CHANGE,
    ),
)
def update_option(
    store_id: uuid.UUID, option_id: uuid.UUID, body: OptionUpdate, session: DbSession, _who: Manager
) -> OptionOut:
    catalogue.update_option(session, store_id, option_id, _changes(body))
    return option_out(_find_option(_view(session, store_id), option_id))


@merchant_router.delete(
    "/options/{option_id}",
    status_code=204,
    summary="Delete an option",
    responses=problem_responses(*EDIT_ERRORS, e.OPTION_NOT_FOUND, e.UNIT_PRICE_BELOW_ZERO),
)
def delete_option(store_id: uuid.UUID, option_id: uuid.UUID, session: DbSession, _who: Manager) -> Response:
    catalogue.delete_option(session, store_id, option_id)
    return Response(status_code=204)


@merchant_router.put(
    "/options/{option_id}/sold-out",
    response_model=OptionOut,
    summary="The sold-out switch of an option (staff too)",
    responses=problem_responses(*EDIT_ERRORS, e.OPTION_NOT_FOUND),
)
def set_option_sold_out(
    store_id: uuid.UUID, option_id: uuid.UUID, body: SoldOutSet, session: DbSession, _who: Operator
) -> OptionOut:
    catalogue.set_option_sold_out(session, store_id, option_id, body.sold_out)
    return option_out(_find_option(_view(session, store_id), option_id))


@merchant_router.put(
    "/option-groups/{group_id}/options/order",
    response_model=OptionGroupOut,
    summary="Put a group's options in a new order",
    responses=problem_responses(*EDIT_ERRORS, e.GROUP_NOT_FOUND, e.INVALID_ORDER),
)
def reorder_options(
    store_id: uuid.UUID, group_id: uuid.UUID, body: Reorder, session: DbSession, _who: Manager
) -> OptionGroupOut:
    catalogue.reorder_options(session, store_id, group_id, body.ids)
    return group_out(_find_group(_view(session, store_id), group_id))


# ---- settings and shelf labels


@merchant_router.get(
    "/settings",
    response_model=StoreSettings,
    summary="The store's settings: delivery terms, preparation time, opening hours, the pause switch",
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN, e.STORE_NOT_FOUND, INVALID_REQUEST),
)
def get_settings(store_id: uuid.UUID, session: DbSession, _who: Manager) -> StoreSettings:
    return settings_out(catalogue.store_ref(session, store_id))


@merchant_router.patch(
    "/settings",
    response_model=StoreSettings,
    summary="Change the store's delivery terms, fees, minimum order, preparation time, hours or pause switch",
    responses=problem_responses(
        *EDIT_ERRORS, e.INVALID_DELIVERY_RADIUS, e.INVALID_DELIVERY_AREA, e.AREA_EXCLUDES_STORE, e.INVALID_FEE,
        e.INVALID_DELIVERY_BASE, e.INVALID_PREP_MINUTES, e.INVALID_OPENING_HOURS, e.INVALID_ACCEPTING_ORDERS,
        e.NOTHING_TO_CHANGE,
    ),
)
def update_settings(
    store_id: uuid.UUID, body: StoreSettingsUpdate, session: DbSession, _who: Manager
) -> StoreSettings:
    """All or nothing: one bad field refuses the whole change. `delivery_area` (a GeoJSON Polygon) wins over
    `delivery_radius_m`; send `null` to go back to the radius. `accepting_orders: false` pauses online orders at
    once (the counter still sells)."""
    catalogue.update_settings(session, store_id, _changes(body))
    return settings_out(catalogue.store_ref(session, store_id))


@merchant_router.get(
    "/labels",
    response_model=list[ShelfLabelOut],
    summary="Shelf labels: name, price and the QR code URL of every item",
    responses=problem_responses(*AUTH_ERRORS, FORBIDDEN, e.STORE_NOT_FOUND, INVALID_REQUEST),
)
def shelf_labels(store_id: uuid.UUID, session: DbSession, request: Request, _who: Operator) -> list[ShelfLabelOut]:
    """A customer scans the label in the shop and lands on the item's page with this store's stock. The printable
    page is `/merchant/stores/{store_id}/labels`."""
    base_url = request.app.state.settings.base_url
    return [
        ShelfLabelOut(
            item_id=label.item_id,
            name=label.name,
            category=label.category,
            price=label.price,
            from_price=label.from_price,
            currency=label.currency,
            url=label.url,
            qr_svg_url=f"{base_url}/stores/{store_id}/items/{label.item_id}/qr.svg",
        )
        for label in catalogue.shelf_labels(session, store_id, base_url)
    ]
