"""The dashboard's alerts on hand-built data: each kind finds exactly what it should, the
viewer's scope is respected, and the number of Mongo commands does not grow with the rooms."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest_asyncio
from bson import ObjectId

from server.circulation.rules import LOCAL_TZ
from server.readers.service import local_today
from server.resources import Deps
from server.stats.alerts import ALERT_ITEMS, district_alerts, shipment_due
from server.stats.models import Alert

XSG = [f"JN-XSG-{n:03d}" for n in range(1, 7)]  # the rooms most of these tests look at
GG = "JN-GG-001"
HOURS = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), LOCAL_TZ).astimezone(UTC)


def by_key(alerts: list[Alert]) -> dict[str, Alert]:
    return {a.key: a for a in alerts}


def codes_in(alert: Alert) -> list[str]:
    return [i.label.rsplit("（", 1)[-1].rstrip("）") for i in alert.items]


@pytest_asyncio.fixture(scope="module")
async def data(seeded: Deps) -> dict[str, Any]:
    db = seeded.db
    today = local_today()
    yesterday = today - timedelta(days=1)
    # Every room here opens by its hours; XSG-006 is closed for good and must not count as "not opened".
    await db.rooms.update_many({"code": {"$in": [*XSG, GG]}}, {"$set": {"opening_hours": HOURS, "status": "active"}})
    await db.rooms.update_one({"code": "JN-XSG-006"}, {"$set": {"opening_hours": {}}})

    # offline conflicts: two open at XSG-001, one resolved at XSG-002, one open at GG-001
    await db.offline_conflicts.insert_many([
        {"room": "JN-XSG-001", "code": "copy_out_to_another", "resolved": False, "title_id": "T1", "op_id": "a"},
        {"room": "JN-XSG-001", "code": "unknown_card", "resolved": False, "title_id": "T2", "op_id": "b"},
        {"room": "JN-XSG-002", "code": "unknown_card", "resolved": True, "title_id": "T3", "op_id": "c"},
        {"room": GG, "code": "unknown_card", "resolved": False, "title_id": "T4", "op_id": "d"},
    ])

    # shipments of this year's plan
    plan = ObjectId()
    ship = {n: ObjectId() for n in range(1, 8)}

    def shipment(n: int, room: str, status: str, dispatched_days_ago: int | None = None, year: int = today.year):
        stamps = {"planned": at(today - timedelta(days=60))}
        if dispatched_days_ago is not None:
            stamps["dispatched"] = at(today - timedelta(days=dispatched_days_ago))
        return {"_id": ship[n], "plan_id": plan, "year": year, "room": room, "status": status, "timestamps": stamps}

    await db.dist_shipments.insert_many([
        shipment(1, "JN-XSG-001", "dispatched", dispatched_days_ago=10),  # overdue: 3 days past the 7
        shipment(2, "JN-XSG-002", "dispatched", dispatched_days_ago=2),  # still within the 7 days
        shipment(3, "JN-XSG-003", "packed"),  # on yesterday's route, still not delivered: overdue
        shipment(4, "JN-XSG-004", "received", dispatched_days_ago=20),  # received: fine
        shipment(5, "JN-XSG-005", "packed"),  # only on a superseded route: not overdue
        {**shipment(6, "JN-XSG-006", "dispatched", dispatched_days_ago=400), "year": today.year - 1,
         "plan_id": ObjectId()},  # last year's plan: not this alert's business
        shipment(7, GG, "dispatched", dispatched_days_ago=30),  # overdue, other town
    ])

    def route(day: date, stops: list[tuple[str, int]], superseded: bool = False) -> dict[str, Any]:
        return {"_id": ObjectId(), "date": day.isoformat(), "plan_id": plan,
                "stops_in": [{"room": r, "boxes": 2, "shipment_id": str(ship[n])} for r, n in stops],
                "routes": [{"truck": "车1", "stops": [{"room": r} for r, _ in stops]}],
                "superseded_by": ObjectId() if superseded else None}

    await db.dist_routes.insert_many([
        route(yesterday, [("JN-XSG-003", 3)]),
        route(yesterday, [("JN-XSG-005", 5)], superseded=True),
        route(today + timedelta(days=3), [("JN-XSG-005", 5)]),
    ])

    # ratings: an open objection in 咸水沽镇, a dismissed one there, an open one in 葛沽镇
    rnd = ObjectId()
    await db.rating_rounds.insert_one({"_id": rnd, "year": today.year, "kind": "model_room", "level": "district",
                                       "title": f"{today.year} 年区级示范书屋评选", "status": "publicity"})
    e1, e2 = ObjectId(), ObjectId()
    await db.rating_entries.insert_many([
        {"_id": e1, "round_id": rnd, "subject_key": "room:JN-XSG-002", "town": "咸水沽镇",
         "subject": {"type": "room", "room": "JN-XSG-002", "name": "二号书屋"}, "status": "shortlisted"},
        {"_id": e2, "round_id": rnd, "subject_key": f"room:{GG}", "town": "葛沽镇",
         "subject": {"type": "room", "room": GG, "name": "葛沽书屋"}, "status": "shortlisted"},
    ])
    await db.rating_objections.insert_many([
        {"round_id": rnd, "entry_id": e1, "text": "开放时间不实", "status": "open", "at": at(yesterday)},
        {"round_id": rnd, "entry_id": e1, "text": "重复", "status": "dismissed", "at": at(yesterday)},
        {"round_id": rnd, "entry_id": e2, "text": "藏书不足", "status": "open", "at": at(yesterday)},
    ])

    # training: XSG-001's administrator holds an induction certificate, XSG-002's does not
    admin1 = await db.staff.find_one({"username": "jn-xsg-001"})
    assert admin1
    await db.staff.update_many({"role": "room_admin", "rooms": {"$in": ["JN-XSG-002", "JN-XSG-003"]}},
                               {"$set": {"active": True}})
    await db.training_certificates.insert_one({
        "staff_id": str(admin1["_id"]), "kind": "induction", "revoked": False, "number": "JN-PX-0001",
        "issued_on": f"{today.year}-01-05", "hours": 8})

    # signs of life in the last 14 days: a return at 001 (loan lent long ago), a check-in at
    # 002, an activity at 003, a family visit at 004; 005 had a loan 20 days ago only
    await db.loans.insert_many([
        {"room": "JN-XSG-009", "reader_id": None, "title_id": "T1", "lent_at": at(today - timedelta(days=40)),
         "returned_at": at(yesterday), "returned_room": "JN-XSG-001", "renewed_at": []},
        {"room": "JN-XSG-005", "reader_id": None, "title_id": "T1", "lent_at": at(today - timedelta(days=20)),
         "returned_at": None, "returned_room": None, "renewed_at": []},
    ])
    await db.room_openings.insert_one({"_id": f"JN-XSG-002:{yesterday}", "room": "JN-XSG-002",
                                       "day": yesterday.isoformat(), "by": "jn-xsg-002"})
    await db.room_activities.insert_one({"room": "JN-XSG-003", "town": "咸水沽镇", "held_on": yesterday.isoformat(),
                                         "title": "读书会", "kind": "读书会", "attendance": 8})
    await db.room_visits.insert_one({"_id": f"JN-XSG-004:{yesterday}", "room": "JN-XSG-004",
                                     "day": yesterday.isoformat(), "visits": 3})
    return {"today": today, "round": rnd}


async def scope_rooms(deps: Deps, flt: dict[str, Any]) -> list[dict[str, Any]]:
    return await deps.db.rooms.find(flt, {"code": 1, "name": 1, "town": 1, "status": 1, "opening_hours": 1}
                                    ).sort("code", 1).to_list()


async def test_every_kind_on_hand_built_data(deps, data):
    rooms = await scope_rooms(deps, {"code": {"$in": [*XSG, GG]}})
    alerts = by_key(await district_alerts(deps, rooms, data["today"]))
    assert list(alerts) == ["offline_conflicts", "overdue_shipments", "open_objections", "untrained_admins",
                            "not_opened"]

    conflicts = alerts["offline_conflicts"]
    assert conflicts.count == 2 and codes_in(conflicts) == ["JN-XSG-001", GG]  # most conflicts first
    assert conflicts.items[0].detail.startswith("2 条")
    assert conflicts.items[0].href == "/console/offline-conflicts?room=JN-XSG-001"

    shipments = alerts["overdue_shipments"]
    assert sorted(codes_in(shipments)) == sorted(["JN-XSG-001", "JN-XSG-003", GG])
    assert shipments.count == 3 and shipments.severity == "high"
    assert codes_in(shipments)[0] == GG  # the longest overdue first (30 − 7 days)
    assert all(i.href == f"/console/rooms/{c}" for i, c in zip(shipments.items, codes_in(shipments), strict=True))
    item3 = shipments.items[codes_in(shipments).index("JN-XSG-003")]
    assert "配送日" in item3.detail and "已装箱" in item3.detail

    objections = alerts["open_objections"]
    assert objections.count == 2
    assert all(i.href == f"/console/ratings/rounds/{data['round']}" for i in objections.items)

    untrained = alerts["untrained_admins"]
    flagged = codes_in(untrained)
    assert "JN-XSG-001" not in flagged  # inducted
    assert "JN-XSG-002" in flagged and "JN-XSG-003" in flagged
    assert all(i.href.startswith("/console/rooms/JN-") for i in untrained.items)

    quiet = alerts["not_opened"]
    # 001–004 showed a sign of life, 005's only loan is 20 days old, 006 has no hours: only 005 and GG
    assert codes_in(quiet) == ["JN-GG-001", "JN-XSG-005"]
    assert quiet.count == 2


async def test_town_scope_leaves_other_towns_out(deps, data):
    rooms = await scope_rooms(deps, {"code": {"$in": XSG}})
    alerts = by_key(await district_alerts(deps, rooms, data["today"]))
    for alert in alerts.values():
        assert GG not in codes_in(alert), alert.key
        assert all("葛沽" not in i.label for i in alert.items), alert.key
    assert alerts["offline_conflicts"].count == 1
    assert alerts["open_objections"].count == 1
    assert alerts["overdue_shipments"].count == 2
    assert codes_in(alerts["not_opened"]) == ["JN-XSG-005"]


async def test_items_are_capped_but_count_is_full(deps, data):
    rooms = await scope_rooms(deps, {})
    alerts = by_key(await district_alerts(deps, rooms, data["today"]))
    quiet = alerts["not_opened"]
    assert quiet.count > ALERT_ITEMS
    assert len(quiet.items) == ALERT_ITEMS
    assert quiet.href == "/console/rooms"


async def test_room_docs_without_hours_are_completed(deps, data):
    """A caller that projected only code and name still gets the not-opened alert right."""
    rooms = await deps.db.rooms.find({"code": {"$in": XSG}}, {"code": 1, "name": 1}).to_list()
    alerts = by_key(await district_alerts(deps, rooms, data["today"]))
    assert codes_in(alerts["not_opened"]) == ["JN-XSG-005"]


async def test_no_rooms_no_alerts(deps, data):
    alerts = await district_alerts(deps, [], data["today"])
    assert [a.count for a in alerts] == [0, 0, 0, 0, 0]
    assert all(a.severity == "low" for a in alerts)


async def test_command_count_does_not_grow_with_rooms(deps, data, command_counter):
    few = await scope_rooms(deps, {"code": {"$in": XSG[:3]}})
    everything = await scope_rooms(deps, {})
    assert len(everything) >= 100
    command_counter.reset()
    await district_alerts(deps, few, data["today"])
    small = len(command_counter.commands)
    command_counter.reset()
    await district_alerts(deps, everything, data["today"])
    large = len(command_counter.commands)
    assert small == large, (command_counter.commands,)
    assert large <= 14


def test_shipment_due_rules():
    today = date(2026, 5, 20)
    sid = ObjectId()
    dispatched = {"_id": sid, "status": "dispatched",
                  "timestamps": {"dispatched": at(date(2026, 5, 10))}}
    assert shipment_due(dispatched, {}) == (date(2026, 5, 17), "2026-05-10 发货")
    assert shipment_due({**dispatched, "status": "packed"}, {}) is None
    assert shipment_due(dispatched, {str(sid): "2026-05-19"}) == (date(2026, 5, 19), "配送日 2026-05-19")
    assert shipment_due(dispatched, {str(sid): "2026-05-19"})[0] < today
