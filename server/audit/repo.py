"""The ``audit`` collection: append-only; newest first when listed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import DESCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.audit.models import AuditEntry, AuditPage, AuditQuery
from server.pagination import decode_id_cursor, split_page
from server.staff.roles import Actor

COLLECTION = "audit"
INDEXES = {
    COLLECTION: [
        IndexModel([("room", 1), ("_id", DESCENDING)]),
        IndexModel([("actor", 1), ("_id", DESCENDING)]),
        IndexModel([("target_type", 1), ("target_id", 1), ("_id", DESCENDING)]),
    ]
}


async def record(
    db: AsyncDatabase,
    actor: Actor,
    action: str,
    *,
    target_type: str,
    target_id: str,
    room: str | None = None,
    changes: dict[str, Any] | None = None,
    session: AsyncClientSession | None = None,
) -> None:
    """Append one entry; pass the write's ``session`` so the entry commits with it or not at all."""
    await db[COLLECTION].insert_one(
        {
            "at": datetime.now(UTC),
            "actor_id": actor.staff_id,
            "actor": actor.username,
            "role": str(actor.role),
            "action": action,
            "target_type": target_type,
            "target_id": target_id,
            "room": room,
            "changes": changes or {},
            "request_id": actor.request_id,
            "ip": actor.ip,
        },
        session=session,
    )


async def list_entries(db: AsyncDatabase, query: AuditQuery) -> AuditPage:
    flt: dict[str, Any] = {}
    if query.room:
        flt["room"] = query.room
    if query.actor:
        flt["actor"] = query.actor
    if query.action:
        flt["action"] = query.action
    if query.cursor:
        flt["_id"] = {"$lt": decode_id_cursor(query.cursor)}
    docs = await db[COLLECTION].find(flt).sort("_id", DESCENDING).limit(query.limit + 1).to_list()
    docs, next_cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    return AuditPage(items=[AuditEntry(id=str(d.pop("_id")), **d) for d in docs], next_cursor=next_cursor)
