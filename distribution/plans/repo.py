"""The plans' collections: ``dist_plans``, ``dist_candidates``, ``dist_picks`` and
``dist_selection_runs`` (read here; written by the selection engine), and the reads of
other packages' collections the plans need (rooms, waiting holds)."""

from __future__ import annotations

import re
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

PLANS = "dist_plans"
CANDIDATES = "dist_candidates"
PICKS = "dist_picks"
RUNS = "dist_selection_runs"
INDEXES = {
    PLANS: [IndexModel([("year", ASCENDING)], unique=True, name="year_unique"),
            IndexModel([("status", ASCENDING), ("year", DESCENDING)], name="status_year")],
    CANDIDATES: [
        IndexModel([("plan_id", ASCENDING), ("title_id", ASCENDING)], unique=True, name="plan_title_unique"),
        IndexModel([("plan_id", ASCENDING), ("category", ASCENDING), ("title_id", ASCENDING)], name="plan_category"),
    ],
    PICKS: [
        IndexModel([("plan_id", ASCENDING), ("room", ASCENDING), ("title_id", ASCENDING), ("kind", ASCENDING)],
                   unique=True, name="plan_room_title_kind_unique"),
        IndexModel([("plan_id", ASCENDING), ("kind", ASCENDING)], name="plan_kind"),
    ],
    RUNS: [IndexModel([("plan_id", ASCENDING), ("run_no", DESCENDING)], unique=True, name="plan_run_no_unique")],
}
Session = AsyncClientSession | None


# -- plans -------------------------------------------------------------------------


async def plan_by_id(db: AsyncDatabase, plan_id: ObjectId, *, session: Session = None) -> dict[str, Any] | None:
    return await db[PLANS].find_one({"_id": plan_id}, session=session)


async def plan_by_year(db: AsyncDatabase, year: int) -> dict[str, Any] | None:
    return await db[PLANS].find_one({"year": year})


async def plans(db: AsyncDatabase) -> list[dict[str, Any]]:
    return await db[PLANS].find({}).sort("year", DESCENDING).to_list()


async def open_plan(db: AsyncDatabase) -> dict[str, Any] | None:
    """The newest plan whose selection is open."""
    return await db[PLANS].find_one({"status": "selection_open"}, sort=[("year", DESCENDING)])


async def insert_plan(db: AsyncDatabase, doc: dict[str, Any], *, session: Session = None) -> None:
    await db[PLANS].insert_one(doc, session=session)


async def set_plan(db: AsyncDatabase, plan_id: ObjectId, changes: dict[str, Any], *,
                   only_status: list[str] | None = None, session: Session = None) -> bool:
    flt: dict[str, Any] = {"_id": plan_id}
    if only_status is not None:
        flt["status"] = {"$in": only_status}
    result = await db[PLANS].update_one(flt, {"$set": changes}, session=session)
    return result.matched_count == 1


async def upsert_history(db: AsyncDatabase, docs: list[dict[str, Any]], *, session: Session = None) -> int:
    """Insert past-year plans that are not there yet (by year); returns how many were new."""
    ops = [UpdateOne({"year": d["year"]}, {"$setOnInsert": d}, upsert=True) for d in docs]
    if not ops:
        return 0
    result = await db[PLANS].bulk_write(ops, ordered=True, session=session)
    return result.upserted_count


# -- candidates --------------------------------------------------------------------


async def candidates_by_title(db: AsyncDatabase, plan_id: ObjectId, title_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not title_ids:
        return {}
    docs = await db[CANDIDATES].find({"plan_id": plan_id, "title_id": {"$in": list(title_ids)}}).to_list()
    return {d["title_id"]: d for d in docs}


async def all_candidates(db: AsyncDatabase, plan_id: ObjectId) -> list[dict[str, Any]]:
    return await db[CANDIDATES].find({"plan_id": plan_id}).sort([("category", ASCENDING), ("title_id", ASCENDING)]) \
        .to_list()


async def candidate_page(db: AsyncDatabase, plan_id: ObjectId, *, category: str | None, on_list: bool | None,
                         q: str | None, after: str | None, limit: int) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"plan_id": plan_id}
    if category:
        flt["category"] = category
    if on_list is not None:
        flt["on_list"] = on_list
    if q:
        flt["$or"] = [{"title": {"$regex": re.escape(q)}}, {"title_id": q}]
    if after is not None:
        flt["title_id"] = {"$gt": after}
    return await db[CANDIDATES].find(flt).sort("title_id", ASCENDING).limit(limit).to_list()


async def category_counts(db: AsyncDatabase, plan_id: ObjectId) -> dict[str, int]:
    rows = await (await db[CANDIDATES].aggregate([{"$match": {"plan_id": plan_id}},
                                           {"$group": {"_id": "$category", "n": {"$sum": 1}}}])).to_list()
    return {r["_id"]: r["n"] for r in rows}


