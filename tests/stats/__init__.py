"""Helpers shared by the statistics tests: a console log-in like a browser's, a page in a real
Chromium, and ledger moves."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from server.resources import Deps
from server.seed import DEMO_PASSWORD
from server.stock import repo as stock_repo
from server.stock.ledger import Move
from server.storage import in_transaction
from tests.conftest import check_invariants
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM


@contextlib.asynccontextmanager
async def page_login(base_url: str, username: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client logged in through the console's log-in form (cookie session, XSRF)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60, follow_redirects=False,
                                 event_hooks={"response": [check_invariants]}) as http:
        await http.get("/console/login")
        response = await http.post("/console/login", data={"username": username, "password": DEMO_PASSWORD,
                                                           "_xsrf": http.cookies.get("_xsrf")})
        assert response.status_code == 302, response.text
        yield http


async def moves(deps: Deps, at: datetime, *items: Move) -> None:
    """Apply ledger moves dated ``at`` in one transaction (as the stock services do)."""
    async def work(session: Any) -> None:
        await stock_repo.apply_moves(deps.db, session, list(items), op_id=uuid.uuid4().hex, actor="test", at=at)

    await in_transaction(deps.mongo, work)


@contextlib.asynccontextmanager
async def chromium_page() -> AsyncIterator[tuple[Any, list[str]]]:
    """A 1366×768 page in headless Chromium that accepts downloads, and the page errors and CSP
    complaints it collects (skipped where Debian's chromium is not installed)."""
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is not installed; browser tests need it")
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(viewport={"width": 1366, "height": 768}, locale="zh-CN",
                                                accept_downloads=True)
            page = await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("console", lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None)
            yield page, errors
        finally:
            await browser.close()
