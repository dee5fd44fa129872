"""Stock: one number per store item, shared by app orders, click-and-collect reservations and the counter.

Every change is a conditional ``UPDATE ... WHERE on_hand - held >= :n`` with a check of the row count, so two
buyers can never take the same unit, on SQLite and on PostgreSQL alike (PostgreSQL's row lock makes the second
buyer wait and then re-check the condition on the new row). Holds set units aside for a checkout:

- ``hold`` takes units for ``reference`` (an order) until a deadline;
- ``commit`` turns them into a sale when the order is paid (re-taking them if the hold had lapsed);
- ``release`` gives them back when the checkout goes away.

A hold past its deadline keeps counting in ``held`` until someone reclaims it, and every taker (``hold``,
``sell_now``, ``commit`` of a lapsed hold) reclaims the expired holds of the items it takes first, in the same
transaction: so an expired hold frees its units at the moment they are wanted, without waiting for a sweeper
(``sweep_expired`` tidies the rest in the background). Items are always taken in id order, so two multi-item
checkouts on PostgreSQL lock rows in the same order and cannot deadlock.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from o2o.errors import AppError
from o2o.kit import time as clock
from o2o.kit.ids import uuid7
from o2o.stores.models import StockHold, StockLevel

ACTIVE = "active"
COMMITTED = "committed"
RELEASED = "released"
EXPIRED = "expired"

DEFAULT_HOLD = dt.timedelta(minutes=10)
MAX_ON_HAND = 1_000_000


class OutOfStock(AppError):
    """Fewer units left than asked for. ``shortfall`` maps each short item to the units one can still buy."""

    def __init__(self, shortfall: Mapping[uuid.UUID, int]) -> None:
        items = ", ".join(f"{item_id} ({left} left)" for item_id, left in shortfall.items())
        super().__init__(
            "out_of_stock",
            409,
            f"Not enough stock for: {items}.",
            extra={"items": [{"item_id": str(i), "available": left} for i, left in shortfall.items()]},
        )
        self.shortfall = dict(shortfall)


@dataclass(frozen=True)
class Level:
    item_id: uuid.UUID
    on_hand: int
    held: int  # active holds not yet past their deadline
    available: int


def _now(now: dt.datetime | None) -> dt.datetime:
    return clock.now() if now is None else now


def _merge(quantities: Mapping[uuid.UUID, int] | Iterable[tuple[uuid.UUID, int]]) -> dict[uuid.UUID, int]:
    pairs = quantities.items() if isinstance(quantities, Mapping) else quantities
    merged: dict[uuid.UUID, int] = {}
    for item_id, quantity in pairs:
        if quantity <= 0:
            raise ValueError("stock quantities are positive")
        merged[item_id] = merged.get(item_id, 0) + quantity
    return dict(sorted(merged.items(), key=lambda kv: kv[0].bytes))


def _tracked(session: Session, item_ids: Iterable[uuid.UUID]) -> set[uuid.UUID]:
    ids = list(item_ids)
    if not ids:
        return set()
    return set(session.scalars(select(StockLevel.item_id).where(StockLevel.item_id.in_(ids))))


def _reclaim_expired(session: Session, item_ids: Iterable[uuid.UUID], now: dt.datetime) -> None:
    """Expire the lapsed holds of these items and give their units back. Each hold leaves ``active`` once (the
    conditional update), so two reclaimers never give the same units back twice."""
    ids = list(item_ids)
    if not ids:
        return
    rows = session.execute(
        update(StockHold)
        .where(StockHold.item_id.in_(ids), StockHold.status == ACTIVE, StockHold.expires_at <= now)
        .values(status=EXPIRED)
        .returning(StockHold.item_id, StockHold.quantity)
        .execution_options(synchronize_session=False)
    ).all()
    _unhold(session, rows, now)


def _unhold(session: Session, rows: Iterable[tuple[uuid.UUID, int]], now: dt.datetime) -> None:
    freed: dict[uuid.UUID, int] = {}
    for item_id, quantity in rows:
        freed[item_id] = freed.get(item_id, 0) + quantity
    for item_id, quantity in sorted(freed.items(), key=lambda kv: kv[0].bytes):
        session.execute(
            update(StockLevel)
            .where(StockLevel.item_id == item_id)
            .values(held=StockLevel.held - quantity, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def _take(session: Session, item_id: uuid.UUID, quantity: int, now: dt.datetime, *, hold: bool) -> bool:
    """Take ``quantity`` units if that many are free: into ``held`` (a hold) or out of ``on_hand`` (a sale)."""
    values = (
        {"held": StockLevel.held + quantity} if hold else {"on_hand": StockLevel.on_hand - quantity}
    )
    result = session.execute(
        update(StockLevel)
        .where(StockLevel.item_id == item_id, StockLevel.on_hand - StockLevel.held >= quantity)
        .values(updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _free_now(session: Session, item_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int]:
    found = levels(session, item_ids)
    return {item_id: found[item_id].available for item_id in item_ids if item_id in found}


def _take_all(
    session: Session, quantities: dict[uuid.UUID, int], now: dt.datetime, *, hold: bool
) -> set[uuid.UUID]:
    """Take every tracked item or none (a savepoint undoes a partial take). Returns the tracked items."""
    tracked = _tracked(session, quantities)
    if not tracked:
        return tracked
    try:
        with session.begin_nested():
            _reclaim_expired(session, tracked, now)
            short = [
                item_id
                for item_id, q in quantities.items()
                if item_id in tracked and not _take(session, item_id, q, now, hold=hold)
            ]
            if short:
                raise _Short(short)
    except _Short as failed:
        raise OutOfStock(_free_now(session, failed.items)) from None  # what a buyer could take now
    return tracked


class _Short(Exception):
    def __init__(self, items: list[uuid.UUID]) -> None:
        self.items = items


# ---------------------------------------------------------------------------------------------------- use cases


def hold(
    session: Session,
    *,
    city_id: uuid.UUID,
    store_id: uuid.UUID,
    reference: str,
    quantities: Mapping[uuid.UUID, int] | Iterable[tuple[uuid.UUID, int]],
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> dt.datetime:
    """Set units aside for ``reference`` until ``until`` (default: 10 minutes from now), all or nothing.

    Raises ``OutOfStock`` (409) and changes nothing when any tracked item has fewer free units. Untracked items
    need no hold. Returns the deadline."""
    now = _now(now)
    until = until or now + DEFAULT_HOLD
    merged = _merge(quantities)
    tracked = _take_all(session, merged, now, hold=True)
    for item_id, quantity in merged.items():
        if item_id in tracked:
            session.add(
                StockHold(
                    id=uuid7(), city_id=city_id, store_id=store_id, item_id=item_id, reference=reference,
                    quantity=quantity, status=ACTIVE, expires_at=until, created_at=now,
                )
            )
    session.flush()
    return until


def commit(session: Session, reference: str, quantities: Mapping[uuid.UUID, int], now: dt.datetime | None = None) -> None:
    """The checkout ``reference`` is paid: its held units are sold. Units whose hold lapsed (and was reclaimed,
    or released) are taken again if still free; if not, ``OutOfStock`` is raised and nothing is sold.

    ``quantities`` is what the order holds (item -> units), so a lapsed hold can be re-taken."""
    now = _now(now)
    merged = _merge(quantities)
    tracked = _tracked(session, merged)
    with session.begin_nested():
        claimed = session.execute(
            update(StockHold)
            .where(StockHold.reference == reference, StockHold.status == ACTIVE)
            .values(status=COMMITTED)
            .returning(StockHold.item_id, StockHold.quantity)
            .execution_options(synchronize_session=False)
        ).all()
        still_held: dict[uuid.UUID, int] = {}
        for item_id, quantity in claimed:
            still_held[item_id] = still_held.get(item_id, 0) + quantity
        for item_id, quantity in sorted(still_held.items(), key=lambda kv: kv[0].bytes):
            session.execute(
                update(StockLevel)
                .where(StockLevel.item_id == item_id)
                .values(on_hand=StockLevel.on_hand - quantity, held=StockLevel.held - quantity, updated_at=now)
                .execution_options(synchronize_session=False)
            )
        missing = {
            item_id: q - still_held.get(item_id, 0)
            for item_id, q in merged.items()
            if item_id in tracked and q > still_held.get(item_id, 0)
        }
        if missing:
            _take_all(session, missing, now, hold=False)  # raises OutOfStock, undoing this savepoint


def release(session: Session, reference: str, now: dt.datetime | None = None) -> int:
    """The checkout ``reference`` went away: its active holds give their units back. Returns the units freed."""
    now = _now(now)
    rows = session.execute(
        update(StockHold)
        .where(StockHold.reference == reference, StockHold.status == ACTIVE)
        .values(status=RELEASED)
        .returning(StockHold.item_id, StockHold.quantity)
        .execution_options(synchronize_session=False)
    ).all()
    _unhold(session, rows, now)
    return sum(q for _i, q in rows)


def sell_now(
    session: Session, quantities: Mapping[uuid.UUID, int] | Iterable[tuple[uuid.UUID, int]], now: dt.datetime | None = None
) -> None:
    """Sell units at once (the shop counter), all or nothing: ``OutOfStock`` when any is short."""
    _take_all(session, _merge(quantities), _now(now), hold=False)


def restock(
    session: Session, quantities: Mapping[uuid.UUID, int] | Iterable[tuple[uuid.UUID, int]], now: dt.datetime | None = None
) -> None:
    """Units come back to the shelf (a sale canceled before it was prepared). Untracked items are skipped."""
    now = _now(now)
    for item_id, quantity in _merge(quantities).items():
        session.execute(
            update(StockLevel)
            .where(StockLevel.item_id == item_id)
            .values(on_hand=StockLevel.on_hand + quantity, updated_at=now)
            .execution_options(synchronize_session=False)
        )


def set_on_hand(
    session: Session,
    *,
    city_id: uuid.UUID,
    store_id: uuid.UUID,
    item_id: uuid.UUID,
    on_hand: int | None,
    now: dt.datetime | None = None,
) -> Level | None:
    """The merchant counts the shelf: ``on_hand`` units not yet sold (held ones included), or None to stop
    tracking the item (unlimited). Refused (409 ``stock_below_held``) below the units checkouts hold now."""
    now = _now(now)
    if on_hand is None:
        session.execute(delete(StockLevel).where(StockLevel.item_id == item_id))
        session.execute(
            update(StockHold)
            .where(StockHold.item_id == item_id, StockHold.status == ACTIVE)
            .values(status=RELEASED)
            .execution_options(synchronize_session=False)
        )
        return None
    if not isinstance(on_hand, int) or isinstance(on_hand, bool) or not 0 <= on_hand <= MAX_ON_HAND:
        raise AppError("invalid_stock", 422, f"Stock is a whole number from 0 to {MAX_ON_HAND}.")
    _reclaim_expired(session, [item_id], now)
    moved = session.execute(
        update(StockLevel)
        .where(StockLevel.item_id == item_id, StockLevel.held <= on_hand)
        .values(on_hand=on_hand, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount == 0:
        existing = session.get(StockLevel, item_id, populate_existing=True)
        if existing is not None:
            raise AppError(
                "stock_below_held",
                409,
                f"{existing.held} units are held by checkouts in progress; stock cannot go below that.",
                extra={"held": existing.held},
            )
        session.add(
            StockLevel(item_id=item_id, store_id=store_id, city_id=city_id, on_hand=on_hand, held=0, updated_at=now)
        )
        session.flush()
    return levels(session, [item_id], now)[item_id]


def levels(session: Session, item_ids: Iterable[uuid.UUID], now: dt.datetime | None = None) -> dict[uuid.UUID, Level]:
    """The tracked items' stock as a buyer sees it now (lapsed holds count as free)."""
    now = _now(now)
    ids = list(item_ids)
    if not ids:
        return {}
    lapsed = (
        select(StockHold.item_id, func.sum(StockHold.quantity).label("units"))
        .where(StockHold.item_id.in_(ids), StockHold.status == ACTIVE, StockHold.expires_at <= now)
        .group_by(StockHold.item_id)
        .subquery()
    )
    rows = session.execute(
        select(StockLevel.item_id, StockLevel.on_hand, StockLevel.held, func.coalesce(lapsed.c.units, 0))
        .outerjoin(lapsed, lapsed.c.item_id == StockLevel.item_id)
        .where(StockLevel.item_id.in_(ids))
    ).all()
    out = {}
    for item_id, on_hand, held, lapsed_units in rows:
        live_held = held - int(lapsed_units)
        out[item_id] = Level(item_id, on_hand, live_held, max(on_hand - live_held, 0))
    return out


def available(session: Session, store_id: uuid.UUID, item_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, int | None]:
    """Units one can still buy, per item: None for an untracked (unlimited) item."""
    ids = list(item_ids)
    found = levels(session, ids)
    return {item_id: (found[item_id].available if item_id in found else None) for item_id in ids}


def sweep_expired(session: Session, now: dt.datetime | None = None, limit: int = 1000) -> int:
    """Reclaim lapsed holds in the background (takers reclaim what they need themselves). Idempotent."""
    now = _now(now)
    items = list(
        session.scalars(
            select(StockHold.item_id)
            .where(StockHold.status == ACTIVE, StockHold.expires_at <= now)
            .distinct()
            .limit(limit)
        )
    )
    _reclaim_expired(session, sorted(items, key=lambda i: i.bytes), now)
    return len(items)


def holds_of(session: Session, reference: str) -> list[StockHold]:
    return list(session.scalars(select(StockHold).where(StockHold.reference == reference).order_by(StockHold.item_id)))


__all__ = [
    "Level",
    "OutOfStock",
    "available",
    "commit",
    "hold",
    "holds_of",
    "levels",
    "release",
    "restock",
    "sell_now",
    "set_on_hand",
    "sweep_expired",
]
