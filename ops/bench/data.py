"""Benchmark data written straight into MongoDB with bulk inserts (fast; no API calls).

- the catalog: ``tests.catalog.synthetic`` rows, stored the way the catalog stores a title
  (its own document builder when ``server.catalog`` has one, else the same fields built
  from ``server.catalog.searchkeys``);
- per room: holdings of some titles (each with a matching ``receive`` ledger entry, so
  ``check-ledger`` stays clean) and some adult readers with cards.

Everything is deterministic for a given seed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from server.resources import Deps

INSERT_BATCH = 250
INSERT_CONCURRENCY = 4
COPIES_PER_HOLDING = 2
KEY_WORKERS = 2  # the machine has two cores


@dataclass
class RoomData:
    """What one room's phone works with: its titles on the shelf and its readers' cards."""

    code: str
    username: str
    titles: list[str] = field(default_factory=list)
    cards: list[str] = field(default_factory=list)
    reader_ids: dict[str, Any] = field(default_factory=dict)  # card → ObjectId


def _title_doc(row: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One catalog document: the catalog's own builder if it exists, else the same shape."""
    builder = catalog_builder()
    if builder is not None:
        return builder(row, now)
    from server.catalog.classification import category_for
    from server.catalog.searchkeys import search_fields, search_keys

    fields = search_fields(str(row["title"]), str(row["author"]))
    isbn = str(row["isbn"])
    return {
        "_id": isbn, "isbn": isbn, "title": row["title"], "author": row["author"], "publisher": row["publisher"],
        "year": row["year"], "clc": row["clc"], "category": category_for(str(row["clc"])), "children": False,
        "format": "book", "price_cents": row["price_cents"], "list_year": None, "publisher_province": None,
        "created_at": now, "updated_at": now, "search": fields.as_doc(), "search_keys": search_keys(fields, isbn),
    }


def catalog_builder() -> Any:
    """A function (row, now) -> stored title document from ``server.catalog``, if it has one
    (``service.title_document``: "so that seeders and benchmarks write exactly what the catalog writes")."""
    try:
        from server.catalog.service import title_document
    except ImportError:
        return None

    def build(row: dict[str, Any], now: datetime) -> dict[str, Any]:
        return title_document(dict(row), str(row["isbn"]), now=now)

    return build


def uses_catalog_builder() -> bool:
    return catalog_builder() is not None


def _docs_chunk(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    now = datetime.now(UTC).replace(microsecond=0)
    return [_title_doc(r, now) for r in rows]


def title_documents(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Build the documents in worker processes (pypinyin is the slow part)."""
    if len(rows) < 5000:
        return _docs_chunk(rows)
    size = (len(rows) + KEY_WORKERS * 4 - 1) // (KEY_WORKERS * 4)
    chunks = [rows[i : i + size] for i in range(0, len(rows), size)]
    with ProcessPoolExecutor(KEY_WORKERS) as pool:
        return [doc for part in pool.map(_docs_chunk, chunks) for doc in part]


async def insert_all(deps: Deps, collection: str, docs: list[dict[str, Any]]) -> None:
    """insert_many in batches, a few at a time (the server indexes while inserting)."""
    gate = asyncio.Semaphore(INSERT_CONCURRENCY)

    async def one(batch: list[dict[str, Any]]) -> None:
        async with gate:
            await deps.db[collection].insert_many(batch, ordered=False)

    await asyncio.gather(*(one(docs[i : i + INSERT_BATCH]) for i in range(0, len(docs), INSERT_BATCH)))


async def load_catalog(deps: Deps, n: int, seed: int) -> list[dict[str, Any]]:
    """Insert ``n`` synthetic titles; returns the rows (for building search queries)."""
    from tests.catalog import synthetic

    rows = synthetic.rows(n, seed=seed)
    try:  # the catalog's indexes, whether or not start-up creates them yet (idempotent)
        from server.catalog import repo as catalog_repo
        from server.storage import ensure_indexes

        await ensure_indexes(deps.db, catalog_repo.INDEXES)
    except ImportError:
        pass
    docs = await asyncio.get_running_loop().run_in_executor(None, title_documents, rows)
    await insert_all(deps, "titles", docs)
    return rows


async def rooms(deps: Deps) -> list[dict[str, Any]]:
    return await deps.db.rooms.find({"status": "active"}, {"code": 1, "town": 1}).sort("code", 1).to_list()


async def stock_rooms(deps: Deps, room_docs: list[dict[str, Any]], title_ids: list[str], *, titles_per_room: int,
                      readers_per_room: int, seed: int) -> list[RoomData]:
    """Holdings (``COPIES_PER_HOLDING`` on the shelf of each of ``titles_per_room`` titles, with
    their receive entries in the ledger) and adult readers, for every room."""
    from server.readers.service import PHONE_CONTEXT, phone_key

    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    holdings: list[dict[str, Any]] = []
    moves: list[dict[str, Any]] = []
    readers: list[dict[str, Any]] = []
    out: list[RoomData] = []
    serial = 90_000_000  # card serials far above what registration hands out in a fresh database
    for room in room_docs:
        code = room["code"]
        data = RoomData(code=code, username=code.lower(), titles=rng.sample(title_ids, titles_per_room))
        for seq, title_id in enumerate(data.titles):
            holdings.append({"room": code, "title_id": title_id, "on_shelf": COPIES_PER_HOLDING, "on_loan": 0,
                             "in_transit": 0, "lost": 0, "damaged": 0, "updated_at": now})
            moves.append({"op_id": f"bench-receive-{code}", "seq": seq, "room": code, "title_id": title_id,
                          "kind": "receive", "quantity": COPIES_PER_HOLDING, "delta": {"on_shelf": COPIES_PER_HOLDING},
                          "actor": "bench", "at": now, "reference": {"receipt": "benchmark"}})
        for _ in range(readers_per_room):
            serial += 1
            card = f"{deps.settings.district.code}{serial:08d}"
            phone = f"139{rng.randrange(10**8):08d}"
            key = phone_key(deps, phone)
            readers.append({"card_no": card, "name": "读者" + card[-4:], "birth_year": rng.randint(1950, 2005),
                            "birth_date": None, "home_room": code, "home_town": room["town"],
                            "phone_enc": deps.cipher.encrypt(phone, context=PHONE_CONTEXT), "phone_key": key,
                            "id_enc": None, "guardian": None, "consent": None, "blocked": None,
                            "open_loans": {"book": 0, "audio_visual": 0}, "created_at": now, "created_by": "bench",
                            "updated_at": now, "lookup_keys": [key]})
            data.cards.append(card)
        out.append(data)
    await insert_all(deps, "holdings", holdings)
    await insert_all(deps, "stock_moves", moves)
    await insert_all(deps, "readers", readers)
    by_card = {r["card_no"]: r["_id"] for r in readers}
    for data in out:
        data.reader_ids = {c: by_card[c] for c in data.cards}
    return out


def split(items: Iterable[Any], parts: int) -> list[list[Any]]:
    """``items`` dealt round-robin into ``parts`` lists."""
    out: list[list[Any]] = [[] for _ in range(parts)]
    for i, item in enumerate(items):
        out[i % parts].append(item)
    return out
