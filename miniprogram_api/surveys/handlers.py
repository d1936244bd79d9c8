"""The satisfaction survey over HTTP: readers answer in the mini-program
(``/mp/v1/rooms/<code>/survey``); staff read the results (``/api/v1/rooms/<code>/survey-results``)."""

from __future__ import annotations

from miniprogram_api.surveys import service
from miniprogram_api.surveys.models import (
    SurveyIn,
    SurveyOut,
    SurveyResults,
    SurveyResultsQuery,
    SurveySaved,
)
from server.staff.roles import ALL_STAFF
from server.web.api import ApiHandler, endpoint
from server.web.mp import MpHandler

TAGS = ["mp-surveys"]


class SurveyHandler(MpHandler):
    @endpoint(summary="书屋满意度调查：题目和我今年的评价", roles=None, reader=True, response=SurveyOut, tags=TAGS,
              errors=(401, 404))
    async def get(self, code: str) -> SurveyOut:
        return await service.survey(self.deps, self.reader, code)

    @endpoint(summary="提交（或修改）今年对书屋的评价（op_id 幂等）", roles=None, reader=True, body=SurveyIn,
              response=SurveySaved, tags=TAGS, errors=(401, 404, 409, 422, 429))
    async def post(self, code: str, *, body: SurveyIn) -> SurveySaved:
        return await service.answer(self.deps, self.reader, code, body)


class SurveyResultsHandler(ApiHandler):
    @endpoint(summary="书屋满意度调查结果（仅汇总，不含答题人）", roles=ALL_STAFF, query=SurveyResultsQuery,
              response=SurveyResults, tags=["activities"], errors=(403, 404, 422))
    async def get(self, code: str, *, query: SurveyResultsQuery) -> SurveyResults:
        return await service.results(self.deps, self.me, code, query)


ROOM = r"(?P<code>[^/]+)"
routes = [
    (rf"/mp/v1/rooms/{ROOM}/survey", SurveyHandler),
    (rf"/api/v1/rooms/{ROOM}/survey-results", SurveyResultsHandler),
]
