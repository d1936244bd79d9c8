"""Book reviews: msgSecCheck v2 at submission (through the fake WeChat server), shown only
after staff approval, names masked; WeChat trouble writes nothing."""

from __future__ import annotations

import httpx
import pytest_asyncio
from bson import ObjectId

from ops.fake_wechat.client import FakeWeChatControl
from server.resources import Deps
from server.storage import db_now
from tests.conftest import CommandCounter, Session
from tests.miniprogram_api.conftest import AddChild, MakeUser, op_id

BOOK = "9787020002207"
OTHER_BOOK = "9787530212004"


@pytest_asyncio.fixture(scope="module")
async def titles(seeded: Deps) -> list[str]:
    now = db_now()
    for isbn, title in ((BOOK, "红楼梦"), (OTHER_BOOK, "草房子")):
        await seeded.db["titles"].update_one({"_id": isbn}, {"$setOnInsert": {"title": title, "created_at": now}},
                                             upsert=True)
    return [BOOK, OTHER_BOOK]


def review_body(member_id: str, text: str, title_id: str = BOOK, rating: int = 5) -> dict[str, object]:
    return {"op_id": op_id(), "member_id": member_id, "title_id": title_id, "rating": rating, "text": text}


async def test_a_review_is_public_only_after_approval(
        client: httpx.AsyncClient, titles: list[str], make_user: MakeUser, add_child: AddChild,
        as_role: dict[str, Session], deps: Deps, fake_wechat: FakeWeChatControl) -> None:
    parent = await make_user(name="王芳", birth_year=1985)
    kid = await add_child(parent, name="王小明", birth_year=2016)
    body = review_body(kid["id"], "宝玉和黛玉的故事很感人，我读了两遍。")
    response = await client.post("/mp/v1/reviews", json=body, headers=parent.headers)
    assert response.status_code == 201, response.text
    review = response.json()
    assert (review["status"], review["risk"], review["name"], review["title"]) == ("pending", "pass", "王**", "红楼梦")
    checks = (await fake_wechat.calls()).get("/wxa/msg_sec_check", 0)
    assert (await client.post("/mp/v1/reviews", json=body, headers=parent.headers)).json() == review  # replay
    assert (await fake_wechat.calls()).get("/wxa/msg_sec_check", 0) == checks  # without asking WeChat again
    public = (await client.get(f"/mp/v1/titles/{BOOK}/reviews")).json()
    assert public["items"] == [] and public["count"] == 0 and public["average"] is None
    mine = (await client.get("/mp/v1/reviews", headers=parent.headers)).json()["items"]
    assert [r["id"] for r in mine] == [review["id"]]
    queue = (await client.get("/api/v1/reviews", headers=as_role["district_staff"].headers)).json()["items"]
    assert review["id"] in [r["id"] for r in queue]
    url = f"/api/v1/reviews/{review['id']}/decision"
    assert (await client.post(url, json={"decision": "approve"}, headers=as_role["room_admin"].headers)
            ).status_code == 403
    response = await client.post(url, json={"decision": "approve"}, headers=as_role["district_staff"].headers)
    assert response.status_code == 200 and response.json()["status"] == "approved"
    assert (await client.post(url, json={"decision": "approve"}, headers=as_role["district_staff"].headers)
            ).status_code == 409
    assert await deps.db["audit"].count_documents({"action": "review.approve", "target_id": review["id"]}) == 1
    public = (await client.get(f"/mp/v1/titles/{BOOK}/reviews")).json()
    assert [(r["name"], r["rating"], r["text"]) for r in public["items"]] == [("王**", 5, body["text"])]
    assert public["count"] == 1 and public["average"] == 5.0
    assert "王小明" not in str(public) and kid["id"] not in str(public)
    # taken down later, with a reason the author sees
    response = await client.post(url, json={"decision": "reject", "reason": "与书无关"},
                                 headers=as_role["district_admin"].headers)
    assert response.status_code == 200
    assert (await client.get(f"/mp/v1/titles/{BOOK}/reviews")).json()["items"] == []
    mine = (await client.get("/mp/v1/reviews", headers=parent.headers)).json()["items"]
    assert (mine[0]["status"], mine[0]["reason"]) == ("rejected", "与书无关")
    # one review per member and book
    again = await client.post("/mp/v1/reviews", json=review_body(kid["id"], "再写一次"), headers=parent.headers)
    assert again.status_code == 409 and again.json()["code"] == "review_exists"


