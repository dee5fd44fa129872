"""The route planner (``o2o.delivery.routing``) on the 140 Grubhub TSPPD instances, with libraries beside it.

    .venv/bin/python benchmarks/tsppd.py                       # the per-size table (about 5 minutes; 10 with the libraries)
    .venv/bin/python benchmarks/tsppd.py --sizes 2-10 --json   # one JSON object per instance
    .venv/bin/python benchmarks/tsppd.py --data DIR            # or O2O_TSPPDLIB_DIR=DIR

Instances: ``../shared/data/tsppdlib`` beside the repository (2..15 pickup-delivery pairs, 10 each). Per
instance, measured in one run:

* exact:     ``solve_exact`` (bounded DP over (stops done, last stop)); proven optimal unless a DP layer
             would pass ``--max-labels`` states, when it reports the lower bound it proved instead;
* heuristic: ``solve_heuristic`` (cheapest insertion, local search, iterated local search, restricted DP);
             its gap is measured against the proven optimum, or against the best known lower bound;
* insertion: ``simple_insertion`` (the baseline every route must beat);
* libraries, when importable (``--libs``): OR-Tools (pickup-and-delivery routing, cheapest insertion then
  local search to a local optimum, and guided local search for ``--lib-seconds``), PyVRP (shipments,
  ``--lib-seconds``), pyvroom (shipments, exploration level 5, one thread). Every library route is checked
  (each node once, each pickup before its delivery) and costed by us from the instance's own matrix.

The libraries are not dependencies of o2o. To measure them, install them beside numpy in a scratch venv and
run this script with it (it puts ``src/`` on the path):

    .tools/bin/uv venv /tmp/tsppd-libs --python python3
    .tools/bin/uv pip install --python /tmp/tsppd-libs/bin/python numpy ortools pyvrp pyvroom
    /tmp/tsppd-libs/bin/python benchmarks/tsppd.py

Times are wall-clock seconds on one core (libraries are asked for one thread). A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from o2o.delivery.routing import (
    TsppdInstance,
    default_data_dir,
    exact_or_bound,
    instance_paths,
    load_instance,
    simple_insertion,
    solve_heuristic,
)

LIBS = ("ortools", "ortools-gls", "pyvrp", "vroom")


# ---------------------------------------------------------------------------------------------
# Libraries: each returns the tour as node labels from +0 to -0
# ---------------------------------------------------------------------------------------------


def ortools_tour(inst: TsppdInstance, seconds: float | None) -> list[str]:
    """Pickup and delivery on one vehicle from +0 to -0. seconds=None: cheapest insertion and local search
    to a local optimum; else guided local search for that long."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    n = len(inst.labels)
    manager = pywrapcp.RoutingIndexManager(n, 1, [inst.start], [inst.end])
    routing = pywrapcp.RoutingModel(manager)
    w = inst.weights

    def cost(i: int, j: int) -> int:
        return w[manager.IndexToNode(i)][manager.IndexToNode(j)]

    transit = routing.RegisterTransitCallback(cost)
    routing.SetArcCostEvaluatorOfAllVehicles(transit)
    routing.AddDimension(transit, 0, 10**9, True, "distance")
    dim = routing.GetDimensionOrDie("distance")
    solver = routing.solver()
    for p, d in inst.pairs:
        pi, di = manager.NodeToIndex(p), manager.NodeToIndex(d)
        routing.AddPickupAndDelivery(pi, di)
        solver.Add(routing.VehicleVar(pi) == routing.VehicleVar(di))
        solver.Add(dim.CumulVar(pi) <= dim.CumulVar(di))
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    if seconds is not None:
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
        params.time_limit.FromMilliseconds(int(seconds * 1000))
    sol = routing.SolveWithParameters(params)
    if sol is None:
        raise RuntimeError("OR-Tools found no solution")
    index = routing.Start(0)
    tour = []
    while True:
        tour.append(inst.labels[manager.IndexToNode(index)])
        if routing.IsEnd(index):
            return tour
        index = sol.Value(routing.NextVar(index))


def pyvrp_tour(inst: TsppdInstance, seconds: float) -> list[str]:
    """Shipments on one vehicle type from a depot at +0 to a depot at -0 (the free end)."""
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    model = Model()
    locs = [model.add_location(x=0, y=0, name=lab) for lab in inst.labels]
    start = model.add_depot(locs[inst.start])
    end = model.add_depot(locs[inst.end])
    model.add_vehicle_type(num_available=1, start_depot=start, end_depot=end)
    for p, d in inst.pairs:
        model.add_shipment(locs[p], locs[d], name=inst.labels[p])
    for i, a in enumerate(locs):
        for j, b in enumerate(locs):
            if i != j:
                model.add_edge(a, b, distance=inst.weights[i][j])
    res = model.solve(stop=MaxRuntime(seconds), seed=0, display=False, collect_stats=False)
    if not res.is_feasible():
        raise RuntimeError("PyVRP found no feasible solution")
    (route,) = res.best.routes()
    tour = []
    for activity in route.schedule():
        if activity.is_pickup():
            tour.append(inst.labels[inst.pairs[activity.idx][0]])
        elif activity.is_delivery():
            tour.append(inst.labels[inst.pairs[activity.idx][1]])
    return ["+0", *tour, "-0"]


