"""The server-side SVG charts of the annual report: pure, property-tested."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.stats.models import Chart, ChartSeries
from server.stats.reports.svgcharts import chart_svg, format_value, nice_step, nice_ticks

NS = "{http://www.w3.org/2000/svg}"
EPS = 0.02  # attribute values are printed with 2 decimals


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def plot_area(root: ET.Element) -> tuple[float, float, float, float]:
    area = next(e for e in root.iter(f"{NS}rect") if e.get("class") == "plot-area")
    x, y = float(area.get("x", 0)), float(area.get("y", 0))
    return x, y, x + float(area.get("width", 0)), y + float(area.get("height", 0))


def bars(root: ET.Element) -> list[ET.Element]:
    return [e for e in root.iter(f"{NS}rect") if e.get("class") == "bar"]


def texts(root: ET.Element, cls: str) -> list[str]:
    return [e.text or "" for e in root.iter(f"{NS}text") if e.get("class") == cls]


def chart(categories: list[str], *series: ChartSeries, unit: str = "次") -> Chart:
    return Chart(key="loans_by_month", title="每月借阅", unit=unit, categories=categories, series=list(series))


def test_nice_ticks_are_1_2_5_times_a_power_of_ten() -> None:
    assert nice_ticks(0, 97) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(0, 1234) == [0, 500, 1000, 1500]
    assert nice_ticks(-3, 7) == [-4, -2, 0, 2, 4, 6, 8]
    assert nice_ticks(0, 0.37)[-1] >= 0.37
    for span in (0.003, 1, 7, 13, 99, 1e6, 3.3e12):
        mantissa = nice_step(span) / 10 ** int(f"{nice_step(span):e}".split("e")[1])
        assert round(mantissa, 6) in {1, 2, 5}


def test_values_print_the_chinese_way() -> None:
    assert format_value(0) == "0"
    assert format_value(1500) == "1500"
    assert format_value(20000) == "2万"
    assert format_value(25000) == "2.5万"
    assert format_value(300000000) == "3亿"
    assert format_value(0.25, 0.05) == "0.25"


def test_a_bar_chart_has_axes_ticks_labels_unit_and_values() -> None:
    svg = chart_svg(chart(["1月", "2月", "3月"], ChartSeries(name="借阅", values=[10, None, 35])))
    root = parse(svg)
    assert len(bars(root)) == 2  # None is skipped
    assert texts(root, "category") == ["1月", "2月", "3月"]
    assert texts(root, "tick")[0] == "0"
    assert texts(root, "unit") == ["单位：次"]
    assert set(texts(root, "value")) == {"10", "35"}  # few bars: direct labels
    assert "<script" not in svg and "href=\"http" not in svg


def test_stacked_bars_sit_on_each_other_and_grouped_bars_side_by_side() -> None:
    stacked = parse(chart_svg(chart(["甲", "乙"], ChartSeries(name="a", values=[10, 20], stack="s"),
                                    ChartSeries(name="b", values=[30, 40], stack="s"))))
    a, b = [r for r in bars(stacked) if r.find(f"{NS}title").text.startswith("甲")]  # type: ignore[union-attr]
    assert a.get("x") == b.get("x")
    assert abs(float(b.get("y", 0)) + float(b.get("height", 0)) - float(a.get("y", 0))) < EPS
    grouped = parse(chart_svg(chart(["甲", "乙"], ChartSeries(name="a", values=[10, 20]),
                                    ChartSeries(name="b", values=[30, 40]))))
    a, b = [r for r in bars(grouped) if r.find(f"{NS}title").text.startswith("甲")]  # type: ignore[union-attr]
    assert float(a.get("x", 0)) < float(b.get("x", 0))


def test_a_line_over_bars_has_a_polyline_markers_and_a_legend() -> None:
    root = parse(chart_svg(chart(["政经", "科技", "生活"], ChartSeries(name="现有", values=[10, 20, 30]),
                                 ChartSeries(name="目标", values=[15, None, 25], kind="line"))))
    assert texts(root, "legend") == ["现有", "目标"]
    assert not list(root.iter(f"{NS}polyline"))  # None breaks the line: two single points, no segment
    root = parse(chart_svg(chart(["政经", "科技", "生活"], ChartSeries(name="目标", values=[15, 20, 25], kind="line"))))
    assert len(list(root.iter(f"{NS}polyline"))) == 1


def test_nothing_to_draw_is_a_no_data_box() -> None:
    for c in (chart([], ChartSeries(name="a", values=[])), chart(["甲"], ChartSeries(name="a", values=[None])),
              chart(["甲", "乙"], ChartSeries(name="a", values=[0, 0])), chart(["甲"])):
        root = parse(chart_svg(c))
        assert [t.text for t in root.iter(f"{NS}text")] == ["暂无数据"]


def test_labels_are_escaped() -> None:
    svg = chart_svg(Chart(key="challenge_by_school", title="学校 <b>&", unit="人<", categories=["A<B&C小学", "]]>\"'"],
                          series=[ChartSeries(name="<script>alert(1)</script>", values=[3, 4]),
                                  ChartSeries(name="x&y", values=[1, 2], kind="line")]))
    root = parse(svg)
    assert "<script>" not in svg
    assert texts(root, "category")[0] == "A<B&C小学"
    assert texts(root, "legend")[0].startswith("<script>")


def test_crowded_labels_are_rotated_and_kept_inside() -> None:
    schools = [f"津南区第{i}中学附属小学" for i in range(15)]
    root = parse(chart_svg(chart(schools, ChartSeries(name="人数", values=list(range(1, 16))))))
    labels = [e for e in root.iter(f"{NS}text") if e.get("class") == "category"]
    assert labels and all("rotate(-45" in (e.get("transform") or "") for e in labels)
    assert all(len(e.text or "") <= 10 for e in labels)  # shortened, with …


values = st.one_of(st.none(), st.just(0.0), st.floats(min_value=-1e18, max_value=1e18, allow_nan=False),
                   st.integers(min_value=0, max_value=10**9).map(float), st.sampled_from([float("nan"), float("inf")]))
names = st.text(min_size=0, max_size=30)


@st.composite
def charts(draw: st.DrawFn) -> Chart:
    categories = draw(st.lists(names, min_size=0, max_size=40))
    n_series = draw(st.integers(min_value=0, max_value=7))
    series = []
    for _ in range(n_series):
        length = draw(st.integers(min_value=0, max_value=len(categories) + 2))
        series.append(ChartSeries(name=draw(names), values=draw(st.lists(values, min_size=length, max_size=length)),
                                  kind=draw(st.sampled_from(["bar", "bar", "line"])),
                                  stack=draw(st.sampled_from([None, "a", "b"]))))
    return Chart(key="k", title=draw(names), unit=draw(st.sampled_from(["", "册", "%", "<&>"])), categories=categories,
                 series=series, note="")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(charts(), st.integers(min_value=200, max_value=1200), st.integers(min_value=120, max_value=800))
def test_any_chart_is_well_formed_svg_with_bars_inside_the_plot(c: Chart, width: int, height: int) -> None:
    svg = chart_svg(c, width=width, height=height)
    root = parse(svg)
    assert root.tag == f"{NS}svg"
    assert "<script" not in svg.lower() and "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for e in root.iter():
        assert not (e.get("href") or e.get("{http://www.w3.org/1999/xlink}href") or "").strip()
        fill = e.get("fill") or ""
        assert not fill.startswith("url(") or fill.startswith("url(#")
    if not bars(root):
        return
    x0, y0, x1, y1 = plot_area(root)
    for bar in bars(root):
        x, y = float(bar.get("x", 0)), float(bar.get("y", 0))
        w, h = float(bar.get("width", 0)), float(bar.get("height", 0))
        assert w >= 0 and h >= 0
        assert x0 - EPS <= x and x + w <= x1 + EPS, (x, w, x0, x1)
        assert y0 - EPS <= y and y + h <= y1 + EPS, (y, h, y0, y1)
