"""Jinnan demo data: 110 rooms, an administrator for each, and district staff.

Deterministic and idempotent: running it twice adds nothing the second time.
Every demo account shares DEMO_PASSWORD; seed-demo refuses production mode.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from server.rooms import repo as rooms_repo
from server.rooms.demo_data import demo_rooms
from server.rooms.models import RoomCreate
from server.rooms.service import room_document
from server.staff import repo as staff_repo
from server.staff.models import StaffCreate
from server.staff.service import PHONE_CONTEXT, hash_password

if TYPE_CHECKING:
    from server.resources import Deps

DEMO_PASSWORD = "shuwu-2026"
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文"
_GIVEN = "秀英 桂英 秀兰 玉兰 淑珍 建国 建华 志强 永刚 海燕 春梅 丽华 国庆 红霞 晓东 文静 宏伟 志明 凤琴 淑华 德胜 玉梅 俊峰 金凤 立新 晓燕 振华 美玲 广平 雪梅".split()

# (username, name, role, towns) — the fixed log-ins ops/run prints.
FIXED_STAFF: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("admin", "王静", "district_admin", ()),
    ("clerk", "刘海燕", "district_staff", ()),
    ("xsg", "张建华", "town_coordinator", ("咸水沽镇",)),
    ("inspector", "赵立新", "inspector", ("咸水沽镇",)),
    ("trainer", "孙文静", "trainer", ()),
)


@dataclass
class SeedReport:
    rooms_added: int
    staff_added: int
    skipped: bool = False

    def __str__(self) -> str:
        if self.skipped:
            return "demo data already present; nothing loaded"
        return f"demo data loaded: {self.rooms_added} rooms, {self.staff_added} staff accounts"


def demo_logins() -> list[tuple[str, str]]:
    """(username, what it is) for the README and ops/run."""
    labels = {"district_admin": "区馆管理员", "district_staff": "区馆工作人员", "town_coordinator": "咸水沽镇联络员",
              "inspector": "督查员", "trainer": "培训师"}
    return [(u, labels[r]) for u, _, r, _ in FIXED_STAFF] + [("jn-xsg-001", "南华营村农家书屋管理员")]


async def seed_demo(deps: Deps, *, if_empty: bool = False, content: bool = True,
                    circulation: bool = False) -> SeedReport:
    """The Jinnan demo: 110 rooms, their administrators and the district staff, and (with
    ``content``) a small catalogue on the rooms' shelves, a reading challenge and a contest
    edition open today. With ``circulation`` also a year of it (server.circulation.demo:
    ~2,500 backlist titles, the rooms' opening stock, ~4,000 readers, ~24,000 loans, last
    summer's challenge; one to three minutes, once) and the figures the console reads folded."""
    if if_empty and await rooms_repo.count_all(deps.db) > 0:
        if content:
            await _seed_content(deps, circulation=circulation)  # added to demo data made before it existed
        return SeedReport(0, 0, skipped=True)
    rng = random.Random(2026)
    now = datetime.now(UTC)
    rooms = demo_rooms(deps.settings.district)
    existing_rooms = await rooms_repo.existing_codes(deps.db, [r["code"] for r in rooms])
    new_rooms = [
        room_document(deps, RoomCreate.model_validate(
            {k: v for k, v in r.items() if k not in {"lat", "lng", "demo"}}
            | {"location": {"lat": r["lat"], "lng": r["lng"]}, "residents": demo_residents(r["code"], r["village"])}
        ), demo=True)
        for r in rooms if r["code"] not in existing_rooms
    ]
    await rooms_repo.insert_many(deps.db, new_rooms)

    # One argon2 hash for every demo account: hashing 115 passwords would take seconds.
    password_hash = await hash_password(DEMO_PASSWORD)
    wanted: list[dict[str, Any]] = []
    for username, name, role, towns in FIXED_STAFF:
        wanted.append({"username": username, "name": name, "role": role, "rooms": [], "towns": list(towns)})
    for room in rooms:
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        wanted.append({"username": room["code"].lower(), "name": name, "role": "room_admin",
                       "rooms": [room["code"]], "towns": [],
                       # the administrator's own mobile, not the room's public number
                       "phone": f"139{rng.randrange(10**8):08d}"})
    taken = await staff_repo.existing_usernames(deps.db, [w["username"] for w in wanted])
    docs = []
    for spec in wanted:
        StaffCreate.model_validate({**spec, "password": DEMO_PASSWORD})  # the same rules as the API
        if spec["username"] in taken:
            continue
        phone = spec.pop("phone", None)
        doc = {**spec, "password_hash": password_hash, "active": True, "created_at": now, "created_by": "seed-demo",
               "demo": True}
        if phone:
            doc["phone_enc"] = deps.cipher.encrypt(phone, context=PHONE_CONTEXT)
        docs.append(doc)
    await staff_repo.insert_many(deps.db, docs)
    if content:
        await _seed_content(deps, circulation=circulation)
    return SeedReport(len(new_rooms), len(docs))


def demo_residents(code: str, village: str) -> int:
    """A plausible, deterministic 常住人口 for a demo room: 800–4,000 for a village (村),
    3,000–12,000 for a community (社区)."""
    low, high = (800, 4000) if village.endswith("村") else (3000, 12000)
    return low + zlib.crc32(code.encode()) % (high - low + 1) // 10 * 10


def _seed_actor(admin: dict[str, Any] | None) -> Any:
    from server.staff.roles import Actor, Role

    return Actor(staff_id=str(admin["_id"]) if admin else "seed", username="seed-demo", name="演示数据",
                 role=Role.DISTRICT_ADMIN)


async def _seed_content(deps: Deps, *, circulation: bool = False) -> None:
    await _seed_catalogue(deps)
    await _seed_reading_activities(deps)
    loaded_year = False
    if circulation:
        # Before distribution and training: the selection's demand and the ratings' metrics read loans.
        from server.circulation.demo import seed_demo_year

        report = await seed_demo_year(deps)
        loaded_year = not report.skipped
        if loaded_year:
            print(f"demo year of circulation: {report}", flush=True)
    from distribution.demo import seed_distribution_demo

    await seed_distribution_demo(deps)
    from training.demo import seed_training_demo

    await seed_training_demo(deps)
    if loaded_year:  # the console reads these folded figures; the nightly job keeps them fresh
        from server.readers.service import local_today
        from server.stats import readers_stats, roomstats
        from server.stats.indicators import trend_years
        from server.stats.yearfacts import FIRST_YEAR

        today = local_today()
        await readers_stats.snapshot(deps, today)
        # the years of this year's dashboard and its trends, so the first view does not fold the
        # ledger itself (an older year is folded once, the first time it is asked for)
        await roomstats.refresh(deps, today, [y for y in trend_years(today.year) if y >= FIRST_YEAR])


async def _seed_catalogue(deps: Deps) -> None:
    """The demo titles in the catalogue and 15–25 of them on every active room's shelves
    (received through the stock ledger, once: the op_ids are fixed)."""
    from server.catalog.demo_titles import demo_title_inputs
    from server.catalog.models import TitleInput
    from server.catalog.service import title_document
    from server.stock import service as stock
    from server.stock.models import ReceiptIn

    inputs = [TitleInput.model_validate(t) for t in demo_title_inputs()]
    ids = [t.isbn for t in inputs]
    have = {d["_id"] for d in await deps.db["titles"].find({"_id": {"$in": ids}}, {"_id": 1}).to_list()}
    fresh = [{**title_document(t, t.isbn), "demo": True} for t in inputs if t.isbn not in have]  # type: ignore[arg-type]
    if fresh:
        await deps.db["titles"].insert_many(fresh)
    actor = _seed_actor(await deps.db["staff"].find_one({"username": "admin"}))
    rng = random.Random(2026)
    rooms = await deps.db["rooms"].find({"status": "active"}, {"code": 1}).sort("code", 1).to_list()
    for room in rooms:
        chosen = rng.sample(ids, rng.randint(15, 25))
        lines = [{"title_id": t, "quantity": rng.choice((1, 1, 2))} for t in chosen]
        await stock.receive(deps, actor, room["code"], ReceiptIn.model_validate(
            {"op_id": f"demo-stock-{room['code']}", "reference": "演示数据", "lines": lines}))


async def _seed_reading_activities(deps: Deps) -> None:
    """A reading challenge and a contest edition open today, so the mini-program has something
    to join in the demo whatever the season (the real ones run in the summer holidays)."""
    from datetime import timedelta

    from miniprogram_api.challenges.definitions import create_challenge
    from miniprogram_api.challenges.models import ChallengeIn
    from miniprogram_api.contest.models import ContestIn, ContestUpdate
    from server.readers.service import local_today

    if await deps.db["challenges"].count_documents({}) or await deps.db["contests"].count_documents({}):
        return
    actor = _seed_actor(await deps.db["staff"].find_one({"username": "admin"}))
    today = local_today()
    await create_challenge(deps, actor, ChallengeIn.model_validate({
        "title": f"{today.year}年阅读打卡（演示）",
        "description": "每读完一本书就来打卡：读满 5 本得“阅读新星”，10 本得“书香少年”，20 本得“阅读达人”。",
        "starts_on": (today - timedelta(days=14)).isoformat(), "ends_on": (today + timedelta(days=75)).isoformat(),
        "unit": "books", "cap_per_log": 3, "cap_per_day": 5,
        "milestones": [{"threshold": 5, "badge": "阅读新星", "icon": "star"},
                       {"threshold": 10, "badge": "书香少年", "icon": "book"},
                       {"threshold": 20, "badge": "阅读达人", "icon": "trophy"}],
        "draw": {"min_total": 5}, "status": "published"}))
    from miniprogram_api.contest import service as contest

    edition = await contest.create_contest(deps, actor, ContestIn.model_validate({
        "year": today.year, "title": f"{today.year}年“我的书屋·我的梦”阅读实践活动（演示）",
        "opens_on": (today - timedelta(days=7)).isoformat(), "closes_on": (today + timedelta(days=45)).isoformat()}))
    await contest.update_contest(deps, actor, edition.id, ContestUpdate.model_validate({"status": "open"}))
