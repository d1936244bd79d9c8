"""Courses, sessions, enrolment and attendance over HTTP: the staff API
(``/api/v1/training/…``), the phone pages (``/m/training…``) and their JSON
(``/m/api/training/…``), and the console pages (``/console/training/courses…``,
``/console/training/sessions…``)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from bson import ObjectId
from pydantic import BaseModel, ValidationError

from server.console.handlers import ConsolePage
from server.errors import Forbidden, InvalidInput
from server.phone.base import PhoneApiHandler, PhonePage
from server.staff import repo as staff_repo
from server.staff.roles import ALL_STAFF, CONSOLE, DISTRICT, Role
from server.web.api import ApiHandler, endpoint
from server.web.pages import PageHandler
from server.web.problems import field_problems
from training.courses import checkin, enrolment, repo, service
from training.courses.models import (
    ATTENDANCE_LABELS,
    ENROLMENT_LABELS,
    KIND_LABELS,
    LEVEL_LABELS,
    STATUS_LABELS,
    TOPICS,
    TRANSITIONS,
    AttendanceIn,
    AttendanceList,
    AttendanceRow,
    CancelIn,
    CheckinIn,
    CheckinOut,
    CourseCreate,
    CourseList,
    CourseOut,
    CourseQuery,
    CourseUpdate,
    EnrolIn,
    EnrolmentList,
    EnrolResult,
    MyTraining,
    QrOut,
    SessionCreate,
    SessionOut,
    SessionPage,
    SessionQuery,
    SessionUpdate,
    TransitionIn,
)
from training.courses.service import COURSE_WRITERS, TRAINEE_ROLES

TAGS = ["training"]
ENROLLERS = COURSE_WRITERS | TRAINEE_ROLES
BASE = r"/api/v1/training"
COURSE = r"(?P<course_id>[^/]+)"
SESSION = r"(?P<session_id>[^/]+)"
STAFF = r"(?P<staff_id>[^/]+)"
_W = (403, 404, 409, 422)


class CoursesHandler(ApiHandler):
    @endpoint(summary="培训课程列表", roles=ALL_STAFF, query=CourseQuery, response=CourseList, tags=TAGS)
    async def get(self, *, query: CourseQuery) -> CourseList:
        return await service.list_courses(self.deps, query)

    @endpoint(summary="新建培训课程", roles=COURSE_WRITERS, body=CourseCreate, response=CourseOut, status=201,
              tags=TAGS, errors=(409,))
    async def post(self, *, body: CourseCreate) -> CourseOut:
        return await service.create_course(self.deps, self.me, body)


class CourseHandler(ApiHandler):
    @endpoint(summary="一门培训课程", roles=ALL_STAFF, response=CourseOut, tags=TAGS, errors=(404, 422))
    async def get(self, course_id: str) -> CourseOut:
        return await service.get_course(self.deps, course_id)

    @endpoint(summary="修改培训课程", roles=COURSE_WRITERS, body=CourseUpdate, response=CourseOut, tags=TAGS,
              errors=(404,))
    async def patch(self, course_id: str, *, body: CourseUpdate) -> CourseOut:
        return await service.update_course(self.deps, self.me, course_id, body)


class SessionsHandler(ApiHandler):
    @endpoint(summary="培训场次列表（按开始时间）", roles=ALL_STAFF, query=SessionQuery, response=SessionPage, tags=TAGS)
    async def get(self, *, query: BaseModel) -> SessionPage:
        return await service.list_sessions(self.deps, query)

    @endpoint(summary="安排一场培训", roles=COURSE_WRITERS, body=SessionCreate, response=SessionOut, status=201,
              tags=TAGS, errors=(403,))
    async def post(self, *, body: SessionCreate) -> SessionOut:
        return await service.create_session(self.deps, self.me, body)


class SessionHandler(ApiHandler):
    @endpoint(summary="一场培训", roles=ALL_STAFF, response=SessionOut, tags=TAGS, errors=(404, 422))
    async def get(self, session_id: str) -> SessionOut:
        return await service.get_session(self.deps, session_id)

    @endpoint(summary="修改培训时间、地点、培训师或名额（增加名额时候补依次递补）", roles=COURSE_WRITERS,
              body=SessionUpdate, response=SessionOut, tags=TAGS, errors=_W)
    async def patch(self, session_id: str, *, body: SessionUpdate) -> SessionOut:
        return await service.update_session(self.deps, self.me, session_id, body)


class TransitionHandler(ApiHandler):
    @endpoint(summary="开放签到、结束或取消一场培训", roles=COURSE_WRITERS, body=TransitionIn, response=SessionOut,
              tags=TAGS, errors=_W)
    async def post(self, session_id: str, *, body: TransitionIn) -> SessionOut:
        return await service.transition(self.deps, self.me, session_id, body)


class EnrolmentsHandler(ApiHandler):
    @endpoint(summary="报名名单（含候补顺序）", roles=COURSE_WRITERS, response=EnrolmentList, tags=TAGS,
              errors=(404, 422))
    async def get(self, session_id: str) -> EnrolmentList:
        return await enrolment.list_enrolments(self.deps, self.me, session_id)

    @endpoint(summary="报名（满员时进入候补；op_id 幂等）", roles=ENROLLERS, body=EnrolIn, response=EnrolResult,
              status=201, tags=TAGS, errors=_W)
    async def post(self, session_id: str, *, body: EnrolIn) -> EnrolResult:
        return await enrolment.enrol(self.deps, self.me, session_id, body)


class CancelHandler(ApiHandler):
    @endpoint(summary="取消报名（候补第一位自动递补；op_id 幂等）", roles=ENROLLERS, body=CancelIn,
              response=EnrolResult, tags=TAGS, errors=_W)
    async def post(self, session_id: str, staff_id: str, *, body: CancelIn) -> EnrolResult:
        return await enrolment.cancel(self.deps, self.me, session_id, staff_id, body)


class QrHandler(ApiHandler):
    @endpoint(summary="当前签到码（每隔一段时间更换；仅签到中）", roles=COURSE_WRITERS, response=QrOut, tags=TAGS,
              errors=_W)
    async def get(self, session_id: str) -> QrOut:
        return await checkin.current_qr(self.deps, self.me, session_id)


class AttendanceHandler(ApiHandler):
    @endpoint(summary="出勤名单", roles=COURSE_WRITERS, response=AttendanceList, tags=TAGS, errors=(404, 422))
    async def get(self, session_id: str) -> AttendanceList:
        return await checkin.attendance_list(self.deps, self.me, session_id)


class AttendanceCorrectionHandler(ApiHandler):
    @endpoint(summary="手工登记或更正出勤（须写明原因，留痕）", roles=COURSE_WRITERS, body=AttendanceIn,
              response=AttendanceRow, tags=TAGS, errors=_W)
    async def put(self, session_id: str, staff_id: str, *, body: AttendanceIn) -> AttendanceRow:
        return await checkin.correct_attendance(self.deps, self.me, session_id, staff_id, body)


class CheckinsHandler(ApiHandler):
    @endpoint(summary="扫码签到（op_id 幂等）", roles=TRAINEE_ROLES, body=CheckinIn, response=CheckinOut, status=201,
              tags=TAGS, errors=(409, 422))
    async def post(self, *, body: CheckinIn) -> CheckinOut:
        return await checkin.check_in(self.deps, self.me, body)


class MeHandler(ApiHandler):
    @endpoint(summary="我的培训：报名、出勤、可报名的场次", roles=ALL_STAFF, response=MyTraining, tags=TAGS)
    async def get(self) -> MyTraining:
        return await enrolment.my_training(self.deps, self.me)


# -- the phone: JSON for the pages' scripts ------------------------------------------------


class PhoneCheckinsHandler(PhoneApiHandler):
    @endpoint(summary="扫码签到（手机页面）", roles=TRAINEE_ROLES, body=CheckinIn, response=CheckinOut, status=201)
    async def post(self, *, body: CheckinIn) -> CheckinOut:
        return await checkin.check_in(self.deps, self.me, body)


class PhoneQrHandler(PhoneApiHandler):
    @endpoint(summary="当前签到码（手机页面）", roles=COURSE_WRITERS, response=QrOut)
    async def get(self, session_id: str) -> QrOut:
        return await checkin.current_qr(self.deps, self.me, session_id)


# -- the phone: pages ------------------------------------------------------------------------


def _form(model: type[BaseModel], values: dict[str, Any]) -> Any:
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput("表单填写有误", code="validation_failed", errors=field_problems(exc, "body")) from None


class MyTrainingPage(PhonePage):
    """My sessions, the sessions I could join (a plain form post each: works without
    JavaScript), my attendance; for trainers, links to their sessions' QR."""

    roles = ALL_STAFF

    async def get(self) -> None:
        mine = await enrolment.my_training(self.deps, self.me)
        certificates, quizzes = await enrolment.my_certificates_and_quizzes(self.deps, self.me, mine)
        self.render_page("phone/training_home.html", mine=mine, op_id=uuid.uuid4().hex, certificates=certificates,
                         quizzes=quizzes, can_enrol=self.me.role in TRAINEE_ROLES,
                         done=self.get_query_argument("done", "")[:80])


