"""Reading challenges as the district office defines them: create, change (publish, close),
list; and the rebuild of a challenge's boards from Mongo."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from miniprogram_api.challenges import leaderboard as lb
from miniprogram_api.challenges import repo, rules
from miniprogram_api.challenges.models import (
    UNIT_LABELS,
    AgeGroup,
    ChallengeIn,
    ChallengeOut,
    ChallengePage,
    ChallengeQuery,
    ChallengeUpdate,
    DrawConfig,
    Milestone,
)
from server.audit import repo as audit
from server.errors import FieldProblem, InvalidInput, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_id_cursor, split_page
from server.rooms import repo as rooms_repo
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

REBUILD_WAIT_SECS = 10.0
CHALLENGE_CACHE_SECS = 5.0
CHALLENGE_CACHE_MAX = 256
# challenge id -> (valid until, time.monotonic(); the document): see load_challenge
_cache: dict[ObjectId, tuple[float, dict[str, Any]]] = {}
REBUILD_POLL_SECS = 0.05


# -- challenges (staff) ---------------------------------------------------------------------------


async def load_challenge(deps: Deps, challenge_id: str | ObjectId, *, readers: bool = False) -> dict[str, Any]:
    """The challenge or NotFound (for readers, a draft does not exist either).

    Readers' requests (the evening peak: every log and board read needs the definition)
    use a per-process copy for ``CHALLENGE_CACHE_SECS``: a change by staff reaches other
    processes that much later (this process forgets its copy at once). Do not mutate it.
    """
    oid = challenge_id if isinstance(challenge_id, ObjectId) else parse_object_id(
        challenge_id, loc=("path", "challenge_id"))
    cached = _cache.get(oid) if readers else None
    if cached is not None and cached[0] > time.monotonic():
        doc: dict[str, Any] | None = cached[1]
    else:
        doc = await repo.challenge_by_id(deps.db, oid)
        if doc is not None:
            _cache[oid] = (time.monotonic() + CHALLENGE_CACHE_SECS, doc)
            if len(_cache) > CHALLENGE_CACHE_MAX:
                _cache.pop(next(iter(_cache)))
    if doc is None or (readers and doc["status"] == "draft"):
        raise NotFound("没有这个阅读活动", code="challenge_not_found")
    return doc


def forget(challenge_id: ObjectId) -> None:
    _cache.pop(challenge_id, None)


def challenge_out(doc: dict[str, Any], participants: int) -> ChallengeOut:
    return ChallengeOut(
        id=str(doc["_id"]), title=doc["title"], description=doc["description"],
        starts_on=date.fromisoformat(doc["starts_on"]), ends_on=date.fromisoformat(doc["ends_on"]),
        age_groups=[AgeGroup(**g) for g in doc["age_groups"]], unit=doc["unit"], unit_label=UNIT_LABELS[doc["unit"]],
        cap_per_log=doc["cap_per_log"], cap_per_day=doc["cap_per_day"],
        milestones=[Milestone(**m) for m in doc["milestones"]], teams=doc["teams"],
        draw=DrawConfig(**doc["draw"]) if doc.get("draw") else None, rooms=doc["rooms"], towns=doc["towns"],
        status=doc["status"], participants=participants, created_at=doc["created_at"], updated_at=doc["updated_at"],
    )


def _stored(fields: dict[str, Any]) -> dict[str, Any]:
    """API fields as stored: dates as ISO strings, models as dicts."""
    out = dict(fields)
    for name in ("starts_on", "ends_on"):
        if isinstance(out.get(name), date):
            out[name] = out[name].isoformat()
    return out


async def _check_definition(deps: Deps, merged: dict[str, Any]) -> None:
    """Rules across fields, rooms that exist and towns of the district; InvalidInput otherwise."""
    view = {**merged, "starts_on": date.fromisoformat(merged["starts_on"]),
            "ends_on": date.fromisoformat(merged["ends_on"])}
    problems = [FieldProblem(("body", *loc), msg) for loc, msg in rules.definition_problems(view)]
    if merged["rooms"]:
        known = await rooms_repo.existing_codes(deps.db, merged["rooms"])
        problems += [FieldProblem(("body", "rooms", i), f"没有书屋 {c}") for i, c in enumerate(merged["rooms"])
                     if c not in known]
    problems += [FieldProblem(("body", "towns", i), f"本区没有“{t}”") for i, t in enumerate(merged["towns"])
                 if deps.settings.district.town(t) is None]
    if problems:
        raise InvalidInput(problems[0].msg, code="invalid_challenge", errors=problems)


async def create_challenge(deps: Deps, actor: Actor, data: ChallengeIn) -> ChallengeOut:
    """A new challenge (draft unless published at once); audited."""
    now = db_now()
    doc = _stored(data.model_dump(mode="python"))
    doc["rooms"] = list(dict.fromkeys(doc["rooms"]))
    doc["towns"] = list(dict.fromkeys(doc["towns"]))
    await _check_definition(deps, doc)
    doc.update(created_at=now, updated_at=now, created_by=actor.username)

    async def work(session: AsyncClientSession) -> ObjectId:
        oid = await repo.insert_challenge(deps.db, doc, session=session)
        await audit.record(deps.db, actor, "challenge.create", target_type="challenge", target_id=str(oid),
                           changes={"title": doc["title"], "status": doc["status"]}, session=session)
        return oid

    doc["_id"] = await in_transaction(deps.mongo, work)
    await lb.rebuild(deps.redis, doc, [])  # empty boards, marked built: nobody has joined yet
    return challenge_out(doc, 0)


_STATUS_MOVES = {("draft", "published"), ("draft", "closed"), ("published", "closed"), ("closed", "published")}


async def update_challenge(deps: Deps, actor: Actor, challenge_id: str, data: ChallengeUpdate) -> ChallengeOut:
    """Change a challenge; audited. The unit is fixed once someone has joined; a published
    challenge with participants cannot go back to draft; changed teams rebuild the boards."""
    current = await load_challenge(deps, challenge_id)
    given = data.model_dump(mode="python", exclude_unset=True)
    nulls = sorted(k for k, v in given.items() if v is None and k != "draw")
    if nulls:
        raise InvalidInput("必填信息不能清空", code="required_field",
                           errors=[FieldProblem(("body", k), "不能为空") for k in nulls])
    changes = {k: v for k, v in _stored(given).items() if current.get(k) != v}
    if not changes:
        counts = await repo.participant_counts(deps.db, [current["_id"]])
        return challenge_out(current, counts.get(current["_id"], 0))
    if "status" in changes and (current["status"], changes["status"]) not in _STATUS_MOVES:
        raise RuleViolation(f"活动不能从“{current['status']}”改为“{changes['status']}”", code="status_move_refused",
                            errors=[FieldProblem(("body", "status"), "不允许的状态变化")])
    counts = await repo.participant_counts(deps.db, [current["_id"]])
    joined = counts.get(current["_id"], 0)
    if joined and "unit" in changes:
        raise RuleViolation("已有读者参加，不能再修改计量单位", code="unit_locked",
                            errors=[FieldProblem(("body", "unit"), "已有读者参加")])
    merged = {**current, **changes}
    await _check_definition(deps, merged)
    changes["updated_at"] = db_now()

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        doc = await repo.update_challenge(deps.db, current["_id"], changes, session=session)
        assert doc is not None
        await audit.record(deps.db, actor, "challenge.update", target_type="challenge", target_id=str(doc["_id"]),
                           changes={k: v for k, v in changes.items() if k != "updated_at"}, session=session)
        return doc

    doc = await in_transaction(deps.mongo, work)
    forget(doc["_id"])
    if "teams" in changes or "ends_on" in changes:
        await rebuild(deps, doc)
    return challenge_out(doc, joined)


async def list_challenges(deps: Deps, query: ChallengeQuery) -> ChallengePage:
    before = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.list_challenges(deps.db, statuses=[query.status] if query.status else None, before=before,
                                      limit=query.limit + 1)
    docs, cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    counts = await repo.participant_counts(deps.db, [d["_id"] for d in docs])
    return ChallengePage(items=[challenge_out(d, counts.get(d["_id"], 0)) for d in docs], next_cursor=cursor)


async def get_challenge(deps: Deps, challenge_id: str) -> ChallengeOut:
    doc = await load_challenge(deps, challenge_id)
    counts = await repo.participant_counts(deps.db, [doc["_id"]])
    return challenge_out(doc, counts.get(doc["_id"], 0))


async def rebuild(deps: Deps, challenge: dict[str, Any]) -> int:
    """Rebuild the challenge's boards from Mongo (one process at a time; the others wait)."""
    cid = str(challenge["_id"])
    if not await lb.lock(deps.redis, cid):
        # Another process is rebuilding: wait (polling Redis, the only thing both share) for it.
        for _ in range(int(REBUILD_WAIT_SECS / REBUILD_POLL_SECS)):
            if await lb.is_built(deps.redis, cid):
                break
            await asyncio.sleep(REBUILD_POLL_SECS)
        return 0
    try:
        await lb.clear(deps.redis, cid)
        participants = await repo.all_participants(deps.db, challenge["_id"], projection=repo.BOARD_FIELDS)
        return await lb.rebuild(deps.redis, challenge, participants)
    finally:
        await lb.unlock(deps.redis, cid)
