"""The values of the ledger core: accounts, transfers, their flags and result codes (pure, immutable).

The model is TigerBeetle's (https://docs.tigerbeetle.com/reference/): an account holds four monotone-ish
counters (``debits_pending``, ``debits_posted``, ``credits_pending``, ``credits_posted``); a transfer moves an
amount from a debit account to a credit account of the same ledger; a pending transfer reserves the amount in
the ``*_pending`` counters until it is posted, voided or expires. Field names follow TigerBeetle's so that a
TigerBeetle cluster could stand behind the same interface, with two deliberate mappings:

* TigerBeetle's numeric ``ledger`` is the ISO 4217 currency code here (``currency``); the result codes keep
  TigerBeetle's names (``accounts_must_have_the_same_ledger``...).
* Ids are UUIDs (UUIDv7 from ``o2o.kit.ids``): 128 bits, as TigerBeetle's ``u128`` ids. The nil UUID is "zero"
  and ``ffff...ffff`` is "int max"; both are reserved.

Everything a database cannot hold is refused when the value is built (``TypeError``/``ValueError``): amounts and
balances are ``int`` (never ``bool`` or ``float``) in ``0..AMOUNT_MAX``, where ``AMOUNT_MAX = 2**63 - 1`` is the
largest PostgreSQL ``BIGINT`` (TigerBeetle's ``u128`` cut down to what our tables store). Business rules that a
well-formed request can break are *result codes*, never exceptions.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntFlag, StrEnum
from uuid import UUID

from o2o.kit.money import MINOR_UNITS

AMOUNT_MAX = 2**63 - 1
"""Largest amount, and largest value of any balance component (PostgreSQL BIGINT)."""

TIMEOUT_MAX = 2**31 - 1
"""Largest pending timeout in seconds (PostgreSQL INTEGER; about 68 years)."""

CODE_MAX = 2**16 - 1
"""Transfer ``code`` is TigerBeetle's u16: why the money moved (the wallet service names the values)."""

USER_DATA_64_MAX = 2**63 - 1
USER_DATA_32_MAX = 2**31 - 1

ID_ZERO = UUID(int=0)
ID_INT_MAX = UUID(int=2**128 - 1)


# ---------------------------------------------------------------------------------------------------- enums


class OwnerKind(StrEnum):
    PERSON = "person"
    STORE = "store"
    COURIER = "courier"
    PLATFORM = "platform"


class AccountKind(StrEnum):
    CUSTOMER_WALLET = "customer_wallet"  # what the platform owes a person (credit-normal)
    MERCHANT_RECEIVABLE = "merchant_receivable"  # what the platform owes a store (credit-normal)
    COURIER_PAYABLE = "courier_payable"  # what the platform owes a courier (credit-normal)
    PLATFORM_REVENUE = "platform_revenue"  # commissions and fees earned (credit-normal)
    CHANNEL_CLEARING = "channel_clearing"  # money held at / owed by a payment channel (debit-normal)
    HOLDS = "holds"  # money set aside for a purpose, released later (credit-normal)


class Side(StrEnum):
    DEBIT = "debit"
    CREDIT = "credit"


NORMAL_SIDE: dict[AccountKind, Side] = {kind: Side.CREDIT for kind in AccountKind} | {
    AccountKind.CHANNEL_CLEARING: Side.DEBIT
}
"""The side on which an account's balance grows; ``Account.balance()`` reports from that side."""


class AccountFlags(IntFlag):
    """TigerBeetle's account flags (same bit values)."""

    NONE = 0
    LINKED = 1 << 0
    DEBITS_MUST_NOT_EXCEED_CREDITS = 1 << 1  # the floor of a credit-normal account: never below zero
    CREDITS_MUST_NOT_EXCEED_DEBITS = 1 << 2  # the floor of a debit-normal account


ACCOUNT_FLAGS_ALL = (
    AccountFlags.LINKED | AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | (AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS)
)

FLOOR_REQUIRED: frozenset[AccountKind] = frozenset(
    {AccountKind.CUSTOMER_WALLET, AccountKind.MERCHANT_RECEIVABLE, AccountKind.COURIER_PAYABLE, AccountKind.HOLDS}
)
"""Policy: what the platform owes someone outside it never goes below zero, counting pending debits, so these
kinds must carry ``DEBITS_MUST_NOT_EXCEED_CREDITS`` (``create_accounts`` answers ``kind_requires_floor``).
Platform-owned kinds (revenue, channel clearing) may go either way. Change the policy here, nowhere else."""


