"""``dist_shipments`` (one per plan and room, lines and boxes embedded) and
``dist_receiving_photos`` (pictures of short, damaged or wrong items). Reads of the
plans engineers' ``dist_plans`` / ``dist_selection_runs`` are here too, by _id only."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

SHIPMENTS = "dist_shipments"
PHOTOS = "dist_receiving_photos"
PLANS = "dist_plans"
RUNS = "dist_selection_runs"
INDEXES = {
    SHIPMENTS: [
        # One shipment per room per plan: what makes creation idempotent.
        IndexModel([("plan_id", ASCENDING), ("room", ASCENDING)], unique=True),
        IndexModel([("room", ASCENDING), ("status", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("status", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("supplier", ASCENDING), ("plan_id", ASCENDING)]),
        IndexModel([("boxes.code", ASCENDING)]),
    ],
    PHOTOS: [IndexModel([("shipment_id", ASCENDING), ("at", ASCENDING)])],
}


async def plan(db: AsyncDatabase, plan_id: ObjectId) -> dict[str, Any] | None:
    return await db[PLANS].find_one({"_id": plan_id})


async def run(db: AsyncDatabase, run_id: Any) -> dict[str, Any] | None:
    return await db[RUNS].find_one({"_id": run_id})


async def rooms_of_plan(db: AsyncDatabase, plan_id: ObjectId, *, session: AsyncClientSession | None = None) -> set[str]:
    docs = await db[SHIPMENTS].find({"plan_id": plan_id}, {"room": 1}, session=session).to_list()
    return {d["room"] for d in docs}


async def insert_many(db: AsyncDatabase, session: AsyncClientSession, docs: list[dict[str, Any]]) -> None:
    if docs:
        await db[SHIPMENTS].insert_many(docs, ordered=True, session=session)


async def by_id(db: AsyncDatabase, shipment_id: ObjectId, *,
                session: AsyncClientSession | None = None) -> dict[str, Any] | None:
    return await db[SHIPMENTS].find_one({"_id": shipment_id}, session=session)


async def of_plan(db: AsyncDatabase, plan_id: ObjectId) -> list[dict[str, Any]]:
    return await db[SHIPMENTS].find({"plan_id": plan_id}).sort("room", ASCENDING).to_list()


async def find(db: AsyncDatabase, flt: dict[str, Any], *, before: ObjectId | None, limit: int,
               projection: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    if before is not None:
        flt = {**flt, "_id": {"$lt": before}}
    return await db[SHIPMENTS].find(flt, projection).sort("_id", DESCENDING).limit(limit).to_list()


async def guarded_update(db: AsyncDatabase, session: AsyncClientSession, shipment_id: ObjectId,
                         guard: dict[str, Any], update: dict[str, Any]) -> bool:
    """Apply ``update`` only if the shipment still matches ``guard``; False if it no longer does."""
    result = await db[SHIPMENTS].update_one({"_id": shipment_id, **guard}, update, session=session)
    return result.matched_count == 1


async def rooms(db: AsyncDatabase, codes: list[str]) -> dict[str, dict[str, Any]]:
    docs = await db["rooms"].find({"code": {"$in": codes}},
                                  {"code": 1, "name": 1, "town": 1, "village": 1, "address": 1, "phone": 1}).to_list()
    return {d["code"]: d for d in docs}


async def room_codes_in_scope(db: AsyncDatabase, scope: dict[str, Any]) -> list[str]:
    docs = await db["rooms"].find(scope, {"code": 1}).to_list()
    return [d["code"] for d in docs]


async def titles(db: AsyncDatabase, title_ids: list[str]) -> dict[str, dict[str, Any]]:
    docs = await db["titles"].find({"_id": {"$in": title_ids}},
                                   {"title": 1, "author": 1, "publisher": 1, "price": 1, "category": 1}).to_list()
    return {d["_id"]: d for d in docs}


async def insert_photo(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession) -> None:
    await db[PHOTOS].insert_one(doc, session=session)


async def photos_exist(db: AsyncDatabase, shipment_id: ObjectId, photo_ids: list[ObjectId]) -> set[ObjectId]:
    docs = await db[PHOTOS].find({"_id": {"$in": photo_ids}, "shipment_id": shipment_id}, {"_id": 1}).to_list()
    return {d["_id"] for d in docs}


async def photo(db: AsyncDatabase, photo_id: ObjectId) -> dict[str, Any] | None:
    return await db[PHOTOS].find_one({"_id": photo_id})


async def for_reconciliation(db: AsyncDatabase, flt: dict[str, Any]) -> list[dict[str, Any]]:
    """Shipments with only what the reconciliation adds up (no boxes, no history)."""
    projection = {"room": 1, "room_name": 1, "supplier": 1, "status": 1, "wrong_items.copies": 1, "settlement": 1,
                  "lines.price_fen": 1, "lines.ordered": 1, "lines.received": 1, "lines.short": 1,
                  "lines.damaged": 1, "lines.claimed": 1}
    return await db[SHIPMENTS].find(flt, projection).sort([("supplier", ASCENDING), ("room", ASCENDING)]).to_list()
