"""City use cases: look cities up, describe their districts, place a point, list the city's stores."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import uuid
from dataclasses import dataclass

from shapely.geometry.base import BaseGeometry
from sqlalchemy.orm import Session

from o2o.cities import repository
from o2o.cities.citymap import CityMap, DistrictInput, StoreInput, build_city_map
from o2o.cities.models import City, District
from o2o.cities.schemas import (
    CityDetail,
    CitySummary,
    DistrictCollection,
    DistrictFeature,
    DistrictProperties,
    DistrictRef,
    DistrictSummary,
    LatLng,
    Located,
)
from o2o.errors import AppError
from o2o.kit.geo import PolygonIndex, polygon_from_geojson
from o2o.kit.pagination import Page
from o2o.kit.time import in_zone, now
from o2o.stores import service as stores_service
from o2o.stores.schemas import Store as StoreOut


def city_not_found(slug: str) -> AppError:
    return AppError("city_not_found", 404, f"There is no city {slug!r}.")


def get_city(session: Session, slug: str) -> City:
    city = repository.by_slug(session, slug)
    if city is None:
        raise city_not_found(slug)
    return city


def summary(city: City) -> CitySummary:
    return CitySummary(
        slug=city.slug,
        name=city.name,
        country_code=city.country_code,
        timezone=city.timezone,
        currency=city.currency,
        locale=city.locale,
        center=LatLng(lat=city.center_lat, lng=city.center_lng),
    )


def list_cities(session: Session, *, cursor: str | None, limit: int) -> Page[CitySummary]:
    rows, next_cursor = repository.page_of_cities(session, cursor=cursor, limit=limit)
    return Page[CitySummary](items=[summary(c) for c in rows], next_cursor=next_cursor)


def district_summaries(
    session: Session, city: City, store_counts: dict[uuid.UUID | None, int]
) -> list[DistrictSummary]:
    return [
        DistrictSummary(
            slug=d.slug,
            name=d.name,
            center=LatLng(lat=d.center_lat, lng=d.center_lng),
            store_count=store_counts.get(d.id, 0),
        )
        for d in repository.districts_of(session, city.id)
    ]


def city_detail(session: Session, slug: str) -> CityDetail:
    city = get_city(session, slug)
    counts = stores_service.count_by_district(session, city.id)
    districts = district_summaries(session, city, counts)
    return CityDetail(**summary(city).model_dump(), store_count=sum(counts.values()), districts=districts)


def districts_geojson(session: Session, slug: str) -> DistrictCollection:
    city = get_city(session, slug)
    return DistrictCollection(
        features=[
            DistrictFeature(
                id=d.slug,
                geometry=json.loads(d.boundary_geojson),
                properties=DistrictProperties(
                    slug=d.slug, name=d.name, center=LatLng(lat=d.center_lat, lng=d.center_lng)
                ),
            )
            for d in repository.districts_of(session, city.id)
        ]
    )


@functools.lru_cache(maxsize=256)
def _index(boundary_geojson: str) -> PolygonIndex:
    return PolygonIndex(polygon_from_geojson(json.loads(boundary_geojson)))


def district_geometry(district: District) -> BaseGeometry:
    return _index(district.boundary_geojson).polygon


def district_at(districts: list[District] | tuple[District, ...], lat: float, lng: float) -> District | None:
    """The district holding the point (on a shared border, the first by slug), or None."""
    for district in sorted(districts, key=lambda d: d.slug):
        if _index(district.boundary_geojson).covers(lat, lng):
            return district
    return None


def locate(session: Session, slug: str, lat: float, lng: float) -> Located:
    city = get_city(session, slug)
    district = district_at(list(repository.districts_of(session, city.id)), lat, lng)
    if district is None:
        raise AppError("outside_city", 404, f"({lat}, {lng}) is in none of {city.name}'s districts.")
    return Located(
        city=city.slug,
        point=LatLng(lat=lat, lng=lng),
        district=DistrictRef(slug=district.slug, name=district.name),
    )


def parse_near(text: str) -> tuple[float, float]:
    """``"39.9087,116.3975"`` -> (lat, lng); anything else is ``invalid_near``."""
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        lat, lng = float(parts[0]), float(parts[1])
    except ValueError:
        raise AppError(
            "invalid_near", 422, "near must be 'lat,lng' in decimal degrees, e.g. 39.9087,116.3975."
        ) from None
    if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
        raise AppError(
            "invalid_near", 422, "near is not on Earth: latitude is -90..90 and longitude -180..180."
        )
    return lat, lng


def list_city_stores(
    session: Session,
    slug: str,
    *,
    cursor: str | None,
    limit: int,
    district: str | None = None,
    category: str | None = None,
    near: str | None = None,
    radius_m: float | None = None,
) -> Page[StoreOut]:
    city = get_city(session, slug)
    districts = list(repository.districts_of(session, city.id))
    slugs = {d.id: d.slug for d in districts}
    district_id = None
    if district is not None:
        match = next((d for d in districts if d.slug == district), None)
        if match is None:
            raise AppError("district_not_found", 404, f"{city.name} has no district {district!r}.")
        district_id = match.id
    near_spec = None
    if near is not None:
        lat, lng = parse_near(near)
        near_spec = stores_service.Near(
            lat, lng, radius_m if radius_m is not None else stores_service.DEFAULT_RADIUS_M
        )
    elif radius_m is not None:
        raise AppError("radius_without_near", 422, "radius_m needs near=lat,lng.")
    items, next_cursor = stores_service.list_stores(
        session,
        city.id,
        city.timezone,
        cursor=cursor,
        limit=limit,
        district_id=district_id,
        category=category,
        near=near_spec,
        district_slug=slugs.get,
    )
    return Page[StoreOut](items=items, next_cursor=next_cursor)


# ------------------------------------------------------------------------------------------------------------
# The landing page's figures and map


@dataclass(frozen=True)
class Overview:
    city: City
    cities: list[City]
    districts: list[DistrictSummary]
    store_count: int
    people_count: int
    open_now: int
    local_time: dt.datetime
    map_key: tuple[uuid.UUID, int, uuid.UUID | None]


def overview(session: Session, slug: str | None = None) -> Overview | None:
    """What the landing page shows about a city (the first one when no slug is given); None if no city."""
    cities = list(repository.all_cities(session))
    if not cities:
        return None
    city = get_city(session, slug) if slug else cities[0]
    counts = stores_service.count_by_district(session, city.id)
    districts = district_summaries(session, city, counts)
    count, last_id = stores_service.fingerprint(session, city.id)
    moment = now()
    return Overview(
        city=city,
        cities=cities,
        districts=districts,
        store_count=count,
        people_count=count_people(session, city.id),
        open_now=stores_service.count_open_now(session, city.id, city.timezone, moment),
        local_time=in_zone(moment, city.timezone),
        map_key=(city.id, count, last_id),
    )


def city_map(session: Session, city: City, width: float = 800.0) -> CityMap | None:
    """The city's districts and stores laid out for drawing; None when it has no districts yet."""
    districts = list(repository.districts_of(session, city.id))
    if not districts:
        return None
    counts = stores_service.count_by_district(session, city.id)
    shapes = [DistrictInput(d.slug, d.name, district_geometry(d), counts.get(d.id, 0)) for d in districts]
    points = [
        StoreInput(name=row.name, category=row.category, lat=row.lat, lng=row.lng)
        for row in stores_service.map_points(session, city.id)
    ]
    return build_city_map(shapes, points, width=width)


def count_people(session: Session, city_id: uuid.UUID) -> int:
    """People whose home city this is."""
    from o2o.accounts import service as accounts  # accounts asks cities for time zones: import late

    return accounts.count_people(session, city_id)


# A city's time zone never changes once the city exists, so other domains may ask often and cheaply.
_timezones: dict[uuid.UUID, str] = {}


def city_timezone(session: Session, city_id: uuid.UUID) -> str | None:
    """The city's IANA time zone, or None when there is no such city."""
    tz = _timezones.get(city_id)
    if tz is None:
        tz = repository.timezone_of(session, city_id)
        if tz is not None:
            _timezones[city_id] = tz
    return tz


def city_exists(session: Session, city_id: uuid.UUID) -> bool:
    return repository.timezone_of(session, city_id) is not None  # not cached: a city can be deleted
