"""Imports every domain's tables so that ``Base.metadata`` is complete (for Alembic and the tests).

A new domain adds its ``models`` module here.
"""

from o2o import idempotency, outbox  # noqa: F401
from o2o.accounts import models as accounts_models  # noqa: F401
from o2o.cities import models as cities_models  # noqa: F401
from o2o.db import Base
from o2o.deals import models as deals_models  # noqa: F401
from o2o.orders import models as orders_models  # noqa: F401
from o2o.stores import models as stores_models  # noqa: F401
from o2o.wallet import models as wallet_models  # noqa: F401
from o2o.wallet.channels.sim import models as channel_sim_models  # noqa: F401

metadata = Base.metadata
