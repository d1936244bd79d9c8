"""Replenishment plans: create, change, move through their states, check their rules.

Contracts:
- One plan per year (Conflict otherwise). Settings change only while draft or
  selection_open. Every write is audited in the same transaction.
- States: draft → selection_open → selection_closed → locked → shipping → closed;
  selection_closed → selection_open reopens the window; locked → selection_closed
  unlocks (chosen run cleared). Locking needs ``chosen_run_id``: a run of this plan
  whose lines pass every rule (RuleViolation listing each violation otherwise).
- A plan whose budget cannot pay every room's minimum carries a warning (not an error).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from distribution.plans import repo, rules
from distribution.plans.models import (
    DEFAULTS,
    STATUS_LABELS,
    CheckOut,
    HistoryTotals,
    LineIn,
    PlanCreate,
    PlanList,
    PlanOut,
    PlanUpdate,
    TransitionIn,
    Violation,
)
from server.audit import repo as audit
from server.errors import Conflict, FieldProblem, InvalidInput, NotFound, RuleViolation
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

EDITABLE_STATES = ("draft", "selection_open")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("selection_open",),
    "selection_open": ("selection_closed", "draft"),
    "selection_closed": ("locked", "selection_open"),
    "locked": ("shipping", "selection_closed"),
    "shipping": ("closed",),
    "closed": (),
}
MAX_VIOLATIONS_SHOWN = 200
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def object_id(raw: str, what: str = "plan_id", loc: tuple[str, ...] = ("path", "plan_id")) -> ObjectId:
    """A path's id; a string that cannot be one names nothing (404)."""
    try:
        return ObjectId(raw)
    except (InvalidId, TypeError):
        raise NotFound(f"没有编号为 {raw[:40]} 的{'计划' if what == 'plan_id' else '记录'}", code=f"{what}_not_found",
                       errors=[FieldProblem(loc, "编号格式不正确")]) from None


def local_today() -> date:
    return datetime.now(LOCAL_TZ).date()


