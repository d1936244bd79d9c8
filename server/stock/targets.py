"""Target stock per room, and the rebalancing planner fed from the database.

Targets live in ``stock_targets`` (one per room; a room without one has the
district default, rebalance.DEFAULT_TARGET_VOLUMES). A room's *level* — the number
counted against its target — is on_shelf + on_loan, minus copies already
requested out of it, plus copies on their way in (requested or sent to it), so
a plan never counts the same copy twice. The planning itself is the pure
``server.stock.rebalance``; this module only gathers its inputs and turns chosen
suggestions into transfer requests.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server import idempotency
from server.audit import repo as audit
from server.errors import FieldProblem, InvalidInput, RuleViolation
from server.rooms import repo as rooms_repo
from server.rooms.service import authorize_room
from server.staff.roles import Actor
from server.stock import repo, transfers
from server.stock.models import (
    RebalanceOut,
    RebalanceQuery,
    RebalanceRequestIn,
    RebalanceRequestOut,
    RoomBalance,
    SuggestedTransfer,
    TargetIn,
    TargetOut,
    TransferLine,
    TransferOut,
)
from server.stock.rebalance import (
    DEFAULT_TARGET,
    RoomCounts,
    Target,
    destination_for_returned_copy,
    suggest_rebalancing,
)
from server.stock.service import TITLES
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

STOCK_TARGETS = "stock_targets"
INDEXES = {STOCK_TARGETS: [IndexModel([("room", ASCENDING)], unique=True)]}
# The six-class category (政经/科技/生活/文化/少儿/其他) a catalog title carries.
CATEGORY_FIELD = "category"


async def load_targets(db: AsyncDatabase, codes: list[str] | None = None) -> dict[str, Target]:
    flt = {"room": {"$in": codes}} if codes is not None else {}
    docs = await db[STOCK_TARGETS].find(flt).to_list()
    return {d["room"]: Target(total=d["total"], categories=d.get("categories", {})) for d in docs}


async def room_levels(db: AsyncDatabase, codes: list[str] | None = None) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """(level per room, copies requested out per room and title). Two queries."""
    match: dict[str, Any] = {"room": {"$in": codes}} if codes is not None else {}
    rows = await (await db[repo.HOLDINGS].aggregate([
        {"$match": match},
        {"$group": {"_id": "$room", "n": {"$sum": {"$add": ["$on_shelf", "$on_loan"]}}}},
    ])).to_list()
    level: dict[str, int] = defaultdict(int, {r["_id"]: int(r["n"]) for r in rows})
    reserved: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t in await transfers.open_transfer_lines(db):
        copies = sum(line["quantity"] for line in t["lines"])
        level[t["destination"]] += copies
        if t["state"] == "requested":  # still on the origin's shelf, but promised away
            level[t["origin"]] -= copies
            for line in t["lines"]:
                reserved[t["origin"]][line["title_id"]] += line["quantity"]
    return level, reserved


def _room_counts(room: dict[str, Any], level: int, on_shelf: dict[str, int] | None = None,
                 by_category: dict[str, int] | None = None) -> RoomCounts:
    lng, lat = room["location"]["coordinates"]
    return RoomCounts(room["code"], room["town"], lat, lng, level, on_shelf or {}, by_category or {})


async def _active_rooms(db: AsyncDatabase, town: str | None = None) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"status": "active"}
    if town:
        flt["town"] = town
    return await db[rooms_repo.COLLECTION].find(flt, {"code": 1, "town": 1, "location": 1}).to_list()


def _target_out(room: str, target: Target | None, level: int, doc: dict[str, Any] | None) -> TargetOut:
    t = target or DEFAULT_TARGET
    return TargetOut(room=room, total=t.total, categories=dict(t.categories), default=target is None, level=level,
                     deficit=t.total - level, updated_at=(doc or {}).get("updated_at"),
                     updated_by=(doc or {}).get("updated_by"))


async def get_target(deps: Deps, actor: Actor, room: str) -> TargetOut:
    await authorize_room(deps, actor, room)
    doc = await deps.db[STOCK_TARGETS].find_one({"room": room})
    levels, _ = await room_levels(deps.db, [room])
    target = Target(doc["total"], doc.get("categories", {})) if doc else None
    return _target_out(room, target, levels[room], doc)


async def set_target(deps: Deps, actor: Actor, room: str, data: TargetIn) -> TargetOut:
    """Set a room's target (district staff; the handler enforces the role). Audited."""
    await authorize_room(deps, actor, room)
    if data.categories and sum(data.categories.values()) > data.total:
        raise InvalidInput("各类目标之和超过总目标", code="categories_exceed_total",
                           errors=[FieldProblem(("body", "categories"), f"合计不能超过 {data.total}")])
    now = db_now()

    async def work(session: AsyncClientSession) -> dict[str, Any] | None:
        before = await deps.db[STOCK_TARGETS].find_one_and_update(
            {"room": room}, {"$set": {"total": data.total, "categories": dict(data.categories), "updated_at": now,
                                      "updated_by": actor.username}}, upsert=True, session=session)
        await audit.record(deps.db, actor, "stock.target", target_type="room", target_id=room, room=room,
                           changes={"from": {"total": before["total"], "categories": before.get("categories", {})}
                                    if before else None, "to": data.model_dump()}, session=session)
        return before

    await in_transaction(deps.mongo, work)
    return await get_target(deps, actor, room)


