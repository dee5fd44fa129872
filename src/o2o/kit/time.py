"""UTC time. Everything stored is UTC-aware; pages show it in the city's time zone.

``now()`` is the one clock the code reads, so tests can move time (``frozen_clock``) instead of sleeping.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from zoneinfo import ZoneInfo

UTC = dt.UTC

_clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)  # noqa: E731


def now() -> dt.datetime:
    return _clock()


def ensure_utc(value: dt.datetime) -> dt.datetime:
    """Naive datetimes (as SQLite returns them) are UTC by our storage rule."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def in_zone(value: dt.datetime, tz: str) -> dt.datetime:
    return ensure_utc(value).astimezone(ZoneInfo(tz))


class FrozenClock:
    def __init__(self, at: dt.datetime) -> None:
        self.at = ensure_utc(at)

    def __call__(self) -> dt.datetime:
        return self.at

    def advance(self, **delta: float) -> dt.datetime:
        self.at += dt.timedelta(**delta)
        return self.at


@contextlib.contextmanager
def frozen_clock(at: dt.datetime | None = None) -> Iterator[FrozenClock]:
    """Replace the clock for the duration of a test."""
    global _clock
    previous = _clock
    clock = FrozenClock(at or dt.datetime.now(UTC))
    _clock = clock
    try:
        yield clock
    finally:
        _clock = previous
