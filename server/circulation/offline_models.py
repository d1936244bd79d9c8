"""Offline sync schemas: the batch a phone uploads, the outcome of each operation in it,
and the conflicts the district console lists.

The envelope (``OfflineBatchIn``) is validated at the edge like every body: a malformed
envelope is a 422 and nothing is stored. The operations inside it are not: each one is
validated on its own (``parse_op``), so one bad scan is answered ``rejected`` with a
reason and never costs the other operations of the batch.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    model_validator,
)

from server.circulation.models import TitleRef
from server.idempotency import OP_ID_PATTERN
from server.readers.models import CardNo, ReaderBrief
from server.staff.models import RoomCode

MAX_OPS = 5000
OpType = Literal["loan", "return", "renew", "in_room_use"]
Outcome = Literal["applied", "duplicate", "conflict", "rejected"]
OP_TYPES: tuple[str, ...] = ("loan", "return", "renew", "in_room_use")
TYPE_LABELS = {"loan": "借出", "return": "归还", "renew": "续借", "in_room_use": "馆内阅览"}


def _printable(value: str) -> str:
    # A device id is stored and shown: no control characters, no lone surrogates.
    if any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in value):
        raise ValueError("设备编号含有不可显示的字符")
    return value


BatchId = Annotated[str, StringConstraints(pattern=OP_ID_PATTERN)]
DeviceId = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_printable)]

# The operations are documented but not constrained here: each is validated by ``parse_op``
# and a malformed one is answered "rejected" in its outcome (never a 422 for the whole batch).
RawOp = Annotated[Any, WithJsonSchema({
    "title": "OfflineOp",
    "description": (
        "One operation from the phone's log: {op_id (8–64 of [A-Za-z0-9_-]), type (loan | return | renew | "
        "in_room_use), at (ISO-8601 with offset, when it happened), room (room code), card (reader card; "
        "required for loan and renew), code (ISBN-13, ISBN-10 or internal id), count (in_room_use, default 1)}. "
        "Validated one by one: a malformed operation gets outcome \"rejected\" and does not fail the batch."),
})]


class OfflineBatchIn(BaseModel):
    """What a phone uploads when it is back online: its log since the last upload."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    batch_id: BatchId = Field(description="client-made id of this upload; a replay returns the first outcomes")
    device_id: DeviceId = Field(description="the phone's own id (ties event-time order between phones)")
    ops: list[RawOp] = Field(min_length=1, max_length=MAX_OPS, description="operations, in any order")


