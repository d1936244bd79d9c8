"""The ``titles`` collection, the catalog's id counter, and read-only availability
from ``holdings`` (owned by server.stock).

Search uses one multikey index on ``search_keys`` (see server.catalog.searchkeys
for the key scheme and why).
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.catalog.isbn import internal_id

COLLECTION = "titles"
COUNTERS = "counters"
HOLDINGS = "holdings"
TITLE_ID_COUNTER = "catalog.title_id"
INDEXES = {
    COLLECTION: [
        IndexModel([("search_keys", ASCENDING)], name="search_keys"),
        # Items without an ISBN are recognised on a second import by this key.
        IndexModel([("identity_key", ASCENDING)], name="identity_key", sparse=True),
        IndexModel([("category", ASCENDING), ("_id", ASCENDING)], name="category_id"),
        IndexModel([("format", ASCENDING), ("_id", ASCENDING)], name="format_id"),
        IndexModel([("list_year", ASCENDING), ("category", ASCENDING)], name="list_year_category"),
    ],
}
_NO_KEYS = {"search_keys": 0, "identity_key": 0}
# What a search needs to verify and rank a candidate. Candidates are many and the
# page is few: the page's full documents are fetched afterwards by id (on
# SecantusDB this halves the median search time).
_RANKING = {"_id": 1, "title": 1, "search": 1}


async def by_id(db: AsyncDatabase, title_id: str, *, session: AsyncClientSession | None = None) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one({"_id": title_id}, _NO_KEYS, session=session)


async def by_ids(db: AsyncDatabase, ids: list[str]) -> list[dict[str, Any]]:
    if not ids:
        return []
    return await db[COLLECTION].find({"_id": {"$in": list(ids)}}, _NO_KEYS).to_list()


async def by_identity_keys(db: AsyncDatabase, keys: list[str]) -> list[dict[str, Any]]:
    if not keys:
        return []
    return await db[COLLECTION].find({"identity_key": {"$in": list(keys)}}).to_list()


async def search_candidates(
    db: AsyncDatabase, keys: list[str], *, fmt: str | None, category: str | None, cap: int
) -> list[dict[str, Any]]:
    """Titles carrying any of ``keys`` (shortest titles first, at most ``cap``), with only
    the fields ranking needs (``_id``, ``title``, ``search``).

    ``search_keys`` comes first in the filter so the server picks its index.
    """
    flt: dict[str, Any] = {"search_keys": {"$in": keys}}
    if fmt:
        flt["format"] = fmt
    if category:
        flt["category"] = category
    cursor = db[COLLECTION].find(flt, _RANKING).sort([("search.n", ASCENDING), ("_id", ASCENDING)])
    return await cursor.limit(cap).to_list()


async def list_page(
    db: AsyncDatabase, *, fmt: str | None, category: str | None, after: str | None, limit: int
) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {}
    if category:
        flt["category"] = category
    if fmt:
        flt["format"] = fmt
    if after is not None:
        flt["_id"] = {"$gt": after}
    return await db[COLLECTION].find(flt, _NO_KEYS).sort("_id", ASCENDING).limit(limit).to_list()


async def insert(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession | None = None) -> None:
    await db[COLLECTION].insert_one(doc, session=session)


async def update(
    db: AsyncDatabase, title_id: str, changes: dict[str, Any], *, session: AsyncClientSession | None = None
) -> dict[str, Any] | None:
    return await db[COLLECTION].find_one_and_update(
        {"_id": title_id}, {"$set": changes}, projection=_NO_KEYS, return_document=ReturnDocument.AFTER,
        session=session)


async def write_many(
    db: AsyncDatabase, creates: list[dict[str, Any]], updates: list[tuple[str, dict[str, Any]]],
    *, session: AsyncClientSession | None = None,
) -> None:
    """One bulk_write: insert ``creates`` (upsert by id, so a replayed import cannot
    duplicate) and ``$set`` each ``(title_id, changes)``."""
    ops: list[UpdateOne] = []
    for doc in creates:
        body = {k: v for k, v in doc.items() if k not in {"_id", "created_at"}}
        ops.append(UpdateOne({"_id": doc["_id"]}, {"$set": body, "$setOnInsert": {"created_at": doc["created_at"]}},
                             upsert=True))
    ops += [UpdateOne({"_id": title_id}, {"$set": changes}) for title_id, changes in updates]
    if ops:
        await db[COLLECTION].bulk_write(ops, ordered=True, session=session)


async def allocate_internal_ids(db: AsyncDatabase, count: int) -> list[str]:
    """``count`` fresh internal ids ("SW" + 11 digits) in one atomic step. Runs outside
    any transaction on purpose: an id handed out and then not used is only a gap."""
    if count <= 0:
        return []
    doc = await db[COUNTERS].find_one_and_update(
        {"_id": TITLE_ID_COUNTER}, {"$inc": {"seq": count}}, upsert=True, return_document=ReturnDocument.AFTER)
    assert doc is not None
    last = int(doc["seq"])
    return [internal_id(seq) for seq in range(last - count + 1, last + 1)]


async def availability(db: AsyncDatabase, title_ids: list[str], room: str | None) -> dict[str, tuple[int, int]]:
    """title_id → (copies on the shelf in ``room``, rooms with a copy on the shelf), for
    every title in one aggregation over ``holdings``."""
    if not title_ids:
        return {}
    pipeline: list[dict[str, Any]] = [
        {"$match": {"title_id": {"$in": list(title_ids)}, "on_shelf": {"$gt": 0}}},
        {"$group": {
            "_id": "$title_id",
            "rooms": {"$sum": 1},
            "here": {"$sum": {"$cond": [{"$eq": ["$room", room]}, "$on_shelf", 0]}},
        }},
    ]
    out = {}
    async for row in await db[HOLDINGS].aggregate(pipeline):
        out[row["_id"]] = (int(row["here"]), int(row["rooms"]))
    return out
