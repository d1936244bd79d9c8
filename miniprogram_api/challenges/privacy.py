"""The challenges part of "export my data" and "delete my account" (accounts/privacy.py):
participations, reading logs, badges, book reviews and the leaderboard entries.

Prize draws keep their record (seed, eligible ids, winners) for audit: the ids are
pseudonymous and name nobody once the participant is erased.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from miniprogram_api.challenges import leaderboard as lb
from miniprogram_api.challenges import repo
from server.storage import in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

NAME = "challenges"


def _plain(value: Any) -> Any:
    """JSON-able: ObjectIds as strings, dates as ISO strings, recursively."""
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def export(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]]) -> object:
    ids = [m["_id"] for m in members]
    participants = await repo.of_members(deps.db, repo.PARTICIPANTS, ids)
    challenges = await repo.challenges_by_ids(deps.db, [p["challenge_id"] for p in participants])
    return {
        "participations": [_plain({**p, "challenge_title": challenges.get(p["challenge_id"], {}).get("title")})
                           for p in participants],
        "reading_logs": [_plain(d) for d in await repo.of_members(deps.db, repo.LOGS, ids)],
        "badges": [_plain(d) for d in await repo.of_members(deps.db, repo.BADGES, ids)],
        "reviews": [_plain(d) for d in await repo.of_members(deps.db, repo.REVIEWS, ids)],
    }


async def erase(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]], now: datetime) -> None:
    """Take the members off every board, then delete their participations, logs, badges
    and reviews in one transaction. Run again after an interruption, it finishes the job."""
    ids = [m["_id"] for m in members]
    if not ids:
        return
    participants = await repo.of_members(deps.db, repo.PARTICIPANTS, ids)
    challenges = await repo.challenges_by_ids(deps.db, [p["challenge_id"] for p in participants])
    by_challenge: dict[ObjectId, list[dict[str, Any]]] = {}
    for p in participants:
        by_challenge.setdefault(p["challenge_id"], []).append(p)
    for cid, parts in by_challenge.items():  # one pipeline per challenge the family joined
        if cid in challenges:
            await lb.remove(deps.redis, challenges[cid], parts)

    async def work(session: AsyncClientSession) -> None:
        await repo.delete_of_members(deps.db, ids, session=session)

    await in_transaction(deps.mongo, work)
