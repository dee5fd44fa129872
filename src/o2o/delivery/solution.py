"""Solution files for the MDRP instances' public evaluator, ``MDRP_code/compute_performance_summary.py``.

CAUTION: the evaluator was not copied with the data (see ``../shared/data/mdrplib/README.md``) and this machine
has no internet, so the layout below is a reconstruction from what we know of the upstream repository
(``grubhub/mdrplib``): the three file names are upstream's; the columns are our best reading of what the script
needs, written in the instances' own style (TAB-separated, one header line, ids as in the instance, times in
minutes from the start of the day, printed as integers when whole). **Check them against the upstream script
before quoting its output**, and adjust :func:`write_solution` if a column differs; :func:`read_solution` reads
our files back (the tests recompute the figures from them, so the files do carry the whole solution).

``solution_info_assignments.txt`` — one row per order carried, grouped by route (a courier's trip: one pickup of
a bundle at one restaurant, then its drop-offs):

    courier  route  restaurant  order  sequence  assignment_time  departure_time  pickup_time

``route`` numbers a courier's trips from 1 in driving order; ``sequence`` is the order's place (1, 2, ...) in the
trip's drop-off sequence; ``assignment_time`` is the round that last planned the trip, ``departure_time`` when the
courier left for the restaurant (the moment the trip was committed), ``pickup_time`` the bundle's pickup.

``solution_info_orders.txt`` — one row per order of the instance, delivered or not:

    order  courier  placement_time  ready_time  assignment_time  pickup_time  dropoff_time  click_to_door
    ready_to_pickup  status

``status`` is ``delivered``, ``undeliverable`` (no courier's shift allows the pickup) or ``undelivered``; the
courier and time columns are empty for orders not delivered.

``solution_info_couriers.txt`` — one row per courier of the instance:

    courier  on_time  off_time  routes  orders_delivered  first_departure_time  last_pickup_time
    last_dropoff_time  hours_on_duty  pay

``pay`` = ``max(pay_per_order x orders_delivered, pay_per_hour x hours_on_duty)`` with ``hours_on_duty`` the
whole shift, ``(off_time - on_time) / 60`` (drop-offs after the off-time are not paid extra).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from o2o.delivery.feasibility import ExecutedRoute
from o2o.delivery.model import natural_key
from o2o.delivery.simulation import SimulationResult

ASSIGNMENTS = "solution_info_assignments.txt"
ORDERS = "solution_info_orders.txt"
COURIERS = "solution_info_couriers.txt"

ASSIGNMENT_COLUMNS = (
    "courier", "route", "restaurant", "order", "sequence", "assignment_time", "departure_time", "pickup_time",
)  # fmt: skip
ORDER_COLUMNS = (
    "order", "courier", "placement_time", "ready_time", "assignment_time", "pickup_time", "dropoff_time",
    "click_to_door", "ready_to_pickup", "status",
)  # fmt: skip
COURIER_COLUMNS = (
    "courier", "on_time", "off_time", "routes", "orders_delivered", "first_departure_time", "last_pickup_time",
    "last_dropoff_time", "hours_on_duty", "pay",
)  # fmt: skip


def fmt(x: float | int | None) -> str:
    """Minutes and amounts as the instances print them: ``12`` when whole, else up to 4 decimals."""
    if x is None:
        return ""
    if isinstance(x, int) or float(x).is_integer():
        return str(int(x))
    return f"{x:.4f}".rstrip("0").rstrip(".")


def _write(path: Path, columns: tuple[str, ...], rows: list[tuple[object, ...]]) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f, delimiter="\t", lineterminator="\n")
        out.writerow(columns)
        for row in rows:
            out.writerow([fmt(v) if isinstance(v, float | int) or v is None else v for v in row])


def write_solution(result: SimulationResult, out_dir: Path) -> list[Path]:
    """Write the three files for one run into ``out_dir`` (created); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    inst, rules = result.instance, result.instance.rules
    by_courier: dict[str, list[ExecutedRoute]] = defaultdict(list)
    for er in result.schedule.routes:
        by_courier[er.courier].append(er)
    assignment_rows: list[tuple[object, ...]] = []
    carried: dict[str, tuple[str, float, float, float]] = {}  # order -> courier, assigned, pickup, dropoff
    for courier in sorted(by_courier, key=natural_key):
        routes = sorted(by_courier[courier], key=lambda er: er.timed.depart_at)
        for n, er in enumerate(routes, start=1):
            tr = er.timed
            for seq, visit in enumerate(tr.visits[1:], start=1):
                order = visit.orders[0]
                assignment_rows.append(
                    (courier, n, tr.route.restaurant, order, seq, er.decided_at, tr.depart_at, tr.pickup.at)
                )
                carried[order] = (courier, er.decided_at, tr.pickup.at, visit.at)
    order_rows: list[tuple[object, ...]] = []
    for order in sorted(inst.orders, key=lambda o: natural_key(o.id)):
        if order.id in carried:
            courier, assigned, pickup, dropoff = carried[order.id]
            order_rows.append((order.id, courier, order.placed_at, order.ready_at, assigned, pickup, dropoff,
                               dropoff - order.placed_at, pickup - order.ready_at, "delivered"))  # fmt: skip
        else:
            status = "undeliverable" if order.id in result.undeliverable else "undelivered"
            order_rows.append((order.id, None, order.placed_at, order.ready_at, None, None, None, None, None, status))
    courier_rows: list[tuple[object, ...]] = []
    for c in inst.couriers:
        routes = by_courier.get(c.id, [])
        n_orders = sum(len(er.timed.route.orders) for er in routes)
        courier_rows.append((
            c.id, c.on_time, c.off_time, len(routes), n_orders,
            min((er.timed.depart_at for er in routes), default=None),
            max((er.timed.pickup.at for er in routes), default=None),
            max((er.timed.visits[-1].at for er in routes), default=None),
            round(c.shift_hours, 4), round(rules.courier_pay(c, n_orders), 4),
        ))  # fmt: skip
    paths = [out_dir / ASSIGNMENTS, out_dir / ORDERS, out_dir / COURIERS]
    _write(paths[0], ASSIGNMENT_COLUMNS, assignment_rows)
    _write(paths[1], ORDER_COLUMNS, order_rows)
    _write(paths[2], COURIER_COLUMNS, courier_rows)
    return paths


@dataclass(frozen=True)
class SolutionFiles:
    assignments: list[dict[str, str]]
    orders: list[dict[str, str]]
    couriers: list[dict[str, str]]


def read_solution(out_dir: Path) -> SolutionFiles:
    def rows(name: str) -> list[dict[str, str]]:
        with (out_dir / name).open(newline="") as f:
            return list(csv.DictReader(f, delimiter="\t"))

    return SolutionFiles(rows(ASSIGNMENTS), rows(ORDERS), rows(COURIERS))
