"""Phone numbers: what people type becomes E.164; malformed and non-mobile numbers are refused."""

from __future__ import annotations

import pytest

from o2o.accounts.phones import format_phone, mask_phone, parse_phone
from o2o.errors import AppError


@pytest.mark.parametrize(
    "typed",
    [
        "13800138000",
        "138 0013 8000",
        "138-0013-8000",
        "+86 138 0013 8000",
        "+8613800138000",
        "0086 138 0013 8000",
        "  13800138000  ",
        "(+86) 138 0013 8000",
    ],
)
def test_chinese_mobile_in_any_usual_form(typed):
    assert parse_phone(typed) == "+8613800138000"


@pytest.mark.parametrize(
    "typed, region, expected",
    [
        ("+44 7911 123456", "CN", "+447911123456"),  # a +country prefix wins over the default region
        ("07911 123456", "GB", "+447911123456"),
        ("+1 650 253 0000", "CN", "+16502530000"),  # US numbers do not tell mobile from fixed: accepted
        ("010-1234-5678", "KR", "+821012345678"),
    ],
)
def test_other_countries(typed, region, expected):
    assert parse_phone(typed, region) == expected


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        "abc",
        "12345",
        "+86 138 0013 800",  # a digit short
        "+86 138 0013 80000",  # a digit too many
        "1" * 33,  # longer than anyone types
        "138\x0000138000",  # control characters
        "+999 1234 5678",  # no such country
        "+86 000 0000 0000",
    ],
)
def test_malformed_numbers_are_invalid_phone(typed):
    with pytest.raises(AppError) as err:
        parse_phone(typed)
    assert (err.value.status, err.value.code) == (400, "invalid_phone")


@pytest.mark.parametrize(
    "typed", ["010 6552 9988", "+86 21 6321 5888", "+44 20 7946 0000", "+86 400 810 8888"]
)
def test_fixed_lines_and_service_numbers_are_refused(typed):
    with pytest.raises(AppError) as err:
        parse_phone(typed)
    assert (err.value.status, err.value.code) == (400, "invalid_phone")


def test_fixed_line_error_says_why():
    with pytest.raises(AppError) as err:
        parse_phone("010 6552 9988")
    assert "not a mobile number" in err.value.detail


@pytest.mark.parametrize(
    "e164, masked",
    [
        ("+8613800138000", "+86 138****8000"),
        ("+447911123456", "+44 791***3456"),
        ("+16502530000", "+1 650***0000"),
    ],
)
def test_masking_hides_the_middle(e164, masked):
    assert mask_phone(e164) == masked


def test_full_number_for_its_owner():
    assert format_phone("+8613800138000") == "+86 138 0013 8000"
