"""``o2o bench ledger``: transfers per second of the persisted ledger, next to the database's raw INSERT rate.

Three phases on the configured database, each ``seconds`` long, with ``clients`` threads that each have their
own session (and so their own connection):

* **raw**: the baseline. One plain ``INSERT`` of one row into a scratch table and a ``COMMIT`` per
  transaction (SQLAlchemy Core, no ORM): what this database, driver and machine do per transaction.
* **single**: one transfer per transaction: ``wallet.service.create_transfers(session, [transfer])`` inside
  ``Database.session()`` (a unit of work, as a request makes it), then the commit.
* **batched**: ``batch_clients`` threads, each committing batches of ``batch_size`` transfers, one
  ``create_transfers`` call and one commit per batch.

The accounts are the bench's own: a channel clearing account that funds ``wallets`` customer wallets (each
far beyond what the bench spends, so every transfer succeeds) and ``merchants`` merchant receivables, all
owned by ``BENCH_OWNER`` and no city, so nothing else (the demo city, real wallets) is read or changed.
Transfers: half from a random wallet to a random other wallet, half from a random wallet to one of the few
(hot) merchants. At the end the bench checks the ledger's invariants over its accounts and journal, then
deletes its accounts, transfers and scratch table (leftovers of an interrupted run are deleted at the start).
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy import BigInteger, Column, MetaData, Table, Uuid, delete, insert, select

from o2o.db import Database, UTCDateTime
from o2o.kit.ids import uuid7
from o2o.wallet import service
from o2o.wallet.ledger import (
    BATCH_MAX,
    AccountKind,
    CreateTransferResult,
    OwnerKind,
    Transfer,
    check_invariants,
    new_account,
)
from o2o.wallet.models import WalletAccount, WalletFailedTransfer, WalletTransfer

BENCH_OWNER = uuid.uuid5(uuid.NAMESPACE_URL, "https://o2o.invalid/bench/ledger")
"""The owner of every account the bench creates (and deletes): nothing else is ever touched."""

CURRENCY = "CNY"
TOP_UP, P2P, PAYMENT = 5, 6, 1
FUNDING = 10**12  # fen per wallet: far beyond what any run spends, so no transfer fails for want of funds


@dataclass
class PhaseResult:
    transfers: int = 0  # rows, in the raw phase
    transactions: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds per transaction

    @property
    def per_second(self) -> float:
        return self.transfers / self.seconds if self.seconds else 0.0

    def summary(self, unit: str = "transfers") -> dict[str, Any]:
        lat = sorted(self.latencies)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))] * 1000, 2) if lat else 0.0

        return {
            unit: self.transfers,
            "transactions": self.transactions,
            "seconds": round(self.seconds, 3),
            "per_s": round(self.per_second, 1),
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "mean_ms": round(statistics.fmean(lat) * 1000, 2) if lat else 0.0,
        }


@dataclass
class _Accounts:
    channel: uuid.UUID
    wallets: list[uuid.UUID]
    merchants: list[uuid.UUID]

    @property
    def all(self) -> list[uuid.UUID]:
        return [self.channel, *self.wallets, *self.merchants]


def _random_transfer(rng: random.Random, accounts: _Accounts) -> Transfer:
    wallets = accounts.wallets
    debit = wallets[rng.randrange(len(wallets))]
    if rng.random() < 0.5:
        credit, code = accounts.merchants[rng.randrange(len(accounts.merchants))], PAYMENT
    else:
        credit, code = debit, P2P
        while credit == debit:
            credit = wallets[rng.randrange(len(wallets))]
    return Transfer(uuid7(), debit, credit, rng.randint(1, 5_000), CURRENCY, code)


def _run_clients(clients: int, seconds: float, step: Callable[[int, random.Random], int]) -> PhaseResult:
    """Run ``step(client, rng)`` (one transaction; returns the transfers it made) in ``clients`` threads for
    ``seconds``; every transaction started before the deadline counts once it has committed."""
    barrier = threading.Barrier(clients + 1)
    stop = threading.Event()
    results = [PhaseResult() for _ in range(clients)]
    ends = [0.0] * clients
    errors: list[BaseException] = []

    def client(n: int) -> None:
        rng = random.Random(n)
        mine = results[n]
        barrier.wait()
        try:
            while not stop.is_set():
                started = time.perf_counter()
                mine.transfers += step(n, rng)
                mine.latencies.append(time.perf_counter() - started)
                mine.transactions += 1
        except BaseException as exc:  # reported after the phase
            errors.append(exc)
            stop.set()
        ends[n] = time.perf_counter()

    threads = [threading.Thread(target=client, args=(n,), name=f"bench-{n}", daemon=True) for n in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    total = PhaseResult(seconds=max(ends) - started)
    for r in results:
        total.transfers += r.transfers
        total.transactions += r.transactions
        total.latencies += r.latencies
    return total


# ---------------------------------------------------------------------------------------------------- phases


def _raw_table() -> Table:
    return Table(
        f"o2o_bench_raw_{uuid.uuid4().hex[:12]}",
        MetaData(),
        Column("id", Uuid, primary_key=True),
        Column("amount", BigInteger, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
    )


def raw_inserts(db: Database, clients: int, seconds: float) -> PhaseResult:
    """One plain INSERT and a COMMIT per transaction, into a scratch table dropped afterwards."""
    table = _raw_table()
    table.create(db.engine)
    try:
        stmt = insert(table)

        def step(_n: int, rng: random.Random) -> int:
            with db.engine.begin() as conn:
                conn.execute(stmt, {"id": uuid7(), "amount": rng.randint(1, 5_000), "created_at": _now()})
            return 1

        return _run_clients(clients, seconds, step)
    finally:
        table.drop(db.engine)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_ok(results: list[CreateTransferResult], failures: list[uuid.UUID], batch: list[Transfer]) -> None:
    for t, r in zip(batch, results, strict=True):
        if r is not CreateTransferResult.OK:
            failures.append(t.id)
            raise RuntimeError(f"a bench transfer failed: {r.value}")


def single_transfers(db: Database, accounts: _Accounts, clients: int, seconds: float, failures: list) -> PhaseResult:
    def step(_n: int, rng: random.Random) -> int:
        batch = [_random_transfer(rng, accounts)]
        with db.session() as session:
            results = service.create_transfers(session, batch)
        _check_ok(results, failures, batch)
        return 1

    return _run_clients(clients, seconds, step)


def batched_transfers(
    db: Database, accounts: _Accounts, clients: int, seconds: float, batch_size: int, failures: list
) -> PhaseResult:
    def step(_n: int, rng: random.Random) -> int:
        batch = [_random_transfer(rng, accounts) for _ in range(batch_size)]
        with db.session() as session:
            results = service.create_transfers(session, batch)
        _check_ok(results, failures, batch)
        return batch_size

    return _run_clients(clients, seconds, step)


# ---------------------------------------------------------------------------------------------------- setup


def _setup(db: Database, wallets: int, merchants: int) -> _Accounts:
    accounts = _Accounts(uuid7(), [uuid7() for _ in range(wallets)], [uuid7() for _ in range(merchants)])
    requests = [new_account(accounts.channel, AccountKind.CHANNEL_CLEARING, OwnerKind.PLATFORM, CURRENCY, BENCH_OWNER)]
    requests += [
        new_account(w, AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, CURRENCY, BENCH_OWNER) for w in accounts.wallets
    ]
    requests += [
        new_account(m, AccountKind.MERCHANT_RECEIVABLE, OwnerKind.STORE, CURRENCY, BENCH_OWNER)
        for m in accounts.merchants
    ]
    with db.session() as session:
        for i in range(0, len(requests), 1000):
            results = service.create_accounts(session, requests[i : i + 1000])
            if any(r.value != "ok" for r in results):
                raise RuntimeError(f"could not create the bench accounts: {set(results)}")
        top_ups = [Transfer(uuid7(), accounts.channel, w, FUNDING, CURRENCY, TOP_UP) for w in accounts.wallets]
        for i in range(0, len(top_ups), 1000):
            results = service.create_transfers(session, top_ups[i : i + 1000])
            if any(r is not CreateTransferResult.OK for r in results):
                raise RuntimeError(f"could not fund the bench wallets: {set(results)}")
    return accounts


def _bench_account_ids(session: Any) -> list[uuid.UUID]:
    t = WalletAccount.__table__
    kinds = [k.value for k in OwnerKind]
    return list(session.scalars(select(t.c.id).where(t.c.owner_kind.in_(kinds), t.c.owner_id == BENCH_OWNER)))


def _journal_of(session: Any, ids: list[uuid.UUID]) -> tuple[dict, dict]:
    """The bench's transfers (every one debits a bench account) and their pending statuses."""
    transfers, status = service.journal(session)
    mine = set(ids)
    records = {i: r for i, r in transfers.items() if r.debit_account_id in mine or r.credit_account_id in mine}
    return records, {i: s for i, s in status.items() if i in records}


