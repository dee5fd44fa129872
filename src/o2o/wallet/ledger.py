"""The ledger's rules: TigerBeetle's double-entry semantics as pure functions, and ``Ledger``, the in-memory
reference implementation built on them (no database, no web, no clock).

The pure functions take a ``Snapshot`` (the accounts, transfers, pending statuses and failed ids a batch may
read) and a batch, and return an outcome: one result per event, plus everything to write (new account
balances, new transfer records, pending-status changes, ids recorded as failed). They never mutate their
inputs. The database-backed wallet service loads a snapshot for the ids in the batch
(``transfer_ids_to_load`` then ``account_ids_to_load``), calls ``create_transfers``, and writes the outcome in
the same transaction, guarded so that nobody else changed those rows in between (version columns or
conditional updates). ``Ledger`` does the same over dicts, and is what the persisted ledger is tested against.

Semantics (TigerBeetle's, https://docs.tigerbeetle.com/reference/requests/create_transfers):

* Events in a batch run in order; each sees the effects of the ones before it.
* A chain is a run of events with ``LINKED`` set, closed by the first event without it. It applies entirely or
  not at all: on the first failure every effect of the chain is undone; the failing event keeps its own result
  and every other event of the chain gets ``linked_event_failed``. A batch whose last event is ``LINKED`` leaves
  the chain open: that event is ``linked_event_chain_open`` (even if an earlier event broke the chain first) and
  the chain fails. ``exists`` (an idempotent retry) does not break a chain, so retrying a committed chain
  answers ``exists`` for each event.
* Ids are client-given and unique forever. A transfer is immutable. Resubmitting its id answers ``exists`` if
  every field is equal, else ``exists_with_different_<first differing field>`` (in the order of
  ``CreateTransferResult``); for posts and voids, fields left unset compare equal, as they were inherited.
  A failure in ``TRANSIENT_RESULTS`` (insufficient funds, unknown account ...) is recorded against the id, even
  inside a chain that rolled back: the id then answers ``id_already_failed`` forever, and a correction is a new
  transfer with a new id. Other failures depend only on the request and immutable facts and are not recorded
  (the same request fails the same way again).
* Two-phase: a ``PENDING`` transfer moves its amount into ``debits_pending``/``credits_pending``. A
  ``POST_PENDING_TRANSFER`` moves it (or less; the rest is released) into the posted counters, a
  ``VOID_PENDING_TRANSFER`` releases it. A pending transfer with ``timeout`` > 0 expires at
  ``timestamp + timeout``: from then on a post or void is ``pending_transfer_expired``, and ``expire_pending``
  releases it. Each pending transfer leaves ``pending`` at most once (posted, voided or expired).
* Floors count pending debits: with ``DEBITS_MUST_NOT_EXCEED_CREDITS`` an account keeps
  ``debits_pending + debits_posted <= credits_posted`` (else ``exceeds_credits``); with
  ``CREDITS_MUST_NOT_EXCEED_DEBITS``, ``credits_pending + credits_posted <= debits_posted`` (``exceeds_debits``).
* No balance component ever exceeds ``AMOUNT_MAX`` (``overflows_*``), so every value fits a BIGINT.

Not supported (TigerBeetle features we have no use for yet): balancing and closing transfers, imported events,
account history, zero-amount transfers (an ordinary transfer or a post moves at least one minor unit).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from types import MappingProxyType
from typing import Any
from uuid import UUID

from o2o.wallet.ledger_types import (
    ACCOUNT_FLAGS_ALL,
    AMOUNT_MAX,
    CODE_MAX,
    FLOOR_REQUIRED,
    ID_INT_MAX,
    ID_ZERO,
    NORMAL_SIDE,
    TIMEOUT_MAX,
    TRANSFER_FLAGS_ALL,
    TRANSIENT_RESULTS,
    Account,
    AccountFlags,
    AccountKind,
    Balance,
    CreateAccountResult,
    CreateTransferResult,
    OwnerKind,
    PendingStatus,
    Side,
    Transfer,
    TransferFlags,
    TransferRecord,
    check_time,
    new_account,
)

__all__ = [
    "ACCOUNT_FLAGS_ALL",
    "AMOUNT_MAX",
    "BATCH_MAX",
    "CODE_MAX",
    "FLOOR_REQUIRED",
    "ID_INT_MAX",
    "ID_ZERO",
    "NORMAL_SIDE",
    "TIMEOUT_MAX",
    "TRANSFER_FLAGS_ALL",
    "TRANSIENT_RESULTS",
    "Account",
    "AccountFlags",
    "AccountKind",
    "Balance",
    "CreateAccountResult",
    "CreateAccountsOutcome",
    "CreateTransferResult",
    "CreateTransfersOutcome",
    "ExpireOutcome",
    "Invariant",
    "InvariantViolation",
    "Ledger",
    "OwnerKind",
    "PendingStatus",
    "Side",
    "Snapshot",
    "Transfer",
    "TransferFlags",
    "TransferRecord",
    "Violation",
    "account_ids_to_load",
    "assert_invariants",
    "check_at_most_once",
    "check_conservation",
    "check_floors",
    "check_invariants",
    "check_journal",
    "check_non_negative",
    "check_time",
    "create_accounts",
    "create_transfers",
    "expire_pending",
    "new_account",
    "transfer_ids_to_load",
]

BATCH_MAX = 8190
"""Most events in one batch (TigerBeetle's limit for a 1 MiB message)."""

R = CreateTransferResult
A = CreateAccountResult

_LINKED = int(TransferFlags.LINKED)  # == AccountFlags.LINKED
_PENDING = int(TransferFlags.PENDING)
_POST = int(TransferFlags.POST_PENDING_TRANSFER)
_VOID = int(TransferFlags.VOID_PENDING_TRANSFER)
_RESOLVE = _POST | _VOID
_DEBITS_FLOOR = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
_CREDITS_FLOOR = int(AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
_INT_MAX = ID_INT_MAX.int
_MISSING: Any = object()


# ---------------------------------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What a batch may read. Mappings are only read, never changed.

    For ``create_transfers`` it must hold every transfer (and its pending status and failure, if any) whose id
    is in ``transfer_ids_to_load(batch)``, and every account in ``account_ids_to_load(batch, transfers)``.
    Whatever is missing is taken not to exist. ``Ledger`` passes its whole state.
    """

    accounts: Mapping[UUID, Account] = field(default_factory=dict)
    transfers: Mapping[UUID, TransferRecord] = field(default_factory=dict)
    pending_status: Mapping[UUID, PendingStatus] = field(default_factory=dict)
    failed: Mapping[UUID, CreateTransferResult] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CreateAccountsOutcome:
    results: tuple[CreateAccountResult, ...]  # one per event, in batch order
    accounts: tuple[Account, ...]  # the accounts created (result ok), stamped with the batch's time


@dataclass(frozen=True, slots=True)
class CreateTransfersOutcome:
    results: tuple[CreateTransferResult, ...]  # one per event, in batch order
    transfers: tuple[TransferRecord, ...]  # the transfers created (result ok), in batch order
    accounts: Mapping[UUID, Account]  # the new state of every account whose balances changed
    pending_status: Mapping[UUID, PendingStatus]  # new pending transfers (pending) and resolved ones
    failed: Mapping[UUID, CreateTransferResult]  # ids recorded as failed by this batch, with their failure

    @property
    def all_ok(self) -> bool:
        return all(r is R.OK or r is R.EXISTS for r in self.results)


@dataclass(frozen=True, slots=True)
class ExpireOutcome:
    expired: tuple[UUID, ...]  # pending transfers released, oldest deadline first
    accounts: Mapping[UUID, Account]
    pending_status: Mapping[UUID, PendingStatus]


def transfer_ids_to_load(batch: Iterable[Transfer]) -> set[UUID]:
    """The transfer ids a snapshot needs (records, pending status, failure): the batch's ids and pending ids."""
    ids: set[UUID] = set()
    for t in batch:
        ids.add(t.id)
        if t.pending_id is not None:
            ids.add(t.pending_id)
    return ids


def account_ids_to_load(batch: Iterable[Transfer], transfers: Mapping[UUID, TransferRecord]) -> set[UUID]:
    """The accounts a snapshot needs: those the batch names, and those of the pending transfers it resolves."""
    ids: set[UUID] = set()
    for t in batch:
        for account_id in (t.debit_account_id, t.credit_account_id):
            if account_id is not None:
                ids.add(account_id)
        if t.pending_id is not None and (p := transfers.get(t.pending_id)) is not None:
            ids.add(p.debit_account_id)
            ids.add(p.credit_account_id)
    return ids


# ---------------------------------------------------------------------------------------------------- batches


def _run_batch(
    batch: Sequence[Any],
    work: _Work,
    execute: Callable[[Any], Any],
    results_enum: type[CreateTransferResult] | type[CreateAccountResult],
    transient: frozenset[Any],
) -> list[Any]:
    """Run events in order with linked-chain semantics; ``work`` records undo entries while a chain is open."""
    ok, exists = results_enum.OK, results_enum.EXISTS
    failed, chain_open = results_enum.LINKED_EVENT_FAILED, results_enum.LINKED_EVENT_CHAIN_OPEN
    results: list[Any] = []
    last = len(batch) - 1
    chain_start = -1
    broken = False
    for i, event in enumerate(batch):
        linked = int(event.flags) & _LINKED
        if linked and chain_start < 0:
            chain_start, broken = i, False
            work.undo = []
        if linked and i == last:
            result = chain_open
        elif broken:
            result = failed
        else:
            result = execute(event)
        if result is not ok and result is not exists:
            if chain_start >= 0 and not broken:
                broken = True
                work.rollback()
                for j in range(chain_start, i):
                    results[j] = failed
            if result in transient:
                work.burn(event.id, result)
        results.append(result)
        if chain_start >= 0 and not linked:  # the chain closes
            chain_start, broken = -1, False
            work.undo = None
    return results


class _Work:
    """The overlay a batch writes into, with an undo log while a linked chain is open."""

    __slots__ = ("accounts", "balances", "burnt", "failed", "new", "old", "old_status", "status", "undo")

    def __init__(self, snapshot: Snapshot) -> None:
        self.accounts = snapshot.accounts
        self.old = snapshot.transfers
        self.old_status = snapshot.pending_status
        self.failed = snapshot.failed
        self.balances: dict[UUID, tuple[int, int, int, int]] = {}
        self.new: dict[UUID, Any] = {}
        self.status: dict[UUID, PendingStatus] = {}
        self.burnt: dict[UUID, CreateTransferResult] = {}
        self.undo: list[tuple[dict[UUID, Any], UUID, Any]] | None = None

    def _set(self, table: dict[UUID, Any], key: UUID, value: Any) -> None:
        if self.undo is not None:
            self.undo.append((table, key, table.get(key, _MISSING)))
        table[key] = value

    def rollback(self) -> None:
        assert self.undo is not None
        for table, key, old in reversed(self.undo):
            if old is _MISSING:
                del table[key]
            else:
                table[key] = old
        self.undo = None

    def burn(self, transfer_id: UUID, result: CreateTransferResult) -> None:
        self.burnt[transfer_id] = result  # outside the undo log: a recorded failure survives the rollback

    def transfer(self, transfer_id: UUID) -> TransferRecord | None:
        record = self.new.get(transfer_id)
        return record if record is not None else self.old.get(transfer_id)

    def pending_status(self, transfer_id: UUID) -> PendingStatus | None:
        status = self.status.get(transfer_id)
        return status if status is not None else self.old_status.get(transfer_id)

    def balance(self, account: Account) -> tuple[int, int, int, int]:
        b = self.balances.get(account.id)
        if b is None:
            b = (account.debits_pending, account.debits_posted, account.credits_pending, account.credits_posted)
        return b

    def changed_accounts(self) -> dict[UUID, Account]:
        out = {}
        for account_id, b in self.balances.items():
            a = self.accounts[account_id]
            if b != (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted):
                out[account_id] = _with_balances(a, b)
        return out


def _with_balances(a: Account, b: tuple[int, int, int, int]) -> Account:
    """A copy of ``a`` with new balances, without re-validating what the rules already guarantee."""
    new = object.__new__(Account)
    s = object.__setattr__
    s(new, "id", a.id)
    s(new, "currency", a.currency)
    s(new, "kind", a.kind)
    s(new, "owner_kind", a.owner_kind)
    s(new, "owner_id", a.owner_id)
    s(new, "flags", a.flags)
    s(new, "debits_pending", b[0])
    s(new, "debits_posted", b[1])
    s(new, "credits_pending", b[2])
    s(new, "credits_posted", b[3])
    s(new, "timestamp", a.timestamp)
    return new


def _check_batch(batch: Sequence[Any]) -> None:
    if len(batch) > BATCH_MAX:
        raise ValueError(f"a batch holds at most {BATCH_MAX} events, not {len(batch)}")


# ---------------------------------------------------------------------------------------------------- accounts


def create_accounts(
    accounts: Mapping[UUID, Account], batch: Sequence[Account], now: dt.datetime
) -> CreateAccountsOutcome:
    """Create accounts (TigerBeetle's ``create_accounts``), given the existing accounts with the batch's ids."""
    _check_batch(batch)
    now = check_time(now)
    work = _Work(Snapshot(accounts=accounts))
    created: dict[UUID, Account] = work.new

    def execute(a: Account) -> CreateAccountResult:
        if a.timestamp is not None:
            return A.TIMESTAMP_MUST_BE_ZERO
        if a.id.int == 0:
            return A.ID_MUST_NOT_BE_ZERO
        if a.id.int == _INT_MAX:
            return A.ID_MUST_NOT_BE_INT_MAX
        e = created.get(a.id) or accounts.get(a.id)
        if e is not None:
            if a.flags != e.flags:
                return A.EXISTS_WITH_DIFFERENT_FLAGS
            if a.owner_kind != e.owner_kind:
                return A.EXISTS_WITH_DIFFERENT_OWNER_KIND
            if a.owner_id != e.owner_id:
                return A.EXISTS_WITH_DIFFERENT_OWNER_ID
            if a.currency != e.currency:
                return A.EXISTS_WITH_DIFFERENT_LEDGER
            if a.kind != e.kind:
                return A.EXISTS_WITH_DIFFERENT_KIND
            return A.EXISTS
        flags = int(a.flags)
        if flags & _DEBITS_FLOOR and flags & _CREDITS_FLOOR:
            return A.FLAGS_ARE_MUTUALLY_EXCLUSIVE
        if a.debits_pending:
            return A.DEBITS_PENDING_MUST_BE_ZERO
        if a.debits_posted:
            return A.DEBITS_POSTED_MUST_BE_ZERO
        if a.credits_pending:
            return A.CREDITS_PENDING_MUST_BE_ZERO
        if a.credits_posted:
            return A.CREDITS_POSTED_MUST_BE_ZERO
        if a.kind in FLOOR_REQUIRED and not flags & _DEBITS_FLOOR:
            return A.KIND_REQUIRES_FLOOR
        work._set(created, a.id, replace(a, timestamp=now))
        return A.OK

    results = _run_batch(batch, work, execute, CreateAccountResult, frozenset())
    return CreateAccountsOutcome(tuple(results), tuple(created.values()))


# ---------------------------------------------------------------------------------------------------- transfers


def create_transfers(snapshot: Snapshot, batch: Sequence[Transfer], now: dt.datetime) -> CreateTransfersOutcome:
    """Create transfers (TigerBeetle's ``create_transfers``) against ``snapshot`` at time ``now`` (UTC-aware)."""
    _check_batch(batch)
    now = check_time(now)
    work = _Work(snapshot)
    results = _run_batch(batch, work, lambda t: _create_transfer(work, t, now), CreateTransferResult, TRANSIENT_RESULTS)
    return CreateTransfersOutcome(
        results=tuple(results),
        transfers=tuple(work.new.values()),
        accounts=MappingProxyType(work.changed_accounts()),
        pending_status=MappingProxyType(work.status),
        failed=MappingProxyType(work.burnt),
    )


def _create_transfer(w: _Work, t: Transfer, now: dt.datetime) -> CreateTransferResult:
    tid = t.id
    if tid.int == 0:
        return R.ID_MUST_NOT_BE_ZERO
    if tid.int == _INT_MAX:
        return R.ID_MUST_NOT_BE_INT_MAX
    e = w.transfer(tid)
    if e is not None:
        return _exists(w, t, e)
    if tid in w.burnt or tid in w.failed:
        return R.ID_ALREADY_FAILED
    flags = int(t.flags)
    mode = flags & (_PENDING | _POST | _VOID)
    if mode not in (0, _PENDING, _POST, _VOID):
        return R.FLAGS_ARE_MUTUALLY_EXCLUSIVE
    if mode & _RESOLVE:
        return _post_or_void(w, t, mode == _POST, now)

    dr_id, cr_id = t.debit_account_id, t.credit_account_id
    if dr_id is None:
        return R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
    if dr_id.int == _INT_MAX:
        return R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX
    if cr_id is None:
        return R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO
    if cr_id.int == _INT_MAX:
        return R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX
    if dr_id.int == cr_id.int:
        return R.ACCOUNTS_MUST_BE_DIFFERENT
    if t.pending_id is not None:
        return R.PENDING_ID_MUST_BE_ZERO
    if not mode and t.timeout:
        return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    amount = t.amount
    if not amount:
        return R.AMOUNT_MUST_NOT_BE_ZERO
    if t.currency is None:
        return R.LEDGER_MUST_NOT_BE_ZERO
    if not t.code:
        return R.CODE_MUST_NOT_BE_ZERO
    dr = w.accounts.get(dr_id)
    if dr is None:
        return R.DEBIT_ACCOUNT_NOT_FOUND
    cr = w.accounts.get(cr_id)
    if cr is None:
        return R.CREDIT_ACCOUNT_NOT_FOUND
    if dr.currency != cr.currency:
        return R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER
    if t.currency != dr.currency:
        return R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS

    d_dp, d_dpo, d_cp, d_cpo = w.balance(dr)
    c_dp, c_dpo, c_cp, c_cpo = w.balance(cr)
    if mode:  # pending
        if d_dp + amount > AMOUNT_MAX:
            return R.OVERFLOWS_DEBITS_PENDING
        if c_cp + amount > AMOUNT_MAX:
            return R.OVERFLOWS_CREDITS_PENDING
    else:
        if d_dpo + amount > AMOUNT_MAX:
            return R.OVERFLOWS_DEBITS_POSTED
        if c_cpo + amount > AMOUNT_MAX:
            return R.OVERFLOWS_CREDITS_POSTED
    if d_dp + d_dpo + amount > AMOUNT_MAX:
        return R.OVERFLOWS_DEBITS
    if c_cp + c_cpo + amount > AMOUNT_MAX:
        return R.OVERFLOWS_CREDITS
    if int(dr.flags) & _DEBITS_FLOOR and d_dp + d_dpo + amount > d_cpo:
        return R.EXCEEDS_CREDITS
    if int(cr.flags) & _CREDITS_FLOOR and c_cp + c_cpo + amount > c_dpo:
        return R.EXCEEDS_DEBITS

    # Balances are keyed by the account's own id object: dict hits by identity skip UUID.__eq__.
    if mode:
        w._set(w.balances, dr.id, (d_dp + amount, d_dpo, d_cp, d_cpo))
        w._set(w.balances, cr.id, (c_dp, c_dpo, c_cp + amount, c_cpo))
        expires_at = now + dt.timedelta(seconds=t.timeout) if t.timeout else None
        w._set(w.status, tid, PendingStatus.PENDING)
    else:
        w._set(w.balances, dr.id, (d_dp, d_dpo + amount, d_cp, d_cpo))
        w._set(w.balances, cr.id, (c_dp, c_dpo, c_cp, c_cpo + amount))
        expires_at = None
    record = TransferRecord(
        tid,
        dr_id,
        cr_id,
        amount,
        t.currency,
        t.code,
        t.flags,
        None,
        t.timeout,
        t.user_data_128,
        t.user_data_64,
        t.user_data_32,
        now,
        expires_at,
    )
    w._set(w.new, tid, record)
    return R.OK


def _post_or_void(w: _Work, t: Transfer, post: bool, now: dt.datetime) -> CreateTransferResult:
    pid = t.pending_id
    if pid is None:
        return R.PENDING_ID_MUST_NOT_BE_ZERO
    if pid.int == _INT_MAX:
        return R.PENDING_ID_MUST_NOT_BE_INT_MAX
    if pid.int == t.id.int:
        return R.PENDING_ID_MUST_BE_DIFFERENT
    if t.timeout:
        return R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER
    if post and t.amount == 0:
        return R.AMOUNT_MUST_NOT_BE_ZERO
    p = w.transfer(pid)
    if p is None:
        return R.PENDING_TRANSFER_NOT_FOUND
    if not int(p.flags) & _PENDING:
        return R.PENDING_TRANSFER_NOT_PENDING
    if t.debit_account_id is not None and t.debit_account_id != p.debit_account_id:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID
    if t.credit_account_id is not None and t.credit_account_id != p.credit_account_id:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID
    if t.currency is not None and t.currency != p.currency:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER
    if t.code and t.code != p.code:
        return R.PENDING_TRANSFER_HAS_DIFFERENT_CODE
    if post:
        amount = p.amount if t.amount is None else t.amount
        if amount > p.amount:
            return R.EXCEEDS_PENDING_TRANSFER_AMOUNT
    else:
        if t.amount is not None and t.amount != p.amount:
            return R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT
        amount = p.amount
    status = w.pending_status(pid)
    if status is PendingStatus.POSTED:
        return R.PENDING_TRANSFER_ALREADY_POSTED
    if status is PendingStatus.VOIDED:
        return R.PENDING_TRANSFER_ALREADY_VOIDED
    if status is PendingStatus.EXPIRED:
        return R.PENDING_TRANSFER_EXPIRED
    if status is not PendingStatus.PENDING:
        raise LookupError(f"the snapshot lacks the status of pending transfer {pid}")
    if p.expires_at is not None and now >= p.expires_at:
        return R.PENDING_TRANSFER_EXPIRED

    dr, cr = _account(w, p.debit_account_id), _account(w, p.credit_account_id)
    d_dp, d_dpo, d_cp, d_cpo = w.balance(dr)
    c_dp, c_dpo, c_cp, c_cpo = w.balance(cr)
    posted = amount if post else 0
    # Unreachable while the invariants hold (posted <= pending <= AMOUNT_MAX - posted); kept as a guard.
    if d_dpo + posted > AMOUNT_MAX:
        return R.OVERFLOWS_DEBITS_POSTED
    if c_cpo + posted > AMOUNT_MAX:
        return R.OVERFLOWS_CREDITS_POSTED
    w._set(w.balances, dr.id, (d_dp - p.amount, d_dpo + posted, d_cp, d_cpo))
    w._set(w.balances, cr.id, (c_dp, c_dpo, c_cp - p.amount, c_cpo + posted))
    w._set(w.status, pid, PendingStatus.POSTED if post else PendingStatus.VOIDED)
    record = TransferRecord(
        t.id,
        p.debit_account_id,
        p.credit_account_id,
        amount,
        p.currency,
        p.code,
        t.flags,
        pid,
        0,
        t.user_data_128 if t.user_data_128 is not None else p.user_data_128,
        t.user_data_64 or p.user_data_64,
        t.user_data_32 or p.user_data_32,
        now,
        None,
    )
    w._set(w.new, t.id, record)
    return R.OK


def _account(w: _Work, account_id: UUID) -> Account:
    account = w.accounts.get(account_id)
    if account is None:
        raise LookupError(f"the snapshot lacks account {account_id} of a pending transfer")
    return account


def _exists(w: _Work, t: Transfer, e: TransferRecord) -> CreateTransferResult:
    """Compare a resubmission with the stored transfer, field by field in TigerBeetle's order."""
    if t.flags != e.flags:
        return R.EXISTS_WITH_DIFFERENT_FLAGS
    if t.pending_id != e.pending_id:
        return R.EXISTS_WITH_DIFFERENT_PENDING_ID
    if t.timeout != e.timeout:
        return R.EXISTS_WITH_DIFFERENT_TIMEOUT
    if not int(e.flags) & _RESOLVE:
        if t.debit_account_id != e.debit_account_id:
            return R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
        if t.credit_account_id != e.credit_account_id:
            return R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
        if t.amount != e.amount:
            return R.EXISTS_WITH_DIFFERENT_AMOUNT
        if t.user_data_128 != e.user_data_128:
            return R.EXISTS_WITH_DIFFERENT_USER_DATA_128
        if t.user_data_64 != e.user_data_64:
            return R.EXISTS_WITH_DIFFERENT_USER_DATA_64
        if t.user_data_32 != e.user_data_32:
            return R.EXISTS_WITH_DIFFERENT_USER_DATA_32
        if t.currency != e.currency:
            return R.EXISTS_WITH_DIFFERENT_LEDGER
        if t.code != e.code:
            return R.EXISTS_WITH_DIFFERENT_CODE
        return R.EXISTS
    # A post or void: unset fields were inherited from the pending transfer and compare equal.
    if t.debit_account_id is not None and t.debit_account_id != e.debit_account_id:
        return R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
    if t.credit_account_id is not None and t.credit_account_id != e.credit_account_id:
        return R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID
    if t.amount is None:
        if int(e.flags) & _POST:  # "all of it": equal if the post took the whole pending amount
            p = w.transfer(e.pending_id)  # type: ignore[arg-type]
            if p is None:
                raise LookupError(f"the snapshot lacks pending transfer {e.pending_id}")
            if e.amount != p.amount:
                return R.EXISTS_WITH_DIFFERENT_AMOUNT
    elif t.amount != e.amount:
        return R.EXISTS_WITH_DIFFERENT_AMOUNT
    if t.user_data_128 is not None and t.user_data_128 != e.user_data_128:
        return R.EXISTS_WITH_DIFFERENT_USER_DATA_128
    if t.user_data_64 and t.user_data_64 != e.user_data_64:
        return R.EXISTS_WITH_DIFFERENT_USER_DATA_64
    if t.user_data_32 and t.user_data_32 != e.user_data_32:
        return R.EXISTS_WITH_DIFFERENT_USER_DATA_32
    if t.currency is not None and t.currency != e.currency:
        return R.EXISTS_WITH_DIFFERENT_LEDGER
    if t.code and t.code != e.code:
        return R.EXISTS_WITH_DIFFERENT_CODE
    return R.EXISTS


# ---------------------------------------------------------------------------------------------------- expiry


def expire_pending(snapshot: Snapshot, now: dt.datetime, candidates: Iterable[UUID] | None = None) -> ExpireOutcome:
    """Release every pending transfer whose deadline has come (``expires_at <= now``) and is still pending.

    ``candidates`` are the transfer ids to consider (default: every transfer in the snapshot); the service
    passes those its query found due, with their accounts, records and statuses in ``snapshot``. Candidates
    that are not due, or no longer pending, are skipped, so a repeated or concurrent run releases nothing twice.
    """
    now = check_time(now)
    ids = snapshot.transfers.keys() if candidates is None else candidates
    due = []
    for pid in ids:
        p = snapshot.transfers.get(pid)
        if p is None or p.expires_at is None or p.expires_at > now:
            continue
        if snapshot.pending_status.get(pid) is PendingStatus.PENDING:
            due.append(p)
    due.sort(key=lambda p: (p.expires_at, p.timestamp, p.id.int))
    work = _Work(snapshot)
    for p in due:
        dr, cr = _account(work, p.debit_account_id), _account(work, p.credit_account_id)
        d_dp, d_dpo, d_cp, d_cpo = work.balance(dr)
        c_dp, c_dpo, c_cp, c_cpo = work.balance(cr)
        work.balances[dr.id] = (d_dp - p.amount, d_dpo, d_cp, d_cpo)
        work.balances[cr.id] = (c_dp, c_dpo, c_cp - p.amount, c_cpo)
        work.status[p.id] = PendingStatus.EXPIRED
    return ExpireOutcome(
        tuple(p.id for p in due), MappingProxyType(work.changed_accounts()), MappingProxyType(work.status)
    )


# ---------------------------------------------------------------------------------------------------- invariants


class Invariant(StrEnum):
    CONSERVATION = "conservation"  # per currency: sum(debits_posted) == sum(credits_posted), same for pending
    FLOORS = "floors"  # no account crosses its floor, counting pending debits (or credits)
    NON_NEGATIVE = "non_negative"  # every balance component in 0..AMOUNT_MAX, and so are pending + posted
    AT_MOST_ONCE = "at_most_once"  # a pending transfer resolves at most once, consistently with its status
    JOURNAL = "journal"  # every account's balances are exactly what its transfers add up to


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: Invariant
    detail: str


class InvariantViolation(AssertionError):
    def __init__(self, violations: list[Violation]) -> None:
        super().__init__("; ".join(f"{v.invariant}: {v.detail}" for v in violations))
        self.violations = violations


def check_conservation(accounts: Iterable[Account]) -> list[Violation]:
    """Double entry: in each currency, posted debits equal posted credits and pending debits pending credits.
    Over all the accounts of the currency (a subset proves nothing)."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for a in accounts:
        s = sums[a.currency]
        s[0] += a.debits_posted - a.credits_posted
        s[1] += a.debits_pending - a.credits_pending
    out = []
    for currency, (posted, pending) in sorted(sums.items()):
        if posted:
            out.append(Violation(Invariant.CONSERVATION, f"{currency}: debits_posted - credits_posted = {posted}"))
        if pending:
            out.append(Violation(Invariant.CONSERVATION, f"{currency}: debits_pending - credits_pending = {pending}"))
    return out


def check_floors(accounts: Iterable[Account]) -> list[Violation]:
    out = []
    for a in accounts:
        flags = int(a.flags)
        if flags & _DEBITS_FLOOR and a.debits_pending + a.debits_posted > a.credits_posted:
            out.append(Violation(Invariant.FLOORS, f"account {a.id}: debits (pending + posted) exceed credits"))
        if flags & _CREDITS_FLOOR and a.credits_pending + a.credits_posted > a.debits_posted:
            out.append(Violation(Invariant.FLOORS, f"account {a.id}: credits (pending + posted) exceed debits"))
    return out


def check_non_negative(accounts: Iterable[Account]) -> list[Violation]:
    out = []
    for a in accounts:
        values = (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
        if any(not 0 <= v <= AMOUNT_MAX for v in values):
            out.append(Violation(Invariant.NON_NEGATIVE, f"account {a.id}: a component is outside 0..{AMOUNT_MAX}"))
        elif a.debits_pending + a.debits_posted > AMOUNT_MAX or a.credits_pending + a.credits_posted > AMOUNT_MAX:
            out.append(Violation(Invariant.NON_NEGATIVE, f"account {a.id}: pending + posted exceeds {AMOUNT_MAX}"))
    return out


def check_at_most_once(
    transfers: Mapping[UUID, TransferRecord], pending_status: Mapping[UUID, PendingStatus]
) -> list[Violation]:
    """Each pending transfer is resolved by at most one post or void, and its status says which (or none)."""
    out = []
    resolutions: dict[UUID, list[TransferRecord]] = defaultdict(list)
    for r in transfers.values():
        if r.is_post or r.is_void:
            resolutions[r.pending_id].append(r)  # type: ignore[index]
    for pid, rs in resolutions.items():
        p = transfers.get(pid)
        if p is None or not p.is_pending:
            out.append(Violation(Invariant.AT_MOST_ONCE, f"{[r.id for r in rs]} resolve {pid}, not a pending transfer"))
        elif len(rs) > 1:
            out.append(Violation(Invariant.AT_MOST_ONCE, f"pending transfer {pid} resolved {len(rs)} times"))
        elif rs[0].amount > p.amount or (rs[0].is_void and rs[0].amount != p.amount):
            out.append(Violation(Invariant.AT_MOST_ONCE, f"{rs[0].id} resolves {pid} for {rs[0].amount}"))
    expected = {PendingStatus.PENDING: 0, PendingStatus.EXPIRED: 0, PendingStatus.POSTED: 1, PendingStatus.VOIDED: 1}
    for p in transfers.values():
        if not p.is_pending:
            continue
        status = pending_status.get(p.id)
        rs = resolutions.get(p.id, [])
        if status is None or len(rs) != expected[status]:
            out.append(
                Violation(Invariant.AT_MOST_ONCE, f"pending transfer {p.id}: status {status}, {len(rs)} resolutions")
            )
        elif rs and (rs[0].is_post != (status is PendingStatus.POSTED)):
            out.append(
                Violation(Invariant.AT_MOST_ONCE, f"pending transfer {p.id}: status {status} but {rs[0].flags!r}")
            )
    return out


def check_journal(
    accounts: Iterable[Account], transfers: Mapping[UUID, TransferRecord], pending_status: Mapping[UUID, PendingStatus]
) -> list[Violation]:
    """Replaying the journal gives every account's balances: posted from ordinary transfers and posts, pending
    from pending transfers still pending. What a persisted ledger's reconciliation checks."""
    sums: dict[UUID, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for r in transfers.values():
        if r.is_pending:
            if pending_status.get(r.id) is PendingStatus.PENDING:
                sums[r.debit_account_id][0] += r.amount
                sums[r.credit_account_id][2] += r.amount
        elif not r.is_void:
            sums[r.debit_account_id][1] += r.amount
            sums[r.credit_account_id][3] += r.amount
    out = []
    seen = set()
    for a in accounts:
        seen.add(a.id)
        if [a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted] != sums.get(a.id, [0, 0, 0, 0]):
            out.append(
                Violation(Invariant.JOURNAL, f"account {a.id}: balances differ from its transfers {sums.get(a.id)}")
            )
    for account_id in sums.keys() - seen:
        out.append(Violation(Invariant.JOURNAL, f"transfers name account {account_id}, which does not exist"))
    return out


def check_invariants(
    accounts: Iterable[Account],
    transfers: Mapping[UUID, TransferRecord] | None = None,
    pending_status: Mapping[UUID, PendingStatus] | None = None,
) -> list[Violation]:
    """Every invariant over a whole ledger (all accounts; with its transfers, the journal ones too)."""
    accounts = list(accounts)
    out = check_conservation(accounts) + check_floors(accounts) + check_non_negative(accounts)
    if transfers is not None:
        status = pending_status or {}
        out += check_at_most_once(transfers, status) + check_journal(accounts, transfers, status)
    return out


def assert_invariants(
    accounts: Iterable[Account],
    transfers: Mapping[UUID, TransferRecord] | None = None,
    pending_status: Mapping[UUID, PendingStatus] | None = None,
) -> None:
    violations = check_invariants(accounts, transfers, pending_status)
    if violations:
        raise InvariantViolation(violations)


# ---------------------------------------------------------------------------------------------------- Ledger


class Ledger:
    """The in-memory ledger: the pure rules over dicts. The reference the persisted ledger is tested against.

    Not thread-safe; one batch at a time, as TigerBeetle's state machine.
    """

    def __init__(self) -> None:
        self._accounts: dict[UUID, Account] = {}
        self._transfers: dict[UUID, TransferRecord] = {}
        self._pending_status: dict[UUID, PendingStatus] = {}
        self._failed: dict[UUID, CreateTransferResult] = {}
        self._deadlines: list[tuple[dt.datetime, int, UUID]] = []  # heap of pending transfers with a timeout
        self._snapshot = Snapshot(  # read-only live views of the dicts above
            MappingProxyType(self._accounts),
            MappingProxyType(self._transfers),
            MappingProxyType(self._pending_status),
            MappingProxyType(self._failed),
        )

    # state, read-only
    @property
    def accounts(self) -> Mapping[UUID, Account]:
        return self._snapshot.accounts

    @property
    def transfers(self) -> Mapping[UUID, TransferRecord]:
        return self._snapshot.transfers

    @property
    def pending_status(self) -> Mapping[UUID, PendingStatus]:
        return self._snapshot.pending_status

    @property
    def failed(self) -> Mapping[UUID, CreateTransferResult]:
        """Ids that answer ``id_already_failed``, with the failure they first got."""
        return self._snapshot.failed

    def snapshot(self) -> Snapshot:
        """The whole state, as read-only live views (they follow later changes; copy them to keep a moment)."""
        return self._snapshot

    def account(self, account_id: UUID) -> Account | None:
        return self._accounts.get(account_id)

    def balance(self, account_id: UUID) -> Balance:
        return self._accounts[account_id].balance()

    def transfer(self, transfer_id: UUID) -> TransferRecord | None:
        return self._transfers.get(transfer_id)

    def account_transfers(self, account_id: UUID) -> list[TransferRecord]:
        """The transfers that debit or credit an account, oldest first."""
        return [r for r in self._transfers.values() if account_id in (r.debit_account_id, r.credit_account_id)]

    # operations
    def create_accounts(self, batch: Sequence[Account], now: dt.datetime) -> tuple[CreateAccountResult, ...]:
        outcome = create_accounts(self._accounts, batch, now)
        for a in outcome.accounts:
            self._accounts[a.id] = a
        return outcome.results

    def create_transfers(self, batch: Sequence[Transfer], now: dt.datetime) -> tuple[CreateTransferResult, ...]:
        return self.apply(create_transfers(self.snapshot(), batch, now)).results

    def apply(self, outcome: CreateTransfersOutcome) -> CreateTransfersOutcome:
        """Write an outcome computed against this ledger's current state."""
        self._accounts.update(outcome.accounts)
        for r in outcome.transfers:
            self._transfers[r.id] = r
            if r.expires_at is not None:
                heapq.heappush(self._deadlines, (r.expires_at, r.id.int, r.id))
        self._pending_status.update(outcome.pending_status)
        self._failed.update(outcome.failed)
        return outcome

    def expire_pending(self, now: dt.datetime) -> tuple[UUID, ...]:
        """Release the pending transfers whose deadline is ``now`` or earlier; returns their ids."""
        now = check_time(now)
        due = []
        while self._deadlines and self._deadlines[0][0] <= now:
            due.append(heapq.heappop(self._deadlines)[2])
        if not due:
            return ()
        outcome = expire_pending(self.snapshot(), now, due)
        self._accounts.update(outcome.accounts)
        self._pending_status.update(outcome.pending_status)
        return outcome.expired

    def check_invariants(self) -> list[Violation]:
        return check_invariants(self._accounts.values(), self._transfers, self._pending_status)

    def assert_invariants(self) -> None:
        assert_invariants(self._accounts.values(), self._transfers, self._pending_status)
