"""Subscribe-message credits, delivery through the fake WeChat server (never twice, never
lost), the family's message list, the loan reminders, and the part's PIPL export/erase."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from miniprogram_api.notify import privacy, reminders, repo, sender
from miniprogram_api.notify.credits import credit_id
from ops.fake_wechat.client import FakeWeChatControl
from server import outbox
from server.resources import Deps
from server.storage import db_now
from tests.circulation import add_reader, add_title, receive
from tests.conftest import CommandCounter, Session
from tests.miniprogram_api.conftest import HOME_ROOM, MakeUser, MpUser, op_id

SEND_PATH = "/cgi-bin/message/subscribe/send"
MILESTONE = "tmpl-challenge_milestone"
HOLD_READY = "tmpl-hold_ready"
DUE = "tmpl-due_tomorrow"


async def subscribe(client: httpx.AsyncClient, user: MpUser, results: dict[str, str], op: str | None = None
                    ) -> httpx.Response:
    return await client.post("/mp/v1/subscriptions", headers=user.headers,
                             json={"op_id": op or op_id(), "results": results})


async def credits_of(deps: Deps, user: MpUser, template_id: str) -> int:
    doc = await deps.db.subscribe_credits.find_one({"_id": credit_id(ObjectId(user.account_id), template_id)})
    return int(doc["credits"]) if doc else 0


async def consent(client: httpx.AsyncClient, fake: FakeWeChatControl, user: MpUser, template_id: str,
                  n: int = 1) -> None:
    """The user taps "allow" ``n`` times: WeChat counts it, and the mini-program reports it to us."""
    await fake.accept(user.openid, template_id, n)
    for _ in range(n):
        assert (await subscribe(client, user, {template_id: "accept"})).status_code == 200


async def event_for(deps: Deps, user: MpUser, *, event: outbox.Event = "challenge_milestone",
                    data: dict[str, str] | None = None, key: str | None = None) -> str:
    key = key or op_id()
    await outbox.record(deps.db, None, event=event, key=key, data=data or {"thing1": "暑期阅读挑战", "number3": "10"},
                        page="pages/challenges/index", now=db_now(), account_id=ObjectId(user.account_id),
                        member_id=ObjectId(user.member_id))
    return f"{event}:{key}"


async def stored(deps: Deps, notification_id: str) -> dict[str, Any]:
    doc = await deps.db.notifications.find_one({"_id": notification_id})
    assert doc is not None
    return doc


# -- credits ------------------------------------------------------------------------------------


async def test_templates_by_event_and_accepts_counted_once_per_op(client: httpx.AsyncClient, seeded: Deps,
                                                                  make_user: MakeUser) -> None:
    user = await make_user()
    listed = (await client.get("/mp/v1/subscriptions", headers=user.headers)).json()
    by_event = {t["event"]: t for t in listed["templates"]}
    assert set(by_event) == set(outbox.EVENTS)
    assert by_event["hold_ready"]["template_id"] == HOLD_READY and by_event["hold_ready"]["credits"] == 0
    assert by_event["hold_ready"]["title"] == "预约的书可以取了"

    op = op_id()
    first = await subscribe(client, user, {HOLD_READY: "accept", DUE: "reject", MILESTONE: "ban"}, op)
    assert first.status_code == 200, first.text
    assert first.json()["added"] == 1 and first.json()["replayed"] is False
    replay = await subscribe(client, user, {HOLD_READY: "accept", DUE: "reject", MILESTONE: "ban"}, op)
    assert replay.json()["replayed"] is True and replay.json()["added"] == 0
    await subscribe(client, user, {HOLD_READY: "accept", DUE: "accept"})
    credits = {t["event"]: t["credits"] for t in
               (await client.get("/mp/v1/subscriptions", headers=user.headers)).json()["templates"]}
    assert credits == {**dict.fromkeys(outbox.EVENTS, 0), "hold_ready": 2, "due_tomorrow": 1}

    # Another account's credits are its own.
    other = await make_user()
    assert await credits_of(seeded, other, HOLD_READY) == 0


async def test_unknown_template_ids_and_bad_results_are_refused(client: httpx.AsyncClient, seeded: Deps,
                                                                make_user: MakeUser) -> None:
    user = await make_user()
    response = await subscribe(client, user, {HOLD_READY: "accept", "tmpl-someone-elses": "accept"})
    assert response.status_code == 422
    assert response.json()["code"] == "unknown_template"
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "results", "tmpl-someone-elses"]]
    assert await credits_of(seeded, user, HOLD_READY) == 0  # nothing partial
    for results in ({HOLD_READY: "maybe"}, {}, {HOLD_READY: True}):
        response = await subscribe(client, user, results)  # type: ignore[arg-type]
        assert response.status_code == 422, response.text
        assert any(e["loc"][:2] == ["body", "results"] for e in response.json()["errors"])
    response = await client.post("/mp/v1/subscriptions", headers=user.headers, json={"results": {HOLD_READY: "accept"}})
    assert response.status_code == 422 and ["body", "op_id"] in [e["loc"] for e in response.json()["errors"]]
    assert await credits_of(seeded, user, HOLD_READY) == 0


# -- delivery -----------------------------------------------------------------------------------


async def test_a_message_spends_a_credit_fits_the_limits_and_is_sent_once(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, fake_wechat: FakeWeChatControl) -> None:
    user = await make_user()
    await consent(client, fake_wechat, user, MILESTONE, 2)
    long_title = "二〇二六年津南区暑期农家书屋阅读实践活动挑战赛"  # 23 characters; a thing holds 20
    nid = await event_for(seeded, user, data={"thing1": long_title, "thing2": "小书虫徽章", "number3": "30"})

    assert await sender.deliver(seeded, nid) == "sent"
    assert await sender.deliver(seeded, nid) == "noop"  # a duplicate job does nothing
    assert await sender.sweep(seeded) == {}
    sent = await fake_wechat.sent(touser=user.openid)
    assert len(sent) == 1
    message = sent[0]
    assert message["template_id"] == MILESTONE and message["miniprogram_state"] == "developer"
    assert message["page"] == "pages/challenges/index"
    thing1 = message["data"]["thing1"]["value"]
    assert len(thing1) == 20 and thing1.endswith("…") and long_title.startswith(thing1[:-1])
    assert message["data"]["number3"]["value"] == "30"
    doc = await stored(seeded, nid)
    assert (doc["status"], doc["attempts"]) == ("sent", 1) and doc["sent_at"] is not None
    assert "claim" not in doc
    assert await credits_of(seeded, user, MILESTONE) == 1


async def test_without_a_credit_the_event_is_skipped_but_kept_in_the_list(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, fake_wechat: FakeWeChatControl) -> None:
    user = await make_user()
    await fake_wechat.accept(user.openid, MILESTONE)  # WeChat would take it, but nobody told us
    nid = await event_for(seeded, user)
    assert await sender.deliver(seeded, nid) == "skipped"
    doc = await stored(seeded, nid)
    assert (doc["status"], doc["reason"]) == ("skipped", "no_credit")
    assert await fake_wechat.sent(touser=user.openid) == []
    items = (await client.get("/mp/v1/notifications", headers=user.headers)).json()["items"]
    assert [(i["id"], i["status"], i["reason"], i["member_id"]) for i in items] == [
        (nid, "skipped", "no_credit", user.member_id)]
    assert items[0]["title"] == "阅读挑战达成里程碑" and items[0]["data"]["thing1"] == "暑期阅读挑战"


async def test_refused_43101_zeroes_the_credit(client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser,
                                              fake_wechat: FakeWeChatControl) -> None:
    user = await make_user()
    for _ in range(3):  # we believe three consents; WeChat has none (the user switched them off)
        await subscribe(client, user, {MILESTONE: "accept"})
    assert await credits_of(seeded, user, MILESTONE) == 3
    nid = await event_for(seeded, user)
    assert await sender.deliver(seeded, nid) == "skipped"
    doc = await stored(seeded, nid)
    assert (doc["status"], doc["reason"]) == ("skipped", "refused") and "43101" in doc["last_error"]
    assert await credits_of(seeded, user, MILESTONE) == 0


async def test_a_transient_error_is_retried_later_and_sent_once(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, fake_wechat: FakeWeChatControl) -> None:
    user = await make_user()
    await consent(client, fake_wechat, user, MILESTONE)
    nid = await event_for(seeded, user)
    await fake_wechat.fail_next(SEND_PATH, -1)
    now = db_now()
    assert await sender.deliver(seeded, nid, now=now) == "retry"
    doc = await stored(seeded, nid)
    assert (doc["status"], doc["attempts"]) == ("pending", 1)
    assert doc["next_attempt_at"] == now + timedelta(seconds=sender.RETRY_DELAYS_SECS[0])
    assert "-1" in doc["last_error"]
    assert await credits_of(seeded, user, MILESTONE) == 1  # given back: WeChat used no consent
    assert await sender.deliver(seeded, nid, now=now + timedelta(seconds=30)) == "noop"  # not due yet

    later = now + timedelta(seconds=61)
    outcomes = await sender.sweep(seeded, later)
    assert outcomes.get("sent") == 1
    assert await sender.deliver(seeded, nid, now=later) == "noop"
    assert len(await fake_wechat.sent(touser=user.openid)) == 1
    doc = await stored(seeded, nid)
    assert (doc["status"], doc["attempts"], doc["last_error"]) == ("sent", 2, None)
    assert await credits_of(seeded, user, MILESTONE) == 0


async def test_after_the_last_attempt_the_event_is_failed_not_lost(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, fake_wechat: FakeWeChatControl) -> None:
    user = await make_user()
    await consent(client, fake_wechat, user, MILESTONE)
    nid = await event_for(seeded, user)
    await fake_wechat.fail_next(SEND_PATH, -1, times=sender.MAX_ATTEMPTS)
    now = db_now()
    outcomes = []
    for _ in range(sender.MAX_ATTEMPTS):
        outcomes.append(await sender.deliver(seeded, nid, now=now))
        now = (await stored(seeded, nid))["next_attempt_at"]
    assert outcomes == ["retry"] * (sender.MAX_ATTEMPTS - 1) + ["failed"]
    doc = await stored(seeded, nid)
    assert (doc["status"], doc["attempts"]) == ("failed", sender.MAX_ATTEMPTS) and doc["last_error"]
    assert await credits_of(seeded, user, MILESTONE) == 1
    assert await fake_wechat.sent(touser=user.openid) == []


async def test_a_crashed_claim_is_taken_over_after_its_lease(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, fake_wechat: FakeWeChatControl) -> None:
    user = await make_user()
    await consent(client, fake_wechat, user, MILESTONE)
    nid = await event_for(seeded, user)
    now = db_now()
    # A worker claimed it and died before sending.
    assert await repo.claim(seeded.db, nid, now, lease_secs=sender.LEASE_SECS, token="dead-worker") is not None
    assert await sender.sweep(seeded, now + timedelta(seconds=10)) == {}  # leased: nobody else sends it
    assert await sender.sweep(seeded, now + timedelta(seconds=sender.LEASE_SECS + 1)) == {"sent": 1}
    assert len(await fake_wechat.sent(touser=user.openid)) == 1


async def test_events_without_a_way_to_reach_the_reader_are_skipped(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, fake_wechat: FakeWeChatControl) -> None:
    desk_reader = await add_reader(seeded, HOME_ROOM, name="柜台读者")
    await outbox.record(seeded.db, None, event="hold_ready", key="desk-only", data={"thing1": "三体"},
                        page="pages/holds/index", now=db_now(), reader_id=ObjectId(desk_reader["id"]))
    assert await sender.deliver(seeded, "hold_ready:desk-only") == "skipped"
    assert (await stored(seeded, "hold_ready:desk-only"))["reason"] == "no_miniprogram"

    user = await make_user()
    await consent(client, fake_wechat, user, MILESTONE)
    nid = await event_for(seeded, user)
    unconfigured = dataclasses.replace(seeded, settings=seeded.settings.model_copy(update={"wechat_templates": {}}))
    assert await sender.deliver(unconfigured, nid) == "skipped"
    assert (await stored(seeded, nid))["reason"] == "no_template"
    assert await credits_of(seeded, user, MILESTONE) == 1  # nothing spent


async def card_for(client: httpx.AsyncClient, fake: FakeWeChatControl, user: MpUser, phone: str) -> str:
    """A library card for the user's own member, as the mini-program asks for one; its number."""
    response = await client.post(f"/mp/v1/members/{user.member_id}/card", headers=user.headers,
                                 json={"phone_code": await fake.phone_code(phone)})
    assert response.status_code == 200, response.text
    return str(response.json()["card_no"])


