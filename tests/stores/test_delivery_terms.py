"""stores.delivery_terms: where a store delivers, what delivery costs, and which drawn areas are accepted (pure)."""

from __future__ import annotations

import json
import math
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from o2o.kit.geo import haversine_m
from o2o.stores.delivery_terms import (
    MAX_AREA_POINTS,
    DeliveryTerms,
    InvalidArea,
    StoreOutsideArea,
    area_from_text,
    area_to_geojson,
    area_to_text,
    city_bounds,
    fee_for,
    parse_area,
)

STORE = (39.9147, 116.4108)  # Wangfujing
CITY = city_bounds((39.9042, 116.4074))


def terms(**changes: object) -> DeliveryTerms:
    values: dict[str, object] = dict(
        store_id=uuid.uuid4(), city_id=uuid.uuid4(), lat=STORE[0], lng=STORE[1], radius_m=3000, area=None,
        min_order=2000, packaging_fee=100, base_fee=300, base_m=3000, per_km_fee=100, accepting_orders=True,
        prep_minutes=15, opening_hours="{}", timezone="Asia/Shanghai", currency="CNY",
    )
    values.update(changes)
    return DeliveryTerms(**values)  # type: ignore[arg-type]


def square(lat: float, lng: float, half_deg: float) -> dict:
    ring = [[lng - half_deg, lat - half_deg], [lng + half_deg, lat - half_deg], [lng + half_deg, lat + half_deg],
            [lng - half_deg, lat + half_deg], [lng - half_deg, lat - half_deg]]
    return {"type": "Polygon", "coordinates": [ring]}


def north_of(metres: float) -> tuple[float, float]:
    return STORE[0] + math.degrees(metres / 6_371_008.8), STORE[1]


def test_the_radius_covers_up_to_its_edge() -> None:
    t = terms()
    assert t.covers(*STORE)
    assert t.covers(*north_of(2999))
    assert not t.covers(*north_of(3001))
    assert t.distance_m(*north_of(1000)) == pytest.approx(1000, abs=0.01)
    assert not t.covers(float("nan"), 116.4)


def test_a_drawn_area_wins_over_the_radius() -> None:
    area = parse_area(square(*STORE, 0.01), bounds=CITY, store_at=STORE)  # ~1.1 km each way
    t = terms(area=area, radius_m=20_000)
    assert t.covers(*north_of(1000))
    assert not t.covers(*north_of(1500))  # inside the radius, outside the area
    edge_lat = STORE[0] + 0.01
    assert t.covers(edge_lat, STORE[1])  # on the edge counts as inside


@pytest.mark.parametrize(
    ("distance", "fee"),
    [(0, 300), (2999.9, 300), (3000, 300), (3000.1, 400), (4000, 400), (4000.5, 500), (9500, 1000)],
)
def test_the_fee_is_the_base_plus_every_started_km(distance: float, fee: int) -> None:
    assert terms().delivery_fee(distance) == fee
    assert fee_for(300, 3000, 100, distance) == fee


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 2000), st.integers(0, 10_000), st.integers(0, 1000),
    st.floats(0, 30_000, allow_nan=False), st.floats(0, 30_000, allow_nan=False),
)
def test_property_fees_never_fall_with_distance_and_start_at_the_base(
    base_fee: int, base_m: int, per_km: int, a: float, b: float
) -> None:
    t = terms(base_fee=base_fee, base_m=base_m, per_km_fee=per_km)
    near, far = sorted((a, b))
    assert base_fee <= t.delivery_fee(near) <= t.delivery_fee(far)
    assert t.delivery_fee(far) - t.delivery_fee(near) <= per_km * (math.ceil((far - near) / 1000) + 1)


