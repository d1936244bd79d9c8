"""The room registry API against the real stack: create, list, update, deactivate."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from server.district import JINNAN
from server.rooms.demo_data import demo_rooms

DEMO = demo_rooms()
DEMO_CODES = sorted(r["code"] for r in DEMO)
WEEKDAY_HOURS = {d: ["09:00-11:30", "14:00-17:30"] for d in ("mon", "tue", "wed", "thu", "fri")}
# Rooms made by these tests live in 海棠街道 (HT) with serial numbers from 900, far from demo codes.
_serials = itertools.count(900)


def new_code(town_code: str = "HT") -> str:
    return f"JN-{town_code}-{next(_serials):03d}"


def room_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": new_code(), "name": "测试社区书吧", "kind": "社区书吧", "town": "海棠街道", "village": "测试社区",
        "address": "天津市津南区海棠街道测试社区活动中心二楼", "location": {"lat": 38.975, "lng": 117.355},
        "area_m2": 45, "seats": 20, "opening_hours": WEEKDAY_HOURS, "phone": "13612345678",
        "established_year": 2016,
    }
    body.update(changes)
    return body


def field_locs(response: Any) -> list[str]:
    return [".".join(str(p) for p in e["loc"]) for e in response.json()["errors"]]


async def counts(deps: Any) -> tuple[int, int]:
    return await deps.db.rooms.count_documents({}), await deps.db.audit.count_documents({})


async def create(client: Any, session: Any, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/rooms", headers=session.headers, json=room_body(**changes))
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def admin(as_role):  # type: ignore[no-untyped-def]
    return as_role["district_admin"]


# -- create ------------------------------------------------------------------------------------


async def test_create_room(client, admin, deps) -> None:
    body = room_body()
    before = await counts(deps)
    response = await client.post("/api/v1/rooms", headers=admin.headers, json=body)
    assert response.status_code == 201, response.text
    room = response.json()
    for key in ("code", "name", "kind", "town", "village", "address", "location", "seats", "opening_hours",
                "phone", "established_year"):
        assert room[key] == body[key], key
    assert room["area_m2"] == 45
    assert room["status"] == "active" and room["deactivated_reason"] is None and room["demo"] is False
    assert room["administrators"] == []
    assert room["standards"] == {"open_days": 5, "weekly_hours": 30.0, "shortest_day_hours": 6.0, "warnings": []}
    assert room["created_at"] == room["updated_at"]
    assert await counts(deps) == (before[0] + 1, before[1] + 1)

    stored = await deps.db.rooms.find_one({"code": body["code"]})
    assert stored["location"] == {"type": "Point", "coordinates": [117.355, 38.975]}  # GeoJSON: lng, lat

    entry = await deps.db.audit.find_one({"action": "room.create", "target_id": body["code"]})
    assert entry is not None
    assert entry["actor"] == "admin" and entry["actor_id"] == admin.staff["id"] and entry["role"] == "district_admin"
    assert entry["target_type"] == "room" and entry["room"] == body["code"]
    assert entry["changes"] == {"name": body["name"], "kind": body["kind"], "town": body["town"]}
    assert entry["request_id"] and entry["request_id"] == response.headers["X-Request-Id"]
    assert entry["ip"] == "127.0.0.1"

    fetched = await client.get(f"/api/v1/rooms/{body['code']}", headers=admin.headers)
    assert fetched.status_code == 200 and fetched.json() == room


async def test_client_request_id_reaches_the_audit_entry(client, admin, deps) -> None:
    body = room_body()
    request_id = "req-" + body["code"].lower()
    response = await client.post("/api/v1/rooms", headers={**admin.headers, "X-Request-Id": request_id}, json=body)
    assert response.status_code == 201
    assert response.headers["X-Request-Id"] == request_id
    entry = await deps.db.audit.find_one({"action": "room.create", "target_id": body["code"]})
    assert entry["request_id"] == request_id


async def test_standards_warnings_are_computed_on_create(client, admin) -> None:
    room = await create(client, admin, area_m2=12, opening_hours={"sat": ["09:00-11:00"], "sun": ["14:00-17:00"]})
    assert room["standards"]["open_days"] == 2
    assert room["standards"]["weekly_hours"] == 5.0
    assert room["standards"]["shortest_day_hours"] == 2.0
    assert len(room["standards"]["warnings"]) == 3


async def test_district_staff_may_create_and_room_roles_may_not(client, as_role, deps) -> None:
    assert (await client.post("/api/v1/rooms", headers=as_role["district_staff"].headers,
                              json=room_body())).status_code == 201
    before = await counts(deps)
    for role in ("town_coordinator", "room_admin", "inspector", "trainer"):
        response = await client.post("/api/v1/rooms", headers=as_role[role].headers, json=room_body())
        assert response.status_code == 403, role
    assert (await client.post("/api/v1/rooms", json=room_body())).status_code == 401
    assert await counts(deps) == before


BAD_CREATES = [
    # (changes, status, the field the error names)
    ({"code": "JN-GG-950", "town": "咸水沽镇"}, 422, "body.code"),
    ({"code": "JN-XSG-950", "town": "海棠街道"}, 422, "body.code"),
    ({"code": "TJ-HT-950"}, 422, "body.code"),
    ({"code": "JN-HT-95"}, 422, "body.code"),
    ({"code": "JN-XX-950", "town": "西青区某镇"}, 422, "body.town"),
    ({"town": "海棠"}, 422, "body.town"),
    ({"location": {"lat": 39.904, "lng": 116.407}}, 422, "body.location"),  # Beijing
    ({"location": {"lat": 38.77, "lng": 117.4}}, 422, "body.location"),  # just south of the box
    ({"location": {"lat": 38.9, "lng": 117.63}}, 422, "body.location"),  # just east of the box
    ({"location": {"lat": 91, "lng": 117.4}}, 422, "body.location.lat"),
    ({"location": {"lat": 38.9}}, 422, "body.location.lng"),
    ({"kind": "图书馆"}, 422, "body.kind"),
    ({"kind": ""}, 422, "body.kind"),
    ({"opening_hours": {"mon": ["09:00-12:00", "11:00-13:00"]}}, 422, "body.opening_hours"),
    ({"opening_hours": {"mon": ["09:00-25:00"]}}, 422, "body.opening_hours"),
    ({"opening_hours": {"mon": ["12:00-09:00"]}}, 422, "body.opening_hours"),
    ({"opening_hours": {"mon": ["09:00-09:00"]}}, 422, "body.opening_hours"),
    ({"opening_hours": {"funday": ["09:00-12:00"]}}, 422, "body.opening_hours"),
    ({"opening_hours": {"mon": ["9:00-12:00"]}}, 422, "body.opening_hours"),
    ({"opening_hours": {"mon": "09:00-12:00"}}, 422, "body.opening_hours"),
    ({"opening_hours": ["09:00-12:00"]}, 422, "body.opening_hours"),
    ({"area_m2": 0}, 422, "body.area_m2"),
    ({"seats": -1}, 422, "body.seats"),
    ({"name": "   "}, 422, "body.name"),
    ({"phone": "12345"}, 422, "body.phone"),
    ({"established_year": 1800}, 422, "body.established_year"),
    ({"status": "inactive"}, 422, "body.status"),
    ({"demo": True}, 422, "body.demo"),
]


@pytest.mark.parametrize(("changes", "status", "loc"), BAD_CREATES)
async def test_bad_create_names_the_field_and_writes_nothing(client, admin, deps, changes, status, loc) -> None:
    body = room_body(**changes)
    before = await counts(deps)
    response = await client.post("/api/v1/rooms", headers=admin.headers, json=body)
    assert response.status_code == status, response.text
    locs = field_locs(response)
    assert any(found == loc or found.startswith(loc + ".") for found in locs), locs
    assert await counts(deps) == before
    assert await deps.db.rooms.find_one({"code": body["code"]}) is None


async def test_missing_required_fields_are_each_named(client, admin, deps) -> None:
    before = await counts(deps)
    response = await client.post("/api/v1/rooms", headers=admin.headers, json={"code": new_code()})
    assert response.status_code == 422
    assert set(field_locs(response)) >= {f"body.{f}" for f in
                                         ("name", "kind", "town", "village", "location", "area_m2", "seats",
                                          "opening_hours")}
    assert await counts(deps) == before


async def test_duplicate_code_is_a_conflict_and_writes_nothing(client, admin, deps) -> None:
    room = await create(client, admin)
    before = await counts(deps)
    response = await client.post("/api/v1/rooms", headers=admin.headers,
                                 json=room_body(code=room["code"], name="另一个书吧"))
    assert response.status_code == 409
    assert response.json()["code"] == "room_code_taken"
    assert field_locs(response) == ["body.code"]
    assert await counts(deps) == before
    assert (await deps.db.rooms.find_one({"code": room["code"]}))["name"] == room["name"]
    # A demo room's code is taken too.
    response = await client.post("/api/v1/rooms", headers=admin.headers,
                                 json=room_body(code="JN-XSG-001", town="咸水沽镇"))
    assert response.status_code == 409
    assert await counts(deps) == before


# -- list --------------------------------------------------------------------------------------


async def all_rooms(deps: Any) -> list[dict[str, Any]]:
    return await deps.db.rooms.find({}).sort("code", 1).to_list()


async def walk(client: Any, session: Any, params: dict[str, Any]) -> tuple[list[str], list[int]]:
    """Follow next_cursor to the end; the codes seen and each page's total."""
    codes: list[str] = []
    totals: list[int] = []
    cursor = None
    for _ in range(100):
        response = await client.get("/api/v1/rooms", headers=session.headers,
                                    params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= params.get("limit", 50)
        codes += [r["code"] for r in page["items"]]
        totals.append(page["total"])
        cursor = page["next_cursor"]
        if cursor is None:
            return codes, totals
    raise AssertionError("pagination never ended")


async def test_cursor_walk_sees_every_room_once_in_code_order(client, as_role, deps) -> None:
    codes, totals = await walk(client, as_role["inspector"], {"limit": 17})
    expected = [r["code"] for r in await all_rooms(deps)]
    assert codes == expected
    assert len(set(codes)) == len(codes)
    assert set(DEMO_CODES) <= set(codes)
    assert [c for c in codes if c in set(DEMO_CODES)] == DEMO_CODES
    assert set(totals) == {len(expected)}
    assert len(totals) == -(-len(expected) // 17)  # no empty trailing page


async def test_demo_rooms_walk_exactly_110(client, as_role) -> None:
    """The 110 demo rooms, 17 at a time, filtered to the towns no test writes to."""
    towns = sorted({r["town"] for r in DEMO} - {"海棠街道", "咸水沽镇"})
    seen: list[str] = []
    for town in towns:
        codes, totals = await walk(client, as_role["district_staff"], {"limit": 17, "town": town})
        expected = sorted(r["code"] for r in DEMO if r["town"] == town)
        assert codes == expected, town
        assert set(totals) == {len(expected)}
        seen += codes
    assert len(seen) == len(set(seen)) == sum(1 for r in DEMO if r["town"] in towns)


def _matches(doc: dict[str, Any], town: str | None, kind: str | None, status: str | None, q: str | None) -> bool:
    return ((town is None or doc["town"] == town) and (kind is None or doc["kind"] == kind)
            and (status is None or doc["status"] == status)
            and (q is None or q in doc["name"] or q in doc["village"] or q.lower() in doc["code"].lower()))


@pytest.mark.parametrize(
    "params",
    [
        {"town": "葛沽镇"},
        {"town": "双林街道"},
        {"kind": "分馆"},
        {"kind": "流动服务点"},
        {"kind": "社区书吧", "town": "咸水沽镇"},
        {"status": "active"},
        {"q": "社区"},
        {"q": "南华营"},
        {"q": "jn-gg"},
        {"q": "小学", "kind": "分馆"},
        {"q": "a.*"},
        {"town": "不存在镇"},
    ],
)
async def test_filters(client, as_role, deps, params) -> None:
    codes, totals = await walk(client, as_role["inspector"], {"limit": 200, **params})
    expected = [d["code"] for d in await all_rooms(deps)
                if _matches(d, params.get("town"), params.get("kind"), params.get("status"), params.get("q"))]
    assert codes == expected
    assert totals == [len(expected)]
    if params.get("town") in {"葛沽镇", "双林街道"}:
        assert len(expected) == sum(1 for r in DEMO if r["town"] == params["town"]) > 0


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"cursor": "not-a-cursor"}, "query.cursor"),
        ({"cursor": "W3siYSI6MX1d"}, "query.cursor"),  # [{"a":1}]
        ({"cursor": "WyJhIiwiYiJd"}, "query.cursor"),  # ["a","b"]
        ({"cursor": "bnVsbA"}, "query.cursor"),  # null
        ({"cursor": "x" * 201}, "query.cursor"),
        ({"limit": "0"}, "query.limit"),
        ({"limit": "201"}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"kind": "图书馆"}, "query.kind"),
        ({"status": "deleted"}, "query.status"),
        ({"sort": "name"}, "query.sort"),
    ],
)
async def test_bad_list_query_is_422_naming_the_parameter(client, as_role, params, loc) -> None:
    response = await client.get("/api/v1/rooms", headers=as_role["inspector"].headers, params=params)
    assert response.status_code == 422, response.text
    assert loc in field_locs(response)


