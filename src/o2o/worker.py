"""The background worker: periodic jobs, each idempotent and safe with several workers at once.

Jobs register with ``@periodic("name", every=seconds)`` in their domain and are discovered when the domain's
module is imported (``o2o.app.DOMAIN_MODULES``). ``o2o worker`` runs the loop in its own process;
``o2o serve`` runs one in-process (in exactly one of its worker processes, chosen by a file lock).
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import structlog

from o2o.db import Database
from o2o.observability import JOB_RUNS

log = structlog.get_logger("o2o.worker")

JobFn = Callable[[Database], int | None]


@dataclass
class Job:
    name: str
    every: float
    fn: JobFn
    next_run: float = field(default=0.0)
    wakeable: bool = False  # run at once when a commit wrote due work (``Worker.wake``)


_jobs: dict[str, Job] = {}


def periodic(name: str, every: float, *, wakeable: bool = False) -> Callable[[JobFn], JobFn]:
    """Register ``fn(db) -> count`` to run every ``every`` seconds. It opens its own units of work. A
    ``wakeable`` job also runs as soon as a commit wakes the worker (outbox messages, due payments)."""

    def register(fn: JobFn) -> JobFn:
        _jobs[name] = Job(name, every, fn, wakeable=wakeable)
        return fn

    return register


def jobs() -> list[Job]:
    return list(_jobs.values())


def run_once(db: Database, names: list[str] | None = None) -> dict[str, int]:
    """Run every job (or the named ones) once, now; returns what each did. Used by tests and `o2o worker --once`."""
    results = {}
    for job in jobs():
        if names is None or job.name in names:
            results[job.name] = _run(db, job)
    return results


def _run(db: Database, job: Job) -> int:
    try:
        done = job.fn(db) or 0
    except Exception:
        JOB_RUNS.labels(job.name, "error").inc()
        log.exception("job_failed", job=job.name)
        return 0
    JOB_RUNS.labels(job.name, "ok").inc()
    if done:
        log.info("job_done", job=job.name, count=done)
    return done


class Worker:
    def __init__(self, db: Database, tick: float = 1.0) -> None:
        self.db = db
        self.tick = tick
        self._stop = threading.Event()
        self._wake = threading.Event()

    def wake(self) -> None:
        """Run the wakeable jobs now (called after a commit that wrote due work: outbox messages, payments)."""
        for job in jobs():
            if job.wakeable:
                job.next_run = 0.0
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def run(self) -> None:
        log.info("worker_started", jobs=[j.name for j in jobs()], pid=os.getpid())
        while not self._stop.is_set():
            moment = time.monotonic()
            for job in jobs():
                if self._stop.is_set():
                    break
                if moment >= job.next_run:
                    job.next_run = moment + job.every
                    _run(self.db, job)
            self._wake.wait(self.tick)
            self._wake.clear()
        log.info("worker_stopped")


class SingleRunnerLock:
    """An exclusive, non-blocking file lock: the first process to take it runs the in-process worker."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None
