"""The catalogue service on SQLite and PostgreSQL: the menu in a fixed number of queries, pricing at the city's
local time, delivery terms, every edit with its refusals (each changing nothing), the rule that no pick of options
makes a unit price negative, positions, the store's settings, and stock shown beside the menu."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import event, select

from o2o.db import Database
from o2o.errors import AppError
from o2o.stores import catalogue, menu, stock
from o2o.stores.models import MenuCategory, MenuItem, MenuOption, Store
from tests.stores.catalogue_helpers import STORE_AT, Built, Shop, build_menu, shop, snapshot  # noqa: F401

UTC = dt.UTC


@contextlib.contextmanager
def count_queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if not statement.startswith("BEGIN"):  # SQLite's BEGIN IMMEDIATE is not a query
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", record)


def refused(db: Database, code: str, fn, *args, **kwargs) -> AppError:  # type: ignore[no-untyped-def]
    """Run one edit in its own unit of work; it must be refused with ``code`` and leave every row as it was."""
    before = snapshot(db)
    with pytest.raises(AppError) as caught, db.session() as s:
        fn(s, *args, **kwargs)
    assert caught.value.code == code, caught.value.detail
    assert snapshot(db) == before
    return caught.value


@pytest.fixture
def built(db: Database, shop: Shop) -> Built:  # noqa: F811
    return build_menu(db, shop.store_id)


# ----------------------------------------------------------------------------------------------------------------
# Reading


def test_the_menu_comes_in_order_with_its_options(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    with db.sessionmaker() as s:
        m = catalogue.load_menu(s, shop.store_id)
    assert [c.name for c in m.categories] == ["Mains", "Breakfast", "Drinks"]
    assert [m.items[i].name for i in m.categories[0].item_ids] == ["Beef noodles"]
    noodles = m.items[built.noodles]
    assert [(g.name, g.min_picks, g.max_picks) for g in noodles.groups] == [("Size", 1, 1), ("Extras", 0, 2)]
    assert [(o.name, o.price_delta) for o in noodles.groups[0].options] == [("Small", -300), ("Large", 400)]
    assert (noodles.image, noodles.description) == ("🍜", "Hand-pulled")
    assert m.categories[1].windows is not None and menu.window_pairs(m.categories[1].windows) == [["06:30", "10:30"]]
    assert (m.currency, m.timezone) == ("CNY", "Asia/Shanghai")
    assert m.version == 8  # one bump per edit of build_menu (3 categories, 3 items, 2 groups)


def test_the_menu_loads_in_five_queries_whatever_its_size(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    with db.sessionmaker() as s, count_queries(db) as small:
        catalogue.load_menu(s, shop.store_id)
    with db.session() as s:
        for n in range(25):
            item = catalogue.create_item(s, shop.store_id, category_id=built.drinks, name=f"Soda {n}", price=300)
            catalogue.create_option_group(s, shop.store_id, item.id, name="Ice", options=[{"name": "No ice"}])
    with db.sessionmaker() as s, count_queries(db) as large:
        m = catalogue.load_menu(s, shop.store_id)
    assert len(m.items) == 28
    assert len(small) == len(large) == 5


def test_a_store_that_does_not_exist(db: Database, shop: Shop) -> None:  # noqa: F811
    with db.sessionmaker() as s:
        for fn in (catalogue.load_menu, catalogue.delivery_terms, catalogue.store_city):
            with pytest.raises(AppError) as caught:
                fn(s, uuid.uuid4())
            assert (caught.value.code, caught.value.status) == ("store_not_found", 404)


def test_pricing_uses_the_citys_local_time(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    lines = [menu.LineRequest(built.pancake, 2), menu.LineRequest(built.noodles, 1, (built.large, built.egg))]
    seven_in_beijing = dt.datetime(2025, 3, 2, 23, 0, tzinfo=UTC)  # 07:00 the next morning in Beijing
    with db.sessionmaker() as s:
        priced = catalogue.price_cart(s, shop.store_id, lines, at=seven_in_beijing)
        assert [p.line_total for p in priced] == [1600, 2400]
        with pytest.raises(AppError) as caught:
            catalogue.price_cart(s, shop.store_id, lines, at=dt.datetime(2025, 3, 3, 3, 0, tzinfo=UTC))  # 11:00
        assert caught.value.code == "item_unavailable_now"
        with pytest.raises(AppError) as caught:
            catalogue.price_cart(s, shop.other_store_id, lines, at=seven_in_beijing)
        assert caught.value.code == "unknown_item"  # another store's item


def test_delivery_terms_follow_the_store(db: Database, shop: Shop) -> None:  # noqa: F811
    with db.sessionmaker() as s:
        terms = catalogue.delivery_terms(s, shop.store_id)
    assert (terms.radius_m, terms.min_order, terms.packaging_fee, terms.base_fee, terms.base_m, terms.per_km_fee) == (
        3000, 0, 0, 300, 3000, 100
    )
    assert (terms.lat, terms.lng, terms.accepting_orders, terms.prep_minutes) == (*STORE_AT, True, 12)
    assert (terms.currency, terms.timezone, terms.area) == ("CNY", "Asia/Shanghai", None)
    assert terms.covers(*STORE_AT)


def test_stock_shows_beside_the_menu(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    with db.session() as s:
        stock.set_on_hand(s, city_id=shop.city_id, store_id=shop.store_id, item_id=built.cola, on_hand=2)
    with db.sessionmaker() as s:
        view = catalogue.menu_view(s, shop.store_id, at=dt.datetime(2025, 3, 3, 4, 0, tzinfo=UTC))
    m = view.menu
    assert view.units_left(m.items[built.cola]) == 2
    assert view.units_left(m.items[built.noodles]) is None  # not counted: unlimited
    assert view.orderable(m.items[built.cola]) and not view.orderable(m.items[built.pancake])  # 12:00: no breakfast
    with db.session() as s:
        stock.set_on_hand(s, city_id=shop.city_id, store_id=shop.store_id, item_id=built.cola, on_hand=0)
    with db.sessionmaker() as s:
        view = catalogue.menu_view(s, shop.store_id)
    assert view.sold_out(view.menu.items[built.cola]) and not view.orderable(view.menu.items[built.cola])


def test_shelf_labels_point_at_the_items_page(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    with db.sessionmaker() as s:
        labels = catalogue.shelf_labels(s, shop.store_id, "https://o2o.example/")
    assert [(label.name, label.price, label.from_price) for label in labels] == [
        ("Beef noodles", 1500, True), ("Jianbing", 800, False), ("Cola", 500, False)
    ]
    assert labels[0].url == f"https://o2o.example/stores/{shop.store_id}/items/{built.noodles}"


# ----------------------------------------------------------------------------------------------------------------
# Categories


def test_categories_are_unique_by_name_and_numbered_in_order(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    refused(db, "duplicate_name", catalogue.create_category, shop.store_id, name="  mains ")
    refused(db, "invalid_name", catalogue.create_category, shop.store_id, name="   ")
    refused(db, "invalid_name", catalogue.create_category, shop.store_id, name="x" * 41)
    refused(db, "invalid_windows", catalogue.create_category, shop.store_id, name="Late", available_windows=[["25:00", "02:00"]])
    refused(db, "store_not_found", catalogue.create_category, uuid.uuid4(), name="Late")
    with db.session() as s:
        late = catalogue.create_category(s, shop.store_id, name="  Late   night ", available_windows=[["22:00", "02:00"]])
        catalogue.create_category(s, shop.other_store_id, name="Mains")  # another store may use the name
    assert (late.name, late.position, late.available_windows) == ("Late night", 3, '[["22:00","02:00"]]')
    with db.session() as s:
        catalogue.update_category(s, shop.store_id, late.id, {"available_windows": None, "name": "Night"})
    with db.sessionmaker() as s:
        category = s.get(MenuCategory, late.id)
        assert (category.name, category.available_windows) == ("Night", None)
    refused(db, "duplicate_name", catalogue.update_category, shop.store_id, late.id, {"name": "DRINKS"})
    refused(db, "nothing_to_change", catalogue.update_category, shop.store_id, late.id, {})
    refused(db, "menu_category_not_found", catalogue.update_category, shop.other_store_id, late.id, {"name": "X"})


def test_only_an_empty_category_is_archived(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    error = refused(db, "category_not_empty", catalogue.archive_category, shop.store_id, built.drinks)
    assert error.status == 409 and error.extra["items"] == 1
    with db.session() as s:
        catalogue.archive_item(s, shop.store_id, built.cola)
        catalogue.archive_category(s, shop.store_id, built.drinks)
    with db.sessionmaker() as s:
        m = catalogue.load_menu(s, shop.store_id)
        assert [c.name for c in m.categories] == ["Mains", "Breakfast"]
        assert built.cola not in m.items
        assert s.get(MenuItem, built.cola).archived  # kept for the orders that point at it
    refused(db, "menu_category_not_found", catalogue.archive_category, shop.store_id, built.drinks)
    with db.session() as s:  # the name is free again
        catalogue.create_category(s, shop.store_id, name="Drinks")


def test_reordering_needs_every_id_once(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    refused(db, "invalid_order", catalogue.reorder_categories, shop.store_id, [built.drinks, built.mains])
    refused(db, "invalid_order", catalogue.reorder_categories, shop.store_id,
            [built.drinks, built.mains, built.mains, built.breakfast])
    refused(db, "invalid_order", catalogue.reorder_categories, shop.store_id,
            [built.drinks, built.mains, uuid.uuid4()])
    with db.session() as s:
        catalogue.reorder_categories(s, shop.store_id, [built.drinks, built.mains, built.breakfast])
        second = catalogue.create_item(s, shop.store_id, category_id=built.mains, name="Fried rice", price=1600)
        catalogue.reorder_items(s, shop.store_id, built.mains, [second.id, built.noodles])
        catalogue.reorder_option_groups(s, shop.store_id, built.noodles, [built.extras, built.size])
        catalogue.reorder_options(s, shop.store_id, built.size, [built.large, built.small])
    with db.sessionmaker() as s:
        m = catalogue.load_menu(s, shop.store_id)
    assert [c.name for c in m.categories] == ["Drinks", "Mains", "Breakfast"]
    assert [m.items[i].name for i in m.categories[1].item_ids] == ["Fried rice", "Beef noodles"]
    assert [g.name for g in m.items[built.noodles].groups] == ["Extras", "Size"]
    assert [o.name for o in m.items[built.noodles].groups[1].options] == ["Large", "Small"]
    refused(db, "invalid_order", catalogue.reorder_options, shop.store_id, built.size, [built.large])


# ----------------------------------------------------------------------------------------------------------------
# Items


BAD_ITEM_FIELDS = [
    ("name", "", "invalid_name"),
    ("name", "x" * 61, "invalid_name"),
    ("name", "bad\x00name", "invalid_name"),
    ("name", 42, "invalid_name"),
    ("price", -1, "invalid_price"),
    ("price", 1_000_001, "invalid_price"),
    ("price", 12.5, "invalid_price"),
    ("price", True, "invalid_price"),
    ("price", "1200", "invalid_price"),
    ("description", "d" * 501, "invalid_description"),
    ("image", "🍜" * 17, "invalid_image"),
    ("available_windows", [["10:00"]], "invalid_windows"),
    ("available_windows", "06:30-10:30", "invalid_windows"),
    ("sold_out", "yes", "invalid_sold_out"),
]


def test_a_bad_item_field_is_refused_by_its_code(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    for field, value, code in BAD_ITEM_FIELDS:
        fields = {"category_id": built.mains, "name": "Wontons", "price": 1500} | {field: value}
        assert refused(db, code, catalogue.create_item, shop.store_id, **fields).status == 422
        refused(db, code, catalogue.update_item, shop.store_id, built.noodles, {field: value})


def test_items_refer_to_their_own_stores_categories(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    refused(db, "unknown_menu_category", catalogue.create_item, shop.other_store_id, category_id=built.mains,
            name="Wontons", price=1500)
    refused(db, "duplicate_name", catalogue.create_item, shop.store_id, category_id=built.mains,
            name="BEEF NOODLES", price=1500)
    refused(db, "menu_item_not_found", catalogue.update_item, shop.other_store_id, built.noodles, {"price": 1})
    refused(db, "unknown_menu_category", catalogue.update_item, shop.store_id, built.noodles,
            {"category_id": uuid.uuid4()})
    with db.session() as s:  # the same name in another category is fine; a move goes to the end of the list
        catalogue.create_item(s, shop.store_id, category_id=built.drinks, name="Beef noodles", price=100)
    refused(db, "duplicate_name", catalogue.update_item, shop.store_id, built.noodles, {"category_id": built.drinks})
    with db.session() as s:
        item = catalogue.update_item(s, shop.store_id, built.pancake, {"category_id": built.drinks, "image": "🫓",
                                                                      "available_windows": [["06:00", "09:00"]]})
        assert (item.category_id, item.position, item.image) == (built.drinks, 2, "🫓")  # after Cola, Beef noodles


def test_sold_out_switch_is_idempotent(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    for flag in (True, True, False, True):
        with db.session() as s:
            catalogue.set_item_sold_out(s, shop.store_id, built.noodles, flag)
            catalogue.set_option_sold_out(s, shop.store_id, built.beef, flag)
    with db.sessionmaker() as s:
        assert s.get(MenuItem, built.noodles).sold_out and s.get(MenuOption, built.beef).sold_out
    refused(db, "invalid_sold_out", catalogue.set_item_sold_out, shop.store_id, built.noodles, "1")
    refused(db, "menu_item_not_found", catalogue.set_item_sold_out, shop.other_store_id, built.noodles, False)
    refused(db, "option_not_found", catalogue.set_option_sold_out, shop.other_store_id, built.beef, False)


def test_every_required_option_sold_out_makes_the_item_sold_out(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    with db.session() as s:
        catalogue.set_option_sold_out(s, shop.store_id, built.small, True)
    with db.sessionmaker() as s:
        assert not catalogue.menu_view(s, shop.store_id).sold_out(catalogue.load_menu(s, shop.store_id).items[built.noodles])
    with db.session() as s:
        catalogue.set_option_sold_out(s, shop.store_id, built.large, True)
    with db.sessionmaker() as s:
        view = catalogue.menu_view(s, shop.store_id)
        assert view.sold_out(view.menu.items[built.noodles])


# ----------------------------------------------------------------------------------------------------------------
# Options and the unit price floor


def test_no_edit_may_let_a_unit_price_go_below_zero(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    # noodles 1800: the cheapest pick is Small (-300) and no extra = 1500
    error = refused(db, "unit_price_below_zero", catalogue.update_item, shop.store_id, built.noodles, {"price": 299})
    assert (error.status, error.extra["lowest_unit_price"]) == (409, -1)
    with db.session() as s:
        catalogue.update_item(s, shop.store_id, built.noodles, {"price": 300})  # exactly zero is allowed
    refused(db, "unit_price_below_zero", catalogue.create_option, shop.store_id, built.extras, name="Coupon",
            price_delta=-1)
    refused(db, "unit_price_below_zero", catalogue.update_option, shop.store_id, built.egg, {"price_delta": -1})
    refused(db, "unit_price_below_zero", catalogue.create_option_group, shop.store_id, built.noodles, name="Deal",
            min_picks=0, max_picks=1, options=[{"name": "Half off", "price_delta": -150}])
    with db.session() as s:
        catalogue.update_item(s, shop.store_id, built.noodles, {"price": 1800})
        catalogue.create_option(s, shop.store_id, built.extras, name="Coupon", price_delta=-1000)
    # Now 1800 - 300 (Small) - 1000 (Coupon) = 500. Forcing Egg (+200) and Beef (+800) is fine ...
    with db.session() as s:
        catalogue.update_option_group(s, shop.store_id, built.size, {"min_picks": 1, "max_picks": 2})
    # ... but letting two sizes be picked with Large made -2000 would reach -1500:
    refused(db, "unit_price_below_zero", catalogue.update_option, shop.store_id, built.large, {"price_delta": -2000})
    # Deleting the size group (whose cheapest pick costs -300) keeps the floor; deleting a forced positive one may
    # not: make Size required with two picks, its cheapest pair is Small + Large = +100.
    with db.session() as s:
        catalogue.update_option_group(s, shop.store_id, built.size, {"min_picks": 2})
        catalogue.update_item(s, shop.store_id, built.noodles, {"price": 900})  # floor: 900 + 100 - 1000 = 0
    refused(db, "unit_price_below_zero", catalogue.delete_option_group, shop.store_id, built.size)
    refused(db, "unit_price_below_zero", catalogue.delete_option, shop.store_id, built.large)
    with db.sessionmaker() as s:
        assert menu.item_lowest_unit_price(catalogue.load_menu(s, shop.store_id).items[built.noodles]) == 0


def test_option_groups_and_options_are_checked(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    for low, high in ((2, 1), (0, 0), (-1, 1), (0, 31), ("1", 1)):
        refused(db, "invalid_picks", catalogue.create_option_group, shop.store_id, built.cola, name="Ice",
                min_picks=low, max_picks=high)
    refused(db, "duplicate_name", catalogue.create_option_group, shop.store_id, built.noodles, name="size")
    refused(db, "duplicate_name", catalogue.create_option_group, shop.store_id, built.cola, name="Ice",
            options=[{"name": "No ice"}, {"name": "no ICE"}])
    refused(db, "invalid_price_delta", catalogue.create_option_group, shop.store_id, built.cola, name="Ice",
            options=[{"name": "No ice", "price_delta": 1_000_001}])
    refused(db, "catalogue_limit", catalogue.create_option_group, shop.store_id, built.cola, name="Ice",
            options=[{"name": f"o{i}"} for i in range(31)])
    refused(db, "duplicate_name", catalogue.create_option, shop.store_id, built.size, name="LARGE")
    refused(db, "duplicate_name", catalogue.update_option, shop.store_id, built.small, {"name": "Large"})
    refused(db, "invalid_picks", catalogue.update_option_group, shop.store_id, built.size, {"min_picks": 3})
    refused(db, "option_group_not_found", catalogue.create_option, shop.other_store_id, built.size, name="XL")
    refused(db, "option_not_found", catalogue.delete_option, shop.store_id, uuid.uuid4())
    with db.session() as s:
        catalogue.update_option(s, shop.store_id, built.large, {"name": "Big", "price_delta": 500, "sold_out": True})
        catalogue.delete_option(s, shop.store_id, built.egg)
        catalogue.delete_option_group(s, shop.store_id, built.extras)
    with db.sessionmaker() as s:
        noodles = catalogue.load_menu(s, shop.store_id).items[built.noodles]
    assert [(g.name, [(o.name, o.price_delta, o.sold_out) for o in g.options]) for g in noodles.groups] == [
        ("Size", [("Small", -300, False), ("Big", 500, True)])
    ]


def test_an_archived_item_leaves_the_menu_and_its_edits(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    with db.session() as s:
        catalogue.archive_item(s, shop.store_id, built.noodles)
    refused(db, "menu_item_not_found", catalogue.update_item, shop.store_id, built.noodles, {"price": 100})
    refused(db, "option_group_not_found", catalogue.update_option_group, shop.store_id, built.size, {"name": "S"})
    refused(db, "option_not_found", catalogue.set_option_sold_out, shop.store_id, built.small, True)
    with db.sessionmaker() as s:
        with pytest.raises(AppError) as caught:
            catalogue.price_cart(s, shop.store_id, [menu.LineRequest(built.noodles, 1, (built.small,))])
        assert caught.value.code == "unknown_item"
        assert catalogue.load_menu(s, shop.store_id, include_archived=True).items[built.noodles].archived


def test_limits_on_the_catalogues_size(db: Database, shop: Shop, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    monkeypatch.setattr(catalogue, "MAX_CATEGORIES", 2)
    monkeypatch.setattr(catalogue, "MAX_ITEMS", 1)
    with db.session() as s:
        first = catalogue.create_category(s, shop.store_id, name="A")
        catalogue.create_category(s, shop.store_id, name="B")
        catalogue.create_item(s, shop.store_id, category_id=first.id, name="X", price=1)
    refused(db, "catalogue_limit", catalogue.create_category, shop.store_id, name="C")
    refused(db, "catalogue_limit", catalogue.create_item, shop.store_id, category_id=first.id, name="Y", price=1)


# ----------------------------------------------------------------------------------------------------------------
# Store settings


def test_settings_change_the_delivery_terms(db: Database, shop: Shop) -> None:  # noqa: F811
    area = {"type": "Polygon", "coordinates": [[
        [116.40, 39.90], [116.42, 39.90], [116.42, 39.93], [116.40, 39.93], [116.40, 39.90]
    ]]}
    with db.session() as s:
        catalogue.update_settings(s, shop.store_id, {
            "delivery_radius_m": 5000, "min_order": 2000, "packaging_fee": 150, "delivery_base_fee": 400,
            "delivery_base_m": 2000, "delivery_fee_per_km": 120, "prep_minutes": 20, "accepting_orders": False,
            "opening_hours": {"mon": [["10:00", "14:00"]]}, "delivery_area": area,
        })
    with db.sessionmaker() as s:
        terms = catalogue.delivery_terms(s, shop.store_id)
        store = s.get(Store, shop.store_id)
    assert (terms.radius_m, terms.min_order, terms.packaging_fee, terms.base_fee, terms.base_m, terms.per_km_fee,
            terms.prep_minutes, terms.accepting_orders) == (5000, 2000, 150, 400, 2000, 120, 20, False)
    assert terms.area is not None and terms.covers(39.92, 116.41) and not terms.covers(39.95, 116.41)
    assert store.opening_hours.startswith('{"mon":[["10:00","14:00"]]')
    assert store.catalogue_version == 1
    with db.session() as s:
        catalogue.update_settings(s, shop.store_id, {"delivery_area": None})
    with db.sessionmaker() as s:
        assert catalogue.delivery_terms(s, shop.store_id).area is None


BAD_SETTINGS = [
    ({"delivery_radius_m": 99}, "invalid_delivery_radius"),
    ({"delivery_radius_m": 20_001}, "invalid_delivery_radius"),
    ({"min_order": -1}, "invalid_fee"),
    ({"packaging_fee": 100_001}, "invalid_fee"),
    ({"delivery_base_fee": 1.5}, "invalid_fee"),
    ({"delivery_fee_per_km": None}, "invalid_fee"),
    ({"delivery_base_m": -5}, "invalid_delivery_base"),
    ({"prep_minutes": 241}, "invalid_prep_minutes"),
    ({"opening_hours": {"mon": [["10:00", "10:00"]]}}, "invalid_opening_hours"),
    ({"opening_hours": None}, "invalid_opening_hours"),
    ({"accepting_orders": "no"}, "invalid_accepting_orders"),
    ({"delivery_area": {"type": "Point", "coordinates": [116.4, 39.9]}}, "invalid_delivery_area"),
    ({"delivery_area": {"type": "Polygon", "coordinates": [[
        [121.4, 31.2], [121.5, 31.2], [121.5, 31.3], [121.4, 31.2]]]}}, "invalid_delivery_area"),
    ({"delivery_area": {"type": "Polygon", "coordinates": [[
        [116.30, 39.90], [116.32, 39.90], [116.32, 39.92], [116.30, 39.90]]]}}, "area_excludes_store"),
    ({"min_order": 100, "prep_minutes": -1}, "invalid_prep_minutes"),  # all or nothing
    ({}, "nothing_to_change"),
]


def test_bad_settings_change_nothing(db: Database, shop: Shop) -> None:  # noqa: F811
    for changes, code in BAD_SETTINGS:
        assert 400 <= refused(db, code, catalogue.update_settings, shop.store_id, changes).status < 500


def test_every_edit_bumps_the_catalogue_version(db: Database, shop: Shop, built: Built) -> None:  # noqa: F811
    with db.sessionmaker() as s:
        before = s.scalar(select(Store.catalogue_version).where(Store.id == shop.store_id))
    with db.session() as s:
        catalogue.set_item_sold_out(s, shop.store_id, built.cola, True)
        catalogue.update_item(s, shop.store_id, built.cola, {"price": 600})
    with db.sessionmaker() as s:
        assert s.scalar(select(Store.catalogue_version).where(Store.id == shop.store_id)) == before + 2
        other = s.scalar(select(Store.catalogue_version).where(Store.id == shop.other_store_id))
    assert other == 0
