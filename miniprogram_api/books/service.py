"""Books for a reader's family: search with availability, holds, my loans, renewals and
reading history.

Holds and renewals go through the same core as at the desk (``circulation.holds.
place_hold_for`` / ``cancel_hold_for``, ``circulation.service.renew_loan``) with the
reader as the origin: same rules, ``placed_by: "mp:<account id>"``, no staff audit entry.
Every op_id is namespaced by the account (``Principal.op_key``), so a replay returns the
first answer and nobody can replay another account's operation.

A reader sees only their own family: a member, hold or loan of another account is
answered 404, exactly as one that does not exist.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.accounts.principal import Principal, require_member
from miniprogram_api.books import repo
from miniprogram_api.books.availability import availability
from miniprogram_api.books.models import (
    HOLD_LABELS,
    Availability,
    HoldListQuery,
    LoanListQuery,
    MpHoldCancelIn,
    MpHoldCancelled,
    MpHoldIn,
    MpHoldOut,
    MpHoldPage,
    MpHoldPlaced,
    MpLoanOut,
    MpLoanPage,
    MpRenewIn,
    MpRenewOut,
    MpTitle,
    MpTitlePage,
    RenewRefusal,
    RoomShelf,
    TitleRoomQuery,
    TitleSearchQuery,
)
from server.catalog import repo as catalog_repo
from server.catalog import service as catalog
from server.catalog.models import TitleOut, TitleQuery
from server.circulation import holds
from server.circulation import service as circulation
from server.circulation.desk import catalog_title, titles_by_id
from server.circulation.models import LoanOut
from server.circulation.rules import check_renew
from server.errors import FieldProblem, InvalidInput, NotAuthenticated, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_cursor, decode_id_cursor, encode_cursor, split_page
from server.readers import repo as readers_repo
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

READER_CANCEL_REASON = "读者在小程序中取消"

# -- search ---------------------------------------------------------------------------------------


async def _reference_room(deps: Deps, principal: Principal | None, member_id: str | None, room: str | None
                          ) -> dict[str, Any] | None:
    """The room availability is reported for: ``room`` if given, else the member's home room."""
    if room:
        doc = await repo.room(deps.db, room)
        if doc is None:
            raise InvalidInput(f"没有编号为 {room} 的书屋", code="unknown_room",
                               errors=[FieldProblem(("query", "room"), "书屋不存在")])
        return doc
    if member_id:
        if principal is None:
            raise NotAuthenticated("请先登录，才能按家庭成员的书屋查看", code="not_authenticated")
        member = await require_member(deps, principal, member_id, loc=("query", "member_id"), active=False)
        return await repo.room(deps.db, member["home_room"])
    return None


async def _with_availability(deps: Deps, page: list[tuple[str | None, TitleOut]], here: dict[str, Any] | None
                             ) -> list[MpTitle]:
    """Availability for a page of titles: one holdings query and one rooms query, whatever its size."""
    shelves = await repo.shelves_of(deps.db, [t.title_id for _, t in page])
    rooms = await repo.rooms_by_codes(deps.db, [s["room"] for s in shelves])
    by_title: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for s in shelves:
        by_title[s["title_id"]].append((s["room"], int(s["on_shelf"])))
    items = []
    for match, title in page:
        found = availability(by_title.get(title.title_id, []), rooms, here)
        items.append(MpTitle(
            **title.model_dump(), match=match,  # type: ignore[arg-type]
            availability=Availability(
                room=here["code"] if here else None, room_name=here["name"] if here else None,
                on_shelf_here=found.here, rooms_on_shelf=found.rooms_on_shelf,
                nearby=[RoomShelf(room=s.room, name=s.name, town=s.town, on_shelf=s.on_shelf,
                                  distance_km=s.distance_km) for s in found.nearby])))
    return items


