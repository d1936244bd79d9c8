"""Deterministic demo rooms for a district's reading-room network.

``demo_rooms()`` returns 110 plausible rooms (农家书屋, 社区书吧, 分馆, 流动服务点)
spread over the ten towns and streets of Jinnan District, Tianjin. Village and
community names are in the style of real Jinnan places but the data is demo data
(every dict carries ``demo: True``; the UI shows ``DEMO_MARK``). About eight rooms
deliberately fall below the opening-hours standard (≥ 5 days a week, ≥ 4 hours a
day) and a handful below 20 m², so that warnings have something to show.

Pure stdlib plus ``server.district``: no I/O, no network, same output every call.
"""

from __future__ import annotations

import random

from server.district import JINNAN, District, Town

DEMO_MARK = "演示数据"

_SEED = 20150923
_TOTAL = 110
_BELOW_HOURS_STANDARD = 8  # rooms that open < 5 days a week or < 4 hours a day
_BELOW_AREA_STANDARD = (12, 15, 16, 18, 18)  # m², rooms smaller than 20 m²

# Rooms per Jinnan town, in server.district order. Each entry is one room:
#   "东泥沽村"            -> 农家书屋 (a village) or 社区书吧 (a name ending in 社区)
#   "流:马庄村"           -> 流动服务点 in that village
#   "分:第一小学@工农社区" -> 分馆 hosted by 第一小学, located in 工农社区;
#                            named f"{town}{host}分馆", e.g. 小站镇第一小学分馆
# Table sizes give the distribution: the seat 咸水沽镇 has the most rooms, the
# two streets (街道) have few and mostly 社区书吧.
_TABLES: tuple[tuple[str, str], ...] = (
    (
        "咸水沽镇",
        "南华营村 北华营村 西关村 东关村 三里沟村 四里沽村 柴庄子村 小营盘村 杨家台村 "
        "紫云社区 德馨社区 中义社区 朝阳社区 金桥社区 福顺社区 欣苑社区 "
        "分:第一小学@工农社区 流:马庄村",
    ),
    (
        "葛沽镇",
        "东泥沽村 西泥沽村 盘沽村 杨惠庄村 石闸村 邓岑子村 九道沟村 殷庄村 南辛房村 郝家庄村 "
        "迎春社区 宝贤社区 流:东埝村",
    ),
    (
        "小站镇",
        "会馆村 东大站村 西大站村 营盘圈村 正营村 前营村 西右营村 东右营村 传字营村 米立庄村 "
        "黄营村 迎新社区 分:第一小学@操场河村",
    ),
    (
        "双港镇",
        "高营村 翟家甸村 郭黄庄村 东双港村 西双港村 曹庄村 赵北村 李楼村 "
        "新家园社区 景茗社区 分:机关@港兴社区",
    ),
    (
        "辛庄镇",
        "大韩庄村 小韩庄村 辛庄村 白塘口村 叶家房村 东台子村 吴稍口村 鑫港村 丽湖社区 流:卞庄村",
    ),
    (
        "双桥河镇",
        "东嘴村 西嘴村 官港村 新房子村 五登房村 双桥河村 坨子地村 东大沽村 滨河社区 流:小黄庄村",
    ),
    (
        "八里台镇",
        "大孙庄村 小孙庄村 西小站村 巨葛庄村 双闸村 南义村 八里台村 魏家台村 东小站村 "
        "天嘉湖社区 分:中学@梨园头村 流:沙井子村",
    ),
    (
        "北闸口镇",
        "北闸口村 前进村 东花园村 西花园村 南闸口村 高庄子村 小营村 "
        "仁智社区 分:营区@中沽村 流:老海下村",
    ),
    ("双林街道", "林锦花园社区 双林社区 金地社区 林雅苑社区 翠林社区 分:机关@林城佳苑社区"),
    ("海棠街道", "海棠苑社区 柏丽社区 雅苑社区 丽景社区 世纪花园社区 绿岸社区 流:家园社区"),
)

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

# Opening-day sets and daily spans that meet the standard (≥ 5 days, ≥ 4 h a day).
_DAY_SETS = (
    ("mon", "tue", "wed", "thu", "fri"),
    ("tue", "wed", "thu", "fri", "sat", "sun"),
    ("mon", "tue", "wed", "thu", "fri", "sat"),
    ("wed", "thu", "fri", "sat", "sun"),
)
_VILLAGE_SPANS = (
    ["09:00-11:30", "14:00-17:30"],
    ["08:30-11:30", "14:30-17:00"],
    ["09:00-12:00", "15:00-18:00"],
    ["08:00-11:00", "13:30-16:30"],
)
_COMMUNITY_SPANS = (
    ["09:00-17:00"],
    ["14:00-20:00"],
    ["09:00-12:00", "14:00-17:00", "19:00-21:00"],
    ["09:30-11:30", "13:30-18:00"],
)
_WEEKEND_SPANS = (["09:00-16:00"], ["08:30-11:30", "13:30-16:30"])

# Below the standard: fewer than 5 days a week, or fewer than 4 hours a day.
_FEW_DAYS = (
    {
        "wed": ["09:00-12:00", "14:00-17:00"],
        "sat": ["09:00-12:00", "14:00-17:00"],
        "sun": ["09:00-12:00", "14:00-17:00"],
    },
    {
        "mon": ["08:30-11:30", "14:00-17:30"],
        "tue": ["08:30-11:30", "14:00-17:30"],
        "thu": ["08:30-11:30", "14:00-17:30"],
        "fri": ["08:30-11:30", "14:00-17:30"],
        "sat": [],
        "sun": [],
    },
)
_SHORT_SPANS = (["15:00-17:30"], ["09:00-11:00", "16:00-17:00"], ["19:00-21:00"])

