"""wallet.ledger as a state machine, against a deliberately simple model (plain dicts, no shared code).

Hypothesis drives ``Ledger`` with random account creations, batches of single, linked, pending, post and void
transfers (including chains left open and ids reused with other fields), resubmissions of earlier batches and
of transfers with one field changed, clock advances and expiry. After every step: the ledger agrees with the
model (every result, balance, pending status, failed id), money is conserved per currency, no floor is crossed,
no component is negative, each pending transfer resolved at most once, stored transfers never change, failed
ids stay failed. The model evaluates chains block by block on a copy (the ledger streams with an undo log).
"""

from __future__ import annotations

import datetime as dt
import uuid

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from o2o.wallet.ledger import (
    Account,
    AccountFlags,
    AccountKind,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    OwnerKind,
    Transfer,
    TransferFlags,
    TransferRecord,
    new_account,
)

R = CreateTransferResult
A = CreateAccountResult
F = TransferFlags
START = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
MISSING = uuid.UUID(int=999_999)  # never created
FLOOR_KINDS = {"customer_wallet", "merchant_receivable", "courier_payable", "holds"}
TRANSIENT = {
    "debit_account_not_found",
    "credit_account_not_found",
    "pending_transfer_not_found",
    "pending_transfer_expired",
    "exceeds_credits",
    "exceeds_debits",
}


