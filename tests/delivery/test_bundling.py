from __future__ import annotations

import pytest

from o2o.delivery.dispatch import policy_names
from o2o.delivery.feasibility import check_schedule
from o2o.delivery.mdrp import SUMMARY_FILE, read_summary
from o2o.delivery.metrics import instance_metrics
from o2o.delivery.simulation import simulate

from .conftest import SMALL


@pytest.fixture(scope="module")
def summary(mdrplib):
    return read_summary(mdrplib / SUMMARY_FILE)


def test_bundle_is_registered():
    assert "bundle" in policy_names()


@pytest.mark.parametrize("name", SMALL)
def test_bundle_is_feasible_delivers_all_and_not_worse_than_greedy(instance, summary, name):
    inst = instance(name)
    result = simulate(inst, "bundle")  # raises on any feasibility violation
    assert check_schedule(inst, result.schedule) == []
    assert set(result.schedule.delivered()) == {o.id for o in inst.orders} - result.undeliverable
    lb = summary[name]["lb_mean_click_to_door_min"]
    m = instance_metrics(result, lb)
    g = instance_metrics(simulate(inst, "greedy"), lb)
    assert 1.0 <= m["lb_ratio"] <= 1.25
    assert m["delivered"] >= g["delivered"]
    assert m["mean_click_to_door_min"] <= g["mean_click_to_door_min"] * 1.02


def test_bundle_is_deterministic(instance):
    inst = instance(SMALL[0])
    a = simulate(inst, "bundle", seed=1)
    b = simulate(inst, "bundle", seed=1)
    assert a.schedule == b.schedule
    assert a.events == b.events
