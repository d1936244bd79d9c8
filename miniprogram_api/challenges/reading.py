"""Logging reading (a parent for several children at once, or an administrator at the desk),
caps, outlier flags and their resolution by staff, milestones and their badges.

A log is all or nothing: if one child's log would break a cap, nothing is written for
any of them. Each log's effects — the log, the participant's totals, new badges and
their ``challenge_milestone`` events, the op_id record (and the audit entry for staff) —
commit in one transaction; the boards are updated after it commits (``ZADD GT``).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from miniprogram_api.accounts.principal import Principal
from miniprogram_api.challenges import leaderboard as lb
from miniprogram_api.challenges import repo, rules, service
from miniprogram_api.challenges.models import (
    UNIT_LABELS,
    DeskLogIn,
    FlagOut,
    FlagPage,
    FlagQuery,
    LoggedEntry,
    LogIn,
    LogOut,
    ResolveIn,
)
from server import idempotency, outbox
from server.audit import repo as audit
from server.catalog import repo as catalog_repo
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_id_cursor, split_page
from server.readers.service import local_today
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

CHALLENGE_PAGE = "pages/challenges/detail?id={challenge_id}"


async def _check_log(deps: Deps, challenge: dict[str, Any], data: LogIn | DeskLogIn) -> str | None:
    """Checks that need no participant: the window, the per-log cap, the title. Returns the
    book's name to store."""
    why = rules.log_problem(challenge, data.read_on, local_today())
    if why:
        if challenge["status"] != "published":
            raise RuleViolation(why, code="challenge_not_open")
        raise InvalidInput(why, code="read_on_outside_window", errors=[FieldProblem(("body", "read_on"), why)])
    unit = UNIT_LABELS[challenge["unit"]]
    if data.amount > challenge["cap_per_log"]:
        msg = rules.cap_problem(data.amount, 0, challenge["cap_per_log"], challenge["cap_per_day"], unit)
        raise RuleViolation(msg or "", code="over_cap", errors=[FieldProblem(("body", "amount"), msg or "")])
    if data.title_id is None:
        return data.book_title
    title = await catalog_repo.by_id(deps.db, data.title_id)
    if title is None:
        raise InvalidInput(f"目录中没有 {data.title_id}", code="unknown_title",
                           errors=[FieldProblem(("body", "title_id"), "目录中没有这本书")])
    return data.book_title or title.get("title")


async def log_reading(deps: Deps, principal: Principal, challenge_id: str, data: LogIn) -> LogOut:
    """A family logs the same reading for one or several of its members who joined."""
    challenge = await service.load_challenge(deps, challenge_id, readers=True)
    ids = list(dict.fromkeys(data.member_ids))
    book = await _check_log(deps, challenge, data)
    # A participant records its account and whether consent stands, so the usual case
    # needs no look-up of the members themselves; anything odd is explained by one.
    parts = await repo.participants_of_members(deps.db, [challenge["_id"]], [ObjectId(i) for i in ids])
    by_member = {str(p["member_id"]): p for p in parts if p.get("account_id") == principal.account_id}
    if len(by_member) < len(ids) or any(p.get("status") != "active" for p in by_member.values()):
        members = await service.family_members(deps, principal, ids, ("body", "member_ids"))
        missing = [FieldProblem(("body", "member_ids", n), f"{m['name']}还没有参加这个活动")
                   for n, m in enumerate(members) if str(m["_id"]) not in by_member]
        if missing:
            raise RuleViolation(missing[0].msg, code="not_joined", errors=missing)
        raise RuleViolation("监护人已撤回同意，不能再为这位孩子记录信息", code="consent_withdrawn")
    ordered = [by_member[i] for i in ids]
    return await _record(deps, challenge, ordered, data, book, by=f"mp:{principal.account_id}",
                         op_key=principal.op_key(data.op_id), actor=None)


async def desk_log(deps: Deps, actor: Actor, challenge_id: str, participant_id: str, data: DeskLogIn) -> LogOut:
    """An administrator logs for a participant of their rooms (a child without a phone). Audited."""
    challenge = await service.load_challenge(deps, challenge_id)
    p = await repo.participant_by_id(deps.db, parse_object_id(participant_id, loc=("path", "participant_id")))
    if p is None or p["challenge_id"] != challenge["_id"]:
        raise NotFound("这个活动没有这位参与者", code="participant_not_found")
    if not actor.can_access_room(p["room"], p.get("town") or ""):
        raise Forbidden("这位参与者不在您负责的书屋", code="participant_out_of_scope")
    if p.get("status") != "active":
        raise RuleViolation("监护人已撤回同意，不能再为这位孩子记录信息", code="consent_withdrawn")
    book = await _check_log(deps, challenge, data)
    return await _record(deps, challenge, [p], data, book, by=actor.username, op_key=data.op_id, actor=actor)


