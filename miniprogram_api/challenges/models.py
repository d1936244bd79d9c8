"""Reading challenges: API schemas (staff definitions, readers' joins and logs, boards,
flags, prize draws, book reviews).

Dates (``starts_on``, ``read_on`` …) are local dates in Asia/Shanghai; times are UTC.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.readers.models import CardNo, OpId
from server.staff.models import RoomCode

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
QUERY = ConfigDict(extra="forbid", str_strip_whitespace=True)

Unit = Literal["books", "minutes", "pages"]
UNIT_LABELS: dict[str, str] = {"books": "本", "minutes": "分钟", "pages": "页"}
Team = Literal["room", "school", "class", "town"]
Scope = Literal["challenge", "room", "school", "class", "town"]
Status = Literal["draft", "published", "closed"]
DEFAULT_TEAMS: tuple[Team, ...] = ("room", "school", "town")
TEAM_LABELS: dict[str, str] = {"challenge": "全区", "room": "书屋", "school": "学校", "class": "班级", "town": "镇街"}

ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
TitleId = Annotated[str, StringConstraints(pattern=r"^(97[89]\d{10}|SW\d{11})$")]
BookTitle = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
GroupName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)]
TownName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=20)]
Seed = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Cursor = Annotated[str, StringConstraints(max_length=200)]

MAX_AMOUNT = 100_000  # far beyond any cap: keeps totals inside int64 whatever the input
MAX_MEMBERS_PER_CALL = 8  # an account holds at most 8 children


# -- definitions (staff) ----------------------------------------------------------------------


class AgeGroup(BaseModel):
    """A named age range; ``max_age`` None is open-ended (成人). Ages are reached in the
    challenge's year (``starts_on.year - birth_year``)."""

    model_config = STRICT

    name: GroupName
    min_age: int = Field(ge=0, le=120)
    max_age: int | None = Field(None, ge=0, le=120)


DEFAULT_AGE_GROUPS: tuple[AgeGroup, ...] = (
    AgeGroup(name="学前", min_age=3, max_age=6),
    AgeGroup(name="小学低年级", min_age=7, max_age=9),
    AgeGroup(name="小学高年级", min_age=10, max_age=12),
    AgeGroup(name="初中", min_age=13, max_age=15),
    AgeGroup(name="高中", min_age=16, max_age=17),
    AgeGroup(name="成人", min_age=18, max_age=None),
)


class Milestone(BaseModel):
    model_config = STRICT

    threshold: int = Field(ge=1, le=MAX_AMOUNT * 10, description="total (in the challenge's unit) that earns it")
    badge: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
    icon: Annotated[str, StringConstraints(pattern=r"^[a-z0-9_-]{1,40}$")] = Field(
        description="the mini-program's icon key, e.g. badge-bronze")


class DrawConfig(BaseModel):
    model_config = STRICT

    min_total: int = Field(0, ge=0, le=MAX_AMOUNT * 10, description="least total to be in a prize draw")


class ChallengeIn(BaseModel):
    model_config = STRICT

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)]
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] = ""
    starts_on: date
    ends_on: date
    age_groups: list[AgeGroup] = Field(default_factory=lambda: list(DEFAULT_AGE_GROUPS), min_length=1,
                                       max_length=12)
    unit: Unit = "books"
    cap_per_log: int = Field(ge=1, le=MAX_AMOUNT, description="most one log may record")
    cap_per_day: int = Field(ge=1, le=MAX_AMOUNT, description="most one participant may record per day")
    milestones: list[Milestone] = Field(default_factory=list, max_length=20)
    teams: list[Team] = Field(default_factory=lambda: list(DEFAULT_TEAMS), max_length=4,
                              description="team boards kept besides the whole challenge's")
    draw: DrawConfig | None = None
    rooms: list[RoomCode] = Field(default_factory=list, max_length=500,
                                  description="rooms it covers (with towns); both empty: the whole district")
    towns: list[TownName] = Field(default_factory=list, max_length=20)
    status: Literal["draft", "published"] = "draft"


