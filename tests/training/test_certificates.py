"""Certificates: issued only for completed courses (attendance at a finished session AND a
passed quiz when there is one), numbered uniquely under concurrency, printed as PDF, verified
in public showing exactly the allowed fields, revoked, listed in scope, exported."""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from openpyxl import load_workbook
from pypdf import PdfReader

from server.resources import Deps
from server.seed import _seed_actor
from tests.conftest import Session
from training.certificates.service import issue_due


def op() -> str:
    return uuid.uuid4().hex


async def make_course(deps: Deps, *, code: str, quiz: dict[str, int] | None, kind: str = "topic",
                      hours: float = 3) -> ObjectId:
    now = datetime.now(UTC)
    oid = ObjectId()
    await deps.db["training_courses"].insert_one({
        "_id": oid, "code": code, "title": f"课程{code}", "topics": ["policy"], "hours": hours, "level": "district",
        "kind": kind, "quiz": quiz, "active": True, "created_at": now, "updated_at": now})
    return oid


async def make_session(deps: Deps, course: ObjectId, *, status: str = "finished") -> ObjectId:
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    oid = ObjectId()
    await deps.db["training_sessions"].insert_one({
        "_id": oid, "course_id": course, "starts_at": start, "ends_at": start + timedelta(hours=3), "place": "区图书馆",
        "trainer": "trainer", "trainer_name": "孙文静", "capacity": 30, "status": status, "qr_secret": "x" * 20,
        "created_at": start, "updated_at": start})
    return oid


async def mark(deps: Deps, session: ObjectId, course: ObjectId, staff: dict[str, Any], status: str = "present") -> None:
    await deps.db["training_attendance"].insert_one({
        "_id": ObjectId(), "session_id": session, "course_id": course, "staff_id": staff["id"],
        "username": staff["username"], "name": staff["name"], "status": status, "method": "qr",
        "at": datetime.now(UTC), "by": staff["username"], "reason": None})


async def add_questions(client: httpx.AsyncClient, headers: dict[str, str], course: ObjectId, n: int) -> None:
    for i in range(n):
        r = await client.post(f"/api/v1/training/courses/{course}/questions", headers=headers,
                              json={"text": f"题 {i}", "options": ["对", "错"], "answer": 0})
        assert r.status_code == 201


async def take_quiz(client: httpx.AsyncClient, headers: dict[str, str], course: ObjectId, *, right: bool) -> dict[str, Any]:
    base = f"/api/v1/training/courses/{course}/attempts"
    attempt = (await client.post(base, headers=headers, json={"op_id": op()})).json()
    answers = {q["id"]: q["options"].index("对" if right else "错") for q in attempt["questions"]}
    await client.put(f"{base}/{attempt['id']}/answers", headers=headers, json={"op_id": op(), "answers": answers})
    r = await client.post(f"{base}/{attempt['id']}/submit", headers=headers, json={"op_id": op()})
    assert r.status_code == 200, r.text
    return r.json()


QUIZ = {"pass_mark": 60, "questions_per_attempt": 2, "time_limit_min": 10}


@pytest.fixture(scope="module")
def staff(as_role: dict[str, Session]) -> dict[str, dict[str, Any]]:
    return {k: s.staff for k, s in as_role.items()}


async def test_certificate_only_when_attendance_and_quiz_rules_are_met(
        seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session], staff: dict[str, Any]) -> None:
    course = await make_course(seeded, code="C-QUIZ", quiz=QUIZ)
    await add_questions(client, as_role["trainer"].headers, course, 2)
    finished = await make_session(seeded, course)
    running = await make_session(seeded, course, status="checkin_open")
    # room_admin: present and will pass; room_admin_other: present, fails; town_coordinator: passes,
    # never present; district_staff: present only at a session that is not finished; inspector: absent.
    await mark(seeded, finished, course, staff["room_admin"])
    await mark(seeded, finished, course, staff["room_admin_other"])
    await mark(seeded, running, course, staff["district_staff"])
    await mark(seeded, finished, course, staff["inspector"], status="absent")
    issue = await client.post("/api/v1/training/certificates/issue", headers=as_role["trainer"].headers,
                              json={"course_id": str(course)})
    assert issue.status_code == 200 and issue.json()["issued"] == []  # nobody has passed the quiz yet
    passed = await take_quiz(client, as_role["room_admin"].headers, course, right=True)
    assert passed["passed"] and re.fullmatch(r"JNPX-\d{4}-\d{4}", passed["certificate_number"])  # issued at once
    failed = await take_quiz(client, as_role["room_admin_other"].headers, course, right=False)
    assert not failed["passed"] and failed["certificate_number"] is None
    quiz_only = await take_quiz(client, as_role["town_coordinator"].headers, course, right=True)
    assert quiz_only["passed"] and quiz_only["certificate_number"] is None
    for who in ("district_staff", "inspector"):
        await take_quiz(client, as_role[who].headers, course, right=True)
    certs = await seeded.db["training_certificates"].find({"course_id": course}).to_list()
    assert [c["staff_id"] for c in certs] == [staff["room_admin"]["id"]]
    # Attendance recorded after the quiz: the next issue catches up, once.
    await mark(seeded, finished, course, staff["town_coordinator"])
    issue = await client.post("/api/v1/training/certificates/issue", headers=as_role["district_admin"].headers,
                              json={"course_id": str(course)})
    assert [c["staff_id"] for c in issue.json()["issued"]] == [staff["town_coordinator"]["id"]]
    again = await client.post("/api/v1/training/certificates/issue", headers=as_role["district_admin"].headers, json={})
    assert all(c["course_id"] != str(course) for c in again.json()["issued"])
    assert await seeded.db["training_certificates"].count_documents({"course_id": course}) == 2
    assert await seeded.db["audit"].count_documents({"action": "training_certificate.issue"}) >= 2
    # A course without a quiz: attendance alone completes it.
    plain = await make_course(seeded, code="C-PLAIN", quiz=None, kind="induction", hours=8)
    await mark(seeded, await make_session(seeded, plain), plain, staff["room_admin"])
    issued = (await client.post("/api/v1/training/certificates/issue", headers=as_role["trainer"].headers,
                                json={"course_id": str(plain)})).json()["issued"]
    assert len(issued) == 1 and issued[0]["kind"] == "induction" and issued[0]["hours"] == 8
    assert issued[0]["rooms"] == ["JN-XSG-001"]
    bad = await client.post("/api/v1/training/certificates/issue", headers=as_role["trainer"].headers,
                            json={"course_id": "0" * 24})
    assert bad.status_code == 404