def settings_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The plain settings ``rules.check`` takes."""
    keys = ("budget_fen", "min_titles_per_room", "min_fen_per_room", "list_share_min", "own_province_max",
            "own_province", "category_targets", "category_tolerance", "rooms")
    return {k: doc.get(k, DEFAULTS.get(k)) for k in keys}


def budget_warnings(doc: dict[str, Any]) -> list[str]:
    if doc.get("history"):
        return []
    need = len(doc.get("rooms") or []) * int(doc.get("min_fen_per_room") or 0)
    if doc.get("budget_fen", 0) < need:
        return [f"预算 ¥{doc['budget_fen'] // 100:,} 少于 {len(doc['rooms'])} 个书屋 × 每室至少 "
                f"¥{doc['min_fen_per_room'] // 100:,} = ¥{need // 100:,}"]
    return []


def to_out(doc: dict[str, Any]) -> PlanOut:
    values = {**DEFAULTS, **{k: v for k, v in doc.items() if k in PlanOut.model_fields}}
    return PlanOut(**{**values, "plan_id": str(doc["_id"]),
                      "chosen_run_id": str(doc["chosen_run_id"]) if doc.get("chosen_run_id") else None,
                      "history_totals": HistoryTotals(**doc["history_totals"]) if doc.get("history_totals") else None,
                      "rooms": doc.get("rooms") or [], "warnings": budget_warnings(doc)})


async def get_plan_doc(deps: Deps, plan_id: str) -> dict[str, Any]:
    doc = await repo.plan_by_id(deps.db, object_id(plan_id))
    if doc is None:
        raise NotFound(f"没有编号为 {plan_id} 的配送计划", code="plan_not_found")
    return doc


async def get_plan(deps: Deps, plan_id: str) -> PlanOut:
    return to_out(await get_plan_doc(deps, plan_id))


async def list_plans(deps: Deps) -> PlanList:
    return PlanList(items=[to_out(d) for d in await repo.plans(deps.db)])


async def _check_rooms(deps: Deps, rooms: list[str]) -> list[str]:
    rooms = sorted(set(rooms))
    known = await repo.existing_room_codes(deps.db, rooms)
    unknown = [c for c in rooms if c not in known]
    if unknown:
        raise InvalidInput(f"没有这些书屋：{'、'.join(unknown[:10])}", code="unknown_rooms",
                           errors=[FieldProblem(("body", "rooms"), f"没有 {c}") for c in unknown[:20]])
    return rooms


def _settings_doc(data: PlanCreate | PlanUpdate) -> dict[str, Any]:
    given = data.model_dump(exclude_unset=True, exclude_none=True)
    if "window" in given:
        given["window"] = {k: v.isoformat() for k, v in given["window"].items()}
    return given


async def create_plan(deps: Deps, actor: Actor, data: PlanCreate) -> PlanOut:
    """A new draft plan for ``data.year`` with the default settings where none were given.
    Conflict if the year has a plan already; InvalidInput for unknown rooms."""
    given = _settings_doc(data)
    rooms = await _check_rooms(deps, given.pop("rooms")) if data.rooms is not None else \
        await repo.active_room_codes(deps.db)
    now = db_now()
    window = given.pop("window", None) or {"opens_on": f"{data.year}-03-01", "closes_on": f"{data.year}-04-30"}
    doc = {**DEFAULTS, **given, "_id": ObjectId(), "rooms": rooms, "window": window, "status": "draft",
           "chosen_run_id": None, "history": False, "created_at": now, "updated_at": now}

    async def work(session: Any) -> None:
        await repo.insert_plan(deps.db, doc, session=session)
        await audit.record(deps.db, actor, "dist_plan.create", target_type="dist_plan", target_id=str(doc["_id"]),
                           changes={"year": doc["year"], "budget_fen": doc["budget_fen"], "rooms": len(rooms)},
                           session=session)

    try:
        await in_transaction(deps.mongo, work)
    except DuplicateKeyError:
        raise Conflict(f"{data.year} 年已有配送计划", code="plan_year_exists",
                       errors=[FieldProblem(("body", "year"), "该年已有计划")]) from None
    return to_out(doc)


async def update_plan(deps: Deps, actor: Actor, plan_id: str, data: PlanUpdate) -> PlanOut:
    """Change settings while draft or selection_open (RuleViolation ``plan_not_editable`` otherwise)."""
    doc = await get_plan_doc(deps, plan_id)
    if doc["status"] not in EDITABLE_STATES or doc.get("history"):
        raise RuleViolation(f"计划处于“{STATUS_LABELS[doc['status']]}”状态，不能修改设置", code="plan_not_editable")
    changes = _settings_doc(data)
    if "rooms" in changes:
        changes["rooms"] = await _check_rooms(deps, changes["rooms"])
    changes = {k: v for k, v in changes.items() if doc.get(k) != v}
    if not changes:
        return to_out(doc)
    before = {k: doc.get(k) for k in changes if k != "rooms"}
    changes["updated_at"] = db_now()

    async def work(session: Any) -> bool:
        ok = await repo.set_plan(deps.db, doc["_id"], changes, only_status=list(EDITABLE_STATES), session=session)
        if ok:
            await audit.record(deps.db, actor, "dist_plan.update", target_type="dist_plan", target_id=plan_id,
                               changes={k: {"from": before.get(k), "to": changes[k] if k != "rooms" else len(changes[k])}
                                        for k in changes if k != "updated_at"}, session=session)
        return ok

    if not await in_transaction(deps.mongo, work):
        raise Conflict("计划状态刚刚改变，请刷新后重试", code="plan_changed")
    return to_out({**doc, **changes})


async def transition(deps: Deps, actor: Actor, plan_id: str, data: TransitionIn) -> PlanOut:
    """Move the plan to ``data.to`` (see the module docstring). RuleViolation
    ``bad_transition`` for a move the states do not allow; locking: InvalidInput if
    ``chosen_run_id`` is missing or not this plan's run, RuleViolation ``rules_violated``
    listing each violation of the run's lines."""
    doc = await get_plan_doc(deps, plan_id)
    if doc.get("history"):
        raise RuleViolation("往年历史数据不能改变状态", code="plan_is_history")
    if data.to not in TRANSITIONS[doc["status"]]:
        raise RuleViolation(f"计划不能从“{STATUS_LABELS[doc['status']]}”变为“{STATUS_LABELS[data.to]}”",
                            code="bad_transition", errors=[FieldProblem(("body", "to"), "不允许的状态变化")])
    changes: dict[str, Any] = {"status": data.to, "updated_at": db_now()}
    if data.to == "locked":
        if data.chosen_run_id is None:
            raise InvalidInput("锁定计划需要选定一次选书方案", code="run_required",
                               errors=[FieldProblem(("body", "chosen_run_id"), "不能为空")])
        run = await repo.run_by_id(deps.db, ObjectId(data.chosen_run_id))
        if run is None or run.get("plan_id") != doc["_id"]:
            raise InvalidInput("这个选书方案不属于本计划", code="run_not_in_plan",
                               errors=[FieldProblem(("body", "chosen_run_id"), "不是本计划的选书方案")])
        found = rules.check(settings_of(doc), run.get("lines") or [])
        if found:
            raise RuleViolation(
                f"选书方案有 {len(found)} 处不符合规则，不能锁定", code="rules_violated",
                errors=[FieldProblem(("body", "chosen_run_id", v["rule"], v["room"] or "合计"), v["message"])
                        for v in found[:MAX_VIOLATIONS_SHOWN]])
        changes["chosen_run_id"] = run["_id"]
    if data.to == "selection_closed" and doc["status"] == "locked":
        changes["chosen_run_id"] = None

    async def work(session: Any) -> bool:
        ok = await repo.set_plan(deps.db, doc["_id"], changes, only_status=[doc["status"]], session=session)
        if ok:
            await audit.record(deps.db, actor, "dist_plan.transition", target_type="dist_plan", target_id=plan_id,
                               changes={"from": doc["status"], "to": data.to,
                                        "chosen_run_id": data.chosen_run_id}, session=session)
        return ok

    if not await in_transaction(deps.mongo, work):
        raise Conflict("计划状态刚刚改变，请刷新后重试", code="plan_changed")
    return to_out({**doc, **changes})


