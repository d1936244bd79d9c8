"""The public 公示 pages: what they show (and never show), objections from the public (XSRF,
validation, honeypot, rate limit, stored encrypted), and that they block the decision."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from bson import ObjectId

from server.resources import Deps
from tests.conftest import Session
from tests.web.test_pages import page_client
from training.ratings.publicity import CONTACT_CONTEXT

BASE = "/api/v1/ratings"
YEAR = 2032
FAMILIES = [("JN91000001", "王秀英", "JN-XSG-001", "咸水沽镇", 320), ("JN91000002", "张志强", "JN-XSG-002", "咸水沽镇", 80),
            ("JN91000003", "刘海燕", "JN-GG-001", "葛沽镇", 150)]
PHONE = "13812345678"


async def _move(client: httpx.AsyncClient, session: Session, rid: str, to: str, **extra: Any) -> None:
    r = await client.post(f"{BASE}/rounds/{rid}/transition", json={"to": to, **extra}, headers=session.headers)
    assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
async def round_id(seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session]) -> str:
    """A 书香之家 round in its 公示, with three families shortlisted."""
    admin = as_role["district_admin"]
    rid = (await client.post(f"{BASE}/rounds", json={"year": YEAR, "kind": "reading_family",
                                                     "quotas": {"award": 3, "nominate": 1}},
                             headers=admin.headers)).json()["round_id"]
    await _move(client, admin, rid, "open")
    await seeded.db.readers.insert_many([{"card_no": c, "name": n, "home_room": room, "home_town": town,
                                          "birth_year": 1980} for c, n, room, town, _ in FAMILIES])
    ids = []
    for card, _, _, _, books in FAMILIES:
        r = await client.post(f"{BASE}/rounds/{rid}/entries", headers=admin.headers,
                              json={"card_no": card, "evidence": {"books_owned": books}})
        assert r.status_code == 201, r.text
        ids.append(r.json()["entry_id"])
    await _move(client, admin, rid, "town_review")
    for entry_id in ids:
        await client.post(f"{BASE}/entries/{entry_id}/town-review", json={"passed": True}, headers=admin.headers)
    await _move(client, admin, rid, "district_review")
    await seeded.db.rating_scores.insert_many([
        {"round_id": ObjectId(rid), "entry_id": ObjectId(e), "inspector": "inspector", "inspector_name": "赵立新",
         "status": "submitted", "criteria": {"influence": 60.0 + 10 * n}, "photos": [], "comment": "",
         "created_at": datetime.now(UTC), "submitted_at": datetime.now(UTC)} for n, e in enumerate(ids)])
    await _move(client, admin, rid, "shortlisted")
    await _move(client, admin, rid, "publicity")
    return rid


async def _form(http: httpx.AsyncClient, rid: str) -> tuple[str, str]:
    page = await http.get(f"/public/ratings/{rid}")
    assert page.status_code == 200
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    entry = re.search(r'<option value="([0-9a-f]{24})"', page.text)
    assert token and entry, page.text[:2000]
    return token.group(1), entry.group(1)


async def test_the_public_page_shows_the_shortlist_and_nothing_private(seeded: Deps, base_url: str,
                                                                       round_id: str) -> None:
    async with page_client(base_url) as http:  # nobody logged in
        listing = await http.get("/public/ratings")
        assert listing.status_code == 200 and f"{YEAR}年度区级书香之家评选" in listing.text and "公示中" in listing.text
        page = await http.get(f"/public/ratings/{round_id}")
    assert page.status_code == 200
    text = page.text
    assert "入围名单公示" in text and f"{YEAR}-01-01 至 {YEAR}-12-31" in text
    assert "总分相同的，依次比较“家风与带动”、“阅读打卡”、“参与活动”的得分" in text and "申报时间早者在前" in text
    for _, name, room, town, _ in FAMILIES:
        assert f"{name[0]}**家庭" in text and name not in text  # masked, and the town only
        assert room not in text
        assert town in text
    assert "家庭藏书" in text and "家风与带动" in text
    for secret in ("JN9100000", PHONE, "138****"):
        assert secret not in text
    # ranked by total
    rows = await seeded.db.rating_entries.find({"round_id": ObjectId(round_id)}).sort("rank", 1).to_list()
    assert text.index(f"{rows[0]['total']:.2f}") < text.index(f"{rows[-1]['total']:.2f}")
    assert 'name="website"' in text  # the honeypot


async def test_a_draft_round_has_no_public_page(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                base_url: str) -> None:
    rid = (await client.post(f"{BASE}/rounds", json={"year": YEAR, "kind": "model_room"},
                             headers=as_role["district_admin"].headers)).json()["round_id"]
    async with page_client(base_url) as http:
        assert (await http.get(f"/public/ratings/{rid}")).status_code == 404
        assert (await http.get("/public/ratings/not-an-id")).status_code == 404


async def test_an_objection_from_the_public_is_stored_encrypted_and_blocks_the_decision(
        seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session], base_url: str, round_id: str) -> None:
    async with page_client(base_url) as http:
        token, entry_id = await _form(http, round_id)
        bad = await http.post(f"/public/ratings/{round_id}", data={
            "_xsrf": token, "entry_id": entry_id, "name": "李四", "phone": "12345", "text": "太短"})
        assert bad.status_code == 422 and "phone" in bad.text and "text" in bad.text
        assert await seeded.db.rating_objections.count_documents({"round_id": ObjectId(round_id)}) == 0
        no_xsrf = await http.post(f"/public/ratings/{round_id}", data={
            "entry_id": entry_id, "name": "李四", "phone": PHONE, "text": "这家人从来不看书，材料是编的。"})
        assert no_xsrf.status_code == 403
        robot = await http.post(f"/public/ratings/{round_id}", data={
            "_xsrf": token, "entry_id": entry_id, "name": "机器人", "phone": PHONE, "text": "买便宜药请点这里哦哦哦哦",
            "website": "http://spam.example"})
        assert robot.status_code == 302  # told nothing, stored nothing
        assert await seeded.db.rating_objections.count_documents({"round_id": ObjectId(round_id)}) == 0
        sent = await http.post(f"/public/ratings/{round_id}", data={
            "_xsrf": token, "entry_id": entry_id, "name": "李四", "phone": PHONE, "text": "这家人从来不看书，材料是编的。",
            "website": ""})
        assert sent.status_code == 302 and sent.headers["Location"].endswith("?sent=1")
        assert "您的异议已收到" in (await http.get(sent.headers["Location"])).text
    stored = await seeded.db.rating_objections.find_one({"round_id": ObjectId(round_id)})
    assert stored["channel"] == "public" and stored["status"] == "open" and stored["contact_masked"] == "138****5678"
    assert PHONE not in str(stored) and seeded.cipher.decrypt(stored["contact"], context=CONTACT_CONTEXT) == PHONE

    admin = as_role["district_admin"]
    listed = (await client.get(f"{BASE}/rounds/{round_id}/objections", headers=admin.headers)).json()
    assert listed["items"][0]["contact"] == "138****5678" and PHONE not in str(listed)
    # outside the district office the objector stays anonymous
    seen = (await client.get(f"{BASE}/rounds/{round_id}/objections", headers=as_role["inspector"].headers)).json()
    assert seen["items"][0]["contact"] == "" and seen["items"][0]["name"] == "李*"
    mine = (await client.get(f"{BASE}/entries/{entry_id}", headers=as_role["room_admin"].headers)).json()
    assert mine["objections"] and mine["objections"][0]["name"] == "李*" and not mine["objections"][0]["contact"]
    await seeded.db.rating_rounds.update_one({"_id": ObjectId(round_id)}, {"$set": {"publicity.ends_on": "2000-01-01"}})
    blocked = await client.post(f"{BASE}/rounds/{round_id}/transition", json={"to": "decided"}, headers=admin.headers)
    assert blocked.status_code == 422 and blocked.json()["code"] == "objections_open"
    # once the notice is over the form is gone and objections are refused
    async with page_client(base_url) as http:
        page = await http.get(f"/public/ratings/{round_id}")
        assert "提出异议" not in page.text
        await http.get("/console/login")  # a page with a form, for the XSRF cookie
        token = http.cookies.get("_xsrf") or ""
        late = await http.post(f"/public/ratings/{round_id}", data={
            "_xsrf": token, "entry_id": entry_id, "name": "李四", "phone": PHONE, "text": "这家人从来不看书，材料是编的。"})
        assert late.status_code == 422 and "公示期已结束" in late.text
    dismissed = await client.post(f"{BASE}/objections/{listed['items'][0]['objection_id']}/resolve",
                                  headers=admin.headers, json={"decision": "dismissed", "text": "经核实，异议不成立。"})
    assert dismissed.status_code == 200
    decided = await client.post(f"{BASE}/rounds/{round_id}/transition", json={"to": "decided"}, headers=admin.headers)
    assert decided.status_code == 200, decided.text
    audit = await seeded.db.audit.find_one({"action": "rating_objection.resolve"})
    assert audit is not None and audit["changes"]["decision"] == "dismissed"

    # the decided round stays public as a result, with the outcome
    async with page_client(base_url) as http:
        page = await http.get(f"/public/ratings/{round_id}")
    assert "评选结果" in page.text and "获评并推荐上报" in page.text and "提出异议" not in page.text


async def test_objections_are_rate_limited_per_address(seeded: Deps, client: httpx.AsyncClient,
                                                       as_role: dict[str, Session], base_url: str) -> None:
    admin = as_role["district_admin"]
    # a fresh round in its notice (the module's round is decided by now)
    rid = (await client.post(f"{BASE}/rounds", json={"year": YEAR + 1, "kind": "reading_family"},
                             headers=admin.headers)).json()["round_id"]
    async for key in seeded.redis.scan_iter("shuwu:rate:rating-objection:*"):
        await seeded.redis.delete(key)  # the tests above used some of this hour's allowance
    await seeded.db.rating_rounds.update_one({"_id": ObjectId(rid)}, {"$set": {
        "status": "publicity", "publicity": {"starts_on": "2000-01-01", "ends_on": "2999-12-31"}}})
    async with page_client(base_url) as http:
        page = await http.get(f"/public/ratings/{rid}")
        token = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        statuses = []
        for _ in range(7):
            r = await http.post(f"/public/ratings/{rid}", data={
                "_xsrf": token, "entry_id": "0" * 24, "name": "李四", "phone": PHONE, "text": "测试异议的频率限制是否有效。"})
            statuses.append(r.status_code)
    assert statuses[:5] == [422] * 5 and statuses[5:] == [429, 429]
