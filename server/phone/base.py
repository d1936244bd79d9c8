"""The two handler bases of the phone area: pages (friendly Chinese error pages) and the JSON the
pages' scripts call (problem+json). Both use the signed session cookie and keep XSRF on.
"""

from __future__ import annotations

from typing import Any, cast

import tornado.web
from pydantic import BaseModel

from server.errors import Forbidden, NotAuthenticated
from server.rooms.service import authorize_room
from server.staff.roles import PHONE, Actor, Role
from server.web.api import ApiHandler
from server.web.base import BaseHandler, json_dumps
from server.web.pages import SESSION_COOKIE, PageHandler
from server.web.problems import PROBLEM_CONTENT_TYPE, problem


class PhonePage(PageHandler):
    roles: frozenset[Role] | None = PHONE
    area = "phone"
    login_url = "/m/login"
    home_url = "/m/"


class DeskPage(PhonePage):
    """A desk page of one room (``/m/rooms/<code>/<page>``): 404 for an unknown room, 403 for
    a room outside the administrator's scope. The page's script gets the XSRF token from
    a meta tag, because the ``_xsrf`` cookie is HttpOnly."""

    template = ""
    page = ""
    heading = ""

    async def get(self, code: str) -> None:
        room = await authorize_room(self.deps, self.me, code)
        extra = await self.page_context(room)
        self.render_page(self.template, room=room, page=self.page, heading=self.heading,
                         xsrf_token=self.xsrf_token.decode(), **extra)

    async def page_context(self, room: dict[str, Any]) -> dict[str, Any]:
        return {}


class PhoneApiHandler(BaseHandler):
    """JSON for the phone pages' scripts: the page session cookie instead of a Bearer token,
    XSRF checked as on every cookie-authenticated handler (the script sends the token in
    X-XSRFToken), problem+json errors whose ``detail`` is a Chinese sentence the page shows
    as it is.

    Not an ApiHandler (that audience is Bearer-only and listed in the OpenAPI document and
    the role matrix); it borrows the API's body parsing and answering, so ``@endpoint``
    declares these routes the same way.
    """

    content_security_policy = ApiHandler.content_security_policy

    def parse_json_body(self, model: type[BaseModel]) -> Any:
        return ApiHandler.parse_json_body(cast(ApiHandler, self), model)

    def respond(self, result: BaseModel | None, status: int = 200) -> None:
        ApiHandler.respond(cast(ApiHandler, self), result, status)

    @classmethod
    def allowed_methods(cls) -> list[str]:
        return [m for m in cls.SUPPORTED_METHODS
                if getattr(cls, m.lower(), None) is not getattr(tornado.web.RequestHandler, m.lower(), None)]

    async def prepare(self) -> None:
        await super().prepare()
        self.set_header("Cache-Control", "no-store")
        token = self.get_signed_cookie(SESSION_COOKIE, max_age_days=31)
        await self.load_staff(token.decode() if token else None)

    def require_role(self, roles: frozenset[Role]) -> Actor:
        if self.actor is None:
            raise NotAuthenticated("登录已过期，请重新登录后再办理", code="not_authenticated")
        if self.actor.role not in roles:
            raise Forbidden("您的账号不能办理这项业务", code="role_forbidden")
        return self.actor

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        status, code, detail, errors, title = self.error_from(status_code, kwargs)
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, tornado.web.HTTPError) and status == 403 and "xsrf" in (exc.log_message or "").lower():
            code, detail = "xsrf_failed", "页面已过期，请刷新页面后再试"
        if status == 405:
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        self.set_status(status)
        self.set_header("Content-Type", PROBLEM_CONTENT_TYPE)
        self.finish(json_dumps(problem(status, detail=detail, code=code, errors=errors, title=title,
                                       request_id=self.request_id)))
