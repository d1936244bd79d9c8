"""The audit log: one entry per staff write, committed with it, readable by the right roles."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from server.pagination import encode_cursor
from tests.conftest import Session

_serials = itertools.count(800)


def room_body(**changes: Any) -> dict[str, Any]:
    return {
        "code": f"JN-SL-{next(_serials):03d}", "name": "审计测试书吧", "kind": "社区书吧", "town": "双林街道",
        "village": "审计社区", "location": {"lat": 39.05, "lng": 117.32}, "area_m2": 30, "seats": 12,
        "opening_hours": {"mon": ["09:00-17:00"]}, **changes,
    }


@pytest.fixture
def admin(as_role: dict[str, Session]) -> Session:
    return as_role["district_admin"]


async def entries(client: Any, session: Session, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/audit", headers=session.headers, params={"limit": 200, **params})
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def test_who_may_read_the_audit_log(client, as_role) -> None:
    for role in ("district_admin", "inspector"):
        assert (await client.get("/api/v1/audit", headers=as_role[role].headers)).status_code == 200
    for role in ("district_staff", "town_coordinator", "room_admin", "trainer"):
        assert (await client.get("/api/v1/audit", headers=as_role[role].headers)).status_code == 403, role
    assert (await client.get("/api/v1/audit")).status_code == 401


async def test_the_log_cannot_be_written_or_deleted_through_the_api(client, admin) -> None:
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = await client.request(method, "/api/v1/audit", headers=admin.headers, json={})
        assert response.status_code == 405, method


async def test_a_write_records_who_what_where_and_the_request(client, as_role, deps) -> None:
    clerk = as_role["district_staff"]
    body = room_body()
    started = datetime.now(UTC)
    response = await client.post("/api/v1/rooms", headers=clerk.headers, json=body)
    assert response.status_code == 201
    found = await entries(client, as_role["inspector"], room=body["code"])
    assert len(found) == 1
    entry = found[0]
    assert entry["action"] == "room.create" and entry["target_type"] == "room" and entry["target_id"] == body["code"]
    assert entry["actor"] == "clerk" and entry["actor_id"] == clerk.staff["id"] and entry["role"] == "district_staff"
    assert entry["room"] == body["code"]
    assert entry["request_id"] == response.headers["X-Request-Id"]
    assert entry["ip"] == "127.0.0.1"
    at = datetime.fromisoformat(entry["at"])
    assert at.tzinfo is not None and started - timedelta(seconds=1) <= at <= datetime.now(UTC) + timedelta(seconds=1)


async def test_a_failed_write_records_nothing(client, admin, deps) -> None:
    body = room_body()
    assert (await client.post("/api/v1/rooms", headers=admin.headers, json=body)).status_code == 201
    before = await deps.db.audit.count_documents({})
    assert (await client.post("/api/v1/rooms", headers=admin.headers, json=body)).status_code == 409
    assert (await client.post("/api/v1/rooms", headers=admin.headers,
                              json=room_body(location={"lat": 10, "lng": 10}))).status_code == 422
    assert (await client.post("/api/v1/staff", headers=admin.headers, json={
        "username": "jn-xsg-001", "name": "重名", "password": "long-enough-1", "role": "inspector"})).status_code == 409
    assert await deps.db.audit.count_documents({}) == before
    assert len(await entries(client, admin, room=body["code"])) == 1


async def test_reads_record_nothing(client, as_role, deps) -> None:
    before = await deps.db.audit.count_documents({})
    inspector = as_role["inspector"]
    await client.get("/api/v1/rooms", headers=inspector.headers)
    await client.get("/api/v1/rooms/JN-XSG-001", headers=inspector.headers)
    await client.get("/api/v1/auth/me", headers=inspector.headers)
    await client.get("/api/v1/audit", headers=inspector.headers)
    assert await deps.db.audit.count_documents({}) == before


async def test_entries_hold_no_secrets(client, admin, deps) -> None:
    username = f"a{uuid.uuid4().hex[:8]}"
    password, phone = "a-secret-password", "15811112222"
    response = await client.post("/api/v1/staff", headers=admin.headers, json={
        "username": username, "name": "保密测试", "password": password, "role": "trainer", "phone": phone})
    staff_id = response.json()["id"]
    await client.patch(f"/api/v1/staff/{staff_id}", headers=admin.headers,
                       json={"password": "another-secret-1", "phone": "15833334444"})
    login = await client.post("/api/v1/auth/token", json={"username": username, "password": "another-secret-1"})
    token = login.json()["token"]
    docs = await deps.db.audit.find({"target_id": staff_id}).to_list()
    assert [d["action"] for d in sorted(docs, key=lambda d: d["_id"])] == ["staff.create", "staff.update", "auth.login"]
    dumped = str(docs)
    for secret in (password, "another-secret-1", phone, "15833334444", token, "$argon2", "phone_enc"):
        assert secret not in dumped, secret


async def test_listing_is_newest_first_and_filters(client, admin, deps) -> None:
    body = room_body()
    await client.post("/api/v1/rooms", headers=admin.headers, json=body)
    await client.patch(f"/api/v1/rooms/{body['code']}", headers=admin.headers, json={"seats": 15})
    await client.post(f"/api/v1/rooms/{body['code']}/deactivate", headers=admin.headers, json={"reason": "测试停用"})
    found = await entries(client, admin, room=body["code"])
    assert [e["action"] for e in found] == ["room.deactivate", "room.update", "room.create"]
    assert [e["id"] for e in found] == sorted((e["id"] for e in found), reverse=True)
    assert found[1]["changes"] == {"seats": {"from": 12, "to": 15}}

    by_action = await entries(client, admin, action="room.deactivate")
    assert by_action and {e["action"] for e in by_action} == {"room.deactivate"}
    assert found[0]["id"] in [e["id"] for e in by_action]
    by_actor = await entries(client, admin, actor="clerk")
    assert {e["actor"] for e in by_actor} <= {"clerk"}
    assert await entries(client, admin, actor="nobody-at-all") == []


async def test_cursor_walks_every_entry_once_newest_first(client, admin, deps) -> None:
    for _ in range(3):
        await client.post("/api/v1/rooms", headers=admin.headers, json=room_body())
    expected = [str(d["_id"]) for d in await deps.db.audit.find({}, {"_id": 1}).sort("_id", -1).to_list()]
    seen: list[str] = []
    cursor = None
    for _ in range(200):
        params: dict[str, Any] = {"limit": 7, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/audit", headers=admin.headers, params=params)
        page = response.json()
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    # Reading the audit log writes nothing, so the walk sees exactly what was there.
    assert seen == expected and len(expected) > 7


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"cursor": "garbage!"}, "query.cursor"),
        ({"cursor": encode_cursor(["not-an-object-id"])}, "query.cursor"),
        ({"cursor": encode_cursor([12345])}, "query.cursor"),
        ({"cursor": encode_cursor([str(ObjectId()), "extra"])}, "query.cursor"),
        ({"room": "咸水沽"}, "query.room"),
        ({"limit": "500"}, "query.limit"),
        ({"since": "yesterday"}, "query.since"),
    ],
)
async def test_bad_audit_query_is_422(client, admin, params, loc) -> None:
    response = await client.get("/api/v1/audit", headers=admin.headers, params=params)
    assert response.status_code == 422
    assert [".".join(map(str, e["loc"])) for e in response.json()["errors"]] == [loc]
