"""Subscribe-message consents and the reader's message list: API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from server.readers.models import OpId

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)

TemplateId = Annotated[str, StringConstraints(min_length=1, max_length=128)]
# What ``wx.requestSubscribeMessage`` answers per template id.
ConsentResult = Literal["accept", "reject", "ban", "filter"]
NotificationStatus = Literal["pending", "sending", "sent", "skipped", "failed"]
MAX_TEMPLATES_PER_REPORT = 20  # WeChat asks for at most 3 at a time; leave room, refuse floods


class SubscriptionsIn(BaseModel):
    """The ``wx.requestSubscribeMessage`` result: template id → accept/reject/ban/filter.

    Send only the template ids (drop WeChat's ``errMsg`` key). Each ``accept`` is one
    consent, worth one message of that template.
    """

    model_config = STRICT

    op_id: OpId = Field(description="client-made id; a replay changes nothing and returns the first answer")
    results: dict[TemplateId, ConsentResult] = Field(min_length=1, max_length=MAX_TEMPLATES_PER_REPORT)


class TemplateCredit(BaseModel):
    event: str = Field(description="hold_ready, due_tomorrow, overdue, suggestion_status, challenge_milestone, "
                                   "contest_result, prize_won, rating_result")
    title: str = Field(description="what the event is called in the message list")
    template_id: str = Field(description="ask for this id in wx.requestSubscribeMessage")
    credits: int = Field(description="messages of this template the account has consented to and not yet received")


class SubscriptionsOut(BaseModel):
    templates: list[TemplateCredit]
    added: int = Field(0, description="consents added by this report (0 on GET and on a replay)")
    replayed: bool = False


class NotificationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(None, max_length=300)
    limit: int = Field(20, ge=1, le=100)


class NotificationOut(BaseModel):
    """One event the family was told about (or would have been, had it subscribed)."""

    id: str
    event: str
    title: str
    member_id: str | None = Field(None, description="the family member it is about, when known")
    data: dict[str, str] = Field(description="the message fields by template key (thing1, time2, …)")
    page: str = Field(description="the mini-program page the message opens")
    status: NotificationStatus
    reason: str | None = Field(None, description="why it was not sent: no_miniprogram, no_template, no_credit, "
                                                 "refused, member_inactive")
    created_at: datetime
    sent_at: datetime | None = None


class NotificationPage(BaseModel):
    items: list[NotificationOut]
    next_cursor: str | None = None
