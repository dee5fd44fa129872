"""The harness's feasibility checker catches each kind of violation, on schedules built by hand."""

from __future__ import annotations

from dataclasses import replace

import pytest

from o2o.delivery.feasibility import (
    ExecutedRoute,
    InfeasibleSchedule,
    Schedule,
    assert_feasible,
    check_schedule,
)
from o2o.delivery.model import Route, StopKind, Visit
from o2o.delivery.simulation import simulate


def drive(inst, courier_id, orders, depart_at, depart_from=None, decided_at=None, restaurant=None):
    """A route timed by the rules (so feasible on its own), as a courier would drive it."""
    courier = next(c for c in inst.couriers if c.id == courier_id)
    by_id = {o.id: o for o in inst.orders}
    restaurant = restaurant or by_id[orders[0]].restaurant
    timed = inst.rules.time_route(
        Route(restaurant, tuple(orders)),
        inst.restaurants[restaurant],
        [by_id[o] for o in orders],
        depart_at,
        depart_from or courier.location,
    )
    return ExecutedRoute(courier_id, depart_at if decided_at is None else decided_at, timed)


def codes(inst, *routes):
    return {v.code for v in check_schedule(inst, Schedule(tuple(routes)))}


def with_visit(er, i, **changes):
    visits = list(er.timed.visits)
    visits[i] = replace(visits[i], **changes)
    return replace(er, timed=replace(er.timed, visits=tuple(visits)))


def test_a_schedule_by_the_rules_is_feasible(tiny):
    first = drive(tiny, "c1", ["o1", "o2"], 1)  # bundle of r1: leaves at 1 (o2 placed at 1), pickup at 10
    second = drive(tiny, "c1", ["o3"], first.timed.end_at, first.timed.end_location)
    assert codes(tiny, first, second) == set()
    result = simulate(tiny, "greedy")
    assert len(result.schedule.delivered()) == 3
    assert check_schedule(tiny, result.schedule) == []


def test_each_order_assigned_once(tiny):
    a = drive(tiny, "c1", ["o1"], 0)
    b = drive(tiny, "c2", ["o1"], 0, decided_at=0)
    assert codes(tiny, a, b) == {"order_assigned_twice"}
    assert codes(tiny, drive(tiny, "c1", ["o1", "o1"], 0)) == {"order_assigned_twice"}


def test_never_assigned_before_placement_nor_driven_before_the_decision(tiny):
    early = drive(tiny, "c1", ["o3"], 1)  # o3 is placed at 2
    assert codes(tiny, early) == {"assigned_before_placement"}
    assert codes(tiny, drive(tiny, "c1", ["o3"], 3, decided_at=5)) == {"departed_before_decision"}


def test_pickup_not_before_ready_and_service_respected(tiny):
    good = drive(tiny, "c1", ["o1"], 0)  # arrive 0, ready 10: pickup 10, leave 12
    assert codes(tiny, with_visit(good, 0, at=9, leave=11)) == {"pickup_before_ready"}
    assert codes(tiny, with_visit(good, 0, leave=11)) == {"service_too_short"}
    drop = good.timed.visits[1]
    assert codes(tiny, with_visit(good, 1, at=drop.arrive + 1)) == {"service_too_short"}
    assert codes(tiny, with_visit(good, 1, leave=drop.arrive + 3)) == {"service_too_short"}


def test_no_pickup_after_off_time(tiny):
    assert codes(tiny, drive(tiny, "c1", ["o1"], 59)) == {"pickup_after_off_time"}  # off at 60, pickup 61
    assert codes(tiny, drive(tiny, "c1", ["o1"], 58)) == set()  # pickup at 60: allowed, drop-off later


def test_dropoff_after_pickup(tiny):
    good = drive(tiny, "c1", ["o1"], 0)
    p = good.timed.visits[0]
    # the drop-off stamped before the pickup: the checker names it (and the impossible drive it implies)
    bad = with_visit(good, 1, arrive=p.at - 3, at=p.at - 1, leave=p.at + 1)
    assert "dropoff_before_pickup" in codes(tiny, bad)


def test_courier_moves_are_continuous(tiny):
    good = drive(tiny, "c1", ["o1"], 0)
    drop = good.timed.visits[1]  # r1 (0,0) -> (0,500): 5 minutes
    assert codes(tiny, with_visit(good, 1, arrive=drop.arrive - 1, at=drop.at - 1, leave=drop.leave - 1)) == {
        "moved_too_fast"
    }
    # starts away from its on-location, or before its on-time
    assert codes(tiny, drive(tiny, "c1", ["o1"], 0, depart_from=(0, 100))) == {"teleport"}
    late_start = replace(tiny, couriers=(replace(tiny.couriers[0], on_time=1), tiny.couriers[1]))
    assert codes(late_start, drive(late_start, "c1", ["o1"], 0)) == {"started_before_on_time"}
    # the next route must start where and after the previous one ended
    second = drive(tiny, "c1", ["o3"], good.timed.end_at - 1, good.timed.end_location)
    assert codes(tiny, good, second) == {"routes_overlap"}
    elsewhere = drive(tiny, "c1", ["o3"], good.timed.end_at, (0, 0))
    assert codes(tiny, good, elsewhere) == {"teleport"}


def test_bundles_of_one_restaurant_in_the_right_shape_and_places(tiny):
    assert "bundle_mixed_restaurants" in codes(tiny, drive(tiny, "c1", ["o1", "o3"], 2))
    good = drive(tiny, "c1", ["o1"], 0)
    assert codes(tiny, with_visit(good, 1, location=(0, 499))) == {"wrong_location"}
    assert "wrong_location" in codes(tiny, with_visit(good, 0, location=(1, 0)))  # and the drive is too short
    no_drop = replace(good, timed=replace(good.timed, visits=good.timed.visits[:1]))
    assert codes(tiny, no_drop) == {"malformed_route"}
    v = good.timed.visits[1]
    twice = replace(good, timed=replace(good.timed, visits=(*good.timed.visits, Visit(StopKind.DROPOFF, ("o1",),
                    v.location, v.leave, v.leave + 2, v.leave + 4))))  # fmt: skip
    assert codes(tiny, twice) == {"malformed_route"}


def test_unknown_couriers_and_orders(tiny):
    good = drive(tiny, "c1", ["o1"], 0)
    assert codes(tiny, replace(good, courier="c9")) == {"unknown_courier"}
    route = replace(good.timed.route, orders=("o1", "o9"))
    assert "unknown_order" in codes(tiny, replace(good, timed=replace(good.timed, route=route)))


def test_a_violation_fails_the_run(tiny):
    with pytest.raises(InfeasibleSchedule) as e:
        assert_feasible(tiny, Schedule((drive(tiny, "c1", ["o1"], 59),)))
    assert [v.code for v in e.value.violations] == ["pickup_after_off_time"]
    assert "tiny" in str(e.value)
