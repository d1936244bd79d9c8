"""Inspections over HTTP: the staff API (``/api/v1/ratings/…``), the inspectors' phone pages
(``/m/inspect…``) and the JSON their script calls (``/m/api/inspect/…``), and the console's
progress page (``/console/ratings/inspections``).

Inspectors are not among the roles of the desk pages (``PHONE``); they log in at the phone's
``/m/login``, which sends them here, and every page here admits inspectors only, so the desk
pages stay exactly as narrow as they were.
"""

from __future__ import annotations

from server.console.handlers import ConsolePage
from server.phone.base import PhoneApiHandler, PhonePage
from server.staff.roles import DISTRICT, Role
from server.web.api import ApiHandler, endpoint
from training.ratings.inspections import photos, service, views
from training.ratings.inspections.models import (
    SCORE_STATUS_LABELS,
    InspectionList,
    InspectionQuery,
    PhotoOut,
    ScoreIn,
    ScoreOut,
    ScoresOut,
    SubmitIn,
)

INSPECTORS = frozenset({Role.INSPECTOR})
READERS = DISTRICT | INSPECTORS
TAGS = ["ratings"]
_WRITE_ERRORS = (403, 404, 409, 422)


class InspectionsHandler(ApiHandler):
    @endpoint(summary="区级评审的申报与评分进度（督查员只看可评的及自己的评分状态）", roles=READERS,
              query=InspectionQuery, response=InspectionList, tags=TAGS, errors=(422,))
    async def get(self, *, query: InspectionQuery) -> InspectionList:
        return await views.list_inspections(self.deps, self.me, query)


class ScoreHandler(ApiHandler):
    @endpoint(summary="保存评分草稿（只限督查员评分的指标，0–100；op_id 幂等）", roles=INSPECTORS, body=ScoreIn,
              response=ScoreOut, tags=TAGS, errors=_WRITE_ERRORS,
              description="403 conflict_of_interest when the inspector belongs to the entry's town, applied for it "
                          "or reviewed it; 409 not_in_review / round_locked / already_submitted.")
    async def put(self, entry_id: str, *, body: ScoreIn) -> ScoreOut:
        return await service.save_draft(self.deps, self.me, entry_id, body)


class SubmitHandler(ApiHandler):
    @endpoint(summary="提交评分（每个指标都要打分；提交后不能修改；op_id 幂等）", roles=INSPECTORS, body=SubmitIn,
              response=ScoreOut, tags=TAGS, errors=_WRITE_ERRORS)
    async def post(self, entry_id: str, *, body: SubmitIn) -> ScoreOut:
        return await service.submit_score(self.deps, self.me, entry_id, body)


class PhotosHandler(ApiHandler):
    def body_limit_bytes(self) -> int:
        return photos.upload_limit(self.deps.settings)

    @endpoint(summary="上传现场照片（JPG 或 PNG，每份评分最多 12 张）", roles=INSPECTORS, response=PhotoOut, status=201,
              tags=TAGS, errors=(403, 404, 409, 413, 415, 422),
              description="The photo is the raw request body with Content-Type image/jpeg or image/png (HEIC is "
                          "not accepted). It is re-encoded as JPEG without EXIF.")
    async def post(self, entry_id: str) -> PhotoOut:
        return await service.upload_photo(self.deps, self.me, entry_id, self.request.body or b"",
                                          self.request.headers.get("Content-Type"))


class PhotoDeleteHandler(ApiHandler):
    @endpoint(summary="删除评分草稿里的一张照片", roles=INSPECTORS, tags=TAGS, errors=(403, 404, 409, 422))
    async def delete(self, entry_id: str, photo_id: str) -> None:
        await service.delete_photo(self.deps, self.me, entry_id, photo_id)


class ScoresHandler(ApiHandler):
    @endpoint(summary="一份申报的评分（盲评：督查员提交自己的评分前只能看到自己的）", roles=READERS,
              response=ScoresOut, tags=TAGS, errors=(403, 404, 422))
    async def get(self, entry_id: str) -> ScoresOut:
        return await service.entry_scores(self.deps, self.me, entry_id)


class PhotoHandler(ApiHandler):
    @endpoint(summary="现场照片（与评分同样的盲评规则）", roles=READERS, media_type=photos.STORED_TYPE, tags=TAGS,
              errors=(404,))
    async def get(self, photo_id: str) -> bytes:
        return await service.photo_bytes(self.deps, self.me, photo_id)


# -- the phone: pages and the JSON their script calls ---------------------------------------


class InspectPhonePage(PhonePage):
    roles: frozenset[Role] | None = INSPECTORS
    home_url = "/m/inspect"


