"""Rating rounds and entries: API schemas (pydantic), labels and the stages of the cycle."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from training.ratings.rubrics import DECLARED_FIELDS, METRIC_KEYS

Kind = Literal["model_room", "model_admin", "reading_family"]
Level = Literal["district", "city"]
RoundStatus = Literal["draft", "open", "town_review", "district_review", "shortlisted", "publicity", "decided",
                      "reported"]
EntryStatus = Literal["submitted", "town_passed", "town_rejected", "shortlisted", "not_shortlisted", "awarded",
                      "nominated", "rejected", "withdrawn"]
Outcome = Literal["awarded", "nominated", "rejected"]
Group = Literal["建设", "管理", "使用", "家庭"]

KIND_LABELS: Final[dict[str, str]] = {"model_room": "示范农家书屋", "model_admin": "模范管理员",
                                      "reading_family": "书香之家"}
LEVEL_LABELS: Final[dict[str, str]] = {"district": "区级", "city": "市级"}
STATUS_LABELS: Final[dict[str, str]] = {
    "draft": "草稿", "open": "申报中", "town_review": "镇街初审", "district_review": "区级评审", "shortlisted": "已排名入围",
    "publicity": "公示中", "decided": "已决定", "reported": "已上报",
}
STAGES: Final[tuple[str, ...]] = tuple(STATUS_LABELS)
ENTRY_STATUS_LABELS: Final[dict[str, str]] = {
    "submitted": "已申报", "town_passed": "初审通过", "town_rejected": "初审未通过", "shortlisted": "入围",
    "not_shortlisted": "未入围", "awarded": "获评", "nominated": "获评并推荐上报", "rejected": "取消资格",
    "withdrawn": "已撤回",
}
OUTCOME_LABELS: Final[dict[str, str]] = {"awarded": "获评", "nominated": "获评并推荐上报", "rejected": "未获评"}
OBJECTION_LABELS: Final[dict[str, str]] = {"open": "待处理", "upheld": "异议成立", "dismissed": "异议不成立"}

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,39}$")]
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=30)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=80)]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
ObjectIdText = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
Limit = Annotated[float, Field(ge=-1_000_000, le=1_000_000)]


class Criterion(BaseModel):
    """One line of a rubric; see training/ratings/scoring.py for how it scores."""

    model_config = STRICT

    key: Key
    label: Label
    group: Group
    weight: float = Field(gt=0, le=100)
    source: Literal["metric", "inspector", "declared"]
    metric: str | None = Field(None, max_length=40, description="a metric key (metric) or an evidence field (declared)")
    zero_at: Limit | None = Field(None, description="the value that scores 0")
    full_at: Limit | None = Field(None, description="the value that scores 100 (below zero_at: lower is better)")

    @model_validator(mode="after")
    def _consistent(self) -> Criterion:
        if self.source == "inspector":
            if self.metric is not None or self.zero_at is not None or self.full_at is not None:
                raise ValueError("督查员评分的指标不需要 metric、zero_at、full_at")
            return self
        known = METRIC_KEYS if self.source == "metric" else frozenset(DECLARED_FIELDS)
        if self.metric not in known:
            raise ValueError(f"metric 应为以下之一：{'、'.join(sorted(known))}")
        if self.zero_at is None or self.full_at is None or self.zero_at == self.full_at:
            raise ValueError("需要 zero_at 和 full_at，且两者不能相等")
        return self


class Rubric(BaseModel):
    model_config = STRICT

    criteria: list[Criterion] = Field(min_length=1, max_length=20)
    tie_break: list[Key] = Field(default_factory=list, max_length=5)

    @model_validator(mode="after")
    def _keys(self) -> Rubric:
        keys = [c.key for c in self.criteria]
        if len(set(keys)) != len(keys):
            raise ValueError("指标 key 不能重复")
        unknown = [k for k in self.tie_break if k not in keys]
        if unknown or len(set(self.tie_break)) != len(self.tie_break):
            raise ValueError(f"tie_break 只能列出本评分标准的指标，且不重复（{'、'.join(unknown)}）")
        return self


class Quotas(BaseModel):
    model_config = STRICT

    award: int = Field(ge=1, le=500, description="how many get the title at this level")
    nominate: int = Field(ge=0, le=500, description="how many of them are put forward to the next level")

    @model_validator(mode="after")
    def _order(self) -> Quotas:
        if self.nominate > self.award:
            raise ValueError("推荐上报名额不能多于获评名额")
        return self


class Period(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: date = Field(alias="from")
    to: date

    @model_validator(mode="after")
    def _order(self) -> Period:
        if self.to < self.from_:
            raise ValueError("结束日期不能早于开始日期")
        return self


class RoundCreate(BaseModel):
    model_config = STRICT

    year: int = Field(ge=2010, le=2100)
    kind: Kind
    level: Level = "district"
    title: Title | None = None
    period: Period | None = Field(None, description="the dates metrics are computed over (default: the year)")
    rubric: Rubric | None = None
    quotas: Quotas | None = None
    publicity_days: int | None = Field(None, ge=1, le=30, description="working days of 公示")


class RoundUpdate(BaseModel):
    """Changes while the round is draft or open (all optional)."""

    model_config = STRICT

    title: Title | None = None
    period: Period | None = None
    rubric: Rubric | None = None
    quotas: Quotas | None = None
    publicity_days: int | None = Field(None, ge=1, le=30)


class TransitionIn(BaseModel):
    model_config = STRICT

    to: RoundStatus
    allow_missing_inspections: bool = Field(
        False, description="shortlisting: an inspector criterion nobody scored counts 0 (recorded) instead of a 409")


class Publicity(BaseModel):
    starts_on: date
    ends_on: date


class RoundOut(BaseModel):
    round_id: str
    year: int
    kind: Kind
    kind_label: str
    level: Level
    title: str
    period: dict[str, str]
    rubric: Rubric
    quotas: Quotas
    publicity_days: int
    status: RoundStatus
    status_label: str
    publicity: Publicity | None
    locked: bool
    history: bool
    missing_inspections: list[str] = Field(default_factory=list, description="entries scored 0 for want of inspection")
    next_statuses: list[RoundStatus] = Field(default_factory=list)
    entry_counts: dict[str, int] = Field(default_factory=dict)
    created_at: datetime
    updated_at: datetime


class RoundList(BaseModel):
    items: list[RoundOut]


class RoundQuery(BaseModel):
    model_config = STRICT

    year: int | None = Field(None, ge=2010, le=2100)
    kind: Kind | None = None


class FamilyEvidence(BaseModel):
    model_config = STRICT

    books_owned: int | None = Field(None, ge=0, le=100_000)
    reading_minutes_per_week: int | None = Field(None, ge=0, le=10_080)


class EntryCreate(BaseModel):
    """Whom to enter: a room (model_room), an administrator (model_admin; a room administrator
    enters themselves) or a family by its reader card (reading_family)."""

    model_config = STRICT

    room: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,4}-[A-Z]{2,4}-\d{3}$")] | None = None
    staff_id: ObjectIdText | None = None
    card_no: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,4}\d{8}$")] | None = None
    statement: str = Field("", max_length=2000, description="申报材料")
    evidence: FamilyEvidence | None = None


class Applicant(BaseModel):
    by: str
    channel: Literal["room", "town", "district", "miniprogram"]
    at: datetime


class Subject(BaseModel):
    type: Literal["room", "staff", "family"]
    room: str
    staff_id: str | None = None
    account_id: str | None = None
    reader_id: str | None = None
    name: str


class TownReview(BaseModel):
    passed: bool
    comment: str
    by: str
    at: datetime


class MetricOut(BaseModel):
    value: float | None
    unit: str = ""
    label: str = ""
    detail: str = ""
    links: list[dict[str, str]] = Field(default_factory=list)


class InspectorScore(BaseModel):
    inspector: str
    inspector_name: str
    criteria: dict[str, float]
    comment: str = ""
    visited_on: str | None = None
    photos: int = 0
    submitted_at: datetime | None = None


class ObjectionOut(BaseModel):
    objection_id: str
    round_id: str
    entry_id: str
    entry_name: str = ""
    text: str
    name: str
    contact: str = Field(description="masked phone")
    channel: Literal["public", "staff"]
    at: datetime
    status: Literal["open", "upheld", "dismissed"]
    decision: dict[str, Any] | None = None


class ObjectionList(BaseModel):
    items: list[ObjectionOut]


class EntryOut(BaseModel):
    entry_id: str
    round_id: str
    kind: Kind
    subject: Subject
    subject_key: str
    town: str
    applicant: Applicant
    statement: str
    evidence: dict[str, Any]
    status: EntryStatus
    status_label: str
    town_review: TownReview | None
    metrics: dict[str, MetricOut]
    metrics_at: datetime | None
    scores: dict[str, float]
    total: float | None
    rank: int | None
    outcome: Outcome | None
    certificate_no: str | None
    history: bool
    created_at: datetime
    updated_at: datetime


class EntryDetail(EntryOut):
    inspections: list[InspectorScore] = Field(default_factory=list)
    objections: list[ObjectionOut] = Field(default_factory=list)


class EntryList(BaseModel):
    items: list[EntryOut]


class TownReviewIn(BaseModel):
    model_config = STRICT

    passed: bool
    comment: Comment = ""


class WithdrawIn(BaseModel):
    model_config = STRICT

    reason: Comment = ""


class ObjectionIn(BaseModel):
    """An objection received by staff (letter, telephone, visit)."""

    model_config = STRICT

    entry_id: ObjectIdText
    text: str = Field(min_length=10, max_length=1000)
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    phone: Annotated[str, StringConstraints(pattern=r"^1[3-9]\d{9}$")] | None = None


class PublicObjectionIn(BaseModel):
    """The public 公示 page's form (``website`` is a honeypot people do not see)."""

    model_config = STRICT

    entry_id: ObjectIdText
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^1[3-9]\d{9}$")]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=1000)]
    website: str = Field("", max_length=200)


class ResolveIn(BaseModel):
    model_config = STRICT

    decision: Literal["upheld", "dismissed"]
    text: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=1000)]


class MetricsRefreshOut(BaseModel):
    entries: int
    metrics_at: datetime


class HistoryOut(BaseModel):
    rounds_created: int
    entries_created: int
    rounds: list[str]
