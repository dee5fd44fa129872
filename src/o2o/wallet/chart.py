"""The chart of accounts: which ledger account holds whose money, with ids derived from what they are.

Every account id is a UUIDv5 of its role (``customer_wallet:person:<id>:CNY``), so any process can name an
account without looking it up, and creating it twice is an idempotent ``exists``. The accounts:

================================  ======================  =========================================================
account                           kind (normal side)      money it holds
================================  ======================  =========================================================
a person's wallet                 customer_wallet (cr)    what the platform owes the person; never below zero
a store's receivable              merchant_receivable     the store's settled sales, owed to the merchant
a courier's payable               courier_payable         fees earned by a courier
a city's sales escrow             holds (cr)              paid sales not yet settled or refunded; never below zero
a city's revenue                  platform_revenue (cr)   commissions earned
a city's clearing, per channel    channel_clearing (dr)   what a channel collected for us and owes us
================================  ======================  =========================================================

How money moves (debit -> credit):

* top-up through a channel: clearing -> wallet
* payment from the wallet: wallet -> escrow; through a channel: clearing -> escrow
* refund to the wallet: escrow -> wallet; back through the channel: escrow -> clearing (reserved as a pending
  transfer while the channel works, posted when it confirms, voided if it refuses)
* settlement, one linked batch: escrow -> store receivable, escrow -> revenue, escrow -> courier payable
* refund of a settled sale, one linked batch: store receivable -> escrow and revenue -> escrow (in proportion to
  what each got; the courier keeps the fee), then escrow -> wallet or -> clearing as above

Summed over a currency everything is zero (the ledger's conservation invariant); the escrow's balance is exactly
the money paid for sales that have neither settled nor been refunded.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum

from sqlalchemy.orm import Session

from o2o.wallet import service as ledger
from o2o.wallet.ledger import AccountKind, CreateAccountResult, OwnerKind, new_account

NAMESPACE = uuid.UUID("6f2d3a0e-8b1c-5d7e-9a4f-0c1b2d3e4f50")


class TransferCode(IntEnum):
    """Why money moved (the ledger transfer's ``code``)."""

    TOP_UP = 1
    PAYMENT = 2
    REFUND = 3
    SETTLE_MERCHANT = 4
    SETTLE_COMMISSION = 5
    SETTLE_COURIER = 6
    RETURN_UNACCEPTED = 7  # money a channel collected that we could not accept (wrong amount) goes back
    CLAWBACK = 8  # a settled sale's refund taken back from the store and the platform


@dataclass(frozen=True)
class AccountSpec:
    id: uuid.UUID
    kind: AccountKind
    owner_kind: OwnerKind
    owner_id: uuid.UUID | None
    currency: str
    city_id: uuid.UUID | None


def _id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts))


def customer_wallet(person_id: uuid.UUID, currency: str) -> AccountSpec:
    return AccountSpec(
        _id("customer_wallet", "person", person_id, currency),
        AccountKind.CUSTOMER_WALLET,
        OwnerKind.PERSON,
        person_id,
        currency,
        None,
    )


def merchant_receivable(store_id: uuid.UUID, city_id: uuid.UUID, currency: str) -> AccountSpec:
    return AccountSpec(
        _id("merchant_receivable", "store", store_id, currency),
        AccountKind.MERCHANT_RECEIVABLE,
        OwnerKind.STORE,
        store_id,
        currency,
        city_id,
    )


def courier_payable(person_id: uuid.UUID, city_id: uuid.UUID, currency: str) -> AccountSpec:
    return AccountSpec(
        _id("courier_payable", "courier", person_id, currency),
        AccountKind.COURIER_PAYABLE,
        OwnerKind.COURIER,
        person_id,
        currency,
        city_id,
    )


def sales_escrow(city_id: uuid.UUID, currency: str) -> AccountSpec:
    return AccountSpec(
        _id("holds", "sales_escrow", city_id, currency), AccountKind.HOLDS, OwnerKind.PLATFORM, None, currency, city_id
    )


def platform_revenue(city_id: uuid.UUID, currency: str) -> AccountSpec:
    return AccountSpec(
        _id("platform_revenue", city_id, currency),
        AccountKind.PLATFORM_REVENUE,
        OwnerKind.PLATFORM,
        None,
        currency,
        city_id,
    )


def channel_clearing(channel: str, city_id: uuid.UUID, currency: str) -> AccountSpec:
    return AccountSpec(
        _id("channel_clearing", channel, city_id, currency),
        AccountKind.CHANNEL_CLEARING,
        OwnerKind.PLATFORM,
        None,
        currency,
        city_id,
    )


def ensure(session: Session, specs: Iterable[AccountSpec], now: dt.datetime | None = None) -> None:
    """Create the accounts that do not exist yet (an existing one answers ``exists``; anything else is a bug)."""
    missing: dict[uuid.UUID, AccountSpec] = {s.id: s for s in specs}
    if not missing:
        return
    known = {a.id for a in ledger.lookup_accounts(session, list(missing))}
    for spec in missing.values():
        if spec.id in known:
            continue
        account = new_account(spec.id, spec.kind, spec.owner_kind, spec.currency, spec.owner_id)
        (result,) = ledger.create_accounts(session, [account], now, city_id=spec.city_id)
        if result not in (CreateAccountResult.OK, CreateAccountResult.EXISTS):
            raise RuntimeError(f"cannot create ledger account {spec}: {result}")


def transfer_id(*parts: object) -> uuid.UUID:
    """A transfer id derived from what the transfer is for (``payment:<intent>``), so that doing the same
    thing twice names the same transfer and the ledger answers ``exists`` instead of moving money again."""
    return _id("transfer", *parts)
