"""The fake WeChat server's state and rules: users, one-time codes, tokens, acceptances,
sent messages and injected failures (HTTP in ``server.py``).

The fake of the WeChat mini-program server API, for dev, demo and tests.

It answers the real paths with the real field names and error codes (DOMAIN.md
"WeChat facts") and keeps its state in memory. Tests steer it through the ``/_fake/``
control endpoints (``ops/fake_wechat/client.py`` wraps them).

Where it simplifies real WeChat:
- a classic ``/cgi-bin/token`` call ends older classic tokens at once (real: after about
  5 minutes); ``stable_token`` with ``force_refresh`` likewise ends the previous stable
  token at once. Stable and classic tokens are independent, as in real WeChat.
- a used or expired login code answers 40029 (real WeChat may say 40163 "code been used").
- the 45011 rate limit counts ``jscode2session`` calls per second (all of them).
- ``msg_sec_check`` flags fixed test words: "违规词" → risky (label 20006), "审核词" →
  review (label 20001); content over 2,500 characters → 47001.
"""

from __future__ import annotations

import io
import secrets
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import qrcode

LOGIN_CODE_TTL_SECS = 300
PHONE_CODE_TTL_SECS = 300
ACCESS_TOKEN_TTL_SECS = 7200
ACTIVE_USER_SECS = 2 * 3600  # msg_sec_check wants a user active in the last 2 hours
DEFAULT_RATE_PER_SEC = 30
MSG_SEC_CHECK_MAX_CHARS = 2500
SCENE_MAX_CHARS = 32
RISKY_WORD, RISKY_LABEL = "违规词", 20006
REVIEW_WORD, REVIEW_LABEL = "审核词", 20001
PASS_LABEL = 100
# Subscribe-message value limits by key type; name allows 10 Chinese or 20 ASCII characters.
VALUE_MAX_CHARS = {
    "thing": 20,
    "short_thing": 5,
    "phrase": 5,
    "name": 10,
    "character_string": 32,
    "number": 32,
    "letter": 32,
}
MINIPROGRAM_STATES = {"developer", "trial", "formal"}
ENV_VERSIONS = {"release", "trial", "develop"}
_SCENE_CHARS = set(
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!#$&'()*+,/:;=?@-._~"
)


class Fail(Exception):
    """A WeChat error answer: ``{"errcode": ..., "errmsg": ...}``."""

    def __init__(self, errcode: int, errmsg: str) -> None:
        super().__init__(errcode, errmsg)
        self.errcode = errcode
        self.errmsg = errmsg


@dataclass
class User:
    openid: str
    unionid: str | None = None
    session_key: str = ""
    blocked: bool = False
    last_login: float | None = None


@dataclass
class OneTimeCode:
    subject: str  # openid (login codes) or phone number (phone codes)
    expires_at: float
    unionid: str | None = None


