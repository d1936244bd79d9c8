"""Shipment schemas and the state machine (plain data, no I/O).

Storage: one ``dist_shipments`` document per (plan, room) with its lines and boxes
embedded (a room's order is about 60–150 lines, far below Mongo's document limit, and
receiving must update lines, boxes and status atomically in one document).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.idempotency import OP_ID_PATTERN
from server.staff.models import RoomCode

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
OpId = Annotated[str, StringConstraints(pattern=OP_ID_PATTERN)]
TitleId = Annotated[str, StringConstraints(pattern=r"^(97[89]\d{10}|SW\d{11})$")]
ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
BoxCode = Annotated[str, StringConstraints(pattern=r"^SHP-\d{4}-[A-Za-z0-9-]{1,32}-\d{2,3}$")]
Note = Annotated[str, StringConstraints(max_length=200)]
# Books per box: a carton of about 15 kg.
DEFAULT_BOX_SIZE = 40
MAX_COPIES_PER_LINE = 10_000


class ShipmentStatus(StrEnum):
    PLANNED = "planned"
    ORDERED = "ordered"
    PACKED = "packed"
    DISPATCHED = "dispatched"
    RECEIVED = "received"
    DISCREPANCY = "discrepancy"
    CLAIMED = "claimed"
    RECONCILED = "reconciled"
    CLOSED = "closed"
    CANCELLED = "cancelled"


S = ShipmentStatus
STATUS_LABELS: dict[str, str] = {
    S.PLANNED: "待下单", S.ORDERED: "已下单", S.PACKED: "已装箱", S.DISPATCHED: "已发货", S.RECEIVED: "已收货",
    S.DISCREPANCY: "有差异", S.CLAIMED: "已索赔", S.RECONCILED: "已对账", S.CLOSED: "已关闭", S.CANCELLED: "已取消",
}
# Moves the district makes by hand (POST …/transition). received / discrepancy come from
# receiving, claimed from a claim: they are in this table so the table is the whole machine.
TRANSITIONS: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    S.PLANNED: frozenset({S.ORDERED, S.CANCELLED}),
    S.ORDERED: frozenset({S.PACKED, S.CANCELLED}),
    S.PACKED: frozenset({S.DISPATCHED, S.CANCELLED}),
    S.DISPATCHED: frozenset({S.RECEIVED, S.DISCREPANCY}),
    S.RECEIVED: frozenset({S.RECONCILED}),
    S.DISCREPANCY: frozenset({S.CLAIMED}),
    S.CLAIMED: frozenset({S.RECONCILED}),
    S.RECONCILED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
    S.CANCELLED: frozenset(),
}
ManualTarget = Literal["ordered", "packed", "dispatched", "cancelled", "reconciled", "closed"]


def can_move(current: str, target: str) -> bool:
    return ShipmentStatus(target) in TRANSITIONS.get(ShipmentStatus(current), frozenset())


# -- inputs --------------------------------------------------------------------------


class CreateShipmentsIn(BaseModel):
    model_config = STRICT

    supplier: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
    box_size: int = Field(DEFAULT_BOX_SIZE, ge=1, le=200, description="books per box at most")


class SettlementIn(BaseModel):
    model_config = STRICT

    resent_copies: int = Field(0, ge=0, le=100_000, description="copies the supplier sent again")
    credited_fen: int = Field(0, ge=0, le=10**10, description="money credited by the supplier, in fen")
    note: Note = ""


class TransitionIn(BaseModel):
    model_config = STRICT

    to: ManualTarget
    note: Note = ""
    reason: Note = Field("", description="required when cancelling")
    settlement: SettlementIn | None = Field(None, description="required for claimed → reconciled")

    @model_validator(mode="after")
    def _reason(self) -> TransitionIn:
        if self.to == "cancelled" and not self.reason.strip():
            raise ValueError("取消配送单须填写原因（reason）")
        return self


class ReceiptLineIn(BaseModel):
    model_config = STRICT

    title_id: TitleId
    received: int = Field(ge=0, le=MAX_COPIES_PER_LINE, description="good copies put on the shelf")
    damaged: int = Field(0, ge=0, le=MAX_COPIES_PER_LINE)
    note: Note = ""
    photo_id: ObjectIdStr | None = None


class WrongItemIn(BaseModel):
    model_config = STRICT

    isbn: Annotated[str, StringConstraints(min_length=1, max_length=20, pattern=r"^[0-9Xx-]+$|^SW\d{11}$")]
    copies: int = Field(ge=1, le=MAX_COPIES_PER_LINE)
    note: Note = ""
    photo_id: ObjectIdStr | None = None


class ReceiptIn(BaseModel):
    """Boxes counted at the room. Every title packed in ``box_codes`` (all boxes not yet
    received when empty) must have a line; copies neither received nor damaged are short."""

    model_config = STRICT

    op_id: OpId
    box_codes: list[BoxCode] = Field(default_factory=list, max_length=100)
    lines: list[ReceiptLineIn] = Field(default_factory=list, max_length=2000)
    wrong_items: list[WrongItemIn] = Field(default_factory=list, max_length=200)


class ClaimLineIn(BaseModel):
    model_config = STRICT

    title_id: TitleId
    short: int = Field(0, ge=0, le=MAX_COPIES_PER_LINE)
    damaged: int = Field(0, ge=0, le=MAX_COPIES_PER_LINE)


class ClaimIn(BaseModel):
    model_config = STRICT

    lines: list[ClaimLineIn] = Field(default_factory=list, max_length=2000,
                                     description="empty: claim every recorded short and damaged copy")
    note: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class ShipmentQuery(BaseModel):
    model_config = STRICT

    plan_id: ObjectIdStr | None = None
    room: RoomCode | None = None
    status: ShipmentStatus | None = None
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(100, ge=1, le=200)


class ReconciliationQuery(BaseModel):
    model_config = STRICT

    plan_id: ObjectIdStr | None = None
    supplier: Annotated[str, StringConstraints(min_length=1, max_length=60)] | None = None


# -- outputs -------------------------------------------------------------------------


class LineOut(BaseModel):
    title_id: str
    title: str
    publisher: str = ""
    price_fen: int
    ordered: int
    received: int = 0
    damaged: int = 0
    short: int = 0
    claimed: int = 0


class BoxLineOut(BaseModel):
    title_id: str
    copies: int


class BoxOut(BaseModel):
    code: str
    lines: list[BoxLineOut]
    copies: int
    received: bool = False
    received_at: datetime | None = None


class TotalsOut(BaseModel):
    titles: int
    copies: int
    fen: int
    boxes: int


class HistoryOut(BaseModel):
    from_status: str | None
    to_status: str
    at: datetime
    by: str
    note: str = ""


class ShipmentOut(BaseModel):
    id: str
    plan_id: str
    year: int
    room: str
    room_name: str
    supplier: str
    status: ShipmentStatus
    status_label: str
    box_size: int
    lines: list[LineOut]
    boxes: list[BoxOut]
    totals: TotalsOut
    wrong_items: list[dict[str, Any]] = Field(default_factory=list)
    claims: list[dict[str, Any]] = Field(default_factory=list)
    settlement: dict[str, Any] | None = None
    cancel_reason: str | None = None
    timestamps: dict[str, datetime] = Field(default_factory=dict)
    history: list[HistoryOut] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class ShipmentBrief(BaseModel):
    id: str
    plan_id: str
    year: int
    room: str
    room_name: str
    supplier: str
    status: ShipmentStatus
    status_label: str
    totals: TotalsOut
    boxes_received: int
    updated_at: datetime


class ShipmentPage(BaseModel):
    items: list[ShipmentBrief]
    next_cursor: str | None = None


class CreateShipmentsOut(BaseModel):
    plan_id: str
    created: int = Field(description="shipments made by this call (0 when they all existed)")
    existing: int
    shipments: list[ShipmentBrief]


class ReceiptOut(BaseModel):
    op_id: str
    replayed: bool
    result: dict[str, Any]


class PhotoOut(BaseModel):
    photo_id: str
    content_type: str
    bytes: int


class Figures(BaseModel):
    copies: int = 0
    fen: int = 0


class ReconciliationRow(BaseModel):
    shipment_id: str | None = None
    room: str | None = None
    room_name: str | None = None
    supplier: str
    status: str | None = None
    shipments: int = 1
    ordered: Figures
    delivered: Figures
    short: Figures
    damaged: Figures
    wrong: Figures
    claimed: Figures
    settled: Figures


class ReconciliationOut(BaseModel):
    shipments: list[ReconciliationRow]
    suppliers: list[ReconciliationRow]
    total: ReconciliationRow
