"""All the ledger's SQL: Core statements for the cold paths, and a lean hot path for ``create_transfers``.

Reads build the core's values (``Account``, ``TransferRecord``); writes take them. Every balance write is a
conditional update on the account's ``version`` and every pending-status change a conditional update on the
current status; a write that misses (or breaks a unique key) writes nothing and reports a lost race, and the
service runs the batch again. That is what correctness rests on, on both databases.

The hot path is an attempt: ``load_batch`` opens a savepoint and reads, ``write_outcome`` writes and releases
it (or ``abandon`` rolls it back).

* **PostgreSQL**: two round trips, each one simple-protocol query of ``EXECUTE``s of statements prepared once
  per connection, with arrays for the batch's ids and values (one statement for every batch size, planned
  once). Round trip 1: ``SAVEPOINT``; the locks; the accounts; the transfers and recorded failures. The locks
  are transaction-scoped advisory locks, taken in one order everywhere (so no deadlock): the ledger-wide lock
  (shared), the batch's transfer ids and pending ids, then its accounts and those of the pending transfers it
  resolves (sorted 32-bit keys). Every writer of balances and statuses takes them before it reads, so what it
  reads stays true until it commits: writers to a hot account queue instead of retrying, and two twins of a
  transfer id never both decide, even on different accounts. Each statement has a snapshot of its own, taken
  once the one before has finished, so the reads see everything committed before the locks were granted. A
  batch that would need more than ``BIG_BATCH_LOCKS`` locks takes the ledger-wide lock exclusively instead.
  Round trip 2: one statement with a data-modifying CTE per non-empty part of the outcome (status changes,
  new transfers, balances, failures) that divides by zero when a conditional update missed; ``RELEASE``.
* **SQLite**: Core statements (executemany) on the session's connection, in the same savepoint.
  ``BEGIN IMMEDIATE`` already holds the write lock, and there are no round trips to save.

Nothing here commits: the caller's unit of work does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import weakref
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import psycopg
import psycopg.generators
from psycopg.adapt import Transformer
from sqlalchemy import Connection, Engine, bindparam, event, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2o.kit.time import UTC, ensure_utc
from o2o.wallet.ledger import (
    Account,
    AccountFlags,
    AccountKind,
    CreateTransferResult,
    OwnerKind,
    PendingStatus,
    TransferFlags,
    TransferRecord,
)
from o2o.wallet.models import WalletAccount, WalletFailedTransfer, WalletTransfer

accounts_t = WalletAccount.__table__
transfers_t = WalletTransfer.__table__
failed_t = WalletFailedTransfer.__table__

_ACCOUNT_COLUMNS = (
    accounts_t.c.id,
    accounts_t.c.currency,
    accounts_t.c.kind,
    accounts_t.c.owner_kind,
    accounts_t.c.owner_id,
    accounts_t.c.flags,
    accounts_t.c.debits_pending,
    accounts_t.c.debits_posted,
    accounts_t.c.credits_pending,
    accounts_t.c.credits_posted,
    accounts_t.c.created_at,
    accounts_t.c.version,
)
_TRANSFER_COLUMNS = (
    transfers_t.c.id,
    transfers_t.c.debit_account_id,
    transfers_t.c.credit_account_id,
    transfers_t.c.amount,
    transfers_t.c.currency,
    transfers_t.c.code,
    transfers_t.c.flags,
    transfers_t.c.pending_id,
    transfers_t.c.timeout,
    transfers_t.c.user_data_128,
    transfers_t.c.user_data_64,
    transfers_t.c.user_data_32,
    transfers_t.c.created_at,
    transfers_t.c.expires_at,
    transfers_t.c.pending_status,
)
_ACCOUNT_SQL = ", ".join(c.name for c in _ACCOUNT_COLUMNS)
_TRANSFER_SQL = ", ".join(c.name for c in _TRANSFER_COLUMNS)

# IN lists are chunked below this size (SQLite's default limit on bound parameters is 32766).
_CHUNK = 5000

SAVEPOINT = "o2o_ledger"
_TUPLES_OK = psycopg.pq.ExecStatus.TUPLES_OK
_FATAL_ERROR = psycopg.pq.ExecStatus.FATAL_ERROR
_IDLE = psycopg.pq.TransactionStatus.IDLE


def _chunks(ids: Collection[UUID]) -> Iterable[list[UUID]]:
    ordered = sorted(ids)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _driver(session: Session) -> Any:
    """The session's psycopg connection, in the session's transaction (begun if it was not)."""
    return session.connection().connection.driver_connection


# ---------------------------------------------------------------------------------------------------- rows

# Rows come from our own tables, whose constraints and the rules that wrote them already guarantee what the
# values' constructors check; building them without re-validating saves most of the Python a row costs.
_KIND = {k.value: k for k in AccountKind}
_OWNER_KIND = {k.value: k for k in OwnerKind}
_ACCOUNT_FLAGS = {int(f): AccountFlags(f) for f in range(8)}
_TRANSFER_FLAGS = {int(f): TransferFlags(f) for f in range(16)}
_STATUS = {s.value: s for s in PendingStatus}
_RESULT = {r.value: r for r in CreateTransferResult}
_new = object.__new__
_set = object.__setattr__


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is UTC:
        return value
    return ensure_utc(value)


def _account(row: Sequence[Any]) -> Account:
    """An ``Account`` from a row of ``_ACCOUNT_COLUMNS`` (the version, last, is left out)."""
    a = _new(Account)
    _set(a, "id", row[0])
    _set(a, "currency", row[1])
    _set(a, "kind", _KIND[row[2]])
    _set(a, "owner_kind", _OWNER_KIND[row[3]])
    _set(a, "owner_id", row[4])
    _set(a, "flags", _ACCOUNT_FLAGS[row[5]])
    _set(a, "debits_pending", row[6])
    _set(a, "debits_posted", row[7])
    _set(a, "credits_pending", row[8])
    _set(a, "credits_posted", row[9])
    _set(a, "timestamp", _utc(row[10]))
    return a


def _record(row: Sequence[Any]) -> TransferRecord:
    """A ``TransferRecord`` from a row of ``_TRANSFER_COLUMNS`` (the pending status, last, is left out)."""
    return TransferRecord(
        row[0],
        row[1],
        row[2],
        row[3],
        row[4],
        row[5],
        _TRANSFER_FLAGS[row[6]],
        row[7],
        row[8],
        row[9],
        row[10],
        row[11],
        _utc(row[12]),  # type: ignore[arg-type]
        _utc(row[13]),
    )


@dataclass(slots=True)
class Loaded:
    """What ``create_transfers`` reads: the accounts (with their versions) and the transfers it names."""

    accounts: dict[UUID, Account]
    versions: dict[UUID, int]
    transfers: dict[UUID, TransferRecord]
    pending_status: dict[UUID, PendingStatus]
    failed: dict[UUID, CreateTransferResult]


# ---------------------------------------------------------------------------------------------------- reads


LOCK_CLASS = 0x0A11
"""The first key of the ledger's transfer-id advisory locks (PostgreSQL's two-int4 lock space)."""
ACCOUNT_LOCK_CLASS = 0x0A12
"""The first key of the ledger's account advisory locks."""
LEDGER_LOCK_CLASS = 0x0A13
"""The first key of the ledger-wide lock: shared by every batch that locks its ids and accounts one by one,
exclusive for a batch that would need more than ``BIG_BATCH_LOCKS`` of them."""
BIG_BATCH_LOCKS = 256
"""A batch whose ids and accounts add up to more than this takes the ledger-wide lock instead of one lock each.
PostgreSQL's lock table, sized by max_locks_per_transaction x max_connections, holds 12,000 to 14,000 locks
for the whole server with the default settings, and big batches overlap each other anyway. Such a batch waits
for the batches under way and holds up those that come after it until it commits, as a TigerBeetle cluster
runs one batch at a time."""


