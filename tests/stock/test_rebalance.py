"""The rebalancing planner as plain functions (no stack), with hypothesis for its invariants."""

from __future__ import annotations

from collections import defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from server.stock.rebalance import (
    DEFAULT_TARGET_VOLUMES,
    RoomCounts,
    Target,
    destination_for_returned_copy,
    great_circle_km,
    suggest_rebalancing,
)

# Rough positions in Jinnan: two rooms of 咸水沽镇 close together, one in 葛沽镇 nearby, one far off in 双港镇.
XSG_A = (38.958, 117.379)
XSG_B = (38.979, 117.379)
GG = (38.893, 117.494)
SG = (39.032, 117.297)
FAR = (39.11, 117.19)  # the north-west corner of the district


def room(code: str, town: str, pos: tuple[float, float], level: int, shelf: dict[str, int] | None = None,
         by_category: dict[str, int] | None = None) -> RoomCounts:
    return RoomCounts(code, town, pos[0], pos[1], level, shelf or {}, by_category or {})


def test_great_circle_distance():
    assert abs(great_circle_km(38.0, 117.0, 39.0, 117.0) - 111.2) < 0.2
    assert great_circle_km(*XSG_A, *XSG_A) == 0
    assert 2 < great_circle_km(*XSG_A, *XSG_B) < 3


def test_surplus_goes_to_the_room_furthest_below_target():
    counts = {
        "A": room("A", "咸水沽镇", XSG_A, 130, {"t1": 20, "t2": 10}),
        "B": room("B", "咸水沽镇", XSG_B, 90),
        "C": room("C", "咸水沽镇", XSG_B, 60),
    }
    targets = {c: Target(100) for c in counts}
    plan = suggest_rebalancing(counts, targets, 10)
    # C (−40) first: it takes 30 (all of A's surplus); B gets nothing more.
    assert [(p.origin, p.destination, p.copies) for p in plan] == [("A", "C", 30)]
    assert dict(plan[0].lines) == {"t1": 20, "t2": 10}


def test_same_town_first_then_nearest():
    counts = {
        "NEED": room("NEED", "咸水沽镇", XSG_A, 0),
        "NEAR_OTHER_TOWN": room("NEAR_OTHER_TOWN", "葛沽镇", GG, 20, {"t": 20}),
        "FAR_SAME_TOWN": room("FAR_SAME_TOWN", "咸水沽镇", FAR, 20, {"t": 20}),
        "FAR_OTHER_TOWN": room("FAR_OTHER_TOWN", "双港镇", FAR, 20, {"t": 20}),
    }
    targets = {"NEED": Target(25), "NEAR_OTHER_TOWN": Target(10), "FAR_SAME_TOWN": Target(10), "FAR_OTHER_TOWN": Target(10)}
    plan = suggest_rebalancing(counts, targets, 5)
    assert [(p.origin, p.copies, p.same_town) for p in plan] == [
        ("FAR_SAME_TOWN", 10, True), ("NEAR_OTHER_TOWN", 10, False), ("FAR_OTHER_TOWN", 5, False)]
    assert plan[1].distance_km < plan[2].distance_km


def test_only_shelf_copies_move_and_never_below_target():
    # 50 above target, but only 7 on the shelf (the rest on loan).
    counts = {"A": room("A", "t", XSG_A, 150, {"x": 4, "y": 3}), "B": room("B", "t", XSG_B, 0)}
    plan = suggest_rebalancing(counts, {"A": Target(100), "B": Target(100)}, 5)
    assert [(p.origin, p.destination, dict(p.lines)) for p in plan] == [("A", "B", {"x": 4, "y": 3})]


def test_default_target_is_the_district_standard():
    counts = {"A": room("A", "t", XSG_A, DEFAULT_TARGET_VOLUMES + 3, {"x": 10}), "B": room("B", "t", XSG_B, 0)}
    plan = suggest_rebalancing(counts, {}, 5)
    assert [p.copies for p in plan] == [3]


def test_variety_first_titles_the_destination_lacks():
    counts = {"A": room("A", "t", XSG_A, 10, {"has": 5, "new1": 3, "new2": 2}),
              "B": room("B", "t", XSG_B, 0, {"has": 1})}
    plan = suggest_rebalancing(counts, {"A": Target(6), "B": Target(4)}, 1)
    assert dict(plan[0].lines) == {"new1": 2, "new2": 1, "has": 1}  # one per title per round, new titles first


def test_category_targets_steer_which_titles_go():
    counts = {"A": room("A", "t", XSG_A, 12, {"sci": 6, "kid": 6}), "B": room("B", "t", XSG_B, 0)}
    targets = {"A": Target(6), "B": Target(6, {"少儿": 4})}
    plan = suggest_rebalancing(counts, targets, 1, title_categories={"sci": "科技", "kid": "少儿"})
    lines = dict(plan[0].lines)
    assert lines["kid"] >= lines.get("sci", 0) and sum(lines.values()) == 6


def test_max_moves_and_copies_per_transfer():
    counts = {"A": room("A", "t", XSG_A, 100, {"x": 100}), "B": room("B", "t", XSG_B, 0)}
    targets = {"A": Target(0), "B": Target(100)}
    plan = suggest_rebalancing(counts, targets, 3, max_copies_per_transfer=30)
    assert [p.copies for p in plan] == [30, 30, 30]
    assert suggest_rebalancing(counts, targets, 0) == []


def test_nothing_to_do():
    counts = {"A": room("A", "t", XSG_A, 100, {"x": 100}), "B": room("B", "t", XSG_B, 100)}
    assert suggest_rebalancing(counts, {"A": Target(100), "B": Target(100)}, 5) == []
    # Everyone below target: nobody gives.
    assert suggest_rebalancing(counts, {"A": Target(200), "B": Target(200)}, 5) == []


