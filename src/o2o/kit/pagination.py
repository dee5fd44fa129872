"""Cursor (keyset) pagination.

Ids are time-ordered, so a page is "the next ``limit`` rows after this id" in id order (or before it, newest
first). The cursor is opaque to clients: base64url of a 4-byte checksum and a small JSON object (the last id,
the direction, and for listings sorted by something else first, e.g. distance, that sort key). Unlike offsets
it stays correct while rows are inserted and costs one index seek however deep the page. An edited cursor
fails its checksum and is refused with ``invalid_cursor``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from collections.abc import Sequence
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field
from sqlalchemy import Select
from sqlalchemy.orm import Session

from o2o.errors import AppError

T = TypeVar("T")

MAX_LIMIT = 100
DEFAULT_LIMIT = 20


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; absent on the last page."
    )


MAX_CURSOR_LENGTH = 512


def _pack(data: dict[str, Any]) -> str:
    raw = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
    # A short checksum: a cursor that was edited or truncated is refused instead of silently paging elsewhere.
    return base64.urlsafe_b64encode(hashlib.blake2b(raw, digest_size=4).digest() + raw).decode().rstrip("=")


def _unpack(cursor: str) -> dict[str, Any]:
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise ValueError("cursor too long")
    blob = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode())
    digest, raw = blob[:4], blob[4:]
    if len(digest) != 4 or not hmac.compare_digest(digest, hashlib.blake2b(raw, digest_size=4).digest()):
        raise ValueError("checksum mismatch")
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise TypeError("not an object")
    return data


def encode_cursor(last_id: uuid.UUID, newest_first: bool, key: list[Any] | None = None) -> str:
    """An opaque cursor after ``last_id``. ``key`` carries the leading sort values of a listing that is not
    ordered by id alone (e.g. distance, then id); ``decode_cursor_key`` gives them back."""
    data: dict[str, Any] = {"after": last_id.hex, "desc": newest_first}
    if key is not None:
        data["key"] = key
    return _pack(data)


def decode_cursor_key(cursor: str) -> tuple[uuid.UUID, bool, list[Any] | None]:
    try:
        data = _unpack(cursor)
        key = data.get("key")
        if key is not None and not isinstance(key, list):
            raise ValueError("key is not a list")
        return uuid.UUID(hex=data["after"]), bool(data["desc"]), key
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        raise AppError("invalid_cursor", 400, "The cursor is not one this API gave out.") from exc


def decode_cursor(cursor: str) -> tuple[uuid.UUID, bool]:
    after, desc, _key = decode_cursor_key(cursor)
    return after, desc


def paginate(
    session: Session,
    stmt: Select[Any],
    id_column: Any,
    *,
    cursor: str | None,
    limit: int = DEFAULT_LIMIT,
    newest_first: bool = True,
) -> tuple[Sequence[Any], str | None]:
    """Run ``stmt`` one page at a time, ordered by ``id_column``; returns the rows and the next cursor."""
    if not 1 <= limit <= MAX_LIMIT:
        raise AppError("invalid_limit", 400, f"limit must be between 1 and {MAX_LIMIT}.")
    if cursor is not None:
        after, desc, key = decode_cursor_key(cursor)
        if key is not None:
            raise AppError("invalid_cursor", 400, "The cursor belongs to a listing in another order.")
        if desc != newest_first:
            raise AppError("invalid_cursor", 400, "The cursor belongs to a listing in the other order.")
        stmt = stmt.where(id_column < after if newest_first else id_column > after)
    stmt = stmt.order_by(id_column.desc() if newest_first else id_column.asc()).limit(limit + 1)
    rows = session.scalars(stmt).all() if _is_entity_select(stmt) else session.execute(stmt).all()
    has_more = len(rows) > limit
    rows = rows[:limit]
    next_cursor = None
    if has_more:
        last = rows[-1]
        last_id = getattr(last, id_column.key)
        next_cursor = encode_cursor(last_id, newest_first)
    return rows, next_cursor


def _is_entity_select(stmt: Select[Any]) -> bool:
    descriptions = stmt.column_descriptions
    return len(descriptions) == 1 and descriptions[0].get("entity") is not None and descriptions[0][
        "expr"
    ] is descriptions[0]["entity"]
