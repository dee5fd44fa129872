"""Run a policy over MDRP instances: the shared runner of ``o2o delivery bench`` and ``benchmarks/mdrp.py``.

Each instance runs in its own simulation (optionally in ``jobs`` worker processes: the instances are
independent; the round timings are then taken with the cores shared), is checked for feasibility, and yields one
:class:`BenchOutcome`: the issue's figures, or the reason it failed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from o2o.delivery.dispatch import PolicyError
from o2o.delivery.feasibility import InfeasibleSchedule
from o2o.delivery.mdrp import InstanceError, find_summary, load_instance, read_summary
from o2o.delivery.metrics import instance_metrics
from o2o.delivery.simulation import simulate
from o2o.delivery.solution import write_solution


@dataclass(frozen=True)
class BenchOutcome:
    path: Path
    metrics: dict[str, object] | None  # None when the run failed
    error: str | None = None  # "infeasible: ...", "policy_error: ...", "instance_error: ..."
    undelivered: int = 0  # deliverable orders left undelivered
    seconds: float = 0.0


@dataclass(frozen=True)
class BenchConfig:
    policy: str = "greedy"
    round_minutes: float = 1.0
    seed: int = 0
    solution_dir: Path | None = None


def run_one(path: Path, config: BenchConfig, lb: float | None) -> BenchOutcome:
    import time

    started = time.perf_counter()
    try:
        instance = load_instance(path)
        result = simulate(
            instance, config.policy, round_minutes=config.round_minutes, seed=config.seed, record_events=False
        )
    except InfeasibleSchedule as e:
        return BenchOutcome(path, None, f"infeasible: {e}")
    except PolicyError as e:
        return BenchOutcome(path, None, f"policy_error: {e}")
    except InstanceError as e:
        return BenchOutcome(path, None, f"instance_error: {e}")
    metrics = instance_metrics(result, lb)
    if config.solution_dir is not None:
        write_solution(result, config.solution_dir / instance.name)
    undelivered = int(metrics["orders"]) - int(metrics["delivered"]) - int(metrics["undeliverable"])  # type: ignore[call-overload]
    return BenchOutcome(path, metrics, None, undelivered, time.perf_counter() - started)


def lower_bounds(paths: Sequence[Path], data_dir: Path | None = None) -> dict[str, float]:
    summary_path = find_summary(paths, data_dir)
    if summary_path is None:
        return {}
    return {
        name: row["lb_mean_click_to_door_min"]
        for name, row in read_summary(summary_path).items()
        if "lb_mean_click_to_door_min" in row
    }


def run_bench(
    paths: Sequence[Path], config: BenchConfig, *, jobs: int = 1, data_dir: Path | None = None
) -> Iterator[BenchOutcome]:
    """Outcomes as the runs finish (in input order when ``jobs == 1``)."""
    lbs = lower_bounds(paths, data_dir)
    jobs = max(1, min(jobs, len(paths), os.cpu_count() or 1))
    if jobs == 1:
        for path in paths:
            yield run_one(path, config, lbs.get(path.name))
        return
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_one, path, config, lbs.get(path.name)) for path in paths]
        for future in as_completed(futures):
            yield future.result()
