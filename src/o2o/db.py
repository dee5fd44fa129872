"""Database plumbing: the declarative base, shared column types, engines, and the unit of work.

The rule: one session per request (or job, or CLI command) and one commit at its boundary. Services
``flush()`` when they need ids and never ``commit()``. ``session_scope`` is that boundary for the CLI and the
worker; ``o2o.http.TransactionalRoute`` is that boundary for HTTP requests. Side effects that must happen
after the commit register with ``on_commit(session, fn)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import structlog
from sqlalchemy import DateTime, Engine, MetaData, String, TypeDecorator, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import NullPool

from o2o.kit.ids import uuid7
from o2o.kit.time import ensure_utc, now

log = structlog.get_logger("o2o.db")

# Every constraint gets a predictable name, so Alembic can alter it later (SQLite batch mode needs names).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp that is always UTC-aware in Python, whatever the database returns."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use o2o.kit.time.now()")
        value = value.astimezone(dt.UTC)
        # SQLite keeps text; store it without offset so string comparison orders correctly.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else ensure_utc(value)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), str: String()}


class IdMixin:
    """A time-ordered UUIDv7 primary key."""

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid7, sort_order=-10)


class CreatedAtMixin:
    created_at: Mapped[dt.datetime] = mapped_column(default=now, sort_order=90)


# --------------------------------------------------------------------------------------------------------------
# Engines


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")  # wait for the write lock instead of failing at once
    cursor.close()


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock when the transaction starts rather than on its first write: otherwise two readers
    # that both go on to write deadlock and one fails with "database is locked" instead of waiting.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "isolation_level": None, "timeout": 30},
            pool_size=pool_size,
            max_overflow=20,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
        return engine
    # No pool_pre_ping: it costs a round trip on every checkout (measured: 6% of a profile read). Connections
    # are recycled instead, and a connection broken by a server restart fails one request, which rolls back.
    return create_engine(url, echo=echo, pool_size=pool_size, max_overflow=20, pool_recycle=1800)


def make_null_pool_engine(url: str) -> Engine:
    """An engine without pooling, for one-off admin work (create/drop databases, migrations)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, poolclass=NullPool)


_DATABASE = "o2o_database"


def settings_of(session: Session) -> Any:
    """The settings of the process that opened ``session`` (its Database's), else the environment's."""
    database = session.info.get(_DATABASE)
    if database is not None and database.settings is not None:
        return database.settings
    from o2o.config import get_settings

    return get_settings()


class Database:
    """An engine and its session factory. One per process (the app keeps it on ``app.state.db``)."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False, settings: Any = None) -> None:
        self.url = url
        # The owning process's settings (``o2o.config.Settings``), for worker jobs that need more than the
        # database (channel keys, the public URL). None in scripts that only touch tables.
        self.settings = settings
        self.engine = make_engine(url, pool_size=pool_size, echo=echo)
        # Each session knows its Database (``settings_of``), so a service deep in a call chain (a wallet hook)
        # reads the settings of the process that opened the session.
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False, autoflush=True, info={_DATABASE: self})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits once at the end, rolls back on any exception."""
        with self.sessionmaker() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


# --------------------------------------------------------------------------------------------------------------
# After-commit hooks: side effects run only once the change is durable.

_AFTER_COMMIT = "o2o_after_commit"


def on_commit(session: Session, fn: Callable[[], None]) -> None:
    """Run ``fn`` after the session's transaction commits; dropped if it rolls back."""
    session.info.setdefault(_AFTER_COMMIT, []).append(fn)


@event.listens_for(Session, "after_commit")
def _run_after_commit(session: Session) -> None:
    callbacks = session.info.pop(_AFTER_COMMIT, [])
    for fn in callbacks:
        try:
            fn()
        except Exception:  # a failed side effect must not undo a committed change
            log.exception("after_commit_failed", callback=getattr(fn, "__name__", repr(fn)))


@event.listens_for(Session, "after_rollback")
def _drop_after_commit(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)


# --------------------------------------------------------------------------------------------------------------
# Per-transaction memos: values read once per unit of work (e.g. the caller's grants, needed by authentication
# and again by the endpoint). Forgotten whenever a transaction ends, so nothing stale crosses a commit.

_MEMOS = "o2o_transaction_memos"


def transaction_memo(session: Session, name: str) -> dict[Any, Any]:
    return session.info.setdefault(_MEMOS, {}).setdefault(name, {})


@event.listens_for(Session, "after_transaction_end")
def _forget_memos(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the unit of work ended; a savepoint's end keeps what was read
        session.info.pop(_MEMOS, None)
