"""Delivery route plans: gather the stops (shipments or an explicit list), build the routing
problem from the rooms' positions and opening hours, solve it in a worker thread, store the
plan with the matrix settings it used, audit it; re-plan; route sheets.

Errors: InvalidInput (422, naming the field) for unknown rooms, trucks or shipments;
NotFound for an unknown plan; Conflict for a re-plan of a superseded plan.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import httpx
from bson import ObjectId
from bson.errors import InvalidId

from distribution import routing
from distribution.matrix import (
    CachedMatrixProvider,
    GreatCircleProvider,
    Matrix,
    MatrixError,
    OsrmTableProvider,
)
from distribution.routes import repo
from distribution.routes.models import (
    MatrixSettings,
    ReplanIn,
    RouteListQuery,
    RouteOut,
    RoutePlanIn,
    RoutePlanList,
    RoutePlanOut,
    RoutePlanSummary,
    SiteOut,
    StopIn,
    StopOut,
    TruckIn,
    TruckOut,
    UnservedOut,
)
from server.audit import repo as audit
from server.district import District, Site
from server.errors import Conflict, FieldProblem, InvalidInput, NotFound
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

log = logging.getLogger("shuwu.routes")
# A district without a library position starts trucks at its first town's centre.
_providers: dict[tuple[float, float], CachedMatrixProvider] = {}


def depot_of(district: District) -> Site:
    if district.library is not None:
        return district.library
    town = district.towns[0]
    return Site(name=f"{district.name}图书馆", lat=town.lat, lng=town.lng)


def _provider(circuity: float, speed_kmh: float) -> CachedMatrixProvider:
    key = (round(circuity, 3), round(speed_kmh, 3))
    if key not in _providers:
        _providers[key] = CachedMatrixProvider(GreatCircleProvider(circuity=key[0], speed_kmh=key[1]))
    return _providers[key]


_osrm: dict[tuple[str, int], CachedMatrixProvider] = {}


def _osrm_provider(deps: Deps) -> CachedMatrixProvider:
    """Road distances from the configured OSRM server (cached like the straight-line ones)."""
    url = deps.settings.routing_osrm_url

    async def fetch(request_url: str) -> dict[str, Any]:
        response = await deps.http.get(request_url)
        response.raise_for_status()
        payload = response.json()
        return payload if isinstance(payload, dict) else {}

    key = (url, id(deps.http))  # one per HTTP client: a provider must not outlive the client it calls
    if key not in _osrm:
        _osrm[key] = CachedMatrixProvider(OsrmTableProvider(base_url=url, fetch=fetch))
    return _osrm[key]


def _oid(value: str, what: str = "路线方案") -> ObjectId:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        raise NotFound(f"没有这个{what}", code="route_plan_not_found") from None


def _room_snapshot(doc: dict[str, Any], weekday: int) -> dict[str, Any]:
    lng, lat = doc["location"]["coordinates"]
    return {"code": doc["code"], "name": doc["name"], "town": doc["town"], "address": doc.get("address", ""),
            "lat": lat, "lng": lng, "phone": doc.get("phone"),
            "hours": list(doc.get("opening_hours", {}).get(routing.WEEKDAY_KEYS[weekday], []) or [])}


def build_problem(depot: Site, rooms: Sequence[dict[str, Any]], boxes: dict[str, int], trucks: Sequence[TruckIn],
                  weekday: int, matrix: Matrix) -> routing.Problem:
    """The routing problem for ``rooms`` (snapshots: code, lat, lng, hours) in that order;
    ``matrix`` covers the depot then the rooms. Pure."""
    origin = (depot.lat, depot.lng)
    stops = []
    for room in rooms:
        service = routing.service_seconds(boxes[room["code"]])
        windows = routing.room_windows({routing.WEEKDAY_KEYS[weekday]: room["hours"]}, weekday, service)
        stops.append(routing.Stop(room["code"], boxes[room["code"]], windows, service,
                                  routing.planar_xy(room["lat"], room["lng"], origin)))
    return routing.Problem(
        stops=tuple(stops),
        trucks=tuple(routing.Truck(t.name, t.capacity_boxes, routing.hhmm_to_s(t.start), routing.hhmm_to_s(t.end))
                     for t in trucks),
        distances_m=matrix.distances_m, durations_s=matrix.durations_s,
    )


async def _stops_from_request(deps: Deps, data: RoutePlanIn) -> list[dict[str, Any]]:
    """[{room, boxes, shipment_id}] from ``stops``, ``shipment_ids`` or the plan's shipments."""
    if data.stops is not None:
        return [{"room": s.room, "boxes": s.boxes, "shipment_id": None} for s in data.stops]
    ids = [ObjectId(i) for i in data.shipment_ids] if data.shipment_ids is not None else None
    docs = await repo.shipments(deps.db, ids=ids, plan_id=ObjectId(data.plan_id) if data.plan_id else None)
    if ids is not None:
        found = {d["_id"] for d in docs}
        if missing := [n for n, i in enumerate(ids) if i not in found]:
            raise InvalidInput("有发货单不存在", code="shipment_not_found",
                               errors=[FieldProblem(("body", "shipment_ids", n), "没有这个发货单") for n in missing])
    if not docs:
        raise InvalidInput("这个计划没有待配送（已下单或已装箱）的发货单，请直接提供 stops", code="no_shipments",
                           errors=[FieldProblem(("body", "plan_id"), "没有待配送的发货单")])
    rooms = [d["room"] for d in docs]
    if len(set(rooms)) != len(rooms):
        raise InvalidInput("同一书屋有多张发货单", code="duplicate_room",
                           errors=[FieldProblem(("body", "shipment_ids"), "同一书屋有多张发货单")])
    return [{"room": d["room"], "boxes": max(1, len(d.get("boxes") or [])), "shipment_id": str(d["_id"])}
            for d in docs]


