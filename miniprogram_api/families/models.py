"""书香之家 (reading family) in the mini-program: what families send and see."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.readers.models import OpId

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

STATEMENT_MAX_CHARS = 1000
ACTIVITIES_MAX_CHARS = 300

FamilyName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=20)]


class NominateIn(BaseModel):
    """A family's self-nomination (自荐) for this year's 书香之家."""

    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")
    family_name: FamilyName = Field(description='e.g. "王秀英家庭"')
    statement: Annotated[str, StringConstraints(min_length=1, max_length=STATEMENT_MAX_CHARS)] = Field(
        description="申报材料: how the family reads, in its own words (checked by WeChat's content check)")
    books_owned: int = Field(ge=0, le=20000, description="books at home (册)")
    reading_minutes_per_week: int = Field(ge=0, le=5000, description="family reading time per week (minutes)")
    activities_joined_text: Annotated[str, StringConstraints(max_length=ACTIVITIES_MAX_CHARS)] = Field(
        "", description="reading activities the family joined (optional)")


class WithdrawIn(BaseModel):
    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")


class RoundBrief(BaseModel):
    id: str
    year: int
    title: str
    period_from: str
    period_to: str
    status: str
    status_label: str


class FamilyEntryOut(BaseModel):
    id: str
    round_id: str
    round_title: str
    family_name: str
    room: str | None
    town: str
    status: str
    status_label: str
    statement: str
    books_owned: int | None
    reading_minutes_per_week: int | None
    activities_joined_text: str
    members: int | None
    content_review: bool = Field(description="WeChat asked for a person to look at the text; staff will")
    can_withdraw: bool
    outcome: str | None = Field(None, description="after the decision: awarded / nominated / rejected")
    outcome_label: str | None = None
    submitted_at: datetime


class ReadingFamilyOut(BaseModel):
    round: RoundBrief | None = Field(None, description="the reading-family round open for nominations, if any")
    how_it_works: list[str]
    requirements: list[str]
    home_room: str | None = Field(None, description="the account holder's home room (where the family belongs)")
    can_nominate: bool
    why_not: str | None = Field(None, description="why the family cannot nominate itself now")
    entry: FamilyEntryOut | None = Field(None, description="the family's entry (this round's, else the latest)")
