"""The pure lending rules: due dates in the district's clock, limits, renewals, the hold queue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.circulation.models import normalise_title_id
from server.circulation.rules import (
    LOCAL_TZ,
    QueuedHold,
    ReaderStanding,
    check_lend,
    check_renew,
    days_overdue,
    due_date,
    holds_to_make_ready,
    month_key,
    queue_order,
    renewed_due_date,
    shelf_copy_for,
)
from server.district import LendingRules
from server.errors import RuleViolation

RULES = LendingRules()


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=LOCAL_TZ)


@pytest.mark.parametrize(("lent", "due"), [
    (local(2026, 5, 1, 10, 0), local(2026, 5, 11, 23, 59, 59)),
    (local(2026, 5, 1, 23, 30), local(2026, 5, 11, 23, 59, 59)),
    (local(2026, 5, 2, 0, 30), local(2026, 5, 12, 23, 59, 59)),   # 16:30 UTC the day before
    (local(2026, 12, 28, 9, 0), local(2027, 1, 7, 23, 59, 59)),
])
def test_due_at_the_end_of_the_local_day(lent: datetime, due: datetime) -> None:
    assert due_date(lent.astimezone(UTC), RULES) == due


def test_renewal_extends_from_the_later_of_today_and_the_due_date() -> None:
    due = local(2026, 5, 11, 23, 59, 59)
    assert renewed_due_date(due, local(2026, 5, 5, 9), RULES) == local(2026, 5, 21, 23, 59, 59)
    assert renewed_due_date(due, local(2026, 5, 14, 9), RULES) == local(2026, 5, 24, 23, 59, 59)


def test_days_overdue_count_local_days() -> None:
    due = local(2026, 5, 11, 23, 59, 59)
    assert days_overdue(due, local(2026, 5, 11, 23, 0)) == 0
    assert days_overdue(due, local(2026, 5, 12, 0, 0, 1)) == 1
    assert days_overdue(due, local(2026, 5, 14, 8, 0)) == 3
    assert month_key(datetime(2026, 5, 31, 16, 30, tzinfo=UTC)) == "2026-06"


def standing(**kw: object) -> ReaderStanding:
    return ReaderStanding(**{"blocked_reason": None, "open_loans": {}, "has_overdue": False, **kw})  # type: ignore[arg-type]


@pytest.mark.parametrize(("reader", "fmt", "code"), [
    (standing(), "periodical", "periodical_in_room_only"),
    (standing(blocked_reason="损坏图书"), "book", "reader_blocked"),
    (standing(has_overdue=True), "book", "reader_has_overdue"),
    (standing(open_loans={"book": 5}), "book", "loan_limit_reached"),
    (standing(open_loans={"audio_visual": 2}), "audio_visual", "loan_limit_reached"),
])
def test_lend_refusals(reader: ReaderStanding, fmt: str, code: str) -> None:
    with pytest.raises(RuleViolation) as err:
        check_lend(RULES, reader, fmt, "某书")
    assert err.value.code == code and err.value.detail


def test_lend_limits_count_per_kind_and_follow_the_district_settings() -> None:
    assert check_lend(RULES, standing(open_loans={"book": 5, "audio_visual": 1}), "audio_visual", "碟") == "audio_visual"
    assert check_lend(RULES, standing(open_loans={"audio_visual": 2}), "book", "书") == "book"
    lenient = LendingRules(periodicals_in_room_only=False, block_when_overdue=False)
    assert check_lend(lenient, standing(has_overdue=True), "periodical", "报") == "book"


def test_renew_refusals() -> None:
    now, due = local(2026, 5, 5), local(2026, 5, 11, 23, 59, 59)
    check_renew(RULES, renewals=0, due_at=due, now=now, blocked_reason=None, hold_waiting=False)
    for kw, code in [({"renewals": 1}, "renewal_limit_reached"), ({"now": local(2026, 5, 13)}, "overdue_cannot_renew"),
                     ({"hold_waiting": True}, "hold_waiting"), ({"blocked_reason": "x"}, "reader_blocked")]:
        args = {"renewals": 0, "due_at": due, "now": now, "blocked_reason": None, "hold_waiting": False, **kw}
        with pytest.raises(RuleViolation) as err:
            check_renew(RULES, **args)  # type: ignore[arg-type]
        assert err.value.code == code


@pytest.mark.parametrize(("raw", "expected"), [
    ("9787020002207", "9787020002207"), ("978-7-02-000220-7", "9787020002207"), (" 7-02-000220-x ", "9787020002207"),
    ("SW00000000001", "SW00000000001"), ("sw00000000001", "SW00000000001"),
])
def test_scans_are_normalised(raw: str, expected: str) -> None:
    assert normalise_title_id(raw) == expected


@pytest.mark.parametrize("raw", ["9787020002208", "978702000220", "7020002207", "12345", "ISBN", "9780000000000x"])
def test_bad_scans_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_title_id(raw)


T0 = datetime(2026, 1, 1, tzinfo=UTC)
holds_strategy = st.lists(
    st.tuples(st.sampled_from(["waiting", "ready"]), st.integers(0, 1000)), max_size=8,
).map(lambda rows: [QueuedHold(f"h{i}", f"r{i}", status, T0 + timedelta(minutes=m)) for i, (status, m) in enumerate(rows)])


@given(holds_strategy, st.integers(0, 10))
def test_shelf_copies_serve_the_queue_in_order(holds: list[QueuedHold], on_shelf: int) -> None:
    allowed = [h.reader_id for h in holds if shelf_copy_for(holds, h.reader_id, on_shelf)[0]]
    # The copies serve the first readers in line, never more readers than there are copies.
    first_in_line = [h.reader_id for h in queue_order(holds)][:on_shelf]
    assert sorted(allowed) == sorted(first_in_line)
    outsider, _ = shelf_copy_for(holds, "someone-else", on_shelf)
    assert outsider == (on_shelf > len(holds))
    ready = holds_to_make_ready(holds, on_shelf)
    assert all(h.status == "waiting" and h.reader_id in allowed for h in ready)
    # After promotion every reader who may take a copy has a ready hold.
    assert {h.reader_id for h in ready} | {h.reader_id for h in holds if h.status == "ready"} >= set(allowed)
