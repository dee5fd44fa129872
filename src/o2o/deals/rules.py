"""A deal's terms, a voucher's usage rules and its short code (pure: no database, no web).

A deal sells one voucher per purchase: what it includes (``lines``: "2 x dumplings, 1 x soup"), its price and the
original price it is compared with, how many are on sale (or unlimited), when it is on sale, when its vouchers can
be used, and the usage rules on top of that window: on which weekdays and, optionally, between which local hours.
The rules are checked in the city's time zone at the moment of redemption.

A voucher's short code is 12 random decimal digits (``secrets``), shown in groups of four: ``1234 5678 9012``.
Uniqueness is the database's (a unique constraint; a collision draws again); unguessability is the randomness
(10^12 codes for the few million alive at once, and only a store's staff can ask about a code).
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EVERY_DAY = 0b1111111
WORKDAYS = 0b0011111
WEEKEND = 0b1100000

MAX_PRICE = 5_000_000  # fen; the wallet's ceiling for one payment
MAX_LINES = 12
MAX_LINE_QUANTITY = 99
MAX_QUANTITY = 100_000
MAX_PER_PERSON = 20
MAX_STORES = 10  # a voucher's signed QR names every store it is good in: keep it scannable
MAX_SALE_DAYS = 366
MAX_VALID_DAYS = 400
DAY_MINUTES = 24 * 60

CODE_DIGITS = 12
_FULL_WIDTH = str.maketrans("０１２３４５６７８９", "0123456789")
_CODE_SEPARATORS = re.compile(r"[\s\-\u00a0\u3000]+")


class InvalidTerms(ValueError):
    """The deal's terms do not hold together; ``field`` names what to fix."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Line:
    """One thing the deal includes: ``quantity`` x ``name``."""

    name: str
    quantity: int


@dataclass(frozen=True)
class UsageRules:
    """When, within its validity window, a voucher can be used (city-local time).

    ``weekdays``: a bitmask, bit 0 = Monday ... bit 6 = Sunday. ``start_minute``/``end_minute``: minutes after local
    midnight, ``[start, end)``; both None means all day."""

    weekdays: int = EVERY_DAY
    start_minute: int | None = None
    end_minute: int | None = None

    def allows(self, local: dt.datetime) -> bool:
        if not self.weekdays & (1 << local.weekday()):
            return False
        if self.start_minute is None or self.end_minute is None:
            return True
        minute = local.hour * 60 + local.minute
        return self.start_minute <= minute < self.end_minute

    @property
    def every_day(self) -> bool:
        return self.weekdays == EVERY_DAY

    @property
    def all_day(self) -> bool:
        return self.start_minute is None


@dataclass(frozen=True)
class DealTerms:
    title: str
    lines: tuple[Line, ...]
    price: int
    original_price: int
    quantity_total: int | None  # None: unlimited
    per_person_limit: int | None  # None: no limit
    sale_starts_at: dt.datetime
    sale_ends_at: dt.datetime
    valid_from: dt.datetime
    valid_until: dt.datetime
    rules: UsageRules = UsageRules()


def check_terms(terms: DealTerms) -> DealTerms:
    """The terms, cleaned (names stripped), or ``InvalidTerms`` naming the first thing to fix."""
    title = " ".join(terms.title.split())
    if not 1 <= len(title) <= 80:
        raise InvalidTerms("title", "Give the deal a title of 1 to 80 characters.")
    if not 1 <= len(terms.lines) <= MAX_LINES:
        raise InvalidTerms("lines", f"A deal includes 1 to {MAX_LINES} lines.")
    lines = []
    for line in terms.lines:
        name = " ".join(line.name.split())
        if not 1 <= len(name) <= 60:
            raise InvalidTerms("lines", "Each line needs a name of 1 to 60 characters.")
        if not 1 <= line.quantity <= MAX_LINE_QUANTITY:
            raise InvalidTerms("lines", f"Each line's quantity is 1 to {MAX_LINE_QUANTITY}.")
        lines.append(Line(name, line.quantity))
    if not 0 < terms.price <= MAX_PRICE:
        raise InvalidTerms("price", f"The price is 1 to {MAX_PRICE} fen.")
    if not terms.price <= terms.original_price <= MAX_PRICE:
        raise InvalidTerms("original_price", "The original price is at least the deal's price.")
    if terms.quantity_total is not None and not 1 <= terms.quantity_total <= MAX_QUANTITY:
        raise InvalidTerms("quantity_total", f"The quantity on sale is 1 to {MAX_QUANTITY}, or unlimited.")
    if terms.per_person_limit is not None and not 1 <= terms.per_person_limit <= MAX_PER_PERSON:
        raise InvalidTerms("per_person_limit", f"The limit per person is 1 to {MAX_PER_PERSON}, or none.")
    for name in ("sale_starts_at", "sale_ends_at", "valid_from", "valid_until"):
        if getattr(terms, name).tzinfo is None:
            raise InvalidTerms(name, "Times need a time zone (UTC).")
    if not terms.sale_starts_at < terms.sale_ends_at:
        raise InvalidTerms("sale_ends_at", "The sale ends after it starts.")
    if terms.sale_ends_at - terms.sale_starts_at > dt.timedelta(days=MAX_SALE_DAYS):
        raise InvalidTerms("sale_ends_at", f"A deal is on sale for at most {MAX_SALE_DAYS} days.")
    if not terms.valid_from < terms.valid_until:
        raise InvalidTerms("valid_until", "Vouchers stop being valid after they start.")
    if terms.valid_until < terms.sale_ends_at:
        raise InvalidTerms("valid_until", "Vouchers stay valid at least until the sale ends.")
    if terms.valid_until - terms.valid_from > dt.timedelta(days=MAX_VALID_DAYS):
        raise InvalidTerms("valid_until", f"Vouchers are valid for at most {MAX_VALID_DAYS} days.")
    rules = terms.rules
    if not 0 < rules.weekdays <= EVERY_DAY:
        raise InvalidTerms("weekdays", "Choose at least one weekday.")
    if (rules.start_minute is None) != (rules.end_minute is None):
        raise InvalidTerms("hours", "Give both the start and the end of the hours, or neither.")
    if rules.start_minute is not None and rules.end_minute is not None and not (
        0 <= rules.start_minute < rules.end_minute <= DAY_MINUTES
    ):
        raise InvalidTerms("hours", "The hours start before they end, within one day.")
    return DealTerms(
        title=title,
        lines=tuple(lines),
        price=terms.price,
        original_price=terms.original_price,
        quantity_total=terms.quantity_total,
        per_person_limit=terms.per_person_limit,
        sale_starts_at=terms.sale_starts_at,
        sale_ends_at=terms.sale_ends_at,
        valid_from=terms.valid_from,
        valid_until=terms.valid_until,
        rules=rules,
    )


