"""Books in the mini-program over HTTP: search with availability, holds (placed, listed,
cancelled; ready → the reader is notified), my loans, renewals, reading history, and the
books part of the PIPL export and erasure. Stock comes in through the staff API, cards
through the fake WeChat phone-number flow, loans and returns through the desk API."""

from __future__ import annotations

import itertools
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from miniprogram_api.books import privacy as books_privacy
from miniprogram_api.books import service as books_service
from miniprogram_api.books.availability import coordinates, distance_km
from ops.fake_wechat.client import FakeWeChatControl
from server.circulation import holds as holds_service
from server.resources import Deps
from server.stock.service import check_ledger
from server.storage import db_now
from tests.circulation import new_isbn, new_phone
from tests.conftest import Session
from tests.miniprogram_api.conftest import HOME_ROOM, AddChild, MakeUser, MpUser, op_id

OTHER = "JN-GG-001"
_names = itertools.count(1)


# -- helpers (also used by test_suggestions) --------------------------------------------------


async def catalogue(client: httpx.AsyncClient, staff: Session, title: str, *, author: str = "某作者",
                    isbn: str | None = None, fmt: str = "book") -> str:
    """A title created through the staff catalog API; returns its id (the ISBN-13)."""
    body = {"isbn": isbn or new_isbn(), "title": title, "author": author, "format": fmt}
    response = await client.post("/api/v1/catalog/titles", json=body, headers=staff.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["title_id"])


async def stock(client: httpx.AsyncClient, staff: Session, room: str, title_id: str, quantity: int) -> None:
    response = await client.post(f"/api/v1/rooms/{room}/receipts", headers=staff.headers,
                                 json={"op_id": op_id(), "lines": [{"title_id": title_id, "quantity": quantity}]})
    assert response.status_code in (200, 201), response.text


async def give_card(client: httpx.AsyncClient, fake_wechat: FakeWeChatControl, user: MpUser,
                    member_id: str | None = None) -> str:
    code = await fake_wechat.phone_code(new_phone())
    response = await client.post(f"/mp/v1/members/{member_id or user.member_id}/card", json={"phone_code": code},
                                 headers=user.headers)
    assert response.status_code == 200, response.text
    return str(response.json()["card_no"])


async def desk(client: httpx.AsyncClient, admin: Session, action: str, body: dict[str, Any],
               room: str = HOME_ROOM) -> dict[str, Any]:
    response = await client.post(f"/api/v1/rooms/{room}/{action}", headers=admin.headers,
                                 json={"op_id": op_id(), **body})
    assert response.status_code in (200, 201), response.text
    return dict(response.json())


def unique(name: str) -> str:
    return f"{name}{next(_names)}{uuid.uuid4().hex[:4]}"


@pytest.fixture(scope="module", autouse=True)
async def _ledger_stays_clean(seeded: Deps) -> Any:
    yield
    _, problems = await check_ledger(seeded)
    assert problems == [], [str(p) for p in problems]


# -- search --------------------------------------------------------------------------------