class TransferFlags(IntFlag):
    """TigerBeetle's transfer flags (same bit values). Balancing and closing transfers are not supported."""

    NONE = 0
    LINKED = 1 << 0
    PENDING = 1 << 1
    POST_PENDING_TRANSFER = 1 << 2
    VOID_PENDING_TRANSFER = 1 << 3


TRANSFER_FLAGS_ALL = (
    TransferFlags.LINKED
    | TransferFlags.PENDING
    | TransferFlags.POST_PENDING_TRANSFER
    | TransferFlags.VOID_PENDING_TRANSFER
)


class PendingStatus(StrEnum):
    """TigerBeetle's ``TransferPendingStatus``: a pending transfer leaves ``pending`` at most once."""

    PENDING = "pending"
    POSTED = "posted"
    VOIDED = "voided"
    EXPIRED = "expired"


class CreateAccountResult(StrEnum):
    """Per-event result of ``create_accounts``, in the order the checks run (TigerBeetle's names, except
    ``exists_with_different_{owner_kind,owner_id,kind}`` for its user_data/code and ``kind_requires_floor``)."""

    OK = "ok"
    LINKED_EVENT_FAILED = "linked_event_failed"
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"
    TIMESTAMP_MUST_BE_ZERO = "timestamp_must_be_zero"
    ID_MUST_NOT_BE_ZERO = "id_must_not_be_zero"
    ID_MUST_NOT_BE_INT_MAX = "id_must_not_be_int_max"
    EXISTS_WITH_DIFFERENT_FLAGS = "exists_with_different_flags"
    EXISTS_WITH_DIFFERENT_OWNER_KIND = "exists_with_different_owner_kind"
    EXISTS_WITH_DIFFERENT_OWNER_ID = "exists_with_different_owner_id"
    EXISTS_WITH_DIFFERENT_LEDGER = "exists_with_different_ledger"
    EXISTS_WITH_DIFFERENT_KIND = "exists_with_different_kind"
    EXISTS = "exists"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    DEBITS_PENDING_MUST_BE_ZERO = "debits_pending_must_be_zero"
    DEBITS_POSTED_MUST_BE_ZERO = "debits_posted_must_be_zero"
    CREDITS_PENDING_MUST_BE_ZERO = "credits_pending_must_be_zero"
    CREDITS_POSTED_MUST_BE_ZERO = "credits_posted_must_be_zero"
    KIND_REQUIRES_FLOOR = "kind_requires_floor"


