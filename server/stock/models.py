"""Stock API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from server.idempotency import OP_ID_PATTERN

OpId = Annotated[str, StringConstraints(pattern=OP_ID_PATTERN)]
TitleId = Annotated[str, StringConstraints(pattern=r"^(97[89]\d{10}|SW\d{11})$")]
STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ReceiptLine(BaseModel):
    model_config = STRICT

    title_id: TitleId
    quantity: int = Field(ge=1, le=10000)


class ReceiptIn(BaseModel):
    """Copies arriving at a room. ``op_id`` is made by the client; a replay changes nothing."""

    model_config = STRICT

    op_id: OpId
    reference: Annotated[str, StringConstraints(max_length=80)] = Field("", description="e.g. a shipment number")
    lines: list[ReceiptLine] = Field(min_length=1, max_length=2000)


class WriteOffIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    title_id: TitleId
    quantity: int = Field(1, ge=1, le=10000)
    reason: Literal["lost", "damaged"]
    note: Annotated[str, StringConstraints(max_length=200)] = ""


class OperationOut(BaseModel):
    op_id: str
    replayed: bool = Field(description="true when this op_id had already been applied; nothing changed")
    result: dict[str, Any]


class HoldingOut(BaseModel):
    room: str
    title_id: str
    title: str | None = None
    author: str | None = None
    on_shelf: int
    on_loan: int
    in_transit: int
    lost: int
    damaged: int


class HoldingsQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


class HoldingsPage(BaseModel):
    items: list[HoldingOut]
    next_cursor: str | None = None
    totals: dict[str, int] = Field(description="titles and copies per state for the whole room")


class MoveOut(BaseModel):
    id: str
    op_id: str
    room: str
    title_id: str
    kind: str
    quantity: int
    delta: dict[str, int]
    actor: str
    at: datetime
    reference: dict[str, Any] = Field(default_factory=dict)


class MovesQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title_id: TitleId | None = None
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


class MovesPage(BaseModel):
    items: list[MoveOut]
    next_cursor: str | None = None


# -- transfers between rooms (server/stock/transfers.py) -----------------------------------

RoomCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,4}-[A-Z]{2,4}-\d{3}$")]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=200)]
TransferState = Literal["requested", "sent", "arrived", "arrived_elsewhere", "cancelled", "lost"]


class TransferLine(BaseModel):
    model_config = STRICT

    title_id: TitleId
    quantity: int = Field(ge=1, le=10000)


def _distinct_titles(lines: list[Any]) -> list[Any]:
    seen = [line.title_id for line in lines]
    if len(set(seen)) != len(seen):
        raise ValueError("each title may appear only once; put the copies in one line")
    return lines


class TransferRequestIn(BaseModel):
    """Ask for copies to go from ``origin`` to ``destination``. Nothing moves until the origin sends."""

    model_config = STRICT

    op_id: OpId
    origin: RoomCode
    destination: RoomCode
    lines: list[TransferLine] = Field(min_length=1, max_length=500)
    note: Annotated[str, StringConstraints(max_length=200)] = ""

    @field_validator("lines")
    @classmethod
    def _lines(cls, lines: list[TransferLine]) -> list[TransferLine]:
        return _distinct_titles(lines)

    @model_validator(mode="after")
    def _two_rooms(self) -> TransferRequestIn:
        if self.origin == self.destination:
            raise ValueError("origin and destination must be different rooms")
        return self


class TransferStepIn(BaseModel):
    """Send a transfer (origin room)."""

    model_config = STRICT

    op_id: OpId
    note: Annotated[str, StringConstraints(max_length=200)] = ""


class TransferArrivalIn(BaseModel):
    """Confirm arrival. ``room`` is where the copies actually are (default: the destination);
    another room closes the transfer as arrived_elsewhere and opens a new one onward."""

    model_config = STRICT

    op_id: OpId
    room: RoomCode | None = None
    note: Annotated[str, StringConstraints(max_length=200)] = ""


class TransferCancelIn(BaseModel):
    """Cancel (before sending; or after, once the copies are back at the origin), or
    report copies lost in transit — always with a reason."""

    model_config = STRICT

    op_id: OpId
    reason: Reason


class TransferEvent(BaseModel):
    state: str
    at: datetime
    by: str
    op_id: str
    room: str | None = None
    note: str = ""


class TransferOut(BaseModel):
    id: str
    origin: str
    destination: str
    lines: list[TransferLine]
    copies: int
    state: TransferState
    source: Literal["request", "rebalancing", "misdelivery"] = "request"
    note: str = ""
    requested_at: datetime
    requested_by: str
    sent_at: datetime | None = None
    sent_by: str | None = None
    arrived_at: datetime | None = None
    arrived_by: str | None = None
    arrived_room: str | None = Field(None, description="where the copies actually arrived")
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    lost_at: datetime | None = None
    lost_by: str | None = None
    lost_reason: str | None = None
    parent_id: str | None = Field(None, description="the misdelivered transfer this one continues")
    followup_id: str | None = Field(None, description="the onward transfer opened after a misdelivery")
    history: list[TransferEvent] = Field(default_factory=list)


class TransferOperationOut(BaseModel):
    op_id: str
    replayed: bool = Field(description="true when this op_id had already been applied; nothing changed")
    transfer: TransferOut
    followup: TransferOut | None = Field(None, description="the onward transfer opened by a misdelivery")


class TransferQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room: RoomCode | None = Field(None, description="transfers from, to or misdelivered to this room")
    state: TransferState | None = None
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


class TransferPage(BaseModel):
    items: list[TransferOut]
    next_cursor: str | None = None


# -- targets and rebalancing (server/stock/targets.py, rebalance.py) ------------------------

SixClass = Literal["政经", "科技", "生活", "文化", "少儿", "其他"]


class TargetIn(BaseModel):
    model_config = STRICT

    total: int = Field(ge=0, le=1_000_000, description="copies the room should hold")
    categories: dict[SixClass, Annotated[int, Field(ge=0, le=1_000_000)]] = Field(
        default_factory=dict, description="optional copies per six-class category")


class TargetOut(BaseModel):
    room: str
    total: int
    categories: dict[str, int] = Field(default_factory=dict)
    default: bool = Field(description="true when no target was set and the district default applies")
    level: int = Field(description="copies counted against the target: on shelf + on loan − requested out + incoming")
    deficit: int = Field(description="target − level (negative: surplus)")
    updated_at: datetime | None = None
    updated_by: str | None = None


class RebalanceQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    town: Annotated[str, StringConstraints(max_length=20)] | None = Field(None, description="only rooms of this town")
    max_moves: int = Field(20, ge=1, le=200)
    max_copies_per_transfer: int = Field(300, ge=1, le=10000)


class SuggestedTransfer(BaseModel):
    model_config = STRICT

    origin: RoomCode
    destination: RoomCode
    lines: list[TransferLine] = Field(min_length=1, max_length=500)
    copies: int | None = None
    distance_km: float | None = None
    same_town: bool | None = None

    @field_validator("lines")
    @classmethod
    def _lines(cls, lines: list[TransferLine]) -> list[TransferLine]:
        return _distinct_titles(lines)


class RoomBalance(BaseModel):
    room: str
    town: str
    level: int
    target: int
    deficit: int


class RebalanceOut(BaseModel):
    suggestions: list[SuggestedTransfer]
    rooms_below: list[RoomBalance] = Field(description="rooms below target, furthest first")
    rooms_above: list[RoomBalance] = Field(description="rooms above target, largest surplus first")


class RebalanceRequestIn(BaseModel):
    """Turn chosen suggestions into transfer requests (one per suggestion, one transaction)."""

    model_config = STRICT

    op_id: OpId
    suggestions: list[SuggestedTransfer] = Field(min_length=1, max_length=200)


class RebalanceRequestOut(BaseModel):
    op_id: str
    replayed: bool
    transfers: list[TransferOut]


# -- stocktake (server/stock/stocktake.py) -------------------------------------------------

StocktakeState = Literal["open", "finished", "approved", "cancelled"]
ScanCode = Annotated[str, StringConstraints(min_length=1, max_length=40)]
DeviceId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,40}$")]


class StocktakeStartIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    note: Annotated[str, StringConstraints(max_length=200)] = ""


class StocktakeStepIn(BaseModel):
    model_config = STRICT

    op_id: OpId


class StocktakeCancelIn(BaseModel):
    model_config = STRICT

    op_id: OpId
    reason: Reason


class ScanIn(BaseModel):
    """One scan: an ISBN-13, an ISBN-10 (hyphens allowed) or an internal id SW…, and how
    many copies of it were counted (default one)."""

    model_config = STRICT

    op_id: OpId
    code: ScanCode
    quantity: int = Field(1, ge=1, le=999)
    device: DeviceId | None = None


class ScanOut(BaseModel):
    op_id: str
    replayed: bool
    stocktake_id: str
    code: str = Field(description="the normalised code (ISBN-13 or SW id)")
    status: Literal["counted", "unknown"] = Field(description="unknown: not in the catalog (reported at finish)")
    title_id: str | None = None
    title: str | None = None
    quantity: int
    scanned: int = Field(description="copies of this code scanned so far in this stocktake")
    expected: int = Field(description="copies expected on the shelf (frozen at start)")


class UnknownItem(BaseModel):
    code: str
    scanned: int


class WrongRoomItem(BaseModel):
    title_id: str
    title: str | None = None
    scanned: int
    holders: list[str] = Field(description="rooms whose holdings include this title")


class MissingItem(BaseModel):
    title_id: str
    title: str | None = None
    expected: int
    scanned: int
    missing: int


class MismatchItem(BaseModel):
    title_id: str
    title: str | None = None
    expected: int
    scanned: int
    surplus: int
    recorded: dict[str, int] = Field(description="this title's counters in the room at start")


class LoanReturnItem(BaseModel):
    title_id: str
    title: str | None = None
    on_loan: int
    copies: int = Field(description="loans proposed to close as returned")
    settled: int = 0
    status: Literal["proposed", "approved", "cancelled"] = "proposed"


class Adjustment(BaseModel):
    title_id: str
    delta: dict[str, int]
    reason: Literal["missing", "surplus"]


class StocktakeReport(BaseModel):
    expected_titles: int
    expected_copies: int
    scanned_titles: int
    scanned_copies: int
    unknown: list[UnknownItem] = Field(default_factory=list)
    wrong_room: list[WrongRoomItem] = Field(default_factory=list)
    missing: list[MissingItem] = Field(default_factory=list)
    status_mismatch: list[MismatchItem] = Field(default_factory=list)
    returned_while_on_loan: list[LoanReturnItem] = Field(default_factory=list)
    adjustments: list[Adjustment] = Field(default_factory=list)


class StocktakeOut(BaseModel):
    id: str
    room: str
    state: StocktakeState
    note: str = ""
    started_at: datetime
    started_by: str
    finished_at: datetime | None = None
    finished_by: str | None = None
    approved_at: datetime | None = None
    approved_by: str | None = None
    cancelled_at: datetime | None = None
    cancelled_by: str | None = None
    cancel_reason: str | None = None
    expected_titles: int
    expected_copies: int
    scanned_copies: int = 0
    devices: dict[str, int] = Field(default_factory=dict)
    counts: dict[str, int] | None = Field(None, description="copies scanned per title (detail view only)")
    unknown: dict[str, int] | None = Field(None, description="copies scanned per unknown code (detail view only)")
    report: StocktakeReport | None = None


class StocktakeOperationOut(BaseModel):
    op_id: str
    replayed: bool
    stocktake: StocktakeOut


class StocktakeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: StocktakeState | None = None
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(20, ge=1, le=100)


class StocktakePage(BaseModel):
    items: list[StocktakeOut]
    next_cursor: str | None = None
