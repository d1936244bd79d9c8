"""The baseline: a lend or a return as the bare writes the service makes, straight to MongoDB.

One transaction per operation (snapshot read concern, majority write concern, PyMongo's
``with_transaction`` — as ``server.storage.in_transaction``), holding the writes that
``circulation.service.lend`` / ``return_item`` make, in the same collections and with
documents of the same shape:

lend:   reader's loan slot ($inc, guarded by the limit), holding (guarded $inc: shelf → loan),
        ledger entry, loan, the reader's hold (find_one_and_update; none exists), monthly
        statistics (upsert $inc), audit entry, operation record (op_id).
return: holding (guarded $inc: loan → shelf), ledger entry, loan closed
        (find_one_and_update), reader's slot released, statistics, audit entry, operation record.

Not included (that is what the ratio measures): HTTP, the bearer-token lookup in Redis,
pydantic validation, and the reads the service makes to decide (room, catalog entry,
reader, overdue loans, the shelf, the hold queue, the op_id's previous outcome, the loan
to close, holds wanting the returned copy).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bson import ObjectId
from pymongo import ReturnDocument, UpdateOne
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

from server.resources import Deps

LOAN_DAYS = 10


@dataclass
class OpenLoan:
    loan_id: ObjectId
    room: str
    title_id: str
    reader_id: Any


def _month(now: datetime) -> str:
    return now.strftime("%Y-%m")


def _stats_filter(room: str, now: datetime) -> dict[str, Any]:
    return {"_id": f"{room}|{_month(now)}|book|科技|adult"}


def _stats_update(room: str, now: datetime, field: str) -> dict[str, Any]:
    return {"$inc": {field: 1}, "$setOnInsert": {"room": room, "month": _month(now), "format": "book",
                                                  "category": "科技", "age_group": "adult"}}


def _audit(actor: str, action: str, room: str, loan_id: ObjectId, changes: dict[str, Any], now: datetime
           ) -> dict[str, Any]:
    return {"at": now, "actor_id": "bench", "actor": actor, "role": "room_admin", "action": action,
            "target_type": "loan", "target_id": str(loan_id), "room": room, "changes": changes,
            "request_id": uuid.uuid4().hex, "ip": "127.0.0.1"}


def _loan_result(op_id: str, loan: dict[str, Any], card: str) -> dict[str, Any]:
    """About the size of the stored LendOut/ReturnOut answer."""
    return {"op_id": op_id, "replayed": False, "loan": {
        "id": str(loan["_id"]), "room": loan["room"], "title_id": loan["title_id"], "title": "某书", "format": "book",
        "reader": {"id": str(loan["reader_id"]), "card_no": card, "name": "读**"},
        "lent_at": loan["lent_at"].isoformat(), "due_at": loan["due_at"].isoformat(), "renewals": 0,
        "returned_at": None, "returned_room": None, "overdue": False, "days_overdue": 0},
        "hold_fulfilled": None, "message": "已借出《某书》，请于2026年1月1日前归还"}


async def _run(deps: Deps, work: Any) -> Any:
    async with deps.mongo.start_session() as session:
        return await session.with_transaction(
            work, read_concern=ReadConcern("snapshot"), write_concern=WriteConcern("majority"))


async def lend(deps: Deps, *, room: str, title_id: str, reader_id: Any, card: str, actor: str, op_id: str
               ) -> OpenLoan:
    """The lend's writes in one transaction. RuntimeError if a guard refuses (must not happen)."""
    db = deps.db

    async def work(session: Any) -> OpenLoan:
        now = datetime.now(UTC)
        slot = await db.readers.update_one(
            {"_id": reader_id, "blocked": None, "open_loans.book": {"$lt": 5}},
            {"$inc": {"open_loans.book": 1}}, session=session)
        if slot.modified_count != 1:
            raise RuntimeError("reader limit")
        loan_id = ObjectId()
        held = await db.holdings.update_one(
            {"room": room, "title_id": title_id, "on_shelf": {"$gte": 1}},
            {"$inc": {"on_shelf": -1, "on_loan": 1}, "$set": {"updated_at": now}}, session=session)
        if held.matched_count != 1:
            raise RuntimeError("no copy on the shelf")
        await db.stock_moves.insert_one(
            {"op_id": op_id, "seq": 0, "room": room, "title_id": title_id, "kind": "loan", "quantity": 1,
             "delta": {"on_shelf": -1, "on_loan": 1}, "actor": actor, "at": now,
             "reference": {"loan_id": str(loan_id)}}, session=session)
        loan = {"_id": loan_id, "reader_id": reader_id, "room": room, "title_id": title_id, "format": "book",
                "category": "科技", "age_group": "adult", "lent_at": now, "due_at": now + timedelta(days=LOAN_DAYS),
                "renewals": 0, "renewed_at": [], "returned_at": None, "returned_room": None, "lent_by": actor,
                "op_ids": [op_id], "overdue_since": None}
        await db.loans.insert_one(loan, session=session)
        await db.holds.find_one_and_update(
            {"active_key": f"{reader_id}|{title_id}"},
            {"$set": {"status": "fulfilled", "loan_id": loan_id, "closed_at": now, "active_key": None}},
            session=session)
        await db.loan_stats.update_one(_stats_filter(room, now), _stats_update(room, now, "loans"), upsert=True,
                                       session=session)
        await db.audit.insert_one(_audit(actor, "loan.lend", room, loan_id, {
            "op_id": op_id, "title_id": title_id, "reader_id": str(reader_id),
            "due_at": loan["due_at"].isoformat()}, now), session=session)
        await db.operations.insert_one({"_id": op_id, "kind": "loan", "room": room, "actor": actor, "at": now,
                                        "ok": True, "result": _loan_result(op_id, loan, card)}, session=session)
        return OpenLoan(loan_id, room, title_id, reader_id)

    return await _run(deps, work)


