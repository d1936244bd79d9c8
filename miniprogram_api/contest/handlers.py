"""The contest 我的书屋·我的梦: staff routes under /api/v1/contests (district staff) and
the families' routes under /mp/v1/contests."""

from __future__ import annotations

from typing import Any

from miniprogram_api.contest import files, judging, service
from miniprogram_api.contest.models import (
    AwardsIn,
    CertificateQuery,
    ContestIn,
    ContestOut,
    ContestPage,
    ContestPublicList,
    ContestQuery,
    ContestUpdate,
    EntryIn,
    EntryList,
    EntryOut,
    EntryPage,
    EntryQuery,
    ModerationIn,
    MyEntriesQuery,
    ResultsOut,
    ScoreIn,
    ScoreResult,
    StaffEntryOut,
)
from server.staff.roles import DISTRICT
from server.web.api import ApiHandler, endpoint
from server.web.mp import MpHandler

CONTEST = r"(?P<contest_id>[^/]+)"
ENTRY = r"(?P<entry_id>[^/]+)"
TAGS = ["contest"]
MP_TAGS = ["mp-contest"]
PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# -- staff ------------------------------------------------------------------------------------


class ContestsHandler(ApiHandler):
    @endpoint(summary="比赛列表（新的在前）", roles=DISTRICT, query=ContestQuery, response=ContestPage, tags=TAGS)
    async def get(self, *, query: ContestQuery) -> ContestPage:
        return await service.list_contests(self.deps, query)

    @endpoint(summary="新建一届“我的书屋·我的梦”比赛（草稿）", roles=DISTRICT, body=ContestIn, response=ContestOut,
              status=201, tags=TAGS, errors=(409, 422))
    async def post(self, *, body: ContestIn) -> ContestOut:
        return await service.create_contest(self.deps, self.me, body)


class ContestHandler(ApiHandler):
    @endpoint(summary="一届比赛", roles=DISTRICT, response=ContestOut, tags=TAGS, errors=(404, 422))
    async def get(self, contest_id: str) -> ContestOut:
        return await service.get_contest(self.deps, contest_id)

    @endpoint(summary="修改比赛或变更状态（草稿→征集→评审，已评奖→已上报）", roles=DISTRICT, body=ContestUpdate,
              response=ContestOut, tags=TAGS, errors=(404, 409, 422))
    async def patch(self, contest_id: str, *, body: ContestUpdate) -> ContestOut:
        return await service.update_contest(self.deps, self.me, contest_id, body)


class ContestStaffEntriesHandler(ApiHandler):
    @endpoint(summary="参赛作品（status=in_review 为待审核队列）", roles=DISTRICT, query=EntryQuery,
              response=EntryPage, tags=TAGS, errors=(404, 422))
    async def get(self, contest_id: str, *, query: EntryQuery) -> EntryPage:
        return await service.list_entries(self.deps, self.me, contest_id, query)


class ContestStaffEntryHandler(ApiHandler):
    @endpoint(summary="一件参赛作品及全部评分", roles=DISTRICT, response=StaffEntryOut, tags=TAGS, errors=(404, 422))
    async def get(self, contest_id: str, entry_id: str) -> StaffEntryOut:
        return await service.staff_entry(self.deps, self.me, contest_id, entry_id)


class ContestModerationHandler(ApiHandler):
    @endpoint(summary="审核作品（通过或不通过）", roles=DISTRICT, body=ModerationIn, response=StaffEntryOut,
              tags=TAGS, errors=(404, 409, 422))
    async def post(self, contest_id: str, entry_id: str, *, body: ModerationIn) -> StaffEntryOut:
        return await service.moderate(self.deps, self.me, contest_id, entry_id, body)


