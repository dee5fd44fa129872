"""Cities API: the cities, their districts (GeoJSON), which district a point is in, and the city's stores."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query
from fastapi.responses import JSONResponse

from o2o.cities import service
from o2o.cities.schemas import CityDetail, CitySummary, DistrictCollection, Located
from o2o.errors import problem_responses
from o2o.http import DbSession, api_router
from o2o.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT, Page
from o2o.stores.models import CATEGORIES
from o2o.stores.schemas import Store
from o2o.stores.service import MAX_RADIUS_M

router = api_router(prefix="/api/cities", tags=["cities"])

CITY_NOT_FOUND = (404, "city_not_found")
INVALID = (422, "invalid_request")

Cursor = Annotated[str | None, Query(description="From the previous page's `next_cursor`", max_length=512)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")]


class GeoJSONResponse(JSONResponse):
    media_type = "application/geo+json"


@router.get(
    "",
    summary="List the cities",
    response_model=Page[CitySummary],
    responses=problem_responses((400, "invalid_cursor"), INVALID),
)
def list_cities(session: DbSession, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT) -> Page[CitySummary]:
    """Every city the platform runs in, oldest first."""
    return service.list_cities(session, cursor=cursor, limit=limit)


@router.get(
    "/{slug}",
    summary="A city: centre, time zone, currency, locale and its districts",
    response_model=CityDetail,
    responses=problem_responses(CITY_NOT_FOUND, INVALID),
)
def get_city(slug: str, session: DbSession) -> CityDetail:
    return service.city_detail(session, slug)


@router.get(
    "/{slug}/districts",
    summary="The city's districts as a GeoJSON FeatureCollection",
    response_model=DistrictCollection,
    response_class=GeoJSONResponse,
    responses=problem_responses(CITY_NOT_FOUND, INVALID),
)
def get_districts(slug: str, session: DbSession) -> DistrictCollection:
    """Boundaries are Polygons or MultiPolygons in [lng, lat] order (RFC 7946); `id` is the district's slug."""
    return service.districts_geojson(session, slug)


@router.get(
    "/{slug}/locate",
    summary="Which district a point is in",
    response_model=Located,
    responses=problem_responses(CITY_NOT_FOUND, (404, "outside_city"), INVALID),
)
def locate(
    slug: str,
    session: DbSession,
    lat: Annotated[float, Query(ge=-90, le=90, description="Latitude, WGS 84 degrees", examples=[39.9087])],
    lng: Annotated[
        float, Query(ge=-180, le=180, description="Longitude, WGS 84 degrees", examples=[116.3975])
    ],
) -> Located:
    """A point on a border between two districts belongs to the first of them by slug."""
    return service.locate(session, slug, lat, lng)


@router.get(
    "/{slug}/stores",
    summary="The city's stores, by district or nearest first",
    response_model=Page[Store],
    responses=problem_responses(
        (400, "invalid_cursor"),
        CITY_NOT_FOUND,
        (404, "district_not_found"),
        INVALID,
        (422, "invalid_near"),
        (422, "radius_without_near"),
        (422, "unknown_category"),
    ),
)
def list_stores(
    slug: str,
    session: DbSession,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    district: Annotated[str | None, Query(description="Only this district (its slug)", max_length=64)] = None,
    category: Annotated[
        str | None, Query(description="Only this category: " + ", ".join(CATEGORIES), max_length=32)
    ] = None,
    near: Annotated[
        str | None,
        Query(
            description="`lat,lng`: only stores within `radius_m`, nearest first",
            examples=["39.9147,116.4108"],
        ),
    ] = None,
    radius_m: Annotated[
        float | None,
        Query(gt=0, le=MAX_RADIUS_M, description="Radius around `near` in metres [default: 2000]"),
    ] = None,
) -> Page[Store]:
    """Without `near`, stores come in a stable order (by id). With `near`, they come nearest first, each with its
    `distance_m`; the search prefilters on a disk of H3 cells and then measures great-circle distances."""
    return service.list_city_stores(
        session,
        slug,
        cursor=cursor,
        limit=limit,
        district=district,
        category=category,
        near=near,
        radius_m=radius_m,
    )