async def return_item(deps: Deps, loan: OpenLoan, *, card: str, actor: str, op_id: str) -> None:
    """The same-room return's writes in one transaction."""
    db = deps.db

    async def work(session: Any) -> None:
        now = datetime.now(UTC)
        held = await db.holdings.update_one(
            {"room": loan.room, "title_id": loan.title_id, "on_loan": {"$gte": 1}},
            {"$inc": {"on_loan": -1, "on_shelf": 1}, "$set": {"updated_at": now}}, session=session)
        if held.matched_count != 1:
            raise RuntimeError("nothing on loan")
        await db.stock_moves.insert_one(
            {"op_id": op_id, "seq": 0, "room": loan.room, "title_id": loan.title_id, "kind": "return",
             "quantity": 1, "delta": {"on_loan": -1, "on_shelf": 1}, "actor": actor, "at": now,
             "reference": {"loan_id": str(loan.loan_id)}}, session=session)
        closed = await db.loans.find_one_and_update(
            {"_id": loan.loan_id, "returned_at": None},
            {"$set": {"returned_at": now, "returned_room": loan.room, "returned_by": actor},
             "$push": {"op_ids": op_id}}, return_document=ReturnDocument.AFTER, session=session)
        if closed is None:
            raise RuntimeError("loan not open")
        await db.readers.update_one({"_id": loan.reader_id}, {"$inc": {"open_loans.book": -1}}, session=session)
        await db.loan_stats.update_one(_stats_filter(loan.room, now), _stats_update(loan.room, now, "returns"),
                                       upsert=True, session=session)
        await db.audit.insert_one(_audit(actor, "loan.return", loan.room, loan.loan_id, {
            "op_id": op_id, "title_id": loan.title_id, "lending_room": loan.room,
            "reader_id": str(loan.reader_id)}, now), session=session)
        result = {**_loan_result(op_id, closed, card), "lending_room": loan.room, "moved": False, "notice": None}
        await db.operations.insert_one({"_id": op_id, "kind": "return", "room": loan.room, "actor": actor,
                                        "at": now, "ok": True, "result": result}, session=session)

    await _run(deps, work)


