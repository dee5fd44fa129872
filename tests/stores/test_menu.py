"""stores.menu: availability windows and the pricing of a cart against a menu (pure: no database).

Every refusal is checked by its code and what its detail names; the invariants are Hypothesis properties: a priced
cart's total is the sum of (price + deltas) x quantity, and a pick that breaks a group's limits always raises.
"""

from __future__ import annotations

import datetime as dt
import uuid
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2o.errors import AppError
from o2o.stores.menu import (
    MAX_LINES,
    Category,
    InvalidWindows,
    Item,
    LineRequest,
    Menu,
    Option,
    OptionGroup,
    describe_windows,
    is_available_at,
    item_lowest_unit_price,
    lowest_unit_price,
    next_available_at,
    parse_windows,
    price_lines,
    subtotal,
    window_pairs,
    windows_to_json,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(hhmm: str, day: int = 3) -> dt.datetime:
    """A local time on Monday 2025-03-03 (or another day of that week) in Beijing."""
    h, m = map(int, hhmm.split(":"))
    return dt.datetime(2025, 3, day, h, m, tzinfo=SHANGHAI)


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


# ----------------------------------------------------------------------------------------------------------------
# A small menu: noodles with a required size and optional extras; a breakfast category; a sold-out drink.

MAINS, BREAKFAST, DRINKS = ids(3)
NOODLES, PANCAKE, COLA, TEA, OLD = ids(5)
SIZE, EXTRAS, SWEET = ids(3)
SMALL, LARGE, EGG, BEEF, GREENS, SUGAR = ids(6)


def sample_menu(**changes: object) -> Menu:
    size = OptionGroup(SIZE, NOODLES, "Size", 1, 1, 0, (Option(SMALL, SIZE, "Small", -300), Option(LARGE, SIZE, "Large", 400)))
    extras = OptionGroup(
        EXTRAS, NOODLES, "Extras", 0, 2, 1,
        (Option(EGG, EXTRAS, "Egg", 200), Option(BEEF, EXTRAS, "Beef", 800, sold_out=True),
         Option(GREENS, EXTRAS, "Greens", 150)),
    )
    sweet = OptionGroup(SWEET, PANCAKE, "Sweet", 0, 1, 0, (Option(SUGAR, SWEET, "Sugar", 0),))
    items = {
        NOODLES: Item(NOODLES, MAINS, "Beef noodles", 1800, groups=(size, extras)),
        PANCAKE: Item(PANCAKE, BREAKFAST, "Jianbing", 800, groups=(sweet,)),
        COLA: Item(COLA, DRINKS, "Cola", 500, sold_out=True),
        TEA: Item(TEA, DRINKS, "Late tea", 600, windows=parse_windows([["22:00", "02:00"]])),
        OLD: Item(OLD, DRINKS, "Old soda", 300, archived=True),
    }
    categories = (
        Category(MAINS, "Mains", 0, None, False, (NOODLES,)),
        Category(BREAKFAST, "Breakfast", 1, parse_windows([["06:30", "10:30"]]), False, (PANCAKE,)),
        Category(DRINKS, "Drinks", 2, None, False, (COLA, TEA, OLD)),
    )
    menu = Menu(uuid.uuid4(), "CNY", categories, items)
    return Menu(**{**menu.__dict__, **changes})  # type: ignore[arg-type]


def refusal(lines: list[LineRequest], when: dt.datetime | None = None, menu: Menu | None = None) -> AppError:
    with pytest.raises(AppError) as caught:
        price_lines(menu or sample_menu(), lines, when or at("12:00"))
    return caught.value


# ----------------------------------------------------------------------------------------------------------------
# Windows


def test_windows_parse_normalise_and_describe() -> None:
    windows = parse_windows('[["17:00", "20:00"], ["06:30", "10:30"]]')
    assert window_pairs(windows) == [["06:30", "10:30"], ["17:00", "20:00"]]
    assert windows_to_json(windows) == '[["06:30","10:30"],["17:00","20:00"]]'
    assert describe_windows(windows) == "06:30–10:30, 17:00–20:00"
    assert parse_windows(None) is None and parse_windows("null") is None
    assert window_pairs(None) is None and windows_to_json(None) is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "list of"),
        ("not json", "not JSON"),
        ({"mon": []}, "list of"),
        ([["06:30"]], r"not a \[start, end\] pair"),
        ([["6:30", "10:30"]], "not a time"),
        ([["06:30", "06:30"]], "empty"),
        ([["10:00", "25:00"]], "not a time"),
        ([["24:00", "02:00"]], "past the end of the day"),
        ([["06:00", "10:00"], ["09:00", "11:00"]], "overlap"),
        ([["22:00", "08:00"], ["07:00", "09:00"]], "overlap"),
        ([[f"0{i}:00", f"0{i}:30"] for i in range(7)], "at most 6"),
    ],
)
def test_malformed_windows_are_refused(value: object, message: str) -> None:
    with pytest.raises(InvalidWindows, match=message) as caught:
        parse_windows(value)  # type: ignore[arg-type]
    assert not str(caught.value).startswith(("mon:", "tue:"))  # no weekday in a daily window's message


