"""书香之家 (reading family) in the mini-program: see this year's round, nominate the family
(自荐), withdraw while nominations are open.

A family is a mini-program account: its holder (the ``self`` member) must have a home room,
which decides the town that reviews the entry first. The entry itself is made by the
ratings core (``training.ratings.entries.submit_entry``), one per family per round.
What the family writes is checked by WeChat's msgSecCheck: "risky" is refused kindly,
"review" is kept and flagged for staff (``evidence.content_check``), and when WeChat cannot
answer nothing is kept (503).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.accounts.principal import Principal
from miniprogram_api.accounts.service import wechat_problem
from miniprogram_api.families import repo
from miniprogram_api.families.models import (
    FamilyEntryOut,
    NominateIn,
    ReadingFamilyOut,
    RoundBrief,
    WithdrawIn,
)
from miniprogram_api.wechat import WeChatError
from server import idempotency
from server.errors import Conflict, FieldProblem, NotFound, RuleViolation
from server.storage import db_now
from training.ratings.entries import submit_entry
from training.ratings.models import ENTRY_STATUS_LABELS, OUTCOME_LABELS, STATUS_LABELS

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

log = logging.getLogger("shuwu.mp.families")

NOMINATE_KIND = "reading_family_nominate"
WITHDRAW_KIND = "reading_family_withdraw"
CONTENT_SCENE = 1  # msgSecCheck scene 1: 资料 (a profile-like text)
DECIDED = frozenset({"decided", "reported"})
RISKY_MESSAGE = "申报材料里有些内容不太合适，请修改后再提交。如有疑问，可以请书屋管理员帮忙看看。"
HOW_IT_WORKS = [
    "书香之家每年评选一次：家庭自荐或由书屋推荐，先由所在镇街初审，再由区里评审。",
    "评审看四个方面：家庭藏书、阅读打卡和借阅、参加阅读活动，以及督查员走访了解的家风与带动作用。",
    "借阅、打卡和参加活动的情况由系统根据您家在书屋和小程序里的记录自动统计，不用另外填写。",
    "入围名单会在公示期内公开（只公示家庭名称和所属书屋），公示无异议后公布结果。",
]
REQUIREMENTS = [
    "在小程序里登记本人信息，并选好常去的书屋（所属书屋）。",
    "填写家庭名称（如“王秀英家庭”）和一段申报材料：家里怎么读书、读了哪些书、带动了谁。",
    "如实填写家中藏书册数和每周全家阅读时间；可以写上参加过的阅读活动。",
    "每个家庭每年只能申报一次；申报期间可以撤回。",
]


async def _holder(deps: Deps, principal: Principal) -> dict[str, Any] | None:
    members = await accounts_repo.members_of(deps.db, principal.account_id)
    return next((m for m in members if m.get("relation") == "self" and m.get("status") == "active"), None)


def _round_brief(doc: dict[str, Any]) -> RoundBrief:
    period = doc.get("period") or {}
    return RoundBrief(id=str(doc["_id"]), year=doc["year"], title=doc.get("title", ""),
                      period_from=period.get("from", ""), period_to=period.get("to", ""), status=doc["status"],
                      status_label=STATUS_LABELS.get(doc["status"], doc["status"]))


def entry_out(entry: dict[str, Any], round_doc: dict[str, Any]) -> FamilyEntryOut:
    evidence = entry.get("evidence") or {}
    decided = round_doc.get("status") in DECIDED
    outcome = entry.get("outcome") if decided else None
    return FamilyEntryOut(
        id=str(entry["_id"]), round_id=str(entry["round_id"]), round_title=round_doc.get("title", ""),
        family_name=entry["subject"]["name"], room=entry["subject"].get("room"), town=entry.get("town", ""),
        status=entry["status"], status_label=ENTRY_STATUS_LABELS.get(entry["status"], entry["status"]),
        statement=entry.get("statement") or "", books_owned=evidence.get("books_owned"),
        reading_minutes_per_week=evidence.get("reading_minutes_per_week"),
        activities_joined_text=evidence.get("activities_joined_text") or "", members=evidence.get("members"),
        content_review=evidence.get("content_check") == "review",
        can_withdraw=round_doc.get("status") == "open" and not round_doc.get("locked")
        and entry["status"] not in {"withdrawn", "rejected"},
        outcome=outcome, outcome_label=OUTCOME_LABELS.get(outcome) if outcome else None,
        submitted_at=entry["created_at"],
    )


async def _my_entry(deps: Deps, principal: Principal,
                    open_round: dict[str, Any] | None) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The family's entry of the open round, else its latest entry (with its round)."""
    rounds = await repo.family_rounds(deps.db)
    entries = await repo.entries_of(deps.db, principal.account_id, list(rounds))
    if not entries:
        return None
    chosen = next((e for e in entries if open_round and e["round_id"] == open_round["_id"]), entries[0])
    return chosen, rounds[chosen["round_id"]]


