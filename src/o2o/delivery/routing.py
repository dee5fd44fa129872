"""The route planner for one courier: the best order of pickups and drop-offs for a bundle.

Pure: no database, no web. The dispatch engine asks it for a courier's sequence of stops; the
benchmark (`benchmarks/tsppd.py`) runs it on the Grubhub TSPPD instances.

The problem. A courier stands at `start` (a node of the `travel` matrix) at `start_time`. Each
`Order` has a drop-off node and, unless it is already on board, a pickup node that must come
before its drop-off, with an optional ready time (the pickup cannot happen earlier). Service
times follow the MDRP rule: a stop's service is split in two halves, the event (pickup or
drop-off) happens half-way, so

    pickup   = max(ready, arrival + pickup_service / 2)    leave = pickup + pickup_service / 2
    drop-off = arrival + dropoff_service / 2              leave = drop-off + dropoff_service / 2

Consecutive stops at the same node are one visit: the courier parks once (two orders picked up
at one restaurant cost one pickup service, waiting for the later ready time). The route ends at
its last stop (open end), which is the TSPPD's free end `-0`.

Objectives (`Problem.objective`):
- "distance": the sum of travel along the route (the pure TSPPD cost);
- "completion": the time the courier leaves the last stop (free again);
- "total_dropoff": the sum of the drop-off times (with placement times fixed, the sum of
  click-to-door times).

Algorithms.
- Exact: dynamic programming over (set of stops done, last stop), Held-Karp restricted to the
  sets closed under precedence (3**n of them for n pairs instead of 4**n), with bounding: an
  upper bound from a heuristic route, and lower bounds per state on the rest of the route (the
  remaining stops' cheapest admissible in-arcs; the cheapest out-arcs; and, on the numpy engine,
  the cheapest in-arcs from stops still open, which prunes most), so states that cannot beat the
  upper bound are never kept. Up to 12 stops it runs in plain Python dicts; above, one layer
  (number of stops done) at a time on numpy arrays. When nothing beats the upper bound, that
  route is proven optimal. For "distance" and "completion" one label per state is exact
  (waiting is allowed, so arriving earlier never hurts); for "total_dropoff" a state keeps its
  Pareto set of (sum so far, time) labels. A layer past `max_labels` states stops the DP, which
  then still proves a lower bound (the best cost-plus-bound of that layer).
- Heuristic: global cheapest insertion, then local search (relocate a stop, relocate an order's
  pickup and drop-off together, reverse a segment holding no whole order: every move keeps
  precedence; O(1) cost changes for "distance"), then a seeded iterated local search (remove a
  few orders, reinsert them, search again, accept up to 1 % worse), then, for "distance" and
  "completion", a restricted DP (the exact DP keeping only its `beam` most promising states per
  layer, pruned by the route so far) polished by local search. Deterministic for a given seed.
- Lower bound without the DP: the root bound (in-arcs or out-arcs of every stop; ready times
  for "total_dropoff"); it is weak: 28 % under the optimum on average on the TSPPD instances.

`plan_route(problem)` picks: exact up to `exact_max_orders` orders, the heuristic above; every
Route says whether it is proven `optimal`, its `lower_bound` and its `gap`.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import re
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

Objective = Literal["distance", "completion", "total_dropoff"]
OBJECTIVES: tuple[str, ...] = ("distance", "completion", "total_dropoff")

_INF = math.inf
_EPS = 1e-9
_ACCEPT = 0.01  # the iterated local search accepts routes up to 1 % worse than its current one
_INF_LABELS = 1 << 62


# --------------------------------------------------------------------------------------------
# Problem and route
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Order:
    """One order of the bundle: nodes are indices into the problem's travel matrix."""

    dropoff: int
    pickup: int | None = None  # None: already picked up, only the drop-off is left
    ready: float | None = None  # earliest pickup time (ignored when pickup is None)
    key: Hashable = None  # the caller's id, echoed back in each Stop


@dataclass(frozen=True, slots=True)
class Stop:
    order: int  # index into Problem.orders
    kind: Literal["pickup", "dropoff"]
    node: int
    arrival: float
    time: float  # the pickup or drop-off itself
    departure: float
    key: Hashable = None


@dataclass(frozen=True, slots=True)
class Route:
    stops: tuple[Stop, ...]
    cost: float  # the value of the problem's objective
    distance: float
    completion: float  # departure from the last stop
    total_dropoff: float  # sum of the drop-off times
    optimal: bool  # proven optimal for the objective
    lower_bound: float | None  # a proven bound on the optimal cost, when one is known
    method: str  # "exact" or "heuristic"

    @property
    def sequence(self) -> list[tuple[int, str]]:
        """The route as (order index, "pickup" | "dropoff") pairs: the form `evaluate` takes."""
        return [(s.order, s.kind) for s in self.stops]

    @property
    def gap(self) -> float | None:
        """(cost - lower bound) / lower bound; 0.0 when optimal; None without a bound."""
        if self.optimal:
            return 0.0
        if self.lower_bound is None or self.lower_bound <= 0:
            return None
        return max(0.0, (self.cost - self.lower_bound) / self.lower_bound)


@dataclass(frozen=True)
class Problem:
    """One courier, one bundle of orders: what the planner needs, nothing more.

    `travel[a][b]` is the travel cost (time, for the time objectives) from node a to node b; it
    need not be symmetric nor obey the triangle inequality.
    """

    travel: Sequence[Sequence[float]]
    start: int
    orders: Sequence[Order]
    start_time: float = 0.0
    pickup_service: float = 0.0
    dropoff_service: float = 0.0
    objective: Objective = "distance"
    _model: _Model = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"unknown objective {self.objective!r}; expected one of {OBJECTIVES}")
        object.__setattr__(self, "_model", _Model(self))

    def evaluate(self, sequence: Sequence[tuple[int, str]]) -> Route:
        """The route for a given order of stops; raises ValueError if it is not feasible."""
        model = self._model
        stops = []
        seen: set[int] = set()
        for order, kind in sequence:
            k = model.stop_index.get((order, kind))
            if k is None:
                raise ValueError(f"no {kind} stop for order {order}")
            if k in seen:
                raise ValueError(f"stop {kind} of order {order} visited twice")
            if model.pre[k] >= 0 and model.pre[k] not in seen:
                raise ValueError(f"drop-off of order {order} before its pickup")
            seen.add(k)
            stops.append(k)
        if len(stops) != model.m:
            raise ValueError(f"the sequence has {len(stops)} stops, the problem {model.m}")
        return model.route(stops, optimal=False, lower_bound=None, method="given")


