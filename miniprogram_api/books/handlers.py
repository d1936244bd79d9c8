"""/mp/v1 books: search with availability, holds, my loans and renewals, purchase
suggestions (荐购); and /api/v1/suggestions, where the district office handles them."""

from __future__ import annotations

from pydantic import BaseModel

from miniprogram_api.books import service, suggestions
from miniprogram_api.books.models import (
    HoldListQuery,
    LoanListQuery,
    MpHoldCancelIn,
    MpHoldCancelled,
    MpHoldIn,
    MpHoldPage,
    MpHoldPlaced,
    MpLoanPage,
    MpRenewIn,
    MpRenewOut,
    MpTitle,
    MpTitlePage,
    StaffSuggestionPage,
    StaffSuggestionQuery,
    SuggestionIn,
    SuggestionListQuery,
    SuggestionPage,
    SuggestionSubmitted,
    TitleRoomQuery,
    TitleSearchQuery,
    TransitionIn,
    TransitionOut,
)
from server.staff.roles import DISTRICT
from server.web.api import ApiHandler, endpoint
from server.web.mp import MpHandler

TAGS = ["mp-books"]
WRITE_ERRORS = (404, 409, 422)


class MpTitlesHandler(MpHandler):
    @endpoint(summary="搜索图书（书名、作者、拼音、首字母、ISBN），附本书屋和附近书屋的在架情况", roles=None,
              query=TitleSearchQuery, response=MpTitlePage, tags=TAGS, errors=(401, 404, 422),
              description="Public. With member_id (needs the reader's session) availability is for that member's "
                          "home room; room= wins. nearby: the 5 nearest other rooms with a copy on the shelf.")
    async def get(self, *, query: TitleSearchQuery) -> MpTitlePage:
        return await service.search_titles(self.deps, self.principal, query)


class MpTitleHandler(MpHandler):
    @endpoint(summary="图书详情和在架情况", roles=None, query=TitleRoomQuery, response=MpTitle, tags=TAGS,
              errors=(401, 404, 422))
    async def get(self, title_id: str, *, query: TitleRoomQuery) -> MpTitle:
        return await service.title_page(self.deps, self.principal, title_id, query)


class MpHoldsHandler(MpHandler):
    @endpoint(summary="预约图书（家庭成员须有借阅证）", roles=None, reader=True, body=MpHoldIn,
              response=MpHoldPlaced, status=201, tags=TAGS, errors=WRITE_ERRORS,
              description="422 card_required: the member has no library card (办理借阅证 first). "
                          "409 available_on_shelf: a copy is free at the pick-up room, go and borrow it.")
    async def post(self, *, body: MpHoldIn) -> MpHoldPlaced:
        return await service.place_hold(self.deps, self.reader, body)

    @endpoint(summary="我家的预约", roles=None, reader=True, query=HoldListQuery, response=MpHoldPage, tags=TAGS,
              errors=(404, 422))
    async def get(self, *, query: HoldListQuery) -> MpHoldPage:
        return await service.list_holds(self.deps, self.reader, query)


class MpHoldCancelHandler(MpHandler):
    @endpoint(summary="取消预约", roles=None, reader=True, body=MpHoldCancelIn, response=MpHoldCancelled, tags=TAGS,
              errors=WRITE_ERRORS)
    async def post(self, hold_id: str, *, body: MpHoldCancelIn) -> MpHoldCancelled:
        return await service.cancel_hold(self.deps, self.reader, hold_id, body)


class MpLoansHandler(MpHandler):
    @endpoint(summary="我的借阅（status=open 在借，history 借阅历史）", roles=None, reader=True, query=LoanListQuery,
              response=MpLoanPage, tags=TAGS, errors=(404, 422))
    async def get(self, *, query: LoanListQuery) -> MpLoanPage:
        return await service.list_loans(self.deps, self.reader, query)


class MpRenewHandler(MpHandler):
    @endpoint(summary="续借", roles=None, reader=True, body=MpRenewIn, response=MpRenewOut, tags=TAGS,
              errors=WRITE_ERRORS)
    async def post(self, loan_id: str, *, body: MpRenewIn) -> MpRenewOut:
        return await service.renew(self.deps, self.reader, loan_id, body)


class MpSuggestionsHandler(MpHandler):
    @endpoint(summary="荐购（推荐图书馆购买）", roles=None, reader=True, body=SuggestionIn,
              response=SuggestionSubmitted, status=201, also=(200,), tags=TAGS, errors=WRITE_ERRORS,
              description="201: a new suggestion. 200 with merged=true: someone suggested the same book first; "
                          "the member now supports that suggestion. 409 already_in_catalog: the library has it "
                          "(the title id is in errors at loc [\"catalog\", \"title_id\"]).")
    async def post(self, *, body: SuggestionIn) -> SuggestionSubmitted:
        return await suggestions.submit(self.deps, self.reader, body)

    @endpoint(summary="我家的荐购和处理进度", roles=None, reader=True, query=SuggestionListQuery,
              response=SuggestionPage, tags=TAGS, errors=(404, 422))
    async def get(self, *, query: SuggestionListQuery) -> SuggestionPage:
        return await suggestions.my_suggestions(self.deps, self.reader, query)

    def respond(self, result: BaseModel | None, status: int = 200) -> None:
        # Joining an existing suggestion creates nothing: 200, not 201.
        if isinstance(result, SuggestionSubmitted) and result.merged:
            status = 200
        super().respond(result, status)


class SuggestionQueueHandler(ApiHandler):
    @endpoint(summary="读者荐购（新的在前，附推荐人数）", roles=DISTRICT, query=StaffSuggestionQuery,
              response=StaffSuggestionPage, tags=["suggestions"], errors=(422,))
    async def get(self, *, query: StaffSuggestionQuery) -> StaffSuggestionPage:
        return await suggestions.staff_list(self.deps, self.me, query)


class SuggestionTransitionHandler(ApiHandler):
    @endpoint(summary="处理荐购（审核、采纳、采购、到馆、合并、不采纳）", roles=DISTRICT, body=TransitionIn,
              response=TransitionOut, tags=["suggestions"], errors=WRITE_ERRORS,
              description="409 illegal_transition names from and to. rejected needs reason; merged needs "
                          "merged_into (an open suggestion; its supporters move there); fulfilled needs title_id "
                          "and places a hold for each supporter with a card at their home room where possible.")
    async def post(self, suggestion_id: str, *, body: TransitionIn) -> TransitionOut:
        return await suggestions.transition(self.deps, self.me, suggestion_id, body)


routes = [
    (r"/mp/v1/titles", MpTitlesHandler),
    (r"/mp/v1/titles/(?P<title_id>[^/]+)", MpTitleHandler),
    (r"/mp/v1/holds", MpHoldsHandler),
    (r"/mp/v1/holds/(?P<hold_id>[^/]+)/cancel", MpHoldCancelHandler),
    (r"/mp/v1/loans", MpLoansHandler),
    (r"/mp/v1/loans/(?P<loan_id>[^/]+)/renew", MpRenewHandler),
    (r"/mp/v1/suggestions", MpSuggestionsHandler),
    (r"/api/v1/suggestions", SuggestionQueueHandler),
    (r"/api/v1/suggestions/(?P<suggestion_id>[^/]+)/transition", SuggestionTransitionHandler),
]
