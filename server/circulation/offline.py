"""Offline sync: a phone's log of loans, returns, renewals and in-room uses made while it
had no network, uploaded as one batch when it is back (ARCHITECTURE invariant 3).

``upload_batch`` (``POST /api/v1/offline-batches``, and the phone's ``/m/sync``):

1. validates each operation on its own (shape, room in the uploader's scope, time,
   title in the catalog); a bad one is answered ``rejected`` with the reason;
2. stores the batch — the operations as received, uploader, device, time — before
   anything is applied. A ``batch_id`` seen before answers the stored outcomes with
   ``replayed: true`` and applies nothing of its own (a different body under the
   same id is a 409);
3. applies every stored, not yet applied batch — this one and any other phone's —
   in event-time order (at, device_id, op_id) under one district-wide lock, in
   chunks of ``CHUNK_OPS`` operations: one transaction per chunk reads what the
   chunk touches with a few ``$in`` queries, decides every operation with
   ``offline_plan`` (the conflict rules) and writes the result in bulk;
4. answers one outcome per operation, in the order sent: applied, duplicate (the
   op_id was already applied online or in another batch), conflict (also stored in
   ``offline_conflicts`` for the district console) or rejected.

An op_id is recorded in ``operations`` (kind ``offline_<type>``) in the same
transaction as its effects, so it applies at most once; if a run is interrupted,
the next upload finishes the stored batches and the ops already applied keep their
first outcome.

Scope: each operation is checked against the uploader's rooms. One for a room outside
them is ``rejected`` (``room_out_of_scope``) and the rest of the batch is applied — a
phone's log is never thrown away because one line in it is wrong. Only a malformed
envelope (batch_id, device_id, ops not a list of 1–5,000) is a 422, and then nothing
is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

from pymongo.errors import DuplicateKeyError
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from server.audit import repo as audit
from server.circulation import holds, offline_repo
from server.circulation.desk import brief, titles_by_id
from server.circulation.offline_models import (
    ConflictOut,
    ConflictPage,
    ConflictQuery,
    ConsoleConflictQuery,
    OfflineBatchIn,
    OfflineBatchOut,
    OpOutcome,
    ResolveIn,
    ResolveOut,
    echo,
    parse_op,
    raw_text,
)
from server.circulation.offline_plan import PendingOp, plan_ops
from server.circulation.rules import limit_kind
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from server.ids import parse_object_id
from server.pagination import decode_cursor, encode_cursor
from server.readers import repo as readers_repo
from server.rooms.service import authorize_room
from server.staff.roles import PHONE, Actor, Role
from server.stock.repo import InsufficientStock
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

log = logging.getLogger("shuwu.offline")

# Operations decided and written per transaction: large enough that 10,000 operations take
# a few dozen round trips, small enough that a transaction stays well under a second.
CHUNK_OPS = 500
CHUNK_ATTEMPTS = 5
# The apply lock: held while batches are applied (extended after every chunk).
LOCK_TTL_SECS = 120
# How long an upload waits for another run (which may well apply its batch too) before
# answering sync_busy; below the usual 60 s proxy read timeout.
LOCK_WAIT_SECS = 50
LOCK_POLL_SECS = 0.5
# A phone's clock may run a little fast; an operation further in the future is a wrong clock.
FUTURE_SKEW = timedelta(minutes=10)
MAX_AGE = timedelta(days=366)


def _lock_key(deps: Deps) -> str:
    # One applier per database at a time: event-time order is district-wide.
    return f"shuwu:offline-apply:{deps.settings.mongo_db}"


def _applied_key(deps: Deps, batch_id: str) -> str:
    # Set when a batch's outcomes are stored, so an upload waiting on another run polls Redis,
    # not MongoDB (TTL: only waiters read it, and none waits longer than LOCK_WAIT_SECS).
    return f"shuwu:offline-applied:{deps.settings.mongo_db}:{batch_id}"


def _actor_doc(actor: Actor) -> dict[str, Any]:
    return {"staff_id": actor.staff_id, "username": actor.username, "name": actor.name, "role": str(actor.role),
            "rooms": sorted(actor.rooms), "towns": sorted(actor.towns), "request_id": actor.request_id,
            "ip": actor.ip}


def _actor(doc: dict[str, Any]) -> Actor:
    return Actor(staff_id=doc["staff_id"], username=doc["username"], name=doc["name"], role=Role(doc["role"]),
                 rooms=frozenset(doc["rooms"]), towns=frozenset(doc["towns"]), request_id=doc.get("request_id", ""),
                 ip=doc.get("ip", ""))


def _rejected(raw: Any, code: str, message: str, op_id: str | None = None, op_type: str | None = None
              ) -> dict[str, Any]:
    return {"ok": False, "outcome": {
        "op_id": op_id if op_id is not None else echo(raw, "op_id"),
        "type": op_type if op_type is not None else echo(raw, "type", 20),
        "outcome": "rejected", "code": code, "message": f"{message}；这条操作没有登记。", "loan_id": None}}


async def _check_ops(deps: Deps, actor: Actor, body: OfflineBatchIn, texts: list[str]) -> list[dict[str, Any]]:
    """Each operation validated on its own: the stored form of a good one, or its rejection."""
    rooms = await offline_repo.rooms(deps.db)
    now = db_now()
    checked: list[dict[str, Any]] = []
    for raw, text in zip(body.ops, texts, strict=True):
        op = parse_op(text)
        if isinstance(op, str):
            checked.append(_rejected(raw, "invalid_op", f"操作内容有误（{op}）"))
            continue
        room = rooms.get(op.room)
        at = op.at.astimezone(UTC)
        at = at.replace(microsecond=at.microsecond // 1000 * 1000)
        why = None
        if room is None:
            why = ("unknown_room", f"没有编号为 {op.room} 的书屋")
        elif not actor.can_access_room(room["code"], room["town"]):
            why = ("room_out_of_scope", f"{room['name']}（{op.room}）不在您的负责范围内")
        elif room["status"] != "active":
            why = ("room_inactive", f"{room['name']}已停用，不能办理借还")
        elif at > now + FUTURE_SKEW:
            why = ("future_time", "操作时间晚于现在，请检查手机的日期和时间设置")
        elif at < now - MAX_AGE:
            why = ("too_old", "操作时间早于一年以前，请检查手机的日期和时间设置")
        if why is not None:
            checked.append(_rejected(raw, *why, op_id=op.op_id, op_type=op.type))
            continue
        checked.append({"ok": True, "op_id": op.op_id, "type": op.type, "at": at, "room": op.room,
                        "card": op.card, "title_id": op.code, "count": op.count})
    catalog = await offline_repo.catalog_entries(deps.db, {c["title_id"] for c in checked if c["ok"]})
    for i, entry in enumerate(checked):
        if entry["ok"] and entry["title_id"] not in catalog:
            checked[i] = _rejected(None, "unknown_title", f"目录中没有 {entry['title_id']}，请核对 ISBN 或先登记书目",
                                   op_id=entry["op_id"], op_type=entry["type"])
        elif entry["ok"]:
            entry["catalog"] = catalog[entry["title_id"]]
    return checked


def _digest(body: OfflineBatchIn, texts: list[str]) -> str:
    return hashlib.sha256(json.dumps([body.device_id, texts]).encode()).hexdigest()


async def upload_batch(deps: Deps, actor: Actor, body: OfflineBatchIn) -> OfflineBatchOut:
    """Store a phone's offline log, apply every pending operation in event-time order, and
    answer one outcome per operation of this batch, in the order sent.

    Raises Conflict ``batch_id_reused`` (the batch_id came before with other operations)
    and Conflict ``sync_busy`` (another upload held the apply lock too long: the batch is
    stored; send it again with the same batch_id for its outcomes). Never raises for a
    bad operation: that is a ``rejected`` outcome.
    """
    texts = [raw_text(raw) for raw in body.ops]
    digest = _digest(body, texts)
    stored = await offline_repo.batch(deps.db, body.batch_id)
    replayed = stored is not None
    if stored is None:
        checked = await _check_ops(deps, actor, body, texts)
        doc = {"_id": body.batch_id, "device_id": body.device_id, "actor": _actor_doc(actor),
               "received_at": db_now(), "digest": digest, "state": "stored", "outcomes": None,
               "body": {"batch_id": body.batch_id, "device_id": body.device_id, "ops": texts}, "ops": checked}
        rejected = sum(1 for c in checked if not c["ok"])

        async def store(session: AsyncClientSession) -> None:
            await offline_repo.insert_batch(deps.db, doc, session=session)
            await audit.record(deps.db, actor, "offline.upload", target_type="offline_batch", target_id=body.batch_id,
                               changes={"device_id": body.device_id, "ops": len(checked), "rejected": rejected},
                               session=session)

        try:
            await in_transaction(deps.mongo, store)
        except DuplicateKeyError:  # the same upload on two connections at once
            replayed = True
        stored = await offline_repo.batch(deps.db, body.batch_id)
        assert stored is not None
    if stored["digest"] != digest:
        raise Conflict("这个批次编号已用于另一批离线操作，请用新的批次编号上传", code="batch_id_reused",
                       errors=[FieldProblem(("body", "batch_id"), "已用于另一批操作")])
    if stored["state"] != "applied":
        await apply_pending(deps, waiting_for=body.batch_id)
        stored = await offline_repo.batch(deps.db, body.batch_id)
        assert stored is not None
        if stored["state"] != "applied":
            raise Conflict("服务器正忙于处理其他手机上传的离线操作；这批操作已保存，请稍后用同一批次编号重新上传查看结果",
                           code="sync_busy")
    return OfflineBatchOut(batch_id=body.batch_id, stored_at=stored["received_at"], replayed=replayed,
                           outcomes=[OpOutcome.model_validate(o) for o in stored["outcomes"]])


async def apply_pending(deps: Deps, *, waiting_for: str | None = None) -> bool:
    """Apply every stored batch not yet applied, all phones together in event-time order.

    Only one run at a time (a Redis lock). While another run holds it, wait — and stop
    waiting as soon as the batch ``waiting_for`` has been applied by that run. Returns
    False if neither happened within ``LOCK_WAIT_SECS``.
    """
    lock = deps.redis.lock(_lock_key(deps), timeout=LOCK_TTL_SECS)
    deadline = time.monotonic() + LOCK_WAIT_SECS
    while not await lock.acquire(blocking=False):
        if waiting_for is not None and await deps.redis.exists(_applied_key(deps, waiting_for)):
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(LOCK_POLL_SECS)
    try:
        await _apply_stored(deps, lock)
        return True
    finally:
        try:
            await lock.release()
        except LockError:
            pass  # it expired: nobody else could have started on our chunks (op_ids are unique)


async def _apply_stored(deps: Deps, lock: Lock) -> None:
    """One run: every stored batch's pending operations, in event-time order, chunk by chunk."""
    batches = await offline_repo.pending_batches(deps.db)
    if not batches:
        return
    rooms = await offline_repo.rooms(deps.db)
    outcomes: dict[str, list[dict[str, Any] | None]] = {}
    pending: list[PendingOp] = []
    for stored in batches:
        actor = _actor(stored["actor"])
        items: list[dict[str, Any] | None] = []
        for i, entry in enumerate(stored["ops"]):
            items.append(None if entry["ok"] else entry["outcome"])
            if entry["ok"]:
                pending.append(PendingOp(
                    batch_id=stored["_id"], index=i, device_id=stored["device_id"], actor=actor,
                    op_id=entry["op_id"], type=entry["type"], at=entry["at"].astimezone(UTC),
                    room=entry["room"], title_id=entry["title_id"], card=entry["card"], count=entry["count"],
                    catalog=entry.get("catalog") or {}))
        outcomes[stored["_id"]] = items
    pending.sort(key=lambda p: p.order)

    async def mark_complete() -> None:
        # A batch is answered as soon as its last operation is decided, not at the end of the run.
        done = {b: [o for o in items if o is not None] for b, items in outcomes.items() if None not in items}
        await offline_repo.mark_applied(deps.db, done, db_now())
        if done:
            async with deps.redis.pipeline(transaction=False) as pipe:
                for batch_id in done:
                    pipe.set(_applied_key(deps, batch_id), 1, ex=LOCK_WAIT_SECS * 2)
                await pipe.execute()
        for batch_id in done:
            del outcomes[batch_id]

    await mark_complete()  # batches of rejected operations only
    for start in range(0, len(pending), CHUNK_OPS):
        chunk = pending[start:start + CHUNK_OPS]
        decided = await _decide(deps, chunk, rooms)
        for p in chunk:
            outcomes[p.batch_id][p.index] = decided[p.key]
        await mark_complete()
        await lock.extend(LOCK_TTL_SECS, replace_ttl=True)
    assert not outcomes, list(outcomes)  # every operation has its outcome


