"""The one translation function, and locale-aware formatting of amounts, dates and distances.

Text shown to people goes through ``_()`` (gettext). Catalogues live in ``o2o/locale/<lang>/LC_MESSAGES/o2o.po``
(compiled to ``.mo``); English is the source language, Simplified Chinese and Korean follow. The locale of the
current request is a context variable set by the page layer (``use_locale``).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import gettext as _gettext
from collections.abc import Iterator
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_currency as _babel_currency
from babel.numbers import format_decimal

from o2o.kit.money import MINOR_UNITS
from o2o.kit.time import in_zone

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "o2o"
DEFAULT_LOCALE = "en"
SUPPORTED_LOCALES = ("en", "zh_Hans_CN", "ko_KR")

_current: contextvars.ContextVar[str] = contextvars.ContextVar("o2o_locale", default=DEFAULT_LOCALE)


@functools.lru_cache(maxsize=16)
def _translations(locale: str) -> _gettext.NullTranslations:
    return _gettext.translation(DOMAIN, localedir=LOCALE_DIR, languages=[locale], fallback=True)


def current_locale() -> str:
    return _current.get()


@contextlib.contextmanager
def use_locale(locale: str) -> Iterator[None]:
    token = _current.set(normalise_locale(locale))
    try:
        yield
    finally:
        _current.reset(token)


def normalise_locale(tag: str | None) -> str:
    """'zh-CN' -> 'zh_Hans_CN'; unknown tags fall back to English."""
    if not tag:
        return DEFAULT_LOCALE
    try:
        parsed = Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return DEFAULT_LOCALE
    return str(parsed)


def gettext(message: str) -> str:
    return _translations(current_locale()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translations(current_locale()).ngettext(singular, plural, n)


_ = gettext


def format_money(amount_minor: int, currency: str, locale: str | None = None) -> str:
    exponent = MINOR_UNITS[currency]
    text = _babel_currency(amount_minor / 10**exponent, currency, locale=locale or current_locale())
    # Babel writes "CN¥" outside Chinese locales; in a yuan city everyone reads "¥".
    return text.replace("CN¥", "¥") if currency == "CNY" else text


def format_datetime(value: dt.datetime, timezone: str, locale: str | None = None, fmt: str = "medium") -> str:
    """A stored UTC time shown in the city's time zone and the reader's locale."""
    return _babel_datetime(in_zone(value, timezone), fmt, locale=locale or current_locale())


def format_distance(metres: float, locale: str | None = None) -> str:
    loc = locale or current_locale()
    if metres < 1000:
        return f"{format_decimal(round(metres), locale=loc)} m"
    return f"{format_decimal(round(metres / 1000, 1), locale=loc)} km"
