"""What the mini-program's books part reads from circulation and stock, and the writes that
forget a reader's history. The collections belong to ``server.circulation`` (loans,
holds), ``server.stock`` (holdings) and ``server.rooms``; their indexes are declared
there (``reader_id``/``returned_at`` on loans, ``reader_id``/``_id`` on holds,
``title_id``/``on_shelf`` on holdings, ``code`` on rooms), so this module adds none.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import idempotency
from server.circulation.repo import ACTIVE, CLOSED, HOLDS, LOANS
from server.rooms.repo import COLLECTION as ROOMS
from server.stock.repo import HOLDINGS

INDEXES: dict[str, list[Any]] = {}
_ROOM_FIELDS = {"_id": 0, "code": 1, "name": 1, "town": 1, "location": 1, "status": 1}


async def shelves_of(db: AsyncDatabase, title_ids: list[str]) -> list[dict[str, Any]]:
    """Every (room, title) holding with a copy on the shelf, for a page of titles: one query."""
    if not title_ids:
        return []
    return await db[HOLDINGS].find({"title_id": {"$in": list(dict.fromkeys(title_ids))}, "on_shelf": {"$gt": 0}},
                                   {"_id": 0, "room": 1, "title_id": 1, "on_shelf": 1}).to_list()


async def rooms_by_codes(db: AsyncDatabase, codes: list[str]) -> dict[str, dict[str, Any]]:
    if not codes:
        return {}
    docs = await db[ROOMS].find({"code": {"$in": list(dict.fromkeys(codes))}}, _ROOM_FIELDS).to_list()
    return {d["code"]: d for d in docs}


async def room(db: AsyncDatabase, code: str) -> dict[str, Any] | None:
    return await db[ROOMS].find_one({"code": code}, _ROOM_FIELDS)


# -- holds and loans of a family ----------------------------------------------------------------


async def holds_page(db: AsyncDatabase, reader_ids: list[ObjectId], *, status: str, before: ObjectId | None,
                     limit: int) -> list[dict[str, Any]]:
    """Holds of these readers, newest first."""
    if not reader_ids:
        return []
    flt: dict[str, Any] = {"reader_id": {"$in": reader_ids}}
    if status == "active":
        flt["status"] = {"$in": ACTIVE}
    elif status == "closed":
        flt["status"] = {"$in": CLOSED}
    if before is not None:
        flt["_id"] = {"$lt": before}
    return await db[HOLDS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def hold_by_id(db: AsyncDatabase, hold_id: ObjectId) -> dict[str, Any] | None:
    return await db[HOLDS].find_one({"_id": hold_id})


async def active_holds_of(db: AsyncDatabase, reader_ids: list[ObjectId], *,
                          session: AsyncClientSession | None = None) -> list[dict[str, Any]]:
    if not reader_ids:
        return []
    return await db[HOLDS].find({"reader_id": {"$in": reader_ids}, "status": {"$in": ACTIVE}},
                                session=session).to_list()


async def open_loans(db: AsyncDatabase, reader_id: ObjectId) -> list[dict[str, Any]]:
    """A reader's open loans, soonest due first."""
    return await db[LOANS].find({"reader_id": reader_id, "returned_at": None}).sort(
        [("due_at", ASCENDING), ("_id", ASCENDING)]).to_list()


async def returned_loans_page(db: AsyncDatabase, reader_id: ObjectId, *, before: ObjectId | None, limit: int
                              ) -> list[dict[str, Any]]:
    """A reader's returned loans, newest first."""
    flt: dict[str, Any] = {"reader_id": reader_id, "returned_at": {"$ne": None}}
    if before is not None:
        flt["_id"] = {"$lt": before}
    return await db[LOANS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def loan_by_id(db: AsyncDatabase, loan_id: ObjectId) -> dict[str, Any] | None:
    return await db[LOANS].find_one({"_id": loan_id})


async def titles_with_waiting_holds(db: AsyncDatabase, title_ids: list[str]) -> set[str]:
    """Which of these titles someone is waiting for (a renewal would keep it from them)."""
    if not title_ids:
        return set()
    docs = await db[HOLDS].find({"title_id": {"$in": list(dict.fromkeys(title_ids))}, "status": "waiting"},
                                {"_id": 0, "title_id": 1}).to_list()
    return {d["title_id"] for d in docs}


async def loans_of(db: AsyncDatabase, reader_ids: list[ObjectId], *, limit: int) -> list[dict[str, Any]]:
    """Every loan (open and returned) of these readers, newest first (exports)."""
    if not reader_ids:
        return []
    return await db[LOANS].find({"reader_id": {"$in": reader_ids}}).sort("_id", DESCENDING).limit(limit).to_list()


async def holds_of(db: AsyncDatabase, reader_ids: list[ObjectId], *, limit: int) -> list[dict[str, Any]]:
    if not reader_ids:
        return []
    return await db[HOLDS].find({"reader_id": {"$in": reader_ids}}).sort("_id", DESCENDING).limit(limit).to_list()


# -- forgetting (Public Library Law art. 43; PIPL) ---------------------------------------------------


async def anonymise_returned_loans(db: AsyncDatabase, reader_ids: list[ObjectId], now: datetime, *,
                                   session: AsyncClientSession | None = None) -> int:
    """Unlink these readers' returned loans: the reader goes, room, title, format, category,
    age group and dates stay (the statistics survive). Open loans keep their reader."""
    if not reader_ids:
        return 0
    result = await db[LOANS].update_many(
        {"reader_id": {"$in": reader_ids}, "returned_at": {"$ne": None}},
        {"$set": {"reader_id": None, "anonymised_at": now}}, session=session)
    return result.modified_count


async def anonymise_closed_holds(db: AsyncDatabase, reader_ids: list[ObjectId], now: datetime, *,
                                 session: AsyncClientSession | None = None) -> int:
    if not reader_ids:
        return 0
    result = await db[HOLDS].update_many(
        {"reader_id": {"$in": reader_ids}, "status": {"$in": CLOSED}},
        {"$set": {"reader_id": None, "anonymised_at": now}}, session=session)
    return result.modified_count


async def anonymise_operations(db: AsyncDatabase, *, prefixes: list[str], kinds: tuple[str, ...],
                               reader_ids: list[str], member_ids: list[str]) -> int:
    """Drop the stored answers of operations (op_ids starting with one of ``prefixes``) that
    name one of these readers or members; the op_ids stay, so a replay is still refused."""
    if not reader_ids and not member_ids:
        return 0
    pattern = "^(?:" + "|".join(re.escape(p) for p in prefixes) + ")"
    result = await db[idempotency.COLLECTION].update_many(
        {"_id": {"$regex": pattern}, "kind": {"$in": list(kinds)}, "ok": True,
         "$or": [{"result.hold.reader.id": {"$in": reader_ids}}, {"result.loan.reader.id": {"$in": reader_ids}},
                 {"result.suggestion.member_ids": {"$in": member_ids}}]},
        {"$set": {"result": {"anonymised": True}}})
    return result.modified_count