def _lock_keys(ids: Collection[UUID]) -> list[int]:
    """Advisory lock keys (sorted): the last 4 bytes of each UUID, random in a UUIDv7. A collision only makes
    two batches queue."""
    return sorted({int.from_bytes(i.bytes[-4:], "big", signed=True) for i in ids})


_PG_ACCOUNTS = f"SELECT {_ACCOUNT_SQL} FROM wallet_accounts WHERE id = ANY(%s::uuid[])"
_PG_TRANSFERS = f"SELECT {_TRANSFER_SQL} FROM wallet_transfers WHERE id = ANY({{ids}})"
_PG_FAILED = "SELECT id, result FROM wallet_failed_transfers WHERE id = ANY({ids})"


def _read_transfers(rows: Iterable[Sequence[Any]], failed: Iterable[Sequence[Any]], loaded: Loaded) -> None:
    for row in rows:
        loaded.transfers[row[0]] = _record(row)
        if row[14] is not None:
            loaded.pending_status[row[0]] = _STATUS[row[14]]
    for row in failed:
        loaded.failed[row[0]] = _RESULT[row[1]]


def load_batch(
    session: Session, transfer_ids: Collection[UUID], account_ids: Collection[UUID], pending_ids: Collection[UUID]
) -> Loaded:
    """Begin an attempt: open its savepoint and read what a batch needs, with the locks that keep it true.

    ``transfer_ids`` are the batch's ids and pending ids (``transfer_ids_to_load``); ``account_ids`` the accounts
    its events name; ``pending_ids`` the pending transfers it posts or voids, whose accounts are loaded too
    (records never change, and the advisory locks taken first keep a pending transfer from appearing meanwhile).
    ``write_outcome`` or ``abandon`` ends the attempt."""
    loaded = Loaded({}, {}, {}, {}, {})
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        accounts_args = f"{_array(account_ids)}, {_array(pending_ids)}"
        if len(transfer_ids) + len(account_ids) + 2 * len(pending_ids) > BIG_BATCH_LOCKS:
            calls = [("o2o_ledger_lock_all", "")]
        else:
            calls = [("o2o_ledger_lock_shared", "")]
            if transfer_ids:
                calls.append(("o2o_ledger_lock", _array(_lock_keys(transfer_ids))))
            calls.append(("o2o_ledger_lock_accounts", accounts_args))
        ids = _array(transfer_ids)
        calls += [("o2o_ledger_accounts", accounts_args), ("o2o_ledger_transfers", ids), ("o2o_ledger_failed", ids)]
        *_locks, accounts, transfers, failed = _pg_run(conn, calls, begin=True)
        for row in accounts:
            loaded.accounts[row[0]] = _account(row)
            loaded.versions[row[0]] = row[11]
        _read_transfers(transfers, failed, loaded)
        return loaded
    # SQLite: BEGIN IMMEDIATE already serialises writers, so the order of the reads does not matter.
    conn.exec_driver_sql(f"SAVEPOINT {SAVEPOINT}")
    try:
        loaded.transfers, loaded.pending_status, loaded.failed = load_transfers(session, transfer_ids)
        account_set = set(account_ids)
        for pid in pending_ids:
            if (p := loaded.transfers.get(pid)) is not None:
                account_set.add(p.debit_account_id)
                account_set.add(p.credit_account_id)
        for account_id, (account, version) in load_accounts(session, account_set).items():
            loaded.accounts[account_id] = account
            loaded.versions[account_id] = version
    except BaseException:
        abandon(session)
        raise
    return loaded


