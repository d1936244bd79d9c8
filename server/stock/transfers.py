"""Transfers between rooms: requested → sent → arrived, or cancelled with a reason.

State machine (each step takes a client op_id, runs once in one transaction with
its ledger entries and audit entry, and is refused with a Conflict naming the
current state when the transfer is not in the state the step starts from):

    requested ──send (origin)──▶ sent ──arrive (destination)──▶ arrived
        │                          │  └─arrive (another room)──▶ arrived_elsewhere
        │                          │        + a new transfer actual room → destination, requested
        │                          ├─cancel (origin: the copies came back)──▶ cancelled
        │                          └─lost (district: gone in the van)──▶ lost
        └─cancel (origin, destination or district)──▶ cancelled

Ledger: send is TRANSFER_OUT at the origin (shelf → in_transit; only copies on
the shelf move, so a copy on loan never travels); arrival is TRANSFER_DELIVERED
at the origin plus TRANSFER_IN on the shelf of the room where the copies really
are; a cancel after sending is TRANSFER_CANCEL (back on the origin shelf).

Decision — lost in the van is not a cancel: a cancel after sending asserts the
copies are physically back on the origin's shelf. Copies that never turn up are
reported ``lost`` by district staff (who run the van): TRANSFER_CANCEL +
WRITE_OFF_LOST at the origin, so the loss is a write-off in the origin's books
(in_transit → lost) and both ledger entries name the transfer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import idempotency
from server.audit import repo as audit
from server.errors import Conflict, FieldProblem, Forbidden, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_id_cursor, split_page
from server.rooms import repo as rooms_repo
from server.staff.roles import DISTRICT, Actor
from server.stock import repo
from server.stock.ledger import Move, MoveKind
from server.stock.models import (
    TransferArrivalIn,
    TransferCancelIn,
    TransferOperationOut,
    TransferOut,
    TransferPage,
    TransferQuery,
    TransferRequestIn,
    TransferStepIn,
)
from server.stock.service import require_titles
from server.storage import db_now

if TYPE_CHECKING:
    from server.resources import Deps

TRANSFERS = "transfers"
INDEXES = {
    TRANSFERS: [
        IndexModel([("origin", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("destination", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("arrived_room", ASCENDING), ("_id", DESCENDING)], sparse=True),
        IndexModel([("state", ASCENDING), ("_id", DESCENDING)]),
    ]
}
OPEN_STATES = ("requested", "sent")
STATE_LABELS = {"requested": "已申请", "sent": "已发出", "arrived": "已到达", "arrived_elsewhere": "误送他处",
                "cancelled": "已取消", "lost": "途中丢失"}
ACTION_LABELS = {"send": "发出", "arrive": "确认到达", "cancel": "取消", "lost": "登记途中丢失"}


def to_out(doc: dict[str, Any]) -> TransferOut:
    data = {k: v for k, v in doc.items() if k not in {"_id", "parent_id", "followup_id"}}
    return TransferOut(id=str(doc["_id"]), parent_id=str(doc["parent_id"]) if doc.get("parent_id") else None,
                       followup_id=str(doc["followup_id"]) if doc.get("followup_id") else None, **data)


def state_conflict(doc: dict[str, Any], action: str) -> Conflict:
    """409 naming the transfer's current state (label and machine value)."""
    state = doc["state"]
    return Conflict(
        f"调拨单当前状态为「{STATE_LABELS.get(state, state)}」（{state}），不能{ACTION_LABELS[action]}",
        code="transfer_state", errors=[FieldProblem(("transfer", "state"), state)],
    )


async def _rooms(deps: Deps, codes: list[str], locs: list[tuple[str | int, ...]]) -> dict[str, dict[str, Any]]:
    """The rooms ``codes`` (one query); NotFound naming the first unknown one."""
    docs = await deps.db[rooms_repo.COLLECTION].find({"code": {"$in": codes}}, {"code": 1, "town": 1, "status": 1}).to_list()
    found = {d["code"]: d for d in docs}
    for code, loc in zip(codes, locs, strict=True):
        if code not in found:
            raise NotFound(f"没有编号为 {code} 的书屋", code="room_not_found", errors=[FieldProblem(loc, "书屋不存在")])
    return found


def _can(actor: Actor, room: dict[str, Any]) -> bool:
    return actor.can_access_room(room["code"], room["town"])


def _out_of_scope(room: str) -> Forbidden:
    return Forbidden(f"书屋 {room} 不在您的负责范围内", code="room_out_of_scope")


