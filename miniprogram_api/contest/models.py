"""The contest's API schemas: editions (staff), entries (mini-program and staff), judging
and results."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model, field_validator

from miniprogram_api.contest.rules import Award, Category, ContestStatus, EntryStatus, Group
from server.readers.models import OpId, PersonName, Phone
from server.staff.models import Username

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
ContestTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=60)]
WorkTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]
SchoolName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)]
# The raw essay; the limit (800 or 1,500 characters without whitespace) is checked by the service.
EssayText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=6000)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Cursor = Annotated[str, StringConstraints(max_length=200)]


# -- editions ---------------------------------------------------------------------------


class Quota(BaseModel):
    """How many awards of each grade a category and group has."""

    model_config = STRICT

    first: int = Field(1, ge=0, le=50, description="一等奖")
    second: int = Field(2, ge=0, le=50, description="二等奖")
    third: int = Field(3, ge=0, le=50, description="三等奖")
    excellent: int = Field(0, ge=0, le=500, description="优秀奖")


QuotaMatrix = dict[Category, dict[Group, Quota]]


class ContestIn(BaseModel):
    model_config = STRICT

    year: int = Field(ge=2018, le=2100, description="the edition's year (the contest began in 2018)")
    title: ContestTitle = Field(description="e.g. 2026年“我的书屋·我的梦”农民子女阅读实践活动")
    opens_on: date = Field(description="first day entries are taken (Asia/Shanghai)")
    closes_on: date = Field(description="last day entries are taken (the county deadline is around 30 August)")
    award_quotas: QuotaMatrix = Field(default_factory=dict,
                                      description="per category and group; unnamed ones get 1/2/3 (and 0 优秀奖)")
    judges: list[Username] = Field(default_factory=list, max_length=50,
                                   description="district staff usernames who may score; empty: any district staff")


class ContestUpdate(BaseModel):
    """Absent fields stay. ``status`` moves draft → open → judging, and awarded → reported;
    ``awarded`` is reached by computing the awards."""

    model_config = STRICT

    title: ContestTitle | None = None
    opens_on: date | None = None
    closes_on: date | None = None
    award_quotas: QuotaMatrix | None = None
    judges: list[Username] | None = Field(None, max_length=50)
    status: ContestStatus | None = None


class ContestOut(BaseModel):
    id: str
    year: int
    title: str
    opens_on: date
    closes_on: date
    status: ContestStatus
    status_label: str
    accepting_entries: bool = Field(description="open and today is within the dates")
    award_quotas: dict[str, dict[str, Quota]]
    judges: list[str]
    created_at: datetime
    updated_at: datetime
    awarded_at: datetime | None = None
    reported_at: datetime | None = None


class ContestPage(BaseModel):
    items: list[ContestOut]
    next_cursor: str | None = None


class ContestQuery(BaseModel):
    model_config = STRICT

    year: int | None = Field(None, ge=2018, le=2100)
    status: ContestStatus | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = None


class GroupRule(BaseModel):
    group: str
    essay_limit: int = Field(description="characters, whitespace not counted")
    min_age: int = Field(description="age reached in the contest year")
    max_age: int


class ContestPublic(BaseModel):
    """An edition as families see it, with the rules the entry form needs."""

    id: str
    year: int
    title: str
    opens_on: date
    closes_on: date
    status: ContestStatus
    status_label: str
    accepting_entries: bool
    categories: list[str]
    image_categories: list[str] = Field(description="categories whose work is a picture to upload")
    groups: list[GroupRule]
    image_types: list[str]
    image_max_bytes: int


class ContestPublicList(BaseModel):
    items: list[ContestPublic]


# -- entries ------------------------------------------------------------------------------


class TeacherIn(BaseModel):
    model_config = STRICT

    name: PersonName
    school: SchoolName


class TeacherOut(BaseModel):
    name: str
    school: str


class EntryIn(BaseModel):
    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")
    member_id: ObjectIdStr = Field(description="the family member who made the work")
    category: Category
    group: Group
    title: WorkTitle
    text: EssayText | None = Field(None, description="the essay (征文 only): 800 characters for 小学组, "
                                                      "1,500 for 中学组, whitespace not counted")
    teacher: TeacherIn | list[TeacherIn] | None = Field(
        None, description="the instructing teacher (at most one; a one-item list is taken too)")
    phone_contact: Phone | None = Field(None, description="a phone number for the organisers (stored encrypted)")

    @field_validator("teacher")
    @classmethod
    def _one_teacher(cls, value: Any) -> Any:
        if isinstance(value, list):
            if len(value) > 1:
                raise ValueError("每件作品最多填写一位指导老师")
            return value[0] if value else None
        return value


class ImageOut(BaseModel):
    content_type: str
    width: int
    height: int
    size: int = Field(description="bytes")


class ResultOut(BaseModel):
    award: Award
    award_label: str = Field(description="一等奖 … 未获奖")
    recommended: bool = Field(description="recommended to the next level")
    certificate_available: bool


class EntryOut(BaseModel):
    """An entry as its family sees it."""

    id: str
    contest_id: str
    member_id: str
    member_name: str
    category: str
    group: str
    title: str
    text: str | None = None
    teacher: TeacherOut | None = None
    phone_contact: str | None = Field(None, description="masked")
    status: EntryStatus
    status_label: str
    rejection_reason: str | None = None
    needs_image: bool = Field(description="a picture category whose image is not uploaded yet")
    image: ImageOut | None = None
    result: ResultOut | None = Field(None, description="once the awards are out")
    submitted_at: datetime


class EntryList(BaseModel):
    items: list[EntryOut]


class MyEntriesQuery(BaseModel):
    model_config = STRICT

    member_id: ObjectIdStr | None = Field(None, description="one member of my family; all of them if absent")


class DeletedOut(BaseModel):
    id: str
    detail: str


# -- staff: entries, moderation, scores ----------------------------------------------------------


class AuthorOut(BaseModel):
    name: str
    relation: str
    birth_year: int
    school: str | None = None
    class_name: str | None = None
    home_room: str
    home_town: str | None = None


class ModerationOut(BaseModel):
    decision: Literal["accept", "reject"]
    reason: str
    by: str
    at: datetime


class ScoreOut(BaseModel):
    judge: str
    score: int
    comment: str | None = None
    scored_at: datetime
    updated_at: datetime


class StaffEntryOut(BaseModel):
    id: str
    contest_id: str
    category: str
    group: str
    title: str
    text: str | None = None
    teacher: TeacherOut | None = None
    phone_contact: str | None = Field(None, description="masked")
    author: AuthorOut
    status: EntryStatus
    status_label: str
    content_check: str = Field(description="WeChat's verdict at submission: pass or review")
    moderation: ModerationOut | None = None
    image: ImageOut | None = None
    complete: bool = Field(description="the essay, or the uploaded picture, is there")
    score_count: int
    mean_score: float | None = None
    my_score: int | None = Field(None, description="the calling judge's score")
    scores: list[ScoreOut] | None = Field(None, description="every judge's score (one entry's page only)")
    rank: int | None = None
    award: Award | None = None
    award_label: str | None = None
    recommended: bool = False
    certificate_no: str | None = None
    submitted_at: datetime


class EntryPage(BaseModel):
    items: list[StaffEntryOut]
    next_cursor: str | None = None


class EntryQuery(BaseModel):
    model_config = STRICT

    status: EntryStatus | None = Field(None, description="in_review: the moderation queue")
    category: Category | None = None
    group: Group | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: Cursor | None = None


class ModerationIn(BaseModel):
    model_config = STRICT

    decision: Literal["accept", "reject"]
    reason: Comment = Field("", description="required to reject: the family sees it")


class ScoreIn(BaseModel):
    model_config = STRICT

    score: int = Field(ge=0, le=100)
    comment: Comment | None = None


class ScoreResult(BaseModel):
    entry_id: str
    judge: str
    score: int
    comment: str | None = None
    scored_at: datetime
    updated_at: datetime
    score_count: int
    mean_score: float


# -- awards and results ------------------------------------------------------------------------


class AwardsIn(BaseModel):
    model_config = STRICT

    recommend_top: int = Field(0, ge=0, le=50, description="recommend the top N of each category and group")
    recommend_entry_ids: list[ObjectIdStr] = Field(default_factory=list, max_length=1000,
                                                   description="recommend these entries as well")


class ResultRow(BaseModel):
    entry_id: str
    rank: int | None = Field(None, description="None: no judge scored it")
    award: Award
    award_label: str
    mean_score: float | None = None
    score_count: int
    recommended: bool
    title: str
    author_name: str
    school: str | None = None
    class_name: str | None = None
    home_room: str
    teacher: TeacherOut | None = None
    certificate_no: str | None = None


class ResultPool(BaseModel):
    category: str
    group: str
    quota: Quota
    entries: list[ResultRow]


class ResultsOut(BaseModel):
    contest: ContestOut
    provisional: bool = Field(description="true until the awards are computed: the ranking as the scores stand")
    pools: list[ResultPool]


# ``?for=author|teacher``: "for" is a Python keyword, so the model is made by name.
CertificateQuery: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "CertificateQuery",
    __config__=STRICT,
    **{"for": (Literal["author", "teacher"], Field("author", description="the author's certificate, or the "
                                                                         "instructing teacher's (优秀指导老师)"))},
)
