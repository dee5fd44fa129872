"""The wallet's periodic jobs. Each claims its rows before working, so several workers never do a thing twice."""

from __future__ import annotations

import datetime as dt

import structlog
from sqlalchemy import select

from o2o.config import Settings, get_settings
from o2o.db import Database
from o2o.kit.time import now
from o2o.wallet import payments, reconciliation, service
from o2o.wallet.channels.base import ChannelName
from o2o.wallet.models import Reconciliation
from o2o.worker import periodic

log = structlog.get_logger("o2o.wallet.jobs")


def _settings(db: Database) -> Settings:
    return db.settings if db.settings is not None else get_settings()


@periodic("wallet.expire_pending", every=5.0)
def expire_pending(db: Database) -> int:
    """Release pending transfers past their timeout, a bounded batch per unit of work."""
    total = 0
    while True:
        with db.session() as session:
            expired = service.expire_pending(session, now())
        total += len(expired)
        if len(expired) < service.EXPIRE_BATCH:
            return total


@periodic("wallet.expire_unpaid", every=5.0)
def expire_unpaid(db: Database) -> int:
    """Cancel intents left unpaid past their deadline (processing ones are closed at the channel first)."""
    with db.session() as session:
        return payments.expire_unpaid(session, now())


@periodic("wallet.resolve_payments", every=2.0, wakeable=True)
def resolve_payments(db: Database) -> int:
    """Ask the channels about processing intents whose callback is late, and close the expired or canceled."""
    settings = _settings(db)
    done = 0
    for intent_id in payments.claim_due_intents(db):
        try:
            payments.resolve_intent(db, settings, intent_id)
            done += 1
        except Exception:  # one bad intent must not stop the others; its claim expires and it comes back
            log.exception("resolve_failed", intent=str(intent_id))
    return done


@periodic("wallet.process_refunds", every=2.0, wakeable=True)
def process_refunds(db: Database) -> int:
    """Pay out pending channel refunds (or learn what became of them)."""
    settings = _settings(db)
    done = 0
    for refund_id in payments.claim_due_refunds(db):
        try:
            payments.process_refund(db, settings, refund_id)
            done += 1
        except Exception:
            log.exception("refund_failed", refund=str(refund_id))
    return done


@periodic("wallet.settle_store_payments", every=300.0)
def settle_store_payments(db: Database) -> int:
    """Shop payments settle T+1: after the local midnight that follows them."""
    from zoneinfo import ZoneInfo

    from o2o.cities.models import City

    total = 0
    moment = now()
    with db.session() as session:
        zones = session.execute(select(City.id, City.timezone)).all()
    for _city_id, tz in zones:
        local = moment.astimezone(ZoneInfo(tz))
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(dt.UTC)
        with db.session() as session:
            total += payments.settle_due_store_payments(session, before=midnight, now=moment)
    return total


@periodic("wallet.reconcile", every=3600.0)
def reconcile_yesterday(db: Database) -> int:
    """Once a day per channel: yesterday's bill (China time) against our records."""
    settings = _settings(db)
    day = reconciliation.yesterday_in_china()
    done = 0
    for channel in ChannelName:
        with db.session() as session:
            if session.scalar(
                select(Reconciliation.id).where(Reconciliation.channel == channel.value, Reconciliation.day == day)
            ):
                continue
        try:
            reconciliation.reconcile(db, settings, channel.value, day)
            done += 1
        except Exception:
            log.exception("reconcile_failed", channel=channel.value, day=str(day))
    return done