class PhoneEnrolPage(PhonePage):
    roles = TRAINEE_ROLES

    async def post(self, session_id: str) -> None:
        data = _form(EnrolIn, {"op_id": self.get_body_argument("op_id", "")})
        result = await enrolment.enrol(self.deps, self.me, session_id, data)
        self.redirect(f"/m/training?done={quote(result.message)}")


class PhoneCancelPage(PhonePage):
    roles = TRAINEE_ROLES

    async def post(self, session_id: str) -> None:
        data = _form(CancelIn, {"op_id": self.get_body_argument("op_id", "")})
        result = await enrolment.cancel(self.deps, self.me, session_id, self.me.staff_id, data)
        self.redirect(f"/m/training?done={quote(result.message)}")


class CheckinPage(PhonePage):
    """Scan the trainer's QR (camera, or type/paste the code); ``training.js`` posts it."""

    roles = TRAINEE_ROLES

    async def get(self) -> None:
        mine = await enrolment.my_training(self.deps, self.me)
        open_now = [m for m in mine.enrolments if m.session.status == "checkin_open"
                    and m.enrolment is not None and m.enrolment.status == "enrolled"]
        self.render_page("phone/training_checkin.html", open_now=open_now, xsrf_token=self.xsrf_token.decode())


class QrPage(PageHandler):
    """The trainer's big rotating QR. Trainers log in on the console (the phone log-in is for
    desk work), so a visitor without a session is sent there and comes back through
    ``/console/training/sessions/<id>/qr``."""

    roles = None
    area = "phone"
    login_url = "/m/login"
    home_url = "/m/"

    async def get(self, session_id: str) -> None:
        if self.actor is None:
            self.redirect(f"/console/login?next={quote(f'/console/training/sessions/{session_id}/qr')}")
            return
        if self.actor.role not in COURSE_WRITERS:
            raise Forbidden("只有培训师和区馆工作人员可以打开签到二维码", code="role_forbidden")
        doc = await service.load_session(self.deps, session_id)
        service.check_manager(self.me, doc)
        out = (await service.sessions_out(self.deps, [doc]))[0]
        qr = await checkin.current_qr(self.deps, self.me, session_id) if doc["status"] == "checkin_open" else None
        self.render_page("phone/training_qr.html", s=out, qr=qr, xsrf_token=self.xsrf_token.decode())