async def test_scope_limits_the_listing(client, as_role, deps) -> None:
    codes, totals = await walk(client, as_role["town_coordinator"], {"limit": 30})
    assert codes == [d["code"] for d in await all_rooms(deps) if d["town"] == "咸水沽镇"]
    assert totals[0] == len(codes) > 0
    codes, totals = await walk(client, as_role["room_admin"], {"limit": 30})
    assert codes == ["JN-XSG-001"] and totals == [1]
    # A filter outside the scope narrows to nothing rather than widening it.
    codes, _ = await walk(client, as_role["room_admin"], {"town": "葛沽镇"})
    assert codes == []


@pytest.mark.parametrize("limit", [5, 50, 100, 200])
async def test_listing_sends_a_bounded_number_of_commands(client, as_role, command_counter, limit) -> None:
    """No query per room: the page, its administrators, the count and the caller's account."""
    headers = as_role["inspector"].headers
    command_counter.reset()
    response = await client.get("/api/v1/rooms", headers=headers, params={"limit": limit})
    assert response.status_code == 200
    assert len(response.json()["items"]) == min(limit, response.json()["total"])
    sent = list(command_counter.commands)
    assert len(sent) <= 4, sent
    assert sum(c.startswith("find:rooms") for c in sent) == 1, sent
    assert sum(c.startswith("find:staff") for c in sent) == 2, sent  # the caller, the page's administrators


