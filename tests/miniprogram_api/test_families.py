"""书香之家 in the mini-program (miniprogram_api/families): the overview, self-nomination with
WeChat's content check (pass / review / risky / WeChat down), one entry per family and round,
op_id replays, withdrawal, another family's privacy, and export / erase through PARTS."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from bson import ObjectId

from miniprogram_api.accounts.privacy import PARTS
from ops.fake_wechat.client import FakeWeChatControl
from server.resources import Deps
from tests.miniprogram_api.conftest import HOME_ROOM, MakeUser, MpUser, mp_login, op_id

BASE = "/mp/v1/reading-family"
MSG_SEC_CHECK = "/wxa/msg_sec_check"
YEAR = datetime.now(UTC).year


def _round(status: str, year: int = YEAR) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"_id": ObjectId(), "year": year, "kind": "reading_family", "level": "district",
            "title": f"{year} 年书香之家评选", "period": {"from": f"{year}-01-01", "to": f"{year}-11-30"},
            "rubric": {"criteria": [], "tie_break": []}, "quotas": {"award": 10, "nominate": 3},
            "publicity_days": 5, "status": status, "publicity": None, "locked": False, "history": False,
            "created_at": now, "updated_at": now}


@pytest_asyncio.fixture(scope="module")
async def family_round(seeded: Deps) -> dict[str, Any]:
    doc = _round("open")
    await seeded.db.rating_rounds.insert_one(doc)
    return doc


@pytest_asyncio.fixture(scope="module")
async def raw_client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The one place a 503 is expected: the shared client refuses any 5xx."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield http


def nomination(**changes: Any) -> dict[str, Any]:
    return {"op_id": op_id(), "family_name": "王秀英家庭", "statement": "我们全家每天晚饭后一起读书半小时，孩子爱读科普书。",
            "books_owned": 320, "reading_minutes_per_week": 420, "activities_joined_text": "暑期阅读实践活动",
            **changes}


async def nominate(client: httpx.AsyncClient, user: MpUser, **changes: Any) -> httpx.Response:
    return await client.post(f"{BASE}/entries", headers=user.headers, json=nomination(**changes))


async def _entries(deps: Deps, user: MpUser) -> list[dict[str, Any]]:
    return await deps.db.rating_entries.find({"subject_key": f"family:acc:{user.account_id}"}).to_list(None)


async def test_no_open_round(client: httpx.AsyncClient, make_user: MakeUser, deps: Deps) -> None:
    user = await make_user(name="周玉兰")
    opened = await deps.db.rating_rounds.distinct("_id", {"kind": "reading_family", "status": "open"})
    await deps.db.rating_rounds.update_many({"_id": {"$in": opened}}, {"$set": {"status": "draft"}})
    try:  # whatever ran before, no round is open now
        view = (await client.get(BASE, headers=user.headers)).json()
        response = await nominate(client, user)
    finally:
        await deps.db.rating_rounds.update_many({"_id": {"$in": opened}}, {"$set": {"status": "open"}})
    assert view["round"] is None and view["can_nominate"] is False and "申报期" in view["why_not"]
    assert view["how_it_works"] and view["requirements"]
    assert response.status_code == 422 and response.json()["code"] == "round_not_open"


async def test_nominate_replay_duplicate(client: httpx.AsyncClient, make_user: MakeUser, deps: Deps,
                                         family_round: dict[str, Any]) -> None:
    user = await make_user(name="王秀英")
    before = (await client.get(BASE, headers=user.headers)).json()
    assert before["round"]["id"] == str(family_round["_id"]) and before["can_nominate"] is True
    assert before["home_room"] == HOME_ROOM and before["entry"] is None
    body = nomination()
    first = await client.post(f"{BASE}/entries", headers=user.headers, json=body)
    assert first.status_code == 201, first.text
    out = first.json()
    assert out["family_name"] == "王秀英家庭" and out["status"] == "submitted" and out["room"] == HOME_ROOM
    assert out["content_review"] is False and out["can_withdraw"] is True and out["outcome"] is None
    replay = await client.post(f"{BASE}/entries", headers=user.headers, json={**body, "family_name": "别的家庭"})
    assert replay.status_code == 201 and replay.json() == out
    again = await nominate(client, user)
    assert again.status_code == 409 and again.json()["code"] == "duplicate_entry"
    (entry,) = await _entries(deps, user)
    assert entry["subject"] == {"type": "family", "room": HOME_ROOM, "staff_id": None, "account_id": user.account_id,
                                "reader_id": None, "name": "王秀英家庭"}
    assert entry["town"] == "咸水沽镇" and entry["round_id"] == family_round["_id"]
    assert entry["applicant"]["by"] == f"mp:{user.account_id}" and entry["applicant"]["channel"] == "miniprogram"
    assert entry["evidence"] == {"books_owned": 320, "reading_minutes_per_week": 420,
                                 "activities_joined_text": "暑期阅读实践活动", "members": 1, "content_check": "pass"}
    view = (await client.get(BASE, headers=user.headers)).json()
    assert view["entry"]["id"] == out["id"] and view["can_nominate"] is False


async def test_content_check(client: httpx.AsyncClient, raw_client: httpx.AsyncClient, make_user: MakeUser,
                             deps: Deps, family_round: dict[str, Any], fake_wechat: FakeWeChatControl) -> None:
    flagged = await make_user(name="李桂英")
    kept = await nominate(client, flagged, statement="我们家爱读书，审核词。")
    assert kept.status_code == 201 and kept.json()["content_review"] is True
    assert (await _entries(deps, flagged))[0]["evidence"]["content_check"] == "review"

    risky = await make_user(name="张春梅")
    refused = await nominate(client, risky, statement="违规词")
    assert refused.status_code == 422 and refused.json()["code"] == "content_refused"
    assert refused.json()["errors"][0]["loc"] == ["body", "statement"]
    assert await _entries(deps, risky) == []

    busy = await make_user(name="刘海燕")
    body = nomination()
    await fake_wechat.fail_next(MSG_SEC_CHECK, -1, times=10)
    try:
        down = await raw_client.post(f"{BASE}/entries", headers=busy.headers, json=body)
    finally:
        await fake_wechat.fail_next(MSG_SEC_CHECK, -1, times=0)
    assert down.status_code == 503 and down.json()["code"] == "wechat_busy", down.text
    assert await _entries(deps, busy) == []
    back = await client.post(f"{BASE}/entries", headers=busy.headers, json=body)  # the same op_id, WeChat back
    assert back.status_code == 201


async def test_bad_input_and_home_room(client: httpx.AsyncClient, fake_wechat: FakeWeChatControl, deps: Deps,
                                       make_user: MakeUser, family_round: dict[str, Any]) -> None:
    user = await make_user(name="赵德胜")
    for field, value in (("family_name", "王"), ("books_owned", 20001), ("reading_minutes_per_week", -1),
                         ("statement", "读" * 1001), ("activities_joined_text", "活" * 301)):
        response = await nominate(client, user, **{field: value})
        assert response.status_code == 422 and ["body", field] == response.json()["errors"][0]["loc"][:2], field
    session = await mp_login(client, fake_wechat, f"o-family-noprofile-{ObjectId()}")
    headers = {"Authorization": f"Bearer {session['token']}"}
    view = (await client.get(BASE, headers=headers)).json()
    assert view["can_nominate"] is False and view["home_room"] is None and "所属书屋" in view["why_not"]
    response = await client.post(f"{BASE}/entries", headers=headers, json=nomination())
    assert response.status_code == 422 and response.json()["code"] == "home_room_required"


async def test_withdraw_and_privacy_between_families(client: httpx.AsyncClient, make_user: MakeUser, deps: Deps,
                                                     family_round: dict[str, Any]) -> None:
    mine, other = await make_user(name="孙文静"), await make_user(name="马建国")
    assert (await nominate(client, mine, family_name="孙文静家庭")).status_code == 201
    # another family neither sees nor withdraws it
    assert (await client.get(BASE, headers=other.headers)).json()["entry"] is None
    theirs = await client.post(f"{BASE}/entries/withdraw", headers=other.headers, json={"op_id": op_id()})
    assert theirs.status_code == 404 and theirs.json()["code"] == "entry_not_found"
    assert (await _entries(deps, mine))[0]["status"] == "submitted"
    op = op_id()
    done = await client.post(f"{BASE}/entries/withdraw", headers=mine.headers, json={"op_id": op})
    assert done.status_code == 200 and done.json()["status"] == "withdrawn" and done.json()["can_withdraw"] is False
    replay = await client.post(f"{BASE}/entries/withdraw", headers=mine.headers, json={"op_id": op})
    assert replay.status_code == 200 and replay.json() == done.json()
    twice = await client.post(f"{BASE}/entries/withdraw", headers=mine.headers, json={"op_id": op_id()})
    assert twice.status_code == 409 and twice.json()["code"] == "already_withdrawn"
    # once nominations close, a family cannot withdraw any more
    late = await make_user(name="钱淑珍")
    assert (await nominate(client, late)).status_code == 201
    await deps.db.rating_rounds.update_one({"_id": family_round["_id"]}, {"$set": {"status": "town_review"}})
    try:
        closed = await client.post(f"{BASE}/entries/withdraw", headers=late.headers, json={"op_id": op_id()})
    finally:
        await deps.db.rating_rounds.update_one({"_id": family_round["_id"]}, {"$set": {"status": "open"}})
    assert closed.status_code == 422 and closed.json()["code"] == "not_withdrawable"


async def test_export_and_erase(client: httpx.AsyncClient, make_user: MakeUser, deps: Deps,
                                family_round: dict[str, Any]) -> None:
    assert "miniprogram_api.families.privacy" in PARTS
    user = await make_user(name="吴红霞")
    assert (await nominate(client, user, family_name="吴红霞家庭")).status_code == 201
    # last year's decided round: the family was awarded, and that result stays published
    old_round = _round("decided", YEAR - 1)
    await deps.db.rating_rounds.insert_one(old_round)
    now = datetime.now(UTC)
    old_entry = {"_id": ObjectId(), "round_id": old_round["_id"], "kind": "reading_family",
                 "subject": {"type": "family", "room": HOME_ROOM, "staff_id": None, "account_id": user.account_id,
                             "reader_id": None, "name": "吴红霞家庭"},
                 "subject_key": f"family:acc:{user.account_id}", "town": "咸水沽镇",
                 "applicant": {"by": f"mp:{user.account_id}", "channel": "miniprogram", "at": now},
                 "statement": "去年的申报材料", "evidence": {"books_owned": 200}, "status": "awarded",
                 "outcome": "awarded", "history": False, "created_at": now.replace(year=YEAR - 1), "updated_at": now}
    await deps.db.rating_entries.insert_one(old_entry)
    exported = await client.get("/mp/v1/me/export", headers=user.headers)
    assert exported.status_code == 200
    part = exported.json()["data"]["reading_family"]
    assert {p["family_name"] for p in part} == {"吴红霞家庭"} and len(part) == 2
    assert any(p["statement"] == "去年的申报材料" and p["outcome"] == "获评" for p in part)

    erased = await client.delete("/mp/v1/me", headers=user.headers)
    assert erased.status_code == 200, erased.text
    current = await deps.db.rating_entries.find_one({"round_id": family_round["_id"], "subject.account_id": None,
                                                     "subject.name": "已注销家庭", "status": "withdrawn"})
    assert current is not None and current["statement"] == "" and current["evidence"] == {}
    assert str(user.account_id) not in current["subject_key"]
    kept = await deps.db.rating_entries.find_one({"_id": old_entry["_id"]})
    assert kept["subject"]["name"] == "吴红霞家庭" and kept["status"] == "awarded" and kept["statement"] == ""
    assert kept["subject"]["account_id"] is None and kept["applicant"]["by"] == "mp:erased"
    assert await _entries(deps, user) == []


@pytest.mark.parametrize("path", [BASE, f"{BASE}/entries", f"{BASE}/entries/withdraw"])
async def test_reader_session_required(client: httpx.AsyncClient, path: str, seeded: Deps) -> None:
    method = "GET" if path == BASE else "POST"
    response = await client.request(method, path, json=None if method == "GET" else {"op_id": op_id()})
    assert response.status_code == 401
