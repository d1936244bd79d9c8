"""Shipments over HTTP: the staff API (``/api/v1/distribution/…``), the phone's receiving
pages (``/m/rooms/<code>/receive/…``) and their JSON (``/m/api/shipments/…``), and the
console's shipments page (``/console/distribution/shipments``)."""

from __future__ import annotations

from distribution.shipments import receiving, service
from distribution.shipments.documents import PDF, XLSX
from distribution.shipments.models import (
    STATUS_LABELS,
    ClaimIn,
    CreateShipmentsIn,
    CreateShipmentsOut,
    PhotoOut,
    ReceiptIn,
    ReceiptOut,
    ReconciliationOut,
    ReconciliationQuery,
    ShipmentOut,
    ShipmentPage,
    ShipmentQuery,
    ShipmentStatus,
    TransitionIn,
)
from distribution.shipments.reconcile import FIGURES
from miniprogram_api.contest.files import STORED_TYPE
from server.console.handlers import ConsolePage
from server.errors import NotFound
from server.phone.base import PhoneApiHandler, PhonePage
from server.rooms.service import authorize_room
from server.staff.roles import ALL_STAFF, DISTRICT, Role
from server.web.api import ApiHandler, endpoint

PLAN = r"(?P<plan_id>[^/]+)"
SHIPMENT = r"(?P<shipment_id>[^/]+)"
RECEIVERS = DISTRICT | {Role.ROOM_ADMIN}
TAGS = ["distribution"]
_ERRORS = (403, 404, 409, 422)


class PlanShipmentsHandler(ApiHandler):
    @endpoint(summary="由锁定的年度计划生成配送单（每个书屋一张，可重复调用）", roles=DISTRICT, body=CreateShipmentsIn,
              response=CreateShipmentsOut, status=201, tags=TAGS, errors=(404, 422))
    async def post(self, plan_id: str, *, body: CreateShipmentsIn) -> CreateShipmentsOut:
        return await service.create_shipments(self.deps, self.me, plan_id, body)


class SupplierOrderHandler(ApiHandler):
    @endpoint(summary="供货商订单（Excel）", roles=DISTRICT, media_type=XLSX, tags=TAGS, errors=(404, 422))
    async def get(self, plan_id: str) -> bytes:
        self.set_header("Content-Disposition", 'attachment; filename="supplier-order.xlsx"')
        return await service.supplier_order(self.deps, plan_id)


class ShipmentsHandler(ApiHandler):
    @endpoint(summary="配送单列表（书屋管理员只看本书屋）", roles=ALL_STAFF, query=ShipmentQuery, response=ShipmentPage,
              tags=TAGS, errors=(422,))
    async def get(self, *, query: ShipmentQuery) -> ShipmentPage:
        return await service.list_shipments(self.deps, self.me, query)


class ShipmentHandler(ApiHandler):
    @endpoint(summary="配送单详情", roles=ALL_STAFF, response=ShipmentOut, tags=TAGS, errors=(403, 404, 422))
    async def get(self, shipment_id: str) -> ShipmentOut:
        return await service.get_shipment(self.deps, self.me, shipment_id)


class TransitionHandler(ApiHandler):
    @endpoint(summary="改变配送单状态（下单、装箱、发货、取消、对账、关闭）", roles=DISTRICT,
              body=TransitionIn, response=ShipmentOut, tags=TAGS, errors=_ERRORS)
    async def post(self, shipment_id: str, *, body: TransitionIn) -> ShipmentOut:
        return await service.transition(self.deps, self.me, shipment_id, body)


class ReceiptsHandler(ApiHandler):
    @endpoint(summary="收货：按箱清点入库（op_id 幂等）", roles=RECEIVERS, body=ReceiptIn, response=ReceiptOut,
              status=201, tags=TAGS, errors=_ERRORS)
    async def post(self, shipment_id: str, *, body: ReceiptIn) -> ReceiptOut:
        return await receiving.receive_shipment(self.deps, self.me, shipment_id, body)


class PhotosHandler(ApiHandler):
    def body_limit_bytes(self) -> int:
        return receiving.PHOTO_MAX_BYTES

    @endpoint(summary="上传短少、损坏或错发的照片（JPG 或 PNG）", roles=RECEIVERS, response=PhotoOut, status=201,
              tags=TAGS, errors=(403, 404, 413, 415, 422),
              description="The photo is the raw request body with Content-Type image/jpeg or image/png.")
    async def post(self, shipment_id: str) -> PhotoOut:
        return await receiving.upload_photo(self.deps, self.me, shipment_id, self.request.body or b"",
                                            self.request.headers.get("Content-Type"))


class PhotoHandler(ApiHandler):
    @endpoint(summary="收货照片", roles=ALL_STAFF, media_type=STORED_TYPE, tags=TAGS, errors=(403, 404, 422))
    async def get(self, photo_id: str) -> bytes:
        return await receiving.photo_bytes(self.deps, self.me, photo_id)


class ClaimsHandler(ApiHandler):
    @endpoint(summary="向供货商索赔（短少、损坏）", roles=DISTRICT, body=ClaimIn, response=ShipmentOut, status=201,
              tags=TAGS, errors=_ERRORS)
    async def post(self, shipment_id: str, *, body: ClaimIn) -> ShipmentOut:
        return await service.claim(self.deps, self.me, shipment_id, body)


class PackingListHandler(ApiHandler):
    @endpoint(summary="装箱单（PDF）", roles=ALL_STAFF, media_type=PDF, tags=TAGS, errors=(403, 404, 422))
    async def get(self, shipment_id: str) -> bytes:
        return await service.packing_list(self.deps, self.me, shipment_id)


