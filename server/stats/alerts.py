"""The dashboard's alerts: what needs the district office's attention today.

Five kinds, each read in a fixed number of Mongo commands whatever the number of rooms
(HOW_WE_BUILD §6): rooms with unresolved offline-sync conflicts, overdue shipments, open
rating objections, administrators without induction training, rooms with no sign of being
open for two weeks. The rules that turn the data into alerts are pure functions below.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

from server.circulation import offline_repo
from server.circulation.rules import LOCAL_TZ
from server.resources import Deps
from server.stats import roomstats
from server.stats.models import Alert, AlertItem
from server.stats.period import Period
from training.certificates.requirements import training_status
from training.ratings import repo as ratings_repo
from training.ratings.metrics import repo as metrics_repo

ALERT_ITEMS = 8  # items listed under an alert; ``count`` is the full number
# A dispatched shipment should be counted in at the room within this many days.
OVERDUE_DISPATCH_DAYS = 7
# A room that opens by its hours shows some sign of life (a loan, a check-in …) within this.
NOT_OPENED_DAYS = 14
# Shipments still on their way (not yet counted in at the room).
OPEN_SHIPMENT_STATES = ("ordered", "packed", "dispatched")
SHIPMENT_STATE_LABELS = {"ordered": "已下单", "packed": "已装箱", "dispatched": "已发货"}
SHIPMENTS = "dist_shipments"
ROUTES = "dist_routes"


def room_label(room: dict[str, Any]) -> str:
    return f"{room.get('name') or room['code']}（{room['code']}）"


def room_href(code: str) -> str:
    return f"/console/rooms/{code}"


def _alert(key: str, label: str, items: list[AlertItem], *, severity: str, href: str | None,
           count: int | None = None) -> Alert:
    n = len(items) if count is None else count
    return Alert(key=key, label=label, count=n, severity=severity if n else "low",  # type: ignore[arg-type]
                 items=items[:ALERT_ITEMS], href=href)


# -- pure rules -------------------------------------------------------------------------------------


def conflicts_alert(rooms: dict[str, dict[str, Any]], open_by_room: dict[str, int]) -> Alert:
    ranked = sorted(((c, n) for c, n in open_by_room.items() if c in rooms and n), key=lambda x: (-x[1], x[0]))
    items = [AlertItem(label=room_label(rooms[c]), detail=f"{n} 条离线同步冲突待处理",
                       href=f"/console/offline-conflicts?room={c}") for c, n in ranked]
    return _alert("offline_conflicts", "离线同步冲突未处理", items, severity="medium",
                  href="/console/offline-conflicts")


def shipment_due(shipment: dict[str, Any], route_days: dict[str, str]) -> tuple[date, str] | None:
    """When ``shipment`` should have been received, and why (pure): the delivery day of the route
    that carries it, else ``OVERDUE_DISPATCH_DAYS`` after it was dispatched; None if neither."""
    day = route_days.get(str(shipment["_id"]))
    if day:
        return date.fromisoformat(day), f"配送日 {day}"
    dispatched = (shipment.get("timestamps") or {}).get("dispatched")
    if shipment.get("status") == "dispatched" and isinstance(dispatched, datetime):
        sent = (dispatched if dispatched.tzinfo else dispatched.replace(tzinfo=UTC)).astimezone(LOCAL_TZ).date()
        return sent + timedelta(days=OVERDUE_DISPATCH_DAYS), f"{sent.isoformat()} 发货"
    return None


def shipments_alert(rooms: dict[str, dict[str, Any]], shipments: list[dict[str, Any]],
                    route_days: dict[str, str], today: date) -> Alert:
    """Shipments of this year's plan not yet received although their delivery day (route) has
    passed, or dispatched more than ``OVERDUE_DISPATCH_DAYS`` days ago."""
    late: list[tuple[int, str, AlertItem]] = []
    for s in shipments:
        if s.get("room") not in rooms or s.get("status") not in OPEN_SHIPMENT_STATES:
            continue
        due = shipment_due(s, route_days)
        if due is None or due[0] >= today:
            continue
        days = (today - due[0]).days
        state = SHIPMENT_STATE_LABELS.get(s["status"], s["status"])
        late.append((days, s["room"], AlertItem(
            label=room_label(rooms[s["room"]]), detail=f"{due[1]}，逾期 {days} 天仍为「{state}」",
            href=room_href(s["room"]))))
    late.sort(key=lambda x: (-x[0], x[1]))
    return _alert("overdue_shipments", "配送逾期未签收", [x[2] for x in late], severity="high",
                  href="/console/distribution/shipments")


def objections_alert(rooms: dict[str, dict[str, Any]], objections: list[dict[str, Any]],
                     entries: dict[Any, dict[str, Any]], rounds: dict[Any, dict[str, Any]]) -> Alert:
    """Open objections against entries whose room is in scope, oldest first."""
    items = []
    for o in sorted(objections, key=lambda o: o.get("at") or datetime.min.replace(tzinfo=UTC)):
        entry = entries.get(o.get("entry_id"))
        if entry is None or (entry.get("subject") or {}).get("room") not in rooms:
            continue
        rnd = rounds.get(o.get("round_id")) or {}
        at = o.get("at")
        when = at.astimezone(LOCAL_TZ).date().isoformat() if isinstance(at, datetime) and at.tzinfo else ""
        items.append(AlertItem(label=f"{entry['subject'].get('name', '')}（{rnd.get('title') or '评选'}）",
                               detail=f"{when} 提出异议，待处理".strip(),
                               href=f"/console/ratings/rounds/{o['round_id']}"))
    return _alert("open_objections", "公示异议待处理", items, severity="high", href="/console/ratings")


def untrained_alert(rooms: dict[str, dict[str, Any]], admins: dict[str, list[dict[str, Any]]],
                    inducted: dict[str, bool]) -> Alert:
    """One item per (room, administrator) without an induction certificate; counted per person."""
    items, people = [], set()
    for code in sorted(admins):
        if code not in rooms:
            continue
        for a in sorted(admins[code], key=lambda a: a.get("username", "")):
            if not inducted.get(str(a["_id"]), False):
                people.add(str(a["_id"]))
                items.append(AlertItem(label=room_label(rooms[code]),
                                       detail=f"管理员 {a.get('name') or a.get('username')} 未取得岗前培训证书",
                                       href=room_href(code)))
    return _alert("untrained_admins", "管理员未参加岗前培训", items, severity="medium", href="/console/training",
                  count=len(people))


def opens_by_hours(room: dict[str, Any]) -> bool:
    return room.get("status", "active") == "active" and any((room.get("opening_hours") or {}).values())


def not_opened_alert(rooms: dict[str, dict[str, Any]], alive: set[str], period: Period) -> Alert:
    """Active rooms whose hours say they open but that showed no sign of it in ``period``."""
    quiet = [c for c in sorted(rooms) if opens_by_hours(rooms[c]) and c not in alive]
    items = [AlertItem(label=room_label(rooms[c]),
                       detail=f"{period.first.isoformat()} 以来无借还、开馆签到、活动或到馆记录",
                       href=room_href(c)) for c in quiet]
    return _alert("not_opened", f"书屋连续 {NOT_OPENED_DAYS} 天无开放迹象", items, severity="medium",
                  href="/console/rooms")


# -- reads ------------------------------------------------------------------------------------------


async def _open_conflicts(deps: Deps, codes: list[str]) -> dict[str, int]:
    rows = await (await deps.db[offline_repo.CONFLICTS].aggregate([
        {"$match": {"room": {"$in": codes}, "resolved": False}},
        {"$group": {"_id": "$room", "n": {"$sum": 1}}}])).to_list()
    return {r["_id"]: int(r["n"]) for r in rows}


async def _open_shipments(deps: Deps, codes: list[str], today: date) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """This year's shipments still on their way, and the delivery day of the (current) route
    that carries each of them, by shipment id."""
    shipments = await deps.db[SHIPMENTS].find(
        {"year": today.year, "room": {"$in": codes}, "status": {"$in": list(OPEN_SHIPMENT_STATES)}},
        {"room": 1, "status": 1, "timestamps": 1, "plan_id": 1}).to_list()
    if not shipments:
        return [], {}
    routes = await deps.db[ROUTES].find(
        {"superseded_by": None, "stops_in.shipment_id": {"$in": [str(s["_id"]) for s in shipments]}},
        {"date": 1, "stops_in": 1, "routes.stops.room": 1}).to_list()
    days: dict[str, str] = {}
    for r in routes:
        served = {s["room"] for t in r.get("routes", []) for s in t.get("stops", [])}
        for stop in r.get("stops_in", []):
            sid = stop.get("shipment_id")
            if sid and stop.get("room") in served:
                days[sid] = max(days.get(sid, ""), r["date"])
    return shipments, days


async def _open_objections(deps: Deps) -> tuple[list[dict[str, Any]], dict[Any, dict[str, Any]],
                                                dict[Any, dict[str, Any]]]:
    objections = await deps.db[ratings_repo.OBJECTIONS].find(
        {"status": "open"}, {"round_id": 1, "entry_id": 1, "at": 1}).to_list()
    if not objections:
        return [], {}, {}
    entries = await deps.db[ratings_repo.ENTRIES].find(
        {"_id": {"$in": list({o["entry_id"] for o in objections})}}, {"subject": 1, "town": 1}).to_list()
    rounds = await deps.db[ratings_repo.ROUNDS].find(
        {"_id": {"$in": list({o["round_id"] for o in objections})}}, {"title": 1, "year": 1}).to_list()
    return objections, {e["_id"]: e for e in entries}, {r["_id"]: r for r in rounds}


async def _alive(deps: Deps, codes: list[str], today: date) -> tuple[set[str], Period]:
    """Rooms with any sign of being open (circulation, a check-in, an activity, a visit) in the
    quiet period, and that period. Read from the signals folded nightly (``roomstats.recent``:
    scanning loans on every view costs seconds): the period ends on the last day the fold covers."""
    recent = await roomstats.recent(deps, codes, today)
    folded_to = max((d.get("last") or "" for d in recent.values()), default="")
    period = _quiet_period(min(today, date.fromisoformat(folded_to)) if folded_to else today)
    first = period.first.isoformat()
    return {c for c, d in recent.items() if (d.get("last_sign") or "") >= first}, period


async def district_alerts(deps: Deps, rooms: list[dict[str, Any]], today: date) -> list[Alert]:
    """Alerts for ``rooms`` (the room docs in the viewer's scope: code, name, status,
    opening_hours …) as of local day ``today``. About 12 Mongo commands whatever the number
    of rooms; nothing is written."""
    by_code = {r["code"]: r for r in rooms if r.get("code")}
    codes = sorted(by_code)
    if not codes:
        return [conflicts_alert({}, {}), shipments_alert({}, [], {}, today), objections_alert({}, [], {}, {}),
                untrained_alert({}, {}, {}), not_opened_alert({}, set(), _quiet_period(today))]
    lacking = [c for c in codes if "opening_hours" not in by_code[c] or "status" not in by_code[c]]
    if lacking:  # the caller's projection left out what the not-opened rule needs: one read
        for d in await deps.db["rooms"].find({"code": {"$in": lacking}},
                                             {"code": 1, "name": 1, "status": 1, "opening_hours": 1}).to_list():
            by_code[d["code"]] = {**d, **by_code[d["code"]]}
    conflicts = await _open_conflicts(deps, codes)
    shipments, route_days = await _open_shipments(deps, codes, today)
    objections, entries, rounds = await _open_objections(deps)
    admins = await metrics_repo.administrators(deps.db, codes)
    status = await training_status(deps, sorted({str(a["_id"]) for lst in admins.values() for a in lst}), today.year)
    alive, period = await _alive(deps, codes, today)
    return [
        conflicts_alert(by_code, conflicts),
        shipments_alert(by_code, shipments, route_days, today),
        objections_alert(by_code, objections, entries, rounds),
        untrained_alert(by_code, admins, {k: v.inducted for k, v in status.items()}),
        not_opened_alert(by_code, alive, period),
    ]


def _quiet_period(today: date) -> Period:
    return Period(first=today - timedelta(days=NOT_OPENED_DAYS - 1), last=today, today=today)


def alert_counts(alerts: list[Alert]) -> Counter[str]:
    """key → count (for summaries and tests)."""
    return Counter({a.key: a.count for a in alerts})

