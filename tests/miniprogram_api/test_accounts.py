"""Mini-program log-in, profiles, children with a guardian's consent, library cards and
the account holder's rights (export, delete, withdraw) — over HTTP, with the fake WeChat."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from miniprogram_api.accounts.models import CHILD_RULES_VERSION
from miniprogram_api.accounts.privacy import erase_withdrawn_children
from ops.fake_wechat.client import FakeWeChatControl
from server.config import Settings
from server.resources import Deps
from server.storage import db_now
from tests.conftest import Session
from tests.miniprogram_api.conftest import HOME_ROOM, AddChild, MakeUser, mp_login, op_id


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """The production limits on log-ins and writes, which the test stack raises for other modules."""
    return settings.model_copy(update={"mp_login_per_minute": 20, "mp_writes_per_minute": 60})


def _child_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "op_id": op_id(),
        "name": "李小花",
        "birth_year": 2017,
        "home_room": HOME_ROOM,
        "relation": "父亲",
        "consent": {"version": CHILD_RULES_VERSION, "agreed": True},
    }
    body.update(changes)
    return body


# -- log-in ---------------------------------------------------------------------------


async def test_login_creates_one_account_per_openid(
    client: httpx.AsyncClient, seeded: Deps, fake_wechat: FakeWeChatControl
) -> None:
    first = await mp_login(client, fake_wechat, "o-login-once")
    again = await mp_login(client, fake_wechat, "o-login-once")
    assert first["new_account"] is True and again["new_account"] is False
    assert first["account"]["id"] == again["account"]["id"]
    assert first["token"] != again["token"]
    assert await seeded.db["mp_accounts"].count_documents({"openid": "o-login-once"}) == 1
    # WeChat's session_key never reaches the client, and Redis keeps only a hash of our token.
    assert "session_key" not in str(first)
    stored = await seeded.redis.keys("shuwu:mp-session:*")
    assert stored and not any(first["token"] in key for key in stored)
    for key in stored:
        assert first["token"] not in str(await seeded.redis.get(key))


async def test_a_login_code_works_once(
    client: httpx.AsyncClient, seeded: Deps, fake_wechat: FakeWeChatControl
) -> None:
    code = await fake_wechat.login_code("o-code-reuse")
    assert (await client.post("/mp/v1/session", json={"code": code})).status_code == 201
    calls_before = (await fake_wechat.calls()).get("/sns/jscode2session", 0)
    response = await client.post("/mp/v1/session", json={"code": code})
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_code"
    assert response.json()["errors"][0]["loc"] == ["body", "code"]
    # Sent to WeChat once more (it refused), and not retried.
    assert (await fake_wechat.calls()).get("/sns/jscode2session", 0) == calls_before + 1


async def test_login_refusals(
    client: httpx.AsyncClient, seeded: Deps, fake_wechat: FakeWeChatControl
) -> None:
    assert (await client.post("/mp/v1/session", json={"code": "no such code"})).status_code == 422
    assert (await client.post("/mp/v1/session", json={})).status_code == 422
    code = await fake_wechat.login_code("o-blocked-user")
    await fake_wechat.block("o-blocked-user")
    response = await client.post("/mp/v1/session", json={"code": code})
    assert response.status_code == 403 and response.json()["code"] == "wechat_user_blocked"


async def test_login_is_rate_limited_per_address(client: httpx.AsyncClient, seeded: Deps) -> None:
    limit = seeded.settings.mp_login_per_minute
    await seeded.redis.delete(*(await seeded.redis.keys("shuwu:rate:mp-login:*")) or ["none"])
    statuses = [
        (await client.post("/mp/v1/session", json={"code": f"bad-{i}"})).status_code
        for i in range(limit + 2)
    ]
    assert statuses[:limit] == [422] * limit
    assert statuses[-1] == 429
    await seeded.redis.delete(*(await seeded.redis.keys("shuwu:rate:mp-login:*")) or ["none"])


async def test_wechat_rate_limit_is_a_429(
    client: httpx.AsyncClient, seeded: Deps, fake_wechat: FakeWeChatControl
) -> None:
    code = await fake_wechat.login_code("o-hammered")
    await fake_wechat.fail_next("/sns/jscode2session", 45011)
    response = await client.post("/mp/v1/session", json={"code": code})
    assert response.status_code == 429 and response.headers["Retry-After"]


# -- profile and family --------------------------------------------------------------------


async def test_profile_and_a_child_with_consent(
    client: httpx.AsyncClient, make_user: MakeUser, seeded: Deps
) -> None:
    user = await make_user(name="李强", birth_year=1988)
    response = await client.post("/mp/v1/me/children", json=_child_body(), headers=user.headers)
    assert response.status_code == 201, response.text
    child = response.json()
    assert child["child"] is True and child["relation"] == "child"
    assert (
        child["consent"]["version"] == CHILD_RULES_VERSION
        and child["consent"]["channel"] == "miniprogram"
    )
    me = (await client.get("/mp/v1/me", headers=user.headers)).json()
    assert [m["relation"] for m in me["members"]] == ["self", "child"]
    assert me["members"][0]["home_room_name"]


async def test_a_child_needs_consent_and_a_guardian(
    client: httpx.AsyncClient, make_user: MakeUser, fake_wechat: FakeWeChatControl, seeded: Deps
) -> None:
    user = await make_user()
    refused = await client.post(
        "/mp/v1/me/children",
        headers=user.headers,
        json=_child_body(consent={"version": CHILD_RULES_VERSION, "agreed": False}),
    )
    assert refused.status_code == 422 and ["body", "consent", "agreed"] in [
        e["loc"] for e in refused.json()["errors"]
    ]
    missing = _child_body()
    del missing["consent"]
    assert (
        await client.post("/mp/v1/me/children", json=missing, headers=user.headers)
    ).status_code == 422
    old = await client.post(
        "/mp/v1/me/children",
        headers=user.headers,
        json=_child_body(consent={"version": "2019.1", "agreed": True}),
    )
    assert old.status_code == 422 and old.json()["code"] == "consent_version_outdated"
    teen = await client.post(
        "/mp/v1/me/children", json=_child_body(birth_year=2005), headers=user.headers
    )
    assert teen.status_code == 422 and teen.json()["code"] == "not_a_child"
    # No guardian profile yet: no child either.
    session = await mp_login(client, fake_wechat, "o-no-profile-yet")
    bare = await client.post(
        "/mp/v1/me/children",
        json=_child_body(),
        headers={"Authorization": f"Bearer {session['token']}"},
    )
    assert bare.status_code == 422 and bare.json()["code"] == "guardian_profile_required"
    # Nothing was written by any refusal.
    assert (
        await seeded.db["members"].count_documents({"account_id": ObjectId(user.account_id)}) == 1
    )


async def test_a_child_cannot_be_the_account_holder(
    client: httpx.AsyncClient, seeded: Deps, fake_wechat: FakeWeChatControl
) -> None:
    session = await mp_login(client, fake_wechat, "o-eleven-years-old")
    response = await client.put(
        "/mp/v1/me/profile",
        headers={"Authorization": f"Bearer {session['token']}"},
        json={"name": "赵小宝", "birth_year": 2015, "home_room": HOME_ROOM},
    )
    assert response.status_code == 422 and response.json()["code"] == "guardian_required"
    assert (
        await seeded.db["members"].count_documents(
            {"account_id": ObjectId(session["account"]["id"])}
        )
        == 0
    )


async def test_adding_a_child_twice_with_one_op_id_adds_one(
    client: httpx.AsyncClient, make_user: MakeUser, seeded: Deps
) -> None:
    user = await make_user()
    body = _child_body()
    first = await client.post("/mp/v1/me/children", json=body, headers=user.headers)
    second = await client.post("/mp/v1/me/children", json=body, headers=user.headers)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    # Another account using the same op_id is a different operation.
    other = await make_user()
    third = await client.post("/mp/v1/me/children", json=body, headers=other.headers)
    assert third.status_code == 201 and third.json()["id"] != first.json()["id"]


async def test_a_reader_touches_only_their_own_family(
    client: httpx.AsyncClient, make_user: MakeUser, add_child: AddChild
) -> None:
    parent, stranger = await make_user(), await make_user()
    child = await add_child(parent)
    for response in (
        await client.patch(
            f"/mp/v1/members/{child['id']}", json={"public_board": False}, headers=stranger.headers
        ),
        await client.post(
            f"/mp/v1/members/{child['id']}/consent/withdraw", json={}, headers=stranger.headers
        ),
        await client.post(
            f"/mp/v1/members/{child['id']}/card", json={"phone_code": "x"}, headers=stranger.headers
        ),
    ):
        assert response.status_code == 404 and response.json()["code"] == "member_not_found", (
            response.text
        )
    mine = (await client.get("/mp/v1/me", headers=stranger.headers)).json()
    assert child["id"] not in [m["id"] for m in mine["members"]]


async def test_member_settings(
    client: httpx.AsyncClient, make_user: MakeUser, add_child: AddChild
) -> None:
    parent = await make_user()
    child = await add_child(parent)
    response = await client.patch(
        f"/mp/v1/members/{child['id']}",
        headers=parent.headers,
        json={"public_board": False, "class_name": "四年级一班"},
    )
    assert response.status_code == 200, response.text
    assert (
        response.json()["public_board"] is False and response.json()["class_name"] == "四年级一班"
    )
    bad = await client.patch(
        f"/mp/v1/members/{child['id']}", json={"home_room": "JN-XSG-999"}, headers=parent.headers
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "home_room"]
    cleared = await client.patch(
        f"/mp/v1/members/{child['id']}", json={"name": None}, headers=parent.headers
    )
    assert cleared.status_code == 422


async def test_withdrawing_consent_stops_records_and_erases_later(
    client: httpx.AsyncClient, make_user: MakeUser, add_child: AddChild, seeded: Deps
) -> None:
    parent = await make_user()
    child = await add_child(parent)
    response = await client.post(
        f"/mp/v1/members/{child['id']}/consent/withdraw",
        json={"reason": "不想用了"},
        headers=parent.headers,
    )
    assert response.status_code == 200, response.text
    withdrawn = response.json()
    assert withdrawn["status"] == "withdrawn" and withdrawn["consent"]["withdrawn_at"]
    assert withdrawn["public_board"] is False and withdrawn["erase_after"]
    refused = await client.patch(
        f"/mp/v1/members/{child['id']}", json={"school": "别的学校"}, headers=parent.headers
    )
    assert refused.status_code == 422 and refused.json()["code"] == "consent_withdrawn"
    # Not yet: the retention period runs.
    assert await erase_withdrawn_children(seeded, db_now()) == 0
    assert await seeded.db["members"].count_documents({"_id": ObjectId(child["id"])}) == 1
    assert await erase_withdrawn_children(seeded, db_now() + timedelta(days=31)) >= 1
    assert await seeded.db["members"].count_documents({"_id": ObjectId(child["id"])}) == 0


async def test_withdraw_is_for_children(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user()
    response = await client.post(
        f"/mp/v1/members/{user.member_id}/consent/withdraw", json={}, headers=user.headers
    )
    assert response.status_code == 422 and response.json()["code"] == "not_a_child"


# -- library cards ------------------------------------------------------------------------------


async def test_a_card_for_an_adult_and_for_a_child(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    add_child: AddChild,
    fake_wechat: FakeWeChatControl,
    seeded: Deps,
) -> None:
    parent = await make_user(name="周敏")
    code = await fake_wechat.phone_code("13912345678")
    response = await client.post(
        f"/mp/v1/members/{parent.member_id}/card", json={"phone_code": code}, headers=parent.headers
    )
    assert response.status_code == 200, response.text
    card = response.json()
    assert card["phone"] == "139****5678" and card["linked_existing"] is False
    assert card["qr_text"] == card["card_no"]
    reader = await seeded.db["readers"].find_one({"card_no": card["card_no"]})
    assert (
        reader is not None
        and reader["source"] == "miniprogram"
        and "13912345678" not in str(reader)
    )
    # Asking again answers the same card without another phone-number call.
    again = await client.post(
        f"/mp/v1/members/{parent.member_id}/card",
        json={"phone_code": "unused"},
        headers=parent.headers,
    )
    assert again.json()["card_no"] == card["card_no"]

    child = await add_child(parent, name="周小雨", birth_year=2018)
    code = await fake_wechat.phone_code("13912345678")
    response = await client.post(
        f"/mp/v1/members/{child['id']}/card", json={"phone_code": code}, headers=parent.headers
    )
    assert response.status_code == 200, response.text
    kid = await seeded.db["readers"].find_one({"card_no": response.json()["card_no"]})
    assert (
        kid is not None
        and kid["guardian"]["name"] == "周敏"
        and kid["consent"]["channel"] == "miniprogram"
    )
    assert kid["phone_enc"] is None


async def test_a_desk_card_with_the_same_phone_is_linked(
    client: httpx.AsyncClient,
    make_user: MakeUser,
    fake_wechat: FakeWeChatControl,
    as_role: dict[str, Session],
    seeded: Deps,
) -> None:
    desk = await client.post(
        "/api/v1/readers",
        headers=as_role["room_admin"].headers,
        json={
            "op_id": op_id(),
            "name": "孙建国",
            "phone": "13700001111",
            "birth_year": 1970,
            "home_room": HOME_ROOM,
        },
    )
    assert desk.status_code == 201, desk.text
    user = await make_user(name="孙建国", birth_year=1970)
    code = await fake_wechat.phone_code("13700001111")
    response = await client.post(
        f"/mp/v1/members/{user.member_id}/card", json={"phone_code": code}, headers=user.headers
    )
    assert response.status_code == 200, response.text
    assert response.json()["linked_existing"] is True
    assert response.json()["card_no"] == desk.json()["reader"]["card_no"]


async def test_a_used_phone_code_is_refused(
    client: httpx.AsyncClient, make_user: MakeUser, fake_wechat: FakeWeChatControl
) -> None:
    first, second = await make_user(), await make_user()
    code = await fake_wechat.phone_code("13611112222")
    assert (
        await client.post(
            f"/mp/v1/members/{first.member_id}/card",
            json={"phone_code": code},
            headers=first.headers,
        )
    ).status_code == 200
    response = await client.post(
        f"/mp/v1/members/{second.member_id}/card", json={"phone_code": code}, headers=second.headers
    )
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == [
        "body",
        "phone_code",
    ]


# -- rights ------------------------------------------------------------------------------------------


async def test_export_and_delete_my_account(
    client: httpx.AsyncClient, make_user: MakeUser, add_child: AddChild, seeded: Deps
) -> None:
    user = await make_user(name="吴刚")
    child = await add_child(user, name="吴小月")
    export = await client.get("/mp/v1/me/export", headers=user.headers)
    assert export.status_code == 200, export.text
    body = export.json()
    assert {m["name"] for m in body["members"]} == {"吴刚", "吴小月"}
    assert set(body["data"]) >= {"books", "challenges", "contest", "notifications"}

    deleted = await client.delete("/mp/v1/me", headers=user.headers)
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["erased_members"] == 2
    assert await seeded.db["mp_accounts"].count_documents({"_id": ObjectId(user.account_id)}) == 0
    assert (
        await seeded.db["members"].count_documents(
            {"_id": {"$in": [ObjectId(user.member_id), ObjectId(child["id"])]}}
        )
        == 0
    )
    assert (await client.get("/mp/v1/me", headers=user.headers)).status_code == 401


async def test_rooms_to_choose_from(client: httpx.AsyncClient, seeded: Deps) -> None:
    response = await client.get(
        "/mp/v1/rooms", params={"lat": "38.99", "lng": "117.38", "limit": "5"}
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    assert len(items) == 5
    distances = [i["distance_km"] for i in items]
    assert distances == sorted(distances)
    town = (await client.get("/mp/v1/rooms", params={"town": "葛沽镇"})).json()["items"]
    assert town and all(i["town"] == "葛沽镇" for i in town)
    assert (await client.get("/mp/v1/rooms", params={"lat": "38.99"})).status_code == 422


async def test_children_rules_are_public(client: httpx.AsyncClient, seeded: Deps) -> None:
    rules = (await client.get("/mp/v1/privacy/children")).json()
    assert rules["version"] == CHILD_RULES_VERSION and len(rules["sections"]) >= 5
