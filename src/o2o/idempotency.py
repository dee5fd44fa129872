"""Idempotency keys for mutating endpoints (IETF draft "The Idempotency-Key HTTP Header Field").

A client sends ``Idempotency-Key: <unique string>`` with a POST/PUT/PATCH/DELETE. The first request with
that key runs; its successful answer is stored in the same transaction as the change it made. A retry with
the same key and the same request gets the stored answer back, byte for byte, and changes nothing. The same
key with a different request is refused (422 ``idempotency_key_reused``); a retry while the first is still
running waits for it (the unique key row is locked until the first commits) and then replays.

Keys are scoped by who is calling (the credential), the method and the path, so two people can never collide
or read each other's answers. Failed requests store nothing: they changed nothing, so running them again is
safe. Stored answers expire after ``O2O_IDEMPOTENCY_TTL_HOURS``.

Stored answers can hold secrets (a sign-in's bearer token, a session cookie), so nothing is kept in clear:
from the server secret, the caller, the method, the path and the key we derive a row id, a MAC key for the
request and an AES-256-GCM key that seals the answer. The key itself is never stored, so a copy of the
database alone opens no stored answer.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Integer, LargeBinary, String, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from o2o.db import Base, CreatedAtMixin, IdMixin
from o2o.errors import AppError
from o2o.kit.time import now

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


class IdempotencyRecord(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "idempotency_keys"

    key_digest: Mapped[str] = mapped_column(String(64), unique=True)  # derived from caller, path and key
    request_mac: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)  # 0 while in progress (never committed so)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)  # nonce + AES-GCM(answer)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


@dataclass(frozen=True, slots=True)
class Keys:
    digest: str
    mac_key: bytes
    seal_key: bytes

    def request_mac(self, method: str, path: str, query: str, body: bytes) -> str:
        h = hmac.new(self.mac_key, digestmod=hashlib.sha256)
        for part in (method.encode(), path.encode(), query.encode(), body):
            h.update(len(part).to_bytes(8, "big"))
            h.update(part)
        return h.hexdigest()


def derive(secret: str, caller: str, method: str, path: str, key: str) -> Keys:
    root = hmac.new(secret.encode(), f"o2o-idempotency\n{caller}\n{method}\n{path}\n{key}".encode(), hashlib.sha256)
    base = root.digest()

    def sub(label: bytes) -> bytes:
        return hmac.new(base, label, hashlib.sha256).digest()

    return Keys(digest=sub(b"id").hex(), mac_key=sub(b"mac"), seal_key=sub(b"seal"))


def validate_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise AppError(
            "invalid_idempotency_key", 400, f"The Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters."
        )
    return key


def find(session: Session, keys: Keys) -> IdempotencyRecord | None:
    record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key_digest == keys.digest))
    if record is not None and record.expires_at <= now():
        return None
    return record


def check_replay(record: IdempotencyRecord, request_mac: str) -> IdempotencyRecord:
    if not hmac.compare_digest(record.request_mac, request_mac):
        raise AppError(
            "idempotency_key_reused",
            422,
            "This Idempotency-Key was already used for a different request; use a new key for a new request.",
        )
    return record


class KeyTaken(Exception):
    """Another request holds (or just committed) this key; roll back and look it up again."""


def claim(session: Session, keys: Keys, request_mac: str, *, ttl_hours: int) -> IdempotencyRecord:
    """Insert this request's row at the start of its transaction.

    On PostgreSQL a concurrent twin's insert blocks on the unique index until this transaction ends, then
    fails (and replays our answer) or proceeds (if we rolled back). On SQLite transactions are serialised
    by BEGIN IMMEDIATE, so the twin finds our committed row instead.
    """
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.key_digest == keys.digest, IdempotencyRecord.expires_at <= now()
        )
    )
    record = IdempotencyRecord(
        key_digest=keys.digest,
        request_mac=request_mac,
        status_code=0,
        sealed=b"",
        expires_at=now() + dt.timedelta(hours=ttl_hours),
    )
    session.add(record)
    try:
        session.flush()
    except IntegrityError as exc:
        raise KeyTaken from exc
    return record


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    status_code: int
    headers: list[tuple[str, str]]
    body: bytes


def finish(record: IdempotencyRecord, keys: Keys, answer: StoredAnswer) -> None:
    plain = json.dumps(
        {"headers": answer.headers, "body": base64.b64encode(answer.body).decode()}, separators=(",", ":")
    ).encode()
    nonce = os.urandom(12)
    record.status_code = answer.status_code
    record.sealed = nonce + AESGCM(keys.seal_key).encrypt(nonce, plain, keys.digest.encode())


def open_answer(record: IdempotencyRecord, keys: Keys) -> StoredAnswer:
    nonce, sealed = record.sealed[:12], record.sealed[12:]
    data = json.loads(AESGCM(keys.seal_key).decrypt(nonce, sealed, keys.digest.encode()))
    return StoredAnswer(
        status_code=record.status_code,
        headers=[(k, v) for k, v in data["headers"]],
        body=base64.b64decode(data["body"]),
    )


def purge_expired(session: Session) -> int:
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now()))
    return result.rowcount or 0
