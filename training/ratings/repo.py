"""The ratings' collections: ``rating_rounds``, ``rating_entries``, ``rating_objections`` (owned
here) and the reads of ``rating_scores`` (written by training/ratings/inspections) and of the
rooms, staff and readers an entry names."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

ROUNDS = "rating_rounds"
ENTRIES = "rating_entries"
OBJECTIONS = "rating_objections"
SCORES = "rating_scores"
INDEXES = {
    ROUNDS: [IndexModel([("year", ASCENDING), ("kind", ASCENDING), ("level", ASCENDING)], unique=True,
                        name="year_kind_level_unique"),
             IndexModel([("status", ASCENDING), ("year", DESCENDING)], name="status_year")],
    ENTRIES: [IndexModel([("round_id", ASCENDING), ("subject_key", ASCENDING)], unique=True,
                         name="round_subject_unique"),
              IndexModel([("round_id", ASCENDING), ("status", ASCENDING), ("rank", ASCENDING)], name="round_status"),
              IndexModel([("subject.room", ASCENDING), ("round_id", ASCENDING)], name="subject_room")],
    OBJECTIONS: [IndexModel([("round_id", ASCENDING), ("status", ASCENDING), ("at", ASCENDING)],
                            name="round_status_at"),
                 IndexModel([("entry_id", ASCENDING), ("at", ASCENDING)], name="entry_at")],
}
Session = AsyncClientSession | None


# -- rounds ----------------------------------------------------------------------------


async def round_by_id(db: AsyncDatabase, round_id: ObjectId, *, session: Session = None) -> dict[str, Any] | None:
    return await db[ROUNDS].find_one({"_id": round_id}, session=session)


async def round_by_key(db: AsyncDatabase, year: int, kind: str, level: str) -> dict[str, Any] | None:
    return await db[ROUNDS].find_one({"year": year, "kind": kind, "level": level})


async def rounds(db: AsyncDatabase, flt: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return await db[ROUNDS].find(flt or {}).sort([("year", DESCENDING), ("kind", ASCENDING),
                                                  ("level", ASCENDING)]).to_list()


async def insert_round(db: AsyncDatabase, doc: dict[str, Any], *, session: Session = None) -> None:
    await db[ROUNDS].insert_one(doc, session=session)


async def set_round(db: AsyncDatabase, round_id: ObjectId, changes: dict[str, Any], *, status: str | None = None,
                    session: Session = None) -> bool:
    """Apply ``changes`` if the round is unlocked (and in ``status`` when given); False otherwise."""
    flt: dict[str, Any] = {"_id": round_id, "locked": {"$ne": True}}
    if status is not None:
        flt["status"] = status
    result = await db[ROUNDS].update_one(flt, {"$set": changes}, session=session)
    return result.matched_count == 1


async def transition_round(db: AsyncDatabase, round_id: ObjectId, current: str, changes: dict[str, Any], *,
                           session: Session = None) -> bool:
    """Move the round on from ``current`` (compare-and-set); False if it moved meanwhile."""
    result = await db[ROUNDS].update_one({"_id": round_id, "status": current}, {"$set": changes}, session=session)
    return result.matched_count == 1


async def entry_counts(db: AsyncDatabase, round_ids: list[ObjectId]) -> dict[ObjectId, dict[str, int]]:
    """Entries per round and status (one aggregation)."""
    rows = await (await db[ENTRIES].aggregate([
        {"$match": {"round_id": {"$in": round_ids}}},
        {"$group": {"_id": {"r": "$round_id", "s": "$status"}, "n": {"$sum": 1}}},
    ])).to_list()
    out: dict[ObjectId, dict[str, int]] = {}
    for row in rows:
        out.setdefault(row["_id"]["r"], {})[row["_id"]["s"]] = row["n"]
    return out


async def upsert_rounds(db: AsyncDatabase, docs: list[dict[str, Any]], *, session: Session = None) -> int:
    """Insert rounds by ``_id`` that are not there yet; returns how many were new."""
    if not docs:
        return 0
    result = await db[ROUNDS].bulk_write([UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True)
                                          for d in docs], ordered=True, session=session)
    return result.upserted_count


# -- entries ---------------------------------------------------------------------------


async def entry_by_id(db: AsyncDatabase, entry_id: ObjectId, *, session: Session = None) -> dict[str, Any] | None:
    return await db[ENTRIES].find_one({"_id": entry_id}, session=session)


async def entry_by_subject(db: AsyncDatabase, round_id: ObjectId, subject_key: str, *,
                           session: Session = None) -> dict[str, Any] | None:
    return await db[ENTRIES].find_one({"round_id": round_id, "subject_key": subject_key}, session=session)


async def entries(db: AsyncDatabase, round_id: ObjectId, *, statuses: list[str] | None = None,
                  session: Session = None) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"round_id": round_id}
    if statuses is not None:
        flt["status"] = {"$in": statuses}
    return await db[ENTRIES].find(flt, session=session).sort([("rank", ASCENDING), ("created_at", ASCENDING),
                                                              ("_id", ASCENDING)]).to_list()


async def insert_entry(db: AsyncDatabase, doc: dict[str, Any], *, session: Session = None) -> None:
    await db[ENTRIES].insert_one(doc, session=session)


async def set_entry(db: AsyncDatabase, entry_id: ObjectId, changes: dict[str, Any], *,
                    statuses: list[str] | None = None, session: Session = None) -> bool:
    flt: dict[str, Any] = {"_id": entry_id}
    if statuses is not None:
        flt["status"] = {"$in": statuses}
    result = await db[ENTRIES].update_one(flt, {"$set": changes}, session=session)
    return result.matched_count == 1


async def set_entries(db: AsyncDatabase, changes: dict[ObjectId, dict[str, Any]], *, session: Session = None) -> None:
    """One bulk write: per entry id, the fields to set."""
    if changes:
        await db[ENTRIES].bulk_write([UpdateOne({"_id": k}, {"$set": v}) for k, v in changes.items()],
                                     ordered=False, session=session)


async def upsert_entries(db: AsyncDatabase, docs: list[dict[str, Any]], *, session: Session = None) -> int:
    if not docs:
        return 0
    result = await db[ENTRIES].bulk_write([UpdateOne({"_id": d["_id"]}, {"$setOnInsert": d}, upsert=True)
                                           for d in docs], ordered=True, session=session)
    return result.upserted_count


# -- inspectors' scores (read only) ------------------------------------------------------


async def submitted_score_means(db: AsyncDatabase, round_id: ObjectId, *,
                                session: Session = None) -> dict[str, dict[str, float]]:
    """Per entry id (str), per criterion key: the mean of the SUBMITTED inspectors' scores
    (one aggregation; drafts do not count)."""
    rows = await (await db[SCORES].aggregate([
        {"$match": {"round_id": round_id, "status": "submitted"}},
        {"$project": {"entry_id": 1, "c": {"$objectToArray": {"$ifNull": ["$criteria", {}]}}}},
        {"$unwind": "$c"},
        {"$match": {"c.v": {"$type": "number"}}},
        {"$group": {"_id": {"e": "$entry_id", "k": "$c.k"}, "mean": {"$avg": "$c.v"}}},
    ], session=session)).to_list()
    out: dict[str, dict[str, float]] = {}
    for row in rows:
        out.setdefault(str(row["_id"]["e"]), {})[row["_id"]["k"]] = float(row["mean"])
    return out


async def scores_for_entry(db: AsyncDatabase, entry_id: ObjectId) -> list[dict[str, Any]]:
    return await db[SCORES].find({"entry_id": {"$in": [entry_id, str(entry_id)]}}).sort("created_at", ASCENDING
                                                                                         ).to_list()


# -- objections ------------------------------------------------------------------------


async def insert_objection(db: AsyncDatabase, doc: dict[str, Any], *, session: Session = None) -> None:
    await db[OBJECTIONS].insert_one(doc, session=session)


async def objection_by_id(db: AsyncDatabase, objection_id: ObjectId, *,
                          session: Session = None) -> dict[str, Any] | None:
    return await db[OBJECTIONS].find_one({"_id": objection_id}, session=session)


async def objections(db: AsyncDatabase, flt: dict[str, Any], *, session: Session = None) -> list[dict[str, Any]]:
    return await db[OBJECTIONS].find(flt, session=session).sort("at", ASCENDING).to_list()


async def set_objection(db: AsyncDatabase, objection_id: ObjectId, changes: dict[str, Any], *,
                        session: Session = None) -> bool:
    result = await db[OBJECTIONS].update_one({"_id": objection_id, "status": "open"}, {"$set": changes},
                                             session=session)
    return result.matched_count == 1


# -- what entries name -----------------------------------------------------------------


async def room(db: AsyncDatabase, code: str, *, session: Session = None) -> dict[str, Any] | None:
    return await db["rooms"].find_one({"code": code}, session=session)


async def staff(db: AsyncDatabase, staff_id: ObjectId) -> dict[str, Any] | None:
    return await db["staff"].find_one({"_id": staff_id}, {"username": 1, "name": 1, "role": 1, "rooms": 1, "towns": 1, "active": 1})


async def reader_by_card(db: AsyncDatabase, card_no: str) -> dict[str, Any] | None:
    return await db["readers"].find_one({"card_no": card_no}, {"name": 1, "home_room": 1, "home_town": 1,
                                                               "card_no": 1})


async def rooms_by_code(db: AsyncDatabase, codes: list[str]) -> dict[str, dict[str, Any]]:
    docs = await db["rooms"].find({"code": {"$in": codes}}, {"code": 1, "name": 1, "town": 1, "village": 1}
                                  ).to_list()
    return {d["code"]: d for d in docs}