async def _record(deps: Deps, challenge: dict[str, Any], participants: list[dict[str, Any]],
                  data: LogIn | DeskLogIn, book: str | None, *, by: str, op_key: str, actor: Actor | None) -> LogOut:
    day = data.read_on.isoformat()
    unit = UNIT_LABELS[challenge["unit"]]
    cap_log, cap_day = challenge["cap_per_log"], challenge["cap_per_day"]
    milestones = challenge["milestones"]
    ids = [p["_id"] for p in participants]

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        fresh = await repo.participants_by_ids(deps.db, ids, session=session)
        problems = []
        for n, pid in enumerate(ids):
            p = fresh.get(pid)
            if p is None:
                raise Conflict("参与者已不存在，请刷新", code="participant_gone")
            msg = rules.cap_problem(data.amount, p.get("days", {}).get(day, 0), cap_log, cap_day, unit)
            if msg:
                who = f"{p['name']}：" if len(ids) > 1 else ""
                problems.append(FieldProblem(("body", "amount") if len(ids) == 1 else ("body", "member_ids", n),
                                             who + msg))
        if problems:
            raise RuleViolation(problems[0].msg, code="over_cap", errors=problems)
        logs, updates, badges, entries = [], [], [], []
        for pid in ids:
            p = fresh[pid]
            days = {**p.get("days", {})}
            days[day] = days.get(day, 0) + data.amount
            total = p["total"] + data.amount
            recent = p.get("recent", [])
            reasons = rules.outlier_reasons(data.amount, recent, days, data.read_on, cap_day)
            flag = None
            if reasons:
                streak = rules.cap_streak(days, data.read_on, cap_day)
                flag = {"reasons": reasons, "status": "open", "at": now, "resolved_at": None, "resolved_by": None,
                        "note": None,
                        "detail": rules.outlier_detail(reasons, data.amount, recent, streak, cap_day, unit)}
            log_id = ObjectId()
            logs.append({"_id": log_id, "challenge_id": challenge["_id"], "participant_id": pid,
                         "member_id": p.get("member_id"), "account_id": p.get("account_id"),
                         "read_on": day, "amount": data.amount, "points": data.amount, "title_id": data.title_id,
                         "book_title": book, "room": p["room"], "town": p.get("town"), "status": "counted",
                         "flag": flag, "created_at": now, "created_by": by})
            reached = rules.newly_reached(milestones, total, p.get("badges", []))
            update: dict[str, Any] = {
                "$inc": {"total": data.amount, "log_count": 1, f"days.{day}": data.amount},
                "$push": {"recent": {"$each": [data.amount], "$slice": -rules.RECENT_AMOUNTS_KEPT}},
                "$set": {"updated_at": now},
            }
            if reached:
                update["$addToSet"] = {"badges": {"$each": reached}}
            updates.append((pid, update))
            for i in reached:
                m = milestones[i]
                badges.append({"challenge_id": challenge["_id"], "participant_id": pid, "member_id": p.get("member_id"),
                               "account_id": p.get("account_id"), "milestone_index": i, "badge": m["badge"],
                               "icon": m["icon"], "threshold": m["threshold"], "total_at_award": total,
                               "awarded_at": now})
                await _milestone_event(deps, session, challenge, p, i, total, now)
            entries.append({"member_id": str(p["member_id"]) if p.get("member_id") else None,
                            "participant_id": str(pid), "log_id": str(log_id), "total": total,
                            "day_total": days[day], "new_badges": [milestones[i]["badge"] for i in reached],
                            "flagged": flag is not None})
        await repo.insert_logs(deps.db, logs, session=session)
        await repo.bulk_update_participants(deps.db, updates, session=session)
        await repo.insert_badges(deps.db, badges, session=session)
        if actor is not None:
            await audit.record(deps.db, actor, "challenge.log", target_type="participant", target_id=str(ids[0]),
                               room=participants[0]["room"],
                               changes={"read_on": day, "amount": data.amount, "log_id": entries[0]["log_id"]},
                               session=session)
        return {"entries": entries}

    result, _ = await idempotency.run_once(deps.db, deps.mongo, op_id=op_key, kind="challenge_log",
                                           room=participants[0]["room"], actor=by, work=work)
    totals = {e["participant_id"]: e["total"] for e in result["entries"]}
    if not await lb.record_totals(deps.redis, challenge, [(p, totals[str(p["_id"])]) for p in participants]):
        await service.rebuild_boards(deps, challenge["_id"])
    return LogOut(entries=[LoggedEntry(**e) for e in result["entries"]])


async def _milestone_event(deps: Deps, session: AsyncClientSession, challenge: dict[str, Any], p: dict[str, Any],
                           index: int, total: int, now: Any) -> None:
    if not p.get("account_id") and not p.get("reader_id"):
        return
    await outbox.record(
        deps.db, session, event="challenge_milestone", key=f"{p['_id']}:{index}",
        data={"thing1": challenge["title"], "thing2": challenge["milestones"][index]["badge"], "number3": str(total)},
        page=CHALLENGE_PAGE.format(challenge_id=challenge["_id"]), now=now,
        account_id=p.get("account_id"), member_id=p.get("member_id"),
        reader_id=None if p.get("account_id") else p.get("reader_id"))


