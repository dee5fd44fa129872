"""The engine: checks on a policy's decisions, greedy's choices, ETAs and quotes, on hand-built views."""

from __future__ import annotations

import pytest

from o2o.delivery.dispatch import (
    Decisions,
    Eta,
    GreedyPolicy,
    Policy,
    PolicyError,
    apply_decisions,
    make_policy,
    policy_names,
    queue_end,
    quote,
)
from o2o.delivery.model import (
    Courier,
    CourierState,
    EuclideanCeilTravel,
    Order,
    Restaurant,
    RoundView,
    Route,
    Rules,
)

RULES = Rules(EuclideanCeilTravel(100))  # 1 minute per 100 m
RESTAURANTS = {"r1": Restaurant("r1", (0, 0)), "r2": Restaurant("r2", (1000, 0))}
O1 = Order("o1", "r1", (0, 500), 0, 10)  # 5 minutes from r1
O2 = Order("o2", "r1", (0, -500), 1, 5)
O3 = Order("o3", "r2", (1000, 500), 2, 20)
C1 = Courier("c1", (0, 0), 0, 60)
C2 = Courier("c2", (1000, 0), 0, 60)


def view(now=2, orders=(O1, O2, O3), couriers=None, committed=(), tentative=None) -> RoundView:
    states = couriers or (
        CourierState(C1, None, (), C1.on_time, C1.location),
        CourierState(C2, None, (), C2.on_time, C2.location),
    )
    by_id = {o.id: o for o in orders}
    return RoundView(
        now=now,
        rules=RULES,
        restaurants=RESTAURANTS,
        orders=by_id,
        assignable=tuple(o.id for o in orders if o.id not in committed),
        couriers=tuple(states),
        tentative=tentative or {},
    )


def test_registry():
    assert "greedy" in policy_names()
    policy = make_policy("greedy", seed=7)  # options a policy does not take are dropped
    assert isinstance(policy, Policy) and policy.name == "greedy"
    with pytest.raises(KeyError, match="unknown policy"):
        make_policy("no-such-policy")


def test_greedy_first_come_first_served_earliest_pickup_counting_queued_work():
    v = view()
    decisions = GreedyPolicy().decide(v)
    # o1 (placed first, ready 10): c1 is at r1 (pickup 10); c2 would arrive at 10+2=12. c1 gets it.
    # o2 (ready 5): c1 is now busy until it has dropped o1 off: pickup 10 + 2 -> 12, to (0,500) 5 min -> 17,
    #   leaves 21, back to r1 at 26, pickup 28. c2: 10 minutes to r1 -> arrive 12, pickup 14. c2 gets it.
    # o3 (ready 20) at r2: c1 free at 21 + ... ; c2 free after o2: leaves r1 16, (0,-500) at 21, leaves 25,
    #   to r2 sqrt(1000^2+500^2)=1118 m -> 12 min -> 37, pickup 39. c1: leaves (0,500) at 21, to r2 12 min -> 33,
    #   pickup 35. c1 gets it.
    assert decisions.plans == {
        "c1": (Route("r1", ("o1",)), Route("r2", ("o3",))),
        "c2": (Route("r1", ("o2",)),),
    }
    plan = apply_decisions(v, decisions)
    assert plan.eta("o1").dropoff_at == 19 and plan.eta("o1").pickup_at == 10
    assert (plan.eta("o2").courier, plan.eta("o2").pickup_at, plan.eta("o2").dropoff_at) == ("c2", 14, 23)
    assert (plan.eta("o3").courier, plan.eta("o3").pickup_at, plan.eta("o3").dropoff_at) == ("c1", 35, 44)
    assert not plan.eta("o3").committed


def test_greedy_leaves_alone_what_it_already_planned_and_waits_when_no_courier_can():
    tentative_c1 = CourierState(C1, None, (Route("r1", ("o1",)),), C1.on_time, C1.location)
    v = view(orders=(O1,), couriers=(tentative_c1,), tentative={"o1": "c1"})
    assert GreedyPolicy().decide(v).plans == {}
    late = CourierState(Courier("c9", (0, 0), 0, 4), None, (), 0, (0, 0))  # off before o1 is ready
    assert GreedyPolicy().decide(view(orders=(O1,), couriers=(late,))).plans == {}