async def candidate_counts_by_plan(db: AsyncDatabase) -> dict[ObjectId, int]:
    rows = await (await db[CANDIDATES].aggregate([{"$group": {"_id": "$plan_id", "n": {"$sum": 1}}}])).to_list()
    return {r["_id"]: r["n"] for r in rows}


async def upsert_candidates(db: AsyncDatabase, docs: list[dict[str, Any]], *, session: Session = None) -> tuple[int, int]:
    """Upsert by (plan_id, title_id); returns (created, updated)."""
    ops = [UpdateOne({"plan_id": d["plan_id"], "title_id": d["title_id"]}, {"$set": d}, upsert=True) for d in docs]
    if not ops:
        return 0, 0
    result = await db[CANDIDATES].bulk_write(ops, ordered=True, session=session)
    return result.upserted_count, result.matched_count


# -- picks -------------------------------------------------------------------------


async def replace_picks(db: AsyncDatabase, plan_id: ObjectId, *, kinds: list[str], room: str | None,
                        docs: list[dict[str, Any]], session: Session = None) -> None:
    """Delete the plan's picks of ``kinds`` (in ``room``, or every room) and insert ``docs``."""
    flt: dict[str, Any] = {"plan_id": plan_id, "kind": {"$in": kinds}}
    if room is not None:
        flt["room"] = room
    await db[PICKS].delete_many(flt, session=session)
    if docs:
        await db[PICKS].insert_many(docs, session=session)


async def room_picks(db: AsyncDatabase, plan_id: ObjectId, room: str) -> list[dict[str, Any]]:
    return await db[PICKS].find({"plan_id": plan_id, "room": room}).sort([("kind", ASCENDING), ("title_id", ASCENDING)]) \
        .to_list()


async def pick_counts(db: AsyncDatabase, plan_id: ObjectId, room: str | None) -> list[dict[str, Any]]:
    """Per (title, kind): rooms and copies (one aggregation)."""
    match: dict[str, Any] = {"plan_id": plan_id}
    if room:
        match["room"] = room
    return await (await db[PICKS].aggregate([
        {"$match": match},
        {"$group": {"_id": {"t": "$title_id", "k": "$kind"}, "rooms": {"$addToSet": "$room"}, "copies": {"$sum": "$copies"}}},
    ])).to_list()


async def picks_per_room(db: AsyncDatabase, plan_id: ObjectId) -> list[dict[str, Any]]:
    """Per (room, kind): titles and copies (one aggregation)."""
    return await (await db[PICKS].aggregate([
        {"$match": {"plan_id": plan_id}},
        {"$group": {"_id": {"r": "$room", "k": "$kind"}, "titles": {"$sum": 1}, "copies": {"$sum": "$copies"}}},
        {"$sort": {"_id.r": 1}},
    ])).to_list()


# -- selection runs (written by distribution.selection's service) -------------------


async def run_by_id(db: AsyncDatabase, run_id: ObjectId) -> dict[str, Any] | None:
    return await db[RUNS].find_one({"_id": run_id})


async def latest_run(db: AsyncDatabase, plan_id: ObjectId) -> dict[str, Any] | None:
    return await db[RUNS].find_one({"plan_id": plan_id}, sort=[("run_no", DESCENDING)])


async def runs_totals(db: AsyncDatabase, run_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    if not run_ids:
        return {}
    docs = await db[RUNS].find({"_id": {"$in": run_ids}}, {"totals": 1, "plan_id": 1}).to_list()
    return {d["_id"]: d for d in docs}


async def latest_runs_totals(db: AsyncDatabase, plan_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    """Per plan: the totals of its newest run (one aggregation)."""
    if not plan_ids:
        return {}
    rows = await (await db[RUNS].aggregate([
        {"$match": {"plan_id": {"$in": plan_ids}}},
        {"$sort": {"run_no": -1}},
        {"$group": {"_id": "$plan_id", "totals": {"$first": "$totals"}}},
    ])).to_list()
    return {r["_id"]: r for r in rows}


# -- other packages' data, read only -------------------------------------------------


async def active_room_codes(db: AsyncDatabase) -> list[str]:
    docs = await db["rooms"].find({"status": "active"}, {"code": 1}).sort("code", ASCENDING).to_list()
    return [d["code"] for d in docs]


async def existing_room_codes(db: AsyncDatabase, codes: list[str]) -> set[str]:
    docs = await db["rooms"].find({"code": {"$in": list(codes)}}, {"code": 1}).to_list()
    return {d["code"] for d in docs}


async def waiting_holds(db: AsyncDatabase, title_ids: list[str], rooms: list[str]) -> list[dict[str, Any]]:
    """Waiting holds per (pickup room, title) for these titles and rooms (one aggregation)."""
    if not title_ids or not rooms:
        return []
    return await (await db["holds"].aggregate([
        {"$match": {"status": "waiting", "title_id": {"$in": title_ids}, "pickup_room": {"$in": rooms}}},
        {"$group": {"_id": {"r": "$pickup_room", "t": "$title_id"}, "n": {"$sum": 1}}},
    ])).to_list()
