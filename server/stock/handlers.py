"""Stock API: receive copies, write them off, read a room's holdings and ledger."""

from __future__ import annotations

from server.staff.roles import ALL_STAFF, DISTRICT, Role
from server.stock import service
from server.stock.models import HoldingsPage, HoldingsQuery, MovesPage, MovesQuery, OperationOut, ReceiptIn, WriteOffIn
from server.web.api import ApiHandler, endpoint

STOCK_WRITERS = DISTRICT | {Role.ROOM_ADMIN}
ROOM = r"(?P<code>[^/]+)"


class ReceiptsHandler(ApiHandler):
    @endpoint(summary="入库：新书到馆", roles=STOCK_WRITERS, body=ReceiptIn, response=OperationOut, status=201,
              tags=["stock"], errors=(403, 404, 409, 422))
    async def post(self, code: str, *, body: ReceiptIn) -> OperationOut:
        return await service.receive(self.deps, self.me, code, body)


class WriteOffsHandler(ApiHandler):
    @endpoint(summary="注销：丢失或损坏", roles=STOCK_WRITERS, body=WriteOffIn, response=OperationOut, status=201,
              tags=["stock"], errors=(403, 404, 409, 422))
    async def post(self, code: str, *, body: WriteOffIn) -> OperationOut:
        return await service.write_off(self.deps, self.me, code, body)


class HoldingsHandler(ApiHandler):
    @endpoint(summary="书屋藏书（按书目）", roles=ALL_STAFF, query=HoldingsQuery, response=HoldingsPage,
              tags=["stock"], errors=(403, 404))
    async def get(self, code: str, *, query: HoldingsQuery) -> HoldingsPage:
        return await service.list_holdings(self.deps, self.me, code, query)


class MovesHandler(ApiHandler):
    @endpoint(summary="书屋库存流水（最新在前）", roles=ALL_STAFF, query=MovesQuery, response=MovesPage,
              tags=["stock"], errors=(403, 404))
    async def get(self, code: str, *, query: MovesQuery) -> MovesPage:
        return await service.list_moves(self.deps, self.me, code, query)


routes = [
    (rf"/api/v1/rooms/{ROOM}/receipts", ReceiptsHandler),
    (rf"/api/v1/rooms/{ROOM}/write-offs", WriteOffsHandler),
    (rf"/api/v1/rooms/{ROOM}/holdings", HoldingsHandler),
    (rf"/api/v1/rooms/{ROOM}/stock-moves", MovesHandler),
]