async def planner_input(db: AsyncDatabase, town: str | None = None) -> tuple[dict[str, RoomCounts], dict[str, Target], dict[str, str]]:
    """Rooms (active, optionally of one town) with levels and movable copies per title,
    their targets, and title categories when any target has categories."""
    rooms = await _active_rooms(db, town)
    codes = [r["code"] for r in rooms]
    targets = await load_targets(db, codes)
    level, reserved = await room_levels(db, codes)
    involved = [c for c in codes if level[c] != targets.get(c, DEFAULT_TARGET).total]
    with_categories = any(t.categories for t in targets.values())
    rows = await db[repo.HOLDINGS].find(
        {"room": {"$in": involved}, "$or": [{"on_shelf": {"$gt": 0}}, {"on_loan": {"$gt": 0}}]},
        {"_id": 0, "room": 1, "title_id": 1, "on_shelf": 1, "on_loan": 1}).to_list()
    shelf: dict[str, dict[str, int]] = defaultdict(dict)
    for row in rows:
        free = row["on_shelf"] - reserved[row["room"]].get(row["title_id"], 0)
        if free > 0:
            shelf[row["room"]][row["title_id"]] = free
    categories: dict[str, str] = {}
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    if with_categories:
        titles = await db[TITLES].find({"_id": {"$in": list({r["title_id"] for r in rows})}},
                                       {CATEGORY_FIELD: 1}).to_list()
        categories = {t["_id"]: t[CATEGORY_FIELD] for t in titles if t.get(CATEGORY_FIELD)}
        for row in rows:
            if row["title_id"] in categories:
                by_category[row["room"]][categories[row["title_id"]]] += row["on_shelf"] + row["on_loan"]
    counts = {r["code"]: _room_counts(r, level[r["code"]], shelf.get(r["code"]), dict(by_category.get(r["code"], {})))
              for r in rooms}
    return counts, targets, categories


async def suggest(deps: Deps, actor: Actor, query: RebalanceQuery) -> RebalanceOut:
    """Proposed transfers (nothing is written) and the rooms below and above target."""
    if query.town and deps.settings.district.town(query.town) is None:
        raise InvalidInput(f"{query.town} 不是本区的镇街", code="unknown_town",
                           errors=[FieldProblem(("query", "town"), "未知镇街")])
    counts, targets, categories = await planner_input(deps.db, query.town)
    plan = suggest_rebalancing(counts, targets, query.max_moves, title_categories=categories,
                               max_copies_per_transfer=query.max_copies_per_transfer)
    balances = [RoomBalance(room=c.code, town=c.town, level=c.level, target=targets.get(c.code, DEFAULT_TARGET).total,
                            deficit=targets.get(c.code, DEFAULT_TARGET).total - c.level) for c in counts.values()]
    return RebalanceOut(
        suggestions=[SuggestedTransfer(origin=p.origin, destination=p.destination, copies=p.copies,
                                       distance_km=p.distance_km, same_town=p.same_town,
                                       lines=[TransferLine(title_id=t, quantity=q) for t, q in p.lines])
                     for p in plan],
        rooms_below=sorted((b for b in balances if b.deficit > 0), key=lambda b: (-b.deficit, b.room)),
        rooms_above=sorted((b for b in balances if b.deficit < 0), key=lambda b: (b.deficit, b.room)),
    )


