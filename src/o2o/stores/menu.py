"""A store's menu and the pricing of a cart against it. Pure: no database, no FastAPI.

A ``Menu`` is a snapshot of one store's catalogue (``o2o.stores.catalogue.load_menu`` builds it in a handful of
queries): categories in order, and the items by id, each with its option groups (size, spice ...) and their
options. ``price_lines`` turns what a customer asked for into priced lines, or refuses the whole cart with one
``AppError`` (nothing is half-priced, nothing changes anywhere):

- 422 when the request itself is wrong: ``empty_cart``, ``too_many_lines``, ``invalid_quantity``, ``unknown_item``,
  ``unknown_option``, ``duplicate_option``, ``option_picks``;
- 409 when it is fine but the store cannot sell it now: ``item_sold_out``, ``option_sold_out``,
  ``item_unavailable_now`` (outside the item's or its category's local time windows, e.g. a breakfast menu).

Every line is checked for the 422s before any is checked for the 409s, so a client fixes its request first.
Lines are priced one for one as asked (the same item with other options is another line; two identical lines stay
two lines: merging is the cart's business). A line's unit price is the item's price plus the deltas of the picked
options; the catalogue never lets that go below zero (``lowest_unit_price``), and pricing clamps at zero anyway so
a cart is never paid a negative amount.

Availability windows are daily local-time intervals, ``[["06:30", "10:30"], ["17:00", "20:00"]]``; a window whose
end is at or before its start crosses midnight (``["22:00", "02:00"]``). They reuse ``o2o.stores.hours``: a
window list is the same schedule on every day of the week.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from o2o.stores import errors as e
from o2o.stores import hours as hours_mod

MAX_LINES = 50
MAX_QUANTITY = 99
MAX_WINDOWS = 6


# --------------------------------------------------------------------------------------------------------------
# Availability windows


class InvalidWindows(ValueError):
    """The windows are malformed; the message says how."""


Windows = hours_mod.WeeklyHours  # the same intervals on every day of the week
_WEEKDAY_PREFIX = re.compile(r"^(" + "|".join(hours_mod.DAYS) + r"): ")


def parse_windows(value: str | Sequence[Any] | Windows | None) -> Windows | None:
    """Validate and normalise windows given as JSON text or as a list of ``[start, end]`` pairs.

    None (or the JSON ``null``) means "no restriction": the item is offered whenever the store is open."""
    if value is None or isinstance(value, hours_mod.WeeklyHours):
        return value
    if isinstance(value, str):
        return _parse_windows_text(value)
    return _parse_windows(value)


@functools.lru_cache(maxsize=1024)
def _parse_windows_text(text: str) -> Windows | None:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidWindows(f"not JSON: {exc}") from exc
    return None if data is None else _parse_windows(data)


def _parse_windows(data: Any) -> Windows:
    if not isinstance(data, (list, tuple)) or not data:
        raise InvalidWindows('expected a list of ["HH:MM", "HH:MM"] pairs, e.g. [["06:30", "10:30"]]')
    if len(data) > MAX_WINDOWS:
        raise InvalidWindows(f"at most {MAX_WINDOWS} windows a day")
    pairs = []
    for pair in data:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise InvalidWindows(f"{pair!r} is not a [start, end] pair")
        pairs.append((pair[0], pair[1]))
    try:
        return hours_mod.every_day(*pairs)
    except hours_mod.InvalidHours as exc:
        # hours.py names a weekday ("tue: ..."); a window list has no days.
        message = _WEEKDAY_PREFIX.sub("", str(exc))
        if "overlap" in message:
            message = "the windows overlap (a window that crosses midnight runs into the next morning)"
        raise InvalidWindows(message) from exc


def window_pairs(windows: Windows | None) -> list[list[str]] | None:
    """The canonical ``[[start, end], ...]`` of windows (sorted), or None for "no restriction"."""
    if windows is None:
        return None
    return [list(pair) for pair in windows.spec[0][1]]


def windows_to_json(windows: Windows | None) -> str | None:
    pairs = window_pairs(windows)
    return None if pairs is None else json.dumps(pairs, separators=(",", ":"))


def describe_windows(windows: Windows | None) -> str:
    """``06:30–10:30, 17:00–20:00`` (an empty string without windows)."""
    return ", ".join(f"{start}–{end}" for start, end in (window_pairs(windows) or []))


def is_available_at(windows: Windows | str | Sequence[Any] | None, local_time: dt.datetime) -> bool:
    """Is something with these windows offered at this local (city time zone) moment? No windows: always."""
    parsed = parse_windows(windows)
    return parsed is None or hours_mod.is_open(parsed, local_time)


def next_available_at(
    windows: Iterable[Windows | None], local_time: dt.datetime
) -> dt.datetime | None:
    """The first moment (to the minute, from ``local_time`` on) at which all of ``windows`` are open together;
    None when that never happens (two windows that never overlap)."""
    present = [w for w in windows if w is not None]
    start = local_time.replace(second=0, microsecond=0)
    if all(hours_mod.is_open(w, start) for w in present):
        return start
    # A joint opening begins where one of the windows begins: try each window start over the next two days.
    candidates = []
    for w in present:
        for pair in window_pairs(w) or []:
            hh, mm = (int(part) for part in pair[0].split(":"))
            for days in (0, 1, 2):
                moment = (start + dt.timedelta(days=days)).replace(hour=hh, minute=mm)
                if moment > start:
                    candidates.append(moment)
    for moment in sorted(candidates):
        if all(hours_mod.is_open(w, moment) for w in present):
            return moment
    return None


# --------------------------------------------------------------------------------------------------------------
# The menu


@dataclass(frozen=True)
class Option:
    id: uuid.UUID
    group_id: uuid.UUID
    name: str
    price_delta: int
    sold_out: bool = False
    position: int = 0


@dataclass(frozen=True)
class OptionGroup:
    id: uuid.UUID
    item_id: uuid.UUID
    name: str
    min_picks: int
    max_picks: int
    position: int = 0
    options: tuple[Option, ...] = ()

    @property
    def available_options(self) -> int:
        return sum(1 for option in self.options if not option.sold_out)


@dataclass(frozen=True)
class Item:
    id: uuid.UUID
    category_id: uuid.UUID
    name: str
    price: int
    description: str = ""
    position: int = 0
    windows: Windows | None = None
    sold_out: bool = False
    archived: bool = False
    image: str | None = None
    groups: tuple[OptionGroup, ...] = ()

    @property
    def orderable_options(self) -> bool:
        """Enough options left in stock in every group for its minimum picks."""
        return all(group.available_options >= group.min_picks for group in self.groups)

    @property
    def shown_sold_out(self) -> bool:
        """What the customer sees: sold out itself, or no longer orderable because a required choice ran out."""
        return self.sold_out or not self.orderable_options


@dataclass(frozen=True)
class Category:
    id: uuid.UUID
    name: str
    position: int = 0
    windows: Windows | None = None
    archived: bool = False
    item_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True)
class Menu:
    """One store's catalogue: categories in order, items by id (each listed under its category)."""

    store_id: uuid.UUID
    currency: str
    categories: tuple[Category, ...] = ()
    items: Mapping[uuid.UUID, Item] = field(default_factory=dict)
    timezone: str = "Asia/Shanghai"
    version: int = 0

    def category(self, category_id: uuid.UUID) -> Category | None:
        return next((c for c in self.categories if c.id == category_id), None)

    def items_of(self, category: Category) -> list[Item]:
        return [self.items[item_id] for item_id in category.item_ids if item_id in self.items]

    def item_windows(self, item: Item) -> tuple[Windows | None, Windows | None]:
        """(the item's windows, its category's windows)."""
        category = self.category(item.category_id)
        return item.windows, category.windows if category is not None else None

    def available_at(self, item: Item, local_time: dt.datetime) -> bool:
        """Offered at this local time: inside the item's windows and its category's (each if it has any)."""
        return all(is_available_at(w, local_time) for w in self.item_windows(item))


