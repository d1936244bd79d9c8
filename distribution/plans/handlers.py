"""Replenishment plans over HTTP: the staff API (``/api/v1/distribution/…``), the district
console pages (``/console/distribution…``) and the administrators' phone page for
百姓点单 (``/m/rooms/<code>/picks``)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError

from distribution.plans import candidates, history, picks, service
from distribution.plans import repo as plans_repo
from distribution.plans.models import (
    STATUS_LABELS,
    CandidateIn,
    CandidateOut,
    CandidatePage,
    CandidateQuery,
    CheckIn,
    CheckOut,
    CheckQuery,
    DemandRefreshOut,
    HistoryOut,
    ListImportReport,
    ListQuery,
    PicksIn,
    PlanCreate,
    PlanList,
    PlanOut,
    PlanPicks,
    PlanPicksQuery,
    PlanUpdate,
    RoomPicks,
    TransitionIn,
    YearsOut,
)
from server.errors import FieldProblem, InvalidInput
from server.phone.base import PhonePage
from server.rooms.service import authorize_room
from server.staff.roles import ADMIN_ONLY, ALL_STAFF, DISTRICT, PHONE
from server.web.api import ApiHandler, endpoint
from server.web.pages import PageHandler
from server.web.problems import field_problems

PLAN = r"(?P<plan_id>[^/]+)"
ROOM = r"(?P<code>[^/]+)"
BASE = r"/api/v1/distribution"
LIST_BODY_FACTOR = 3  # a list upload may be larger than a JSON body (as the catalog import)
TAGS = ["distribution"]


class PlansHandler(ApiHandler):
    @endpoint(summary="年度配送计划列表", roles=ALL_STAFF, response=PlanList, tags=TAGS)
    async def get(self) -> PlanList:
        return await service.list_plans(self.deps)

    @endpoint(summary="新建年度配送计划", roles=DISTRICT, body=PlanCreate, response=PlanOut, status=201, tags=TAGS,
              errors=(409, 422))
    async def post(self, *, body: PlanCreate) -> PlanOut:
        return await service.create_plan(self.deps, self.me, body)


class PlanHandler(ApiHandler):
    @endpoint(summary="一个年度配送计划", roles=ALL_STAFF, response=PlanOut, tags=TAGS, errors=(404,))
    async def get(self, plan_id: str) -> PlanOut:
        return await service.get_plan(self.deps, plan_id)

    @endpoint(summary="修改计划设置（草稿或点单中）", roles=DISTRICT, body=PlanUpdate, response=PlanOut, tags=TAGS,
              errors=(404, 409, 422))
    async def patch(self, plan_id: str, *, body: PlanUpdate) -> PlanOut:
        return await service.update_plan(self.deps, self.me, plan_id, body)


class TransitionHandler(ApiHandler):
    @endpoint(summary="改变计划状态（锁定需选定方案且符合规则）", roles=DISTRICT, body=TransitionIn, response=PlanOut,
              tags=TAGS, errors=(404, 409, 422))
    async def post(self, plan_id: str, *, body: TransitionIn) -> PlanOut:
        return await service.transition(self.deps, self.me, plan_id, body)


class ListHandler(ApiHandler):
    def body_limit_bytes(self) -> int:
        return self.deps.settings.max_body_bytes * LIST_BODY_FACTOR

    @endpoint(summary="导入年度推荐目录（CSV 或 Excel；可试运行）", roles=DISTRICT, query=ListQuery,
              response=ListImportReport, tags=TAGS, errors=(404, 413, 415, 422),
              description="The file is the raw body (text/csv or .xlsx). Columns: ISBN, 书名, 作者, 出版社, "
                          "出版社所在省份, 定价, 分类. All or nothing: any bad row imports nothing.")
    async def post(self, plan_id: str, *, query: ListQuery) -> ListImportReport:
        return await candidates.import_list(self.deps, self.me, plan_id, self.request.body or b"",
                                            self.request.headers.get("Content-Type"), dry_run=query.dry_run)


class CandidatesHandler(ApiHandler):
    @endpoint(summary="计划的候选书目", roles=ALL_STAFF, query=CandidateQuery, response=CandidatePage, tags=TAGS,
              errors=(404, 422))
    async def get(self, plan_id: str, *, query: CandidateQuery) -> CandidatePage:
        return await candidates.list_candidates(self.deps, plan_id, query)

    @endpoint(summary="区馆增补一种候选书目", roles=DISTRICT, body=CandidateIn, response=CandidateOut, status=201,
              tags=TAGS, errors=(404, 422))
    async def post(self, plan_id: str, *, body: CandidateIn) -> CandidateOut:
        return await candidates.add_candidate(self.deps, self.me, plan_id, body)


class CheckHandler(ApiHandler):
    @endpoint(summary="规则检查：已保存的选书方案", roles=ALL_STAFF, query=CheckQuery, response=CheckOut, tags=TAGS,
              errors=(404, 422))
    async def get(self, plan_id: str, *, query: CheckQuery) -> CheckOut:
        return await service.check_run(self.deps, plan_id, query.run_id)

    @endpoint(summary="规则检查：提交的选书清单", roles=ALL_STAFF, body=CheckIn, response=CheckOut, tags=TAGS,
              errors=(404, 422))
    async def post(self, plan_id: str, *, body: CheckIn) -> CheckOut:
        return await service.check_lines(self.deps, plan_id, body.lines)


class RoomPicksHandler(ApiHandler):
    @endpoint(summary="一个书屋的点单", roles=ALL_STAFF, response=RoomPicks, tags=TAGS, errors=(403, 404))
    async def get(self, plan_id: str, code: str) -> RoomPicks:
        return await picks.room_picks(self.deps, self.me, plan_id, code)

    @endpoint(summary="保存书屋管理员的点单（整单替换，op_id 防重复）", roles=PHONE, body=PicksIn, response=RoomPicks,
              tags=TAGS, errors=(403, 404, 409, 422))
    async def put(self, plan_id: str, code: str, *, body: PicksIn) -> RoomPicks:
        return await picks.save_room_picks(self.deps, self.me, plan_id, code, body)


class PlanPicksHandler(ApiHandler):
    @endpoint(summary="全区点单汇总（按书目）", roles=DISTRICT, query=PlanPicksQuery, response=PlanPicks, tags=TAGS,
              errors=(404, 422))
    async def get(self, plan_id: str, *, query: PlanPicksQuery) -> PlanPicks:
        return await picks.plan_picks(self.deps, plan_id, query.room)


class DemandRefreshHandler(ApiHandler):
    @endpoint(summary="汇入读者荐购与预约需求", roles=DISTRICT, response=DemandRefreshOut, tags=TAGS, errors=(404, 422))
    async def post(self, plan_id: str) -> DemandRefreshOut:
        return await picks.refresh_demand(self.deps, self.me, plan_id)


class HistoryHandler(ApiHandler):
    @endpoint(summary="载入 2012–2015 年历史数据", roles=ADMIN_ONLY, response=HistoryOut, tags=TAGS)
    async def post(self) -> HistoryOut:
        return await history.load_history(self.deps, self.me)


class YearsHandler(ApiHandler):
    @endpoint(summary="历年配送量", roles=ALL_STAFF, response=YearsOut, tags=TAGS)
    async def get(self) -> YearsOut:
        return await history.years(self.deps)


# -- console ---------------------------------------------------------------------------


class DistributionPage(PageHandler):
    roles = DISTRICT
    area = "console"
    login_url = "/console/login"
    home_url = "/console/rooms"

    async def get(self) -> None:
        plans = await plans_repo.plans(self.deps.db)
        counts = await plans_repo.candidate_counts_by_plan(self.deps.db)
        figures = {y.year: y for y in (await history.years(self.deps)).items}
        self.render_page("console/distribution/plans.html", plans=[service.to_out(p) for p in plans],
                         counts={str(k): v for k, v in counts.items()}, figures=figures,
                         status_labels=STATUS_LABELS)


class PlanPage(DistributionPage):
    async def get(self, plan_id: str) -> None:  # type: ignore[override]
        plan = await service.get_plan_doc(self.deps, plan_id)
        counts = await plans_repo.category_counts(self.deps.db, plan["_id"])
        per_room: dict[str, dict[str, Any]] = {}
        for row in await plans_repo.picks_per_room(self.deps.db, plan["_id"]):
            entry = per_room.setdefault(row["_id"]["r"], {})
            entry[row["_id"]["k"]] = (row["titles"], row["copies"])
        run = await plans_repo.latest_run(self.deps.db, plan["_id"])
        check = await service.check_run(self.deps, plan_id, str(run["_id"])) if run else None
        self.render_page("console/distribution/plan.html", plan=service.to_out(plan), counts=counts,
                         per_room=per_room, run=run, check=check, status_labels=STATUS_LABELS,
                         window_open=service.window_open(plan))


# -- phone: 百姓点单 ----------------------------------------------------------------------


class PicksPage(PhonePage):
    """The open plan's candidates by category, with this room's picks; a plain form post
    (works without JavaScript; ``picks.js`` adds live totals and the search filter)."""

    async def _context(self, code: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        room = await authorize_room(self.deps, self.me, code)
        plan = await plans_repo.open_plan(self.deps.db)
        return room, plan

    async def get(self, code: str) -> None:
        room, plan = await self._context(code)
        ctx: dict[str, Any] = {"room": room, "plan": plan, "groups": [], "chosen": {}, "in_plan": False}
        if plan is not None:
            ctx["in_plan"] = room["code"] in (plan.get("rooms") or [])
            ctx["window_open"] = service.window_open(plan)
            cands = await plans_repo.all_candidates(self.deps.db, plan["_id"])
            mine = await plans_repo.room_picks(self.deps.db, plan["_id"], room["code"])
            ctx["chosen"] = {p["title_id"]: p["copies"] for p in mine if p["kind"] == "admin"}
            ctx["readers"] = {p["title_id"] for p in mine if p["kind"] != "admin"}
            q = self.get_query_argument("q", "").strip()[:40]
            ctx["q"] = q
            groups: dict[str, list[dict[str, Any]]] = {}
            for c in cands:
                if q and q not in c["title"] and q != c["title_id"]:
                    continue
                groups.setdefault(c["category"], []).append(c)
            ctx["groups"] = sorted(groups.items(), key=lambda kv: kv[0])
            chosen_fen = sum(c["price_fen"] * ctx["chosen"].get(c["title_id"], 0) for c in cands)
            ctx["totals"] = (len(ctx["chosen"]), chosen_fen)
        self.render_page("phone/picks.html", op_id=uuid.uuid4().hex, saved=self.get_query_argument("saved", ""),
                         xsrf_token=self.xsrf_token.decode(), **ctx)

    async def post(self, code: str) -> None:
        room, plan = await self._context(code)
        if plan is None:
            raise InvalidInput("现在没有开放点单的计划", code="no_open_plan")
        items: list[dict[str, Any]] = []
        for name in self.request.body_arguments:
            if not name.startswith("c_"):
                continue
            raw = self.get_body_argument(name).strip()
            if not raw or raw == "0":
                continue
            if not raw.isdigit() or not 1 <= int(raw) <= 50:
                raise InvalidInput("册数应为 1 到 50", code="validation_failed",
                                   errors=[FieldProblem(("body", name), "册数应为 1 到 50")])
            items.append({"title_id": name[2:], "copies": int(raw)})
        try:
            data = PicksIn.model_validate({"op_id": self.get_body_argument("op_id", ""), "items": items})
        except ValidationError as exc:
            raise InvalidInput("页面已过期或内容有误，请刷新后再保存", code="validation_failed",
                               errors=field_problems(exc, "body")) from None
        await picks.save_room_picks(self.deps, self.me, str(plan["_id"]), room["code"], data)
        self.redirect(f"/m/rooms/{room['code']}/picks?saved=1")


routes = [
    (rf"{BASE}/plans", PlansHandler),
    (rf"{BASE}/plans/{PLAN}", PlanHandler),
    (rf"{BASE}/plans/{PLAN}/transition", TransitionHandler),
    (rf"{BASE}/plans/{PLAN}/list", ListHandler),
    (rf"{BASE}/plans/{PLAN}/candidates", CandidatesHandler),
    (rf"{BASE}/plans/{PLAN}/check", CheckHandler),
    (rf"{BASE}/plans/{PLAN}/picks", PlanPicksHandler),
    (rf"{BASE}/plans/{PLAN}/rooms/{ROOM}/picks", RoomPicksHandler),
    (rf"{BASE}/plans/{PLAN}/demand/refresh", DemandRefreshHandler),
    (rf"{BASE}/history", HistoryHandler),
    (rf"{BASE}/years", YearsHandler),
]
page_routes = [
    (r"/console/distribution/?", DistributionPage),
    (rf"/console/distribution/plans/{PLAN}", PlanPage),
    (rf"/m/rooms/{ROOM}/picks", PicksPage),
]
