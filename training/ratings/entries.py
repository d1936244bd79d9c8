"""Entries of a rating round: submission (by rooms, towns, the district, and families through the
mini-program via ``submit_entry``), withdrawal, the town review, and what staff see of them.

Contracts:
- One entry per subject per round (Conflict ``duplicate_entry``); entries only while the round
  is open (RuleViolation ``round_not_open``); the subject must match the round's kind.
- Scope: a room administrator enters their own room / themselves / a family of their room or
  their town; a town coordinator anything of their towns; district roles anything.
- Withdrawal by the applicant or district roles while open or in town review. The town review by
  the coordinator of the entry's town (Forbidden for another town) or district roles.
- A decided round is locked (Conflict ``round_locked``). Staff writes are audited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from server.audit import repo as audit
from server.crypto import mask_name
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, RuleViolation
from server.staff.roles import DISTRICT, Actor, Role
from server.storage import db_now, in_transaction
from training.ratings import repo
from training.ratings.models import (
    ENTRY_STATUS_LABELS,
    KIND_LABELS,
    EntryCreate,
    EntryDetail,
    EntryList,
    EntryOut,
    InspectorScore,
    ObjectionOut,
    TownReviewIn,
    WithdrawIn,
)
from training.ratings.service import get_round_doc, object_id, require_unlocked

if TYPE_CHECKING:
    from server.resources import Deps

SUBJECT_TYPES = {"model_room": "room", "model_admin": "staff", "reading_family": "family"}
WITHDRAWABLE_ROUND = ("open", "town_review")
LIVE_STATUSES = ["submitted", "town_passed", "town_rejected"]


def subject_key(subject: dict[str, Any]) -> str:
    """room:<code> / staff:<id> / family:acc:<id> / family:reader:<id> (history: family:hist:<n>)."""
    kind = subject["type"]
    if kind == "room":
        return f"room:{subject['room']}"
    if kind == "staff":
        return f"staff:{subject['staff_id']}"
    if subject.get("account_id"):
        return f"family:acc:{subject['account_id']}"
    if subject.get("reader_id"):
        return f"family:reader:{subject['reader_id']}"
    raise InvalidInput("书香之家需要小程序账号或借阅证", code="family_unidentified",
                       errors=[FieldProblem(("body", "card_no"), "需要借阅证号")])


async def submit_entry(deps: Deps, *, round_id: ObjectId, subject: dict[str, Any], town: str,
                       applicant: dict[str, Any], statement: str, evidence: dict[str, Any],
                       session: Any = None) -> dict[str, Any]:
    """Store one entry in an open round and return the stored document. Called by the staff API
    below and by the mini-program's self-nomination (which audits nothing: readers are not staff).

    Raises NotFound (no such round), Conflict ``round_locked`` / ``duplicate_entry``,
    RuleViolation ``round_not_open`` / ``wrong_kind``. Writes in ``session`` when given."""
    doc = await get_round_doc(deps, round_id, session=session)
    require_unlocked(doc)
    if doc["status"] != "open":
        raise RuleViolation("这个评选现在不接受申报", code="round_not_open")
    if SUBJECT_TYPES[doc["kind"]] != subject.get("type"):
        raise RuleViolation(f"这个评选只评{KIND_LABELS[doc['kind']]}", code="wrong_kind")
    key = subject_key(subject)
    if await repo.entry_by_subject(deps.db, doc["_id"], key, session=session) is not None:
        raise Conflict("本轮评选已有这个申报对象", code="duplicate_entry")
    now = db_now()
    entry = {
        "_id": ObjectId(), "round_id": doc["_id"], "kind": doc["kind"],
        "subject": {"type": subject["type"], "room": subject["room"], "staff_id": subject.get("staff_id"),
                    "account_id": subject.get("account_id"), "reader_id": subject.get("reader_id"),
                    "name": subject["name"]},
        "subject_key": key, "town": town, "applicant": {**applicant, "at": applicant.get("at") or now},
        "statement": statement[:2000], "evidence": dict(evidence or {}), "status": "submitted", "town_review": None,
        "metrics": {}, "metrics_at": None, "scores": {}, "total": None, "rank": None, "outcome": None,
        "certificate_no": None, "history": False, "created_at": now, "updated_at": now,
    }
    try:
        await repo.insert_entry(deps.db, entry, session=session)
    except DuplicateKeyError:
        raise Conflict("本轮评选已有这个申报对象", code="duplicate_entry") from None
    return entry


def _channel(actor: Actor) -> str:
    return {Role.ROOM_ADMIN: "room", Role.TOWN_COORDINATOR: "town"}.get(actor.role, "district")


async def _room_in_scope(deps: Deps, actor: Actor, code: str, loc: tuple[str, ...]) -> dict[str, Any]:
    room = await repo.room(deps.db, code)
    if room is None:
        raise InvalidInput(f"没有书屋 {code}", code="unknown_room", errors=[FieldProblem(loc, "没有这个书屋")])
    if not actor.can_access_room(room["code"], room["town"]):
        raise Forbidden("只能为自己负责的书屋申报", code="room_out_of_scope")
    return room


async def _subject_for(deps: Deps, actor: Actor, kind: str, data: EntryCreate) -> tuple[dict[str, Any], str]:
    """(subject, town) of a staff nomination, within the actor's scope."""
    if kind == "model_room":
        code = data.room or (sorted(actor.rooms)[0] if actor.role is Role.ROOM_ADMIN and actor.rooms else None)
        if code is None:
            raise InvalidInput("请指定书屋", code="room_required", errors=[FieldProblem(("body", "room"), "必填")])
        room = await _room_in_scope(deps, actor, code, ("body", "room"))
        return {"type": "room", "room": room["code"], "name": room["name"]}, room["town"]
    if kind == "model_admin":
        staff_id = data.staff_id or (actor.staff_id if actor.role is Role.ROOM_ADMIN else None)
        if staff_id is None:
            raise InvalidInput("请指定管理员", code="staff_required", errors=[FieldProblem(("body", "staff_id"), "必填")])
        if actor.role is Role.ROOM_ADMIN and staff_id != actor.staff_id:
            raise Forbidden("书屋管理员只能申报自己", code="not_yourself")
        person = await repo.staff(deps.db, ObjectId(staff_id))
        if person is None or person.get("role") != "room_admin" or not person.get("rooms") or not person.get("active", True):
            raise InvalidInput("模范管理员须是在岗的书屋管理员", code="not_a_room_admin",
                               errors=[FieldProblem(("body", "staff_id"), "不是在岗的书屋管理员")])
        room = await _room_in_scope(deps, actor, sorted(person["rooms"])[0], ("body", "staff_id"))
        return {"type": "staff", "room": room["code"], "staff_id": staff_id, "name": person["name"]}, room["town"]
    if not data.card_no:
        raise InvalidInput("请填写家庭成员的借阅证号", code="card_required", errors=[FieldProblem(("body", "card_no"), "必填")])
    reader = await repo.reader_by_card(deps.db, data.card_no)
    if reader is None:
        raise InvalidInput("没有这个借阅证", code="unknown_card", errors=[FieldProblem(("body", "card_no"), "没有这个借阅证")])
    home = await repo.room(deps.db, reader["home_room"])
    town = (home or {}).get("town") or reader.get("home_town", "")
    if actor.role is Role.ROOM_ADMIN:
        own = await repo.rooms_by_code(deps.db, sorted(actor.rooms))
        if reader["home_room"] not in own and town not in {r["town"] for r in own.values()}:
            raise Forbidden("只能推荐本书屋或本镇街的家庭", code="family_out_of_scope")
    elif not actor.can_access_room(reader["home_room"], town):
        raise Forbidden("只能推荐本镇街的家庭", code="family_out_of_scope")
    return {"type": "family", "room": reader["home_room"], "reader_id": str(reader["_id"]),
            "name": f"{reader['name']}家庭"}, town


