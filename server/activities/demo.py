"""Demo activity registers, opening check-ins, satisfaction answers and residents, so the
ratings' metrics and evidence pages have something to show. Deterministic; does nothing the
second time (the first demo activity's fixed id is the marker)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from miniprogram_api.surveys import repo as surveys_repo
from server.activities import repo
from server.circulation.rules import LOCAL_TZ
from server.readers.service import local_today
from server.seed import demo_residents

if TYPE_CHECKING:
    from server.resources import Deps

MARKER = ObjectId("64b2a0000000000000000000")
TITLES = {
    "读书会": ("春季读书分享会", "好书共读会", "农家书屋读书沙龙", "老党员读书会"),
    "讲座": ("果树冬季管理讲座", "防范电信诈骗讲座", "健康养生知识讲座", "家庭教育讲座"),
    "展览": ("津南非遗图片展", "新书展示周", "红色经典图书展"),
    "亲子阅读": ("周末亲子绘本共读", "暑期亲子阅读会", "故事妈妈讲故事"),
    "培训": ("智能手机使用培训", "电商直播入门培训", "农业技术培训"),
    "其他": ("世界读书日朗读活动", "元宵节猜灯谜", "重阳节读书敬老活动"),
}


def _score(rng: random.Random, happy: float) -> int:
    return rng.choice((4, 5)) if rng.random() < happy else rng.choice((2, 3))


def _oid(n: int) -> ObjectId:
    return ObjectId(f"64b2a{n:019x}")


async def _quiet_since(deps: Deps, today: date) -> dict[str, date]:
    """Rooms with loans in the data (the demo year of circulation) whose last loan is more than
    two weeks old → the day of that last loan, so the demo's check-ins do not contradict it."""
    rows = await (await deps.db["loans"].aggregate([
        {"$group": {"_id": "$room", "last": {"$max": "$lent_at"}}}])).to_list()
    cutoff = today - timedelta(days=14)
    last = {r["_id"]: r["last"].replace(tzinfo=UTC).astimezone(LOCAL_TZ).date() for r in rows if r.get("last")}
    return {code: day for code, day in last.items() if day < cutoff}


async def seed_demo(deps: Deps) -> None:
    db = deps.db
    if await db[repo.ACTIVITIES].find_one({"_id": MARKER}, {"_id": 1}):
        return
    rooms = await db["rooms"].find({"status": "active"}, {"code": 1, "town": 1, "village": 1, "opening_hours": 1,
                                                          "residents": 1}).sort("code", 1).to_list()
    missing = [r for r in rooms if r.get("residents") is None]
    for r in missing:  # demo rooms made before residents existed
        await db["rooms"].update_one({"_id": r["_id"], "residents": None},
                                     {"$set": {"residents": demo_residents(r["code"], r.get("village", ""))}})
    today = local_today()
    start = today.replace(month=1, day=1)
    span = max(0, (today - start).days)
    activities: list[dict[str, Any]] = []
    openings: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    quiet = await _quiet_since(deps, today)
    n = 0
    for index, room in enumerate(rooms):
        rng = random.Random(f"demo-activities-{room['code']}")
        active = rng.random() < 0.8
        until = quiet.get(room["code"], today)  # a room the demo year left idle shows no sign after it went quiet
        for _ in range(rng.randint(2, 8) if active else rng.randint(0, 1)):
            kind = rng.choice(tuple(TITLES))
            held = start + timedelta(days=rng.randint(0, span))
            if held > until:
                continue
            created = datetime.combine(held, time(18), LOCAL_TZ).astimezone(UTC)
            attendance = rng.randint(8, 60)
            activities.append({
                "_id": MARKER if n == 0 else _oid(n), "room": room["code"], "town": room["town"],
                "held_on": held.isoformat(), "title": rng.choice(TITLES[kind]), "kind": kind,
                "attendance": attendance, "children": rng.randint(0, attendance // 2) if kind != "培训" else 0,
                "notes": "", "recorded_by": "admin", "op_id": f"demo-activity-{n:05d}", "created_at": created,
                "updated_at": created, "demo": True})
            n += 1
        open_weekdays = {("mon", "tue", "wed", "thu", "fri", "sat", "sun").index(d)
                         for d, spans in (room.get("opening_hours") or {}).items() if spans}
        keen = 0.85 if active else 0.4
        for back in range(1, span + 1):
            day = today - timedelta(days=back)
            if day.weekday() in open_weekdays and rng.random() < keen and day <= until:
                at = datetime.combine(day, time(8, 30), LOCAL_TZ).astimezone(UTC)
                openings.append({"_id": repo.opening_id(room["code"], day.isoformat()), "room": room["code"],
                                 "day": day.isoformat(), "by": room["code"].lower(), "at": at})
        if index % 3 != 2:  # two rooms in three have survey answers
            happy = rng.uniform(0.6, 1.0)
            for k in range(rng.randint(4, 14)):
                day = start + timedelta(days=rng.randint(0, span))
                at = datetime.combine(day, time(12), LOCAL_TZ).astimezone(UTC)
                answers.append({"room": room["code"], "town": room["town"], "year": today.year,
                                "account_id": _oid(10_000 + index * 100 + k),
                                "answers": {q: _score(rng, happy) for q in ("q1", "q2", "q3", "q4", "q5")},
                                "comment": "", "op_id": None, "answered_at": at, "answered_on": day.isoformat(),
                                "created_at": at, "revisions": 1, "demo": True})
    # The marker goes in last, so an interrupted run is simply run again.
    first, rest = activities[:1], activities[1:]
    await repo.insert_demo(db, rest, openings)
    existing = {(d["room"], d["account_id"]) for d in await db[surveys_repo.SURVEYS].find(
        {"demo": True}, {"room": 1, "account_id": 1}).to_list()}
    await surveys_repo.insert_demo(db, [a for a in answers if (a["room"], a["account_id"]) not in existing])
    await repo.insert_demo(db, first, [])