async def test_the_content_check_decides_what_reaches_staff(
        client: httpx.AsyncClient, titles: list[str], make_user: MakeUser, fake_wechat: FakeWeChatControl,
        deps: Deps) -> None:
    user = await make_user(name="李雷", birth_year=1990)
    before = await deps.db["book_reviews"].count_documents({})
    response = await client.post("/mp/v1/reviews", json=review_body(user.member_id, "这里有违规词"), headers=user.headers)
    assert response.status_code == 422 and response.json()["code"] == "content_risky", response.text
    assert "请修改后再提交" in response.json()["detail"] and response.json()["errors"][0]["loc"] == ["body", "text"]
    assert await deps.db["book_reviews"].count_documents({}) == before
    response = await client.post("/mp/v1/reviews", json=review_body(user.member_id, "这里有审核词", OTHER_BOOK, 3),
                                 headers=user.headers)
    assert response.status_code == 201 and (response.json()["status"], response.json()["risk"]) == ("pending", "review")
    empty = await client.post("/mp/v1/reviews", json=review_body(user.member_id, "", "9787020002214", 4),
                              headers=user.headers)
    assert empty.status_code == 422 and empty.json()["code"] == "unknown_title"  # checked before WeChat is asked


async def test_wechat_trouble_is_a_503_and_writes_nothing(
        client: httpx.AsyncClient, base_url: str, titles: list[str], make_user: MakeUser,
        fake_wechat: FakeWeChatControl, deps: Deps, command_counter: CommandCounter) -> None:
    user = await make_user(name="韩梅梅", birth_year=1991)
    body = review_body(user.member_id, "一本好书")
    await fake_wechat.fail_next("/wxa/msg_sec_check", -1, times=2)  # busy, and busy again on the one retry
    command_counter.reset()
    # The shared client refuses any 5xx: this is the one place a 503 is expected.
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as raw:
        response = await raw.post("/mp/v1/reviews", json=body, headers=user.headers)
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0, response.text
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["code"] == "wechat_busy"
    writes = [c for c in command_counter.commands if c.split(":")[0] in {"insert", "update", "delete"}]
    assert writes == [], writes
    retried = await client.post("/mp/v1/reviews", json=body, headers=user.headers)  # the same op_id, later
    assert retried.status_code == 201, retried.text


async def test_reviews_are_only_for_my_family_and_known_books(
        client: httpx.AsyncClient, titles: list[str], make_user: MakeUser, add_child: AddChild, deps: Deps) -> None:
    parent = await make_user(name="马丽", birth_year=1988)
    kid = await add_child(parent, name="马小跳", birth_year=2015)
    stranger = await make_user(name="牛二", birth_year=1980)
    response = await client.post("/mp/v1/reviews", json=review_body(kid["id"], "好看"), headers=stranger.headers)
    assert response.status_code == 404 and response.json()["code"] == "member_not_found"
    response = await client.post("/mp/v1/reviews", json=review_body(kid["id"], "好看", "9789999999991"),
                                 headers=parent.headers)
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "title_id"]
    for bad in ({"rating": 6}, {"rating": 0}, {"text": "字" * 501}):
        response = await client.post("/mp/v1/reviews", json={**review_body(kid["id"], "好看"), **bad},
                                     headers=parent.headers)
        assert response.status_code == 422 and response.json()["errors"][0]["loc"][0] == "body"
    response = await client.get("/mp/v1/titles/not-an-isbn/reviews")
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["path", "title_id"]
    assert (await client.get("/mp/v1/reviews", headers=stranger.headers)).json()["items"] == []
    assert await deps.db["book_reviews"].count_documents({"member_id": ObjectId(kid["id"])}) == 0