class OfflineOp(BaseModel):
    """One logged operation, as validated on its own."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    op_id: Annotated[str, StringConstraints(pattern=OP_ID_PATTERN)]
    type: OpType
    at: AwareDatetime = Field(description="when it happened on the phone, with the UTC offset")
    room: RoomCode
    card: CardNo | None = None
    code: TitleRef
    count: int = Field(1, ge=1, le=500)

    @model_validator(mode="after")
    def _card_when_needed(self) -> OfflineOp:
        if self.type in ("loan", "renew") and self.card is None:
            raise ValueError(f"{TYPE_LABELS[self.type]}必须有读者的借阅证号")
        return self


class OpOutcome(BaseModel):
    op_id: str
    type: str
    outcome: Outcome
    code: str | None = Field(None, description="why: a conflict or rejection code (also set on some applied ops)")
    message: str = Field(description="a sentence for the administrator")
    loan_id: str | None = None


class OfflineBatchOut(BaseModel):
    batch_id: str
    stored_at: datetime
    replayed: bool = Field(description="this batch_id was uploaded before: these are the first outcomes")
    outcomes: list[OpOutcome] = Field(description="one per operation, in the order they were sent")


# -- validation of one operation ----------------------------------------------------------

_FIELD_LABELS = {"op_id": "操作编号", "type": "操作类型", "at": "时间", "room": "书屋编号", "card": "借阅证号",
                 "code": "ISBN/编号", "count": "次数"}
_ERROR_TEXT = {
    "extra_forbidden": "是多余的字段", "string_pattern_mismatch": "格式不对",
    "literal_error": "不是 loan、return、renew、in_room_use 之一", "timezone_aware": "须带时区（如 +08:00）",
    "datetime_from_date_parsing": "不是有效的时间", "datetime_parsing": "不是有效的时间",
    "datetime_type": "不是有效的时间", "string_type": "应为文本", "int_type": "应为整数", "int_parsing": "应为整数",
    "greater_than_equal": "太小", "less_than_equal": "太大", "string_too_short": "太短", "string_too_long": "太长",
    "model_type": "应为对象", "model_attributes_type": "应为对象",
}


def describe(exc: ValidationError, most: int = 3) -> str:
    """What is wrong with an operation, as words the administrator can act on (up to ``most`` problems)."""
    texts = []
    for err in exc.errors(include_url=False)[:most]:
        loc = [str(p) for p in err["loc"]]
        field = _FIELD_LABELS.get(loc[0], loc[0]) if loc else ""
        if err["type"] == "value_error":
            text = str(err["msg"]).removeprefix("Value error, ")
            texts.append(f"{field}：{text}" if field else text)
        elif err["type"] == "json_invalid":
            texts.append("含有无法识别的字符")
        elif not field:
            texts.append("操作内容不是一个对象")
        elif err["type"] == "missing":
            texts.append(f"缺少{field}")
        else:
            texts.append(f"{field}{_ERROR_TEXT.get(err['type'], '格式不对')}")
    return "；".join(texts)


def raw_text(raw: Any) -> str:
    """The operation as received, as JSON text (ASCII: lone surrogates and any key survive storage)."""
    try:
        return json.dumps(raw, ensure_ascii=True, allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return json.dumps(repr(raw)[:2000])


def parse_op(text: str) -> OfflineOp | str:
    """The operation, or the reason it is rejected."""
    try:
        return OfflineOp.model_validate_json(text, strict=True)
    except ValidationError as exc:
        return describe(exc)


def echo(raw: Any, name: str, limit: int = 64) -> str:
    """A field of a raw operation to echo in its outcome, whatever was sent."""
    value = raw.get(name) if isinstance(raw, dict) else None
    if not isinstance(value, str):
        return ""
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")[:limit]


# -- conflicts ----------------------------------------------------------------------------

class ConflictQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    resolved: bool = Field(False, description="false: still to be dealt with (default); true: resolved ones")
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


class ConflictOut(BaseModel):
    id: str
    room: str
    op_id: str
    batch_id: str
    device_id: str
    type: str
    code: str = Field(description="the main conflict; ``flags`` lists every one")
    flags: list[str]
    message: str
    applied: bool = Field(description="the operation changed loans or stock despite the conflict")
    at: datetime = Field(description="when the operation happened on the phone")
    title_id: str
    title: str | None = None
    card: str | None = Field(None, description="masked for roles that may not see readers")
    reader: ReaderBrief | None = None
    loan_id: str | None = None
    other_loan_id: str | None = Field(None, description="the loan closed or found in the way")
    uploaded_by: str
    created_at: datetime
    resolved: bool
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    resolution: str | None = None


class ConflictPage(BaseModel):
    items: list[ConflictOut]
    next_cursor: str | None = None


Note = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]


class ResolveIn(BaseModel):
    """Close a conflict with a note. For an ``unknown_card`` loan the loan is first given to its reader:
    the card now registered (or ``card``, a corrected number); ``dismiss`` closes it without that."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    note: Note = Field(description="what was found or done")
    card: CardNo | None = Field(None, description="unknown_card: the correct card number")
    dismiss: bool = Field(False, description="unknown_card: close without finding the reader")


class ResolveOut(BaseModel):
    conflict: ConflictOut
    reapplied: bool = Field(description="the operation was applied again (e.g. the loan now has its reader)")
    message: str


class ConsoleConflictQuery(ConflictQuery):
    """The console's list: every room in the viewer's scope, or one."""

    room: RoomCode | None = None
