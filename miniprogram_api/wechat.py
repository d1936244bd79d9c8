"""The WeChat mini-program server API, wrapped for asyncio (DOMAIN.md "WeChat facts").

wechatpy 1.8.18 is synchronous, so every call runs in a bounded thread pool with a
timeout both on the ``requests`` call and on the await. wechatpy's own access-token
machinery (per-process memory storage, auto-refresh against the hard-coded
api.weixin.qq.com) is switched off: the token lives in Redis under
``shuwu:wechat:access_token`` and is shared by every process; this module fetches it
(``stable_token`` first, the classic ``cgi-bin/token`` under a Redis lock as a fallback)
and passes it explicitly on each call.

Secrets never leave: the AppSecret, ``session_key``, login codes and access tokens are
kept out of every log line, exception message and repr.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import redis.asyncio as aioredis
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException
from wechatpy.session import SessionStorage

if TYPE_CHECKING:
    from server.config import Settings

log = logging.getLogger("shuwu.wechat")

Suggest = Literal["pass", "review", "risky"]
EnvVersion = Literal["release", "trial", "develop"]


def wechat_key(name: str) -> str:
    """The one helper for this module's Redis keys (HOW_WE_BUILD §6)."""
    return f"shuwu:wechat:{name}"


ACCESS_TOKEN_KEY = wechat_key("access_token")
ACCESS_TOKEN_LOCK_KEY = wechat_key("access_token:lock")
# Drop our copy well before WeChat does, so a call never starts with a token about to die.
TOKEN_EXPIRY_MARGIN_SECS = 300
TOKEN_MIN_TTL_SECS = 60
TOKEN_LOCK_POLL_SECS = 0.05

# Our own error codes (WeChat's are 0 or positive, plus -1 "system busy").
ERR_BUSY = -1
ERR_NETWORK = -2  # timeout, refused connection, HTTP 5xx: nothing reached WeChat or it failed
ERR_BAD_RESPONSE = -3  # HTTP 4xx or a body we cannot use
TOKEN_INVALID_ERRCODES = frozenset({40001, 40014, 42001})
TRANSIENT_ERRCODES = frozenset({ERR_BUSY, ERR_NETWORK, 45009, 45011})
# Calls that change nothing on WeChat's side get one more try after busy / network errors.
IDEMPOTENT_RETRY_DELAYS_SECS = (0.2,)

MSG_SEC_CHECK_MAX_CHARS = 2500
# Chunks overlap so that a word cut by a chunk boundary is still seen whole once.
MSG_SEC_CHECK_OVERLAP_CHARS = 20
MSG_SEC_CHECK_SCENES = frozenset({1, 2, 3, 4})  # 资料, 评论, 论坛, 社交日志
_SUGGEST_RANK: dict[str, int] = {"pass": 0, "review": 1, "risky": 2}

SCENE_MAX_CHARS = 32
# WeChat's allowed scene characters: visible ASCII except '%', '"', space and a few others.
_SCENE_RE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]+")
WXACODE_WIDTH_RANGE = (280, 1280)
MINIPROGRAM_STATES = frozenset({"developer", "trial", "formal"})

# Subscribe-message field limits by key type (the key without its trailing number).
TEMPLATE_VALUE_MAX_CHARS: dict[str, int] = {
    "thing": 20,
    "short_thing": 5,
    "phrase": 5,
    "name": 10,
    "character_string": 32,
    "number": 32,
    "letter": 32,
}
ELLIPSIS = "…"


class WeChatError(Exception):
    """WeChat answered an error code, or could not be reached (``ERR_NETWORK``).

    ``errcode`` is WeChat's code (e.g. 40029 invalid code, 43101 user refused) or one of
    ours: -2 network/timeout, -3 unusable response. ``transient`` says a later retry
    may succeed.
    """

    errcode: int
    errmsg: str

    def __init__(self, errcode: int, errmsg: str, *, path: str = "") -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.path = path
        where = f" ({path})" if path else ""
        super().__init__(f"WeChat error {errcode}: {errmsg}{where}")

    @property
    def transient(self) -> bool:
        return self.errcode in TRANSIENT_ERRCODES

    def __repr__(self) -> str:
        return f"WeChatError({self.errcode}, {self.errmsg!r})"


