"""Quizzes: API schemas (pydantic) for question banks and attempts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.idempotency import OP_ID_PATTERN
from server.sheet_import import DryRunQuery, ImportReport

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
MAX_OPTIONS = 6
OPTION_LETTERS = "ABCDEF"
# An attempt may be submitted this long after its deadline and still count as on time: the
# phone's clock and the network are not exact.
GRACE_SECS = 30
MAX_QUESTIONS_PER_BANK = 500

OpId = Annotated[str, StringConstraints(pattern=OP_ID_PATTERN)]
QuestionText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]
OptionText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ObjectIdText = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
AttemptStatus = Literal["open", "submitted", "expired"]
ATTEMPT_STATUS_LABELS = {"open": "答题中", "submitted": "已交卷", "expired": "超时交卷"}


def _check_answer(options: list[str], answer: int) -> None:
    if answer >= len(options):
        raise ValueError(f"answer 应为选项的序号（0 到 {len(options) - 1}）")
    if len({o.strip() for o in options}) != len(options):
        raise ValueError("选项不能重复")


class QuestionIn(BaseModel):
    """One single-choice question: ``answer`` is the index (from 0) of the right option."""

    model_config = STRICT

    text: QuestionText
    options: list[OptionText] = Field(min_length=2, max_length=MAX_OPTIONS)
    answer: int = Field(ge=0, lt=MAX_OPTIONS, description="index of the right option, from 0")

    @model_validator(mode="after")
    def _answer_is_an_option(self) -> QuestionIn:
        _check_answer(self.options, self.answer)
        return self


class QuestionPatch(BaseModel):
    """Change a question; ``options`` and ``answer`` go together when either changes.
    ``active: false`` takes it out of new attempts (questions are never deleted: past
    attempts keep what they asked)."""

    model_config = STRICT

    text: QuestionText | None = None
    options: list[OptionText] | None = Field(None, min_length=2, max_length=MAX_OPTIONS)
    answer: int | None = Field(None, ge=0, lt=MAX_OPTIONS)
    active: bool | None = None

    @model_validator(mode="after")
    def _together(self) -> QuestionPatch:
        if (self.options is None) != (self.answer is None):
            raise ValueError("修改选项或答案时，options 和 answer 要一起提供")
        if self.options is not None and self.answer is not None:
            _check_answer(self.options, self.answer)
        return self


class QuestionOut(BaseModel):
    id: str
    course_id: str
    text: str
    options: list[str]
    answer: int
    active: bool
    created_at: datetime
    updated_at: datetime


class QuestionList(BaseModel):
    course_id: str
    quiz: dict[str, int] | None = Field(description="the course's quiz settings (pass_mark, questions_per_attempt, "
                                                     "time_limit_min), null when it has no quiz")
    active: int
    items: list[QuestionOut]


ImportQuery = DryRunQuery




class QuestionImportReport(ImportReport):
    created: int = 0


class AttemptStartIn(BaseModel):
    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")


class AnswersIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    answers: dict[ObjectIdText, Annotated[int, Field(ge=0, lt=MAX_OPTIONS)]] = Field(
        max_length=100, description="question id → chosen option index (from 0); merged into what was saved")


class SubmitIn(BaseModel):
    model_config = STRICT

    op_id: OpId


class AttemptQuestion(BaseModel):
    id: str
    text: str
    options: list[str]
    chosen: int | None
    correct: int | None = Field(description="the right option: only after the attempt is submitted")


class AttemptOut(BaseModel):
    id: str
    course_id: str
    course_title: str
    status: AttemptStatus
    status_label: str
    started_at: datetime
    deadline: datetime
    seconds_left: int = Field(description="seconds until the deadline when this was answered (0 once past)")
    submitted_at: datetime | None
    pass_mark: int
    questions: list[AttemptQuestion]
    answered: int
    correct: int | None = None
    total: int
    score_percent: int | None = None
    passed: bool | None = None
    late: bool = Field(False, description="submitted after the deadline and the grace: only answers saved in "
                                          "time were scored")
    certificate_number: str | None = None


class AttemptSummary(BaseModel):
    id: str
    status: AttemptStatus
    started_at: datetime
    submitted_at: datetime | None
    score_percent: int | None
    passed: bool | None


class MyAttempts(BaseModel):
    course_id: str
    items: list[AttemptSummary]