class LabelsHandler(ApiHandler):
    @endpoint(summary="箱标（PDF，每箱一张，含二维码）", roles=ALL_STAFF, media_type=PDF, tags=TAGS, errors=(403, 404, 422))
    async def get(self, shipment_id: str) -> bytes:
        return await service.packing_list(self.deps, self.me, shipment_id, labels=True)


class ReconciliationHandler(ApiHandler):
    @endpoint(summary="配送对账（按配送单和供货商）", roles=DISTRICT, query=ReconciliationQuery,
              response=ReconciliationOut, tags=TAGS, errors=(422,))
    async def get(self, *, query: ReconciliationQuery) -> ReconciliationOut:
        return await service.reconciliation(self.deps, query)


# -- the phone: receiving pages and their JSON --------------------------------------------


class PhoneReceiptsHandler(PhoneApiHandler):
    @endpoint(summary="收货（手机页面）", roles=RECEIVERS, body=ReceiptIn, response=ReceiptOut, status=201)
    async def post(self, shipment_id: str, *, body: ReceiptIn) -> ReceiptOut:
        return await receiving.receive_shipment(self.deps, self.me, shipment_id, body)


class PhonePhotosHandler(PhoneApiHandler):
    def body_limit_bytes(self) -> int:
        return receiving.PHOTO_MAX_BYTES

    @endpoint(summary="上传收货照片（手机页面）", roles=RECEIVERS, response=PhotoOut, status=201)
    async def post(self, shipment_id: str) -> PhotoOut:
        return await receiving.upload_photo(self.deps, self.me, shipment_id, self.request.body or b"",
                                            self.request.headers.get("Content-Type"))


class ReceiveListPage(PhonePage):
    roles = RECEIVERS

    async def get(self, code: str) -> None:
        room = await authorize_room(self.deps, self.me, code)
        page = await service.list_shipments(self.deps, self.me, ShipmentQuery(room=code, limit=50))
        waiting = [s for s in page.items if s.status == ShipmentStatus.DISPATCHED]
        done = [s for s in page.items if s.status != ShipmentStatus.DISPATCHED
                and s.status not in (ShipmentStatus.PLANNED, ShipmentStatus.CANCELLED)]
        self.render_page("phone/receive_shipments.html", room=room, waiting=waiting, done=done, heading="配送收货")


class ReceiveShipmentPage(PhonePage):
    roles = RECEIVERS

    async def get(self, code: str, shipment_id: str) -> None:
        room = await authorize_room(self.deps, self.me, code)
        shipment = await service.get_shipment(self.deps, self.me, shipment_id)
        if shipment.room != room["code"]:
            raise NotFound("这个书屋没有这张配送单", code="shipment_not_found")
        self.render_page("phone/receive_shipment.html", room=room, shipment=shipment, heading="配送收货",
                         page="shipment", xsrf_token=self.xsrf_token.decode(),
                         shipment_data=shipment.model_dump(mode="json", include={"id", "lines", "boxes"}))


# -- the console ---------------------------------------------------------------------------


class ConsoleShipmentsPage(ConsolePage):
    roles = DISTRICT

    async def get(self) -> None:
        # The filter form sends every field; an empty one means "all", not an invalid value.
        self.request.query_arguments = {k: v for k, v in self.request.query_arguments.items() if v and v[-1].strip()}
        query = self.parse_query(ShipmentQuery).model_copy(update={"limit": 200})
        page = await service.list_shipments(self.deps, self.me, query)
        recon = await service.reconciliation(self.deps, ReconciliationQuery(plan_id=query.plan_id))
        self.render_page("console/distribution/shipments.html", page=page, query=query, recon=recon,
                         statuses=list(STATUS_LABELS.items()), figures=FIGURES)


ROOM = r"(?P<code>[A-Za-z0-9-]+)"
OID = r"(?P<shipment_id>[0-9a-f]{24})"
routes = [
    (rf"/api/v1/distribution/plans/{PLAN}/shipments", PlanShipmentsHandler),
    (rf"/api/v1/distribution/plans/{PLAN}/supplier.xlsx", SupplierOrderHandler),
    (r"/api/v1/distribution/shipments", ShipmentsHandler),
    (rf"/api/v1/distribution/shipments/{SHIPMENT}", ShipmentHandler),
    (rf"/api/v1/distribution/shipments/{SHIPMENT}/transition", TransitionHandler),
    (rf"/api/v1/distribution/shipments/{SHIPMENT}/receipts", ReceiptsHandler),
    (rf"/api/v1/distribution/shipments/{SHIPMENT}/photos", PhotosHandler),
    (rf"/api/v1/distribution/shipments/{SHIPMENT}/claims", ClaimsHandler),
    (rf"/api/v1/distribution/shipments/{SHIPMENT}/packing-list.pdf", PackingListHandler),
    (rf"/api/v1/distribution/shipments/{SHIPMENT}/labels.pdf", LabelsHandler),
    (r"/api/v1/distribution/photos/(?P<photo_id>[^/]+)", PhotoHandler),
    (r"/api/v1/distribution/reconciliation", ReconciliationHandler),
]
pages = [
    (rf"/m/api/shipments/{SHIPMENT}/receipts", PhoneReceiptsHandler),
    (rf"/m/api/shipments/{SHIPMENT}/photos", PhonePhotosHandler),
    (rf"/m/rooms/{ROOM}/receive/shipments", ReceiveListPage),
    (rf"/m/rooms/{ROOM}/receive/{OID}", ReceiveShipmentPage),
    (r"/console/distribution/shipments", ConsoleShipmentsPage),
]
