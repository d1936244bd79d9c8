"""Default rubrics per kind of rating (DOMAIN "Ratings": management 25, opening hours 15,
loans 20, activities 20, satisfaction 20 — none published, so these are defaults the district
edits while a round is draft or open), and the metric keys a criterion may name."""

from __future__ import annotations

from typing import Any

# Metric keys computed by training/ratings/metrics (the data contract), with units.
ROOM_METRICS: dict[str, str] = {
    "volumes": "册", "titles": "种", "periodicals": "种", "audio_visual": "种", "holdings_ratio": "",
    "residents": "人", "loans": "册次", "loans_per_resident": "册次/人", "borrowing_rate": "",
    "readers_share": "", "opening_days_ratio": "", "activities_held": "场", "activity_attendance": "人次",
    "admin_training_hours": "学时", "admin_inducted": "", "stocktake_loss_rate": "", "satisfaction_rate": "",
    "survey_responses": "份",
}
FAMILY_METRICS: dict[str, str] = {
    "family_books_logged": "本", "family_minutes_logged": "分钟", "family_loans": "册次", "family_activities": "次",
    "family_visits": "次",
}
METRIC_KEYS = frozenset(ROOM_METRICS) | frozenset(FAMILY_METRICS)
# Figures a family declares in its application (the evidence a "declared" criterion names).
DECLARED_FIELDS: dict[str, str] = {"books_owned": "家庭藏书（册）", "reading_minutes_per_week": "每周阅读时间（分钟）"}
DEFAULT_TRAINING_HOURS = 8.0


def _metric(key: str, label: str, group: str, weight: float, metric: str, zero_at: float,
            full_at: float) -> dict[str, Any]:
    return {"key": key, "label": label, "group": group, "weight": weight, "source": "metric", "metric": metric,
            "zero_at": zero_at, "full_at": full_at}


def _inspector(key: str, label: str, group: str, weight: float) -> dict[str, Any]:
    return {"key": key, "label": label, "group": group, "weight": weight, "source": "inspector", "metric": None,
            "zero_at": None, "full_at": None}


def default_rubric(kind: str, *, training_hours: float = DEFAULT_TRAINING_HOURS) -> dict[str, Any]:
    """The default rubric of ``kind``; ``training_hours`` is the yearly refresher requirement
    (a full score for administrators' training)."""
    hours = training_hours if training_hours > 0 else DEFAULT_TRAINING_HOURS
    if kind == "model_room":
        criteria = [
            _inspector("site_management", "现场管理", "管理", 15),
            _metric("admin_training", "管理员培训", "管理", 5, "admin_training_hours", 0, hours),
            _metric("stocktake_loss", "盘点损耗", "管理", 5, "stocktake_loss_rate", 0.10, 0.01),
            _metric("opening", "开放时间", "使用", 15, "opening_days_ratio", 0, 1),
            _metric("loans_per_resident", "人均借阅", "使用", 10, "loans_per_resident", 0, 0.5),
            _metric("borrowing_rate", "图书流通率", "使用", 10, "borrowing_rate", 0, 0.5),
            _metric("activities", "阅读活动", "使用", 10, "activities_held", 0, 4),
            _metric("attendance", "活动参与", "使用", 10, "activity_attendance", 0, 200),
            _metric("satisfaction", "读者满意度", "使用", 20, "satisfaction_rate", 0.5, 0.95),
        ]
        tie_break = ["satisfaction", "loans_per_resident", "activities"]
    elif kind == "model_admin":
        criteria = [
            _inspector("duties", "岗位履职", "管理", 25),
            _metric("training", "培训", "管理", 10, "admin_training_hours", 0, hours),
            _metric("opening", "开放时间", "使用", 15, "opening_days_ratio", 0, 1),
            _metric("loans_per_resident", "人均借阅", "使用", 10, "loans_per_resident", 0, 0.5),
            _metric("borrowing_rate", "图书流通率", "使用", 10, "borrowing_rate", 0, 0.5),
            _metric("activities", "阅读活动", "使用", 10, "activities_held", 0, 4),
            _metric("attendance", "活动参与", "使用", 10, "activity_attendance", 0, 200),
            _metric("satisfaction", "读者满意度", "使用", 10, "satisfaction_rate", 0.5, 0.95),
        ]
        tie_break = ["duties", "training", "satisfaction"]
    elif kind == "reading_family":
        criteria = [
            {**_metric("books_owned", "家庭藏书", "家庭", 15, "books_owned", 0, 300), "source": "declared"},
            _metric("reading_logged", "阅读打卡", "家庭", 20, "family_books_logged", 0, 40),
            _metric("loans", "借阅", "家庭", 15, "family_loans", 0, 30),
            _metric("activities", "参与活动", "家庭", 20, "family_activities", 0, 4),
            _inspector("influence", "家风与带动", "家庭", 30),
        ]
        tie_break = ["influence", "reading_logged", "activities"]
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return {"criteria": criteria, "tie_break": tie_break}


def default_quotas(kind: str, level: str) -> dict[str, int]:
    """Places per round: the district awards more than it puts forward (DOMAIN: nationally one
    room and one administrator per county per round)."""
    if level == "city":
        return {"award": 3 if kind == "model_room" else 5, "nominate": 1}
    return {"award": {"model_room": 10, "model_admin": 20, "reading_family": 10}[kind], "nominate": 3}
