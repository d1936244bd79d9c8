"""Reader counts kept apart from the loan histories (collection ``reader_stats``).

How many *different* readers borrowed in a period cannot be rebuilt once the loans are
anonymised (Public Library Law art. 43 — the nightly job removes the reader from loans
closed more than ``loan_record_retention_days`` ago), and ``loan_stats`` counts loans, not
people. So the counts are snapshotted while the identities are still there:

    {_id: "<scope>|<period>", room: <scope>, period: "YYYY" | "YYYY-MM",
     active_readers, child_readers, new_readers, computed_at}

``scope`` is a room code, ``town:<town name>`` or ``*`` (the whole district): distinct
readers do not add up across rooms (one card borrows anywhere), so towns and the district
are counted themselves. ``child_readers`` are readers whose loan was made while they were a
child (the loan's ``age_group``); ``new_readers`` are cards issued in the period (by home room).

The stored figure is the MAX of the stored and the newly computed one: within a period the
distinct readers only grow as loans are added, and anonymisation only removes identities —
a recount after it can only be lower, never more right. No reader id is stored.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, IndexModel, UpdateOne

from server.circulation import repo as circulation_repo
from server.readers import repo as readers_repo
from server.stats.period import Period

if TYPE_CHECKING:
    from server.resources import Deps

COLLECTION = "reader_stats"
INDEXES = {COLLECTION: [IndexModel([("period", ASCENDING), ("room", ASCENDING)])]}
DISTRICT = "*"
FIGURES = ("active_readers", "child_readers", "new_readers")
# Days into a month during which the previous month is still recounted (late offline uploads).
CATCH_UP_DAYS = 7


def town_scope(town: str) -> str:
    return f"town:{town}"


def key(scope: str, period: str) -> str:
    return f"{scope}|{period}"


def period_bounds(period: str, today: date) -> Period:
    """"2026" or "2026-05" as local days."""
    if len(period) == 4:
        y = int(period)
        return Period(first=date(y, 1, 1), last=date(y, 12, 31), today=today)
    y, m = int(period[:4]), int(period[5:7])
    nxt = date(y + (m == 12), m % 12 + 1, 1)
    return Period(first=date(y, m, 1), last=nxt - timedelta(days=1), today=today)


def default_periods(today: date) -> list[str]:
    """The current year and month, and in the first days of a month the previous month (and,
    in early January, the previous year) so late uploads are counted."""
    periods = [f"{today.year}", today.strftime("%Y-%m")]
    if today.day <= CATCH_UP_DAYS:
        previous = today.replace(day=1) - timedelta(days=1)
        periods.append(previous.strftime("%Y-%m"))
        if previous.year != today.year:
            periods.append(f"{previous.year}")
    return periods


def year_periods(year: int, today: date) -> list[str]:
    """A whole year: the year and each of its months up to today."""
    last = 12 if year < today.year else today.month
    return [f"{year}", *(f"{year}-{m:02d}" for m in range(1, last + 1))]


def count_readers(readers: list[dict[str, Any]], town_of: dict[str, str]) -> dict[str, dict[str, int]]:
    """scope → {active_readers, child_readers} from [{rooms: [...], child: bool}] (one per
    distinct reader). Pure."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"active_readers": 0, "child_readers": 0})
    for r in readers:
        scopes = {DISTRICT, *r["rooms"], *(town_scope(town_of[c]) for c in r["rooms"] if c in town_of)}
        for s in scopes:
            out[s]["active_readers"] += 1
            out[s]["child_readers"] += 1 if r.get("child") else 0
    return out


async def _count(deps: Deps, period: Period, town_of: dict[str, str]) -> dict[str, dict[str, int]]:
    db = deps.db
    rows = await (await db[circulation_repo.LOANS].aggregate([
        # ``room`` lets the (room, lent_at) index serve the range.
        {"$match": {"room": {"$in": sorted(town_of)}, "lent_at": {"$gte": period.start_utc, "$lt": period.end_utc},
                    "reader_id": {"$ne": None}}},
        {"$group": {"_id": "$reader_id", "rooms": {"$addToSet": "$room"},
                    "child": {"$max": {"$cond": [{"$eq": ["$age_group", "child"]}, 1, 0]}}}},
        {"$project": {"_id": 0, "rooms": 1, "child": 1}},
    ])).to_list()
    out = count_readers(rows, town_of)
    new = await (await db[readers_repo.COLLECTION].aggregate([
        {"$match": {"created_at": {"$gte": period.start_utc, "$lt": period.end_utc}}},
        {"$group": {"_id": "$home_room", "n": {"$sum": 1}}},
    ])).to_list()
    for r in new:
        n = int(r["n"])
        for s in {DISTRICT, r["_id"], *([town_scope(town_of[r["_id"]])] if r["_id"] in town_of else [])}:
            out.setdefault(s, {"active_readers": 0, "child_readers": 0})
            out[s]["new_readers"] = out[s].get("new_readers", 0) + n
    out.setdefault(DISTRICT, {"active_readers": 0, "child_readers": 0})
    return out


async def snapshot(deps: Deps, today: date, periods: list[str] | None = None) -> int:
    """Count the distinct readers of every room, town and the district for ``periods``
    (default ``default_periods(today)``) and store each figure as the MAX of the stored one
    and the new one (see the module docstring: anonymisation never lowers a stored count).
    Returns the number of documents written. Two reads per period and one bulk write."""
    rooms = await deps.db["rooms"].find({}, {"code": 1, "town": 1}).to_list()
    town_of = {r["code"]: r.get("town", "") for r in rooms}
    now = datetime.now(UTC)
    updates = []
    for period in periods or default_periods(today):
        counts = await _count(deps, period_bounds(period, today), town_of)
        for scope, figures in counts.items():
            values = {f: int(figures.get(f, 0)) for f in FIGURES}
            updates.append(UpdateOne({"_id": key(scope, period)},
                                     {"$max": values, "$set": {"room": scope, "period": period, "computed_at": now}},
                                     upsert=True))
    if updates:
        await deps.db[COLLECTION].bulk_write(updates, ordered=False)
    return len(updates)


async def stored(deps: Deps, scopes: list[str], periods: list[str]) -> dict[tuple[str, str], dict[str, Any]]:
    """(scope, period) → the stored figures, for every pair that has been snapshotted."""
    docs = await deps.db[COLLECTION].find({"_id": {"$in": [key(s, p) for s in scopes for p in periods]}}).to_list()
    return {(d["room"], d["period"]): d for d in docs}


def scope_keys(district: bool, towns: list[str]) -> list[str]:
    return [DISTRICT] if district else [town_scope(t) for t in towns]


def active_readers(figures: dict[tuple[str, str], dict[str, Any]], scopes: list[str], period: str,
                   field: str = "active_readers") -> int | None:
    """The sum over ``scopes`` of a stored figure for ``period``; None if none was ever stored."""
    docs = [figures[(s, period)] for s in scopes if (s, period) in figures]
    if not docs:
        return None
    return sum(int(d.get(field, 0)) for d in docs)
