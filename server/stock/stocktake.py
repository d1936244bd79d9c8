"""Stocktake (盘点): freeze the expected list, scan from any number of phones, report, approve.

States: open → finished → approved, and open | finished → cancelled. One open or
finished (awaiting approval) stocktake per room at a time (a unique sparse index
on ``active_room``, set only while the stocktake is open or finished).

- start: snapshot of the room's holdings (every counter, per title); on_shelf is
  the expected count.
- scan: an ISBN-13, an ISBN-10 (converted) or an internal id SW…; malformed codes
  are 422 and write nothing; a valid code not in the catalog is counted as
  unknown. Each scan increments the count in the stocktake document, guarded by
  state, so a scan racing a finish either lands before it or is refused.
- finish: the report (problem types of DOMAIN.md, ``build_report``) and the
  proposed STOCKTAKE_ADJUST deltas.
- approve (district staff): the deltas go into the ledger in one transaction.

Copies scanned while the ledger says they are on loan are not adjusted here: the
report proposes closing that many loans as returned (``returned_while_on_loan``),
and circulation closes them with its own RETURN moves through
``approved_loan_returns`` / ``settle_loan_returns`` below.

Holdings may change between start and approval (circulation should pause during
a stocktake); the approved deltas are applied to whatever is stored then, and
apply_moves refuses (409) any that would go below zero.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import isbnlib
from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server import idempotency
from server.audit import repo as audit
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from server.ids import parse_object_id
from server.pagination import decode_id_cursor, split_page
from server.rooms.service import authorize_room
from server.staff.roles import DISTRICT, Actor
from server.stock import repo
from server.stock.ledger import STATES, Move, MoveKind
from server.stock.models import (
    Adjustment,
    LoanReturnItem,
    MismatchItem,
    MissingItem,
    ScanIn,
    ScanOut,
    StocktakeCancelIn,
    StocktakeOperationOut,
    StocktakeOut,
    StocktakePage,
    StocktakeQuery,
    StocktakeReport,
    StocktakeStartIn,
    StocktakeStepIn,
    UnknownItem,
    WrongRoomItem,
)
from server.stock.service import TITLES
from server.storage import db_now

if TYPE_CHECKING:
    from server.resources import Deps

STOCKTAKES = "stocktakes"
INDEXES = {
    STOCKTAKES: [
        IndexModel([("room", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("active_room", ASCENDING)], unique=True, sparse=True),
        IndexModel([("loan_returns.status", ASCENDING), ("room", ASCENDING)], sparse=True),
    ]
}
STATE_LABELS = {"open": "盘点中", "finished": "待审核", "approved": "已审核入账", "cancelled": "已取消"}
ACTION_LABELS = {"scan": "扫描", "finish": "结束盘点", "approve": "审核入账", "cancel": "取消"}
INTERNAL_ID = re.compile(r"^SW\d{11}$")
# The big per-title maps stay in the database unless the detail view asks for them.
SUMMARY_PROJECTION = {"snapshot": 0, "counts": 0, "unknown": 0}


def normalize_code(raw: str) -> str:
    """A scanned code as a title id: ISBN-13, ISBN-10 → ISBN-13, or SW + 11 digits.
    InvalidInput naming ``code`` for anything else (checksums checked by isbnlib)."""
    code = re.sub(r"[\s-]", "", raw).upper()
    if INTERNAL_ID.fullmatch(code):
        return code
    if len(code) == 13 and code.isdigit() and isbnlib.is_isbn13(code):
        return code
    if len(code) == 10 and isbnlib.is_isbn10(code):
        return str(isbnlib.to_isbn13(code))
    raise InvalidInput("无法识别的条码", code="malformed_code",
                       errors=[FieldProblem(("body", "code"), "应为 ISBN-13、ISBN-10 或 SW 开头的馆内编号（校验位正确）")])


def build_report(
    snapshot: Mapping[str, Mapping[str, int]], counts: Mapping[str, int], unknown: Mapping[str, int],
    holders: Mapping[str, list[str]], titles: Mapping[str, str],
) -> StocktakeReport:
    """The stocktake report. Pure.

    ``snapshot``: title → the room's counters at start; ``counts``: title → copies
    scanned; ``unknown``: code → copies scanned that are not in the catalog;
    ``holders``: title → other rooms holding it; ``titles``: title → name.

    Per title with e expected on the shelf and s scanned:
    - s < e: missing (e − s) → on_shelf −(e − s), lost +(e − s);
    - s > e, and the room has never held the title but another room does: wrong
      room (no adjustment: the copy is that room's; carry it back);
    - s > e otherwise: up to on_loan copies are proposed as returned (circulation
      closes the loans), the rest is a status mismatch → on_shelf +n, taken from
      ``lost`` first when copies were written off as lost (found again).
    """
    report = StocktakeReport(
        expected_titles=sum(1 for c in snapshot.values() if c.get("on_shelf", 0) > 0),
        expected_copies=sum(c.get("on_shelf", 0) for c in snapshot.values()),
        scanned_titles=len([t for t, n in counts.items() if n > 0]),
        scanned_copies=sum(counts.values()) + sum(unknown.values()),
        unknown=[UnknownItem(code=c, scanned=n) for c, n in sorted(unknown.items())],
    )
    for title_id in sorted(set(snapshot) | set(counts)):
        recorded = {s: n for s, n in snapshot.get(title_id, {}).items() if n}
        expected, scanned, name = recorded.get("on_shelf", 0), counts.get(title_id, 0), titles.get(title_id)
        if scanned < expected:
            n = expected - scanned
            report.missing.append(MissingItem(title_id=title_id, title=name, expected=expected, scanned=scanned, missing=n))
            report.adjustments.append(Adjustment(title_id=title_id, delta={"on_shelf": -n, "lost": n}, reason="missing"))
            continue
        extra = scanned - expected
        if not extra:
            continue
        if not recorded and holders.get(title_id):
            report.wrong_room.append(WrongRoomItem(title_id=title_id, title=name, scanned=extra, holders=holders[title_id]))
            continue
        on_loan = recorded.get("on_loan", 0)
        if on_loan:
            k = min(extra, on_loan)
            report.returned_while_on_loan.append(LoanReturnItem(title_id=title_id, title=name, on_loan=on_loan, copies=k))
            extra -= k
        if extra:
            report.status_mismatch.append(MismatchItem(title_id=title_id, title=name, expected=expected, scanned=scanned,
                                                       surplus=extra, recorded=recorded))
            found = min(extra, recorded.get("lost", 0))
            report.adjustments.append(Adjustment(title_id=title_id, delta={"on_shelf": extra, **({"lost": -found} if found else {})},
                                                 reason="surplus"))
    return report


def to_out(doc: dict[str, Any], *, detail: bool = False) -> StocktakeOut:
    skip = {"_id", "snapshot", "counts", "unknown", "active_room", "loan_returns", "op_ids"}
    return StocktakeOut(
        id=str(doc["_id"]), **{k: v for k, v in doc.items() if k not in skip},
        counts=dict(doc.get("counts", {})) if detail else None,
        unknown=dict(doc.get("unknown", {})) if detail else None,
    )


def state_conflict(state: str, action: str) -> Conflict:
    return Conflict(f"盘点当前状态为「{STATE_LABELS.get(state, state)}」（{state}），不能{ACTION_LABELS[action]}",
                    code="stocktake_state", errors=[FieldProblem(("stocktake", "state"), state)])


async def _load(deps: Deps, actor: Actor, stocktake_id: str) -> tuple[ObjectId, dict[str, Any]]:
    """The stocktake (summary fields) if the actor may act for its room."""
    oid = parse_object_id(stocktake_id, loc=("path", "stocktake_id"))
    doc = await deps.db[STOCKTAKES].find_one({"_id": oid}, SUMMARY_PROJECTION)
    if doc is None:
        raise NotFound("没有这次盘点", code="stocktake_not_found")
    await authorize_room(deps, actor, doc["room"])
    return oid, doc


def _check_same(result: dict[str, Any], oid: ObjectId) -> None:
    if result.get("stocktake_id") != str(oid):
        raise Conflict("这个操作编号已用于另一次盘点", code="op_id_reused",
                       errors=[FieldProblem(("body", "op_id"), "已用于另一次盘点")])


async def start(deps: Deps, actor: Actor, room: str, data: StocktakeStartIn) -> StocktakeOperationOut:
    """Open a stocktake for ``room`` and freeze its expected list. Conflict if the room
    already has one open or awaiting approval."""
    await authorize_room(deps, actor, room)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        current = await deps.db[STOCKTAKES].find_one({"active_room": room}, {"state": 1}, session=session)
        if current is not None:
            raise _already_open(current)
        rows = await deps.db[repo.HOLDINGS].find({"room": room}, {"_id": 0, "title_id": 1, **dict.fromkeys(STATES, 1)},
                                                 session=session).to_list()
        snapshot = {r["title_id"]: {s: r.get(s, 0) for s in STATES if r.get(s, 0)} for r in rows}
        snapshot = {t: c for t, c in snapshot.items() if c}
        doc = {"_id": ObjectId(), "room": room, "active_room": room, "state": "open", "note": data.note,
               "started_at": now, "started_by": actor.username, "snapshot": snapshot, "counts": {}, "unknown": {},
               "devices": {}, "scanned_copies": 0,
               "expected_titles": sum(1 for c in snapshot.values() if c.get("on_shelf")),
               "expected_copies": sum(c.get("on_shelf", 0) for c in snapshot.values())}
        try:
            await deps.db[STOCKTAKES].insert_one(doc, session=session)
        except DuplicateKeyError:
            raise _already_open({"_id": "", "state": "open"}) from None
        await audit.record(deps.db, actor, "stocktake.start", target_type="stocktake", target_id=str(doc["_id"]),
                           room=room, changes={"op_id": data.op_id, "expected_copies": doc["expected_copies"]},
                           session=session)
        return {"stocktake_id": str(doc["_id"]), "stocktake": to_out(doc).model_dump(mode="json")}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="stocktake_start",
                                                  room=room, actor=actor.username, work=work)
    return StocktakeOperationOut(op_id=data.op_id, replayed=replayed,
                                stocktake=StocktakeOut.model_validate(result["stocktake"]))


def _already_open(current: dict[str, Any]) -> Conflict:
    return Conflict(f"这个书屋已有一次未结束的盘点（{STATE_LABELS.get(current['state'])}），请先完成或取消",
                    code="stocktake_already_open",
                    errors=[FieldProblem(("room",), str(current["_id"]))] if current["_id"] else [])


async def scan(deps: Deps, actor: Actor, stocktake_id: str, data: ScanIn) -> ScanOut:
    """Count ``data.quantity`` copies of a scanned code. InvalidInput for a malformed code;
    Conflict (naming the state) once the stocktake is no longer open."""
    oid, doc = await _load(deps, actor, stocktake_id)
    code = normalize_code(data.code)
    title = await deps.db[TITLES].find_one({"_id": code}, {"title": 1})
    bucket = "counts" if title else "unknown"
    inc = {f"{bucket}.{code}": data.quantity, "scanned_copies": data.quantity}
    if data.device:
        inc[f"devices.{data.device}"] = data.quantity

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        after = await deps.db[STOCKTAKES].find_one_and_update(
            {"_id": oid, "state": "open"}, {"$inc": inc},
            projection={f"{bucket}.{code}": 1, f"snapshot.{code}.on_shelf": 1},
            return_document=ReturnDocument.AFTER, session=session)
        if after is None:
            now = await deps.db[STOCKTAKES].find_one({"_id": oid}, {"state": 1}, session=session)
            raise state_conflict(now["state"] if now else "cancelled", "scan")
        return {"stocktake_id": str(oid), "code": code, "status": "counted" if title else "unknown",
                "title_id": code if title else None, "title": title.get("title") if title else None,
                "quantity": data.quantity, "scanned": after.get(bucket, {}).get(code, 0),
                "expected": after.get("snapshot", {}).get(code, {}).get("on_shelf", 0)}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="stocktake_scan",
                                                  room=doc["room"], actor=actor.username, work=work)
    _check_same(result, oid)
    return ScanOut(op_id=data.op_id, replayed=replayed, **result)


async def finish(deps: Deps, actor: Actor, stocktake_id: str, data: StocktakeStepIn) -> StocktakeOperationOut:
    """Close scanning and write the report. Conflict unless open."""
    oid, doc = await _load(deps, actor, stocktake_id)
    room = doc["room"]

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        full = await deps.db[STOCKTAKES].find_one({"_id": oid}, session=session)
        assert full is not None
        if full["state"] != "open":
            raise state_conflict(full["state"], "finish")
        snapshot, counts = full["snapshot"], full["counts"]
        strangers = [t for t, n in counts.items() if n > snapshot.get(t, {}).get("on_shelf", 0) and t not in snapshot]
        holders: dict[str, list[str]] = {}
        if strangers:
            for h in await deps.db[repo.HOLDINGS].find(
                    {"title_id": {"$in": strangers}, "room": {"$ne": room},
                     "$or": [{s: {"$gt": 0}} for s in ("on_shelf", "on_loan", "in_transit")]},
                    {"_id": 0, "room": 1, "title_id": 1}, session=session).sort("room", ASCENDING).to_list():
                holders.setdefault(h["title_id"], []).append(h["room"])
        involved = list(set(snapshot) | set(counts))
        names = {t["_id"]: t.get("title") for t in await deps.db[TITLES].find(
            {"_id": {"$in": involved}}, {"title": 1}, session=session).to_list()} if involved else {}
        report = build_report(snapshot, counts, full["unknown"], holders, names)
        changes = {"state": "finished", "finished_at": now, "finished_by": actor.username,
                   "report": report.model_dump(mode="json"),
                   "loan_returns": [{"title_id": i.title_id, "copies": i.copies, "settled": 0, "status": "proposed"}
                                    for i in report.returned_while_on_loan]}
        updated = await deps.db[STOCKTAKES].find_one_and_update(
            {"_id": oid, "state": "open"}, {"$set": changes}, projection=SUMMARY_PROJECTION,
            return_document=ReturnDocument.AFTER, session=session)
        await audit.record(deps.db, actor, "stocktake.finish", target_type="stocktake", target_id=str(oid), room=room,
                           changes={"op_id": data.op_id, "missing": len(report.missing),
                                    "unknown": len(report.unknown), "wrong_room": len(report.wrong_room),
                                    "status_mismatch": len(report.status_mismatch),
                                    "returned_while_on_loan": len(report.returned_while_on_loan)}, session=session)
        assert updated is not None  # read in this snapshot transaction with the same state
        return {"stocktake_id": str(oid), "stocktake": to_out(updated).model_dump(mode="json")}

    return await _operation(deps, actor, oid, room, data.op_id, "stocktake_finish", work)


async def _operation(deps: Deps, actor: Actor, oid: ObjectId, room: str, op_id: str, kind: str,
                     work: Any) -> StocktakeOperationOut:
    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=op_id, kind=kind, room=room,
                                                  actor=actor.username, work=work)
    _check_same(result, oid)
    return StocktakeOperationOut(op_id=op_id, replayed=replayed, stocktake=StocktakeOut.model_validate(result["stocktake"]))


async def approve(deps: Deps, actor: Actor, stocktake_id: str, data: StocktakeStepIn) -> StocktakeOperationOut:
    """District staff approve the report: its adjustments become STOCKTAKE_ADJUST ledger
    entries in one transaction, and its loan-return proposals become approved (for
    circulation to close). Forbidden for other roles; Conflict unless finished, or if
    an adjustment would take a counter below zero."""
    if actor.role not in DISTRICT:
        raise Forbidden("盘点调整须由区馆审核", code="district_only")
    oid, doc = await _load(deps, actor, stocktake_id)
    room = doc["room"]

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        current = await deps.db[STOCKTAKES].find_one({"_id": oid}, {"state": 1, "report": 1, "loan_returns": 1},
                                                     session=session)
        assert current is not None
        if current["state"] != "finished":
            raise state_conflict(current["state"], "approve")
        adjustments = current["report"]["adjustments"]
        moves = [Move(room, a["title_id"], MoveKind.STOCKTAKE_ADJUST, explicit_delta=a["delta"]) for a in adjustments]
        await repo.apply_moves(deps.db, session, moves, op_id=data.op_id, actor=actor.username, at=now,
                               reference={"stocktake": str(oid)})
        loan_returns = [{**lr, "status": "approved"} for lr in current.get("loan_returns", [])]
        updated = await deps.db[STOCKTAKES].find_one_and_update(
            {"_id": oid, "state": "finished"},
            {"$set": {"state": "approved", "approved_at": now, "approved_by": actor.username,
                      "loan_returns": loan_returns,
                      "report.returned_while_on_loan": [{**i, "status": "approved"} for i in
                                                        current["report"]["returned_while_on_loan"]]},
             "$unset": {"active_room": ""}},
            projection=SUMMARY_PROJECTION, return_document=ReturnDocument.AFTER, session=session)
        await audit.record(deps.db, actor, "stocktake.approve", target_type="stocktake", target_id=str(oid), room=room,
                           changes={"op_id": data.op_id, "adjustments": adjustments,
                                    "loan_returns": len(loan_returns)}, session=session)
        assert updated is not None  # read in this snapshot transaction with the same state
        return {"stocktake_id": str(oid), "stocktake": to_out(updated).model_dump(mode="json")}

    return await _operation(deps, actor, oid, room, data.op_id, "stocktake_approve", work)


async def cancel(deps: Deps, actor: Actor, stocktake_id: str, data: StocktakeCancelIn) -> StocktakeOperationOut:
    """Abandon a stocktake (open or finished) with a reason; nothing reaches the ledger."""
    oid, doc = await _load(deps, actor, stocktake_id)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        current = await deps.db[STOCKTAKES].find_one({"_id": oid}, {"state": 1, "report": 1}, session=session)
        assert current is not None
        if current["state"] not in ("open", "finished"):
            raise state_conflict(current["state"], "cancel")
        changes: dict[str, Any] = {"state": "cancelled", "cancelled_at": now, "cancelled_by": actor.username,
                                   "cancel_reason": data.reason}
        if current.get("report"):
            changes["report.returned_while_on_loan"] = [
                {**i, "status": "cancelled"} for i in current["report"]["returned_while_on_loan"]]
            changes["loan_returns"] = []
        updated = await deps.db[STOCKTAKES].find_one_and_update(
            {"_id": oid, "state": current["state"]}, {"$set": changes, "$unset": {"active_room": ""}},
            projection=SUMMARY_PROJECTION, return_document=ReturnDocument.AFTER, session=session)
        await audit.record(deps.db, actor, "stocktake.cancel", target_type="stocktake", target_id=str(oid),
                           room=doc["room"], changes={"op_id": data.op_id, "from": current["state"],
                                                      "reason": data.reason}, session=session)
        assert updated is not None  # read in this snapshot transaction with the same state
        return {"stocktake_id": str(oid), "stocktake": to_out(updated).model_dump(mode="json")}

    return await _operation(deps, actor, oid, doc["room"], data.op_id, "stocktake_cancel", work)


async def get_stocktake(deps: Deps, actor: Actor, stocktake_id: str) -> StocktakeOut:
    oid, _ = await _load(deps, actor, stocktake_id)
    doc = await deps.db[STOCKTAKES].find_one({"_id": oid}, {"snapshot": 0})
    assert doc is not None
    return to_out(doc, detail=True)


async def list_stocktakes(deps: Deps, actor: Actor, room: str, query: StocktakeQuery) -> StocktakePage:
    await authorize_room(deps, actor, room)
    flt: dict[str, Any] = {"room": room}
    if query.state:
        flt["state"] = query.state
    if query.cursor:
        flt["_id"] = {"$lt": decode_id_cursor(query.cursor)}
    docs = await deps.db[STOCKTAKES].find(flt, SUMMARY_PROJECTION).sort("_id", DESCENDING).limit(query.limit + 1).to_list()
    docs, next_cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    return StocktakePage(items=[to_out(d) for d in docs], next_cursor=next_cursor)


# -- the hook for circulation: copies scanned while on loan ------------------------------

async def approved_loan_returns(db: AsyncDatabase, room: str) -> list[dict[str, Any]]:
    """Loans an approved stocktake proposes to close as returned in ``room``:
    [{stocktake_id, title_id, copies, settled}] with copies > settled. Circulation
    picks which loans (e.g. the oldest open loans of that title in the room), closes
    them with its RETURN moves and calls ``settle_loan_returns`` in the same
    transaction."""
    docs = await db[STOCKTAKES].find({"room": room, "loan_returns.status": "approved"},
                                     {"loan_returns": 1}).to_list()
    return [{"stocktake_id": str(d["_id"]), "title_id": lr["title_id"], "copies": lr["copies"], "settled": lr["settled"]}
            for d in docs for lr in d["loan_returns"] if lr["status"] == "approved" and lr["copies"] > lr["settled"]]


async def settle_loan_returns(db: AsyncDatabase, session: AsyncClientSession | None, stocktake_id: str,
                              title_id: str, closed: int) -> bool:
    """Record that circulation closed ``closed`` of the proposed loans. False (nothing
    written) if that would settle more than proposed or the proposal is not approved."""
    oid = parse_object_id(stocktake_id, loc=("stocktake_id",))
    doc = await db[STOCKTAKES].find_one({"_id": oid}, {"loan_returns": 1}, session=session)
    items = (doc or {}).get("loan_returns", [])
    for i, lr in enumerate(items):
        if lr["title_id"] == title_id and lr["status"] == "approved" and lr["settled"] + closed <= lr["copies"]:
            result = await db[STOCKTAKES].update_one(
                {"_id": oid, f"loan_returns.{i}.title_id": title_id, f"loan_returns.{i}.settled": lr["settled"]},
                {"$inc": {f"loan_returns.{i}.settled": closed}}, session=session)
            return result.modified_count == 1
    return False
