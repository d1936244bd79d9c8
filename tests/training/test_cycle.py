"""The whole of issue 6 through the API and the pages, across its parts: an administrator is
trained (enrolment, QR check-in, quiz, the certificate issued when the session is finished, its
public verification page), then their room is rated (entries, town review, metrics computed
from shuwu's own data — the training just done, an activity recorded on the phone —, blind
inspection, shortlist, 公示 with an objection that blocks the decision until resolved, the
locked result and its documents downloaded from the console)."""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openpyxl
from bson import ObjectId
from pypdf import PdfReader

from server.readers.service import local_today
from server.resources import Deps
from tests.conftest import Session
from tests.web.test_pages import form_login, page_client

TRAINING = "/api/v1/training"
RATINGS = "/api/v1/ratings"
QUESTIONS = [("书屋每位读者一次最多可借几本图书？", ["3 本", "5 本", "10 本"], 1),
             ("图书的借期默认是多少天？", ["7 天", "10 天", "30 天"], 1),
             ("每册图书入藏前必须做什么？", ["加盖书屋印章并登记", "直接上架", "拍照留存"], 0)]


def op() -> str:
    return uuid.uuid4().hex


async def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


async def _train(client: httpx.AsyncClient, as_role: dict[str, Session], admin: Session) -> str:
    """Course → session → enrol → QR check-in → quiz → finished: returns the certificate number."""
    district, trainer = as_role["district_admin"], as_role["trainer"]
    course = await ok(await client.post(f"{TRAINING}/courses", headers=district.headers, json={
        "code": "RZ-E2E", "title": "新任书屋管理员岗前培训", "topics": ["duties", "policy", "registers"],
        "hours": 8, "kind": "induction", "quiz": {"pass_mark": 60, "questions_per_attempt": 3, "time_limit_min": 20}}),
        201)
    for text, options, answer in QUESTIONS:
        await ok(await client.post(f"{TRAINING}/courses/{course['id']}/questions", headers=trainer.headers,
                                   json={"text": text, "options": options, "answer": answer}), 201)
    now = datetime.now(UTC)
    session = await ok(await client.post(f"{TRAINING}/sessions", headers=trainer.headers, json={
        "course_id": course["id"], "starts_at": (now - timedelta(minutes=30)).isoformat(),
        "ends_at": (now + timedelta(hours=3)).isoformat(), "place": "区图书馆三楼报告厅", "capacity": 30}), 201)
    sid = session["id"]
    await ok(await client.post(f"{TRAINING}/sessions/{sid}/enrolments", headers=admin.headers, json={"op_id": op()}),
             201)
    await ok(await client.post(f"{TRAINING}/sessions/{sid}/transition", headers=trainer.headers,
                               json={"to": "checkin_open"}))
    qr = await ok(await client.get(f"{TRAINING}/sessions/{sid}/qr", headers=trainer.headers))
    checkin = {"op_id": op(), "code": qr["code"]}
    await ok(await client.post(f"{TRAINING}/checkins", headers=admin.headers, json=checkin), 201)
    again = await client.post(f"{TRAINING}/checkins", headers=admin.headers, json={**checkin, "op_id": op()})
    assert again.status_code == 409 and again.json()["code"] == "already_checked_in"

    # The quiz, answered right (the options come shuffled: answer by their text).
    attempt = await ok(await client.post(f"{TRAINING}/courses/{course['id']}/attempts", headers=admin.headers,
                                         json={"op_id": op()}), 201)
    right = {text: options[answer] for text, options, answer in QUESTIONS}
    answers = {q["id"]: q["options"].index(right[q["text"]]) for q in attempt["questions"]}
    assert all(q["correct"] is None for q in attempt["questions"]), "answers are not revealed before submitting"
    base = f"{TRAINING}/courses/{course['id']}/attempts/{attempt['id']}"
    await ok(await client.put(f"{base}/answers", headers=admin.headers, json={"op_id": op(), "answers": answers}))
    result = await ok(await client.post(f"{base}/submit", headers=admin.headers, json={"op_id": op()}))
    assert result["passed"] and result["score_percent"] == 100

    # Passed but the session is not over: no certificate yet; finishing it issues one.
    mine = await ok(await client.get(f"{TRAINING}/certificates", headers=admin.headers))
    assert mine["items"] == []
    await ok(await client.post(f"{TRAINING}/sessions/{sid}/transition", headers=trainer.headers,
                               json={"to": "finished"}))
    mine = await ok(await client.get(f"{TRAINING}/certificates", headers=admin.headers))
    assert [c["course_code"] for c in mine["items"]] == ["RZ-E2E"]
    return str(mine["items"][0]["number"])


