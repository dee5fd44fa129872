"""The demo city's deals: a share of the stores sell deals whose terms hold, and a month of voucher history that is
deterministic, plausible (redeemed in the deal's stores, within its rules) and claims no money."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from o2o.db import Database
from o2o.deals import repository, rules, service
from o2o.deals.models import Deal, DealStore, Voucher
from o2o.demo import service as demo_service
from o2o.demo.generator import STEPS
from o2o.kit import time as clock
from o2o.stores.models import Store
from o2o.wallet.models import PaymentIntent


@pytest.fixture(autouse=True)
def deals_step():  # type: ignore[no-untyped-def]
    """The deals step in the generator for these tests only: other tests of the demo city compare exact row counts
    of the steps they know, so the generator is left as it was found."""
    before = list(STEPS)
    from o2o.deals import demo  # registers itself at its first import

    demo.register()
    yield demo
    STEPS[:] = before


def _seed(db: Database, **kwargs: object) -> demo_service.SeedSummary:
    with db.session() as s:
        return demo_service.seed(s, size="small", seed=42, **kwargs)  # type: ignore[arg-type]


def _rows(db: Database) -> tuple[list, list]:
    with db.sessionmaker() as s:
        deals = s.execute(select(Deal.__table__).order_by(Deal.id)).all()
        vouchers = s.execute(select(Voucher.__table__).order_by(Voucher.id)).all()
    return [tuple(r) for r in deals], [tuple(r) for r in vouchers]


def test_the_demo_city_sells_deals_with_a_month_of_history(db: Database) -> None:
    assert [step.name for step in STEPS].count("deals") == 1  # registered once, at import
    summary = _seed(db)
    assert summary.counts["deals"] >= 10 and summary.counts["vouchers"] >= 100
    with db.sessionmaker() as s:
        deals = list(s.scalars(select(Deal)))
        stores = {st.id: st for st in s.scalars(select(Store))}
        covered = repository.deals_store_ids(s, [d.id for d in deals])
        vouchers = list(s.scalars(select(Voucher)))
        first_store = s.scalars(select(Store.id).order_by(Store.id).limit(1)).one()
        zone = ZoneInfo("Asia/Shanghai")
        anchor = dt.datetime.combine(clock.now().astimezone(zone).date(), dt.time(), zone).astimezone(dt.UTC)
        figures = [service.voucher_redemptions(s, st, anchor - dt.timedelta(days=31), anchor) for st in stores]
        assert s.scalar(select(PaymentIntent.id).limit(1)) is None  # no money was claimed
    selling = {d.store_id for d in deals}
    assert first_store in selling and 0.2 <= len(selling) / len(stores) <= 0.8
    by_deal = {d.id: d for d in deals}
    for d in deals:
        terms = rules.DealTerms(
            d.title, repository.decode_lines(d.lines), d.price, d.original_price, d.quantity_total,
            d.per_person_limit, d.sale_starts_at, d.sale_ends_at, d.valid_from, d.valid_until,
            service.usage_rules(d),
        )
        assert rules.check_terms(terms) == terms
        assert d.status == "published" and d.store_id in covered[d.id]
        assert {stores[s].merchant_id for s in covered[d.id]} == {d.merchant_id}
    assert len({v.code for v in vouchers}) == len(vouchers)
    assert Counter(v.status for v in vouchers).keys() == {"redeemed", "refunded"}
    for v in vouchers:
        d = by_deal[v.deal_id]
        assert v.intent_id is None and v.settled_at is None and v.limit_slot is None
        assert len(v.code) == 12 and v.code.isdigit() and v.price == d.price
        assert anchor - dt.timedelta(days=30) <= v.issued_at <= anchor and v.created_at == v.issued_at
        assert uuid.UUID(str(v.id)).version == 7
        if v.status == "redeemed":
            assert v.redeemed_store_id in covered[d.id] and v.issued_at < v.redeemed_at <= anchor
            assert service.usage_rules(d).allows(v.redeemed_at.astimezone(zone))
        else:
            assert v.refund_reason == "requested" and v.issued_at < v.refunded_at
    for d in deals:
        redeemed = sum(1 for v in vouchers if v.deal_id == d.id and v.status == "redeemed")
        assert d.quantity_sold == redeemed and (d.quantity_total is None or redeemed <= d.quantity_total)
    assert sum(count for count, _amount in figures) == sum(1 for v in vouchers if v.status == "redeemed")
    with db.session() as s:  # the jobs never meet the history
        later = anchor + dt.timedelta(days=400)
        assert service.expire_vouchers(s, now=later) == 0 and service.settle_redeemed(s, None, now=later) == 0


def test_the_same_seed_gives_the_same_deals_and_replacing_removes_them(db: Database, deals_step) -> None:  # type: ignore[no-untyped-def]
    _seed(db)
    first = _rows(db)
    again = _seed(db, replace=True)
    assert again.deleted["vouchers"] == len(first[1]) and again.deleted["deals"] == len(first[0])
    assert _rows(db) == first
    with db.sessionmaker() as s:
        assert s.scalar(select(DealStore.deal_id).where(DealStore.deal_id.not_in([r[0] for r in first[0]]))) is None
    assert deals_step.HISTORY_DAYS == 30
