"""The console's home page (``/console/``): the whole network against its standards —
indicator cards, alerts, the district map (Leaflet) and the charts (ECharts) — and the
button that drops the cached figures so they are computed again.

The dashboard is computed by ``server.stats.service``; this module only shapes it for the
page: the JSON handed to ``static/console/dashboard.js`` (no second round trip), sparkline
points, the text that stands in for colour, and the spoken summary of each chart.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from server.console.handlers import ConsolePage
from server.readers.service import local_today
from server.staff.roles import CONSOLE, DISTRICT
from server.stats import service as stats_service
from server.stats.models import Chart, Dashboard, Indicator, TrendPoint
from server.stats.yearfacts import FIRST_YEAR

SPARK_W, SPARK_H, SPARK_PAD = 96, 28, 3  # the sparkline's box, in px
# A status is never shown by colour alone: each has a sign and words.
STATUS_TEXT = {"met": ("✓", "达标"), "near": ("≈", "接近目标"), "below": ("✗", "未达标"), "none": ("·", "无目标")}
SEVERITY_TEXT = {"high": "紧急", "medium": "关注", "low": "提示"}
# How many categories a chart's spoken summary reads out before it says "等".
SUMMARY_CATEGORIES = 12


class DashboardQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    year: int | None = Field(None, ge=FIRST_YEAR, le=2100, description="the year to show; this year when absent")
    refreshing: bool = Field(False, description="a refresh was just requested: say so")


class RefreshForm(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    year: int | None = Field(None, ge=FIRST_YEAR, le=2100)



# -- shaping for the page (pure) -------------------------------------------------------------------


def fmt_num(value: float | None) -> str:
    """A figure as printed on a card: thousands separators, no needless decimals."""
    if value is None:
        return "—"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if float(value).is_integer():
        return str(int(value))
    if abs(value) < 1:
        return f"{value:.3f}".rstrip("0").rstrip(".")
    return f"{value:.2f}".rstrip("0").rstrip(".")


def sparkline(trend: list[TrendPoint]) -> dict[str, Any] | None:
    """Polyline points for ``trend`` in a SPARK_W × SPARK_H box, the last point marked; None
    when fewer than two years have a value."""
    known = [(i, p.value) for i, p in enumerate(trend) if p.value is not None]
    if len(known) < 2:
        return None
    lo, hi = min(v for _, v in known), max(v for _, v in known)
    span_x = max(1, len(trend) - 1)
    span_y = (hi - lo) or 1.0

    def xy(i: int, v: float) -> tuple[float, float]:
        x = SPARK_PAD + i * (SPARK_W - 2 * SPARK_PAD) / span_x
        y = SPARK_H - SPARK_PAD - (v - lo) * (SPARK_H - 2 * SPARK_PAD) / span_y if hi != lo else SPARK_H / 2
        return round(x, 1), round(y, 1)

    points = [xy(i, v) for i, v in known]
    first, last = known[0], known[-1]
    return {"points": " ".join(f"{x},{y}" for x, y in points), "last": points[-1],
            "text": f"{trend[first[0]].label} 年 {fmt_num(first[1])} → {trend[last[0]].label} 年 {fmt_num(last[1])}"}


def chart_summary(chart: Chart) -> str:
    """What a screen reader says for a chart: title, unit and each series' figures."""
    cats = chart.categories
    parts = [f"{chart.title}" + (f"（单位：{chart.unit}）" if chart.unit else "")]
    for s in chart.series:
        pairs = [f"{c} {fmt_num(v)}" for c, v in zip(cats, s.values, strict=False)][:SUMMARY_CATEGORIES]
        more = "等" if len(cats) > SUMMARY_CATEGORIES else ""
        parts.append(f"{s.name}：{'，'.join(pairs)}{more}")
    return "。".join(parts) + "。"


def indicator_view(ind: Indicator) -> dict[str, Any]:
    sign, words = STATUS_TEXT[ind.status]
    return {"ind": ind, "value_text": fmt_num(ind.value), "sign": sign, "status_text": words,
            "spark": sparkline(ind.trend)}


def page_json(dashboard: Dashboard, extra: dict[str, Any]) -> str:
    """The dashboard as JSON safe inside ``<script type="application/json">``: ``<``, ``>``
    and ``&`` are escaped so no text in it can close the element."""
    data = dashboard.model_dump(mode="json") | extra
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


# -- pages -----------------------------------------------------------------------------------------


class DashboardPage(ConsolePage):
    """总览: the viewer's scope (a town coordinator: their towns) for ``?year=``."""

    roles = CONSOLE

    async def get(self) -> None:
        # The year form sends an empty value for "this year".
        self.request.query_arguments = {k: v for k, v in self.request.query_arguments.items() if v and v[-1].strip()}
        query = self.parse_query(DashboardQuery)
        dashboard = await stats_service.dashboard(self.deps, self.me, query.year)
        district = self.deps.settings.district
        library = district.library
        extra = {"library": {"name": library.name, "lat": library.lat, "lng": library.lng} if library else None,
                 "room_url": "/console/rooms/"}
        self.render_page(
            "console/dashboard.html", dash=dashboard,
            indicators=[indicator_view(i) for i in dashboard.indicators],
            charts=[(c, chart_summary(c)) for c in dashboard.charts],
            severity_text=SEVERITY_TEXT, fmt_num=fmt_num, data_json=page_json(dashboard, extra),
            can_refresh=self.me.role in DISTRICT, spark_w=SPARK_W, spark_h=SPARK_H, refreshing=query.refreshing,
        )


class DashboardRefreshPage(ConsolePage):
    """重新计算 (district roles): queue the refold of this year's figures (the worker drops the
    cache when it is done) and show the dashboard again with a notice."""

    roles = DISTRICT

    async def post(self) -> None:
        self.request.body_arguments = {k: v for k, v in self.request.body_arguments.items()
                                       if k == "_xsrf" or (v and v[-1].strip())}
        form = self.parse_form(RefreshForm)
        year = stats_service.check_year(form.year, local_today(), ("body", "year"))
        # The worker refolds this year's per-room figures, then drops every cached dashboard and report.
        await stats_service.request_refresh(self.deps)
        self.redirect(f"/console/?year={year}&refreshing=1")


pages = [
    (r"/console/?", DashboardPage),
    (r"/console/refresh", DashboardRefreshPage),
]