async def test_search_reports_copies_here_and_in_the_nearest_rooms(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, seeded: Deps) -> None:
    admin = as_role["district_admin"]
    name = unique("稻田养蟹技术")
    title_id = await catalogue(client, admin, name, author="张农技")
    rooms = {r["code"]: r for r in await seeded.db.rooms.find({"status": "active"}).to_list()}
    home = rooms[HOME_ROOM]
    # Six other rooms: the five nearest are shown, nearest first.
    others = sorted((c for c in rooms if c != HOME_ROOM),
                    key=lambda c: distance_km(coordinates(home), coordinates(rooms[c])))  # type: ignore[arg-type]
    chosen = [others[0], others[2], others[5], others[9], others[20], others[40]]
    await stock(client, admin, HOME_ROOM, title_id, 2)
    for n, code in enumerate(chosen):
        await stock(client, admin, code, title_id, n + 1)

    anonymous = await client.get("/mp/v1/titles", params={"q": name})
    assert anonymous.status_code == 200, anonymous.text
    hit = anonymous.json()["items"][0]
    assert (hit["title_id"], hit["title"], hit["match"]) == (title_id, name, "exact")
    assert hit["availability"]["on_shelf_here"] is None and hit["availability"]["rooms_on_shelf"] == 7

    user = await make_user()
    mine = await client.get("/mp/v1/titles", params={"q": name, "member_id": user.member_id}, headers=user.headers)
    assert mine.status_code == 200, mine.text
    page = mine.json()
    assert page["room"] == HOME_ROOM
    avail = page["items"][0]["availability"]
    assert (avail["room"], avail["room_name"], avail["on_shelf_here"]) == (HOME_ROOM, home["name"], 2)
    assert [r["room"] for r in avail["nearby"]] == chosen[:5]
    assert [r["on_shelf"] for r in avail["nearby"]] == [1, 2, 3, 4, 5]
    distances = [r["distance_km"] for r in avail["nearby"]]
    assert distances == sorted(distances) and distances[0] > 0
    assert avail["nearby"][0]["name"] == rooms[chosen[0]]["name"]

    # An explicit room wins over the member's; the title page says the same; pinyin initials find it too.
    there = (await client.get("/mp/v1/titles", params={"q": name, "room": chosen[5]})).json()
    assert there["items"][0]["availability"]["on_shelf_here"] == 6
    detail = await client.get(f"/mp/v1/titles/{title_id}", params={"member_id": user.member_id},
                              headers=user.headers)
    assert detail.status_code == 200 and detail.json()["availability"] == avail
    initials = (await client.get("/mp/v1/titles", params={"q": "dtyxjs"})).json()
    assert title_id in [i["title_id"] for i in initials["items"]]


