"""Demand-led ordering (百姓点单): the administrators' picks, readers' accepted
suggestions and unfilled holds, recorded as ``dist_picks`` of a plan.

Contracts:
- ``save_room_picks`` replaces a room's admin picks, once per op_id (a replay returns the
  first answer and changes nothing). Only inside the window (RuleViolation
  ``window_closed``), only for the actor's rooms (Forbidden / NotFound), only candidates
  of the plan (InvalidInput naming ``items.<i>.title_id``). Audited.
- ``refresh_demand`` replaces the plan's reader_suggestion and hold picks in one
  transaction: accepted suggestions of each plan room matched to candidates by ISBN
  (1 copy each), waiting holds of candidate titles per pickup room (copies = holds,
  at most HOLD_COPIES_MAX).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId

from distribution.plans import repo
from distribution.plans.models import (
    DemandRefreshOut,
    PickOut,
    PicksIn,
    PlanPicks,
    RoomPicks,
    TitlePickCount,
)
from distribution.plans.service import get_plan_doc, window_open
from server import idempotency
from server.audit import repo as audit
from server.catalog.isbn import IsbnError, to_isbn13
from server.errors import FieldProblem, InvalidInput, NotFound, RuleViolation
from server.rooms.service import authorize_room
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

HOLD_COPIES_MAX = 3
OP_KIND = "dist.picks"


async def _room_in_plan(deps: Deps, actor: Actor, plan: dict[str, Any], code: str) -> dict[str, Any]:
    room = await authorize_room(deps, actor, code)
    if room["code"] not in (plan.get("rooms") or []):
        raise NotFound(f"{room['name']}不在本年度配送计划中", code="room_not_in_plan")
    return room


def _room_picks(plan_id: ObjectId, room: str, picks: list[dict[str, Any]], cands: dict[str, dict[str, Any]],
                replayed: bool = False) -> RoomPicks:
    items = []
    for p in picks:
        c = cands.get(p["title_id"], {})
        items.append(PickOut(title_id=p["title_id"], title=c.get("title", p["title_id"]), category=c.get("category", "其他"),
                             price_fen=int(c.get("price_fen", 0)), copies=p["copies"], kind=p["kind"]))
    admin = [i for i in items if i.kind == "admin"]
    return RoomPicks(plan_id=str(plan_id), room=room, items=items, titles=len(admin),
                     copies=sum(i.copies for i in admin), fen=sum(i.copies * i.price_fen for i in admin),
                     replayed=replayed)


async def room_picks(deps: Deps, actor: Actor, plan_id: str, code: str) -> RoomPicks:
    """Every pick of one room in the plan (admin, reader_suggestion, hold)."""
    plan = await get_plan_doc(deps, plan_id)
    room = await _room_in_plan(deps, actor, plan, code)
    picks = await repo.room_picks(deps.db, plan["_id"], room["code"])
    cands = await repo.candidates_by_title(deps.db, plan["_id"], [p["title_id"] for p in picks])
    return _room_picks(plan["_id"], room["code"], picks, cands)


async def save_room_picks(deps: Deps, actor: Actor, plan_id: str, code: str, data: PicksIn) -> RoomPicks:
    """Replace the room's admin picks (see the module docstring)."""
    plan = await get_plan_doc(deps, plan_id)
    room = await _room_in_plan(deps, actor, plan, code)
    prior = await idempotency.previous(deps.db, data.op_id, OP_KIND)
    if prior is not None and prior["ok"]:
        picks = await repo.room_picks(deps.db, plan["_id"], room["code"])
        cands = await repo.candidates_by_title(deps.db, plan["_id"], [p["title_id"] for p in picks])
        return _room_picks(plan["_id"], room["code"], picks, cands, replayed=True)
    seen: dict[str, int] = {}
    for i, item in enumerate(data.items):
        if item.title_id in seen:
            raise InvalidInput("同一种书选了两次", code="duplicate_pick",
                               errors=[FieldProblem(("body", "items", i, "title_id"), f"与第 {seen[item.title_id] + 1} 项重复")])
        seen[item.title_id] = i
    cands = await repo.candidates_by_title(deps.db, plan["_id"], list(seen))
    missing = [(i, t) for t, i in seen.items() if t not in cands]
    if missing:
        raise InvalidInput(f"有 {len(missing)} 种书不在本年度候选书目中", code="not_a_candidate",
                           errors=[FieldProblem(("body", "items", i, "title_id"), "不是候选书目") for i, _ in missing[:50]])
    now = db_now()
    docs = [{"_id": ObjectId(), "plan_id": plan["_id"], "room": room["code"], "title_id": item.title_id,
             "copies": item.copies, "by": actor.username, "kind": "admin", "at": now} for item in data.items]

    async def work(session: Any) -> dict[str, Any]:
        fresh = await repo.plan_by_id(deps.db, plan["_id"], session=session)
        if fresh is None or not window_open(fresh):
            raise RuleViolation("百姓点单不在开放时间内，不能再修改选书", code="window_closed")
        await repo.replace_picks(deps.db, plan["_id"], kinds=["admin"], room=room["code"], docs=docs, session=session)
        await audit.record(deps.db, actor, "dist_plan.picks", target_type="dist_plan", target_id=plan_id,
                           room=room["code"], changes={"titles": len(docs), "copies": sum(d["copies"] for d in docs),
                                                       "op_id": data.op_id}, session=session)
        return {"titles": len(docs)}

    _, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind=OP_KIND, room=room["code"],
                                             actor=actor.username, work=work)
    picks = await repo.room_picks(deps.db, plan["_id"], room["code"])
    cands = await repo.candidates_by_title(deps.db, plan["_id"], [p["title_id"] for p in picks])
    return _room_picks(plan["_id"], room["code"], picks, cands, replayed=replayed)