class Model:
    """The ledger's rules, restated as simply as possible for the transfers the test generates."""

    def __init__(self) -> None:
        self.accounts: dict[uuid.UUID, dict] = {}
        self.transfers: dict[uuid.UUID, dict] = {}  # resolved fields, as stored
        self.status: dict[uuid.UUID, str] = {}
        self.failed: dict[uuid.UUID, str] = {}

    # accounts
    def create_account(self, a: Account) -> str:
        e = self.accounts.get(a.id)
        if e is not None:
            for name in ("flags", "owner_kind", "owner_id", "currency", "kind"):
                if e[name] != getattr(a, name):
                    return "exists_with_different_" + ("ledger" if name == "currency" else name)
            return "exists"
        debit_floor = bool(a.flags & 2)
        credit_floor = bool(a.flags & 4)
        if debit_floor and credit_floor:
            return "flags_are_mutually_exclusive"
        if a.kind in FLOOR_KINDS and not debit_floor:
            return "kind_requires_floor"
        self.accounts[a.id] = {
            "flags": a.flags,
            "owner_kind": a.owner_kind,
            "owner_id": a.owner_id,
            "currency": a.currency,
            "kind": a.kind,
            "debit_floor": debit_floor,
            "credit_floor": credit_floor,
            "dp": 0,
            "dpo": 0,
            "cp": 0,
            "cpo": 0,
        }
        return "ok"

    # transfers
    def batch(self, batch: list[Transfer], now: dt.datetime) -> list[str]:
        results: list[str] = [""] * len(batch)
        i = 0
        while i < len(batch):
            end = i
            while end < len(batch) and batch[end].flags & F.LINKED:
                end += 1
            is_open = end == len(batch)
            end = min(end, len(batch) - 1)
            chain = end > i or is_open
            # Transfers are never changed once stored, so only the account balances need a deep copy.
            if chain:
                saved = ({k: dict(v) for k, v in self.accounts.items()}, dict(self.transfers), dict(self.status))
            failure = None
            for k in range(i, end + 1):
                code = "linked_event_chain_open" if is_open and k == end else self.one(batch[k], now)
                results[k] = code
                if code not in ("ok", "exists"):
                    failure = k
                    break
            if failure is not None:
                if chain:  # undo it all
                    self.accounts, self.transfers, self.status = saved
                    for k in range(i, end + 1):
                        if k != failure:
                            results[k] = "linked_event_failed"
                    if is_open:  # the open end is reported as such, whatever broke the chain first
                        results[end] = "linked_event_chain_open"
                if results[failure] in TRANSIENT:
                    self.failed[batch[failure].id] = results[failure]
            i = end + 1
        return results

    def one(self, t: Transfer, now: dt.datetime) -> str:
        if t.id in self.transfers:
            return self.compare(t, self.transfers[t.id])
        if t.id in self.failed:
            return "id_already_failed"
        if t.flags & (F.POST_PENDING_TRANSFER | F.VOID_PENDING_TRANSFER):
            return self.resolve(t, now)
        if t.debit_account_id == t.credit_account_id:
            return "accounts_must_be_different"
        dr, cr = self.accounts.get(t.debit_account_id), self.accounts.get(t.credit_account_id)  # type: ignore[arg-type]
        if dr is None:
            return "debit_account_not_found"
        if cr is None:
            return "credit_account_not_found"
        if dr["currency"] != cr["currency"]:
            return "accounts_must_have_the_same_ledger"
        if t.currency != dr["currency"]:
            return "transfer_must_have_the_same_ledger_as_accounts"
        amount = t.amount
        assert amount is not None
        if dr["debit_floor"] and dr["dp"] + dr["dpo"] + amount > dr["cpo"]:
            return "exceeds_credits"
        if cr["credit_floor"] and cr["cp"] + cr["cpo"] + amount > cr["dpo"]:
            return "exceeds_debits"
        is_pending = bool(t.flags & F.PENDING)
        if is_pending:
            dr["dp"] += amount
            cr["cp"] += amount
            self.status[t.id] = "pending"
        else:
            dr["dpo"] += amount
            cr["cpo"] += amount
        self.transfers[t.id] = {
            "flags": t.flags,
            "pending_id": None,
            "timeout": t.timeout,
            "dr": t.debit_account_id,
            "cr": t.credit_account_id,
            "amount": amount,
            "ud64": t.user_data_64,
            "currency": t.currency,
            "code": t.code,
            "expires_at": now + dt.timedelta(seconds=t.timeout) if is_pending and t.timeout else None,
        }
        return "ok"

    def resolve(self, t: Transfer, now: dt.datetime) -> str:
        is_post = bool(t.flags & F.POST_PENDING_TRANSFER)
        if t.pending_id == t.id:
            return "pending_id_must_be_different"
        p = self.transfers.get(t.pending_id)  # type: ignore[arg-type]
        if p is None:
            return "pending_transfer_not_found"
        if not p["flags"] & F.PENDING:
            return "pending_transfer_not_pending"
        if is_post:
            amount = p["amount"] if t.amount is None else t.amount
            if amount > p["amount"]:
                return "exceeds_pending_transfer_amount"
        else:
            if t.amount is not None and t.amount != p["amount"]:
                return "pending_transfer_has_different_amount"
            amount = p["amount"]
        status = self.status[t.pending_id]  # type: ignore[index]
        if status != "pending":
            return {"posted": "pending_transfer_already_posted", "voided": "pending_transfer_already_voided"}.get(
                status, "pending_transfer_expired"
            )
        if p["expires_at"] is not None and now >= p["expires_at"]:
            return "pending_transfer_expired"
        dr, cr = self.accounts[p["dr"]], self.accounts[p["cr"]]
        dr["dp"] -= p["amount"]
        cr["cp"] -= p["amount"]
        if is_post:
            dr["dpo"] += amount
            cr["cpo"] += amount
        self.status[t.pending_id] = "posted" if is_post else "voided"  # type: ignore[index]
        self.transfers[t.id] = {
            "flags": t.flags,
            "pending_id": t.pending_id,
            "timeout": 0,
            "dr": p["dr"],
            "cr": p["cr"],
            "amount": amount,
            "ud64": t.user_data_64 or p["ud64"],
            "currency": p["currency"],
            "code": p["code"],
            "expires_at": None,
        }
        return "ok"

    def compare(self, t: Transfer, e: dict) -> str:
        if t.flags != e["flags"]:
            return "exists_with_different_flags"
        if t.pending_id != e["pending_id"]:
            return "exists_with_different_pending_id"
        if t.timeout != e["timeout"]:
            return "exists_with_different_timeout"
        if e["flags"] & (F.POST_PENDING_TRANSFER | F.VOID_PENDING_TRANSFER):  # unset fields were inherited
            pending_amount = self.transfers[e["pending_id"]]["amount"]
            full = t.amount is None and (e["flags"] & F.VOID_PENDING_TRANSFER or e["amount"] == pending_amount)
            if not full and t.amount != e["amount"]:
                return "exists_with_different_amount"
            if t.user_data_64 and t.user_data_64 != e["ud64"]:
                return "exists_with_different_user_data_64"
            if t.code and t.code != e["code"]:
                return "exists_with_different_code"
            return "exists"
        for name, key in (
            ("debit_account_id", "dr"),
            ("credit_account_id", "cr"),
            ("amount", "amount"),
            ("user_data_64", "ud64"),
            ("currency", "currency"),
            ("code", "code"),
        ):
            if getattr(t, name) != e[key]:
                return "exists_with_different_" + ("ledger" if name == "currency" else name)
        return "exists"

    def expire(self, now: dt.datetime) -> set[uuid.UUID]:
        expired = set()
        for pid, p in self.transfers.items():
            if self.status.get(pid) == "pending" and p["expires_at"] is not None and p["expires_at"] <= now:
                self.accounts[p["dr"]]["dp"] -= p["amount"]
                self.accounts[p["cr"]]["cp"] -= p["amount"]
                self.status[pid] = "expired"
                expired.add(pid)
        return expired


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ledger = Ledger()
        self.model = Model()
        self.now = START
        self.next_id = 10_000
        self.history: list[tuple[list[Transfer], tuple[R, ...]]] = []  # every batch and its answer
        self.created_by: dict[uuid.UUID, Transfer] = {}  # the request that created each transfer
        self.seen: dict[uuid.UUID, TransferRecord] = {}

    @staticmethod
    def pick(data: st.DataObject, choices: list) -> object:
        """One of ``choices`` (drawn by index: cheaper than sampled_from over a long, changing list)."""
        return choices[data.draw(st.integers(0, len(choices) - 1))]

    def fresh(self) -> uuid.UUID:
        self.next_id += 1
        return uuid.UUID(int=self.next_id)

    # accounts --------------------------------------------------------------------------------------------------
    def _create_account(self, account: Account) -> None:
        assert self.ledger.create_accounts([account], self.now) == (A(self.model.create_account(account)),)

    @initialize()
    def a_small_city(self) -> None:
        """Clearing and revenue accounts (no floor), customer wallets (floor), one debit-floored account; the
        wallets topped up through their channel."""
        cny, usd = self.fresh(), self.fresh()
        platform = [
            Account(cny, "CNY", AccountKind.CHANNEL_CLEARING, OwnerKind.PLATFORM),
            Account(usd, "USD", AccountKind.CHANNEL_CLEARING, OwnerKind.PLATFORM),
            Account(self.fresh(), "CNY", AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM),
            Account(
                self.fresh(),
                "CNY",
                AccountKind.CHANNEL_CLEARING,
                OwnerKind.PLATFORM,
                flags=AccountFlags.CREDITS_MUST_NOT_EXCEED_DEBITS,
            ),
        ]
        wallets = [new_account(self.fresh(), AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, c) for c in ("CNY",) * 3]
        wallets.append(new_account(self.fresh(), AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "USD"))
        for account in platform + wallets:
            self._create_account(account)
        top_ups = [
            Transfer(self.fresh(), cny if w.currency == "CNY" else usd, w.id, 5_000, w.currency, 1) for w in wallets
        ]
        assert self._submit(top_ups) == (R.OK,) * len(top_ups)

    @rule(
        kind=st.sampled_from(list(AccountKind)),
        floor=st.sampled_from([0, 2, 2, 4, 6]),
        currency=st.sampled_from(["CNY", "CNY", "USD"]),
        reuse=st.booleans(),
        data=st.data(),
    )
    def create_account(self, kind: AccountKind, floor: int, currency: str, reuse: bool, data: st.DataObject) -> None:
        account_id = self.fresh()
        if reuse and self.model.accounts:
            account_id = self.pick(data, list(self.model.accounts))
        owner = OwnerKind.PLATFORM if floor == 0 else OwnerKind.PERSON
        self._create_account(Account(account_id, currency, kind, owner, flags=AccountFlags(floor)))

    # transfers -------------------------------------------------------------------------------------------------
    def _accounts(self, data: st.DataObject) -> tuple[uuid.UUID, uuid.UUID, str]:
        """Two different accounts of one currency, and that currency; now and then something odd instead."""
        currency = data.draw(st.sampled_from(["CNY", "CNY", "CNY", "USD"]))
        other = "USD" if currency == "CNY" else "CNY"
        ids = [i for i, m in self.model.accounts.items() if m["currency"] == currency]
        dr = self.pick(data, ids)
        cr = self.pick(data, [i for i in ids if i != dr])
        odd = data.draw(st.sampled_from(["no"] * 20 + ["dr_missing", "cr_missing", "same", "cross", "currency"]))
        if odd == "dr_missing":
            dr = MISSING
        elif odd == "cr_missing":
            cr = MISSING
        elif odd == "same":
            cr = dr
        elif odd == "cross":
            cr = self.pick(data, [i for i, m in self.model.accounts.items() if m["currency"] == other])
        elif odd == "currency":
            currency = other
        return dr, cr, currency

    def _event(self, data: st.DataObject, linked: bool) -> Transfer:
        known = [*self.model.transfers, *self.model.failed]
        if known and data.draw(st.sampled_from([False] * 9 + [True])):
            transfer_id = self.pick(data, known)  # an old id with new fields
        else:
            transfer_id = self.fresh()
        flags = F.LINKED if linked else F.NONE
        shape = data.draw(st.sampled_from(["plain", "pending", "post", "void", "plain", "pending", "post"]))
        ud64 = data.draw(st.sampled_from([0, 0, 7]))
        pendings = [i for i, p in self.model.transfers.items() if p["flags"] & F.PENDING]
        if shape in ("post", "void") and pendings:
            live = [i for i in pendings if self.model.status[i] == "pending"]
            others = [i for i in self.model.transfers if i not in self.model.status][:2]
            pending_id = self.pick(data, live * 4 + pendings + others + [MISSING])
            amount = data.draw(st.one_of(st.none(), st.integers(1, 2_500)))
            flags |= F.POST_PENDING_TRANSFER if shape == "post" else F.VOID_PENDING_TRANSFER
            return Transfer(transfer_id, amount=amount, flags=flags, pending_id=pending_id, user_data_64=ud64)
        dr, cr, currency = self._accounts(data)
        timeout = 0
        if shape != "plain":
            flags |= F.PENDING
            timeout = data.draw(st.sampled_from([0, 5, 60]))
        amount = data.draw(st.integers(1, 2_500))
        code = data.draw(st.sampled_from([1, 2]))
        return Transfer(transfer_id, dr, cr, amount, currency, code, flags, timeout=timeout, user_data_64=ud64)

    def _submit(self, batch: list[Transfer]) -> tuple[R, ...]:
        before = self.model.transfers.keys() | set()
        expected = self.model.batch(batch, self.now)
        results = self.ledger.create_transfers(batch, self.now)
        assert results == tuple(R(code) for code in expected), (batch, results, expected)
        for t in batch:
            if t.id in self.model.transfers and t.id not in before and t.id not in self.created_by:
                self.created_by[t.id] = t
        self.history.append((batch, results))
        return results

    @rule(data=st.data())
    def single(self, data: st.DataObject) -> None:
        self._submit([self._event(data, linked=False)])

    @rule(data=st.data(), links=st.lists(st.booleans(), min_size=2, max_size=6))
    def batch_with_chains(self, data: st.DataObject, links: list[bool]) -> None:
        """Random chain structure: every event draws its own LINKED flag, so chains may be left open."""
        self._submit([self._event(data, linked) for linked in links])

    @rule(data=st.data())
    def resubmit_a_batch(self, data: st.DataObject) -> None:
        """Idempotency: an earlier batch again changes nothing; what was ok exists, what failed stays failed."""
        if not self.history:
            return
        batch, first = self.pick(data, self.history)
        before = (dict(self.ledger.accounts), dict(self.ledger.transfers), dict(self.ledger.pending_status))
        results = self._submit(batch)
        assert (dict(self.ledger.accounts), dict(self.ledger.transfers), dict(self.ledger.pending_status)) == before
        for t, was, now in zip(batch, first, results, strict=True):
            if was in (R.OK, R.EXISTS):
                assert now is R.EXISTS
                continue
            assert now is not R.OK  # nothing that failed succeeds on a retry
            if was in (R.ID_ALREADY_FAILED, *map(R, TRANSIENT)):
                assert t.id in self.ledger.failed and t.id not in self.ledger.transfers
                # Inside a chain, an earlier event (ok the first time, then rolled back) may now break it first.
                assert now in (R.ID_ALREADY_FAILED, R.LINKED_EVENT_FAILED, R.LINKED_EVENT_CHAIN_OPEN)
                if len(batch) == 1:
                    assert now is R.ID_ALREADY_FAILED

    @rule(data=st.data(), field=st.sampled_from(["amount", "code", "user_data_64", "flags"]))
    def resubmit_with_a_different_field(self, data: st.DataObject, field: str) -> None:
        if not self.created_by:
            return
        original = self.pick(data, list(self.created_by.values()))
        stored = self.ledger.transfers[original.id]
        swap = F.POST_PENDING_TRANSFER | F.VOID_PENDING_TRANSFER if stored.is_post or stored.is_void else F.PENDING
        change = {
            "amount": {"amount": stored.amount + 1},
            "code": {"code": stored.code + 1},
            "user_data_64": {"user_data_64": stored.user_data_64 + 1},
            "flags": {"flags": original.flags ^ swap},
        }[field]
        changed = Transfer(**{**{f: getattr(original, f) for f in original.__dataclass_fields__}, **change})
        batch = [changed]
        if changed.flags & F.LINKED:  # close the chain with a harmless new event
            batch.append(Transfer(self.fresh(), MISSING, MISSING, 1, "CNY", 1))
        before = dict(self.ledger.accounts)
        results = self._submit(batch)
        assert results[0].startswith("exists_with_different_")
        assert dict(self.ledger.accounts) == before

    # time ------------------------------------------------------------------------------------------------------
    @rule(seconds=st.sampled_from([1, 4, 5, 30, 61, 600]))
    def advance_clock(self, seconds: int) -> None:
        self.now += dt.timedelta(seconds=seconds)

    @rule(data=st.data())
    def advance_clock_to_a_deadline(self, data: st.DataObject) -> None:
        """Exactly onto a pending transfer's deadline, where it has just expired."""
        deadlines = sorted(
            {p["expires_at"] for i, p in self.model.transfers.items() if self.model.status.get(i) == "pending"} - {None}
        )
        if deadlines:
            self.now = max(self.now, self.pick(data, deadlines))  # type: ignore[call-overload]

    @rule()
    def expire(self) -> None:
        expected = self.model.expire(self.now)
        expired = self.ledger.expire_pending(self.now)
        assert set(expired) == expected and len(expired) == len(expected)
        assert self.ledger.expire_pending(self.now) == ()  # at most once

    # invariants ------------------------------------------------------------------------------------------------
    @invariant()
    def invariants_hold(self) -> None:
        # Conservation per currency, floors, non-negative components, at-most-once resolution, journal.
        assert self.ledger.check_invariants() == []

    @invariant()
    def ledger_agrees_with_the_model(self) -> None:
        for account_id, m in self.model.accounts.items():
            a = self.ledger.accounts[account_id]
            assert (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted) == (
                m["dp"],
                m["dpo"],
                m["cp"],
                m["cpo"],
            )
        assert self.ledger.accounts.keys() == self.model.accounts.keys()
        assert self.ledger.transfers.keys() == self.model.transfers.keys()
        assert {k: str(v) for k, v in self.ledger.pending_status.items()} == self.model.status
        assert {k: str(v) for k, v in self.ledger.failed.items()} == self.model.failed
        # Conservation restated on the model's own numbers.
        for currency in ("CNY", "USD"):
            accounts = [m for m in self.model.accounts.values() if m["currency"] == currency]
            assert sum(m["dpo"] for m in accounts) == sum(m["cpo"] for m in accounts)
            assert sum(m["dp"] for m in accounts) == sum(m["cp"] for m in accounts)

    @invariant()
    def transfers_never_change_and_failed_ids_stay_failed(self) -> None:
        for transfer_id, record in self.seen.items():
            assert self.ledger.transfers[transfer_id] is record
        self.seen = dict(self.ledger.transfers)
        assert not self.ledger.failed.keys() & self.ledger.transfers.keys()
        resolutions = [r.pending_id for r in self.ledger.transfers.values() if r.is_post or r.is_void]
        assert len(resolutions) == len(set(resolutions))


LedgerMachine.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLedgerStateMachine = LedgerMachine.TestCase
