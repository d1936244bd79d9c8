"""Read queries behind the metrics, each batched over every room (or family) of a round:
the number of commands does not grow with the number of entries. No writes here."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bson import ObjectId
from pymongo.asynchronous.database import AsyncDatabase

from miniprogram_api.challenges import repo as challenges_repo
from miniprogram_api.contest import repo as contest_repo
from miniprogram_api.roomcodes import repo as roomcodes_repo
from miniprogram_api.surveys import repo as surveys_repo
from server.activities import repo as activities_repo
from server.stats.period import Period

LOCAL_OFFSET = "+08:00"  # Asia/Shanghai has no daylight saving


def _day(field: str) -> dict[str, Any]:
    return {"$dateToString": {"format": "%Y-%m-%d", "date": field, "timezone": LOCAL_OFFSET}}


async def _agg(db: AsyncDatabase, collection: str, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return await (await db[collection].aggregate(pipeline)).to_list()


async def rooms(db: AsyncDatabase, codes: list[str]) -> dict[str, dict[str, Any]]:
    docs = await db["rooms"].find({"code": {"$in": codes}}, {"code": 1, "name": 1, "town": 1, "residents": 1,
                                                              "opening_hours": 1, "area_m2": 1, "seats": 1,
                                                              "status": 1}).to_list()
    return {d["code"]: d for d in docs}


async def staff(db: AsyncDatabase, ids: list[str]) -> dict[str, dict[str, Any]]:
    oids = [ObjectId(i) for i in ids if ObjectId.is_valid(i)]
    docs = await db["staff"].find({"_id": {"$in": oids}}, {"username": 1, "name": 1, "role": 1, "rooms": 1,
                                                           "active": 1}).to_list() if oids else []
    return {str(d["_id"]): d for d in docs}


async def administrators(db: AsyncDatabase, codes: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Active room administrators of each room."""
    docs = await db["staff"].find({"role": "room_admin", "rooms": {"$in": codes}, "active": {"$ne": False}},
                                  {"username": 1, "name": 1, "rooms": 1}).to_list()
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in docs:
        for code in d.get("rooms", []):
            if code in codes:
                out[code].append(d)
    return out


async def holdings(db: AsyncDatabase, codes: list[str]) -> dict[str, dict[str, dict[str, int]]]:
    """room → format → {copies, titles}: copies held (on the shelf, on loan or in transit, not
    lost or damaged) and titles with at least one such copy."""
    rows = await _agg(db, "holdings", [
        {"$match": {"room": {"$in": codes}}},
        {"$project": {"room": 1, "title_id": 1, "copies": {"$add": [
            {"$ifNull": ["$on_shelf", 0]}, {"$ifNull": ["$on_loan", 0]}, {"$ifNull": ["$in_transit", 0]}]}}},
        {"$match": {"copies": {"$gt": 0}}},
        {"$lookup": {"from": "titles", "localField": "title_id", "foreignField": "_id", "as": "t"}},
        {"$unwind": "$t"},
        {"$group": {"_id": {"room": "$room", "format": "$t.format"}, "copies": {"$sum": "$copies"},
                    "titles": {"$sum": 1}}},
    ])
    out: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    for r in rows:
        out[r["_id"]["room"]][r["_id"].get("format") or "book"] = {"copies": int(r["copies"]),
                                                                   "titles": int(r["titles"])}
    return out


async def loans(db: AsyncDatabase, codes: list[str], period: Period) -> dict[str, dict[str, Any]]:
    """room → {loans, readers (distinct identified borrowers), anonymised (loans without a reader)}."""
    rows = await _agg(db, "loans", [
        {"$match": {"room": {"$in": codes}, "lent_at": {"$gte": period.start_utc, "$lt": period.end_utc}}},
        {"$group": {"_id": "$room", "n": {"$sum": 1}, "readers": {"$addToSet": "$reader_id"}}},
    ])
    out = {}
    for r in rows:
        known = [x for x in r["readers"] if x is not None]
        out[r["_id"]] = {"loans": int(r["n"]), "readers": len(known)}
    anon = await _agg(db, "loans", [
        {"$match": {"room": {"$in": codes}, "lent_at": {"$gte": period.start_utc, "$lt": period.end_utc},
                    "reader_id": None}},
        {"$group": {"_id": "$room", "n": {"$sum": 1}}},
    ])
    for r in anon:
        out.setdefault(r["_id"], {"loans": 0, "readers": 0})["anonymised"] = int(r["n"])
    return out


async def circulation_days(db: AsyncDatabase, codes: list[str], period: Period) -> dict[str, set[str]]:
    """room → local days with a loan, a return or a renewal there."""
    bounds = {"$gte": period.start_utc, "$lt": period.end_utc}
    out: dict[str, set[str]] = defaultdict(set)
    lent = await _agg(db, "loans", [
        {"$match": {"room": {"$in": codes}, "lent_at": bounds}},
        {"$group": {"_id": {"room": "$room", "day": _day("$lent_at")}}}])
    returned = await _agg(db, "loans", [
        {"$match": {"returned_room": {"$in": codes}, "returned_at": bounds}},
        {"$group": {"_id": {"room": "$returned_room", "day": _day("$returned_at")}}}])
    renewed = await _agg(db, "loans", [
        {"$match": {"room": {"$in": codes}, "renewed_at": {"$elemMatch": bounds}}},
        {"$unwind": "$renewed_at"}, {"$match": {"renewed_at": bounds}},
        {"$group": {"_id": {"room": "$room", "day": _day("$renewed_at")}}}])
    for r in [*lent, *returned, *renewed]:
        out[r["_id"]["room"]].add(r["_id"]["day"])
    return out


