"""Charts drawn on the server as SVG, for the annual report's PDF. Pure: a ``Chart`` in, a string out.

One neutral chart shape (``server.stats.models.Chart``) feeds both the console (ECharts in the
browser) and this module. The SVG is self-contained: no script, no external reference (fill
patterns are referenced by fragment ids inside the same SVG, prefixed so several charts can sit
in one HTML document). Every label is escaped.

Readable in grey print and for colour-blind readers: the Okabe–Ito colours, ordered so that
neighbouring series differ in lightness, plus a hatch pattern on every other bar series and a
distinct marker shape on each line series; few bars get their value written on them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import count
from xml.sax.saxutils import escape as _escape
from xml.sax.saxutils import quoteattr as _quoteattr

from server.stats.models import Chart, ChartSeries

FONT = "'Noto Sans CJK SC', 'Noto Sans CJK', sans-serif"
# Okabe–Ito, reordered so consecutive series alternate dark and light (grey print).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#999999", "#000000")
# Bar fills: solid, then hatched variants, so bars stay apart in grey print.
PATTERNS = ("solid", "diagonal", "dots", "cross")
# Lines (targets, trends) are drawn over bars: colours unlike the first bars', dashed every other one.
LINE_COLOURS = ("#D55E00", "#222222", "#CC79A7", "#009E73")
MARKERS = ("circle", "square", "triangle", "diamond")
FONT_SIZE = 11
SMALL = 9.5
# Values beyond this are clamped: no reading-room figure comes near it, and it keeps the
# arithmetic finite whatever the input.
MAX_ABS_VALUE = 1e15
MAX_LABEL_CHARS = 10
MAX_LEGEND_CHARS = 16
# Write the value on each bar when there are at most this many bars and they are wide enough.
DIRECT_LABEL_MAX_BARS = 16
# A chart with nothing to draw is a short box, not a page of white.
EMPTY_HEIGHT = 90

_ids = count(1)
# Characters XML 1.0 cannot carry at all: dropped from labels so the SVG always parses.
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def escape(text: str) -> str:
    return _escape(_XML_ILLEGAL.sub("", text))


def quoteattr(text: str) -> str:
    return _quoteattr(_XML_ILLEGAL.sub("", text))

YOf = Callable[[float], float]


@dataclass(frozen=True)
class Box:
    """The plot area, in SVG user units (y grows downwards)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """A conservative estimate: CJK and full-width characters are 1 em, the rest about 0.6 em."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.6 for ch in text)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: max(1, limit - 1)] + "…"


def _clean(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return max(-MAX_ABS_VALUE, min(MAX_ABS_VALUE, float(value)))


def nice_step(span: float, target: int = 5) -> float:
    """The tick step, 1, 2 or 5 × 10^n, giving about ``target`` intervals over ``span`` (> 0)."""
    raw = span / target
    magnitude = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if m * magnitude >= raw * (1 - 1e-9):
            return m * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Ticks covering ``low``..``high`` (which include 0), evenly spaced by a nice step."""
    low, high = min(low, 0.0), max(high, 0.0)
    if high - low < 1e-9:
        high = low + 1.0
    step = nice_step(high - low, target)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [i * step for i in range(first, last + 1)]


def format_value(value: float, step: float | None = None) -> str:
    """Chinese-style short numbers: 1.2万, 3亿; decimals only as fine as ``step`` needs."""
    magnitude = abs(value)
    for unit, size in (("亿", 1e8), ("万", 1e4)):
        if magnitude >= size:
            scaled = value / size
            decimals = 0 if scaled == int(scaled) else (1 if magnitude < 1e12 else 0)
            if magnitude >= 1e12:
                return f"{value / size:.3g}{unit}"
            return f"{scaled:.{decimals}f}{unit}".replace(".0" + unit, unit)
    if step is not None and step < 1:
        decimals = min(6, max(0, -math.floor(math.log10(step))))
        return f"{value:.{decimals}f}"
    if value == int(value):
        return f"{int(value)}"
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _attrs(**attrs: object) -> str:
    parts = []
    for key, value in attrs.items():
        if value is None:
            continue
        name = key.rstrip("_").replace("_", "-")
        text = f"{value:.2f}".rstrip("0").rstrip(".") if isinstance(value, float) else str(value)
        parts.append(f"{name}={quoteattr(text)}")
    return " ".join(parts)


