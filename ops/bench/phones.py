"""Part 1: simulated phones lending and returning over HTTP, and the same loop as bare writes.

Each phone is one room's administrator with a Bearer token. It loops: pick a title its
room holds and one of its room's readers, lend (POST …/loans), return (POST …/returns),
each with a fresh op_id. A phone works in its own room only, so phones never compete
for a copy and every request should succeed; a refusal is counted as an error by status.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

import httpx

from ops.bench import baseline
from ops.bench.data import RoomData
from ops.bench.stats import Samples
from server.resources import Deps
from server.seed import DEMO_PASSWORD

REQUEST_TIMEOUT_SECS = 30.0


def op_id() -> str:
    return uuid.uuid4().hex


def http_client(base_url: str, connections: int) -> httpx.AsyncClient:
    """One pooled client for every simulated phone (keep-alive, a connection per phone)."""
    return httpx.AsyncClient(
        base_url=base_url, timeout=REQUEST_TIMEOUT_SECS,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections))


async def issue_tokens(deps: Deps, usernames: list[str]) -> dict[str, str]:
    """A Bearer token per username, issued the way log-in does (``server.sessions.issue``) but
    without the password check: 110 argon2 verifications would cost the set-up half a minute."""
    from server import sessions

    docs = await deps.db.staff.find({"username": {"$in": usernames}}, {"username": 1}).to_list()
    tokens = {}
    for doc in docs:
        tokens[doc["username"]], _ = await sessions.issue(deps.redis, str(doc["_id"]), kind="api",
                                                          ttl_secs=deps.settings.api_token_ttl_secs)
    return tokens


async def log_in(client: httpx.AsyncClient, usernames: list[str], *, concurrency: int = 4) -> dict[str, str]:
    """A Bearer token per username through POST /api/v1/auth/token (argon2 on the server)."""
    gate = asyncio.Semaphore(concurrency)
    tokens: dict[str, str] = {}

    async def one(username: str) -> None:
        async with gate:
            r = await client.post("/api/v1/auth/token", json={"username": username, "password": DEMO_PASSWORD})
            if r.status_code != 201:
                raise RuntimeError(f"log-in of {username} failed: {r.status_code} {r.text[:200]}")
            tokens[username] = r.json()["token"]

    await asyncio.gather(*(one(u) for u in usernames))
    return tokens


async def _timed_post(client: httpx.AsyncClient, url: str, body: dict[str, Any], headers: dict[str, str],
                      samples: Samples, want: int) -> dict[str, Any] | None:
    t0 = time.perf_counter()
    try:
        r = await client.post(url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        samples.fail(type(exc).__name__)
        return None
    took = time.perf_counter() - t0
    if r.status_code != want:
        try:
            code = r.json().get("code", "")
        except ValueError:
            code = ""
        samples.fail(f"{r.status_code}{' ' + code if code else ''}")
        return None
    samples.ok(took)
    return r.json()


async def http_phones(client: httpx.AsyncClient, rooms: list[RoomData], tokens: dict[str, str], seconds: float,
                      seed: int) -> tuple[Samples, Samples]:
    """Every phone loops lend → return until ``seconds`` have passed. Returns (loans, returns)."""
    loans, returns = Samples("HTTP lend (POST …/loans)"), Samples("HTTP return (POST …/returns)")
    deadline = time.perf_counter() + seconds

    async def phone(room: RoomData, rng: random.Random) -> None:
        headers = {"Authorization": f"Bearer {tokens[room.username]}"}
        while time.perf_counter() < deadline:
            title, card = rng.choice(room.titles), rng.choice(room.cards)
            lent = await _timed_post(client, f"/api/v1/rooms/{room.code}/loans",
                                     {"op_id": op_id(), "card_no": card, "title_id": title}, headers, loans, 201)
            if lent is None:
                continue
            await _timed_post(client, f"/api/v1/rooms/{room.code}/returns",
                              {"op_id": op_id(), "title_id": title, "card_no": card}, headers, returns, 200)

    t0 = time.perf_counter()
    await asyncio.gather(*(phone(r, random.Random(seed + i)) for i, r in enumerate(rooms)))
    loans.elapsed = returns.elapsed = time.perf_counter() - t0
    return loans, returns


async def direct_phones(deps: Deps, rooms: list[RoomData], seconds: float, seed: int) -> tuple[Samples, Samples]:
    """The same loop as bare PyMongo transactions (``baseline``), one coroutine per phone."""
    loans, returns = Samples("direct lend (1 txn)"), Samples("direct return (1 txn)")
    deadline = time.perf_counter() + seconds

    async def phone(room: RoomData, rng: random.Random) -> None:
        while time.perf_counter() < deadline:
            title, card = rng.choice(room.titles), rng.choice(room.cards)
            t0 = time.perf_counter()
            try:
                loan = await baseline.lend(deps, room=room.code, title_id=title, reader_id=room.reader_ids[card],
                                           card=card, actor=room.username, op_id=op_id())
            except Exception as exc:  # a benchmark counts failures instead of stopping
                loans.fail(type(exc).__name__)
                continue
            loans.ok(time.perf_counter() - t0)
            t0 = time.perf_counter()
            try:
                await baseline.return_item(deps, loan, card=card, actor=room.username, op_id=op_id())
            except Exception as exc:
                returns.fail(type(exc).__name__)
                continue
            returns.ok(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(phone(r, random.Random(seed + i)) for i, r in enumerate(rooms)))
    loans.elapsed = returns.elapsed = time.perf_counter() - t0
    return loans, returns


def combined(name: str, a: Samples, b: Samples) -> Samples:
    out = Samples(name, elapsed=a.elapsed)
    out.merge(a)
    out.merge(b)
    return out
