"""distribution/routing.py and distribution/matrix.py as plain functions (no database)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from distribution.matrix import (
    CachedMatrixProvider,
    GreatCircleProvider,
    MatrixError,
    OsrmTableProvider,
    haversine_m,
)
from distribution.routing import (
    Problem,
    RoutingResult,
    Stop,
    Truck,
    hhmm_to_s,
    replan,
    room_windows,
    s_to_hhmm,
    schedule,
    service_seconds,
    solve,
)

DEPOT = (38.987, 117.383)
# Solves stop after this many iterations (reproducible under any load; each well under a second).
ITERS = 400
H = 3600


def make_problem(seed: int, n: int, trucks: Sequence[Truck], *, two_windows: bool = True) -> Problem:
    rng = random.Random(seed)
    points = [DEPOT, *((38.88 + rng.random() * 0.2, 117.28 + rng.random() * 0.25) for _ in range(n))]
    matrix = GreatCircleProvider().compute(points)
    stops = []
    for i in range(n):
        boxes = rng.randint(1, 4)
        svc = service_seconds(boxes)
        if two_windows and i % 3 == 0:
            windows = ((9 * H, 11 * H + 1800 - svc), (14 * H, 17 * H - svc))
        else:
            windows = ((8 * H + 1800, 17 * H - svc),)
        stops.append(Stop(f"JN-T-{i:03d}", boxes, windows, svc))
    return Problem(tuple(stops), tuple(trucks), matrix.distances_m, matrix.durations_s)


def check_feasible(problem: Problem, result: RoutingResult) -> None:
    """Capacity, windows, shifts, depot start/end, and each stop at most once; unserved + served = all."""
    trucks = {t.name: t for t in problem.trucks}
    by_key = {s.key: s for s in problem.stops}
    seen: list[str] = []
    for route in result.routes:
        truck = trucks[route.truck]
        assert route.feasible
        assert route.boxes == sum(by_key[k].demand for k in route.keys) <= truck.capacity
        assert truck.start_s <= route.depart_s and route.return_s <= truck.end_s
        # The route leaves from and returns to the depot: the first leg and the last are depot legs.
        idx = problem.index()
        assert route.stops[0].distance_from_prev_m == problem.distances_m[0][idx[route.keys[0]]]
        assert route.distance_m == (sum(s.distance_from_prev_m for s in route.stops)
                                    + problem.distances_m[idx[route.keys[-1]]][0])
        for stop in route.stops:
            assert any(lo <= stop.start_s <= hi for lo, hi in by_key[stop.key].windows), stop
            assert stop.start_s >= stop.arrival_s
        seen += route.keys
    assert len(seen) == len(set(seen)), "a stop was visited twice"
    assert set(seen) | {u.key for u in result.unserved} == set(by_key)
    assert not set(seen) & {u.key for u in result.unserved}
    assert result.distance_m == sum(r.distance_m for r in result.routes)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_routes_on_random_instances_are_feasible_and_serve_everyone(seed: int) -> None:
    trucks = [Truck("车1", 25, 8 * H, 17 * H), Truck("车2", 25, 8 * H, 17 * H), Truck("车3", 30, 8 * H, 17 * H)]
    problem = make_problem(seed, 25, trucks)
    assert sum(s.demand for s in problem.stops) <= 80
    result = solve(problem, time_limit_s=5, max_iterations=ITERS, seed=seed)
    check_feasible(problem, result)
    assert result.feasible
    assert not result.unserved, result.unserved  # enough trucks: exactly once each


def test_too_little_capacity_leaves_rooms_unserved_with_a_reason_but_stays_feasible() -> None:
    problem = make_problem(4, 20, [Truck("车1", 10, 8 * H, 17 * H)])
    result = solve(problem, time_limit_s=5, max_iterations=ITERS)
    check_feasible(problem, result)
    assert result.feasible
    assert result.unserved and {u.reason for u in result.unserved} == {"fleet_full"}
    assert sum(r.boxes for r in result.routes) <= 10


def test_screening_names_why_a_room_cannot_be_served() -> None:
    problem = make_problem(5, 4, [Truck("车1", 5, 8 * H, 17 * H)], two_windows=False)
    closed = Stop("JN-T-000", 1, (), 600)
    huge = Stop("JN-T-001", 9, problem.stops[1].windows, 600)
    late = Stop("JN-T-002", 1, ((17 * H - 60, 17 * H - 30),), 600)
    problem = Problem((closed, huge, late, problem.stops[3]), problem.trucks, problem.distances_m,
                      problem.durations_s)
    result = solve(problem, time_limit_s=5, max_iterations=ITERS)
    assert {u.key: u.reason for u in result.unserved} == {
        "JN-T-000": "no_window", "JN-T-001": "over_capacity", "JN-T-002": "unreachable"}
    assert [r.keys for r in result.routes] == [["JN-T-003"]]
    assert all(u.reason_text for u in result.unserved)

    none = solve(Problem(problem.stops, (), problem.distances_m, problem.durations_s), time_limit_s=5, max_iterations=ITERS)
    assert not none.routes and {u.reason for u in none.unserved} == {"no_trucks"}


def test_required_mode_routes_everything_with_integer_data() -> None:
    problem = make_problem(6, 15, [Truck("A", 100, 0, 24 * H)] * 1, two_windows=False)
    result = solve(problem, time_limit_s=5, max_iterations=ITERS, allow_unserved=False)
    assert not result.unserved and result.feasible
    assert all(isinstance(v, int) for r in result.routes for s in r.stops
               for v in (s.arrival_s, s.start_s, s.departure_s, s.distance_from_prev_m))
    assert isinstance(result.distance_m, int)


def test_problem_rejects_non_integer_or_misshapen_matrices() -> None:
    stop = Stop("A", 1, ((0, 100),), 0)
    with pytest.raises(ValueError, match="integers"):
        Problem((stop,), (), [[0, 1.5], [1, 0]], [[0, 1], [1, 0]])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="2×2"):
        Problem((stop,), (), [[0]], [[0]])
    with pytest.raises(ValueError, match="unique"):
        Problem((stop, stop), (), [[0] * 3] * 3, [[0] * 3] * 3)


def test_replan_keeps_dispatched_routes_and_reroutes_the_rest() -> None:
    trucks = [Truck(f"车{i}", 20, 8 * H, 17 * H) for i in range(1, 4)]
    bigger = make_problem(7, 26, trucks)
    problem = bigger.subset([s.key for s in bigger.stops[:24]], trucks)
    first = solve(problem, time_limit_s=5, max_iterations=ITERS)
    check_feasible(problem, first)
    assert len(first.routes) >= 2
    left, broken = first.routes[0], first.routes[1]
    # Add two rooms, lose the second truck after it delivered its first stop.
    added = {s.key for s in bigger.stops} - {s.key for s in problem.stops}
    result = replan(bigger, [(r.truck, r.keys) for r in first.routes],
                    dispatched={left.truck: left.keys[:1], broken.truck: broken.keys[:1]},
                    unavailable=[broken.truck], time_limit_s=5, max_iterations=ITERS)
    kept = result.route(left.truck)
    assert kept is not None and kept.fixed and kept.keys == left.keys
    stub = result.route(broken.truck)
    assert stub is not None and stub.fixed and stub.keys == broken.keys[:1]
    served = {k for r in result.routes for k in r.keys}
    assert added <= served | {u.key for u in result.unserved}
    assert not set(broken.keys[1:]) & set(stub.keys)
    others = [r for r in result.routes if not r.fixed]
    assert all(r.truck not in (left.truck, broken.truck) for r in others)
    check_feasible(bigger, result)


def test_replan_refuses_a_stop_that_was_not_on_the_truck() -> None:
    problem = make_problem(8, 6, [Truck("车1", 30, 8 * H, 17 * H)])
    first = solve(problem, time_limit_s=5, max_iterations=ITERS)
    with pytest.raises(ValueError, match="not on its route"):
        replan(problem, [(r.truck, r.keys) for r in first.routes], dispatched={"车1": ["nope"]})


def test_schedule_waits_for_the_room_to_open() -> None:
    matrix = GreatCircleProvider().compute([DEPOT, (38.95, 117.40)])
    stop = Stop("A", 2, ((14 * H, 16 * H),), 720)
    problem = Problem((stop,), (Truck("车1", 5, 8 * H, 17 * H),), matrix.distances_m, matrix.durations_s)
    route = schedule(problem, problem.trucks[0], ["A"])
    assert route.stops[0].start_s == 14 * H and route.feasible
    assert route.depart_s == 14 * H - matrix.durations_s[0][1]  # leaves late rather than waiting there


def test_room_windows_from_opening_hours() -> None:
    hours = {"mon": ["09:00-11:30", "14:00-14:10"], "tue": []}
    assert room_windows(hours, 0, 900) == ((9 * H, 11 * H + 1800 - 900),)  # 10 minutes is too short
    assert room_windows(hours, 1, 900) == ()
    assert room_windows(hours, 6, 900) == ()
    assert hhmm_to_s("08:30") == 30600 and s_to_hhmm(30600) == "08:30"
    with pytest.raises(ValueError):
        hhmm_to_s("25:00")


# -- matrices ----------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.floats(38.8, 39.1), st.floats(117.2, 117.6)), min_size=1, max_size=8),
       st.floats(1.0, 2.0))
def test_great_circle_matrix_is_symmetric_integer_with_zero_diagonal(points: list[tuple[float, float]],
                                                                      circuity: float) -> None:
    m = GreatCircleProvider(circuity=circuity).compute(points)
    n = len(points)
    for i in range(n):
        assert m.distances_m[i][i] == 0 and m.durations_s[i][i] == 0
        for j in range(n):
            assert m.distances_m[i][j] == m.distances_m[j][i] >= 0
            assert m.durations_s[i][j] == m.durations_s[j][i] >= 0
            assert isinstance(m.distances_m[i][j], int)
            assert abs(m.distances_m[i][j] - haversine_m(points[i], points[j]) * circuity) <= 0.5 + 1e-6


def test_great_circle_scale_and_settings() -> None:
    # 0.1° of latitude is about 11.1 km; the circuity factor stretches it.
    m = GreatCircleProvider(circuity=1.3, speed_kmh=36).compute([(39.0, 117.4), (39.1, 117.4)])
    assert abs(m.distances_m[0][1] - 11_119 * 1.3) < 20
    assert m.durations_s[0][1] == round(m.distances_m[0][1] / 10)
    assert m.settings == {"provider": "great_circle", "circuity_factor": 1.3, "speed_kmh": 36}
    with pytest.raises(ValueError):
        GreatCircleProvider(circuity=0.9)


def test_cached_provider_answers_repeats_from_memory() -> None:
    cached = CachedMatrixProvider(GreatCircleProvider(), max_entries=1)
    pts = [DEPOT, (39.0, 117.4)]
    a = asyncio.run(cached.matrix(pts))
    b = asyncio.run(cached.matrix(list(pts)))
    assert a is b and (cached.hits, cached.misses) == (1, 1)
    asyncio.run(cached.matrix([DEPOT, (39.01, 117.4)]))
    asyncio.run(cached.matrix(pts))  # evicted by the one before
    assert cached.misses == 3 and cached.settings()["cached"] is True


def test_osrm_request_and_response() -> None:
    asked: list[str] = []

    async def fetch(url: str) -> dict:
        asked.append(url)
        return {"code": "Ok", "distances": [[0, 1500.4], [1490.6, 0]], "durations": [[0, 120.2], [119.5, 0]]}

    osrm = OsrmTableProvider("http://osrm.local:5000/", fetch=fetch)
    url = osrm.build_request([(38.987, 117.383), (39.0, 117.4)])
    assert url == ("http://osrm.local:5000/table/v1/driving/117.383000,38.987000;117.400000,39.000000"
                   "?annotations=distance,duration")
    m = asyncio.run(osrm.matrix([(38.987, 117.383), (39.0, 117.4)]))
    assert asked == [url]
    assert m.distances_m == [[0, 1500], [1491, 0]] and m.durations_s == [[0, 120], [120, 0]]
    assert m.settings["provider"] == "osrm"
    with pytest.raises(MatrixError, match="NoRoute"):
        osrm.parse_response({"code": "NoRoute"}, 2)
    with pytest.raises(MatrixError, match="no road"):
        osrm.parse_response({"code": "Ok", "distances": [[0, None], [1, 0]], "durations": [[0, 1], [1, 0]]}, 2)
    with pytest.raises(MatrixError, match="2×2"):
        osrm.parse_response({"code": "Ok", "distances": [[0]], "durations": [[0]]}, 2)
    with pytest.raises(MatrixError):
        osrm.build_request([(38.9, 117.3)])
    with pytest.raises(MatrixError, match="no HTTP client"):
        asyncio.run(OsrmTableProvider("http://x").matrix([(1, 2), (3, 4)]))
