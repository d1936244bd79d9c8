"""The reads and writes 书香之家 needs in the ratings collections (``rating_rounds``,
``rating_entries``, owned by ``training.ratings``): reading-family rounds and one family's
entries. Entries are found through their rounds so the (round_id, subject_key) index serves.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import DESCENDING, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

ROUNDS = "rating_rounds"
ENTRIES = "rating_entries"
KIND = "reading_family"


def subject_key(account_id: ObjectId | str) -> str:
    return f"family:acc:{account_id}"


async def open_round(db: AsyncDatabase, *, session: AsyncClientSession | None = None) -> dict[str, Any] | None:
    """The district-level reading-family round open for nominations (the newest if several)."""
    return await db[ROUNDS].find_one({"kind": KIND, "level": "district", "status": "open", "locked": {"$ne": True}},
                                     sort=[("year", DESCENDING)], session=session)


async def family_rounds(db: AsyncDatabase) -> dict[ObjectId, dict[str, Any]]:
    docs = await db[ROUNDS].find({"kind": KIND}).sort("year", DESCENDING).to_list(None)
    return {d["_id"]: d for d in docs}


async def entries_of(db: AsyncDatabase, account_id: ObjectId | str, round_ids: list[ObjectId], *,
                     session: AsyncClientSession | None = None) -> list[dict[str, Any]]:
    """The family's entries in ``round_ids``, newest first."""
    if not round_ids:
        return []
    return await db[ENTRIES].find({"round_id": {"$in": round_ids}, "subject_key": subject_key(account_id)},
                                  session=session).sort("created_at", DESCENDING).to_list(None)


async def entry_by_id(db: AsyncDatabase, entry_id: ObjectId) -> dict[str, Any] | None:
    return await db[ENTRIES].find_one({"_id": entry_id})


async def update_entry(db: AsyncDatabase, entry_id: ObjectId, expected_status: list[str], changes: dict[str, Any], *,
                       session: AsyncClientSession) -> bool:
    result = await db[ENTRIES].update_one({"_id": entry_id, "status": {"$in": expected_status}}, {"$set": changes},
                                          session=session)
    return result.modified_count == 1


async def anonymise(db: AsyncDatabase, changes: list[tuple[ObjectId, dict[str, Any]]], *,
                    session: AsyncClientSession) -> None:
    """Apply each entry's changes in one round trip."""
    if changes:
        await db[ENTRIES].bulk_write([UpdateOne({"_id": oid}, {"$set": c}) for oid, c in changes], session=session)
