"""Log-in sessions and lock-out counters in the real Redis (server/sessions.py, server/staff/lockout.py)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server import sessions
from server.errors import TooManyAttempts
from server.staff import lockout
from tests.conftest import login


async def redis_dump(redis: Any) -> dict[str, Any]:
    """Every key in the test database with its value, whatever its type."""
    dump: dict[str, Any] = {}
    async for key in redis.scan_iter(count=500):
        kind = await redis.type(key)
        if kind == "string":
            dump[key] = await redis.get(key)
        elif kind == "set":
            dump[key] = sorted(await redis.smembers(key))
        elif kind == "hash":
            dump[key] = await redis.hgetall(key)
        elif kind == "list":
            dump[key] = await redis.lrange(key, 0, -1)
        elif kind == "zset":
            dump[key] = await redis.zrange(key, 0, -1, withscores=True)
        else:
            dump[key] = kind
    return dump


def staff_id() -> str:
    return uuid.uuid4().hex[:24]


async def test_issue_resolve_and_expiry(deps) -> None:
    sid = staff_id()
    before = datetime.now(UTC)
    token, expires = await sessions.issue(deps.redis, sid, kind="api", ttl_secs=600)
    assert before + timedelta(seconds=600) <= expires <= datetime.now(UTC) + timedelta(seconds=600)
    assert await sessions.resolve(deps.redis, token) == sid
    key = f"shuwu:session:{hashlib.sha256(token.encode()).hexdigest()}"
    assert 590 <= await deps.redis.ttl(key) <= 600
    assert 590 <= await deps.redis.ttl(f"shuwu:staff-sessions:{sid}") <= 600


async def test_tokens_are_unguessable_and_distinct(deps) -> None:
    sid = staff_id()
    tokens = {(await sessions.issue(deps.redis, sid, kind="api", ttl_secs=60))[0] for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) >= 40 for t in tokens)


@pytest.mark.parametrize("token", ["", "nope", "x" * 129, "shuwu:session:abc", "*"])
async def test_unknown_tokens_resolve_to_none(deps, token) -> None:
    assert await sessions.resolve(deps.redis, token) is None


async def test_the_stored_hash_is_not_a_token(deps) -> None:
    """Someone who reads Redis cannot use what they read."""
    sid = staff_id()
    token, _ = await sessions.issue(deps.redis, sid, kind="api", ttl_secs=60)
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    assert await sessions.resolve(deps.redis, token_hash) is None
    members = await deps.redis.smembers(f"shuwu:staff-sessions:{sid}")
    assert members == {token_hash}
    for member in members:
        assert await sessions.resolve(deps.redis, member) is None


async def test_revoke_one(deps) -> None:
    sid = staff_id()
    first, _ = await sessions.issue(deps.redis, sid, kind="api", ttl_secs=60)
    second, _ = await sessions.issue(deps.redis, sid, kind="page", ttl_secs=60)
    await sessions.revoke(deps.redis, first)
    assert await sessions.resolve(deps.redis, first) is None
    assert await sessions.resolve(deps.redis, second) == sid
    assert len(await deps.redis.smembers(f"shuwu:staff-sessions:{sid}")) == 1
    await sessions.revoke(deps.redis, "never-issued")  # harmless
    await sessions.revoke(deps.redis, first)  # twice is harmless
    assert await sessions.resolve(deps.redis, second) == sid


async def test_revoke_all_ends_only_that_persons_sessions(deps) -> None:
    mine, theirs = staff_id(), staff_id()
    my_tokens = [(await sessions.issue(deps.redis, mine, kind=k, ttl_secs=60))[0] for k in ("api", "page", "api")]
    their_token, _ = await sessions.issue(deps.redis, theirs, kind="api", ttl_secs=60)
    assert await sessions.revoke_all(deps.redis, mine) == 3
    for token in my_tokens:
        assert await sessions.resolve(deps.redis, token) is None
    assert await sessions.resolve(deps.redis, their_token) == theirs
    assert not await deps.redis.exists(f"shuwu:staff-sessions:{mine}")
    assert await sessions.revoke_all(deps.redis, mine) == 0


async def test_session_index_lives_as_long_as_its_longest_session(deps) -> None:
    sid = staff_id()
    index = f"shuwu:staff-sessions:{sid}"
    await sessions.issue(deps.redis, sid, kind="api", ttl_secs=100)
    long_token, _ = await sessions.issue(deps.redis, sid, kind="page", ttl_secs=10_000)
    assert await deps.redis.ttl(index) > 9_000
    await sessions.issue(deps.redis, sid, kind="api", ttl_secs=100)  # a shorter one does not shorten it
    assert await deps.redis.ttl(index) > 9_000
    assert await sessions.resolve(deps.redis, long_token) == sid


async def test_lockout_counter_has_a_ttl_and_clears(deps) -> None:
    name = f"Locked-{uuid.uuid4().hex[:6]}"
    for expected in range(1, 4):
        assert await lockout.record_failure(deps.redis, name, lockout_secs=300) == expected
    key = f"shuwu:login-failures:{name.lower()}"
    assert 0 < await deps.redis.ttl(key) <= 300
    await lockout.check(deps.redis, name, max_failures=4)  # 3 < 4: not locked
    await lockout.record_failure(deps.redis, name.upper(), lockout_secs=300)  # the same account
    with pytest.raises(TooManyAttempts) as caught:
        await lockout.check(deps.redis, name, max_failures=4)
    assert 0 < caught.value.retry_after_secs <= 300
    await lockout.clear(deps.redis, name)
    await lockout.check(deps.redis, name, max_failures=4)
    assert not await deps.redis.exists(key)


async def test_api_token_is_stored_only_hashed_and_every_key_expires(client, seeded, deps) -> None:
    session = await login(client, "clerk")
    await client.post("/api/v1/auth/token", json={"username": "clerk", "password": "wrong-password"})
    dump = await redis_dump(deps.redis)
    assert dump, "the log-in stored nothing in Redis"
    token_hash = hashlib.sha256(session.token.encode()).hexdigest()
    assert f"shuwu:session:{token_hash}" in dump
    for key, value in dump.items():
        assert session.token not in key
        assert session.token not in repr(value), key
        if key.startswith("shuwu:"):
            assert await deps.redis.ttl(key) > 0, f"{key} never expires"
    # Log-out removes the session key itself.
    assert (await client.delete("/api/v1/auth/token", headers=session.headers)).status_code == 204
    assert not await deps.redis.exists(f"shuwu:session:{token_hash}")
