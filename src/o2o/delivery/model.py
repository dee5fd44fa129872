"""The dispatch engine's values: orders, restaurants, couriers, routes, the rules of time, and a round's view.

Pure: no database, no web. The live platform and the MDRP benchmark build the same values and hand the same
:class:`RoundView` to the same policies (``o2o.delivery.dispatch``).

Time is a float number of minutes on one clock (the MDRP instances count integer minutes from the start of the
day; the live platform counts minutes from an epoch of its choosing). Places are planar points in metres
(``(x, y)``: the instances' UTM metres; the live platform projects its (lat, lng) first).

The rules (MDRP, Reyes et al. 2018, as the instances' README states them):

* travel: ``ceil(euclidean_metres / meters_per_minute)`` whole minutes (:class:`EuclideanCeilTravel`; the
  triangle inequality may fail, so a route's legs are always timed one by one, never shortcut);
* pickup of a bundle at a restaurant reached at ``arrive``: ``at = max(latest ready time, arrive +
  pickup_service / 2)``; the courier leaves at ``at + pickup_service / 2``;
* drop-off at a customer reached at ``arrive``: ``at = arrive + dropoff_service / 2``; the courier leaves at
  ``arrive + dropoff_service``;
* a courier starts at its on-location at its on-time, picks nothing up after its off-time (drop-offs may finish
  later), is never diverted en route, and is paid ``max(pay_per_order * orders, pay_per_hour * shift hours)``.

A :class:`Route` is what one trip of a courier does: drive to one restaurant, pick up a bundle of its orders at
once, then drop them off in the given sequence. A courier's work is a queue of routes: at most one *committed*
(the courier has left for its restaurant: never taken back) followed by *planned* ones (tentative: the next
round may change them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

Point = tuple[float, float]

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[object, ...]:
    """Sort key that puts ``o2`` before ``o10`` (ids in the instances are a letter and a number)."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(text))


@dataclass(frozen=True, slots=True)
class Restaurant:
    id: str
    location: Point


@dataclass(frozen=True, slots=True)
class Order:
    """An order as the engine knows it from its placement on: where it is cooked, where it goes, and when."""

    id: str
    restaurant: str
    dropoff: Point
    placed_at: float
    ready_at: float


@dataclass(frozen=True, slots=True)
class Courier:
    """A courier's shift: where and when it starts, when it stops picking up."""

    id: str
    location: Point  # the on-location, where the courier is at on_time
    on_time: float
    off_time: float

    @property
    def shift_hours(self) -> float:
        return (self.off_time - self.on_time) / 60.0


class TravelTime(Protocol):
    """Minutes to drive from one point to another (a function object, so the live platform can bring its own)."""

    def __call__(self, a: Point, b: Point, /) -> float: ...


@dataclass(frozen=True, slots=True)
class EuclideanCeilTravel:
    """MDRP travel time: ``ceil(euclidean metres / meters_per_minute)`` whole minutes."""

    meters_per_minute: float

    def __call__(self, a: Point, b: Point, /) -> float:
        return float(math.ceil(math.hypot(a[0] - b[0], a[1] - b[1]) / self.meters_per_minute))


@dataclass(frozen=True, slots=True)
class Rules:
    """The rules of time and pay that every policy, the simulation and the feasibility checker share."""

    travel: TravelTime
    pickup_service: float = 4.0
    dropoff_service: float = 4.0
    pay_per_order: float = 10.0
    pay_per_hour: float = 15.0
    target_click_to_door: float = 40.0
    max_click_to_door: float = 90.0

    def pickup_at(self, arrive: float, ready: float) -> float:
        """When a bundle (ready at ``ready``: the latest of its orders) is picked up by a courier arriving then."""
        return max(ready, arrive + self.pickup_service / 2)

    def leave_pickup(self, pickup_at: float) -> float:
        return pickup_at + self.pickup_service / 2

    def dropoff_at(self, arrive: float) -> float:
        return arrive + self.dropoff_service / 2

    def leave_dropoff(self, arrive: float) -> float:
        return arrive + self.dropoff_service

    def courier_pay(self, courier: Courier, orders_delivered: int) -> float:
        return max(self.pay_per_order * orders_delivered, self.pay_per_hour * courier.shift_hours)

    def time_route(
        self,
        route: Route,
        restaurant: Restaurant,
        orders: Sequence[Order],
        depart_at: float,
        depart_from: Point,
    ) -> TimedRoute:
        """Time a route driven from ``depart_from`` leaving at ``depart_at``; ``orders`` in drop-off sequence."""
        travel = self.travel
        arrive = depart_at + travel(depart_from, restaurant.location)
        ready = max(o.ready_at for o in orders)
        at = self.pickup_at(arrive, ready)
        leave = self.leave_pickup(at)
        visits = [Visit(StopKind.PICKUP, route.orders, restaurant.location, arrive, at, leave)]
        here = restaurant.location
        for order in orders:
            arrive = leave + travel(here, order.dropoff)
            leave = self.leave_dropoff(arrive)
            visits.append(Visit(StopKind.DROPOFF, (order.id,), order.dropoff, arrive, self.dropoff_at(arrive), leave))
            here = order.dropoff
        return TimedRoute(route, depart_at, depart_from, tuple(visits))


class StopKind(StrEnum):
    PICKUP = "pickup"
    DROPOFF = "dropoff"


