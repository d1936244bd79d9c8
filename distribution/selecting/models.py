"""API schemas of selection runs."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

TIME_LIMIT_MAX_SECS = 120


class PinIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str = Field(min_length=1, max_length=40, description="书屋编号")
    title_id: str = Field(min_length=1, max_length=40)


class ForbidIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str | None = Field(default=None, min_length=1, max_length=40, description="书屋编号；为空表示所有书屋")
    title_id: str = Field(min_length=1, max_length=40)


class RunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    time_limit_secs: int = Field(default=30, ge=1, le=TIME_LIMIT_MAX_SECS, description="求解时间上限（秒）")
    pins: list[PinIn] = Field(default_factory=list, max_length=5000, description="固定选入")
    forbids: list[ForbidIn] = Field(default_factory=list, max_length=5000, description="排除")


class RunQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    room: str | None = Field(default=None, min_length=1, max_length=40, description="只看这个书屋的书目")


class DiffQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    against: str | None = Field(default=None, max_length=40, description="对比的方案编号；默认为上一次")


class LineOut(BaseModel):
    room: str
    title_id: str
    copies: int
    price_fen: int
    category: str
    on_list: bool
    province: str
    reasons: list[str]


class ChangeOut(BaseModel):
    title_id: str
    copies_before: int
    copies_after: int


class RoomDiff(BaseModel):
    room: str
    added: list[str]
    removed: list[str]
    changed: list[ChangeOut]


class DiffOut(BaseModel):
    run_id: str
    against: str | None
    rooms: list[RoomDiff]
    added: int
    removed: int
    changed: int


class RunSummary(BaseModel):
    id: str
    plan_id: str
    run_no: int
    created_at: datetime
    created_by: str
    status: str
    objective: float
    bound: float | None
    gap: float | None
    wall_secs: float
    method: str
    params: dict[str, object]
    totals: dict[str, object]
    violations: list[dict[str, object]]
    pins: list[PinIn]
    forbids: list[ForbidIn]


class RunList(BaseModel):
    items: list[RunSummary]


class RunOut(RunSummary):
    lines: list[LineOut]


class RunCreated(RunSummary):
    lines_total: int
    diff: DiffOut
