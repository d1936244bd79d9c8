"""Replenishment plans over HTTP: settings, the recommended list, rule checks, locking,
百姓点单 (API and phone page), demand refresh, the console pages, history."""

from __future__ import annotations

import io
import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
from bson import ObjectId
from openpyxl import Workbook

from distribution.plans.history import load_history
from distribution.plans.service import local_today
from server.resources import Deps
from tests.conftest import Session
from tests.stock.helpers import isbn13
from tests.web.test_pages import form_login, page_client

BASE = "/api/v1/distribution"
ROOM = "JN-XSG-001"
OTHER = "JN-GG-001"
HEADER = "ISBN,书名,作者,出版社,出版社所在省份,定价,分类\n"
CSV = {"Content-Type": "text/csv"}


def isbns(n: int, start: int = 100) -> list[str]:
    return [isbn13(start + i, prefix="978720") for i in range(n)]


def list_csv(ids: list[str], *, province: str = "北京", category: str = "S511") -> bytes:
    rows = [f"{i},农书第{k}册,作者{k},中国农业出版社,{province},{28 + k}.50,{category}" for k, i in enumerate(ids)]
    return (HEADER + "\n".join(rows) + "\n").encode()


async def new_plan(client: httpx.AsyncClient, admin: Session, year: int, **extra: Any) -> dict[str, Any]:
    body = {"year": year, "title": f"{year} 年补充更新", "budget_fen": 50_000_000, **extra}
    response = await client.post(f"{BASE}/plans", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def open_window(client: httpx.AsyncClient, admin: Session, plan_id: str) -> None:
    today = local_today()
    window = {"opens_on": (today - timedelta(days=1)).isoformat(), "closes_on": (today + timedelta(days=5)).isoformat()}
    r = await client.patch(f"{BASE}/plans/{plan_id}", json={"window": window}, headers=admin.headers)
    assert r.status_code == 200, r.text
    r = await client.post(f"{BASE}/plans/{plan_id}/transition", json={"to": "selection_open"}, headers=admin.headers)
    assert r.status_code == 200, r.text


async def test_create_plan_defaults_validation_and_roles(seeded: Deps, client: httpx.AsyncClient,
                                                         as_role: dict[str, Session]) -> None:
    admin = as_role["district_admin"]
    plan = await new_plan(client, admin, 2031, budget_fen=100)
    assert plan["status"] == "draft" and plan["min_titles_per_room"] == 60 and plan["min_fen_per_room"] == 200_000
    assert len(plan["rooms"]) == 110 and plan["category_targets"]["科技"] == 0.40
    assert plan["warnings"] and "预算" in plan["warnings"][0]
    again = await client.post(f"{BASE}/plans", json={"year": 2031, "title": "x", "budget_fen": 1}, headers=admin.headers)
    assert again.status_code == 409 and again.json()["code"] == "plan_year_exists"
    bad = await client.post(f"{BASE}/plans", json={"year": 2032, "title": "x", "budget_fen": 1,
                                                   "category_targets": {"科技": 0.5}}, headers=admin.headers)
    assert bad.status_code == 422 and ["body", "category_targets"] in [e["loc"] for e in bad.json()["errors"]]
    unknown = await client.post(f"{BASE}/plans", json={"year": 2032, "title": "x", "budget_fen": 1,
                                                       "rooms": ["JN-XX-999"]}, headers=admin.headers)
    assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_rooms"
    denied = await client.post(f"{BASE}/plans", json={"year": 2033, "title": "x", "budget_fen": 1},
                               headers=as_role["room_admin"].headers)
    assert denied.status_code == 403
    listed = await client.get(f"{BASE}/plans", headers=as_role["room_admin"].headers)
    assert [p["year"] for p in listed.json()["items"]] == [2031]
    audit = await seeded.db.audit.find_one({"action": "dist_plan.create", "target_id": plan["plan_id"]})
    assert audit is not None


async def test_list_import_dry_run_all_or_nothing_and_candidates(seeded: Deps, client: httpx.AsyncClient,
                                                                 as_role: dict[str, Session]) -> None:
    admin = as_role["district_admin"]
    plan = await new_plan(client, admin, 2034)
    url = f"{BASE}/plans/{plan['plan_id']}/list"
    ids = isbns(4)
    bad = list_csv(ids) + "9787200000000,,x,y,火星,abc,ZZ9\n".encode()
    report = await client.post(url, params={"dry_run": "true"}, content=bad, headers={**admin.headers, **CSV})
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["valid"] == 4 and body["imported"] is False
    cols = {(p["row"], p["column"]) for p in body["problems"]}
    assert {(6, "ISBN"), (6, "书名"), (6, "出版社所在省份"), (6, "定价"), (6, "分类")} <= cols
    real = await client.post(url, content=bad, headers={**admin.headers, **CSV})
    assert real.status_code == 422 and real.json()["code"] == "list_rows_invalid"
    assert await seeded.db.dist_candidates.count_documents({}) == 0
    assert await seeded.db.titles.count_documents({"_id": {"$in": ids}}) == 0

    # Excel, with a 中图法 class and a six-class name
    book = Workbook()
    sheet = book.active
    sheet.append(["ISBN", "书名", "作者", "出版社", "出版社所在省份", "定价", "分类"])
    for k, i in enumerate(ids):
        sheet.append([i, f"农书第{k}册", "张三", "天津科技出版社" if k == 0 else "中国农业出版社",
                      "天津市" if k == 0 else "北京", 30 + k, "少儿" if k == 3 else "S511"])
    data = io.BytesIO()
    book.save(data)
    xlsx = {"Content-Type": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
    done = await client.post(url, content=data.getvalue(), headers={**admin.headers, **xlsx})
    assert done.status_code == 200, done.text
    assert done.json()["imported"] and done.json()["candidates_created"] == 4 and done.json()["titles_created"] == 4
    title = await seeded.db.titles.find_one({"_id": ids[0]})
    assert title["list_year"] == 2034 and title["price_cents"] == 3000 and title["category"] == "科技"
    assert title["publisher_province"] == "天津" and title["search_keys"]

    extra = await client.post(f"{BASE}/plans/{plan['plan_id']}/candidates", headers=admin.headers, json={
        "isbn": isbns(1, 900)[0], "title": "乡村振兴读本", "publisher_province": "江苏", "price_fen": 2500,
        "category": "政经"})
    assert extra.status_code == 201, extra.text
    assert extra.json()["on_list"] is False and extra.json()["source"] == "district"
    page = await client.get(f"{BASE}/plans/{plan['plan_id']}/candidates", params={"on_list": "true", "limit": "2"},
                            headers=as_role["room_admin"].headers)
    assert page.status_code == 200 and len(page.json()["items"]) == 2 and page.json()["next_cursor"]
    assert page.json()["counts"] == {"科技": 3, "少儿": 1, "政经": 1}
    nxt = await client.get(f"{BASE}/plans/{plan['plan_id']}/candidates",
                           params={"on_list": "true", "cursor": page.json()["next_cursor"]}, headers=admin.headers)
    assert len(nxt.json()["items"]) == 2
    found = await client.get(f"{BASE}/plans/{plan['plan_id']}/candidates", params={"q": "振兴"}, headers=admin.headers)
    assert [c["title"] for c in found.json()["items"]] == ["乡村振兴读本"]


def lines_for(room: str, ids: list[str], *, on_list: bool = True, price: int = 4000) -> list[dict[str, Any]]:
    cats = ["科技"] * 4 + ["文化"] * 4 + ["生活", "少儿"]
    return [{"room": room, "title_id": i, "copies": 1, "price_fen": price, "category": cats[k % 10],
             "on_list": on_list, "province": "北京"} for k, i in enumerate(ids)]


async def test_check_and_lock(seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session]) -> None:
    admin = as_role["district_admin"]
    plan = await new_plan(client, admin, 2035, rooms=[ROOM], min_titles_per_room=10, min_fen_per_room=40_000,
                          category_targets={"科技": 0.4, "文化": 0.4, "生活": 0.1, "少儿": 0.1})
    pid = plan["plan_id"]
    good = lines_for(ROOM, isbns(10, 300))
    live = await client.post(f"{BASE}/plans/{pid}/check", json={"lines": good}, headers=admin.headers)
    assert live.status_code == 200 and live.json()["ok"], live.text
    bad = good[:5]
    live = await client.post(f"{BASE}/plans/{pid}/check", json={"lines": bad}, headers=admin.headers)
    rules = {v["rule"] for v in live.json()["violations"]}
    assert {"min_titles", "min_fen"} <= rules
    assert (await client.get(f"{BASE}/plans/{pid}/check", headers=admin.headers)).status_code == 404

    runs = seeded.db.dist_selection_runs
    bad_run = {"_id": ObjectId(), "plan_id": ObjectId(pid), "run_no": 1, "lines": lines_for(ROOM, isbns(10, 300), on_list=False),
               "totals": {"fen": 40_000, "copies": 10}}
    good_run = {"_id": ObjectId(), "plan_id": ObjectId(pid), "run_no": 2, "lines": good, "totals": {"fen": 40_000, "copies": 10}}
    await runs.insert_many([bad_run, good_run])
    stored = await client.get(f"{BASE}/plans/{pid}/check", params={"run_id": str(bad_run["_id"])}, headers=admin.headers)
    assert stored.json()["ok"] is False and {"list_titles", "list_copies"} <= {v["rule"] for v in stored.json()["violations"]}

    async def move(to: str, **extra: Any) -> httpx.Response:
        return await client.post(f"{BASE}/plans/{pid}/transition", json={"to": to, **extra}, headers=admin.headers)

    assert (await move("locked")).json()["code"] == "bad_transition"
    assert (await move("selection_open")).status_code == 200
    assert (await move("selection_closed")).status_code == 200
    assert (await move("locked")).json()["code"] == "run_required"
    refused = await move("locked", chosen_run_id=str(bad_run["_id"]))
    assert refused.status_code == 422 and refused.json()["code"] == "rules_violated"
    assert any("推荐目录" in e["msg"] for e in refused.json()["errors"])
    assert (await move("locked", chosen_run_id=str(ObjectId()))).json()["code"] == "run_not_in_plan"
    locked = await move("locked", chosen_run_id=str(good_run["_id"]))
    assert locked.status_code == 200 and locked.json()["chosen_run_id"] == str(good_run["_id"])
    frozen = await client.patch(f"{BASE}/plans/{pid}", json={"budget_fen": 1}, headers=admin.headers)
    assert frozen.status_code == 422 and frozen.json()["code"] == "plan_not_editable"
    years = (await client.get(f"{BASE}/years", headers=admin.headers)).json()["items"]
    assert {"year": 2035, "books": 10, "discs": 0, "fen": 40_000, "history": False, "plan_id": pid} in years


async def test_picks_window_scope_idempotency_demand_and_pages(seeded: Deps, client: httpx.AsyncClient,
                                                              base_url: str, as_role: dict[str, Session]) -> None:
    admin, mine = as_role["district_admin"], as_role["room_admin"]
    plan = await new_plan(client, admin, 2036, rooms=[ROOM, OTHER])
    pid = plan["plan_id"]
    ids = isbns(3, 500)
    r = await client.post(f"{BASE}/plans/{pid}/list", content=list_csv(ids), headers={**admin.headers, **CSV})
    assert r.status_code == 200 and r.json()["imported"], r.text
    url = f"{BASE}/plans/{pid}/rooms/{ROOM}/picks"
    body = {"op_id": uuid.uuid4().hex, "items": [{"title_id": ids[0], "copies": 2}, {"title_id": ids[1], "copies": 1}]}
    closed = await client.put(url, json=body, headers=mine.headers)
    assert closed.status_code == 422 and closed.json()["code"] == "window_closed"
    await open_window(client, admin, pid)
    body["op_id"] = uuid.uuid4().hex
    saved = await client.put(url, json=body, headers=mine.headers)
    assert saved.status_code == 200, saved.text
    assert saved.json()["titles"] == 2 and saved.json()["copies"] == 3 and saved.json()["fen"] == 2 * 2850 + 2950
    replay = await client.put(url, json={**body, "items": []}, headers=mine.headers)
    assert replay.json()["replayed"] and replay.json()["titles"] == 2
    other = await client.put(f"{BASE}/plans/{pid}/rooms/{OTHER}/picks", json={**body, "op_id": uuid.uuid4().hex},
                             headers=mine.headers)
    assert other.status_code == 403
    wrong = await client.put(url, json={"op_id": uuid.uuid4().hex, "items": [{"title_id": "9787111111111", "copies": 1}]},
                             headers=mine.headers)
    assert wrong.status_code == 422 and wrong.json()["code"] == "not_a_candidate"
    assert wrong.json()["errors"][0]["loc"][-1] == "title_id"
    assert await seeded.db.dist_picks.count_documents({"plan_id": ObjectId(pid), "kind": "admin"}) == 2

    # a waiting hold for a candidate at the other room flows in as demand
    await seeded.db.holds.insert_one({"reader_id": ObjectId(), "title_id": ids[2], "pickup_room": OTHER,
                                      "status": "waiting", "placed_at": None})
    refreshed = await client.post(f"{BASE}/plans/{pid}/demand/refresh", headers=admin.headers)
    assert refreshed.status_code == 200 and refreshed.json()["holds"] == 1, refreshed.text
    summary = (await client.get(f"{BASE}/plans/{pid}/picks", headers=admin.headers)).json()
    counts = {t["title_id"]: (t["rooms"], t["copies"], t["by_kind"]) for t in summary["titles"]}
    assert counts[ids[0]] == (1, 2, {"admin": 2}) and counts[ids[2]] == (1, 1, {"hold": 1})
    assert summary["rooms_with_picks"] == 2
    assert (await client.get(f"{BASE}/plans/{pid}/picks", headers=mine.headers)).status_code == 403

    # the phone page lists the candidates and saves through its form
    async with page_client(base_url) as http:
        assert (await form_login(http, "/m/login", "jn-xsg-001")).status_code == 302
        page = await http.get(f"/m/rooms/{ROOM}/picks")
        assert page.status_code == 200 and "农书第0册" in page.text and "农书第2册" in page.text
        assert "已选 <b id=\"picks-titles\">2</b>" in page.text
        token = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        op_id = re.search(r'name="op_id" value="([^"]+)"', page.text).group(1)
        post = await http.post(f"/m/rooms/{ROOM}/picks", data={"_xsrf": token, "op_id": op_id, f"c_{ids[2]}": "3",
                                                               f"c_{ids[0]}": "0"})
        assert post.status_code == 302, post.text[:300]
        assert (await http.get(f"/m/rooms/{OTHER}/picks")).status_code == 403
    mine_now = (await client.get(url, headers=mine.headers)).json()
    assert [(i["title_id"], i["copies"]) for i in mine_now["items"] if i["kind"] == "admin"] == [(ids[2], 3)]

    # console pages
    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "admin")).status_code == 302
        listing = await http.get("/console/distribution")
        assert listing.status_code == 200 and "2036 年补充更新" in listing.text
        detail = await http.get(f"/console/distribution/plans/{pid}")
        assert detail.status_code == 200 and ROOM in detail.text and "候选书目" in detail.text


async def test_history_is_idempotent_and_sums(seeded: Deps, client: httpx.AsyncClient,
                                              as_role: dict[str, Session]) -> None:
    first = await client.post(f"{BASE}/history", headers=as_role["district_admin"].headers)
    assert first.status_code == 200 and first.json()["created"] == 4
    assert (await client.post(f"{BASE}/history", headers=as_role["district_staff"].headers)).status_code == 403
    again = await load_history(seeded)
    assert again.created == 0
    years = (await client.get(f"{BASE}/years", headers=as_role["inspector"].headers)).json()["items"]
    past = [y for y in years if y["history"]]
    assert [y["year"] for y in past] == [2012, 2013, 2014, 2015]
    assert sum(y["books"] for y in past) == 223_808 and sum(y["discs"] for y in past) == 15_400