async def apply_bulk(deps: Deps, ops: list[dict[str, Any]], room_data: dict[str, Any], *, chunk_ops: int
                     ) -> None:
    """Offline operations as bare bulk writes: ``chunk_ops`` per transaction, in the order given
    (event time), about ten bulk commands per chunk — the shape of ``offline_repo.write_plan``
    without its reads and decisions. Each op is a loan or the return of its pair's loan.
    ``room_data`` maps a room code to its ``RoomData`` (for reader ids)."""
    db = deps.db
    open_loans: dict[tuple[str, str, str], ObjectId] = {}
    for start in range(0, len(ops), chunk_ops):
        chunk = ops[start : start + chunk_ops]

        async def work(session: Any, chunk: list[dict[str, Any]] = chunk) -> None:
            now = datetime.now(UTC)
            holding: dict[tuple[str, str], dict[str, int]] = {}
            moves, audits, operations = [], [], []
            new_loans: dict[ObjectId, dict[str, Any]] = {}
            closes: list[UpdateOne] = []
            readers: dict[Any, int] = {}
            stats: dict[str, dict[str, Any]] = {}
            for op in chunk:
                room, title, card = op["room"], op["code"], op["card"]
                reader_id = room_data[room].reader_ids[card]
                at = datetime.fromisoformat(op["at"]).astimezone(UTC)
                key = (room, title, card)
                inc = holding.setdefault((room, title), {"on_shelf": 0, "on_loan": 0})
                if op["type"] == "loan":
                    loan_id = open_loans[key] = ObjectId()
                    inc["on_shelf"] -= 1
                    inc["on_loan"] += 1
                    delta, kind = {"on_shelf": -1, "on_loan": 1}, "loan"
                    new_loans[loan_id] = {
                        "_id": loan_id, "reader_id": reader_id, "room": room, "title_id": title, "format": "book",
                        "category": "科技", "age_group": "adult", "lent_at": at, "due_at": at + timedelta(days=LOAN_DAYS),
                        "renewals": 0, "renewed_at": [], "returned_at": None, "returned_room": None,
                        "lent_by": room_data[room].username, "op_ids": [op["op_id"]], "overdue_since": None}
                    readers[reader_id] = readers.get(reader_id, 0) + 1
                else:
                    loan_id = open_loans.pop(key)
                    inc["on_shelf"] += 1
                    inc["on_loan"] -= 1
                    delta, kind = {"on_loan": -1, "on_shelf": 1}, "return"
                    closed = {"returned_at": at, "returned_room": room, "returned_by": room_data[room].username}
                    if loan_id in new_loans:
                        new_loans[loan_id].update(closed)
                        new_loans[loan_id]["op_ids"].append(op["op_id"])
                    else:
                        closes.append(UpdateOne({"_id": loan_id, "returned_at": None},
                                                {"$set": closed, "$push": {"op_ids": op["op_id"]}}))
                    readers[reader_id] = readers.get(reader_id, 0) - 1
                moves.append({"op_id": op["op_id"], "seq": 0, "room": room, "title_id": title, "kind": kind,
                              "quantity": 1, "delta": delta, "actor": room_data[room].username, "at": at,
                              "reference": {"loan_id": str(loan_id), "offline": True}})
                stat = stats.setdefault(f"{room}|{_month(at)}|book|科技|adult", {"room": room, "month": _month(at),
                                                                              "loans": 0, "returns": 0})
                stat["loans" if kind == "loan" else "returns"] += 1
                audits.append(_audit(room_data[room].username, f"offline.{kind}", room, loan_id,
                                     {"op_id": op["op_id"], "title_id": title}, now))
                operations.append({"_id": op["op_id"], "kind": f"offline_{kind}", "room": room,
                                   "actor": room_data[room].username, "at": now, "ok": True,
                                   "result": {"outcome": "applied", "loan_id": str(loan_id)}})
            await db.holdings.bulk_write([
                UpdateOne({"room": r, "title_id": t, **{s: {"$gte": -n} for s, n in inc.items() if n < 0}},
                          {"$inc": inc, "$set": {"updated_at": now}}) for (r, t), inc in holding.items()],
                ordered=True, session=session)
            await db.stock_moves.insert_many(moves, session=session)
            if new_loans:
                await db.loans.insert_many(list(new_loans.values()), session=session)
            if closes:
                await db.loans.bulk_write(closes, ordered=False, session=session)
            incs = [UpdateOne({"_id": rid}, {"$inc": {"open_loans.book": n}}) for rid, n in readers.items() if n]
            if incs:
                await db.readers.bulk_write(incs, ordered=False, session=session)
            await db.loan_stats.bulk_write([
                UpdateOne({"_id": k}, {"$inc": {"loans": e["loans"], "returns": e["returns"]},
                                       "$setOnInsert": {"room": e["room"], "month": e["month"], "format": "book",
                                                        "category": "科技", "age_group": "adult"}}, upsert=True)
                for k, e in stats.items()], ordered=False, session=session)
            await db.audit.insert_many(audits, session=session)
            await db.operations.insert_many(operations, session=session)

        await _run(deps, work)
