"""Accounts housekeeping: delete codes that expired (and left the hourly rate-limit window) and dead sessions.

Idempotent and safe with several workers at once: each run is one DELETE by a time condition.
"""

from __future__ import annotations

from o2o.accounts import service
from o2o.db import Database
from o2o.worker import periodic


@periodic("accounts.purge_expired", every=600.0)
def purge_expired(db: Database) -> int:
    with db.session() as session:
        codes, sessions = service.purge_expired(session)
    return codes + sessions
