"""Rating rounds: create, change, and move through the cycle (DOMAIN "Ratings").

Contracts:
- One round per (year, kind, level) (Conflict ``round_exists``). Settings and the rubric change
  only while draft or open (Conflict ``round_not_editable``). Every write is audited in the
  same transaction, transitions with the before and after.
- The cycle: draft → open → town_review → district_review → shortlisted (district roles) →
  publicity → decided → reported (district_admin only). Anything else: Conflict
  ``bad_transition``; a district_staff member trying an admin-only step: Forbidden.
- → district_review: every entry must have had its town review; metrics are computed for the
  entries that passed it (training.ratings.metrics.compute).
- → shortlisted: scores, totals, ranks and the shortlist within ``quotas.award``. An inspector
  criterion without a submitted score: Conflict ``inspections_missing`` unless
  ``allow_missing_inspections`` (then 0, recorded on the round).
- → publicity: today (Asia/Shanghai) for ``publicity_days`` working days.
- → decided: refused while the 公示 runs (``publicity_running``) or any objection is open
  (``objections_open``); outcomes by ``scoring.decide``; the round is locked: any later write
  to it, its entries, scores or objections is Conflict ``round_locked``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo.errors import DuplicateKeyError

from server import outbox
from server.audit import repo as audit
from server.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    NotFound,
    RuleViolation,
    ServiceUnavailable,
)
from server.readers.service import local_today
from server.staff.roles import DISTRICT, Actor, Role
from server.storage import db_now, in_transaction
from training.ratings import repo, rubrics, scoring
from training.ratings.models import (
    KIND_LABELS,
    LEVEL_LABELS,
    STATUS_LABELS,
    RoundCreate,
    RoundList,
    RoundOut,
    RoundQuery,
    RoundUpdate,
    TransitionIn,
)

if TYPE_CHECKING:
    from server.resources import Deps

EDITABLE = ("draft", "open")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "draft": ("open",), "open": ("town_review",), "town_review": ("district_review",),
    "district_review": ("shortlisted",), "shortlisted": ("publicity",), "publicity": ("decided",),
    "decided": ("reported",), "reported": (),
}
ADMIN_ONLY_TARGETS = frozenset({"publicity", "decided", "reported"})
KIND_CODES = {"model_room": "SF", "model_admin": "MF", "reading_family": "SX"}
LEVEL_CODES = {"district": "Q", "city": "S"}

# The mini-program page where a family sees its 书香之家 entry (miniprogram/pages/me).
FAMILY_RESULT_PAGE = "pages/me/me"


def object_id(raw: str, what: str) -> ObjectId:
    """A path's id; text that cannot be one names nothing (404 ``<what>_not_found``)."""
    try:
        return ObjectId(raw)
    except (InvalidId, TypeError):
        raise NotFound("没有这个编号的记录", code=f"{what}_not_found",
                       errors=[FieldProblem(("path", f"{what}_id"), "编号格式不正确")]) from None


def require_unlocked(doc: dict[str, Any]) -> None:
    """Conflict ``round_locked`` once a round is decided (its result is final)."""
    if doc.get("locked"):
        raise Conflict("评选结果已锁定，不能再修改", code="round_locked")


async def get_round_doc(deps: Deps, round_id: str | ObjectId, *, session: Any = None) -> dict[str, Any]:
    oid = round_id if isinstance(round_id, ObjectId) else object_id(round_id, "round")
    doc = await repo.round_by_id(deps.db, oid, session=session)
    if doc is None:
        raise NotFound("没有这个评选", code="round_not_found")
    return doc


def next_statuses(doc: dict[str, Any], actor: Actor | None) -> list[str]:
    if actor is None or actor.role not in DISTRICT:
        return []
    return [s for s in TRANSITIONS[doc["status"]]
            if s not in ADMIN_ONLY_TARGETS or actor.role is Role.DISTRICT_ADMIN]


