"""Demo courses and sessions: an induction course with a quiz, the yearly refresher, three
topic courses; finished sessions attended by about 60 room administrators, a session with
check-in open today, and an upcoming one that is full with a waiting list.

Idempotent: nothing happens when the induction course of this year exists. Courses and
sessions go through the services (audited, as the district administrator); the many
enrolments and attendance marks of the past sessions are written in bulk.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId

from server.resources import Deps
from server.staff import repo as staff_repo
from server.storage import db_now
from training.courses import repo, service
from training.courses.models import CourseCreate, SessionCreate, TransitionIn

TRAINER = "trainer"
PLACES = ("津南区图书馆三楼报告厅", "咸水沽镇文化站多功能厅", "小站镇综合文化服务中心")


def _courses(year: int) -> list[dict[str, Any]]:
    return [
        {"code": f"RZ-{year}", "title": "新任书屋管理员岗前培训", "kind": "induction", "hours": 8,
         "topics": ["duties", "policy", "classification", "daily_management", "registers"],
         "quiz": {"pass_mark": 60, "questions_per_attempt": 20, "time_limit_min": 30}},
        {"code": f"LX-{year}", "title": "书屋管理员年度轮训", "kind": "refresher", "hours": 6,
         "topics": ["daily_management", "statistics", "receiving", "policy"]},
        {"code": f"ZT-BM-{year}", "title": "图书编目与分类排架专题", "kind": "topic", "hours": 3,
         "topics": ["cataloguing", "classification"],
         "quiz": {"pass_mark": 60, "questions_per_attempt": 10, "time_limit_min": 15}},
        {"code": f"ZT-HD-{year}", "title": "阅读活动组织专题", "kind": "topic", "hours": 3, "topics": ["activities"]},
        {"code": f"ZT-TJ-{year}", "title": "统计报送与登记簿专题", "kind": "topic", "hours": 2,
         "topics": ["statistics", "registers"], "level": "city"},
    ]


async def seed_demo(deps: Deps) -> None:
    from server.seed import _seed_actor

    now = datetime.now(UTC)
    year = now.year
    if await repo.course_by_code(deps.db, f"RZ-{year}") is not None:
        return
    actor = _seed_actor(await deps.db["staff"].find_one({"username": "admin"}))
    if await staff_repo.by_username(deps.db, TRAINER) is None:
        return  # no demo staff to train
    courses = [await service.create_course(deps, actor, CourseCreate.model_validate(c)) for c in _courses(year)]
    induction, refresher, cataloguing, activities, statistics = courses
    admins = await deps.db["staff"].find({"role": "room_admin", "active": True}).sort("username", 1).to_list()

    async def session(course_id: str, days: float, hours: float, place: str, capacity: int) -> dict[str, Any]:
        start = (now + timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
        start = start.replace(hour=1)  # 09:00 Beijing time
        made = await service.create_session(deps, actor, SessionCreate(
            course_id=course_id, starts_at=start, ends_at=start + timedelta(hours=hours), place=place,
            trainer=TRAINER, capacity=capacity))
        doc = await repo.session_doc(deps.db, ObjectId(made.id))
        assert doc is not None
        return doc

    async def move(doc: dict[str, Any], *states: str) -> None:
        for to in states:
            await service.transition(deps, actor, str(doc["_id"]), TransitionIn(to=to))  # type: ignore[arg-type]

    # (course, days from now, hours, place, administrators, how many of them came)
    past = [
        (induction, -75, 8, PLACES[0], admins[0:30], 28),
        (induction, -60, 8, PLACES[1], admins[30:60], 27),
        (refresher, -40, 6, PLACES[0], admins[0:40], 36),
        (cataloguing, -25, 3, PLACES[2], admins[10:30], 18),
        (activities, -12, 3, PLACES[1], admins[40:56], 15),
    ]
    enrolments: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    for course, days, hours, place, people, came in past:
        doc = await session(course.id, days, hours, place, 40)
        enrolments += _places(doc, people, doc["starts_at"] - timedelta(days=10))
        for i, person in enumerate(people[:came]):
            marks.append(_mark(doc, person, "present", "qr", doc["starts_at"] + timedelta(minutes=5 + i % 20)))
        if people[came:]:
            marks.append(_mark(doc, people[came], "absent", "manual", doc["ends_at"], reason="请假未参加"))
    # Today: check-in open, some have scanned.
    today = await session(statistics.id, 0, 2, PLACES[0], 30)
    enrolments += _places(today, admins[60:72], now - timedelta(days=5))
    marks += [_mark(today, p, "present", "qr", now - timedelta(minutes=3 * i)) for i, p in enumerate(admins[60:66])]
    # Next week: full, with a waiting list in order.
    upcoming = await session(refresher.id, 7, 6, PLACES[2], 20)
    enrolments += _places(upcoming, admins[40:64], now - timedelta(days=2))
    for row in enrolments[-4:]:
        row["status"] = "waiting"
    await deps.db[repo.ENROLMENTS].insert_many(enrolments)
    await repo.insert_attendance_many(deps.db, marks)
    past_docs = await repo.find_sessions(deps.db, {"starts_at": {"$lt": now - timedelta(days=1)}}, limit=50)
    for doc in past_docs:
        await move(doc, "checkin_open", "finished")
    await move(today, "checkin_open")
    await session(cataloguing.id, 21, 3, PLACES[1], 30)  # later: nobody yet


def _places(doc: dict[str, Any], people: list[dict[str, Any]], first_at: datetime) -> list[dict[str, Any]]:
    return [{"_id": ObjectId(), "session_id": doc["_id"], "course_id": doc["course_id"], "staff_id": str(p["_id"]),
             "username": p["username"], "name": p["name"], "rooms": p.get("rooms", []), "status": "enrolled",
             "at": first_at + timedelta(minutes=7 * i), "by": p["username"]} for i, p in enumerate(people)]


def _mark(doc: dict[str, Any], person: dict[str, Any], status: str, method: str, at: datetime,
          reason: str | None = None) -> dict[str, Any]:
    return {"_id": ObjectId(), "session_id": doc["_id"], "course_id": doc["course_id"], "staff_id": str(person["_id"]),
            "username": person["username"], "name": person["name"], "status": status, "method": method,
            "at": at.replace(microsecond=at.microsecond // 1000 * 1000) if at else db_now(),
            "by": person["username"] if method == "qr" else TRAINER, "reason": reason}