async def _room_snapshots(deps: Deps, stops: list[dict[str, Any]], weekday: int, field: str) -> list[dict[str, Any]]:
    codes = [s["room"] for s in stops]
    docs = await repo.rooms_by_code(deps.db, codes)
    bad = [n for n, c in enumerate(codes) if c not in docs or docs[c].get("status") != "active"]
    if bad:
        raise InvalidInput("有书屋不存在或已停用", code="room_not_found",
                           errors=[FieldProblem(("body", field, n, "room"), "没有这个书屋或书屋已停用") for n in bad])
    return [_room_snapshot(docs[c], weekday) for c in codes]


async def _solve_and_store(deps: Deps, actor: Actor, *, day: date, plan_id: ObjectId | None,
                           trucks: list[TruckIn], stops: list[dict[str, Any]], rooms: list[dict[str, Any]],
                           params: dict[str, Any], previous: dict[str, Any] | None = None,
                           change: ReplanIn | None = None) -> RoutePlanOut:
    depot = depot_of(deps.settings.district)
    points = [(depot.lat, depot.lng), *((r["lat"], r["lng"]) for r in rooms)]
    provider: CachedMatrixProvider = _provider(params["circuity_factor"], params["speed_kmh"])
    fallback: str | None = None
    if deps.settings.routing_osrm_url:
        road = _osrm_provider(deps)
        try:
            matrix = await road.matrix(points)
            provider = road
        except (MatrixError, httpx.HTTPError, ValueError) as exc:
            # Deliveries are planned anyway: the straight-line estimate, and the plan says so.
            log.warning("OSRM unusable (%s); routing on straight-line distances", exc)
            fallback = f"OSRM 不可用（{type(exc).__name__}），改用直线距离估算"
            matrix = await provider.matrix(points)
    else:
        matrix = await provider.matrix(points)
    boxes = {s["room"]: s["boxes"] for s in stops}
    problem = build_problem(depot, rooms, boxes, trucks, day.weekday(), matrix)
    if previous is None or change is None:
        result = await asyncio.to_thread(routing.solve, problem, time_limit_s=params["time_limit_secs"],
                                         seed=params["seed"])
    else:
        before = [(r["truck"], [s["room"] for s in r["stops"]]) for r in previous["routes"]]
        result = await asyncio.to_thread(
            routing.replan, problem, before, dispatched=change.dispatched, unavailable=change.unavailable_trucks,
            time_limit_s=params["time_limit_secs"], seed=params["seed"])
    doc = _document(day, plan_id, depot, trucks, stops, rooms, result, params,
                    {**provider.settings(), "fallback": fallback}, actor)
    if previous is not None:
        doc["replanned_from"] = previous["_id"]

    async def work(session: Any) -> None:
        await repo.insert(deps.db, doc, session=session)
        if previous is not None and not await repo.mark_superseded(deps.db, previous["_id"], doc["_id"],
                                                                   session=session):
            raise Conflict("这个路线方案刚被重新规划过，请刷新后再试", code="route_plan_superseded")
        changes: dict[str, Any] = {"date": doc["date"], "stops": len(stops), "trucks": [t.name for t in trucks],
                                   "distance_m": doc["distance_m"], "unserved": len(doc["unserved"])}
        if change is not None:
            changes |= {"replanned_from": str(previous["_id"]) if previous else None,
                        "unavailable_trucks": change.unavailable_trucks,
                        "add_stops": [s.room for s in change.add_stops], "dispatched": change.dispatched}
        await audit.record(deps.db, actor, "distribution.routes.replan" if previous else "distribution.routes.create",
                           target_type="dist_route", target_id=str(doc["_id"]), changes=changes, session=session)

    await in_transaction(deps.mongo, work)
    return await _out(deps, doc)


