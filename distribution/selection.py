"""Demand-led title selection: which titles, how many copies, for every room (pure).

Plain data in (rules, candidates, per-room expected use), plain data out (a
``SelectionResult``). No Mongo, no Tornado.

The model. For room r and candidate t: binary ``x[r,t]`` (title chosen) and, only where
an extra copy has value (picks, suggestions, holds), integer ``z[r,t]`` extra copies in
``[0, max_copies-1]`` with ``z <= (max_copies-1)*x``; copies ``y = x + z``. Maximise
``sum value*x + sum extra_copy_value*z`` subject to, per room (``N`` titles, ``C`` copies):
``N >= min_titles``; spend ``>= min_fen``; on-list titles ``>= share*N`` and on-list copies
``>= share*C``; own-province titles ``<= max*N``; per category ``(target-tol)*N <= n_c <=
(target+tol)*N``; and over all rooms spend ``<= budget``. Pins fix ``x=1``; forbids and
titles the room already holds unread are left out.

Solving. The full model (110 rooms x thousands of titles) is too big for a MIP in two
minutes, so each room's candidates are pruned to its best titles per category (by value
and by value per yuan, plus on-list/other-province ones so the rules stay satisfiable,
plus the greedy baseline's choice, which also warm-starts the MIP). Measured with HiGHS
1.16: a single MIP over 20 rooms x 800 titles stalls in root separation far past its time
limit (39 s limit, 78-175 s, no interrupt callback fires), and the full LP of 110 x 5,000
ran 249 s against a 25 s limit; so rooms are solved one MIP each, under the budget split
of a Lagrangian relaxation (rooms are independent once the budget is priced). The bound
reported is that Lagrangian bound on the FULL, unpruned model (each room's LP on its kept
columns plus, by weak duality, what its omitted columns could add): every selection,
pruned or not, is at most it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from distribution.plans import rules as plan_rules
from distribution.plans.rules import BP, bp
from distribution.selection_model import (
    CATEGORIES,
    RoomCols,
    arrays,
    omitted_gain,
    room_columns,
    solve,
)
from distribution.selection_model import prune as prune_columns

# Up to this many columns one MIP over all rooms is solved (exact up to mip_gap); above it,
# one MIP per room under the full LP's split of the budget.
JOINT_MAX_COLUMNS = 3000


@dataclass(frozen=True)
class Rules:
    """The plan's rules (``dist_plans`` fields); money in fen."""

    budget_fen: int
    min_titles_per_room: int = 60
    min_fen_per_room: int = 200_000
    list_share_min: float = 0.70
    own_province_max: float = 0.30
    own_province: str = "天津"
    category_targets: Mapping[str, float] = field(default_factory=lambda: {
        "政经": 0.04, "科技": 0.40, "生活": 0.10, "文化": 0.35, "少儿": 0.10, "其他": 0.01})
    category_tolerance: float = 0.05
    max_copies: int = 3

    @classmethod
    def from_plan(cls, plan: Mapping[str, Any], max_copies: int = 3) -> Rules:
        return cls(budget_fen=int(plan["budget_fen"]), min_titles_per_room=int(plan["min_titles_per_room"]),
                   min_fen_per_room=int(plan["min_fen_per_room"]), list_share_min=float(plan["list_share_min"]),
                   own_province_max=float(plan["own_province_max"]), own_province=str(plan["own_province"]),
                   category_targets=dict(plan["category_targets"] or {}),
                   category_tolerance=float(plan["category_tolerance"]), max_copies=max_copies)

    def plan_settings(self, rooms: Sequence[str] = ()) -> dict[str, Any]:
        """These rules as the plain settings ``distribution.plans.rules.check`` takes."""
        return {"budget_fen": self.budget_fen, "min_titles_per_room": self.min_titles_per_room,
                "min_fen_per_room": self.min_fen_per_room, "list_share_min": self.list_share_min,
                "own_province_max": self.own_province_max, "own_province": self.own_province,
                "category_targets": dict(self.category_targets), "category_tolerance": self.category_tolerance,
                "rooms": list(rooms)}

    def list_share_bp(self) -> int:
        """``list_share_min`` in basis points, as the plan checker reads it."""
        return bp(self.list_share_min)

    def own_province_bp(self) -> int:
        """``own_province_max`` in basis points, as the plan checker reads it."""
        return bp(self.own_province_max)

    def category_bands(self) -> dict[str, tuple[int, int]]:
        """Per six class (lower, upper) share of a room's new titles in basis points, as the plan
        checker reads them; a class without a target is (0, BP): unconstrained."""
        bands = plan_rules.category_bands(self.plan_settings())
        return {c: bands.get(c, (0, BP)) for c in CATEGORIES}

    def category_bounds(self) -> dict[str, tuple[float, float]]:
        """``category_bands`` as shares; lower <= 0 (upper >= 1) means no lower (upper) bound."""
        return {c: (lo / BP, hi / BP) for c, (lo, hi) in self.category_bands().items()}


