"""The 总览 page in headless Chromium: the ECharts charts carry their figures, the Leaflet map
shows town clusters then rooms, recolours them by layer and opens a room's page, the keyboard
reaches the layer select and the room table, and it fits a 1366×768 screen and a tablet.
Screenshots go to tests/artifacts/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from server.resources import Deps
from server.seed import DEMO_PASSWORD
from tests.stats.test_dashboard_page import STOCKED, build_dashboard_data
from tests.web.test_browser import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM, CspWatch

SHOTS = ARTIFACTS  # tests/artifacts/ (git-ignored), like the other browser tests
SHOTS.mkdir(parents=True, exist_ok=True)


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is not installed; browser tests need it")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest_asyncio.fixture(scope="module")
async def data(seeded: Deps) -> dict[str, Any]:
    return await build_dashboard_data(seeded)


def watch_console(page: Any) -> list[str]:
    """Every console error and page error (CspWatch only keeps CSP reports)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    return errors


async def log_in(page: Any, base_url: str, username: str = "admin") -> None:
    await page.goto(f"{base_url}/console/")
    assert "/console/login" in page.url
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", DEMO_PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base_url}/console/")
    await page.wait_for_selector("body[data-dashboard-ready='1']")


CHART_SERIES = """() => Array.from(document.querySelectorAll('.chart-box')).map(el => {
  const inst = echarts.getInstanceByDom(el);
  if (!inst) { return {id: el.id, instance: false}; }
  const opt = inst.getOption();
  return {id: el.id, instance: true, height: el.getBoundingClientRect().height,
          series: opt.series.map(s => ({name: s.name, type: s.type,
            values: s.data.map(v => (v === '-' || v === null) ? null : Number(v))}))};
})"""
ROOM_FILLS = """() => Array.from(document.querySelectorAll('#dash-map path.dm-room'))
  .map(p => p.getAttribute('aria-label') + '=' + p.getAttribute('fill'))"""


