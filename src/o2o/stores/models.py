"""Store tables: merchants (the business that is paid) and their stores (the places that sell).

Minimal but real: the commerce work adds catalogues and stock beside these. A store's opening hours are
JSON text of weekly intervals in the city's local time (see ``o2o.stores.hours``).
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, true
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db import Base, CreatedAtMixin, IdMixin

# The store categories the platform knows. Extend at the end; the API validates filters against this.
CATEGORIES: tuple[str, ...] = (
    "food",  # restaurants
    "breakfast",
    "convenience",
    "grocery",
    "fruit",
    "pharmacy",
    "flowers",
    "coffee",
    "tea",
    "bakery",
    "bar",
)


class Merchant(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "merchants"
    __table_args__ = (
        CheckConstraint("commission_rate_bp >= 0 AND commission_rate_bp <= 10000", name="commission"),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    owner_person_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("people.id", ondelete="SET NULL"), index=True
    )
    # The platform's commission on this merchant's sales, in basis points (1800 = 18%).
    commission_rate_bp: Mapped[int] = mapped_column(Integer, default=1500)


class Store(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "stores"
    __table_args__ = (
        CheckConstraint("rating >= 0 AND rating <= 5", name="rating"),
        CheckConstraint("prep_minutes >= 0", name="prep_minutes"),
        CheckConstraint("lat >= -90 AND lat <= 90 AND lng >= -180 AND lng <= 180", name="latlng"),
        CheckConstraint(
            "delivery_radius_m > 0 AND min_order >= 0 AND packaging_fee >= 0 AND delivery_base_fee >= 0 "
            "AND delivery_base_m >= 0 AND delivery_fee_per_km >= 0",
            name="delivery_terms",
        ),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    merchant_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("merchants.id", ondelete="CASCADE"), index=True)
    district_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("districts.id", ondelete="SET NULL"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(32), index=True)
    lat: Mapped[float] = mapped_column(Float)
    lng: Mapped[float] = mapped_column(Float)
    # H3 cell at resolution 9 (~0.1 km²): "near me" prefilters on a ring of cells, then sorts by haversine.
    h3_r9: Mapped[str] = mapped_column(String(16), index=True)
    address: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str | None] = mapped_column(String(20))  # E.164
    opening_hours: Mapped[str] = mapped_column(Text, default="{}")  # o2o.stores.hours JSON, city-local time
    prep_minutes: Mapped[int] = mapped_column(Integer, default=10)
    rating: Mapped[float] = mapped_column(Float, default=0.0)
    # Delivery terms (o2o.stores.delivery_terms). Server defaults too, so rows from before the catalogue migrate.
    # The GeoJSON polygon, when set, wins over the radius. Money in the city's minor units (fen).
    delivery_radius_m: Mapped[int] = mapped_column(Integer, default=3000, server_default="3000")
    delivery_area: Mapped[str | None] = mapped_column(Text)
    min_order: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # items subtotal
    packaging_fee: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # per order
    delivery_base_fee: Mapped[int] = mapped_column(Integer, default=300, server_default="300")
    delivery_base_m: Mapped[int] = mapped_column(Integer, default=3000, server_default="3000")
    delivery_fee_per_km: Mapped[int] = mapped_column(Integer, default=100, server_default="100")
    accepting_orders: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())  # pause switch
    # Bumped by every change to the store's catalogue or terms, first thing in the change's transaction: the
    # row lock it takes on PostgreSQL (SQLite's write lock does the same) makes two edits of one store's
    # catalogue take turns, so each checks its rules (unique names, no negative unit price) against the other's
    # committed result. Apps compare it to know their copy of the menu is current.
    catalogue_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


# ---- catalogue (stores/catalogue.py, stores/menu.py)
# What a store sells, one catalogue for the app and the shop counter alike. ``available_windows`` is JSON text of
# daily local-time windows (``[["06:30", "10:30"]]``, see ``o2o.stores.menu``) or NULL for "whenever the store is
# open". Items are archived, never deleted: order lines keep pointing at them. Option groups and options are
# deleted for real (orders copy what was picked). Positions order each list; ties fall back to the id.

NAME_MAX = 60


class MenuCategory(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "menu_categories"
    __table_args__ = (Index("ix_menu_categories_store_id_position", "store_id", "position"),)

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    position: Mapped[int] = mapped_column(Integer, default=0)
    available_windows: Mapped[str | None] = mapped_column(Text)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class MenuItem(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "menu_items"
    __table_args__ = (
        CheckConstraint("price >= 0", name="price_non_negative"),
        Index("ix_menu_items_store_id_position", "store_id", "position"),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    category_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("menu_categories.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    description: Mapped[str] = mapped_column(String(500), default="")
    price: Mapped[int] = mapped_column(Integer)  # fen
    position: Mapped[int] = mapped_column(Integer, default=0)
    available_windows: Mapped[str | None] = mapped_column(Text)
    sold_out: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    image: Mapped[str | None] = mapped_column(String(16))  # an emoji or a short text drawn as the picture
    updated_at: Mapped[dt.datetime] = mapped_column()


class MenuOptionGroup(IdMixin, Base):
    """Choices of an item (size, spice): pick at least ``min_picks`` and at most ``max_picks`` options."""

    __tablename__ = "menu_option_groups"
    __table_args__ = (
        CheckConstraint("min_picks >= 0", name="min_picks"),
        CheckConstraint("max_picks >= min_picks AND max_picks >= 1", name="max_picks"),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("menu_items.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    min_picks: Mapped[int] = mapped_column(Integer, default=0)
    max_picks: Mapped[int] = mapped_column(Integer, default=1)
    position: Mapped[int] = mapped_column(Integer, default=0)


class MenuOption(IdMixin, Base):
    """One choice in a group; ``price_delta`` (fen) is added to the item's price and may be negative, but the
    catalogue never lets an item's unit price go below zero whatever one picks."""

    __tablename__ = "menu_options"

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("menu_option_groups.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    price_delta: Mapped[int] = mapped_column(Integer, default=0)
    sold_out: Mapped[bool] = mapped_column(Boolean, default=False)
    position: Mapped[int] = mapped_column(Integer, default=0)


# ---- stock (stores/stock.py)
# One stock number per store item, shared by every channel (app orders, click-and-collect, the counter).
# ``on_hand`` counts units in the shop not yet sold; ``held`` counts the units of active holds (checkouts not yet
# paid), including holds past their deadline that nobody has reclaimed yet. What one can still buy is
# ``on_hand - held`` plus the units of those expired holds: every taker reclaims them first (stores/stock.py),
# so an expired hold frees its units without waiting for a sweeper. An item without a row is not tracked
# (unlimited, like a dish cooked to order).


class StockLevel(Base):
    __tablename__ = "stock_levels"
    __table_args__ = (
        CheckConstraint("on_hand >= 0", name="on_hand_non_negative"),
        CheckConstraint("held >= 0", name="held_non_negative"),
    )

    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("menu_items.id", ondelete="CASCADE"), primary_key=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"), index=True)
    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    on_hand: Mapped[int] = mapped_column(Integer)
    held: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column()


class StockHold(IdMixin, CreatedAtMixin, Base):
    """Units set aside for one checkout (``reference``: the order) until ``expires_at``.

    ``status``: active -> committed (paid: the units are sold) | released (the checkout went away) | expired
    (reclaimed after its deadline). Each leaves ``active`` once, by a conditional update.
    """

    __tablename__ = "stock_holds"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity_positive"),
        Index("ix_stock_holds_item_active", "item_id", "status", "expires_at"),
        Index("ix_stock_holds_due", "status", "expires_at"),
    )

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    store_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("stores.id", ondelete="CASCADE"))
    item_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("menu_items.id", ondelete="CASCADE"))
    reference: Mapped[str] = mapped_column(String(64), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="active")
    expires_at: Mapped[dt.datetime] = mapped_column()
