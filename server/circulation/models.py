"""Circulation API schemas: lend, return, renew, in-room use, holds, loan lists and statistics."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

import isbnlib
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

from server.readers.models import CardNo, OpId, ReaderBrief
from server.staff.models import RoomCode

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
INTERNAL_ID = re.compile(r"SW\d{11}")


def normalise_title_id(value: str) -> str:
    """A scanned or typed item number as the catalog keys it: ISBN-13 (ISBN-10 converted,
    hyphens and spaces dropped, checksum verified) or an internal id (SW + 11 digits)."""
    raw = re.sub(r"[\s-]", "", value).upper()
    if INTERNAL_ID.fullmatch(raw):
        return raw
    if len(raw) == 13 and isbnlib.is_isbn13(raw):
        return raw
    if len(raw) == 10 and isbnlib.is_isbn10(raw):
        return isbnlib.to_isbn13(raw)
    raise ValueError("不是有效的 ISBN 或馆内编号，请重新扫描或手工输入")


TitleRef = Annotated[str, StringConstraints(min_length=1, max_length=32), AfterValidator(normalise_title_id)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]
ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]


class LendIn(BaseModel):
    """Lend one copy of ``title_id`` from the room's shelf to the reader holding ``card_no``."""

    model_config = STRICT

    op_id: OpId
    card_no: CardNo
    title_id: TitleRef = Field(description="ISBN-13, ISBN-10 or internal id, as scanned")


class ReturnIn(BaseModel):
    """A copy comes back to this room (it may have been lent by any room).

    Which loan it closes: ``loan_id`` if given, else the reader's (``card_no``) oldest open
    loan of the title, else the only open loan of the title in the district.
    """

    model_config = STRICT

    op_id: OpId
    title_id: TitleRef
    card_no: CardNo | None = None
    loan_id: ObjectIdStr | None = None


class RenewIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    room: RoomCode | None = Field(None, description="the desk where the reader asks (default: the lending room)")


class InRoomUseIn(BaseModel):
    """Items read in the room without a loan (newspapers, reference books): counted, not lent."""

    model_config = STRICT

    op_id: OpId
    title_id: TitleRef
    count: int = Field(1, ge=1, le=500, description="times used")


class HoldIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    card_no: CardNo
    title_id: TitleRef
    pickup_room: RoomCode


class HoldCancelIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    reason: Reason


class LoanOut(BaseModel):
    id: str
    room: str = Field(description="the lending room")
    title_id: str
    title: str | None = None
    format: str
    reader: ReaderBrief | None = Field(None, description="null once the loan record is anonymised")
    lent_at: datetime
    due_at: datetime
    renewals: int
    returned_at: datetime | None = None
    returned_room: str | None = None
    overdue: bool
    days_overdue: int


class LendOut(BaseModel):
    op_id: str
    replayed: bool = Field(description="true when this op_id had already been applied; nothing changed")
    loan: LoanOut
    hold_fulfilled: str | None = Field(None, description="id of the reader's hold this loan fulfilled")
    message: str


class HoldNotice(BaseModel):
    """What the administrator must do with a returned copy someone is waiting for."""

    hold_id: str
    action: Literal["keep", "send"] = Field(description="keep: set aside here for pick-up; send: to pickup_room")
    reader: ReaderBrief
    pickup_room: str
    pickup_room_name: str
    expires_at: datetime | None = None
    message: str


class ReturnOut(BaseModel):
    op_id: str
    replayed: bool
    loan: LoanOut
    lending_room: str
    moved: bool = Field(description="returned in another room: the copy now belongs to this room (通借通还)")
    notice: HoldNotice | None = None
    message: str


class RenewOut(BaseModel):
    op_id: str
    replayed: bool
    loan: LoanOut
    message: str


class InRoomUseOut(BaseModel):
    op_id: str
    replayed: bool
    room: str
    title_id: str
    count: int


HoldStatus = Literal["waiting", "ready", "fulfilled", "cancelled", "expired"]


class HoldOut(BaseModel):
    id: str
    reader: ReaderBrief | None = None
    title_id: str
    title: str | None = None
    pickup_room: str
    status: HoldStatus
    placed_at: datetime
    ready_at: datetime | None = None
    expires_at: datetime | None = Field(None, description="a ready hold waits until then")
    routed_from: str | None = Field(None, description="room told to send a returned copy here")
    loan_id: str | None = None
    closed_at: datetime | None = None
    cancel_reason: str | None = None


class RoomCopies(BaseModel):
    room: str
    on_shelf: int


class HoldPlaced(BaseModel):
    op_id: str
    replayed: bool
    hold: HoldOut
    queue_position: int = Field(description="1 = next copy is for this reader")
    available_elsewhere: list[RoomCopies] = Field(description="rooms with the title on the shelf (a transfer can bring one)")


class HoldCancelled(BaseModel):
    op_id: str
    replayed: bool
    hold: HoldOut


class LoanPage(BaseModel):
    items: list[LoanOut]
    next_cursor: str | None = None


class RoomLoanQuery(BaseModel):
    """A room's open loans, soonest due first."""

    model_config = ConfigDict(extra="forbid")

    overdue: bool | None = Field(None, description="true: only overdue loans; false: only those not yet due")
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


class ReaderLoanQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["open", "closed", "all"] = "all"
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


class HoldPage(BaseModel):
    items: list[HoldOut]
    next_cursor: str | None = None


class HoldQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["active", "waiting", "ready", "closed", "all"] = "active"
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


Month = Annotated[str, StringConstraints(pattern=r"^\d{4}-(0[1-9]|1[0-2])$")]


class LoanStatsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_month: Month | None = Field(None, description="e.g. 2026-01 (inclusive)")
    to_month: Month | None = Field(None, description="e.g. 2026-12 (inclusive)")

    @model_validator(mode="after")
    def _order(self) -> LoanStatsQuery:
        if self.from_month and self.to_month and self.from_month > self.to_month:
            raise ValueError("起始月份不能晚于结束月份")
        return self


class LoanStatsRow(BaseModel):
    month: str
    format: str
    category: str
    age_group: Literal["child", "adult", "unknown"] = Field(description="unknown for in-room uses (no reader)")
    loans: int = 0
    renewals: int = 0
    returns: int = 0
    in_room_uses: int = 0


class LoanStatsOut(BaseModel):
    """Per-room circulation counts; they carry no reader identity and survive anonymisation."""

    room: str
    items: list[LoanStatsRow]
    totals: dict[str, int]
