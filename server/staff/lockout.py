"""Lock an account out after repeated failed log-ins (a Redis counter per username)."""

from __future__ import annotations

import redis.asyncio as aioredis

from server.errors import TooManyAttempts


def _failures_key(username: str) -> str:
    return f"shuwu:login-failures:{username.lower()}"


async def check(redis: aioredis.Redis, username: str, *, max_failures: int) -> None:
    """Raise TooManyAttempts while ``username`` is locked out."""
    key = _failures_key(username)
    count = int(await redis.get(key) or 0)
    if count >= max_failures:
        ttl = max(int(await redis.ttl(key)), 1)
        raise TooManyAttempts(
            f"密码错误次数过多，账号已锁定，请 {max(ttl // 60, 1)} 分钟后再试或联系区馆重置",
            code="locked_out",
            retry_after_secs=ttl,
        )


async def record_failure(redis: aioredis.Redis, username: str, *, lockout_secs: int) -> int:
    """Count one failure; the window starts at the first failure and lasts ``lockout_secs``."""
    key = _failures_key(username)
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, lockout_secs, nx=True)
        count, _ = await pipe.execute()
    return int(count)


async def clear(redis: aioredis.Redis, username: str) -> None:
    await redis.delete(_failures_key(username))
