"""Stores API shapes."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class Store(BaseModel):
    id: uuid.UUID
    merchant_id: uuid.UUID
    name: str = Field(examples=["张记饺子馆（王府井店）"])
    category: str = Field(examples=["food"])
    district: str | None = Field(description="The district's slug", examples=["dongcheng"])
    lat: float = Field(examples=[39.9147])
    lng: float = Field(examples=[116.4108])
    address: str = Field(examples=["东城区王府井大街88号"])
    phone: str | None = Field(description="E.164", examples=["+861065123456"])
    opening_hours: dict[str, list[list[str]]] = Field(
        description="Weekly intervals in the city's local time; a close at or before the open crosses midnight",
        examples=[{"mon": [["10:00", "14:00"], ["17:00", "22:00"]], "sat": [["18:00", "02:00"]]}],
    )
    open_now: bool = Field(description="Open at the time of the request, in the city's time zone")
    prep_minutes: int = Field(ge=0, examples=[15])
    rating: float = Field(ge=0, le=5, examples=[4.6])
    distance_m: float | None = Field(
        default=None,
        description="Metres from `near`, when the listing was asked for near a point",
        examples=[412.5],
    )
