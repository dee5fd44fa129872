"""Carts: what a person means to buy at one store, kept between visits (the pages' cart; apps send their lines
with the order instead).

A person has at most one cart per store (``carts``: unique ``(person_id, store_id)``), its lines a JSON list
``[{"item_id", "quantity", "option_ids"}]``. The same item with the same options is one line (adding it again adds
to its quantity); the same item with other options is another line. A line is named by its ``key`` (the item and
its sorted options), so a change aimed at one line never lands on another after the cart changed in between.

A cart is never priced when it is stored: prices, sold-out switches and stock change, and the cart keeps what the
person chose. ``view`` prices it now, line by line, and says what is wrong with each line that cannot be bought
(sold out, no longer on the menu, not at this hour, fewer units left), so the person sees the problem instead of
losing the line. Adding a line checks it against the menu and the stock of that moment (a sold-out item is not
put in a cart).

Changes are compare-and-set: ``UPDATE carts SET lines = :new WHERE id = :id AND lines = :seen``, retried on a lost
race, so two tabs adding at once both land (on SQLite and PostgreSQL alike); a cart created at once by two
requests meets the unique constraint and the loser retries as an update.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2o.errors import AppError
from o2o.kit import time as clock
from o2o.kit.ids import uuid7
from o2o.orders.models import Cart
from o2o.stores import catalogue, stock
from o2o.stores import hours as hours_mod
from o2o.stores import menu as menu_mod
from o2o.stores.menu import LineRequest

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class CartLine:
    item_id: uuid.UUID
    quantity: int
    option_ids: tuple[uuid.UUID, ...] = ()

    @property
    def key(self) -> str:
        return line_key(self.item_id, self.option_ids)

    def request(self) -> LineRequest:
        return LineRequest(item_id=self.item_id, quantity=self.quantity, option_ids=self.option_ids)


def line_key(item_id: uuid.UUID, option_ids: Iterable[uuid.UUID]) -> str:
    """A short stable name for "this item with these options" (the order of the options does not matter)."""
    text = str(item_id) + "|" + ",".join(sorted(str(o) for o in set(option_ids)))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_lines(text: str | None) -> list[CartLine]:
    """The stored lines; a malformed entry (a hand-edited row) is skipped rather than breaking the cart."""
    try:
        data = json.loads(text or "[]")
    except ValueError:
        return []
    lines = []
    for entry in data if isinstance(data, list) else []:
        try:
            quantity = entry["quantity"]
            if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
                continue
            lines.append(
                CartLine(
                    item_id=uuid.UUID(str(entry["item_id"])),
                    quantity=quantity,
                    option_ids=tuple(uuid.UUID(str(o)) for o in entry.get("option_ids", [])),
                )
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
    return lines


def dump_lines(lines: Sequence[CartLine]) -> str:
    return json.dumps(
        [
            {"item_id": str(line.item_id), "quantity": line.quantity, "option_ids": [str(o) for o in line.option_ids]}
            for line in lines
        ],
        separators=(",", ":"),
    )


def lines_of(cart: Cart) -> list[CartLine]:
    return parse_lines(cart.lines)


def requests_of(cart: Cart) -> list[LineRequest]:
    return [line.request() for line in lines_of(cart)]


# ---------------------------------------------------------------------------------------------------- reads


def carts_of(session: Session, person_id: uuid.UUID) -> list[Cart]:
    """The person's carts, the most recently changed first."""
    return list(
        session.scalars(
            select(Cart).where(Cart.person_id == person_id).order_by(Cart.updated_at.desc(), Cart.id.desc())
        )
    )


def cart_of(session: Session, person_id: uuid.UUID, store_id: uuid.UUID) -> Cart | None:
    return session.scalars(
        select(Cart)
        .where(Cart.person_id == person_id, Cart.store_id == store_id)
        .execution_options(populate_existing=True)
    ).first()


# ---------------------------------------------------------------------------------------------------- changes


def cart_line_invalid(detail: str, **extra: object) -> AppError:
    return AppError("cart_line_not_found", 404, detail, extra=extra or None)


