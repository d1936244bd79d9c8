"""``python -m server serve`` as a real process: start-up, readiness, graceful shutdown, bad
configuration (HOW_WE_BUILD §3 and §8).

Each test starts its own server process against the test stack's MongoDB and Redis and talks
to it over real sockets. Nothing sleeps: every wait is on a line the server prints, a response,
or the process exit, each with a deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import jsonschema_rs
import pytest

from ops.stack import free_port
from server.config import Settings
from server.resources import Deps
from server.staff import service as staff_service
from server.staff.models import StaffCreate
from server.staff.roles import Role

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECS = 30.0
EXIT_TIMEOUT_SECS = 10.0
LISTENING = re.compile(r"^shuwu listening on http://([^/:]+):(\d+)/$")
STOPPING = re.compile(r"stopping: no new connections; waiting up to \S+s for (\d+) request\(s\) in flight")
# In this order, after SIGTERM: stop listening, let requests finish, close in reverse of opening.
SHUTDOWN_STEPS = ("stopping: no new connections", "web server stopped", "closing outbound HTTP",
                  "closing Redis", "closing MongoDB", "all resources closed; bye")
PASSWORD = "lifecycle-password-1"


def server_env(settings: Settings, **overrides: str) -> dict[str, str]:
    """The environment of a server process: the test stack's URLs, nothing from the caller's SHUWU_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUWU_")}
    env.update(PYTHONUNBUFFERED="1", SHUWU_MODE="test", SHUWU_HOST="127.0.0.1", SHUWU_PORT="0",
               SHUWU_MONGO_URL=settings.mongo_url, SHUWU_REDIS_URL=settings.redis_url,
               SHUWU_MONGO_DB=settings.mongo_db, SHUWU_SHUTDOWN_DEADLINE_SECS="10", SHUWU_LOG_LEVEL="INFO")
    env.update(overrides)
    return env


@dataclass
class ServerProcess:
    proc: asyncio.subprocess.Process
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    host: str = ""
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def _pump(self, stream: asyncio.StreamReader, lines: list[str]) -> None:
        while line := await stream.readline():
            async with self.changed:
                lines.append(line.decode(errors="replace").rstrip("\n"))
                self.changed.notify_all()
        async with self.changed:
            self.changed.notify_all()

    async def wait_for(self, pattern: re.Pattern[str], *, stream: str = "stderr",
                       within_secs: float = START_TIMEOUT_SECS) -> re.Match[str]:
        """The first line of ``stream`` matching ``pattern``; fails if the process ends first."""
        lines = self.stdout if stream == "stdout" else self.stderr

        def found() -> re.Match[str] | None:
            return next((m for line in lines if (m := pattern.search(line))), None)

        async def wait() -> re.Match[str]:
            async with self.changed:
                while (match := found()) is None:
                    assert self.proc.returncode is None or not self._pumps_done(), \
                        f"server exited ({self.proc.returncode}) before printing {pattern.pattern!r}:\n" + self.log
                    await self.changed.wait()
                return match

        return await asyncio.wait_for(wait(), within_secs)

    def _pumps_done(self) -> bool:
        return all(task.done() for task in self._tasks)

    @property
    def log(self) -> str:
        return "\n".join(self.stderr[-60:])

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.proc.returncode is None:
            self.proc.send_signal(sig)
        code = await asyncio.wait_for(self.proc.wait(), EXIT_TIMEOUT_SECS)
        await asyncio.gather(*self._tasks)
        return code

    def start_pumps(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        self._tasks = [asyncio.create_task(self._pump(self.proc.stdout, self.stdout)),
                       asyncio.create_task(self._pump(self.proc.stderr, self.stderr))]


@contextlib.asynccontextmanager
async def running_server(env: dict[str, str]) -> AsyncIterator[ServerProcess]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "server", "serve", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    server = ServerProcess(proc)
    server.start_pumps()
    try:
        match = await server.wait_for(LISTENING, stream="stdout")
        server.host, server.port = match[1], int(match[2])
        yield server
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), EXIT_TIMEOUT_SECS)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        for task in server._tasks:
            task.cancel()


