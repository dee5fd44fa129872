"""The transactional outbox and the worker: delivered after commit, retried, never twice at once."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from o2o import outbox, worker
from o2o.kit.time import frozen_clock
from o2o.outbox import OutboxMessage

delivered: list[tuple[str, dict]] = []
flaky_failures = {"left": 0}


@outbox.handler("test.ok")
def _ok(message: OutboxMessage, data: dict) -> None:
    delivered.append((str(message.id), data))


@outbox.handler("test.flaky")
def _flaky(message: OutboxMessage, data: dict) -> None:
    if flaky_failures["left"] > 0:
        flaky_failures["left"] -= 1
        raise ConnectionError("receiver down")
    delivered.append((str(message.id), data))


@pytest.fixture(autouse=True)
def _reset():
    delivered.clear()
    flaky_failures["left"] = 0


def test_rolled_back_message_is_never_sent(db):
    with pytest.raises(RuntimeError), db.session() as s:
        outbox.enqueue(s, "test.ok", {"n": 1})
        raise RuntimeError("abort")
    assert outbox.deliver_due(db) == 0
    assert delivered == []


def test_committed_message_is_sent_once(db):
    with db.session() as s:
        message = outbox.enqueue(s, "test.ok", {"n": 1})
    assert outbox.deliver_due(db) == 1
    assert outbox.deliver_due(db) == 0
    assert delivered == [(str(message.id), {"n": 1})]
    with db.session() as s:
        row = s.get(OutboxMessage, message.id)
        assert (row.status, row.attempts, row.claimed_by) == ("sent", 1, None)


def test_failure_backs_off_then_succeeds(db):
    flaky_failures["left"] = 2
    with frozen_clock() as clock:
        with db.session() as s:
            message = outbox.enqueue(s, "test.flaky", {"n": 2})
        assert outbox.deliver_due(db) == 0  # attempt 1 fails: retry in 2 s
        assert outbox.deliver_due(db) == 0  # not due yet
        clock.advance(seconds=2)
        assert outbox.deliver_due(db) == 0  # attempt 2 fails: retry in 4 s
        clock.advance(seconds=4)
        assert outbox.deliver_due(db) == 1
    with db.session() as s:
        row = s.get(OutboxMessage, message.id)
        assert (row.status, row.attempts) == ("sent", 3)
        assert row.last_error == "ConnectionError: receiver down"


def test_gives_up_after_max_attempts(db):
    flaky_failures["left"] = 10_000
    with frozen_clock() as clock:
        with db.session() as s:
            message = outbox.enqueue(s, "test.flaky", {})
        for _ in range(outbox.MAX_ATTEMPTS):
            outbox.deliver_due(db)
            clock.advance(hours=2)
    with db.session() as s:
        row = s.get(OutboxMessage, message.id)
        assert (row.status, row.attempts) == ("failed", outbox.MAX_ATTEMPTS)


def test_unknown_topic_is_retried_not_lost(db):
    with db.session() as s:
        message = outbox.enqueue(s, "test.nobody-listens", {})
    assert outbox.deliver_due(db) == 0
    with db.session() as s:
        row = s.get(OutboxMessage, message.id)
        assert row.status == "pending" and "no outbox handler" in row.last_error


def test_concurrent_deliverers_send_each_message_once(db):
    with db.session() as s:
        for n in range(40):
            outbox.enqueue(s, "test.ok", {"n": n})
    threads = [threading.Thread(target=outbox.deliver_due, args=(db,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(d["n"] for _, d in delivered) == list(range(40))
    with db.session() as s:
        assert set(s.scalars(select(OutboxMessage.status))) == {"sent"}


def test_worker_runs_registered_jobs_once(db):
    import o2o.jobs  # noqa: F401  registers the platform jobs

    with db.session() as s:
        outbox.enqueue(s, "test.ok", {"n": 7})
    results = worker.run_once(db, ["outbox.deliver", "idempotency.purge"])
    assert results == {"outbox.deliver": 1, "idempotency.purge": 0}


def test_worker_loop_wakes_on_commit(db):
    import o2o.jobs  # noqa: F401

    loop = worker.Worker(db, tick=30)  # a long tick: only the wake-up can deliver in time
    outbox.on_enqueue(loop.wake)
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        import time

        time.sleep(0.2)  # the first round runs at start
        with db.session() as s:
            outbox.enqueue(s, "test.ok", {"n": 9})
        deadline = time.monotonic() + 5
        while not delivered and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [d for _, d in delivered] == [{"n": 9}]
    finally:
        loop.stop()
        thread.join(timeout=5)
        outbox._wakeups.remove(loop.wake)
