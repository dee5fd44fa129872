"""The simulation harness: greedy on small real instances, determinism, what a policy may see and change."""

from __future__ import annotations

from dataclasses import replace

import pytest

from o2o.delivery.dispatch import Decisions, GreedyPolicy, PolicyError
from o2o.delivery.feasibility import check_schedule
from o2o.delivery.mdrp import SUMMARY_FILE, lower_bound_click_to_door, read_summary
from o2o.delivery.metrics import instance_metrics, percentile
from o2o.delivery.model import RoundView, Route
from o2o.delivery.simulation import simulate

from .conftest import SMALL


@pytest.fixture(scope="module")
def summary(mdrplib):
    return read_summary(mdrplib / SUMMARY_FILE)


@pytest.mark.parametrize("name", SMALL)
def test_greedy_delivers_every_order_of_small_instances_within_sane_bounds(instance, summary, name):
    inst = instance(name)
    result = simulate(inst, "greedy")  # checks feasibility: raises on any violation
    assert check_schedule(inst, result.schedule) == []
    delivered = result.schedule.delivered()
    assert set(delivered) == {o.id for o in inst.orders} - result.undeliverable
    row = summary[name]
    m = instance_metrics(result, row["lb_mean_click_to_door_min"])
    assert m["delivered"] == m["orders"] == row["orders"] and m["undeliverable"] == 0
    assert 1.0 <= m["lb_ratio"] <= 1.25
    assert m["p90_click_to_door_min"] >= row["lb_p90_click_to_door_min"]
    assert m["share_over_40_min"] >= row["share_orders_lb_ctd_over_40"] - 1e-4
    assert 0 <= m["share_over_90_min"] <= m["share_over_40_min"]
    assert m["mean_ready_to_pickup_min"] >= 0
    assert 0 < m["orders_per_courier_hour"] <= row["orders_per_courier_hour_if_all_delivered"] + 1e-3
    assert row["lb_pay_per_order_usd"] - 1e-3 <= m["pay_per_order_usd"] < 2 * row["lb_pay_per_order_usd"]
    assert m["rounds"] == len(result.round_ms) > 0
    # no order beats its own lower bound
    by_id = {o.id: o for o in inst.orders}
    for order_id, (_, pickup, dropoff) in delivered.items():
        order = by_id[order_id]
        assert dropoff - order.placed_at >= lower_bound_click_to_door(inst, order)
        assert pickup >= order.ready_at


def test_same_seed_same_result(instance):
    inst = instance(SMALL[0])
    a = simulate(inst, "greedy", seed=3)
    b = simulate(inst, "greedy", seed=3)
    assert a.schedule == b.schedule
    assert a.events == b.events
    strip = lambda m: {k: v for k, v in m.items() if not k.endswith("_ms")}  # noqa: E731 (wall-clock aside)
    assert strip(instance_metrics(a)) == strip(instance_metrics(b))


def test_events_tell_the_story_of_every_order(instance):
    inst = instance(SMALL[0])
    result = simulate(inst, "greedy")
    kinds = {}
    for e in result.events:
        if e.order is not None:
            kinds.setdefault(e.order, []).append(e.kind)
    assert all(k[0] == "placed" and k[-1] == "dropoff" and "pickup" in k for k in kinds.values())
    assert [e.at for e in result.events] == sorted(e.at for e in result.events)
    assert sum(e.kind == "depart" for e in result.events) == len(result.schedule.routes)


def test_greedy_keeps_the_promise_it_quotes_at_placement(instance):
    inst = instance(SMALL[1])
    result = simulate(inst, "greedy", quotes=True)
    delivered = result.schedule.delivered()
    first_of_minute, seen = [], set()
    for o in inst.orders:  # the quote is made before the round's earlier orders are placed with a courier
        if o.placed_at not in seen:
            first_of_minute.append(o.id)
            seen.add(o.placed_at)
    assert first_of_minute and all(result.quotes[o] == delivered[o][2] for o in first_of_minute)


class Spy:
    """Greedy, checking on each view that it holds nothing from the future."""

    name = "spy"

    def __init__(self, inner=None):
        self.inner = inner or GreedyPolicy()
        self.views = 0

    def decide(self, view: RoundView) -> Decisions:
        self.views += 1
        assert all(o.placed_at <= view.now for o in view.orders.values())
        assert set(view.assignable) <= set(view.orders)
        for state in view.couriers:
            c = state.committed
            if c is not None:
                assert c.depart_at < view.now < c.end_at
                assert not set(c.route.orders) & set(view.assignable)
            assert state.courier.off_time >= view.now or c is not None
        return self.inner.decide(view)


def test_a_round_sees_only_what_is_known_then(instance):
    spy = Spy()
    result = simulate(instance(SMALL[2]), spy)
    assert spy.views == result.rounds > 0


class Replanner:
    """Throws every tentative plan away each round and plans again from scratch (greedily)."""

    name = "replanner"

    def decide(self, view: RoundView) -> Decisions:
        fresh = replace(view, tentative={}, couriers=tuple(replace(s, planned=()) for s in view.couriers))
        plans = {s.id: () for s in view.couriers if s.planned}
        plans.update(GreedyPolicy().decide(fresh).plans)
        return Decisions(plans)


def test_tentative_plans_may_change_every_round(instance):
    inst = instance(SMALL[0])
    result = simulate(inst, Replanner())
    assert len(result.schedule.delivered()) == len(inst.orders)
    assert any(e.kind == "unassigned" for e in result.events)
    for er in result.schedule.routes:  # decided at a round, never before the placement
        assert er.decided_at <= er.timed.depart_at


class Thief:
    """Tries to take back an order from a courier already on the way to it."""

    name = "thief"

    def decide(self, view: RoundView) -> Decisions:
        for state in view.couriers:
            if state.committed is not None:
                order = state.committed.route.orders[0]
                other = next(s for s in view.couriers if s.id != state.id)
                return Decisions({other.id: (Route(state.committed.route.restaurant, (order,)),)})
        return GreedyPolicy().decide(view)


def test_committed_work_is_never_taken_back(tiny):
    with pytest.raises(PolicyError) as e:
        simulate(tiny, Thief())
    assert e.value.code == "committed_order"


class Holder:
    """Plans o1 once for c1, to leave no earlier than minute 5."""

    name = "holder"

    def decide(self, view: RoundView) -> Decisions:
        if "o1" in view.unassigned():
            return Decisions({"c1": (Route("r1", ("o1",), not_before=5),)})
        return Decisions()


def test_a_held_route_departs_when_told(tiny):
    result = simulate(tiny, Holder())
    (route,) = result.schedule.routes
    assert (route.decided_at, route.timed.depart_at, route.timed.pickup.at) == (0, 5, 10)


def test_coarser_rounds(instance):
    inst = instance(SMALL[0])
    result = simulate(inst, "greedy", round_minutes=2)
    t0 = inst.orders[0].placed_at
    assert all((er.decided_at - t0) % 2 == 0 for er in result.schedule.routes)
    assert len(result.schedule.delivered()) == len(inst.orders)


def test_percentile_is_numpy_linear():
    assert percentile([1, 2, 3, 4], 0.9) == pytest.approx(3.7)
    assert percentile([5], 0.99) == 5
