"""Staff log-in against the real stack: tokens, lock-out, log-out, password change, deactivation.

Each test makes its own accounts through the API, so lock-outs and revocations in
one test never touch another.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.conftest import Session, login

PASSWORD = "书屋-correct-horse"


async def make_account(client: Any, admin: Session, role: str = "district_staff", **extra: Any) -> dict[str, Any]:
    username = f"u{uuid.uuid4().hex[:10]}"
    body = {"username": username, "name": "测试账号", "password": PASSWORD, "role": role, **extra}
    response = await client.post("/api/v1/staff", headers=admin.headers, json=body)
    assert response.status_code == 201, response.text
    return {**response.json(), "password": PASSWORD}


async def try_login(client: Any, username: str, password: str) -> Any:
    return await client.post("/api/v1/auth/token", json={"username": username, "password": password})


async def me(client: Any, token: str) -> Any:
    return await client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
def admin(as_role: dict[str, Session]) -> Session:
    return as_role["district_admin"]


async def test_token_log_in_and_me(client, admin, deps) -> None:
    account = await make_account(client, admin, phone="13512349876")
    started = datetime.now(UTC)
    response = await try_login(client, account["username"], PASSWORD)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_type"] == "Bearer" and len(body["token"]) >= 40
    expires = datetime.fromisoformat(body["expires_at"])
    ttl = timedelta(seconds=deps.settings.api_token_ttl_secs)
    assert started + ttl - timedelta(seconds=5) <= expires <= datetime.now(UTC) + ttl + timedelta(seconds=5)
    assert body["staff"]["username"] == account["username"] and body["staff"]["phone"] == "135****9876"
    assert "password" not in response.text and "hash" not in response.text

    who = await me(client, body["token"])
    assert who.status_code == 200
    assert who.json() == body["staff"] == {k: v for k, v in account.items() if k != "password"}

    entry = await deps.db.audit.find_one({"action": "auth.login", "target_id": account["id"]})
    assert entry is not None and entry["actor"] == account["username"]
    assert entry["request_id"] == response.headers["X-Request-Id"]


async def test_username_is_case_and_space_insensitive(client, admin) -> None:
    account = await make_account(client, admin)
    response = await try_login(client, f"  {account['username'].upper()} ", PASSWORD)
    assert response.status_code == 201
    assert response.json()["staff"]["id"] == account["id"]


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer"}, {"Authorization": "Bearer not-a-real-token"},
     {"Authorization": "Basic YWRtaW46c2h1d3UtMjAyNg=="}, {"Authorization": "Bearer " + "x" * 500}],
)
async def test_me_without_a_valid_token_is_401(client, headers) -> None:
    response = await client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_wrong_password_and_unknown_user_get_the_same_answer(client, admin, deps) -> None:
    account = await make_account(client, admin)
    before = await deps.db.audit.count_documents({})
    wrong = await try_login(client, account["username"], "not-the-password")
    unknown = await try_login(client, f"nobody-{uuid.uuid4().hex[:8]}", "not-the-password")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["code"] == unknown.json()["code"] == "bad_credentials"
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["errors"] == unknown.json()["errors"] == []
    assert "token" not in wrong.json()
    assert await deps.db.audit.count_documents({}) == before  # no log-in happened


@pytest.mark.parametrize(
    "body",
    [{}, {"username": "admin"}, {"password": "x"}, {"username": "", "password": "x"},
     {"username": "admin", "password": "shuwu-2026", "remember": True}],
)
async def test_malformed_log_in_is_422(client, body) -> None:
    response = await client.post("/api/v1/auth/token", json=body)
    assert response.status_code == 422
    assert all(e["loc"][0] == "body" for e in response.json()["errors"])


async def test_lock_out_after_max_failures(client, admin, deps) -> None:
    account = await make_account(client, admin)
    limit = deps.settings.login_max_failures
    for attempt in range(1, limit):
        response = await try_login(client, account["username"], f"wrong-{attempt}")
        assert response.status_code == 401, attempt
    # The attempt that reaches the limit locks the account (it may say so at once).
    assert (await try_login(client, account["username"], "wrong-last")).status_code in (401, 429)

    locked = await try_login(client, account["username"], PASSWORD)  # the right password
    assert locked.status_code == 429, locked.text
    assert locked.json()["code"] == "locked_out"
    retry = int(locked.headers["Retry-After"])
    assert 0 < retry <= deps.settings.login_lockout_secs
    assert "token" not in locked.json()
    # Still locked; other accounts are not.
    assert (await try_login(client, account["username"], PASSWORD)).status_code == 429
    other = await make_account(client, admin)
    assert (await try_login(client, other["username"], PASSWORD)).status_code == 201


async def test_lock_out_applies_to_unknown_users_too(client, deps) -> None:
    username = f"ghost-{uuid.uuid4().hex[:8]}"
    for _ in range(deps.settings.login_max_failures):
        await try_login(client, username, "guess")
    response = await try_login(client, username, "guess")
    assert response.status_code == 429 and "Retry-After" in response.headers


async def test_success_before_the_limit_resets_the_counter(client, admin, deps) -> None:
    account = await make_account(client, admin)
    limit = deps.settings.login_max_failures
    for _round in range(2):
        for attempt in range(limit - 1):
            response = await try_login(client, account["username"], f"wrong-{attempt}")
            assert response.status_code == 401
        assert (await try_login(client, account["username"], PASSWORD)).status_code == 201
    # Had the counter not been reset, 2 × (limit − 1) ≥ limit failures would have locked the account.


async def test_warning_before_lock_out(client, admin, deps) -> None:
    account = await make_account(client, admin)
    limit = deps.settings.login_max_failures
    details = [(await try_login(client, account["username"], "nope")).json()["detail"] for _ in range(limit - 1)]
    for failures, detail in enumerate(details, start=1):
        left = limit - failures
        assert (f"再错 {left} 次" in detail) == (left <= 2), detail


async def test_log_out_revokes_only_that_token(client, admin) -> None:
    account = await make_account(client, admin)
    first = await login(client, account["username"], PASSWORD)
    second = await login(client, account["username"], PASSWORD)
    assert first.token != second.token
    response = await client.delete("/api/v1/auth/token", headers=first.headers)
    assert response.status_code == 204 and response.content == b""
    assert (await me(client, first.token)).status_code == 401
    assert (await me(client, second.token)).status_code == 200
    # Logging out again with the dead token is refused, not an error.
    assert (await client.delete("/api/v1/auth/token", headers=first.headers)).status_code == 401
    assert (await me(client, second.token)).status_code == 200


async def test_password_change_ends_every_session(client, admin, deps) -> None:
    account = await make_account(client, admin)
    sessions = [await login(client, account["username"], PASSWORD) for _ in range(3)]
    new_password = "新的密码-long-enough"
    response = await client.post("/api/v1/auth/password", headers=sessions[0].headers,
                                 json={"current_password": PASSWORD, "new_password": new_password})
    assert response.status_code == 204, response.text
    for session in sessions:
        assert (await me(client, session.token)).status_code == 401
    assert (await try_login(client, account["username"], PASSWORD)).status_code == 401
    fresh = await try_login(client, account["username"], new_password)
    assert fresh.status_code == 201
    assert (await me(client, fresh.json()["token"])).status_code == 200

    entry = await deps.db.audit.find_one({"action": "staff.password", "target_id": account["id"]})
    assert entry is not None and entry["actor"] == account["username"]
    assert new_password not in str(entry) and "$argon2" not in str(entry)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"current_password": "wrong-password", "new_password": "another-long-one"}, ["body", "current_password"]),
        ({"current_password": PASSWORD, "new_password": "short"}, ["body", "new_password"]),
        ({"current_password": PASSWORD}, ["body", "new_password"]),
    ],
)
async def test_bad_password_change_changes_nothing(client, admin, deps, body, loc) -> None:
    account = await make_account(client, admin)
    session = await login(client, account["username"], PASSWORD)
    stored = await deps.db.staff.find_one({"username": account["username"]})
    response = await client.post("/api/v1/auth/password", headers=session.headers, json=body)
    assert response.status_code == 422
    assert loc in [e["loc"] for e in response.json()["errors"]]
    assert (await deps.db.staff.find_one({"username": account["username"]}))["password_hash"] == stored["password_hash"]
    assert (await me(client, session.token)).status_code == 200
    assert (await try_login(client, account["username"], PASSWORD)).status_code == 201


async def test_password_change_needs_a_log_in(client) -> None:
    response = await client.post("/api/v1/auth/password", json={"current_password": "x", "new_password": "y" * 10})
    assert response.status_code == 401


async def test_deactivated_account_stops_working_at_once(client, admin) -> None:
    account = await make_account(client, admin)
    session = await login(client, account["username"], PASSWORD)
    response = await client.patch(f"/api/v1/staff/{account['id']}", headers=admin.headers, json={"active": False})
    assert response.status_code == 200 and response.json()["active"] is False
    assert (await me(client, session.token)).status_code == 401
    refused = await try_login(client, account["username"], PASSWORD)
    assert refused.status_code == 401 and refused.json()["code"] == "bad_credentials"

    response = await client.patch(f"/api/v1/staff/{account['id']}", headers=admin.headers, json={"active": True})
    assert response.status_code == 200 and response.json()["active"] is True
    assert (await me(client, session.token)).status_code == 401  # old sessions stay dead
    assert (await try_login(client, account["username"], PASSWORD)).status_code == 201


async def test_admin_password_reset_ends_every_session(client, admin, deps) -> None:
    account = await make_account(client, admin)
    session = await login(client, account["username"], PASSWORD)
    response = await client.patch(f"/api/v1/staff/{account['id']}", headers=admin.headers,
                                  json={"password": "reset-by-the-district"})
    assert response.status_code == 200
    assert (await me(client, session.token)).status_code == 401
    assert (await try_login(client, account["username"], PASSWORD)).status_code == 401
    assert (await try_login(client, account["username"], "reset-by-the-district")).status_code == 201
    entry = await deps.db.audit.find_one({"action": "staff.update", "target_id": account["id"]})
    assert entry["changes"]["password"] == "已重置"
    assert "reset-by-the-district" not in str(entry) and "$argon2" not in str(entry)


async def test_admin_cannot_deactivate_themselves_or_change_their_own_role(client, admin, deps) -> None:
    own = await make_account(client, admin, role="district_admin")
    session = await login(client, own["username"], PASSWORD)
    stored = await deps.db.staff.find_one({"username": own["username"]})
    audit_before = await deps.db.audit.count_documents({})
    for body in ({"active": False}, {"role": "district_staff"}, {"role": "district_admin"},
                 {"name": "新名字", "active": False}):
        response = await client.patch(f"/api/v1/staff/{own['id']}", headers=session.headers, json=body)
        assert response.status_code == 403, body
        assert response.json()["code"] == "self_demotion"
    assert await deps.db.staff.find_one({"username": own["username"]}) == stored
    assert await deps.db.audit.count_documents({}) == audit_before
    assert (await me(client, session.token)).status_code == 200
    # Their own name they may change.
    response = await client.patch(f"/api/v1/staff/{own['id']}", headers=session.headers, json={"name": "新名字"})
    assert response.status_code == 200 and response.json()["name"] == "新名字"
    # Another administrator may deactivate them.
    response = await client.patch(f"/api/v1/staff/{own['id']}", headers=admin.headers, json={"active": False})
    assert response.status_code == 200
    assert (await me(client, session.token)).status_code == 401
