"""Attendance: the trainer's rotating QR, check-in by scanning it, manual correction.

The code itself is made and checked by the pure ``attendance`` module. Check-in refusals
are named for the page to show: ``invalid_code`` (not ours, or tampered), ``stale_code``
(an old code, e.g. a screenshot), ``checkin_closed``, ``foreign_code`` (the code of a
session other than the scanner's), ``not_enrolled``, ``already_checked_in`` (409). Each
check-in carries an op_id: a replay answers the first result, even after the code expired.
"""

from __future__ import annotations

import base64
import io
import time
from typing import TYPE_CHECKING, Any

import qrcode
import qrcode.image.svg
from bson import ObjectId

from server import idempotency
from server.audit import repo as audit
from server.errors import Conflict, FieldProblem, InvalidInput, RuleViolation
from server.ids import parse_object_id
from server.staff import repo as staff_repo
from server.staff.roles import Actor
from server.storage import db_now, in_transaction
from training.courses import attendance as codes
from training.courses import repo
from training.courses.models import (
    ATTENDANCE_LABELS,
    AttendanceIn,
    AttendanceList,
    AttendanceRow,
    CheckinIn,
    CheckinOut,
    QrOut,
)
from training.courses.service import TRAINEE_ROLES, check_manager, load_session

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

_CODE = ("body", "code")


