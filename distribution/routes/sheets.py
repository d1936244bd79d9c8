"""Route maps (inline SVG drawn from coordinates, no tiles) and route sheets (PDF, WeasyPrint).

Chinese needs a CJK font on the machine ("Noto Sans CJK SC", Debian ``fonts-noto-cjk``).
The sheet loads nothing from outside: the URL fetcher refuses every URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from html import escape

import jinja2

from distribution.routes.models import RouteOut, RoutePlanOut, SiteOut
from server.console.maps import Projection
from server.district import BoundingBox, District

# One colour per truck, in order (distinct in print and for common colour blindness).
TRUCK_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
                 "#7f7f7f", "#bcbd22")
MAP_MARGIN_DEG = 0.012


def truck_colour(n: int) -> str:
    return TRUCK_COLOURS[n % len(TRUCK_COLOURS)]


def _bbox(depot: SiteOut, routes: Sequence[RouteOut]) -> BoundingBox:
    lats = [depot.lat, *(s.lat for r in routes for s in r.stops)]
    lngs = [depot.lng, *(s.lng for r in routes for s in r.stops)]
    return BoundingBox(min_lat=min(lats) - MAP_MARGIN_DEG, max_lat=max(lats) + MAP_MARGIN_DEG,
                       min_lng=min(lngs) - MAP_MARGIN_DEG, max_lng=max(lngs) + MAP_MARGIN_DEG)


def route_svg(depot: SiteOut, routes: Sequence[RouteOut], *, district: District | None = None, width: float = 640,
              colours: Sequence[str] | None = None, font_size: float = 11, numbered: bool = True,
              label: str = "路线图") -> str:
    """An SVG map of ``routes`` (each a closed loop from the depot) with numbered stops.

    Town names of ``district`` falling inside the map are drawn faintly for orientation.
    Every text is escaped; the result is safe to embed in HTML.
    """
    proj = Projection.fit(_bbox(depot, routes), width, pad=font_size * 1.5)
    colours = list(colours or [truck_colour(n) for n in range(len(routes))])
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="route-map" viewBox="0 0 {proj.width:g} {proj.height:g}" '
             f'width="{proj.width:g}" height="{proj.height:g}" role="img" aria-label="{escape(label)}">',
             f'<rect x="0" y="0" width="{proj.width:g}" height="{proj.height:g}" fill="#fbfaf7" stroke="#ccc"/>']
    if district is not None:
        for town in district.towns:
            if proj.bbox.contains(town.lat, town.lng):
                x, y = proj.point(town.lat, town.lng)
                parts.append(f'<text x="{x}" y="{y}" font-size="{font_size * 1.1:g}" fill="#b5b0a6" '
                             f'text-anchor="middle">{escape(town.name)}</text>')
    dx, dy = proj.point(depot.lat, depot.lng)
    for n, route in enumerate(routes):
        colour = colours[n % len(colours)]
        points = [(dx, dy), *(proj.point(s.lat, s.lng) for s in route.stops), (dx, dy)]
        path = " ".join(f"{x},{y}" for x, y in points)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2" '
                     f'stroke-linejoin="round" opacity="0.85"><title>{escape(route.truck)}</title></polyline>')
        r = font_size * 0.75
        for stop in route.stops:
            x, y = proj.point(stop.lat, stop.lng)
            tip = escape(f"{route.truck} 第{stop.seq}站：{stop.name}（{stop.room}）{stop.boxes}箱 {stop.arrival}")
            parts.append(f'<g><title>{tip}</title><circle cx="{x}" cy="{y}" r="{r:g}" fill="#fff" '
                         f'stroke="{colour}" stroke-width="1.6"/>')
            if numbered:
                parts.append(f'<text x="{x}" y="{y + font_size * 0.35:g}" font-size="{font_size * 0.8:g}" '
                             f'text-anchor="middle" fill="#222">{stop.seq}</text>')
            parts.append("</g>")
    s = font_size * 0.8
    parts.append(f'<g><title>{escape(depot.name)}（出发地）</title><rect x="{dx - s:g}" y="{dy - s:g}" width="{2 * s:g}" '
                 f'height="{2 * s:g}" fill="#222"/><text x="{dx + s * 1.4:g}" y="{dy + s * 0.5:g}" '
                 f'font-size="{font_size:g}" fill="#222">{escape(depot.name)}</text></g>')
    km = 5 if proj.km(5) < proj.width / 3 else 1
    x0, y0 = font_size, proj.height - font_size
    parts.append(f'<line x1="{x0:g}" y1="{y0:g}" x2="{x0 + proj.km(km):.1f}" y2="{y0:g}" stroke="#444" stroke-width="2"/>'
                 f'<text x="{x0:g}" y="{y0 - 4:g}" font-size="{font_size * 0.9:g}" fill="#444">{km} 公里</text>')
    parts.append("</svg>")
    return "".join(parts)


SHEET_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><style>
@page { size: A4; margin: 14mm 12mm; @bottom-right { content: "第 " counter(page) " 页，共 " counter(pages) " 页";
  font-size: 8pt; color: #666; } }
body { font-family: "Noto Sans CJK SC", sans-serif; font-size: 9.5pt; color: #111; }
h1 { font-size: 15pt; margin: 0 0 2mm; } .meta { color: #444; margin: 0 0 3mm; }
.sheet { page-break-after: always; } .sheet:last-child { page-break-after: auto; }
table { width: 100%; border-collapse: collapse; margin-top: 3mm; }
th, td { border: 0.5pt solid #999; padding: 1.2mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eee; } td.num { text-align: right; } .sign { width: 18mm; }
.map svg { width: 100%; height: auto; max-height: 120mm; } .warn { color: #b00; font-weight: bold; }
</style></head><body>
{% for route in routes %}
<section class="sheet">
<h1>送书路线单 · {{ route.truck }}</h1>
<p class="meta">日期 {{ plan.date }}（{{ weekday }}） · 出发地 {{ plan.depot.name }} · {{ route.depart }} 出发，约 {{ route.back }} 返回 ·
 {{ route.stops|length }} 站 · 共 {{ route.boxes }} 箱（载量 {{ route.capacity_boxes }} 箱） · 约 {{ '%.1f'|format(route.distance_m / 1000) }} 公里
 {% if not route.feasible %}<span class="warn">（此路线超出时间或载量，请调整）</span>{% endif %}</p>
<div class="map">{{ maps[loop.index0]|safe }}</div>
<table><thead><tr><th>站</th><th>书屋</th><th>地址</th><th>到达</th><th>可送时间</th><th>箱数</th><th>联系人 / 电话</th><th class="sign">签收</th></tr></thead>
<tbody>
{% for s in route.stops %}<tr><td class="num">{{ s.seq }}</td><td>{{ s.name }}<br><small>{{ s.room }} · {{ s.town }}</small></td>
<td>{{ s.address or '—' }}</td><td>{{ s.arrival }}{% if s.service_start != s.arrival %}<br><small>{{ s.service_start }} 开门</small>{% endif %}</td>
<td>{{ s.window }}<br><small>开放 {{ s.opening_hours|join('、') }}</small></td><td class="num">{{ s.boxes }}</td>
<td>{{ s.administrators|join('、') or '—' }}<br>{{ s.phone or '—' }}</td><td></td></tr>
{% endfor %}</tbody></table>
<p class="meta">每站卸货约 {{ plan.service_base_s // 60 }} 分钟 + 每箱 {{ plan.service_per_box_s // 60 }} 分钟；
距离按直线距离 × {{ plan.matrix.circuity_factor or '—' }} 估算。</p>
</section>
{% endfor %}
</body></html>"""

WEEKDAY_NAMES = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


@cache
def _template() -> jinja2.Template:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(SHEET_TEMPLATE)


def sheet_html(plan: RoutePlanOut, routes: Sequence[RouteOut], district: District | None = None) -> str:
    colours = {r.truck: truck_colour(n) for n, r in enumerate(plan.routes)}
    maps = [route_svg(plan.depot, [r], district=district, width=680, colours=[colours.get(r.truck, truck_colour(0))],
                      label=f"{r.truck} 路线图") for r in routes]
    return _template().render(plan=plan, routes=routes, maps=maps, weekday=WEEKDAY_NAMES[plan.date.weekday()])


def render_pdf(plan: RoutePlanOut, routes: Sequence[RouteOut], district: District | None = None) -> bytes:
    """Route sheets as PDF bytes, one section per route. CPU-bound: call it in a thread."""
    import weasyprint
    from weasyprint.urls import URLFetcher

    fetcher = URLFetcher(allowed_protocols=set(), fail_on_errors=False)
    html = sheet_html(plan, routes, district) if routes else "<p>没有路线</p>"
    pdf = weasyprint.HTML(string=html, url_fetcher=fetcher).write_pdf()
    assert pdf is not None
    return pdf