# -- the console -------------------------------------------------------------------------------


class TrainingConsolePage(ConsolePage):
    roles = CONSOLE

    def labels(self) -> dict[str, Any]:
        return {"topics": TOPICS, "kind_labels": KIND_LABELS, "level_labels": LEVEL_LABELS,
                "status_labels": STATUS_LABELS, "can_write": self.me.role in COURSE_WRITERS}

    def values(self) -> dict[str, Any]:
        """The posted form without its empty fields (an empty field means "not given")."""
        return {k: self.get_body_argument(k).strip() for k in self.request.body_arguments
                if k != "_xsrf" and self.get_body_argument(k).strip()}


def _quiz(values: dict[str, Any]) -> dict[str, Any] | None:
    keys = ("pass_mark", "questions_per_attempt", "time_limit_min")
    if not any(values.get(k) for k in keys):
        return None
    return {k: values.pop(k, "") for k in keys}


class CoursesPage(TrainingConsolePage):
    async def get(self) -> None:
        courses = await service.list_courses(self.deps, CourseQuery())
        self.render_page("console/training/courses.html", courses=courses.items, **self.labels())

    async def post(self) -> None:
        values = self.values()
        quiz = _quiz(values)
        data = _form(CourseCreate, {**values, "topics": self.get_body_arguments("topics"), "quiz": quiz,
                                    "active": True})
        course = await service.create_course(self.deps, self.me, data)
        self.redirect(f"/console/training/courses/{course.id}")


