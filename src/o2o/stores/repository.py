"""All SQL for stores and merchants."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from o2o.kit.pagination import paginate
from o2o.stores.models import Merchant, Store


def page_of_stores(
    session: Session,
    city_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
    district_id: uuid.UUID | None = None,
    category: str | None = None,
) -> tuple[Sequence[Store], str | None]:
    stmt = select(Store).where(Store.city_id == city_id)
    if district_id is not None:
        stmt = stmt.where(Store.district_id == district_id)
    if category is not None:
        stmt = stmt.where(Store.category == category)
    rows, next_cursor = paginate(session, stmt, Store.id, cursor=cursor, limit=limit, newest_first=False)
    return list(rows), next_cursor


def stores_in_cells(
    session: Session,
    city_id: uuid.UUID,
    cells: Sequence[str] | None,
    bbox: tuple[float, float, float, float] | None,
    *,
    district_id: uuid.UUID | None = None,
    category: str | None = None,
) -> Sequence[Store]:
    """Candidates for a "near" listing: stores in the given H3 cells, or else inside the bounding box."""
    stmt = select(Store).where(Store.city_id == city_id)
    if cells is not None:
        stmt = stmt.where(Store.h3_r9.in_(list(cells)))
    if bbox is not None:
        min_lat, min_lng, max_lat, max_lng = bbox
        stmt = stmt.where(Store.lat.between(min_lat, max_lat), Store.lng.between(min_lng, max_lng))
    if district_id is not None:
        stmt = stmt.where(Store.district_id == district_id)
    if category is not None:
        stmt = stmt.where(Store.category == category)
    return session.scalars(stmt).all()


def count_stores(session: Session, city_id: uuid.UUID) -> int:
    return session.scalar(select(func.count()).select_from(Store).where(Store.city_id == city_id)) or 0


def count_by_district(session: Session, city_id: uuid.UUID) -> dict[uuid.UUID | None, int]:
    rows = session.execute(
        select(Store.district_id, func.count()).where(Store.city_id == city_id).group_by(Store.district_id)
    ).all()
    return {district_id: count for district_id, count in rows}


def fingerprint(session: Session, city_id: uuid.UUID) -> tuple[int, uuid.UUID | None]:
    """Changes when stores are added to or removed from the city: (count, greatest id)."""
    count = count_stores(session, city_id)
    # Not max(id): PostgreSQL has no max() for uuid.
    last = session.scalar(select(Store.id).where(Store.city_id == city_id).order_by(Store.id.desc()).limit(1))
    return count, last


def map_points(session: Session, city_id: uuid.UUID) -> Sequence[Any]:
    return session.execute(
        select(Store.id, Store.name, Store.category, Store.lat, Store.lng, Store.district_id)
        .where(Store.city_id == city_id)
        .order_by(Store.id)
    ).all()


def opening_hours_texts(session: Session, city_id: uuid.UUID) -> Sequence[str]:
    return session.scalars(select(Store.opening_hours).where(Store.city_id == city_id)).all()


def best_rated(session: Session, city_id: uuid.UUID, limit: int) -> Sequence[Store]:
    return session.scalars(
        select(Store).where(Store.city_id == city_id).order_by(Store.rating.desc(), Store.id).limit(limit)
    ).all()


def city_of_store(session: Session, store_id: uuid.UUID) -> uuid.UUID | None:
    return session.scalar(select(Store.city_id).where(Store.id == store_id))


def names_of(session: Session, store_ids: list[uuid.UUID]) -> dict[uuid.UUID, str]:
    return {row.id: row.name for row in session.execute(select(Store.id, Store.name).where(Store.id.in_(store_ids)))}


def for_sale(session: Session, store_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """(store id, city id, store name, merchant's commission rate, city currency), or None."""
    from o2o.cities.models import City

    return session.execute(
        select(Store.id, Store.city_id, Store.name, Merchant.commission_rate_bp, City.currency)
        .join(Merchant, Merchant.id == Store.merchant_id)
        .join(City, City.id == Store.city_id)
        .where(Store.id == store_id)
    ).one_or_none()
