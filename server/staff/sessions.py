"""Log-in sessions in Redis: opaque tokens, revocable one by one or all at once.

A token is 32 random bytes shown once to the client; Redis keeps only its
SHA-256, so a Redis dump cannot be replayed. API tokens and page cookies use
the same store with different lifetimes.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta

import redis.asyncio as aioredis

TOKEN_BYTES = 32


def _session_key(token_hash: str) -> str:
    return f"shuwu:session:{token_hash}"


def _staff_sessions_key(staff_id: str) -> str:
    # A set of a staff member's live session hashes, so "log out everywhere" is one call.
    return f"shuwu:staff-sessions:{staff_id}"


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(redis: aioredis.Redis, staff_id: str, *, kind: str, ttl_secs: int) -> tuple[str, datetime]:
    """A new token for ``staff_id``; returns (token, expires_at)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    h = _hash(token)
    now = datetime.now(UTC)
    payload = json.dumps({"staff_id": staff_id, "kind": kind, "issued_at": now.isoformat()})
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(_session_key(h), payload, ex=ttl_secs)
        pipe.sadd(_staff_sessions_key(staff_id), h)
        # The index lives as long as the longest session it may hold.
        pipe.expire(_staff_sessions_key(staff_id), ttl_secs, gt=True)
        pipe.expire(_staff_sessions_key(staff_id), ttl_secs, nx=True)
        await pipe.execute()
    return token, now + timedelta(seconds=ttl_secs)


async def resolve(redis: aioredis.Redis, token: str) -> str | None:
    """The staff id a live token belongs to, or None."""
    if not token or len(token) > 128:
        return None
    raw = await redis.get(_session_key(_hash(token)))
    if raw is None:
        return None
    return str(json.loads(raw)["staff_id"])


async def revoke(redis: aioredis.Redis, token: str) -> None:
    h = _hash(token)
    raw = await redis.get(_session_key(h))
    await redis.delete(_session_key(h))
    if raw is not None:
        await redis.srem(_staff_sessions_key(json.loads(raw)["staff_id"]), h)  # type: ignore[misc]


async def revoke_all(redis: aioredis.Redis, staff_id: str) -> int:
    """End every session of ``staff_id`` (password change, deactivation); returns how many."""
    hashes = await redis.smembers(_staff_sessions_key(staff_id))  # type: ignore[misc]
    if hashes:
        await redis.delete(*[_session_key(h) for h in hashes])
    await redis.delete(_staff_sessions_key(staff_id))
    return len(hashes)
