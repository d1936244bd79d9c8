"""Receiving a dispatched shipment at the room, box by box, on the phone or by a script.

One receipt (one client ``op_id``) counts one or more boxes: every title packed in them
gets a line (good copies, damaged copies; the rest is short), and items that were not on
the order are listed as wrong items. In ONE transaction (``idempotency.run_once``):
``receive`` moves for the good copies go into the stock ledger and holdings
(``server.stock.repo.apply_moves``, as ``server.stock.service.receive`` does), the
shipment's lines and boxes are updated under a guard that none of the boxes was received
meanwhile, the operation record and the audit entry are written. So a replayed op_id
answers the first result, and a second phone counting the same box gets 409
``already_received``. Damaged and wrong copies are not taken into stock: they go back
to the supplier through a claim.

When the last box is counted the shipment becomes ``received``, or ``discrepancy`` if
anything was short, damaged or wrong.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from distribution.shipments import repo
from distribution.shipments.models import PhotoOut, ReceiptIn, ReceiptOut, ShipmentStatus
from distribution.shipments.packing import copies_by_title
from distribution.shipments.service import load_shipment
from miniprogram_api.contest import files
from server import idempotency
from server.audit import repo as audit
from server.errors import Conflict, FieldProblem, InvalidInput, NotFound
from server.ids import parse_object_id
from server.rooms.service import authorize_room
from server.staff.roles import Actor
from server.stock import repo as stock_repo
from server.stock.ledger import Move, MoveKind
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

# A photo of a damaged book does not need a camera's full 12 MB.
PHOTO_MAX_BYTES = 4_000_000
AFTER_RECEIVING = {ShipmentStatus.RECEIVED, ShipmentStatus.DISCREPANCY, ShipmentStatus.CLAIMED,
                   ShipmentStatus.RECONCILED, ShipmentStatus.CLOSED}


def _boxes_to_count(doc: dict[str, Any], codes: list[str]) -> list[dict[str, Any]]:
    """The boxes named by ``codes`` (every box not yet received when empty)."""
    done = set(doc.get("received_boxes", []))
    by_code = {b["code"]: b for b in doc["boxes"]}
    if not codes:
        remaining = [b for b in doc["boxes"] if b["code"] not in done]
        if not remaining:
            raise Conflict("这张配送单已经收过货了", code="already_received")
        return remaining
    problems = [FieldProblem(("body", "box_codes", i), f"{c} 不是这张配送单的箱子")
                for i, c in enumerate(codes) if c not in by_code]
    if len(set(codes)) != len(codes):
        problems.append(FieldProblem(("body", "box_codes"), "箱号重复"))
    if problems:
        raise InvalidInput("箱号不对：请扫这张配送单上的箱子", code="unknown_box", errors=problems)
    again = [c for c in codes if c in done]
    if again:
        raise Conflict(f"这些箱子已经收过了：{'、'.join(again)}", code="already_received",
                       errors=[FieldProblem(("body", "box_codes", codes.index(c)), "已收货") for c in again])
    return [by_code[c] for c in codes]


def count_lines(expected: dict[str, int], data: ReceiptIn) -> dict[str, dict[str, int]]:
    """Per title in the boxes: received, damaged, short. InvalidInput naming each bad line:
    a title not in these boxes, a title twice, more copies than packed, a title left out."""
    problems: list[FieldProblem] = []
    seen: dict[str, dict[str, int]] = {}
    for i, line in enumerate(data.lines):
        if line.title_id not in expected:
            problems.append(FieldProblem(("body", "lines", i, "title_id"), "这些箱子里没有这种书，请登记为错发"))
        elif line.title_id in seen:
            problems.append(FieldProblem(("body", "lines", i, "title_id"), "同一种书只能有一行"))
        elif line.received + line.damaged > expected[line.title_id]:
            problems.append(FieldProblem(("body", "lines", i, "received"),
                                         f"装箱只有 {expected[line.title_id]} 册，多出的请登记为错发"))
        else:
            seen[line.title_id] = {"received": line.received, "damaged": line.damaged,
                                   "short": expected[line.title_id] - line.received - line.damaged}
    for title_id in sorted(set(expected) - {line.title_id for line in data.lines}):
        problems.append(FieldProblem(("body", "lines"), f"缺少 {title_id} 的清点数"))
    if problems:
        raise InvalidInput("清点数有误，请核对后再提交", code="receipt_lines_invalid", errors=problems[:50])
    return seen


async def _check_photos(deps: Deps, shipment_id: ObjectId, data: ReceiptIn) -> None:
    wanted = [(("body", "lines", i, "photo_id"), x.photo_id) for i, x in enumerate(data.lines) if x.photo_id]
    wanted += [(("body", "wrong_items", i, "photo_id"), x.photo_id) for i, x in enumerate(data.wrong_items)
               if x.photo_id]
    if not wanted:
        return
    found = await repo.photos_exist(deps.db, shipment_id, [ObjectId(p) for _, p in wanted])
    missing = [FieldProblem(loc, "没有这张照片（请先上传）") for loc, p in wanted if ObjectId(p) not in found]
    if missing:
        raise InvalidInput("照片没有找到，请重新上传", code="photo_not_found", errors=missing)


async def receive_shipment(deps: Deps, actor: Actor, shipment_id: str, data: ReceiptIn) -> ReceiptOut:
    """Count boxes of a dispatched shipment into the room's stock (see the module docstring).

    Raises NotFound, Forbidden (another room), InvalidInput (bad lines, unknown boxes or
    photos), Conflict ``already_received`` (boxes counted before under another op_id) or
    ``not_dispatched``.
    """
    doc = await load_shipment(deps, actor, shipment_id)
    await authorize_room(deps, actor, doc["room"])
    await _check_photos(deps, doc["_id"], data)

    async def work(session: Any) -> dict[str, Any]:
        current = await repo.by_id(deps.db, doc["_id"], session=session)
        assert current is not None
        status = current["status"]
        if status in AFTER_RECEIVING:
            raise Conflict("这张配送单已经收过货了", code="already_received")
        if status != ShipmentStatus.DISPATCHED:
            raise Conflict(f"配送单还没有发货（当前：{status}），不能收货", code="not_dispatched")
        boxes = _boxes_to_count(current, data.box_codes)
        codes = [b["code"] for b in boxes]
        counted = count_lines(copies_by_title(boxes), data)
        now = db_now()
        room = current["room"]
        moves = [Move(room, t, MoveKind.RECEIVE, c["received"]) for t, c in counted.items() if c["received"] > 0]
        await stock_repo.apply_moves(deps.db, session, moves, op_id=data.op_id, actor=actor.username, at=now,
                                     reference={"shipment": str(current["_id"]), "boxes": codes})
        lines = []
        for line in current["lines"]:
            c = counted.get(line["title_id"])
            lines.append({**line, **{k: line.get(k, 0) + c[k] for k in ("received", "damaged", "short")}}
                         if c else line)
        wrong = [{**w.model_dump(), "boxes": codes, "at": now, "by": actor.username} for w in data.wrong_items]
        notes = [{"title_id": x.title_id, "note": x.note, "photo_id": x.photo_id} for x in data.lines
                 if x.note or x.photo_id]
        all_done = len(set(current.get("received_boxes", [])) | set(codes)) == len(current["boxes"])
        sets: dict[str, Any] = {"lines": lines, "updated_at": now,
                                **{f"box_received_at.{c}": now for c in codes}}
        push: dict[str, Any] = {
            "received_boxes": {"$each": codes}, "wrong_items": {"$each": wrong},
            "receipts": {"op_id": data.op_id, "at": now, "by": actor.username, "boxes": codes, "notes": notes},
        }
        final = None
        if all_done:
            troubled = any(x["short"] or x["damaged"] for x in lines) or current.get("wrong_items") or wrong
            final = ShipmentStatus.DISCREPANCY if troubled else ShipmentStatus.RECEIVED
            sets.update({"status": str(final), f"timestamps.{final}": now})
            push["history"] = {"from_status": status, "to_status": str(final), "at": now, "by": actor.username,
                               "note": ""}
        guard = {"status": str(ShipmentStatus.DISPATCHED), "received_boxes": {"$nin": codes}}
        if not await repo.guarded_update(deps.db, session, current["_id"], guard, {"$set": sets, "$push": push}):
            raise Conflict("这些箱子刚被另一部手机收货了", code="already_received")
        totals = {k: sum(c[k] for c in counted.values()) for k in ("received", "damaged", "short")}
        wrong_copies = sum(w.copies for w in data.wrong_items)
        await audit.record(deps.db, actor, "distribution.shipment.receive", target_type="shipment",
                           target_id=str(current["_id"]), room=room,
                           changes={"op_id": data.op_id, "boxes": codes, **totals, "wrong": wrong_copies},
                           session=session)
        return {"shipment_id": str(current["_id"]), "room": room, "boxes": codes, **totals, "wrong": wrong_copies,
                "status": str(final) if final else status, "complete": all_done}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="shipment_receive",
                                                  room=doc["room"], actor=actor.username, work=work)
    return ReceiptOut(op_id=data.op_id, replayed=replayed, result=result)


async def upload_photo(deps: Deps, actor: Actor, shipment_id: str, body: bytes,
                       content_type: str | None) -> PhotoOut:
    """Keep a photo of a short, damaged or wrong item (JPEG or PNG, magic bytes checked,
    at most PHOTO_MAX_BYTES; re-encoded as JPEG without EXIF). Returns its id for a receipt line."""
    files.check_declared_type(content_type, len(body), PHOTO_MAX_BYTES)
    doc = await load_shipment(deps, actor, shipment_id)
    await authorize_room(deps, actor, doc["room"])
    clean = await asyncio.to_thread(files.clean_image, body)
    photo = {"_id": ObjectId(), "shipment_id": doc["_id"], "room": doc["room"], "data": clean.data,
             "content_type": clean.content_type, "sha256": clean.sha256, "width": clean.width,
             "height": clean.height, "bytes": len(clean.data), "at": db_now(), "by": actor.username}

    async def work(session: Any) -> None:
        await repo.insert_photo(deps.db, photo, session=session)
        await audit.record(deps.db, actor, "distribution.shipment.photo", target_type="shipment",
                           target_id=str(doc["_id"]), room=doc["room"],
                           changes={"photo_id": str(photo["_id"]), "bytes": len(clean.data)}, session=session)

    await in_transaction(deps.mongo, work)
    photo_id = photo["_id"]
    return PhotoOut(photo_id=str(photo_id), content_type=clean.content_type, bytes=len(clean.data))


async def photo_bytes(deps: Deps, actor: Actor, photo_id: str) -> bytes:
    oid = parse_object_id(photo_id, loc=("path", "photo_id"))
    doc = await repo.photo(deps.db, oid)
    if doc is None:
        raise NotFound("没有这张照片", code="photo_not_found")
    await load_shipment(deps, actor, str(doc["shipment_id"]))
    return bytes(doc["data"])
