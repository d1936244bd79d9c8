"""Rating rounds end to end through the API: entries and their scope, the town review, metrics,
inspectors' scores, ranking within quotas, 公示 with an objection, the decision and the lock,
certificates, plaques and the results table; who may move the round on."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from openpyxl import load_workbook
from pypdf import PdfReader

from server.resources import Deps
from tests.conftest import Session
from training.ratings.entries import submit_entry

BASE = "/api/v1/ratings"
YEAR = 2031


async def transition(client: httpx.AsyncClient, session: Session, round_id: str, to: str,
                     **extra: Any) -> httpx.Response:
    return await client.post(f"{BASE}/rounds/{round_id}/transition", json={"to": to, **extra}, headers=session.headers)


async def submit_scores(deps: Deps, round_id: str, entries: list[dict[str, Any]], criteria: list[str], *,
                        skip: set[str] = frozenset(), draft: set[str] = frozenset()) -> None:
    """Inspectors' scores as training/ratings/inspections stores them (the data contract)."""
    docs = []
    for n, entry in enumerate(entries):
        if entry["entry_id"] in skip:
            continue
        for inspector, offset in (("inspector", 0), ("inspector-b", 10)):
            status = "draft" if entry["entry_id"] in draft else "submitted"
            docs.append({"round_id": ObjectId(round_id), "entry_id": ObjectId(entry["entry_id"]),
                         "inspector": inspector, "inspector_name": "赵立新", "status": status,
                         "criteria": {k: float(min(100, 40 + 5 * n + offset)) for k in criteria},
                         "comment": "", "photos": [], "visited_on": f"{YEAR}-06-01",
                         "created_at": datetime.now(UTC), "submitted_at": datetime.now(UTC)})
    if docs:
        await deps.db.rating_scores.insert_many(docs)


@pytest.fixture(scope="module")
async def rooms(seeded: Deps) -> dict[str, list[str]]:
    docs = await seeded.db.rooms.find({}, {"code": 1, "town": 1}).sort("code", 1).to_list()
    out: dict[str, list[str]] = {}
    for d in docs:
        out.setdefault(d["town"], []).append(d["code"])
    return out