async def test_a_card_event_reaches_the_members_account_and_lists(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, fake_wechat: FakeWeChatControl) -> None:
    user = await make_user(name="赵卡片")
    await card_for(client, fake_wechat, user, "13912340001")
    member = await seeded.db.members.find_one({"_id": ObjectId(user.member_id)})
    await consent(client, fake_wechat, user, HOLD_READY)
    await outbox.record(seeded.db, None, event="hold_ready", key=f"card-{user.member_id}",
                        data={"thing1": "平凡的世界", "thing2": "咸水沽镇书屋", "time3": "2026年7月1日"},
                        page="pages/holds/index", now=db_now(), reader_id=member["reader_id"])
    assert await sender.deliver(seeded, f"hold_ready:card-{user.member_id}") == "sent"
    sent = await fake_wechat.sent(touser=user.openid)
    assert [m["template_id"] for m in sent] == [HOLD_READY]
    items = (await client.get("/mp/v1/notifications", headers=user.headers)).json()["items"]
    assert [(i["event"], i["status"], i["member_id"]) for i in items] == [("hold_ready", "sent", user.member_id)]


async def test_each_family_sees_only_its_own_events_page_by_page(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, command_counter: CommandCounter) -> None:
    one, two = await make_user(name="钱一"), await make_user(name="孙二")
    mine = [await event_for(seeded, one, key=f"page-{n}") for n in range(5)]
    theirs = await event_for(seeded, two)
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 2}
    while True:
        command_counter.reset()
        page = (await client.get("/mp/v1/notifications", headers=one.headers, params=params)).json()
        finds = [c for c in command_counter.commands if c.startswith(("find:", "aggregate:"))]
        assert len(finds) <= 4, finds  # members, account's events, cards' events (+ the session)
        seen += [i["id"] for i in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == list(reversed(mine))
    assert theirs not in seen
    assert [i["id"] for i in (await client.get("/mp/v1/notifications", headers=two.headers)).json()["items"]] == [
        theirs]
    for bad in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 101}, {"surprise": 1}):
        response = await client.get("/mp/v1/notifications", headers=one.headers, params=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["errors"][0]["loc"][0] == "query"


async def test_sweep_delivers_everything_due_in_batches(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, fake_wechat: FakeWeChatControl) -> None:
    await sender.sweep(seeded)  # what earlier tests left due
    user = await make_user()
    await consent(client, fake_wechat, user, MILESTONE, 5)
    for n in range(5):
        await event_for(seeded, user, key=f"batch-{n}")
    assert await sender.sweep(seeded, batch=2) == {"sent": 5}
    assert len(await fake_wechat.sent(touser=user.openid)) == 5
    assert await sender.sweep(seeded, batch=2) == {}


async def test_kick_queues_one_job_per_event(seeded: Deps, make_user: MakeUser) -> None:
    user = await make_user()
    nid = await event_for(seeded, user)
    assert await sender.kick(seeded, [nid, nid]) == 1
    assert await sender.kick(seeded, [nid]) == 0  # already queued
    assert await seeded.jobs.exists(f"arq:job:{sender.job_id(nid)}")
    await seeded.jobs.delete(f"arq:job:{sender.job_id(nid)}")
    await seeded.jobs.zrem("arq:queue", sender.job_id(nid))


# -- reminders ----------------------------------------------------------------------------------


async def test_due_tomorrow_and_overdue_reminders_are_recorded_once_in_bulk(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, fake_wechat: FakeWeChatControl,
        as_role: dict[str, Session], command_counter: CommandCounter) -> None:
    user = await make_user(name="周借书")
    card_no = await card_for(client, fake_wechat, user, "13912340002")
    member = await seeded.db.members.find_one({"_id": ObjectId(user.member_id)})
    loans = []
    for name in ("红岩", "一本书名很长很长很长很长很长很长很长的科普读物"):
        title_id = await add_title(seeded, title=name)
        await receive(seeded, HOME_ROOM, title_id)
        response = await client.post(f"/api/v1/rooms/{HOME_ROOM}/loans", headers=as_role["room_admin"].headers,
                                     json={"op_id": op_id(), "card_no": card_no, "title_id": title_id})
        assert response.status_code == 201, response.text
        loans.append(response.json()["loan"])
    loan_ids = [ObjectId(loan["id"]) for loan in loans]
    due_at = (await seeded.db.loans.find_one({"_id": loan_ids[0]}))["due_at"]

    command_counter.reset()
    assert await reminders.record_due_tomorrow(seeded, due_at - timedelta(days=1)) == 2
    finds = [c for c in command_counter.commands if c.startswith("find:")]
    assert len(finds) == 3, finds  # loans, titles, rooms: not one per loan
    assert await reminders.record_due_tomorrow(seeded, due_at - timedelta(days=1)) == 0
    assert await reminders.record_due_tomorrow(seeded, due_at - timedelta(days=3)) == 0  # not tomorrow
    day = (due_at + timedelta(hours=8)).date().isoformat()  # the local due date
    doc = await stored(seeded, f"due_tomorrow:{loan_ids[0]}:{day}")
    assert doc["reader_id"] == member["reader_id"] and doc["status"] == "pending"
    room = await seeded.db.rooms.find_one({"code": HOME_ROOM})
    assert doc["data"]["thing1"].startswith("红岩") and doc["data"]["thing3"] == room["name"]
    assert doc["data"]["time2"].endswith("日")

    assert await reminders.record_overdue(seeded, due_at + timedelta(days=1)) == 2
    assert await reminders.record_overdue(seeded, due_at + timedelta(days=2)) == 0  # once per due date
    assert await reminders.record_overdue(seeded, due_at - timedelta(hours=1)) == 0  # not overdue yet
    assert await stored(seeded, f"overdue:{loan_ids[1]}:{day}:overdue")

    await consent(client, fake_wechat, user, DUE, 2)
    outcomes = await sender.sweep(seeded, due_at + timedelta(days=2))
    assert outcomes.get("sent", 0) >= 2
    sent = [m for m in await fake_wechat.sent(touser=user.openid) if m["template_id"] == DUE]
    assert len(sent) == 2 and all(len(m["data"]["thing1"]["value"]) <= 20 for m in sent)
    overdue = await stored(seeded, f"overdue:{loan_ids[0]}:{day}:overdue")
    assert (overdue["status"], overdue["reason"]) == ("skipped", "no_credit")


# -- privacy ------------------------------------------------------------------------------------


async def test_export_and_erase(client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser,
                                fake_wechat: FakeWeChatControl, add_child: Any) -> None:
    user = await make_user(name="吴导出")
    child = await add_child(user, name="吴小宝")
    await subscribe(client, user, {HOLD_READY: "accept"})
    own = await event_for(seeded, user, key="export-own")
    await outbox.record(seeded.db, None, event="contest_result", key="export-child", data={"thing1": "征文"},
                        page="pages/contest/index", now=db_now(), account_id=ObjectId(user.account_id),
                        member_id=ObjectId(child["id"]))
    visit = await client.post(f"/mp/v1/rooms/{HOME_ROOM}/visits", headers=user.headers,
                              json={"op_id": op_id(), "member_id": child["id"]})
    assert visit.status_code == 200, visit.text
    account = await seeded.db.mp_accounts.find_one({"_id": ObjectId(user.account_id)})
    members = await seeded.db.members.find({"account_id": account["_id"]}).to_list()
    child_doc = next(m for m in members if str(m["_id"]) == child["id"])

    exported = await privacy.export(seeded, account, members)
    assert [c["template_id"] for c in exported["subscribe_credits"]] == [HOLD_READY]
    assert {n["id"] for n in exported["notifications"]} == {own, "contest_result:export-child"}
    assert [v["room"] for v in exported["room_check_ins"]] == [HOME_ROOM]

    # Erasing one child takes only what is about the child.
    await privacy.erase(seeded, account, [child_doc], db_now())
    assert await seeded.db.notifications.count_documents({"_id": "contest_result:export-child"}) == 0
    assert await seeded.db.notifications.count_documents({"_id": own}) == 1
    assert await seeded.db.room_visit_marks.count_documents({"account_id": account["_id"]}) == 0
    assert await credits_of(seeded, user, HOLD_READY) == 1

    await privacy.erase(seeded, account, members, db_now())
    assert await seeded.db.notifications.count_documents({"account_id": account["_id"]}) == 0
    assert await seeded.db.subscribe_credits.count_documents({"account_id": account["_id"]}) == 0


@pytest.fixture(autouse=True)
async def _no_injected_failures_left(fake_wechat: FakeWeChatControl) -> Any:
    yield
    await fake_wechat.fail_next(SEND_PATH, -1, times=0)
