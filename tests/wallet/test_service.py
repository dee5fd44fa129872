"""wallet.service: the ledger's rules through the database (SQLite and PostgreSQL), and a differential test
against the in-memory ``Ledger``.

Every negative test also checks that nothing changed: no balance, no transfer row, and only the failures in
``TRANSIENT_RESULTS`` recorded as failed.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid

import pytest
from sqlalchemy import func, select

from o2o import worker
from o2o.kit.ids import uuid7
from o2o.kit.time import frozen_clock
from o2o.wallet import jobs as wallet_jobs  # noqa: F401  (registers wallet.expire_pending)
from o2o.wallet import repository as repo
from o2o.wallet import service
from o2o.wallet.ledger import (
    Account,
    AccountFlags,
    AccountKind,
    Balance,
    CreateAccountResult,
    CreateTransferResult,
    Ledger,
    OwnerKind,
    PendingStatus,
    Transfer,
    TransferFlags,
    check_invariants,
    new_account,
)
from o2o.wallet.models import WalletAccount, WalletFailedTransfer, WalletTransfer
from tests.factories import new_city

R = CreateTransferResult
A = CreateAccountResult
F = TransferFlags
NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
CODE = 1


def _accounts(session) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    """A channel clearing account (no floor) and two customer wallets (floor at zero)."""
    bank, alice, bob = uuid7(), uuid7(), uuid7()
    results = service.create_accounts(
        session,
        [
            new_account(bank, AccountKind.CHANNEL_CLEARING, OwnerKind.PLATFORM, "CNY"),
            new_account(alice, AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "CNY", uuid7()),
            new_account(bob, AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "CNY", uuid7()),
        ],
        NOW,
    )
    assert results == [A.OK, A.OK, A.OK]
    return bank, alice, bob


def _t(id_, dr, cr, amount, **kw) -> Transfer:
    return Transfer(id=id_, debit_account_id=dr, credit_account_id=cr, amount=amount, currency="CNY", code=CODE, **kw)


def _fund(session, bank, account, amount) -> None:
    assert service.create_transfers(session, [_t(uuid7(), bank, account, amount)], NOW) == [R.OK]


def _state(session) -> tuple:
    """Everything the ledger holds, to check that a failure changed nothing."""
    accounts = service.all_accounts(session)
    transfers, status = service.journal(session)
    failed = session.execute(select(WalletFailedTransfer.id, WalletFailedTransfer.result)).all()
    return accounts, dict(transfers), dict(status), sorted(failed)


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


# ---------------------------------------------------------------------------------------------------- accounts


def test_create_accounts_exists_and_city(session) -> None:
    city = new_city("sh", name="Shanghai", center=(31.23, 121.47))
    session.add(city)
    session.flush()
    city_id = city.id
    a = new_account(uuid7(), AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM, "CNY")
    assert service.create_accounts(session, [a], NOW, city_id=city_id) == [A.OK]
    assert service.create_accounts(session, [a], NOW) == [A.EXISTS]
    other = new_account(a.id, AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM, "USD")
    assert service.create_accounts(session, [other], NOW) == [A.EXISTS_WITH_DIFFERENT_LEDGER]
    floor = Account(a.id, "CNY", AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM, flags=AccountFlags(2))
    assert service.create_accounts(session, [floor], NOW) == [A.EXISTS_WITH_DIFFERENT_FLAGS]
    person = new_account(a.id, AccountKind.PLATFORM_REVENUE, OwnerKind.PERSON, "CNY")
    assert service.create_accounts(session, [person], NOW) == [A.EXISTS_WITH_DIFFERENT_OWNER_KIND]
    fresh = Account(uuid7(), "CNY", AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON)
    assert service.create_accounts(session, [fresh], NOW) == [A.KIND_REQUIRES_FLOOR]
    [stored] = service.lookup_accounts(session, [a.id, fresh.id])
    assert stored == Account(a.id, "CNY", AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM, timestamp=NOW)
    assert _count(session, WalletAccount) == 1
    assert session.scalar(select(WalletAccount.city_id)) == city_id
    wallet = new_account(uuid7(), AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "CNY", uuid7())
    assert service.create_accounts(session, [wallet], NOW) == [A.OK]
    assert session.scalar(select(WalletAccount.city_id).where(WalletAccount.id == wallet.id)) is None


# ---------------------------------------------------------------------------------------------------- transfers


def test_single_transfer_and_balances(session) -> None:
    bank, alice, bob = _accounts(session)
    _fund(session, bank, alice, 1000)
    tid = uuid7()
    assert service.create_transfers(session, [_t(tid, alice, bob, 300, user_data_64=7)], NOW) == [R.OK]
    session.commit()
    b = service.balances(session, [bank, alice, bob])
    assert b[alice] == Balance("CNY", 700, 0, 0, 700)
    assert b[bob] == Balance("CNY", 300, 0, 0, 300)
    assert b[bank] == Balance("CNY", 1000, 0, 0, 1000)  # debit-normal: what the channel holds for us
    [record] = service.lookup_transfers(session, [tid, uuid7()])
    assert (record.id, record.debit_account_id, record.credit_account_id, record.amount) == (tid, alice, bob, 300)
    assert (record.user_data_64, record.timestamp, record.expires_at) == (7, NOW, None)
    assert service.account_transfers(session, bob) == [record]
    assert check_invariants(service.all_accounts(session), *service.journal(session)) == []


def test_exists_and_exists_with_different(session) -> None:
    bank, alice, bob = _accounts(session)
    _fund(session, bank, alice, 1000)
    tid = uuid7()
    assert service.create_transfers(session, [_t(tid, alice, bob, 300)], NOW) == [R.OK]
    before = _state(session)
    later = NOW + dt.timedelta(minutes=5)
    assert service.create_transfers(session, [_t(tid, alice, bob, 300)], later) == [R.EXISTS]
    assert service.create_transfers(session, [_t(tid, alice, bob, 301)], later) == [R.EXISTS_WITH_DIFFERENT_AMOUNT]
    assert service.create_transfers(session, [_t(tid, bob, alice, 300)], later) == [
        R.EXISTS_WITH_DIFFERENT_DEBIT_ACCOUNT_ID
    ]
    assert service.create_transfers(session, [_t(tid, alice, bob, 300, user_data_32=1)], later) == [
        R.EXISTS_WITH_DIFFERENT_USER_DATA_32
    ]
    assert _state(session) == before


def test_id_already_failed(session) -> None:
    bank, alice, bob = _accounts(session)
    _fund(session, bank, alice, 100)
    tid = uuid7()
    before = _state(session)
    assert service.create_transfers(session, [_t(tid, alice, bob, 101)], NOW) == [R.EXCEEDS_CREDITS]
    assert _state(session)[:3] == before[:3]  # no money moved, no transfer
    assert service.failed_transfers(session, [tid]) == {tid: R.EXCEEDS_CREDITS}
    _fund(session, bank, alice, 1000)
    assert service.create_transfers(session, [_t(tid, alice, bob, 101)], NOW) == [R.ID_ALREADY_FAILED]
    assert service.lookup_transfers(session, [tid]) == []
    # A request-only failure is not recorded: the same id may be used once the request is right.
    other = uuid7()
    assert service.create_transfers(session, [_t(other, alice, alice, 5)], NOW) == [R.ACCOUNTS_MUST_BE_DIFFERENT]
    assert service.failed_transfers(session, [other]) == {}
    assert service.create_transfers(session, [_t(other, alice, bob, 5)], NOW) == [R.OK]


def test_floor_counts_pending_debits(session) -> None:
    bank, alice, bob = _accounts(session)
    _fund(session, bank, alice, 100)
    assert service.create_transfers(session, [_t(uuid7(), alice, bob, 70, flags=F.PENDING)], NOW) == [R.OK]
    assert service.balances(session, [alice])[alice] == Balance("CNY", 100, 0, 70, 30)
    before = _state(session)
    assert service.create_transfers(session, [_t(uuid7(), alice, bob, 31)], NOW) == [R.EXCEEDS_CREDITS]
    assert _state(session)[:3] == before[:3]
    assert service.create_transfers(session, [_t(uuid7(), alice, bob, 30)], NOW) == [R.OK]
    assert service.balances(session, [alice, bob]) == {
        alice: Balance("CNY", 70, 0, 70, 0),
        bob: Balance("CNY", 30, 70, 0, 30),
    }


def test_linked_chain_all_or_nothing(session) -> None:
    bank, alice, bob = _accounts(session)
    _fund(session, bank, alice, 100)
    session.commit()
    before = _state(session)
    ids = [uuid7(), uuid7(), uuid7()]
    batch = [
        _t(ids[0], alice, bob, 60, flags=F.LINKED),
        _t(ids[1], bob, bank, 10, flags=F.LINKED),
        _t(ids[2], alice, bank, 41),  # 60 + 41 > 100: breaks the chain
    ]
    assert service.create_transfers(session, batch, NOW) == [
        R.LINKED_EVENT_FAILED,
        R.LINKED_EVENT_FAILED,
        R.EXCEEDS_CREDITS,
    ]
    session.commit()
    after = _state(session)
    assert after[:3] == before[:3]  # nothing written: no balance, no transfer, no status
    assert service.failed_transfers(session, ids) == {ids[2]: R.EXCEEDS_CREDITS}
    # The chain's other ids are not burnt, and a chain that fits applies entirely.
    assert service.create_transfers(session, [*batch[:2], _t(uuid7(), alice, bank, 40)], NOW) == [R.OK, R.OK, R.OK]
    assert service.balances(session, [alice, bob]) == {
        alice: Balance("CNY", 0, 0, 0, 0),
        bob: Balance("CNY", 50, 0, 0, 50),
    }
    # An open chain fails and writes nothing.
    before = _state(session)
    assert service.create_transfers(session, [_t(uuid7(), bob, alice, 1, flags=F.LINKED)], NOW) == [
        R.LINKED_EVENT_CHAIN_OPEN
    ]
    assert _state(session) == before


def test_pending_post_partial(session) -> None:
    bank, alice, bob = _accounts(session)
    _fund(session, bank, alice, 100)
    pid, post = uuid7(), uuid7()
    assert service.create_transfers(session, [_t(pid, alice, bob, 80, flags=F.PENDING, timeout=3600)], NOW) == [R.OK]
    assert service.pending_statuses(session, [pid]) == {pid: PendingStatus.PENDING}
    later = NOW + dt.timedelta(minutes=10)
    assert service.create_transfers(
        session, [Transfer(post, pending_id=pid, amount=50, flags=F.POST_PENDING_TRANSFER)], later
    ) == [R.OK]
    assert service.pending_statuses(session, [pid]) == {pid: PendingStatus.POSTED}
    assert service.balances(session, [alice, bob]) == {
        alice: Balance("CNY", 50, 0, 0, 50),  # 30 released
        bob: Balance("CNY", 50, 0, 0, 50),
    }
    [record] = service.lookup_transfers(session, [post])
    assert (record.debit_account_id, record.credit_account_id, record.amount, record.pending_id) == (
        alice,
        bob,
        50,
        pid,
    )
    before = _state(session)
    assert service.create_transfers(
        session, [Transfer(uuid7(), pending_id=pid, flags=F.VOID_PENDING_TRANSFER)], later
    ) == [R.PENDING_TRANSFER_ALREADY_POSTED]
    assert service.create_transfers(
        session, [Transfer(post, pending_id=pid, amount=50, flags=F.POST_PENDING_TRANSFER)], later
    ) == [R.EXISTS]
    assert service.create_transfers(
        session, [Transfer(post, pending_id=pid, flags=F.POST_PENDING_TRANSFER)], later
    ) == [R.EXISTS_WITH_DIFFERENT_AMOUNT]
    assert _state(session) == before


def test_pending_void(session) -> None:
    bank, alice, bob = _accounts(session)
    _fund(session, bank, alice, 100)
    pid = uuid7()
    assert service.create_transfers(session, [_t(pid, alice, bob, 80, flags=F.PENDING)], NOW) == [R.OK]
    assert service.create_transfers(
        session, [Transfer(uuid7(), pending_id=pid, flags=F.VOID_PENDING_TRANSFER)], NOW
    ) == [R.OK]
    assert service.pending_statuses(session, [pid]) == {pid: PendingStatus.VOIDED}
    assert service.balances(session, [alice, bob]) == {
        alice: Balance("CNY", 100, 0, 0, 100),
        bob: Balance("CNY", 0, 0, 0, 0),
    }
    assert check_invariants(service.all_accounts(session), *service.journal(session)) == []


def test_pending_expires_via_the_job(db) -> None:
    with db.session() as session:
        bank, alice, bob = _accounts(session)
        _fund(session, bank, alice, 100)
        pid, keep = uuid7(), uuid7()
        batch = [
            _t(pid, alice, bob, 60, flags=F.PENDING, timeout=60),
            _t(keep, alice, bob, 10, flags=F.PENDING, timeout=3600),
        ]
        assert service.create_transfers(session, batch, NOW) == [R.OK, R.OK]
    with frozen_clock(NOW + dt.timedelta(seconds=60)):
        assert worker.run_once(db, ["wallet.expire_pending"]) == {"wallet.expire_pending": 1}
        assert worker.run_once(db, ["wallet.expire_pending"]) == {"wallet.expire_pending": 0}
    with db.session() as session:
        assert service.pending_statuses(session, [pid, keep]) == {
            pid: PendingStatus.EXPIRED,
            keep: PendingStatus.PENDING,
        }
        assert service.balances(session, [alice])[alice] == Balance("CNY", 100, 0, 10, 90)
        post = uuid7()
        late = NOW + dt.timedelta(seconds=61)
        assert service.create_transfers(
            session, [Transfer(post, pending_id=pid, flags=F.POST_PENDING_TRANSFER)], late
        ) == [R.PENDING_TRANSFER_EXPIRED]
        assert service.failed_transfers(session, [post]) == {post: R.PENDING_TRANSFER_EXPIRED}
        assert service.balances(session, [alice])[alice] == Balance("CNY", 100, 0, 10, 90)
        assert check_invariants(service.all_accounts(session), *service.journal(session)) == []


# ---------------------------------------------------------------------------------------------------- lost races


def test_concurrent_twin_reruns_the_batch_and_answers_exists(db, monkeypatch) -> None:
    """The batch read before its twin committed: the INSERT breaks the primary key, the batch runs again."""
    with db.session() as session:
        bank, alice, bob = _accounts(session)
        _fund(session, bank, alice, 100)
        tid = uuid7()
        assert service.create_transfers(session, [_t(tid, alice, bob, 40)], NOW) == [R.OK]
    real = repo.load_batch
    calls = []

    def stale_once(session, *args):
        calls.append(args)
        loaded = real(session, *args)
        if len(calls) == 1:  # as if read before the twin committed
            loaded.transfers, loaded.pending_status, loaded.failed = {}, {}, {}
        return loaded

    monkeypatch.setattr(repo, "load_batch", stale_once)
    with db.session() as session:
        assert service.create_transfers(session, [_t(tid, alice, bob, 40)], NOW) == [R.EXISTS]
    assert len(calls) == 2
    with db.session() as session:
        assert service.balances(session, [alice])[alice] == Balance("CNY", 60, 0, 0, 60)  # moved once
        assert _count(session, WalletTransfer) == 2


def test_lost_balance_update_reruns_the_batch(session, monkeypatch) -> None:
    """A version read that is no longer current makes the conditional UPDATE miss: the batch runs again."""
    bank, alice, bob = _accounts(session)
    _fund(session, bank, alice, 100)
    real = repo.load_batch
    calls = []

    def stale_once(session, *args):
        calls.append(args)
        loaded = real(session, *args)
        if len(calls) == 1:
            loaded.versions = {i: v - 1 for i, v in loaded.versions.items()}
        return loaded

    monkeypatch.setattr(repo, "load_batch", stale_once)
    tid = uuid7()
    assert service.create_transfers(session, [_t(tid, alice, bob, 40)], NOW) == [R.OK]
    assert len(calls) == 2
    assert service.balances(session, [alice, bob]) == {
        alice: Balance("CNY", 60, 0, 0, 60),
        bob: Balance("CNY", 40, 0, 0, 40),
    }
    assert _count(session, WalletTransfer) == 2


def test_always_losing_gives_up_and_writes_nothing(session, monkeypatch) -> None:
    bank, alice, bob = _accounts(session)
    _fund(session, bank, alice, 100)
    before = _state(session)
    real = repo.load_batch

    def always_stale(session, *args):
        loaded = real(session, *args)
        loaded.versions = {i: v + 1 for i, v in loaded.versions.items()}
        return loaded

    monkeypatch.setattr(repo, "load_batch", always_stale)
    with pytest.raises(service.LedgerBusy):
        service.create_transfers(session, [_t(uuid7(), alice, bob, 40), _t(uuid7(), alice, bob, 400)], NOW)
    monkeypatch.undo()
    assert _state(session) == before


# ---------------------------------------------------------------------------------------------------- differential


class _Generator:
    """Random batches over a few accounts: ordinary, pending, post, void, resubmissions, linked chains.

    ``accounts[0]`` is a channel clearing account (no floor) and ``accounts[-1]`` is in another currency."""

    def __init__(self, rng: random.Random, accounts: list[uuid.UUID]) -> None:
        self.rng = rng
        self.accounts = accounts
        self.ids: list[Transfer] = []
        self.pending: list[uuid.UUID] = []

    def event(self) -> Transfer:
        rng = self.rng
        roll = rng.random()
        if roll < 0.1 and self.ids:  # resubmit, as is or changed
            t = rng.choice(self.ids)
            if rng.random() < 0.5:
                return t
            return Transfer(
                t.id,
                t.debit_account_id,
                t.credit_account_id,
                (t.amount or 0) + 1,
                t.currency,
                t.code,
                t.flags,
                t.pending_id,
                t.timeout,
            )
        if roll < 0.3 and self.pending:  # post or void
            pid = rng.choice(self.pending)
            if rng.random() < 0.6:
                amount = rng.choice([None, rng.randint(1, 120)])
                t = Transfer(uuid7(), pending_id=pid, amount=amount, flags=F.POST_PENDING_TRANSFER)
            else:
                t = Transfer(uuid7(), pending_id=pid, flags=F.VOID_PENDING_TRANSFER)
        else:
            pick = rng.random()
            if pick < 0.03:  # an unknown account
                dr, cr = uuid7(), rng.choice(self.accounts)
            elif pick < 0.08:  # the other currency
                dr, cr = rng.sample([self.accounts[-1], *self.accounts[:-1]][:3], 2)
            elif pick < 0.4:  # money in from the channel
                dr, cr = self.accounts[0], rng.choice(self.accounts[1:-1])
            else:
                dr, cr = rng.sample(self.accounts[:-1], 2)
            amount = rng.randint(1, 150)
            if rng.random() < 0.35:
                t = _t(uuid7(), dr, cr, amount, flags=F.PENDING, timeout=rng.choice([0, 30, 300]))
                self.pending.append(t.id)
            else:
                t = _t(uuid7(), dr, cr, amount)
        self.ids.append(t)
        return t

    def batch(self) -> list[Transfer]:
        events = [self.event() for _ in range(self.rng.randint(1, 6))]
        out = []
        for i, t in enumerate(events):
            linked = self.rng.random() < 0.3 and (i < len(events) - 1 or self.rng.random() < 0.2)
            flags = t.flags | F.LINKED if linked else t.flags & ~F.LINKED
            out.append(
                Transfer(
                    t.id,
                    t.debit_account_id,
                    t.credit_account_id,
                    t.amount,
                    t.currency,
                    t.code,
                    F(flags),
                    t.pending_id,
                    t.timeout,
                    t.user_data_128,
                    t.user_data_64,
                    t.user_data_32,
                )
            )
        return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_differential_against_the_in_memory_ledger(session, seed: int) -> None:
    rng = random.Random(seed)
    ledger = Ledger()
    accounts = [
        new_account(uuid7(), AccountKind.CHANNEL_CLEARING, OwnerKind.PLATFORM, "CNY"),
        new_account(uuid7(), AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM, "CNY"),
        *(new_account(uuid7(), AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "CNY", uuid7()) for _ in range(4)),
        new_account(uuid7(), AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "USD", uuid7()),
    ]
    assert ledger.create_accounts(accounts, NOW) == tuple(service.create_accounts(session, accounts, NOW))
    gen = _Generator(rng, [a.id for a in accounts])
    now = NOW
    oks = 0
    for step in range(80):
        now += dt.timedelta(seconds=rng.randint(0, 40))
        if step % 7 == 6:
            assert ledger.expire_pending(now) == service.expire_pending(session, now)
        batch = gen.batch()
        expected = ledger.create_transfers(batch, now)
        assert tuple(service.create_transfers(session, batch, now)) == expected, (step, batch)
        oks += expected.count(R.OK)
        if step % 3 == 0:
            session.commit()
        db_accounts = service.all_accounts(session)
        assert check_invariants(db_accounts) == []
        assert {a.id: a for a in db_accounts} == dict(ledger.accounts)
    transfers, status = service.journal(session)
    assert dict(transfers) == dict(ledger.transfers)
    assert dict(status) == dict(ledger.pending_status)
    assert {i: r for i, r in session.execute(select(WalletFailedTransfer.id, WalletFailedTransfer.result))} == {
        i: r.value for i, r in ledger.failed.items()
    }
    assert check_invariants(service.all_accounts(session), transfers, status) == []
    assert oks > 20 and _count(session, WalletTransfer) == len(ledger.transfers)


@pytest.mark.parametrize("seed", [4, 5])
def test_big_batches_match_the_in_memory_ledger(session, seed: int) -> None:
    """Batches of a few hundred events, past the point where PostgreSQL locks the whole ledger for a batch
    instead of each id and account (``repository.BIG_BATCH_LOCKS``), interleaved with small ones."""
    rng = random.Random(seed)
    ledger = Ledger()
    accounts = [
        new_account(uuid7(), AccountKind.CHANNEL_CLEARING, OwnerKind.PLATFORM, "CNY"),
        *(new_account(uuid7(), AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "CNY", uuid7()) for _ in range(150)),
        new_account(uuid7(), AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "USD", uuid7()),
    ]
    assert ledger.create_accounts(accounts, NOW) == tuple(service.create_accounts(session, accounts, NOW))
    gen = _Generator(rng, [a.id for a in accounts])
    now = NOW
    for step in range(6):
        now += dt.timedelta(seconds=rng.randint(0, 200))
        big = [e for _ in range(60) for e in gen.batch()][: repo.BIG_BATCH_LOCKS]
        for batch in (big, gen.batch()):
            assert tuple(service.create_transfers(session, batch, now)) == ledger.create_transfers(batch, now), step
        assert ledger.expire_pending(now) == service.expire_pending(session, now)
        session.commit()
    transfers, status = service.journal(session)
    assert {a.id: a for a in service.all_accounts(session)} == dict(ledger.accounts)
    assert dict(transfers) == dict(ledger.transfers) and dict(status) == dict(ledger.pending_status)
    assert check_invariants(service.all_accounts(session), transfers, status) == []


def test_prepared_statements_gone_behind_the_ledgers_back(session) -> None:
    """On PostgreSQL the ledger's statements are prepared once per connection; if they are deallocated behind its
    back (psycopg does so on some rollbacks), the attempt is rolled back to its savepoint and made again."""
    bank, alice, bob = _accounts(session)
    _fund(session, bank, alice, 100)
    if session.get_bind().dialect.name == "postgresql":
        session.connection().connection.driver_connection.execute("DEALLOCATE ALL")
    tid = uuid7()
    assert service.create_transfers(session, [_t(tid, alice, bob, 40)], NOW) == [R.OK]
    assert service.create_transfers(session, [_t(tid, alice, bob, 40)], NOW) == [R.EXISTS]
    session.commit()
    assert service.balances(session, [alice, bob]) == {
        alice: Balance("CNY", 60, 0, 0, 60),
        bob: Balance("CNY", 40, 0, 0, 40),
    }
