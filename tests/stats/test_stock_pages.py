"""The console's 藏书与流通 pages (/console/stock, /console/loans): their numbers for hand-built
data, filters, sorting, scope, refusals, a constant number of Mongo commands, and how they look
in Chromium at 1366×768 and on a tablet (screenshots in tests/artifacts/)."""

from __future__ import annotations

import asyncio
import io
import random
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest

from server.readers.service import local_today
from server.resources import Deps
from server.seed import DEMO_PASSWORD
from server.stock import repo as stock_repo
from server.stock.ledger import Move, MoveKind
from tests.circulation import add_title, op
from tests.conftest import CommandCounter
from tests.stats import chromium_page, page_login
from tests.web.test_browser import ARTIFACTS

SHOTS = ARTIFACTS  # tests/artifacts/ (git-ignored), like the other browser tests
XSG1, XSG2, GG1 = "JN-XSG-001", "JN-XSG-002", "JN-GG-001"
CATEGORIES = ("政经", "科技", "生活", "文化", "少儿", "其他")
THIS_YEAR = local_today().year




def text(html: str) -> str:
    """The page's text with tags and spacing removed, to look for figures."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


@pytest.fixture(scope="module")
async def data(seeded: Deps) -> dict[str, Any]:
    """JN-XSG-001: 3 政经 + 2 科技 books, 1 periodical, 1 disc, 1000 residents; every other room a
    random stock (seeded) through the ledger's writer; loan_stats for 2024 and this year."""
    deps, rng = seeded, random.Random(7)
    await deps.db.rooms.update_one({"code": XSG1}, {"$set": {"residents": 1000}})
    politics = await add_title(deps, category="政经")
    science = await add_title(deps, category="科技")
    paper = await add_title(deps, fmt="periodical", category="其他")
    disc = await add_title(deps, fmt="audio_visual", category="文化")
    moves = [Move(XSG1, politics, MoveKind.RECEIVE, 3), Move(XSG1, science, MoveKind.RECEIVE, 2),
             Move(XSG1, paper, MoveKind.RECEIVE, 1), Move(XSG1, disc, MoveKind.RECEIVE, 1)]
    others = [await add_title(deps, category=c) for c in CATEGORIES for _ in range(2)]
    others += [await add_title(deps, fmt="periodical", category="其他") for _ in range(2)]
    codes = [r["code"] for r in await deps.db.rooms.find({"code": {"$ne": XSG1}}, {"code": 1}).to_list()]
    for code in codes:
        moves += [Move(code, t, MoveKind.RECEIVE, rng.randint(20, 160)) for t in rng.sample(others, 6)]
    async with deps.mongo.start_session() as session:
        await stock_repo.apply_moves(deps.db, session, moves, op_id=op(), actor="system",
                                     at=datetime.now(UTC))
    stats = [{"_id": f"{XSG2}|2024-03|book|文化|adult", "room": XSG2, "month": "2024-03", "format": "book",
              "category": "文化", "age_group": "adult", "loans": 7, "returns": 5},
             {"_id": f"{GG1}|2024-05|book|少儿|child", "room": GG1, "month": "2024-05", "format": "book",
              "category": "少儿", "age_group": "child", "loans": 4}]
    for code in codes[:60]:
        for month in range(1, local_today().month + 1):
            category = rng.choice(CATEGORIES)
            stats.append({"_id": f"{code}|{THIS_YEAR}-{month:02d}|book|{category}|adult", "room": code,
                          "month": f"{THIS_YEAR}-{month:02d}", "format": "book", "category": category,
                          "age_group": "adult", "loans": rng.randint(0, 40), "returns": rng.randint(0, 30)})
    await deps.db.loan_stats.insert_many(stats)
    return {"codes": codes}


# -- /console/stock --------------------------------------------------------------------------------


