"""JSON handlers for the WeChat mini-program (``/mp/v1/…``).

A reader's session token comes as ``Authorization: Bearer <token>`` and resolves to a
``Principal`` (a mini-program account), never to staff. Endpoints declare
``@endpoint(..., roles=None, reader=True)``; writes are rate-limited per account.
"""

from __future__ import annotations

from miniprogram_api.accounts import service as accounts
from miniprogram_api.accounts.principal import Principal
from server.errors import NotAuthenticated
from server.web.api import ApiHandler
from server.web.base import BaseHandler

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class MpHandler(ApiHandler):
    """Mini-program clients: a reader's Bearer token, problem+json errors."""

    principal: Principal | None = None

    async def prepare(self) -> None:
        await BaseHandler.prepare(self)  # not ApiHandler.prepare: staff tokens mean nothing here
        self.set_header("Cache-Control", "no-store")
        self.principal = None
        token = self.bearer_token()
        if token:
            self.principal = await accounts.principal_for_token(
                self.deps, token, request_id=self.request_id, ip=self.request.remote_ip or "")

    async def require_reader(self) -> Principal:
        if self.principal is None:
            raise NotAuthenticated("登录已过期，请重新登录", code="not_authenticated")
        if self.request.method in WRITE_METHODS:
            await accounts.check_write_rate(self.deps, self.principal)
        return self.principal

    @property
    def reader(self) -> Principal:
        """The calling account; only in ``reader=True`` endpoints (checked before the call)."""
        assert self.principal is not None
        return self.principal

    def bearer_token(self) -> str:
        scheme, _, token = self.request.headers.get("Authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""