def abandon(session: Session) -> None:
    """End an attempt begun by ``load_batch`` without writing: roll back to its savepoint and release it."""
    with contextlib.suppress(Exception):  # the connection may be gone, or the transaction failed: nothing to keep
        conn = session.connection()
        if conn.dialect.name == "postgresql":
            _pg_roll_back(conn)
        else:
            conn.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {SAVEPOINT}")
            conn.exec_driver_sql(f"RELEASE SAVEPOINT {SAVEPOINT}")


def load_accounts(session: Session, ids: Collection[UUID]) -> dict[UUID, tuple[Account, int]]:
    """Accounts by id with their version."""
    if not ids:
        return {}
    if is_postgresql(session):
        rows = _driver(session).execute(_PG_ACCOUNTS, (list(ids),))
        return {row[0]: (_account(row), row[11]) for row in rows}
    out: dict[UUID, tuple[Account, int]] = {}
    conn = session.connection()
    for chunk in _chunks(ids):
        for row in conn.execute(select(*_ACCOUNT_COLUMNS).where(accounts_t.c.id.in_(chunk))):
            out[row[0]] = (_account(row), row[11])
    return out


def all_accounts(session: Session) -> list[Account]:
    return [_account(row) for row in session.execute(select(*_ACCOUNT_COLUMNS).order_by(accounts_t.c.id))]


def load_transfers(
    session: Session, ids: Collection[UUID]
) -> tuple[dict[UUID, TransferRecord], dict[UUID, PendingStatus], dict[UUID, CreateTransferResult]]:
    """Transfer records, pending statuses and recorded failures for the given ids."""
    loaded = Loaded({}, {}, {}, {}, {})
    if not ids:
        return loaded.transfers, loaded.pending_status, loaded.failed
    if is_postgresql(session):
        pg, ids_list = _driver(session), list(ids)
        rows = pg.execute(_PG_TRANSFERS.format(ids="%s::uuid[]"), (ids_list,)).fetchall()
        _read_transfers(rows, pg.execute(_PG_FAILED.format(ids="%s::uuid[]"), (ids_list,)).fetchall(), loaded)
        return loaded.transfers, loaded.pending_status, loaded.failed
    conn = session.connection()
    for chunk in _chunks(ids):
        for row in conn.execute(select(*_TRANSFER_COLUMNS).where(transfers_t.c.id.in_(chunk))):
            loaded.transfers[row[0]] = _record(row)
            if row[14] is not None:
                loaded.pending_status[row[0]] = _STATUS[row[14]]
        for row in conn.execute(select(failed_t.c.id, failed_t.c.result).where(failed_t.c.id.in_(chunk))):
            loaded.failed[row[0]] = _RESULT[row[1]]
    return loaded.transfers, loaded.pending_status, loaded.failed