def test_availability_inside_and_outside_a_breakfast_window() -> None:
    breakfast = [["06:30", "10:30"]]
    assert not is_available_at(breakfast, at("06:29"))
    assert is_available_at(breakfast, at("06:30"))
    assert is_available_at(breakfast, at("10:29"))
    assert not is_available_at(breakfast, at("10:30"))  # the end is exclusive
    assert is_available_at(None, at("03:00"))


def test_a_window_across_midnight_every_day_of_the_week() -> None:
    late = parse_windows([["22:00", "02:00"]])
    for day in range(3, 10):  # Monday to Sunday, and Sunday night runs into Monday morning
        assert is_available_at(late, at("23:30", day))
        assert is_available_at(late, at("01:59", day))
        assert not is_available_at(late, at("02:00", day))
        assert not is_available_at(late, at("21:59", day))


def test_next_available_is_when_every_window_opens_together() -> None:
    breakfast = parse_windows([["06:30", "10:30"]])
    weekend_brunch = parse_windows([["09:00", "12:00"]])
    assert next_available_at([breakfast], at("07:00")) == at("07:00")
    assert next_available_at([breakfast], at("11:00")) == at("06:30", 4)
    assert next_available_at([breakfast], at("05:00")) == at("06:30")
    assert next_available_at([breakfast, weekend_brunch], at("05:00")) == at("09:00")
    assert next_available_at([breakfast, parse_windows([["12:00", "13:00"]])], at("05:00")) is None
    assert next_available_at([None], at("05:00")) == at("05:00")


# ----------------------------------------------------------------------------------------------------------------
# Pricing


def test_lines_are_priced_with_their_options_in_menu_order() -> None:
    lines = [
        LineRequest(NOODLES, 2, (GREENS, LARGE, EGG)),
        LineRequest(NOODLES, 1, (SMALL,)),  # the same item with other options: another line
        LineRequest(PANCAKE, 3),
    ]
    priced = price_lines(sample_menu(), lines, at("08:00"))
    assert [(p.item_id, p.quantity, p.unit_price, p.line_total) for p in priced] == [
        (NOODLES, 2, 1800 + 400 + 200 + 150, 2 * 2550),
        (NOODLES, 1, 1500, 1500),
        (PANCAKE, 3, 800, 2400),
    ]
    assert [(o.group_name, o.name, o.price_delta) for o in priced[0].options] == [
        ("Size", "Large", 400), ("Extras", "Egg", 200), ("Extras", "Greens", 150)
    ]
    assert priced[0].name == "Beef noodles"
    assert subtotal(priced) == 5100 + 1500 + 2400


def test_empty_and_oversized_carts() -> None:
    assert refusal([]).code == "empty_cart"
    too_many = refusal([LineRequest(NOODLES, 1, (SMALL,))] * (MAX_LINES + 1))
    assert (too_many.code, too_many.status, too_many.extra["max_lines"]) == ("too_many_lines", 422, MAX_LINES)
    assert len(price_lines(sample_menu(), [LineRequest(NOODLES, 1, (SMALL,))] * MAX_LINES, at("12:00"))) == MAX_LINES


@pytest.mark.parametrize("quantity", [0, -1, 100, 1_000_000, True, 2.0, "3"])
def test_quantities_outside_1_to_99_are_refused(quantity: object) -> None:
    error = refusal([LineRequest(NOODLES, 1, (SMALL,)), LineRequest(NOODLES, quantity, (SMALL,))])  # type: ignore[arg-type]
    assert (error.code, error.status, error.extra["line"]) == ("invalid_quantity", 422, 1)
    assert "Line 2" in error.detail


