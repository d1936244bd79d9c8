"""The queries delivery and the message list make on ``notifications`` (server/outbox.py
owns the collection, its document shape and its indexes).

Delivery states: ``pending`` (due at ``next_attempt_at``) → ``sending`` (claimed by one
worker; ``next_attempt_at`` is then the end of its lease, after which another worker may
take it over) → ``sent`` | ``skipped`` (with ``reason``) | ``failed`` (with ``last_error``),
or back to ``pending`` with a later ``next_attempt_at`` after a transient error. The
``(status, next_attempt_at)`` index serves both the sweeper and the lease take-over.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from server.circulation.repo import LOANS
from server.outbox import COLLECTION
from server.rooms.repo import COLLECTION as ROOMS

DELIVERABLE = ["pending", "sending"]
NEWEST_FIRST = [("created_at", DESCENDING), ("_id", DESCENDING)]


async def claim(db: AsyncDatabase, notification_id: str, now: datetime, *, lease_secs: int, token: str
                ) -> dict[str, Any] | None:
    """Take the event for delivery if it is due (pending, or sending with an expired lease);
    None if it is not: already delivered, skipped, failed, leased to another worker, or
    not due yet."""
    return await db[COLLECTION].find_one_and_update(
        {"_id": notification_id, "status": {"$in": DELIVERABLE}, "next_attempt_at": {"$lte": now}},
        {"$set": {"status": "sending", "claim": token, "next_attempt_at": now + timedelta(seconds=lease_secs)},
         "$inc": {"attempts": 1}},
        return_document=ReturnDocument.AFTER,
    )


async def finish(db: AsyncDatabase, notification_id: str, token: str, changes: dict[str, Any]) -> bool:
    """Record the outcome of a claimed delivery; False if the claim was lost meanwhile."""
    result = await db[COLLECTION].update_one(
        {"_id": notification_id, "status": "sending", "claim": token},
        {"$set": changes, "$unset": {"claim": ""}})
    return result.modified_count == 1


async def due_ids(db: AsyncDatabase, now: datetime, *, limit: int) -> list[str]:
    """Events to (re)try now, oldest due first: pending ones and expired leases."""
    docs = await db[COLLECTION].find({"status": {"$in": DELIVERABLE}, "next_attempt_at": {"$lte": now}},
                                     {"_id": 1}).sort("next_attempt_at", 1).limit(limit).to_list()
    return [d["_id"] for d in docs]


def _before(after: tuple[datetime, str] | None) -> dict[str, Any]:
    if after is None:
        return {}
    at, last_id = after
    return {"$or": [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": last_id}}]}


async def family_page(db: AsyncDatabase, account_id: ObjectId, reader_ids: list[ObjectId], *,
                      after: tuple[datetime, str] | None, limit: int) -> list[dict[str, Any]]:
    """The events of an account and of its members' library cards, newest first: at most
    ``limit`` after the keyset ``after``. Two index-served queries merged here (events
    about a card carry ``reader_id``, events about a mini-program member ``account_id``)."""
    keyset = _before(after)
    docs = await db[COLLECTION].find({"account_id": account_id, **keyset}).sort(NEWEST_FIRST).limit(limit).to_list()
    if reader_ids:
        docs += await db[COLLECTION].find({"reader_id": {"$in": reader_ids}, **keyset}
                                          ).sort(NEWEST_FIRST).limit(limit).to_list()
    unique = {d["_id"]: d for d in docs}
    return sorted(unique.values(), key=lambda d: (d["created_at"], d["_id"]), reverse=True)[:limit]


def family_filter(account_id: ObjectId, member_ids: list[ObjectId], reader_ids: list[ObjectId], *,
                  whole_account: bool) -> dict[str, Any]:
    """The events about these members (and, for the whole account, the account's own)."""
    clauses: list[dict[str, Any]] = [{"account_id": account_id, "member_id": {"$in": member_ids}}]
    if whole_account:
        clauses = [{"account_id": account_id}]
    if reader_ids:
        clauses.append({"reader_id": {"$in": reader_ids}})
    return {"$or": clauses} if len(clauses) > 1 else clauses[0]


async def family_events(db: AsyncDatabase, flt: dict[str, Any]) -> list[dict[str, Any]]:
    return await db[COLLECTION].find(flt).sort(NEWEST_FIRST).to_list()


async def delete_events(db: AsyncDatabase, flt: dict[str, Any]) -> int:
    return (await db[COLLECTION].delete_many(flt)).deleted_count


async def room_names(db: AsyncDatabase, codes: list[str]) -> dict[str, str]:
    """Room code → name for several rooms (one query)."""
    if not codes:
        return {}
    docs = await db[ROOMS].find({"code": {"$in": sorted(set(codes))}}, {"code": 1, "name": 1}).to_list()
    return {d["code"]: d["name"] for d in docs}


async def open_loans_due(db: AsyncDatabase, start: datetime, end: datetime, *, limit: int) -> list[dict[str, Any]]:
    """Open loans due in [start, end) (the ``(returned_at, due_at)`` index of ``loans``)."""
    return await db[LOANS].find({"returned_at": None, "due_at": {"$gte": start, "$lt": end}},
                                {"reader_id": 1, "title_id": 1, "room": 1, "due_at": 1}).limit(limit).to_list()
