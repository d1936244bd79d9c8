"""The readers' satisfaction survey of a room (读者满意度调查): five questions, each 1–5."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.idempotency import OP_ID_PATTERN

# (key, question in plain Chinese). The last one is the overall satisfaction the ratings use.
QUESTIONS: tuple[tuple[str, str], ...] = (
    ("q1", "开放时间方便吗？"),
    ("q2", "书够不够看？"),
    ("q3", "管理员的服务好吗？"),
    ("q4", "书屋环境好吗？"),
    ("q5", "总的来说，您对这个书屋满意吗？"),
)
OVERALL = "q5"
SCALE_LABELS = {1: "很不满意", 2: "不太满意", 3: "一般", 4: "比较满意", 5: "非常满意"}
# An answer of this or more counts as satisfied (满意率).
SATISFIED_FROM = 4
Score = Annotated[int, Field(ge=1, le=5)]


class Answers(BaseModel):
    model_config = ConfigDict(extra="forbid")

    q1: Score
    q2: Score
    q3: Score
    q4: Score
    q5: Score


class SurveyIn(BaseModel):
    """One answer per account, room and calendar year; answering again replaces it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    op_id: Annotated[str, StringConstraints(pattern=OP_ID_PATTERN)] = Field(
        description="client-made id; a replay returns the first answer")
    answers: Answers
    comment: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = Field(
        "", description="optional; read by library staff only, never published")


class Question(BaseModel):
    key: str
    text: str


class MyAnswer(BaseModel):
    answers: Answers
    comment: str
    answered_at: datetime


class SurveyOut(BaseModel):
    room: str
    room_name: str
    year: int
    questions: list[Question]
    scale: dict[int, str] = Field(description="what each score means")
    can_answer: bool
    reason: str | None = Field(None, description="why this account cannot answer (Chinese), if it cannot")
    mine: MyAnswer | None = Field(None, description="this account's answer this year, if any")


class SurveySaved(BaseModel):
    op_id: str
    replayed: bool
    replaced: bool = Field(description="true when this replaced an earlier answer of this year")
    mine: MyAnswer


class QuestionResult(BaseModel):
    key: str
    text: str
    counts: dict[int, int] = Field(description="answers per score 1–5")
    mean: float | None


class SurveyResultsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int | None = Field(None, ge=2000, le=2100, description="calendar year (default: this year)")


class Comment(BaseModel):
    text: str
    on: str = Field(description="local date answered")


class SurveyResults(BaseModel):
    """Aggregates only: no respondent identity."""

    room: str
    year: int
    responses: int
    satisfied: int = Field(description="responses scoring the overall question 4 or 5")
    satisfaction_rate: float | None = Field(None, description="satisfied ÷ responses (0–1)")
    questions: list[QuestionResult]
    comments: list[Comment] = Field(description="comments left, newest first, without who wrote them")
