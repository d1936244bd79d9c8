"""The district's figures for the console: ``dashboard`` (cached in Redis) and
``annual_report`` (reproducible for a past year), in the viewer's scope.

Scope: district roles, inspectors and trainers see the whole district; a town coordinator
their towns; room administrators have no console (Forbidden). Every read is batched over
the scope's rooms (``facts``), so the number of Mongo commands does not grow with them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from server.errors import FieldProblem, Forbidden, InvalidInput
from server.readers.service import local_today
from server.staff.roles import Actor, Role
from server.stats import facts, mapdata, readers_stats, roomstats
from server.stats.alerts import district_alerts
from server.stats.indicators import below_standards
from server.stats.models import AnnualReport, Dashboard, DistrictMap, TownRow
from server.stats.period import Period
from server.stats.yearfacts import (
    FIRST_YEAR,
    Scope,
    YearFacts,
    hours_reasons,
    residents_of,
    year_facts,
)
from training.ratings.metrics.rooms import holdings_standards

if TYPE_CHECKING:
    from server.resources import Deps

log = logging.getLogger("shuwu.stats")
CACHE_PREFIX = "stats:v1:"
OPENING_WINDOW_DAYS = 30


def scope_of(actor: Actor) -> tuple[bool, tuple[str, ...]]:
    """(whole district?, towns). Forbidden for those without the console."""
    if actor.sees_whole_district:
        return True, ()
    if actor.role is Role.TOWN_COORDINATOR:
        return False, tuple(sorted(actor.towns))
    raise Forbidden("书屋管理员不能查看全区统计", code="stats_forbidden")


async def load_scope(deps: Deps, actor: Actor) -> Scope:
    district, towns = scope_of(actor)
    rooms = await facts.scope_rooms(deps.db, {} if district else {"town": {"$in": list(towns)}})
    label = "全区" if district else "、".join(towns) or "（未分配镇街）"
    return Scope(district=district, towns=towns, label=label, key="all" if district else "towns:" + ",".join(towns),
                 rooms=rooms)


def check_year(year: int | None, today: date, field: tuple[str, str] = ("query", "year")) -> int:
    """``year`` (this year when None) if shuwu has figures for it (2012 to this year), else
    InvalidInput naming ``field`` — the one year check of every statistics page, export and API."""
    chosen = today.year if year is None else year
    if not FIRST_YEAR <= chosen <= today.year:
        raise InvalidInput(f"年份应在 {FIRST_YEAR} 至 {today.year} 之间", code="year_out_of_range",
                           errors=[FieldProblem(field, f"年份应在 {FIRST_YEAR} 至 {today.year} 之间")])
    return chosen


# -- cache -----------------------------------------------------------------------------------------


def cache_key(kind: str, year: int, actor: Actor) -> str:
    """The Redis key of ``kind`` (dashboard, report, annual-pdf …) for ``year`` in ``actor``'s scope."""
    district, towns = scope_of(actor)
    return f"{CACHE_PREFIX}{kind}:{year}:{'all' if district else 'towns:' + ','.join(towns)}"


async def invalidate(deps: Deps) -> int:
    """Drop every cached dashboard and report; returns how many entries went. Does not refold
    ``room_stats`` (see ``refresh``)."""
    keys = [k async for k in deps.redis.scan_iter(match=f"{CACHE_PREFIX}*", count=500)]
    return int(await deps.redis.delete(*keys)) if keys else 0


REFRESH_JOB = "stats_refresh"
REFRESH_JOB_ID = "stats-refresh"  # one at a time: a second request while one waits or runs adds nothing


async def request_refresh(deps: Deps) -> bool:
    """Queue ``refresh`` for the worker (folding the ledger and the loans takes seconds to a
    minute, too long for a request). False when one is already queued or running."""
    return await deps.jobs.enqueue_job(REFRESH_JOB, _job_id=REFRESH_JOB_ID) is not None


async def refresh(deps: Deps) -> int:
    """Refold this year's per-room figures and recount its readers, then drop the cache:
    what ``POST /api/v1/stats/refresh`` does after a correction the office wants to see now."""
    today = local_today()
    await roomstats.refresh(deps, today, [today.year])
    await readers_stats.snapshot(deps, today)
    return await invalidate(deps)


async def _cached(deps: Deps, key: str, model: Any, compute: Any) -> Any:
    ttl = int(deps.settings.stats_cache_secs)
    if ttl > 0:
        raw = await deps.redis.get(key)
        if raw:
            try:
                return model.model_validate_json(raw)
            except ValueError:
                log.warning("dropping an unreadable cache entry %s", key)
    value = await compute()
    if ttl > 0:
        await deps.redis.set(key, value.model_dump_json(), ex=ttl)
    return value