def request_document(
    *, origin: str, destination: str, lines: list[dict[str, Any]], note: str, actor: str, op_id: str,
    at: datetime, source: str = "request", parent_id: ObjectId | None = None,
) -> dict[str, Any]:
    """A new transfer in state ``requested``, ready to insert."""
    return {
        "_id": ObjectId(), "origin": origin, "destination": destination, "lines": lines,
        "copies": sum(line["quantity"] for line in lines), "state": "requested", "source": source, "note": note,
        "requested_at": at, "requested_by": actor, "parent_id": parent_id, "followup_id": None,
        "history": [{"state": "requested", "at": at, "by": actor, "op_id": op_id, "room": None, "note": note}],
    }


async def insert_requests(db: AsyncDatabase, session: AsyncClientSession, docs: list[dict[str, Any]]) -> None:
    if docs:
        await db[TRANSFERS].insert_many(docs, session=session)


async def request_transfer(deps: Deps, actor: Actor, data: TransferRequestIn) -> TransferOperationOut:
    """Open a transfer (state requested). The actor must be able to act for the origin or
    the destination (district staff: any room). NotFound for an unknown room, InvalidInput
    for an unknown title, RuleViolation for an inactive room. Nothing moves yet."""
    rooms = await _rooms(deps, [data.origin, data.destination], [("body", "origin"), ("body", "destination")])
    if not (_can(actor, rooms[data.origin]) or _can(actor, rooms[data.destination])):
        raise _out_of_scope(data.origin)
    for field in ("origin", "destination"):
        if rooms[getattr(data, field)].get("status", "active") != "active":
            raise RuleViolation(f"书屋 {getattr(data, field)} 已停用", code="room_inactive",
                                errors=[FieldProblem(("body", field), "书屋已停用")])
    await require_titles(deps, [line.title_id for line in data.lines], loc=("body", "lines"))

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        doc = request_document(origin=data.origin, destination=data.destination,
                               lines=[line.model_dump() for line in data.lines], note=data.note,
                               actor=actor.username, op_id=data.op_id, at=db_now())
        await insert_requests(deps.db, session, [doc])
        await audit.record(deps.db, actor, "transfer.request", target_type="transfer", target_id=str(doc["_id"]),
                           room=data.origin, changes={"op_id": data.op_id, "destination": data.destination,
                                                      "copies": doc["copies"]}, session=session)
        return {"transfer_id": str(doc["_id"]), "transfer": to_out(doc).model_dump(mode="json"), "followup": None}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="transfer_request",
                                                  room=data.origin, actor=actor.username, work=work)
    return _operation_out(data.op_id, replayed, result, None)


def _operation_out(op_id: str, replayed: bool, result: dict[str, Any], transfer_id: str | None) -> TransferOperationOut:
    if transfer_id is not None and result.get("transfer_id") != transfer_id:
        raise Conflict("这个操作编号已用于另一张调拨单", code="op_id_reused",
                       errors=[FieldProblem(("body", "op_id"), "已用于另一张调拨单")])
    followup = result.get("followup")
    return TransferOperationOut(op_id=op_id, replayed=replayed, transfer=TransferOut.model_validate(result["transfer"]),
                                followup=TransferOut.model_validate(followup) if followup else None)


async def _load(deps: Deps, transfer_id: str) -> tuple[ObjectId, dict[str, Any]]:
    oid = parse_object_id(transfer_id, loc=("path", "transfer_id"))
    doc = await deps.db[TRANSFERS].find_one({"_id": oid}, {"history": 0})
    if doc is None:
        raise NotFound("没有这张调拨单", code="transfer_not_found")
    return oid, doc


# A step: given the transfer as read inside the transaction and the time, check who may
# do it and return (moves, fields to set, room of the event, follow-up transfer or None).
Step = Callable[[dict[str, Any], datetime], tuple[list[Move], dict[str, Any], str | None, dict[str, Any] | None]]