@dataclass(frozen=True)
class WxSession:
    """What ``code2session`` returns. ``session_key`` never leaves the server."""

    openid: str
    unionid: str | None
    session_key: str = field(repr=False)


def fit_template_data(data: dict[str, str]) -> dict[str, dict[str, str]]:
    """Shape subscribe-message data as WeChat wants it, cut to each field type's limit.

    ``{"thing1": "…", "time2": "…"}`` → ``{"thing1": {"value": "…"}, …}``. The type is
    the key without its trailing digits; a ``thing`` too long ends in "…", the other
    limited types are cut (they allow no symbols); ``time``/``date`` and unknown types
    are kept. Pure function.
    """
    fitted: dict[str, dict[str, str]] = {}
    for key, raw in data.items():
        value = str(raw).strip()
        kind = key.rstrip("0123456789")
        limit = TEMPLATE_VALUE_MAX_CHARS.get(kind)
        if limit is not None and len(value) > limit:
            value = value[: limit - 1] + ELLIPSIS if kind == "thing" else value[:limit]
        fitted[key] = {"value": value}
    return fitted


def split_for_check(content: str) -> list[str]:
    """Overlapping chunks of at most ``MSG_SEC_CHECK_MAX_CHARS`` characters. Pure function."""
    if len(content) <= MSG_SEC_CHECK_MAX_CHARS:
        return [content]
    step = MSG_SEC_CHECK_MAX_CHARS - MSG_SEC_CHECK_OVERLAP_CHARS
    chunks = []
    for start in range(0, len(content), step):
        chunks.append(content[start : start + MSG_SEC_CHECK_MAX_CHARS])
        if start + MSG_SEC_CHECK_MAX_CHARS >= len(content):
            break
    return chunks


def validate_scene(scene: str) -> None:
    """Raise ValueError unless ``scene`` is 1–32 of WeChat's allowed ASCII characters."""
    if not scene or len(scene) > SCENE_MAX_CHARS:
        raise ValueError(f"scene must be 1 to {SCENE_MAX_CHARS} characters, got {len(scene)}")
    if not _SCENE_RE.fullmatch(scene):
        raise ValueError(
            "scene may hold only ASCII letters, digits and !#$&'()*+,/:;=?@-._~ (no Chinese, no %)"
        )


# --- keeping secrets out of logs ------------------------------------------------------------

_SECRET_PARAM_RE = re.compile(r"((?:secret|js_code|access_token|session_key)=)[^&\s\"']+")


class _RedactSecrets(logging.Filter):
    """urllib3 logs every request URL at DEBUG, query string included (AppSecret, code)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _SECRET_PARAM_RE.sub(r"\1***", message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        return True


_redaction_lock = threading.Lock()


def _install_redaction() -> None:
    with _redaction_lock:
        for name in ("urllib3.connectionpool", "wechatpy", "wechatpy.client.base"):
            logger = logging.getLogger(name)
            if not any(isinstance(f, _RedactSecrets) for f in logger.filters):
                logger.addFilter(_RedactSecrets())


# --- wechatpy, tamed --------------------------------------------------------------------------


class _NoStorage(SessionStorage):  # type: ignore[misc]
    """wechatpy's token storage, disabled: tokens live in Redis and are passed per call."""

    def get(self, key: str, default: Any = None) -> Any:
        return default

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        return None

    def delete(self, key: str) -> None:
        return None


class _Client(WeChatClient):  # type: ignore[misc]
    """wechatpy's client with its token machinery off. ``access_token`` is None, so
    ``requests`` drops the parameter on calls that need none (code2session,
    stable_token); the others pass ``params={"access_token": ...}`` themselves."""

    @property
    def access_token(self) -> None:
        return None

    def fetch_access_token(self) -> None:
        raise RuntimeError("the access token comes from WeChat.access_token (Redis), not wechatpy")


