"""The phone desk's JSON (``/m/api/…`` and ``/m/sync``): what the desk pages' scripts call.

Same domain services as the staff API (``/api/v1``), reached with the page's session
cookie and XSRF token instead of a Bearer token. Every write carries the client's
``op_id``: a replay answers the first result (``replayed: true``) and changes nothing.
Room scope is the services' own: another room's administrator gets 403.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import tornado.web
from pydantic import BaseModel

from server.circulation import service as circulation
from server.circulation.models import (
    InRoomUseIn,
    InRoomUseOut,
    LendIn,
    LendOut,
    LoanPage,
    RenewIn,
    RenewOut,
    ReturnIn,
    ReturnOut,
    RoomLoanQuery,
)
from server.errors import DomainError
from server.phone import desk
from server.phone.base import PhoneApiHandler
from server.phone.models import (
    CurrentStocktake,
    DeskReaderPage,
    DeskReaderQuery,
    DeskReceiptIn,
    RosterOut,
    TitleAtDesk,
    TodayOut,
)
from server.staff.roles import DISTRICT, PHONE, Role
from server.stock import stocktake
from server.stock.models import (
    OperationOut,
    ScanIn,
    ScanOut,
    StocktakeOperationOut,
    StocktakeStartIn,
    StocktakeStepIn,
)
from server.web.api import endpoint

ROOM = r"(?P<code>[A-Za-z0-9-]+)"
# Receiving stock and stocktakes: the room's administrator or the district (as in the stock API).
STOCK_WRITERS = DISTRICT | {Role.ROOM_ADMIN}


class SyncUnavailable(DomainError):
    status = 503
    title = "服务暂不可用"


class ReadersHandler(PhoneApiHandler):
    @endpoint(summary="按借阅证号或手机号找读者（含在借的书）", roles=PHONE, query=DeskReaderQuery,
              response=DeskReaderPage)
    async def get(self, *, query: DeskReaderQuery) -> DeskReaderPage:
        return await desk.find_readers(self.deps, self.me, query)


class TitleHandler(PhoneApiHandler):
    @endpoint(summary="扫到的书：书目与本书屋在架、借出册数", roles=PHONE, response=TitleAtDesk)
    async def get(self, code: str, ref: str) -> TitleAtDesk:
        return await desk.title_at_desk(self.deps, self.me, code, ref)


class LoansHandler(PhoneApiHandler):
    @endpoint(summary="借书", roles=PHONE, body=LendIn, response=LendOut, status=201)
    async def post(self, code: str, *, body: LendIn) -> LendOut:
        return await circulation.lend(self.deps, self.me, code, body)


class TodayHandler(PhoneApiHandler):
    @endpoint(summary="今天的借出与归还", roles=PHONE, response=TodayOut)
    async def get(self, code: str) -> TodayOut:
        return await desk.today(self.deps, self.me, code)


class OverdueHandler(PhoneApiHandler):
    @endpoint(summary="逾期未还（最早到期在前）", roles=PHONE, query=RoomLoanQuery, response=LoanPage)
    async def get(self, code: str, *, query: RoomLoanQuery) -> LoanPage:
        return await circulation.room_loans(self.deps, self.me, code, query.model_copy(update={"overdue": True}))


class ReturnsHandler(PhoneApiHandler):
    @endpoint(summary="还书（通借通还）", roles=PHONE, body=ReturnIn, response=ReturnOut)
    async def post(self, code: str, *, body: ReturnIn) -> ReturnOut:
        return await circulation.return_item(self.deps, self.me, code, body)


class RenewHandler(PhoneApiHandler):
    @endpoint(summary="续借", roles=PHONE, body=RenewIn, response=RenewOut)
    async def post(self, loan_id: str, *, body: RenewIn) -> RenewOut:
        return await circulation.renew(self.deps, self.me, loan_id, body)


class InRoomUsesHandler(PhoneApiHandler):
    @endpoint(summary="馆内阅览登记", roles=PHONE, body=InRoomUseIn, response=InRoomUseOut, status=201)
    async def post(self, code: str, *, body: InRoomUseIn) -> InRoomUseOut:
        return await circulation.record_in_room_use(self.deps, self.me, code, body)


class RosterHandler(PhoneApiHandler):
    @endpoint(summary="离线时借书前要提醒的借阅证（停借、逾期）", roles=PHONE, response=RosterOut)
    async def get(self, code: str) -> RosterOut:
        return await desk.offline_roster(self.deps, self.me, code)


class ReceiptsHandler(PhoneApiHandler):
    @endpoint(summary="收货入库（按扫到的书号与册数）", roles=STOCK_WRITERS, body=DeskReceiptIn, response=OperationOut,
              status=201)
    async def post(self, code: str, *, body: DeskReceiptIn) -> OperationOut:
        return await desk.receive(self.deps, self.me, code, body)


class RoomStocktakeHandler(PhoneApiHandler):
    @endpoint(summary="本书屋进行中或待审核的盘点", roles=STOCK_WRITERS, response=CurrentStocktake)
    async def get(self, code: str) -> CurrentStocktake:
        return await desk.current_stocktake(self.deps, self.me, code)

    @endpoint(summary="开始盘点", roles=STOCK_WRITERS, body=StocktakeStartIn, response=StocktakeOperationOut,
              status=201)
    async def post(self, code: str, *, body: StocktakeStartIn) -> StocktakeOperationOut:
        return await stocktake.start(self.deps, self.me, code, body)


class StocktakeScanHandler(PhoneApiHandler):
    @endpoint(summary="盘点扫描", roles=STOCK_WRITERS, body=ScanIn, response=ScanOut, status=201)
    async def post(self, stocktake_id: str, *, body: ScanIn) -> ScanOut:
        return await stocktake.scan(self.deps, self.me, stocktake_id, body)


class StocktakeFinishHandler(PhoneApiHandler):
    @endpoint(summary="结束盘点", roles=STOCK_WRITERS, body=StocktakeStepIn, response=StocktakeOperationOut)
    async def post(self, stocktake_id: str, *, body: StocktakeStepIn) -> StocktakeOperationOut:
        return await stocktake.finish(self.deps, self.me, stocktake_id, body)


def offline_service() -> tuple[ModuleType, type[BaseModel]] | None:
    """``server.circulation.offline`` and its batch schema (the type of ``upload_batch``'s body),
    or None while that module is not there."""
    try:
        from server.circulation import offline
    except ImportError:
        return None
    hint = offline.upload_batch.__annotations__.get("body")
    if isinstance(hint, str):  # postponed annotations: a name in the service's own module
        hint = offline.upload_batch.__globals__.get(hint.rsplit(".", 1)[-1]) or getattr(offline, "OfflineBatchIn", None)
    if not (isinstance(hint, type) and issubclass(hint, BaseModel)):
        return None
    return offline, hint


class NotFoundHandler(PhoneApiHandler):
    """Unknown paths under /m/api answer in problem+json too."""

    async def prepare(self) -> None:
        await super().prepare()
        raise tornado.web.HTTPError(404)


class SyncHandler(PhoneApiHandler):
    """POST /m/sync: a phone's offline log, applied by the offline sync service; one outcome per op."""

    async def post(self) -> None:
        actor = self.require_role(PHONE)
        found = offline_service()
        if found is None:
            raise SyncUnavailable("离线同步服务尚未开通，记录仍保存在本机，请稍后再同步", code="sync_unavailable")
        offline, body_type = found
        body: Any = self.parse_json_body(body_type)
        self.respond(await offline.upload_batch(self.deps, actor, body), 200)


routes = [
    (r"/m/api/readers", ReadersHandler),
    (rf"/m/api/rooms/{ROOM}/titles/(?P<ref>[^/]+)", TitleHandler),
    (rf"/m/api/rooms/{ROOM}/loans", LoansHandler),
    (rf"/m/api/rooms/{ROOM}/loans/today", TodayHandler),
    (rf"/m/api/rooms/{ROOM}/overdue", OverdueHandler),
    (rf"/m/api/rooms/{ROOM}/returns", ReturnsHandler),
    (r"/m/api/loans/(?P<loan_id>[^/]+)/renew", RenewHandler),
    (rf"/m/api/rooms/{ROOM}/in-room-uses", InRoomUsesHandler),
    (rf"/m/api/rooms/{ROOM}/blocked-cards", RosterHandler),
    (rf"/m/api/rooms/{ROOM}/receipts", ReceiptsHandler),
    (rf"/m/api/rooms/{ROOM}/stocktake", RoomStocktakeHandler),
    (r"/m/api/stocktakes/(?P<stocktake_id>[^/]+)/scans", StocktakeScanHandler),
    (r"/m/api/stocktakes/(?P<stocktake_id>[^/]+)/finish", StocktakeFinishHandler),
    (r"/m/sync", SyncHandler),
    (r"/m/api/.*", NotFoundHandler),
]
