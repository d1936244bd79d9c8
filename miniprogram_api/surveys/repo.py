"""``room_surveys``: one answer per (room, year, account). An erased account's answers keep
their scores for the room's statistics but lose the account and the comment."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

SURVEYS = "room_surveys"
INDEXES = {
    SURVEYS: [
        IndexModel([("room", ASCENDING), ("year", ASCENDING), ("account_id", ASCENDING)], unique=True,
                   partialFilterExpression={"account_id": {"$type": "objectId"}}),
        IndexModel([("account_id", ASCENDING)], partialFilterExpression={"account_id": {"$type": "objectId"}}),
        IndexModel([("room", ASCENDING), ("answered_on", DESCENDING)]),
    ]
}
Session = AsyncClientSession | None


async def answer_of(db: AsyncDatabase, room: str, year: int, account_id: ObjectId, *, session: Session = None
                    ) -> dict[str, Any] | None:
    return await db[SURVEYS].find_one({"room": room, "year": year, "account_id": account_id}, session=session)


async def save_answer(db: AsyncDatabase, doc: dict[str, Any], *, session: Session = None) -> dict[str, Any]:
    """Insert or replace the (room, year, account) answer; returns the stored document."""
    key = {"room": doc["room"], "year": doc["year"], "account_id": doc["account_id"]}
    fields = {k: v for k, v in doc.items() if k not in key and k != "created_at"}
    stored = await db[SURVEYS].find_one_and_update(
        key, {"$set": fields, "$setOnInsert": {"created_at": doc["created_at"]}, "$inc": {"revisions": 1}},
        upsert=True, return_document=ReturnDocument.AFTER, session=session)
    assert stored is not None
    return stored


async def answers_in(db: AsyncDatabase, rooms: list[str], day_from: str, day_to: str) -> list[dict[str, Any]]:
    """Every answer to ``rooms`` given on local days [day_from, day_to] (scores only)."""
    return await db[SURVEYS].find({"room": {"$in": rooms}, "answered_on": {"$gte": day_from, "$lte": day_to}},
                                  {"room": 1, "answers": 1, "answered_on": 1}).to_list()


async def answers_of_year(db: AsyncDatabase, room: str, year: int) -> list[dict[str, Any]]:
    return await db[SURVEYS].find({"room": room, "year": year}, {"account_id": 0}
                                  ).sort("answered_on", DESCENDING).to_list()


async def answers_of_account(db: AsyncDatabase, account_id: ObjectId) -> list[dict[str, Any]]:
    return await db[SURVEYS].find({"account_id": account_id}).sort("answered_on", ASCENDING).to_list()


async def anonymise_account(db: AsyncDatabase, account_id: ObjectId) -> int:
    result = await db[SURVEYS].update_many({"account_id": account_id},
                                           {"$set": {"account_id": None, "comment": "", "op_id": None}})
    return result.modified_count


async def insert_demo(db: AsyncDatabase, docs: list[dict[str, Any]]) -> None:
    """Bulk-load demo answers (server/activities/demo.py)."""
    if docs:
        await db[SURVEYS].insert_many(docs)
