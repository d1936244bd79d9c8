"""Reports over HTTP: the annual report's PDF (``/api/v1/stats/annual-report.pdf``) and the
console's 统计报表 page (``/console/reports``: every year's report and the Excel exports)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from server.console.handlers import ConsolePage
from server.readers.service import local_today
from server.staff.roles import CONSOLE, DISTRICT, Role
from server.stats.reports import annual
from server.stats.yearfacts import FIRST_YEAR
from server.web.api import ApiHandler, endpoint

TAGS = ("stats",)
# The page shows a one-line summary for this many recent years (each is a whole annual report's
# figures, cached by the stats service); older years only get their PDF link.
SUMMARY_YEARS = 3


class AnnualReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    year: int | None = Field(None, ge=FIRST_YEAR, le=2100,
                             description="the report's year, 2012 … this year; this year when left out")


class AnnualReportPdf(ApiHandler):
    @endpoint(summary="年度报告（PDF：主要指标、图表、补充更新、培训、评选、分镇统计）", roles=CONSOLE,
              query=AnnualReportQuery, media_type=annual.PDF, tags=TAGS, errors=(403, 422))
    async def get(self, *, query: AnnualReportQuery) -> bytes:
        year = query.year or local_today().year
        data = await annual.annual_report_pdf(self.deps, self.me, year)
        self.set_header("Content-Disposition", annual.content_disposition(self.deps.settings.district.name, year))
        return data


routes = [
    (r"/api/v1/stats/annual-report.pdf", AnnualReportPdf),
]


# The Excel exports the page links (GET, the page session is enough): (label, path, who may, note).
EXPORTS: tuple[tuple[str, str, frozenset[Role], str], ...] = (
    ("书屋名录", "/api/v1/exports/rooms.xlsx", CONSOLE, "编码、名称、类型、镇街、村、常住人口、面积、座位、开放时间、达标情况、管理员"),
    ("各书屋藏书", "/api/v1/exports/stock.xlsx", CONSOLE, "图书册数与种数、报刊、音像，六大类册数与占比，未达标项"),
    ("借阅统计", "/api/v1/exports/loans.xlsx", CONSOLE, "按书屋、月份汇总的借阅、续借、归还、阅览，不含任何读者信息"),
    ("配送单", "/api/v1/exports/shipments.xlsx", CONSOLE, "本年度配送单：书屋、状态、箱数、品种、册数、金额、日期"),
    ("培训记录", "/api/v1/exports/training.xlsx", CONSOLE, "培训证书：编号、姓名、课程、学时、日期、书屋"),
    ("评选结果", "/api/v1/exports/ratings.xlsx", CONSOLE, "最近一次评选的名次、申报对象、镇街、得分、结果（公示前仅区馆可导出）"),
    ("培训证书（培训模块）", "/console/training/certificates.xlsx", DISTRICT | {Role.TRAINER}, "培训页面的证书列表导出"),
)


class ReportsPage(ConsolePage):
    roles = CONSOLE

    async def get(self) -> None:
        today = local_today()
        years = list(range(today.year, FIRST_YEAR - 1, -1))
        summaries = await annual.report_summaries(self.deps, self.me, years[:SUMMARY_YEARS])
        self.render_page(
            "console/reports/index.html", years=years, summaries=summaries, this_year=today.year,
            exports=[(label, path, note) for label, path, roles, note in EXPORTS if self.me.role in roles],
            pdf_url=lambda y: f"/api/v1/stats/annual-report.pdf?year={y}",
        )


pages = [
    (r"/console/reports", ReportsPage),
]
