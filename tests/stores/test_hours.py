"""stores.hours: weekly opening hours in local time, across midnight and the week's end (pure)."""

from __future__ import annotations

import datetime as dt
import json
from zoneinfo import ZoneInfo

import pytest

from o2o.stores.hours import (
    DAYS,
    WEEK,
    InvalidHours,
    build,
    every_day,
    is_open,
    next_change,
    parse_hours,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(day: str, hhmm: str, second: int = 0) -> dt.datetime:
    """A local time in the week of Monday 2025-03-03 (Beijing)."""
    h, m = map(int, hhmm.split(":"))
    return dt.datetime(2025, 3, 3 + DAYS.index(day), h, m, second, tzinfo=SHANGHAI)


WEEK_LATER = dt.timedelta(days=7)
RESTAURANT = every_day(("10:00", "14:00"), ("17:00", "22:00"))
BAR = build(fri=[("18:00", "02:00")], sat=[("18:00", "03:00")], sun=[("20:00", "01:00")])


def test_split_day() -> None:
    assert not is_open(RESTAURANT, at("tue", "09:59"))
    assert is_open(RESTAURANT, at("tue", "10:00"))
    assert is_open(RESTAURANT, at("tue", "13:59", 59))
    assert not is_open(RESTAURANT, at("tue", "14:00"))  # closes at 14:00 sharp
    assert is_open(RESTAURANT, at("tue", "21:30"))
    assert not is_open(RESTAURANT, at("tue", "22:00"))


def test_past_midnight_belongs_to_the_day_it_started() -> None:
    assert not is_open(BAR, at("fri", "17:59"))
    assert is_open(BAR, at("fri", "23:59"))
    assert is_open(BAR, at("sat", "00:00"))
    assert is_open(BAR, at("sat", "01:59"))
    assert not is_open(BAR, at("sat", "02:00"))
    assert not is_open(BAR, at("fri", "01:00"))  # Thursday night: closed
    assert is_open(BAR, at("sun", "02:30"))  # Saturday's night runs to 03:00
    assert not is_open(BAR, at("sun", "03:00"))


def test_sunday_night_runs_into_monday() -> None:
    assert is_open(BAR, at("sun", "23:00"))
    assert is_open(BAR, at("mon", "00:30"))
    assert not is_open(BAR, at("mon", "01:00"))


def test_next_change() -> None:
    assert next_change(RESTAURANT, at("tue", "08:15")) == at("tue", "10:00")
    assert next_change(RESTAURANT, at("tue", "10:00")) == at("tue", "14:00")
    assert next_change(RESTAURANT, at("tue", "15:00")) == at("tue", "17:00")
    assert next_change(RESTAURANT, at("tue", "22:00")) == at("wed", "10:00")
    assert next_change(RESTAURANT, at("tue", "09:59", 30)) == at("tue", "10:00")
    # Across midnight and across the week's end.
    assert next_change(BAR, at("fri", "23:00")) == at("sat", "02:00")
    assert next_change(BAR, at("sun", "22:00")) == at("mon", "01:00") + WEEK_LATER
    assert next_change(BAR, at("mon", "01:00")) == at("fri", "18:00")
    assert next_change(BAR, at("tue", "12:00")) == at("fri", "18:00")


def test_always_and_never_open() -> None:
    always = every_day(("00:00", "24:00"))
    assert always.always_open and always.intervals == ((0, WEEK),)
    assert all(is_open(always, at(day, "03:17")) for day in DAYS)
    assert next_change(always, at("wed", "12:00")) is None
    never = parse_hours("{}")
    assert never.never_open and not is_open(never, at("wed", "12:00"))
    assert next_change(never, at("wed", "12:00")) is None


def test_touching_intervals_merge_also_across_the_week() -> None:
    hours = build(sun=[("22:00", "02:00")], mon=[("02:00", "06:00")])
    assert len(hours.intervals) == 1
    assert is_open(hours, at("mon", "03:00")) and is_open(hours, at("sun", "23:00"))
    assert next_change(hours, at("sun", "22:00")) == at("mon", "06:00") + WEEK_LATER
    assert build(mon=[("08:00", "12:00"), ("12:00", "18:00")]).intervals == ((8 * 60, 18 * 60),)


def test_json_round_trip_and_canonical_form() -> None:
    text = json.dumps({"fri": [["18:00", "02:00"]], "mon": [["17:00", "22:00"], ["10:00", "14:00"]]})
    hours = parse_hours(text)
    assert hours.as_dict() == {
        "mon": [["10:00", "14:00"], ["17:00", "22:00"]],
        "tue": [],
        "wed": [],
        "thu": [],
        "fri": [["18:00", "02:00"]],
        "sat": [],
        "sun": [],
    }
    assert parse_hours(hours.to_json()) == hours
    assert parse_hours(hours.as_dict()) == hours


@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[]",
        '{"mon": "10:00-22:00"}',
        '{"funday": []}',
        '{"mon": [["10:00"]]}',
        '{"mon": [["10:00", "25:00"]]}',
        '{"mon": [["24:00", "02:00"]]}',
        '{"mon": [["10:00", "24:30"]]}',
        '{"mon": [["9:00", "12:00"]]}',
        '{"mon": [["10:00", "10:00"]]}',
        '{"mon": [["10:00", "14:00"], ["13:00", "15:00"]]}',
        '{"mon": [["20:00", "03:00"]], "tue": [["02:00", "10:00"]]}',
        '{"sun": [["20:00", "03:00"]], "mon": [["02:00", "10:00"]]}',
        '{"mon": [[10, 14]]}',
    ],
)
def test_invalid_hours_are_refused(value: str) -> None:
    with pytest.raises(InvalidHours):
        parse_hours(value)
