"""公示: what the public page shows, and objections — lodged by the public while the notice runs
(or recorded by staff), resolved by the district with a decision.

Contracts:
- The public page exists for rounds in publicity, decided or reported; it shows the shortlist
  (later the result) in rank order with totals and per-criterion scores. Families appear as a
  masked name and their town only; no phone number or reader data ever appears.
- A public objection needs the notice to be running (RuleViolation ``publicity_not_running``),
  names a shortlisted entry of the round, a phone (stored encrypted, shown masked) and 10–1000
  characters; rate-limited per address; a filled honeypot is accepted and dropped.
- An OPEN objection blocks the decision (service._decide). Upheld: the entry is rejected.
  Resolutions and staff-recorded objections are audited; a locked round refuses both.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server import ratelimit
from server.audit import repo as audit
from server.crypto import mask_name, mask_phone
from server.errors import Conflict, FieldProblem, InvalidInput, NotFound, RuleViolation
from server.staff.roles import DISTRICT, Actor
from server.storage import db_now, in_transaction
from training.ratings import repo, scoring
from training.ratings.entries import objection_out
from training.ratings.models import (
    KIND_LABELS,
    LEVEL_LABELS,
    OUTCOME_LABELS,
    ObjectionIn,
    ObjectionList,
    ObjectionOut,
    PublicObjectionIn,
    ResolveIn,
)
from training.ratings.service import get_round_doc, object_id, publicity_running, require_unlocked

if TYPE_CHECKING:
    from server.resources import Deps

CONTACT_CONTEXT = "rating_objection.contact"
PUBLIC_STATUSES = ("publicity", "decided", "reported")
OBJECTIONS_PER_HOUR_PER_IP = 5
OBJECTION_WINDOW_SECS = 3600


def public_name(entry: dict[str, Any], rooms: dict[str, dict[str, Any]]) -> tuple[str, str]:
    """(name, where) as the public sees them: a family's name masked with its town only; an
    administrator's name with their room; a room's name with its town."""
    subject = entry["subject"]
    room = rooms.get(subject["room"]) or {}
    if subject["type"] == "family":
        return mask_name(subject["name"].removesuffix("家庭")) + "家庭", entry["town"]
    if subject["type"] == "staff":
        return subject["name"], f"{entry['town']} · {room.get('name', subject['room'])}"
    return subject["name"], entry["town"]


async def public_rounds(deps: Deps) -> list[dict[str, Any]]:
    docs = await repo.rounds(deps.db, {"status": {"$in": list(PUBLIC_STATUSES)}})
    return [{"id": str(d["_id"]), "title": d["title"], "year": d["year"], "kind": KIND_LABELS[d["kind"]],
             "level": LEVEL_LABELS[d["level"]], "status": d["status"], "publicity": d.get("publicity"),
             "running": publicity_running(d), "history": bool(d.get("history"))} for d in docs]


async def public_round(deps: Deps, round_id: str) -> dict[str, Any]:
    """The 公示 page's content (plain data, nothing personal beyond names)."""
    doc = await get_round_doc(deps, round_id)
    if doc["status"] not in PUBLIC_STATUSES:
        raise NotFound("这个评选还没有公示", code="round_not_found")
    decided = doc["status"] != "publicity"
    statuses = ["awarded", "nominated"] if decided else ["shortlisted", "rejected"]
    entries = [e for e in await repo.entries(deps.db, doc["_id"], statuses=statuses)
               if e["status"] != "rejected" or e.get("rank")]
    entries.sort(key=lambda e: (e.get("rank") or 10**9, e["subject_key"]))
    rooms = await repo.rooms_by_code(deps.db, sorted({e["subject"]["room"] for e in entries}))
    criteria = doc["rubric"]["criteria"]
    labels = {c["key"]: c["label"] for c in criteria}
    rows = []
    for e in entries:
        name, where = public_name(e, rooms)
        rows.append({"id": str(e["_id"]), "rank": e.get("rank"), "name": name, "where": where, "town": e["town"],
                     "total": e.get("total"), "scores": [(e.get("scores") or {}).get(c["key"]) for c in criteria],
                     "rejected": e["status"] == "rejected",
                     "outcome": OUTCOME_LABELS.get(e.get("outcome") or "", "")})
    return {"id": str(doc["_id"]), "title": doc["title"], "year": doc["year"], "kind": KIND_LABELS[doc["kind"]],
            "level": LEVEL_LABELS[doc["level"]], "period": doc["period"], "publicity": doc.get("publicity"),
            "status": doc["status"], "decided": decided, "running": publicity_running(doc),
            "history": bool(doc.get("history")), "criteria": criteria, "rows": rows, "quotas": doc["quotas"],
            "tie_rule": scoring.tie_rule_text([labels[k] for k in doc["rubric"]["tie_break"] if k in labels])}


async def _target_entry(deps: Deps, doc: dict[str, Any], entry_id: str) -> dict[str, Any]:
    entry = await repo.entry_by_id(deps.db, object_id(entry_id, "entry"))
    if entry is None or entry["round_id"] != doc["_id"]:
        raise InvalidInput("请从公示名单中选择", code="unknown_entry",
                           errors=[FieldProblem(("body", "entry_id"), "不是本次公示的对象")])
    return entry


