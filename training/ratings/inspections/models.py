"""Inspectors' scores of rating entries: what the API takes and answers.

An inspector visits a room (or a person, or a family) during a round's district review
and scores the rubric's ``inspector`` criteria 0–100, with a comment and photos. Scores
are blind: an inspector sees nobody else's score until their own is submitted.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.readers.models import OpId

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

CriterionKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
ScoreValue = Annotated[float, Field(ge=0, le=100)]
PhotoId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

# Which rounds' entries are scored, and which entries are still in the running.
REVIEW_STATUS = "district_review"
OUT_OF_RUNNING = frozenset({"town_rejected", "withdrawn", "rejected", "not_shortlisted"})
MAX_PHOTOS = 12
COMMENT_MAX_CHARS = 1000

ScoreStatus = Literal["missing", "draft", "submitted"]
SCORE_STATUS_LABELS = {"missing": "未评分", "draft": "草稿", "submitted": "已提交"}
KIND_LABELS = {"model_room": "示范书屋", "model_admin": "模范管理员", "reading_family": "书香之家"}
ENTRY_STATUS_LABELS = {
    "submitted": "已申报", "town_passed": "镇街初审通过", "town_rejected": "镇街初审未通过",
    "shortlisted": "入围", "not_shortlisted": "未入围", "awarded": "获评", "nominated": "推荐上报",
    "rejected": "未获评", "withdrawn": "已撤回",
}


class ScoreIn(BaseModel):
    """A draft of the inspector's scores for one entry (replaces the previous draft)."""

    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")
    criteria: dict[CriterionKey, ScoreValue] = Field(
        default_factory=dict, max_length=30,
        description="inspector criteria of the round's rubric → score 0–100 (others are refused)")
    comment: Annotated[str, StringConstraints(max_length=COMMENT_MAX_CHARS)] = ""
    visited_on: date | None = Field(None, description="the day of the visit (YYYY-MM-DD)")


class SubmitIn(BaseModel):
    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")


class InspectionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_conflicts: bool = Field(
        False, description="inspectors: also list the entries they may not score, with the reason")


class CriterionOut(BaseModel):
    key: str
    label: str
    group: str
    weight: float


class ScoreOut(BaseModel):
    id: str | None = Field(None, description="None when the inspector has not started a score")
    entry_id: str
    round_id: str
    inspector: str
    inspector_name: str
    criteria: dict[str, float]
    comment: str
    photos: list[str] = Field(description="photo ids; GET /api/v1/ratings/photos/{photo_id}")
    status: ScoreStatus
    visited_on: date | None = None
    created_at: datetime | None = None
    submitted_at: datetime | None = None


class ScoresOut(BaseModel):
    """The scores of one entry the caller may see (the blind rule decides which)."""

    entry_id: str
    blind: bool = Field(description="True while the caller (an inspector) has not submitted their own score")
    criteria: list[CriterionOut]
    scores: list[ScoreOut]


class PhotoOut(BaseModel):
    photo_id: str
    content_type: str
    bytes: int
    width: int
    height: int
    photos: int = Field(description="how many photos the score has now")


class InspectionItem(BaseModel):
    entry_id: str
    round_id: str
    round_title: str
    kind: str
    kind_label: str
    subject_type: str
    name: str
    room: str | None
    room_name: str | None
    town: str
    address: str
    entry_status: str
    conflict: str | None = Field(None, description="why this inspector may not score it (所属镇街、申报人、初审人)")
    my_status: ScoreStatus | None = Field(None, description="inspectors: their own score's status")
    submitted: int = Field(0, description="district roles: submitted scores of this entry")
    drafts: int = Field(0, description="district roles: scores in draft")


class InspectionList(BaseModel):
    items: list[InspectionItem]
    criteria: dict[str, list[CriterionOut]] = Field(description="round id → its inspector criteria")