def _document(day: date, plan_id: ObjectId | None, depot: Site, trucks: list[TruckIn], stops: list[dict[str, Any]],
              rooms: list[dict[str, Any]], result: routing.RoutingResult, params: dict[str, Any],
              matrix_settings: dict[str, Any], actor: Actor) -> dict[str, Any]:
    caps = {t.name: t.capacity_boxes for t in trucks}
    return {
        "_id": ObjectId(), "date": day.isoformat(), "plan_id": plan_id,
        "depot": {"name": depot.name, "lat": depot.lat, "lng": depot.lng},
        "trucks": [t.model_dump() for t in trucks],
        "stops_in": stops,
        "rooms": {r["code"]: r for r in rooms},
        "routes": [{
            "truck": r.truck, "capacity_boxes": caps[r.truck], "depart_s": r.depart_s, "return_s": r.return_s,
            "distance_m": r.distance_m, "duration_s": r.duration_s, "boxes": r.boxes, "feasible": r.feasible,
            "fixed": r.fixed,
            "stops": [{"room": s.key, "boxes": s.boxes, "arrival_s": s.arrival_s, "start_s": s.start_s,
                       "departure_s": s.departure_s, "window": list(s.window), "load_on_arrival": s.load_on_arrival,
                       "distance_from_prev_m": s.distance_from_prev_m} for s in r.stops],
        } for r in result.routes],
        "unserved": [{"room": u.key, "reason": u.reason} for u in result.unserved],
        "distance_m": result.distance_m, "duration_s": result.duration_s,
        "feasible": result.feasible and not any(not r.feasible for r in result.routes),
        "matrix": {k: matrix_settings.get(k) for k in ("provider", "circuity_factor", "speed_kmh", "base_url",
                                                       "fallback")},
        "solver": {**{k: v for k, v in result.solver.items() if isinstance(v, (str, int, float, bool, list))},
                   "wall_secs": result.wall_secs},
        "params": params,
        "service_base_s": routing.SERVICE_BASE_S, "service_per_box_s": routing.SERVICE_PER_BOX_S,
        "replanned_from": None, "superseded_by": None,
        "created_at": db_now(), "created_by": actor.username,
    }


