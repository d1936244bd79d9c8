"""What the phone desk reads that the staff API does not offer in one answer.

Plain async functions over the domain repositories and services (no Tornado):
a reader with their open loans, a scanned code with this room's holding, today's
loans and returns, the offline roster of cards that may not borrow, the room's
current stocktake, and a delivery counted by scanned codes.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import TYPE_CHECKING

from bson import ObjectId

from server.catalog.service import resolve_scan
from server.circulation import repo as circulation_repo
from server.circulation import service as circulation
from server.circulation.models import LoanOut
from server.circulation.rules import LOCAL_TZ
from server.phone.models import (
    BlockedCard,
    CurrentStocktake,
    DeskReader,
    DeskReaderPage,
    DeskReaderQuery,
    DeskReceiptIn,
    RosterOut,
    TitleAtDesk,
    TodayOut,
)
from server.readers import repo as readers_repo
from server.readers import service as readers_service
from server.readers.models import ReaderQuery
from server.rooms.service import authorize_room
from server.staff.roles import Actor
from server.stock import service as stock_service
from server.stock import stocktake
from server.stock.models import OperationOut, ReceiptIn, StocktakeQuery
from server.storage import db_now

if TYPE_CHECKING:
    from server.resources import Deps

# A guardian's phone finds their children: a handful, never a page.
READERS_PER_LOOKUP = 10
# Open loans shown per lookup (a reader may hold 5 books and 2 discs by default).
LOANS_PER_LOOKUP = 50
# A busy room lends a few dozen books a day; more than this is for the console.
TODAY_LIMIT = 200
# Card numbers carried to an offline phone (about 12 bytes each).
ROSTER_LIMIT = 5000


async def find_readers(deps: Deps, actor: Actor, query: DeskReaderQuery) -> DeskReaderPage:
    """Readers by card or full phone (anyone in the district: one card works everywhere), each with
    their open loans. Four queries whatever the number of readers found."""
    page = await readers_service.find_readers(
        deps, actor, ReaderQuery(card=query.card, phone=query.phone, limit=READERS_PER_LOOKUP))
    readers = page.items
    docs = await circulation_repo.open_loans_of_readers(
        deps.db, [ObjectId(r.id) for r in readers], limit=LOANS_PER_LOOKUP * max(len(readers), 1))
    loans = await circulation.loan_items(deps, docs, db_now())
    by_reader: dict[str, list[LoanOut]] = {}
    for loan in loans:
        if loan.reader is not None:
            by_reader.setdefault(loan.reader.id, []).append(loan)
    return DeskReaderPage(items=[
        DeskReader(id=r.id, card_no=r.card_no, name=r.name, child=r.child, home_room=r.home_room, blocked=r.blocked,
                   blocked_reason=r.blocked_reason, open_loans=r.open_loans,
                   loans=by_reader.get(r.id, [])[:LOANS_PER_LOOKUP])
        for r in readers
    ])


async def title_at_desk(deps: Deps, actor: Actor, room: str, raw_code: str) -> TitleAtDesk:
    """What a scanned code is (the catalog's ``resolve_scan``) and how many copies ``room`` has
    on the shelf and out. NotFound/Forbidden (room), InvalidInput (malformed code), NotFound
    (not in the catalog)."""
    await authorize_room(deps, actor, room)
    title = await resolve_scan(deps.db, raw_code, loc=("path", "code"))
    holding = await circulation_repo.shelf(deps.db, None, room, title.title_id) or {}
    return TitleAtDesk(room=room, title_id=title.title_id, title=title.title, author=title.author,
                       format=title.format, on_shelf=holding.get("on_shelf", 0), on_loan=holding.get("on_loan", 0))


def local_midnight(now: datetime) -> datetime:
    return datetime.combine(now.astimezone(LOCAL_TZ).date(), time(), tzinfo=LOCAL_TZ)


async def today(deps: Deps, actor: Actor, room: str) -> TodayOut:
    """Loans ``room`` made today and loans returned to it today (whichever room lent them)."""
    await authorize_room(deps, actor, room)
    now = db_now()
    since = local_midnight(now)
    lent = await circulation_repo.room_loans_since(deps.db, room, since, returned=False, limit=TODAY_LIMIT + 1)
    back = await circulation_repo.room_loans_since(deps.db, room, since, returned=True, limit=TODAY_LIMIT + 1)
    truncated = len(lent) > TODAY_LIMIT or len(back) > TODAY_LIMIT
    lent, back = lent[:TODAY_LIMIT], back[:TODAY_LIMIT]
    items = await circulation.loan_items(deps, lent + back, now)
    return TodayOut(room=room, day=since.date().isoformat(), lent=items[:len(lent)], returned=items[len(lent):],
                    truncated=truncated)


async def offline_roster(deps: Deps, actor: Actor, room: str) -> RosterOut:
    """Cards an offline phone at ``room`` should warn about. Three queries."""
    await authorize_room(deps, actor, room)
    now = db_now()
    blocked = await readers_repo.blocked_cards(deps.db, limit=ROSTER_LIMIT + 1)
    overdue: list[str] = []
    if deps.settings.district.lending.block_when_overdue:
        ids = await circulation_repo.overdue_reader_ids(deps.db, room, now, limit=ROSTER_LIMIT)
        overdue = await readers_repo.card_numbers(deps.db, ids)
    return RosterOut(room=room, generated_at=now, truncated=len(blocked) > ROSTER_LIMIT,
                     blocked=sorted((BlockedCard(card_no=b["card_no"], reason=b["blocked"]["reason"])
                                     for b in blocked[:ROSTER_LIMIT]), key=lambda b: b.card_no),
                     overdue=overdue)


async def receive(deps: Deps, actor: Actor, room: str, data: DeskReceiptIn) -> OperationOut:
    """A delivery counted by scanned codes: the same receipt as the stock API (idempotent per op_id);
    the same code on several lines is one line with the copies added up."""
    copies: dict[str, int] = {}
    for line in data.lines:
        copies[line.code] = copies.get(line.code, 0) + line.quantity
    receipt = ReceiptIn.model_validate({"op_id": data.op_id, "reference": data.reference,
                                        "lines": [{"title_id": c, "quantity": n} for c, n in copies.items()]})
    return await stock_service.receive(deps, actor, room, receipt)


async def current_stocktake(deps: Deps, actor: Actor, room: str) -> CurrentStocktake:
    """The room's open stocktake, else the one awaiting approval, else none (with its counts)."""
    for state in ("open", "finished"):
        page = await stocktake.list_stocktakes(deps, actor, room, StocktakeQuery(state=state, limit=1))
        if page.items:
            return CurrentStocktake(stocktake=await stocktake.get_stocktake(deps, actor, page.items[0].id))
    return CurrentStocktake(stocktake=None)