async def overview(deps: Deps, principal: Principal) -> ReadingFamilyOut:
    """The open round (if any), how it works, what is needed, and the family's entry."""
    round_doc = await repo.open_round(deps.db)
    holder = await _holder(deps, principal)
    mine = await _my_entry(deps, principal, round_doc)
    home_room = holder.get("home_room") if holder else None
    why_not = None
    if round_doc is None:
        why_not = "现在不在书香之家申报期内，请留意书屋通知。"
    elif not home_room:
        why_not = "请先在“我的”里登记本人信息并选择所属书屋。"
    elif mine and mine[0]["round_id"] == round_doc["_id"]:
        why_not = "您的家庭已经申报了本次评选。"
    return ReadingFamilyOut(round=_round_brief(round_doc) if round_doc else None, how_it_works=HOW_IT_WORKS,
                            requirements=REQUIREMENTS, home_room=home_room, can_nominate=why_not is None,
                            why_not=why_not, entry=entry_out(*mine) if mine else None)


async def _replayed(deps: Deps, op_key: str, kind: str) -> FamilyEntryOut | None:
    prior = await idempotency.previous(deps.db, op_key, kind)
    if prior is None:
        return None
    if not prior["ok"]:
        idempotency.reraise(prior)
    entry = await repo.entry_by_id(deps.db, ObjectId(prior["result"]["entry_id"]))
    if entry is None:
        raise NotFound("这份申报已被删除", code="entry_not_found")
    rounds = await repo.family_rounds(deps.db)
    return entry_out(entry, rounds.get(entry["round_id"], {}))


