"""The Meal Delivery Routing Problem instances of Reyes et al. (Grubhub, ``grubhub/mdrplib``): loading and rules.

The data lives outside the repository, in ``../shared/data/mdrplib`` relative to the repository root (never
copied in); ``O2O_MDRPLIB`` (or the CLI's ``--data-dir``) points elsewhere. Layout::

    mdrplib/instances_summary.tsv            one row per instance: sizes, lower bounds (lb_mean_click_to_door_min)
    mdrplib/public_instances/<name>/         e.g. 0o100t100s1p100 = seed 0, o100, t100, s1, p100
        orders.txt                order x y placement_time restaurant ready_time
        restaurants.txt           restaurant x y
        couriers.txt              courier x y on_time off_time
        instance_parameters.txt   meters_per_minute, pickup/dropoff service minutes, target/maximum
                                  click-to-door, pay per order, guaranteed pay per hour

All TAB-separated with a header line; times are integer minutes from the start of the day, places metres.

An order is *undeliverable* when no courier's shift allows its pickup even from the restaurant's door: no
courier with ``max(ready_time, max(on_time, placement_time) + pickup_service / 2) <= off_time``.
Its *lower bound* click-to-door is ``ready - placement + pickup_service/2 + travel(restaurant, customer) +
dropoff_service/2`` (a courier waiting at the door, going straight to the customer): the mean of these is
``lb_mean_click_to_door_min`` in the summary.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from o2o.delivery.model import Courier, EuclideanCeilTravel, Order, Restaurant, Rules, natural_key

ENV_VAR = "O2O_MDRPLIB"
SHARED_COPY = Path("/work/shared/data/mdrplib")
SUMMARY_FILE = "instances_summary.tsv"
INSTANCES_FOLDER = "public_instances"
_REPO_ROOT = Path(__file__).resolve().parents[3]
_NAME = re.compile(r"^(\d+)((o100|o50|r50)(t100|t75)(s1|s2)(p100|p125))$")


class InstanceError(Exception):
    """An instance folder that is missing or malformed."""


@dataclass(frozen=True)
class Instance:
    name: str
    path: Path
    rules: Rules
    restaurants: dict[str, Restaurant]
    orders: tuple[Order, ...]  # first come first served: by placement time, then id
    couriers: tuple[Courier, ...]  # in file order

    @property
    def family(self) -> str:
        return family_of(self.name)

    @property
    def courier_hours(self) -> float:
        return sum(c.shift_hours for c in self.couriers)


def family_of(name: str) -> str:
    """``3o50t75s2p125`` -> ``o50t75s2p125`` (the instance without its seed)."""
    m = _NAME.match(name)
    return m.group(2) if m else name


def default_data_dir() -> Path:
    """``$O2O_MDRPLIB``, else ``../shared/data/mdrplib`` beside the repository (or beside the working directory),
    else the team machines' shared copy (``/work/shared/data/mdrplib``, for checkouts made elsewhere, as CI's)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env)
    for base in (_REPO_ROOT, Path.cwd()):
        candidate = (base / ".." / "shared" / "data" / "mdrplib").resolve()
        if candidate.is_dir():
            return candidate
    if SHARED_COPY.is_dir():
        return SHARED_COPY
    return (_REPO_ROOT / ".." / "shared" / "data" / "mdrplib").resolve()


