"""Helpers shared by the statistics tests: a console log-in like a browser's, and ledger moves."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx

from server.resources import Deps
from server.seed import DEMO_PASSWORD
from server.stock import repo as stock_repo
from server.stock.ledger import Move
from server.storage import in_transaction
from tests.conftest import check_invariants


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