async def nominate(deps: Deps, principal: Principal, data: NominateIn) -> FamilyEntryOut:
    """Nominate the caller's family for the open round. Errors: RuleViolation (no open round,
    no home room, content refused), Conflict duplicate_entry (one per family per round),
    ServiceUnavailable (WeChat cannot check the text; nothing kept). A replayed op_id returns
    the first answer without asking WeChat again."""
    op_key = principal.op_key(data.op_id)
    replay = await _replayed(deps, op_key, NOMINATE_KIND)
    if replay is not None:
        return replay
    round_doc = await repo.open_round(deps.db)
    if round_doc is None:
        raise RuleViolation("现在不在书香之家申报期内", code="round_not_open")
    holder = await _holder(deps, principal)
    room = await deps.db["rooms"].find_one({"code": holder["home_room"]}) if holder and holder.get("home_room") else None
    if holder is None or room is None:
        raise RuleViolation("请先在“我的”里登记本人信息并选择所属书屋，再申报书香之家", code="home_room_required")
    key = repo.subject_key(principal.account_id)
    if await repo.entries_of(deps.db, principal.account_id, [round_doc["_id"]]):
        raise Conflict("您的家庭已经申报了本次书香之家评选（每个家庭每年一次）", code="duplicate_entry")
    content = "\n".join(t for t in (data.family_name, data.statement, data.activities_joined_text) if t)
    try:
        verdict = await deps.wechat.msg_sec_check(openid=principal.openid, content=content, scene=CONTENT_SCENE)
    except WeChatError as exc:
        raise wechat_problem(exc, field=("body", "statement")) from None
    if verdict == "risky":
        raise RuleViolation(RISKY_MESSAGE, code="content_refused",
                            errors=[FieldProblem(("body", "statement"), "内容未通过安全检查，请修改")])
    members = await accounts_repo.members_of(deps.db, principal.account_id)
    evidence = {"books_owned": data.books_owned, "reading_minutes_per_week": data.reading_minutes_per_week,
                "activities_joined_text": data.activities_joined_text,
                "members": sum(1 for m in members if m.get("status") == "active"), "content_check": verdict}
    subject = {"type": "family", "room": room["code"], "account_id": str(principal.account_id),
               "reader_id": str(holder["reader_id"]) if holder.get("reader_id") else None, "name": data.family_name}
    applicant = {"by": f"mp:{principal.account_id}", "channel": "miniprogram", "at": db_now()}

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        entry = await submit_entry(deps, round_id=round_doc["_id"], subject=subject, town=room["town"],
                                   applicant=applicant, statement=data.statement, evidence=evidence, session=session)
        assert entry["subject_key"] == key
        return {"entry_id": str(entry["_id"])}

    result, _ = await idempotency.run_once(deps.db, deps.mongo, op_id=op_key, kind=NOMINATE_KIND, room=room["code"],
                                           actor=f"mp:{principal.account_id}", work=work)
    if verdict == "review":
        log.info("reading-family entry %s kept for a person to check its text", result["entry_id"])
    entry = await repo.entry_by_id(deps.db, ObjectId(result["entry_id"]))
    assert entry is not None
    return entry_out(entry, round_doc)


async def withdraw(deps: Deps, principal: Principal, data: WithdrawIn) -> FamilyEntryOut:
    """Withdraw the family's entry while the round is open. Errors: NotFound (no entry in the
    open round), Conflict already_withdrawn, RuleViolation not_withdrawable (nominations closed)."""
    op_key = principal.op_key(data.op_id)
    replay = await _replayed(deps, op_key, WITHDRAW_KIND)
    if replay is not None:
        return replay

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        rounds = await repo.family_rounds(deps.db)
        entries = await repo.entries_of(deps.db, principal.account_id, list(rounds), session=session)
        if not entries:
            raise NotFound("您的家庭还没有申报书香之家", code="entry_not_found")
        entry = entries[0]
        round_doc = rounds[entry["round_id"]]
        if entry["status"] == "withdrawn":
            raise Conflict("这份申报已经撤回了", code="already_withdrawn")
        if round_doc.get("status") != "open" or round_doc.get("locked"):
            raise RuleViolation("申报期已经结束，不能再撤回；如有需要请联系所属书屋", code="not_withdrawable")
        now = db_now()
        changes = {"status": "withdrawn", "updated_at": now,
                   "withdrawn": {"by": f"mp:{principal.account_id}", "reason": "家庭自行撤回", "at": now}}
        if not await repo.update_entry(deps.db, entry["_id"], [entry["status"]], changes, session=session):
            raise Conflict("申报状态刚刚有变化，请刷新后再试", code="entry_changed")
        return {"entry_id": str(entry["_id"])}

    result, _ = await idempotency.run_once(deps.db, deps.mongo, op_id=op_key, kind=WITHDRAW_KIND, room=None,
                                           actor=f"mp:{principal.account_id}", work=work)
    entry = await repo.entry_by_id(deps.db, ObjectId(result["entry_id"]))
    assert entry is not None
    return entry_out(entry, (await repo.family_rounds(deps.db))[entry["round_id"]])
