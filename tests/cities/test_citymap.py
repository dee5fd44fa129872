"""cities.citymap: the city laid out for SVG (pure)."""

from __future__ import annotations

import math

import pytest
from shapely.geometry import box

from o2o.cities.citymap import CATEGORY_STYLE, OTHER_STYLE, DistrictInput, StoreInput, build_city_map


def test_layout() -> None:
    west = DistrictInput("west", "西区 West", box(116.30, 39.90, 116.40, 40.00), store_count=2)
    east = DistrictInput("east", "东区 East", box(116.40, 39.90, 116.50, 40.00), store_count=1)
    stores = [
        StoreInput("A", "food", 39.99, 116.31),  # north-west
        StoreInput("B", "coffee", 39.91, 116.39),  # south, middle
        StoreInput("C", "unknown-kind", 39.95, 116.45),
    ]
    m = build_city_map([west, east], stores, width=800)
    scale = (800 - 2 * 12) / (0.2 * math.cos(math.radians(39.95)))  # px per degree of latitude, 12 px padding
    assert m.width == 800 and m.height == pytest.approx(0.1 * scale + 2 * 12, abs=0.1)
    assert [d.slug for d in m.districts] == ["west", "east"]
    assert all(d.path.startswith("M") and d.path.endswith("Z") for d in m.districts)
    assert m.districts[0].label_lines == ("西区", "West")
    assert m.districts[0].label_x < m.districts[1].label_x  # west is left
    assert m.districts[0].fill != m.districts[1].fill
    a, b, c = m.stores
    assert a.y < b.y and a.x < b.x < c.x  # north up, west left
    assert min(s.x for s in m.stores) >= 0 and max(s.x for s in m.stores) <= m.width
    assert a.colour == CATEGORY_STYLE["food"][0] and c.colour == OTHER_STYLE[0]
    assert [(e.category, e.count) for e in m.legend] == [("food", 1), ("coffee", 1), ("unknown-kind", 1)]


def test_needs_a_district() -> None:
    with pytest.raises(ValueError):
        build_city_map([], [])
