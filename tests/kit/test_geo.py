"""kit.geo: distances, polygons, H3 cells and the SVG projection (pure, no database)."""

from __future__ import annotations

import math

import h3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2o.kit.geo import (
    EARTH_RADIUS_M,
    PolygonIndex,
    Projection,
    bounding_box,
    h3_cell,
    h3_cells_within,
    h3_disk,
    haversine_m,
    point_in_polygon,
    polygon_from_geojson,
    polygon_from_latlngs,
    validate_latlng,
)

TIANANMEN = (39.9087, 116.3975)
BEIJING_WEST = (39.8949, 116.3222)  # Beijing West railway station


def _law_of_cosines(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    c = math.sin(lat1) * math.sin(lat2) + math.cos(lat1) * math.cos(lat2) * math.cos(lng2 - lng1)
    return EARTH_RADIUS_M * math.acos(min(1.0, c))


def test_haversine_textbook_case() -> None:
    # Nashville to Los Angeles: 2887.2599506 km on a sphere of radius 6372.8 km (the classic worked example).
    d = haversine_m((36.12, -86.67), (33.94, -118.40))
    assert d * 6_372_800 / EARTH_RADIUS_M == pytest.approx(2_887_259.9506, abs=0.01)


def test_haversine_tiananmen_to_beijing_west() -> None:
    d = haversine_m(TIANANMEN, BEIJING_WEST)
    assert d == pytest.approx(_law_of_cosines(TIANANMEN, BEIJING_WEST), abs=0.5)
    assert 6_550 < d < 6_650  # about 6.6 km as the crow flies
    assert haversine_m(BEIJING_WEST, TIANANMEN) == d
    assert haversine_m(TIANANMEN, TIANANMEN) == 0.0


def test_haversine_antipodes_and_quarter() -> None:
    assert haversine_m((0, 0), (0, 180)) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert haversine_m((0, 0), (90, 0)) == pytest.approx(math.pi / 2 * EARTH_RADIUS_M)


def test_validate_latlng() -> None:
    validate_latlng(90, 180)
    for lat, lng in ((91, 0), (0, 181), (-90.01, 0), (float("nan"), 0)):
        with pytest.raises(ValueError):
            validate_latlng(lat, lng)


SQUARE = [(39.90, 116.30), (39.90, 116.40), (40.00, 116.40), (40.00, 116.30)]
HOLE = [(39.94, 116.34), (39.94, 116.36), (39.96, 116.36), (39.96, 116.34)]


def test_point_in_polygon_inside_outside_border_and_hole() -> None:
    poly = polygon_from_latlngs(SQUARE, holes=[HOLE])
    assert point_in_polygon(39.92, 116.32, poly)
    assert not point_in_polygon(39.89, 116.32, poly)  # south of it
    assert point_in_polygon(39.90, 116.35, poly)  # on the southern edge
    assert point_in_polygon(40.00, 116.40, poly)  # on a corner
    assert not point_in_polygon(39.95, 116.35, poly)  # in the hole
    assert point_in_polygon(39.94, 116.35, poly)  # on the hole's edge: still the polygon's border
    index = PolygonIndex(poly)
    for lat, lng in ((39.92, 116.32), (39.89, 116.32), (39.90, 116.35), (39.95, 116.35), (39.94, 116.35)):
        assert index.covers(lat, lng) == point_in_polygon(lat, lng, poly)


def test_invalid_polygons_are_refused() -> None:
    with pytest.raises(ValueError):
        polygon_from_latlngs([(0, 0), (1, 1), (0, 1), (1, 0)])  # a bow tie crosses itself
    with pytest.raises(ValueError):
        polygon_from_geojson({"type": "Point", "coordinates": [116.4, 39.9]})
    geo = polygon_from_geojson(
        {"type": "Polygon", "coordinates": [[[116.3, 39.9], [116.4, 39.9], [116.4, 40.0], [116.3, 39.9]]]}
    )
    assert geo.geom_type == "Polygon"


def test_h3_cell_and_disk() -> None:
    cell = h3_cell(*TIANANMEN)
    assert h3.is_valid_cell(cell) and h3.get_resolution(cell) == 9
    assert cell == h3.latlng_to_cell(*TIANANMEN, 9)
    assert h3_cell(*TIANANMEN, resolution=7) == h3.cell_to_parent(cell, 7)
    disk1, disk2 = h3_disk(cell, 1), h3_disk(cell, 2)
    assert len(disk1) == 7 and len(disk2) == 19
    assert cell in disk1 and set(disk1) < set(disk2)


@settings(max_examples=200, deadline=None)
@given(
    bearing=st.floats(0, 2 * math.pi),
    fraction=st.floats(0, 1),
    radius=st.floats(10, 3_000),
    lat=st.floats(39.7, 40.1),
    lng=st.floats(116.1, 116.7),
)
def test_h3_cells_within_hold_every_point_of_the_circle(
    bearing: float, fraction: float, radius: float, lat: float, lng: float
) -> None:
    cells = set(h3_cells_within(lat, lng, radius))
    d = (
        radius * fraction
    )  # a point at distance d along the bearing (flat-earth step; well inside at these sizes)
    dlat = d * math.cos(bearing) / (EARTH_RADIUS_M * math.pi / 180)
    dlng = d * math.sin(bearing) / (EARTH_RADIUS_M * math.pi / 180 * math.cos(math.radians(lat)))
    q = (lat + dlat, lng + dlng)
    if haversine_m((lat, lng), q) <= radius:
        assert h3_cell(*q) in cells


def test_bounding_box_holds_the_circle() -> None:
    min_lat, min_lng, max_lat, max_lng = bounding_box(*TIANANMEN, 1_000)
    assert haversine_m(TIANANMEN, (max_lat, TIANANMEN[1])) == pytest.approx(1_000, rel=1e-6)
    assert haversine_m(TIANANMEN, (TIANANMEN[0], max_lng)) == pytest.approx(1_000, rel=1e-3)
    assert min_lat < TIANANMEN[0] < max_lat and min_lng < TIANANMEN[1] < max_lng


def test_projection_north_up_and_square_metres() -> None:
    # A box of 10 km by 5 km around Beijing: the canvas keeps its proportions and puts north at the top.
    lat0, lng0 = 39.9, 116.4
    dlat = 5_000 / (EARTH_RADIUS_M * math.pi / 180)
    dlng = 10_000 / (EARTH_RADIUS_M * math.pi / 180 * math.cos(math.radians(lat0 + dlat / 2)))
    proj = Projection.fit([(lat0, lng0), (lat0 + dlat, lng0 + dlng)], width=820, padding=10)
    assert proj.height == pytest.approx(10 + 400 + 10, abs=0.5)  # 800 px for 10 km wide -> 400 px for 5 km
    assert proj.xy(lat0 + dlat, lng0) == (10.0, 10.0)  # north-west corner at the top left
    x, y = proj.xy(lat0, lng0 + dlng)  # south-east corner at the bottom right
    assert x == pytest.approx(810, abs=0.1) and y == pytest.approx(proj.height - 10, abs=0.1)
    north, south = proj.xy(lat0 + dlat, lng0 + dlng / 2), proj.xy(lat0, lng0 + dlng / 2)
    assert north[1] < south[1] and north[0] == south[0]


def test_projection_path_has_one_subpath_per_ring() -> None:
    poly = polygon_from_latlngs(SQUARE, holes=[HOLE])
    proj = Projection.fit(SQUARE)
    path = proj.path(poly)
    assert path.count("M") == 2 and path.count("Z") == 2
    with pytest.raises(ValueError):
        Projection.fit([])
