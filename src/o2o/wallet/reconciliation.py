"""Daily reconciliation: each channel's bill file against our own records.

Both providers cut their bills by the day in China Standard Time and list every payment and every refund that
succeeded that day. We list the same from our side (channel trades paid that day, channel refunds that
succeeded that day) and report every difference: ``missing_in_ours`` (the channel has it, we do not: a callback
never arrived and no query resolved it yet), ``missing_in_channel`` (we have it, the channel does not), and
``amount_differs``. ``compare`` is pure; ``reconcile`` fetches the bill (outside any transaction) and stores the
report, replacing an earlier run for the same channel and day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from o2o.config import Settings
from o2o.db import Database
from o2o.kit import time as clock
from o2o.wallet import errors as e
from o2o.wallet.channels import base as ch
from o2o.wallet.models import ChannelTrade, Reconciliation, ReconciliationDifference, Refund

CHINA = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True, order=True)
class Entry:
    entry: str  # payment | refund
    out_trade_no: str
    out_refund_no: str | None
    amount: int

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.entry, self.out_trade_no, self.out_refund_no)


@dataclass(frozen=True, order=True)
class Difference:
    kind: str  # missing_in_ours | missing_in_channel | amount_differs
    entry: str
    out_trade_no: str
    out_refund_no: str | None
    ours: int | None
    theirs: int | None


def compare(ours: Iterable[Entry], theirs: Iterable[Entry]) -> list[Difference]:
    """Every difference between two lists of entries, keyed by (entry, out_trade_no, out_refund_no)."""
    mine = {x.key: x for x in ours}
    bill = {x.key: x for x in theirs}
    found: list[Difference] = []
    for key in sorted(mine.keys() | bill.keys(), key=lambda k: (k[0], k[1], k[2] or "")):
        a, b = mine.get(key), bill.get(key)
        if a is None and b is not None:
            found.append(Difference("missing_in_ours", *key, None, b.amount))
        elif b is None and a is not None:
            found.append(Difference("missing_in_channel", *key, a.amount, None))
        elif a is not None and b is not None and a.amount != b.amount:
            found.append(Difference("amount_differs", *key, a.amount, b.amount))
    return found


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), CHINA)
    return start.astimezone(dt.UTC), (start + dt.timedelta(days=1)).astimezone(dt.UTC)


def our_entries(session: Session, channel: str, day: dt.date) -> list[Entry]:
    start, end = day_bounds(day)
    payments = session.execute(
        select(ChannelTrade.out_trade_no, ChannelTrade.paid_amount).where(
            ChannelTrade.channel == channel,
            ChannelTrade.status == "paid",
            ChannelTrade.paid_at >= start,
            ChannelTrade.paid_at < end,
        )
    ).all()
    refunds = session.execute(
        select(ChannelTrade.out_trade_no, Refund.out_refund_no, Refund.amount)
        .join(ChannelTrade, ChannelTrade.id == Refund.trade_id)
        .where(
            ChannelTrade.channel == channel,
            Refund.destination == "channel",
            Refund.status == "succeeded",
            Refund.succeeded_at >= start,
            Refund.succeeded_at < end,
        )
    ).all()
    return [Entry("payment", no, None, amount) for no, amount in payments] + [
        Entry("refund", no, refund_no, amount) for no, refund_no, amount in refunds
    ]


def bill_entries(rows: Iterable[ch.BillRow]) -> list[Entry]:
    return [
        Entry(row.kind.value, row.out_trade_no, row.out_refund_no if row.kind == ch.BillKind.REFUND else None,
              row.amount_fen)
        for row in rows
    ]


def reconcile(db: Database, settings: Settings, channel: str, day: dt.date) -> Reconciliation:
    """Fetch the channel's bill for ``day`` and store the comparison (replacing an earlier one)."""
    from o2o.wallet.channels import get_channel

    if channel not in {c.value for c in ch.ChannelName}:
        raise e.unknown_channel(channel)
    try:
        rows = get_channel(channel, settings).bill(day)
    except ch.ChannelRefused:
        raise e.bill_not_ready() from None
    except ch.ChannelError:
        raise e.channel_unavailable() from None
    theirs = bill_entries(rows)
    with db.session() as session:
        ours = our_entries(session, channel, day)
        differences = compare(ours, theirs)
        session.execute(delete(Reconciliation).where(Reconciliation.channel == channel, Reconciliation.day == day))
        session.flush()
        report = Reconciliation(
            channel=channel,
            day=day,
            status="differences" if differences else "matched",
            our_entries=len(ours),
            channel_entries=len(theirs),
            our_total=_net(ours),
            channel_total=_net(theirs),
            created_at=clock.now(),
        )
        session.add(report)
        session.flush()
        session.add_all(
            ReconciliationDifference(
                reconciliation_id=report.id,
                kind=d.kind,
                entry=d.entry,
                out_trade_no=d.out_trade_no,
                out_refund_no=d.out_refund_no,
                ours=d.ours,
                theirs=d.theirs,
            )
            for d in differences
        )
    return report


def _net(entries: Iterable[Entry]) -> int:
    return sum(x.amount if x.entry == "payment" else -x.amount for x in entries)


def differences_of(session: Session, reconciliation_id) -> list[ReconciliationDifference]:  # type: ignore[no-untyped-def]
    return list(
        session.scalars(
            select(ReconciliationDifference)
            .where(ReconciliationDifference.reconciliation_id == reconciliation_id)
            .order_by(ReconciliationDifference.entry, ReconciliationDifference.out_trade_no)
        )
    )


def yesterday_in_china(now: dt.datetime | None = None) -> dt.date:
    return ((now or clock.now()).astimezone(CHINA) - dt.timedelta(days=1)).date()
