"""The one place that opens every connection: Mongo, Redis, outbound HTTP.

``open_resources(settings)`` yields a frozen ``Deps`` and closes each resource
in reverse order, logging each step.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import redis.asyncio as aioredis
from arq.connections import ArqRedis
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from miniprogram_api.wechat import WeChat
from server.config import Settings
from server.crypto import Cipher
from server.indexes import ensure_all_indexes

log = logging.getLogger("shuwu.resources")

MONGO_TIMEOUT_MS = 5000


@dataclass(frozen=True)
class Deps:
    """Everything a handler or job needs from the outside world."""

    settings: Settings
    mongo: AsyncMongoClient
    db: AsyncDatabase
    redis: aioredis.Redis
    http: httpx.AsyncClient
    cipher: Cipher
    wechat: WeChat  # the WeChat API (wechatpy in a thread pool; access token shared through Redis)
    jobs: ArqRedis  # the arq job queue (same Redis, raw bytes: arq pickles its jobs)


@contextlib.asynccontextmanager
async def open_resources(
    settings: Settings, *, create_indexes: bool = True, mongo_listeners: list[Any] | None = None
) -> AsyncIterator[Deps]:
    """Open everything; ``mongo_listeners`` lets tests count commands (PyMongo monitoring)."""
    async with contextlib.AsyncExitStack() as stack:
        log.info("opening MongoDB %s", _redact(settings.mongo_url))
        mongo: AsyncMongoClient = AsyncMongoClient(
            settings.mongo_url,
            tz_aware=True,
            uuidRepresentation="standard",
            serverSelectionTimeoutMS=MONGO_TIMEOUT_MS,
            connectTimeoutMS=MONGO_TIMEOUT_MS,
            appname="shuwu",
            event_listeners=mongo_listeners or [],
        )
        stack.push_async_callback(_closing("MongoDB", mongo.close))
        db = mongo[settings.mongo_db]

        log.info("opening Redis %s", _redact(settings.redis_url))
        redis = aioredis.from_url(
            settings.redis_url, decode_responses=True, socket_timeout=5, socket_connect_timeout=5
        )
        stack.push_async_callback(_closing("Redis", redis.aclose))

        http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.outbound_timeout_secs, connect=5.0),
            headers={"User-Agent": "shuwu/0.1"},
        )
        stack.push_async_callback(_closing("outbound HTTP", http.aclose))

        jobs = ArqRedis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
        stack.push_async_callback(_closing("job queue", jobs.aclose))

        wechat = WeChat.from_settings(settings, redis)
        stack.push_async_callback(_closing("WeChat client", wechat.close))

        deps = Deps(settings=settings, mongo=mongo, db=db, redis=redis, http=http, cipher=Cipher.from_settings(settings),
                    wechat=wechat, jobs=jobs)
        if create_indexes:
            await ensure_all_indexes(db)
        yield deps


def _closing(name: str, close):  # type: ignore[no-untyped-def]
    async def _close() -> None:
        log.info("closing %s", name)
        await close()

    return _close


def _redact(url: str) -> str:
    """Hide a password in a connection URL before it reaches a log."""
    if "@" not in url or "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    creds, host = rest.rsplit("@", 1)
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"
