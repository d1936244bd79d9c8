"""Purchase suggestions (荐购) over HTTP: deduplication against the catalog and against open
suggestions, the district office's state machine, the supporters' notifications, holds on
fulfilment, replenishment demand, authorization and the PIPL export/erasure."""

from __future__ import annotations

from typing import Any

import httpx
from bson import ObjectId

from miniprogram_api.books import privacy as books_privacy
from miniprogram_api.books.suggestions import demand_for_room, may_move, norm_author
from ops.fake_wechat.client import FakeWeChatControl
from server.resources import Deps
from server.storage import db_now
from tests.circulation import new_isbn
from tests.conftest import Session
from tests.miniprogram_api.conftest import HOME_ROOM, AddChild, MakeUser, MpUser, op_id
from tests.miniprogram_api.test_books import OTHER, catalogue, give_card, stock, unique


def isbn10_of(isbn13: str) -> str:
    body = isbn13[3:12]
    check = (11 - sum((10 - i) * int(d) for i, d in enumerate(body)) % 11) % 11
    return body + ("X" if check == 10 else str(check))


def isbn13_in_978() -> str:
    isbn = new_isbn()
    assert isbn.startswith("978")
    return isbn


async def suggest(client: httpx.AsyncClient, user: MpUser, member_id: str | None = None, **body: Any
                  ) -> httpx.Response:
    return await client.post("/mp/v1/suggestions", headers=user.headers,
                             json={"op_id": op_id(), "member_id": member_id or user.member_id, **body})


async def move(client: httpx.AsyncClient, staff: Session, suggestion_id: str, to: str, **extra: Any
               ) -> httpx.Response:
    return await client.post(f"/api/v1/suggestions/{suggestion_id}/transition", headers=staff.headers,
                             json={"to": to, **extra})


def test_the_state_machine_and_author_matching() -> None:
    assert may_move("submitted", "under_review") and may_move("in_order", "fulfilled")
    assert may_move("accepted", "rejected") and may_move("under_review", "merged")
    assert not may_move("submitted", "accepted") and not may_move("fulfilled", "rejected")
    assert not may_move("rejected", "under_review") and not may_move("merged", "merged")
    assert norm_author("[美] 海明威 著") == norm_author("海明威") == "海明威"
    assert norm_author("刘慈欣 等主编") == "刘慈欣"


async def test_a_suggestion_is_made_joined_and_replayed(
        client: httpx.AsyncClient, make_user: MakeUser, add_child: AddChild, seeded: Deps) -> None:
    parent, neighbour, stranger = await make_user(name="蒋家长"), await make_user(name="沈邻居"), await make_user()
    child = await add_child(parent, name="蒋小鱼", birth_year=2016)
    isbn = isbn13_in_978()
    title = unique("种子的旅行")
    body = {"op_id": op_id(), "member_id": parent.member_id, "title": title, "author": "李科普 著", "isbn": isbn,
            "note": "孩子们喜欢"}
    first = await client.post("/mp/v1/suggestions", json=body, headers=parent.headers)
    assert first.status_code == 201, first.text
    made = first.json()
    assert (made["merged"], made["suggestion"]["status"], made["suggestion"]["status_label"]) == (
        False, "submitted", "已提交")
    assert made["suggestion"]["supporters"] == 1 and made["suggestion"]["member_ids"] == [parent.member_id]
    sid = made["suggestion"]["id"]
    replay = await client.post("/mp/v1/suggestions", json=body, headers=parent.headers)
    assert replay.status_code == 201 and replay.json()["replayed"] is True and replay.json()["suggestion"]["id"] == sid

    # The same book by ISBN-10, or by title and author without an ISBN: one more supporter.
    by_isbn10 = await suggest(client, neighbour, title="随便写的书名", isbn=isbn10_of(isbn))
    assert by_isbn10.status_code == 200, by_isbn10.text
    assert by_isbn10.json()["merged"] is True and by_isbn10.json()["suggestion"]["id"] == sid
    by_title = await suggest(client, parent, child["id"], title=f" {title} ", author="李科普")
    assert by_title.status_code == 200 and by_title.json()["suggestion"]["supporters"] == 3
    same_again = await suggest(client, neighbour, title=title)
    assert same_again.status_code == 200 and same_again.json()["suggestion"]["supporters"] == 3
    assert await seeded.db.suggestions.count_documents({"t": {"$regex": "种子的旅行"}}) == 1
    other_author = await suggest(client, stranger, title=title, author="王另一位")
    assert other_author.status_code == 201 and other_author.json()["suggestion"]["id"] != sid

    mine = (await client.get("/mp/v1/suggestions", headers=parent.headers)).json()
    assert [(s["id"], sorted(s["member_ids"])) for s in mine["items"]] == [
        (sid, sorted([parent.member_id, child["id"]]))]
    only_child = (await client.get("/mp/v1/suggestions", params={"member_id": child["id"]},
                                   headers=parent.headers)).json()
    assert [s["member_ids"] for s in only_child["items"]] == [[child["id"]]]
    peek = await client.get("/mp/v1/suggestions", params={"member_id": child["id"]}, headers=stranger.headers)
    assert peek.status_code == 404
    foreign = await suggest(client, stranger, parent.member_id, title=unique("别人的书"))
    assert foreign.status_code == 404
    # Bad input names the field and writes nothing.
    before = await seeded.db.suggestions.count_documents({})
    for changes, loc in (({"isbn": "9787111111111"}, "isbn"), ({"title": ""}, "title"), ({"title": "《》"}, "title"),
                         ({"note": "很" * 400}, "note"), ({"author": 3}, "author"), ({"member_id": "zz"}, "member_id")):
        response = await suggest(client, parent, **{"title": unique("书"), **changes})
        assert response.status_code == 422, (changes, response.text)
        assert ["body", loc] in [e["loc"] for e in response.json()["errors"]], response.text
    assert await seeded.db.suggestions.count_documents({}) == before


