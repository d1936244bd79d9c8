"""Replenishment demo data: the 2012–2015 history and this year's plan taken from the
recommended list through selection, locking, shipments (packed) to one day's delivery
routes — so every distribution console page has something to show in the demo.

Everything goes through the services, as the district administrator would, so the demo
data carries the same audit entries and passes the same rules as real data. Idempotent:
nothing is done when the current year already has a plan. The plan covers the rooms of
DEMO_TOWNS only, to keep the selection run short.

The recommended list is generated (deterministic): ~400 titles in the six classes in
about the proportions of the national list, ¥18–60, ~15% from Tianjin publishers, with
made-up ISBN-13s (valid check digits) under 978-7-5 that no demo catalogue title uses.
"""

from __future__ import annotations

import logging
import random
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.resources import Deps

log = logging.getLogger(__name__)

LIST_SIZE = 400
# Titles per class in the generated list (sums to LIST_SIZE).
LIST_MIX: dict[str, int] = {"科技": 140, "文化": 120, "少儿": 60, "生活": 50, "政经": 22, "其他": 8}
TIANJIN_SHARE = 0.15
# The demo plan covers two towns' rooms (31), not all 110: selecting for 110 rooms takes
# about 40 s on two cores (the per-room MIPs need about 0.2 s each however short the
# limit), too long for ./ops/run and the tests that seed the demo.
DEMO_TOWNS = ("咸水沽镇", "葛沽镇")
BUDGET_FEN_PER_ROOM = 220_000  # ¥2,200 a room: a little above the ¥2,000 minimum
SELECTION_TIME_LIMIT_SECS = 15
# A run cut short by its time limit can break a rule (a room whose MIP found nothing in
# time falls back to the greedy choice, which may overspend the budget): then one more
# run with this much time, and the plan is locked with the first run that passes.
SELECTION_RETRY_SECS = 30
ROUTE_TIME_LIMIT_SECS = 5
DEMO_TRUCKS = 4
TRUCK_CAPACITY_BOXES = 40
PICK_ROOMS = 5  # rooms whose administrators picked titles in the window
SUPPLIER = "天津新华书店"
_ISBN_BASE = 978_753_000_000  # 12-digit bodies 978-7-53…: clear of the demo catalogue's 978-7-50…

# (publisher, province) per class; the Tianjin ones are drawn for ~TIANJIN_SHARE of titles.
_PUBLISHERS: dict[str, tuple[list[tuple[str, str]], list[tuple[str, str]]]] = {
    "科技": ([("中国农业出版社", "北京"), ("中国农业科学技术出版社", "北京"), ("金盾出版社", "北京"),
              ("化学工业出版社", "北京"), ("江苏凤凰科学技术出版社", "江苏"), ("河南科学技术出版社", "河南"),
              ("山东科学技术出版社", "山东"), ("人民邮电出版社", "北京")],
             [("天津科学技术出版社", "天津")]),
    "文化": ([("人民文学出版社", "北京"), ("作家出版社", "北京"), ("中华书局", "北京"), ("长江文艺出版社", "湖北"),
              ("上海文艺出版社", "上海"), ("译林出版社", "江苏"), ("北京十月文艺出版社", "北京")],
             [("百花文艺出版社", "天津"), ("天津人民出版社", "天津"), ("天津人民美术出版社", "天津")]),
    "少儿": ([("天天出版社", "北京"), ("浙江少年儿童出版社", "浙江"), ("二十一世纪出版社", "江西"),
              ("接力出版社", "广西"), ("少年儿童出版社", "上海"), ("中国少年儿童出版社", "北京")],
             [("新蕾出版社", "天津")]),
    "生活": ([("中国轻工业出版社", "北京"), ("人民卫生出版社", "北京"), ("青岛出版社", "山东"),
              ("中国纺织出版社", "北京")],
             [("天津科学技术出版社", "天津")]),
    "政经": ([("人民出版社", "北京"), ("中共中央党校出版社", "北京"), ("法律出版社", "北京"),
              ("中国法制出版社", "北京"), ("经济科学出版社", "北京")],
             [("天津人民出版社", "天津")]),
    "其他": ([("商务印书馆", "北京"), ("中国大百科全书出版社", "北京"), ("中国地图出版社", "北京")],
             [("天津古籍出版社", "天津")]),
}
_PRICE_YUAN: dict[str, tuple[int, int]] = {"科技": (22, 48), "文化": (25, 60), "少儿": (18, 35), "生活": (25, 55),
                                           "政经": (20, 45), "其他": (28, 60)}