async def search_titles(deps: Deps, principal: Principal | None, query: TitleSearchQuery) -> MpTitlePage:
    """The catalog search (汉字, pinyin, initials, ISBN; ``catalog.service._search``), best
    first, each title with its availability. Without ``q``: the catalog by id (browse by
    category or format). A constant number of queries whatever the page size."""
    here = await _reference_room(deps, principal, query.member_id, query.room)
    cq = TitleQuery(q=query.q, format=query.format, category=query.category, limit=query.limit,
                    cursor=query.cursor)
    page: list[tuple[str | None, TitleOut]]
    if cq.q:
        hits = await catalog._search(deps.db, cq)
        offset = decode_cursor(cq.cursor, arity=1)[0] if cq.cursor else 0
        if not isinstance(offset, int) or not 0 <= offset <= catalog.CANDIDATE_CAP:
            decode_cursor("", arity=1)  # the same InvalidInput as any forged cursor
        assert isinstance(offset, int)
        ranked = hits[offset : offset + cq.limit]
        next_cursor = encode_cursor([offset + cq.limit]) if offset + cq.limit < len(hits) else None
        full = {d["_id"]: d for d in await catalog_repo.by_ids(deps.db, [d["_id"] for _, d in ranked])}
        page = [(match, catalog.to_out(full[d["_id"]])) for match, d in ranked if d["_id"] in full]
    else:
        after = str(decode_cursor(cq.cursor, arity=1)[0]) if cq.cursor else None
        docs = await catalog_repo.list_page(deps.db, fmt=cq.format, category=cq.category, after=after,
                                            limit=cq.limit + 1)
        page = [("list", catalog.to_out(d)) for d in docs[: cq.limit]]
        next_cursor = encode_cursor([page[-1][1].title_id]) if len(docs) > cq.limit and page else None
    items = await _with_availability(deps, page, here)
    return MpTitlePage(items=items, next_cursor=next_cursor, room=here["code"] if here else None)


async def title_page(deps: Deps, principal: Principal | None, title_id: str, query: TitleRoomQuery) -> MpTitle:
    """One title (ISBN in any form, or internal id) with its availability; NotFound otherwise."""
    title = await catalog.get_title(deps, title_id)
    here = await _reference_room(deps, principal, query.member_id, query.room)
    return (await _with_availability(deps, [(None, title)], here))[0]


# -- the family ----------------------------------------------------------------------------------


async def _family(deps: Deps, principal: Principal, member_id: str | None, *, loc: tuple[str, ...]
                  ) -> list[dict[str, Any]]:
    """One member of the caller's family (NotFound for anyone else's), or the whole family."""
    if member_id:
        return [await require_member(deps, principal, member_id, loc=loc, active=False)]
    return await accounts_repo.members_of(deps.db, principal.account_id)


def _by_reader(members: list[dict[str, Any]]) -> dict[ObjectId, dict[str, Any]]:
    return {m["reader_id"]: m for m in members if m.get("reader_id")}


async def _card_of(deps: Deps, member: dict[str, Any], *, loc: tuple[str, ...]) -> dict[str, Any]:
    """The member's library card (``readers`` document); RuleViolation ``card_required`` without one."""
    reader = await readers_repo.by_id(deps.db, member["reader_id"]) if member.get("reader_id") else None
    if reader is None:
        raise RuleViolation(f"{member['name']}还没有借阅证，请先在“家庭”页面办理借阅证，再来预约",
                            code="card_required",
                            errors=[FieldProblem(loc, f"成员 {member['_id']} 没有借阅证，请先办理借阅证")])
    return reader


def hold_view(fields: dict[str, Any], *, member: dict[str, Any] | None, title: str | None,
              room_name: str | None) -> MpHoldOut:
    """A hold (stored document or ``HoldOut`` fields) as the family sees it."""
    return MpHoldOut(
        id=str(fields.get("id") or fields["_id"]), member_id=str(member["_id"]) if member else None,
        member_name=member["name"] if member else None, title_id=fields["title_id"], title=title,
        pickup_room=fields["pickup_room"], pickup_room_name=room_name, status=fields["status"],
        status_label=HOLD_LABELS[fields["status"]], placed_at=fields["placed_at"], ready_at=fields.get("ready_at"),
        expires_at=fields.get("expires_at"), closed_at=fields.get("closed_at"),
        cancel_reason=fields.get("cancel_reason"))


# -- holds ---------------------------------------------------------------------------------------


