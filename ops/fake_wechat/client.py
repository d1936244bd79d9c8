"""Steer a running fake WeChat server from tests and the demo (its ``/_fake/`` endpoints).

async with FakeWeChatControl(stack.wechat_base) as fake:
    code = await fake.login_code("o_reader_1", unionid="u_1")
    await fake.accept("o_reader_1", "TPL_HOLD_READY", count=2)
    await fake.fail_next("/wxa/msg_sec_check", -1, times=1)
    sent = await fake.sent(touser="o_reader_1")
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

import httpx

CONTROL_TIMEOUT_SECS = 10.0


class FakeWeChatControl:
    """Async client of the fake's control API. Each method raises ``httpx.HTTPStatusError``
    if the fake refuses the request (400 with ``{"error": ...}``)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=CONTROL_TIMEOUT_SECS)

    async def __aenter__(self) -> FakeWeChatControl:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = await self._http.post(f"/_fake/{path}", json=body or {})
        response.raise_for_status()
        return response.json()

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        response = await self._http.get(f"/_fake/{path}", params=params)
        response.raise_for_status()
        return response.json()

    async def login_code(
        self, openid: str, unionid: str | None = None, *, ttl_secs: float | None = None
    ) -> str:
        """A new one-time ``wx.login`` code for ``openid`` (created if new); ``ttl_secs=0``
        gives an already expired code."""
        body: dict[str, Any] = {"openid": openid}
        if unionid is not None:
            body["unionid"] = unionid
        if ttl_secs is not None:
            body["ttl_secs"] = ttl_secs
        return str((await self._post("login_codes", body))["code"])

    async def phone_code(self, phone: str, *, ttl_secs: float | None = None) -> str:
        """A new one-time ``getPhoneNumber`` code for ``phone`` (11 digits, no country code)."""
        body: dict[str, Any] = {"phone": phone}
        if ttl_secs is not None:
            body["ttl_secs"] = ttl_secs
        return str((await self._post("phone_codes", body))["code"])

    async def accept(self, openid: str, template_id: str, count: int = 1) -> int:
        """The user taps "allow" ``count`` times for ``template_id``; returns the consents left."""
        body = {"openid": openid, "template_id": template_id, "count": count}
        return int((await self._post("accept", body))["remaining"])

    async def block(self, openid: str, blocked: bool = True) -> None:
        """Mark ``openid`` high-risk: its log-ins answer 40226."""
        await self._post("block", {"openid": openid, "blocked": blocked})

    async def rate_limit(self, per_second: int) -> None:
        """jscode2session calls per second allowed before 45011 (default 30)."""
        await self._post("rate_limit", {"per_second": per_second})

    async def fail_next(self, path: str, errcode: int, times: int = 1) -> None:
        """The next ``times`` calls to ``path`` (e.g. "/wxa/msg_sec_check") answer ``errcode``."""
        await self._post("fail_next", {"path": path, "errcode": errcode, "times": times})

    async def revoke_tokens(self) -> None:
        """End every access token (as if WeChat expired them): next calls get 40001."""
        await self._post("revoke_tokens")

    async def sent(self, touser: str | None = None) -> list[dict[str, Any]]:
        """Every subscribe message sent successfully, oldest first (optionally to one user)."""
        result = await self._get("sent", {"touser": touser} if touser else None)
        return list(result)

    async def calls(self) -> dict[str, int]:
        """Calls per WeChat path (e.g. "/cgi-bin/stable_token") since start or reset."""
        return dict(await self._get("calls"))

    async def reset(self) -> None:
        """Forget all users, codes, tokens, consents, sends and counts."""
        await self._post("reset")
