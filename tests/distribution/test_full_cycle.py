"""The whole year through the API, as the district office and two rooms live it:
plan → the recommended list → a selection run → lock → shipments → packing → routes →
dispatch → receiving on the phone — and the stock ledger agrees with the holdings after it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from server.catalog.isbn import to_isbn13
from server.readers.service import local_today
from server.resources import Deps
from server.stock.service import check_ledger
from tests.conftest import Session

BASE = "/api/v1/distribution"
ROOMS = ["JN-XSG-001", "JN-XSG-002"]
CATEGORIES = ["科技"] * 12 + ["文化"] * 12 + ["生活"] * 4 + ["少儿"] * 4 + ["政经"] * 3 + ["其他"] * 1
HEADER = "ISBN,书名,作者,出版社,出版社所在省份,定价,分类\n"


def _isbn(n: int) -> str:
    body = f"97873{n:07d}"
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return to_isbn13(body + str(check))


def _list_csv() -> bytes:
    rows = []
    for k, category in enumerate(CATEGORIES):
        province = "天津" if k % 6 == 0 else "北京"
        rows.append(f"{_isbn(4000 + k)},年度书目第{k}种,作者{k},出版社{k % 5},{province},{20 + k % 9}.00,{category}")
    return (HEADER + "\n".join(rows) + "\n").encode()


async def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_plan_select_lock_ship_route_receive(seeded: Deps, client: httpx.AsyncClient,
                                                   as_role: dict[str, Session]) -> None:
    admin = as_role["district_admin"].headers
    today = local_today()
    plan = await _ok(await client.post(f"{BASE}/plans", headers=admin, json={
        "year": today.year + 3, "title": "全流程测试计划", "budget_fen": 200_000, "rooms": ROOMS,
        "min_titles_per_room": 10, "min_fen_per_room": 20_000, "category_tolerance": 0.1,
        "own_province": "天津"}), 201)
    pid = plan["plan_id"]
    await _ok(await client.post(f"{BASE}/plans/{pid}/list", content=_list_csv(),
                                headers={**admin, "Content-Type": "text/csv"}))
    window = {"opens_on": (today - timedelta(days=1)).isoformat(), "closes_on": today.isoformat()}
    await _ok(await client.patch(f"{BASE}/plans/{pid}", json={"window": window}, headers=admin))
    await _ok(await client.post(f"{BASE}/plans/{pid}/transition", json={"to": "selection_open"}, headers=admin))

    # The administrator of the first room picks two titles on the phone's API.
    picked = [_isbn(4001), _isbn(4013)]
    room_admin = as_role["room_admin"].headers
    await _ok(await client.put(f"{BASE}/plans/{pid}/rooms/{ROOMS[0]}/picks", headers=room_admin, json={
        "op_id": "full-cycle-picks-1", "items": [{"title_id": t, "copies": 1} for t in picked]}))
    await _ok(await client.post(f"{BASE}/plans/{pid}/transition", json={"to": "selection_closed"}, headers=admin))

    run = await _ok(await client.post(f"{BASE}/plans/{pid}/selection-runs", headers=admin,
                                      json={"time_limit_secs": 10}), 201)
    assert run["status"] in {"optimal", "feasible"} and run["violations"] == []
    assert run["bound"] is None or run["bound"] >= run["objective"] - 1e-6
    lines = (await _ok(await client.get(f"{BASE}/plans/{pid}/selection-runs/{run['id']}", headers=admin)))["lines"]
    first_room = {line["title_id"] for line in lines if line["room"] == ROOMS[0]}
    assert set(picked) <= first_room, "the administrator's picks are chosen"
    # The plans' own rule check agrees with the optimizer on this run, so the plan locks.
    check = await _ok(await client.get(f"{BASE}/plans/{pid}/check", params={"run_id": run["id"]}, headers=admin))
    assert check["violations"] == [], check
    await _ok(await client.post(f"{BASE}/plans/{pid}/transition", headers=admin,
                                json={"to": "locked", "chosen_run_id": run["id"]}))

    created = await _ok(await client.post(f"{BASE}/plans/{pid}/shipments", headers=admin,
                                          json={"supplier": "天津新华书店", "box_size": 10}), 201)
    assert created["created"] == 2
    shipments = created["shipments"]
    for s in shipments:
        for to in ("ordered", "packed"):
            await _ok(await client.post(f"{BASE}/shipments/{s['id']}/transition", json={"to": to}, headers=admin))

    route = await _ok(await client.post(f"{BASE}/routes", headers=admin, json={
        "plan_id": pid, "date": (today + timedelta(days=1)).isoformat(), "time_limit_secs": 2,
        "trucks": [{"name": "车1", "capacity_boxes": 40}]}), 201)
    routed = {stop["room"] for r in route["routes"] for stop in r["stops"]} | {u["room"] for u in route["unserved"]}
    assert routed == set(ROOMS)

    ordered = 0
    for s in shipments:
        await _ok(await client.post(f"{BASE}/shipments/{s['id']}/transition", json={"to": "dispatched"},
                                    headers=admin))
        detail = await _ok(await client.get(f"{BASE}/shipments/{s['id']}", headers=admin))
        receipt = {"op_id": f"full-cycle-receive-{s['room']}", "box_codes": [b["code"] for b in detail["boxes"]],
                   "lines": [{"title_id": line["title_id"], "received": line["ordered"]} for line in detail["lines"]]}
        await _ok(await client.post(f"{BASE}/shipments/{s['id']}/receipts", json=receipt, headers=admin), 201)
        replay = await client.post(f"{BASE}/shipments/{s['id']}/receipts", json=receipt, headers=admin)
        assert replay.status_code in (200, 201) and replay.json()["replayed"] is True, replay.text
        ordered += sum(line["ordered"] for line in detail["lines"])
        after = await _ok(await client.get(f"{BASE}/shipments/{s['id']}", headers=admin))
        assert after["status"] == "received"

    holdings = await seeded.db.holdings.find({"room": {"$in": ROOMS}}).to_list()
    assert sum(h["on_shelf"] for h in holdings) == ordered == sum(line["copies"] for line in lines)
    checked, mismatches = await check_ledger(seeded)
    assert checked >= len(lines) and mismatches == []
    report = await _ok(await client.get(f"{BASE}/reconciliation", params={"plan_id": pid}, headers=admin))
    assert "天津新华书店" in str(report)
