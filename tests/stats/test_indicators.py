"""The pure parts of the statistics: indicator status and detail, trends, charts, map data."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from server.district import JINNAN
from server.stats import charts, indicators, mapdata
from server.stats.indicators import STATUS_RANK, status_of

values = st.floats(min_value=0, max_value=1e6, allow_nan=False)
targets = st.floats(min_value=0.001, max_value=1e5, allow_nan=False)


@given(values, values, targets)
def test_status_is_monotone_in_the_value(a: float, b: float, target: float) -> None:
    low, high = sorted((a, b))
    assert STATUS_RANK[status_of(high, target, "higher")] >= STATUS_RANK[status_of(low, target, "higher")]
    assert STATUS_RANK[status_of(high, target, "lower")] <= STATUS_RANK[status_of(low, target, "lower")]


def test_status_near_is_within_ten_percent() -> None:
    assert status_of(1.2, 1.2, "higher") == "met"
    assert status_of(1.09, 1.2, "higher") == "near"
    assert status_of(1.07, 1.2, "higher") == "below"
    assert status_of(0, 0, "lower") == "met" and status_of(1, 0, "lower") == "below"
    assert status_of(None, 1.2, "higher") == "none" and status_of(3, None, "higher") == "none"


@given(st.integers(min_value=2012, max_value=2100))
def test_trend_is_the_previous_four_years_then_this_one(year: int) -> None:
    years = indicators.trend_years(year)
    points = indicators.trend_points(years, {year: 1.5, year - 2: None})
    assert [p.label for p in points] == [str(y) for y in range(year - 4, year + 1)]
    assert points[-1].value == 1.5 and points[0].value is None


def test_volumes_per_resident_shows_the_arithmetic() -> None:
    ind = indicators.volumes_per_resident(1800, 1500, 2, 3, 1.2, as_of="2025-12-31")
    assert ind.value == 1.2 and ind.status == "met" and ind.unit == "册/人"
    assert "1,800 册 ÷ 服务常住人口 1,500 人" in ind.detail and "3 个书屋未登记常住人口" in ind.detail
    none = indicators.volumes_per_resident(10, 0, 0, 5, 1.2, as_of="2025-12-31")
    assert none.value is None and none.status == "none"


def test_purchase_spend_and_loss_and_training() -> None:
    spend = indicators.purchase_spend(190_000_00, 200_000_00, year=2025, source="配送单金额")
    assert spend.value == 190_000 and spend.target == 200_000 and spend.status == "near" and "95.0%" in spend.detail
    assert indicators.purchase_spend(None, None, year=2025, source="").value is None
    loss = indicators.stocktake_loss_rate(5, 1000, 2, year=2025)
    assert loss.value == 0.5 and loss.status == "none" and loss.better == "lower"
    done = indicators.training_completion(4, 3, 1, year=2025)
    assert done.value == 75 and done.status == "below" and "（25%）" in done.detail


def test_below_standards_names_each_standard_missed() -> None:
    standards = {"min_volumes": 1500, "min_titles": 500, "min_periodicals": 30, "min_audio_visual": 100}
    held = {"book": {"copies": 1600, "titles": 400}, "periodical": {"titles": 30}, "audio_visual": {"copies": 5}}
    assert indicators.below_standards(held, standards) == ["min_titles", "min_audio_visual"]
    assert indicators.below_standards({}, standards) == list(standards)


def test_charts_always_have_their_series() -> None:
    loans = charts.loans_by_month([{"month": "2025-03", "category": "科技", "loans": 7},
                                   {"month": "2025-03", "category": "未分类", "loans": 2},
                                   {"month": "2024-03", "category": "科技", "loans": 99}], 2025)
    assert len(loans.categories) == 12 and [s.name for s in loans.series] == list(charts.CATEGORIES)
    got = {s.name: s.values[2] for s in loans.series}
    assert got["科技"] == 7 and got["其他"] == 2 and not loans.empty
    stock = charts.stock_by_category({"科技": 30, "文化": 70}, {"科技": 0.4, "文化": 0.35}, as_of="2025-12-31")
    assert stock.series[0].values == [0, 30.0, 0, 70.0, 0, 0] and stock.series[1].kind == "line"
    years = charts.replenishment_by_year([{"year": 2012, "books": 52000, "discs": 3600, "history": True}], 2012, 2014)
    assert years.categories == ["2012", "2013", "2014"] and years.series[0].values == [52000, None, None]
    schools = charts.challenge_by_school([{"school": f"第{i % 20}小学"} for i in range(100)] + [{}], 2025)
    assert len(schools.categories) == 15
    towns = charts.challenge_by_town([{"town": "葛沽镇"}, {"town": "葛沽镇"}], ["咸水沽镇", "葛沽镇"], 2025)
    assert towns.series[0].values == [0, 2]


@given(st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=1e5, allow_nan=False)), max_size=200))
def test_map_breaks_are_ascending(xs: list[float | None]) -> None:
    breaks = mapdata.quantile_breaks(xs, fallback=[1.0, 2.0])
    assert breaks == sorted(set(breaks)) and breaks


def test_district_map_places_rooms_and_towns() -> None:
    rooms = [{"code": "JN-XSG-001", "name": "一", "town": "咸水沽镇", "kind": "农家书屋",
              "location": {"type": "Point", "coordinates": [117.38, 38.99]}},
             {"code": "JN-XSG-002", "name": "二", "town": "咸水沽镇", "kind": "农家书屋", "location": None}]
    values = {"JN-XSG-001": {"volumes": 1200.0, "opening_ratio": 50.0},
              "JN-XSG-002": {"volumes": 600.0, "opening_ratio": None}}
    m = mapdata.district_map(JINNAN, rooms, values, {"JN-XSG-001": 1000, "JN-XSG-002": None})
    assert [r.code for r in m.rooms] == ["JN-XSG-001"] and m.rooms[0].lat == 38.99
    (town,) = m.towns
    assert town.rooms == 2 and town.values["volumes"] == 1800 and town.values["volumes_per_resident"] == 1.2
    assert town.values["opening_ratio"] == 50.0
    layer = {layer.key: layer for layer in m.layers}
    assert 1.2 in layer["volumes_per_resident"].breaks and 1500 in layer["volumes"].breaks
    assert layer["standards_missed"].better == "lower" and m.tiles is None
    assert m.bbox == (38.78, 117.18, 39.12, 117.62)
    tiled = mapdata.district_map(JINNAN, rooms, values, {}, tiles_url="https://t/{z}/{x}/{y}.png")
    assert tiled.tiles is not None and tiled.tiles.url.endswith(".png")
