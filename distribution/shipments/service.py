"""Shipments: made from a locked plan's chosen selection run, one per room, then moved
through their states by the district (ordered → packed → dispatched; cancelled before
dispatch; reconciled and closed after receiving or a settled claim).

Every write runs in one transaction with its audit entry. Receiving is in ``receiving``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from distribution.shipments import repo
from distribution.shipments.models import (
    STATUS_LABELS,
    BoxLineOut,
    BoxOut,
    ClaimIn,
    CreateShipmentsIn,
    CreateShipmentsOut,
    HistoryOut,
    LineOut,
    ReconciliationOut,
    ReconciliationQuery,
    ShipmentBrief,
    ShipmentOut,
    ShipmentPage,
    ShipmentQuery,
    ShipmentStatus,
    TotalsOut,
    TransitionIn,
    can_move,
)
from distribution.shipments.packing import pack_boxes
from server.audit import repo as audit
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_id_cursor, encode_cursor
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

SHIPPABLE_PLAN_STATUSES = ("locked", "shipping")


# -- reading --------------------------------------------------------------------------


def _totals(doc: dict[str, Any]) -> TotalsOut:
    return TotalsOut(**doc["totals"], boxes=len(doc["boxes"]))


def brief(doc: dict[str, Any]) -> ShipmentBrief:
    return ShipmentBrief(
        id=str(doc["_id"]), plan_id=str(doc["plan_id"]), year=doc["year"], room=doc["room"],
        room_name=doc.get("room_name", ""), supplier=doc["supplier"], status=doc["status"],
        status_label=STATUS_LABELS[doc["status"]], totals=_totals(doc),
        boxes_received=len(doc.get("received_boxes", [])), updated_at=doc["updated_at"],
    )


def to_out(doc: dict[str, Any]) -> ShipmentOut:
    received = set(doc.get("received_boxes", []))
    box_times = doc.get("box_received_at", {})
    return ShipmentOut(
        id=str(doc["_id"]), plan_id=str(doc["plan_id"]), year=doc["year"], room=doc["room"],
        room_name=doc.get("room_name", ""), supplier=doc["supplier"], status=doc["status"],
        status_label=STATUS_LABELS[doc["status"]], box_size=doc["box_size"],
        lines=[LineOut(**{k: v for k, v in line.items() if k in LineOut.model_fields}) for line in doc["lines"]],
        boxes=[BoxOut(code=b["code"], lines=[BoxLineOut(**bl) for bl in b["lines"]],
                      copies=sum(bl["copies"] for bl in b["lines"]), received=b["code"] in received,
                      received_at=box_times.get(b["code"])) for b in doc["boxes"]],
        totals=_totals(doc), wrong_items=doc.get("wrong_items", []),
        claims=doc.get("claims", []), settlement=doc.get("settlement"), cancel_reason=doc.get("cancel_reason"),
        timestamps=doc.get("timestamps", {}),
        history=[HistoryOut(**h) for h in doc.get("history", [])],
        created_at=doc["created_at"], updated_at=doc["updated_at"],
    )


async def load_shipment(deps: Deps, actor: Actor, shipment_id: str) -> dict[str, Any]:
    """The shipment if ``actor`` may see it: NotFound (also for a malformed id's look-alike),
    Forbidden for a room outside the actor's scope."""
    oid = parse_object_id(shipment_id, loc=("path", "shipment_id"))
    doc = await repo.by_id(deps.db, oid)
    if doc is None:
        raise NotFound("没有这张配送单", code="shipment_not_found")
    await authorize_shipment_room(deps, actor, doc["room"])
    return doc


async def authorize_shipment_room(deps: Deps, actor: Actor, room: str) -> None:
    if actor.sees_whole_district:
        return
    rooms = await repo.rooms(deps.db, [room])
    doc = rooms.get(room)
    if doc is None or not actor.can_access_room(room, doc.get("town", "")):
        raise Forbidden("这张配送单不属于您负责的书屋", code="room_out_of_scope")


async def get_shipment(deps: Deps, actor: Actor, shipment_id: str) -> ShipmentOut:
    return to_out(await load_shipment(deps, actor, shipment_id))


async def list_shipments(deps: Deps, actor: Actor, query: ShipmentQuery) -> ShipmentPage:
    """Shipments in the actor's scope, newest first (room administrators: their rooms only)."""
    flt: dict[str, Any] = {}
    if query.plan_id:
        flt["plan_id"] = ObjectId(query.plan_id)
    if query.status:
        flt["status"] = str(query.status)
    if not actor.sees_whole_district:
        scope = sorted(actor.rooms) if actor.role == "room_admin" else \
            await repo.room_codes_in_scope(deps.db, actor.room_filter())
        flt["room"] = {"$in": [query.room] if query.room in scope else []} if query.room else {"$in": scope}
    elif query.room:
        flt["room"] = query.room
    before = decode_id_cursor(query.cursor) if query.cursor else None
    projection = {"lines": 0, "boxes.lines": 0, "history": 0, "claims": 0, "wrong_items": 0}
    docs = await repo.find(deps.db, flt, before=before, limit=query.limit + 1, projection=projection)
    page = docs[:query.limit]
    cursor = encode_cursor([str(page[-1]["_id"])]) if len(docs) > query.limit and page else None
    return ShipmentPage(items=[brief(d) for d in page], next_cursor=cursor)


# -- creation ---------------------------------------------------------------------------


async def _chosen_lines(deps: Deps, plan_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    oid = parse_object_id(plan_id, loc=("path", "plan_id"))
    plan = await repo.plan(deps.db, oid)
    if plan is None:
        raise NotFound("没有这个年度配送计划", code="plan_not_found")
    if plan.get("status") not in SHIPPABLE_PLAN_STATUSES or not plan.get("chosen_run_id"):
        raise RuleViolation(f"计划尚未锁定（当前状态：{plan.get('status')}），锁定选书结果后才能生成配送单",
                            code="plan_not_locked")
    run = await repo.run(deps.db, plan["chosen_run_id"])
    if run is None or run.get("plan_id") != oid:
        raise RuleViolation("计划所选的选书方案不存在", code="selection_run_missing")
    return plan, [line for line in run.get("lines", []) if int(line.get("copies", 0)) > 0]


def build_shipment(plan: dict[str, Any], room: dict[str, Any], lines: list[dict[str, Any]],
                   titles: dict[str, dict[str, Any]], *, supplier: str, box_size: int, actor: str,
                   now: datetime) -> dict[str, Any]:
    """A new shipment document for ``room`` (pure)."""
    ordered = sorted(lines, key=lambda line: (line.get("category", ""), line["title_id"]))
    doc_lines = [{
        "title_id": line["title_id"], "title": titles[line["title_id"]].get("title", ""),
        "publisher": titles[line["title_id"]].get("publisher", ""), "category": line.get("category", ""),
        "price_fen": int(line["price_fen"]), "ordered": int(line["copies"]),
        "received": 0, "damaged": 0, "short": 0, "claimed": 0,
    } for line in ordered]
    boxes = pack_boxes([{"title_id": line["title_id"], "copies": line["ordered"]} for line in doc_lines],
                       year=plan["year"], room=room["code"], box_size=box_size)
    return {
        "_id": ObjectId(), "plan_id": plan["_id"], "year": plan["year"], "room": room["code"],
        "room_name": room.get("name", ""), "town": room.get("town", ""), "address": room.get("address", ""),
        "supplier": supplier, "status": str(ShipmentStatus.PLANNED), "box_size": box_size,
        "lines": doc_lines, "boxes": boxes, "received_boxes": [], "box_received_at": {},
        "totals": {"titles": len(doc_lines), "copies": sum(x["ordered"] for x in doc_lines),
                   "fen": sum(x["ordered"] * x["price_fen"] for x in doc_lines)},
        "wrong_items": [], "receipts": [], "claims": [], "settlement": None,
        "timestamps": {"planned": now},
        "history": [{"from_status": None, "to_status": "planned", "at": now, "by": actor, "note": ""}],
        "created_at": now, "updated_at": now,
    }


async def create_shipments(deps: Deps, actor: Actor, plan_id: str, data: CreateShipmentsIn) -> CreateShipmentsOut:
    """One shipment per room of the plan's chosen run, for the rooms that have none yet.

    Idempotent: a second call makes nothing new. NotFound for an unknown plan, RuleViolation
    if the plan is not locked, InvalidInput naming titles the catalog lacks.
    """
    plan, lines = await _chosen_lines(deps, plan_id)
    by_room: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        by_room.setdefault(line["room"], []).append(line)
    existing = await repo.rooms_of_plan(deps.db, plan["_id"])
    wanted = sorted(set(by_room) - existing)
    rooms = await repo.rooms(deps.db, wanted) if wanted else {}
    title_ids = sorted({line["title_id"] for r in wanted for line in by_room[r]})
    titles = await repo.titles(deps.db, title_ids) if title_ids else {}
    missing = [t for t in title_ids if t not in titles]
    unknown_rooms = [r for r in wanted if r not in rooms]
    if missing or unknown_rooms:
        raise RuleViolation("选书方案中有目录里没有的书或不存在的书屋，请先补登", code="plan_data_incomplete",
                            errors=[FieldProblem(("plan", "title_id"), t) for t in missing[:50]]
                            + [FieldProblem(("plan", "room"), r) for r in unknown_rooms])
    now = db_now()
    docs = [build_shipment(plan, rooms[r], by_room[r], titles, supplier=data.supplier, box_size=data.box_size,
                           actor=actor.username, now=now) for r in wanted]

    async def work(session: Any) -> None:
        await repo.insert_many(deps.db, session, docs)
        if docs:
            await audit.record(deps.db, actor, "distribution.shipments.create", target_type="plan",
                               target_id=str(plan["_id"]), changes={
                                   "shipments": len(docs), "supplier": data.supplier, "box_size": data.box_size,
                                   "copies": sum(d["totals"]["copies"] for d in docs)}, session=session)

    try:
        await in_transaction(deps.mongo, work)
    except DuplicateKeyError:
        docs = []  # a concurrent call made them first; that call's shipments stand
    everything = await repo.of_plan(deps.db, plan["_id"])
    return CreateShipmentsOut(plan_id=str(plan["_id"]), created=len(docs), existing=len(everything) - len(docs),
                              shipments=[brief(d) for d in everything])


# -- state machine ------------------------------------------------------------------------


def illegal(current: str, target: str) -> Conflict:
    return Conflict(f"配送单不能从「{STATUS_LABELS.get(current, current)}」({current}) 变为"
                    f"「{STATUS_LABELS.get(target, target)}」({target})", code="illegal_transition",
                    errors=[FieldProblem(("body", "to"), f"from {current} to {target} is not allowed")])


async def transition(deps: Deps, actor: Actor, shipment_id: str, data: TransitionIn) -> ShipmentOut:
    """Move a shipment by hand. Conflict ``illegal_transition`` naming both states if the
    machine does not allow it; claimed → reconciled needs a settlement."""
    doc = await load_shipment(deps, actor, shipment_id)
    current, target = doc["status"], data.to
    if not can_move(current, target):
        raise illegal(current, target)
    if current == ShipmentStatus.CLAIMED and data.settlement is None:
        raise InvalidInput("索赔对账须填写处理结果（补发册数或退款金额）", code="settlement_required",
                           errors=[FieldProblem(("body", "settlement"), "claimed → reconciled 须填写 settlement")])
    now = db_now()
    update: dict[str, Any] = {
        "$set": {"status": target, "updated_at": now, f"timestamps.{target}": now},
        "$push": {"history": {"from_status": current, "to_status": target, "at": now, "by": actor.username,
                              "note": data.note or data.reason}},
    }
    if target == ShipmentStatus.CANCELLED:
        update["$set"]["cancel_reason"] = data.reason
    if data.settlement is not None and current == ShipmentStatus.CLAIMED:
        update["$set"]["settlement"] = {**data.settlement.model_dump(), "at": now, "by": actor.username}

    async def work(session: Any) -> None:
        if not await repo.guarded_update(deps.db, session, doc["_id"], {"status": current}, update):
            raise Conflict("配送单刚被其他人改变了状态，请刷新后再试", code="shipment_changed")
        await audit.record(deps.db, actor, f"distribution.shipment.{target}", target_type="shipment",
                           target_id=str(doc["_id"]), room=doc["room"],
                           changes={"from": current, "to": target, "note": data.note, "reason": data.reason,
                                    "settlement": data.settlement.model_dump() if data.settlement else None},
                           session=session)

    await in_transaction(deps.mongo, work)
    return to_out(await repo.by_id(deps.db, doc["_id"]) or doc)


async def claim(deps: Deps, actor: Actor, shipment_id: str, data: ClaimIn) -> ShipmentOut:
    """Claim short and damaged copies from the supplier: discrepancy → claimed.

    Lines name what is claimed (at most what receiving recorded); no lines claims all of it.
    """
    doc = await load_shipment(deps, actor, shipment_id)
    if doc["status"] != ShipmentStatus.DISCREPANCY:
        raise illegal(doc["status"], "claimed")
    lines = {line["title_id"]: line for line in doc["lines"]}
    claimed: dict[str, int] = {}
    problems = []
    if data.lines:
        for i, line in enumerate(data.lines):
            have = lines.get(line.title_id)
            if have is None:
                problems.append(FieldProblem(("body", "lines", i, "title_id"), "这张配送单上没有这种书"))
                continue
            if line.short > have["short"]:
                problems.append(FieldProblem(("body", "lines", i, "short"), f"收货时只记了短少 {have['short']} 册"))
            if line.damaged > have["damaged"]:
                problems.append(FieldProblem(("body", "lines", i, "damaged"),
                                             f"收货时只记了损坏 {have['damaged']} 册"))
            claimed[line.title_id] = claimed.get(line.title_id, 0) + line.short + line.damaged
    else:
        claimed = {t: line["short"] + line["damaged"] for t, line in lines.items() if line["short"] + line["damaged"]}
    if problems:
        raise InvalidInput("索赔内容与收货记录不符", code="claim_exceeds_receipt", errors=problems)
    now = db_now()
    claim_doc = {"id": str(ObjectId()), "at": now, "by": actor.username, "note": data.note,
                 "lines": [{"title_id": t, "copies": n} for t, n in sorted(claimed.items())],
                 "wrong_items": doc.get("wrong_items", [])}
    new_lines = [{**line, "claimed": claimed.get(line["title_id"], 0)} for line in doc["lines"]]
    update = {"$set": {"status": "claimed", "lines": new_lines, "updated_at": now, "timestamps.claimed": now},
              "$push": {"claims": claim_doc, "history": {"from_status": doc["status"], "to_status": "claimed",
                                                         "at": now, "by": actor.username, "note": data.note}}}

    async def work(session: Any) -> None:
        if not await repo.guarded_update(deps.db, session, doc["_id"], {"status": doc["status"]}, update):
            raise Conflict("配送单刚被其他人改变了状态，请刷新后再试", code="shipment_changed")
        await audit.record(deps.db, actor, "distribution.shipment.claim", target_type="shipment",
                           target_id=str(doc["_id"]), room=doc["room"],
                           changes={"copies": sum(claimed.values()), "note": data.note}, session=session)

    await in_transaction(deps.mongo, work)
    return to_out(await repo.by_id(deps.db, doc["_id"]) or doc)


# -- documents and reconciliation ------------------------------------------------------------


async def packing_list(deps: Deps, actor: Actor, shipment_id: str, *, labels: bool = False) -> bytes:
    """The packing list (or the box labels) of a shipment the actor may see, as PDF bytes."""
    from distribution.shipments import documents

    doc = await load_shipment(deps, actor, shipment_id)
    room = (await repo.rooms(deps.db, [doc["room"]])).get(doc["room"]) or {"name": doc.get("room_name", "")}
    room = {"name": "", "town": "", "village": "", "address": "", "phone": None, **room}
    district = deps.settings.district.name
    if labels:
        return await asyncio.to_thread(documents.labels_pdf, doc, room, district=district)
    return await asyncio.to_thread(documents.packing_list_pdf, doc, room, district=district, printed_at=db_now())


async def supplier_order(deps: Deps, plan_id: str) -> bytes:
    """The supplier's order for a plan (xlsx): every shipment's lines per box."""
    from distribution.shipments import documents

    oid = parse_object_id(plan_id, loc=("path", "plan_id"))
    plan = await repo.plan(deps.db, oid)
    if plan is None:
        raise NotFound("没有这个年度配送计划", code="plan_not_found")
    docs = await repo.of_plan(deps.db, oid)
    return await asyncio.to_thread(documents.supplier_xlsx, plan, docs)


async def reconciliation(deps: Deps, query: ReconciliationQuery) -> ReconciliationOut:
    """Ordered, delivered, short, damaged, wrong, claimed and settled per shipment and supplier."""
    from distribution.shipments.reconcile import reconcile

    flt: dict[str, Any] = {}
    if query.plan_id:
        flt["plan_id"] = ObjectId(query.plan_id)
    if query.supplier:
        flt["supplier"] = query.supplier
    docs = await repo.for_reconciliation(deps.db, flt)
    return ReconciliationOut.model_validate(reconcile(docs))
