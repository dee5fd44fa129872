"""The catalogue's use cases: a store's menu and delivery terms for everyone who sells (app orders, the shop's
counter, click-and-collect), and the merchant's edits of them.

Reads:

- ``load_menu(session, store_id)``: the live menu (no archived item or category) in five queries whatever its size;
- ``price_cart(session, store_id, lines, at=...)``: ``menu.price_lines`` at the city's local time;
- ``delivery_terms(session, store_id)``: the ``DeliveryTerms`` (404 ``store_not_found``);
- ``menu_view``: the menu with what each item is now (offered at this hour, units left from ``stores.stock``);
- ``shelf_labels``: one label per item (name, price, the URL its shelf QR code opens).

Edits (create / update / archive or delete / reorder categories, items, option groups and options; the sold-out
switches; the store's settings) validate their input and refuse with a clear code (``o2o.stores.errors``). Each
starts by bumping the store's ``catalogue_version`` (a conditional-free ``UPDATE`` on the store's row): on
PostgreSQL that row lock makes two edits of one store take turns, on SQLite the write lock does, so the rules that
span rows (unique names, an item's unit price never below zero whatever options are picked, limits) are checked
against the other edit's committed result rather than a stale read. A refusal raises ``AppError``; the caller's
transaction is then rolled back (the request boundary does it, the pages use a savepoint), so nothing changes.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.orm import Session

from o2o.kit import time as clock
from o2o.kit.geo import polygon_from_geojson
from o2o.stores import delivery_terms as terms_mod
from o2o.stores import errors as e
from o2o.stores import hours as hours_mod
from o2o.stores import menu as menu_mod
from o2o.stores import repository
from o2o.stores.models import MenuCategory, MenuItem, MenuOption, MenuOptionGroup, Store

log = structlog.get_logger("o2o.stores.catalogue")

NAME_MAX = {"category": 40, "item": 60, "group": 30, "option": 30}
DESCRIPTION_MAX = 500
IMAGE_MAX = 16
MAX_PRICE = 1_000_000  # fen: ¥10,000 for one unit
MAX_PRICE_DELTA = 1_000_000
MAX_CATEGORIES = 100
MAX_ITEMS = 2_000
MAX_GROUPS = 10  # per item
MAX_OPTIONS = 30  # per group
MAX_FEE = 100_000  # packaging, delivery base and per-km fees: ¥1,000
MAX_MIN_ORDER = 1_000_000
MAX_PREP_MINUTES = 240


# --------------------------------------------------------------------------------------------------------------
# Reading


@dataclass(frozen=True)
class StoreRef:
    """A store with what its city says about it."""

    store: Store
    currency: str
    timezone: str
    district: str | None
    center: tuple[float, float]


def store_ref(session: Session, store_id: uuid.UUID) -> StoreRef:
    row = repository.store_with_city(session, store_id)
    if row is None:
        raise e.store_not_found()
    store, currency, timezone, district, center_lat, center_lng = row
    return StoreRef(store, currency, timezone, district, (center_lat, center_lng))


def load_menu(
    session: Session, store_id: uuid.UUID, *, include_archived: bool = False, ref: StoreRef | None = None
) -> menu_mod.Menu:
    """The store's menu in five queries (store and city, categories, items, option groups, options); four when
    the caller has the ``ref`` already."""
    ref = ref or store_ref(session, store_id)
    categories = repository.categories_of(session, store_id, include_archived=include_archived)
    items = repository.items_of(session, store_id, include_archived=include_archived)
    groups = repository.groups_of_store(session, store_id, include_archived=include_archived)
    options = repository.options_of_store(session, store_id, include_archived=include_archived)
    options_by_group: dict[uuid.UUID, list[menu_mod.Option]] = {}
    for o in options:
        options_by_group.setdefault(o.group_id, []).append(
            menu_mod.Option(o.id, o.group_id, o.name, o.price_delta, o.sold_out, o.position)
        )
    groups_by_item: dict[uuid.UUID, list[menu_mod.OptionGroup]] = {}
    for g in groups:
        groups_by_item.setdefault(g.item_id, []).append(
            menu_mod.OptionGroup(
                g.id, g.item_id, g.name, g.min_picks, g.max_picks, g.position, tuple(options_by_group.get(g.id, ()))
            )
        )
    known_categories = {c.id for c in categories}
    by_id: dict[uuid.UUID, menu_mod.Item] = {}
    ids_by_category: dict[uuid.UUID, list[uuid.UUID]] = {}
    for i in items:
        if i.category_id not in known_categories:
            continue  # an item left in an archived category is not on the menu
        by_id[i.id] = menu_mod.Item(
            id=i.id,
            category_id=i.category_id,
            name=i.name,
            price=i.price,
            description=i.description,
            position=i.position,
            windows=menu_mod.parse_windows(i.available_windows),
            sold_out=i.sold_out,
            archived=i.archived,
            image=i.image,
            groups=tuple(groups_by_item.get(i.id, ())),
        )
        ids_by_category.setdefault(i.category_id, []).append(i.id)
    return menu_mod.Menu(
        store_id=store_id,
        currency=ref.currency,
        categories=tuple(
            menu_mod.Category(
                c.id, c.name, c.position, menu_mod.parse_windows(c.available_windows), c.archived,
                tuple(ids_by_category.get(c.id, ())),
            )
            for c in categories
        ),
        items=by_id,
        timezone=ref.timezone,
        version=ref.store.catalogue_version,
    )


def price_cart(
    session: Session,
    store_id: uuid.UUID,
    lines: Sequence[menu_mod.LineRequest],
    *,
    at: dt.datetime | None = None,
) -> list[menu_mod.PricedLine]:
    """Price ``lines`` against the store's live menu at ``at`` (default now) in the city's time zone."""
    menu = load_menu(session, store_id)
    return menu_mod.price_lines(menu, lines, clock.in_zone(at or clock.now(), menu.timezone))


def terms_of(ref: StoreRef) -> terms_mod.DeliveryTerms:
    store = ref.store
    return terms_mod.DeliveryTerms(
        store_id=store.id,
        city_id=store.city_id,
        lat=store.lat,
        lng=store.lng,
        radius_m=store.delivery_radius_m,
        area=terms_mod.area_from_text(store.delivery_area),
        min_order=store.min_order,
        packaging_fee=store.packaging_fee,
        base_fee=store.delivery_base_fee,
        base_m=store.delivery_base_m,
        per_km_fee=store.delivery_fee_per_km,
        accepting_orders=store.accepting_orders,
        prep_minutes=store.prep_minutes,
        opening_hours=store.opening_hours,
        timezone=ref.timezone,
        currency=ref.currency,
    )


def delivery_terms(session: Session, store_id: uuid.UUID) -> terms_mod.DeliveryTerms:
    """The store's delivery terms (404 ``store_not_found``)."""
    return terms_of(store_ref(session, store_id))


