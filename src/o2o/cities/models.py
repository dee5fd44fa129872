from __future__ import annotations

import uuid

from sqlalchemy import Float, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from o2o.db import Base, CreatedAtMixin, IdMixin


class City(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "cities"

    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    country_code: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2; the default phone region
    timezone: Mapped[str] = mapped_column(String(64))  # IANA, e.g. Asia/Shanghai
    currency: Mapped[str] = mapped_column(String(3))  # ISO 4217
    locale: Mapped[str] = mapped_column(String(16))  # BCP 47, e.g. zh-CN; formats amounts, dates, distances
    center_lat: Mapped[float] = mapped_column(Float)
    center_lng: Mapped[float] = mapped_column(Float)


class District(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "districts"
    __table_args__ = (UniqueConstraint("city_id", "slug"),)

    city_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("cities.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    # GeoJSON Polygon/MultiPolygon in (lng, lat) order, as the GeoJSON standard says.
    boundary_geojson: Mapped[str] = mapped_column(Text)
    center_lat: Mapped[float] = mapped_column(Float)
    center_lng: Mapped[float] = mapped_column(Float)