async def test_the_whole_cycle_of_a_model_room_round(seeded: Deps, client: httpx.AsyncClient,
                                                     as_role: dict[str, Session], rooms: dict[str, list[str]]) -> None:
    admin, clerk, xsg = as_role["district_admin"], as_role["district_staff"], as_role["town_coordinator"]
    mine, other = as_role["room_admin"], as_role["room_admin_other"]

    # create: defaults from the rubrics and settings; one round per (year, kind, level)
    created = await client.post(f"{BASE}/rounds", json={"year": YEAR, "kind": "model_room"}, headers=clerk.headers)
    assert created.status_code == 201, created.text
    rnd = created.json()
    rid = rnd["round_id"]
    assert rnd["status"] == "draft" and rnd["period"] == {"from": f"{YEAR}-01-01", "to": f"{YEAR}-12-31"}
    assert rnd["publicity_days"] == 5 and sum(c["weight"] for c in rnd["rubric"]["criteria"]) == 100
    again = await client.post(f"{BASE}/rounds", json={"year": YEAR, "kind": "model_room"}, headers=admin.headers)
    assert again.status_code == 409 and again.json()["code"] == "round_exists"

    # the rubric is editable while draft/open: weights > 0, metric keys known
    criteria = rnd["rubric"]["criteria"]
    bad = [{**criteria[0], "weight": 0}, *criteria[1:]]
    r = await client.patch(f"{BASE}/rounds/{rid}", json={"rubric": {"criteria": bad, "tie_break": []}},
                           headers=admin.headers)
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][:3] == ["body", "rubric", "criteria"]
    unknown = [{**criteria[1], "metric": "made_up"}, *criteria[2:]]
    r = await client.patch(f"{BASE}/rounds/{rid}", json={"rubric": {"criteria": unknown, "tie_break": []}},
                           headers=admin.headers)
    assert r.status_code == 422
    r = await client.patch(f"{BASE}/rounds/{rid}", json={"quotas": {"award": 3, "nominate": 1}}, headers=admin.headers)
    assert r.status_code == 200 and r.json()["quotas"] == {"award": 3, "nominate": 1}
    r = await client.patch(f"{BASE}/rounds/{rid}", json={"quotas": {"award": 1, "nominate": 2}}, headers=admin.headers)
    assert r.status_code == 422

    # entries only while open
    early = await client.post(f"{BASE}/rounds/{rid}/entries", json={"room": "JN-XSG-001"}, headers=mine.headers)
    assert early.status_code == 422 and early.json()["code"] == "round_not_open"
    assert (await transition(client, mine, rid, "open")).status_code == 403
    assert (await transition(client, clerk, rid, "shortlisted")).json()["code"] == "bad_transition"
    assert (await transition(client, clerk, rid, "open")).status_code == 200

    # scope: a room administrator their own room; a coordinator their town; the district anyone
    own = await client.post(f"{BASE}/rounds/{rid}/entries", json={"statement": "我们书屋每天开放。"}, headers=mine.headers)
    assert own.status_code == 201, own.text
    assert own.json()["subject"]["room"] == "JN-XSG-001" and own.json()["applicant"]["channel"] == "room"
    r = await client.post(f"{BASE}/rounds/{rid}/entries", json={"room": "JN-GG-001"}, headers=mine.headers)
    assert r.status_code == 403
    dup = await client.post(f"{BASE}/rounds/{rid}/entries", json={"room": "JN-XSG-001"}, headers=admin.headers)
    assert dup.status_code == 409 and dup.json()["code"] == "duplicate_entry"
    xsg_rooms = rooms["咸水沽镇"][1:4]
    for code in xsg_rooms:
        r = await client.post(f"{BASE}/rounds/{rid}/entries", json={"room": code}, headers=xsg.headers)
        assert r.status_code == 201, r.text
    r = await client.post(f"{BASE}/rounds/{rid}/entries", json={"room": "JN-GG-002"}, headers=xsg.headers)
    assert r.status_code == 403
    gg = await client.post(f"{BASE}/rounds/{rid}/entries", json={"room": "JN-GG-001"}, headers=other.headers)
    assert gg.status_code == 201
    district_rooms = [codes[0] for town, codes in sorted(rooms.items()) if town not in ("咸水沽镇", "葛沽镇")][:3]
    for code in district_rooms:
        r = await client.post(f"{BASE}/rounds/{rid}/entries", json={"room": code}, headers=admin.headers)
        assert r.status_code == 201
    wrong_kind = await client.post(f"{BASE}/rounds/{rid}/entries", json={"room": "JN-XSG-005", "evidence":
                                                                        {"books_owned": 3}}, headers=admin.headers)
    assert wrong_kind.status_code == 422 and wrong_kind.json()["errors"][0]["loc"] == ["body", "evidence"]
    # one withdrawn by its applicant; someone else's cannot be
    withdrawn = (await client.post(f"{BASE}/rounds/{rid}/entries", json={"room": rooms["咸水沽镇"][5]},
                                   headers=xsg.headers)).json()
    assert (await client.post(f"{BASE}/entries/{withdrawn['entry_id']}/withdraw", json={},
                              headers=mine.headers)).status_code == 403
    r = await client.post(f"{BASE}/entries/{withdrawn['entry_id']}/withdraw", json={"reason": "材料不全"},
                          headers=xsg.headers)
    assert r.status_code == 200 and r.json()["status"] == "withdrawn"

    listing = (await client.get(f"{BASE}/rounds/{rid}/entries", headers=as_role["trainer"].headers)).json()["items"]
    assert len(listing) == 9

    # town review: the coordinator of the entry's town, or the district
    assert (await transition(client, clerk, rid, "town_review")).status_code == 200
    by_room = {e["subject"]["room"]: e for e in listing}
    r = await client.post(f"{BASE}/entries/{by_room['JN-GG-001']['entry_id']}/town-review", json={"passed": True},
                          headers=xsg.headers)
    assert r.status_code == 403 and r.json()["code"] == "town_out_of_scope"
    for code in ["JN-XSG-001", *xsg_rooms]:
        r = await client.post(f"{BASE}/entries/{by_room[code]['entry_id']}/town-review",
                              json={"passed": code != xsg_rooms[2], "comment": "材料齐全"}, headers=xsg.headers)
        assert r.status_code == 200, r.text
    pending = await transition(client, clerk, rid, "district_review")
    assert pending.status_code == 409 and pending.json()["code"] == "town_review_pending"
    for code in ["JN-GG-001", *district_rooms]:
        r = await client.post(f"{BASE}/entries/{by_room[code]['entry_id']}/town-review", json={"passed": True},
                              headers=admin.headers)
        assert r.status_code == 200

    # district review: metrics computed for the entries that passed
    r = await transition(client, clerk, rid, "district_review")
    assert r.status_code == 200, r.text
    entries = (await client.get(f"{BASE}/rounds/{rid}/entries", headers=admin.headers)).json()["items"]
    passed = [e for e in entries if e["status"] == "town_passed"]
    assert len(passed) == 7
    assert all(e["metrics_at"] for e in passed) and all("loans_per_resident" in e["metrics"] for e in passed)
    assert not next(e for e in entries if e["status"] == "town_rejected")["metrics"]
    refresh = await client.post(f"{BASE}/rounds/{rid}/metrics/refresh", headers=admin.headers)
    assert refresh.status_code == 200 and refresh.json()["entries"] == 7

    # shortlisting needs every inspection, unless told to count a missing one as 0
    inspector_keys = [c["key"] for c in criteria if c["source"] == "inspector"]
    last = passed[-1]["entry_id"]
    await submit_scores(seeded, rid, passed, inspector_keys, draft={last})
    missing = await transition(client, clerk, rid, "shortlisted")
    assert missing.status_code == 409 and missing.json()["code"] == "inspections_missing"
    assert missing.json()["errors"][0]["loc"] == ["entries", last]
    r = await transition(client, clerk, rid, "shortlisted", allow_missing_inspections=True)
    assert r.status_code == 200 and r.json()["missing_inspections"] == [last]
    entries = (await client.get(f"{BASE}/rounds/{rid}/entries", headers=admin.headers)).json()["items"]
    ranked = sorted((e for e in entries if e["rank"]), key=lambda e: e["rank"])
    assert [e["rank"] for e in ranked] == list(range(1, 8))
    assert all(a["total"] >= b["total"] for a, b in zip(ranked, ranked[1:], strict=False))
    shortlisted = [e for e in ranked if e["status"] == "shortlisted"]
    assert len(shortlisted) == 3 and shortlisted == ranked[:3]  # quotas.award
    assert all(e["status"] == "not_shortlisted" for e in ranked[3:])
    detail = (await client.get(f"{BASE}/entries/{ranked[0]['entry_id']}", headers=admin.headers)).json()
    assert len(detail["inspections"]) == 2 and detail["scores"][inspector_keys[0]] > 0
    assert (await client.get(f"{BASE}/entries/{last}", headers=admin.headers)).json()["scores"][inspector_keys[0]] == 0

    # 公示, decision and report: the district admin only
    r = await transition(client, clerk, rid, "publicity")
    assert r.status_code == 403 and r.json()["code"] == "transition_forbidden"
    r = await transition(client, admin, rid, "publicity")
    assert r.status_code == 200 and r.json()["publicity"]["starts_on"] <= r.json()["publicity"]["ends_on"]
    objection = await client.post(f"{BASE}/rounds/{rid}/objections", headers=clerk.headers, json={
        "entry_id": shortlisted[1]["entry_id"], "text": "该书屋长期不开门，借阅记录不实。", "name": "李四",
        "phone": "13900001111"})
    assert objection.status_code == 201 and objection.json()["contact"] == "139****1111"
    running = await transition(client, admin, rid, "decided")
    assert running.status_code == 422 and running.json()["code"] == "publicity_running"
    yesterday = (datetime.now(UTC) - timedelta(days=2)).date().isoformat()
    await seeded.db.rating_rounds.update_one({"_id": ObjectId(rid)}, {"$set": {"publicity.ends_on": yesterday}})
    blocked = await transition(client, admin, rid, "decided")
    assert blocked.status_code == 422 and blocked.json()["code"] == "objections_open"
    assert blocked.json()["errors"][0]["loc"] == ["objections", objection.json()["objection_id"]]
    upheld = await client.post(f"{BASE}/objections/{objection.json()['objection_id']}/resolve", headers=clerk.headers,
                               json={"decision": "upheld", "text": "经实地核实，情况属实。"})
    assert upheld.status_code == 200 and upheld.json()["status"] == "upheld"
    again = await client.post(f"{BASE}/objections/{objection.json()['objection_id']}/resolve", headers=clerk.headers,
                              json={"decision": "dismissed", "text": "再次处理"})
    assert again.status_code == 409
    decided = await transition(client, admin, rid, "decided")
    assert decided.status_code == 200 and decided.json()["locked"] and decided.json()["status"] == "decided"
    final = {e["entry_id"]: e for e in (await client.get(f"{BASE}/rounds/{rid}/entries",
                                                         headers=admin.headers)).json()["items"]}
    assert final[shortlisted[0]["entry_id"]]["outcome"] == "nominated"
    assert final[shortlisted[1]["entry_id"]]["status"] == "rejected"
    assert final[shortlisted[2]["entry_id"]]["outcome"] == "awarded"
    assert sum(1 for e in final.values() if e["outcome"] in ("awarded", "nominated")) <= 3
    assert final[shortlisted[0]["entry_id"]]["certificate_no"] == f"JNPY-{YEAR}-SFQ-001"

    # locked: nothing about the round changes any more
    for response in (
        await client.patch(f"{BASE}/rounds/{rid}", json={"title": "改个名字看看"}, headers=admin.headers),
        await client.post(f"{BASE}/entries/{ranked[4]['entry_id']}/town-review", json={"passed": False},
                          headers=admin.headers),
        await client.post(f"{BASE}/entries/{ranked[4]['entry_id']}/withdraw", json={}, headers=admin.headers),
        await client.post(f"{BASE}/rounds/{rid}/objections", headers=clerk.headers, json={
            "entry_id": shortlisted[0]["entry_id"], "text": "结果出来以后再提异议。", "name": "王五"}),
        await client.post(f"{BASE}/rounds/{rid}/metrics/refresh", headers=admin.headers),
    ):
        assert response.status_code == 409 and response.json()["code"] == "round_locked", response.text

    # documents
    cert = await client.get(f"{BASE}/entries/{shortlisted[0]['entry_id']}/certificate.pdf", headers=mine.headers)
    assert cert.status_code == 200 and cert.headers["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(cert.content)).pages)
    assert "津南区示范农家书屋" in text and shortlisted[0]["subject"]["name"] in text and "津南区图书馆" in text
    assert f"JNPY-{YEAR}-SFQ-001" in text
    refused = await client.get(f"{BASE}/entries/{shortlisted[1]['entry_id']}/certificate.pdf", headers=admin.headers)
    assert refused.status_code == 422 and refused.json()["code"] == "not_awarded"
    plaques = await client.get(f"{BASE}/rounds/{rid}/plaques.pdf", headers=admin.headers)
    pages = PdfReader(io.BytesIO(plaques.content)).pages
    assert len(pages) == 2 and "津南区示范农家书屋" in pages[0].extract_text()
    assert f"{YEAR}年" in pages[1].extract_text()
    xlsx = await client.get(f"{BASE}/rounds/{rid}/results.xlsx", headers=admin.headers)
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("名次", "申报对象", "镇街", "书屋") and "总分" in rows[0]
    assert rows[1][0] == 1 and rows[1][1] == shortlisted[0]["subject"]["name"] and "获评并推荐上报" in rows[1]

    r = await transition(client, admin, rid, "reported")
    assert r.status_code == 200 and r.json()["status"] == "reported"
    assert (await transition(client, admin, rid, "decided")).json()["code"] == "bad_transition"
    actions = await seeded.db.audit.find({"target_id": rid, "action": "rating_round.transition"}).to_list()
    assert [a["changes"]["to"] for a in actions] == ["open", "town_review", "district_review", "shortlisted",
                                                     "publicity", "decided", "reported"]


@pytest.mark.parametrize(("step", "allowed"), [
    ("open", {"district_admin", "district_staff"}),
    ("publicity", {"district_admin"}),
])
async def test_who_may_move_a_round_on(seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session],
                                       step: str, allowed: set[str]) -> None:
    """Each transition only for its roles (the rest get 403 and nothing changes)."""
    kind = {"open": "model_admin", "publicity": "reading_family"}[step]
    rid = (await client.post(f"{BASE}/rounds", json={"year": YEAR + 1, "kind": kind},
                             headers=as_role["district_admin"].headers)).json()["round_id"]
    before = {"open": "draft", "publicity": "shortlisted"}[step]
    await seeded.db.rating_rounds.update_one({"_id": ObjectId(rid)}, {"$set": {"status": before}})
    for role, session in as_role.items():
        if role in allowed or role == "room_admin_other":
            continue
        r = await transition(client, session, rid, step)
        assert r.status_code == 403, (role, r.text)
        assert (await seeded.db.rating_rounds.find_one({"_id": ObjectId(rid)}))["status"] == before
    for wrong in ("decided", "reported", "draft", "town_review"):
        r = await transition(client, as_role["district_admin"], rid, wrong)
        assert r.status_code == 409 and r.json()["code"] == "bad_transition", (wrong, r.text)
    r = await transition(client, as_role[sorted(allowed)[-1]], rid, step)
    assert r.status_code == 200 and r.json()["status"] == step


