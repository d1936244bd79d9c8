"""Inline SVG maps of the district: plain geometry for the templates, no tiles, no script.

A map is the district's bounding box drawn to scale: longitude is shrunk by
cos(latitude) so a kilometre east is as long on screen as a kilometre north.
Town names sit at the town centres (nudged apart when two would overlap);
rooms are dots coloured by kind and ringed when below the district standards.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from server.district import ROOM_KINDS, BoundingBox, District
from server.rooms.models import RoomOut

KM_PER_DEGREE_LAT = 111.32
# CSS class of each room kind (colours live in shuwu.css, shared by map and legend).
KIND_CLASSES = dict(zip(ROOM_KINDS, ("k-farm", "k-bar", "k-branch", "k-mobile"), strict=True))
# Graticule spacing in degrees: fine enough to read a position, coarse enough to stay quiet.
GRID_STEP_DEG = 0.1
# A room below standard gets a ring this far outside its dot (screen pixels).
RING_GAP = 3.5


@dataclass(frozen=True)
class Projection:
    """Equirectangular projection of ``bbox`` onto a ``width`` × ``height`` box, inset by ``pad``."""

    bbox: BoundingBox
    width: float
    height: float
    pad: float
    scale: float  # screen units per degree of latitude

    @classmethod
    def fit(cls, bbox: BoundingBox, width: float, pad: float = 0) -> Projection:
        mid_lat = math.radians((bbox.min_lat + bbox.max_lat) / 2)
        lng_span = (bbox.max_lng - bbox.min_lng) * math.cos(mid_lat)
        lat_span = bbox.max_lat - bbox.min_lat
        scale = (width - 2 * pad) / lng_span
        return cls(bbox, width, round(lat_span * scale + 2 * pad, 1), pad, scale)

    @property
    def lng_factor(self) -> float:
        return math.cos(math.radians((self.bbox.min_lat + self.bbox.max_lat) / 2))

    def point(self, lat: float, lng: float) -> tuple[float, float]:
        x = self.pad + (lng - self.bbox.min_lng) * self.lng_factor * self.scale
        y = self.pad + (self.bbox.max_lat - lat) * self.scale
        return round(x, 1), round(y, 1)

    def km(self, km: float) -> float:
        """Screen length of ``km`` kilometres (the same in both directions)."""
        return km / KM_PER_DEGREE_LAT * self.scale


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    highlight: bool = False


@dataclass(frozen=True)
class Dot:
    x: float
    y: float
    code: str
    kind_class: str
    ringed: bool
    inactive: bool
    tooltip: str


@dataclass(frozen=True)
class GridLine:
    x1: float
    y1: float
    x2: float
    y2: float
    label: str
    lx: float
    ly: float


@dataclass
class DistrictMap:
    """Everything a template needs to draw one map."""

    width: float
    height: float
    pad: float
    font_size: float
    dot_radius: float
    ring_radius: float
    labels: list[Label]
    dots: list[Dot]
    grid: list[GridLine]
    scale_km: int
    scale_px: float
    kind_counts: list[tuple[str, str, int]] = field(default_factory=list)  # (kind, class, count)
    below_standard: int = 0
    inactive: int = 0


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Area shared by two (x0, y0, x1, y1) boxes."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def _hits_circle(box: tuple[float, float, float, float], x: float, y: float, r: float) -> bool:
    nearest_x = min(max(x, box[0]), box[2])
    nearest_y = min(max(y, box[1]), box[3])
    return (nearest_x - x) ** 2 + (nearest_y - y) ** 2 < r * r


def place_labels(
    anchors: Sequence[tuple[float, float, str]],
    font_size: float,
    width: float,
    height: float,
    obstacles: Sequence[tuple[float, float, float, float]] = (),
) -> list[tuple[float, float]]:
    """Centre of each label, as near its anchor as it can be without covering another label
    or, where it can help it, a dot (``obstacles`` are (x, y, radius, cost of covering it) circles).

    Boxes are what the browser draws: CJK glyphs are 1 em wide and about 1.45 em tall
    (Noto Sans CJK), plus the white halo round the letters (.map .towns text in shuwu.css).
    """
    h = font_size * 1.45
    halo = font_size * 0.3
    placed: list[tuple[float, float, float, float]] = []
    centres = []
    for x, y, text in anchors:
        w = len(text) * font_size
        offsets = sorted(
            ((dx * w, dy * h) for dx in (0, -0.3, 0.3, -0.6, 0.6) for dy in (0, -0.7, 0.7, -1.4, 1.4, -2.1, 2.1)),
            key=lambda o: math.hypot(o[0], o[1] * 1.5),
        )
        best: tuple[float, tuple[float, float, float, float], float, float] | None = None
        for dx, dy in offsets:
            cx = min(max(x + dx, w / 2 + halo), width - w / 2 - halo)
            cy = min(max(y + dy, h / 2 + halo), height - h / 2 - halo)
            box = (cx - w / 2 - halo, cy - h / 2 - halo, cx + w / 2 + halo, cy + h / 2 + halo)
            glyphs = (cx - w / 2, cy - h / 2 + halo, cx + w / 2, cy + h / 2 - halo)
            cost = (
                # Labels must not touch (any overlap outweighs everything else) ...
                1e6 * sum(_overlap(box, other) for other in placed) / (w * h)
                # ... and had better not hide a room, but should stay near their town's centre.
                + sum(weight for ox, oy, r, weight in obstacles if _hits_circle(glyphs, ox, oy, r))
                + 3 * math.hypot(cx - x, cy - y) / h
            )
            if best is None or cost < best[0]:
                best = (cost, box, cx, cy)
        assert best is not None
        placed.append(best[1])
        centres.append((round(best[2], 1), round(best[3], 1)))
    return centres


def _grid(projection: Projection, font_size: float) -> list[GridLine]:
    """Lines every GRID_STEP_DEG; longitudes labelled along the top, latitudes down the left
    (labels that would crowd a corner or run off the edge are left out)."""
    bbox = projection.bbox
    lines = []
    lat = math.ceil(bbox.min_lat / GRID_STEP_DEG) * GRID_STEP_DEG
    while lat < bbox.max_lat:
        x1, y = projection.point(lat, bbox.min_lng)
        x2, _ = projection.point(lat, bbox.max_lng)
        show = 2.5 * font_size < y < projection.height - 2.5 * font_size
        lines.append(GridLine(x1, y, x2, y, f"{lat:.1f}°N" if show else "", x1 + 4, y - 3))
        lat += GRID_STEP_DEG
    lng = math.ceil(bbox.min_lng / GRID_STEP_DEG) * GRID_STEP_DEG
    while lng < bbox.max_lng:
        x, y1 = projection.point(bbox.max_lat, lng)
        _, y2 = projection.point(bbox.min_lat, lng)
        show = x + 4 * font_size < projection.width - 2.5 * font_size
        lines.append(GridLine(x, y1, x, y2, f"{lng:.1f}°E" if show else "", x + 3, y1 + font_size))
        lng += GRID_STEP_DEG
    return lines


def _tooltip(room: RoomOut) -> str:
    parts = [f"{room.name}（{room.code}）", f"{room.kind} · {room.town}"]
    if room.status == "inactive":
        parts.append("已停用")
    parts += [f"未达标：{w}" for w in room.standards.warnings]
    return "\n".join(parts)


def district_map(
    district: District,
    rooms: Iterable[RoomOut],
    *,
    width: float = 480,
    font_size: float = 13,
    dot_radius: float = 5,
    highlight_town: str | None = None,
) -> DistrictMap:
    """A map of ``district`` with one dot per room of ``rooms``; ``width`` is in screen pixels
    at the size the page usually shows it, so ``font_size`` and ``dot_radius`` are too."""
    projection = Projection.fit(district.bbox, width)
    rooms = list(rooms)
    dots = []
    for room in rooms:
        x, y = projection.point(room.location.lat, room.location.lng)
        dots.append(Dot(x, y, room.code, KIND_CLASSES.get(room.kind, "k-farm"), bool(room.standards.warnings),
                        room.status == "inactive", _tooltip(room)))
    # Rooms below standard last, so their rings are never hidden under a neighbour's dot.
    dots.sort(key=lambda d: (d.ringed, d.y))
    # Covering a room below standard costs more: those are the dots people look for.
    obstacles = [(d.x, d.y, dot_radius + (RING_GAP if d.ringed else 1), 30 if d.ringed else 10) for d in dots]
    anchors = [(*projection.point(t.lat, t.lng), t.name) for t in district.towns]
    centres = place_labels(anchors, font_size, projection.width, projection.height, obstacles)
    labels = [Label(x, y, t.name, t.name == highlight_town) for (x, y), t in zip(centres, district.towns, strict=True)]
    counts = Counter[str](room.kind for room in rooms)
    # The scale bar: the roundest length near a sixth of the map's width.
    target_km = projection.width / 6 / projection.km(1)
    scale_km = min((1, 2, 5, 10, 20, 50), key=lambda km: abs(math.log(km / target_km)))
    return DistrictMap(
        width=projection.width, height=projection.height, pad=projection.pad, font_size=font_size,
        dot_radius=dot_radius, ring_radius=dot_radius + RING_GAP,
        labels=labels, dots=dots, grid=_grid(projection, font_size),
        scale_km=scale_km, scale_px=round(projection.km(scale_km), 1),
        kind_counts=[(k, KIND_CLASSES[k], counts.get(k, 0)) for k in ROOM_KINDS],
        below_standard=sum(1 for r in rooms if r.standards.warnings),
        inactive=sum(1 for r in rooms if r.status == "inactive"),
    )
