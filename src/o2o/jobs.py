"""Platform-wide periodic jobs. Domain jobs live in their domain (e.g. ``accounts/jobs.py``)."""

from __future__ import annotations

from o2o import idempotency, outbox
from o2o.db import Database
from o2o.worker import periodic


@periodic("outbox.deliver", every=2.0, wakeable=True)
def deliver_outbox(db: Database) -> int:
    return outbox.deliver_due(db)


@periodic("idempotency.purge", every=3600.0)
def purge_idempotency_keys(db: Database) -> int:
    with db.session() as session:
        return idempotency.purge_expired(session)
