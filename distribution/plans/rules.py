"""The replenishment rules, checked on proposed lines. Pure: plain data in, plain data out.

Input: the plan's settings (a mapping with the ``dist_plans`` fields below) and the
proposed lines, each ``{room, title_id, copies, price_fen, category, on_list, province}``.
Output: a list of violations ``{room, rule, current, bound, message}``; ``room`` is None
for plan-wide rules (the budget).

Rules (per room unless said otherwise; a title is counted once per room, its copies
are summed, so two lines of the same title in a room are one title):

- ``list_titles``: titles from the year's list ≥ ``list_share_min`` of the room's titles
- ``list_copies``: copies of listed titles ≥ ``list_share_min`` of the room's copies
- ``own_province``: titles published in ``own_province`` ≤ ``own_province_max`` of the titles
- ``category_mix``: for each six class, |share of the room's titles − target| ≤ ``category_tolerance``
- ``min_titles``: titles ≥ ``min_titles_per_room``
- ``min_fen``: Σ copies × price_fen ≥ ``min_fen_per_room``
- ``budget`` (plan-wide): Σ copies × price_fen ≤ ``budget_fen``

Shares are compared exactly, in integers: a share setting is read in basis points
(1/10,000), so 0.70 is 7000 and "titles on the list ≥ 70%" is ``on × 10000 ≥ 7000 × n``.
A room in ``settings["rooms"]`` with no lines breaks the two minimums (nothing else:
an empty room has no shares). A six class without a target is not checked.

This module is the one definition of the rules: the title-selection optimizer
(``distribution.selection``) checks its output with ``check`` and builds its constraints
from ``bp`` and ``category_bands``, so whatever it proposes passes here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

CATEGORIES = ("政经", "科技", "生活", "文化", "少儿", "其他")
BP = 10_000  # basis points in 1


def bp(share: float) -> int:
    """A share setting (0..1) in basis points."""
    return int(round(float(share) * BP))


def category_bands(settings: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """Per six class with a target: the (lower, upper) share of a room's titles allowed, in
    basis points, i.e. target ∓ tolerance (either may fall outside 0..BP: then it never binds)."""
    targets: Mapping[str, float] = settings.get("category_targets") or {}
    tolerance = bp(settings.get("category_tolerance", 1))
    return {c: (bp(targets[c]) - tolerance, bp(targets[c]) + tolerance) for c in CATEGORIES if c in targets}


def _yuan(fen: int) -> str:
    return f"¥{fen // 100:,}.{fen % 100:02d}"


def _pct(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


def room_figures(lines: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per room: titles (title_id → {copies, on_list, province, category, price_fen})."""
    rooms: dict[str, dict[str, Any]] = {}
    for line in lines:
        titles = rooms.setdefault(str(line["room"]), {})
        tid = str(line["title_id"])
        if tid in titles:
            titles[tid]["copies"] += int(line["copies"])
        else:
            titles[tid] = {"copies": int(line["copies"]), "on_list": bool(line.get("on_list")),
                           "province": line.get("province"), "category": line.get("category") or "其他",
                           "price_fen": int(line["price_fen"])}
    return rooms


def _violation(room: str | None, rule: str, current: float | int, bound: float | int, message: str) -> dict[str, Any]:
    return {"room": room, "rule": rule, "current": current, "bound": bound, "message": message}


def check_room(settings: Mapping[str, Any], room: str, titles: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The violations of one room's titles (see the module docstring)."""
    out: list[dict[str, Any]] = []
    n = len(titles)
    copies = sum(int(t["copies"]) for t in titles.values())
    fen = sum(int(t["copies"]) * int(t["price_fen"]) for t in titles.values())
    min_titles = int(settings.get("min_titles_per_room", 0))
    min_fen = int(settings.get("min_fen_per_room", 0))
    if n < min_titles:
        out.append(_violation(room, "min_titles", n, min_titles, f"{room} 新书 {n} 种，少于每室至少 {min_titles} 种"))
    if fen < min_fen:
        out.append(_violation(room, "min_fen", fen, min_fen,
                              f"{room} 新书金额 {_yuan(fen)}，少于每室至少 {_yuan(min_fen)}"))
    if n == 0:
        return out
    share_min = bp(settings.get("list_share_min", 0))
    listed = sum(1 for t in titles.values() if t["on_list"])
    if listed * BP < share_min * n:
        out.append(_violation(room, "list_titles", _pct(listed, n), share_min / BP,
                              f"{room} 推荐目录内图书 {listed}/{n} 种（{_pct(listed, n):.0%}），"
                              f"应不少于 {share_min / BP:.0%}"))
    listed_copies = sum(int(t["copies"]) for t in titles.values() if t["on_list"])
    if copies and listed_copies * BP < share_min * copies:
        out.append(_violation(room, "list_copies", _pct(listed_copies, copies), share_min / BP,
                              f"{room} 推荐目录内图书 {listed_copies}/{copies} 册（{_pct(listed_copies, copies):.0%}），"
                              f"应不少于 {share_min / BP:.0%}"))
    own = settings.get("own_province")
    own_max = bp(settings.get("own_province_max", 1))
    local = sum(1 for t in titles.values() if own and t.get("province") == own)
    if local * BP > own_max * n:
        out.append(_violation(room, "own_province", _pct(local, n), own_max / BP,
                              f"{room} 本省（{own}）出版社图书 {local}/{n} 种（{_pct(local, n):.0%}），"
                              f"应不超过 {own_max / BP:.0%}"))
    tolerance = bp(settings.get("category_tolerance", 1))
    for category, (lo, hi) in category_bands(settings).items():
        count = sum(1 for t in titles.values() if t["category"] == category)
        target = (lo + hi) // 2
        # lo ≤ count/n ≤ hi, in integers
        if not lo * n <= count * BP <= hi * n:
            out.append(_violation(room, f"category_mix:{category}", _pct(count, n), target / BP,
                                  f"{room} {category}类 {count}/{n} 种（{_pct(count, n):.0%}），"
                                  f"目标 {target / BP:.0%}，允许偏差 ±{tolerance / BP:.0%}"))
    return out


def check(settings: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every violation of ``lines`` under ``settings``: rooms in code order, then the budget."""
    figures = room_figures(lines)
    rooms = sorted(set(figures) | set(settings.get("rooms") or []))
    out: list[dict[str, Any]] = []
    for room in rooms:
        out.extend(check_room(settings, room, figures.get(room, {})))
    total = sum(int(t["copies"]) * int(t["price_fen"]) for titles in figures.values() for t in titles.values())
    budget = settings.get("budget_fen")
    if budget is not None and total > int(budget):
        out.append(_violation(None, "budget", total, int(budget),
                              f"合计金额 {_yuan(total)} 超出预算 {_yuan(int(budget))}"))
    return out


def totals(lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Plan-wide figures of ``lines``: fen, titles (distinct), copies, rooms, by_category (copies)."""
    fen = copies = 0
    titles: set[str] = set()
    rooms: set[str] = set()
    by_category: dict[str, int] = {}
    for line in lines:
        c = int(line["copies"])
        fen += c * int(line["price_fen"])
        copies += c
        titles.add(str(line["title_id"]))
        rooms.add(str(line["room"]))
        cat = line.get("category") or "其他"
        by_category[cat] = by_category.get(cat, 0) + c
    return {"fen": fen, "titles": len(titles), "copies": copies, "rooms": len(rooms), "by_category": by_category}
