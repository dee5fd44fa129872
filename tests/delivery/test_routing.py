"""delivery.routing: the single-courier route planner (pure, no database)."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from o2o.delivery.routing import (
    Order,
    Problem,
    brute_force,
    default_data_dir,
    exact_or_bound,
    instance_paths,
    load_instance,
    parse_json,
    parse_tsplib,
    plan_route,
    simple_insertion,
    solve_exact,
    solve_heuristic,
)

DATA = default_data_dir()
needs_data = pytest.mark.skipif(not instance_paths(DATA), reason=f"no TSPPD instances in {DATA}")


def random_problem(
    rng: random.Random,
    n_orders: int,
    *,
    objective: str = "distance",
    symmetric: bool = False,
    timed: bool = False,
    on_board: bool = False,
    shared_nodes: bool = False,
) -> Problem:
    """Random points on a grid (some coinciding when shared_nodes), travel = rounded distance,
    perturbed when asymmetric; optional ready times, service times and orders already on board."""
    n_nodes = 1 + 2 * n_orders
    grid = 4 if shared_nodes else 60
    pts = [(rng.randint(0, grid), rng.randint(0, grid)) for _ in range(n_nodes)]
    travel = [[0.0] * n_nodes for _ in range(n_nodes)]
    for a in range(n_nodes):
        for b in range(n_nodes):
            if a != b:
                d = round(((pts[a][0] - pts[b][0]) ** 2 + (pts[a][1] - pts[b][1]) ** 2) ** 0.5)
                travel[a][b] = d if symmetric else d + rng.randint(0, 5)
    if shared_nodes:  # coinciding points are one node: the planner must treat them as one place
        canon = {}
        node_of = [canon.setdefault(p, i) for i, p in enumerate(pts)]
    else:
        node_of = list(range(n_nodes))
    orders = []
    for i in range(n_orders):
        pickup = None if on_board and rng.random() < 0.4 else node_of[1 + 2 * i]
        ready = rng.randint(0, 80) if timed and rng.random() < 0.7 else None
        orders.append(Order(dropoff=node_of[2 + 2 * i], pickup=pickup, ready=ready, key=f"o{i}"))
    return Problem(
        travel=travel,
        start=0,
        orders=orders,
        start_time=rng.randint(0, 10) if timed else 0.0,
        pickup_service=4.0 if timed else 0.0,
        dropoff_service=rng.choice([4.0, 2.0]) if timed else 0.0,
        objective=objective,  # type: ignore[arg-type]
    )


def assert_feasible(problem: Problem, route) -> None:
    """Every stop once, every pickup before its drop-off, and the reported figures recomputed."""
    seen: dict[tuple[int, str], int] = {}
    for k, stop in enumerate(route.stops):
        assert (stop.order, stop.kind) not in seen
        seen[(stop.order, stop.kind)] = k
    for i, order in enumerate(problem.orders):
        assert (i, "dropoff") in seen
        if order.pickup is not None:
            assert seen[(i, "pickup")] < seen[(i, "dropoff")]
        else:
            assert (i, "pickup") not in seen
    again = problem.evaluate(route.sequence)
    assert again.cost == pytest.approx(route.cost)
    assert again.stops == route.stops
    times = [s.time for s in route.stops]
    for s in route.stops:
        assert s.arrival <= s.time <= s.departure
        order = problem.orders[s.order]
        if s.kind == "pickup" and order.ready is not None:
            assert s.time >= order.ready
    assert times == sorted(times) or problem.pickup_service != problem.dropoff_service


# ---------------------------------------------------------------------------------------------
# The MDRP time rules and the API
# ---------------------------------------------------------------------------------------------


def test_times_follow_the_mdrp_service_rule() -> None:
    # nodes: 0 courier, 1 restaurant, 2 and 3 customers
    travel = [[0, 10, 30, 30], [10, 0, 7, 9], [30, 7, 0, 5], [30, 9, 5, 0]]
    problem = Problem(
        travel=travel,
        start=0,
        orders=[Order(dropoff=2, pickup=1, ready=25, key="a"), Order(dropoff=3, pickup=1, ready=15, key="b")],
        start_time=100 - 100,
        pickup_service=4,
        dropoff_service=4,
        objective="completion",
    )
    route = problem.evaluate([(1, "pickup"), (0, "pickup"), (1, "dropoff"), (0, "dropoff")])
    a, b, c, d = route.stops
    # arrive at 10, pickup of b at max(15, 10 + 2) = 15; a continues the same visit: max(25, 15) = 25
    assert (a.key, a.arrival, a.time, a.departure) == ("b", 10, 15, 17)
    assert (b.key, b.arrival, b.time, b.departure) == ("a", 10, 25, 27)
    # drop-off at arrival + 2, leave 2 minutes later
    assert (c.key, c.arrival, c.time, c.departure) == ("b", 36, 38, 40)
    assert (d.key, d.arrival, d.time, d.departure) == ("a", 45, 47, 49)
    assert (route.distance, route.completion, route.total_dropoff, route.cost) == (24, 49, 85, 49)


def test_evaluate_refuses_infeasible_sequences() -> None:
    problem = Problem(travel=[[0, 1, 1], [1, 0, 1], [1, 1, 0]], start=0, orders=[Order(dropoff=2, pickup=1)])
    with pytest.raises(ValueError, match="before its pickup"):
        problem.evaluate([(0, "dropoff"), (0, "pickup")])
    with pytest.raises(ValueError, match="stops"):
        problem.evaluate([(0, "pickup")])
    with pytest.raises(ValueError, match="twice"):
        problem.evaluate([(0, "pickup"), (0, "pickup")])
    with pytest.raises(ValueError, match="no pickup"):
        Problem(travel=[[0, 1], [1, 0]], start=0, orders=[Order(dropoff=1)]).evaluate([(0, "pickup")])
    with pytest.raises(ValueError, match="objective"):
        Problem(travel=[[0]], start=0, orders=[], objective="fastest")  # type: ignore[arg-type]


def test_empty_bundle_and_orders_on_board() -> None:
    empty = plan_route(Problem(travel=[[0]], start=0, orders=[]))
    assert (empty.stops, empty.cost, empty.optimal) == ((), 0.0, True)
    # both orders already picked up: only the drop-offs are sequenced
    travel = [[0, 5, 9], [5, 0, 3], [9, 3, 0]]
    route = plan_route(Problem(travel=travel, start=0, orders=[Order(dropoff=2), Order(dropoff=1)]))
    assert route.sequence == [(1, "dropoff"), (0, "dropoff")]
    assert (route.cost, route.optimal, route.gap, route.method) == (8, True, 0.0, "exact")


def test_plan_route_is_exact_up_to_the_limit_and_heuristic_above() -> None:
    rng = random.Random(7)
    problem = random_problem(rng, 5)
    exact = plan_route(problem, exact_max_orders=5)
    assert exact.optimal and exact.method == "exact" and exact.lower_bound == exact.cost
    heur = plan_route(problem, exact_max_orders=4)
    assert heur.method == "heuristic" and not heur.optimal
    assert heur.lower_bound is not None and heur.lower_bound <= exact.cost <= heur.cost
    assert heur.gap is not None and heur.gap >= 0


# ---------------------------------------------------------------------------------------------
# Exact: the DP against brute force
# ---------------------------------------------------------------------------------------------

CASES = [
    # (objective, options)
    ("distance", {}),
    ("distance", {"symmetric": True, "shared_nodes": True}),
    ("distance", {"on_board": True}),
    ("completion", {"timed": True}),
    ("completion", {"timed": True, "shared_nodes": True, "on_board": True}),
    ("total_dropoff", {"timed": True}),
    ("total_dropoff", {"timed": True, "shared_nodes": True, "on_board": True}),
    ("total_dropoff", {}),
]


@pytest.mark.parametrize(("objective", "options"), CASES)
def test_exact_equals_brute_force(objective: str, options: dict) -> None:
    rng = random.Random(hash((objective, tuple(sorted(options)))) & 0xFFFF)
    for trial in range(14):
        n = 1 + trial % 4  # up to 4 orders: 8 stops, 8! orders to try
        problem = random_problem(rng, n, objective=objective, **options)
        best = brute_force(problem)
        engines = ["python", "numpy"] if objective != "total_dropoff" else ["python"]
        for engine in engines:
            # a deliberately poor upper bound (the simple insertion) so the DP must do the work
            route = solve_exact(problem, engine=engine, upper_bound=simple_insertion(problem))
            assert route is not None and route.optimal
            assert route.cost == pytest.approx(best.cost), (trial, engine)
            assert_feasible(problem, route)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10**6),
    n=st.integers(0, 4),
    objective=st.sampled_from(["distance", "completion", "total_dropoff"]),
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
)
def test_property_routes_are_feasible_and_ordered_by_quality(seed: int, n: int, objective: str, flags: tuple) -> None:
    timed, on_board, shared, symmetric = flags
    problem = random_problem(
        random.Random(seed),
        n,
        objective=objective,
        timed=timed,
        on_board=on_board,
        shared_nodes=shared,
        symmetric=symmetric,
    )
    routes = [plan_route(problem), solve_heuristic(problem, iterations=5), simple_insertion(problem)]
    for route in routes:
        assert_feasible(problem, route)
    best, heur, insertion = routes
    assert best.optimal
    assert best.cost <= heur.cost + 1e-9 <= insertion.cost + 2e-9
    assert heur.lower_bound is not None and heur.lower_bound <= best.cost + 1e-9


def test_numpy_and_python_engines_agree_on_larger_bundles() -> None:
    rng = random.Random(11)
    for objective, timed in [("distance", False), ("completion", True)]:
        for _ in range(3):
            problem = random_problem(rng, 6, objective=objective, timed=timed, shared_nodes=True)
            insertion = simple_insertion(problem)
            a = solve_exact(problem, engine="python", upper_bound=insertion)
            b = solve_exact(problem, engine="numpy", upper_bound=insertion)
            assert a is not None and b is not None
            assert a.cost == pytest.approx(b.cost)


def test_lower_bounds_never_exceed_the_optimum() -> None:
    rng = random.Random(3)
    for objective, options in CASES:
        for _ in range(4):
            problem = random_problem(rng, 4, objective=objective, **options)
            best = solve_exact(problem)
            assert best is not None
            assert problem._model.root_bound() <= best.cost + 1e-9
            # a DP stopped early proves a bound of its own
            route, bound = exact_or_bound(problem, max_labels=3, upper_bound=simple_insertion(problem))
            assert bound <= best.cost + 1e-9
            if not route.optimal:
                assert route.lower_bound == bound


# ---------------------------------------------------------------------------------------------
# Heuristic
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("objective", "options"), CASES)
def test_heuristic_is_feasible_no_worse_than_insertion_and_mostly_optimal(objective: str, options: dict) -> None:
    rng = random.Random(len(objective) * 31 + len(options))
    hits = trials = 0
    for trial in range(8):
        n = 3 + trial % 4
        problem = random_problem(rng, n, objective=objective, **options)
        heur = solve_heuristic(problem, iterations=30)
        assert_feasible(problem, heur)
        assert heur.cost <= simple_insertion(problem).cost + 1e-9
        exact = solve_exact(problem, upper_bound=heur)
        assert exact is not None and exact.cost <= heur.cost + 1e-9
        assert heur.lower_bound is not None and heur.lower_bound <= exact.cost + 1e-9
        trials += 1
        hits += heur.cost <= exact.cost + 1e-9
    assert hits >= trials - 1


def test_results_are_deterministic() -> None:
    for seed in (1, 2):
        a = solve_heuristic(random_problem(random.Random(5), 7, objective="completion", timed=True), seed=seed)
        b = solve_heuristic(random_problem(random.Random(5), 7, objective="completion", timed=True), seed=seed)
        assert a == b
    p = random_problem(random.Random(9), 6, shared_nodes=True, symmetric=True)  # ties everywhere
    assert solve_exact(p, engine="numpy") == solve_exact(p, engine="numpy")
    assert solve_exact(p, engine="python") == solve_exact(p, engine="python")


# ---------------------------------------------------------------------------------------------
# The Grubhub TSPPD instances
# ---------------------------------------------------------------------------------------------


@needs_data
def test_instance_formats_agree_for_all_140() -> None:
    tsp = instance_paths(DATA, "tsp")
    js = instance_paths(DATA, "json")
    assert len(tsp) == len(js) == 140
    assert [p.stem for p in tsp] == [p.stem for p in js]
    assert tsp[0].stem == "grubhub-02-0" and tsp[-1].stem == "grubhub-15-9"
    for a_path, b_path in zip(tsp, js, strict=True):
        a = parse_tsplib(a_path.read_text())
        b = parse_json(b_path.read_text())
        assert a == b
        n = int(a.name.split("-")[1])
        assert a.size == n and len(a.labels) == 2 * n + 2
        assert all(row[a.end] == 0 for row in a.weights)  # the free end
        assert all(a.weights[i][j] == a.weights[j][i] for i in range(2 * n + 2) for j in range(i))


@needs_data
def test_parse_tsplib_reads_the_file_layout() -> None:
    inst = load_instance(instance_paths(DATA)[0])
    assert inst.name == "grubhub-02-0"
    assert inst.labels == ("+0", "-0", "+1", "-1", "+2", "-2")
    assert inst.weights[2][0] == 389 and inst.weights[5][4] == 741 and inst.weights[3][2] == 641
    assert (inst.start, inst.end, inst.pairs) == (0, 1, ((2, 3), (4, 5)))
    assert inst.tour_cost(["+0", "+1", "-1", "+2", "-2", "-0"]) == 389 + 641 + 1443 + 741
    with pytest.raises(ValueError, match="delivery before its pickup"):
        inst.tour_cost(["+0", "-1", "+1", "+2", "-2", "-0"])


def test_parse_tsplib_rejects_broken_files() -> None:
    text = "NAME: x\nDIMENSION: 4\nEDGE_WEIGHT_TYPE: EXPLICIT\nEDGE_WEIGHT_FORMAT: LOWER_DIAG_ROW\nEDGE_WEIGHT_SECTION\n0\n0 0\n1 0 0\n"
    with pytest.raises(ValueError, match="too few edge weights"):
        parse_tsplib(text + "NODE_COORD_SECTION\n+0 0 0\n-0 0 0\n+1 0 0\n-1 0 0\n")
    full = text + "2 0 3 0\nNODE_COORD_SECTION\n+0 0 0\n-0 0 0\n+1 0 0\n-1 0 0\nPRECEDENCE_SECTION\n+0 -0\n+1 -1\nEOF\n"
    inst = parse_tsplib(full)
    assert inst.pairs == ((2, 3),) and inst.weights[3][2] == 3
    with pytest.raises(ValueError, match="pairs"):
        parse_tsplib(full.replace("+1 -1\n", ""))


@needs_data
def test_exact_on_the_smallest_instances_matches_brute_force() -> None:
    for path in instance_paths(DATA)[:30]:  # 2, 3 and 4 pairs
        inst = load_instance(path)
        problem = inst.problem()
        best = brute_force(problem)
        route = plan_route(problem)
        assert route.optimal and route.cost == best.cost
        assert inst.tour_cost(inst.tour_labels(route)) == route.cost


@needs_data
def test_heuristic_finds_the_optimum_on_the_instances_up_to_six_pairs() -> None:
    paths = [p for p in instance_paths(DATA) if int(p.stem.split("-")[1]) <= 6]
    assert len(paths) == 50
    for path in paths:
        problem = load_instance(path).problem()
        heur = solve_heuristic(problem)
        exact = solve_exact(problem, engine="python", upper_bound=simple_insertion(problem))
        assert exact is not None
        assert heur.cost == exact.cost, path.stem
        assert heur.cost <= simple_insertion(problem).cost
