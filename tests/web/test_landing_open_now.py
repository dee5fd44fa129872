"""The landing page's "Open now" list: the city's best-rated stores open at this moment, each with a favourite
button (a sign-up link for visitors, a save/unsave form for signed-in people)."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from o2o.db import Database
from o2o.demo.service import SeedSummary, seed_database
from o2o.kit.time import frozen_clock
from o2o.stores import hours
from o2o.stores import service as stores_service
from o2o.stores.models import CATEGORIES, Store
from o2o.web import pages
from tests.accounts.conftest import PHONE, Api, bearer

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Wednesday 5 March 2025 at noon in Beijing, and at 04:00 the same morning (the 24h shops, a pharmacy or two).
NOON = dt.datetime(2025, 3, 5, 12, 0, tzinfo=SHANGHAI).astimezone(dt.UTC)
FOUR_AM = dt.datetime(2025, 3, 5, 4, 0, tzinfo=SHANGHAI).astimezone(dt.UTC)
FAV = "/api/accounts/me/favourites"

SECTION = re.compile(r'<section aria-labelledby="open-now-heading" data-testid="open-now">.*?</section>', re.DOTALL)
ENTRY = re.compile(r'<li\b([^>]*data-testid="open-store"[^>]*)>(.*?)</li>', re.DOTALL)
FAVOURITE = re.compile(r'<(a|button)\b([^>]*data-testid="favourite"[^>]*)>(.*?)</\1>', re.DOTALL)


def attr(tag: str, name: str) -> str | None:
    found = re.search(rf'\b{name}="([^"]*)"', tag)
    return found.group(1) if found else None


@dataclass
class Entry:
    store_id: uuid.UUID
    name: str
    category: str
    rating: str
    fav_tag: str  # "a" for visitors, "button" for signed-in people
    fav_attrs: str
    fav_text: str
    form_action: str | None
    form_inputs: dict[str, str]


def section(html: str) -> str:
    found = SECTION.findall(html)
    assert len(found) == 1, "one Open now section"
    return found[0]


def entries(html: str) -> list[Entry]:
    out = []
    for li_attrs, body in ENTRY.findall(section(html)):
        favourite = FAVOURITE.findall(body)
        assert len(favourite) == 1, body
        tag, fav_attrs, fav_text = favourite[0]
        form = re.search(r'<form method="post" action="([^"]+)"', body)
        out.append(
            Entry(
                store_id=uuid.UUID(attr(li_attrs, "data-store-id")),
                name=re.search(r'data-testid="open-store-name">([^<]*)<', body).group(1),
                category=re.search(r'data-testid="open-store-category" data-category="([^"]+)"', body).group(1),
                rating=re.search(r'<span aria-hidden="true">★ ([0-9.]+)</span>', body).group(1),
                fav_tag=tag,
                fav_attrs=fav_attrs,
                fav_text=" ".join(re.sub(r"<[^>]+>", " ", fav_text).split()),
                form_action=form.group(1) if form else None,
                form_inputs=dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body)),
            )
        )
    return out


@pytest.fixture
def city(db: Database) -> SeedSummary:
    return seed_database(db, size="small", seed_value=7)


def expected_open(db: Database, moment: dt.datetime, limit: int = 8) -> list[Store]:
    """Worked out here from the rows: every store open at that moment, best rating first, ties by id."""
    local = moment.astimezone(SHANGHAI)
    with db.sessionmaker() as s:
        rows = s.scalars(select(Store)).all()
        s.expunge_all()
    open_rows = [r for r in rows if hours.is_open(r.opening_hours, local)]
    return sorted(open_rows, key=lambda r: (-r.rating, r.id.hex))[:limit]


def top_open_now(db: Database, city: SeedSummary, moment: dt.datetime) -> list[uuid.UUID]:
    with db.sessionmaker() as s:
        return [st.id for st in stores_service.top_open_now(s, city.city_id, "Asia/Shanghai", at=moment)]


def stat_open(html: str) -> int:
    return int(re.search(r'data-testid="stat-open">([^<]*)<', html).group(1).replace(",", ""))


def test_lists_the_best_rated_stores_open_now_in_order(client: TestClient, db: Database, city) -> None:
    expected = expected_open(db, NOON)
    assert len(expected) == 8  # the small city has more than eight stores open at noon
    with frozen_clock(NOON):
        html = client.get("/").text
    listed = entries(html)
    assert [e.store_id for e in listed] == top_open_now(db, city, NOON) == [r.id for r in expected]
    assert [(e.name, e.category, e.rating) for e in listed] == [
        (r.name, r.category, f"{r.rating:.1f}") for r in expected
    ]
    assert 'data-testid="nothing-open"' not in html
    assert stat_open(html) > 8
    # The list is a list under its own heading, each entry a card with its category in words.
    part = section(html)
    assert '<h2 id="open-now-heading">Open now</h2>' in part
    assert re.search(r'<ul class="grid grid-2 open-stores" role="list">', part)
    assert part.count('class="card open-store"') == 8
    assert f"Rated {expected[0].rating:.1f} out of 5" in part
    assert {e.category for e in listed} <= set(CATEGORIES)


def test_a_visitor_is_sent_to_sign_up_and_back_here(client: TestClient, db: Database, city) -> None:
    with frozen_clock(NOON):
        html = client.get("/").text
    listed = entries(html)
    assert listed
    for e in listed:
        assert e.fav_tag == "a" and e.form_action is None
        assert attr(e.fav_attrs, "href") == "/signup?next=/"
        assert attr(e.fav_attrs, "data-kind") == "store" and attr(e.fav_attrs, "data-target") == str(e.store_id)
        assert e.fav_text == "☆ Save"
    assert "<form" not in section(html)
    # The link leads to a sign-up form that brings the person back to the landing page.
    signup = client.get("/signup?next=/")
    assert signup.status_code == 200 and '<input type="hidden" name="next" value="/">' in signup.text


def test_at_four_in_the_morning_only_the_night_owls(client: TestClient, db: Database, city) -> None:
    expected = expected_open(db, FOUR_AM)
    assert 0 < len(expected) < 8
    with frozen_clock(FOUR_AM):
        html = client.get("/").text
    listed = entries(html)
    assert [e.store_id for e in listed] == top_open_now(db, city, FOUR_AM) == [r.id for r in expected]
    assert stat_open(html) == len(expected)  # fewer than eight open: all of them are listed
    assert "Local time: Wed 04:00 (Asia/Shanghai)" in html
    assert 'data-testid="nothing-open"' not in html


def test_when_nothing_is_open_it_says_so(client: TestClient, db: Database, city) -> None:
    with db.session() as s:  # every store keeps Monday office hours only
        s.execute(update(Store).values(opening_hours=json.dumps({"mon": [["09:00", "17:00"]]})))
    with frozen_clock(NOON):
        html = client.get("/").text
    part = section(html)
    assert entries(html) == [] and "<ul" not in part
    assert re.search(r'<p data-testid="nothing-open">Nothing is open right now\.</p>', part)
    assert stat_open(html) == 0
    # The rest of the page is all there.
    assert html.count('data-testid="city-map"') == 1 and html.count("<circle") == city.counts["stores"]
    assert 'id="districts-heading"' in html


def test_a_signed_in_person_sees_what_they_saved_and_saves_more(client: TestClient, db: Database, city) -> None:
    api = Api(client, db)
    with frozen_clock(NOON):
        token = api.token(PHONE)
        first = client.get("/").text
        listed = entries(first)
        saved_id = listed[1].store_id
        assert client.put(f"{FAV}/store/{saved_id}", headers=bearer(token)).status_code == 201

        client.cookies.set("o2o_session", token)
        html = client.get("/").text
        listed = entries(html)
        assert [e.store_id for e in listed] == top_open_now(db, city, NOON)
        for e in listed:
            saved = e.store_id == saved_id
            assert e.fav_tag == "button"
            assert attr(e.fav_attrs, "aria-pressed") == ("true" if saved else "false")
            assert e.fav_text == ("★ Saved" if saved else "☆ Save")
            assert e.form_action == f"/me/favourites/store/{e.store_id}"
            assert e.form_inputs["action"] == ("remove" if saved else "add")
            assert e.form_inputs["next"] == "/"
        assert "/signup?next=" not in section(html)

        # Tapping Save on another one saves it and comes back to the landing page.
        other = listed[0]
        r = client.post(other.form_action, data=other.form_inputs, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/"
        pressed = {e.store_id for e in entries(client.get("/").text) if 'aria-pressed="true"' in e.fav_attrs}
        assert pressed == {saved_id, other.store_id}
        mine = client.get(FAV, headers=bearer(token)).json()["items"]
        assert {uuid.UUID(f["target_id"]) for f in mine} == {saved_id, other.store_id}

        # Someone else sees nothing saved.
        client.cookies.set("o2o_session", api.token("+8613900139000"))
        others = entries(client.get("/").text)
        assert all(attr(e.fav_attrs, "aria-pressed") == "false" for e in others)


def test_the_map_stays_cached_while_the_list_changes(client: TestClient, db: Database, city) -> None:
    pages.clear_map_cache()
    with frozen_clock(NOON) as clock:
        noon = client.get("/").text
        key = next(iter(pages._map_cache.values()))[0]
        clock.advance(hours=16)  # 04:00 the next morning
        night = client.get("/").text
    assert [e.store_id for e in entries(noon)] != [e.store_id for e in entries(night)]
    assert len(pages._map_cache) == 1 and next(iter(pages._map_cache.values()))[0] == key
    svg = re.compile(r'<svg class="map" data-testid="city-map".*?</svg>', re.DOTALL)
    assert svg.findall(noon) == svg.findall(night) and len(svg.findall(noon)) == 1