class InspectListPage(InspectPhonePage):
    async def get(self) -> None:
        listing = await views.list_inspections(self.deps, self.me, InspectionQuery(include_conflicts=True))
        todo = [i for i in listing.items if not i.conflict and i.my_status != "submitted"]
        done = [i for i in listing.items if not i.conflict and i.my_status == "submitted"]
        conflicted = [i for i in listing.items if i.conflict]
        self.render_page("phone/inspect.html", todo=todo, done=done, conflicted=conflicted,
                         status_labels=SCORE_STATUS_LABELS)


class InspectEntryPage(InspectPhonePage):
    async def get(self, entry_id: str) -> None:
        view = await views.entry_for_visit(self.deps, self.me, entry_id)
        score = view["score"]
        data = {"entry_id": entry_id, "criteria": [c.model_dump() for c in view["criteria"]],
                "score": score.model_dump(mode="json"), "api": f"/m/api/inspect/entries/{entry_id}",
                "photo_url": "/m/api/inspect/photos/", "max_photos": 12}
        self.render_page("phone/inspect_entry.html", xsrf_token=self.xsrf_token.decode(),
                         status_labels=SCORE_STATUS_LABELS, data=data, **view)


class PhoneScoreHandler(PhoneApiHandler):
    @endpoint(summary="保存评分草稿（手机页面）", roles=INSPECTORS, body=ScoreIn, response=ScoreOut)
    async def put(self, entry_id: str, *, body: ScoreIn) -> ScoreOut:
        return await service.save_draft(self.deps, self.me, entry_id, body)


class PhoneSubmitHandler(PhoneApiHandler):
    @endpoint(summary="提交评分（手机页面）", roles=INSPECTORS, body=SubmitIn, response=ScoreOut)
    async def post(self, entry_id: str, *, body: SubmitIn) -> ScoreOut:
        return await service.submit_score(self.deps, self.me, entry_id, body)


class PhonePhotosHandler(PhoneApiHandler):
    def body_limit_bytes(self) -> int:
        return photos.upload_limit(self.deps.settings)

    @endpoint(summary="上传现场照片（手机页面）", roles=INSPECTORS, response=PhotoOut, status=201)
    async def post(self, entry_id: str) -> PhotoOut:
        return await service.upload_photo(self.deps, self.me, entry_id, self.request.body or b"",
                                          self.request.headers.get("Content-Type"))


class PhonePhotoDeleteHandler(PhoneApiHandler):
    @endpoint(summary="删除照片（手机页面）", roles=INSPECTORS)
    async def delete(self, entry_id: str, photo_id: str) -> None:
        await service.delete_photo(self.deps, self.me, entry_id, photo_id)


class PhonePhotoHandler(PhoneApiHandler):
    @endpoint(summary="现场照片（手机页面）", roles=INSPECTORS, media_type=photos.STORED_TYPE)
    async def get(self, photo_id: str) -> bytes:
        self.set_header("Cache-Control", "private, max-age=3600")
        return await service.photo_bytes(self.deps, self.me, photo_id)


# -- the console ---------------------------------------------------------------------------


class ConsoleInspectionsPage(ConsolePage):
    roles = DISTRICT

    async def get(self) -> None:
        progress = await views.progress(self.deps)
        self.render_page("console/ratings/inspections.html", progress=progress,
                         cell_labels={**SCORE_STATUS_LABELS, "conflict": "回避"})


ENTRY = r"(?P<entry_id>[^/]+)"
PHOTO = r"(?P<photo_id>[^/]+)"
routes = [
    (r"/api/v1/ratings/inspections", InspectionsHandler),
    (rf"/api/v1/ratings/entries/{ENTRY}/score", ScoreHandler),
    (rf"/api/v1/ratings/entries/{ENTRY}/score/submit", SubmitHandler),
    (rf"/api/v1/ratings/entries/{ENTRY}/score/photos", PhotosHandler),
    (rf"/api/v1/ratings/entries/{ENTRY}/score/photos/{PHOTO}", PhotoDeleteHandler),
    (rf"/api/v1/ratings/entries/{ENTRY}/scores", ScoresHandler),
    (rf"/api/v1/ratings/photos/{PHOTO}", PhotoHandler),
]
# Before the phone's /m/api catch-all and before any /console/ratings/<id> page pattern.
pages = [
    (r"/m/inspect/?", InspectListPage),
    (r"/m/inspect/entries/(?P<entry_id>[0-9a-f]{24})", InspectEntryPage),
    (rf"/m/api/inspect/entries/{ENTRY}/score", PhoneScoreHandler),
    (rf"/m/api/inspect/entries/{ENTRY}/score/submit", PhoneSubmitHandler),
    (rf"/m/api/inspect/entries/{ENTRY}/score/photos", PhonePhotosHandler),
    (rf"/m/api/inspect/entries/{ENTRY}/score/photos/{PHOTO}", PhonePhotoDeleteHandler),
    (rf"/m/api/inspect/photos/{PHOTO}", PhonePhotoHandler),
    (r"/console/ratings/inspections", ConsoleInspectionsPage),
]
