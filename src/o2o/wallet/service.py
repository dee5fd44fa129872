"""The persisted ledger: the pure core (``wallet/ledger.py``) over the database, SQLite or PostgreSQL.

Each call loads exactly what the core needs (``transfer_ids_to_load``, then ``account_ids_to_load``), runs the
core, and writes its outcome in the caller's transaction:

* new transfers are INSERTed (a concurrent twin with the same id breaks the primary key: the batch runs again
  and then answers ``exists`` or ``exists_with_different_*``);
* balances are written with ``UPDATE ... SET ..., version = version + 1 WHERE id = :id AND version = :v`` and a
  row-count check; a pending transfer leaves ``pending`` with ``... WHERE pending_status = 'pending'``;
* ids that failed with a state-dependent result are recorded, so they stay failed.

A lost race (a row count short, a unique violation) rolls back a savepoint and runs the whole batch again,
at most ``MAX_ATTEMPTS`` times, then raises ``LedgerBusy``. On PostgreSQL the involved accounts are also
locked with ``SELECT ... FOR UPDATE`` in sorted id order before they are read, so writers to a hot account
queue rather than retry (and never deadlock), and before that the batch's transfer ids and pending ids are
locked with transaction-scoped advisory locks (sorted), so what it reads about them (exists, failed, still
pending) cannot change under it: two twins of an id never both decide, even on different accounts. On SQLite
``BEGIN IMMEDIATE`` already serialises writers.

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
    account_ids_to_load,
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


class _LostRace(Exception):
    pass


def _now(now: dt.datetime | None) -> dt.datetime:
    return check_time(clock.now() if now is None else now)


def _attempt(session: Session, fn):  # type: ignore[no-untyped-def]
    """Run ``fn()`` in a savepoint, again on a lost race (bounded)."""
    for _ in range(MAX_ATTEMPTS):
        try:
            with session.begin_nested():
                return fn()
        except (_LostRace, IntegrityError):
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
    transfer_ids = transfer_ids_to_load(batch)

    def run() -> list[CreateTransferResult]:
        repo.lock_transfer_ids(session, transfer_ids)
        records, status, failed = repo.load_transfers(session, transfer_ids)
        account_ids = account_ids_to_load(batch, records)
        loaded = repo.load_accounts(session, account_ids, lock=True)
        snapshot = Snapshot(
            accounts={i: a for i, (a, _v) in loaded.items()},
            transfers=records,
            pending_status=status,
            failed=failed,
        )
        outcome = core_create_transfers(snapshot, batch, now)
        new_ids = {r.id for r in outcome.transfers}
        resolved = {i: s for i, s in outcome.pending_status.items() if i not in new_ids}
        if not repo.resolve_pending(session, resolved):
            raise _LostRace
        repo.insert_transfers(session, outcome.transfers, outcome.pending_status)
        if not repo.update_balances(session, outcome.accounts.values(), {i: v for i, (_a, v) in loaded.items()}):
            raise _LostRace
        repo.insert_failed(session, outcome.failed, now)
        return list(outcome.results)

    return _attempt(session, run)


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

    def run() -> tuple[UUID, ...]:
        due = repo.due_pending_ids(session, now, limit)
        if not due:
            return ()
        records, status, _failed = repo.load_transfers(session, due)
        account_ids = {r.debit_account_id for r in records.values()} | {r.credit_account_id for r in records.values()}
        loaded = repo.load_accounts(session, account_ids, lock=True)
        snapshot = Snapshot(accounts={i: a for i, (a, _v) in loaded.items()}, transfers=records, pending_status=status)
        outcome = core_expire_pending(snapshot, now, due)
        if not repo.resolve_pending(session, outcome.pending_status):
            raise _LostRace
        if not repo.update_balances(session, outcome.accounts.values(), {i: v for i, (_a, v) in loaded.items()}):
            raise _LostRace
        return outcome.expired

    return _attempt(session, run)
