"""Requests per second and latency of `GET /healthz` and of an authenticated `GET /api/accounts/me`
under `o2o serve --workers N`, measured with wrk (Debian package `wrk`) over loopback.

    .venv/bin/python benchmarks/http_baseline.py                      # PostgreSQL, fresh database
    .venv/bin/python benchmarks/http_baseline.py --database sqlite    # the embedded setup
    .venv/bin/python benchmarks/http_baseline.py --json

`/healthz` touches no database: it is the baseline for the framework, the server and the machine, measured
in the same run. `/api/accounts/me` adds the token check and one profile read. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import select, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
O2O = str(ROOT / ".venv" / "bin" / "o2o")
PG_ADMIN = os.environ.get("O2O_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def make_database(kind: str, workdir: Path) -> tuple[str, callable]:
    from o2o.db import make_null_pool_engine

    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", lambda: None
    name = f"o2o_bench_{uuid.uuid4().hex[:8]}"
    admin = make_null_pool_engine(PG_ADMIN).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), drop


def sign_in(base: str, database_url: str) -> str:
    """Sign up through the API as a person would; the code is read from the SMS outbox."""
    from o2o.db import Database
    from o2o.outbox import OutboxMessage

    phone = "+8613900000001"
    with httpx.Client(base_url=base, timeout=10) as c:
        r = c.post("/api/accounts/otp", json={"phone": phone})
        r.raise_for_status()
        db = Database(database_url)
        with db.session() as s:
            payload = s.scalars(select(OutboxMessage.payload).where(OutboxMessage.topic == "sms").order_by(OutboxMessage.id.desc())).first()
        db.dispose()
        code = re.search(r"\b(\d{6})\b", json.loads(payload)["text"]).group(1)
        r = c.post("/api/accounts/sessions", json={"phone": phone, "code": code})
        r.raise_for_status()
        return r.json()["token"]


def wrk(url: str, seconds: int, connections: int, threads: int, headers: dict[str, str]) -> dict[str, float]:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _latency_ms(re.search(r"^\s+50%\s+(\S+)", out, re.MULTILINE).group(1))
    p99 = _latency_ms(re.search(r"^\s+99%\s+(\S+)", out, re.MULTILINE).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {
        "rps": round(rps, 1),
        "p50_ms": p50,
        "p99_ms": p99,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(0) if errors else "",
    }


def _latency_ms(value: str) -> float:
    number, unit = re.match(r"([\d.]+)(us|ms|s)", value).groups()
    return round(float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit], 2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=18765)
    parser.add_argument("--repeat", type=int, default=3, help="runs per endpoint; the median run is reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2

    workdir = Path(tempfile.mkdtemp(prefix="o2o-bench-"))
    database_url, drop = make_database(args.database, workdir)
    env = {
        **os.environ,
        "O2O_DATABASE_URL": database_url,
        "O2O_VAR_DIR": str(workdir / "var"),
        "O2O_DEMO_SEED_ON_START": "false",
        "O2O_LOG_FORMAT": "json",
    }
    subprocess.run([O2O, "db", "upgrade"], env=env, check=True, capture_output=True)
    base = f"http://127.0.0.1:{args.port}"
    log = open(workdir / "server.log", "w")
    server = subprocess.Popen(
        [O2O, "serve", "--workers", str(args.workers), "--port", str(args.port), "--no-seed-demo"],
        env=env,
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"server did not start; see {workdir / 'server.log'}")
            time.sleep(0.2)
        token = sign_in(base, database_url)
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(base + "/api/accounts/me", headers=auth).status_code == 200
        # Warm-up: the first requests of each kind pay for lazy imports, statement caches and prepared statements.
        wrk(base + "/healthz", 2, args.connections, args.threads, {})
        wrk(base + "/api/accounts/me", 3, args.connections, args.threads, auth)
        def median_run(url: str, headers: dict[str, str]) -> dict:
            # Interleaving is not needed: the machine is the same for both; the median tames a noisy VM.
            runs = sorted(
                (wrk(url, args.seconds, args.connections, args.threads, headers) for _ in range(args.repeat)),
                key=lambda r: r["rps"],
            )
            middle = runs[len(runs) // 2]
            return {**middle, "rps_runs": [r["rps"] for r in runs]}

        results = {
            "database": args.database,
            "workers": args.workers,
            "connections": args.connections,
            "seconds": args.seconds,
            "healthz": median_run(base + "/healthz", {}),
            "me": median_run(base + "/api/accounts/me", auth),
        }
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
        drop()
    if args.json:
        print(json.dumps(results))
    else:
        print(f"o2o serve --workers {args.workers} on {args.database}; wrk -c{args.connections} -t{args.threads} "
              f"for {args.seconds}s each")
        print(f"(median of {args.repeat} runs each)")
        print(f"{'endpoint':32} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}  all runs req/s")
        for name, label in (("healthz", "GET /healthz (baseline)"), ("me", "GET /api/accounts/me (auth)")):
            r = results[name]
            runs = ", ".join(f"{x:.0f}" for x in r["rps_runs"])
            print(f"{label:32} {r['rps']:>10.1f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} {r['non_2xx']:>8}  {runs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
