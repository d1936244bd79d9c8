"""``holdings`` (the projection) and ``stock_moves`` (the append-only ledger).

``apply_moves`` (one operation) and ``apply_move_groups`` (many, for offline
sync) are the only writers of both: one bulk update of the holdings, each
guarded so no counter can go below zero, and one insert of the moves, in the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, IndexModel, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from server.errors import Conflict
from server.stock.ledger import STATES, Move

HOLDINGS = "holdings"
MOVES = "stock_moves"
INDEXES = {
    HOLDINGS: [
        IndexModel([("room", ASCENDING), ("title_id", ASCENDING)], unique=True),
        IndexModel([("title_id", ASCENDING), ("on_shelf", DESCENDING)]),
    ],
    MOVES: [
        IndexModel([("op_id", ASCENDING), ("seq", ASCENDING)], unique=True),
        IndexModel([("room", ASCENDING), ("title_id", ASCENDING), ("at", ASCENDING)]),
        IndexModel([("room", ASCENDING), ("at", DESCENDING)]),
    ],
}
STATE_LABELS = {"on_shelf": "在架", "on_loan": "借出", "in_transit": "在途", "lost": "丢失", "damaged": "损坏"}


class InsufficientStock(Conflict):
    """A move would take a counter below zero."""


async def apply_moves(
    db: AsyncDatabase, session: AsyncClientSession, moves: list[Move], *, op_id: str, actor: str,
    at: datetime, reference: dict[str, Any] | None = None,
) -> None:
    """Apply ``moves`` to ``holdings`` and append them to ``stock_moves`` (two round trips).

    Raises InsufficientStock naming the room, title and state if any counter
    would go negative; the caller's transaction then writes nothing.
    """
    if not moves:
        return
    updates = []
    for move in moves:
        delta = move.delta
        flt: dict[str, Any] = {"room": move.room, "title_id": move.title_id}
        flt.update({state: {"$gte": -n} for state, n in delta.items() if n < 0})
        upsert = all(n > 0 for n in delta.values())
        update: dict[str, Any] = {"$inc": delta, "$set": {"updated_at": at}}
        if upsert:
            update["$setOnInsert"] = {s: 0 for s in STATES if s not in delta}
        updates.append(UpdateOne(flt, update, upsert=upsert))
    result = await db[HOLDINGS].bulk_write(updates, ordered=True, session=session)
    if result.matched_count + result.upserted_count < len(updates):
        await _raise_shortfall(db, session, moves)
    await db[MOVES].insert_many(
        [
            {"op_id": op_id, "seq": seq, "room": m.room, "title_id": m.title_id, "kind": str(m.kind),
             "quantity": m.quantity, "delta": m.delta, "actor": actor, "at": at, "reference": reference or {}}
            for seq, m in enumerate(moves)
        ],
        session=session,
    )


@dataclass(frozen=True)
class MoveGroup:
    """The moves of one operation, for ``apply_move_groups``."""

    op_id: str
    moves: list[Move]
    actor: str
    at: datetime
    reference: dict[str, Any] = field(default_factory=dict)


async def apply_move_groups(db: AsyncDatabase, session: AsyncClientSession, groups: list[MoveGroup], *,
                            holding_ids: Mapping[tuple[str, str], Any] | None = None) -> None:
    """Many operations' moves in two round trips (offline sync applies thousands at once).

    Each holding gets one update: the sum of its deltas, guarded so that no counter
    would have gone below zero at any point of the sequence (the guard is the deepest
    running total, not just the net change). ``holding_ids`` ((room, title) → _id, from
    a read in the same transaction) lets the updates find their documents by _id.
    Raises InsufficientStock like ``apply_moves``; the caller's transaction then
    writes nothing.
    """
    if not groups:
        return
    now = datetime.now(UTC)
    net: dict[tuple[str, str], dict[str, int]] = {}
    floor: dict[tuple[str, str], dict[str, int]] = {}
    for group in groups:
        for move in group.moves:
            key = (move.room, move.title_id)
            sums, lows = net.setdefault(key, {}), floor.setdefault(key, {})
            for state, n in move.delta.items():
                sums[state] = sums.get(state, 0) + n
                lows[state] = min(lows.get(state, 0), sums[state])
    updates = []
    for (room, title_id), sums in net.items():
        guard = {state: {"$gte": -low} for state, low in floor[(room, title_id)].items() if low < 0}
        update: dict[str, Any] = {"$inc": dict(sums), "$set": {"updated_at": now}}
        if not guard:
            update["$setOnInsert"] = {s: 0 for s in STATES if s not in sums}
        known = (holding_ids or {}).get((room, title_id))
        where = {"_id": known} if known is not None else {"room": room, "title_id": title_id}
        updates.append(UpdateOne({**where, **guard}, update, upsert=not guard and known is None))
    result = await db[HOLDINGS].bulk_write(updates, ordered=True, session=session)
    if result.matched_count + result.upserted_count < len(updates):
        raise InsufficientStock("库存已被其他操作改变，请重试", code="stock_changed")
    await db[MOVES].insert_many(
        [
            {"op_id": g.op_id, "seq": seq, "room": m.room, "title_id": m.title_id, "kind": str(m.kind),
             "quantity": m.quantity, "delta": m.delta, "actor": g.actor, "at": g.at, "reference": g.reference}
            for g in groups for seq, m in enumerate(g.moves)
        ],
        session=session,
    )


async def _raise_shortfall(db: AsyncDatabase, session: AsyncClientSession, moves: list[Move]) -> None:
    """Find which move could not apply (cold path: runs only on refusal)."""
    keys = [{"room": m.room, "title_id": m.title_id} for m in moves]
    docs = await db[HOLDINGS].find({"$or": keys}, session=session).to_list()
    # Replay the moves in order against what is stored now to find the first that fails.
    current = {(d["room"], d["title_id"]): {s: d.get(s, 0) for s in STATES} for d in docs}
    for move in moves:
        counts = current.setdefault((move.room, move.title_id), dict.fromkeys(STATES, 0))
        for state, n in move.delta.items():
            if counts[state] + n < 0:
                raise InsufficientStock(
                    f"{move.room} 的这种书{STATE_LABELS[state]}数量不足（现有 {counts[state]} 册，需要 {-n} 册）",
                    code=f"insufficient_{state}",
                )
        for state, n in move.delta.items():
            counts[state] += n
    raise InsufficientStock("库存已被其他操作改变，请重试", code="stock_changed")


async def holding(db: AsyncDatabase, room: str, title_id: str) -> dict[str, Any] | None:
    return await db[HOLDINGS].find_one({"room": room, "title_id": title_id})


async def holdings_page(db: AsyncDatabase, room: str, *, after: str | None, limit: int) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"room": room}
    if after is not None:
        flt["title_id"] = {"$gt": after}
    return await db[HOLDINGS].find(flt).sort("title_id", ASCENDING).limit(limit).to_list()


async def room_totals(db: AsyncDatabase, room: str) -> dict[str, int]:
    rows = await (await db[HOLDINGS].aggregate([
        {"$match": {"room": room}},
        {"$group": {"_id": None, "titles": {"$sum": 1}, **{s: {"$sum": f"${s}"} for s in STATES}}},
    ])).to_list()
    if not rows:
        return {"titles": 0, **dict.fromkeys(STATES, 0)}
    rows[0].pop("_id")
    return {k: int(v) for k, v in rows[0].items()}


async def moves_page(db: AsyncDatabase, flt: dict[str, Any], *, before: Any | None, limit: int) -> list[dict[str, Any]]:
    if before is not None:
        flt = {**flt, "_id": {"$lt": before}}
    return await db[MOVES].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def ledger_sums(db: AsyncDatabase) -> list[dict[str, Any]]:
    """Per (room, title): the sum of every move's delta — what holdings must equal."""
    cursor = await db[MOVES].aggregate([
        {"$group": {"_id": {"room": "$room", "title_id": "$title_id"},
                    **{s: {"$sum": {"$ifNull": [f"$delta.{s}", 0]}} for s in STATES}}},
    ])
    return await cursor.to_list()


async def all_holdings(db: AsyncDatabase) -> list[dict[str, Any]]:
    return await db[HOLDINGS].find({}, {"_id": 0, "room": 1, "title_id": 1, **dict.fromkeys(STATES, 1)}).to_list()