async def test_a_book_in_the_catalog_is_not_suggested(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, seeded: Deps) -> None:
    user = await make_user()
    name = unique("三国演义")
    title_id = await catalogue(client, as_role["district_admin"], name, author="(明)罗贯中 著")
    for body, field in (({"title": "不同的名字", "isbn": isbn10_of(title_id)}, "isbn"),
                        ({"title": f"《{name}》", "author": "罗贯中"}, "title"),
                        ({"title": name}, "title")):
        response = await suggest(client, user, **body)
        assert response.status_code == 409, response.text
        problem = response.json()
        assert problem["code"] == "already_in_catalog" and name in problem["detail"]
        errors = {tuple(e["loc"]): e["msg"] for e in problem["errors"]}
        assert errors[("catalog", "title_id")] == title_id and ("body", field) in errors
    assert (await suggest(client, user, title=name, author="另一位作者")).status_code == 201
    assert await seeded.db.suggestions.count_documents({"title": name}) == 1


async def test_the_district_office_moves_suggestions_and_supporters_hear_of_it(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, seeded: Deps) -> None:
    staff = as_role["district_staff"]
    a, b = await make_user(name="韩读者"), await make_user(name="杨读者")
    sid = (await suggest(client, a, title=unique("乡土中国"), author="费孝通")).json()["suggestion"]["id"]
    title = (await seeded.db.suggestions.find_one({"_id": ObjectId(sid)}))["title"]
    assert (await suggest(client, b, title=title, author="费孝通")).status_code == 200

    for who in ("room_admin", "town_coordinator", "inspector", "trainer"):
        assert (await move(client, as_role[who], sid, "under_review")).status_code == 403
        assert (await client.get("/api/v1/suggestions", headers=as_role[who].headers)).status_code == 403
    assert (await client.get("/api/v1/suggestions", headers=a.headers)).status_code == 401

    skip = await move(client, staff, sid, "accepted")
    assert skip.status_code == 409 and skip.json()["code"] == "illegal_transition"
    assert "submitted" in skip.json()["detail"] and "accepted" in skip.json()["detail"]
    review = await move(client, staff, sid, "under_review")
    assert review.status_code == 200, review.text
    assert review.json()["notified"] == 2 and review.json()["suggestion"]["supporters"] == 2
    for user in (a, b):
        event = await seeded.db.notifications.find_one({"_id": f"suggestion_status:{sid}:under_review:{user.member_id}"})
        assert event is not None
        assert (event["account_id"], event["member_id"]) == (ObjectId(user.account_id), ObjectId(user.member_id))
        assert event["data"] == {"thing1": title, "phrase2": "审核中", "thing3": "图书馆正在审核"}
        assert len(event["data"]["phrase2"]) <= 5
    entry = await seeded.db.audit.find_one({"action": "suggestion.transition", "target_id": sid})
    assert entry["changes"]["from"] == "submitted" and entry["changes"]["to"] == "under_review"

    no_reason = await move(client, staff, sid, "rejected")
    assert no_reason.status_code == 422 and no_reason.json()["errors"][0]["loc"] == ["body", "reason"]
    wrong_reason = await move(client, staff, sid, "rejected", reason="boring")
    assert wrong_reason.status_code == 422
    stray = await move(client, staff, sid, "accepted", reason="budget")
    assert stray.status_code == 422 and stray.json()["errors"][0]["loc"] == ["body", "reason"]
    rejected = await move(client, staff, sid, "rejected", reason="budget")
    assert rejected.status_code == 200
    seen = (await client.get("/mp/v1/suggestions", headers=a.headers)).json()["items"][0]
    assert (seen["status"], seen["reason"], seen["reason_label"]) == ("rejected", "budget", "今年购书经费已用完")
    event = await seeded.db.notifications.find_one({"_id": f"suggestion_status:{sid}:rejected:{b.member_id}"})
    assert event["data"]["phrase2"] == "未采纳" and event["data"]["thing3"] == "今年购书经费已用完"
    final = await move(client, staff, sid, "under_review")
    assert final.status_code == 409 and final.json()["code"] == "illegal_transition"
    assert (await move(client, staff, "0" * 24, "under_review")).status_code == 404
    assert (await move(client, staff, "nope", "under_review")).status_code == 422

    listed = (await client.get("/api/v1/suggestions", params={"status": "rejected"}, headers=staff.headers)).json()
    row = next(i for i in listed["items"] if i["id"] == sid)
    assert row["supporters"] == 2 and row["rooms"] == [{"room": HOME_ROOM, "supporters": 2}]
    assert [h["to"] for h in row["history"]] == ["submitted", "under_review", "rejected"]
    assert "name" not in str(row)  # no reader identities for the office
    assert all(i["status"] == "rejected" for i in listed["items"])


