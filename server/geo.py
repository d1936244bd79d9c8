"""Distances on the earth's surface, for rooms' GeoJSON points (``[lng, lat]``)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

EARTH_RADIUS_KM = 6371.0


def distance_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle (haversine) distance between two (lng, lat) points, in kilometres."""
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
