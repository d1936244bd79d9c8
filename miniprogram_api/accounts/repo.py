"""The ``mp_accounts`` (one per WeChat openid) and ``members`` (the people an account
acts for) collections."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

ACCOUNTS = "mp_accounts"
MEMBERS = "members"
INDEXES = {
    ACCOUNTS: [IndexModel([("openid", ASCENDING)], unique=True)],
    MEMBERS: [
        IndexModel([("account_id", ASCENDING), ("created_at", ASCENDING)]),
        IndexModel([("reader_id", ASCENDING)], partialFilterExpression={"reader_id": {"$type": "objectId"}}),
        IndexModel([("status", ASCENDING), ("erase_after", ASCENDING)]),
    ],
}


async def upsert_account(db: AsyncDatabase, openid: str, unionid: str | None, now: datetime
                         ) -> tuple[dict[str, Any], bool]:
    """The account of ``openid``, created on first log-in; returns (account, created)."""
    changes: dict[str, Any] = {"last_login_at": now}
    if unionid:
        changes["unionid"] = unionid
    doc = await db[ACCOUNTS].find_one_and_update(
        {"openid": openid},
        {"$set": changes, "$setOnInsert": {"created_at": now, "status": "active"}},
        upsert=True, return_document=ReturnDocument.AFTER,
    )
    assert doc is not None
    return doc, doc["created_at"] == now


async def account_by_id(db: AsyncDatabase, account_id: ObjectId) -> dict[str, Any] | None:
    return await db[ACCOUNTS].find_one({"_id": account_id})


async def delete_account(db: AsyncDatabase, account_id: ObjectId, *, session: AsyncClientSession) -> None:
    await db[ACCOUNTS].delete_one({"_id": account_id}, session=session)


async def members_of(db: AsyncDatabase, account_id: ObjectId, *, session: AsyncClientSession | None = None
                     ) -> list[dict[str, Any]]:
    return await db[MEMBERS].find({"account_id": account_id}, session=session).sort("created_at", ASCENDING
                                                                                    ).to_list()


async def member_by_id(db: AsyncDatabase, member_id: ObjectId, *, session: AsyncClientSession | None = None
                       ) -> dict[str, Any] | None:
    return await db[MEMBERS].find_one({"_id": member_id}, session=session)


async def members_by_ids(db: AsyncDatabase, member_ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    if not member_ids:
        return {}
    docs = await db[MEMBERS].find({"_id": {"$in": list(set(member_ids))}}).to_list()
    return {d["_id"]: d for d in docs}


async def member_of_reader(db: AsyncDatabase, reader_id: ObjectId) -> dict[str, Any] | None:
    return await db[MEMBERS].find_one({"reader_id": reader_id})


async def insert_member(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession) -> ObjectId:
    result = await db[MEMBERS].insert_one(doc, session=session)
    return result.inserted_id


async def update_member(db: AsyncDatabase, member_id: ObjectId, changes: dict[str, Any], *,
                        session: AsyncClientSession | None = None) -> dict[str, Any] | None:
    return await db[MEMBERS].find_one_and_update({"_id": member_id}, {"$set": changes},
                                                 return_document=ReturnDocument.AFTER, session=session)


async def delete_members(db: AsyncDatabase, member_ids: list[ObjectId], *, session: AsyncClientSession) -> int:
    result = await db[MEMBERS].delete_many({"_id": {"$in": member_ids}}, session=session)
    return result.deleted_count


async def due_for_erasure(db: AsyncDatabase, now: datetime, *, limit: int) -> list[dict[str, Any]]:
    """Withdrawn members whose retention period is over."""
    return await db[MEMBERS].find({"status": "withdrawn", "erase_after": {"$lte": now}}).limit(limit).to_list()