# -- the dashboard ---------------------------------------------------------------------------------


async def dashboard(deps: Deps, actor: Actor, year: int | None) -> Dashboard:
    """Indicators, charts, map and alerts for the rooms in ``actor``'s scope in ``year``
    (default: this year). InvalidInput on ("query", "year") outside 2012..this year;
    Forbidden for room administrators. Cached per (year, scope) for ``stats_cache_secs``.
    Reads the per-room figures folded ahead (``roomstats``, ``readers_stats``: nightly, on
    ``refresh``, or once on demand for a year never folded) and small collections only."""
    today = local_today()
    chosen = check_year(year, today)
    key = cache_key("dashboard", chosen, actor)

    async def compute() -> Dashboard:
        scope = await load_scope(deps, actor)
        figures = await year_facts(deps, scope, chosen, today)
        return Dashboard(year=chosen, as_of=figures.as_of, computed_at=datetime.now(UTC), scope=scope.label,
                         indicators=figures.indicators, charts=figures.charts,
                         map=await _map(deps, scope, figures), alerts=await district_alerts(deps, scope.active, today),
                         years=list(range(today.year, FIRST_YEAR - 1, -1)))

    return await _cached(deps, key, Dashboard, compute)




async def _map(deps: Deps, scope: Scope, figures: YearFacts) -> DistrictMap:
    """The map's layers: holdings as of the year's end, loans per month of the year, and the
    opening ratio and standards of the last 30 days / today (current state)."""
    district = deps.settings.district
    active = scope.active
    recent = await roomstats.recent(deps, [r["code"] for r in active], figures.today)
    standards = holdings_standards(district.standards)
    months = figures.today.month if figures.year == figures.today.year else 12
    values: dict[str, dict[str, float | None]] = {}
    for r in active:
        code = r["code"]
        stock = figures.room_format.get(code, {})
        volumes = stock.get("book", {}).get("copies", 0)
        seen = recent.get(code) or {}
        people = residents_of(r)
        values[code] = {
            "volumes": float(volumes),
            "volumes_per_resident": round(volumes / people, 3) if people else None,
            "loans_per_month": round(figures.loans_by_room.get(code, 0) / months, 1),
            "opening_ratio": round(seen["shown"] * 100 / seen["expected"], 1) if seen.get("expected") else None,
            "standards_missed": float(len(below_standards(stock, standards))
                                      + len(hours_reasons(r, district.standards))),
        }
    return mapdata.district_map(district, active, values, {r["code"]: residents_of(r) for r in active},
                                tiles_url=deps.settings.map_tiles_url,
                                tiles_attribution=deps.settings.map_tiles_attribution)


# -- the annual report -----------------------------------------------------------------------------


async def annual_report(deps: Deps, actor: Actor, year: int | None) -> AnnualReport:
    """Everything the annual report prints for ``year`` in ``actor``'s scope: the indicators
    and charts, the replenishment plan, training, ratings and one row per town. Year-bounded
    reads and stock folded from the ledger as of 31 December, so a past year is reproducible
    (``year`` None: this year, as of today).
    InvalidInput on ("query", "year"); Forbidden for room administrators. Cached like the
    dashboard."""
    today = local_today()
    chosen = check_year(year, today)
    key = cache_key("report", chosen, actor)

    async def compute() -> AnnualReport:
        scope = await load_scope(deps, actor)
        figures = await year_facts(deps, scope, chosen, today)
        period = Period(first=date(chosen, 1, 1), last=date(chosen, 12, 31), today=today)
        training = await _training(deps, period, figures)
        rounds, entries = await facts.rating_rounds(deps.db, chosen)
        activities = await facts.activities_per_room(deps.db, [r["code"] for r in scope.active], period)
        return AnnualReport(year=chosen, as_of=figures.as_of, computed_at=datetime.now(UTC),
                            district=deps.settings.district.name + ("" if scope.district else f"（{scope.label}）"),
                            indicators=figures.indicators, charts=figures.charts,
                            replenishment=_replenishment(figures.plan, chosen), training=training,
                            ratings=_ratings(rounds, entries, scope), towns=_towns(deps, scope, figures, activities))

    return await _cached(deps, key, AnnualReport, compute)


