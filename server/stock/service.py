"""Stock rules: receiving copies, writing them off, reading holdings, checking the ledger.

Every change goes through ``repo.apply_moves`` inside ``idempotency.run_once``:
one transaction writes the holdings, the ledger entries, the operation record
and the audit entry, or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from server import idempotency
from server.audit import repo as audit
from server.errors import FieldProblem, InvalidInput
from server.pagination import decode_cursor, decode_id_cursor, split_page
from server.rooms.service import authorize_room
from server.staff.roles import Actor
from server.stock import repo
from server.stock.ledger import STATES, Move, MoveKind, fold, negatives
from server.stock.models import (
    HoldingOut,
    HoldingsPage,
    HoldingsQuery,
    MoveOut,
    MovesPage,
    MovesQuery,
    OperationOut,
    ReceiptIn,
    WriteOffIn,
)

if TYPE_CHECKING:
    from server.resources import Deps

TITLES = "titles"


async def require_titles(deps: Deps, title_ids: list[str], *, loc: tuple[str | int, ...]) -> dict[str, dict[str, Any]]:
    """The catalog entries for ``title_ids`` (one query); InvalidInput naming each unknown one."""
    docs = await deps.db[TITLES].find({"_id": {"$in": list(set(title_ids))}}, {"title": 1, "author": 1, "format": 1}).to_list()
    found = {d["_id"]: d for d in docs}
    missing = [i for i, t in enumerate(title_ids) if t not in found]
    if missing:
        raise InvalidInput(
            "目录中没有这种书，请先登记书目", code="unknown_title",
            errors=[FieldProblem((*loc, i, "title_id") if len(title_ids) > 1 or loc[-1] == "lines" else (*loc,),
                                 f"{title_ids[i]} 不在目录中") for i in missing],
        )
    return found


async def receive(deps: Deps, actor: Actor, room: str, data: ReceiptIn) -> OperationOut:
    """New copies arrive in ``room``. Idempotent per op_id."""
    await authorize_room(deps, actor, room)
    await require_titles(deps, [line.title_id for line in data.lines], loc=("body", "lines"))
    moves = [Move(room, line.title_id, MoveKind.RECEIVE, line.quantity) for line in data.lines]
    copies = sum(line.quantity for line in data.lines)

    async def work(session: Any) -> dict[str, Any]:
        now = datetime.now(UTC)
        await repo.apply_moves(deps.db, session, moves, op_id=data.op_id, actor=actor.username, at=now,
                               reference={"receipt": data.reference} if data.reference else None)
        await audit.record(deps.db, actor, "stock.receive", target_type="room", target_id=room, room=room,
                           changes={"op_id": data.op_id, "lines": len(moves), "copies": copies,
                                    "reference": data.reference}, session=session)
        return {"room": room, "lines": len(moves), "copies": copies}

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=data.op_id, kind="receive", room=room, actor=actor.username, work=work)
    return OperationOut(op_id=data.op_id, replayed=replayed, result=result)


async def write_off(deps: Deps, actor: Actor, room: str, data: WriteOffIn) -> OperationOut:
    """Copies on the shelf found lost or damaged. Conflict if the shelf has fewer."""
    await authorize_room(deps, actor, room)
    await require_titles(deps, [data.title_id], loc=("body", "title_id"))
    kind = MoveKind.WRITE_OFF_LOST if data.reason == "lost" else MoveKind.WRITE_OFF_DAMAGED
    move = Move(room, data.title_id, kind, data.quantity)

    async def work(session: Any) -> dict[str, Any]:
        await repo.apply_moves(deps.db, session, [move], op_id=data.op_id, actor=actor.username,
                               at=datetime.now(UTC), reference={"note": data.note} if data.note else None)
        await audit.record(deps.db, actor, "stock.write_off", target_type="title", target_id=data.title_id,
                           room=room, changes={"op_id": data.op_id, "quantity": data.quantity,
                                               "reason": data.reason, "note": data.note}, session=session)
        return {"room": room, "title_id": data.title_id, "quantity": data.quantity, "reason": data.reason}

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=data.op_id, kind="write_off", room=room, actor=actor.username, work=work)
    return OperationOut(op_id=data.op_id, replayed=replayed, result=result)


async def list_holdings(deps: Deps, actor: Actor, room: str, query: HoldingsQuery) -> HoldingsPage:
    await authorize_room(deps, actor, room)
    after = str(decode_cursor(query.cursor, arity=1)[0]) if query.cursor else None
    docs = await repo.holdings_page(deps.db, room, after=after, limit=query.limit + 1)
    docs, next_cursor = split_page(docs, query.limit, lambda d: [d["title_id"]])
    titles = await deps.db[TITLES].find({"_id": {"$in": [d["title_id"] for d in docs]}},
                                        {"title": 1, "author": 1}).to_list() if docs else []
    by_id = {t["_id"]: t for t in titles}
    items = [
        HoldingOut(room=room, title_id=d["title_id"], title=by_id.get(d["title_id"], {}).get("title"),
                   author=by_id.get(d["title_id"], {}).get("author"), **{s: d.get(s, 0) for s in STATES})
        for d in docs
    ]
    return HoldingsPage(items=items, next_cursor=next_cursor,
                        totals=await repo.room_totals(deps.db, room))


async def list_moves(deps: Deps, actor: Actor, room: str, query: MovesQuery) -> MovesPage:
    await authorize_room(deps, actor, room)
    flt: dict[str, Any] = {"room": room}
    if query.title_id:
        flt["title_id"] = query.title_id
    before = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.moves_page(deps.db, flt, before=before, limit=query.limit + 1)
    docs, next_cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    items = [MoveOut(id=str(d.pop("_id")), **{k: v for k, v in d.items() if k != "seq"}) for d in docs]
    return MovesPage(items=items, next_cursor=next_cursor)


@dataclass
class LedgerMismatch:
    room: str
    title_id: str
    holding: dict[str, int]
    ledger: dict[str, int]

    def __str__(self) -> str:
        return f"{self.room} {self.title_id}: holdings {self.holding} != ledger {self.ledger}"


async def check_ledger(deps: Deps) -> tuple[int, list[LedgerMismatch]]:
    """Compare every holding with the fold of the ledger (ARCHITECTURE invariant 1).

    Returns (holdings checked, mismatches); a negative counter is a mismatch too.
    """
    sums = await repo.ledger_sums(deps.db)
    folded = fold((s["_id"]["room"], s["_id"]["title_id"], {k: s[k] for k in STATES}) for s in sums)
    stored = {(h["room"], h["title_id"]): {s: h.get(s, 0) for s in STATES} for h in await repo.all_holdings(deps.db)}
    zero = dict.fromkeys(STATES, 0)
    problems = []
    for key in sorted(set(folded) | set(stored)):
        have, want = stored.get(key, zero), folded.get(key, zero)
        if have != want or negatives(have):
            problems.append(LedgerMismatch(key[0], key[1], have, want))
    return len(stored), problems
