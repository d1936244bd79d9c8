"""Inspectors' blind scoring of rating entries during a round's district review.

Rules:
- Only inspectors score, only entries of a round in ``district_review`` that is not
  locked (Conflict ``not_in_review`` / ``round_locked``), only the rubric's
  ``inspector`` criteria (InvalidInput naming the key), each 0–100.
- Conflict of interest (Forbidden ``conflict_of_interest``): an inspector may not score
  an entry of a town they belong to (their ``towns``, 所属镇街), an entry they applied
  for or reviewed at town level, or their own entry.
- A score is a draft until submitted; a submitted score never changes (Conflict
  ``already_submitted``). Drafts are never shown to anyone but their author.
- Blind: an inspector sees only their own score until they submit it, then every
  submitted score of that entry; district roles see submitted scores only.
- Every write carries an op_id (a replay returns the first answer) and is audited in
  the same transaction.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from bson import Binary, ObjectId
from pymongo.errors import DuplicateKeyError

from server.audit import repo as audit
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound
from server.idempotency import run_once
from server.ids import parse_object_id
from server.readers.service import local_today
from server.staff.roles import Actor, Role
from server.storage import db_now, in_transaction
from training.ratings.inspections import photos, repo
from training.ratings.inspections.models import (
    ENTRY_STATUS_LABELS,
    MAX_PHOTOS,
    OUT_OF_RUNNING,
    REVIEW_STATUS,
    CriterionOut,
    PhotoOut,
    ScoreIn,
    ScoreOut,
    ScoresOut,
    SubmitIn,
)

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

_PHOTO_ID = re.compile(r"^[0-9a-f]{64}$")


# -- pure rules ----------------------------------------------------------------------------


def inspector_criteria(round_doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The rubric's criteria that inspectors score on a visit."""
    return [c for c in (round_doc.get("rubric") or {}).get("criteria", []) if c.get("source") == "inspector"]


def conflict_reason(username: str, staff_id: str, towns: frozenset[str] | set[str], entry: dict[str, Any]) -> str | None:
    """Why this inspector may not score ``entry`` (a Chinese sentence), or None."""
    subject = entry.get("subject") or {}
    town = entry.get("town") or ""
    if town and town in towns:
        return f"您属于{town}，按回避规定不能给本镇街的申报评分"
    if subject.get("staff_id") and subject.get("staff_id") == staff_id:
        return "这是您本人的申报，需回避"
    if (entry.get("applicant") or {}).get("by") == username:
        return "这份申报是您提交的，需回避"
    if (entry.get("town_review") or {}).get("by") == username:
        return "您参加了这份申报的镇街初审，需回避"
    return None


def actor_conflict(actor: Actor, entry: dict[str, Any]) -> str | None:
    return conflict_reason(actor.username, actor.staff_id, actor.towns, entry)


def address_of(entry: dict[str, Any], room: dict[str, Any] | None) -> str:
    if room is None:
        return entry.get("town") or ""
    return f"{room.get('town', '')}{room.get('village') or ''} · {room.get('name', '')}"


def score_out(doc: dict[str, Any] | None, *, entry: dict[str, Any], actor: Actor | None = None) -> ScoreOut:
    if doc is None:
        assert actor is not None
        return ScoreOut(id=None, entry_id=str(entry["_id"]), round_id=str(entry["round_id"]), inspector=actor.username,
                        inspector_name=actor.name, criteria={}, comment="", photos=[], status="missing")
    return ScoreOut(
        id=str(doc["_id"]), entry_id=str(doc["entry_id"]), round_id=str(doc["round_id"]), inspector=doc["inspector"],
        inspector_name=doc.get("inspector_name", ""), criteria=doc.get("criteria") or {}, comment=doc.get("comment") or "",
        photos=list(doc.get("photos") or []), status=doc["status"], visited_on=doc.get("visited_on"),
        created_at=doc.get("created_at"), submitted_at=doc.get("submitted_at"),
    )


def criteria_out(round_doc: dict[str, Any]) -> list[CriterionOut]:
    return [CriterionOut(key=c["key"], label=c.get("label", c["key"]), group=c.get("group", ""),
                         weight=float(c.get("weight", 1))) for c in inspector_criteria(round_doc)]


# -- loading and checks ---------------------------------------------------------------------


