"""All the ledger's SQL, as Core statements (no ORM object per row on the hot path).

Reads build the core's values (``Account``, ``TransferRecord``); writes take them. Every balance write is a
conditional update on the account's ``version`` and every pending-status change a conditional update on the
current status; both report whether they hit, and the service retries the batch when one did not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, func, insert, select, text, update
from sqlalchemy.orm import Session

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

# IN lists are chunked below this size (SQLite's default limit on bound parameters is 32766; PG's is 65535).
_CHUNK = 5000


def _chunks(ids: Collection[UUID]) -> Iterable[list[UUID]]:
    ordered = sorted(ids)
    for i in range(0, len(ordered), _CHUNK):
        yield ordered[i : i + _CHUNK]


def is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _account(row: Any) -> Account:
    return Account(
        id=row.id,
        currency=row.currency,
        kind=AccountKind(row.kind),
        owner_kind=OwnerKind(row.owner_kind),
        owner_id=row.owner_id,
        flags=AccountFlags(row.flags),
        debits_pending=row.debits_pending,
        debits_posted=row.debits_posted,
        credits_pending=row.credits_pending,
        credits_posted=row.credits_posted,
        timestamp=row.created_at,
    )


def _record(row: Any) -> TransferRecord:
    return TransferRecord(
        row.id,
        row.debit_account_id,
        row.credit_account_id,
        row.amount,
        row.currency,
        row.code,
        TransferFlags(row.flags),
        row.pending_id,
        row.timeout,
        row.user_data_128,
        row.user_data_64,
        row.user_data_32,
        row.created_at,
        row.expires_at,
    )


# ---------------------------------------------------------------------------------------------------- reads


LOCK_CLASS = 0x0A11
"""The first key of the ledger's transfer-id advisory locks (PostgreSQL's two-int4 lock space)."""

_LOCK_TRANSFER_IDS = text("SELECT pg_advisory_xact_lock(:lock_class, k) FROM unnest(CAST(:keys AS integer[])) AS k")


def lock_transfer_ids(session: Session, ids: Collection[UUID]) -> None:
    """On PostgreSQL, take transaction-scoped advisory locks on transfer ids (32-bit hashes), in sorted order.

    Every writer locks its batch's ids and pending ids before it reads them, so whatever it reads about them
    (record, pending status, recorded failure) stays true until it commits: two twins of an id never both
    decide, even when they name different accounts. A hash collision only makes two batches queue.
    Taken before the account row locks, in one order everywhere, so no deadlock. SQLite needs none."""
    if not ids or not is_postgresql(session):
        return
    keys = sorted({int.from_bytes(i.bytes[-4:], "big", signed=True) for i in ids})
    session.execute(_LOCK_TRANSFER_IDS, {"lock_class": LOCK_CLASS, "keys": keys})


def load_accounts(session: Session, ids: Collection[UUID], *, lock: bool = False) -> dict[UUID, tuple[Account, int]]:
    """Accounts by id with their version. ``lock`` takes ``FOR UPDATE`` row locks in sorted id order (on
    PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE`` and has no row locks)."""
    out: dict[UUID, tuple[Account, int]] = {}
    lock = lock and is_postgresql(session)
    for chunk in _chunks(ids):
        stmt = select(*_ACCOUNT_COLUMNS).where(accounts_t.c.id.in_(chunk))
        if lock:
            stmt = stmt.order_by(accounts_t.c.id).with_for_update()
        for row in session.execute(stmt):
            out[row.id] = (_account(row), row.version)
    return out


def all_accounts(session: Session) -> list[Account]:
    return [_account(row) for row in session.execute(select(*_ACCOUNT_COLUMNS).order_by(accounts_t.c.id))]


def load_transfers(
    session: Session, ids: Collection[UUID]
) -> tuple[dict[UUID, TransferRecord], dict[UUID, PendingStatus], dict[UUID, CreateTransferResult]]:
    """Transfer records, pending statuses and recorded failures for the given ids."""
    records: dict[UUID, TransferRecord] = {}
    status: dict[UUID, PendingStatus] = {}
    failed: dict[UUID, CreateTransferResult] = {}
    for chunk in _chunks(ids):
        for row in session.execute(select(transfers_t).where(transfers_t.c.id.in_(chunk))):
            records[row.id] = _record(row)
            if row.pending_status is not None:
                status[row.id] = PendingStatus(row.pending_status)
        for row in session.execute(select(failed_t.c.id, failed_t.c.result).where(failed_t.c.id.in_(chunk))):
            failed[row.id] = CreateTransferResult(row.result)
    return records, status, failed


def all_transfers(session: Session) -> tuple[dict[UUID, TransferRecord], dict[UUID, PendingStatus]]:
    records: dict[UUID, TransferRecord] = {}
    status: dict[UUID, PendingStatus] = {}
    for row in session.execute(select(transfers_t).order_by(transfers_t.c.id)):
        records[row.id] = _record(row)
        if row.pending_status is not None:
            status[row.id] = PendingStatus(row.pending_status)
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
        select(transfers_t)
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


def insert_transfers(
    session: Session, records: Iterable[TransferRecord], pending_status: Mapping[UUID, PendingStatus]
) -> None:
    rows = []
    for r in records:
        status = pending_status.get(r.id) if r.is_pending else None
        rows.append(
            {
                "id": r.id,
                "debit_account_id": r.debit_account_id,
                "credit_account_id": r.credit_account_id,
                "amount": r.amount,
                "currency": r.currency,
                "code": r.code,
                "flags": int(r.flags),
                "pending_id": r.pending_id,
                "timeout": r.timeout,
                "user_data_128": r.user_data_128,
                "user_data_64": r.user_data_64,
                "user_data_32": r.user_data_32,
                "created_at": r.timestamp,
                "expires_at": r.expires_at,
                "pending_status": status.value if status is not None else None,
            }
        )
    if rows:
        session.execute(insert(transfers_t), rows)


def insert_failed(session: Session, failed: Mapping[UUID, CreateTransferResult], now: dt.datetime) -> None:
    rows = [{"id": i, "result": r.value, "created_at": now} for i, r in failed.items()]
    if rows:
        session.execute(insert(failed_t), rows)


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