def all_transfers(session: Session) -> tuple[dict[UUID, TransferRecord], dict[UUID, PendingStatus]]:
    records: dict[UUID, TransferRecord] = {}
    status: dict[UUID, PendingStatus] = {}
    for row in session.execute(select(*_TRANSFER_COLUMNS).order_by(transfers_t.c.id)):
        records[row[0]] = _record(row)
        if row[14] is not None:
            status[row[0]] = _STATUS[row[14]]
    return records, status


def all_failed(session: Session) -> dict[UUID, CreateTransferResult]:
    return {row.id: CreateTransferResult(row.result) for row in session.execute(select(failed_t))}


def due_pending_ids(session: Session, now: dt.datetime, limit: int) -> list[UUID]:
    stmt = (
        select(transfers_t.c.id)
        .where(transfers_t.c.pending_status == PendingStatus.PENDING.value, transfers_t.c.expires_at <= now)
        .order_by(transfers_t.c.expires_at, transfers_t.c.id)
        .limit(limit)
    )
    return list(session.scalars(stmt))


def account_transfers(session: Session, account_id: UUID, limit: int = 100) -> list[TransferRecord]:
    """The newest transfers that debit or credit an account, newest first."""
    stmt = (
        select(*_TRANSFER_COLUMNS)
        .where((transfers_t.c.debit_account_id == account_id) | (transfers_t.c.credit_account_id == account_id))
        .order_by(transfers_t.c.created_at.desc(), transfers_t.c.id.desc())
        .limit(limit)
    )
    return [_record(row) for row in session.execute(stmt)]


def sum_balances(session: Session) -> list[tuple[str, int, int]]:
    """Per currency: sum of (debits_posted - credits_posted) and of (debits_pending - credits_pending)."""
    stmt = select(
        accounts_t.c.currency,
        func.sum(accounts_t.c.debits_posted - accounts_t.c.credits_posted),
        func.sum(accounts_t.c.debits_pending - accounts_t.c.credits_pending),
    ).group_by(accounts_t.c.currency)
    return [(c, int(p or 0), int(q or 0)) for c, p, q in session.execute(stmt)]


# ---------------------------------------------------------------------------------------------------- writes


def insert_accounts(session: Session, accounts: Iterable[Account], city_id: UUID | None) -> None:
    rows = [
        {
            "id": a.id,
            "city_id": city_id,
            "currency": a.currency,
            "kind": a.kind.value,
            "owner_kind": a.owner_kind.value,
            "owner_id": a.owner_id,
            "flags": int(a.flags),
            "debits_pending": a.debits_pending,
            "debits_posted": a.debits_posted,
            "credits_pending": a.credits_pending,
            "credits_posted": a.credits_posted,
            "version": 0,
            "created_at": a.timestamp,
        }
        for a in accounts
    ]
    if rows:
        session.execute(insert(accounts_t), rows)


def _transfer_rows(records: Iterable[TransferRecord], pending_status: Mapping[UUID, PendingStatus]) -> list[tuple]:
    """Rows in ``_TRANSFER_COLUMNS`` order."""
    rows = []
    for r in records:
        status = pending_status.get(r.id) if r.is_pending else None
        rows.append(
            (
                r.id,
                r.debit_account_id,
                r.credit_account_id,
                r.amount,
                r.currency,
                r.code,
                int(r.flags),
                r.pending_id,
                r.timeout,
                r.user_data_128,
                r.user_data_64,
                r.user_data_32,
                r.timestamp,
                r.expires_at,
                status.value if status is not None else None,
            )
        )
    return rows


def insert_transfers(
    session: Session, records: Iterable[TransferRecord], pending_status: Mapping[UUID, PendingStatus]
) -> None:
    names = [c.name for c in _TRANSFER_COLUMNS]
    rows = [dict(zip(names, row, strict=True)) for row in _transfer_rows(records, pending_status)]
    if rows:
        session.connection().execute(insert(transfers_t), rows)


def insert_failed(session: Session, failed: Mapping[UUID, CreateTransferResult], now: dt.datetime) -> None:
    rows = [{"id": i, "result": r.value, "created_at": now} for i, r in failed.items()]
    if rows:
        session.connection().execute(insert(failed_t), rows)


