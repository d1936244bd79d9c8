"""A deterministic synthetic backlist for the demo: ~2,500 titles of the kinds a district's
reading rooms hold, so the demo's rooms can carry stock near the standards (1,500 volumes,
500 titles, 30 报刊, 100 audio-visual items) and lend for a year.

Titles are built from word lists (farming, literature, children's books, health, policy,
reference), in roughly the six-class mix of DOMAIN.md; three formats: books, ~60
periodicals (报刊) and ~200 audio-visual items (DVD/CD). The ISBN-13s are made up (valid
check digits) under the reserved demo prefix 978-7-5699…, clear of the demo catalogue
(978-7-50…), the generated recommended list (978-7-53…) and the tests' fixtures.

``backlist_inputs()`` is pure (same output every call); ``seed_backlist(deps)`` stores
the titles that are not in the catalog yet (idempotent) with ``title_document``.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any, Final

from server.catalog.classification import category_for

if TYPE_CHECKING:
    from server.resources import Deps

SEED: Final = 20260701
ISBN_BASE: Final = 978_759_900_000  # 12-digit bodies 978-7-5699…: reserved for this backlist
ISBN_PREFIX: Final = "9787599"  # every backlist title id starts with this (serials < 100,000)
# Books per six-class category (≈ DOMAIN.md's target mix, a little more 少儿 for the children).
BOOK_MIX: Final[dict[str, int]] = {"科技": 870, "文化": 760, "少儿": 290, "生活": 220, "政经": 80, "其他": 20}
PERIODICALS: Final = 60
AUDIO_VISUAL: Final = 200
INSERT_CHUNK = 500

_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶"
_GIVEN = ("建国 志强 海燕 丽华 晓东 文静 宏伟 志明 俊峰 立新 振华 美玲 雪梅 国栋 秀芳 春生 永红 明远 "
          "子涵 思远 嘉怡 浩然 雨桐 一鸣 亚楠 德林 伟 敏 静 军 磊 洋 勇 艳").split()

# (publisher, province) per category.
_PUBLISHERS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "科技": (("中国农业出版社", "北京"), ("中国农业科学技术出版社", "北京"), ("金盾出版社", "北京"),
             ("化学工业出版社", "北京"), ("天津科学技术出版社", "天津"), ("河南科学技术出版社", "河南"),
             ("山东科学技术出版社", "山东"), ("人民邮电出版社", "北京"), ("机械工业出版社", "北京")),
    "文化": (("人民文学出版社", "北京"), ("作家出版社", "北京"), ("中华书局", "北京"), ("长江文艺出版社", "湖北"),
             ("上海文艺出版社", "上海"), ("译林出版社", "江苏"), ("百花文艺出版社", "天津"),
             ("天津人民出版社", "天津"), ("天津人民美术出版社", "天津")),
    "少儿": (("天天出版社", "北京"), ("浙江少年儿童出版社", "浙江"), ("二十一世纪出版社", "江西"),
             ("接力出版社", "广西"), ("少年儿童出版社", "上海"), ("新蕾出版社", "天津")),
    "生活": (("中国轻工业出版社", "北京"), ("人民卫生出版社", "北京"), ("青岛出版社", "山东"),
             ("中国纺织出版社", "北京"), ("天津科学技术出版社", "天津")),
    "政经": (("人民出版社", "北京"), ("中共中央党校出版社", "北京"), ("法律出版社", "北京"),
             ("中国法制出版社", "北京"), ("天津人民出版社", "天津")),
    "其他": (("商务印书馆", "北京"), ("中国大百科全书出版社", "北京"), ("中国地图出版社", "北京"),
             ("天津古籍出版社", "天津")),
}
# (low, high) list price in yuan per category.
_PRICE: Final[dict[str, tuple[int, int]]] = {"科技": (20, 46), "文化": (22, 58), "少儿": (15, 35),
                                             "生活": (22, 50), "政经": (20, 45), "其他": (30, 80)}
_EDITIONS: Final = ("", "（修订版）", "（第2版）", "（图解版）", "（彩图版）", "（第3版）", "（实用版）", "（新编本）")


def _keji() -> list[tuple[str, str, str]]:
    crops = ("小麦 玉米 水稻 小站稻 大豆 花生 番茄 黄瓜 辣椒 茄子 大白菜 芹菜 草莓 葡萄 苹果 桃 梨 冬枣 西瓜 甜瓜 "
             "食用菌 韭菜 马铃薯 甘薯 萝卜 菠菜 西兰花 樱桃 核桃 金银花").split()
    crop_topics = ("高产栽培技术 病虫害绿色防控 设施栽培实用技术 科学施肥指南 优质高效种植 "
                   "新品种与栽培 采后贮藏与加工 种植关键技术问答 标准化生产技术 节水灌溉技术").split()
    animals = "生猪 肉牛 奶牛 肉羊 蛋鸡 肉鸡 肉鸭 鹅 兔 河蟹 南美白对虾 鲤鱼 草鱼 鲫鱼 鹌鹑 蜜蜂 观赏鱼 黄鳝".split()
    animal_topics = "健康养殖技术 常见病防治 规模化养殖 饲料配制与使用 养殖场建设与管理 繁育技术".split()
    tech = ("农机具使用与维修 农村电工实用技术 家庭光伏发电入门 智能手机助农一本通 农产品电商与直播 农业无人机植保 "
            "温室大棚建造 农村沼气实用技术 小型拖拉机驾驶与维护 家用电器维修入门 电动车维修技术 "
            "农药安全使用 测土配方施肥 土壤改良技术 农田水利基础 农村饮水安全 生态农业模式 "
            "天文知识入门 地震与防灾 气象与农业 生活中的物理 身边的化学 人体奥秘 电脑入门 "
            "常见病中西医防治 乡村医生手册 家畜传染病防治 宠物饲养与疾病防治").split()
    clc_crop = {"小麦": "S512", "玉米": "S513", "水稻": "S511", "小站稻": "S511", "大豆": "S565", "花生": "S565.2",
                "马铃薯": "S532", "甘薯": "S531"}
    out = [(f"{c}{t}", clc_crop.get(c, "S66" if c in "草莓 葡萄 苹果 桃 梨 冬枣 樱桃 核桃".split() else "S63"), "主编")
           for c in crops for t in crop_topics]
    out += [(f"{a}{t}", "S96" if a in "河蟹 南美白对虾 鲤鱼 草鱼 鲫鱼 观赏鱼 黄鳝".split() else "S8", "主编")
            for a in animals for t in animal_topics]
    out += [(t, "TM" if "电" in t else "S2" if "农" in t or "土" in t else "N49", "编著") for t in tech]
    return out


def _wenhua() -> list[tuple[str, str, str]]:
    places = "运河 海河 小站 葛沽 稻田 渡口 老街 村口 麦田 芦苇荡 河湾 北闸口 八里台 盐碱滩 长堤 枣园".split()
    nouns = "往事 人家 岁月 灯火 四季 歌谣 记忆 少年 春秋 故事 晨光 乡音 炊烟 笔记 风物 旧梦".split()
    writers = ("朱自清 老舍 冰心 汪曾祺 沈从文 萧红 丰子恺 孙犁 季羡林 林语堂 郁达夫 徐志摩 梁实秋 贾平凹 "
               "史铁生 路遥 莫言 王蒙 刘绍棠 冯骥才 铁凝 迟子建 梁晓声 张炜").split()
    forms = "散文精选 小说选 经典作品集 短篇小说集 随笔集".split()
    dynasties = "先秦 秦汉 三国 两晋南北朝 隋唐 五代十国 宋 元 明 清 近代 现代".split()
    history = "历史故事 人物传奇 名人故事 风俗图说".split()
    arts = ("京剧欣赏入门 相声艺术漫谈 剪纸技法图解 杨柳青年画赏析 中国民间故事选 二十四节气里的诗 古诗词里的中国 "
            "楷书入门字帖 行书入门字帖 中国传统节日 世界名画欣赏 民歌三百首 中国书法简史 国画花鸟入门 "
            "摄影构图入门 天津地方戏曲 中华成语故事 唐诗鉴赏 宋词鉴赏 元曲鉴赏 诗经选读 论语通读 "
            "孟子选读 古文观止选读 红色经典故事 英雄人物故事 乡村教师手记 广场舞入门 二胡演奏入门").split()
    out = [(f"{p}{n}", "I247.5", "著") for p in places for n in nouns]
    out += [(f"{w}{f}", "I266" if "散文" in f or "随笔" in f else "I246.7", "著") for w in writers for f in forms]
    out += [(f"中国{h}·{d}", "K20", "编著") for d in dynasties for h in history]
    out += [(a, "J2" if any(k in a for k in "画剪摄字书") else "I207" if any(k in a for k in "诗词曲经语孟") else "G12", "编著")
            for a in arts]
    return out


def _shaoer() -> list[tuple[str, str, str]]:
    animals = "小熊 小兔 小狐狸 小刺猬 小松鼠 小花猫 小鸭子 小象 小猴 小企鹅 小青蛙 小乌龟 小老鼠 小狗 小鹿".split()
    things = "新朋友 大冒险 生日会 红雨伞 魔法书 月亮船 种子 秘密花园 第一天上学 找妈妈 过新年 去旅行".split()
    science = "太空 恐龙 海洋 昆虫 人体 天气 植物 交通工具 地球 宇宙 动物 发明 火山 鸟类 细菌 机器人".split()
    series = "趣味科学 我的第一本科普书 十万个问号 小小科学家".split()
    out = [(f"{a}的{t}", "I287.7", "著") for a in animals for t in things]
    out += [(f"{s}·{t}", "Z228", "编") for s in series for t in science]
    out += [(f"成语故事·第{n}册", "I287.8", "编") for n in range(1, 13)]
    out += [(f"中华传统美德故事·第{n}册", "I287.8", "编") for n in range(1, 9)]
    return out


def _shenghuo() -> list[tuple[str, str, str]]:
    groups = "老年人 儿童 孕产妇 中老年 农村家庭 上班族 青少年 婴幼儿 慢性病患者 糖尿病患者 高血压患者".split()
    topics = "营养膳食指南 常见病预防 心理健康读本 安全用药手册 运动健身 四季养生 饮食禁忌 家庭护理".split()
    other = ("家庭急救常识 中医养生一本通 家常面食做法 津味家常菜 家庭收纳与整理 防范电信诈骗 庭院花卉种养 "
             "家常凉菜 家庭理财入门 亲子沟通的艺术 家庭教育百问 太极拳入门 八段锦图解 象棋入门 围棋入门 "
             "钓鱼技巧大全 家庭园艺 编织入门 服装裁剪入门 小家电使用窍门").split()
    out = [(f"{g}{t}", "R153" if "膳食" in t or "饮食" in t else "R16", "主编") for g in groups for t in topics]
    out += [(t, "TS972" if any(k in t for k in "菜食") else "G78" if "教育" in t or "亲子" in t
             else "G85" if any(k in t for k in "拳锦") else "G89" if "棋" in t else "TS97", "编著") for t in other]
    return out


def _zhengjing() -> list[tuple[str, str, str]]:
    topics = ("乡村振兴 基层治理 农村土地承包 农民专业合作社 民法典 农村集体经济 社会保障 家庭农场 反电信诈骗 "
              "村民自治 农村宅基地 劳动合同 婚姻家庭法 未成年人保护法 消费者权益保护").split()
    forms = "知识读本 百问百答 政策解读 案例解析 图解".split()
    return [(f"{t}{f}", "D92" if "法" in t or "合同" in t or "权益" in t else "F32", "编") for t in topics for f in forms]


def _qita() -> list[tuple[str, str, str]]:
    names = ("常用汉字规范字典 中国地图册 农民实用百科 少年百科全书 成语大词典 英汉小词典 天津地方文献选 世界地图册 "
             "百科知识问答 新华写字字典 中国历史地图册 实用对联大全 生活百科全书 中华姓氏大全 万年历").split()
    return [(n, "Z3", "编") for n in names]


_BOOK_MAKERS = {"科技": _keji, "文化": _wenhua, "少儿": _shaoer, "生活": _shenghuo, "政经": _zhengjing, "其他": _qita}

# (name, clc, children) — newspapers and magazines a rural reading room subscribes to.
_PERIODICAL_NAMES: Final = (
    "农民日报 天津日报 今晚报 中老年时报 人民日报 光明日报 经济日报 法治日报 健康报 中国妇女报 中国少年报 "
    "半月谈 求是 农村工作通讯 农家参谋 农业知识 中国农村科技 农村百事通 北方园艺 蔬菜 中国果树 养殖与饲料 "
    "农村新技术 科学种养 致富天地 乡村科技 故事会 读者 青年文摘 知音 家庭医生 大众医学 中华养生保健 "
    "老年博览 支部生活 当代党员 中国民兵 人民文学 散文 小说月报 天津文学 诗刊 书法 集邮 棋艺 "
    "少年科学画报 我们爱科学 儿童文学 幼儿画报 小学生天地 东方少年 童话世界 少年文艺 七彩语文 "
    "作文大王 中学生 课堂内外 中国国家地理"
).split()
_AV_TOPICS: Final = (
    ("S63", False, "设施蔬菜种植技术 大棚黄瓜管理 番茄嫁接技术 食用菌栽培 果树修剪技术 小麦病虫害识别 玉米高产技术 "
                   "水稻机插秧技术 生猪养殖技术 肉牛育肥技术 河蟹养殖技术 蛋鸡饲养管理 农机安全操作 测土配方施肥 "
                   "农药科学使用 农产品直播带货"),
    ("I23", False, "京剧名段欣赏 评剧经典唱段 相声精选 天津快板 河北梆子选段 中国民歌精选 红色经典歌曲 "
                   "古典名曲欣赏 广场舞教学 戏曲小品集"),
    ("J9", False, "经典电影·乡村故事 经典电影·英雄儿女 纪录片·大运河 纪录片·舌尖上的中国 纪录片·美丽乡村 "
                  "电视剧·平凡的世界"),
    ("R4", False, "家庭急救演示 中老年健身操 太极拳教学 八段锦教学 常见病预防讲座 合理用药讲座"),
    ("I287", True, "动画·西游记 动画·葫芦兄弟 动画·黑猫警长 儿歌一百首 经典童话故事 成语动画故事 "
                   "少儿英语启蒙 科普动画·海洋 科普动画·恐龙 安全教育动画"),
    ("D92", False, "民法典宣讲 防范电信诈骗 乡村振兴政策讲座 农村法律知识讲座"),
)


def isbn13(serial: int) -> str:
    """The backlist ISBN-13 of ``serial`` (0 ≤ serial < 100,000)."""
    body = str(ISBN_BASE + serial)
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


def _person(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + rng.choice(_GIVEN)


def _price_cents(rng: random.Random, low: int, high: int) -> int:
    return rng.randint(low, high) * 100 + rng.choice((0, 0, 0, 50, 80))


def _books(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for category, count in BOOK_MIX.items():
        bases = _BOOK_MAKERS[category]()
        seen: set[str] = set()
        made: list[tuple[str, str, str]] = []
        # Base titles first, then editions of them, until the class has its count.
        for edition in _EDITIONS:
            for title, clc, role in bases:
                name = title + edition
                if name not in seen and len(made) < count:
                    seen.add(name)
                    made.append((name, clc, role))
        rng.shuffle(made)
        low, high = _PRICE[category]
        for title, clc, role in made:
            publisher, province = rng.choice(_PUBLISHERS[category])
            out.append({"title": title, "author": f"{_person(rng)} {role}", "publisher": publisher,
                        "publisher_province": province, "year": rng.randint(2012, 2026), "clc": clc,
                        "children": category == "少儿", "format": "book",
                        "price_cents": _price_cents(rng, low, high)})
    return out


def _periodicals(rng: random.Random) -> list[dict[str, Any]]:
    out = []
    children = {"中国少年报", "少年科学画报", "我们爱科学", "儿童文学", "幼儿画报", "小学生天地", "东方少年", "童话世界",
                "少年文艺", "七彩语文", "作文大王"}
    for name in _PERIODICAL_NAMES[:PERIODICALS]:
        clc = ("S" if any(k in name for k in "农养蔬果园种致科") else "D" if any(k in name for k in "党求民兵法")
               else "R" if any(k in name for k in "医养生健康") else "I")
        out.append({"title": f"{name}（{rng.choice((2025, 2026))}年合订本）" if rng.random() < 0.1 else name,
                    "author": f"{name}社 编", "publisher": f"{name}社", "publisher_province": None,
                    "year": 2026, "clc": {"S": "S", "D": "D2", "R": "R1", "I": "I2"}[clc],
                    "children": name in children, "format": "periodical", "price_cents": _price_cents(rng, 6, 20)})
    return out


def _audio_visual(rng: random.Random) -> list[dict[str, Any]]:
    items = [(t, clc, kids) for clc, kids, names in _AV_TOPICS for t in names.split()]
    out: list[dict[str, Any]] = []
    carriers = ("DVD", "VCD", "CD")
    n = 0
    while len(out) < AUDIO_VISUAL:
        title, clc, kids = items[n % len(items)]
        part = n // len(items)
        carrier = carriers[part % len(carriers)]
        name = f"{title}（{carrier}）" if part < 3 else f"{title}（{carrier}·第{part // 3 + 1}辑）"
        out.append({"title": name, "author": f"{_person(rng)} 主讲" if not kids else "少儿音像编辑部 编",
                    "publisher": rng.choice(("中国农业音像出版社", "中国唱片总公司", "天津音像出版社", "人民卫生电子音像出版社")),
                    "publisher_province": None, "year": rng.randint(2014, 2026), "clc": clc, "children": kids,
                    "format": "audio_visual", "price_cents": _price_cents(rng, 15, 45)})
        n += 1
    return out


def backlist_inputs(seed: int = SEED) -> list[dict[str, Any]]:
    """The backlist as TitleInput fields (``isbn`` included), books first; deterministic."""
    rng = random.Random(seed)
    rows = _books(rng) + _periodicals(rng) + _audio_visual(rng)
    for serial, row in enumerate(rows, start=1):
        row["isbn"] = isbn13(serial)
        row["category"] = category_for(row["clc"], children=row["children"])
    return rows


def is_backlist(title_id: str) -> bool:
    return title_id.startswith(ISBN_PREFIX)


async def seed_backlist(deps: Deps) -> list[dict[str, Any]]:
    """Store the backlist titles the catalog lacks (idempotent). Returns every backlist
    title as ``{_id, format, category, children, price_cents}`` for the stock and loans."""
    from server.catalog.models import TitleInput
    from server.catalog.service import title_document

    rows = backlist_inputs()
    have = {d["_id"] for d in await deps.db["titles"].find(
        {"_id": {"$regex": f"^{ISBN_PREFIX}"}}, {"_id": 1}).to_list()}
    fresh = []
    for row in rows:
        if row["isbn"] in have:
            continue
        given = {k: v for k, v in row.items() if k != "category"}
        doc = title_document(TitleInput.model_validate(given), row["isbn"])
        assert doc["category"] == row["category"], (row["title"], doc["category"])
        fresh.append({**doc, "demo": True})
    for i in range(0, len(fresh), INSERT_CHUNK):
        await deps.db["titles"].insert_many(fresh[i : i + INSERT_CHUNK], ordered=False)
    return [{"_id": r["isbn"], "format": r["format"], "category": r["category"], "children": r["children"],
             "price_cents": r["price_cents"]} for r in rows]
