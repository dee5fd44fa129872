"""Resident identity numbers (GB 11643-1999), pure: validate, mask, hash; age from the birth date.

An 18-character number is ``AAAAAA YYYYMMDD SSS C``: a 6-digit administrative area code, the birth date, a
3-digit sequence (odd for men, even for women) and a check character computed with ISO 7064 MOD 11-2 over
the first 17 digits. We never keep the number itself: only a keyed hash (HMAC-SHA256 with the platform
secret, so one number can belong to one account without anyone being able to look numbers up by brute
force) and a masked form (``110105********1234``) to show its owner.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from o2o.accounts import errors

LENGTH = 18
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)
MAX_INPUT_LENGTH = 32
_HASH_CONTEXT = b"o2o/id-number/v1\n"  # separates these HMACs from any other use of the secret


@dataclass(frozen=True, slots=True)
class IdNumber:
    value: str  # canonical: 17 digits and a digit or upper-case X
    area_code: str
    birth_date: dt.date
    sequence: str

    @property
    def masked(self) -> str:
        return mask_id_number(self.value)


def check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits."""
    if len(first17) != LENGTH - 1 or not first17.isascii() or not first17.isdigit():
        raise ValueError("need exactly 17 digits")
    return CHECK_CHARS[sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True)) % 11]


def parse_id_number(raw: str, *, today: dt.date) -> IdNumber:
    """A checked identity number, or ``invalid_id_number`` saying what is wrong with it."""
    value = (raw or "").strip().upper()
    if len(value) != LENGTH:
        raise errors.invalid_id_number(f"it must have {LENGTH} characters")
    body, check = value[:17], value[17]
    if not (body.isascii() and body.isdigit()) or not (check.isdigit() or check == "X"):
        raise errors.invalid_id_number("it must be 17 digits followed by a digit or X")
    area = body[:6]
    if area == "000000":
        raise errors.invalid_id_number("the area code is not real")
    try:
        birth = dt.date(int(body[6:10]), int(body[10:12]), int(body[12:14]))
    except ValueError as exc:
        raise errors.invalid_id_number("the birth date is not a real date") from exc
    if birth < EARLIEST_BIRTH_DATE or birth > today:
        raise errors.invalid_id_number("the birth date is not possible")
    if check_char(body) != check:
        raise errors.invalid_id_number("the check character does not match; look for a typing mistake")
    return IdNumber(value=value, area_code=area, birth_date=birth, sequence=body[14:17])


def mask_id_number(value: str) -> str:
    """``110105194912310021`` -> ``110105********0021``."""
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def hash_id_number(value: str, secret: str) -> str:
    """The keyed hash stored (and made unique) instead of the number."""
    return hmac.new(secret.encode(), _HASH_CONTEXT + value.upper().encode(), hashlib.sha256).hexdigest()


def age_on(birth_date: dt.date, today: dt.date) -> int:
    """Whole years lived on ``today`` (someone born on 29 February turns a year older on 1 March)."""
    years = today.year - birth_date.year
    if (today.month, today.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def make_id_number(area_code: str, birth_date: dt.date, sequence: str = "001") -> str:
    """A well-formed number for these parts (for tests and the demo city; it identifies nobody)."""
    body = f"{area_code}{birth_date:%Y%m%d}{sequence}"
    return body + check_char(body)
