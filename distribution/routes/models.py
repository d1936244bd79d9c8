"""Delivery route plans: API schemas (pydantic)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from server.dates import IsoDate
from server.staff.models import RoomCode

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
Clock = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
TruckName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
ObjectIdStr = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]



MAX_TRUCKS = 30
MAX_STOPS = 400
MAX_TIME_LIMIT_SECS = 30


def _unique(values: list[str], what: str) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError(f"{what}不能重复")
    return values


class TruckIn(BaseModel):
    model_config = STRICT

    name: TruckName = Field(description="e.g. 车1 or a plate number")
    capacity_boxes: int = Field(ge=1, le=1000, description="boxes the truck carries")
    start: Clock = Field("08:00", description="earliest departure from the library, HH:MM")
    end: Clock = Field("17:00", description="latest return to the library, HH:MM")

    @model_validator(mode="after")
    def _order(self) -> TruckIn:
        if self.start >= self.end:
            raise ValueError("出发时间应早于返回时间")
        return self


class StopIn(BaseModel):
    model_config = STRICT

    room: RoomCode
    boxes: int = Field(ge=1, le=500)


class RoutePlanIn(BaseModel):
    """What to route. Stops come from ``stops`` if given, else from ``shipment_ids``, else
    from the plan's shipments that are ordered or packed."""

    model_config = STRICT

    plan_id: ObjectIdStr | None = None
    date: IsoDate
    trucks: list[TruckIn] = Field(min_length=1, max_length=MAX_TRUCKS)
    shipment_ids: list[ObjectIdStr] | None = Field(None, min_length=1, max_length=MAX_STOPS)
    stops: list[StopIn] | None = Field(None, min_length=1, max_length=MAX_STOPS)
    time_limit_secs: int = Field(5, ge=1, le=MAX_TIME_LIMIT_SECS)
    seed: int = Field(1, ge=0, le=1_000_000)
    circuity_factor: float = Field(1.3, ge=1.0, le=3.0, description="road distance ÷ great-circle distance")
    speed_kmh: float = Field(35.0, ge=5.0, le=100.0, description="average speed between stops")

    @field_validator("trucks")
    @classmethod
    def _truck_names(cls, v: list[TruckIn]) -> list[TruckIn]:
        _unique([t.name for t in v], "车辆名称")
        return v

    @field_validator("stops")
    @classmethod
    def _stop_rooms(cls, v: list[StopIn] | None) -> list[StopIn] | None:
        if v is not None:
            _unique([s.room for s in v], "书屋")
        return v

    @field_validator("shipment_ids")
    @classmethod
    def _shipments(cls, v: list[str] | None) -> list[str] | None:
        return _unique(v, "发货单") if v is not None else v

    @model_validator(mode="after")
    def _source(self) -> RoutePlanIn:
        if self.stops is None and self.shipment_ids is None and self.plan_id is None:
            raise ValueError("请提供 stops、shipment_ids 或 plan_id 之一")
        return self


class ReplanIn(BaseModel):
    """A change to a plan: trucks that cannot go, rooms to add, and what has already left."""

    model_config = STRICT

    unavailable_trucks: list[TruckName] = Field(default_factory=list, max_length=MAX_TRUCKS)
    add_stops: list[StopIn] = Field(default_factory=list, max_length=MAX_STOPS)
    dispatched: dict[TruckName, list[RoomCode]] = Field(
        default_factory=dict, description="truck → room codes already delivered or on the way")
    time_limit_secs: int = Field(5, ge=1, le=MAX_TIME_LIMIT_SECS)
    seed: int = Field(1, ge=0, le=1_000_000)

    @field_validator("add_stops")
    @classmethod
    def _stop_rooms(cls, v: list[StopIn]) -> list[StopIn]:
        _unique([s.room for s in v], "书屋")
        return v

    @field_validator("dispatched")
    @classmethod
    def _dispatched(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        if len(v) > MAX_TRUCKS or any(len(rooms) > MAX_STOPS for rooms in v.values()):
            raise ValueError("已发车记录太多")
        return v


class RouteListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    date: IsoDate | None = None
    limit: int = Field(50, ge=1, le=200)



class SheetQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    truck: TruckName | None = Field(None, description="one truck's sheet; all trucks when absent")


class TruckOut(BaseModel):
    name: str
    capacity_boxes: int
    start: str
    end: str


class StopOut(BaseModel):
    seq: int
    room: str
    name: str
    town: str
    address: str
    lat: float
    lng: float
    boxes: int
    arrival: str = Field(description="HH:MM")
    service_start: str
    departure: str
    window: str = Field(description="when delivery may start, HH:MM-HH:MM")
    opening_hours: list[str] = Field(description="the room's opening spans that day")
    load_on_arrival: int
    distance_from_prev_m: int
    phone: str | None = None
    administrators: list[str] = Field(default_factory=list)
    shipment_id: str | None = None


class RouteOut(BaseModel):
    truck: str
    capacity_boxes: int
    depart: str
    back: str
    distance_m: int
    duration_s: int
    boxes: int
    feasible: bool
    fixed: bool = Field(description="kept as dispatched by a re-plan")
    stops: list[StopOut]


class UnservedOut(BaseModel):
    room: str
    name: str
    boxes: int
    reason: str
    reason_text: str


class SiteOut(BaseModel):
    name: str
    lat: float
    lng: float


class MatrixSettings(BaseModel):
    provider: str = Field(description='"great_circle" (straight line × circuity factor) or "osrm" (road network)')
    circuity_factor: float | None = None
    speed_kmh: float | None = None
    base_url: str | None = Field(None, description="the OSRM server used")
    fallback: str | None = Field(None, description="why the straight-line estimate was used instead of OSRM")


class RoutePlanOut(BaseModel):
    id: str
    date: dt.date
    plan_id: str | None
    depot: SiteOut
    trucks: list[TruckOut]
    routes: list[RouteOut]
    unserved: list[UnservedOut]
    distance_m: int
    duration_s: int
    boxes: int
    feasible: bool
    matrix: MatrixSettings
    solver: dict[str, str | int | float | bool | list[str] | None]
    service_base_s: int
    service_per_box_s: int
    replanned_from: str | None = None
    superseded_by: str | None = None
    created_at: dt.datetime
    created_by: str


class RoutePlanSummary(BaseModel):
    id: str
    date: dt.date
    plan_id: str | None
    trucks: int
    stops: int
    unserved: int
    distance_m: int
    feasible: bool
    superseded_by: str | None = None
    created_at: dt.datetime
    created_by: str


class RoutePlanList(BaseModel):
    items: list[RoutePlanSummary]
