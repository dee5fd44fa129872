"""The demo city's catalogues: a plausible menu and delivery terms for every demo store, by its trade.

Restaurants get dishes with a size and a spice level, breakfast shops a menu offered 06:00-10:30 only, coffee and
tea shops cup sizes, sugar, temperature, milk and toppings, the other trades their products (some with a size or a
wrapping). Prices are in fen, jittered per store and rounded as shops round them. Every store also gets delivery
terms for its trade (radius, minimum order, packaging and delivery fees); a few have paused online orders, a few
items and options are sold out.

Fast: rows are plain dicts inserted with Core executemany in batches (``DemoContext.insert``), the store terms
with one executemany UPDATE, so a large city (1,500 stores, some 100,000 rows) takes a few seconds. Deterministic:
the step's own RNG and the context's seeded ids. Registered on import (``o2o.demo.generator.STEPS``).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, update

from o2o.demo.generator import BATCH, STEPS, DemoContext, DemoStep

BREAKFAST_WINDOWS = json.dumps([["06:00", "10:30"]], separators=(",", ":"))


@dataclass(frozen=True)
class Group:
    name: str
    options: tuple[tuple[str, int], ...]  # (name, price delta in fen)
    min_picks: int = 1
    max_picks: int = 1


@dataclass(frozen=True)
class Dish:
    name: str
    price: int  # fen, before the store's jitter
    image: str = ""
    groups: tuple[Group, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Section:
    name: str
    dishes: tuple[Dish, ...]
    windows: str | None = None
    keep: float = 0.85  # share of the dishes a store of this trade carries


@dataclass(frozen=True)
class Trade:
    sections: tuple[Section, ...]
    radius_m: tuple[int, int] = (2500, 4000)
    min_order: tuple[int, ...] = (0,)
    packaging_fee: tuple[int, ...] = (0,)
    base_fee: tuple[int, ...] = (300, 400, 500)
    per_km_fee: tuple[int, ...] = (100, 150, 200)
    rounding: int = 50  # prices end in this many fen
    extra: dict[str, Any] = field(default_factory=dict)


def _size(small: int, large: int) -> Group:
    return Group("份量", (("小份", -small), ("标准", 0), ("大份", large)))


SPICE = Group("辣度", (("不辣", 0), ("微辣", 0), ("中辣", 0), ("特辣", 0)))
NOODLE_EXTRAS = Group("加料", (("加蛋", 200), ("加牛肉", 800), ("加青菜", 300)), 0, 2)
CUP = Group("杯型", (("中杯", 0), ("大杯", 300), ("超大杯", 500)))
TEMPERATURE = Group("温度", (("热", 0), ("冰", 0), ("少冰", 0)))
SUGAR = Group("糖度", (("无糖", 0), ("半糖", 0), ("全糖", 0)))
MILK = Group("奶", (("全脂牛奶", 0), ("脱脂牛奶", 0), ("燕麦奶", 300)))
SHOT = Group("加浓缩", (("加一份浓缩", 400),), 0, 1)
TEA_CUP = Group("杯型", (("中杯", 0), ("大杯", 200)))
TEA_SUGAR = Group("糖度", (("无糖", 0), ("三分糖", 0), ("五分糖", 0), ("七分糖", 0), ("全糖", 0)))
TEA_ICE = Group("温度", (("热", 0), ("温", 0), ("少冰", 0), ("正常冰", 0), ("去冰", 0)))
TOPPINGS = Group("加料", (("珍珠", 200), ("椰果", 200), ("芋圆", 300), ("布丁", 300)), 0, 3)
PANCAKE_EXTRAS = Group("加料", (("加蛋", 150), ("加肠", 300), ("加薄脆", 100)), 0, 3)
BEER_SIZE = Group("规格", (("330ml", 0), ("500ml", 1500)))
WRAPPING = Group("包装", (("简约", 0), ("精美礼盒", 2000)))
CARD = Group("贺卡", (("手写贺卡", 500),), 0, 1)
CAKE_SIZE = Group("尺寸", (("6寸", 0), ("8寸", 6000), ("10寸", 12000)))
FRUIT_WEIGHT = Group("规格", (("500g", 0), ("1kg", -1)))  # -1: the 1 kg delta is the price itself (see _fruit)


def _dishes(*rows: tuple[Any, ...]) -> tuple[Dish, ...]:
    return tuple(Dish(*row) for row in rows)


TRADES: dict[str, Trade] = {
    "food": Trade(
        sections=(
            Section("招牌菜", _dishes(
                ("宫保鸡丁", 3800, "🍗", (_size(800, 1000), SPICE), "花生米、干辣椒，酸甜微辣"),
                ("鱼香肉丝", 3200, "🥢", (_size(800, 1000), SPICE)),
                ("麻婆豆腐", 2600, "🌶️", (_size(600, 800), SPICE), "麻辣鲜香"),
                ("水煮牛肉", 5800, "🥩", (_size(1200, 1500), SPICE)),
                ("回锅肉", 3600, "🥓", (_size(800, 1000), SPICE)),
                ("糖醋里脊", 4200, "🍖", (_size(1000, 1200),)),
                ("京酱肉丝", 3800, "🌯", (_size(800, 1000),), "配葱丝豆皮"),
                ("地三鲜", 2600, "🍆", (_size(600, 800),)),
                ("干煸豆角", 2400, "🫘", (_size(600, 800), SPICE)),
            ), keep=0.7),
            Section("主食", _dishes(
                ("米饭", 300, "🍚"),
                ("牛肉拉面", 2800, "🍜", (SPICE, NOODLE_EXTRAS), "手工拉面，清汤牛骨"),
                ("老北京炸酱面", 2200, "🍝", (NOODLE_EXTRAS,)),
                ("扬州炒饭", 2200, "🍳"),
                ("猪肉白菜水饺（15个）", 2400, "🥟"),
                ("葱油饼", 800, "🫓"),
            )),
            Section("凉菜小吃", _dishes(
                ("拍黄瓜", 1200, "🥒", (SPICE,)),
                ("凉拌木耳", 1400, "🍄"),
                ("炸春卷（4个）", 1200, "🥠"),
                ("锅贴（6个）", 1600, "🥟"),
            ), keep=0.75),
            Section("饮品", _dishes(
                ("酸梅汤", 600, "🥤"),
                ("北冰洋汽水", 600, "🍊"),
                ("青岛啤酒", 1000, "🍺"),
            )),
        ),
        radius_m=(3000, 5000),
        min_order=(1500, 2000, 2500, 3000),
        packaging_fee=(100, 150, 200),
        rounding=100,
    ),
    "breakfast": Trade(
        sections=(
            Section("早餐", _dishes(
                ("现磨豆浆", 300, "🥛", (Group("甜度", (("无糖", 0), ("微甜", 0), ("甜", 0))),)),
                ("油条", 250, "🥖"),
                ("煎饼果子", 800, "🌯", (PANCAKE_EXTRAS,), "绿豆面煎饼，现摊现做"),
                ("鸡蛋灌饼", 700, "🫓", (PANCAKE_EXTRAS,)),
                ("猪肉大葱包子", 250, "🥟"),
                ("素三鲜包子", 220, "🥟"),
                ("小米粥", 400, "🥣"),
                ("豆腐脑", 500, "🍲", (Group("口味", (("咸", 0), ("甜", 0))),)),
                ("茶叶蛋", 200, "🥚"),
            ), windows=BREAKFAST_WINDOWS, keep=0.9),
        ),
        radius_m=(1500, 3000),
        min_order=(0, 500, 1000),
        packaging_fee=(0, 50),
        base_fee=(200, 300),
    ),
    "coffee": Trade(
        sections=(
            Section("咖啡", _dishes(
                ("美式咖啡", 2200, "☕", (CUP, TEMPERATURE, SUGAR, SHOT)),
                ("拿铁", 2600, "☕", (CUP, TEMPERATURE, SUGAR, MILK, SHOT)),
                ("卡布奇诺", 2600, "☕", (CUP, TEMPERATURE, SUGAR, MILK)),
                ("澳白", 2800, "☕", (TEMPERATURE, MILK)),
                ("摩卡", 2800, "🍫", (CUP, TEMPERATURE, SUGAR, MILK)),
                ("冷萃咖啡", 2600, "🧊", (CUP, SUGAR)),
            ), keep=0.9),
            Section("非咖啡", _dishes(
                ("抹茶拿铁", 2600, "🍵", (CUP, TEMPERATURE, SUGAR, MILK)),
                ("热巧克力", 2400, "🍫", (CUP, MILK)),
            )),
            Section("烘焙轻食", _dishes(
                ("可颂", 1600, "🥐"),
                ("贝果", 1400, "🥯"),
                ("火腿芝士三明治", 2800, "🥪"),
            ), keep=0.7),
        ),
        radius_m=(2500, 4000),
        min_order=(1500, 2000),
        packaging_fee=(0, 100),
    ),
    "tea": Trade(
        sections=(
            Section("招牌奶茶", _dishes(
                ("珍珠奶茶", 1400, "🧋", (TEA_CUP, TEA_SUGAR, TEA_ICE, TOPPINGS)),
                ("黑糖波波鲜奶", 1800, "🧋", (TEA_CUP, TEA_ICE, TOPPINGS)),
                ("芋泥波波奶茶", 1900, "🧋", (TEA_CUP, TEA_SUGAR, TEA_ICE, TOPPINGS)),
            )),
            Section("鲜果茶", _dishes(
                ("杨枝甘露", 1800, "🥭", (TEA_CUP, TEA_SUGAR, TEA_ICE)),
                ("满杯水果茶", 1700, "🍹", (TEA_CUP, TEA_SUGAR, TEA_ICE)),
                ("多肉葡萄", 1900, "🍇", (TEA_CUP, TEA_SUGAR, TEA_ICE)),
                ("暴打柠檬茶", 1200, "🍋", (TEA_CUP, TEA_SUGAR, TEA_ICE)),
            )),
            Section("纯茶", _dishes(
                ("茉莉绿茶", 1000, "🍵", (TEA_CUP, TEA_SUGAR, TEA_ICE)),
                ("四季春茶", 1000, "🍵", (TEA_CUP, TEA_SUGAR, TEA_ICE)),
            ), keep=0.8),
        ),
        radius_m=(2500, 4000),
        min_order=(1500, 2000),
        packaging_fee=(100,),
    ),
    "convenience": Trade(
        sections=(
            Section("饮料", _dishes(
                ("农夫山泉 550ml", 200, "💧"), ("可口可乐 330ml", 300, "🥤"), ("东方树叶 500ml", 500, "🍵"),
                ("元气森林苏打气泡水", 550, "🫧"), ("蒙牛纯牛奶 250ml", 350, "🥛"),
            )),
            Section("零食", _dishes(
                ("乐事薯片 70g", 750, "🥔"), ("奥利奥饼干", 900, "🍪"), ("卫龙辣条", 500, "🌶️"),
                ("德芙巧克力", 1000, "🍫"),
            )),
            Section("速食", _dishes(
                ("金枪鱼饭团", 650, "🍙"), ("火腿三明治", 1200, "🥪"), ("康师傅红烧牛肉面", 550, "🍜"),
                ("关东煮（5串）", 1500, "🍢"),
            )),
            Section("日用品", _dishes(
                ("抽纸（3包）", 1200, "🧻"), ("Type-C 充电线", 3500, "🔌"), ("折叠雨伞", 3900, "☂️"),
                ("一次性口罩（10只）", 990, "😷"),
            ), keep=0.75),
        ),
        radius_m=(1500, 3000),
        min_order=(0, 1000, 2000),
        base_fee=(300, 400),
    ),
    "grocery": Trade(
        sections=(
            Section("新鲜蔬菜", _dishes(
                ("西红柿 500g", 690, "🍅"), ("黄瓜 500g", 490, "🥒"), ("大白菜 1棵", 590, "🥬"), ("土豆 500g", 390, "🥔"),
                ("西兰花 1颗", 690, "🥦"),
            )),
            Section("肉禽蛋", _dishes(
                ("土鸡蛋 10枚", 1290, "🥚"), ("猪五花肉 500g", 2590, "🥓"), ("鸡胸肉 500g", 1690, "🍗"),
            )),
            Section("粮油调味", _dishes(
                ("东北大米 5kg", 3990, "🍚"), ("花生油 1.8L", 4990, "🫙"), ("生抽 500ml", 900, "🫙"),
                ("山西老陈醋 500ml", 800, "🫙"),
            )),
        ),
        radius_m=(3000, 4000),
        min_order=(2000, 2900, 3900),
        rounding=10,
    ),
    "fruit": Trade(
        sections=(
            Section("当季水果", _dishes(
                ("红富士苹果", 690, "🍎", (FRUIT_WEIGHT,)), ("香蕉", 490, "🍌", (FRUIT_WEIGHT,)),
                ("赣南脐橙", 790, "🍊", (FRUIT_WEIGHT,)), ("巨峰葡萄", 1590, "🍇", (FRUIT_WEIGHT,)),
                ("海南芒果", 1290, "🥭", (FRUIT_WEIGHT,)),
            )),
            Section("果切", _dishes(
                ("西瓜果切盒", 1990, "🍉"), ("草莓 300g", 2990, "🍓"), ("混合果切", 2590, "🥗"),
            )),
        ),
        radius_m=(2500, 3500),
        min_order=(1500, 2000, 2900),
        rounding=10,
    ),
    "pharmacy": Trade(
        sections=(
            Section("感冒发烧", _dishes(
                ("999感冒灵颗粒", 1800, "💊"), ("布洛芬缓释胶囊", 2500, "💊"), ("连花清瘟胶囊", 2800, "💊"),
                ("电子体温计", 1990, "🌡️"),
            )),
            Section("家庭常备", _dishes(
                ("创可贴（20片）", 600, "🩹"), ("医用外科口罩（10只）", 990, "😷"), ("碘伏消毒液", 890, "🧴"),
                ("维生素C片", 3500, "🍊"),
            )),
        ),
        radius_m=(3000, 5000),
        min_order=(0,),
        base_fee=(300, 500),
        rounding=10,
    ),
    "flowers": Trade(
        sections=(
            Section("花束", _dishes(
                ("红玫瑰花束（11枝）", 12800, "🌹", (WRAPPING, CARD), "当日鲜切，附养护卡"),
                ("向日葵花束", 9900, "🌻", (WRAPPING, CARD)),
                ("康乃馨花束", 8800, "💐", (WRAPPING, CARD)),
                ("香水百合花束", 11800, "💐", (WRAPPING, CARD)),
            )),
            Section("绿植", _dishes(("多肉拼盘", 3900, "🪴"), ("绿萝盆栽", 2900, "🪴"))),
        ),
        radius_m=(5000, 8000),
        base_fee=(600, 800),
        per_km_fee=(200,),
        rounding=100,
    ),
    "bakery": Trade(
        sections=(
            Section("面包", _dishes(
                ("牛角可颂", 1200, "🥐"), ("全麦吐司", 1600, "🍞"), ("肉松小贝", 1000, "🧁"), ("葡式蛋挞", 800, "🥧"),
            )),
            Section("蛋糕甜点", _dishes(
                ("芝士蛋糕（切块）", 2800, "🍰"), ("提拉米苏", 3200, "🍰"),
                ("鲜奶油生日蛋糕", 16800, "🎂", (CAKE_SIZE, Group("蜡烛", (("数字蜡烛", 500),), 0, 1)), "需提前两小时预订"),
            )),
        ),
        radius_m=(2500, 4000),
        min_order=(1500, 2000),
        packaging_fee=(0, 100),
    ),
    "bar": Trade(
        sections=(
            Section("啤酒", _dishes(
                ("精酿IPA", 4500, "🍺", (BEER_SIZE,)), ("青岛纯生", 2000, "🍺", (BEER_SIZE,)),
                ("比利时小麦", 4200, "🍺", (BEER_SIZE,)),
            )),
            Section("鸡尾酒", _dishes(
                ("莫吉托", 5800, "🍸"), ("长岛冰茶", 6800, "🍹"), ("威士忌嗨棒", 5200, "🥃"),
            )),
            Section("小食", _dishes(("炸薯条", 2800, "🍟"), ("香辣鸡翅（6只）", 3800, "🍗", (SPICE,)))),
        ),
        radius_m=(2500, 3500),
        min_order=(5000,),
        packaging_fee=(0, 100),
        rounding=100,
    ),
}


def _price(rng: random.Random, base: int, rounding: int) -> int:
    jittered = base * rng.uniform(0.88, 1.15)
    return max(rounding, round(jittered / rounding) * rounding)


def _store_menu(ctx: DemoContext, rng: random.Random, store: dict[str, Any], out: dict[str, list[dict[str, Any]]]) -> None:
    trade = TRADES[store["category"]]
    city_id, store_id = ctx.city_id, store["id"]
    item_position = 0
    for position, section in enumerate(trade.sections):
        dishes = [d for d in section.dishes if rng.random() < section.keep] or [section.dishes[0]]
        category_id = ctx.new_id()
        out["menu_categories"].append({
            "id": category_id, "city_id": city_id, "store_id": store_id, "name": section.name, "position": position,
            "available_windows": section.windows, "archived": False, "created_at": ctx.created_at(category_id),
        })
        for dish in dishes:
            item_id = ctx.new_id()
            price = _price(rng, dish.price, trade.rounding)
            created = ctx.created_at(item_id)
            out["menu_items"].append({
                "id": item_id, "city_id": city_id, "store_id": store_id, "category_id": category_id,
                "name": dish.name, "description": dish.description, "price": price, "position": item_position,
                "available_windows": None, "sold_out": rng.random() < 0.03, "archived": False,
                "image": dish.image or None, "created_at": created, "updated_at": created,
            })
            item_position += 1
            for group_position, group in enumerate(dish.groups):
                group_id = ctx.new_id()
                out["menu_option_groups"].append({
                    "id": group_id, "city_id": city_id, "item_id": item_id, "name": group.name,
                    "min_picks": group.min_picks, "max_picks": group.max_picks, "position": group_position,
                })
                for option_position, (name, delta) in enumerate(group.options):
                    if delta == -1:  # a double weight costs the price again
                        delta = price
                    elif delta < 0:  # a small portion: never more than a third off, so the unit price stays > 0
                        delta = -min(-delta, price // 3)
                    option_id = ctx.new_id()
                    out["menu_options"].append({
                        "id": option_id, "city_id": city_id, "group_id": group_id, "name": name,
                        # a required group keeps one option on sale, so the item stays orderable
                        "price_delta": delta, "sold_out": option_position > 0 and rng.random() < 0.02,
                        "position": option_position,
                    })


def _terms(rng: random.Random, store: dict[str, Any]) -> dict[str, Any]:
    trade = TRADES[store["category"]]
    low, high = trade.radius_m
    return {
        "b_id": store["id"],
        "b_radius": rng.randrange(low, high + 1, 500),
        "b_min_order": rng.choice(trade.min_order),
        "b_packaging": rng.choice(trade.packaging_fee),
        "b_base_fee": rng.choice(trade.base_fee),
        "b_base_m": rng.choice((2000, 3000, 3000)),
        "b_per_km": rng.choice(trade.per_km_fee),
        "b_accepting": rng.random() >= 0.03,
    }


def make_catalogues(ctx: DemoContext) -> None:
    from o2o.models import metadata

    tables = metadata.tables
    rng = ctx.rng
    out: dict[str, list[dict[str, Any]]] = {
        "menu_categories": [], "menu_items": [], "menu_option_groups": [], "menu_options": []
    }
    terms = []
    for store in ctx.stores:
        _store_menu(ctx, rng, store, out)
        terms.append(_terms(rng, store))
        ctx.progress.advance(1)
    for name in ("menu_categories", "menu_items", "menu_option_groups", "menu_options"):  # parents first
        ctx.insert(tables[name], out[name], advance=False)
    stores = tables["stores"]
    statement = (
        update(stores)
        .where(stores.c.id == bindparam("b_id"))
        .values(
            delivery_radius_m=bindparam("b_radius"),
            min_order=bindparam("b_min_order"),
            packaging_fee=bindparam("b_packaging"),
            delivery_base_fee=bindparam("b_base_fee"),
            delivery_base_m=bindparam("b_base_m"),
            delivery_fee_per_km=bindparam("b_per_km"),
            accepting_orders=bindparam("b_accepting"),
        )
    )
    for start in range(0, len(terms), BATCH):
        ctx.session.execute(statement, terms[start : start + BATCH])
    for store, row in zip(ctx.stores, terms, strict=True):  # later steps see the same terms
        store.update(
            delivery_radius_m=row["b_radius"], min_order=row["b_min_order"], packaging_fee=row["b_packaging"],
            delivery_base_fee=row["b_base_fee"], delivery_base_m=row["b_base_m"], delivery_fee_per_km=row["b_per_km"],
            accepting_orders=row["b_accepting"],
        )
    ctx.extra["menu_items"] = out["menu_items"]  # for the steps that make order history


STEP = DemoStep(
    "catalogues",
    make_catalogues,
    estimate=lambda ctx: len(ctx.stores),
    description="Menus and delivery terms",
)
if not any(step.name == STEP.name for step in STEPS):
    STEPS.append(STEP)

