"""The city drawn as data for an SVG: district shapes, store dots, a legend. Pure: no database, no web.

``o2o.kit.geo.Projection`` turns (lat, lng) into canvas coordinates (north up, metres kept square); the page
template (``web/templates/_city_map.html``) turns this into markup.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from shapely.geometry.base import BaseGeometry

from o2o.kit.geo import Projection

DISTRICT_FILLS = ("#f3e3b3", "#cfe3c6", "#f5d0c5", "#cddcef", "#e4d4ec", "#d7ebe5", "#efe0cd", "#e0e7c4")

# Colours are chosen to stay apart from each other and from the district fills; labels are translated by
# the page (they are English message ids).
CATEGORY_STYLE: dict[str, tuple[str, str]] = {
    "food": ("#d1495b", "Restaurants"),
    "breakfast": ("#e07a10", "Breakfast"),
    "convenience": ("#1f78b4", "Convenience stores"),
    "grocery": ("#2f7d4a", "Groceries"),
    "fruit": ("#7aa329", "Fruit"),
    "pharmacy": ("#00898a", "Pharmacies"),
    "flowers": ("#c2409f", "Flowers"),
    "coffee": ("#6f4e37", "Coffee"),
    "tea": ("#7e6bc4", "Tea and drinks"),
    "bakery": ("#b8860b", "Bakeries"),
    "bar": ("#2e2a6b", "Bars"),
}
OTHER_STYLE = ("#555555", "Other")


@dataclass(frozen=True)
class DistrictInput:
    slug: str
    name: str
    geometry: BaseGeometry  # shapely, x = lng, y = lat
    store_count: int = 0


@dataclass(frozen=True)
class StoreInput:
    name: str
    category: str
    lat: float
    lng: float


@dataclass(frozen=True)
class DistrictShape:
    slug: str
    name: str
    path: str
    fill: str
    label_x: float
    label_y: float
    label_lines: tuple[str, ...]
    store_count: int


@dataclass(frozen=True)
class StoreDot:
    x: float
    y: float
    colour: str
    category: str
    name: str


@dataclass(frozen=True)
class LegendEntry:
    category: str
    colour: str
    label: str
    count: int


@dataclass(frozen=True)
class CityMap:
    width: float
    height: float
    dot_radius: float
    districts: list[DistrictShape]
    stores: list[StoreDot]
    legend: list[LegendEntry] = field(default_factory=list)


def category_style(category: str) -> tuple[str, str]:
    return CATEGORY_STYLE.get(category, OTHER_STYLE)


def build_city_map(
    districts: Sequence[DistrictInput], stores: Sequence[StoreInput], width: float = 800.0
) -> CityMap:
    if not districts:
        raise ValueError("a city map needs at least one district")
    points = []
    for d in districts:
        min_x, min_y, max_x, max_y = d.geometry.bounds
        points += [(min_y, min_x), (max_y, max_x)]
    projection = Projection.fit(points, width=width, padding=12.0)
    shapes = []
    for index, d in enumerate(districts):
        anchor = d.geometry.centroid
        if not d.geometry.contains(anchor):
            anchor = d.geometry.representative_point()
        x, y = projection.xy(anchor.y, anchor.x)
        shapes.append(
            DistrictShape(
                slug=d.slug,
                name=d.name,
                path=projection.path(d.geometry),
                fill=DISTRICT_FILLS[index % len(DISTRICT_FILLS)],
                label_x=x,
                label_y=y,
                label_lines=tuple(d.name.split(" ", 1)),
                store_count=d.store_count,
            )
        )
    n = len(stores)
    radius = 3.0 if n < 200 else 2.4 if n < 800 else 1.9
    dots = []
    for s in stores:
        x, y = projection.xy(s.lat, s.lng)
        dots.append(
            StoreDot(x=x, y=y, colour=category_style(s.category)[0], category=s.category, name=s.name)
        )
    counts = Counter(s.category for s in stores)
    legend = [
        LegendEntry(category=c, colour=category_style(c)[0], label=category_style(c)[1], count=counts[c])
        for c in [*CATEGORY_STYLE, *sorted(set(counts) - set(CATEGORY_STYLE))]
        if counts[c]
    ]
    return CityMap(
        width=projection.width,
        height=round(projection.height, 1),
        dot_radius=radius,
        districts=shapes,
        stores=dots,
        legend=legend,
    )
