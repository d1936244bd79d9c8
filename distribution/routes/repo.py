"""``dist_routes`` (one document per route plan; a re-plan adds a new one and marks the old
one superseded), plus the reads a plan needs: rooms and their administrators, and the
shipments engineer's ``dist_shipments`` (read only)."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

COLLECTION = "dist_routes"
SHIPMENTS = "dist_shipments"
ROOMS = "rooms"
STAFF = "staff"
# Shipments that still have to go out: routed from a plan by default.
ROUTABLE_STATUSES = ("ordered", "packed")

INDEXES = {
    COLLECTION: [
        IndexModel([("date", DESCENDING), ("_id", DESCENDING)]),
        IndexModel([("plan_id", ASCENDING), ("date", DESCENDING)]),
    ],
}


async def insert(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession | None = None) -> None:
    await db[COLLECTION].insert_one(doc, session=session)


async def by_id(db: AsyncDatabase, route_id: ObjectId, *,
                session: AsyncClientSession | None = None) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one({"_id": route_id}, session=session)


async def mark_superseded(db: AsyncDatabase, route_id: ObjectId, by: ObjectId, *,
                          session: AsyncClientSession) -> bool:
    """Point the old plan at its successor; False if another re-plan got there first."""
    res = await db[COLLECTION].update_one({"_id": route_id, "superseded_by": None},
                                          {"$set": {"superseded_by": by}}, session=session)
    return res.modified_count == 1


async def listing(db: AsyncDatabase, *, day: str | None, limit: int) -> list[dict[str, Any]]:
    flt = {"date": day} if day else {}
    projection = {"date": 1, "plan_id": 1, "trucks": 1, "routes.stops.room": 1, "unserved.room": 1,
                  "distance_m": 1, "feasible": 1, "superseded_by": 1, "created_at": 1, "created_by": 1}
    return await db[COLLECTION].find(flt, projection).sort([("date", DESCENDING), ("_id", DESCENDING)]) \
        .limit(limit).to_list()


async def rooms_by_code(db: AsyncDatabase, codes: list[str]) -> dict[str, dict[str, Any]]:
    docs = await db[ROOMS].find({"code": {"$in": codes}}).to_list()
    return {d["code"]: d for d in docs}


async def administrators_of(db: AsyncDatabase, codes: list[str]) -> list[dict[str, Any]]:
    return await db[STAFF].find({"rooms": {"$in": codes}, "role": "room_admin", "active": True},
                                {"name": 1, "rooms": 1}).sort("username", ASCENDING).to_list()


async def shipments(db: AsyncDatabase, *, ids: list[ObjectId] | None, plan_id: ObjectId | None) -> list[dict[str, Any]]:
    """Shipments by id, or the plan's shipments still to be delivered (ordered or packed)."""
    flt: dict[str, Any] = {"_id": {"$in": ids}} if ids is not None else {
        "plan_id": plan_id, "status": {"$in": list(ROUTABLE_STATUSES)}}
    return await db[SHIPMENTS].find(flt, {"room": 1, "plan_id": 1, "status": 1, "boxes.code": 1}) \
        .sort("room", ASCENDING).to_list()
