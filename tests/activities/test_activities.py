"""The room activity register and "今日开馆" check-ins: the API (op_id replay, scope, dates,
corrections audited), the phone page and its JSON, residents on rooms, and the demo seed."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
from bson import ObjectId

from server.activities.demo import seed_demo
from server.readers.service import local_today
from server.resources import Deps
from server.storage import db_now
from tests.conftest import Session
from tests.web.test_pages import form_login, page_client

OWN = "JN-XSG-001"  # as_role["room_admin"]'s room, in 咸水沽镇
OTHER = "JN-GG-001"  # as_role["room_admin_other"]'s room


def op() -> str:
    return f"act-{uuid.uuid4().hex[:20]}"


def body(**changes: object) -> dict[str, object]:
    return {"op_id": op(), "held_on": (local_today() - timedelta(days=2)).isoformat(), "title": "春节读书分享会",
            "kind": "读书会", "attendance": 23, "children": 9, "notes": "村委会协办"} | changes


async def test_record_an_activity_once_per_op_id(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                 deps: Deps) -> None:
    data = body()
    first = await client.post(f"/api/v1/rooms/{OWN}/activities", json=data, headers=as_role["room_admin"].headers)
    assert first.status_code == 201, first.text
    out = first.json()
    assert out["replayed"] is False and out["activity"]["room"] == OWN and out["activity"]["town"] == "咸水沽镇"
    again = await client.post(f"/api/v1/rooms/{OWN}/activities", json=data, headers=as_role["room_admin"].headers)
    assert again.status_code == 201 and again.json()["replayed"] is True
    assert again.json()["activity"]["id"] == out["activity"]["id"]
    assert await deps.db.room_activities.count_documents({"op_id": data["op_id"]}) == 1
    assert await deps.db.audit.count_documents({"action": "activity.record", "target_id": out["activity"]["id"]}) == 1
    listed = (await client.get(f"/api/v1/rooms/{OWN}/activities", headers=as_role["inspector"].headers)).json()
    assert out["activity"]["id"] in [a["id"] for a in listed["items"]]
    assert listed["count"] >= 1 and listed["total_attendance"] >= 23


async def test_scope_and_dates_are_checked(client: httpx.AsyncClient, as_role: dict[str, Session],
                                           deps: Deps) -> None:
    before = await deps.db.room_activities.count_documents({})
    other = await client.post(f"/api/v1/rooms/{OTHER}/activities", json=body(), headers=as_role["room_admin"].headers)
    assert other.status_code == 403
    far = await client.post(f"/api/v1/rooms/{OTHER}/activities", json=body(),
                            headers=as_role["town_coordinator"].headers)
    assert far.status_code == 403
    inspector = await client.post(f"/api/v1/rooms/{OWN}/activities", json=body(), headers=as_role["inspector"].headers)
    assert inspector.status_code == 403
    future = await client.post(f"/api/v1/rooms/{OWN}/activities", headers=as_role["room_admin"].headers,
                               json=body(held_on=(local_today() + timedelta(days=1)).isoformat()))
    assert future.status_code == 422 and future.json()["errors"][0]["loc"] == ["body", "held_on"]
    old = await client.post(f"/api/v1/rooms/{OWN}/activities", headers=as_role["room_admin"].headers,
                            json=body(held_on=(local_today() - timedelta(days=400)).isoformat()))
    assert old.status_code == 422 and old.json()["code"] == "held_on_too_old"
    kids = await client.post(f"/api/v1/rooms/{OWN}/activities", headers=as_role["room_admin"].headers,
                             json=body(attendance=3, children=5))
    assert kids.status_code == 422
    for field, value in (("kind", "跳舞"), ("attendance", 5001), ("title", ""), ("extra", 1)):
        bad = await client.post(f"/api/v1/rooms/{OWN}/activities", headers=as_role["room_admin"].headers,
                                json=body(**{field: value}))
        assert bad.status_code == 422 and ["body", field] in [e["loc"] for e in bad.json()["errors"]], bad.text
    assert await deps.db.room_activities.count_documents({}) == before
    town = await client.post(f"/api/v1/rooms/{OWN}/activities", json=body(), headers=as_role["town_coordinator"].headers)
    assert town.status_code == 201


async def test_corrections_within_30_days_are_audited(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                      deps: Deps) -> None:
    created = (await client.post(f"/api/v1/rooms/{OWN}/activities", json=body(attendance=10, children=0),
                                 headers=as_role["room_admin"].headers)).json()["activity"]
    url = f"/api/v1/rooms/{OWN}/activities/{created['id']}"
    changed = await client.patch(url, json={"attendance": 12}, headers=as_role["room_admin"].headers)
    assert changed.status_code == 200 and changed.json()["attendance"] == 12
    entry = await deps.db.audit.find_one({"action": "activity.update", "target_id": created["id"]})
    assert entry and entry["changes"] == {"attendance": {"from": 10, "to": 12}}
    wrong_room = await client.patch(f"/api/v1/rooms/{OTHER}/activities/{created['id']}", json={"attendance": 1},
                                    headers=as_role["district_staff"].headers)
    assert wrong_room.status_code == 404
    other_admin = await client.patch(url, json={"attendance": 1}, headers=as_role["room_admin_other"].headers)
    assert other_admin.status_code == 403
    assert (await client.patch(url, json={"title": None}, headers=as_role["room_admin"].headers)).status_code == 422
    await deps.db.room_activities.update_one({"_id": ObjectId(created["id"])},
                                             {"$set": {"created_at": db_now() - timedelta(days=31)}})
    late = await client.patch(url, json={"attendance": 13}, headers=as_role["room_admin"].headers)
    assert late.status_code == 422 and late.json()["code"] == "edit_window_closed"


async def test_district_and_town_lists(client: httpx.AsyncClient, as_role: dict[str, Session]) -> None:
    await client.post(f"/api/v1/rooms/{OTHER}/activities", json=body(title="葛沽读书会"),
                      headers=as_role["district_staff"].headers)
    everything = (await client.get("/api/v1/activities", headers=as_role["district_admin"].headers)).json()
    assert {"咸水沽镇", "葛沽镇"} <= {a["town"] for a in everything["items"]}
    mine = (await client.get("/api/v1/activities", headers=as_role["town_coordinator"].headers)).json()
    assert {a["town"] for a in mine["items"]} == {"咸水沽镇"}
    refused = await client.get("/api/v1/activities?town=葛沽镇", headers=as_role["town_coordinator"].headers)
    assert refused.status_code == 403
    page = (await client.get("/api/v1/activities?limit=1", headers=as_role["district_admin"].headers)).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    nxt = (await client.get(f"/api/v1/activities?limit=1&cursor={page['next_cursor']}",
                            headers=as_role["district_admin"].headers)).json()
    assert nxt["items"][0]["id"] != page["items"][0]["id"]
    bad = await client.get("/api/v1/activities?since=2026-05-02&until=2026-05-01",
                           headers=as_role["district_admin"].headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "since"]


async def test_opening_check_in_once_per_day(client: httpx.AsyncClient, as_role: dict[str, Session],
                                             deps: Deps) -> None:
    room = "JN-XSG-003"
    url = f"/api/v1/rooms/{room}/openings"
    first_op = op()
    first = await client.post(url, json={"op_id": first_op}, headers=as_role["town_coordinator"].headers)
    assert first.status_code == 201 and first.json()["first"] is True, first.text
    assert first.json()["day"] == local_today().isoformat()
    again = await client.post(url, json={"op_id": op()}, headers=as_role["district_staff"].headers)
    assert again.status_code == 201 and again.json()["first"] is False and again.json()["by"] == "xsg"
    replay = await client.post(url, json={"op_id": first_op}, headers=as_role["town_coordinator"].headers)
    assert replay.json()["replayed"] is True and replay.json()["first"] is True
    assert await deps.db.room_openings.count_documents({"room": room}) == 1
    assert await deps.db.audit.count_documents({"action": "room.opening", "room": room}) == 1
    assert (await client.post(f"/api/v1/rooms/{OTHER}/openings", json={"op_id": op()},
                              headers=as_role["room_admin"].headers)).status_code == 403


async def test_phone_page_records_with_xsrf(base_url: str, deps: Deps) -> None:
    async with page_client(base_url) as http:
        assert (await form_login(http, "/m/login", "jn-xsg-001")).status_code == 302
        home = await http.get("/m/")
        assert f"/m/rooms/{OWN}/activities" in home.text
        page = await http.get(f"/m/rooms/{OWN}/activities")
        assert page.status_code == 200 and "今日开馆" in page.text and "activities.js" in page.text
        token = re.search(r'name="shuwu-xsrf" content="([^"]+)"', page.text)
        assert token
        headers = {"X-XSRFToken": token.group(1)}
        posted = await http.post(f"/m/api/rooms/{OWN}/activities", json=body(title="手机登记的活动"), headers=headers)
        assert posted.status_code == 201, posted.text
        opened = await http.post(f"/m/api/rooms/{OWN}/openings", json={"op_id": op()}, headers=headers)
        assert opened.status_code == 201
        again = await http.get(f"/m/rooms/{OWN}/activities")
        assert "手机登记的活动" in again.text and "今天已打卡开馆" in again.text
        assert (await http.post(f"/m/api/rooms/{OWN}/openings", json={"op_id": op()})).status_code == 403
        assert (await http.get(f"/m/rooms/{OTHER}/activities")).status_code == 403


async def test_residents_are_the_districts_to_set(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                  deps: Deps) -> None:
    seeded = (await client.get(f"/api/v1/rooms/{OWN}", headers=as_role["district_staff"].headers)).json()
    assert 800 <= seeded["residents"] <= 12000
    refused = await client.patch(f"/api/v1/rooms/{OWN}", json={"residents": 99},
                                 headers=as_role["room_admin"].headers)
    assert refused.status_code == 403 and refused.json()["errors"][0]["loc"] == ["body", "residents"]
    bad = await client.patch(f"/api/v1/rooms/{OWN}", json={"residents": -1}, headers=as_role["district_staff"].headers)
    assert bad.status_code == 422
    ok = await client.patch(f"/api/v1/rooms/{OWN}", json={"residents": 1300}, headers=as_role["district_staff"].headers)
    assert ok.status_code == 200 and ok.json()["residents"] == 1300
    assert (await deps.db.rooms.find_one({"code": OWN}))["residents"] == 1300


async def test_demo_seed_runs_twice(seeded: Deps) -> None:
    await seed_demo(seeded)
    counts = [await seeded.db[c].count_documents({}) for c in ("room_activities", "room_openings", "room_surveys")]
    assert counts[0] > 100 and counts[2] > 100
    await seed_demo(seeded)
    again = [await seeded.db[c].count_documents({}) for c in ("room_activities", "room_openings", "room_surveys")]
    assert again == counts