def _text(x: float, y: float, content: str, *, size: float = FONT_SIZE, anchor: str = "middle",
          fill: str = "#333", transform: str | None = None, cls: str | None = None) -> str:
    return (f"<text {_attrs(x=x, y=y, font_size=size, text_anchor=anchor, fill=fill, transform=transform, class_=cls)}>"
            f"{escape(content)}</text>")


def _pattern_defs(prefix: str) -> str:
    """One pattern per (colour, hatch) pair that bars may use; unused ones cost nothing."""
    out = []
    for ci, colour in enumerate(PALETTE):
        for kind in PATTERNS[1:]:
            pid = f"{prefix}-{kind}-{ci}"
            if kind == "diagonal":
                body = (f'<rect width="6" height="6" fill="{colour}"/>'
                        '<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" stroke="#fff" stroke-width="1.6"/>')
            elif kind == "dots":
                body = f'<rect width="6" height="6" fill="{colour}"/><circle cx="3" cy="3" r="1.3" fill="#fff"/>'
            else:
                body = (f'<rect width="6" height="6" fill="{colour}"/>'
                        '<path d="M0,3 h6 M3,0 v6" stroke="#fff" stroke-width="1.2"/>')
            out.append(f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse">{body}</pattern>')
    return "<defs>" + "".join(out) + "</defs>"


def _fill(prefix: str, index: int) -> tuple[str, str]:
    """(fill, colour) of bar series number ``index``."""
    colour_index = index % len(PALETTE)
    colour = PALETTE[colour_index]
    kind = PATTERNS[index % len(PATTERNS)]
    return (colour if kind == "solid" else f"url(#{prefix}-{kind}-{colour_index})"), colour


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    if kind == "square":
        return f'<rect {_attrs(x=x - 3.2, y=y - 3.2, width=6.4, height=6.4, fill=colour)}/>'
    if kind == "triangle":
        return f'<path {_attrs(d=f"M{x:.1f},{y - 4:.1f} L{x + 4:.1f},{y + 3:.1f} L{x - 4:.1f},{y + 3:.1f} Z", fill=colour)}/>'
    if kind == "diamond":
        return f'<path {_attrs(d=f"M{x:.1f},{y - 4.2:.1f} L{x + 4.2:.1f},{y:.1f} L{x:.1f},{y + 4.2:.1f} L{x - 4.2:.1f},{y:.1f} Z", fill=colour)}/>'
    return f'<circle {_attrs(cx=x, cy=y, r=3.4, fill=colour, stroke="#fff", stroke_width=1)}/>'


def _empty(chart: Chart, width: int, height: int) -> str:
    height = min(height, EMPTY_HEIGHT)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" {_attrs(width=width, height=height, viewBox=f"0 0 {width} {height}", font_family=FONT, role="img", aria_label=chart.title)}>'
            f"<title>{escape(chart.title)}</title>"
            f'<rect {_attrs(x=1, y=1, width=width - 2, height=height - 2, fill="#fafafa", stroke="#bbb", stroke_dasharray="4 3", class_="empty")}/>'
            + _text(width / 2, height / 2 + 5, "暂无数据", size=14, fill="#777") + "</svg>")


def _slots(series: list[ChartSeries]) -> list[list[int]]:
    """Bar series grouped side by side: one slot per stack name (or per unstacked series)."""
    slots: list[list[int]] = []
    by_stack: dict[str, int] = {}
    for i, s in enumerate(series):
        if s.kind != "bar":
            continue
        if s.stack is not None and s.stack in by_stack:
            slots[by_stack[s.stack]].append(i)
            continue
        if s.stack is not None:
            by_stack[s.stack] = len(slots)
        slots.append([i])
    return slots


def _range(values: list[list[float | None]], series: list[ChartSeries], slots: list[list[int]]) -> tuple[float, float]:
    low = high = 0.0
    for slot in slots:
        for c in range(len(values[0]) if values else 0):
            pos = sum(v for i in slot if (v := values[i][c]) is not None and v > 0)
            neg = sum(v for i in slot if (v := values[i][c]) is not None and v < 0)
            high, low = max(high, pos), min(low, neg)
    for i, s in enumerate(series):
        if s.kind == "line":
            present = [v for v in values[i] if v is not None]
            high, low = max([high, *present]), min([low, *present])
    return low, high


