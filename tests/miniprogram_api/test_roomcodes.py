"""Room mini-program codes (made once through the fake WeChat server, stored, made again only
when needed), the landing page a scan opens, and check-ins (one per account per room per day)."""

from __future__ import annotations

import dataclasses
import hashlib

import httpx
from bson import ObjectId

from miniprogram_api.roomcodes import service
from miniprogram_api.roomcodes.models import ROOM_PAGE
from ops.fake_wechat.client import FakeWeChatControl
from server.resources import Deps
from server.storage import db_now
from tests.circulation import add_title, receive
from tests.conftest import CommandCounter, Session
from tests.miniprogram_api.conftest import AddChild, MakeUser, op_id

WXACODE = "/wxa/getwxacodeunlimit"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ROOM, OTHER_TOWN_ROOM = "JN-XSG-001", "JN-GG-001"


async def wxacode_calls(fake: FakeWeChatControl) -> int:
    return (await fake.calls()).get(WXACODE, 0)


def qr_url(room: str) -> str:
    return f"/api/v1/rooms/{room}/miniprogram-qr"


async def test_a_rooms_code_is_made_once_and_stored(client: httpx.AsyncClient, seeded: Deps,
                                                   as_role: dict[str, Session], fake_wechat: FakeWeChatControl
                                                   ) -> None:
    before = await wxacode_calls(fake_wechat)
    first = await client.get(qr_url(ROOM), headers=as_role["room_admin"].headers)
    assert first.status_code == 200, first.text
    assert first.headers["Content-Type"] == "image/png"
    assert first.content.startswith(PNG_MAGIC)
    assert await wxacode_calls(fake_wechat) == before + 1

    again = await client.get(qr_url(ROOM), headers=as_role["inspector"].headers)
    assert again.status_code == 200 and again.content == first.content
    assert await wxacode_calls(fake_wechat) == before + 1  # served from the store

    doc = await seeded.db.room_qrcodes.find_one({"_id": ROOM})
    assert doc["sha256"] == hashlib.sha256(first.content).hexdigest()
    assert (doc["page"], doc["env_version"], doc["room"]) == (ROOM_PAGE, "release", ROOM)

    # Staff outside the room's scope see nothing; an unknown room is 404. Nothing is made.
    refused = await client.get(qr_url(ROOM), headers=as_role["room_admin_other"].headers)
    assert refused.status_code == 403 and refused.json()["code"] == "room_out_of_scope"
    assert (await client.get(qr_url(OTHER_TOWN_ROOM), headers=as_role["town_coordinator"].headers)).status_code == 403
    assert (await client.get(qr_url("JN-XSG-999"), headers=as_role["district_admin"].headers)).status_code == 404
    assert (await client.get(qr_url(ROOM))).status_code == 401
    assert await wxacode_calls(fake_wechat) == before + 1
    assert await seeded.db.room_qrcodes.count_documents({"_id": OTHER_TOWN_ROOM}) == 0


async def test_district_staff_make_a_code_again_audited(client: httpx.AsyncClient, seeded: Deps,
                                                       as_role: dict[str, Session], fake_wechat: FakeWeChatControl
                                                       ) -> None:
    room = "JN-XSG-002"
    assert (await client.get(qr_url(room), headers=as_role["district_staff"].headers)).status_code == 200
    stored = await seeded.db.room_qrcodes.find_one({"_id": room})
    before = await wxacode_calls(fake_wechat)

    url = qr_url(room) + "/regenerate"
    for who in ("room_admin", "town_coordinator", "inspector"):
        assert (await client.post(url, headers=as_role[who].headers, json={"reason": "海报损坏"})).status_code == 403
    bad = await client.post(url, headers=as_role["district_admin"].headers, json={"reason": ""})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "reason"]
    assert await wxacode_calls(fake_wechat) == before

    made = await client.post(url, headers=as_role["district_staff"].headers, json={"reason": "海报损坏，重新张贴"})
    assert made.status_code == 200, made.text
    body = made.json()
    assert (body["room"], body["page"], body["env_version"]) == (room, ROOM_PAGE, "release")
    assert await wxacode_calls(fake_wechat) == before + 1
    fresh = await seeded.db.room_qrcodes.find_one({"_id": room})
    assert fresh["created_at"] > stored["created_at"] and fresh["sha256"] == body["sha256"]
    entry = await seeded.db.audit.find_one({"action": "room.qrcode_regenerate", "target_id": room})
    assert entry is not None and entry["changes"]["reason"] == "海报损坏，重新张贴"
    assert entry["changes"]["previous_sha256"] == stored["sha256"]
    missing = await client.post(qr_url("JN-XSG-999") + "/regenerate", headers=as_role["district_admin"].headers,
                                json={"reason": "不存在的书屋"})
    assert missing.status_code == 404


