"""The district map's data: rooms and town clusters with the values of each layer. Pure.

Drawn from data shuwu ships (room coordinates, town centroids, the district's box); map
tiles only when a provider is configured (``Settings.map_tiles_url``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from server.district import District
from server.stats.models import DistrictMap, MapLayer, MapRoom, MapTiles, MapTown

# layer key → (label, unit, better, how a town's value is made from its rooms)
LAYERS: dict[str, tuple[str, str, str, str]] = {
    "volumes": ("藏书量", "册", "higher", "sum"),
    "volumes_per_resident": ("人均藏书", "册/人", "higher", "ratio"),
    "loans_per_month": ("月均借阅", "册次", "higher", "sum"),
    "opening_ratio": ("近 30 天开放率", "%", "higher", "mean"),
    "standards_missed": ("未达标准项数", "项", "lower", "sum"),
}
FALLBACK_LOAN_BREAKS = [10.0, 30.0, 60.0, 120.0]


def location_of(room: Mapping[str, Any]) -> tuple[float, float] | None:
    """(lat, lng) from the room's GeoJSON point, or None."""
    loc = room.get("location") or {}
    coords = loc.get("coordinates") if isinstance(loc, Mapping) else None
    if not coords or len(coords) != 2 or coords[0] is None or coords[1] is None:
        return None
    lng, lat = float(coords[0]), float(coords[1])
    return lat, lng


def quantile_breaks(values: Iterable[float | None], classes: int = 4, fallback: Sequence[float] = ()) -> list[float]:
    """Ascending, distinct class boundaries at the quantiles of ``values`` (nulls ignored)."""
    data = sorted(float(v) for v in values if v is not None)
    if len(data) < classes:
        return list(fallback)
    cuts: list[float] = []
    for i in range(1, classes):
        x = data[min(len(data) - 1, (len(data) * i) // classes)]
        x = round(x, 1) if x < 10 else float(round(x))
        if x > 0 and (not cuts or x > cuts[-1]):
            cuts.append(x)
    return cuts or list(fallback)


def layers(district: District, room_values: Mapping[str, Mapping[str, float | None]]) -> list[MapLayer]:
    s = district.standards
    target = district.plan.volumes_per_resident
    loans = quantile_breaks((v.get("loans_per_month") for v in room_values.values()), fallback=FALLBACK_LOAN_BREAKS)
    breaks = {
        # half, the standard, twice and four times the minimum holdings
        "volumes": sorted({float(s.min_volumes) / 2, float(s.min_volumes), float(s.min_volumes) * 2,
                           float(s.min_volumes) * 4} - {0.0}) or [1.0],
        # around the plan's target: a quarter below, at, and half above it
        "volumes_per_resident": sorted({round(target * 0.5, 3), round(target * 0.75, 3), round(target, 3),
                                        round(target * 1.5, 3)} - {0.0}) or [1.0],
        "loans_per_month": loans,
        "opening_ratio": [50.0, 80.0, 95.0],
        "standards_missed": [1.0, 2.0, 3.0],
    }
    return [MapLayer(key=k, label=label, unit=unit, breaks=breaks[k], better=better)  # type: ignore[arg-type]
            for k, (label, unit, better, _) in LAYERS.items()]


def district_map(district: District, rooms: Sequence[Mapping[str, Any]],
                 room_values: Mapping[str, Mapping[str, float | None]],
                 residents: Mapping[str, int | None], *, tiles_url: str = "", tiles_attribution: str = "") -> DistrictMap:
    """``room_values``: code → layer key → value (``volumes`` must be there for the town
    ratio); ``residents``: code → residents (or None). Rooms without a location are left out
    of the markers but still count in their town's figures."""
    placed = []
    for r in rooms:
        where = location_of(r)
        if where is None:
            continue
        placed.append(MapRoom(code=r["code"], name=r["name"], town=r.get("town", ""), kind=r.get("kind", ""),
                              lat=where[0], lng=where[1],
                              values={k: room_values.get(r["code"], {}).get(k) for k in LAYERS}))
    by_town: dict[str, list[Mapping[str, Any]]] = {}
    for r in rooms:
        by_town.setdefault(r.get("town", ""), []).append(r)
    towns = []
    for t in district.towns:
        members = by_town.get(t.name)
        if not members:
            continue
        towns.append(MapTown(name=t.name, lat=t.lat, lng=t.lng, rooms=len(members),
                             values=town_values([m["code"] for m in members], room_values, residents)))
    bbox = district.bbox
    return DistrictMap(bbox=(bbox.min_lat, bbox.min_lng, bbox.max_lat, bbox.max_lng), towns=towns, rooms=placed,
                       layers=layers(district, room_values),
                       tiles=MapTiles(url=tiles_url, attribution=tiles_attribution) if tiles_url else None)


def town_values(codes: Sequence[str], room_values: Mapping[str, Mapping[str, float | None]],
                residents: Mapping[str, int | None]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, (_, _, _, how) in LAYERS.items():
        vals = [room_values.get(c, {}).get(key) for c in codes]
        known = [float(v) for v in vals if v is not None]
        if how == "sum":
            out[key] = round(sum(known), 2) if known else None
        elif how == "mean":
            out[key] = round(sum(known) / len(known), 2) if known else None
        else:  # volumes ÷ residents over the rooms that have a residents figure
            with_people = [c for c in codes if residents.get(c)]
            people = sum(int(residents[c] or 0) for c in with_people)
            vols = sum(float(room_values.get(c, {}).get("volumes") or 0) for c in with_people)
            out[key] = round(vols / people, 3) if people else None
    return out