async def request_suggestions(deps: Deps, actor: Actor, data: RebalanceRequestIn) -> RebalanceRequestOut:
    """Open one transfer request (source rebalancing) per chosen suggestion, in one
    transaction. NotFound for an unknown room, InvalidInput for an unknown title or a
    suggestion from a room to itself, RuleViolation for an inactive room."""
    codes = list(dict.fromkeys(c for s in data.suggestions for c in (s.origin, s.destination)))
    rooms = await deps.db[rooms_repo.COLLECTION].find({"code": {"$in": codes}}, {"code": 1, "status": 1}).to_list()
    known = {r["code"]: r for r in rooms}
    problems = []
    for i, s in enumerate(data.suggestions):
        if s.origin == s.destination:
            problems.append(FieldProblem(("body", "suggestions", i, "destination"), "调出与调入书屋相同"))
        for field in ("origin", "destination"):
            if getattr(s, field) not in known:
                problems.append(FieldProblem(("body", "suggestions", i, field), "书屋不存在"))
    title_ids = list({line.title_id for s in data.suggestions for line in s.lines})
    found = {t["_id"] for t in await deps.db[TITLES].find({"_id": {"$in": title_ids}}, {"_id": 1}).to_list()}
    problems += [FieldProblem(("body", "suggestions", i, "lines", j, "title_id"), f"{line.title_id} 不在目录中")
                 for i, s in enumerate(data.suggestions) for j, line in enumerate(s.lines) if line.title_id not in found]
    if problems:
        raise InvalidInput("调拨建议有误", code="invalid_suggestion", errors=problems)
    inactive = [c for c in codes if known[c].get("status", "active") != "active"]
    if inactive:
        raise RuleViolation(f"书屋 {'、'.join(inactive)} 已停用", code="room_inactive")

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        docs = [transfers.request_document(origin=s.origin, destination=s.destination, lines=[
            line.model_dump() for line in s.lines], note="调剂建议", actor=actor.username, op_id=data.op_id,
            at=now, source="rebalancing") for s in data.suggestions]
        await transfers.insert_requests(deps.db, session, docs)
        await audit.record(deps.db, actor, "transfer.rebalance", target_type="transfer", target_id=data.op_id,
                           changes={"op_id": data.op_id, "transfers": [str(d["_id"]) for d in docs],
                                    "copies": sum(d["copies"] for d in docs)}, session=session)
        return {"transfers": [transfers.to_out(d).model_dump(mode="json") for d in docs]}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="rebalance_request",
                                                  room=None, actor=actor.username, work=work)
    return RebalanceRequestOut(op_id=data.op_id, replayed=replayed,
                               transfers=[TransferOut.model_validate(t) for t in result["transfers"]])


async def destination_for_return(deps: Deps, room: str, title_id: str) -> str:
    """For circulation, on a return in ``room``: the room this copy should go to — ``room``
    itself (keep it) unless ``room`` is above its target and another room is below its
    own. Reads levels of every active room (about five queries); nothing is written."""
    rooms = await _active_rooms(deps.db)
    codes = [r["code"] for r in rooms]
    targets = await load_targets(deps.db, codes)
    level, _ = await room_levels(deps.db, codes)
    holders = await deps.db[repo.HOLDINGS].find({"title_id": title_id, "on_shelf": {"$gt": 0}},
                                                {"_id": 0, "room": 1, "on_shelf": 1}).to_list()
    shelf = {h["room"]: {title_id: h["on_shelf"]} for h in holders}
    counts = {r["code"]: _room_counts(r, level[r["code"]], shelf.get(r["code"])) for r in rooms}
    return destination_for_returned_copy(room, title_id, counts, targets)
