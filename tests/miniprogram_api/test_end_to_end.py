"""The mini-program API driven exactly as the mini-program drives it, end to end.

A mother logs in with a wx.login code from the (fake) WeChat server, fills in her
profile, adds her daughter with the guardian's consent, accepts the milestone
message when asked, joins the summer challenge for her daughter, logs two books, sees
the leaderboard, submits the daughter's essay to 我的书屋·我的梦 — and the milestone
message arrives at WeChat, as the fake server's record of sent messages shows.
"""

from __future__ import annotations

from datetime import timedelta

import httpx

from miniprogram_api.accounts.models import CHILD_RULES_VERSION
from miniprogram_api.notify import sender
from ops.fake_wechat.client import FakeWeChatControl
from server.readers.service import local_today
from server.resources import Deps
from tests.conftest import TEST_TEMPLATES, Session
from tests.miniprogram_api.conftest import HOME_ROOM, op_id

OPENID = "o-e2e-mother"


async def test_a_family_takes_part_in_the_summer_of_reading(client: httpx.AsyncClient, seeded: Deps,
                                                            as_role: dict[str, Session],
                                                            fake_wechat: FakeWeChatControl) -> None:
    staff = as_role["district_admin"].headers
    today = local_today()

    # The district office publishes this summer's challenge and opens the contest.
    challenge = await client.post("/api/v1/challenges", headers=staff, json={
        "title": "2026暑期阅读打卡", "starts_on": (today - timedelta(days=10)).isoformat(),
        "ends_on": (today + timedelta(days=30)).isoformat(), "unit": "books", "cap_per_log": 5, "cap_per_day": 10,
        "milestones": [{"threshold": 2, "badge": "阅读新星", "icon": "star"}], "status": "published"})
    assert challenge.status_code == 201, challenge.text
    challenge_id = challenge.json()["id"]
    contest = await client.post("/api/v1/contests", headers=staff, json={
        "year": today.year, "title": f"{today.year}年我的书屋·我的梦", "opens_on": (today - timedelta(days=5)).isoformat(),
        "closes_on": (today + timedelta(days=20)).isoformat()})
    assert contest.status_code == 201, contest.text
    contest_id = contest.json()["id"]
    opened = await client.patch(f"/api/v1/contests/{contest_id}", headers=staff, json={"status": "open"})
    assert opened.status_code == 200, opened.text

    # wx.login → our session token; the code itself is never used again.
    code = await fake_wechat.login_code(OPENID)
    session = await client.post("/mp/v1/session", json={"code": code})
    assert session.status_code == 201, session.text
    me = {"Authorization": f"Bearer {session.json()['token']}"}
    assert "session_key" not in session.text

    profile = await client.put("/mp/v1/me/profile", headers=me,
                               json={"name": "刘芳", "birth_year": 1986, "home_room": HOME_ROOM})
    assert profile.status_code == 200, profile.text
    rules = (await client.get("/mp/v1/privacy/children")).json()
    child = await client.post("/mp/v1/me/children", headers=me, json={
        "op_id": op_id(), "name": "刘小雨", "birth_year": today.year - 9, "home_room": HOME_ROOM,
        "school": "咸水沽第一小学", "class_name": "三年级二班", "relation": "母亲",
        "consent": {"version": rules["version"], "agreed": True}})
    assert child.status_code == 201, child.text
    child_id = child.json()["id"]
    assert child.json()["consent"]["version"] == CHILD_RULES_VERSION

    # The mini-program asks for the milestone message when she taps "join"; she accepts.
    templates = (await client.get("/mp/v1/subscriptions", headers=me)).json()
    milestone_template = TEST_TEMPLATES["challenge_milestone"]
    assert milestone_template in str(templates["templates"])  # the id to request at the moment of the tap
    await fake_wechat.accept(OPENID, milestone_template, 1)
    accepted = await client.post("/mp/v1/subscriptions", headers=me,
                                 json={"op_id": op_id(), "results": {milestone_template: "accept"}})
    assert accepted.status_code == 200, accepted.text

    # Join and log two books (yesterday's and today's reading).
    listed = (await client.get("/mp/v1/challenges", headers=me)).json()
    assert challenge_id in [c["id"] for c in listed["items"]]
    joined = await client.post(f"/mp/v1/challenges/{challenge_id}/participants", headers=me,
                               json={"op_id": op_id(), "member_id": child_id})
    assert joined.status_code in (200, 201), joined.text
    for day in (today - timedelta(days=1), today):
        logged = await client.post(f"/mp/v1/challenges/{challenge_id}/logs", headers=me, json={
            "op_id": op_id(), "member_ids": [child_id], "read_on": day.isoformat(), "amount": 1,
            "book_title": "草房子"})
        assert logged.status_code in (200, 201), logged.text
    over = await client.post(f"/mp/v1/challenges/{challenge_id}/logs", headers=me, json={
        "op_id": op_id(), "member_ids": [child_id], "read_on": today.isoformat(), "amount": 6})
    assert over.status_code == 422, over.text

    progress = (await client.get(f"/mp/v1/challenges/{challenge_id}/me", headers=me,
                                 params={"member_id": child_id})).json()
    assert (progress["total"], progress["log_count"]) == (2, 2)
    assert [b["badge"] for b in progress["badges"]] == ["阅读新星"]
    board = await client.get(f"/mp/v1/challenges/{challenge_id}/board", headers=me,
                             params={"scope": "room", "member_id": child_id})
    assert board.status_code == 200, board.text
    assert board.json()["me"]["rank"] == 1
    assert board.json()["items"][0]["name"] == "刘**"  # masked on a public board

    # The daughter's essay.
    entry = await client.post(f"/mp/v1/contests/{contest_id}/entries", headers=me, json={
        "op_id": op_id(), "member_id": child_id, "category": "征文", "group": "小学组", "title": "我家门口的书屋",
        "text": "每个周末，我都和妈妈去村里的农家书屋看书。" * 10})
    assert entry.status_code == 201, entry.text
    assert entry.json()["status"] == "submitted"
    mine = (await client.get(f"/mp/v1/contests/{contest_id}/entries", headers=me,
                             params={"member_id": child_id})).json()
    assert [e["id"] for e in mine["items"]] == [entry.json()["id"]]

    # The worker's sweep delivers the milestone message through WeChat.
    await sender.sweep(seeded)
    sent = await fake_wechat.sent(touser=OPENID)
    assert [m["template_id"] for m in sent] == [milestone_template], sent
    assert "阅读新星" in str(sent[0]["data"])
    notes = (await client.get("/mp/v1/notifications", headers=me)).json()
    assert [n["event"] for n in notes["items"]] == ["challenge_milestone"]
    # Sweeping again sends nothing twice.
    await sender.sweep(seeded)
    assert len(await fake_wechat.sent(touser=OPENID)) == 1

    # Her data, as she can export it.
    export = (await client.get("/mp/v1/me/export", headers=me)).json()
    assert {m["name"] for m in export["members"]} == {"刘芳", "刘小雨"}
    assert "草房子" in str(export["data"]["challenges"])
    assert "我家门口的书屋" in str(export["data"]["contest"])
