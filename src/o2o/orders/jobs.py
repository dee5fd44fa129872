"""Orders' periodic jobs and the merchants' webhook deliveries.

Unpaid orders need no job of their own: their payment closes at the order's deadline (the wallet's
``expire_unpaid``), and the wallet's outcome hook cancels the order in the same transaction.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import structlog
from sqlalchemy import inspect

from o2o import outbox
from o2o.db import Database
from o2o.kit.time import now
from o2o.orders import service
from o2o.orders.models import OrderWebhook
from o2o.stores import stock
from o2o.worker import periodic

log = structlog.get_logger("o2o.orders.jobs")

WEBHOOK_TIMEOUT_S = 5.0


@periodic("orders.expire_unaccepted", every=5.0, wakeable=True)
def expire_unaccepted(db: Database) -> int:
    """Cancel and refund orders the shop left unanswered past their acceptance deadline."""
    with db.session() as session:
        return service.expire_unaccepted(session, now())


@periodic("stores.sweep_stock_holds", every=30.0)
def sweep_stock_holds(db: Database) -> int:
    """Give back the units of lapsed holds nobody has reclaimed yet (buyers reclaim what they need themselves)."""
    with db.session() as session:
        return stock.sweep_expired(session, now())


@outbox.handler(service.WEBHOOK_TOPIC)
def deliver_webhook(message: outbox.OutboxMessage, data: dict[str, Any]) -> None:
    """POST one order event to a merchant's system, signed. A non-2xx answer or a timeout raises, and the
    outbox retries with backoff; the receiver deduplicates by ``O2O-Event-Id``."""
    hook = _webhook(message, data)
    if hook is None or not hook["active"]:
        return  # the merchant removed it: nothing to send
    body = json.dumps(data["event"], separators=(",", ":"), sort_keys=True).encode()
    signature = service.sign_webhook(hook["secret"], int(time.time()), body)
    response = httpx.post(
        hook["url"],
        content=body,
        headers={
            "content-type": "application/json",
            "o2o-event-id": str(data["event"]["id"]),
            "o2o-signature": signature,
            "user-agent": "o2o-webhooks/1",
        },
        timeout=WEBHOOK_TIMEOUT_S,
    )
    if response.status_code >= 300:
        raise RuntimeError(f"webhook answered {response.status_code}")


def _webhook(message: outbox.OutboxMessage, data: dict[str, Any]) -> dict[str, Any] | None:
    # The message is loaded in the deliverer's session: read the webhook (its URL and secret) through it.
    session = inspect(message).session
    if session is None:
        return None
    hook = session.get(OrderWebhook, uuid.UUID(data["webhook_id"]))
    if hook is None:
        return None
    return {"url": hook.url, "secret": hook.secret, "active": hook.active}