def _legend(chart: Chart, prefix: str, width: int, bar_index: dict[int, int], line_index: dict[int, int]
            ) -> tuple[list[str], float]:
    """The legend along the top, wrapping onto more rows; returns (elements, height used)."""
    if len(chart.series) < 2 and not any(s.kind == "line" for s in chart.series):
        return [], 0.0
    out, x, y = [], 8.0, 14.0
    for i, s in enumerate(chart.series):
        name = shorten(s.name, MAX_LEGEND_CHARS)
        item_width = 22 + text_width(name, SMALL) + 14
        if x + item_width > width - 8 and x > 8:
            x, y = 8.0, y + 16
        if s.kind == "bar":
            fill, colour = _fill(prefix, bar_index[i])
            out.append(f'<rect {_attrs(x=x, y=y - 8, width=16, height=10, fill=fill, stroke=colour, stroke_width=0.8)}/>')
        else:
            colour = LINE_COLOURS[line_index[i] % len(LINE_COLOURS)]
            dash = "5 3" if line_index[i] % 2 else None
            out.append(f'<line {_attrs(x1=x, y1=y - 3, x2=x + 16, y2=y - 3, stroke=colour, stroke_width=2, stroke_dasharray=dash)}/>')
            out.append(_marker(MARKERS[line_index[i] % len(MARKERS)], x + 8, y - 3, colour))
        out.append(_text(x + 21, y + 1, name, size=SMALL, anchor="start", cls="legend"))
        x += item_width
    return out, y + 8


def chart_svg(chart: Chart, *, width: int = 640, height: int = 300) -> str:
    """``chart`` as a self-contained SVG string (``width`` × ``height`` user units).

    Bars (side by side; stacked when series share ``stack``), lines over them, axes with nice
    ticks (1/2/5 × 10^n) and gridlines, category labels (rotated, then thinned, when crowded),
    a legend, the unit. ``None`` values are skipped; a chart with nothing to draw is a 暂无数据 box.
    """
    width, height = max(240, int(width)), max(160, int(height))
    n = len(chart.categories)
    values = [[_clean(s.values[c]) if c < len(s.values) else None for c in range(n)] for s in chart.series]
    if n == 0 or not any(v for row in values for v in row):
        return _empty(chart, width, height)
    prefix = f"c{next(_ids)}"
    slots = _slots(chart.series)
    bar_index = {i: k for k, i in enumerate(i for i, s in enumerate(chart.series) if s.kind == "bar")}
    line_index = {i: k for k, i in enumerate(i for i, s in enumerate(chart.series) if s.kind == "line")}
    low, high = _range(values, chart.series, slots)
    ticks = nice_ticks(low - (high - low) * 0.06 if low < 0 else low, high + (high - low) * 0.06)
    step = ticks[1] - ticks[0]
    tick_labels = [format_value(t, step) for t in ticks]

    legend, legend_height = _legend(chart, prefix, width, bar_index, line_index)
    unit_height = 16.0 if chart.unit else 0.0
    left = 10 + max(text_width(t, SMALL) for t in tick_labels)
    top = legend_height + unit_height + 10
    right = width - 12.0

    # Category labels: horizontal if they fit, else rotated 45°, thinned if still too close.
    labels = [shorten(c, MAX_LABEL_CHARS) for c in chart.categories]
    slot_width = (right - left) / n
    widest = max(text_width(t, SMALL) for t in labels)
    rotate = widest > slot_width - 4
    every = 1
    if rotate:
        # A label rotated by -45° reaches left of its category by about 0.72 × its width.
        left = max(left, text_width(labels[0], SMALL) * 0.8 + 6 - slot_width / 2)
        slot_width = (right - left) / n
        every = max(1, math.ceil((SMALL * 1.5) / slot_width))
        label_room = widest * 0.72 + 12
    else:
        label_room = SMALL + 10
    bottom = height - label_room - 6
    if bottom - top < 60:  # a very small chart: give the plot its room, labels get shorter
        bottom = top + 60
    box = Box(left, top, right, bottom)

    def y_of(v: float) -> float:
        y = box.bottom - (v - ticks[0]) / (ticks[-1] - ticks[0]) * box.height
        return min(box.bottom, max(box.top, y))

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" {_attrs(width=width, height=height, viewBox=f"0 0 {width} {height}", font_family=FONT, role="img", aria_label=chart.title)}>',
             f"<title>{escape(chart.title)}</title>", _pattern_defs(prefix),
             f'<rect {_attrs(x=box.left, y=box.top, width=box.width, height=box.height, fill="none", class_="plot-area")}/>']
    if chart.unit:
        parts.append(_text(4, legend_height + 12, f"单位：{chart.unit}", size=SMALL, anchor="start", fill="#555", cls="unit"))
    parts.extend(legend)
    for t, label in zip(ticks, tick_labels, strict=True):
        y = y_of(t)
        parts.append(f'<line {_attrs(x1=box.left, y1=y, x2=box.right, y2=y, stroke="#000" if t == 0 else "#ddd", stroke_width=1 if t == 0 else 0.6)}/>')
        parts.append(_text(box.left - 5, y + SMALL * 0.35, label, size=SMALL, anchor="end", fill="#555", cls="tick"))
    parts.append(f'<line {_attrs(x1=box.left, y1=box.top, x2=box.left, y2=box.bottom, stroke="#666", stroke_width=0.8)}/>')

    for c, label in enumerate(labels):
        x = box.left + slot_width * (c + 0.5)
        if c % every:
            continue
        if rotate:
            y = box.bottom + 10
            parts.append(_text(x, y, label, size=SMALL, anchor="end", transform=f"rotate(-45 {x:.1f} {y:.1f})", cls="category"))
        else:
            parts.append(_text(x, box.bottom + SMALL + 5, label, size=SMALL, cls="category"))

    parts.extend(_bars(chart, values, slots, box, slot_width, y_of, prefix, bar_index, step))
    parts.extend(_lines(chart, values, box, slot_width, y_of, line_index))
    parts.append("</svg>")
    return "".join(parts)