@dataclass(frozen=True)
class Candidate:
    title_id: str
    price_fen: int
    category: str
    on_list: bool
    province: str = ""
    publisher: str = ""
    title: str = ""


@dataclass
class RoomDemand:
    """Expected use of each candidate in one room. Titles missing from ``values`` are worth 0."""

    room: str
    values: dict[str, float]
    extra_copy_values: dict[str, float] = field(default_factory=dict)  # value of each copy beyond the first
    reasons: dict[str, list[str]] = field(default_factory=dict)
    excluded: frozenset[str] = frozenset()  # already held unread: not a candidate here


@dataclass(frozen=True)
class Line:
    room: str
    title_id: str
    copies: int
    price_fen: int
    category: str
    on_list: bool
    province: str
    publisher: str = ""
    value: float = 0.0
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Violation:
    room: str | None
    rule: str
    current: float
    bound: float
    message: str


@dataclass
class SelectionResult:
    status: str  # optimal | feasible | infeasible | time_limit_no_solution
    objective: float
    bound: float | None
    gap: float | None
    wall_secs: float
    method: str
    lines: list[Line]
    totals: dict[str, Any]
    explanation: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    stats: dict[str, Any] = field(default_factory=dict)


def yuan(fen: float) -> str:
    return f"¥{fen / 100:,.2f}"


# ---------------------------------------------------------------- rule checker

def check_rules(rules: Rules, rooms: Sequence[str], lines: Iterable[Line]) -> list[Violation]:
    """Every broken plan rule, naming the room, the rule, the current figure and the bound.

    The plan rules are ``distribution.plans.rules.check`` (same codes and messages as a plan's
    check and its locking); on top of them, two checks of the selection's own shape:
    ``duplicate_title`` (a title twice in a room) and ``copies`` (outside 1..max_copies).
    """
    lines = list(lines)
    out: list[Violation] = []
    by_room: dict[str, list[Line]] = {}
    for ln in lines:
        by_room.setdefault(ln.room, []).append(ln)
    for room, ls in sorted(by_room.items()):
        if len({ln.title_id for ln in ls}) != len(ls):
            out.append(Violation(room, "duplicate_title", len(ls), len(ls), f"{room}：同一书目出现多行"))
        if any(ln.copies < 1 or ln.copies > rules.max_copies for ln in ls):
            out.append(Violation(room, "copies", max(ln.copies for ln in ls), rules.max_copies,
                                 f"{room}：每种复本数应在 1–{rules.max_copies} 之间"))
    plain = [{"room": ln.room, "title_id": ln.title_id, "copies": ln.copies, "price_fen": ln.price_fen,
              "category": ln.category, "on_list": ln.on_list, "province": ln.province} for ln in lines]
    out += [Violation(**v) for v in plan_rules.check(rules.plan_settings(rooms), plain)]
    return out


