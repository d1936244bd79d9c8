"""``loans``, ``holds`` and ``loan_stats``: the queries circulation needs and their indexes.

Writes take the caller's session: every change runs in the transaction that
also moves the stock, writes the audit entry and records the op_id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import idempotency
from server.audit import repo as audit_repo
from server.stock import repo as stock_repo

LOANS = "loans"
HOLDS = "holds"
STATS = "loan_stats"
ACTIVE = ["waiting", "ready"]
CLOSED = ["fulfilled", "cancelled", "expired"]
INDEXES = {
    LOANS: [
        IndexModel([("reader_id", ASCENDING), ("returned_at", ASCENDING), ("due_at", ASCENDING)]),
        IndexModel([("reader_id", ASCENDING), ("title_id", ASCENDING), ("returned_at", ASCENDING)]),
        IndexModel([("reader_id", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("room", ASCENDING), ("returned_at", ASCENDING), ("due_at", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("title_id", ASCENDING), ("returned_at", ASCENDING), ("lent_at", ASCENDING)]),
        IndexModel([("returned_at", ASCENDING), ("due_at", ASCENDING)]),
        # The phone's "today" page: what a room lent and took back since midnight.
        IndexModel([("room", ASCENDING), ("lent_at", DESCENDING)]),
        IndexModel([("returned_room", ASCENDING), ("returned_at", DESCENDING)]),
    ],
    HOLDS: [
        # One active hold per reader and title: ``active_key`` is "<reader>|<title>" while the
        # hold is waiting or ready and null afterwards (a partial index cannot say $in).
        IndexModel([("active_key", ASCENDING)], unique=True,
                   partialFilterExpression={"active_key": {"$type": "string"}}),
        IndexModel([("title_id", ASCENDING), ("pickup_room", ASCENDING), ("status", ASCENDING)]),
        IndexModel([("title_id", ASCENDING), ("status", ASCENDING), ("placed_at", ASCENDING)]),
        IndexModel([("reader_id", ASCENDING), ("status", ASCENDING), ("title_id", ASCENDING)]),
        IndexModel([("reader_id", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("pickup_room", ASCENDING), ("status", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("status", ASCENDING), ("expires_at", ASCENDING)]),
        IndexModel([("closed_at", ASCENDING)]),
    ],
    STATS: [IndexModel([("room", ASCENDING), ("month", ASCENDING)])],
}

# -- loans ----------------------------------------------------------------------------------


async def insert_loan(db: AsyncDatabase, session: AsyncClientSession, doc: dict[str, Any]) -> ObjectId:
    return (await db[LOANS].insert_one(doc, session=session)).inserted_id


async def loan_by_id(db: AsyncDatabase, loan_id: ObjectId, *, session: AsyncClientSession | None = None
                     ) -> dict[str, Any] | None:
    return await db[LOANS].find_one({"_id": loan_id}, session=session)


async def has_overdue(db: AsyncDatabase, session: AsyncClientSession, reader_id: ObjectId, now: datetime) -> bool:
    doc = await db[LOANS].find_one({"reader_id": reader_id, "returned_at": None, "due_at": {"$lt": now}},
                                   {"_id": 1}, session=session)
    return doc is not None


async def open_loans_for(db: AsyncDatabase, session: AsyncClientSession, *, title_id: str,
                         reader_id: ObjectId | None, limit: int) -> list[dict[str, Any]]:
    """Open loans of a title (of one reader, or anyone's), oldest first."""
    flt: dict[str, Any] = {"title_id": title_id, "returned_at": None}
    if reader_id is not None:
        flt["reader_id"] = reader_id
    return await db[LOANS].find(flt, session=session).sort("lent_at", ASCENDING).limit(limit).to_list()


async def close_loan(db: AsyncDatabase, session: AsyncClientSession, loan_id: ObjectId, *, at: datetime,
                     room: str, actor: str, op_id: str) -> dict[str, Any] | None:
    """Mark an open loan returned; None if it was not open (returned meanwhile)."""
    return await db[LOANS].find_one_and_update(
        {"_id": loan_id, "returned_at": None},
        {"$set": {"returned_at": at, "returned_room": room, "returned_by": actor}, "$push": {"op_ids": op_id}},
        return_document=ReturnDocument.AFTER, session=session,
    )


async def renew_loan(db: AsyncDatabase, session: AsyncClientSession, loan_id: ObjectId, *, renewals: int,
                     due_at: datetime, at: datetime, op_id: str) -> dict[str, Any] | None:
    """Extend an open loan that still has ``renewals`` renewals; None if it changed meanwhile."""
    return await db[LOANS].find_one_and_update(
        {"_id": loan_id, "returned_at": None, "renewals": renewals},
        {"$set": {"due_at": due_at}, "$inc": {"renewals": 1}, "$push": {"renewed_at": at, "op_ids": op_id}},
        return_document=ReturnDocument.AFTER, session=session,
    )


def room_loans_filter(room: str, *, overdue: bool | None, now: datetime) -> dict[str, Any]:
    flt: dict[str, Any] = {"room": room, "returned_at": None}
    if overdue is True:
        flt["due_at"] = {"$lt": now}
    elif overdue is False:
        flt["due_at"] = {"$gte": now}
    return flt


async def room_loans_page(db: AsyncDatabase, flt: dict[str, Any], *, after: tuple[datetime, ObjectId] | None,
                          limit: int) -> list[dict[str, Any]]:
    if after is not None:
        due, oid = after
        keyset = {"$or": [{"due_at": {"$gt": due}}, {"due_at": due, "_id": {"$gt": oid}}]}
        flt = {"$and": [flt, keyset]}
    return await db[LOANS].find(flt).sort([("due_at", ASCENDING), ("_id", ASCENDING)]).limit(limit).to_list()


async def room_loans_since(db: AsyncDatabase, room: str, since: datetime, *, returned: bool, limit: int
                           ) -> list[dict[str, Any]]:
    """Loans lent by ``room`` (or, with ``returned``, returned to it) at or after ``since``, newest first."""
    field, place = ("returned_at", "returned_room") if returned else ("lent_at", "room")
    return await db[LOANS].find({place: room, field: {"$gte": since}}).sort(field, DESCENDING).limit(limit).to_list()


async def overdue_reader_ids(db: AsyncDatabase, room: str, now: datetime, *, limit: int) -> list[ObjectId]:
    """Readers with an overdue loan lent by ``room`` (at most ``limit`` loans looked at)."""
    docs = await db[LOANS].find({"room": room, "returned_at": None, "due_at": {"$lt": now}},
                                {"_id": 0, "reader_id": 1}).limit(limit).to_list()
    return list(dict.fromkeys(d["reader_id"] for d in docs if d.get("reader_id") is not None))


async def open_loans_of_readers(db: AsyncDatabase, reader_ids: list[ObjectId], *, limit: int) -> list[dict[str, Any]]:
    """Open loans of several readers (one query), soonest due first."""
    if not reader_ids:
        return []
    return await db[LOANS].find({"reader_id": {"$in": reader_ids}, "returned_at": None}
                                ).sort("due_at", ASCENDING).limit(limit).to_list()


async def reader_loans_page(db: AsyncDatabase, reader_id: ObjectId, *, status: str, before: ObjectId | None,
                            limit: int) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"reader_id": reader_id}
    if status == "open":
        flt["returned_at"] = None
    elif status == "closed":
        flt["returned_at"] = {"$ne": None}
    if before is not None:
        flt["_id"] = {"$lt": before}
    return await db[LOANS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def open_loans_of(db: AsyncDatabase, reader_id: ObjectId, *, session: AsyncClientSession | None = None
                        ) -> list[dict[str, Any]]:
    return await db[LOANS].find({"reader_id": reader_id, "returned_at": None}, session=session).to_list()


# -- holds ----------------------------------------------------------------------------------------


async def insert_hold(db: AsyncDatabase, session: AsyncClientSession, doc: dict[str, Any]) -> ObjectId:
    return (await db[HOLDS].insert_one(doc, session=session)).inserted_id


async def hold_by_id(db: AsyncDatabase, hold_id: ObjectId, *, session: AsyncClientSession | None = None
                     ) -> dict[str, Any] | None:
    return await db[HOLDS].find_one({"_id": hold_id}, session=session)


async def queue_at(db: AsyncDatabase, session: AsyncClientSession | None, title_id: str, room: str
                   ) -> list[dict[str, Any]]:
    """Active holds for a title at one pickup room (the queue the room's shelf copies serve)."""
    return await db[HOLDS].find({"title_id": title_id, "pickup_room": room, "status": {"$in": ACTIVE}},
                                session=session).to_list()


async def reader_active_holds(db: AsyncDatabase, session: AsyncClientSession, reader_id: ObjectId
                              ) -> list[dict[str, Any]]:
    return await db[HOLDS].find({"reader_id": reader_id, "status": {"$in": ACTIVE}},
                                {"title_id": 1}, session=session).to_list()


async def waiting_hold_exists(db: AsyncDatabase, session: AsyncClientSession, title_id: str) -> bool:
    doc = await db[HOLDS].find_one({"title_id": title_id, "status": "waiting"}, {"_id": 1}, session=session)
    return doc is not None


async def oldest_unrouted_elsewhere(db: AsyncDatabase, session: AsyncClientSession, title_id: str, room: str
                                    ) -> dict[str, Any] | None:
    """The longest-waiting hold for a title at another pickup room that no copy has been sent to yet."""
    return await db[HOLDS].find_one(
        {"title_id": title_id, "status": "waiting", "routed_from": None, "pickup_room": {"$ne": room}},
        sort=[("placed_at", ASCENDING)], session=session)


async def set_holds(db: AsyncDatabase, session: AsyncClientSession | None, hold_ids: list[ObjectId],
                    changes: dict[str, Any], *, only_status: list[str] | None = None) -> int:
    if not hold_ids:
        return 0
    flt: dict[str, Any] = {"_id": {"$in": hold_ids}}
    if only_status:
        flt["status"] = {"$in": only_status}
    return (await db[HOLDS].update_many(flt, {"$set": changes}, session=session)).modified_count


async def update_hold(db: AsyncDatabase, session: AsyncClientSession, hold_id: ObjectId, changes: dict[str, Any],
                      *, only_status: list[str]) -> dict[str, Any] | None:
    return await db[HOLDS].find_one_and_update(
        {"_id": hold_id, "status": {"$in": only_status}}, {"$set": changes},
        return_document=ReturnDocument.AFTER, session=session)


async def fulfil_hold(db: AsyncDatabase, session: AsyncClientSession, active_key: str, *, loan_id: ObjectId,
                      at: datetime) -> dict[str, Any] | None:
    """Close the reader's active hold for a title (if any) as met by ``loan_id``."""
    return await db[HOLDS].find_one_and_update(
        {"active_key": active_key},
        {"$set": {"status": "fulfilled", "loan_id": loan_id, "closed_at": at, "active_key": None}},
        session=session)


def holds_filter(status: str) -> dict[str, Any]:
    return {"active": {"status": {"$in": ACTIVE}}, "closed": {"status": {"$in": CLOSED}},
            "all": {}}.get(status, {"status": status})


async def holds_page(db: AsyncDatabase, flt: dict[str, Any], *, before: ObjectId | None, limit: int
                     ) -> list[dict[str, Any]]:
    if before is not None:
        flt = {**flt, "_id": {"$lt": before}}
    return await db[HOLDS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def expired_ready_holds(db: AsyncDatabase, now: datetime, *, limit: int) -> list[dict[str, Any]]:
    return await db[HOLDS].find({"status": "ready", "expires_at": {"$lt": now}}).limit(limit).to_list()


async def waiting_queues(db: AsyncDatabase) -> list[dict[str, Any]]:
    """(title, pickup room) pairs with a waiting hold, for the daily promotion pass."""
    cursor = await db[HOLDS].aggregate([
        {"$match": {"status": "waiting"}},
        {"$group": {"_id": {"title_id": "$title_id", "room": "$pickup_room"}}},
    ])
    return [d["_id"] for d in await cursor.to_list()]


# -- the stock a desk sees (read only: stock.repo.apply_moves is the one writer) -------------------------


async def shelf(db: AsyncDatabase, session: AsyncClientSession | None, room: str, title_id: str
                ) -> dict[str, Any] | None:
    """The room's holding of a title, read in the caller's transaction."""
    return await db[stock_repo.HOLDINGS].find_one({"room": room, "title_id": title_id}, session=session)


async def shelves_elsewhere(db: AsyncDatabase, session: AsyncClientSession, title_id: str, room: str, *,
                            limit: int) -> list[dict[str, Any]]:
    return await db[stock_repo.HOLDINGS].find(
        {"title_id": title_id, "on_shelf": {"$gt": 0}, "room": {"$ne": room}}, {"room": 1, "on_shelf": 1},
        session=session).sort("on_shelf", DESCENDING).limit(limit).to_list()


# -- statistics --------------------------------------------------------------------------------------


def stats_key(room: str, month: str, fmt: str, category: str, age_group: str) -> str:
    return f"{room}|{month}|{fmt}|{category}|{age_group}"


async def bump_stats(db: AsyncDatabase, session: AsyncClientSession, *, room: str, month: str, fmt: str,
                     category: str, age_group: str, field: str, n: int = 1) -> None:
    """Count one event in the room's monthly statistics (no reader identity: Public Library Law art. 43)."""
    await db[STATS].update_one(
        {"_id": stats_key(room, month, fmt, category, age_group)},
        {"$inc": {field: n},
         "$setOnInsert": {"room": room, "month": month, "format": fmt, "category": category, "age_group": age_group}},
        upsert=True, session=session,
    )


async def room_stats(db: AsyncDatabase, room: str, *, from_month: str | None, to_month: str | None
                     ) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"room": room}
    months: dict[str, str] = {}
    if from_month:
        months["$gte"] = from_month
    if to_month:
        months["$lte"] = to_month
    if months:
        flt["month"] = months
    return await db[STATS].find(flt).sort([("month", ASCENDING), ("_id", ASCENDING)]).to_list()


# -- maintenance (the nightly jobs) ----------------------------------------------------------------------


async def flag_overdue(db: AsyncDatabase, now: datetime) -> int:
    result = await db[LOANS].update_many(
        {"returned_at": None, "due_at": {"$lt": now}, "overdue_since": None}, {"$set": {"overdue_since": now}})
    return result.modified_count


async def overdue_by_room(db: AsyncDatabase, now: datetime) -> dict[str, int]:
    cursor = await db[LOANS].aggregate([
        {"$match": {"returned_at": None, "due_at": {"$lt": now}}},
        {"$group": {"_id": "$room", "n": {"$sum": 1}}},
    ])
    return {d["_id"]: int(d["n"]) for d in await cursor.to_list()}


async def anonymise_loans(db: AsyncDatabase, cutoff: datetime, now: datetime) -> int:
    result = await db[LOANS].update_many(
        {"returned_at": {"$ne": None, "$lt": cutoff}, "reader_id": {"$ne": None}},
        {"$set": {"reader_id": None, "anonymised_at": now}})
    return result.modified_count


async def anonymise_holds(db: AsyncDatabase, cutoff: datetime, now: datetime) -> int:
    result = await db[HOLDS].update_many(
        {"closed_at": {"$ne": None, "$lt": cutoff}, "reader_id": {"$ne": None}},
        {"$set": {"reader_id": None, "anonymised_at": now}})
    return result.modified_count


async def anonymise_operations(db: AsyncDatabase, kinds: tuple[str, ...], cutoff: datetime) -> int:
    """Drop the stored answers (which name the reader) of old circulation op_ids; the ids stay."""
    result = await db[idempotency.COLLECTION].update_many(
        {"kind": {"$in": list(kinds)}, "at": {"$lt": cutoff}, "ok": True, "result.anonymised": {"$ne": True}},
        {"$set": {"result": {"anonymised": True}}})
    return result.modified_count


async def anonymise_audit(db: AsyncDatabase, actions: tuple[str, ...], cutoff: datetime) -> int:
    result = await db[audit_repo.COLLECTION].update_many(
        {"action": {"$in": list(actions)}, "at": {"$lt": cutoff}, "changes.reader_id": {"$ne": None}},
        {"$set": {"changes.reader_id": None}})
    return result.modified_count
