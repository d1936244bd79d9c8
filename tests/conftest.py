"""The real embedded stack for every test: one SecantusDB and one redis-server per
session on free ports, a fresh database per test module, the real app from
make_app on a random port. No mongomock, no fakeredis, no fake repositories.
"""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio
from pymongo import monitoring
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from ops.stack import Stack, temporary_stack
from server.app import make_app
from server.config import Settings, load_settings
from server.resources import Deps, open_resources
from server.seed import DEMO_PASSWORD, seed_demo

_redis_dbs = itertools.cycle(range(16))
# Subscribe-message template ids by event, as a district configures them (SHUWU_WECHAT_TEMPLATES).
TEST_TEMPLATES = {event: f"tmpl-{event}" for event in (
    "hold_ready", "due_tomorrow", "overdue", "suggestion_status", "challenge_milestone", "contest_result",
    "prize_won", "rating_result")}


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    with temporary_stack() as running:
        yield running


@pytest.fixture(scope="module")
def settings(stack: Stack, request: pytest.FixtureRequest) -> Settings:
    name = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])[:40]
    return load_settings(
        {},
        mode="test",
        mongo_url=stack.mongo_url,
        mongo_db=f"t_{name}_{uuid.uuid4().hex[:8]}",
        redis_url=f"redis://127.0.0.1:{stack.redis_port}/{next(_redis_dbs)}",
        port=0,
        shutdown_deadline_secs=2.0,
        wechat_api_base=stack.wechat_base,
        wechat_templates=TEST_TEMPLATES,
        miniprogram_state="developer",
        # Tests send many requests per minute from one address and account; the tests of the
        # limits themselves lower these (tests/miniprogram_api/test_accounts.py).
        mp_login_per_minute=100_000,
        mp_writes_per_minute=100_000,
    )


class CommandCounter(monitoring.CommandListener):
    """Counts the Mongo commands an operation sends (HOW_WE_BUILD §6: no query in a loop)."""

    IGNORED = {"hello", "isMaster", "ismaster", "ping", "endSessions", "saslStart", "saslContinue",
               "buildInfo", "getMore", "killCursors", "abortTransaction"}

    def __init__(self) -> None:
        self.commands: list[str] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name not in self.IGNORED:
            self.commands.append(f"{event.command_name}:{event.command.get(event.command_name)}")

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def reset(self) -> None:
        self.commands.clear()


@pytest.fixture(scope="module")
def command_counter() -> CommandCounter:
    return CommandCounter()


@pytest_asyncio.fixture(scope="module")
async def deps(settings: Settings, command_counter: CommandCounter) -> AsyncIterator[Deps]:
    async with open_resources(settings, mongo_listeners=[command_counter]) as opened:
        await opened.redis.flushdb()
        yield opened
        # No drop_database: the whole stack is throw-away and dropping costs seconds per module.


@pytest_asyncio.fixture(scope="module")
async def seeded(deps: Deps) -> Deps:
    """The Jinnan demo data (110 rooms, their administrators, district staff)."""
    await seed_demo(deps, content=False)  # tests make the challenges and contests they need
    return deps


@pytest_asyncio.fixture(scope="module")
async def base_url(deps: Deps) -> AsyncIterator[str]:
    app = make_app(deps)
    server = HTTPServer(app, xheaders=True, max_body_size=deps.settings.max_body_bytes * 4)
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    server.stop()
    await server.close_all_connections()


# Declared binary answers (``@endpoint(media_type=...)``): QR codes, certificates, exports.
BINARY_TYPES = ("image/png", "image/jpeg", "application/pdf", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "X-Request-Id")


async def check_invariants(response: httpx.Response) -> None:
    """Cross-cutting rules every response must keep (HOW_WE_BUILD §9)."""
    await response.aread()
    path = response.request.url.path
    assert response.status_code < 500 or path == "/readyz", f"{response.request.method} {path} -> {response.status_code}: {response.text[:500]}"
    for header in SECURITY_HEADERS:
        assert header in response.headers, f"{path}: missing {header}"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    if 300 <= response.status_code < 400:
        return
    ctype = response.headers.get("Content-Type", "")
    if path.startswith(("/api/", "/m/api/", "/mp/")) or path in {"/healthz", "/readyz", "/m/sync"}:
        if response.status_code >= 400:
            assert ctype.startswith("application/problem+json"), f"{path}: {ctype}"
            body = response.json()
            assert {"type", "title", "status", "detail", "code", "errors"} <= body.keys(), body
            assert body["status"] == response.status_code
        elif response.status_code != 204:
            assert ctype.startswith(("application/json", *BINARY_TYPES)), f"{path}: {ctype}"
    elif path.endswith((".pdf", ".xlsx", ".png", ".jpg")) and response.status_code == 200:
        assert ctype.startswith(BINARY_TYPES), f"{path}: {ctype}"  # a page's download link
    elif response.status_code != 204:
        assert ctype.startswith("text/") or ctype.startswith("image/") or "javascript" in ctype, f"{path}: {ctype}"


@pytest_asyncio.fixture(scope="module")
async def client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose every response is checked by ``check_invariants``."""
    async with httpx.AsyncClient(base_url=base_url, event_hooks={"response": [check_invariants]},
                                 timeout=30) as http:
        yield http


@dataclass
class Session:
    """A logged-in staff member's Authorization header."""

    username: str
    token: str
    staff: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def login(client: httpx.AsyncClient, username: str, password: str = DEMO_PASSWORD) -> Session:
    response = await client.post("/api/v1/auth/token", json={"username": username, "password": password})
    assert response.status_code == 201, response.text
    body = response.json()
    return Session(username, body["token"], body["staff"])


@pytest_asyncio.fixture(scope="module")
async def as_role(seeded: Deps, client: httpx.AsyncClient) -> dict[str, Session]:
    """One logged-in demo account per role; room_admin is JN-XSG-001's, room_admin_other JN-GG-001's,
    town_coordinator covers 咸水沽镇."""
    accounts = {
        "district_admin": "admin", "district_staff": "clerk", "town_coordinator": "xsg",
        "inspector": "inspector", "trainer": "trainer", "room_admin": "jn-xsg-001", "room_admin_other": "jn-gg-001",
    }
    return {role: await login(client, username) for role, username in accounts.items()}
