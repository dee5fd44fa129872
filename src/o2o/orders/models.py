"""Order tables: orders and their lines, the event log of each order, merchants' webhooks, and carts.

An order's ``state`` moves only by a conditional ``UPDATE ... WHERE state = :expected`` (``orders/service.py``),
so two people acting on one order at once (the customer cancels while the shop accepts) leave one consistent
final state. Every move appends an ``order_events`` row numbered by ``seq`` (unique per order).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db import Base, CreatedAtMixin, IdMixin


class Order(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint("subtotal >= 0 AND packaging_fee >= 0 AND delivery_fee >= 0", name="amounts"),
        CheckConstraint("total = subtotal + packaging_fee + delivery_fee", name="total"),
        Index("ix_orders_store_id_id", "store_id", "id"),
        Index("ix_orders_customer_id_id", "customer_person_id", "id"),
        Index("ix_orders_state_pay_deadline", "state", "pay_deadline"),
        Index("ix_orders_state_accept_deadline", "state", "accept_deadline"),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    customer_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(16))  # orders.state.OrderKind
    payment_mode: Mapped[str] = mapped_column(String(16))  # orders.state.PaymentMode
    state: Mapped[str] = mapped_column(String(16))
    seq: Mapped[int] = mapped_column(Integer, default=0)  # the number of the order's last event
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(Integer)
    packaging_fee: Mapped[int] = mapped_column(Integer, default=0)
    delivery_fee: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer)
    distance_m: Mapped[float | None] = mapped_column(Float)
    address: Mapped[str] = mapped_column(String(200), default="")
    dest_lat: Mapped[float | None] = mapped_column(Float)
    dest_lng: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str] = mapped_column(String(200), default="")
    pickup_code: Mapped[str] = mapped_column(String(8))  # said at the counter to collect (takeout, click-and-collect)
    intent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("wallet_payment_intents.id"), unique=True)
    pay_deadline: Mapped[dt.datetime | None] = mapped_column()
    accept_deadline: Mapped[dt.datetime | None] = mapped_column()
    ready_by: Mapped[dt.datetime] = mapped_column()  # promised ready time
    promised_at: Mapped[dt.datetime] = mapped_column()  # promised delivered / ready-to-collect time
    paid_at: Mapped[dt.datetime | None] = mapped_column()
    completed_at: Mapped[dt.datetime | None] = mapped_column()
    canceled_at: Mapped[dt.datetime | None] = mapped_column()
    cancel_reason: Mapped[str | None] = mapped_column(String(32))
    canceled_by: Mapped[str | None] = mapped_column(String(16))
    stock_sold: Mapped[bool] = mapped_column(default=False)  # the units left the shelf (paid, or a counter sale)
    restocked: Mapped[bool] = mapped_column(default=False)  # put back after a cancellation, once
    refund_id: Mapped[uuid.UUID | None] = mapped_column()  # the wallet refund of a canceled paid order
    courier_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    tender: Mapped[str | None] = mapped_column(String(16))  # at the counter: cash | card | wallet
    clerk_person_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column()


class OrderLine(IdMixin, Base):
    __tablename__ = "order_lines"
    __table_args__ = (CheckConstraint("quantity > 0 AND unit_price >= 0", name="line"),)

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("menu_items.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)  # the item's price plus its options' deltas
    line_total: Mapped[int] = mapped_column(Integer)
    options: Mapped[str] = mapped_column(Text, default="[]")  # JSON: [{option_id, group, name, price_delta}]


class OrderEventRecord(IdMixin, Base):
    """One step of an order's life, with its time and who caused it. Merchants poll these (by ``id``, which is
    time-ordered) or receive them as signed webhooks."""

    __tablename__ = "order_events"
    __table_args__ = (
        UniqueConstraint("order_id", "seq"),
        Index("ix_order_events_store_id_id", "store_id", "id"),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"))
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(24))  # orders.state.OrderEvent, or "place" / "sell"
    state: Mapped[str] = mapped_column(String(16))  # the state it led to
    actor: Mapped[str] = mapped_column(String(16))
    actor_person_id: Mapped[uuid.UUID | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(32))
    at: Mapped[dt.datetime] = mapped_column()


class OrderWebhook(IdMixin, CreatedAtMixin, Base):
    """A merchant's system that wants each order event of a store POSTed to ``url``, signed with ``secret``."""

    __tablename__ = "order_webhooks"
    __table_args__ = (UniqueConstraint("store_id", "url"),)

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(64))
    active: Mapped[bool] = mapped_column(default=True)


class Cart(IdMixin, Base):
    """A person's cart at one store (the pages keep it here; apps send their lines with the order)."""

    __tablename__ = "carts"
    __table_args__ = (UniqueConstraint("person_id", "store_id"),)

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"))
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    lines: Mapped[str] = mapped_column(Text, default="[]")  # JSON: [{item_id, quantity, option_ids}]
    updated_at: Mapped[dt.datetime] = mapped_column()