def _objection_doc(deps: Deps, doc: dict[str, Any], entry: dict[str, Any], *, text: str, name: str,
                   phone: str | None, channel: str) -> dict[str, Any]:
    return {"_id": ObjectId(), "round_id": doc["_id"], "entry_id": entry["_id"], "text": text, "name": name,
            "contact": deps.cipher.encrypt(phone, context=CONTACT_CONTEXT) if phone else None,
            "contact_masked": mask_phone(phone) if phone else "", "channel": channel, "at": db_now(),
            "status": "open", "decision": None}


async def lodge_public_objection(deps: Deps, round_id: str, data: PublicObjectionIn, *, ip: str) -> bool:
    """Store an objection from the public page; False when the honeypot caught a robot (nothing
    stored, the robot is told nothing). TooManyAttempts past the per-address limit."""
    await ratelimit.hit(deps.redis, f"rating-objection:{ip}", limit=OBJECTIONS_PER_HOUR_PER_IP,
                        window_secs=OBJECTION_WINDOW_SECS, message="提交太频繁了，请一小时后再试")
    doc = await get_round_doc(deps, round_id)
    if not publicity_running(doc):
        raise RuleViolation("公示期已结束或尚未开始，不能再提出异议", code="publicity_not_running")
    if data.website:
        return False
    entry = await _target_entry(deps, doc, data.entry_id)
    if entry["status"] != "shortlisted":
        raise InvalidInput("请从公示名单中选择", code="unknown_entry",
                           errors=[FieldProblem(("body", "entry_id"), "不是本次公示的对象")])
    await repo.insert_objection(deps.db, _objection_doc(deps, doc, entry, text=data.text, name=data.name,
                                                        phone=data.phone, channel="public"))
    return True


async def record_objection(deps: Deps, actor: Actor, round_id: str, data: ObjectionIn) -> ObjectionOut:
    """An objection staff received (letter, telephone, visit) while the round is in publicity."""
    doc = await get_round_doc(deps, round_id)
    require_unlocked(doc)
    if doc["status"] != "publicity":
        raise RuleViolation("只有公示阶段才能登记异议", code="not_in_publicity")
    entry = await _target_entry(deps, doc, data.entry_id)
    objection = _objection_doc(deps, doc, entry, text=data.text, name=data.name, phone=data.phone, channel="staff")

    async def work(session: Any) -> None:
        await repo.insert_objection(deps.db, objection, session=session)
        await audit.record(deps.db, actor, "rating_objection.record", target_type="rating_objection",
                           target_id=str(objection["_id"]), room=entry["subject"]["room"],
                           changes={"round_id": str(doc["_id"]), "entry_id": str(entry["_id"])}, session=session)

    await in_transaction(deps.mongo, work)
    return objection_out(objection, {str(entry["_id"]): entry["subject"]["name"]})


async def list_objections(deps: Deps, actor: Actor, round_id: str) -> ObjectionList:
    """The round's objections; the objector's contact only for district staff."""
    doc = await get_round_doc(deps, round_id)
    found = await repo.objections(deps.db, {"round_id": doc["_id"]})
    entries = {str(e["_id"]): e["subject"]["name"] for e in await repo.entries(deps.db, doc["_id"])}
    return ObjectionList(items=[objection_out(o, entries, full=actor.role in DISTRICT) for o in found])


async def resolve_objection(deps: Deps, actor: Actor, objection_id: str, data: ResolveIn) -> ObjectionOut:
    """Decide an open objection; upheld: the entry is rejected (it cannot be awarded)."""
    objection = await repo.objection_by_id(deps.db, object_id(objection_id, "objection"))
    if objection is None:
        raise NotFound("没有这条异议", code="objection_not_found")
    doc = await get_round_doc(deps, objection["round_id"])
    require_unlocked(doc)
    if objection["status"] != "open":
        raise Conflict("这条异议已经处理过了", code="objection_resolved")
    now = db_now()
    decision = {"decision": data.decision, "text": data.text, "by": actor.username, "at": now}
    entry = await repo.entry_by_id(deps.db, objection["entry_id"])

    async def work(session: Any) -> None:
        current = await repo.round_by_id(deps.db, doc["_id"], session=session)
        require_unlocked(current or {})
        if not await repo.set_objection(deps.db, objection["_id"], {"status": data.decision, "decision": decision},
                                        session=session):
            raise Conflict("这条异议已经处理过了", code="objection_resolved")
        if data.decision == "upheld" and entry is not None:
            await repo.set_entry(deps.db, entry["_id"], {"status": "rejected", "updated_at": now,
                                                         "rejected_by_objection": str(objection["_id"])},
                                 session=session)
        await audit.record(deps.db, actor, "rating_objection.resolve", target_type="rating_objection",
                           target_id=str(objection["_id"]), room=(entry or {}).get("subject", {}).get("room"),
                           changes={"decision": data.decision, "entry_id": str(objection["entry_id"]),
                                    "entry_status_before": (entry or {}).get("status")}, session=session)

    await in_transaction(deps.mongo, work)
    names = {str(entry["_id"]): entry["subject"]["name"]} if entry else {}
    return objection_out({**objection, "status": data.decision, "decision": decision}, names)
