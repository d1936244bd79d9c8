"""Room mini-program codes for staff (/api/v1), the room landing page and check-ins (/mp/v1)."""

from __future__ import annotations

from miniprogram_api.roomcodes import service
from miniprogram_api.roomcodes.models import QrCodeOut, RegenerateIn, RoomLanding, VisitIn, VisitOut
from server.staff.roles import ALL_STAFF, DISTRICT
from server.web.api import ApiHandler, endpoint
from server.web.mp import MpHandler

ROOM_CODE = r"(?P<code>[^/]+)"


class RoomQrHandler(ApiHandler):
    @endpoint(summary="书屋小程序码（PNG，张贴在书屋，扫码进入书屋页面）", roles=ALL_STAFF, media_type="image/png",
              tags=["rooms"], errors=(403, 404, 503),
              description="Made once through WeChat's getwxacodeunlimit (scene = the room code) and stored.")
    async def get(self, code: str) -> bytes:
        png = await service.qr_png(self.deps, self.me, code)
        self.set_header("Content-Disposition", f'inline; filename="{code}-miniprogram.png"')
        return png


class RoomQrRegenerateHandler(ApiHandler):
    @endpoint(summary="重新生成书屋小程序码", roles=DISTRICT, body=RegenerateIn, response=QrCodeOut, tags=["rooms"],
              errors=(404, 422, 503))
    async def post(self, code: str, *, body: RegenerateIn) -> QrCodeOut:
        return await service.regenerate(self.deps, self.me, code, body)


class MpRoomHandler(MpHandler):
    @endpoint(summary="书屋页面（扫书屋小程序码进入）", roles=None, response=RoomLanding, tags=["mp-rooms"],
              errors=(404,),
              description="Public. With a reader's token, also says whether the family has it as home room.")
    async def get(self, code: str) -> RoomLanding:
        return await service.landing(self.deps, self.principal, code)


class MpRoomVisitHandler(MpHandler):
    @endpoint(summary="到书屋签到（每个账号每天每个书屋计一次）", roles=None, reader=True, body=VisitIn,
              response=VisitOut, tags=["mp-rooms"], errors=(404, 409, 422))
    async def post(self, code: str, *, body: VisitIn) -> VisitOut:
        return await service.check_in(self.deps, self.reader, code, body)


routes = [
    (rf"/api/v1/rooms/{ROOM_CODE}/miniprogram-qr", RoomQrHandler),
    (rf"/api/v1/rooms/{ROOM_CODE}/miniprogram-qr/regenerate", RoomQrRegenerateHandler),
    (rf"/mp/v1/rooms/{ROOM_CODE}", MpRoomHandler),
    (rf"/mp/v1/rooms/{ROOM_CODE}/visits", MpRoomVisitHandler),
]
