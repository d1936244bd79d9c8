"""Books in the mini-program: API schemas for search, holds, loans and purchase suggestions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from server.catalog.classification import Category
from server.catalog.isbn import IsbnError, to_isbn13
from server.catalog.models import MatchKind, TitleFormat, TitleOut
from server.circulation.models import HoldStatus, TitleRef
from server.readers.models import OpId
from server.staff.models import RoomCode

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
QUERY = ConfigDict(extra="forbid", str_strip_whitespace=True)

# An id as the client sends it; a malformed one is refused naming the field (422).
IdText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Cursor = Annotated[str, StringConstraints(max_length=200)]

# -- search --------------------------------------------------------------------------------


class TitleSearchQuery(BaseModel):
    """Search the district's catalog. Availability is reported for ``room``, else the
    home room of ``member_id`` (a member of the caller's family; needs a log-in)."""

    model_config = QUERY

    q: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] | None = Field(
        None, description="汉字 from the title or author, full pinyin, pinyin initials, an ISBN or its last 4+ digits")
    member_id: IdText | None = Field(None, description="report availability in this family member's home room")
    room: RoomCode | None = Field(None, description="report availability in this room (wins over member_id)")
    format: TitleFormat | None = None
    category: Category | None = None
    limit: int = Field(20, ge=1, le=50)
    cursor: Cursor | None = None


class TitleRoomQuery(BaseModel):
    model_config = QUERY

    member_id: IdText | None = None
    room: RoomCode | None = None


class RoomShelf(BaseModel):
    room: str
    name: str
    town: str | None = None
    on_shelf: int = Field(description="copies on the shelf now")
    distance_km: float | None = Field(None, description="from the reference room, when both have coordinates")


class Availability(BaseModel):
    room: str | None = Field(None, description="the reference room (the reader's, or the one asked for)")
    room_name: str | None = None
    on_shelf_here: int | None = Field(None, description="copies on the shelf in the reference room")
    nearby: list[RoomShelf] = Field(description="other rooms with a copy on the shelf, nearest first (at most 5)")
    rooms_on_shelf: int = Field(description="rooms in the district with a copy on the shelf")


class MpTitle(TitleOut):
    match: MatchKind | None = Field(None, description="why a search found it")
    availability: Availability


class MpTitlePage(BaseModel):
    items: list[MpTitle]
    next_cursor: str | None = None
    room: str | None = Field(None, description="the reference room availability is reported for")


# -- holds ----------------------------------------------------------------------------------

HOLD_LABELS: Final[dict[str, str]] = {"waiting": "排队中", "ready": "可取书", "fulfilled": "已借到",
                                      "cancelled": "已取消", "expired": "已过期"}


class MpHoldIn(BaseModel):
    """Hold a title for a family member (who needs a library card) at a pick-up room."""

    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay returns the first answer")
    member_id: IdText
    title_id: TitleRef = Field(description="ISBN-13, ISBN-10 or internal id")
    pickup_room: RoomCode


class MpHoldCancelIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None


class MpHoldOut(BaseModel):
    id: str
    member_id: str | None = None
    member_name: str | None = None
    title_id: str
    title: str | None = None
    pickup_room: str
    pickup_room_name: str | None = None
    status: HoldStatus
    status_label: str
    placed_at: datetime
    ready_at: datetime | None = None
    expires_at: datetime | None = Field(None, description="a ready hold waits for its reader until then")
    closed_at: datetime | None = None
    cancel_reason: str | None = None


class MpHoldPlaced(BaseModel):
    op_id: str
    replayed: bool
    hold: MpHoldOut
    queue_position: int = Field(description="1 = the next copy is for this reader")
    available_elsewhere: list[RoomShelf] = Field(description="rooms with the title on the shelf (a copy may be sent)")
    message: str


class MpHoldCancelled(BaseModel):
    op_id: str
    replayed: bool
    hold: MpHoldOut


class HoldListQuery(BaseModel):
    model_config = QUERY

    member_id: IdText | None = Field(None, description="one family member (default: the whole family)")
    status: Literal["active", "closed", "all"] = "active"
    cursor: Cursor | None = None
    limit: int = Field(30, ge=1, le=100)


class MpHoldPage(BaseModel):
    items: list[MpHoldOut]
    next_cursor: str | None = None


# -- loans ------------------------------------------------------------------------------------


class LoanListQuery(BaseModel):
    model_config = QUERY

    member_id: IdText
    status: Literal["open", "history"] = "open"
    cursor: Cursor | None = None
    limit: int = Field(30, ge=1, le=100)


class RenewRefusal(BaseModel):
    code: str
    message: str


class MpLoanOut(BaseModel):
    id: str
    title_id: str
    title: str | None = None
    room: str = Field(description="the lending room")
    room_name: str | None = None
    lent_at: datetime
    due_at: datetime
    renewals: int
    returned_at: datetime | None = None
    returned_room: str | None = None
    overdue: bool
    days_overdue: int
    can_renew: bool | None = Field(None, description="open loans: whether renewing is allowed now")
    renew_refusal: RenewRefusal | None = Field(None, description="why not, when can_renew is false")


