"""Stock API: receive copies, write them off, read a room's holdings and ledger; transfers
between rooms, targets and rebalancing, stocktakes."""

from __future__ import annotations

from server.staff.roles import ALL_STAFF, DISTRICT, Role
from server.stock import service, stocktake, targets, transfers
from server.stock.models import (
    HoldingsPage,
    HoldingsQuery,
    MovesPage,
    MovesQuery,
    OperationOut,
    RebalanceOut,
    RebalanceQuery,
    RebalanceRequestIn,
    RebalanceRequestOut,
    ReceiptIn,
    ScanIn,
    ScanOut,
    StocktakeCancelIn,
    StocktakeOperationOut,
    StocktakeOut,
    StocktakePage,
    StocktakeQuery,
    StocktakeStartIn,
    StocktakeStepIn,
    TargetIn,
    TargetOut,
    TransferArrivalIn,
    TransferCancelIn,
    TransferOperationOut,
    TransferOut,
    TransferPage,
    TransferQuery,
    TransferRequestIn,
    TransferStepIn,
    WriteOffIn,
)
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


TRANSFER = r"(?P<transfer_id>[^/]+)"
STOCKTAKE = r"(?P<stocktake_id>[^/]+)"
# Moves between rooms and stocktakes change stock: district staff or the room's administrator.
_STEP_ERRORS = (403, 404, 409, 422)


class TransfersHandler(ApiHandler):
    @endpoint(summary="申请调拨（调出或调入书屋，或区馆）", roles=STOCK_WRITERS, body=TransferRequestIn,
              response=TransferOperationOut, status=201, tags=["transfers"], errors=_STEP_ERRORS)
    async def post(self, *, body: TransferRequestIn) -> TransferOperationOut:
        return await transfers.request_transfer(self.deps, self.me, body)

    @endpoint(summary="调拨单列表（最新在前）", roles=ALL_STAFF, query=TransferQuery, response=TransferPage,
              tags=["transfers"], errors=(403, 404, 422))
    async def get(self, *, query: TransferQuery) -> TransferPage:
        return await transfers.list_transfers(self.deps, self.me, query)


class TransferHandler(ApiHandler):
    @endpoint(summary="调拨单详情", roles=ALL_STAFF, response=TransferOut, tags=["transfers"], errors=(403, 404, 422))
    async def get(self, transfer_id: str) -> TransferOut:
        return await transfers.get_transfer(self.deps, self.me, transfer_id)


class TransferSendHandler(ApiHandler):
    @endpoint(summary="发出调拨（调出书屋）：在架 → 在途", roles=STOCK_WRITERS, body=TransferStepIn,
              response=TransferOperationOut, tags=["transfers"], errors=_STEP_ERRORS)
    async def post(self, transfer_id: str, *, body: TransferStepIn) -> TransferOperationOut:
        return await transfers.send_transfer(self.deps, self.me, transfer_id, body)


class TransferArriveHandler(ApiHandler):
    @endpoint(summary="确认到达（实际收到的书屋；误送则转开新调拨单）", roles=STOCK_WRITERS, body=TransferArrivalIn,
              response=TransferOperationOut, tags=["transfers"], errors=_STEP_ERRORS)
    async def post(self, transfer_id: str, *, body: TransferArrivalIn) -> TransferOperationOut:
        return await transfers.confirm_arrival(self.deps, self.me, transfer_id, body)


class TransferCancelHandler(ApiHandler):
    @endpoint(summary="取消调拨（须填原因；已发出的须书已退回调出书屋）", roles=STOCK_WRITERS, body=TransferCancelIn,
              response=TransferOperationOut, tags=["transfers"], errors=_STEP_ERRORS)
    async def post(self, transfer_id: str, *, body: TransferCancelIn) -> TransferOperationOut:
        return await transfers.cancel_transfer(self.deps, self.me, transfer_id, body)


class TransferLostHandler(ApiHandler):
    @endpoint(summary="登记途中丢失（区馆）：在途 → 丢失", roles=DISTRICT, body=TransferCancelIn,
              response=TransferOperationOut, tags=["transfers"], errors=_STEP_ERRORS)
    async def post(self, transfer_id: str, *, body: TransferCancelIn) -> TransferOperationOut:
        return await transfers.report_lost(self.deps, self.me, transfer_id, body)


class StockTargetHandler(ApiHandler):
    @endpoint(summary="书屋目标藏量与当前水平", roles=ALL_STAFF, response=TargetOut, tags=["rebalancing"],
              errors=(403, 404))
    async def get(self, code: str) -> TargetOut:
        return await targets.get_target(self.deps, self.me, code)

    @endpoint(summary="设定书屋目标藏量（区馆）", roles=DISTRICT, body=TargetIn, response=TargetOut,
              tags=["rebalancing"], errors=(403, 404, 422))
    async def put(self, code: str, *, body: TargetIn) -> TargetOut:
        return await targets.set_target(self.deps, self.me, code, body)


class RebalancingHandler(ApiHandler):
    @endpoint(summary="调剂建议：把高于目标的书屋的余量调往最缺的书屋", roles=DISTRICT, query=RebalanceQuery,
              response=RebalanceOut, tags=["rebalancing"], errors=(403, 422))
    async def get(self, *, query: RebalanceQuery) -> RebalanceOut:
        return await targets.suggest(self.deps, self.me, query)


