"""Schemas of the phone desk's JSON (``/m/api/…``) that the staff API does not already have.

Writes reuse the circulation and stock schemas (``LendIn``, ``ReturnIn``, ``RenewIn``,
``InRoomUseIn``, ``ScanIn``…); what is here is shaped for a 360-px screen: a reader
with their open loans in one answer, a scanned code with what this room holds of it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.circulation.models import LoanOut, TitleRef
from server.readers.models import CardNo, OpenLoans, OpId, Phone
from server.stock.models import StocktakeOut

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DeskReaderQuery(BaseModel):
    """Find a reader at the desk by card number or by the full phone number (a guardian's finds the children)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    card: CardNo | None = None
    phone: Phone | None = None

    @model_validator(mode="after")
    def _one_way(self) -> DeskReaderQuery:
        if (self.card is None) == (self.phone is None):
            raise ValueError("请填写借阅证号或手机号（只填一种）")
        return self


class DeskReader(BaseModel):
    """A reader as the desk needs them: who, whether they may borrow, what they have out."""

    id: str
    card_no: str
    name: str
    child: bool
    home_room: str
    blocked: bool
    blocked_reason: str | None = None
    open_loans: OpenLoans
    loans: list[LoanOut] = Field(description="open loans, soonest due first")


class DeskReaderPage(BaseModel):
    items: list[DeskReader]


class TitleAtDesk(BaseModel):
    """A scanned code: the catalog entry and what this room holds of it."""

    room: str
    title_id: str
    title: str
    author: str | None = None
    format: str
    on_shelf: int
    on_loan: int


class TodayOut(BaseModel):
    """What a room lent and took back today (local day), newest first."""

    room: str
    day: str = Field(description="YYYY-MM-DD, Asia/Shanghai")
    lent: list[LoanOut]
    returned: list[LoanOut]
    truncated: bool = Field(description="more than the page shows; see the console for the rest")


class BlockedCard(BaseModel):
    card_no: str
    reason: str


class RosterOut(BaseModel):
    """What an offline phone needs to warn before a loan: blocked cards (the whole district, one card
    works everywhere) and, when overdue readers may not borrow, cards with an overdue loan from this room."""

    room: str
    generated_at: datetime
    blocked: list[BlockedCard]
    overdue: list[str]
    truncated: bool


class ReceiveLine(BaseModel):
    model_config = STRICT

    code: TitleRef = Field(description="ISBN-13, ISBN-10 or internal id, as scanned or typed")
    quantity: int = Field(ge=1, le=10000)


class DeskReceiptIn(BaseModel):
    """A delivery counted at the room: lines of scanned code and copies."""

    model_config = STRICT

    op_id: OpId
    reference: Annotated[str, StringConstraints(max_length=80)] = Field("", description="配送单号, if any")
    lines: list[ReceiveLine] = Field(min_length=1, max_length=500)


class CurrentStocktake(BaseModel):
    """The room's stocktake that is open or awaiting approval, if any."""

    stocktake: StocktakeOut | None
