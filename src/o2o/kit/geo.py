"""Geography: great-circle distance, H3 cells, polygons, and a projection for drawing maps as SVG.

Coordinates are (lat, lng) in WGS 84 degrees everywhere in our code; shapely works in (x=lng, y=lat).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import h3
from shapely.geometry import Point, Polygon, shape
from shapely.prepared import prep

EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius (IUGG)

LatLng = tuple[float, float]


def haversine_m(a: LatLng, b: LatLng) -> float:
    """Great-circle distance in metres between two (lat, lng) points."""
    lat1, lng1 = map(math.radians, a)
    lat2, lng2 = map(math.radians, b)
    dlat, dlng = lat2 - lat1, lng2 - lng1
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def validate_latlng(lat: float, lng: float) -> None:
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0) or math.isnan(lat) or math.isnan(lng):
        raise ValueError(f"({lat}, {lng}) is not a valid latitude/longitude")


def h3_cell(lat: float, lng: float, resolution: int = 9) -> str:
    """The H3 cell containing a point (resolution 9 is about 0.1 km², a few city blocks)."""
    return h3.latlng_to_cell(lat, lng, resolution)


def h3_disk(cell: str, k: int) -> list[str]:
    return list(h3.grid_disk(cell, k))


def h3_disk_k_for_radius(lat: float, lng: float, radius_m: float, resolution: int = 9) -> int:
    """The smallest ring count ``k`` whose disk around the point's cell holds every cell within ``radius_m``.

    A cell ``k`` steps away has its centre at least ``k * cos(30°) * spacing`` from the origin cell's centre,
    and a point lies within one circumradius of its cell's centre. Spacing and circumradius are measured
    around the point itself (H3 cells vary in size over the globe), with a 10% margin for that variation.
    """
    if radius_m < 0:
        raise ValueError("radius must not be negative")
    origin = h3.latlng_to_cell(lat, lng, resolution)
    centre = h3.cell_to_latlng(origin)
    spacing = min(haversine_m(centre, h3.cell_to_latlng(n)) for n in h3.grid_ring(origin, 1)) * 0.9
    circumradius = max(haversine_m(centre, v) for v in h3.cell_to_boundary(origin)) * 1.1
    return max(1, math.ceil((radius_m + 2 * circumradius) / (spacing * math.cos(math.radians(30)))))


def h3_cells_within(lat: float, lng: float, radius_m: float, resolution: int = 9) -> list[str]:
    """Every H3 cell that may hold a point within ``radius_m`` of (lat, lng): a superset, for prefiltering.

    Filter candidates by ``cell IN (...)``, then keep those whose haversine distance is within the radius.
    """
    k = h3_disk_k_for_radius(lat, lng, radius_m, resolution)
    return h3_disk(h3.latlng_to_cell(lat, lng, resolution), k)


def bounding_box(lat: float, lng: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, min_lng, max_lat, max_lng) of a box that holds the circle (away from the poles)."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    dlng = dlat / max(math.cos(math.radians(lat)), 1e-6)
    return lat - dlat, lng - dlng, lat + dlat, lng + dlng


def polygon_from_latlngs(ring: Sequence[LatLng], holes: Iterable[Sequence[LatLng]] = ()) -> Polygon:
    poly = Polygon([(lng, lat) for lat, lng in ring], [[(lng, lat) for lat, lng in h] for h in holes])
    if not poly.is_valid:
        raise ValueError("the polygon is not valid (self-intersecting or too few points)")
    return poly


def polygon_from_geojson(geometry: dict) -> Polygon:
    poly = shape(geometry)
    if poly.geom_type not in ("Polygon", "MultiPolygon") or not poly.is_valid:
        raise ValueError("expected a valid GeoJSON Polygon or MultiPolygon")
    return poly


def point_in_polygon(lat: float, lng: float, polygon: Polygon) -> bool:
    """True inside or on the border (a point on the edge counts as inside)."""
    return polygon.covers(Point(lng, lat))


class PolygonIndex:
    """Many point-in-polygon tests against one polygon, prepared once."""

    def __init__(self, polygon: Polygon) -> None:
        self.polygon = polygon
        self._prepared = prep(polygon)

    def covers(self, lat: float, lng: float) -> bool:
        return self._prepared.covers(Point(lng, lat))


@dataclass(frozen=True)
class Projection:
    """Equirectangular projection of a small area onto an SVG canvas (north up, metres kept square)."""

    min_lat: float
    min_lng: float
    max_lat: float
    max_lng: float
    width: float = 800.0
    padding: float = 10.0

    @classmethod
    def fit(cls, points: Iterable[LatLng], width: float = 800.0, padding: float = 10.0) -> Projection:
        pts = list(points)
        if not pts:
            raise ValueError("nothing to fit")
        lats = [p[0] for p in pts]
        lngs = [p[1] for p in pts]
        return cls(min(lats), min(lngs), max(lats), max(lngs), width, padding)

    @property
    def _lng_scale(self) -> float:
        return math.cos(math.radians((self.min_lat + self.max_lat) / 2))

    @property
    def _scale(self) -> float:
        span_x = max((self.max_lng - self.min_lng) * self._lng_scale, 1e-9)
        return (self.width - 2 * self.padding) / span_x

    @property
    def height(self) -> float:
        return (self.max_lat - self.min_lat) * self._scale + 2 * self.padding

    def xy(self, lat: float, lng: float) -> tuple[float, float]:
        x = self.padding + (lng - self.min_lng) * self._lng_scale * self._scale
        y = self.padding + (self.max_lat - lat) * self._scale
        return round(x, 1), round(y, 1)

    def path(self, polygon: Polygon) -> str:
        """SVG path data for a polygon with its holes (use fill-rule="evenodd")."""
        parts = []
        geoms = getattr(polygon, "geoms", [polygon])
        for geom in geoms:
            for ring in [geom.exterior, *geom.interiors]:
                coords = [self.xy(lat, lng) for lng, lat in ring.coords]
                parts.append("M" + " L".join(f"{x},{y}" for x, y in coords) + " Z")
        return " ".join(parts)
