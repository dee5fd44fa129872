"""The MDRP rules of time, reproduced exactly on lines of the real instance files."""

from __future__ import annotations

import csv
import math
import statistics
from pathlib import Path

import pytest

from o2o.delivery.mdrp import (
    INSTANCES_FOLDER,
    SUMMARY_FILE,
    family_of,
    load_instance,
    lower_bound_click_to_door,
    read_summary,
    undeliverable_orders,
)
from o2o.delivery.model import (
    Courier,
    CourierState,
    CourierStatus,
    EuclideanCeilTravel,
    Order,
    Restaurant,
    Route,
    Rules,
    StopKind,
    natural_key,
)


def rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def ceil_minutes(dx: int, dy: int, mpm: int) -> int:
    """The rule in integers only: the least k with k * meters_per_minute >= sqrt(dx^2 + dy^2)."""
    d2 = dx * dx + dy * dy
    k = math.isqrt(d2) // mpm
    while (k * mpm) ** 2 < d2:
        k += 1
    while k > 0 and ((k - 1) * mpm) ** 2 >= d2:
        k -= 1
    return k


@pytest.mark.parametrize("name", ["0o100t100s1p100", "3r50t75s2p125"])
def test_travel_time_matches_the_rule_on_every_order_of_real_files(mdrplib, name):
    folder = mdrplib / INSTANCES_FOLDER / name
    params = rows(folder / "instance_parameters.txt")[0]
    mpm = int(params["meters_per_minute"])
    travel = EuclideanCeilTravel(mpm)
    restaurants = {r["restaurant"]: (int(r["x"]), int(r["y"])) for r in rows(folder / "restaurants.txt")}
    minutes = []
    for r in rows(folder / "orders.txt"):
        rx, ry = restaurants[r["restaurant"]]
        x, y = int(r["x"]), int(r["y"])
        expected = ceil_minutes(x - rx, y - ry, mpm)
        assert travel((rx, ry), (x, y)) == expected == travel((x, y), (rx, ry))
        minutes.append(expected)
    # instance_characteristics.txt states the same figures for "minutes from restaurant to delivery location"
    text = (folder / "instance_characteristics.txt").read_text()
    table = text.split("minutes from restaurant to delivery location")[1].splitlines()
    stats = {line.split()[0]: float(line.split()[-1]) for line in table[1:8]}
    assert round(statistics.fmean(minutes), 2) == stats["mean"]
    assert min(minutes) == stats["min"] and max(minutes) == stats["max"]


def test_first_order_of_0o100t100s1p100_by_hand(instance):
    inst = instance("0o100t100s1p100")
    # orders.txt: o1 9131 7497 743 r1 753; restaurants.txt: r1 8708 5633; meters_per_minute 320
    o1 = next(o for o in inst.orders if o.id == "o1")
    assert o1 == Order("o1", "r1", (9131.0, 7497.0), 743.0, 753.0)
    r1 = inst.restaurants["r1"]
    assert r1.location == (8708.0, 5633.0)
    # sqrt(423^2 + 1864^2) = 1911.39 m; / 320 = 5.97 -> 6 minutes
    assert inst.rules.travel(r1.location, o1.dropoff) == 6
    assert lower_bound_click_to_door(inst, o1) == 10 + 2 + 6 + 2
    # couriers.txt: c1 11491 2806 0 90, leaving at 740: to r1 sqrt(2783^2 + 2827^2) = 3967 m -> 13 minutes
    c1 = inst.couriers[0]
    assert c1 == Courier("c1", (11491.0, 2806.0), 0.0, 90.0)
    timed = inst.rules.time_route(Route("r1", ("o1",)), r1, [o1], 740, c1.location)
    pickup, dropoff = timed.visits
    assert (pickup.arrive, pickup.at, pickup.leave) == (753, 755, 757)  # arrival + 2 after ready: 755
    assert (dropoff.arrive, dropoff.at, dropoff.leave) == (763, 765, 767)
    early = inst.rules.time_route(Route("r1", ("o1",)), r1, [o1], 720, c1.location)
    assert (early.pickup.arrive, early.pickup.at, early.pickup.leave) == (733, 753, 755)  # waits for the food