def check_bench_invariants(db: Database) -> list[str]:
    """The ledger invariants over the bench's accounts and transfers (a closed ledger of its own)."""
    with db.session() as session:
        ids = _bench_account_ids(session)
        accounts = service.lookup_accounts(session, ids)
        records, status = _journal_of(session, ids)
    return [f"{v.invariant}: {v.detail}" for v in check_invariants(accounts, records, status)]


def cleanup(db: Database, failures: Sequence[uuid.UUID] = ()) -> int:
    """Delete every account owned by ``BENCH_OWNER``, their transfers and the bench's recorded failures."""
    accounts_t, transfers_t, failed_t = (
        WalletAccount.__table__,
        WalletTransfer.__table__,
        WalletFailedTransfer.__table__,
    )
    with db.session() as session:
        ids = _bench_account_ids(session)
        if not ids:
            return 0
        mine = select(accounts_t.c.id).where(
            accounts_t.c.owner_kind.in_([k.value for k in OwnerKind]), accounts_t.c.owner_id == BENCH_OWNER
        )
        session.execute(
            delete(transfers_t).where(
                transfers_t.c.debit_account_id.in_(mine) | transfers_t.c.credit_account_id.in_(mine)
            )
        )
        for i in range(0, len(failures), 1000):
            session.execute(delete(failed_t).where(failed_t.c.id.in_(failures[i : i + 1000])))
        session.execute(delete(accounts_t).where(accounts_t.c.id.in_(mine)))
    return len(ids)


