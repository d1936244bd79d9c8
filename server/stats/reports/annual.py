"""The annual report (年度报告) as a PDF: ``AnnualReport`` → HTML (``templates/reports/annual.html``)
→ PDF (WeasyPrint). The charts are drawn here as SVG (``svgcharts``); nothing is fetched from
outside (no URL protocol is allowed). Reproducible for any past year: everything printed comes
from the ``AnnualReport`` the stats service computes for that year.

Chinese needs a CJK font on the machine ("Noto Sans CJK SC", Debian ``fonts-noto-cjk``).
"""

from __future__ import annotations

import asyncio
import base64
from datetime import date
from typing import Any
from urllib.parse import quote

import weasyprint
from markupsafe import Markup
from weasyprint.urls import URLFetcher

from server.readers.service import local_today
from server.stats.models import AnnualReport, Indicator, TownRow
from server.stats.reports.svgcharts import chart_svg
from server.web.templating import environment

PDF = "application/pdf"
TEMPLATE = "reports/annual.html"
STATUS_WORDS = {"met": "达标", "near": "接近目标", "below": "未达标", "none": "—"}
# The printed charts' size in SVG units: 174 mm of A4 text width at about 3.7 units per mm.
CHART_WIDTH, CHART_HEIGHT = 640, 290

# Labels of the replenishment and training figures, whichever of these keys the report has.
REPLENISHMENT_LABELS: dict[str, str] = {
    "title": "计划", "status": "计划状态", "budget_fen": "年度预算", "spend_fen": "采购金额", "fen": "配送金额",
    "titles": "品种（种）", "copies": "册数（册）", "books": "图书（册）", "discs": "音像制品（张）",
    "rooms": "配送书屋（个）", "shipments_total": "发货单（个）", "spend_source": "金额来源",
}
TRAINING_LABELS: dict[str, str] = {
    "courses": "举办课程（门）", "sessions": "培训场次（场）", "attendances": "出勤（人次）",
    "attendances_present": "出勤（人次）", "sessions_finished": "已结束场次（场）",
    "hours": "培训总学时（人·小时）", "certificates": "颁发证书（张）",
    "inducted": "已完成岗前培训的管理员（人）", "admins_inducted": "已完成岗前培训的管理员（人）",
    "admins": "书屋管理员（人）", "admins_total": "书屋管理员（人）", "administrators": "书屋管理员（人）",
    "refresher_met": "完成年度复训的管理员（人）",
}
SHIPMENT_STATE_LABELS: dict[str, str] = {
    "planned": "待下单", "ordered": "已下单", "packed": "已装箱", "dispatched": "已发货", "received": "已收货",
    "discrepancy": "有差异", "claimed": "已索赔", "reconciled": "已对账", "closed": "已关闭", "cancelled": "已取消",
}
RATING_KIND_LABELS = {"model_room": "示范农家书屋", "model_admin": "模范管理员", "reading_family": "书香之家"}
RATING_LEVEL_LABELS = {"district": "区级", "city": "市级"}
RATING_STATUS_LABELS = {
    "draft": "草稿", "open": "申报中", "town_review": "镇街初审", "district_review": "区级评审",
    "shortlisted": "已排名入围", "publicity": "公示中", "decided": "已决定", "reported": "已上报",
}
OUTCOME_LABELS = {"awarded": "获评", "nominated": "获评并推荐上报"}
TOWN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("rooms", "书屋"), ("residents", "常住人口"), ("volumes", "藏书（册）"), ("new_volumes", "新增（册）"),
    ("loans", "借阅（次）"), ("active_readers", "活跃读者"), ("activities", "活动（场）"), ("admins", "管理员"),
    ("admins_inducted", "已岗前培训"), ("rooms_below_holdings", "藏书未达标书屋"),
)


def short_district(name: str) -> str:
    """天津市津南区 → 津南区 (the name people use for the district)."""
    return name.split("市", 1)[1] if "市" in name[:-1] else name


def filename(district: str, year: int) -> str:
    return f"{short_district(district)}书屋年度报告-{year}.pdf"


