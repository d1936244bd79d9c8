"""server/config.py: one validated Settings; bad configuration fails naming the variable."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from server.config import ENV_PREFIX, ConfigError, Settings, describe_settings, load_settings
from server.district import JINNAN

ROOT = Path(__file__).resolve().parents[1]
KEY_A = base64.b64encode(b"A" * 32).decode()
KEY_B = base64.b64encode(b"B" * 32).decode()
GOOD_SECRETS = {
    "SHUWU_COOKIE_SECRET": "c" * 40,
    "SHUWU_DATA_KEY": KEY_A,
    "SHUWU_BLIND_INDEX_KEY": KEY_B,
    "SHUWU_WECHAT_APPID": "wx1234567890abcdef",
    "SHUWU_WECHAT_SECRET": "s" * 32,
}


def config_error(environ: dict[str, str], **overrides: object) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ, **overrides)
    return str(caught.value)


def test_defaults_load_with_an_empty_environment() -> None:
    settings = load_settings({})
    assert settings.mode == "development"
    assert settings.port == 8888
    assert settings.district == JINNAN
    assert settings.login_max_failures >= 1
    # Development fills usable secrets so `ops/run` works with no configuration.
    assert len(settings.cookie_secret) >= 32
    assert len(base64.b64decode(settings.data_key)) == 32
    assert len(base64.b64decode(settings.blind_index_key)) == 32
    assert settings.data_key != settings.blind_index_key


def test_environment_variables_are_read_and_coerced() -> None:
    settings = load_settings({
        "SHUWU_PORT": "9100", "SHUWU_MONGO_DB": "shuwu_x", "SHUWU_LOGIN_MAX_FAILURES": "3",
        "SHUWU_LOG_LEVEL": "DEBUG", "UNRELATED": "ignored", "SHUWU_OUTBOUND_TIMEOUT_SECS": "2.5",
    })
    assert (settings.port, settings.mongo_db, settings.login_max_failures) == (9100, "shuwu_x", 3)
    assert settings.log_level == "DEBUG"
    assert settings.outbound_timeout_secs == 2.5


def test_overrides_win_over_the_environment() -> None:
    assert load_settings({"SHUWU_PORT": "9100"}, port=9200).port == 9200


def test_settings_are_frozen() -> None:
    settings = load_settings({})
    with pytest.raises(ValidationError):
        settings.port = 1  # type: ignore[misc]


def test_production_without_secrets_names_each_variable() -> None:
    message = config_error({"SHUWU_MODE": "production"})
    for var in ("SHUWU_COOKIE_SECRET", "SHUWU_DATA_KEY", "SHUWU_BLIND_INDEX_KEY", "SHUWU_WECHAT_APPID",
                "SHUWU_WECHAT_SECRET"):
        assert var in message


def test_production_names_only_the_missing_secret() -> None:
    env = {"SHUWU_MODE": "production", **GOOD_SECRETS}
    del env["SHUWU_DATA_KEY"]
    message = config_error(env)
    assert "SHUWU_DATA_KEY" in message
    assert "SHUWU_COOKIE_SECRET" not in message and "SHUWU_BLIND_INDEX_KEY" not in message


def test_production_with_secrets_uses_them_not_the_dev_defaults() -> None:
    settings = load_settings({"SHUWU_MODE": "production", **GOOD_SECRETS})
    dev = load_settings({})
    assert settings.mode == "production"
    assert settings.data_key == KEY_A and settings.blind_index_key == KEY_B
    assert settings.cookie_secret != dev.cookie_secret and settings.data_key != dev.data_key


@pytest.mark.parametrize("port", ["abc", "70000", "-1", "80.5"])
def test_bad_port_names_shuwu_port(port: str) -> None:
    assert "SHUWU_PORT" in config_error({"SHUWU_PORT": port})


@pytest.mark.parametrize(
    "key",
    [
        base64.b64encode(b"x" * 16).decode(),  # AES-128 length, not 256
        base64.b64encode(b"x" * 33).decode(),
        "not base64 at all!",
    ],
)
def test_bad_data_key_names_shuwu_data_key(key: str) -> None:
    message = config_error({"SHUWU_DATA_KEY": key})
    assert "SHUWU_DATA_KEY" in message
    assert "SHUWU_BLIND_INDEX_KEY" not in message


def test_bad_blind_index_key_names_its_variable() -> None:
    message = config_error({"SHUWU_BLIND_INDEX_KEY": base64.b64encode(b"short").decode()})
    assert "SHUWU_BLIND_INDEX_KEY" in message


def test_short_cookie_secret_is_refused() -> None:
    assert "SHUWU_COOKIE_SECRET" in config_error({"SHUWU_COOKIE_SECRET": "too-short"})


def test_several_bad_variables_are_all_named() -> None:
    message = config_error({"SHUWU_PORT": "x", "SHUWU_LOG_LEVEL": "LOUD", "SHUWU_MODE": "staging"})
    for var in ("SHUWU_PORT", "SHUWU_LOG_LEVEL", "SHUWU_MODE"):
        assert var in message


def test_unknown_override_is_refused() -> None:
    assert "SHUWU_NO_SUCH_SETTING" in config_error({}, no_such_setting=1)


SMALL_DISTRICT = {
    "name": "示例县",
    "code": "SL",
    "bbox": {"min_lat": 30.0, "max_lat": 30.5, "min_lng": 120.0, "max_lng": 120.5},
    "towns": [
        {"name": "城关镇", "code": "CG", "lat": 30.2, "lng": 120.2},
        {"name": "东街道", "code": "DJ", "kind": "街道", "lat": 30.3, "lng": 120.3},
    ],
    "standards": {"min_area_m2": 30, "min_open_days": 6, "min_daily_hours": 3},
}


def test_district_json_override() -> None:
    settings = load_settings({"SHUWU_DISTRICT": json.dumps(SMALL_DISTRICT, ensure_ascii=False)})
    district = settings.district
    assert district.name == "示例县" and district.code == "SL"
    assert [t.name for t in district.towns] == ["城关镇", "东街道"]
    assert district.town("城关镇").code == "CG"  # type: ignore[union-attr]
    assert district.town("咸水沽镇") is None
    assert district.bbox.contains(30.25, 120.25) and not district.bbox.contains(39.0, 117.4)
    assert district.standards.min_open_days == 6
    assert district.room_code_pattern == r"^SL-[A-Z]{2,4}-\d{3}$"


@pytest.mark.parametrize(
    "value",
    [
        "{not json",
        json.dumps({**SMALL_DISTRICT, "code": "lower"}),
        json.dumps({**SMALL_DISTRICT, "towns": SMALL_DISTRICT["towns"] * 2}),  # duplicate towns
        json.dumps({k: v for k, v in SMALL_DISTRICT.items() if k != "bbox"}),
    ],
)
def test_bad_district_json_names_shuwu_district(value: str) -> None:
    assert "SHUWU_DISTRICT" in config_error({"SHUWU_DISTRICT": value})


def test_describe_settings_lists_every_field_with_a_description() -> None:
    rows = describe_settings()
    variables = [var for var, _, _ in rows]
    assert variables == [ENV_PREFIX + name.upper() for name in Settings.model_fields]
    assert len(set(variables)) == len(variables)
    for var, _default, description in rows:
        assert description.strip(), f"{var} has no description"
    defaults = {var: default for var, default, _ in rows}
    assert defaults["SHUWU_PORT"] == "8888"
    assert defaults["SHUWU_DISTRICT"] == JINNAN.name
    # Secrets have no default to show.
    assert defaults["SHUWU_COOKIE_SECRET"] == "" and defaults["SHUWU_DATA_KEY"] == ""


def test_config_command_prints_every_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "config"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    for var, _, _ in describe_settings():
        assert var in result.stdout


def test_bad_configuration_stops_start_up_naming_the_variable() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "serve"], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env={"PATH": "/usr/bin:/bin", "SHUWU_MODE": "production"},
    )
    assert result.returncode == 2
    assert "SHUWU_COOKIE_SECRET" in result.stderr
    assert "Traceback" not in result.stderr