async def test_command_count_does_not_grow_with_page_size(client, as_role, command_counter) -> None:
    headers = as_role["district_admin"].headers
    seen = []
    for limit in (5, 50, 100):
        command_counter.reset()
        assert (await client.get("/api/v1/rooms", headers=headers, params={"limit": limit})).status_code == 200
        seen.append(len(command_counter.commands))
    assert len(set(seen)) == 1 and seen[0] <= 4, seen


async def test_listed_rooms_carry_their_administrators(client, as_role) -> None:
    page = (await client.get("/api/v1/rooms", headers=as_role["inspector"].headers,
                             params={"town": "葛沽镇", "limit": 200})).json()
    for room in page["items"]:
        assert [a["username"] for a in room["administrators"]] == [room["code"].lower()]
        assert re.fullmatch(r"1\d\d\*{4}\d{4}", room["administrators"][0]["phone"])


async def test_unknown_room_is_404(client, admin) -> None:
    for code in ("JN-XSG-999", "nonsense", "JN-XSG-001x"):
        response = await client.get(f"/api/v1/rooms/{code}", headers=admin.headers)
        assert response.status_code == 404, code
        assert response.json()["code"] == "room_not_found"


# -- update ------------------------------------------------------------------------------------


async def test_patch_changes_fields_and_audits_from_and_to(client, admin, deps) -> None:
    room = await create(client, admin)
    code = room["code"]
    before = await counts(deps)
    response = await client.patch(f"/api/v1/rooms/{code}", headers=admin.headers, json={
        "name": "测试社区书吧（新址）", "seats": 32, "location": {"lat": 38.98, "lng": 117.36},
        "opening_hours": {"sat": ["09:00-12:00"], "mon": ["14:00-18:00", "09:00-12:00"]},
    })
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["name"] == "测试社区书吧（新址）" and updated["seats"] == 32
    assert updated["location"] == {"lat": 38.98, "lng": 117.36}
    assert updated["opening_hours"] == {"mon": ["09:00-12:00", "14:00-18:00"], "sat": ["09:00-12:00"]}
    assert updated["standards"]["open_days"] == 2 and updated["standards"]["weekly_hours"] == 10.0
    assert updated["village"] == room["village"] and updated["area_m2"] == room["area_m2"]
    assert updated["updated_at"] > room["updated_at"] and updated["created_at"] == room["created_at"]
    assert await counts(deps) == (before[0], before[1] + 1)

    entry = await deps.db.audit.find_one({"action": "room.update", "target_id": code})
    assert entry["actor"] == "admin" and entry["room"] == code
    assert entry["request_id"] == response.headers["X-Request-Id"]
    changes = entry["changes"]
    assert set(changes) == {"name", "seats", "location", "opening_hours"}
    assert changes["name"] == {"from": room["name"], "to": "测试社区书吧（新址）"}
    assert changes["seats"] == {"from": room["seats"], "to": 32}
    assert changes["location"]["from"]["coordinates"] == [117.355, 38.975]
    assert changes["location"]["to"]["coordinates"] == [117.36, 38.98]

    fetched = (await client.get(f"/api/v1/rooms/{code}", headers=admin.headers)).json()
    assert fetched == updated


