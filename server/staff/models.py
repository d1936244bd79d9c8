"""Staff accounts: stored documents and API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from server.staff.roles import Role

Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{2,31}$")]
Password = Annotated[str, StringConstraints(min_length=8, max_length=128)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
MobilePhone = Annotated[str, StringConstraints(pattern=r"^1[3-9]\d{9}$")]
RoomCode = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2,4}-[A-Z]{2,4}-\d{3}$")]
TownName = Annotated[str, StringConstraints(min_length=2, max_length=20)]

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


def check_scope(role: Role | None, rooms: list[str] | None, towns: list[str] | None) -> None:
    if role is Role.ROOM_ADMIN and not rooms:
        raise ValueError("书屋管理员至少要负责一个书屋（rooms）")
    if role is Role.TOWN_COORDINATOR and not towns:
        raise ValueError("镇街联络员至少要负责一个镇街（towns）")
    if role is not None and role is not Role.ROOM_ADMIN and rooms:
        raise ValueError("只有书屋管理员可以指定 rooms")
    # An inspector's towns are the towns they belong to (所属镇街): read only for conflicts of
    # interest in ratings, never a scope (inspectors see the whole district).
    if role is not None and role not in {Role.TOWN_COORDINATOR, Role.INSPECTOR} and towns:
        raise ValueError("只有镇街联络员和督查员可以指定 towns")


class StaffCreate(BaseModel):
    """A new staff account."""

    model_config = STRICT

    username: Username = Field(description="log-in name: lower-case letters, digits, . _ -")
    name: PersonName
    password: Password
    role: Role
    rooms: list[RoomCode] = Field(default_factory=list, max_length=50, description="room codes (room_admin)")
    towns: list[TownName] = Field(default_factory=list, max_length=20, description="town names (town_coordinator: the towns they look after; inspector: the towns they belong to, for conflicts of interest)")
    phone: MobilePhone | None = None

    @model_validator(mode="after")
    def _scope(self) -> StaffCreate:
        check_scope(self.role, self.rooms, self.towns)
        return self


class StaffUpdate(BaseModel):
    """Fields to change; absent fields stay as they are. Role and scope change together."""

    model_config = STRICT

    name: PersonName | None = None
    role: Role | None = None
    rooms: list[RoomCode] | None = Field(None, max_length=50)
    towns: list[TownName] | None = Field(None, max_length=20)
    phone: MobilePhone | None = None
    active: bool | None = None
    password: Password | None = Field(None, description="set a new password (ends every session)")


class StaffOut(BaseModel):
    id: str
    username: str
    name: str
    role: Role
    role_label: str
    rooms: list[str]
    towns: list[str]
    phone: str | None = Field(None, description="masked, e.g. 138****5678")
    active: bool
    created_at: datetime


class StaffPage(BaseModel):
    items: list[StaffOut]
    next_cursor: str | None = None


class StaffQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    room: RoomCode | None = None
    active: bool | None = None
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class TokenOut(BaseModel):
    token: str = Field(description="send as Authorization: Bearer <token>")
    token_type: str = "Bearer"
    expires_at: datetime
    staff: StaffOut


class PasswordChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current_password: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    new_password: Password