async def test_families_are_nominated_by_card_or_through_the_mini_program(
        seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session]) -> None:
    admin, mine = as_role["district_admin"], as_role["room_admin"]
    rid = (await client.post(f"{BASE}/rounds", json={"year": YEAR + 2, "kind": "reading_family"},
                             headers=admin.headers)).json()["round_id"]
    await transition(client, admin, rid, "open")
    await seeded.db.readers.insert_many([
        {"card_no": "JN90000001", "name": "王秀英", "home_room": "JN-XSG-001", "home_town": "咸水沽镇", "birth_year": 1980},
        {"card_no": "JN90000002", "name": "刘建国", "home_room": "JN-GG-001", "home_town": "葛沽镇", "birth_year": 1975},
    ])
    r = await client.post(f"{BASE}/rounds/{rid}/entries", headers=mine.headers, json={
        "card_no": "JN90000001", "statement": "全家每天读书半小时。", "evidence": {"books_owned": 320}})
    assert r.status_code == 201, r.text
    family = r.json()
    assert family["subject"]["name"] == "王秀英家庭" and family["subject_key"].startswith("family:reader:")
    assert family["evidence"] == {"books_owned": 320}
    r = await client.post(f"{BASE}/rounds/{rid}/entries", headers=mine.headers, json={"card_no": "JN90000002"})
    assert r.status_code == 403 and r.json()["code"] == "family_out_of_scope"
    r = await client.post(f"{BASE}/rounds/{rid}/entries", headers=mine.headers, json={"card_no": "JN99999999"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "card_no"]
    # the trainer sees the family's name masked; the district in full
    seen = (await client.get(f"{BASE}/rounds/{rid}/entries", headers=as_role["trainer"].headers)).json()["items"]
    assert seen[0]["subject"]["name"] == "王****"
    # the mini-program's self-nomination goes through submit_entry
    doc = await submit_entry(seeded, round_id=ObjectId(rid), subject={
        "type": "family", "room": "JN-GG-001", "account_id": "acc-1", "name": "刘建国家庭"}, town="葛沽镇",
        applicant={"by": "mp:acc-1", "channel": "miniprogram", "at": None}, statement="自荐", evidence={})
    assert doc["subject_key"] == "family:acc:acc-1" and doc["status"] == "submitted"
    from server.errors import Conflict, RuleViolation
    with pytest.raises(Conflict):
        await submit_entry(seeded, round_id=ObjectId(rid), subject={
            "type": "family", "room": "JN-GG-001", "account_id": "acc-1", "name": "刘建国家庭"}, town="葛沽镇",
            applicant={"by": "mp:acc-1", "channel": "miniprogram", "at": None}, statement="", evidence={})
    with pytest.raises(RuleViolation):
        await submit_entry(seeded, round_id=ObjectId(rid), subject={"type": "room", "room": "JN-GG-001",
                                                                     "name": "x"}, town="葛沽镇",
                           applicant={"by": "x", "channel": "district", "at": None}, statement="", evidence={})


async def test_console_pages(seeded: Deps, base_url: str, as_role: dict[str, Session]) -> None:
    from tests.web.test_pages import form_login, page_client

    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "admin")).status_code == 302
        listing = await http.get("/console/ratings")
        assert listing.status_code == 200 and f"{YEAR}年度区级示范农家书屋评选" in listing.text
        rid = str((await seeded.db.rating_rounds.find_one({"year": YEAR, "kind": "model_room"}))["_id"])
        page = await http.get(f"/console/ratings/rounds/{rid}")
        assert page.status_code == 200 and "读者满意度" in page.text and "已上报" in page.text
        entry = await seeded.db.rating_entries.find_one({"round_id": ObjectId(rid), "outcome": "nominated"})
        detail = await http.get(f"/console/ratings/entries/{entry['_id']}")
        assert detail.status_code == 200 and entry["subject"]["name"] in detail.text and "督查员评分" in detail.text
        token = http.cookies.get("_xsrf")
        created = await http.post("/console/ratings", data={"_xsrf": token, "year": str(YEAR + 5),
                                                            "kind": "model_room", "level": "city"})
        assert created.status_code == 302, created.text
        new = await http.get(created.headers["Location"])
        assert new.status_code == 200 and "市级示范农家书屋" in new.text
        moved = await http.post(f"{created.headers['Location']}/transition", data={"_xsrf": token, "to": "open"})
        assert moved.status_code == 302
        assert "申报中" in (await http.get(created.headers["Location"])).text


async def test_lists_cost_one_query_per_collection(seeded: Deps, client: httpx.AsyncClient,
                                                   as_role: dict[str, Session], command_counter: Any) -> None:
    rid = str((await seeded.db.rating_rounds.find_one({"year": YEAR, "kind": "model_room"}))["_id"])
    headers = as_role["district_admin"].headers
    for url, most in ((f"{BASE}/rounds/{rid}/entries", 1), (f"{BASE}/rounds", 1), (f"/public/ratings/{rid}", 2)):
        command_counter.reset()
        response = await client.get(url, headers=headers)
        assert response.status_code == 200
        reads = [c for c in command_counter.commands if c.startswith(("find:rating", "aggregate:rating", "find:rooms"))]
        assert len(reads) == len(set(reads)) and len(reads) <= most + 2, command_counter.commands
