"""Lending rules as plain functions: limits, due dates, renewals, overdue, the hold queue.

Pure: no I/O. The numbers come from the district's ``LendingRules`` (DOMAIN.md,
"Lending"); refusals are RuleViolations whose ``detail`` is the sentence the
administrator reads on the phone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from server.district import LendingRules
from server.errors import RuleViolation

# The district's clock: due dates fall at the end of a local day, months are local months.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")
# A hold for a title is one of this reader's requests at a time; more is hoarding.
MAX_ACTIVE_HOLDS = 5

Format = Literal["book", "periodical", "audio_visual"]
LimitKind = Literal["book", "audio_visual"]
FORMAT_LABELS = {"book": "图书", "periodical": "报刊", "audio_visual": "音像制品"}
ACTIVE_HOLD_STATES = ("waiting", "ready")


def limit_kind(fmt: str) -> LimitKind:
    """Which loan limit a format counts against (periodicals, when lendable, count as books)."""
    return "audio_visual" if fmt == "audio_visual" else "book"


def limit_of(rules: LendingRules, kind: LimitKind) -> int:
    return rules.max_audio_visual if kind == "audio_visual" else rules.max_books


def local_date(moment: datetime) -> date:
    return moment.astimezone(LOCAL_TZ).date()


def end_of_local_day(day: date) -> datetime:
    """23:59:59 on ``day`` in the district, as an aware datetime (compare with UTC freely)."""
    return datetime.combine(day, time(23, 59, 59), tzinfo=LOCAL_TZ)


def due_date(lent_at: datetime, rules: LendingRules) -> datetime:
    """Due at the end of the local day ``loan_days`` after the loan (lent Monday, 10 days → Thursday week)."""
    return end_of_local_day(local_date(lent_at) + timedelta(days=rules.loan_days))


def renewed_due_date(due_at: datetime, now: datetime, rules: LendingRules) -> datetime:
    """A renewal adds ``loan_days`` to the later of today and the current due date."""
    start = max(local_date(due_at), local_date(now))
    return end_of_local_day(start + timedelta(days=rules.loan_days))


def pickup_deadline(now: datetime, rules: LendingRules) -> datetime:
    return end_of_local_day(local_date(now) + timedelta(days=rules.hold_pickup_days))


def is_overdue(due_at: datetime, now: datetime) -> bool:
    return now > due_at


def days_overdue(due_at: datetime, now: datetime) -> int:
    """Whole local days past the due date (0 when not overdue)."""
    return max((local_date(now) - local_date(due_at)).days, 0) if is_overdue(due_at, now) else 0


def month_key(moment: datetime) -> str:
    """The local calendar month, e.g. "2026-05", that statistics are kept by."""
    return moment.astimezone(LOCAL_TZ).strftime("%Y-%m")


@dataclass(frozen=True)
class ReaderStanding:
    """What the rules need to know about a reader when lending."""

    blocked_reason: str | None
    open_loans: dict[str, int]
    has_overdue: bool


def check_lend(rules: LendingRules, reader: ReaderStanding, fmt: str, title: str) -> LimitKind:
    """The limit a loan of ``fmt`` counts against, or RuleViolation saying why it is refused."""
    if fmt == "periodical" and rules.periodicals_in_room_only:
        raise RuleViolation(f"《{title}》是报刊，只能在书屋内阅读，不能外借", code="periodical_in_room_only")
    if reader.blocked_reason is not None:
        raise RuleViolation(f"该读者已被停借（{reader.blocked_reason}），请联系区图书馆", code="reader_blocked")
    if rules.block_when_overdue and reader.has_overdue:
        raise RuleViolation("该读者有逾期未还的图书，请先归还后再借", code="reader_has_overdue")
    kind = limit_kind(fmt)
    limit = limit_of(rules, kind)
    have = reader.open_loans.get(kind, 0)
    if have >= limit:
        label = FORMAT_LABELS[kind]
        raise RuleViolation(f"该读者已借{label} {have} 件，达到上限（{limit} 件），请先归还", code="loan_limit_reached")
    return kind


def check_renew(rules: LendingRules, *, renewals: int, due_at: datetime, now: datetime,
                blocked_reason: str | None, hold_waiting: bool) -> None:
    """RuleViolation if a loan may not be renewed now."""
    if blocked_reason is not None:
        raise RuleViolation(f"该读者已被停借（{blocked_reason}），不能续借", code="reader_blocked")
    if renewals >= rules.max_renewals:
        raise RuleViolation(f"每次借阅最多续借 {rules.max_renewals} 次，已经续借过了", code="renewal_limit_reached")
    if rules.block_when_overdue and is_overdue(due_at, now):
        raise RuleViolation("已逾期的图书不能续借，请先归还", code="overdue_cannot_renew")
    if hold_waiting:
        raise RuleViolation("有其他读者在预约这种书，不能续借，请按期归还", code="hold_waiting")


@dataclass(frozen=True)
class QueuedHold:
    """An active hold at one pickup room, for the queue arithmetic."""

    hold_id: str
    reader_id: str
    status: str
    placed_at: datetime


def queue_order(holds: Sequence[QueuedHold]) -> list[QueuedHold]:
    """Ready holds first (their copy is set aside), then waiting holds, oldest first."""
    return sorted(holds, key=lambda h: (h.status != "ready", h.placed_at, h.hold_id))


def shelf_copy_for(holds: Sequence[QueuedHold], reader_id: str, on_shelf: int) -> tuple[bool, QueuedHold | None]:
    """May ``reader_id`` take one of ``on_shelf`` copies, given the pickup room's hold queue?

    The copies on the shelf serve the queue in order; a reader in the queue may take
    a copy if their place is within the copies there, anyone else only a copy that no
    hold is waiting for. Returns (allowed, the reader's own hold if they have one).
    """
    queue = queue_order(holds)
    for place, hold in enumerate(queue):
        if hold.reader_id == reader_id:
            return place < on_shelf, hold
    return on_shelf - len(queue) >= 1, None


def holds_to_make_ready(holds: Sequence[QueuedHold], on_shelf: int) -> list[QueuedHold]:
    """Waiting holds whose place in the queue now has a copy on the shelf."""
    return [h for place, h in enumerate(queue_order(holds)) if place < on_shelf and h.status == "waiting"]
