"""The simulators' periodic work: deliver due callbacks (with their faults) and close expired trades.

Jobs receive only the database; the key material lives under the process's settings' ``var_dir``
(``db.settings``, set by ``create_app`` and the worker; the environment's settings otherwise).
"""

from __future__ import annotations

from o2o.config import get_settings
from o2o.db import Database
from o2o.wallet.channels.sim import service
from o2o.worker import periodic


@periodic("channel_sim.deliver", every=1.0)
def deliver_callbacks(db: Database) -> int:
    return service.deliver_due(db, getattr(db, "settings", None) or get_settings())


@periodic("channel_sim.expire", every=30.0)
def expire_trades(db: Database) -> int:
    with db.session() as session:
        return service.expire_due(session)
