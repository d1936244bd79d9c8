"""Fixed-window rate limits in Redis: one counter per (bucket, window).

Used where a client may hammer us (mini-program log-ins and writes). A refusal is
a 429 problem with Retry-After, so a well-behaved client knows when to come back.
"""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from server.errors import TooManyAttempts


async def hit(redis: aioredis.Redis, bucket: str, *, limit: int, window_secs: int = 60,
              message: str = "操作太频繁了，请稍后再试") -> int:
    """Count one request in ``bucket``; TooManyAttempts once ``limit`` is passed in this window.
    Returns the count so far."""
    window = int(time.time()) // window_secs
    key = f"shuwu:rate:{bucket}:{window}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(key)
        pipe.expire(key, window_secs + 1, nx=True)
        count, _ = await pipe.execute()
    if int(count) > limit:
        retry = window_secs - int(time.time()) % window_secs
        raise TooManyAttempts(message, code="rate_limited", retry_after_secs=max(retry, 1))
    return int(count)
