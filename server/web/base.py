"""The handler base every audience shares: deps, request ids, security headers,
in-flight tracking for graceful shutdown, and the mapping of errors to statuses.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

import tornado.web
from bson.errors import InvalidId
from pydantic import BaseModel, ValidationError

from server.errors import DomainError, FieldProblem, InvalidInput, NotAuthenticated, PayloadTooLarge
from server.staff import service as staff_service
from server.staff.roles import Actor
from server.web.logs import acceptable_request_id, request_id_var
from server.web.problems import field_problems

if TYPE_CHECKING:
    from server.resources import Deps

log = logging.getLogger("shuwu.web")
M = TypeVar("M", bound=BaseModel)


class InFlight:
    """Counts requests being handled so shutdown can wait for them."""

    def __init__(self) -> None:
        self.count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def enter(self) -> None:
        self.count += 1
        self._idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._idle.set()

    async def wait_idle(self, deadline_secs: float) -> bool:
        """True once no request is in flight, False if ``deadline_secs`` passes first."""
        try:
            async with asyncio.timeout(deadline_secs):
                await self._idle.wait()
            return True
        except TimeoutError:
            return False


class ShuwuApplication(tornado.web.Application):
    deps: Deps
    in_flight: InFlight


class BaseHandler(tornado.web.RequestHandler):
    """Shared by every handler. Subclasses choose how a user is found and how errors look."""

    application: ShuwuApplication
    # Strict by default: nothing may frame us, scripts and styles only from our own origin.
    content_security_policy = (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )

    def initialize(self, deps: Deps) -> None:
        self.deps = deps
        self.actor: Actor | None = None
        self.staff_doc: dict[str, Any] | None = None
        self._counted = False
        incoming = self.request.headers.get("X-Request-Id")
        self.request_id: str = incoming if incoming is not None and acceptable_request_id(incoming) else uuid.uuid4().hex
        request_id_var.set(self.request_id)

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Referrer-Policy", "same-origin")
        self.set_header("Content-Security-Policy", self.content_security_policy)
        self.set_header("Permissions-Policy", "camera=(self), geolocation=(), microphone=()")
        self.clear_header("Server")
        # send_error() clears headers back to these defaults, so the request id must be
        # here too, or error responses (XSRF refusals, 404s) would go out without it.
        request_id = getattr(self, "request_id", None)
        if request_id:
            self.set_header("X-Request-Id", request_id)

    async def prepare(self) -> None:
        self.application.in_flight.enter()
        self._counted = True
        self.set_header("X-Request-Id", self.request_id)
        length = self.request.headers.get("Content-Length")
        declared = int(length) if length and length.isdigit() else 0
        # A chunked body has no Content-Length; by prepare() it has been read, so measure it.
        limit = self.body_limit_bytes()
        if max(declared, len(self.request.body or b"")) > limit:
            raise PayloadTooLarge(f"请求内容超过 {limit // 1024} KB 的上限", code="body_too_large")

    def body_limit_bytes(self) -> int:
        """The largest body this handler accepts; a handler taking file uploads raises it
        (up to what the HTTP server itself accepts, ``max_body_bytes`` × 4)."""
        return self.deps.settings.max_body_bytes

    def on_finish(self) -> None:
        if self._counted:
            self._counted = False
            self.application.in_flight.leave()

    # -- who is asking ---------------------------------------------------

    async def load_staff(self, token: str | None) -> None:
        """Resolve a session token to ``self.actor`` (None if absent, expired or revoked)."""
        if not token:
            return
        doc = await staff_service.staff_for_token(self.deps, token)
        if doc is not None:
            self.staff_doc = doc
            self.actor = staff_service.actor_for(doc, request_id=self.request_id, ip=self.request.remote_ip or "")

    def get_current_user(self) -> Actor | None:
        return self.actor

    @property
    def me(self) -> Actor:
        """The logged-in actor; only call where a role is required."""
        if self.actor is None:
            raise NotAuthenticated("请先登录", code="not_authenticated")
        return self.actor

    # -- input -------------------------------------------------------------

    def parse_query(self, model: type[M]) -> M:
        values: dict[str, str] = {}
        for name, raw in self.request.query_arguments.items():
            try:
                values[name] = raw[-1].decode("utf-8")
            except UnicodeDecodeError:
                raise InvalidInput("查询参数编码有误", code="bad_encoding",
                                   errors=[FieldProblem(("query", name), "应为 UTF-8 文本")]) from None
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            raise InvalidInput("查询参数有误", code="validation_failed",
                               errors=field_problems(exc, "query")) from None

    def parse_form(self, model: type[M]) -> M:
        """Validate an HTML form post (pages)."""
        values = {k: self.get_body_argument(k) for k in self.request.body_arguments if k != "_xsrf"}
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            raise InvalidInput("表单填写有误", code="validation_failed",
                               errors=field_problems(exc, "body")) from None

    # -- errors ------------------------------------------------------------

    def _handle_request_exception(self, e: BaseException) -> None:
        # Domain errors and bad ids are the caller's problem, not ours: answer with
        # their own status and keep stack traces out of the log.
        if isinstance(e, InvalidId):
            e = InvalidInput("编号格式不正确", code="invalid_id")
        if isinstance(e, DomainError):
            if self._finished:
                return
            log.info("%s %s -> %s %s", self.request.method, self.request.path, e.status, e.code)
            self.send_error(e.status, exc_info=(type(e), e, e.__traceback__))
            return
        super()._handle_request_exception(e)

    def error_from(self, status_code: int, kwargs: dict[str, Any]) -> tuple[int, str, str, list[FieldProblem], str | None]:
        """(status, code, detail, field errors, title) for whatever ended the request."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, DomainError):
            return exc.status, exc.code, exc.detail, exc.errors, exc.title
        if isinstance(exc, tornado.web.HTTPError) and status_code < 500:
            detail = {404: "没有这个地址", 405: "这个地址不支持该请求方法", 403: "请求被拒绝（请刷新页面后重试）"}.get(
                status_code, "请求有误")
            return status_code, f"http_{status_code}", detail, [], None
        if status_code >= 500:
            log.error("unhandled error on %s %s", self.request.method, self.request.path,
                      exc_info=kwargs.get("exc_info") or sys.exc_info())
            return status_code, "internal_error", f"服务器出错了，请稍后再试（编号 {self.request_id}）", [], None
        return status_code, f"http_{status_code}", "请求有误", [], None


class StaticFiles(tornado.web.StaticFileHandler):
    """/static/ files, with the same security headers and request id as every other response."""

    def set_default_headers(self) -> None:
        self.set_header("X-Content-Type-Options", "nosniff")
        self.set_header("X-Frame-Options", "DENY")
        self.set_header("Content-Security-Policy", BaseHandler.content_security_policy)
        incoming = self.request.headers.get("X-Request-Id")
        self.set_header("X-Request-Id", incoming if incoming and acceptable_request_id(incoming) else uuid.uuid4().hex)
        self.clear_header("Server")


def json_dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