def to_out(doc: dict[str, Any], *, counts: dict[str, int] | None = None, actor: Actor | None = None) -> RoundOut:
    return RoundOut(
        round_id=str(doc["_id"]), year=doc["year"], kind=doc["kind"], kind_label=KIND_LABELS[doc["kind"]],
        level=doc["level"], title=doc["title"], period=doc["period"], rubric=doc["rubric"], quotas=doc["quotas"],
        publicity_days=doc["publicity_days"], status=doc["status"], status_label=STATUS_LABELS[doc["status"]],
        publicity=doc.get("publicity"), locked=bool(doc.get("locked")), history=bool(doc.get("history")),
        missing_inspections=doc.get("missing_inspections") or [], next_statuses=next_statuses(doc, actor),
        entry_counts=counts or {}, created_at=doc["created_at"], updated_at=doc["updated_at"])


def default_title(year: int, kind: str, level: str) -> str:
    return f"{year}年度{LEVEL_LABELS[level]}{KIND_LABELS[kind]}评选"


async def list_rounds(deps: Deps, actor: Actor, query: RoundQuery | None = None) -> RoundList:
    flt: dict[str, Any] = {}
    if query is not None and query.year is not None:
        flt["year"] = query.year
    if query is not None and query.kind is not None:
        flt["kind"] = query.kind
    docs = await repo.rounds(deps.db, flt)
    counts = await repo.entry_counts(deps.db, [d["_id"] for d in docs])
    return RoundList(items=[to_out(d, counts=counts.get(d["_id"]), actor=actor) for d in docs])


async def get_round(deps: Deps, actor: Actor, round_id: str) -> RoundOut:
    doc = await get_round_doc(deps, round_id)
    counts = await repo.entry_counts(deps.db, [doc["_id"]])
    return to_out(doc, counts=counts.get(doc["_id"]), actor=actor)


def _dump_settings(data: RoundCreate | RoundUpdate) -> dict[str, Any]:
    given: dict[str, Any] = {}
    for name in ("title", "rubric", "quotas", "publicity_days"):
        value = getattr(data, name)
        if value is not None:
            given[name] = value.model_dump(mode="json") if hasattr(value, "model_dump") else value
    if data.period is not None:
        given["period"] = {"from": data.period.from_.isoformat(), "to": data.period.to.isoformat()}
    return given


async def create_round(deps: Deps, actor: Actor, data: RoundCreate, *, history: bool = False) -> RoundOut:
    """A new draft round with the default rubric, quotas and 公示 days where none were given.
    Conflict ``round_exists`` if (year, kind, level) has one."""
    now = db_now()
    doc = {
        "_id": ObjectId(), "year": data.year, "kind": data.kind, "level": data.level,
        "title": default_title(data.year, data.kind, data.level),
        "period": {"from": f"{data.year}-01-01", "to": f"{data.year}-12-31"},
        "rubric": rubrics.default_rubric(data.kind, training_hours=deps.settings.training_refresher_hours),
        "quotas": rubrics.default_quotas(data.kind, data.level),
        "publicity_days": deps.settings.ratings_publicity_days,
        **_dump_settings(data),
        "status": "draft", "publicity": None, "locked": False, "history": history, "missing_inspections": [],
        "created_at": now, "updated_at": now,
    }

    async def work(session: Any) -> None:
        await repo.insert_round(deps.db, doc, session=session)
        await audit.record(deps.db, actor, "rating_round.create", target_type="rating_round", target_id=str(doc["_id"]),
                           changes={"year": data.year, "kind": data.kind, "level": data.level}, session=session)

    try:
        await in_transaction(deps.mongo, work)
    except DuplicateKeyError:
        raise Conflict(f"{data.year} 年已有这一级的{KIND_LABELS[data.kind]}评选", code="round_exists",
                       errors=[FieldProblem(("body", "year"), "已有同年同级同类评选")]) from None
    return to_out(doc, actor=actor)