@pytest.fixture(scope="module")
async def account(deps: Deps) -> str:
    """A staff account in the database the server processes use."""
    data = StaffCreate(username="lifecycle", name="生命周期", password=PASSWORD, role=Role.TRAINER)
    await staff_service.create_staff(deps, staff_service.SYSTEM, data)
    return data.username


SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy", "X-Request-Id")


# -- start, ready, stop ------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_serve_is_ready_then_stops_cleanly(settings: Settings, deps: Deps, sig: signal.Signals) -> None:
    async with running_server(server_env(settings)) as server:
        assert server.host == "127.0.0.1" and server.port > 0
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok", "checks": {}}
            ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ok", "checks": {"mongo": "ok", "redis": "ok"}}
        assert all(h in ready.headers for h in SECURITY_HEADERS)
        assert await server.stop(sig) == 0
        positions = [next(i for i, line in enumerate(server.stderr) if step in line) for step in SHUTDOWN_STEPS]
        assert positions == sorted(positions), server.log
        assert STOPPING.search(server.log)[1] == "0"  # type: ignore[index]


@dataclass
class RawResponse:
    status: int
    body: bytes
    finished_at: float


async def _read_response(reader: asyncio.StreamReader) -> RawResponse:
    """Read one HTTP/1.1 response up to the server's close; raises on a reset or a cut-off body."""
    data = await reader.read()  # Connection: close — until EOF
    finished = asyncio.get_running_loop().time()
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"incomplete response: {data[:200]!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    assert int(headers["content-length"]) == len(body), f"body cut off: {headers} {len(body)}"
    return RawResponse(int(status_line.split()[1]), body, finished)


async def test_sigterm_lets_requests_in_flight_finish(settings: Settings, account: str) -> None:
    """Requests being handled when SIGTERM arrives get their whole answer; new connections are
    refused from that moment; then the process closes everything and exits 0.

    Log-ins are the slow requests here: argon2 takes a good part of a second each, so eight at once
    keep the server busy for a second or more.
    """
    concurrent = 8
    async with running_server(server_env(settings)) as server:
        payload = json.dumps({"username": account, "password": PASSWORD}).encode()
        request = (b"POST /api/v1/auth/token HTTP/1.1\r\nHost: shuwu\r\nContent-Type: application/json\r\n"
                   b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(payload)) + payload
        connections = [await asyncio.open_connection(server.host, server.port) for _ in range(concurrent)]
        for _, writer in connections:
            writer.write(request)
        await asyncio.gather(*(writer.drain() for _, writer in connections))
        responses = [asyncio.create_task(_read_response(reader)) for reader, _ in connections]
        # The first answer means the server has read the others too (they arrived together) and is
        # hashing their passwords: stop it now.
        await asyncio.wait(responses, return_when=asyncio.FIRST_COMPLETED, timeout=START_TIMEOUT_SECS)
        server.proc.send_signal(signal.SIGTERM)

        in_flight = int((await server.wait_for(STOPPING, within_secs=EXIT_TIMEOUT_SECS))[1])
        assert in_flight >= 2, "(nearly) every request had finished before SIGTERM; the test proves nothing"
        # The server logs that line and stops listening in one step, but the line may reach us first.
        # Only concurrent - in_flight answers were written before it, so once one more has arrived,
        # the listening socket is closed for sure — and in_flight - 1 requests are still being served.
        answered_before = concurrent - in_flight
        while sum(task.done() for task in responses) <= answered_before:
            await asyncio.wait([t for t in responses if not t.done()], return_when=asyncio.FIRST_COMPLETED,
                               timeout=EXIT_TIMEOUT_SECS)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(server.host, server.port)
        refused_at = asyncio.get_running_loop().time()
        assert server.proc.returncode is None, "refused only because the process had gone"

        answers = await asyncio.gather(*responses)  # a reset or a cut-off body raises here
        for answer in answers:
            assert answer.status == 201, answer.body[:300]
            assert json.loads(answer.body)["token"]
        assert sum(a.finished_at > refused_at for a in answers) >= 1, "nothing was answered after the stop"
        for _, writer in connections:
            writer.close()

        assert await server.stop() == 0, server.log
        positions = [next(i for i, line in enumerate(server.stderr) if step in line) for step in SHUTDOWN_STEPS]
        assert positions == sorted(positions), server.log
        assert "deadline passed" not in server.log


