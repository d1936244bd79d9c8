"""Circulation API: lend, return, renew, in-room use, holds, loan lists and statistics.

Writes come from the desk (room administrators in their own rooms, town
coordinators in their towns, district staff anywhere); every write carries a
client ``op_id`` and a replay answers the first result with ``replayed: true``.
Inspectors and trainers see only the anonymous statistics.
"""

from __future__ import annotations

from server.circulation import holds, offline, service
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
from server.circulation.offline_models import (
    ConflictPage,
    ConflictQuery,
    OfflineBatchIn,
    OfflineBatchOut,
    ResolveIn,
    ResolveOut,
)
from server.staff.roles import ALL_STAFF, DISTRICT, PHONE, Role
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


class OfflineBatchesHandler(ApiHandler):
    @endpoint(summary="上传离线操作（手机恢复联网后）", roles=PHONE, body=OfflineBatchIn, response=OfflineBatchOut,
              tags=["circulation"], errors=(409,),
              description="Stores the batch, then applies every phone's pending operations in event-time order. "
                          "One outcome per operation, in the order sent: applied, duplicate, conflict, rejected "
                          "(a malformed operation or one in a room outside the uploader's scope). A batch_id sent "
                          "again answers the stored outcomes (replayed: true). 409: batch_id_reused (other "
                          "operations under the same batch_id), sync_busy (stored; send again later). "
                          "422: the envelope itself is malformed (nothing stored).")
    async def post(self, *, body: OfflineBatchIn) -> OfflineBatchOut:
        return await offline.upload_batch(self.deps, self.me, body)


class RoomOfflineConflictsHandler(ApiHandler):
    @endpoint(summary="书屋的离线同步冲突（默认只列未处理的）", roles=PHONE | {Role.INSPECTOR}, query=ConflictQuery,
              response=ConflictPage, tags=["circulation"], errors=(403, 404),
              description="Inspectors see the conflicts without the readers (card numbers masked).")
    async def get(self, code: str, *, query: ConflictQuery) -> ConflictPage:
        return await offline.room_conflicts(self.deps, self.me, code, query)


class OfflineConflictResolveHandler(ApiHandler):
    @endpoint(summary="处理离线同步冲突", roles=DISTRICT | {Role.ROOM_ADMIN}, body=ResolveIn, response=ResolveOut,
              tags=["circulation"], errors=(403, 404, 409, 422),
              description="District staff, or an administrator of the conflict's room. An unknown_card loan is "
                          "given to its reader first (409 card_still_unknown until the card is registered, unless "
                          "dismiss). 409 already_resolved.")
    async def post(self, conflict_id: str, *, body: ResolveIn) -> ResolveOut:
        return await offline.resolve_conflict(self.deps, self.me, conflict_id, body)


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
    (r"/api/v1/offline-batches", OfflineBatchesHandler),
    (rf"/api/v1/rooms/{ROOM}/offline-conflicts", RoomOfflineConflictsHandler),
    (r"/api/v1/offline-conflicts/(?P<conflict_id>[^/]+)/resolve", OfflineConflictResolveHandler),
]
