"""The daily loan reminders (08:00 in the district): "due tomorrow" and "overdue".

Each finds the open loans concerned in one query, their titles in one and their rooms in
one, and records one outbox event per loan (server/outbox.py); the sweeper sends them.
Recording is idempotent, so a job that runs twice, or late, records nothing twice.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from miniprogram_api.notify import repo
from server import outbox
from server.circulation.desk import local_day_text, titles_by_id
from server.circulation.rules import LOCAL_TZ, local_date

if TYPE_CHECKING:
    from server.resources import Deps

LOANS_PAGE = "pages/loans/loans"
# Loans that fell overdue within this many days get their "overdue" message; older ones had
# theirs already (and, on the first run, a backlog of old loans is not messaged at once).
OVERDUE_WINDOW_DAYS = 7
MAX_LOANS_PER_RUN = 50_000


def _local_midnight(day: Any) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LOCAL_TZ)


async def _record(deps: Deps, loans: list[dict[str, Any]], *, event: outbox.Event, suffix: str, now: datetime
                  ) -> int:
    loans = [loan for loan in loans if loan.get("reader_id") is not None]
    if not loans:
        return 0
    titles = await titles_by_id(deps, [loan["title_id"] for loan in loans])
    rooms = await repo.room_names(deps.db, [loan["room"] for loan in loans])
    recorded = 0
    for loan in loans:
        due_day = local_date(loan["due_at"])
        title = titles.get(loan["title_id"], {}).get("title") or loan["title_id"]
        recorded += await outbox.record(
            deps.db, None, event=event, key=f"{loan['_id']}:{due_day.isoformat()}{suffix}",
            data={"thing1": title, "time2": local_day_text(loan["due_at"]),
                  "thing3": rooms.get(loan["room"], loan["room"])},
            page=LOANS_PAGE, now=now, reader_id=loan["reader_id"])
    return recorded


async def record_due_tomorrow(deps: Deps, now: datetime) -> int:
    """Record a ``due_tomorrow`` event for every open loan due on the local day after
    ``now``'s. Returns how many events are new."""
    start = _local_midnight(local_date(now) + timedelta(days=1))
    loans = await repo.open_loans_due(deps.db, start, start + timedelta(days=1), limit=MAX_LOANS_PER_RUN)
    return await _record(deps, loans, event="due_tomorrow", suffix="", now=now)


async def record_overdue(deps: Deps, now: datetime) -> int:
    """Record an ``overdue`` event for every open loan past due at ``now`` (that fell
    overdue within ``OVERDUE_WINDOW_DAYS``): once per loan and due date, so a renewed
    loan that falls overdue again is told again. Returns how many events are new."""
    loans = await repo.open_loans_due(deps.db, now - timedelta(days=OVERDUE_WINDOW_DAYS), now,
                                      limit=MAX_LOANS_PER_RUN)
    return await _record(deps, loans, event="overdue", suffix=":overdue", now=now)
