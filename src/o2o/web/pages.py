"""The landing page: the city on a map drawn by our own code, a few figures, the best-rated stores open right
now (each with a favourite button), and the ways in.

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
from o2o.accounts import favourites
from o2o.accounts.pages import page_auth
from o2o.cities import service as cities
from o2o.cities.citymap import category_style
from o2o.cities.models import City
from o2o.errors import AppError
from o2o.http import DbSession, api_router
from o2o.stores import service as stores
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


OPEN_NOW_LIMIT = 8


def open_now_context(request: Request, session: Session, overview: cities.Overview) -> dict[str, Any]:
    """The "Open now" list: the best-rated stores open at the overview's moment (so the list agrees with the
    "open now" figure), their category colours (those of the map's dots), and which ones the signed-in
    person saved."""
    city = overview.city
    open_stores = stores.top_open_now(session, city.id, city.timezone, at=overview.local_time, limit=OPEN_NOW_LIMIT)
    auth = page_auth(request)
    saved = favourites.saved_targets(session, auth.person_id if auth else None, "store", [s.id for s in open_stores])
    return {
        "open_stores": open_stores,
        "open_saved_ids": saved,
        "category_colours": {s.category: category_style(s.category)[0] for s in open_stores},
    }


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
        {
            "overview": overview,
            "map_svg": map_svg,
            "nav": "home",
            "html_lang": html_lang,
            **open_now_context(request, session, overview),
        },
    )