def precheck(rules: Rules, candidates: Sequence[Candidate], rooms: Sequence[RoomDemand],
             pins: Iterable[tuple[str, str]] = ()) -> list[str]:
    """Reasons (Chinese) the rules cannot be met whatever is chosen; empty if none is obvious."""
    why: list[str] = []
    n_rooms = len(rooms)
    if not n_rooms:
        return ["计划中没有书屋"]
    if not candidates:
        return ["计划中没有候选书目"]
    need = n_rooms * rules.min_fen_per_room
    if rules.budget_fen < need:
        why.append(f"总预算 {yuan(rules.budget_fen)} 低于 {n_rooms} 个书屋 × 每屋最低 "
                   f"{yuan(rules.min_fen_per_room)} = {yuan(need)}")
    prices = sorted(c.price_fen for c in candidates)
    cheapest = sum(prices[: rules.min_titles_per_room]) if len(prices) >= rules.min_titles_per_room else None
    if cheapest is None:
        why.append(f"候选书目仅 {len(prices)} 种，少于每屋最低 {rules.min_titles_per_room} 种")
    elif rules.budget_fen < n_rooms * cheapest:
        why.append(f"总预算 {yuan(rules.budget_fen)} 买不起每屋最低 {rules.min_titles_per_room} 种"
                   f"（最便宜也需 {yuan(n_rooms * cheapest)}）")
    if not any(c.on_list for c in candidates) and rules.list_share_bp() > 0:
        why.append("候选书目中没有推荐目录书目，无法满足推荐目录占比")
    for cat, (lo, _hi) in rules.category_bounds().items():
        if lo > 0 and not any(c.category == cat for c in candidates):
            why.append(f"候选书目中没有{cat}类，无法满足该类下限 {lo:.0%}")
    if sum(max(lo, 0) for lo, _hi in rules.category_bands().values()) > BP:
        why.append("各类目标下限之和超过 100%")
    pin_cost = sum(next((c.price_fen for c in candidates if c.title_id == t), 0) for _r, t in pins)
    if pin_cost > rules.budget_fen:
        why.append(f"固定选入的书目合计 {yuan(pin_cost)}，超出预算")
    return why


# ---------------------------------------------------------------- pruning, solving, result

def _reasons(room: RoomDemand, cand: Candidate, copies: int, rules: Rules) -> tuple[str, ...]:
    given = list(room.reasons.get(cand.title_id, []))
    if copies > 1:
        given.append(f"配 {copies} 册（需求较多）")
    if not given:
        v = room.values.get(cand.title_id, 0.0)
        given.append("预计借阅性价比高" if v > 0 else f"满足{cand.category}类占比与品种下限")
    if cand.on_list and "推荐目录书目" not in given:
        given.append("推荐目录书目")
    return tuple(given)


def totals_of(lines: Sequence[Line]) -> dict[str, Any]:
    """Totals: fen, titles, copies, and per category / per publisher {titles, copies, fen}."""
    by_cat: dict[str, dict[str, int]] = {}
    by_pub: dict[str, dict[str, int]] = {}
    for ln in lines:
        for key, bucket in ((ln.category, by_cat), (ln.publisher or "（未知）", by_pub)):
            b = bucket.setdefault(key, {"titles": 0, "copies": 0, "fen": 0})
            b["titles"] += 1
            b["copies"] += ln.copies
            b["fen"] += ln.copies * ln.price_fen
    return {"fen": sum(ln.copies * ln.price_fen for ln in lines), "titles": len(lines),
            "copies": sum(ln.copies for ln in lines), "rooms": len({ln.room for ln in lines}),
            "by_category": by_cat, "by_publisher": by_pub}