async def test_unchanged_patch_writes_no_audit_entry(client, admin, deps) -> None:
    room = await create(client, admin)
    code = room["code"]
    before = await counts(deps)
    stored = await deps.db.rooms.find_one({"code": code})
    # The same values, hours given out of order: still nothing to change.
    response = await client.patch(f"/api/v1/rooms/{code}", headers=admin.headers, json={
        "name": room["name"], "seats": room["seats"], "location": room["location"],
        "opening_hours": {d: list(reversed(s)) for d, s in reversed(list(room["opening_hours"].items()))},
    })
    assert response.status_code == 200, response.text
    assert response.json()["updated_at"] == room["updated_at"]
    empty = await client.patch(f"/api/v1/rooms/{code}", headers=admin.headers, json={})
    assert empty.status_code == 200 and empty.json() == response.json()
    assert await counts(deps) == before
    assert await deps.db.rooms.find_one({"code": code}) == stored


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"location": {"lat": 39.904, "lng": 116.407}}, "body.location"),
        ({"location": {"lat": 38.5, "lng": 117.4}}, "body.location"),
        ({"name": None}, "body.name"),
        ({"kind": None}, "body.kind"),
        ({"village": None}, "body.village"),
        ({"location": None}, "body.location"),
        ({"area_m2": None}, "body.area_m2"),
        ({"seats": None}, "body.seats"),
        ({"opening_hours": None}, "body.opening_hours"),
        ({"opening_hours": {"mon": ["10:00-12:00", "11:59-13:00"]}}, "body.opening_hours"),
        ({"opening_hours": {"sun": ["08:00-24:30"]}}, "body.opening_hours"),
        ({"opening_hours": {"someday": ["08:00-09:00"]}}, "body.opening_hours"),
        ({"code": "JN-HT-999"}, "body.code"),
        ({"town": "葛沽镇"}, "body.town"),
        ({"status": "inactive"}, "body.status"),
        ({"seats": 5000}, "body.seats"),
        ({"kind": "书店"}, "body.kind"),
    ],
)
async def test_bad_patch_is_refused_and_changes_nothing(client, admin, deps, body, loc) -> None:
    room = await create(client, admin)
    before = await counts(deps)
    stored = await deps.db.rooms.find_one({"code": room["code"]})
    response = await client.patch(f"/api/v1/rooms/{room['code']}", headers=admin.headers,
                                  json={"seats": 33, **body})
    assert response.status_code == 422, response.text
    locs = field_locs(response)
    assert any(found == loc or found.startswith(loc + ".") for found in locs), locs
    assert await counts(deps) == before
    assert await deps.db.rooms.find_one({"code": room["code"]}) == stored


