"""Every repository's index declarations, created at start-up."""

from __future__ import annotations

from pymongo.asynchronous.database import AsyncDatabase

from server.audit import repo as audit_repo
from server.rooms import repo as rooms_repo
from server.staff import repo as staff_repo
from server.storage import ensure_indexes

ALL_INDEXES = (audit_repo.INDEXES, rooms_repo.INDEXES, staff_repo.INDEXES)


async def ensure_all_indexes(db: AsyncDatabase) -> None:
    await ensure_indexes(db, *ALL_INDEXES)
