"""The transactional outbox: what must reach the outside world is written in the same transaction as the
change that causes it, and delivered after the commit, with retries.

A crash between the commit and the delivery loses nothing (the row is still pending) and sends nothing that
did not happen (a rolled-back transaction takes its rows with it). Deliverers claim rows with a conditional
UPDATE, so several workers never send one message twice at the same time; a deliverer that dies mid-send
leaves its claim to expire, so delivery is at least once and receivers deduplicate by the message id.

Handlers are registered per topic: ``@handler("sms")``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from typing import Any

import structlog
from sqlalchemy import Integer, String, Text, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from o2o.db import Base, CreatedAtMixin, Database, IdMixin, on_commit
from o2o.kit.ids import uuid7
from o2o.kit.time import now

log = structlog.get_logger("o2o.outbox")

MAX_ATTEMPTS = 12
CLAIM_SECONDS = 60

Handler = Callable[["OutboxMessage", dict[str, Any]], None]
_handlers: dict[str, Handler] = {}
_wakeups: list[Callable[[], None]] = []


class OutboxMessage(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "outbox"

    city_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    payload: Mapped[str] = mapped_column(Text)
    # pending -> sent, or pending -> failed after MAX_ATTEMPTS
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(default=now, index=True)
    claimed_by: Mapped[uuid.UUID | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[dt.datetime | None] = mapped_column()

    @property
    def data(self) -> dict[str, Any]:
        return json.loads(self.payload)


def handler(topic: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _handlers[topic] = fn
        return fn

    return register


def on_enqueue(wake: Callable[[], None]) -> None:
    """Register a callback (the in-process worker's wake-up) run after a commit that enqueued messages."""
    _wakeups.append(wake)


def wake_after_commit(session: Session) -> None:
    """Wake the in-process worker once this transaction commits (due work was written outside the outbox)."""
    for wake in _wakeups:
        on_commit(session, wake)


def enqueue(session: Session, topic: str, payload: dict[str, Any], *, city_id: uuid.UUID | None = None) -> OutboxMessage:
    message = OutboxMessage(topic=topic, payload=json.dumps(payload, sort_keys=True), city_id=city_id)
    session.add(message)
    for wake in _wakeups:
        on_commit(session, wake)
    return message


def deliver_due(db: Database, limit: int = 100) -> int:
    """Claim and deliver due messages; returns how many were sent. Safe to run in many workers at once."""
    claimer = uuid7()
    moment = now()
    with db.session() as session:
        due_ids = session.scalars(
            select(OutboxMessage.id)
            .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= moment)
            .order_by(OutboxMessage.id)
            .limit(limit)
        ).all()
        claimed: list[uuid.UUID] = []
        for message_id in due_ids:
            result = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == message_id,
                    OutboxMessage.status == "pending",
                    OutboxMessage.next_attempt_at <= moment,
                )
                .values(claimed_by=claimer, next_attempt_at=moment + dt.timedelta(seconds=CLAIM_SECONDS))
            )
            if result.rowcount == 1:
                claimed.append(message_id)
    sent = 0
    for message_id in claimed:
        with db.session() as session:
            message = session.get(OutboxMessage, message_id)
            if message is None or message.status != "pending" or message.claimed_by != claimer:
                continue
            fn = _handlers.get(message.topic)
            message.attempts += 1
            try:
                if fn is None:
                    raise LookupError(f"no outbox handler for topic {message.topic!r}")
                fn(message, message.data)
            except Exception as exc:  # the receiver failed: back off and retry
                message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
                if message.attempts >= MAX_ATTEMPTS:
                    message.status = "failed"
                    log.error("outbox_gave_up", id=str(message.id), topic=message.topic, error=message.last_error)
                else:
                    message.next_attempt_at = now() + dt.timedelta(seconds=min(2**message.attempts, 3600))
                    log.warning("outbox_retry", id=str(message.id), topic=message.topic, error=message.last_error)
            else:
                message.status = "sent"
                message.sent_at = now()
                sent += 1
            message.claimed_by = None
    return sent
