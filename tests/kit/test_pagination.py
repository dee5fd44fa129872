"""kit.pagination: opaque cursors that round-trip and refuse tampering (pure)."""

from __future__ import annotations

import base64
import json

import pytest

from o2o.errors import AppError
from o2o.kit.ids import uuid7
from o2o.kit.pagination import decode_cursor, decode_cursor_key, encode_cursor


def test_round_trip() -> None:
    last = uuid7()
    for newest_first in (True, False):
        cursor = encode_cursor(last, newest_first)
        assert decode_cursor(cursor) == (last, newest_first)
        assert decode_cursor_key(cursor) == (last, newest_first, None)
        assert "=" not in cursor and "/" not in cursor and "+" not in cursor  # URL-safe as it is


def test_round_trip_with_a_sort_key() -> None:
    last = uuid7()
    cursor = encode_cursor(last, False, key=[12_345])
    assert decode_cursor_key(cursor) == (last, False, [12_345])


def _refused(cursor: str) -> None:
    with pytest.raises(AppError) as info:
        decode_cursor_key(cursor)
    assert info.value.code == "invalid_cursor"
    assert info.value.status == 400


def test_every_edited_character_is_refused() -> None:
    cursor = encode_cursor(uuid7(), True)
    for i in range(len(cursor)):
        replacement = "A" if cursor[i] != "A" else "B"
        tampered = cursor[:i] + replacement + cursor[i + 1 :]
        try:
            decoded = decode_cursor_key(tampered)
        except AppError as error:
            assert error.code == "invalid_cursor"
        else:  # only the padding bits of the last character may change without changing the bytes
            assert i == len(cursor) - 1 and decoded == decode_cursor_key(cursor)


def test_forged_and_garbage_cursors_are_refused() -> None:
    last = uuid7()
    # A hand-made cursor without the checksum, as an old or forged one would be.
    raw = json.dumps({"after": last.hex, "desc": True}).encode()
    _refused(base64.urlsafe_b64encode(raw).decode())
    for garbage in ("", "abc", "!!!", "x" * 600, encode_cursor(last, True)[:-3]):
        _refused(garbage)