_UPDATE_BALANCES = (
    update(accounts_t)
    .where(accounts_t.c.id == bindparam("b_id"), accounts_t.c.version == bindparam("b_version"))
    .values(
        debits_pending=bindparam("b_dp"),
        debits_posted=bindparam("b_dpo"),
        credits_pending=bindparam("b_cp"),
        credits_posted=bindparam("b_cpo"),
        version=accounts_t.c.version + 1,
    )
)

_UPDATE_STATUS = (
    update(transfers_t)
    .where(transfers_t.c.id == bindparam("s_id"), transfers_t.c.pending_status == PendingStatus.PENDING.value)
    .values(pending_status=bindparam("s_status"))
)


def _execute_counted(session: Session, stmt: Any, rows: list[dict[str, Any]]) -> int:
    """Run a conditional UPDATE for each row; the number of rows it hit (executemany where the driver
    reports a true total, else one statement per row)."""
    if not rows:
        return 0
    conn = session.connection()
    if len(rows) > 1 and conn.dialect.supports_sane_multi_rowcount:
        return conn.execute(stmt, rows).rowcount
    return sum(conn.execute(stmt, row).rowcount for row in rows)


def update_balances(session: Session, accounts: Iterable[Account], versions: Mapping[UUID, int]) -> bool:
    """Write new balances, each guarded by the version read; False if any account changed meanwhile."""
    rows = [
        {
            "b_id": a.id,
            "b_version": versions[a.id],
            "b_dp": a.debits_pending,
            "b_dpo": a.debits_posted,
            "b_cp": a.credits_pending,
            "b_cpo": a.credits_posted,
        }
        for a in sorted(accounts, key=lambda a: a.id)
    ]
    return _execute_counted(session, _UPDATE_BALANCES, rows) == len(rows)


def resolve_pending(session: Session, changes: Mapping[UUID, PendingStatus]) -> bool:
    """Move pending transfers out of ``pending``; False if any had already left it."""
    rows = [{"s_id": i, "s_status": s.value} for i, s in sorted(changes.items())]
    return _execute_counted(session, _UPDATE_STATUS, rows) == len(rows)


def write_outcome(
    session: Session,
    *,
    now: dt.datetime,
    resolved: Mapping[UUID, PendingStatus] = {},
    transfers: Sequence[TransferRecord] = (),
    pending_status: Mapping[UUID, PendingStatus] = {},
    accounts: Iterable[Account] = (),
    versions: Mapping[UUID, int] = {},
    failed: Mapping[UUID, CreateTransferResult] = {},
) -> bool:
    """End an attempt begun by ``load_batch``: write its outcome, all or nothing, and release the savepoint.

    The outcome: pending transfers ``resolved`` (each still ``pending``), new ``transfers`` (a pending one with
    its status from ``pending_status``), new balances of ``accounts`` (each still at the version in
    ``versions``), and ids recorded as ``failed``. False when a conditional update missed or a key was taken (a
    lost race): then the attempt is rolled back, and the caller's transaction goes on as it was before it."""
    account_list = sorted(accounts, key=lambda a: a.id)
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return _pg_write(conn, now, resolved, transfers, pending_status, account_list, versions, failed)
    try:
        ok = resolve_pending(session, resolved)
        if ok:
            insert_transfers(session, transfers, pending_status)
            ok = update_balances(session, account_list, versions)
        if ok:
            insert_failed(session, failed, now)
    except IntegrityError:
        ok = False
    except BaseException:
        abandon(session)
        raise
    if not ok:
        abandon(session)
        return False
    conn.exec_driver_sql(f"RELEASE SAVEPOINT {SAVEPOINT}")
    return True


# ---------------------------------------------------------------------------------------------------- PostgreSQL
#
# Measured on this project's machine (2 cores, loopback): a round trip costs PostgreSQL ~55 us of CPU and the
# client as much, planning a statement like these ~50 us, and psycopg's pipeline mode more Python than it saves.
# So each group of statements goes as one simple-protocol query of ``EXECUTE``s of statements prepared once per
# connection, their arguments written as literals by ``_array``, which accepts only the types the ledger
# stores (UUIDs, ints, aware datetimes, None, and strings of letters, digits and underscores: currency codes
# and enum values), so nothing a caller passes can change a statement.

_PG_ACCOUNT_IDS = (
    "SELECT unnest($1) UNION ALL SELECT debit_account_id FROM wallet_transfers WHERE id = ANY($2)"
    " UNION ALL SELECT credit_account_id FROM wallet_transfers WHERE id = ANY($2)"
)
_PG_ACCOUNT_KEY = "('x' || right({}::text, 8))::bit(32)::int4"  # = _lock_keys' key: the UUID's last 4 bytes

