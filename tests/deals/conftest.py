"""Deals test helpers: a merchant with two stores (and a stranger's store), people with roles, a funded wallet, and
deals with terms that are easy to bend per test."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from dataclasses import dataclass, replace

import pytest
from sqlalchemy import func, select

from o2o.accounts import service as accounts
from o2o.accounts.models import Person
from o2o.accounts.permissions import Role
from o2o.config import Settings
from o2o.db import Database
from o2o.deals import service
from o2o.deals.models import Deal, Voucher
from o2o.deals.rules import DealTerms, Line, UsageRules
from o2o.kit.geo import h3_cell
from o2o.stores.models import Merchant, Store
from o2o.wallet import chart, payments
from o2o.wallet import service as ledger
from o2o.wallet.channels import base as ch
from o2o.wallet.models import PaymentIntent, Refund, WalletTransfer
from tests.wallet.conftest import Shop, make_shop

T0 = dt.datetime(2026, 11, 25, 4, 0, tzinfo=dt.UTC)  # Wednesday, noon in Beijing
DAY = dt.timedelta(days=1)
_phones = itertools.count(500)


@dataclass(frozen=True)
class World:
    shop: Shop  # city, the deal's store, its merchant, a customer, another person, a courier
    branch_id: uuid.UUID  # another store of the same merchant
    stranger_store_id: uuid.UUID  # a store of another merchant
    owner_id: uuid.UUID  # owns the merchant's stores
    staff_id: uuid.UUID  # works in the deal's store
    branch_staff_id: uuid.UUID  # works in the branch
    stranger_staff_id: uuid.UUID  # works in the stranger's store

    @property
    def city_id(self) -> uuid.UUID:
        return self.shop.city_id

    @property
    def store_id(self) -> uuid.UUID:
        return self.shop.store_id

    @property
    def customer_id(self) -> uuid.UUID:
        return self.shop.customer_id


def _store(s, city_id: uuid.UUID, merchant_id: uuid.UUID, name: str) -> Store:  # type: ignore[no-untyped-def]
    store = Store(city_id=city_id, merchant_id=merchant_id, name=name, category="food", lat=39.91, lng=116.41,
                  h3_r9=h3_cell(39.91, 116.41), address=f"{name} Road 1")
    s.add(store)
    s.flush()
    return store


def make_world(db: Database, slug: str = "dealville", commission_bp: int = 1500) -> World:
    shop = make_shop(db, slug, commission_bp=commission_bp)
    with db.session() as s:
        branch = _store(s, shop.city_id, shop.merchant_id, "Noodle House East")
        stranger_merchant = Merchant(city_id=shop.city_id, name="Tea Corner Ltd", commission_rate_bp=1000)
        s.add(stranger_merchant)
        s.flush()
        stranger = _store(s, shop.city_id, stranger_merchant.id, "Tea Corner")
        people = [Person(phone_e164=f"+86139{next(_phones):08d}") for _ in range(4)]
        s.add_all(people)
        s.flush()
        owner, staff, branch_staff, stranger_staff = (p.id for p in people)
        for store_id in (shop.store_id, branch.id):
            accounts.ensure_role(s, owner, Role.MERCHANT_OWNER, city_id=shop.city_id, store_id=store_id)
        accounts.ensure_role(s, staff, Role.MERCHANT_STAFF, city_id=shop.city_id, store_id=shop.store_id)
        accounts.ensure_role(s, branch_staff, Role.MERCHANT_STAFF, city_id=shop.city_id, store_id=branch.id)
        accounts.ensure_role(s, stranger_staff, Role.MERCHANT_STAFF, city_id=shop.city_id, store_id=stranger.id)
        for person in (shop.customer_id, shop.other_id):
            accounts.ensure_role(s, person, Role.CUSTOMER)
        return World(shop, branch.id, stranger.id, owner, staff, branch_staff, stranger_staff)


@pytest.fixture
def world(db: Database) -> World:
    return make_world(db)


def terms(**changes: object) -> DealTerms:
    """A lunch deal on sale around T0, valid for 30 days, every day, all day."""
    base = DealTerms(
        title="Dumpling lunch for two",
        lines=(Line("pork dumplings", 2), Line("hot and sour soup", 1)),
        price=3_990,
        original_price=5_600,
        quantity_total=None,
        per_person_limit=None,
        sale_starts_at=T0 - DAY,
        sale_ends_at=T0 + 10 * DAY,
        valid_from=T0 - DAY,
        valid_until=T0 + 30 * DAY,
        rules=UsageRules(),
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def publish(db: Database, world: World, *, branches: bool = True, **changes: object) -> uuid.UUID:
    with db.session() as s:
        view = service.create_deal(
            s, store_id=world.store_id, terms=terms(**changes),
            other_store_ids=[world.branch_id] if branches else [], created_by=world.owner_id, publish=True, now=T0,
        )
        return view.deal.id


def fund(db: Database, settings: Settings, world: World, amount: int, person: uuid.UUID | None = None) -> None:
    """Credit a wallet the way a verified channel callback does."""
    person = person or world.customer_id
    with db.session() as s:
        intent = payments.create_top_up(s, payer_id=person, city_id=world.city_id, currency="CNY", amount=amount,
                                        settings=settings, now=T0)
        intent = payments.start_channel(s, intent.id, person, "alipay-sim", now=T0)
        trade_no = intent.trade_no
    with db.session() as s:
        payments.apply_channel_trade(
            s, ch.ChannelTrade(ch.ChannelName.ALIPAY_SIM, trade_no, ch.TradeStatus.PAID, amount, "T" + trade_no),
            now=T0,
        )


def buy(
    db: Database, settings: Settings, deal_id: uuid.UUID, person: uuid.UUID, *, wallet: bool = True,
    now: dt.datetime = T0,
) -> service.Purchase:
    with db.session() as s:
        return service.buy(s, deal_id, person, settings=settings, pay_with_wallet=wallet, now=now)


def code_of(db: Database, voucher_id: uuid.UUID) -> str:
    with db.sessionmaker() as s:
        return s.get(Voucher, voucher_id).code  # type: ignore[union-attr]


def voucher(db: Database, voucher_id: uuid.UUID) -> Voucher:
    with db.sessionmaker() as s:
        found = s.get(Voucher, voucher_id)
        assert found is not None
        return found


def deal(db: Database, deal_id: uuid.UUID) -> Deal:
    with db.sessionmaker() as s:
        found = s.get(Deal, deal_id)
        assert found is not None
        return found


def available(db: Database, person_id: uuid.UUID) -> int:
    with db.sessionmaker() as s:
        return payments.wallet_balance(s, person_id, "CNY").available


def posted(db: Database, spec: chart.AccountSpec) -> int:
    with db.sessionmaker() as s:
        found = ledger.balances(s, [spec.id])
    return found[spec.id].posted if spec.id in found else 0


def counts(db: Database) -> dict[str, int]:
    """Rows that a refused request must not add."""
    with db.sessionmaker() as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (Voucher, PaymentIntent, Refund, WalletTransfer)
        }


def snapshot(db: Database) -> tuple:
    """Every voucher's (id, status, version), every deal's units sold, and the row counts: what must not change."""
    with db.sessionmaker() as s:
        vouchers = s.execute(select(Voucher.id, Voucher.status, Voucher.version).order_by(Voucher.id)).all()
        deals = s.execute(select(Deal.id, Deal.quantity_sold, Deal.status).order_by(Deal.id)).all()
    return tuple(vouchers), tuple(deals), counts(db)


@pytest.fixture
def at_t0():  # type: ignore[no-untyped-def]
    """The app's clock stopped at T0 (the HTTP tests' deals are on sale around it); advance it to move time."""
    from o2o.kit.time import frozen_clock

    with frozen_clock(T0) as clock:
        yield clock


def token_for(db: Database, settings: Settings, person_id: uuid.UUID) -> dict[str, str]:
    with db.session() as s:
        token, _row = accounts.create_session(s, settings, person_id, method="otp")
    return {"Authorization": f"Bearer {token}"}
