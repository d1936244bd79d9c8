"""Receiving shipments into the stock ledger: box by box, idempotent per op_id, never twice
from two phones; the ledger agrees after a full ship → receive cycle; photos; phone pages."""

from __future__ import annotations

import asyncio
import io
import re
from typing import Any

import httpx
from PIL import Image

from server.resources import Deps
from server.stock.service import check_ledger
from tests.conftest import Session
from tests.distribution.shipment_helpers import dispatch, locked_plan, make_shipments, shipment_of
from tests.stock.helpers import op
from tests.web.test_pages import form_login, page_client

OWN, OTHER = "JN-XSG-001", "JN-GG-001"
API = "/api/v1/distribution"


async def shelf(db: Any, room: str, title_id: str) -> int:
    doc = await db.holdings.find_one({"room": room, "title_id": title_id}) or {}
    return doc.get("on_shelf", 0)


async def dispatched(client: httpx.AsyncClient, as_role: dict[str, Session], deps: Deps,
                     rooms: dict[str, list[int]], box_size: int = 40) -> tuple[dict[str, Any], dict[str, Any]]:
    plan = await locked_plan(deps.db, rooms, prefix="978753")
    created = await make_shipments(client, as_role["district_admin"].headers, plan["plan_id"], box_size=box_size)
    shipments = {}
    for room in rooms:
        shipments[room] = await dispatch(client, as_role["district_admin"].headers, shipment_of(created, room))
    return plan, shipments


def full_lines(shipment: dict[str, Any], boxes: list[str] | None = None) -> list[dict[str, Any]]:
    """Every copy of ``boxes`` (all when None) received in good order."""
    counts: dict[str, int] = {}
    for box in shipment["boxes"]:
        if boxes is None or box["code"] in boxes:
            for line in box["lines"]:
                counts[line["title_id"]] = counts.get(line["title_id"], 0) + line["copies"]
    return [{"title_id": t, "received": n, "damaged": 0} for t, n in counts.items()]


def png(size: int = 240) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (size, size), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


async def test_full_cycle_writes_the_ledger_and_replays_change_nothing(
        client: httpx.AsyncClient, as_role: dict[str, Session], deps: Deps) -> None:
    plan, shipments = await dispatched(client, as_role, deps, {OWN: [3, 2], OTHER: [1, 4]})
    headers = as_role["room_admin"].headers
    s = shipments[OWN]
    t1, t2 = plan["titles"]
    before = (await shelf(deps.db, OWN, t1), await shelf(deps.db, OWN, t2))
    body = {"op_id": op(), "box_codes": [], "lines": full_lines(s)}
    response = await client.post(f"{API}/shipments/{s['id']}/receipts", headers=headers, json=body)
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["replayed"] is False and result["result"]["status"] == "received"
    assert result["result"]["received"] == 5 and result["result"]["short"] == 0
    assert (await shelf(deps.db, OWN, t1), await shelf(deps.db, OWN, t2)) == (before[0] + 3, before[1] + 2)
    moves = await deps.db.stock_moves.find({"op_id": body["op_id"]}).to_list()
    assert {(m["title_id"], m["kind"], m["quantity"]) for m in moves} == {(t1, "receive", 3), (t2, "receive", 2)}
    assert all(m["reference"]["shipment"] == s["id"] for m in moves)
    assert await deps.db.audit.count_documents({"action": "distribution.shipment.receive", "target_id": s["id"]}) == 1
    # The same op_id again (a retry after a lost answer): the first answer, nothing written.
    again = await client.post(f"{API}/shipments/{s['id']}/receipts", headers=headers, json=body)
    assert again.status_code == 201 and again.json()["replayed"] is True
    assert again.json()["result"] == result["result"]
    # Another phone, another op_id: refused.
    second = await client.post(f"{API}/shipments/{s['id']}/receipts", headers=as_role["district_staff"].headers,
                               json={**body, "op_id": op()})
    assert second.status_code == 409 and second.json()["code"] == "already_received"
    assert (await shelf(deps.db, OWN, t1), await shelf(deps.db, OWN, t2)) == (before[0] + 3, before[1] + 2)
    # The other room, by the district.
    other = shipments[OTHER]
    response = await client.post(f"{API}/shipments/{other['id']}/receipts", headers=as_role["district_staff"].headers,
                                 json={"op_id": op(), "lines": full_lines(other)})
    assert response.status_code == 201
    checked, mismatches = await check_ledger(deps)
    assert checked > 0 and mismatches == []
    detail = (await client.get(f"{API}/shipments/{s['id']}", headers=headers)).json()
    assert detail["status"] == "received" and all(b["received"] for b in detail["boxes"])
    assert {x["title_id"]: x["received"] for x in detail["lines"]} == {t1: 3, t2: 2}


