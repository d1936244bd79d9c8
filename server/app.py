"""make_app: the only place an Application is built, from every package's ``routes``."""

from __future__ import annotations

from typing import Any

import tornado.web

from distribution.plans.handlers import page_routes as dist_plans_pages
from distribution.plans.handlers import routes as dist_plans_routes
from distribution.routes.handlers import pages as dist_routes_pages
from distribution.routes.handlers import routes as dist_routes_routes
from distribution.selecting.handlers import pages as dist_selection_pages
from distribution.selecting.handlers import routes as dist_selection_routes
from distribution.shipments.handlers import pages as dist_shipments_pages
from distribution.shipments.handlers import routes as dist_shipments_routes
from miniprogram_api.accounts.handlers import routes as mp_accounts_routes
from miniprogram_api.books.handlers import routes as mp_books_routes
from miniprogram_api.challenges.handlers import routes as mp_challenges_routes
from miniprogram_api.contest.handlers import routes as mp_contest_routes
from miniprogram_api.families.handlers import routes as mp_families_routes
from miniprogram_api.notify.handlers import routes as mp_notify_routes
from miniprogram_api.roomcodes.handlers import routes as roomcodes_routes
from miniprogram_api.surveys.handlers import routes as surveys_routes
from server.activities.handlers import pages as activities_pages
from server.activities.handlers import routes as activities_routes
from server.audit.handlers import routes as audit_routes
from server.catalog.handlers import routes as catalog_routes
from server.circulation.handlers import routes as circulation_routes
from server.console.dashboard import pages as dashboard_pages
from server.console.handlers import routes as console_routes
from server.phone.handlers import routes as phone_routes
from server.readers.handlers import routes as readers_routes
from server.resources import Deps
from server.rooms.handlers import routes as rooms_routes
from server.staff.handlers import routes as staff_routes
from server.stats.exports.handlers import pages as stats_export_pages
from server.stats.exports.handlers import routes as stats_export_routes
from server.stats.handlers import routes as stats_routes
from server.stats.reports.handlers import pages as stats_report_pages
from server.stats.reports.handlers import routes as stats_report_routes
from server.stock.handlers import routes as stock_routes
from server.web.api import NotFoundApiHandler
from server.web.base import InFlight, ShuwuApplication, StaticFiles
from server.web.health import routes as health_routes
from server.web.openapi import OpenApiHandler
from server.web.pages import PageHandler
from server.web.templating import STATIC
from training.certificates.handlers import pages as training_certificate_pages
from training.certificates.handlers import routes as training_certificate_routes
from training.courses.handlers import pages as training_course_pages
from training.courses.handlers import routes as training_course_routes
from training.quizzes.handlers import pages as training_quiz_pages
from training.quizzes.handlers import routes as training_quiz_routes
from training.ratings.handlers import pages as ratings_pages
from training.ratings.handlers import routes as ratings_routes
from training.ratings.inspections.handlers import pages as inspections_pages
from training.ratings.inspections.handlers import routes as inspections_routes
from training.ratings.metrics.handlers import pages as metrics_pages
from training.ratings.metrics.handlers import routes as metrics_routes


class NotFoundPage(PageHandler):
    async def prepare(self) -> None:
        await super().prepare()
        raise tornado.web.HTTPError(404)


class RootPage(PageHandler):
    async def get(self) -> None:
        self.redirect("/console/")


def api_routes() -> list[tuple[str, type]]:
    """Every JSON route, in the order they are matched (the OpenAPI document lists these)."""
    return [*health_routes, *staff_routes, *rooms_routes, *audit_routes, *stock_routes,
            *readers_routes, *circulation_routes, *catalog_routes,
            *mp_accounts_routes, *mp_books_routes, *mp_notify_routes, *roomcodes_routes,
            *mp_contest_routes, *mp_challenges_routes, *dist_plans_routes, *dist_shipments_routes,
            *dist_routes_routes, *dist_selection_routes, *activities_routes, *surveys_routes, *metrics_routes,
            *inspections_routes, *mp_families_routes, *training_course_routes, *ratings_routes,
            *training_quiz_routes, *training_certificate_routes, *stats_export_routes, *stats_routes,
            *stats_report_routes]


def make_app(deps: Deps, *, debug: bool = False) -> ShuwuApplication:
    api = api_routes()
    # The shipments' phone JSON (/m/api/shipments/…) goes before the phone's /m/api catch-all.
    pages = [(r"/", RootPage), *training_course_pages, *training_quiz_pages, *training_certificate_pages, *inspections_pages, *dist_shipments_pages, *activities_pages, *metrics_pages, *stats_export_pages, *stats_report_pages, *dashboard_pages, *console_routes, *phone_routes, *dist_plans_pages,
             *dist_routes_pages, *dist_selection_pages, *ratings_pages]
    handlers: list[Any] = [
        *[tornado.web.url(pattern, handler, {"deps": deps}) for pattern, handler in [*api, *pages]],
        tornado.web.url(r"/api/openapi.json", OpenApiHandler, {"deps": deps, "routes": api}),
        tornado.web.url(r"/api/.*", NotFoundApiHandler, {"deps": deps}),
    ]
    app = ShuwuApplication(
        handlers,
        cookie_secret=deps.settings.cookie_secret,
        xsrf_cookies=True,
        xsrf_cookie_kwargs={"httponly": True, "samesite": "Strict"},
        static_path=str(STATIC),
        static_url_prefix="/static/",
        static_handler_class=StaticFiles,
        default_handler_class=NotFoundPage,
        default_handler_args={"deps": deps},
        debug=debug,
        autoreload=False,
        compress_response=True,
    )
    app.deps = deps
    app.in_flight = InFlight()
    return app
