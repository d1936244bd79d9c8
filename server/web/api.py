"""JSON API handlers for staff clients and the ``@endpoint`` declaration.

An endpoint declares who may call it (roles), what it takes (body, query) and
what it returns (response). The decorator enforces all of it, and the OpenAPI
document is generated from the same declarations, so the two never disagree.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import tornado.web
from pydantic import BaseModel, ValidationError

from server.errors import (
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    UnsupportedMediaType,
)
from server.staff.roles import Actor, Role
from server.web.base import BaseHandler, json_dumps
from server.web.problems import PROBLEM_CONTENT_TYPE, field_problems, problem

JSON_CONTENT_TYPE = "application/json; charset=UTF-8"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


@dataclass(frozen=True)
class EndpointSpec:
    summary: str
    roles: frozenset[Role] | None  # None: public
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    description: str = ""
    tags: tuple[str, ...] = ()
    errors: tuple[int, ...] = field(default_factory=tuple)
    # Other statuses answered with ``response`` itself, not a problem (e.g. /readyz's 503).
    also: tuple[int, ...] = ()
    # A mini-program reader's session is required (``MpHandler``); roles is None then.
    reader: bool = False
    # A non-JSON answer (e.g. "image/png", "application/pdf"): the method returns bytes.
    media_type: str | None = None

    @property
    def public(self) -> bool:
        return self.roles is None and not self.reader


def endpoint(
    *,
    summary: str,
    roles: Iterable[Role] | None,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: type[BaseModel] | None = None,
    status: int = 200,
    description: str = "",
    tags: Iterable[str] = (),
    errors: Iterable[int] = (),
    also: Iterable[int] = (),
    reader: bool = False,
    media_type: str | None = None,
) -> Callable[[Callable[..., Awaitable[Any]]], Callable[..., Awaitable[None]]]:
    """Declare an API method. ``roles=None`` makes it public; otherwise a Bearer token
    of one of ``roles`` is required (401 without one, 403 with the wrong role).
    ``reader=True`` (with ``roles=None``) requires a mini-program reader's session instead.
    ``media_type`` declares a binary answer: the method returns ``bytes`` of that type.

    The wrapped method receives ``body=``/``query=`` already validated and returns
    an instance of ``response`` (or None for 204).
    """
    spec = EndpointSpec(
        summary=summary, roles=frozenset(roles) if roles is not None else None, body=body, query=query,
        response=response, status=status if response is not None or media_type else 204, description=description,
        tags=tuple(tags), errors=tuple(errors), also=tuple(also), reader=reader, media_type=media_type,
    )
    if reader and spec.roles is not None:
        raise ValueError("an endpoint is either for staff roles or for readers")

    def decorate(method: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[None]]:
        @functools.wraps(method)
        async def wrapper(self: ApiHandler, *args: str, **path: str) -> None:
            if spec.roles is not None:
                if self.actor is None and spec.media_type is not None and self.request.method == "GET":
                    await self.load_page_session()
                self.require_role(spec.roles)
            elif spec.reader:
                await self.require_reader()
            extra: dict[str, Any] = {}
            if spec.query is not None:
                extra["query"] = self.parse_query(spec.query)
            if spec.body is not None:
                extra["body"] = self.parse_json_body(spec.body)
            result = await method(self, *args, **path, **extra)
            if spec.media_type is not None:
                self.set_status(spec.status)
                self.set_header("Content-Type", spec.media_type)
                self.finish(result)
                return
            self.respond(result, spec.status)

        wrapper.__endpoint__ = spec  # type: ignore[attr-defined]
        return wrapper

    return decorate


class ApiHandler(BaseHandler):
    """Staff REST clients: Bearer token, problem+json errors, no cookies so no XSRF."""

    content_security_policy = "default-src 'none'; frame-ancestors 'none'"

    async def prepare(self) -> None:
        await super().prepare()
        self.set_header("Cache-Control", "no-store")
        auth = self.request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer":
            await self.load_staff(token.strip())

    async def load_page_session(self) -> None:
        """A file to download (PDF, Excel, image) is a plain link in the console's pages: for
        those GETs only, the page session cookie identifies the person too. Safe methods only,
        so no XSRF; JSON answers still need the Bearer token."""
        from server.web.pages import SESSION_COOKIE

        token = self.get_signed_cookie(SESSION_COOKIE, max_age_days=31)
        await self.load_staff(token.decode() if token else None)

    def check_xsrf_cookie(self) -> None:
        """Bearer tokens are not sent by browsers on their own, so XSRF does not apply."""

    def require_role(self, roles: frozenset[Role]) -> Actor:
        if self.actor is None:
            raise NotAuthenticated("请先登录（在 Authorization 头中提供有效的 Bearer 令牌）", code="not_authenticated")
        if self.actor.role not in roles:
            raise Forbidden("您的角色无权进行此操作", code="role_forbidden")
        return self.actor

    async def require_reader(self) -> Any:
        """Staff handlers have no readers; ``server.web.mp.MpHandler`` overrides this."""
        raise NotAuthenticated("请先在小程序中登录", code="not_authenticated")

    def parse_json_body(self, model: type[BaseModel]) -> Any:
        ctype = self.request.headers.get("Content-Type", "application/json").split(";")[0].strip().lower()
        if ctype not in {"application/json", "application/problem+json"} and not ctype.endswith("+json"):
            raise UnsupportedMediaType("请求体应为 JSON（Content-Type: application/json）", code="unsupported_media_type",
                               errors=[FieldProblem(("header", "Content-Type"), "应为 application/json")])
        try:
            # JSON between systems is UTF-8 (RFC 8259 §8.1): json.loads(bytes) would also take
            # UTF-16/32 and encoded surrogates. A leading BOM may be ignored (same section).
            text = (self.request.body or b"null").decode("utf-8-sig") or "null"
            json.loads(text, parse_constant=_reject_constant)  # no NaN, no Infinity
        except RecursionError:
            raise InvalidInput("请求体嵌套层数太多", code="malformed_json",
                               errors=[FieldProblem(("body",), "嵌套层数太多")]) from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidInput("请求体不是有效的 JSON", code="malformed_json",
                               errors=[FieldProblem(("body",), str(exc)[:200])]) from None
        try:
            # Strict JSON mode, as the OpenAPI document promises: true is not 1, "3" is not 3.
            return model.model_validate_json(text, strict=True)
        except ValidationError as exc:
            raise InvalidInput(f"请求内容有 {exc.error_count()} 处错误", code="validation_failed",
                               errors=field_problems(exc, "body")) from None

    def respond(self, result: BaseModel | None, status: int = 200) -> None:
        if result is None:
            self.set_status(204)
            self.finish()
            return
        self.set_status(status)
        self.set_header("Content-Type", JSON_CONTENT_TYPE)
        self.finish(result.model_dump_json())

    @classmethod
    def allowed_methods(cls) -> list[str]:
        """The HTTP methods this handler implements (Tornado's defaults answer 405)."""
        return [m for m in cls.SUPPORTED_METHODS
                if getattr(cls, m.lower(), None) is not getattr(tornado.web.RequestHandler, m.lower(), None)]

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        status, code, detail, errors, title = self.error_from(status_code, kwargs)
        exc = kwargs.get("exc_info", (None, None, None))[1]
        retry = getattr(exc, "retry_after_secs", 0)
        if retry:
            self.set_header("Retry-After", str(retry))
        if status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="shuwu"')
        if status == 405:  # RFC 9110 §15.5.6: a 405 must list what the resource does allow
            self.set_header("Allow", ", ".join(self.allowed_methods()))
        self.set_status(status)
        self.set_header("Content-Type", PROBLEM_CONTENT_TYPE)
        self.finish(json_dumps(problem(status, detail=detail, code=code, errors=errors, title=title,
                                       request_id=self.request_id)))


class NotFoundApiHandler(ApiHandler):
    """Unknown paths under /api answer in problem+json too."""

    async def prepare(self) -> None:
        await super().prepare()
        raise tornado.web.HTTPError(404)