def test_returned_copy_stays_unless_this_room_is_above_target():
    counts = {
        "HERE": room("HERE", "咸水沽镇", XSG_A, 120),
        "LOW": room("LOW", "双港镇", SG, 40),
        "LOWER": room("LOWER", "葛沽镇", GG, 10),
    }
    targets = {c: Target(100) for c in counts}
    assert destination_for_returned_copy("HERE", "t", counts, targets) == "LOWER"
    assert destination_for_returned_copy("LOW", "t", counts, targets) == "LOW"  # below target: keep it
    assert destination_for_returned_copy("HERE", "t", counts, {**targets, "HERE": Target(120)}) == "HERE"
    assert destination_for_returned_copy("HERE", "t", counts, {c: Target(10) for c in counts}) == "HERE"
    assert destination_for_returned_copy("UNKNOWN", "t", counts, targets) == "UNKNOWN"


def test_returned_copy_ties_prefer_a_room_without_the_title_then_same_town():
    counts = {
        "HERE": room("HERE", "咸水沽镇", XSG_A, 120),
        "HAS_IT": room("HAS_IT", "咸水沽镇", XSG_B, 50, {"t": 1}),
        "OTHER_TOWN": room("OTHER_TOWN", "葛沽镇", GG, 50),
        "SAME_TOWN": room("SAME_TOWN", "咸水沽镇", SG, 50),
    }
    targets = {c: Target(100) for c in counts}
    assert destination_for_returned_copy("HERE", "t", counts, targets) == "SAME_TOWN"
    assert destination_for_returned_copy("HERE", "u", counts, targets) == "HAS_IT"  # nearest same-town room


# -- properties ------------------------------------------------------------------------

TOWNS = ("咸水沽镇", "葛沽镇", "小站镇")


@st.composite
def networks(draw):
    n = draw(st.integers(1, 7))
    counts, targets = {}, {}
    for i in range(n):
        code = f"R{i}"
        shelf = draw(st.dictionaries(st.sampled_from([f"t{j}" for j in range(6)]), st.integers(0, 30), max_size=6))
        on_loan = draw(st.integers(0, 40))
        lat, lng = 38.78 + draw(st.integers(0, 340)) / 1000, 117.18 + draw(st.integers(0, 440)) / 1000
        counts[code] = RoomCounts(code, draw(st.sampled_from(TOWNS)), lat, lng, sum(shelf.values()) + on_loan, shelf)
        if draw(st.booleans()):
            targets[code] = Target(draw(st.integers(0, 150)))
    return counts, targets


def target_of(targets, code):
    return targets.get(code, Target(DEFAULT_TARGET_VOLUMES)).total


@settings(max_examples=150, deadline=None)
@given(networks(), st.integers(0, 12), st.one_of(st.none(), st.integers(1, 40)))
def test_plans_never_take_a_room_below_target_and_conserve_copies(network, max_moves, cap):
    counts, targets = network
    plan = suggest_rebalancing(counts, targets, max_moves, max_copies_per_transfer=cap)
    assert len(plan) <= max_moves
    sent, received = defaultdict(int), defaultdict(int)
    per_title = defaultdict(int)
    for p in plan:
        assert p.origin != p.destination and p.copies > 0 and all(q > 0 for _, q in p.lines)
        assert cap is None or p.copies <= cap
        sent[p.origin] += p.copies
        received[p.destination] += p.copies
        for t, q in p.lines:
            per_title[(p.origin, t)] += q
    for code, r in counts.items():
        target = target_of(targets, code)
        surplus = max(0, r.level - target)
        assert sent[code] <= surplus, "a room gave more than its surplus"
        assert not (sent[code] and received[code]), "a room both gave and received"
        assert received[code] <= max(0, target - r.level), "a room received more than its deficit"
        if sent[code]:
            assert r.level - sent[code] >= target
    for (code, t), q in per_title.items():
        assert q <= counts[code].on_shelf.get(t, 0), "moved more copies of a title than on the shelf"
    after = {c: r.level - sent[c] + received[c] for c, r in counts.items()}
    assert sum(after.values()) == sum(r.level for r in counts.values())


@settings(max_examples=100, deadline=None)
@given(networks())
def test_with_enough_moves_no_room_can_still_help_one_below_target(network):
    counts, targets = network
    plan = suggest_rebalancing(counts, targets, 100)
    sent, received = defaultdict(int), defaultdict(int)
    for p in plan:
        sent[p.origin] += p.copies
        received[p.destination] += p.copies
    level = {c: r.level - sent[c] + received[c] for c, r in counts.items()}
    shelf = {c: sum(r.on_shelf.values()) - sent[c] for c, r in counts.items()}
    below = [c for c in counts if level[c] < target_of(targets, c)]
    givers = [c for c in counts if min(level[c] - target_of(targets, c), shelf[c]) > 0]
    assert not (below and givers)


@settings(max_examples=100, deadline=None)
@given(networks(), st.sampled_from([f"t{j}" for j in range(7)]))
def test_returned_copy_goes_to_a_room_below_target_or_stays(network, title):
    counts, targets = network
    room_code = "R0"
    dest = destination_for_returned_copy(room_code, title, counts, targets)
    assert dest in counts
    if dest != room_code:
        deficits = {c: target_of(targets, c) - r.level for c, r in counts.items()}
        assert deficits[room_code] < 0 < deficits[dest]
        assert deficits[dest] == max(deficits.values())