def _bars(chart: Chart, values: list[list[float | None]], slots: list[list[int]], box: Box, slot_width: float,
          y: YOf, prefix: str, bar_index: dict[int, int], step: float) -> Iterable[str]:
    if not slots:
        return []
    group = slot_width * 0.78
    bar_width = group / len(slots)
    bar_count = sum(1 for slot in slots for c in range(len(chart.categories))
                    if any(values[i][c] for i in slot))
    direct = bar_count <= DIRECT_LABEL_MAX_BARS and all(len(slot) == 1 for slot in slots)
    out: list[str] = []
    for k, slot in enumerate(slots):
        for c in range(len(chart.categories)):
            x = box.left + slot_width * c + (slot_width - group) / 2 + bar_width * k
            pos = neg = 0.0
            for i in slot:
                v = values[i][c]
                if v is None or v == 0:
                    continue
                base = pos if v > 0 else neg
                top_value = base + v
                if v > 0:
                    pos = top_value
                else:
                    neg = top_value
                y1, y2 = sorted((y(base), y(top_value)))
                fill, colour = _fill(prefix, bar_index[i])
                name = f"{chart.categories[c]} · {chart.series[i].name}：{format_value(v)}"
                out.append(f'<rect {_attrs(x=x + 0.5, y=y1, width=max(0.5, bar_width - 1), height=max(0.0, y2 - y1), fill=fill, stroke=colour, stroke_width=0.6, class_="bar")}>'
                           f"<title>{escape(name)}</title></rect>")
                label = format_value(v, step if abs(v) < 1 else None)
                if direct and text_width(label, SMALL) <= bar_width + 6:
                    ty = y1 - 3 if v > 0 else y2 + SMALL + 1
                    ty = min(box.bottom - 2, max(box.top + SMALL, ty))
                    out.append(_text(x + bar_width / 2, ty, label, size=SMALL, fill="#222", cls="value"))
    return out


def _lines(chart: Chart, values: list[list[float | None]], box: Box, slot_width: float, y: YOf,
           line_index: dict[int, int]) -> Iterable[str]:
    out: list[str] = []
    for i, s in enumerate(chart.series):
        if s.kind != "line":
            continue
        k = line_index[i]
        colour = LINE_COLOURS[k % len(LINE_COLOURS)]
        dash = "5 3" if k % 2 else None
        points = [(box.left + slot_width * (c + 0.5), y(v)) if v is not None else None for c, v in enumerate(values[i])]
        run: list[tuple[float, float]] = []
        for p in [*points, None]:  # a None breaks the line
            if p is not None:
                run.append(p)
                continue
            if len(run) > 1:
                d = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
                out.append(f'<polyline {_attrs(points=d, fill="none", stroke=colour, stroke_width=2, stroke_dasharray=dash, class_="line")}/>')
            run = []
        out.extend(_marker(MARKERS[k % len(MARKERS)], p[0], p[1], colour) for p in points if p is not None)
    return out
