"""Text messages: written to the outbox (topic ``sms``) with the change that needs them, sent after commit.

``SmsSender`` is what a gateway adapter implements. Out of production the configured sender only logs that a
message went out (never its text: it carries a sign-in code), and people read the messages at
``/dev/outbox``. In production a real gateway is plugged in with ``set_sms_sender``; once a message is
delivered there, its text is redacted in the outbox so the code does not stay in the database.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from o2o import outbox
from o2o.accounts.phones import mask_phone
from o2o.config import get_settings
from o2o.outbox import OutboxMessage

log = structlog.get_logger("o2o.accounts.sms")

TOPIC = "sms"
_CODE = re.compile(r"\b\d{6}\b")


class SmsSender(Protocol):
    def send(self, phone_e164: str, text: str) -> None:
        """Deliver one message; raise to have the outbox retry later."""


class LoggingSmsSender:
    """The development sender: notes the delivery in the log, without the code."""

    def send(self, phone_e164: str, text: str) -> None:
        log.info("sms_sent", phone=mask_phone(phone_e164), text=redact(text), backend="log")


_sender: SmsSender = LoggingSmsSender()


def set_sms_sender(sender: SmsSender) -> SmsSender:
    """Use ``sender`` from now on; returns the previous one (tests put it back)."""
    global _sender
    previous, _sender = _sender, sender
    return previous


def get_sms_sender() -> SmsSender:
    return _sender


def redact(text: str) -> str:
    return _CODE.sub("######", text)


def enqueue_sms(session: Session, phone_e164: str, text: str, *, city_id: Any = None) -> OutboxMessage:
    return outbox.enqueue(session, TOPIC, {"phone": phone_e164, "text": text}, city_id=city_id)


def _redact_after_delivery() -> bool:
    return not get_settings().dev_tools_enabled


@outbox.handler(TOPIC)
def deliver_sms(message: OutboxMessage, data: dict[str, Any]) -> None:
    _sender.send(data["phone"], data["text"])
    if _redact_after_delivery():
        message.payload = json.dumps({**data, "text": redact(data["text"])}, sort_keys=True)


def recent_messages(session: Session, limit: int = 50) -> list[OutboxMessage]:
    """The newest text messages first (for the development outbox page)."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.topic == TOPIC)
        .order_by(OutboxMessage.id.desc())
        .limit(limit)
    )
    return list(session.scalars(stmt))
