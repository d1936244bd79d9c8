"""The dashboard's and the annual report's charts, as neutral ``Chart`` data. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from server.stats.models import Chart, ChartSeries

CATEGORIES: tuple[str, ...] = ("政经", "科技", "生活", "文化", "少儿", "其他")
MONTHS: tuple[str, ...] = tuple(f"{m}月" for m in range(1, 13))
TOP_SCHOOLS = 15
NO_SCHOOL = "（未登记学校）"
NO_TOWN = "（未登记镇街）"


def loans_by_month(rows: Iterable[Mapping[str, Any]], year: int) -> Chart:
    """``rows``: [{month "YYYY-MM", category, loans}] (from ``loan_stats``); one stacked series
    per six-class category (always all six, so the chart is never without a series)."""
    values = {c: [0.0] * 12 for c in CATEGORIES}
    for r in rows:
        month = str(r["month"])
        if not month.startswith(f"{year}-"):
            continue
        category = str(r.get("category")) if r.get("category") in values else "其他"
        values[category][int(month[5:7]) - 1] += float(r.get("loans", 0))
    return Chart(key="loans_by_month", title=f"{year} 年各月借阅（按图书类别）", unit="册次", categories=list(MONTHS),
                 series=[ChartSeries(name=c, values=values[c], kind="bar", stack="loans") for c in CATEGORIES],
                 note="来自书屋借阅月统计（不含读者信息，匿名化后仍保留）")


def stock_by_category(copies: Mapping[str, int], targets: Mapping[str, float], *, as_of: str) -> Chart:
    """Share of book copies per category (bar) against the six-class targets (line), in %."""
    total = sum(int(copies.get(c, 0)) for c in CATEGORIES) + sum(
        int(v) for k, v in copies.items() if k not in CATEGORIES)
    extra = sum(int(v) for k, v in copies.items() if k not in CATEGORIES)

    def share(c: str) -> float:
        held = int(copies.get(c, 0)) + (extra if c == "其他" else 0)
        return round(held * 100 / total, 2) if total else 0.0

    return Chart(key="stock_by_category", title="藏书类别结构与目标", unit="%", categories=list(CATEGORIES),
                 series=[ChartSeries(name="现有藏书占比 (%)", values=[share(c) for c in CATEGORIES], kind="bar"),
                         ChartSeries(name="目标占比 (%)", values=[round(float(targets.get(c, 0)) * 100, 2)
                                                              for c in CATEGORIES], kind="line")],
                 note=f"截至 {as_of} 图书 {total:,} 册；目标为农家书屋六类藏书结构")


def replenishment_by_year(items: Iterable[Any], first: int, last: int) -> Chart:
    """``items``: YearFigures-like (year, books, discs, history) from the distribution plans."""
    by_year = {int(_get(i, "year")): i for i in items}
    years = list(range(first, last + 1))
    books = [float(_get(by_year[y], "books")) if y in by_year else None for y in years]
    discs = [float(_get(by_year[y], "discs")) if y in by_year else None for y in years]
    history = [y for y in years if y in by_year and _get(by_year[y], "history")]
    note = "各年补充更新计划配送数量"
    if history:
        note += f"；{history[0]}–{history[-1]} 年为历史汇总数据"
    return Chart(key="replenishment_by_year", title="历年补充更新", unit="册 / 张", categories=[str(y) for y in years],
                 series=[ChartSeries(name="图书 (册)", values=books, kind="bar"),
                         ChartSeries(name="音像 (张)", values=discs, kind="bar")], note=note)


def challenge_by_town(participants: Iterable[Mapping[str, Any]], towns: Sequence[str], year: int) -> Chart:
    """Participants (not distinct people: one per challenge joined) by town, district order."""
    counts = Counter(p.get("town") or NO_TOWN for p in participants)
    names = [t for t in towns] + sorted(k for k in counts if k not in towns)
    return Chart(key="challenge_by_town", title=f"{year} 年暑期阅读挑战参与（按镇街）", unit="人次", categories=names,
                 series=[ChartSeries(name="参与人次", values=[float(counts.get(t, 0)) for t in names])],
                 note="7–8 月进行的阅读挑战的参与者")


def challenge_by_school(participants: Iterable[Mapping[str, Any]], year: int, top: int = TOP_SCHOOLS) -> Chart:
    counts = Counter(p.get("school") or NO_SCHOOL for p in participants)
    ranked = sorted(counts.items(), key=lambda kv: (kv[0] == NO_SCHOOL, -kv[1], kv[0]))[:top]
    return Chart(key="challenge_by_school", title=f"{year} 年暑期阅读挑战参与（前 {top} 所学校）", unit="人次",
                 categories=[k for k, _ in ranked],
                 series=[ChartSeries(name="参与人次", values=[float(v) for _, v in ranked])],
                 note=f"共 {len(counts)} 所学校（含未登记学校）")


def _get(item: Any, name: str) -> Any:
    return item[name] if isinstance(item, Mapping) else getattr(item, name)