# Failures that belong to the operations themselves (a bug in a rule, data the rules did not
# foresee), not to the infrastructure: they must not stall every phone's sync behind them.
OPERATION_FAILURES = (offline_repo.StaleState, InsufficientStock, DuplicateKeyError, AssertionError, KeyError,
                      TypeError, ValueError)


async def _decide(deps: Deps, chunk: list[PendingOp], rooms: dict[str, dict[str, Any]]
                  ) -> dict[tuple[str, int], dict[str, Any]]:
    """A chunk's outcomes; a chunk that keeps failing is retried one operation at a time, and an
    operation that still fails is answered ``rejected`` (``server_error``), logged, and not recorded —
    so the phone may send it again. Database and network failures propagate (nothing decided)."""
    try:
        return await _apply_chunk(deps, chunk, rooms)
    except OPERATION_FAILURES:
        if len(chunk) > 1:
            decided: dict[tuple[str, int], dict[str, Any]] = {}
            for p in chunk:
                decided |= await _decide(deps, [p], rooms)
            return decided
        (p,) = chunk
        log.exception("offline op %s (batch %s) could not be applied", p.op_id, p.batch_id)
        return {p.key: {"op_id": p.op_id, "type": p.type, "outcome": "rejected", "code": "server_error",
                        "message": "服务器处理这条操作时出错，已记录；这条操作没有登记，请在线补登或联系区图书馆。",
                        "loan_id": None}}


