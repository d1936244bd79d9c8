"""The phone desk in a real browser: 360×740, WeChat's user agent, Debian's chromium.

Lend and return by typing, go offline and lend again (the queue shows 1), come back
online (the queue uploads through /m/sync and the outcome is shown), export the log;
the camera panel with a fake camera; receiving and stocktaking. No CSP complaints,
nothing wider than the screen, every control big enough for a thumb.
Screenshots go to tests/artifacts/phone-desk-*.png.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from server.circulation import holds as holds_service
from server.circulation import service as circulation
from server.circulation.models import HoldIn, LendIn
from server.resources import Deps
from server.seed import DEMO_PASSWORD
from server.staff import service as staff_service
from server.stock.service import check_ledger
from tests.circulation import add_reader, add_title, receive
from tests.web.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    HAVE_CHROMIUM,
    MIN_TOUCH_PX,
    WECHAT_UA,
    CspWatch,
)

ROOM = "JN-XSG-001"
SCANNED_ISBN = "9787536692930"  # what the fake camera shows: an EAN-13 barcode of this ISBN
TOUCH_CONTROLS = "main button:visible, main input:visible, main a.button:visible, main a.tile:visible, .netbar button"

# EAN-13 (ISO/IEC 15420): left digits in L or G code by the first digit's parity pattern, right digits in R.
_L = ("0001101", "0011001", "0010011", "0111101", "0100011", "0110001", "0101111", "0111011", "0110111", "0001011")
_R = tuple(code.translate(str.maketrans("01", "10")) for code in _L)
_G = tuple(code[::-1] for code in _R)
_PARITY = ("LLLLLL", "LLGLGG", "LLGGLG", "LLGGGL", "LGLLGG", "LGGLLG", "LGGGLL", "LGLGLG", "LGLGGL", "LGGLGL")


def ean13_modules(digits: str) -> str:
    left = "".join((_L if kind == "L" else _G)[int(d)] for d, kind in zip(digits[1:7], _PARITY[int(digits[0])], strict=True))
    right = "".join(_R[int(d)] for d in digits[7:])
    return "101" + left + "01010" + right + "101"


def barcode_video(path: Path, digits: str, width: int = 640, height: int = 480, module_px: int = 4) -> Path:
    """A still Y4M clip of a printed EAN-13, for chromium's --use-file-for-fake-video-capture."""
    modules = ean13_modules(digits)
    left = (width - len(modules) * module_px) // 2
    row = bytearray(b"\xff" * width)
    for i, bit in enumerate(modules):
        if bit == "1":
            row[left + i * module_px:left + (i + 1) * module_px] = b"\x00" * module_px
    blank = bytes(b"\xff" * width)
    luma = b"".join(bytes(row) if height // 6 <= y < height * 5 // 6 else blank for y in range(height))
    chroma = b"\x80" * (width // 2 * height // 2)
    frame = b"FRAME\n" + luma + chroma + chroma
    path.write_bytes(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode() + frame * 2)
    return path


@pytest_asyncio.fixture(scope="module")
async def browser(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium); browser tests need it")
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    clip = barcode_video(tmp_path_factory.mktemp("camera") / "isbn.y4m", SCANNED_ISBN)
    # A fake camera that films a barcode, and no permission prompt: the scanner really reads.
    camera = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
              f"--use-file-for-fake-video-capture={clip}"]
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS + camera)
        yield launched
        await launched.close()


@pytest_asyncio.fixture
async def phone(browser: Any, base_url: str) -> AsyncIterator[tuple[Any, Any, CspWatch]]:
    """A logged-in phone (jn-xsg-001) at the home page."""
    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
        user_agent=WECHAT_UA, locale="zh-CN", timezone_id="Asia/Shanghai", permissions=["camera"],
        accept_downloads=True,
    )
    page = await context.new_page()
    watch = CspWatch(page)
    try:
        await page.goto(f"{base_url}/m/login")
        await page.fill("input[name=username]", "jn-xsg-001")
        await page.fill("input[name=password]", DEMO_PASSWORD)
        await page.tap("button[type=submit]")
        await page.wait_for_url(f"{base_url}/m/")
        yield context, page, watch
    finally:
        await context.close()


async def fits_the_screen(page: Any, name: str) -> None:
    """No sideways scrolling, thumb-sized controls; then a full-page screenshot to look at."""
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360, name
    small = []
    for control in await page.locator(TOUCH_CONTROLS).all():
        box = await control.bounding_box()
        if box and box["height"] < MIN_TOUCH_PX:
            small.append((await control.evaluate("e => e.outerHTML.slice(0, 80)"), box["height"]))
    assert not small, f"{name}: controls under {MIN_TOUCH_PX}px: {small}"
    # What the thumb sees now, then the whole page from the top (sticky bars at their place).
    await page.screenshot(path=ARTIFACTS / f"phone-desk-{name}-screen.png")
    await page.evaluate("window.scrollTo(0, 0)")
    await page.screenshot(path=ARTIFACTS / f"phone-desk-{name}.png", full_page=True)