class _Model:
    """The problem compiled to stops: stop 2i-ish per order, index m stands for the start."""

    def __init__(self, problem: Problem) -> None:
        self.objective = problem.objective
        self.problem = problem
        self.start_time = float(problem.start_time)
        half_p = problem.pickup_service / 2.0
        half_d = problem.dropoff_service / 2.0
        node: list[int] = []
        pre: list[int] = []
        post: list[int] = []
        ready: list[float] = []
        half: list[float] = []
        is_drop: list[bool] = []
        owner: list[int] = []
        self.stop_index: dict[tuple[int, str], int] = {}
        for i, order in enumerate(problem.orders):
            p = -1
            if order.pickup is not None:
                p = len(node)
                self.stop_index[(i, "pickup")] = p
                node.append(order.pickup)
                pre.append(-1)
                post.append(p + 1)
                ready.append(-_INF if order.ready is None else float(order.ready))
                half.append(half_p)
                is_drop.append(False)
                owner.append(i)
            d = len(node)
            self.stop_index[(i, "dropoff")] = d
            node.append(order.dropoff)
            pre.append(p)
            post.append(-1)
            ready.append(-_INF)
            half.append(half_d)
            is_drop.append(True)
            owner.append(i)
        m = len(node)
        self.m = m
        self.node = [*node, problem.start]
        self.pre, self.post, self.ready, self.half = pre, post, ready, half
        self.is_drop, self.owner = is_drop, owner
        self.n_orders = len(problem.orders)
        self.n_drops = sum(is_drop)
        travel = problem.travel
        # C[u][v]: travel from stop u (or the start, u == m) to stop v
        self.C = [[float(travel[self.node[u]][node[v]]) for v in range(m)] for u in range(m + 1)]
        # same[u][v]: v continues u's visit (same node, u a real stop)
        self.same = [[u < m and self.node[u] == node[v] for v in range(m)] for u in range(m + 1)]
        self.has_ready = any(r > -_INF for r in ready)
        # cheapest admissible arc into each stop: from the start (a pickup, or an order on board),
        # from any other stop but its own drop-off (for a pickup)
        minin = []
        for v in range(m):
            best = _INF
            for u in range(m + 1):
                if u == v or (u == m and pre[v] >= 0) or (u < m and u == post[v]):
                    continue
                best = min(best, self.C[u][v])
            minin.append(0.0 if best == _INF else best)
        self.minin = minin
        # cheapest admissible arc out of each stop (and the start): every remaining stop but the
        # route's last (a drop-off) leaves by one, and so does the current stop
        minout = []
        for u in range(m + 1):
            best = _INF
            for v in range(m):
                if v == u or (u == m and pre[v] >= 0) or (u < m and v == pre[u]):
                    continue
                best = min(best, self.C[u][v])
            minout.append(0.0 if best == _INF else best)
        self.minout = minout
        self.end_out = max((minout[v] for v in range(m) if is_drop[v]), default=0.0)
        # stops that share their node with another stop may continue its visit (no travel, no
        # new parking), and with unequal service halves their departure can even be earlier
        shared = [sum(1 for w in range(m) if node[w] == node[v]) > 1 for v in range(m)]
        max_half = max(half, default=0.0)
        slack = max_half - min(half, default=0.0)
        # additive per-stop bound on what is left to pay, for the single-label objectives
        if self.objective == "distance":
            self.lbw = list(minin)
        else:
            self.lbw = [half[v] - max_half if shared[v] else minin[v] + 2.0 * half[v] for v in range(m)]
        # for total_dropoff: a drop-off happens at least its cheapest arc plus half a service after
        # the courier leaves the current stop, and after its pickup's ready time
        self.drop_lag = [-max_half if shared[v] else minin[v] + half[v] - slack for v in range(m)]
        self.drop_ready = [-_INF] * m
        for v in range(m):
            p = pre[v]
            if p >= 0 and ready[p] > -_INF:
                self.drop_ready[v] = ready[p] + (0.0 if shared[v] else minin[v] + half[v])

    # -- evaluation -----------------------------------------------------------------------------

    def step(self, last: int, t: float, v: int) -> tuple[float, float]:
        """Going from `last` (left at time t) to stop v: (event time at v, departure from v)."""
        event = t - self.half[last] if self.same[last][v] else t + self.C[last][v] + self.half[v]
        r = self.ready[v]
        if event < r:
            event = r
        return event, event + self.half[v]

    def walk(self, seq: Sequence[int]) -> tuple[float, float, float]:
        """(distance, completion, total drop-off time) of a sequence of stop indices."""
        last = self.m
        t = self.start_time
        dist = 0.0
        total = 0.0
        C = self.C
        for v in seq:
            dist += C[last][v]
            event, t = self.step(last, t, v)
            if self.is_drop[v]:
                total += event
            last = v
        return dist, t, total

    def cost(self, seq: Sequence[int]) -> float:
        if self.objective == "distance":
            C = self.C
            last = self.m
            dist = 0.0
            for v in seq:
                dist += C[last][v]
                last = v
            return dist
        dist, completion, total = self.walk(seq)
        return completion if self.objective == "completion" else total

    def feasible(self, seq: Sequence[int]) -> bool:
        if sorted(seq) != list(range(self.m)):
            return False
        pos = {v: i for i, v in enumerate(seq)}
        return all(self.pre[v] < 0 or pos[self.pre[v]] < pos[v] for v in range(self.m))

    def route(self, seq: Sequence[int], *, optimal: bool, lower_bound: float | None, method: str) -> Route:
        last = self.m
        t = self.start_time
        dist = total = 0.0
        stops = []
        orders = self.problem.orders
        arrival = t
        for v in seq:
            c = self.C[last][v]
            dist += c
            if not self.same[last][v]:  # else the same visit goes on: it began at that arrival
                arrival = t + c
            event, t = self.step(last, t, v)
            if self.is_drop[v]:
                total += event
            i = self.owner[v]
            kind: Literal["pickup", "dropoff"] = "dropoff" if self.is_drop[v] else "pickup"
            stops.append(Stop(i, kind, self.node[v], arrival, event, t, orders[i].key))
            last = v
        completion = t
        cost = {"distance": dist, "completion": completion, "total_dropoff": total}[self.objective]
        if optimal:
            lower_bound = cost
        return Route(tuple(stops), cost, dist, completion, total, optimal, lower_bound, method)

    def sorted_preds(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """For each stop: its admissible predecessors (the start is m) by increasing arc cost."""
        out = []
        for v in range(self.m):
            us = [
                u
                for u in range(self.m + 1)
                if not (u == v or (u == self.m and self.pre[v] >= 0) or (u < self.m and u == self.post[v]))
            ]
            us.sort(key=lambda u: (self.C[u][v], u))
            out.append((np.array(us, dtype=np.int64), np.array([self.C[u][v] for u in us])))
        return out

    def root_bound(self) -> float:
        """A bound on the optimal cost that needs no search."""
        if self.objective == "distance":
            if self.m == 0:
                return 0.0
            return max(sum(self.minin), self.minout[self.m] + sum(self.minout[: self.m]) - self.end_out)
        if self.objective == "completion":
            return self.start_time + sum(self.lbw)
        bound = 0.0
        for v in range(self.m):
            if self.is_drop[v]:
                bound += max(self.start_time + self.drop_lag[v], self.drop_ready[v])
        return bound


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def plan_route(
    problem: Problem,
    *,
    exact_max_orders: int | None = None,
    max_labels: int = 500_000,
    iterations: int | None = None,
    seed: int = 0,
) -> Route:
    """The best route found: proven optimal up to `exact_max_orders` orders (default 8, and 6
    for total_dropoff, whose DP keeps several labels per state), unless a DP layer would pass
    `max_labels` states; heuristic above."""
    if exact_max_orders is None:
        exact_max_orders = 6 if problem.objective == "total_dropoff" else 8
    if len(problem.orders) <= exact_max_orders:
        route = solve_exact(problem, max_labels=max_labels, iterations=iterations, seed=seed)
        if route is not None:
            return route
    return solve_heuristic(problem, iterations=iterations, seed=seed)


def solve_exact(
    problem: Problem,
    *,
    max_labels: int = 4_000_000,
    engine: Literal["auto", "python", "numpy"] = "auto",
    upper_bound: Route | None = None,
    iterations: int | None = None,
    seed: int = 0,
) -> Route | None:
    """The optimal route, proven; None when a DP layer would exceed `max_labels` states.

    `upper_bound` (a feasible route, by default the heuristic's) prunes the search; when nothing
    beats it, it is returned marked optimal.
    """
    route, _ = exact_or_bound(
        problem, max_labels=max_labels, engine=engine, upper_bound=upper_bound, iterations=iterations, seed=seed
    )
    return route if route.optimal else None


def exact_or_bound(
    problem: Problem,
    *,
    max_labels: int = 4_000_000,
    engine: Literal["auto", "python", "numpy"] = "auto",
    upper_bound: Route | None = None,
    iterations: int | None = None,
    seed: int = 0,
) -> tuple[Route, float]:
    """Run the bounded DP: (best route, proven lower bound). The route is marked optimal when the
    DP completed; otherwise it is the heuristic's, with the bound the DP proved before stopping."""
    model = problem._model
    if model.m == 0:
        return model.route([], optimal=True, lower_bound=None, method="exact"), 0.0
    if upper_bound is None:
        if model.m <= 16:  # the DP is quick here: a quick route suffices
            upper_bound = solve_heuristic(problem, iterations=iterations or 0, beam=None, seed=seed)
        else:  # every state the DP does not keep is time saved: start from a good route
            upper_bound = solve_heuristic(problem, iterations=iterations, seed=seed)
    ub_route = upper_bound
    ub_seq = [model.stop_index[(o, k)] for o, k in ub_route.sequence]
    ub = model.cost(ub_seq)
    if engine == "auto":
        engine = "python" if model.objective == "total_dropoff" or model.m <= 12 else "numpy"
    if engine == "numpy" and model.objective == "total_dropoff":
        raise ValueError("the numpy engine keeps one label per state; total_dropoff needs the python engine")
    if engine == "numpy":
        found, bound = _dp_numpy(model, ub, max_labels)
    elif model.objective == "total_dropoff":
        found, bound = _dp_pareto(model, ub, max_labels)
    else:
        found, bound = _dp_python(model, ub, max_labels)
    if found is not None:  # strictly better than the heuristic, and optimal
        return model.route(found, optimal=True, lower_bound=None, method="exact"), model.cost(found)
    if bound is None:  # the DP completed without beating the upper bound: that route is optimal
        return model.route(ub_seq, optimal=True, lower_bound=None, method="exact"), ub
    bound = min(ub, max(bound, model.root_bound()))
    return model.route(ub_seq, optimal=False, lower_bound=bound, method="heuristic"), bound


def solve_heuristic(
    problem: Problem, *, iterations: int | None = None, beam: int | None = 10_000, seed: int = 0
) -> Route:
    """Cheapest insertion + local search + seeded iterated local search, then (for the
    distance and completion objectives) a restricted DP keeping `beam` states per layer, pruned
    by the search's route and polished by local search. Deterministic for a given seed."""
    model = problem._model
    if model.m == 0:
        return model.route([], optimal=True, lower_bound=None, method="heuristic")
    search = _Search(model, random.Random(seed))
    everyone = list(range(model.n_orders))
    # from the global cheapest insertion and from the simple one (so never worse than the latter)
    seq, cost = search.local_search(search.insert_all([], everyone, cheapest_first=True))
    seq2, cost2 = search.local_search(search.insert_all([], everyone, cheapest_first=False))
    if cost2 < cost - _EPS:
        seq, cost = seq2, cost2
    n = model.n_orders
    if iterations is None:  # the time objectives re-time the whole route for every move: fewer
        iterations = 0 if n <= 1 else (20 * n if model.objective == "distance" else 3 * n)
    best, best_cost = seq, cost
    current, current_cost = seq, cost
    for _ in range(iterations):
        k = min(n, search.rng.randint(2, max(2, n // 3 + 1)))
        removed = search.rng.sample(range(n), k)
        cand = search.insert_all(search.without(current, removed), removed, cheapest_first=search.rng.random() < 0.5)
        cand, cand_cost = search.local_search(cand)
        # accept a slightly worse route now and then: the walk leaves a deep local optimum
        if cand_cost <= current_cost * (1.0 + _ACCEPT) + _EPS:
            current, current_cost = cand, cand_cost
            if cand_cost < best_cost - _EPS:
                best, best_cost = cand, cand_cost
    if beam and model.objective != "total_dropoff" and n > 1:
        found, _ = _dp_numpy(model, best_cost, max_labels=_INF_LABELS, beam=beam)
        if found is not None:
            found, found_cost = search.local_search(found)
            if found_cost < best_cost - _EPS:
                best, best_cost = found, found_cost
    bound = model.root_bound()
    return model.route(best, optimal=False, lower_bound=min(bound, best_cost), method="heuristic")


def simple_insertion(problem: Problem) -> Route:
    """The baseline: orders inserted one by one in their given order, each at its cheapest place."""
    model = problem._model
    search = _Search(model, random.Random(0))
    seq = search.insert_all([], list(range(model.n_orders)), cheapest_first=False)
    return model.route(seq, optimal=False, lower_bound=None, method="insertion")


def brute_force(problem: Problem) -> Route:
    """Every feasible sequence tried (for tests: a few orders only)."""
    model = problem._model
    best: list[int] | None = None
    best_cost = _INF
    for perm in itertools.permutations(range(model.m)):
        pos = {v: i for i, v in enumerate(perm)}
        if any(model.pre[v] >= 0 and pos[model.pre[v]] > pos[v] for v in range(model.m)):
            continue
        c = model.cost(perm)
        if c < best_cost - _EPS:
            best, best_cost = list(perm), c
    assert best is not None
    return model.route(best, optimal=True, lower_bound=None, method="brute-force")


# --------------------------------------------------------------------------------------------
# Exact: bounded DP over (stops done, last stop)
# --------------------------------------------------------------------------------------------


def _limit(ub: float) -> float:
    """Labels must cost strictly less than the upper bound (with a tolerance for float sums)."""
    return ub - _EPS * max(1.0, abs(ub)) if math.isfinite(ub) else _INF


def _dp_python(model: _Model, ub: float, max_labels: int) -> tuple[list[int] | None, float | None]:
    """Single label per state (distance, completion). Returns (better sequence or None, bound or
    None when the DP completed)."""
    m = model.m
    C, pre, lbw = model.C, model.pre, model.lbw
    distance = model.objective == "distance"
    step = model.step
    limit = _limit(ub)
    # labels: (cost so far, bound from the in-arcs of what is left, sum of out-arcs of what is
    # left, parent); for distance the bound is also >= the out-arcs of last + what is left
    # (bar the route's final stop)
    minout, end_out = model.minout, model.end_out
    Label = tuple[float, float, float, tuple[int, int] | None]
    start_val = 0.0 if distance else model.start_time
    layer: dict[tuple[int, int], Label] = {(0, m): (start_val, sum(lbw), sum(minout[:m]), None)}
    history = [layer]
    for depth in range(m):
        nxt: dict[tuple[int, int], Label] = {}
        if len(layer) > max_labels:
            return None, min(v + _bound(r, o, minout[k[1]], end_out, distance) for k, (v, r, o, _) in layer.items())
        final = depth == m - 1
        for (mask, last), (val, rem, remo, _) in layer.items():
            row = C[last]
            for v in range(m):
                bit = 1 << v
                if mask & bit:
                    continue
                p = pre[v]
                if p >= 0 and not (mask >> p) & 1:
                    continue
                nv = val + row[v] if distance else step(last, val, v)[1]
                nr = rem - lbw[v]
                no = remo - minout[v]
                lb = nr
                if distance and not final:
                    out = minout[v] + no - end_out
                    if out > lb:
                        lb = out
                if nv + lb >= limit:
                    continue
                key = (mask | bit, v)
                old = nxt.get(key)
                if old is None or nv < old[0]:
                    nxt[key] = (nv, nr, no, (mask, last))
        layer = nxt
        history.append(layer)
        if not layer:
            return None, None
    best_key = min(layer, key=lambda k: layer[k][0])
    return _backtrack(history, best_key), None


def _bound(rem: float, remo: float, out_last: float, end_out: float, distance: bool) -> float:
    return max(rem, out_last + remo - end_out) if distance else rem


def _backtrack(history: list[dict], key: tuple[int, int]) -> list[int]:
    seq = []
    for layer in reversed(history[1:]):
        seq.append(key[1])
        key = layer[key][-1]
    seq.reverse()
    return seq


def _dp_pareto(model: _Model, ub: float, max_labels: int) -> tuple[list[int] | None, float | None]:
    """total_dropoff: each state keeps its Pareto set of (sum of drop-off times, departure time)."""
    m = model.m
    pre, is_drop, step = model.pre, model.is_drop, model.step
    drop_lag, drop_ready = model.drop_lag, model.drop_ready
    limit = _limit(ub)

    def bound(mask: int, t: float) -> float:
        b = 0.0
        for v in range(m):
            if is_drop[v] and not (mask >> v) & 1:
                b += max(t + drop_lag[v], drop_ready[v])
        return b

    Label = tuple[float, float, tuple[int, int] | None, int]  # (total, time, parent key, parent label)
    layer: dict[tuple[int, int], list[Label]] = {(0, m): [(0.0, model.start_time, None, -1)]}
    history = [layer]
    for _ in range(m):
        count = sum(len(labels) for labels in layer.values())
        if count > max_labels:
            return None, min(tot + bound(mask, t) for (mask, _), labels in layer.items() for tot, t, _, _ in labels)
        nxt: dict[tuple[int, int], list[Label]] = {}
        for (mask, last), labels in layer.items():
            for v in range(m):
                bit = 1 << v
                if mask & bit:
                    continue
                p = pre[v]
                if p >= 0 and not (mask >> p) & 1:
                    continue
                key = (mask | bit, v)
                for li, (tot, t, _, _) in enumerate(labels):
                    event, dep = step(last, t, v)
                    nt = tot + event if is_drop[v] else tot
                    if nt + bound(mask | bit, dep) >= limit:
                        continue
                    cur = nxt.setdefault(key, [])
                    if any(a <= nt + _EPS and b <= dep + _EPS for a, b, _, _ in cur):
                        continue
                    cur[:] = [x for x in cur if not (nt <= x[0] + _EPS and dep <= x[1] + _EPS)]
                    cur.append((nt, dep, (mask, last), li))
        layer = {k: sorted(v) for k, v in nxt.items() if v}
        history.append(layer)
        if not layer:
            return None, None
    best_key, best_i = min(
        ((k, i) for k, labels in layer.items() for i in range(len(labels))),
        key=lambda ki: layer[ki[0]][ki[1]][0],
    )
    seq = []
    key, li = best_key, best_i
    for lay in reversed(history[1:]):
        seq.append(key[1])
        _, _, parent, pli = lay[key][li]
        key, li = parent, pli
    seq.reverse()
    return seq, None


def _dp_numpy(
    model: _Model, ub: float, max_labels: int, beam: int | None = None
) -> tuple[list[int] | None, float | None]:
    """The single-label DP, one layer (number of stops done) at a time on numpy arrays.

    With `beam`, a restricted DP (a heuristic): each layer keeps its `beam` most promising
    states (cost so far + bound on the rest); the result is then not proven optimal."""
    m = model.m
    C = np.array(model.C, dtype=np.float64)  # (m + 1, m)
    lbw = np.array(model.lbw, dtype=np.float64)
    distance = model.objective == "distance"
    if not distance:
        half = np.array([*model.half, 0.0], dtype=np.float64)
        ready = np.array(model.ready, dtype=np.float64)
        same = np.array(model.same, dtype=bool)
    limit = _limit(ub)
    mask = np.zeros(1, dtype=np.int64)
    last = np.full(1, m, dtype=np.int64)
    val = np.array([0.0 if distance else model.start_time])
    rem = np.array([lbw.sum()])
    minout = np.array(model.minout, dtype=np.float64)
    remo = np.array([minout[:m].sum()])
    end_out = model.end_out
    strong = beam is None
    preds = model.sorted_preds() if distance and strong else []
    lasts: list[np.ndarray] = []
    parents: list[np.ndarray] = []
    for depth in range(m):
        if mask.size > max_labels:
            lb = np.maximum(rem, minout[last] + remo - end_out) if distance else rem
            if distance and strong:
                lb = np.maximum(lb, _open_minin(mask, last, m, preds))
            return None, float((val + lb).min())
        final = depth == m - 1
        out_mask, out_last, out_val, out_rem, out_remo, out_par = [], [], [], [], [], []
        for v in range(m):
            bit = np.int64(1 << v)
            ok = (mask & bit) == 0
            p = model.pre[v]
            if p >= 0:
                ok &= (mask & np.int64(1 << p)) != 0
            idx = np.flatnonzero(ok)
            if idx.size == 0:
                continue
            lv = last[idx]
            if distance:
                nv = val[idx] + C[lv, v]
            else:
                t = val[idx]
                event = np.where(same[lv, v], t - half[lv], t + C[lv, v] + half[v])
                nv = np.maximum(event, ready[v]) + half[v]
            nr = rem[idx] - lbw[v]
            no = remo[idx] - minout[v]
            lb = np.maximum(nr, no + (minout[v] - end_out)) if distance and not final else nr
            keep = nv + lb < limit
            if not keep.all():
                idx, nv, nr, no, lb = idx[keep], nv[keep], nr[keep], no[keep], lb[keep]
            if idx.size == 0:
                continue
            nm = mask[idx] | bit
            # the same (new mask, v) can come from several labels: keep the cheapest, the first
            # one on ties. The masks come in sorted runs (one per previous last stop), which the
            # stable sort merges fast.
            order = np.argsort(nm, kind="stable")
            nm = nm[order]
            nvs = nv[order]
            first = np.ones(nm.size, dtype=bool)
            first[1:] = nm[1:] != nm[:-1]
            starts = np.flatnonzero(first)
            mins = np.minimum.reduceat(nvs, starts)
            is_min = nvs == np.repeat(mins, np.diff(np.append(starts, nm.size)))
            hits = np.flatnonzero(is_min)
            group = np.cumsum(first)[hits]
            firsthit = np.ones(hits.size, dtype=bool)
            firsthit[1:] = group[1:] != group[:-1]
            sel = order[hits[firsthit]]
            out_mask.append(nm[starts])
            out_last.append(np.full(sel.size, v, dtype=np.int64))
            out_val.append(nv[sel])
            out_rem.append(nr[sel])
            out_remo.append(no[sel])
            out_par.append(idx[sel])
        if not out_mask:
            return None, None
        mask = np.concatenate(out_mask)
        last = np.concatenate(out_last)
        val = np.concatenate(out_val)
        rem = np.concatenate(out_rem)
        remo = np.concatenate(out_remo)
        par = np.concatenate(out_par)
        if distance and not final and strong:
            # the remaining stops' cheapest in-arcs from what is still open: prunes far more
            keep = val + _open_minin(mask, last, m, preds) < limit
            if not keep.all():
                mask, last, val, rem, remo, par = mask[keep], last[keep], val[keep], rem[keep], remo[keep], par[keep]
            if mask.size == 0:
                return None, None
        if beam is not None and mask.size > beam:
            lb = np.maximum(rem, minout[last] + remo - end_out) if distance and not final else rem
            sel = np.sort(np.argpartition(val + lb, beam)[:beam])
            mask, last, val, rem, remo, par = mask[sel], last[sel], val[sel], rem[sel], remo[sel], par[sel]
        lasts.append(last.astype(np.int16))
        parents.append(par)
    i = int(np.argmin(val))  # first minimum: deterministic
    seq = []
    for lay_last, lay_par in zip(reversed(lasts), reversed(parents), strict=True):
        seq.append(int(lay_last[i]))
        i = int(lay_par[i])
    seq.reverse()
    return seq, None


def _open_minin(mask: np.ndarray, last: np.ndarray, m: int, preds: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per state: the sum over the stops not yet done of their cheapest admissible in-arc from a
    stop not yet done or the current one (a bound on the rest of the route)."""
    closed = (mask | np.int64(1 << m)) & ~(np.int64(1) << last)  # the start is open only at first
    total = np.zeros(mask.size)
    for v in range(m):
        idx = np.flatnonzero((mask & np.int64(1 << v)) == 0)
        if idx.size == 0:
            continue
        us, costs = preds[v]
        shut = closed[idx]
        res = np.zeros(idx.size)
        todo = np.arange(idx.size)
        for u, c in zip(us.tolist(), costs.tolist(), strict=True):
            open_ = ((shut[todo] >> u) & 1) == 0
            res[todo[open_]] = c
            todo = todo[~open_]
            if todo.size == 0:
                break
        total[idx] += res
    return total


# --------------------------------------------------------------------------------------------
# Heuristic: insertion, local search, iterated local search
# --------------------------------------------------------------------------------------------


class _Search:
    def __init__(self, model: _Model, rng: random.Random) -> None:
        self.model = model
        self.rng = rng
        self.m = model.m
        # stops of each order: (pickup stop or -1, drop-off stop)
        self.order_stops = []
        for i in range(model.n_orders):
            d = model.stop_index[(i, "dropoff")]
            self.order_stops.append((model.pre[d], d))

    def without(self, seq: list[int], orders: Sequence[int]) -> list[int]:
        drop = {s for i in orders for s in self.order_stops[i] if s >= 0}
        return [v for v in seq if v not in drop]

    # -- insertion ------------------------------------------------------------------------------

    def best_insertion(self, seq: list[int], order: int) -> tuple[float, list[int]]:
        p, d = self.order_stops[order]
        if self.model.objective == "distance":
            return self._best_insertion_distance(seq, p, d)
        best_cost, best = _INF, seq
        L = len(seq)
        cost = self.model.cost
        if p < 0:
            for j in range(L + 1):
                cand = [*seq[:j], d, *seq[j:]]
                c = cost(cand)
                if c < best_cost - _EPS:
                    best_cost, best = c, cand
            return best_cost, best
        for i in range(L + 1):
            head = [*seq[:i], p]
            for j in range(i, L + 1):
                cand = head + seq[i:j] + [d] + seq[j:]
                c = cost(cand)
                if c < best_cost - _EPS:
                    best_cost, best = c, cand
        return best_cost, best

    def _best_insertion_distance(self, seq: list[int], p: int, d: int) -> tuple[float, list[int]]:
        """O(L): the cheapest gaps a <= b for pickup p and drop-off d (p < 0: d alone)."""
        C = self.model.C
        x = [self.m, *seq]
        L = len(seq)

        def gain(v: int, g: int) -> float:  # inserting v after x[g]
            a = x[g]
            if g == L:
                return C[a][v]
            b = x[g + 1]
            return C[a][v] + C[v][b] - C[a][b]

        base = self.model.cost(seq)
        if p < 0:
            g = min(range(L + 1), key=lambda g: gain(d, g))
            return base + gain(d, g), [*seq[:g], d, *seq[g:]]
        best = _INF
        best_ab = (0, 0)
        best_prefix = _INF
        best_a = -1
        for b in range(L + 1):
            # both in gap b: x[b] -> p -> d -> x[b+1]
            a_ = x[b]
            both = C[a_][p] + C[p][d] + ((C[d][x[b + 1]] - C[a_][x[b + 1]]) if b < L else 0.0)
            if both < best - _EPS:
                best, best_ab = both, (b, b)
            if best_a >= 0:
                c = best_prefix + gain(d, b)
                if c < best - _EPS:
                    best, best_ab = c, (best_a, b)
            gp = gain(p, b)
            if gp < best_prefix - _EPS:
                best_prefix, best_a = gp, b
        a, b = best_ab
        cand = [*seq[:a], p, *seq[a:b], d, *seq[b:]]
        return base + best, cand

    def insert_all(self, seq: list[int], orders: list[int], *, cheapest_first: bool) -> list[int]:
        pending = list(orders)
        while pending:
            if cheapest_first:
                best_cost, best_seq, best_i = _INF, seq, 0
                for idx, o in enumerate(pending):
                    c, cand = self.best_insertion(seq, o)
                    if c < best_cost - _EPS:
                        best_cost, best_seq, best_i = c, cand, idx
                seq = best_seq
                pending.pop(best_i)
            else:
                _, seq = self.best_insertion(seq, pending.pop(0))
        return seq

    # -- local search ---------------------------------------------------------------------------

    def local_search(self, seq: list[int]) -> tuple[list[int], float]:
        if self.model.objective == "distance":
            return self._ls_distance(seq)
        return self._ls_generic(seq)

    def _moves(self, seq: list[int]) -> Iterator[list[int]]:
        """Candidate sequences, all respecting precedence."""
        pre, post = self.model.pre, self.model.post
        L = len(seq)
        pos = {v: i for i, v in enumerate(seq)}
        # relocate one stop
        for i, v in enumerate(seq):
            rest = seq[:i] + seq[i + 1 :]
            lo = pos[pre[v]] + 1 if pre[v] >= 0 else 0  # position in rest: after the pickup
            hi = pos[post[v]] - 1 if post[v] >= 0 else L - 1  # before the drop-off
            for j in range(lo, hi + 1):
                if j != i:
                    yield [*rest[:j], v, *rest[j:]]
        # relocate an order (pickup and drop-off)
        for p, d in self.order_stops:
            if p < 0:
                continue
            rest = [v for v in seq if v != p and v != d]
            for a in range(L - 1):
                for b in range(a, L - 1):
                    cand = [*rest[:a], p, *rest[a:b], d, *rest[b:]]
                    if cand != seq:
                        yield cand
        # reverse a segment that holds no whole order
        for i in range(L):
            for j in range(i + 1, L):
                v = seq[j]
                if pre[v] >= 0 and pos[pre[v]] >= i:
                    break
                yield seq[:i] + seq[i : j + 1][::-1] + seq[j + 1 :]

    def _ls_generic(self, seq: list[int]) -> tuple[list[int], float]:
        cost = self.model.cost
        cur = cost(seq)
        improved = True
        while improved:
            improved = False
            for cand in self._moves(seq):
                c = cost(cand)
                if c < cur - _EPS:
                    seq, cur, improved = cand, c, True
                    break
        return seq, cur

    def _ls_distance(self, seq: list[int]) -> tuple[list[int], float]:
        """The same moves with O(1) cost changes (first improvement, then restart)."""
        C = self.model.C
        pre = self.model.pre
        m = self.m
        while True:
            move = self._improving_distance_move(seq, C, pre, m)
            if move is None:
                return seq, self.model.cost(seq)
            seq = move

    def _improving_distance_move(
        self, seq: list[int], C: list[list[float]], pre: list[int], m: int
    ) -> list[int] | None:
        L = len(seq)
        x = [m, *seq]  # x[k] is the k-th stop (x[0] the start); positions 1..L
        pos = {v: k for k, v in enumerate(x)}
        post = self.model.post

        def arc(a: int, b: int) -> float:
            return C[a][b]

        # 1) relocate one stop
        for k in range(1, L + 1):
            v = x[k]
            prev = x[k - 1]
            if k < L:
                nxt_ = x[k + 1]
                removal = C[prev][nxt_] - C[prev][v] - C[v][nxt_]
            else:
                removal = -C[prev][v]
            y = x[:k] + x[k + 1 :]
            lo = pos[pre[v]] if pre[v] >= 0 else 0  # insert after y[g] for g in [lo, hi]
            if lo > k:
                lo -= 1
            hi = pos[post[v]] - 1 if post[v] >= 0 else L - 1
            if post[v] >= 0 and pos[post[v]] > k:
                hi -= 1
            for g in range(lo, hi + 1):
                if g == k - 1:
                    continue
                a = y[g]
                if g + 1 < len(y):
                    b = y[g + 1]
                    add = C[a][v] + C[v][b] - C[a][b]
                else:
                    add = C[a][v]
                if removal + add < -_EPS:
                    return [*y[1 : g + 1], v, *y[g + 1 :]]
        # 2) relocate an order's pickup and drop-off together
        cur = self.model.cost(seq)
        for p, d in self.order_stops:
            if p < 0:
                continue
            rest = [v for v in seq if v != p and v != d]
            c, cand = self._best_insertion_distance(rest, p, d)
            if c < cur - _EPS:
                return cand
        # 3) reverse x[i..j] (2-opt), no order wholly inside
        fwd = [0.0] * (L + 1)
        bwd = [0.0] * (L + 1)
        for k in range(1, L + 1):
            fwd[k] = fwd[k - 1] + arc(x[k - 1], x[k]) if k > 1 else 0.0
            bwd[k] = bwd[k - 1] + arc(x[k], x[k - 1]) if k > 1 else 0.0
        for i in range(1, L):
            a = x[i - 1]
            for j in range(i + 1, L + 1):
                v = x[j]
                if pre[v] >= 0 and pos[pre[v]] >= i:
                    break
                delta = C[a][x[j]] - C[a][x[i]] + (bwd[j] - bwd[i]) - (fwd[j] - fwd[i])
                if j < L:
                    delta += C[x[i]][x[j + 1]] - C[x[j]][x[j + 1]]
                if delta < -_EPS:
                    return [*x[1:i], *x[i : j + 1][::-1], *x[j + 1 :]]
        return None


# --------------------------------------------------------------------------------------------
# TSPPD instances (grubhub/tsppdlib): TSPLIB extension and JSON
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TsppdInstance:
    """A single-courier TSPPD: start `+0`, free end `-0`, pairs `+i` before `-i`."""

    name: str
    labels: tuple[str, ...]  # node labels, in matrix order
    weights: tuple[tuple[int, ...], ...]  # full matrix
    start: int  # index of +0
    end: int  # index of -0 (arcs into it cost 0)
    pairs: tuple[tuple[int, int], ...]  # (pickup index, delivery index) for i = 1..n

    @property
    def size(self) -> int:
        return len(self.pairs)

    def problem(self) -> Problem:
        """The routing problem: open path from +0 (the free end -0 adds nothing)."""
        orders = [Order(dropoff=d, pickup=p, key=self.labels[p][1:]) for p, d in self.pairs]
        return Problem(travel=self.weights, start=self.start, orders=orders, objective="distance")

    def tour_cost(self, labels: Sequence[str]) -> int:
        """The cost of a full tour given as node labels from +0 to -0 (checks precedence)."""
        index = {lab: i for i, lab in enumerate(self.labels)}
        nodes = [index[lab] for lab in labels]
        if nodes[0] != self.start or nodes[-1] != self.end or sorted(nodes) != list(range(len(self.labels))):
            raise ValueError("a tour visits every node once, from +0 to -0")
        pos = {v: k for k, v in enumerate(nodes)}
        if any(pos[p] > pos[d] for p, d in self.pairs):
            raise ValueError("a delivery before its pickup")
        return sum(self.weights[a][b] for a, b in itertools.pairwise(nodes))

    def tour_labels(self, route: Route) -> list[str]:
        return ["+0", *(self.labels[s.node] for s in route.stops), "-0"]


def _label_key(label: str) -> tuple[int, int]:
    return (int(label[1:]), 0 if label[0] == "+" else 1)


def _from_parts(
    name: str, labels: list[str], weights: list[list[int]], precedence: list[tuple[str, str]]
) -> TsppdInstance:
    index = {lab: i for i, lab in enumerate(labels)}
    if len(index) != len(labels) or "+0" not in index or "-0" not in index:
        raise ValueError(f"{name}: nodes must be unique and include +0 and -0")
    n = len(labels)
    if len(weights) != n or any(len(row) != n for row in weights):
        raise ValueError(f"{name}: the weight matrix is not {n} x {n}")
    pairs = []
    for a, b in sorted(precedence, key=lambda ab: _label_key(ab[0])):
        if a == "+0":
            continue
        if a[0] != "+" or b != "-" + a[1:]:
            raise ValueError(f"{name}: unexpected precedence {a} {b}")
        pairs.append((index[a], index[b]))
    if 2 * len(pairs) + 2 != n:
        raise ValueError(f"{name}: {n} nodes but {len(pairs)} pairs")
    return TsppdInstance(
        name=name,
        labels=tuple(labels),
        weights=tuple(tuple(int(w) for w in row) for row in weights),
        start=index["+0"],
        end=index["-0"],
        pairs=tuple(pairs),
    )


def parse_tsplib(text: str) -> TsppdInstance:
    """The TSPLIB extension: EXPLICIT weights (LOWER_DIAG_ROW, UPPER_ROW, FULL_MATRIX ...),
    NODE_COORD_SECTION naming the nodes (+i/-i) in matrix order, PRECEDENCE_SECTION."""
    header: dict[str, str] = {}
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line == "EOF":
            continue
        m = re.fullmatch(r"([A-Z_]+)\s*:\s*(.*)", line)
        if m:
            header[m.group(1)] = m.group(2).strip()
            current = None
        elif re.fullmatch(r"[A-Z_]+_SECTION", line):
            current = line
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
        else:
            raise ValueError(f"unexpected line: {line!r}")
    name = header.get("NAME", "")
    dim = int(header["DIMENSION"])
    if header.get("EDGE_WEIGHT_TYPE", "EXPLICIT") != "EXPLICIT":
        raise ValueError(f"{name}: only EXPLICIT edge weights are supported")
    fmt = header.get("EDGE_WEIGHT_FORMAT", "FULL_MATRIX")
    numbers = [int(float(tok)) for line in sections.get("EDGE_WEIGHT_SECTION", []) for tok in line.split()]
    w = [[0] * dim for _ in range(dim)]
    it = iter(numbers)
    try:
        if fmt == "FULL_MATRIX":
            for i in range(dim):
                for j in range(dim):
                    w[i][j] = next(it)
        else:
            cells = {
                "LOWER_DIAG_ROW": [(i, j) for i in range(dim) for j in range(i + 1)],
                "LOWER_ROW": [(i, j) for i in range(dim) for j in range(i)],
                "UPPER_DIAG_ROW": [(i, j) for i in range(dim) for j in range(i, dim)],
                "UPPER_ROW": [(i, j) for i in range(dim) for j in range(i + 1, dim)],
            }.get(fmt)
            if cells is None:
                raise ValueError(f"{name}: unsupported EDGE_WEIGHT_FORMAT {fmt}")
            for i, j in cells:
                w[i][j] = w[j][i] = next(it)
    except StopIteration:
        raise ValueError(f"{name}: too few edge weights") from None
    if next(it, None) is not None:
        raise ValueError(f"{name}: too many edge weights")
    labels = [line.split()[0] for line in sections.get("NODE_COORD_SECTION", [])]
    if len(labels) != dim:
        raise ValueError(f"{name}: {len(labels)} node labels for DIMENSION {dim}")
    precedence = [tuple(line.split()[:2]) for line in sections.get("PRECEDENCE_SECTION", [])]
    return _from_parts(name, labels, w, precedence)  # type: ignore[arg-type]


def parse_json(text: str) -> TsppdInstance:
    """The JSON copy: name, nodes, precedence {"+i": "-i"}, full edges matrix."""
    data = json.loads(text)
    return _from_parts(data["name"], list(data["nodes"]), data["edges"], list(data["precedence"].items()))


def load_instance(path: str | os.PathLike[str]) -> TsppdInstance:
    path = Path(path)
    text = path.read_text()
    return parse_json(text) if path.suffix == ".json" else parse_tsplib(text)


DATA_ENV = "O2O_TSPPDLIB_DIR"


def default_data_dir() -> Path:
    """$O2O_TSPPDLIB_DIR, else ../shared/data/tsppdlib beside the repository, else the machines' shared copy."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    beside = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "tsppdlib"
    shared = Path("/work/shared/data/tsppdlib")
    return beside if beside.is_dir() or not shared.is_dir() else shared


def instance_paths(data_dir: str | os.PathLike[str] | None = None, fmt: Literal["tsp", "json"] = "tsp") -> list[Path]:
    """The instance files, sorted by size then number (grubhub-02-0 ... grubhub-15-9).

    `data_dir` may be the tsppdlib folder, its instances/grubhub folder or the json folder."""
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    for cand in (root / "instances" / "grubhub", root):
        folder = cand / "json" if fmt == "json" and (cand / "json").is_dir() else cand
        found = sorted(folder.glob(f"*.{fmt}"))
        if found:
            return sorted(found, key=lambda p: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", p.stem)])
    return []