@dataclass(frozen=True, slots=True)
class Route:
    """One trip: pick up ``orders`` (all from ``restaurant``) at once, then drop them off in this sequence.

    ``not_before`` lets a policy hold a courier (it departs no earlier than that time), so that a route stays
    tentative, and can still be changed, until the courier really has to leave.
    """

    restaurant: str
    orders: tuple[str, ...]
    not_before: float | None = None

    def stops(self) -> tuple[tuple[StopKind, str], ...]:
        """The stop sequence: ``(pickup, restaurant)`` then ``(dropoff, order)`` for each order in turn."""
        return ((StopKind.PICKUP, self.restaurant), *((StopKind.DROPOFF, o) for o in self.orders))


@dataclass(frozen=True, slots=True)
class Visit:
    """A timed stop: reached at ``arrive``, the pickup or drop-off happens ``at``, the courier leaves at ``leave``."""

    kind: StopKind
    orders: tuple[str, ...]
    location: Point
    arrive: float
    at: float
    leave: float


@dataclass(frozen=True, slots=True)
class TimedRoute:
    """A route with its timeline: the courier leaves ``depart_from`` at ``depart_at``, then makes ``visits``."""

    route: Route
    depart_at: float
    depart_from: Point
    visits: tuple[Visit, ...]

    @property
    def pickup(self) -> Visit:
        return self.visits[0]

    @property
    def end_at(self) -> float:
        return self.visits[-1].leave

    @property
    def end_location(self) -> Point:
        return self.visits[-1].location

    def dropoff_of(self, order_id: str) -> Visit:
        for visit in self.visits[1:]:
            if visit.orders[0] == order_id:
                return visit
        raise KeyError(order_id)

    def position(self, now: float) -> Point:
        """Where the courier is at ``now`` (straight-line interpolation along the leg it is driving)."""
        here, left = self.depart_from, self.depart_at
        for visit in self.visits:
            if now < visit.arrive:
                if now <= left or visit.arrive <= left:
                    return here
                share = (now - left) / (visit.arrive - left)
                return (
                    here[0] + share * (visit.location[0] - here[0]),
                    here[1] + share * (visit.location[1] - here[1]),
                )
            if now < visit.leave:
                return visit.location
            here, left = visit.location, visit.leave
        return here


class CourierStatus(StrEnum):
    OFF_SHIFT = "off_shift"  # before its on-time, nothing committed
    IDLE = "idle"  # on shift, nothing committed
    TO_PICKUP = "to_pickup"
    AT_PICKUP = "at_pickup"
    DELIVERING = "delivering"
    SHIFT_OVER = "shift_over"  # past its off-time with nothing left to drop off


@dataclass(frozen=True, slots=True)
class CourierState:
    """A courier as known at a round: its shift, its committed route (if any) and its tentative plan.

    ``free_at``/``free_location``: when and where the committed work ends (for a courier with nothing committed:
    where it waits and since when, or its on-time and on-location before its shift). The first planned route
    departs at ``max(free_at, now, route.not_before)``.
    """

    courier: Courier
    committed: TimedRoute | None
    planned: tuple[Route, ...]
    free_at: float
    free_location: Point

    @property
    def id(self) -> str:
        return self.courier.id

    def status(self, now: float) -> CourierStatus:
        c = self.committed
        if c is None or c.end_at <= now:
            if now < self.courier.on_time:
                return CourierStatus.OFF_SHIFT
            return CourierStatus.SHIFT_OVER if now >= self.courier.off_time else CourierStatus.IDLE
        if now < c.pickup.arrive:
            return CourierStatus.TO_PICKUP
        if now < c.pickup.leave:
            return CourierStatus.AT_PICKUP
        return CourierStatus.DELIVERING

    def position(self, now: float) -> Point:
        if self.committed is not None and now < self.committed.end_at:
            return self.committed.position(now)
        return self.free_location


@dataclass(frozen=True)
class RoundView:
    """Exactly what is known at a decision time ``now``; nothing after it.

    * ``orders``: every order placed at or before ``now`` and not yet picked up (committed ones included);
    * ``assignable``: the ids of those a policy may (re)assign — not in a committed route — first come first served;
    * ``tentative``: order id -> courier id, for assignable orders in some courier's planned routes;
    * ``couriers``: every courier who may still pick up (shift not over) or still has committed work.
    """

    now: float
    rules: Rules
    restaurants: Mapping[str, Restaurant]
    orders: Mapping[str, Order]
    assignable: tuple[str, ...]
    couriers: tuple[CourierState, ...]
    tentative: Mapping[str, str] = field(default_factory=dict)

    def courier(self, courier_id: str) -> CourierState:
        for state in self.couriers:
            if state.id == courier_id:
                return state
        raise KeyError(courier_id)

    def unassigned(self) -> tuple[str, ...]:
        """Assignable orders that no courier's plan holds yet, first come first served."""
        tentative = self.tentative
        return tuple(o for o in self.assignable if o not in tentative)

    def time_route(self, route: Route, depart_at: float, depart_from: Point) -> TimedRoute:
        orders = self.orders
        return self.rules.time_route(
            route, self.restaurants[route.restaurant], [orders[o] for o in route.orders], depart_at, depart_from
        )

    def time_plan(self, state: CourierState, planned: Sequence[Route] | None = None) -> tuple[TimedRoute, ...]:
        """The timelines of a courier's planned routes (its own, or ``planned``), one after the other."""
        t, here = max(state.free_at, self.now), state.free_location
        timed = []
        for route in state.planned if planned is None else planned:
            depart = t if route.not_before is None else max(t, route.not_before)
            tr = self.time_route(route, depart, here)
            timed.append(tr)
            t, here = tr.end_at, tr.end_location
        return tuple(timed)
