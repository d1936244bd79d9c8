"""training/ratings/scoring.py: pure scoring, ranking, shortlisting and deciding (property tests)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.ratings import rubrics, scoring
from training.ratings.models import Rubric

T0 = datetime(2026, 3, 1, tzinfo=UTC)
KEYS = ["a", "b", "c", "d"]


def metric(key: str, weight: float, zero_at: float = 0.0, full_at: float = 10.0) -> dict:
    return {"key": key, "label": key, "group": "使用", "weight": weight, "source": "metric", "metric": "loans",
            "zero_at": zero_at, "full_at": full_at}


def inspector(key: str, weight: float) -> dict:
    return {"key": key, "label": key, "group": "管理", "weight": weight, "source": "inspector", "metric": None,
            "zero_at": None, "full_at": None}


weights = st.floats(min_value=0.5, max_value=50, allow_nan=False)
score_values = st.floats(min_value=0, max_value=100, allow_nan=False)


@st.composite
def rubric_criteria(draw: st.DrawFn) -> list[dict]:
    count = draw(st.integers(min_value=1, max_value=4))
    out = []
    for key in KEYS[:count]:
        if draw(st.booleans()):
            out.append(inspector(key, draw(weights)))
        else:
            zero = draw(st.floats(min_value=-10, max_value=10, allow_nan=False))
            span = draw(st.floats(min_value=0.1, max_value=20, allow_nan=False)) * draw(st.sampled_from([1, -1]))
            out.append(metric(key, draw(weights), zero, zero + span))
    return out


@st.composite
def entries(draw: st.DrawFn, criteria: list[dict] | None = None) -> list[dict]:
    keys = [c["key"] for c in criteria] if criteria else KEYS
    count = draw(st.integers(min_value=0, max_value=12))
    out = []
    for n in range(count):
        scores = {k: float(draw(st.sampled_from([0, 25, 50, 75, 100]))) for k in keys}
        total = scoring.entry_total(criteria, scores) if criteria else float(draw(st.sampled_from([60, 70, 80])))
        out.append({"subject_key": f"room:JN-XSG-{n:03d}", "scores": scores, "total": total,
                    "created_at": T0 + timedelta(minutes=draw(st.integers(0, 3))),
                    "status": draw(st.sampled_from(["town_passed"] * 4 + ["rejected", "withdrawn"]))})
    return out


# -- criterion_score -------------------------------------------------------------------------


def test_criterion_score_examples() -> None:
    loans = metric("loans", 10, 0, 0.5)
    assert scoring.criterion_score(loans, 0.25) == 50
    assert scoring.criterion_score(loans, 2) == 100 and scoring.criterion_score(loans, -1) == 0
    assert scoring.criterion_score(loans, None) == 0 and scoring.criterion_score(loans, float("nan")) == 0
    loss = metric("loss", 5, 0.10, 0.01)  # lower is better
    assert scoring.criterion_score(loss, 0.01) == 100 and scoring.criterion_score(loss, 0.10) == 0
    assert scoring.criterion_score(loss, 0.055) == pytest.approx(50)
    assert scoring.criterion_score(inspector("x", 1), 87.5) == 87.5
    assert scoring.criterion_score(inspector("x", 1), 140) == 100


@given(rubric_criteria(), score_values)
def test_every_criterion_scoring_s_totals_s(criteria: list[dict], s: float) -> None:
    """Weights are normalised: a rubric where every criterion scores s totals s."""
    assert scoring.entry_total(criteria, {c["key"]: s for c in criteria}) == pytest.approx(s, abs=0.01)


@given(rubric_criteria(), st.dictionaries(st.sampled_from(KEYS), score_values))
def test_total_stays_within_0_and_100(criteria: list[dict], scores: dict[str, float]) -> None:
    assert 0 <= scoring.entry_total(criteria, scores) <= 100


@given(rubric_criteria(), st.data())
@settings(max_examples=150)
def test_raising_a_value_never_lowers_the_total_nor_the_rank(criteria: list[dict], data: st.DataObject) -> None:
    field = data.draw(entries(criteria))
    if not field:
        return
    values = {c["key"]: data.draw(st.floats(min_value=-30, max_value=130, allow_nan=False)) for c in criteria}
    target = data.draw(st.sampled_from(criteria))
    step = data.draw(st.floats(min_value=0, max_value=50, allow_nan=False))
    better = dict(values)
    if target["source"] == "inspector" or target["full_at"] > target["zero_at"]:
        better[target["key"]] += step
    else:
        better[target["key"]] -= step  # lower is better on this one

    def entry(vals: dict[str, float]) -> dict:
        scores = {c["key"]: scoring.criterion_score(c, vals[c["key"]]) for c in criteria}
        return {"subject_key": "room:ME", "scores": scores, "total": scoring.entry_total(criteria, scores),
                "created_at": T0 + timedelta(minutes=1)}

    before, after = entry(values), entry(better)
    assert after["total"] >= before["total"]
    tie_break = [c["key"] for c in criteria][:2]

    def rank_of(me: dict) -> int:
        return next(e["rank"] for e in scoring.rank_entries([*field, me], tie_break) if e["subject_key"] == "room:ME")

    assert rank_of(after) <= rank_of(before)


@given(entries(), st.randoms())
def test_ranking_is_deterministic_and_independent_of_input_order(field: list[dict], rnd: random.Random) -> None:
    shuffled = list(field)
    rnd.shuffle(shuffled)
    first = scoring.rank_entries(field, ["a", "b"])
    second = scoring.rank_entries(shuffled, ["a", "b"])
    assert [e["subject_key"] for e in first] == [e["subject_key"] for e in second]
    assert [e["rank"] for e in first] == list(range(1, len(field) + 1))
    for higher, lower in zip(first, first[1:], strict=False):
        assert higher["total"] >= lower["total"]


def test_ties_follow_the_stated_rule() -> None:
    base = {"total": 80.0, "status": "town_passed"}
    a = {**base, "subject_key": "room:B", "scores": {"s": 90, "l": 50}, "created_at": T0 + timedelta(days=2)}
    b = {**base, "subject_key": "room:A", "scores": {"s": 90, "l": 60}, "created_at": T0 + timedelta(days=3)}
    c = {**base, "subject_key": "room:C", "scores": {"s": 90, "l": 60}, "created_at": T0 + timedelta(days=1)}
    d = {**base, "subject_key": "room:D", "scores": {"s": 95, "l": 0}, "created_at": T0 + timedelta(days=9)}
    e = {**base, "subject_key": "room:0", "scores": {"s": 90, "l": 60}, "created_at": T0 + timedelta(days=1)}
    ranked = scoring.rank_entries([a, b, c, d, e], ["s", "l"])
    # d wins on the first tie-break; then l decides; then the earlier submission; then the key
    assert [x["subject_key"] for x in ranked] == ["room:D", "room:0", "room:C", "room:A", "room:B"]
    assert "申报时间早者在前" in scoring.tie_rule_text(["读者满意度", "人均借阅"])
    assert "“读者满意度”、“人均借阅”" in scoring.tie_rule_text(["读者满意度", "人均借阅"])


@given(entries(), st.integers(min_value=0, max_value=15), st.data())
def test_shortlist_never_exceeds_the_quota_and_follows_the_ranking(field: list[dict], award: int,
                                                                   data: st.DataObject) -> None:
    nominate = data.draw(st.integers(min_value=0, max_value=award))
    quotas = {"award": award, "nominate": nominate}
    ranked = scoring.rank_entries(field, ["a"])
    chosen = scoring.shortlist(ranked, quotas)
    assert len(chosen) <= award
    assert all(e["status"] not in ("rejected", "withdrawn") for e in chosen)
    eligible = [e for e in ranked if e["status"] not in ("rejected", "withdrawn")]
    assert [e["subject_key"] for e in chosen] == [e["subject_key"] for e in eligible[:award]]
    outcomes = scoring.decide(chosen, quotas)
    assert len(outcomes) == len(chosen) <= award
    assert sum(1 for o in outcomes.values() if o == "nominated") == min(nominate, len(chosen))
    # the nominated are the best of the shortlist
    order = [e["subject_key"] for e in chosen]
    assert [outcomes[k] for k in order] == sorted((outcomes[k] for k in order), key=lambda o: o != "nominated")


def test_decide_skips_rejected_and_validates_quotas() -> None:
    chosen = [{"subject_key": f"k{n}", "status": "shortlisted"} for n in range(4)]
    chosen[0]["status"] = "rejected"
    assert scoring.decide(chosen, {"award": 3, "nominate": 1}) == {"k1": "nominated", "k2": "awarded", "k3": "awarded"}
    with pytest.raises(ValueError):
        scoring.decide(chosen, {"award": 1, "nominate": 2})


@pytest.mark.parametrize("kind", ["model_room", "model_admin", "reading_family"])
def test_default_rubrics_are_valid_and_weigh_100(kind: str) -> None:
    rubric = rubrics.default_rubric(kind, training_hours=8)
    Rubric.model_validate(rubric)
    assert sum(c["weight"] for c in rubric["criteria"]) == 100
    assert rubric["tie_break"] and set(rubric["tie_break"]) <= {c["key"] for c in rubric["criteria"]}
    perfect = {c["key"]: 100.0 for c in rubric["criteria"]}
    assert scoring.entry_total(rubric["criteria"], perfect) == 100


def test_model_room_weights_follow_the_domain_defaults() -> None:
    criteria = rubrics.default_rubric("model_room")["criteria"]
    by_key = {c["key"]: c["weight"] for c in criteria}
    assert by_key["site_management"] + by_key["admin_training"] + by_key["stocktake_loss"] == 25  # management
    assert by_key["opening"] == 15
    assert by_key["loans_per_resident"] + by_key["borrowing_rate"] == 20
    assert by_key["activities"] + by_key["attendance"] == 20
    assert by_key["satisfaction"] == 20
