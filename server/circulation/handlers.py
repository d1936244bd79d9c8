"""Circulation API: lend, return, renew, in-room use, holds, loan lists and statistics.

Writes come from the desk (room administrators in their own rooms, town
coordinators in their towns, district staff anywhere); every write carries a
client ``op_id`` and a replay answers the first result with ``replayed: true``.
Inspectors and trainers see only the anonymous statistics.
"""

from __future__ import annotations

from server.circulation import holds, service
from server.circulation.models import (
    HoldCancelIn,
    HoldCancelled,
    HoldIn,
    HoldPage,
    HoldPlaced,
    HoldQuery,
    InRoomUseIn,
    InRoomUseOut,
    LendIn,
    LendOut,
    LoanOut,
    LoanPage,
    LoanStatsOut,
    LoanStatsQuery,
    ReaderLoanQuery,
    RenewIn,
    RenewOut,
    ReturnIn,
    ReturnOut,
    RoomLoanQuery,
)
from server.staff.roles import ALL_STAFF, PHONE
from server.web.api import ApiHandler, endpoint

ROOM = r"(?P<code>[^/]+)"
LOAN_ID = r"(?P<loan_id>[^/]+)"
HOLD_ID = r"(?P<hold_id>[^/]+)"
READER_ID = r"(?P<reader_id>[^/]+)"
WRITE_ERRORS = (403, 404, 409, 422)


class RoomLoansHandler(ApiHandler):
    @endpoint(summary="借书（扫读者证和书的 ISBN）", roles=PHONE, body=LendIn, response=LendOut, status=201,
              tags=["circulation"], errors=WRITE_ERRORS,
              description="409: not held here, none on the shelf, copies set aside for holds. "
                          "422: periodical, limit reached, blocked or overdue reader, unknown card or title.")
    async def post(self, code: str, *, body: LendIn) -> LendOut:
        return await service.lend(self.deps, self.me, code, body)

    @endpoint(summary="本书屋借出未还的书（overdue=true 只看逾期）", roles=PHONE, query=RoomLoanQuery,
              response=LoanPage, tags=["circulation"], errors=(403, 404))
    async def get(self, code: str, *, query: RoomLoanQuery) -> LoanPage:
        return await service.room_loans(self.deps, self.me, code, query)


class RoomReturnsHandler(ApiHandler):
    @endpoint(summary="还书（可还到任何书屋：通借通还）", roles=PHONE, body=ReturnIn, response=ReturnOut,
              tags=["circulation"], errors=WRITE_ERRORS,
              description="The answer's notice says when a hold wants the copy (keep it aside or send it on).")
    async def post(self, code: str, *, body: ReturnIn) -> ReturnOut:
        return await service.return_item(self.deps, self.me, code, body)


class RoomInRoomUsesHandler(ApiHandler):
    @endpoint(summary="登记馆内阅览（不外借，只计数）", roles=PHONE, body=InRoomUseIn, response=InRoomUseOut, status=201,
              tags=["circulation"], errors=WRITE_ERRORS)
    async def post(self, code: str, *, body: InRoomUseIn) -> InRoomUseOut:
        return await service.record_in_room_use(self.deps, self.me, code, body)


class RoomHoldsHandler(ApiHandler):
    @endpoint(summary="在本书屋取书的预约（status=ready：已留出的书）", roles=PHONE, query=HoldQuery,
              response=HoldPage, tags=["circulation"], errors=(403, 404))
    async def get(self, code: str, *, query: HoldQuery) -> HoldPage:
        return await holds.room_holds(self.deps, self.me, code, query)


class RoomLoanStatsHandler(ApiHandler):
    @endpoint(summary="书屋借阅统计（按月、类别，不含读者信息）", roles=ALL_STAFF, query=LoanStatsQuery,
              response=LoanStatsOut, tags=["circulation"], errors=(403, 404))
    async def get(self, code: str, *, query: LoanStatsQuery) -> LoanStatsOut:
        return await service.loan_stats(self.deps, self.me, code, query)


class LoanHandler(ApiHandler):
    @endpoint(summary="一条借阅记录", roles=PHONE, response=LoanOut, tags=["circulation"], errors=(404, 422))
    async def get(self, loan_id: str) -> LoanOut:
        return await service.get_loan(self.deps, self.me, loan_id)


class LoanRenewHandler(ApiHandler):
    @endpoint(summary="续借", roles=PHONE, body=RenewIn, response=RenewOut, tags=["circulation"], errors=WRITE_ERRORS,
              description="422: renewal limit, overdue, blocked reader, or another reader's hold is waiting.")
    async def post(self, loan_id: str, *, body: RenewIn) -> RenewOut:
        return await service.renew(self.deps, self.me, loan_id, body)


class HoldsHandler(ApiHandler):
    @endpoint(summary="预约（读者在取书书屋登记）", roles=PHONE, body=HoldIn, response=HoldPlaced, status=201,
              tags=["circulation"], errors=WRITE_ERRORS)
    async def post(self, *, body: HoldIn) -> HoldPlaced:
        return await holds.place_hold(self.deps, self.me, body)


class HoldCancelHandler(ApiHandler):
    @endpoint(summary="取消预约", roles=PHONE, body=HoldCancelIn, response=HoldCancelled, tags=["circulation"],
              errors=WRITE_ERRORS)
    async def post(self, hold_id: str, *, body: HoldCancelIn) -> HoldCancelled:
        return await holds.cancel_hold(self.deps, self.me, hold_id, body)


class ReaderLoansHandler(ApiHandler):
    @endpoint(summary="读者的借阅（当前和历史）", roles=PHONE, query=ReaderLoanQuery, response=LoanPage,
              tags=["circulation"], errors=(404, 422))
    async def get(self, reader_id: str, *, query: ReaderLoanQuery) -> LoanPage:
        return await service.reader_loans(self.deps, self.me, reader_id, query)


class ReaderHoldsHandler(ApiHandler):
    @endpoint(summary="读者的预约", roles=PHONE, query=HoldQuery, response=HoldPage, tags=["circulation"],
              errors=(404, 422))
    async def get(self, reader_id: str, *, query: HoldQuery) -> HoldPage:
        return await holds.reader_holds(self.deps, self.me, reader_id, query)


routes = [
    (rf"/api/v1/rooms/{ROOM}/loans", RoomLoansHandler),
    (rf"/api/v1/rooms/{ROOM}/returns", RoomReturnsHandler),
    (rf"/api/v1/rooms/{ROOM}/in-room-uses", RoomInRoomUsesHandler),
    (rf"/api/v1/rooms/{ROOM}/holds", RoomHoldsHandler),
    (rf"/api/v1/rooms/{ROOM}/loan-stats", RoomLoanStatsHandler),
    (rf"/api/v1/loans/{LOAN_ID}", LoanHandler),
    (rf"/api/v1/loans/{LOAN_ID}/renew", LoanRenewHandler),
    (r"/api/v1/holds", HoldsHandler),
    (rf"/api/v1/holds/{HOLD_ID}/cancel", HoldCancelHandler),
    (rf"/api/v1/readers/{READER_ID}/loans", ReaderLoansHandler),
    (rf"/api/v1/readers/{READER_ID}/holds", ReaderHoldsHandler),
]
