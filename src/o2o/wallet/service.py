"""The persisted ledger: the pure core (``wallet/ledger.py``) over the database, SQLite or PostgreSQL.

Each call is an attempt (``repository.load_batch`` ... ``repository.write_outcome``, in a savepoint): it loads
exactly what the core needs (the batch's transfer ids and pending ids, then the accounts named and those of the
pending transfers it resolves), runs the core, and writes its outcome in the caller's transaction:

* new transfers are INSERTed (a concurrent twin with the same id breaks the primary key: the batch runs again
  and then answers ``exists`` or ``exists_with_different_*``);
* balances are written with ``UPDATE ... SET ..., version = version + 1 WHERE id = :id AND version = :v`` and a
  row-count check; a pending transfer leaves ``pending`` with ``... WHERE pending_status = 'pending'``;
* ids that failed with a state-dependent result are recorded, so they stay failed.

A lost race (a row count short, a unique violation) rolls back the savepoint and runs the whole batch again, at
most ``MAX_ATTEMPTS`` times, then raises ``LedgerBusy``; nothing else in the caller's transaction is undone.
On PostgreSQL every attempt first takes transaction-scoped advisory locks (sorted, in one order everywhere, so
no deadlock) on the batch's transfer ids and pending ids and on its accounts, before it reads them: what it
reads stays true until it commits, so writers to a hot account queue rather than retry, and two twins of an
id never both decide, even on different accounts. A batch too big to lock id by id locks the whole ledger
instead (``repository.BIG_BATCH_LOCKS``). On SQLite ``BEGIN IMMEDIATE`` already serialises writers.

The service never commits: the caller's unit of work does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping, Sequence
from uuid import UUID

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from o2o.errors import AppError
from o2o.kit import time as clock
from o2o.wallet import repository as repo
from o2o.wallet.ledger import (
    Account,
    Balance,
    CreateAccountResult,
    CreateTransferResult,
    PendingStatus,
    Snapshot,
    Transfer,
    TransferRecord,
    check_time,
    transfer_ids_to_load,
)
from o2o.wallet.ledger import (
    create_accounts as core_create_accounts,
)
from o2o.wallet.ledger import (
    create_transfers as core_create_transfers,
)
from o2o.wallet.ledger import (
    expire_pending as core_expire_pending,
)

MAX_ATTEMPTS = 8
EXPIRE_BATCH = 1000


class LedgerBusy(AppError):
    """The batch lost a race ``MAX_ATTEMPTS`` times in a row; nothing was written. Safe to retry as is."""

    def __init__(self) -> None:
        super().__init__("ledger_busy", 503, "The ledger is busy; retry the same request.")


def _now(now: dt.datetime | None) -> dt.datetime:
    return check_time(clock.now() if now is None else now)


def _attempt(session: Session, fn):  # type: ignore[no-untyped-def]
    """Run ``fn()`` in a savepoint, again on a lost race (bounded)."""
    for _ in range(MAX_ATTEMPTS):
        try:
            with session.begin_nested():
                return fn()
        except IntegrityError:
            continue
    raise LedgerBusy()


# ---------------------------------------------------------------------------------------------------- accounts


def create_accounts(
    session: Session, batch: Sequence[Account], now: dt.datetime | None = None, *, city_id: UUID | None = None
) -> list[CreateAccountResult]:
    """Create accounts (TigerBeetle's ``create_accounts``); one result per event. ``city_id`` is stored on the
    accounts created (platform accounts belong to a city; a person's wallet to none)."""
    now = _now(now)

    def run() -> list[CreateAccountResult]:
        existing = repo.load_accounts(session, {a.id for a in batch})
        outcome = core_create_accounts({i: a for i, (a, _v) in existing.items()}, batch, now)
        repo.insert_accounts(session, outcome.accounts, city_id)
        return list(outcome.results)

    return _attempt(session, run)


def lookup_accounts(session: Session, ids: Sequence[UUID]) -> list[Account]:
    """The accounts that exist among ``ids``, in the order asked (TigerBeetle's ``lookup_accounts``)."""
    found = repo.load_accounts(session, set(ids))
    return [found[i][0] for i in dict.fromkeys(ids) if i in found]


def balances(session: Session, ids: Sequence[UUID]) -> dict[UUID, Balance]:
    """Posted, pending and available amounts of each account that exists among ``ids``."""
    return {a.id: a.balance() for a in lookup_accounts(session, ids)}


def all_accounts(session: Session) -> list[Account]:
    return repo.all_accounts(session)


# ---------------------------------------------------------------------------------------------------- transfers


def create_transfers(
    session: Session, batch: Sequence[Transfer], now: dt.datetime | None = None
) -> list[CreateTransferResult]:
    """Create transfers (TigerBeetle's ``create_transfers``) at ``now``; one result per event, in order."""
    now = _now(now)
    batch = list(batch)
    if not batch:
        return []
    transfer_ids = transfer_ids_to_load(batch)
    account_ids: set[UUID] = set()
    pending_ids: set[UUID] = set()
    for t in batch:
        if t.debit_account_id is not None:
            account_ids.add(t.debit_account_id)
        if t.credit_account_id is not None:
            account_ids.add(t.credit_account_id)
        if t.pending_id is not None:
            pending_ids.add(t.pending_id)
    for _ in range(MAX_ATTEMPTS):
        loaded = repo.load_batch(session, transfer_ids, account_ids, pending_ids)
        try:
            snapshot = Snapshot(loaded.accounts, loaded.transfers, loaded.pending_status, loaded.failed)
            outcome = core_create_transfers(snapshot, batch, now)
        except BaseException:
            repo.abandon(session)
            raise
        new_ids = {r.id for r in outcome.transfers}
        written = repo.write_outcome(
            session,
            now=now,
            resolved={i: s for i, s in outcome.pending_status.items() if i not in new_ids},
            transfers=outcome.transfers,
            pending_status=outcome.pending_status,
            accounts=outcome.accounts.values(),
            versions=loaded.versions,
            failed=outcome.failed,
        )
        if written:
            return list(outcome.results)
    raise LedgerBusy()


def lookup_transfers(session: Session, ids: Sequence[UUID]) -> list[TransferRecord]:
    """The transfers that exist among ``ids``, in the order asked (TigerBeetle's ``lookup_transfers``)."""
    records, _status, _failed = repo.load_transfers(session, set(ids))
    return [records[i] for i in dict.fromkeys(ids) if i in records]


def pending_statuses(session: Session, ids: Collection[UUID]) -> dict[UUID, PendingStatus]:
    return repo.load_transfers(session, set(ids))[1]


def failed_transfers(session: Session, ids: Collection[UUID]) -> dict[UUID, CreateTransferResult]:
    """Ids recorded as failed (they answer ``id_already_failed``), with their first failure."""
    return repo.load_transfers(session, set(ids))[2]


def account_transfers(session: Session, account_id: UUID, limit: int = 100) -> list[TransferRecord]:
    return repo.account_transfers(session, account_id, limit)


def journal(session: Session) -> tuple[Mapping[UUID, TransferRecord], Mapping[UUID, PendingStatus]]:
    """Every transfer and pending status (for reconciliation: ``check_invariants(accounts, *journal)``)."""
    return repo.all_transfers(session)


# ---------------------------------------------------------------------------------------------------- expiry


def expire_pending(session: Session, now: dt.datetime | None = None, limit: int = EXPIRE_BATCH) -> tuple[UUID, ...]:
    """Release up to ``limit`` pending transfers whose deadline is ``now`` or earlier; returns their ids.

    Safe with several workers: each status change is conditional on ``pending``, so a transfer another worker
    released in between makes this run again (and then skip it)."""
    now = _now(now)

    for _ in range(MAX_ATTEMPTS):
        due = repo.due_pending_ids(session, now, limit)
        if not due:
            return ()
        loaded = repo.load_batch(session, due, (), due)
        try:
            snapshot = Snapshot(loaded.accounts, loaded.transfers, loaded.pending_status)
            outcome = core_expire_pending(snapshot, now, due)
        except BaseException:
            repo.abandon(session)
            raise
        written = repo.write_outcome(
            session,
            now=now,
            resolved=outcome.pending_status,
            accounts=outcome.accounts.values(),
            versions=loaded.versions,
        )
        if written:
            return outcome.expired
    raise LedgerBusy()
