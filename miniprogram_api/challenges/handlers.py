"""Reading challenges: /mp/v1 for readers and families, /api/v1 for staff."""

from __future__ import annotations

from miniprogram_api.challenges import definitions, prizes, reading, reviews, service
from miniprogram_api.challenges.models import (
    BoardOut,
    BoardQuery,
    ChallengeIn,
    ChallengeOut,
    ChallengePage,
    ChallengeQuery,
    ChallengeUpdate,
    DecisionIn,
    DeskJoinIn,
    DeskLogIn,
    DrawIn,
    DrawOut,
    DrawQuery,
    FlagOut,
    FlagPage,
    FlagQuery,
    JoinIn,
    JoinOut,
    LogIn,
    LogOut,
    MpChallengeList,
    PageQuery,
    ParticipantOut,
    ParticipantPage,
    ParticipantQuery,
    ProgressOut,
    ProgressQuery,
    ResolveIn,
    ReviewIn,
    ReviewOut,
    ReviewPage,
    ReviewQuery,
    TitleReviews,
)
from server.staff.roles import ALL_STAFF, DISTRICT, PHONE
from server.web.api import ApiHandler, endpoint
from server.web.mp import MpHandler

CHALLENGE = r"(?P<challenge_id>[^/]+)"
MP_TAGS = ["mp-challenges"]
TAGS = ["challenges"]
REVIEW_TAGS = ["reviews"]


# -- mini-program ------------------------------------------------------------------------------------


class MpChallengesHandler(MpHandler):
    @endpoint(summary="阅读活动（登录后含每位家庭成员是否已参加）", roles=None, response=MpChallengeList, tags=MP_TAGS,
              description="Public; with a reader's session each challenge lists the family's standing.")
    async def get(self) -> MpChallengeList:
        return await service.mp_challenges(self.deps, self.principal)


class MpJoinHandler(MpHandler):
    @endpoint(summary="参加阅读活动（可一次为几个孩子报名）", roles=None, reader=True, body=JoinIn, response=JoinOut,
              status=201, tags=MP_TAGS, errors=(404, 409, 422),
              description="Age group from the birth year; outside every age group: 422 outside_age_groups.")
    async def post(self, challenge_id: str, *, body: JoinIn) -> JoinOut:
        return await service.join(self.deps, self.reader, challenge_id, body)


class MpLogHandler(MpHandler):
    @endpoint(summary="记录阅读（可一次为几个孩子记录）", roles=None, reader=True, body=LogIn, response=LogOut,
              status=201, tags=MP_TAGS, errors=(404, 409, 422),
              description="Over a cap: 422 over_cap naming the cap, nothing written for anyone.")
    async def post(self, challenge_id: str, *, body: LogIn) -> LogOut:
        return await reading.log_reading(self.deps, self.reader, challenge_id, body)


class MpProgressHandler(MpHandler):
    @endpoint(summary="我的活动进度、徽章与阅读记录", roles=None, reader=True, query=ProgressQuery,
              response=ProgressOut, tags=MP_TAGS, errors=(404, 422))
    async def get(self, challenge_id: str, *, query: ProgressQuery) -> ProgressOut:
        return await service.progress(self.deps, self.reader, challenge_id, query)


class MpBoardHandler(MpHandler):
    @endpoint(summary="排行榜：前 N 名和我的名次", roles=None, reader=True, query=BoardQuery, response=BoardOut,
              tags=MP_TAGS, errors=(404, 422))
    async def get(self, challenge_id: str, *, query: BoardQuery) -> BoardOut:
        return await service.board(self.deps, self.reader, challenge_id, query)


class MpReviewsHandler(MpHandler):
    @endpoint(summary="写书评（内容安全检查后，经工作人员审核才会公开）", roles=None, reader=True, body=ReviewIn,
              response=ReviewOut, status=201, tags=MP_TAGS, errors=(404, 409, 422, 503))
    async def post(self, *, body: ReviewIn) -> ReviewOut:
        return await reviews.submit(self.deps, self.reader, body)

    @endpoint(summary="我家的书评及审核状态", roles=None, reader=True, query=PageQuery, response=ReviewPage,
              tags=MP_TAGS, errors=(422,))
    async def get(self, *, query: PageQuery) -> ReviewPage:
        return await reviews.mine(self.deps, self.reader, query)


