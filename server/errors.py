"""Domain errors. Each carries a stable ``code``; only server/web maps them to HTTP.

Messages (``detail``) are Simplified Chinese because they reach users.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldProblem:
    """One field that is wrong: ``loc`` is the path to it, e.g. ("body", "location", "lat")."""

    loc: tuple[str | int, ...]
    msg: str


@dataclass
class DomainError(Exception):
    detail: str
    code: str = "error"
    errors: list[FieldProblem] = field(default_factory=list)

    status = 400
    title = "请求有误"

    def __str__(self) -> str:
        return f"{self.code}: {self.detail}"


class InvalidInput(DomainError):
    """Input that parsed but breaks a rule tied to a field (e.g. a town not in the district)."""

    status = 422
    title = "输入有误"


class NotAuthenticated(DomainError):
    status = 401
    title = "需要登录"


class Forbidden(DomainError):
    status = 403
    title = "无权操作"


class NotFound(DomainError):
    status = 404
    title = "未找到"


class PayloadTooLarge(DomainError):
    status = 413
    title = "请求内容太大"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "请求格式不支持"


class Conflict(DomainError):
    status = 409
    title = "与现有数据冲突"


class RuleViolation(DomainError):
    """A business rule refuses the action (e.g. deactivating an already inactive room)."""

    status = 422
    title = "不符合规则"


@dataclass
class TooManyAttempts(DomainError):
    retry_after_secs: int = 0

    status = 429
    title = "尝试次数过多"


@dataclass
class ServiceUnavailable(DomainError):
    """Something we depend on (WeChat, a job queue) is busy or unreachable; try again later."""

    retry_after_secs: int = 0

    status = 503
    title = "服务暂不可用"
