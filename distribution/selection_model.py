"""The title-selection MIP/LP built column-wise for HiGHS (pure; used by ``selection``).

See ``distribution.selection`` for the model. Ratio rules are linear after substituting
N (titles) and C (copies): "on-list titles >= share*N" is sum (on_list - share)*x >= 0.
Every share is the plan checker's (``distribution.plans.rules``): rounded to basis points,
so an integer solution meets a row exactly when it passes the checker (a violated row is
short by at least 1/10,000 of a title, far above HiGHS's 1e-7 feasibility tolerance).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import highspy
import numpy as np

from distribution.plans.rules import BP, CATEGORIES

if TYPE_CHECKING:
    from distribution.selection import Candidate, RoomDemand, Rules

MIP_OPTIONS: dict[str, Any] = {}  # extra HiGHS options for experiments


@dataclass
class Arrays:
    price: np.ndarray
    cat: np.ndarray  # category index in CATEGORIES, -1 if unknown
    on_list: np.ndarray
    own: np.ndarray
    index: dict[str, int]


def arrays(rules: Rules, candidates: Sequence[Candidate]) -> Arrays:
    cat_ix = {c: i for i, c in enumerate(CATEGORIES)}
    return Arrays(
        price=np.array([c.price_fen for c in candidates], dtype=float),
        cat=np.array([cat_ix.get(c.category or "其他", -1) for c in candidates], dtype=int),
        on_list=np.array([c.on_list for c in candidates], dtype=bool),
        own=np.array([bool(rules.own_province) and c.province == rules.own_province for c in candidates],
                     dtype=bool),
        index={c.title_id: i for i, c in enumerate(candidates)},
    )


@dataclass
class RoomCols:
    """One room's columns: candidate indices, their values, extra-copy values, pinned flags."""

    idx: np.ndarray
    value: np.ndarray
    extra: np.ndarray
    pinned: np.ndarray


def room_columns(a: Arrays, room: RoomDemand, forbidden: set[str], pinned: set[str]) -> RoomCols:
    n = len(a.price)
    value = np.zeros(n)
    extra = np.zeros(n)
    for tid, v in room.values.items():
        i = a.index.get(tid)
        if i is not None:
            value[i] = v
    for tid, v in room.extra_copy_values.items():
        i = a.index.get(tid)
        if i is not None:
            extra[i] = max(v, 0.0)
    keep = np.ones(n, dtype=bool)
    for tid in (*room.excluded, *forbidden):
        i = a.index.get(tid)
        if i is not None:
            keep[i] = False
    pin = np.zeros(n, dtype=bool)
    for tid in pinned:
        i = a.index.get(tid)
        if i is not None:
            pin[i] = True
            keep[i] = True
    idx = np.nonzero(keep)[0]
    return RoomCols(idx, value[idx], extra[idx], pin[idx])


