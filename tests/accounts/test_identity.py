"""Resident identity numbers (GB 11643): check character, birth date, area code, masking, keyed hash, age."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2o.accounts import identity
from o2o.errors import AppError
from tests.accounts.conftest import gb11643_check, id_number

TODAY = dt.date(2026, 3, 15)


def invalid(raw: str, today: dt.date = TODAY) -> AppError:
    with pytest.raises(AppError) as err:
        identity.parse_id_number(raw, today=today)
    assert (err.value.status, err.value.code) == (400, "invalid_id_number")
    return err.value


def test_the_standard_example_with_an_x_check_character():
    number = identity.parse_id_number("11010519491231002X", today=TODAY)
    assert number.value == "11010519491231002X"
    assert number.area_code == "110105"
    assert number.birth_date == dt.date(1949, 12, 31)
    assert number.sequence == "002"
    assert number.masked == "110105********002X"


def test_lower_case_x_and_surrounding_spaces_are_accepted():
    assert identity.parse_id_number("  11010519491231002x ", today=TODAY).value == "11010519491231002X"


@given(st.text(alphabet="0123456789", min_size=17, max_size=17))
def test_check_character_agrees_with_an_independent_implementation(body):
    assert identity.check_char(body) == gb11643_check(body)


def test_every_check_character_value_occurs():
    seen = {identity.check_char(f"{n:017d}") for n in range(2000)}
    assert seen == set("10X98765432")


def test_a_number_ending_in_x_built_here_is_accepted():
    # Find a sequence giving X, to prove X is handled as the value 10 and not as a typo.
    number = next(n for s in range(1000) if (n := id_number(seq=f"{s:03d}")).endswith("X"))
    assert identity.parse_id_number(number, today=TODAY).value == number


@pytest.mark.parametrize("wrong", [c for c in "0123456789X"])
def test_any_other_check_character_is_refused(wrong):
    body = "110105" + "19900307" + "123"
    if wrong == gb11643_check(body):
        return
    err = invalid(body + wrong)
    assert "check character" in err.detail


@pytest.mark.parametrize(
    "raw, why",
    [
        ("", "18 characters"),
        ("11010519491231002", "18 characters"),
        ("11010519491231002X1", "18 characters"),
        ("1101051949123100XX", "digit or X"),
        ("A1010519491231002X", "digit or X"),
        ("11010519491231002Y", "digit or X"),
        ("１１０１０５１９４９１２３１００２X", "digit or X"),  # full-width digits
    ],
)
def test_malformed_numbers(raw, why):
    assert why in invalid(raw).detail


@pytest.mark.parametrize(
    "birth, why",
    [
        ("19900230", "not a real date"),  # 30 February
        ("19901301", "not a real date"),  # month 13
        ("19900000", "not a real date"),
        ("20230229", "not a real date"),  # not a leap year
        ("18991231", "not possible"),  # before 1900
        ("20260316", "not possible"),  # tomorrow
        ("20990101", "not possible"),
    ],
)
def test_impossible_birth_dates(birth, why):
    assert why in invalid(id_number(birth=birth)).detail


def test_born_today_and_leap_days_are_fine():
    assert identity.parse_id_number(id_number(birth="20260315"), today=TODAY).birth_date == TODAY
    assert identity.parse_id_number(id_number(birth="20000229"), today=TODAY).birth_date == dt.date(
        2000, 2, 29
    )
    assert identity.parse_id_number(id_number(birth="19000101"), today=TODAY).birth_date == dt.date(
        1900, 1, 1
    )


def test_all_zero_area_code_is_refused():
    assert "area code" in invalid(id_number(area="000000")).detail


def test_keyed_hash_never_contains_the_number_and_depends_on_the_key():
    number = "11010519491231002X"
    h1 = identity.hash_id_number(number, "key-one")
    assert len(h1) == 64 and all(c in "0123456789abcdef" for c in h1)
    assert number not in h1 and "19491231" not in h1
    assert identity.hash_id_number("11010519491231002x", "key-one") == h1
    assert identity.hash_id_number(number, "key-two") != h1


@pytest.mark.parametrize(
    "birth, today, age",
    [
        (dt.date(2014, 3, 15), dt.date(2026, 3, 15), 12),  # the birthday itself
        (dt.date(2014, 3, 16), dt.date(2026, 3, 15), 11),  # the day before
        (dt.date(2000, 2, 29), dt.date(2026, 2, 28), 25),  # leap-day birthday in a common year
        (dt.date(2000, 2, 29), dt.date(2026, 3, 1), 26),
        (dt.date(2000, 2, 29), dt.date(2024, 2, 29), 24),
        (dt.date(2026, 3, 15), dt.date(2026, 3, 15), 0),
    ],
)
def test_age(birth, today, age):
    assert identity.age_on(birth, today) == age


def test_make_id_number_round_trips():
    number = identity.make_id_number("440305", dt.date(1988, 8, 8), "456")
    assert number == id_number("440305", "19880808", "456")
    assert identity.parse_id_number(number, today=TODAY).birth_date == dt.date(1988, 8, 8)