def select_titles(rules: Rules, candidates: Sequence[Candidate], rooms: Sequence[RoomDemand], *,
                  pins: Iterable[tuple[str, str]] = (), forbids: Iterable[tuple[str | None, str]] = (),
                  time_limit: float = 60.0, mip_gap: float = 1e-3, threads: int = 2,
                  prune: bool = True, prune_factor: float = 1.5, bound: bool = True) -> SelectionResult:
    """Choose titles and copies per room maximising expected use under the plan's rules.

    Steps: the greedy baseline (warm start and fallback); the Lagrangian bound on the
    FULL model (about 35% of the time left), which also splits the budget between rooms;
    then either one MIP over all rooms (small instances, ≤ ``JOINT_MAX_COLUMNS`` pruned
    columns: exact up to ``mip_gap``) or one MIP per room on its pruned candidates under its
    share of the budget, unused budget carried to the next room. ``status``: optimal (every
    MIP solved to optimality and the result within 5 × ``mip_gap`` of the bound), feasible
    (every rule holds, optimality not proven), infeasible (``explanation`` says why, in
    Chinese) or time_limit_no_solution. ``gap`` = (bound − objective) / bound. Never raises
    for infeasible rules; ``wall_secs`` stays within ``time_limit`` plus model building.
    """
    t0 = time.perf_counter()
    pins = [(r, t) for r, t in pins]
    forbids = [(r, t) for r, t in forbids]
    deadline = t0 + time_limit
    rooms = list(rooms)
    names = [r.room for r in rooms]

    def result(status: str, lines: list[Line], objective: float, bnd: float | None, method: str,
               explanation: list[str] | None = None, **stats: Any) -> SelectionResult:
        gap = None
        if bnd is not None and lines:
            gap = max(0.0, (bnd - objective) / max(abs(bnd), 1e-9))
        return SelectionResult(status=status, objective=objective, bound=bnd, gap=gap,
                               wall_secs=time.perf_counter() - t0, method=method, lines=lines,
                               totals=totals_of(lines), explanation=explanation or [],
                               violations=check_rules(rules, names, lines) if lines else [], stats=stats)

    why = precheck(rules, candidates, rooms, pins)
    by_id = {c.title_id: c for c in candidates}
    for r, t in pins:
        if r not in names or t not in by_id:
            why.append(f"固定选入的书目 {t}（{r}）不在该计划的书屋或候选书目中")
        elif (None, t) in forbids or (r, t) in forbids:
            why.append(f"书目 {t} 在 {r} 既被固定选入又被排除")
    if why:
        return result("infeasible", [], 0.0, None, "precheck", why)

    from distribution.greedy import greedy_select  # greedy imports this module's types

    greedy = greedy_select(rules, candidates, rooms, pins, forbids)
    a = arrays(rules, candidates)
    full = [room_columns(a, rd, {t for r, t in forbids if r is None or r == rd.room},
                          {t for r, t in pins if r == rd.room}) for rd in rooms]
    start: list[dict[int, int]] = []
    for rd, c in zip(rooms, full, strict=True):
        pos = {int(g): j for j, g in enumerate(c.idx)}
        start.append({pos[a.index[t]]: k for t, k in greedy.copies.get(rd.room, {}).items()
                      if a.index.get(t) in pos})
    cols = full
    if prune:
        per_room_fen = rules.budget_fen / len(rooms)
        p20 = float(np.percentile(a.price, 20))
        n_hi = max(rules.min_titles_per_room, per_room_fen / max(p20, 1.0)) * prune_factor
        k_cat = {ci: int(math.ceil((rules.category_bounds()[c][1]) * n_hi)) + 5 for ci, c in enumerate(CATEGORIES)}
        cols = []
        new_start = []
        for c, st in zip(full, start, strict=True):
            pc = prune_columns(rules, a, c, k_cat, set(st))
            pos = {int(g): j for j, g in enumerate(pc.idx)}
            cols.append(pc)
            new_start.append({pos[int(c.idx[loc])]: k for loc, k in st.items()})
        start = new_start
    # 1. The bound on the FULL model (Lagrangian on the budget, rooms' LPs with the omitted
    #    columns priced in), and the budget split it implies.
    lag: dict[str, Any] = {"bound": None, "room_spend": None, "evals": 0, "lam": None}
    bnd: float | None = None
    if bound:
        # Same ``threads`` for every HiGHS call: its global scheduler is set up once per process,
        # and a later call asking for another count fails with status "Not Set".
        lag = lagrangian_bound(rules, a, full, cols, time.perf_counter() + (deadline - time.perf_counter()) * 0.35,
                               threads=threads)
        if lag["infeasible"]:
            return result("infeasible", [], 0.0, None, "lp",
                          ["规则之间相互矛盾：即使不取整也无法同时满足各屋下限、推荐目录占比、本省占比和类别占比"])
        bnd = lag["bound"]
    lp = {"status": f"lagrangian λ={lag['lam']}, {lag['evals']} evaluations", "room_spend": lag["room_spend"],
          "optimal": lag["room_spend"] is not None, "secs": None, "columns": sum(len(c.idx) for c in full)}
    if sum(len(c.idx) for c in cols) <= JOINT_MAX_COLUMNS:
        joint = solve(rules, a, cols, integer=True, time_limit=max(0.5, deadline - time.perf_counter()),
                       mip_gap=mip_gap, threads=threads, start=start if greedy.feasible else None)
        if joint["has_solution"]:
            joint_lines = [ln for rd, c, lay in zip(rooms, cols, joint["layout"], strict=True)
                           for ln in _lines_from(rules, candidates, rd, c, joint["x"], lay)]
            return result("optimal" if joint["optimal"] else "feasible", joint_lines, float(joint["objective"]), bnd,
                          "highs: one MIP over all rooms + Lagrangian bound on the full model",
                          mip_secs=joint["secs"], mip_columns=joint["columns"], greedy_objective=greedy.objective,
                          greedy_feasible=greedy.feasible, lp_status=lp["status"] if lp else None)
        if joint["infeasible"] and not greedy.feasible and not prune:
            return result("infeasible", [], 0.0, bnd, "highs", ["在现有候选书目与规则下找不到可行方案"])
    # 2. One MIP per room on its pruned candidates under its share of the budget (the LP's
    #    spend in that room; else the greedy's). A single MIP over all rooms stalls in
    #    HiGHS's root separation far past its time limit (measured: 39 s limit, 78-175 s).
    greedy_spend = {r: 0 for r in names}
    for ln in greedy.lines:
        greedy_spend[ln.room] += ln.price_fen * ln.copies
    if lp is not None and lp.get("room_spend") and lp["optimal"]:
        shares = [max(sp, rules.min_fen_per_room) for sp in lp["room_spend"]]
    else:
        shares = [float(greedy_spend[r]) for r in names]
    scale = min(1.0, rules.budget_fen / max(sum(shares), 1.0))
    shares = [sp * scale for sp in shares]
    slack = rules.budget_fen - sum(shares)
    chosen: list[tuple[np.ndarray, dict[str, Any]] | None] = [None] * len(rooms)
    mip_secs, optimal_rooms, fallback_rooms = 0.0, 0, 0
    for i, (rd, c, st) in enumerate(zip(rooms, cols, start, strict=True)):
        left = max(0.2, (deadline - time.perf_counter()) / (len(rooms) - i))
        warm = st if greedy.feasible and greedy_spend[rd.room] <= shares[i] + slack else None
        res = solve(rules, a, [c], integer=True, time_limit=left, mip_gap=mip_gap, threads=threads,
                     start=[warm] if warm is not None else None, budget=shares[i] + slack)
        mip_secs += res["secs"]
        if res["has_solution"]:
            used = res["room_spend"][0]
            slack += shares[i] - used
            optimal_rooms += int(res["optimal"])
            chosen[i] = (res["x"], res)
        elif greedy.feasible and greedy_spend[rd.room] <= shares[i] + slack:
            slack += shares[i] - greedy_spend[rd.room]
            fallback_rooms += 1
        else:
            chosen[i] = None
            fallback_rooms += 1
            slack += shares[i] - greedy_spend[rd.room]  # the greedy lines it falls back to still cost money
            if not greedy.feasible:
                text = ["在现有候选书目与规则下找不到可行方案（请检查预算、下限与各类占比）"] if res["infeasible"] \
                    else ["在时间限制内未找到可行方案，请延长时间限制"]
                return result("infeasible" if res["infeasible"] else "time_limit_no_solution", [], 0.0, bnd,
                              "highs-mip per room", text)
    stats = {"greedy_objective": greedy.objective, "greedy_feasible": greedy.feasible,
             "greedy_secs": greedy.wall_secs, "mip_secs": mip_secs, "rooms_optimal": optimal_rooms,
             "rooms_greedy_fallback": fallback_rooms, "mip_columns": sum(len(c.idx) for c in cols),
             "lp_status": lp["status"] if lp else None, "lp_secs": lp["secs"] if lp else None,
             "lp_columns": lp["columns"] if lp else None}
    method = "highs: per-room MIP (pruned, budget split by the Lagrangian) + Lagrangian bound on the full model"
    greedy_by_room: dict[str, list[Line]] = {}
    for ln in _greedy_lines(greedy, rooms, by_id, rules):
        greedy_by_room.setdefault(ln.room, []).append(ln)
    lines: list[Line] = []
    objective = 0.0
    for rd, c, got in zip(rooms, cols, chosen, strict=True):
        if got is None:
            for ln in greedy_by_room.get(rd.room, []):
                lines.append(ln)
                objective += ln.value + (ln.copies - 1) * rd.extra_copy_values.get(ln.title_id, 0.0)
            continue
        x, res = got
        objective += float(res["objective"])
        lines += _lines_from(rules, candidates, rd, c, x, res["layout"][0])
    greedy_objective = sum(ln.value + (ln.copies - 1) * rd.extra_copy_values.get(ln.title_id, 0.0)
                           for rd in rooms for ln in greedy_by_room.get(rd.room, []))
    if greedy.feasible and (greedy_objective > objective or check_rules(rules, names, lines)):
        # Rooms that fell back to the greedy choice after their share of the budget was spent can
        # break the total; the greedy solution as a whole never does: answer it instead.
        greedy_lines = [ln for r in names for ln in greedy_by_room.get(r, [])]
        return result("feasible", greedy_lines, greedy_objective, bnd,
                      method + " — the per-room solves ran out of time: the greedy solution is answered",
                      None, **stats)
    status = "optimal" if optimal_rooms == len(rooms) and bnd is not None and \
        (bnd - objective) <= mip_gap * 5 * abs(bnd) else "feasible"
    return result(status, lines, objective, bnd, method, None, **stats)


