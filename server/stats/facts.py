"""The read queries behind the district's statistics, each batched over every room of the
scope: the number of commands does not grow with the number of rooms. No writes here.

The room-level signals the ratings metrics already read (loans, returns and renewals per
day, 今日开馆 check-ins, activities, family visits, stocktakes, administrators) are reused
from ``training.ratings.metrics.repo``; what only the statistics need lives here.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from server.activities import repo as activities_repo
from server.circulation import repo as circulation_repo
from server.stats.period import Period
from server.stock import repo as stock_repo
from training.ratings.metrics import repo as metrics_repo

LOCAL_OFFSET = "+08:00"  # Asia/Shanghai has no daylight saving
# Moves that do not change how many copies a room holds (on the shelf + on loan + in transit):
# leaving them out of the fold keeps it small (loans and returns are most of the ledger).
NEUTRAL_MOVES = ("loan", "return", "transfer_out", "transfer_cancel")
HELD_STATES = ("on_shelf", "on_loan", "in_transit")
ROOM_FIELDS = {"_id": 0, "code": 1, "name": 1, "kind": 1, "town": 1, "village": 1, "location": 1, "area_m2": 1,
               "seats": 1, "opening_hours": 1, "residents": 1, "status": 1}

# Reused, unchanged, from the ratings metrics (one batched query each).
administrators = metrics_repo.administrators
circulation_days = metrics_repo.circulation_days
opening_days = metrics_repo.opening_days
visit_days = metrics_repo.visit_days


async def _agg(db: AsyncDatabase, collection: str, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return await (await db[collection].aggregate(pipeline)).to_list()


async def scope_rooms(db: AsyncDatabase, flt: dict[str, Any]) -> list[dict[str, Any]]:
    """Every room matching ``flt`` (the actor's scope), active or not, by code."""
    return await db["rooms"].find(flt, ROOM_FIELDS).sort("code", 1).to_list()


@dataclass
class StockFold:
    """Per (room, format, category) and per year-end of ``years``: copies held, titles with a
    copy held, and copies received (``receive`` moves) during that year — from the ledger."""

    years: list[int]
    rows: list[dict[str, Any]] = field(default_factory=list)  # {room, format, category, c{y}, t{y}, r{y}}

    def room_format(self, year: int) -> dict[str, dict[str, dict[str, int]]]:
        """room → format → {copies, titles, received} at the end of ``year``."""
        out: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
        for r in self.rows:
            into = out[r["room"]].setdefault(r["format"], {"copies": 0, "titles": 0, "received": 0})
            into["copies"] += int(r.get(f"c{year}", 0))
            into["titles"] += int(r.get(f"t{year}", 0))
            into["received"] += int(r.get(f"r{year}", 0))
        return out

    def categories(self, year: int, codes: set[str], fmt: str = "book") -> dict[str, int]:
        """category → copies of ``fmt`` held in ``codes`` at the end of ``year``."""
        out: dict[str, int] = defaultdict(int)
        for r in self.rows:
            if r["room"] in codes and r["format"] == fmt:
                out[r["category"]] += int(r.get(f"c{year}", 0))
        return dict(out)


async def stock_fold(db: AsyncDatabase, codes: list[str], years: list[int], end: datetime) -> StockFold:
    """Fold ``stock_moves`` of ``codes`` up to ``end`` (exclusive) in one aggregation: each
    title's held copies at the end of every year of ``years`` (local calendar years), then
    summed by room, format and category. Reproducible for a past year: holdings as of
    31 December are the fold of the moves made before the next 1 January."""
    held = {"$add": [{"$ifNull": [f"$delta.{s}", 0]} for s in HELD_STATES]}

    def upto(y: int) -> dict[str, Any]:
        return {"$sum": {"$map": {"input": {"$filter": {"input": "$ys", "as": "e", "cond": {"$lte": ["$$e.y", y]}}},
                                  "as": "e", "in": "$$e.c"}}}

    def during(y: int) -> dict[str, Any]:
        return {"$sum": {"$map": {"input": {"$filter": {"input": "$ys", "as": "e", "cond": {"$eq": ["$$e.y", y]}}},
                                  "as": "e", "in": "$$e.r"}}}

    rows = await _agg(db, stock_repo.MOVES, [
        {"$match": {"room": {"$in": codes}, "at": {"$lt": end}, "kind": {"$nin": list(NEUTRAL_MOVES)}}},
        {"$project": {"room": 1, "title_id": 1, "y": {"$year": {"date": "$at", "timezone": LOCAL_OFFSET}}, "c": held,
                      "r": {"$cond": [{"$eq": ["$kind", "receive"]}, {"$ifNull": ["$quantity", 0]}, 0]}}},
        {"$group": {"_id": {"room": "$room", "title_id": "$title_id", "y": "$y"}, "c": {"$sum": "$c"},
                    "r": {"$sum": "$r"}}},
        {"$group": {"_id": {"room": "$_id.room", "title_id": "$_id.title_id"},
                    "ys": {"$push": {"y": "$_id.y", "c": "$c", "r": "$r"}}}},
        {"$project": {**{f"c{y}": upto(y) for y in years}, **{f"r{y}": during(y) for y in years}}},
        {"$lookup": {"from": "titles", "localField": "_id.title_id", "foreignField": "_id", "as": "t"}},
        {"$unwind": {"path": "$t", "preserveNullAndEmptyArrays": True}},
        {"$group": {"_id": {"room": "$_id.room", "format": {"$ifNull": ["$t.format", "book"]},
                            "category": {"$ifNull": ["$t.category", "其他"]}},
                    **{f"c{y}": {"$sum": f"$c{y}"} for y in years},
                    **{f"t{y}": {"$sum": {"$cond": [{"$gt": [f"$c{y}", 0]}, 1, 0]}} for y in years},
                    **{f"r{y}": {"$sum": f"$r{y}"} for y in years}}},
    ])
    out = StockFold(years=list(years))
    for r in rows:
        key = r.pop("_id")
        out.rows.append({**key, **r})
    return out


async def loan_months(db: AsyncDatabase, codes: list[str], first_month: str, last_month: str) -> list[dict[str, Any]]:
    """``loan_stats`` (no reader identity; survives anonymisation) summed per room, month and
    category: [{room, month, category, loans}] for months ``first_month``..``last_month``."""
    rows = await _agg(db, circulation_repo.STATS, [
        {"$match": {"room": {"$in": codes}, "month": {"$gte": first_month, "$lte": last_month}}},
        {"$group": {"_id": {"room": "$room", "month": "$month", "category": "$category"},
                    "loans": {"$sum": {"$ifNull": ["$loans", 0]}}}},
    ])
    return [{**r["_id"], "loans": int(r["loans"])} for r in rows]


async def approved_stocktakes(db: AsyncDatabase, codes: list[str], start: datetime, end: datetime
                              ) -> list[dict[str, Any]]:
    """Stocktakes of ``codes`` approved in [start, end), newest first, with their report totals."""
    return await db["stocktakes"].find(
        {"room": {"$in": codes}, "state": "approved", "approved_at": {"$gte": start, "$lt": end}},
        {"room": 1, "approved_at": 1, "report.expected_copies": 1, "report.missing": 1}).sort("approved_at", -1).to_list()


async def activities_per_room(db: AsyncDatabase, codes: list[str], period: Period) -> dict[str, int]:
    rows = await _agg(db, activities_repo.ACTIVITIES, [
        {"$match": {"room": {"$in": codes}, "held_on": {"$gte": period.first.isoformat(),
                                                        "$lte": period.last.isoformat()}}},
        {"$group": {"_id": "$room", "n": {"$sum": 1}}}])
    return {r["_id"]: int(r["n"]) for r in rows}


async def activity_days(db: AsyncDatabase, codes: list[str], period: Period) -> dict[str, set[str]]:
    rows = await _agg(db, activities_repo.ACTIVITIES, [
        {"$match": {"room": {"$in": codes}, "held_on": {"$gte": period.first.isoformat(),
                                                        "$lte": period.until.isoformat()}}},
        {"$group": {"_id": {"room": "$room", "day": "$held_on"}}}])
    out: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        out[r["_id"]["room"]].add(r["_id"]["day"])
    return out


async def summer_participants(db: AsyncDatabase, first_year: int, last_year: int
                              ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The reading challenges (not drafts) that ran during July–August of any year of
    ``first_year``..``last_year``, and their participants — without names: only what the
    statistics count (age, school, town, room)."""
    from miniprogram_api.challenges import repo as challenges_repo

    challenges = await db[challenges_repo.CHALLENGES].find(
        {"status": {"$ne": "draft"}, "starts_on": {"$lte": f"{last_year}-08-31"},
         "ends_on": {"$gte": f"{first_year}-07-01"}}, {"starts_on": 1, "ends_on": 1}).to_list()
    if not challenges:
        return [], []
    participants = await db[challenges_repo.PARTICIPANTS].find(
        {"challenge_id": {"$in": [c["_id"] for c in challenges]}},
        {"_id": 1, "challenge_id": 1, "member_id": 1, "reader_id": 1, "age": 1, "school": 1, "town": 1, "room": 1,
         "status": 1}).to_list()
    return challenges, participants


async def shipments_of_plan(db: AsyncDatabase, plan_id: Any) -> list[dict[str, Any]]:
    from distribution.shipments import repo as shipments_repo

    return await db[shipments_repo.SHIPMENTS].find({"plan_id": plan_id},
                                                   {"room": 1, "status": 1, "totals": 1, "town": 1}).to_list()


async def training_year(db: AsyncDatabase, period: Period) -> dict[str, Any]:
    """Sessions finished in the year (with their course's hours), present attendances, and
    certificates issued in the year (valid ones)."""
    from training.certificates import repo as certificates_repo
    from training.courses import repo as courses_repo

    sessions = await db[courses_repo.SESSIONS].find(
        {"starts_at": {"$gte": period.start_utc, "$lt": period.end_utc}, "status": {"$ne": "cancelled"}},
        {"course_id": 1, "status": 1}).to_list()
    courses = await courses_repo.courses_by_ids(db, {s["course_id"] for s in sessions})
    present = await courses_repo.present_counts(db, [s["_id"] for s in sessions])
    certificates = await db[certificates_repo.CERTIFICATES].count_documents(
        {"issued_on": {"$gte": period.first.isoformat(), "$lte": period.last.isoformat()}, "revoked": {"$ne": True}})
    return {"sessions": sessions, "courses": courses, "present": present, "certificates": certificates}


async def rating_rounds(db: AsyncDatabase, year: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The year's rating rounds and their awarded / nominated entries."""
    from training.ratings import repo as ratings_repo

    rounds = await db[ratings_repo.ROUNDS].find({"year": year}, {"title": 1, "kind": 1, "level": 1, "status": 1,
                                                                 "year": 1}).sort([("kind", 1), ("level", 1)]).to_list()
    if not rounds:
        return [], []
    entries = await db[ratings_repo.ENTRIES].find(
        {"round_id": {"$in": [r["_id"] for r in rounds]}, "status": {"$in": ["awarded", "nominated"]}},
        {"round_id": 1, "subject.name": 1, "subject.type": 1, "subject.room": 1, "town": 1, "status": 1,
         "rank": 1}).sort([("round_id", 1), ("rank", 1)]).to_list()
    return rounds, entries