async def plan_picks(deps: Deps, plan_id: str, room: str | None) -> PlanPicks:
    """Counts per title over every room (or one room): rooms, copies, and per kind."""
    plan = await get_plan_doc(deps, plan_id)
    rows = await repo.pick_counts(deps.db, plan["_id"], room)
    per_title: dict[str, dict[str, Any]] = {}
    for r in rows:
        entry = per_title.setdefault(r["_id"]["t"], {"rooms": set(), "copies": 0, "by_kind": {}})
        entry["rooms"] |= set(r["rooms"])
        entry["copies"] += r["copies"]
        entry["by_kind"][r["_id"]["k"]] = entry["by_kind"].get(r["_id"]["k"], 0) + r["copies"]
    cands = await repo.candidates_by_title(deps.db, plan["_id"], list(per_title))
    titles = [TitlePickCount(title_id=t, title=cands.get(t, {}).get("title", t),
                             category=cands.get(t, {}).get("category", "其他"), rooms=len(e["rooms"]),
                             copies=e["copies"], by_kind=e["by_kind"]) for t, e in per_title.items()]
    titles.sort(key=lambda x: (-x.rooms, -x.copies, x.title_id))
    all_rooms = set().union(*(e["rooms"] for e in per_title.values())) if per_title else set()
    return PlanPicks(plan_id=str(plan["_id"]), room=room, titles=titles, rooms_with_picks=len(all_rooms))


async def refresh_demand(deps: Deps, actor: Actor, plan_id: str) -> DemandRefreshOut:
    """Record readers' accepted suggestions and waiting holds as picks (see the module docstring)."""
    from miniprogram_api.books.suggestions import demand_for_room

    plan = await get_plan_doc(deps, plan_id)
    if plan.get("history") or plan["status"] not in ("draft", "selection_open", "selection_closed"):
        raise RuleViolation("计划已锁定或结束，不能再更新需求", code="plan_not_editable")
    cands = {c["title_id"]: c for c in await repo.all_candidates(deps.db, plan["_id"])}
    rooms = list(plan.get("rooms") or [])
    now = db_now()
    docs: list[dict[str, Any]] = []
    unmatched = 0
    taken: set[tuple[str, str]] = set()
    # One small query per room: the suggestions part offers demand by room only.
    for room in rooms:
        for s in await demand_for_room(deps, room):
            try:
                title_id = to_isbn13(s["isbn"]) if s.get("isbn") else None
            except IsbnError:
                title_id = None
            if title_id is None or title_id not in cands:
                unmatched += 1
                continue
            if (room, title_id) in taken:
                continue
            taken.add((room, title_id))
            docs.append({"_id": ObjectId(), "plan_id": plan["_id"], "room": room, "title_id": title_id, "copies": 1,
                         "by": actor.username, "kind": "reader_suggestion", "at": now,
                         "supporters": int(s.get("supporters") or 0)})
    suggestions = len(docs)
    for h in await repo.waiting_holds(deps.db, list(cands), rooms):
        docs.append({"_id": ObjectId(), "plan_id": plan["_id"], "room": h["_id"]["r"], "title_id": h["_id"]["t"],
                     "copies": min(int(h["n"]), HOLD_COPIES_MAX), "by": actor.username, "kind": "hold", "at": now,
                     "holds": int(h["n"])})

    async def work(session: Any) -> None:
        await repo.replace_picks(deps.db, plan["_id"], kinds=["reader_suggestion", "hold"], room=None, docs=docs,
                                 session=session)
        await audit.record(deps.db, actor, "dist_plan.demand_refresh", target_type="dist_plan", target_id=plan_id,
                           changes={"reader_suggestions": suggestions, "holds": len(docs) - suggestions},
                           session=session)

    await in_transaction(deps.mongo, work)
    return DemandRefreshOut(reader_suggestions=suggestions, holds=len(docs) - suggestions, unmatched_suggestions=unmatched)
