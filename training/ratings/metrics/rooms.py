"""Room (and administrator) metrics from the facts gathered for a set of rooms. Pure: plain
data in, ``Metric`` dicts out, each with a Chinese ``detail`` that shows the arithmetic and
``links`` to the records behind it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from training.ratings.metrics import METRICS
from server.stats.period import Period

WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# The holdings standards, by their names in server.district.RoomStandards.
HOLDINGS_STANDARDS = ("min_volumes", "min_titles", "min_periodicals", "min_audio_visual")
SIGN_LABELS = {"circulation": "借还", "opening": "打卡", "activity": "活动", "visit": "读者签到"}


def holdings_standards(standards: Any) -> dict[str, int]:
    return {k: int(getattr(standards, k)) for k in HOLDINGS_STANDARDS}


@dataclass
class RoomFacts:
    """Everything the metrics of one room (or an administrator's rooms) are computed from."""

    codes: list[str]
    rooms: list[dict[str, Any]]
    holdings: dict[str, dict[str, int]] = field(default_factory=dict)  # format → {copies, titles}
    loans: int = 0
    readers: int = 0
    anonymised: int = 0
    signs: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # room → day → {sign kinds}
    activities: list[dict[str, Any]] = field(default_factory=list)
    stocktakes: list[dict[str, Any]] = field(default_factory=list)
    answers: list[dict[str, Any]] = field(default_factory=list)
    training: dict[str, Any] | None = None  # None: the training records are unavailable


def metric(key: str, value: float | None, detail: str, links: list[dict[str, str]] | None = None) -> dict[str, Any]:
    label, unit = METRICS[key]
    return {"value": None if value is None else round(float(value), 4), "unit": unit, "label": label,
            "detail": detail, "links": links or []}


def evidence_links(codes: list[str], key: str, period: Period, names: dict[str, str]) -> list[dict[str, str]]:
    many = len(codes) > 1
    return [{"label": f"{names.get(c, c)}：查看记录" if many else "查看记录",
             "href": f"/console/ratings/evidence/{c}/{key}?{period.query}"} for c in codes]


def expected_days(opening_hours: dict[str, list[str]], days: list[date]) -> list[str]:
    """The days of ``days`` whose weekday has opening hours."""
    open_weekdays = {d for d, spans in (opening_hours or {}).items() if spans}
    return [d.isoformat() for d in days if WEEKDAY_KEYS[d.weekday()] in open_weekdays]


def _n(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.2f}"


def _ratio(a: float, b: float | None) -> float | None:
    return a / b if b else None


def room_metrics(facts: RoomFacts, period: Period, standards: dict[str, int]) -> dict[str, dict[str, Any]]:
    names = {r["code"]: r["name"] for r in facts.rooms}

    def links(key: str) -> list[dict[str, str]]:
        return evidence_links(facts.codes, key, period, names)

    out: dict[str, dict[str, Any]] = {}
    book = facts.holdings.get("book", {})
    volumes, titles = book.get("copies", 0), book.get("titles", 0)
    periodicals = facts.holdings.get("periodical", {}).get("titles", 0)
    av = facts.holdings.get("audio_visual", {}).get("copies", 0)
    out["volumes"] = metric("volumes", volumes, f"现有图书 {_n(volumes)} 册（在架、借出和在途，不含遗失），"
                                                f"标准 {_n(standards['min_volumes'])} 册", links("volumes"))
    out["titles"] = metric("titles", titles, f"现有图书 {_n(titles)} 种，标准 {_n(standards['min_titles'])} 种",
                           links("titles"))
    out["periodicals"] = metric("periodicals", periodicals, f"现有报刊 {_n(periodicals)} 种，"
                                                            f"标准 {_n(standards['min_periodicals'])} 种",
                                links("periodicals"))
    out["audio_visual"] = metric("audio_visual", av, f"现有电子音像制品 {_n(av)} 件，"
                                                     f"标准 {_n(standards['min_audio_visual'])} 件", links("audio_visual"))
    parts = [(volumes, standards["min_volumes"], "图书册数"), (titles, standards["min_titles"], "图书种数"),
             (periodicals, standards["min_periodicals"], "报刊种数"), (av, standards["min_audio_visual"], "音像件数")]
    ratios = [(have / need, name) for have, need, name in parts if need > 0]
    lowest = min(ratios, default=(1.0, ""))
    out["holdings_ratio"] = metric(
        "holdings_ratio", lowest[0],
        "取四项达标比例中最低的一项：" + "；".join(f"{name} {_n(have)} ÷ {_n(need)} = {have / need:.2f}"
                                        for have, need, name in parts if need > 0)
        + (f"（最低：{lowest[1]}）" if lowest[1] else ""), links("holdings_ratio"))

    known = [r.get("residents") for r in facts.rooms]
    residents = sum(known) if known and all(isinstance(x, int) for x in known) else None  # type: ignore[arg-type]
    out["residents"] = metric(
        "residents", residents,
        f"书屋登记的服务常住人口 {_n(residents)} 人" if residents is not None
        else "书屋未登记常住人口（请区馆在书屋信息中填写），相关指标无法计算", links("residents"))
    anon = f"，其中 {_n(facts.anonymised)} 册次已按规定匿名化" if facts.anonymised else ""
    out["loans"] = metric("loans", facts.loans, f"{period.text} 借出 {_n(facts.loans)} 册次{anon}", links("loans"))
    out["loans_per_resident"] = metric(
        "loans_per_resident", _ratio(facts.loans, residents),
        f"{period.text} 借出 {_n(facts.loans)} 册次 ÷ 常住人口 {_n(residents)}" if residents
        else "缺少常住人口，无法计算", links("loans_per_resident"))
    out["borrowing_rate"] = metric(
        "borrowing_rate", _ratio(facts.loans, volumes),
        f"{period.text} 借出 {_n(facts.loans)} 册次 ÷ 现有图书 {_n(volumes)} 册" if volumes
        else "书屋没有图书藏量，无法计算", links("borrowing_rate"))
    out["readers_share"] = metric(
        "readers_share", _ratio(facts.readers, residents),
        (f"{period.text} 有借阅的读者 {_n(facts.readers)} 人 ÷ 常住人口 {_n(residents)}"
         + ("（已匿名化的借阅不计入人数，只计入册次）" if facts.anonymised else "")) if residents
        else "缺少常住人口，无法计算", links("readers_share"))

    out["opening_days_ratio"] = _opening(facts, period, links("opening_days_ratio"))
    held = len(facts.activities)
    people = sum(int(a.get("attendance", 0)) for a in facts.activities)
    out["activities_held"] = metric("activities_held", held, f"{period.text} 活动记录 {held} 次",
                                    links("activities_held"))
    out["activity_attendance"] = metric("activity_attendance", people,
                                        f"{period.text} {held} 次活动共 {_n(people)} 人次参加", links("activity_attendance"))
    out.update(_training(facts))
    out["stocktake_loss_rate"] = _loss(facts, period, links("stocktake_loss_rate"))
    responses = len(facts.answers)
    satisfied = sum(1 for a in facts.answers if int(a.get("answers", {}).get("q5", 0)) >= 4)
    out["satisfaction_rate"] = metric(
        "satisfaction_rate", _ratio(satisfied, responses),
        f"{period.text} 读者答卷 {responses} 份，“总体满意度”打 4–5 分的 {satisfied} 份，"
        f"{satisfied} ÷ {responses}" if responses else f"{period.text} 没有读者满意度答卷",
        links("satisfaction_rate"))
    out["survey_responses"] = metric("survey_responses", responses, f"{period.text} 读者答卷 {responses} 份",
                                     links("survey_responses"))
    return out


def _opening(facts: RoomFacts, period: Period, links: list[dict[str, str]]) -> dict[str, Any]:
    days = period.days()
    expected = shown = extra = 0
    no_hours = []
    for room in facts.rooms:
        due = expected_days(room.get("opening_hours") or {}, days)
        due_set = set(due)
        if not due:
            no_hours.append(room["name"])
        signs = facts.signs.get(room["code"], {})
        expected += len(due)
        shown += sum(1 for d in due if signs.get(d))
        extra += sum(1 for d in signs if signs[d] and d not in due_set)
    detail = (f"{period.text} 按开放时间应开放 {expected} 天，其中 {shown} 天有开馆记录（借还、开馆打卡、"
              f"活动或读者签到），{shown} ÷ {expected}")
    if extra:
        detail += f"；另有 {extra} 天在非开放日有记录（不计入）"
    if no_hours:
        detail += "；" + "、".join(no_hours) + " 未登记开放时间"
    return metric("opening_days_ratio", _ratio(shown, expected) if expected else None,
                  detail if expected else f"{period.text} 没有应开放的日子（未登记开放时间或期间未开始）", links)


def _loss(facts: RoomFacts, period: Period, links: list[dict[str, str]]) -> dict[str, Any]:
    if not facts.stocktakes:
        return metric("stocktake_loss_rate", None, f"{period.text} 没有经审核的盘点", links)
    expected = sum(int(s.get("report", {}).get("expected_copies", 0)) for s in facts.stocktakes)
    missing = sum(int(m.get("missing", 0)) for s in facts.stocktakes for m in s.get("report", {}).get("missing", []))
    when = "、".join(s["approved_at"].date().isoformat() for s in facts.stocktakes)
    return metric("stocktake_loss_rate", _ratio(missing, expected) if expected else None,
                  f"最近一次经审核的盘点（{when} 审核）：应在架 {_n(expected)} 册，未找到 {_n(missing)} 册，"
                  f"{_n(missing)} ÷ {_n(expected)}" if expected else "盘点时没有应在架的图书", links)


def _training(facts: RoomFacts) -> dict[str, dict[str, Any]]:
    t = facts.training
    if t is None:
        return {"admin_training_hours": metric("admin_training_hours", None, "培训记录暂不可用"),
                "admin_inducted": metric("admin_inducted", None, "培训记录暂不可用")}
    people = t["people"]  # [{staff_id, name, hours, inducted, induction_number}]
    links = [{"label": f"{p['name']}的培训证书", "href": f"/console/training/certificates?staff_id={p['staff_id']}"}
             for p in people]
    if not people:
        none = "书屋没有登记管理员"
        return {"admin_training_hours": metric("admin_training_hours", None, none),
                "admin_inducted": metric("admin_inducted", 0, none)}
    hours = sum(p["hours"] for p in people) / len(people)
    each = "；".join(f"{p['name']} {_n(p['hours'])} 学时" for p in people)
    inducted = all(p["inducted"] for p in people)
    who = "；".join(f"{p['name']}{'已' if p['inducted'] else '未'}完成岗前培训"
                   + (f"（证书 {p['induction_number']}）" if p.get("induction_number") else "") for p in people)
    avg = f"，人均 {_n(hours)} 学时" if len(people) > 1 else ""
    return {
        "admin_training_hours": metric("admin_training_hours", hours, f"{t['year']} 年培训证书学时：{each}{avg}", links),
        "admin_inducted": metric("admin_inducted", 1 if inducted else 0, who, links),
    }
