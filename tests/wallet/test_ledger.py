"""wallet.ledger: TigerBeetle's semantics as pure rules, every result code and rule by example (no database).

Every failure is checked to change nothing (no balance, no transfer, no pending status); only the failures in
``TRANSIENT_RESULTS`` record their id as failed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
import uuid

import pytest

from o2o.wallet.ledger import (
    AMOUNT_MAX,
    BATCH_MAX,
    FLOOR_REQUIRED,
    ID_INT_MAX,
    ID_ZERO,
    TRANSIENT_RESULTS,
    Account,
    AccountFlags,
    AccountKind,
    Balance,
    CreateAccountResult,
    CreateTransferResult,
    Invariant,
    InvariantViolation,
    Ledger,
    OwnerKind,
    PendingStatus,
    Snapshot,
    Transfer,
    TransferFlags,
    TransferRecord,
    account_ids_to_load,
    assert_invariants,
    check_at_most_once,
    check_conservation,
    check_floors,
    check_invariants,
    check_journal,
    check_non_negative,
    create_accounts,
    create_transfers,
    expire_pending,
    new_account,
    transfer_ids_to_load,
)

R = CreateTransferResult
A = CreateAccountResult
F = TransferFlags
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)


def U(n: int) -> uuid.UUID:
    return uuid.UUID(int=n)


W1, W2, CLEARING, REVENUE, USD_WALLET, USD_CLEARING, DEBIT_FLOORED, MISSING = (U(n) for n in range(1, 9))
PERSON = U(1000)
FUNDED = 10_000


def accounts() -> list[Account]:
    return [
        new_account(W1, AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "CNY", PERSON),
        new_account(W2, AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "CNY", U(1001)),
        new_account(CLEARING, AccountKind.CHANNEL_CLEARING, OwnerKind.PLATFORM, "CNY"),
        new_account(REVENUE, AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM, "CNY"),
        new_account(USD_WALLET, AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "USD", PERSON),
        new_account(USD_CLEARING, AccountKind.CHANNEL_CLEARING, OwnerKind.PLATFORM, "USD"),
        Account(
            DEBIT_FLOORED,
            "CNY",
            AccountKind.CHANNEL_CLEARING,
            OwnerKind.PLATFORM,
            flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
        ),
    ]


def make_ledger(*, fund: bool = True) -> Ledger:
    ledger = Ledger()
    assert set(ledger.create_accounts(accounts(), NOW)) == {A.OK}
    if fund:  # a top-up: the channel owes us, we owe the customer
        assert ledger.create_transfers([tr(900, CLEARING, W1, FUNDED)], NOW) == (R.OK,)
    return ledger


def tr(n: int, dr: uuid.UUID | None, cr: uuid.UUID | None, amount: int | None, **kw: object) -> Transfer:
    fields: dict[str, object] = {"currency": "CNY", "code": 1} | kw
    return Transfer(U(n), dr, cr, amount, **fields)  # type: ignore[arg-type]


def pending(n: int, dr: uuid.UUID, cr: uuid.UUID, amount: int, timeout: int = 0, **kw: object) -> Transfer:
    return tr(n, dr, cr, amount, flags=F.PENDING | kw.pop("flags", F.NONE), timeout=timeout, **kw)


def post(n: int, pending_id: int, amount: int | None = None, **kw: object) -> Transfer:
    flags = F.POST_PENDING_TRANSFER | kw.pop("flags", F.NONE)  # type: ignore[operator]
    return Transfer(U(n), amount=amount, pending_id=U(pending_id), flags=flags, **kw)  # type: ignore[arg-type]


def void(n: int, pending_id: int, amount: int | None = None, **kw: object) -> Transfer:
    flags = F.VOID_PENDING_TRANSFER | kw.pop("flags", F.NONE)  # type: ignore[operator]
    return Transfer(U(n), amount=amount, pending_id=U(pending_id), flags=flags, **kw)  # type: ignore[arg-type]


def state(ledger: Ledger) -> tuple[dict, dict, dict]:
    return dict(ledger.accounts), dict(ledger.transfers), dict(ledger.pending_status)


def balances(ledger: Ledger, account_id: uuid.UUID) -> tuple[int, int, int, int]:
    a = ledger.accounts[account_id]
    return a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted


def fails(ledger: Ledger, transfer: Transfer, expected: R, now: dt.datetime = NOW) -> None:
    """The transfer fails with ``expected`` and changes nothing; a transient failure burns its id."""
    before, failed_before = state(ledger), dict(ledger.failed)
    assert ledger.create_transfers([transfer], now) == (expected,)
    assert state(ledger) == before
    if expected in TRANSIENT_RESULTS:
        assert ledger.failed == failed_before | {transfer.id: expected}
        assert ledger.create_transfers([transfer], now) == (R.ID_ALREADY_FAILED,)
    else:
        assert ledger.failed == failed_before
        assert ledger.create_transfers([transfer], now) == (expected,)  # same request, same answer
    ledger.assert_invariants()


# ---------------------------------------------------------------------------------------------------- values


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"amount": 1.0}, TypeError),
        ({"amount": True}, TypeError),
        ({"amount": "5"}, TypeError),
        ({"amount": -1}, ValueError),
        ({"amount": AMOUNT_MAX + 1}, ValueError),
        ({"id": 5}, TypeError),
        ({"id": None}, TypeError),
        ({"debit_account_id": "00000000-0000-0000-0000-000000000001"}, TypeError),
        ({"currency": "XXX"}, ValueError),
        ({"code": 2**16}, ValueError),
        ({"code": False}, TypeError),
        ({"timeout": -1}, ValueError),
        ({"timeout": 2**31}, ValueError),
        ({"timeout": 1.5}, TypeError),
        ({"flags": 1 << 4}, ValueError),
        ({"user_data_64": 2**63}, ValueError),
        ({"user_data_32": -1}, ValueError),
    ],
)
def test_transfer_refuses_what_a_database_cannot_hold(kwargs: dict, error: type[Exception]) -> None:
    fields = {"id": U(50), "debit_account_id": W1, "credit_account_id": W2, "amount": 1, "currency": "CNY", "code": 1}
    with pytest.raises(error):
        Transfer(**(fields | kwargs))


def test_transfer_normalises_nil_ids_and_int_flags() -> None:
    t = Transfer(U(50), ID_ZERO, ID_ZERO, 5, "CNY", 1, flags=3, pending_id=ID_ZERO, user_data_128=ID_ZERO)
    assert (t.debit_account_id, t.credit_account_id, t.pending_id, t.user_data_128) == (None, None, None, None)
    assert t.flags == F.LINKED | F.PENDING
    assert type(t.flags) is TransferFlags
    assert Transfer(U(50), amount=AMOUNT_MAX).amount == AMOUNT_MAX


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"credits_posted": 1.0}, TypeError),
        ({"debits_pending": True}, TypeError),
        ({"debits_posted": -1}, ValueError),
        ({"credits_pending": AMOUNT_MAX + 1}, ValueError),
        ({"currency": "cny"}, ValueError),
        ({"kind": "piggy_bank"}, ValueError),
        ({"owner_kind": "alien"}, ValueError),
        ({"flags": 8}, ValueError),
        ({"id": "1"}, TypeError),
        ({"timestamp": dt.datetime(2026, 1, 1)}, ValueError),
    ],
)
def test_account_refuses_what_a_database_cannot_hold(kwargs: dict, error: type[Exception]) -> None:
    fields = {"id": U(60), "currency": "CNY", "kind": AccountKind.HOLDS, "owner_kind": OwnerKind.PLATFORM}
    with pytest.raises(error):
        Account(**(fields | kwargs))


def test_times_must_be_aware_and_batches_bounded() -> None:
    ledger = make_ledger()
    with pytest.raises(ValueError, match="timezone-aware"):
        ledger.create_transfers([tr(50, W1, W2, 1)], dt.datetime(2026, 3, 1, 9, 0))
    with pytest.raises(TypeError):
        ledger.expire_pending("2026-03-01")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at most"):
        ledger.create_transfers([tr(50 + i, W1, W2, 1) for i in range(BATCH_MAX + 1)], NOW)
    # Another zone is the same instant, stored in UTC.
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert ledger.create_transfers([tr(50, W1, W2, 1)], NOW.astimezone(shanghai)) == (R.OK,)
    assert ledger.transfer(U(50)).timestamp == NOW  # type: ignore[union-attr]
    assert ledger.transfer(U(50)).timestamp.tzinfo is dt.UTC  # type: ignore[union-attr]


def test_new_account_gives_the_floor_its_kind_requires() -> None:
    for kind in AccountKind:
        a = new_account(U(70), kind, OwnerKind.PLATFORM, "CNY")
        assert bool(a.flags & AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS) == (kind in FLOOR_REQUIRED)
        assert a.has_floor == (kind in FLOOR_REQUIRED)
    assert new_account(U(70), AccountKind.HOLDS, OwnerKind.STORE, "CNY", linked=True).flags & AccountFlags.LINKED


def test_balances_are_seen_from_the_normal_side() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 300), pending(51, CLEARING, W1, 200)], NOW) == (R.OK, R.OK)
    assert ledger.balance(W1) == Balance("CNY", posted=FUNDED, pending_in=200, pending_out=300, available=9_700)
    assert ledger.balance(W1).pending == -100
    assert ledger.balance(W2) == Balance("CNY", posted=0, pending_in=300, pending_out=0, available=0)
    # The channel clearing account is an asset: debits make it grow.
    assert ledger.balance(CLEARING) == Balance("CNY", posted=FUNDED, pending_in=200, pending_out=0, available=FUNDED)


# ---------------------------------------------------------------------------------------------------- accounts


def test_create_accounts_stamps_time_and_answers_exists() -> None:
    ledger = make_ledger(fund=False)
    assert ledger.account(W1).timestamp == NOW  # type: ignore[union-attr]
    assert ledger.create_accounts(accounts(), NOW + dt.timedelta(hours=1)) == (A.EXISTS,) * len(accounts())
    assert ledger.account(W1).timestamp == NOW  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"flags": AccountFlags.NONE}, A.EXISTS_WITH_DIFFERENT_FLAGS),
        ({"owner_kind": OwnerKind.STORE}, A.EXISTS_WITH_DIFFERENT_OWNER_KIND),
        ({"owner_id": U(4242)}, A.EXISTS_WITH_DIFFERENT_OWNER_ID),
        ({"currency": "USD"}, A.EXISTS_WITH_DIFFERENT_LEDGER),
        ({"kind": AccountKind.HOLDS}, A.EXISTS_WITH_DIFFERENT_KIND),
    ],
)
def test_create_accounts_exists_with_different_fields(change: dict, expected: A) -> None:
    ledger = make_ledger(fund=False)
    before = dict(ledger.accounts)
    assert ledger.create_accounts([dataclasses.replace(accounts()[0], **change)], NOW) == (expected,)
    assert dict(ledger.accounts) == before


@pytest.mark.parametrize(
    ("account", "expected"),
    [
        (Account(U(80), "CNY", AccountKind.HOLDS, OwnerKind.PLATFORM, timestamp=NOW), A.TIMESTAMP_MUST_BE_ZERO),
        (Account(ID_ZERO, "CNY", AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM), A.ID_MUST_NOT_BE_ZERO),
        (Account(ID_INT_MAX, "CNY", AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM), A.ID_MUST_NOT_BE_INT_MAX),
        (
            Account(
                U(80),
                "CNY",
                AccountKind.PLATFORM_REVENUE,
                OwnerKind.PLATFORM,
                flags=AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
            ),
            A.FLAGS_ARE_MUTUALLY_EXCLUSIVE,
        ),
        (
            Account(U(80), "CNY", AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM, debits_pending=1),
            A.DEBITS_PENDING_MUST_BE_ZERO,
        ),
        (
            Account(U(80), "CNY", AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM, debits_posted=1),
            A.DEBITS_POSTED_MUST_BE_ZERO,
        ),
        (
            Account(U(80), "CNY", AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM, credits_pending=1),
            A.CREDITS_PENDING_MUST_BE_ZERO,
        ),
        (
            Account(U(80), "CNY", AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM, credits_posted=1),
            A.CREDITS_POSTED_MUST_BE_ZERO,
        ),
        (Account(U(80), "CNY", AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, U(1)), A.KIND_REQUIRES_FLOOR),
    ],
)
def test_create_accounts_validation(account: Account, expected: A) -> None:
    ledger = make_ledger(fund=False)
    before = dict(ledger.accounts)
    assert ledger.create_accounts([account], NOW) == (expected,)
    assert dict(ledger.accounts) == before


def test_linked_accounts_are_created_together_or_not_at_all() -> None:
    ledger = Ledger()
    wallet = new_account(U(90), AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "CNY", PERSON, linked=True)
    holds = new_account(U(91), AccountKind.HOLDS, OwnerKind.PERSON, "CNY", PERSON)
    bad = Account(U(92), "CNY", AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, PERSON)  # no floor
    linked_holds = dataclasses.replace(holds, flags=holds.flags | AccountFlags.LINKED)
    assert ledger.create_accounts([wallet, bad], NOW) == (A.LINKED_EVENT_FAILED, A.KIND_REQUIRES_FLOOR)
    assert ledger.create_accounts([wallet, linked_holds], NOW) == (A.LINKED_EVENT_FAILED, A.LINKED_EVENT_CHAIN_OPEN)
    assert dict(ledger.accounts) == {}
    assert ledger.create_accounts([wallet, holds], NOW) == (A.OK, A.OK)
    assert set(ledger.accounts) == {U(90), U(91)}


def test_create_accounts_pure_function_reads_only_what_it_is_given() -> None:
    existing = {W1: accounts()[0]}
    outcome = create_accounts(existing, accounts()[:2], NOW)
    assert outcome.results == (A.EXISTS, A.OK)
    assert [a.id for a in outcome.accounts] == [W2]
    assert existing == {W1: accounts()[0]}


# ---------------------------------------------------------------------------------------------------- transfers


def test_a_transfer_moves_money_and_is_recorded_as_sent() -> None:
    ledger = make_ledger()
    t = tr(50, W1, REVENUE, 250, code=7, user_data_128=U(777), user_data_64=64, user_data_32=32)
    assert ledger.create_transfers([t], NOW) == (R.OK,)
    assert balances(ledger, W1) == (0, 250, 0, FUNDED)
    assert balances(ledger, REVENUE) == (0, 0, 0, 250)
    assert ledger.transfer(U(50)) == TransferRecord(
        U(50), W1, REVENUE, 250, "CNY", 7, F.NONE, None, 0, U(777), 64, 32, NOW, None
    )
    assert [r.id for r in ledger.account_transfers(W1)] == [U(900), U(50)]
    ledger.assert_invariants()


def test_resubmitting_the_same_transfer_answers_exists_and_moves_nothing() -> None:
    ledger = make_ledger()
    t = tr(50, W1, W2, 100)
    assert ledger.create_transfers([t], NOW) == (R.OK,)
    after = state(ledger)
    for later in (NOW, NOW + dt.timedelta(days=400)):
        assert ledger.create_transfers([t], later) == (R.EXISTS,)
    assert ledger.create_transfers([t, t], NOW) == (R.EXISTS, R.EXISTS)
    assert state(ledger) == after
    # Within one batch the second submission already sees the first.
    assert ledger.create_transfers([tr(51, W1, W2, 1), tr(51, W1, W2, 1)], NOW) == (R.OK, R.EXISTS)
    assert balances(ledger, W2) == (0, 0, 0, 101)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"flags": F.PENDING}, R.EXISTS_WITH_DIFFERENT_FLAGS),
        ({"pending_id": U(99)}, R.EXISTS_WITH_DIFFERENT_PENDING_ID),
        ({"timeout": 5}, R.EXISTS_WITH_DIFFERENT_TIMEOUT),
        ({"debit_account_id": W2}, R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID),
        ({"credit_account_id": W1}, R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID),
        ({"amount": 101}, R.EXISTS_WITH_DIFFERENT_AMOUNT),
        ({"amount": None}, R.EXISTS_WITH_DIFFERENT_AMOUNT),
        ({"user_data_128": U(1)}, R.EXISTS_WITH_DIFFERENT_USER_DATA_128),
        ({"user_data_64": 1}, R.EXISTS_WITH_DIFFERENT_USER_DATA_64),
        ({"user_data_32": 1}, R.EXISTS_WITH_DIFFERENT_USER_DATA_32),
        ({"currency": "USD"}, R.EXISTS_WITH_DIFFERENT_LEDGER),
        ({"code": 2}, R.EXISTS_WITH_DIFFERENT_CODE),
        ({"amount": 5, "code": 2, "flags": F.PENDING}, R.EXISTS_WITH_DIFFERENT_FLAGS),  # the first difference wins
        ({"amount": 5, "code": 2}, R.EXISTS_WITH_DIFFERENT_AMOUNT),
    ],
)
def test_same_id_with_different_fields_is_refused(change: dict, expected: R) -> None:
    ledger = make_ledger()
    t = tr(50, W1, CLEARING, 100)
    assert ledger.create_transfers([t], NOW) == (R.OK,)
    fails(ledger, dataclasses.replace(t, **change), expected)
    assert ledger.create_transfers([t], NOW) == (R.EXISTS,)


def test_an_id_that_failed_stays_failed_and_a_correction_is_a_new_transfer() -> None:
    ledger = make_ledger()
    too_much = tr(50, W1, W2, FUNDED + 1)
    fails(ledger, too_much, R.EXCEEDS_CREDITS)
    assert ledger.failed == {U(50): R.EXCEEDS_CREDITS}  # the first failure is kept for the caller
    # Once the wallet holds enough, the same id still fails, whatever the fields.
    assert ledger.create_transfers([tr(51, CLEARING, W1, 5)], NOW) == (R.OK,)
    assert ledger.create_transfers([too_much, dataclasses.replace(too_much, amount=1)], NOW) == (
        R.ID_ALREADY_FAILED,
        R.ID_ALREADY_FAILED,
    )
    assert ledger.transfer(U(50)) is None
    assert ledger.create_transfers([tr(52, W1, W2, FUNDED + 1)], NOW) == (R.OK,)


def test_a_failure_of_the_request_itself_is_not_recorded() -> None:
    ledger = make_ledger()
    fails(ledger, tr(50, W1, W1, 5), R.ACCOUNTS_MUST_BE_DIFFERENT)
    # Nothing was stored under the id, so a corrected request with it is a first submission (as TigerBeetle).
    assert ledger.create_transfers([tr(50, W1, W2, 5)], NOW) == (R.OK,)


@pytest.mark.parametrize(
    ("transfer", "expected"),
    [
        (Transfer(ID_ZERO, W1, W2, 5, "CNY", 1), R.ID_MUST_NOT_BE_ZERO),
        (Transfer(ID_INT_MAX, W1, W2, 5, "CNY", 1), R.ID_MUST_NOT_BE_INT_MAX),
        (tr(50, W1, W2, 5, flags=F.PENDING | F.POST_PENDING_TRANSFER), R.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        (tr(50, W1, W2, 5, flags=F.PENDING | F.VOID_PENDING_TRANSFER), R.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        (tr(50, W1, W2, 5, flags=F.POST_PENDING_TRANSFER | F.VOID_PENDING_TRANSFER), R.FLAGS_ARE_MUTUALLY_EXCLUSIVE),
        (tr(50, None, W2, 5), R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
        (tr(50, ID_INT_MAX, W2, 5), R.DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
        (tr(50, W1, None, 5), R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO),
        (tr(50, W1, ID_INT_MAX, 5), R.CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX),
        (tr(50, W1, W1, 5), R.ACCOUNTS_MUST_BE_DIFFERENT),
        (tr(50, W1, W2, 5, pending_id=U(900)), R.PENDING_ID_MUST_BE_ZERO),
        (tr(50, W1, W2, 5, timeout=10), R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
        (tr(50, W1, W2, 0), R.AMOUNT_MUST_NOT_BE_ZERO),
        (tr(50, W1, W2, None), R.AMOUNT_MUST_NOT_BE_ZERO),
        (tr(50, W1, W2, 5, currency=None), R.LEDGER_MUST_NOT_BE_ZERO),
        (tr(50, W1, W2, 5, code=0), R.CODE_MUST_NOT_BE_ZERO),
        (tr(50, MISSING, W2, 5), R.DEBIT_ACCOUNT_NOT_FOUND),
        (tr(50, W1, MISSING, 5), R.CREDIT_ACCOUNT_NOT_FOUND),
        (tr(50, W1, USD_WALLET, 5), R.ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER),
        (tr(50, W1, W2, 5, currency="USD"), R.TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS),
        (tr(50, USD_WALLET, USD_CLEARING, 5, currency="USD"), R.EXCEEDS_CREDITS),  # an empty wallet
        (tr(50, W1, W2, FUNDED + 1), R.EXCEEDS_CREDITS),
        (pending(50, W1, W2, FUNDED + 1), R.EXCEEDS_CREDITS),
        (tr(50, CLEARING, DEBIT_FLOORED, 1), R.EXCEEDS_DEBITS),
        (pending(50, CLEARING, DEBIT_FLOORED, 1), R.EXCEEDS_DEBITS),
    ],
)
def test_transfer_validation(transfer: Transfer, expected: R) -> None:
    fails(make_ledger(), transfer, expected)


def test_floor_counts_pending_debits_and_allows_exactly_the_available_amount() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 8_000)], NOW) == (R.OK,)
    fails(ledger, tr(51, W1, REVENUE, 2_001), R.EXCEEDS_CREDITS)
    fails(ledger, pending(52, W1, REVENUE, 2_001), R.EXCEEDS_CREDITS)
    assert ledger.create_transfers([tr(53, W1, REVENUE, 2_000)], NOW) == (R.OK,)
    assert ledger.balance(W1).available == 0
    # Pending credits are not spendable: W2 has 8,000 incoming but nothing posted.
    fails(ledger, tr(54, W2, REVENUE, 1), R.EXCEEDS_CREDITS)
    # Platform accounts have no floor and go below zero.
    assert ledger.create_transfers([tr(55, REVENUE, CLEARING, 5_000)], NOW) == (R.OK,)
    assert ledger.balance(REVENUE).posted == -3_000
    # The debit floor: credits (pending + posted) never exceed debits.
    assert ledger.create_transfers([tr(56, DEBIT_FLOORED, CLEARING, 100)], NOW) == (R.OK,)
    assert ledger.create_transfers([pending(57, CLEARING, DEBIT_FLOORED, 60)], NOW) == (R.OK,)
    fails(ledger, tr(58, CLEARING, DEBIT_FLOORED, 41), R.EXCEEDS_DEBITS)
    assert ledger.create_transfers([tr(59, CLEARING, DEBIT_FLOORED, 40)], NOW) == (R.OK,)
    ledger.assert_invariants()


def test_overflows_are_refused_before_any_component_leaves_bigint() -> None:
    big = AMOUNT_MAX
    ledger = make_ledger()
    # Posted counters: REVENUE has debits_posted = MAX, CLEARING's credits_posted = MAX.
    assert ledger.create_transfers([tr(50, REVENUE, CLEARING, big)], NOW) == (R.OK,)
    fails(ledger, tr(51, REVENUE, W2, 1), R.OVERFLOWS_DEBITS_POSTED)
    fails(ledger, tr(52, DEBIT_FLOORED, CLEARING, 1), R.OVERFLOWS_CREDITS_POSTED)
    fails(ledger, pending(53, REVENUE, W2, 1), R.OVERFLOWS_DEBITS)  # pending + posted would exceed MAX
    fails(ledger, pending(54, W1, CLEARING, 1), R.OVERFLOWS_CREDITS)
    # Pending counters.
    other = make_ledger()
    assert other.create_transfers([pending(60, REVENUE, CLEARING, big)], NOW) == (R.OK,)
    fails(other, pending(61, REVENUE, W2, 1), R.OVERFLOWS_DEBITS_PENDING)
    fails(other, pending(62, W1, CLEARING, 1), R.OVERFLOWS_CREDITS_PENDING)
    fails(other, tr(63, REVENUE, W2, 1), R.OVERFLOWS_DEBITS)
    fails(other, tr(64, W1, CLEARING, 1), R.OVERFLOWS_CREDITS)
    # Posting the full pending amount is fine: the sum never grows.
    assert other.create_transfers([post(65, 60)], NOW) == (R.OK,)
    assert balances(other, REVENUE) == (0, big, 0, 0)
    other.assert_invariants()


# ---------------------------------------------------------------------------------------------------- two-phase


def test_pending_reserves_and_post_moves_it_in_full() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 3_000, user_data_64=9)], NOW) == (R.OK,)
    assert balances(ledger, W1) == (3_000, 0, 0, FUNDED)
    assert balances(ledger, W2) == (0, 0, 3_000, 0)
    assert ledger.pending_status[U(50)] is PendingStatus.PENDING
    assert ledger.create_transfers([post(51, 50)], NOW) == (R.OK,)
    assert balances(ledger, W1) == (0, 3_000, 0, FUNDED)
    assert balances(ledger, W2) == (0, 0, 0, 3_000)
    assert ledger.pending_status[U(50)] is PendingStatus.POSTED
    # The post inherits what it left unset.
    assert ledger.transfer(U(51)) == TransferRecord(
        U(51), W1, W2, 3_000, "CNY", 1, F.POST_PENDING_TRANSFER, U(50), 0, None, 9, 0, NOW, None
    )
    ledger.assert_invariants()


def test_post_for_less_releases_the_rest() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 3_000)], NOW) == (R.OK,)
    assert ledger.create_transfers([post(51, 50, 1_200, user_data_64=5)], NOW) == (R.OK,)
    assert balances(ledger, W1) == (0, 1_200, 0, FUNDED)
    assert balances(ledger, W2) == (0, 0, 0, 1_200)
    assert ledger.transfer(U(51)).amount == 1_200  # type: ignore[union-attr]
    assert ledger.transfer(U(51)).user_data_64 == 5  # type: ignore[union-attr]
    assert ledger.balance(W1).available == FUNDED - 1_200


def test_void_releases_everything() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 3_000)], NOW) == (R.OK,)
    assert ledger.create_transfers([void(51, 50, 3_000)], NOW) == (R.OK,)
    assert balances(ledger, W1) == (0, 0, 0, FUNDED)
    assert balances(ledger, W2) == (0, 0, 0, 0)
    assert ledger.pending_status[U(50)] is PendingStatus.VOIDED
    assert ledger.transfer(U(51)).amount == 3_000  # type: ignore[union-attr]
    ledger.assert_invariants()


def test_a_pending_transfer_resolves_at_most_once() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 3_000), pending(60, W1, W2, 100)], NOW) == (R.OK, R.OK)
    assert ledger.create_transfers([post(51, 50, 1_000), void(61, 60)], NOW) == (R.OK, R.OK)
    fails(ledger, post(52, 50), R.PENDING_TRANSFER_ALREADY_POSTED)
    fails(ledger, void(53, 50), R.PENDING_TRANSFER_ALREADY_POSTED)
    fails(ledger, post(62, 60), R.PENDING_TRANSFER_ALREADY_VOIDED)
    fails(ledger, void(63, 60), R.PENDING_TRANSFER_ALREADY_VOIDED)
    # Two resolutions in one batch: the second sees the first.
    assert ledger.create_transfers([pending(70, W1, W2, 10)], NOW) == (R.OK,)
    assert ledger.create_transfers([void(71, 70), post(72, 70)], NOW) == (R.OK, R.PENDING_TRANSFER_ALREADY_VOIDED)
    ledger.assert_invariants()


@pytest.mark.parametrize(
    ("resolution", "expected"),
    [
        (Transfer(U(51), flags=F.POST_PENDING_TRANSFER), R.PENDING_ID_MUST_NOT_BE_ZERO),
        (Transfer(U(51), flags=F.VOID_PENDING_TRANSFER, pending_id=ID_INT_MAX), R.PENDING_ID_MUST_NOT_BE_INT_MAX),
        (post(51, 51), R.PENDING_ID_MUST_BE_DIFFERENT),
        (post(51, 50, timeout=5), R.TIMEOUT_RESERVED_FOR_PENDING_TRANSFER),
        (post(51, 50, 0), R.AMOUNT_MUST_NOT_BE_ZERO),
        (post(51, 4242), R.PENDING_TRANSFER_NOT_FOUND),
        (void(51, 4242), R.PENDING_TRANSFER_NOT_FOUND),
        (post(51, 900), R.PENDING_TRANSFER_NOT_PENDING),
        (post(51, 50, debit_account_id=W2), R.PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID),
        (void(51, 50, credit_account_id=W1), R.PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID),
        (post(51, 50, currency="USD"), R.PENDING_TRANSFER_HAS_DIFFERENT_LEDGER),
        (void(51, 50, code=2), R.PENDING_TRANSFER_HAS_DIFFERENT_CODE),
        (post(51, 50, 3_001), R.EXCEEDS_PENDING_TRANSFER_AMOUNT),
        (void(51, 50, 2_999), R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT),
        (void(51, 50, 0), R.PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT),
    ],
)
def test_post_and_void_validation(resolution: Transfer, expected: R) -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 3_000)], NOW) == (R.OK,)
    fails(ledger, resolution, expected)
    assert ledger.pending_status[U(50)] is PendingStatus.PENDING


def test_post_may_repeat_the_pending_fields() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 3_000, code=4)], NOW) == (R.OK,)
    full = post(51, 50, 3_000, debit_account_id=W1, credit_account_id=W2, currency="CNY", code=4)
    assert ledger.create_transfers([full], NOW) == (R.OK,)


def test_a_pending_transfer_expires_at_its_timeout() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 3_000, timeout=60), pending(60, W1, W2, 1, timeout=0)], NOW)
    record = ledger.transfer(U(50))
    assert record.expires_at == NOW + dt.timedelta(seconds=60)  # type: ignore[union-attr]
    assert ledger.transfer(U(60)).expires_at is None  # type: ignore[union-attr]
    just_before, deadline = NOW + dt.timedelta(seconds=59.999), NOW + dt.timedelta(seconds=60)
    assert ledger.expire_pending(just_before) == ()
    # From the deadline on, a post fails even before expire_pending has run; the funds stay reserved until then.
    fails(ledger, post(51, 50), R.PENDING_TRANSFER_EXPIRED, now=deadline)
    assert balances(ledger, W1) == (3_001, 0, 0, FUNDED)
    assert ledger.expire_pending(deadline) == (U(50),)
    assert ledger.pending_status[U(50)] is PendingStatus.EXPIRED
    assert balances(ledger, W1) == (1, 0, 0, FUNDED)
    assert balances(ledger, W2) == (0, 0, 1, 0)
    assert ledger.expire_pending(deadline + dt.timedelta(days=1)) == ()  # at most once; no timeout, no expiry
    fails(ledger, void(52, 50), R.PENDING_TRANSFER_EXPIRED)
    # The expired post stays failed even if a clock were to go back.
    assert ledger.create_transfers([post(51, 50)], NOW) == (R.ID_ALREADY_FAILED,)
    ledger.assert_invariants()


def test_post_before_the_deadline_wins_and_expiry_skips_it() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 3_000, timeout=60)], NOW) == (R.OK,)
    assert ledger.create_transfers([post(51, 50)], NOW + dt.timedelta(seconds=59)) == (R.OK,)
    assert ledger.expire_pending(NOW + dt.timedelta(hours=1)) == ()
    assert ledger.pending_status[U(50)] is PendingStatus.POSTED
    assert balances(ledger, W2) == (0, 0, 0, 3_000)


def test_expire_pending_is_pure_and_skips_what_is_not_due() -> None:
    ledger = make_ledger()
    batch = [pending(50, W1, W2, 10, timeout=30), pending(51, W1, W2, 20, timeout=10), pending(52, W1, W2, 5)]
    assert ledger.create_transfers(batch, NOW) == (R.OK,) * 3
    snapshot = ledger.snapshot()
    before = state(ledger)
    outcome = expire_pending(snapshot, NOW + dt.timedelta(seconds=30), candidates=[U(50), U(51), U(52), U(4242)])
    assert outcome.expired == (U(51), U(50))  # earliest deadline first
    assert dict(outcome.pending_status) == {U(50): PendingStatus.EXPIRED, U(51): PendingStatus.EXPIRED}
    assert outcome.accounts[W1].debits_pending == 5
    assert outcome.accounts[W2].credits_pending == 5
    assert state(ledger) == before  # nothing written until the caller applies it
    assert expire_pending(snapshot, NOW + dt.timedelta(seconds=9)).expired == ()


def test_pending_and_its_post_in_one_batch() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 700), post(51, 50, 500)], NOW) == (R.OK, R.OK)
    assert balances(ledger, W1) == (0, 500, 0, FUNDED)
    assert ledger.pending_status[U(50)] is PendingStatus.POSTED


def test_resubmitted_post_and_void_compare_inherited_fields() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 300, user_data_32=3), pending(60, W1, W2, 100)], NOW)
    assert ledger.create_transfers([post(51, 50), void(61, 60)], NOW) == (R.OK, R.OK)
    after = state(ledger)
    # Unset fields were inherited and compare equal; explicit equal values too.
    assert (
        ledger.create_transfers(
            [
                post(51, 50),
                post(51, 50, 300, debit_account_id=W1, credit_account_id=W2, currency="CNY", code=1, user_data_32=3),
                void(61, 60),
                void(61, 60, 100),
            ],
            NOW,
        )
        == (R.EXISTS,) * 4
    )
    assert state(ledger) == after
    cases = [
        (void(51, 50), R.EXISTS_WITH_DIFFERENT_FLAGS),
        (post(51, 60), R.EXISTS_WITH_DIFFERENT_PENDING_ID),
        (post(51, 50, timeout=1), R.EXISTS_WITH_DIFFERENT_TIMEOUT),
        (post(51, 50, debit_account_id=W2), R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID),
        (post(51, 50, credit_account_id=W1), R.EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID),
        (post(51, 50, 299), R.EXISTS_WITH_DIFFERENT_AMOUNT),
        (void(61, 60, 99), R.EXISTS_WITH_DIFFERENT_AMOUNT),
        (post(51, 50, user_data_128=U(5)), R.EXISTS_WITH_DIFFERENT_USER_DATA_128),
        (post(51, 50, user_data_64=5), R.EXISTS_WITH_DIFFERENT_USER_DATA_64),
        (post(51, 50, user_data_32=4), R.EXISTS_WITH_DIFFERENT_USER_DATA_32),
        (post(51, 50, currency="USD"), R.EXISTS_WITH_DIFFERENT_LEDGER),
        (post(51, 50, code=9), R.EXISTS_WITH_DIFFERENT_CODE),
    ]
    for resubmission, expected in cases:
        fails(ledger, resubmission, expected)


def test_a_partial_post_resubmitted_as_full_is_different() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 300), post(51, 50, 200)], NOW) == (R.OK, R.OK)
    fails(ledger, post(51, 50), R.EXISTS_WITH_DIFFERENT_AMOUNT)
    assert ledger.create_transfers([post(51, 50, 200)], NOW) == (R.EXISTS,)


# ---------------------------------------------------------------------------------------------------- linked


def test_a_linked_chain_applies_entirely() -> None:
    ledger = make_ledger()
    # A checkout split three ways; the last event closes the chain.
    chain = [
        tr(50, W1, REVENUE, 100, flags=F.LINKED),
        tr(51, W1, W2, 800, flags=F.LINKED),
        tr(52, W2, REVENUE, 50),  # spends money the chain itself brought in
    ]
    assert ledger.create_transfers(chain, NOW) == (R.OK,) * 3
    assert balances(ledger, W2) == (0, 50, 0, 800)
    # Retrying the committed chain answers exists for each event and moves nothing.
    after = state(ledger)
    assert ledger.create_transfers(chain, NOW) == (R.EXISTS,) * 3
    assert state(ledger) == after


def test_a_linked_chain_fails_entirely() -> None:
    ledger = make_ledger()
    chain = [
        tr(50, W1, REVENUE, 100, flags=F.LINKED),
        pending(51, W1, W2, 800, flags=F.LINKED),
        tr(52, W1, W2, FUNDED, flags=F.LINKED),  # 100 + 800 already taken: exceeds
        tr(53, W1, REVENUE, 1),
    ]
    before = state(ledger)
    assert ledger.create_transfers(chain, NOW) == (
        R.LINKED_EVENT_FAILED,
        R.LINKED_EVENT_FAILED,
        R.EXCEEDS_CREDITS,
        R.LINKED_EVENT_FAILED,
    )
    assert state(ledger) == before
    # Only the event that failed on the ledger's state is recorded; retrying the chain fails on it again.
    assert ledger.failed == {U(52): R.EXCEEDS_CREDITS}
    assert ledger.create_transfers(chain, NOW) == (
        R.LINKED_EVENT_FAILED,
        R.LINKED_EVENT_FAILED,
        R.ID_ALREADY_FAILED,
        R.LINKED_EVENT_FAILED,
    )
    assert state(ledger) == before
    # With a new id for the corrected event, the others' ids are still free.
    chain[2] = tr(54, W1, W2, 5, flags=F.LINKED)
    assert ledger.create_transfers(chain, NOW) == (R.OK,) * 4
    ledger.assert_invariants()


def test_chains_are_independent_of_each_other_and_of_single_events() -> None:
    ledger = make_ledger()
    batch = [
        tr(50, W1, W2, 1),  # single
        tr(51, W1, W2, 2, flags=F.LINKED),  # chain 1 fails
        tr(52, W1, W1, 2),
        tr(53, W1, W2, 4, flags=F.LINKED),  # chain 2 succeeds
        tr(54, W1, W2, 8),
        tr(55, W1, W2, 16),  # single
    ]
    assert ledger.create_transfers(batch, NOW) == (
        R.OK,
        R.LINKED_EVENT_FAILED,
        R.ACCOUNTS_MUST_BE_DIFFERENT,
        R.OK,
        R.OK,
        R.OK,
    )
    assert balances(ledger, W2) == (0, 0, 0, 1 + 4 + 8 + 16)


def test_a_chain_left_open_fails() -> None:
    ledger = make_ledger()
    before = state(ledger)
    batch = [tr(50, W1, W2, 1), tr(51, W1, W2, 2, flags=F.LINKED), tr(52, W1, W2, 4, flags=F.LINKED)]
    assert ledger.create_transfers(batch, NOW) == (R.OK, R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN)
    assert balances(ledger, W2) == (0, 0, 0, 1)
    assert ledger.create_transfers([tr(60, W1, W2, 1, flags=F.LINKED)], NOW) == (R.LINKED_EVENT_CHAIN_OPEN,)
    assert ledger.failed == {}
    assert state(ledger)[1].keys() - before[1].keys() == {U(50)}


def test_a_chain_rolls_back_posts_and_pendings_it_made() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 500)], NOW) == (R.OK,)
    before = state(ledger)
    chain = [
        post(51, 50, 200, flags=F.LINKED),
        pending(52, W1, W2, 300, flags=F.LINKED),
        void(53, 52, flags=F.LINKED),
        tr(54, W1, MISSING, 1),
    ]
    assert ledger.create_transfers(chain, NOW) == (R.LINKED_EVENT_FAILED,) * 3 + (R.CREDIT_ACCOUNT_NOT_FOUND,)
    assert state(ledger) == before
    assert ledger.pending_status[U(50)] is PendingStatus.PENDING
    assert ledger.transfer(U(52)) is None
    ledger.assert_invariants()


def test_a_chain_sees_an_id_burnt_earlier_in_the_batch() -> None:
    ledger = make_ledger()
    batch = [tr(50, W1, W2, FUNDED + 1, flags=F.LINKED), tr(51, W1, W2, 1), tr(50, W1, W2, 1)]
    assert ledger.create_transfers(batch, NOW) == (R.EXCEEDS_CREDITS, R.LINKED_EVENT_FAILED, R.ID_ALREADY_FAILED)


# ---------------------------------------------------------------------------------------------------- the pure core


def test_create_transfers_is_pure_and_returns_what_to_write() -> None:
    ledger = make_ledger()
    assert ledger.create_transfers([pending(50, W1, W2, 500)], NOW) == (R.OK,)
    snapshot = ledger.snapshot()
    before = state(ledger)
    batch = [post(51, 50, 100), tr(52, W1, REVENUE, 7), tr(53, W1, W2, FUNDED)]
    outcome = create_transfers(snapshot, batch, NOW)
    assert outcome.results == (R.OK, R.OK, R.EXCEEDS_CREDITS)
    assert not outcome.all_ok
    assert [r.id for r in outcome.transfers] == [U(51), U(52)]
    assert dict(outcome.pending_status) == {U(50): PendingStatus.POSTED}
    assert dict(outcome.failed) == {U(53): R.EXCEEDS_CREDITS}
    assert set(outcome.accounts) == {W1, W2, REVENUE}
    assert outcome.accounts[W1].debits_posted == 107
    assert state(ledger) == before  # the snapshot's mappings are untouched
    ledger.apply(outcome)
    assert balances(ledger, W1) == (0, 107, 0, FUNDED)
    ledger.assert_invariants()


def test_a_snapshot_of_only_the_rows_a_batch_needs_gives_the_same_outcome() -> None:
    """What the database-backed service does: load the rows named by the batch, run the rules, write."""
    ledger = make_ledger()
    setup = [pending(50, W1, W2, 500), tr(51, W1, W2, FUNDED * 2), tr(52, CLEARING, REVENUE, 3)]
    ledger.create_transfers(setup, NOW)
    batch = [post(60, 50), tr(51, W1, W2, 1), tr(52, CLEARING, REVENUE, 3), tr(61, W2, W1, 1)]
    transfer_ids = transfer_ids_to_load(batch)
    assert transfer_ids == {U(60), U(50), U(51), U(52), U(61)}
    transfers = {i: ledger.transfers[i] for i in transfer_ids if i in ledger.transfers}
    account_ids = account_ids_to_load(batch, transfers)
    assert account_ids == {W1, W2, CLEARING, REVENUE}
    partial = Snapshot(
        accounts={i: ledger.accounts[i] for i in account_ids},
        transfers=transfers,
        pending_status={i: ledger.pending_status[i] for i in transfer_ids if i in ledger.pending_status},
        failed={i: ledger.failed[i] for i in transfer_ids if i in ledger.failed},
    )
    assert create_transfers(partial, batch, NOW) == create_transfers(ledger.snapshot(), batch, NOW)
    assert create_transfers(partial, batch, NOW).results == (R.OK, R.ID_ALREADY_FAILED, R.EXISTS, R.OK)


def test_an_incomplete_snapshot_is_a_bug_not_an_answer() -> None:
    ledger = make_ledger()
    ledger.create_transfers([pending(50, W1, W2, 500)], NOW)
    without_status = dataclasses.replace(ledger.snapshot(), pending_status={})
    with pytest.raises(LookupError):
        create_transfers(without_status, [post(51, 50)], NOW)
    without_accounts = dataclasses.replace(ledger.snapshot(), accounts={})
    with pytest.raises(LookupError):
        create_transfers(without_accounts, [void(51, 50)], NOW)


# ---------------------------------------------------------------------------------------------------- invariants


def _fake(**balances: int) -> types.SimpleNamespace:
    fields = {"id": U(1), "currency": "CNY", "flags": AccountFlags.NONE} | {
        k: 0 for k in ("debits_pending", "debits_posted", "credits_pending", "credits_posted")
    }
    return types.SimpleNamespace(**(fields | balances))


def test_invariant_checks_find_violations() -> None:
    ledger = make_ledger()
    ledger.create_transfers([pending(50, W1, W2, 500), tr(51, W1, REVENUE, 5)], NOW)
    assert ledger.check_invariants() == []
    accounts_ = dict(ledger.accounts)
    w1 = accounts_[W1]

    unbalanced = list((accounts_ | {W1: dataclasses.replace(w1, debits_posted=w1.debits_posted + 1)}).values())
    assert [v.invariant for v in check_conservation(unbalanced)] == [Invariant.CONSERVATION]
    pending_unbalanced = list((accounts_ | {W1: dataclasses.replace(w1, debits_pending=0)}).values())
    assert [v.invariant for v in check_conservation(pending_unbalanced)] == [Invariant.CONSERVATION]

    crossed = [dataclasses.replace(w1, debits_posted=FUNDED)]  # 500 pending + 10,000 posted > 10,000
    assert [v.invariant for v in check_floors(crossed)] == [Invariant.FLOORS]
    debit_floored = Account(
        U(5),
        "CNY",
        AccountKind.CHANNEL_CLEARING,
        OwnerKind.PLATFORM,
        flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
        credits_pending=1,
    )
    assert [v.invariant for v in check_floors([debit_floored])] == [Invariant.FLOORS]

    assert [v.invariant for v in check_non_negative([_fake(credits_posted=-1)])] == [Invariant.NON_NEGATIVE]  # type: ignore[list-item]
    too_big = _fake(debits_pending=AMOUNT_MAX, debits_posted=1)
    assert [v.invariant for v in check_non_negative([too_big])] == [Invariant.NON_NEGATIVE]  # type: ignore[list-item]

    transfers = dict(ledger.transfers)
    status = dict(ledger.pending_status)
    twice = transfers | {
        U(60): dataclasses.replace(transfers[U(50)], id=U(60), flags=F.POST_PENDING_TRANSFER, pending_id=U(50)),
        U(61): dataclasses.replace(transfers[U(50)], id=U(61), flags=F.VOID_PENDING_TRANSFER, pending_id=U(50)),
    }
    assert Invariant.AT_MOST_ONCE in {
        v.invariant for v in check_at_most_once(twice, status | {U(50): PendingStatus.POSTED})
    }
    assert [v.invariant for v in check_at_most_once(transfers, status | {U(50): PendingStatus.POSTED})] == [
        Invariant.AT_MOST_ONCE
    ]
    assert [v.invariant for v in check_at_most_once(transfers, {})] == [Invariant.AT_MOST_ONCE]

    assert [v.invariant for v in check_journal(accounts_.values(), transfers, {})] == [Invariant.JOURNAL] * 2
    assert check_invariants(accounts_.values(), transfers, status) == []
    with pytest.raises(InvariantViolation) as raised:
        assert_invariants(unbalanced)
    assert raised.value.violations[0].invariant is Invariant.CONSERVATION
