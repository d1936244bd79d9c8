"""The fake WeChat server's HTTP side: WeChat's real paths (HTTP 200 with ``errcode``, as
WeChat answers) and the ``/_fake/`` control endpoints. The state and rules are in ``state.py``."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from typing import Any

import tornado.web

from ops.fake_wechat.state import (
    LOGIN_CODE_TTL_SECS,
    PHONE_CODE_TTL_SECS,
    Fail,
    FakeWeChat,
)

# --- HTTP ---------------------------------------------------------------------------------


class _WeChatHandler(tornado.web.RequestHandler):
    """Counts the call, applies injected failures, answers WeChat-style (HTTP 200 + errcode)."""

    needs_token = True

    def initialize(self, fake: FakeWeChat) -> None:
        self.fake = fake

    def prepare(self) -> None:
        self.fake.record_call(self.request.path)
        errcode = self.fake.injected_failure(self.request.path)
        if errcode is not None:
            self.answer_error(
                Fail(errcode, "system error" if errcode == -1 else "injected failure")
            )
        elif self.needs_token:
            try:
                self.fake.check_token(self.get_query_argument("access_token", None))
            except Fail as fail:
                self.answer_error(fail)

    def body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise Fail(47001, "data format error") from None
        if not isinstance(body, dict):
            raise Fail(47001, "data format error")
        return body

    def answer(self, body: dict[str, Any]) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(body, ensure_ascii=False))

    def answer_error(self, fail: Fail) -> None:
        rid = secrets.token_hex(4) + "-" + secrets.token_hex(4)
        self.answer({"errcode": fail.errcode, "errmsg": f"{fail.errmsg} rid: {rid}"})

    def run(self, rule: Callable[[], dict[str, Any]]) -> None:
        try:
            self.answer(rule())
        except Fail as fail:
            self.answer_error(fail)


class Jscode2Session(_WeChatHandler):
    needs_token = False

    def get(self) -> None:
        arg = self.get_query_argument
        self.run(
            lambda: self.fake.jscode2session(
                arg("appid", None),
                arg("secret", None),
                arg("js_code", None),
                arg("grant_type", None),
            )
        )


class StableToken(_WeChatHandler):
    needs_token = False

    def post(self) -> None:
        self.run(lambda: self.fake.stable_token(self.body()))


class ClassicToken(_WeChatHandler):
    needs_token = False

    def get(self) -> None:
        arg = self.get_query_argument
        self.run(
            lambda: self.fake.classic_token(
                arg("appid", None), arg("secret", None), arg("grant_type", None)
            )
        )


class PhoneNumber(_WeChatHandler):
    def post(self) -> None:
        self.run(lambda: self.fake.phone_number(self.body()))


class MsgSecCheck(_WeChatHandler):
    def post(self) -> None:
        self.run(lambda: self.fake.msg_sec_check(self.body()))


class SubscribeSend(_WeChatHandler):
    def post(self) -> None:
        self.run(lambda: self.fake.subscribe_send(self.body()))


class WxaCodeUnlimit(_WeChatHandler):
    def post(self) -> None:
        try:
            png = self.fake.wxacode_unlimit(self.body())
        except Fail as fail:
            self.answer_error(fail)
            return
        self.set_header("Content-Type", "image/png")
        self.finish(png)


class _ControlHandler(tornado.web.RequestHandler):
    """``/_fake/*``: plain JSON; a bad request gets HTTP 400 ``{"error": ...}``."""

    def initialize(self, fake: FakeWeChat) -> None:
        self.fake = fake

    def body(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise tornado.web.HTTPError(400, "body is not JSON") from None
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, "body is not a JSON object")
        return body

    def arg(
        self, body: dict[str, Any], name: str, kind: type | tuple[type, ...], default: Any = ...
    ) -> Any:
        """``body[name]``, checked to be of ``kind`` (a bool is no number); 400 otherwise."""
        value = body.get(name, default)
        if (
            value is ...
            or not isinstance(value, kind)
            or isinstance(value, bool) is not (kind is bool)
        ):
            raise tornado.web.HTTPError(400, f"{name} is missing or of the wrong type")
        return value

    def answer(self, value: Any) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.finish(json.dumps(value, ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        self.answer({"error": getattr(exc, "log_message", None) or self._reason})


class LoginCodes(_ControlHandler):
    def post(self) -> None:
        body = self.body()
        unionid = body.get("unionid")
        code = self.fake.new_login_code(
            self.arg(body, "openid", str),
            unionid if isinstance(unionid, str) else None,
            float(self.arg(body, "ttl_secs", (int, float), LOGIN_CODE_TTL_SECS)),
        )
        self.answer({"code": code})


class PhoneCodes(_ControlHandler):
    def post(self) -> None:
        body = self.body()
        code = self.fake.new_phone_code(
            self.arg(body, "phone", str),
            float(self.arg(body, "ttl_secs", (int, float), PHONE_CODE_TTL_SECS)),
        )
        self.answer({"code": code})


class Accept(_ControlHandler):
    def post(self) -> None:
        body = self.body()
        openid, template_id = self.arg(body, "openid", str), self.arg(body, "template_id", str)
        count = self.arg(body, "count", int, 1)
        self.fake.user(openid)
        self.fake.acceptances[(openid, template_id)] += count
        self.answer(
            {
                "openid": openid,
                "template_id": template_id,
                "remaining": self.fake.acceptances[(openid, template_id)],
            }
        )


class Block(_ControlHandler):
    def post(self) -> None:
        body = self.body()
        user = self.fake.user(self.arg(body, "openid", str))
        user.blocked = self.arg(body, "blocked", bool, True)
        self.answer({"openid": user.openid, "blocked": user.blocked})


class RateLimit(_ControlHandler):
    def post(self) -> None:
        self.fake.rate_per_sec = self.arg(self.body(), "per_second", int)
        self.answer({"per_second": self.fake.rate_per_sec})


class FailNext(_ControlHandler):
    def post(self) -> None:
        body = self.body()
        path, times = self.arg(body, "path", str), self.arg(body, "times", int, 1)
        errcode = self.arg(body, "errcode", int)
        if times > 0:
            self.fake.failures[path] = [errcode, times]
        else:
            self.fake.failures.pop(path, None)
        self.answer({"path": path, "times": times})


class Sent(_ControlHandler):
    def get(self) -> None:
        touser = self.get_query_argument("touser", None)
        self.answer([m for m in self.fake.sent if touser is None or m["touser"] == touser])


class Calls(_ControlHandler):
    def get(self) -> None:
        self.answer(dict(self.fake.calls))


class Reset(_ControlHandler):
    def post(self) -> None:
        self.fake.reset()
        self.answer({"reset": True})


class RevokeTokens(_ControlHandler):
    def post(self) -> None:
        self.fake.revoke_tokens()
        self.answer({"revoked": True})


def make_app(fake: FakeWeChat) -> tornado.web.Application:
    """The fake's Tornado application; ``fake`` holds all its state."""
    kwargs = {"fake": fake}
    handlers: list[tuple[str, type[tornado.web.RequestHandler]]] = [
        (r"/sns/jscode2session", Jscode2Session),
        (r"/cgi-bin/stable_token", StableToken),
        (r"/cgi-bin/token", ClassicToken),
        (r"/wxa/business/getuserphonenumber", PhoneNumber),
        (r"/wxa/msg_sec_check", MsgSecCheck),
        (r"/cgi-bin/message/subscribe/send", SubscribeSend),
        (r"/wxa/getwxacodeunlimit", WxaCodeUnlimit),
        (r"/_fake/login_codes", LoginCodes),
        (r"/_fake/phone_codes", PhoneCodes),
        (r"/_fake/accept", Accept),
        (r"/_fake/block", Block),
        (r"/_fake/rate_limit", RateLimit),
        (r"/_fake/fail_next", FailNext),
        (r"/_fake/sent", Sent),
        (r"/_fake/calls", Calls),
        (r"/_fake/reset", Reset),
        (r"/_fake/revoke_tokens", RevokeTokens),
    ]
    return tornado.web.Application([(path, handler, kwargs) for path, handler in handlers])