class ChallengeUpdate(BaseModel):
    """Absent fields stay. ``draw: null`` removes the prize draw."""

    model_config = STRICT

    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=40)] | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)] | None = None
    starts_on: date | None = None
    ends_on: date | None = None
    age_groups: list[AgeGroup] | None = Field(None, min_length=1, max_length=12)
    unit: Unit | None = None
    cap_per_log: int | None = Field(None, ge=1, le=MAX_AMOUNT)
    cap_per_day: int | None = Field(None, ge=1, le=MAX_AMOUNT)
    milestones: list[Milestone] | None = Field(None, max_length=20)
    teams: list[Team] | None = Field(None, max_length=4)
    draw: DrawConfig | None = None
    rooms: list[RoomCode] | None = Field(None, max_length=500)
    towns: list[TownName] | None = Field(None, max_length=20)
    status: Status | None = None


class ChallengeOut(BaseModel):
    id: str
    title: str
    description: str
    starts_on: date
    ends_on: date
    age_groups: list[AgeGroup]
    unit: Unit
    unit_label: str
    cap_per_log: int
    cap_per_day: int
    milestones: list[Milestone]
    teams: list[Team]
    draw: DrawConfig | None
    rooms: list[str]
    towns: list[str]
    status: Status
    participants: int = Field(description="how many have joined")
    created_at: datetime
    updated_at: datetime


class ChallengeQuery(BaseModel):
    model_config = QUERY

    status: Status | None = None
    cursor: Cursor | None = None
    limit: int = Field(50, ge=1, le=200)


class ChallengePage(BaseModel):
    items: list[ChallengeOut]
    next_cursor: str | None = None


# -- readers: list, join, log, progress -------------------------------------------------------------


class FamilyEntry(BaseModel):
    """One family member's standing in a challenge."""

    member_id: str
    name: str
    joined: bool
    participant_id: str | None = None
    total: int = 0
    age_group: str | None = Field(None, description="the group the member is (or would be) in")
    can_join: bool
    reason: str | None = Field(None, description="why not, in Chinese")


class MpChallenge(BaseModel):
    id: str
    title: str
    description: str
    starts_on: date
    ends_on: date
    status: Status
    age_groups: list[AgeGroup]
    unit: Unit
    unit_label: str
    cap_per_log: int
    cap_per_day: int
    milestones: list[Milestone]
    teams: list[Team]
    has_draw: bool
    family: list[FamilyEntry]


class MpChallengeList(BaseModel):
    items: list[MpChallenge]


class JoinIn(BaseModel):
    """One member (``member_id``) or several children at once (``member_ids``)."""

    model_config = STRICT

    op_id: OpId
    member_id: ObjectIdStr | None = None
    member_ids: list[ObjectIdStr] | None = Field(None, min_length=1, max_length=MAX_MEMBERS_PER_CALL)

    @model_validator(mode="after")
    def _one_way(self) -> JoinIn:
        if (self.member_id is None) == (self.member_ids is None):
            raise ValueError("请提供 member_id 或 member_ids（二选一）")
        return self

    @property
    def ids(self) -> list[str]:
        return list(dict.fromkeys(self.member_ids or [self.member_id or ""]))


class DeskJoinIn(BaseModel):
    """A room administrator joins a reader who has no phone, by their library card."""

    model_config = STRICT

    op_id: OpId
    card_no: CardNo
    public_board: bool = Field(True, description="shown (masked) on public boards")


class ParticipantOut(BaseModel):
    id: str
    challenge_id: str
    member_id: str | None
    name: str = Field(description="in full: only staff and the member's own family see this")
    age_group: str
    room: str
    room_name: str | None = None
    town: str | None = None
    school: str | None = None
    class_name: str | None = None
    public_board: bool
    total: int
    log_count: int
    joined_at: datetime
    via: Literal["miniprogram", "desk"]