_PG_STATEMENTS: dict[str, tuple[str, str]] = {
    # name: (parameter types, statement)
    "o2o_ledger_lock_all": ("", f"SELECT pg_advisory_xact_lock({LEDGER_LOCK_CLASS}, 0)"),
    "o2o_ledger_lock_shared": ("", f"SELECT pg_advisory_xact_lock_shared({LEDGER_LOCK_CLASS}, 0)"),
    "o2o_ledger_lock": ("int4[]", f"SELECT pg_advisory_xact_lock({LOCK_CLASS}, k) FROM unnest($1) AS k"),
    # The accounts a batch names ($1) and those of the pending transfers it posts or voids ($2).
    "o2o_ledger_lock_accounts": (
        "uuid[], uuid[]",
        f"SELECT pg_advisory_xact_lock({ACCOUNT_LOCK_CLASS}, k) FROM unnest(ARRAY("
        f"SELECT DISTINCT {_PG_ACCOUNT_KEY.format('a')} FROM ({_PG_ACCOUNT_IDS}) AS u(a) ORDER BY 1)) AS k",
    ),
    "o2o_ledger_accounts": (
        "uuid[], uuid[]",
        f"SELECT {_ACCOUNT_SQL} FROM wallet_accounts WHERE id = ANY(ARRAY({_PG_ACCOUNT_IDS}))",
    ),
    "o2o_ledger_transfers": ("uuid[]", _PG_TRANSFERS.format(ids="$1")),
    "o2o_ledger_failed": ("uuid[]", _PG_FAILED.format(ids="$1")),
}

# The write: a data-modifying CTE per part, with its parameters and the check of a conditional update.
_PG_WRITE_PARTS: dict[str, tuple[str, str, str | None]] = {
    "s": (
        "uuid[], varchar[], int4",
        "s AS (UPDATE wallet_transfers AS t SET pending_status = v.status FROM unnest(${0}, ${1}) AS v(id, status)"
        " WHERE t.id = v.id AND t.pending_status = 'pending' RETURNING 1)",
        "(SELECT count(*) FROM s) = ${2}",
    ),
    "t": (
        "uuid[], uuid[], uuid[], int8[], varchar[], int4[], int4[], uuid[], int4[], uuid[], int8[], int4[], "
        "timestamptz[], timestamptz[], varchar[]",
        f"i AS (INSERT INTO wallet_transfers ({_TRANSFER_SQL}) SELECT * FROM unnest("
        + ", ".join(f"${{{n}}}" for n in range(15))
        + "))",
        None,
    ),
    "b": (
        "uuid[], int8[], int8[], int8[], int8[], int8[], int4",
        "b AS (UPDATE wallet_accounts AS a SET debits_pending = v.dp, debits_posted = v.dpo,"
        " credits_pending = v.cp, credits_posted = v.cpo, version = a.version + 1"
        " FROM unnest(${0}, ${1}, ${2}, ${3}, ${4}, ${5}) AS v(id, version, dp, dpo, cp, cpo)"
        " WHERE a.id = v.id AND a.version = v.version RETURNING 1)",
        "(SELECT count(*) FROM b) = ${6}",
    ),
    "f": (
        "uuid[], varchar[], timestamptz",
        "f AS (INSERT INTO wallet_failed_transfers (id, result, created_at)"
        " SELECT v.id, v.result, ${2} FROM unnest(${0}, ${1}) AS v(id, result))",
        None,
    ),
}


def _pg_write_statement(parts: str) -> tuple[str, str]:
    """The write statement for a combination of parts (e.g. ``"tb"``): its parameter types and text. Its final
    SELECT divides by zero unless every conditional update hit all its rows, so a lost race fails the
    statement instead of leaving half a batch behind."""
    types, ctes, checks, n = [], [], [], 1
    for part in parts:
        part_types, cte, check = _PG_WRITE_PARTS[part]
        count = part_types.count(",") + 1
        numbers = [str(n + k) for k in range(count)]
        types.append(part_types)
        ctes.append(cte.format(*numbers))
        if check is not None:
            checks.append(check.format(*numbers))
        n += count
    return ", ".join(types), "WITH " + ", ".join(ctes) + " SELECT 1 / (" + (" AND ".join(checks) or "true") + ")::int"


def _element(value: Any) -> str:
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    if value is None:
        return "NULL"
    if isinstance(value, str):
        if not (value.isascii() and value.replace("_", "a").isalnum()) or value.upper() == "NULL":
            raise ValueError(f"not a ledger code: {value!r}")
        return value
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.isoformat()
    raise TypeError(f"no SQL literal for {type(value).__name__}")