async def create_entry(deps: Deps, actor: Actor, round_id: str, data: EntryCreate) -> EntryOut:
    doc = await get_round_doc(deps, round_id)
    require_unlocked(doc)
    if doc["status"] != "open":
        raise RuleViolation("这个评选现在不接受申报", code="round_not_open")
    subject, town = await _subject_for(deps, actor, doc["kind"], data)
    evidence = data.evidence.model_dump(exclude_none=True) if data.evidence is not None else {}
    if doc["kind"] != "reading_family" and evidence:
        raise InvalidInput("只有书香之家需要填写家庭情况", code="evidence_not_needed",
                           errors=[FieldProblem(("body", "evidence"), "不需要")])

    async def work(session: Any) -> dict[str, Any]:
        entry = await submit_entry(deps, round_id=doc["_id"], subject=subject, town=town,
                                   applicant={"by": actor.username, "channel": _channel(actor), "at": None},
                                   statement=data.statement, evidence=evidence, session=session)
        await audit.record(deps.db, actor, "rating_entry.create", target_type="rating_entry",
                           target_id=str(entry["_id"]), room=subject["room"],
                           changes={"round_id": str(doc["_id"]), "subject_key": entry["subject_key"]}, session=session)
        return entry

    return to_out(await in_transaction(deps.mongo, work), actor)