# ---------------------------------------------------------------------------------------------------- weekdays, hours


def weekday_mask(days: Iterable[str]) -> int:
    """``["mon", "fri"]`` -> 0b0010001; unknown names raise ``InvalidTerms``."""
    mask = 0
    for day in days:
        key = day.strip().lower()[:3]
        if key not in WEEKDAYS:
            raise InvalidTerms("weekdays", f"{day!r} is not a weekday (mon ... sun).")
        mask |= 1 << WEEKDAYS.index(key)
    return mask


def weekday_names(mask: int) -> list[str]:
    return [day for i, day in enumerate(WEEKDAYS) if mask & (1 << i)]


_HHMM = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)$")


def minute_of(text: str) -> int:
    """``"17:30"`` -> 1050; ``"24:00"`` is the end of the day."""
    match = _HHMM.match(text.strip())
    if match is None or (match.group(1) == "24" and match.group(2) != "00"):
        raise InvalidTerms("hours", f"{text!r} is not a time HH:MM.")
    return int(match.group(1)) * 60 + int(match.group(2))


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


# ---------------------------------------------------------------------------------------------------- using a voucher


class Refusal:
    """Why a voucher cannot be used at a moment (the error codes of ``deals.errors``)."""

    EXPIRED = "voucher_expired"
    NOT_USABLE_NOW = "voucher_not_usable_now"


def usable_refusal(
    rules: UsageRules, valid_from: dt.datetime, valid_until: dt.datetime, at: dt.datetime, timezone: str
) -> str | None:
    """None when a voucher with these terms can be used at ``at`` (UTC) in a city of ``timezone``; else why not."""
    if at >= valid_until:
        return Refusal.EXPIRED
    if at < valid_from:
        return Refusal.NOT_USABLE_NOW
    if not rules.allows(at.astimezone(ZoneInfo(timezone))):
        return Refusal.NOT_USABLE_NOW
    return None


def on_sale(sale_starts_at: dt.datetime, sale_ends_at: dt.datetime, at: dt.datetime) -> bool:
    return sale_starts_at <= at < sale_ends_at


# ---------------------------------------------------------------------------------------------------- short codes


def new_code(randbelow: Callable[[int], int] = secrets.randbelow) -> str:
    """12 random digits (leading zeros kept)."""
    return f"{randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def format_code(code: str) -> str:
    """``"123456789012"`` -> ``"1234 5678 9012"``."""
    return " ".join(code[i : i + 4] for i in range(0, len(code), 4))


def parse_code(text: str) -> str | None:
    """What a person typed (spaces, dashes, full-width digits allowed) as a 12-digit code, or None."""
    cleaned = _CODE_SEPARATORS.sub("", text.translate(_FULL_WIDTH))
    return cleaned if len(cleaned) == CODE_DIGITS and cleaned.isascii() and cleaned.isdigit() else None


def lines_text(lines: Sequence[Line]) -> str:
    """``2 x dumplings, 1 x soup``, as the API's summary shows it."""
    return ", ".join(f"{line.quantity} x {line.name}" for line in lines)