# ---------------------------------------------------------------------------------------------------- the bench


def run(
    db: Database,
    *,
    seconds: float = 5.0,
    clients: int = 8,
    batch_size: int = 1000,
    batch_clients: int | None = None,
    wallets: int = 1000,
    merchants: int = 10,
    on_phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the three phases on ``db`` and return the figures (see the module's docstring)."""
    batch_clients = clients if batch_clients is None else batch_clients
    say = on_phase or (lambda _phase: None)
    failures: list[uuid.UUID] = []
    say("cleaning up leftovers")
    cleanup(db)
    try:
        say("creating and funding the bench accounts")
        accounts = _setup(db, wallets, merchants)
        say("raw inserts")
        raw = raw_inserts(db, clients, seconds)
        say("one transfer per transaction")
        single = single_transfers(db, accounts, clients, seconds, failures)
        say(f"batches of {batch_size}")
        batched = batched_transfers(db, accounts, batch_clients, seconds, batch_size, failures)
        say("checking the invariants")
        violations = check_bench_invariants(db)
    finally:
        say("cleaning up")
        cleanup(db, failures)
    if violations:
        raise RuntimeError("ledger invariants violated: " + "; ".join(violations[:5]))
    return {
        "database": db.dialect,
        "transfers_per_s_single": round(single.per_second, 1),
        "transfers_per_s_batched": round(batched.per_second, 1),
        "raw_inserts_per_s": round(raw.per_second, 1),
        "clients": clients,
        "batch_clients": batch_clients,
        "batch_size": batch_size,
        "seconds_per_phase": seconds,
        "wallets": wallets,
        "merchants": merchants,
        "raw": raw.summary("rows"),
        "single": single.summary(),
        "batched": batched.summary(),
        "invariants_ok": not violations,
    }


# ---------------------------------------------------------------------------------------------------- the command


def ledger_command(
    seconds: Annotated[float, typer.Option(min=0.05, help="How long each of the three phases runs.")] = 5.0,
    clients: Annotated[
        int, typer.Option(min=1, max=64, help="Concurrent clients (threads, each with its own connection).")
    ] = 8,
    batch_size: Annotated[
        int, typer.Option(min=1, max=BATCH_MAX, help="Transfers per batch in the batch phase.")
    ] = 1000,
    batch_clients: Annotated[
        int | None, typer.Option(min=1, max=64, help="Clients of the batch phase (default: as many as --clients).")
    ] = None,
    wallets: Annotated[int, typer.Option(min=2, help="Customer wallets the transfers move money among.")] = 1000,
    merchants: Annotated[int, typer.Option(min=1, help="Merchant accounts that receive half the transfers.")] = 10,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")
    ] = False,
) -> None:
    """Transfers per second of the wallet's ledger on O2O_DATABASE_URL, next to the database's raw INSERT rate.

    Three phases of --seconds each, with --clients threads that each have their own connection:

    \b
    raw      one plain INSERT into a scratch table and a COMMIT per transaction: the baseline
    single   one transfer per transaction (create_transfers in a unit of work, then COMMIT)
    batched  --batch-size transfers per create_transfers call and COMMIT

    \b
    The bench makes its own accounts, owned by a bench owner and no city:
    a channel account that funds --wallets customer wallets, and --merchants merchant accounts.
    The demo city and real wallets are neither read nor changed.
    Half the transfers go from a random wallet to another, half to one of the few (hot) merchants;
    every one succeeds. At the end the bench checks the ledger invariants over its accounts and
    transfers, then deletes them and its scratch table. It takes about 3 x --seconds, plus set-up.
    """
    from rich.table import Table as RichTable

    from o2o.cli import console, prepare_database
    from o2o.config import get_settings

    settings = get_settings()
    prepare_database()
    db = Database(settings.database_url, pool_size=max(clients, batch_clients or clients) + 2)
    try:
        with console.status("ledger bench") as status:
            figures = run(
                db,
                seconds=seconds,
                clients=clients,
                batch_size=batch_size,
                batch_clients=batch_clients,
                wallets=wallets,
                merchants=merchants,
                on_phase=lambda phase: status.update(f"ledger bench: {phase}"),
            )
    finally:
        db.dispose()
    if as_json:
        print(json.dumps(figures))
        return
    raw = figures["raw_inserts_per_s"] or 1.0
    table = RichTable(
        title=f"Ledger on {figures['database']}: {seconds:g} s per phase",
        caption="per second: rows (raw) or transfers; latency per transaction",
    )
    for column in ("phase", "clients", "per second", "p50 ms", "p99 ms", "vs raw"):
        table.add_column(column, justify="left" if column == "phase" else "right")
    rows = (
        ("raw INSERT (baseline)", "raw", figures["clients"]),
        ("1 transfer per tx", "single", figures["clients"]),
        (f"batches of {batch_size:,}", "batched", figures["batch_clients"]),
    )
    for label, key, n in rows:
        phase = figures[key]
        table.add_row(
            label,
            str(n),
            f"{phase['per_s']:,.0f}",
            f"{phase['p50_ms']:,.1f}",
            f"{phase['p99_ms']:,.1f}",
            f"{phase['per_s'] / raw:.2f}x",
        )
    Console().print(table)
