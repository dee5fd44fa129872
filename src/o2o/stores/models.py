"""Store tables: merchants (the business that is paid) and their stores (the places that sell).

Minimal but real: the commerce work adds catalogues and stock beside these. A store's opening hours are
JSON text of weekly intervals in the city's local time (see ``o2o.stores.hours``).
"""

from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, Float, ForeignKey, Integer, String, Text
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
