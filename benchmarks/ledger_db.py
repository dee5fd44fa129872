"""The persisted ledger's throughput: `o2o bench ledger` on a fresh database, repeated, with the median.

    .venv/bin/python benchmarks/ledger_db.py                       # PostgreSQL and SQLite, 3 runs each
    .venv/bin/python benchmarks/ledger_db.py --database postgresql --repeat 5
    .venv/bin/python benchmarks/ledger_db.py --json

Each run gets a database of its own (a new PostgreSQL database, or a new SQLite file), migrated to head: the
figures do not drift with the dead rows earlier runs leave behind where autovacuum is off (as on the
development machine's PostgreSQL). `o2o bench ledger` measures, in the same run, the raw INSERT + COMMIT rate
(the baseline), one transfer per transaction, and batches; see `o2o bench ledger --help`. This script only
repeats it and takes the median of each figure. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
O2O = str(ROOT / ".venv" / "bin" / "o2o")
PG_ADMIN = os.environ.get("O2O_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
FIGURES = ("transfers_per_s_single", "transfers_per_s_batched", "raw_inserts_per_s")


def make_database(kind: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    from o2o import migrate
    from o2o.db import make_null_pool_engine

    if kind == "sqlite":
        path = workdir / f"ledger-{uuid.uuid4().hex[:8]}.db"
        url = f"sqlite:///{path}"
        migrate.upgrade(url)
        return url, lambda: [p.unlink(missing_ok=True) for p in workdir.glob(f"{path.name}*")]
    name = f"o2o_bench_{uuid.uuid4().hex[:8]}"
    admin = make_null_pool_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    url = make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    migrate.upgrade(url)
    return url, drop


def run_once(kind: str, workdir: Path, extra: list[str]) -> dict:
    url, drop = make_database(kind, workdir)
    try:
        env = {**os.environ, "O2O_DATABASE_URL": url}
        done = subprocess.run(
            [O2O, "bench", "ledger", "--json", *extra], env=env, capture_output=True, text=True, check=True
        )
        return json.loads(done.stdout)
    finally:
        drop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite", "both"], default="both")
    parser.add_argument("--repeat", type=int, default=3, help="runs per database; the median counts (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args, extra = parser.parse_known_args()  # anything else goes to `o2o bench ledger`
    kinds = ["postgresql", "sqlite"] if args.database == "both" else [args.database]
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            runs = []
            for n in range(args.repeat):
                runs.append(run_once(kind, Path(tmp), extra))
                print(f"{kind} run {n + 1}: " + ", ".join(f"{k} {runs[-1][k]:,.0f}" for k in FIGURES), file=sys.stderr)
            out[kind] = {k: round(statistics.median(r[k] for r in runs)) for k in FIGURES}
            out[kind]["runs"] = [{k: r[k] for k in FIGURES} for r in runs]
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{'database':<12}{'single tx/s':>14}{'batched tx/s':>15}{'raw INSERT/s':>15}   (medians of {args.repeat})")
    for kind, figures in out.items():
        print(
            f"{kind:<12}" + "".join(f"{figures[k]:>15,}" if i else f"{figures[k]:>14,}" for i, k in enumerate(FIGURES))
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
