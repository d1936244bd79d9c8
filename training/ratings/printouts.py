"""Loads what the rating documents need and renders them off the event loop (documents.py is pure).

Certificates and plaques exist only for awarded or nominated entries of a decided (locked) round:
RuleViolation ``not_awarded`` otherwise.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from server.circulation.rules import LOCAL_TZ
from server.errors import RuleViolation
from training.ratings import documents, repo
from training.ratings.entries import get_entry_doc
from training.ratings.service import get_round_doc

if TYPE_CHECKING:
    from server.resources import Deps

AWARDED = ["awarded", "nominated"]


def _issuer(deps: Deps) -> str:
    return f"{deps.settings.district.name}图书馆"


async def certificate(deps: Deps, entry_id: str) -> bytes:
    entry = await get_entry_doc(deps, entry_id)
    doc = await get_round_doc(deps, entry["round_id"])
    if not doc.get("locked") or entry["status"] not in AWARDED:
        raise RuleViolation("只有已决定的评选中获评的对象才有荣誉证书", code="not_awarded")
    rooms = await repo.rooms_by_code(deps.db, [entry["subject"]["room"]])
    entry = {**entry, "room_name": rooms.get(entry["subject"]["room"], {}).get("name", "")}
    decided = doc.get("decided_at") or doc["updated_at"]
    issued_on = decided.astimezone(LOCAL_TZ).date()
    return await asyncio.to_thread(documents.certificate_pdf, doc, entry, district=deps.settings.district.name,
                                   issuer=_issuer(deps), issued_on=issued_on)


async def plaques(deps: Deps, round_id: str) -> bytes:
    doc = await get_round_doc(deps, round_id)
    if not doc.get("locked"):
        raise RuleViolation("评选结果决定后才能打印牌匾文字", code="not_awarded")
    entries = await repo.entries(deps.db, doc["_id"], statuses=AWARDED)
    return await asyncio.to_thread(documents.plaques_pdf, doc, entries, district=deps.settings.district.name,
                                   issuer=_issuer(deps))


async def results(deps: Deps, round_id: str) -> bytes:
    doc = await get_round_doc(deps, round_id)
    entries = await repo.entries(deps.db, doc["_id"])
    rooms = await repo.rooms_by_code(deps.db, sorted({e["subject"]["room"] for e in entries}))
    return await asyncio.to_thread(documents.results_xlsx, doc, entries, rooms)