def test_unknown_archived_or_foreign_items_are_refused_by_name() -> None:
    stranger = uuid.uuid4()
    error = refusal([LineRequest(stranger, 1)])
    assert (error.code, error.status, error.extra["item_id"]) == ("unknown_item", 422, str(stranger))
    assert str(stranger) in error.detail
    assert refusal([LineRequest(OLD, 1)]).code == "unknown_item"
    archived_category = sample_menu(
        categories=tuple(
            Category(c.id, c.name, c.position, c.windows, c.id == DRINKS, c.item_ids) for c in sample_menu().categories
        )
    )
    assert refusal([LineRequest(TEA, 1)], at("23:00"), archived_category).code == "unknown_item"


def test_option_refusals() -> None:
    foreign = refusal([LineRequest(NOODLES, 1, (SMALL, SUGAR))])  # the pancake's option on the noodles
    assert (foreign.code, foreign.status, foreign.extra["option_id"]) == ("unknown_option", 422, str(SUGAR))
    twice = refusal([LineRequest(NOODLES, 1, (SMALL, EGG, EGG))])
    assert (twice.code, twice.status) == ("duplicate_option", 422)
    none = refusal([LineRequest(NOODLES, 1, (EGG,))])
    assert (none.code, none.status) == ("option_picks", 422)
    assert {k: none.extra[k] for k in ("group", "min_picks", "max_picks", "picked")} == {
        "group": "Size", "min_picks": 1, "max_picks": 1, "picked": 0
    }
    assert "Size" in none.detail and "exactly 1" in none.detail
    two_sizes = refusal([LineRequest(NOODLES, 1, (SMALL, LARGE))])
    assert (two_sizes.code, two_sizes.extra["picked"]) == ("option_picks", 2)
    three_extras = refusal([LineRequest(NOODLES, 1, (SMALL, EGG, GREENS, BEEF))])
    assert (three_extras.code, three_extras.extra["group"]) == ("option_picks", "Extras")
    assert "at most 2" in three_extras.detail


def test_sold_out_refusals_are_409() -> None:
    cola = refusal([LineRequest(COLA, 1)])
    assert (cola.code, cola.status) == ("item_sold_out", 409)
    beef = refusal([LineRequest(NOODLES, 1, (SMALL, BEEF))])
    assert (beef.code, beef.status, beef.extra["option_id"]) == ("option_sold_out", 409, str(BEEF))


def test_items_outside_their_windows_say_when_they_are_offered() -> None:
    error = refusal([LineRequest(PANCAKE, 1)], at("11:00"))
    assert (error.code, error.status) == ("item_unavailable_now", 409)
    assert "06:30–10:30" in error.detail and "2025-03-04 06:30" in error.detail
    assert error.extra["available_windows"] == [["06:30", "10:30"]]
    assert error.extra["next_available_at"] == at("06:30", 4).isoformat()
    tea = refusal([LineRequest(TEA, 1)], at("12:00"))
    assert tea.extra["available_windows"] == [["22:00", "02:00"]]
    assert price_lines(sample_menu(), [LineRequest(TEA, 1)], at("01:00", 4))[0].line_total == 600


def test_request_errors_come_before_sellability_errors() -> None:
    """A cart with a sold-out drink on line 1 and an unknown item on line 2 is told about line 2 first."""
    error = refusal([LineRequest(COLA, 1), LineRequest(uuid.uuid4(), 1)])
    assert error.code == "unknown_item"


def test_the_unit_price_never_goes_below_zero() -> None:
    cheap = sample_menu(items={**sample_menu().items, NOODLES: Item(NOODLES, MAINS, "Beef noodles", 100,
                                                                     groups=sample_menu().items[NOODLES].groups)})
    [line] = price_lines(cheap, [LineRequest(NOODLES, 3, (SMALL,))], at("12:00"))
    assert (line.unit_price, line.line_total) == (0, 0)


def test_lowest_unit_price_takes_the_forced_and_the_negative_picks() -> None:
    assert lowest_unit_price(1000, []) == 1000
    assert lowest_unit_price(1000, [(1, 1, [300, -200, 0])]) == 800
    assert lowest_unit_price(1000, [(0, 2, [-100, -300, -50])]) == 600  # two discounts at most
    assert lowest_unit_price(1000, [(2, 3, [500, 400, 100])]) == 1500  # two forced, the cheapest ones
    assert lowest_unit_price(1000, [(1, 2, [100, -700]), (0, 1, [-400])]) == -100
    assert item_lowest_unit_price(sample_menu().items[NOODLES]) == 1500


