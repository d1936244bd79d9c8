"""The delivery-routes API, route sheets (PDF) and the console page, against the real stack."""

from __future__ import annotations

import io
from datetime import date
from typing import Any

import httpx
from bson import ObjectId
from pypdf import PdfReader

from server.resources import Deps
from tests.conftest import Session, check_invariants
from tests.web.test_pages import form_login

DAY = date(2026, 6, 2)  # a Tuesday
URL = "/api/v1/distribution/routes"


async def open_rooms(deps: Deps, n: int) -> list[dict[str, Any]]:
    docs = await deps.db["rooms"].find({"status": "active", "opening_hours.tue.0": {"$exists": True}}) \
        .sort("code", 1).to_list()
    assert len(docs) >= n
    return docs[:n]


def body(rooms: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"date": DAY.isoformat(), "trucks": [{"name": "车1", "capacity_boxes": 12}, {"name": "车2", "capacity_boxes": 12}],
            "stops": [{"room": r["code"], "boxes": 2} for r in rooms], "time_limit_secs": 1, **extra}


async def test_plan_routes_store_and_read_back(seeded: Deps, client: httpx.AsyncClient,
                                               as_role: dict[str, Session]) -> None:
    rooms = await open_rooms(seeded, 8)
    staff = as_role["district_staff"]
    audit_before = await seeded.db["audit"].count_documents({"action": "distribution.routes.create"})
    resp = await client.post(URL, json=body(rooms), headers=staff.headers)
    assert resp.status_code == 201, resp.text
    plan = resp.json()
    assert plan["matrix"] == {"provider": "great_circle", "circuity_factor": 1.3, "speed_kmh": 35.0,
                              "base_url": None, "fallback": None}
    assert plan["depot"]["name"] == "津南区图书馆"
    served = [s["room"] for r in plan["routes"] for s in r["stops"]]
    assert sorted(served + [u["room"] for u in plan["unserved"]]) == sorted(r["code"] for r in rooms)
    assert len(served) == len(set(served))
    for route in plan["routes"]:
        assert route["boxes"] <= route["capacity_boxes"] and route["feasible"]
        assert route["depart"] >= "08:00" and route["back"] <= "17:00"
        for stop in route["stops"]:
            lo, hi = stop["window"].split("-")
            assert lo <= stop["service_start"] <= hi
            assert stop["name"] and stop["phone"]
    assert plan["created_by"] == "clerk"
    doc = await seeded.db["dist_routes"].find_one({"_id": ObjectId(plan["id"])})
    assert doc is not None and doc["matrix"]["circuity_factor"] == 1.3
    assert await seeded.db["audit"].count_documents({"action": "distribution.routes.create"}) == audit_before + 1

    got = await client.get(f"{URL}/{plan['id']}", headers=staff.headers)
    assert got.status_code == 200 and got.json()["routes"] == plan["routes"]
    listed = await client.get(URL, params={"date": DAY.isoformat()}, headers=staff.headers)
    assert listed.status_code == 200 and plan["id"] in [p["id"] for p in listed.json()["items"]]
    other_day = await client.get(URL, params={"date": "2020-01-01"}, headers=staff.headers)
    assert other_day.json()["items"] == []


async def test_route_sheet_pdf_names_the_rooms(seeded: Deps, client: httpx.AsyncClient,
                                               as_role: dict[str, Session]) -> None:
    rooms = await open_rooms(seeded, 5)
    staff = as_role["district_admin"]
    plan = (await client.post(URL, json=body(rooms), headers=staff.headers)).json()
    truck = plan["routes"][0]["truck"]
    resp = await client.get(f"{URL}/{plan['id']}/sheets.pdf", params={"truck": truck}, headers=staff.headers)
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "application/pdf"
    # Table cells wrap long names across lines: compare without whitespace.
    text = "".join("".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(resp.content)).pages)
    assert "送书路线单" in text and truck in text
    for stop in plan["routes"][0]["stops"]:
        assert stop["name"] in text and stop["room"] in text
    everyone = await client.get(f"{URL}/{plan['id']}/sheets.pdf", headers=staff.headers)
    assert everyone.status_code == 200 and len(PdfReader(io.BytesIO(everyone.content)).pages) >= len(plan["routes"])
    missing = await client.get(f"{URL}/{plan['id']}/sheets.pdf", params={"truck": "车9"}, headers=staff.headers)
    assert missing.status_code == 404


