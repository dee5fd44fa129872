"""Shared fixtures: the suite runs on SQLite and on PostgreSQL.

Database-backed fixtures are parametrised over the backends, so every service and endpoint test runs on
both (test ids end in ``[sqlite]`` / ``[postgresql]``). PostgreSQL comes from ``O2O_TEST_POSTGRES_URL``
(default: the local server); each run creates a fresh database and drops it at the end. Pure tests take no
database fixture and run once.

With ``CI=true`` nothing that needs PostgreSQL or the browser may be skipped: an unreachable server or a
missing Chromium fails the run instead (see ``pytest_runtest_makereport``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from o2o import migrate
from o2o.config import Settings
from o2o.db import Database, make_null_pool_engine
from o2o.models import metadata

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
POSTGRES_ADMIN_URL = os.environ.get(
    "O2O_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def _postgres_reachable() -> str | None:
    """None when reachable, else why not."""
    try:
        engine = make_null_pool_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any failure to connect means "not here"
        return f"{type(exc).__name__}: {exc}".splitlines()[0]


_PG_PROBLEM = _postgres_reachable() if os.environ.get("O2O_TEST_SKIP_POSTGRES") != "1" else "disabled"
BACKENDS = ["sqlite", "postgresql"]


def pytest_report_header(config: pytest.Config) -> list[str]:
    status = "available" if _PG_PROBLEM is None else f"unavailable ({_PG_PROBLEM})"
    return [f"o2o: PostgreSQL {status}; CI={IN_CI}"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped:
        needs_pg = "[postgresql" in item.nodeid or item.get_closest_marker("postgres_only") is not None
        needs_browser = item.get_closest_marker("browser") is not None
        if needs_pg or needs_browser:
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, which must run it: {report.longrepr}"


# ----------------------------------------------------------------------------------------------------------------
# Databases


def _create_postgres_database() -> str:
    name = f"o2o_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_null_pool_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def _drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    admin = make_null_pool_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A freshly migrated database of each backend, for the whole run."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'o2o-test.db'}"
        migrate.upgrade(url)
        yield url
        return
    if _PG_PROBLEM is not None:
        pytest.skip(f"PostgreSQL unavailable: {_PG_PROBLEM}")
    url = _create_postgres_database()
    try:
        migrate.upgrade(url)
        yield url
    finally:
        _drop_postgres_database(url)


@pytest.fixture(scope="session")
def _database(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


def _wipe(database: Database) -> None:
    # DELETE, children first, on both backends: on PostgreSQL a TRUNCATE of every table costs ~130 ms (new
    # files for each table) against a few ms for deleting the handful of rows a test leaves.
    tables = [t for t in reversed(metadata.sorted_tables)]
    with database.engine.begin() as conn:
        for table in tables:
            conn.execute(table.delete())


@pytest.fixture
def db(_database: Database) -> Iterator[Database]:
    """The test's database, emptied after the test."""
    yield _database
    _wipe(_database)


@pytest.fixture
def session(db: Database) -> Iterator:
    """A session for service tests. The test is the unit-of-work boundary: it commits when it wants to."""
    with db.sessionmaker() as s:
        yield s
        s.rollback()


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=db.url,
        var_dir=tmp_path / "var",
        inprocess_worker=False,
        demo_seed_on_start=False,
    )


@pytest.fixture
def app(settings: Settings, db: Database):
    from o2o.app import create_app

    return create_app(settings, db)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver") as c:
        yield c


# ----------------------------------------------------------------------------------------------------------------
# A real server on a loopback port, for browser tests and races over real HTTP connections.


class LiveServer:
    def __init__(self, app, host: str = "127.0.0.1") -> None:
        import socket
        import threading

        import uvicorn

        with socket.socket() as sock:
            sock.bind((host, 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        config = uvicorn.Config(app, host=host, port=self.port, log_config=None, access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("live server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server
