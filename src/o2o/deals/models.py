"""Deal tables: deals, the stores each deal covers, and vouchers.

The counters and statuses here are only ever moved by conditional UPDATEs whose row count is checked (see
``deals/service.py``): ``quantity_sold`` never passes ``quantity_total``, a voucher leaves ``issued`` once.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db import Base, CreatedAtMixin, IdMixin


class Deal(IdMixin, CreatedAtMixin, Base):
    """A group-buy offer of one store (``store_id``), good in the stores of ``deal_stores`` (the same merchant's).

    ``status``: draft -> published -> withdrawn (withdrawing stops the sale; vouchers sold stay good).
    ``quantity_sold`` counts the units taken by vouchers being paid for or sold; a canceled payment or a refund
    gives its unit back. ``lines`` is JSON: ``[["dumplings", 2], ["soup", 1]]``.
    """

    __tablename__ = "deals"
    __table_args__ = (
        CheckConstraint("price > 0", name="price_positive"),
        CheckConstraint("original_price >= price", name="original_price_at_least_price"),
        CheckConstraint("quantity_sold >= 0", name="quantity_sold_non_negative"),
        CheckConstraint("quantity_total IS NULL OR quantity_sold <= quantity_total", name="not_oversold"),
        CheckConstraint("usable_weekdays > 0 AND usable_weekdays <= 127", name="usable_weekdays"),
        Index("ix_deals_city_listing", "city_id", "status", "sale_ends_at"),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(80))
    lines: Mapped[str] = mapped_column(Text)
    price: Mapped[int] = mapped_column(BigInteger)
    original_price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    quantity_total: Mapped[int | None] = mapped_column(Integer)  # None: unlimited
    quantity_sold: Mapped[int] = mapped_column(Integer, default=0)
    per_person_limit: Mapped[int | None] = mapped_column(Integer)
    sale_starts_at: Mapped[dt.datetime] = mapped_column()
    sale_ends_at: Mapped[dt.datetime] = mapped_column()
    valid_from: Mapped[dt.datetime] = mapped_column()
    valid_until: Mapped[dt.datetime] = mapped_column()
    usable_weekdays: Mapped[int] = mapped_column(Integer, default=127)  # bit 0 = Monday
    usable_start_minute: Mapped[int | None] = mapped_column(Integer)  # local minutes after midnight
    usable_end_minute: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(12), default="draft")
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    published_at: Mapped[dt.datetime | None] = mapped_column()
    withdrawn_at: Mapped[dt.datetime | None] = mapped_column()
    updated_at: Mapped[dt.datetime] = mapped_column()


class DealStore(Base):
    """A store where a deal's vouchers can be redeemed (its own store included)."""

    __tablename__ = "deal_stores"

    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True,
                                                index=True)
    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)


class Voucher(IdMixin, CreatedAtMixin, Base):
    """One voucher bought with one payment intent (``intent_id``; its ``reference`` is this voucher's id).

    ``store_id`` is the deal's own store: the sale's, paid out to it at settlement. ``redeemed_store_id`` is where
    it was used. ``limit_slot`` numbers a buyer's vouchers of a deal with a per-person limit (0 .. limit-1); the
    unique constraint on it makes the limit hold under concurrent purchases; it is cleared when the voucher is
    canceled or refunded, which frees the slot. ``version`` counts the voucher's transitions.

    Vouchers of the demo city's history have no ``intent_id``: they record sales and redemptions for the analytics
    and claim no money in the ledger (``deals/demo.py``); the jobs leave them alone.
    """

    __tablename__ = "vouchers"
    __table_args__ = (
        CheckConstraint("price > 0", name="price_positive"),
        UniqueConstraint("deal_id", "owner_person_id", "limit_slot"),
        Index("ix_vouchers_owner", "owner_person_id", "id"),
        Index("ix_vouchers_due_expiry", "status", "valid_until"),
        Index("ix_vouchers_due_settlement", "status", "settled_at", "redeemed_at"),
        Index("ix_vouchers_sales", "store_id", "issued_at"),
        Index("ix_vouchers_redemptions", "redeemed_store_id", "redeemed_at"),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    deal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    owner_person_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("people.id"))
    intent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("wallet_payment_intents.id"), unique=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    price: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(12))
    limit_slot: Mapped[int | None] = mapped_column(Integer)
    valid_from: Mapped[dt.datetime] = mapped_column()
    valid_until: Mapped[dt.datetime] = mapped_column()
    issued_at: Mapped[dt.datetime | None] = mapped_column()
    redeemed_at: Mapped[dt.datetime | None] = mapped_column()
    redeemed_store_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("stores.id", ondelete="SET NULL"))
    redeemed_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    settled_at: Mapped[dt.datetime | None] = mapped_column()
    refunded_at: Mapped[dt.datetime | None] = mapped_column()
    refund_reason: Mapped[str | None] = mapped_column(String(12))
    canceled_at: Mapped[dt.datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column()