# ----------------------------------------------------------------------------------------------------------------
# Properties

deltas = st.integers(min_value=-500, max_value=2000)


@st.composite
def menus_and_carts(draw: st.DrawFn) -> tuple[Menu, list[LineRequest], list[int]]:
    """A random menu whose unit prices cannot go negative, and a valid cart with its expected unit prices."""
    category = uuid.uuid4()
    items: dict[uuid.UUID, Item] = {}
    for _ in range(draw(st.integers(1, 4))):
        item_id = uuid.uuid4()
        groups = []
        for position in range(draw(st.integers(0, 3))):
            group_id = uuid.uuid4()
            n = draw(st.integers(1, 5))
            options = tuple(Option(uuid.uuid4(), group_id, f"o{i}", draw(deltas)) for i in range(n))
            low = draw(st.integers(0, n))
            high = draw(st.integers(max(low, 1), n))
            groups.append(OptionGroup(group_id, item_id, f"g{position}", low, high, position, options))
        base = draw(st.integers(0, 5000))
        item = Item(item_id, category, f"item {len(items)}", base, groups=tuple(groups))
        floor = item_lowest_unit_price(item)
        if floor < 0:  # the catalogue refuses such a menu: lift the price as a merchant would have to
            item = Item(item_id, category, item.name, base - floor, groups=item.groups)
        items[item_id] = item
    menu = Menu(uuid.uuid4(), "CNY", (Category(category, "All", item_ids=tuple(items)),), items)
    lines, expected = [], []
    for _ in range(draw(st.integers(1, 8))):
        item = draw(st.sampled_from(list(items.values())))
        picked: list[Option] = []
        for group in item.groups:
            k = draw(st.integers(group.min_picks, group.max_picks))
            picked += draw(st.permutations(list(group.options)))[:k]
        order = draw(st.permutations(picked))
        quantity = draw(st.integers(1, 99))
        lines.append(LineRequest(item.id, quantity, tuple(o.id for o in order)))
        expected.append((item.price + sum(o.price_delta for o in picked)) * quantity)
    return menu, lines, expected


@settings(max_examples=100, deadline=None)
@given(menus_and_carts())
def test_property_total_is_the_sum_of_prices_and_deltas_times_quantities(
    case: tuple[Menu, list[LineRequest], list[int]],
) -> None:
    menu, lines, expected = case
    priced = price_lines(menu, lines, at("12:00"))
    assert [p.line_total for p in priced] == expected
    assert subtotal(priced) == sum(expected)
    assert all(p.unit_price >= 0 and p.line_total == p.unit_price * p.quantity for p in priced)
    assert [p.item_id for p in priced] == [line.item_id for line in lines]


@settings(max_examples=100, deadline=None)
@given(menus_and_carts(), st.data())
def test_property_picks_outside_a_groups_limits_always_raise(
    case: tuple[Menu, list[LineRequest], list[int]], data: st.DataObject
) -> None:
    menu, lines, _expected = case
    with_groups = [i for i, line in enumerate(lines) if menu.items[line.item_id].groups]
    if not with_groups:
        return
    index = data.draw(st.sampled_from(with_groups))
    item = menu.items[lines[index].item_id]
    group = data.draw(st.sampled_from(item.groups))
    # Pick too few (below min) or too many (above max) of this group, keeping the other groups' picks valid.
    kept = [o for o in lines[index].option_ids if o not in {opt.id for opt in group.options}]
    options = list(group.options)
    choices = []
    if group.min_picks > 0:
        choices.append(options[: group.min_picks - 1])
    if len(options) > group.max_picks:
        choices.append(options[: group.max_picks + 1])
    if not choices:
        return
    wrong = data.draw(st.sampled_from(choices))
    broken = [*lines]
    broken[index] = LineRequest(item.id, lines[index].quantity, tuple(kept) + tuple(o.id for o in wrong))
    with pytest.raises(AppError) as caught:
        price_lines(menu, broken, at("12:00"))
    assert caught.value.code == "option_picks"
    assert caught.value.extra["group_id"] == str(group.id) and caught.value.extra["line"] == index
