"""The landing page: the city on a map drawn by our own code, a few figures, and the ways in.

The map (every district and store as inline SVG) is rendered once per city and kept in this process; it is
drawn again when the city's stores change (their count or newest id), or for another locale.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any

from fastapi import Query, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from sqlalchemy.orm import Session

from o2o import i18n
from o2o.cities import service as cities
from o2o.cities.models import City
from o2o.errors import AppError
from o2o.http import DbSession, api_router
from o2o.web.render import render, request_locale, templates

router = api_router(include_in_schema=False)

MapKey = tuple[Any, ...]
_map_cache: dict[uuid.UUID, tuple[MapKey, Markup]] = {}
_map_lock = threading.Lock()


def city_map_markup(session: Session, city: City, key: MapKey, locale: str) -> Markup | None:
    """The city's SVG map, from the in-process cache when its key (city, store count, newest store) holds."""
    full_key = (*key, locale)
    with _map_lock:
        cached = _map_cache.get(city.id)
    if cached is not None and cached[0] == full_key:
        return cached[1]
    data = cities.city_map(session, city)
    if data is None:
        return None
    with i18n.use_locale(locale):
        html = templates.env.get_template("_city_map.html").render(map=data, city=city)
    markup = Markup(html)
    with _map_lock:
        _map_cache[city.id] = (full_key, markup)
    return markup


def clear_map_cache() -> None:
    with _map_lock:
        _map_cache.clear()


@router.get("/", response_class=HTMLResponse)
def index(
    request: Request,
    session: DbSession,
    city: str | None = Query(default=None, max_length=64, description="Which city to show (its slug)"),
) -> HTMLResponse:
    locale = request_locale(request)
    html_lang = locale.replace("_", "-")
    try:
        overview = cities.overview(session, city)
    except AppError as error:
        if error.code != "city_not_found":
            raise
        return render(
            request,
            "error.html",
            {"title": "City not found", "detail": error.detail, "code": error.code, "html_lang": html_lang},
            status_code=404,
        )
    if overview is None:
        return render(request, "index.html", {"overview": None, "nav": "home", "html_lang": html_lang})
    map_svg = city_map_markup(session, overview.city, overview.map_key, locale)
    return render(
        request,
        "index.html",
        {"overview": overview, "map_svg": map_svg, "nav": "home", "html_lang": html_lang},
    )
