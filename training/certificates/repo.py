"""Certificates and their per-year number counters in MongoDB.

``completion_key`` ("<course_id>:<staff_id>") exists on system certificates and is unique:
one certificate per course and person, whatever runs concurrently. ``history_key`` (name,
course, date) makes a history import idempotent.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

CERTIFICATES = "training_certificates"
COUNTERS = "training_counters"
_STRING = {"$type": "string"}
INDEXES = {
    CERTIFICATES: [
        IndexModel([("number", ASCENDING)], unique=True),
        IndexModel([("verify_token", ASCENDING)], unique=True),
        IndexModel([("completion_key", ASCENDING)], unique=True, partialFilterExpression={"completion_key": _STRING}),
        IndexModel([("history_key", ASCENDING)], unique=True, partialFilterExpression={"history_key": _STRING}),
        IndexModel([("staff_id", ASCENDING), ("issued_on", ASCENDING)]),
        IndexModel([("course_id", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("issued_on", ASCENDING), ("_id", DESCENDING)]),
    ],
    COUNTERS: [],
}
S = AsyncClientSession | None


async def next_numbers(db: AsyncDatabase, year: int, count: int, *, session: AsyncClientSession) -> int:
    """Reserve ``count`` numbers of ``year``; returns the first. In the caller's transaction, so
    two concurrent issues conflict on the counter and one retries: no number twice."""
    doc = await db[COUNTERS].find_one_and_update(
        {"_id": f"certificates:{year}"}, {"$inc": {"seq": count}}, upsert=True,
        return_document=ReturnDocument.AFTER, session=session)
    assert doc is not None
    return int(doc["seq"]) - count + 1


async def insert_many(db: AsyncDatabase, docs: list[dict[str, Any]], *, session: AsyncClientSession) -> None:
    if docs:
        await db[CERTIFICATES].insert_many(docs, session=session)


async def by_number(db: AsyncDatabase, number: str) -> dict[str, Any] | None:
    return await db[CERTIFICATES].find_one({"number": number})


async def by_token(db: AsyncDatabase, token: str) -> dict[str, Any] | None:
    return await db[CERTIFICATES].find_one({"verify_token": token})


async def existing_completion_keys(db: AsyncDatabase, keys: list[str]) -> set[str]:
    docs = await db[CERTIFICATES].find({"completion_key": {"$in": keys}}, {"completion_key": 1}).to_list()
    return {d["completion_key"] for d in docs}


async def existing_history_keys(db: AsyncDatabase, keys: list[str]) -> set[str]:
    docs = await db[CERTIFICATES].find({"history_key": {"$in": keys}}, {"history_key": 1}).to_list()
    return {d["history_key"] for d in docs}


async def existing_numbers(db: AsyncDatabase, numbers: list[str]) -> set[str]:
    docs = await db[CERTIFICATES].find({"number": {"$in": numbers}}, {"number": 1}).to_list()
    return {d["number"] for d in docs}


async def page(db: AsyncDatabase, flt: dict[str, Any], *, limit: int) -> list[dict[str, Any]]:
    return await db[CERTIFICATES].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def of_staff(db: AsyncDatabase, staff_ids: list[str]) -> list[dict[str, Any]]:
    """Valid (not revoked) certificates of ``staff_ids``, oldest first."""
    return await db[CERTIFICATES].find({"staff_id": {"$in": staff_ids}, "revoked": False}).sort(
        "issued_on", ASCENDING).to_list()


async def count(db: AsyncDatabase, flt: dict[str, Any]) -> int:
    return await db[CERTIFICATES].count_documents(flt)


async def revoke(db: AsyncDatabase, number: str, reason: str, by: str, at: Any, *,
                 session: AsyncClientSession) -> dict[str, Any] | None:
    return await db[CERTIFICATES].find_one_and_update(
        {"number": number, "revoked": False},
        {"$set": {"revoked": True, "revoked_reason": reason, "revoked_by": by, "revoked_at": at}},
        return_document=ReturnDocument.AFTER, session=session)
