"""Fixtures for the pure delivery tests: the MDRP data beside the repository, and tiny hand-made instances."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from o2o.delivery.mdrp import INSTANCES_FOLDER, Instance, default_data_dir, load_instance

# The fastest of the 120 (o50/r50, fewest orders); the CI smoke run uses them.
SMALL = ("0o50t75s1p100", "0r50t100s1p100", "1o50t100s2p100")


@pytest.fixture(scope="session")
def mdrplib() -> Path:
    data = default_data_dir()
    if not (data / INSTANCES_FOLDER).is_dir():
        pytest.skip(f"the MDRP instances are not at {data} (set O2O_MDRPLIB)")  # a failure in CI
    return data


@functools.cache
def _load(path: str) -> Instance:
    return load_instance(path)


@pytest.fixture(scope="session")
def instance(mdrplib: Path) -> Callable[[str], Instance]:
    """``instance("0o50t75s1p100")``: a real instance, loaded once per session."""
    return lambda name: _load(str(mdrplib / INSTANCES_FOLDER / name))


def write_instance(
    folder: Path,
    *,
    restaurants: Sequence[tuple[str, float, float]],
    orders: Sequence[tuple[str, float, float, float, str, float]],
    couriers: Sequence[tuple[str, float, float, float, float]],
    meters_per_minute: float = 100,
) -> Path:
    """Write an instance in the MDRP files' format (TAB-separated, header line)."""
    folder.mkdir(parents=True, exist_ok=True)

    def put(name: str, header: str, rows: Sequence[Sequence[object]]) -> None:
        lines = [header, *("\t".join(str(v) for v in row) for row in rows)]
        (folder / name).write_text("\n".join(lines) + "\n")

    put("restaurants.txt", "restaurant\tx\ty", restaurants)
    put("orders.txt", "order\tx\ty\tplacement_time\trestaurant\tready_time", orders)
    put("couriers.txt", "courier\tx\ty\ton_time\toff_time", couriers)
    put(
        "instance_parameters.txt",
        "meters_per_minute\tpickup service minutes\tdropoff service minutes\ttarget click-to-door\t"
        "maximum click-to-door\tpay per order\tguaranteed pay per hour",
        [(meters_per_minute, 4, 4, 40, 90, 10, 15)],
    )
    return folder


@pytest.fixture
def tiny(tmp_path: Path) -> Instance:
    """Two restaurants on a line (100 m/min, so 1 minute per 100 m), three orders, two couriers.

    r1 at (0, 0), r2 at (1000, 0); o1 from r1 to (0, 500), placed 0 ready 10; o2 from r1 to (0, -500), placed 1
    ready 5; o3 from r2 to (1000, 500), placed 2 ready 20. c1 at (0, 0) on 0-60; c2 at (1000, 0) on 0-60.
    """
    return load_instance(
        write_instance(
            tmp_path / "tiny",
            restaurants=[("r1", 0, 0), ("r2", 1000, 0)],
            orders=[("o1", 0, 500, 0, "r1", 10), ("o2", 0, -500, 1, "r1", 5), ("o3", 1000, 500, 2, "r2", 20)],
            couriers=[("c1", 0, 0, 0, 60), ("c2", 1000, 0, 0, 60)],
        )
    )
