"""Leaderboards in Redis sorted sets, per challenge and per team (room, school, class, town).

Keys (all from ``board_key``; the ``{challenge id}`` hash tag keeps one challenge's keys
in one Redis Cluster slot):

    shuwu:board:{<challenge>}:all                  the whole challenge
    shuwu:board:{<challenge>}:room:<room code>     one team board per team kept
    shuwu:board:{<challenge>}:names                participant id -> "张**|南华营村农家书屋"
    shuwu:board:{<challenge>}:built                present once the boards hold every total

Members are participant ids, scores their totals. Only public participants (the member
allows public boards, consent not withdrawn) with a total above zero are on a board;
a hidden participant's own rank is what it would be (``ZCOUNT`` of higher scores + 1).

Mongo is the source of truth. Writers set absolute totals with ``ZADD GT`` after their
transaction commits, so two logs landing out of order, or a log racing a rebuild, can
never lower a score. A missing ``built`` marker (Redis flushed, keys expired) means
"rebuild from Mongo before trusting the boards". Keys expire ``BOARD_KEEP_DAYS`` after
the challenge ends (a rebuild brings them back if someone still looks).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, time, timedelta
from typing import Any

import redis.asyncio as aioredis

from server.crypto import mask_name

BOARD_KEEP_DAYS = 60
REBUILD_LOCK_SECS = 120
REBUILD_BATCH = 2000
_TEAM_SCOPES = ("room", "school", "class", "town")


def board_key(challenge_id: str, scope: str, team: str | None = None) -> str:
    """The one helper for this module's keys."""
    if scope == "challenge":
        return f"shuwu:board:{{{challenge_id}}}:all"
    if scope in {"names", "built", "lock"}:
        return f"shuwu:board:{{{challenge_id}}}:{scope}"
    return f"shuwu:board:{{{challenge_id}}}:{scope}:{team}"


def team_of(participant: Mapping[str, Any], scope: str) -> str | None:
    """The participant's team on a ``scope`` board (None: not on such a board)."""
    if scope == "room":
        return participant.get("room")
    if scope == "town":
        return participant.get("town")
    if scope == "school":
        return participant.get("school")
    if scope == "class":
        school, klass = participant.get("school"), participant.get("class_name")
        return f"{school}/{klass}" if school and klass else None
    return None


def keys_for(challenge: Mapping[str, Any], participant: Mapping[str, Any]) -> list[str]:
    cid = str(challenge["_id"])
    keys = [board_key(cid, "challenge")]
    for scope in challenge.get("teams", []):
        team = team_of(participant, scope)
        if team:
            keys.append(board_key(cid, scope, team))
    return keys


def on_boards(participant: Mapping[str, Any]) -> bool:
    return bool(participant.get("public")) and participant.get("status", "active") == "active"


def display(participant: Mapping[str, Any]) -> str:
    """What a board shows: the masked name and the room's name. Full names never reach Redis."""
    return f"{mask_name(participant.get('name') or '')}|{participant.get('room_name') or ''}"


def expire_at(challenge: Mapping[str, Any]) -> int:
    from server.circulation.rules import LOCAL_TZ

    ends = datetime.fromisoformat(challenge["ends_on"]).date()
    return int(datetime.combine(ends + timedelta(days=BOARD_KEEP_DAYS), time(), tzinfo=LOCAL_TZ).timestamp())


async def record_totals(redis: aioredis.Redis, challenge: Mapping[str, Any],
                        totals: Iterable[tuple[Mapping[str, Any], int]]) -> bool:
    """After a committed log: raise each public participant's score to their new total.
    Returns False when the boards were not built (the caller rebuilds them from Mongo)."""
    cid, until = str(challenge["_id"]), expire_at(challenge)
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(board_key(cid, "built"))
        for participant, total in totals:
            if total > 0 and on_boards(participant):
                for key in keys_for(challenge, participant):
                    pipe.zadd(key, {str(participant["_id"]): total}, gt=True)
                    pipe.expireat(key, until)
        results = await pipe.execute()
    return bool(results[0])


async def replace_entries(redis: aioredis.Redis, challenge: Mapping[str, Any],
                          changes: Iterable[tuple[Mapping[str, Any] | None, Mapping[str, Any]]]) -> None:
    """Move participants from their old board entries to their new ones: ``(old, new)``
    participant documents (``old`` None: not on any board before). Used when a log is
    rejected (a lower total), a member is renamed, moves room or hides from boards."""
    cid, until = str(challenge["_id"]), expire_at(challenge)
    async with redis.pipeline(transaction=False) as pipe:
        for old, new in changes:
            pid = str(new["_id"])
            new_keys = keys_for(challenge, new) if on_boards(new) and new.get("total", 0) > 0 else []
            if old is not None:
                for key in set(keys_for(challenge, old)) - set(new_keys):
                    pipe.zrem(key, pid)
            for key in new_keys:
                pipe.zadd(key, {pid: new["total"]})
                pipe.expireat(key, until)
            if on_boards(new):
                pipe.hset(board_key(cid, "names"), pid, display(new))
            else:
                pipe.hdel(board_key(cid, "names"), pid)
        await pipe.execute()