@dataclass
class FakeWeChat:
    """The fake's whole state and rules; the Tornado handlers below only translate."""

    appid: str
    secret: str
    clock: Callable[[], float] = time.monotonic
    users: dict[str, User] = field(default_factory=dict)
    login_codes: dict[str, OneTimeCode] = field(default_factory=dict)
    phone_codes: dict[str, OneTimeCode] = field(default_factory=dict)
    stable: tuple[str, float] | None = None
    classic: dict[str, float] = field(default_factory=dict)
    acceptances: Counter[tuple[str, str]] = field(default_factory=Counter)
    sent: list[dict[str, Any]] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    failures: dict[str, list[int]] = field(default_factory=dict)  # path -> [errcode, times left]
    rate_per_sec: int = DEFAULT_RATE_PER_SEC
    recent_logins: deque[float] = field(default_factory=deque)
    next_msgid: int = 1_000_001
    start_rate_per_sec: int = field(init=False)

    def __post_init__(self) -> None:
        self.start_rate_per_sec = self.rate_per_sec

    def reset(self) -> None:
        """Forget everything (users, codes, tokens, sends, counts) but appid and secret."""
        fresh = FakeWeChat(
            self.appid, self.secret, self.clock, rate_per_sec=self.start_rate_per_sec
        )
        self.__dict__.update(fresh.__dict__)

    # --- bookkeeping ----------------------------------------------------------------------

    def record_call(self, path: str) -> None:
        self.calls[path] += 1

    def injected_failure(self, path: str) -> int | None:
        pending = self.failures.get(path)
        if not pending:
            return None
        errcode, left = pending
        if left <= 1:
            del self.failures[path]
        else:
            pending[1] = left - 1
        return errcode

    def _credentials(self, appid: Any, secret: Any, grant_type: Any, expected_grant: str) -> None:
        if appid != self.appid:
            raise Fail(40013, "invalid appid")
        if secret != self.secret:
            raise Fail(40125, "invalid appsecret")
        if grant_type != expected_grant:
            raise Fail(40002, "invalid grant_type")

    def user(self, openid: str) -> User:
        """The user with ``openid``, created if new."""
        return self.users.setdefault(openid, User(openid))

    # --- tokens ---------------------------------------------------------------------------

    def stable_token(self, body: dict[str, Any]) -> dict[str, Any]:
        self._credentials(
            body.get("appid"), body.get("secret"), body.get("grant_type"), "client_credential"
        )
        now = self.clock()
        if body.get("force_refresh") or self.stable is None or self.stable[1] <= now:
            self.stable = (secrets.token_urlsafe(48), now + ACCESS_TOKEN_TTL_SECS)
        token, expires_at = self.stable
        return {"access_token": token, "expires_in": int(expires_at - now)}

    def classic_token(self, appid: Any, secret: Any, grant_type: Any) -> dict[str, Any]:
        self._credentials(appid, secret, grant_type, "client_credential")
        token = secrets.token_urlsafe(48)
        self.classic = {token: self.clock() + ACCESS_TOKEN_TTL_SECS}
        return {"access_token": token, "expires_in": ACCESS_TOKEN_TTL_SECS}

    def check_token(self, token: str | None) -> None:
        now = self.clock()
        if token and self.stable and self.stable[0] == token and self.stable[1] > now:
            return
        if token and self.classic.get(token, 0) > now:
            return
        if not token:
            raise Fail(41001, "access_token missing")
        raise Fail(40001, "invalid credential, access_token is invalid or not latest")

    def revoke_tokens(self) -> None:
        self.stable = None
        self.classic.clear()

    # --- login and phone ------------------------------------------------------------------

    def jscode2session(
        self, appid: Any, secret: Any, js_code: Any, grant_type: Any
    ) -> dict[str, Any]:
        self._credentials(appid, secret, grant_type, "authorization_code")
        now = self.clock()
        self.recent_logins.append(now)
        while self.recent_logins and self.recent_logins[0] <= now - 1.0:
            self.recent_logins.popleft()
        if len(self.recent_logins) > self.rate_per_sec:
            raise Fail(45011, "api minute-quota reach limit  mustslower  retry next minute")
        code = self.login_codes.pop(js_code, None) if isinstance(js_code, str) else None
        if code is None or code.expires_at <= now:
            raise Fail(40029, "invalid code")
        user = self.user(code.subject)
        if user.blocked:
            raise Fail(40226, "code blocked")
        user.session_key = secrets.token_urlsafe(18)
        user.last_login = now
        answer: dict[str, Any] = {"session_key": user.session_key, "openid": user.openid}
        if user.unionid:
            answer["unionid"] = user.unionid
        return answer

    def phone_number(self, body: dict[str, Any]) -> dict[str, Any]:
        value = body.get("code")
        code = self.phone_codes.pop(value, None) if isinstance(value, str) else None
        if code is None or code.expires_at <= self.clock():
            raise Fail(40029, "invalid code")
        return {
            "errcode": 0,
            "errmsg": "ok",
            "phone_info": {
                "phoneNumber": code.subject,
                "purePhoneNumber": code.subject,
                "countryCode": "86",
                "watermark": {"timestamp": int(time.time()), "appid": self.appid},
            },
        }

    # --- content check --------------------------------------------------------------------

    def msg_sec_check(self, body: dict[str, Any]) -> dict[str, Any]:
        content = body.get("content")
        if (
            body.get("version") != 2
            or not isinstance(content, str)
            or len(content) > MSG_SEC_CHECK_MAX_CHARS
        ):
            raise Fail(47001, "data format error")
        if body.get("scene") not in (1, 2, 3, 4):
            raise Fail(47001, "data format error hint: [scene invalid]")
        user = self.users.get(str(body.get("openid")))
        if (
            user is None
            or user.last_login is None
            or user.last_login < self.clock() - ACTIVE_USER_SECS
        ):
            raise Fail(40003, "invalid openid")
        if RISKY_WORD in content:
            suggest, label, keyword = "risky", RISKY_LABEL, RISKY_WORD
        elif REVIEW_WORD in content:
            suggest, label, keyword = "review", REVIEW_LABEL, REVIEW_WORD
        else:
            suggest, label, keyword = "pass", PASS_LABEL, ""
        detail: list[dict[str, Any]] = [
            {
                "strategy": "content_model",
                "errcode": 0,
                "suggest": suggest,
                "label": label,
                "prob": 90,
            }
        ]
        if keyword:
            detail.append(
                {
                    "strategy": "keyword",
                    "errcode": 0,
                    "suggest": suggest,
                    "label": label,
                    "level": 20,
                    "keyword": keyword,
                }
            )
        return {
            "errcode": 0,
            "errmsg": "ok",
            "result": {"suggest": suggest, "label": label},
            "detail": detail,
            "trace_id": uuid.uuid4().hex,
        }

    # --- subscribe messages ---------------------------------------------------------------

    def subscribe_send(self, body: dict[str, Any]) -> dict[str, Any]:
        touser, template_id, data = body.get("touser"), body.get("template_id"), body.get("data")
        if not isinstance(touser, str) or touser not in self.users:
            raise Fail(40003, "invalid openid")
        if not isinstance(template_id, str) or not template_id:
            raise Fail(40037, "invalid template_id")
        if not isinstance(data, dict) or not data:
            raise Fail(47003, "argument invalid! data is empty")
        for key, item in data.items():
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, str) or not value or not _value_fits(key, value):
                raise Fail(47003, f"argument invalid! data.{key}.value invalid")
        state = body.get("miniprogram_state", "formal")
        if state not in MINIPROGRAM_STATES:
            raise Fail(47003, "argument invalid! miniprogram_state invalid")
        if self.acceptances[(touser, template_id)] <= 0:
            raise Fail(43101, "user refuse to accept the msg")
        self.acceptances[(touser, template_id)] -= 1
        msgid = self.next_msgid
        self.next_msgid += 1
        self.sent.append(
            {
                "msgid": msgid,
                "touser": touser,
                "template_id": template_id,
                "page": body.get("page", ""),
                "data": data,
                "miniprogram_state": state,
                "lang": body.get("lang", "zh_CN"),
                "sent_at": time.time(),
            }
        )
        return {"errcode": 0, "errmsg": "ok", "msgid": msgid}

    # --- mini-program codes ---------------------------------------------------------------

    def wxacode_unlimit(self, body: dict[str, Any]) -> bytes:
        scene, page = body.get("scene"), body.get("page", "")
        if (
            not isinstance(scene, str)
            or not 0 < len(scene) <= SCENE_MAX_CHARS
            or not set(scene) <= _SCENE_CHARS
        ):
            raise Fail(40169, "invalid length for scene, or the data is not json string")
        if not isinstance(page, str) or page.startswith("/"):
            raise Fail(41030, "invalid page")
        if body.get("env_version", "release") not in ENV_VERSIONS:
            raise Fail(40097, "invalid args")
        width = body.get("width", 430)
        if not isinstance(width, int) or isinstance(width, bool):
            raise Fail(47001, "data format error hint: [width invalid]")
        width = min(max(width, 280), 1280)
        image = qrcode.make(f"{page}?scene={scene}", border=2).get_image()
        buffer = io.BytesIO()
        image.resize((width, width), resample=0).save(buffer, format="PNG")  # 0: nearest
        return buffer.getvalue()

    # --- control ------------------------------------------------------------------------

    def new_login_code(self, openid: str, unionid: str | None, ttl_secs: float) -> str:
        user = self.user(openid)
        if unionid:
            user.unionid = unionid
        code = secrets.token_hex(16)
        self.login_codes[code] = OneTimeCode(openid, self.clock() + ttl_secs, unionid)
        return code

    def new_phone_code(self, phone: str, ttl_secs: float) -> str:
        code = secrets.token_hex(16)
        self.phone_codes[code] = OneTimeCode(phone, self.clock() + ttl_secs)
        return code


def _value_fits(key: str, value: str) -> bool:
    kind = key.rstrip("0123456789")
    limit = VALUE_MAX_CHARS.get(kind)
    if kind == "name" and value.isascii():
        limit = 20
    if limit is not None and len(value) > limit:
        return False
    if kind == "number":
        return value.replace(".", "", 1).isdigit()
    if kind in ("letter", "character_string"):
        return value.isascii() and (value.isalpha() if kind == "letter" else value.isprintable())
    return True