class CreateTransferResult(StrEnum):
    """Per-event result of ``create_transfers``, in the order the checks run within each path (ordinary and
    pending transfers; posts and voids branch off after ``flags_are_mutually_exclusive``). TigerBeetle's names,
    and its order where it has the check.

    Only ``ok`` changes anything. ``exists`` is a success that changes nothing (an idempotent retry).
    The failures in ``TRANSIENT_RESULTS`` depend on the ledger's state and are recorded against the id: the
    same id is then ``id_already_failed`` forever. The other failures are a function of the request and of
    immutable facts, so resubmitting the same request fails the same way without recording anything.
    """

    OK = "ok"
    LINKED_EVENT_FAILED = "linked_event_failed"
    LINKED_EVENT_CHAIN_OPEN = "linked_event_chain_open"
    ID_MUST_NOT_BE_ZERO = "id_must_not_be_zero"
    ID_MUST_NOT_BE_INT_MAX = "id_must_not_be_int_max"
    EXISTS_WITH_DIFFERENT_FLAGS = "exists_with_different_flags"
    EXISTS_WITH_DIFFERENT_PENDING_ID = "exists_with_different_pending_id"
    EXISTS_WITH_DIFFERENT_TIMEOUT = "exists_with_different_timeout"
    EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID = "exists_with_different_debit_account_id"
    EXISTS_WITH_DIFFERENT_CREDIT_ACCOUNT_ID = "exists_with_different_credit_account_id"
    EXISTS_WITH_DIFFERENT_AMOUNT = "exists_with_different_amount"
    EXISTS_WITH_DIFFERENT_USER_DATA_128 = "exists_with_different_user_data_128"
    EXISTS_WITH_DIFFERENT_USER_DATA_64 = "exists_with_different_user_data_64"
    EXISTS_WITH_DIFFERENT_USER_DATA_32 = "exists_with_different_user_data_32"
    EXISTS_WITH_DIFFERENT_LEDGER = "exists_with_different_ledger"
    EXISTS_WITH_DIFFERENT_CODE = "exists_with_different_code"
    EXISTS = "exists"
    ID_ALREADY_FAILED = "id_already_failed"
    FLAGS_ARE_MUTUALLY_EXCLUSIVE = "flags_are_mutually_exclusive"
    DEBIT_ACCOUNT_ID_MUST_NOT_BE_ZERO = "debit_account_id_must_not_be_zero"
    DEBIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX = "debit_account_id_must_not_be_int_max"
    CREDIT_ACCOUNT_ID_MUST_NOT_BE_ZERO = "credit_account_id_must_not_be_zero"
    CREDIT_ACCOUNT_ID_MUST_NOT_BE_INT_MAX = "credit_account_id_must_not_be_int_max"
    ACCOUNTS_MUST_BE_DIFFERENT = "accounts_must_be_different"
    PENDING_ID_MUST_BE_ZERO = "pending_id_must_be_zero"
    PENDING_ID_MUST_NOT_BE_ZERO = "pending_id_must_not_be_zero"
    PENDING_ID_MUST_NOT_BE_INT_MAX = "pending_id_must_not_be_int_max"
    PENDING_ID_MUST_BE_DIFFERENT = "pending_id_must_be_different"
    TIMEOUT_RESERVED_FOR_PENDING_TRANSFER = "timeout_reserved_for_pending_transfer"
    AMOUNT_MUST_NOT_BE_ZERO = "amount_must_not_be_zero"
    LEDGER_MUST_NOT_BE_ZERO = "ledger_must_not_be_zero"
    CODE_MUST_NOT_BE_ZERO = "code_must_not_be_zero"
    DEBIT_ACCOUNT_NOT_FOUND = "debit_account_not_found"
    CREDIT_ACCOUNT_NOT_FOUND = "credit_account_not_found"
    ACCOUNTS_MUST_HAVE_THE_SAME_LEDGER = "accounts_must_have_the_same_ledger"
    TRANSFER_MUST_HAVE_THE_SAME_LEDGER_AS_ACCOUNTS = "transfer_must_have_the_same_ledger_as_accounts"
    PENDING_TRANSFER_NOT_FOUND = "pending_transfer_not_found"
    PENDING_TRANSFER_NOT_PENDING = "pending_transfer_not_pending"
    PENDING_TRANSFER_HAS_DIFFERENT_DEBIT_ACCOUNT_ID = "pending_transfer_has_different_debit_account_id"
    PENDING_TRANSFER_HAS_DIFFERENT_CREDIT_ACCOUNT_ID = "pending_transfer_has_different_credit_account_id"
    PENDING_TRANSFER_HAS_DIFFERENT_LEDGER = "pending_transfer_has_different_ledger"
    PENDING_TRANSFER_HAS_DIFFERENT_CODE = "pending_transfer_has_different_code"
    EXCEEDS_PENDING_TRANSFER_AMOUNT = "exceeds_pending_transfer_amount"
    PENDING_TRANSFER_HAS_DIFFERENT_AMOUNT = "pending_transfer_has_different_amount"
    PENDING_TRANSFER_ALREADY_POSTED = "pending_transfer_already_posted"
    PENDING_TRANSFER_ALREADY_VOIDED = "pending_transfer_already_voided"
    PENDING_TRANSFER_EXPIRED = "pending_transfer_expired"
    OVERFLOWS_DEBITS_PENDING = "overflows_debits_pending"
    OVERFLOWS_CREDITS_PENDING = "overflows_credits_pending"
    OVERFLOWS_DEBITS_POSTED = "overflows_debits_posted"
    OVERFLOWS_CREDITS_POSTED = "overflows_credits_posted"
    OVERFLOWS_DEBITS = "overflows_debits"
    OVERFLOWS_CREDITS = "overflows_credits"
    EXCEEDS_CREDITS = "exceeds_credits"
    EXCEEDS_DEBITS = "exceeds_debits"