async def _apply_chunk(deps: Deps, chunk: list[PendingOp], rooms: dict[str, dict[str, Any]]
                       ) -> dict[tuple[str, int], dict[str, Any]]:
    rules = deps.settings.district.lending

    async def txn(session: AsyncClientSession) -> dict[tuple[str, int], dict[str, Any]]:
        snapshot = await offline_repo.load_snapshot(deps.db, session, chunk, rooms)
        plan_now = db_now()
        plan = plan_ops(snapshot, chunk, rules, plan_now)
        await offline_repo.write_plan(deps.db, session, plan)
        await holds.announce_ready(deps, session, plan.made_ready, plan_now)  # "your hold is ready"
        return plan.outcomes

    for attempt in range(CHUNK_ATTEMPTS):
        try:
            return await in_transaction(deps.mongo, txn)
        except (DuplicateKeyError, offline_repo.StaleState, InsufficientStock):
            # A desk wrote an op_id, a loan or a holding of this chunk since the snapshot was read:
            # decide the chunk again on what is there now.
            if attempt == CHUNK_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


# -- conflicts ------------------------------------------------------------------------------------------


def _mask_card(card: str | None) -> str | None:
    return f"{card[:2]}****{card[-2:]}" if card else None


async def _conflicts_out(deps: Deps, actor: Actor, docs: list[dict[str, Any]]) -> list[ConflictOut]:
    """A page of conflicts with titles and readers: two queries whatever the page size."""
    personal = actor.role in PHONE  # inspectors see the conflicts, not who the readers are
    titles = await titles_by_id(deps, [d["title_id"] for d in docs])
    readers = await readers_repo.by_ids(deps.db, [d["reader_id"] for d in docs if d.get("reader_id")]) \
        if personal else {}
    return [ConflictOut(
        id=str(d["_id"]), room=d["room"], op_id=d["op_id"], batch_id=d["batch_id"], device_id=d["device_id"],
        type=d["type"], code=d["code"], flags=d.get("flags") or [d["code"]], message=d["message"],
        applied=d["applied"], at=d["at"], title_id=d["title_id"], title=titles.get(d["title_id"], {}).get("title"),
        card=d.get("card") if personal else _mask_card(d.get("card")),
        reader=brief(readers.get(d["reader_id"])) if d.get("reader_id") and personal else None,
        loan_id=str(d["loan_id"]) if d.get("loan_id") else None,
        other_loan_id=str(d["other_loan_id"]) if d.get("other_loan_id") else None,
        uploaded_by=d["uploaded_by"], created_at=d["created_at"], resolved=d["resolved"],
        resolved_at=d.get("resolved_at"), resolved_by=d.get("resolved_by"), resolution=d.get("resolution"),
    ) for d in docs]


