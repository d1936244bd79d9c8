"""Distance and duration matrices for delivery routing: pluggable providers.

Every provider turns a list of points (latitude, longitude; WGS-84) into square integer
matrices in metres and seconds, index 0 usually being the depot. Three providers:

- ``GreatCircleProvider`` — the offline default: haversine distance × a circuity factor
  (1.3 by default: Wang et al. 2024 measured 1.3 ± 0.1 on road networks; short rural
  trips run higher) and an average speed. No network, deterministic.
- ``CachedMatrixProvider`` — wraps another provider and remembers matrices by their points.
- ``OsrmTableProvider`` — the request/response shape of a road-network service (OSRM's
  ``table`` API; a map vendor's distance-matrix API has the same role). Production
  configures its base URL; the HTTP call itself is injected (``fetch``), so this module
  does no I/O of its own and its request builder and parser are unit-tested here.

The provider's ``settings()`` are stored with every route plan so a plan says how its
distances were made.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

from server.geo import distance_km

DEFAULT_CIRCUITY = 1.3
# Average door-to-door speed of a small delivery truck on Jinnan's county and village roads.
DEFAULT_SPEED_KMH = 35.0
CACHE_MAX_MATRICES = 64

Point = tuple[float, float]  # (lat, lng)


class MatrixError(Exception):
    """A provider could not produce a matrix (bad answer, unreachable point)."""


@dataclass(frozen=True)
class Matrix:
    """Square integer matrices: ``distances_m[i][j]`` metres and ``durations_s[i][j]`` seconds."""

    distances_m: list[list[int]]
    durations_s: list[list[int]]
    settings: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.distances_m)


class MatrixProvider(Protocol):
    @property
    def name(self) -> str: ...

    def settings(self) -> dict[str, Any]: ...

    async def matrix(self, points: Sequence[Point]) -> Matrix: ...


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres between two (lat, lng) points."""
    return distance_km((a[1], a[0]), (b[1], b[0])) * 1000.0


@dataclass(frozen=True)
class GreatCircleProvider:
    """Offline matrices: great-circle metres × ``circuity``, seconds at ``speed_kmh``.

    Symmetric with a zero diagonal; values are rounded to whole metres and seconds.
    """

    circuity: float = DEFAULT_CIRCUITY
    speed_kmh: float = DEFAULT_SPEED_KMH
    name: str = "great_circle"

    def __post_init__(self) -> None:
        if not 1.0 <= self.circuity <= 3.0:
            raise ValueError("circuity must be between 1.0 and 3.0")
        if not 1.0 <= self.speed_kmh <= 130.0:
            raise ValueError("speed_kmh must be between 1 and 130")

    def settings(self) -> dict[str, Any]:
        return {"provider": self.name, "circuity_factor": self.circuity, "speed_kmh": self.speed_kmh}

    def compute(self, points: Sequence[Point]) -> Matrix:
        n = len(points)
        metres_per_sec = self.speed_kmh * 1000 / 3600
        dist = [[0] * n for _ in range(n)]
        dur = [[0] * n for _ in range(n)]
        for i in range(n):
            for j in range(i + 1, n):
                d = round(haversine_m(points[i], points[j]) * self.circuity)
                t = round(d / metres_per_sec)
                dist[i][j] = dist[j][i] = d
                dur[i][j] = dur[j][i] = t
        return Matrix(dist, dur, self.settings())

    async def matrix(self, points: Sequence[Point]) -> Matrix:
        return self.compute(points)


class CachedMatrixProvider:
    """Remembers the last ``max_entries`` matrices of ``inner`` by their (rounded) points."""

    def __init__(self, inner: MatrixProvider, max_entries: int = CACHE_MAX_MATRICES) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_entries = max_entries
        self._cache: OrderedDict[tuple[Point, ...], Matrix] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def settings(self) -> dict[str, Any]:
        return {**self.inner.settings(), "cached": True}

    async def matrix(self, points: Sequence[Point]) -> Matrix:
        key = tuple((round(lat, 6), round(lng, 6)) for lat, lng in points)
        found = self._cache.get(key)
        if found is not None:
            self._cache.move_to_end(key)
            self.hits += 1
            return found
        self.misses += 1
        result = await self.inner.matrix(points)
        self._cache[key] = result
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return result


Fetch = Callable[[str], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class OsrmTableProvider:
    """OSRM ``/table/v1/{profile}/{lng,lat;...}?annotations=distance,duration``.

    ``fetch(url) -> parsed JSON`` is the outbound HTTP call (with its timeouts), supplied
    by whoever configures the provider.
    """

    base_url: str
    fetch: Fetch | None = None
    profile: str = "driving"
    name: str = "osrm"

    def settings(self) -> dict[str, Any]:
        return {"provider": self.name, "base_url": self.base_url, "profile": self.profile}

    def build_request(self, points: Sequence[Point]) -> str:
        if len(points) < 2:
            raise MatrixError("a table needs at least two points")
        coords = ";".join(f"{lng:.6f},{lat:.6f}" for lat, lng in points)
        return (f"{self.base_url.rstrip('/')}/table/v1/{quote(self.profile)}/{coords}"
                "?annotations=distance,duration")

    def parse_response(self, payload: dict[str, Any], n: int) -> Matrix:
        if not isinstance(payload, dict) or payload.get("code") != "Ok":
            code = payload.get("code") if isinstance(payload, dict) else None
            raise MatrixError(f"OSRM answered {code or 'something unexpected'}")
        dist = payload.get("distances")
        dur = payload.get("durations")
        if not isinstance(dist, list) or not isinstance(dur, list) or len(dist) != n or len(dur) != n:
            raise MatrixError(f"OSRM table is not {n}×{n} with distances and durations")
        out_d: list[list[int]] = []
        out_t: list[list[int]] = []
        for i in range(n):
            if len(dist[i]) != n or len(dur[i]) != n:
                raise MatrixError(f"OSRM table row {i} has the wrong length")
            if any(v is None for v in dist[i]) or any(v is None for v in dur[i]):
                raise MatrixError(f"OSRM found no road to or from point {i}")
            out_d.append([0 if i == j else round(float(v)) for j, v in enumerate(dist[i])])
            out_t.append([0 if i == j else round(float(v)) for j, v in enumerate(dur[i])])
        return Matrix(out_d, out_t, self.settings())

    async def matrix(self, points: Sequence[Point]) -> Matrix:
        if self.fetch is None:
            raise MatrixError("OSRM provider has no HTTP client configured")
        return self.parse_response(await self.fetch(self.build_request(points)), len(points))
