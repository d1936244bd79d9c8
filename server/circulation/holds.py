"""Holds (预约): a reader asks for a title to be kept for them at a pickup room.

The queue: the copies on a pickup room's shelf serve that room's active holds in
order (ready ones first, then waiting ones, oldest first); someone without a
hold may take only a copy no hold is queued for (``rules.shelf_copy_for``).
Because a waiting hold at a room already claims the room's next shelf copy,
turning it ``ready`` never takes a copy from anyone and needs no stock write.

A copy returned in any room is offered to the queue at that room first ("keep it
aside"); otherwise to the longest-waiting hold elsewhere ("send it to room Y"),
which then waits for the copy to reach its pickup room (a transfer, see
``promote_queue``). A ready hold expires after ``hold_pickup_days``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from server import idempotency, outbox
from server.audit import repo as audit
from server.circulation import repo
from server.circulation.desk import (
    brief,
    catalog_title,
    desk_room,
    local_day_text,
    stored,
    titles_by_id,
    utc,
)
from server.circulation.models import (
    HoldCancelIn,
    HoldCancelled,
    HoldIn,
    HoldNotice,
    HoldOut,
    HoldPage,
    HoldPlaced,
    HoldQuery,
    RoomCopies,
)
from server.circulation.rules import (
    MAX_ACTIVE_HOLDS,
    QueuedHold,
    holds_to_make_ready,
    pickup_deadline,
    queue_order,
)
from server.errors import Conflict, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_id_cursor, split_page
from server.readers import repo as readers_repo
from server.readers.service import reader_by_card, require_reader
from server.rooms import repo as rooms_repo
from server.rooms.service import authorize_room
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

ELSEWHERE_SHOWN = 5

# The mini-program page a "hold ready" message opens (miniprogram/pages/loans, its 预约 tab).
HOLDS_PAGE = "pages/loans/loans?tab=holds"


def hold_out(doc: dict[str, Any], reader: dict[str, Any] | None, title: str | None) -> HoldOut:
    return HoldOut(
        id=str(doc["_id"]), reader=brief(reader), title_id=doc["title_id"], title=title,
        pickup_room=doc["pickup_room"], status=doc["status"], placed_at=doc["placed_at"],
        ready_at=doc.get("ready_at"), expires_at=doc.get("expires_at"), routed_from=doc.get("routed_from"),
        loan_id=str(doc["loan_id"]) if doc.get("loan_id") else None, closed_at=doc.get("closed_at"),
        cancel_reason=doc.get("cancel_reason"),
    )


def queued(doc: dict[str, Any]) -> QueuedHold:
    return QueuedHold(hold_id=str(doc["_id"]), reader_id=str(doc["reader_id"]), status=doc["status"],
                      placed_at=doc["placed_at"])


def active_key(reader_id: ObjectId, title_id: str) -> str:
    return f"{reader_id}|{title_id}"


async def promote_queue(deps: Deps, session: AsyncClientSession, title_id: str, room: str, now: datetime
                        ) -> list[dict[str, Any]]:
    """Make ready every waiting hold at ``room`` whose place in the queue has a shelf copy,
    and tell each reader (a ``hold_ready`` outbox event in the same transaction).

    Call it in any transaction that puts copies on a room's shelf (returns do; a
    transfer's arrival should). Returns the holds made ready.
    """
    docs = await repo.queue_at(deps.db, session, title_id, room)
    if not docs:
        return []
    holding = await repo.shelf(deps.db, session, room, title_id)
    ready = holds_to_make_ready([queued(d) for d in docs], holding["on_shelf"] if holding else 0)
    if not ready:
        return []
    ids = [ObjectId(h.hold_id) for h in ready]
    changes = {"status": "ready", "ready_at": now, "expires_at": utc(pickup_deadline(now, deps.settings.district.lending))}
    await repo.set_holds(deps.db, session, ids, changes, only_status=["waiting"])
    made_ready = [{**d, **changes} for d in docs if d["_id"] in ids]
    await announce_ready(deps, session, made_ready, now)
    return made_ready


async def announce_ready(deps: Deps, session: AsyncClientSession | None, made_ready: list[dict[str, Any]],
                         now: datetime) -> None:
    """Record a ``hold_ready`` event (key: the hold id) for each hold just made ready: the
    title, the pick-up room and the last day to collect it. Recording twice is one event."""
    if not made_ready:
        return
    titles = await titles_by_id(deps, [h["title_id"] for h in made_ready])
    rooms = {code: await rooms_repo.by_code(deps.db, code) for code in {h["pickup_room"] for h in made_ready}}
    for hold in made_ready:
        if hold.get("reader_id") is None:
            continue
        room = rooms.get(hold["pickup_room"])
        await outbox.record(
            deps.db, session, event="hold_ready", key=str(hold["_id"]), reader_id=hold["reader_id"],
            data={"thing1": str(titles.get(hold["title_id"], {}).get("title") or hold["title_id"]),
                  "thing2": room["name"] if room else hold["pickup_room"],
                  "time3": local_day_text(hold["expires_at"])},
            page=HOLDS_PAGE, now=now)


async def route_returned_copy(deps: Deps, session: AsyncClientSession, *, room: dict[str, Any], title_id: str,
                              title: str, now: datetime) -> HoldNotice | None:
    """Who the copy just returned to ``room`` is for, if anyone; updates the holds it serves."""
    docs = await repo.queue_at(deps.db, session, title_id, room["code"])
    if docs:
        holding = await repo.shelf(deps.db, session, room["code"], title_id)
        on_shelf = holding["on_shelf"] if holding else 0
        promoted = await promote_queue(deps, session, title_id, room["code"], now)
        order = queue_order([queued(d) for d in docs])
        if 0 < on_shelf <= len(order):  # the copy fills place on_shelf-1 in the queue
            target_id = ObjectId(order[on_shelf - 1].hold_id)
            target = next(d for d in [*promoted, *docs] if d["_id"] == target_id)
            reader = await readers_repo.by_id(deps.db, target["reader_id"], session=session)
            who = brief(reader)
            assert who is not None
            expires = target.get("expires_at")
            return HoldNotice(
                hold_id=str(target_id), action="keep", reader=who, pickup_room=room["code"],
                pickup_room_name=room["name"], expires_at=expires,
                message=f"《{title}》已为读者 {who.name}（{who.card_no}）预约，请放在柜台单独保管"
                        + (f"，{local_day_text(expires)}前取书" if expires else ""),
            )
    hold = await repo.oldest_unrouted_elsewhere(deps.db, session, title_id, room["code"])
    if hold is None:
        return None
    await repo.set_holds(deps.db, session, [hold["_id"]], {"routed_from": room["code"], "routed_at": now},
                         only_status=["waiting"])
    reader = await readers_repo.by_id(deps.db, hold["reader_id"], session=session)
    pickup = await rooms_repo.by_code(deps.db, hold["pickup_room"])
    who = brief(reader)
    assert who is not None
    name = pickup["name"] if pickup else hold["pickup_room"]
    return HoldNotice(
        hold_id=str(hold["_id"]), action="send", reader=who, pickup_room=hold["pickup_room"], pickup_room_name=name,
        message=f"《{title}》已被读者 {who.name}（{who.card_no}）预约，请转送至{name}（{hold['pickup_room']}）",
    )


@dataclass(frozen=True)
class Origin:
    """Who asks for a hold, a cancellation or a renewal.

    With ``actor`` a staff member at a desk asks: the write is audited as theirs. Without
    one the reader asks (the mini-program, ``label`` "mp:<account id>") or the system on
    their behalf: ``label`` is kept on the document (``placed_by``, ``cancelled_by``) and
    there is no staff audit entry. ``subject`` is how refusals name the reader ("该读者" to
    an administrator, the family member's name in the mini-program).
    """

    label: str
    actor: Actor | None = None
    subject: str = "该读者"

    @classmethod
    def staff(cls, actor: Actor) -> Origin:
        return cls(label=actor.username, actor=actor)

    @classmethod
    def reader(cls, account_id: ObjectId | str, subject: str) -> Origin:
        return cls(label=f"mp:{account_id}", subject=subject)


async def place_hold(deps: Deps, actor: Actor, data: HoldIn) -> HoldPlaced:
    """A reader asks at a desk for a title at a pickup room in the actor's scope.

    Raises InvalidInput (unknown card, title or room), Forbidden (room out of scope),
    and whatever ``place_hold_for`` raises.
    """
    room = await desk_room(deps, actor, data.pickup_room, loc=("body", "pickup_room"))
    title = await catalog_title(deps, data.title_id)
    reader = await reader_by_card(deps, data.card_no)
    return await place_hold_for(deps, reader=reader, room=room, title=title, op_key=data.op_id, op_id=data.op_id,
                                kind="hold", origin=Origin.staff(actor))


async def place_hold_for(deps: Deps, *, reader: dict[str, Any], room: dict[str, Any], title: dict[str, Any],
                         op_key: str, op_id: str, kind: str, origin: Origin) -> HoldPlaced:
    """The one way a hold is placed, from a desk or from the mini-program.

    ``reader`` is the card holder's document, ``room`` the (active) pickup room, ``title``
    the catalog entry (``desk.catalog_title``). ``op_key`` is the idempotency key (a
    mini-program op_id namespaced by the account), ``op_id`` what the answer echoes.
    Raises RuleViolation (periodical, blocked reader, too many holds), Conflict (already
    held or borrowed by this reader; a copy is free on the pickup room's shelf — borrow it
    instead). Audited only when a staff member placed it.
    """
    rules = deps.settings.district.lending
    name = title["title"]
    who = origin.subject
    title_id = title["_id"]

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        if title["format"] == "periodical" and rules.periodicals_in_room_only:
            raise RuleViolation(f"《{name}》是报刊，只能在书屋内阅读，不能预约", code="periodical_in_room_only")
        fresh = await readers_repo.by_id(deps.db, reader["_id"], session=session)
        if fresh is None:
            raise Conflict("这张借阅证已注销，不能预约", code="card_closed")
        if fresh.get("blocked"):
            raise RuleViolation(f"{who}已被停借（{fresh['blocked']['reason']}），不能预约", code="reader_blocked")
        active = await repo.reader_active_holds(deps.db, session, reader["_id"])
        if any(h["title_id"] == title_id for h in active):
            raise Conflict(f"{who}已经预约了《{name}》", code="hold_exists")
        if len(active) >= MAX_ACTIVE_HOLDS:
            raise RuleViolation(f"每位读者同时最多预约 {MAX_ACTIVE_HOLDS} 种书", code="hold_limit_reached")
        if await repo.open_loans_for(deps.db, session, title_id=title_id, reader_id=reader["_id"], limit=1):
            raise Conflict(f"{who}正借着《{name}》", code="already_borrowed")
        holding = await repo.shelf(deps.db, session, room["code"], title_id)
        queue = await repo.queue_at(deps.db, session, title_id, room["code"])
        if (holding["on_shelf"] if holding else 0) - len(queue) >= 1:
            todo = "请直接办理借阅" if origin.actor else "不用预约，请直接到书屋借阅"
            raise Conflict(f"{room['name']}有在架可借的《{name}》，{todo}", code="available_on_shelf")
        doc = {"reader_id": reader["_id"], "title_id": title_id, "pickup_room": room["code"],
               "status": "waiting", "placed_at": now, "placed_by": origin.label, "ready_at": None,
               "expires_at": None, "routed_from": None, "loan_id": None, "closed_at": None, "op_id": op_key,
               "active_key": active_key(reader["_id"], title_id)}
        doc["_id"] = await repo.insert_hold(deps.db, session, doc)
        elsewhere = await repo.shelves_elsewhere(deps.db, session, title_id, room["code"], limit=ELSEWHERE_SHOWN)
        if origin.actor is not None:
            await audit.record(deps.db, origin.actor, "hold.place", target_type="hold", target_id=str(doc["_id"]),
                               room=room["code"], changes={"op_id": op_id, "title_id": title_id,
                                                           "reader_id": str(reader["_id"])}, session=session)
        out = HoldPlaced(op_id=op_id, replayed=False, hold=hold_out(doc, fresh, name),
                         queue_position=len(queue) + 1,
                         available_elsewhere=[RoomCopies(room=h["room"], on_shelf=h["on_shelf"]) for h in elsewhere])
        return out.model_dump(mode="json")

    try:
        result, replayed = await idempotency.run_once(
            deps.db, deps.mongo, op_id=op_key, kind=kind, room=room["code"], actor=origin.label, work=work)
    except DuplicateKeyError:  # the same reader and title held at the same moment from another desk
        raise Conflict(f"{who}已经预约了《{name}》", code="hold_exists") from None
    return HoldPlaced.model_validate(stored(result, replayed))


async def cancel_hold(deps: Deps, actor: Actor, hold_id: str, data: HoldCancelIn) -> HoldCancelled:
    """Cancel an active hold (the pickup room's scope). NotFound for an unknown hold;
    otherwise as ``cancel_hold_for``."""
    oid = parse_object_id(hold_id, loc=("path", "hold_id"))
    hold = await repo.hold_by_id(deps.db, oid)
    if hold is None:
        raise NotFound("没有这条预约", code="hold_not_found")
    await desk_room(deps, actor, hold["pickup_room"])
    return await cancel_hold_for(deps, hold, reason=data.reason, op_key=data.op_id, op_id=data.op_id,
                                 kind="hold_cancel", origin=Origin.staff(actor))


async def cancel_hold_for(deps: Deps, hold: dict[str, Any], *, reason: str, op_key: str, op_id: str, kind: str,
                          origin: Origin) -> HoldCancelled:
    """The one way a hold is cancelled, from a desk or by its reader. Conflict if it has
    already ended. A ready hold's copy goes to the next reader in the queue, or back to the
    shelf. Audited only when a staff member cancelled it."""
    oid = hold["_id"]
    pickup = hold["pickup_room"]

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        doc = await repo.update_hold(
            deps.db, session, oid, {"status": "cancelled", "closed_at": now, "cancel_reason": reason,
                                    "cancelled_by": origin.label, "active_key": None}, only_status=repo.ACTIVE)
        if doc is None:
            raise Conflict("这条预约已经结束，不能取消", code="hold_closed")
        await promote_queue(deps, session, doc["title_id"], pickup, now)
        if origin.actor is not None:
            await audit.record(deps.db, origin.actor, "hold.cancel", target_type="hold", target_id=str(oid),
                               room=pickup, changes={"op_id": op_id, "reason": reason,
                                                     "reader_id": str(doc["reader_id"])}, session=session)
        reader = await readers_repo.by_id(deps.db, doc["reader_id"], session=session) if doc.get(
            "reader_id") else None
        title = (await titles_by_id(deps, [doc["title_id"]])).get(doc["title_id"], {}).get("title")
        return HoldCancelled(op_id=op_id, replayed=False, hold=hold_out(doc, reader, title)).model_dump(mode="json")

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=op_key, kind=kind, room=pickup, actor=origin.label, work=work)
    return HoldCancelled.model_validate(stored(result, replayed))


async def _page(deps: Deps, flt: dict[str, Any], cursor: str | None, limit: int) -> HoldPage:
    before = decode_id_cursor(cursor) if cursor else None
    docs = await repo.holds_page(deps.db, flt, before=before, limit=limit + 1)
    docs, next_cursor = split_page(docs, limit, lambda d: [str(d["_id"])])
    readers = await readers_repo.by_ids(deps.db, [d["reader_id"] for d in docs if d.get("reader_id")])
    titles = await titles_by_id(deps, [d["title_id"] for d in docs])
    items = [hold_out(d, readers.get(d["reader_id"]) if d.get("reader_id") else None, titles.get(d["title_id"], {}).get("title")) for d in docs]
    return HoldPage(items=items, next_cursor=next_cursor)


async def room_holds(deps: Deps, actor: Actor, code: str, query: HoldQuery) -> HoldPage:
    """Holds to be picked up at a room, newest first (``status=ready``: the copies set aside)."""
    await authorize_room(deps, actor, code)
    return await _page(deps, {"pickup_room": code, **repo.holds_filter(query.status)}, query.cursor, query.limit)


async def reader_holds(deps: Deps, actor: Actor, reader_id: str, query: HoldQuery) -> HoldPage:
    reader = await require_reader(deps, reader_id)
    return await _page(deps, {"reader_id": reader["_id"], **repo.holds_filter(query.status)}, query.cursor,
                       query.limit)


async def expire_and_promote_holds(deps: Deps, now: datetime) -> dict[str, int]:
    """The daily pass: ready holds past their pick-up date expire, and every queue whose
    room now has shelf copies (a delivery, a transfer) gets its waiting holds made ready.
    Returns {"expired": n, "ready": m}."""
    expired = await repo.expired_ready_holds(deps.db, now, limit=10_000)
    queues = {(d["title_id"], d["pickup_room"]) for d in expired}
    if expired:
        await repo.set_holds(deps.db, None, [d["_id"] for d in expired],
                             {"status": "expired", "closed_at": now, "active_key": None}, only_status=["ready"])
    queues |= {(q["title_id"], q["room"]) for q in await repo.waiting_queues(deps.db)}
    made_ready = 0
    for title_id, room in sorted(queues):  # one small transaction per queue; a nightly job, not a request

        async def promote(session: AsyncClientSession, title_id: str = title_id, room: str = room) -> int:
            return len(await promote_queue(deps, session, title_id, room, now))

        made_ready += await in_transaction(deps.mongo, promote)
    return {"expired": len(expired), "ready": made_ready}