def test_an_accepted_area_round_trips_as_text() -> None:
    area = parse_area(json.dumps(square(*STORE, 0.02)), bounds=CITY, store_at=STORE)
    text = area_to_text(area)
    assert area_from_text(text).equals(area)
    assert area_to_geojson(area)["type"] == "Polygon"
    assert area_from_text(None) is None and area_from_text("") is None
    feature = {"type": "Feature", "properties": {}, "geometry": square(*STORE, 0.02)}
    assert parse_area(feature, bounds=CITY).equals(area)


def _ring(points: list[list[float]]) -> dict:
    return {"type": "Polygon", "coordinates": [points]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "not JSON"),
        ([1, 2], "GeoJSON Polygon object"),
        ({"type": "Point", "coordinates": [116.4, 39.9]}, "not 'Point'"),
        ({"type": "MultiPolygon", "coordinates": []}, "not 'MultiPolygon'"),
        ({"type": "Feature", "geometry": None}, "not None"),
        ({"type": "Polygon"}, "list of rings"),
        ({"type": "Polygon", "coordinates": [[[116.40, 39.90], [116.42, 39.90], [116.42, 39.92], [116.40, 39.90]],
                                             [[116.41, 39.905], [116.412, 39.905], [116.412, 39.907], [116.41, 39.905]]]},
         "no holes"),
        (_ring([[116.40, 39.90], [116.42, 39.90], [116.40, 39.90]]), "at least 4 points"),
        (_ring([[116.40, 39.90], [116.42, 39.90], [116.42, 39.92], [116.40, 39.92]]), "end where it starts"),
        (_ring([[116.40, 39.90], [116.42, 39.92], [116.42, 39.90], [116.40, 39.92], [116.40, 39.90]]), "crosses itself"),
        (_ring([[116.40, 39.90], [116.41, 39.90], [116.42, 39.90], [116.40, 39.90]]), "crosses itself or encloses"),
        (_ring([["116.40", 39.90], [116.42, 39.90], [116.42, 39.92], ["116.40", 39.90]]), "point 1"),
        (_ring([[116.40, 39.90], [116.42, 39.90], [116.42, 99.0], [116.40, 39.90]]), "point 3"),
        (_ring([[116.40, 39.90], [116.42, 39.90], [116.42, 39.92], [True, 39.90]]), "point 4"),
        (square(31.23, 121.47, 0.01), "outside the city"),  # Shanghai, in a Beijing store's settings
    ],
)
def test_refused_areas_say_why(value: object, message: str) -> None:
    with pytest.raises(InvalidArea, match=message):
        parse_area(value, bounds=CITY)  # type: ignore[arg-type]


def test_at_most_200_points() -> None:
    def circle(n: int) -> dict:
        points = [[STORE[1] + 0.01 * math.cos(2 * math.pi * i / n), STORE[0] + 0.01 * math.sin(2 * math.pi * i / n)]
                  for i in range(n)]
        return _ring([*points, points[0]])

    assert parse_area(circle(MAX_AREA_POINTS - 1), bounds=CITY)
    with pytest.raises(InvalidArea, match="at most 200"):
        parse_area(circle(MAX_AREA_POINTS), bounds=CITY)


def test_the_area_must_hold_the_store() -> None:
    elsewhere = square(STORE[0] + 0.05, STORE[1], 0.01)
    with pytest.raises(StoreOutsideArea):
        parse_area(elsewhere, bounds=CITY, store_at=STORE)
    assert parse_area(elsewhere, bounds=CITY)  # fine as a shape


def test_city_bounds_from_districts_reach_a_margin_beyond() -> None:
    districts = [box(116.3, 39.8, 116.5, 40.0)]
    bounds = city_bounds((39.9, 116.4), districts)
    min_lng, min_lat, max_lng, max_lat = bounds.bounds
    assert haversine_m((40.0, 116.4), (max_lat, 116.4)) == pytest.approx(10_000, rel=0.01)
    assert min_lng < 116.3 and max_lng > 116.5 and min_lat < 39.8
    without = city_bounds((39.9, 116.4)).bounds
    assert haversine_m((39.9, 116.4), (without[3], 116.4)) == pytest.approx(60_000, rel=0.01)
