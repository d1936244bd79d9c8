"""Which subscribe-message template each reader event uses, and how the mini-program names it.

Pure: reads ``Settings.wechat_templates`` ({event: template id}, SHUWU_WECHAT_TEMPLATES);
no I/O. A district may leave an event without a template: its events are then kept on
record (the reader sees them in the mini-program's message list) but never sent.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from server.outbox import EVENTS

if TYPE_CHECKING:
    from server.config import Settings

# What the message list calls each event (user-facing, so Chinese).
EVENT_TITLES: dict[str, str] = {
    "hold_ready": "预约的书可以取了",
    "due_tomorrow": "借的书明天到期",
    "overdue": "借的书已经逾期",
    "suggestion_status": "荐购进度有更新",
    "challenge_milestone": "阅读挑战达成里程碑",
    "contest_result": "比赛结果公布了",
    "prize_won": "恭喜您中奖了",
    "rating_result": "书香之家评选结果公布了",
}


def configured_templates(settings: Settings) -> dict[str, str]:
    """{event: template id} for every known event that has a template, in ``EVENTS`` order."""
    configured = settings.wechat_templates
    return {event: configured[event] for event in EVENTS if configured.get(event)}


def template_for(settings: Settings, event: str) -> str | None:
    """The template id that carries ``event``, or None when the district configured none."""
    return configured_templates(settings).get(event)


def unknown_template_ids(settings: Settings, template_ids: Iterable[str]) -> list[str]:
    """The ids among ``template_ids`` that no configured event uses, in the order given."""
    known = set(configured_templates(settings).values())
    return [t for t in template_ids if t not in known]


def event_title(event: str) -> str:
    return EVENT_TITLES.get(event, "消息")