async def _rate(client: httpx.AsyncClient, as_role: dict[str, Session], deps: Deps) -> tuple[str, dict[str, str]]:
    """A model-room round for two rooms of 葛沽镇 (the demo inspector belongs to 咸水沽镇) up to 公示."""
    district, room_admin, inspector = as_role["district_admin"], as_role["room_admin_other"], as_role["inspector"]
    year = local_today().year
    rnd = await ok(await client.post(f"{RATINGS}/rounds", headers=district.headers, json={
        "year": year, "kind": "model_room", "level": "city", "quotas": {"award": 1, "nominate": 1}}), 201)
    rid = rnd["round_id"]

    async def move(to: str, **extra: Any) -> None:
        await ok(await client.post(f"{RATINGS}/rounds/{rid}/transition", headers=district.headers,
                                   json={"to": to, **extra}))

    await move("open")
    mine = await ok(await client.post(f"{RATINGS}/rounds/{rid}/entries", headers=room_admin.headers,
                                      json={"room": "JN-GG-001", "statement": "书屋每周开放六天，常年举办亲子阅读。"}), 201)
    other = await ok(await client.post(f"{RATINGS}/rounds/{rid}/entries", headers=district.headers,
                                       json={"room": "JN-GG-002"}), 201)
    refused = await client.post(f"{RATINGS}/rounds/{rid}/entries", headers=room_admin.headers, json={"room": "JN-GG-003"})
    assert refused.status_code == 403, "an administrator enters only their own room"
    entries = {"JN-GG-001": mine["entry_id"], "JN-GG-002": other["entry_id"]}
    await move("town_review")
    for entry_id in entries.values():
        await ok(await client.post(f"{RATINGS}/entries/{entry_id}/town-review", headers=district.headers,
                                   json={"passed": True, "comment": "材料齐全"}))
    await move("district_review")

    # The metrics came from shuwu's data: the training just completed and the activity logged.
    entry = await ok(await client.get(f"{RATINGS}/entries/{entries['JN-GG-001']}", headers=district.headers))
    metrics = entry["metrics"]
    assert metrics["admin_inducted"]["value"] == 1 and metrics["admin_training_hours"]["value"] == 8
    assert metrics["activities_held"]["value"] == 1 and metrics["activity_attendance"]["value"] == 36
    assert all(link["href"].startswith("/console/") for m in metrics.values() for link in m["links"])

    # Inspectors score blind; each entry gets one submitted score.
    for code, score in (("JN-GG-001", 90), ("JN-GG-002", 60)):
        base = f"{RATINGS}/entries/{entries[code]}/score"
        await ok(await client.put(base, headers=inspector.headers, json={
            "op_id": op(), "criteria": {"site_management": score}, "comment": "登记簿齐全", "visited_on":
            local_today().isoformat()}))
        await ok(await client.post(f"{base}/submit", headers=inspector.headers, json={"op_id": op()}))
    await move("shortlisted")
    listed = await ok(await client.get(f"{RATINGS}/rounds/{rid}/entries", headers=district.headers))
    statuses = {e["subject"]["room"]: e["status"] for e in listed["items"]}
    assert statuses == {"JN-GG-001": "shortlisted", "JN-GG-002": "not_shortlisted"}, "quota 1: the better one"
    await move("publicity")
    return rid, entries


