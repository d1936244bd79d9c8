"""The nightly circulation jobs the (future) arq worker calls: overdue loans, hold
expiry, and the anonymisation of old loan records (Public Library Law art. 43).

Each takes ``now`` so a test (or a catch-up run) can choose the day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from server.circulation import offline_repo, repo
from server.circulation.desk import OP_KINDS
from server.circulation.holds import expire_and_promote_holds
from server.circulation.models import LoanOut
from server.circulation.service import loan_items

if TYPE_CHECKING:
    from server.resources import Deps

# Audit actions whose ``changes`` name a reader (the reader id goes with the loan history).
READER_AUDIT_ACTIONS = ("loan.lend", "loan.return", "loan.renew", "hold.place", "hold.cancel")
OVERDUE_LIST_MAX = 1000


async def overdue_loans(deps: Deps, room: str, now: datetime) -> list[LoanOut]:
    """Open loans of ``room`` past their due date on ``now``, longest overdue first (for reminders)."""
    docs = await repo.room_loans_page(deps.db, repo.room_loans_filter(room, overdue=True, now=now), after=None,
                                      limit=OVERDUE_LIST_MAX)
    return await loan_items(deps, docs, now)


async def mark_overdue(deps: Deps, now: datetime) -> dict[str, int]:
    """Flag loans that fell overdue (``overdue_since``) and expire/promote holds.

    Returns the number of overdue loans per room, plus ``_newly_overdue``,
    ``_holds_expired`` and ``_holds_ready`` for the job's log line.
    """
    newly = await repo.flag_overdue(deps.db, now)
    holds = await expire_and_promote_holds(deps, now)
    counts = await repo.overdue_by_room(deps.db, now)
    return {**counts, "_newly_overdue": newly, "_holds_expired": holds["expired"], "_holds_ready": holds["ready"]}


@dataclass
class AnonymisationReport:
    loans: int
    holds: int
    operations: int
    audit_entries: int
    offline_records: int = 0


async def anonymise_loan_history(deps: Deps, now: datetime) -> AnonymisationReport:
    """Remove the reader from loans and holds closed more than ``loan_record_retention_days``
    ago, and from the operation records and audit entries that named them.

    Offline sync: applied batches lose their raw body and card numbers, resolved conflicts
    their reader. What stays: room, title, format, category, dates — and ``loan_stats``, counted
    at lend time without any reader identity, so per-room reports survive.
    A replay of an anonymised operation is refused (409 operation_anonymised).
    """
    cutoff = now - timedelta(days=deps.settings.district.lending.loan_record_retention_days)
    loans = await repo.anonymise_loans(deps.db, cutoff, now)
    holds = await repo.anonymise_holds(deps.db, cutoff, now)
    ops = await repo.anonymise_operations(deps.db, OP_KINDS, cutoff)
    entries = await repo.anonymise_audit(deps.db, READER_AUDIT_ACTIONS, cutoff)
    offline = await offline_repo.anonymise(deps.db, cutoff, now)
    return AnonymisationReport(loans=loans, holds=holds, operations=ops, audit_entries=entries,
                               offline_records=offline)