class CoursePage(TrainingConsolePage):
    async def get(self, course_id: str) -> None:
        course = await service.get_course(self.deps, course_id)
        docs = await repo.find_sessions(self.deps.db, {"course_id": ObjectId(course.id)}, limit=100,
                                        descending=True)
        self.render_page("console/training/course.html", course=course,
                         sessions=await service.sessions_out(self.deps, docs), **self.labels())

    async def post(self, course_id: str) -> None:
        values = self.values()
        quiz = _quiz(values)
        values.pop("no_quiz", None)
        changes: dict[str, Any] = {**values, "topics": self.get_body_arguments("topics") or None,
                                   "active": values.get("active") == "1", "quiz": quiz}
        data = _form(CourseUpdate, {k: v for k, v in changes.items() if v is not None or k == "quiz"})
        await service.update_course(self.deps, self.me, course_id, data)
        self.redirect(f"/console/training/courses/{course_id}")


def _local(value: str | None) -> str | None:
    """A datetime-local field (Beijing time, no offset) as an aware ISO time."""
    return f"{value}+08:00" if value and "+" not in value and not value.endswith("Z") else value


class SessionsPage(TrainingConsolePage):
    async def get(self) -> None:
        upcoming = await repo.find_sessions(self.deps.db, {"status": {"$in": ["scheduled", "checkin_open"]}}, limit=200)
        past = await repo.find_sessions(self.deps.db, {"status": {"$in": ["finished", "cancelled"]}}, limit=100,
                                        descending=True)
        both = await service.sessions_out(self.deps, upcoming + past)
        courses = await service.list_courses(self.deps, CourseQuery(active=True))
        trainers = await staff_repo.page(self.deps.db, {"role": "trainer", "active": True}, after=None, limit=100)
        self.render_page("console/training/sessions.html", upcoming=both[:len(upcoming)], past=both[len(upcoming):],
                         courses=courses.items, trainers=trainers,
                         course_id=self.get_query_argument("course_id", ""), **self.labels())

    async def post(self) -> None:
        values = self.values()
        for key in ("starts_at", "ends_at"):
            values[key] = _local(values.get(key))
        session = await service.create_session(self.deps, self.me, _form(SessionCreate, values))
        self.redirect(f"/console/training/sessions/{session.id}")


class SessionDetailPage(TrainingConsolePage):
    async def get(self, session_id: str) -> None:
        doc = await service.load_session(self.deps, session_id)
        out = (await service.sessions_out(self.deps, [doc]))[0]
        manages = self.me.role in DISTRICT or (self.me.role is Role.TRAINER and doc["trainer"] == self.me.username)
        self.render_page(
            "console/training/session.html", s=out, places=await enrolment.enrolment_list(self.deps, doc),
            marks=await checkin.build_attendance_list(self.deps, doc), manages=manages,
            next_states=sorted(TRANSITIONS[doc["status"]]), enrolment_labels=ENROLMENT_LABELS,
            attendance_labels=ATTENDANCE_LABELS, op_id=uuid.uuid4().hex, **self.labels())


