"""The annual report's PDF: drawn from a hand-built ``AnnualReport`` (pure) and from a hand-seeded
year through the API (this year, and the 2014 history year), with its roles, its file name and
its bad years."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime
from urllib.parse import unquote

import httpx
import pytest
from pypdf import PdfReader

from distribution.plans.history import load_history
from server.readers.service import local_today
from server.resources import Deps
from server.stats import service as stats_service
from server.stats.models import AnnualReport, Chart, ChartSeries, Indicator, TownRow, TrendPoint
from server.stats.reports.annual import (
    annual_report_bytes,
    annual_report_html,
    content_disposition,
    format_number,
    short_district,
)
from server.stock.ledger import Move, MoveKind
from server.stock.service import check_ledger
from tests.conftest import CommandCounter, Session
from tests.stats import moves

TODAY = local_today()
YEAR = TODAY.year
TOWNS = ["咸水沽镇", "葛沽镇", "小站镇", "双港镇", "辛庄镇", "双桥河镇", "八里台镇", "北闸口镇"]
SECTIONS = ["一、主要指标", "二、图表", "三、补充更新", "四、培训", "五、评选", "六、分镇统计", "说明"]
A, G = "JN-XSG-001", "JN-GG-001"
BOOK, KIDS = "9787510000042", "9787510000059"
# Distinctive figures of this year, which a past year's report must not show.
RECEIVED_THIS_YEAR = 4321
LOANS_THIS_YEAR = 2468


def pdf_text(data: bytes) -> tuple[int, str]:
    reader = PdfReader(io.BytesIO(data))
    return len(reader.pages), "\n".join(page.extract_text() or "" for page in reader.pages)


def flat(text: str) -> str:
    """pypdf breaks lines inside table cells; compare without whitespace."""
    return "".join(text.split())


def hand_report(year: int = 2025) -> AnnualReport:
    indicators = [
        Indicator(key="volumes_per_resident", label="人均藏书", unit="册/人", value=1.137, target=1.2,
                  target_text="≥ 1.2 册/人", status="near", detail="藏书 1,057,000 册 ÷ 常住人口 930,000 人",
                  trend=[TrendPoint(label=str(year - 1), value=1.05), TrendPoint(label=str(year), value=1.137)]),
        Indicator(key="purchase_spend", label="年度购书经费执行", unit="元", value=1234567.5, target=1500000,
                  target_text="预算 1,500,000 元", status="below"),
        Indicator(key="rooms_below_holdings", label="藏书未达标书屋", unit="个", value=7, target=0, better="lower",
                  status="below"),
        Indicator(key="stocktake_loss_rate", label="盘点丢失率", unit="%", value=None, better="lower"),
    ]
    charts = [
        Chart(key="loans_by_month", title="每月借阅（按图书分类）", unit="次", categories=[f"{m}月" for m in range(1, 13)],
              series=[ChartSeries(name=c, values=[(m * 37 + i * 11) % 90 + 10 for m in range(12)], stack="loans")
                      for i, c in enumerate(["政经", "科技", "生活", "文化", "少儿", "其他"])],
              note="借阅数取自按月汇总的借阅统计。"),
        Chart(key="challenge_by_town", title="暑期阅读挑战参与（按镇街）", unit="人", categories=TOWNS,
              series=[ChartSeries(name="参与人数", values=[0] * 8)]),
        Chart(key="challenge_by_school", title="暑期阅读挑战参与（前 15 所学校）", unit="人",
              categories=[f"第{i}小学<&>" for i in range(15)],
              series=[ChartSeries(name="参与人数", values=[100 - i * 5 for i in range(15)])]),
    ]
    towns = [TownRow(town=t, rooms=10 + i, residents=100000 + i, volumes=120000 + i, new_volumes=3000 + i,
                     loans=20000 + i, active_readers=1500 + i, activities=40 + i, admins=12 + i,
                     admins_inducted=11 + i, rooms_below_holdings=i % 3) for i, t in enumerate(TOWNS)]
    return AnnualReport(
        year=year, as_of=date(year, 12, 31), computed_at=datetime(year + 1, 1, 5, 2, tzinfo=UTC), district="天津市津南区",
        indicators=indicators, charts=charts,
        replenishment={"year": year, "title": f"{year}年度补充更新", "budget_fen": 150000000, "spend_fen": 123456750,
                       "spend_source": "选定选书方案金额", "titles": 812, "copies": 35272, "rooms": 108,
                       "shipments": {"已收货": 90, "已发货": 12}, "history": False},
        training={"courses": 4, "sessions": 11, "attendances": 236, "hours": 48.5, "certificates": 97,
                  "admins_total": 108, "admins_inducted": 104},
        ratings=[{"title": f"{year}年度示范农家书屋评选", "kind": "model_room", "level": "district", "status": "decided",
                  "entries": [{"name": "<b>东台子村</b>&书屋", "town": "辛庄镇", "status": "awarded"},
                              {"name": "西关村农家书屋", "town": "咸水沽镇", "status": "nominated"}]}],
        towns=towns)


def test_a_hand_built_report_prints_every_section() -> None:
    data = annual_report_bytes(hand_report(), made_on=date(2026, 1, 6))
    pages, text = pdf_text(data)
    assert pages >= 2
    squeezed = flat(text)
    for title in [*SECTIONS, "天津市津南区农家书屋年度报告（2025年）", "数据截至：2025年12月31日", "生成日期：2026年1月6日"]:
        assert flat(title) in squeezed, title
    for label in ("人均藏书", "年度购书经费执行", "藏书未达标书屋", "盘点丢失率"):
        assert label in squeezed
    assert "接近目标" in squeezed and "未达标" in squeezed
    assert "1.14册/人" in squeezed and "1.05册/人" in squeezed  # this year and last year
    assert "1,234,568元" in squeezed and "1,500,000.00元" in squeezed  # spend, budget (fen → 元)
    assert "咸水沽镇" in squeezed and "北闸口镇" in squeezed
    assert f"{sum(20000 + i for i in range(8)):,}" in squeezed  # the towns' total loans
    assert "<b>东台子村</b>&书屋" in squeezed and "获评并推荐上报" in squeezed  # escaped, not markup
    assert "暂无数据" in squeezed  # the all-zero chart
    assert "公共图书馆法" in squeezed and "第四十三条" in squeezed
    assert f"第2页/共{pages}页" in squeezed and "第1页" not in squeezed  # no number on the cover


def test_the_html_has_the_charts_inline_and_fetches_nothing() -> None:
    html = annual_report_html(hand_report())
    assert html.count("<svg") == 3 and "<script" not in html
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "第0小学&lt;&amp;" in html  # category labels are escaped inside the SVG


def test_a_past_history_year_without_a_plan_row_still_renders() -> None:
    report = hand_report(2013).model_copy(update={
        "replenishment": {"year": 2013, "title": "2013年农家书屋出版物补充（历史记录）", "budget_fen": 0,
                          "spend_fen": 196_000_000, "spend_source": "历史汇总（估算）", "copies": 55_000, "discs": 3_800,
                          "rooms": 0, "shipments": {}, "history": True},
        "ratings": [], "training": {}, "charts": []})
    pages, text = pdf_text(annual_report_bytes(report))
    squeezed = flat(text)
    assert pages >= 2 and "55,000" in squeezed and "3,800" in squeezed and "历史汇总" in squeezed
    assert "2013年没有评选" in squeezed and "2013年没有培训记录" in squeezed


def test_figures_and_the_file_name() -> None:
    assert short_district("天津市津南区") == "津南区"
    assert format_number(0.5, "%") == "0.5%" and format_number(None) == "—" and format_number(12345) == "12,345"
    header = content_disposition("天津市津南区", 2026)
    assert header.startswith('attachment; filename="annual-report-2026.pdf"; ')
    assert unquote(header.split("filename*=UTF-8''")[1]) == "津南区书屋年度报告-2026.pdf"


# -- through the API, on a hand-seeded year ----------------------------------------------------------




@pytest.fixture(scope="module")
async def data(seeded: Deps) -> Deps:
    db = seeded.db
    await db.titles.insert_many([
        {"_id": BOOK, "title": "果树栽培", "format": "book", "category": "科技", "price_cents": 3000},
        {"_id": KIDS, "title": "童话", "format": "book", "category": "少儿", "price_cents": 2000},
    ])
    await moves(seeded, datetime(2014, 5, 1, tzinfo=UTC), Move(A, BOOK, MoveKind.RECEIVE, 777))
    await moves(seeded, datetime(YEAR, 1, 3, tzinfo=UTC), Move(A, KIDS, MoveKind.RECEIVE, RECEIVED_THIS_YEAR),
                Move(G, BOOK, MoveKind.RECEIVE, 55))
    month = f"{YEAR}-{TODAY.month:02d}"
    await db.loan_stats.insert_one({"_id": f"{A}|{month}|book|少儿|child", "room": A, "month": month, "format": "book",
                                    "category": "少儿", "age_group": "child", "loans": LOANS_THIS_YEAR})
    await load_history(seeded)  # the 2012–2015 replenishment totals
    _, problems = await check_ledger(seeded)
    assert problems == []
    return seeded


async def get_pdf(client: httpx.AsyncClient, session: Session, year: int | str) -> httpx.Response:
    return await client.get("/api/v1/stats/annual-report.pdf", params={"year": year}, headers=session.headers)


async def test_this_years_report_through_the_api(data: Deps, client: httpx.AsyncClient,
                                                 as_role: dict[str, Session]) -> None:
    r = await get_pdf(client, as_role["district_admin"], YEAR)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/pdf"
    disposition = r.headers["Content-Disposition"]
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == f"津南区书屋年度报告-{YEAR}.pdf"
    pages, text = pdf_text(r.content)
    squeezed = flat(text)
    assert pages >= 2
    for title in SECTIONS:
        assert flat(title) in squeezed, title
    assert f"天津市津南区农家书屋年度报告（{YEAR}年）" in squeezed
    for label in ("人均藏书", "年人均新增藏书", "书屋月均借阅", "管理员培训完成率"):
        assert label in squeezed, label
    assert "咸水沽镇" in squeezed and "葛沽镇" in squeezed
    assert f"{RECEIVED_THIS_YEAR + 777:,}" in squeezed  # 咸水沽镇's volumes at the year's end
    assert f"{LOANS_THIS_YEAR:,}" in squeezed  # its loans, aggregated


async def test_a_past_history_year_shows_its_own_figures_only(data: Deps, client: httpx.AsyncClient,
                                                              as_role: dict[str, Session]) -> None:
    r = await get_pdf(client, as_role["inspector"], 2014)
    assert r.status_code == 200, r.text
    assert "2014.pdf" in r.headers["Content-Disposition"]
    pages, text = pdf_text(r.content)
    squeezed = flat(text)
    assert pages >= 2 and "农家书屋年度报告（2014年）" in squeezed and "数据截至：2014年12月31日" in squeezed
    assert "57,500" in squeezed and "历史汇总" in squeezed  # the 2014 history totals
    assert "777" in squeezed  # 2014's receipt, as of 31 December 2014
    assert f"{RECEIVED_THIS_YEAR:,}" not in squeezed and f"{RECEIVED_THIS_YEAR + 777:,}" not in squeezed
    assert f"{LOANS_THIS_YEAR:,}" not in squeezed and f"{LOANS_THIS_YEAR}" not in squeezed


async def test_a_town_coordinator_gets_their_towns_only(data: Deps, client: httpx.AsyncClient,
                                                        as_role: dict[str, Session]) -> None:
    r = await get_pdf(client, as_role["town_coordinator"], YEAR)
    assert r.status_code == 200, r.text
    squeezed = flat(pdf_text(r.content)[1])
    assert "咸水沽镇" in squeezed and "葛沽镇" not in squeezed


async def test_roles_and_bad_years(data: Deps, client: httpx.AsyncClient, as_role: dict[str, Session]) -> None:
    assert (await get_pdf(client, as_role["room_admin"], YEAR)).status_code == 403
    assert (await client.get("/api/v1/stats/annual-report.pdf", params={"year": YEAR})).status_code == 401
    for bad in ("1800", "abc", str(YEAR + 1), "2011", "2014.5"):
        r = await get_pdf(client, as_role["district_admin"], bad)
        assert r.status_code == 422, (bad, r.text)
        assert ["query", "year"] in [e["loc"] for e in r.json()["errors"]], r.json()
    r = await client.get("/api/v1/stats/annual-report.pdf", params={"year": YEAR, "format": "x"},
                         headers=as_role["district_admin"].headers)
    assert r.status_code == 422 and ["query", "format"] in [e["loc"] for e in r.json()["errors"]]


async def test_the_report_sends_a_few_commands_whatever_the_rooms(
        data: Deps, client: httpx.AsyncClient, as_role: dict[str, Session], command_counter: CommandCounter) -> None:
    """No query per room: computed afresh for all 110 rooms, the report takes a few dozen Mongo
    commands at most (one per room would be over a hundred); printing it takes none of its own —
    asked again, only the caller's log-in is looked up (the figures come from the stats cache)."""
    await stats_service.invalidate(data)
    command_counter.reset()
    assert (await get_pdf(client, as_role["district_admin"], YEAR - 1)).status_code == 200
    cold = list(command_counter.commands)
    assert 0 < len(cold) < 40, cold
    assert len([c for c in cold if c.startswith("find:rooms")]) <= 2, cold
    command_counter.reset()
    assert (await get_pdf(client, as_role["district_admin"], YEAR - 1)).status_code == 200
    assert all(c.startswith("find:staff") for c in command_counter.commands), command_counter.commands