async def test_box_by_box_each_box_once(client: httpx.AsyncClient, as_role: dict[str, Session], deps: Deps) -> None:
    plan, shipments = await dispatched(client, as_role, deps, {OWN: [5, 4]}, box_size=3)
    s = shipments[OWN]
    headers = as_role["room_admin"].headers
    codes = [b["code"] for b in s["boxes"]]
    assert len(codes) == 3
    url = f"{API}/shipments/{s['id']}/receipts"
    first = await client.post(url, headers=headers, json={"op_id": op(), "box_codes": codes[:1],
                                                         "lines": full_lines(s, codes[:1])})
    assert first.status_code == 201 and first.json()["result"]["complete"] is False
    assert first.json()["result"]["status"] == "dispatched"
    again = await client.post(url, headers=headers, json={"op_id": op(), "box_codes": codes[:2],
                                                         "lines": full_lines(s, codes[:2])})
    assert again.status_code == 409 and again.json()["code"] == "already_received"
    # The rest, one short copy: the shipment ends in discrepancy.
    lines = full_lines(s, codes[1:])
    lines[0]["received"] -= 1
    last = await client.post(url, headers=headers, json={"op_id": op(), "box_codes": codes[1:], "lines": lines})
    assert last.status_code == 201, last.text
    assert last.json()["result"]["complete"] is True and last.json()["result"]["status"] == "discrepancy"
    assert last.json()["result"]["short"] == 1
    assert await shelf(deps.db, OWN, plan["titles"][0]) + await shelf(deps.db, OWN, plan["titles"][1]) >= 8
    assert (await check_ledger(deps))[1] == []


async def test_two_phones_at_once_receive_once(client: httpx.AsyncClient, as_role: dict[str, Session],
                                               deps: Deps) -> None:
    plan, shipments = await dispatched(client, as_role, deps, {OWN: [6]})
    s = shipments[OWN]
    t1 = plan["titles"][0]
    before = await shelf(deps.db, OWN, t1)
    url = f"{API}/shipments/{s['id']}/receipts"
    phones = [as_role["room_admin"].headers, as_role["district_staff"].headers, as_role["district_admin"].headers]
    answers = await asyncio.gather(*[client.post(url, headers=h, json={"op_id": op(), "lines": full_lines(s)})
                                     for h in phones])
    assert sorted(a.status_code for a in answers) == [201, 409, 409], [a.text for a in answers]
    assert await shelf(deps.db, OWN, t1) == before + 6
    assert await deps.db.stock_moves.count_documents({"reference.shipment": s["id"]}) == 1


async def test_bad_receipts_write_nothing(client: httpx.AsyncClient, as_role: dict[str, Session],
                                          deps: Deps) -> None:
    plan, shipments = await dispatched(client, as_role, deps, {OWN: [2, 1], OTHER: [1]})
    s = shipments[OWN]
    t1, t2 = plan["titles"]
    url = f"{API}/shipments/{s['id']}/receipts"
    headers = as_role["room_admin"].headers
    moves_before = await deps.db.stock_moves.count_documents({})
    cases = [
        ({"lines": [{"title_id": t1, "received": 2}]}, 422, ["body", "lines"]),  # t2 left out
        ({"lines": [{"title_id": t1, "received": 3}, {"title_id": t2, "received": 1}]}, 422,
         ["body", "lines", 0, "received"]),
        ({"lines": [{"title_id": t1, "received": 2}, {"title_id": t2, "received": 1},
                    {"title_id": "9787000000001", "received": 1}]}, 422, ["body", "lines", 2, "title_id"]),
        ({"box_codes": [f"SHP-{plan['year']}-{OWN}-09"], "lines": []}, 422, ["body", "box_codes", 0]),
        ({"lines": [{"title_id": t1, "received": -1}]}, 422, ["body", "lines", 0, "received"]),
        ({"lines": [{"title_id": t1, "received": 1, "photo_id": "0" * 24}, {"title_id": t2, "received": 1}]}, 422,
         ["body", "lines", 0, "photo_id"]),
    ]
    for extra, status, loc in cases:
        response = await client.post(url, headers=headers, json={"op_id": op(), **extra})
        assert response.status_code == status, (extra, response.text)
        assert loc in [e["loc"] for e in response.json()["errors"]], (extra, response.json())
    # Another room's administrator, and a shipment not dispatched yet.
    response = await client.post(url, headers=as_role["room_admin_other"].headers,
                                 json={"op_id": op(), "lines": full_lines(s)})
    assert response.status_code in (403, 404)
    response = await client.post(url, headers=as_role["town_coordinator"].headers,
                                 json={"op_id": op(), "lines": full_lines(s)})
    assert response.status_code == 403 and response.json()["code"] == "role_forbidden"
    plan2 = await locked_plan(deps.db, {OWN: [1]}, prefix="978753")
    created = await make_shipments(client, as_role["district_admin"].headers, plan2["plan_id"])
    planned = shipment_of(created, OWN)
    response = await client.post(f"{API}/shipments/{planned}/receipts", headers=headers,
                                 json={"op_id": op(), "lines": [{"title_id": plan2["titles"][0], "received": 1}]})
    assert response.status_code == 409 and response.json()["code"] == "not_dispatched"
    assert await deps.db.stock_moves.count_documents({}) == moves_before
    assert (await client.get(f"{API}/shipments/{s['id']}", headers=headers)).json()["status"] == "dispatched"


