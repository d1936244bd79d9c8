"""What inspectors and the district office see of inspections: the list of entries to
visit, one entry prepared for a visit, the console's progress matrix, and the mean
inspector scores the ratings core ranks with. Read only; one query per collection."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from statistics import fmean
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.staff.roles import Actor, Role
from server.storage import db_now
from training.ratings.inspections import repo
from training.ratings.inspections.models import (
    ENTRY_STATUS_LABELS,
    KIND_LABELS,
    InspectionItem,
    InspectionList,
    InspectionQuery,
)
from training.ratings.inspections.service import (
    actor_conflict,
    address_of,
    conflict_reason,
    criteria_out,
    entry_oid,
    load_entry,
    score_out,
)

if TYPE_CHECKING:
    from server.resources import Deps


# -- listing -------------------------------------------------------------------------------


async def list_inspections(deps: Deps, actor: Actor, query: InspectionQuery) -> InspectionList:
    """Entries of rounds in district review. An inspector gets those they may score (with
    ``include_conflicts``, also the others, with the reason) and their own score's status;
    district roles get every entry with its counts of submitted and draft scores.
    One query per collection."""
    rounds = await repo.rounds_in_review(deps.db)
    by_round = {r["_id"]: r for r in rounds}
    entries = await repo.entries_in_running(deps.db, list(by_round))
    rooms = await repo.rooms_by_codes(deps.db, ((e.get("subject") or {}).get("room") for e in entries))
    scores = await repo.scores_of_entries(deps.db, [e["_id"] for e in entries])
    mine = {s["entry_id"]: s["status"] for s in scores if s["inspector"] == actor.username}
    counts: dict[ObjectId, dict[str, int]] = defaultdict(lambda: {"submitted": 0, "draft": 0})
    for s in scores:
        counts[s["entry_id"]][s["status"]] += 1
    inspector = actor.role is Role.INSPECTOR
    items = []
    for e in entries:
        conflict = actor_conflict(actor, e) if inspector else None
        if conflict and not query.include_conflicts:
            continue
        subject = e.get("subject") or {}
        room = rooms.get(subject.get("room") or "")
        round_doc = by_round[e["round_id"]]
        items.append(InspectionItem(
            entry_id=str(e["_id"]), round_id=str(e["round_id"]), round_title=round_doc.get("title", ""),
            kind=e.get("kind", round_doc.get("kind", "")), kind_label=KIND_LABELS.get(e.get("kind", ""), ""),
            subject_type=subject.get("type", ""), name=subject.get("name", ""), room=subject.get("room"),
            room_name=room["name"] if room else None, town=e.get("town", ""), address=address_of(e, room),
            entry_status=e.get("status", ""), conflict=conflict,
            my_status=mine.get(e["_id"], "missing") if inspector else None,
            submitted=0 if inspector else counts[e["_id"]]["submitted"],
            drafts=0 if inspector else counts[e["_id"]]["draft"],
        ))
    return InspectionList(items=items, criteria={str(r["_id"]): criteria_out(r) for r in rounds})


async def entry_for_visit(deps: Deps, actor: Actor, entry_id: str) -> dict[str, Any]:
    """What the phone page shows of one entry: the entry, its round, its room, the
    inspector criteria, the inspector's own score and the conflict (if any)."""
    entry, round_doc = await load_entry(deps, entry_oid(entry_id))
    rooms = await repo.rooms_by_codes(deps.db, [(entry.get("subject") or {}).get("room") or ""])
    room = rooms.get((entry.get("subject") or {}).get("room") or "")
    own = await repo.score_of(deps.db, entry["_id"], actor.username)
    return {"entry": entry, "round": round_doc, "room": room, "address": address_of(entry, room),
            "criteria": criteria_out(round_doc), "score": score_out(own, entry=entry, actor=actor),
            "conflict": actor_conflict(actor, entry), "kind_label": KIND_LABELS.get(entry.get("kind", ""), ""),
            "status_label": ENTRY_STATUS_LABELS.get(entry.get("status", ""), entry.get("status", ""))}


# -- for the ratings core and the console -------------------------------------------------------


async def inspector_means(deps: Deps, entry_ids: list[ObjectId]) -> dict[str, dict[str, float]]:
    """Per entry (str id), per inspector criterion: the mean of the SUBMITTED scores
    (2 decimals). Entries without a submitted score are absent. One query."""
    values: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for s in await repo.scores_of_entries(deps.db, entry_ids):
        if s["status"] != "submitted":
            continue
        for key, v in (s.get("criteria") or {}).items():
            values[str(s["entry_id"])][key].append(float(v))
    return {e: {k: round(fmean(vs), 2) for k, vs in by_key.items()} for e, by_key in values.items()}


@dataclass
class EntryProgress:
    entry_id: str
    name: str
    town: str
    cells: dict[str, str]  # inspector username → submitted / draft / missing / conflict


@dataclass
class RoundProgress:
    round_id: str
    title: str
    kind_label: str
    entries: list[EntryProgress] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)


@dataclass
class Progress:
    inspectors: list[dict[str, str]]
    rounds: list[RoundProgress]
    at: datetime


async def progress(deps: Deps) -> Progress:
    """Rounds in district review: entries × inspectors, each cell submitted / draft /
    missing / conflict, and the totals. One query per collection."""
    rounds = await repo.rounds_in_review(deps.db)
    entries = await repo.entries_in_running(deps.db, [r["_id"] for r in rounds])
    scores = await repo.scores_of_entries(deps.db, [e["_id"] for e in entries])
    inspectors = await repo.active_inspectors(deps.db)
    status = {(s["entry_id"], s["inspector"]): s["status"] for s in scores}
    out = {r["_id"]: RoundProgress(str(r["_id"]), r.get("title", ""), KIND_LABELS.get(r.get("kind", ""), ""),
                                   totals={"submitted": 0, "draft": 0, "missing": 0, "conflict": 0}) for r in rounds}
    for e in entries:
        cells = {}
        for i in inspectors:
            if conflict_reason(i["username"], str(i["_id"]), set(i.get("towns") or []), e):
                cell = "conflict"
            else:
                cell = status.get((e["_id"], i["username"]), "missing")
            cells[i["username"]] = cell
            out[e["round_id"]].totals[cell] += 1
        out[e["round_id"]].entries.append(EntryProgress(str(e["_id"]), (e.get("subject") or {}).get("name", ""),
                                                        e.get("town", ""), cells))
    return Progress([{"username": i["username"], "name": i.get("name", "")} for i in inspectors],
                    list(out.values()), db_now())