def _write(
    session: Session,
    *,
    person_id: uuid.UUID,
    store_id: uuid.UUID,
    change,  # type: ignore[no-untyped-def]  # (list[CartLine]) -> list[CartLine]; may raise AppError
    create: bool,
    now: dt.datetime,
) -> Cart | None:
    """Apply ``change`` to the cart's lines as they are now, compare-and-set, retried on a lost race. An empty
    result deletes the cart. Returns the cart (None when there is none left)."""
    for _ in range(MAX_ATTEMPTS):
        cart = cart_of(session, person_id, store_id)
        if cart is None:
            if not create:
                raise cart_line_invalid("There is no cart at this store.")
            new_lines = change([])
            if not new_lines:
                return None
            city_id = catalogue.store_ref(session, store_id).store.city_id
            try:
                with session.begin_nested():
                    session.add(
                        Cart(
                            id=uuid7(), city_id=city_id, person_id=person_id, store_id=store_id,
                            lines=dump_lines(new_lines), updated_at=now,
                        )
                    )
                    session.flush()
            except IntegrityError:
                continue  # another request made this cart just now: change that one
            return cart_of(session, person_id, store_id)
        seen = cart.lines
        new_lines = change(parse_lines(seen))
        if not new_lines:
            gone = session.execute(
                delete(Cart).where(Cart.id == cart.id, Cart.lines == seen).execution_options(synchronize_session=False)
            )
            if gone.rowcount == 1:
                return None
            continue
        moved = session.execute(
            update(Cart)
            .where(Cart.id == cart.id, Cart.lines == seen)
            .values(lines=dump_lines(new_lines), updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount == 1:
            return cart_of(session, person_id, store_id)
    raise AppError("cart_busy", 409, "The cart is changing; try again.")


def _check_line(
    session: Session, store_id: uuid.UUID, line: CartLine, lines: Sequence[CartLine], now: dt.datetime
) -> None:
    """Refuse a line the store cannot sell now: the menu's refusals (unknown item or option, a bad pick, sold
    out, not at this hour) and ``out_of_stock`` when the cart would hold more units than are left."""
    catalogue.price_cart(session, store_id, [line.request()], at=now)
    wanted = sum(other.quantity for other in lines if other.item_id == line.item_id)
    left = catalogue.stock_of(session, store_id, [line.item_id]).get(line.item_id)
    if left is not None and wanted > left:
        raise stock.OutOfStock({line.item_id: left})


def add(
    session: Session,
    *,
    person_id: uuid.UUID,
    store_id: uuid.UUID,
    item_id: uuid.UUID,
    quantity: int,
    option_ids: Sequence[uuid.UUID] = (),
    now: dt.datetime | None = None,
) -> Cart:
    """Put ``quantity`` of the item (with these options) in the person's cart at the store, checked against the
    menu and the stock now. Refusals change nothing: the menu's codes (``unknown_item``, ``option_picks``,
    ``item_sold_out`` ...), ``invalid_quantity`` (a line holds 1 to 99), ``too_many_lines``, ``out_of_stock``."""
    now = clock.now() if now is None else now
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 1 <= quantity <= menu_mod.MAX_QUANTITY:
        raise AppError(
            "invalid_quantity", 422, f"The quantity must be a whole number from 1 to {menu_mod.MAX_QUANTITY}."
        )
    wanted = CartLine(item_id, quantity, tuple(option_ids))

    def change(lines: list[CartLine]) -> list[CartLine]:
        merged: list[CartLine] = []
        found = False
        for line in lines:
            if line.key == wanted.key:
                line = CartLine(line.item_id, line.quantity + quantity, line.option_ids)
                found = True
                if line.quantity > menu_mod.MAX_QUANTITY:
                    raise AppError(
                        "invalid_quantity", 422,
                        f"A line holds at most {menu_mod.MAX_QUANTITY}; the cart has {line.quantity - quantity}.",
                    )
                checked = line
            merged.append(line)
        if not found:
            if len(lines) >= menu_mod.MAX_LINES:
                raise AppError(
                    "too_many_lines", 422, f"A cart holds at most {menu_mod.MAX_LINES} lines.",
                    extra={"max_lines": menu_mod.MAX_LINES},
                )
            merged.append(wanted)
            checked = wanted
        _check_line(session, store_id, checked, merged, now)
        return merged

    cart = _write(session, person_id=person_id, store_id=store_id, change=change, create=True, now=now)
    assert cart is not None
    return cart


def set_quantity(
    session: Session,
    *,
    person_id: uuid.UUID,
    store_id: uuid.UUID,
    key: str,
    quantity: int,
    now: dt.datetime | None = None,
) -> Cart | None:
    """Change one line's quantity (0 removes it; the last line gone, the cart goes). Raising a quantity is
    checked against the stock left; lowering it always works, even for an item that is sold out now."""
    now = clock.now() if now is None else now
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= menu_mod.MAX_QUANTITY:
        raise AppError(
            "invalid_quantity", 422, f"The quantity must be a whole number from 0 to {menu_mod.MAX_QUANTITY}."
        )

    def change(lines: list[CartLine]) -> list[CartLine]:
        target = next((line for line in lines if line.key == key), None)
        if target is None:
            raise cart_line_invalid("This line is no longer in the cart.", key=key)
        updated = [
            CartLine(line.item_id, quantity, line.option_ids) if line.key == key else line
            for line in lines
            if not (line.key == key and quantity == 0)
        ]
        if quantity > target.quantity:
            _check_line(session, store_id, CartLine(target.item_id, quantity, target.option_ids), updated, now)
        return updated

    return _write(session, person_id=person_id, store_id=store_id, change=change, create=False, now=now)


def remove(
    session: Session, *, person_id: uuid.UUID, store_id: uuid.UUID, key: str, now: dt.datetime | None = None
) -> Cart | None:
    return set_quantity(session, person_id=person_id, store_id=store_id, key=key, quantity=0, now=now)


def clear(session: Session, person_id: uuid.UUID, store_id: uuid.UUID) -> None:
    """Empty the person's cart at the store (its order was placed)."""
    session.execute(
        delete(Cart)
        .where(Cart.person_id == person_id, Cart.store_id == store_id)
        .execution_options(synchronize_session=False)
    )


# ---------------------------------------------------------------------------------------------------- what a cart is now


@dataclass(frozen=True)
class LineView:
    key: str
    item_id: uuid.UUID
    name: str | None  # None: the item is no longer on the menu
    quantity: int
    options: tuple[str, ...]  # "Group: Option" of the picked options still on the menu
    priced: menu_mod.PricedLine | None  # None when the line cannot be bought now
    problem: AppError | None
    units_left: int | None  # tracked items: units one can still buy


@dataclass(frozen=True)
class CartView:
    cart: Cart
    store_name: str
    currency: str
    timezone: str
    min_order: int
    accepting_orders: bool
    open_now: bool
    lines: tuple[LineView, ...]

    @property
    def buyable(self) -> bool:
        """Every line can be bought now (the store's hours and minimum are the checkout's to say)."""
        return bool(self.lines) and all(line.problem is None for line in self.lines)

    @property
    def subtotal(self) -> int:
        return sum(line.priced.line_total for line in self.lines if line.priced is not None)

    @property
    def below_minimum(self) -> int:
        """How much more the items must come to for the store's minimum order (0 when it is reached)."""
        return max(0, self.min_order - self.subtotal)

    @property
    def problems(self) -> int:
        return sum(1 for line in self.lines if line.problem is not None)


def view(session: Session, cart: Cart, *, now: dt.datetime | None = None) -> CartView:
    """Price the cart now, line by line, against the store's live menu and stock (one menu load)."""
    now = clock.now() if now is None else now
    menu_view = catalogue.menu_view(session, cart.store_id, at=now)
    ref = catalogue.store_ref(session, cart.store_id)
    terms = catalogue.terms_of(ref)
    menu = menu_view.menu
    lines = lines_of(cart)
    wanted: dict[uuid.UUID, int] = {}
    for line in lines:
        wanted[line.item_id] = wanted.get(line.item_id, 0) + line.quantity
    out = []
    for line in lines:
        item = menu.items.get(line.item_id)
        option_names = []
        if item is not None:
            picked = set(line.option_ids)
            option_names = [f"{g.name}: {o.name}" for g in item.groups for o in g.options if o.id in picked]
        priced: menu_mod.PricedLine | None = None
        problem: AppError | None = None
        try:
            # The same pricing as catalogue.price_cart (menu.price_lines at the city's local time), one line at a
            # time so one bad line does not hide the price of the others.
            (priced,) = menu_mod.price_lines(menu, [line.request()], menu_view.local_time)
        except AppError as exc:
            problem = exc
        left = menu_view.stock.get(line.item_id)
        if problem is None and left is not None and wanted[line.item_id] > left:
            problem = stock.OutOfStock({line.item_id: left})
            priced = None
        out.append(
            LineView(
                key=line.key, item_id=line.item_id, name=item.name if item is not None else None,
                quantity=line.quantity, options=tuple(option_names), priced=priced, problem=problem, units_left=left,
            )
        )
    return CartView(
        cart=cart,
        store_name=ref.store.name,
        currency=ref.currency,
        timezone=ref.timezone,
        min_order=terms.min_order,
        accepting_orders=terms.accepting_orders,
        open_now=hours_mod.is_open(terms.opening_hours, clock.in_zone(now, terms.timezone)),
        lines=tuple(out),
    )


__all__ = [
    "CartLine",
    "CartView",
    "LineView",
    "add",
    "cart_of",
    "carts_of",
    "clear",
    "dump_lines",
    "line_key",
    "lines_of",
    "parse_lines",
    "remove",
    "requests_of",
    "set_quantity",
    "view",
]
