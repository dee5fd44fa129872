"""Where the time of one paid checkout goes: every SQL statement and round trip of one `POST /api/orders`
(paid from the wallet), and the server-side Python profile of many.

    .venv/bin/python benchmarks/checkout.py                      # PostgreSQL, a fresh database
    .venv/bin/python benchmarks/checkout.py --database sqlite
    .venv/bin/python benchmarks/checkout.py --statements         # print every statement of one checkout
    .venv/bin/python benchmarks/checkout.py --profile 300        # cProfile 300 checkouts, top functions

`o2o bench checkout` measures the rate over real HTTP; this script explains it. It seeds the same city as the
bench (`o2o.orders.bench.seed`), runs the app in this process (FastAPI's TestClient: the same route, request
boundary, idempotency key, commit), and counts with a SQLAlchemy `before_cursor_execute` listener what one
checkout sends to the database. Round trips are the statements plus the transaction's BEGIN (psycopg sends
it before the first statement) and COMMIT. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import event, text

from o2o.config import Settings
from o2o.db import Database
from o2o.orders import bench


def _shape(statement: str) -> str:
    """The statement's kind and main table: ``UPDATE stock_levels``, ``SELECT orders``, ``SAVEPOINT``."""
    s = " ".join(statement.split())
    if s.startswith("LEDGER "):
        return s.split(":", 1)[0].title().replace("Ledger", "ledger") + f" ({s.count(';') + 1} statements)"
    verb = s.split(" ", 1)[0].upper()
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return verb
    table = {
        "INSERT": r"INSERT INTO (\w+)",
        "UPDATE": r"UPDATE (\w+)",
        "DELETE": r"DELETE FROM (\w+)",
    }.get(verb, r"FROM (\w+)")
    m = re.search(table, s, re.IGNORECASE)
    return f"{verb} {m.group(1) if m else '?'}"