def content_disposition(district: str, year: int, *, inline: bool = False) -> str:
    """RFC 6266 with an RFC 5987 ``filename*`` for the Chinese name and an ASCII fallback."""
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"annual-report-{year}.pdf\"; filename*=UTF-8''{quote(filename(district, year))}"


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def format_number(value: float | None, unit: str = "") -> str:
    """A figure as printed: thousands separators; decimals for ratios and percentages."""
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "元":
        return f"{value:,.0f} 元" if abs(value) >= 1000 else f"{value:,.2f} 元".replace(".00 元", " 元")
    if 0 < abs(value) < 0.1:  # e.g. 0.021 册/人 against a target of 0.03
        return f"{value:.3f}"
    if value != int(value) or "/" in unit:
        return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) >= 100 else f"{value:.2f}"
    return f"{int(value):,}"


def yuan(fen: Any) -> str:
    try:
        return f"{int(fen) / 100:,.2f} 元"
    except (TypeError, ValueError):
        return "—"


def _figure(key: str, value: Any) -> str:
    if value is None:
        return "—"
    if key.endswith("_fen") or key == "fen":
        return yuan(value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int | float):
        return format_number(value)
    return str(value)


def indicator_rows(report: AnnualReport) -> list[dict[str, str]]:
    """Indicator, this year, target, status in words, last year — for the 主要指标 table."""
    rows = []
    last_label = str(report.year - 1)
    for ind in report.indicators:
        last = next((p.value for p in ind.trend if p.label == last_label), None)
        rows.append({
            "label": ind.label, "unit": ind.unit, "value": _with_unit(ind, ind.value),
            "target": ind.target_text or (_with_unit(ind, ind.target) if ind.target is not None else "—"),
            "status": STATUS_WORDS.get(ind.status, ind.status), "status_key": ind.status,
            "last": _with_unit(ind, last), "detail": ind.detail,
        })
    return rows


def _with_unit(ind: Indicator, value: float | None) -> str:
    text = format_number(value, ind.unit)
    if value is None or ind.unit in {"%", "元"}:
        return text
    return f"{text} {ind.unit}"


def figure_rows(data: dict[str, Any], labels: dict[str, str], skip: set[str]) -> list[tuple[str, str]]:
    """(label, printed value) for the scalar entries of ``data``, known labels first."""
    rows, seen = [], set()
    for key, label in labels.items():
        if key in data and key not in skip and label not in seen and not isinstance(data[key], dict | list):
            rows.append((label, _figure(key, data[key])))
            seen.add(label)
    for key, value in data.items():
        if key in labels or key in skip or isinstance(value, dict | list) or value is None:
            continue
        rows.append((key, _figure(key, value)))
    return rows


def replenishment_view(data: dict[str, Any]) -> dict[str, Any]:
    shipments = data.get("shipments") or data.get("shipments_by_state") or {}
    if isinstance(shipments, list):  # [{state, count}] is fine too
        shipments = {s.get("state"): s.get("count") for s in shipments if isinstance(s, dict)}
    skip = {"history", "plan_id", "year", "shipments", "shipments_by_state"}
    return {
        "history": bool(data.get("history")),
        "rows": figure_rows(data, REPLENISHMENT_LABELS, skip),
        "shipments": [(SHIPMENT_STATE_LABELS.get(str(k), str(k)), v) for k, v in shipments.items() if v],
        "empty": not any(v for k, v in data.items() if k not in {"history", "year"}),
    }


