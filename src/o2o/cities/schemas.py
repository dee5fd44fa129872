"""Cities API shapes: summaries, details with districts, GeoJSON districts, and where a point lies."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class LatLng(BaseModel):
    lat: float = Field(ge=-90, le=90, examples=[39.9087])
    lng: float = Field(ge=-180, le=180, examples=[116.3975])


class CitySummary(BaseModel):
    slug: str = Field(examples=["beijing"])
    name: str = Field(examples=["北京 Beijing"])
    country_code: str = Field(description="ISO 3166-1 alpha-2; the default phone region", examples=["CN"])
    timezone: str = Field(description="IANA time zone; local times are in it", examples=["Asia/Shanghai"])
    currency: str = Field(description="ISO 4217; amounts are integers in its minor unit", examples=["CNY"])
    locale: str = Field(description="BCP 47; how amounts, dates and distances are shown", examples=["zh-CN"])
    center: LatLng


class DistrictSummary(BaseModel):
    slug: str = Field(examples=["dongcheng"])
    name: str = Field(examples=["东城区 Dongcheng"])
    center: LatLng
    store_count: int = Field(ge=0, examples=[212])


class CityDetail(CitySummary):
    store_count: int = Field(ge=0, examples=[1500])
    districts: list[DistrictSummary]


class DistrictProperties(BaseModel):
    slug: str = Field(examples=["dongcheng"])
    name: str = Field(examples=["东城区 Dongcheng"])
    center: LatLng


class DistrictFeature(BaseModel):
    type: Literal["Feature"] = "Feature"
    id: str = Field(description="The district's slug", examples=["dongcheng"])
    geometry: dict[str, Any] = Field(
        description="GeoJSON Polygon or MultiPolygon, coordinates in [lng, lat] order (RFC 7946)",
        examples=[
            {
                "type": "Polygon",
                "coordinates": [[[116.39, 39.90], [116.43, 39.90], [116.43, 39.95], [116.39, 39.90]]],
            }
        ],
    )
    properties: DistrictProperties


class DistrictCollection(BaseModel):
    """An RFC 7946 FeatureCollection: one Feature per district."""

    type: Literal["FeatureCollection"] = "FeatureCollection"
    features: list[DistrictFeature]


class DistrictRef(BaseModel):
    slug: str = Field(examples=["dongcheng"])
    name: str = Field(examples=["东城区 Dongcheng"])


class Located(BaseModel):
    city: str = Field(description="The city's slug", examples=["beijing"])
    point: LatLng
    district: DistrictRef
