"""Expected use of each candidate title in each room of a plan.

``expected_use`` is pure (signals in, ``RoomDemand`` out); ``gather_demand`` reads the
signals from Mongo in a fixed number of queries (no query per room or title).

Signals and weights (per room r, candidate t):
- base: 1.0 × the room's weight for t's category, + ``LIST_PRIOR`` if t is on the list;
- the category weight: the room's share of loans in that category over the last
  ``LOAN_YEARS`` years divided by its share of holdings in it (turnover), clamped to
  [0.5, 2.0]; a category whose holdings share is below target − tolerance gets ×1.2;
- 少儿 × (1 + 2 × the children's share of the room's readers);
- the administrator's pick +``ADMIN_PICK`` (each copy beyond the first worth ``ADMIN_EXTRA``);
  each supporting reader of an accepted suggestion +2; each unfilled hold +2;
- a title the room holds: excluded if all copies sit on the shelf (unread), ×0.5 if lent;
- each of the ``NEIGHBOURS`` nearest rooms holding it on the shelf: ×(1 − 0.15).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from distribution.selection import CATEGORIES, RoomDemand, Rules

if TYPE_CHECKING:
    from server.resources import Deps

LIST_PRIOR = 0.3
ADMIN_PICK = 10.0
ADMIN_EXTRA = 3.0
PER_SUPPORTER = 2.0
PER_HOLD = 2.0
NEIGHBOURS = 3
NEIGHBOUR_DISCOUNT = 0.15
LOAN_YEARS = 3
CHILD_AGE = 14


@dataclass
class Signals:
    """Everything ``expected_use`` needs, as plain data."""

    rooms: list[str]
    candidates: list[dict[str, Any]]  # title_id, category, on_list
    picks: list[dict[str, Any]] = field(default_factory=list)  # room, title_id, copies, kind
    supporters: dict[tuple[str, str], int] = field(default_factory=dict)  # (room, title_id) -> readers
    holds: dict[tuple[str, str], int] = field(default_factory=dict)  # (room, title_id) -> waiting holds
    loans_by_category: dict[str, dict[str, int]] = field(default_factory=dict)  # room -> category -> loans
    holdings_by_category: dict[str, dict[str, int]] = field(default_factory=dict)  # room -> category -> titles
    held: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)  # (room, title) -> (shelf, loan)
    children_share: dict[str, float] = field(default_factory=dict)
    locations: dict[str, tuple[float, float]] = field(default_factory=dict)  # room -> (lng, lat)


def _km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lng1, lat1, lng2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 12742.0 * math.asin(math.sqrt(h))


def neighbours(locations: Mapping[str, tuple[float, float]], k: int = NEIGHBOURS) -> dict[str, list[str]]:
    """Each room's ``k`` nearest rooms (great-circle distance)."""
    out = {}
    for r, p in locations.items():
        others = sorted((_km(p, q), o) for o, q in locations.items() if o != r)
        out[r] = [o for _d, o in others[:k]]
    return out


def category_weights(rules: Rules, loans: Mapping[str, int], holdings: Mapping[str, int]
                     ) -> tuple[dict[str, float], list[str]]:
    """A room's weight per category and the reasons it gives (Chinese)."""
    w = dict.fromkeys(CATEGORIES, 1.0)
    notes: dict[str, str] = {}
    tl, th = sum(loans.values()), sum(holdings.values())
    if tl > 0 and th > 0:
        for c in CATEGORIES:
            ls, hs = loans.get(c, 0) / tl, holdings.get(c, 0) / th
            w[c] = min(2.0, max(0.5, ls / hs)) if hs > 0 else (1.5 if ls > 0 else 1.0)
        top = max(CATEGORIES, key=lambda c: loans.get(c, 0))
        notes[top] = f"本书屋借阅以{top}类为主"
    if th > 0:
        for c in CATEGORIES:
            if holdings.get(c, 0) / th < rules.category_targets.get(c, 0.0) - rules.category_tolerance:
                w[c] *= 1.2
                notes.setdefault(c, f"{c}类藏书低于目标")
    return w, [f"{c}:{n}" for c, n in notes.items()]


def expected_use(rules: Rules, s: Signals) -> list[RoomDemand]:
    """Per room: value and extra-copy value of every candidate, the reasons, the exclusions."""
    near = neighbours(s.locations)
    on_shelf_rooms: dict[str, set[str]] = defaultdict(set)
    for (room, tid), (shelf, _loan) in s.held.items():
        if shelf > 0:
            on_shelf_rooms[tid].add(room)
    picks: dict[tuple[str, str], dict[str, int]] = defaultdict(dict)
    for p in s.picks:
        picks[(p["room"], p["title_id"])][p["kind"]] = int(p.get("copies", 1))
    out = []
    for room in s.rooms:
        w, notes = category_weights(rules, s.loans_by_category.get(room, {}), s.holdings_by_category.get(room, {}))
        note_of = dict(n.split(":", 1) for n in notes)
        kids = s.children_share.get(room, 0.0)
        w["少儿"] *= 1 + 2 * kids
        values: dict[str, float] = {}
        extra: dict[str, float] = {}
        reasons: dict[str, list[str]] = {}
        excluded = set()
        for c in s.candidates:
            tid, cat = c["title_id"], c.get("category", "其他")
            why: list[str] = []
            v = w.get(cat, 1.0) + (LIST_PRIOR if c.get("on_list") else 0.0)
            if cat in note_of:
                why.append(note_of[cat])
            if cat == "少儿" and kids >= 0.25:
                why.append(f"本书屋读者中少儿占 {kids:.0%}")
            e = 0.0
            pk = picks.get((room, tid), {})
            if "admin" in pk:
                v += ADMIN_PICK
                e = max(e, ADMIN_EXTRA if pk["admin"] > 1 else 0.0)
                why.insert(0, "管理员点选")
            n_sup = s.supporters.get((room, tid), 1 if "reader_suggestion" in pk else 0)
            if n_sup:
                v += PER_SUPPORTER * n_sup
                e = max(e, 0.5 * n_sup if n_sup > 1 else 0.0)
                why.insert(0, f"{n_sup} 位读者荐购")
            n_hold = max(s.holds.get((room, tid), 0), pk.get("hold", 0))
            if n_hold:
                v += PER_HOLD * n_hold
                e = max(e, 1.0 * (n_hold - 1))
                why.insert(0, f"{n_hold} 位读者预约未满足")
            shelf, loan = s.held.get((room, tid), (0, 0))
            if shelf or loan:
                if loan == 0 and not pk:
                    excluded.add(tid)
                    continue
                v *= 0.5
                why.append("本书屋现有复本借阅中")
            k = sum(1 for o in near.get(room, []) if o in on_shelf_rooms.get(tid, ()))
            if k:
                v *= 1 - NEIGHBOUR_DISCOUNT * k
            values[tid] = round(v, 4)
            if e > 0:
                extra[tid] = e
            if why:
                reasons[tid] = why
        out.append(RoomDemand(room=room, values=values, extra_copy_values=extra, reasons=reasons,
                              excluded=frozenset(excluded)))
    return out


