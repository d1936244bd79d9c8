"""What the console's training overview (/console/training) shows, in the actor's scope:
counts, rooms whose administrator has not completed induction, recent certificates."""

from __future__ import annotations

from typing import Any

from server.readers.service import local_today
from server.resources import Deps
from server.staff.roles import Actor
from training.certificates import requirements, service
from training.certificates.models import CertificateQuery

RECENT = 10


async def overview(deps: Deps, actor: Actor) -> dict[str, Any]:
    year = local_today().year
    db = deps.db
    status = await requirements.requirements(deps, actor, year)
    courses = await db["training_courses"].count_documents({"active": True})
    from datetime import UTC, datetime

    sessions = await db["training_sessions"].count_documents(
        {"starts_at": {"$gte": datetime(year, 1, 1, tzinfo=UTC), "$lt": datetime(year + 1, 1, 1, tzinfo=UTC)},
         "status": {"$ne": "cancelled"}})
    scope = await service.scope_filter(deps, actor)
    certificates = await db["training_certificates"].count_documents(
        {"$and": [scope, {"issued_on": {"$gte": f"{year}-01-01", "$lte": f"{year}-12-31"}, "revoked": False}]})
    recent = await service.list_certificates(deps, actor, CertificateQuery(limit=RECENT, source="system"))
    return {
        "year": year, "status": status, "courses": courses, "sessions": sessions, "certificates": certificates,
        "recent": recent.items, "admins": len(status.administrators),
    }
