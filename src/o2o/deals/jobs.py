"""The deals' periodic jobs. Each claims its vouchers with a conditional update, so several workers never refund or
settle one twice.

Unpaid purchases need no job of their own: their payment intents close at their deadline (``wallet.expire_unpaid``)
and the wallet's outcome handler cancels the voucher and gives its unit back in the same transaction.
"""

from __future__ import annotations

from o2o.db import Database
from o2o.deals import service
from o2o.kit.time import now
from o2o.worker import periodic


@periodic("deals.expire_vouchers", every=60.0)
def expire_vouchers(db: Database) -> int:
    """Refund the vouchers whose validity ended unused (to their owners' wallets), a batch per unit of work."""
    total = 0
    while True:
        with db.session() as session:
            done = service.expire_vouchers(session, now())
        total += done
        if done < service.JOB_BATCH:
            return total


@periodic("deals.settle_redemptions", every=30.0)
def settle_redemptions(db: Database) -> int:
    """Pay the merchants for redemptions past their undo window (``payments.settle``, once per voucher)."""
    total = 0
    while True:
        with db.session() as session:
            done = service.settle_redeemed(session, db.settings, now())
        total += done
        if done < service.JOB_BATCH:
            return total