async def test_stock_page_shows_each_room_totals_and_the_mix(base_url: str, data: dict[str, Any],
                                                             seeded: Deps) -> None:
    async with page_login(base_url, "admin") as http:
        response = await http.get("/console/stock", params={"town": "咸水沽镇", "q": "001"})
        assert response.status_code == 200, response.text
        html = response.text
        assert 'href="/console/rooms/JN-XSG-001"' in html and '<th scope="col"' in html and "<caption" in html
        row = text(html.split('href="/console/rooms/JN-XSG-001"')[1].split("</tr>")[0])
        assert re.search(r"咸水沽镇 5 2 1 1 1,000 0\.01", row), row
        assert "册数不足" in row and "报刊不足" in row and "图书册数 5 册，低于 1,500 册的标准" in html
        assert "合计（1 个）" in text(html)
        # The six classes of the one room: 3 政经 of 5 books = 60.0 % (target 4.0 %).
        mix = text(html.split('class="mix"')[1].split("</table>")[0])
        assert "政经 3 60.0% 4.0% +56.0" in mix and "科技 2 40.0% 40.0% +0.0" in mix
        assert 'href="/api/v1/exports/stock.xlsx?town=%E5%92%B8%E6%B0%B4%E6%B2%BD%E9%95%87&amp;q=001" download' in html

        whole = await http.get("/console/stock")
        assert f"合计（{await seeded.db.rooms.count_documents({})} 个）" in text(whole.text)


async def test_stock_page_sorts_and_filters(base_url: str, data: dict[str, Any], seeded: Deps) -> None:
    async with page_login(base_url, "clerk") as http:
        html = (await http.get("/console/stock", params={"town": "咸水沽镇", "sort": "volumes"})).text
        order = re.findall(r'<th scope="row" class="room"><a href="/console/rooms/([A-Z0-9-]+)"', html)
        assert order[0] == XSG1  # 5 volumes: the fewest
        assert 'aria-sort="ascending"' in html
        html = (await http.get("/console/stock", params={"town": "咸水沽镇", "sort": "volumes", "desc": "1"})).text
        assert re.findall(r'class="room"><a href="/console/rooms/([A-Z0-9-]+)"', html)[-1] == XSG1
        below = (await http.get("/console/stock", params={"below": "1"})).text
        assert "达标</span>" not in below.split("<tbody>")[1].split("</tbody>")[0]


async def test_town_coordinator_sees_their_towns_and_room_admin_nothing(base_url: str, data: dict[str, Any]) -> None:
    async with page_login(base_url, "xsg") as http:
        html = (await http.get("/console/stock")).text
        assert XSG1 in html and GG1 not in html and "咸水沽镇" in html
        loans = (await http.get("/console/loans", params={"year": 2024})).text
        assert GG1 not in loans and "葛沽镇" not in text(loans).split("各镇街借出")[1]
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        # A room administrator logs in on the phone pages; the same session has no console.
        await http.get("/m/login")
        response = await http.post("/m/login", data={"username": "jn-xsg-001", "password": DEMO_PASSWORD,
                                                     "_xsrf": http.cookies.get("_xsrf")})
        assert response.status_code == 302, response.text
        for path in ("/console/stock", "/console/loans"):
            assert (await http.get(path)).status_code == 403


# -- /console/loans ----------------------------------------------------------------------------------


async def test_loans_page_of_a_past_year(base_url: str, data: dict[str, Any]) -> None:
    async with page_login(base_url, "inspector") as http:
        html = (await http.get("/console/loans", params={"year": 2024})).text
        page = text(html)
        # March: 7 文化 loans; May: 4 少儿 loans; nothing else.
        assert "3月 0 0 0 7 0 0 7" in page and "5月 0 0 0 0 4 0 4" in page
        assert "合计 0 0 0 7 4 0 11" in page
        assert re.search(r"咸水沽镇 \d+ 0 0 7 0 0 0 0 0 0 0 0 0 7", page), page
        top = html.split('id="top-rooms"')[1].split("</table>")[0]
        assert 'href="/console/rooms/JN-XSG-002"' in top.split("</tr>")[1]  # the first row: 7 loans
        quarters = text((await http.get("/console/loans", params={"year": 2024, "cols": "quarter"})).text)
        assert re.search(r"葛沽镇 \d+ 0 4 0 0 4", quarters)
        assert 'href="/api/v1/exports/loans.xlsx?year=2024" download' in html


