"""Where a title can be found on a shelf: the reader's room and the nearest others.

Pure: takes the page's shelf rows and the rooms, returns plain data.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NEARBY_SHOWN = 5
EARTH_RADIUS_KM = 6371.0


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (lng, lat) points (GeoJSON order)."""
    (lng1, lat1), (lng2, lat2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def coordinates(room: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """A room's (lng, lat), if it has a location."""
    loc = (room or {}).get("location") or {}
    coords = loc.get("coordinates")
    if not coords or len(coords) != 2:
        return None
    return float(coords[0]), float(coords[1])


@dataclass(frozen=True)
class Shelf:
    room: str
    name: str
    town: str | None
    on_shelf: int
    distance_km: float | None


@dataclass(frozen=True)
class TitleAvailability:
    here: int | None
    nearby: list[Shelf]
    rooms_on_shelf: int


def availability(shelves: Iterable[tuple[str, int]], rooms: Mapping[str, Mapping[str, Any]],
                 here: Mapping[str, Any] | None, *, shown: int = NEARBY_SHOWN) -> TitleAvailability:
    """One title's availability from its ``(room code, on_shelf)`` rows.

    ``here`` is the reference room (or None): its copies are counted apart, the other
    active rooms with a copy are sorted nearest first (without coordinates: most copies
    first) and the first ``shown`` kept.
    """
    origin = coordinates(here)
    here_code = here["code"] if here else None
    on_here = 0
    others: list[Shelf] = []
    total = 0
    for code, count in shelves:
        if count <= 0:
            continue
        room = rooms.get(code)
        if room is None or room.get("status", "active") != "active":
            continue
        total += 1
        if code == here_code:
            on_here = count
            continue
        spot = coordinates(room)
        dist = round(distance_km(origin, spot), 2) if origin and spot else None
        others.append(Shelf(room=code, name=str(room.get("name") or code), town=room.get("town"), on_shelf=count,
                            distance_km=dist))
    others.sort(key=lambda s: (s.distance_km is None, s.distance_km or 0.0, -s.on_shelf, s.room))
    return TitleAvailability(here=on_here if here is not None else None, nearby=others[:shown], rooms_on_shelf=total)
