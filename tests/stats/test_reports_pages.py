"""The console's 统计报表 page: every year's report and the exports, its roles, the download
through the page session, and a look at the rendered report (PNG via pdftoppm)."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import httpx
import pytest
from PIL import Image

from distribution.plans.history import load_history
from server.readers.service import local_today
from server.resources import Deps
from server.seed import DEMO_PASSWORD
from server.stats import service as stats_service
from tests.stats import chromium_page, page_login
from tests.web.test_browser import ARTIFACTS

YEAR = local_today().year
SHOTS = ARTIFACTS  # tests/artifacts/ (git-ignored), like the other browser tests


@pytest.fixture(scope="module")
async def history(seeded: Deps) -> Deps:
    """The 2012–2015 replenishment totals: the report's 历年配送 chart has bars."""
    await load_history(seeded)
    await stats_service.invalidate(seeded)  # the page's summaries cached this year's report before
    return seeded




async def test_the_page_lists_every_year_newest_first_with_links(seeded: Deps, base_url: str) -> None:
    async with page_login(base_url, "admin") as http:
        r = await http.get("/console/reports")
        assert r.status_code == 200, r.text
        html = r.text
        years = [int(y) for y in re.findall(r'<tr id="year-(\d{4})">', html)]
        assert years == list(range(YEAR, 2011, -1))
        for y in years:
            assert f'href="/api/v1/stats/annual-report.pdf?year={y}"' in html
        assert 'aria-current="page">统计报表' in html  # the navigation marks the page
        # A summary for the last three years only (each is a whole report's figures).
        assert html.count('class="reports-summary"') == len(years)
        assert len(re.findall(r"借阅 <strong>", html)) == 3
        for name in ("rooms", "stock", "loans", "shipments", "training", "ratings"):
            assert f'href="/api/v1/exports/{name}.xlsx"' in html, name
        assert "数据导出" in html and "/console/training/certificates.xlsx" in html

        # The link downloads with the page session alone (no Bearer token).
        pdf = await http.get(f"/api/v1/stats/annual-report.pdf?year={YEAR}")
        assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
        assert unquote(pdf.headers["Content-Disposition"].split("''")[1]) == f"津南区书屋年度报告-{YEAR}.pdf"
        assert pdf.content.startswith(b"%PDF")


async def test_who_sees_the_page(seeded: Deps, base_url: str) -> None:
    async with page_login(base_url, "inspector") as http:
        r = await http.get("/console/reports")
        assert r.status_code == 200
        assert "/console/training/certificates.xlsx" not in r.text  # that export is for district staff and trainers
    async with page_login(base_url, "xsg") as http:
        assert (await http.get("/console/reports")).status_code == 200
    async with httpx.AsyncClient(base_url=base_url, follow_redirects=False) as http:
        r = await http.get("/console/reports")
        assert r.status_code == 302 and r.headers["location"].startswith("/console/login")


async def test_a_room_administrator_has_no_console(seeded: Deps, base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30, follow_redirects=False) as http:
        await http.get("/m/login")
        r = await http.post("/m/login", data={"username": "jn-xsg-001", "password": DEMO_PASSWORD,
                                              "_xsrf": http.cookies.get("_xsrf")})
        assert r.status_code == 302
        assert (await http.get("/console/reports")).status_code == 403
        assert (await http.get(f"/api/v1/stats/annual-report.pdf?year={YEAR}")).status_code == 403


def rasterise(pdf: bytes, folder: Path) -> tuple[list[Path], int]:
    """Every page as a PNG (60 dpi), copied to SHOTS to look at; returns (pages, the most pixels in
    #0072B2 on one page — the section headings' rules have that colour too, a few hundred each)."""
    source = folder / "annual.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "60", "-png", str(source), str(folder / "page")], check=True, timeout=60)
    pages = sorted(folder.glob("page-*.png"))
    with contextlib.suppress(OSError):
        SHOTS.mkdir(parents=True, exist_ok=True)
        for old in SHOTS.glob(f"annual_{YEAR}_page-*.png"):
            old.unlink()
        for page in pages:
            shutil.copy(page, SHOTS / f"annual_{YEAR}_{page.stem}.png")
    inked = 0
    for page in pages:
        image = Image.open(page).convert("RGB")
        pixels = list(getattr(image, "get_flattened_data", image.getdata)())
        dark = sum(1 for r, g, b in pixels if r + g + b < 600)
        assert dark / len(pixels) > 0.002, f"{page.name} is blank"
        inked = max(inked, sum(1 for r, g, b in pixels if b > 150 and r < 60 and 80 < g < 150))
    return pages, inked


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is not installed")
async def test_the_report_renders_charts_that_are_not_empty(history: Deps, base_url: str, tmp_path: Path) -> None:
    """Rasterised, every page carries ink and the charts draw bars in the palette's first colour."""
    async with page_login(base_url, "admin") as http:
        pdf = await http.get(f"/api/v1/stats/annual-report.pdf?year={YEAR}")
    assert pdf.status_code == 200
    pages, inked = await asyncio.to_thread(rasterise, pdf.content, tmp_path)
    assert len(pages) >= 4
    # The bars of 历年配送 are thousands of pixels; a heading's rule and a legend swatch under a thousand.
    assert inked > 2500, f"the charts drew almost nothing in the first series' colour ({inked} px)"


async def test_in_chromium_the_page_works_by_keyboard_and_downloads_the_report(history: Deps, base_url: str) -> None:
    async with chromium_page() as (page, errors):
        await page.goto(f"{base_url}/console/reports")
        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", DEMO_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base_url}/console/reports")
        assert await page.locator("h1").inner_text() == "统计报表"
        # Nothing wider than an office screen.
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
        with contextlib.suppress(OSError):
            await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
            await page.screenshot(path=str(SHOTS / "reports_page.png"), full_page=True)
        link = page.locator(f'a[href="/api/v1/stats/annual-report.pdf?year={YEAR - 1}"]')
        await link.focus()  # a plain link: reachable and usable by keyboard
        async with page.expect_download() as waiting:
            await page.keyboard.press("Enter")
        download = await waiting.value
        assert download.suggested_filename == f"津南区书屋年度报告-{YEAR - 1}.pdf"
        path = await download.path()
        pages, text = await asyncio.to_thread(_read_pdf, Path(path))
        assert pages >= 2 and f"年度报告（{YEAR - 1}年）" in "".join(text.split())
        await page.set_viewport_size({"width": 800, "height": 1100})  # a tablet
        assert await page.evaluate("document.documentElement.scrollWidth") <= 820
        assert not errors, errors


def _read_pdf(path: Path) -> tuple[int, str]:
    from pypdf import PdfReader

    reader = PdfReader(str(path))
    return len(reader.pages), "\n".join(p.extract_text() or "" for p in reader.pages)
