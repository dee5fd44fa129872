"""Cities API on the small demo city: lookups, GeoJSON, locate, store listings, and every bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient

from o2o.demo.generator import SIZES
from o2o.kit.geo import haversine_m
from o2o.kit.pagination import encode_cursor

WANGFUJING = (39.9150, 116.4110)
ZHONGGUANCUN = (39.9830, 116.3160)
STORES = SIZES["small"].stores
DISTRICTS = {"chaoyang", "dongcheng", "fengtai", "haidian", "shijingshan", "xicheng"}


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["type"].endswith(code)
    return body


def all_stores(api: TestClient, **params: Any) -> list[dict[str, Any]]:
    items, cursor = [], None
    for _ in range(100):
        response = api.get(
            "/api/cities/beijing/stores", params={**params, **({"cursor": cursor} if cursor else {})}
        )
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


def test_list_cities(api: TestClient, seeded) -> None:
    response = api.get("/api/cities")
    assert response.status_code == 200
    assert response.json() == {
        "items": [
            {
                "slug": "beijing",
                "name": "北京 Beijing",
                "country_code": "CN",
                "timezone": "Asia/Shanghai",
                "currency": "CNY",
                "locale": "zh-CN",
                "center": {"lat": 39.9087, "lng": 116.3975},
            }
        ],
        "next_cursor": None,
    }


def test_city_detail(api: TestClient) -> None:
    body = api.get("/api/cities/beijing").json()
    assert body["timezone"] == "Asia/Shanghai" and body["currency"] == "CNY" and body["locale"] == "zh-CN"
    assert body["center"] == {"lat": 39.9087, "lng": 116.3975}
    assert {d["slug"] for d in body["districts"]} == DISTRICTS
    assert body["store_count"] == STORES == sum(d["store_count"] for d in body["districts"])
    dongcheng = next(d for d in body["districts"] if d["slug"] == "dongcheng")
    assert dongcheng["name"] == "东城区 Dongcheng" and dongcheng["center"] == {
        "lat": 39.9288,
        "lng": 116.4161,
    }


@pytest.mark.parametrize(
    "path",
    [
        "/api/cities/atlantis",
        "/api/cities/atlantis/districts",
        "/api/cities/atlantis/locate?lat=39.9&lng=116.4",
        "/api/cities/atlantis/stores",
    ],
)
def test_unknown_city(api: TestClient, path: str) -> None:
    problem(api.get(path), 404, "city_not_found")


def test_districts_geojson(api: TestClient) -> None:
    response = api.get("/api/cities/beijing/districts")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    body = response.json()
    assert body["type"] == "FeatureCollection"
    assert {f["id"] for f in body["features"]} == DISTRICTS
    for feature in body["features"]:
        assert feature["type"] == "Feature" and feature["geometry"]["type"] == "Polygon"
        assert feature["properties"]["slug"] == feature["id"]
        ring = feature["geometry"]["coordinates"][0]
        assert ring[0] == ring[-1]  # closed
        assert all(116 < lng < 117 and 39.7 < lat < 40.1 for lng, lat in ring)  # [lng, lat] order


def test_locate(api: TestClient) -> None:
    body = api.get("/api/cities/beijing/locate", params={"lat": WANGFUJING[0], "lng": WANGFUJING[1]}).json()
    assert body == {
        "city": "beijing",
        "point": {"lat": WANGFUJING[0], "lng": WANGFUJING[1]},
        "district": {"slug": "dongcheng", "name": "东城区 Dongcheng"},
    }
    haidian = api.get("/api/cities/beijing/locate", params={"lat": ZHONGGUANCUN[0], "lng": ZHONGGUANCUN[1]})
    assert haidian.json()["district"]["slug"] == "haidian"


def test_locate_outside_and_bad_coordinates(api: TestClient) -> None:
    problem(
        api.get("/api/cities/beijing/locate", params={"lat": 39.13, "lng": 117.20}), 404, "outside_city"
    )  # Tianjin
    problem(api.get("/api/cities/beijing/locate", params={"lat": 91, "lng": 116.4}), 422, "invalid_request")
    problem(api.get("/api/cities/beijing/locate", params={"lat": 39.9, "lng": -181}), 422, "invalid_request")
    problem(
        api.get("/api/cities/beijing/locate", params={"lat": "north", "lng": 116.4}), 422, "invalid_request"
    )
    problem(api.get("/api/cities/beijing/locate", params={"lng": 116.4}), 422, "invalid_request")


def test_stores_paginate_through_the_whole_city(api: TestClient) -> None:
    first = api.get("/api/cities/beijing/stores", params={"limit": 7}).json()
    assert len(first["items"]) == 7 and first["next_cursor"]
    items = all_stores(api, limit=25)
    ids = [uuid.UUID(s["id"]) for s in items]
    assert len(ids) == STORES == len(set(ids))
    assert ids == sorted(ids)
    assert [s["id"] for s in items[:7]] == [s["id"] for s in first["items"]]
    store = items[0]
    assert set(store) == {
        "id",
        "merchant_id",
        "name",
        "category",
        "district",
        "lat",
        "lng",
        "address",
        "phone",
        "opening_hours",
        "open_now",
        "prep_minutes",
        "rating",
        "distance_m",
    }
    assert store["distance_m"] is None and store["district"] in DISTRICTS
    assert set(store["opening_hours"]) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}


def test_stores_by_district_and_category(api: TestClient) -> None:
    detail = api.get("/api/cities/beijing").json()
    for district in detail["districts"]:
        items = all_stores(api, district=district["slug"], limit=100)
        assert len(items) == district["store_count"]
        assert all(s["district"] == district["slug"] for s in items)
    everything = all_stores(api, limit=100)
    food = all_stores(api, category="food", limit=100)
    assert food and len(food) == sum(1 for s in everything if s["category"] == "food")
    problem(api.get("/api/cities/beijing/stores", params={"district": "atlantis"}), 404, "district_not_found")
    problem(api.get("/api/cities/beijing/stores", params={"category": "spaceships"}), 422, "unknown_category")


@pytest.mark.parametrize("radius", [300, 1_500, 4_000, 20_000])  # 20 km takes the bounding-box path
def test_near_is_exactly_the_stores_within_the_radius_nearest_first(api: TestClient, radius: int) -> None:
    everything = all_stores(api, limit=100)
    expected = sorted(
        ((haversine_m(WANGFUJING, (s["lat"], s["lng"])), uuid.UUID(s["id"])) for s in everything),
    )
    expected_ids = [str(i) for d, i in expected if d <= radius]
    near = f"{WANGFUJING[0]},{WANGFUJING[1]}"
    got = all_stores(api, near=near, radius_m=radius, limit=4)
    assert [s["id"] for s in got] == expected_ids
    distances = [s["distance_m"] for s in got]
    assert distances == sorted(distances) and all(d <= radius for d in distances)
    for s in got:
        assert s["distance_m"] == pytest.approx(haversine_m(WANGFUJING, (s["lat"], s["lng"])), abs=0.06)


def test_near_defaults_to_two_kilometres_and_filters_by_district(api: TestClient) -> None:
    near = f"{WANGFUJING[0]},{WANGFUJING[1]}"
    default = all_stores(api, near=near, limit=100)
    assert default == all_stores(api, near=near, radius_m=2000, limit=100)
    in_dongcheng = all_stores(api, near=near, radius_m=20_000, district="dongcheng", limit=100)
    assert in_dongcheng and all(s["district"] == "dongcheng" for s in in_dongcheng)


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"near": "abc"}, 422, "invalid_near"),
        ({"near": "39.9"}, 422, "invalid_near"),
        ({"near": "39.9,116.4,1"}, 422, "invalid_near"),
        ({"near": "91,116.4"}, 422, "invalid_near"),
        ({"near": "39.9,nan"}, 422, "invalid_near"),
        ({"near": "39.9,116.4", "radius_m": -5}, 422, "invalid_request"),
        ({"near": "39.9,116.4", "radius_m": 0}, 422, "invalid_request"),
        ({"near": "39.9,116.4", "radius_m": 20_001}, 422, "invalid_request"),
        ({"radius_m": 500}, 422, "radius_without_near"),
        ({"limit": 0}, 422, "invalid_request"),
        ({"limit": 1000}, 422, "invalid_request"),
        ({"limit": "ten"}, 422, "invalid_request"),
        ({"cursor": "not-a-cursor"}, 400, "invalid_cursor"),
    ],
)
def test_bad_store_queries(api: TestClient, params: dict[str, Any], status: int, code: str) -> None:
    problem(api.get("/api/cities/beijing/stores", params=params), status, code)


def test_tampered_and_foreign_cursors(api: TestClient) -> None:
    cursor = api.get("/api/cities/beijing/stores", params={"limit": 5}).json()["next_cursor"]
    tampered = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
    problem(
        api.get("/api/cities/beijing/stores", params={"limit": 5, "cursor": tampered}), 400, "invalid_cursor"
    )
    near = {"near": f"{WANGFUJING[0]},{WANGFUJING[1]}", "limit": 2}
    near_cursor = api.get("/api/cities/beijing/stores", params=near).json()["next_cursor"]
    assert near_cursor
    # A cursor only works in the listing that gave it out.
    problem(api.get("/api/cities/beijing/stores", params={"cursor": near_cursor}), 400, "invalid_cursor")
    problem(api.get("/api/cities/beijing/stores", params={**near, "cursor": cursor}), 400, "invalid_cursor")
    newest_first = encode_cursor(uuid.uuid4(), True)
    problem(api.get("/api/cities/beijing/stores", params={"cursor": newest_first}), 400, "invalid_cursor")


def test_city_list_pagination(api: TestClient) -> None:
    assert api.get("/api/cities", params={"limit": 1}).json()["next_cursor"] is None
    problem(api.get("/api/cities", params={"limit": 101}), 422, "invalid_request")
    problem(api.get("/api/cities", params={"cursor": "garbage"}), 400, "invalid_cursor")


def test_openapi_documents_every_cities_endpoint(api: TestClient) -> None:
    paths = api.get("/openapi.json").json()["paths"]
    cities = {p: ops for p, ops in paths.items() if p.startswith("/api/cities")}
    assert set(cities) == {
        "/api/cities",
        "/api/cities/{slug}",
        "/api/cities/{slug}/districts",
        "/api/cities/{slug}/locate",
        "/api/cities/{slug}/stores",
    }
    for path, ops in cities.items():
        op = ops["get"]
        assert op["summary"], path
        problems = [r for status, r in op["responses"].items() if status.startswith("4")]
        assert problems, path
        for response in problems:
            assert "application/problem+json" in response["content"]
    assert "`city_not_found`" in paths["/api/cities/{slug}/stores"]["get"]["responses"]["404"]["description"]
    assert "`invalid_near`" in paths["/api/cities/{slug}/stores"]["get"]["responses"]["422"]["description"]
