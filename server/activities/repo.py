"""``room_activities`` (the activity register) and ``room_openings`` (one "今日开馆" check-in
per room per local day, ``_id`` = ``"<room>:<day>"`` so a second tap inserts nothing)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

ACTIVITIES = "room_activities"
OPENINGS = "room_openings"
INDEXES = {
    ACTIVITIES: [
        IndexModel([("room", ASCENDING), ("held_on", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("town", ASCENDING), ("held_on", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("held_on", DESCENDING), ("_id", DESCENDING)]),
    ],
    OPENINGS: [IndexModel([("room", ASCENDING), ("day", ASCENDING)])],
}
Session = AsyncClientSession | None


def opening_id(room: str, day: str) -> str:
    return f"{room}:{day}"


async def insert_activity(db: AsyncDatabase, doc: dict[str, Any], *, session: Session = None) -> None:
    await db[ACTIVITIES].insert_one(doc, session=session)


async def activity_by_id(db: AsyncDatabase, activity_id: ObjectId, *, session: Session = None
                         ) -> dict[str, Any] | None:
    return await db[ACTIVITIES].find_one({"_id": activity_id}, session=session)


async def update_activity(db: AsyncDatabase, activity_id: ObjectId, changes: dict[str, Any], *,
                          session: Session = None) -> dict[str, Any] | None:
    return await db[ACTIVITIES].find_one_and_update({"_id": activity_id}, {"$set": changes},
                                                    return_document=ReturnDocument.AFTER, session=session)


def activity_filter(*, rooms: list[str] | None = None, towns: list[str] | None = None, day_from: str | None = None,
                    day_to: str | None = None) -> dict[str, Any]:
    flt: dict[str, Any] = {}
    if rooms is not None:
        flt["room"] = {"$in": rooms}
    if towns is not None:
        flt["town"] = {"$in": towns}
    days: dict[str, str] = {}
    if day_from:
        days["$gte"] = day_from
    if day_to:
        days["$lte"] = day_to
    if days:
        flt["held_on"] = days
    return flt


async def activities_page(db: AsyncDatabase, flt: dict[str, Any], *, after: tuple[str, ObjectId] | None,
                          limit: int) -> list[dict[str, Any]]:
    """Newest held first (then newest recorded); ``after`` is the last (held_on, _id) seen."""
    if after is not None:
        day, oid = after
        flt = {"$and": [flt, {"$or": [{"held_on": {"$lt": day}}, {"held_on": day, "_id": {"$lt": oid}}]}]}
    return await db[ACTIVITIES].find(flt).sort([("held_on", DESCENDING), ("_id", DESCENDING)]).limit(limit).to_list()


async def activity_totals(db: AsyncDatabase, flt: dict[str, Any]) -> tuple[int, int]:
    """(count, attendance) of every activity matching ``flt``."""
    cursor = await db[ACTIVITIES].aggregate([
        {"$match": flt}, {"$group": {"_id": None, "n": {"$sum": 1}, "people": {"$sum": "$attendance"}}}])
    rows = await cursor.to_list()
    return (int(rows[0]["n"]), int(rows[0]["people"])) if rows else (0, 0)


async def activities_in(db: AsyncDatabase, rooms: list[str], day_from: str, day_to: str) -> list[dict[str, Any]]:
    """Every activity of ``rooms`` held in [day_from, day_to], oldest first (metrics, evidence)."""
    return await db[ACTIVITIES].find(activity_filter(rooms=rooms, day_from=day_from, day_to=day_to)
                                     ).sort([("held_on", ASCENDING), ("_id", ASCENDING)]).to_list()


async def insert_opening(db: AsyncDatabase, doc: dict[str, Any], *, session: Session = None) -> bool:
    """Record the day's opening unless it is there already; True if this call recorded it."""
    result = await db[OPENINGS].update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True, session=session)
    return result.upserted_id is not None


async def opening(db: AsyncDatabase, room: str, day: str, *, session: Session = None) -> dict[str, Any] | None:
    return await db[OPENINGS].find_one({"_id": opening_id(room, day)}, session=session)


async def openings_in(db: AsyncDatabase, rooms: list[str], day_from: str, day_to: str) -> list[dict[str, Any]]:
    return await db[OPENINGS].find({"room": {"$in": rooms}, "day": {"$gte": day_from, "$lte": day_to}},
                                   {"room": 1, "day": 1}).to_list()


async def insert_demo(db: AsyncDatabase, activities: list[dict[str, Any]], openings: list[dict[str, Any]]) -> None:
    """Bulk-load demo records (server/activities/demo.py); existing ids are left alone."""
    from pymongo.errors import BulkWriteError

    for collection, docs in ((ACTIVITIES, activities), (OPENINGS, openings)):
        if docs:
            try:
                await db[collection].insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise
