"""Courses, sessions, enrolments and attendance: schemas and the session state machine
(plain data, no I/O).

Storage (see ``repo``): ``training_courses``, ``training_sessions`` (with a random
``qr_secret`` that never leaves the server), ``training_enrolments`` (one per session and
person; the waiting list is the ``waiting`` ones in order of ``at``) and
``training_attendance`` (one per session and person: present or absent, by QR or by hand).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    create_model,
)

from server.dates import IsoDate
from server.idempotency import OP_ID_PATTERN
from server.staff.models import Username

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

# DOMAIN.md "Training": what a reading-room administrator must learn.
TOPICS: dict[str, str] = {
    "classification": "分类与排架",
    "daily_management": "日常管理",
    "cataloguing": "图书编目",
    "statistics": "统计报送",
    "activities": "阅读活动组织",
    "receiving": "图书验收",
    "registers": "登记簿与资产台账",
    "policy": "政策与借阅规则",
    "duties": "岗位职责",
}
KIND_LABELS = {"induction": "岗前培训", "refresher": "年度轮训", "topic": "专题培训"}
LEVEL_LABELS = {"district": "区级", "city": "市级"}
Topic = Literal["classification", "daily_management", "cataloguing", "statistics", "activities", "receiving",
                "registers", "policy", "duties"]
CourseKind = Literal["induction", "refresher", "topic"]
Level = Literal["district", "city"]

OpId = Annotated[str, StringConstraints(pattern=OP_ID_PATTERN)]
ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
CourseCode = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9-]{1,23}$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=60)]
Place = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=80)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
# Sessions are planned within this window; anything else is a typo (and keeps dates in range).
EARLIEST, LATEST = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)


def _utc_ms(value: datetime) -> datetime:
    """Stored as UTC at Mongo's millisecond precision, within a sane window."""
    if not EARLIEST <= value <= LATEST:
        raise ValueError("时间应在 2000 年到 2100 年之间")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


When = Annotated[AwareDatetime, AfterValidator(_utc_ms)]



class SessionStatus(StrEnum):
    SCHEDULED = "scheduled"
    CHECKIN_OPEN = "checkin_open"
    FINISHED = "finished"
    CANCELLED = "cancelled"


STATUS_LABELS = {"scheduled": "未开始", "checkin_open": "签到中", "finished": "已结束", "cancelled": "已取消"}
TRANSITIONS: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"checkin_open", "cancelled"}),
    "checkin_open": frozenset({"finished", "cancelled"}),
    "finished": frozenset(),
    "cancelled": frozenset(),
}
# Sessions people can still join or leave, and whose details can still change.
OPEN_STATUSES = ("scheduled", "checkin_open")
ENROLMENT_LABELS = {"enrolled": "已报名", "waiting": "候补", "cancelled": "已取消"}
ATTENDANCE_LABELS = {"present": "已到", "absent": "缺席", None: "未签到"}


# -- courses ----------------------------------------------------------------------------


class QuizSettings(BaseModel):
    model_config = STRICT

    pass_mark: int = Field(ge=1, le=100, description="percent needed to pass")
    questions_per_attempt: int = Field(ge=1, le=100)
    time_limit_min: int = Field(ge=1, le=180)


class CourseCreate(BaseModel):
    model_config = STRICT

    code: CourseCode = Field(description="unique, e.g. RZ-2026 (upper-case letters, digits, -)")
    title: Title
    topics: list[Topic] = Field(min_length=1, max_length=9)
    hours: float = Field(ge=0.5, le=200, description="credit hours")
    level: Level = "district"
    kind: CourseKind
    quiz: QuizSettings | None = None
    active: bool = True


class CourseUpdate(BaseModel):
    model_config = STRICT

    title: Title | None = None
    topics: list[Topic] | None = Field(None, min_length=1, max_length=9)
    hours: float | None = Field(None, ge=0.5, le=200)
    level: Level | None = None
    kind: CourseKind | None = None
    quiz: QuizSettings | None = Field(None, description="null removes the quiz (send the field to change it)")
    active: bool | None = None


class CourseOut(BaseModel):
    id: str
    code: str
    title: str
    topics: list[str]
    topic_labels: list[str]
    hours: float
    level: str
    kind: str
    kind_label: str
    quiz: QuizSettings | None
    active: bool
    created_at: datetime
    updated_at: datetime


class CourseList(BaseModel):
    items: list[CourseOut]


class CourseQuery(BaseModel):
    model_config = STRICT

    active: bool | None = None
    kind: CourseKind | None = None


# -- sessions ---------------------------------------------------------------------------


class SessionCreate(BaseModel):
    model_config = STRICT

    course_id: ObjectIdStr
    starts_at: When
    ends_at: When
    place: Place
    trainer: Username | None = Field(None, description="the trainer's username; a trainer creating it: themselves")
    capacity: int = Field(ge=1, le=500)


class SessionUpdate(BaseModel):
    model_config = STRICT

    starts_at: When | None = None
    ends_at: When | None = None
    place: Place | None = None
    trainer: Username | None = None
    capacity: int | None = Field(None, ge=1, le=500)


class TransitionIn(BaseModel):
    model_config = STRICT

    to: Literal["checkin_open", "finished", "cancelled"]


class SessionOut(BaseModel):
    id: str
    course_id: str
    course_code: str
    course_title: str
    hours: float
    starts_at: datetime
    ends_at: datetime
    place: str
    trainer: str
    trainer_name: str
    capacity: int
    status: SessionStatus
    status_label: str
    enrolled: int
    waiting: int
    present: int
    created_at: datetime
    updated_at: datetime


class SessionPage(BaseModel):
    items: list[SessionOut]
    next_cursor: str | None


_SESSION_QUERY_FIELDS: dict[str, Any] = {
    "course_id": (ObjectIdStr | None, None),
    "status": (SessionStatus | None, None),
    "cursor": (str | None, Field(None, max_length=200)),
    "limit": (int, Field(100, ge=1, le=200)),
    # "from" and "to" are the query's names (local dates, inclusive); Python reserves "from".
    "from": (IsoDate | None, Field(None, ge=date(2000, 1, 1), le=date(2099, 12, 31),
                                   description="sessions starting on or after this local date")),
    "to": (IsoDate | None, Field(None, ge=date(2000, 1, 1), le=date(2099, 12, 31),
                                 description="sessions starting on or before this local date")),
}
SessionQuery = create_model("SessionQuery", __config__=STRICT, **_SESSION_QUERY_FIELDS)


# -- enrolments -------------------------------------------------------------------------


class EnrolIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    staff_id: ObjectIdStr | None = Field(
        None, description="whom to enrol (district and trainers); an administrator enrols themselves without it")


class CancelIn(BaseModel):
    model_config = STRICT

    op_id: OpId


class EnrolmentOut(BaseModel):
    session_id: str
    course_id: str
    staff_id: str
    username: str
    name: str
    rooms: list[str]
    status: Literal["enrolled", "waiting", "cancelled"]
    status_label: str
    position: int | None = Field(description="place on the waiting list (1 = next), for waiting ones")
    at: datetime
    by: str


class EnrolResult(BaseModel):
    op_id: str
    replayed: bool
    enrolment: EnrolmentOut
    promoted: list[str] = Field(description="usernames moved up from the waiting list by this change")
    message: str


class EnrolmentList(BaseModel):
    enrolled: list[EnrolmentOut]
    waiting: list[EnrolmentOut]
    cancelled: list[EnrolmentOut]


# -- attendance -------------------------------------------------------------------------


class CheckinIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    code: str = Field(min_length=1, max_length=200, description="the text of the trainer's QR code")
    session_id: ObjectIdStr | None = Field(None, description="the session the scanner means to attend, if chosen")


class CheckinOut(BaseModel):
    op_id: str
    replayed: bool
    session_id: str
    course_title: str
    status: Literal["present"]
    at: datetime
    message: str


class QrOut(BaseModel):
    code: str
    image: str = Field(description="the QR code as a data: URL (SVG)")
    expires_in: float = Field(description="seconds until the code changes")
    step_secs: int
    present: int
    enrolled: int


class AttendanceIn(BaseModel):
    model_config = STRICT

    status: Literal["present", "absent"]
    reason: Reason


class AttendanceRow(BaseModel):
    staff_id: str
    username: str
    name: str
    rooms: list[str]
    enrolment: Literal["enrolled", "waiting", "cancelled"] | None
    status: Literal["present", "absent"] | None
    status_label: str
    method: Literal["qr", "manual"] | None
    at: datetime | None
    by: str | None
    reason: str | None


class AttendanceList(BaseModel):
    session_id: str
    items: list[AttendanceRow]
    present: int
    absent: int
    not_recorded: int


class MySession(BaseModel):
    session: SessionOut
    enrolment: EnrolmentOut | None
    attendance: Literal["present", "absent"] | None
    attendance_label: str


class MyTraining(BaseModel):
    enrolments: list[MySession] = Field(description="my enrolments (enrolled or waiting) and their sessions")
    attendance: list[MySession] = Field(description="sessions where my attendance was recorded, newest first")
    upcoming: list[SessionOut] = Field(description="scheduled sessions I could still join")
    trainer_of: list[SessionOut] = Field(description="sessions I run as the trainer, not yet finished")
