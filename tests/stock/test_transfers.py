"""Transfers between rooms over HTTP against the real stack: lifecycle with both rooms'
holdings after each step, misdelivery, every illegal transition, replays, authorization,
bad input; targets and rebalancing requests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server.stock import service, targets
from server.stock.ledger import Move, MoveKind
from server.stock.repo import apply_moves
from server.storage import in_transaction
from tests.conftest import login
from tests.stock.helpers import counts, op
from tests.stock.helpers import new_title as _new_title

A, B, C = "JN-XSG-001", "JN-GG-001", "JN-XSG-002"  # as_role: room_admin → A, room_admin_other → B
async def new_title(db, name: str = "测试书") -> str:
    return await _new_title(db, name, prefix="978751")


@pytest.fixture(autouse=True)
async def ledger_stays_clean(seeded):
    yield
    _, problems = await service.check_ledger(seeded)
    assert problems == [], [str(p) for p in problems]


@pytest.fixture(scope="module")
async def room_c(client, seeded):
    return await login(client, C.lower())


async def receive(client, as_role, room: str, title_id: str, quantity: int) -> None:
    r = await client.post(f"/api/v1/rooms/{room}/receipts", headers=as_role["district_staff"].headers,
                          json={"op_id": op(), "lines": [{"title_id": title_id, "quantity": quantity}]})
    assert r.status_code == 201, r.text


async def request(client, who, origin=A, destination=B, lines=None, **extra):
    body = {"op_id": op(), "origin": origin, "destination": destination, "lines": lines or [], **extra}
    return await client.post("/api/v1/transfers", headers=who.headers, json=body)


async def step(client, who, transfer_id: str, action: str, **body):
    return await client.post(f"/api/v1/transfers/{transfer_id}/{action}", headers=who.headers,
                             json={"op_id": op(), **body})


async def test_full_lifecycle_with_holdings_after_each_step(client, seeded, as_role):
    db, admin_a, admin_b = seeded.db, as_role["room_admin"], as_role["room_admin_other"]
    t = await new_title(db)
    await receive(client, as_role, A, t, 5)

    r = await request(client, admin_a, lines=[{"title_id": t, "quantity": 3}], note="村里读书会需要")
    assert r.status_code == 201, r.text
    transfer = r.json()["transfer"]
    tid = transfer["id"]
    assert (transfer["state"], transfer["requested_by"], transfer["copies"]) == ("requested", "jn-xsg-001", 3)
    assert await counts(db, A, t) == (5, 0, 0, 0) and await counts(db, B, t) == (0, 0, 0, 0)

    body = {"op_id": op()}
    r = await client.post(f"/api/v1/transfers/{tid}/send", headers=admin_a.headers, json=body)
    assert r.status_code == 200, r.text
    sent = r.json()
    assert sent["transfer"]["state"] == "sent" and sent["transfer"]["sent_by"] == "jn-xsg-001" and not sent["replayed"]
    assert await counts(db, A, t) == (2, 0, 3, 0) and await counts(db, B, t) == (0, 0, 0, 0)

    # Replaying the send changes nothing and answers as the first time.
    again = await client.post(f"/api/v1/transfers/{tid}/send", headers=admin_a.headers, json=body)
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["transfer"] == sent["transfer"]
    assert await db.stock_moves.count_documents({"op_id": body["op_id"]}) == 1
    assert await counts(db, A, t) == (2, 0, 3, 0)

    arrive = {"op_id": op(), "note": "完好"}
    r = await client.post(f"/api/v1/transfers/{tid}/arrive", headers=admin_b.headers, json=arrive)
    assert r.status_code == 200, r.text
    done = r.json()["transfer"]
    assert (done["state"], done["arrived_room"], done["arrived_by"]) == ("arrived", B, "jn-gg-001")
    assert done["requested_at"] <= done["sent_at"] <= done["arrived_at"]
    assert [h["state"] for h in done["history"]] == ["requested", "sent", "arrived"]
    assert await counts(db, A, t) == (2, 0, 0, 0) and await counts(db, B, t) == (3, 0, 0, 0)
    kinds = sorted(m["kind"] for m in await db.stock_moves.find({"op_id": arrive["op_id"]}).to_list())
    assert kinds == ["transfer_delivered", "transfer_in"]
    assert all(m["reference"]["transfer"] == tid for m in await db.stock_moves.find({"reference.transfer": tid}).to_list())

    replay = await client.post(f"/api/v1/transfers/{tid}/arrive", headers=admin_b.headers, json=arrive)
    assert replay.json()["replayed"] is True and await counts(db, B, t) == (3, 0, 0, 0)
    actions = [a["action"] for a in await db.audit.find({"target_id": tid}).sort("_id", 1).to_list()]
    assert actions == ["transfer.request", "transfer.send", "transfer.arrive"]

    got = await client.get(f"/api/v1/transfers/{tid}", headers=admin_b.headers)
    assert got.status_code == 200 and got.json()["state"] == "arrived"


async def test_arrival_at_the_wrong_room_closes_and_opens_onward(client, seeded, as_role, room_c):
    db, admin_a, admin_b = seeded.db, as_role["room_admin"], as_role["room_admin_other"]
    t = await new_title(db)
    await receive(client, as_role, A, t, 4)
    tid = (await request(client, admin_a, lines=[{"title_id": t, "quantity": 4}])).json()["transfer"]["id"]
    assert (await step(client, admin_a, tid, "send")).status_code == 200

    # Room C cannot confirm it arrived at B; it confirms where it really is.
    assert (await step(client, room_c, tid, "arrive")).status_code == 403
    r = await step(client, room_c, tid, "arrive", room=C)
    assert r.status_code == 200, r.text
    closed, onward = r.json()["transfer"], r.json()["followup"]
    assert (closed["state"], closed["arrived_room"], closed["followup_id"]) == ("arrived_elsewhere", C, onward["id"])
    assert (onward["state"], onward["origin"], onward["destination"], onward["parent_id"], onward["source"]) == (
        "requested", C, B, tid, "misdelivery")
    assert onward["lines"] == [{"title_id": t, "quantity": 4}]
    assert await counts(db, A, t) == (0, 0, 0, 0)
    assert await counts(db, C, t) == (4, 0, 0, 0) and await counts(db, B, t) == (0, 0, 0, 0)

    # The onward transfer runs its own course: C sends, B confirms.
    assert (await step(client, admin_a, onward["id"], "send")).status_code == 403  # A is not C
    assert (await step(client, room_c, onward["id"], "send")).status_code == 200
    assert await counts(db, C, t) == (0, 0, 4, 0)
    assert (await step(client, admin_b, onward["id"], "arrive")).status_code == 200
    assert await counts(db, C, t) == (0, 0, 0, 0) and await counts(db, B, t) == (4, 0, 0, 0)


async def test_cancel_before_and_after_sending(client, seeded, as_role):
    db, admin_a, admin_b = seeded.db, as_role["room_admin"], as_role["room_admin_other"]
    t = await new_title(db)
    await receive(client, as_role, A, t, 3)

    # Before sending, the destination may cancel too; nothing moves.
    tid = (await request(client, admin_b, lines=[{"title_id": t, "quantity": 2}])).json()["transfer"]["id"]
    assert (await step(client, admin_b, tid, "cancel")).status_code == 422  # a reason is required
    r = await step(client, admin_b, tid, "cancel", reason="不需要了")
    assert r.status_code == 200, r.text
    assert (r.json()["transfer"]["state"], r.json()["transfer"]["cancel_reason"]) == ("cancelled", "不需要了")
    assert await counts(db, A, t) == (3, 0, 0, 0)

    # After sending, only the origin cancels, once the copies are back on its shelf.
    tid = (await request(client, admin_a, lines=[{"title_id": t, "quantity": 2}])).json()["transfer"]["id"]
    await step(client, admin_a, tid, "send")
    assert await counts(db, A, t) == (1, 0, 2, 0)
    refused = await step(client, admin_b, tid, "cancel", reason="不要了")
    assert refused.status_code == 403 and refused.json()["code"] == "cancel_needs_origin"
    r = await step(client, admin_a, tid, "cancel", reason="车坏了，书已拉回")
    assert r.status_code == 200 and r.json()["transfer"]["state"] == "cancelled"
    assert await counts(db, A, t) == (3, 0, 0, 0) and await counts(db, B, t) == (0, 0, 0, 0)


async def test_lost_in_the_van_is_a_district_write_off(client, seeded, as_role):
    db, admin_a = seeded.db, as_role["room_admin"]
    t = await new_title(db)
    await receive(client, as_role, A, t, 2)
    tid = (await request(client, admin_a, lines=[{"title_id": t, "quantity": 2}])).json()["transfer"]["id"]
    await step(client, admin_a, tid, "send")
    assert (await step(client, admin_a, tid, "lost", reason="丢了")).status_code == 403
    r = await step(client, as_role["district_staff"], tid, "lost", reason="配送途中遗失")
    assert r.status_code == 200 and r.json()["transfer"]["state"] == "lost"
    assert await counts(db, A, t) == (0, 0, 0, 2)


async def test_only_shelf_copies_travel(client, seeded, as_role):
    db, admin_a = seeded.db, as_role["room_admin"]
    t = await new_title(db)
    await receive(client, as_role, A, t, 2)

    async def lend(session):
        await apply_moves(db, session, [Move(A, t, MoveKind.LOAN)], op_id=op(), actor="t", at=datetime.now(UTC))
    await in_transaction(seeded.mongo, lend)  # one copy is out with a reader

    tid = (await request(client, admin_a, lines=[{"title_id": t, "quantity": 2}])).json()["transfer"]["id"]
    body = {"op_id": op()}
    r = await client.post(f"/api/v1/transfers/{tid}/send", headers=admin_a.headers, json=body)
    assert r.status_code == 409 and r.json()["code"] == "insufficient_on_shelf"
    assert await counts(db, A, t) == (1, 1, 0, 0)
    doc = (await client.get(f"/api/v1/transfers/{tid}", headers=admin_a.headers)).json()
    assert doc["state"] == "requested"
    # The refusal is remembered: the same op_id is refused again even once stock is there.
    await receive(client, as_role, A, t, 1)
    again = await client.post(f"/api/v1/transfers/{tid}/send", headers=admin_a.headers, json=body)
    assert again.status_code == 409 and await counts(db, A, t) == (2, 1, 0, 0)
    assert (await step(client, admin_a, tid, "send")).status_code == 200
    assert await counts(db, A, t) == (0, 1, 2, 0)
    await step(client, admin_a, tid, "cancel", reason="测试完毕")


async def test_every_illegal_transition_is_409_naming_the_state(client, seeded, as_role, room_c):
    db, admin_a, admin_b = seeded.db, as_role["room_admin"], as_role["room_admin_other"]
    district = as_role["district_staff"]
    t = await new_title(db)
    await receive(client, as_role, A, t, 10)

    async def transfer_in(state: str) -> str:
        tid = (await request(client, admin_a, lines=[{"title_id": t, "quantity": 1}])).json()["transfer"]["id"]
        if state == "cancelled":
            await step(client, admin_a, tid, "cancel", reason="x")
        if state in {"sent", "arrived", "arrived_elsewhere", "lost"}:
            await step(client, admin_a, tid, "send")
        if state == "arrived":
            await step(client, admin_b, tid, "arrive")
        if state == "arrived_elsewhere":
            await step(client, room_c, tid, "arrive", room=C)
        if state == "lost":
            await step(client, district, tid, "lost", reason="x")
        return tid

    allowed = {"requested": {"send", "cancel"}, "sent": {"arrive", "cancel", "lost"}}
    actions = {"send": {}, "arrive": {}, "cancel": {"reason": "x"}, "lost": {"reason": "x"}}
    for state in ("requested", "sent", "arrived", "arrived_elsewhere", "cancelled", "lost"):
        tid = await transfer_in(state)
        for action, body in actions.items():
            if action in allowed.get(state, set()):
                continue
            moves_before = await db.stock_moves.count_documents({})
            r = await step(client, district, tid, action, **body)
            assert r.status_code == 409, (state, action, r.text)
            assert r.json()["code"] == "transfer_state" and f"（{state}）" in r.json()["detail"], r.json()
            assert r.json()["errors"] == [{"loc": ["transfer", "state"], "msg": state}]
            assert await db.stock_moves.count_documents({}) == moves_before
    # Tidy up what is still open so the shelf is whole for later tests.
    for doc in await db.transfers.find({"origin": {"$in": [A, C]}, "state": {"$in": ["requested", "sent"]},
                                        "lines.title_id": t}).to_list():
        who = admin_a if doc["origin"] == A else room_c
        assert (await step(client, who, str(doc["_id"]), "cancel", reason="收尾")).status_code == 200


async def test_authorization(client, seeded, as_role, room_c):
    db, admin_a, admin_b = seeded.db, as_role["room_admin"], as_role["room_admin_other"]
    t = await new_title(db)
    await receive(client, as_role, A, t, 2)
    # Neither room is theirs.
    r = await request(client, admin_b, origin=A, destination=C, lines=[{"title_id": t, "quantity": 1}])
    assert r.status_code == 403 and r.json()["code"] == "room_out_of_scope"
    for role in ("inspector", "trainer", "town_coordinator"):
        r = await request(client, as_role[role], lines=[{"title_id": t, "quantity": 1}])
        assert r.status_code == 403 and r.json()["code"] == "role_forbidden", role
    assert (await client.post("/api/v1/transfers", json={})).status_code == 401

    tid = (await request(client, admin_a, origin=A, destination=C, lines=[{"title_id": t, "quantity": 1}])).json()["transfer"]["id"]
    assert (await step(client, admin_b, tid, "send")).status_code == 403       # another room's transfer
    assert (await step(client, room_c, tid, "send")).status_code == 403        # the destination cannot send
    assert (await step(client, admin_b, tid, "cancel", reason="x")).status_code == 403
    assert (await client.get(f"/api/v1/transfers/{tid}", headers=admin_b.headers)).status_code == 403
    assert (await client.get(f"/api/v1/transfers/{tid}", headers=as_role["inspector"].headers)).status_code == 200

    mine = (await client.get("/api/v1/transfers", headers=admin_b.headers, params={"limit": 200})).json()["items"]
    assert mine and all(B in (x["origin"], x["destination"], x["arrived_room"]) for x in mine)
    assert (await client.get("/api/v1/transfers", headers=admin_b.headers, params={"room": A})).status_code == 403
    listed = (await client.get("/api/v1/transfers", headers=admin_a.headers,
                               params={"room": A, "state": "requested"})).json()["items"]
    assert tid in [x["id"] for x in listed] and all(x["state"] == "requested" for x in listed)
    await step(client, admin_a, tid, "cancel", reason="收尾")


@pytest.mark.parametrize("change, status", [
    ({"lines": [{"title_id": "T", "quantity": -1}]}, 422),
    ({"lines": [{"title_id": "T", "quantity": 0}]}, 422),
    ({"lines": []}, 422),
    ({"lines": [{"title_id": "T", "quantity": 1}, {"title_id": "T", "quantity": 2}]}, 422),
    ({"lines": [{"title_id": "9787111111116", "quantity": 1}]}, 422),   # not in the catalog
    ({"lines": [{"title_id": "abc", "quantity": 1}]}, 422),
    ({"op_id": "short"}, 422),
    ({"op_id": "bad op id with spaces"}, 422),
    ({"destination": A}, 422),                                        # origin == destination
    ({"destination": "JN-XSG-999"}, 404),
    ({"origin": "not a room"}, 422),
    ({"extra": 1}, 422),
])
async def test_bad_requests_write_nothing(client, seeded, as_role, change, status):
    t = await new_title(seeded.db)
    body = {"op_id": op(), "origin": A, "destination": B, "lines": [{"title_id": t, "quantity": 1}]}
    body.update(change)
    body["lines"] = [{**line, "title_id": t} if line.get("title_id") == "T" else line for line in body["lines"]]
    before = await seeded.db.transfers.count_documents({})
    r = await client.post("/api/v1/transfers", headers=as_role["district_staff"].headers, json=body)
    assert r.status_code == status, r.text
    assert await seeded.db.transfers.count_documents({}) == before
    assert await seeded.db.operations.count_documents({"_id": body["op_id"]}) == 0


async def test_bad_transfer_ids_and_step_bodies(client, seeded, as_role):
    who = as_role["district_staff"]
    assert (await client.get("/api/v1/transfers/nope", headers=who.headers)).status_code == 422
    assert (await client.get(f"/api/v1/transfers/{'0' * 24}", headers=who.headers)).status_code == 404
    assert (await step(client, who, "0" * 24, "send")).status_code == 404
    assert (await client.post(f"/api/v1/transfers/{'0' * 24}/send", headers=who.headers,
                              json={"op_id": "x"})).status_code == 422
    assert (await client.post(f"/api/v1/transfers/{'0' * 24}/send", headers=who.headers,
                              content=b"{not json")).status_code == 422
    assert (await client.get("/api/v1/transfers", headers=who.headers, params={"cursor": "zz"})).status_code == 422
    assert (await client.get("/api/v1/transfers", headers=who.headers, params={"state": "flying"})).status_code == 422


async def test_op_id_of_one_transfer_cannot_act_on_another(client, seeded, as_role):
    db, admin_a = seeded.db, as_role["room_admin"]
    t = await new_title(db)
    await receive(client, as_role, A, t, 2)
    first = (await request(client, admin_a, lines=[{"title_id": t, "quantity": 1}])).json()["transfer"]["id"]
    second = (await request(client, admin_a, lines=[{"title_id": t, "quantity": 1}])).json()["transfer"]["id"]
    body = {"op_id": op()}
    assert (await client.post(f"/api/v1/transfers/{first}/send", headers=admin_a.headers, json=body)).status_code == 200
    r = await client.post(f"/api/v1/transfers/{second}/send", headers=admin_a.headers, json=body)
    assert r.status_code == 409 and r.json()["code"] == "op_id_reused"
    assert await counts(db, A, t) == (1, 0, 1, 0)
    for tid in (first, second):
        await step(client, admin_a, tid, "cancel", reason="收尾")


async def test_pagination_of_transfers(client, seeded, as_role):
    who = as_role["district_staff"]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/transfers", headers=who.headers, params=params)).json()
        seen += [x["id"] for x in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(seen) == len(set(seen)) == await seeded.db.transfers.count_documents({})
    assert seen == sorted(seen, reverse=True)


# -- targets and rebalancing --------------------------------------------------------------

async def test_targets_suggestions_and_requests(client, seeded, as_role):
    db, district, admin_a = seeded.db, as_role["district_staff"], as_role["room_admin"]
    town_rooms = [r["code"] for r in await db.rooms.find({"town": "咸水沽镇"}, {"code": 1}).to_list()]
    needy, rich = "JN-XSG-010", A
    t1, t2 = await new_title(db), await new_title(db)
    await receive(client, as_role, rich, t1, 6)
    await receive(client, as_role, rich, t2, 2)
    levels, _ = await targets.room_levels(db, town_rooms)
    # Every other room of the town sits exactly on its target, so the plan is predictable.
    await db.stock_targets.delete_many({})
    await db.stock_targets.insert_many([{"room": c, "total": levels[c], "categories": {}} for c in town_rooms
                                        if c not in {needy, rich}])

    r = await client.put(f"/api/v1/rooms/{rich}/stock-target", headers=admin_a.headers, json={"total": 1})
    assert r.status_code == 403
    r = await client.put(f"/api/v1/rooms/{rich}/stock-target", headers=district.headers,
                         json={"total": levels[rich] - 5})
    assert r.status_code == 200, r.text
    assert r.json()["deficit"] == -5 and r.json()["default"] is False
    r = await client.put(f"/api/v1/rooms/{needy}/stock-target", headers=district.headers,
                         json={"total": levels[needy] + 3, "categories": {"少儿": 1}})
    assert r.status_code == 200 and r.json()["deficit"] == 3
    assert (await client.put(f"/api/v1/rooms/{needy}/stock-target", headers=district.headers,
                             json={"total": -1})).status_code == 422
    assert (await client.put(f"/api/v1/rooms/{needy}/stock-target", headers=district.headers,
                             json={"total": 2, "categories": {"少儿": 3}})).status_code == 422
    assert (await client.put(f"/api/v1/rooms/{needy}/stock-target", headers=district.headers,
                             json={"total": 2, "categories": {"魔法": 1}})).status_code == 422
    got = await client.get(f"/api/v1/rooms/{needy}/stock-target", headers=admin_a.headers)
    assert got.status_code == 403
    got = await client.get(f"/api/v1/rooms/{needy}/stock-target", headers=as_role["town_coordinator"].headers)
    assert got.json()["total"] == levels[needy] + 3
    assert await db.audit.count_documents({"action": "stock.target"}) == 2

    assert (await client.get("/api/v1/stock/rebalancing", headers=admin_a.headers)).status_code == 403
    assert (await client.get("/api/v1/stock/rebalancing", headers=district.headers,
                             params={"town": "火星镇"})).status_code == 422
    r = await client.get("/api/v1/stock/rebalancing", headers=district.headers, params={"town": "咸水沽镇"})
    assert r.status_code == 200, r.text
    plan = r.json()
    assert [(s["origin"], s["destination"], s["copies"]) for s in plan["suggestions"]] == [(rich, needy, 3)]
    assert plan["rooms_below"][0]["room"] == needy and plan["rooms_above"][0]["room"] == rich

    # The circulation hook: a copy returned in the rich room should go to the needy one.
    assert await targets.destination_for_return(seeded, rich, t1) in {needy} | {
        c for c in (await db.rooms.distinct("code")) if c not in town_rooms}

    body = {"op_id": op(), "suggestions": plan["suggestions"]}
    r = await client.post("/api/v1/stock/rebalancing/requests", headers=district.headers, json=body)
    assert r.status_code == 201, r.text
    made = r.json()["transfers"]
    assert [(x["origin"], x["destination"], x["state"], x["source"]) for x in made] == [
        (rich, needy, "requested", "rebalancing")]
    again = await client.post("/api/v1/stock/rebalancing/requests", headers=district.headers, json=body)
    assert again.json()["replayed"] is True and again.json()["transfers"] == made
    assert await db.transfers.count_documents({"source": "rebalancing"}) == 1
    # The request is counted: the plan is now balanced.
    r = await client.get("/api/v1/stock/rebalancing", headers=district.headers, params={"town": "咸水沽镇"})
    assert r.json()["suggestions"] == []

    bad = {"op_id": op(), "suggestions": [{"origin": rich, "destination": "JN-XSG-999",
                                           "lines": [{"title_id": "9787111111116", "quantity": 1}]}]}
    r = await client.post("/api/v1/stock/rebalancing/requests", headers=district.headers, json=bad)
    assert r.status_code == 422 and {tuple(e["loc"]) for e in r.json()["errors"]} == {
        ("body", "suggestions", 0, "destination"), ("body", "suggestions", 0, "lines", 0, "title_id")}
    assert (await client.post("/api/v1/stock/rebalancing/requests", headers=admin_a.headers,
                              json=body)).status_code == 403
    await step(client, admin_a, made[0]["id"], "cancel", reason="收尾")
    await db.stock_targets.delete_many({})


async def test_send_and_arrive_cost_the_same_commands_for_any_number_of_lines(seeded, as_role, client, command_counter):
    from server.staff.service import SYSTEM
    from server.stock import transfers
    from server.stock.models import TransferArrivalIn, TransferRequestIn, TransferStepIn

    lines = [{"title_id": await new_title(seeded.db), "quantity": 1} for _ in range(25)]
    await client.post(f"/api/v1/rooms/{A}/receipts", headers=as_role["district_staff"].headers,
                      json={"op_id": op(), "lines": lines})
    made = await transfers.request_transfer(seeded, SYSTEM, TransferRequestIn(op_id=op(), origin=A, destination=B, lines=lines))
    command_counter.reset()
    await transfers.send_transfer(seeded, SYSTEM, made.transfer.id, TransferStepIn(op_id=op()))
    sent = [c.split(":")[0] for c in command_counter.commands]
    command_counter.reset()
    await transfers.confirm_arrival(seeded, SYSTEM, made.transfer.id, TransferArrivalIn(op_id=op()))
    arrived = [c.split(":")[0] for c in command_counter.commands]
    # transfer, room, op_id look-ups; in the transaction: the transfer, holdings (one bulk write),
    # the ledger (one insert), the transfer update, audit, the op record, commit.
    expected = ["find", "find", "find", "find", "update", "insert", "findAndModify", "insert", "insert",
                "commitTransaction"]
    assert sent == expected and arrived == expected, (sent, arrived)
    assert await counts(seeded.db, B, lines[3]["title_id"]) == (1, 0, 0, 0)
