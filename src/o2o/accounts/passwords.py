"""Password hashing (pure): scrypt with a random salt, compared in constant time.

Stored as ``scrypt$<log2 n>$<r>$<p>$<salt b64>$<hash b64>`` so the cost can be raised later: ``needs_rehash``
tells when a stored hash uses weaker parameters than today's, and the sign-in upgrades it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

LOG2_N = 14  # n = 16384: about 16 MiB and some tens of milliseconds per hash
R = 8
P = 1
DKLEN = 32
SALT_BYTES = 16
MIN_LENGTH = 8
MAX_LENGTH = 128
_SCHEME = "scrypt"

# Commonly tried passwords refused outright (the full breach corpus is a job for a later version).
_COMMON = frozenset(
    {
        "12345678",
        "123456789",
        "1234567890",
        "11111111",
        "00000000",
        "88888888",
        "66666666",
        "87654321",
        "password",
        "password1",
        "passw0rd",
        "qwertyui",
        "qwerty123",
        "iloveyou",
        "abc12345",
        "a1234567",
        "1qaz2wsx",
        "aa123456",
        "5201314520",
        "woaini1314",
        "zxcvbnm1",
        "abcd1234",
        "12341234",
        "11223344",
    }
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


def _derive(password: str, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode(), salt=salt, n=2**log2_n, r=r, p=p, dklen=DKLEN, maxmem=256 * 2**log2_n * r + 2**20
    )


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(SALT_BYTES)
    digest = _derive(password, salt, LOG2_N, R, P)
    return f"{_SCHEME}${LOG2_N}${R}${P}${_b64(salt)}${_b64(digest)}"


# Verified against when there is no stored hash, so "no such account" takes as long as "wrong password".
_DUMMY = hash_password(secrets.token_urlsafe(16))


def verify_password(password: str, stored: str | None) -> bool:
    """True when ``password`` matches ``stored``; always does the full work, even without a stored hash."""
    candidate = stored if stored and stored.startswith(_SCHEME + "$") else _DUMMY
    try:
        _scheme, log2_n, r, p, salt, digest = candidate.split("$")
        expected = _unb64(digest)
        actual = _derive(password, _unb64(salt), int(log2_n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected) and candidate is not _DUMMY


def needs_rehash(stored: str) -> bool:
    try:
        _scheme, log2_n, r, p, _salt, _digest = stored.split("$")
        return (int(log2_n), int(r), int(p)) != (LOG2_N, R, P)
    except ValueError:
        return True


def weakness(password: str, *, phone_e164: str | None = None) -> str | None:
    """Why this password is too weak, or None. Length limits are also enforced by the request schema."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    if len(set(password)) < 4:
        return "Use more different characters."
    if password.lower() in _COMMON:
        return "This password is one of the most common ones; choose another."
    if phone_e164:
        national = phone_e164.lstrip("+")
        if password in national or national[-8:] in password:
            return "Do not use your phone number as a password."
    return None
