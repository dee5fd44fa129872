"""Discrete-event simulation of one MDRP instance, driven by a dispatch policy through round views only.

Time runs in rounds every ``round_minutes`` (default 1 minute: the instances count whole minutes, so greedy then
assigns each order at its placement, as the issue describes), from the first placement on. Between rounds the
couriers carry out their plans:

* a courier starts at its on-location at its on-time;
* its first planned route departs at ``max(free_at, decision time, route.not_before)`` and is *committed* then:
  the courier drives to the restaurant and is not diverted, waits there for the bundle, leaves, and drops the
  orders off in sequence (the timeline comes from ``Rules.time_route``, the same function the policies use);
* the courier then waits where its last drop-off was until it is given more work.

At each round ``t`` the simulator commits the departures before ``t``, reveals the orders placed at or before
``t``, builds the :class:`~o2o.delivery.model.RoundView` of ``t`` (nothing later is in it), asks the policy, and
checks its decisions (``dispatch.apply_decisions``). A round is held while there is something to decide (an
assignable order); otherwise the clock jumps to the next placement. The run ends when every order is placed and
none is left to decide, or once every courier's shift is over.

Everything is recorded (:class:`Event`); the executed routes form the :class:`Schedule` that the feasibility
checker (``o2o.delivery.feasibility``) verifies after the run: a violation raises ``InfeasibleSchedule``.

``round_ms`` is the wall-clock time of each round's decision (``policy.decide`` plus the engine's check of its
decisions), the figure the issue bounds at 1 s on one core; building the view is the simulator's business (on
the live platform it is a database read) and is not counted.
"""

from __future__ import annotations

import heapq
import math
import time
from dataclasses import dataclass, field

