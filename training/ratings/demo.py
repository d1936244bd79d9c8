"""The ratings demo: the 2014/2015 results, and this year's model-room round in district review
with a dozen entries from across the district (one turned down at the town review), so the
console has something to show; the metrics and inspections demos fill in their parts for it.

Idempotent and resumable: each step runs only if the round has not passed it yet.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from server.errors import Conflict
from server.readers.service import local_today
from training.ratings import entries, history, repo, service
from training.ratings.models import RoundCreate, TownReviewIn, TransitionIn

if TYPE_CHECKING:
    from server.resources import Deps

ENTRIES_PER_TOWN = 2
MAX_ENTRIES = 13
STATEMENTS = ("书屋每周开放五天以上，借阅登记完整，常年组织亲子阅读。", "村里老人孩子爱来，管理员坚持每天整理书架、登记借阅。",
              "结合农时开展种植养殖讲座，图书借阅量逐年增加。")


async def seed_demo(deps: Deps) -> None:
    from server.seed import _seed_actor

    actor = _seed_actor(await deps.db["staff"].find_one({"username": "admin"}))
    await history.load_history(deps, actor)
    year = local_today().year
    doc = await repo.round_by_key(deps.db, year, "model_room", "district")
    if doc is None:
        created = await service.create_round(deps, actor, RoundCreate(year=year, kind="model_room", level="district"))
        doc = await service.get_round_doc(deps, created.round_id)
    rid = str(doc["_id"])
    if doc["status"] == "draft":
        await service.transition(deps, actor, rid, TransitionIn(to="open"))
        doc = await service.get_round_doc(deps, rid)
    if doc["status"] == "open":
        rooms = await deps.db["rooms"].find({"status": "active"}, {"code": 1, "name": 1, "town": 1}
                                            ).sort("code", 1).to_list()
        picked: list[dict[str, Any]] = []
        per_town: dict[str, int] = {}
        for room in rooms:
            if per_town.get(room["town"], 0) < ENTRIES_PER_TOWN and len(picked) < MAX_ENTRIES:
                per_town[room["town"]] = per_town.get(room["town"], 0) + 1
                picked.append(room)
        for n, room in enumerate(picked):
            try:
                await entries.submit_entry(
                    deps, round_id=doc["_id"], subject={"type": "room", "room": room["code"], "name": room["name"]},
                    town=room["town"], applicant={"by": "seed-demo", "channel": "room" if n % 3 else "town", "at": None},
                    statement=STATEMENTS[n % len(STATEMENTS)], evidence={})
            except Conflict:
                pass  # entered on an earlier, interrupted run
        await service.transition(deps, actor, rid, TransitionIn(to="town_review"))
        doc = await service.get_round_doc(deps, rid)
    if doc["status"] == "town_review":
        pending = await repo.entries(deps.db, doc["_id"], statuses=["submitted"])
        for n, entry in enumerate(pending):
            passed = n != len(pending) - 1
            await entries.town_review(deps, actor, str(entry["_id"]), TownReviewIn(
                passed=passed, comment="材料齐全，同意推荐" if passed else "开放时间未达标，暂不推荐"))
        await service.transition(deps, actor, rid, TransitionIn(to="district_review"))