class RebalancingRequestsHandler(ApiHandler):
    @endpoint(summary="把选定的调剂建议转为调拨申请", roles=DISTRICT, body=RebalanceRequestIn,
              response=RebalanceRequestOut, status=201, tags=["rebalancing"], errors=(403, 404, 409, 422))
    async def post(self, *, body: RebalanceRequestIn) -> RebalanceRequestOut:
        return await targets.request_suggestions(self.deps, self.me, body)


class RoomStocktakesHandler(ApiHandler):
    @endpoint(summary="开始盘点（冻结应有清单）", roles=STOCK_WRITERS, body=StocktakeStartIn,
              response=StocktakeOperationOut, status=201, tags=["stocktake"], errors=_STEP_ERRORS)
    async def post(self, code: str, *, body: StocktakeStartIn) -> StocktakeOperationOut:
        return await stocktake.start(self.deps, self.me, code, body)

    @endpoint(summary="书屋的盘点（最新在前）", roles=ALL_STAFF, query=StocktakeQuery, response=StocktakePage,
              tags=["stocktake"], errors=(403, 404, 422))
    async def get(self, code: str, *, query: StocktakeQuery) -> StocktakePage:
        return await stocktake.list_stocktakes(self.deps, self.me, code, query)


class StocktakeHandler(ApiHandler):
    @endpoint(summary="盘点详情（含扫描计数与报告）", roles=ALL_STAFF, response=StocktakeOut, tags=["stocktake"],
              errors=(403, 404, 422))
    async def get(self, stocktake_id: str) -> StocktakeOut:
        return await stocktake.get_stocktake(self.deps, self.me, stocktake_id)


class StocktakeScansHandler(ApiHandler):
    @endpoint(summary="盘点扫描（ISBN-13、ISBN-10 或馆内编号）", roles=STOCK_WRITERS, body=ScanIn, response=ScanOut,
              status=201, tags=["stocktake"], errors=_STEP_ERRORS)
    async def post(self, stocktake_id: str, *, body: ScanIn) -> ScanOut:
        return await stocktake.scan(self.deps, self.me, stocktake_id, body)


class StocktakeFinishHandler(ApiHandler):
    @endpoint(summary="结束盘点，生成报告与调整建议", roles=STOCK_WRITERS, body=StocktakeStepIn,
              response=StocktakeOperationOut, tags=["stocktake"], errors=_STEP_ERRORS)
    async def post(self, stocktake_id: str, *, body: StocktakeStepIn) -> StocktakeOperationOut:
        return await stocktake.finish(self.deps, self.me, stocktake_id, body)


class StocktakeApproveHandler(ApiHandler):
    @endpoint(summary="审核盘点调整并入账（区馆）", roles=DISTRICT, body=StocktakeStepIn,
              response=StocktakeOperationOut, tags=["stocktake"], errors=_STEP_ERRORS)
    async def post(self, stocktake_id: str, *, body: StocktakeStepIn) -> StocktakeOperationOut:
        return await stocktake.approve(self.deps, self.me, stocktake_id, body)


class StocktakeCancelHandler(ApiHandler):
    @endpoint(summary="取消盘点（须填原因）", roles=STOCK_WRITERS, body=StocktakeCancelIn,
              response=StocktakeOperationOut, tags=["stocktake"], errors=_STEP_ERRORS)
    async def post(self, stocktake_id: str, *, body: StocktakeCancelIn) -> StocktakeOperationOut:
        return await stocktake.cancel(self.deps, self.me, stocktake_id, body)


routes = [
    (rf"/api/v1/rooms/{ROOM}/receipts", ReceiptsHandler),
    (rf"/api/v1/rooms/{ROOM}/write-offs", WriteOffsHandler),
    (rf"/api/v1/rooms/{ROOM}/holdings", HoldingsHandler),
    (rf"/api/v1/rooms/{ROOM}/stock-moves", MovesHandler),
    (r"/api/v1/transfers", TransfersHandler),
    (rf"/api/v1/transfers/{TRANSFER}", TransferHandler),
    (rf"/api/v1/transfers/{TRANSFER}/send", TransferSendHandler),
    (rf"/api/v1/transfers/{TRANSFER}/arrive", TransferArriveHandler),
    (rf"/api/v1/transfers/{TRANSFER}/cancel", TransferCancelHandler),
    (rf"/api/v1/transfers/{TRANSFER}/lost", TransferLostHandler),
    (rf"/api/v1/rooms/{ROOM}/stock-target", StockTargetHandler),
    (r"/api/v1/stock/rebalancing", RebalancingHandler),
    (r"/api/v1/stock/rebalancing/requests", RebalancingRequestsHandler),
    (rf"/api/v1/rooms/{ROOM}/stocktakes", RoomStocktakesHandler),
    (rf"/api/v1/stocktakes/{STOCKTAKE}", StocktakeHandler),
    (rf"/api/v1/stocktakes/{STOCKTAKE}/scans", StocktakeScansHandler),
    (rf"/api/v1/stocktakes/{STOCKTAKE}/finish", StocktakeFinishHandler),
    (rf"/api/v1/stocktakes/{STOCKTAKE}/approve", StocktakeApproveHandler),
    (rf"/api/v1/stocktakes/{STOCKTAKE}/cancel", StocktakeCancelHandler),
]
