"""A store's delivery terms: where it delivers, the minimum order, the fees, and whether it takes orders now.
Pure: no database, no FastAPI (``o2o.stores.catalogue.delivery_terms`` loads them).

- The delivery area is a radius around the store (``radius_m``, 3 km by default) or, when the store drew one, a
  GeoJSON polygon, which then wins over the radius. A polygon must be valid and simple (no self-crossing, no
  holes), have at most ``MAX_AREA_POINTS`` points, lie within the city's bounds, and hold the store itself.
- The delivery fee is ``base_fee`` for the first ``base_m`` metres plus ``per_km_fee`` for every started
  kilometre beyond: with 300 / 3000 m / 100, 3.2 km costs 400 and 4.0 km costs 400, 4.01 km costs 500.
- ``min_order`` applies to the items' subtotal; ``packaging_fee`` is charged once per order.

Distances are great-circle (haversine) from the store to the address, in metres.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shapely.geometry import Point, Polygon, box
from shapely.geometry.base import BaseGeometry

from o2o.kit.geo import EARTH_RADIUS_M, haversine_m

DEFAULT_RADIUS_M = 3000
MIN_RADIUS_M = 100
MAX_RADIUS_M = 20_000
MAX_AREA_POINTS = 200
# A drawn area may reach this far past the city's districts (suburbs just outside the last border).
CITY_MARGIN_M = 10_000
# A city without districts yet: a square this far around its centre.
CITY_HALF_SIZE_M = 60_000
COORDINATE_DECIMALS = 6  # ~0.1 m


class InvalidArea(ValueError):
    """The delivery area is not one we accept; the message says why."""


class StoreOutsideArea(InvalidArea):
    """A valid polygon that leaves the store out."""


@dataclass(frozen=True)
class DeliveryTerms:
    store_id: uuid.UUID
    city_id: uuid.UUID
    lat: float
    lng: float
    radius_m: int
    area: BaseGeometry | None
    min_order: int
    packaging_fee: int
    base_fee: int
    base_m: int
    per_km_fee: int
    accepting_orders: bool
    prep_minutes: int
    opening_hours: str
    timezone: str
    currency: str

    def distance_m(self, lat: float, lng: float) -> float:
        """Great-circle metres from the store to (lat, lng)."""
        return haversine_m((self.lat, self.lng), (lat, lng))

    def covers(self, lat: float, lng: float) -> bool:
        """Does the store deliver to (lat, lng)? Inside (or on the edge of) its polygon, else within its radius."""
        if not (math.isfinite(lat) and math.isfinite(lng)):
            return False
        if self.area is not None:
            return bool(self.area.covers(Point(lng, lat)))
        return self.distance_m(lat, lng) <= self.radius_m

    def delivery_fee(self, distance_m: float) -> int:
        """Fen: the base fee, plus the per-km fee for every started kilometre past ``base_m``."""
        beyond = max(0.0, distance_m - self.base_m)
        return self.base_fee + self.per_km_fee * math.ceil(beyond / 1000)


def fee_for(base_fee: int, base_m: int, per_km_fee: int, distance_m: float) -> int:
    """``DeliveryTerms.delivery_fee`` without the rest of the terms (for tables of fees by distance)."""
    return base_fee + per_km_fee * math.ceil(max(0.0, distance_m - base_m) / 1000)


# --------------------------------------------------------------------------------------------------------------
# The drawn delivery area


def city_bounds(center: tuple[float, float], districts: Iterable[BaseGeometry] = ()) -> Polygon:
    """Where a city's delivery areas may lie: the box around its districts widened by ``CITY_MARGIN_M``, or a
    square around the centre when it has no districts yet. (lat, lng) in, shapely (x=lng, y=lat) out."""
    shapes = list(districts)
    if shapes:
        min_lng = min(s.bounds[0] for s in shapes)
        min_lat = min(s.bounds[1] for s in shapes)
        max_lng = max(s.bounds[2] for s in shapes)
        max_lat = max(s.bounds[3] for s in shapes)
        margin = CITY_MARGIN_M
    else:
        (min_lat, min_lng), (max_lat, max_lng) = center, center
        margin = CITY_HALF_SIZE_M
    dlat = math.degrees(margin / EARTH_RADIUS_M)
    mid_lat = (min_lat + max_lat) / 2
    dlng = dlat / max(math.cos(math.radians(mid_lat)), 1e-6)
    return box(min_lng - dlng, min_lat - dlat, max_lng + dlng, max_lat + dlat)


def _position(value: Any, index: int) -> tuple[float, float]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) not in (2, 3)
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
    ):
        raise InvalidArea(f"point {index + 1} is not a [lng, lat] pair of numbers")
    lng, lat = float(value[0]), float(value[1])
    if not (math.isfinite(lng) and math.isfinite(lat) and -180 <= lng <= 180 and -90 <= lat <= 90):
        raise InvalidArea(f"point {index + 1} ({lng}, {lat}) is not a longitude and latitude")
    return round(lng, COORDINATE_DECIMALS), round(lat, COORDINATE_DECIMALS)


def parse_area(
    value: str | Mapping[str, Any],
    *,
    bounds: BaseGeometry | None = None,
    store_at: tuple[float, float] | None = None,
) -> Polygon:
    """A delivery area from GeoJSON (a Polygon geometry, or a Feature holding one; RFC 7946 [lng, lat] order),
    validated: one closed ring without holes, at most ``MAX_AREA_POINTS`` points, valid and simple, inside
    ``bounds`` and holding ``store_at`` (lat, lng) when given. Raises ``InvalidArea``."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise InvalidArea(f"not JSON: {exc}") from exc
    if not isinstance(value, Mapping):
        raise InvalidArea("expected a GeoJSON Polygon object")
    if value.get("type") == "Feature":
        value = value.get("geometry") or {}
        if not isinstance(value, Mapping):
            raise InvalidArea("the Feature has no geometry")
    if value.get("type") != "Polygon":
        raise InvalidArea(f"expected a GeoJSON Polygon, not {value.get('type')!r}")
    rings = value.get("coordinates")
    if not isinstance(rings, list) or not rings:
        raise InvalidArea("a Polygon's coordinates are a list of rings")
    if len(rings) > 1:
        raise InvalidArea("a delivery area has no holes: give one ring")
    ring = rings[0]
    if not isinstance(ring, list):
        raise InvalidArea("the ring is a list of [lng, lat] points")
    if len(ring) > MAX_AREA_POINTS:
        raise InvalidArea(f"at most {MAX_AREA_POINTS} points; this ring has {len(ring)}")
    points = [_position(p, i) for i, p in enumerate(ring)]
    if len(points) < 4:
        raise InvalidArea("a ring needs at least 4 points (3 corners and the first one again)")
    if points[0] != points[-1]:
        raise InvalidArea("the ring must end where it starts (GeoJSON rings are closed)")
    polygon = Polygon(points)
    if not polygon.is_valid or not polygon.exterior.is_simple or polygon.area <= 0:
        raise InvalidArea("the ring crosses itself or encloses nothing")
    if bounds is not None and not bounds.covers(polygon):
        raise InvalidArea("the area reaches outside the city")
    if store_at is not None and not polygon.covers(Point(store_at[1], store_at[0])):
        raise StoreOutsideArea("the area must hold the store itself")
    return polygon


def area_to_geojson(polygon: Polygon) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [[[x, y] for x, y in polygon.exterior.coords]]}


def area_to_text(polygon: Polygon) -> str:
    return json.dumps(area_to_geojson(polygon), separators=(",", ":"))


def area_from_text(text: str | None) -> Polygon | None:
    """The stored area (validated when it was saved), or None."""
    if not text:
        return None
    return _stored_area(text)


_area_cache: dict[str, Polygon] = {}


def _stored_area(text: str) -> Polygon:
    # Stores keep their area for months: parse each distinct text once per process (bounded).
    polygon = _area_cache.get(text)
    if polygon is None:
        polygon = parse_area(text)
        if len(_area_cache) > 4096:
            _area_cache.clear()
        _area_cache[text] = polygon
    return polygon