async def _out(deps: Deps, doc: dict[str, Any]) -> RoutePlanOut:
    rooms: dict[str, dict[str, Any]] = doc["rooms"]
    admins = await repo.administrators_of(deps.db, list(rooms))
    names: dict[str, list[str]] = {}
    for a in admins:
        for code in a.get("rooms", []):
            names.setdefault(code, []).append(a["name"])
    shipment_of = {s["room"]: s.get("shipment_id") for s in doc["stops_in"]}
    boxes_of = {s["room"]: s["boxes"] for s in doc["stops_in"]}
    hhmm = routing.s_to_hhmm
    routes = []
    for r in doc["routes"]:
        stops = []
        for n, s in enumerate(r["stops"], start=1):
            room = rooms[s["room"]]
            stops.append(StopOut(
                seq=n, room=s["room"], name=room["name"], town=room["town"], address=room["address"],
                lat=room["lat"], lng=room["lng"], boxes=s["boxes"], arrival=hhmm(s["arrival_s"]),
                service_start=hhmm(s["start_s"]), departure=hhmm(s["departure_s"]),
                window=f"{hhmm(s['window'][0])}-{hhmm(s['window'][1])}", opening_hours=room["hours"],
                load_on_arrival=s["load_on_arrival"], distance_from_prev_m=s["distance_from_prev_m"],
                phone=room.get("phone"), administrators=names.get(s["room"], []),
                shipment_id=shipment_of.get(s["room"])))
        routes.append(RouteOut(truck=r["truck"], capacity_boxes=r["capacity_boxes"], depart=hhmm(r["depart_s"]),
                               back=hhmm(r["return_s"]), distance_m=r["distance_m"], duration_s=r["duration_s"],
                               boxes=r["boxes"], feasible=r["feasible"], fixed=r["fixed"], stops=stops))
    return RoutePlanOut(
        id=str(doc["_id"]), date=date.fromisoformat(doc["date"]),
        plan_id=str(doc["plan_id"]) if doc.get("plan_id") else None,
        depot=SiteOut(**doc["depot"]), trucks=[TruckOut(**t) for t in doc["trucks"]], routes=routes,
        unserved=[UnservedOut(room=u["room"], name=rooms[u["room"]]["name"], boxes=boxes_of[u["room"]],
                              reason=u["reason"], reason_text=routing.REASONS[u["reason"]]) for u in doc["unserved"]],
        distance_m=doc["distance_m"], duration_s=doc["duration_s"], boxes=sum(boxes_of.values()),
        feasible=doc["feasible"], matrix=MatrixSettings(**doc["matrix"]), solver=doc["solver"],
        service_base_s=doc["service_base_s"], service_per_box_s=doc["service_per_box_s"],
        replanned_from=str(doc["replanned_from"]) if doc.get("replanned_from") else None,
        superseded_by=str(doc["superseded_by"]) if doc.get("superseded_by") else None,
        created_at=doc["created_at"], created_by=doc["created_by"],
    )


async def create_route_plan(deps: Deps, actor: Actor, data: RoutePlanIn) -> RoutePlanOut:
    """Plan the routes for ``data.date`` and store them (audited). InvalidInput for unknown
    rooms or shipments, or a plan with nothing to deliver."""
    stops = await _stops_from_request(deps, data)
    field = "stops" if data.stops is not None else "shipment_ids"
    rooms = await _room_snapshots(deps, stops, data.date.weekday(), field)
    params = {"time_limit_secs": data.time_limit_secs, "seed": data.seed,
              "circuity_factor": data.circuity_factor, "speed_kmh": data.speed_kmh}
    return await _solve_and_store(deps, actor, day=data.date, plan_id=ObjectId(data.plan_id) if data.plan_id else None,
                                  trucks=data.trucks, stops=stops, rooms=rooms, params=params)