async def test_merging_moves_the_supporters(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, seeded: Deps) -> None:
    staff = as_role["district_admin"]
    a, b, c = await make_user(name="朱甲"), await make_user(name="秦乙", room=OTHER), await make_user(name="尤丙")
    dup = (await suggest(client, a, title=unique("活着（精装）"))).json()["suggestion"]["id"]
    await suggest(client, c, title=(await seeded.db.suggestions.find_one({"_id": ObjectId(dup)}))["title"])
    keep = (await suggest(client, b, title=unique("活着"), author="余华")).json()["suggestion"]["id"]
    assert (await move(client, staff, dup, "merged")).status_code == 422
    assert (await move(client, staff, dup, "merged", merged_into=dup)).status_code == 422
    merged = await move(client, staff, dup, "merged", merged_into=keep)
    assert merged.status_code == 200, merged.text
    assert merged.json()["suggestion"]["merged_into"] == keep
    target = (await client.get("/api/v1/suggestions", headers=staff.headers)).json()["items"]
    kept = next(i for i in target if i["id"] == keep)
    assert kept["supporters"] == 3 and {r["room"] for r in kept["rooms"]} == {HOME_ROOM, OTHER}
    for user in (a, c):
        assert await seeded.db.notifications.find_one({"_id": f"suggestion_status:{dup}:merged:{user.member_id}"})
        items = (await client.get("/mp/v1/suggestions", headers=user.headers)).json()["items"]
        assert {i["id"]: i["status"] for i in items} == {keep: "submitted", dup: "merged"}
    # A closed suggestion takes no merges; a merged one moves no more.
    other = (await suggest(client, c, title=unique("兄弟"))).json()["suggestion"]["id"]
    assert (await move(client, staff, other, "merged", merged_into=dup)).status_code == 422
    assert (await move(client, staff, dup, "merged", merged_into=other)).status_code == 409