async def test_replan_keeps_dispatched_truck_and_adds_a_room(seeded: Deps, client: httpx.AsyncClient,
                                                             as_role: dict[str, Session]) -> None:
    rooms = await open_rooms(seeded, 11)
    staff = as_role["district_staff"]
    plan = (await client.post(URL, json=body(rooms[:10]), headers=staff.headers)).json()
    assert len(plan["routes"]) == 2
    gone, down = plan["routes"][0], plan["routes"][1]
    change = {"dispatched": {gone["truck"]: [gone["stops"][0]["room"]]}, "unavailable_trucks": [down["truck"]],
              "add_stops": [{"room": rooms[10]["code"], "boxes": 1}], "time_limit_secs": 1}
    resp = await client.post(f"{URL}/{plan['id']}/replan", json=change, headers=staff.headers)
    assert resp.status_code == 201, resp.text
    new = resp.json()
    kept = next(r for r in new["routes"] if r["truck"] == gone["truck"])
    assert kept["fixed"] and [s["room"] for s in kept["stops"]] == [s["room"] for s in gone["stops"]]
    assert all(r["truck"] != down["truck"] for r in new["routes"])
    # The unavailable truck's rooms had nowhere to go: unserved, with the reason.
    assert {u["room"] for u in new["unserved"]} == {s["room"] for s in down["stops"]} | {rooms[10]["code"]}
    assert new["replanned_from"] == plan["id"]
    old = (await client.get(f"{URL}/{plan['id']}", headers=staff.headers)).json()
    assert old["superseded_by"] == new["id"]
    again = await client.post(f"{URL}/{plan['id']}/replan", json=change, headers=staff.headers)
    assert again.status_code == 409
    assert await seeded.db["audit"].count_documents({"action": "distribution.routes.replan",
                                                      "target_id": new["id"]}) == 1


async def test_bad_input_names_the_field_and_writes_nothing(seeded: Deps, client: httpx.AsyncClient,
                                                            as_role: dict[str, Session]) -> None:
    rooms = await open_rooms(seeded, 3)
    staff = as_role["district_staff"]
    before = await seeded.db["dist_routes"].count_documents({})
    cases = [
        ({**body(rooms), "stops": [{"room": "JN-XX-999", "boxes": 1}]}, ("body", "stops", 0, "room")),
        ({**body(rooms), "trucks": [{"name": "车1", "capacity_boxes": 5, "start": "18:00", "end": "08:00"}]},
         ("body", "trucks", 0)),
        ({**body(rooms), "trucks": [{"name": "a", "capacity_boxes": 1}, {"name": "a", "capacity_boxes": 1}]},
         ("body", "trucks")),
        ({"date": DAY.isoformat(), "trucks": [{"name": "a", "capacity_boxes": 1}]}, ("body",)),
        ({**body(rooms), "stops": None, "plan_id": str(ObjectId())}, ("body", "plan_id")),
        ({**body(rooms), "stops": None, "shipment_ids": [str(ObjectId())]}, ("body", "shipment_ids", 0)),
        ({**body(rooms), "time_limit_secs": 999}, ("body", "time_limit_secs")),
    ]
    for payload, loc in cases:
        resp = await client.post(URL, json=payload, headers=staff.headers)
        assert resp.status_code == 422, (payload, resp.text)
        locs = [tuple(e["loc"]) for e in resp.json()["errors"]]
        assert any(tuple(x[: len(loc)]) == loc for x in locs), (loc, locs)
    plan = (await client.post(URL, json=body(rooms), headers=staff.headers)).json()
    bad_replans = [
        ({"unavailable_trucks": ["车9"]}, ("body", "unavailable_trucks", 0)),
        ({"dispatched": {"车1": ["JN-XX-999"]}}, ("body", "dispatched", "车1", 0)),
        ({"add_stops": [{"room": rooms[0]["code"], "boxes": 1}]}, ("body", "add_stops", 0, "room")),
    ]
    for payload, loc in bad_replans:
        resp = await client.post(f"{URL}/{plan['id']}/replan", json=payload, headers=staff.headers)
        assert resp.status_code == 422, resp.text
        assert any(tuple(e["loc"][: len(loc)]) == loc for e in resp.json()["errors"]), resp.json()
    assert await seeded.db["dist_routes"].count_documents({}) == before + 1
    for path in (f"{URL}/nope", f"{URL}/{ObjectId()}", f"{URL}/{ObjectId()}/sheets.pdf"):
        assert (await client.get(path, headers=staff.headers)).status_code == 404