async def test_dashboard_in_chromium(data, base_url, browser):
    context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN")
    page = await context.new_page()
    csp = CspWatch(page)
    errors = watch_console(page)
    try:
        await log_in(page, base_url)
        body = await page.evaluate("JSON.parse(document.getElementById('dashboard-data').textContent)")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
        await page.screenshot(path=SHOTS / "dashboard-1366-top.png")
        await page.screenshot(path=SHOTS / "dashboard-1366-full.png", full_page=True)

        # Every chart drawn by ECharts has figures in it; an empty one would be a failure.
        charts = await page.evaluate(CHART_SERIES)
        assert len(charts) >= 4, charts
        for chart in charts:
            assert chart["instance"], chart["id"]
            assert chart["height"] > 200, chart
            assert chart["series"], chart["id"]
            assert any(v for s in chart["series"] for v in s["values"]), chart
        keys = {c["id"].removeprefix("chart-") for c in charts}
        assert {"loans_by_month", "stock_by_category", "replenishment_by_year", "challenge_by_town"} <= keys
        stock = next(c for c in charts if c["id"] == "chart-stock_by_category")
        assert [s["type"] for s in stock["series"]] == ["bar", "line"]
        await page.locator("#fig-loans_by_month").screenshot(path=SHOTS / "chart-loans.png")

        # The map: one marker per town first, then the rooms once zoomed into a town.
        map_el = page.locator("#dash-map")
        await map_el.scroll_into_view_if_needed()
        assert await map_el.get_attribute("data-mode") == "towns"
        assert await page.locator("#dash-map path.dm-town").count() >= 3
        assert await page.locator("#map-legend li").count() >= 3
        await map_el.screenshot(path=SHOTS / "map-towns.png")
        xsg = page.locator('#dash-map path.dm-town[aria-label^="咸水沽镇"]')
        await xsg.click()
        await page.wait_for_selector("#dash-map[data-mode='rooms']")
        assert await page.locator("#dash-map path.dm-room").count() == len(body["map"]["rooms"])
        # every room marker is a focusable button with a spoken label, from the first layer on
        labelled = page.locator('#dash-map path.dm-room[tabindex="0"][role="button"][aria-label*="藏书量"]')
        assert await labelled.count() == len(body["map"]["rooms"])
        await page.wait_for_timeout(300)  # let Leaflet finish the zoom before the picture
        await map_el.screenshot(path=SHOTS / "map-rooms-volumes.png")

        # Switching the layer recolours the markers (the stocked rooms differ in loans).
        before = await page.evaluate(ROOM_FILLS)
        await page.select_option("#map-layer", "loans_per_month")
        after = await page.evaluate(ROOM_FILLS)
        assert len(before) == len(after) and before != after
        assert await map_el.get_attribute("data-layer") == "loans_per_month"
        fills = {f.rsplit("=", 1)[1] for f in after}
        assert len(fills) >= 2, fills  # stocked and unstocked rooms are in different classes
        assert "册次" in await page.locator("#map-legend").inner_text()
        await map_el.screenshot(path=SHOTS / "map-rooms-loans.png")

        # Enter on a focused room marker opens its popup and moves the focus to the room's link.
        other = next(r for r in body["map"]["rooms"] if r["code"] == STOCKED[1])
        await page.locator(f'#dash-map path.dm-room[aria-label^="{other["name"]}，"]').focus()
        await page.keyboard.press("Enter")
        await page.locator(".leaflet-popup-content").wait_for()
        focused = await page.evaluate("document.activeElement.getAttribute('href')")
        assert focused == f"/console/rooms/{STOCKED[1]}"

        # Clicking a room opens its popup; the popup's link opens the room page.
        room = next(r for r in body["map"]["rooms"] if r["code"] == STOCKED[0])
        marker = page.locator(f'#dash-map path.dm-room[aria-label^="{room["name"]}，"]')
        await marker.click()
        popup = page.locator(".leaflet-popup-content", has_text=room["code"])
        await popup.wait_for()
        assert room["name"] in await popup.inner_text()
        await page.wait_for_timeout(400)  # Leaflet fades the popup in
        await map_el.screenshot(path=SHOTS / "map-popup.png")
        await popup.locator("a").click()
        await page.wait_for_url(f"{base_url}/console/rooms/{STOCKED[0]}")

        # The keyboard reaches the layer select, and the room table (the map's alternative).
        await page.goto(f"{base_url}/console/")
        await page.wait_for_selector("body[data-dashboard-ready='1']")
        reached: set[str] = set()
        for _ in range(250):
            await page.keyboard.press("Tab")
            where = await page.evaluate("""() => { const a = document.activeElement;
                return a.id || (a.closest('#map-table') ? 'map-table' : '') || (a.classList.contains('dm-town') ? 'town' : ''); }""")
            reached.add(where)
            if where == "map-table":
                break
        assert "map-layer" in reached and "map-table" in reached, reached
        assert "town" in reached  # the town markers are focusable too
        await page.keyboard.press("Enter")  # opens the table
        table = page.locator("#map-table tbody tr")
        assert await table.count() == len(body["map"]["rooms"])
        await page.locator("#map-table th button[data-sort=value]").click()
        first_code = await page.locator("#map-table tbody tr td.code a").first.inner_text()
        assert first_code in STOCKED  # the highest value first
        await page.locator("#map-table").screenshot(path=SHOTS / "map-table.png")

        csp.assert_clean()
        assert not errors, errors
    finally:
        await context.close()


async def test_dashboard_on_a_tablet(data, base_url, browser):
    context = await browser.new_context(viewport={"width": 768, "height": 1024}, locale="zh-CN", has_touch=True)
    page = await context.new_page()
    errors = watch_console(page)
    try:
        await log_in(page, base_url, "xsg")
        assert await page.evaluate("document.documentElement.scrollWidth") <= 768
        charts = await page.evaluate(CHART_SERIES)
        assert charts and all(c["instance"] and c["series"] for c in charts)
        await page.screenshot(path=SHOTS / "dashboard-tablet.png", full_page=True)
        assert not errors, errors
    finally:
        await context.close()
