"""HTML page handlers: signed-cookie log-in, XSRF on, friendly Chinese error pages."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlparse

import tornado.web

from server import sessions
from server.audit import repo as audit
from server.errors import Forbidden, NotAuthenticated
from server.staff import service as staff_service
from server.staff.roles import ROLE_LABELS, Role
from server.web.base import BaseHandler
from server.web.templating import environment

SESSION_COOKIE = "shuwu_session"


class PageHandler(BaseHandler):
    """Base of console and phone pages. ``roles`` None means the page is public (log-in)."""

    roles: frozenset[Role] | None = None
    login_url = "/console/login"
    home_url = "/console/"
    area = "console"

    async def prepare(self) -> None:
        await super().prepare()
        self.set_header("Cache-Control", "no-store")
        token = self.get_signed_cookie(SESSION_COOKIE, max_age_days=31)
        await self.load_staff(token.decode() if token else None)
        if self.roles is None:
            return
        if self.actor is None:
            if self.request.method in {"GET", "HEAD"}:
                self.redirect(f"{self.login_url}?next={quote(self.request.uri or self.home_url)}")
                return
            raise NotAuthenticated("登录已过期，请重新登录", code="not_authenticated")
        if self.actor.role not in self.roles:
            raise Forbidden("您的账号不能使用这个页面", code="role_forbidden")

    def render_page(self, template: str, **context: Any) -> None:
        self.set_header("Content-Type", "text/html; charset=UTF-8")
        html = environment().get_template(template).render(
            actor=self.actor,
            role_label=ROLE_LABELS.get(self.actor.role) if self.actor else "",
            district=self.deps.settings.district,
            static_url=self.static_url,
            xsrf_form_html=self.xsrf_form_html,
            request_id=self.request_id,
            area=self.area,
            path=self.request.path,
            **context,
        )
        self.finish(html)

    def safe_next(self, default: str) -> str:
        """Only local paths of this area, so a log-in link cannot send people elsewhere."""
        target = self.get_argument("next", default)
        parsed = urlparse(target)
        if parsed.scheme or parsed.netloc or not target.startswith(f"/{'m' if self.area == 'phone' else 'console'}"):
            return default
        return target

    async def start_session(self, doc: dict[str, Any]) -> None:
        ttl = self.deps.settings.page_session_ttl_secs
        token, _ = await sessions.issue(self.deps.redis, str(doc["_id"]), kind="page", ttl_secs=ttl)
        self.set_signed_cookie(
            SESSION_COOKIE, token, expires_days=ttl / 86400, httponly=True, samesite="Lax",
            secure=self.deps.settings.public_url.startswith("https://"),
        )
        actor = staff_service.actor_for(doc, request_id=self.request_id, ip=self.request.remote_ip or "")
        await audit.record(self.deps.db, actor, f"auth.login.{self.area}", target_type="staff", target_id=actor.staff_id)

    async def end_session(self) -> None:
        token = self.get_signed_cookie(SESSION_COOKIE, max_age_days=31)
        if token:
            await sessions.revoke(self.deps.redis, token.decode())
        self.clear_cookie(SESSION_COOKIE)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        status, code, detail, errors, title = self.error_from(status_code, kwargs)
        self.set_status(status)
        try:
            self.render_page("errors/error.html", status=status, title=title or "出错了", detail=detail,
                             errors=errors, code=code)
        except Exception:  # the error page itself must never fail
            self.finish(f"<!doctype html><meta charset=utf-8><p>{tornado.escape.xhtml_escape(detail)}</p>")