_TOKEN_CAS_DELETE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class WeChat:
    """The mini-program's server API (one per process; safe to share between tasks).

    Every method raises ``WeChatError`` for an error code from WeChat or a network
    failure (``errcode`` -2, ``transient``), and ``ValueError`` for input WeChat would
    reject, before any call. A call whose access token WeChat calls invalid (40001,
    40014, 42001) is retried once with a fresh token.
    """

    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        api_base: str,
        redis: aioredis.Redis,
        timeout_secs: float,
        threads: int,
    ) -> None:
        self._appid = appid
        self._secret = secret
        self._base = api_base.rstrip("/") + "/"
        self._redis = redis
        self._timeout = timeout_secs
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="wechat")
        self._local = threading.local()
        self._clients: list[_Client] = []
        self._clients_lock = threading.Lock()
        self._refreshing = asyncio.Lock()
        self._token_cas_delete = redis.register_script(_TOKEN_CAS_DELETE)
        _install_redaction()

    @classmethod
    def from_settings(cls, settings: Settings, redis: aioredis.Redis) -> WeChat:
        return cls(
            appid=settings.wechat_appid,
            secret=settings.wechat_secret,
            api_base=settings.wechat_api_base,
            redis=redis,
            timeout_secs=settings.wechat_timeout_secs,
            threads=settings.wechat_threads,
        )

    def __repr__(self) -> str:
        return f"WeChat(appid={self._appid!r}, api_base={self._base!r})"

    async def close(self) -> None:
        """Stop the thread pool (waiting for calls in flight) and close the HTTP sessions."""
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=True)
        with self._clients_lock:
            for client in self._clients:
                client._http.close()
            self._clients.clear()

    # --- login and phone ------------------------------------------------------------------

    async def code2session(self, code: str) -> WxSession:
        """Exchange a ``wx.login`` code. Never retried: a code works once (40029 after)."""
        if not code:
            raise ValueError("code is empty")
        result = await self._run("GET", "sns/jscode2session", _code_to_session(code))
        try:
            return WxSession(
                openid=str(result["openid"]),
                unionid=result.get("unionid") or None,
                session_key=str(result["session_key"]),
            )
        except (KeyError, TypeError):
            raise WeChatError(
                ERR_BAD_RESPONSE,
                "jscode2session answered without openid",
                path="sns/jscode2session",
            ) from None

    async def phone_number(self, code: str) -> str:
        """The phone number (without country code) behind a ``getPhoneNumber`` code."""
        if not code:
            raise ValueError("code is empty")
        path = "wxa/business/getuserphonenumber"
        result = await self._call(path, {"code": code})
        try:
            return str(result["phone_info"]["purePhoneNumber"])
        except (KeyError, TypeError):
            raise WeChatError(
                ERR_BAD_RESPONSE, "no phone_info.purePhoneNumber", path=path
            ) from None

    # --- content, messages, codes ---------------------------------------------------------

    async def msg_sec_check(self, *, openid: str, content: str, scene: int) -> Suggest:
        """WeChat's text check (v2). Long text is checked in overlapping chunks; the
        worst ``suggest`` wins. ``openid`` must have used the mini-program in the last
        2 hours (else 40003). Empty text passes without a call."""
        if scene not in MSG_SEC_CHECK_SCENES:
            raise ValueError(f"scene must be one of {sorted(MSG_SEC_CHECK_SCENES)}")
        if not content.strip():
            return "pass"
        worst: Suggest = "pass"
        for chunk in split_for_check(content):
            body = {"content": chunk, "version": 2, "scene": scene, "openid": openid}
            result = await self._call("wxa/msg_sec_check", body, idempotent=True)
            suggest = _suggest_of(result)
            if _SUGGEST_RANK[suggest] > _SUGGEST_RANK[worst]:
                worst = suggest
            if worst == "risky":
                break
        return worst

    async def send_subscribe(
        self, *, openid: str, template_id: str, data: dict[str, str], page: str, state: str
    ) -> None:
        """Send one subscribe message (consumes one user consent). ``data`` is fitted by
        ``fit_template_data``; ``state`` is developer / trial / formal. Not retried:
        43101 means the user has no consent left."""
        if state not in MINIPROGRAM_STATES:
            raise ValueError(f"state must be one of {sorted(MINIPROGRAM_STATES)}")
        body = {
            "touser": openid,
            "template_id": template_id,
            "page": page,
            "data": fit_template_data(data),
            "miniprogram_state": state,
            "lang": "zh_CN",
        }
        await self._call("cgi-bin/message/subscribe/send", body)

    async def wxacode_unlimit(
        self, *, scene: str, page: str, env_version: str, width: int = 430
    ) -> bytes:
        """A mini-program code image (PNG bytes) opening ``page`` with ``scene``.

        ``scene``: 1–32 ASCII characters (ValueError otherwise, before any call).
        ``check_path`` is on only for ``release`` (trial/develop pages may be unpublished).
        """
        validate_scene(scene)
        if env_version not in ("release", "trial", "develop"):
            raise ValueError("env_version must be release, trial or develop")
        if page.startswith("/"):
            raise ValueError("page must not start with '/'")
        if not WXACODE_WIDTH_RANGE[0] <= width <= WXACODE_WIDTH_RANGE[1]:
            raise ValueError(f"width must be within {WXACODE_WIDTH_RANGE}")
        path = "wxa/getwxacodeunlimit"
        body = {
            "scene": scene,
            "page": page,
            "check_path": env_version == "release",
            "env_version": env_version,
            "width": width,
        }
        result = await self._call(path, body, idempotent=True)
        if isinstance(result, requests.Response) and result.headers.get(
            "Content-Type", ""
        ).startswith("image/"):
            return bytes(result.content)
        raise WeChatError(ERR_BAD_RESPONSE, "expected an image", path=path)

    # --- the access token -----------------------------------------------------------------

    async def access_token(self) -> str:
        """The app's access token, shared by every process through Redis."""
        cached = await self._cached_token()
        if cached:
            return cached
        async with self._refreshing:  # one fetch per process; the Redis lock covers the rest
            return await self._cached_token() or await self._refresh_token()

    async def _cached_token(self) -> str | None:
        value = await self._redis.get(ACCESS_TOKEN_KEY)
        if isinstance(value, bytes):
            value = value.decode()
        return value or None

    async def _refresh_token(self) -> str:
        """Fetch a token while holding the Redis lock; other processes wait and re-read."""
        holder = secrets.token_hex(8)
        lock_ms = int(self._timeout * 4 * 1000)  # two calls and a retry, with margin
        deadline = time.monotonic() + self._timeout * 4
        while True:
            if await self._redis.set(ACCESS_TOKEN_LOCK_KEY, holder, nx=True, px=lock_ms):
                try:
                    cached = await self._cached_token()
                    if cached:
                        return cached
                    token, expires_in = await self._fetch_token()
                    ttl = max(expires_in - TOKEN_EXPIRY_MARGIN_SECS, TOKEN_MIN_TTL_SECS)
                    await self._redis.set(ACCESS_TOKEN_KEY, token, ex=ttl)
                    return token
                finally:
                    await self._token_cas_delete(keys=[ACCESS_TOKEN_LOCK_KEY], args=[holder])
            if time.monotonic() > deadline:
                raise WeChatError(
                    ERR_BUSY, "busy: another process is still fetching the access token"
                )
            await asyncio.sleep(TOKEN_LOCK_POLL_SECS)
            cached = await self._cached_token()
            if cached:
                return cached

    async def _fetch_token(self) -> tuple[str, int]:
        """``stable_token`` (same token for every caller while valid); on a WeChat error
        code, the classic ``cgi-bin/token`` (which ends older classic tokens)."""
        body = {
            "grant_type": "client_credential",
            "appid": self._appid,
            "secret": self._secret,
            "force_refresh": False,
        }
        try:
            result = await self._run(
                "POST", "cgi-bin/stable_token", _request("post", "cgi-bin/stable_token", {}, body)
            )
        except WeChatError as exc:
            if exc.errcode == ERR_NETWORK:
                raise
            log.warning(
                "wechat stable_token failed (errcode=%d); falling back to cgi-bin/token",
                exc.errcode,
            )
            params = {
                "grant_type": "client_credential",
                "appid": self._appid,
                "secret": self._secret,
            }
            result = await self._run(
                "GET", "cgi-bin/token", _request("get", "cgi-bin/token", params, None)
            )
        try:
            return str(result["access_token"]), int(result.get("expires_in", 7200))
        except (KeyError, TypeError, ValueError):
            raise WeChatError(ERR_BAD_RESPONSE, "token answer without access_token") from None

    async def _drop_token(self, token: str) -> None:
        """Forget ``token`` unless another process has already replaced it."""
        await self._token_cas_delete(keys=[ACCESS_TOKEN_KEY], args=[token])

    # --- calling ------------------------------------------------------------------------

    async def _call(self, path: str, body: dict[str, Any], *, idempotent: bool = False) -> Any:
        """POST ``body`` to a token-protected ``path``: once more with a fresh token after
        40001/40014/42001; once more after busy/network errors if ``idempotent``."""
        token_retried = False
        delays = list(IDEMPOTENT_RETRY_DELAYS_SECS) if idempotent else []
        while True:
            token = await self.access_token()
            try:
                return await self._run(
                    "POST", path, _request("post", path, {"access_token": token}, body)
                )
            except WeChatError as exc:
                if exc.errcode in TOKEN_INVALID_ERRCODES and not token_retried:
                    token_retried = True
                    log.info(
                        "wechat %s: access token rejected (errcode=%d); refreshing",
                        path,
                        exc.errcode,
                    )
                    await self._drop_token(token)
                    continue
                if delays and exc.errcode in (ERR_BUSY, ERR_NETWORK):
                    await asyncio.sleep(delays.pop(0))
                    continue
                raise

    async def _run(self, method: str, path: str, call: Callable[[_Client], Any]) -> Any:
        """Run one wechatpy call in the pool, log it, map every failure to ``WeChatError``."""
        loop = asyncio.get_running_loop()
        started = time.monotonic()
        error: WeChatError | None = None
        result: Any = None
        try:
            future = loop.run_in_executor(self._pool, self._in_thread, call)
            result = await asyncio.wait_for(future, self._timeout)
        except WeChatClientException as exc:
            error = self._from_wechatpy(exc, path)
        except (TimeoutError, requests.Timeout):
            error = WeChatError(
                ERR_NETWORK, f"network: no answer within {self._timeout:g}s", path=path
            )
        except requests.RequestException as exc:
            error = WeChatError(ERR_NETWORK, f"network: {type(exc).__name__}", path=path)
        if error is not None:
            errcode = error.errcode
        else:
            errcode = int(result.get("errcode", 0)) if isinstance(result, dict) else 0
        log.info(
            "wechat %s /%s errcode=%d %.0fms",
            method,
            path,
            errcode,
            (time.monotonic() - started) * 1000,
        )
        if error is not None:
            # raised outside the except blocks, so not chained: wechatpy's and requests'
            # exceptions carry the request URL, AppSecret and code included
            raise error
        return result

    def _in_thread(self, call: Callable[[_Client], Any]) -> Any:
        return call(self._thread_client())

    def _thread_client(self) -> _Client:
        client: _Client | None = getattr(self._local, "client", None)
        if client is None:
            client = _Client(
                self._appid,
                self._secret,
                session=_NoStorage(),
                timeout=self._timeout,
                auto_retry=False,
            )
            client.API_BASE_URL = self._base
            client.wxa.API_BASE_URL = self._base  # wechatpy's wxa API has its own base URL
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def _from_wechatpy(self, exc: WeChatClientException, path: str) -> WeChatError:
        if exc.errcode is None:  # an HTTP status error
            status = getattr(exc.response, "status_code", None)
            if status is None or status >= 500:
                return WeChatError(ERR_NETWORK, f"network: HTTP {status}", path=path)
            return WeChatError(ERR_BAD_RESPONSE, f"HTTP {status}", path=path)
        errmsg = str(exc.errmsg)
        if self._secret:
            errmsg = errmsg.replace(self._secret, "***")
        return WeChatError(int(exc.errcode), errmsg, path=path)


def _request(
    method: str, path: str, params: dict[str, Any], body: dict[str, Any] | None
) -> Callable[[_Client], Any]:
    return functools.partial(_send, method, path, params, body)


def _send(
    method: str, path: str, params: dict[str, Any], body: dict[str, Any] | None, client: _Client
) -> Any:
    kwargs: dict[str, Any] = {"params": params}
    if body is not None:
        kwargs["data"] = body  # wechatpy sends a dict as UTF-8 JSON
    return client.get(path, **kwargs) if method == "get" else client.post(path, **kwargs)


def _code_to_session(code: str) -> Callable[[_Client], Any]:
    def call(client: _Client) -> Any:
        return client.wxa.code_to_session(code)

    return call


def _suggest_of(result: Any) -> Suggest:
    """``result.suggest``; anything we do not recognise goes to a person ("review")."""
    suggest = result.get("result", {}).get("suggest") if isinstance(result, dict) else None
    if suggest == "pass":
        return "pass"
    if suggest == "risky":
        return "risky"
    return "review"
