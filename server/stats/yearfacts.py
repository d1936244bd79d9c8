"""The figures of one year in one scope: the ten indicators with their trends, the charts,
and the per-room facts the map and the town table are made from. Batched reads only."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date
from typing import TYPE_CHECKING, Any

from server.rooms.models import check_standards
from server.stats import charts, facts, indicators, readers_stats, roomstats
from server.stats.models import Chart, Indicator
from server.stats.period import Period
from training.ratings.metrics.rooms import holdings_standards

if TYPE_CHECKING:
    from server.resources import Deps

FIRST_YEAR = 2012  # the first year with district records (the 2012–2015 history)
HOURS_REASONS = ("每周开放天数不足", "每日开放时长不足")


@dataclass(frozen=True)
class Scope:
    district: bool
    towns: tuple[str, ...]
    label: str
    key: str
    rooms: list[dict[str, Any]] = field(default_factory=list, compare=False)

    @property
    def active(self) -> list[dict[str, Any]]:
        return [r for r in self.rooms if r.get("status", "active") == "active"]


def year_period(year: int, today: date) -> Period:
    return Period(first=date(year, 1, 1), last=date(year, 12, 31), today=today)


def residents_of(room: dict[str, Any]) -> int | None:
    r = room.get("residents")
    return r if isinstance(r, int) and not isinstance(r, bool) and r > 0 else None


def hours_reasons(room: dict[str, Any], standards: Any) -> list[str]:
    check = check_standards(room.get("opening_hours") or {}, float(room.get("area_m2") or 0), standards)
    out = []
    if check.open_days < standards.min_open_days:
        out.append(HOURS_REASONS[0])
    if check.open_days and check.shortest_day_hours < standards.min_daily_hours:
        out.append(HOURS_REASONS[1])
    return out


# -- the figures of a year -------------------------------------------------------------------------


@dataclass
class YearFacts:
    year: int
    today: date
    as_of: date
    scope: Scope
    indicators: list[Indicator]
    charts: list[Chart]
    room_format: dict[str, dict[str, dict[str, int]]]  # at the year's end
    loans_by_room: dict[str, int]
    readers: dict[tuple[str, str], dict[str, Any]]
    admins: dict[str, list[dict[str, Any]]]
    inducted: dict[str, bool]
    years_figures: list[Any]
    plan: dict[str, Any]


async def year_facts(deps: Deps, scope: Scope, year: int, today: date) -> YearFacts:
    db, district = deps.db, deps.settings.district
    standards = holdings_standards(district.standards)
    active = scope.active
    codes = [r["code"] for r in active]
    years = indicators.trend_years(year)
    period = year_period(year, today)
    as_of = min(today, date(year, 12, 31))
    first = year_period(years[0], today)
    scopes = readers_stats.scope_keys(scope.district, list(scope.towns))
    reader_scopes = scopes + [readers_stats.town_scope(t) for t in _towns(active)]
    gathered: list[Any] = await asyncio.gather(
        roomstats.stock(deps, codes, years, today),
        facts.approved_stocktakes(db, codes, first.start_utc, period.end_utc),
        facts.administrators(db, codes),
        facts.summer_participants(db, years[0], year),
        _plan_figures(deps, year),
        readers_stats.stored(deps, reader_scopes, [str(y) for y in years]),
        _history_years(deps),
    )
    stock, stocktakes, admins, summer, plan_figs, readers, history = gathered
    if (readers_stats.DISTRICT, str(today.year)) not in readers and today.year in years:
        # Never counted yet (a new deployment): count the current year once; the nightly job keeps it up.
        await readers_stats.snapshot(deps, today, periods=[str(today.year)])
        readers = await readers_stats.stored(deps, reader_scopes, [str(y) for y in years])
    loan_rows = [{"room": room, "month": f"{y}-{m}", "category": c, "loans": int(k)}
                 for y in years for room, doc in stock[y].items()
                 for m, cats in (doc.get("loans") or {}).items() for c, k in cats.items()]
    people = sorted({str(a["_id"]) for room_admins in admins.values() for a in room_admins})
    status = await _training_status(deps, people, year)

    with_people = [r for r in active if residents_of(r)]
    residents = sum(residents_of(r) or 0 for r in with_people)
    without = len(active) - len(with_people)
    by_year = {y: {code: doc.get("formats", {}) for code, doc in stock[y].items()} for y in years}
    held_any = {y: any(f["copies"] for rf in by_year[y].values() for f in rf.values()) for y in years}

    def books(y: int, key: str) -> int:
        return sum(by_year[y].get(r["code"], {}).get("book", {}).get(key, 0) for r in with_people)

    vpr = {y: indicators.ratio(books(y, "copies"), residents) if held_any[y] else None for y in years}
    nvpr = {y: indicators.ratio(books(y, "received"), residents) if held_any[y] else None for y in years}
    below = {y: {r["code"]: indicators.below_standards(by_year[y].get(r["code"], {}), standards) for r in active}
             for y in years}
    # The year shown counts even with nothing held (then every room is below); earlier years
    # without any holdings in shuwu are "no data" in the trend, not "all below".
    below_n = {y: sum(1 for v in below[y].values() if v) if held_any[y] or y == year else None for y in years}
    missed = {k: sum(1 for v in below[year].values() if k in v) for k in standards}

    hours = {r["code"]: hours_reasons(r, district.standards) for r in active}
    hours_n = sum(1 for v in hours.values() if v)
    reasons = {k: sum(1 for v in hours.values() if k in v) for k in HOURS_REASONS}

    loans_year: dict[int, int] = {y: 0 for y in years}
    seen_year: set[int] = set()
    loans_by_room: dict[str, int] = {}
    for row in loan_rows:
        y = int(row["month"][:4])
        if y in loans_year:
            loans_year[y] += row["loans"]
            seen_year.add(y)
        if y == year:
            loans_by_room[row["room"]] = loans_by_room.get(row["room"], 0) + row["loans"]
    months = today.month if year == today.year else 12
    lprm = {y: (loans_year[y] / (len(active) * (months if y == year else 12)) if active and y in seen_year else None)
            for y in years}

    active_readers = {y: readers_stats.active_readers(readers, scopes, str(y)) for y in years}
    challenges, participants = summer
    kids, joined, ran = _summer_children(challenges, participants, years, set(codes), scope.district)

    inducted = {pid: bool(getattr(status.get(pid), "inducted", False)) for pid in people}
    refreshed = sum(1 for pid in people if getattr(status.get(pid), "refresher_met", False))
    loss = _loss_by_year(stocktakes, years)

    def trend(values: Mapping[int, float | None]) -> list[Any]:
        return indicators.trend_points(years, values)

    only_now = {y: None for y in years}
    spend_trend = {y: plan_figs["fen_by_year"].get(y) for y in years}
    ind = [
        indicators.volumes_per_resident(books(year, "copies"), residents, len(with_people), without,
                                        district.plan.volumes_per_resident, as_of=as_of.isoformat(), trend=trend(vpr),
                                        href="/console/stock"),
        indicators.new_volumes_per_resident(books(year, "received"), residents, len(with_people), without,
                                            district.plan.new_volumes_per_resident, year=year, trend=trend(nvpr),
                                            href="/console/stock"),
        indicators.purchase_spend(plan_figs["spend_fen"], plan_figs["budget_fen"], year=year,
                                  source=plan_figs["spend_source"],
                                  trend=trend({y: (v / 100 if v is not None else None) for y, v in spend_trend.items()}),
                                  href="/console/distribution"),
        indicators.rooms_below_holdings(missed, below_n[year] or 0, len(active), standards, as_of=as_of.isoformat(),
                                        trend=trend(below_n), href="/console/rooms"),
        _hours_indicator(hours_n, len(active), reasons, year, today, trend({**only_now, year: hours_n})),
        indicators.loans_per_room_month(loans_year[year], len(active), months, year=year, trend=trend(lprm),
                                        href=f"/console/loans?year={year}"),
        indicators.active_readers(active_readers[year], year=year,
                                  summed_towns=0 if scope.district else len(scope.towns),
                                  trend=trend(active_readers), href=f"/console/loans?year={year}"),
        indicators.challenge_children(len(kids[year]), joined[year], ran[year], year=year,
                                      trend=trend({y: (len(kids[y]) if ran[y] else None) for y in years}),
                                      href=f"/console/reports?year={year}"),
        indicators.training_completion(len(people), sum(inducted.values()), refreshed, year=year,
                                       trend=trend({**only_now, year: indicators.ratio(sum(inducted.values()) * 100,
                                                                                        len(people))}),
                                       href="/console/training"),
        indicators.stocktake_loss_rate(loss[year][0], loss[year][1], loss[year][2], year=year,
                                       trend=trend({y: indicators.ratio(loss[y][0] * 100, loss[y][1]) for y in years}),
                                       href="/console/stock"),
    ]
    from distribution.plans.models import DEFAULT_TARGETS

    summer_now = [p for p in participants if year in p["_years"] and _in_scope(p, set(codes), scope.district)]
    chart_list = [
        charts.loans_by_month(loan_rows, year),
        charts.stock_by_category(_categories(stock[year].values()), DEFAULT_TARGETS, as_of=as_of.isoformat()),
        charts.replenishment_by_year(history, FIRST_YEAR, max(year, FIRST_YEAR)),
        charts.challenge_by_town(summer_now, [t.name for t in district.towns
                                              if scope.district or t.name in scope.towns], year),
        charts.challenge_by_school(summer_now, year),
    ]
    return YearFacts(year=year, today=today, as_of=as_of, scope=scope, indicators=ind, charts=chart_list,
                     room_format=by_year[year], loans_by_room=loans_by_room, readers=readers, admins=admins,
                     inducted=inducted, years_figures=history, plan=plan_figs)


def _categories(docs: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in docs:
        for k, v in (d.get("categories") or {}).items():
            out[k] = out.get(k, 0) + int(v)
    return out


def _towns(rooms: list[dict[str, Any]]) -> list[str]:
    return sorted({r.get("town", "") for r in rooms})


def _hours_indicator(n: int, rooms: int, reasons: dict[str, int], year: int, today: date, trend: list[Any]
                     ) -> Indicator:
    if year != today.year:
        return indicators.indicator("rooms_below_hours", None, "开放时间只有当前登记状态，无法还原往年情况",
                                    target=0, target_text="0 个", trend=trend, href="/console/rooms")
    return indicators.rooms_below_hours(n, rooms, reasons, trend=trend, href="/console/rooms")


async def _training_status(deps: Deps, people: list[str], year: int) -> dict[str, Any]:
    from training.certificates.requirements import training_status

    return await training_status(deps, people, year) if people else {}


def _in_scope(p: dict[str, Any], codes: set[str], district: bool) -> bool:
    return district or p.get("room") in codes


def _summer_children(challenges: list[dict[str, Any]], participants: list[dict[str, Any]], years: list[int],
                     codes: set[str], district: bool) -> tuple[dict[int, set[str]], dict[int, int], dict[int, int]]:
    """Per year: distinct children, participations, challenges that ran in July–August."""
    runs = {c["_id"]: {y for y in years if c["starts_on"] <= f"{y}-08-31" and c["ends_on"] >= f"{y}-07-01"}
            for c in challenges}
    kids: dict[int, set[str]] = {y: set() for y in years}
    joined = dict.fromkeys(years, 0)
    ran = {y: sum(1 for v in runs.values() if y in v) for y in years}
    for p in participants:
        p["_years"] = runs.get(p["challenge_id"], set())
        if not _in_scope(p, codes, district) or p.get("status") in ("withdrawn", "removed"):
            continue
        child = (isinstance(p.get("age"), int) and p["age"] < 18) or bool(p.get("school"))
        who = str(p.get("member_id") or p.get("reader_id") or p["_id"])
        for y in p["_years"]:
            joined[y] += 1
            if child:
                kids[y].add(who)
    return kids, joined, ran


def _loss_by_year(stocktakes: list[dict[str, Any]], years: list[int]) -> dict[int, tuple[int, int, int]]:
    """year → (missing, expected, rooms) over each room's latest approved stocktake that year."""
    latest: dict[tuple[int, str], dict[str, Any]] = {}
    for s in stocktakes:  # newest first
        y = s["approved_at"].replace(tzinfo=UTC).astimezone(_tz()).year
        latest.setdefault((y, s["room"]), s)
    out = {y: (0, 0, 0) for y in years}
    for (y, _), s in latest.items():
        if y not in out:
            continue
        report = s.get("report") or {}
        missing = sum(int(m.get("missing", 0)) for m in report.get("missing", []))
        m, e, r = out[y]
        out[y] = (m + missing, e + int(report.get("expected_copies", 0)), r + 1)
    return out


