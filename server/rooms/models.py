"""Reading rooms: API schemas and the pure rules about opening hours and standards."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from server.district import RoomStandards
from server.staff.models import MobilePhone, RoomCode

RoomKind = Literal["农家书屋", "社区书吧", "分馆", "流动服务点"]
RoomStatus = Literal["active", "inactive"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_LABELS = dict(zip(WEEKDAYS, ("周一", "周二", "周三", "周四", "周五", "周六", "周日"), strict=True))
Span = Annotated[str, StringConstraints(pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    if not (0 <= int(hours) <= 24 and 0 <= int(minutes) < 60) or (int(hours) == 24 and int(minutes)):
        raise ValueError(f"{hhmm} 不是有效的时间")
    return int(hours) * 60 + int(minutes)


def parse_spans(spans: list[str]) -> list[tuple[int, int]]:
    """Minutes since midnight for each "HH:MM-HH:MM"; ValueError if malformed or overlapping."""
    parsed = []
    for span in spans:
        start, end = (_minutes(p) for p in span.split("-"))
        if start >= end:
            raise ValueError(f"{span}: 开始时间应早于结束时间")
        parsed.append((start, end))
    parsed.sort()
    for (_, end), (start, _) in zip(parsed, parsed[1:], strict=False):
        if start < end:
            raise ValueError("同一天的开放时段不能重叠")
    return parsed


OpeningHours = dict[Weekday, Annotated[list[Span], Field(max_length=6)]]


def _validate_hours(value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
    if value is None:
        return None
    for day, spans in value.items():
        try:
            parse_spans(spans)
        except ValueError as exc:
            raise ValueError(f"{WEEKDAY_LABELS.get(day, day)}：{exc}") from None  # type: ignore[call-overload]
    # Store days in week order with sorted spans, so equal hours compare equal.
    return {d: sorted(value[d]) for d in WEEKDAYS if value.get(d)}


class Location(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lat: float = Field(ge=-90, le=90, description="latitude, WGS-84")
    lng: float = Field(ge=-180, le=180, description="longitude, WGS-84")


class RoomCreate(BaseModel):
    """A new room. ``code`` is district-town-serial, e.g. JN-XSG-017, and must match ``town``."""

    model_config = STRICT

    code: RoomCode
    name: Text
    kind: RoomKind
    town: Text
    village: Text = Field(description="village (村) or community (社区)")
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    location: Location
    area_m2: float = Field(gt=0, le=10000)
    seats: int = Field(ge=0, le=1000)
    opening_hours: OpeningHours = Field(description='weekday → spans, e.g. {"mon": ["09:00-11:30"]}')
    phone: MobilePhone | None = Field(None, description="the room's public contact number")
    established_year: int | None = Field(None, ge=1949, le=2100)
    residents: int | None = Field(None, ge=0, le=200000, description="常住人口 of the village or community served")

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        return _validate_hours(value)


class RoomUpdate(BaseModel):
    """Fields to change; absent fields stay. Code and town never change (they are the room's identity)."""

    model_config = STRICT

    name: Text | None = None
    kind: RoomKind | None = None
    village: Text | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] | None = None
    location: Location | None = None
    area_m2: float | None = Field(None, gt=0, le=10000)
    seats: int | None = Field(None, ge=0, le=1000)
    opening_hours: OpeningHours | None = None
    phone: MobilePhone | None = None
    established_year: int | None = Field(None, ge=1949, le=2100)
    residents: int | None = Field(None, ge=0, le=200000, description="常住人口; set by the district only")

    @field_validator("opening_hours")
    @classmethod
    def _hours(cls, value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        return _validate_hours(value)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str | None) -> str:
        # The address is optional but never null (RoomOut.address is a string): null clears it.
        return value or ""


# A room administrator keeps their own room's practical details up to date; identity and
# classification stay with the district.
ROOM_ADMIN_EDITABLE = frozenset({"address", "area_m2", "seats", "opening_hours", "phone"})


class Deactivation(BaseModel):
    model_config = STRICT

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)]


class StandardsCheck(BaseModel):
    open_days: int = Field(description="days open per week")
    weekly_hours: float
    shortest_day_hours: float = Field(description="hours on the shortest open day")
    warnings: list[str] = Field(description="each standard the room falls short of, in Chinese")


class AdministratorBrief(BaseModel):
    id: str
    username: str
    name: str
    phone: str | None = Field(None, description="masked")


class RoomOut(BaseModel):
    code: str
    name: str
    kind: RoomKind
    town: str
    village: str
    address: str
    location: Location
    area_m2: float
    seats: int
    opening_hours: dict[str, list[str]]
    phone: str | None = None
    established_year: int | None = None
    residents: int | None = Field(None, description="常住人口 of the village or community served")
    status: RoomStatus
    deactivated_reason: str | None = None
    demo: bool = False
    standards: StandardsCheck
    administrators: list[AdministratorBrief] = Field(default_factory=list)
    created_at: datetime
    updated_at: datetime


class RoomPage(BaseModel):
    items: list[RoomOut]
    next_cursor: str | None = None
    total: int = Field(description="rooms matching the filters (all pages)")


class RoomQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    town: Text | None = None
    kind: RoomKind | None = None
    status: RoomStatus | None = None
    q: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] | None = Field(
        None, description="part of the name or village"
    )
    cursor: str | None = Field(None, max_length=200)
    limit: int = Field(50, ge=1, le=200)


def check_standards(opening_hours: dict[str, list[str]], area_m2: float, standards: RoomStandards) -> StandardsCheck:
    """How a room measures against the district's standards (area, days and hours open)."""
    daily = [sum(end - start for start, end in parse_spans(spans)) / 60 for spans in opening_hours.values() if spans]
    open_days = len(daily)
    shortest = min(daily, default=0.0)
    warnings = []
    if area_m2 < standards.min_area_m2:
        warnings.append(f"面积 {area_m2:g} 平方米，低于 {standards.min_area_m2:g} 平方米的标准")
    if open_days < standards.min_open_days:
        warnings.append(f"每周开放 {open_days} 天，少于 {standards.min_open_days} 天的标准")
    if open_days and shortest < standards.min_daily_hours:
        warnings.append(f"最短开放日仅 {shortest:g} 小时，少于每天 {standards.min_daily_hours:g} 小时的标准")
    return StandardsCheck(
        open_days=open_days, weekly_hours=round(sum(daily), 2), shortest_day_hours=round(shortest, 2), warnings=warnings
    )
