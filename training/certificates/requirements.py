"""Training requirements: a room's administrator must have completed the induction course
(岗前培训) before taking the post, and (a setting) complete ``training_refresher_hours`` of
training each calendar year.

Both are read from valid (not revoked) certificates, system-issued or loaded from history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.resources import Deps
from server.staff.roles import Actor, Role
from training.certificates import repo
from training.certificates.models import (
    AdministratorStatus,
    RequirementsOut,
    RoomAdministrator,
    RoomWithoutInduction,
)


@dataclass(frozen=True)
class TrainingStatus:
    inducted: bool
    induction_number: str | None
    hours_in_year: float
    refresher_met: bool
    certificates: list[str] = field(default_factory=list)


def status_from(certificates: list[dict[str, Any]], year: int, refresher_hours: float) -> TrainingStatus:
    """One person's status from their valid certificates (pure)."""
    induction = next((c for c in certificates if c["kind"] == "induction"), None)
    hours = round(sum(float(c["hours"]) for c in certificates if c["issued_on"].startswith(f"{year}-")), 2)
    return TrainingStatus(inducted=induction is not None, induction_number=induction["number"] if induction else None,
                          hours_in_year=hours, refresher_met=refresher_hours == 0 or hours >= refresher_hours,
                          certificates=[c["number"] for c in certificates])


async def training_status(deps: Deps, staff_ids: list[str], year: int) -> dict[str, TrainingStatus]:
    """Each person's training status in ``year`` (one query): inducted (ever), hours of
    certificates issued in the year, whether that meets the yearly refresher setting."""
    by_staff: dict[str, list[dict[str, Any]]] = {s: [] for s in staff_ids}
    if staff_ids:
        for doc in await repo.of_staff(deps.db, list(staff_ids)):
            by_staff[doc["staff_id"]].append(doc)
    needed = deps.settings.training_refresher_hours
    return {s: status_from(docs, year, needed) for s, docs in by_staff.items()}


async def _rooms_and_admins(deps: Deps, towns: list[str] | None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    flt: dict[str, Any] = {"status": "active"}
    if towns is not None:
        flt["town"] = {"$in": towns}
    rooms = await deps.db["rooms"].find(flt, {"code": 1, "name": 1, "town": 1}).sort("code", 1).to_list()
    admins = await deps.db["staff"].find(
        {"role": "room_admin", "active": True, "rooms": {"$in": [r["code"] for r in rooms]}},
        {"username": 1, "name": 1, "rooms": 1}).sort("username", 1).to_list()
    return rooms, admins


def _town_scope(actor: Actor | None) -> list[str] | None:
    if actor is not None and actor.role is Role.TOWN_COORDINATOR:
        return sorted(actor.towns)
    return None


async def requirements(deps: Deps, actor: Actor | None, year: int) -> RequirementsOut:
    """Every active administrator of an active room in the actor's scope (a town coordinator:
    their towns), with their status in ``year``, and the rooms that need attention: those
    whose administrators have not all been inducted, and those with no administrator."""
    rooms, admins = await _rooms_and_admins(deps, _town_scope(actor))
    status = await training_status(deps, [str(a["_id"]) for a in admins], year)
    people = [AdministratorStatus(staff_id=str(a["_id"]), username=a["username"], name=a["name"],
                                  rooms=list(a.get("rooms") or []), inducted=status[str(a["_id"])].inducted,
                                  induction_number=status[str(a["_id"])].induction_number,
                                  hours_in_year=status[str(a["_id"])].hours_in_year,
                                  refresher_met=status[str(a["_id"])].refresher_met) for a in admins]
    by_room: dict[str, list[AdministratorStatus]] = {}
    for p in people:
        for code in p.rooms:
            by_room.setdefault(code, []).append(p)
    without_induction, without_admin = [], []
    for room in rooms:
        here = by_room.get(room["code"], [])
        item = RoomWithoutInduction(room=room["code"], name=room["name"], town=room["town"],
                                    administrators=[RoomAdministrator(staff_id=p.staff_id, name=p.name,
                                                                      inducted=p.inducted) for p in here])
        if not here:
            without_admin.append(item)
        elif not all(p.inducted for p in here):
            without_induction.append(item)
    return RequirementsOut(year=year, refresher_hours=deps.settings.training_refresher_hours, administrators=people,
                           inducted=sum(1 for p in people if p.inducted),
                           refresher_met=sum(1 for p in people if p.refresher_met),
                           rooms_without_induction=without_induction, rooms_without_administrator=without_admin)


async def rooms_without_induction(deps: Deps) -> list[dict[str, Any]]:
    """Active rooms whose active administrators are not all inducted, and (flagged with
    ``no_administrator``) active rooms with no administrator at all:
    ``[{room, name, town, no_administrator, administrators: [{staff_id, name, inducted}]}]``."""
    out = await requirements(deps, None, _this_year())
    return ([{**r.model_dump(), "no_administrator": False} for r in out.rooms_without_induction]
            + [{**r.model_dump(), "no_administrator": True} for r in out.rooms_without_administrator])


def _this_year() -> int:
    from server.readers.service import local_today

    return local_today().year
