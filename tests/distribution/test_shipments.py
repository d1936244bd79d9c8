"""Shipments from a locked plan: creation, the state machine, documents, scope, claims and
reconciliation (distribution/shipments)."""

from __future__ import annotations

import io
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook
from pypdf import PdfReader

from distribution.shipments.models import TRANSITIONS, ShipmentStatus
from distribution.shipments.packing import copies_by_title, pack_boxes
from distribution.shipments.reconcile import reconcile
from server.resources import Deps
from tests.conftest import Session
from tests.distribution.shipment_helpers import dispatch, locked_plan, make_shipments, shipment_of
from tests.stock.helpers import op
from tests.web.test_pages import form_login, page_client

OWN, OTHER = "JN-XSG-001", "JN-GG-001"
API = "/api/v1/distribution"


# -- pure parts ---------------------------------------------------------------------------


@pytest.mark.parametrize("box_size", [1, 7, 40, 500])
def test_pack_boxes_keeps_every_copy_and_the_limit(box_size: int) -> None:
    lines = [{"title_id": f"t{i}", "copies": c} for i, c in enumerate([3, 41, 1, 12, 80])]
    boxes = pack_boxes(lines, year=2026, room="JN-XSG-001", box_size=box_size)
    assert all(0 < sum(x["copies"] for x in b["lines"]) <= box_size for b in boxes)
    assert copies_by_title(boxes) == {x["title_id"]: x["copies"] for x in lines}
    assert boxes[0]["code"] == "SHP-2026-JN-XSG-001-01"
    assert len(boxes) == -(-137 // box_size)


def test_no_state_leaves_closed_or_cancelled_and_every_state_is_reachable() -> None:
    assert not TRANSITIONS[ShipmentStatus.CLOSED] and not TRANSITIONS[ShipmentStatus.CANCELLED]
    reached, frontier = {ShipmentStatus.PLANNED}, [ShipmentStatus.PLANNED]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    assert reached == set(ShipmentStatus)


def test_reconcile_adds_up_per_supplier() -> None:
    def doc(supplier: str, ordered: int, received: int, short: int) -> dict[str, Any]:
        return {"_id": supplier + str(ordered), "room": "R", "supplier": supplier, "status": "received",
                "lines": [{"price_fen": 1000, "ordered": ordered, "received": received, "short": short,
                           "damaged": 0, "claimed": 0}], "wrong_items": [{"copies": 1}]}
    out = reconcile([doc("甲", 10, 8, 2), doc("甲", 5, 5, 0), doc("乙", 3, 3, 0),
                     {**doc("乙", 9, 0, 0), "status": "cancelled"}])
    by = {r["supplier"]: r for r in out["suppliers"]}
    assert by["甲"]["ordered"] == {"copies": 15, "fen": 15000} and by["甲"]["short"] == {"copies": 2, "fen": 2000}
    assert by["甲"]["wrong"]["copies"] == 2 and by["乙"]["shipments"] == 1
    assert out["total"]["delivered"] == {"copies": 16, "fen": 16000}


# -- creation -----------------------------------------------------------------------------


async def test_create_from_a_locked_plan_is_idempotent(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                       deps: Deps) -> None:
    plan = await locked_plan(deps.db, {OWN: [30, 25, 1], OTHER: [2, 0, 3]})
    headers = as_role["district_staff"].headers
    audit_before = await deps.db.audit.count_documents({"action": "distribution.shipments.create"})
    created = await make_shipments(client, headers, plan["plan_id"], box_size=20)
    assert created["created"] == 2 and created["existing"] == 0
    own = (await client.get(f"{API}/shipments/{shipment_of(created, OWN)}", headers=headers)).json()
    assert own["status"] == "planned" and own["supplier"] == "新华书店津南分公司"
    assert own["totals"]["copies"] == 56 and own["totals"]["titles"] == 3
    assert own["totals"]["fen"] == 30 * 3550 + 25 * 3650 + 1 * 3750
    assert len(own["boxes"]) == 3 and all(b["copies"] <= 20 for b in own["boxes"])
    assert own["boxes"][0]["code"] == f"SHP-{plan['year']}-{OWN}-01"
    other = (await client.get(f"{API}/shipments/{shipment_of(created, OTHER)}", headers=headers)).json()
    assert {line["title_id"]: line["ordered"] for line in other["lines"]} == {plan["titles"][0]: 2, plan["titles"][2]: 3}
    again = await make_shipments(client, headers, plan["plan_id"], box_size=20)
    assert again["created"] == 0 and again["existing"] == 2
    assert await deps.db.dist_shipments.count_documents({"plan_id": own["plan_id"]}) == 0  # stored as ObjectId
    assert len(again["shipments"]) == 2
    assert await deps.db.audit.count_documents({"action": "distribution.shipments.create"}) == audit_before + 1


async def test_a_plan_not_locked_or_unknown_makes_nothing(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                         deps: Deps) -> None:
    plan = await locked_plan(deps.db, {OWN: [1]}, status="selection_open")
    headers = as_role["district_admin"].headers
    response = await client.post(f"{API}/plans/{plan['plan_id']}/shipments", headers=headers, json={"supplier": "甲"})
    assert response.status_code == 422 and response.json()["code"] == "plan_not_locked"
    response = await client.post(f"{API}/plans/{'0' * 24}/shipments", headers=headers, json={"supplier": "甲"})
    assert response.status_code == 404 and response.json()["code"] == "plan_not_found"
    response = await client.post(f"{API}/plans/nonsense/shipments", headers=headers, json={"supplier": "甲"})
    assert response.status_code == 422
    response = await client.post(f"{API}/plans/{plan['plan_id']}/shipments", headers=headers,
                                 json={"supplier": "甲", "box_size": 0})
    assert response.status_code == 422 and ["body", "box_size"] in [e["loc"] for e in response.json()["errors"]]


# -- the state machine ----------------------------------------------------------------------


async def test_transitions_follow_the_machine(client: httpx.AsyncClient, as_role: dict[str, Session],
                                              deps: Deps) -> None:
    plan = await locked_plan(deps.db, {OWN: [2], OTHER: [1]})
    headers = as_role["district_admin"].headers
    created = await make_shipments(client, headers, plan["plan_id"])
    sid, other = shipment_of(created, OWN), shipment_of(created, OTHER)
    url = f"{API}/shipments/{sid}/transition"
    response = await client.post(url, headers=headers, json={"to": "dispatched"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "illegal_transition" and "planned" in body["detail"] and "dispatched" in body["detail"]
    response = await client.post(url, headers=headers, json={"to": "received"})
    assert response.status_code == 422  # receiving does that, not a hand move
    shipped = await dispatch(client, headers, sid)
    assert shipped["status"] == "dispatched"
    assert [h["to_status"] for h in shipped["history"]] == ["planned", "ordered", "packed", "dispatched"]
    assert set(shipped["timestamps"]) >= {"planned", "ordered", "packed", "dispatched"}
    response = await client.post(url, headers=headers, json={"to": "cancelled", "reason": "供货商缺货"})
    assert response.status_code == 409 and response.json()["code"] == "illegal_transition"
    # Cancelling needs a reason, and works before dispatch.
    response = await client.post(f"{API}/shipments/{other}/transition", headers=headers, json={"to": "cancelled"})
    assert response.status_code == 422 and response.json()["errors"]
    response = await client.post(f"{API}/shipments/{other}/transition", headers=headers,
                                 json={"to": "cancelled", "reason": "书屋停用"})
    assert response.status_code == 200 and response.json()["cancel_reason"] == "书屋停用"
    listed = (await client.get(f"{API}/shipments", headers=headers,
                               params={"plan_id": plan["plan_id"], "status": "cancelled"})).json()
    assert [s["id"] for s in listed["items"]] == [other]


# -- scope and roles --------------------------------------------------------------------------


async def test_room_admins_see_only_their_rooms(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                deps: Deps) -> None:
    plan = await locked_plan(deps.db, {OWN: [1], OTHER: [1]})
    created = await make_shipments(client, as_role["district_admin"].headers, plan["plan_id"])
    mine, theirs = shipment_of(created, OWN), shipment_of(created, OTHER)
    headers = as_role["room_admin"].headers
    listed = (await client.get(f"{API}/shipments", headers=headers, params={"plan_id": plan["plan_id"]})).json()
    assert [s["room"] for s in listed["items"]] == [OWN]
    listed = (await client.get(f"{API}/shipments", headers=headers, params={"room": OTHER})).json()
    assert listed["items"] == []
    assert (await client.get(f"{API}/shipments/{mine}", headers=headers)).status_code == 200
    for path in (f"{API}/shipments/{theirs}", f"{API}/shipments/{theirs}/packing-list.pdf",
                 f"{API}/shipments/{theirs}/labels.pdf"):
        response = await client.get(path, headers=headers)
        assert response.status_code in (403, 404), path
    for role in ("room_admin", "town_coordinator", "inspector"):
        response = await client.post(f"{API}/shipments/{mine}/transition", headers=as_role[role].headers,
                                     json={"to": "ordered"})
        assert response.status_code == 403 and response.json()["code"] == "role_forbidden"
    response = await client.get(f"{API}/reconciliation", headers=headers)
    assert response.status_code == 403


# -- documents ----------------------------------------------------------------------------------


async def test_packing_list_labels_and_supplier_order(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                      deps: Deps) -> None:
    plan = await locked_plan(deps.db, {OWN: [5, 3], OTHER: [1, 1]})
    headers = as_role["district_staff"].headers
    created = await make_shipments(client, headers, plan["plan_id"], box_size=4)
    sid = shipment_of(created, OWN)
    room = await deps.db.rooms.find_one({"code": OWN})
    response = await client.get(f"{API}/shipments/{sid}/packing-list.pdf", headers=headers)
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert room["name"] in text and f"SHP-{plan['year']}-{OWN}-02" in text and "装箱单" in text
    response = await client.get(f"{API}/shipments/{sid}/labels.pdf", headers=as_role["room_admin"].headers)
    assert response.status_code == 200
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 2  # 8 copies, 4 per box: one label per box
    text = reader.pages[1].extract_text()
    assert room["name"] in text and f"SHP-{plan['year']}-{OWN}-02" in text
    assert any("/XObject" in (p.get("/Resources") or {}) for p in reader.pages)  # the QR image
    response = await client.get(f"{API}/plans/{plan['plan_id']}/supplier.xlsx", headers=headers)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("书屋编号", "书屋名称", "ISBN", "书名", "出版社", "定价", "册数", "金额", "箱号")
    assert sum(r[6] for r in rows[1:-1]) == 10 and rows[-1][0] == "合计" and rows[-1][6] == 10
    assert {r[0] for r in rows[1:-1]} == {OWN, OTHER}
    response = await client.get(f"{API}/plans/{'0' * 24}/supplier.xlsx", headers=headers)
    assert response.status_code == 404


# -- discrepancy → claim → reconciled → closed ---------------------------------------------------


async def test_discrepancy_claim_and_reconciliation(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                    deps: Deps) -> None:
    plan = await locked_plan(deps.db, {OWN: [4, 2]})
    district = as_role["district_admin"].headers
    created = await make_shipments(client, district, plan["plan_id"], supplier="对账测试书店")
    sid = shipment_of(created, OWN)
    await dispatch(client, district, sid)
    t1, t2 = plan["titles"]
    receipt = {"op_id": op(), "lines": [{"title_id": t1, "received": 3, "damaged": 1},
                                        {"title_id": t2, "received": 1, "damaged": 0}],
               "wrong_items": [{"isbn": "9787000000001", "copies": 1}]}
    response = await client.post(f"{API}/shipments/{sid}/receipts", headers=as_role["room_admin"].headers, json=receipt)
    assert response.status_code == 201, response.text
    assert response.json()["result"]["status"] == "discrepancy"
    url = f"{API}/shipments/{sid}"
    response = await client.post(f"{url}/transition", headers=district, json={"to": "reconciled"})
    assert response.status_code == 409  # a discrepancy is claimed first
    response = await client.post(f"{url}/claims", headers=district,
                                 json={"lines": [{"title_id": t1, "damaged": 2}], "note": "损坏"})
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "lines", 0, "damaged"]
    response = await client.post(f"{url}/claims", headers=district, json={"lines": [], "note": "短少和损坏一并索赔"})
    assert response.status_code == 201 and response.json()["status"] == "claimed"
    response = await client.post(f"{url}/transition", headers=district, json={"to": "reconciled"})
    assert response.status_code == 422 and response.json()["code"] == "settlement_required"
    response = await client.post(f"{url}/transition", headers=district,
                                 json={"to": "reconciled", "settlement": {"resent_copies": 1, "credited_fen": 3650}})
    assert response.status_code == 200 and response.json()["status"] == "reconciled"
    recon = (await client.get(f"{API}/reconciliation", headers=district,
                              params={"supplier": "对账测试书店"})).json()
    row = recon["shipments"][0]
    assert row["ordered"] == {"copies": 6, "fen": 4 * 3550 + 2 * 3650}
    assert row["delivered"] == {"copies": 4, "fen": 3 * 3550 + 3650}
    assert row["short"] == {"copies": 1, "fen": 3650} and row["damaged"] == {"copies": 1, "fen": 3550}
    assert row["wrong"]["copies"] == 1 and row["claimed"] == {"copies": 2, "fen": 3550 + 3650}
    assert row["settled"]["copies"] == 1 and row["settled"]["fen"] == 3600 + 3650
    assert recon["suppliers"][0]["supplier"] == "对账测试书店" and recon["total"]["shipments"] == 1
    response = await client.post(f"{url}/transition", headers=district, json={"to": "closed"})
    assert response.status_code == 200 and response.json()["status"] == "closed"
    response = await client.post(f"{url}/transition", headers=district, json={"to": "reconciled"})
    assert response.status_code == 409


async def test_console_page_lists_shipments(base_url: str, client: httpx.AsyncClient,
                                            as_role: dict[str, Session], deps: Deps) -> None:
    plan = await locked_plan(deps.db, {OWN: [1]})
    await make_shipments(client, as_role["district_admin"].headers, plan["plan_id"], supplier="页面测试书店")
    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "clerk")).status_code == 302
        page = await http.get("/console/distribution/shipments", params={"plan_id": plan["plan_id"]})
        assert page.status_code == 200
        assert "页面测试书店" in page.text and OWN in page.text and "按供货商对账" in page.text
        page = await http.get("/console/distribution/shipments", params={"status": "bogus"})
        assert page.status_code == 422
    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "inspector")).status_code == 302
        assert (await http.get("/console/distribution/shipments")).status_code == 403
