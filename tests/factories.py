"""Small row factories shared by the tests of several domains."""

from __future__ import annotations

from o2o.cities.models import City


def new_city(
    slug: str = "testville",
    *,
    name: str | None = None,
    timezone: str = "Asia/Shanghai",
    center: tuple[float, float] = (39.9, 116.4),
) -> City:
    """An unsaved Chinese city (CNY, zh-CN); the caller adds and flushes it."""
    return City(
        slug=slug,
        name=name or slug.title(),
        country_code="CN",
        timezone=timezone,
        currency="CNY",
        locale="zh-CN",
        center_lat=center[0],
        center_lng=center[1],
    )
