"""Holds over HTTP (keep aside, send on, set-aside copies refused to others, cancel, expiry),
and the nightly jobs: overdue loans and the anonymisation of old loan records."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from server.circulation import holds as holds_service
from server.circulation import jobs
from server.resources import Deps
from tests.circulation import add_reader, add_title, holding, op, receive
from tests.conftest import Session

pytestmark = pytest.mark.usefixtures("ledger_stays_clean")
ROOM, OTHER, THIRD = "JN-XSG-001", "JN-GG-001", "JN-XSG-002"


async def post(client: httpx.AsyncClient, who: Session, url: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(url, headers=who.headers, json={"op_id": op(), **body})


async def test_a_hold_waits_for_a_returned_copy_and_only_its_reader_gets_it(
        client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    admin = as_role["room_admin"]
    title_id = await add_title(seeded, title="三体")
    await receive(seeded, ROOM, title_id, 1)
    await receive(seeded, OTHER, title_id, 2)
    borrower, waiting, someone = [await add_reader(seeded, ROOM, name=n) for n in ("甲", "乙", "丙")]
    loan = (await post(client, admin, f"/api/v1/rooms/{ROOM}/loans",
                       {"card_no": borrower["card_no"], "title_id": title_id})).json()["loan"]

    placed = await post(client, admin, "/api/v1/holds",
                        {"card_no": waiting["card_no"], "title_id": title_id, "pickup_room": ROOM})
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert (hold["hold"]["status"], hold["queue_position"]) == ("waiting", 1)
    assert hold["available_elsewhere"] == [{"room": OTHER, "on_shelf": 2}]
    again = await post(client, admin, "/api/v1/holds",
                       {"card_no": waiting["card_no"], "title_id": title_id, "pickup_room": ROOM})
    assert again.status_code == 409 and again.json()["code"] == "hold_exists"
    # While someone waits for the title, the borrower may not renew.
    renew = await post(client, admin, f"/api/v1/loans/{loan['id']}/renew", {})
    assert renew.status_code == 422 and renew.json()["code"] == "hold_waiting"

    back = await post(client, admin, f"/api/v1/rooms/{ROOM}/returns",
                      {"title_id": title_id, "card_no": borrower["card_no"]})
    assert back.status_code == 200, back.text
    notice = back.json()["notice"]
    assert (notice["action"], notice["hold_id"], notice["reader"]["card_no"]) == ("keep", hold["hold"]["id"],
                                                                                  waiting["card_no"])
    assert "请放在柜台单独保管" in notice["message"] and notice["message"] in back.json()["message"]
    stored = await seeded.db.holds.find_one({"_id": ObjectId(hold["hold"]["id"])})
    assert stored["status"] == "ready" and stored["expires_at"] > datetime.now(UTC) + timedelta(days=6)

    # The only shelf copy is set aside: anyone else is refused, the hold's reader gets it.
    refused = await post(client, admin, f"/api/v1/rooms/{ROOM}/loans", {"card_no": someone["card_no"], "title_id": title_id})
    assert refused.status_code == 409 and refused.json()["code"] == "held_for_another_reader"
    assert "预约" in refused.json()["detail"]
    taken = await post(client, admin, f"/api/v1/rooms/{ROOM}/loans", {"card_no": waiting["card_no"], "title_id": title_id})
    assert taken.status_code == 201 and taken.json()["hold_fulfilled"] == hold["hold"]["id"]
    stored = await seeded.db.holds.find_one({"_id": ObjectId(hold["hold"]["id"])})
    assert stored["status"] == "fulfilled" and stored["active_key"] is None
    listed = (await client.get(f"/api/v1/readers/{waiting['id']}/holds", headers=admin.headers,
                               params={"status": "all"})).json()
    assert [(h["id"], h["status"]) for h in listed["items"]] == [(hold["hold"]["id"], "fulfilled")]


async def test_a_copy_returned_elsewhere_is_sent_on(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                    seeded: Deps) -> None:
    title_id = await add_title(seeded)
    await receive(seeded, OTHER, title_id, 1)
    borrower = await add_reader(seeded, OTHER)
    waiting = await add_reader(seeded, ROOM)
    await post(client, as_role["room_admin_other"], f"/api/v1/rooms/{OTHER}/loans",
               {"card_no": borrower["card_no"], "title_id": title_id})
    hold = (await post(client, as_role["room_admin"], "/api/v1/holds",
                       {"card_no": waiting["card_no"], "title_id": title_id, "pickup_room": ROOM})).json()["hold"]
    # The copy comes back to a third room, whose coordinator handles it.
    back = await post(client, as_role["town_coordinator"], f"/api/v1/rooms/{THIRD}/returns", {"title_id": title_id})
    assert back.status_code == 200, back.text
    notice = back.json()["notice"]
    assert (notice["action"], notice["pickup_room"], notice["hold_id"]) == ("send", ROOM, hold["id"])
    assert f"请转送至{notice['pickup_room_name']}（{ROOM}）" in notice["message"]
    stored = await seeded.db.holds.find_one({"_id": ObjectId(hold["id"])})
    assert (stored["status"], stored["routed_from"]) == ("waiting", THIRD)
    assert (await holding(seeded, THIRD, title_id))["on_shelf"] == 1
    # The room's hold list shows what waits there.
    page = (await client.get(f"/api/v1/rooms/{ROOM}/holds", headers=as_role["room_admin"].headers)).json()
    assert hold["id"] in [h["id"] for h in page["items"]]
    assert (await client.get(f"/api/v1/rooms/{ROOM}/holds", headers=as_role["room_admin_other"].headers)).status_code == 403
    # The reader passes by the third room and borrows the copy there: the hold is met.
    taken = await post(client, as_role["town_coordinator"], f"/api/v1/rooms/{THIRD}/loans",
                       {"card_no": waiting["card_no"], "title_id": title_id})
    assert taken.status_code == 201 and taken.json()["hold_fulfilled"] == hold["id"]
    assert (await seeded.db.holds.find_one({"_id": ObjectId(hold["id"])}))["status"] == "fulfilled"


async def test_hold_refusals_and_cancelling(client: httpx.AsyncClient, as_role: dict[str, Session],
                                           seeded: Deps) -> None:
    admin = as_role["room_admin"]
    title_id = await add_title(seeded)
    await receive(seeded, ROOM, title_id, 1)
    paper = await add_title(seeded, fmt="periodical")
    reader, other = await add_reader(seeded, ROOM), await add_reader(seeded, ROOM)
    on_shelf = await post(client, admin, "/api/v1/holds", {"card_no": reader["card_no"], "title_id": title_id,
                                                           "pickup_room": ROOM})
    assert on_shelf.status_code == 409 and on_shelf.json()["code"] == "available_on_shelf"
    periodical = await post(client, admin, "/api/v1/holds", {"card_no": reader["card_no"], "title_id": paper,
                                                             "pickup_room": ROOM})
    assert periodical.status_code == 422 and periodical.json()["code"] == "periodical_in_room_only"
    elsewhere = await post(client, admin, "/api/v1/holds", {"card_no": reader["card_no"], "title_id": title_id,
                                                            "pickup_room": OTHER})
    assert elsewhere.status_code == 403
    await post(client, admin, f"/api/v1/rooms/{ROOM}/loans", {"card_no": other["card_no"], "title_id": title_id})
    mine = await post(client, admin, "/api/v1/holds", {"card_no": other["card_no"], "title_id": title_id,
                                                       "pickup_room": ROOM})
    assert mine.status_code == 409 and mine.json()["code"] == "already_borrowed"
    hold = (await post(client, admin, "/api/v1/holds", {"card_no": reader["card_no"], "title_id": title_id,
                                                        "pickup_room": ROOM})).json()["hold"]
    url = f"/api/v1/holds/{hold['id']}/cancel"
    assert (await post(client, as_role["room_admin_other"], url, {"reason": "越权取消"})).status_code == 403
    cancelled = await post(client, admin, url, {"reason": "读者已买到"})
    assert cancelled.status_code == 200 and cancelled.json()["hold"]["status"] == "cancelled"
    again = await post(client, admin, url, {"reason": "读者已买到"})
    assert again.status_code == 409 and again.json()["code"] == "hold_closed"
    # With the hold gone the renewal goes through.
    loan = await seeded.db.loans.find_one({"title_id": title_id, "returned_at": None})
    assert (await post(client, admin, f"/api/v1/loans/{loan['_id']}/renew", {})).status_code == 200


async def test_ready_holds_expire_and_the_next_reader_is_served(
        client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    admin = as_role["room_admin"]
    title_id = await add_title(seeded)
    await receive(seeded, ROOM, title_id, 1)
    borrower, first, second = (await add_reader(seeded, ROOM), await add_reader(seeded, ROOM),
                               await add_reader(seeded, ROOM))
    await post(client, admin, f"/api/v1/rooms/{ROOM}/loans", {"card_no": borrower["card_no"], "title_id": title_id})
    ids = []
    for r in (first, second):
        ids.append((await post(client, admin, "/api/v1/holds", {"card_no": r["card_no"], "title_id": title_id,
                                                                "pickup_room": ROOM})).json()["hold"]["id"])
    back = (await post(client, admin, f"/api/v1/rooms/{ROOM}/returns", {"title_id": title_id})).json()
    assert back["notice"]["hold_id"] == ids[0]
    refused = await post(client, admin, f"/api/v1/rooms/{ROOM}/loans", {"card_no": second["card_no"], "title_id": title_id})
    assert refused.status_code == 409 and refused.json()["code"] == "held_for_another_reader"
    # The first reader never comes: after the pick-up days the copy goes to the second.
    later = datetime.now(UTC) + timedelta(days=9)
    result = await holds_service.expire_and_promote_holds(seeded, later)
    assert result["expired"] >= 1 and result["ready"] >= 1
    states = {str(d["_id"]): d["status"] async for d in seeded.db.holds.find({"_id": {"$in": [ObjectId(i) for i in ids]}})}
    assert states == {ids[0]: "expired", ids[1]: "ready"}
    taken = await post(client, admin, f"/api/v1/rooms/{ROOM}/loans", {"card_no": second["card_no"], "title_id": title_id})
    assert taken.status_code == 201 and taken.json()["hold_fulfilled"] == ids[1]


async def test_overdue_jobs(client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    title_id = await add_title(seeded)
    await receive(seeded, OTHER, title_id, 2)
    reader = await add_reader(seeded, OTHER)
    loan = (await post(client, as_role["room_admin_other"], f"/api/v1/rooms/{OTHER}/loans",
                       {"card_no": reader["card_no"], "title_id": title_id})).json()["loan"]
    due = datetime.fromisoformat(loan["due_at"])
    assert await jobs.overdue_loans(seeded, OTHER, due - timedelta(minutes=1)) == []
    later = due + timedelta(days=2)
    overdue = await jobs.overdue_loans(seeded, OTHER, later)
    assert [(o.id, o.days_overdue) for o in overdue] == [(loan["id"], 2)]
    counts = await jobs.mark_overdue(seeded, later)
    assert counts[OTHER] >= 1 and counts["_newly_overdue"] >= 1
    assert (await seeded.db.loans.find_one({"_id": ObjectId(loan["id"])}))["overdue_since"] is not None
    assert (await jobs.mark_overdue(seeded, later))["_newly_overdue"] == 0  # flagged once


async def test_old_loan_records_are_anonymised_and_statistics_survive(
        client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    admin = as_role["room_admin"]
    title_id = await add_title(seeded, category="科技")
    await receive(seeded, ROOM, title_id, 2)
    reader = await add_reader(seeded, ROOM)
    lend_body = {"op_id": op(), "card_no": reader["card_no"], "title_id": title_id}
    old = (await client.post(f"/api/v1/rooms/{ROOM}/loans", headers=admin.headers, json=lend_body)).json()["loan"]
    await post(client, admin, f"/api/v1/rooms/{ROOM}/returns", {"title_id": title_id, "card_no": reader["card_no"]})
    still_out = (await post(client, admin, f"/api/v1/rooms/{ROOM}/loans",
                            {"card_no": reader["card_no"], "title_id": title_id})).json()["loan"]
    stats_before = (await client.get(f"/api/v1/rooms/{ROOM}/loan-stats", headers=admin.headers)).json()

    retention = seeded.settings.district.lending.loan_record_retention_days
    report = await jobs.anonymise_loan_history(seeded, datetime.now(UTC) + timedelta(days=retention + 1))
    assert report.loans >= 1 and report.operations >= 2 and report.audit_entries >= 2
    stored = await seeded.db.loans.find_one({"_id": ObjectId(old["id"])})
    assert stored["reader_id"] is None and stored["anonymised_at"] is not None
    assert (stored["room"], stored["title_id"], stored["category"]) == (ROOM, title_id, "科技")
    open_loan = await seeded.db.loans.find_one({"_id": ObjectId(still_out["id"])})
    assert open_loan["reader_id"] == ObjectId(reader["id"])  # an open loan keeps its reader
    history = (await client.get(f"/api/v1/readers/{reader['id']}/loans", headers=admin.headers)).json()
    assert [i["id"] for i in history["items"]] == [still_out["id"]]
    entries = await seeded.db.audit.find({"target_id": old["id"]}).to_list()
    assert entries and all(e["changes"].get("reader_id") is None for e in entries)
    assert (await client.get(f"/api/v1/rooms/{ROOM}/loan-stats", headers=admin.headers)).json() == stats_before
    replay = await client.post(f"/api/v1/rooms/{ROOM}/loans", headers=admin.headers, json=lend_body)
    assert replay.status_code == 409 and replay.json()["code"] == "operation_anonymised"
    assert await seeded.db.loans.count_documents({"title_id": title_id}) == 2
