"""The harness's own feasibility check of an executed schedule against an MDRP instance.

Independent of the policy and of the simulator's bookkeeping: it takes the routes the couriers drove (who, when
the route was decided, when the courier left and from where, and each timed visit) and re-derives everything else
from the instance (order placement and ready times, restaurant and customer places, shifts, the travel and
service rules). Every kind of violation has a code:

=========================  ================================================================================
code                       meaning
=========================  ================================================================================
unknown_courier            a route driven by a courier the instance does not have
unknown_order              a route carrying an order the instance does not have
order_assigned_twice       an order in more than one route (or twice in one)
assigned_before_placement  the route was decided before one of its orders was placed
departed_before_decision   the courier left before the route was decided
bundle_mixed_restaurants   an order picked up at a restaurant that is not its own
malformed_route            not one pickup of the whole bundle followed by one drop-off per order, in sequence
wrong_location             a visit somewhere else than the restaurant or the order's customer
pickup_before_ready        picked up before an order of the bundle is ready
pickup_after_off_time      picked up after the courier's off-time
service_too_short          pickup before arrival + pickup_service/2, drop-off before arrival + dropoff_service/2,
                           or leaving before the service is over
dropoff_before_pickup      an order dropped off before it was picked up
started_before_on_time     a courier's first departure before its on-time
teleport                   a route starting somewhere else than where the courier was (its on-location first)
routes_overlap             a route starting before the courier's previous route ended
moved_too_fast             a leg driven in less than the travel time
=========================  ================================================================================
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from o2o.delivery.mdrp import Instance
from o2o.delivery.model import Point, StopKind, TimedRoute

EPS = 1e-9


@dataclass(frozen=True, slots=True)
class ExecutedRoute:
    """A route a courier drove: decided at ``decided_at`` (the round that last planned it), driven as ``timed``."""

    courier: str
    decided_at: float
    timed: TimedRoute


@dataclass(frozen=True)
class Schedule:
    routes: tuple[ExecutedRoute, ...]

    def delivered(self) -> dict[str, tuple[str, float, float]]:
        """order -> (courier, pickup time, drop-off time)."""
        out = {}
        for er in self.routes:
            pickup_at = er.timed.pickup.at
            for visit in er.timed.visits[1:]:
                out[visit.orders[0]] = (er.courier, pickup_at, visit.at)
        return out


@dataclass(frozen=True, slots=True)
class Violation:
    code: str
    detail: str
    courier: str | None = None
    order: str | None = None


class InfeasibleSchedule(Exception):
    def __init__(self, instance: str, violations: list[Violation]) -> None:
        self.instance = instance
        self.violations = violations
        shown = "; ".join(f"{v.code}: {v.detail}" for v in violations[:5])
        more = f" (and {len(violations) - 5} more)" if len(violations) > 5 else ""
        super().__init__(f"{instance}: {len(violations)} feasibility violation(s): {shown}{more}")


def _same(a: Point, b: Point) -> bool:
    return abs(a[0] - b[0]) <= EPS and abs(a[1] - b[1]) <= EPS


def check_schedule(instance: Instance, schedule: Schedule) -> list[Violation]:
    """Every violation of the MDRP rules in ``schedule``; an empty list means feasible."""
    rules, travel = instance.rules, instance.rules.travel
    half_p, half_d = rules.pickup_service / 2, rules.dropoff_service / 2
    orders = {o.id: o for o in instance.orders}
    couriers = {c.id: c for c in instance.couriers}
    restaurants = instance.restaurants
    out: list[Violation] = []

    def bad(code: str, detail: str, courier: str | None = None, order: str | None = None) -> None:
        out.append(Violation(code, detail, courier, order))

    seen: dict[str, int] = defaultdict(int)
    by_courier: dict[str, list[ExecutedRoute]] = defaultdict(list)
    for er in schedule.routes:
        cid, tr = er.courier, er.timed
        route = tr.route
        courier = couriers.get(cid)
        if courier is None:
            bad("unknown_courier", f"courier {cid} drives a route", cid)
            continue
        by_courier[cid].append(er)
        if tr.depart_at < er.decided_at - EPS:
            bad("departed_before_decision", f"left at {tr.depart_at:g}, decided at {er.decided_at:g}", cid)
        known = []
        for oid in route.orders:
            seen[oid] += 1
            order = orders.get(oid)
            if order is None:
                bad("unknown_order", f"order {oid} in a route of {cid}", cid, oid)
                continue
            known.append(order)
            if seen[oid] == 2:
                bad("order_assigned_twice", f"order {oid} is in more than one route", cid, oid)
            if er.decided_at < order.placed_at - EPS:
                bad("assigned_before_placement", f"{oid} placed at {order.placed_at:g}, "
                    f"assigned at {er.decided_at:g}", cid, oid)  # fmt: skip
            if order.restaurant != route.restaurant:
                bad("bundle_mixed_restaurants", f"{oid} is from {order.restaurant}, picked up at {route.restaurant}",
                    cid, oid)  # fmt: skip
        visits = tr.visits
        shape_ok = (
            len(visits) == len(route.orders) + 1
            and visits[0].kind is StopKind.PICKUP
            and sorted(visits[0].orders) == sorted(route.orders)
            and all(
                v.kind is StopKind.DROPOFF and v.orders == (o,) for v, o in zip(visits[1:], route.orders, strict=False)
            )
        )
        if not shape_ok or route.restaurant not in restaurants:
            bad("malformed_route", f"route of {cid} leaving at {tr.depart_at:g} is not pickup then drop-offs", cid)
            continue
        pickup = visits[0]
        if not _same(pickup.location, restaurants[route.restaurant].location):
            bad("wrong_location", f"pickup of {route.restaurant} away from the restaurant", cid)
        for order in known:
            if pickup.at < order.ready_at - EPS:
                bad("pickup_before_ready", f"{order.id} ready at {order.ready_at:g}, picked up at {pickup.at:g}",
                    cid, order.id)  # fmt: skip
        if pickup.at > courier.off_time + EPS:
            bad("pickup_after_off_time", f"pickup at {pickup.at:g}, off-time {courier.off_time:g}", cid)
        if pickup.at < pickup.arrive + half_p - EPS or pickup.leave < pickup.at + half_p - EPS:
            bad("service_too_short", f"pickup arrive {pickup.arrive:g}, at {pickup.at:g}, leave {pickup.leave:g}",
                cid)  # fmt: skip
        for visit in visits[1:]:
            oid = visit.orders[0]
            order = orders.get(oid)
            if order is not None and not _same(visit.location, order.dropoff):
                bad("wrong_location", f"drop-off of {oid} away from its customer", cid, oid)
            if visit.at < visit.arrive + half_d - EPS or visit.leave < visit.arrive + 2 * half_d - EPS:
                bad("service_too_short", f"drop-off of {oid}: arrive {visit.arrive:g}, at {visit.at:g}, "
                    f"leave {visit.leave:g}", cid, oid)  # fmt: skip
            if visit.at < pickup.at - EPS:
                bad("dropoff_before_pickup", f"{oid} dropped at {visit.at:g}, picked up at {pickup.at:g}", cid, oid)
        here, left = tr.depart_from, tr.depart_at
        for visit in visits:
            need = travel(here, visit.location)
            if visit.arrive < left + need - EPS:
                bad("moved_too_fast", f"{cid} drove from {here} at {left:g} to {visit.location} by {visit.arrive:g} "
                    f"(travel time {need:g})", cid)  # fmt: skip
            if visit.arrive < left - EPS:
                bad("moved_too_fast", f"{cid} arrives at {visit.arrive:g} before leaving at {left:g}", cid)
            here, left = visit.location, visit.leave
    for cid, routes in by_courier.items():
        courier = couriers[cid]
        routes.sort(key=lambda er: er.timed.depart_at)
        here, free = courier.location, courier.on_time
        for i, er in enumerate(routes):
            tr = er.timed
            if tr.depart_at < free - EPS:
                code = "started_before_on_time" if i == 0 else "routes_overlap"
                bad(code, f"{cid} leaves at {tr.depart_at:g}, free only from {free:g}", cid)
            if not _same(tr.depart_from, here):
                bad("teleport", f"{cid} leaves from {tr.depart_from} but is at {here}", cid)
            if tr.visits:
                here, free = tr.visits[-1].location, tr.visits[-1].leave
    return out


def assert_feasible(instance: Instance, schedule: Schedule) -> None:
    violations = check_schedule(instance, schedule)
    if violations:
        raise InfeasibleSchedule(instance.name, violations)
