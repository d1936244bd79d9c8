"""Judging: scores by district staff, the awards within quotas, the results and their
Excel report for the level above, and certificates.

- A judge (a district staff member; the edition's judges list, if it has one) gives one
  score 0–100 per complete, accepted entry and may change it while the edition is judging.
- Computing the awards ranks each category and group (``rules.rank_entries``), hands out
  the awards, marks the entries recommended to the next level, numbers the certificates,
  moves the edition to ``awarded`` (which locks the scores) and records a ``contest_result``
  event for every entrant, all in one transaction.
"""

from __future__ import annotations

import asyncio
import io
from collections import Counter
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from openpyxl import Workbook
from openpyxl.styles import Font

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.contest import certificates, repo, rules
from miniprogram_api.contest.models import (
    AwardsIn,
    Quota,
    ResultPool,
    ResultRow,
    ResultsOut,
    ScoreIn,
    ScoreResult,
    TeacherOut,
)
from miniprogram_api.contest.service import load_contest, load_entry
from miniprogram_api.contest.views import (
    PHONE_CONTEXT,
    complete,
    contest_out,
    has_certificate,
    mean_of,
)
from server import outbox
from server.audit import repo as audit
from server.circulation.rules import LOCAL_TZ
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, RuleViolation
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps
    from server.staff.roles import Actor

RESULT_PAGE = "pages/contest/contest"
XLSX_HEADERS = ("类别", "组别", "名次", "奖项", "平均分", "评分人数", "推荐上报", "作品名称", "作者", "出生年份",
                "学校", "班级", "书屋", "镇街", "指导老师", "指导老师学校", "联系电话", "证书编号", "提交时间")


def _not_judging(contest: dict[str, Any]) -> Exception:
    if contest["status"] in rules.SETTLED:
        return Conflict("比赛已评奖，评分已锁定", code="scores_locked")
    return RuleViolation("比赛还没有进入评审阶段", code="not_judging")


# -- scores -----------------------------------------------------------------------------------


async def score_entry(deps: Deps, actor: Actor, contest_id: str, entry_id: str, data: ScoreIn) -> ScoreResult:
    """Give or change the calling judge's score of an entry. Forbidden for a staff member
    not on the edition's judges list; refused outside judging and for an entry that is not
    accepted or whose picture is missing."""
    contest, doc = await load_entry(deps, contest_id, entry_id)
    if contest["status"] != "judging":
        raise _not_judging(contest)
    judges = contest.get("judges") or []
    if judges and actor.username not in judges:
        raise Forbidden("您不是本届比赛的评委", code="not_a_judge")
    if doc["status"] != "submitted":
        raise RuleViolation("这件作品还没有通过审核，不能评分", code="entry_not_accepted")
    if not complete(doc):
        raise RuleViolation("这件作品还没有上传图片，不能评分", code="work_missing")
    now = db_now()

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        # Touching the edition makes a concurrent award computation and this score conflict:
        # one of the two transactions retries and sees the other, so no score slips in late.
        fresh = await repo.update_contest(deps.db, contest["_id"], {"scores_changed_at": now},
                                          status_in=["judging"], session=session)
        if fresh is None:
            raise _not_judging(await load_contest(deps, contest["_id"], session=session))
        score = await repo.upsert_score(deps.db, contest_id=contest["_id"], entry_id=doc["_id"],
                                        judge_id=actor.staff_id, judge=actor.username, score=data.score,
                                        comment=data.comment, now=now, session=session)
        await audit.record(deps.db, actor, "contest.entry_scored", target_type="contest_entry",
                           target_id=str(doc["_id"]), changes={"score": data.score, "comment": data.comment},
                           session=session)
        return score

    score = await in_transaction(deps.mongo, work)
    values = [s["score"] for s in await repo.scores_of_entries(deps.db, [doc["_id"]])]
    return ScoreResult(entry_id=str(doc["_id"]), judge=score["judge"], score=score["score"], comment=score.get("comment"),
                       scored_at=score["scored_at"], updated_at=score["updated_at"], score_count=len(values),
                       mean_score=mean_of(values) or 0.0)


# -- ranking ----------------------------------------------------------------------------------


def _scored(entries: list[dict[str, Any]], scores: list[dict[str, Any]]) -> list[rules.Scored]:
    by_entry: dict[ObjectId, list[int]] = {}
    for s in scores:
        by_entry.setdefault(s["entry_id"], []).append(s["score"])
    return [rules.Scored(str(e["_id"]), e["category"], e["group"], e["submitted_at"],
                         tuple(by_entry.get(e["_id"], ())) if complete(e) else ()) for e in entries]


