"""distribution.plans.rules: each rule broken on purpose, and random small inputs compared
with a straightforward recount in exact fractions."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from distribution.plans.rules import CATEGORIES, check, totals

TARGETS = {"政经": 0.04, "科技": 0.40, "生活": 0.10, "文化": 0.35, "少儿": 0.10, "其他": 0.01}
BASE: dict[str, Any] = {"budget_fen": 10_000_000, "min_titles_per_room": 0, "min_fen_per_room": 0,
                        "list_share_min": 0.70, "own_province_max": 0.30, "own_province": "天津",
                        "category_targets": None, "category_tolerance": 0.05, "rooms": []}


def line(room: str, n: int, *, copies: int = 1, price: int = 3000, category: str = "科技", on_list: bool = True,
         province: str = "北京") -> dict[str, Any]:
    return {"room": room, "title_id": f"T{n:04d}", "copies": copies, "price_fen": price, "category": category,
            "on_list": on_list, "province": province}


def rules_of(violations: list[dict[str, Any]]) -> set[tuple[str | None, str]]:
    return {(v["room"], v["rule"]) for v in violations}


def test_clean_lines_pass() -> None:
    lines = [line("JN-A-001", i) for i in range(10)]
    assert check(BASE, lines) == []


def test_list_titles_share() -> None:
    lines = [line("R1", i, on_list=i < 6) for i in range(10)]  # 60% titles on the list
    found = check(BASE, lines)
    v = next(v for v in found if v["rule"] == "list_titles")
    assert (v["room"], v["current"], v["bound"]) == ("R1", 0.6, 0.7)
    assert "推荐目录" in v["message"]


def test_list_copies_share_alone() -> None:
    # 8/10 titles on the list, but the two off-list titles carry most copies
    lines = [line("R1", i, on_list=i < 8, copies=1 if i < 8 else 10) for i in range(10)]
    assert rules_of(check(BASE, lines)) == {("R1", "list_copies")}


def test_own_province() -> None:
    lines = [line("R1", i, province="天津" if i < 4 else "北京") for i in range(10)]
    v = check(BASE, lines)
    assert rules_of(v) == {("R1", "own_province")}
    assert v[0]["current"] == 0.4 and v[0]["bound"] == 0.3 and "天津" in v[0]["message"]


def test_category_mix() -> None:
    cfg = {**BASE, "category_targets": TARGETS}
    # 100 titles exactly on target passes; then move 10 科技 titles to 文化
    mix = {"政经": 4, "科技": 40, "生活": 10, "文化": 35, "少儿": 10, "其他": 1}
    cats = [c for c, k in mix.items() for _ in range(k)]
    assert check(cfg, [line("R1", i, category=c) for i, c in enumerate(cats)]) == []
    shifted = cats[:]
    for _ in range(10):
        shifted[shifted.index("科技")] = "文化"
    found = rules_of(check(cfg, [line("R1", i, category=c) for i, c in enumerate(shifted)]))
    assert found == {("R1", "category_mix:科技"), ("R1", "category_mix:文化")}


def test_minimum_titles_and_fen_and_empty_rooms() -> None:
    cfg = {**BASE, "min_titles_per_room": 60, "min_fen_per_room": 200_000, "rooms": ["R1", "R2"]}
    lines = [line("R1", i, price=3000) for i in range(59)]  # 59 titles, ¥1,770
    found = check(cfg, lines)
    assert rules_of(found) == {("R1", "min_titles"), ("R1", "min_fen"), ("R2", "min_titles"), ("R2", "min_fen")}
    fen = next(v for v in found if v["room"] == "R1" and v["rule"] == "min_fen")
    assert (fen["current"], fen["bound"]) == (177_000, 200_000) and "¥2,000.00" in fen["message"]


def test_budget_is_plan_wide() -> None:
    cfg = {**BASE, "budget_fen": 50_000}
    lines = [line("R1", i, price=3000) for i in range(10)] + [line("R2", i, price=3000) for i in range(10)]
    found = check(cfg, lines)
    assert found == [{"room": None, "rule": "budget", "current": 60_000, "bound": 50_000,
                      "message": "合计金额 ¥600.00 超出预算 ¥500.00"}]


def test_same_title_twice_in_a_room_is_one_title() -> None:
    cfg = {**BASE, "min_titles_per_room": 2}
    lines = [line("R1", 1, copies=2), line("R1", 1, copies=3)]
    found = check(cfg, lines)
    assert rules_of(found) == {("R1", "min_titles")} and found[0]["current"] == 1
    assert totals(lines)["copies"] == 5 and totals(lines)["titles"] == 1


# -- random small inputs against a recount -------------------------------------------

ROOMS = ["R1", "R2", "R3"]
line_st = st.builds(
    # a title has one price wherever it appears
    lambda room, n, copies, cat, on_list, prov: line(room, n, copies=copies, price=450 * n, category=cat,
                                                     on_list=on_list, province=prov),
    st.sampled_from(ROOMS), st.integers(0, 12), st.integers(1, 4), st.sampled_from(CATEGORIES),
    st.booleans(), st.sampled_from(["天津", "北京", "江苏"]))
settings_st = st.fixed_dictionaries({
    "budget_fen": st.integers(0, 300_000), "min_titles_per_room": st.integers(0, 8),
    "min_fen_per_room": st.integers(0, 40_000), "list_share_min": st.sampled_from([0.0, 0.5, 0.7, 0.75, 1.0]),
    "own_province_max": st.sampled_from([0.0, 0.3, 0.5, 1.0]), "own_province": st.just("天津"),
    "category_targets": st.just(TARGETS), "category_tolerance": st.sampled_from([0.05, 0.1, 0.5]),
    "rooms": st.lists(st.sampled_from(ROOMS), max_size=3, unique=True),
})


def recount(cfg: dict[str, Any], lines: list[dict[str, Any]]) -> set[tuple[str | None, str]]:
    """The rules written out the obvious way, in exact fractions."""
    out: set[tuple[str | None, str]] = set()
    def frac(x: float) -> Fraction:
        return Fraction(str(x))
    for room in sorted({ln["room"] for ln in lines} | set(cfg["rooms"])):
        mine = [ln for ln in lines if ln["room"] == room]
        titles: dict[str, dict[str, Any]] = {}
        for ln in mine:
            titles.setdefault(ln["title_id"], {**ln, "copies": 0})["copies"] += ln["copies"]
        n = len(titles)
        copies = sum(t["copies"] for t in titles.values())
        fen = sum(t["copies"] * t["price_fen"] for t in titles.values())
        if n < cfg["min_titles_per_room"]:
            out.add((room, "min_titles"))
        if fen < cfg["min_fen_per_room"]:
            out.add((room, "min_fen"))
        if not n:
            continue
        if Fraction(sum(t["on_list"] for t in titles.values()), n) < frac(cfg["list_share_min"]):
            out.add((room, "list_titles"))
        if Fraction(sum(t["copies"] for t in titles.values() if t["on_list"]), copies) < frac(cfg["list_share_min"]):
            out.add((room, "list_copies"))
        if Fraction(sum(t["province"] == "天津" for t in titles.values()), n) > frac(cfg["own_province_max"]):
            out.add((room, "own_province"))
        for cat, target in cfg["category_targets"].items():
            share = Fraction(sum(t["category"] == cat for t in titles.values()), n)
            if abs(share - frac(target)) > frac(cfg["category_tolerance"]):
                out.add((room, f"category_mix:{cat}"))
    if sum(ln["copies"] * ln["price_fen"] for ln in lines) > cfg["budget_fen"]:
        out.add((None, "budget"))
    return out


@settings(max_examples=300, deadline=None)
@given(settings_st, st.lists(line_st, max_size=30))
def test_check_agrees_with_a_recount(cfg: dict[str, Any], lines: list[dict[str, Any]]) -> None:
    found = check(cfg, lines)
    assert rules_of(found) == recount(cfg, lines)
    assert len(found) == len(rules_of(found))  # one violation per (room, rule)
    for v in found:
        assert v["message"] and isinstance(v["current"], int | float) and isinstance(v["bound"], int | float)
