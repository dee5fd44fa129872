"""kit.money: integer minor units, allocation without losing a fen, formatting (pure)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from o2o.kit.money import CurrencyMismatch, Money, format_money


@given(
    amount=st.integers(min_value=0, max_value=10**12),
    ratios=st.lists(st.integers(min_value=0, max_value=10_000), min_size=1, max_size=12).filter(
        lambda r: sum(r) > 0
    ),
)
def test_allocate_sums_to_the_amount_and_never_goes_negative(amount: int, ratios: list[int]) -> None:
    parts = Money(amount, "CNY").allocate(ratios)
    assert len(parts) == len(ratios)
    assert sum(p.amount for p in parts) == amount
    assert all(p.amount >= 0 and p.currency == "CNY" for p in parts)
    # Each part is within one fen of its exact share, and a zero ratio gets nothing.
    total = sum(ratios)
    for part, ratio in zip(parts, ratios, strict=True):
        assert abs(part.amount - amount * ratio / total) < 1
        if ratio == 0:
            assert part.amount == 0


def test_allocate_examples() -> None:
    assert [m.amount for m in Money(100, "CNY").allocate([1, 1, 1])] == [34, 33, 33]
    assert [m.amount for m in Money(5, "CNY").allocate([3, 7])] == [2, 3]
    with pytest.raises(ValueError):
        Money(100, "CNY").allocate([0, 0])
    with pytest.raises(ValueError):
        Money(100, "CNY").allocate([1, -1, 2])


def test_arithmetic_and_currency_checks() -> None:
    assert Money(150, "CNY") + Money(50, "CNY") == Money(200, "CNY")
    assert Money(150, "CNY") - Money(200, "CNY") == Money(-50, "CNY")
    assert -Money(5, "CNY") == Money(-5, "CNY")
    with pytest.raises(CurrencyMismatch):
        Money(1, "CNY") + Money(1, "USD")
    with pytest.raises(TypeError):
        Money(1.5, "CNY")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Money(True, "CNY")
    with pytest.raises(ValueError):
        Money(1, "XXX")


def test_format() -> None:
    assert format_money(1250, "CNY") == "¥12.50"
    assert format_money(-300, "CNY") == "-¥3.00"
    assert format_money(5, "CNY") == "¥0.05"
    assert format_money(123456789, "CNY") == "¥1,234,567.89"
    assert format_money(1200, "KRW") == "₩1,200"
    assert Money(99, "USD").format() == "$0.99"
