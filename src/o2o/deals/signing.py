"""The voucher's QR code: a payload signed with Ed25519, so a shop's scanner can check it offline (pure).

Format (short enough for a QR code a phone camera reads at arm's length, and only characters a USB scanner can
"type" into a text field)::

    O2OV1.<base64url(compact JSON)>.<base64url(Ed25519 signature of "O2OV1.<base64url(JSON)>")>

The JSON: ``{"v": voucher id, "c": short code, "d": deal id, "s": [store ids], "u": valid until}``, ids as
base64url of their 16 bytes and the time in Unix seconds. An offline scanner verifies the signature with the
public key (``GET /api/deals/voucher-key``) and checks the store and the date; the redemption itself is online
and happens once.

The private key is derived from ``settings.secret_key`` with HKDF-SHA256 (a label of its own), so every process of
a deployment signs with the same key without storing one more secret; rotating the secret rotates the key.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import re
import uuid
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PREFIX = "O2OV1"
ALGORITHM = "Ed25519"
_HKDF_SALT = b"o2o.deals"
_HKDF_INFO = b"o2o voucher qr signing key v1"
_SHAPE = re.compile(r"^O2OV1\.([A-Za-z0-9_-]{8,2000})\.([A-Za-z0-9_-]{86})$")  # 64-byte signature = 86 chars


class Forged(ValueError):
    """The text is not a payload we signed (wrong shape, bad signature, or unreadable content)."""


@dataclass(frozen=True)
class Ticket:
    voucher_id: uuid.UUID
    code: str
    deal_id: uuid.UUID
    store_ids: tuple[uuid.UUID, ...]
    valid_until: dt.datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if _b64(data) != text:  # only the one canonical spelling: no two payload texts for one signature
        raise ValueError("not canonical base64url")
    return data


@functools.lru_cache(maxsize=8)
def private_key(secret: str) -> Ed25519PrivateKey:
    seed = HKDF(algorithm=hashes.SHA256(), length=32, salt=_HKDF_SALT, info=_HKDF_INFO).derive(secret.encode())
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key(secret: str) -> Ed25519PublicKey:
    return private_key(secret).public_key()


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(secret: str) -> str:
    """The raw 32-byte public key, base64url without padding (what the key endpoint publishes)."""
    return _b64(public_key_bytes(public_key(secret)))


def key_id(secret: str) -> str:
    """A short name for the key (first 8 bytes of its SHA-256), so scanners can tell a rotated key apart."""
    return hashlib.sha256(public_key_bytes(public_key(secret))).hexdigest()[:16]


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(_unb64(text))


def sign(secret: str, ticket: Ticket) -> str:
    body = {
        "v": _b64(ticket.voucher_id.bytes),
        "c": ticket.code,
        "d": _b64(ticket.deal_id.bytes),
        "s": [_b64(s.bytes) for s in ticket.store_ids],
        "u": int(ticket.valid_until.timestamp()),
    }
    head = f"{PREFIX}.{_b64(json.dumps(body, separators=(',', ':')).encode())}"
    return f"{head}.{_b64(private_key(secret).sign(head.encode('ascii')))}"


def looks_signed(text: str) -> bool:
    """Is this meant to be a signed payload (rather than a short code typed by hand)?"""
    return text.strip().upper().startswith(PREFIX + ".")


def verify(key: Ed25519PublicKey, text: str) -> Ticket:
    """The ticket in ``text`` if we signed it; ``Forged`` otherwise (whatever is wrong with it)."""
    match = _SHAPE.match(text.strip())
    if match is None:
        raise Forged("not an O2OV1 payload")
    head = f"{PREFIX}.{match.group(1)}"
    try:
        key.verify(_unb64(match.group(2)), head.encode("ascii"))
    except (InvalidSignature, ValueError) as exc:
        raise Forged("bad signature") from exc
    try:
        body = json.loads(_unb64(match.group(1)))
        return Ticket(
            voucher_id=uuid.UUID(bytes=_unb64(body["v"])),
            code=str(body["c"]),
            deal_id=uuid.UUID(bytes=_unb64(body["d"])),
            store_ids=tuple(uuid.UUID(bytes=_unb64(s)) for s in body["s"]),
            valid_until=dt.datetime.fromtimestamp(int(body["u"]), dt.UTC),
        )
    except (ValueError, KeyError, TypeError) as exc:  # signed by us, yet unreadable: treat as forged
        raise Forged("unreadable content") from exc