class MpLoanPage(BaseModel):
    member_id: str
    status: Literal["open", "history"]
    has_card: bool
    history_enabled: bool
    items: list[MpLoanOut]
    next_cursor: str | None = None


class MpRenewIn(BaseModel):
    model_config = STRICT

    op_id: OpId


class MpRenewOut(BaseModel):
    op_id: str
    replayed: bool
    loan: MpLoanOut
    message: str


# -- purchase suggestions (荐购) ------------------------------------------------------------------

SuggestionStatus = Literal["submitted", "under_review", "accepted", "in_order", "fulfilled", "merged", "rejected"]
RejectReason = Literal["not_in_list", "out_of_print", "budget", "policy"]
SuggestionText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)]


class SuggestionIn(BaseModel):
    """A reader suggests the library buy a book (荐购)."""

    model_config = STRICT

    op_id: OpId
    member_id: IdText
    title: SuggestionText
    author: ShortText | None = None
    isbn: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        None, description="ISBN-10 or ISBN-13 in any usual form")
    publisher: ShortText | None = None
    note: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] | None = Field(
        None, description="why (for the librarians)")

    @field_validator("isbn", mode="after")
    @classmethod
    def _isbn(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        try:
            return to_isbn13(value)
        except IsbnError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("author", "publisher", "note", mode="after")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None


class SuggestionOut(BaseModel):
    """A suggestion as its supporters see it."""

    id: str
    title: str
    author: str | None = None
    isbn: str | None = None
    publisher: str | None = None
    status: SuggestionStatus
    status_label: str
    reason: RejectReason | None = None
    reason_label: str | None = None
    supporters: int = Field(description="readers asking for this book")
    member_ids: list[str] = Field(description="the caller's family members among the supporters")
    merged_into: str | None = Field(None, description="merged: the suggestion that now carries it")
    title_id: str | None = Field(None, description="fulfilled: the catalog title (hold or borrow it)")
    created_at: datetime
    updated_at: datetime


class SuggestionSubmitted(BaseModel):
    op_id: str
    replayed: bool
    merged: bool = Field(description="true: someone had already suggested this book; you now support it")
    suggestion: SuggestionOut
    message: str


class SuggestionListQuery(BaseModel):
    model_config = QUERY

    member_id: IdText | None = Field(None, description="one family member (default: the whole family)")
    cursor: Cursor | None = None
    limit: int = Field(30, ge=1, le=100)


class SuggestionPage(BaseModel):
    items: list[SuggestionOut]
    next_cursor: str | None = None


class RoomDemand(BaseModel):
    room: str
    supporters: int


class StatusChange(BaseModel):
    from_status: SuggestionStatus | None = None
    to: SuggestionStatus
    at: datetime
    by: str
    reason: RejectReason | None = None


class StaffSuggestionOut(BaseModel):
    """A suggestion as the district office sees it: counts and rooms, no reader identities."""

    id: str
    title: str
    author: str | None = None
    isbn: str | None = None
    publisher: str | None = None
    notes: list[str] = Field(description="what the readers wrote")
    status: SuggestionStatus
    status_label: str
    reason: RejectReason | None = None
    merged_into: str | None = None
    title_id: str | None = None
    supporters: int
    rooms: list[RoomDemand] = Field(description="supporters by home room, most first")
    history: list[StatusChange]
    created_at: datetime
    updated_at: datetime


class StaffSuggestionQuery(BaseModel):
    model_config = QUERY

    status: SuggestionStatus | None = None
    cursor: Cursor | None = None
    limit: int = Field(50, ge=1, le=200)


class StaffSuggestionPage(BaseModel):
    items: list[StaffSuggestionOut]
    next_cursor: str | None = None


class TransitionIn(BaseModel):
    """Move a suggestion on. ``rejected`` needs ``reason``; ``merged`` needs ``merged_into``
    (another open suggestion); ``fulfilled`` needs the catalog ``title_id``."""

    model_config = STRICT

    to: SuggestionStatus
    reason: RejectReason | None = None
    merged_into: IdText | None = None
    title_id: TitleRef | None = None


class HoldOutcome(BaseModel):
    member_id: str
    outcome: Literal["hold_placed", "on_shelf", "no_card", "already_has_it", "not_possible"]
    hold_id: str | None = None


class TransitionOut(BaseModel):
    suggestion: StaffSuggestionOut
    notified: int = Field(description="supporters told of the change")
    holds: list[HoldOutcome] = Field(default_factory=list, description="fulfilled: a hold per supporter where possible")


def as_json(value: Any) -> Any:
    """Pydantic models and lists of them as plain JSON-able data (for exports)."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list):
        return [as_json(v) for v in value]
    return value