def lagrangian_bound(rules: Rules, a: Any, full: list[RoomCols], kept: list[RoomCols], deadline: float,
                     threads: int = 1, evals: int = 10) -> dict[str, Any]:
    """Upper bound on the FULL model: price the budget at λ and the rooms separate,
    L(λ) = λ·budget + Σ_r LP_r(λ). Each room's LP is solved on its kept columns and raised
    by what its omitted columns could add (weak duality, ``omitted_gain``), so L(λ) bounds
    the unpruned model for every λ ≥ 0; λ is bisected on the budget's subgradient.
    Returns {bound, lam, room_spend, evals, infeasible}."""
    best: dict[str, Any] = {"bound": None, "lam": None, "room_spend": None, "evals": 0, "infeasible": False}

    def evaluate(lam: float) -> tuple[float, float, list[float]] | None:
        total, spends = lam * rules.budget_fen, []
        for f, k in zip(full, kept, strict=True):
            res = solve(rules, a, [k], integer=False, time_limit=max(0.5, deadline - time.perf_counter()),
                        mip_gap=0, threads=threads, budget=math.inf, price_weight=lam)
            if not res["optimal"] and len(k.idx) < len(f.idx):  # pruned LP infeasible: use every column
                k = f
                res = solve(rules, a, [f], integer=False, time_limit=max(0.5, deadline - time.perf_counter()),
                            mip_gap=0, threads=threads, budget=math.inf, price_weight=lam)
            if res["infeasible"]:
                best["infeasible"] = True
                return None
            if not res["optimal"]:
                return None
            total += res["objective"] + omitted_gain(rules, a, f, k, res["row_dual"], lam)
            spends.append(res["room_spend"][0])
        best["evals"] += 1
        return total, sum(spends), spends

    def keep(lam: float, got: tuple[float, float, list[float]]) -> None:
        if best["bound"] is None or got[0] < best["bound"]:
            best.update(bound=got[0], lam=lam, room_spend=got[2])

    got = evaluate(0.0)
    if got is None:
        return best
    keep(0.0, got)
    if got[1] <= rules.budget_fen:
        return best
    lo, hi = 0.0, 1e-6
    while time.perf_counter() < deadline:  # find a λ at which the rooms underspend
        got = evaluate(hi)
        if got is None:
            return best
        keep(hi, got)
        if got[1] <= rules.budget_fen:
            break
        lo, hi = hi, hi * 4
    for _ in range(evals):
        if time.perf_counter() >= deadline:
            break
        mid = (lo + hi) / 2
        got = evaluate(mid)
        if got is None:
            break
        keep(mid, got)
        lo, hi = (mid, hi) if got[1] > rules.budget_fen else (lo, mid)
    return best


def _lines_from(rules: Rules, candidates: Sequence[Candidate], rd: RoomDemand, c: RoomCols, x: np.ndarray,
                layout: tuple[int, int, np.ndarray]) -> list[Line]:
    first, m, zc = layout
    out = []
    for j in range(m):
        if x[first + j] > 0.5:
            cand = candidates[int(c.idx[j])]
            copies = 1 + (int(round(x[zc[j]])) if zc[j] >= 0 else 0)
            out.append(Line(room=rd.room, title_id=cand.title_id, copies=copies, price_fen=cand.price_fen,
                            category=cand.category, on_list=cand.on_list, province=cand.province,
                            publisher=cand.publisher, value=float(c.value[j]),
                            reasons=_reasons(rd, cand, copies, rules)))
    return out


def _greedy_lines(greedy: Any, rooms: Sequence[RoomDemand], by_id: Mapping[str, Candidate],
                  rules: Rules) -> list[Line]:
    room_of = {r.room: r for r in rooms}
    return [Line(**{**ln.__dict__, "reasons": _reasons(room_of[ln.room], by_id[ln.title_id], ln.copies, rules)})
            for ln in greedy.lines]
