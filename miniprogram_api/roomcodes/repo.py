"""``room_qrcodes`` (one stored code image per room), ``room_visits`` (check-ins per room
per local day) and ``room_visit_marks`` (who checked in where that day, so a second scan
counts nothing; kept only a few days), plus the read of recent receipts the landing page
shows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import Binary, ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.catalog.repo import COLLECTION as TITLES
from server.stock.ledger import MoveKind
from server.stock.repo import MOVES

QRCODES = "room_qrcodes"
VISITS = "room_visits"
MARKS = "room_visit_marks"
INDEXES = {
    QRCODES: [IndexModel([("env_version", ASCENDING)])],
    VISITS: [IndexModel([("room", ASCENDING), ("day", ASCENDING)])],
    MARKS: [IndexModel([("account_id", ASCENDING)]), IndexModel([("day", ASCENDING)])],
}


# -- codes ----------------------------------------------------------------------------------


async def qrcode(db: AsyncDatabase, room: str) -> dict[str, Any] | None:
    return await db[QRCODES].find_one({"_id": room})


async def current_codes(db: AsyncDatabase, rooms: list[str], env_version: str) -> set[str]:
    """Which of ``rooms`` have a stored code for ``env_version``."""
    if not rooms:
        return set()
    docs = await db[QRCODES].find({"_id": {"$in": rooms}, "env_version": env_version}, {"_id": 1}).to_list()
    return {d["_id"] for d in docs}


async def save_qrcode(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession | None = None) -> None:
    stored = {**doc, "png": Binary(doc["png"])}
    await db[QRCODES].replace_one({"_id": doc["_id"]}, stored, upsert=True, session=session)


# -- what a room received lately --------------------------------------------------------------


async def recent_receipts(db: AsyncDatabase, room: str, *, limit: int) -> list[dict[str, Any]]:
    """The room's latest ``receive`` moves, newest first (the ledger's (room, at) index)."""
    return await db[MOVES].find({"room": room, "kind": str(MoveKind.RECEIVE)}, {"title_id": 1, "at": 1}
                                ).sort("at", DESCENDING).limit(limit).to_list()


async def titles_brief(db: AsyncDatabase, title_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Title and author of several catalog entries (one query)."""
    if not title_ids:
        return {}
    docs = await db[TITLES].find({"_id": {"$in": title_ids}}, {"title": 1, "author": 1}).to_list()
    return {d["_id"]: d for d in docs}


# -- check-ins ------------------------------------------------------------------------------


def visit_day_id(room: str, day: str) -> str:
    return f"{room}:{day}"


async def count_visit(db: AsyncDatabase, session: AsyncClientSession, *, room: str, day: str, account_id: ObjectId,
                      member_id: ObjectId | None, now: datetime) -> tuple[bool, int]:
    """Count ``account_id``'s check-in at ``room`` on local ``day`` unless it already
    checked in there that day. Returns (counted, the day's visits)."""
    mark = await db[MARKS].update_one(
        {"_id": f"{room}:{day}:{account_id}"},
        {"$setOnInsert": {"room": room, "day": day, "account_id": account_id, "member_id": member_id, "at": now}},
        upsert=True, session=session)
    if mark.upserted_id is None:
        doc = await db[VISITS].find_one({"_id": visit_day_id(room, day)}, session=session)
        return False, int(doc["visits"]) if doc else 0
    doc = await db[VISITS].find_one_and_update(
        {"_id": visit_day_id(room, day)},
        {"$inc": {"visits": 1}, "$set": {"updated_at": now}, "$setOnInsert": {"room": room, "day": day}},
        upsert=True, return_document=ReturnDocument.AFTER, session=session)
    assert doc is not None
    return True, int(doc["visits"])


async def visits_on(db: AsyncDatabase, room: str, day: str) -> int:
    doc = await db[VISITS].find_one({"_id": visit_day_id(room, day)}, {"visits": 1})
    return int(doc["visits"]) if doc else 0


def _marks_filter(account_id: ObjectId, member_ids: list[ObjectId], *, whole_account: bool) -> dict[str, Any]:
    if whole_account:
        return {"account_id": account_id}
    return {"account_id": account_id, "member_id": {"$in": member_ids}}


async def visits_of(db: AsyncDatabase, account_id: ObjectId, member_ids: list[ObjectId], *, whole_account: bool
                    ) -> list[dict[str, Any]]:
    """The check-in marks of an account (or of some of its members), for "export my data"."""
    flt = _marks_filter(account_id, member_ids, whole_account=whole_account)
    return await db[MARKS].find(flt).sort("at", ASCENDING).to_list()


async def delete_visits_of(db: AsyncDatabase, account_id: ObjectId, member_ids: list[ObjectId], *,
                           whole_account: bool) -> int:
    flt = _marks_filter(account_id, member_ids, whole_account=whole_account)
    return (await db[MARKS].delete_many(flt)).deleted_count


async def purge_marks_before(db: AsyncDatabase, day: str) -> int:
    """Forget who checked in where before local ``day`` (the day counters stay)."""
    return (await db[MARKS].delete_many({"day": {"$lt": day}})).deleted_count