class SessionActionPage(TrainingConsolePage):
    """The session page's forms: edit, transition, enrol someone, cancel a place, correct attendance."""

    async def post(self, session_id: str, action: str) -> None:
        values = self.values()
        if action == "edit":
            for key in ("starts_at", "ends_at"):
                if key in values:
                    values[key] = _local(values[key])
            await service.update_session(self.deps, self.me, session_id, _form(SessionUpdate, values))
        elif action == "transition":
            await service.transition(self.deps, self.me, session_id, _form(TransitionIn, values))
        elif action == "enrol":
            person = await staff_repo.by_username(self.deps.db, values.pop("username", ""))
            data = _form(EnrolIn, {**values, "staff_id": str(person["_id"]) if person else "0" * 24})
            await enrolment.enrol(self.deps, self.me, session_id, data)
        elif action == "cancel":
            staff_id = values.pop("staff_id", "")
            await enrolment.cancel(self.deps, self.me, session_id, staff_id, _form(CancelIn, values))
        elif action == "attendance":
            staff_id = values.pop("staff_id", "")
            await checkin.correct_attendance(self.deps, self.me, session_id, staff_id, _form(AttendanceIn, values))
        self.redirect(f"/console/training/sessions/{session_id}")


class SessionQrRedirect(TrainingConsolePage):
    """Where a trainer's console log-in comes back to before opening the QR on the phone."""

    roles = COURSE_WRITERS

    async def get(self, session_id: str) -> None:
        self.redirect(f"/m/training/sessions/{quote(session_id)}/qr")


OID = r"(?P<session_id>[0-9a-f]{24})"
routes = [
    (rf"{BASE}/courses", CoursesHandler),
    (rf"{BASE}/courses/{COURSE}", CourseHandler),
    (rf"{BASE}/sessions", SessionsHandler),
    (rf"{BASE}/sessions/{SESSION}", SessionHandler),
    (rf"{BASE}/sessions/{SESSION}/transition", TransitionHandler),
    (rf"{BASE}/sessions/{SESSION}/enrolments", EnrolmentsHandler),
    (rf"{BASE}/sessions/{SESSION}/enrolments/{STAFF}/cancel", CancelHandler),
    (rf"{BASE}/sessions/{SESSION}/qr", QrHandler),
    (rf"{BASE}/sessions/{SESSION}/attendance", AttendanceHandler),
    (rf"{BASE}/sessions/{SESSION}/attendance/{STAFF}", AttendanceCorrectionHandler),
    (rf"{BASE}/checkins", CheckinsHandler),
    (rf"{BASE}/me", MeHandler),
]
pages = [
    (r"/m/api/training/checkins", PhoneCheckinsHandler),
    (rf"/m/api/training/sessions/{SESSION}/qr", PhoneQrHandler),
    (r"/m/training/?", MyTrainingPage),
    (r"/m/training/checkin", CheckinPage),
    (rf"/m/training/sessions/{OID}/enrol", PhoneEnrolPage),
    (rf"/m/training/sessions/{OID}/cancel", PhoneCancelPage),
    (rf"/m/training/sessions/{OID}/qr", QrPage),
    (r"/console/training/courses", CoursesPage),
    (r"/console/training/courses/(?P<course_id>[0-9a-f]{24})", CoursePage),
    (r"/console/training/sessions", SessionsPage),
    (rf"/console/training/sessions/{OID}", SessionDetailPage),
    (rf"/console/training/sessions/{OID}/qr", SessionQrRedirect),
    (rf"/console/training/sessions/{OID}/(?P<action>edit|transition|enrol|cancel|attendance)", SessionActionPage),
]
