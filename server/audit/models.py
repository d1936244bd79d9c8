from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.staff.models import RoomCode


class AuditEntry(BaseModel):
    id: str
    at: datetime
    actor_id: str
    actor: str = Field(description="the actor's username")
    role: str
    action: str = Field(description="e.g. room.create, staff.update, auth.login")
    target_type: str
    target_id: str
    room: str | None = None
    changes: dict[str, Any] = Field(default_factory=dict)
    request_id: str = ""
    ip: str = ""


class AuditPage(BaseModel):
    items: list[AuditEntry]
    next_cursor: str | None = None


class AuditQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    room: RoomCode | None = None
    actor: str | None = Field(None, max_length=64, description="username")
    action: str | None = Field(None, max_length=64)
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)