def _tz() -> Any:
    from server.circulation.rules import LOCAL_TZ

    return LOCAL_TZ


async def _history_years(deps: Deps) -> list[Any]:
    from distribution.plans.history import years

    return list((await years(deps)).items)


async def _plan_figures(deps: Deps, year: int) -> dict[str, Any]:
    """The year's plan: budget, spend (the chosen run's cost, else the shipments' value; for
    2012–2015 the history totals), titles, copies, rooms, shipments by state; and the spend
    per year for the trend."""
    from distribution.plans import repo as plans_repo

    plans = await plans_repo.plans(deps.db)
    plan = next((p for p in plans if p.get("year") == year), None)
    out: dict[str, Any] = {"plan": plan, "budget_fen": None, "spend_fen": None, "spend_source": "",
                           "titles": 0, "copies": 0, "rooms": 0, "shipments": {}, "fen_by_year": {}}
    chosen = await plans_repo.runs_totals(deps.db, [p["chosen_run_id"] for p in plans if p.get("chosen_run_id")])
    for p in plans:
        if p.get("history"):
            out["fen_by_year"][p["year"]] = (p.get("history_totals") or {}).get("fen")
        elif p.get("chosen_run_id") in chosen:
            out["fen_by_year"][p["year"]] = (chosen[p["chosen_run_id"]].get("totals") or {}).get("fen")
    if plan is None:
        return out
    out["budget_fen"] = int(plan.get("budget_fen") or 0)
    out["rooms"] = len(plan.get("rooms") or [])
    shipments = await facts.shipments_of_plan(deps.db, plan["_id"])
    for s in shipments:
        out["shipments"][s["status"]] = out["shipments"].get(s["status"], 0) + 1
    live = [s for s in shipments if s["status"] != "cancelled"]
    if plan.get("history"):
        t = plan.get("history_totals") or {}
        out.update(spend_fen=t.get("fen"), spend_source="历史汇总（估算）", copies=int(t.get("books", 0)),
                   discs=int(t.get("discs", 0)))
    elif plan.get("chosen_run_id") in chosen:
        t = chosen[plan["chosen_run_id"]].get("totals") or {}
        out.update(spend_fen=int(t.get("fen", 0)), spend_source="选定选书方案金额", titles=int(t.get("titles", 0)),
                   copies=int(t.get("copies", 0)), rooms=int(t.get("rooms", 0)) or out["rooms"])
    else:
        out.update(spend_fen=sum(int((s.get("totals") or {}).get("fen", 0)) for s in live),
                   spend_source="配送单金额", copies=sum(int((s.get("totals") or {}).get("copies", 0)) for s in live),
                   titles=max((int((s.get("totals") or {}).get("titles", 0)) for s in live), default=0))
    out["fen_by_year"][year] = out["spend_fen"]
    return out
