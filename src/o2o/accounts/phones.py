"""Phone numbers (pure: no database, no web): parse what people type into E.164, mask it for display.

People sign up with a mobile number. They type it the way they write it at home (``138 0013 8000``), with the
international prefix (``0086 138...``) or in E.164 (``+8613800138000``); numbers without a country are read
as the platform's default region (``O2O_DEFAULT_REGION``, China). Fixed lines, premium and short numbers
cannot receive the sign-in text message and are refused.
"""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from o2o.accounts import errors

MAX_INPUT_LENGTH = 32
# Types that can receive a text message. Some countries (the US, Canada) do not tell mobiles from fixed
# lines by the number, so FIXED_LINE_OR_MOBILE is accepted as well.
_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


def parse_phone(raw: str, region: str = "CN") -> str:
    """The E.164 form of a mobile number (``+8613800138000``), or ``invalid_phone``."""
    text = (raw or "").strip()
    if not text or len(text) > MAX_INPUT_LENGTH or not text.isprintable():
        raise errors.invalid_phone()
    try:
        number = phonenumbers.parse(text, region.upper())
    except NumberParseException as exc:
        raise errors.invalid_phone() from exc
    if not phonenumbers.is_valid_number(number):
        raise errors.invalid_phone()
    if phonenumbers.number_type(number) not in _MOBILE_TYPES:
        raise errors.invalid_phone("This is not a mobile number: sign-in codes are sent by text message.")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def mask_phone(phone_e164: str) -> str:
    """``+8613800138000`` -> ``+86 138****8000``: enough to recognise one's own number, not to dial it."""
    try:
        number = phonenumbers.parse(phone_e164, None)
        country, national = number.country_code, phonenumbers.national_significant_number(number)
    except NumberParseException:
        country, national = None, phone_e164.lstrip("+")
    keep_head, keep_tail = (3, 4) if len(national) >= 9 else (2, 2)
    hidden = max(len(national) - keep_head - keep_tail, 1)
    masked = national[:keep_head] + "*" * hidden + national[-keep_tail:]
    return f"+{country} {masked}" if country else masked


def format_phone(phone_e164: str) -> str:
    """The full number written for people (``+86 138 0013 8000``), for the owner's own profile."""
    try:
        return phonenumbers.format_number(
            phonenumbers.parse(phone_e164, None), PhoneNumberFormat.INTERNATIONAL
        )
    except NumberParseException:
        return phone_e164