class JoinOut(BaseModel):
    participants: list[ParticipantOut]


class ParticipantQuery(BaseModel):
    model_config = QUERY

    room: RoomCode | None = None
    cursor: Cursor | None = None
    limit: int = Field(50, ge=1, le=200)


class ParticipantPage(BaseModel):
    items: list[ParticipantOut]
    next_cursor: str | None = None


class _LogFields(BaseModel):
    model_config = STRICT

    op_id: OpId
    read_on: date = Field(description="the local day of the reading; back-dating inside the window is fine")
    amount: int = Field(ge=1, le=MAX_AMOUNT, description="in the challenge's unit")
    title_id: TitleId | None = Field(None, description="a title of the catalog")
    book_title: BookTitle | None = Field(None, description="or the book's name as the reader writes it")


class LogIn(_LogFields):
    """A parent logs the same reading for several children at once."""

    member_ids: list[ObjectIdStr] = Field(min_length=1, max_length=MAX_MEMBERS_PER_CALL)


class DeskLogIn(_LogFields):
    """A room administrator logs for a participant (a child without a phone)."""


class LoggedEntry(BaseModel):
    member_id: str | None
    participant_id: str
    log_id: str
    total: int
    day_total: int
    new_badges: list[str] = Field(description="badges earned by this log")
    flagged: bool = Field(description="unusual: staff will look at it (it counts meanwhile)")


class LogOut(BaseModel):
    entries: list[LoggedEntry]


class BadgeOut(BaseModel):
    milestone_index: int
    badge: str
    icon: str
    threshold: int
    awarded_at: datetime


class NextMilestone(BaseModel):
    threshold: int
    badge: str
    icon: str
    remaining: int


class ReadingLogOut(BaseModel):
    id: str
    read_on: date
    amount: int
    points: int = Field(description="what counts: the amount, or 0 once staff rejected it")
    title_id: str | None = None
    book_title: str | None = None
    status: Literal["counted", "rejected"]
    flagged: bool
    created_at: datetime


class ProgressQuery(BaseModel):
    model_config = QUERY

    member_id: ObjectIdStr
    cursor: Cursor | None = None
    limit: int = Field(20, ge=1, le=100)


class ProgressOut(BaseModel):
    challenge_id: str
    participant_id: str
    member_id: str
    unit: Unit
    unit_label: str
    age_group: str
    total: int
    today_total: int
    log_count: int
    badges: list[BadgeOut]
    next_milestone: NextMilestone | None
    logs: list[ReadingLogOut]
    next_cursor: str | None = None


# -- boards ------------------------------------------------------------------------------------------


class BoardQuery(BaseModel):
    model_config = QUERY

    scope: Scope = "challenge"
    member_id: ObjectIdStr | None = Field(None, description="whose rank to show (and whose team, by default)")
    team: Annotated[str, StringConstraints(min_length=1, max_length=40)] | None = Field(
        None, description="a room code, school, school/class or town name; default: the member's")
    limit: int = Field(50, ge=1, le=100)


class BoardEntry(BaseModel):
    rank: int
    name: str = Field(description="masked, e.g. 张**")
    room_name: str | None = None
    total: int
    me: bool = False


class MyRank(BaseModel):
    member_id: str
    participant_id: str
    rank: int | None = Field(None, description="1-based; None before the first log")
    total: int
    public_board: bool = Field(description="false: hidden from others; the rank is what it would be")


class BoardOut(BaseModel):
    scope: Scope
    team: str | None
    unit: Unit
    unit_label: str
    size: int = Field(description="participants on this board")
    items: list[BoardEntry]
    me: MyRank | None = None


# -- flags -----------------------------------------------------------------------------------------------


class FlagQuery(BaseModel):
    model_config = QUERY

    status: Literal["open", "accepted", "rejected"] = "open"
    cursor: Cursor | None = None
    limit: int = Field(50, ge=1, le=200)