def _stock_function() -> Callable[..., dict[uuid.UUID, int | None]] | None:
    try:
        from o2o.stores import stock
    except ImportError:  # stock arrives with the orders work; until then every item is unlimited
        return None
    return getattr(stock, "available", None)


def stock_of(session: Session, store_id: uuid.UUID, item_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int | None]:
    """Units one can still buy per item (None: not tracked, unlimited), from ``o2o.stores.stock`` when present."""
    ids = list(item_ids)
    available = _stock_function()
    if available is None or not ids:
        return dict.fromkeys(ids)
    return available(session, store_id, ids)


@dataclass(frozen=True)
class MenuView:
    """The menu as a customer sees it at ``local_time``: what is offered now and how many units are left."""

    menu: menu_mod.Menu
    local_time: dt.datetime
    stock: Mapping[uuid.UUID, int | None]

    def available_now(self, item: menu_mod.Item) -> bool:
        return self.menu.available_at(item, self.local_time)

    def category_available_now(self, category: menu_mod.Category) -> bool:
        return menu_mod.is_available_at(category.windows, self.local_time)

    def units_left(self, item: menu_mod.Item) -> int | None:
        return self.stock.get(item.id)

    def sold_out(self, item: menu_mod.Item) -> bool:
        """Switched off, a required choice ran out, or no unit left in the shop."""
        left = self.units_left(item)
        return item.shown_sold_out or (left is not None and left <= 0)

    def orderable(self, item: menu_mod.Item) -> bool:
        return not self.sold_out(item) and self.available_now(item)

    def next_available(self, item: menu_mod.Item) -> dt.datetime | None:
        return menu_mod.next_available_at(self.menu.item_windows(item), self.local_time)


def menu_view(session: Session, store_id: uuid.UUID, *, at: dt.datetime | None = None) -> MenuView:
    menu = load_menu(session, store_id)
    local = clock.in_zone(at or clock.now(), menu.timezone)
    return MenuView(menu, local, stock_of(session, store_id, list(menu.items)))


def shelf_url(base_url: str, store_id: uuid.UUID, item_id: uuid.UUID) -> str:
    """What an item's shelf QR code opens: the item's page with this store's stock."""
    return f"{base_url.rstrip('/')}/stores/{store_id}/items/{item_id}"


@dataclass(frozen=True)
class ShelfLabel:
    item_id: uuid.UUID
    name: str
    category: str
    price: int  # the lowest unit price a valid pick of options gives (the item's price without options)
    from_price: bool  # options can make it cost more: print "from"
    currency: str
    url: str
    image: str | None