async def test_fulfilment_places_holds_and_demand_feeds_replenishment(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser,
        fake_wechat: FakeWeChatControl, seeded: Deps) -> None:
    staff = as_role["district_staff"]
    waiting, nearby, no_card = (await make_user(name="许等书"), await make_user(name="何近邻", room=OTHER),
                                await make_user(name="吕无证"))
    await give_card(client, fake_wechat, waiting)
    await give_card(client, fake_wechat, nearby)
    isbn = isbn13_in_978()
    name = unique("人世间")
    sid = (await suggest(client, waiting, title=name, author="梁晓声", isbn=isbn)).json()["suggestion"]["id"]
    for user in (nearby, no_card):
        assert (await suggest(client, user, title=name, author="梁晓声")).status_code == 200
    for to in ("under_review", "accepted"):
        assert (await move(client, staff, sid, to)).status_code == 200

    demand = await demand_for_room(seeded, HOME_ROOM)
    row = next(d for d in demand if d["suggestion_id"] == sid)
    assert (row["title"], row["isbn"], row["supporters"], row["supporters_total"], row["status"]) == (
        name, isbn, 2, 3, "accepted")
    assert [d["supporters"] for d in await demand_for_room(seeded, OTHER) if d["suggestion_id"] == sid] == [1]

    assert (await move(client, staff, sid, "in_order")).status_code == 200
    assert (await move(client, staff, sid, "fulfilled")).json()["code"] == "title_id_required"
    unknown = await move(client, staff, sid, "fulfilled", title_id=new_isbn())
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "title_id"]
    title_id = await catalogue(client, as_role["district_admin"], name, isbn=isbn)
    await stock(client, as_role["district_admin"], OTHER, title_id, 1)  # on the shelf at the neighbour's room
    done = await move(client, staff, sid, "fulfilled", title_id=title_id)
    assert done.status_code == 200, done.text
    outcomes = {o["member_id"]: o for o in done.json()["holds"]}
    assert outcomes[waiting.member_id]["outcome"] == "hold_placed"
    assert outcomes[nearby.member_id]["outcome"] == "on_shelf"
    assert outcomes[no_card.member_id]["outcome"] == "no_card"
    hold = await seeded.db.holds.find_one({"_id": ObjectId(outcomes[waiting.member_id]["hold_id"])})
    assert (hold["status"], hold["pickup_room"], hold["placed_by"]) == ("waiting", HOME_ROOM, f"suggestion:{sid}")
    holds = (await client.get("/mp/v1/holds", headers=waiting.headers)).json()["items"]
    assert [h["title_id"] for h in holds] == [title_id]
    steps = {}
    for user in (waiting, nearby, no_card):
        event = await seeded.db.notifications.find_one({"_id": f"suggestion_status:{sid}:fulfilled:{user.member_id}"})
        assert event["data"]["phrase2"] == "已到馆"
        steps[user.member_id] = event["data"]["thing3"]
    assert "预约" in steps[waiting.member_id] and "借阅" in steps[nearby.member_id]
    assert "借阅证" in steps[no_card.member_id]
    seen = (await client.get("/mp/v1/suggestions", headers=no_card.headers)).json()["items"][0]
    assert (seen["status"], seen["title_id"]) == ("fulfilled", title_id)
    assert sid not in [d["suggestion_id"] for d in await demand_for_room(seeded, HOME_ROOM)]  # no longer wanted


async def test_export_and_erase_suggestions(client: httpx.AsyncClient, make_user: MakeUser, seeded: Deps) -> None:
    leaving, staying = await make_user(name="施要走"), await make_user(name="张留下")
    alone = (await suggest(client, leaving, title=unique("只有我要的书"), note="我的理由")).json()["suggestion"]["id"]
    shared_title = unique("大家要的书")
    shared = (await suggest(client, leaving, title=shared_title)).json()["suggestion"]["id"]
    assert (await suggest(client, staying, title=shared_title)).status_code == 200
    account = await seeded.db.mp_accounts.find_one({"_id": ObjectId(leaving.account_id)})
    members = await seeded.db.members.find({"account_id": account["_id"]}).to_list()
    exported = await books_privacy.export(seeded, account, members)
    assert {s["id"] for s in exported["suggestions"]} == {alone, shared}
    note = next(s for s in exported["suggestions"] if s["id"] == alone)["mine"][0]["note"]
    assert note == "我的理由"

    await books_privacy.erase(seeded, account, members, db_now())
    assert await seeded.db.suggestions.find_one({"_id": ObjectId(alone)}) is None
    kept = await seeded.db.suggestions.find_one({"_id": ObjectId(shared)})
    assert kept["supporter_count"] == 1 and [s["member_id"] for s in kept["supporters"]] == [
        ObjectId(staying.member_id)]
    assert (await books_privacy.export(seeded, account, members))["suggestions"] == []
    await books_privacy.erase(seeded, account, members, db_now())  # running it again changes nothing
    assert (await seeded.db.suggestions.find_one({"_id": ObjectId(shared)}))["supporter_count"] == 1
