"""Courses and sessions: create, change, list, and the session's state machine.

Who may do what: district roles and trainers write courses; district roles manage every
session, a trainer only the sessions they run (``check_manager``); every staff member reads.
Every write is audited in its own transaction. Enrolment is in ``enrolment``, attendance in
``checkin``.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from server.audit import repo as audit
from server.circulation.rules import LOCAL_TZ
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_cursor, encode_cursor
from server.staff import repo as staff_repo
from server.staff.roles import DISTRICT, Actor, Role
from server.storage import db_now, in_transaction
from training.courses import attendance as codes
from training.courses import repo
from training.courses.models import (
    KIND_LABELS,
    OPEN_STATUSES,
    STATUS_LABELS,
    TOPICS,
    TRANSITIONS,
    CourseCreate,
    CourseList,
    CourseOut,
    CourseQuery,
    CourseUpdate,
    QuizSettings,
    SessionCreate,
    SessionOut,
    SessionPage,
    SessionStatus,
    SessionUpdate,
    TransitionIn,
)

if TYPE_CHECKING:
    from pydantic import BaseModel

    from server.resources import Deps

# Who may run a session (be its trainer).
TRAINER_ROLES = frozenset({Role.TRAINER, Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF})
# Who takes training: room administrators and town coordinators.
TRAINEE_ROLES = frozenset({Role.ROOM_ADMIN, Role.TOWN_COORDINATOR})
COURSE_WRITERS = DISTRICT | {Role.TRAINER}


# -- courses ------------------------------------------------------------------------------


def course_out(doc: dict[str, Any]) -> CourseOut:
    return CourseOut(
        id=str(doc["_id"]), code=doc["code"], title=doc["title"], topics=doc["topics"],
        topic_labels=[TOPICS.get(t, t) for t in doc["topics"]], hours=doc["hours"], level=doc["level"],
        kind=doc["kind"], kind_label=KIND_LABELS.get(doc["kind"], doc["kind"]),
        quiz=QuizSettings(**doc["quiz"]) if doc.get("quiz") else None, active=doc["active"],
        created_at=doc["created_at"], updated_at=doc["updated_at"],
    )


async def create_course(deps: Deps, actor: Actor, data: CourseCreate) -> CourseOut:
    """A new course; Conflict ``course_code_taken`` if its code is in use."""
    now = db_now()
    doc = {"_id": ObjectId(), **data.model_dump(mode="python"), "topics": list(dict.fromkeys(data.topics)),
           "created_at": now, "updated_at": now}

    async def work(session: Any) -> None:
        await repo.insert_course(deps.db, doc, session=session)
        await audit.record(deps.db, actor, "training.course.create", target_type="training_course",
                           target_id=str(doc["_id"]), changes={"code": doc["code"], "title": doc["title"]},
                           session=session)

    try:
        await in_transaction(deps.mongo, work)
    except DuplicateKeyError:
        raise Conflict(f"课程编号 {data.code} 已经存在", code="course_code_taken",
                       errors=[FieldProblem(("body", "code"), "课程编号已存在")]) from None
    return course_out(doc)


async def load_course(deps: Deps, course_id: str, loc: tuple[str, ...] = ("path", "course_id")) -> dict[str, Any]:
    doc = await repo.course(deps.db, parse_object_id(course_id, loc=loc))
    if doc is None:
        if loc[0] == "body":
            raise InvalidInput("没有这门课程", code="course_not_found", errors=[FieldProblem(loc, "没有这门课程")])
        raise NotFound("没有这门课程", code="course_not_found")
    return doc


async def get_course(deps: Deps, course_id: str) -> CourseOut:
    return course_out(await load_course(deps, course_id))


async def list_courses(deps: Deps, query: CourseQuery) -> CourseList:
    flt: dict[str, Any] = {}
    if query.active is not None:
        flt["active"] = query.active
    if query.kind is not None:
        flt["kind"] = query.kind
    return CourseList(items=[course_out(d) for d in await repo.courses(deps.db, flt)])


def _changed(before: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {k: {"before": before.get(k), "after": v} for k, v in changes.items() if before.get(k) != v}


async def update_course(deps: Deps, actor: Actor, course_id: str, data: CourseUpdate) -> CourseOut:
    doc = await load_course(deps, course_id)
    changes = {k: v for k, v in data.model_dump(mode="python", exclude_unset=True).items()
               if v is not None or k == "quiz"}
    if "topics" in changes:
        changes["topics"] = list(dict.fromkeys(changes["topics"]))
    diff = _changed(doc, changes)
    if not diff:
        return course_out(doc)

    async def work(session: Any) -> dict[str, Any] | None:
        after = await repo.update_course(deps.db, doc["_id"], {**changes, "updated_at": db_now()}, session=session)
        await audit.record(deps.db, actor, "training.course.update", target_type="training_course",
                           target_id=str(doc["_id"]), changes=diff, session=session)
        return after

    after = await in_transaction(deps.mongo, work)
    if after is None:
        raise NotFound("没有这门课程", code="course_not_found")
    return course_out(after)


# -- sessions -----------------------------------------------------------------------------


def check_manager(actor: Actor, session: dict[str, Any]) -> None:
    """District roles manage every session; a trainer only those they run."""
    if actor.role in DISTRICT:
        return
    if actor.role is Role.TRAINER and session.get("trainer") == actor.username:
        return
    raise Forbidden("只有这场培训的培训师或区馆工作人员可以办理", code="not_your_session")


async def load_session(deps: Deps, session_id: str, *, session: Any = None) -> dict[str, Any]:
    doc = await repo.session_doc(deps.db, parse_object_id(session_id, loc=("path", "session_id")), session=session)
    if doc is None:
        raise NotFound("没有这场培训", code="session_not_found")
    return doc


def session_out(doc: dict[str, Any], course: dict[str, Any] | None, counts: dict[str, int] | None = None,
                present: int = 0) -> SessionOut:
    counts = counts or {}
    return SessionOut(
        id=str(doc["_id"]), course_id=str(doc["course_id"]), course_code=course["code"] if course else "",
        course_title=course["title"] if course else "（课程已删除）", hours=course["hours"] if course else 0,
        starts_at=doc["starts_at"], ends_at=doc["ends_at"], place=doc["place"], trainer=doc["trainer"],
        trainer_name=doc["trainer_name"], capacity=doc["capacity"], status=doc["status"],
        status_label=STATUS_LABELS[doc["status"]], enrolled=counts.get("enrolled", 0),
        waiting=counts.get("waiting", 0), present=present, created_at=doc["created_at"], updated_at=doc["updated_at"],
    )


async def sessions_out(deps: Deps, docs: list[dict[str, Any]]) -> list[SessionOut]:
    """Sessions with their course and counts: one query per collection, whatever the number."""
    ids = [d["_id"] for d in docs]
    courses = await repo.courses_by_ids(deps.db, [d["course_id"] for d in docs])
    counts = await repo.enrolment_counts(deps.db, ids)
    present = await repo.present_counts(deps.db, ids)
    return [session_out(d, courses.get(d["course_id"]), counts.get(d["_id"]), present.get(d["_id"], 0)) for d in docs]


async def _trainer(deps: Deps, username: str) -> dict[str, Any]:
    doc = await staff_repo.by_username(deps.db, username)
    if doc is None or not doc.get("active", True) or doc["role"] not in TRAINER_ROLES:
        raise InvalidInput("培训师应为在职的培训师或区馆工作人员账号", code="trainer_unknown",
                           errors=[FieldProblem(("body", "trainer"), "没有这个培训师账号")])
    return doc


def _check_times(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise InvalidInput("结束时间应晚于开始时间", code="validation_failed",
                           errors=[FieldProblem(("body", "ends_at"), "应晚于开始时间")])
    if ends_at - starts_at > timedelta(days=7):
        raise InvalidInput("一场培训最长 7 天", code="validation_failed",
                           errors=[FieldProblem(("body", "ends_at"), "一场培训最长 7 天")])


async def create_session(deps: Deps, actor: Actor, data: SessionCreate) -> SessionOut:
    course = await load_course(deps, data.course_id, loc=("body", "course_id"))
    if not course["active"]:
        raise RuleViolation("这门课程已停用，不能安排培训", code="course_inactive",
                            errors=[FieldProblem(("body", "course_id"), "课程已停用")])
    _check_times(data.starts_at, data.ends_at)
    username = data.trainer or (actor.username if actor.role is Role.TRAINER else None)
    if username is None:
        raise InvalidInput("请指定培训师", code="validation_failed",
                           errors=[FieldProblem(("body", "trainer"), "请指定培训师")])
    if actor.role is Role.TRAINER and username != actor.username:
        raise Forbidden("培训师只能安排自己主讲的培训", code="not_your_session")
    trainer = await _trainer(deps, username)
    now = db_now()
    doc = {"_id": ObjectId(), "course_id": course["_id"], "starts_at": data.starts_at, "ends_at": data.ends_at,
           "place": data.place, "trainer": trainer["username"], "trainer_name": trainer["name"],
           "capacity": data.capacity, "status": "scheduled", "qr_secret": codes.new_secret(), "version": 0,
           "created_at": now, "updated_at": now}

    async def work(session: Any) -> None:
        await repo.insert_session(deps.db, doc, session=session)
        await audit.record(deps.db, actor, "training.session.create", target_type="training_session",
                           target_id=str(doc["_id"]), changes={"course": course["code"], "trainer": doc["trainer"],
                                                               "starts_at": doc["starts_at"].isoformat(),
                                                               "capacity": doc["capacity"]}, session=session)

    await in_transaction(deps.mongo, work)
    return session_out(doc, course)


async def get_session(deps: Deps, session_id: str) -> SessionOut:
    return (await sessions_out(deps, [await load_session(deps, session_id)]))[0]


def _local_day_start(day: Any) -> datetime:
    return datetime.combine(day, time(0), LOCAL_TZ)


async def list_sessions(deps: Deps, query: BaseModel) -> SessionPage:
    """Sessions by start time (earliest first), filtered by course, status and local dates."""
    q = query.model_dump(by_alias=True)
    flt: dict[str, Any] = {}
    if q["course_id"]:
        flt["course_id"] = ObjectId(q["course_id"])
    if q["status"]:
        flt["status"] = str(q["status"])
    span: dict[str, datetime] = {}
    if q["from"]:
        span["$gte"] = _local_day_start(q["from"])
    if q["to"]:
        span["$lt"] = _local_day_start(q["to"] + timedelta(days=1))
    if span:
        flt["starts_at"] = span
    if q["cursor"]:
        when, last = decode_cursor(q["cursor"], arity=2)
        try:
            after, last_id = datetime.fromisoformat(str(when)), parse_object_id(str(last), loc=("query", "cursor"))
        except ValueError:
            decode_cursor("", arity=2)  # raises the InvalidInput of a forged cursor
        flt = {"$and": [flt, {"$or": [{"starts_at": {"$gt": after}}, {"starts_at": after, "_id": {"$gt": last_id}}]}]}
    docs = await repo.find_sessions(deps.db, flt, limit=q["limit"] + 1)
    page = docs[: q["limit"]]
    nxt = encode_cursor([page[-1]["starts_at"].isoformat(), str(page[-1]["_id"])]) if len(docs) > q["limit"] else None
    return SessionPage(items=await sessions_out(deps, page), next_cursor=nxt)


async def update_session(deps: Deps, actor: Actor, session_id: str, data: SessionUpdate) -> SessionOut:
    """Change date, place, trainer or capacity of a session not yet finished or cancelled.
    Capacity below the enrolled count: Conflict ``capacity_below_enrolled``; above it, the
    waiting list moves up in order, in the same transaction."""
    from training.courses.enrolment import promote_waiting

    doc = await load_session(deps, session_id)
    check_manager(actor, doc)
    if doc["status"] not in OPEN_STATUSES:
        raise RuleViolation("这场培训已结束或已取消，不能修改", code="session_closed")
    changes = {k: v for k, v in data.model_dump(mode="python", exclude_unset=True).items() if v is not None}
    if "trainer" in changes and changes["trainer"] != doc["trainer"]:
        if actor.role not in DISTRICT:
            raise Forbidden("只有区馆工作人员可以更换培训师", code="not_your_session")
        changes["trainer_name"] = (await _trainer(deps, changes["trainer"]))["name"]
    _check_times(changes.get("starts_at", doc["starts_at"]), changes.get("ends_at", doc["ends_at"]))
    diff = _changed(doc, changes)
    if not diff:
        return await get_session(deps, session_id)

    async def work(session: Any) -> dict[str, Any] | None:
        current = await repo.lock_session(deps.db, doc["_id"], session=session)
        if current is None or current["status"] not in OPEN_STATUSES:
            raise RuleViolation("这场培训已结束或已取消，不能修改", code="session_closed")
        promoted: list[str] = []
        if "capacity" in changes:
            enrolled = await repo.count_enrolled(deps.db, doc["_id"], session=session)
            if changes["capacity"] < enrolled:
                raise Conflict(f"已有 {enrolled} 人报名，名额不能少于 {enrolled} 人", code="capacity_below_enrolled",
                               errors=[FieldProblem(("body", "capacity"), f"不能少于已报名的 {enrolled} 人")])
            promoted = await promote_waiting(deps, doc["_id"], changes["capacity"] - enrolled, session=session)
        after = await repo.update_session(deps.db, doc["_id"], {**changes, "updated_at": db_now()}, session=session)
        await audit.record(deps.db, actor, "training.session.update", target_type="training_session",
                           target_id=str(doc["_id"]), changes={**_json(diff), "promoted": promoted}, session=session)
        return after

    await in_transaction(deps.mongo, work)
    return await get_session(deps, session_id)


def _json(diff: dict[str, Any]) -> dict[str, Any]:
    """Audit entries keep times as ISO text, like every other entry."""
    return {k: {side: v.isoformat() if isinstance(v, datetime) else v for side, v in d.items()} for k, d in diff.items()}


async def transition(deps: Deps, actor: Actor, session_id: str, data: TransitionIn) -> SessionOut:
    """scheduled → checkin_open → finished; scheduled or checkin_open → cancelled."""
    doc = await load_session(deps, session_id)
    check_manager(actor, doc)
    if data.to not in TRANSITIONS[doc["status"]]:
        raise RuleViolation(f"“{STATUS_LABELS[doc['status']]}”的培训不能改为“{STATUS_LABELS[data.to]}”",
                            code="bad_transition", errors=[FieldProblem(("body", "to"), "不允许的状态变化")])

    async def work(session: Any) -> dict[str, Any] | None:
        after = await repo.update_session(deps.db, doc["_id"], {"status": data.to, "updated_at": db_now()},
                                          session=session, expect_status=[doc["status"]])
        if after is None:
            raise Conflict("这场培训的状态刚被别人改过，请刷新后再试", code="status_changed")
        await audit.record(deps.db, actor, f"training.session.{data.to}", target_type="training_session",
                           target_id=str(doc["_id"]), changes={"status": {"before": doc["status"], "after": data.to}},
                           session=session)
        return after

    await in_transaction(deps.mongo, work)
    if data.to == SessionStatus.FINISHED:
        # Whoever was present and has passed the quiz (if the course has one) is now certified.
        from training.certificates.service import issue_due

        await issue_due(deps, actor, course_id=str(doc["course_id"]))
    return await get_session(deps, session_id)


def is_open_for_checkin(doc: dict[str, Any]) -> bool:
    return doc["status"] == SessionStatus.CHECKIN_OPEN
