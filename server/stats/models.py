"""The shapes of the district's statistics: indicators, charts, the map, alerts, the dashboard
and the annual report. One neutral chart shape feeds both the console (ECharts, in the browser)
and the annual report (SVG drawn on the server, ``server.stats.reports.svgcharts``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

IndicatorStatus = Literal["met", "near", "below", "none"]


class TrendPoint(BaseModel):
    label: str = Field(description="the year (or month) the value belongs to, e.g. 2025")
    value: float | None = Field(description="null when shuwu has no data for it")


class Indicator(BaseModel):
    """One figure of the district plan or the room standards, for one year, with its target."""

    key: str = Field(description="volumes_per_resident, new_volumes_per_resident, purchase_spend, "
                                 "rooms_below_holdings, rooms_below_hours, loans_per_room_month, active_readers, "
                                 "challenge_children, training_completion, stocktake_loss_rate")
    label: str = Field(description="Chinese label, e.g. 人均藏书")
    unit: str = Field(description="册/人, 元, 个, 次, 人, % …")
    value: float | None = Field(description="this year's figure; null when there is nothing to compute it from")
    target: float | None = Field(None, description="the target in the same unit; null when there is none")
    target_text: str = Field("", description="the target as printed, e.g. ≥ 1.2 册/人")
    better: Literal["higher", "lower"] = "higher"
    status: IndicatorStatus = Field("none", description="met; near (within 10 % of the target); below; none (no target)")
    detail: str = Field("", description="how it was computed, in Chinese, with the numbers used")
    trend: list[TrendPoint] = Field(default_factory=list, description="the previous years, oldest first, then this one")
    href: str | None = Field(None, description="a console page listing what is behind the figure")


class ChartSeries(BaseModel):
    name: str
    values: list[float | None]
    kind: Literal["bar", "line"] = "bar"
    stack: str | None = Field(None, description="series with the same stack are drawn on top of each other")


class Chart(BaseModel):
    """A category chart: ``categories`` along the x axis, one value per category in each series."""

    key: str = Field(description="loans_by_month, stock_by_category, replenishment_by_year, "
                                 "challenge_by_town, challenge_by_school")
    title: str
    unit: str = ""
    categories: list[str]
    series: list[ChartSeries]
    note: str = Field("", description="a sentence under the chart, e.g. where the figures come from")

    @property
    def empty(self) -> bool:
        return not any(v for s in self.series for v in s.values)


class MapLayer(BaseModel):
    """An indicator the map's markers can be coloured by."""

    key: str
    label: str
    unit: str
    breaks: list[float] = Field(description="ascending class boundaries: len(breaks)+1 colour classes")
    better: Literal["higher", "lower"] = "higher"


class MapRoom(BaseModel):
    code: str
    name: str
    town: str
    kind: str
    lat: float
    lng: float
    values: dict[str, float | None] = Field(description="layer key → this room's value")


class MapTown(BaseModel):
    name: str
    lat: float
    lng: float
    rooms: int
    values: dict[str, float | None] = Field(description="layer key → the town's value (sum or mean, as the layer says)")


class MapTiles(BaseModel):
    url: str = Field(description="a tile URL template with {z}/{x}/{y} (and {s} if used)")
    attribution: str = ""


class DistrictMap(BaseModel):
    bbox: tuple[float, float, float, float] = Field(description="min_lat, min_lng, max_lat, max_lng")
    towns: list[MapTown]
    rooms: list[MapRoom]
    layers: list[MapLayer]
    tiles: MapTiles | None = Field(None, description="null: draw the district from shipped data, no tiles")


class AlertItem(BaseModel):
    label: str = Field(description="e.g. the room's name and code")
    detail: str = ""
    href: str | None = None


class Alert(BaseModel):
    key: Literal["offline_conflicts", "overdue_shipments", "open_objections", "untrained_admins", "not_opened"]
    label: str
    count: int
    severity: Literal["high", "medium", "low"] = "medium"
    items: list[AlertItem] = Field(description="at most ALERT_ITEMS of them; ``count`` is the full number")
    href: str | None = Field(None, description="the console page with the full list")


class Dashboard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int
    as_of: date = Field(description="the last day counted (today for the current year, else 31 December)")
    computed_at: datetime
    scope: str = Field(description="全区, or the towns a town coordinator covers")
    indicators: list[Indicator]
    charts: list[Chart]
    map: DistrictMap
    alerts: list[Alert]
    years: list[int] = Field(description="years a dashboard can be shown for, newest first")


class TownRow(BaseModel):
    town: str
    rooms: int
    residents: int
    volumes: int
    new_volumes: int
    loans: int
    active_readers: int
    activities: int
    admins: int
    admins_inducted: int
    rooms_below_holdings: int


class AnnualReport(BaseModel):
    """Everything the annual report (年度报告) prints for one year; reproducible for a past year."""

    year: int
    as_of: date
    computed_at: datetime
    district: str
    indicators: list[Indicator]
    charts: list[Chart]
    replenishment: dict = Field(description="the year's plan: budget, spend, titles, copies, rooms, shipments by state")
    training: dict = Field(description="courses, sessions, attendances, hours, certificates, inducted administrators")
    ratings: list[dict] = Field(description="the year's rating rounds with their awarded / nominated entries")
    towns: list[TownRow]
