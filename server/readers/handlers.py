"""Readers API: register at the desk, find, read, change, block."""

from __future__ import annotations

from server.readers import service
from server.readers.models import (
    BlockIn,
    ReaderCreate,
    ReaderOut,
    ReaderPage,
    ReaderQuery,
    ReaderRegistered,
    ReaderUpdate,
    UnblockIn,
)
from server.staff.roles import DISTRICT, PHONE
from server.web.api import ApiHandler, endpoint

READER_ID = r"(?P<reader_id>[^/]+)"


class ReadersHandler(ApiHandler):
    @endpoint(summary="查找读者（借阅证号、手机号，或按姓名浏览本书屋读者）", roles=PHONE, query=ReaderQuery,
              response=ReaderPage, tags=["readers"], errors=(403, 422),
              description="card or phone: any reader in the district; name/room/no filter: the caller's own readers.")
    async def get(self, *, query: ReaderQuery) -> ReaderPage:
        return await service.find_readers(self.deps, self.me, query)

    @endpoint(summary="办理借阅证（未满 14 周岁须监护人同意）", roles=PHONE, body=ReaderCreate,
              response=ReaderRegistered, status=201, tags=["readers"], errors=(403, 409, 422))
    async def post(self, *, body: ReaderCreate) -> ReaderRegistered:
        return await service.register(self.deps, self.me, body)


class ReaderHandler(ApiHandler):
    @endpoint(summary="一位读者", roles=PHONE, response=ReaderOut, tags=["readers"], errors=(404, 422))
    async def get(self, reader_id: str) -> ReaderOut:
        return await service.get_reader(self.deps, self.me, reader_id)

    @endpoint(summary="修改读者信息", roles=PHONE, body=ReaderUpdate, response=ReaderOut, tags=["readers"],
              errors=(403, 404, 409, 422), description="Within the reader's home-room scope.")
    async def patch(self, reader_id: str, *, body: ReaderUpdate) -> ReaderOut:
        return await service.update_reader(self.deps, self.me, reader_id, body)


class ReaderBlockHandler(ApiHandler):
    @endpoint(summary="停借读者（须说明原因）", roles=DISTRICT, body=BlockIn, response=ReaderOut, tags=["readers"],
              errors=(404, 422))
    async def post(self, reader_id: str, *, body: BlockIn) -> ReaderOut:
        return await service.set_blocked(self.deps, self.me, reader_id, body)


class ReaderUnblockHandler(ApiHandler):
    @endpoint(summary="恢复读者借阅", roles=DISTRICT, body=UnblockIn, response=ReaderOut, tags=["readers"],
              errors=(404, 422))
    async def post(self, reader_id: str, *, body: UnblockIn) -> ReaderOut:
        return await service.set_blocked(self.deps, self.me, reader_id, None, body.note)


routes = [
    (r"/api/v1/readers", ReadersHandler),
    (rf"/api/v1/readers/{READER_ID}", ReaderHandler),
    (rf"/api/v1/readers/{READER_ID}/block", ReaderBlockHandler),
    (rf"/api/v1/readers/{READER_ID}/unblock", ReaderUnblockHandler),
]
