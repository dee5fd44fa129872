"""All SQL for stores and merchants."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from o2o.kit.pagination import paginate
from o2o.stores.models import MenuCategory, MenuItem, MenuOption, MenuOptionGroup, Merchant, Store


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


# --------------------------------------------------------------------------------------------------------------
# The catalogue (stores/catalogue.py). Reads of a store's menu come in a fixed handful of queries whatever its size.


def store_with_city(session: Session, store_id: uuid.UUID):  # type: ignore[no-untyped-def]
    """(Store, currency, timezone, district_slug, center_lat, center_lng) of the store and its city, or None. The
    city's columns come with the store, as ``for_sale`` does, so a menu or its terms load in one round trip."""
    from o2o.cities.models import City, District

    return session.execute(
        select(
            Store,
            City.currency,
            City.timezone,
            District.slug.label("district_slug"),
            City.center_lat,
            City.center_lng,
        )
        .join(City, City.id == Store.city_id)
        .outerjoin(District, District.id == Store.district_id)
        .where(Store.id == store_id)
        .execution_options(populate_existing=True)  # the catalogue version moves by a Core UPDATE
    ).one_or_none()


def district_boundaries(session: Session, city_id: uuid.UUID) -> Sequence[str]:
    """The GeoJSON text of the city's districts (the bounds a drawn delivery area must stay inside)."""
    from o2o.cities.models import District

    return session.scalars(select(District.boundary_geojson).where(District.city_id == city_id)).all()