class TitleReviewsHandler(MpHandler):
    @endpoint(summary="一本书的书评（已审核通过的）", roles=None, query=PageQuery, response=TitleReviews, tags=MP_TAGS,
              errors=(422,))
    async def get(self, title_id: str, *, query: PageQuery) -> TitleReviews:
        return await reviews.for_title(self.deps, title_id, query)


# -- staff --------------------------------------------------------------------------------------------------


class ChallengesHandler(ApiHandler):
    @endpoint(summary="阅读活动列表", roles=ALL_STAFF, query=ChallengeQuery, response=ChallengePage, tags=TAGS,
              errors=(422,))
    async def get(self, *, query: ChallengeQuery) -> ChallengePage:
        return await definitions.list_challenges(self.deps, query)

    @endpoint(summary="新建阅读活动", roles=DISTRICT, body=ChallengeIn, response=ChallengeOut, status=201, tags=TAGS,
              errors=(422,))
    async def post(self, *, body: ChallengeIn) -> ChallengeOut:
        return await definitions.create_challenge(self.deps, self.me, body)


class ChallengeHandler(ApiHandler):
    @endpoint(summary="一个阅读活动", roles=ALL_STAFF, response=ChallengeOut, tags=TAGS, errors=(404, 422))
    async def get(self, challenge_id: str) -> ChallengeOut:
        return await definitions.get_challenge(self.deps, challenge_id)

    @endpoint(summary="修改阅读活动（含发布、结束）", roles=DISTRICT, body=ChallengeUpdate, response=ChallengeOut,
              tags=TAGS, errors=(404, 422))
    async def patch(self, challenge_id: str, *, body: ChallengeUpdate) -> ChallengeOut:
        return await definitions.update_challenge(self.deps, self.me, challenge_id, body)


class ParticipantsHandler(ApiHandler):
    @endpoint(summary="活动参与者（本人负责的书屋）", roles=PHONE, query=ParticipantQuery, response=ParticipantPage,
              tags=TAGS, errors=(404, 422))
    async def get(self, challenge_id: str, *, query: ParticipantQuery) -> ParticipantPage:
        return await service.list_participants(self.deps, self.me, challenge_id, query)

    @endpoint(summary="为没有手机的读者报名（凭借阅证）", roles=PHONE, body=DeskJoinIn, response=ParticipantOut,
              status=201, tags=TAGS, errors=(403, 404, 409, 422))
    async def post(self, challenge_id: str, *, body: DeskJoinIn) -> ParticipantOut:
        return await service.desk_join(self.deps, self.me, challenge_id, body)


class DeskLogHandler(ApiHandler):
    @endpoint(summary="为参与者记录阅读（书屋代记）", roles=PHONE, body=DeskLogIn, response=LogOut, status=201,
              tags=TAGS, errors=(403, 404, 409, 422))
    async def post(self, challenge_id: str, participant_id: str, *, body: DeskLogIn) -> LogOut:
        return await reading.desk_log(self.deps, self.me, challenge_id, participant_id, body)


class FlagsHandler(ApiHandler):
    @endpoint(summary="待核查的异常阅读记录", roles=PHONE, query=FlagQuery, response=FlagPage, tags=TAGS,
              errors=(404, 422))
    async def get(self, challenge_id: str, *, query: FlagQuery) -> FlagPage:
        return await reading.list_flags(self.deps, self.me, challenge_id, query)


class FlagResolveHandler(ApiHandler):
    @endpoint(summary="核查异常记录：认可或驳回（驳回则扣除积分）", roles=PHONE, body=ResolveIn, response=FlagOut,
              tags=TAGS, errors=(403, 404, 409, 422))
    async def post(self, challenge_id: str, flag_id: str, *, body: ResolveIn) -> FlagOut:
        return await reading.resolve_flag(self.deps, self.me, challenge_id, flag_id, body)


class DrawsHandler(ApiHandler):
    @endpoint(summary="抽奖（可复现：同一种子与同一名单得到同样结果）", roles=DISTRICT, body=DrawIn, response=DrawOut,
              status=201, tags=TAGS, errors=(404, 422))
    async def post(self, challenge_id: str, *, body: DrawIn) -> DrawOut:
        return await prizes.run_draw(self.deps, self.me, challenge_id, body)