TRANSIENT_RESULTS: frozenset[CreateTransferResult] = frozenset(
    {
        CreateTransferResult.DEBIT_ACCOUNT_NOT_FOUND,
        CreateTransferResult.CREDIT_ACCOUNT_NOT_FOUND,
        CreateTransferResult.PENDING_TRANSFER_NOT_FOUND,
        CreateTransferResult.PENDING_TRANSFER_EXPIRED,
        CreateTransferResult.OVERFLOWS_DEBITS_PENDING,
        CreateTransferResult.OVERFLOWS_CREDITS_PENDING,
        CreateTransferResult.OVERFLOWS_DEBITS_POSTED,
        CreateTransferResult.OVERFLOWS_CREDITS_POSTED,
        CreateTransferResult.OVERFLOWS_DEBITS,
        CreateTransferResult.OVERFLOWS_CREDITS,
        CreateTransferResult.EXCEEDS_CREDITS,
        CreateTransferResult.EXCEEDS_DEBITS,
    }
)
"""Failures that depend on the ledger's state: the id is burnt (``id_already_failed`` from then on), so a
retry can never succeed later with another outcome than the one first reported. TigerBeetle's transient
errors, plus ``pending_transfer_expired``: our clock is an argument from many processes and need not be
monotonic, so an expiry once reported must stay the answer."""


# ---------------------------------------------------------------------------------------------------- checks


def _check_id(name: str, value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, UUID):
        raise TypeError(f"{name} must be a UUID{' or None' if optional else ''}, not {type(value).__name__}")


