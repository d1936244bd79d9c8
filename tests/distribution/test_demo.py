"""distribution/demo.py: the replenishment demo ./ops/run loads with the rest of the demo."""

from __future__ import annotations

from server.readers.service import local_today
from server.resources import Deps
from server.seed import seed_demo


async def _counts(deps: Deps) -> dict[str, int]:
    names = ("dist_plans", "dist_candidates", "dist_picks", "dist_selection_runs", "dist_shipments", "dist_routes",
             "audit")
    return {n: await deps.db[n].count_documents({}) for n in names}


async def test_the_demo_takes_this_years_plan_to_packed_shipments_and_routes(deps: Deps) -> None:
    await seed_demo(deps)
    year = local_today().year
    plan = await deps.db.dist_plans.find_one({"year": year, "history": False})
    assert plan is not None and plan["status"] == "locked" and plan["chosen_run_id"] is not None
    run = await deps.db.dist_selection_runs.find_one({"_id": plan["chosen_run_id"]})
    assert run is not None and run["plan_id"] == plan["_id"] and run["lines"]
    assert await deps.db.dist_candidates.count_documents({"plan_id": plan["_id"]}) >= 350
    assert await deps.db.dist_picks.count_documents({"plan_id": plan["_id"], "kind": "admin"}) > 0

    shipments = await deps.db.dist_shipments.find({"plan_id": plan["_id"]}).to_list()
    assert {s["room"] for s in shipments} == set(plan["rooms"]) == {ln["room"] for ln in run["lines"]}
    assert {s["status"] for s in shipments} == {"packed"}
    assert {s["supplier"] for s in shipments} == {"天津新华书店"}

    route = await deps.db.dist_routes.find_one({"plan_id": plan["_id"]})
    assert route is not None and route["routes"]
    routed = {s["room"] for r in route["routes"] for s in r["stops"]} | {u["room"] for u in route["unserved"]}
    assert routed == set(plan["rooms"])
    assert route["date"] > local_today().isoformat()

    history = await deps.db.dist_plans.distinct("year", {"history": True})
    assert sorted(history) == [2012, 2013, 2014, 2015]

    before = await _counts(deps)
    await seed_demo(deps, if_empty=True)
    await seed_demo(deps)
    assert await _counts(deps) == before
