"""Delivery routes: the staff API under /api/v1/distribution/routes and the console pages
/console/distribution/routes[/{id}] (a map of every route and a table per truck)."""

from __future__ import annotations

from distribution.routes import service
from distribution.routes.models import (
    ReplanIn,
    RouteListQuery,
    RoutePlanIn,
    RoutePlanList,
    RoutePlanOut,
    SheetQuery,
)
from distribution.routes.sheets import route_svg, truck_colour
from server.console.handlers import ConsolePage
from server.staff.roles import DISTRICT
from server.web.api import ApiHandler, endpoint

TAGS = ["distribution-routes"]
PDF = "application/pdf"
ROUTE = r"(?P<route_id>[^/]+)"


class RoutePlansHandler(ApiHandler):
    @endpoint(summary="送书路线方案列表（按日期，新的在前）", roles=DISTRICT, query=RouteListQuery,
              response=RoutePlanList, tags=TAGS, errors=(422,))
    async def get(self, *, query: RouteListQuery) -> RoutePlanList:
        return await service.list_route_plans(self.deps, query)

    @endpoint(summary="规划送书路线（按载量、开放时间求解车辆路径）", roles=DISTRICT, body=RoutePlanIn,
              response=RoutePlanOut, status=201, tags=TAGS, errors=(422,),
              description="Capacitated VRP with time windows solved by PyVRP within time_limit_secs. Stops come "
                          "from `stops`, else `shipment_ids`, else the plan's ordered/packed shipments.")
    async def post(self, *, body: RoutePlanIn) -> RoutePlanOut:
        return await service.create_route_plan(self.deps, self.me, body)


class RoutePlanHandler(ApiHandler):
    @endpoint(summary="一个送书路线方案", roles=DISTRICT, response=RoutePlanOut, tags=TAGS, errors=(404,))
    async def get(self, route_id: str) -> RoutePlanOut:
        return await service.get_route_plan(self.deps, route_id)


class ReplanHandler(ApiHandler):
    @endpoint(summary="重新规划（车辆不可用、增加书屋；已发车的路线保持不变）", roles=DISTRICT, body=ReplanIn,
              response=RoutePlanOut, status=201, tags=TAGS, errors=(404, 409, 422))
    async def post(self, route_id: str, *, body: ReplanIn) -> RoutePlanOut:
        return await service.replan_route_plan(self.deps, self.me, route_id, body)


class RouteSheetsHandler(ApiHandler):
    @endpoint(summary="送书路线单 PDF（每车一页：站点顺序、到达时间、联系人、箱数、路线图）", roles=DISTRICT,
              query=SheetQuery, media_type=PDF, tags=TAGS, errors=(404, 422))
    async def get(self, route_id: str, *, query: SheetQuery) -> bytes:
        self.set_header("Content-Disposition", 'inline; filename="route-sheets.pdf"')
        return await service.route_sheets_pdf(self.deps, route_id, query.truck)


class RoutesPage(ConsolePage):
    """The route plans of a date (all when none), with the selected or newest plan drawn."""

    roles = DISTRICT

    async def get(self, route_id: str | None = None) -> None:
        self.request.query_arguments = {k: v for k, v in self.request.query_arguments.items() if v and v[-1].strip()}
        query = self.parse_query(RouteListQuery)
        plans = await service.list_route_plans(self.deps, query)
        if route_id is None and plans.items:
            current = next((p for p in plans.items if not p.superseded_by), plans.items[0])
            route_id = current.id
        plan = await service.get_route_plan(self.deps, route_id) if route_id else None
        district = self.deps.settings.district
        self.render_page(
            "console/distribution/routes.html", plans=plans, plan=plan, query=query,
            svg=route_svg(plan.depot, plan.routes, district=district, width=720) if plan and plan.routes else "",
            colour=truck_colour,
        )


routes = [
    (r"/api/v1/distribution/routes", RoutePlansHandler),
    (rf"/api/v1/distribution/routes/{ROUTE}", RoutePlanHandler),
    (rf"/api/v1/distribution/routes/{ROUTE}/replan", ReplanHandler),
    (rf"/api/v1/distribution/routes/{ROUTE}/sheets.pdf", RouteSheetsHandler),
]

pages = [
    (r"/console/distribution/routes", RoutesPage),
    (rf"/console/distribution/routes/{ROUTE}", RoutesPage),
]
