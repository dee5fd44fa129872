"""The wallet's periodic jobs."""

from __future__ import annotations

from o2o.db import Database
from o2o.kit.time import now
from o2o.wallet import service
from o2o.worker import periodic


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
