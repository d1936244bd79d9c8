"""Selection runs over HTTP: run, store, list, show per room, diff, pins/forbids, the
infeasible 422, validation and roles, the console page."""

from __future__ import annotations

from typing import Any

import httpx
from bson import ObjectId

from server.resources import Deps
from tests.conftest import Session
from tests.web.test_pages import form_login, page_client

BASE = "/api/v1/distribution"
ROOMS = ["JN-XSG-001", "JN-GG-001"]
CATS = ["科技", "文化", "生活", "少儿", "科技", "文化", "政经", "其他"] * 3


async def make_plan(deps: Deps, client: httpx.AsyncClient, admin: Session, year: int, **extra: Any) -> tuple[str, list[str]]:
    body = {"year": year, "title": f"{year} 年补充更新", "budget_fen": 40_000, "rooms": ROOMS,
            "min_titles_per_room": 4, "min_fen_per_room": 10_000,
            "category_targets": {"政经": 0.2, "科技": 0.2, "生活": 0.2, "文化": 0.2, "少儿": 0.1, "其他": 0.1},
            "category_tolerance": 0.3, **extra}
    r = await client.post(f"{BASE}/plans", json=body, headers=admin.headers)
    assert r.status_code == 201, r.text
    plan_id = r.json()["plan_id"]
    ids = [f"SEL{year}{i:03d}" for i in range(len(CATS))]
    await deps.db.dist_candidates.insert_many([
        {"_id": ObjectId(), "plan_id": ObjectId(plan_id), "title_id": t, "title": f"选书测试{i}", "author": "佚名",
         "publisher": f"出版社{i % 3}", "publisher_province": "天津" if i % 4 == 0 else "北京",
         "price_fen": 2000 + 150 * i, "category": CATS[i], "on_list": i % 5 != 4, "source": "list"}
        for i, t in enumerate(ids)])
    await deps.db.dist_picks.insert_one({"_id": ObjectId(), "plan_id": ObjectId(plan_id), "room": ROOMS[0],
                                         "title_id": ids[7], "copies": 2, "by": "jn-xsg-001", "kind": "admin"})
    return plan_id, ids


async def test_run_store_list_show_diff_and_page(seeded: Deps, client: httpx.AsyncClient,
                                                 as_role: dict[str, Session], base_url: str) -> None:
    admin = as_role["district_admin"]
    plan_id, ids = await make_plan(seeded, client, admin, 2061)
    url = f"{BASE}/plans/{plan_id}/selection-runs"
    r = await client.post(url, json={"time_limit_secs": 10}, headers=admin.headers)
    assert r.status_code == 201, r.text
    first = r.json()
    assert first["run_no"] == 1 and first["status"] in {"optimal", "feasible"} and first["violations"] == []
    assert first["bound"] >= first["objective"] - 1e-6 and first["gap"] is not None
    assert first["totals"]["fen"] <= 40_000 and first["diff"]["against"] is None
    assert first["diff"]["added"] == first["lines_total"]
    shown = (await client.get(f"{url}/{first['id']}", params={"room": ROOMS[0]}, headers=admin.headers)).json()
    assert shown["lines"] and {ln["room"] for ln in shown["lines"]} == {ROOMS[0]}
    picked = next(ln for ln in shown["lines"] if ln["title_id"] == ids[7])
    assert "管理员点选" in picked["reasons"]
    # Pin a title the first run left out in room 2, forbid the picked one everywhere.
    chosen2 = {ln["title_id"] for ln in first_lines(await client.get(f"{url}/{first['id']}", headers=admin.headers), ROOMS[1])}
    pin = next(t for t in ids if t not in chosen2 and t != ids[7])
    r = await client.post(url, json={"time_limit_secs": 10, "pins": [{"room": ROOMS[1], "title_id": pin}],
                                     "forbids": [{"title_id": ids[7]}]}, headers=admin.headers)
    assert r.status_code == 201, r.text
    second = r.json()
    assert second["run_no"] == 2 and second["diff"]["against"] == first["id"]
    room2 = next(d for d in second["diff"]["rooms"] if d["room"] == ROOMS[1])
    assert pin in room2["added"]
    room1 = next(d for d in second["diff"]["rooms"] if d["room"] == ROOMS[0])
    assert ids[7] in room1["removed"]
    listing = (await client.get(url, headers=admin.headers)).json()["items"]
    assert [x["run_no"] for x in listing] == [2, 1] and "lines" not in listing[0]
    diff = (await client.get(f"{url}/{first['id']}/diff", params={"against": second["id"]}, headers=admin.headers))
    assert diff.status_code == 200 and diff.json()["against"] == second["id"]
    stored = await seeded.db.dist_selection_runs.count_documents({"plan_id": ObjectId(plan_id)})
    audited = await seeded.db.audit.count_documents({"action": "dist_selection.run", "target_id": plan_id})
    assert stored == 2 and audited == 2
    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "admin")).status_code == 302
        page = await http.get(f"/console/distribution/plans/{plan_id}/selection")
        assert page.status_code == 200 and "第 2 次方案" in page.text and "上界" in page.text and ROOMS[1] in page.text


def first_lines(response: httpx.Response, room: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    return [ln for ln in response.json()["lines"] if ln["room"] == room]


async def test_infeasible_bad_refs_validation_and_roles(seeded: Deps, client: httpx.AsyncClient,
                                                        as_role: dict[str, Session]) -> None:
    admin = as_role["district_admin"]
    plan_id, ids = await make_plan(seeded, client, admin, 2062, budget_fen=15_000)
    url = f"{BASE}/plans/{plan_id}/selection-runs"
    r = await client.post(url, json={"time_limit_secs": 5}, headers=admin.headers)
    assert r.status_code == 422 and "总预算" in r.text
    r = await client.post(url, json={"pins": [{"room": "JN-NOPE-9", "title_id": "nope"}]}, headers=admin.headers)
    assert r.status_code == 422
    locs = [e["loc"] for e in r.json()["errors"]]
    assert ["body", "pins", 0, "room"] in locs and ["body", "pins", 0, "title_id"] in locs
    assert (await client.post(url, json={"time_limit_secs": 121}, headers=admin.headers)).status_code == 422
    assert (await client.post(url, json={"time_limit_secs": 5}, headers=as_role["room_admin"].headers)).status_code == 403
    assert (await client.get(f"{url}/{ObjectId()}", headers=admin.headers)).status_code == 404
    assert (await client.get(f"{url}/not-an-id", headers=admin.headers)).status_code == 404
    assert await seeded.db.dist_selection_runs.count_documents({"plan_id": ObjectId(plan_id)}) == 0
