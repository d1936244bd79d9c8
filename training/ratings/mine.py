"""A room administrator's view of the ratings on the phone: the rounds open for 申报 that
concern them (their room, themselves, the families of their room) and their entries so far."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.resources import Deps
from server.staff.roles import Actor
from training.ratings import repo

KIND_TARGETS = {"model_room": "为我的书屋申报示范农家书屋", "model_admin": "申报模范管理员（本人）",
                "reading_family": "推荐本书屋的书香之家（填写借阅证号）"}


@dataclass
class MyRatings:
    open_rounds: list[dict[str, Any]] = field(default_factory=list)  # rounds taking entries, with "applied"
    entries: list[dict[str, Any]] = field(default_factory=list)  # my entries, newest round first


async def my_ratings(deps: Deps, actor: Actor) -> MyRatings:
    """Two queries: the rounds (any status) and the entries about my rooms or by me."""
    rounds = {r["_id"]: r for r in await repo.rounds(deps.db, {"history": {"$ne": True}})}
    mine = await deps.db[repo.ENTRIES].find({"round_id": {"$in": list(rounds)}, "$or": [
        {"subject.room": {"$in": sorted(actor.rooms)}}, {"applicant.by": actor.username}]}).to_list()
    applied = {(e["round_id"], e["subject"]["type"]) for e in mine if e["applicant"].get("by") == actor.username
               or e["subject"]["type"] != "family"}
    view = MyRatings()
    for r in rounds.values():
        if r["status"] == "open":
            subject_type = {"model_room": "room", "model_admin": "staff"}.get(r["kind"])
            view.open_rounds.append({**r, "target": KIND_TARGETS[r["kind"]],
                                     "applied": subject_type is not None and (r["_id"], subject_type) in applied})
    for e in sorted(mine, key=lambda e: (-rounds[e["round_id"]]["year"], str(e["_id"]))):
        view.entries.append({**e, "round": rounds[e["round_id"]]})
    return view