class DrawHandler(ApiHandler):
    @endpoint(summary="一次抽奖的结果", roles=DISTRICT, query=DrawQuery, response=DrawOut, tags=TAGS,
              errors=(404, 422))
    async def get(self, challenge_id: str, draw_id: str, *, query: DrawQuery) -> DrawOut:
        return await prizes.get_draw(self.deps, challenge_id, draw_id, query)


class DrawWinnersHandler(ApiHandler):
    @endpoint(summary="中奖名单（Excel）", roles=DISTRICT, media_type=prizes.XLSX, tags=TAGS, errors=(404, 422))
    async def get(self, challenge_id: str, draw_id: str) -> bytes:
        data = await prizes.winners_xlsx(self.deps, challenge_id, draw_id)  # the ids are valid past this line
        self.set_header("Content-Disposition", f'attachment; filename="draw-{draw_id}-winners.xlsx"')
        return data


class ExportHandler(ApiHandler):
    @endpoint(summary="导出参与者与累计（Excel，本人负责的书屋）", roles=PHONE, media_type=prizes.XLSX, tags=TAGS,
              errors=(404, 422))
    async def get(self, challenge_id: str) -> bytes:
        data = await prizes.export_xlsx(self.deps, self.me, challenge_id)  # a valid id past this line
        self.set_header("Content-Disposition", f'attachment; filename="challenge-{challenge_id}.xlsx"')
        return data


class ReviewQueueHandler(ApiHandler):
    @endpoint(summary="书评审核队列", roles=DISTRICT, query=ReviewQuery, response=ReviewPage, tags=REVIEW_TAGS,
              errors=(422,))
    async def get(self, *, query: ReviewQuery) -> ReviewPage:
        return await reviews.staff_queue(self.deps, query)


class ReviewDecisionHandler(ApiHandler):
    @endpoint(summary="审核书评：通过或不通过", roles=DISTRICT, body=DecisionIn, response=ReviewOut, tags=REVIEW_TAGS,
              errors=(404, 409, 422))
    async def post(self, review_id: str, *, body: DecisionIn) -> ReviewOut:
        return await reviews.decide(self.deps, self.me, review_id, body)


routes = [
    (r"/mp/v1/challenges", MpChallengesHandler),
    (rf"/mp/v1/challenges/{CHALLENGE}/participants", MpJoinHandler),
    (rf"/mp/v1/challenges/{CHALLENGE}/logs", MpLogHandler),
    (rf"/mp/v1/challenges/{CHALLENGE}/me", MpProgressHandler),
    (rf"/mp/v1/challenges/{CHALLENGE}/board", MpBoardHandler),
    (r"/mp/v1/reviews", MpReviewsHandler),
    (r"/mp/v1/titles/(?P<title_id>[^/]+)/reviews", TitleReviewsHandler),
    (r"/api/v1/challenges", ChallengesHandler),
    (rf"/api/v1/challenges/{CHALLENGE}", ChallengeHandler),
    (rf"/api/v1/challenges/{CHALLENGE}/participants", ParticipantsHandler),
    (rf"/api/v1/challenges/{CHALLENGE}/participants/(?P<participant_id>[^/]+)/logs", DeskLogHandler),
    (rf"/api/v1/challenges/{CHALLENGE}/flags", FlagsHandler),
    (rf"/api/v1/challenges/{CHALLENGE}/flags/(?P<flag_id>[^/]+)/resolve", FlagResolveHandler),
    (rf"/api/v1/challenges/{CHALLENGE}/draws", DrawsHandler),
    (rf"/api/v1/challenges/{CHALLENGE}/draws/(?P<draw_id>[^/]+)", DrawHandler),
    (rf"/api/v1/challenges/{CHALLENGE}/draws/(?P<draw_id>[^/]+)/winners.xlsx", DrawWinnersHandler),
    (rf"/api/v1/challenges/{CHALLENGE}/export.xlsx", ExportHandler),
    (r"/api/v1/reviews", ReviewQueueHandler),
    (r"/api/v1/reviews/(?P<review_id>[^/]+)/decision", ReviewDecisionHandler),
]
