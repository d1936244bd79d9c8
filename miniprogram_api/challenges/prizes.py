"""Prize draws (seeded, reproducible, audited; winners notified) and the librarians'
spreadsheets: a draw's winners and a challenge's participants with their totals."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from openpyxl import Workbook

from miniprogram_api.challenges import draw as drawing
from miniprogram_api.challenges import repo, service
from miniprogram_api.challenges.models import (
    UNIT_LABELS,
    DrawFilters,
    DrawIn,
    DrawOut,
    DrawQuery,
    WinnerOut,
)
from server import outbox
from server.audit import repo as audit
from server.errors import FieldProblem, InvalidInput, NotFound, RuleViolation
from server.ids import parse_object_id
from server.readers import repo as readers_repo
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_DRAW_PROJECTION = {"room": 1, "age_group": 1, "days": 1, "total": 1, "status": 1}


async def run_draw(deps: Deps, actor: Actor, challenge_id: str, data: DrawIn) -> DrawOut:
    """Draw ``data.winners`` among the eligible participants (the challenge's minimum total,
    the filters, earlier winners left out unless asked). The seed, the sorted eligible ids
    and their hash and the winners are stored; ``prize_won`` events are recorded for the
    winners, and the draw is audited — all in one transaction."""
    challenge = await service.load_challenge(deps, challenge_id)
    if not challenge.get("draw"):
        raise RuleViolation("这个活动没有设置抽奖", code="no_draw")
    f = data.filters
    if f.logged_from and f.logged_to and f.logged_to < f.logged_from:
        raise InvalidInput("日期范围有误", code="validation_failed",
                           errors=[FieldProblem(("body", "filters", "logged_to"), "不能早于 logged_from")])
    groups = {g["name"] for g in challenge["age_groups"]}
    unknown = [FieldProblem(("body", "filters", "age_groups", i), f"活动没有年龄组“{g}”")
               for i, g in enumerate(f.age_groups or []) if g not in groups]
    if unknown:
        raise InvalidInput(unknown[0].msg, code="validation_failed", errors=unknown)
    seed = data.seed or drawing.new_seed()
    exclude = await repo.previous_winners(deps.db, challenge["_id"]) if data.exclude_previous_winners else set()
    people = await repo.all_participants(deps.db, challenge["_id"], projection=_DRAW_PROJECTION)
    eligible = drawing.eligible_ids(
        ({**p, "id": str(p["_id"])} for p in people),
        min_total=max(challenge["draw"]["min_total"], f.min_total or 0),
        rooms=set(f.rooms) if f.rooms is not None else None,
        age_groups=set(f.age_groups) if f.age_groups is not None else None,
        logged_from=f.logged_from, logged_to=f.logged_to, exclude=exclude)
    if not eligible:
        raise RuleViolation("没有符合条件的参与者", code="nobody_eligible")
    winners = drawing.pick_winners(eligible, seed, data.winners)
    winner_docs = await repo.participants_by_ids(deps.db, [ObjectId(w) for w in winners])
    now = db_now()
    doc = {"challenge_id": challenge["_id"], "prize": data.prize, "seed": seed, "algorithm": drawing.ALGORITHM,
           "filters": data.filters.model_dump(mode="json"), "exclude_previous_winners": data.exclude_previous_winners,
           "eligible_ids": eligible, "eligible_count": len(eligible), "eligible_hash": drawing.list_hash(eligible),
           "winners": winners, "created_at": now, "created_by": actor.username}

    async def work(session: AsyncClientSession) -> ObjectId:
        oid = ObjectId()
        await repo.insert_draw(deps.db, {**doc, "_id": oid}, session=session)
        for w in winners:  # at most DrawIn.winners (≤ 1000), once per draw
            p = winner_docs.get(ObjectId(w))
            if p is None or (not p.get("account_id") and not p.get("reader_id")):
                continue
            await outbox.record(
                deps.db, session, event="prize_won", key=f"{oid}:{w}",
                data={"thing1": challenge["title"], "thing2": data.prize, "thing3": p.get("room_name") or p["room"]},
                page=f"pages/challenges/detail?id={challenge['_id']}", now=now,
                account_id=p.get("account_id"), member_id=p.get("member_id"),
                reader_id=None if p.get("account_id") else p.get("reader_id"))
        await audit.record(deps.db, actor, "challenge.draw", target_type="challenge", target_id=str(challenge["_id"]),
                           changes={"draw_id": str(oid), "seed": seed, "eligible_count": len(eligible),
                                    "eligible_hash": doc["eligible_hash"], "winners": winners, "prize": data.prize},
                           session=session)
        return oid

    doc["_id"] = await in_transaction(deps.mongo, work)
    return _draw_out(doc, winner_docs, include_eligible=False)


def _draw_out(doc: dict[str, Any], people: dict[ObjectId, dict[str, Any]], *, include_eligible: bool) -> DrawOut:
    winners = []
    for w in doc["winners"]:
        p = people.get(ObjectId(w))
        if p is not None:  # an erased participant leaves the draw, not a hole in it
            winners.append(WinnerOut(participant_id=w, name=p["name"], room=p["room"], room_name=p.get("room_name"),
                                     age_group=p["age_group"], total=p["total"]))
    return DrawOut(id=str(doc["_id"]), challenge_id=str(doc["challenge_id"]), prize=doc["prize"], seed=doc["seed"],
                   algorithm=doc["algorithm"], filters=DrawFilters.model_validate(doc["filters"]),
                   exclude_previous_winners=doc["exclude_previous_winners"], eligible_count=doc["eligible_count"],
                   eligible_hash=doc["eligible_hash"], eligible_ids=doc["eligible_ids"] if include_eligible else None,
                   winners=winners, created_at=doc["created_at"], created_by=doc["created_by"])


async def _load_draw(deps: Deps, challenge_id: str, draw_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    challenge = await service.load_challenge(deps, challenge_id)
    doc = await repo.draw_by_id(deps.db, challenge["_id"], parse_object_id(draw_id, loc=("path", "draw_id")))
    if doc is None:
        raise NotFound("没有这次抽奖", code="draw_not_found")
    return challenge, doc


async def get_draw(deps: Deps, challenge_id: str, draw_id: str, query: DrawQuery) -> DrawOut:
    _, doc = await _load_draw(deps, challenge_id, draw_id)
    people = await repo.participants_by_ids(deps.db, [ObjectId(w) for w in doc["winners"]])
    return _draw_out(doc, people, include_eligible=query.include_eligible)


def _xlsx(title: str, headers: list[str], rows: list[list[Any]]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title)
    sheet.append(headers)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def _cards(deps: Deps, people: list[dict[str, Any]]) -> dict[ObjectId, str]:
    readers = await readers_repo.by_ids(deps.db, [p["reader_id"] for p in people if p.get("reader_id")])
    return {rid: r["card_no"] for rid, r in readers.items()}


async def winners_xlsx(deps: Deps, challenge_id: str, draw_id: str) -> bytes:
    """The winners with their full names and card numbers (staff only)."""
    challenge, doc = await _load_draw(deps, challenge_id, draw_id)
    people = await repo.participants_by_ids(deps.db, [ObjectId(w) for w in doc["winners"]])
    cards = await _cards(deps, list(people.values()))
    unit = UNIT_LABELS[challenge["unit"]]
    rows = []
    for n, w in enumerate(doc["winners"], start=1):
        p = people.get(ObjectId(w))
        if p is None:
            continue
        rows.append([n, p["name"], cards.get(p["reader_id"], "") if p.get("reader_id") else "", p.get("room_name") or p["room"], p["room"],
                     p.get("town") or "", p.get("school") or "", p.get("class_name") or "", p["age_group"], p["total"],
                     doc["prize"]])
    headers = ["序号", "姓名", "借阅证号", "书屋", "书屋编号", "镇街", "学校", "班级", "年龄组", f"累计（{unit}）", "奖品"]
    return _xlsx("中奖名单", headers, rows)


async def export_xlsx(deps: Deps, actor: Actor, challenge_id: str) -> bytes:
    """Every participant of the actor's rooms with totals, for librarians."""
    challenge = await service.load_challenge(deps, challenge_id)
    people = await repo.all_participants(deps.db, challenge["_id"], service.scope_filter(actor),
                                         projection={"days": 0, "recent": 0})
    cards = await _cards(deps, people)
    unit = UNIT_LABELS[challenge["unit"]]
    rows = [[p["name"], cards.get(p["reader_id"], "") if p.get("reader_id") else "", p.get("room_name") or p["room"], p["room"],
             p.get("town") or "", p.get("school") or "", p.get("class_name") or "", p["age_group"], p["total"],
             p["log_count"], len(p.get("badges", [])), "是" if p.get("public") else "否",
             "小程序" if str(p.get("joined_by", "")).startswith("mp:") else "书屋代办",
             p["joined_at"].astimezone(_tz()).strftime("%Y-%m-%d %H:%M")] for p in people]
    headers = ["姓名", "借阅证号", "书屋", "书屋编号", "镇街", "学校", "班级", "年龄组", f"累计（{unit}）", "打卡次数",
               "徽章数", "公开上榜", "参加方式", "参加时间"]
    return _xlsx("参与者", headers, rows)


def _tz() -> Any:
    from server.circulation.rules import LOCAL_TZ

    return LOCAL_TZ