async def test_lend_return_offline_and_sync(seeded: Deps, base_url: str, phone: tuple[Any, Any, CspWatch]) -> None:
    context, page, watch = phone
    title_id = await add_title(seeded, title="平凡的世界", category="文化")
    await receive(seeded, ROOM, title_id, 2)
    held = await add_title(seeded, title="红岩")
    await receive(seeded, ROOM, held, 1)
    reader = await add_reader(seeded, ROOM, name="王小明")
    waiting = await add_reader(seeded, ROOM, name="赵等待")
    await circulation.lend(seeded, staff_service.SYSTEM, ROOM, LendIn(op_id=uuid.uuid4().hex, card_no=reader["card_no"],
                                                                      title_id=held))
    await holds_service.place_hold(seeded, staff_service.SYSTEM, HoldIn(
        op_id=uuid.uuid4().hex, card_no=waiting["card_no"], title_id=held, pickup_room=ROOM))

    # Home: every tile is a link now.
    assert await page.locator("a.tile").count() == 8
    await fits_the_screen(page, "home")

    # 借书: type the card (only its digits), Enter; type the ISBN, Enter; one tap to confirm.
    await page.tap("a.tile[href$='/lend']")
    await page.wait_for_url(f"{base_url}/m/rooms/{ROOM}/lend")
    await page.locator("#netbar[data-state=online]").wait_for()
    await page.fill("#card", str(int(reader["card_no"][2:])))
    await page.press("#card", "Enter")
    await page.locator("#reader-box .found-main").wait_for()
    assert "王小明" in await page.locator("#reader-box").inner_text()
    assert await page.evaluate("document.activeElement.id") == "book"
    await page.fill("#book", title_id)
    await page.press("#book", "Enter")
    await page.locator("#confirm:not([hidden])").wait_for()
    assert "《平凡的世界》" in await page.locator("#confirm-text").inner_text()
    assert "在架 2 册" in await page.locator("#book-box").inner_text()
    await fits_the_screen(page, "lend-confirm")
    await page.tap("#confirm-btn")
    await page.locator("#result.ok").wait_for()
    assert "已借出《平凡的世界》" in await page.locator("#result").inner_text()
    assert await page.locator("#queue-count").inner_text() == "0"
    await fits_the_screen(page, "lend-done")

    # 还书: type the ISBN, tap 还书.
    await page.goto(f"{base_url}/m/rooms/{ROOM}/return")
    await page.fill("#book", title_id)
    await page.tap("#return-form button[type=submit]")
    await page.locator("#result.ok").wait_for()
    assert "《平凡的世界》已归还" in await page.locator("#result").inner_text()
    # A book someone is waiting for: the page says so.
    await page.fill("#book", held)
    await page.tap("#return-form button[type=submit]")
    await page.locator("#result.hold").wait_for()
    assert "有读者预约了这本书" in await page.locator("#result").inner_text()
    await fits_the_screen(page, "return-hold")

    # Offline: the loan is written to the phone's log and waits.
    await page.goto(f"{base_url}/m/rooms/{ROOM}/lend")
    await page.locator("#netbar[data-state=online]").wait_for()
    await context.set_offline(True)
    await page.locator("#netbar[data-state=offline]").wait_for()
    await page.fill("#card", reader["card_no"])
    await page.press("#card", "Enter")
    await page.locator("#reader-box .found-main").wait_for()
    assert "无法核对读者" in await page.locator("#reader-box").inner_text()
    await page.fill("#book", title_id)
    await page.press("#book", "Enter")
    await page.locator("#confirm:not([hidden])").wait_for()
    await page.tap("#confirm-btn")
    await page.locator("#result.queued").wait_for()
    assert await page.locator("#queue-count").inner_text() == "1"
    await fits_the_screen(page, "offline-queued")
    assert await seeded.db.loans.count_documents({"title_id": title_id, "returned_at": None}) == 0

    # Back online: the queue uploads by itself and each outcome is shown.
    await context.set_offline(False)
    await page.locator("#sync-panel .outcome.applied").wait_for()
    await page.locator("#netbar[data-queue='0']").wait_for()
    assert "已办理" in await page.locator("#sync-panel").inner_text()
    await fits_the_screen(page, "synced")
    open_loans = await seeded.db.loans.find({"title_id": title_id, "returned_at": None}).to_list()
    assert len(open_loans) == 1

    # 续借: the reader's loans, one tap each.
    await page.goto(f"{base_url}/m/rooms/{ROOM}/renew")
    await page.fill("#card", reader["card_no"])
    await page.press("#card", "Enter")
    await page.locator("#loans-box .loan-row button").first.wait_for()
    await page.tap("#loans-box .loan-row button")
    await page.locator("#result.ok").wait_for()
    assert "已续借《平凡的世界》" in await page.locator("#result").inner_text()
    await fits_the_screen(page, "renew")

    # 阅览登记: a count, no loan.
    await page.goto(f"{base_url}/m/rooms/{ROOM}/inroom")
    await page.fill("#book", title_id)
    await page.tap(".stepper [data-step='1']")
    await page.tap("#inroom-form button[type=submit]")
    await page.locator("#result.ok").wait_for()
    assert "已登记 2 人次" in await page.locator("#result").inner_text()
    await fits_the_screen(page, "inroom")

    # The lists: today's loans and returns, and the overdue list.
    await page.goto(f"{base_url}/m/rooms/{ROOM}/today")
    assert "《平凡的世界》" in await page.locator("main").inner_text()
    await fits_the_screen(page, "today")
    await seeded.db.loans.update_one({"title_id": title_id, "returned_at": None},
                                     {"$set": {"due_at": datetime.now(UTC) - timedelta(days=3)}})
    await page.goto(f"{base_url}/m/rooms/{ROOM}/overdue")
    assert "逾期 3 天" in await page.locator("main").inner_text()
    await fits_the_screen(page, "overdue")

    # The phone's log, and its export to a file.
    await page.goto(f"{base_url}/m/rooms/{ROOM}/log")
    await page.locator("#log-list li.outcome").first.wait_for()
    assert await page.locator("#log-list li.outcome").count() == 6
    await fits_the_screen(page, "log")
    async with page.expect_download() as info:
        await page.tap("#export-btn")
    download = await info.value
    exported = json.loads((await download.path()).read_text())
    assert exported["kind"] == "shuwu-phone-log" and exported["room"] == ROOM
    entries = exported["entries"]
    assert [e["type"] for e in entries] == ["loan", "return", "return", "loan", "renew", "in_room_use"]
    assert len({e["device_id"] for e in entries}) == 1 and all(e["admin"] == "jn-xsg-001" for e in entries)
    assert entries[3]["outcome"]["via"] == "sync" and entries[0]["outcome"]["via"] == "online"
    assert all(e["outcome"]["outcome"] == "applied" for e in entries)
    assert all(e["at"][-6] in "+-" for e in entries), "event times carry their offset"
    watch.assert_clean()
    assert (await check_ledger(seeded))[1] == []