async def place_hold(deps: Deps, principal: Principal, data: MpHoldIn) -> MpHoldPlaced:
    """Hold a title for a family member with a library card at a pick-up room they choose.

    Raises NotFound (member of another family), RuleViolation (``card_required``, withdrawn
    consent, inactive room, and the desk's rules), InvalidInput (unknown room or title),
    Conflict (already held or borrowed; a copy is on the pick-up room's shelf: go and
    borrow it). Idempotent per op_id.
    """
    member = await require_member(deps, principal, data.member_id, loc=("body", "member_id"))
    reader = await _card_of(deps, member, loc=("body", "member_id"))
    room = await repo.room(deps.db, data.pickup_room)
    if room is None:
        raise InvalidInput(f"没有编号为 {data.pickup_room} 的书屋", code="unknown_room",
                           errors=[FieldProblem(("body", "pickup_room"), "书屋不存在")])
    if room.get("status") != "active":
        raise RuleViolation(f"{room['name']}暂停开放，请选择其他书屋取书", code="room_inactive",
                            errors=[FieldProblem(("body", "pickup_room"), "书屋已停用")])
    title = await catalog_title(deps, data.title_id)
    placed = await holds.place_hold_for(
        deps, reader=reader, room=room, title=title, op_key=principal.op_key(data.op_id), op_id=data.op_id,
        kind="hold", origin=holds.Origin.reader(principal.account_id, member["name"]))
    rooms = await repo.rooms_by_codes(deps.db, [r.room for r in placed.available_elsewhere])
    hold = hold_view(placed.hold.model_dump(), member=member, title=placed.hold.title, room_name=room["name"])
    return MpHoldPlaced(
        op_id=placed.op_id, replayed=placed.replayed, hold=hold, queue_position=placed.queue_position,
        available_elsewhere=[RoomShelf(room=r.room, name=(rooms.get(r.room) or {}).get("name") or r.room,
                                       town=(rooms.get(r.room) or {}).get("town"), on_shelf=r.on_shelf)
                             for r in placed.available_elsewhere],
        message=f"已为{member['name']}预约《{hold.title or hold.title_id}》，排第 {placed.queue_position} 位；"
                f"书到{room['name']}后会通知您取书")


async def list_holds(deps: Deps, principal: Principal, query: HoldListQuery) -> MpHoldPage:
    """The family's holds (or one member's), newest first: three queries whatever the page size."""
    members = await _family(deps, principal, query.member_id, loc=("query", "member_id"))
    owners = _by_reader(members)
    before = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.holds_page(deps.db, list(owners), status=query.status, before=before, limit=query.limit + 1)
    docs, next_cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    titles = await titles_by_id(deps, [d["title_id"] for d in docs])
    rooms = await repo.rooms_by_codes(deps.db, [d["pickup_room"] for d in docs])
    items = [hold_view(d, member=owners.get(d["reader_id"]), title=titles.get(d["title_id"], {}).get("title"),
                       room_name=(rooms.get(d["pickup_room"]) or {}).get("name")) for d in docs]
    return MpHoldPage(items=items, next_cursor=next_cursor)


async def cancel_hold(deps: Deps, principal: Principal, hold_id: str, data: MpHoldCancelIn) -> MpHoldCancelled:
    """Cancel an active hold of a family member. NotFound for anyone else's; Conflict if it
    has already ended. Idempotent per op_id."""
    oid = parse_object_id(hold_id, loc=("path", "hold_id"))
    hold = await repo.hold_by_id(deps.db, oid)
    owners = _by_reader(await accounts_repo.members_of(deps.db, principal.account_id))
    member = owners.get(hold["reader_id"]) if hold and hold.get("reader_id") else None
    if hold is None or member is None:
        raise NotFound("没有这条预约", code="hold_not_found")
    out = await holds.cancel_hold_for(
        deps, hold, reason=data.reason or READER_CANCEL_REASON, op_key=principal.op_key(data.op_id),
        op_id=data.op_id, kind="hold_cancel", origin=holds.Origin.reader(principal.account_id, member["name"]))
    room = await repo.room(deps.db, out.hold.pickup_room)
    return MpHoldCancelled(op_id=out.op_id, replayed=out.replayed,
                           hold=hold_view(out.hold.model_dump(), member=member, title=out.hold.title,
                                          room_name=room["name"] if room else None))


# -- loans ---------------------------------------------------------------------------------------


def _renewable(deps: Deps, loan: LoanOut, *, blocked: str | None, hold_waiting: bool, now: datetime
               ) -> tuple[bool, RenewRefusal | None]:
    try:
        check_renew(deps.settings.district.lending, renewals=loan.renewals, due_at=loan.due_at, now=now,
                    blocked_reason=blocked, hold_waiting=hold_waiting)
    except RuleViolation as exc:
        return False, RenewRefusal(code=exc.code, message=exc.detail)
    return True, None


