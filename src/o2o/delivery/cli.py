"""``o2o delivery``: the dispatch engine's benchmark on the Grubhub MDRP instances."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from o2o.delivery.bench import BenchConfig, BenchOutcome, run_bench
from o2o.delivery.dispatch import policy_names
from o2o.delivery.mdrp import ENV_VAR, InstanceError, default_data_dir, find_instances
from o2o.delivery.metrics import family_summary
from o2o.delivery.model import natural_key

app = typer.Typer(no_args_is_help=True, rich_markup_mode="rich")
out = Console()
err = Console(stderr=True)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNDELIVERED = 0, 1, 2, 3


@app.callback()
def delivery() -> None:
    """Delivery: the dispatch engine and its benchmark on the Grubhub MDRP instances."""


def _num(x: object, digits: int = 2, pct: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    v = float(x)  # type: ignore[arg-type]
    return f"{100 * v:.1f}%" if pct else f"{v:.{digits}f}"


def _ratio(x: object) -> str:
    if x is None:
        return "-"
    v = float(x)  # type: ignore[arg-type]
    style = "green" if v <= 1.05 else "yellow" if v <= 1.25 else "red"
    return f"[{style}]{v:.3f}[/{style}]"


def _instance_table(outcomes: list[BenchOutcome], policy: str) -> Table:
    t = Table(title=f"MDRP instances, policy {policy}", title_justify="left")
    for col in ("instance", "orders", "delivered", "undeliv.", "mean ctd", "× lb", "p90 ctd", ">40", ">90",
                "ready→pickup", "orders/courier-h", "$/order", "rounds", "p99 ms", "max ms"):  # fmt: skip
        t.add_column(col, justify="left" if col == "instance" else "right")
    for o in outcomes:
        m = o.metrics
        if m is None:
            t.add_row(o.path.name, *["-"] * 13, f"[red]{(o.error or '').split(':')[0]}[/red]")
            continue
        delivered = str(m["delivered"]) if not o.undelivered else f"[red]{m['delivered']}[/red]"
        t.add_row(
            str(m["instance"]), str(m["orders"]), delivered, str(m["undeliverable"]),
            _num(m["mean_click_to_door_min"]), _ratio(m["lb_ratio"]), _num(m["p90_click_to_door_min"], 1),
            _num(m["share_over_40_min"], pct=True), _num(m["share_over_90_min"], pct=True),
            _num(m["mean_ready_to_pickup_min"]), _num(m["orders_per_courier_hour"], 3), _num(m["pay_per_order_usd"]),
            str(m["rounds"]), _num(m["p99_round_ms"]), _num(m["max_round_ms"]),
        )  # fmt: skip
    return t


def _family_table(rows: list[dict[str, object]], policy: str) -> Table:
    t = Table(title=f"Per family (mean over the instances), policy {policy}", title_justify="left")
    for col in ("family", "inst.", "× lb", "worst × lb", "mean ctd", "p90 ctd", ">40", ">90", "orders/courier-h",
                "$/order", "undelivered", "p99 ms", "max ms"):  # fmt: skip
        t.add_column(col, justify="left" if col == "family" else "right")
    for s in family_summary(rows):
        t.add_row(
            str(s["family"]), str(s["instances"]), _ratio(s["lb_ratio"]), _ratio(s["max_lb_ratio"]),
            _num(s["mean_click_to_door_min"]), _num(s["p90_click_to_door_min"], 1),
            _num(s["share_over_40_min"], pct=True), _num(s["share_over_90_min"], pct=True),
            _num(s["orders_per_courier_hour"], 3), _num(s["pay_per_order_usd"]), str(s["undelivered"]),
            _num(s["p99_round_ms"]), _num(s["max_round_ms"]),
        )  # fmt: skip
    return t


@app.command("bench")
def bench_command(
    dirs: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="DIR...",
            help="MDRP instance folders, a folder of them (public_instances, or the mdrplib folder), or bare "
            "instance names looked up in the data directory. [default: every instance in the data directory]",
            show_default=False,
        ),
    ] = None,
    policy: Annotated[str, typer.Option(help="Dispatch policy (see the list below)")] = "greedy",
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line per instance on stdout, nothing else")
    ] = False,
    solution_dir: Annotated[
        Path | None,
        typer.Option(
            help="Write the evaluator's solution files (solution_info_*.txt) to OUT/<instance>/", metavar="OUT"
        ),
    ] = None,
    round_minutes: Annotated[
        float, typer.Option(min=0.01, help="Minutes between decision rounds (1 = at each order's placement)")
    ] = 1.0,
    seed: Annotated[int, typer.Option(help="Seed handed to the policy (the same seed gives the same result)")] = 0,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes (instances run in parallel)")] = 1,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help=f"The mdrplib folder [default: ${ENV_VAR}, else ../shared/data/mdrplib beside the repository]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Replay MDRP instances in a discrete-event simulation with a dispatch policy, check every schedule's feasibility, and print the figures: mean click-to-door and its ratio to the instance's lower bound, p90, share over 40 and 90 minutes, orders per courier hour, pay per order, decision round times.

    Exit codes: 0 every run feasible and every deliverable order delivered; 1 a run failed (infeasible schedule, or a policy breaking the engine's rules); 2 wrong usage (unknown policy, no instance found); 3 every run feasible, but some deliverable orders were left undelivered.
    """
    if policy not in policy_names():
        err.print(f"[red]Unknown policy {policy!r}.[/red] Known: {', '.join(policy_names())}")
        raise typer.Exit(EXIT_USAGE)
    data = data_dir or default_data_dir()
    try:
        paths = find_instances(dirs or [data], data_dir=data)
    except (InstanceError, OSError) as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(EXIT_USAGE) from None
    if not out.is_terminal:
        out.width = 200  # a file or a pipe gets the whole table, not 80 columns of it
    config = BenchConfig(policy=policy, round_minutes=round_minutes, seed=seed, solution_dir=solution_dir)
    outcomes: list[BenchOutcome] = []
    show_progress = len(paths) > 1 and err.is_terminal
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True, disable=not show_progress,
    ) as progress:  # fmt: skip
        task = progress.add_task(f"{policy} on {len(paths)} instance(s)", total=len(paths))
        for outcome in run_bench(paths, config, jobs=jobs, data_dir=data):
            outcomes.append(outcome)
            progress.advance(task)
            if outcome.error:
                err.print(f"[red]{outcome.path.name}: {outcome.error}[/red]")
            elif as_json:
                sys.stdout.write(json.dumps(outcome.metrics) + "\n")
                sys.stdout.flush()
    outcomes.sort(key=lambda o: natural_key(o.path.name))
    if not as_json:
        out.print(_instance_table(outcomes, policy))
        rows = [o.metrics for o in outcomes if o.metrics is not None]
        if len(rows) > 1:
            out.print(_family_table(rows, policy))
        if solution_dir is not None:
            out.print(f"Solution files in {solution_dir}/<instance>/ (format: see o2o/delivery/solution.py)")
    if any(o.error for o in outcomes):
        raise typer.Exit(EXIT_FAILED)
    undelivered = sum(o.undelivered for o in outcomes)
    if undelivered:
        err.print(f"[yellow]{undelivered} deliverable order(s) left undelivered[/yellow]")
        raise typer.Exit(EXIT_UNDELIVERED)


bench_command.__doc__ = (bench_command.__doc__ or "") + f"\n\n    Policies: {', '.join(policy_names())}."
