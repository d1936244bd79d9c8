"""Pure room rules: opening-hours parsing and the standards check (server/rooms/models.py)."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pydantic import ValidationError

from server.district import RoomStandards
from server.rooms.models import WEEKDAYS, RoomCreate, RoomUpdate, check_standards, parse_spans

DAY_MINUTES = 24 * 60
STANDARDS = RoomStandards()  # 20 m², 5 days, 4 hours


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def span(start: int, end: int) -> str:
    return f"{hhmm(start)}-{hhmm(end)}"


@st.composite
def disjoint_spans(draw: st.DrawFn, max_spans: int = 6) -> list[tuple[int, int]]:
    """Up to ``max_spans`` non-overlapping spans (touching allowed), in random order."""
    n = draw(st.integers(0, max_spans))
    points = sorted(draw(st.lists(st.integers(0, DAY_MINUTES), min_size=2 * n, max_size=2 * n)))
    spans = [(points[2 * i], points[2 * i + 1]) for i in range(n)]
    spans = [(s, e) for s, e in spans if s < e]
    return draw(st.permutations(spans))


@st.composite
def overlapping_pair(draw: st.DrawFn) -> tuple[tuple[int, int], tuple[int, int]]:
    """Two spans sharing at least one minute."""
    s1 = draw(st.integers(0, DAY_MINUTES - 1))
    e1 = draw(st.integers(s1 + 1, DAY_MINUTES))
    s2 = draw(st.integers(0, e1 - 1))
    e2 = draw(st.integers(max(s2, s1) + 1, DAY_MINUTES))
    assert s1 < e2 and s2 < e1
    return (s1, e1), (s2, e2)


week_of_spans = st.dictionaries(st.sampled_from(WEEKDAYS), disjoint_spans(max_spans=4))


# -- parse_spans -------------------------------------------------------------------------------


@given(disjoint_spans())
def test_disjoint_spans_parse_sorted(spans: list[tuple[int, int]]) -> None:
    assert parse_spans([span(s, e) for s, e in spans]) == sorted(spans)


@given(overlapping_pair(), disjoint_spans(max_spans=3), st.randoms())
def test_any_overlapping_pair_is_rejected(pair, others, rnd) -> None:  # type: ignore[no-untyped-def]
    strings = [span(*pair[0]), span(*pair[1]), *(span(s, e) for s, e in others)]
    rnd.shuffle(strings)
    with pytest.raises(ValueError, match="重叠"):
        parse_spans(strings)


@given(st.integers(0, DAY_MINUTES), st.integers(0, DAY_MINUTES))
def test_start_must_be_before_end(start: int, end: int) -> None:
    assume(start >= end)
    with pytest.raises(ValueError, match="开始时间应早于结束时间"):
        parse_spans([span(start, end)])


def test_touching_spans_are_allowed() -> None:
    assert parse_spans(["13:00-17:00", "09:00-13:00"]) == [(540, 780), (780, 1020)]


def test_whole_day_and_midnight_end() -> None:
    assert parse_spans(["00:00-24:00"]) == [(0, DAY_MINUTES)]
    assert parse_spans(["20:00-24:00"]) == [(1200, DAY_MINUTES)]


@pytest.mark.parametrize(
    "bad",
    ["25:00-26:00", "09:00-25:00", "09:60-10:00", "09:00-24:01", "24:30-24:45", "99:99-99:99"],
)
def test_impossible_times_are_rejected(bad: str) -> None:
    with pytest.raises(ValueError, match="不是有效的时间"):
        parse_spans([bad])


@given(st.integers(0, 99), st.integers(0, 99))
def test_minutes_parse_exactly_the_valid_clock_times(hours: int, minutes: int) -> None:
    text = f"{hours:02d}:{minutes:02d}"
    valid = minutes < 60 and (hours < 24 or (hours == 24 and minutes == 0))
    if valid and hours * 60 + minutes > 0:
        assert parse_spans([f"00:00-{text}"]) == [(0, hours * 60 + minutes)]
    elif not valid:
        with pytest.raises(ValueError):
            parse_spans([f"00:00-{text}"])


# -- check_standards ---------------------------------------------------------------------------


@given(week_of_spans, st.floats(1, 500, allow_nan=False))
def test_standards_sum_the_hours(week: dict[str, list[tuple[int, int]]], area: float) -> None:
    hours = {day: [span(s, e) for s, e in spans] for day, spans in week.items()}
    result = check_standards(hours, area, STANDARDS)
    daily = [sum(e - s for s, e in spans) for spans in week.values() if spans]
    assert result.open_days == len(daily)
    assert result.weekly_hours == round(sum(daily) / 60, 2)
    assert result.shortest_day_hours == round(min(daily, default=0) / 60, 2)
    # One warning per standard the room misses, and none otherwise.
    assert any("面积" in w for w in result.warnings) == (area < STANDARDS.min_area_m2)
    assert any("每周开放" in w for w in result.warnings) == (len(daily) < STANDARDS.min_open_days)
    short = bool(daily) and min(daily) < STANDARDS.min_daily_hours * 60
    assert any("最短开放日" in w for w in result.warnings) == short
    assert len(result.warnings) == sum([area < STANDARDS.min_area_m2, len(daily) < STANDARDS.min_open_days, short])


def test_a_room_meeting_every_standard_has_no_warnings() -> None:
    hours = {d: ["09:00-11:30", "14:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}
    result = check_standards(hours, 20, STANDARDS)
    assert result.warnings == []
    assert (result.open_days, result.weekly_hours, result.shortest_day_hours) == (5, 27.5, 5.5)


def test_a_small_room_open_three_short_days_gets_three_warnings() -> None:
    hours = {"sat": ["09:00-12:00"], "sun": ["09:00-11:00"], "wed": ["14:00-18:00"], "mon": []}
    result = check_standards(hours, 15, STANDARDS)
    assert (result.open_days, result.weekly_hours, result.shortest_day_hours) == (3, 9.0, 2.0)
    assert result.warnings == [
        "面积 15 平方米，低于 20 平方米的标准",
        "每周开放 3 天，少于 5 天的标准",
        "最短开放日仅 2 小时，少于每天 4 小时的标准",
    ]


def test_a_room_never_open() -> None:
    result = check_standards({}, 50, STANDARDS)
    assert (result.open_days, result.weekly_hours, result.shortest_day_hours) == (0, 0, 0)
    assert result.warnings == ["每周开放 0 天，少于 5 天的标准"]


def test_district_standards_are_used() -> None:
    strict = RoomStandards(min_area_m2=30, min_open_days=7, min_daily_hours=8)
    hours = {d: ["09:00-17:00"] for d in WEEKDAYS}
    assert check_standards(hours, 30, strict).warnings == []
    assert len(check_standards(hours, 29.5, strict).warnings) == 1
    hours["sun"] = ["09:00-16:59"]
    assert any("最短开放日" in w for w in check_standards(hours, 30, strict).warnings)


# -- opening hours through the API models -------------------------------------------------------

ROOM = {
    "code": "JN-XSG-901", "name": "测试书屋", "kind": "农家书屋", "town": "咸水沽镇", "village": "测试村",
    "location": {"lat": 38.99, "lng": 117.38}, "area_m2": 30, "seats": 10,
}


@given(week_of_spans)
def test_models_normalise_hours_to_week_order_with_sorted_spans(week) -> None:  # type: ignore[no-untyped-def]
    hours = {day: [span(s, e) for s, e in spans] for day, spans in week.items()}
    stored = RoomCreate.model_validate({**ROOM, "opening_hours": hours}).opening_hours
    assert list(stored) == [d for d in WEEKDAYS if hours.get(d)]
    for day, spans in stored.items():
        assert spans == sorted(hours[day])
    # Normalising twice changes nothing, so equal hours compare equal (an unchanged PATCH is a no-op).
    assert RoomUpdate.model_validate({"opening_hours": stored}).opening_hours == stored


@pytest.mark.parametrize(
    ("hours", "fragment"),
    [
        ({"mon": ["09:00-12:00", "11:00-13:00"]}, "重叠"),
        ({"tue": ["09:00-25:00"]}, "不是有效的时间"),
        ({"wed": ["12:00-09:00"]}, "开始时间应早于结束时间"),
        ({"thu": ["09:00-09:00"]}, "开始时间应早于结束时间"),
        ({"fri": ["9:00-12:00"]}, "格式"),
        ({"monday": ["09:00-12:00"]}, ""),
        ({"sat": ["09:00-10:00"] * 7}, ""),
    ],
)
def test_models_refuse_bad_hours_naming_opening_hours(hours: dict, fragment: str) -> None:
    for model, data in ((RoomCreate, {**ROOM, "opening_hours": hours}), (RoomUpdate, {"opening_hours": hours})):
        with pytest.raises(ValidationError) as caught:
            model.model_validate(data)
        errors = caught.value.errors()
        assert errors and all(e["loc"][0] == "opening_hours" for e in errors), errors
        if fragment == "格式":
            assert errors[0]["type"] == "string_pattern_mismatch"
        elif fragment:
            assert any(fragment in e["msg"] for e in errors), errors


def test_weekday_label_is_in_the_message() -> None:
    with pytest.raises(ValidationError, match="周三"):
        RoomCreate.model_validate({**ROOM, "opening_hours": {"wed": ["12:00-09:00"]}})
