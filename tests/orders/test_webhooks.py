"""Webhooks really leave: each order event is POSTed to the merchant's URL through the outbox, signed, and
retried when the receiver fails."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from sqlalchemy import select, update

from o2o import outbox
from o2o.db import Database
from o2o.orders import (
    jobs,  # noqa: F401  (registers the outbox handler)
    service,
)
from o2o.orders.state import OrderKind
from o2o.outbox import OutboxMessage
from o2o.stores.menu import LineRequest
from tests.orders.conftest import Kitchen, fund


class Receiver:
    """A merchant's endpoint on a loopback port: answers 500 to the first ``fail`` requests, then 204."""

    def __init__(self, fail: int = 0) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.fail = fail
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                if receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(500)
                else:
                    receiver.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/o2o/events"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_events_are_posted_signed_and_retried_until_answered(db: Database, settings, kitchen: Kitchen) -> None:  # type: ignore[no-untyped-def]
    receiver = Receiver(fail=1)
    try:
        with db.session() as s:
            hook = service.add_webhook(s, store_id=kitchen.store_id, url=receiver.url)
            secret = hook.secret
        fund(db, settings, kitchen.city_id, kitchen.customer_id, 10_000)
        with db.session() as s:
            order = service.place(s, settings, customer_id=kitchen.customer_id, store_id=kitchen.store_id,
                                  kind=OrderKind.TAKEOUT, lines=[LineRequest(kitchen.cola, 3)], pay_with_wallet=True)
        outbox.deliver_due(db)  # the first POST fails: that message waits for its retry
        assert len(receiver.received) == 1
        with db.session() as s:  # time passes: make the retry due now
            s.execute(update(OutboxMessage).where(OutboxMessage.status == "pending").values(
                next_attempt_at=OutboxMessage.created_at))
        outbox.deliver_due(db)
        assert len(receiver.received) == 2
        outbox.deliver_due(db)
        assert len(receiver.received) == 2  # nothing is sent twice once answered
        events = sorted((json.loads(body) for _h, body in receiver.received), key=lambda e: e["seq"])
        assert [(e["order_id"], e["type"]) for e in events] == [(str(order.id), "order.placed"),
                                                                (str(order.id), "order.paid")]
        for headers, body in receiver.received:
            timestamp, mac = (part.split("=", 1)[1] for part in headers["o2o-signature"].split(","))
            expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(mac, expected)
            assert headers["o2o-event-id"] == json.loads(body)["id"]
        with db.sessionmaker() as s:
            statuses = s.scalars(select(OutboxMessage.status).where(OutboxMessage.topic == service.WEBHOOK_TOPIC))
            assert sorted(statuses) == ["sent", "sent"]
    finally:
        receiver.close()