def loan_view(loan: LoanOut, *, room_name: str | None, renew: tuple[bool, RenewRefusal | None] | None = None
              ) -> MpLoanOut:
    can, why = renew if renew is not None else (None, None)
    return MpLoanOut(**loan.model_dump(exclude={"reader", "format"}), room_name=room_name, can_renew=can,
                     renew_refusal=why)


async def list_loans(deps: Deps, principal: Principal, query: LoanListQuery) -> MpLoanPage:
    """A member's open loans (soonest due first, with whether each may be renewed and why
    not) or reading history (returned loans, newest first, paged). With history turned off
    the history is empty. A constant number of queries whatever the page size."""
    member = await require_member(deps, principal, query.member_id, loc=("query", "member_id"), active=False)
    before = decode_id_cursor(query.cursor) if query.cursor else None
    enabled = bool(member.get("history_enabled", True))
    page = MpLoanPage(member_id=str(member["_id"]), status=query.status, has_card=bool(member.get("reader_id")),
                      history_enabled=enabled, items=[])
    rid = member.get("reader_id")
    if rid is None or (query.status == "history" and not enabled):
        return page
    now = db_now()
    blocked: str | None = None
    waiting: set[str] = set()
    if query.status == "open":
        docs = await repo.open_loans(deps.db, rid)
        reader = await readers_repo.by_id(deps.db, rid) or {}
        blocked = (reader.get("blocked") or {}).get("reason")
        waiting = await repo.titles_with_waiting_holds(deps.db, [d["title_id"] for d in docs])
    else:
        docs = await repo.returned_loans_page(deps.db, rid, before=before, limit=query.limit + 1)
        docs, page.next_cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    titles = await titles_by_id(deps, [d["title_id"] for d in docs])
    rooms = await repo.rooms_by_codes(deps.db, [d["room"] for d in docs])
    for doc in docs:
        loan = circulation.loan_out(doc, None, titles.get(doc["title_id"], {}).get("title"), now)
        renew = _renewable(deps, loan, blocked=blocked, hold_waiting=doc["title_id"] in waiting, now=now) \
            if query.status == "open" else None
        page.items.append(loan_view(loan, room_name=(rooms.get(doc["room"]) or {}).get("name"), renew=renew))
    return page


async def renew(deps: Deps, principal: Principal, loan_id: str, data: MpRenewIn) -> MpRenewOut:
    """Renew a family member's open loan (the desk's rules, not audited as staff).
    NotFound for anyone else's loan; RuleViolation/Conflict as at the desk. Idempotent."""
    oid = parse_object_id(loan_id, loc=("path", "loan_id"))
    loan = await repo.loan_by_id(deps.db, oid)
    owners = _by_reader(await accounts_repo.members_of(deps.db, principal.account_id))
    member = owners.get(loan["reader_id"]) if loan and loan.get("reader_id") else None
    if loan is None or member is None:
        raise NotFound("没有这条借阅记录", code="loan_not_found")
    out = await circulation.renew_loan(
        deps, loan, op_key=principal.op_key(data.op_id), op_id=data.op_id, room=loan["room"],
        origin=holds.Origin.reader(principal.account_id, member["name"]))
    room = await repo.room(deps.db, out.loan.room)
    return MpRenewOut(op_id=out.op_id, replayed=out.replayed, message=out.message,
                      loan=loan_view(out.loan, room_name=room["name"] if room else None))


# -- reading history -------------------------------------------------------------------------------


async def forget_history(deps: Deps, member: dict[str, Any]) -> int:
    """Unlink the member's reading history from them: their returned loans (and ended
    holds) lose the reader (``reader_id`` removed; room, title, category, age group and
    dates stay, so statistics survive). Open loans and active holds keep their reader.
    Called when the member turns history off. Returns the number of loans anonymised."""
    rid = member.get("reader_id")
    if not rid:
        return 0
    now = db_now()

    async def work(session: Any) -> int:
        loans = await repo.anonymise_returned_loans(deps.db, [rid], now, session=session)
        await repo.anonymise_closed_holds(deps.db, [rid], now, session=session)
        return loans

    return await in_transaction(deps.mongo, work)


async def forget_histories_turned_off(deps: Deps) -> int:
    """The nightly pass behind "history off": loans returned since a member turned their
    history off are unlinked too. Returns the number of loans anonymised."""
    members = await deps.db["members"].find({"history_enabled": False, "reader_id": {"$type": "objectId"}},
                                            {"reader_id": 1}).to_list()
    total = 0
    for member in members:
        total += await forget_history(deps, member)
    return total
