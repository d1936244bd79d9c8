"""The console and phone pages of courses, sessions and check-in render with their content,
their forms work, and the demo seeds once."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from bson import ObjectId

from server.resources import Deps
from server.seed import DEMO_PASSWORD
from tests.conftest import check_invariants
from training.courses.attendance import make_code
from training.courses.demo import seed_demo


@contextlib.asynccontextmanager
async def page_login(base_url: str, username: str, area: str = "console") -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client logged in through the log-in form (cookie session, XSRF)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30, follow_redirects=False,
                                 event_hooks={"response": [check_invariants]}) as http:
        login_url = "/console/login" if area == "console" else "/m/login"
        await http.get(login_url)
        response = await http.post(login_url, data={"username": username, "password": DEMO_PASSWORD,
                                                    "_xsrf": http.cookies.get("_xsrf")})
        assert response.status_code == 302, response.text
        yield http


def xsrf(http: httpx.AsyncClient) -> str:
    return http.cookies.get("_xsrf") or ""


@pytest.fixture(scope="module")
async def demo(seeded: Deps) -> Deps:
    await seed_demo(seeded)
    return seeded


async def test_demo_seeds_once(demo: Deps) -> None:
    db = demo.db
    counts = {c: await db[c].count_documents({}) for c in
              ("training_courses", "training_sessions", "training_enrolments", "training_attendance")}
    assert counts["training_courses"] == 5 and counts["training_sessions"] == 8
    present = await db["training_attendance"].distinct("staff_id", {"status": "present"})
    assert len(present) >= 60
    statuses = sorted({s["status"] for s in await db["training_sessions"].find().to_list()})
    assert statuses == ["checkin_open", "finished", "scheduled"]
    assert await db["training_enrolments"].count_documents({"status": "waiting"}) == 4
    await seed_demo(demo)
    assert {c: await db[c].count_documents({}) for c in counts} == counts


async def test_console_pages(demo: Deps, base_url: str, command_counter: Any) -> None:
    async with page_login(base_url, "admin") as http:
        r = await http.get("/console/training/courses")
        assert r.status_code == 200 and "新任书屋管理员岗前培训" in r.text and "新建课程" in r.text
        course_id = re.search(r'href="/console/training/courses/([0-9a-f]{24})"', r.text)[1]
        r = await http.get(f"/console/training/courses/{course_id}")
        assert r.status_code == 200 and "培训场次" in r.text
        command_counter.reset()
        r = await http.get("/console/training/sessions")
        assert r.status_code == 200 and "即将进行" in r.text and "签到中" in r.text and "满员" in r.text
        finds = [c for c in command_counter.commands if c.startswith(("find:training", "aggregate:training"))]
        assert len(finds) <= 6, finds  # one query per collection, not one per session
        full = await demo.db["training_sessions"].find_one({"capacity": 20})
        r = await http.get(f"/console/training/sessions/{full['_id']}")
        assert r.status_code == 200 and "候补名单" in r.text and "代为报名" in r.text
        assert r.text.count("<li>") >= 4
        # The forms: create a course, schedule a session, raise capacity (the waiting list moves up).
        r = await http.post("/console/training/courses", data={
            "_xsrf": xsrf(http), "code": "zt-page", "title": "页面新建课程", "kind": "topic", "level": "district",
            "hours": "2", "topics": ["policy", "duties"]})
        assert r.status_code == 302, r.text
        made = await demo.db["training_courses"].find_one({"code": "ZT-PAGE"})
        assert made["topics"] == ["policy", "duties"] and made["quiz"] is None
        r = await http.post("/console/training/sessions", data={
            "_xsrf": xsrf(http), "course_id": str(made["_id"]), "starts_at": "2030-03-01T09:00",
            "ends_at": "2030-03-01T11:30", "place": "区图书馆", "capacity": "10", "trainer": "trainer"})
        assert r.status_code == 302, r.text
        new = await demo.db["training_sessions"].find_one({"course_id": made["_id"]})
        assert new["starts_at"].hour == 1  # 09:00 in Beijing is 01:00 UTC
        r = await http.post(f"/console/training/sessions/{full['_id']}/edit",
                            data={"_xsrf": xsrf(http), "capacity": "22"})
        assert r.status_code == 302
        assert await demo.db["training_enrolments"].count_documents(
            {"session_id": full["_id"], "status": "waiting"}) == 2
        # A refused change shows the reason on an error page, not a 500.
        r = await http.post(f"/console/training/sessions/{full['_id']}/edit", data={"_xsrf": xsrf(http), "capacity": "3"})
        assert r.status_code == 409 and "名额不能少于" in r.text
        # Attendance correction through the form.
        today = await demo.db["training_sessions"].find_one({"status": "checkin_open"})
        person = await demo.db["training_enrolments"].find_one({"session_id": today["_id"]}, sort=[("at", -1)])
        r = await http.post(f"/console/training/sessions/{today['_id']}/attendance", data={
            "_xsrf": xsrf(http), "staff_id": person["staff_id"], "status": "present", "reason": "现场核实"})
        assert r.status_code == 302
        mark = await demo.db["training_attendance"].find_one({"session_id": today["_id"], "staff_id": person["staff_id"]})
        assert mark["method"] == "manual" and mark["reason"] == "现场核实"


async def test_room_admin_has_no_console_pages(demo: Deps, base_url: str) -> None:
    async with page_login(base_url, "jn-xsg-001", area="phone") as http:
        r = await http.get("/console/training/sessions")
        assert r.status_code == 403


async def test_phone_pages_enrol_and_check_in(demo: Deps, base_url: str) -> None:
    # An administrator with no training yet: jn-xsg-001's place is not in the demo (admins sorted by username).
    staff = await demo.db["staff"].find({"role": "room_admin"}).sort("username", -1).to_list(1)
    username = staff[0]["username"]
    async with page_login(base_url, username, area="phone") as http:
        r = await http.get("/m/")
        assert 'href="/m/training"' in r.text
        r = await http.get("/m/training")
        assert r.status_code == 200 and "可以报名的培训" in r.text and "扫码签到" in r.text
        sid = re.search(r'action="/m/training/sessions/([0-9a-f]{24})/enrol"', r.text)[1]
        op_id = re.search(r'name="op_id" value="([^"]+)"', r.text)[1]
        r = await http.post(f"/m/training/sessions/{sid}/enrol", data={"_xsrf": xsrf(http), "op_id": op_id})
        assert r.status_code == 302 and r.headers["location"].startswith("/m/training?done=")
        r = await http.get("/m/training")
        assert "已报名" in r.text or "候补第" in r.text
        # Check in at today's open session after the district enrols them there.
        today = await demo.db["training_sessions"].find_one({"status": "checkin_open"})
        await demo.db["training_enrolments"].insert_one({
            "session_id": today["_id"], "course_id": today["course_id"], "staff_id": str(staff[0]["_id"]),
            "username": username, "name": staff[0]["name"], "rooms": staff[0]["rooms"], "status": "enrolled",
            "at": today["created_at"], "by": "admin"})
        r = await http.get("/m/training/checkin")
        assert r.status_code == 200 and "正在签到" in r.text and "training.js" in r.text
        token = re.search(r'name="shuwu-xsrf" content="([^"]+)"', r.text)[1]
        code = make_code(today["qr_secret"], str(today["_id"]), time.time(), demo.settings.training_qr_step_secs).text
        r = await http.post("/m/api/training/checkins", json={"op_id": uuid.uuid4().hex, "code": code},
                            headers={"X-XSRFToken": token})
        assert r.status_code == 201, r.text
        assert r.json()["message"].startswith("签到成功")
        # Without the XSRF token: refused.
        r = await http.post("/m/api/training/checkins", json={"op_id": uuid.uuid4().hex, "code": code})
        assert r.status_code == 403


async def test_trainer_qr_page(demo: Deps, base_url: str) -> None:
    today = await demo.db["training_sessions"].find_one({"status": "checkin_open"})
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as anonymous:
        r = await anonymous.get(f"/m/training/sessions/{today['_id']}/qr")
        assert r.status_code == 302
        assert r.headers["location"].startswith("/console/login?next=/console/training/sessions/")
    async with page_login(base_url, "trainer") as http:
        r = await http.get(f"/console/training/sessions/{today['_id']}/qr")
        assert r.status_code == 302 and r.headers["location"] == f"/m/training/sessions/{today['_id']}/qr"
        r = await http.get(f"/m/training/sessions/{today['_id']}/qr")
        assert r.status_code == 200 and 'src="data:image/svg+xml;base64,' in r.text and "人已签到" in r.text
        r = await http.get(f"/m/api/training/sessions/{today['_id']}/qr")
        assert r.status_code == 200 and r.json()["code"].startswith(f"SWPX1.{today['_id']}.")
        r = await http.get("/m/training")
        assert r.status_code == 200 and "我主讲的培训" in r.text and "显示签到二维码" in r.text
    async with page_login(base_url, "jn-xsg-001", area="phone") as other:
        r = await other.get(f"/m/training/sessions/{today['_id']}/qr")
        assert r.status_code == 403
        r = await other.get(f"/m/training/sessions/{ObjectId()}/qr")
        assert r.status_code == 403
