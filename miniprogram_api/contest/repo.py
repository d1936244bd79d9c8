"""The contest's collections: ``contests`` (one per edition), ``contest_entries`` (works),
``contest_scores`` (one per judge and entry) and ``contest_files`` (pictures by SHA-256)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import Binary, ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

CONTESTS = "contests"
ENTRIES = "contest_entries"
SCORES = "contest_scores"
FILES = "contest_files"

INDEXES = {
    CONTESTS: [
        IndexModel([("year", ASCENDING), ("title", ASCENDING)], unique=True),
        IndexModel([("status", ASCENDING), ("_id", DESCENDING)]),
    ],
    ENTRIES: [
        # One entry per member per category per edition.
        IndexModel([("contest_id", ASCENDING), ("member_id", ASCENDING), ("category", ASCENDING)], unique=True),
        IndexModel([("contest_id", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("contest_id", ASCENDING), ("status", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("account_id", ASCENDING), ("contest_id", ASCENDING)]),
        IndexModel([("member_id", ASCENDING)]),
        IndexModel([("image.sha256", ASCENDING)], sparse=True),
    ],
    SCORES: [
        IndexModel([("entry_id", ASCENDING), ("judge_id", ASCENDING)], unique=True),
        IndexModel([("contest_id", ASCENDING), ("entry_id", ASCENDING)]),
    ],
    FILES: [],  # looked up by _id (the SHA-256) only
}

Session = AsyncClientSession | None


# -- contests ----------------------------------------------------------------------------


async def insert_contest(db: AsyncDatabase, doc: dict[str, Any], *, session: Session = None) -> ObjectId:
    return (await db[CONTESTS].insert_one(doc, session=session)).inserted_id


async def contest_by_id(db: AsyncDatabase, contest_id: ObjectId, *, session: Session = None) -> dict[str, Any] | None:
    return await db[CONTESTS].find_one({"_id": contest_id}, session=session)


async def contests_page(db: AsyncDatabase, flt: dict[str, Any], *, before: ObjectId | None, limit: int
                        ) -> list[dict[str, Any]]:
    """Newest first; ``limit + 1`` is the caller's to ask for."""
    if before is not None:
        flt = {**flt, "_id": {"$lt": before}}
    return await db[CONTESTS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def update_contest(db: AsyncDatabase, contest_id: ObjectId, changes: dict[str, Any], *,
                         status_in: list[str] | None = None, session: Session = None) -> dict[str, Any] | None:
    """Apply ``changes`` if the contest exists (and is in one of ``status_in``); None otherwise."""
    flt: dict[str, Any] = {"_id": contest_id}
    if status_in is not None:
        flt["status"] = {"$in": status_in}
    return await db[CONTESTS].find_one_and_update(flt, {"$set": changes}, return_document=ReturnDocument.AFTER,
                                                  session=session)


# -- entries ------------------------------------------------------------------------------


async def insert_entry(db: AsyncDatabase, doc: dict[str, Any], *, session: Session) -> ObjectId:
    return (await db[ENTRIES].insert_one(doc, session=session)).inserted_id


async def entry_by_id(db: AsyncDatabase, entry_id: ObjectId, *, session: Session = None) -> dict[str, Any] | None:
    return await db[ENTRIES].find_one({"_id": entry_id}, session=session)


async def entry_of_member(db: AsyncDatabase, contest_id: ObjectId, member_id: ObjectId, category: str, *,
                          session: Session = None) -> dict[str, Any] | None:
    return await db[ENTRIES].find_one({"contest_id": contest_id, "member_id": member_id, "category": category},
                                      session=session)


async def entries_page(db: AsyncDatabase, contest_id: ObjectId, flt: dict[str, Any], *, after: ObjectId | None,
                       limit: int) -> list[dict[str, Any]]:
    """Oldest first (the review queue is worked in the order entries came)."""
    query: dict[str, Any] = {**flt, "contest_id": contest_id}
    if after is not None:
        query["_id"] = {"$gt": after}
    return await db[ENTRIES].find(query).sort("_id", ASCENDING).limit(limit).to_list()


async def entries_of_account(db: AsyncDatabase, contest_id: ObjectId, account_id: ObjectId,
                             member_id: ObjectId | None = None) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"account_id": account_id, "contest_id": contest_id}
    if member_id is not None:
        flt["member_id"] = member_id
    return await db[ENTRIES].find(flt).sort("_id", ASCENDING).to_list()


async def entries_of_contest(db: AsyncDatabase, contest_id: ObjectId, *, statuses: list[str],
                             session: Session = None) -> list[dict[str, Any]]:
    return await db[ENTRIES].find({"contest_id": contest_id, "status": {"$in": statuses}}, session=session
                                  ).sort("_id", ASCENDING).to_list()


