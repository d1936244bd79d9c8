"""Stocktake (盘点) against the real stack: the full cycle with every problem type,
approval into the ledger, the loan-return hook, one open stocktake per room,
authorization and bad input; plus the pure report and code normalisation."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import isbnlib
import pytest

from server.errors import InvalidInput
from server.stock import service, stocktake
from server.stock.ledger import Move, MoveKind
from server.stock.models import StocktakeCancelIn
from server.stock.repo import apply_moves
from server.storage import in_transaction
from tests.stock.helpers import counts, isbn13, op
from tests.stock.helpers import new_title as _new_title

A, B = "JN-XSG-001", "JN-GG-001"  # as_role: room_admin → A, room_admin_other → B
async def new_title(db, name: str = "盘点书") -> str:
    return await _new_title(db, name, prefix="978752")


async def moves(seeded, room: str, items: list[tuple[str, MoveKind, int]]) -> None:
    async def work(session):
        await apply_moves(seeded.db, session, [Move(room, t, k, q) for t, k, q in items], op_id=op(), actor="t",
                          at=datetime.now(UTC))
    await in_transaction(seeded.mongo, work)


@pytest.fixture(autouse=True)
async def ledger_stays_clean(seeded):
    yield
    _, problems = await service.check_ledger(seeded)
    assert problems == [], [str(p) for p in problems]


async def start(client, who, room: str):
    return await client.post(f"/api/v1/rooms/{room}/stocktakes", headers=who.headers, json={"op_id": op()})


async def scan(client, who, sid: str, code: str, quantity: int = 1, **extra):
    return await client.post(f"/api/v1/stocktakes/{sid}/scans", headers=who.headers,
                             json={"op_id": op(), "code": code, "quantity": quantity, **extra})


async def act(client, who, sid: str, action: str, **body):
    return await client.post(f"/api/v1/stocktakes/{sid}/{action}", headers=who.headers, json={"op_id": op(), **body})


async def test_full_cycle_with_every_problem_type(client, seeded, as_role):
    db, admin, district = seeded.db, as_role["room_admin"], as_role["district_staff"]
    ok, missing, on_loan, found, unrecorded, elsewhere = [await new_title(db) for _ in range(6)]
    await moves(seeded, A, [(ok, MoveKind.RECEIVE, 3), (missing, MoveKind.RECEIVE, 4), (on_loan, MoveKind.RECEIVE, 3),
                            (found, MoveKind.RECEIVE, 3)])
    await moves(seeded, A, [(on_loan, MoveKind.LOAN, 2), (found, MoveKind.WRITE_OFF_LOST, 2)])
    await moves(seeded, B, [(elsewhere, MoveKind.RECEIVE, 2)])
    not_in_catalog = isbn13(999_999)

    r = await start(client, admin, A)
    assert r.status_code == 201, r.text
    st = r.json()["stocktake"]
    sid = st["id"]
    assert st["state"] == "open" and st["expected_copies"] >= 3 + 4 + 1 + 1

    # Stock changing after the start does not change the frozen expected list.
    await moves(seeded, A, [(ok, MoveKind.RECEIVE, 1)])

    first = {"op_id": op(), "code": ok, "quantity": 1, "device": "phone-1"}
    r = await client.post(f"/api/v1/stocktakes/{sid}/scans", headers=admin.headers, json=first)
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["scanned"], r.json()["expected"]) == ("counted", 1, 3)
    replay = await client.post(f"/api/v1/stocktakes/{sid}/scans", headers=admin.headers, json=first)
    assert replay.json()["replayed"] is True and replay.json()["scanned"] == 1
    # Two phones at once.
    results = await asyncio.gather(
        scan(client, admin, sid, ok, device="phone-1"),
        scan(client, district, sid, ok, device="phone-2"),
        scan(client, admin, sid, missing, device="phone-1"),
        scan(client, district, sid, on_loan, 3, device="phone-2"),
        scan(client, admin, sid, found, 2, device="phone-1"),
    )
    assert [x.status_code for x in results] == [201] * 5
    i10 = isbnlib.to_isbn10(unrecorded)
    isbn10 = f"{i10[0]}-{i10[1:4]}-{i10[4:9]}-{i10[9]}".lower()  # hyphens and a lower-case x are fine
    r = await scan(client, admin, sid, isbn10)
    assert r.status_code == 201 and r.json()["code"] == unrecorded and r.json()["expected"] == 0
    assert (await scan(client, admin, sid, elsewhere)).json()["status"] == "counted"
    r = await scan(client, admin, sid, not_in_catalog, 2)
    assert (r.status_code, r.json()["status"], r.json()["title_id"]) == (201, "unknown", None)
    for bad in ("9787020002208", "12345", "SW123", "ISBN ABC", "0" * 40):
        r = await scan(client, admin, sid, bad)
        assert r.status_code == 422 and r.json()["errors"][0]["loc"] == ["body", "code"], bad

    detail = (await client.get(f"/api/v1/stocktakes/{sid}", headers=admin.headers)).json()
    assert detail["counts"][ok] == 3 and detail["unknown"] == {not_in_catalog: 2}
    assert detail["devices"] == {"phone-1": 5, "phone-2": 4}
    assert detail["scanned_copies"] == 3 + 1 + 3 + 2 + 1 + 1 + 2

    r = await act(client, admin, sid, "finish")
    assert r.status_code == 200, r.text
    report = r.json()["stocktake"]["report"]
    assert report["unknown"] == [{"code": not_in_catalog, "scanned": 2}]
    assert [(x["title_id"], x["holders"]) for x in report["wrong_room"]] == [(elsewhere, [B])]
    assert [(x["title_id"], x["missing"]) for x in report["missing"]] == [(missing, 3)]
    mismatch = {x["title_id"]: (x["surplus"], x["recorded"]) for x in report["status_mismatch"]}
    assert mismatch == {found: (1, {"on_shelf": 1, "lost": 2}), unrecorded: (1, {})}
    assert [(x["title_id"], x["copies"], x["status"]) for x in report["returned_while_on_loan"]] == [
        (on_loan, 2, "proposed")]
    adjustments = {a["title_id"]: a["delta"] for a in report["adjustments"]}
    assert adjustments == {missing: {"on_shelf": -3, "lost": 3}, found: {"on_shelf": 1, "lost": -1},
                           unrecorded: {"on_shelf": 1}}

    r = await scan(client, admin, sid, ok)
    assert r.status_code == 409 and "（finished）" in r.json()["detail"]
    assert (await act(client, admin, sid, "finish")).status_code == 409

    # Only the district approves.
    assert (await act(client, admin, sid, "approve")).status_code == 403
    assert (await act(client, as_role["town_coordinator"], sid, "approve")).status_code == 403
    before = {t: await counts(db, A, t) for t in (ok, missing, on_loan, found, unrecorded, elsewhere)}
    body = {"op_id": op()}
    r = await client.post(f"/api/v1/stocktakes/{sid}/approve", headers=district.headers, json=body)
    assert r.status_code == 200, r.text
    assert r.json()["stocktake"]["state"] == "approved" and r.json()["stocktake"]["approved_by"] == "clerk"
    assert await counts(db, A, missing) == (before[missing][0] - 3, 0, 0, 3)
    assert await counts(db, A, found) == (2, 0, 0, 1)
    assert await counts(db, A, unrecorded) == (1, 0, 0, 0)
    for t in (ok, on_loan, elsewhere):
        assert await counts(db, A, t) == before[t]
    assert await db.stock_moves.count_documents({"op_id": body["op_id"], "kind": "stocktake_adjust"}) == 3
    again = await client.post(f"/api/v1/stocktakes/{sid}/approve", headers=district.headers, json=body)
    assert again.json()["replayed"] is True
    assert await db.stock_moves.count_documents({"op_id": body["op_id"]}) == 3
    r = await act(client, district, sid, "approve")
    assert r.status_code == 409 and "（approved）" in r.json()["detail"]
    assert [a["action"] for a in await db.audit.find({"target_id": sid}).sort("_id", 1).to_list()] == [
        "stocktake.start", "stocktake.finish", "stocktake.approve"]

    # The circulation hook: approved loan returns, settled once.
    pending = await stocktake.approved_loan_returns(db, A)
    assert pending == [{"stocktake_id": sid, "title_id": on_loan, "copies": 2, "settled": 0}]
    assert await stocktake.settle_loan_returns(db, None, sid, on_loan, 2) is True
    assert await stocktake.settle_loan_returns(db, None, sid, on_loan, 1) is False
    assert await stocktake.approved_loan_returns(db, A) == []

    # The room is free for the next stocktake.
    r = await start(client, admin, A)
    assert r.status_code == 201
    assert (await act(client, admin, r.json()["stocktake"]["id"], "cancel", reason="重新开始")).status_code == 200


async def test_one_open_stocktake_per_room_and_cancel(client, seeded, as_role):
    district, room = as_role["district_staff"], "JN-XSG-005"
    results = await asyncio.gather(*[start(client, district, room) for _ in range(3)])
    assert sorted(r.status_code for r in results) == [201, 409, 409]
    assert all(r.json()["code"] == "stocktake_already_open" for r in results if r.status_code == 409)
    sid = next(r.json()["stocktake"]["id"] for r in results if r.status_code == 201)
    assert await seeded.db.stocktakes.count_documents({"room": room}) == 1

    # Finished but not approved still blocks a new one.
    assert (await act(client, district, sid, "finish")).status_code == 200
    assert (await start(client, district, room)).status_code == 409
    assert (await act(client, district, sid, "cancel")).status_code == 422  # reason required
    r = await act(client, district, sid, "cancel", reason="清单有误，重新盘点")
    assert r.status_code == 200 and r.json()["stocktake"]["state"] == "cancelled"
    for action, body in (("cancel", {"reason": "x"}), ("finish", {}), ("approve", {})):
        r = await act(client, district, sid, action, **body)
        assert r.status_code == 409 and "（cancelled）" in r.json()["detail"], action
    assert (await scan(client, district, sid, isbn13(1))).status_code == 409
    r = await start(client, district, room)
    assert r.status_code == 201
    sid2 = r.json()["stocktake"]["id"]
    assert (await act(client, district, sid2, "approve")).status_code == 409  # not finished yet: open
    listed = (await client.get(f"/api/v1/rooms/{room}/stocktakes", headers=district.headers)).json()["items"]
    assert [x["id"] for x in listed] == [sid2, sid] and listed[1]["cancel_reason"] == "清单有误，重新盘点"
    assert (await act(client, district, sid2, "cancel", reason="收尾")).status_code == 200


async def test_authorization(client, seeded, as_role):
    admin_a, admin_b = as_role["room_admin"], as_role["room_admin_other"]
    assert (await start(client, admin_b, A)).status_code == 403
    for role in ("inspector", "trainer", "town_coordinator"):
        assert (await start(client, as_role[role], A)).status_code == 403, role
    r = await start(client, admin_a, A)
    assert r.status_code == 201, r.text
    sid = r.json()["stocktake"]["id"]
    t = await new_title(seeded.db)
    r = await scan(client, admin_b, sid, t)
    assert r.status_code == 403 and r.json()["code"] == "room_out_of_scope"
    assert (await act(client, admin_b, sid, "finish")).status_code == 403
    assert (await act(client, admin_b, sid, "cancel", reason="x")).status_code == 403
    assert (await client.get(f"/api/v1/stocktakes/{sid}", headers=admin_b.headers)).status_code == 403
    assert (await client.get(f"/api/v1/stocktakes/{sid}", headers=as_role["inspector"].headers)).status_code == 200
    assert (await client.get(f"/api/v1/rooms/{A}/stocktakes", headers=admin_b.headers)).status_code == 403
    assert (await client.post(f"/api/v1/stocktakes/{sid}/scans", json={"op_id": op(), "code": t})).status_code == 401
    doc = await seeded.db.stocktakes.find_one({"_id": __import__("bson").ObjectId(sid)})
    assert doc["scanned_copies"] == 0
    assert (await act(client, admin_a, sid, "cancel", reason="收尾")).status_code == 200


@pytest.mark.parametrize("body", [
    {"code": "T", "quantity": -1},
    {"code": "T", "quantity": 0},
    {"code": "T", "quantity": 1000},
    {"code": ""},
    {"code": "T", "op_id": "bad"},
    {"code": "T", "device": "手机 1"},
    {"code": "T", "extra": True},
    {"code": 9787020002207},
])
async def test_bad_scans_write_nothing(client, seeded, as_role, body):
    district, room = as_role["district_staff"], "JN-XSG-006"
    current = await seeded.db.stocktakes.find_one({"active_room": room})
    sid = str(current["_id"]) if current else (await start(client, district, room)).json()["stocktake"]["id"]
    t = await new_title(seeded.db)
    payload = {"op_id": op(), **body}
    if payload["code"] == "T":
        payload["code"] = t
    r = await client.post(f"/api/v1/stocktakes/{sid}/scans", headers=district.headers, json=payload)
    assert r.status_code == 422, r.text
    doc = await seeded.db.stocktakes.find_one({"active_room": room})
    assert doc["scanned_copies"] == 0 and doc["counts"] == {} and doc["unknown"] == {}


async def test_bad_stocktake_ids(client, seeded, as_role):
    who = as_role["district_staff"]
    assert (await client.get("/api/v1/stocktakes/zzz", headers=who.headers)).status_code == 422
    assert (await client.get(f"/api/v1/stocktakes/{'0' * 24}", headers=who.headers)).status_code == 404
    assert (await scan(client, who, "0" * 24, isbn13(1))).status_code == 404
    assert (await client.post("/api/v1/rooms/JN-XSG-999/stocktakes", headers=who.headers,
                              json={"op_id": op()})).status_code == 404
    assert (await client.get(f"/api/v1/rooms/{A}/stocktakes", headers=who.headers,
                             params={"state": "nope"})).status_code == 422


async def test_approval_refused_when_the_shelf_no_longer_covers_it(client, seeded, as_role):
    district, room = as_role["district_staff"], "JN-XSG-007"
    t = await new_title(seeded.db)
    await moves(seeded, room, [(t, MoveKind.RECEIVE, 2)])
    sid = (await start(client, district, room)).json()["stocktake"]["id"]
    await act(client, district, sid, "finish")  # nothing scanned: 2 missing
    await moves(seeded, room, [(t, MoveKind.LOAN, 2)])  # lent meanwhile: the shelf is empty
    r = await act(client, district, sid, "approve")
    assert r.status_code == 409 and r.json()["code"] == "insufficient_on_shelf"
    assert await counts(seeded.db, room, t) == (0, 2, 0, 0)
    assert (await client.get(f"/api/v1/stocktakes/{sid}", headers=district.headers)).json()["state"] == "finished"
    await moves(seeded, room, [(t, MoveKind.RETURN, 2)])
    assert (await act(client, district, sid, "approve")).status_code == 200
    assert await counts(seeded.db, room, t) == (0, 0, 0, 2)


# -- pure -----------------------------------------------------------------------------

def test_normalize_code():
    assert stocktake.normalize_code("978-7-02-000220-7") == "9787020002207"
    assert stocktake.normalize_code("7-02-000220-x") == "9787020002207"
    assert stocktake.normalize_code(" sw12345678901 ") == "SW12345678901"
    for bad in ("9787020002208", "7020002207", "SW1234", "", "97870200022077"):
        with pytest.raises(InvalidInput):
            stocktake.normalize_code(bad)


def test_report_classification():
    snapshot = {
        "missing": {"on_shelf": 5},
        "loan_and_more": {"on_shelf": 1, "on_loan": 1},
        "damaged": {"damaged": 1},
    }
    counts = {"missing": 2, "loan_and_more": 4, "damaged": 1, "stranger": 1, "nobody": 2}
    report = stocktake.build_report(snapshot, counts, {"9787111111116": 1}, {"stranger": ["JN-GG-001"]}, {})
    assert [(m.title_id, m.missing) for m in report.missing] == [("missing", 3)]
    assert [(m.title_id, m.copies) for m in report.returned_while_on_loan] == [("loan_and_more", 1)]
    assert {m.title_id: m.surplus for m in report.status_mismatch} == {"loan_and_more": 2, "damaged": 1, "nobody": 2}
    assert [w.title_id for w in report.wrong_room] == ["stranger"]
    assert {a.title_id: a.delta for a in report.adjustments} == {
        "missing": {"on_shelf": -3, "lost": 3}, "loan_and_more": {"on_shelf": 2}, "damaged": {"on_shelf": 1},
        "nobody": {"on_shelf": 2}}
    assert (report.expected_copies, report.scanned_copies) == (6, 11)


async def test_a_scan_costs_a_fixed_handful_of_commands(seeded, as_role, client, command_counter):
    from server.staff import repo as staff_repo
    from server.staff import service as staff_service
    from server.stock.models import ScanIn, StocktakeStartIn

    actor = staff_service.actor_for(await staff_repo.by_username(seeded.db, "jn-xsg-008"))
    room = "JN-XSG-008"
    t = await new_title(seeded.db)
    await moves(seeded, room, [(t, MoveKind.RECEIVE, 2)] + [(await new_title(seeded.db), MoveKind.RECEIVE, 1)
                                                           for _ in range(30)])
    started = await stocktake.start(seeded, actor, room, StocktakeStartIn(op_id=op()))
    command_counter.reset()
    out = await stocktake.scan(seeded, actor, started.stocktake.id, ScanIn(op_id=op(), code=t))
    assert (out.scanned, out.expected) == (1, 2)
    names = [c.split(":")[0] for c in command_counter.commands]
    # stocktake, room, title, op_id look-up; then one guarded $inc, the op record, the commit.
    assert names == ["find", "find", "find", "find", "findAndModify", "insert", "commitTransaction"], names
    await stocktake.cancel(seeded, actor, started.stocktake.id, StocktakeCancelIn(op_id=op(), reason="收尾"))
