"""RFC 9457 problem details: the one error body every JSON endpoint returns."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from server.errors import FieldProblem

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "urn:shuwu:problem:"

STATUS_TITLES = {
    400: "请求有误",
    401: "需要登录",
    403: "无权操作",
    404: "未找到",
    405: "不支持的请求方法",
    409: "与现有数据冲突",
    413: "请求内容太大",
    415: "请求格式不支持",
    422: "输入有误",
    429: "尝试次数过多",
    500: "服务器内部错误",
    503: "服务暂不可用",
}

# Pydantic's messages are English; the people reading these are not.
_MESSAGES = {
    "missing": "必填",
    "extra_forbidden": "不允许的字段",
    "string_type": "应为文本",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "list_type": "应为列表",
    "string_too_short": "太短",
    "string_too_long": "太长",
    "string_pattern_mismatch": "格式不正确",
    "too_short": "项数太少",
    "too_long": "项数太多",
    "greater_than": "数值太小",
    "greater_than_equal": "数值太小",
    "less_than": "数值太大",
    "less_than_equal": "数值太大",
    "literal_error": "不是允许的取值",
    "enum": "不是允许的取值",
    "json_invalid": "不是有效的 JSON",
    "datetime_parsing": "不是有效的时间",
    "date_parsing": "不是有效的日期",
}


class FieldError(BaseModel):
    loc: list[str | int] = Field(description='path to the field, e.g. ["body", "location", "lat"]')
    msg: str


class Problem(BaseModel):
    """An error response (application/problem+json)."""

    type: str = Field(description="urn:shuwu:problem:<code>; the code is stable for programs")
    title: str
    status: int
    detail: str
    code: str
    request_id: str = ""
    errors: list[FieldError] = Field(default_factory=list)


def field_problems(exc: ValidationError, prefix: str) -> list[FieldProblem]:
    problems = []
    for err in exc.errors(include_url=False):
        msg = err["msg"]
        if err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        elif err["type"] in _MESSAGES:
            msg = f"{_MESSAGES[err['type']]}（{msg}）"
        problems.append(FieldProblem((prefix, *err["loc"]), msg))
    return problems


def problem(
    status: int, *, detail: str, code: str, errors: list[FieldProblem] | None = None,
    title: str | None = None, request_id: str = "",
) -> dict[str, Any]:
    return Problem(
        type=PROBLEM_TYPE_BASE + code,
        title=title or STATUS_TITLES.get(status) or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        request_id=request_id,
        errors=[FieldError(loc=list(p.loc), msg=p.msg) for p in errors or []],
    ).model_dump(mode="json")
