"""Room registry API."""

from __future__ import annotations

from server.rooms import service
from server.rooms.models import Deactivation, RoomCreate, RoomOut, RoomPage, RoomQuery, RoomUpdate
from server.staff.roles import ALL_STAFF, DISTRICT, Role
from server.web.api import ApiHandler, endpoint

ROOM_EDITORS = DISTRICT | {Role.TOWN_COORDINATOR, Role.ROOM_ADMIN}
ROOM_CODE = r"(?P<code>[^/]+)"


class RoomsHandler(ApiHandler):
    @endpoint(summary="书屋列表（按编号排序，游标分页）", roles=ALL_STAFF, query=RoomQuery, response=RoomPage,
              tags=["rooms"], description="Each caller sees only the rooms in their scope.")
    async def get(self, *, query: RoomQuery) -> RoomPage:
        return await service.list_rooms(self.deps, self.me, query)

    @endpoint(summary="登记新书屋", roles=DISTRICT, body=RoomCreate, response=RoomOut, status=201,
              tags=["rooms"], errors=(409, 422))
    async def post(self, *, body: RoomCreate) -> RoomOut:
        return await service.create_room(self.deps, self.me, body)


class RoomHandler(ApiHandler):
    @endpoint(summary="一个书屋及其管理员", roles=ALL_STAFF, response=RoomOut, tags=["rooms"], errors=(403, 404))
    async def get(self, code: str) -> RoomOut:
        return await service.get_room(self.deps, self.me, code)

    @endpoint(summary="修改书屋信息", roles=ROOM_EDITORS, body=RoomUpdate, response=RoomOut, tags=["rooms"],
              errors=(403, 404, 422),
              description="A room administrator may change address, area, seats, opening hours and phone only.")
    async def patch(self, code: str, *, body: RoomUpdate) -> RoomOut:
        return await service.update_room(self.deps, self.me, code, body)


class RoomDeactivateHandler(ApiHandler):
    @endpoint(summary="停用书屋（保留全部历史）", roles=DISTRICT, body=Deactivation, response=RoomOut,
              tags=["rooms"], errors=(404, 422))
    async def post(self, code: str, *, body: Deactivation) -> RoomOut:
        return await service.set_room_status(self.deps, self.me, code, active=False, body=body)


class RoomActivateHandler(ApiHandler):
    @endpoint(summary="重新启用书屋", roles=DISTRICT, response=RoomOut, tags=["rooms"], errors=(404, 422))
    async def post(self, code: str) -> RoomOut:
        return await service.set_room_status(self.deps, self.me, code, active=True)


routes = [
    (r"/api/v1/rooms", RoomsHandler),
    (rf"/api/v1/rooms/{ROOM_CODE}", RoomHandler),
    (rf"/api/v1/rooms/{ROOM_CODE}/deactivate", RoomDeactivateHandler),
    (rf"/api/v1/rooms/{ROOM_CODE}/activate", RoomActivateHandler),
]
