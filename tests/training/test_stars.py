"""The star ladder (training/ratings/metrics/stars.py) on its boundaries."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from training.ratings.metrics.stars import MAX_STARS, NO_SPENDING_DATA, star_detail, star_level

WEEK = {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}


def room(area: float = 20, seats: int = 10, days: int = 5) -> dict:
    return {"area_m2": area, "seats": seats, "opening_hours": dict(list(WEEK.items())[:days])}


def one_star(**changes: float | None) -> dict:
    return {"volumes": 1500, "titles": 500, "periodicals": 30, "audio_visual": 100, "satisfaction_rate": 0.9,
            "activities_held": 0, "readers_share": 0.0, "borrowing_rate": 0.0} | changes


def test_exactly_the_one_star_thresholds() -> None:
    assert star_level(room(), one_star())[0] == 1
    unmet = star_level(room(), one_star())[1]
    assert unmet == ["期间内举办阅读活动不少于 4 次", "借阅人数不少于常住人口的 5%", "图书流通率不低于 25%"]


def test_one_below_any_one_star_threshold_is_zero() -> None:
    for key, low in (("volumes", 1499), ("titles", 499), ("periodicals", 29), ("audio_visual", 99),
                     ("satisfaction_rate", 0.899)):
        level, unmet = star_level(room(), one_star(**{key: low}))
        assert level == 0 and len(unmet) == 1, key
    assert star_level(room(area=19.9), one_star())[0] == 0
    assert star_level(room(seats=9), one_star())[0] == 0
    assert star_level(room(days=4), one_star())[1] == ["每周开放不少于 5 天"]


def test_missing_data_fails_the_requirement() -> None:
    level, unmet = star_level(room(), one_star(satisfaction_rate=None))
    assert level == 0 and unmet == ["读者满意率不低于 90%"]


def test_metric_dicts_are_accepted() -> None:
    metrics = {k: {"value": v, "unit": "", "label": k, "detail": "", "links": []} for k, v in one_star().items()}
    assert star_level(room(), metrics)[0] == 1


def test_the_upper_stars() -> None:
    two = one_star(activities_held=4, readers_share=0.05, borrowing_rate=0.25)
    assert star_level(room(), two)[0] == 2
    three = two | {"volumes": 3000, "readers_share": 0.10, "borrowing_rate": 0.5}
    assert star_level(room(area=30, seats=20), three) == (3, ["图书不少于 5,000 册"])
    assert star_level(room(area=29, seats=20), three)[0] == 2
    four = three | {"volumes": 5000}
    assert star_level(room(area=30, seats=20), four) == (4, [])
    assert "最高星级" in star_detail(room(area=30, seats=20), four)
    # 5,000 volumes alone is not 4 stars when a lower step is missing
    assert star_level(room(), one_star(volumes=5000))[0] == 1


def test_the_spending_requirement_is_said_to_be_skipped() -> None:
    assert NO_SPENDING_DATA in star_detail(room(), one_star())


@given(st.integers(0, 20000), st.integers(0, 2000), st.floats(0, 1), st.floats(0, 2), st.floats(0, 1))
def test_more_never_lowers_the_level(volumes: int, titles: int, satisfaction: float, borrowing: float,
                                     share: float) -> None:
    base = one_star(volumes=volumes, titles=titles, satisfaction_rate=satisfaction, borrowing_rate=borrowing,
                    readers_share=share, activities_held=4)
    level, unmet = star_level(room(30, 20), base)
    assert 0 <= level <= MAX_STARS and (level == MAX_STARS) == (not unmet)
    more = base | {"volumes": volumes + 1000, "borrowing_rate": borrowing + 0.1}
    assert star_level(room(30, 20), more)[0] >= level