def _point(doc: Mapping[str, Any]) -> tuple[float, float] | None:
    loc = doc.get("location") or {}
    if isinstance(loc.get("coordinates"), Sequence) and len(loc["coordinates"]) == 2:
        return float(loc["coordinates"][0]), float(loc["coordinates"][1])
    if "lng" in loc and "lat" in loc:
        return float(loc["lng"]), float(loc["lat"])
    return None


async def _agg(coll: Any, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return await (await coll.aggregate(pipeline)).to_list()


async def gather_demand(deps: Deps, plan: Mapping[str, Any], candidates: list[dict[str, Any]]) -> Signals:
    """Read the plan's demand signals: picks, suggestions, holds, loans, holdings, readers, rooms."""
    db = deps.db
    rooms = list(plan.get("rooms") or [])
    tids = [c["title_id"] for c in candidates]
    s = Signals(rooms=rooms, candidates=candidates)
    s.picks = await db["dist_picks"].find({"plan_id": plan["_id"]}, {"room": 1, "title_id": 1, "copies": 1,
                                                                     "kind": 1}).to_list()
    for d in await _agg(db["suggestions"], [
        {"$match": {"status": "accepted", "supporters.room": {"$in": rooms},
                    "$or": [{"title_id": {"$in": tids}}, {"isbn": {"$in": tids}}]}},
        {"$unwind": "$supporters"},
        {"$match": {"supporters.room": {"$in": rooms}}},
        {"$group": {"_id": {"r": "$supporters.room", "t": {"$ifNull": ["$title_id", "$isbn"]}}, "n": {"$sum": 1}}},
    ]):
        s.supporters[(d["_id"]["r"], d["_id"]["t"])] = int(d["n"])
    for d in await _agg(db["holds"], [
        {"$match": {"status": "waiting", "title_id": {"$in": tids}, "pickup_room": {"$in": rooms}}},
        {"$group": {"_id": {"r": "$pickup_room", "t": "$title_id"}, "n": {"$sum": 1}}},
    ]):
        s.holds[(d["_id"]["r"], d["_id"]["t"])] = int(d["n"])
    since = f"{datetime.now(UTC).year - LOAN_YEARS:04d}-01"
    for d in await _agg(db["loan_stats"], [
        {"$match": {"room": {"$in": rooms}, "month": {"$gte": since}}},
        {"$group": {"_id": {"r": "$room", "c": "$category"}, "n": {"$sum": "$loans"}}},
    ]):
        s.loans_by_category.setdefault(d["_id"]["r"], {})[d["_id"]["c"]] = int(d["n"] or 0)
    held = await db["holdings"].find({"room": {"$in": rooms}},
                                     {"room": 1, "title_id": 1, "on_shelf": 1, "on_loan": 1}).to_list()
    cats = {d["_id"]: d.get("category") or "其他" for d in await db["titles"].find(
        {"_id": {"$in": sorted({h["title_id"] for h in held})}}, {"category": 1}).to_list()} if held else {}
    cand_ids = set(tids)
    for h in held:
        shelf, loan = int(h.get("on_shelf", 0)), int(h.get("on_loan", 0))
        if shelf + loan <= 0:
            continue
        room_cats = s.holdings_by_category.setdefault(h["room"], {})
        c = cats.get(h["title_id"], "其他")
        room_cats[c] = room_cats.get(c, 0) + 1
        if h["title_id"] in cand_ids:
            s.held[(h["room"], h["title_id"])] = (shelf, loan)
    child_after = datetime.now(UTC).year - CHILD_AGE
    for d in await _agg(db["readers"], [
        {"$match": {"home_room": {"$in": rooms}}},
        {"$group": {"_id": "$home_room", "n": {"$sum": 1},
                    "kids": {"$sum": {"$cond": [{"$gt": [{"$ifNull": ["$birth_year", 0]}, child_after]}, 1, 0]}}}},
    ]):
        if d["n"]:
            s.children_share[d["_id"]] = d["kids"] / d["n"]
    for d in await db["rooms"].find({"code": {"$in": rooms}}, {"code": 1, "location": 1}).to_list():
        p = _point(d)
        if p:
            s.locations[d["code"]] = p
    return s
