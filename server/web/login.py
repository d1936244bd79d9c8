"""Log-in and log-out pages, shared by the console and the phone pages."""

from __future__ import annotations

from server.errors import DomainError
from server.staff import service as staff_service
from server.staff.models import LoginIn
from server.staff.roles import Role
from server.web.pages import PageHandler


class LoginPageBase(PageHandler):
    """GET shows the form; POST checks the password, starts a session and goes on."""

    allowed: frozenset[Role] = frozenset()
    template = "console/login.html"

    async def get(self) -> None:
        if self.actor is not None and self.actor.role in self.allowed:
            self.redirect(self.safe_next(self.home_url))
            return
        self.render_page(self.template, error=None, username="", next=self.safe_next(self.home_url))

    async def post(self) -> None:
        username = self.get_body_argument("username", "").strip()
        try:
            form = self.parse_form(LoginIn)
            doc = await staff_service.authenticate(self.deps, form.username, form.password)
            if doc["role"] not in self.allowed:
                raise DomainError(self.wrong_place_message, code="wrong_area")
        except DomainError as exc:
            self.set_status(429 if exc.status == 429 else 200 if exc.code == "wrong_area" else 401
                            if exc.status == 401 else 422)
            self.render_page(self.template, error=exc.detail, username=username, next=self.safe_next(self.home_url))
            return
        await self.start_session(doc)
        self.redirect(self.safe_next(self.home_url))

    wrong_place_message = "该账号不能登录这里"


class LogoutBase(PageHandler):
    async def post(self) -> None:
        await self.end_session()
        self.redirect(self.login_url)
