"""``o2o delivery bench``: the CI smoke run on small instances, output formats and exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from o2o import cli
from o2o.delivery import dispatch
from o2o.delivery.cli import EXIT_FAILED, EXIT_UNDELIVERED, EXIT_USAGE
from o2o.delivery.dispatch import Decisions
from o2o.delivery.model import Route
from o2o.delivery.solution import ASSIGNMENTS, COURIERS, ORDERS

from .conftest import SMALL, write_instance
from .test_metrics import ISSUE_KEYS

runner = CliRunner()


@pytest.fixture(scope="module")
def o2o():
    cli._register_subcommands()
    return cli.app


def test_bench_smoke_json_on_small_instances(o2o, mdrplib, tmp_path):
    folders = [str(mdrplib / "public_instances" / name) for name in SMALL[:2]]
    result = runner.invoke(o2o, ["delivery", "bench", *folders, "--json", "--solution-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["instance"] for r in lines] == list(SMALL[:2])
    for r in lines:
        assert list(r) == [*ISSUE_KEYS, "lb_ratio"]
        assert r["policy"] == "greedy" and r["delivered"] == r["orders"] and 1.0 <= r["lb_ratio"] <= 1.25
    for name in SMALL[:2]:
        assert all((tmp_path / name / f).is_file() for f in (ASSIGNMENTS, ORDERS, COURIERS))


def test_bench_tables_by_instance_name(o2o, mdrplib):
    result = runner.invoke(o2o, ["delivery", "bench", SMALL[0], SMALL[1], "--data-dir", str(mdrplib)])
    assert result.exit_code == 0, result.output
    for text in (SMALL[0], SMALL[1], "Per family", "o50t75s1p100", "r50t100s1p100", "× lb"):
        assert text in result.stdout


def test_wrong_usage_exits_2(o2o, tmp_path):
    result = runner.invoke(o2o, ["delivery", "bench", str(tmp_path), "--json"])
    assert result.exit_code == EXIT_USAGE and result.stdout == ""
    result = runner.invoke(o2o, ["delivery", "bench", str(tmp_path), "--policy", "nope"])
    assert result.exit_code == EXIT_USAGE and "Unknown policy" in result.output


def test_undelivered_orders_exit_3(o2o, tmp_path):
    # one courier, 0-30; two orders of r1 placed at 0 for customers 15 minutes away: greedy queues the second
    # behind the first, whose round trip ends the shift. Both were deliverable.
    folder = write_instance(
        tmp_path / "short",
        restaurants=[("r1", 0, 0)],
        orders=[("o1", 0, 1500, 0, "r1", 1), ("o2", 0, -1500, 0, "r1", 1)],
        couriers=[("c1", 0, 0, 0, 30)],
    )
    result = runner.invoke(o2o, ["delivery", "bench", str(folder), "--json"])
    assert result.exit_code == EXIT_UNDELIVERED, result.output
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["orders"], row["delivered"], row["undeliverable"], row["lb_ratio"]) == (2, 1, 0, None)


class Cheat:
    name = "cheat"

    def decide(self, view):  # hands out an order that was never placed
        return Decisions({view.couriers[0].id: (Route("r1", ("o999",)),)})


def test_a_run_that_breaks_the_rules_exits_1(o2o, tmp_path, monkeypatch):
    monkeypatch.setitem(dispatch._REGISTRY, "cheat", Cheat)
    folder = write_instance(
        tmp_path / "one",
        restaurants=[("r1", 0, 0)],
        orders=[("o1", 0, 100, 0, "r1", 1)],
        couriers=[("c1", 0, 0, 0, 30)],
    )
    result = runner.invoke(o2o, ["delivery", "bench", str(folder), "--policy", "cheat", "--json"])
    assert result.exit_code == EXIT_FAILED
    assert result.stdout == "" and "policy_error: unknown_order" in result.stderr