async def test_an_administrator_is_trained_and_their_room_rated(seeded: Deps, client: httpx.AsyncClient,
                                                                  base_url: str, as_role: dict[str, Session]) -> None:
    admin = as_role["room_admin_other"]  # jn-gg-001, administrator of JN-GG-001
    async with page_client(base_url) as http:
        overview = await form_login(http, "/console/login", "admin")
        assert overview.status_code == 302
        page = await http.get("/console/training")
        flagged = page.text[page.text.index("管理员未完成岗前培训的书屋"):page.text.index("最近颁发的证书")]
        assert page.status_code == 200 and "JN-GG-001" in flagged, "not inducted yet: flagged"

    number = await _train(client, as_role, admin)
    certificate = await ok(await client.get(f"{TRAINING}/certificates/{number}", headers=admin.headers))
    token = certificate["verify_url"].rsplit("/", 1)[1]
    async with page_client(base_url) as http:  # anyone who scans the QR on the paper
        public = await http.get(f"/public/training/certificates/{token}")
    assert public.status_code == 200
    assert number in public.text and certificate["name"] in public.text and "新任书屋管理员岗前培训" in public.text
    assert "JN-GG-001" not in public.text and "jn-gg-001" not in public.text

    # An activity recorded on the administrator's phone counts in the rating below.
    await ok(await client.post("/api/v1/rooms/JN-GG-001/activities", headers=admin.headers, json={
        "op_id": op(), "held_on": local_today().isoformat(), "title": "亲子共读绘本", "kind": "亲子阅读",
        "attendance": 36, "children": 20}), 201)

    rid, entries = await _rate(client, as_role, seeded)
    district = as_role["district_admin"]
    objection = await ok(await client.post(f"{RATINGS}/rounds/{rid}/objections", headers=district.headers, json={
        "entry_id": entries["JN-GG-001"], "text": "村民来电反映该书屋周末经常不开门。", "name": "王先生"}), 201)
    # The 公示 ends (five working days later); the open objection still blocks the decision.
    await seeded.db.rating_rounds.update_one({"_id": ObjectId(rid)},
                                             {"$set": {"publicity.ends_on": "2000-01-01"}})
    blocked = await client.post(f"{RATINGS}/rounds/{rid}/transition", headers=district.headers,
                                json={"to": "decided"})
    assert blocked.status_code == 422 and blocked.json()["code"] == "objections_open", blocked.text
    await ok(await client.post(f"{RATINGS}/objections/{objection['objection_id']}/resolve", headers=district.headers,
                               json={"decision": "dismissed", "text": "经核查，该书屋周六、周日均按时开放，有借阅记录为证。"}))
    await ok(await client.post(f"{RATINGS}/rounds/{rid}/transition", headers=district.headers, json={"to": "decided"}))
    entry = await ok(await client.get(f"{RATINGS}/entries/{entries['JN-GG-001']}", headers=district.headers))
    assert entry["outcome"] == "nominated" and entry["certificate_no"]
    late = await client.post(f"{RATINGS}/entries/{entries['JN-GG-002']}/withdraw", headers=district.headers,
                             json={"reason": "申报人要求撤回"})
    assert late.status_code == 409 and late.json()["code"] == "round_locked"

    # The console's download links work with the console's own log-in (no API token).
    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "admin")).status_code == 302
        results = await http.get(f"{RATINGS}/rounds/{rid}/results.xlsx")
        assert results.status_code == 200, results.text
        sheet = openpyxl.load_workbook(io.BytesIO(results.content)).active
        rows = list(sheet.iter_rows(values_only=True))
        assert rows[0][:3] == ("名次", "申报对象", "镇街") and any("葛沽" in str(c) for row in rows[1:] for c in row)
        pdf = await http.get(f"{RATINGS}/entries/{entries['JN-GG-001']}/certificate.pdf")
        assert pdf.status_code == 200
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
        assert entry["certificate_no"] in text
        json_api = await http.get(f"{RATINGS}/rounds/{rid}")
        assert json_api.status_code == 401, "JSON answers still need the API token"
        room = await http.get("/console/rooms/JN-GG-001")
        assert room.status_code == 200
        assert 'href="/console/training/certificates?staff_id=' in room.text and ">已完成</a>" in room.text
        assert "亲子共读绘本" in room.text and "1 次，共 36 人次参加" in room.text
        page = await http.get("/console/training")
        assert page.status_code == 200
        flagged = page.text[page.text.index("管理员未完成岗前培训的书屋"):page.text.index("最近颁发的证书")]
        assert not re.search(r"JN-GG-001\b", flagged), "inducted now: no longer flagged"


async def test_trainers_and_inspectors_log_in_on_the_phone_to_their_own_pages(base_url: str, seeded: Deps) -> None:
    for username, home in (("trainer", "/m/training"), ("inspector", "/m/inspect"), ("jn-xsg-001", "/m/")):
        async with page_client(base_url) as http:
            response = await form_login(http, "/m/login", username)
            assert response.status_code == 302, username
            landing = await http.get(response.headers["Location"], follow_redirects=True)
            assert landing.status_code == 200 and str(landing.url).endswith(home), username


async def test_an_administrator_applies_on_the_phone(base_url: str, client: httpx.AsyncClient, seeded: Deps,
                                                     as_role: dict[str, Session]) -> None:
    district = as_role["district_admin"]
    rnd = await ok(await client.post(f"{RATINGS}/rounds", headers=district.headers,
                                     json={"year": 2031, "kind": "model_admin"}), 201)
    await ok(await client.post(f"{RATINGS}/rounds/{rnd['round_id']}/transition", headers=district.headers,
                               json={"to": "open"}))
    async with page_client(base_url) as http:
        assert (await form_login(http, "/m/login", "jn-xsg-001")).status_code == 302
        home = await http.get("/m/")
        assert 'href="/m/ratings"' in home.text
        page = await http.get("/m/ratings")
        assert page.status_code == 200 and rnd["title"] in page.text and "申报模范管理员（本人）" in page.text
        token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert token
        action = f"/m/ratings/{rnd['round_id']}/apply"
        sent = await http.post(action, data={"_xsrf": token.group(1), "statement": "坚持每周开放六天，组织亲子阅读。"})
        assert sent.status_code == 302 and "done=" in sent.headers["Location"]
        again = await http.post(action, data={"_xsrf": token.group(1), "statement": "再交一次"})
        assert again.status_code == 302 and "error=" in again.headers["Location"]
        page = await http.get("/m/ratings")
        assert "已申报，进度见下方" in page.text and "提交申报" not in page.text  # no second form
    entries = await seeded.db.rating_entries.find({"round_id": ObjectId(rnd["round_id"])}).to_list()
    assert len(entries) == 1 and entries[0]["applicant"]["channel"] == "room"
    assert entries[0]["statement"] == "坚持每周开放六天，组织亲子阅读。"