async def test_optional_fields_can_be_cleared(client, admin, deps) -> None:
    room = await create(client, admin)
    response = await client.patch(f"/api/v1/rooms/{room['code']}", headers=admin.headers,
                                  json={"phone": None, "established_year": None, "address": None})
    assert response.status_code == 200, response.text
    cleared = response.json()
    assert cleared["phone"] is None and cleared["established_year"] is None and cleared["address"] == ""
    fetched = await client.get(f"/api/v1/rooms/{room['code']}", headers=admin.headers)
    assert fetched.json() == cleared


async def test_room_admin_edits_only_practical_details_of_their_own_room(client, as_role, deps) -> None:
    mine = as_role["room_admin"]
    stored = await deps.db.rooms.find_one({"code": "JN-XSG-001"})
    response = await client.patch("/api/v1/rooms/JN-XSG-001", headers=mine.headers, json={"name": "改名"})
    assert response.status_code == 403 and field_locs(response) == ["body.name"]
    response = await client.patch("/api/v1/rooms/JN-GG-001", headers=mine.headers, json={"seats": 12})
    assert response.status_code in (403, 404)
    assert await deps.db.rooms.find_one({"code": "JN-XSG-001"}) == stored

    response = await client.patch("/api/v1/rooms/JN-XSG-001", headers=mine.headers,
                                  json={"seats": stored["seats"] + 1})
    assert response.status_code == 200
    entry = await deps.db.audit.find_one({"action": "room.update", "target_id": "JN-XSG-001"})
    assert entry["actor"] == "jn-xsg-001" and entry["role"] == "room_admin"
    assert entry["changes"] == {"seats": {"from": stored["seats"], "to": stored["seats"] + 1}}
    # Put it back so other tests see the demo room as seeded.
    await client.patch("/api/v1/rooms/JN-XSG-001", headers=mine.headers, json={"seats": stored["seats"]})


