"""书香之家 metrics from the facts gathered for one family. Pure.

A family is a mini-program account's members (and their library cards), or a desk reader
(one card: the readers register keeps a guardian's name and phone, not a link to another
reader, so a desk family is that reader alone)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from server.stats.period import Period
from training.ratings.metrics.rooms import metric


@dataclass
class FamilyFacts:
    people: int = 0
    cards: int = 0
    loans: int = 0
    logs: list[dict[str, Any]] = field(default_factory=list)  # counted reading logs, each with its "unit"
    challenges: set[Any] = field(default_factory=set)  # challenges joined or logged in the period
    contest_entries: int = 0


def family_links(entry_id: str, key: str, period: Period) -> list[dict[str, str]]:
    return [{"label": "查看记录", "href": f"/console/ratings/evidence/family/{entry_id}/{key}?{period.query}"}]


def family_metrics(entry_id: str, facts: FamilyFacts, period: Period) -> dict[str, dict[str, Any]]:
    def links(key: str) -> list[dict[str, str]]:
        return family_links(entry_id, key, period)

    books = sum(int(g["amount"]) for g in facts.logs if g.get("unit") == "books")
    minutes = sum(int(g["amount"]) for g in facts.logs if g.get("unit") == "minutes")
    n_books = sum(1 for g in facts.logs if g.get("unit") == "books")
    n_minutes = sum(1 for g in facts.logs if g.get("unit") == "minutes")
    rule = "（只计已通过的打卡：被驳回或待核查的不计）"
    joined = len(facts.challenges)
    return {
        "family_books_logged": metric(
            "family_books_logged", books,
            f"{period.text} 家庭 {facts.people} 人在阅读打卡中记录 {n_books} 次，共 {books} 本{rule}",
            links("family_books_logged")),
        "family_minutes_logged": metric(
            "family_minutes_logged", minutes,
            f"{period.text} 家庭 {facts.people} 人在阅读打卡中记录 {n_minutes} 次，共 {minutes} 分钟{rule}",
            links("family_minutes_logged")),
        "family_loans": metric(
            "family_loans", facts.loans,
            f"{period.text} 家庭的 {facts.cards} 张借阅证借出 {facts.loans} 册次" if facts.cards
            else "家庭没有关联借阅证，没有借阅记录", links("family_loans")),
        "family_activities": metric(
            "family_activities", joined + facts.contest_entries,
            f"{period.text} 参加阅读打卡活动 {joined} 个 + 投稿“我的书屋·我的梦”作品 {facts.contest_entries} 件"
            "（书屋线下活动只登记人数、不登记参加者，无法计入）", links("family_activities")),
        "family_visits": metric(
            "family_visits", None,
            "书屋扫码签到只按天统计人次，个人签到记录仅保留两天，无法按家庭统计；请用申报材料或督查评分反映",
            []),
    }
