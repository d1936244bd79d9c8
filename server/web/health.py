"""Liveness and readiness for load balancers and systemd."""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from server.web.api import ApiHandler, endpoint

READY_TIMEOUT_SECS = 2.0


class Health(BaseModel):
    status: str = Field(description="ok, or unavailable")
    checks: dict[str, str] = Field(default_factory=dict)


class HealthzHandler(ApiHandler):
    @endpoint(summary="进程存活", roles=None, response=Health, tags=["ops"])
    async def get(self) -> Health:
        return Health(status="ok")


class ReadyzHandler(ApiHandler):
    @endpoint(summary="可以接收请求（MongoDB 与 Redis 可达）", roles=None, response=Health, tags=["ops"], also=(503,),
              description="503 with the same body, status unavailable, when MongoDB or Redis is not reachable.")
    async def get(self) -> Health:
        checks = {"mongo": await self._check(self.deps.db.command("ping")),
                  "redis": await self._check(self.deps.redis.ping())}
        ok = all(v == "ok" for v in checks.values())
        if not ok:
            self.set_status(503)
        return Health(status="ok" if ok else "unavailable", checks=checks)

    def respond(self, result: BaseModel | None, status: int = 200) -> None:
        super().respond(result, self.get_status() if self.get_status() != 200 else status)

    @staticmethod
    async def _check(awaitable: object) -> str:
        try:
            await asyncio.wait_for(awaitable, READY_TIMEOUT_SECS)  # type: ignore[arg-type]
            return "ok"
        except Exception as exc:  # any failure means "not ready", whatever its type
            return f"error: {type(exc).__name__}"


routes = [(r"/healthz", HealthzHandler), (r"/readyz", ReadyzHandler)]