_ELEMENT: dict[type, Any] = {UUID: str, int: str, type(None): lambda _v: "NULL"}  # the common cases, fast


def _array(values: Iterable[Any]) -> str:
    """A literal array of the ledger's values (its type comes from the prepared statement's parameter)."""
    get = _ELEMENT.get
    return "'{" + ",".join([get(type(v), _element)(v) for v in values]) + "}'"


def _scalar(value: Any) -> str:
    return f"'{_element(value)}'"


# The planner settings of an attempt. With arrays for arguments, PostgreSQL's plan cache prefers a custom plan
# per execution (a 2-element array looks cheaper than the generic plan's guess of 10), so it plans every time:
# 40 to 160 us a statement, about 40% of the server's time for a transfer. The right plans are index lookups
# by id and nested loops, whatever the batch size and whatever the statistics say (a generic plan made while a
# table is small or not analysed yet would otherwise scan it sequentially for as long as the connection
# lives): so an attempt forces generic plans made without sequential scans, hash or merge joins, and puts the
# settings back as they were before it (a rollback to the savepoint puts them back by itself).
_SETTINGS = {"plan_cache_mode": "force_generic_plan", "enable_seqscan": "off", "enable_hashjoin": "off"}
_SETTINGS |= {"enable_mergejoin": "off"}
_SAVE_SETTINGS = "SELECT " + ", ".join(f"current_setting('{name}')" for name in _SETTINGS)
_SET_SETTINGS = "SELECT " + ", ".join(f"set_config('{name}', '{value}', true)" for name, value in _SETTINGS.items())
_SAVED = "o2o_ledger_settings"
"""Key, in the DBAPI connection's ``info``, of the settings an attempt under way found (to put them back)."""

_PREPARED = "o2o_ledger_prepared"
"""Key, in the DBAPI connection's ``info``, of the set of statements prepared on it (absent: not known)."""

_WATCHED: weakref.WeakSet[Engine] = weakref.WeakSet()


def _forget_prepared(conn: Connection, *_args: Any) -> None:
    """psycopg deallocates every prepared statement of a connection when it rolls back (or to a savepoint) and
    has prepared statements of its own: after a rollback ours are no longer known to be there."""
    with contextlib.suppress(Exception):
        conn.connection.info.pop(_PREPARED, None)


def _prepare(conn: Connection, names: Iterable[str]) -> Any:
    """The psycopg connection under ``conn``, with the named statements prepared on it (in the transaction; a
    prepared statement outlives it). What is prepared is asked of the server when it is not known."""
    engine = conn.engine
    if engine not in _WATCHED:
        event.listen(engine, "rollback", _forget_prepared)
        event.listen(engine, "rollback_savepoint", _forget_prepared)
        _WATCHED.add(engine)
    fairy = conn.connection
    pg = fairy.driver_connection
    prepared = fairy.info.get(_PREPARED)
    if prepared is None:
        [rows] = _pg_script(pg, "SELECT name FROM pg_prepared_statements WHERE starts_with(name, 'o2o_ledger_')")
        prepared = fairy.info[_PREPARED] = {row[0] for row in rows}
    missing = [name for name in dict.fromkeys(names) if name not in prepared]
    if missing:
        script = []
        for name in missing:
            types, statement = _PG_STATEMENTS.get(name) or _pg_write_statement(name.removeprefix("o2o_ledger_w_"))
            script.append(f"PREPARE {name}{f'({types})' if types else ''} AS {statement}")
        try:
            _pg_script(pg, "; ".join(script))
        except BaseException:
            fairy.info.pop(_PREPARED, None)
            raise
        prepared.update(missing)
    return pg


def _pg_script(pg: Any, script: str) -> list[list[tuple]]:
    """Send statements as one simple-protocol query, in one round trip; the rows of each that returns rows.

    Through the connection's libpq handle rather than a cursor: a cursor would first send ``BEGIN`` in a round
    trip of its own when no transaction is open (here it goes with the script, as psycopg would have written
    it), and costs more Python per call. The first failed statement raises psycopg's error for it."""
    pgconn = pg.pgconn
    if not pg.autocommit and pgconn.transaction_status == _IDLE:
        script = f"{_begin_statement(pg)}; {script}"
    with pg.lock:
        pgconn.send_query(script.encode())
        results = pg.wait(psycopg.generators.execute(pgconn))
    out, tx = [], None
    for result in results:
        if result.status == _TUPLES_OK:
            if tx is None:
                tx = Transformer(pg)
            tx.set_pgresult(result)
            out.append(tx.load_rows(0, result.ntuples, tuple))
        elif result.status == _FATAL_ERROR:
            raise psycopg.errors.error_from_result(result, encoding=pg.info.encoding)
    return out


