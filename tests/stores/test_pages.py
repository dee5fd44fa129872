"""The store pages through HTTP on both databases: the customer's store and item pages (menu, options, sold-out and
breakfast states, stock, the "Add to cart" form), the merchant's console (who may open it, each form, refusals that
change nothing) and the printable shelf labels. The helpers that read what people type are tested pure."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from o2o.db import Database
from o2o.errors import AppError
from o2o.kit.time import frozen_clock
from o2o.stores import catalogue, stock
from o2o.stores.models import MenuCategory, MenuItem, MenuOption, MenuOptionGroup, Store
from o2o.stores.pages import parse_delta, parse_option_lines, parse_windows_text
from tests.stores.catalogue_helpers import STORE_AT, Built, Shop, build_menu, shop, sign_in, snapshot  # noqa: F401

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
NOON = dt.datetime(2025, 3, 3, 4, 0, tzinfo=dt.UTC)  # 12:00 in Beijing
BREAKFAST_TIME = dt.datetime(2025, 3, 3, 0, 0, tzinfo=dt.UTC)  # 08:00 in Beijing


@pytest.fixture
def built(db: Database, shop: Shop) -> Built:  # noqa: F811
    return build_menu(db, shop.store_id)


def csrf_of(html: str) -> str:
    match = _CSRF.search(html)
    assert match, html[:500]
    return match.group(1)


def item_card(html: str, item_id: object) -> str:
    start = html.index(f'data-item-id="{item_id}"')
    return html[start : html.find("</li>", start) if "</li>" in html[start:] else len(html)]


# ----------------------------------------------------------------------------------------------------------------
# What people type


def test_typed_windows_prices_and_options() -> None:
    assert parse_windows_text("6:30-10:30, 17:00–20:00") == [["06:30", "10:30"], ["17:00", "20:00"]]
    assert parse_windows_text("  ") is None
    assert parse_windows_text("06:30至10:30") == [["06:30", "10:30"]]
    with pytest.raises(AppError) as caught:
        parse_windows_text("breakfast")
    assert caught.value.code == "invalid_windows"
    assert [parse_delta(t, "CNY") for t in ("+3", "-2.5", "", "０.５", "－1")] == [300, -250, 0, 50, -100]
    with pytest.raises(AppError):
        parse_delta("+x", "CNY")
    assert parse_option_lines("小份 -2\n标准\n\n大份：+3.5\nExtra hot, +1", "CNY") == [
        {"name": "小份", "price_delta": -200}, {"name": "标准", "price_delta": 0}, {"name": "大份", "price_delta": 350},
        {"name": "Extra hot", "price_delta": 100},
    ]


# ----------------------------------------------------------------------------------------------------------------
# The customer's pages


def test_the_store_page_shows_terms_and_the_menu(client: TestClient, db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    with db.session() as s:
        catalogue.set_item_sold_out(s, shop.store_id, built.cola, True)
        catalogue.update_settings(s, shop.store_id, {"min_order": 2000, "packaging_fee": 150})
    with frozen_clock(NOON):
        html = client.get(f"/stores/{shop.store_id}", headers={"accept-language": "en"}).text
    assert "兰州拉面（王府井店）" in html and "Open now" in html and "★ 4.6" in html
    assert "¥20.00" in html and "¥1.50 per order" in html and "within 3 km" in html
    noodles = item_card(html, built.noodles)
    assert "¥18.00" in noodles and 'action="/cart/add"' in noodles
    for field in ('name="store_id"', 'name="item_id"', 'name="quantity"', 'name="csrf_token"', 'name="option_id"'):
        assert field in noodles
    assert '<select id="opt-' in noodles  # the required size: one choice
    assert 'type="checkbox" name="option_id"' in noodles  # the extras: up to two
    assert "Small −¥3.00" in noodles and "Large +¥4.00" in noodles
    cola = item_card(html, built.cola)
    assert 'data-sold-out="true"' in cola and 'data-testid="sold-out"' in cola and "disabled" in cola
    pancake = item_card(html, built.pancake)
    assert "Offered 06:30–10:30" in pancake and "Not offered now" in pancake
    with frozen_clock(BREAKFAST_TIME):
        pancake = item_card(client.get(f"/stores/{shop.store_id}").text, built.pancake)
    assert "Not offered now" not in pancake and 'data-testid="add-to-cart">Add to cart' in pancake


def test_the_distance_to_an_address_and_a_paused_store(client: TestClient, db: Database, shop: Shop,  # noqa: F811
                                                       built: Built) -> None:
    html = client.get(f"/stores/{shop.store_id}", params={"lat": STORE_AT[0] + 0.01, "lng": STORE_AT[1]}).text
    assert "1.1 km" in html and "delivers to you for ¥3.00" in html
    far = client.get(f"/stores/{shop.store_id}", params={"lat": STORE_AT[0] + 0.05, "lng": STORE_AT[1]}).text
    assert "outside the delivery area" in far
    with db.session() as s:
        catalogue.update_settings(s, shop.store_id, {"accepting_orders": False})
    html = client.get(f"/stores/{shop.store_id}").text
    assert 'data-testid="paused"' in html and "Orders paused" in item_card(html, built.noodles)


def test_missing_stores_and_items(client: TestClient, shop: Shop, built: Built) -> None:  # noqa: F811
    for url in ("/stores/nope", f"/stores/{built.noodles}", f"/stores/{shop.store_id}/items/nope",
                f"/stores/{shop.other_store_id}/items/{built.noodles}", f"/stores/{shop.store_id}/items/x/qr.svg"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert 'data-testid="notice"' in response.text


def test_the_item_page_shows_this_shops_stock(client: TestClient, db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    with db.session() as s:
        stock.set_on_hand(s, city_id=shop.city_id, store_id=shop.store_id, item_id=built.cola, on_hand=4)
    html = client.get(f"/stores/{shop.store_id}/items/{built.cola}").text
    assert "4 left here" in html and 'data-testid="reserve"' in html and 'value="click_collect"' in html
    html = client.get(f"/stores/{shop.store_id}/items/{built.noodles}").text
    assert "In stock" in html and "Hand-pulled" in html and "兰州拉面" in html
    with db.session() as s:
        stock.set_on_hand(s, city_id=shop.city_id, store_id=shop.store_id, item_id=built.cola, on_hand=0)
    html = client.get(f"/stores/{shop.store_id}/items/{built.cola}").text
    assert "Sold out here" in html and 'data-testid="reserve"' not in html
    with frozen_clock(NOON):
        html = client.get(f"/stores/{shop.store_id}/items/{built.pancake}").text
    assert "Offered 06:30–10:30" in html and "next tomorrow at 06:30" in html
    svg = client.get(f"/stores/{shop.store_id}/items/{built.cola}/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml" and "<svg" in svg.text


# ----------------------------------------------------------------------------------------------------------------
# The merchant's console


def console(shop: Shop, path: str = "") -> str:  # noqa: F811
    return f"/merchant/stores/{shop.store_id}/catalogue{path}"


def test_who_may_open_the_console(client: TestClient, db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    first = client.get(console(shop), follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == f"/signin?next={console(shop)}"
    sign_in(client, db, shop.customer_id)
    assert client.get(console(shop)).status_code == 403
    sign_in(client, db, shop.other_staff_id)
    assert client.get(console(shop)).status_code == 403
    sign_in(client, db, shop.staff_id)
    html = client.get(console(shop)).text
    assert 'data-testid="toggle-sold-out"' in html and 'data-testid="price-form"' not in html
    assert 'data-testid="settings-form"' not in html
    sign_in(client, db, shop.owner_id)
    html = client.get(console(shop)).text
    assert html.count('data-testid="console-item"') == 3 and 'data-testid="price-form"' in html
    assert 'data-testid="settings-form"' in html and 'data-testid="labels-link"' in html


def test_staff_flip_the_sold_out_switch_but_may_not_edit(client: TestClient, db: Database, shop: Shop,  # noqa: F811
                                                         built: Built) -> None:
    sign_in(client, db, shop.staff_id)
    token = csrf_of(client.get(console(shop)).text)
    r = client.post(console(shop, f"/items/{built.cola}/sold-out"), data={"sold_out": "1", "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"?saved=sold_out#item-{built.cola}")
    r = client.post(console(shop, f"/options/{built.beef}/sold-out"),
                    data={"sold_out": "1", "item_id": str(built.noodles), "csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    with db.sessionmaker() as s:
        assert s.get(MenuItem, built.cola).sold_out and s.get(MenuOption, built.beef).sold_out
    before = snapshot(db)
    r = client.post(console(shop, f"/items/{built.cola}/price"), data={"price": "1", "csrf_token": token})
    assert r.status_code == 403 and snapshot(db) == before
    assert "Marked sold out." in client.get(console(shop) + "?saved=sold_out").text


def test_the_owners_forms(client: TestClient, db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    sign_in(client, db, shop.owner_id)
    token = csrf_of(client.get(console(shop)).text)

    def post(path: str, **data: str):  # type: ignore[no-untyped-def]
        return client.post(console(shop, path), data={**data, "csrf_token": token}, follow_redirects=False)

    assert post(f"/items/{built.noodles}/price", price="¥19.50").status_code == 303
    assert post("/categories", name="夜宵", windows="22:00-02:00").status_code == 303
    with db.sessionmaker() as s:
        late = s.scalars(select(MenuCategory).where(MenuCategory.name == "夜宵")).one()
        assert s.get(MenuItem, built.noodles).price == 1950 and late.available_windows == '[["22:00","02:00"]]'
    assert post("/items", category_id=str(late.id), name="烤串", price="3", image="🍢", windows="").status_code == 303
    with db.sessionmaker() as s:
        skewer = s.scalars(select(MenuItem).where(MenuItem.name == "烤串")).one()
        assert (skewer.price, skewer.image, skewer.category_id) == (300, "🍢", late.id)
    r = post(f"/items/{skewer.id}/option-groups", name="辣度", min_picks="1", max_picks="1", options="不辣\n特辣 +0.5")
    assert r.status_code == 303
    with db.sessionmaker() as s:
        group = s.scalars(select(MenuOptionGroup).where(MenuOptionGroup.item_id == skewer.id)).one()
    assert post(f"/option-groups/{group.id}/options", name="变态辣", price_delta="+1", item_id=str(skewer.id)).status_code == 303
    with db.sessionmaker() as s:
        options = s.scalars(select(MenuOption).where(MenuOption.group_id == group.id).order_by(MenuOption.position)).all()
    assert [(o.name, o.price_delta) for o in options] == [("不辣", 0), ("特辣", 50), ("变态辣", 100)]
    r = post("/settings", delivery_radius_m="4000", min_order="25", packaging_fee="1.5", delivery_base_fee="4",
             delivery_base_m="2000", delivery_fee_per_km="1", prep_minutes="20")  # no accepting_orders: paused
    assert r.status_code == 303
    with db.sessionmaker() as s:
        store = s.get(Store, shop.store_id)
    assert (store.delivery_radius_m, store.min_order, store.packaging_fee, store.delivery_base_fee,
            store.delivery_base_m, store.delivery_fee_per_km, store.prep_minutes, store.accepting_orders) == (
        4000, 2500, 150, 400, 2000, 100, 20, False)
    assert post(f"/items/{built.cola}/archive").status_code == 303
    with db.sessionmaker() as s:
        assert s.get(MenuItem, built.cola).archived


REFUSED_FORMS = [
    ("/items/{noodles}/price", {"price": "abc"}, 422, "invalid_price", "Enter a price such as"),
    ("/items/{noodles}/price", {"price": "1"}, 409, "unit_price_below_zero", "less than nothing"),
    ("/categories", {"name": "Mains"}, 409, "duplicate_name", "already used"),
    ("/categories", {"name": "Late", "windows": "late at night"}, 422, "invalid_windows", "06:30-10:30"),
    ("/items", {"category_id": "{mains}", "name": "", "price": "3"}, 422, "invalid_name", "1 to 60"),
    ("/items", {"category_id": "nope", "name": "X", "price": "3"}, 422, "unknown_menu_category", "categories"),
    ("/items/{noodles}/option-groups", {"name": "S", "min_picks": "2", "max_picks": "x"}, 422, "invalid_picks", "picks"),
    ("/items/{noodles}/option-groups", {"name": "Deal", "min_picks": "0", "max_picks": "1", "options": "Free -50"},
     409, "unit_price_below_zero", "less than nothing"),
    ("/settings", {"delivery_radius_m": "5", "min_order": "0", "packaging_fee": "0", "delivery_base_fee": "3",
                   "delivery_base_m": "3000", "delivery_fee_per_km": "1", "prep_minutes": "10"}, 422,
     "invalid_delivery_radius", "between 100 and 20000"),
    ("/settings", {"delivery_radius_m": "3000", "min_order": "lots", "packaging_fee": "0",
                   "delivery_base_fee": "3", "delivery_base_m": "3000", "delivery_fee_per_km": "1",
                   "prep_minutes": "10"}, 422, "invalid_fee", "minimum order"),
]


def test_refused_forms_say_why_and_change_nothing(client: TestClient, db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    sign_in(client, db, shop.owner_id)
    token = csrf_of(client.get(console(shop)).text)
    names = {"noodles": built.noodles, "mains": built.mains}
    before = snapshot(db)
    for path, data, status, code, words in REFUSED_FORMS:
        r = client.post(console(shop, path.format(**names)),
                        data={k: v.format(**names) for k, v in data.items()} | {"csrf_token": token},
                        headers={"accept-language": "en"})
        assert r.status_code == status, (path, code)
        assert f'data-code="{code}"' in r.text and words in r.text, (path, code)
        assert snapshot(db) == before, (path, code)


def test_a_form_without_its_token_changes_nothing(client: TestClient, db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    sign_in(client, db, shop.owner_id)
    client.get(console(shop))
    before = snapshot(db)
    r = client.post(console(shop, f"/items/{built.cola}/sold-out"), data={"sold_out": "1", "csrf_token": "forged"})
    assert r.status_code == 403 and 'data-code="csrf_failed"' in r.text
    assert snapshot(db) == before


def test_printable_shelf_labels(client: TestClient, db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    assert client.get(f"/merchant/stores/{shop.store_id}/labels", follow_redirects=False).status_code == 303
    sign_in(client, db, shop.staff_id)
    html = client.get(f"/merchant/stores/{shop.store_id}/labels").text
    assert html.count('data-testid="label"') == 3 and html.count("<svg") == 3
    assert f'data-url="{client.app.state.settings.base_url}/stores/{shop.store_id}/items/{built.noodles}"' in html
    assert "from" in html and "¥15.00" in html  # the noodles' cheapest size
    assert "window.print()" in html