async def _run_step(
    deps: Deps, actor: Actor, oid: ObjectId, *, op_id: str, action: str, allowed: tuple[str, ...],
    room: str, note: str, step: Step,
) -> TransferOperationOut:
    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        doc = await deps.db[TRANSFERS].find_one({"_id": oid}, session=session)
        assert doc is not None  # transfers are never deleted
        if doc["state"] not in allowed:
            raise state_conflict(doc, action)
        moves, changes, event_room, followup = step(doc, now)
        await repo.apply_moves(deps.db, session, moves, op_id=op_id, actor=actor.username, at=now,
                               reference={"transfer": str(oid), "action": action})
        if followup is not None:
            await insert_requests(deps.db, session, [followup])
            changes["followup_id"] = followup["_id"]
        event = {"state": changes["state"], "at": now, "by": actor.username, "op_id": op_id, "room": event_room,
                 "note": note}
        updated = await deps.db[TRANSFERS].find_one_and_update(
            {"_id": oid, "state": doc["state"]}, {"$set": changes, "$push": {"history": event}},
            return_document=ReturnDocument.AFTER, session=session)
        if updated is None:  # changed under us; the snapshot transaction makes this unreachable
            raise Conflict("调拨单已被其他操作改变，请刷新后重试", code="transfer_changed")
        await audit.record(deps.db, actor, f"transfer.{action}", target_type="transfer", target_id=str(oid),
                           room=doc["origin"], changes={"op_id": op_id, "from": doc["state"], "to": changes["state"],
                                                        "room": event_room, "note": note,
                                                        **({"followup": str(followup["_id"])} if followup else {})},
                           session=session)
        return {"transfer_id": str(oid), "transfer": to_out(updated).model_dump(mode="json"),
                "followup": to_out(followup).model_dump(mode="json") if followup else None}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=op_id, kind=f"transfer_{action}",
                                                  room=room, actor=actor.username, work=work)
    return _operation_out(op_id, replayed, result, str(oid))


def _lines(doc: dict[str, Any]) -> list[tuple[str, int]]:
    return [(line["title_id"], line["quantity"]) for line in doc["lines"]]


async def send_transfer(deps: Deps, actor: Actor, transfer_id: str, data: TransferStepIn) -> TransferOperationOut:
    """The origin room sends the copies: shelf → in transit. Forbidden unless the actor acts
    for the origin; Conflict if not requested, or if the origin's shelf has fewer copies."""
    oid, doc = await _load(deps, transfer_id)
    rooms = await _rooms(deps, [doc["origin"]], [("transfer", "origin")])
    if not _can(actor, rooms[doc["origin"]]):
        raise _out_of_scope(doc["origin"])

    def step(doc: dict[str, Any], now: datetime) -> Any:
        moves = [Move(doc["origin"], t, MoveKind.TRANSFER_OUT, q) for t, q in _lines(doc)]
        return moves, {"state": "sent", "sent_at": now, "sent_by": actor.username}, doc["origin"], None

    return await _run_step(deps, actor, oid, op_id=data.op_id, action="send", allowed=("requested",),
                           room=doc["origin"], note=data.note, step=step)


async def confirm_arrival(deps: Deps, actor: Actor, transfer_id: str, data: TransferArrivalIn) -> TransferOperationOut:
    """The copies reached ``data.room`` (default: the destination), confirmed by that room.

    At the destination: arrived. Anywhere else: the transfer closes as arrived_elsewhere
    with the copies on that room's shelf, and a new transfer from there to the intended
    destination opens (requested) — all in one transaction. Conflict unless sent."""
    oid, doc = await _load(deps, transfer_id)
    actual = data.room or doc["destination"]
    rooms = await _rooms(deps, [actual], [("body", "room")])
    if not _can(actor, rooms[actual]):
        raise _out_of_scope(actual)

    def step(doc: dict[str, Any], now: datetime) -> Any:
        moves = [m for t, q in _lines(doc) for m in (Move(doc["origin"], t, MoveKind.TRANSFER_DELIVERED, q),
                                                      Move(actual, t, MoveKind.TRANSFER_IN, q))]
        changes: dict[str, Any] = {"arrived_at": now, "arrived_by": actor.username, "arrived_room": actual}
        followup = None
        if actual == doc["destination"]:
            changes["state"] = "arrived"
        else:
            changes["state"] = "arrived_elsewhere"
            followup = request_document(
                origin=actual, destination=doc["destination"], lines=doc["lines"], actor=actor.username,
                op_id=data.op_id, at=now, source="misdelivery", parent_id=doc["_id"],
                note=f"误送至 {actual}，转送 {doc['destination']}（原调拨单 {doc['_id']}）")
        return moves, changes, actual, followup

    return await _run_step(deps, actor, oid, op_id=data.op_id, action="arrive", allowed=("sent",),
                           room=actual, note=data.note, step=step)


