"""The books part of "export my data" and "delete my data" (PIPL arts. 45 and 47).

Export: the family's loans (open and returned, with titles), holds, and the purchase
suggestions they made or support. Erase: active holds are cancelled (the copy goes to the
next reader in the queue), ended holds and returned loans lose the reader (room, title and
dates stay for the statistics), the members leave every suggestion (one only they support
is deleted) and the stored answers of their operations are dropped. Open loans are not
touched: they block deleting an account (``accounts.privacy.delete_account``).
Every step can run again (an interrupted erasure is simply repeated).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from miniprogram_api.books import repo, suggestions
from server.circulation import holds
from server.circulation import repo as circulation_repo
from server.circulation.desk import titles_by_id
from server.storage import in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

NAME = "books"
EXPORT_MAX = 10_000
ERASE_REASON = "读者的个人信息已删除"
# Operation kinds whose stored answers name the reader (hold, cancel, renew, suggestion).
OP_KINDS = ("hold", "hold_cancel", "renew", "mp_suggestion")


def _readers(members: list[dict[str, Any]]) -> dict[ObjectId, dict[str, Any]]:
    return {m["reader_id"]: m for m in members if m.get("reader_id")}


async def export(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]]) -> dict[str, Any]:
    owners = _readers(members)
    loans = await repo.loans_of(deps.db, list(owners), limit=EXPORT_MAX)
    held = await repo.holds_of(deps.db, list(owners), limit=EXPORT_MAX)
    titles = await titles_by_id(deps, [d["title_id"] for d in [*loans, *held]])

    def named(doc: dict[str, Any]) -> dict[str, Any]:
        member = owners.get(doc["reader_id"])
        return {"member_id": str(member["_id"]) if member else None, "title_id": doc["title_id"],
                "title": titles.get(doc["title_id"], {}).get("title")}

    return {
        "loans": [{**named(d), "room": d["room"], "lent_at": d["lent_at"], "due_at": d["due_at"],
                   "renewals": d.get("renewals", 0), "returned_at": d.get("returned_at"),
                   "returned_room": d.get("returned_room")} for d in loans],
        "holds": [{**named(d), "pickup_room": d["pickup_room"], "status": d["status"], "placed_at": d["placed_at"],
                   "ready_at": d.get("ready_at"), "expires_at": d.get("expires_at"), "closed_at": d.get("closed_at")}
                  for d in held],
        "suggestions": await suggestions.export_for(deps, [m["_id"] for m in members]),
    }


async def erase(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]], now: datetime) -> None:
    reader_ids = list(_readers(members))
    member_ids = [m["_id"] for m in members]

    async def work(session: AsyncClientSession) -> None:
        active = await repo.active_holds_of(deps.db, reader_ids, session=session)
        if active:
            await circulation_repo.set_holds(
                deps.db, session, [h["_id"] for h in active],
                {"status": "cancelled", "closed_at": now, "cancel_reason": ERASE_REASON,
                 "cancelled_by": f"mp:{account['_id']}", "active_key": None}, only_status=circulation_repo.ACTIVE)
            for title_id, room in sorted({(h["title_id"], h["pickup_room"]) for h in active}):
                await holds.promote_queue(deps, session, title_id, room, now)
        await repo.anonymise_closed_holds(deps.db, reader_ids, now, session=session)
        await repo.anonymise_returned_loans(deps.db, reader_ids, now, session=session)

    if reader_ids:
        await in_transaction(deps.mongo, work)
    await suggestions.forget_supporters(deps, member_ids)
    await _forget_operations(deps, account, reader_ids, member_ids)


async def _forget_operations(deps: Deps, account: dict[str, Any], reader_ids: list[ObjectId],
                             member_ids: list[ObjectId]) -> None:
    """Drop the stored answers of book operations that name these members: this account's
    own, and the holds placed for them when a suggestion was fulfilled (a replay of one is
    then refused, as after the loan-history anonymisation)."""
    await repo.anonymise_operations(deps.db, prefixes=[f"mp-{account['_id']}-", "suggestion-"], kinds=OP_KINDS,
                                    reader_ids=[str(r) for r in reader_ids], member_ids=[str(m) for m in member_ids])