def _replenishment(plan: dict[str, Any], year: int) -> dict[str, Any]:
    doc = plan.get("plan")
    if doc is None:
        return {"year": year, "title": None, "budget_fen": None, "spend_fen": None, "spend_source": "",
                "titles": 0, "copies": 0, "discs": 0, "rooms": 0, "shipments": {}, "history": False}
    from distribution.shipments.models import STATUS_LABELS

    return {"year": year, "title": doc.get("title", ""), "budget_fen": plan["budget_fen"],
            "spend_fen": plan["spend_fen"], "spend_source": plan["spend_source"], "titles": plan["titles"],
            "copies": plan["copies"], "discs": plan.get("discs", 0), "rooms": plan["rooms"],
            "shipments": {STATUS_LABELS.get(k, k): v for k, v in sorted(plan["shipments"].items())},
            "history": bool(doc.get("history"))}


async def _training(deps: Deps, period: Period, figures: YearFacts) -> dict[str, Any]:
    done = await facts.training_year(deps.db, period)
    sessions = [s for s in done["sessions"]]
    hours_of = {cid: float(c.get("hours", 0)) for cid, c in done["courses"].items()}
    attendances = sum(done["present"].get(s["_id"], 0) for s in sessions)
    person_hours = sum(done["present"].get(s["_id"], 0) * hours_of.get(s["course_id"], 0.0) for s in sessions)
    admins = {str(a["_id"]) for room_admins in figures.admins.values() for a in room_admins}
    return {"courses": len({s["course_id"] for s in sessions}), "sessions": len(sessions),
            "sessions_finished": sum(1 for s in sessions if s.get("status") == "finished"),
            "attendances": attendances, "hours": round(person_hours, 1), "certificates": done["certificates"],
            "admins_total": len(admins), "admins_inducted": sum(1 for a in admins if figures.inducted.get(a))}


def _ratings(rounds: list[dict[str, Any]], entries: list[dict[str, Any]], scope: Scope) -> list[dict[str, Any]]:
    from server.crypto import mask_name
    from training.ratings.models import (
        ENTRY_STATUS_LABELS,
        KIND_LABELS,
        LEVEL_LABELS,
        STATUS_LABELS,
    )

    by_round: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for e in entries:
        if scope.district or e.get("town") in scope.towns:
            by_round[e["round_id"]].append(e)
    out = []
    for r in rounds:
        listed = []
        for e in by_round.get(r["_id"], []):
            name = (e.get("subject") or {}).get("name", "")
            if (e.get("subject") or {}).get("type") == "family":  # as on the public notice: 张**家庭
                name = mask_name(name.removesuffix("家庭")) + "家庭"
            listed.append({"name": name, "town": e.get("town", ""), "status": e["status"],
                           "status_label": ENTRY_STATUS_LABELS.get(e["status"], e["status"])})
        out.append({"title": r.get("title", ""), "kind": r["kind"], "kind_label": KIND_LABELS.get(r["kind"], r["kind"]),
                    "level": r.get("level", "district"), "level_label": LEVEL_LABELS.get(r.get("level", ""), ""),
                    "status": r["status"], "status_label": STATUS_LABELS.get(r["status"], r["status"]),
                    "entries": listed})
    return out


def _towns(deps: Deps, scope: Scope, figures: YearFacts, activities: dict[str, int]) -> list[TownRow]:
    standards = holdings_standards(deps.settings.district.standards)
    rows: dict[str, dict[str, int]] = {}
    names = [t.name for t in deps.settings.district.towns if scope.district or t.name in scope.towns]
    for r in scope.active:
        t = rows.setdefault(r.get("town", ""), defaultdict(int))
        stock = figures.room_format.get(r["code"], {})
        t["rooms"] += 1
        t["residents"] += residents_of(r) or 0
        t["volumes"] += stock.get("book", {}).get("copies", 0)
        t["new_volumes"] += stock.get("book", {}).get("received", 0)
        t["loans"] += figures.loans_by_room.get(r["code"], 0)
        t["activities"] += activities.get(r["code"], 0)
        t["rooms_below_holdings"] += 1 if below_standards(stock, standards) else 0
        for a in figures.admins.get(r["code"], []):
            t["admins"] += 1
            t["admins_inducted"] += 1 if figures.inducted.get(str(a["_id"])) else 0
    out = []
    for name in names + sorted(set(rows) - set(names)):
        t = rows.get(name, defaultdict(int))
        readers = readers_stats.active_readers(figures.readers, [readers_stats.town_scope(name)], str(figures.year))
        out.append(TownRow(town=name, rooms=t["rooms"], residents=t["residents"], volumes=t["volumes"],
                           new_volumes=t["new_volumes"], loans=t["loans"], active_readers=readers or 0,
                           activities=t["activities"], admins=t["admins"], admins_inducted=t["admins_inducted"],
                           rooms_below_holdings=t["rooms_below_holdings"]))
    return out
