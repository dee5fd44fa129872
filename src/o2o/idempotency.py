"""Idempotency keys for mutating endpoints (IETF draft "The Idempotency-Key HTTP Header Field").

A client sends ``Idempotency-Key: <unique string>`` with a POST/PUT/PATCH/DELETE. The first request with
that key runs; its successful answer is stored in the same transaction as the change it made. A retry with
the same key and the same request gets the stored answer back, byte for byte, and changes nothing. The same
key with a different request is refused (422 ``idempotency_key_reused``); a retry while the first is still
running waits for it (the unique key row is locked until the first commits) and then replays.

Keys are scoped by who is calling (a hash of the credential), the method and the path, so two people can
never collide or read each other's answers. Failed requests store nothing: they changed nothing, so running
them again is safe. Stored answers expire after ``O2O_IDEMPOTENCY_TTL_HOURS``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from sqlalchemy import Integer, LargeBinary, String, UniqueConstraint, delete, select
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
    __table_args__ = (UniqueConstraint("scope", "key"),)

    scope: Mapped[str] = mapped_column(String(64))  # sha256 of caller + method + path
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str | None] = mapped_column(String(100))
    headers_json: Mapped[str] = mapped_column(String, default="[]")
    body: Mapped[bytes] = mapped_column(LargeBinary)
    expires_at: Mapped[dt.datetime] = mapped_column(index=True)


def scope_for(caller: str, method: str, path: str) -> str:
    return hashlib.sha256(f"{caller}\n{method}\n{path}".encode()).hexdigest()


def request_hash(method: str, path: str, query: str, body: bytes) -> str:
    h = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def validate_key(key: str) -> str:
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise AppError(
            "invalid_idempotency_key", 400, f"The Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters."
        )
    return key


def find(session: Session, scope: str, key: str) -> IdempotencyRecord | None:
    record = session.scalar(select(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key))
    if record is not None and record.expires_at <= now():
        return None
    return record


def check_replay(record: IdempotencyRecord, req_hash: str) -> IdempotencyRecord:
    if record.request_hash != req_hash:
        raise AppError(
            "idempotency_key_reused",
            422,
            "This Idempotency-Key was already used for a different request; use a new key for a new request.",
        )
    return record


class KeyTaken(Exception):
    """Another request holds (or just committed) this key; roll back and look it up again."""


def claim(session: Session, *, scope: str, key: str, req_hash: str, ttl_hours: int) -> IdempotencyRecord:
    """Insert this request's row at the start of its transaction.

    On PostgreSQL a concurrent twin's insert blocks on the unique index until this transaction ends, then
    fails (and replays our answer) or proceeds (if we rolled back). On SQLite transactions are serialised
    by BEGIN IMMEDIATE, so the twin finds our committed row instead.
    """
    session.execute(
        delete(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key, IdempotencyRecord.expires_at <= now()
        )
    )
    record = IdempotencyRecord(
        scope=scope,
        key=key,
        request_hash=req_hash,
        status_code=0,  # in progress; never committed in this state
        content_type=None,
        headers_json="[]",
        body=b"",
        expires_at=now() + dt.timedelta(hours=ttl_hours),
    )
    session.add(record)
    try:
        session.flush()
    except IntegrityError as exc:
        raise KeyTaken from exc
    return record


def finish(
    record: IdempotencyRecord,
    *,
    status_code: int,
    content_type: str | None,
    headers: list[list[str]],
    body: bytes,
) -> None:
    record.status_code = status_code
    record.content_type = content_type
    record.headers_json = json.dumps(headers)
    record.body = body


def purge_expired(session: Session) -> int:
    result = session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.expires_at <= now()))
    return result.rowcount or 0