_VILLAGE_PLACES = ("村委会二楼", "村委会一楼", "党群服务中心", "文化活动中心")
_COMMUNITY_PLACES = ("社区党群服务中心一楼", "社区居委会二楼", "社区文化活动室", "社区综合服务站")
_PHONE_PREFIXES = tuple(
    "130 131 132 133 135 136 137 138 139 150 151 152 153 155 156 157 158 159 "
    "180 181 182 185 186 187 188 189".split()
)


def _parse_entry(entry: str, town_name: str) -> tuple[str, str, str]:
    """Turn one table entry into (kind, village, name) for a room in ``town_name``."""
    if entry.startswith("分:"):
        host, village = entry[2:].split("@")
        return "分馆", village, f"{town_name}{host}分馆"
    if entry.startswith("流:"):
        village = entry[2:]
        return "流动服务点", village, f"{village}流动服务点"
    if entry.endswith("社区"):  # 海棠苑社区 -> 海棠苑社区书吧
        return "社区书吧", entry, f"{entry.removesuffix('社区')}社区书吧"
    return "农家书屋", entry, f"{entry}农家书屋"


def _address(
    rng: random.Random, district: District, town: Town, kind: str, village: str, name: str
) -> str:
    prefix = f"{district.name}{town.name}{village}"
    if kind == "分馆":
        host = name.removeprefix(town.name).removesuffix("分馆")
        return f"{prefix}{host}图书室"
    if kind == "流动服务点":
        return f"{prefix}{rng.choice(('文化广场', '党群服务中心门前', '便民服务站'))}"
    if village.endswith("村"):
        return f"{prefix}{rng.choice(_VILLAGE_PLACES)}"  # e.g. 东泥沽村村委会二楼
    return f"{prefix.removesuffix('社区')}{rng.choice(_COMMUNITY_PLACES)}"


def _coordinate(rng: random.Random, centre: float, low: float, high: float) -> float:
    """A point within ~0.03° of ``centre``, strictly inside (low, high)."""
    margin = min(0.001, (high - low) / 4)
    value = centre + rng.uniform(-0.03, 0.03)
    return round(min(max(value, low + margin), high - margin), 6)


def _standard_hours(rng: random.Random, kind: str) -> dict[str, list[str]]:
    days = rng.choice(_DAY_SETS)
    spans = rng.choice(_COMMUNITY_SPANS if kind in ("社区书吧", "分馆") else _VILLAGE_SPANS)
    weekend = rng.choice(_WEEKEND_SPANS)
    hours: dict[str, list[str]] = {}
    for day in _WEEKDAYS:
        if day in days:
            hours[day] = list(weekend if day in ("sat", "sun") else spans)
        elif rng.random() < 0.3:
            hours[day] = []  # explicitly closed, same meaning as absent
    return hours


def _substandard_hours(rng: random.Random, ordinal: int) -> dict[str, list[str]]:
    """Alternate between too few days (even ordinals) and too few hours (odd)."""
    if ordinal % 2 == 0:
        return {day: list(spans) for day, spans in rng.choice(_FEW_DAYS).items()}
    spans = rng.choice(_SHORT_SPANS)
    return {day: list(spans) for day in rng.choice(_DAY_SETS)}


def _phone(rng: random.Random, used: set[str]) -> str:
    while True:
        phone = f"{rng.choice(_PHONE_PREFIXES)}{rng.randrange(10**8):08d}"
        if phone not in used:
            used.add(phone)
            return phone


def _target_town(district: District, position: int) -> Town:
    """The district town for the ``position``-th Jinnan table.

    Matches by name; a district with other towns gets the tables in order, cycling.
    """
    name = _TABLES[position][0]
    return district.town(name) or district.towns[position % len(district.towns)]


def demo_rooms(district: District = JINNAN) -> list[dict]:
    """Return 110 deterministic demo rooms for ``district`` (Jinnan by default)."""
    rng = random.Random(_SEED)
    # Room index -> ordinal among the rooms that fall below the hours standard.
    substandard = {
        i: n for n, i in enumerate(sorted(rng.sample(range(_TOTAL), _BELOW_HOURS_STANDARD)))
    }
    small = dict(
        zip(rng.sample(range(_TOTAL), len(_BELOW_AREA_STANDARD)), _BELOW_AREA_STANDARD, strict=True)
    )
    counters: dict[str, int] = {}
    phones: set[str] = set()
    rooms: list[dict] = []

    for position, (_, table) in enumerate(_TABLES):
        town = _target_town(district, position)
        for entry in table.split():
            index = len(rooms)
            kind, village, name = _parse_entry(entry, town.name)
            counters[town.code] = counters.get(town.code, 0) + 1

            area = small.get(index) or rng.randint(20, 120)
            seats = min(40, max(6, area // 3 + rng.randint(-4, 6)))
            if index in substandard:
                hours = _substandard_hours(rng, substandard[index])
            else:
                hours = _standard_hours(rng, kind)
            first_year = 2008 if kind in ("农家书屋", "流动服务点") else 2012
            rooms.append(
                {
                    "code": f"{district.code}-{town.code}-{counters[town.code]:03d}",
                    "name": name,
                    "kind": kind,
                    "town": town.name,
                    "village": village,
                    "address": _address(rng, district, town, kind, village, name),
                    "lat": _coordinate(rng, town.lat, district.bbox.min_lat, district.bbox.max_lat),
                    "lng": _coordinate(rng, town.lng, district.bbox.min_lng, district.bbox.max_lng),
                    "area_m2": area,
                    "seats": seats,
                    "opening_hours": hours,
                    "phone": _phone(rng, phones),
                    "established_year": rng.randint(first_year, 2020),
                    "demo": True,
                }
            )
    assert len(rooms) == _TOTAL, len(rooms)
    return rooms
