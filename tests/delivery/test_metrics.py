"""The issue's figures (exact JSON keys, worked by hand on a tiny instance) and the evaluator's solution files."""

from __future__ import annotations

import json

import pytest

from o2o.delivery.metrics import KEYS, family_summary, instance_metrics
from o2o.delivery.simulation import simulate
from o2o.delivery.solution import ASSIGNMENTS, COURIERS, ORDERS, read_solution, write_solution

from .conftest import SMALL, write_instance

ISSUE_KEYS = [
    "instance", "policy", "orders", "delivered", "undeliverable", "mean_click_to_door_min",
    "p90_click_to_door_min", "share_over_40_min", "share_over_90_min", "mean_ready_to_pickup_min",
    "orders_per_courier_hour", "pay_per_order_usd", "rounds", "p99_round_ms", "max_round_ms",
]  # fmt: skip


def test_json_keys_are_exactly_the_issues_plus_lb_ratio(tiny):
    m = instance_metrics(simulate(tiny, "greedy"), 20.0)
    assert list(m) == [*ISSUE_KEYS, "lb_ratio"] == list(KEYS)
    assert json.loads(json.dumps(m)) == m


def test_figures_worked_by_hand(tiny):
    # c1 takes o1 at placement (0): at r1 already, pickup 10 (ready), drop-off at 17 + 2 = 19.
    # c2 takes o2 (minute 1; c1 would be back at r1 only at 26): from (1000, 0) r1 is 10 minutes away: arrive 11,
    #   pickup 13, leave 15, 5 minutes to (0, -500): arrive 20, drop-off 22.
    # c1 takes o3 (minute 2): free at 21 at (0, 500); r2 is 1118 m away, 12 min -> 33, pickup 35, leave 37,
    #   5 minutes to (1000, 500): drop-off 42 + 2 = 44.
    result = simulate(tiny, "greedy")
    assert result.schedule.delivered() == {"o1": ("c1", 10, 19), "o2": ("c2", 13, 22), "o3": ("c1", 35, 44)}
    m = instance_metrics(result, 20.0)
    ctd = [19 - 0, 22 - 1, 44 - 2]  # 19, 21, 42
    assert m["mean_click_to_door_min"] == round(sum(ctd) / 3, 3)
    assert m["p90_click_to_door_min"] == pytest.approx(21 + 0.8 * (42 - 21))
    assert (m["share_over_40_min"], m["share_over_90_min"]) == (round(1 / 3, 4), 0.0)
    assert m["mean_ready_to_pickup_min"] == round((0 + 8 + 15) / 3, 3)
    assert m["orders_per_courier_hour"] == 1.5  # 3 orders / (1 h + 1 h)
    assert m["pay_per_order_usd"] == round((max(20, 15) + max(10, 15)) / 3, 3)
    assert m["lb_ratio"] == round(sum(ctd) / 3 / 20.0, 4)
    assert (m["orders"], m["delivered"], m["undeliverable"]) == (3, 3, 0)


def test_undeliverable_orders_are_counted_apart(tmp_path):
    from o2o.delivery.mdrp import load_instance

    inst = load_instance(
        write_instance(
            tmp_path / "late",
            restaurants=[("r1", 0, 0)],
            orders=[("o1", 0, 100, 0, "r1", 5), ("o2", 0, 100, 50, "r1", 55)],  # o2 placed after every shift
            couriers=[("c1", 0, 0, 0, 30)],
        )
    )
    m = instance_metrics(simulate(inst, "greedy"))
    assert (m["orders"], m["delivered"], m["undeliverable"], m["lb_ratio"]) == (2, 1, 1, None)


def test_family_summary():
    rows = [
        {"instance": "0o50t75s1p100", "policy": "greedy", "orders": 10, "delivered": 9, "undeliverable": 1,
         "lb_ratio": 1.1, "mean_click_to_door_min": 30.0, "p99_round_ms": 1.0, "max_round_ms": 2.0},
        {"instance": "1o50t75s1p100", "policy": "greedy", "orders": 10, "delivered": 8, "undeliverable": 0,
         "lb_ratio": 1.3, "mean_click_to_door_min": 40.0, "p99_round_ms": 3.0, "max_round_ms": 4.0},
        {"instance": "0o100t100s1p100", "policy": "greedy", "orders": 5, "delivered": 5, "undeliverable": 0,
         "lb_ratio": 1.0, "mean_click_to_door_min": 20.0, "p99_round_ms": 0.5, "max_round_ms": 0.5},
    ]  # fmt: skip
    out = family_summary(rows)
    assert [s["family"] for s in out] == ["o100t100s1p100", "o50t75s1p100", "all"]
    fam = out[1]
    assert (fam["instances"], fam["lb_ratio"], fam["max_lb_ratio"]) == (2, 1.2, 1.3)
    assert (fam["undelivered"], fam["undeliverable"], fam["p99_round_ms"], fam["max_round_ms"]) == (2, 1, 3.0, 4.0)
    assert out[2]["instances"] == 3 and out[2]["mean_click_to_door_min"] == 30.0


def test_solution_files_carry_the_whole_solution(instance, tmp_path):
    inst = instance(SMALL[0])
    result = simulate(inst, "greedy")
    paths = write_solution(result, tmp_path / inst.name)
    assert [p.name for p in paths] == [ASSIGNMENTS, ORDERS, COURIERS]
    first_line = (tmp_path / inst.name / ORDERS).read_text().splitlines()[0]
    assert first_line.split("\t")[:3] == ["order", "courier", "placement_time"]
    sol = read_solution(tmp_path / inst.name)
    m = instance_metrics(result)
    # the figures, recomputed from the files alone
    delivered = [r for r in sol.orders if r["status"] == "delivered"]
    assert len(delivered) == m["delivered"] == len(sol.assignments)
    ctd = [float(r["dropoff_time"]) - float(r["placement_time"]) for r in delivered]
    assert round(sum(ctd) / len(ctd), 3) == m["mean_click_to_door_min"]
    assert [float(r["click_to_door"]) for r in delivered] == ctd
    pay = sum(float(r["pay"]) for r in sol.couriers)
    assert round(pay / len(delivered), 3) == m["pay_per_order_usd"]
    assert len(sol.couriers) == len(inst.couriers)
    assert sum(int(r["orders_delivered"]) for r in sol.couriers) == len(delivered)
    by_order = {r["order"]: r for r in sol.assignments}
    for r in delivered:
        a = by_order[r["order"]]
        assert a["courier"] == r["courier"] and a["pickup_time"] == r["pickup_time"]
        assert float(a["assignment_time"]) >= float(r["placement_time"])
