"""Training requirements: induction before taking the post, the yearly refresher hours, the
rooms the console flags, and the demo (run twice)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from bson import ObjectId

from server.readers.service import local_today
from server.resources import Deps
from server.seed import _seed_actor
from tests.conftest import Session
from training.certificates.requirements import rooms_without_induction, status_from, training_status
from training.certificates.service import issue_due


async def _complete(deps: Deps, usernames: list[str], *, kind: str, hours: float, code: str) -> None:
    """Each person attended a finished session of a quiz-less course, then the district issued."""
    now = datetime.now(UTC).replace(microsecond=0)
    course, session = ObjectId(), ObjectId()
    await deps.db["training_courses"].insert_one({
        "_id": course, "code": code, "title": f"课程{code}", "topics": ["duties"], "hours": hours, "level": "district",
        "kind": kind, "quiz": None, "active": True, "created_at": now, "updated_at": now})
    await deps.db["training_sessions"].insert_one({
        "_id": session, "course_id": course, "starts_at": now - timedelta(hours=5), "ends_at": now - timedelta(hours=1),
        "place": "区图书馆", "trainer": "trainer", "trainer_name": "孙文静", "capacity": 50, "status": "finished",
        "qr_secret": "s" * 20, "created_at": now, "updated_at": now})
    people = await deps.db["staff"].find({"username": {"$in": usernames}}).to_list()
    await deps.db["training_attendance"].insert_many([
        {"_id": ObjectId(), "session_id": session, "course_id": course, "staff_id": str(p["_id"]),
         "username": p["username"], "name": p["name"], "status": "present", "method": "manual", "at": now,
         "by": "trainer", "reason": None} for p in people])
    actor = _seed_actor(await deps.db["staff"].find_one({"username": "admin"}))
    await issue_due(deps, actor, course_id=str(course))


def test_status_from_certificates() -> None:
    certs = [{"kind": "induction", "number": "JNPX-2015-0001", "hours": 8, "issued_on": "2015-04-01"},
             {"kind": "refresher", "number": "JNPX-2026-0003", "hours": 6, "issued_on": "2026-03-01"},
             {"kind": "topic", "number": "JNPX-2026-0009", "hours": 2.5, "issued_on": "2026-10-01"}]
    status = status_from(certs, 2026, 8)
    assert status.inducted and status.induction_number == "JNPX-2015-0001"
    assert status.hours_in_year == 8.5 and status.refresher_met
    assert not status_from(certs[:2], 2026, 8).refresher_met
    assert status_from([], 2026, 0).refresher_met and not status_from([], 2026, 0).inducted


async def test_requirements_flags_rooms_and_counts_hours(seeded: Deps, client: httpx.AsyncClient,
                                                         as_role: dict[str, Session]) -> None:
    year = local_today().year
    r = await client.get("/api/v1/training/requirements", headers=as_role["district_staff"].headers)
    assert r.status_code == 200
    before = r.json()
    assert before["year"] == year and before["inducted"] == 0 and before["refresher_hours"] == 8
    assert len(before["rooms_without_induction"]) == len(before["administrators"]) == 110
    await _complete(seeded, ["jn-xsg-001", "jn-xsg-002"], kind="induction", hours=8, code="RZ-T")
    await _complete(seeded, ["jn-xsg-001"], kind="topic", hours=2, code="ZT-T")
    # JN-GG-001 loses its administrator.
    await seeded.db["staff"].update_one({"username": "jn-gg-001"}, {"$set": {"active": False}})
    after = (await client.get("/api/v1/training/requirements", headers=as_role["district_admin"].headers,
                              params={"year": year})).json()
    flagged = {r["room"] for r in after["rooms_without_induction"]}
    assert "JN-XSG-001" not in flagged and "JN-XSG-002" not in flagged and "JN-XSG-003" in flagged
    assert [r["room"] for r in after["rooms_without_administrator"]] == ["JN-GG-001"]
    assert after["inducted"] == 2
    admins = {a["username"]: a for a in after["administrators"]}
    assert admins["jn-xsg-001"]["hours_in_year"] == 10 and admins["jn-xsg-001"]["refresher_met"]
    assert admins["jn-xsg-002"]["hours_in_year"] == 8 and admins["jn-xsg-002"]["refresher_met"]
    assert not admins["jn-xsg-003"]["refresher_met"] and admins["jn-xsg-003"]["induction_number"] is None
    last_year = (await client.get("/api/v1/training/requirements", headers=as_role["district_admin"].headers,
                                  params={"year": year - 1})).json()
    assert {a["username"]: a for a in last_year["administrators"]}["jn-xsg-001"]["hours_in_year"] == 0
    # A town coordinator sees their towns only.
    town = (await client.get("/api/v1/training/requirements", headers=as_role["town_coordinator"].headers)).json()
    assert town["administrators"] and all(a["rooms"][0].startswith("JN-XSG") for a in town["administrators"])
    assert all(r["town"] == "咸水沽镇" for r in town["rooms_without_induction"])
    assert (await client.get("/api/v1/training/requirements", headers=as_role["room_admin"].headers)).status_code == 403
    assert (await client.get("/api/v1/training/requirements", headers=as_role["district_admin"].headers,
                             params={"year": "soon"})).status_code == 422
    # The function others call.
    ids = [admins["jn-xsg-001"]["staff_id"], admins["jn-xsg-003"]["staff_id"], "0" * 24]
    status = await training_status(seeded, ids, year)
    assert status[ids[0]].inducted and status[ids[0]].hours_in_year == 10 and len(status[ids[0]].certificates) == 2
    assert not status[ids[1]].inducted and status[ids[2]].hours_in_year == 0
    listed = await rooms_without_induction(seeded)
    assert {r["room"] for r in listed if r["no_administrator"]} == {"JN-GG-001"}
    await seeded.db["staff"].update_one({"username": "jn-gg-001"}, {"$set": {"active": True}})


async def test_console_overview(seeded: Deps, base_url: str) -> None:
    from tests.web.test_pages import form_login, page_client

    async with page_client(base_url) as console:
        await form_login(console, "/console/login", "xsg")
        page = await console.get("/console/training")
        assert page.status_code == 200
        text = page.text
        assert "管理员未完成岗前培训的书屋" in text and 'href="/console/rooms/JN-XSG-003"' in text
        assert 'href="/console/rooms/JN-GG-002"' not in text  # another town
        assert 'href="/console/training/courses"' in text and 'href="/console/training/certificates"' in text
        assert "管理员已完成岗前培训" in text


async def test_demo_runs_twice(seeded: Deps) -> None:
    from training.certificates.demo import seed_demo
    from training.courses.demo import seed_demo as seed_courses

    await seed_demo(seeded)  # no courses yet: nothing to do
    assert await seeded.db["training_quiz_questions"].count_documents({}) == 0
    await seed_courses(seeded)
    await seed_demo(seeded)
    counts = {name: await seeded.db[name].count_documents({})
              for name in ("training_quiz_questions", "training_quiz_attempts", "training_certificates")}
    assert counts["training_quiz_questions"] >= 30
    assert await seeded.db["training_certificates"].count_documents({"source": "history"}) >= 40
    await seed_demo(seeded)
    assert counts == {name: await seeded.db[name].count_documents({}) for name in counts}
    left = [r for r in await rooms_without_induction(seeded) if not r["no_administrator"]]
    assert 8 <= len(left) <= 25, len(left)