def _may_see_family(actor: Actor | None, entry: dict[str, Any]) -> bool:
    """A family's name: district staff and inspectors (who visit it), the coordinator of its town
    and the administrator of its room; others see it masked."""
    if actor is None:
        return True
    if actor.role is Role.TRAINER:
        return False
    return actor.can_access_room(entry["subject"]["room"], entry.get("town", ""))


def to_out(entry: dict[str, Any], actor: Actor | None, cls: type[EntryOut] = EntryOut, **extra: Any) -> Any:
    subject = dict(entry["subject"])
    if subject["type"] == "family" and not _may_see_family(actor, entry):
        subject["name"] = mask_name(subject["name"])
    return cls(
        entry_id=str(entry["_id"]), round_id=str(entry["round_id"]), kind=entry["kind"], subject=subject,
        subject_key=entry["subject_key"], town=entry["town"], applicant=entry["applicant"],
        statement=entry.get("statement", ""), evidence=entry.get("evidence") or {}, status=entry["status"],
        status_label=ENTRY_STATUS_LABELS[entry["status"]], town_review=entry.get("town_review"),
        metrics=entry.get("metrics") or {}, metrics_at=entry.get("metrics_at"), scores=entry.get("scores") or {},
        total=entry.get("total"), rank=entry.get("rank"), outcome=entry.get("outcome"),
        certificate_no=entry.get("certificate_no"), history=bool(entry.get("history")),
        created_at=entry["created_at"], updated_at=entry["updated_at"], **extra)


async def get_entry_doc(deps: Deps, entry_id: str, *, session: Any = None) -> dict[str, Any]:
    entry = await repo.entry_by_id(deps.db, object_id(entry_id, "entry"), session=session)
    if entry is None:
        raise NotFound("没有这个申报", code="entry_not_found")
    return entry


async def list_entries(deps: Deps, actor: Actor, round_id: str) -> EntryList:
    doc = await get_round_doc(deps, round_id)
    return EntryList(items=[to_out(e, actor) for e in await repo.entries(deps.db, doc["_id"])])


def objection_out(o: dict[str, Any], names: dict[str, str] | None = None, *, full: bool = True) -> ObjectionOut:
    """``full``: the objector's name and masked phone (district staff, who follow it up); others
    see the name masked and no phone, so nobody can lean on the person who objected."""
    return ObjectionOut(objection_id=str(o["_id"]), round_id=str(o["round_id"]), entry_id=str(o["entry_id"]),
                        entry_name=(names or {}).get(str(o["entry_id"]), ""), text=o["text"],
                        name=o["name"] if full else mask_name(o["name"]),
                        contact=o.get("contact_masked", "") if full else "", channel=o["channel"], at=o["at"],
                        status=o["status"], decision=o.get("decision"))


