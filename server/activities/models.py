"""A room's activity register (活动记录) and its opening check-ins (今日开馆): API schemas.

DOMAIN.md, "A room": the activity log is one of the registers a room keeps; a room should
hold at least 4 reading activities a year.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from server.dates import IsoDate
from server.idempotency import OP_ID_PATTERN

ActivityKind = Literal["读书会", "讲座", "展览", "亲子阅读", "培训", "其他"]
ACTIVITY_KINDS: tuple[str, ...] = ("读书会", "讲座", "展览", "亲子阅读", "培训", "其他")
OpId = Annotated[str, StringConstraints(pattern=OP_ID_PATTERN)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=60)]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]
# An activity is recorded at most this long after it was held, and corrected within this long.
RECORD_WINDOW_DAYS = 366
EDIT_WINDOW_DAYS = 30
MAX_ATTENDANCE = 5000

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)



def _children_within(attendance: int | None, children: int | None) -> None:
    if attendance is not None and children is not None and children > attendance:
        raise ValueError("children: 儿童人数不能多于参加人数")


class ActivityIn(BaseModel):
    """One activity held in the room. ``op_id`` is made by the phone; a replay records nothing."""

    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")
    held_on: date = Field(description="local date it was held; not in the future, at most a year ago")
    title: Title
    kind: ActivityKind
    attendance: int = Field(ge=0, le=MAX_ATTENDANCE, description="people who took part")
    children: int = Field(0, ge=0, le=MAX_ATTENDANCE, description="of them, children under 14")
    notes: Notes = ""

    @model_validator(mode="after")
    def _children(self) -> ActivityIn:
        _children_within(self.attendance, self.children)
        return self


class ActivityUpdate(BaseModel):
    """Corrections within EDIT_WINDOW_DAYS of recording; absent fields stay."""

    model_config = STRICT

    held_on: date | None = None
    title: Title | None = None
    kind: ActivityKind | None = None
    attendance: int | None = Field(None, ge=0, le=MAX_ATTENDANCE)
    children: int | None = Field(None, ge=0, le=MAX_ATTENDANCE)
    notes: Notes | None = None

    @model_validator(mode="after")
    def _children(self) -> ActivityUpdate:
        _children_within(self.attendance, self.children)
        return self


class ActivityOut(BaseModel):
    id: str
    room: str
    town: str
    held_on: date
    title: str
    kind: ActivityKind
    attendance: int
    children: int
    notes: str
    recorded_by: str
    created_at: datetime
    updated_at: datetime
    editable_until: datetime = Field(description="corrections are accepted until then")


class ActivityRecorded(BaseModel):
    op_id: str
    replayed: bool = Field(description="true when this op_id had already been recorded; nothing changed")
    activity: ActivityOut


class ActivityPage(BaseModel):
    items: list[ActivityOut]
    next_cursor: str | None = None
    total_attendance: int = Field(description="attendance summed over every matching activity (all pages)")
    count: int = Field(description="matching activities (all pages)")


class RoomActivityQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: IsoDate | None = Field(None, description="first local day held (inclusive)")
    until: IsoDate | None = Field(None, description="last local day held (inclusive)")
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


class ActivityQuery(RoomActivityQuery):
    town: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)] | None = None


class OpeningIn(BaseModel):
    """"今日开馆": the administrator shows the room is open today (local date)."""

    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")


class OpeningOut(BaseModel):
    op_id: str
    replayed: bool
    room: str
    day: date
    first: bool = Field(description="false when the room had already checked in today (nothing changed)")
    by: str
    at: datetime
