"""Delivery routes: a capacitated vehicle-routing problem with time windows, solved by PyVRP.

Pure: plain data in, plain data out, no Mongo, no Tornado. Everything is integers —
boxes, metres, seconds since midnight of the delivery day (PyVRP 0.14 needs integer data).

- The depot (the district library) is matrix index 0; stop ``i`` is index ``i + 1``.
- A stop may have several windows in which its service may START (a room open 09:00–11:30
  and 14:00–17:00 gives two); PyVRP serves exactly one client of a mutually exclusive group,
  one client per window, so the solver picks the window.
- With ``allow_unserved`` (the product's default) every stop is optional with a prize far
  above any detour, so the solver serves all it can and names the rest instead of failing.
  The benchmarks set it False: every client required, as CVRPLIB defines the problem.
- ``replan`` keeps dispatched trucks' routes as they are and re-solves the rest.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from pyvrp import Model
from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

DAY_S = 24 * 3600
# Service time at a stop: unloading and signing, plus carrying each box in.
SERVICE_BASE_S = 10 * 60
SERVICE_PER_BOX_S = 60

REASONS = {
    "no_window": "当天不开放，或开放时间不在车辆工作时段内",
    "over_capacity": "箱数超过任何一辆车的载量",
    "unreachable": "在开放时间内无法往返（路程太远或时段太短）",
    "no_trucks": "没有可用的车辆",
    "fleet_full": "车辆载量或工作时间不足，未能排入路线",
}


def service_seconds(boxes: int, base_s: int = SERVICE_BASE_S, per_box_s: int = SERVICE_PER_BOX_S) -> int:
    return base_s + per_box_s * boxes


@dataclass(frozen=True)
class Stop:
    key: str  # the room code
    demand: int  # boxes
    windows: tuple[tuple[int, int], ...]  # when service may start, seconds since midnight
    service_s: int = 0
    xy: tuple[int, int] = (0, 0)  # planar position (metres), only a hint for the solver


@dataclass(frozen=True)
class Truck:
    name: str
    capacity: int  # boxes
    start_s: int  # earliest departure from the depot
    end_s: int  # latest return to the depot


@dataclass(frozen=True)
class Problem:
    """``distances_m`` / ``durations_s``: (n + 1) × (n + 1), index 0 the depot."""

    stops: tuple[Stop, ...]
    trucks: tuple[Truck, ...]
    distances_m: Sequence[Sequence[int]]
    durations_s: Sequence[Sequence[int]]
    depot_xy: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        n = len(self.stops) + 1
        for name, mat in (("distances_m", self.distances_m), ("durations_s", self.durations_s)):
            if len(mat) != n or any(len(row) != n for row in mat):
                raise ValueError(f"{name} must be {n}×{n}")
            if any(not isinstance(v, int) or v < 0 for row in mat for v in row):
                raise ValueError(f"{name} must hold non-negative integers")
        keys = [s.key for s in self.stops]
        if len(set(keys)) != len(keys):
            raise ValueError("stop keys must be unique")
        names = [t.name for t in self.trucks]
        if len(set(names)) != len(names):
            raise ValueError("truck names must be unique")

    def index(self) -> dict[str, int]:
        """Stop key → matrix index."""
        return {s.key: i + 1 for i, s in enumerate(self.stops)}

    def subset(self, keys: Sequence[str], trucks: Sequence[Truck]) -> Problem:
        """The same depot and matrices restricted to ``keys`` (in that order) and ``trucks``."""
        idx = self.index()
        rows = [0, *(idx[k] for k in keys)]
        by_key = {s.key: s for s in self.stops}
        return Problem(
            stops=tuple(by_key[k] for k in keys), trucks=tuple(trucks),
            distances_m=[[self.distances_m[i][j] for j in rows] for i in rows],
            durations_s=[[self.durations_s[i][j] for j in rows] for i in rows],
            depot_xy=self.depot_xy,
        )


@dataclass(frozen=True)
class PlannedStop:
    key: str
    boxes: int
    arrival_s: int
    start_s: int  # service starts (after waiting for the room to open)
    departure_s: int
    window: tuple[int, int]  # the chosen start window
    load_on_arrival: int  # boxes still on the truck when it arrives
    distance_from_prev_m: int


@dataclass(frozen=True)
class PlannedRoute:
    truck: str
    stops: tuple[PlannedStop, ...]
    depart_s: int
    return_s: int
    distance_m: int
    boxes: int
    feasible: bool
    fixed: bool = False  # kept as it was by a re-plan (dispatched)

    @property
    def duration_s(self) -> int:
        return self.return_s - self.depart_s if self.stops else 0

    @property
    def keys(self) -> list[str]:
        return [s.key for s in self.stops]


@dataclass(frozen=True)
class Unserved:
    key: str
    reason: str  # a key of REASONS

    @property
    def reason_text(self) -> str:
        return REASONS[self.reason]


@dataclass(frozen=True)
class RoutingResult:
    routes: tuple[PlannedRoute, ...]
    unserved: tuple[Unserved, ...]
    distance_m: int
    duration_s: int
    feasible: bool  # every route within capacity, windows and shifts
    wall_secs: float
    solver: dict[str, object] = field(default_factory=dict)

    def route(self, truck: str) -> PlannedRoute | None:
        return next((r for r in self.routes if r.truck == truck), None)


def schedule(problem: Problem, truck: Truck, keys: Sequence[str]) -> PlannedRoute:
    """Arrival, service and departure times along ``keys`` in order, starting at the
    earliest feasible moment (departure is delayed only to avoid waiting at the first stop).
    A stop reached after all its windows closed makes the route infeasible (served late)."""
    idx = problem.index()
    by_key = {s.key: s for s in problem.stops}
    dur, dist = problem.durations_s, problem.distances_m
    boxes = sum(by_key[k].demand for k in keys)
    if not keys:
        return PlannedRoute(truck.name, (), truck.start_s, truck.start_s, 0, 0, True)
    first = by_key[keys[0]]
    earliest_first = truck.start_s + dur[0][idx[first.key]]
    opens = [w[0] for w in first.windows if w[1] >= earliest_first]
    depart = max(truck.start_s, (min(opens) if opens else earliest_first) - dur[0][idx[first.key]])
    t, prev, load, ok, total = depart, 0, boxes, boxes <= truck.capacity, 0
    planned = []
    for key in keys:
        stop, i = by_key[key], idx[key]
        arrival = t + dur[prev][i]
        window = next((w for w in sorted(stop.windows) if w[1] >= arrival), None)
        if window is None:
            ok = False
            window = max(stop.windows) if stop.windows else (arrival, arrival)
        start = max(arrival, window[0])
        planned.append(PlannedStop(key, stop.demand, arrival, start, start + stop.service_s, window, load,
                                   dist[prev][i]))
        total += dist[prev][i]
        load -= stop.demand
        t, prev = start + stop.service_s, i
    back = t + dur[prev][0]
    total += dist[prev][0]
    return PlannedRoute(truck.name, tuple(planned), depart, back, total, boxes, ok and back <= truck.end_s)


def _screen(problem: Problem) -> tuple[list[Stop], list[Unserved]]:
    """Stops some truck could serve on its own; the others with the reason why not."""
    if not problem.trucks:
        return [], [Unserved(s.key, "no_trucks") for s in problem.stops]
    idx = problem.index()
    dur = problem.durations_s
    max_cap = max(t.capacity for t in problem.trucks)
    ok, out = [], []
    for stop in problem.stops:
        i = idx[stop.key]
        if stop.demand > max_cap:
            out.append(Unserved(stop.key, "over_capacity"))
        elif not stop.windows:
            out.append(Unserved(stop.key, "no_window"))
        elif not any(max(t.start_s + dur[0][i], ws) <= we and max(t.start_s + dur[0][i], ws) + stop.service_s
                     + dur[i][0] <= t.end_s for t in problem.trucks for ws, we in stop.windows):
            out.append(Unserved(stop.key, "unreachable"))
        else:
            ok.append(stop)
    return ok, out


def solve(problem: Problem, *, time_limit_s: float = 5.0, seed: int = 1, allow_unserved: bool = True,
          max_iterations: int | None = None) -> RoutingResult:
    """Solve ``problem`` with PyVRP for at most ``time_limit_s`` seconds (plus model building)
    and, if given, ``max_iterations`` (a bound that makes a run reproducible whatever the load).

    Returns routes in truck order (empty trucks left out), the unserved stops with reasons,
    totals and whether the result is feasible. Raises ValueError for malformed input.
    """
    started = time.perf_counter()
    stops, unserved = _screen(problem)
    if not stops:
        return _result(problem, [], unserved, started, {"status": "nothing_to_route", "seed": seed})
    sub = problem.subset([s.key for s in stops], problem.trucks)
    max_d = max(max(row) for row in sub.distances_m)
    # Above any insertion detour (≤ 2 × the longest edge, triangle inequality): serving a stop
    # always pays, yet small enough that load and time penalties still steer to feasibility.
    prize = 2 * max_d + 1000

    m = Model()
    depot_loc = m.add_location(*sub.depot_xy, name="depot")
    m.add_depot(depot_loc, tw_early=min(t.start_s for t in sub.trucks), tw_late=max(t.end_s for t in sub.trucks),
                name="depot")
    groups: dict[tuple[int, int, int], list[Truck]] = {}
    for truck in sub.trucks:
        groups.setdefault((truck.capacity, truck.start_s, truck.end_s), []).append(truck)
    for (cap, start, end), trucks in groups.items():
        m.add_vehicle_type(num_available=len(trucks), capacity=cap, tw_early=start, tw_late=end)
    locations = [depot_loc]
    client_stop: list[int] = []  # client index → stop index
    for n, stop in enumerate(sub.stops):
        loc = m.add_location(*stop.xy, name=stop.key)
        locations.append(loc)
        windows = sorted(stop.windows)
        group = m.add_client_group(required=not allow_unserved) if len(windows) > 1 else None
        for early, late in windows:
            m.add_client(loc, delivery=stop.demand, service_duration=stop.service_s, tw_early=early, tw_late=late,
                         required=group is None and not allow_unserved, prize=prize if allow_unserved else 0,
                         group=group, name=stop.key)
            client_stop.append(n)
    for i, frm in enumerate(locations):
        for j, to in enumerate(locations):
            if i != j:
                m.add_edge(frm, to, distance=sub.distances_m[i][j], duration=sub.durations_s[i][j])

    criterion = MaxRuntime(time_limit_s) if max_iterations is None else MultipleCriteria(
        [MaxRuntime(time_limit_s), MaxIterations(max_iterations)])
    res = m.solve(stop=criterion, seed=seed, display=False, collect_stats=False)
    best = res.best
    remaining = {k: list(v) for k, v in groups.items()}
    orders: list[tuple[Truck, list[str]]] = []
    for route in best.routes():
        vt = m.vehicle_types[route.vehicle_type()]
        key = (vt.capacity[0], vt.tw_early, vt.tw_late)
        truck = remaining[key].pop(0)
        keys = [sub.stops[client_stop[a.idx]].key for a in route.schedule() if a.is_client()]
        orders.append((truck, keys))
    served = {k for _, keys in orders for k in keys}
    unserved += [Unserved(s.key, "fleet_full") for s in sub.stops if s.key not in served]
    order = {t.name: n for n, t in enumerate(problem.trucks)}
    orders.sort(key=lambda o: order[o[0].name])
    routes = [schedule(problem, truck, keys) for truck, keys in orders]
    info: dict[str, object] = {"status": "feasible" if best.is_feasible() else "infeasible", "seed": seed, "time_limit_s": time_limit_s,
            "iterations": res.num_iterations, "solver": "pyvrp", "cost": int(best.distance())}
    return _result(problem, routes, unserved, started, info)


def _result(problem: Problem, routes: list[PlannedRoute], unserved: list[Unserved], started: float,
            info: dict[str, object]) -> RoutingResult:
    order = {s.key: n for n, s in enumerate(problem.stops)}
    return RoutingResult(
        routes=tuple(routes),
        unserved=tuple(sorted(unserved, key=lambda u: order[u.key])),
        distance_m=sum(r.distance_m for r in routes),
        duration_s=sum(r.duration_s for r in routes),
        feasible=all(r.feasible for r in routes),
        wall_secs=round(time.perf_counter() - started, 3),
        solver=info,
    )


def replan(
    problem: Problem,
    previous: Sequence[tuple[str, Sequence[str]]],
    *,
    dispatched: Mapping[str, Sequence[str]],
    unavailable: Sequence[str] = (),
    time_limit_s: float = 5.0,
    seed: int = 1,
    max_iterations: int | None = None,
) -> RoutingResult:
    """Re-plan after a change. ``problem`` holds every stop (old and added) and every truck.

    ``previous`` is the current plan, (truck, stop keys in order). A truck named in
    ``dispatched`` has left: if it is still available its whole route stays as it is; if it
    has become unavailable, only its dispatched stops (done or on the way) stay and the rest
    go back into the pool. Every other stop is re-solved over the available trucks that have
    not left. Raises ValueError when a dispatched stop is not on that truck's route.
    """
    started = time.perf_counter()
    down = set(unavailable)
    known = {t.name for t in problem.trucks}
    prev = {truck: list(keys) for truck, keys in previous}
    fixed: list[tuple[Truck, list[str]]] = []
    for truck in problem.trucks:
        if truck.name not in dispatched:
            continue
        done = list(dispatched[truck.name])
        route = prev.get(truck.name, [])
        if missing := [k for k in done if k not in route]:
            raise ValueError(f"{truck.name}: {', '.join(missing)} not on its route")
        fixed.append((truck, route if truck.name not in down else [k for k in route if k in set(done)]))
    if unknown := [t for t in dispatched if t not in known]:
        raise ValueError(f"unknown truck(s): {', '.join(unknown)}")
    pinned = {k for _, keys in fixed for k in keys}
    free_trucks = [t for t in problem.trucks if t.name not in down and t.name not in dispatched]
    pool = [s.key for s in problem.stops if s.key not in pinned]
    result = solve(problem.subset(pool, free_trucks), time_limit_s=time_limit_s, seed=seed,
                   max_iterations=max_iterations)
    kept = [replace(schedule(problem, truck, keys), fixed=True) for truck, keys in fixed if keys]
    order = {t.name: n for n, t in enumerate(problem.trucks)}
    new_routes = [schedule(problem, next(t for t in free_trucks if t.name == r.truck), r.keys) for r in result.routes]
    routes = sorted([*kept, *new_routes], key=lambda r: order[r.truck])
    info = {**result.solver, "replan": True, "fixed_trucks": [t.name for t, _ in fixed]}
    return _result(problem, routes, list(result.unserved), started, info)


# -- building a problem from rooms (pure) --------------------------------------------------------

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def hhmm_to_s(hhmm: str) -> int:
    """"08:30" → 30600; ValueError if malformed."""
    hours, minutes = hhmm.split(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(f"{hhmm} is not a time of day")
    return h * 3600 + m * 60


def s_to_hhmm(seconds: int) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def room_windows(opening_hours: Mapping[str, Sequence[str]], weekday: int, service_s: int) -> tuple[tuple[int, int], ...]:
    """Service start windows on ``weekday`` (0 = Monday) from weekly ``opening_hours``
    ({"mon": ["09:00-11:30", ...]}): the delivery must start and finish while the room is open."""
    out = []
    for span in opening_hours.get(WEEKDAY_KEYS[weekday], []) or []:
        start, end = (hhmm_to_s(p) for p in span.split("-"))
        if end - service_s >= start:
            out.append((start, end - service_s))
    return tuple(sorted(out))


def planar_xy(lat: float, lng: float, origin: tuple[float, float]) -> tuple[int, int]:
    """Metres east and north of ``origin`` (equirectangular; only a hint for the solver)."""
    k = 111_320.0
    return (round((lng - origin[1]) * k * math.cos(math.radians(origin[0]))), round((lat - origin[0]) * k))