def vroom_tour(inst: TsppdInstance) -> list[str]:
    """Shipments, one vehicle starting at +0 with no end (VROOM's open route)."""
    import vroom

    problem = vroom.Input()
    problem.set_durations_matrix(profile="car", matrix_input=[list(row) for row in inst.weights])
    problem.add_vehicle(vroom.Vehicle(1, start=inst.start))
    for k, (p, d) in enumerate(inst.pairs):
        problem.add_shipment(vroom.ShipmentStep(2 * k + 1, location=p), vroom.ShipmentStep(2 * k + 2, location=d))
    sol = problem.solve(exploration_level=5, nb_threads=1)
    steps = sol.routes
    nodes = [int(x) for x in steps["location_index"]]
    kinds = [str(t) for t in steps["type"]]
    tour = [inst.labels[v] for v, t in zip(nodes, kinds, strict=True) if t in ("pickup", "delivery")]
    return ["+0", *tour, "-0"]


def run_lib(name: str, inst: TsppdInstance, seconds: float) -> tuple[float, int]:
    t0 = time.perf_counter()
    if name == "ortools":
        tour = ortools_tour(inst, None)
    elif name == "ortools-gls":
        tour = ortools_tour(inst, seconds)
    elif name == "pyvrp":
        tour = pyvrp_tour(inst, seconds)
    else:
        tour = vroom_tour(inst)
    elapsed = time.perf_counter() - t0
    return elapsed, inst.tour_cost(tour)  # raises on an infeasible tour


def available_libs(wanted: list[str]) -> tuple[list[str], dict[str, str]]:
    modules = {"ortools": "ortools", "ortools-gls": "ortools", "pyvrp": "pyvrp", "vroom": "vroom"}
    ok, missing = [], {}
    for name in wanted:
        try:
            __import__(modules[name])
            ok.append(name)
        except ImportError as exc:
            missing[name] = str(exc)
    return ok, missing


# ---------------------------------------------------------------------------------------------