def _check_int(name: str, value: object, maximum: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    if not 0 <= value <= maximum:
        raise ValueError(f"{name} must be between 0 and {maximum}, not {value}")


def _check_currency(value: object, *, optional: bool) -> None:
    if value is None and optional:
        return
    if not isinstance(value, str) or value not in MINOR_UNITS:
        raise ValueError(f"unknown currency {value!r}")


def check_time(value: object, name: str = "now") -> dt.datetime:
    """Times are UTC-aware datetimes passed in by the caller; the core never reads a clock."""
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{name} must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (UTC)")
    return value.astimezone(dt.UTC)


# ---------------------------------------------------------------------------------------------------- accounts


@dataclass(frozen=True, slots=True)
class Balance:
    """An account's balance seen from its normal side (``NORMAL_SIDE``), in minor units.

    ``posted`` is what has settled; ``pending_in``/``pending_out`` are reserved by pending transfers towards and
    away from the normal side; ``available = posted - pending_out`` is what may still leave the account (for an
    account with a floor it is never negative).
    """

    currency: str
    posted: int
    pending_in: int
    pending_out: int
    available: int

    @property
    def pending(self) -> int:
        return self.pending_in - self.pending_out


@dataclass(frozen=True, slots=True)
class Account:
    """An account and its balances. As a request to ``create_accounts`` the balances and timestamp are zero/None.

    ``owner_kind``/``owner_id`` say whose money it is (``owner_id`` is None for the platform's own accounts);
    ``kind`` is TigerBeetle's account ``code``; ``currency`` is TigerBeetle's ``ledger``.
    """

    id: UUID
    currency: str
    kind: AccountKind
    owner_kind: OwnerKind
    owner_id: UUID | None = None
    flags: AccountFlags = AccountFlags.NONE
    debits_pending: int = 0
    debits_posted: int = 0
    credits_pending: int = 0
    credits_posted: int = 0
    timestamp: dt.datetime | None = None

    def __post_init__(self) -> None:
        _check_id("id", self.id, optional=False)
        _check_id("owner_id", self.owner_id, optional=True)
        if self.owner_id is not None and self.owner_id.int == 0:
            object.__setattr__(self, "owner_id", None)
        _check_currency(self.currency, optional=False)
        object.__setattr__(self, "kind", AccountKind(self.kind))
        object.__setattr__(self, "owner_kind", OwnerKind(self.owner_kind))
        _check_int("flags", self.flags, int(ACCOUNT_FLAGS_ALL))
        object.__setattr__(self, "flags", AccountFlags(self.flags))
        for name in ("debits_pending", "debits_posted", "credits_pending", "credits_posted"):
            _check_int(name, getattr(self, name), AMOUNT_MAX)
        if self.timestamp is not None:
            object.__setattr__(self, "timestamp", check_time(self.timestamp, "timestamp"))

    @property
    def has_floor(self) -> bool:
        floors = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS | AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS
        return bool(self.flags & floors)

    def balance(self) -> Balance:
        if NORMAL_SIDE[self.kind] is Side.CREDIT:
            posted = self.credits_posted - self.debits_posted
            pending_in, pending_out = self.credits_pending, self.debits_pending
        else:
            posted = self.debits_posted - self.credits_posted
            pending_in, pending_out = self.debits_pending, self.credits_pending
        return Balance(self.currency, posted, pending_in, pending_out, posted - pending_out)


def new_account(
    id: UUID,
    kind: AccountKind,
    owner_kind: OwnerKind,
    currency: str,
    owner_id: UUID | None = None,
    *,
    linked: bool = False,
) -> Account:
    """A request to create an account with the floor its kind requires (``FLOOR_REQUIRED``)."""
    flags = AccountFlags.LINKED if linked else AccountFlags.NONE
    if AccountKind(kind) in FLOOR_REQUIRED:
        flags |= AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    return Account(id=id, currency=currency, kind=kind, owner_kind=owner_kind, owner_id=owner_id, flags=flags)


# ---------------------------------------------------------------------------------------------------- transfers


@dataclass(frozen=True, slots=True)
class Transfer:
    """A request to create a transfer (TigerBeetle's ``Transfer`` without the server-assigned timestamp).

    Ordinary and ``PENDING`` transfers name both accounts, a positive ``amount``, the ``currency`` and a nonzero
    ``code``; ``timeout`` (seconds, 0 = never) only on ``PENDING``. ``POST_PENDING_TRANSFER`` and
    ``VOID_PENDING_TRANSFER`` name the pending transfer in ``pending_id`` and may leave every other field unset
    (None / 0; a nil UUID is normalised to None): unset fields are taken from the pending transfer, set ones must match it. A post's ``amount`` is
    at most the pending amount (None: all of it; less: the rest is released); a void's is None or the pending
    amount.
    """

    id: UUID
    debit_account_id: UUID | None = None
    credit_account_id: UUID | None = None
    amount: int | None = None
    currency: str | None = None
    code: int = 0
    flags: TransferFlags = TransferFlags.NONE
    pending_id: UUID | None = None
    timeout: int = 0
    user_data_128: UUID | None = None
    user_data_64: int = 0
    user_data_32: int = 0

    def __post_init__(self) -> None:
        _check_id("id", self.id, optional=False)
        for name in ("debit_account_id", "credit_account_id", "pending_id", "user_data_128"):
            value = getattr(self, name)
            _check_id(name, value, optional=True)
            if value is not None and value.int == 0:  # TigerBeetle's zero: unset
                object.__setattr__(self, name, None)
        if self.amount is not None:
            _check_int("amount", self.amount, AMOUNT_MAX)
        _check_currency(self.currency, optional=True)
        _check_int("code", self.code, CODE_MAX)
        _check_int("flags", self.flags, int(TRANSFER_FLAGS_ALL))
        object.__setattr__(self, "flags", TransferFlags(self.flags))
        _check_int("timeout", self.timeout, TIMEOUT_MAX)
        _check_int("user_data_64", self.user_data_64, USER_DATA_64_MAX)
        _check_int("user_data_32", self.user_data_32, USER_DATA_32_MAX)


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """A transfer as stored: immutable once created, every field resolved (a post or void carries the pending
    transfer's accounts, currency and code; its ``amount`` is what it posted, or for a void what it released).

    ``timestamp`` is the ``now`` of the batch that created it; ``expires_at`` is set on pending transfers with a
    timeout. Whether a pending transfer is still pending is not part of the record (records never change): it is
    the separate ``PendingStatus``.
    """

    id: UUID
    debit_account_id: UUID
    credit_account_id: UUID
    amount: int
    currency: str
    code: int
    flags: TransferFlags
    pending_id: UUID | None
    timeout: int
    user_data_128: UUID | None
    user_data_64: int
    user_data_32: int
    timestamp: dt.datetime
    expires_at: dt.datetime | None

    @property
    def is_pending(self) -> bool:
        return bool(self.flags & TransferFlags.PENDING)

    @property
    def is_post(self) -> bool:
        return bool(self.flags & TransferFlags.POST_PENDING_TRANSFER)

    @property
    def is_void(self) -> bool:
        return bool(self.flags & TransferFlags.VOID_PENDING_TRANSFER)