class ContestScoresHandler(ApiHandler):
    @endpoint(summary="评委评分（0–100，评奖前可修改）", roles=DISTRICT, body=ScoreIn, response=ScoreResult,
              tags=TAGS, errors=(403, 404, 409, 422))
    async def post(self, contest_id: str, entry_id: str, *, body: ScoreIn) -> ScoreResult:
        return await judging.score_entry(self.deps, self.me, contest_id, entry_id, body)


class ContestStaffImageHandler(ApiHandler):
    @endpoint(summary="作品图片", roles=DISTRICT, media_type=files.STORED_TYPE, tags=TAGS, errors=(404, 422))
    async def get(self, contest_id: str, entry_id: str) -> bytes:
        return await service.staff_image(self.deps, contest_id, entry_id)


class ContestStaffCertificateHandler(ApiHandler):
    @endpoint(summary="获奖证书（作者或优秀指导老师）PDF", roles=DISTRICT, query=CertificateQuery, media_type=PDF,
              tags=TAGS, errors=(404, 422))
    async def get(self, contest_id: str, entry_id: str, *, query: Any) -> bytes:
        return await judging.certificate_pdf(self.deps, contest_id, entry_id, holder=getattr(query, "for"))


class ContestAwardsHandler(ApiHandler):
    @endpoint(summary="计算评奖结果（排名、奖项、推荐上报、通知参赛者；评分随即锁定）", roles=DISTRICT, body=AwardsIn,
              response=ResultsOut, tags=TAGS, errors=(404, 409, 422),
              description="Ranks each category and group by mean score; ties go to the entry more judges "
                          "scored, then to the earlier submission.")
    async def post(self, contest_id: str, *, body: AwardsIn) -> ResultsOut:
        return await judging.compute_awards(self.deps, self.me, contest_id, body)


class ContestResultsHandler(ApiHandler):
    @endpoint(summary="评奖结果（评奖前为按现有评分的暂定排名）", roles=DISTRICT, response=ResultsOut, tags=TAGS,
              errors=(404, 422))
    async def get(self, contest_id: str) -> ResultsOut:
        return await judging.results(self.deps, contest_id)


class ContestResultsXlsxHandler(ApiHandler):
    @endpoint(summary="评奖结果 Excel（上报用，含联系电话）", roles=DISTRICT, media_type=XLSX, tags=TAGS,
              errors=(404, 422))
    async def get(self, contest_id: str) -> bytes:
        self.set_header("Content-Disposition", 'attachment; filename="contest-results.xlsx"')
        return await judging.results_xlsx(self.deps, self.me, contest_id)


# -- mini-program -----------------------------------------------------------------------------


class MpContestsHandler(MpHandler):
    @endpoint(summary="“我的书屋·我的梦”比赛（征集中和已评奖的各届）与参赛规则", roles=None,
              response=ContestPublicList, tags=MP_TAGS)
    async def get(self) -> ContestPublicList:
        return await service.public_contests(self.deps)


class MpContestEntriesHandler(MpHandler):
    @endpoint(summary="我家孩子（或我）的参赛作品", roles=None, reader=True, query=MyEntriesQuery, response=EntryList,
              tags=MP_TAGS, errors=(404, 422))
    async def get(self, contest_id: str, *, query: MyEntriesQuery) -> EntryList:
        return await service.my_entries(self.deps, self.reader, contest_id, query)

    @endpoint(summary="投稿（征文直接提交正文；绘画、手抄报、书法作品提交后上传图片）", roles=None, reader=True,
              body=EntryIn, response=EntryOut, status=201, tags=MP_TAGS, errors=(404, 409, 422, 429, 503),
              description="The title and essay pass WeChat's content check first: refused content is not kept "
                          "(422 content_refused); content WeChat wants reviewed waits for staff (status in_review).")
    async def post(self, contest_id: str, *, body: EntryIn) -> EntryOut:
        return await service.submit_entry(self.deps, self.reader, contest_id, body)