async def test_numbers_are_unique_and_sequential_under_concurrent_issue(seeded: Deps) -> None:
    course = await make_course(seeded, code="C-RUSH", quiz=None)
    session = await make_session(seeded, course)
    people = await seeded.db["staff"].find({"role": "room_admin"}).sort("username", 1).limit(12).to_list()
    for p in people:
        await mark(seeded, session, course, {"id": str(p["_id"]), "username": p["username"], "name": p["name"]})
    actor = _seed_actor(await seeded.db["staff"].find_one({"username": "admin"}))
    calls = [issue_due(seeded, actor, staff_ids=[str(p["_id"])]) for p in people]
    calls += [issue_due(seeded, actor, course_id=str(course)) for _ in range(3)]
    calls += [issue_due(seeded, actor, staff_ids=[str(p["_id"])]) for p in people[:4]]
    await asyncio.gather(*calls)
    certs = await seeded.db["training_certificates"].find({"course_id": course}).to_list()
    assert len(certs) == 12 and len({c["staff_id"] for c in certs}) == 12
    everything = [c["number"] for c in await seeded.db["training_certificates"].find(
        {"source": "system"}).to_list()]
    assert len(everything) == len(set(everything))
    year = certs[0]["number"][5:9]
    seqs = sorted(int(n[-4:]) for n in everything if n[5:9] == year)
    assert seqs == list(range(1, len(seqs) + 1))  # no gaps, no repeats


async def _one(seeded: Deps, username: str) -> dict[str, Any]:
    doc = await seeded.db["training_certificates"].find_one({"username": username, "source": "system"},
                                                            sort=[("_id", 1)])
    assert doc is not None
    return doc


async def test_pdf_renders_the_certificate(seeded: Deps, client: httpx.AsyncClient,
                                           as_role: dict[str, Session]) -> None:
    cert = await _one(seeded, "jn-xsg-001")
    r = await client.get(f"/api/v1/training/certificates/{cert['number']}.pdf", headers=as_role["room_admin"].headers)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(r.content))
    page = reader.pages[0]
    assert page.mediabox.width > page.mediabox.height  # landscape
    text = page.extract_text().replace(" ", "")  # letter-spaced headings come out spaced
    for expected in (cert["name"], cert["course_title"], cert["number"], "培训证书", "津南区图书馆"):
        assert expected in text, expected
    # Someone else's certificate does not exist for another room's administrator.
    r = await client.get(f"/api/v1/training/certificates/{cert['number']}.pdf",
                         headers=as_role["room_admin_other"].headers)
    assert r.status_code == 404
    assert (await client.get(f"/api/v1/training/certificates/{cert['number']}.pdf",
                             headers=as_role["trainer"].headers)).status_code == 200
    assert (await client.get(f"/api/v1/training/certificates/{cert['number']}",
                             headers=as_role["town_coordinator"].headers)).status_code == 200  # their town


