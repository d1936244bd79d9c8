"""Stock API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

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