def _check_out(doc: dict[str, Any], lines: list[dict[str, Any]], run_id: str | None) -> CheckOut:
    found = rules.check(settings_of(doc), lines)
    return CheckOut(ok=not found, run_id=run_id, violations=[Violation(**v) for v in found],
                    totals=rules.totals(lines))


async def check_lines(deps: Deps, plan_id: str, lines: list[LineIn]) -> CheckOut:
    """The rule check of proposed lines against the plan's settings (nothing stored)."""
    doc = await get_plan_doc(deps, plan_id)
    return _check_out(doc, [line.model_dump() for line in lines], None)


async def check_run(deps: Deps, plan_id: str, run_id: str | None) -> CheckOut:
    """The rule check of a stored selection run (default: the latest). NotFound if none."""
    doc = await get_plan_doc(deps, plan_id)
    run = await repo.run_by_id(deps.db, ObjectId(run_id)) if run_id else await repo.latest_run(deps.db, doc["_id"])
    if run is None or run.get("plan_id") != doc["_id"]:
        raise NotFound("本计划还没有这个选书方案", code="run_not_found",
                       errors=[FieldProblem(("query", "run_id"), "没有这个方案")] if run_id else [])
    return _check_out(doc, run.get("lines") or [], str(run["_id"]))


def window_open(doc: dict[str, Any], today: date | None = None) -> bool:
    """Selection open and ``today`` (Asia/Shanghai) within the window, both ends included."""
    window = doc.get("window") or {}
    if doc.get("status") != "selection_open" or not window:
        return False
    today = today or local_today()
    return window["opens_on"] <= today.isoformat() <= window["closes_on"]
