"""书香之家 for the mini-program (``/mp/v1/reading-family…``)."""

from __future__ import annotations

from miniprogram_api.families import service
from miniprogram_api.families.models import FamilyEntryOut, NominateIn, ReadingFamilyOut, WithdrawIn
from server.web.api import endpoint
from server.web.mp import MpHandler

TAGS = ["mp-reading-family"]


class ReadingFamilyHandler(MpHandler):
    @endpoint(summary="书香之家：本次评选、怎么申报，以及我家的申报", roles=None, reader=True,
              response=ReadingFamilyOut, tags=TAGS)
    async def get(self) -> ReadingFamilyOut:
        return await service.overview(self.deps, self.reader)


class NominateHandler(MpHandler):
    @endpoint(summary="申报书香之家（家庭自荐；op_id 幂等；申报材料经微信内容安全检查）", roles=None, reader=True,
              body=NominateIn, response=FamilyEntryOut, status=201, tags=TAGS, errors=(409, 422, 429, 503))
    async def post(self, *, body: NominateIn) -> FamilyEntryOut:
        return await service.nominate(self.deps, self.reader, body)


class WithdrawHandler(MpHandler):
    @endpoint(summary="撤回我家的书香之家申报（申报期内）", roles=None, reader=True, body=WithdrawIn,
              response=FamilyEntryOut, tags=TAGS, errors=(404, 409, 422, 429))
    async def post(self, *, body: WithdrawIn) -> FamilyEntryOut:
        return await service.withdraw(self.deps, self.reader, body)


routes = [
    (r"/mp/v1/reading-family", ReadingFamilyHandler),
    (r"/mp/v1/reading-family/entries", NominateHandler),
    (r"/mp/v1/reading-family/entries/withdraw", WithdrawHandler),
]