class FlagOut(BaseModel):
    id: str = Field(description="the flagged reading log's id")
    participant_id: str
    name: str
    room: str
    read_on: date
    amount: int
    unit_label: str
    reasons: list[str]
    detail: str
    status: Literal["open", "accepted", "rejected"]
    participant_total: int
    created_at: datetime
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    note: str | None = None


class FlagPage(BaseModel):
    items: list[FlagOut]
    next_cursor: str | None = None


class ResolveIn(BaseModel):
    model_config = STRICT

    decision: Literal["accept", "reject"]
    note: ShortText = ""


# -- prize draws ---------------------------------------------------------------------------------------------


class DrawFilters(BaseModel):
    model_config = STRICT

    rooms: list[RoomCode] | None = Field(None, max_length=500)
    age_groups: list[GroupName] | None = Field(None, max_length=12)
    logged_from: date | None = Field(None, description="read something on or after this day")
    logged_to: date | None = Field(None, description="read something on or before this day")
    min_total: int | None = Field(None, ge=0, le=MAX_AMOUNT * 10)


class DrawIn(BaseModel):
    model_config = STRICT

    winners: int = Field(ge=1, le=1000)
    seed: Seed | None = Field(None, description="given: the draw can be repeated by anyone; absent: a random one")
    prize: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] = "阅读奖品"
    filters: DrawFilters = Field(default_factory=DrawFilters)
    exclude_previous_winners: bool = True


class WinnerOut(BaseModel):
    participant_id: str
    name: str
    room: str
    room_name: str | None = None
    age_group: str
    total: int


class DrawOut(BaseModel):
    id: str
    challenge_id: str
    prize: str
    seed: str
    algorithm: str = Field(description="how winners follow from the seed and the eligible list")
    filters: DrawFilters
    exclude_previous_winners: bool
    eligible_count: int
    eligible_hash: str = Field(description="SHA-256 of the sorted eligible participant ids, one per line")
    eligible_ids: list[str] | None = Field(None, description="with include_eligible=true")
    winners: list[WinnerOut]
    created_at: datetime
    created_by: str


class DrawQuery(BaseModel):
    model_config = QUERY

    include_eligible: bool = False


# -- reviews -------------------------------------------------------------------------------------------


class ReviewIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    member_id: ObjectIdStr
    title_id: TitleId
    rating: int = Field(ge=1, le=5)
    text: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class ReviewOut(BaseModel):
    """A review as its author's family or the staff sees it."""

    id: str
    member_id: str | None
    name: str = Field(description="masked")
    title_id: str
    title: str | None = None
    rating: int
    text: str
    status: Literal["pending", "approved", "rejected"]
    risk: Literal["pass", "review"] = Field(description="the content check's verdict: review needs a closer look")
    reason: str | None = None
    created_at: datetime
    decided_at: datetime | None = None


class ReviewPage(BaseModel):
    items: list[ReviewOut]
    next_cursor: str | None = None


class ReviewQuery(BaseModel):
    model_config = QUERY

    status: Literal["pending", "approved", "rejected"] = "pending"
    cursor: Cursor | None = None
    limit: int = Field(50, ge=1, le=200)


class PageQuery(BaseModel):
    model_config = QUERY

    cursor: Cursor | None = None
    limit: int = Field(20, ge=1, le=100)


class PublicReview(BaseModel):
    id: str
    name: str = Field(description="masked")
    rating: int
    text: str
    created_at: datetime


class TitleReviews(BaseModel):
    title_id: str
    count: int = Field(description="approved reviews")
    average: float | None = Field(None, description="mean rating of approved reviews")
    items: list[PublicReview]
    next_cursor: str | None = None


class DecisionIn(BaseModel):
    model_config = STRICT

    decision: Literal["approve", "reject"]
    reason: ShortText = ""
