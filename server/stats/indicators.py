"""The ten indicators of the dashboard and the annual report, from plain figures. Pure.

Each builder takes the figures of the year shown (and the trend already worked out) and
returns an ``Indicator`` whose Chinese ``detail`` shows the arithmetic with the numbers used.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from server.stats.models import Indicator, IndicatorStatus, TrendPoint

NEAR_SHARE = 0.10  # "near": within 10 % of the target
TREND_YEARS = 5  # the previous four years, then the one shown

Better = Literal["higher", "lower"]
# key → (label, unit, better)
SPECS: dict[str, tuple[str, str, Better]] = {
    "volumes_per_resident": ("人均藏书", "册/人", "higher"),
    "new_volumes_per_resident": ("年人均新增藏书", "册/人", "higher"),
    "purchase_spend": ("年度购书经费执行", "元", "higher"),
    "rooms_below_holdings": ("藏书未达标书屋", "个", "lower"),
    "rooms_below_hours": ("开放时间未达标书屋", "个", "lower"),
    "loans_per_room_month": ("书屋月均借阅", "次", "higher"),
    "active_readers": ("活跃读者", "人", "higher"),
    "challenge_children": ("暑期阅读挑战少儿", "人", "higher"),
    "training_completion": ("管理员培训完成率", "%", "higher"),
    "stocktake_loss_rate": ("盘点丢失率", "%", "lower"),
}
KEYS: tuple[str, ...] = tuple(SPECS)
STANDARD_LABELS = {"min_volumes": ("图书册数", "册"), "min_titles": ("图书种数", "种"),
                   "min_periodicals": ("报刊种数", "种"), "min_audio_visual": ("音像制品", "件")}
STATUS_RANK: dict[str, int] = {"below": 0, "near": 1, "met": 2}


def n(x: float | None, digits: int = 2) -> str:
    """A number as printed: thousands separators, no needless decimals."""
    if x is None:
        return "—"
    x = float(x)
    return f"{x:,.0f}" if x.is_integer() else f"{x:,.{digits}f}"


def status_of(value: float | None, target: float | None, better: Better) -> IndicatorStatus:
    """met / near (within 10 % of the target) / below; none without a value or a target."""
    if value is None or target is None:
        return "none"
    margin = abs(target) * NEAR_SHARE
    if better == "higher":
        return "met" if value >= target else "near" if value >= target - margin else "below"
    return "met" if value <= target else "near" if value <= target + margin else "below"


def trend_points(years: Sequence[int], values: Mapping[int, float | None]) -> list[TrendPoint]:
    """One point per year of ``years`` (oldest first); null where there is no figure."""
    return [TrendPoint(label=str(y), value=None if (v := values.get(y)) is None else round(float(v), 4))
            for y in years]


def trend_years(year: int) -> list[int]:
    return list(range(year - TREND_YEARS + 1, year + 1))


def indicator(key: str, value: float | None, detail: str, *, target: float | None = None, target_text: str = "",
              trend: list[TrendPoint] | None = None, href: str | None = None, digits: int = 4) -> Indicator:
    label, unit, better = SPECS[key]
    value = None if value is None else round(float(value), digits)
    return Indicator(key=key, label=label, unit=unit, value=value, target=target, target_text=target_text,
                     better=better, status=status_of(value, target, better), detail=detail, trend=trend or [],
                     href=href)


def ratio(a: float, b: float) -> float | None:
    return a / b if b else None


def volumes_per_resident(volumes: int, residents: int, rooms_counted: int, rooms_without: int, target: float, *,
                         as_of: str, trend: list[TrendPoint] | None = None, href: str | None = None) -> Indicator:
    value = ratio(volumes, residents)
    left_out = f"；{rooms_without} 个书屋未登记常住人口，不计入" if rooms_without else ""
    detail = (f"截至 {as_of}，{rooms_counted} 个书屋的图书 {n(volumes)} 册 ÷ 服务常住人口 {n(residents)} 人"
              f" = {n(value, 3)} 册/人{left_out}") if residents else f"没有登记常住人口的书屋，无法计算{left_out}"
    return indicator("volumes_per_resident", value, detail, target=target, target_text=f"≥ {n(target)} 册/人",
                     trend=trend, href=href)


def new_volumes_per_resident(received: int, residents: int, rooms_counted: int, rooms_without: int, target: float,
                             *, year: int, trend: list[TrendPoint] | None = None, href: str | None = None) -> Indicator:
    value = ratio(received, residents)
    left_out = f"；{rooms_without} 个书屋未登记常住人口，不计入" if rooms_without else ""
    detail = (f"{year} 年 {rooms_counted} 个书屋新入藏图书 {n(received)} 册（入库记录）÷ 服务常住人口 {n(residents)} 人"
              f" = {n(value, 4)} 册/人{left_out}") if residents else f"没有登记常住人口的书屋，无法计算{left_out}"
    return indicator("new_volumes_per_resident", value, detail, target=target, target_text=f"≥ {n(target)} 册/人",
                     trend=trend, href=href, digits=5)


def purchase_spend(spend_fen: int | None, budget_fen: int | None, *, year: int, source: str,
                   trend: list[TrendPoint] | None = None, href: str | None = None) -> Indicator:
    """Spend against the plan's budget; the status is the spend ÷ budget ratio."""
    if budget_fen is None:
        return indicator("purchase_spend", None, f"{year} 年没有补充更新计划", trend=trend, href=href)
    spend = (spend_fen or 0) / 100
    budget = budget_fen / 100
    share = ratio(spend, budget)
    detail = (f"{year} 年计划预算 {n(budget)} 元，{source} {n(spend)} 元"
              + (f"，执行率 {share * 100:.1f}%" if share is not None else ""))
    return indicator("purchase_spend", spend, detail, target=budget, target_text=f"预算 {n(budget)} 元",
                     trend=trend, href=href, digits=2)