def shelf_labels(session: Session, store_id: uuid.UUID, base_url: str) -> list[ShelfLabel]:
    """One label per live item, in menu order."""
    menu = load_menu(session, store_id)
    labels = []
    for category in menu.categories:
        for item in menu.items_of(category):
            lowest = max(0, menu_mod.item_lowest_unit_price(item))
            varies = any(o.price_delta != 0 for g in item.groups for o in g.options)
            labels.append(
                ShelfLabel(item.id, item.name, category.name, lowest, varies, menu.currency,
                           shelf_url(base_url, store_id, item.id), item.image)
            )
    return labels


# --------------------------------------------------------------------------------------------------------------
# Input checks (pure; each refusal names the field and what is allowed)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def clean_name(value: Any, kind: str) -> str:
    limit = NAME_MAX[kind]
    if not isinstance(value, str):
        raise e.invalid(e.INVALID_NAME, f"The {kind}'s name must be text.", field="name")
    name = " ".join(unicodedata.normalize("NFC", value).split())
    if not name or len(name) > limit or _CONTROL.search(name):
        raise e.invalid(
            e.INVALID_NAME, f"The {kind}'s name must be 1 to {limit} characters (not blank).", field="name",
            max_length=limit,
        )
    return name


def clean_description(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise e.invalid(e.INVALID_DESCRIPTION, "The description must be text.", field="description")
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > DESCRIPTION_MAX or re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", text):
        raise e.invalid(
            e.INVALID_DESCRIPTION, f"The description is at most {DESCRIPTION_MAX} characters of text.",
            field="description", max_length=DESCRIPTION_MAX,
        )
    return text


def clean_image(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise e.invalid(e.INVALID_IMAGE, "The image is an emoji or a short text.", field="image")
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        return None
    if len(text) > IMAGE_MAX or _CONTROL.search(text):
        raise e.invalid(
            e.INVALID_IMAGE, f"The image is an emoji or a text of at most {IMAGE_MAX} characters.", field="image",
            max_length=IMAGE_MAX,
        )
    return text


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def clean_price(value: Any) -> int:
    if not _is_int(value) or not 0 <= value <= MAX_PRICE:
        raise e.invalid(
            e.INVALID_PRICE, f"The price is a whole number of fen from 0 to {MAX_PRICE}.", field="price",
            maximum=MAX_PRICE,
        )
    return value


def clean_delta(value: Any) -> int:
    if not _is_int(value) or not -MAX_PRICE_DELTA <= value <= MAX_PRICE_DELTA:
        raise e.invalid(
            e.INVALID_PRICE_DELTA,
            f"The price delta is a whole number of fen from {-MAX_PRICE_DELTA} to {MAX_PRICE_DELTA}.",
            field="price_delta",
        )
    return value


def clean_picks(min_picks: Any, max_picks: Any) -> tuple[int, int]:
    if not (_is_int(min_picks) and _is_int(max_picks)) or not (
        0 <= min_picks <= max_picks and 1 <= max_picks <= MAX_OPTIONS
    ):
        raise e.invalid(
            e.INVALID_PICKS,
            f"Picks must satisfy 0 <= min_picks <= max_picks, 1 <= max_picks <= {MAX_OPTIONS}; "
            f"got min {min_picks!r}, max {max_picks!r}.",
            field="min_picks",
        )
    return min_picks, max_picks


def clean_windows(value: Any) -> str | None:
    """Stored text of availability windows; None (no restriction) stays None."""
    try:
        return menu_mod.windows_to_json(menu_mod.parse_windows(value))
    except (menu_mod.InvalidWindows, TypeError) as exc:
        raise e.invalid(
            e.INVALID_WINDOWS,
            f'available_windows: {exc}. Give local times like [["06:30", "10:30"]], or null for always.',
            field="available_windows",
        ) from exc


def clean_bool(value: Any, pair: tuple[int, str], field: str) -> bool:
    if not isinstance(value, bool):
        raise e.invalid(pair, f"{field} is true or false.", field=field)
    return value


def _check_keys(changes: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"unknown fields: {', '.join(sorted(unknown))}")  # a caller's bug, not the client's
    if not changes:
        raise e.invalid(e.NOTHING_TO_CHANGE, "Send at least one field to change.")


def _taken(name: str, existing: Iterable[str]) -> bool:
    folded = name.casefold()
    return any(other.casefold() == folded for other in existing)


def _duplicate(kind: str, name: str, where: str) -> Exception:
    return e.invalid(e.DUPLICATE_NAME, f"There is already a {kind} called “{name}” {where}.", field="name")


# --------------------------------------------------------------------------------------------------------------
# Editing: the store's catalogue is taken first (see the module's docstring)


def _take(session: Session, store_id: uuid.UUID) -> None:
    if repository.bump_catalogue_version(session, store_id) == 0:
        raise e.store_not_found()


def _category(session: Session, store_id: uuid.UUID, category_id: uuid.UUID) -> MenuCategory:
    category = repository.live_category(session, store_id, category_id)
    if category is None:
        raise e.category_not_found()
    return category


def _item(session: Session, store_id: uuid.UUID, item_id: uuid.UUID) -> MenuItem:
    item = repository.live_item(session, store_id, item_id)
    if item is None:
        raise e.item_not_found()
    return item


def _group(session: Session, store_id: uuid.UUID, group_id: uuid.UUID) -> tuple[MenuOptionGroup, MenuItem]:
    found = repository.group_of_store(session, store_id, group_id)
    if found is None:
        raise e.group_not_found()
    return found


def _option(session: Session, store_id: uuid.UUID, option_id: uuid.UUID) -> tuple[MenuOption, MenuOptionGroup, MenuItem]:
    found = repository.option_of_store(session, store_id, option_id)
    if found is None:
        raise e.option_not_found()
    return found


# The pricing shape of an item: group id -> [min_picks, max_picks, {option id: price delta}].
Shape = dict[uuid.UUID, list[Any]]


def _shape(session: Session, item_id: uuid.UUID) -> Shape:
    return {
        group.id: [group.min_picks, group.max_picks, {o.id: o.price_delta for o in options}]
        for group, options in repository.groups_with_options(session, item_id)
    }


def _ensure_floor(item_name: str, price: int, shape: Shape) -> None:
    lowest = menu_mod.lowest_unit_price(price, [(mn, mx, list(deltas.values())) for mn, mx, deltas in shape.values()])
    if lowest < 0:
        raise e.invalid(
            e.UNIT_PRICE_BELOW_ZERO,
            f"With this change the cheapest pick of options would make {item_name} cost {lowest} fen; a unit "
            "price never goes below zero. Raise the price or make the discounts smaller.",
            lowest_unit_price=lowest,
        )


def _ordered(ids: Sequence[uuid.UUID], live: Iterable[uuid.UUID], what: str) -> list[uuid.UUID]:
    wanted = list(ids)
    if len(set(wanted)) != len(wanted) or set(wanted) != set(live):
        raise e.invalid(
            e.INVALID_ORDER,
            f"Give every {what} exactly once, in the new order.",
            field="ids",
        )
    return wanted


def _limit(count: int, maximum: int, what: str) -> None:
    if count >= maximum:
        raise e.invalid(e.CATALOGUE_LIMIT, f"At most {maximum} {what}.", maximum=maximum)


# ---- categories


def create_category(
    session: Session, store_id: uuid.UUID, *, name: Any, available_windows: Any = None
) -> MenuCategory:
    clean = clean_name(name, "category")
    windows = clean_windows(available_windows)
    _take(session, store_id)
    store = repository.store_of_update(session, store_id)
    assert store is not None
    existing = repository.category_names(session, store_id)
    _limit(len(existing), MAX_CATEGORIES, "categories in a store")
    if _taken(clean, existing.values()):
        raise _duplicate("category", clean, "in this store")
    category = MenuCategory(
        city_id=store.city_id,
        store_id=store_id,
        name=clean,
        available_windows=windows,
        position=repository.next_position(
            session, MenuCategory.position, MenuCategory.store_id == store_id, MenuCategory.archived.is_(False)
        ),
        archived=False,
    )
    session.add(category)
    session.flush()
    return category


CATEGORY_FIELDS = {"name", "available_windows"}


def update_category(
    session: Session, store_id: uuid.UUID, category_id: uuid.UUID, changes: Mapping[str, Any]
) -> MenuCategory:
    _check_keys(changes, CATEGORY_FIELDS)
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = clean_name(changes["name"], "category")
    if "available_windows" in changes:
        values["available_windows"] = clean_windows(changes["available_windows"])
    _take(session, store_id)
    category = _category(session, store_id, category_id)
    if "name" in values:
        others = {cid: n for cid, n in repository.category_names(session, store_id).items() if cid != category_id}
        if _taken(values["name"], others.values()):
            raise _duplicate("category", values["name"], "in this store")
    for key, value in values.items():
        setattr(category, key, value)
    session.flush()
    return category


def archive_category(session: Session, store_id: uuid.UUID, category_id: uuid.UUID) -> None:
    """Take an empty category off the menu (archive or move its items first)."""
    _take(session, store_id)
    category = _category(session, store_id, category_id)
    left = repository.count_live_items(session, store_id, category_id)
    if left:
        raise e.invalid(
            e.CATEGORY_NOT_EMPTY,
            f"“{category.name}” still holds {left} item(s): archive them or move them to another category first.",
            items=left,
        )
    category.archived = True
    session.flush()


def reorder_categories(session: Session, store_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
    _take(session, store_id)
    ordered = _ordered(ids, repository.category_names(session, store_id), "category of the store")
    repository.set_positions(session, MenuCategory, ordered)
    session.flush()


# ---- items


def create_item(
    session: Session,
    store_id: uuid.UUID,
    *,
    category_id: uuid.UUID,
    name: Any,
    price: Any,
    description: Any = "",
    image: Any = None,
    available_windows: Any = None,
    sold_out: Any = False,
) -> MenuItem:
    clean = clean_name(name, "item")
    values = {
        "price": clean_price(price),
        "description": clean_description(description),
        "image": clean_image(image),
        "available_windows": clean_windows(available_windows),
        "sold_out": clean_bool(sold_out, e.INVALID_SOLD_OUT, "sold_out"),
    }
    _take(session, store_id)
    category = repository.live_category(session, store_id, category_id)
    if category is None:
        raise e.invalid(e.UNKNOWN_CATEGORY, f"Category {category_id} is not one of this store's.", field="category_id")
    _limit(repository.count_live_items(session, store_id), MAX_ITEMS, "items in a store")
    if _taken(clean, repository.item_names(session, store_id, category_id).values()):
        raise _duplicate("item", clean, f"in “{category.name}”")
    item = MenuItem(
        city_id=category.city_id,
        store_id=store_id,
        category_id=category_id,
        name=clean,
        position=repository.next_position(
            session, MenuItem.position, MenuItem.store_id == store_id, MenuItem.category_id == category_id
        ),
        archived=False,
        updated_at=clock.now(),
        **values,
    )
    session.add(item)
    session.flush()
    return item


ITEM_FIELDS = {"category_id", "name", "price", "description", "image", "available_windows", "sold_out"}


def update_item(session: Session, store_id: uuid.UUID, item_id: uuid.UUID, changes: Mapping[str, Any]) -> MenuItem:
    _check_keys(changes, ITEM_FIELDS)
    values: dict[str, Any] = {}
    if "name" in changes:
        values["name"] = clean_name(changes["name"], "item")
    if "price" in changes:
        values["price"] = clean_price(changes["price"])
    if "description" in changes:
        values["description"] = clean_description(changes["description"])
    if "image" in changes:
        values["image"] = clean_image(changes["image"])
    if "available_windows" in changes:
        values["available_windows"] = clean_windows(changes["available_windows"])
    if "sold_out" in changes:
        values["sold_out"] = clean_bool(changes["sold_out"], e.INVALID_SOLD_OUT, "sold_out")
    _take(session, store_id)
    item = _item(session, store_id, item_id)
    category_id = item.category_id
    if "category_id" in changes and changes["category_id"] != item.category_id:
        target = repository.live_category(session, store_id, changes["category_id"])
        if target is None:
            raise e.invalid(
                e.UNKNOWN_CATEGORY, f"Category {changes['category_id']} is not one of this store's.", field="category_id"
            )
        category_id = target.id
        values["category_id"] = target.id
        values["position"] = repository.next_position(
            session, MenuItem.position, MenuItem.store_id == store_id, MenuItem.category_id == target.id
        )
    if "name" in values or "category_id" in values:
        others = [n for i, n in repository.item_names(session, store_id, category_id).items() if i != item_id]
        if _taken(values.get("name", item.name), others):
            raise _duplicate("item", values.get("name", item.name), "in that category")
    if "price" in values:
        _ensure_floor(values.get("name", item.name), values["price"], _shape(session, item_id))
    for key, value in values.items():
        setattr(item, key, value)
    item.updated_at = clock.now()
    session.flush()
    return item


def archive_item(session: Session, store_id: uuid.UUID, item_id: uuid.UUID) -> None:
    """Take an item off the menu for good. It stays in the database: past orders point at it."""
    _take(session, store_id)
    item = _item(session, store_id, item_id)
    item.archived = True
    item.updated_at = clock.now()
    session.flush()


def reorder_items(session: Session, store_id: uuid.UUID, category_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
    _take(session, store_id)
    _category(session, store_id, category_id)
    ordered = _ordered(ids, repository.item_names(session, store_id, category_id), "item of the category")
    repository.set_positions(session, MenuItem, ordered)
    session.flush()


def set_item_sold_out(session: Session, store_id: uuid.UUID, item_id: uuid.UUID, sold_out: Any) -> MenuItem:
    """The sold-out switch (staff may flip it): idempotent."""
    flag = clean_bool(sold_out, e.INVALID_SOLD_OUT, "sold_out")
    _take(session, store_id)
    item = _item(session, store_id, item_id)
    if item.sold_out != flag:
        item.sold_out = flag
        item.updated_at = clock.now()
        session.flush()
    return item


# ---- option groups


def _clean_new_options(options: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    cleaned: list[dict[str, Any]] = []
    for spec in options:
        if not isinstance(spec, Mapping) or set(spec) - {"name", "price_delta", "sold_out"}:
            raise TypeError("an option is a mapping of name, price_delta, sold_out")
        name = clean_name(spec.get("name"), "option")
        if _taken(name, (o["name"] for o in cleaned)):
            raise _duplicate("option", name, "in this group")
        cleaned.append(
            {
                "name": name,
                "price_delta": clean_delta(spec.get("price_delta", 0)),
                "sold_out": clean_bool(spec.get("sold_out", False), e.INVALID_SOLD_OUT, "sold_out"),
            }
        )
    if len(cleaned) > MAX_OPTIONS:
        raise e.invalid(e.CATALOGUE_LIMIT, f"At most {MAX_OPTIONS} options in a group.", maximum=MAX_OPTIONS)
    return cleaned


def create_option_group(
    session: Session,
    store_id: uuid.UUID,
    item_id: uuid.UUID,
    *,
    name: Any,
    min_picks: Any = 0,
    max_picks: Any = 1,
    options: Sequence[Mapping[str, Any]] = (),
) -> MenuOptionGroup:
    """A group of choices for an item, with its first options (a required group is best made with them)."""
    clean = clean_name(name, "group")
    low, high = clean_picks(min_picks, max_picks)
    new_options = _clean_new_options(options)
    _take(session, store_id)
    item = _item(session, store_id, item_id)
    shape = _shape(session, item_id)
    _limit(len(shape), MAX_GROUPS, "option groups per item")
    names = [g.name for g, _ in repository.groups_with_options(session, item_id)]
    if _taken(clean, names):
        raise _duplicate("option group", clean, f"on {item.name}")
    shape[uuid.uuid4()] = [low, high, {uuid.uuid4(): o["price_delta"] for o in new_options}]  # as it would be
    _ensure_floor(item.name, item.price, shape)
    group = MenuOptionGroup(
        city_id=item.city_id,
        item_id=item_id,
        name=clean,
        min_picks=low,
        max_picks=high,
        position=repository.next_position(session, MenuOptionGroup.position, MenuOptionGroup.item_id == item_id),
    )
    session.add(group)
    session.flush()
    for position, spec in enumerate(new_options):
        session.add(MenuOption(city_id=item.city_id, group_id=group.id, position=position, **spec))
    item.updated_at = clock.now()
    session.flush()
    return group


GROUP_FIELDS = {"name", "min_picks", "max_picks"}


def update_option_group(
    session: Session, store_id: uuid.UUID, group_id: uuid.UUID, changes: Mapping[str, Any]
) -> MenuOptionGroup:
    _check_keys(changes, GROUP_FIELDS)
    name = clean_name(changes["name"], "group") if "name" in changes else None
    _take(session, store_id)
    group, item = _group(session, store_id, group_id)
    low, high = clean_picks(changes.get("min_picks", group.min_picks), changes.get("max_picks", group.max_picks))
    if name is not None:
        others = [g.name for g, _ in repository.groups_with_options(session, item.id) if g.id != group_id]
        if _taken(name, others):
            raise _duplicate("option group", name, f"on {item.name}")
        group.name = name
    if (low, high) != (group.min_picks, group.max_picks):
        shape = _shape(session, item.id)
        shape[group_id][0:2] = [low, high]
        _ensure_floor(item.name, item.price, shape)
        group.min_picks, group.max_picks = low, high
    item.updated_at = clock.now()
    session.flush()
    return group


def delete_option_group(session: Session, store_id: uuid.UUID, group_id: uuid.UUID) -> None:
    """Remove a group and its options (orders keep a copy of what was picked)."""
    _take(session, store_id)
    group, item = _group(session, store_id, group_id)
    shape = _shape(session, item.id)
    del shape[group_id]
    _ensure_floor(item.name, item.price, shape)
    session.delete(group)
    item.updated_at = clock.now()
    session.flush()


def reorder_option_groups(session: Session, store_id: uuid.UUID, item_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
    _take(session, store_id)
    _item(session, store_id, item_id)
    live = [g.id for g, _ in repository.groups_with_options(session, item_id)]
    repository.set_positions(session, MenuOptionGroup, _ordered(ids, live, "option group of the item"))
    session.flush()


# ---- options


def create_option(
    session: Session,
    store_id: uuid.UUID,
    group_id: uuid.UUID,
    *,
    name: Any,
    price_delta: Any = 0,
    sold_out: Any = False,
) -> MenuOption:
    [spec] = _clean_new_options([{"name": name, "price_delta": price_delta, "sold_out": sold_out}])
    _take(session, store_id)
    group, item = _group(session, store_id, group_id)
    shape = _shape(session, item.id)
    deltas = shape[group_id][2]
    _limit(len(deltas), MAX_OPTIONS, "options in a group")
    names = [o.name for g, options in repository.groups_with_options(session, item.id) if g.id == group_id
             for o in options]
    if _taken(spec["name"], names):
        raise _duplicate("option", spec["name"], f"in “{group.name}”")
    deltas[uuid.uuid4()] = spec["price_delta"]
    _ensure_floor(item.name, item.price, shape)
    option = MenuOption(
        city_id=item.city_id,
        group_id=group_id,
        position=repository.next_position(session, MenuOption.position, MenuOption.group_id == group_id),
        **spec,
    )
    session.add(option)
    item.updated_at = clock.now()
    session.flush()
    return option


OPTION_FIELDS = {"name", "price_delta", "sold_out"}


def update_option(
    session: Session, store_id: uuid.UUID, option_id: uuid.UUID, changes: Mapping[str, Any]
) -> MenuOption:
    _check_keys(changes, OPTION_FIELDS)
    name = clean_name(changes["name"], "option") if "name" in changes else None
    delta = clean_delta(changes["price_delta"]) if "price_delta" in changes else None
    sold_out = (
        clean_bool(changes["sold_out"], e.INVALID_SOLD_OUT, "sold_out") if "sold_out" in changes else None
    )
    _take(session, store_id)
    option, group, item = _option(session, store_id, option_id)
    if name is not None:
        others = [o.name for g, options in repository.groups_with_options(session, item.id) if g.id == group.id
                  for o in options if o.id != option_id]
        if _taken(name, others):
            raise _duplicate("option", name, f"in “{group.name}”")
        option.name = name
    if delta is not None and delta != option.price_delta:
        shape = _shape(session, item.id)
        shape[group.id][2][option_id] = delta
        _ensure_floor(item.name, item.price, shape)
        option.price_delta = delta
    if sold_out is not None:
        option.sold_out = sold_out
    item.updated_at = clock.now()
    session.flush()
    return option


def delete_option(session: Session, store_id: uuid.UUID, option_id: uuid.UUID) -> None:
    _take(session, store_id)
    option, group, item = _option(session, store_id, option_id)
    shape = _shape(session, item.id)
    del shape[group.id][2][option_id]
    _ensure_floor(item.name, item.price, shape)
    session.delete(option)
    item.updated_at = clock.now()
    session.flush()


def set_option_sold_out(session: Session, store_id: uuid.UUID, option_id: uuid.UUID, sold_out: Any) -> MenuOption:
    flag = clean_bool(sold_out, e.INVALID_SOLD_OUT, "sold_out")
    _take(session, store_id)
    option, _group_row, item = _option(session, store_id, option_id)
    if option.sold_out != flag:
        option.sold_out = flag
        item.updated_at = clock.now()
        session.flush()
    return option


def reorder_options(session: Session, store_id: uuid.UUID, group_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> None:
    _take(session, store_id)
    group, item = _group(session, store_id, group_id)
    live = [o.id for g, options in repository.groups_with_options(session, item.id) if g.id == group.id
            for o in options]
    repository.set_positions(session, MenuOption, _ordered(ids, live, "option of the group"))
    session.flush()


# --------------------------------------------------------------------------------------------------------------
# Store settings: delivery terms, preparation time, opening hours, the pause switch

SETTINGS_FIELDS = {
    "delivery_radius_m",
    "delivery_area",
    "min_order",
    "packaging_fee",
    "delivery_base_fee",
    "delivery_base_m",
    "delivery_fee_per_km",
    "prep_minutes",
    "opening_hours",
    "accepting_orders",
}
_FEES = {"packaging_fee": MAX_FEE, "delivery_base_fee": MAX_FEE, "delivery_fee_per_km": MAX_FEE,
         "min_order": MAX_MIN_ORDER}


def city_bounds(session: Session, ref: StoreRef):  # type: ignore[no-untyped-def]
    shapes = [polygon_from_geojson(json.loads(text)) for text in repository.district_boundaries(session, ref.store.city_id)]
    return terms_mod.city_bounds(ref.center, shapes)


def _clean_settings(session: Session, ref: StoreRef, changes: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field, maximum in _FEES.items():
        if field in changes:
            value = changes[field]
            if not _is_int(value) or not 0 <= value <= maximum:
                raise e.invalid(e.INVALID_FEE, f"{field} is a whole number of fen from 0 to {maximum}.", field=field)
            values[field] = value
    if "delivery_radius_m" in changes:
        radius = changes["delivery_radius_m"]
        if not _is_int(radius) or not terms_mod.MIN_RADIUS_M <= radius <= terms_mod.MAX_RADIUS_M:
            raise e.invalid(
                e.INVALID_DELIVERY_RADIUS,
                f"delivery_radius_m is whole metres from {terms_mod.MIN_RADIUS_M} to {terms_mod.MAX_RADIUS_M}.",
                field="delivery_radius_m",
            )
        values["delivery_radius_m"] = radius
    if "delivery_base_m" in changes:
        base = changes["delivery_base_m"]
        if not _is_int(base) or not 0 <= base <= terms_mod.MAX_RADIUS_M:
            raise e.invalid(
                e.INVALID_DELIVERY_BASE,
                f"delivery_base_m (the metres the base fee covers) is from 0 to {terms_mod.MAX_RADIUS_M}.",
                field="delivery_base_m",
            )
        values["delivery_base_m"] = base
    if "prep_minutes" in changes:
        minutes = changes["prep_minutes"]
        if not _is_int(minutes) or not 0 <= minutes <= MAX_PREP_MINUTES:
            raise e.invalid(
                e.INVALID_PREP_MINUTES, f"prep_minutes is whole minutes from 0 to {MAX_PREP_MINUTES}.",
                field="prep_minutes",
            )
        values["prep_minutes"] = minutes
    if "opening_hours" in changes:
        try:
            if not isinstance(changes["opening_hours"], (str, Mapping)):
                raise hours_mod.InvalidHours("expected an object with one key per day (mon ... sun)")
            values["opening_hours"] = hours_mod.parse_hours(changes["opening_hours"]).to_json()
        except hours_mod.InvalidHours as exc:
            raise e.invalid(e.INVALID_OPENING_HOURS, f"opening_hours: {exc}.", field="opening_hours") from exc
    if "accepting_orders" in changes:
        values["accepting_orders"] = clean_bool(changes["accepting_orders"], e.INVALID_ACCEPTING_ORDERS, "accepting_orders")
    if "delivery_area" in changes:
        area = changes["delivery_area"]
        if area is None:
            values["delivery_area"] = None
        else:
            try:
                polygon = terms_mod.parse_area(
                    area, bounds=city_bounds(session, ref), store_at=(ref.store.lat, ref.store.lng)
                )
            except terms_mod.StoreOutsideArea as exc:
                raise e.invalid(e.AREA_EXCLUDES_STORE, f"delivery_area: {exc}.", field="delivery_area") from exc
            except terms_mod.InvalidArea as exc:
                raise e.invalid(
                    e.INVALID_DELIVERY_AREA,
                    f"delivery_area: {exc}. Send a GeoJSON Polygon in [lng, lat] order, or null to use the radius.",
                    field="delivery_area",
                ) from exc
            values["delivery_area"] = terms_mod.area_to_text(polygon)
    return values


def update_settings(session: Session, store_id: uuid.UUID, changes: Mapping[str, Any]) -> Store:
    """Change the store's delivery terms, preparation time, opening hours or pause switch (all or nothing)."""
    _check_keys(changes, SETTINGS_FIELDS)
    ref = store_ref(session, store_id)
    values = _clean_settings(session, ref, changes)
    _take(session, store_id)
    store = repository.store_of_update(session, store_id)
    if store is None:  # pragma: no cover - _take found it in this transaction
        raise e.store_not_found()
    for key, value in values.items():
        setattr(store, key, value)
    session.flush()
    log.info("store_settings_updated", store_id=str(store_id), fields=sorted(values))
    return store


def store_city(session: Session, store_id: uuid.UUID) -> uuid.UUID:
    """The store's city (for permission checks); 404 ``store_not_found``."""
    city_id = repository.city_of_store(session, store_id)
    if city_id is None:
        raise e.store_not_found()
    return city_id


__all__ = [
    "MenuView",
    "ShelfLabel",
    "StoreRef",
    "archive_category",
    "archive_item",
    "create_category",
    "create_item",
    "create_option",
    "create_option_group",
    "delete_option",
    "delete_option_group",
    "delivery_terms",
    "load_menu",
    "menu_view",
    "price_cart",
    "reorder_categories",
    "reorder_items",
    "reorder_option_groups",
    "reorder_options",
    "set_item_sold_out",
    "set_option_sold_out",
    "shelf_labels",
    "shelf_url",
    "stock_of",
    "store_city",
    "store_ref",
    "update_category",
    "update_item",
    "update_option",
    "update_option_group",
    "update_settings",
]