# --------------------------------------------------------------------------------------------------------------
# Pricing


@dataclass(frozen=True)
class LineRequest:
    item_id: uuid.UUID
    quantity: int
    option_ids: tuple[uuid.UUID, ...] = ()


@dataclass(frozen=True)
class PricedOption:
    option_id: uuid.UUID
    group_name: str
    name: str
    price_delta: int


@dataclass(frozen=True)
class PricedLine:
    item_id: uuid.UUID
    name: str
    quantity: int
    unit_price: int
    options: tuple[PricedOption, ...]
    line_total: int


def _valid_quantity(quantity: Any) -> bool:
    return isinstance(quantity, int) and not isinstance(quantity, bool) and 1 <= quantity <= MAX_QUANTITY


def _usable_item(menu: Menu, item_id: uuid.UUID) -> Item | None:
    item = menu.items.get(item_id)
    if item is None or item.archived:
        return None
    category = menu.category(item.category_id)
    if category is None or category.archived:
        return None
    return item


def _picks_wanted(group: OptionGroup) -> str:
    if group.min_picks == group.max_picks:
        return f"exactly {group.min_picks}"
    if group.min_picks == 0:
        return f"at most {group.max_picks}"
    return f"between {group.min_picks} and {group.max_picks}"


def _check_structure(menu: Menu, index: int, line: LineRequest) -> tuple[Item, list[tuple[OptionGroup, Option]]]:
    """The 422 refusals of one line; returns the item and its picked (group, option) pairs in menu order."""
    where = {"line": index}
    if not _valid_quantity(line.quantity):
        raise e.invalid(
            e.INVALID_QUANTITY,
            f"Line {index + 1}: the quantity must be a whole number from 1 to {MAX_QUANTITY}, not {line.quantity!r}.",
            **where,
        )
    item = _usable_item(menu, line.item_id)
    if item is None:
        raise e.invalid(
            e.UNKNOWN_ITEM,
            f"Line {index + 1}: item {line.item_id} is not on this store's menu.",
            **where,
            item_id=str(line.item_id),
        )
    option_at: dict[uuid.UUID, tuple[OptionGroup, Option]] = {
        option.id: (group, option) for group in item.groups for option in group.options
    }
    seen: set[uuid.UUID] = set()
    for option_id in line.option_ids:
        if option_id not in option_at:
            raise e.invalid(
                e.UNKNOWN_OPTION,
                f"Line {index + 1}: option {option_id} is not a choice of {item.name}.",
                **where,
                item_id=str(item.id),
                option_id=str(option_id),
            )
        if option_id in seen:
            raise e.invalid(
                e.DUPLICATE_OPTION,
                f"Line {index + 1}: option {option_at[option_id][1].name} of {item.name} is picked twice.",
                **where,
                item_id=str(item.id),
                option_id=str(option_id),
            )
        seen.add(option_id)
    for group in item.groups:
        picked = sum(1 for option in group.options if option.id in seen)
        if not group.min_picks <= picked <= group.max_picks:
            raise e.invalid(
                e.OPTION_PICKS,
                f"Line {index + 1}: {item.name} needs {_picks_wanted(group)} of “{group.name}” "
                f"(min {group.min_picks}, max {group.max_picks}); {picked} picked.",
                **where,
                item_id=str(item.id),
                group_id=str(group.id),
                group=group.name,
                min_picks=group.min_picks,
                max_picks=group.max_picks,
                picked=picked,
            )
    # Canonical order (the menu's), so the same choice typed in another order is the same line.
    picks = [(group, option) for group in item.groups for option in group.options if option.id in seen]
    return item, picks


