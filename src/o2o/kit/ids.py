"""Time-ordered ids (UUIDv7, RFC 9562).

Ids sort by creation time, so keyset pagination can order by id alone, B-tree inserts stay local, and rows
can move between shards without renumbering. Within one millisecond the 12-bit ``rand_a`` field is a counter,
so ids made by one process are strictly increasing.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    global _last_ms, _counter
    with _lock:
        ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
        if ms <= _last_ms:
            ms = _last_ms
            _counter += 1
            if _counter > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                _counter = 0
        else:
            _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave headroom for the counter
        _last_ms = ms
        counter = _counter
    return make_uuid7(ms, counter, int.from_bytes(os.urandom(8), "big"))


def make_uuid7(ms: int, rand_a: int, rand_b: int) -> uuid.UUID:
    """Assemble a UUIDv7 from its fields: 48-bit Unix milliseconds, 12-bit ``rand_a``, 62-bit ``rand_b``.

    For ids that must be reproducible (the demo city derives them from a seeded RNG and a fixed epoch).
    """
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (rand_a & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand_b & ((1 << 62) - 1)
    return uuid.UUID(int=value)


def uuid7_time_ms(value: uuid.UUID) -> int:
    """The Unix time in milliseconds encoded in a UUIDv7."""
    return value.int >> 80
