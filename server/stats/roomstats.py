"""Per-room figures folded from the big collections ahead of time (collection ``room_stats``).

The dashboard must answer in well under a second with tens of thousands of loans and ledger
entries. Folding ``stock_moves`` and scanning ``loans`` on every view costs seconds (on the
dev stack, tens of seconds), so the nightly job (and ``python -m server stats-snapshot``,
and ``POST /api/v1/stats/refresh``) folds them once into small documents the dashboard reads:

    {_id: "<room>|<year>", kind: "stock", room, year,
     formats: {book|periodical|audio_visual: {copies, titles, received}},
     categories: {政经|科技|…: book copies}, loans: {"01".."12": {category: loans}}, computed_at}
      — holdings as of 31 December of ``year`` (today for the current year), from the ledger,
        and the loans of each month from ``loan_stats`` (no reader identity)
    {_id: "<room>|recent", kind: "recent", room, days, first, last, expected, shown, last_sign,
     computed_at}
      — the last ``RECENT_DAYS`` days: days its hours say it opens, and of those the days it
        showed it was open (loans/returns/renewals, 今日开馆 check-ins, activities, visits);
        ``last_sign`` the latest day with any sign (None: none in the window)

A year whose figures were never folded is folded on demand the first time it is asked for.
Past years change only if a late offline upload dates a move into them: the job refolds
the current and the previous year.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pymongo import ASCENDING, IndexModel, UpdateOne

from server.stats import facts
from server.stats.period import Period
from training.ratings.metrics.rooms import expected_days

if TYPE_CHECKING:
    from server.resources import Deps

COLLECTION = "room_stats"
INDEXES = {COLLECTION: [IndexModel([("kind", ASCENDING), ("year", ASCENDING), ("room", ASCENDING)])]}
RECENT_DAYS = 30


def _year_end(year: int, today: date) -> datetime:
    return Period(first=date(year, 1, 1), last=date(year, 12, 31), today=today).end_utc


async def fold_years(deps: Deps, years: list[int], today: date) -> int:
    """Fold the ledger of every room for ``years`` and store one document per room and year
    (rooms with nothing get none). One aggregation and one bulk write."""
    if not years:
        return 0
    rooms = await deps.db["rooms"].find({}, {"code": 1}).to_list()
    codes = [r["code"] for r in rooms]
    fold = await facts.stock_fold(deps.db, codes, sorted(years), _year_end(max(years), today))
    loans = await facts.loan_months(deps.db, codes, f"{min(years)}-01", f"{max(years)}-12")
    now = datetime.now(UTC)
    docs: dict[tuple[str, int], dict[str, Any]] = {}
    for row in loans:
        y = int(row["month"][:4])
        if y in years:
            doc = docs.setdefault((row["room"], y), {"formats": {}, "categories": {}})
            months = doc.setdefault("loans", {}).setdefault(row["month"][5:7], {})
            months[row["category"]] = months.get(row["category"], 0) + row["loans"]
    for row in fold.rows:
        for y in years:
            doc = docs.setdefault((row["room"], y), {"formats": {}, "categories": {}})
            f = doc["formats"].setdefault(row["format"], {"copies": 0, "titles": 0, "received": 0})
            f["copies"] += int(row.get(f"c{y}", 0))
            f["titles"] += int(row.get(f"t{y}", 0))
            f["received"] += int(row.get(f"r{y}", 0))
            if row["format"] == "book":
                doc["categories"][row["category"]] = doc["categories"].get(row["category"], 0) + int(row.get(f"c{y}", 0))
    updates = [UpdateOne({"_id": f"{room}|{y}"}, {"$set": {"kind": "stock", "room": room, "year": y, **doc,
                                                           "computed_at": now}}, upsert=True)
               for (room, y), doc in docs.items()]
    # A year folded with nothing in some room still counts as folded: a marker per year.
    updates += [UpdateOne({"_id": f"*|{y}"}, {"$set": {"kind": "stock_year", "room": "*", "year": y,
                                                       "computed_at": now}}, upsert=True) for y in years]
    await deps.db[COLLECTION].bulk_write(updates, ordered=False)
    return len(updates)


async def fold_recent(deps: Deps, today: date) -> int:
    """The opening signals of the last ``RECENT_DAYS`` days, per active room."""
    rooms = await deps.db["rooms"].find({"status": "active"}, {"code": 1, "opening_hours": 1}).to_list()
    codes = [r["code"] for r in rooms]
    window = Period(first=today - timedelta(days=RECENT_DAYS - 1), last=today, today=today)
    lent = await facts.circulation_days(deps.db, codes, window)
    opened = await facts.opening_days(deps.db, codes, window)
    visits = await facts.visit_days(deps.db, codes, window)
    held = await facts.activity_days(deps.db, codes, window)
    now = datetime.now(UTC)
    updates = []
    for r in rooms:
        code = r["code"]
        due = set(expected_days(r.get("opening_hours") or {}, window.days()))
        signs = lent.get(code, set()) | opened.get(code, set()) | held.get(code, set()) | {
            d for d, k in visits.get(code, {}).items() if k}
        updates.append(UpdateOne({"_id": f"{code}|recent"}, {"$set": {
            "kind": "recent", "room": code, "days": RECENT_DAYS, "first": window.first.isoformat(),
            "last": window.last.isoformat(), "expected": len(due), "shown": len(due & signs),
            "last_sign": max(signs, default=None), "computed_at": now}},
            upsert=True))
    if updates:
        await deps.db[COLLECTION].bulk_write(updates, ordered=False)
    return len(updates)


async def refresh(deps: Deps, today: date, years: list[int] | None = None) -> int:
    """The nightly fold: the current and previous year (or ``years``) and the recent signals."""
    chosen = years or [today.year - 1, today.year]
    return await fold_years(deps, chosen, today) + await fold_recent(deps, today)


async def stock(deps: Deps, codes: list[str], years: list[int], today: date
                ) -> dict[int, dict[str, dict[str, Any]]]:
    """year → room → {formats, categories, loans}; years never folded are folded now (and stored)."""
    wanted = list(years)
    markers = {d["year"] for d in await deps.db[COLLECTION].find(
        {"_id": {"$in": [f"*|{y}" for y in wanted]}}, {"year": 1}).to_list()}
    missing = [y for y in wanted if y not in markers]
    if missing:
        await fold_years(deps, missing, today)
    # By kind and year only, keeping ``codes`` here: a district has a few hundred of these, and a
    # room ``$in`` beside them made the dev database (SecantusDB) scan several times longer.
    docs = await deps.db[COLLECTION].find({"kind": "stock", "year": {"$in": wanted}},
                                          {"room": 1, "year": 1, "formats": 1, "categories": 1, "loans": 1}
                                          ).to_list()
    wanted_rooms = set(codes)
    out: dict[int, dict[str, dict[str, Any]]] = {y: {} for y in years}
    for d in docs:
        if d["room"] in wanted_rooms:
            out[d["year"]][d["room"]] = d
    return out


async def recent(deps: Deps, codes: list[str], today: date) -> dict[str, dict[str, Any]]:
    """room → {expected, shown, last (the fold's last day), last_sign} of the last days;
    folded now if never folded."""
    flt = {"kind": "recent"}  # one per room of the district; ``codes`` kept here (see ``stock``)
    fields = {"room": 1, "expected": 1, "shown": 1, "last": 1, "last_sign": 1}
    wanted = set(codes)
    docs = [d for d in await deps.db[COLLECTION].find(flt, fields).to_list() if d["room"] in wanted]
    if not docs and codes:
        await fold_recent(deps, today)
        docs = [d for d in await deps.db[COLLECTION].find(flt, fields).to_list() if d["room"] in wanted]
    return {d["room"]: d for d in docs}