def _check_sellable(
    menu: Menu, index: int, item: Item, picks: list[tuple[OptionGroup, Option]], local_time: dt.datetime
) -> None:
    """The 409 refusals: the request is right, but the store cannot sell it at this moment."""
    if item.sold_out:
        raise e.invalid(
            e.ITEM_SOLD_OUT, f"Line {index + 1}: {item.name} is sold out.", line=index, item_id=str(item.id)
        )
    for group, option in picks:
        if option.sold_out:
            raise e.invalid(
                e.OPTION_SOLD_OUT,
                f"Line {index + 1}: {option.name} ({group.name}) of {item.name} is sold out.",
                line=index,
                item_id=str(item.id),
                option_id=str(option.id),
            )
    if not menu.available_at(item, local_time):
        own, of_category = menu.item_windows(item)
        blocking = own if own is not None and not hours_mod.is_open(own, local_time) else of_category
        when = next_available_at((own, of_category), local_time)
        detail = f"Line {index + 1}: {item.name} is offered {describe_windows(blocking)} only (local time)"
        if when is not None:
            detail += f"; next from {when:%Y-%m-%d %H:%M}"
        raise e.invalid(
            e.ITEM_UNAVAILABLE_NOW,
            detail + ".",
            line=index,
            item_id=str(item.id),
            available_windows=window_pairs(blocking),
            next_available_at=when.isoformat() if when is not None else None,
        )


