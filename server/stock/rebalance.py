"""Target stock per room and rebalancing suggestions, as plain data. Pure: no I/O.

Floating stock (通借通还: a copy belongs to the room it was returned to) drifts
toward the busy rooms. DOMAIN.md: keep a target per room and send copies toward
the room furthest below its target. Two entry points:

- ``suggest_rebalancing`` — a district-wide plan: surplus copies of rooms above
  their target go, greedily, to the rooms furthest below theirs (same town first,
  then the nearest by great-circle distance).
- ``destination_for_returned_copy`` — for one copy just returned: keep it, or
  send it to the room furthest below its target.

A room's ``level`` is the number of copies counted against its target (the
service counts on_shelf + on_loan, minus copies already requested out, plus
copies on their way in). Only copies on the shelf can move; a room never gives
away more than its surplus (level − target) and never more than it has on the
shelf; a room below its target never gives; a destination never receives more
than its deficit. Per-category targets (six-class mix) only steer which titles
go: they are preferences, not hard limits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

# DOMAIN.md "A room": at least 1,500 volumes (a district default).
DEFAULT_TARGET_VOLUMES = 1500
EARTH_RADIUS_KM = 6371.0088
SIX_CLASSES = ("政经", "科技", "生活", "文化", "少儿", "其他")


@dataclass(frozen=True)
class Target:
    """What a room should hold: ``total`` copies, optionally ``categories`` (six-class → copies)."""

    total: int = DEFAULT_TARGET_VOLUMES
    categories: Mapping[str, int] = field(default_factory=dict)


DEFAULT_TARGET = Target()


@dataclass(frozen=True)
class RoomCounts:
    """One room as the planner sees it."""

    code: str
    town: str
    lat: float
    lng: float
    level: int                                   # copies counted against the target
    on_shelf: Mapping[str, int] = field(default_factory=dict)  # title_id → copies free to move
    by_category: Mapping[str, int] = field(default_factory=dict)  # six-class → copies (level)


@dataclass(frozen=True)
class ProposedTransfer:
    origin: str
    destination: str
    lines: tuple[tuple[str, int], ...]           # (title_id, copies), title_id ascending
    distance_km: float
    same_town: bool

    @property
    def copies(self) -> int:
        return sum(q for _, q in self.lines)


def great_circle_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Haversine distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _distance(a: RoomCounts, b: RoomCounts) -> float:
    return great_circle_km(a.lat, a.lng, b.lat, b.lng)


def suggest_rebalancing(
    rooms_counts: Mapping[str, RoomCounts],
    targets: Mapping[str, Target],
    max_moves: int,
    *,
    title_categories: Mapping[str, str] | None = None,
    max_copies_per_transfer: int | None = None,
) -> list[ProposedTransfer]:
    """Up to ``max_moves`` transfers moving surplus toward the rooms furthest below target.

    Greedy: take the room with the largest deficit (ties: code); give it copies
    from the room with surplus in the same town, else the nearest one (ties:
    larger surplus, then code); move min(deficit, surplus, cap) copies, spread
    over titles the destination lacks first. Repeat until ``max_moves`` or until
    no room below target can be helped. ``targets`` missing a room means
    DEFAULT_TARGET. Deterministic.
    """
    if max_moves <= 0:
        return []
    cats = title_categories or {}
    level = {code: r.level for code, r in rooms_counts.items()}
    avail = {code: {t: n for t, n in r.on_shelf.items() if n > 0} for code, r in rooms_counts.items()}
    shelf_total = {code: sum(a.values()) for code, a in avail.items()}
    have = {code: dict(r.on_shelf) for code, r in rooms_counts.items()}  # destination's titles (grows)
    by_cat = {code: dict(r.by_category) for code, r in rooms_counts.items()}

    def target(code: str) -> Target:
        return targets.get(code, DEFAULT_TARGET)

    def surplus(code: str) -> int:
        return max(0, min(level[code] - target(code).total, shelf_total[code]))

    def deficit(code: str) -> int:
        return max(0, target(code).total - level[code])

    out: list[ProposedTransfer] = []
    while len(out) < max_moves:
        needy = sorted((c for c in rooms_counts if deficit(c) > 0), key=lambda c: (-deficit(c), c))
        donors = [c for c in rooms_counts if surplus(c) > 0]
        if not needy or not donors:
            break
        dest = needy[0]
        d = rooms_counts[dest]
        origin = min(donors, key=lambda c: (rooms_counts[c].town != d.town, round(_distance(rooms_counts[c], d), 6),
                                            -surplus(c), c))
        quantity = min(deficit(dest), surplus(origin))
        if max_copies_per_transfer:
            quantity = min(quantity, max_copies_per_transfer)
        cat_need = {cat: want - by_cat[dest].get(cat, 0) for cat, want in target(dest).categories.items()}
        lines = _pick_titles(avail[origin], quantity, have[dest], cat_need, cats)
        for title_id, q in lines:
            avail[origin][title_id] -= q
            if not avail[origin][title_id]:
                del avail[origin][title_id]
            have[dest][title_id] = have[dest].get(title_id, 0) + q
            cat = cats.get(title_id)
            if cat:
                by_cat[dest][cat] = by_cat[dest].get(cat, 0) + q
                by_cat[origin][cat] = by_cat[origin].get(cat, 0) - q
        shelf_total[origin] -= quantity
        level[origin] -= quantity
        level[dest] += quantity
        o = rooms_counts[origin]
        out.append(ProposedTransfer(origin, dest, tuple(sorted(lines)), round(_distance(o, d), 3), o.town == d.town))
    return out


def _pick_titles(
    available: Mapping[str, int], quantity: int, dest_has: Mapping[str, int],
    cat_need: Mapping[str, int], cats: Mapping[str, str],
) -> list[tuple[str, int]]:
    """``quantity`` copies from ``available``, one copy per title per round so the
    destination gets variety: categories it lacks first, then titles it does not
    have, then the origin's most duplicated titles."""
    order = sorted(
        available,
        key=lambda t: (-(cat_need.get(cats.get(t, ""), 0) > 0), dest_has.get(t, 0) > 0, -available[t], t),
    )
    taken: dict[str, int] = {}
    left = quantity
    while left > 0 and order:
        still = []
        for t in order:
            if left == 0:
                break
            taken[t] = taken.get(t, 0) + 1
            left -= 1
            if taken[t] < available[t]:
                still.append(t)
        order = still if left else []
    return list(taken.items())


def destination_for_returned_copy(
    room: str, title: str, counts: Mapping[str, RoomCounts], targets: Mapping[str, Target],
) -> str:
    """Where a copy of ``title`` just returned in ``room`` should go: ``room`` itself
    (stay) unless ``room`` is above its target and another room is below its own;
    then the room furthest below its target (ties: one without the title, same
    town, nearest, code)."""
    here = counts.get(room)
    if here is None:
        return room

    def deficit(c: RoomCounts) -> int:
        return targets.get(c.code, DEFAULT_TARGET).total - c.level

    if deficit(here) >= 0:
        return room
    needy = [c for c in counts.values() if c.code != room and deficit(c) > 0]
    if not needy:
        return room
    best = min(needy, key=lambda c: (-deficit(c), c.on_shelf.get(title, 0) > 0, c.town != here.town,
                                     round(_distance(c, here), 6), c.code))
    return best.code
