"""The ``rooms`` collection. Rooms are never deleted: deactivation keeps their history."""

from __future__ import annotations

import re
from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

COLLECTION = "rooms"
INDEXES = {
    COLLECTION: [
        IndexModel([("code", ASCENDING)], unique=True),
        IndexModel([("town", ASCENDING), ("code", ASCENDING)]),
        IndexModel([("kind", ASCENDING), ("code", ASCENDING)]),
        IndexModel([("status", ASCENDING), ("code", ASCENDING)]),
    ]
}


def list_filter(
    *, scope: dict[str, Any], town: str | None, kind: str | None, status: str | None, q: str | None
) -> dict[str, Any]:
    clauses: list[dict[str, Any]] = [scope] if scope else []
    if town:
        clauses.append({"town": town})
    if kind:
        clauses.append({"kind": kind})
    if status:
        clauses.append({"status": status})
    if q:
        pattern = re.escape(q)
        clauses.append({"$or": [{"name": {"$regex": pattern}}, {"village": {"$regex": pattern}}, {"code": {"$regex": pattern, "$options": "i"}}]})
    return {"$and": clauses} if clauses else {}


async def page(db: AsyncDatabase, flt: dict[str, Any], *, after: str | None, limit: int) -> list[dict[str, Any]]:
    if after is not None:
        flt = {"$and": [flt, {"code": {"$gt": after}}]} if flt else {"code": {"$gt": after}}
    return await db[COLLECTION].find(flt).sort("code", ASCENDING).limit(limit).to_list()


async def count(db: AsyncDatabase, flt: dict[str, Any]) -> int:
    return await db[COLLECTION].count_documents(flt)


async def by_code(db: AsyncDatabase, code: str) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one({"code": code})


async def existing_codes(db: AsyncDatabase, codes: list[str]) -> set[str]:
    docs = await db[COLLECTION].find({"code": {"$in": list(codes)}}, {"code": 1}).to_list()
    return {d["code"] for d in docs}


async def insert(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession | None = None) -> None:
    await db[COLLECTION].insert_one(doc, session=session)


async def insert_many(db: AsyncDatabase, docs: list[dict[str, Any]]) -> None:
    if docs:
        await db[COLLECTION].insert_many(docs, ordered=False)


async def update(
    db: AsyncDatabase, code: str, changes: dict[str, Any], *, session: AsyncClientSession | None = None,
    unset: list[str] | None = None,
) -> dict[str, Any] | None:
    op: dict[str, Any] = {"$set": changes}
    if unset:
        op["$unset"] = dict.fromkeys(unset, "")
    return await db[COLLECTION].find_one_and_update(
        {"code": code}, op, return_document=ReturnDocument.AFTER, session=session
    )


async def count_all(db: AsyncDatabase) -> int:
    return await db[COLLECTION].estimated_document_count()
