"""Mongo queries of courses, sessions, enrolments and attendance, and the indexes they need.

Other parts of ``training`` (certificates, requirements, ratings) read these collections
through the functions at the end (``present_by_staff``, ``courses_by_ids`` …): one query
per collection whatever the number of people.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

COURSES = "training_courses"
SESSIONS = "training_sessions"
ENROLMENTS = "training_enrolments"
ATTENDANCE = "training_attendance"

INDEXES = {
    COURSES: [IndexModel([("code", ASCENDING)], unique=True), IndexModel([("active", ASCENDING), ("code", ASCENDING)])],
    SESSIONS: [
        IndexModel([("starts_at", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("course_id", ASCENDING), ("starts_at", ASCENDING)]),
        IndexModel([("trainer", ASCENDING), ("starts_at", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("starts_at", ASCENDING)]),
    ],
    ENROLMENTS: [
        IndexModel([("session_id", ASCENDING), ("staff_id", ASCENDING)], unique=True),
        IndexModel([("session_id", ASCENDING), ("status", ASCENDING), ("at", ASCENDING)]),
        IndexModel([("staff_id", ASCENDING), ("at", DESCENDING)]),
    ],
    ATTENDANCE: [
        IndexModel([("session_id", ASCENDING), ("staff_id", ASCENDING)], unique=True),
        IndexModel([("staff_id", ASCENDING), ("course_id", ASCENDING)]),
        IndexModel([("course_id", ASCENDING), ("status", ASCENDING)]),
    ],
}
S = AsyncClientSession | None

# -- courses --------------------------------------------------------------------------------


async def insert_course(db: AsyncDatabase, doc: dict[str, Any], *, session: S = None) -> None:
    await db[COURSES].insert_one(doc, session=session)


async def course(db: AsyncDatabase, oid: ObjectId, *, session: S = None) -> dict[str, Any] | None:
    return await db[COURSES].find_one({"_id": oid}, session=session)


async def course_by_code(db: AsyncDatabase, code: str) -> dict[str, Any] | None:
    return await db[COURSES].find_one({"code": code})


async def courses(db: AsyncDatabase, flt: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return await db[COURSES].find(flt or {}).sort("code", ASCENDING).to_list()


async def courses_by_ids(db: AsyncDatabase, ids: Iterable[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {d["_id"]: d for d in await db[COURSES].find({"_id": {"$in": wanted}}).to_list()}


async def update_course(db: AsyncDatabase, oid: ObjectId, changes: dict[str, Any], *,
                        session: S = None) -> dict[str, Any] | None:
    return await db[COURSES].find_one_and_update({"_id": oid}, {"$set": changes}, session=session,
                                                 return_document=ReturnDocument.AFTER)


# -- sessions -------------------------------------------------------------------------------


async def insert_session(db: AsyncDatabase, doc: dict[str, Any], *, session: S = None) -> None:
    await db[SESSIONS].insert_one(doc, session=session)


async def session_doc(db: AsyncDatabase, oid: ObjectId, *, session: S = None) -> dict[str, Any] | None:
    return await db[SESSIONS].find_one({"_id": oid}, session=session)


async def sessions_by_ids(db: AsyncDatabase, ids: Iterable[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    wanted = list(set(ids))
    if not wanted:
        return {}
    return {d["_id"]: d for d in await db[SESSIONS].find({"_id": {"$in": wanted}}).to_list()}


async def find_sessions(db: AsyncDatabase, flt: dict[str, Any], *, limit: int,
                        descending: bool = False) -> list[dict[str, Any]]:
    order = DESCENDING if descending else ASCENDING
    return await db[SESSIONS].find(flt).sort([("starts_at", order), ("_id", order)]).limit(limit).to_list()


async def update_session(db: AsyncDatabase, oid: ObjectId, changes: dict[str, Any], *, session: S = None,
                         expect_status: Iterable[str] | None = None) -> dict[str, Any] | None:
    """Set ``changes`` (None if the session is gone or no longer in ``expect_status``)."""
    flt: dict[str, Any] = {"_id": oid}
    if expect_status is not None:
        flt["status"] = {"$in": list(expect_status)}
    return await db[SESSIONS].find_one_and_update(flt, {"$set": changes, "$inc": {"version": 1}}, session=session,
                                                  return_document=ReturnDocument.AFTER)


async def lock_session(db: AsyncDatabase, oid: ObjectId, *, session: AsyncClientSession) -> dict[str, Any] | None:
    """Touch the session inside a transaction, so two enrolments in it cannot both take the
    last place: the second transaction meets a write conflict and is run again."""
    return await db[SESSIONS].find_one_and_update({"_id": oid}, {"$inc": {"version": 1}}, session=session,
                                                  return_document=ReturnDocument.AFTER)


# -- enrolments -----------------------------------------------------------------------------


async def enrolment(db: AsyncDatabase, session_id: ObjectId, staff_id: str, *, session: S = None) -> dict[str, Any] | None:
    return await db[ENROLMENTS].find_one({"session_id": session_id, "staff_id": staff_id}, session=session)


async def count_enrolled(db: AsyncDatabase, session_id: ObjectId, *, session: S = None) -> int:
    return await db[ENROLMENTS].count_documents({"session_id": session_id, "status": "enrolled"}, session=session)


async def waiting_list(db: AsyncDatabase, session_id: ObjectId, *, session: S = None,
                       limit: int = 0) -> list[dict[str, Any]]:
    cursor = db[ENROLMENTS].find({"session_id": session_id, "status": "waiting"}, session=session)
    cursor = cursor.sort([("at", ASCENDING), ("_id", ASCENDING)])
    return await (cursor.limit(limit) if limit else cursor).to_list()


async def waiting_lists(db: AsyncDatabase, session_ids: list[ObjectId]) -> list[dict[str, Any]]:
    """The waiting lists of several sessions at once, each in order."""
    return await db[ENROLMENTS].find(
        {"session_id": {"$in": session_ids}, "status": "waiting"}, {"session_id": 1, "staff_id": 1, "at": 1}
    ).sort([("at", ASCENDING), ("_id", ASCENDING)]).to_list()


async def upsert_enrolment(db: AsyncDatabase, doc: dict[str, Any], *, session: S = None) -> None:
    """Insert, or re-open a cancelled enrolment of the same person (one per session and person)."""
    key = {"session_id": doc["session_id"], "staff_id": doc["staff_id"]}
    await db[ENROLMENTS].update_one(key, {"$set": {k: v for k, v in doc.items() if k != "_id"},
                                          "$setOnInsert": {"_id": doc.get("_id", ObjectId())}},
                                    upsert=True, session=session)


async def set_enrolment_status(db: AsyncDatabase, ids: list[ObjectId], status: str, *, session: S = None,
                               **extra: Any) -> None:
    if ids:
        await db[ENROLMENTS].update_many({"_id": {"$in": ids}}, {"$set": {"status": status, **extra}},
                                         session=session)


async def enrolments_of_session(db: AsyncDatabase, session_id: ObjectId) -> list[dict[str, Any]]:
    return await db[ENROLMENTS].find({"session_id": session_id}).sort([("at", ASCENDING), ("_id", ASCENDING)]).to_list()


async def enrolments_of_staff(db: AsyncDatabase, staff_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
    return await db[ENROLMENTS].find({"staff_id": staff_id}).sort("at", DESCENDING).limit(limit).to_list()


async def enrolment_counts(db: AsyncDatabase, session_ids: list[ObjectId]) -> dict[ObjectId, dict[str, int]]:
    """{session_id: {"enrolled": n, "waiting": n}} in one aggregation."""
    if not session_ids:
        return {}
    rows = await (await db[ENROLMENTS].aggregate([
        {"$match": {"session_id": {"$in": session_ids}, "status": {"$in": ["enrolled", "waiting"]}}},
        {"$group": {"_id": {"s": "$session_id", "st": "$status"}, "n": {"$sum": 1}}},
    ])).to_list()
    out: dict[ObjectId, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row["_id"]["s"], {})[row["_id"]["st"]] = row["n"]
    return out


# -- attendance -----------------------------------------------------------------------------


async def attendance(db: AsyncDatabase, session_id: ObjectId, staff_id: str, *, session: S = None) -> dict[str, Any] | None:
    return await db[ATTENDANCE].find_one({"session_id": session_id, "staff_id": staff_id}, session=session)


async def put_attendance(db: AsyncDatabase, doc: dict[str, Any], *, session: S = None) -> None:
    key = {"session_id": doc["session_id"], "staff_id": doc["staff_id"]}
    await db[ATTENDANCE].update_one(key, {"$set": {k: v for k, v in doc.items() if k != "_id"},
                                          "$setOnInsert": {"_id": ObjectId()}}, upsert=True, session=session)


async def insert_attendance_many(db: AsyncDatabase, docs: list[dict[str, Any]], *, session: S = None) -> None:
    if docs:
        await db[ATTENDANCE].insert_many(docs, session=session)


async def attendance_of_session(db: AsyncDatabase, session_id: ObjectId) -> list[dict[str, Any]]:
    return await db[ATTENDANCE].find({"session_id": session_id}).to_list()


async def attendance_of_staff(db: AsyncDatabase, staff_id: str, *, limit: int = 200) -> list[dict[str, Any]]:
    return await db[ATTENDANCE].find({"staff_id": staff_id}).sort("at", DESCENDING).limit(limit).to_list()


async def count_present(db: AsyncDatabase, session_id: ObjectId) -> int:
    return await db[ATTENDANCE].count_documents({"session_id": session_id, "status": "present"})


async def present_counts(db: AsyncDatabase, session_ids: list[ObjectId]) -> dict[ObjectId, int]:
    if not session_ids:
        return {}
    rows = await (await db[ATTENDANCE].aggregate([
        {"$match": {"session_id": {"$in": session_ids}, "status": "present"}},
        {"$group": {"_id": "$session_id", "n": {"$sum": 1}}},
    ])).to_list()
    return {r["_id"]: r["n"] for r in rows}


async def present_by_staff(db: AsyncDatabase, staff_ids: list[str],
                           course_ids: list[ObjectId] | None = None) -> list[dict[str, Any]]:
    """Every ``present`` attendance of these people (optionally only at these courses), for
    deciding who completed a course. Finished sessions only are meaningful: join with
    ``sessions_by_ids`` and check ``status == "finished"``."""
    flt: dict[str, Any] = {"staff_id": {"$in": staff_ids}, "status": "present"}
    if course_ids is not None:
        flt["course_id"] = {"$in": course_ids}
    return await db[ATTENDANCE].find(flt).to_list()


async def open_sessions_for(db: AsyncDatabase, staff_id: str, now: datetime) -> list[dict[str, Any]]:
    """Enrolled (not waiting) places of ``staff_id`` in sessions whose check-in is open."""
    enrolled = await db[ENROLMENTS].find({"staff_id": staff_id, "status": "enrolled"}, {"session_id": 1}).to_list()
    ids = [e["session_id"] for e in enrolled]
    if not ids:
        return []
    return await db[SESSIONS].find({"_id": {"$in": ids}, "status": "checkin_open"}).to_list()