def _backend_pids(db: Database) -> list[int]:
    if db.dialect != "postgresql":
        return []
    with db.engine.connect() as conn:
        return list(conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")))


def _cpu(pids: list[int]) -> float:
    """CPU seconds of these processes (Linux /proc): the PostgreSQL backends serving this script."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _profile_service(db: Database, settings: Settings, seeded: bench.Seeded, rng: random.Random, n: int) -> str:
    """cProfile of ``n`` checkouts through the service as the endpoint calls it (place, paid from the wallet,
    the response's shape, the commit), in this thread: the TestClient runs the app in threads cProfile does not
    see. The request boundary's own statements (idempotency key, token, grants) are in the statement list."""
    from o2o.orders import endpoints, service
    from o2o.orders.state import OrderKind
    from o2o.stores.menu import LineRequest

    calls = []
    for k in range(n):
        body = bench.random_order(rng, seeded.stores)
        address = body.get("address")
        calls.append(
            dict(
                customer_id=seeded.customers[k % len(seeded.customers)].person_id,
                store_id=uuid.UUID(body["store_id"]),
                kind=OrderKind(body["kind"]),
                lines=[
                    LineRequest(uuid.UUID(li["item_id"]), li["quantity"], tuple(uuid.UUID(o) for o in li["option_ids"]))
                    for li in body["lines"]
                ],
                destination=None
                if address is None
                else service.Destination(address["lat"], address["lng"], address["text"]),
                pay_with_wallet=True,
            )
        )
    profiler = cProfile.Profile()
    profiler.enable()
    for call in calls:
        with db.sessionmaker() as session:
            order = service.place(session, settings, **call)
            endpoints.order_out(session, order).model_dump_json()
            session.commit()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(60)
    stats.sort_stats("tottime").print_stats(30)
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--statements", action="store_true", help="print every statement of one checkout")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="cProfile N checkouts")
    parser.add_argument("--timed", type=int, default=200, metavar="N", help="time N checkouts one after another")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from fastapi.testclient import TestClient

    from o2o.app import create_app
    from o2o.observability import configure_logging

    configure_logging("warning")
    workdir = Path(tempfile.mkdtemp(prefix="o2o-checkout-profile-"))
    try:
        with bench.fresh_database(bench.Backend(args.database), workdir) as url:
            settings = Settings(
                database_url=url, var_dir=workdir / "var", inprocess_worker=False, demo_seed_on_start=False
            )
            db = Database(url, settings=settings)
            rng = random.Random(3)
            seeded = bench.seed(db, settings, stores=5, customers=20, hot_units=10, rng=rng)
            app = create_app(settings, db)
            seen: list[str] = []
            commits = 0

            @event.listens_for(db.engine, "before_cursor_execute")
            def _count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
                seen.append(statement)

            # The ledger on PostgreSQL talks to psycopg directly (prepared statements sent as one script per round
            # trip, and a cursor for account reads), below SQLAlchemy's events: count those calls where they are made.
            from o2o.wallet import repository as ledger_repository

            pg_script, driver = ledger_repository._pg_script, ledger_repository._driver

            def counted_script(pg, script):  # type: ignore[no-untyped-def]
                seen.append("LEDGER SCRIPT: " + script)
                return pg_script(pg, script)

            class CountedDriver:
                def __init__(self, pg):  # type: ignore[no-untyped-def]
                    self._pg = pg

                def execute(self, query, params=None):  # type: ignore[no-untyped-def]
                    seen.append("LEDGER CURSOR: " + str(query))
                    return self._pg.execute(query, params)

                def __getattr__(self, name):  # type: ignore[no-untyped-def]
                    return getattr(self._pg, name)

            ledger_repository._pg_script = counted_script
            ledger_repository._driver = lambda session: CountedDriver(driver(session))

            @event.listens_for(db.engine, "commit")
            def _commit(conn):  # type: ignore[no-untyped-def]
                nonlocal commits
                commits += 1

            with TestClient(app) as client:
                customers = [
                    {"Authorization": f"Bearer {c.token}", "Content-Type": "application/json"} for c in seeded.customers
                ]

                def checkout(n: int, body: dict | None = None) -> None:
                    headers = {**customers[n % len(customers)], "Idempotency-Key": uuid.uuid4().hex}
                    r = client.post("/api/orders", json=body or bench.random_order(rng, seeded.stores), headers=headers)
                    if r.status_code != 201:
                        raise SystemExit(f"checkout failed: {r.status_code} {r.text}")

                for n in range(20):  # warm-up: imports, statement caches, prepared statements
                    checkout(n)
                # One delivery order of two lines with options, as the bench sends most.
                rich = next(
                    b
                    for b in (bench.random_order(rng, seeded.stores) for _ in range(1000))
                    if b["kind"] == "delivery" and len(b["lines"]) == 2 and any(li["option_ids"] for li in b["lines"])
                )
                seen.clear()
                commits = 0
                checkout(1, rich)
                one = list(seen)
                one_commits = commits

                backends = _backend_pids(db)
                db_cpu, cpu, started = _cpu(backends), time.process_time(), time.perf_counter()
                for n in range(args.timed):
                    checkout(n)
                timed = max(args.timed, 1)
                per_checkout_ms = (time.perf_counter() - started) / timed * 1000
                app_cpu_ms = (time.process_time() - cpu) / timed * 1000
                db_cpu_ms = (_cpu(backends) - db_cpu) / timed * 1000

                profile_text = _profile_service(db, settings, seeded, rng, args.profile) if args.profile else ""
            db.dispose()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    shapes = Counter(_shape(s) for s in one)
    # psycopg opens the transaction with a BEGIN of its own before the first statement; SQLite's BEGIN IMMEDIATE
    # is one of the statements above (o2o.db sends it).
    begin = 1 if args.database == "postgresql" else 0
    figures = {
        "database": args.database,
        "statements": len(one),
        "round_trips": len(one) + begin + one_commits,
        "commits": one_commits,
        "by_shape": dict(shapes.most_common()),
        "checkout_ms_one_client_in_process": round(per_checkout_ms, 2),
        "app_cpu_ms_per_checkout": round(app_cpu_ms, 2),
        "database_cpu_ms_per_checkout": round(db_cpu_ms, 2),
    }
    if args.json:
        print(json.dumps(figures))
        return 0
    print(f"One POST /api/orders (delivery, 2 lines with options, paid from the wallet) on {args.database}:")
    print(f"  {len(one)} statements, {figures['round_trips']} round trips (with BEGIN and COMMIT)")
    for shape, n in shapes.most_common():
        print(f"  {n:3d}  {shape}")
    print(
        f"One client, in process, one after another: {per_checkout_ms:.2f} ms per checkout, "
        f"{app_cpu_ms:.2f} ms of CPU in this process (app and test client), {db_cpu_ms:.2f} ms in the database"
    )
    if args.statements:
        print()
        for n, statement in enumerate(one, 1):
            print(f"{n:3d}. {' '.join(statement.split())[:220]}")
    if profile_text:
        print()
        print(profile_text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