async def replan_route_plan(deps: Deps, actor: Actor, route_id: str, data: ReplanIn) -> RoutePlanOut:
    """A new plan from ``route_id`` after a change, dispatched routes kept; the old one is
    marked superseded. Conflict if it already was; InvalidInput naming the wrong field."""
    previous = await _doc(deps, route_id)
    if previous.get("superseded_by"):
        raise Conflict("这个路线方案已被重新规划，请在最新的方案上操作", code="route_plan_superseded")
    trucks = [TruckIn(**t) for t in previous["trucks"]]
    names = {t.name for t in trucks}
    problems = [FieldProblem(("body", "unavailable_trucks", n), "没有这辆车")
                for n, t in enumerate(data.unavailable_trucks) if t not in names]
    on_route = {r["truck"]: {s["room"] for s in r["stops"]} for r in previous["routes"]}
    for truck, done in data.dispatched.items():
        if truck not in names:
            problems.append(FieldProblem(("body", "dispatched", truck), "没有这辆车"))
        problems += [FieldProblem(("body", "dispatched", truck, n), "这个书屋不在该车的路线上")
                     for n, room in enumerate(done) if room not in on_route.get(truck, set())]
    have = {s["room"] for s in previous["stops_in"]}
    problems += [FieldProblem(("body", "add_stops", n, "room"), "这个书屋已在方案中")
                 for n, s in enumerate(data.add_stops) if s.room in have]
    if problems:
        raise InvalidInput("重新规划的内容有误", code="invalid_replan", errors=problems)
    added = [{"room": s.room, "boxes": s.boxes, "shipment_id": None} for s in data.add_stops]
    weekday = date.fromisoformat(previous["date"]).weekday()
    new_rooms = await _room_snapshots(deps, added, weekday, "add_stops") if added else []
    rooms = [previous["rooms"][s["room"]] for s in previous["stops_in"]] + new_rooms
    params = {**previous["params"], "time_limit_secs": data.time_limit_secs, "seed": data.seed}
    return await _solve_and_store(deps, actor, day=date.fromisoformat(previous["date"]),
                                  plan_id=previous.get("plan_id"), trucks=trucks,
                                  stops=[*previous["stops_in"], *added], rooms=rooms, params=params,
                                  previous=previous, change=data)


async def _doc(deps: Deps, route_id: str) -> dict[str, Any]:
    doc = await repo.by_id(deps.db, _oid(route_id))
    if doc is None:
        raise NotFound("没有这个路线方案", code="route_plan_not_found")
    return doc


async def get_route_plan(deps: Deps, route_id: str) -> RoutePlanOut:
    return await _out(deps, await _doc(deps, route_id))


async def list_route_plans(deps: Deps, query: RouteListQuery) -> RoutePlanList:
    docs = await repo.listing(deps.db, day=query.date.isoformat() if query.date else None, limit=query.limit)
    return RoutePlanList(items=[RoutePlanSummary(
        id=str(d["_id"]), date=date.fromisoformat(d["date"]),
        plan_id=str(d["plan_id"]) if d.get("plan_id") else None, trucks=len(d["trucks"]),
        stops=sum(len(r["stops"]) for r in d["routes"]), unserved=len(d["unserved"]), distance_m=d["distance_m"],
        feasible=d["feasible"], superseded_by=str(d["superseded_by"]) if d.get("superseded_by") else None,
        created_at=d["created_at"], created_by=d["created_by"]) for d in docs])


async def route_sheets_pdf(deps: Deps, route_id: str, truck: str | None) -> bytes:
    """Route sheets (PDF) of one truck, or of every truck with stops. NotFound for an unknown truck."""
    from distribution.routes import sheets  # weasyprint is heavy: load it when a sheet is asked for

    plan = await get_route_plan(deps, route_id)
    routes = plan.routes if truck is None else [r for r in plan.routes if r.truck == truck]
    if truck is not None and not routes:
        known = {t.name for t in plan.trucks}
        raise NotFound("这辆车不在方案中" if truck not in known else "这辆车在方案中没有路线",
                       code="truck_not_found")
    return await asyncio.to_thread(sheets.render_pdf, plan, routes, deps.settings.district)


__all__ = ["StopIn", "create_route_plan", "get_route_plan", "list_route_plans", "replan_route_plan",
           "route_sheets_pdf", "build_problem", "depot_of"]