async def test_lists_are_scoped_and_export_has_chinese_headers(seeded: Deps, client: httpx.AsyncClient,
                                                               as_role: dict[str, Session],
                                                               staff: dict[str, Any]) -> None:
    mine = (await client.get("/api/v1/training/certificates", headers=as_role["room_admin"].headers)).json()["items"]
    assert mine and {c["staff_id"] for c in mine} == {staff["room_admin"]["id"]}
    other = (await client.get("/api/v1/training/certificates",
                              headers=as_role["room_admin_other"].headers)).json()["items"]
    assert all(c["staff_id"] == staff["room_admin_other"]["id"] for c in other)
    town = (await client.get("/api/v1/training/certificates", headers=as_role["town_coordinator"].headers)).json()
    assert all(set(c["rooms"]) & {r for r in c["rooms"] if r.startswith("JN-XSG")} or c["staff_id"] ==
               staff["town_coordinator"]["id"] for c in town["items"])
    every = (await client.get("/api/v1/training/certificates", headers=as_role["trainer"].headers,
                              params={"limit": 5})).json()
    assert len(every["items"]) == 5 and every["next_cursor"]
    rest = (await client.get("/api/v1/training/certificates", headers=as_role["trainer"].headers,
                             params={"limit": 200, "cursor": every["next_cursor"]})).json()
    numbers = [c["number"] for c in every["items"] + rest["items"]]
    assert len(numbers) == len(set(numbers)) == await seeded.db["training_certificates"].count_documents({})
    mine_q = (await client.get("/api/v1/training/certificates", headers=as_role["trainer"].headers,
                               params={"staff_id": staff["room_admin"]["id"]})).json()["items"]
    assert {c["number"] for c in mine_q} == {c["number"] for c in mine}
    r = await client.get("/api/v1/training/certificates.xlsx", headers=as_role["district_staff"].headers)
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in sheet[1]][:5] == ["证书编号", "姓名", "书屋", "课程编号", "课程名称"]
    assert sheet.max_row == len(numbers) + 1


async def test_public_verification_shows_exactly_the_allowed_fields(seeded: Deps, client: httpx.AsyncClient,
                                                                    as_role: dict[str, Session]) -> None:
    cert = await _one(seeded, "jn-xsg-001")
    staff = await seeded.db["staff"].find_one({"username": "jn-xsg-001"})
    phone = seeded.cipher.decrypt(staff["phone_enc"], context="staff.phone") if staff.get("phone_enc") else "139"
    r = await client.get(f"/public/training/certificates/{cert['verify_token']}")  # no log-in
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    page = r.text
    for shown in (cert["number"], cert["name"], cert["course_title"], "区级", cert["issued_on"], "真实有效"):
        assert shown in page, shown
    main = page[page.index("<main"):page.index("</main>")]
    for hidden in ("JN-XSG-001", "南华营", str(staff["_id"]), "jn-xsg-001", phone, "书屋编码", "电话"):
        assert hidden not in main, hidden
    assert '<meta name="robots" content="noindex, nofollow">' in page
    assert r.headers["X-Robots-Tag"].startswith("noindex")
    assert (await client.get("/public/training/certificates/no-such-token-here")).status_code == 404
    # Revoked: the admin only, with a reason; the page says so.
    url = f"/api/v1/training/certificates/{cert['number']}/revoke"
    assert (await client.post(url, headers=as_role["trainer"].headers, json={"reason": "信息有误"})).status_code == 403
    assert (await client.post(url, headers=as_role["district_admin"].headers, json={"reason": ""})).status_code == 422
    r = await client.post(url, headers=as_role["district_admin"].headers, json={"reason": "姓名登记有误，已重新颁发"})
    assert r.status_code == 200 and r.json()["revoked"]
    assert (await client.post(url, headers=as_role["district_admin"].headers,
                              json={"reason": "再作废一次"})).status_code == 422
    page = (await client.get(f"/public/training/certificates/{cert['verify_token']}")).text
    assert "已作废" in page and "姓名登记有误，已重新颁发" in page and "真实有效" not in page
    assert await seeded.db["audit"].count_documents({"action": "training_certificate.revoke",
                                                     "target_id": cert["number"]}) == 1


async def test_console_certificates_pages(seeded: Deps, base_url: str) -> None:
    from tests.web.test_pages import form_login, page_client

    async with page_client(base_url) as console:
        await form_login(console, "/console/login", "admin")
        page = await console.get("/console/training/certificates", params={"year": "", "q": "JNPX"})
        assert page.status_code == 200 and "培训证书" in page.text and "导出 Excel" in page.text
        cert = await _one(seeded, "jn-xsg-001")
        # Downloads with the page session (check_invariants expects HTML from /console paths).
        async with httpx.AsyncClient(base_url=base_url, cookies=console.cookies) as files:
            pdf = await files.get(f"/console/training/certificates/{cert['number']}.pdf")
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
            assert "frame-ancestors 'none'" in pdf.headers["Content-Security-Policy"]
            xlsx = await files.get("/console/training/certificates.xlsx")
            assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")
        token = page.text.split('name="_xsrf" value="')[1].split('"')[0]
        r = await console.post("/console/training/certificates/issue", data={"_xsrf": token, "course_id": ""},
                               follow_redirects=False)
        assert r.status_code == 302 and "/console/training/certificates" in r.headers["Location"]


async def test_verification_is_rate_limited(seeded: Deps, client: httpx.AsyncClient) -> None:
    codes = [(await client.get(f"/public/training/certificates/guess-{i:04d}-abcdef")).status_code for i in range(40)]
    assert 429 in codes and set(codes) <= {404, 429}