def price_lines(menu: Menu, lines: Sequence[LineRequest], local_time: dt.datetime) -> list[PricedLine]:
    """Price a cart against the menu at a local (city time zone) moment, or refuse it whole (see the module)."""
    if not lines:
        raise e.invalid(e.EMPTY_CART, "The cart is empty: add at least one item.")
    if len(lines) > MAX_LINES:
        raise e.invalid(
            e.TOO_MANY_LINES, f"A cart holds at most {MAX_LINES} lines; this one has {len(lines)}.",
            max_lines=MAX_LINES,
        )
    checked = [_check_structure(menu, index, line) for index, line in enumerate(lines)]
    for index, (item, picks) in enumerate(checked):
        _check_sellable(menu, index, item, picks, local_time)
    priced = []
    for line, (item, picks) in zip(lines, checked, strict=True):
        unit_price = max(0, item.price + sum(option.price_delta for _group, option in picks))
        priced.append(
            PricedLine(
                item_id=item.id,
                name=item.name,
                quantity=line.quantity,
                unit_price=unit_price,
                options=tuple(PricedOption(option.id, group.name, option.name, option.price_delta)
                              for group, option in picks),
                line_total=unit_price * line.quantity,
            )
        )
    return priced


def subtotal(lines: Iterable[PricedLine]) -> int:
    return sum(line.line_total for line in lines)


def lowest_unit_price(price: int, groups: Iterable[tuple[int, int, Sequence[int]]]) -> int:
    """The lowest unit price any valid pick of options can reach: ``groups`` are (min_picks, max_picks, deltas).

    Per group, the ``min_picks`` smallest deltas are forced, and further negative ones may be added up to
    ``max_picks``. Sold-out options count (they come back in stock). The catalogue refuses an edit that
    would make this negative."""
    lowest = price
    for min_picks, max_picks, deltas in groups:
        ordered = sorted(deltas)
        lowest += sum(ordered[:min_picks])
        lowest += sum(d for d in ordered[min_picks:max_picks] if d < 0)
    return lowest


def item_lowest_unit_price(item: Item) -> int:
    return lowest_unit_price(
        item.price, [(g.min_picks, g.max_picks, [o.price_delta for o in g.options]) for g in item.groups]
    )


__all__ = [
    "MAX_LINES",
    "MAX_QUANTITY",
    "Category",
    "InvalidWindows",
    "Item",
    "LineRequest",
    "Menu",
    "Option",
    "OptionGroup",
    "PricedLine",
    "PricedOption",
    "describe_windows",
    "is_available_at",
    "item_lowest_unit_price",
    "lowest_unit_price",
    "next_available_at",
    "parse_windows",
    "price_lines",
    "subtotal",
    "window_pairs",
    "windows_to_json",
]
