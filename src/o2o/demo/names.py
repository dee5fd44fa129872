"""Name parts for the demo city: people (Chinese characters with their pinyin) and stores. Pure data.

Every store brand is made up from parts; none is meant to be a real company.
"""

from __future__ import annotations

import itertools
import random

# The most common surnames, with rough relative frequencies.
SURNAMES: tuple[tuple[str, str, int], ...] = (
    ("王", "Wang", 73),
    ("李", "Li", 72),
    ("张", "Zhang", 69),
    ("刘", "Liu", 54),
    ("陈", "Chen", 45),
    ("杨", "Yang", 32),
    ("黄", "Huang", 24),
    ("赵", "Zhao", 23),
    ("吴", "Wu", 21),
    ("周", "Zhou", 21),
    ("徐", "Xu", 14),
    ("孙", "Sun", 13),
    ("马", "Ma", 12),
    ("朱", "Zhu", 12),
    ("胡", "Hu", 11),
    ("郭", "Guo", 11),
    ("何", "He", 10),
    ("高", "Gao", 10),
    ("林", "Lin", 10),
    ("罗", "Luo", 9),
    ("郑", "Zheng", 9),
    ("梁", "Liang", 8),
    ("谢", "Xie", 7),
    ("宋", "Song", 6),
    ("唐", "Tang", 6),
    ("许", "Xu", 6),
    ("韩", "Han", 6),
    ("冯", "Feng", 6),
    ("邓", "Deng", 6),
    ("曹", "Cao", 5),
    ("彭", "Peng", 5),
    ("曾", "Zeng", 5),
    ("肖", "Xiao", 5),
    ("田", "Tian", 5),
    ("董", "Dong", 5),
    ("袁", "Yuan", 4),
    ("潘", "Pan", 4),
    ("于", "Yu", 4),
    ("蒋", "Jiang", 4),
    ("蔡", "Cai", 4),
    ("余", "Yu", 4),
    ("杜", "Du", 4),
    ("叶", "Ye", 4),
    ("程", "Cheng", 4),
    ("苏", "Su", 4),
    ("魏", "Wei", 4),
    ("吕", "Lu", 4),
    ("丁", "Ding", 3),
    ("任", "Ren", 3),
    ("沈", "Shen", 3),
)
_SURNAME_CUM_WEIGHTS = list(itertools.accumulate(w for _, _, w in SURNAMES))

GIVEN_CHARS: tuple[tuple[str, str], ...] = (
    ("伟", "wei"),
    ("芳", "fang"),
    ("娜", "na"),
    ("敏", "min"),
    ("静", "jing"),
    ("丽", "li"),
    ("强", "qiang"),
    ("磊", "lei"),
    ("军", "jun"),
    ("洋", "yang"),
    ("勇", "yong"),
    ("艳", "yan"),
    ("杰", "jie"),
    ("涛", "tao"),
    ("明", "ming"),
    ("超", "chao"),
    ("秀", "xiu"),
    ("霞", "xia"),
    ("平", "ping"),
    ("刚", "gang"),
    ("桂", "gui"),
    ("英", "ying"),
    ("华", "hua"),
    ("玉", "yu"),
    ("兰", "lan"),
    ("文", "wen"),
    ("建", "jian"),
    ("国", "guo"),
    ("红", "hong"),
    ("志", "zhi"),
    ("鹏", "peng"),
    ("宇", "yu"),
    ("浩", "hao"),
    ("欣", "xin"),
    ("怡", "yi"),
    ("婷", "ting"),
    ("雪", "xue"),
    ("梅", "mei"),
    ("琳", "lin"),
    ("晨", "chen"),
    ("阳", "yang"),
    ("佳", "jia"),
    ("子", "zi"),
    ("轩", "xuan"),
    ("涵", "han"),
    ("萱", "xuan"),
    ("博", "bo"),
    ("然", "ran"),
    ("思", "si"),
    ("雨", "yu"),
    ("宁", "ning"),
    ("晓", "xiao"),
    ("东", "dong"),
    ("海", "hai"),
    ("林", "lin"),
    ("峰", "feng"),
    ("倩", "qian"),
    ("颖", "ying"),
    ("慧", "hui"),
    ("凯", "kai"),
    ("瑞", "rui"),
    ("诗", "shi"),
    ("嘉", "jia"),
)


