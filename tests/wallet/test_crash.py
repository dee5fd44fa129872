"""The wallet's crash test: the server killed with SIGKILL in the middle of payments, then restarted; afterwards
no money is lost or duplicated and every intent resolves. The work is in ``crash_harness.py`` (also a script
that prints the same report against a scratch database). Run with ``-s`` to see the figures.

Plus a regression test for what the crash test found: a payer's cancel that lands while the resolver is asking
the channel about the same intent kept being pushed back by the resolver's back-off.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from o2o.config import Settings
from o2o.db import Database
from o2o.kit.time import now
from o2o.wallet import payments
from o2o.wallet.channels import base as ch
from o2o.wallet.models import PaymentIntent
from tests.wallet import crash_harness
from tests.wallet.conftest import Shop, assert_ledger_sound


@pytest.mark.postgres_only
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_sigkill_in_the_middle_of_payments_loses_and_duplicates_nothing(db: Database, tmp_path: Path) -> None:
    report = crash_harness.run_crash_test(db, tmp_path, crash_harness.CrashConfig.from_env())
    print(report.render())
    assert report.problems == [], report.render() + "\n\nserver log (tail):\n" + report.server_log_tail()
    assert len(report.kills) >= 2
    assert report.records.connection_errors > 0  # the kills did cut requests off
    assert report.figures["pays_303"] > 0 and report.figures["intents"].get("store_payment succeeded", 0) > 0
    assert_ledger_sound(db)


def test_a_cancel_while_the_resolver_asks_the_channel_is_closed_at_once(
    db: Database, settings: Settings, shop: Shop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The payer cancels a processing top-up while the worker's query to the channel is under way: the resolver's
    reschedule (20 s, up to 10 min with its back-off) must not overwrite the cancel's "look now"."""
    start = now()
    with db.session() as s:
        intent = payments.create_top_up(s, payer_id=shop.customer_id, city_id=shop.city_id, currency="CNY",
                                        amount=1_000, settings=settings, now=start)
        intent = payments.start_channel(s, intent.id, shop.customer_id, "alipay-sim", now=start)
        intent_id, trade_no = intent.id, intent.trade_no
    later = start + payments.FIRST_CHECK + dt.timedelta(seconds=1)

    class Channel:
        closed: list[str] = []

        def query(self, trade_no: str) -> ch.ChannelTrade:
            with db.session() as s:  # the cancel commits while we wait for the channel's answer
                payments.cancel(s, intent_id, payer_id=shop.customer_id, now=later)
            return ch.ChannelTrade(ch.ChannelName.ALIPAY_SIM, trade_no, ch.TradeStatus.WAITING, 1_000)

        def close(self, trade_no: str) -> ch.ChannelTrade:
            self.closed.append(trade_no)
            return ch.ChannelTrade(ch.ChannelName.ALIPAY_SIM, trade_no, ch.TradeStatus.CLOSED, 1_000)

    channel = Channel()
    monkeypatch.setattr(payments, "_channel", lambda name, settings: channel)
    assert payments.claim_due_intents(db, later) == [intent_id]
    assert payments.resolve_intent(db, settings, intent_id, later) == "waiting"  # it read no cancel yet

    assert payments.claim_due_intents(db, later) == [intent_id]  # due again at once, not 20 s later
    monkeypatch.setattr(Channel, "query", lambda self, no: ch.ChannelTrade(
        ch.ChannelName.ALIPAY_SIM, no, ch.TradeStatus.WAITING, 1_000))
    assert payments.resolve_intent(db, settings, intent_id, later) == "closed"
    with db.sessionmaker() as s:
        done = s.get(PaymentIntent, intent_id)
        assert done is not None and (done.status, done.cancellation_reason) == ("canceled", "requested")
    assert channel.closed == [trade_no]