async def update_round(deps: Deps, actor: Actor, round_id: str, data: RoundUpdate) -> RoundOut:
    """Change the settings of a draft or open round; every change is audited with its before."""
    doc = await get_round_doc(deps, round_id)
    require_unlocked(doc)
    if doc["status"] not in EDITABLE:
        raise Conflict("评选已进入评审阶段，不能再修改设置", code="round_not_editable")
    changes = _dump_settings(data)
    if not changes:
        return await get_round(deps, actor, round_id)
    counts = await repo.entry_counts(deps.db, [doc["_id"]])
    changes["updated_at"] = db_now()

    async def work(session: Any) -> None:
        if not await repo.set_round(deps.db, doc["_id"], changes, status=doc["status"], session=session):
            raise Conflict("评选状态刚刚改变，请刷新后重试", code="round_changed")
        await audit.record(
            deps.db, actor, "rating_round.update", target_type="rating_round", target_id=str(doc["_id"]),
            changes={"fields": sorted(k for k in changes if k != "updated_at"),
                     "before": {k: doc.get(k) for k in changes if k != "updated_at"},
                     "after": {k: v for k, v in changes.items() if k != "updated_at"},
                     "entries_exist": sum(counts.get(doc["_id"], {}).values()) > 0},
            session=session)

    await in_transaction(deps.mongo, work)
    return await get_round(deps, actor, round_id)


def publicity_window(start: date, working_days: int) -> dict[str, str]:
    """From ``start`` for ``working_days`` working days (Saturdays and Sundays skipped; ``start``
    counts if it is a working day)."""
    day, counted = start, 0
    while day.weekday() >= 5:
        day += timedelta(days=1)
    first = day
    while True:
        if day.weekday() < 5:
            counted += 1
            if counted >= working_days:
                break
        day += timedelta(days=1)
    return {"starts_on": first.isoformat(), "ends_on": day.isoformat()}


def publicity_running(doc: dict[str, Any], today: date | None = None) -> bool:
    pub = doc.get("publicity")
    if doc["status"] != "publicity" or not pub:
        return False
    today = today or local_today()
    return pub["starts_on"] <= today.isoformat() <= pub["ends_on"]