async def test_photos_are_checked_and_kept(client: httpx.AsyncClient, as_role: dict[str, Session],
                                           deps: Deps) -> None:
    plan, shipments = await dispatched(client, as_role, deps, {OWN: [2]})
    s = shipments[OWN]
    url = f"{API}/shipments/{s['id']}/photos"
    headers = as_role["room_admin"].headers
    response = await client.post(url, headers={**headers, "Content-Type": "image/png"}, content=png())
    assert response.status_code == 201, response.text
    photo_id = response.json()["photo_id"]
    response = await client.post(url, headers={**headers, "Content-Type": "image/jpeg"}, content=b"GIF89a" + b"0" * 400)
    assert response.status_code == 422 and response.json()["code"] == "not_an_image"
    response = await client.post(url, headers={**headers, "Content-Type": "text/plain"}, content=b"hello")
    assert response.status_code == 415
    response = await client.post(url, headers={**as_role["room_admin_other"].headers, "Content-Type": "image/png"},
                                 content=png())
    assert response.status_code in (403, 404)
    receipt = {"op_id": op(), "lines": [{"title_id": plan["titles"][0], "received": 1, "damaged": 1,
                                         "note": "封面破损", "photo_id": photo_id}]}
    response = await client.post(f"{API}/shipments/{s['id']}/receipts", headers=headers, json=receipt)
    assert response.status_code == 201 and response.json()["result"]["status"] == "discrepancy"
    picture = await client.get(f"{API}/photos/{photo_id}", headers=as_role["district_staff"].headers)
    assert picture.status_code == 200 and picture.content.startswith(b"\xff\xd8\xff")


async def test_phone_pages_receive_a_shipment(base_url: str, client: httpx.AsyncClient,
                                              as_role: dict[str, Session], deps: Deps) -> None:
    plan, shipments = await dispatched(client, as_role, deps, {OWN: [2], OTHER: [1]})
    s = shipments[OWN]
    async with page_client(base_url) as http:
        assert (await form_login(http, "/m/login", "jn-xsg-001")).status_code == 302
        page = await http.get(f"/m/rooms/{OWN}/receive/shipments")
        assert page.status_code == 200 and f"/m/rooms/{OWN}/receive/{s['id']}" in page.text
        page = await http.get(f"/m/rooms/{OWN}/receive/{s['id']}")
        assert page.status_code == 200 and s["boxes"][0]["code"] in page.text and "receive.js" in page.text
        token = re.search(r'name="shuwu-xsrf" content="([^"]+)"', page.text)
        assert token
        assert (await http.get(f"/m/rooms/{OTHER}/receive/shipments")).status_code == 403
        assert (await http.get(f"/m/rooms/{OWN}/receive/{shipments[OTHER]['id']}")).status_code in (403, 404)
        body = {"op_id": op(), "box_codes": [s["boxes"][0]["code"]], "lines": full_lines(s)}
        response = await http.post(f"/m/api/shipments/{s['id']}/receipts", json=body,
                                   headers={"X-XSRFToken": token.group(1)})
        assert response.status_code == 201, response.text
        assert response.json()["result"]["status"] == "received"
        response = await http.post(f"/m/api/shipments/{s['id']}/receipts", json={**body, "op_id": op()})
        assert response.status_code == 403  # no XSRF token
    assert (await check_ledger(deps))[1] == []
