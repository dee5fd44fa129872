"""Transfers per second of the pure ledger core (``o2o.wallet.ledger``), next to plain dict updates.

    .venv/bin/python benchmarks/ledger_core.py            # a table
    .venv/bin/python benchmarks/ledger_core.py --json     # one JSON object
    .venv/bin/python benchmarks/ledger_core.py -n 50000 --repeat 5

Drives ``Ledger`` (the rules plus writes into dicts; no database) with payments from funded customer wallets
(with floors) to merchants, all of which succeed:

* single:            one transfer per ``create_transfers`` call
* batch of 100:      100 independent transfers per call
* linked chain of 4: one checkout per call, a chain of 4 (payment, commission, courier fee, platform subsidy)
* 25 chains of 4:    batches of 100 events made of 25 linked chains of 4

The baseline, measured in the same run over the same transfers, is what the core would cost if it did nothing
but move the money: two plain dict updates per transfer (``balance[debit] -= amount; balance[credit] +=
amount``). The ratio says what the rules (validation, idempotency, floors, chains, immutable records) cost.
Best of ``--repeat`` runs, each on a fresh ledger. A benchmark, not a test; invariants are checked after each
run, outside the timing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import platform
import time
import uuid
from collections.abc import Callable

from o2o.wallet.ledger import (
    Account,
    AccountKind,
    CreateTransferResult,
    Ledger,
    OwnerKind,
    Transfer,
    TransferFlags,
    new_account,
)

NOW = dt.datetime(2026, 3, 1, 9, 0, tzinfo=dt.UTC)
WALLETS, MERCHANTS, COURIERS = 1_000, 100, 50
PAYMENT, COMMISSION, COURIER_FEE, SUBSIDY, TOP_UP = 1, 2, 3, 4, 5


class World:
    """Accounts of a small city and a generator of ids; the wallets topped up far beyond what is spent."""

    def __init__(self) -> None:
        self._next = 0
        self.clearing = self.fresh()
        self.revenue = self.fresh()
        self.wallets = [self.fresh() for _ in range(WALLETS)]
        self.merchants = [self.fresh() for _ in range(MERCHANTS)]
        self.couriers = [self.fresh() for _ in range(COURIERS)]

    def fresh(self) -> uuid.UUID:
        self._next += 1
        return uuid.UUID(int=self._next)

    def ledger(self) -> Ledger:
        ledger = Ledger()
        accounts = [
            Account(self.clearing, "CNY", AccountKind.CHANNEL_CLEARING, OwnerKind.PLATFORM),
            Account(self.revenue, "CNY", AccountKind.PLATFORM_REVENUE, OwnerKind.PLATFORM),
        ]
        accounts += [new_account(w, AccountKind.CUSTOMER_WALLET, OwnerKind.PERSON, "CNY", w) for w in self.wallets]
        accounts += [new_account(m, AccountKind.MERCHANT_RECEIVABLE, OwnerKind.STORE, "CNY", m) for m in self.merchants]
        accounts += [new_account(c, AccountKind.COURIER_PAYABLE, OwnerKind.COURIER, "CNY", c) for c in self.couriers]
        for i in range(0, len(accounts), 1000):
            ledger.create_accounts(accounts[i : i + 1000], NOW)
        top_ups = [Transfer(self.fresh(), self.clearing, w, 10**12, "CNY", TOP_UP) for w in self.wallets]
        ledger.create_transfers(top_ups, NOW)
        return ledger

    def payments(self, n: int) -> list[Transfer]:
        return [
            Transfer(
                self.fresh(), self.wallets[i % WALLETS], self.merchants[i % MERCHANTS], 1_000 + i % 97, "CNY", PAYMENT
            )
            for i in range(n)
        ]

    def checkouts(self, n: int) -> list[list[Transfer]]:
        """``n`` checkouts, each a linked chain of 4 transfers."""
        linked = TransferFlags.LINKED
        out = []
        for i in range(n):
            wallet, merchant = self.wallets[i % WALLETS], self.merchants[i % MERCHANTS]
            courier = self.couriers[i % COURIERS]
            out.append(
                [
                    Transfer(self.fresh(), wallet, merchant, 3_000, "CNY", PAYMENT, linked),
                    Transfer(self.fresh(), merchant, self.revenue, 300, "CNY", COMMISSION, linked),
                    Transfer(self.fresh(), merchant, courier, 500, "CNY", COURIER_FEE, linked),
                    Transfer(self.fresh(), self.revenue, courier, 100, "CNY", SUBSIDY),
                ]
            )
        return out


def timed(run: Callable[[], object]) -> float:
    gc.collect()
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def core(batches: list[list[Transfer]], world: World) -> float:
    ledger = world.ledger()
    ok = CreateTransferResult.OK

    def run() -> None:
        create = ledger.create_transfers
        for batch in batches:
            results = create(batch, NOW)
            if results.count(ok) != len(results):
                raise AssertionError(f"a benchmark transfer failed: {results}")

    seconds = timed(run)
    ledger.assert_invariants()
    return seconds


def dict_baseline(batches: list[list[Transfer]], world: World) -> float:
    balance = dict.fromkeys([world.clearing, world.revenue, *world.wallets, *world.merchants, *world.couriers], 0)
    pairs = [(t.debit_account_id, t.credit_account_id, t.amount) for batch in batches for t in batch]

    def run() -> None:
        for debit, credit, amount in pairs:
            balance[debit] -= amount
            balance[credit] += amount

    seconds = timed(run)
    assert sum(balance.values()) == 0
    return seconds


def measure(n: int, repeat: int) -> list[dict[str, object]]:
    world = World()
    single = [[t] for t in world.payments(n)]
    payments = world.payments(n)
    hundreds = [payments[i : i + 100] for i in range(0, n, 100)]
    chains = world.checkouts(n // 4)
    chained = [t for chain in world.checkouts(n // 4) for t in chain]
    chain_batches = [chained[i : i + 100] for i in range(0, len(chained), 100)]
    rows = []
    for name, batches in (
        ("single", single),
        ("batch of 100", hundreds),
        ("linked chain of 4", chains),
        ("25 chains of 4 per batch", chain_batches),
    ):
        count = sum(len(b) for b in batches)
        core_s = min(core(batches, world) for _ in range(repeat))
        base_s = min(dict_baseline(batches, world) for _ in range(repeat))
        rows.append(
            {
                "workload": name,
                "transfers": count,
                "calls": len(batches),
                "core_transfers_per_s": round(count / core_s),
                "core_us_per_transfer": round(core_s / count * 1e6, 2),
                "dict_updates_transfers_per_s": round(count / base_s),
                "ratio": round(base_s and core_s / base_s, 1),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="transfers per workload (default 20,000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per workload; the best counts (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    n = max(100, args.n - args.n % 100)
    rows = measure(n, args.repeat)
    meta = {"python": platform.python_version(), "machine": platform.machine(), "transfers_per_workload": n}
    if args.json:
        print(json.dumps({**meta, "workloads": rows}))
        return
    print(
        f"ledger core, Python {meta['python']} on {meta['machine']}, {n:,} transfers per workload, best of {args.repeat}"
    )
    header = f"{'workload':<26}{'core transfers/s':>18}{'µs/transfer':>13}{'dict updates/s':>17}{'slower':>9}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['workload']:<26}{r['core_transfers_per_s']:>18,}{r['core_us_per_transfer']:>13}"
            f"{r['dict_updates_transfers_per_s']:>17,}{r['ratio']:>8}x"
        )


if __name__ == "__main__":
    main()