def _titles_for(category: str) -> list[tuple[str, str]]:
    """Every (title, author role) the generator can make for ``category``."""
    if category == "科技":
        crops = "小麦 玉米 水稻 大豆 花生 番茄 黄瓜 辣椒 茄子 大白菜 草莓 葡萄 苹果 桃 梨 西瓜 食用菌 韭菜".split()
        crop_topics = "高产栽培技术 病虫害绿色防控 设施栽培实用技术 科学施肥指南 优质高效种植".split()
        animals = "生猪 肉牛 奶牛 肉羊 蛋鸡 肉鸡 肉鸭 鹅 兔 河蟹 南美白对虾 鲤鱼 草鱼 鲫鱼".split()
        animal_topics = "健康养殖技术 常见病防治 规模化养殖 饲料配制与使用".split()
        other = [("农机具使用与维修", "编著"), ("农村电工实用技术", "编著"), ("家庭光伏发电入门", "编著"),
                 ("智能手机助农一本通", "编著"), ("农产品电商与直播", "编著"), ("农业无人机植保", "编著")]
        return ([(f"{c}{t}", "主编") for c in crops for t in crop_topics]
                + [(f"{a}{t}", "主编") for a in animals for t in animal_topics] + other)
    if category == "文化":
        places = "运河 海河 小站 葛沽 稻田 渡口 老街 村口 麦田 芦苇荡".split()
        nouns = "往事 人家 岁月 灯火 四季 歌谣 记忆 少年 春秋 故事".split()
        writers = "朱自清 老舍 冰心 汪曾祺 沈从文 萧红 丰子恺 孙犁 季羡林 林语堂".split()
        forms = "散文精选 小说选 经典作品集".split()
        dynasties = "先秦 秦汉 三国 两晋南北朝 隋唐 宋元 明清".split()
        arts = ["京剧欣赏入门", "相声艺术漫谈", "剪纸技法图解", "杨柳青年画赏析", "中国民间故事选", "二十四节气里的诗",
                "古诗词里的中国", "楷书入门字帖", "中国传统节日", "世界名画欣赏"]
        return ([(f"{p}{n}", "著") for p in places for n in nouns]
                + [(f"{w}{f}", "著") for w in writers for f in forms]
                + [(f"中国历史故事·{d}", "编著") for d in dynasties] + [(a, "编著") for a in arts])
    if category == "少儿":
        animals = "小熊 小兔 小狐狸 小刺猬 小松鼠 小花猫 小鸭子 小象 小猴 小企鹅".split()
        things = "新朋友 大冒险 生日会 红雨伞 魔法书 月亮船 种子 秘密花园".split()
        science = "太空 恐龙 海洋 昆虫 人体 天气 植物 交通工具 地球 宇宙".split()
        return ([(f"{a}的{t}", "著") for a in animals for t in things]
                + [(f"趣味科学·{s}", "编") for s in science]
                + [(f"成语故事·第{n}册", "编") for n in range(1, 9)])
    if category == "生活":
        groups = "老年人 儿童 孕产妇 中老年 农村家庭 上班族 青少年 婴幼儿 慢性病患者".split()
        topics = "营养膳食指南 常见病预防 心理健康读本 安全用药手册 运动健身".split()
        other = [("家庭急救常识", "编著"), ("中医养生一本通", "编著"), ("家常面食做法", "编著"), ("津味家常菜", "编著"),
                 ("家庭收纳与整理", "编著"), ("防范电信诈骗", "编著"), ("庭院花卉种养", "编著")]
        return [(f"{g}{t}", "主编") for g in groups for t in topics] + other
    if category == "政经":
        topics = "乡村振兴 基层治理 农村土地承包 农民专业合作社 民法典 农村集体经济 社会保障 家庭农场 反电信诈骗".split()
        forms = "知识读本 百问百答 政策解读".split()
        return [(f"{t}{f}", "编") for t in topics for f in forms]
    return [("常用汉字规范字典", "编"), ("中国地图册", "编"), ("农民实用百科", "编"), ("少年百科全书", "编"),
            ("成语大词典", "编"), ("英汉小词典", "编"), ("天津地方文献选", "编"), ("世界地图册", "编"),
            ("百科知识问答", "编")]


def _isbn13(serial: int) -> str:
    body = str(_ISBN_BASE + serial)
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return body + str(check)