def person_name(rng: random.Random) -> tuple[str, str]:
    """(Chinese name, pinyin name), e.g. ("王晓明", "Wang Xiaoming")."""
    surname, surname_py, _ = rng.choices(SURNAMES, cum_weights=_SURNAME_CUM_WEIGHTS)[0]
    given = [rng.choice(GIVEN_CHARS) for _ in range(1 if rng.random() < 0.3 else 2)]
    zh = surname + "".join(c for c, _ in given)
    py = surname_py + " " + "".join(p for _, p in given).capitalize()
    return zh, py


# Store brands: a prefix and a core per category, and what the company behind it calls itself.
BRAND_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "food": (
        (
            "老王",
            "张记",
            "李家",
            "胡同",
            "京味",
            "川味",
            "湘里",
            "大碗",
            "老北京",
            "西北",
            "东北",
            "云南",
            "潮汕",
            "粤港",
            "兰州",
            "陕西",
            "江南",
            "巷子",
            "福满",
            "四季",
        ),
        (
            "炸酱面",
            "饺子馆",
            "烤鸭店",
            "麻辣烫",
            "牛肉面",
            "米线",
            "火锅",
            "卤煮",
            "涮肉",
            "小馆",
            "私房菜",
            "串串香",
            "拉面",
            "盖饭",
            "砂锅",
            "酸菜鱼",
            "烤肉",
            "家常菜",
            "包子馆",
            "馄饨",
        ),
    ),
    "breakfast": (
        ("早点", "晨光", "老街", "胡同口", "张妈", "刘姐", "和平里", "早安", "暖心", "街坊"),
        ("包子铺", "豆浆油条", "煎饼果子", "早餐店", "馄饨铺", "豆腐脑", "早点铺", "粥铺"),
    ),
    "convenience": (
        ("邻里", "日日鲜", "转角", "街坊", "万家", "星光", "晨曦", "社区", "好运", "顺心"),
        ("便利店", "便利", "24小时店", "小超市"),
    ),
    "grocery": (
        ("社区", "惠民", "鲜丰", "菜篮子", "绿源", "农家", "京客", "百姓", "优鲜", "禾田"),
        ("生鲜超市", "菜市场", "粮油店", "鲜食店", "生鲜"),
    ),
    "fruit": (
        ("鲜果", "果缘", "甜心", "四季", "果多多", "百果", "果然", "一品", "鲜到家", "果乐"),
        ("水果店", "果园", "果行", "鲜果铺"),
    ),
    "pharmacy": (
        ("康泰", "仁和", "益民", "安康", "德济", "百姓", "健民", "康宁", "济世", "永安"),
        ("大药房", "药店", "医药", "药房"),
    ),
    "flowers": (
        ("花语", "花间", "一束", "花田", "芬芳", "小雏菊", "花样", "繁花", "拾花", "花时间"),
        ("花店", "花艺", "鲜花坊", "花坊"),
    ),
    "coffee": (
        ("拾光", "街角", "慢时光", "豆子", "白昼", "漫步", "北平", "胡同里", "晨间", "半岛"),
        ("咖啡", "咖啡馆", "Coffee", "咖啡工作室", "Café"),
    ),
    "tea": (
        ("茶语", "一点", "鲜茶", "果茶", "柠檬", "芋泥", "茶颜", "沁心", "小满", "清欢"),
        ("奶茶", "茶饮", "茶铺", "茶事"),
    ),
    "bakery": (
        ("麦香", "面包树", "甜蜜", "好时光", "黄油", "麦田", "焙香", "小麦", "暖阳", "方糖"),
        ("面包房", "烘焙", "西饼屋", "蛋糕店", "烘焙坊"),
    ),
    "bar": (
        ("胡同", "后海", "月光", "夜猫子", "鼓楼", "老地方", "微醺", "码头", "北京", "烟袋斜街"),
        ("酒吧", "精酿", "小酒馆", "Bar", "Livehouse", "酒馆"),
    ),
}

COMPANY_SUFFIX: dict[str, str] = {
    "food": "餐饮管理有限公司",
    "breakfast": "餐饮有限公司",
    "convenience": "商贸有限公司",
    "grocery": "商贸有限公司",
    "fruit": "果品有限公司",
    "pharmacy": "医药连锁有限公司",
    "flowers": "花卉有限公司",
    "coffee": "餐饮管理有限公司",
    "tea": "餐饮管理有限公司",
    "bakery": "食品有限公司",
    "bar": "餐饮文化有限公司",
}

ORDINALS = ("", "二", "三", "四", "五", "六", "七", "八", "九", "十")


def brand_name(rng: random.Random, category: str) -> str:
    prefixes, cores = BRAND_PARTS[category]
    return rng.choice(prefixes) + rng.choice(cores)
