"""The ``readers`` collection and the card-number counter.

Phones and ID numbers are stored encrypted (``*_enc``) with HMAC blind indexes
for equality lookup: ``lookup_keys`` holds the reader's own phone key and their
guardian's, so a parent's number finds their children too; ``id_key`` is unique.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

COLLECTION = "readers"
COUNTERS = "counters"
CARD_COUNTER = "reader_card"
INDEXES = {
    COLLECTION: [
        IndexModel([("card_no", ASCENDING)], unique=True),
        IndexModel([("lookup_keys", ASCENDING)]),
        IndexModel([("id_key", ASCENDING)], unique=True, partialFilterExpression={"id_key": {"$type": "string"}}),
        IndexModel([("name", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("home_room", ASCENDING), ("name", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("home_town", ASCENDING), ("name", ASCENDING), ("_id", ASCENDING)]),
        # Blocked readers are few; the phones carry their card numbers for offline loans.
        IndexModel([("blocked.at", ASCENDING)], partialFilterExpression={"blocked": {"$type": "object"}}),
    ]
}


async def next_card_serial(db: AsyncDatabase, session: AsyncClientSession) -> int:
    """The next card serial, in the caller's transaction (so an aborted registration leaves no gap)."""
    doc = await db[COUNTERS].find_one_and_update(
        {"_id": CARD_COUNTER}, {"$inc": {"seq": 1}}, upsert=True, return_document=ReturnDocument.AFTER,
        session=session,
    )
    assert doc is not None  # upsert with ReturnDocument.AFTER always returns the document
    return int(doc["seq"])


async def insert(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession) -> ObjectId:
    result = await db[COLLECTION].insert_one(doc, session=session)
    return result.inserted_id


async def by_id(db: AsyncDatabase, reader_id: ObjectId, *, session: AsyncClientSession | None = None
                ) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one({"_id": reader_id}, session=session)


async def by_ids(db: AsyncDatabase, reader_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    """Several readers in one query (for a page of loans or holds)."""
    if not reader_ids:
        return {}
    docs = await db[COLLECTION].find({"_id": {"$in": list(set(reader_ids))}}).to_list()
    return {d["_id"]: d for d in docs}


async def by_card(db: AsyncDatabase, card_no: str, *, session: AsyncClientSession | None = None
                  ) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one({"card_no": card_no}, session=session)


async def by_lookup_key(db: AsyncDatabase, key: str, *, limit: int) -> list[dict[str, Any]]:
    return await db[COLLECTION].find({"lookup_keys": key}).sort("name", ASCENDING).limit(limit).to_list()


async def by_id_key(db: AsyncDatabase, key: str) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one({"id_key": key}, {"card_no": 1})


def browse_filter(scope: dict[str, Any], *, name: str | None, room: str | None) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [scope] if scope else []
    if room:
        clauses.append({"home_room": room})
    if name:
        # A range on the index, not a $regex: the prefix is served from the (…, name) index. The
        # upper bound bumps the last character, so names with any later character (CJK extension
        # planes included: UTF-8 byte order is code point order) stay inside the range.
        clauses.append({"name": {"$gte": name, "$lt": name[:-1] + chr(ord(name[-1]) + 1)}})
    return {"$and": clauses} if clauses else {}


async def page(db: AsyncDatabase, flt: dict[str, Any], *, after: tuple[str, ObjectId] | None,
               limit: int) -> list[dict[str, Any]]:
    if after is not None:
        name, oid = after
        keyset = {"$or": [{"name": {"$gt": name}}, {"name": name, "_id": {"$gt": oid}}]}
        flt = {"$and": [flt, keyset]} if flt else keyset
    return await db[COLLECTION].find(flt).sort([("name", ASCENDING), ("_id", ASCENDING)]).limit(limit).to_list()


async def update(db: AsyncDatabase, reader_id: ObjectId, changes: dict[str, Any], *,
                 session: AsyncClientSession, unset: list[str] | None = None) -> dict[str, Any] | None:
    op: dict[str, Any] = {"$set": changes}
    if unset:
        op["$unset"] = dict.fromkeys(unset, "")
    return await db[COLLECTION].find_one_and_update(
        {"_id": reader_id}, op, return_document=ReturnDocument.AFTER, session=session)


async def take_loan_slot(db: AsyncDatabase, session: AsyncClientSession, reader_id: ObjectId, kind: str,
                         limit: int) -> bool:
    """Count one more open loan of ``kind`` unless the reader is blocked or at ``limit``.

    One guarded update, so two desks lending to the same reader at once cannot both
    pass the limit (their transactions write the same document and one retries).
    """
    result = await db[COLLECTION].update_one(
        {"_id": reader_id, "blocked": None, f"open_loans.{kind}": {"$lt": limit}},
        {"$inc": {f"open_loans.{kind}": 1}}, session=session,
    )
    return result.modified_count == 1


async def release_loan_slot(db: AsyncDatabase, session: AsyncClientSession, reader_id: ObjectId, kind: str) -> None:
    await db[COLLECTION].update_one({"_id": reader_id}, {"$inc": {f"open_loans.{kind}": -1}}, session=session)


async def blocked_cards(db: AsyncDatabase, *, limit: int) -> list[dict[str, Any]]:
    """Card numbers and block reasons of blocked readers, most recently blocked first
    (the sort walks the partial index of blocked readers only)."""
    return await db[COLLECTION].find({"blocked": {"$type": "object"}}, {"_id": 0, "card_no": 1, "blocked.reason": 1}
                                     ).sort("blocked.at", DESCENDING).limit(limit).to_list()


async def card_numbers(db: AsyncDatabase, reader_ids: list[ObjectId]) -> list[str]:
    """The card numbers of ``reader_ids`` (one query), sorted."""
    if not reader_ids:
        return []
    docs = await db[COLLECTION].find({"_id": {"$in": reader_ids}}, {"_id": 0, "card_no": 1}).to_list()
    return sorted(d["card_no"] for d in docs)