def solve(rules: Rules, a: Arrays, cols: list[RoomCols], *, integer: bool, time_limit: float,
           mip_gap: float, threads: int, start: list[dict[int, int]] | None = None,
           budget: float | None = None, price_weight: float = 0.0) -> dict[str, Any]:
    """Build and solve the model over the given columns (LP relaxation unless ``integer``)."""
    h = highspy.Highs()
    h.silent()
    h.setOptionValue("time_limit", float(max(time_limit, 0.5)))
    h.setOptionValue("threads", int(threads))
    if integer:
        h.setOptionValue("mip_rel_gap", float(mip_gap))
        for name, setting in MIP_OPTIONS.items():
            h.setOptionValue(name, setting)
    inf = highspy.kHighsInf
    (s, p), cm = _shares(rules), rules.max_copies - 1
    cat_rows = category_rows(rules)  # (category index, share bound, is lower)
    # rows per room: 0 titles>=min, 1 (unused), 2 spend>=min, 3 list titles, 4 list copies, 5 province, 6.. categories
    per = 6 + len(cat_rows)
    R = len(cols)
    row_lo = np.tile(np.array([float(rules.min_titles_per_room), -inf, rules.min_fen_per_room, 0.0, 0.0, -inf] +
                              [0.0 if low else -inf for _c, _k, low in cat_rows]), R)
    row_hi = np.tile(np.array([inf, inf, inf, inf, inf, 0.0] + [inf if low else 0.0 for _c, _k, low in cat_rows]), R)
    budget_row = R * per
    n_link = sum(int((c.extra > 0).sum()) for c in cols)
    row_lo = np.concatenate([row_lo, [-inf], np.full(n_link, -inf)])
    row_hi = np.concatenate([row_hi, [rules.budget_fen if budget is None else budget], np.zeros(n_link)])
    h.addRows(len(row_lo), row_lo, row_hi, 0, np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.int32),
              np.zeros(0))
    cost: list[np.ndarray] = []
    lower: list[np.ndarray] = []
    upper: list[np.ndarray] = []
    starts: list[np.ndarray] = []
    index: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    kinds: list[np.ndarray] = []  # 0 x, 1 z, 2 N/C
    nnz = 0
    link = budget_row + 1
    layout: list[tuple[int, int, np.ndarray]] = []  # per room: first x column, count, z column ids or -1
    col = 0
    for r, c in enumerate(cols):
        base = r * per
        m = len(c.idx)
        price = a.price[c.idx]
        onl = a.on_list[c.idx]
        own = a.own[c.idx]
        cat = a.cat[c.idx]
        # x columns: entries defN, defC, spend, [list t, list c], [own], [categories], budget, [link]
        col_rows: list[list[int]] = []
        col_vals: list[list[float]] = []
        zcols = np.full(m, -1)
        has_z = c.extra > 0
        link_of = np.full(m, -1)
        nz = int(has_z.sum())
        link_of[has_z] = np.arange(link, link + nz)
        for i in range(m):
            # N and C substituted: a ratio row "k >= share*N" becomes sum (member - share) * x >= 0.
            rr = [base, base + 2, base + 3, base + 4, base + 5]
            vv = [1.0, price[i], float(onl[i]) - s, float(onl[i]) - s, float(own[i]) - p]
            for k, (ci, coef, _low) in enumerate(cat_rows):
                rr.append(base + 6 + k)
                vv.append(float(cat[i] == ci) - coef)
            rr.append(budget_row)
            vv.append(price[i])
            if has_z[i]:
                rr.append(int(link_of[i]))
                vv.append(-float(cm))
            col_rows.append(rr)
            col_vals.append(vv)
        zi = np.nonzero(has_z)[0]
        for zj in zi:
            rr = [base + 2, base + 4, budget_row, int(link_of[zj])]
            vv = [price[zj], float(onl[zj]) - s, price[zj], 1.0]
            col_rows.append(rr)
            col_vals.append(vv)
        link += nz
        lens = np.array([len(x) for x in col_rows])
        starts.append(nnz + np.concatenate([[0], np.cumsum(lens)[:-1]]))
        nnz += int(lens.sum())
        index.append(np.fromiter((j for rr in col_rows for j in rr), dtype=np.int32, count=int(lens.sum())))
        vals.append(np.fromiter((v for vv in col_vals for v in vv), dtype=float, count=int(lens.sum())))
        cost.append(np.concatenate([c.value, c.extra[zi]]) - price_weight * np.concatenate([price, price[zi]]))
        lower.append(np.concatenate([c.pinned.astype(float), np.zeros(len(zi))]))
        upper.append(np.concatenate([np.ones(m), np.full(len(zi), float(cm))]))
        kinds.append(np.concatenate([np.zeros(m, dtype=int), np.ones(len(zi), dtype=int)]))
        zcols[zi] = col + m + np.arange(len(zi))
        layout.append((col, m, zcols))
        col += m + len(zi)
    cost_a, lo_a, hi_a = np.concatenate(cost), np.concatenate(lower), np.concatenate(upper)
    h.addCols(len(cost_a), cost_a, lo_a, hi_a, nnz, np.concatenate(starts).astype(np.int32),
              np.concatenate(index), np.concatenate(vals))
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    kind = np.concatenate(kinds)
    if integer:
        ints = np.nonzero(kind < 2)[0].astype(np.int32)
        h.changeColsIntegrality(len(ints), ints, np.full(len(ints), highspy.HighsVarType.kInteger))
        if start:
            sol = np.zeros(len(cost_a))
            for (first, _m, zc), chosen in zip(layout, start, strict=True):
                for local, copies in chosen.items():
                    sol[first + local] = 1.0
                    if copies > 1 and zc[local] >= 0:
                        sol[zc[local]] = copies - 1
            hs = highspy.HighsSolution()
            hs.col_value = list(sol)
            hs.value_valid = True
            h.setSolution(hs)
    t0 = time.perf_counter()
    # HiGHS checks time_limit between separation rounds only (measured: a 39 s limit ran
    # 78 s at the root); the interrupt callbacks also fire inside its LP solves.
    hard_stop = t0 + time_limit

    def stop(event: Any) -> None:
        if time.perf_counter() > hard_stop:
            event.interrupt()

    h.cbMipInterrupt += stop
    h.cbSimplexInterrupt += stop
    h.run()
    secs = time.perf_counter() - t0
    status = h.getModelStatus()
    info = h.getInfo()
    has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
    out: dict[str, Any] = {"status": h.modelStatusToString(status), "secs": secs, "has_solution": has_sol,
                           "layout": layout, "columns": len(cost_a), "rows": len(row_lo)}
    out["optimal"] = status == highspy.HighsModelStatus.kOptimal
    out["infeasible"] = status == highspy.HighsModelStatus.kInfeasible
    if has_sol:
        out["x"] = np.array(h.getSolution().col_value)
        out["objective"] = info.objective_function_value
    if integer:
        out["mip_bound"] = info.mip_dual_bound
    if has_sol:
        x = out["x"]
        spend = []
        for c, (first, m, zc) in zip(cols, layout, strict=True):
            xs = x[first:first + m]
            zs = np.where(zc >= 0, x[np.maximum(zc, 0)], 0.0)
            spend.append(float(((xs + zs) * a.price[c.idx]).sum()))
        out["room_spend"] = spend
        if not integer:
            out["row_dual"] = np.array(h.getSolution().row_dual)
            out["col_dual"] = np.array(h.getSolution().col_dual)
            out["cost"] = cost_a
    return out


