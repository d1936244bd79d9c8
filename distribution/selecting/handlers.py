"""Selection runs API (district roles)."""

from __future__ import annotations

from distribution.plans.service import get_plan_doc
from distribution.selecting import repo, service
from distribution.selecting.models import (
    DiffOut,
    DiffQuery,
    RunCreated,
    RunIn,
    RunList,
    RunOut,
    RunQuery,
)
from distribution.selection import CATEGORIES
from server.staff.roles import DISTRICT
from server.web.api import ApiHandler, endpoint
from server.web.pages import PageHandler

ROOMS_PER_PAGE = 10

BASE = r"/api/v1/distribution/plans/(?P<plan_id>[^/]+)/selection-runs"
RUN = r"(?P<run_id>[^/]+)"


class RunsHandler(ApiHandler):
    @endpoint(summary="运行选书优化（按需求、在规则与预算内）", roles=DISTRICT, body=RunIn, response=RunCreated,
              status=201, tags=["distribution"], errors=(403, 404, 409, 422))
    async def post(self, plan_id: str, *, body: RunIn) -> RunCreated:
        return await service.start_run(self.deps, self.me, plan_id, body)

    @endpoint(summary="选书方案列表（最新在前，不含书目）", roles=DISTRICT, response=RunList, tags=["distribution"],
              errors=(403, 404))
    async def get(self, plan_id: str) -> RunList:
        return await service.list_runs(self.deps, plan_id)


class RunHandler(ApiHandler):
    @endpoint(summary="一次选书方案（书目与理由，可按书屋）", roles=DISTRICT, query=RunQuery, response=RunOut,
              tags=["distribution"], errors=(403, 404, 422))
    async def get(self, plan_id: str, run_id: str, *, query: RunQuery) -> RunOut:
        return await service.get_run(self.deps, plan_id, run_id, query)


class RunDiffHandler(ApiHandler):
    @endpoint(summary="两次选书方案的差异（按书屋）", roles=DISTRICT, query=DiffQuery, response=DiffOut,
              tags=["distribution"], errors=(403, 404, 422))
    async def get(self, plan_id: str, run_id: str, *, query: DiffQuery) -> DiffOut:
        return await service.diff_runs(self.deps, plan_id, run_id, query)


routes = [
    (rf"{BASE}", RunsHandler),
    (rf"{BASE}/{RUN}", RunHandler),
    (rf"{BASE}/{RUN}/diff", RunDiffHandler),
]


class SelectionPage(PageHandler):
    """The newest run (or ``?run=``): summary, totals against targets, per-room lines with reasons."""

    roles = DISTRICT
    area = "console"
    login_url = "/console/login"
    home_url = "/console/rooms"

    async def get(self, plan_id: str) -> None:
        plan = await get_plan_doc(self.deps, plan_id)
        runs = await repo.runs(self.deps.db, plan["_id"], limit=20)
        wanted = self.get_argument("run", None)
        chosen = next((r for r in runs if str(r["_id"]) == wanted), runs[0] if runs else None)
        run = await repo.run(self.deps.db, plan["_id"], chosen["_id"]) if chosen else None
        try:
            page = max(1, int(self.get_argument("page", "1")))
        except ValueError:
            page = 1
        by_room: dict[str, list[dict]] = {}
        for ln in (run or {}).get("lines", []):
            by_room.setdefault(ln["room"], []).append(ln)
        rooms = sorted(by_room)
        pages = max(1, -(-len(rooms) // ROOMS_PER_PAGE))
        page = min(page, pages)
        shown = rooms[(page - 1) * ROOMS_PER_PAGE: page * ROOMS_PER_PAGE]
        by_pub = ((run or {}).get("totals") or {}).get("by_publisher", {})
        publishers = sorted(by_pub.items(), key=lambda kv: -kv[1].get("fen", 0))[:30]
        self.render_page("console/distribution/selection.html", plan=plan, runs=runs, run=run, publishers=publishers,
                         rooms=[(r, by_room[r]) for r in shown], page=page, pages=pages, categories=CATEGORIES)


pages = [(r"/console/distribution/plans/(?P<plan_id>[^/]+)/selection", SelectionPage)]
