"""The stores API through HTTP on both databases: public reads (store, menu, item, quote lines), the merchant's
catalogue and settings with who may do what, bad input as problem+json 4xx that changes nothing, idempotent
retries, and the OpenAPI document."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from o2o.db import Database
from o2o.stores import stock
from tests.stores.catalogue_helpers import STORE_AT, Built, Shop, bearer, build_menu, shop, sign_in, snapshot  # noqa: F401

PROBLEM = "application/problem+json"


@pytest.fixture
def built(db: Database, shop: Shop) -> Built:  # noqa: F811
    return build_menu(db, shop.store_id)


@pytest.fixture
def owner(client: TestClient, db: Database, shop: Shop) -> dict[str, str]:  # noqa: F811
    return bearer(client, db, shop.owner_id)


def merchant(shop: Shop, path: str = "") -> str:  # noqa: F811
    return f"/api/merchant/stores/{shop.store_id}{path}"


def problem(response, status: int, code: str) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["code"] == code and body["status"] == status and body["detail"]
    return body


# ----------------------------------------------------------------------------------------------------------------
# Public reads


def test_a_store_with_its_terms_and_the_distance_to_an_address(client: TestClient, shop: Shop) -> None:  # noqa: F811
    body = client.get(f"/api/stores/{shop.store_id}").json()
    assert body["name"] == "兰州拉面（王府井店）" and body["open_now"] is True
    assert body["accepting_orders"] is True and body["currency"] == "CNY"
    assert body["delivery"] == {"radius_m": 3000, "area": None, "min_order": 0, "packaging_fee": 0, "base_fee": 300,
                                "base_m": 3000, "per_km_fee": 100, "currency": "CNY"}
    assert body["delivers_here"] is None and body["distance_m"] is None
    near = client.get(f"/api/stores/{shop.store_id}", params={"lat": STORE_AT[0] + 0.036, "lng": STORE_AT[1]}).json()
    assert 3900 < near["distance_m"] < 4100 and near["delivers_here"] is False and near["delivery_fee"] is None
    close = client.get(f"/api/stores/{shop.store_id}", params={"lat": STORE_AT[0] + 0.01, "lng": STORE_AT[1]}).json()
    assert close["delivers_here"] is True and close["delivery_fee"] == 300
    problem(client.get(f"/api/stores/{uuid.uuid4()}"), 404, "store_not_found")
    problem(client.get("/api/stores/not-a-uuid"), 422, "invalid_request")


def test_the_menu_with_its_flags_and_stock(client: TestClient, db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    with db.session() as s:
        stock.set_on_hand(s, city_id=shop.city_id, store_id=shop.store_id, item_id=built.cola, on_hand=3)
    body = client.get(f"/api/stores/{shop.store_id}/menu").json()
    assert body["currency"] == "CNY" and body["version"] == 8
    assert [c["name"] for c in body["categories"]] == ["Mains", "Breakfast", "Drinks"]
    noodles = body["categories"][0]["items"][0]
    assert noodles["name"] == "Beef noodles" and noodles["price"] == 1800 and noodles["stock"] is None
    assert [g["name"] for g in noodles["option_groups"]] == ["Size", "Extras"]
    assert noodles["option_groups"][0]["options"][0] == {
        "id": str(built.small), "name": "Small", "price_delta": -300, "sold_out": False, "position": 0
    }
    breakfast = body["categories"][1]
    assert breakfast["available_windows"] == [["06:30", "10:30"]]
    assert breakfast["items"][0]["available_now"] is breakfast["available_now"]
    cola = body["categories"][2]["items"][0]
    assert (cola["stock"], cola["sold_out"], cola["orderable"]) == (3, False, True)
    problem(client.get(f"/api/stores/{uuid.uuid4()}/menu"), 404, "store_not_found")


def test_an_item_as_its_shelf_code_opens_it(client: TestClient, shop: Shop, built: Built) -> None:  # noqa: F811
    body = client.get(f"/api/stores/{shop.store_id}/items/{built.noodles}").json()
    assert body["name"] == "Beef noodles" and body["category_name"] == "Mains" and body["store_name"].startswith("兰州")
    assert body["shelf_url"].endswith(f"/stores/{shop.store_id}/items/{built.noodles}")
    problem(client.get(f"/api/stores/{shop.other_store_id}/items/{built.noodles}"), 404, "menu_item_not_found")


def test_quote_lines(client: TestClient, shop: Shop, built: Built) -> None:  # noqa: F811
    url = f"/api/stores/{shop.store_id}/quote-lines"
    lines = [
        {"item_id": str(built.noodles), "quantity": 2, "option_ids": [str(built.large), str(built.egg)]},
        {"item_id": str(built.noodles), "quantity": 1, "option_ids": [str(built.small)]},
        {"item_id": str(built.cola), "quantity": 3},
    ]
    body = client.post(url, json={"lines": lines}).json()
    assert [(line["unit_price"], line["line_total"]) for line in body["lines"]] == [(2400, 4800), (1500, 1500),
                                                                                     (500, 1500)]
    assert body["subtotal"] == 7800 and body["currency"] == "CNY" and body["menu_version"] == 8
    assert body["lines"][0]["options"][0] == {"option_id": str(built.large), "group_name": "Size", "name": "Large",
                                              "price_delta": 400}
    problem(client.post(url, json={"lines": []}), 422, "empty_cart")
    problem(client.post(url, json={"lines": [lines[2]] * 51}), 422, "too_many_lines")
    problem(client.post(url, json={"lines": [{**lines[2], "quantity": 0}]}), 422, "invalid_quantity")
    problem(client.post(url, json={"lines": [{**lines[2], "quantity": 1_000_000}]}), 422, "invalid_quantity")
    problem(client.post(url, json={"lines": [{**lines[2], "quantity": "2"}]}), 422, "invalid_request")
    problem(client.post(url, json={"lines": [{**lines[2], "item_id": str(uuid.uuid4())}]}), 422, "unknown_item")
    problem(client.post(url, json={"lines": [{**lines[1], "option_ids": [str(built.small), str(uuid.uuid4())]}]}),
            422, "unknown_option")
    problem(client.post(url, json={"lines": [{**lines[1], "option_ids": [str(built.small)] * 2}]}), 422,
            "duplicate_option")
    body = problem(client.post(url, json={"lines": [{**lines[1], "option_ids": []}]}), 422, "option_picks")
    assert body["group"] == "Size" and body["min_picks"] == 1
    problem(client.post(url, json={"lines": [{**lines[2], "extra": 1}]}), 422, "invalid_request")
    problem(client.post(f"/api/stores/{uuid.uuid4()}/quote-lines", json={"lines": lines}), 404, "store_not_found")


# ----------------------------------------------------------------------------------------------------------------
# The merchant's catalogue


def test_the_owner_builds_a_menu_through_the_api(client: TestClient, shop: Shop, owner: dict) -> None:  # noqa: F811
    r = client.post(merchant(shop, "/categories"), json={"name": "早餐", "available_windows": [["06:00", "10:30"]]},
                    headers=owner)
    assert r.status_code == 201, r.text
    category = r.json()
    assert category["available_windows"] == [["06:00", "10:30"]] and category["items"] == []
    r = client.post(merchant(shop, "/items"), headers=owner,
                    json={"category_id": category["id"], "name": "煎饼果子", "price": 800, "image": "🌯"})
    assert r.status_code == 201, r.text
    item = r.json()
    r = client.post(merchant(shop, f"/items/{item['id']}/option-groups"), headers=owner, json={
        "name": "加料", "min_picks": 0, "max_picks": 2,
        "options": [{"name": "加蛋", "price_delta": 150}, {"name": "加肠", "price_delta": 300}],
    })
    assert r.status_code == 201, r.text
    group = r.json()
    assert [o["name"] for o in group["options"]] == ["加蛋", "加肠"]
    r = client.post(merchant(shop, f"/option-groups/{group['id']}/options"), headers=owner,
                    json={"name": "加薄脆", "price_delta": 100})
    assert r.status_code == 201 and r.json()["position"] == 2
    option = r.json()
    assert client.patch(merchant(shop, f"/options/{option['id']}"), headers=owner,
                        json={"price_delta": 120}).json()["price_delta"] == 120
    assert client.patch(merchant(shop, f"/option-groups/{group['id']}"), headers=owner,
                        json={"max_picks": 3}).json()["max_picks"] == 3
    r = client.patch(merchant(shop, f"/items/{item['id']}"), headers=owner,
                     json={"price": 900, "description": "现摊", "available_windows": None})
    assert (r.json()["price"], r.json()["description"]) == (900, "现摊")
    r = client.put(merchant(shop, f"/option-groups/{group['id']}/options/order"), headers=owner,
                   json={"ids": [option["id"], *[o["id"] for o in group["options"]]]})
    assert [o["name"] for o in r.json()["options"]] == ["加薄脆", "加蛋", "加肠"]
    r = client.put(merchant(shop, "/categories/order"), headers=owner, json={"ids": [category["id"]]})
    assert r.status_code == 200 and r.json()["categories"][0]["items"][0]["price"] == 900
    assert client.patch(merchant(shop, f"/categories/{category['id']}"), headers=owner,
                        json={"name": "早点"}).json()["name"] == "早点"
    assert client.delete(merchant(shop, f"/options/{option['id']}"), headers=owner).status_code == 204
    assert client.delete(merchant(shop, f"/option-groups/{group['id']}"), headers=owner).status_code == 204
    assert client.delete(merchant(shop, f"/items/{item['id']}"), headers=owner).status_code == 204
    assert client.delete(merchant(shop, f"/categories/{category['id']}"), headers=owner).status_code == 204
    assert client.get(f"/api/stores/{shop.store_id}/menu").json()["categories"] == []


def test_settings_and_labels(client: TestClient, shop: Shop, owner: dict, built: Built) -> None:  # noqa: F811
    r = client.patch(merchant(shop, "/settings"), headers=owner,
                     json={"accepting_orders": False, "min_order": 2000, "packaging_fee": 100})
    assert r.status_code == 200, r.text
    assert (r.json()["accepting_orders"], r.json()["min_order"], r.json()["catalogue_version"]) == (False, 2000, 9)
    detail = client.get(f"/api/stores/{shop.store_id}").json()
    assert detail["accepting_orders"] is False and detail["delivery"]["min_order"] == 2000
    assert client.get(merchant(shop, "/settings"), headers=owner).json()["packaging_fee"] == 100
    labels = client.get(merchant(shop, "/labels"), headers=owner).json()
    assert [label["name"] for label in labels] == ["Beef noodles", "Jianbing", "Cola"]
    svg = client.get(labels[0]["qr_svg_url"].split("8000", 1)[-1])
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert svg.text.lstrip().startswith("<?xml") or "<svg" in svg.text


# ----------------------------------------------------------------------------------------------------------------
# Who may do what


def test_who_may_edit_and_who_may_switch_sold_out(client: TestClient, db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    edit = ("patch", merchant(shop, f"/items/{built.cola}"), {"price": 700})
    switch = ("put", merchant(shop, f"/items/{built.cola}/sold-out"), {"sold_out": True})
    option_switch = ("put", merchant(shop, f"/options/{built.beef}/sold-out"), {"sold_out": True})
    settings = ("patch", merchant(shop, "/settings"), {"accepting_orders": False})

    def call(who: uuid.UUID | None, request: tuple[str, str, dict]) -> int:
        method, url, body = request
        headers = bearer(client, db, who) if who else {}
        return getattr(client, method)(url, json=body, headers=headers).status_code

    before = snapshot(db)
    assert call(None, edit) == 401 and call(None, switch) == 401
    assert call(shop.customer_id, edit) == 403 and call(shop.customer_id, switch) == 403
    assert call(shop.customer_id, settings) == 403
    assert call(shop.other_staff_id, switch) == 403 and call(shop.other_staff_id, option_switch) == 403
    assert call(shop.other_staff_id, edit) == 403
    assert call(shop.staff_id, edit) == 403 and call(shop.staff_id, settings) == 403
    assert snapshot(db) == before
    assert call(shop.staff_id, switch) == 200 and call(shop.staff_id, option_switch) == 200
    assert call(shop.owner_id, edit) == 200 and call(shop.operator_id, settings) == 200
    assert call(shop.operator_id, switch) == 200  # operators manage the city's stores
    body = client.get(f"/api/stores/{shop.store_id}/items/{built.cola}").json()
    assert (body["price"], body["sold_out"], body["orderable"]) == (700, True, False)
    r = client.get(f"/api/merchant/stores/{uuid.uuid4()}/labels", headers=bearer(client, db, shop.owner_id))
    problem(r, 404, "store_not_found")


def test_a_cookie_session_needs_the_csrf_token(client: TestClient, db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    sign_in(client, db, shop.owner_id)
    before = snapshot(db)
    problem(client.patch(merchant(shop, f"/items/{built.cola}"), json={"price": 700}), 403, "csrf_failed")
    assert snapshot(db) == before


# ----------------------------------------------------------------------------------------------------------------
# Bad input changes nothing

BAD = [
    ("post", "/categories", {"name": ""}, 422, "invalid_name"),
    ("post", "/categories", {"name": "Mains"}, 409, "duplicate_name"),
    ("post", "/categories", {"name": "Late", "available_windows": [["22:00"]]}, 422, "invalid_windows"),
    ("post", "/categories", {"name": "Late", "colour": "red"}, 422, "invalid_request"),
    ("patch", "/categories/{mains}", {}, 422, "nothing_to_change"),
    ("patch", "/categories/{random}", {"name": "X"}, 404, "menu_category_not_found"),
    ("delete", "/categories/{drinks}", None, 409, "category_not_empty"),
    ("put", "/categories/order", {"ids": ["{mains}"]}, 422, "invalid_order"),
    ("post", "/items", {"category_id": "{random}", "name": "X", "price": 1}, 422, "unknown_menu_category"),
    ("post", "/items", {"category_id": "{mains}", "name": "X", "price": -1}, 422, "invalid_price"),
    ("post", "/items", {"category_id": "{mains}", "name": "X", "price": "12"}, 422, "invalid_request"),
    ("post", "/items", {"category_id": "{mains}", "name": "X", "price": 1, "image": "x" * 17}, 422, "invalid_image"),
    ("post", "/items", {"category_id": "{mains}", "name": "beef NOODLES", "price": 1}, 409, "duplicate_name"),
    ("patch", "/items/{noodles}", {"price": 100}, 409, "unit_price_below_zero"),
    ("patch", "/items/{noodles}", {"name": None}, 422, "invalid_name"),
    ("patch", "/items/{random}", {"price": 100}, 404, "menu_item_not_found"),
    ("delete", "/items/{random}", None, 404, "menu_item_not_found"),
    ("put", "/items/{noodles}/sold-out", {"sold_out": "maybe"}, 422, "invalid_request"),
    ("post", "/items/{noodles}/option-groups", {"name": "Spice", "min_picks": 2, "max_picks": 1}, 422, "invalid_picks"),
    ("post", "/items/{noodles}/option-groups",
     {"name": "Deal", "options": [{"name": "Free", "price_delta": -2000}]}, 409, "unit_price_below_zero"),
    ("patch", "/option-groups/{size}", {"min_picks": 5}, 422, "invalid_picks"),
    ("delete", "/option-groups/{random}", None, 404, "option_group_not_found"),
    ("post", "/option-groups/{size}/options", {"name": "Large"}, 409, "duplicate_name"),
    ("post", "/option-groups/{size}/options", {"name": "XL", "price_delta": 2_000_000}, 422, "invalid_price_delta"),
    ("patch", "/options/{small}", {"price_delta": -5000}, 409, "unit_price_below_zero"),
    ("patch", "/options/{random}", {"name": "X"}, 404, "option_not_found"),
    ("put", "/option-groups/{size}/options/order", {"ids": ["{small}", "{small}"]}, 422, "invalid_order"),
    ("patch", "/settings", {"delivery_radius_m": 50}, 422, "invalid_delivery_radius"),
    ("patch", "/settings", {"min_order": -100}, 422, "invalid_fee"),
    ("patch", "/settings", {"prep_minutes": 1000}, 422, "invalid_prep_minutes"),
    ("patch", "/settings", {"opening_hours": {"someday": []}}, 422, "invalid_opening_hours"),
    ("patch", "/settings", {"delivery_area": {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 0]]]}},
     422, "invalid_delivery_area"),
    ("patch", "/settings", {"accepting_orders": None}, 422, "invalid_accepting_orders"),
    ("patch", "/settings", {}, 422, "nothing_to_change"),
]


def test_bad_input_is_a_problem_and_changes_nothing(
    client: TestClient, db: Database, shop: Shop, built: Built, owner: dict  # noqa: F811
) -> None:
    """Each case of ``BAD`` on the same catalogue (one app for all: they change nothing, so they cannot interfere)."""
    names = {"mains": built.mains, "drinks": built.drinks, "noodles": built.noodles, "size": built.size,
             "small": built.small, "random": uuid.uuid4()}

    def fill(value):  # type: ignore[no-untyped-def]
        if isinstance(value, str):
            return value.format(**names)
        if isinstance(value, list):
            return [fill(v) for v in value]
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        return value

    before = snapshot(db)
    for method, path, body, status, code in BAD:
        kwargs = {"headers": owner} if body is None else {"headers": owner, "json": fill(body)}
        response = client.request(method.upper(), merchant(shop, path.format(**names)), **kwargs)
        assert (response.status_code, response.json().get("code")) == (status, code), (method, path, response.text)
        assert response.headers["content-type"].startswith(PROBLEM)
        assert snapshot(db) == before, (method, path)


def test_a_retried_create_with_its_key_makes_one_item(client: TestClient, db: Database, shop: Shop, built: Built,  # noqa: F811
                                                      owner: dict) -> None:
    headers = owner | {"Idempotency-Key": "add-wontons-1"}
    body = {"category_id": str(built.mains), "name": "Wontons", "price": 1600}
    first = client.post(merchant(shop, "/items"), json=body, headers=headers)
    again = client.post(merchant(shop, "/items"), json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true" and again.json()["id"] == first.json()["id"]
    names = [i["name"] for i in client.get(f"/api/stores/{shop.store_id}/menu").json()["categories"][0]["items"]]
    assert names == ["Beef noodles", "Wontons"]


def test_every_stores_route_is_documented(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert any(tag["name"] == "stores" for tag in document["tags"])
    routes = [(path, method, op) for path, ops in document["paths"].items() for method, op in ops.items()
              if "stores" in op.get("tags", [])]
    assert len(routes) >= 25
    for path, method, op in routes:
        assert op.get("summary"), (method, path)
        assert any(str(status).startswith("4") for status in op["responses"]), (method, path)
    quote = document["paths"]["/api/stores/{store_id}/quote-lines"]["post"]
    assert "option_picks" in quote["responses"]["422"]["description"]
    assert "item_sold_out" in quote["responses"]["409"]["description"]
