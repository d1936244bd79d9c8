"""The ``suggestions`` collection (荐购) and the catalog look-up that deduplicates them.

A suggestion document::

    {_id, title, author, isbn, publisher,
     t, a,                      # normalised title, normalised author (role words dropped)
     match_keys,                # ["t:<t>", "isbn:<isbn13>"]: how a second suggestion finds it
     status, open, reason, merged_into, title_id,
     supporters: [{member_id, account_id, room, at, note}], supporter_count,
     history: [{from_status, to, at, by, reason}], created_at, updated_at}
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.catalog.repo import COLLECTION as TITLES

SUGGESTIONS = "suggestions"
INDEXES = {
    SUGGESTIONS: [
        # Deduplication: the open suggestions for the same ISBN or title.
        IndexModel([("match_keys", ASCENDING), ("open", ASCENDING)]),
        # "My suggestions", newest first (multikey over the supporters).
        IndexModel([("supporters.member_id", ASCENDING), ("_id", DESCENDING)]),
        # The district office's queue, by status, newest first.
        IndexModel([("status", ASCENDING), ("_id", DESCENDING)]),
        # Replenishment: accepted suggestions by the supporters' rooms.
        IndexModel([("supporters.room", ASCENDING), ("status", ASCENDING)]),
    ],
}
CATALOG_CANDIDATES = 50


async def catalog_titles_named(db: AsyncDatabase, search_key: str, norm_title: str) -> list[dict[str, Any]]:
    """Catalog titles whose normalised title is ``norm_title`` (``search_key`` is one of its
    search keys, so the ``search_keys`` index serves the query)."""
    return await db[TITLES].find({"search_keys": search_key, "search.t": norm_title},
                                 {"_id": 1, "title": 1, "author": 1}).limit(CATALOG_CANDIDATES).to_list()


async def catalog_title(db: AsyncDatabase, title_id: str) -> dict[str, Any] | None:
    return await db[TITLES].find_one({"_id": title_id}, {"_id": 1, "title": 1, "author": 1})


async def open_matches(db: AsyncDatabase, keys: list[str], *, session: AsyncClientSession | None = None
                       ) -> list[dict[str, Any]]:
    return await db[SUGGESTIONS].find({"match_keys": {"$in": keys}, "open": True}, session=session).to_list()


async def count_open_for_member(db: AsyncDatabase, member_id: ObjectId, *,
                                session: AsyncClientSession | None = None) -> int:
    return await db[SUGGESTIONS].count_documents({"supporters.member_id": member_id, "open": True}, session=session)


async def insert(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession) -> ObjectId:
    return (await db[SUGGESTIONS].insert_one(doc, session=session)).inserted_id


async def add_supporters(db: AsyncDatabase, suggestion_id: ObjectId, supporters: list[dict[str, Any]],
                         now: datetime, *, session: AsyncClientSession) -> dict[str, Any] | None:
    """Append supporters to an open suggestion (none of them already there); None if it
    closed meanwhile or one of them is already a supporter."""
    ids = [s["member_id"] for s in supporters]
    return await db[SUGGESTIONS].find_one_and_update(
        {"_id": suggestion_id, "open": True, "supporters.member_id": {"$nin": ids}},
        {"$push": {"supporters": {"$each": supporters}}, "$inc": {"supporter_count": len(supporters)},
         "$set": {"updated_at": now}},
        return_document=ReturnDocument.AFTER, session=session)


async def by_id(db: AsyncDatabase, suggestion_id: ObjectId, *, session: AsyncClientSession | None = None
                ) -> dict[str, Any] | None:
    return await db[SUGGESTIONS].find_one({"_id": suggestion_id}, session=session)


async def apply_transition(db: AsyncDatabase, suggestion_id: ObjectId, from_status: str, changes: dict[str, Any],
                           entry: dict[str, Any], *, session: AsyncClientSession) -> dict[str, Any] | None:
    """Move a suggestion on if it is still in ``from_status``; None if someone moved it first."""
    return await db[SUGGESTIONS].find_one_and_update(
        {"_id": suggestion_id, "status": from_status},
        {"$set": changes, "$push": {"history": entry}},
        return_document=ReturnDocument.AFTER, session=session)


async def page_for_members(db: AsyncDatabase, member_ids: list[ObjectId], *, before: ObjectId | None, limit: int
                           ) -> list[dict[str, Any]]:
    if not member_ids:
        return []
    flt: dict[str, Any] = {"supporters.member_id": {"$in": member_ids}}
    if before is not None:
        flt["_id"] = {"$lt": before}
    return await db[SUGGESTIONS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def staff_page(db: AsyncDatabase, *, status: str | None, before: ObjectId | None, limit: int
                     ) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {}
    if status:
        flt["status"] = status
    if before is not None:
        flt["_id"] = {"$lt": before}
    return await db[SUGGESTIONS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def accepted_for_room(db: AsyncDatabase, room: str) -> list[dict[str, Any]]:
    return await db[SUGGESTIONS].find({"supporters.room": room, "status": "accepted"}).to_list()


async def of_members(db: AsyncDatabase, member_ids: list[ObjectId]) -> list[dict[str, Any]]:
    """Every suggestion any of these members made or supports (exports and erasure)."""
    if not member_ids:
        return []
    return await db[SUGGESTIONS].find({"supporters.member_id": {"$in": member_ids}}).sort("_id", ASCENDING).to_list()


async def drop_supporters(db: AsyncDatabase, *, delete: list[ObjectId], remaining: dict[ObjectId, int],
                          member_ids: list[ObjectId], now: datetime) -> None:
    """One bulk write: delete the suggestions in ``delete``; from the others pull these
    members and set the supporter count to ``remaining[id]``."""
    ops: list[Any] = [UpdateOne({"_id": sid}, {"$pull": {"supporters": {"member_id": {"$in": member_ids}}},
                                               "$set": {"supporter_count": count, "updated_at": now}})
                      for sid, count in remaining.items()]
    if ops:
        await db[SUGGESTIONS].bulk_write(ops, ordered=False)
    if delete:
        await db[SUGGESTIONS].delete_many({"_id": {"$in": delete}})
