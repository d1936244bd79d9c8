"""Distribution benchmarks (issue 5), run by hand; prints figures.

1. Routing on the CVRPLIB instances in /work/shared/bench/cvrplib/ (see its README for the
   rounding conventions and best-known costs), THROUGH distribution/routing.py — the module
   the product uses: cost, gap to best-known, feasibility and wall time per seed; in the same
   run and with the same limit, OR-Tools routing (guided local search, the distance matrix
   registered as its transit matrix) — both gaps printed.
2. The Jinnan demo instance: the 110 demo rooms (server.rooms.demo_data, no database), box
   counts from a generated plan, their opening hours that day as time windows, 40-box trucks:
   wall time, total distance, rooms served.
3. Selection: ops.bench.distribution_selection.run_selection_bench (another engineer's), if present.

    python -m ops.bench.distribution [--quick] [--time-limit SECS] [--seeds 1 2 3] [--skip-selection]

``--quick``: 2 instances, 1 seed, 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import re
import time
from pathlib import Path
from typing import Any

from distribution import routing
from distribution.matrix import GreatCircleProvider

CVRPLIB = Path("/work/shared/bench/cvrplib")
INSTANCES = ("X-n101-k25", "X-n106-k14", "P-n101-k4", "M-n101-k10", "RC208")
QUICK_INSTANCES = ("X-n101-k25", "RC208")
# Costs from the README where there is no .sol file (optimal, per the instance header).
README_BKS = {"P-n101-k4": 681.0, "M-n101-k10": 820.0}
ROUNDING = {"RC208": ("dimacs", 10)}  # (pyvrp round_func, cost scale); the rest "round", 1


# -- part 1: CVRPLIB -------------------------------------------------------------------------------


def best_known(name: str) -> float:
    sol = CVRPLIB / f"{name}.sol"
    if sol.exists():
        m = re.search(r"^Cost\s+([\d.]+)", sol.read_text(), re.MULTILINE)
        if m:
            return float(m.group(1))
    return README_BKS[name]


def load_instance(name: str) -> tuple[routing.Problem, int]:
    """The .vrp file as a routing.Problem (integer data as CVRPLIB rounds it) and the cost scale."""
    from pyvrp import read

    round_func, scale = ROUNDING.get(name, ("round", 1))
    data = read(str(CVRPLIB / f"{name}.vrp"), round_func=round_func)
    dist = data.distance_matrix(0).tolist()
    dur = data.duration_matrix(0).tolist()
    depot = data.depots()[0]
    n_depots = data.num_depots
    order = [0, *(c.location if hasattr(c, "location") else n_depots + i for i, c in enumerate(data.clients()))]
    dist = [[int(dist[i][j]) for j in order] for i in order]
    dur = [[int(dur[i][j]) for j in order] for i in order]
    locs = data.locations() if hasattr(data, "locations") else []
    xy = [(int(locs[i].x), int(locs[i].y)) if locs else (0, 0) for i in order]
    stops = tuple(
        routing.Stop(f"c{i + 1}", int(c.delivery[0]), ((int(c.tw_early), int(c.tw_late)),), int(c.service_duration),
                     xy[i + 1])
        for i, c in enumerate(data.clients())
    )
    vt = data.vehicle_types()[0]
    trucks_n = min(int(vt.num_available), len(stops))
    end = int(min(depot.tw_late, vt.tw_late))
    trucks = tuple(routing.Truck(f"v{k + 1}", int(vt.capacity[0]), int(depot.tw_early), end) for k in range(trucks_n))
    return routing.Problem(stops, trucks, dist, dur, depot_xy=xy[0]), scale


def ortools_solve(problem: routing.Problem, time_limit_s: float, vehicles: int) -> tuple[int | None, bool, float]:
    """OR-Tools routing with guided local search on the same integer matrices: (cost, feasible, wall)."""
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    t0 = time.perf_counter()
    n = len(problem.stops) + 1
    cap = problem.trucks[0].capacity
    manager = pywrapcp.RoutingIndexManager(n, vehicles, 0)
    model = pywrapcp.RoutingModel(manager)
    matrix = [list(row) for row in problem.distances_m]
    if hasattr(model, "RegisterTransitMatrix"):
        transit = model.RegisterTransitMatrix(matrix)
    else:  # older OR-Tools: the same matrix through a callback
        transit = model.RegisterTransitCallback(
            lambda i, j: matrix[manager.IndexToNode(i)][manager.IndexToNode(j)])
    model.SetArcCostEvaluatorOfAllVehicles(transit)
    demands = [0, *(s.demand for s in problem.stops)]
    demand_cb = model.RegisterUnaryTransitCallback(lambda i: demands[manager.IndexToNode(i)])
    model.AddDimensionWithVehicleCapacity(demand_cb, 0, [cap] * vehicles, True, "load")
    windowed = any(w[1] < 10**9 for s in problem.stops for w in s.windows)
    if windowed:
        service = [0, *(s.service_s for s in problem.stops)]
        dur = [list(row) for row in problem.durations_s]
        time_cb = model.RegisterTransitCallback(
            lambda i, j: dur[manager.IndexToNode(i)][manager.IndexToNode(j)] + service[manager.IndexToNode(i)])
        horizon = problem.trucks[0].end_s
        model.AddDimension(time_cb, horizon, horizon, False, "time")
        tdim = model.GetDimensionOrDie("time")
        for k, stop in enumerate(problem.stops, start=1):
            lo, hi = stop.windows[0]
            tdim.CumulVar(manager.NodeToIndex(k)).SetRange(lo, min(hi, horizon))
        for v in range(vehicles):
            tdim.CumulVar(model.Start(v)).SetRange(problem.trucks[0].start_s, horizon)
            tdim.CumulVar(model.End(v)).SetRange(problem.trucks[0].start_s, horizon)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    params.time_limit.FromMilliseconds(int(time_limit_s * 1000))
    solution = model.SolveWithParameters(params)
    wall = time.perf_counter() - t0
    if solution is None:
        return None, False, wall
    return int(solution.ObjectiveValue()), True, wall


def ortools_vehicles(name: str, problem: routing.Problem) -> int:
    m = re.search(r"-k(\d+)$", name)
    if m:  # a few more than the minimum the name states, as the best-known solutions use
        return min(len(problem.stops), int(m.group(1)) + max(2, int(m.group(1)) // 5))
    return min(len(problem.trucks), 25)


def bench_cvrplib(names: tuple[str, ...], seeds: list[int], limit: float, with_ortools: bool) -> list[dict[str, Any]]:
    rows = []
    print(f"\n== 1. CVRPLIB through distribution/routing.py, {limit:g} s per run, seeds {seeds} ==")
    print(f"{'instance':<12} {'solver':<8} {'seed':>4} {'cost':>10} {'BKS':>9} {'gap %':>7} {'feasible':>8} {'wall s':>7}")
    for name in names:
        problem, scale = load_instance(name)
        bks = best_known(name)
        gaps = []
        for seed in seeds:
            res = routing.solve(problem, time_limit_s=limit, seed=seed, allow_unserved=False)
            cost = res.distance_m / scale
            gap = 100 * (cost - bks) / bks
            ok = res.feasible and not res.unserved
            gaps.append(gap)
            rows.append({"instance": name, "solver": "pyvrp", "seed": seed, "cost": cost, "bks": bks, "gap_pct": gap,
                         "feasible": ok, "wall_secs": res.wall_secs})
            print(f"{name:<12} {'pyvrp':<8} {seed:>4} {cost:>10.1f} {bks:>9.1f} {gap:>7.2f} {ok!s:>8} {res.wall_secs:>7.2f}")
        if with_ortools:
            cost_i, ok, wall = ortools_solve(problem, limit, ortools_vehicles(name, problem))
            cost = cost_i / scale if cost_i is not None else float("nan")
            gap = 100 * (cost - bks) / bks if cost_i is not None else float("nan")
            rows.append({"instance": name, "solver": "ortools", "seed": None, "cost": cost, "bks": bks, "gap_pct": gap,
                         "feasible": ok, "wall_secs": round(wall, 2)})
            print(f"{name:<12} {'ortools':<8} {'-':>4} {cost:>10.1f} {bks:>9.1f} {gap:>7.2f} {ok!s:>8} {wall:>7.2f}")
        print(f"{name:<12} pyvrp mean gap {sum(gaps) / len(gaps):.2f} %")
    return rows


# -- part 2: Jinnan demo ---------------------------------------------------------------------------


def jinnan_instance(weekday: int, seed: int = 1, truck_boxes: int = 40) -> tuple[routing.Problem, dict[str, Any]]:
    from distribution.routes.models import TruckIn
    from distribution.routes.service import build_problem, depot_of
    from server.district import JINNAN
    from server.rooms.demo_data import demo_rooms

    rng = random.Random(seed)
    rooms = demo_rooms(JINNAN)
    # A generated plan: 60–90 books per room (the 2012–2015 average was ~71 new titles a room),
    # 40 books to a box.
    boxes = {r["code"]: math.ceil(rng.randint(60, 90) / 40) for r in rooms}
    snaps = [{"code": r["code"], "lat": r["lat"], "lng": r["lng"],
              "hours": r["opening_hours"].get(routing.WEEKDAY_KEYS[weekday], [])} for r in rooms]
    depot = depot_of(JINNAN)
    total = sum(boxes.values())
    n_trucks = math.ceil(total / truck_boxes) + 1
    trucks = [TruckIn(name=f"车{k + 1}", capacity_boxes=truck_boxes, start="08:00", end="17:00") for k in range(n_trucks)]
    provider = GreatCircleProvider()
    matrix = provider.compute([(depot.lat, depot.lng), *((s["lat"], s["lng"]) for s in snaps)])
    problem = build_problem(depot, snaps, boxes, trucks, weekday, matrix)
    return problem, {"rooms": len(rooms), "boxes": total, "trucks": n_trucks, **provider.settings()}


def bench_jinnan(limit: float, seeds: list[int]) -> list[dict[str, Any]]:
    print(f"\n== 2. Jinnan demo: 110 rooms, their opening hours as time windows, 40-box trucks, {limit:g} s ==")
    rows = []
    for weekday, label in ((1, "Tuesday"), (5, "Saturday")):
        problem, info = jinnan_instance(weekday)
        for seed in seeds:
            res = routing.solve(problem, time_limit_s=limit, seed=seed)
            reasons: dict[str, int] = {}
            for u in res.unserved:
                reasons[u.reason] = reasons.get(u.reason, 0) + 1
            served = sum(len(r.stops) for r in res.routes)
            row = {"day": label, "seed": seed, **info, "routes": len(res.routes), "served": served,
                   "unserved": reasons, "distance_km": round(res.distance_m / 1000, 1),
                   "driving_and_service_h": round(res.duration_s / 3600, 1), "feasible": res.feasible,
                   "wall_secs": res.wall_secs}
            rows.append(row)
            print(f"{label:<9} seed {seed}: {served}/{info['rooms']} rooms on {len(res.routes)} trucks "
                  f"(of {info['trucks']}), {row['distance_km']} km, {row['driving_and_service_h']} truck-hours, "
                  f"feasible={res.feasible}, unserved={reasons or 0}, wall {res.wall_secs:.2f} s")
    return rows


# -- part 3: selection -----------------------------------------------------------------------------


def bench_selection(quick: bool) -> dict[str, Any] | None:
    print("\n== 3. Selection (ops.bench.distribution_selection) ==")
    try:
        from ops.bench.distribution_selection import run_selection_bench
    except ImportError as exc:
        print(f"skipped: ops.bench.distribution_selection.run_selection_bench is not available ({exc})")
        return None
    kwargs: dict[str, Any] = {"rooms": 20, "titles": 800, "time_limit": 20} if quick else {}
    out = asyncio.run(run_selection_bench(**kwargs))
    print(json.dumps(out, ensure_ascii=False, indent=2))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="2 instances, 1 seed, 3 s")
    ap.add_argument("--time-limit", type=float, default=None, help="seconds per run (10; quick 3)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--skip-selection", action="store_true")
    ap.add_argument("--skip-ortools", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write every figure to this file")
    args = ap.parse_args()
    limit = args.time_limit or (3.0 if args.quick else 10.0)
    seeds = args.seeds or ([1] if args.quick else [1, 2, 3])
    names = QUICK_INSTANCES if args.quick else INSTANCES
    out: dict[str, Any] = {"time_limit_s": limit, "seeds": seeds}
    out["cvrplib"] = bench_cvrplib(names, seeds, limit, not args.skip_ortools)
    out["jinnan"] = bench_jinnan(limit, seeds[:1] if args.quick else seeds)
    if not args.skip_selection:
        out["selection"] = bench_selection(args.quick)
    if args.json:
        args.json.write_text(json.dumps(out, ensure_ascii=False, indent=2, default=str))


if __name__ == "__main__":
    main()