async def test_a_new_env_version_makes_the_code_again(seeded: Deps, fake_wechat: FakeWeChatControl) -> None:
    room = "JN-XSG-003"
    first = await service.ensure_code(seeded, room)
    trial = dataclasses.replace(seeded, settings=seeded.settings.model_copy(update={"wxacode_env_version": "trial"}))
    before = await wxacode_calls(fake_wechat)
    again = await service.ensure_code(trial, room)
    assert again["env_version"] == "trial" and await wxacode_calls(fake_wechat) == before + 1
    assert (await seeded.db.room_qrcodes.find_one({"_id": room}))["env_version"] == "trial"
    assert (await service.ensure_code(trial, room))["created_at"] == again["created_at"]
    assert first["env_version"] == "release"


async def test_wechat_trouble_is_a_503_and_nothing_is_stored(base_url: str, seeded: Deps,
                                                            as_role: dict[str, Session],
                                                            fake_wechat: FakeWeChatControl) -> None:
    room = "JN-XSG-004"
    await fake_wechat.fail_next(WXACODE, 45009, times=2)
    # The shared client refuses any 5xx; this one is the only place a 503 is expected.
    async with httpx.AsyncClient(base_url=base_url) as plain:
        response = await plain.get(qr_url(room), headers=as_role["district_admin"].headers)
    assert response.status_code == 503 and response.json()["code"] == "wechat_unavailable"
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.headers.get("Retry-After")
    assert await seeded.db.room_qrcodes.count_documents({"_id": room}) == 0
    await fake_wechat.fail_next(WXACODE, 45009, times=0)


async def test_ensure_all_makes_only_the_missing_codes(seeded: Deps, fake_wechat: FakeWeChatControl) -> None:
    active = await seeded.db.rooms.count_documents({"status": "active"})
    have = await seeded.db.room_qrcodes.count_documents({"env_version": "release"})
    before = await wxacode_calls(fake_wechat)
    made = await service.ensure_all(seeded)
    assert made == active - have
    assert await wxacode_calls(fake_wechat) == before + made
    assert await service.ensure_all(seeded) == 0
    assert await wxacode_calls(fake_wechat) == before + made


# -- the landing page ---------------------------------------------------------------------------


async def test_the_landing_page_shows_the_room_and_what_is_new(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, command_counter: CommandCounter) -> None:
    room = "JN-XSG-005"
    titles = [await add_title(seeded, title=f"新书{n}") for n in range(12)]
    for title_id in titles:
        await receive(seeded, room, title_id)
    await receive(seeded, room, titles[-1], 2)  # a second delivery of the newest: listed once

    command_counter.reset()
    anonymous = await client.get(f"/mp/v1/rooms/{room}")
    assert anonymous.status_code == 200, anonymous.text
    assert len([c for c in command_counter.commands if c.startswith("find:")]) <= 4
    page = anonymous.json()
    doc = await seeded.db.rooms.find_one({"code": room})
    assert (page["code"], page["name"], page["town"], page["active"]) == (room, doc["name"], doc["town"], True)
    assert page["opening_hours"] == doc["opening_hours"]
    assert page["home_room"] is None
    assert [t["title_id"] for t in page["new_titles"]] == list(reversed(titles))[:10]
    assert page["new_titles"][0]["title"] == "新书11" and page["new_titles"][0]["author"] == "某某"

    home = await make_user(room=room)
    away = await make_user(room=ROOM)
    assert (await client.get(f"/mp/v1/rooms/{room}", headers=home.headers)).json()["home_room"] is True
    assert (await client.get(f"/mp/v1/rooms/{room}", headers=away.headers)).json()["home_room"] is False
    # A stale token is no reason to hide a public page.
    assert (await client.get(f"/mp/v1/rooms/{room}", headers={"Authorization": "Bearer nope"})).status_code == 200
    for unknown in ("JN-XSG-999", "xyz", "%E4%B9%A6"):
        response = await client.get(f"/mp/v1/rooms/{unknown}")
        assert response.status_code == 404 and response.json()["code"] == "room_not_found"


# -- check-ins ----------------------------------------------------------------------------------


