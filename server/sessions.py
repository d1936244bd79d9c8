"""Log-in sessions in Redis: opaque tokens, revocable one by one or all at once.

A token is 32 random bytes shown once to the client; Redis keeps only its
SHA-256, so a Redis dump cannot be replayed. Staff API tokens and page cookies
use the ``staff`` namespace with different lifetimes; mini-program log-ins use
the ``reader`` namespace, so a token of one kind never opens the other.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Literal

import redis.asyncio as aioredis

TOKEN_BYTES = 32


Namespace = Literal["staff", "reader"]
_PREFIX: dict[str, tuple[str, str]] = {
    "staff": ("shuwu:session:", "shuwu:staff-sessions:"),
    "reader": ("shuwu:mp-session:", "shuwu:mp-sessions:"),
}


def _session_key(token_hash: str, namespace: Namespace = "staff") -> str:
    return _PREFIX[namespace][0] + token_hash


def _staff_sessions_key(owner_id: str, namespace: Namespace = "staff") -> str:
    # A set of an owner's live session hashes, so "log out everywhere" is one call.
    return _PREFIX[namespace][1] + owner_id


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue(redis: aioredis.Redis, staff_id: str, *, kind: str, ttl_secs: int,
                namespace: Namespace = "staff") -> tuple[str, datetime]:
    """A new token for ``staff_id`` (a reader account's id in the ``reader`` namespace);
    returns (token, expires_at)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    h = _hash(token)
    now = datetime.now(UTC)
    payload = json.dumps({"staff_id": staff_id, "kind": kind, "issued_at": now.isoformat()})
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(_session_key(h, namespace), payload, ex=ttl_secs)
        pipe.sadd(_staff_sessions_key(staff_id, namespace), h)
        # The index lives as long as the longest session it may hold.
        pipe.expire(_staff_sessions_key(staff_id, namespace), ttl_secs, gt=True)
        pipe.expire(_staff_sessions_key(staff_id, namespace), ttl_secs, nx=True)
        await pipe.execute()
    return token, now + timedelta(seconds=ttl_secs)


async def resolve(redis: aioredis.Redis, token: str, namespace: Namespace = "staff") -> str | None:
    """The owner id a live token belongs to, or None."""
    if not token or len(token) > 128:
        return None
    raw = await redis.get(_session_key(_hash(token), namespace))
    if raw is None:
        return None
    return str(json.loads(raw)["staff_id"])


async def revoke(redis: aioredis.Redis, token: str, namespace: Namespace = "staff") -> None:
    h = _hash(token)
    raw = await redis.get(_session_key(h, namespace))
    await redis.delete(_session_key(h, namespace))
    if raw is not None:
        await redis.srem(_staff_sessions_key(json.loads(raw)["staff_id"], namespace), h)  # type: ignore[misc]


async def revoke_all(redis: aioredis.Redis, staff_id: str, namespace: Namespace = "staff") -> int:
    """End every session of ``staff_id`` (password change, deactivation, an account deleted);
    returns how many."""
    hashes = await redis.smembers(_staff_sessions_key(staff_id, namespace))  # type: ignore[misc]
    if hashes:
        await redis.delete(*[_session_key(h, namespace) for h in hashes])
    await redis.delete(_staff_sessions_key(staff_id, namespace))
    return len(hashes)