class MpContestEntryHandler(MpHandler):
    @endpoint(summary="一件我家的参赛作品", roles=None, reader=True, response=EntryOut, tags=MP_TAGS, errors=(404, 422))
    async def get(self, contest_id: str, entry_id: str) -> EntryOut:
        return await service.my_entry(self.deps, self.reader, contest_id, entry_id)

    @endpoint(summary="撤回作品（征集期内）", roles=None, reader=True, tags=MP_TAGS, errors=(404, 422, 429))
    async def delete(self, contest_id: str, entry_id: str) -> None:
        await service.withdraw_entry(self.deps, self.reader, contest_id, entry_id)


class MpContestImageHandler(MpHandler):
    def body_limit_bytes(self) -> int:
        return min(files.IMAGE_MAX_BYTES, self.deps.settings.max_body_bytes * 4)

    @endpoint(summary="上传作品图片（JPG 或 PNG，不超过 4 MB）", roles=None, reader=True, response=EntryOut,
              tags=MP_TAGS, errors=(404, 413, 415, 422, 429),
              description="The picture is the raw request body with Content-Type image/jpeg or image/png. "
                          "It is decoded, turned upright, stripped of EXIF/GPS and kept as JPEG.")
    async def post(self, contest_id: str, entry_id: str) -> EntryOut:
        return await service.upload_image(self.deps, self.reader, contest_id, entry_id, self.request.body or b"",
                                          self.request.headers.get("Content-Type"))

    @endpoint(summary="作品图片", roles=None, reader=True, media_type=files.STORED_TYPE, tags=MP_TAGS,
              errors=(404, 422))
    async def get(self, contest_id: str, entry_id: str) -> bytes:
        return await service.my_image(self.deps, self.reader, contest_id, entry_id)


class MpContestCertificateHandler(MpHandler):
    @endpoint(summary="下载获奖证书 PDF", roles=None, reader=True, media_type=PDF, tags=MP_TAGS, errors=(404, 422))
    async def get(self, contest_id: str, entry_id: str) -> bytes:
        return await judging.certificate_pdf(self.deps, contest_id, entry_id, holder="author",
                                             account_id=self.reader.account_id)


# "." in "results.xlsx" and "certificate.pdf" is left unescaped so the documented path reads
# as it is; routes are anchored, so it matches nothing else that exists.
routes = [
    (r"/api/v1/contests", ContestsHandler),
    (rf"/api/v1/contests/{CONTEST}", ContestHandler),
    (rf"/api/v1/contests/{CONTEST}/entries", ContestStaffEntriesHandler),
    (rf"/api/v1/contests/{CONTEST}/entries/{ENTRY}", ContestStaffEntryHandler),
    (rf"/api/v1/contests/{CONTEST}/entries/{ENTRY}/moderation", ContestModerationHandler),
    (rf"/api/v1/contests/{CONTEST}/entries/{ENTRY}/scores", ContestScoresHandler),
    (rf"/api/v1/contests/{CONTEST}/entries/{ENTRY}/image", ContestStaffImageHandler),
    (rf"/api/v1/contests/{CONTEST}/entries/{ENTRY}/certificate.pdf", ContestStaffCertificateHandler),
    (rf"/api/v1/contests/{CONTEST}/awards", ContestAwardsHandler),
    (rf"/api/v1/contests/{CONTEST}/results", ContestResultsHandler),
    (rf"/api/v1/contests/{CONTEST}/results.xlsx", ContestResultsXlsxHandler),
    (r"/mp/v1/contests", MpContestsHandler),
    (rf"/mp/v1/contests/{CONTEST}/entries", MpContestEntriesHandler),
    (rf"/mp/v1/contests/{CONTEST}/entries/{ENTRY}", MpContestEntryHandler),
    (rf"/mp/v1/contests/{CONTEST}/entries/{ENTRY}/image", MpContestImageHandler),
    (rf"/mp/v1/contests/{CONTEST}/entries/{ENTRY}/certificate.pdf", MpContestCertificateHandler),
]