# -- deactivate / activate ---------------------------------------------------------------------


async def test_deactivate_keeps_the_room_and_activate_clears_the_reason(client, admin, deps) -> None:
    room = await create(client, admin)
    code = room["code"]
    reason = "村委会办公楼翻修，暂停开放"
    before = await counts(deps)
    response = await client.post(f"/api/v1/rooms/{code}/deactivate", headers=admin.headers, json={"reason": reason})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "inactive" and response.json()["deactivated_reason"] == reason
    assert await counts(deps) == (before[0], before[1] + 1)
    entry = await deps.db.audit.find_one({"action": "room.deactivate", "target_id": code})
    assert entry["changes"] == {"reason": reason} and entry["actor"] == "admin"

    fetched = await client.get(f"/api/v1/rooms/{code}", headers=admin.headers)
    assert fetched.status_code == 200 and fetched.json()["deactivated_reason"] == reason
    inactive, _ = await walk(client, admin, {"status": "inactive", "limit": 200})
    assert code in inactive
    active, _ = await walk(client, admin, {"status": "active", "limit": 200})
    assert code not in active
    stored = await deps.db.rooms.find_one({"code": code})
    assert stored["status"] == "inactive" and stored["deactivated_by"] == "admin"

    # Rooms are never deleted.
    deleted = await client.delete(f"/api/v1/rooms/{code}", headers=admin.headers)
    assert deleted.status_code == 405
    assert deleted.headers["Content-Type"].startswith("application/problem+json")
    assert await deps.db.rooms.find_one({"code": code}) is not None

    twice = await client.post(f"/api/v1/rooms/{code}/deactivate", headers=admin.headers, json={"reason": reason})
    assert twice.status_code == 422 and twice.json()["code"] == "status_unchanged"

    before = await counts(deps)
    response = await client.post(f"/api/v1/rooms/{code}/activate", headers=admin.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "active" and response.json()["deactivated_reason"] is None
    stored = await deps.db.rooms.find_one({"code": code})
    assert stored["status"] == "active"
    assert not {"deactivated_reason", "deactivated_at", "deactivated_by"} & stored.keys()
    assert await counts(deps) == (before[0], before[1] + 1)
    assert await deps.db.audit.find_one({"action": "room.activate", "target_id": code}) is not None

    again = await client.post(f"/api/v1/rooms/{code}/activate", headers=admin.headers)
    assert again.status_code == 422 and again.json()["code"] == "status_unchanged"


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": " x "}, {"reason": "理" * 201}, None])
async def test_deactivate_needs_a_reason(client, admin, deps, body) -> None:
    room = await create(client, admin)
    before = await counts(deps)
    kwargs = {"json": body} if body is not None else {}
    response = await client.post(f"/api/v1/rooms/{room['code']}/deactivate", headers=admin.headers, **kwargs)
    assert response.status_code == 422
    assert any(loc.startswith("body") for loc in field_locs(response))
    assert await counts(deps) == before
    assert (await deps.db.rooms.find_one({"code": room["code"]}))["status"] == "active"


async def test_status_changes_of_unknown_rooms_are_404(client, admin) -> None:
    for action, kwargs in (("deactivate", {"json": {"reason": "测试原因"}}), ("activate", {})):
        response = await client.post(f"/api/v1/rooms/JN-HT-998/{action}", headers=admin.headers, **kwargs)
        assert response.status_code == 404


def test_bbox_in_tests_is_jinnan() -> None:
    """The numbers the location tests lean on."""
    box = JINNAN.bbox
    assert (box.min_lat, box.max_lat, box.min_lng, box.max_lng) == (38.78, 39.12, 117.18, 117.62)
