"""Rating metrics computed from shuwu's own records, each with the records behind it.

``METRICS`` names every metric key a rubric criterion may use (``source: "metric"``):
key → (Chinese label, unit). ``compute.compute_metrics`` computes them for a round's entries.
"""

from __future__ import annotations

# key: (label, unit). Ratios are 0–1 with an empty unit; the detail text shows them as %.
METRICS: dict[str, tuple[str, str]] = {
    # rooms and administrators
    "volumes": ("图书藏量", "册"),
    "titles": ("图书品种", "种"),
    "periodicals": ("报刊品种", "种"),
    "audio_visual": ("电子音像制品", "件"),
    "holdings_ratio": ("藏书达标程度", ""),
    "residents": ("服务常住人口", "人"),
    "loans": ("借阅册次", "册次"),
    "loans_per_resident": ("人均借阅", "册次/人"),
    "borrowing_rate": ("图书流通率", ""),
    "readers_share": ("借阅人数占常住人口比例", ""),
    "opening_days_ratio": ("按时开放率", ""),
    "activities_held": ("阅读活动次数", "次"),
    "activity_attendance": ("活动参与人次", "人次"),
    "admin_training_hours": ("管理员培训学时", "学时"),
    "admin_inducted": ("管理员岗前培训", ""),
    "stocktake_loss_rate": ("盘点损耗率", ""),
    "satisfaction_rate": ("读者满意率", ""),
    "survey_responses": ("满意度调查答卷", "份"),
    "stars": ("星级", "星"),
    # families (书香之家)
    "family_books_logged": ("阅读打卡（本）", "本"),
    "family_minutes_logged": ("阅读打卡（分钟）", "分钟"),
    "family_loans": ("家庭借阅册次", "册次"),
    "family_activities": ("参与阅读活动", "次"),
    "family_visits": ("到书屋签到", "次"),
}
ROOM_METRICS: tuple[str, ...] = tuple(k for k in METRICS if not k.startswith("family_"))
FAMILY_METRICS: tuple[str, ...] = tuple(k for k in METRICS if k.startswith("family_"))
