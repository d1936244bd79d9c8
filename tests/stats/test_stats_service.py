"""The statistics core on hand-built data: the as-of-year-end fold against a hand count,
indicators, charts and map, the town coordinator's scope, the cache and its refresh, the
API's roles and bad years, and the command count that does not grow with the rooms."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from server.readers.service import local_today
from server.resources import Deps
from server.staff.roles import Actor, Role
from server.stats import facts, service
from server.stats.yearfacts import year_facts, year_period
from server.stock.ledger import Move, MoveKind
from server.stock.service import check_ledger
from tests.conftest import CommandCounter, Session
from tests.stats import moves

ADMIN = Actor(staff_id="000000000000000000000071", username="stats-admin", name="统计员", role=Role.DISTRICT_ADMIN)
XSG = Actor(staff_id="000000000000000000000072", username="stats-xsg", name="镇街", role=Role.TOWN_COORDINATOR,
            towns=frozenset({"咸水沽镇"}))
ROOM_ADMIN = Actor(staff_id="000000000000000000000073", username="stats-room", name="管理员", role=Role.ROOM_ADMIN,
                   rooms=frozenset({"JN-XSG-001"}))
A, B, G = "JN-XSG-001", "JN-XSG-002", "JN-GG-001"
T1, T2, P1, V1 = "9787510000011", "9787510000028", "SW00000000101", "SW00000000102"
TODAY = local_today()
YEAR = TODAY.year
LAST = YEAR - 1


def utc(y: int, m: int, d: int, h: int = 0) -> datetime:
    return datetime(y, m, d, h, tzinfo=UTC)




@pytest.fixture(scope="module")
async def data(seeded: Deps) -> Deps:
    db = seeded.db
    # Only three rooms have a residents figure (the others are left out of the per-resident ratios).
    await db.rooms.update_many({}, {"$set": {"residents": None}})
    await db.rooms.update_one({"code": A}, {"$set": {"residents": 1000}})
    await db.rooms.update_one({"code": G}, {"$set": {"residents": 500}})
    await db.titles.insert_many([
        {"_id": T1, "title": "科技书", "format": "book", "category": "科技", "price_cents": 3000},
        {"_id": T2, "title": "少儿书", "format": "book", "category": "少儿", "price_cents": 2000},
        {"_id": P1, "title": "报刊", "format": "periodical", "category": "文化"},
        {"_id": V1, "title": "光盘", "format": "audio_visual", "category": "文化"},
    ])
    # Hand count for A: end of LAST-1: 100 T1; LAST: +10 T2 (late on 31 Dec local time);
    # YEAR: +5 T2 (01:00 on 1 Jan local time = 31 Dec UTC), -3 T1 lost, one loan out (still held).
    await moves(seeded, utc(LAST - 1, 6, 1), Move(A, T1, MoveKind.RECEIVE, 100))
    await moves(seeded, utc(LAST, 12, 31, 12), Move(A, T2, MoveKind.RECEIVE, 10))
    await moves(seeded, utc(LAST, 12, 31, 17), Move(A, T2, MoveKind.RECEIVE, 5))
    await moves(seeded, utc(YEAR, 1, 5), Move(A, T1, MoveKind.WRITE_OFF_LOST, 3))
    await moves(seeded, utc(YEAR, 1, 6), Move(A, T1, MoveKind.LOAN, 1))
    await moves(seeded, utc(YEAR, 1, 7), Move(G, T1, MoveKind.RECEIVE, 50), Move(G, P1, MoveKind.RECEIVE, 40),
                Move(G, V1, MoveKind.RECEIVE, 120))
    await db.loan_stats.insert_many([
        {"_id": f"{A}|{YEAR}-01|book|科技|adult", "room": A, "month": f"{YEAR}-01", "format": "book",
         "category": "科技", "age_group": "adult", "loans": 30},
        {"_id": f"{G}|{YEAR}-02|book|少儿|child", "room": G, "month": f"{YEAR}-02", "format": "book",
         "category": "少儿", "age_group": "child", "loans": 12},
        {"_id": f"{A}|{LAST}-03|book|科技|adult", "room": A, "month": f"{LAST}-03", "format": "book",
         "category": "科技", "age_group": "adult", "loans": 24},
    ])
    checked, problems = await check_ledger(seeded)
    assert problems == []
    return seeded


def by_key(items: list[Any]) -> dict[str, Any]:
    return {i.key: i for i in items}


async def test_the_fold_as_of_a_year_end_matches_a_hand_count(data: Deps) -> None:
    years = [LAST - 1, LAST, YEAR]
    fold = await facts.stock_fold(data.db, [A, B, G], years, year_period(YEAR, TODAY).end_utc)
    a = {y: fold.room_format(y).get(A, {}).get("book", {}) for y in years}
    assert [a[y].get("copies") for y in years] == [100, 110, 112]
    assert [a[y].get("titles") for y in years] == [1, 2, 2]
    assert [a[y].get("received") for y in years] == [100, 10, 5]
    # This year's fold is what the holdings say now (ARCHITECTURE invariant 1).
    held = await data.db.holdings.find({"room": A}).to_list()
    assert sum(h["on_shelf"] + h["on_loan"] + h["in_transit"] for h in held) == 112
    assert fold.room_format(YEAR)[G]["periodical"] == {"copies": 40, "titles": 1, "received": 40}


async def test_annual_report_of_last_year_is_reproducible(data: Deps) -> None:
    report = await service.annual_report(data, ADMIN, LAST)
    ind = by_key(report.indicators)
    assert report.as_of == date(LAST, 12, 31)
    assert ind["volumes_per_resident"].value == round(110 / 1500, 4)
    assert "108 个书屋未登记常住人口" in ind["volumes_per_resident"].detail
    assert ind["new_volumes_per_resident"].value == round(10 / 1500, 5)
    assert [p.label for p in ind["volumes_per_resident"].trend] == [str(y) for y in range(LAST - 4, LAST + 1)]
    assert ind["volumes_per_resident"].trend[-2].value == round(100 / 1500, 4)
    assert ind["volumes_per_resident"].trend[0].value is None  # shuwu held nothing then
    assert ind["rooms_below_hours"].value is None  # only the current state is known
    assert ind["loans_per_room_month"].value == round(24 / 110 / 12, 2)
    towns = {t.town: t for t in report.towns}
    assert towns["咸水沽镇"].volumes == 110 and towns["咸水沽镇"].new_volumes == 10
    assert towns["葛沽镇"].volumes == 0
    # Asked again, the same figures.
    await service.invalidate(data)
    again = await service.annual_report(data, ADMIN, LAST)
    assert [i.model_dump() for i in again.indicators] == [i.model_dump() for i in report.indicators]


async def test_dashboard_indicators_charts_and_map(data: Deps) -> None:
    await service.invalidate(data)
    board = await service.dashboard(data, ADMIN, None)
    assert board.year == YEAR and board.as_of == TODAY and board.scope == "全区"
    ind = by_key(board.indicators)
    assert list(ind) == ["volumes_per_resident", "new_volumes_per_resident", "purchase_spend",
                         "rooms_below_holdings", "rooms_below_hours", "loans_per_room_month", "active_readers",
                         "challenge_children", "training_completion", "stocktake_loss_rate"]
    assert ind["volumes_per_resident"].value == round((112 + 50) / 1500, 4)
    assert ind["volumes_per_resident"].status == "below" and ind["volumes_per_resident"].target == 1.2
    assert ind["new_volumes_per_resident"].value == round((5 + 50) / 1500, 5)
    assert ind["new_volumes_per_resident"].status == "met"
    assert ind["rooms_below_holdings"].value == 110  # no room has 1,500 books
    assert "音像制品不足 100 件的 109 个" in ind["rooms_below_holdings"].detail  # G has 120 discs
    assert ind["loans_per_room_month"].value == round(42 / 110 / TODAY.month, 2)
    assert all(len(i.trend) == 5 for i in board.indicators)
    assert all(i.detail for i in board.indicators)
    charts = by_key(board.charts)
    loans = charts["loans_by_month"]
    assert loans.categories[0] == "1月" and len(loans.series) == 6
    assert {s.name: s.values[0] for s in loans.series}["科技"] == 30
    assert {s.name: s.values[1] for s in loans.series}["少儿"] == 12
    stock = charts["stock_by_category"]
    shares = dict(zip(stock.categories, stock.series[0].values, strict=True))
    assert shares["科技"] == round(147 * 100 / 162, 2) and shares["少儿"] == round(15 * 100 / 162, 2)
    assert stock.series[1].values[1] == 40.0
    assert charts["replenishment_by_year"].categories[0] == "2012"
    rooms = {r.code: r for r in board.map.rooms}
    assert len(rooms) == 110 and rooms[A].values["volumes"] == 112
    assert rooms[A].values["volumes_per_resident"] == 0.112 and rooms[B].values["volumes_per_resident"] is None
    assert {layer.key for layer in board.map.layers} == {"volumes", "volumes_per_resident", "loans_per_month",
                                                         "opening_ratio", "standards_missed"}
    assert all(layer.breaks == sorted(layer.breaks) for layer in board.map.layers)
    assert board.map.tiles is None
    assert board.years[0] == YEAR and board.years[-1] == 2012


async def test_town_coordinator_sees_only_their_towns(data: Deps) -> None:
    board = await service.dashboard(data, XSG, None)
    assert board.scope == "咸水沽镇"
    assert {r.town for r in board.map.rooms} == {"咸水沽镇"} and {t.name for t in board.map.towns} == {"咸水沽镇"}
    ind = by_key(board.indicators)
    assert ind["volumes_per_resident"].value == round(112 / 1000, 4)
    xsg_rooms = await data.db.rooms.count_documents({"town": "咸水沽镇", "status": "active"})
    assert ind["loans_per_room_month"].value == round(30 / xsg_rooms / TODAY.month, 2)
    report = await service.annual_report(data, XSG, YEAR)
    assert [t.town for t in report.towns] == ["咸水沽镇"]


async def test_room_administrators_and_bad_years_are_refused(data: Deps) -> None:
    from server.errors import Forbidden, InvalidInput

    with pytest.raises(Forbidden):
        await service.dashboard(data, ROOM_ADMIN, None)
    for year in (2011, YEAR + 1, 1800):
        with pytest.raises(InvalidInput) as caught:
            await service.dashboard(data, ADMIN, year)
        assert caught.value.errors[0].loc == ("query", "year")


async def test_the_cache_is_reused_until_refreshed(data: Deps) -> None:
    await service.invalidate(data)
    first = await service.dashboard(data, ADMIN, YEAR)
    await moves(data, datetime.now(UTC), Move(B, T1, MoveKind.RECEIVE, 7))
    cached = await service.dashboard(data, ADMIN, YEAR)
    assert cached.computed_at == first.computed_at
    assert {r.code: r.values["volumes"] for r in cached.map.rooms}[B] == 0
    assert await service.invalidate(data) >= 1
    stale = await service.dashboard(data, ADMIN, YEAR)  # the per-room figures are folded ahead
    assert {r.code: r.values["volumes"] for r in stale.map.rooms}[B] == 0
    await service.refresh(data)  # refolds this year and drops the cache
    fresh = await service.dashboard(data, ADMIN, YEAR)
    assert fresh.computed_at > first.computed_at
    assert {r.code: r.values["volumes"] for r in fresh.map.rooms}[B] == 7


async def test_commands_do_not_grow_with_the_rooms(data: Deps, command_counter: CommandCounter) -> None:
    db = data.db
    codes = sorted(d["code"] for d in await db.rooms.find({}, {"code": 1}).to_list())

    async def count_with(active: int) -> int:
        await db.rooms.update_many({}, {"$set": {"status": "inactive"}})
        await db.rooms.update_many({"code": {"$in": codes[:active]}}, {"$set": {"status": "active"}})
        await service.invalidate(data)
        command_counter.reset()
        await service.dashboard(data, ADMIN, None)
        return len(command_counter.commands)

    try:
        two, twenty = await count_with(2), await count_with(20)
    finally:
        await db.rooms.update_many({}, {"$set": {"status": "active"}})
        await service.invalidate(data)
    assert two == twenty, (two, twenty)


async def test_dashboard_reads_only_folded_figures_and_is_fast(data: Deps, command_counter: CommandCounter) -> None:
    """The dashboard reads per-room documents folded ahead (``room_stats``, ``reader_stats``),
    so its cost does not depend on how many loans or ledger entries there are: here a year
    of ``loan_stats`` for 110 rooms and 3,000 loans by 900 readers, folded by the nightly job."""
    db = data.db
    rooms = sorted(d["code"] for d in await db.rooms.find({}, {"code": 1}).to_list())
    start = datetime(YEAR, 1, 1, tzinfo=UTC)
    span = max(1, int((datetime.now(UTC) - start).total_seconds()) - 3600)
    await db.loan_stats.insert_many([
        {"_id": f"{room}|{YEAR}-{m:02d}|book|{c}|bench", "room": room, "month": f"{YEAR}-{m:02d}", "format": "book",
         "category": c, "age_group": "bench", "loans": 20}
        for room in rooms for m in range(1, TODAY.month + 1) for c in ("文化", "生活")])
    loans = []
    for i in range(3_000):
        at = start + timedelta(seconds=(i * 7919) % span)
        room = rooms[i % len(rooms)]
        loans.append({"reader_id": f"{i % 900:024x}", "room": room, "title_id": T1, "format": "book",
                      "category": "科技", "age_group": "child" if i % 900 < 300 else "adult", "lent_at": at,
                      "due_at": at + timedelta(days=10), "returned_at": at + timedelta(days=3), "returned_room": room,
                      "renewals": 0, "renewed_at": []})
    await db.loans.insert_many(loans)
    await service.refresh(data)  # what the nightly job does
    await service.invalidate(data)
    command_counter.reset()
    began = time.perf_counter()
    board = await service.dashboard(data, ADMIN, None)
    took = time.perf_counter() - began
    commands = list(command_counter.commands)
    # The figures alone (the alerts are server/stats/alerts.py's, timed apart).
    began = time.perf_counter()
    scope = await service.load_scope(data, ADMIN)
    figures = await year_facts(data, scope, YEAR, TODAY)
    await service._map(data, scope, figures)
    figures_took = time.perf_counter() - began
    print(f"\ndashboard, 110 rooms, uncached: {took:.3f} s (figures and map: {figures_took:.3f} s), "
          f"{len(commands)} commands")
    # Loans are read only by the alerts (server/stats/alerts.py), not by the figures.
    assert len([c for c in commands if c.startswith("aggregate:loans")]) <= 3
    assert by_key(board.indicators)["active_readers"].value == 900
    expected = 42 + 20 * 2 * len(rooms) * TODAY.month
    assert by_key(board.indicators)["loans_per_room_month"].value == round(expected / 110 / TODAY.month, 2)
    assert figures_took < 1.0
    began = time.perf_counter()
    await service.dashboard(data, ADMIN, None)
    assert time.perf_counter() - began < 0.1


async def test_api_roles_and_years(data: Deps, client: httpx.AsyncClient, as_role: dict[str, Session]) -> None:
    ok = await client.get("/api/v1/stats/dashboard", headers=as_role["town_coordinator"].headers)
    assert ok.status_code == 200 and ok.json()["scope"] == "咸水沽镇"
    assert {r["town"] for r in ok.json()["map"]["rooms"]} == {"咸水沽镇"}
    refused = await client.get("/api/v1/stats/dashboard", headers=as_role["room_admin"].headers)
    assert refused.status_code == 403
    for bad in ("abc", "1800", str(YEAR + 1)):
        r = await client.get(f"/api/v1/stats/dashboard?year={bad}", headers=as_role["district_admin"].headers)
        assert r.status_code == 422, r.text
        assert ["query", "year"] in [e["loc"] for e in r.json()["errors"]]
    this_year = await client.get("/api/v1/stats/annual-report", headers=as_role["district_staff"].headers)
    assert this_year.status_code == 200 and this_year.json()["year"] == YEAR
    report = await client.get(f"/api/v1/stats/annual-report?year={LAST}", headers=as_role["inspector"].headers)
    assert report.status_code == 200 and report.json()["year"] == LAST
    assert (await client.post("/api/v1/stats/refresh", headers=as_role["trainer"].headers)).status_code == 403
    assert (await client.post("/api/v1/stats/refresh", headers=as_role["district_staff"].headers)).status_code == 202
    assert await data.jobs.exists("arq:job:stats-refresh")  # queued once for the worker
    assert (await client.post("/api/v1/stats/refresh", headers=as_role["district_admin"].headers)).status_code == 202
    assert await data.jobs.zcard("arq:queue") == 1  # a double tap adds nothing