async def test_loans_page_this_year_and_the_export_link(base_url: str, data: dict[str, Any], seeded: Deps) -> None:
    rows = await seeded.db.loan_stats.find({"month": {"$regex": f"^{THIS_YEAR}-"}}).to_list()
    async with page_login(base_url, "admin") as http:
        html = (await http.get("/console/loans")).text
        assert f"{sum(r.get('loans', 0) for r in rows):,}" in text(html.split('class="loan-figures"')[1])
        assert len(re.findall(r'href="/console/rooms/', html.split('id="top-rooms"')[1])) == 20
        # The page's download link works with the page session (no Bearer token).
        response = await http.get(f"/api/v1/exports/loans.xlsx?year={THIS_YEAR}")
        assert response.status_code == 200
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).worksheets[0]
        assert sum(r[4] for r in sheet.iter_rows(min_row=2, values_only=True)) == sum(r.get("loans", 0) for r in rows)


@pytest.mark.parametrize(("path", "query"), [
    ("/console/loans", "year=abc"), ("/console/loans", "year=1800"), ("/console/loans", f"year={THIS_YEAR + 1}"),
    ("/console/loans", "cols=week"), ("/console/stock", "sort=name"), ("/console/stock", "below=perhaps"),
    ("/console/stock", "year=3000"), ("/console/stock", "zz=1"),
])
async def test_bad_query_is_a_422_page(base_url: str, data: dict[str, Any], path: str, query: str) -> None:
    async with page_login(base_url, "admin") as http:
        response = await http.get(f"{path}?{query}")
        assert response.status_code == 422, response.text[:300]
        assert response.headers["Content-Type"].startswith("text/html")


async def test_pages_query_each_collection_once(base_url: str, data: dict[str, Any],
                                                command_counter: CommandCounter) -> None:
    async with page_login(base_url, "admin") as http:
        seen = {}
        for path in ("/console/stock", "/console/loans"):
            for label, params in (("2 rooms", {"town": "咸水沽镇", "q": "00" if path.endswith("stock") else None}),
                                  ("20 rooms", {"town": "咸水沽镇"})):
                command_counter.reset()
                response = await http.get(path, params={k: v for k, v in params.items() if v})
                assert response.status_code == 200
                seen[(path, label)] = list(command_counter.commands)
        for path in ("/console/stock", "/console/loans"):
            assert seen[(path, "2 rooms")] == seen[(path, "20 rooms")], seen
        assert seen[("/console/stock", "20 rooms")] == ["find:staff", "find:rooms", "find:room_stats", "find:room_stats"]  # the folded figures (marker, rooms)
        assert seen[("/console/loans", "20 rooms")] == ["find:staff", "find:rooms", "find:loan_stats"]


# -- in Chromium ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shots() -> Path:
    SHOTS.mkdir(exist_ok=True)
    return SHOTS


def first_sheet(path: str) -> Any:
    return openpyxl.load_workbook(io.BytesIO(Path(path).read_bytes())).worksheets[0]


async def test_pages_in_chromium(base_url: str, data: dict[str, Any], shots: Path) -> None:
    async with chromium_page() as (page, errors):
        await page.goto(f"{base_url}/console/login?next=/console/stock")
        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", DEMO_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base_url}/console/stock")
        assert await page.locator("nav.mainnav a.active").inner_text() == "藏书与流通"
        assert await page.locator(".stock-tabs a.active").inner_text() == "藏书"
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
        await page.screenshot(path=shots / "stock-1366.png")
        await page.screenshot(path=shots / "stock-1366-full.png", full_page=True)
        async with page.expect_download() as download:
            await page.click("text=导出 Excel")
        done = await download.value
        assert done.suggested_filename == "藏书统计.xlsx"
        sheet = await asyncio.to_thread(first_sheet, str(await done.path()))
        assert sheet["A1"].value == "编号" and sheet.max_row == 111

        await page.click(".stock-tabs >> text=流通")
        await page.wait_for_url(f"{base_url}/console/loans")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
        await page.screenshot(path=shots / "loans-1366.png")
        await page.screenshot(path=shots / "loans-1366-full.png", full_page=True)

        await page.set_viewport_size({"width": 820, "height": 1180})  # a tablet, portrait
        for name in ("stock", "loans"):
            await page.goto(f"{base_url}/console/{name}")
            width = await page.evaluate("document.documentElement.scrollWidth")
            assert width <= 820, f"{name}: {width}px wide"
            await page.screenshot(path=shots / f"{name}-tablet.png")
        assert not errors, errors