def qr_svg_data_url(text: str) -> str:
    """The QR of ``text`` as an SVG data: URL (sharp at any size on the trainer's phone)."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, border=2,
                        error_correction=qrcode.constants.ERROR_CORRECT_M)
    buf = io.BytesIO()
    image.save(buf)
    return "data:image/svg+xml;base64," + base64.b64encode(buf.getvalue()).decode()


async def current_qr(deps: Deps, actor: Actor, session_id: str, now: float | None = None) -> QrOut:
    """The code to show now (the session's trainer or district roles; 409 ``checkin_closed``
    unless check-in is open) with the live counts."""
    doc = await load_session(deps, session_id)
    check_manager(actor, doc)
    if doc["status"] != "checkin_open":
        raise Conflict("这场培训现在没有开放签到", code="checkin_closed")
    step_secs = deps.settings.training_qr_step_secs
    code = codes.make_code(doc["qr_secret"], str(doc["_id"]), time.time() if now is None else now, step_secs)
    counts = await repo.enrolment_counts(deps.db, [doc["_id"]])
    return QrOut(code=code.text, image=qr_svg_data_url(code.text), expires_in=round(code.expires_in, 3),
                 step_secs=step_secs, present=await repo.count_present(deps.db, doc["_id"]),
                 enrolled=counts.get(doc["_id"], {}).get("enrolled", 0))


def _refuse(detail: str, code: str) -> RuleViolation:
    return RuleViolation(detail, code=code, errors=[FieldProblem(_CODE, detail)])


async def check_in(deps: Deps, actor: Actor, data: CheckinIn, now: float | None = None) -> CheckinOut:
    """Mark the scanner present at the session of the code they scanned."""
    at = time.time() if now is None else now
    step_secs = deps.settings.training_qr_step_secs

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        parsed = codes.parse_code(data.code)
        if parsed is None:
            raise _refuse("这不是培训签到码，请扫培训师手机上的二维码", "invalid_code")
        doc = await repo.session_doc(deps.db, ObjectId(parsed.session_id), session=session)
        if doc is None or codes.verify_code(parsed, doc["qr_secret"], at, step_secs) is codes.Verdict.INVALID:
            raise _refuse("签到码无效，请重新扫培训师手机上的二维码", "invalid_code")
        if doc["status"] != "checkin_open":
            raise _refuse("这场培训现在没有开放签到", "checkin_closed")
        if codes.verify_code(parsed, doc["qr_secret"], at, step_secs) is not codes.Verdict.OK:
            raise _refuse("签到码已过期（二维码每半分钟更换一次，截图无效），请现场重新扫码", "stale_code")
        if data.session_id is not None and data.session_id != parsed.session_id:
            raise _refuse("这是另一场培训的签到码", "foreign_code")
        enrolment = await repo.enrolment(deps.db, doc["_id"], actor.staff_id, session=session)
        if enrolment is None or enrolment["status"] != "enrolled":
            others = await repo.open_sessions_for(deps.db, actor.staff_id, db_now())
            if any(o["_id"] != doc["_id"] for o in others):
                raise _refuse("这是另一场培训的签到码，请扫您报名的培训的二维码", "foreign_code")
            waiting = enrolment is not None and enrolment["status"] == "waiting"
            raise _refuse("您在候补名单上，还没有报上名，请找培训师登记" if waiting else "您没有报名这场培训",
                          "not_enrolled")
        mark = await repo.attendance(deps.db, doc["_id"], actor.staff_id, session=session)
        if mark is not None and mark["status"] == "present":
            raise Conflict("您已经签过到了", code="already_checked_in", errors=[FieldProblem(_CODE, "已签到")])
        when = db_now()
        await repo.put_attendance(deps.db, {
            "session_id": doc["_id"], "course_id": doc["course_id"], "staff_id": actor.staff_id,
            "username": actor.username, "name": actor.name, "status": "present", "method": "qr", "at": when,
            "by": actor.username, "reason": None}, session=session)
        await audit.record(deps.db, actor, "training.attendance.checkin", target_type="training_session",
                           target_id=str(doc["_id"]), changes={"staff": actor.username, "step": parsed.step},
                           session=session)
        course = await repo.course(deps.db, doc["course_id"], session=session)
        return {"session_id": str(doc["_id"]), "course_title": course["title"] if course else "", "at": when}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="training_checkin",
                                                  room=None, actor=actor.username, work=work)
    return CheckinOut(op_id=data.op_id, replayed=replayed, session_id=result["session_id"],
                      course_title=result["course_title"], status="present", at=result["at"],
                      message=f"签到成功：{result['course_title']}")


async def correct_attendance(deps: Deps, actor: Actor, session_id: str, staff_id: str, data: AttendanceIn) -> AttendanceRow:
    """The trainer (or district) marks someone present or absent by hand, with a reason;
    audited with before and after. Only once check-in has opened (or after the session)."""
    doc = await load_session(deps, session_id)
    check_manager(actor, doc)
    oid = parse_object_id(staff_id, loc=("path", "staff_id"))
    if doc["status"] not in ("checkin_open", "finished"):
        raise RuleViolation("签到开始后才能登记出勤", code="session_not_started")
    person = await staff_repo.by_id(deps.db, oid)
    if person is None or person["role"] not in TRAINEE_ROLES:
        raise InvalidInput("只能为书屋管理员或镇街联络员登记出勤", code="not_a_trainee",
                           errors=[FieldProblem(("path", "staff_id"), "不是书屋管理员或镇街联络员")])

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        before = await repo.attendance(deps.db, doc["_id"], staff_id, session=session)
        row = {"session_id": doc["_id"], "course_id": doc["course_id"], "staff_id": staff_id,
               "username": person["username"], "name": person["name"], "status": data.status, "method": "manual",
               "at": db_now(), "by": actor.username, "reason": data.reason}
        await repo.put_attendance(deps.db, row, session=session)
        await audit.record(deps.db, actor, "training.attendance.correct", target_type="training_session",
                           target_id=str(doc["_id"]), changes={
                               "staff": person["username"], "reason": data.reason,
                               "before": {"status": before["status"], "method": before["method"]} if before else None,
                               "after": {"status": data.status, "method": "manual"}}, session=session)
        return row

    row = await in_transaction(deps.mongo, work)
    if doc["status"] == "finished" and data.status == "present":
        # A correction after the session may complete the course for this person.
        from training.certificates.service import issue_due

        await issue_due(deps, actor, course_id=str(doc["course_id"]), staff_ids=[staff_id])
    enrolment = await repo.enrolment(deps.db, doc["_id"], staff_id)
    return _row(person_row(person), enrolment, row)


def person_row(doc: dict[str, Any]) -> dict[str, Any]:
    return {"staff_id": str(doc.get("_id", doc.get("staff_id"))), "username": doc["username"], "name": doc["name"],
            "rooms": doc.get("rooms", [])}


def _row(person: dict[str, Any], enrolment: dict[str, Any] | None, mark: dict[str, Any] | None) -> AttendanceRow:
    status = mark["status"] if mark else None
    return AttendanceRow(**person, enrolment=enrolment["status"] if enrolment else None, status=status,
                         status_label=ATTENDANCE_LABELS[status], method=mark["method"] if mark else None,
                         at=mark["at"] if mark else None, by=mark["by"] if mark else None,
                         reason=mark.get("reason") if mark else None)


async def attendance_list(deps: Deps, actor: Actor, session_id: str) -> AttendanceList:
    """Everyone enrolled (and anyone marked without a place) with present / absent / not recorded."""
    doc = await load_session(deps, session_id)
    check_manager(actor, doc)
    return await build_attendance_list(deps, doc)


async def build_attendance_list(deps: Deps, doc: dict[str, Any]) -> AttendanceList:
    enrolments = await repo.enrolments_of_session(deps.db, doc["_id"])
    marks = {m["staff_id"]: m for m in await repo.attendance_of_session(deps.db, doc["_id"])}
    rows: list[AttendanceRow] = []
    seen: set[str] = set()
    for e in enrolments:
        if e["status"] == "enrolled" or e["staff_id"] in marks:
            seen.add(e["staff_id"])
            rows.append(_row({"staff_id": e["staff_id"], "username": e["username"], "name": e["name"],
                              "rooms": e.get("rooms", [])}, e, marks.get(e["staff_id"])))
    for sid, m in marks.items():
        if sid not in seen:
            rows.append(_row({"staff_id": sid, "username": m["username"], "name": m["name"], "rooms": []}, None, m))
    rows.sort(key=lambda r: (r.status != "present", r.username))
    present = sum(1 for r in rows if r.status == "present")
    absent = sum(1 for r in rows if r.status == "absent")
    return AttendanceList(session_id=str(doc["_id"]), items=rows, present=present, absent=absent,
                          not_recorded=len(rows) - present - absent)
