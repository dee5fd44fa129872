"""``bundle``: a rolling-horizon dispatch policy that re-plans tentative work every round and bundles orders.

Each round every assignable order (not yet in a committed route) is re-planned from scratch: tentative plans
from earlier rounds are dropped, so queued work never outlives a courier's shift. Orders are grouped by
restaurant (bundles of at most ``max_bundle`` orders whose ready times lie within ``ready_window`` minutes),
bundles are taken by ready time, and each goes to the courier who can pick it up earliest after the work
already given to it this round (the same tie rules as ``greedy``). Drop-offs run nearest-neighbour from the
restaurant. Each route carries ``not_before`` so the courier leaves only when it must to meet the food, which
keeps the route tentative (revisable next round) until then. Uses only the ``RoundView``.
"""

from __future__ import annotations

from o2o.delivery.dispatch import Decisions, register_policy
from o2o.delivery.model import Point, RoundView, Route


@register_policy("bundle")
class BundlePolicy:
    name = "bundle"

    def __init__(self, max_bundle: int = 3, ready_window: float = 8.0) -> None:
        self.max_bundle = max_bundle
        self.ready_window = ready_window

    def decide(self, view: RoundView) -> Decisions:
        rules, travel, now = view.rules, view.rules.travel, view.now
        half = rules.pickup_service / 2
        by_rest: dict[str, list[str]] = {}
        for oid in view.assignable:
            by_rest.setdefault(view.orders[oid].restaurant, []).append(oid)
        bundles: list[tuple[float, str, tuple[str, ...]]] = []
        for rest, ids in by_rest.items():
            ids.sort(key=lambda o: (view.orders[o].ready_at, o))
            cur: list[str] = []
            for oid in ids:
                if cur and (
                    len(cur) >= self.max_bundle
                    or view.orders[oid].ready_at - view.orders[cur[0]].ready_at > self.ready_window
                ):
                    bundles.append((max(view.orders[o].ready_at for o in cur), rest, tuple(cur)))
                    cur = []
                cur.append(oid)
            if cur:
                bundles.append((max(view.orders[o].ready_at for o in cur), rest, tuple(cur)))
        bundles.sort(key=lambda b: (b[0], b[2][0]))
        ends: dict[str, tuple[float, Point]] = {s.id: (max(s.free_at, now), s.free_location) for s in view.couriers}
        plans: dict[str, list[Route]] = {s.id: [] for s in view.couriers if s.planned}
        states = view.couriers
        for ready, rest, ids in bundles:
            where = view.restaurants[rest].location
            best = None
            best_state = None
            for state in states:
                t, here = ends[state.id]
                drive = travel(here, where)
                arrive = t + drive
                pickup = max(ready, arrive + half)
                if pickup > state.courier.off_time:
                    continue
                key = (pickup, -arrive, drive)
                if best is None or key < best:
                    best, best_state = key, state
            if best is None or best_state is None:
                continue
            pickup, _, drive = best
            t, _here = ends[best_state.id]
            # drop-off order: nearest neighbour from the restaurant
            seq: list[str] = []
            left = list(ids)
            pos = where
            while left:
                nxt = min(left, key=lambda o: (travel(pos, view.orders[o].dropoff), o))
                seq.append(nxt)
                left.remove(nxt)
                pos = view.orders[nxt].dropoff
            not_before = max(t, ready - half - drive)
            route = Route(rest, tuple(seq), not_before if not_before > t else None)
            plans.setdefault(best_state.id, []).append(route)
            leave = rules.leave_pickup(pickup)
            pos = where
            for o in seq:
                arrive = leave + travel(pos, view.orders[o].dropoff)
                leave = rules.leave_dropoff(arrive)
                pos = view.orders[o].dropoff
            ends[best_state.id] = (leave, pos)
        return Decisions({c: tuple(r) for c, r in plans.items()})