async def test_a_check_in_counts_once_per_account_per_day(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, add_child: AddChild) -> None:
    room = "JN-XSG-006"
    url = f"/mp/v1/rooms/{room}/visits"
    one, two = await make_user(), await make_user()
    op = op_id()
    first = await client.post(url, headers=one.headers, json={"op_id": op})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["room"], body["visits"], body["counted"], body["replayed"]) == (room, 1, True, False)

    child = await add_child(one)
    second_scan = await client.post(url, headers=one.headers, json={"op_id": op_id(), "member_id": child["id"]})
    assert (second_scan.json()["visits"], second_scan.json()["counted"]) == (1, False)
    replay = await client.post(url, headers=one.headers, json={"op_id": op})
    assert replay.json() == {**body, "replayed": True}

    other = await client.post(url, headers=two.headers, json={"op_id": op_id()})
    assert (other.json()["visits"], other.json()["counted"]) == (2, True)
    assert (await client.get(f"/mp/v1/rooms/{room}")).json()["visits_today"] == 2
    counter = await seeded.db.room_visits.find_one({"_id": f"{room}:{body['day']}"})
    assert counter["visits"] == 2
    assert await seeded.db.room_visit_marks.count_documents({"room": room}) == 2

    # Someone else's child, a malformed id, an unknown room: refused, nothing counted.
    theirs = await client.post(url, headers=two.headers, json={"op_id": op_id(), "member_id": child["id"]})
    assert theirs.status_code == 404 and theirs.json()["code"] == "member_not_found"
    bad = await client.post(url, headers=two.headers, json={"op_id": op_id(), "member_id": "not-an-id"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "member_id"]
    unknown = await client.post("/mp/v1/rooms/JN-XSG-999/visits", headers=two.headers, json={"op_id": op_id()})
    assert unknown.status_code == 404
    assert (await client.post(url, json={"op_id": op_id()})).status_code == 401
    assert (await seeded.db.room_visits.find_one({"_id": f"{room}:{body['day']}"}))["visits"] == 2


async def test_a_closed_room_takes_no_check_ins(client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser,
                                               as_role: dict[str, Session]) -> None:
    room = "JN-XSG-007"
    closed = await client.post(f"/api/v1/rooms/{room}/deactivate", headers=as_role["district_admin"].headers,
                               json={"reason": "村委会装修，暂停开放"})
    assert closed.status_code == 200, closed.text
    user = await make_user()
    response = await client.post(f"/mp/v1/rooms/{room}/visits", headers=user.headers, json={"op_id": op_id()})
    assert response.status_code == 422 and response.json()["code"] == "room_inactive"
    assert (await client.get(f"/mp/v1/rooms/{room}")).json()["active"] is False
    assert await seeded.db.room_visits.count_documents({"room": room}) == 0


async def test_old_check_in_marks_are_purged(seeded: Deps) -> None:
    await seeded.db.room_visit_marks.insert_one({"_id": "JN-XSG-008:2020-01-01:x", "room": "JN-XSG-008",
                                                 "day": "2020-01-01", "account_id": ObjectId(), "member_id": None})
    assert await service.purge_visit_marks(seeded, db_now()) >= 1
    assert await seeded.db.room_visit_marks.count_documents({"day": "2020-01-01"}) == 0
    assert await seeded.db.room_visit_marks.count_documents({}) > 0  # today's stay


async def test_bad_check_in_bodies_are_named_and_write_nothing(
        client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser, command_counter: CommandCounter) -> None:
    user = await make_user()
    url = "/mp/v1/rooms/JN-XSG-009/visits"
    cases: list[tuple[bytes, str, list[str] | None]] = [
        (b'{"op_id": ', "application/json", ["body"]),
        (b'[]', "application/json", ["body"]),
        (b'{"op_id": 12345678}', "application/json", ["body", "op_id"]),
        (b'{"op_id": "short"}', "application/json", ["body", "op_id"]),
        (b'{"op_id": "abcdefgh1234", "extra": 1}', "application/json", ["body", "extra"]),
        (b'{"op_id": "abcdefgh1234", "member_id": 5}', "application/json", ["body", "member_id"]),
        (b'{"op_id": "abcdefgh1234"}', "text/plain", None),
    ]
    for content, ctype, loc in cases:
        command_counter.reset()
        response = await client.post(url, headers={**user.headers, "Content-Type": ctype}, content=content)
        assert response.status_code in (415, 422), (content, response.text)
        if loc is not None:
            assert any(e["loc"][: len(loc)] == loc for e in response.json()["errors"]), (content, response.text)
        writes = [c for c in command_counter.commands if c.split(":")[0] in {"insert", "update", "findAndModify"}]
        assert writes == [], (content, writes)
    assert await seeded.db.room_visits.count_documents({"room": "JN-XSG-009"}) == 0
