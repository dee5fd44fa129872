"""Dispatch policies on the Grubhub MDRP instances, per instance family, with the greedy baseline beside them.

    .venv/bin/python benchmarks/mdrp.py                        # greedy on all 120 instances, a table per family
    .venv/bin/python benchmarks/mdrp.py --policy bundle        # that policy, and greedy as the baseline
    .venv/bin/python benchmarks/mdrp.py --jobs 2 --json        # one JSON object (families, instances, timings)
    .venv/bin/python benchmarks/mdrp.py 0o50t75s1p100 1r50t100s2p125 --markdown

Runs the same harness as ``o2o delivery bench`` (``o2o.delivery.bench``): each instance replayed in the
discrete-event simulation, its schedule checked for feasibility (a violation is reported and makes the script
exit 1), figures per the issue. A family is an instance name without its seed (o100/o50/r50 x t100/t75 x s1/s2 x
p100/p125, five seeds each); its figures are means over its instances, except ``worst x lb`` (the worst
instance), ``undelivered`` (deliverable orders left undelivered, summed), and the round times (the worst
instance's p99 and the max). With ``--jobs`` above 1 the instances run in parallel processes, so the round times
are taken with the cores shared: measure round times with ``--jobs 1``.

The data is read from ``../shared/data/mdrplib`` beside the repository (``$O2O_MDRPLIB`` or ``--data-dir`` to
point elsewhere). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

from o2o.delivery.bench import BenchConfig, run_bench
from o2o.delivery.dispatch import policy_names
from o2o.delivery.mdrp import default_data_dir, find_instances
from o2o.delivery.metrics import family_summary
from o2o.delivery.model import natural_key

BASELINE = "greedy"
COLUMNS = (
    ("family", "family", "{}"),
    ("inst", "instances", "{}"),
    ("x lb", "lb_ratio", "{:.3f}"),
    ("worst x lb", "max_lb_ratio", "{:.3f}"),
    ("mean ctd", "mean_click_to_door_min", "{:.2f}"),
    ("p90 ctd", "p90_click_to_door_min", "{:.1f}"),
    (">40 min", "share_over_40_min", "{:.1%}"),
    (">90 min", "share_over_90_min", "{:.1%}"),
    ("ready->pickup", "mean_ready_to_pickup_min", "{:.2f}"),
    ("orders/courier-h", "orders_per_courier_hour", "{:.3f}"),
    ("$/order", "pay_per_order_usd", "{:.2f}"),
    ("undelivered", "undelivered", "{}"),
    ("p99 round ms", "p99_round_ms", "{:.2f}"),
    ("max round ms", "max_round_ms", "{:.2f}"),
)


def cell(fmt: str, value: object) -> str:
    return "-" if value is None else fmt.format(value)


def table(families: list[dict[str, object]], markdown: bool, baseline: dict[str, dict[str, object]] | None) -> str:
    heads = [h for h, _, _ in COLUMNS] + (["greedy x lb"] if baseline else [])
    body = []
    for fam in families:
        row = [cell(fmt, fam.get(key)) for _, key, fmt in COLUMNS]
        if baseline:
            base = baseline.get(str(fam["family"]), {})
            row.append(cell("{:.3f}", base.get("lb_ratio")))
        body.append(row)
    if markdown:
        lines = ["| " + " | ".join(heads) + " |", "|" + "|".join("---" for _ in heads) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in body]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(heads)]

    def fmt_row(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([fmt_row(heads), "  ".join("-" * w for w in widths), *(fmt_row(r) for r in body)])


def run_policy(policy: str, paths: list[Path], args: argparse.Namespace) -> dict[str, object]:
    started = time.perf_counter()
    config = BenchConfig(policy=policy, round_minutes=args.round_minutes, seed=args.seed)
    outcomes = sorted(
        run_bench(paths, config, jobs=args.jobs, data_dir=args.data_dir), key=lambda o: natural_key(o.path.name)
    )
    seconds = time.perf_counter() - started
    rows = [o.metrics for o in outcomes if o.metrics is not None]
    return {
        "policy": policy,
        "seconds": round(seconds, 2),
        "instances": rows,
        "failures": {o.path.name: o.error for o in outcomes if o.error},
        "families": family_summary(rows),
        "run_seconds": {o.path.name: round(o.seconds, 3) for o in outcomes},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("instances", nargs="*", help="instance folders or names (default: all in the data dir)")
    parser.add_argument(
        "--policy", action="append", help=f"policy to measure, repeatable (known: {', '.join(policy_names())})"
    )
    parser.add_argument("--round-minutes", type=float, default=1.0, help="minutes between rounds (default 1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="parallel processes (round times need --jobs 1)")
    parser.add_argument("--data-dir", type=Path, default=None, help="the mdrplib folder")
    parser.add_argument("--markdown", action="store_true", help="tables in Markdown, ready for docs/benchmarks.md")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    data_dir = args.data_dir or default_data_dir()
    args.data_dir = data_dir
    paths = find_instances(args.instances or [data_dir], data_dir=data_dir)
    policies = list(dict.fromkeys([*(args.policy or []), BASELINE]))
    unknown = [p for p in policies if p not in policy_names()]
    if unknown:
        parser.error(f"unknown policy {unknown[0]!r}; known: {', '.join(policy_names())}")
    runs = {p: run_policy(p, paths, args) for p in policies}
    meta = {
        "instances": len(paths),
        "round_minutes": args.round_minutes,
        "jobs": args.jobs,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    if args.json:
        print(json.dumps({**meta, "runs": list(runs.values())}))
    else:
        baseline = {str(f["family"]): f for f in runs[BASELINE]["families"]}  # type: ignore[union-attr]
        print(f"MDRP: {len(paths)} instance(s), rounds every {args.round_minutes:g} min, jobs={args.jobs}, "
              f"Python {meta['python']} on {meta['machine']}")  # fmt: skip
        for policy, run in runs.items():
            print(f"\n{policy}: {run['seconds']} s wall for {len(run['instances'])} instance(s)")  # type: ignore[arg-type]
            others = baseline if policy != BASELINE else None
            print(table(run["families"], args.markdown, others))  # type: ignore[arg-type]
            for name, error in run["failures"].items():  # type: ignore[union-attr]
                print(f"FAILED {name}: {error}", file=sys.stderr)
    if any(run["failures"] for run in runs.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
