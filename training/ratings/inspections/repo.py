"""Mongo queries of inspectors' scores (``rating_scores``) and their photos
(``rating_photos``), plus the reads of rounds, entries, rooms and staff they need.

``rating_rounds`` and ``rating_entries`` belong to the ratings core (``training.ratings``);
this module only reads them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from training.ratings.inspections.models import MAX_PHOTOS, OUT_OF_RUNNING, REVIEW_STATUS

SCORES = "rating_scores"
PHOTOS = "rating_photos"
ROUNDS = "rating_rounds"
ENTRIES = "rating_entries"

INDEXES = {
    SCORES: [
        IndexModel([("entry_id", ASCENDING), ("inspector", ASCENDING)], unique=True),
        IndexModel([("round_id", ASCENDING), ("inspector", ASCENDING)]),
        IndexModel([("photos", ASCENDING)]),
    ],
    PHOTOS: [IndexModel([("entry_id", ASCENDING)])],
}

_NO_DATA = {"data": 0}  # photo bytes are read only when a photo is served


# -- rounds and entries (read only) ---------------------------------------------------------


async def rounds_in_review(db: AsyncDatabase) -> list[dict[str, Any]]:
    return await db[ROUNDS].find({"status": REVIEW_STATUS, "locked": {"$ne": True}}).sort([("year", -1), ("kind", 1)]).to_list(None)


async def round_by_id(db: AsyncDatabase, round_id: ObjectId, *,
                      session: AsyncClientSession | None = None) -> dict[str, Any] | None:
    return await db[ROUNDS].find_one({"_id": round_id}, session=session)


async def entry_by_id(db: AsyncDatabase, entry_id: ObjectId, *,
                      session: AsyncClientSession | None = None) -> dict[str, Any] | None:
    return await db[ENTRIES].find_one({"_id": entry_id}, session=session)


async def entries_in_running(db: AsyncDatabase, round_ids: list[ObjectId]) -> list[dict[str, Any]]:
    if not round_ids:
        return []
    flt = {"round_id": {"$in": round_ids}, "status": {"$nin": sorted(OUT_OF_RUNNING)}}
    return await db[ENTRIES].find(flt, {"statement": 0}).sort([("town", 1), ("subject.name", 1)]).to_list(None)


async def rooms_by_codes(db: AsyncDatabase, codes: Iterable[str | None]) -> dict[str, dict[str, Any]]:
    wanted = sorted({c for c in codes if c})
    if not wanted:
        return {}
    docs = await db["rooms"].find({"code": {"$in": wanted}},
                                  {"code": 1, "name": 1, "town": 1, "village": 1, "address": 1}).to_list(None)
    return {d["code"]: d for d in docs}


async def active_inspectors(db: AsyncDatabase) -> list[dict[str, Any]]:
    return await db["staff"].find({"role": "inspector", "active": True},
                                  {"username": 1, "name": 1, "towns": 1}).sort("username", 1).to_list(None)


# -- scores ------------------------------------------------------------------------------


async def scores_of_entries(db: AsyncDatabase, entry_ids: list[ObjectId]) -> list[dict[str, Any]]:
    if not entry_ids:
        return []
    return await db[SCORES].find({"entry_id": {"$in": entry_ids}}).sort("created_at", 1).to_list(None)


async def score_of(db: AsyncDatabase, entry_id: ObjectId, inspector: str, *,
                   session: AsyncClientSession | None = None) -> dict[str, Any] | None:
    return await db[SCORES].find_one({"entry_id": entry_id, "inspector": inspector}, session=session)


async def save_draft(db: AsyncDatabase, entry: dict[str, Any], inspector: str, inspector_name: str,
                     changes: dict[str, Any], now: datetime, *, session: AsyncClientSession) -> dict[str, Any] | None:
    """Create or update the inspector's draft of ``entry``; None if it is submitted already."""
    return await db[SCORES].find_one_and_update(
        {"entry_id": entry["_id"], "inspector": inspector, "status": {"$ne": "submitted"}},
        {"$set": {**changes, "updated_at": now},
         "$setOnInsert": {"round_id": entry["round_id"], "inspector_name": inspector_name, "status": "draft",
                          "created_at": now, "submitted_at": None,
                          **({} if "photos" in changes else {"photos": []}),
                          **{k: v for k, v in (("criteria", {}), ("comment", ""), ("visited_on", None))
                             if k not in changes}}},
        upsert=True, return_document=ReturnDocument.AFTER, session=session,
    )


async def mark_submitted(db: AsyncDatabase, score_id: ObjectId, now: datetime, *,
                         session: AsyncClientSession) -> dict[str, Any] | None:
    return await db[SCORES].find_one_and_update(
        {"_id": score_id, "status": "draft"}, {"$set": {"status": "submitted", "submitted_at": now, "updated_at": now}},
        return_document=ReturnDocument.AFTER, session=session)


async def add_photo(db: AsyncDatabase, score_id: ObjectId, photo_id: str, now: datetime, *,
                    session: AsyncClientSession) -> dict[str, Any] | None:
    """Add a photo to a draft with fewer than MAX_PHOTOS photos (None if it is not one)."""
    return await db[SCORES].find_one_and_update(
        {"_id": score_id, "status": "draft", f"photos.{MAX_PHOTOS - 1}": {"$exists": False}},
        {"$addToSet": {"photos": photo_id}, "$set": {"updated_at": now}},
        return_document=ReturnDocument.AFTER, session=session)


async def remove_photo(db: AsyncDatabase, score_id: ObjectId, photo_id: str, now: datetime, *,
                       session: AsyncClientSession) -> dict[str, Any] | None:
    return await db[SCORES].find_one_and_update(
        {"_id": score_id, "status": "draft", "photos": photo_id},
        {"$pull": {"photos": photo_id}, "$set": {"updated_at": now}},
        return_document=ReturnDocument.AFTER, session=session)


async def scores_with_photo(db: AsyncDatabase, photo_id: str, *,
                            session: AsyncClientSession | None = None) -> list[dict[str, Any]]:
    return await db[SCORES].find({"photos": photo_id}, session=session).to_list(None)


# -- photos ------------------------------------------------------------------------------


async def insert_photo(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession) -> None:
    """Keep a photo under its SHA-256; the very same picture sent twice is kept once."""
    await db[PHOTOS].update_one({"_id": doc["_id"]}, {"$setOnInsert": doc}, upsert=True, session=session)


async def photo_by_id(db: AsyncDatabase, photo_id: str, *, with_data: bool = False) -> dict[str, Any] | None:
    return await db[PHOTOS].find_one({"_id": photo_id}, None if with_data else _NO_DATA)


async def delete_photo(db: AsyncDatabase, photo_id: str, *, session: AsyncClientSession) -> None:
    await db[PHOTOS].delete_one({"_id": photo_id}, session=session)
