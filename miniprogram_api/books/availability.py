"""Where a title can be found on a shelf: the reader's room and the nearest others.

Pure: takes the page's shelf rows and the rooms, returns plain data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from server.geo import coordinates, distance_km

__all__ = ["NEARBY_SHOWN", "Shelf", "TitleAvailability", "availability", "coordinates", "distance_km"]

NEARBY_SHOWN = 5


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
