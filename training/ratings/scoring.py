"""Scoring, ranking, shortlisting and deciding a rating round. Pure: plain data in, plain data out.

A criterion is a mapping with ``key``, ``weight`` (> 0), ``source`` ("metric" | "declared" |
"inspector") and, for metric/declared criteria, ``zero_at`` and ``full_at``:

- a metric or declared value v scores ``clamp((v - zero_at) / (full_at - zero_at), 0, 1) × 100``
  (``full_at < zero_at`` means lower is better, e.g. a loss rate);
- an inspector criterion's value is already 0–100 (the mean of the submitted scores);
- a missing value scores 0.

An entry's total is Σ weight·score / Σ weight, 0–100, rounded to 2 decimals. Ranking: higher
total first; ties broken by the tie-break criteria in order (higher score first), then the
earlier submission, then ``subject_key`` ascending — so the order never depends on the input
order (TIE_RULE_TEXT states it for the 公示 page).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

FULL_SCORE = 100.0
# Statuses that can never be shortlisted or awarded.
EXCLUDED_STATUSES = frozenset({"rejected", "withdrawn", "town_rejected"})
TIE_RULE_TEXT = ("按总分从高到低排序；总分相同的，依次比较{criteria}的得分（高者在前）；仍相同的，"
                 "申报时间早者在前；再相同的，按申报对象编号排序。")


def tie_rule_text(labels: Sequence[str]) -> str:
    """The tie rule in Chinese for the 公示 page, naming the tie-break criteria."""
    named = "、".join(f"“{label}”" for label in labels) if labels else "各项指标"
    return TIE_RULE_TEXT.format(criteria=named)


def _clamp(value: float, low: float, high: float) -> float:
    return max(low, min(high, value))


def criterion_score(criterion: Mapping[str, Any], value: float | None) -> float:
    """The 0–100 score of ``value`` on ``criterion`` (missing, NaN or infinite values score 0)."""
    if value is None or isinstance(value, bool) or not math.isfinite(float(value)):
        return 0.0
    value = float(value)
    if criterion["source"] == "inspector":
        return round(_clamp(value, 0.0, FULL_SCORE), 4)
    zero_at, full_at = criterion.get("zero_at"), criterion.get("full_at")
    if zero_at is None or full_at is None or zero_at == full_at:
        return 0.0
    share = (value - float(zero_at)) / (float(full_at) - float(zero_at))
    return round(_clamp(share, 0.0, 1.0) * FULL_SCORE, 4)


def entry_total(criteria: Sequence[Mapping[str, Any]], scores: Mapping[str, float]) -> float:
    """Σ weight·score / Σ weight over ``criteria`` (a criterion without a score counts 0)."""
    weights = sum(float(c["weight"]) for c in criteria)
    if weights <= 0:
        return 0.0
    total = sum(float(c["weight"]) * _clamp(float(scores.get(c["key"], 0.0) or 0.0), 0.0, FULL_SCORE)
                for c in criteria)
    return round(total / weights, 2)


def _submitted(entry: Mapping[str, Any]) -> str:
    """The submission time as comparable text (UTC ISO); a missing one sorts first."""
    at = entry.get("submitted_at") or entry.get("created_at")
    if isinstance(at, datetime):
        if at.tzinfo is not None:
            at = at.astimezone(UTC).replace(tzinfo=None)
        return at.isoformat()
    return str(at or "")


def rank_key(entry: Mapping[str, Any], tie_break: Sequence[str]) -> tuple[Any, ...]:
    """The sort key of ``entry``: lower sorts first."""
    scores = entry.get("scores") or {}
    return (-float(entry.get("total") or 0.0),
            *(-float(scores.get(key, 0.0) or 0.0) for key in tie_break),
            _submitted(entry), str(entry["subject_key"]))


def rank_entries(entries: Sequence[Mapping[str, Any]], tie_break: Sequence[str]) -> list[dict[str, Any]]:
    """Copies of ``entries`` in rank order, each with ``rank`` (1, 2, 3 … — ties are broken, so
    every entry has its own place). Each entry needs ``total``, ``scores``, ``subject_key`` and
    ``submitted_at`` or ``created_at``."""
    ordered = sorted(entries, key=lambda e: rank_key(e, tie_break))
    return [{**e, "rank": place} for place, e in enumerate(ordered, start=1)]


def check_quotas(quotas: Mapping[str, int]) -> None:
    """ValueError unless 0 ≤ nominate ≤ award."""
    award, nominate = int(quotas["award"]), int(quotas.get("nominate", 0))
    if award < 0 or nominate < 0 or nominate > award:
        raise ValueError("quotas: need 0 ≤ nominate ≤ award")


def shortlist(ranked: Sequence[Mapping[str, Any]], quotas: Mapping[str, int]) -> list[dict[str, Any]]:
    """The first ``quotas["award"]`` entries of ``ranked`` (in rank order) that may be awarded —
    rejected, withdrawn and town-rejected entries never are. Never more than the quota."""
    check_quotas(quotas)
    eligible = [dict(e) for e in ranked if e.get("status") not in EXCLUDED_STATUSES]
    return eligible[: int(quotas["award"])]


def decide(shortlisted: Sequence[Mapping[str, Any]], quotas: Mapping[str, int]) -> dict[str, str]:
    """Outcomes by ``subject_key`` for the shortlisted entries in rank order: the top
    ``nominate`` become "nominated" (awarded here and put forward to the next level), the rest
    up to ``award`` "awarded". Rejected/withdrawn entries get nothing; nobody past the quota does."""
    check_quotas(quotas)
    award, nominate = int(quotas["award"]), int(quotas.get("nominate", 0))
    outcomes: dict[str, str] = {}
    for entry in shortlisted:
        if entry.get("status") in EXCLUDED_STATUSES:
            continue
        if len(outcomes) >= award:
            break
        outcomes[str(entry["subject_key"])] = "nominated" if len(outcomes) < nominate else "awarded"
    return outcomes