async def test_scanner_receive_and_stocktake(seeded: Deps, base_url: str, phone: tuple[Any, Any, CspWatch]) -> None:
    _, page, watch = phone
    await seeded.db.titles.insert_one({"_id": SCANNED_ISBN, "title": "三体", "author": "刘慈欣", "format": "book"})
    first, second = SCANNED_ISBN, await add_title(seeded, title="围城")

    # 收货 with the camera: the fake camera films the barcode of 三体; the scanner (loaded only
    # now) reads it into the field and the line is added. Typing stays the way back.
    await page.goto(f"{base_url}/m/rooms/{ROOM}/receive")
    assert await page.evaluate("typeof window.ZXingBrowser") == "undefined"
    await page.fill("#qty", "3")
    await page.tap("[data-scan-for=book]")
    await page.locator("#scanner:not([hidden])").wait_for()
    await page.screenshot(path=ARTIFACTS / "phone-desk-scanner.png")
    await page.locator("#scanner").wait_for(state="hidden", timeout=15000)
    await page.locator("#lines li:has-text('《三体》')").wait_for()
    assert SCANNED_ISBN in await page.locator("#lines").inner_text()

    # The rest by typing: the second title twice (merged into one line), then one tap.
    for code, quantity in ((second, "1"), (second, "1")):
        await page.fill("#book", code)
        await page.fill("#qty", quantity)
        await page.tap("#line-form button[type=submit]")
    await page.locator("#lines li:has-text('《围城》')").wait_for()
    assert await page.locator("#lines li").count() == 2
    assert "2 种 5 册" in await page.locator("#receive-btn").inner_text()
    await fits_the_screen(page, "receive")
    await page.tap("#receive-btn")
    await page.locator("#result.ok").wait_for()
    assert "已入库 2 种 5 册" in await page.locator("#result").inner_text()
    holding = await seeded.db.holdings.find_one({"room": ROOM, "title_id": first})
    assert holding["on_shelf"] == 3

    # 盘点: start, scan, finish (two taps), report.
    await page.goto(f"{base_url}/m/rooms/{ROOM}/stocktake")
    await page.tap("#st-start")
    await page.locator("#st-open:not([hidden])").wait_for()
    await page.fill("#book", first)
    await page.press("#book", "Enter")
    await page.locator("#scans li.ok").wait_for()
    assert "《三体》 已扫 1 / 应在架 3" in await page.locator("#scans").inner_text()
    assert await page.locator("#st-scanned").inner_text() == "1"
    await fits_the_screen(page, "stocktake")
    await page.tap("#st-finish")
    await page.tap("#st-finish")
    await page.locator("#st-report:not([hidden])").wait_for()
    report = await page.locator("#st-report").inner_text()
    assert "等待区馆审核" in report and "《三体》：应 3，扫到 1" in report
    await fits_the_screen(page, "stocktake-report")
    watch.assert_clean()