def _begin_statement(pg: Any) -> str:
    """The ``BEGIN`` psycopg would send for this connection's transaction characteristics."""
    parts = ["BEGIN"]
    if pg.isolation_level is not None:
        parts.append("ISOLATION LEVEL " + psycopg.IsolationLevel(pg.isolation_level).name.replace("_", " "))
    if pg.read_only is not None:
        parts.append("READ ONLY" if pg.read_only else "READ WRITE")
    if pg.deferrable is not None:
        parts.append("DEFERRABLE" if pg.deferrable else "NOT DEFERRABLE")
    return " ".join(parts)


def _pg_run(conn: Connection, calls: Sequence[tuple[str, str]], *, begin: bool = False, end: bool = False) -> list:
    """Execute prepared statements (name, literal arguments) in one round trip; the rows of each. ``begin``
    opens the attempt's savepoint first, ``end`` releases it last.

    A statement may have been deallocated without our knowing (a rollback made outside SQLAlchemy): then the
    attempt, which has only read so far, is rolled back to its savepoint, and made again once."""
    info = conn.connection.info
    for again in (False, True):
        pg = _prepare(conn, (name for name, _args in calls))
        script = [f"SAVEPOINT {SAVEPOINT}", _SAVE_SETTINGS, _SET_SETTINGS] if begin else []
        script += [f"EXECUTE {name}({args})" if args else f"EXECUTE {name}" for name, args in calls]
        if end:
            saved = info.pop(_SAVED)
            restore = ", ".join(f"set_config('{n}', {_scalar(v)}, true)" for n, v in zip(_SETTINGS, saved, strict=True))
            script += [f"SELECT {restore}", f"RELEASE SAVEPOINT {SAVEPOINT}"]
        try:
            out = _pg_script(pg, "; ".join(script))
            if begin:
                [info[_SAVED]], _set, *out = out
            return out[:-1] if end else out
        except psycopg.errors.InvalidSqlStatementName:
            if again or not begin:
                raise
            _pg_roll_back(conn)
        except BaseException:
            if begin:
                with contextlib.suppress(Exception):
                    _pg_roll_back(conn)
            raise
    raise AssertionError("unreachable")


def _pg_roll_back(conn: Connection) -> None:
    """Roll back to the attempt's savepoint and release it."""
    fairy = conn.connection
    fairy.info.pop(_PREPARED, None)  # cheap to check again, and a rollback may have deallocated our statements
    fairy.info.pop(_SAVED, None)  # the rollback puts the settings back
    _pg_script(fairy.driver_connection, f"ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}")


def _pg_write(
    conn: Connection,
    now: dt.datetime,
    resolved: Mapping[UUID, PendingStatus],
    transfers: Sequence[TransferRecord],
    pending_status: Mapping[UUID, PendingStatus],
    accounts: list[Account],
    versions: Mapping[UUID, int],
    failed: Mapping[UUID, CreateTransferResult],
) -> bool:
    parts, args = "", []
    if resolved:
        parts += "s"
        changes = sorted(resolved.items())
        args += [_array(i for i, _s in changes), _array(s.value for _i, s in changes), str(len(changes))]
    if transfers:
        parts += "t"
        args += [_array(column) for column in zip(*_transfer_rows(transfers, pending_status), strict=True)]
    if accounts:
        parts += "b"
        args += [
            _array(a.id for a in accounts),
            _array(versions[a.id] for a in accounts),
            _array(a.debits_pending for a in accounts),
            _array(a.debits_posted for a in accounts),
            _array(a.credits_pending for a in accounts),
            _array(a.credits_posted for a in accounts),
            str(len(accounts)),
        ]
    if failed:
        parts += "f"
        args += [_array(failed), _array(r.value for r in failed.values()), _scalar(now)]
    calls = [(f"o2o_ledger_w_{parts}", ", ".join(args))] if parts else []
    try:
        _pg_run(conn, calls, end=True)
    except (psycopg.errors.DivisionByZero, psycopg.IntegrityError, psycopg.errors.InvalidSqlStatementName):
        _pg_roll_back(conn)  # a lost race (or a statement deallocated under us): the attempt runs again
        return False
    except BaseException:
        with contextlib.suppress(Exception):  # the connection may be gone; the caller rolls back anyway
            _pg_roll_back(conn)
        raise
    return True
