"""Mini-program fixtures: the fake WeChat server's control API and logged-in readers.

A reader logs in exactly as the mini-program does: the fake WeChat server mints a
one-time ``wx.login`` code for an openid, and ``POST /mp/v1/session`` exchanges it.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest_asyncio

from miniprogram_api.accounts.models import CHILD_RULES_VERSION
from ops.fake_wechat.client import FakeWeChatControl
from ops.stack import Stack
from server.resources import Deps

HOME_ROOM = "JN-XSG-001"
_openids = itertools.count(1)


@dataclass
class MpUser:
    """A logged-in mini-program account: its openid, token and own (self) member."""

    openid: str
    token: str
    account_id: str
    member_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def op_id() -> str:
    return uuid.uuid4().hex


@pytest_asyncio.fixture(scope="module")
async def fake_wechat(stack: Stack) -> AsyncIterator[FakeWeChatControl]:
    assert stack.wechat_base
    control = FakeWeChatControl(stack.wechat_base)
    # The real limit is per app and generous; tests log in many readers within a second.
    # (test_wechat.py lowers it on purpose and sets it back.)
    await control.rate_limit(10_000)
    yield control
    await control.aclose() if hasattr(control, "aclose") else None


async def mp_login(
    client: httpx.AsyncClient, fake_wechat: FakeWeChatControl, openid: str
) -> dict[str, Any]:
    code = await fake_wechat.login_code(openid)
    response = await client.post("/mp/v1/session", json={"code": code})
    assert response.status_code == 201, response.text
    return response.json()


MakeUser = Callable[..., Awaitable[MpUser]]


@pytest_asyncio.fixture(scope="module")
async def make_user(
    seeded: Deps, client: httpx.AsyncClient, fake_wechat: FakeWeChatControl
) -> MakeUser:
    """``await make_user(name="王芳", birth_year=1985, room=HOME_ROOM)``: a new account with its profile."""

    async def make(
        name: str = "王芳",
        birth_year: int = 1985,
        room: str = HOME_ROOM,
        school: str | None = None,
        openid: str | None = None,
    ) -> MpUser:
        openid = openid or f"o-test-{uuid.uuid4().hex[:12]}-{next(_openids)}"
        session = await mp_login(client, fake_wechat, openid)
        headers = {"Authorization": f"Bearer {session['token']}"}
        body: dict[str, Any] = {"name": name, "birth_year": birth_year, "home_room": room}
        if school:
            body["school"] = school
        response = await client.put("/mp/v1/me/profile", json=body, headers=headers)
        assert response.status_code == 200, response.text
        return MpUser(openid, session["token"], session["account"]["id"], response.json()["id"])

    return make


AddChild = Callable[..., Awaitable[dict[str, Any]]]


@pytest_asyncio.fixture(scope="module")
async def add_child(client: httpx.AsyncClient) -> AddChild:
    """``await add_child(user, name="小明", birth_year=2016)`` → the child member (JSON)."""

    async def add(
        user: MpUser,
        name: str = "王小明",
        birth_year: int = 2016,
        room: str = HOME_ROOM,
        school: str | None = "咸水沽第一小学",
        class_name: str | None = "三年级二班",
    ) -> dict[str, Any]:
        body = {
            "op_id": op_id(),
            "name": name,
            "birth_year": birth_year,
            "home_room": room,
            "relation": "母亲",
            "consent": {"version": CHILD_RULES_VERSION, "agreed": True},
            "school": school,
            "class_name": class_name,
        }
        response = await client.post("/mp/v1/me/children", json=body, headers=user.headers)
        assert response.status_code == 201, response.text
        return response.json()

    return add
