"""The console and the phone pages in a real browser (Debian's chromium through Playwright).

The app runs in this test's event loop, so only Playwright's async API is used here.
Screenshots go to tests/artifacts/ (git-ignored) for people to look at.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from server.resources import Deps
from server.seed import DEMO_PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
HAVE_CHROMIUM = CHROMIUM.exists()
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# WeChat's built-in browser on a cheap Android phone.
WECHAT_UA = ("Mozilla/5.0 (Linux; Android 10; V2036A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
             "Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5169 MMWEBSDK/20230303 MicroMessenger/8.0.34.2340 "
             "WeChat/arm64 NetType/WIFI Language/zh_CN")
MIN_TOUCH_PX = 44


@pytest_asyncio.fixture(scope="module")
async def browser() -> AsyncIterator[object]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); browser tests need it")
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


class CspWatch:
    """Collects what the browser says about Content-Security-Policy violations and page errors."""

    def __init__(self, page: object) -> None:
        self.problems: list[str] = []
        page.on("console", self._console)  # type: ignore[attr-defined]
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))  # type: ignore[attr-defined]

    def _console(self, message: object) -> None:
        text = message.text  # type: ignore[attr-defined]
        if "Content Security Policy" in text or "Content-Security-Policy" in text:
            self.problems.append(text)

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems)


async def no_overlaps(page: object, selector: str) -> list[tuple[int, int]]:
    """Pairs of elements matching ``selector`` whose boxes overlap on screen."""
    boxes = [await element.bounding_box() for element in await page.locator(selector).all()]  # type: ignore[attr-defined]
    return [(i, j) for (i, a), (j, b) in itertools.combinations(enumerate(boxes), 2)
            if a and b and a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"]]


async def test_console_rooms_map_and_room_page(seeded: Deps, base_url: str, browser: object) -> None:
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")  # type: ignore[attr-defined]
    page = await context.new_page()
    watch = CspWatch(page)
    try:
        await page.goto(f"{base_url}/console/rooms")
        assert page.url.startswith(f"{base_url}/console/login?next=")
        await page.screenshot(path=ARTIFACTS / "console-login.png")

        await page.fill("input[name=username]", "admin")
        await page.fill("input[name=password]", DEMO_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url(f"{base_url}/console/rooms")
        assert "110" in await page.locator("h1 .count").inner_text()
        assert await page.locator("table.rooms tbody tr").count() == 50
        # 总览, 书屋, 藏书与流通, 离线冲突, 年度配送, 培训, 评选, 统计报表
        assert await page.locator("nav.mainnav a").count() == 8
        assert await page.locator("nav.mainnav .soon").count() == 0

        svg = page.locator("svg.map")
        await svg.wait_for()
        assert await svg.locator("circle.dot").count() == 110
        box = await svg.bounding_box()
        assert box and box["width"] > 300
        # Drawn to scale: the district box is about as tall as it is wide once longitude is
        # shrunk by cos(latitude) (0.34° × 0.44° at 39° N).
        assert 0.95 < box["height"] / box["width"] < 1.05
        assert await no_overlaps(page, "svg.map .towns text") == []
        assert await page.evaluate("document.documentElement.scrollWidth") <= 1366
        await page.screenshot(path=ARTIFACTS / "console-rooms.png", full_page=True)
        await svg.screenshot(path=ARTIFACTS / "console-map.png")

        # Each dot is a link to its room, with a tooltip.
        dot = svg.locator('a[href="/console/rooms/JN-XSG-001"]')
        assert "JN-XSG-001" in await dot.locator("title").text_content()
        await dot.click()
        await page.wait_for_url(f"{base_url}/console/rooms/JN-XSG-001")
        assert "南华营村农家书屋" in await page.locator("h1").inner_text()
        assert await page.locator("svg.map circle.dot").count() == 1
        assert await page.locator("table.hours th").count() == 7
        await page.screenshot(path=ARTIFACTS / "console-room.png", full_page=True)

        await page.goto(f"{base_url}/console/no-such-page")
        assert "没有找到这个页面" in await page.locator("h1").inner_text()
        await page.screenshot(path=ARTIFACTS / "console-404.png")
        watch.assert_clean()
    finally:
        await context.close()


async def test_phone_home_fits_360px(seeded: Deps, base_url: str, browser: object) -> None:
    context = await browser.new_context(  # type: ignore[attr-defined]
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
        user_agent=WECHAT_UA, locale="zh-CN",
    )
    page = await context.new_page()
    watch = CspWatch(page)
    try:
        await page.goto(f"{base_url}/m/")
        assert page.url.startswith(f"{base_url}/m/login?next=")
        for control in ("input[name=username]", "input[name=password]", "button[type=submit]"):
            box = await page.locator(control).bounding_box()
            assert box and box["height"] >= MIN_TOUCH_PX and box["width"] >= 280, control
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await page.screenshot(path=ARTIFACTS / "phone-login.png")

        await page.fill("input[name=username]", "jn-xsg-001")
        await page.fill("input[name=password]", DEMO_PASSWORD)
        await page.tap("button[type=submit]")
        await page.wait_for_url(f"{base_url}/m/")
        assert "南华营村农家书屋" in await page.locator(".room-card h1").inner_text()
        assert await page.locator(".now strong").inner_text() in {"正在开放", "现在闭馆"}
        assert await page.locator("details.week li").count() == 7
        tiles = page.locator("a.tile")  # the desk pages: tests/web/test_phone_browser.py
        assert await tiles.count() == 8
        for tile in await tiles.all():
            box = await tile.bounding_box()
            assert box and box["height"] >= MIN_TOUCH_PX
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await page.screenshot(path=ARTIFACTS / "phone-home.png", full_page=True)

        # The console refuses a room administrator, kindly and on a phone-sized page.
        await page.goto(f"{base_url}/console/rooms")
        assert "无权访问" in await page.locator("h1").inner_text()
        assert await page.evaluate("document.documentElement.scrollWidth") <= 360
        await page.screenshot(path=ARTIFACTS / "phone-console-403.png")
        watch.assert_clean()
    finally:
        await context.close()
