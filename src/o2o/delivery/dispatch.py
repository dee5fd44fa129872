"""The dispatch engine: policies decide each round from a :class:`~o2o.delivery.model.RoundView`.

Pure: no database, no web. The same code serves the live platform (a round every 30-60 s per city, the view
built from the database) and the MDRP benchmark (``o2o.delivery.simulation``, the view built by the simulator).

A round:

1. the caller builds the ``RoundView`` of ``now`` (open orders, couriers with their committed and planned work);
2. ``policy.decide(view)`` returns :class:`Decisions`: for each courier it mentions, its new tentative queue of
   routes (each route one restaurant's bundle and its drop-off sequence). Couriers it does not mention keep their
   plan; assignable orders that end up in no plan wait for a later round;
3. :func:`apply_decisions` checks them against the view (an order assigned once, only assignable orders, one
   restaurant per bundle, no pickup after the courier's off-time, committed work untouched) and returns the
   :class:`Plan`, which gives each order its live ETA; a broken decision raises :class:`PolicyError`.

A courier's first planned route becomes *committed* when the courier leaves for its restaurant, at
``max(free_at, decision time, route.not_before)``: from then on no round can take it back.

Policies register by name (:func:`register_policy`); :func:`make_policy` builds a fresh one per run (a policy
may keep state between rounds: it sees the rounds of one city in time order).

``greedy`` (the baseline the issue describes): orders first come first served, each given, at the first round
after its placement, to the courier who can pick it up earliest, counting the work already queued for that
courier; one order per route (no bundling). Ties (couriers who would all wait for the food) go to the courier
arriving last, then to the shorter drive, then to the courier listed first.
An order no courier can pick up before its off-time waits and is tried again each round.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from o2o.delivery.model import CourierState, Order, Point, RoundView, Route, TimedRoute


class PolicyError(Exception):
    """A policy's decisions break the engine's rules (a bug in the policy, never the customer's fault)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


@dataclass(frozen=True)
class Decisions:
    """A round's output: ``plans[courier_id]`` replaces that courier's tentative queue of routes."""

    plans: Mapping[str, tuple[Route, ...]] = field(default_factory=dict)


@runtime_checkable
class Policy(Protocol):
    """What a dispatch policy implements. ``decide`` must use nothing but the view (and its own past views)."""

    name: str

    def decide(self, view: RoundView) -> Decisions: ...


PolicyFactory = Callable[..., Policy]
_REGISTRY: dict[str, PolicyFactory] = {}
# Modules that register policies when imported (this one registers ``greedy``); a new policy module adds itself
# here so that every caller (CLI, benchmarks, the live platform) knows it by name.
BUILTIN_POLICY_MODULES: tuple[str, ...] = ("o2o.delivery.bundling",)


def _load_builtin_policies() -> None:
    for module in BUILTIN_POLICY_MODULES:
        importlib.import_module(module)


def register_policy(name: str) -> Callable[[PolicyFactory], PolicyFactory]:
    """Decorator: ``@register_policy("bundle")`` on a class or factory taking keyword options (``seed`` ...)."""

    def register(factory: PolicyFactory) -> PolicyFactory:
        _REGISTRY[name] = factory
        return factory

    return register


def policy_names() -> list[str]:
    _load_builtin_policies()
    return sorted(_REGISTRY)


def make_policy(name: str, **options: object) -> Policy:
    """A fresh policy of that name. Options its factory does not take (e.g. ``seed`` for a deterministic policy)
    are dropped, so callers can hand the same options to every policy."""
    _load_builtin_policies()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown policy {name!r}; known: {', '.join(policy_names())}") from None
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # no signature to read: hand everything over
        return factory(**options)
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        options = {k: v for k, v in options.items() if k in accepted}
    return factory(**options)


@dataclass(frozen=True, slots=True)
class Eta:
    """Where an order stands in a plan: who carries it, when it is picked up and dropped off."""

    order: str
    courier: str
    pickup_at: float
    dropoff_at: float
    committed: bool


@dataclass
class Plan:
    """Every courier's work after a round: committed route plus the tentative queue the round decided."""

    view: RoundView
    planned: dict[str, tuple[Route, ...]]
    _etas: dict[str, Eta] | None = None

    def timelines(self, courier_id: str) -> tuple[TimedRoute, ...]:
        state = self.view.courier(courier_id)
        timed = self.view.time_plan(state, self.planned.get(courier_id, ()))
        return timed if state.committed is None else (state.committed, *timed)

    def etas(self) -> dict[str, Eta]:
        if self._etas is None:
            etas: dict[str, Eta] = {}
            view = self.view
            for state in view.couriers:
                committed = state.committed
                if committed is not None and committed.end_at > view.now:
                    _add_etas(etas, state.id, committed, True, after=view.now)
                for tr in view.time_plan(state, self.planned.get(state.id, ())):
                    _add_etas(etas, state.id, tr, False)
            self._etas = etas
        return self._etas

    def eta(self, order_id: str) -> Eta | None:
        """The live ETA of an order (``None`` while it waits for a courier, or once delivered)."""
        return self.etas().get(order_id)


def _add_etas(
    etas: dict[str, Eta], courier_id: str, tr: TimedRoute, committed: bool, after: float = float("-inf")
) -> None:
    pickup_at = tr.pickup.at
    for visit in tr.visits[1:]:
        if visit.at <= after:
            continue  # already delivered
        order = visit.orders[0]
        etas[order] = Eta(order, courier_id, pickup_at, visit.at, committed)


def apply_decisions(view: RoundView, decisions: Decisions) -> Plan:
    """Check a round's decisions against the view; return the resulting plan or raise :class:`PolicyError`."""
    states = {s.id: s for s in view.couriers}
    assignable = set(view.assignable)
    planned = {s.id: s.planned for s in view.couriers if s.planned}
    for courier_id, routes in decisions.plans.items():
        if courier_id not in states:
            raise PolicyError("unknown_courier", f"courier {courier_id} is not in this round's view")
        planned[courier_id] = tuple(routes)
    seen: dict[str, str] = {}
    for courier_id, routes in planned.items():
        for route in routes:
            if not route.orders:
                raise PolicyError("empty_route", f"courier {courier_id} has a route with no order")
            for order_id in route.orders:
                if order_id not in assignable:
                    code = "committed_order" if order_id in view.orders else "unknown_order"
                    raise PolicyError(code, f"order {order_id} cannot be assigned now (courier {courier_id})")
                if order_id in seen:
                    raise PolicyError(
                        "order_assigned_twice", f"order {order_id} is planned for {seen[order_id]} and {courier_id}"
                    )
                seen[order_id] = courier_id
                if view.orders[order_id].restaurant != route.restaurant:
                    raise PolicyError(
                        "bundle_mixed_restaurants", f"order {order_id} is not from restaurant {route.restaurant}"
                    )
    for courier_id in decisions.plans:
        state = states[courier_id]
        for tr in view.time_plan(state, planned[courier_id]):
            if tr.pickup.at > state.courier.off_time:
                raise PolicyError(
                    "pickup_after_off_time",
                    f"courier {courier_id} would pick up {','.join(tr.route.orders)} at {tr.pickup.at:g}, "
                    f"after its off-time {state.courier.off_time:g}",
                )
    return Plan(view, {c: r for c, r in planned.items() if r})


# --- shared helpers for policies -------------------------------------------------------------------------------


def queue_end(view: RoundView, state: CourierState, planned: Iterable[Route] | None = None) -> tuple[float, Point]:
    """When and where a courier is free once its committed and planned work is done (never before ``now``)."""
    t, here = max(state.free_at, view.now), state.free_location
    for route in state.planned if planned is None else planned:
        depart = t if route.not_before is None else max(t, route.not_before)
        tr = view.time_route(route, depart, here)
        t, here = tr.end_at, tr.end_location
    return t, here


@dataclass(frozen=True, slots=True)
class Quote:
    """A promised delivery: the courier who would carry the order and when it would reach the customer."""

    courier: str
    pickup_at: float
    dropoff_at: float


def _best_courier(
    view: RoundView, order: Order, ends: Mapping[str, tuple[float, Point]]
) -> tuple[CourierState, float] | None:
    """The courier who picks ``order`` up earliest after its queued work, and that pickup time.

    Ties (couriers who would all wait at the door for the food) go to the one arriving last, who waits least and
    leaves the others free; then to the shorter drive; then to the courier listed first."""
    travel = view.rules.travel
    where = view.restaurants[order.restaurant].location
    half, ready = view.rules.pickup_service / 2, order.ready_at
    best: tuple[float, float, float] | None = None
    best_state = None
    for state in view.couriers:
        t, here = ends[state.id]
        drive = travel(here, where)
        arrive = t + drive
        pickup = max(ready, arrive + half)
        if pickup > state.courier.off_time:
            continue
        key = (pickup, -arrive, drive)
        if best is None or key < best:
            best, best_state = key, state
    if best is None or best_state is None:
        return None
    return best_state, best[0]


def quote(view: RoundView, order: Order) -> Quote | None:
    """A delivery time to promise before payment: the order on its own, after the queued work of the courier who
    would pick it up earliest (what ``greedy`` would do). ``None``: no courier on shift could pick it up."""
    ends = {s.id: queue_end(view, s) for s in view.couriers}
    found = _best_courier(view, order, ends)
    if found is None:
        return None
    state, pickup_at = found
    rules = view.rules
    arrive = rules.leave_pickup(pickup_at) + rules.travel(view.restaurants[order.restaurant].location, order.dropoff)
    return Quote(state.id, pickup_at, rules.dropoff_at(arrive))


@register_policy("greedy")
class GreedyPolicy:
    """First come first served; each order to the courier who can pick it up earliest; no bundling."""

    name = "greedy"

    def decide(self, view: RoundView) -> Decisions:
        waiting = view.unassigned()
        if not waiting:
            return Decisions()
        ends = {s.id: queue_end(view, s) for s in view.couriers}
        plans: dict[str, tuple[Route, ...]] = {}
        rules, travel = view.rules, view.rules.travel
        for order_id in waiting:
            order = view.orders[order_id]
            found = _best_courier(view, order, ends)
            if found is None:
                continue  # no courier can pick it up now: it waits for a later round
            state, pickup_at = found
            route = Route(order.restaurant, (order_id,))
            plans[state.id] = (*plans.get(state.id, state.planned), route)
            arrive = rules.leave_pickup(pickup_at) + travel(view.restaurants[order.restaurant].location, order.dropoff)
            ends[state.id] = (rules.leave_dropoff(arrive), order.dropoff)
        return Decisions(plans)
