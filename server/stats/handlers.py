"""The district statistics over HTTP (JSON): the dashboard, the annual report's figures and
dropping the cache. The console pages and the PDF / Excel downloads live elsewhere."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from server.staff.roles import CONSOLE, DISTRICT
from server.stats import service
from server.stats.models import AnnualReport, Dashboard
from server.web.api import ApiHandler, endpoint

TAGS = ["stats"]


class DashboardQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int | None = Field(None, ge=2012, le=9999, description="the calendar year (default: this year)")


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: int | None = Field(None, ge=2012, le=9999,
                             description="the calendar year of the report (2012 … this year; default: this year)")


class DashboardHandler(ApiHandler):
    @endpoint(summary="全区（镇街协调员：所辖镇街）统计总览：指标、图表、地图、提醒", roles=CONSOLE, query=DashboardQuery,
              response=Dashboard, tags=TAGS, errors=(422,))
    async def get(self, *, query: DashboardQuery) -> Dashboard:
        return await service.dashboard(self.deps, self.me, query.year)


class AnnualReportHandler(ApiHandler):
    @endpoint(summary="年度报告的数据（指标、图表、补充更新、培训、评选、各镇街）", roles=CONSOLE, query=ReportQuery,
              response=AnnualReport, tags=TAGS, errors=(422,))
    async def get(self, *, query: ReportQuery) -> AnnualReport:
        return await service.annual_report(self.deps, self.me, query.year)  # None: this year


class RefreshOut(BaseModel):
    queued: bool = Field(description="false: a refresh was already queued or running, nothing added")


class RefreshHandler(ApiHandler):
    @endpoint(summary="安排重新统计本年度各书屋数据并清除统计缓存（后台任务）", roles=DISTRICT, tags=TAGS, status=202,
              response=RefreshOut,
              description="Queues the job; a second request while one is queued or running adds nothing.")
    async def post(self) -> RefreshOut:
        return RefreshOut(queued=await service.request_refresh(self.deps))


routes = [
    (r"/api/v1/stats/dashboard", DashboardHandler),
    (r"/api/v1/stats/annual-report", AnnualReportHandler),
    (r"/api/v1/stats/refresh", RefreshHandler),
]