async def set_name(redis: aioredis.Redis, challenge: Mapping[str, Any], participant: Mapping[str, Any]) -> None:
    cid = str(challenge["_id"])
    if on_boards(participant):
        async with redis.pipeline(transaction=False) as pipe:
            pipe.hset(board_key(cid, "names"), str(participant["_id"]), display(participant))
            pipe.expireat(board_key(cid, "names"), expire_at(challenge))
            await pipe.execute()


async def remove(redis: aioredis.Redis, challenge: Mapping[str, Any], participants: Iterable[Mapping[str, Any]]
                 ) -> None:
    """Take participants off every board of ``challenge`` (erasure)."""
    cid = str(challenge["_id"])
    async with redis.pipeline(transaction=False) as pipe:
        for p in participants:
            for key in keys_for(challenge, p):
                pipe.zrem(key, str(p["_id"]))
            pipe.hdel(board_key(cid, "names"), str(p["_id"]))
        await pipe.execute()


async def is_built(redis: aioredis.Redis, challenge_id: str) -> bool:
    return bool(await redis.exists(board_key(challenge_id, "built")))


async def rebuild(redis: aioredis.Redis, challenge: Mapping[str, Any], participants: Sequence[Mapping[str, Any]]
                  ) -> int:
    """Replace the challenge's boards by ``participants`` (read from Mongo after the old
    keys are gone: see ``clear``). Returns how many are on the boards."""
    cid, until = str(challenge["_id"]), expire_at(challenge)
    shown = 0
    for start in range(0, len(participants), REBUILD_BATCH):
        by_key: dict[str, dict[str, int]] = defaultdict(dict)
        names: dict[str, str] = {}
        for p in participants[start:start + REBUILD_BATCH]:
            if not on_boards(p):
                continue
            names[str(p["_id"])] = display(p)
            if p.get("total", 0) > 0:
                shown += 1
                for key in keys_for(challenge, p):
                    by_key[key][str(p["_id"])] = int(p["total"])
        async with redis.pipeline(transaction=False) as pipe:
            for key, mapping in by_key.items():
                pipe.zadd(key, mapping, gt=True)  # never lower what a log wrote meanwhile
                pipe.expireat(key, until)
            if names:
                pipe.hset(board_key(cid, "names"), mapping=names)
                pipe.expireat(board_key(cid, "names"), until)
            await pipe.execute()
    await redis.set(board_key(cid, "built"), "1", exat=until)
    return shown


async def clear(redis: aioredis.Redis, challenge_id: str) -> None:
    """Delete every board key of the challenge (the rebuild lock excepted)."""
    lock = board_key(challenge_id, "lock")
    batch: list[str] = []
    async for key in redis.scan_iter(match=f"shuwu:board:{{{challenge_id}}}:*", count=1000):
        if key != lock:
            batch.append(key)
        if len(batch) >= 500:
            await redis.delete(*batch)
            batch = []
    if batch:
        await redis.delete(*batch)


async def lock(redis: aioredis.Redis, challenge_id: str) -> bool:
    return bool(await redis.set(board_key(challenge_id, "lock"), "1", nx=True, ex=REBUILD_LOCK_SECS))


async def unlock(redis: aioredis.Redis, challenge_id: str) -> None:
    await redis.delete(board_key(challenge_id, "lock"))


async def read(redis: aioredis.Redis, challenge_id: str, key: str, limit: int,
               me: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Top ``limit`` and the caller's rank in one round trip (a pipeline), then the masked
    names of the top entries. None when the boards are not built.

    ``me`` is the caller's participant: on the board its rank is ``ZREVRANK``; hidden
    from it, the rank it would have (``ZCOUNT`` of strictly higher scores + 1)."""
    async with redis.pipeline(transaction=False) as pipe:
        pipe.exists(board_key(challenge_id, "built"))
        pipe.zrevrange(key, 0, limit - 1, withscores=True)
        pipe.zcard(key)
        if me is not None:
            if on_boards(me):
                pipe.zrevrank(key, str(me["_id"]))
                pipe.zscore(key, str(me["_id"]))
            else:
                pipe.zcount(key, f"({int(me.get('total', 0))}", "+inf")
        results = await pipe.execute()
    if not results[0]:
        return None
    top: list[tuple[str, float]] = results[1]
    my_rank: int | None = None
    if me is not None:
        if on_boards(me):
            my_rank = None if results[3] is None else int(results[3]) + 1
        elif me.get("total", 0) > 0:
            my_rank = int(results[3]) + 1
    names: list[str | None] = []
    if top:
        names = await redis.hmget(board_key(challenge_id, "names"), [pid for pid, _ in top])  # type: ignore[misc]
    return {"top": [(pid, int(score), name) for (pid, score), name in zip(top, names, strict=True)],
            "size": int(results[2]), "my_rank": my_rank}


def team_scopes() -> tuple[str, ...]:
    return _TEAM_SCOPES
