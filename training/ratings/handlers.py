"""Ratings over HTTP: the staff API (``/api/v1/ratings/…``), the district console pages
(``/console/ratings…``) and the public 公示 pages (``/public/ratings…``, no log-in)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from server.errors import DomainError, FieldProblem, Forbidden, InvalidInput
from server.phone.base import PhonePage
from server.readers.service import local_today
from server.staff.roles import ADMIN_ONLY, ALL_STAFF, CONSOLE, DISTRICT, Role
from server.web.api import ApiHandler, endpoint
from server.web.pages import PageHandler
from training.ratings import documents, entries, history, mine, printouts, publicity, service
from training.ratings.metrics import METRICS
from training.ratings.models import (
    ENTRY_STATUS_LABELS,
    KIND_LABELS,
    LEVEL_LABELS,
    OBJECTION_LABELS,
    OUTCOME_LABELS,
    STAGES,
    STATUS_LABELS,
    EntryCreate,
    EntryDetail,
    EntryList,
    EntryOut,
    HistoryOut,
    MetricsRefreshOut,
    ObjectionIn,
    ObjectionList,
    ObjectionOut,
    PublicObjectionIn,
    ResolveIn,
    RoundCreate,
    RoundList,
    RoundOut,
    RoundQuery,
    RoundUpdate,
    TownReviewIn,
    TransitionIn,
    WithdrawIn,
)

BASE = r"/api/v1/ratings"
ROUND = r"(?P<round_id>[^/]+)"
ENTRY = r"(?P<entry_id>[^/]+)"
OBJECTION = r"(?P<objection_id>[^/]+)"
TAGS = ["ratings"]
NOMINATORS = DISTRICT | {Role.TOWN_COORDINATOR, Role.ROOM_ADMIN}
REVIEWERS = DISTRICT | {Role.TOWN_COORDINATOR}


class RoundsHandler(ApiHandler):
    @endpoint(summary="评选列表", roles=ALL_STAFF, query=RoundQuery, response=RoundList, tags=TAGS, errors=(422,))
    async def get(self, *, query: RoundQuery) -> RoundList:
        return await service.list_rounds(self.deps, self.me, query)

    @endpoint(summary="新建评选（默认评分标准、名额、公示天数）", roles=DISTRICT, body=RoundCreate, response=RoundOut,
              status=201, tags=TAGS, errors=(409, 422))
    async def post(self, *, body: RoundCreate) -> RoundOut:
        return await service.create_round(self.deps, self.me, body)


class RoundHandler(ApiHandler):
    @endpoint(summary="一个评选", roles=ALL_STAFF, response=RoundOut, tags=TAGS, errors=(404,))
    async def get(self, round_id: str) -> RoundOut:
        return await service.get_round(self.deps, self.me, round_id)

    @endpoint(summary="修改评选设置与评分标准（草稿或申报中）", roles=DISTRICT, body=RoundUpdate, response=RoundOut,
              tags=TAGS, errors=(404, 409, 422))
    async def patch(self, round_id: str, *, body: RoundUpdate) -> RoundOut:
        return await service.update_round(self.deps, self.me, round_id, body)


class TransitionHandler(ApiHandler):
    @endpoint(summary="进入评选的下一阶段", roles=DISTRICT, body=TransitionIn, response=RoundOut, tags=TAGS,
              errors=(403, 404, 409, 422, 503))
    async def post(self, round_id: str, *, body: TransitionIn) -> RoundOut:
        return await service.transition(self.deps, self.me, round_id, body)


class MetricsRefreshHandler(ApiHandler):
    @endpoint(summary="重新计算指标（区级评审阶段）", roles=DISTRICT, response=MetricsRefreshOut, tags=TAGS,
              errors=(404, 409, 503))
    async def post(self, round_id: str) -> MetricsRefreshOut:
        count, at = await service.refresh_metrics(self.deps, self.me, round_id)
        return MetricsRefreshOut(entries=count, metrics_at=at)


class EntriesHandler(ApiHandler):
    @endpoint(summary="评选的申报", roles=ALL_STAFF, response=EntryList, tags=TAGS, errors=(404,))
    async def get(self, round_id: str) -> EntryList:
        return await entries.list_entries(self.deps, self.me, round_id)

    @endpoint(summary="申报（书屋、管理员或家庭）", roles=NOMINATORS, body=EntryCreate, response=EntryOut, status=201,
              tags=TAGS, errors=(403, 404, 409, 422))
    async def post(self, round_id: str, *, body: EntryCreate) -> EntryOut:
        return await entries.create_entry(self.deps, self.me, round_id, body)


class EntryHandler(ApiHandler):
    @endpoint(summary="一个申报：指标、评分、名次、初审、异议", roles=ALL_STAFF, response=EntryDetail, tags=TAGS,
              errors=(404,))
    async def get(self, entry_id: str) -> EntryDetail:
        return await entries.entry_detail(self.deps, self.me, entry_id)


class WithdrawHandler(ApiHandler):
    @endpoint(summary="撤回申报（申报人或区馆）", roles=NOMINATORS, body=WithdrawIn, response=EntryOut, tags=TAGS,
              errors=(403, 404, 409, 422))
    async def post(self, entry_id: str, *, body: WithdrawIn) -> EntryOut:
        return await entries.withdraw_entry(self.deps, self.me, entry_id, body)


class TownReviewHandler(ApiHandler):
    @endpoint(summary="镇街初审", roles=REVIEWERS, body=TownReviewIn, response=EntryOut, tags=TAGS,
              errors=(403, 404, 409, 422))
    async def post(self, entry_id: str, *, body: TownReviewIn) -> EntryOut:
        return await entries.town_review(self.deps, self.me, entry_id, body)


class ObjectionsHandler(ApiHandler):
    @endpoint(summary="评选的异议", roles=CONSOLE, response=ObjectionList, tags=TAGS, errors=(404,))
    async def get(self, round_id: str) -> ObjectionList:
        return await publicity.list_objections(self.deps, self.me, round_id)

    @endpoint(summary="登记收到的异议（来信、来电、来访）", roles=DISTRICT, body=ObjectionIn, response=ObjectionOut,
              status=201, tags=TAGS, errors=(404, 409, 422))
    async def post(self, round_id: str, *, body: ObjectionIn) -> ObjectionOut:
        return await publicity.record_objection(self.deps, self.me, round_id, body)


class ResolveHandler(ApiHandler):
    @endpoint(summary="处理异议（成立则取消资格）", roles=DISTRICT, body=ResolveIn, response=ObjectionOut, tags=TAGS,
              errors=(404, 409, 422))
    async def post(self, objection_id: str, *, body: ResolveIn) -> ObjectionOut:
        return await publicity.resolve_objection(self.deps, self.me, objection_id, body)


class CertificateHandler(ApiHandler):
    @endpoint(summary="荣誉证书（PDF）", roles=ALL_STAFF, media_type=documents.PDF, tags=TAGS, errors=(404, 422))
    async def get(self, entry_id: str) -> bytes:
        return await printouts.certificate(self.deps, entry_id)


class PlaquesHandler(ApiHandler):
    @endpoint(summary="牌匾文字（PDF，一页一块）", roles=DISTRICT, media_type=documents.PDF, tags=TAGS, errors=(404, 422))
    async def get(self, round_id: str) -> bytes:
        return await printouts.plaques(self.deps, round_id)


class ResultsHandler(ApiHandler):
    @endpoint(summary="评选结果表（Excel）", roles=DISTRICT, media_type=documents.XLSX, tags=TAGS, errors=(404,))
    async def get(self, round_id: str) -> bytes:
        return await printouts.results(self.deps, round_id)


class HistoryHandler(ApiHandler):
    @endpoint(summary="载入 2014、2015 年评选结果", roles=ADMIN_ONLY, response=HistoryOut, tags=TAGS)
    async def post(self) -> HistoryOut:
        return await history.load_history(self.deps, self.me)


routes = [
    (rf"{BASE}/rounds", RoundsHandler),
    (rf"{BASE}/rounds/{ROUND}", RoundHandler),
    (rf"{BASE}/rounds/{ROUND}/transition", TransitionHandler),
    (rf"{BASE}/rounds/{ROUND}/metrics/refresh", MetricsRefreshHandler),
    (rf"{BASE}/rounds/{ROUND}/entries", EntriesHandler),
    (rf"{BASE}/rounds/{ROUND}/objections", ObjectionsHandler),
    (rf"{BASE}/rounds/{ROUND}/plaques.pdf", PlaquesHandler),
    (rf"{BASE}/rounds/{ROUND}/results.xlsx", ResultsHandler),
    (rf"{BASE}/entries/{ENTRY}", EntryHandler),
    (rf"{BASE}/entries/{ENTRY}/withdraw", WithdrawHandler),
    (rf"{BASE}/entries/{ENTRY}/town-review", TownReviewHandler),
    (rf"{BASE}/entries/{ENTRY}/certificate.pdf", CertificateHandler),
    (rf"{BASE}/objections/{OBJECTION}/resolve", ResolveHandler),
    (rf"{BASE}/history", HistoryHandler),
]


# -- console ---------------------------------------------------------------------------

LABELS = {"metric_labels": {key: label for key, (label, _) in METRICS.items()}, "kinds": KIND_LABELS, "levels": LEVEL_LABELS, "statuses": STATUS_LABELS, "stages": STAGES,
          "entry_statuses": ENTRY_STATUS_LABELS, "outcomes": OUTCOME_LABELS, "objection_statuses": OBJECTION_LABELS}


class RatingsConsole(PageHandler):
    roles = CONSOLE
    area = "console"
    login_url = "/console/login"
    home_url = "/console/rooms"

    def render_ratings(self, template: str, **context: Any) -> None:
        self.render_page(f"console/ratings/{template}", can_manage=self.me.role in DISTRICT,
                         is_admin=self.me.role is Role.DISTRICT_ADMIN, **LABELS, **context)


class RatingsPage(RatingsConsole):
    async def get(self) -> None:
        rounds = await service.list_rounds(self.deps, self.me)
        years = sorted({r.year for r in rounds.items}, reverse=True)
        self.render_ratings("rounds.html", rounds=rounds.items, years=years, this_year=local_today().year)

    async def post(self) -> None:
        if self.me.role not in DISTRICT:
            raise Forbidden("只有区馆可以新建评选", code="role_forbidden")
        data = self.parse_form(RoundCreate)
        created = await service.create_round(self.deps, self.me, data)
        self.redirect(f"/console/ratings/rounds/{created.round_id}")


class RoundPage(RatingsConsole):
    async def get(self, round_id: str) -> None:
        rnd = await service.get_round(self.deps, self.me, round_id)
        listed = await entries.list_entries(self.deps, self.me, round_id)
        objections = await publicity.list_objections(self.deps, self.me, round_id)
        self.render_ratings("round.html", round=rnd, entries=listed.items, objections=objections.items,
                            stage_index=STAGES.index(rnd.status))


class RoundTransitionPage(RatingsConsole):
    roles = DISTRICT

    async def post(self, round_id: str) -> None:
        try:
            body = TransitionIn.model_validate({"to": self.get_body_argument("to", ""), "allow_missing_inspections":
                                                self.get_body_argument("allow_missing_inspections", "") == "1"})
        except ValueError:
            raise InvalidInput("请选择下一个阶段", code="validation_failed",
                               errors=[FieldProblem(("body", "to"), "不是评选的阶段")]) from None
        await service.transition(self.deps, self.me, round_id, body)
        self.redirect(f"/console/ratings/rounds/{round_id}")


class EntryPage(RatingsConsole):
    async def get(self, entry_id: str) -> None:
        entry = await entries.entry_detail(self.deps, self.me, entry_id)
        rnd = await service.get_round(self.deps, self.me, entry.round_id)
        can_review = (rnd.status == "town_review" and (self.me.role in DISTRICT or (
            self.me.role is Role.TOWN_COORDINATOR and entry.town in self.me.towns)))
        self.render_ratings("entry.html", entry=entry, round=rnd, can_review=can_review,
                            criteria=rnd.rubric.criteria)


class EntryReviewPage(RatingsConsole):
    roles = REVIEWERS

    async def post(self, entry_id: str) -> None:
        data = self.parse_form(TownReviewIn)
        await entries.town_review(self.deps, self.me, entry_id, data)
        self.redirect(f"/console/ratings/entries/{entry_id}")


class ObjectionResolvePage(RatingsConsole):
    roles = DISTRICT

    async def post(self, objection_id: str) -> None:
        back = self.get_body_argument("back", "")
        self.request.body_arguments = {k: v for k, v in self.request.body_arguments.items() if k != "back"}
        data = self.parse_form(ResolveIn)
        await publicity.resolve_objection(self.deps, self.me, objection_id, data)
        self.redirect(back if back.startswith("/console/ratings/") and "//" not in back else "/console/ratings")


# -- public 公示 pages ---------------------------------------------------------------------


class PublicRatingsPage(PageHandler):
    roles = None
    area = "public"

    async def get(self) -> None:
        self.render_page("public/ratings.html", rounds=await publicity.public_rounds(self.deps))


class PublicRoundPage(PageHandler):
    roles = None
    area = "public"

    async def get(self, round_id: str) -> None:
        page = await publicity.public_round(self.deps, round_id)
        self.render_page("public/ratings_round.html", page=page, sent=self.get_argument("sent", "") == "1",
                         errors=[], form={})

    async def post(self, round_id: str) -> None:
        page = await publicity.public_round(self.deps, round_id)
        form = {k: self.get_body_argument(k, "") for k in ("entry_id", "name", "phone", "text", "website")}
        try:
            data = self.parse_form(PublicObjectionIn)
            await publicity.lodge_public_objection(self.deps, round_id, data, ip=self.request.remote_ip or "")
        except DomainError as exc:
            if exc.status not in (422,):
                raise
            self.set_status(422)
            self.render_page("public/ratings_round.html", page=page, sent=False, form=form,
                             errors=[exc.detail] + [p.msg + f"（{p.loc[-1]}）" for p in exc.errors])
            return
        self.redirect(f"/public/ratings/{round_id}?sent=1")


# -- the administrator's phone: 申报 -----------------------------------------------------------


class MyRatingsPage(PhonePage):
    """Rounds open for entries that concern my room, and my entries with their progress."""

    roles = frozenset({Role.ROOM_ADMIN})

    async def get(self) -> None:
        view = await mine.my_ratings(self.deps, self.me)
        self.render_page("phone/ratings.html", view=view, kinds=KIND_LABELS, entry_statuses=ENTRY_STATUS_LABELS,
                         outcomes=OUTCOME_LABELS, done=self.get_query_argument("done", "")[:80],
                         error=self.get_query_argument("error", "")[:200])


class ApplyPage(PhonePage):
    roles = frozenset({Role.ROOM_ADMIN})

    async def post(self, round_id: str) -> None:
        statement = self.get_body_argument("statement", "").strip()
        card_no = self.get_body_argument("card_no", "").strip().upper() or None
        try:
            body = EntryCreate.model_validate({"statement": statement, "card_no": card_no})
            await entries.create_entry(self.deps, self.me, round_id, body)
        except ValidationError:
            self.redirect(f"/m/ratings?error={quote('借阅证号格式不对，或申报材料超过 2000 字')}")
            return
        except DomainError as exc:
            self.redirect(f"/m/ratings?error={quote(exc.detail)}")
            return
        self.redirect(f"/m/ratings?done={quote('申报已提交，等待镇街初审')}")


pages = [
    (r"/m/ratings", MyRatingsPage),
    (rf"/m/ratings/{ROUND}/apply", ApplyPage),
    (r"/console/ratings", RatingsPage),
    (rf"/console/ratings/rounds/{ROUND}", RoundPage),
    (rf"/console/ratings/rounds/{ROUND}/transition", RoundTransitionPage),
    (rf"/console/ratings/entries/{ENTRY}", EntryPage),
    (rf"/console/ratings/entries/{ENTRY}/town-review", EntryReviewPage),
    (rf"/console/ratings/objections/{OBJECTION}/resolve", ObjectionResolvePage),
    (r"/public/ratings", PublicRatingsPage),
    (rf"/public/ratings/{ROUND}", PublicRoundPage),
]
