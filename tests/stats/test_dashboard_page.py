"""The console's 总览 page (``/console/``): who may open it, what it shows for whom, the year
selector, bad input, the 重新计算 button, and the pure helpers that shape the page."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, date, datetime, time
from typing import Any

import httpx
import pytest
import pytest_asyncio
from bson import ObjectId

from distribution.plans.history import load_history
from server.circulation.rules import LOCAL_TZ
from server.console.dashboard import chart_summary, fmt_num, page_json, sparkline
from server.readers.service import local_today
from server.resources import Deps
from server.stats.models import Chart, ChartSeries, TrendPoint
from tests.web.test_pages import form_login, page_client

DATA_RE = re.compile(r'<script type="application/json" id="dashboard-data">(.*?)</script>', re.S)
# Rooms given stock, loans and summer-challenge children (three towns).
STOCKED = ["JN-XSG-001", "JN-XSG-002", "JN-XSG-003", "JN-GG-001", "JN-XZ-001"]
CATEGORIES = ["政经", "科技", "生活", "文化", "少儿", "其他"]
READER_NAME, READER_CARD = "测试读者王小明", "JN-CARD-778899"


def local(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), LOCAL_TZ).astimezone(UTC)


async def build_dashboard_data(deps: Deps) -> dict[str, Any]:
    """Stock (ledger moves and the holdings they fold to), monthly loan statistics, the
    2012–2015 replenishment history and a summer reading challenge, for ``STOCKED``."""
    db = deps.db
    year = local_today().year
    titles = [{"_id": f"97875{n:08d}", "title": f"测试图书 {n}", "format": "book", "category": c, "price": 3500}
              for n, c in enumerate(CATEGORIES)]
    await db.titles.insert_many(titles)
    moves, holdings = [], []
    for i, room in enumerate(STOCKED):
        for n, t in enumerate(titles):
            copies = 40 * (i + 1) + 30 * n
            # two thirds came last year, the rest this spring: the trends have two years
            for seq, (when, qty) in enumerate(((date(year - 1, 6, 1 + i), copies * 2 // 3),
                                               (date(year, 3, 1 + i), copies - copies * 2 // 3))):
                moves.append({"op_id": f"dash-receive-{room}-{seq}", "seq": n, "room": room, "title_id": t["_id"],
                              "kind": "receive", "quantity": qty, "delta": {"on_shelf": qty}, "actor": "admin",
                              "at": local(when), "reference": {"test": "dashboard"}})
            holdings.append({"room": room, "title_id": t["_id"], "on_shelf": copies, "on_loan": 0, "in_transit": 0,
                             "lost": 0, "damaged": 0})
    await db.stock_moves.insert_many(moves)
    await db.holdings.insert_many(holdings)
    stats = []
    for i, room in enumerate(STOCKED):
        for month in range(1, 11):
            for c in ("文化", "少儿", "科技"):
                stats.append({"room": room, "month": f"{year}-{month:02d}", "format": "book", "category": c,
                              "age_group": "adult", "loans": 3 + i * 2 + month, "renewals": 1, "returns": 2,
                              "in_room_uses": 0})
    await db.loan_stats.insert_many(stats)
    # A named reader and a loan: neither the name nor the card may reach the statistics.
    reader = ObjectId()
    await db.readers.insert_one({"_id": reader, "name": READER_NAME, "card_no": READER_CARD,
                                 "home_room": STOCKED[0], "birth_year": 1980, "created_at": local(date(year, 1, 5))})
    await db.loans.insert_one({"room": STOCKED[0], "reader_id": reader, "title_id": titles[0]["_id"],
                               "lent_at": local(date(year, 3, 5)), "returned_at": None, "renewed_at": []})
    await load_history(deps)
    challenge = ObjectId()
    await db.challenges.insert_one({"_id": challenge, "title": "暑期阅读挑战", "status": "ended",
                                    "starts_on": f"{year}-07-01", "ends_on": f"{year}-08-31", "unit": "books"})
    towns = {"JN-XSG": "咸水沽镇", "JN-GG-": "葛沽镇", "JN-XZ-": "小站镇"}
    await db.participants.insert_many([
        {"challenge_id": challenge, "member_id": ObjectId(), "age": 9 + n % 5, "school": f"第{n % 3 + 1}小学",
         "class_name": "三年级一班", "room": room, "town": towns[room[:6]], "status": "active"}
        for n, room in enumerate(STOCKED * 3)])
    return {"year": year}


@pytest_asyncio.fixture(scope="module")
async def data(seeded: Deps) -> dict[str, Any]:
    return await build_dashboard_data(seeded)


def dashboard_json(page: httpx.Response) -> dict[str, Any]:
    found = DATA_RE.search(page.text)
    assert found, page.text[:500]
    assert "</" not in found.group(1)
    return json.loads(found.group(1))


async def test_log_in_required_and_lands_on_the_dashboard(data, base_url):
    async with page_client(base_url) as http:
        response = await http.get("/console/")
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/console/login?next=")
        login = await form_login(http, "/console/login", "clerk")
        assert login.headers["Location"] == "/console/"
        assert (await http.get("/console")).status_code == 200


async def test_room_admin_has_no_dashboard(data, base_url):
    async with page_client(base_url) as http:
        await form_login(http, "/m/login", "jn-xsg-001")
        response = await http.get("/console/")
        assert response.status_code == 403
        assert response.headers["Content-Type"].startswith("text/html")


async def test_district_dashboard(data, base_url, deps):
    await _invalidate(deps)
    async with page_client(base_url) as http:
        await form_login(http, "/console/login", "admin")
        page = await http.get("/console/")
        assert page.status_code == 200
        text = page.text
        body = dashboard_json(page)
        assert body["year"] == data["year"] and body["scope"] == "全区"
        assert len(body["map"]["rooms"]) == 110
        assert body["library"]["name"] == "津南区图书馆"
        # indicator cards: label, value, status in words (not colour only)
        assert text.count('class="ind-card') == len(body["indicators"]) == 10
        for ind in body["indicators"]:
            assert html.escape(ind["label"]) in text
        assert re.search(r'class="st-badge st-\w+"><span aria-hidden="true">.</span> (达标|接近目标|未达标|无目标)', text)
        assert '<svg class="spark"' in text  # the volumes trend has at least two years
        # alerts, the map with its labelled layer select and the accessible room table, the charts
        assert text.count('class="dash-alert') == 5
        assert '<label for="map-layer">' in text and '<select id="map-layer">' in text
        assert text.count('<a href="/console/rooms/JN-') >= 110
        for chart in body["charts"]:
            assert f'id="fig-{chart["key"]}"' in text
        assert text.count('class="chart-box"') >= 4
        assert 'role="img" aria-label="' in text
        assert "数据计算于" in text
        assert 'action="/console/refresh"' in text and "重新计算" in text
        # the year selector covers every year, this one selected
        assert f'<option value="{data["year"]}" selected>' in text and '<option value="2012">' in text
        # scripts only from /static (the JSON block is data, never run); no inline styles
        assert not re.search(r'<script(?![^>]*\ssrc="/static/)(?![^>]*type="application/json")|<style|\sstyle=|\son[a-z]+=',
                             text, re.I)
        for asset in ("vendor/echarts/echarts.min.js", "vendor/leaflet/leaflet.js", "vendor/leaflet/leaflet.css",
                      "console/dashboard.js"):
            assert f"/static/{asset}" in text
        assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
        # loan figures are aggregated: no reader's name or card anywhere
        assert READER_NAME not in text and READER_CARD not in text
        assert page.headers["Cache-Control"] == "no-store"


async def test_static_assets_are_served(data, base_url):
    async with page_client(base_url) as http:
        for asset, kind in (("vendor/echarts/echarts.min.js", "javascript"), ("vendor/leaflet/leaflet.js", "javascript"),
                            ("vendor/leaflet/leaflet.css", "text/css"), ("console/dashboard.js", "javascript"),
                            ("vendor/leaflet/images/layers.png", "image/png")):
            response = await http.get(f"/static/{asset}")
            assert response.status_code == 200, asset
            assert kind in response.headers["Content-Type"], asset


@pytest.mark.parametrize("username", ["inspector", "trainer", "clerk"])
async def test_whole_district_roles(data, base_url, username):
    async with page_client(base_url) as http:
        await form_login(http, "/console/login", username)
        page = await http.get("/console/")
        assert page.status_code == 200
        body = dashboard_json(page)
        assert body["scope"] == "全区" and len(body["map"]["rooms"]) == 110
        assert ('action="/console/refresh"' in page.text) == (username == "clerk")


async def test_town_coordinator_sees_only_their_town(data, base_url):
    async with page_client(base_url) as http:
        await form_login(http, "/console/login", "xsg")
        page = await http.get("/console/")
        assert page.status_code == 200
        body = dashboard_json(page)
        assert body["scope"] == "咸水沽镇"
        rooms = body["map"]["rooms"]
        assert rooms and {r["town"] for r in rooms} == {"咸水沽镇"}
        assert "JN-GG-" not in page.text and "JN-XZ-" not in page.text
        for alert in body["alerts"]:
            assert all("JN-GG" not in (i["href"] or "") for i in alert["items"])
        # no 重新计算 for a town coordinator, and the form's target refuses them
        assert 'action="/console/refresh"' not in page.text
        token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert token
        refused = await http.post("/console/refresh", data={"_xsrf": token.group(1)})
        assert refused.status_code == 403


async def test_year_selector_and_past_years(data, base_url):
    async with page_client(base_url) as http:
        await form_login(http, "/console/login", "admin")
        page = await http.get("/console/", params={"year": "2015"})
        assert page.status_code == 200
        body = dashboard_json(page)
        assert body["year"] == 2015 and body["as_of"] == "2015-12-31"
        assert '<option value="2015" selected>' in page.text
        replenishment = next(c for c in body["charts"] if c["key"] == "replenishment_by_year")
        assert replenishment["categories"][:4] == ["2012", "2013", "2014", "2015"]
        # nothing was lent in 2015 in shuwu: that chart says so instead of drawing an empty frame
        loans = next(c for c in body["charts"] if c["key"] == "loans_by_month")
        assert not any(v for s in loans["series"] for v in s["values"])
        figure = page.text[page.text.index('id="fig-loans_by_month"'):]
        figure = figure[:figure.index("</figure>")]
        assert "暂无数据" in figure and "chart-box" not in figure
        # the form's empty choice means this year
        assert dashboard_json(await http.get("/console/", params={"year": ""}))["year"] == data["year"]


@pytest.mark.parametrize("query", [{"year": "1800"}, {"year": "abc"}, {"year": "2099"}, {"year": "2011"},
                                   {"year": "2020.5"}, {"yaer": "2020"}])
async def test_bad_query_is_a_4xx_page(data, base_url, query):
    async with page_client(base_url) as http:
        await form_login(http, "/console/login", "admin")
        page = await http.get("/console/", params=query)
        assert page.status_code == 422, page.text[:300]
        assert page.headers["Content-Type"].startswith("text/html")
        assert f"query.{next(iter(query))}" in page.text


async def _invalidate(deps: Deps) -> None:
    from server.stats import service

    await service.invalidate(deps)


async def test_refresh_drops_the_cache(data, base_url, deps):
    async with page_client(base_url) as http:
        await form_login(http, "/console/login", "clerk")
        first = await http.get("/console/", params={"year": "2016"})
        computed = dashboard_json(first)["computed_at"]
        assert dashboard_json(await http.get("/console/", params={"year": "2016"}))["computed_at"] == computed
        assert [k async for k in deps.redis.scan_iter(match="stats:*")]
        token = re.search(r'name="_xsrf" value="([^"]+)"', first.text)
        assert token
        without_token = await http.post("/console/refresh", data={"year": "2016"})
        assert without_token.status_code == 403  # XSRF
        response = await http.post("/console/refresh", data={"_xsrf": token.group(1), "year": "2016"})
        assert response.status_code == 302 and response.headers["Location"] == "/console/?year=2016&refreshing=1"
        assert await deps.jobs.exists("arq:job:stats-refresh")  # queued for the worker
        notice = await http.get(response.headers["Location"])
        assert "正在重新计算" in notice.text
        from server.worker import stats_refresh

        await stats_refresh({"deps": deps})  # what the worker runs
        assert not [k async for k in deps.redis.scan_iter(match="stats:v1:*")]
        again = await http.get("/console/", params={"year": "2016"})
        assert dashboard_json(again)["computed_at"] > computed
        bad = await http.post("/console/refresh", data={"_xsrf": token.group(1), "year": "1800"})
        assert bad.status_code == 422 and "body.year" in bad.text


async def test_commands_do_not_grow_with_rooms(data, base_url, deps, command_counter):
    """Thirty more rooms in the district cost no more Mongo commands (runs last: it adds rooms)."""
    async def count() -> int:
        await _invalidate(deps)
        command_counter.reset()
        assert (await http.get("/console/", params={"year": "2025"})).status_code == 200
        return len(command_counter.commands)

    async with page_client(base_url) as http:
        await form_login(http, "/console/login", "admin")
        await count()  # the first look at a year folds its per-room figures (server.stats.roomstats)
        before = await count()
        template = await deps.db.rooms.find_one({"code": "JN-XSG-001"}, {"_id": 0})
        await deps.db.rooms.insert_many([{**template, "code": f"JN-XSG-{n:03d}", "name": f"新增书屋 {n}"}
                                         for n in range(300, 330)])
        after = await count()
    assert after == before, (before, after)
    assert after < 60, after


# -- the pure helpers ---------------------------------------------------------------------------


def test_fmt_num():
    assert fmt_num(None) == "—"
    assert fmt_num(1234567) == "1,234,567"
    assert fmt_num(12) == "12"
    assert fmt_num(1.2) == "1.2"
    assert fmt_num(0.034) == "0.034"
    assert fmt_num(0.03) == "0.03"
    assert fmt_num(12.345) == "12.35"


def test_sparkline():
    assert sparkline([TrendPoint(label="2025", value=1.0)]) is None
    assert sparkline([TrendPoint(label="2024", value=None), TrendPoint(label="2025", value=1.0)]) is None
    spark = sparkline([TrendPoint(label="2023", value=0.5), TrendPoint(label="2024", value=None),
                       TrendPoint(label="2025", value=1.5)])
    assert spark is not None
    points = [tuple(map(float, p.split(","))) for p in spark["points"].split()]
    assert len(points) == 2
    assert points[0][1] > points[1][1]  # higher value, higher on screen (smaller y)
    assert spark["last"] == points[-1]
    assert spark["text"] == "2023 年 0.5 → 2025 年 1.5"
    flat = sparkline([TrendPoint(label="2024", value=2.0), TrendPoint(label="2025", value=2.0)])
    assert flat and flat["points"].split()[0].endswith(",14.0")


def test_chart_summary_reads_the_figures():
    chart = Chart(key="loans_by_month", title="各月借阅", unit="册次", categories=["1月", "2月"],
                  series=[ChartSeries(name="文化", values=[3, None]), ChartSeries(name="少儿", values=[1200, 5])])
    assert chart_summary(chart) == "各月借阅（单位：册次）。文化：1月 3，2月 —。少儿：1月 1,200，2月 5。"


def test_page_json_cannot_close_its_script_element():
    from server.stats.models import Dashboard, DistrictMap

    dash = Dashboard(year=2026, as_of=date(2026, 1, 1), computed_at=datetime(2026, 1, 1, tzinfo=UTC),
                     scope="</script><script>alert(1)</script>", indicators=[], charts=[],
                     map=DistrictMap(bbox=(38.78, 117.18, 39.12, 117.62), towns=[], rooms=[], layers=[]),
                     alerts=[], years=[2026])
    text = page_json(dash, {"extra": "a & b"})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text)["scope"] == "</script><script>alert(1)</script>"
    assert json.loads(text)["extra"] == "a & b"
