"""The ``staff`` collection."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

COLLECTION = "staff"
INDEXES = {
    COLLECTION: [
        IndexModel([("username", ASCENDING)], unique=True),
        IndexModel([("rooms", ASCENDING)]),
        IndexModel([("role", ASCENDING), ("username", ASCENDING)]),
    ]
}


async def by_id(db: AsyncDatabase, staff_id: ObjectId) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one({"_id": staff_id})


async def by_username(db: AsyncDatabase, username: str) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one({"username": username.lower()})


async def insert(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession | None = None) -> ObjectId:
    result = await db[COLLECTION].insert_one(doc, session=session)
    return result.inserted_id


async def insert_many(db: AsyncDatabase, docs: list[dict[str, Any]]) -> None:
    if docs:
        await db[COLLECTION].insert_many(docs, ordered=False)


async def existing_usernames(db: AsyncDatabase, usernames: list[str]) -> set[str]:
    docs = await db[COLLECTION].find({"username": {"$in": usernames}}, {"username": 1}).to_list()
    return {d["username"] for d in docs}


async def update(
    db: AsyncDatabase, staff_id: ObjectId, changes: dict[str, Any], *, session: AsyncClientSession | None = None
) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one_and_update(
        {"_id": staff_id}, {"$set": changes}, return_document=ReturnDocument.AFTER, session=session
    )


async def page(db: AsyncDatabase, flt: dict[str, Any], *, after: str | None, limit: int) -> list[dict[str, Any]]:
    if after is not None:
        flt = {**flt, "username": {"$gt": after}}
    return await db[COLLECTION].find(flt).sort("username", ASCENDING).limit(limit).to_list()


async def administrators_of(db: AsyncDatabase, room_codes: list[str]) -> list[dict[str, Any]]:
    """Active room administrators of any of ``room_codes`` (one query for a whole page)."""
    return await db[COLLECTION].find(
        {"rooms": {"$in": room_codes}, "role": "room_admin", "active": True}
    ).sort("username", ASCENDING).to_list()


async def count(db: AsyncDatabase) -> int:
    return await db[COLLECTION].estimated_document_count()
