"""The landing page: the city map as inline SVG, the figures, and the page for an empty database."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from o2o.db import Database
from o2o.demo import service as demo
from o2o.demo.generator import SIZES
from o2o.kit.geo import h3_cell
from o2o.kit.time import frozen_clock
from o2o.stores import hours
from o2o.stores.models import Store
from o2o.web import pages

SVG = re.compile(r'<svg class="map" data-testid="city-map".*?</svg>', re.DOTALL)


def seed(db: Database, **kwargs) -> demo.SeedSummary:  # type: ignore[no-untyped-def]
    with db.session() as s:
        return demo.seed(s, **{"size": "small", "seed": 42, **kwargs})


def the_map(html: str) -> str:
    found = SVG.findall(html)
    assert len(found) == 1
    return found[0]


def stat(html: str, name: str) -> str:
    match = re.search(rf'data-testid="stat-{name}">([^<]*)<', html)
    assert match
    return match.group(1)


def test_empty_database_says_how_to_seed(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'data-testid="no-city"' in html
    assert "o2o demo seed" in html
    assert "city-map" not in html and "<svg" not in html
    assert 'href="/docs"' in html


def test_map_has_one_path_per_district_and_one_circle_per_store(client: TestClient, db: Database) -> None:
    pages.clear_map_cache()
    seed(db)
    html = client.get("/").text
    svg = the_map(html)
    assert svg.count("<path") == 6
    assert svg.count("<circle") == SIZES["small"].stores
    assert 'role="img"' in svg and re.search(
        r'aria-label="Map of 北京 Beijing: 6 districts and 60 stores"', svg
    )
    assert svg.count('tabindex="0"') == 6  # every district can be reached by keyboard ...
    assert 'aria-label="东城区 Dongcheng: ' in svg  # ... and has a name
    assert re.search(r'viewBox="0 0 800\.0 \d+(\.\d)?"', svg)
    # Each store dot has a tooltip with the store's name, coloured by category.
    with db.sessionmaker() as s:
        names = s.scalars(select(Store.name)).all()
    titles = re.findall(r"<circle[^>]*><title>([^<]*)</title></circle>", svg)
    assert sorted(titles) == sorted(names)
    assert re.search(r'<circle class="store c-[a-z]+" cx="[\d.]+" cy="[\d.]+" r="[\d.]+">', svg)
    # No external asset: everything comes from this app.
    assert not re.search(r'(src|href)="https?://(?!testserver/)', html)
    assert stat(html, "stores") == "60" and stat(html, "people") == "400" and stat(html, "districts") == "6"
    assert 'href="/signup"' in html and 'href="/signin"' in html and 'href="/docs"' in html


def test_open_now_is_counted_in_the_city_time_zone(client: TestClient, db: Database) -> None:
    seed(db)
    with db.sessionmaker() as s:
        schedules = s.scalars(select(Store.opening_hours)).all()
    # 00:30 on a Saturday morning in Beijing is 16:30 on Friday in UTC.
    moment = dt.datetime(2025, 3, 7, 16, 30, tzinfo=dt.UTC)
    local = moment.astimezone(hours_zone())
    expected = sum(1 for text in schedules if hours.is_open(text, local))
    assert 0 < expected < len(schedules)  # the night owls (bars, late kitchens, 24h shops), not breakfast
    with frozen_clock(moment):
        html = client.get("/").text
    assert stat(html, "open") == str(expected)
    assert "Local time: Sat 00:30 (Asia/Shanghai)" in html


def hours_zone():  # type: ignore[no-untyped-def]
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")


def test_map_is_cached_and_redrawn_when_stores_change(client: TestClient, db: Database) -> None:
    pages.clear_map_cache()
    summary = seed(db)
    first = the_map(client.get("/").text)
    assert len(pages._map_cache) == 1
    assert the_map(client.get("/").text) is not None
    key_before = next(iter(pages._map_cache.values()))[0]
    assert the_map(client.get("/").text) == first and next(iter(pages._map_cache.values()))[0] == key_before
    with db.session() as s:
        any_store = s.scalars(select(Store).limit(1)).one()
        s.execute(
            insert(Store.__table__),
            [
                {
                    "city_id": summary.city_id,
                    "merchant_id": any_store.merchant_id,
                    "district_id": any_store.district_id,
                    "name": "新开的店",
                    "category": "coffee",
                    "lat": any_store.lat,
                    "lng": any_store.lng,
                    "h3_r9": h3_cell(any_store.lat, any_store.lng),
                }
            ],
        )
    redrawn = the_map(client.get("/").text)
    assert redrawn.count("<circle") == SIZES["small"].stores + 1
    assert "<title>新开的店</title>" in redrawn


def test_unknown_city_is_a_404_page(client: TestClient, db: Database) -> None:
    seed(db)
    response = client.get("/?city=atlantis")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert 'data-code="city_not_found"' in response.text
    assert client.get("/?city=beijing").status_code == 200