# -- flags ------------------------------------------------------------------------------------------------


def _flag_out(log: dict[str, Any], p: dict[str, Any] | None, unit: str) -> FlagOut:
    flag = log["flag"]
    return FlagOut(id=str(log["_id"]), participant_id=str(log["participant_id"]),
                   name=p["name"] if p else "（已删除）", room=log["room"], read_on=date.fromisoformat(log["read_on"]),
                   amount=log["amount"], unit_label=unit,
                   reasons=[rules.REASON_LABELS.get(r, r) for r in flag["reasons"]], detail=flag.get("detail", ""),
                   status=flag["status"], participant_total=p["total"] if p else 0, created_at=log["created_at"],
                   resolved_at=flag.get("resolved_at"), resolved_by=flag.get("resolved_by"), note=flag.get("note"))


async def list_flags(deps: Deps, actor: Actor, challenge_id: str, query: FlagQuery) -> FlagPage:
    """Flagged logs of the actor's rooms, newest first: two queries per page."""
    challenge = await service.load_challenge(deps, challenge_id)
    before = decode_id_cursor(query.cursor) if query.cursor else None
    logs = await repo.flags_page(deps.db, challenge["_id"], query.status, service.scope_filter(actor), before=before,
                                 limit=query.limit + 1)
    logs, cursor = split_page(logs, query.limit, lambda d: [str(d["_id"])])
    parts = await repo.participants_by_ids(deps.db, [d["participant_id"] for d in logs],
                                           projection={"name": 1, "total": 1})
    unit = UNIT_LABELS[challenge["unit"]]
    return FlagPage(items=[_flag_out(d, parts.get(d["participant_id"]), unit) for d in logs], next_cursor=cursor)


async def resolve_flag(deps: Deps, actor: Actor, challenge_id: str, flag_id: str, data: ResolveIn) -> FlagOut:
    """Accept a flagged log (it keeps counting) or reject it: its points come off the
    participant's total and day, and badges the total no longer reaches are taken back.
    Audited; a flag is resolved once."""
    challenge = await service.load_challenge(deps, challenge_id)
    log = await repo.log_by_id(deps.db, parse_object_id(flag_id, loc=("path", "flag_id")))
    if log is None or log["challenge_id"] != challenge["_id"] or not log.get("flag"):
        raise NotFound("没有这条待核查的记录", code="flag_not_found")
    if not actor.can_access_room(log["room"], log.get("town") or ""):
        raise Forbidden("这条记录不在您负责的书屋", code="flag_out_of_scope")
    reject = data.decision == "reject"

    async def work(session: AsyncClientSession) -> tuple[dict[str, Any], dict[str, Any] | None, dict[str, Any] | None]:
        now = db_now()
        fresh = await repo.log_by_id(deps.db, log["_id"], session=session)
        if fresh is None or fresh["flag"]["status"] != "open":
            raise Conflict("这条记录已经核查过了", code="flag_resolved")
        changes: dict[str, Any] = {"flag.status": "rejected" if reject else "accepted", "flag.resolved_at": now,
                                   "flag.resolved_by": actor.username, "flag.note": data.note or None}
        before = after = None
        revoked: list[int] = []
        if reject:
            changes.update(status="rejected", points=0)
            before = await repo.participant_by_id(deps.db, fresh["participant_id"], session=session)
            if before is not None:
                points = fresh["points"]
                revoked = rules.no_longer_reached(challenge["milestones"], before["total"] - points,
                                                  before.get("badges", []))
                update: dict[str, Any] = {"$inc": {"total": -points, "log_count": -1,
                                                   f"days.{fresh['read_on']}": -points},
                                          "$set": {"updated_at": now}}
                if revoked:
                    update["$pull"] = {"badges": {"$in": revoked}}
                after = await repo.update_participant(deps.db, before["_id"], update, session=session)
                await repo.delete_badges(deps.db, before["_id"], revoked, session=session)
        await repo.update_log(deps.db, fresh["_id"], changes, session=session)
        await audit.record(deps.db, actor, f"challenge.flag.{data.decision}", target_type="reading_log",
                           target_id=str(fresh["_id"]), room=fresh["room"],
                           changes={"decision": data.decision, "note": data.note, "points": fresh["points"],
                                    "badges_revoked": revoked}, session=session)
        return {**fresh, **_unflatten(changes, fresh)}, before, after

    updated, before, after = await in_transaction(deps.mongo, work)
    if after is not None:
        await lb.replace_entries(deps.redis, challenge, [(before, after)])
    p = after or (await repo.participants_by_ids(deps.db, [log["participant_id"]])).get(log["participant_id"])
    return _flag_out(updated, p, UNIT_LABELS[challenge["unit"]])


def _unflatten(changes: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
    """Apply ``$set`` paths like "flag.status" to a copy of ``doc``'s top-level fields."""
    out: dict[str, Any] = {}
    for path, value in changes.items():
        top, _, sub = path.partition(".")
        if sub:
            out.setdefault(top, dict(doc.get(top) or {}))[sub] = value
        else:
            out[top] = value
    return out
