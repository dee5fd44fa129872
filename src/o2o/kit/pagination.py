"""Cursor (keyset) pagination.

Ids are time-ordered, so a page is "the next ``limit`` rows after this id" in id order (or before it, newest
first). The cursor is opaque to clients: base64url of the last id and the direction. Unlike offsets it stays
correct while rows are inserted and costs one index seek however deep the page.
"""

from __future__ import annotations

import base64
import binascii
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


def encode_cursor(last_id: uuid.UUID, newest_first: bool) -> str:
    raw = json.dumps({"after": last_id.hex, "desc": newest_first}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[uuid.UUID, bool]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return uuid.UUID(hex=data["after"]), bool(data["desc"])
    except (binascii.Error, ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise AppError("invalid_cursor", 400, "The cursor is not one this API gave out.") from exc


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
        after, desc = decode_cursor(cursor)
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