def _rows(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as f:
            return list(csv.DictReader(f, delimiter="\t"))
    except FileNotFoundError:
        raise InstanceError(f"{path} is missing") from None


def load_instance(path: Path | str) -> Instance:
    path = Path(path)
    if not (path / "orders.txt").is_file():
        raise InstanceError(f"{path} is not an MDRP instance folder (no orders.txt)")
    try:
        params = _rows(path / "instance_parameters.txt")[0]
        rules = Rules(
            travel=EuclideanCeilTravel(float(params["meters_per_minute"])),
            pickup_service=float(params["pickup service minutes"]),
            dropoff_service=float(params["dropoff service minutes"]),
            pay_per_order=float(params["pay per order"]),
            pay_per_hour=float(params["guaranteed pay per hour"]),
            target_click_to_door=float(params["target click-to-door"]),
            max_click_to_door=float(params["maximum click-to-door"]),
        )
        restaurants = {
            r["restaurant"]: Restaurant(r["restaurant"], (float(r["x"]), float(r["y"])))
            for r in _rows(path / "restaurants.txt")
        }
        orders = [
            Order(
                r["order"],
                r["restaurant"],
                (float(r["x"]), float(r["y"])),
                float(r["placement_time"]),
                float(r["ready_time"]),
            )
            for r in _rows(path / "orders.txt")
        ]
        couriers = tuple(
            Courier(r["courier"], (float(r["x"]), float(r["y"])), float(r["on_time"]), float(r["off_time"]))
            for r in _rows(path / "couriers.txt")
        )
    except (KeyError, IndexError, ValueError) as e:
        raise InstanceError(f"{path}: malformed instance file ({e!r})") from e
    unknown = {o.restaurant for o in orders} - restaurants.keys()
    if unknown:
        raise InstanceError(f"{path}: orders from unknown restaurants {sorted(unknown)[:5]}")
    orders.sort(key=lambda o: (o.placed_at, natural_key(o.id)))
    return Instance(path.name, path, rules, restaurants, tuple(orders), couriers)


def find_instances(paths: Iterable[Path | str], data_dir: Path | None = None) -> list[Path]:
    """Instance folders named by ``paths``: an instance folder, a folder of them (``public_instances``), the
    mdrplib folder itself, or a bare instance name looked up in the data directory. Raises InstanceError."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists() and not path.is_absolute() and len(path.parts) == 1:
            path = (data_dir or default_data_dir()) / INSTANCES_FOLDER / path
        if (path / "orders.txt").is_file():
            found.append(path)
            continue
        if (path / INSTANCES_FOLDER).is_dir():
            path = path / INSTANCES_FOLDER
        children = sorted(
            (p for p in path.iterdir() if (p / "orders.txt").is_file()) if path.is_dir() else (),
            key=lambda p: natural_key(p.name),
        )
        if not children:
            raise InstanceError(f"{raw}: no MDRP instance there (an instance folder holds orders.txt)")
        found.extend(children)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def read_summary(path: Path) -> dict[str, dict[str, float]]:
    """``instances_summary.tsv``: instance name -> its numeric columns."""
    out: dict[str, dict[str, float]] = {}
    for row in _rows(path):
        name = row.pop("instance")
        out[name] = {k: float(v) for k, v in row.items() if v not in ("", None)}
    return out


def find_summary(instance_paths: Sequence[Path], data_dir: Path | None = None) -> Path | None:
    """The summary file beside the instances (``<mdrplib>/instances_summary.tsv``), else in the data dir."""
    candidates = [p.parent.parent / SUMMARY_FILE for p in instance_paths[:1]]
    candidates.append((data_dir or default_data_dir()) / SUMMARY_FILE)
    return next((c for c in candidates if c.is_file()), None)


def pickup_possible(rules: Rules, courier: Courier, order: Order) -> bool:
    """Whether the courier's shift allows the order's pickup, at best (already at the restaurant's door)."""
    return max(order.ready_at, max(courier.on_time, order.placed_at) + rules.pickup_service / 2) <= courier.off_time


def undeliverable_orders(instance: Instance) -> set[str]:
    """Orders no courier's shift can pick up (the issue's definition); counted apart, never held against a policy."""
    couriers = instance.couriers
    rules = instance.rules
    return {o.id for o in instance.orders if not any(pickup_possible(rules, c, o) for c in couriers)}


def lower_bound_click_to_door(instance: Instance, order: Order) -> float:
    rules = instance.rules
    travel = rules.travel(instance.restaurants[order.restaurant].location, order.dropoff)
    return order.ready_at - order.placed_at + rules.pickup_service / 2 + travel + rules.dropoff_service / 2
