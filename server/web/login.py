"""Log-in and log-out pages, shared by the console and the phone pages."""

from __future__ import annotations

from server.errors import DomainError, TooManyAttempts
from server.staff import service as staff_service
from server.staff.models import LoginIn
from server.staff.roles import Role
from server.web.pages import PageHandler


class LoginPageBase(PageHandler):
    """GET shows the form; POST checks the password, starts a session and goes on.

    A failed log-in shows the form again with the reason: wrong password (with a
    warning when the lock-out is near), locked out (429, Retry-After), or an
    account that belongs to the other area (``wrong_place_message``).
    """

    allowed: frozenset[Role] = frozenset()
    template = "console/login.html"
    wrong_place_message = "该账号不能登录这里"

    def home_for(self, role: Role) -> str:
        """Where a person of ``role`` lands after logging in (when no ``next`` was asked for)."""
        return self.home_url

    async def get(self) -> None:
        if self.actor is not None and self.actor.role in self.allowed:
            self.redirect(self.safe_next(self.home_for(self.actor.role)))
            return
        self.render_page(self.template, error=None, error_code=None, username="",
                         next=self.safe_next(self.home_url))

    async def post(self) -> None:
        username = self.get_body_argument("username", "").strip()
        try:
            form = self.parse_form(LoginIn)
            doc = await staff_service.authenticate(self.deps, form.username, form.password)
            if doc["role"] not in self.allowed:
                raise DomainError(self.wrong_place_message, code="wrong_area")
        except DomainError as exc:
            if isinstance(exc, TooManyAttempts):
                self.set_header("Retry-After", str(exc.retry_after_secs))
            status = {429: 429, 401: 401}.get(exc.status, 200 if exc.code == "wrong_area" else 422)
            self.set_status(status)
            detail = "请填写用户名和密码" if exc.code == "validation_failed" else exc.detail
            self.render_page(self.template, error=detail, error_code=exc.code, username=username,
                             next=self.safe_next(self.home_url))
            return
        await self.start_session(doc)
        self.redirect(self.safe_next(self.home_for(Role(doc["role"]))))


class LogoutBase(PageHandler):
    async def post(self) -> None:
        await self.end_session()
        self.redirect(self.login_url)