def omitted_gain(rules: Rules, a: Arrays, full: RoomCols, kept: RoomCols, row_dual: np.ndarray,
                 price_weight: float) -> float:
    """How much a room's LP optimum could rise if its omitted columns were added: by weak
    duality, sum over omitted x and z of upper bound × max(0, reduced cost) under the kept
    LP's row duals (the z-x link rows of omitted columns are dropped, a relaxation)."""
    omitted = np.setdiff1d(full.idx, kept.idx, assume_unique=True)
    if len(omitted) == 0:
        return 0.0
    pos = np.searchsorted(full.idx, omitted)
    value, extra = full.value[pos], full.extra[pos]
    price, onl, own, cat = a.price[omitted], a.on_list[omitted], a.own[omitted], a.cat[omitted]
    s, p = _shares(rules)
    y = row_dual
    rc_x = value - price_weight * price - (y[0] + y[2] * price + y[3] * (onl - s) + y[4] * (onl - s)
                                           + y[5] * (own - p))
    for k, (ci, coef, _low) in enumerate(category_rows(rules)):
        rc_x = rc_x - y[6 + k] * ((cat == ci).astype(float) - coef)
    rc_z = np.where(extra > 0, extra - price_weight * price - (y[2] * price + y[4] * (onl - s)), 0.0)
    return float(np.maximum(rc_x, 0.0).sum() + (rules.max_copies - 1) * np.maximum(rc_z, 0.0).sum())


def _shares(rules: Rules) -> tuple[float, float]:
    """(on-list minimum, own-province maximum) as the plan checker reads them (basis points)."""
    return rules.list_share_bp() / BP, rules.own_province_bp() / BP


def category_rows(rules: Rules) -> list[tuple[int, float, bool]]:
    """(category index, share bound, is lower) of each category row, in row order."""
    rows = []
    bounds = rules.category_bounds()
    for ci, c in enumerate(CATEGORIES):
        lo, hi = bounds[c]
        if lo > 0:
            rows.append((ci, lo, True))
        if hi < 1:
            rows.append((ci, hi, False))
    return rows


def prune(rules: Rules, a: Arrays, c: RoomCols, k_cat: dict[int, int], keep_local: set[int]) -> RoomCols:
    """Keep a room's best columns: per category the top titles by value, by value per yuan,
    and the top on-list other-province ones (so the list/province/category rules stay satisfiable)."""
    keep = np.zeros(len(c.idx), dtype=bool)
    keep[c.pinned] = True
    if keep_local:
        keep[np.fromiter(keep_local, dtype=int)] = True
    cat = a.cat[c.idx]
    ratio = c.value / np.maximum(a.price[c.idx], 1.0)
    good = a.on_list[c.idx] & ~a.own[c.idx]
    for ci, k in k_cat.items():
        mask = cat == ci
        ids = np.nonzero(mask)[0]
        if len(ids) <= k:
            keep[ids] = True
            continue
        for score, sub in ((c.value, ids), (ratio, ids), (ratio, ids[good[ids]]), (c.value + c.extra, ids)):
            if len(sub) <= k:
                keep[sub] = True
            else:
                keep[sub[np.argpartition(-score[sub], k - 1)[:k]]] = True
    sel = np.nonzero(keep)[0]
    return RoomCols(c.idx[sel], c.value[sel], c.extra[sel], c.pinned[sel])