async def _metrics_for(deps: Deps, doc: dict[str, Any], entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    try:
        from training.ratings.metrics.compute import compute_metrics
    except ImportError as exc:  # the metrics package is deployed with this one; say so if not
        raise ServiceUnavailable("指标计算模块暂不可用，请稍后再试", code="metrics_unavailable") from exc
    computed = await compute_metrics(deps, doc, entries) if entries else {}
    out: dict[str, dict[str, Any]] = {}
    for entry in entries:
        metrics = computed.get(str(entry["_id"])) or {}
        out[str(entry["_id"])] = {key: {"value": None if m.get("value") is None else float(m["value"]),
                                        "unit": str(m.get("unit") or ""), "label": str(m.get("label") or ""),
                                        "detail": str(m.get("detail") or ""),
                                        "links": [{"label": str(x.get("label", "")), "href": str(x.get("href", ""))}
                                                  for x in m.get("links") or []]}
                                  for key, m in metrics.items()}
    return out


async def refresh_metrics(deps: Deps, actor: Actor, round_id: str) -> tuple[int, Any]:
    """Re-compute the metrics of the town-passed entries during district review."""
    doc = await get_round_doc(deps, round_id)
    require_unlocked(doc)
    if doc["status"] != "district_review":
        raise Conflict("只有区级评审阶段才能重新计算指标", code="not_in_district_review")
    entries = await repo.entries(deps.db, doc["_id"], statuses=["town_passed"])
    now = await _store_metrics(deps, actor, doc, entries, action="rating_round.metrics_refresh")
    return len(entries), now


async def _store_metrics(deps: Deps, actor: Actor, doc: dict[str, Any], entries: list[dict[str, Any]], *,
                         action: str, transition: dict[str, Any] | None = None) -> Any:
    metrics = await _metrics_for(deps, doc, entries)
    now = db_now()

    async def work(session: Any) -> None:
        if transition is not None:
            if not await repo.transition_round(deps.db, doc["_id"], doc["status"], transition, session=session):
                raise Conflict("评选状态刚刚改变，请刷新后重试", code="round_changed")
        await repo.set_entries(deps.db, {e["_id"]: {"metrics": metrics[str(e["_id"])], "metrics_at": now,
                                                    "updated_at": now} for e in entries}, session=session)
        await audit.record(deps.db, actor, action, target_type="rating_round", target_id=str(doc["_id"]),
                           changes={"from": doc["status"], "to": (transition or {}).get("status", doc["status"]),
                                    "entries": len(entries)}, session=session)

    await in_transaction(deps.mongo, work)
    return now


def score_entries(doc: dict[str, Any], entries: list[dict[str, Any]], means: dict[str, dict[str, float]]
                  ) -> tuple[list[dict[str, Any]], list[str]]:
    """Each entry with ``scores`` and ``total``, and the ids of entries lacking an inspection."""
    criteria = doc["rubric"]["criteria"]
    scored, missing = [], []
    for entry in entries:
        eid = str(entry["_id"])
        scores: dict[str, float] = {}
        for c in criteria:
            if c["source"] == "inspector":
                value = means.get(eid, {}).get(c["key"])
                if value is None and eid not in missing:
                    missing.append(eid)
            elif c["source"] == "metric":
                value = ((entry.get("metrics") or {}).get(c["metric"]) or {}).get("value")
            else:
                value = (entry.get("evidence") or {}).get(c["metric"])
            scores[c["key"]] = scoring.criterion_score(c, value)
        scored.append({**entry, "scores": scores, "total": scoring.entry_total(criteria, scores)})
    return scored, missing


async def _shortlist(deps: Deps, actor: Actor, doc: dict[str, Any], body: TransitionIn) -> None:
    entries = await repo.entries(deps.db, doc["_id"], statuses=["town_passed"])
    means = await repo.submitted_score_means(deps.db, doc["_id"])
    scored, missing = score_entries(doc, entries, means)
    if missing and not body.allow_missing_inspections:
        names = {str(e["_id"]): e["subject"]["name"] for e in entries}
        raise Conflict(f"还有 {len(missing)} 个申报对象没有督查员提交的评分", code="inspections_missing",
                       errors=[FieldProblem(("entries", m), f"{names[m]}：缺少督查评分") for m in missing[:50]])
    ranked = scoring.rank_entries(scored, doc["rubric"]["tie_break"])
    chosen = {e["subject_key"] for e in scoring.shortlist(ranked, doc["quotas"])}
    now = db_now()
    changes = {e["_id"]: {"scores": e["scores"], "total": e["total"], "rank": e["rank"], "updated_at": now,
                          "status": "shortlisted" if e["subject_key"] in chosen else "not_shortlisted"}
               for e in ranked}
    await _commit(deps, actor, doc, {"status": "shortlisted", "missing_inspections": missing}, changes,
                  extra={"shortlisted": len(chosen), "ranked": len(ranked), "missing_inspections": missing})


async def _decide(deps: Deps, actor: Actor, doc: dict[str, Any]) -> None:
    pub = doc.get("publicity")
    if pub and local_today().isoformat() <= pub["ends_on"]:
        raise RuleViolation(f"公示期到 {doc['publicity']['ends_on']} 结束，结束后才能决定结果", code="publicity_running")
    open_ones = await repo.objections(deps.db, {"round_id": doc["_id"], "status": "open"})
    if open_ones:
        raise RuleViolation(f"还有 {len(open_ones)} 条异议没有处理", code="objections_open",
                            errors=[FieldProblem(("objections", str(o["_id"])), f"申报对象 {o['entry_id']} 的异议待处理")
                                    for o in open_ones[:50]])
    entries = await repo.entries(deps.db, doc["_id"], statuses=["shortlisted", "rejected"])
    ranked = sorted(entries, key=lambda e: (e.get("rank") or 10**9, str(e["subject_key"])))
    outcomes = scoring.decide([e for e in ranked if e["status"] == "shortlisted"], doc["quotas"])
    now = db_now()
    changes: dict[ObjectId, dict[str, Any]] = {}
    for e in ranked:
        outcome = outcomes.get(e["subject_key"], "rejected")
        number = (f"{deps.settings.district.code}PY-{doc['year']}-{KIND_CODES[doc['kind']]}"
                  f"{LEVEL_CODES[doc['level']]}-{e['rank']:03d}") if outcome != "rejected" else None
        changes[e["_id"]] = {"status": outcome, "outcome": outcome, "certificate_no": number, "updated_at": now}
    await _commit(deps, actor, doc, {"status": "decided", "locked": True, "decided_at": now}, changes,
                  extra={"outcomes": {o: sum(1 for v in outcomes.values() if v == o) for o in set(outcomes.values())}},
                  events=await _family_results(deps, doc, changes))


# What a family that applied in the mini-program is told (subscribe-message "phrase" values, ≤ 5 characters).
RESULT_PHRASES = {"awarded": "入选", "nominated": "入选并推荐", "rejected": "未入选"}


async def _family_results(deps: Deps, doc: dict[str, Any], changes: dict[ObjectId, dict[str, Any]]
                          ) -> list[dict[str, Any]]:
    """A ``rating_result`` notification for every family entry with a mini-program account,
    whatever became of it (not shortlisted families hear the result too)."""
    events = []
    for entry in await repo.entries(deps.db, doc["_id"]):
        account = entry["subject"].get("account_id")
        if entry["subject"].get("type") != "family" or not account or entry["status"] == "withdrawn":
            continue
        outcome = changes.get(entry["_id"], {}).get("outcome") or "rejected"
        events.append({"event": "rating_result", "key": f"{doc['_id']}:{entry['_id']}",
                       "data": {"thing1": f"{doc['year']}年书香之家评选", "phrase2": RESULT_PHRASES[outcome],
                                "thing3": "详情请在小程序“书香之家”中查看"},
                       "page": FAMILY_RESULT_PAGE, "account_id": ObjectId(account)})
    return events


async def _commit(deps: Deps, actor: Actor, doc: dict[str, Any], round_changes: dict[str, Any],
                  entry_changes: dict[ObjectId, dict[str, Any]], *, extra: dict[str, Any] | None = None,
                  events: Sequence[dict[str, Any]] = ()) -> None:
    now = db_now()
    round_changes = {**round_changes, "updated_at": now}

    async def work(session: Any) -> None:
        if not await repo.transition_round(deps.db, doc["_id"], doc["status"], round_changes, session=session):
            raise Conflict("评选状态刚刚改变，请刷新后重试", code="round_changed")
        await repo.set_entries(deps.db, entry_changes, session=session)
        for event in events:  # readers hear about it once the change is committed
            await outbox.record(deps.db, session, now=now, **event)
        await audit.record(deps.db, actor, "rating_round.transition", target_type="rating_round",
                           target_id=str(doc["_id"]),
                           changes={"from": doc["status"], "to": round_changes["status"],
                                    "before": {k: doc.get(k) for k in round_changes if k != "updated_at"},
                                    **(extra or {})}, session=session)

    await in_transaction(deps.mongo, work)


async def transition(deps: Deps, actor: Actor, round_id: str, body: TransitionIn) -> RoundOut:
    """Move the round to ``body.to`` (see the module docstring for the rules)."""
    doc = await get_round_doc(deps, round_id)
    target = body.to
    if target not in TRANSITIONS[doc["status"]]:
        raise Conflict(f"评选当前为“{STATUS_LABELS[doc['status']]}”，不能改为“{STATUS_LABELS[target]}”",
                       code="bad_transition", errors=[FieldProblem(("body", "to"), "不是下一个阶段")])
    if target in ADMIN_ONLY_TARGETS and actor.role is not Role.DISTRICT_ADMIN:
        raise Forbidden("公示、决定和上报只能由区馆管理员操作", code="transition_forbidden")
    if target != "reported":
        require_unlocked(doc)
    if target == "district_review":
        pending = await repo.entries(deps.db, doc["_id"], statuses=["submitted"])
        if pending:
            raise Conflict(f"还有 {len(pending)} 个申报没有镇街初审", code="town_review_pending",
                           errors=[FieldProblem(("entries", str(e["_id"])), f"{e['subject']['name']}：待初审")
                                   for e in pending[:50]])
        entries = await repo.entries(deps.db, doc["_id"], statuses=["town_passed"])
        await _store_metrics(deps, actor, doc, entries, action="rating_round.transition",
                             transition={"status": target, "updated_at": db_now()})
    elif target == "shortlisted":
        await _shortlist(deps, actor, doc, body)
    elif target == "decided":
        await _decide(deps, actor, doc)
    else:
        changes: dict[str, Any] = {"status": target}
        if target == "publicity":
            changes["publicity"] = publicity_window(local_today(), doc["publicity_days"])
        await _commit(deps, actor, doc, changes, {})
    return await get_round(deps, actor, round_id)
