"""Builders for the shipment tests: a locked plan with a chosen selection run, written
directly per the shared data contract (the plans API is built alongside)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId

from tests.stock.helpers import isbn13

_years = itertools.count(2101)
_serial = itertools.count(1)
CATEGORIES = ("科技", "文化", "少儿", "生活")


async def locked_plan(db: Any, rooms: dict[str, list[int]], *, status: str = "locked",
                      prefix: str = "978752") -> dict[str, Any]:
    """A plan whose chosen run orders, for each room, ``copies`` of one new title per entry
    of ``rooms[room]`` (the same titles for every room, in order). Returns ids and titles."""
    n_titles = max(len(v) for v in rooms.values())
    titles = []
    for i in range(n_titles):
        title_id = isbn13(next(_serial), prefix=prefix)
        titles.append({"_id": title_id, "title": f"配送测试书{title_id[-5:]}", "author": "佚名", "publisher": "天津人民出版社",
                       "price": 35.5, "category": CATEGORIES[i % len(CATEGORIES)], "format": "book"})
    await db.titles.insert_many(titles)
    plan_id, run_id = ObjectId(), ObjectId()
    lines = [{"room": room, "title_id": titles[i]["_id"], "copies": copies, "price_fen": 3550 + i * 100,
              "category": titles[i]["category"], "on_list": True, "province": "天津", "reasons": ["测试"]}
             for room, per_title in rooms.items() for i, copies in enumerate(per_title)]
    now = datetime.now(UTC)
    await db.dist_selection_runs.insert_one({
        "_id": run_id, "plan_id": plan_id, "run_no": 1, "created_at": now, "created_by": "admin", "status": "optimal",
        "objective": 1.0, "bound": 1.0, "gap": 0.0, "wall_secs": 0.1, "method": "test", "params": {}, "pins": [],
        "forbids": [], "lines": lines, "totals": {}, "violations": []})
    year = next(_years)
    await db.dist_plans.insert_one({
        "_id": plan_id, "year": year, "title": f"{year} 年测试计划", "budget_fen": 10**8, "status": status,
        "chosen_run_id": run_id, "rooms": list(rooms), "created_at": now, "updated_at": now})
    return {"plan_id": str(plan_id), "run_id": run_id, "year": year, "titles": [t["_id"] for t in titles],
            "lines": lines}


async def make_shipments(client: Any, headers: dict[str, str], plan_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"/api/v1/distribution/plans/{plan_id}/shipments", headers=headers,
                                 json={"supplier": "新华书店津南分公司", **body})
    assert response.status_code == 201, response.text
    return response.json()


async def dispatch(client: Any, headers: dict[str, str], shipment_id: str) -> dict[str, Any]:
    for to in ("ordered", "packed", "dispatched"):
        response = await client.post(f"/api/v1/distribution/shipments/{shipment_id}/transition", headers=headers,
                                     json={"to": to})
        assert response.status_code == 200, response.text
    return response.json()


def shipment_of(created: dict[str, Any], room: str) -> str:
    return next(s["id"] for s in created["shipments"] if s["room"] == room)
