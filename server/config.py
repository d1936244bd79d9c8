"""One validated Settings model, built once from ``SHUWU_*`` environment variables.

Nothing else in shuwu reads ``os.environ``. Every field is described, so
``python -m server config`` lists every variable. In production mode secrets
have no defaults; bad configuration fails at start-up naming the variable.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from server.district import JINNAN, District

ENV_PREFIX = "SHUWU_"
# Used only outside production so `ops/run` works with no configuration at all.
_DEV_COOKIE_SECRET = "dev-only-cookie-secret-change-me-0123456789abcdef"
_DEV_DATA_KEY = base64.b64encode(b"dev-only-data-key-32-bytes-long!").decode()
# The local fake WeChat server (ops/fake_wechat) accepts these; real WeChat does not.
DEV_WECHAT_APPID = "wx0000000000000dev"
DEV_WECHAT_SECRET = "dev-only-wechat-secret-0123456789"
_DEV_BLIND_INDEX_KEY = base64.b64encode(b"dev-only-blind-index-key-32bytes").decode()


class ConfigError(Exception):
    """Configuration is missing or invalid; the message names the variable."""


class Settings(BaseModel):
    """Every setting shuwu reads, with its environment variable ``SHUWU_<NAME>``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["development", "production", "test"] = Field(
        "development", description="production demands real secrets and disables demo shortcuts"
    )
    host: str = Field("127.0.0.1", description="address the web server listens on")
    port: int = Field(8888, ge=0, le=65535, description="port the web server listens on (0 = any free port)")
    public_url: str = Field("", description="external base URL, e.g. https://shuwu.jinnan.gov.cn (for links in messages)")
    mongo_url: str = Field(
        "mongodb://127.0.0.1:27017/?directConnection=true",
        description="MongoDB connection string; production needs a replica set (transactions)",
    )
    mongo_db: str = Field("shuwu", description="database name")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL (cache, sessions, rate limits, job queue)")
    cookie_secret: str = Field(
        "", description="secret that signs page cookies (≥ 32 characters); required in production"
    )
    data_key: str = Field(
        "", description="base64 AES-256 key that encrypts personal data at rest; required in production"
    )
    blind_index_key: str = Field(
        "", description="base64 HMAC key for lookup of encrypted fields; required in production"
    )
    api_token_ttl_secs: int = Field(12 * 3600, ge=60, description="lifetime of a staff API token")
    page_session_ttl_secs: int = Field(7 * 24 * 3600, ge=60, description="lifetime of a page log-in (phones stay logged in)")
    login_max_failures: int = Field(5, ge=1, description="failed log-ins before an account is locked")
    login_lockout_secs: int = Field(15 * 60, ge=1, description="how long a lock-out lasts")
    max_body_bytes: int = Field(1 * 1024 * 1024, ge=1024, description="largest request body accepted")
    shutdown_deadline_secs: float = Field(10.0, ge=0, description="time in-flight requests get on SIGTERM")
    wechat_appid: str = Field("", description="mini-program AppID; required in production")
    wechat_secret: str = Field("", description="mini-program AppSecret; required in production, never logged")
    wechat_api_base: str = Field("https://api.weixin.qq.com", description="WeChat API base URL (tests: the local fake)")
    wechat_timeout_secs: float = Field(8.0, gt=0, description="timeout of one call to the WeChat API")
    wechat_threads: int = Field(8, ge=1, le=64, description="threads that run wechatpy's blocking calls")
    wechat_templates: dict[str, str] = Field(
        default_factory=dict,
        description="subscribe-message template ids as JSON, by event: hold_ready, due_tomorrow, overdue, "
                    "suggestion_status, challenge_milestone, contest_result, prize_won, rating_result")
    miniprogram_state: Literal["developer", "trial", "formal"] = Field(
        "formal", description="which mini-program version a subscribe message opens")
    wxacode_env_version: Literal["release", "trial", "develop"] = Field(
        "release", description="which mini-program version a room QR code opens")
    mp_session_ttl_secs: int = Field(30 * 24 * 3600, ge=60, description="lifetime of a mini-program log-in")
    mp_login_per_minute: int = Field(
        120, ge=1, description="mini-program log-ins allowed per client address per minute (mobile carriers "
                               "put a whole village behind one address)")
    mp_writes_per_minute: int = Field(60, ge=1, description="mini-program writes allowed per account per minute")
    routing_osrm_url: str = Field(
        "", description="base URL of an OSRM server for road distances in delivery routes (e.g. "
                        "http://osrm.internal:5000); empty: straight-line distance × a circuity factor")
    training_refresher_hours: float = Field(
        8.0, ge=0, le=200, description="training hours each room administrator must complete per calendar year "
                                       "(the yearly refresher); 0: no refresher requirement")
    training_qr_step_secs: int = Field(30, ge=10, le=300, description="how often the attendance QR code changes")
    ratings_publicity_days: int = Field(5, ge=1, le=30, description="working days a rating shortlist is on public notice (公示)")
    map_tiles_url: str = Field(
        "", description="a map tile URL template for the console's district map, e.g. a 天地图 WMTS/XYZ URL with "
                        "{z}/{x}/{y} (and the provider's key); empty: the map is drawn from shuwu's own data, no tiles")
    map_tiles_attribution: str = Field("", description="the tile provider's attribution, shown on the map")
    stats_cache_secs: int = Field(
        300, ge=0, le=86400, description="how long the console's district figures are reused before they are "
                                         "computed again (0: every time)")
    outbound_timeout_secs: float = Field(10.0, gt=0, description="read timeout for outbound HTTP calls")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="log level")
    district: District = Field(JINNAN, description="the district served, as JSON (default: Jinnan, Tianjin)")

    @field_validator("wechat_templates", mode="before")
    @classmethod
    def _templates_json(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("district", mode="before")
    @classmethod
    def _district_json(cls, value: object) -> object:
        if isinstance(value, str):
            return json.loads(value)
        return value

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        if self.mode == "production":
            missing = [n for n in ("cookie_secret", "data_key", "blind_index_key", "wechat_appid", "wechat_secret")
                       if not getattr(self, n)]
            if missing:
                names = ", ".join(ENV_PREFIX + n.upper() for n in missing)
                raise ValueError(f"production mode requires {names}")
        else:
            # frozen model: fill development defaults through object.__setattr__
            for name, dev in (
                ("cookie_secret", _DEV_COOKIE_SECRET),
                ("data_key", _DEV_DATA_KEY),
                ("blind_index_key", _DEV_BLIND_INDEX_KEY),
                ("wechat_appid", DEV_WECHAT_APPID),
                ("wechat_secret", DEV_WECHAT_SECRET),
            ):
                if not getattr(self, name):
                    object.__setattr__(self, name, dev)
        if len(self.cookie_secret) < 32:
            raise ValueError(f"{ENV_PREFIX}COOKIE_SECRET must be at least 32 characters")
        for name in ("data_key", "blind_index_key"):
            try:
                key = base64.b64decode(getattr(self, name), validate=True)
            except ValueError as exc:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} is not base64") from exc
            if len(key) != 32:
                raise ValueError(f"{ENV_PREFIX}{name.upper()} must decode to 32 bytes")
        return self


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build Settings from ``environ`` (default ``os.environ``) plus explicit overrides.

    Raises ConfigError naming each bad variable.
    """
    env = os.environ if environ is None else environ
    values: dict[str, object] = {
        name: env[ENV_PREFIX + name.upper()]
        for name in Settings.model_fields
        if ENV_PREFIX + name.upper() in env
    }
    values.update(overrides)
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = [str(p) for p in err["loc"]]
            var = ENV_PREFIX + loc[0].upper() if loc else "configuration"
            lines.append(f"{var}{'.' + '.'.join(loc[1:]) if len(loc) > 1 else ''}: {err['msg']}")
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines)) from None


def describe_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting — the README's table and `python -m server config`."""
    rows = []
    for name, info in Settings.model_fields.items():
        default = info.default_factory() if info.default_factory is not None else info.default  # type: ignore[call-arg]
        if isinstance(default, District):
            default = default.name
        rows.append((ENV_PREFIX + name.upper(), "" if default is None else str(default), info.description or ""))
    return rows
