"""Tests for the deterministic demo rooms (server.rooms.demo_data)."""

from __future__ import annotations

import re
from collections import Counter

from server.district import JINNAN, ROOM_KINDS
from server.rooms.demo_data import DEMO_MARK, demo_rooms

WEEKDAYS = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
KEYS = set(
    "code name kind town village address lat lng area_m2 seats opening_hours phone "
    "established_year demo".split()
)
SPAN_RE = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$")


def _span_minutes(span: str) -> tuple[int, int]:
    match = SPAN_RE.match(span)
    assert match, span
    h1, m1, h2, m2 = (int(g) for g in match.groups())
    return h1 * 60 + m1, h2 * 60 + m2


def _below_hours_standard(room: dict) -> bool:
    """True when the room opens fewer than 5 days a week or under 4 hours on an open day."""
    daily = [
        sum(end - start for start, end in map(_span_minutes, spans))
        for spans in room["opening_hours"].values()
        if spans
    ]
    return len(daily) < 5 or min(daily) < 4 * 60


def test_count_and_keys() -> None:
    rooms = demo_rooms()
    assert len(rooms) == 110
    for room in rooms:
        assert set(room) == KEYS
        assert room["demo"] is True
    assert DEMO_MARK == "演示数据"


def test_deterministic() -> None:
    assert demo_rooms() == demo_rooms()
    assert demo_rooms(JINNAN) == demo_rooms()


def test_codes_unique_and_well_formed() -> None:
    rooms = demo_rooms()
    codes = [r["code"] for r in rooms]
    assert len(set(codes)) == len(codes)
    pattern = re.compile(JINNAN.room_code_pattern)
    for room in rooms:
        assert pattern.match(room["code"]), room["code"]
        town = JINNAN.town(room["town"])
        assert town is not None, room["town"]
        assert room["code"].split("-")[1] == town.code
    # Numbers count from 001 within each town without gaps.
    by_town: dict[str, list[int]] = {}
    for room in rooms:
        by_town.setdefault(room["town"], []).append(int(room["code"][-3:]))
    for numbers in by_town.values():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))


def test_every_town_used_and_seat_largest() -> None:
    counts = Counter(r["town"] for r in demo_rooms())
    assert set(counts) == {t.name for t in JINNAN.towns}
    assert counts.most_common(1)[0][0] == "咸水沽镇"
    for town in JINNAN.towns:
        if town.kind == "街道":
            kinds = Counter(r["kind"] for r in demo_rooms() if r["town"] == town.name)
            assert kinds["社区书吧"] > counts[town.name] / 2


def test_coordinates_inside_bbox_and_near_town() -> None:
    for room in demo_rooms():
        lat, lng = room["lat"], room["lng"]
        assert isinstance(lat, float) and isinstance(lng, float)
        assert round(lat, 6) == lat and round(lng, 6) == lng
        box = JINNAN.bbox
        assert box.min_lat < lat < box.max_lat and box.min_lng < lng < box.max_lng
        town = JINNAN.town(room["town"])
        assert town is not None
        assert abs(lat - town.lat) <= 0.0301 and abs(lng - town.lng) <= 0.0301


def test_kinds_and_names() -> None:
    rooms = demo_rooms()
    kinds = Counter(r["kind"] for r in rooms)
    assert set(kinds) <= set(ROOM_KINDS)
    assert kinds["农家书屋"] > kinds["社区书吧"] > kinds["分馆"] > 0
    assert kinds["流动服务点"] > 0
    names = {r["village"]: r["name"] for r in rooms}
    assert names["海棠苑社区"] == "海棠苑社区书吧"
    assert names["东泥沽村"] == "东泥沽村农家书屋"
    for room in rooms:
        assert room["name"].endswith(room["kind"])
        assert room["address"].startswith(JINNAN.name + room["town"])
        assert room["village"] in room["address"]
        assert room["village"].endswith(("村", "社区"))


def test_village_names_unique() -> None:
    villages = [r["village"] for r in demo_rooms()]
    assert len(set(villages)) == len(villages)


def test_numeric_fields() -> None:
    rooms = demo_rooms()
    for room in rooms:
        assert isinstance(room["area_m2"], int) and 10 <= room["area_m2"] <= 120
        assert isinstance(room["seats"], int) and 6 <= room["seats"] <= 40
        assert 2008 <= room["established_year"] <= 2020
        assert re.fullmatch(r"1[358]\d{9}", room["phone"]), room["phone"]
    small = [r for r in rooms if r["area_m2"] < 20]
    assert 1 <= len(small) <= 10


def test_opening_hours_well_formed() -> None:
    for room in demo_rooms():
        hours = room["opening_hours"]
        assert isinstance(hours, dict)
        assert set(hours) <= WEEKDAYS
        for spans in hours.values():
            assert isinstance(spans, list)
            parsed = [_span_minutes(s) for s in spans]
            for start, end in parsed:
                assert start < end
            assert parsed == sorted(parsed)
            for (_, prev_end), (next_start, _) in zip(parsed, parsed[1:], strict=False):
                assert prev_end <= next_start


def test_some_rooms_below_hours_standard() -> None:
    below = [r for r in demo_rooms() if _below_hours_standard(r)]
    assert 5 <= len(below) <= 15
    # Both kinds of shortfall are represented.
    assert any(sum(1 for s in r["opening_hours"].values() if s) < 5 for r in below)
    assert any(sum(1 for s in r["opening_hours"].values() if s) >= 5 for r in below)