async def test_search_refuses_bad_or_foreign_input(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user, stranger = await make_user(), await make_user(name="陌生人")
    no_session = await client.get("/mp/v1/titles", params={"q": "三体", "member_id": user.member_id})
    assert no_session.status_code == 401
    foreign = await client.get("/mp/v1/titles", params={"q": "三体", "member_id": user.member_id},
                               headers=stranger.headers)
    assert foreign.status_code == 404 and foreign.json()["code"] == "member_not_found"
    bad_room = await client.get("/mp/v1/titles", params={"q": "三体", "room": "JN-ZZZ-999"})
    assert bad_room.status_code == 422 and ["query", "room"] in [e["loc"] for e in bad_room.json()["errors"]]
    for params in ({"limit": "0"}, {"cursor": "not-a-cursor", "q": "三体"}, {"member_id": "nope"},
                   {"format": "scroll"}, {"surprise": "1"}):
        response = await client.get("/mp/v1/titles", params=params, headers=user.headers)
        assert response.status_code == 422, (params, response.text)
    assert (await client.get("/mp/v1/titles/9787000000000")).status_code == 404
    assert (await client.get("/mp/v1/titles/not-an-isbn")).status_code == 404


async def test_a_search_page_costs_the_same_queries_whatever_its_size(
        client: httpx.AsyncClient, as_role: dict[str, Session], command_counter: Any) -> None:
    admin = as_role["district_admin"]
    stem = unique("鹊桥观星")
    for n in range(6):
        title_id = await catalogue(client, admin, f"{stem}第{n}册")
        await stock(client, admin, HOME_ROOM if n % 2 else OTHER, title_id, 1)
    counts = []
    for limit in (1, 6):
        command_counter.reset()
        page = (await client.get("/mp/v1/titles", params={"q": stem, "room": HOME_ROOM, "limit": limit})).json()
        assert len(page["items"]) == limit
        counts.append(len(command_counter.commands))
    assert counts[0] == counts[1], command_counter.commands
    holdings = [c for c in command_counter.commands if c.endswith(":holdings")]
    assert len(holdings) == 1, command_counter.commands
    second = (await client.get("/mp/v1/titles", params={"q": stem, "limit": 4})).json()
    rest = (await client.get("/mp/v1/titles", params={"q": stem, "limit": 4, "cursor": second["next_cursor"]})).json()
    assert len({i["title_id"] for i in second["items"] + rest["items"]}) == 6 and rest["next_cursor"] is None


# -- holds --------------------------------------------------------------------------------------


async def test_a_reader_holds_lists_and_cancels(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser,
        fake_wechat: FakeWeChatControl, seeded: Deps) -> None:
    admin = as_role["district_admin"]
    title_id = await catalogue(client, admin, unique("黄河故事"))
    await stock(client, admin, OTHER, title_id, 2)
    user, stranger = await make_user(name="刘读者"), await make_user(name="赵路人")
    await give_card(client, fake_wechat, user)
    body = {"op_id": op_id(), "member_id": user.member_id, "title_id": title_id, "pickup_room": HOME_ROOM}
    placed = await client.post("/mp/v1/holds", json=body, headers=user.headers)
    assert placed.status_code == 201, placed.text
    out = placed.json()
    hold = out["hold"]
    assert (hold["status"], hold["member_id"], hold["pickup_room"], out["queue_position"]) == (
        "waiting", user.member_id, HOME_ROOM, 1)
    assert out["available_elsewhere"][0]["room"] == OTHER and out["available_elsewhere"][0]["name"]
    stored = await seeded.db.holds.find_one({"_id": ObjectId(hold["id"])})
    assert stored["placed_by"] == f"mp:{user.account_id}"
    assert await seeded.db.audit.count_documents({"target_id": hold["id"]}) == 0  # not a staff action

    replay = await client.post("/mp/v1/holds", json=body, headers=user.headers)
    assert replay.status_code == 201 and replay.json()["replayed"] is True
    assert replay.json()["hold"]["id"] == hold["id"]
    assert await seeded.db.holds.count_documents({"title_id": title_id}) == 1
    twice = await client.post("/mp/v1/holds", json={**body, "op_id": op_id()}, headers=user.headers)
    assert twice.status_code == 409 and twice.json()["code"] == "hold_exists"
    # Another account cannot place a hold for this member, nor reuse this op_id to read the answer.
    foreign = await client.post("/mp/v1/holds", json={**body, "op_id": op_id()}, headers=stranger.headers)
    assert foreign.status_code == 404
    stolen = await client.post("/mp/v1/holds", json=body, headers=stranger.headers)
    assert stolen.status_code == 404

    listed = (await client.get("/mp/v1/holds", headers=user.headers)).json()
    assert [(h["id"], h["title_id"], h["status_label"]) for h in listed["items"]] == [(hold["id"], title_id, "排队中")]
    assert (await client.get("/mp/v1/holds", headers=stranger.headers)).json()["items"] == []
    peek = await client.get("/mp/v1/holds", params={"member_id": user.member_id}, headers=stranger.headers)
    assert peek.status_code == 404

    url = f"/mp/v1/holds/{hold['id']}/cancel"
    assert (await client.post(url, json={"op_id": op_id()}, headers=stranger.headers)).status_code == 404
    cancel = {"op_id": op_id()}
    done = await client.post(url, json=cancel, headers=user.headers)
    assert done.status_code == 200 and done.json()["hold"]["status"] == "cancelled", done.text
    again = await client.post(url, json=cancel, headers=user.headers)
    assert again.status_code == 200 and again.json()["replayed"] is True
    closed = await client.post(url, json={"op_id": op_id()}, headers=user.headers)
    assert closed.status_code == 409 and closed.json()["code"] == "hold_closed"
    stored = await seeded.db.holds.find_one({"_id": ObjectId(hold["id"])})
    assert stored["cancelled_by"] == f"mp:{user.account_id}" and stored["cancel_reason"]
    history = (await client.get("/mp/v1/holds", params={"status": "closed"}, headers=user.headers)).json()
    assert [h["status"] for h in history["items"]] == ["cancelled"]


async def test_hold_refusals(client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser,
                             add_child: AddChild, fake_wechat: FakeWeChatControl, seeded: Deps) -> None:
    admin = as_role["district_admin"]
    title_id = await catalogue(client, admin, unique("草原上的小木屋"))
    paper = await catalogue(client, admin, unique("农民日报"), fmt="periodical")
    await stock(client, admin, HOME_ROOM, title_id, 1)
    user = await make_user(name="钱女士")
    child = await add_child(user, name="钱小宝", birth_year=2017)

    def body(**changes: Any) -> dict[str, Any]:
        return {"op_id": op_id(), "member_id": child["id"], "title_id": title_id, "pickup_room": OTHER, **changes}

    before = await seeded.db.holds.count_documents({})
    no_card = await client.post("/mp/v1/holds", json=body(), headers=user.headers)
    assert no_card.status_code == 422 and no_card.json()["code"] == "card_required"
    assert no_card.json()["errors"][0]["loc"] == ["body", "member_id"]
    assert "办理借阅证" in no_card.json()["detail"] and child["id"] in no_card.json()["errors"][0]["msg"]
    await give_card(client, fake_wechat, user, child["id"])
    on_shelf = await client.post("/mp/v1/holds", json=body(pickup_room=HOME_ROOM), headers=user.headers)
    assert on_shelf.status_code == 409 and on_shelf.json()["code"] == "available_on_shelf"
    assert "借阅" in on_shelf.json()["detail"]
    periodical = await client.post("/mp/v1/holds", json=body(title_id=paper), headers=user.headers)
    assert periodical.status_code == 422 and periodical.json()["code"] == "periodical_in_room_only"
    for changes, loc in (({"pickup_room": "JN-ZZZ-999"}, "pickup_room"), ({"title_id": new_isbn()}, "title_id"),
                         ({"title_id": "12345"}, "title_id"), ({"member_id": "x"}, "member_id"),
                         ({"op_id": "short"}, "op_id"), ({"extra": 1}, "extra")):
        response = await client.post("/mp/v1/holds", json=body(**changes), headers=user.headers)
        assert response.status_code == 422, response.text
        assert ["body", loc] in [e["loc"] for e in response.json()["errors"]], response.text
    assert await seeded.db.holds.count_documents({}) == before
    ok = await client.post("/mp/v1/holds", json=body(), headers=user.headers)  # at another room: fine
    assert ok.status_code == 201 and ok.json()["hold"]["member_name"] == "钱小宝"


async def test_the_reader_is_notified_when_a_returned_copy_makes_the_hold_ready(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser,
        fake_wechat: FakeWeChatControl, seeded: Deps) -> None:
    admin, clerk = as_role["district_admin"], as_role["room_admin"]
    name = unique("平凡的世界")
    title_id = await catalogue(client, admin, name)
    await stock(client, admin, HOME_ROOM, title_id, 1)
    borrower, waiting = await make_user(name="孙借书"), await make_user(name="周等书")
    borrower_card = await give_card(client, fake_wechat, borrower)
    await give_card(client, fake_wechat, waiting)
    await desk(client, clerk, "loans", {"card_no": borrower_card, "title_id": title_id})
    hold = (await client.post("/mp/v1/holds", headers=waiting.headers, json={
        "op_id": op_id(), "member_id": waiting.member_id, "title_id": title_id, "pickup_room": HOME_ROOM})).json()
    hold_id = hold["hold"]["id"]
    assert await seeded.db.notifications.find_one({"_id": f"hold_ready:{hold_id}"}) is None

    back = await desk(client, clerk, "returns", {"title_id": title_id, "card_no": borrower_card})
    assert back["notice"]["hold_id"] == hold_id
    event = await seeded.db.notifications.find_one({"_id": f"hold_ready:{hold_id}"})
    assert event is not None, "a ready hold records a hold_ready event"
    stored = await seeded.db.holds.find_one({"_id": ObjectId(hold_id)})
    room = await seeded.db.rooms.find_one({"code": HOME_ROOM})
    assert (event["event"], event["reader_id"], event["status"], event["page"]) == (
        "hold_ready", stored["reader_id"], "pending", "pages/loans/loans?tab=holds")
    assert event["data"]["thing1"] == name and event["data"]["thing2"] == room["name"]
    local = stored["expires_at"] + timedelta(hours=8)
    assert event["data"]["time3"] == f"{local.year}年{local.month}月{local.day}日"
    listed = (await client.get("/mp/v1/holds", headers=waiting.headers)).json()["items"]
    assert (listed[0]["status"], listed[0]["status_label"]) == ("ready", "可取书") and listed[0]["expires_at"]
    # The hold expiring unclaimed tells nobody anything.
    before = await seeded.db.notifications.count_documents({})
    result = await holds_service.expire_and_promote_holds(seeded, db_now() + timedelta(days=30))
    assert result["expired"] >= 1
    assert (await seeded.db.holds.find_one({"_id": ObjectId(hold_id)}))["status"] == "expired"
    assert await seeded.db.notifications.count_documents({}) == before


# -- loans, renewals, history ---------------------------------------------------------------------


async def test_my_loans_renewal_and_history(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser,
        fake_wechat: FakeWeChatControl, seeded: Deps) -> None:
    admin, clerk = as_role["district_admin"], as_role["room_admin"]
    first, second = unique("红岩"), unique("林海雪原")
    a = await catalogue(client, admin, first)
    b = await catalogue(client, admin, second)
    await stock(client, admin, HOME_ROOM, a, 1)
    await stock(client, admin, HOME_ROOM, b, 1)
    user, stranger, other = await make_user(name="吴读者"), await make_user(name="郑陌生"), await make_user()
    card = await give_card(client, fake_wechat, user)
    await give_card(client, fake_wechat, other)
    loan_a = (await desk(client, clerk, "loans", {"card_no": card, "title_id": a}))["loan"]
    loan_b = (await desk(client, clerk, "loans", {"card_no": card, "title_id": b}))["loan"]
    # Someone waits for b: it may not be renewed.
    held = await client.post("/mp/v1/holds", headers=other.headers, json={
        "op_id": op_id(), "member_id": other.member_id, "title_id": b, "pickup_room": HOME_ROOM})
    assert held.status_code == 201, held.text

    params = {"member_id": user.member_id, "status": "open"}
    page = (await client.get("/mp/v1/loans", params=params, headers=user.headers)).json()
    assert page["has_card"] is True and page["history_enabled"] is True
    by_id = {i["id"]: i for i in page["items"]}
    assert set(by_id) == {loan_a["id"], loan_b["id"]}
    assert (by_id[loan_a["id"]]["can_renew"], by_id[loan_a["id"]]["overdue"]) == (True, False)
    assert by_id[loan_b["id"]]["can_renew"] is False
    assert by_id[loan_b["id"]]["renew_refusal"]["code"] == "hold_waiting"
    assert by_id[loan_a["id"]]["title"] == first and by_id[loan_a["id"]]["room_name"]
    foreign = await client.get("/mp/v1/loans", params=params, headers=stranger.headers)
    assert foreign.status_code == 404

    url = f"/mp/v1/loans/{loan_a['id']}/renew"
    assert (await client.post(url, json={"op_id": op_id()}, headers=stranger.headers)).status_code == 404
    renew = {"op_id": op_id()}
    renewed = await client.post(url, json=renew, headers=user.headers)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["loan"]["renewals"] == 1 and renewed.json()["loan"]["due_at"] > loan_a["due_at"]
    replay = await client.post(url, json=renew, headers=user.headers)
    assert replay.json()["replayed"] is True and replay.json()["loan"]["due_at"] == renewed.json()["loan"]["due_at"]
    assert (await seeded.db.loans.find_one({"_id": ObjectId(loan_a["id"])}))["renewals"] == 1
    assert await seeded.db.audit.count_documents({"action": "loan.renew", "target_id": loan_a["id"]}) == 0
    limit = await client.post(url, json={"op_id": op_id()}, headers=user.headers)
    assert limit.status_code == 422 and limit.json()["code"] == "renewal_limit_reached"
    waiting = await client.post(f"/mp/v1/loans/{loan_b['id']}/renew", json={"op_id": op_id()}, headers=user.headers)
    assert waiting.status_code == 422 and waiting.json()["code"] == "hold_waiting"
    unknown = await client.post("/mp/v1/loans/not-an-id/renew", json={"op_id": op_id()}, headers=user.headers)
    assert unknown.status_code == 422

    await desk(client, clerk, "returns", {"title_id": a, "card_no": card})
    history = (await client.get("/mp/v1/loans", params={"member_id": user.member_id, "status": "history"},
                                headers=user.headers)).json()
    assert [(i["id"], i["can_renew"]) for i in history["items"]] == [(loan_a["id"], None)]
    assert history["items"][0]["returned_at"] is not None
    still = (await client.get("/mp/v1/loans", params=params, headers=user.headers)).json()
    assert [i["id"] for i in still["items"]] == [loan_b["id"]]

    # Turning history off forgets the returned loans (the statistics keep the age group).
    off = await client.patch(f"/mp/v1/members/{user.member_id}", json={"history_enabled": False},
                             headers=user.headers)
    assert off.status_code == 200, off.text
    gone = (await client.get("/mp/v1/loans", params={"member_id": user.member_id, "status": "history"},
                             headers=user.headers)).json()
    assert gone["items"] == [] and gone["history_enabled"] is False
    doc = await seeded.db.loans.find_one({"_id": ObjectId(loan_a["id"])})
    assert doc["reader_id"] is None and doc["anonymised_at"] is not None and doc["age_group"] == "adult"
    assert (await seeded.db.loans.find_one({"_id": ObjectId(loan_b["id"])}))["reader_id"] is not None
    # Returned while history is off: the nightly pass unlinks it too.
    await desk(client, clerk, "returns", {"title_id": b, "card_no": card})
    assert (await seeded.db.loans.find_one({"_id": ObjectId(loan_b["id"])}))["reader_id"] is not None
    assert await books_service.forget_histories_turned_off(seeded) >= 1
    assert (await seeded.db.loans.find_one({"_id": ObjectId(loan_b["id"])}))["reader_id"] is None


async def test_forget_history_anonymises_only_returned_loans(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser,
        fake_wechat: FakeWeChatControl, seeded: Deps) -> None:
    admin, clerk = as_role["district_admin"], as_role["room_admin"]
    titles = [await catalogue(client, admin, unique("读史")) for _ in range(3)]
    for t in titles:
        await stock(client, admin, HOME_ROOM, t, 1)
    user = await make_user(name="冯读者")
    card = await give_card(client, fake_wechat, user)
    for t in titles:
        await desk(client, clerk, "loans", {"card_no": card, "title_id": t})
    for t in titles[:2]:
        await desk(client, clerk, "returns", {"title_id": t, "card_no": card})
    member = await seeded.db.members.find_one({"_id": ObjectId(user.member_id)})
    assert await books_service.forget_history(seeded, member) == 2
    assert await books_service.forget_history(seeded, member) == 0
    assert await seeded.db.loans.count_documents({"reader_id": member["reader_id"]}) == 1
    assert await books_service.forget_history(seeded, {"_id": ObjectId(), "reader_id": None}) == 0


async def test_no_card_means_no_loans_and_bad_queries_are_refused(
        client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user()
    page = await client.get("/mp/v1/loans", params={"member_id": user.member_id}, headers=user.headers)
    assert page.status_code == 200 and page.json()["has_card"] is False and page.json()["items"] == []
    for params in ({}, {"member_id": user.member_id, "status": "lost"}, {"member_id": "abc"},
                   {"member_id": user.member_id, "status": "history", "cursor": "@@"}):
        response = await client.get("/mp/v1/loans", params=params, headers=user.headers)
        assert response.status_code == 422, (params, response.text)


# -- privacy ----------------------------------------------------------------------------------------


async def test_export_and_erase_the_books_part(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser,
        fake_wechat: FakeWeChatControl, seeded: Deps) -> None:
    admin, clerk = as_role["district_admin"], as_role["room_admin"]
    read, wanted = unique("边城"), unique("围城")
    read_id, wanted_id = await catalogue(client, admin, read), await catalogue(client, admin, wanted)
    await stock(client, admin, HOME_ROOM, read_id, 1)
    await stock(client, admin, HOME_ROOM, wanted_id, 1)
    user, next_in_line, holder = await make_user(name="陈家长"), await make_user(name="褚读者"), await make_user()
    card = await give_card(client, fake_wechat, user)
    holder_card = await give_card(client, fake_wechat, holder)
    await give_card(client, fake_wechat, next_in_line)
    await desk(client, clerk, "loans", {"card_no": card, "title_id": read_id})
    await desk(client, clerk, "returns", {"title_id": read_id, "card_no": card})
    await desk(client, clerk, "loans", {"card_no": holder_card, "title_id": wanted_id})
    mine = (await client.post("/mp/v1/holds", headers=user.headers, json={
        "op_id": op_id(), "member_id": user.member_id, "title_id": wanted_id, "pickup_room": HOME_ROOM})).json()
    theirs = (await client.post("/mp/v1/holds", headers=next_in_line.headers, json={
        "op_id": op_id(), "member_id": next_in_line.member_id, "title_id": wanted_id,
        "pickup_room": HOME_ROOM})).json()
    await desk(client, clerk, "returns", {"title_id": wanted_id, "card_no": holder_card})  # mine is ready now
    assert (await seeded.db.holds.find_one({"_id": ObjectId(mine["hold"]["id"])}))["status"] == "ready"

    account = await seeded.db.mp_accounts.find_one({"_id": ObjectId(user.account_id)})
    members = await seeded.db.members.find({"account_id": account["_id"]}).to_list()
    exported = await books_privacy.export(seeded, account, members)
    assert [(loan["title"], loan["returned_at"] is not None) for loan in exported["loans"]] == [(read, True)]
    assert [(h["title"], h["status"]) for h in exported["holds"]] == [(wanted, "ready")]

    await books_privacy.erase(seeded, account, members, db_now())
    reader_id = members[0]["reader_id"]
    assert await seeded.db.loans.count_documents({"reader_id": reader_id}) == 0
    assert await seeded.db.holds.count_documents({"reader_id": reader_id}) == 0
    cancelled = await seeded.db.holds.find_one({"_id": ObjectId(mine["hold"]["id"])})
    assert cancelled["status"] == "cancelled" and cancelled["reader_id"] is None
    # The set-aside copy goes to the next reader in the queue, who is told.
    nxt = await seeded.db.holds.find_one({"_id": ObjectId(theirs["hold"]["id"])})
    assert nxt["status"] == "ready"
    assert await seeded.db.notifications.find_one({"_id": f"hold_ready:{theirs['hold']['id']}"}) is not None
    ops = await seeded.db.operations.find({"_id": {"$regex": f"^mp-{user.account_id}-"}, "kind": "hold"}).to_list()
    assert ops and all(o["result"] == {"anonymised": True} for o in ops)
    again = await books_privacy.export(seeded, account, members)
    assert again["loans"] == [] and again["holds"] == []