async def count_entries(db: AsyncDatabase, contest_id: ObjectId, *, status: str, session: Session = None) -> int:
    return await db[ENTRIES].count_documents({"contest_id": contest_id, "status": status}, session=session)


async def update_entry(db: AsyncDatabase, entry_id: ObjectId, changes: dict[str, Any], *,
                       status_in: list[str] | None = None, session: Session = None) -> dict[str, Any] | None:
    flt: dict[str, Any] = {"_id": entry_id}
    if status_in is not None:
        flt["status"] = {"$in": status_in}
    return await db[ENTRIES].find_one_and_update(flt, {"$set": changes}, return_document=ReturnDocument.AFTER,
                                                 session=session)


async def set_placings(db: AsyncDatabase, changes: dict[ObjectId, dict[str, Any]], *, session: Session) -> None:
    """Write each entry's result in one command."""
    if changes:
        await db[ENTRIES].bulk_write([UpdateOne({"_id": eid}, {"$set": c}) for eid, c in changes.items()],
                                     ordered=False, session=session)


async def delete_entry(db: AsyncDatabase, entry_id: ObjectId, *, session: Session) -> int:
    return (await db[ENTRIES].delete_one({"_id": entry_id}, session=session)).deleted_count


async def entries_of_members(db: AsyncDatabase, member_ids: list[ObjectId]) -> list[dict[str, Any]]:
    if not member_ids:
        return []
    return await db[ENTRIES].find({"member_id": {"$in": member_ids}}).sort("_id", ASCENDING).to_list()


async def delete_entries(db: AsyncDatabase, entry_ids: list[ObjectId], *, session: Session) -> int:
    if not entry_ids:
        return 0
    return (await db[ENTRIES].delete_many({"_id": {"$in": entry_ids}}, session=session)).deleted_count


async def contests_by_ids(db: AsyncDatabase, contest_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    if not contest_ids:
        return {}
    docs = await db[CONTESTS].find({"_id": {"$in": list(set(contest_ids))}}).to_list()
    return {d["_id"]: d for d in docs}


# -- scores -------------------------------------------------------------------------------


async def upsert_score(db: AsyncDatabase, *, contest_id: ObjectId, entry_id: ObjectId, judge_id: str, judge: str,
                       score: int, comment: str | None, now: datetime, session: Session) -> dict[str, Any]:
    doc = await db[SCORES].find_one_and_update(
        {"entry_id": entry_id, "judge_id": judge_id},
        {"$set": {"score": score, "comment": comment, "judge": judge, "updated_at": now},
         "$setOnInsert": {"contest_id": contest_id, "scored_at": now}},
        upsert=True, return_document=ReturnDocument.AFTER, session=session,
    )
    assert doc is not None
    return doc


async def scores_of_entries(db: AsyncDatabase, entry_ids: list[ObjectId], *, session: Session = None
                            ) -> list[dict[str, Any]]:
    if not entry_ids:
        return []
    return await db[SCORES].find({"entry_id": {"$in": entry_ids}}, session=session).sort("scored_at", ASCENDING
                                                                                       ).to_list()


async def scores_of_contest(db: AsyncDatabase, contest_id: ObjectId, *, session: Session = None
                            ) -> list[dict[str, Any]]:
    return await db[SCORES].find({"contest_id": contest_id}, session=session).to_list()


async def delete_scores(db: AsyncDatabase, entry_ids: list[ObjectId], *, session: Session) -> int:
    if not entry_ids:
        return 0
    return (await db[SCORES].delete_many({"entry_id": {"$in": entry_ids}}, session=session)).deleted_count


# -- files --------------------------------------------------------------------------------


async def put_file(db: AsyncDatabase, *, sha256: str, data: bytes, content_type: str, width: int, height: int,
                   now: datetime, session: Session) -> None:
    """Store the bytes once under their hash (the same picture twice is one file)."""
    await db[FILES].update_one(
        {"_id": sha256},
        {"$setOnInsert": {"data": Binary(data), "content_type": content_type, "width": width, "height": height,
                          "size": len(data), "created_at": now}},
        upsert=True, session=session,
    )


async def file_by_sha(db: AsyncDatabase, sha256: str) -> dict[str, Any] | None:
    return await db[FILES].find_one({"_id": sha256})


async def delete_unreferenced_files(db: AsyncDatabase, shas: list[str], *, session: Session) -> int:
    """Delete those of ``shas`` no entry shows any more (call after the entries changed)."""
    if not shas:
        return 0
    used = {d["image"]["sha256"] for d in await db[ENTRIES].find(
        {"image.sha256": {"$in": shas}}, {"image.sha256": 1}, session=session).to_list()}
    orphans = [s for s in set(shas) if s not in used]
    if not orphans:
        return 0
    return (await db[FILES].delete_many({"_id": {"$in": orphans}}, session=session)).deleted_count