def demo_list_csv(seed: int = 2026) -> bytes:
    """The generated recommended list in the list import's CSV format (UTF-8)."""
    from server.seed import _GIVEN, _SURNAMES

    rng = random.Random(seed)
    rows = ["ISBN,书名,作者,出版社,出版社所在省份,定价,分类"]
    serial = 0
    for category, count in LIST_MIX.items():
        made = _titles_for(category)
        chosen = rng.sample(made, count) if count <= len(made) else made
        others, tianjin = _PUBLISHERS[category]
        low, high = _PRICE_YUAN[category]
        for title, role in chosen:
            serial += 1
            publisher, province = rng.choice(tianjin if rng.random() < TIANJIN_SHARE else others)
            author = f"{rng.choice(_SURNAMES)}{rng.choice(_GIVEN)} {role}"
            price = f"{rng.randint(low, high)}.{rng.choice(('00', '00', '80', '50'))}"
            rows.append(f"{_isbn13(serial * 7)},{title},{author},{publisher},{province},{price},{category}")
    return ("\n".join(rows) + "\n").encode()


async def seed_distribution_demo(deps: Deps) -> None:
    """Load the past years and take this year's plan to packed shipments and one day's
    routes (see the module docstring). Does nothing when this year has a plan already."""
    from bson import ObjectId

    from distribution.plans import candidates, history, picks
    from distribution.plans import repo as plans_repo
    from distribution.plans import service as plans
    from distribution.plans.models import PickItem, PicksIn, PlanCreate, TransitionIn
    from distribution.routes import service as routes
    from distribution.routes.models import RoutePlanIn, TruckIn
    from distribution.selecting import service as selecting
    from distribution.selecting.models import RunIn
    from distribution.shipments import service as shipments
    from distribution.shipments.models import CreateShipmentsIn
    from distribution.shipments.models import TransitionIn as ShipmentMove
    from server.readers.service import local_today
    from server.rooms import repo as rooms_repo
    from server.seed import _seed_actor

    today = local_today()
    if await plans_repo.plan_by_year(deps.db, today.year):
        return
    actor = _seed_actor(await deps.db["staff"].find_one({"username": "admin"}))
    await history.load_history(deps, actor)
    rooms = [r["code"] for r in await rooms_repo.page(deps.db, {"status": "active", "town": {"$in": list(DEMO_TOWNS)}},
                                                      after=None, limit=1000)]
    if not rooms:
        return
    plan = await plans.create_plan(deps, actor, PlanCreate.model_validate({
        "year": today.year, "title": f"{today.year} 年农家书屋出版物补充更新（演示）",
        "budget_fen": BUDGET_FEN_PER_ROOM * len(rooms), "rooms": rooms,
        "window": {"opens_on": (today - timedelta(days=30)).isoformat(), "closes_on": today.isoformat()}}))
    pid = plan.plan_id
    await candidates.import_list(deps, actor, pid, demo_list_csv(), "text/csv", dry_run=False)

    await plans.transition(deps, actor, pid, TransitionIn(to="selection_open"))
    listed = sorted(c["title_id"] for c in await plans_repo.all_candidates(deps.db, ObjectId(pid)))
    rng = random.Random(today.year)
    for room in _pick_rooms(rooms):
        items = [PickItem(title_id=t, copies=rng.choice((1, 1, 2))) for t in rng.sample(listed, 10)]
        await picks.save_room_picks(deps, actor, pid, room, PicksIn(op_id=f"demo-picks-{today.year}-{room}",
                                                                    items=items))
    await plans.transition(deps, actor, pid, TransitionIn(to="selection_closed"))

    for limit in (SELECTION_TIME_LIMIT_SECS, SELECTION_RETRY_SECS):
        run = await selecting.start_run(deps, actor, pid, RunIn(time_limit_secs=limit))
        if (await plans.check_run(deps, pid, run.id)).ok:
            break
    else:
        log.warning("demo plan %s: no selection run passes the rules; left unlocked without shipments", pid)
        return
    await plans.transition(deps, actor, pid, TransitionIn(to="locked", chosen_run_id=run.id))

    made = await shipments.create_shipments(deps, actor, pid, CreateShipmentsIn(supplier=SUPPLIER))
    for s in made.shipments:
        for to in ("ordered", "packed"):
            await shipments.transition(deps, actor, s.id, ShipmentMove.model_validate({"to": to}))
    trucks = [TruckIn(name=f"车{n}", capacity_boxes=TRUCK_CAPACITY_BOXES) for n in range(1, DEMO_TRUCKS + 1)]
    await routes.create_route_plan(deps, actor, RoutePlanIn(
        plan_id=pid, date=today + timedelta(days=1), trucks=trucks, time_limit_secs=ROUTE_TIME_LIMIT_SECS))


def _pick_rooms(rooms: list[str]) -> list[str]:
    """The demo administrator's room (jn-xsg-001) and a few others spread over the list."""
    step = max(1, len(rooms) // PICK_ROOMS)
    chosen = [rooms[i] for i in range(0, len(rooms), step)][:PICK_ROOMS]
    if "JN-XSG-001" in rooms and "JN-XSG-001" not in chosen:
        chosen[-1] = "JN-XSG-001"
    return chosen