def test_greedy_tie_goes_to_the_courier_who_waits_least():
    near = Courier("near", (0, 100), 0, 60)  # 1 minute from r1
    far = Courier("far", (0, 400), 0, 60)  # 4 minutes from r1; both wait for o1 (ready 10)
    states = tuple(CourierState(c, None, (), 0, c.location) for c in (near, far))
    assert GreedyPolicy().decide(view(orders=(O1,), couriers=states)).plans == {"far": (Route("r1", ("o1",)),)}


def test_queue_end_and_quote_count_planned_work():
    state = CourierState(C1, None, (Route("r1", ("o1",)),), 0, C1.location)
    v = view(orders=(O1, O2), couriers=(state,), tentative={"o1": "c1"})
    assert queue_end(v, state) == (21, (0, 500))  # pickup 10, leave 12, arrive 17, leave 21
    q = quote(v, O2)
    assert (q.courier, q.pickup_at, q.dropoff_at) == ("c1", 28, 37)  # back to r1 at 26, pickup 28, drop 35+2
    assert (
        quote(view(orders=(O1,), couriers=(CourierState(Courier("x", (0, 0), 0, 3), None, (), 0, (0, 0)),)), O1) is None
    )


@pytest.mark.parametrize(
    ("plans", "code"),
    [
        ({"c7": (Route("r1", ("o1",)),)}, "unknown_courier"),
        ({"c1": (Route("r1", ("o9",)),)}, "unknown_order"),
        ({"c1": (Route("r1", ()),)}, "empty_route"),
        ({"c1": (Route("r1", ("o1", "o3")),)}, "bundle_mixed_restaurants"),
        ({"c1": (Route("r1", ("o1",)),), "c2": (Route("r1", ("o1",)),)}, "order_assigned_twice"),
        ({"c1": (Route("r1", ("o1",)), Route("r1", ("o1",)))}, "order_assigned_twice"),
        ({"c1": (Route("r1", ("o2",)),)}, "committed_order"),
        ({"c1": (Route("r1", ("o1",)), Route("r2", ("o3",), not_before=59))},
         "pickup_after_off_time"),
    ],
)  # fmt: skip
def test_broken_decisions_are_refused(plans, code):
    v = view(committed={"o2"})
    with pytest.raises(PolicyError) as e:
        apply_decisions(v, Decisions(plans))
    assert e.value.code == code


def test_a_plan_kept_from_an_earlier_round_cannot_be_given_twice():
    c1 = CourierState(C1, None, (Route("r1", ("o1",)),), 0, C1.location)
    c2 = CourierState(C2, None, (), 0, C2.location)
    v = view(couriers=(c1, c2), tentative={"o1": "c1"})
    with pytest.raises(PolicyError, match="order_assigned_twice"):
        apply_decisions(v, Decisions({"c2": (Route("r1", ("o1",)),)}))
    plan = apply_decisions(v, Decisions({"c1": (), "c2": (Route("r1", ("o1",)),)}))  # moved: allowed
    assert plan.planned == {"c2": (Route("r1", ("o1",)),)} and plan.eta("o1").courier == "c2"


def test_live_eta_of_committed_work():
    bundle = RULES.time_route(Route("r1", ("o1", "o2")), RESTAURANTS["r1"], [O1, O2], 0, C1.location)
    # pickup 10, leave 12; (0,500) at 17, drop-off 19, leave 21; (0,-500) 10 minutes later: 31, drop-off 33
    state = CourierState(C1, bundle, (), bundle.end_at, bundle.end_location)
    v = view(now=20, orders=(), couriers=(state,))
    plan = apply_decisions(v, Decisions())
    assert plan.eta("o1") is None  # delivered at 19
    assert plan.eta("o2") == Eta("o2", "c1", 10, 33, True)
    assert plan.timelines("c1") == (bundle,)
