"""Lend, renew, return (anywhere), in-room use over HTTP against the real stack."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from server.circulation import service
from server.circulation.models import LendIn
from server.resources import Deps
from server.staff import repo as staff_repo
from server.staff import service as staff_service
from tests.circulation import add_reader, add_title, holding, new_isbn, op, receive, snapshot
from tests.conftest import Session

pytestmark = pytest.mark.usefixtures("ledger_stays_clean")
ROOM = "JN-XSG-001"   # as_role["room_admin"]'s room (咸水沽镇)
OTHER = "JN-GG-001"   # as_role["room_admin_other"]'s room (葛沽镇)
SAME_TOWN = "JN-XSG-002"  # 咸水沽镇: the town coordinator's, not the room administrator's


async def call(client: httpx.AsyncClient, who: Session, method: str, url: str, body: Any = None,
               params: dict[str, Any] | None = None) -> httpx.Response:
    return await client.request(method, url, headers=who.headers, json=body, params=params)


async def lend(client: httpx.AsyncClient, who: Session, room: str, card: str, title_id: str,
               op_id: str | None = None) -> httpx.Response:
    return await call(client, who, "POST", f"/api/v1/rooms/{room}/loans",
                      {"op_id": op_id or op(), "card_no": card, "title_id": title_id})


async def give_back(client: httpx.AsyncClient, who: Session, room: str, title_id: str, **extra: Any) -> httpx.Response:
    return await call(client, who, "POST", f"/api/v1/rooms/{room}/returns",
                      {"op_id": extra.pop("op_id", None) or op(), "title_id": title_id, **extra})


async def test_full_loan_cycle(client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    admin = as_role["room_admin"]
    title_id = await add_title(seeded, title="红岩", category="文化")
    await receive(seeded, ROOM, title_id, 2)
    reader = await add_reader(seeded, ROOM)

    response = await lend(client, admin, ROOM, reader["card_no"], title_id)
    assert response.status_code == 201, response.text
    body = response.json()
    loan = body["loan"]
    assert body["replayed"] is False and "红岩" in body["message"]
    assert (loan["room"], loan["title_id"], loan["renewals"], loan["overdue"]) == (ROOM, title_id, 0, False)
    assert loan["reader"] == {"id": reader["id"], "card_no": reader["card_no"], "name": "李**"}
    lent_at, due_at = datetime.fromisoformat(loan["lent_at"]), datetime.fromisoformat(loan["due_at"])
    assert timedelta(days=10) <= due_at - lent_at < timedelta(days=11)
    assert await holding(seeded, ROOM, title_id) == {"on_shelf": 1, "on_loan": 1, "in_transit": 0, "lost": 0, "damaged": 0}
    stored = await seeded.db.readers.find_one({"card_no": reader["card_no"]})
    assert stored["open_loans"] == {"book": 1, "audio_visual": 0}

    listed = (await call(client, admin, "GET", f"/api/v1/rooms/{ROOM}/loans")).json()
    assert loan["id"] in [i["id"] for i in listed["items"]]
    mine = (await call(client, admin, "GET", f"/api/v1/readers/{reader['id']}/loans", params={"status": "open"})).json()
    assert [i["id"] for i in mine["items"]] == [loan["id"]]

    renewed = await call(client, admin, "POST", f"/api/v1/loans/{loan['id']}/renew", {"op_id": op()})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["loan"]["renewals"] == 1
    assert datetime.fromisoformat(renewed.json()["loan"]["due_at"]) == due_at + timedelta(days=10)
    again = await call(client, admin, "POST", f"/api/v1/loans/{loan['id']}/renew", {"op_id": op()})
    assert again.status_code == 422 and again.json()["code"] == "renewal_limit_reached"

    returned = await give_back(client, admin, ROOM, title_id, card_no=reader["card_no"])
    assert returned.status_code == 200, returned.text
    out = returned.json()
    assert (out["moved"], out["lending_room"], out["notice"]) == (False, ROOM, None)
    assert out["loan"]["returned_room"] == ROOM and out["loan"]["returned_at"]
    assert await holding(seeded, ROOM, title_id) == {"on_shelf": 2, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0}
    assert (await seeded.db.readers.find_one({"_id": stored["_id"]}))["open_loans"] == {"book": 0, "audio_visual": 0}
    history = (await call(client, admin, "GET", f"/api/v1/readers/{reader['id']}/loans", params={"status": "closed"})).json()
    assert [i["id"] for i in history["items"]] == [loan["id"]]
    kinds = [m["kind"] async for m in seeded.db.stock_moves.find({"title_id": title_id}).sort("_id")]
    assert kinds == ["receive", "loan", "return"]

    stats = (await call(client, as_role["inspector"], "GET", f"/api/v1/rooms/{ROOM}/loan-stats")).json()
    row = next(i for i in stats["items"] if i["category"] == "文化")
    assert (row["loans"], row["renewals"], row["returns"], row["age_group"]) == (1, 1, 1, "adult")


async def test_loan_limits_per_format(client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    admin = as_role["room_admin"]
    reader = await add_reader(seeded, ROOM)
    books = [await add_title(seeded) for _ in range(6)]
    discs = [await add_title(seeded, fmt="audio_visual") for _ in range(3)]
    for t in books + discs:
        await receive(seeded, ROOM, t)
    for t in books[:5]:
        assert (await lend(client, admin, ROOM, reader["card_no"], t)).status_code == 201
    refused = await lend(client, admin, ROOM, reader["card_no"], books[5])
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "loan_limit_reached" and "上限（5 件）" in refused.json()["detail"]
    # Audio-visual items have their own limit.
    for t in discs[:2]:
        assert (await lend(client, admin, ROOM, reader["card_no"], t)).status_code == 201
    refused = await lend(client, admin, ROOM, reader["card_no"], discs[2])
    assert refused.status_code == 422 and "音像制品" in refused.json()["detail"]
    assert (await holding(seeded, ROOM, books[5]))["on_shelf"] == 1
    assert await seeded.db.loans.count_documents({"title_id": books[5]}) == 0


async def test_periodicals_are_read_in_the_room(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                seeded: Deps) -> None:
    admin = as_role["room_admin"]
    paper = await add_title(seeded, fmt="periodical", title="天津日报")
    await receive(seeded, ROOM, paper, 3)
    reader = await add_reader(seeded, ROOM)
    before = await snapshot(seeded)
    refused = await lend(client, admin, ROOM, reader["card_no"], paper)
    assert refused.status_code == 422
    assert refused.json()["code"] == "periodical_in_room_only"
    assert refused.json()["detail"] == "《天津日报》是报刊，只能在书屋内阅读，不能外借"
    after = await snapshot(seeded)
    # The refusal is remembered for its op_id (a replay gets the same answer); nothing else changed.
    assert {k: v for k, v in after.items() if k != "operations"} == {k: v for k, v in before.items() if k != "operations"}
    used = await call(client, admin, "POST", f"/api/v1/rooms/{ROOM}/in-room-uses",
                      {"op_id": op(), "title_id": paper, "count": 4})
    assert used.status_code == 201 and used.json()["count"] == 4
    stats = (await call(client, admin, "GET", f"/api/v1/rooms/{ROOM}/loan-stats")).json()
    assert stats["totals"]["in_room_uses"] >= 4
    assert await holding(seeded, ROOM, paper) == {"on_shelf": 3, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0}


async def test_blocked_and_overdue_readers(client: httpx.AsyncClient, as_role: dict[str, Session],
                                           seeded: Deps) -> None:
    admin, district = as_role["room_admin"], as_role["district_staff"]
    reader = await add_reader(seeded, ROOM)
    first, second = await add_title(seeded), await add_title(seeded)
    await receive(seeded, ROOM, first)
    await receive(seeded, ROOM, second)
    loan = (await lend(client, admin, ROOM, reader["card_no"], first)).json()["loan"]

    # A room administrator cannot block; district staff can, with a reason.
    assert (await call(client, admin, "POST", f"/api/v1/readers/{reader['id']}/block",
                       {"reason": "多次损坏图书"})).status_code == 403
    blocked = await call(client, district, "POST", f"/api/v1/readers/{reader['id']}/block", {"reason": "多次损坏图书"})
    assert blocked.status_code == 200 and blocked.json()["blocked"] is True
    refused = await lend(client, admin, ROOM, reader["card_no"], second)
    assert refused.status_code == 422 and refused.json()["code"] == "reader_blocked"
    assert "多次损坏图书" in refused.json()["detail"]
    renew = await call(client, admin, "POST", f"/api/v1/loans/{loan['id']}/renew", {"op_id": op()})
    assert renew.status_code == 422 and renew.json()["code"] == "reader_blocked"
    assert (await call(client, district, "POST", f"/api/v1/readers/{reader['id']}/unblock", {})).status_code == 200

    # The loan falls overdue: no new loans, no renewal, and the room's overdue list shows it.
    past = datetime.now(UTC) - timedelta(days=3)
    await seeded.db.loans.update_one({"_id": ObjectId(loan["id"])}, {"$set": {"due_at": past}})
    refused = await lend(client, admin, ROOM, reader["card_no"], second)
    assert refused.status_code == 422 and refused.json()["code"] == "reader_has_overdue"
    renew = await call(client, admin, "POST", f"/api/v1/loans/{loan['id']}/renew", {"op_id": op()})
    assert renew.status_code == 422 and renew.json()["code"] == "overdue_cannot_renew"
    overdue = (await call(client, admin, "GET", f"/api/v1/rooms/{ROOM}/loans", params={"overdue": "true"})).json()
    row = next(i for i in overdue["items"] if i["id"] == loan["id"])
    assert row["overdue"] is True and row["days_overdue"] == 3
    current = (await call(client, admin, "GET", f"/api/v1/rooms/{ROOM}/loans", params={"overdue": "false"})).json()
    assert loan["id"] not in [i["id"] for i in current["items"]]
    back = await give_back(client, admin, ROOM, first, card_no=reader["card_no"])
    assert back.status_code == 200 and "逾期 3 天" in back.json()["message"]
    assert (await lend(client, admin, ROOM, reader["card_no"], second)).status_code == 201


async def test_return_in_another_room_moves_the_copy(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                     seeded: Deps) -> None:
    title_id = await add_title(seeded)
    await receive(seeded, ROOM, title_id, 1)
    await receive(seeded, OTHER, title_id, 1)
    reader = await add_reader(seeded, ROOM)
    loan = (await lend(client, as_role["room_admin"], ROOM, reader["card_no"], title_id)).json()["loan"]
    # Room B's administrator takes the copy back although room A lent it (通借通还).
    response = await give_back(client, as_role["room_admin_other"], OTHER, title_id, card_no=reader["card_no"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["moved"], body["lending_room"], body["loan"]["id"], body["loan"]["returned_room"]) == (
        True, ROOM, loan["id"], OTHER)
    assert "现归" in body["message"] and "通借通还" in body["message"]
    assert await holding(seeded, ROOM, title_id) == {"on_shelf": 0, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0}
    assert await holding(seeded, OTHER, title_id) == {"on_shelf": 2, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0}
    moves = await seeded.db.stock_moves.find({"reference.loan_id": loan["id"]}).sort([("op_id", 1), ("seq", 1)]).to_list()
    assert sorted((m["kind"], m["room"]) for m in moves) == [("loan", ROOM), ("return_in", OTHER), ("return_out", ROOM)]
    ret_op = {m["op_id"] for m in moves if m["kind"] != "loan"}
    assert len(ret_op) == 1  # both halves under one op_id, written in one transaction


async def test_two_phones_lend_the_last_copy_at_once(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                     seeded: Deps, base_url: str) -> None:
    title_id = await add_title(seeded, title="平凡的世界")
    await receive(seeded, ROOM, title_id, 1)
    first, second = await add_reader(seeded, ROOM), await add_reader(seeded, ROOM)
    # Two phones: two connections, two sessions of the same administrator.
    async with httpx.AsyncClient(base_url=base_url) as phone_a, httpx.AsyncClient(base_url=base_url) as phone_b:
        responses = await asyncio.gather(
            lend(phone_a, as_role["room_admin"], ROOM, first["card_no"], title_id),
            lend(phone_b, as_role["room_admin"], ROOM, second["card_no"], title_id),
        )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201, 409], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 409).json()
    assert loser["code"] == "none_on_shelf"
    assert "《平凡的世界》" in loser["detail"] and "借出" in loser["detail"]
    assert await holding(seeded, ROOM, title_id) == {"on_shelf": 0, "on_loan": 1, "in_transit": 0, "lost": 0, "damaged": 0}
    assert await seeded.db.loans.count_documents({"title_id": title_id}) == 1
    assert await seeded.db.stock_moves.count_documents({"title_id": title_id, "kind": "loan"}) == 1


async def test_every_write_replays_its_first_answer(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                    seeded: Deps) -> None:
    admin = as_role["room_admin"]
    title_id = await add_title(seeded)
    await receive(seeded, ROOM, title_id, 1)
    reader = await add_reader(seeded, ROOM)
    other_title = await add_title(seeded)
    await receive(seeded, OTHER, other_title, 1)

    async def twice(method: str, url: str, body: dict[str, Any], status: int) -> dict[str, Any]:
        first = await call(client, admin, method, url, body)
        assert first.status_code == status, first.text
        before = await snapshot(seeded)
        second = await call(client, admin, method, url, body)
        assert second.status_code == status, second.text
        assert await snapshot(seeded) == before, f"replay of {url} changed something"
        assert first.json()["replayed"] is False and second.json()["replayed"] is True
        assert {**first.json(), "replayed": True} == second.json()
        return first.json()

    registered = await twice("POST", "/api/v1/readers", {
        "op_id": op(), "name": "重放读者", "phone": "13900000001", "birth_year": 1990, "home_room": ROOM}, 201)
    lent = await twice("POST", f"/api/v1/rooms/{ROOM}/loans",
                       {"op_id": op(), "card_no": reader["card_no"], "title_id": title_id}, 201)
    await twice("POST", f"/api/v1/loans/{lent['loan']['id']}/renew", {"op_id": op()}, 200)
    await twice("POST", f"/api/v1/rooms/{ROOM}/in-room-uses", {"op_id": op(), "title_id": title_id}, 201)
    hold = await twice("POST", "/api/v1/holds", {"op_id": op(), "card_no": registered["reader"]["card_no"],
                                                 "title_id": title_id, "pickup_room": ROOM}, 201)
    await twice("POST", f"/api/v1/holds/{hold['hold']['id']}/cancel", {"op_id": op(), "reason": "读者不需要了"}, 200)
    await twice("POST", f"/api/v1/rooms/{ROOM}/returns", {"op_id": op(), "title_id": title_id,
                                                          "card_no": reader["card_no"]}, 200)
    # A refusal is remembered too: the same op_id keeps its first answer even after stock arrives.
    body = {"op_id": op(), "card_no": reader["card_no"], "title_id": other_title}
    first = await call(client, admin, "POST", f"/api/v1/rooms/{ROOM}/loans", body)
    assert first.status_code == 409 and first.json()["code"] == "not_held"
    await receive(seeded, ROOM, other_title, 1)
    again = await call(client, admin, "POST", f"/api/v1/rooms/{ROOM}/loans", body)
    assert (again.status_code, again.json()["code"]) == (409, "not_held")
    # An op_id belongs to one kind of operation.
    reused = await call(client, admin, "POST", f"/api/v1/rooms/{ROOM}/in-room-uses",
                        {"op_id": lent["op_id"], "title_id": title_id})
    assert reused.status_code == 409 and reused.json()["code"] == "op_id_reused"


BAD_LENDS = [
    ({"title_id": "978702000220X"}, 422, "validation_failed", ["body", "title_id"]),
    ({"title_id": "9787020002208"}, 422, "validation_failed", ["body", "title_id"]),  # wrong check digit
    ({"title_id": "not-an-isbn"}, 422, "validation_failed", ["body", "title_id"]),
    ({"title_id": ""}, 422, "validation_failed", ["body", "title_id"]),
    ({"title_id": 9787020002207}, 422, "validation_failed", ["body", "title_id"]),
    ({"card_no": "JN123"}, 422, "validation_failed", ["body", "card_no"]),
    ({"card_no": "JN99999999"}, 422, "unknown_card", ["body", "card_no"]),
    ({"op_id": "short"}, 422, "validation_failed", ["body", "op_id"]),
    ({"op_id": None}, 422, "validation_failed", ["body", "op_id"]),
    ({"quantity": -1}, 422, "validation_failed", ["body", "quantity"]),
]


@pytest.mark.parametrize(("change", "status", "code", "loc"), BAD_LENDS, ids=[str(c[0]) for c in BAD_LENDS])
async def test_bad_lends_write_nothing(client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps,
                                       change: dict[str, Any], status: int, code: str, loc: list[str]) -> None:
    title_id = await add_title(seeded)
    await receive(seeded, ROOM, title_id)
    reader = await add_reader(seeded, ROOM)
    body = {"op_id": op(), "card_no": reader["card_no"], "title_id": title_id, **change}
    before = await snapshot(seeded)
    response = await call(client, as_role["room_admin"], "POST", f"/api/v1/rooms/{ROOM}/loans", body)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert loc in [e["loc"] for e in response.json()["errors"]]
    assert await snapshot(seeded) == before


async def test_unknown_unheld_and_never_lent_items(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                   seeded: Deps) -> None:
    admin = as_role["room_admin"]
    reader = await add_reader(seeded, ROOM)
    elsewhere = await add_title(seeded, title="别处的书")
    await receive(seeded, OTHER, elsewhere)
    cases = [
        # A valid ISBN the catalog does not know.
        ("POST", f"/api/v1/rooms/{ROOM}/loans", {"card_no": reader["card_no"], "title_id": new_isbn()},
         422, "unknown_title"),
        # The catalog knows it, but this room holds none: 409 (the stock, not the input, says no).
        ("POST", f"/api/v1/rooms/{ROOM}/loans", {"card_no": reader["card_no"], "title_id": elsewhere},
         409, "not_held"),
        ("POST", f"/api/v1/rooms/{ROOM}/returns", {"title_id": elsewhere}, 409, "not_on_loan"),
        ("POST", f"/api/v1/rooms/{ROOM}/returns", {"title_id": elsewhere, "card_no": reader["card_no"]},
         409, "not_on_loan"),
        ("POST", f"/api/v1/rooms/{ROOM}/returns", {"title_id": elsewhere, "loan_id": "0" * 24}, 422, "unknown_loan"),
        ("POST", f"/api/v1/rooms/{ROOM}/returns", {"title_id": new_isbn()}, 422, "unknown_title"),
        ("POST", f"/api/v1/rooms/{ROOM}/in-room-uses", {"title_id": elsewhere, "count": -2}, 422, "validation_failed"),
        ("POST", f"/api/v1/rooms/{ROOM}/in-room-uses", {"title_id": elsewhere, "count": 0}, 422, "validation_failed"),
        ("POST", "/api/v1/loans/not-an-id/renew", {}, 422, "invalid_id"),
        ("POST", f"/api/v1/loans/{'0' * 24}/renew", {}, 404, "loan_not_found"),
        ("POST", "/api/v1/rooms/JN-XX-999/loans", {"card_no": reader["card_no"], "title_id": elsewhere},
         404, "room_not_found"),
    ]
    for method, url, body, status, code in cases:
        before = await snapshot(seeded)
        response = await call(client, admin, method, url, {"op_id": op(), **body})
        assert (response.status_code, response.json()["code"]) == (status, code), (url, body, response.text)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in response.json()["detail"]), response.json()["detail"]
        after = await snapshot(seeded)
        # A 409 is remembered against its op_id; nothing else is written.
        assert {k: v for k, v in after.items() if k != "operations"} == {
            k: v for k, v in before.items() if k != "operations"}, url
        assert len(after["operations"]) - len(before["operations"]) == (1 if status == 409 else 0)
    raw = await client.post(f"/api/v1/rooms/{ROOM}/loans", headers={**admin.headers, "Content-Type": "application/json"},
                            content=b'{"op_id": "abcdefgh", "card_no": ')
    assert raw.status_code == 422 and raw.json()["code"] == "malformed_json"


async def test_isbn10_and_hyphens_are_normalised(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                 seeded: Deps) -> None:
    await seeded.db.titles.insert_one({"_id": "9787020002207", "title": "红楼梦", "author": "曹雪芹", "format": "book"})
    await receive(seeded, ROOM, "9787020002207", 2)
    reader = await add_reader(seeded, ROOM)
    for scanned in ("7-02-000220-x", "978-7-02-000220-7"):
        response = await lend(client, as_role["room_admin"], ROOM, reader["card_no"], scanned)
        assert response.status_code == 201, response.text
        assert response.json()["loan"]["title_id"] == "9787020002207"


async def test_return_needs_the_card_when_several_readers_have_the_title(
        client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    admin = as_role["room_admin"]
    title_id = await add_title(seeded)
    await receive(seeded, ROOM, title_id, 2)
    one, two = await add_reader(seeded, ROOM), await add_reader(seeded, ROOM)
    for r in (one, two):
        assert (await lend(client, admin, ROOM, r["card_no"], title_id)).status_code == 201
    ambiguous = await give_back(client, admin, ROOM, title_id)
    assert ambiguous.status_code == 422 and ambiguous.json()["code"] == "reader_needed"
    assert ["body", "card_no"] in [e["loc"] for e in ambiguous.json()["errors"]]
    ok = await give_back(client, admin, ROOM, title_id, card_no=two["card_no"])
    assert ok.status_code == 200 and ok.json()["loan"]["reader"]["card_no"] == two["card_no"]
    # Now only one reader has it: the card may be left out.
    last = await give_back(client, admin, ROOM, title_id)
    assert last.status_code == 200 and last.json()["loan"]["reader"]["card_no"] == one["card_no"]
    by_id = await give_back(client, admin, ROOM, title_id, loan_id=last.json()["loan"]["id"])
    assert by_id.status_code == 409 and by_id.json()["code"] == "already_returned"


async def test_desk_authorization(client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    title_id = await add_title(seeded)
    for room in (ROOM, OTHER, SAME_TOWN):
        await receive(seeded, room, title_id, 2)
    reader = await add_reader(seeded, ROOM)
    before = await snapshot(seeded)
    for who, room, status, code in [
        ("room_admin", OTHER, 403, "room_out_of_scope"),
        ("room_admin", SAME_TOWN, 403, "room_out_of_scope"),
        ("town_coordinator", OTHER, 403, "room_out_of_scope"),
        ("inspector", ROOM, 403, "role_forbidden"),
        ("trainer", ROOM, 403, "role_forbidden"),
    ]:
        response = await lend(client, as_role[who], room, reader["card_no"], title_id)
        assert (response.status_code, response.json()["code"]) == (status, code), (who, room)
        response = await give_back(client, as_role[who], room, title_id, card_no=reader["card_no"])
        assert response.status_code == status, (who, room)
        listing = await call(client, as_role[who], "GET", f"/api/v1/rooms/{room}/loans")
        assert listing.status_code == status, (who, room)
    assert await snapshot(seeded) == before
    assert (await lend(client, as_role["town_coordinator"], SAME_TOWN, reader["card_no"], title_id)).status_code == 201
    loan = (await lend(client, as_role["district_admin"], OTHER, reader["card_no"], title_id)).json()["loan"]
    # Renewing at a desk: the desk must be the caller's; the default desk is the lending room.
    refused = await call(client, as_role["room_admin"], "POST", f"/api/v1/loans/{loan['id']}/renew", {"op_id": op()})
    assert refused.status_code == 403
    at_own_desk = await call(client, as_role["room_admin"], "POST", f"/api/v1/loans/{loan['id']}/renew",
                             {"op_id": op(), "room": ROOM})
    assert at_own_desk.status_code == 200, at_own_desk.text
    # Inspectors see the anonymous statistics only.
    assert (await call(client, as_role["inspector"], "GET", f"/api/v1/rooms/{OTHER}/loan-stats")).status_code == 200
    assert (await call(client, as_role["room_admin"], "GET", f"/api/v1/rooms/{OTHER}/loan-stats")).status_code == 403


async def test_personal_data_never_leaves_in_the_clear(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                       seeded: Deps) -> None:
    admin = as_role["room_admin"]
    phone, id_number = "13812345678", "120112199003071234"
    title_id = await add_title(seeded)
    await receive(seeded, ROOM, title_id)
    registered = await call(client, admin, "POST", "/api/v1/readers", {
        "op_id": op(), "name": "王秘密", "phone": phone, "birth_year": 1990, "home_room": ROOM, "id_number": id_number})
    assert registered.status_code == 201, registered.text
    reader = registered.json()["reader"]
    assert reader["phone"] == "138****5678" and reader["id_number"] == "1201**********1234"
    records = [registered.text, (await call(client, admin, "GET", f"/api/v1/readers/{reader['id']}")).text,
               (await call(client, admin, "GET", "/api/v1/readers", params={"phone": phone})).text]
    loan = await lend(client, admin, ROOM, reader["card_no"], title_id)
    lists = [loan.text]
    for url in (f"/api/v1/readers/{reader['id']}/loans", f"/api/v1/rooms/{ROOM}/loans",
                f"/api/v1/loans/{loan.json()['loan']['id']}"):
        lists.append((await call(client, admin, "GET", url)).text)
    lists.append((await give_back(client, admin, ROOM, title_id, card_no=reader["card_no"])).text)
    for text in records + lists:
        assert phone not in text and id_number not in text
    for text in lists:  # loans show the masked name; the full name only on the reader's own record
        assert "王秘密" not in text and "王**" in text
    for name in ("readers", "loans", "operations", "audit", "stock_moves", "loan_stats", "holds"):
        raw = json.dumps(await seeded.db[name].find({}).to_list(), default=str, ensure_ascii=False)
        assert phone not in raw and id_number not in raw, name


async def test_lend_sends_a_fixed_number_of_commands(seeded: Deps, command_counter: Any) -> None:
    doc = await staff_repo.by_username(seeded.db, "jn-xsg-001")
    actor = staff_service.actor_for(doc)
    title_id = await add_title(seeded)
    await receive(seeded, ROOM, title_id, 3)
    reader = await add_reader(seeded, ROOM)
    command_counter.reset()
    await service.lend(seeded, actor, ROOM, LendIn(op_id=op(), card_no=reader["card_no"], title_id=title_id))
    # op check, room, title; in the transaction: reader, overdue, holding, hold queue, the guarded
    # counter, holdings + ledger, loan, hold fulfilment, statistics, audit, op record; commit.
    assert len(command_counter.commands) <= 16, command_counter.commands
    for _ in range(2):
        await service.lend(seeded, actor, ROOM, LendIn(op_id=op(), card_no=(await add_reader(seeded, ROOM))["card_no"],
                                                       title_id=title_id))
    from server.circulation.models import RoomLoanQuery

    command_counter.reset()
    page = await service.room_loans(seeded, actor, ROOM, RoomLoanQuery(limit=200))
    assert len(page.items) >= 3
    assert len(command_counter.commands) <= 5, command_counter.commands  # not one query per loan