async def test_routes_from_shipments(seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session]) -> None:
    rooms = await open_rooms(seeded, 3)
    plan_id = ObjectId()
    docs = [{"_id": ObjectId(), "plan_id": plan_id, "room": r["code"], "status": status,
             "boxes": [{"code": f"B{n}-{i}"} for i in range(n + 1)]}
            for n, (r, status) in enumerate(zip(rooms, ("packed", "ordered", "received"), strict=True))]
    await seeded.db["dist_shipments"].insert_many(docs)
    try:
        staff = as_role["district_staff"]
        resp = await client.post(URL, json={**body(rooms), "stops": None, "plan_id": str(plan_id)},
                                 headers=staff.headers)
        assert resp.status_code == 201, resp.text
        plan = resp.json()
        stops = {s["room"]: s for r in plan["routes"] for s in r["stops"]}
        assert set(stops) == {rooms[0]["code"], rooms[1]["code"]}  # the received one is not routed
        assert stops[rooms[1]["code"]]["boxes"] == 2 and stops[rooms[1]["code"]]["shipment_id"] == str(docs[1]["_id"])
        assert plan["plan_id"] == str(plan_id)
    finally:
        await seeded.db["dist_shipments"].delete_many({"plan_id": plan_id})


async def test_only_district_roles(seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session]) -> None:
    rooms = await open_rooms(seeded, 2)
    for role in ("room_admin", "town_coordinator", "inspector", "trainer"):
        resp = await client.post(URL, json=body(rooms), headers=as_role[role].headers)
        assert resp.status_code == 403, role
        assert (await client.get(URL, headers=as_role[role].headers)).status_code == 403
    assert (await client.get(URL)).status_code == 401


async def test_console_page_draws_the_routes(seeded: Deps, client: httpx.AsyncClient,
                                             as_role: dict[str, Session]) -> None:
    rooms = await open_rooms(seeded, 4)
    plan = (await client.post(URL, json=body(rooms), headers=as_role["district_staff"].headers)).json()
    page_client = httpx.AsyncClient(base_url=str(client.base_url), event_hooks={"response": [check_invariants]})
    async with page_client:
        login = await form_login(page_client, "/console/login", "clerk")
        assert login.status_code in (302, 303), login.text[:300]
        page = await page_client.get(f"/console/distribution/routes/{plan['id']}")
        assert page.status_code == 200, page.text[:500]
        assert "<svg" in page.text and "polyline" in page.text and "津南区图书馆" in page.text
        for route in plan["routes"]:
            assert route["truck"] in page.text
            assert all(s["name"] in page.text for s in route["stops"])
        listing = await page_client.get("/console/distribution/routes", params={"date": DAY.isoformat()})
        assert listing.status_code == 200 and plan["id"] in listing.text
        missing = await page_client.get(f"/console/distribution/routes/{ObjectId()}")
        assert missing.status_code == 404


async def test_an_unreachable_osrm_falls_back_to_straight_lines_and_says_so(
        seeded: Deps, as_role: dict[str, Session]) -> None:
    """Production may point SHUWU_ROUTING_OSRM_URL at a road-network server; when it does not
    answer, the deliveries are still planned, on the straight-line estimate, and the plan says so."""
    import dataclasses

    from distribution.routes import service
    from distribution.routes.models import RoutePlanIn
    from ops.stack import free_port
    from server.staff.service import actor_for

    settings = seeded.settings.model_copy(update={"routing_osrm_url": f"http://127.0.0.1:{free_port()}"})
    deps = dataclasses.replace(seeded, settings=settings)
    staff = await seeded.db["staff"].find_one({"username": "clerk"})
    rooms = await open_rooms(seeded, 4)
    plan = await service.create_route_plan(deps, actor_for(staff), RoutePlanIn.model_validate(body(rooms)))
    assert plan.matrix.provider == "great_circle" and plan.matrix.circuity_factor == 1.3
    assert plan.matrix.fallback and "OSRM" in plan.matrix.fallback
    assert plan.feasible
