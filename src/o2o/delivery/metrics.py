"""The issue's figures for one simulated instance, and their summary per family.

Per instance (the JSON keys, in this order, then ``lb_ratio``):

* ``orders`` in the instance; ``delivered``; ``undeliverable`` (no courier's shift allows their pickup);
* ``mean_click_to_door_min``, ``p90_click_to_door_min`` (drop-off minus placement, over delivered orders; p90 by
  linear interpolation, numpy's default); ``share_over_40_min``, ``share_over_90_min`` (share of delivered orders
  with click-to-door strictly above the instance's target and maximum, 40 and 90 minutes);
* ``mean_ready_to_pickup_min``: pickup minus ready time, over delivered orders;
* ``orders_per_courier_hour``: delivered orders / total on-duty courier hours (every courier's whole shift);
* ``pay_per_order_usd``: sum over couriers of ``max($10 x orders delivered, $15 x shift hours)``, / delivered;
* ``rounds``, ``p99_round_ms``, ``max_round_ms``: decision rounds held and their wall-clock times;
* ``lb_ratio``: ``mean_click_to_door_min / lb_mean_click_to_door_min`` of ``instances_summary.tsv`` (null when
  the summary does not know the instance).
"""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from o2o.delivery.mdrp import family_of
from o2o.delivery.simulation import SimulationResult

_FAMILY = re.compile(r"^([or]\d+)t(\d+)s(\d+)p(\d+)$")
KEYS = (
    "instance",
    "policy",
    "orders",
    "delivered",
    "undeliverable",
    "mean_click_to_door_min",
    "p90_click_to_door_min",
    "share_over_40_min",
    "share_over_90_min",
    "mean_ready_to_pickup_min",
    "orders_per_courier_hour",
    "pay_per_order_usd",
    "rounds",
    "p99_round_ms",
    "max_round_ms",
    "lb_ratio",
)


def percentile(values: Iterable[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), ``q`` in [0, 1]; NaN for no values."""
    xs = sorted(values)
    if not xs:
        return math.nan
    pos = (len(xs) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def _mean(xs: Sequence[float]) -> float:
    return statistics.fmean(xs) if xs else math.nan


def _clean(x: float, digits: int) -> float | None:
    return None if math.isnan(x) else round(x, digits)


def instance_metrics(result: SimulationResult, lb_mean_click_to_door: float | None = None) -> dict[str, object]:
    """The issue's figures for one run, as a JSON-ready dict with exactly :data:`KEYS`."""
    inst = result.instance
    rules = inst.rules
    placed = {o.id: o for o in inst.orders}
    delivered = result.schedule.delivered()
    ctd = [dropoff - placed[o].placed_at for o, (_, _, dropoff) in delivered.items()]
    ready_to_pickup = [pickup - placed[o].ready_at for o, (_, pickup, _) in delivered.items()]
    per_courier = Counter(courier for courier, _, _ in delivered.values())
    hours = inst.courier_hours
    pay = sum(rules.courier_pay(c, per_courier.get(c.id, 0)) for c in inst.couriers)
    n = len(delivered)
    mean_ctd = _mean(ctd)
    ratio = mean_ctd / lb_mean_click_to_door if lb_mean_click_to_door and n else math.nan
    rounds = result.round_ms
    return {
        "instance": inst.name,
        "policy": result.policy,
        "orders": len(inst.orders),
        "delivered": n,
        "undeliverable": len(result.undeliverable),
        "mean_click_to_door_min": _clean(mean_ctd, 3),
        "p90_click_to_door_min": _clean(percentile(ctd, 0.9), 3),
        "share_over_40_min": _clean(sum(x > rules.target_click_to_door for x in ctd) / n if n else math.nan, 4),
        "share_over_90_min": _clean(sum(x > rules.max_click_to_door for x in ctd) / n if n else math.nan, 4),
        "mean_ready_to_pickup_min": _clean(_mean(ready_to_pickup), 3),
        "orders_per_courier_hour": _clean(n / hours if hours else math.nan, 4),
        "pay_per_order_usd": _clean(pay / n if n else math.nan, 3),
        "rounds": result.rounds,
        "p99_round_ms": _clean(percentile(rounds, 0.99), 3) if rounds else 0.0,
        "max_round_ms": round(max(rounds), 3) if rounds else 0.0,
        "lb_ratio": _clean(ratio, 4),
    }


FAMILY_FIGURES = (
    "lb_ratio",
    "mean_click_to_door_min",
    "p90_click_to_door_min",
    "share_over_40_min",
    "share_over_90_min",
    "mean_ready_to_pickup_min",
    "orders_per_courier_hour",
    "pay_per_order_usd",
)


def family_key(family: str) -> tuple[object, ...]:
    """o100 < o50 < r50, then t100 < t75, s1 < s2, p100 < p125; unknown names after, ``all`` last."""
    m = _FAMILY.match(family)
    if not m:
        return (2, family) if family != "all" else (3, "")
    o, t, s, p = m.groups()
    return (1, o[0], -int(o[1:]), -int(t), int(s), int(p))


def family_summary(rows: Iterable[Mapping[str, object]]) -> list[dict[str, object]]:
    """Per family (the instance name without its seed) and policy: instance count, the mean of each figure over
    the instances, the worst lb ratio, the orders left undelivered, and the round times (the worst instance's p99,
    the max of the maxima). Families in the issue's order (o100, o50, r50; t100, t75; s1, s2; p100, p125), then
    an ``all`` row."""
    groups: dict[tuple[str, str], list[Mapping[str, object]]] = defaultdict(list)
    for row in rows:
        name = str(row["instance"])
        groups[(str(row["policy"]), family_of(name))].append(row)
        groups[(str(row["policy"]), "all")].append(row)
    out = []
    for (policy, family), members in sorted(groups.items(), key=lambda kv: (kv[0][0], family_key(kv[0][1]))):
        summary: dict[str, object] = {"family": family, "policy": policy, "instances": len(members)}
        for key in FAMILY_FIGURES:
            xs = [float(m[key]) for m in members if m.get(key) is not None]  # type: ignore[arg-type]
            summary[key] = round(statistics.fmean(xs), 4) if xs else None
        ratios = [float(m["lb_ratio"]) for m in members if m.get("lb_ratio") is not None]  # type: ignore[arg-type]
        summary["max_lb_ratio"] = round(max(ratios), 4) if ratios else None
        summary["orders"] = sum(int(m["orders"]) for m in members)  # type: ignore[call-overload]
        summary["undelivered"] = sum(
            int(m["orders"]) - int(m["delivered"]) - int(m["undeliverable"])  # type: ignore[call-overload]
            for m in members
        )
        summary["undeliverable"] = sum(int(m["undeliverable"]) for m in members)  # type: ignore[call-overload]
        summary["p99_round_ms"] = round(max(float(m["p99_round_ms"]) for m in members), 3)  # type: ignore[arg-type]
        summary["max_round_ms"] = round(max(float(m["max_round_ms"]) for m in members), 3)  # type: ignore[arg-type]
        out.append(summary)
    return out