def parse_sizes(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        a, _, b = part.partition("-")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--data",
        type=Path,
        default=None,
        help="tsppdlib folder (default: $O2O_TSPPDLIB_DIR or ../shared/data/tsppdlib)",
    )
    ap.add_argument("--sizes", default="2-15", help="pair counts, e.g. 2-10 or 5,8,15 (default 2-15)")
    ap.add_argument(
        "--max-labels", type=int, default=20_000_000, help="stop the exact DP past this many states in a layer"
    )
    ap.add_argument("--exact-max-pairs", type=int, default=15, help="try the exact DP up to this many pairs")
    ap.add_argument("--libs", default=",".join(LIBS), help=f"libraries to compare, of {','.join(LIBS)}; '' for none")
    ap.add_argument(
        "--lib-seconds", type=float, default=1.0, help="time limit for OR-Tools GLS and PyVRP (default 1 s)"
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", action="store_true", help="one JSON object per instance, then one per size")
    args = ap.parse_args()

    data_dir = args.data or default_data_dir()
    sizes = set(parse_sizes(args.sizes))
    paths = [p for p in instance_paths(data_dir) if int(p.stem.split("-")[1]) in sizes]
    if not paths:
        sys.exit(f"no TSPPD instances found in {data_dir}")
    libs, missing = available_libs([x for x in args.libs.split(",") if x])
    if not args.json:
        print(f"# {len(paths)} instances from {data_dir}; Python {platform.python_version()} on {platform.machine()}")
        for name, why in missing.items():
            print(f"# {name}: not measured ({why})")

    for name in libs:  # imports and first-call set-up out of the timings
        try:
            run_lib(name, load_instance(paths[0]), 0.05)
        except Exception as exc:
            print(f"# {name}: warm-up failed ({exc!r})", file=sys.stderr)

    rows = []
    for path in paths:
        inst = load_instance(path)
        problem = inst.problem()
        row: dict = {"instance": inst.name, "pairs": inst.size}
        t0 = time.perf_counter()
        heur = solve_heuristic(problem, seed=args.seed)
        row["heuristic_s"] = time.perf_counter() - t0
        row["heuristic"] = heur.cost
        row["insertion"] = simple_insertion(problem).cost
        if inst.size <= args.exact_max_pairs:
            t0 = time.perf_counter()
            route, bound = exact_or_bound(problem, max_labels=args.max_labels, seed=args.seed)
            row["exact_s"] = time.perf_counter() - t0
            row["optimal"] = route.optimal
            row["best"] = min(route.cost, heur.cost)
            row["lower_bound"] = bound
        else:
            row["optimal"] = False
            row["best"] = heur.cost
            row["lower_bound"] = min(heur.lower_bound or 0.0, heur.cost)
        row["heuristic_gap"] = (heur.cost - row["lower_bound"]) / row["lower_bound"]
        for name in libs:
            try:
                secs, cost = run_lib(name, inst, args.lib_seconds)
                row[f"{name}_s"], row[name] = secs, cost
                row[f"{name}_gap"] = (cost - row["lower_bound"]) / row["lower_bound"]
                if row["optimal"] and cost < row["lower_bound"] - 1e-6:
                    raise AssertionError(f"{name} beat a proven optimum on {inst.name}")
            except Exception as exc:  # a library failure is reported, not fatal
                row[f"{name}_error"] = repr(exc)
        rows.append(row)
        if args.json:
            print(json.dumps(row), flush=True)
        else:
            print(f"# {inst.name}: " + _short(row, libs), file=sys.stderr, flush=True)

    by_size: dict[int, list[dict]] = defaultdict(list)
    for row in rows:
        by_size[row["pairs"]].append(row)
    summary = [_summarise(n, rs, libs) for n, rs in sorted(by_size.items())]
    if args.json:
        for s in summary:
            print(json.dumps(s))
        return
    _print_tables(summary, libs, args)


def _short(row: dict, libs: list[str]) -> str:
    parts = [
        f"best {row['best']:.0f}{'*' if row['optimal'] else ''}",
        f"heur {row['heuristic']:.0f} ({row['heuristic_s']:.2f}s)",
    ]
    if "exact_s" in row:
        parts.append(f"exact {row['exact_s']:.2f}s")
    for name in libs:
        if name in row:
            parts.append(f"{name} {row[name]:.0f} ({row[name + '_s']:.2f}s)")
    return ", ".join(parts)


def _summarise(n: int, rows: list[dict], libs: list[str]) -> dict:
    def stats(key: str) -> tuple[float, float] | None:
        vals = [r[key] for r in rows if key in r]
        return (statistics.fmean(vals), max(vals)) if vals else None

    known = [r for r in rows if r["optimal"]]
    out: dict = {
        "pairs": n,
        "instances": len(rows),
        "proven_optimal": len(known),
        "exact_s": stats("exact_s"),
        "heuristic_s": stats("heuristic_s"),
        "heuristic_opt_hits": sum(r["heuristic"] <= r["best"] + 1e-9 for r in known),
        "heuristic_gap_vs_opt": _gap(known, "heuristic"),
        "heuristic_gap_vs_bound": _gap([r for r in rows if not r["optimal"]], "heuristic"),
        "insertion_gap_vs_opt": _gap(known, "insertion"),
    }
    for name in libs:
        ok = [r for r in known if name in r]
        out[name] = {
            "s": stats(f"{name}_s"),
            "gap_vs_opt": _gap(ok, name),
            "opt_hits": sum(r[name] <= r["best"] + 1e-9 for r in ok),
            "errors": sum(f"{name}_error" in r for r in rows),
        }
    return out


def _gap(rows: list[dict], key: str) -> tuple[float, float] | None:
    gaps = [(r[key] - r["lower_bound"]) / r["lower_bound"] for r in rows if key in r]
    return (statistics.fmean(gaps), max(gaps)) if gaps else None


def _fmt_pair(v: tuple[float, float] | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    if pct:
        return f"{100 * v[0]:.2f}/{100 * v[1]:.2f}"
    return f"{v[0]:.3f}/{v[1]:.3f}"


def _print_tables(summary: list[dict], libs: list[str], args: argparse.Namespace) -> None:
    print()
    print("Ours. Times: mean/max seconds. Gaps: mean/max % above the proven optimum (or, where none, the bound).")
    head = f"{'pairs':>5} {'opt':>5} {'exact s':>15} {'heuristic s':>13} {'heur=opt':>8} {'heur gap %':>11} {'gap vs bound %':>14} {'insertion gap %':>15}"
    print(head)
    print("-" * len(head))
    for s in summary:
        print(
            f"{s['pairs']:>5} {s['proven_optimal']:>2}/{s['instances']:<2} {_fmt_pair(s['exact_s']):>15} "
            f"{_fmt_pair(s['heuristic_s']):>13} {s['heuristic_opt_hits']:>5}/{s['proven_optimal']:<2} "
            f"{_fmt_pair(s['heuristic_gap_vs_opt'], True):>11} {_fmt_pair(s['heuristic_gap_vs_bound'], True):>14} "
            f"{_fmt_pair(s['insertion_gap_vs_opt'], True):>15}"
        )
    if not libs:
        return
    print()
    print(
        f"Libraries on the same instances (time limit {args.lib_seconds:g} s where one applies; gaps vs the proven optimum)."
    )
    head = f"{'pairs':>5} " + " ".join(f"{name + ' s':>13} {name + ' =opt':>11} {name + ' gap %':>13}" for name in libs)
    print(head)
    print("-" * len(head))
    for s in summary:
        cells = []
        for name in libs:
            lib = s[name]
            err = f" ({lib['errors']} failed)" if lib["errors"] else ""
            cells.append(
                f"{_fmt_pair(lib['s']):>13} {lib['opt_hits']:>7}/{s['proven_optimal']:<3} {_fmt_pair(lib['gap_vs_opt'], True):>13}{err}"
            )
        print(f"{s['pairs']:>5} " + " ".join(cells))


if __name__ == "__main__":
    main()
