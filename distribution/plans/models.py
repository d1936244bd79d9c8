"""Replenishment plans: API schemas (pydantic) and the defaults of a plan's settings."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from server.catalog.classification import Category
from server.catalog.models import MAX_PRICE_CENTS, normalize_province
from server.idempotency import OP_ID_PATTERN
from server.sheet_import import DryRunQuery, ImportReport
from server.staff.models import RoomCode

PlanStatus = Literal["draft", "selection_open", "selection_closed", "locked", "shipping", "closed"]
PickKind = Literal["admin", "reader_suggestion", "hold"]
STATUS_LABELS: Final[dict[str, str]] = {
    "draft": "草稿", "selection_open": "点单中", "selection_closed": "点单结束", "locked": "已锁定",
    "shipping": "配送中", "closed": "已结束",
}
DEFAULT_TARGETS: Final[dict[str, float]] = {"政经": 0.04, "科技": 0.40, "生活": 0.10, "文化": 0.35, "少儿": 0.10,
                                            "其他": 0.01}
DEFAULTS: Final[dict[str, Any]] = {
    "min_titles_per_room": 60, "min_fen_per_room": 200_000, "list_share_min": 0.70, "own_province_max": 0.30,
    "own_province": "天津", "category_targets": DEFAULT_TARGETS, "category_tolerance": 0.05,
}
MAX_BUDGET_FEN = 10_000_000_000  # ¥100 million: far above any district's year
STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Share = Annotated[float, Field(ge=0, le=1)]
ObjectIdText = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
TitleId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class Window(BaseModel):
    model_config = STRICT

    opens_on: date = Field(description="first day of 百姓点单 (Asia/Shanghai)")
    closes_on: date = Field(description="last day of 百姓点单 (inclusive)")

    @model_validator(mode="after")
    def _order(self) -> Window:
        if self.closes_on < self.opens_on:
            raise ValueError("结束日期不能早于开始日期")
        return self


class PlanSettings(BaseModel):
    """The settings a plan may change while draft or selection_open (all optional)."""

    model_config = STRICT

    title: Text | None = None
    budget_fen: int | None = Field(None, ge=0, le=MAX_BUDGET_FEN, description="total budget in fen")
    min_titles_per_room: int | None = Field(None, ge=0, le=10_000)
    min_fen_per_room: int | None = Field(None, ge=0, le=MAX_BUDGET_FEN)
    list_share_min: Share | None = Field(None, description="share of titles and of copies from the list")
    own_province_max: Share | None = None
    own_province: str | None = Field(None, max_length=12, description="short name, e.g. 天津")
    category_targets: dict[Category, Share] | None = Field(None, description="six-class share targets (sum 1)")
    category_tolerance: Share | None = None
    rooms: list[RoomCode] | None = Field(None, max_length=2000, description="room codes (default: all active rooms)")
    window: Window | None = None

    @field_validator("own_province", mode="after")
    @classmethod
    def _province(cls, value: str | None) -> str | None:
        return normalize_province(value) if value is not None else None

    @field_validator("category_targets", mode="after")
    @classmethod
    def _targets(cls, value: dict[str, float] | None) -> dict[str, float] | None:
        if value is not None and abs(sum(value.values()) - 1) > 0.001:
            raise ValueError("各类目标比例之和应为 1")
        return value


class PlanCreate(PlanSettings):
    year: int = Field(ge=2000, le=2100)
    title: Text
    budget_fen: int = Field(ge=0, le=MAX_BUDGET_FEN, description="total budget in fen")


class PlanUpdate(PlanSettings):
    pass


class HistoryTotals(BaseModel):
    books: int
    discs: int
    fen: int


class PlanOut(BaseModel):
    plan_id: str
    year: int
    title: str
    budget_fen: int
    min_titles_per_room: int
    min_fen_per_room: int
    list_share_min: float
    own_province_max: float
    own_province: str
    category_targets: dict[str, float]
    category_tolerance: float
    rooms: list[str]
    window: dict[str, str] | None = None
    status: PlanStatus
    chosen_run_id: str | None = None
    history: bool = False
    history_totals: HistoryTotals | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    warnings: list[str] = Field(default_factory=list, description="settings that cannot all be met (e.g. budget)")


class PlanList(BaseModel):
    items: list[PlanOut]


class TransitionIn(BaseModel):
    model_config = STRICT

    to: PlanStatus
    chosen_run_id: ObjectIdText | None = Field(None, description="required to lock: a selection run of this plan")


# -- candidates ------------------------------------------------------------------


class CandidateIn(BaseModel):
    """A title the district adds to the plan's candidates (not on the year's list)."""

    model_config = STRICT

    isbn: str = Field(max_length=40, description="ISBN-10 or ISBN-13")
    title: Text
    author: str | None = Field(None, max_length=200)
    publisher: str | None = Field(None, max_length=200)
    publisher_province: str = Field(max_length=12)
    price_fen: int = Field(ge=1, le=MAX_PRICE_CENTS)
    category: Category

    @field_validator("publisher_province", mode="after")
    @classmethod
    def _province(cls, value: str) -> str:
        found = normalize_province(value)
        if found is None:
            raise ValueError("不能为空")
        return found


class CandidateOut(BaseModel):
    candidate_id: str
    plan_id: str
    title_id: str
    title: str
    author: str | None = None
    publisher: str | None = None
    publisher_province: str | None = None
    price_fen: int
    category: str
    on_list: bool
    source: Literal["list", "district"]


class CandidateQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: Category | None = None
    on_list: bool | None = None
    q: str | None = Field(None, max_length=60, description="part of the title, or the ISBN")
    limit: int = Field(50, ge=1, le=500)
    cursor: str | None = Field(None, max_length=200)


class CandidatePage(BaseModel):
    items: list[CandidateOut]
    next_cursor: str | None = None
    counts: dict[str, int] = Field(description="candidates per category (whole plan)")


ListQuery = DryRunQuery




class ListImportReport(ImportReport):
    candidates_created: int = 0
    candidates_updated: int = 0
    titles_created: int = 0


# -- rule checks -----------------------------------------------------------------


class LineIn(BaseModel):
    model_config = STRICT

    room: RoomCode
    title_id: TitleId
    copies: int = Field(ge=1, le=1000)
    price_fen: int = Field(ge=0, le=MAX_PRICE_CENTS)
    category: Category
    on_list: bool
    province: str | None = Field(None, max_length=12)


class CheckIn(BaseModel):
    model_config = STRICT

    lines: list[LineIn] = Field(max_length=500_000)


class CheckQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: ObjectIdText | None = Field(None, description="a stored selection run (default: the latest)")


class Violation(BaseModel):
    room: str | None
    rule: str = Field(description="list_titles, list_copies, own_province, category_mix:<class>, min_titles, "
                                  "min_fen, budget")
    current: float
    bound: float
    message: str


class CheckOut(BaseModel):
    ok: bool
    run_id: str | None = None
    violations: list[Violation]
    totals: dict[str, Any]


# -- picks -----------------------------------------------------------------------


class PickItem(BaseModel):
    model_config = STRICT

    title_id: TitleId
    copies: int = Field(ge=1, le=50)


class PicksIn(BaseModel):
    model_config = STRICT

    op_id: str = Field(pattern=OP_ID_PATTERN)
    items: list[PickItem] = Field(max_length=3000)


class PickOut(BaseModel):
    title_id: str
    title: str
    category: str
    price_fen: int
    copies: int
    kind: PickKind


class RoomPicks(BaseModel):
    plan_id: str
    room: str
    items: list[PickOut]
    titles: int = Field(description="titles the administrator picked")
    copies: int
    fen: int = Field(description="Σ copies × price of the administrator's picks")
    replayed: bool = False


class TitlePickCount(BaseModel):
    title_id: str
    title: str
    category: str
    rooms: int
    copies: int
    by_kind: dict[str, int]


class PlanPicksQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room: RoomCode | None = None


class PlanPicks(BaseModel):
    plan_id: str
    room: str | None
    titles: list[TitlePickCount]
    rooms_with_picks: int


class DemandRefreshOut(BaseModel):
    reader_suggestions: int
    holds: int
    unmatched_suggestions: int = Field(description="accepted suggestions naming no candidate of the plan")


# -- history ---------------------------------------------------------------------


class HistoryOut(BaseModel):
    years: list[int]
    created: int


class YearFigures(BaseModel):
    year: int
    books: int
    discs: int
    fen: int
    history: bool
    plan_id: str | None = None


class YearsOut(BaseModel):
    items: list[YearFigures]
