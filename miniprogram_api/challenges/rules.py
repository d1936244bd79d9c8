"""The rules of a reading challenge as plain functions: definitions, age groups, the
logging window, caps, outliers and milestones. No I/O.

Outliers (flagged for staff; the log counts until staff reject it):

- ``big_log``: the amount is at least ``BIG_LOG_FACTOR`` (3) times the median of the
  participant's previous logs, once there are ``BIG_LOG_MIN_HISTORY`` (3) of them — a
  child who logs 1 book a time and suddenly 9 is worth a look; a first log never is.
- ``cap_streak``: the participant's day totals reached the per-day cap on
  ``CAP_STREAK_DAYS`` (3) consecutive days, this log's day included — the cap is a
  ceiling, not a target, and hitting it day after day is how point-farming looks.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

# Logs may still be entered this many days after the window ends (for its last days).
LOG_GRACE_DAYS = 3
MAX_WINDOW_DAYS = 366
BIG_LOG_FACTOR = 3
BIG_LOG_MIN_HISTORY = 3
CAP_STREAK_DAYS = 3
# How many of a participant's latest log amounts are kept for the median.
RECENT_AMOUNTS_KEPT = 20

REASON_LABELS = {"big_log": "单次记录异常偏大", "cap_streak": "连续多天达到每日上限"}

Problem = tuple[tuple[str | int, ...], str]


def definition_problems(d: Mapping[str, Any]) -> list[Problem]:
    """What is wrong with a challenge definition (a dict with the ``ChallengeIn`` fields,
    dates as ``date``), as (field path, Chinese message) pairs; empty when it is fine."""
    problems: list[Problem] = []
    starts, ends = d["starts_on"], d["ends_on"]
    if ends < starts:
        problems.append((("ends_on",), "结束日期不能早于开始日期"))
    elif (ends - starts).days >= MAX_WINDOW_DAYS:
        problems.append((("ends_on",), f"活动时间不能超过 {MAX_WINDOW_DAYS} 天"))
    if d["cap_per_log"] > d["cap_per_day"]:
        problems.append((("cap_per_log",), "单次上限不能大于每日上限"))
    problems += [(("age_groups", *loc), msg) for loc, msg in age_group_problems(d["age_groups"])]
    thresholds = [m["threshold"] for m in d["milestones"]]
    for i in range(1, len(thresholds)):
        if thresholds[i] <= thresholds[i - 1]:
            problems.append((("milestones", i, "threshold"), "里程碑须按累计数量从小到大排列，且不能重复"))
            break
    if len(set(d["teams"])) != len(d["teams"]):
        problems.append((("teams",), "排行榜类型不能重复"))
    return problems


def age_group_problems(groups: Sequence[Mapping[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    names = [g["name"] for g in groups]
    if len(set(names)) != len(names):
        problems.append(((), "年龄组名称不能重复"))
    for i, g in enumerate(groups):
        if g["max_age"] is not None and g["max_age"] < g["min_age"]:
            problems.append(((i, "max_age"), "最大年龄不能小于最小年龄"))
    ordered = sorted(range(len(groups)), key=lambda i: groups[i]["min_age"])
    for a, b in zip(ordered, ordered[1:], strict=False):
        top = groups[a]["max_age"]
        if top is None or top >= groups[b]["min_age"]:
            problems.append(((b, "min_age"), f"与年龄组“{groups[a]['name']}”重叠"))
    return problems


def age_in(year: int, birth_year: int) -> int:
    """The age reached in ``year`` (the challenge's year): only birth years are asked."""
    return year - birth_year


def age_group_for(groups: Iterable[Mapping[str, Any]], age: int) -> str | None:
    for g in groups:
        if g["min_age"] <= age and (g["max_age"] is None or age <= g["max_age"]):
            return str(g["name"])
    return None


def covers(challenge: Mapping[str, Any], room: str, town: str | None) -> bool:
    """Whether a reader of ``room`` (in ``town``) may take part: no rooms and no towns
    named means the whole district."""
    rooms, towns = challenge.get("rooms") or [], challenge.get("towns") or []
    if not rooms and not towns:
        return True
    return room in rooms or (town is not None and town in towns)


def join_problem(challenge: Mapping[str, Any], today: date) -> str | None:
    if challenge["status"] != "published":
        return "活动未开放报名" if challenge["status"] == "draft" else "活动已结束"
    if today > date.fromisoformat(challenge["ends_on"]):
        return "活动已结束"
    return None


def log_problem(challenge: Mapping[str, Any], read_on: date, today: date) -> str | None:
    """Why a log for ``read_on`` entered ``today`` is refused, or None. Back-dating is
    fine inside the window; the future is not; the window's last days may be logged
    ``LOG_GRACE_DAYS`` after it ends."""
    starts, ends = date.fromisoformat(challenge["starts_on"]), date.fromisoformat(challenge["ends_on"])
    if challenge["status"] == "draft":
        return "活动尚未开放"
    if challenge["status"] == "closed" or today > ends + timedelta(days=LOG_GRACE_DAYS):
        return "活动已结束，不能再记录"
    if read_on > today:
        return "不能记录未来日期的阅读"
    if read_on < starts:
        return f"活动从 {starts:%Y年%m月%d日} 开始，不能记录之前的阅读"
    if read_on > ends:
        return f"活动已于 {ends:%Y年%m月%d日} 结束，不能记录之后的阅读"
    return None


def cap_problem(amount: int, day_total: int, cap_per_log: int, cap_per_day: int, unit_label: str) -> str | None:
    """The Chinese message naming the cap a log would break, or None."""
    if amount > cap_per_log:
        return f"每次最多记录 {cap_per_log} {unit_label}，本次填写了 {amount} {unit_label}"
    if day_total + amount > cap_per_day:
        left = max(cap_per_day - day_total, 0)
        return (f"每天最多记录 {cap_per_day} {unit_label}，这一天已记录 {day_total} {unit_label}，"
                f"最多还能记录 {left} {unit_label}")
    return None


def outlier_reasons(amount: int, recent: Sequence[int], days: Mapping[str, int], read_on: date,
                    cap_per_day: int) -> list[str]:
    """The outlier rules (module docstring) for a log of ``amount`` on ``read_on``;
    ``recent`` holds the previous amounts, ``days`` the day totals *including* this log."""
    reasons = []
    if len(recent) >= BIG_LOG_MIN_HISTORY and amount >= BIG_LOG_FACTOR * statistics.median(recent):
        reasons.append("big_log")
    if cap_streak(days, read_on, cap_per_day) >= CAP_STREAK_DAYS:
        reasons.append("cap_streak")
    return reasons


def cap_streak(days: Mapping[str, int], read_on: date, cap_per_day: int) -> int:
    """How many consecutive days around ``read_on`` reached the per-day cap (0 if it did not)."""
    def at_cap(d: date) -> bool:
        return days.get(d.isoformat(), 0) >= cap_per_day

    if not at_cap(read_on):
        return 0
    n, d = 1, read_on - timedelta(days=1)
    while at_cap(d):
        n, d = n + 1, d - timedelta(days=1)
    d = read_on + timedelta(days=1)
    while at_cap(d):
        n, d = n + 1, d + timedelta(days=1)
    return n


def outlier_detail(reasons: Sequence[str], amount: int, recent: Sequence[int], streak: int, cap_per_day: int,
                   unit_label: str) -> str:
    parts = []
    if "big_log" in reasons:
        parts.append(f"本次记录 {amount} {unit_label}，以往每次记录的中位数为 {statistics.median(recent):g} {unit_label}")
    if "cap_streak" in reasons:
        parts.append(f"已连续 {streak} 天达到每日上限 {cap_per_day} {unit_label}")
    return "；".join(parts)


def newly_reached(milestones: Sequence[Mapping[str, Any]], total: int, have: Iterable[int]) -> list[int]:
    """Indexes of milestones ``total`` reaches that were not awarded yet (each is awarded once)."""
    owned = set(have)
    return [i for i, m in enumerate(milestones) if m["threshold"] <= total and i not in owned]


def no_longer_reached(milestones: Sequence[Mapping[str, Any]], total: int, have: Iterable[int]) -> list[int]:
    """Awarded milestones above ``total`` (after staff rejected a log that earned them)."""
    return sorted(i for i in set(have) if i >= len(milestones) or milestones[i]["threshold"] > total)


def next_milestone(milestones: Sequence[Mapping[str, Any]], total: int) -> int | None:
    return next((i for i, m in enumerate(milestones) if m["threshold"] > total), None)