def bump_catalogue_version(session: Session, store_id: uuid.UUID) -> int:
    """Take the store's catalogue for this transaction (see ``Store.catalogue_version``); 0 if no such store."""
    result = session.execute(
        update(Store)
        .where(Store.id == store_id)
        .values(catalogue_version=Store.catalogue_version + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def _fresh(stmt):  # type: ignore[no-untyped-def]
    # Positions move by bulk updates, which leave loaded objects as they were: reads always refresh them.
    return stmt.execution_options(populate_existing=True)


def categories_of(session: Session, store_id: uuid.UUID, *, include_archived: bool = False) -> Sequence[MenuCategory]:
    stmt = select(MenuCategory).where(MenuCategory.store_id == store_id)
    if not include_archived:
        stmt = stmt.where(MenuCategory.archived.is_(False))
    return session.scalars(_fresh(stmt.order_by(MenuCategory.position, MenuCategory.id))).all()


def items_of(session: Session, store_id: uuid.UUID, *, include_archived: bool = False) -> Sequence[MenuItem]:
    stmt = select(MenuItem).where(MenuItem.store_id == store_id)
    if not include_archived:
        stmt = stmt.where(MenuItem.archived.is_(False))
    return session.scalars(_fresh(stmt.order_by(MenuItem.position, MenuItem.id))).all()


def groups_of_store(
    session: Session, store_id: uuid.UUID, *, include_archived: bool = False
) -> Sequence[MenuOptionGroup]:
    stmt = select(MenuOptionGroup).join(MenuItem, MenuItem.id == MenuOptionGroup.item_id).where(
        MenuItem.store_id == store_id
    )
    if not include_archived:
        stmt = stmt.where(MenuItem.archived.is_(False))
    return session.scalars(_fresh(stmt.order_by(MenuOptionGroup.position, MenuOptionGroup.id))).all()


def options_of_store(session: Session, store_id: uuid.UUID, *, include_archived: bool = False) -> Sequence[MenuOption]:
    stmt = (
        select(MenuOption)
        .join(MenuOptionGroup, MenuOptionGroup.id == MenuOption.group_id)
        .join(MenuItem, MenuItem.id == MenuOptionGroup.item_id)
        .where(MenuItem.store_id == store_id)
    )
    if not include_archived:
        stmt = stmt.where(MenuItem.archived.is_(False))
    return session.scalars(_fresh(stmt.order_by(MenuOption.position, MenuOption.id))).all()


def live_category(session: Session, store_id: uuid.UUID, category_id: uuid.UUID) -> MenuCategory | None:
    return session.scalars(
        _fresh(
            select(MenuCategory).where(
                MenuCategory.id == category_id, MenuCategory.store_id == store_id, MenuCategory.archived.is_(False)
            )
        )
    ).one_or_none()


def live_item(session: Session, store_id: uuid.UUID, item_id: uuid.UUID) -> MenuItem | None:
    return session.scalars(
        _fresh(select(MenuItem).where(MenuItem.id == item_id, MenuItem.store_id == store_id, MenuItem.archived.is_(False)))
    ).one_or_none()


def group_of_store(session: Session, store_id: uuid.UUID, group_id: uuid.UUID) -> tuple[MenuOptionGroup, MenuItem] | None:
    row = session.execute(
        _fresh(
            select(MenuOptionGroup, MenuItem)
            .join(MenuItem, MenuItem.id == MenuOptionGroup.item_id)
            .where(MenuOptionGroup.id == group_id, MenuItem.store_id == store_id, MenuItem.archived.is_(False))
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def option_of_store(
    session: Session, store_id: uuid.UUID, option_id: uuid.UUID
) -> tuple[MenuOption, MenuOptionGroup, MenuItem] | None:
    row = session.execute(
        _fresh(
            select(MenuOption, MenuOptionGroup, MenuItem)
            .join(MenuOptionGroup, MenuOptionGroup.id == MenuOption.group_id)
            .join(MenuItem, MenuItem.id == MenuOptionGroup.item_id)
            .where(MenuOption.id == option_id, MenuItem.store_id == store_id, MenuItem.archived.is_(False))
        )
    ).one_or_none()
    return None if row is None else (row[0], row[1], row[2])


def groups_with_options(session: Session, item_id: uuid.UUID) -> list[tuple[MenuOptionGroup, list[MenuOption]]]:
    """An item's option groups, each with its options, in order (two queries)."""
    groups = session.scalars(
        _fresh(select(MenuOptionGroup).where(MenuOptionGroup.item_id == item_id).order_by(MenuOptionGroup.position, MenuOptionGroup.id))
    ).all()
    options = session.scalars(
        _fresh(
            select(MenuOption)
            .where(MenuOption.group_id.in_([g.id for g in groups]))
            .order_by(MenuOption.position, MenuOption.id)
        )
    ).all() if groups else []
    by_group: dict[uuid.UUID, list[MenuOption]] = {g.id: [] for g in groups}
    for option in options:
        by_group[option.group_id].append(option)
    return [(g, by_group[g.id]) for g in groups]


def category_names(session: Session, store_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = session.execute(
        select(MenuCategory.id, MenuCategory.name).where(
            MenuCategory.store_id == store_id, MenuCategory.archived.is_(False)
        )
    )
    return {row.id: row.name for row in rows}


def item_names(session: Session, store_id: uuid.UUID, category_id: uuid.UUID) -> dict[uuid.UUID, str]:
    rows = session.execute(
        select(MenuItem.id, MenuItem.name).where(
            MenuItem.store_id == store_id, MenuItem.category_id == category_id, MenuItem.archived.is_(False)
        )
    )
    return {row.id: row.name for row in rows}


def count_live_items(session: Session, store_id: uuid.UUID, category_id: uuid.UUID | None = None) -> int:
    stmt = select(func.count()).select_from(MenuItem).where(MenuItem.store_id == store_id, MenuItem.archived.is_(False))
    if category_id is not None:
        stmt = stmt.where(MenuItem.category_id == category_id)
    return session.scalar(stmt) or 0


def next_position(session: Session, column: Any, *where: Any) -> int:
    """One past the greatest position among the rows ``where`` selects (0 for the first)."""
    greatest = session.scalar(select(func.max(column)).where(*where))
    return 0 if greatest is None else greatest + 1


def set_positions(session: Session, model: Any, ordered_ids: Sequence[uuid.UUID]) -> None:
    """Number the rows 0, 1, 2 ... in the given order (one executemany, by primary key)."""
    if ordered_ids:
        session.execute(update(model), [{"id": row_id, "position": index} for index, row_id in enumerate(ordered_ids)])


def store_of_update(session: Session, store_id: uuid.UUID) -> Store | None:
    return session.scalars(_fresh(select(Store).where(Store.id == store_id))).one_or_none()