async def visit_days(db: AsyncDatabase, codes: list[str], period: Period) -> dict[str, dict[str, int]]:
    """room → local day → family check-ins (room_visits, no identity)."""
    docs = await db[roomcodes_repo.VISITS].find(
        {"room": {"$in": codes}, "day": {"$gte": period.first.isoformat(), "$lte": period.until.isoformat()}},
        {"room": 1, "day": 1, "visits": 1}).to_list()
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for d in docs:
        out[d["room"]][d["day"]] = int(d.get("visits", 0))
    return out


async def opening_days(db: AsyncDatabase, codes: list[str], period: Period) -> dict[str, set[str]]:
    out: dict[str, set[str]] = defaultdict(set)
    for d in await activities_repo.openings_in(db, codes, period.first.isoformat(), period.until.isoformat()):
        out[d["room"]].add(d["day"])
    return out


async def activities(db: AsyncDatabase, codes: list[str], period: Period) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in await activities_repo.activities_in(db, codes, period.first.isoformat(), period.last.isoformat()):
        out[d["room"]].append(d)
    return out


async def stocktakes(db: AsyncDatabase, codes: list[str], period: Period) -> dict[str, dict[str, Any]]:
    """room → its latest stocktake approved in the period."""
    docs = await db["stocktakes"].find(
        {"room": {"$in": codes}, "state": "approved", "approved_at": {"$gte": period.start_utc, "$lt": period.end_utc}},
        {"room": 1, "approved_at": 1, "started_at": 1, "report.expected_copies": 1, "report.scanned_copies": 1,
         "report.missing": 1}).sort("approved_at", -1).to_list()
    out: dict[str, dict[str, Any]] = {}
    for d in docs:
        out.setdefault(d["room"], d)
    return out


async def survey_answers(db: AsyncDatabase, codes: list[str], period: Period) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in await surveys_repo.answers_in(db, codes, period.first.isoformat(), period.last.isoformat()):
        out[d["room"]].append(d)
    return out


# -- families ----------------------------------------------------------------------------------------


async def members_of_accounts(db: AsyncDatabase, account_ids: list[ObjectId]) -> list[dict[str, Any]]:
    if not account_ids:
        return []
    return await db["members"].find({"account_id": {"$in": account_ids}},
                                    {"account_id": 1, "reader_id": 1, "name": 1, "status": 1}).to_list()


async def loans_by_reader(db: AsyncDatabase, reader_ids: list[ObjectId], period: Period) -> dict[ObjectId, int]:
    if not reader_ids:
        return {}
    rows = await _agg(db, "loans", [
        {"$match": {"reader_id": {"$in": reader_ids}, "lent_at": {"$gte": period.start_utc, "$lt": period.end_utc}}},
        {"$group": {"_id": "$reader_id", "n": {"$sum": 1}}}])
    return {r["_id"]: int(r["n"]) for r in rows}


async def participants(db: AsyncDatabase, member_ids: list[ObjectId], reader_ids: list[ObjectId]
                       ) -> list[dict[str, Any]]:
    clauses = [c for c in ({"member_id": {"$in": member_ids}} if member_ids else None,
                           {"reader_id": {"$in": reader_ids}} if reader_ids else None) if c]
    if not clauses:
        return []
    return await db[challenges_repo.PARTICIPANTS].find(
        {"$or": clauses}, {"challenge_id": 1, "member_id": 1, "reader_id": 1, "joined_at": 1}).to_list()


async def counted_logs(db: AsyncDatabase, participant_ids: list[ObjectId], period: Period) -> list[dict[str, Any]]:
    """Logs read in the period that count: not rejected, and any outlier flag accepted by staff."""
    if not participant_ids:
        return []
    docs = await db[challenges_repo.LOGS].find(
        {"participant_id": {"$in": participant_ids}, "status": "counted",
         "read_on": {"$gte": period.first.isoformat(), "$lte": period.last.isoformat()}},
        {"participant_id": 1, "challenge_id": 1, "amount": 1, "flag.status": 1, "book_title": 1, "read_on": 1}
    ).to_list()
    return [d for d in docs if not d.get("flag") or d["flag"].get("status") == "accepted"]


async def challenges(db: AsyncDatabase, ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    if not ids:
        return {}
    docs = await db[challenges_repo.CHALLENGES].find({"_id": {"$in": ids}}, {"unit": 1, "title": 1}).to_list()
    return {d["_id"]: d for d in docs}


async def contest_entries(db: AsyncDatabase, member_ids: list[ObjectId], period: Period) -> list[dict[str, Any]]:
    if not member_ids:
        return []
    return await db[contest_repo.ENTRIES].find(
        {"member_id": {"$in": member_ids}, "submitted_at": {"$gte": period.start_utc, "$lt": period.end_utc}},
        {"member_id": 1, "category": 1, "title": 1, "submitted_at": 1}).to_list()
