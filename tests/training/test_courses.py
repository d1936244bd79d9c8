"""Courses, sessions, enrolment with a waiting list, QR check-in and manual correction,
over the real API (training/courses)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from server.resources import Deps
from tests.conftest import Session, login
from training.courses.attendance import make_code

API = "/api/v1/training"


def op() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="module")
async def people(client: httpx.AsyncClient, as_role: dict[str, Session]) -> dict[str, Session]:
    """Room administrators of several rooms, and a second trainer."""
    out = {u: await login(client, u) for u in ("jn-xsg-001", "jn-xsg-002", "jn-xsg-003", "jn-xsg-004", "jn-gg-001")}
    response = await client.post("/api/v1/staff", headers=as_role["district_admin"].headers, json={
        "username": "trainer2", "name": "李培训", "password": "trainer2-password", "role": "trainer"})
    assert response.status_code == 201, response.text
    out["trainer2"] = await login(client, "trainer2", "trainer2-password")
    return out


@pytest.fixture(scope="module")
async def course(client: httpx.AsyncClient, as_role: dict[str, Session]) -> dict[str, Any]:
    response = await client.post(f"{API}/courses", headers=as_role["district_admin"].headers, json={
        "code": "rz-test", "title": "新任书屋管理员岗前培训", "topics": ["classification", "duties", "duties"],
        "hours": 8, "level": "district", "kind": "induction",
        "quiz": {"pass_mark": 60, "questions_per_attempt": 20, "time_limit_min": 30}})
    assert response.status_code == 201, response.text
    return response.json()


async def new_session(client: httpx.AsyncClient, headers: dict[str, str], course_id: str, *, capacity: int = 2,
                      trainer: str | None = "trainer", days: int = 3) -> dict[str, Any]:
    start = datetime.now(UTC) + timedelta(days=days)
    body = {"course_id": course_id, "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=3)).isoformat(),
            "place": "区图书馆三楼报告厅", "capacity": capacity}
    if trainer:
        body["trainer"] = trainer
    response = await client.post(f"{API}/sessions", headers=headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def audits(deps: Deps, action: str, target: str) -> list[dict[str, Any]]:
    return await deps.db["audit"].find({"action": action, "target_id": target}).to_list()


# -- courses -------------------------------------------------------------------------------


async def test_course_is_created_normalised_and_audited(client, as_role, course, deps) -> None:
    assert course["code"] == "RZ-TEST" and course["topics"] == ["classification", "duties"]
    assert course["topic_labels"] == ["分类与排架", "岗位职责"] and course["kind_label"] == "岗前培训"
    assert len(await audits(deps, "training.course.create", course["id"])) == 1
    again = await client.post(f"{API}/courses", headers=as_role["trainer"].headers, json={
        "code": "RZ-TEST", "title": "重复", "topics": ["policy"], "hours": 2, "kind": "topic"})
    assert again.status_code == 409 and again.json()["errors"][0]["loc"] == ["body", "code"]
    listed = (await client.get(f"{API}/courses", headers=as_role["room_admin"].headers)).json()["items"]
    assert [c["code"] for c in listed] == ["RZ-TEST"]


async def test_course_update_can_remove_the_quiz(client, as_role, deps) -> None:
    made = (await client.post(f"{API}/courses", headers=as_role["trainer"].headers, json={
        "code": "ZT-1", "title": "图书编目专题", "topics": ["cataloguing"], "hours": 3, "kind": "topic",
        "quiz": {"pass_mark": 50, "questions_per_attempt": 5, "time_limit_min": 10}})).json()
    response = await client.patch(f"{API}/courses/{made['id']}", headers=as_role["district_staff"].headers,
                                  json={"quiz": None, "hours": 4.5})
    assert response.status_code == 200, response.text
    assert response.json()["quiz"] is None and response.json()["hours"] == 4.5
    (entry,) = await audits(deps, "training.course.update", made["id"])
    assert entry["changes"]["hours"] == {"before": 3, "after": 4.5}


async def test_bad_course_input_names_the_field(client, as_role) -> None:
    admin = as_role["district_admin"].headers
    for body, field in (({"code": "X", "title": "两字", "topics": ["duties"], "hours": 1, "kind": "topic"}, "code"),
                        ({"code": "AB-1", "title": "测试课程", "topics": ["nope"], "hours": 1, "kind": "topic"}, "topics"),
                        ({"code": "AB-1", "title": "测试课程", "topics": ["duties"], "hours": 0, "kind": "topic"}, "hours"),
                        ({"code": "AB-1", "title": "测试课程", "topics": ["duties"], "hours": 2, "kind": "topic",
                          "quiz": {"pass_mark": 0, "questions_per_attempt": 5, "time_limit_min": 10}}, "quiz")):
        response = await client.post(f"{API}/courses", headers=admin, json=body)
        assert response.status_code == 422, body
        assert any(e["loc"][:2] == ["body", field] for e in response.json()["errors"]), response.json()


async def test_room_admin_cannot_write_courses_or_sessions(client, as_role, course) -> None:
    headers = as_role["room_admin"].headers
    response = await client.post(f"{API}/courses", headers=headers, json={
        "code": "NO-1", "title": "不可以", "topics": ["duties"], "hours": 1, "kind": "topic"})
    assert response.status_code == 403
    response = await client.patch(f"{API}/courses/{course['id']}", headers=headers, json={"hours": 1})
    assert response.status_code == 403


# -- sessions and the waiting list ------------------------------------------------------------


async def test_enrol_waitlist_and_promotion_on_cancel(client, as_role, people, course, deps) -> None:
    s = await new_session(client, as_role["district_admin"].headers, course["id"], capacity=2)
    url = f"{API}/sessions/{s['id']}/enrolments"
    answers = {}
    for who in ("jn-xsg-001", "jn-xsg-002", "jn-xsg-003", "jn-xsg-004"):
        response = await client.post(url, headers=people[who].headers, json={"op_id": op()})
        assert response.status_code == 201, response.text
        answers[who] = response.json()
    assert [answers[w]["enrolment"]["status"] for w in answers] == ["enrolled", "enrolled", "waiting", "waiting"]
    assert answers["jn-xsg-003"]["enrolment"]["position"] == 1 and answers["jn-xsg-004"]["enrolment"]["position"] == 2
    assert "候补名单第 2 位" in answers["jn-xsg-004"]["message"]

    # Twice with another op_id: refused; replayed with the same op_id: the first answer.
    again = await client.post(url, headers=people["jn-xsg-001"].headers, json={"op_id": op()})
    assert again.status_code == 409 and again.json()["code"] == "already_enrolled"
    first_op = answers["jn-xsg-003"]["op_id"]
    replay = await client.post(url, headers=people["jn-xsg-003"].headers, json={"op_id": first_op})
    assert replay.status_code == 201 and replay.json()["replayed"] is True
    assert replay.json()["enrolment"] == answers["jn-xsg-003"]["enrolment"]

    # The trainer sees the list in order; an administrator does not.
    listed = (await client.get(url, headers=as_role["trainer"].headers)).json()
    assert [e["username"] for e in listed["waiting"]] == ["jn-xsg-003", "jn-xsg-004"]
    assert [e["position"] for e in listed["waiting"]] == [1, 2]
    assert (await client.get(url, headers=people["jn-xsg-001"].headers)).status_code == 403

    # An enrolled person leaves: the first waiting one moves up in the same transaction.
    me = people["jn-xsg-002"]
    response = await client.post(f"{url}/{me.staff['id']}/cancel", headers=me.headers, json={"op_id": op()})
    assert response.status_code == 200, response.text
    assert response.json()["promoted"] == ["jn-xsg-003"]
    listed = (await client.get(url, headers=as_role["district_staff"].headers)).json()
    assert {e["username"] for e in listed["enrolled"]} == {"jn-xsg-001", "jn-xsg-003"}
    assert [e["username"] for e in listed["waiting"]] == ["jn-xsg-004"]
    assert [e["username"] for e in listed["cancelled"]] == ["jn-xsg-002"]
    # Somebody else's place is not an administrator's to cancel.
    other = people["jn-xsg-001"]
    response = await client.post(f"{url}/{other.staff['id']}/cancel", headers=people["jn-gg-001"].headers,
                                 json={"op_id": op()})
    assert response.status_code == 403
    # Cancelling a waiting place promotes nobody.
    w = people["jn-xsg-004"]
    response = await client.post(f"{url}/{w.staff['id']}/cancel", headers=as_role["trainer"].headers, json={"op_id": op()})
    assert response.status_code == 200 and response.json()["promoted"] == []
    # They may join again, at the end of the list.
    response = await client.post(url, headers=w.headers, json={"op_id": op()})
    assert response.status_code == 201 and response.json()["enrolment"]["status"] == "waiting"
    assert len(await audits(deps, "training.enrolment.cancel", s["id"])) == 2


async def test_capacity_rules(client, as_role, people, course, deps) -> None:
    admin = as_role["district_admin"].headers
    s = await new_session(client, admin, course["id"], capacity=1)
    url = f"{API}/sessions/{s['id']}"
    for who in ("jn-xsg-001", "jn-xsg-002", "jn-xsg-003"):
        await client.post(f"{url}/enrolments", headers=people[who].headers, json={"op_id": op()})
    # More places: the waiting list moves up in order.
    response = await client.patch(url, headers=admin, json={"capacity": 2})
    assert response.status_code == 200, response.text
    assert (response.json()["enrolled"], response.json()["waiting"]) == (2, 1)
    listed = (await client.get(f"{url}/enrolments", headers=admin)).json()
    assert {e["username"] for e in listed["enrolled"]} == {"jn-xsg-001", "jn-xsg-002"}
    # Fewer places than enrolled people: refused, naming capacity; nothing changed.
    response = await client.patch(url, headers=admin, json={"capacity": 1, "place": "镇文化站"})
    assert response.status_code == 409
    assert response.json()["code"] == "capacity_below_enrolled"
    assert response.json()["errors"][0]["loc"] == ["body", "capacity"]
    got = (await client.get(url, headers=admin)).json()
    assert (got["capacity"], got["place"]) == (2, "区图书馆三楼报告厅")
    entries = await audits(deps, "training.session.update", s["id"])
    assert len(entries) == 1 and entries[0]["changes"]["promoted"] == ["jn-xsg-002"]


async def test_session_times_and_trainer_are_checked(client, as_role, course) -> None:
    admin = as_role["district_admin"].headers
    start = datetime.now(UTC) + timedelta(days=2)
    base = {"course_id": course["id"], "starts_at": start.isoformat(), "place": "镇文化站", "capacity": 5}
    response = await client.post(f"{API}/sessions", headers=admin,
                                 json={**base, "ends_at": (start - timedelta(hours=1)).isoformat(), "trainer": "trainer"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "ends_at"]
    ends = (start + timedelta(hours=2)).isoformat()
    response = await client.post(f"{API}/sessions", headers=admin, json={**base, "ends_at": ends, "trainer": "jn-xsg-001"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "trainer"]
    response = await client.post(f"{API}/sessions", headers=admin, json={**base, "ends_at": ends,
                                                                       "starts_at": "2026-05-01T09:00:00"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"][:2] == ["body", "starts_at"]
    response = await client.post(f"{API}/sessions", headers=admin, json={**base, "ends_at": ends,
                                                                       "course_id": "0" * 24, "trainer": "trainer"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "course_id"]
    # A trainer schedules their own sessions only.
    response = await client.post(f"{API}/sessions", headers=as_role["trainer"].headers,
                                 json={**base, "ends_at": ends, "trainer": "trainer2"})
    assert response.status_code == 403


async def test_trainer_cannot_manage_another_trainers_session(client, as_role, people, course) -> None:
    s = await new_session(client, people["trainer2"].headers, course["id"], trainer=None)
    assert s["trainer"] == "trainer2"
    mine = as_role["trainer"].headers
    url = f"{API}/sessions/{s['id']}"
    for method, path, body in (("PATCH", "", {"capacity": 9}), ("POST", "/transition", {"to": "checkin_open"}),
                               ("GET", "/enrolments", None), ("GET", "/attendance", None), ("GET", "/qr", None),
                               ("POST", "/enrolments", {"op_id": op(), "staff_id": people["jn-xsg-001"].staff["id"]})):
        response = await client.request(method, url + path, headers=mine, json=body)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["code"] == "not_your_session"
    assert (await client.get(url, headers=mine)).status_code == 200  # reading is open to all staff


async def test_transitions(client, as_role, course, deps) -> None:
    trainer = as_role["trainer"].headers
    s = await new_session(client, trainer, course["id"])
    url = f"{API}/sessions/{s['id']}/transition"
    response = await client.post(url, headers=trainer, json={"to": "finished"})
    assert response.status_code == 422 and response.json()["code"] == "bad_transition"
    for to in ("checkin_open", "finished"):
        response = await client.post(url, headers=trainer, json={"to": to})
        assert response.status_code == 200 and response.json()["status"] == to
    response = await client.post(url, headers=trainer, json={"to": "cancelled"})
    assert response.status_code == 422
    assert [a["action"] for a in await deps.db["audit"].find({"target_id": s["id"]}).sort("_id", 1).to_list()] == [
        "training.session.create", "training.session.checkin_open", "training.session.finished"]
    listed = (await client.get(f"{API}/sessions", params={"status": "finished", "course_id": course["id"]},
                               headers=as_role["room_admin"].headers)).json()
    assert s["id"] in [i["id"] for i in listed["items"]]


async def test_session_list_pages_and_filters_by_local_date(client, as_role, course) -> None:
    admin = as_role["district_admin"].headers
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2, "course_id": course["id"]}
    while True:
        page = (await client.get(f"{API}/sessions", params=params, headers=admin)).json()
        seen += [i["starts_at"] for i in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert len(seen) >= 4 and seen == sorted(seen)
    far = (datetime.now(UTC) + timedelta(days=400)).date().isoformat()
    empty = (await client.get(f"{API}/sessions", params={"from": far}, headers=admin)).json()
    assert empty["items"] == []


# -- check-in -----------------------------------------------------------------------------------


async def _secret(deps: Deps, session_id: str) -> str:
    doc = await deps.db["training_sessions"].find_one({"_id": ObjectId(session_id)})
    return doc["qr_secret"]


async def test_qr_check_in(client, as_role, people, course, deps) -> None:
    trainer = as_role["trainer"].headers
    s = await new_session(client, trainer, course["id"], capacity=2)
    sid = s["id"]
    for who in ("jn-xsg-001", "jn-xsg-002", "jn-xsg-003"):  # 003 waits
        await client.post(f"{API}/sessions/{sid}/enrolments", headers=people[who].headers, json={"op_id": op()})
    secret = await _secret(deps, sid)
    step = deps.settings.training_qr_step_secs
    code = make_code(secret, sid, time.time(), step).text
    checkins = f"{API}/checkins"
    a = people["jn-xsg-001"]

    # Not open yet: the QR is not shown and a code is refused.
    assert (await client.get(f"{API}/sessions/{sid}/qr", headers=trainer)).json()["code"] == "checkin_closed"
    response = await client.post(checkins, headers=a.headers, json={"op_id": op(), "code": code})
    assert response.status_code == 422 and response.json()["code"] == "checkin_closed"
    assert response.json()["errors"][0]["loc"] == ["body", "code"]

    await client.post(f"{API}/sessions/{sid}/transition", headers=trainer, json={"to": "checkin_open"})
    qr = (await client.get(f"{API}/sessions/{sid}/qr", headers=trainer)).json()
    assert qr["code"].startswith(f"SWPX1.{sid}.") and qr["image"].startswith("data:image/svg+xml;base64,")
    assert 0 < qr["expires_in"] <= step and (qr["present"], qr["enrolled"]) == (0, 2)
    assert "qr_secret" not in str(qr) and secret not in str(qr)
    assert (await client.get(f"{API}/sessions/{sid}/qr", headers=a.headers)).status_code == 403

    # A screenshot of an old code, a forged one, garbage: refused.
    old = make_code(secret, sid, time.time() - 3 * step, step).text
    for text, why in ((old, "stale_code"), (qr["code"][:-1] + ("A" if qr["code"][-1] != "A" else "B"), "invalid_code"),
                      ("hello", "invalid_code"), (make_code("x", sid, time.time(), step).text, "invalid_code")):
        response = await client.post(checkins, headers=a.headers, json={"op_id": op(), "code": text})
        assert response.status_code == 422 and response.json()["code"] == why, (text, response.text)

    # The live code checks in; the same op_id again answers the first result; a new scan is 409.
    first_op = op()
    response = await client.post(checkins, headers=a.headers, json={"op_id": first_op, "code": qr["code"]})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "present" and body["replayed"] is False and body["course_title"] == course["title"]
    replay = await client.post(checkins, headers=a.headers, json={"op_id": first_op, "code": "anything-at-all"})
    assert replay.status_code == 201 and replay.json()["replayed"] is True and replay.json()["at"] == body["at"]
    again = await client.post(checkins, headers=a.headers, json={"op_id": op(), "code": qr["code"]})
    assert again.status_code == 409 and again.json()["code"] == "already_checked_in"

    # Waiting list and not enrolled at all.
    for who, why in (("jn-xsg-003", "not_enrolled"), ("jn-gg-001", "not_enrolled")):
        response = await client.post(checkins, headers=people[who].headers, json={"op_id": op(), "code": qr["code"]})
        assert response.status_code == 422 and response.json()["code"] == why

    # A code of another session while the scanner is enrolled in this one: foreign.
    other = await new_session(client, trainer, course["id"], days=4)
    await client.post(f"{API}/sessions/{other['id']}/transition", headers=trainer, json={"to": "checkin_open"})
    b = people["jn-xsg-002"]
    foreign = make_code(await _secret(deps, other["id"]), other["id"], time.time(), step).text
    response = await client.post(checkins, headers=b.headers, json={"op_id": op(), "code": foreign})
    assert response.status_code == 422 and response.json()["code"] == "foreign_code"
    response = await client.post(checkins, headers=b.headers, json={"op_id": op(), "code": qr["code"], "session_id": other["id"]})
    assert response.status_code == 422 and response.json()["code"] == "foreign_code"

    rows = (await client.get(f"{API}/sessions/{sid}/attendance", headers=trainer)).json()
    assert (rows["present"], rows["absent"], rows["not_recorded"]) == (1, 0, 1)
    assert rows["items"][0]["username"] == "jn-xsg-001" and rows["items"][0]["method"] == "qr"
    assert await deps.db["training_attendance"].count_documents({"session_id": ObjectId(sid)}) == 1
    # Administrators do not read others' attendance; district staff do.
    assert (await client.get(f"{API}/sessions/{sid}/attendance", headers=a.headers)).status_code == 403
    assert (await client.get(f"{API}/sessions/{sid}/attendance", headers=as_role["district_staff"].headers)).status_code == 200

    # Manual correction: audited with before and after; a reason is required.
    bad = await client.put(f"{API}/sessions/{sid}/attendance/{b.staff['id']}", headers=trainer, json={"status": "present"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "reason"]
    fixed = await client.put(f"{API}/sessions/{sid}/attendance/{b.staff['id']}", headers=trainer,
                             json={"status": "present", "reason": "手机没电，培训师现场核实"})
    assert fixed.status_code == 200 and fixed.json()["method"] == "manual"
    undo = await client.put(f"{API}/sessions/{sid}/attendance/{a.staff['id']}", headers=as_role["district_admin"].headers,
                            json={"status": "absent", "reason": "签到后提前离场"})
    assert undo.status_code == 200
    (entry,) = [e for e in await audits(deps, "training.attendance.correct", sid) if e["changes"]["staff"] == "jn-xsg-001"]
    assert entry["changes"]["before"] == {"status": "present", "method": "qr"}
    assert entry["changes"]["after"] == {"status": "absent", "method": "manual"}
    assert entry["changes"]["reason"] == "签到后提前离场"
    other_trainer = await client.put(f"{API}/sessions/{sid}/attendance/{a.staff['id']}", headers=people["trainer2"].headers,
                                     json={"status": "present", "reason": "越权"})
    assert other_trainer.status_code == 403

    # Finished: no more check-ins.
    await client.post(f"{API}/sessions/{sid}/transition", headers=trainer, json={"to": "finished"})
    fresh = make_code(secret, sid, time.time(), step).text
    response = await client.post(checkins, headers=people["jn-xsg-002"].headers, json={"op_id": op(), "code": fresh})
    assert response.status_code == 422 and response.json()["code"] == "checkin_closed"


async def test_my_training(client, as_role, people, course) -> None:
    me = people["jn-gg-001"]
    s = await new_session(client, as_role["district_admin"].headers, course["id"], days=10, capacity=30)
    before = (await client.get(f"{API}/me", headers=me.headers)).json()
    assert s["id"] in [u["id"] for u in before["upcoming"]]
    await client.post(f"{API}/sessions/{s['id']}/enrolments", headers=as_role["district_admin"].headers,
                      json={"op_id": op(), "staff_id": me.staff["id"]})
    after = (await client.get(f"{API}/me", headers=me.headers)).json()
    assert s["id"] not in [u["id"] for u in after["upcoming"]]
    (mine,) = [m for m in after["enrolments"] if m["session"]["id"] == s["id"]]
    assert mine["enrolment"]["status"] == "enrolled" and mine["enrolment"]["by"] == "admin"
    trainer = (await client.get(f"{API}/me", headers=as_role["trainer"].headers)).json()
    assert trainer["trainer_of"] and trainer["upcoming"] == []


async def test_district_enrols_only_trainees(client, as_role, people, course) -> None:
    s = await new_session(client, as_role["district_admin"].headers, course["id"])
    url = f"{API}/sessions/{s['id']}/enrolments"
    admin = as_role["district_admin"].headers
    response = await client.post(url, headers=admin, json={"op_id": op()})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "staff_id"]
    response = await client.post(url, headers=admin, json={"op_id": op(), "staff_id": as_role["inspector"].staff["id"]})
    assert response.status_code == 422 and response.json()["code"] == "not_a_trainee"
    response = await client.post(url, headers=people["jn-xsg-001"].headers,
                                 json={"op_id": op(), "staff_id": people["jn-xsg-002"].staff["id"]})
    assert response.status_code == 403
    response = await client.post(url, headers=admin, json={"op_id": op(), "staff_id": as_role["town_coordinator"].staff["id"]})
    assert response.status_code == 201
