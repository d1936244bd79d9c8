"""Enrolment in a session, with a waiting list, and "my training" for the phone.

A room administrator (or a town coordinator) enrols themselves; district roles and the
session's trainer enrol anyone who takes training. When the session is full the person
goes on the waiting list (ordered by when they asked). Cancelling an enrolled place, or
raising the capacity, moves the first waiting people up in the same transaction.

Each enrolment and cancellation carries a client ``op_id`` (``idempotency.run_once``): a
replay answers the first result; a second enrolment of the same person with another op_id
is refused with 409 ``already_enrolled``. The session document is touched inside each
transaction (``repo.lock_session``) so two people cannot both take the last place.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server import idempotency
from server.audit import repo as audit
from server.errors import Conflict, FieldProblem, InvalidInput, RuleViolation
from server.ids import parse_object_id
from server.staff import repo as staff_repo
from server.staff.roles import Actor
from server.storage import db_now
from training.courses import repo
from training.courses.models import (
    ATTENDANCE_LABELS,
    ENROLMENT_LABELS,
    OPEN_STATUSES,
    CancelIn,
    EnrolIn,
    EnrolmentList,
    EnrolmentOut,
    EnrolResult,
    MySession,
    MyTraining,
)
from training.courses.service import (
    TRAINEE_ROLES,
    TRAINER_ROLES,
    check_manager,
    load_session,
    sessions_out,
)

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps


def enrolment_out(doc: dict[str, Any], position: int | None = None) -> EnrolmentOut:
    return EnrolmentOut(
        session_id=str(doc["session_id"]), course_id=str(doc["course_id"]), staff_id=doc["staff_id"],
        username=doc["username"], name=doc["name"], rooms=doc.get("rooms", []), status=doc["status"],
        status_label=ENROLMENT_LABELS[doc["status"]], position=position if doc["status"] == "waiting" else None,
        at=doc["at"], by=doc["by"],
    )


async def promote_waiting(deps: Deps, session_oid: ObjectId, places: int, *,
                          session: AsyncClientSession) -> list[str]:
    """Move the first ``places`` waiting people up to enrolled; their usernames."""
    if places <= 0:
        return []
    first = await repo.waiting_list(deps.db, session_oid, session=session, limit=places)
    await repo.set_enrolment_status(deps.db, [d["_id"] for d in first], "enrolled", session=session,
                                    promoted_at=db_now())
    return [d["username"] for d in first]


async def _trainee(deps: Deps, staff_id: str) -> dict[str, Any]:
    doc = await staff_repo.by_id(deps.db, ObjectId(staff_id))
    if doc is None or not doc.get("active", True) or doc["role"] not in TRAINEE_ROLES:
        raise InvalidInput("只能为在职的书屋管理员或镇街联络员报名", code="not_a_trainee",
                           errors=[FieldProblem(("body", "staff_id"), "不是在职的书屋管理员或镇街联络员")])
    return doc


async def enrol(deps: Deps, actor: Actor, session_id: str, data: EnrolIn) -> EnrolResult:
    """Enrol ``data.staff_id`` (or the actor) in a scheduled or open session. Raises NotFound,
    Forbidden (someone else, not the session's manager), InvalidInput ``not_a_trainee``,
    RuleViolation ``session_closed``, Conflict ``already_enrolled``."""
    doc = await load_session(deps, session_id)
    target = data.staff_id or actor.staff_id
    if target != actor.staff_id:
        check_manager(actor, doc)
    elif actor.role not in TRAINEE_ROLES:
        raise InvalidInput("请指定报名的人（staff_id）", code="validation_failed",
                           errors=[FieldProblem(("body", "staff_id"), "请指定书屋管理员或镇街联络员")])
    person = await _trainee(deps, target)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        current = await repo.lock_session(deps.db, doc["_id"], session=session)
        if current is None or current["status"] not in OPEN_STATUSES:
            raise RuleViolation("这场培训已结束或已取消，不能报名", code="session_closed")
        existing = await repo.enrolment(deps.db, doc["_id"], target, session=session)
        if existing is not None and existing["status"] != "cancelled":
            label = "已报名" if existing["status"] == "enrolled" else "已在候补名单上"
            raise Conflict(f"{person['name']}{label}", code="already_enrolled",
                           errors=[FieldProblem(("body", "staff_id"), label)])
        enrolled = await repo.count_enrolled(deps.db, doc["_id"], session=session)
        status = "enrolled" if enrolled < current["capacity"] else "waiting"
        row = {"session_id": doc["_id"], "course_id": doc["course_id"], "staff_id": target,
               "username": person["username"], "name": person["name"], "rooms": person.get("rooms", []),
               "status": status, "at": db_now(), "by": actor.username}
        await repo.upsert_enrolment(deps.db, row, session=session)
        position = len(await repo.waiting_list(deps.db, doc["_id"], session=session)) if status == "waiting" else None
        await audit.record(deps.db, actor, "training.enrolment.create", target_type="training_session",
                           target_id=str(doc["_id"]), changes={"staff": person["username"], "status": status,
                                                               "position": position}, session=session)
        return {"enrolment": {k: v for k, v in row.items()}, "position": position, "promoted": []}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="training_enrol",
                                                  room=None, actor=actor.username, work=work)
    out = enrolment_out(result["enrolment"], result["position"])
    message = (f"已报名：{out.name}" if out.status == "enrolled"
               else f"名额已满，{out.name}排在候补名单第 {out.position} 位，有人退出时自动递补")
    return EnrolResult(op_id=data.op_id, replayed=replayed, enrolment=out, promoted=[], message=message)


async def cancel(deps: Deps, actor: Actor, session_id: str, staff_id: str, data: CancelIn) -> EnrolResult:
    """Cancel a place (one's own, or anyone's for the session's managers); the first waiting
    person moves up when an enrolled place frees. RuleViolation ``not_enrolled`` /
    ``session_closed``; Conflict ``already_checked_in`` once the person was marked present."""
    doc = await load_session(deps, session_id)
    parse_object_id(staff_id, loc=("path", "staff_id"))
    if staff_id != actor.staff_id:
        check_manager(actor, doc)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        current = await repo.lock_session(deps.db, doc["_id"], session=session)
        if current is None or current["status"] not in OPEN_STATUSES:
            raise RuleViolation("这场培训已结束或已取消，不能退出", code="session_closed")
        existing = await repo.enrolment(deps.db, doc["_id"], staff_id, session=session)
        if existing is None or existing["status"] == "cancelled":
            raise RuleViolation("此人没有报名这场培训", code="not_enrolled")
        mark = await repo.attendance(deps.db, doc["_id"], staff_id, session=session)
        if mark is not None and mark["status"] == "present":
            raise Conflict("已签到，不能再退出报名", code="already_checked_in")
        await repo.set_enrolment_status(deps.db, [existing["_id"]], "cancelled", session=session,
                                        cancelled_at=db_now(), cancelled_by=actor.username)
        promoted: list[str] = []
        if existing["status"] == "enrolled":
            enrolled = await repo.count_enrolled(deps.db, doc["_id"], session=session)
            promoted = await promote_waiting(deps, doc["_id"], current["capacity"] - enrolled, session=session)
        await audit.record(deps.db, actor, "training.enrolment.cancel", target_type="training_session",
                           target_id=str(doc["_id"]), changes={"staff": existing["username"],
                                                               "was": existing["status"], "promoted": promoted},
                           session=session)
        return {"enrolment": {**existing, "status": "cancelled"}, "position": None, "promoted": promoted}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="training_cancel",
                                                  room=None, actor=actor.username, work=work)
    out = enrolment_out(result["enrolment"])
    promoted = list(result["promoted"])
    message = f"已取消{out.name}的报名" + (f"，候补的{'、'.join(promoted)}已递补" if promoted else "")
    return EnrolResult(op_id=data.op_id, replayed=replayed, enrolment=out, promoted=promoted, message=message)


async def list_enrolments(deps: Deps, actor: Actor, session_id: str) -> EnrolmentList:
    """The session's places (its trainer and district roles only)."""
    doc = await load_session(deps, session_id)
    check_manager(actor, doc)
    return await enrolment_list(deps, doc)


async def enrolment_list(deps: Deps, doc: dict[str, Any]) -> EnrolmentList:
    """Enrolled, waiting (in order, with places) and cancelled people of session ``doc``."""
    rows = await repo.enrolments_of_session(deps.db, doc["_id"])
    waiting = [r for r in rows if r["status"] == "waiting"]
    return EnrolmentList(
        enrolled=[enrolment_out(r) for r in rows if r["status"] == "enrolled"],
        waiting=[enrolment_out(r, i) for i, r in enumerate(waiting, start=1)],
        cancelled=[enrolment_out(r) for r in rows if r["status"] == "cancelled"],
    )


async def my_training(deps: Deps, actor: Actor, now: datetime | None = None) -> MyTraining:
    """My places, my attendance, the sessions I could still join, and the ones I run.
    A fixed number of queries (one per collection and list)."""
    now = now or db_now()
    mine = [e for e in await repo.enrolments_of_staff(deps.db, actor.staff_id) if e["status"] != "cancelled"]
    marks = await repo.attendance_of_staff(deps.db, actor.staff_id)
    upcoming: list[dict[str, Any]] = []
    if actor.role in TRAINEE_ROLES:
        taken = [e["session_id"] for e in mine]
        upcoming = await repo.find_sessions(deps.db, {"status": "scheduled", "starts_at": {"$gte": now},
                                                      "_id": {"$nin": taken}}, limit=30)
    running: list[dict[str, Any]] = []
    if actor.role in TRAINER_ROLES:
        running = await repo.find_sessions(deps.db, {"trainer": actor.username, "status": {"$in": list(OPEN_STATUSES)}},
                                           limit=30)
    known = await repo.sessions_by_ids(deps.db, [e["session_id"] for e in mine] + [m["session_id"] for m in marks])
    outs = {s.id: s for s in await sessions_out(deps, [*known.values(), *upcoming, *running])}
    by_session = {m["session_id"]: m for m in marks}
    enrolled_in = {e["session_id"]: e for e in mine}

    def item(sid: ObjectId) -> MySession:
        mark = by_session.get(sid)
        enrolment = enrolled_in.get(sid)
        return MySession(session=outs[str(sid)], enrolment=enrolment_out(enrolment) if enrolment else None,
                         attendance=mark["status"] if mark else None,
                         attendance_label=ATTENDANCE_LABELS[mark["status"] if mark else None])

    waiting_positions = await _positions(deps, [e for e in mine if e["status"] == "waiting"])
    enrolments = [item(e["session_id"]) for e in mine if str(e["session_id"]) in outs]
    for entry in enrolments:
        if entry.enrolment and entry.enrolment.status == "waiting":
            entry.enrolment.position = waiting_positions.get(entry.session.id)
    enrolments.sort(key=lambda m: m.session.starts_at)
    attended = sorted((item(m["session_id"]) for m in marks if str(m["session_id"]) in outs),
                      key=lambda m: m.session.starts_at, reverse=True)
    return MyTraining(enrolments=enrolments, attendance=attended,
                      upcoming=[outs[str(d["_id"])] for d in upcoming], trainer_of=[outs[str(d["_id"])] for d in running])


async def my_certificates_and_quizzes(deps: Deps, actor: Actor, mine: MyTraining
                                      ) -> tuple[list[Any], list[dict[str, str]]]:
    """My certificates, and the quizzes still to pass for courses I attended (the link an
    administrator needs after the session: 参加考试)."""
    from training.certificates.models import CertificateQuery
    from training.certificates.service import list_certificates

    page = await list_certificates(deps, actor, CertificateQuery.model_validate(
        {"staff_id": actor.staff_id, "limit": 50}))
    certified = {c.course_id for c in page.items if not c.revoked}
    attended = {m.session.course_id: m.session.course_title for m in mine.attendance
                if m.attendance == "present" and m.session.course_id not in certified}
    courses = await repo.courses_by_ids(deps.db, [ObjectId(c) for c in attended])
    quizzes = [{"course_id": cid, "title": title} for cid, title in attended.items()
               if courses.get(ObjectId(cid), {}).get("quiz")]
    return page.items, quizzes


async def _positions(deps: Deps, waiting: list[dict[str, Any]]) -> dict[str, int]:
    """Place on the waiting list of each of my waiting enrolments (one query)."""
    if not waiting:
        return {}
    ids = [w["session_id"] for w in waiting]
    ahead = await repo.waiting_lists(deps.db, ids)
    positions: dict[str, int] = {}
    counter: dict[ObjectId, int] = {}
    mine = {w["session_id"]: w["staff_id"] for w in waiting}
    for row in ahead:
        counter[row["session_id"]] = counter.get(row["session_id"], 0) + 1
        if mine.get(row["session_id"]) == row["staff_id"]:
            positions[str(row["session_id"])] = counter[row["session_id"]]
    return positions
