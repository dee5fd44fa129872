"""All SQL for cities and districts."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from o2o.cities.models import City, District
from o2o.kit.pagination import paginate


def by_slug(session: Session, slug: str) -> City | None:
    return session.scalar(select(City).where(City.slug == slug))


def first_city(session: Session) -> City | None:
    return session.scalar(select(City).order_by(City.id).limit(1))


def all_cities(session: Session) -> Sequence[City]:
    return session.scalars(select(City).order_by(City.id)).all()


def page_of_cities(session: Session, *, cursor: str | None, limit: int) -> tuple[Sequence[City], str | None]:
    return paginate(session, select(City), City.id, cursor=cursor, limit=limit, newest_first=False)


def districts_of(session: Session, city_id: uuid.UUID) -> Sequence[District]:
    return session.scalars(select(District).where(District.city_id == city_id).order_by(District.slug)).all()


def district_by_slug(session: Session, city_id: uuid.UUID, slug: str) -> District | None:
    return session.scalar(select(District).where(District.city_id == city_id, District.slug == slug))


def timezone_of(session: Session, city_id: uuid.UUID) -> str | None:
    return session.scalar(select(City.timezone).where(City.id == city_id))
