"""Staff account management against the real stack: create, scope rules, update, list."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from bson import ObjectId

from tests.conftest import Session, login

PASSWORD = "书屋-correct-horse"


def username() -> str:
    return f"s{uuid.uuid4().hex[:10]}"


def staff_body(**changes: Any) -> dict[str, Any]:
    return {"username": username(), "name": "李秀兰", "password": PASSWORD, "role": "district_staff", **changes}


def field_locs(response: Any) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in response.json()["errors"]]


async def counts(deps: Any) -> tuple[int, int]:
    return await deps.db.staff.count_documents({}), await deps.db.audit.count_documents({})


@pytest.fixture
def admin(as_role: dict[str, Session]) -> Session:
    return as_role["district_admin"]


async def create(client: Any, admin: Session, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/staff", headers=admin.headers, json=staff_body(**changes))
    assert response.status_code == 201, response.text
    return response.json()


# -- create ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "scope", "label"),
    [
        ("district_admin", {}, "区馆管理员"),
        ("district_staff", {}, "区馆工作人员"),
        ("inspector", {}, "督查员"),
        ("trainer", {}, "培训师"),
        ("town_coordinator", {"towns": ["葛沽镇", "小站镇"]}, "镇街联络员"),
        ("room_admin", {"rooms": ["JN-XZ-002", "JN-GG-003", "JN-XZ-002"]}, "书屋管理员"),
    ],
)
async def test_create_each_role(client, admin, deps, role, scope, label) -> None:
    body = staff_body(role=role, **scope)
    before = await counts(deps)
    response = await client.post("/api/v1/staff", headers=admin.headers, json=body)
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["username"] == body["username"] and out["name"] == body["name"]
    assert out["role"] == role and out["role_label"] == label and out["active"] is True
    assert out["rooms"] == sorted(set(scope.get("rooms", [])))
    assert out["towns"] == sorted(set(scope.get("towns", [])))
    assert out["phone"] is None
    assert "password" not in out and PASSWORD not in response.text
    assert await counts(deps) == (before[0] + 1, before[1] + 1)

    entry = await deps.db.audit.find_one({"action": "staff.create", "target_id": out["id"]})
    assert entry["actor"] == "admin" and entry["request_id"] == response.headers["X-Request-Id"]
    assert entry["changes"] == {"username": body["username"], "role": role, "rooms": out["rooms"],
                                "towns": out["towns"]}

    fetched = await client.get(f"/api/v1/staff/{out['id']}", headers=admin.headers)
    assert fetched.json() == out
    # The new account can log in with its password.
    assert (await login(client, body["username"], PASSWORD)).staff == out


async def test_password_is_stored_as_an_argon2_hash(client, admin, deps) -> None:
    out = await create(client, admin)
    raw = await deps.db.staff.find_one({"_id": ObjectId(out["id"])})
    assert raw["password_hash"].startswith("$argon2")
    assert PASSWORD not in str(raw)
    other = await create(client, admin)
    # Salted: the same password hashes differently.
    assert (await deps.db.staff.find_one({"_id": ObjectId(other["id"])}))["password_hash"] != raw["password_hash"]


@pytest.mark.parametrize(
    ("changes", "loc"),
    [
        ({"role": "room_admin"}, "body"),  # a room administrator without rooms
        ({"role": "room_admin", "rooms": []}, "body"),
        ({"role": "district_staff", "rooms": ["JN-XSG-001"]}, "body"),  # rooms for a non-room-admin
        ({"role": "town_coordinator", "rooms": ["JN-XSG-001"], "towns": ["葛沽镇"]}, "body"),
        ({"role": "town_coordinator"}, "body"),  # a coordinator without towns
        ({"role": "trainer", "towns": ["葛沽镇"]}, "body"),  # towns for neither a coordinator nor an inspector
        ({"role": "inspector", "towns": ["西青镇"]}, "body.towns.0"),  # an inspector's own town must exist
        ({"role": "room_admin", "rooms": ["JN-XSG-999"]}, "body.rooms.0"),  # no such room
        ({"role": "room_admin", "rooms": ["JN-XSG-001", "JN-GG-998"]}, "body.rooms.1"),
        ({"role": "room_admin", "rooms": ["jn-xsg-001"]}, "body.rooms.0"),
        ({"role": "town_coordinator", "towns": ["西青镇"]}, "body.towns.0"),  # no such town
        ({"role": "town_coordinator", "towns": ["葛沽镇", "海河镇"]}, "body.towns.1"),
        ({"role": "superuser"}, "body.role"),
        ({"username": "Has Space"}, "body.username"),
        ({"username": "ab"}, "body.username"),
        ({"password": "short"}, "body.password"),
        ({"name": "  "}, "body.name"),
        ({"phone": "1381234567"}, "body.phone"),
        ({"active": False}, "body.active"),
        ({"password_hash": "$argon2id$..."}, "body.password_hash"),
    ],
)
async def test_bad_create_is_422_and_writes_nothing(client, admin, deps, changes, loc) -> None:
    before = await counts(deps)
    body = staff_body(**changes)
    response = await client.post("/api/v1/staff", headers=admin.headers, json=body)
    assert response.status_code == 422, response.text
    assert loc in field_locs(response), field_locs(response)
    assert await counts(deps) == before
    assert await deps.db.staff.find_one({"username": str(body["username"]).lower()}) is None


async def test_unknown_rooms_are_each_named(client, admin) -> None:
    response = await client.post("/api/v1/staff", headers=admin.headers, json=staff_body(
        role="room_admin", rooms=["JN-XSG-997", "JN-XSG-001", "JN-GG-996"]))
    assert response.status_code == 422
    assert field_locs(response) == ["body.rooms.0", "body.rooms.2"]
    assert response.json()["code"] == "invalid_scope"


async def test_duplicate_username_is_409(client, admin, deps) -> None:
    first = await create(client, admin)
    before = await counts(deps)
    response = await client.post("/api/v1/staff", headers=admin.headers,
                                 json=staff_body(username=first["username"], name="另一个人"))
    assert response.status_code == 409
    assert response.json()["code"] == "username_taken" and field_locs(response) == ["body.username"]
    assert await counts(deps) == before
    # A demo account's name is taken too.
    response = await client.post("/api/v1/staff", headers=admin.headers, json=staff_body(username="jn-xsg-001"))
    assert response.status_code == 409


async def test_only_the_district_admin_creates_accounts(client, as_role, deps) -> None:
    before = await counts(deps)
    for role in ("district_staff", "town_coordinator", "room_admin", "inspector", "trainer"):
        response = await client.post("/api/v1/staff", headers=as_role[role].headers, json=staff_body())
        assert response.status_code == 403, role
    assert (await client.post("/api/v1/staff", json=staff_body())).status_code == 401
    assert await counts(deps) == before


# -- update ------------------------------------------------------------------------------------


async def test_change_role_and_scope(client, admin, deps) -> None:
    out = await create(client, admin, role="room_admin", rooms=["JN-SL-001"], phone="13700001111")
    staff_id = out["id"]
    room = (await client.get("/api/v1/rooms/JN-SL-001", headers=admin.headers)).json()
    assert out["username"] in [a["username"] for a in room["administrators"]]

    response = await client.patch(f"/api/v1/staff/{staff_id}", headers=admin.headers,
                                  json={"role": "town_coordinator", "towns": ["双林街道"]})
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["role"], changed["rooms"], changed["towns"]) == ("town_coordinator", [], ["双林街道"])
    assert changed["phone"] == "137****1111"
    room = (await client.get("/api/v1/rooms/JN-SL-001", headers=admin.headers)).json()
    assert out["username"] not in [a["username"] for a in room["administrators"]]
    entry = await deps.db.audit.find_one({"action": "staff.update", "target_id": staff_id})
    assert entry["changes"]["role"] == "town_coordinator" and entry["changes"]["towns"] == ["双林街道"]

    session = await login(client, out["username"], PASSWORD)
    assert session.staff["role"] == "town_coordinator"
    listed = (await client.get("/api/v1/rooms", headers=session.headers, params={"limit": 200})).json()
    assert listed["total"] > 0 and {r["town"] for r in listed["items"]} == {"双林街道"}


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"role": "room_admin"}, "body.role"),  # no rooms given for the new role
        ({"rooms": ["JN-XSG-001"]}, "body.role"),  # rooms for a district_staff
        ({"role": "room_admin", "rooms": ["JN-XSG-995"]}, "body.rooms.0"),
        ({"role": "town_coordinator", "towns": ["无此镇"]}, "body.towns.0"),
        ({"name": None}, "body.name"),
        ({"role": None}, "body.role"),
        ({"rooms": None}, "body.rooms"),
        ({"towns": None}, "body.towns"),
        ({"active": None}, "body.active"),
        ({"password": None}, "body.password"),
        ({"password": "short"}, "body.password"),
        ({"username": "renamed"}, "body.username"),
        ({"active": "maybe"}, "body.active"),
    ],
)
async def test_bad_update_is_422_and_changes_nothing(client, admin, deps, body, loc) -> None:
    out = await create(client, admin, phone="13700002222")
    stored = await deps.db.staff.find_one({"_id": ObjectId(out["id"])})
    before = await counts(deps)
    response = await client.patch(f"/api/v1/staff/{out['id']}", headers=admin.headers, json=body)
    assert response.status_code == 422, response.text
    assert loc in field_locs(response), field_locs(response)
    assert await deps.db.staff.find_one({"_id": ObjectId(out["id"])}) == stored
    assert await counts(deps) == before
    # The account still reads and still lists (a stored null would make both fail).
    assert (await client.get(f"/api/v1/staff/{out['id']}", headers=admin.headers)).json() == out
    assert (await client.get("/api/v1/staff", headers=admin.headers, params={"limit": 200})).status_code == 200


async def test_phone_can_be_changed_and_cleared(client, admin, deps) -> None:
    out = await create(client, admin, phone="13700003333")
    response = await client.patch(f"/api/v1/staff/{out['id']}", headers=admin.headers, json={"phone": "18600004444"})
    assert response.json()["phone"] == "186****4444"
    raw = await deps.db.staff.find_one({"_id": ObjectId(out["id"])})
    assert "18600004444" not in str(raw)
    response = await client.patch(f"/api/v1/staff/{out['id']}", headers=admin.headers, json={"phone": None})
    assert response.status_code == 200 and response.json()["phone"] is None
    fetched = await client.get(f"/api/v1/staff/{out['id']}", headers=admin.headers)
    assert fetched.json()["phone"] is None


@pytest.mark.parametrize("staff_id", ["not-an-id", "123", "zzzzzzzzzzzzzzzzzzzzzzzz"])
async def test_malformed_staff_id_is_422(client, admin, staff_id) -> None:
    for method in ("GET", "PATCH"):
        response = await client.request(method, f"/api/v1/staff/{staff_id}", headers=admin.headers,
                                        json={"name": "x"} if method == "PATCH" else None)
        assert response.status_code == 422, method
        assert field_locs(response) == ["path.staff_id"]


async def test_unknown_staff_is_404(client, admin) -> None:
    missing = str(ObjectId())
    assert (await client.get(f"/api/v1/staff/{missing}", headers=admin.headers)).status_code == 404
    response = await client.patch(f"/api/v1/staff/{missing}", headers=admin.headers, json={"name": "x"})
    assert response.status_code == 404


# -- read and list -----------------------------------------------------------------------------


async def test_non_district_roles_see_only_themselves(client, as_role, deps) -> None:
    other = await deps.db.staff.find_one({"username": "admin"})
    for role in ("town_coordinator", "room_admin", "inspector", "trainer"):
        session = as_role[role]
        own = await client.get(f"/api/v1/staff/{session.staff['id']}", headers=session.headers)
        assert own.status_code == 200 and own.json()["username"] == session.username
        assert (await client.get(f"/api/v1/staff/{other['_id']}", headers=session.headers)).status_code == 404
        assert (await client.get("/api/v1/staff", headers=session.headers)).status_code == 403
    clerk = as_role["district_staff"]
    assert (await client.get(f"/api/v1/staff/{other['_id']}", headers=clerk.headers)).status_code == 200


async def test_list_walks_every_account_once_in_username_order(client, as_role, deps) -> None:
    headers = as_role["district_staff"].headers
    seen: list[str] = []
    cursor = None
    for _ in range(100):
        params: dict[str, Any] = {"limit": 23, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/staff", headers=headers, params=params)).json()
        assert len(page["items"]) <= 23
        seen += [s["username"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    expected = [d["username"] for d in await deps.db.staff.find({}, {"username": 1}).sort("username", 1).to_list()]
    assert seen == expected and len(set(seen)) == len(seen) >= 115


async def test_list_filters(client, as_role, deps) -> None:
    headers = as_role["district_admin"].headers
    page = (await client.get("/api/v1/staff", headers=headers, params={"room": "JN-GG-001", "limit": 200})).json()
    assert [s["username"] for s in page["items"]] == ["jn-gg-001"]
    page = (await client.get("/api/v1/staff", headers=headers, params={"role": "inspector", "limit": 200})).json()
    assert page["items"] and {s["role"] for s in page["items"]} == {"inspector"}
    inactive = await create(client, as_role["district_admin"])
    await client.patch(f"/api/v1/staff/{inactive['id']}", headers=headers, json={"active": False})
    page = (await client.get("/api/v1/staff", headers=headers, params={"active": "false", "limit": 200})).json()
    assert inactive["username"] in [s["username"] for s in page["items"]]
    assert all(s["active"] is False for s in page["items"])
    for phone_shown in (s["phone"] for s in page["items"] if s["phone"]):
        assert "****" in phone_shown


@pytest.mark.parametrize("params", [{"role": "king"}, {"room": "nowhere"}, {"limit": "0"}, {"cursor": "%%%"},
                                    {"active": "perhaps"}])
async def test_bad_list_query_is_422(client, admin, params) -> None:
    response = await client.get("/api/v1/staff", headers=admin.headers, params=params)
    assert response.status_code == 422
    assert [f"query.{next(iter(params))}"] == field_locs(response)