def rooms_below_holdings(missed: Mapping[str, int], rooms_below: int, active_rooms: int, standards: Mapping[str, int],
                         *, as_of: str, trend: list[TrendPoint] | None = None, href: str | None = None) -> Indicator:
    """``missed``: standard name → rooms below it; ``rooms_below``: rooms below any."""
    parts = [f"{STANDARD_LABELS[k][0]}不足 {n(standards[k])} {STANDARD_LABELS[k][1]}的 {missed.get(k, 0)} 个"
             for k in STANDARD_LABELS if k in standards]
    detail = f"截至 {as_of}，{active_rooms} 个在用书屋中 {rooms_below} 个至少一项未达标：" + "；".join(parts)
    return indicator("rooms_below_holdings", rooms_below, detail, target=0, target_text="0 个", trend=trend, href=href)


def rooms_below_hours(rooms_below: int, active_rooms: int, reasons: Mapping[str, int], *,
                      trend: list[TrendPoint] | None = None, href: str | None = None) -> Indicator:
    parts = "；".join(f"{k} {v} 个" for k, v in reasons.items() if v)
    detail = (f"当前 {active_rooms} 个在用书屋中 {rooms_below} 个的登记开放时间未达到标准"
              + (f"（{parts}）" if parts else "") + "；只有当前状态，没有历年记录")
    return indicator("rooms_below_hours", rooms_below, detail, target=0, target_text="0 个", trend=trend, href=href)


def loans_per_room_month(loans: int, rooms: int, months: int, *, year: int, trend: list[TrendPoint] | None = None,
                         href: str | None = None) -> Indicator:
    value = loans / (rooms * months) if rooms and months else None
    detail = (f"{year} 年借出 {n(loans)} 册次（按月统计，匿名化后仍保留）÷ {rooms} 个在用书屋 ÷ {months} 个月"
              f" = {n(value, 1)} 次") if value is not None else f"{year} 年没有在用书屋或尚未开始"
    return indicator("loans_per_room_month", value, detail, trend=trend, href=href, digits=2)


def active_readers(readers: int | None, *, year: int, summed_towns: int = 0, computed_at: str = "",
                   trend: list[TrendPoint] | None = None, href: str | None = None) -> Indicator:
    if readers is None:
        return indicator("active_readers", None, f"{year} 年没有读者人数统计（借阅记录已匿名化且当年未做统计快照）",
                         trend=trend, href=href)
    detail = f"{year} 年有借阅的不同读者 {n(readers)} 人（在多个书屋借阅的读者只计一次）"
    if summed_towns > 1:
        detail = (f"{year} 年有借阅的不同读者 {n(readers)} 人（{summed_towns} 个镇街分别去重后相加，"
                  "跨镇街借阅的读者可能重复计入）")
    if computed_at:
        detail += f"；统计快照时间 {computed_at}"
    return indicator("active_readers", readers, detail, trend=trend, href=href, digits=0)


def challenge_children(children: int, participants: int, challenges: int, *, year: int,
                       trend: list[TrendPoint] | None = None, href: str | None = None) -> Indicator:
    if not challenges:
        return indicator("challenge_children", 0, f"{year} 年 7–8 月没有进行中的阅读挑战", trend=trend, href=href)
    detail = (f"{year} 年 7–8 月进行的 {challenges} 个阅读挑战共 {n(participants)} 人次参加，"
              f"其中未满 18 岁或登记了学校的少儿 {n(children)} 人（同一少儿参加多个挑战只计一次）")
    return indicator("challenge_children", children, detail, trend=trend, href=href, digits=0)


def training_completion(admins: int, inducted: int, refresher_met: int, *, year: int,
                        trend: list[TrendPoint] | None = None, href: str | None = None) -> Indicator:
    value = ratio(inducted * 100, admins)
    detail = (f"在用书屋的管理员 {admins} 人，已完成岗前培训 {inducted} 人，{inducted} ÷ {admins} = {n(value, 1)}%；"
              f"{year} 年完成年度培训学时的 {refresher_met} 人（{n(ratio(refresher_met * 100, admins), 1)}%）"
              ) if admins else "在用书屋没有登记管理员"
    return indicator("training_completion", value, detail, target=100, target_text="100%", trend=trend, href=href,
                     digits=2)


def stocktake_loss_rate(missing: int, expected: int, stocktakes: int, *, year: int,
                        trend: list[TrendPoint] | None = None, href: str | None = None) -> Indicator:
    value = ratio(missing * 100, expected)
    if not stocktakes:
        detail = f"{year} 年没有经审核的盘点"
    else:
        detail = (f"{year} 年 {stocktakes} 个书屋最近一次经审核的盘点：应在架 {n(expected)} 册，"
                  f"未找到 {n(missing)} 册，{n(missing)} ÷ {n(expected)} = {n(value, 2)}%")
    return indicator("stocktake_loss_rate", value, detail, trend=trend, href=href, digits=3)


def below_standards(holdings: Mapping[str, Mapping[str, int]], standards: Mapping[str, int]) -> list[str]:
    """The holdings standards a room misses; ``holdings``: format → {copies, titles}."""
    have = {
        "min_volumes": holdings.get("book", {}).get("copies", 0),
        "min_titles": holdings.get("book", {}).get("titles", 0),
        "min_periodicals": holdings.get("periodical", {}).get("titles", 0),
        "min_audio_visual": holdings.get("audio_visual", {}).get("copies", 0),
    }
    return [k for k in STANDARD_LABELS if k in standards and have[k] < standards[k]]