async def entry_detail(deps: Deps, actor: Actor, entry_id: str) -> EntryDetail:
    """The entry with its metrics, the submitted inspectors' scores (an inspector sees the others'
    only once they submitted their own, until the shortlist is out) and its objections."""
    entry = await get_entry_doc(deps, entry_id)
    doc = await get_round_doc(deps, entry["round_id"])
    scores = [s for s in await repo.scores_for_entry(deps.db, entry["_id"]) if s.get("status") == "submitted"]
    if actor.role is Role.INSPECTOR and doc["status"] in ("open", "town_review", "district_review") \
            and not any(s.get("inspector") == actor.username for s in scores):
        scores = []
    objections = await repo.objections(deps.db, {"entry_id": entry["_id"]})
    return to_out(entry, actor, EntryDetail, inspections=[
        InspectorScore(inspector=s.get("inspector", ""), inspector_name=s.get("inspector_name", ""),
                       criteria={k: float(v) for k, v in (s.get("criteria") or {}).items()},
                       comment=s.get("comment") or "", visited_on=str(s["visited_on"]) if s.get("visited_on") else None,
                       photos=len(s.get("photos") or []), submitted_at=s.get("submitted_at")) for s in scores],
        objections=[objection_out(o, {str(entry["_id"]): entry["subject"]["name"]}, full=actor.role in DISTRICT)
                    for o in objections])


async def withdraw_entry(deps: Deps, actor: Actor, entry_id: str, data: WithdrawIn) -> EntryOut:
    entry = await get_entry_doc(deps, entry_id)
    doc = await get_round_doc(deps, entry["round_id"])
    require_unlocked(doc)
    if actor.role not in DISTRICT and entry["applicant"].get("by") != actor.username:
        raise Forbidden("只有申报人或区馆可以撤回申报", code="not_the_applicant")
    if doc["status"] not in WITHDRAWABLE_ROUND or entry["status"] not in LIVE_STATUSES:
        raise RuleViolation("现在不能撤回这个申报", code="not_withdrawable")
    changes = {"status": "withdrawn", "withdrawn": {"by": actor.username, "reason": data.reason, "at": db_now()},
               "updated_at": db_now()}
    return await _write_entry(deps, actor, entry, changes, "rating_entry.withdraw", {"reason": data.reason})


async def town_review(deps: Deps, actor: Actor, entry_id: str, data: TownReviewIn) -> EntryOut:
    entry = await get_entry_doc(deps, entry_id)
    doc = await get_round_doc(deps, entry["round_id"])
    require_unlocked(doc)
    if actor.role is Role.TOWN_COORDINATOR and entry["town"] not in actor.towns:
        raise Forbidden("只能初审本镇街的申报", code="town_out_of_scope")
    if doc["status"] != "town_review":
        raise RuleViolation("评选不在镇街初审阶段", code="not_in_town_review")
    if entry["status"] not in LIVE_STATUSES:
        raise RuleViolation("这个申报已撤回或已处理", code="not_reviewable")
    now = db_now()
    changes = {"status": "town_passed" if data.passed else "town_rejected", "updated_at": now,
               "town_review": {"passed": data.passed, "comment": data.comment, "by": actor.username, "at": now}}
    return await _write_entry(deps, actor, entry, changes, "rating_entry.town_review",
                              {"passed": data.passed, "before": entry["status"]})


async def _write_entry(deps: Deps, actor: Actor, entry: dict[str, Any], changes: dict[str, Any], action: str,
                       details: dict[str, Any]) -> EntryOut:
    async def work(session: Any) -> None:
        current = await repo.round_by_id(deps.db, entry["round_id"], session=session)
        require_unlocked(current or {})
        if not await repo.set_entry(deps.db, entry["_id"], changes, statuses=[entry["status"]], session=session):
            raise Conflict("申报状态刚刚改变，请刷新后重试", code="entry_changed")
        await audit.record(deps.db, actor, action, target_type="rating_entry", target_id=str(entry["_id"]),
                           room=entry["subject"]["room"], changes=details, session=session)

    await in_transaction(deps.mongo, work)
    return to_out({**entry, **changes}, actor)