# -- readiness without Redis ------------------------------------------------------------------------


async def test_readyz_is_503_when_redis_is_unreachable(settings: Settings, deps: Deps) -> None:
    closed = free_port()  # nothing listens there
    env = server_env(settings, SHUWU_REDIS_URL=f"redis://127.0.0.1:{closed}/0")
    # Start-up needs MongoDB (indexes) but not Redis, which connects on first use.
    async with running_server(env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            assert (await http.get("/healthz")).status_code == 200
            response = await http.get("/readyz")
            document = (await http.get("/api/openapi.json")).json()
        assert response.status_code == 503
        assert response.headers["Content-Type"].startswith("application/json")
        assert all(h in response.headers for h in SECURITY_HEADERS)
        body = response.json()
        assert body["status"] == "unavailable"
        assert body["checks"]["mongo"] == "ok"
        assert body["checks"]["redis"].startswith("error: ")
        # The body is what the OpenAPI document says a 503 from /readyz looks like.
        declared = document["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]
        schema = {**declared["schema"], "components": document["components"]}
        assert list(jsonschema_rs.Draft202012Validator(schema).iter_errors(body)) == []
        assert await server.stop() == 0, server.log


# -- bad configuration ----------------------------------------------------------------------------------

_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # base64 of 32 bytes
BAD_CONFIGS = {
    "port not a number": ({"SHUWU_PORT": "abc"}, ["SHUWU_PORT"]),
    "port out of range": ({"SHUWU_PORT": "70000"}, ["SHUWU_PORT"]),
    "production without secrets": ({"SHUWU_MODE": "production"},
                                   ["SHUWU_COOKIE_SECRET", "SHUWU_DATA_KEY", "SHUWU_BLIND_INDEX_KEY"]),
    "production with a short cookie secret": ({"SHUWU_MODE": "production", "SHUWU_COOKIE_SECRET": "short",
                                               "SHUWU_DATA_KEY": _KEY, "SHUWU_BLIND_INDEX_KEY": _KEY,
                                               "SHUWU_WECHAT_APPID": "wx1", "SHUWU_WECHAT_SECRET": "s" * 32},
                                              ["SHUWU_COOKIE_SECRET"]),
    "unknown mode": ({"SHUWU_MODE": "staging"}, ["SHUWU_MODE"]),
    "unknown log level": ({"SHUWU_LOG_LEVEL": "LOUD"}, ["SHUWU_LOG_LEVEL"]),
    "negative deadline": ({"SHUWU_SHUTDOWN_DEADLINE_SECS": "-1"}, ["SHUWU_SHUTDOWN_DEADLINE_SECS"]),
    "district not JSON": ({"SHUWU_DISTRICT": "{not json"}, ["SHUWU_DISTRICT"]),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
async def test_bad_configuration_exits_2_naming_the_variable(settings: Settings, case: str) -> None:
    overrides, named = BAD_CONFIGS[case]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "server", "serve", cwd=ROOT, env=server_env(settings, **overrides),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), START_TIMEOUT_SECS)
    message = err.decode()
    assert proc.returncode == 2, message
    for variable in named:
        assert variable in message, message
    assert "Traceback" not in message, message
    assert b"listening" not in out