def _entries(round_doc: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    for key in ("entries", "awarded", "nominated", "winners"):
        for e in round_doc.get(key) or []:
            if not isinstance(e, dict):
                continue
            subject: dict[str, Any] = e["subject"] if isinstance(e.get("subject"), dict) else {}
            outcome = e.get("outcome") or e.get("status") or (key if key in OUTCOME_LABELS else "")
            if outcome and outcome not in OUTCOME_LABELS:  # the report lists who was awarded / nominated
                continue
            out.append({"name": str(e.get("name") or subject.get("name") or ""),
                        "town": str(e.get("town") or ""),
                        "outcome": OUTCOME_LABELS.get(outcome, e.get("status_label") or "")})
    return out


def ratings_view(rounds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{
        "title": str(r.get("title") or ""),
        "kind": RATING_KIND_LABELS.get(r.get("kind") or "", r.get("kind_label") or r.get("kind") or ""),
        "level": RATING_LEVEL_LABELS.get(r.get("level") or "", r.get("level") or ""),
        "status": RATING_STATUS_LABELS.get(r.get("status") or "", r.get("status_label") or r.get("status") or ""),
        "history": bool(r.get("history")),
        "entries": _entries(r),
    } for r in rounds]


def town_total(towns: list[TownRow]) -> dict[str, int]:
    return {key: sum(getattr(t, key) for t in towns) for key, _ in TOWN_COLUMNS}


def annual_report_html(report: AnnualReport, *, made_on: date | None = None) -> str:
    """The report's HTML, print CSS inside, every chart inline as SVG. Pure."""
    charts = [{"title": c.title, "note": c.note, "unit": c.unit, "empty": c.empty,
               "svg": Markup(chart_svg(c, width=CHART_WIDTH, height=CHART_HEIGHT))}  # noqa: S704 - escaped by svgcharts
              for c in report.charts]
    return environment().get_template(TEMPLATE).render(
        report=report, title=f"{report.district}农家书屋年度报告（{report.year}年）",
        made_on=chinese_date(made_on or local_today()), as_of=chinese_date(report.as_of),
        indicators=indicator_rows(report), charts=charts,
        replenishment=replenishment_view(report.replenishment or {}),
        training=figure_rows(report.training or {}, TRAINING_LABELS, {"year"}),
        ratings=ratings_view(report.ratings or []),
        towns=report.towns, town_columns=TOWN_COLUMNS, town_total=town_total(report.towns),
    )


def render_pdf(html: str) -> bytes:
    """HTML → PDF bytes. CPU-bound: call it in a thread."""
    pdf = weasyprint.HTML(string=html, url_fetcher=URLFetcher(allowed_protocols=set(), fail_on_errors=False)
                          ).write_pdf()
    assert pdf is not None
    return pdf


def annual_report_bytes(report: AnnualReport, *, made_on: date | None = None) -> bytes:
    return render_pdf(annual_report_html(report, made_on=made_on))


async def annual_report_pdf(deps: Any, actor: Any, year: int) -> bytes:
    """The annual report of ``year`` for the rooms ``actor`` may see, as PDF bytes.

    Raises what ``server.stats.service.annual_report`` raises (InvalidInput on ("query", "year")
    for a year outside 2012..this year). Reads only; renders in a worker thread.
    """
    # The stats core, imported late so this module loads (and its pure parts test) on its own.
    from server.stats import service

    report = await service.annual_report(deps, actor, year)
    # Rendering takes about a second: the PDF of the same figures is kept as long as they are
    # (same cache prefix, so ``service.invalidate`` drops it too).
    ttl = int(deps.settings.stats_cache_secs)
    key = f"{service.cache_key('annual-pdf', report.year, actor)}:{report.computed_at.isoformat()}"
    if ttl > 0 and (cached := await deps.redis.get(key)):
        return base64.b64decode(cached)  # the shared client decodes replies as text
    pdf = await asyncio.to_thread(annual_report_bytes, report)
    if ttl > 0:
        await deps.redis.set(key, base64.b64encode(pdf).decode("ascii"), ex=ttl)
    return pdf



async def report_summaries(deps: Any, actor: Any, years: list[int]) -> dict[int, dict[str, Any]]:
    """A one-line summary per year for the reports page — loans, new volumes, rooms, volumes —
    from each year's ``AnnualReport`` (which the stats service caches). Reads only."""
    from server.stats import service

    out: dict[int, dict[str, Any]] = {}
    # together: the database works on one year's queries while this process builds another's
    reports = await asyncio.gather(*(service.annual_report(deps, actor, year) for year in years))
    for year, report in zip(years, reports, strict=True):
        total = town_total(report.towns)
        out[year] = {"loans": total["loans"], "new_volumes": total["new_volumes"], "rooms": total["rooms"],
                     "volumes": total["volumes"], "as_of": report.as_of}
    return out
