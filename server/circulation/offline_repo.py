"""``offline_batches`` and ``offline_conflicts``, and the bulk reads and writes that apply
a chunk of offline operations in a handful of round trips (HOW_WE_BUILD §6: no query
in a loop).

``load_snapshot`` and ``write_plan`` run in the caller's transaction: the snapshot is
read at the transaction's start, so a concurrent desk write to anything the plan
changes (a holding, a loan, a reader, a hold) is a write conflict and the whole
chunk is retried on fresh data.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import idempotency
from server.audit import repo as audit_repo
from server.circulation import repo as circ_repo
from server.circulation.desk import with_format
from server.circulation.offline_state import PendingOp, Plan, Snapshot
from server.circulation.rules import ACTIVE_HOLD_STATES
from server.readers import repo as readers_repo
from server.rooms import repo as rooms_repo
from server.stock import repo as stock_repo
from server.stock.service import TITLES

BATCHES = "offline_batches"
CONFLICTS = "offline_conflicts"
INDEXES = {
    BATCHES: [IndexModel([("state", ASCENDING), ("received_at", ASCENDING)])],
    CONFLICTS: [
        IndexModel([("room", ASCENDING), ("resolved", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("resolved", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("title_id", ASCENDING), ("code", ASCENDING), ("resolved", ASCENDING)]),
        IndexModel([("op_id", ASCENDING)]),
    ],
}


class StaleState(Exception):
    """A guarded update matched nothing: the data changed under the plan; retry the chunk."""


# -- batches ----------------------------------------------------------------------------------------


async def insert_batch(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession | None = None) -> None:
    await db[BATCHES].insert_one(doc, session=session)


async def batch(db: AsyncDatabase, batch_id: str) -> dict[str, Any] | None:
    return await db[BATCHES].find_one({"_id": batch_id})


async def pending_batches(db: AsyncDatabase) -> list[dict[str, Any]]:
    """Every stored batch not yet applied, oldest first (the raw body is not needed)."""
    return await db[BATCHES].find({"state": "stored"}, {"body": 0}).sort("received_at", ASCENDING).to_list()


async def mark_applied(db: AsyncDatabase, outcomes: dict[str, list[dict[str, Any]]], at: datetime) -> None:
    if outcomes:
        await db[BATCHES].bulk_write([
            UpdateOne({"_id": batch_id, "state": "stored"},
                      {"$set": {"state": "applied", "applied_at": at, "outcomes": items}})
            for batch_id, items in outcomes.items()])


async def rooms(db: AsyncDatabase) -> dict[str, dict[str, Any]]:
    """Every room, by code (about 110: one small query per upload)."""
    docs = await db[rooms_repo.COLLECTION].find({}, {"code": 1, "name": 1, "town": 1, "status": 1}).to_list()
    return {d["code"]: d for d in docs}


async def catalog_entries(db: AsyncDatabase, title_ids: set[str]) -> dict[str, dict[str, Any]]:
    """What circulation needs of each title (name, format, category), by id; unknown ids are absent."""
    if not title_ids:
        return {}
    docs = await db[TITLES].find({"_id": {"$in": sorted(title_ids)}}, {"title": 1, "format": 1, "category": 1}
                                 ).to_list()
    return {d["_id"]: {k: v for k, v in with_format(d).items() if k != "_id"} for d in docs}


# -- one chunk: read everything, then write everything --------------------------------------------


async def load_snapshot(db: AsyncDatabase, session: AsyncClientSession, ops: list[PendingOp],
                        room_docs: dict[str, dict[str, Any]]) -> Snapshot:
    """What ``ops`` touch, in eight queries whatever their number."""
    title_ids = sorted({p.title_id for p in ops})
    cards = sorted({p.card for p in ops if p.card})
    first = min(p.at for p in ops)
    known = await db[idempotency.COLLECTION].find(
        {"_id": {"$in": sorted({p.op_id for p in ops})}}, {"result": 1, "batch_id": 1, "index": 1, "kind": 1},
        session=session).to_list()
    # The catalog entries were looked up when the batch was stored and travel with the operations.
    titles = {p.title_id: p.catalog for p in ops if p.catalog}
    titles |= await catalog_entries(db, {t for t in title_ids if t not in titles})
    readers = await db[readers_repo.COLLECTION].find(
        {"card_no": {"$in": cards}}, {"card_no": 1, "open_loans": 1, "blocked": 1, "birth_year": 1, "birth_date": 1},
        session=session).to_list() if cards else []
    holdings = await db[stock_repo.HOLDINGS].find({"title_id": {"$in": title_ids}}, session=session).to_list()
    # Open loans and those closed since the first operation: one range on (title_id, returned_at)
    # (null sorts first); an $or here would make some engines scan the collection once per branch.
    loans = await db[circ_repo.LOANS].find(
        {"title_id": {"$in": title_ids}, "returned_at": {"$not": {"$lt": first}}},
        {"reader_id": 1, "room": 1, "title_id": 1, "format": 1, "category": 1, "age_group": 1, "lent_at": 1,
         "due_at": 1, "renewals": 1, "renewed_at": 1, "returned_at": 1, "returned_room": 1, "returned_by": 1,
         "op_ids": 1, "flags": 1}, session=session).to_list()
    holds = await db[circ_repo.HOLDS].find(
        {"title_id": {"$in": title_ids}, "status": {"$in": list(ACTIVE_HOLD_STATES)}},
        {"reader_id": 1, "title_id": 1, "pickup_room": 1, "status": 1, "placed_at": 1}, session=session).to_list()
    orphans = await db[CONFLICTS].find(
        {"title_id": {"$in": title_ids}, "code": "return_without_loan", "resolved": False},
        {"title_id": 1, "room": 1, "at": 1, "reader_id": 1, "op_id": 1, "uploaded_by": 1, "resolved": 1},
        session=session).to_list()
    return Snapshot(
        known_ops={d["_id"]: d for d in known},
        titles=titles,
        readers={d["card_no"]: d for d in readers},
        holdings={(d["room"], d["title_id"]): {s: int(d.get(s, 0)) for s in ("on_shelf", "on_loan", "in_transit",
                                                                              "lost", "damaged")} for d in holdings},
        holding_ids={(d["room"], d["title_id"]): d["_id"] for d in holdings},
        loans=loans, holds=holds, orphans=orphans, rooms=room_docs,
    )


async def _guarded(db: AsyncDatabase, session: AsyncClientSession, collection: str,
                   updates: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    if not updates:
        return
    result = await db[collection].bulk_write([UpdateOne(flt, {"$set": changes}) for flt, changes in updates],
                                             ordered=True, session=session)
    if result.matched_count < len(updates):
        raise StaleState(collection)


async def write_plan(db: AsyncDatabase, session: AsyncClientSession, plan: Plan) -> None:
    """Carry out a plan: about ten bulk commands for any number of operations."""
    await stock_repo.apply_move_groups(db, session, plan.move_groups, holding_ids=plan.holding_ids)
    if plan.new_loans:
        await db[circ_repo.LOANS].insert_many(plan.new_loans, session=session)
    await _guarded(db, session, circ_repo.LOANS, plan.loan_updates)
    incs = [UpdateOne({"_id": rid}, {"$inc": {f"open_loans.{k}": n for k, n in inc.items() if n}})
            for rid, inc in plan.reader_incs.items() if any(inc.values())]
    if incs:
        await db[readers_repo.COLLECTION].bulk_write(incs, ordered=False, session=session)
    await _guarded(db, session, circ_repo.HOLDS, plan.hold_updates)
    if plan.stats:
        await db[circ_repo.STATS].bulk_write([
            UpdateOne({"_id": key}, {"$inc": dict(e["inc"]), "$setOnInsert": {
                "room": e["room"], "month": e["month"], "format": e["format"], "category": e["category"],
                "age_group": e["age_group"]}}, upsert=True)
            for key, e in plan.stats.items()], ordered=False, session=session)
    if plan.conflicts:
        await db[CONFLICTS].insert_many(plan.conflicts, session=session)
    await _guarded(db, session, CONFLICTS, plan.conflict_updates)
    if plan.audits:
        await db[audit_repo.COLLECTION].insert_many(plan.audits, session=session)
    if plan.operations:
        # Last, and ordered: an op_id recorded meanwhile by a desk write raises DuplicateKeyError.
        await db[idempotency.COLLECTION].insert_many(plan.operations, session=session)


# -- conflicts ---------------------------------------------------------------------------------------


async def conflicts_page(db: AsyncDatabase, flt: dict[str, Any], *, before: ObjectId | None, limit: int
                         ) -> list[dict[str, Any]]:
    if before is not None:
        flt = {**flt, "_id": {"$lt": before}}
    return await db[CONFLICTS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def conflict(db: AsyncDatabase, conflict_id: ObjectId, *, session: AsyncClientSession | None = None
                   ) -> dict[str, Any] | None:
    return await db[CONFLICTS].find_one({"_id": conflict_id}, session=session)


async def resolve(db: AsyncDatabase, session: AsyncClientSession, conflict_id: ObjectId,
                  changes: dict[str, Any]) -> dict[str, Any] | None:
    """Mark an unresolved conflict resolved; None if it was resolved meanwhile."""
    return await db[CONFLICTS].find_one_and_update(
        {"_id": conflict_id, "resolved": False}, {"$set": {"resolved": True, **changes}},
        return_document=ReturnDocument.AFTER, session=session)


async def give_loan_reader(db: AsyncDatabase, session: AsyncClientSession, loan_id: ObjectId,
                           reader_id: ObjectId) -> dict[str, Any] | None:
    """A pending-reader loan gets its reader (None if it has one already)."""
    return await db[circ_repo.LOANS].find_one_and_update(
        {"_id": loan_id, "reader_id": None, "anonymised_at": None},
        {"$set": {"reader_id": reader_id}, "$unset": {"pending_card": ""}},
        return_document=ReturnDocument.AFTER, session=session)


async def count_open_loan(db: AsyncDatabase, session: AsyncClientSession, reader_id: ObjectId, kind: str) -> None:
    """One more open loan on the reader's counters, limit or not (the book is already out)."""
    await db[readers_repo.COLLECTION].update_one({"_id": reader_id}, {"$inc": {f"open_loans.{kind}": 1}},
                                                 session=session)


async def batch_state(db: AsyncDatabase, batch_id: str) -> str | None:
    doc = await db[BATCHES].find_one({"_id": batch_id}, {"state": 1})
    return doc["state"] if doc else None


async def anonymise(db: AsyncDatabase, cutoff: datetime, now: datetime) -> int:
    """Drop who borrowed from offline records older than ``cutoff`` (Public Library Law art. 43):
    the raw body and the card numbers of applied batches, the reader and card of resolved conflicts."""
    batches = await db[BATCHES].update_many(
        {"state": "applied", "applied_at": {"$lt": cutoff}, "anonymised_at": None},
        {"$set": {"body": None, "ops.$[].card": None, "anonymised_at": now}})
    conflicts = await db[CONFLICTS].update_many(
        {"resolved": True, "resolved_at": {"$lt": cutoff}, "anonymised_at": None},
        {"$set": {"reader_id": None, "card": None, "anonymised_at": now}})
    return batches.modified_count + conflicts.modified_count
