"""Real geography for the demo city: central Beijing. Pure data and geometry, no database.

Districts are Voronoi cells of the six central districts' real administrative centres (the district
governments' seats), computed in a local metric projection and clipped to a boundary that follows the
5th Ring Road, widened in the west to take in the heart of Shijingshan. They approximate the real districts:
good enough to place a store, colour a map and route a courier, not an administrative atlas.

Stores cluster around real commercial hubs (Wangfujing, Xidan, Sanlitun, Guomao, Zhongguancun ...) and keep
out of places where nobody sells take-away (the Forbidden City, Zhongnanhai, the big parks).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cached_property

import shapely
from shapely.geometry import MultiPoint, Point, Polygon, mapping
from shapely.geometry.base import BaseGeometry

from o2o.kit.geo import LatLng, PolygonIndex, polygon_from_geojson


@dataclass(frozen=True)
class DistrictSpec:
    slug: str
    name_zh: str
    name_en: str
    seat: LatLng  # the district government's seat
    streets: tuple[str, ...]  # real streets, for addresses

    @property
    def name(self) -> str:
        return f"{self.name_zh} {self.name_en}"


@dataclass(frozen=True)
class Hub:
    name_zh: str
    name_en: str
    at: LatLng
    sigma_m: float  # spread of stores around it
    weight: float
    street: str


@dataclass(frozen=True)
class CitySpec:
    slug: str
    name: str
    country_code: str
    timezone: str
    currency: str
    locale: str
    center: LatLng
    area_code: str  # landline prefix after the country code
    boundary: tuple[LatLng, ...]
    districts: tuple[DistrictSpec, ...]
    hubs: tuple[Hub, ...]
    no_store_zones: tuple[tuple[str, LatLng, LatLng], ...]  # (name, south-west corner, north-east corner)
    spread_m: float  # spread of stores that belong to no hub, around the centre
    category_hub_bias: dict[str, dict[str, float]] = field(default_factory=dict)

    @cached_property
    def boundary_polygon(self) -> Polygon:
        return Polygon([(lng, lat) for lat, lng in self.boundary])

    @cached_property
    def district_geometries(self) -> list[tuple[DistrictSpec, BaseGeometry]]:
        return voronoi_districts(self)

    @cached_property
    def excluded(self) -> list[PolygonIndex]:
        return [
            PolygonIndex(Polygon([(sw[1], sw[0]), (ne[1], sw[0]), (ne[1], ne[0]), (sw[1], ne[0])]))
            for _name, sw, ne in self.no_store_zones
        ]


def voronoi_districts(city: CitySpec) -> list[tuple[DistrictSpec, BaseGeometry]]:
    """Each district's Voronoi cell around its seat, clipped to the city boundary, as GeoJSON-ready geometry.

    The cells are computed in a local equirectangular projection (x = lng * cos(lat0)), where distances are
    metres up to a constant, so the borders lie halfway between seats as a person would measure it.
    Coordinates are rounded to 6 decimals (~0.1 m), as they are stored.
    """
    k = math.cos(math.radians(city.center[0]))
    boundary = shapely.transform(city.boundary_polygon, lambda xy: xy * [k, 1.0])
    seats = MultiPoint([(d.seat[1] * k, d.seat[0]) for d in city.districts])
    cells = shapely.voronoi_polygons(seats, extend_to=boundary, ordered=True)
    out = []
    for spec, cell in zip(city.districts, cells.geoms, strict=True):
        if not cell.contains(Point(spec.seat[1] * k, spec.seat[0])):
            raise AssertionError(f"Voronoi cell order does not match the seats ({spec.slug})")
        clipped = cell.intersection(boundary)
        back = shapely.transform(clipped, lambda xy: xy / [k, 1.0])
        rounded = polygon_from_geojson(json.loads(json.dumps(_round(mapping(back)))))
        out.append((spec, rounded))
    return out


def _round(geojson: dict) -> dict:
    def walk(value):  # type: ignore[no-untyped-def]
        if isinstance(value, (list, tuple)):
            if value and isinstance(value[0], (int, float)):
                return [round(float(v), 6) for v in value]
            return [walk(v) for v in value]
        return value

    return {"type": geojson["type"], "coordinates": walk(geojson["coordinates"])}


def geojson_of(geometry: BaseGeometry) -> str:
    return json.dumps(_round(mapping(geometry)), separators=(",", ":"))


BEIJING = CitySpec(
    slug="beijing",
    name="北京 Beijing",
    country_code="CN",
    timezone="Asia/Shanghai",
    currency="CNY",
    locale="zh-CN",
    center=(39.9087, 116.3975),  # Tiananmen
    area_code="10",
    # The 5th Ring Road, clockwise from the north-west, widened west of Bajiao to take in central Shijingshan.
    boundary=(
        (40.003, 116.248),
        (40.018, 116.290),
        (40.023, 116.350),
        (40.022, 116.420),
        (40.017, 116.480),
        (40.000, 116.528),
        (39.975, 116.546),
        (39.930, 116.553),
        (39.880, 116.550),
        (39.840, 116.540),
        (39.808, 116.518),
        (39.790, 116.470),
        (39.784, 116.400),
        (39.786, 116.330),
        (39.800, 116.270),
        (39.830, 116.226),
        (39.862, 116.205),
        (39.880, 116.170),
        (39.915, 116.160),
        (39.945, 116.175),
        (39.960, 116.210),
        (39.978, 116.226),
    ),
    districts=(
        DistrictSpec(
            "dongcheng",
            "东城区",
            "Dongcheng",
            (39.9288, 116.4161),
            (
                "王府井大街",
                "东四北大街",
                "南锣鼓巷",
                "东直门内大街",
                "崇文门外大街",
                "雍和宫大街",
                "交道口南大街",
                "东单北大街",
            ),
        ),
        DistrictSpec(
            "xicheng",
            "西城区",
            "Xicheng",
            (39.9126, 116.3661),
            (
                "西单北大街",
                "金融大街",
                "新街口南大街",
                "西四北大街",
                "大栅栏西街",
                "德胜门内大街",
                "宣武门外大街",
                "广安门内大街",
            ),
        ),
        DistrictSpec(
            "chaoyang",
            "朝阳区",
            "Chaoyang",
            (39.9215, 116.4435),
            (
                "三里屯路",
                "建国路",
                "朝阳北路",
                "工人体育场北路",
                "望京街",
                "光华路",
                "劲松路",
                "酒仙桥路",
                "东三环中路",
            ),
        ),
        DistrictSpec(
            "haidian",
            "海淀区",
            "Haidian",
            (39.9593, 116.2981),
            ("中关村大街", "成府路", "学院路", "海淀大街", "知春路", "万泉河路", "西三环北路", "复兴路"),
        ),
        DistrictSpec(
            "fengtai",
            "丰台区",
            "Fengtai",
            (39.8586, 116.2868),
            (
                "丰台北路",
                "马家堡东路",
                "南三环西路",
                "方庄路",
                "角门路",
                "右安门外大街",
                "丽泽路",
                "科学城路",
            ),
        ),
        DistrictSpec(
            "shijingshan",
            "石景山区",
            "Shijingshan",
            (39.9066, 116.2232),
            ("石景山路", "鲁谷路", "八角西街", "古城大街", "杨庄大街", "苹果园路"),
        ),
    ),
    hubs=(
        Hub("王府井", "Wangfujing", (39.9150, 116.4110), 450, 10, "王府井大街"),
        Hub("西单", "Xidan", (39.9110, 116.3740), 450, 8, "西单北大街"),
        Hub("三里屯", "Sanlitun", (39.9340, 116.4550), 550, 9, "三里屯路"),
        Hub("国贸", "Guomao", (39.9087, 116.4605), 650, 9, "建国门外大街"),
        Hub("中关村", "Zhongguancun", (39.9830, 116.3160), 750, 9, "中关村大街"),
        Hub("五道口", "Wudaokou", (39.9925, 116.3375), 450, 6, "成府路"),
        Hub("望京", "Wangjing", (39.9960, 116.4700), 850, 7, "望京街"),
        Hub("鼓楼", "Gulou", (39.9405, 116.3945), 450, 5, "鼓楼东大街"),
        Hub("前门", "Qianmen", (39.8960, 116.3980), 400, 5, "前门大街"),
        Hub("簋街", "Guijie", (39.9410, 116.4290), 400, 4, "东直门内大街"),
        Hub("双井", "Shuangjing", (39.8930, 116.4630), 550, 4, "广渠路"),
        Hub("亚运村", "Yayuncun", (40.0000, 116.4100), 700, 4, "北辰东路"),
        Hub("公主坟", "Gongzhufen", (39.9070, 116.3100), 550, 4, "复兴路"),
        Hub("方庄", "Fangzhuang", (39.8660, 116.4300), 550, 3, "方庄路"),
        Hub("六里桥", "Liuliqiao", (39.8860, 116.3100), 550, 3, "丽泽路"),
        Hub("丰台科技园", "Fengtai Science Park", (39.8290, 116.2870), 650, 3, "科学城路"),
        Hub("鲁谷", "Lugu", (39.8960, 116.2450), 550, 3, "鲁谷路"),
        Hub("八角", "Bajiao", (39.9080, 116.2050), 550, 2, "石景山路"),
        Hub("青年路", "Qingnianlu", (39.9240, 116.5180), 600, 3, "朝阳北路"),
    ),
    no_store_zones=(
        ("Forbidden City and Tiananmen Square", (39.8990, 116.3905), (39.9250, 116.4030)),
        ("Zhongnanhai and Beihai Park", (39.9060, 116.3770), (39.9320, 116.3900)),
        ("Temple of Heaven", (39.8750, 116.4020), (39.8890, 116.4180)),
        ("Summer Palace", (39.9890, 116.2580), (40.0040, 116.2790)),
        ("Old Summer Palace", (40.0020, 116.2930), (40.0140, 116.3130)),
        ("Olympic Forest Park", (40.0050, 116.3800), (40.0300, 116.4000)),
        ("Yuyuantan Park", (39.9140, 116.3070), (39.9270, 116.3260)),
    ),
    spread_m=6500,
    category_hub_bias={
        "bar": {"Sanlitun": 5, "Gulou": 5, "Wudaokou": 3, "Guijie": 3, "Guomao": 2},
        "coffee": {"Guomao": 3, "Zhongguancun": 3, "Sanlitun": 2, "Wangjing": 3, "Wudaokou": 2},
        "tea": {"Xidan": 2, "Wangfujing": 2, "Wudaokou": 2, "Sanlitun": 2},
        "food": {"Guijie": 3, "Qianmen": 2},
    },
)

CITIES = {BEIJING.slug: BEIJING}
