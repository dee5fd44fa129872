"""kit.ids: UUIDv7 layout, ordering within a process, time extraction (pure)."""

from __future__ import annotations

import itertools
import time
import uuid

from o2o.kit.ids import make_uuid7, uuid7, uuid7_time_ms


def test_version_and_variant_bits() -> None:
    for value in (uuid7() for _ in range(100)):
        assert value.version == 7
        assert value.variant == uuid.RFC_4122
        assert (value.int >> 76) & 0xF == 7
        assert (value.int >> 62) & 0b11 == 0b10


def test_strictly_increasing_within_a_process() -> None:
    ids = [uuid7() for _ in range(20_000)]  # many share a millisecond: the counter keeps them ordered
    assert all(a < b for a, b in itertools.pairwise(ids))
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids, key=lambda u: u.bytes)


def test_time_extraction() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_time_ms(value) <= after + 1  # +1: a counter overflow borrows the next millisecond
    assert uuid7_time_ms(uuid7(now_ms=1_735_689_600_000 + 10**9)) >= 1_735_689_600_000


def test_make_uuid7_is_deterministic_and_keeps_its_fields() -> None:
    a = make_uuid7(1_735_689_600_123, 0xABC, 0x1234_5678_9ABC_DEF0)
    assert a == make_uuid7(1_735_689_600_123, 0xABC, 0x1234_5678_9ABC_DEF0)
    assert a.version == 7 and a.variant == uuid.RFC_4122
    assert uuid7_time_ms(a) == 1_735_689_600_123
    assert (a.int >> 64) & 0xFFF == 0xABC
    assert make_uuid7(1, 0xFFF, 2**64 - 1) < make_uuid7(2, 0, 0)  # time orders first
