"""Circulation at the desk: lend, return (in any room), renew, in-room use, loan lists.

Every write runs through ``idempotency.run_once``: one transaction holds the stock
moves (``stock.repo.apply_moves``), the loan, the reader's loan counters, the
holds it touches, the monthly statistics, the audit entry and the op_id record —
all or nothing, and a replayed op_id gets the first answer.

Refusals: 409 Conflict when the state of stock or loans forbids it (no copy on the
shelf, the room does not hold the title, copies set aside for holds, nothing on loan
to return, already returned); 422 RuleViolation when a lending rule does
(periodicals, limits, blocked or overdue reader, renewals); 422 InvalidInput for
bad or unknown input (malformed ISBN, unknown card, title or loan).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from bson.errors import InvalidId

from server import idempotency
from server.audit import repo as audit
from server.circulation import holds, repo
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
    InRoomUseIn,
    InRoomUseOut,
    LendIn,
    LendOut,
    LoanOut,
    LoanPage,
    LoanStatsOut,
    LoanStatsQuery,
    LoanStatsRow,
    ReaderLoanQuery,
    RenewIn,
    RenewOut,
    ReturnIn,
    ReturnOut,
    RoomLoanQuery,
)
from server.circulation.rules import (
    ReaderStanding,
    check_lend,
    check_renew,
    days_overdue,
    due_date,
    is_overdue,
    limit_kind,
    limit_of,
    month_key,
    renewed_due_date,
    shelf_copy_for,
)
from server.errors import Conflict, FieldProblem, InvalidInput, NotFound
from server.ids import parse_object_id
from server.pagination import decode_cursor, decode_id_cursor, split_page
from server.readers import repo as readers_repo
from server.readers.models import is_child
from server.readers.service import local_today, reader_by_card, require_reader
from server.rooms import repo as rooms_repo
from server.rooms.service import authorize_room
from server.staff.roles import Actor
from server.stock import repo as stock_repo
from server.stock.ledger import STATES, Move, MoveKind
from server.storage import db_now

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps


def loan_out(doc: dict[str, Any], reader: dict[str, Any] | None, title: str | None, now: datetime) -> LoanOut:
    open_ = doc.get("returned_at") is None
    return LoanOut(
        id=str(doc["_id"]), room=doc["room"], title_id=doc["title_id"], title=title, format=doc["format"],
        reader=brief(reader), lent_at=doc["lent_at"], due_at=utc(doc["due_at"]), renewals=doc["renewals"],
        returned_at=doc.get("returned_at"), returned_room=doc.get("returned_room"),
        overdue=open_ and is_overdue(doc["due_at"], now),
        days_overdue=days_overdue(doc["due_at"], now) if open_ else 0,
    )


def _age_group(reader: dict[str, Any]) -> str:
    born = date.fromisoformat(reader["birth_date"]) if reader.get("birth_date") else None
    return "child" if is_child(reader["birth_year"], born, local_today()) else "adult"


# -- lend -------------------------------------------------------------------------------------


async def lend(deps: Deps, actor: Actor, room_code: str, data: LendIn) -> LendOut:
    """Lend one shelf copy of ``data.title_id`` in ``room_code`` to the card holder.

    Raises Forbidden/NotFound (room), InvalidInput (unknown card or title), RuleViolation
    (periodical, blocked, overdue, limit), Conflict (not held here, none on the shelf,
    the shelf copies are set aside for holds). Idempotent per op_id.
    """
    room = await desk_room(deps, actor, room_code)
    title = await catalog_title(deps, data.title_id)
    rules = deps.settings.district.lending
    name = title["title"]

    def standing(doc: dict[str, Any], has_overdue: bool) -> ReaderStanding:
        blocked = doc.get("blocked")
        return ReaderStanding(blocked_reason=blocked["reason"] if blocked else None,
                              open_loans=doc.get("open_loans", {}), has_overdue=has_overdue)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        current = await reader_by_card(deps, data.card_no, session=session)
        rid = current["_id"]
        overdue = rules.block_when_overdue and await repo.has_overdue(deps.db, session, rid, now)
        kind = check_lend(rules, standing(current, overdue), title["format"], name)
        holding = await repo.shelf(deps.db, session, room["code"], data.title_id)
        if holding is None or not any(holding.get(s, 0) for s in STATES):
            raise Conflict(f"{room['name']}没有《{name}》的馆藏", code="not_held")
        queue = [holds.queued(d) for d in await repo.queue_at(deps.db, session, data.title_id, room["code"])]
        allowed, _ = shelf_copy_for(queue, str(rid), holding["on_shelf"])
        if not allowed:
            if holding["on_shelf"] <= 0:
                raise Conflict(f"《{name}》在{room['name']}已全部借出，在架 0 册", code="none_on_shelf")
            raise Conflict(f"《{name}》在架的 {holding['on_shelf']} 册已为预约的读者保留，不能借给其他读者",
                           code="held_for_another_reader")
        if not await readers_repo.take_loan_slot(deps.db, session, rid, kind, limit_of(rules, kind)):
            # The snapshot said yes but the guarded update says no: someone changed the reader.
            raise Conflict("读者的借阅状态刚刚发生变化，请重试", code="reader_changed")
        loan_id = ObjectId()
        try:
            await stock_repo.apply_moves(deps.db, session, [Move(room["code"], data.title_id, MoveKind.LOAN)],
                                         op_id=data.op_id, actor=actor.username, at=now,
                                         reference={"loan_id": str(loan_id)})
        except stock_repo.InsufficientStock:
            raise Conflict(f"《{name}》在{room['name']}已全部借出（刚被另一部手机借走）", code="none_on_shelf") from None
        loan = {
            "_id": loan_id, "reader_id": rid, "room": room["code"], "title_id": data.title_id,
            "format": title["format"], "category": title["category"], "age_group": _age_group(current),
            "lent_at": now, "due_at": utc(due_date(now, rules)), "renewals": 0, "renewed_at": [],
            "returned_at": None, "returned_room": None, "lent_by": actor.username, "op_ids": [data.op_id],
            "overdue_since": None,
        }
        await repo.insert_loan(deps.db, session, loan)
        # The reader's own hold for the title, here or at another pickup room, is met by this loan.
        fulfilled = await repo.fulfil_hold(deps.db, session, holds.active_key(rid, data.title_id), loan_id=loan_id,
                                           at=now)
        await repo.bump_stats(deps.db, session, room=room["code"], month=month_key(now), fmt=title["format"],
                              category=title["category"], age_group=loan["age_group"], field="loans")
        await audit.record(deps.db, actor, "loan.lend", target_type="loan", target_id=str(loan_id), room=room["code"],
                           changes={"op_id": data.op_id, "title_id": data.title_id, "reader_id": str(rid),
                                    "due_at": loan["due_at"].isoformat()}, session=session)
        out = LendOut(op_id=data.op_id, replayed=False, loan=loan_out(loan, current, name, now),
                      hold_fulfilled=str(fulfilled["_id"]) if fulfilled else None,
                      message=f"已借出《{name}》，请于{local_day_text(loan['due_at'])}前归还")
        return out.model_dump(mode="json")

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=data.op_id, kind="loan", room=room["code"], actor=actor.username, work=work)
    return LendOut.model_validate(stored(result, replayed))


# -- return ------------------------------------------------------------------------------------


async def _loan_to_close(deps: Deps, session: AsyncClientSession, data: ReturnIn, reader: dict[str, Any] | None,
                         name: str) -> dict[str, Any]:
    if data.loan_id is not None:
        loan = await repo.loan_by_id(deps.db, ObjectId(data.loan_id), session=session)
        if loan is None:
            raise InvalidInput("没有这条借阅记录", code="unknown_loan", errors=[FieldProblem(("body", "loan_id"), "不存在")])
        if loan["title_id"] != data.title_id:
            raise InvalidInput("所扫的书与这条借阅记录不符", code="loan_title_mismatch",
                               errors=[FieldProblem(("body", "title_id"), "与借阅记录中的书不同")])
        if loan["returned_at"] is not None:
            raise Conflict(f"这本书已于{local_day_text(loan['returned_at'])}归还", code="already_returned")
        return loan
    found = await repo.open_loans_for(deps.db, session, title_id=data.title_id,
                                      reader_id=reader["_id"] if reader else None, limit=1 if reader else 2)
    if not found:
        raise Conflict(f"该读者没有借《{name}》，或已经归还" if reader else f"《{name}》目前没有借出未还的记录",
                       code="not_on_loan")
    if len(found) > 1:
        raise InvalidInput(f"有多位读者借了《{name}》，请扫描还书读者的借阅证", code="reader_needed",
                           errors=[FieldProblem(("body", "card_no"), "请提供借阅证号")])
    return found[0]


async def return_item(deps: Deps, actor: Actor, room_code: str, data: ReturnIn) -> ReturnOut:
    """A copy comes back to ``room_code``, whichever room lent it (通借通还).

    Same room: one RETURN move. Another room: RETURN_OUT in the lending room and
    RETURN_IN here, in the same transaction; the copy now belongs to this room.
    The answer says if a hold wants the copy (keep it aside, or send it on).
    Raises InvalidInput (unknown card/title/loan; several readers have the title and
    no card was given), Conflict (nothing on loan to return; already returned).
    """
    room = await desk_room(deps, actor, room_code)
    title = await catalog_title(deps, data.title_id)
    reader = await reader_by_card(deps, data.card_no) if data.card_no else None
    name = title["title"]

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        loan = await _loan_to_close(deps, session, data, reader, name)
        here, lender = room["code"], loan["room"]
        moves = ([Move(here, data.title_id, MoveKind.RETURN)] if lender == here else
                 [Move(lender, data.title_id, MoveKind.RETURN_OUT), Move(here, data.title_id, MoveKind.RETURN_IN)])
        await stock_repo.apply_moves(deps.db, session, moves, op_id=data.op_id, actor=actor.username, at=now,
                                     reference={"loan_id": str(loan["_id"])})
        closed = await repo.close_loan(deps.db, session, loan["_id"], at=now, room=here, actor=actor.username,
                                       op_id=data.op_id)
        if closed is None:
            raise Conflict("这本书刚刚已经办理了归还", code="already_returned")
        borrower = None
        if closed.get("reader_id") is not None:
            await readers_repo.release_loan_slot(deps.db, session, closed["reader_id"], limit_kind(closed["format"]))
            borrower = reader or await readers_repo.by_id(deps.db, closed["reader_id"], session=session)
        notice = await holds.route_returned_copy(deps, session, room=room, title_id=data.title_id, title=name, now=now)
        await repo.bump_stats(deps.db, session, room=here, month=month_key(now), fmt=closed["format"],
                              category=closed.get("category", title["category"]),
                              age_group=closed.get("age_group", "adult"), field="returns")
        await audit.record(deps.db, actor, "loan.return", target_type="loan", target_id=str(loan["_id"]), room=here,
                           changes={"op_id": data.op_id, "title_id": data.title_id, "lending_room": lender,
                                    "reader_id": str(closed["reader_id"]) if closed.get("reader_id") else None},
                           session=session)
        message = f"《{name}》已归还"
        if lender != here:
            lending = await rooms_repo.by_code(deps.db, lender)
            message += f"。此书由{lending['name'] if lending else lender}借出，现归{room['name']}所有（通借通还）"
        if closed["due_at"] < now:
            message += f"。逾期 {days_overdue(closed['due_at'], now)} 天"
        if notice is not None:
            message += "。" + notice.message
        out = ReturnOut(op_id=data.op_id, replayed=False, loan=loan_out(closed, borrower, name, now),
                        lending_room=lender, moved=lender != here, notice=notice, message=message)
        return out.model_dump(mode="json")

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=data.op_id, kind="return", room=room["code"], actor=actor.username, work=work)
    return ReturnOut.model_validate(stored(result, replayed))


# -- renew -----------------------------------------------------------------------------------------


async def renew(deps: Deps, actor: Actor, loan_id: str, data: RenewIn) -> RenewOut:
    """Extend an open loan at a desk in the actor's scope (default: the lending room).

    Raises NotFound (loan), Forbidden (desk out of scope), and whatever ``renew_loan`` raises.
    """
    oid = parse_object_id(loan_id, loc=("path", "loan_id"))
    loan = await repo.loan_by_id(deps.db, oid)
    if loan is None:
        raise NotFound("没有这条借阅记录", code="loan_not_found")
    desk = await desk_room(deps, actor, data.room or loan["room"], loc=("body", "room") if data.room else None)
    return await renew_loan(deps, loan, op_key=data.op_id, op_id=data.op_id, room=desk["code"],
                            origin=holds.Origin.staff(actor))


async def renew_loan(deps: Deps, loan: dict[str, Any], *, op_key: str, op_id: str, room: str,
                     origin: holds.Origin, kind: str = "renew") -> RenewOut:
    """The one renewal, from a desk or by the reader in the mini-program (``rules.check_renew``).

    ``op_key`` is the idempotency key (a mini-program op_id namespaced by the account),
    ``op_id`` what the answer echoes, ``room`` where it is recorded (the desk, or the
    lending room). Raises RuleViolation (renewal limit, overdue, blocked, a hold is
    waiting for the title), Conflict (already returned; changed meanwhile). Audited only
    when a staff member renewed it.
    """
    oid = loan["_id"]
    rules = deps.settings.district.lending
    name = (await titles_by_id(deps, [loan["title_id"]])).get(loan["title_id"], {}).get("title") or loan["title_id"]

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        current = await repo.loan_by_id(deps.db, oid, session=session)
        assert current is not None
        if current["returned_at"] is not None:
            raise Conflict(f"这本书已于{local_day_text(current['returned_at'])}归还，不能续借", code="already_returned")
        reader = await readers_repo.by_id(deps.db, current["reader_id"], session=session) if current.get(
            "reader_id") else None
        blocked = (reader or {}).get("blocked")
        check_renew(rules, renewals=current["renewals"], due_at=current["due_at"], now=now,
                    blocked_reason=blocked["reason"] if blocked else None,
                    hold_waiting=await repo.waiting_hold_exists(deps.db, session, current["title_id"]))
        due = utc(renewed_due_date(current["due_at"], now, rules))
        updated = await repo.renew_loan(deps.db, session, oid, renewals=current["renewals"], due_at=due, at=now,
                                        op_id=op_key)
        if updated is None:
            raise Conflict("这条借阅刚刚被修改，请刷新后重试", code="loan_changed")
        await repo.bump_stats(deps.db, session, room=current["room"], month=month_key(now), fmt=current["format"],
                              category=current.get("category", "未分类"), age_group=current.get("age_group", "adult"),
                              field="renewals")
        if origin.actor is not None:
            await audit.record(deps.db, origin.actor, "loan.renew", target_type="loan", target_id=str(oid), room=room,
                               changes={"op_id": op_id, "due_at": due.isoformat(),
                                        "reader_id": str(current["reader_id"]) if current.get("reader_id") else None},
                               session=session)
        out = RenewOut(op_id=op_id, replayed=False, loan=loan_out(updated, reader, name, now),
                       message=f"已续借《{name}》，请于{local_day_text(due)}前归还")
        return out.model_dump(mode="json")

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=op_key, kind=kind, room=room, actor=origin.label, work=work)
    return RenewOut.model_validate(stored(result, replayed))


# -- in-room use -------------------------------------------------------------------------------------


async def record_in_room_use(deps: Deps, actor: Actor, room_code: str, data: InRoomUseIn) -> InRoomUseOut:
    """Count items read in the room without a loan (statistics only; no stock changes)."""
    room = await desk_room(deps, actor, room_code)
    title = await catalog_title(deps, data.title_id)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        await repo.bump_stats(deps.db, session, room=room["code"], month=month_key(now), fmt=title["format"],
                              category=title["category"], age_group="unknown", field="in_room_uses", n=data.count)
        await audit.record(deps.db, actor, "circulation.in_room_use", target_type="title", target_id=data.title_id,
                           room=room["code"], changes={"op_id": data.op_id, "count": data.count}, session=session)
        return InRoomUseOut(op_id=data.op_id, replayed=False, room=room["code"], title_id=data.title_id,
                            count=data.count).model_dump(mode="json")

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=data.op_id, kind="in_room_use", room=room["code"], actor=actor.username,
        work=work)
    return InRoomUseOut.model_validate(stored(result, replayed))


# -- reading -------------------------------------------------------------------------------------------


async def loan_items(deps: Deps, docs: list[dict[str, Any]], now: datetime) -> list[LoanOut]:
    """A page of loans with their titles and readers: two queries, whatever the page size."""
    readers = await readers_repo.by_ids(deps.db, [d["reader_id"] for d in docs if d.get("reader_id")])
    titles = await titles_by_id(deps, [d["title_id"] for d in docs])
    return [loan_out(d, readers.get(d["reader_id"]) if d.get("reader_id") else None, titles.get(d["title_id"], {}).get("title"), now)
            for d in docs]


async def room_loans(deps: Deps, actor: Actor, code: str, query: RoomLoanQuery) -> LoanPage:
    """Open loans lent by a room, soonest due first; ``overdue`` filters."""
    await authorize_room(deps, actor, code)
    now = db_now()
    after = None
    if query.cursor:
        due, last = decode_cursor(query.cursor, arity=2)
        try:
            after = (datetime.fromisoformat(str(due)), ObjectId(str(last)))
        except (ValueError, TypeError, InvalidId):
            decode_cursor("", arity=2)
    flt = repo.room_loans_filter(code, overdue=query.overdue, now=now)
    docs = await repo.room_loans_page(deps.db, flt, after=after, limit=query.limit + 1)
    docs, cursor = split_page(docs, query.limit, lambda d: [utc(d["due_at"]).isoformat(), str(d["_id"])])
    return LoanPage(items=await loan_items(deps, docs, now), next_cursor=cursor)


async def reader_loans(deps: Deps, actor: Actor, reader_id: str, query: ReaderLoanQuery) -> LoanPage:
    """A reader's loans, newest first (anonymised history no longer belongs to anyone)."""
    reader = await require_reader(deps, reader_id)
    before = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.reader_loans_page(deps.db, reader["_id"], status=query.status, before=before,
                                        limit=query.limit + 1)
    docs, cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    return LoanPage(items=await loan_items(deps, docs, db_now()), next_cursor=cursor)


async def get_loan(deps: Deps, actor: Actor, loan_id: str) -> LoanOut:
    doc = await repo.loan_by_id(deps.db, parse_object_id(loan_id, loc=("path", "loan_id")))
    if doc is None:
        raise NotFound("没有这条借阅记录", code="loan_not_found")
    return (await loan_items(deps, [doc], db_now()))[0]


async def loan_stats(deps: Deps, actor: Actor, code: str, query: LoanStatsQuery) -> LoanStatsOut:
    """A room's monthly counts by format, category and age group (no reader identity)."""
    await authorize_room(deps, actor, code)
    docs = await repo.room_stats(deps.db, code, from_month=query.from_month, to_month=query.to_month)
    items = [LoanStatsRow(month=d["month"], format=d["format"], category=d["category"], age_group=d["age_group"],
                          **{k: int(d.get(k, 0)) for k in ("loans", "renewals", "returns", "in_room_uses")})
             for d in docs]
    totals = {k: sum(getattr(i, k) for i in items) for k in ("loans", "renewals", "returns", "in_room_uses")}
    return LoanStatsOut(room=code, items=items, totals=totals)
