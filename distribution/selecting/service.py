"""Selection runs of a plan: run the optimizer on the plan's candidates and demand, store
the run in ``dist_selection_runs``, list runs, show one (per room), diff two.

Contracts:
- ``start_run``: NotFound (plan), RuleViolation ``plan_locked`` once the plan is locked or
  later, InvalidInput naming ``pins.<i>.room``/``title_id`` (or forbids) for a room not in
  the plan or a title not a candidate, RuleViolation ``selection_infeasible`` (422) with
  the Chinese explanation when the rules cannot be met (nothing stored). Otherwise the run
  is stored with the next run_no and audited in one transaction, and returned with its
  diff against the previous run. The solve runs in a worker thread (``asyncio.to_thread``)
  under ``time_limit_secs`` so the event loop stays free.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from distribution.plans import repo as plans_repo
from distribution.plans.service import get_plan_doc, object_id, settings_of
from distribution.selecting import repo
from distribution.selecting.demand import expected_use, gather_demand
from distribution.selecting.models import (
    ChangeOut,
    DiffOut,
    DiffQuery,
    LineOut,
    RoomDiff,
    RunCreated,
    RunIn,
    RunList,
    RunOut,
    RunQuery,
    RunSummary,
)
from distribution.selection import Candidate, Rules, select_titles
from server.audit import repo as audit
from server.errors import Conflict, FieldProblem, InvalidInput, NotFound, RuleViolation
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

LOCKED = {"locked", "shipping", "closed"}


def diff_lines(new: Iterable[Mapping[str, Any]], old: Iterable[Mapping[str, Any]]) -> list[RoomDiff]:
    """Per room: titles added, removed, and copies changed (pure)."""
    a: dict[str, dict[str, int]] = {}
    b: dict[str, dict[str, int]] = {}
    for src, dst in ((new, a), (old, b)):
        for ln in src:
            dst.setdefault(ln["room"], {})[ln["title_id"]] = int(ln["copies"])
    out = []
    for room in sorted(set(a) | set(b)):
        na, nb = a.get(room, {}), b.get(room, {})
        added = sorted(set(na) - set(nb))
        removed = sorted(set(nb) - set(na))
        changed = [ChangeOut(title_id=t, copies_before=nb[t], copies_after=na[t])
                   for t in sorted(set(na) & set(nb)) if na[t] != nb[t]]
        if added or removed or changed:
            out.append(RoomDiff(room=room, added=added, removed=removed, changed=changed))
    return out


def _diff_out(run_id: ObjectId, against: ObjectId | None, rooms: list[RoomDiff]) -> DiffOut:
    return DiffOut(run_id=str(run_id), against=str(against) if against else None, rooms=rooms,
                   added=sum(len(r.added) for r in rooms), removed=sum(len(r.removed) for r in rooms),
                   changed=sum(len(r.changed) for r in rooms))


def _summary_fields(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": str(doc["_id"]), "plan_id": str(doc["plan_id"]), "run_no": doc["run_no"],
            "created_at": doc["created_at"], "created_by": doc["created_by"], "status": doc["status"],
            "objective": doc["objective"], "bound": doc.get("bound"), "gap": doc.get("gap"),
            "wall_secs": doc["wall_secs"], "method": doc["method"], "params": doc.get("params", {}),
            "totals": doc.get("totals", {}), "violations": doc.get("violations", []),
            "pins": doc.get("pins", []), "forbids": doc.get("forbids", [])}


def _check_refs(body: RunIn, rooms: set[str], cands: set[str]) -> None:
    problems = []
    groups: tuple[tuple[str, list[Any]], ...] = (("pins", body.pins), ("forbids", body.forbids))
    for field, items in groups:
        for i, p in enumerate(items):
            if p.room is not None and p.room not in rooms:
                problems.append(FieldProblem(("body", field, i, "room"), "该书屋不在本计划中"))
            if p.title_id not in cands:
                problems.append(FieldProblem(("body", field, i, "title_id"), "不是本计划的候选书目"))
    if problems:
        raise InvalidInput("固定选入或排除的书目有误", code="selection_refs_invalid", errors=problems)


async def start_run(deps: Deps, actor: Actor, plan_id: str, body: RunIn) -> RunCreated:
    plan = await get_plan_doc(deps, plan_id)
    if plan.get("status") in LOCKED or plan.get("history"):
        raise RuleViolation("计划已锁定，不能再运行选书", code="plan_locked")
    cand_docs = await plans_repo.all_candidates(deps.db, plan["_id"])
    _check_refs(body, set(plan.get("rooms") or []), {c["title_id"] for c in cand_docs})
    # The settings the plan's own check reads (defaults filled in), so the optimizer works to
    # exactly the rules that locking the plan enforces.
    rules = Rules.from_plan(settings_of(plan))
    candidates = [Candidate(title_id=c["title_id"], price_fen=int(c["price_fen"]), category=c.get("category") or "其他",
                            on_list=bool(c.get("on_list")), province=c.get("publisher_province") or "",
                            publisher=c.get("publisher") or "", title=c.get("title") or "") for c in cand_docs]
    signals = await gather_demand(deps, plan, cand_docs)
    demands = expected_use(rules, signals)
    pins = [(p.room, p.title_id) for p in body.pins]
    forbids = [(p.room, p.title_id) for p in body.forbids]
    res = await asyncio.to_thread(select_titles, rules, candidates, demands, pins=pins, forbids=forbids,
                                  time_limit=float(body.time_limit_secs))
    if res.status in {"infeasible", "time_limit_no_solution"}:
        raise RuleViolation("无法生成选书方案：" + "；".join(res.explanation), code="selection_infeasible",
                            errors=[FieldProblem(("body",), e) for e in res.explanation])
    now = db_now()
    doc: dict[str, Any] = {
        "_id": ObjectId(), "plan_id": plan["_id"], "created_at": now, "created_by": actor.username,
        "status": res.status, "objective": round(res.objective, 4), "bound": res.bound, "gap": res.gap,
        "wall_secs": round(res.wall_secs, 3), "method": res.method,
        "params": {"time_limit_secs": body.time_limit_secs, "rooms": len(demands), "candidates": len(candidates),
                   **{k: v for k, v in res.stats.items() if isinstance(v, int | float | str | bool) or v is None}},
        "pins": [p.model_dump() for p in body.pins], "forbids": [p.model_dump() for p in body.forbids],
        "lines": [{"room": ln.room, "title_id": ln.title_id, "copies": ln.copies, "price_fen": ln.price_fen,
                   "category": ln.category, "on_list": ln.on_list, "province": ln.province,
                   "reasons": list(ln.reasons)} for ln in res.lines],
        "totals": res.totals, "violations": [v.__dict__ for v in res.violations],
    }
    last_no, _last_id = await repo.latest_run_no(deps.db, plan["_id"])
    doc["run_no"] = last_no + 1
    previous = await repo.previous_run(deps.db, plan["_id"], doc["run_no"])

    async def work(session: Any) -> None:
        await repo.insert_run(deps.db, doc, session=session)
        await audit.record(deps.db, actor, "dist_selection.run", target_type="dist_plan", target_id=str(plan["_id"]),
                           changes={"run_no": doc["run_no"], "status": doc["status"], "objective": doc["objective"],
                                    "lines": len(doc["lines"])}, session=session)

    try:
        await in_transaction(deps.mongo, work)
    except DuplicateKeyError:
        raise Conflict("另一次选书运行同时完成，请刷新后重试", code="selection_run_conflict") from None
    diff = _diff_out(doc["_id"], previous["_id"] if previous else None,
                     diff_lines(doc["lines"], previous["lines"] if previous else []))
    return RunCreated(**_summary_fields(doc), lines_total=len(doc["lines"]), diff=diff)


async def list_runs(deps: Deps, plan_id: str) -> RunList:
    plan = await get_plan_doc(deps, plan_id)
    return RunList(items=[RunSummary(**_summary_fields(d)) for d in await repo.runs(deps.db, plan["_id"])])


async def _run_doc(deps: Deps, plan_id: str, run_id: str, loc: tuple[str, ...] = ("path", "run_id")) -> dict[str, Any]:
    plan = await get_plan_doc(deps, plan_id)
    rid = object_id(run_id, "run_id", loc)
    doc = await repo.run(deps.db, plan["_id"], rid)
    if doc is None:
        raise NotFound("没有这次选书方案", code="run_id_not_found", errors=[FieldProblem(loc, "不存在")])
    return doc


async def get_run(deps: Deps, plan_id: str, run_id: str, query: RunQuery) -> RunOut:
    doc = await _run_doc(deps, plan_id, run_id)
    lines = [ln for ln in doc.get("lines", []) if query.room is None or ln["room"] == query.room]
    return RunOut(**_summary_fields(doc), lines=[LineOut(**ln) for ln in lines])


async def diff_runs(deps: Deps, plan_id: str, run_id: str, query: DiffQuery) -> DiffOut:
    doc = await _run_doc(deps, plan_id, run_id)
    if query.against:
        other: dict[str, Any] | None = await _run_doc(deps, plan_id, query.against, ("query", "against"))
    else:
        other = await repo.previous_run(deps.db, doc["plan_id"], doc["run_no"])
    return _diff_out(doc["_id"], other["_id"] if other else None,
                     diff_lines(doc.get("lines", []), other.get("lines", []) if other else []))