async def conflicts_where(deps: Deps, actor: Actor, flt: dict[str, Any], query: ConflictQuery) -> ConflictPage:
    """One page of conflicts matching ``flt`` (already limited to the actor's scope), newest first."""
    before = None
    if query.cursor:
        (last,) = decode_cursor(query.cursor, arity=1)
        before = parse_object_id(str(last), loc=("query", "cursor")) if isinstance(last, str) else None
        if before is None:
            decode_cursor("", arity=1)
    docs = await offline_repo.conflicts_page(deps.db, {**flt, "resolved": query.resolved}, before=before,
                                             limit=query.limit + 1)
    more = len(docs) > query.limit
    docs = docs[: query.limit]
    items = await _conflicts_out(deps, actor, docs)
    return ConflictPage(items=items, next_cursor=encode_cursor([items[-1].id]) if more and items else None)


async def room_conflicts(deps: Deps, actor: Actor, code: str, query: ConflictQuery) -> ConflictPage:
    """A room's offline conflicts (unresolved by default), newest first."""
    await authorize_room(deps, actor, code)
    return await conflicts_where(deps, actor, {"room": code}, query)


async def resolve_conflict(deps: Deps, actor: Actor, conflict_id: str, data: ResolveIn) -> ResolveOut:
    """Close a conflict with a note (district staff, or an administrator of its room).

    An ``unknown_card`` loan is first given to its reader — the card as uploaded, now
    registered, or ``data.card`` — unless ``data.dismiss``: the loan then counts against
    the reader's limit. Raises NotFound, Forbidden (another room), Conflict
    (``already_resolved``; ``card_still_unknown``), InvalidInput (``data.card`` unknown).
    """
    oid = parse_object_id(conflict_id, loc=("path", "conflict_id"))
    doc = await offline_repo.conflict(deps.db, oid)
    if doc is None:
        raise NotFound("没有这条离线冲突记录", code="conflict_not_found")
    if actor.role not in {Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF} and doc["room"] not in actor.rooms:
        raise Forbidden("这条冲突不属于您负责的书屋", code="room_out_of_scope")
    if doc["resolved"]:
        raise Conflict("这条冲突已经处理过了", code="already_resolved")
    reader = None
    flags = doc.get("flags") or [doc["code"]]
    if "unknown_card" in flags and doc["type"] == "loan" and doc.get("loan_id") and not data.dismiss:
        card = data.card or doc.get("card") or ""
        reader = await readers_repo.by_card(deps.db, card)
        if reader is None and data.card:
            raise InvalidInput("没有这个借阅证号，请核对或先办理借阅证", code="unknown_card",
                               errors=[FieldProblem(("body", "card"), "借阅证号不存在")])
        if reader is None:
            raise Conflict(f"借阅证号 {card} 仍未登记：请先为读者办理借阅证，或填写正确的借阅证号，"
                           f"或选择不找读者直接结案", code="card_still_unknown")

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        changes: dict[str, Any] = {"resolved_at": db_now(), "resolved_by": actor.username, "resolution": data.note}
        if reader is not None:
            loan = await offline_repo.give_loan_reader(deps.db, session, doc["loan_id"], reader["_id"])
            if loan is None:
                raise Conflict("这笔借阅已经有读者了", code="loan_changed")
            if loan["returned_at"] is None:
                await offline_repo.count_open_loan(deps.db, session, reader["_id"], limit_kind(loan["format"]))
            changes["reader_id"] = reader["_id"]
        updated = await offline_repo.resolve(deps.db, session, oid, changes)
        if updated is None:
            raise Conflict("这条冲突已经处理过了", code="already_resolved")
        await audit.record(deps.db, actor, "offline.conflict.resolve", target_type="offline_conflict",
                           target_id=str(oid), room=doc["room"],
                           changes={"code": doc["code"], "note": data.note,
                                    "reader_id": str(reader["_id"]) if reader else None}, session=session)
        return updated

    updated = await in_transaction(deps.mongo, work)
    (out,) = await _conflicts_out(deps, actor, [updated])
    message = "已处理" + (f"，这笔借阅已记到读者 {reader['card_no']} 名下" if reader else "")
    return ResolveOut(conflict=out, reapplied=reader is not None, message=message)


async def district_conflicts(deps: Deps, actor: Actor, query: ConsoleConflictQuery) -> ConflictPage:
    """Conflicts of every room in the actor's scope (or of ``query.room``), newest first."""
    if query.room:
        await authorize_room(deps, actor, query.room)
        flt: dict[str, Any] = {"room": query.room}
    elif actor.sees_whole_district:
        flt = {}
    else:
        rooms = await offline_repo.rooms(deps.db)
        flt = {"room": {"$in": sorted(c for c, r in rooms.items() if actor.can_access_room(c, r["town"]))}}
    return await conflicts_where(deps, actor, flt, query)