from o2o.delivery.dispatch import Policy, apply_decisions, make_policy, quote
from o2o.delivery.feasibility import ExecutedRoute, Schedule, assert_feasible
from o2o.delivery.mdrp import Instance, undeliverable_orders
from o2o.delivery.model import (
    Courier,
    CourierState,
    Order,
    Point,
    RoundView,
    Route,
    StopKind,
    TimedRoute,
    natural_key,
)


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened: ``placed``, ``assigned``/``unassigned`` (tentatively, to ``courier``),
    ``depart`` (the route is committed), ``arrive``, ``pickup``, ``dropoff``."""

    at: float
    kind: str
    order: str | None = None
    courier: str | None = None
    restaurant: str | None = None


@dataclass
class SimulationResult:
    instance: Instance
    policy: str
    schedule: Schedule
    undeliverable: frozenset[str]
    rounds: int
    round_ms: list[float]
    events: list[Event] = field(default_factory=list)
    quotes: dict[str, float] = field(default_factory=dict)  # order -> drop-off time promised at placement


class _CourierRun:
    __slots__ = ("committed", "courier", "free_at", "free_location", "planned", "state")

    def __init__(self, courier: Courier) -> None:
        self.courier = courier
        self.committed: TimedRoute | None = None
        self.free_at: float = courier.on_time
        self.free_location: Point = courier.location
        self.planned: list[tuple[Route, float]] = []  # (route, decided_at)
        self.state: CourierState | None = None  # cached view of this courier; None when it changed


class Simulator:
    def __init__(
        self,
        instance: Instance,
        policy: Policy,
        *,
        round_minutes: float = 1.0,
        record_events: bool = True,
        quotes: bool = False,
    ) -> None:
        if round_minutes <= 0:
            raise ValueError("round_minutes must be positive")
        self.instance = instance
        self.policy = policy
        self.round_minutes = float(round_minutes)
        self.record_events = record_events
        self.want_quotes = quotes
        self.rules = instance.rules
        self.orders: dict[str, Order] = {o.id: o for o in instance.orders}
        self.runs = {c.id: _CourierRun(c) for c in instance.couriers}
        self.active: list[_CourierRun] = list(self.runs.values())
        self.with_plans: set[str] = set()
        self.open: dict[str, Order] = {}  # placed, not yet picked up
        self.assignable: dict[str, None] = {}  # placed, not in a committed route (insertion order: FCFS)
        self.tentative: dict[str, str] = {}  # assignable order -> courier whose plan holds it
        self.pickups: list[tuple[float, str]] = []  # heap of committed orders' pickup times
        self.executed: list[ExecutedRoute] = []
        self.events: list[Event] = []
        self.round_ms: list[float] = []
        self.quotes: dict[str, float] = {}
        self._next_order = 0

    # --- the run ------------------------------------------------------------------------------------------------

    def run(self) -> SimulationResult:
        orders = self.instance.orders
        last_off = max((c.off_time for c in self.instance.couriers), default=-math.inf)
        step = self.round_minutes
        if orders:
            t0 = orders[0].placed_at
            k = 0
            while True:
                t = t0 + k * step
                self._advance(t)
                new = self._reveal(t)
                if self.assignable:
                    self._round(t, new)
                if self._next_order == len(orders) and not self.assignable:
                    break
                if t > last_off:
                    break
                k += 1
                if not self.assignable:  # nothing to decide until the next placement
                    k = max(k, math.ceil((orders[self._next_order].placed_at - t0) / step))
        self._advance(math.inf)
        self.events.sort(key=lambda e: e.at)  # stable: same-time events keep the order they happened in
        return SimulationResult(
            instance=self.instance,
            policy=self.policy.name,
            schedule=Schedule(tuple(self.executed)),
            undeliverable=frozenset(undeliverable_orders(self.instance)),
            rounds=len(self.round_ms),
            round_ms=self.round_ms,
            events=self.events,
            quotes=self.quotes,
        )

    def _event(self, at: float, kind: str, order: str | None = None, courier: str | None = None,
               restaurant: str | None = None) -> None:  # fmt: skip
        if self.record_events:
            self.events.append(Event(at, kind, order, courier, restaurant))

    def _reveal(self, t: float) -> list[Order]:
        orders = self.instance.orders
        i = self._next_order
        new = []
        while i < len(orders) and orders[i].placed_at <= t:
            order = orders[i]
            self.open[order.id] = order
            self.assignable[order.id] = None
            self._event(order.placed_at, "placed", order.id, restaurant=order.restaurant)
            new.append(order)
            i += 1
        self._next_order = i
        return new

    def _advance(self, t_end: float) -> None:
        """Commit every departure before ``t_end``; forget orders picked up by then."""
        rules, restaurants, orders = self.rules, self.instance.restaurants, self.orders
        for courier_id in sorted(self.with_plans):
            run = self.runs[courier_id]
            while run.planned:
                route, decided_at = run.planned[0]
                depart = max(run.free_at, decided_at)
                if route.not_before is not None:
                    depart = max(depart, route.not_before)
                if depart >= t_end:
                    break
                run.planned.pop(0)
                timed = rules.time_route(
                    route, restaurants[route.restaurant], [orders[o] for o in route.orders], depart, run.free_location
                )
                self.executed.append(ExecutedRoute(courier_id, decided_at, timed))
                run.committed, run.free_at, run.free_location, run.state = timed, timed.end_at, timed.end_location, None
                for order_id in route.orders:
                    del self.assignable[order_id]
                    del self.tentative[order_id]
                    heapq.heappush(self.pickups, (timed.pickup.at, order_id))
                if self.record_events:
                    self._record_route(courier_id, timed)
            if not run.planned:
                self.with_plans.discard(courier_id)
        while self.pickups and self.pickups[0][0] <= t_end:
            del self.open[heapq.heappop(self.pickups)[1]]

    def _record_route(self, courier_id: str, timed: TimedRoute) -> None:
        restaurant = timed.route.restaurant
        self._event(timed.depart_at, "depart", courier=courier_id, restaurant=restaurant)
        for visit in timed.visits:
            if visit.kind is StopKind.PICKUP:
                self._event(visit.arrive, "arrive", courier=courier_id, restaurant=restaurant)
                for order_id in visit.orders:
                    self._event(visit.at, "pickup", order_id, courier_id, restaurant)
            else:
                self._event(visit.arrive, "arrive", visit.orders[0], courier_id)
                self._event(visit.at, "dropoff", visit.orders[0], courier_id)

    def _view(self, t: float) -> RoundView:
        couriers = []
        keep = []
        for run in self.active:
            committed = run.committed
            if committed is not None and committed.end_at <= t:
                run.committed, run.state = None, None
                committed = None
            if committed is None and not run.planned and run.courier.off_time < t:
                continue  # shift over, nothing left to do: gone for good
            keep.append(run)
            state = run.state
            if state is None:
                state = run.state = CourierState(
                    run.courier, committed, tuple(r for r, _ in run.planned), run.free_at, run.free_location
                )
            couriers.append(state)
        self.active = keep
        return RoundView(
            now=t,
            rules=self.rules,
            restaurants=self.instance.restaurants,
            orders=dict(self.open),
            assignable=tuple(self.assignable),
            couriers=tuple(couriers),
            tentative=dict(self.tentative),
        )

    def _round(self, t: float, new: list[Order]) -> None:
        view = self._view(t)
        if self.want_quotes:
            for order in new:
                q = quote(view, order)
                if q is not None:
                    self.quotes[order.id] = q.dropoff_at
        started = time.perf_counter()
        decisions = self.policy.decide(view)
        plan = apply_decisions(view, decisions)
        self.round_ms.append((time.perf_counter() - started) * 1000.0)
        for courier_id in decisions.plans:
            run = self.runs[courier_id]
            routes = plan.planned.get(courier_id, ())
            kept = dict(run.planned)
            dropped = {o for route, _ in run.planned for o in route.orders}.difference(
                *(route.orders for route in routes)
            )
            run.planned = [(route, kept.get(route, t)) for route in routes]
            run.state = None
            for order_id in sorted(dropped, key=natural_key):
                if self.tentative.get(order_id) == courier_id:
                    del self.tentative[order_id]
                    self._event(t, "unassigned", order_id, courier_id)
            if run.planned:
                self.with_plans.add(courier_id)
            else:
                self.with_plans.discard(courier_id)
        for courier_id in decisions.plans:
            for route, _ in self.runs[courier_id].planned:
                for order_id in route.orders:
                    if self.tentative.get(order_id) != courier_id:
                        self.tentative[order_id] = courier_id
                        self._event(t, "assigned", order_id, courier_id, route.restaurant)


def simulate(
    instance: Instance,
    policy: str | Policy = "greedy",
    *,
    round_minutes: float = 1.0,
    seed: int = 0,
    record_events: bool = True,
    quotes: bool = False,
    check: bool = True,
) -> SimulationResult:
    """Run one instance with a policy (a name from the registry or an object); check feasibility unless told not
    to (then the caller checks ``result.schedule``). Raises ``InfeasibleSchedule`` or ``PolicyError``."""
    if isinstance(policy, str):
        policy = make_policy(policy, seed=seed)
    result = Simulator(instance, policy, round_minutes=round_minutes, record_events=record_events, quotes=quotes).run()
    if check:
        assert_feasible(instance, result.schedule)
    return result
