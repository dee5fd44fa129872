"""Weekly opening hours, in the city's local time. Pure: no database, no FastAPI.

The stored form is JSON text, one list of ``[open, close]`` intervals per day::

    {"mon": [["10:00", "14:00"], ["17:00", "22:00"]], "fri": [["18:00", "02:00"]], "sun": []}

- Times are ``HH:MM`` wall-clock in the city's time zone; ``close`` may be ``24:00``.
- A ``close`` at or before ``open`` crosses midnight: ``["18:00", "02:00"]`` on Friday is open from Friday 18:00
  until Saturday 02:00 (Sunday's late hours run into Monday morning).
- A day that is missing or empty is closed (apart from the previous night's hours running into it).
- Open all day is ``["00:00", "24:00"]``; seven of those make a store that never closes.
- Intervals may touch (they are merged) but must not overlap, also across midnight and across the week's end.

``parse_hours`` validates and normalises to minutes of the week; ``is_open`` and ``next_change`` answer for a
local datetime.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY = 24 * 60
WEEK = 7 * DAY
_TIME = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")

Spec = dict[str, list[list[str]]]


class InvalidHours(ValueError):
    """The opening hours are malformed; the message says where."""


@dataclass(frozen=True)
class WeeklyHours:
    """Normalised hours: sorted, merged ``[start, end)`` minute intervals counted from Monday 00:00.

    ``start`` is in ``[0, WEEK)``; ``end`` may pass ``WEEK`` when an interval wraps into the next Monday.
    """

    intervals: tuple[tuple[int, int], ...]
    spec: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]

    @property
    def always_open(self) -> bool:
        return self.intervals == ((0, WEEK),)

    @property
    def never_open(self) -> bool:
        return not self.intervals

    def as_dict(self) -> Spec:
        """The canonical form: every day present, in week order."""
        return {day: [list(iv) for iv in ivs] for day, ivs in self.spec}

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), separators=(",", ":"))


def _minutes(text: Any, where: str, *, allow_24: bool) -> int:
    if not isinstance(text, str) or not (m := _TIME.match(text)):
        raise InvalidHours(f"{where}: {text!r} is not a time HH:MM")
    hours, minutes = int(m.group(1)), int(m.group(2))
    if hours == 24 and (minutes != 0 or not allow_24):
        raise InvalidHours(f"{where}: {text!r} is past the end of the day")
    return hours * 60 + minutes


def parse_hours(value: str | Mapping[str, Any] | WeeklyHours) -> WeeklyHours:
    """Validate and normalise opening hours given as JSON text or as the decoded mapping."""
    if isinstance(value, WeeklyHours):
        return value
    if isinstance(value, str):
        return _parse_text(value)
    return _parse(value)


@functools.lru_cache(maxsize=4096)
def _parse_text(text: str) -> WeeklyHours:
    # Many stores share a handful of schedules: parsing each distinct text once keeps listings cheap.
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidHours(f"not JSON: {exc}") from exc
    return _parse(data)


def _parse(data: Any) -> WeeklyHours:
    if not isinstance(data, Mapping):
        raise InvalidHours("expected an object with one key per day (mon ... sun)")
    unknown = set(data) - set(DAYS)
    if unknown:
        raise InvalidHours(f"unknown day(s): {', '.join(sorted(map(str, unknown)))}")
    raw: list[tuple[int, int, str]] = []
    spec: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for index, day in enumerate(DAYS):
        intervals = data.get(day) or []
        if not isinstance(intervals, list):
            raise InvalidHours(f"{day}: expected a list of [open, close] pairs")
        day_spec = []
        for pair in intervals:
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise InvalidHours(f"{day}: {pair!r} is not an [open, close] pair")
            start = _minutes(pair[0], day, allow_24=False)
            end = _minutes(pair[1], day, allow_24=True)
            if end == start:
                raise InvalidHours(f"{day}: {pair[0]}-{pair[1]} is empty; use 00:00-24:00 for all day")
            if end < start:
                end += DAY  # crosses midnight into the next day
            raw.append((index * DAY + start, index * DAY + end, day))
            day_spec.append((pair[0], pair[1]))
        spec.append((day, tuple(sorted(day_spec))))
    return WeeklyHours(_merge(raw), tuple(spec))


def _merge(raw: list[tuple[int, int, str]]) -> tuple[tuple[int, int], ...]:
    if not raw:
        return ()
    raw.sort()
    merged: list[list[Any]] = []
    for start, end, day in raw:
        if merged and start < merged[-1][1]:
            raise InvalidHours(f"{day}: intervals overlap ({merged[-1][2]} runs into it)")
        if merged and start == merged[-1][1]:
            merged[-1][1] = end
        else:
            merged.append([start, end, day])
    # The week is a circle: the last interval may run past Sunday midnight into the first one.
    first, last = merged[0], merged[-1]
    overflow = last[1] - WEEK
    if overflow > first[0]:
        raise InvalidHours(f"{last[2]}: intervals overlap across the end of the week")
    if overflow == first[0] and len(merged) > 1:
        # sun 22:00-02:00 meets mon 02:00-...: one interval through the week's end
        last[1] = WEEK + first[1]
        merged.pop(0)
    if len(merged) == 1 and merged[0][1] - merged[0][0] >= WEEK:
        return ((0, WEEK),)
    return tuple((s, e) for s, e, _ in merged)


def minute_of_week(local: dt.datetime) -> int:
    return local.weekday() * DAY + local.hour * 60 + local.minute


def is_open(hours: WeeklyHours | str | Mapping[str, Any], local: dt.datetime) -> bool:
    """Is the store open at this local (city time zone) moment?"""
    hours = parse_hours(hours)
    m = minute_of_week(local)
    return any(start <= m < end or m < end - WEEK for start, end in hours.intervals)


def next_change(hours: WeeklyHours | str | Mapping[str, Any], local: dt.datetime) -> dt.datetime | None:
    """When the store next opens (if closed now) or closes (if open now); None if that never happens."""
    hours = parse_hours(hours)
    if hours.never_open or hours.always_open:
        return None
    m = minute_of_week(local)
    boundaries = {start % WEEK for start, _ in hours.intervals} | {end % WEEK for _, end in hours.intervals}
    delta = min((b - m) % WEEK or WEEK for b in boundaries)
    floor = local.replace(second=0, microsecond=0)
    return floor + dt.timedelta(minutes=delta)


def build(**days: list[tuple[str, str]] | list[list[str]]) -> WeeklyHours:
    """Hours from keyword arguments, e.g. ``build(mon=[("10:00", "22:00")])``; validated like ``parse_hours``."""
    return _parse({day: [list(pair) for pair in pairs] for day, pairs in days.items()})


def every_day(*pairs: tuple[str, str]) -> WeeklyHours:
    return build(**{day: list(pairs) for day in DAYS})