async def cancel_transfer(deps: Deps, actor: Actor, transfer_id: str, data: TransferCancelIn) -> TransferOperationOut:
    """Cancel with a reason. Requested: the origin, the destination or the district may
    cancel; nothing moves. Sent: only the origin (or the district) — the copies are back
    on the origin's shelf (TRANSFER_CANCEL). Conflict from any other state."""
    oid, doc = await _load(deps, transfer_id)
    rooms = await _rooms(deps, [doc["origin"], doc["destination"]], [("transfer", "origin"), ("transfer", "destination")])
    for_origin, for_destination = _can(actor, rooms[doc["origin"]]), _can(actor, rooms[doc["destination"]])
    if not (for_origin or for_destination):
        raise _out_of_scope(doc["origin"])

    def step(doc: dict[str, Any], now: datetime) -> Any:
        changes = {"state": "cancelled", "cancelled_at": now, "cancelled_by": actor.username,
                   "cancel_reason": data.reason}
        if doc["state"] == "requested":
            return [], changes, None, None
        if not for_origin:
            raise Forbidden("已发出的调拨单只能由调出书屋在书退回后取消", code="cancel_needs_origin")
        return [Move(doc["origin"], t, MoveKind.TRANSFER_CANCEL, q) for t, q in _lines(doc)], changes, doc["origin"], None

    return await _run_step(deps, actor, oid, op_id=data.op_id, action="cancel", allowed=OPEN_STATES,
                           room=doc["origin"], note=data.reason, step=step)


async def report_lost(deps: Deps, actor: Actor, transfer_id: str, data: TransferCancelIn) -> TransferOperationOut:
    """District staff: the sent copies were lost on the way. Written off in the origin's
    books (in_transit → lost). Forbidden for other roles; Conflict unless sent."""
    if actor.role not in DISTRICT:
        raise Forbidden("途中丢失由区馆登记", code="district_only")
    oid, doc = await _load(deps, transfer_id)

    def step(doc: dict[str, Any], now: datetime) -> Any:
        moves = [m for t, q in _lines(doc) for m in (Move(doc["origin"], t, MoveKind.TRANSFER_CANCEL, q),
                                                      Move(doc["origin"], t, MoveKind.WRITE_OFF_LOST, q))]
        changes = {"state": "lost", "lost_at": now, "lost_by": actor.username, "lost_reason": data.reason}
        return moves, changes, None, None

    return await _run_step(deps, actor, oid, op_id=data.op_id, action="lost", allowed=("sent",),
                           room=doc["origin"], note=data.reason, step=step)


async def get_transfer(deps: Deps, actor: Actor, transfer_id: str) -> TransferOut:
    oid = parse_object_id(transfer_id, loc=("path", "transfer_id"))
    doc = await deps.db[TRANSFERS].find_one({"_id": oid})
    if doc is None:
        raise NotFound("没有这张调拨单", code="transfer_not_found")
    if not actor.sees_whole_district:
        involved = list(dict.fromkeys(c for c in (doc["origin"], doc["destination"], doc.get("arrived_room")) if c))
        rooms = await deps.db[rooms_repo.COLLECTION].find({"code": {"$in": involved}}, {"code": 1, "town": 1}).to_list()
        if not any(_can(actor, r) for r in rooms):
            raise _out_of_scope(doc["origin"])
    return to_out(doc)


async def list_transfers(deps: Deps, actor: Actor, query: TransferQuery) -> TransferPage:
    """Transfers from, to or misdelivered to ``query.room`` (or every room in the actor's
    scope), newest first."""
    from server.rooms.service import authorize_room

    clauses: list[dict[str, Any]] = []
    if query.room:
        await authorize_room(deps, actor, query.room)
        codes: list[str] | None = [query.room]
    elif actor.sees_whole_district:
        codes = None
    else:
        scope = await deps.db[rooms_repo.COLLECTION].find(actor.room_filter(), {"code": 1}).to_list()
        codes = [r["code"] for r in scope]
    if codes is not None:
        clauses.append({"$or": [{f: {"$in": codes}} for f in ("origin", "destination", "arrived_room")]})
    if query.state:
        clauses.append({"state": query.state})
    if query.cursor:
        clauses.append({"_id": {"$lt": decode_id_cursor(query.cursor)}})
    flt = {"$and": clauses} if clauses else {}
    docs = await deps.db[TRANSFERS].find(flt).sort("_id", DESCENDING).limit(query.limit + 1).to_list()
    docs, next_cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    return TransferPage(items=[to_out(d) for d in docs], next_cursor=next_cursor)


async def open_transfer_lines(db: AsyncDatabase) -> list[dict[str, Any]]:
    """Requested and sent transfers (origin, destination, state, lines) — for the planner."""
    return await db[TRANSFERS].find({"state": {"$in": list(OPEN_STATES)}},
                                    {"origin": 1, "destination": 1, "state": 1, "lines": 1}).to_list()
