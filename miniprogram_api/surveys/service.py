"""The readers' satisfaction survey: who may answer a room's survey, one answer a year, results.

Who may answer: an account with a family member whose home room is the room, or whose
family borrowed there this year (one of its library cards), or checked in there with the
room's code (check-in marks are kept only a couple of days, so the mini-program offers the
survey right after a check-in). Anyone else gets a RuleViolation that says so.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.accounts.principal import Principal
from miniprogram_api.roomcodes import repo as roomcodes_repo
from miniprogram_api.surveys import repo
from miniprogram_api.surveys.models import (
    OVERALL,
    QUESTIONS,
    SATISFIED_FROM,
    SCALE_LABELS,
    Comment,
    MyAnswer,
    Question,
    QuestionResult,
    SurveyIn,
    SurveyOut,
    SurveyResults,
    SurveyResultsQuery,
    SurveySaved,
)
from server import idempotency
from server.circulation.rules import LOCAL_TZ
from server.errors import NotFound, RuleViolation
from server.readers.service import local_today
from server.rooms import repo as rooms_repo
from server.rooms.service import authorize_room
from server.staff.roles import Actor
from server.storage import db_now

if TYPE_CHECKING:
    from server.resources import Deps


async def _room(deps: Deps, code: str) -> dict[str, Any]:
    doc = await rooms_repo.by_code(deps.db, code)
    if doc is None:
        raise NotFound(f"没有编号为 {code} 的书屋", code="room_not_found")
    return doc


def _year_start_utc(year: int) -> datetime:
    return datetime.combine(date(year, 1, 1), time(), LOCAL_TZ).astimezone(UTC)


async def eligibility(deps: Deps, account_id: ObjectId, room: str, year: int) -> str | None:
    """None if the account may answer ``room``'s survey, else why not (Chinese)."""
    members = [m for m in await accounts_repo.members_of(deps.db, account_id) if m.get("status") == "active"]
    if any(m.get("home_room") == room for m in members):
        return None
    cards = [m["reader_id"] for m in members if m.get("reader_id")]
    if cards and await deps.db["loans"].find_one(
            {"reader_id": {"$in": cards}, "room": room, "lent_at": {"$gte": _year_start_utc(year)}}, {"_id": 1}):
        return None
    if await deps.db[roomcodes_repo.MARKS].find_one(
            {"account_id": account_id, "room": room, "day": {"$gte": f"{year}-01-01"}}, {"_id": 1}):
        return None
    return "只有以这个书屋为常去书屋的家庭，或今年在这里借过书、扫码签到过的读者，才能评价这个书屋"


def _mine(doc: dict[str, Any] | None) -> MyAnswer | None:
    if doc is None:
        return None
    return MyAnswer(answers=doc["answers"], comment=doc.get("comment", ""), answered_at=doc["answered_at"])


async def survey(deps: Deps, principal: Principal, code: str) -> SurveyOut:
    """The questions, whether this account may answer, and its answer this year."""
    room = await _room(deps, code)
    year = local_today().year
    reason = await eligibility(deps, principal.account_id, room["code"], year)
    mine = await repo.answer_of(deps.db, room["code"], year, principal.account_id)
    return SurveyOut(room=room["code"], room_name=room["name"], year=year,
                     questions=[Question(key=k, text=t) for k, t in QUESTIONS], scale=SCALE_LABELS,
                     can_answer=reason is None, reason=reason, mine=_mine(mine))


async def answer(deps: Deps, principal: Principal, code: str, data: SurveyIn) -> SurveySaved:
    """Save this account's answer for ``code`` this year (replacing an earlier one).
    RuleViolation ``survey_not_eligible`` for an account with no tie to the room; a replayed
    op_id changes nothing and returns the first answer."""
    room = await _room(deps, code)
    if room["status"] != "active":
        raise RuleViolation(f"{room['name']}已停用，暂不接受评价", code="room_inactive")
    year = local_today().year
    reason = await eligibility(deps, principal.account_id, room["code"], year)
    if reason is not None:
        raise RuleViolation(reason, code="survey_not_eligible")

    async def work(session: Any) -> dict[str, Any]:
        now = db_now()
        before = await repo.answer_of(deps.db, room["code"], year, principal.account_id, session=session)
        doc = await repo.save_answer(deps.db, {
            "room": room["code"], "town": room["town"], "year": year, "account_id": principal.account_id,
            "answers": data.answers.model_dump(), "comment": data.comment, "op_id": data.op_id,
            "answered_at": now, "answered_on": now.astimezone(LOCAL_TZ).date().isoformat(), "created_at": now,
        }, session=session)
        return {"op_id": data.op_id, "replaced": before is not None,
                "mine": _mine(doc).model_dump(mode="json")}  # type: ignore[union-attr]

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=principal.op_key(data.op_id), kind="room_survey", room=room["code"],
        actor=f"mp:{principal.account_id}", work=work)
    return SurveySaved.model_validate({**result, "replayed": replayed})


def summarise(docs: list[dict[str, Any]]) -> tuple[int, int, list[QuestionResult]]:
    """(responses, satisfied by the overall question, per-question distributions). Pure."""
    results = []
    for key, text in QUESTIONS:
        counts = Counter(int(d["answers"][key]) for d in docs if key in d.get("answers", {}))
        n = sum(counts.values())
        results.append(QuestionResult(key=key, text=text, counts={s: counts.get(s, 0) for s in range(1, 6)},
                                      mean=round(sum(s * c for s, c in counts.items()) / n, 2) if n else None))
    satisfied = sum(1 for d in docs if int(d.get("answers", {}).get(OVERALL, 0)) >= SATISFIED_FROM)
    return len(docs), satisfied, results


async def results(deps: Deps, actor: Actor, code: str, query: SurveyResultsQuery) -> SurveyResults:
    """A room's survey results for a year, for staff: aggregates and comments, no identity."""
    room = await authorize_room(deps, actor, code)
    year = query.year or local_today().year
    docs = await repo.answers_of_year(deps.db, room["code"], year)
    responses, satisfied, questions = summarise(docs)
    return SurveyResults(room=room["code"], year=year, responses=responses, satisfied=satisfied,
                         satisfaction_rate=round(satisfied / responses, 4) if responses else None,
                         questions=questions,
                         comments=[Comment(text=d["comment"], on=d["answered_on"]) for d in docs if d.get("comment")])
