"""Store use cases: listings (by district, near a point), counts, what is open now."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from o2o.accounts.favourites import Target, register_favourite_target
from o2o.errors import AppError
from o2o.kit.geo import bounding_box, h3_cells_within, haversine_m
from o2o.kit.pagination import MAX_LIMIT, decode_cursor_key, encode_cursor
from o2o.kit.time import in_zone, now
from o2o.stores import hours as hours_mod
from o2o.stores import repository, schemas
from o2o.stores.models import CATEGORIES, Store

# Beyond this many H3 cells the ring prefilter costs more than it saves; a bounding box takes over.
MAX_PREFILTER_CELLS = 2000
MAX_RADIUS_M = 20_000
DEFAULT_RADIUS_M = 2_000


@dataclass(frozen=True)
class Near:
    lat: float
    lng: float
    radius_m: float


def check_category(category: str | None) -> None:
    if category is not None and category not in CATEGORIES:
        raise AppError(
            "unknown_category",
            422,
            f"category must be one of: {', '.join(CATEGORIES)}.",
        )


def list_stores(
    session: Session,
    city_id: uuid.UUID,
    timezone: str,
    *,
    cursor: str | None,
    limit: int,
    district_id: uuid.UUID | None = None,
    category: str | None = None,
    near: Near | None = None,
    district_slug: Callable[[uuid.UUID | None], str | None] = lambda _id: None,
) -> tuple[list[schemas.Store], str | None]:
    """A page of the city's stores: in id order, or by distance (then id) when ``near`` is given."""
    if not 1 <= limit <= MAX_LIMIT:
        raise AppError("invalid_limit", 400, f"limit must be between 1 and {MAX_LIMIT}.")
    check_category(category)
    local_now = in_zone(now(), timezone)
    if near is None:
        rows, next_cursor = repository.page_of_stores(
            session, city_id, cursor=cursor, limit=limit, district_id=district_id, category=category
        )
        return [to_schema(s, local_now, district_slug(s.district_id)) for s in rows], next_cursor
    return _near_page(session, city_id, local_now, near, cursor, limit, district_id, category, district_slug)


def _near_page(
    session: Session,
    city_id: uuid.UUID,
    local_now: dt.datetime,
    near: Near,
    cursor: str | None,
    limit: int,
    district_id: uuid.UUID | None,
    category: str | None,
    district_slug: Callable[[uuid.UUID | None], str | None],
) -> tuple[list[schemas.Store], str | None]:
    after: tuple[int, str] | None = None
    if cursor is not None:
        after_id, _desc, key = decode_cursor_key(cursor)
        if not key or len(key) != 1 or not isinstance(key[0], int):
            raise AppError("invalid_cursor", 400, "The cursor belongs to a listing in another order.")
        after = (key[0], after_id.hex)
    cells = h3_cells_within(near.lat, near.lng, near.radius_m)
    if len(cells) > MAX_PREFILTER_CELLS:
        candidates = repository.stores_in_cells(
            session,
            city_id,
            None,
            bounding_box(near.lat, near.lng, near.radius_m),
            district_id=district_id,
            category=category,
        )
    else:
        candidates = repository.stores_in_cells(
            session, city_id, cells, None, district_id=district_id, category=category
        )
    scored: list[tuple[int, str, float, Store]] = []
    for store in candidates:
        distance = haversine_m((near.lat, near.lng), (store.lat, store.lng))
        if distance <= near.radius_m:
            # Sort on whole millimetres so the cursor's key is exact whatever the float rounding.
            scored.append((round(distance * 1000), store.id.hex, distance, store))
    scored.sort(key=lambda t: (t[0], t[1]))
    if after is not None:
        scored = [t for t in scored if (t[0], t[1]) > after]
    page = scored[:limit]
    next_cursor = None
    if len(scored) > limit:
        last = page[-1]
        next_cursor = encode_cursor(last[3].id, False, key=[last[0]])
    items = [
        to_schema(store, local_now, district_slug(store.district_id), distance=round(distance, 1))
        for _mm, _hex, distance, store in page
    ]
    return items, next_cursor


def to_schema(
    store: Store, local_now: dt.datetime, district: str | None, *, distance: float | None = None
) -> schemas.Store:
    hours = hours_mod.parse_hours(store.opening_hours)
    return schemas.Store(
        id=store.id,
        merchant_id=store.merchant_id,
        name=store.name,
        category=store.category,
        district=district,
        lat=store.lat,
        lng=store.lng,
        address=store.address,
        phone=store.phone,
        opening_hours=hours.as_dict(),
        open_now=hours_mod.is_open(hours, local_now),
        prep_minutes=store.prep_minutes,
        rating=store.rating,
        distance_m=distance,
    )


def count_stores(session: Session, city_id: uuid.UUID) -> int:
    return repository.count_stores(session, city_id)


def count_by_district(session: Session, city_id: uuid.UUID) -> dict[uuid.UUID | None, int]:
    return repository.count_by_district(session, city_id)


def count_open_now(session: Session, city_id: uuid.UUID, timezone: str, at: dt.datetime | None = None) -> int:
    local = in_zone(at or now(), timezone)
    return sum(
        1 for text in repository.opening_hours_texts(session, city_id) if hours_mod.is_open(text, local)
    )


def fingerprint(session: Session, city_id: uuid.UUID) -> tuple[int, uuid.UUID | None]:
    return repository.fingerprint(session, city_id)


def map_points(session: Session, city_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """(id, name, category, lat, lng, district_id) of every store, in id order, for drawing the city."""
    return repository.map_points(session, city_id)


def top_open_now(
    session: Session, city_id: uuid.UUID, timezone: str, *, at: dt.datetime | None = None, limit: int = 8
) -> list[schemas.Store]:
    """The best-rated stores open at this moment (the landing page's "open now" list)."""
    local = in_zone(at or now(), timezone)
    found = []
    for store in repository.best_rated(session, city_id, limit=max(limit * 25, 100)):
        if hours_mod.is_open(store.opening_hours, local):
            found.append(to_schema(store, local, None))
            if len(found) == limit:
                break
    return found


def _describe_stores(session: Session, store_ids: list[uuid.UUID]) -> dict[uuid.UUID, Target]:
    return {store_id: Target(title=name) for store_id, name in repository.names_of(session, store_ids).items()}


# People save stores as favourites; a store role grant is checked against the store's city through this too.
register_favourite_target("store", repository.city_of_store, describe=_describe_stores)


@dataclass(frozen=True)
class StoreForSale:
    """What the wallet needs to sell on a store's behalf."""

    store_id: uuid.UUID
    city_id: uuid.UUID
    name: str
    commission_rate_bp: int
    currency: str


def store_for_sale(session: Session, store_id: uuid.UUID) -> StoreForSale | None:
    row = repository.for_sale(session, store_id)
    return None if row is None else StoreForSale(*row)