async def _consented(deps: Deps, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries whose author is still an active member: once a guardian withdraws consent,
    the child's work is no longer judged, awarded or announced (it is erased later)."""
    members = await accounts_repo.members_by_ids(deps.db, [e["member_id"] for e in entries])
    return [e for e in entries if (members.get(e["member_id"]) or {}).get("status") == "active"]


def _stored_placings(entries: list[dict[str, Any]]) -> list[rules.Placing]:
    placings = [rules.Placing(str(e["_id"]), e["category"], e["group"], e.get("rank"), e.get("mean_score"),
                              e.get("score_count", 0), e.get("award") or "none", e.get("recommended", False))
                for e in entries]
    placings.sort(key=lambda p: (rules.CATEGORIES.index(p.category), rules.GROUPS.index(p.group),
                                 p.rank is None, p.rank or 0))
    return placings


def _certificate_prefix(deps: Deps, contest: dict[str, Any]) -> str:
    # The district's code, the year and a piece of the edition's id (two editions in a year differ).
    return f"{deps.settings.district.code}{contest['year']}{str(contest['_id'])[-4:].upper()}"


async def compute_awards(deps: Deps, actor: Actor, contest_id: str, data: AwardsIn) -> ResultsOut:
    """Rank, award, recommend and notify (see the module's docstring). Conflict if the
    edition is awarded already or entries still wait for review; RuleViolation unless it
    is judging; InvalidInput naming a recommended entry that is not an accepted entry."""
    contest = await load_contest(deps, contest_id)
    if contest["status"] != "judging":
        if contest["status"] in rules.SETTLED:
            raise Conflict("本届比赛已经评过奖了", code="already_awarded")
        raise RuleViolation("请先把比赛转入评审阶段，评分后再计算评奖结果", code="not_judging")
    waiting = await repo.count_entries(deps.db, contest["_id"], status="in_review")
    if waiting:
        raise Conflict(f"还有 {waiting} 件作品待审核，请先审核", code="entries_in_review")
    entries = await _consented(deps, await repo.entries_of_contest(deps.db, contest["_id"], statuses=["submitted"]))
    known = {str(e["_id"]) for e in entries}
    bad = [FieldProblem(("body", "recommend_entry_ids", i), "不是本届已通过审核的作品")
           for i, eid in enumerate(data.recommend_entry_ids) if eid not in known]
    if bad:
        raise InvalidInput("推荐的作品不在本届比赛中", code="unknown_entry", errors=bad)
    scores = await repo.scores_of_contest(deps.db, contest["_id"])
    placings = rules.rank_entries(_scored(entries, scores), contest["award_quotas"],
                                  recommend_top=data.recommend_top, recommend=data.recommend_entry_ids)
    numbers = rules.certificate_numbers(placings, prefix=_certificate_prefix(deps, contest))
    now = db_now()
    changes = {ObjectId(p.entry_id): {"rank": p.rank, "award": p.award, "mean_score": p.mean, "score_count": p.count,
                                      "recommended": p.recommended, "certificate_no": numbers.get(p.entry_id),
                                      "updated_at": now} for p in placings}
    by_id = {e["_id"]: e for e in entries}
    tally = Counter(p.award for p in placings)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        settled = await repo.update_contest(deps.db, contest["_id"], {
            "status": "awarded", "awarded_at": now, "updated_at": now, "recommend_top": data.recommend_top,
        }, status_in=["judging"], session=session)
        if settled is None:
            raise Conflict("比赛状态刚刚被别人改过，请刷新后再试", code="contest_changed")
        await repo.set_placings(deps.db, changes, session=session)
        # One event per entrant (the outbox's API records one at a time, each an upsert).
        for p in placings:
            entry = by_id[ObjectId(p.entry_id)]
            await outbox.record(
                deps.db, session, event="contest_result", key=f"{contest['_id']}:{p.entry_id}",
                data={"thing1": contest["title"], "phrase2": rules.award_label(p.award),
                      "thing3": rules.next_step(p.award, p.recommended)},
                page=f"{RESULT_PAGE}?id={contest['_id']}&entry={p.entry_id}", now=now,
                account_id=entry["account_id"], member_id=entry["member_id"])
        await audit.record(deps.db, actor, "contest.awarded", target_type="contest", target_id=str(contest["_id"]),
                           changes={"entries": len(placings), "awards": dict(tally),
                                    "recommended": sum(p.recommended for p in placings),
                                    "recommend_top": data.recommend_top}, session=session)
        return settled

    settled = await in_transaction(deps.mongo, work)
    return await results(deps, settled)


# -- results ----------------------------------------------------------------------------------


async def _results_data(deps: Deps, contest: dict[str, Any]) -> tuple[bool, list[rules.Placing], dict[str, Any]]:
    """(provisional, placings, entries by id): stored once awarded, computed from the
    scores as they stand before."""
    entries = await repo.entries_of_contest(deps.db, contest["_id"], statuses=["submitted"])
    if contest["status"] in rules.SETTLED:
        entries = [e for e in entries if e.get("award")]  # those placed when the awards were computed
        placings = _stored_placings(entries)
        provisional = False
    else:
        entries = await _consented(deps, entries)
        scores = await repo.scores_of_contest(deps.db, contest["_id"])
        placings = rules.rank_entries(_scored(entries, scores), contest["award_quotas"])
        provisional = True
    return provisional, placings, {str(e["_id"]): e for e in entries}


def _row(p: rules.Placing, entry: dict[str, Any]) -> ResultRow:
    author = entry["author"]
    return ResultRow(entry_id=p.entry_id, rank=p.rank, award=p.award, award_label=rules.award_label(p.award),
                     mean_score=p.mean, score_count=p.count, recommended=p.recommended, title=entry["title"],
                     author_name=author["name"], school=author.get("school"), class_name=author.get("class_name"),
                     home_room=author["home_room"],
                     teacher=TeacherOut(**entry["teacher"]) if entry.get("teacher") else None,
                     certificate_no=entry.get("certificate_no"))


async def results(deps: Deps, contest_or_id: str | dict[str, Any]) -> ResultsOut:
    """Every accepted entry by category and group, in rank order (unscored ones last)."""
    contest = contest_or_id if isinstance(contest_or_id, dict) else await load_contest(deps, contest_or_id)
    provisional, placings, entries = await _results_data(deps, contest)
    rows: dict[tuple[str, str], list[ResultRow]] = {}
    for p in placings:
        rows.setdefault((p.category, p.group), []).append(_row(p, entries[p.entry_id]))
    pools = [ResultPool(category=c, group=g, quota=Quota(**contest["award_quotas"][c][g]), entries=rows.get((c, g), []))
             for c in rules.CATEGORIES for g in rules.GROUPS]
    return ResultsOut(contest=contest_out(contest), provisional=provisional, pools=pools)


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


async def results_xlsx(deps: Deps, actor: Actor, contest_id: str) -> bytes:
    """The results as an Excel workbook for the report to the level above, with the
    contact phones in full (the export is audited)."""
    contest = await load_contest(deps, contest_id)
    provisional, placings, entries = await _results_data(deps, contest)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "评奖结果（暂定）" if provisional else "评奖结果"
    sheet.append(list(XLSX_HEADERS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for p in placings:
        e = entries[p.entry_id]
        author, teacher = e["author"], e.get("teacher") or {}
        phone = deps.cipher.decrypt(e["phone_enc"], context=PHONE_CONTEXT) if e.get("phone_enc") else ""
        sheet.append([p.category, p.group, p.rank or "", rules.award_label(p.award),
                      p.mean if p.mean is not None else "", p.count, "是" if p.recommended else "",
                      e["title"], author["name"], author["birth_year"], author.get("school") or "",
                      author.get("class_name") or "", author["home_room"], author.get("home_town") or "",
                      teacher.get("name", ""), teacher.get("school", ""), phone, e.get("certificate_no") or "",
                      _local(e["submitted_at"])])
    for column, width in zip("ABCDEFGHIJKLMNOPQRS", (8, 8, 6, 8, 8, 8, 8, 28, 10, 8, 20, 12, 12, 10, 10, 20, 14, 18, 16),
                             strict=True):
        sheet.column_dimensions[column].width = width
    out = io.BytesIO()
    book.save(out)
    await audit.record(deps.db, actor, "contest.results_exported", target_type="contest",
                       target_id=str(contest["_id"]), changes={"rows": len(placings), "provisional": provisional})
    return out.getvalue()


# -- certificates -------------------------------------------------------------------------------


async def certificate_pdf(deps: Deps, contest_id: str, entry_id: str, *, holder: str,
                          account_id: ObjectId | None = None) -> bytes:
    """The author's certificate, or the instructing teacher's (优秀指导老师), of an awarded
    entry. With ``account_id``, only that account's entries exist."""
    contest, entry = await load_entry(deps, contest_id, entry_id, account_id=account_id)
    if not has_certificate(entry, contest):
        raise RuleViolation("这件作品没有获奖证书（证书在评奖后颁发给获奖作品）", code="no_certificate")
    teacher = entry.get("teacher")
    if holder == "teacher" and not teacher:
        raise RuleViolation("这件作品没有填写指导老师", code="no_teacher")
    awarded_at = contest.get("awarded_at")
    issued_on = awarded_at.astimezone(LOCAL_TZ).date() if awarded_at else date.today()
    number = entry["certificate_no"] + ("-T" if holder == "teacher" else "")
    cert = certificates.Certificate(
        holder=holder, issuer=f"{deps.settings.district.name}图书馆", contest_title=contest["title"],
        author_name=entry["author"]["name"], school=entry["author"].get("school"), category=entry["category"],
        group=entry["group"], award=rules.award_label(entry["award"]), work_title=entry["title"],
        issued_on=issued_on, number=number, teacher_name=(teacher or {}).get("name"),
        teacher_school=(teacher or {}).get("school"))
    return await asyncio.to_thread(certificates.render_pdf, cert)
