"""Room mini-program codes, the room landing page and check-ins: API schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.ids import OBJECT_ID_PATTERN
from server.readers.models import OpId

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

# The mini-program page a room's code opens; it reads the room code from ``scene``.
ROOM_PAGE = "pages/rooms/choose"
NEW_TITLES_SHOWN = 10


class RegenerateIn(BaseModel):
    """Why the code is made again (recorded in the audit log), e.g. a damaged poster."""

    model_config = STRICT

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]


class QrCodeOut(BaseModel):
    room: str
    page: str = Field(description="the mini-program page the code opens; the room code is its scene")
    env_version: str = Field(description="release, trial or develop: which mini-program version it opens")
    sha256: str
    size_bytes: int
    created_at: datetime


class NewTitle(BaseModel):
    title_id: str
    title: str
    author: str | None = None
    received_at: datetime


class RoomLanding(BaseModel):
    """What a reader sees after scanning a room's code."""

    code: str
    name: str
    kind: str
    town: str
    village: str
    address: str
    opening_hours: dict[str, list[str]] = Field(description='weekday → spans, e.g. {"mon": ["09:00-11:30"]}')
    phone: str | None = None
    active: bool = Field(description="false: the room is closed for now")
    new_titles: list[NewTitle] = Field(description=f"the {NEW_TITLES_SHOWN} titles the room received most recently")
    visits_today: int = Field(description="check-ins today (local day)")
    home_room: bool | None = Field(
        None, description="a member of the caller's family has this as home room (null when not logged in)")


class VisitIn(BaseModel):
    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay changes nothing and returns the first answer")
    member_id: Annotated[str, StringConstraints(pattern=f"^{OBJECT_ID_PATTERN}$")] | None = Field(
        None, description="the family member who came (default: the account holder)")


class VisitOut(BaseModel):
    room: str
    day: date = Field(description="the local day counted")
    visits: int = Field(description="check-ins at this room that day, this one included")
    counted: bool = Field(description="false when this account had already checked in here that day")
    replayed: bool = False