def test_parameters_of_the_real_files(instance):
    inst = instance("0o50t75s1p100")
    rules = inst.rules
    assert (rules.pickup_service, rules.dropoff_service) == (4, 4)
    assert (rules.target_click_to_door, rules.max_click_to_door) == (40, 90)
    assert (rules.pay_per_order, rules.pay_per_hour) == (10, 15)
    assert rules.travel == EuclideanCeilTravel(427)
    assert inst.family == family_of(inst.name) == "o50t75s1p100"


def test_lower_bounds_and_sizes_match_the_summary(mdrplib):
    summary = read_summary(mdrplib / SUMMARY_FILE)
    for name in ("0o100t100s1p100", "2o50t75s1p100", "4r50t100s2p125", "1o100t75s1p125"):
        inst = load_instance(mdrplib / INSTANCES_FOLDER / name)
        row = summary[name]
        lbs = [lower_bound_click_to_door(inst, o) for o in inst.orders]
        assert round(statistics.fmean(lbs), 2) == row["lb_mean_click_to_door_min"]
        assert (len(inst.orders), len(inst.restaurants), len(inst.couriers)) == (
            row["orders"], row["restaurants"], row["couriers"]
        )  # fmt: skip
        assert round(inst.courier_hours, 2) == row["courier_hours"]


def test_undeliverable_orders_per_the_issue(instance):
    inst = instance("2o50t75s1p100")
    bad = undeliverable_orders(inst)
    assert len(bad) == 1
    (order,) = (o for o in inst.orders if o.id in bad)
    for c in inst.couriers:
        assert max(order.ready_at, max(c.on_time, order.placed_at) + 2) > c.off_time
    assert undeliverable_orders(instance("0o50t75s1p100")) == set()


def test_bundle_service_and_dropoff_sequence():
    rules = Rules(EuclideanCeilTravel(100))
    r = Restaurant("r", (0, 0))
    a = Order("a", "r", (0, 250), 0, 10)  # 3 minutes from r
    b = Order("b", "r", (0, 550), 0, 14)  # 3 minutes from a
    timed = rules.time_route(Route("r", ("a", "b")), r, [a, b], 0, (0, -100))
    kinds = [(v.kind, v.orders) for v in timed.visits]
    assert kinds == [(StopKind.PICKUP, ("a", "b")), (StopKind.DROPOFF, ("a",)), (StopKind.DROPOFF, ("b",))]
    assert [(v.arrive, v.at, v.leave) for v in timed.visits] == [(1, 14, 16), (19, 21, 23), (26, 28, 30)]
    assert timed.end_at == 30 and timed.end_location == (0, 550)
    assert Route("r", ("a", "b")).stops() == ((StopKind.PICKUP, "r"), (StopKind.DROPOFF, "a"), (StopKind.DROPOFF, "b"))
    # where the courier is: driving to r, waiting there, halfway from r to a
    assert timed.position(0.5) == (0, -50)
    assert timed.position(10) == (0, 0)
    assert timed.position(17.5) == (0, 125)
    assert timed.position(99) == (0, 550)


def test_courier_status_through_a_route():
    rules = Rules(EuclideanCeilTravel(100))
    r = Restaurant("r", (0, 0))
    a = Order("a", "r", (0, 250), 0, 10)
    courier = Courier("c", (0, -100), 5, 60)
    timed = rules.time_route(Route("r", ("a",)), r, [a], 5, courier.location)  # arrive 6, pickup 10, leave 12
    state = CourierState(courier, timed, (), timed.end_at, timed.end_location)
    assert [state.status(t) for t in (5, 7, 11, 13, 20)] == [
        CourierStatus.TO_PICKUP, CourierStatus.AT_PICKUP, CourierStatus.AT_PICKUP, CourierStatus.DELIVERING,
        CourierStatus.IDLE,
    ]  # fmt: skip
    idle = CourierState(courier, None, (), courier.on_time, courier.location)
    assert idle.status(0) is CourierStatus.OFF_SHIFT and idle.status(61) is CourierStatus.SHIFT_OVER
    assert state.position(6) == (0, 0) and idle.position(30) == (0, -100)


def test_natural_order_of_ids():
    assert sorted(["o10", "o2", "o1"], key=natural_key) == ["o1", "o2", "o10"]
