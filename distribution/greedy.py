"""The greedy baseline for title selection (pure): value per yuan first, rules repaired.

Each room is built for a given number of titles ``N``: the category counts start from
the ``N`` best titles by value per yuan and are clamped into each category's band
(target ± tolerance) and adjusted back to ``N``; within each category the best titles by
value per yuan are taken; then swaps inside a category repair the recommended-list share
and the own-province cap; ``N`` grows until the room's minimum spend is met. Across rooms,
a heap hands the remaining budget to the move (one more title in a room, or one more copy
of an on-list title) with the best gain per yuan. The result satisfies every rule whenever
the rules can be met this way; ``feasible`` says whether it did.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from distribution.plans.rules import BP
from distribution.selection import (
    CATEGORIES,
    Candidate,
    Line,
    RoomDemand,
    Rules,
    check_rules,
)

LOOKAHEAD = 8  # sizes tried beyond a room's current N


@dataclass
class GreedyResult:
    lines: list[Line]
    objective: float
    feasible: bool
    wall_secs: float
    copies: dict[str, dict[str, int]] = field(default_factory=dict)  # room -> title_id -> copies


@dataclass
class _Room:
    name: str
    cands: list[Candidate]
    value: dict[str, float]
    extra: dict[str, float]
    pinned: set[str]
    by_cat: dict[str, list[Candidate]]  # each sorted by value per yuan, best first
    order: list[Candidate]  # all, by value per yuan
    chosen: list[Candidate] = field(default_factory=list)
    copies: dict[str, int] = field(default_factory=dict)
    n: int = 0

    def ratio(self, c: Candidate) -> float:
        return self.value.get(c.title_id, 0.0) / max(c.price_fen, 1)

    def spend(self) -> int:
        return sum(c.price_fen * self.copies.get(c.title_id, 1) for c in self.chosen)

    def worth(self) -> float:
        return sum(self.value.get(c.title_id, 0.0) + (self.copies.get(c.title_id, 1) - 1)
                   * self.extra.get(c.title_id, 0.0) for c in self.chosen)


def _ceil_share(share_bp: int, n: int) -> int:
    """The fewest of ``n`` titles that make at least ``share_bp`` basis points (exact)."""
    return -(-share_bp * n // BP)


def _counts(rules: Rules, room: _Room, n: int) -> dict[str, int] | None:
    """Titles per category for ``n`` titles: value per yuan first, clamped into the bands."""
    bands = rules.category_bands()  # basis points, exactly as the plan checker counts
    avail = {c: len(room.by_cat.get(c, [])) for c in CATEGORIES}
    lo = {c: max(0, _ceil_share(bands[c][0], n)) for c in CATEGORIES}
    hi = {c: min(avail[c], bands[c][1] * n // BP) for c in CATEGORIES}
    pins = {c: sum(1 for t in room.pinned if any(x.title_id == t for x in room.by_cat.get(c, []))) for c in CATEGORIES}
    for c in CATEGORIES:
        lo[c] = max(lo[c], pins[c])
        if lo[c] > hi[c]:
            return None
    if sum(lo.values()) > n or sum(hi.values()) < n:
        return None
    raw = {c: 0 for c in CATEGORIES}
    for cand in room.order[:n]:
        if cand.category in raw:
            raw[cand.category] += 1
    k = {c: min(max(raw[c], lo[c]), hi[c]) for c in CATEGORIES}

    def next_ratio(c: str) -> float:
        lst = room.by_cat.get(c, [])
        return room.ratio(lst[k[c]]) if k[c] < len(lst) else -math.inf

    while sum(k.values()) < n:
        c = max((c for c in CATEGORIES if k[c] < hi[c]), key=next_ratio)
        k[c] += 1
    while sum(k.values()) > n:
        c = min((c for c in CATEGORIES if k[c] > lo[c]), key=lambda c: room.ratio(room.by_cat[c][k[c] - 1]))
        k[c] -= 1
    return k


def _build(rules: Rules, room: _Room, n: int) -> list[Candidate] | None:
    """A rule-satisfying choice of ``n`` titles for one room (spend not checked), or None."""
    k = _counts(rules, room, n)
    if k is None:
        return None
    chosen: list[Candidate] = []
    for c in CATEGORIES:
        lst = room.by_cat.get(c, [])
        pins = [x for x in lst if x.title_id in room.pinned]
        rest = [x for x in lst if x.title_id not in room.pinned]
        chosen += pins + rest[: k[c] - len(pins)]
    ids = {x.title_id for x in chosen}
    need_list = _ceil_share(rules.list_share_bp(), n)
    max_own = rules.own_province_bp() * n // BP

    def own(x: Candidate) -> bool:
        return bool(rules.own_province) and x.province == rules.own_province

    def swap(bad, good) -> bool:  # type: ignore[no-untyped-def]
        """Replace the worst chosen title matching ``bad`` by the best unchosen one of its category matching ``good``."""
        outs = sorted((x for x in chosen if x.title_id not in room.pinned and bad(x)), key=room.ratio)
        for out in outs:
            for cand in room.by_cat.get(out.category, []):
                if cand.title_id not in ids and good(cand, out):
                    chosen.remove(out)
                    ids.discard(out.title_id)
                    chosen.append(cand)
                    ids.add(cand.title_id)
                    return True
        return False

    while sum(1 for x in chosen if x.on_list) < need_list:
        if not swap(lambda x: not x.on_list, lambda c, o: c.on_list and (not own(c) or own(o))):
            return None
    while sum(1 for x in chosen if own(x)) > max_own:
        if not swap(own, lambda c, o: not own(c) and c.on_list >= o.on_list):
            return None
    return chosen


def greedy_select(rules: Rules, candidates: Sequence[Candidate], rooms: Sequence[RoomDemand],
                  pins: Iterable[tuple[str, str]] = (), forbids: Iterable[tuple[str | None, str]] = ()) -> GreedyResult:
    """Greedy selection that respects every rule when it can (``feasible`` says so)."""
    t0 = time.perf_counter()
    pins = list(pins)
    forbids = list(forbids)
    state: list[_Room] = []
    for rd in rooms:
        banned = set(rd.excluded) | {t for r, t in forbids if r is None or r == rd.room}
        pinned = {t for r, t in pins if r == rd.room}
        cands = [c for c in candidates if c.title_id not in banned or c.title_id in pinned]
        room = _Room(rd.room, cands, rd.values, rd.extra_copy_values, pinned, {}, [])
        key = lambda c, room=room: (-room.ratio(c), -room.value.get(c.title_id, 0.0), c.title_id)  # noqa: E731
        room.order = sorted(cands, key=key)
        for c in room.order:
            room.by_cat.setdefault(c.category, []).append(c)
        state.append(room)
    feasible = True
    for room in state:
        n = max(rules.min_titles_per_room, len(room.pinned))
        built = None
        while n <= len(room.cands):
            built = _build(rules, room, n)
            if built is not None and sum(c.price_fen for c in built) >= rules.min_fen_per_room:
                break
            n += 1
        if built is None or n > len(room.cands):
            feasible = False
            built = built or room.order[: rules.min_titles_per_room]
        room.chosen, room.n, room.copies = built, n, {}
    total = sum(r.spend() for r in state)
    if total > rules.budget_fen:
        feasible = False
    # Moves: (−gain per yuan, tie, room index, kind, payload); kind "n" = one more title, "c" = one more copy.
    heap: list[tuple[float, int, int, str, str]] = []
    tie = 0

    def push_room(i: int) -> None:
        nonlocal tie
        room = state[i]
        # The rebuild for N+1 can reshuffle the category counts and lose value; look a few
        # sizes ahead so a room does not stop growing at the first such step.
        base_value = sum(room.value.get(c.title_id, 0.0) for c in room.chosen)
        base_cost = sum(c.price_fen for c in room.chosen)
        for n in range(room.n + 1, min(room.n + LOOKAHEAD, len(room.cands)) + 1):
            nxt = _build(rules, room, n)
            if nxt is None:
                continue
            gain = sum(room.value.get(c.title_id, 0.0) for c in nxt) - base_value
            if gain > 0:
                cost = sum(c.price_fen for c in nxt) - base_cost
                tie += 1
                heapq.heappush(heap, (-gain / max(cost, 1), tie, i, "n", str(n)))
                break
        for c in room.chosen:
            if c.on_list and room.extra.get(c.title_id, 0.0) > 0 and room.copies.get(c.title_id, 1) < rules.max_copies:
                tie += 1
                heapq.heappush(heap, (-room.extra[c.title_id] / max(c.price_fen, 1), tie, i, "c", c.title_id))

    if feasible:
        for i in range(len(state)):
            push_room(i)
    seen_copy: set[tuple[int, str, int]] = set()
    while heap:
        _neg, _t, i, kind, tid = heapq.heappop(heap)
        room = state[i]
        if kind == "n":
            target = int(tid)
            if target <= room.n:
                continue
            nxt = _build(rules, room, target)
            if nxt is None:
                continue
            before = room.spend()
            old_copies = room.copies
            ids = {c.title_id for c in nxt}
            copies = {t: k for t, k in old_copies.items() if t in ids}
            after = sum(c.price_fen * copies.get(c.title_id, 1) for c in nxt)
            if total - before + after > rules.budget_fen or after < rules.min_fen_per_room:
                continue
            total += after - before
            room.chosen, room.n, room.copies = nxt, target, copies
            push_room(i)
        else:
            cur = room.copies.get(tid, 1)
            cand = next((c for c in room.chosen if c.title_id == tid), None)
            if cand is None or cur >= rules.max_copies or (i, tid, cur) in seen_copy:
                continue
            seen_copy.add((i, tid, cur))
            if total + cand.price_fen > rules.budget_fen:
                continue
            room.copies[tid] = cur + 1
            total += cand.price_fen
            if cur + 1 < rules.max_copies:
                tie += 1
                heapq.heappush(heap, (-room.extra[tid] / max(cand.price_fen, 1), tie, i, "c", tid))
    lines = [Line(room=r.name, title_id=c.title_id, copies=r.copies.get(c.title_id, 1), price_fen=c.price_fen,
                  category=c.category, on_list=c.on_list, province=c.province, publisher=c.publisher,
                  value=r.value.get(c.title_id, 0.0)) for r in state for c in r.chosen]
    if feasible:
        feasible = not check_rules(rules, [r.name for r in state], lines)
    return GreedyResult(lines=lines, objective=sum(r.worth() for r in state), feasible=feasible,
                        wall_secs=time.perf_counter() - t0,
                        copies={r.name: {c.title_id: r.copies.get(c.title_id, 1) for c in r.chosen} for r in state})
