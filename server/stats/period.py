"""The period a metric is computed over: local (Asia/Shanghai) days, and their UTC bounds. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from server.circulation.rules import LOCAL_TZ


@dataclass(frozen=True)
class Period:
    """Local days ``first``..``last`` (inclusive); ``until`` is ``last`` capped at today, the
    last day a room could have shown anything."""

    first: date
    last: date
    today: date

    @property
    def until(self) -> date:
        return min(self.last, self.today)

    @property
    def start_utc(self) -> datetime:
        return datetime.combine(self.first, time(), LOCAL_TZ).astimezone(UTC)

    @property
    def end_utc(self) -> datetime:
        """Exclusive: midnight after ``last``."""
        return datetime.combine(self.last + timedelta(days=1), time(), LOCAL_TZ).astimezone(UTC)

    @property
    def text(self) -> str:
        return f"{self.first.isoformat()} 至 {self.until.isoformat()}"

    @property
    def query(self) -> str:
        return f"from={self.first.isoformat()}&to={self.last.isoformat()}"

    def days(self) -> list[date]:
        """Every day of the period up to today."""
        n = (self.until - self.first).days + 1
        return [self.first + timedelta(days=i) for i in range(max(0, n))]


def period_of(round_doc: dict, today: date) -> Period:
    """The round's ``period`` ({from, to} ISO dates), or its calendar year if it has none."""
    period = round_doc.get("period") or {}
    year = int(round_doc.get("year") or today.year)
    first = date.fromisoformat(period["from"]) if period.get("from") else date(year, 1, 1)
    last = date.fromisoformat(period["to"]) if period.get("to") else date(year, 12, 31)
    return Period(first=first, last=last, today=today)


def local_day(at: datetime) -> str:
    return at.astimezone(LOCAL_TZ).date().isoformat()