def _op_key(actor: Actor, op_id: str) -> str:
    """Staff op_ids are namespaced per person: nobody replays someone else's operation."""
    return f"st-{actor.staff_id}-{op_id}"


async def load_entry(deps: Deps, entry_id: ObjectId, *,
                session: AsyncClientSession | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    entry = await repo.entry_by_id(deps.db, entry_id, session=session)
    if entry is None:
        raise NotFound("没有这份申报", code="entry_not_found")
    round_doc = await repo.round_by_id(deps.db, entry["round_id"], session=session)
    if round_doc is None:
        raise NotFound("这份申报所属的评选轮次不存在", code="round_not_found")
    return entry, round_doc


def _check_scorable(actor: Actor, entry: dict[str, Any], round_doc: dict[str, Any]) -> None:
    if round_doc.get("locked"):
        raise Conflict("这一轮评选的结果已锁定，不能再评分", code="round_locked")
    if round_doc.get("status") != REVIEW_STATUS:
        raise Conflict("这一轮评选现在不在区级评审（专家评分）阶段，不能评分", code="not_in_review")
    if entry.get("status") in OUT_OF_RUNNING:
        raise Conflict(f"这份申报已{ENTRY_STATUS_LABELS.get(entry['status'], entry['status'])}，不需要评分",
                       code="entry_not_in_review")
    reason = actor_conflict(actor, entry)
    if reason:
        raise Forbidden(f"利益回避：{reason}。请把这份申报交给其他督查员评分。", code="conflict_of_interest")


def entry_oid(entry_id: str) -> ObjectId:
    return parse_object_id(entry_id, loc=("path", "entry_id"))


# -- writing a score -----------------------------------------------------------------------


async def save_draft(deps: Deps, actor: Actor, entry_id: str, data: ScoreIn) -> ScoreOut:
    """Save the inspector's draft (criteria replace the previous draft's). Errors: NotFound,
    Conflict (not_in_review, round_locked, already_submitted), Forbidden
    (conflict_of_interest), InvalidInput (a criterion that is not an inspector's)."""
    oid = entry_oid(entry_id)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        entry, round_doc = await load_entry(deps, oid, session=session)
        _check_scorable(actor, entry, round_doc)
        allowed = {c["key"] for c in inspector_criteria(round_doc)}
        bad = [k for k in data.criteria if k not in allowed]
        if bad:
            raise InvalidInput(f"只能给由督查员现场评分的指标打分：{'、'.join(bad)} 不是", code="not_inspector_criterion",
                               errors=[FieldProblem(("body", "criteria", k), "不是本轮由督查员评分的指标") for k in bad])
        if data.visited_on and data.visited_on > local_today():
            raise InvalidInput("走访日期不能晚于今天", code="visit_in_future",
                               errors=[FieldProblem(("body", "visited_on"), "不能晚于今天")])
        existing = await repo.score_of(deps.db, oid, actor.username, session=session)
        if existing is not None and existing["status"] == "submitted":
            raise Conflict("您已提交这份申报的评分，提交后不能修改", code="already_submitted")
        changes = {"criteria": {k: round(v, 2) for k, v in data.criteria.items()}, "comment": data.comment,
                   "visited_on": data.visited_on.isoformat() if data.visited_on else None}
        try:
            doc = await repo.save_draft(deps.db, entry, actor.username, actor.name, changes, db_now(), session=session)
        except DuplicateKeyError:
            doc = None
        if doc is None:
            raise Conflict("您已提交这份申报的评分，提交后不能修改", code="already_submitted")
        await audit.record(deps.db, actor, "ratings.score.draft", target_type="rating_entry", target_id=str(oid),
                           room=(entry.get("subject") or {}).get("room"),
                           changes={"criteria": changes["criteria"], "comment_chars": len(data.comment),
                                    "visited_on": changes["visited_on"]}, session=session)
        return score_out(doc, entry=entry).model_dump(mode="json")

    result, _ = await run_once(deps.db, deps.mongo, op_id=_op_key(actor, data.op_id), kind="rating_score_draft",
                               room=None, actor=actor.username, work=work)
    return ScoreOut.model_validate(result)


async def submit_score(deps: Deps, actor: Actor, entry_id: str, data: SubmitIn) -> ScoreOut:
    """Submit the draft: every inspector criterion must be filled (InvalidInput naming each
    missing one). Afterwards it never changes (Conflict already_submitted); replaying the
    op_id returns the first answer."""
    oid = entry_oid(entry_id)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        entry, round_doc = await load_entry(deps, oid, session=session)
        _check_scorable(actor, entry, round_doc)
        existing = await repo.score_of(deps.db, oid, actor.username, session=session)
        if existing is not None and existing["status"] == "submitted":
            raise Conflict("您已提交过这份申报的评分，提交后不能修改", code="already_submitted")
        filled = (existing or {}).get("criteria") or {}
        missing = [c for c in inspector_criteria(round_doc) if c["key"] not in filled]
        if existing is None or missing:
            names = "、".join(c.get("label", c["key"]) for c in missing) or "评分"
            raise InvalidInput(f"还有指标没有打分：{names}。请先打分并保存，再提交", code="criteria_missing",
                               errors=[FieldProblem(("body", "criteria", c["key"]), "还没有打分") for c in missing]
                               or [FieldProblem(("body", "criteria"), "还没有评分")])
        doc = await repo.mark_submitted(deps.db, existing["_id"], db_now(), session=session)
        if doc is None:
            raise Conflict("您已提交过这份申报的评分，提交后不能修改", code="already_submitted")
        await audit.record(deps.db, actor, "ratings.score.submit", target_type="rating_entry", target_id=str(oid),
                           room=(entry.get("subject") or {}).get("room"),
                           changes={"criteria": doc.get("criteria"), "photos": len(doc.get("photos") or [])},
                           session=session)
        return score_out(doc, entry=entry).model_dump(mode="json")

    result, _ = await run_once(deps.db, deps.mongo, op_id=_op_key(actor, data.op_id), kind="rating_score_submit",
                               room=None, actor=actor.username, work=work)
    return ScoreOut.model_validate(result)


# -- photos --------------------------------------------------------------------------------


async def upload_photo(deps: Deps, actor: Actor, entry_id: str, body: bytes, content_type: str | None) -> PhotoOut:
    """Add a photo to the inspector's draft (made if there is none yet). JPEG or PNG, at most
    ``photos.upload_limit`` bytes, re-encoded as JPEG without EXIF, at most MAX_PHOTOS per
    score (InvalidInput too_many_photos). The same picture twice is kept once."""
    photos.check_upload(content_type, len(body), photos.upload_limit(deps.settings))
    oid = entry_oid(entry_id)
    entry, round_doc = await load_entry(deps, oid)
    _check_scorable(actor, entry, round_doc)  # refuse before the costly decoding
    existing = await repo.score_of(deps.db, oid, actor.username)
    _check_photo_room(existing)
    clean = await photos.clean_photo(body)
    now = db_now()

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        entry, round_doc = await load_entry(deps, oid, session=session)
        _check_scorable(actor, entry, round_doc)
        score = await repo.score_of(deps.db, oid, actor.username, session=session)
        _check_photo_room(score)
        if score is None:
            score = await repo.save_draft(deps.db, entry, actor.username, actor.name, {}, now, session=session)
            assert score is not None
        if clean.sha256 not in score.get("photos", []):
            score = await repo.add_photo(deps.db, score["_id"], clean.sha256, now, session=session)
            if score is None:
                raise _too_many_photos()
        await repo.insert_photo(deps.db, {
            "_id": clean.sha256, "data": Binary(clean.data), "content_type": clean.content_type,
            "width": clean.width, "height": clean.height, "bytes": len(clean.data), "round_id": entry["round_id"],
            "entry_id": entry["_id"], "uploaded_by": actor.username, "at": now}, session=session)
        await audit.record(deps.db, actor, "ratings.score.photo", target_type="rating_entry", target_id=str(oid),
                           room=(entry.get("subject") or {}).get("room"),
                           changes={"photo_id": clean.sha256, "bytes": len(clean.data)}, session=session)
        return score

    score = await in_transaction(deps.mongo, work)
    return PhotoOut(photo_id=clean.sha256, content_type=clean.content_type, bytes=len(clean.data),
                    width=clean.width, height=clean.height, photos=len(score.get("photos", [])))


def _too_many_photos() -> InvalidInput:
    return InvalidInput(f"每份评分最多 {MAX_PHOTOS} 张照片，请先删掉不需要的", code="too_many_photos",
                        errors=[FieldProblem(("body",), f"最多 {MAX_PHOTOS} 张")])


def _check_photo_room(score: dict[str, Any] | None) -> None:
    if score is None:
        return
    if score["status"] == "submitted":
        raise Conflict("您已提交这份申报的评分，不能再添加或删除照片", code="already_submitted")
    if len(score.get("photos") or []) >= MAX_PHOTOS:
        raise _too_many_photos()


async def delete_photo(deps: Deps, actor: Actor, entry_id: str, photo_id: str) -> None:
    """Take a photo off the inspector's draft; the photo itself goes when no score uses it."""
    oid = entry_oid(entry_id)

    async def work(session: AsyncClientSession) -> None:
        entry, round_doc = await load_entry(deps, oid, session=session)
        _check_scorable(actor, entry, round_doc)
        score = await repo.score_of(deps.db, oid, actor.username, session=session)
        if score is None or not _PHOTO_ID.match(photo_id) or photo_id not in (score.get("photos") or []):
            raise NotFound("您的评分里没有这张照片", code="photo_not_found")
        if score["status"] == "submitted":
            raise Conflict("您已提交这份申报的评分，不能再删除照片", code="already_submitted")
        now = db_now()
        if await repo.remove_photo(deps.db, score["_id"], photo_id, now, session=session) is None:
            raise Conflict("您已提交这份申报的评分，不能再删除照片", code="already_submitted")
        if not await repo.scores_with_photo(deps.db, photo_id, session=session):
            await repo.delete_photo(deps.db, photo_id, session=session)
        await audit.record(deps.db, actor, "ratings.score.photo_delete", target_type="rating_entry",
                           target_id=str(oid), room=(entry.get("subject") or {}).get("room"),
                           changes={"photo_id": photo_id}, session=session)

    await in_transaction(deps.mongo, work)


# -- reading scores (the blind rule) --------------------------------------------------------


def _visible(actor: Actor, score: dict[str, Any], own_submitted: bool) -> bool:
    if actor.role is Role.INSPECTOR:
        return score["inspector"] == actor.username or (own_submitted and score["status"] == "submitted")
    return score["status"] == "submitted"


async def entry_scores(deps: Deps, actor: Actor, entry_id: str) -> ScoresOut:
    """The scores of an entry the caller may see. An inspector: their own (draft or not)
    until it is submitted, then every submitted score; a conflicted inspector is refused.
    District roles: the submitted scores. Drafts are never shown to anyone else."""
    entry, round_doc = await load_entry(deps, entry_oid(entry_id))
    own_submitted, blind = False, False
    if actor.role is Role.INSPECTOR:
        reason = actor_conflict(actor, entry)
        if reason:
            raise Forbidden(f"利益回避：{reason}。", code="conflict_of_interest")
    scores = await repo.scores_of_entries(deps.db, [entry["_id"]])
    if actor.role is Role.INSPECTOR:
        own = next((s for s in scores if s["inspector"] == actor.username), None)
        own_submitted = own is not None and own["status"] == "submitted"
        blind = not own_submitted
    shown = [score_out(s, entry=entry) for s in scores if _visible(actor, s, own_submitted)]
    return ScoresOut(entry_id=str(entry["_id"]), blind=blind, criteria=criteria_out(round_doc), scores=shown)


async def photo_bytes(deps: Deps, actor: Actor, photo_id: str) -> bytes:
    """A photo's JPEG, for whoever may see a score that has it (the blind rule); otherwise
    NotFound, so that a photo id tells nothing."""
    if not _PHOTO_ID.match(photo_id):
        raise NotFound("没有这张照片", code="photo_not_found")
    scores = await repo.scores_with_photo(deps.db, photo_id)
    allowed = False
    if actor.role is Role.INSPECTOR:
        own = [s for s in scores if s["inspector"] == actor.username]
        if own:
            allowed = True
        else:
            submitted = [s for s in scores if s["status"] == "submitted"]
            if submitted:
                entry_ids = list({s["entry_id"] for s in submitted})
                mine = await repo.scores_of_entries(deps.db, entry_ids)
                done = {s["entry_id"] for s in mine if s["inspector"] == actor.username and s["status"] == "submitted"}
                allowed = bool(done)
    else:
        allowed = any(s["status"] == "submitted" for s in scores)
    doc = await repo.photo_by_id(deps.db, photo_id, with_data=True) if allowed else None
    if doc is None:
        raise NotFound("没有这张照片", code="photo_not_found")
    return bytes(doc["data"])
