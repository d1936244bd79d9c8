"""Reader-count snapshots: distinct readers per room, town and district, and the max rule
that keeps them through the anonymisation of the loan history (Public Library Law art. 43)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bson import ObjectId

from server.circulation.jobs import anonymise_loan_history
from server.resources import Deps
from server.stats import readers_stats as rs

A, B, G = "JN-XSG-001", "JN-XSG-002", "JN-GG-001"
R1, R2, R3 = ObjectId(), ObjectId(), ObjectId()
TODAY = date(2025, 11, 20)


def loan(reader: ObjectId, room: str, at: datetime, *, child: bool = False) -> dict:
    return {"reader_id": reader, "room": room, "title_id": "9787510000011", "format": "book", "category": "科技",
            "age_group": "child" if child else "adult", "lent_at": at, "due_at": at + timedelta(days=10),
            "returned_at": at + timedelta(days=2), "returned_room": room, "renewals": 0, "renewed_at": []}


def test_default_periods_catch_up_at_the_start_of_a_month() -> None:
    assert rs.default_periods(date(2026, 5, 20)) == ["2026", "2026-05"]
    assert rs.default_periods(date(2026, 5, 3)) == ["2026", "2026-05", "2026-04"]
    assert rs.default_periods(date(2026, 1, 2)) == ["2026", "2026-01", "2025-12", "2025"]
    assert rs.year_periods(2025, date(2026, 1, 2))[-1] == "2025-12"
    assert rs.period_bounds("2024-02", TODAY).last == date(2024, 2, 29)


def test_count_readers_counts_each_reader_once_per_scope() -> None:
    counts = rs.count_readers([{"rooms": [A, B], "child": 1}, {"rooms": [A, G], "child": 0}],
                              {A: "咸水沽镇", B: "咸水沽镇", G: "葛沽镇"})
    assert counts["*"] == {"active_readers": 2, "child_readers": 1}
    assert counts[A]["active_readers"] == 2 and counts[B]["active_readers"] == 1
    assert counts["town:咸水沽镇"]["active_readers"] == 2 and counts["town:葛沽镇"]["active_readers"] == 1


async def test_snapshot_survives_anonymisation(seeded: Deps) -> None:
    db = seeded.db
    may = datetime(2025, 5, 10, 3, tzinfo=UTC)
    await db.loans.insert_many([loan(R1, A, may, child=True), loan(R1, B, may), loan(R2, A, may),
                                loan(R3, G, may), loan(R3, G, may + timedelta(days=1))])
    await db.readers.insert_many([{"_id": R1, "card_no": "T-STATS-1", "home_room": A, "birth_year": 2015, "created_at": may},
                                  {"_id": R2, "card_no": "T-STATS-2", "home_room": G, "birth_year": 1980, "created_at": may}])
    written = await rs.snapshot(seeded, TODAY, ["2025", "2025-05", "2025-06"])
    assert written > 0
    got = await rs.stored(seeded, ["*", A, B, G, "town:咸水沽镇", "town:葛沽镇"], ["2025", "2025-05", "2025-06"])
    assert got[("*", "2025")]["active_readers"] == 3 and got[("*", "2025")]["child_readers"] == 1
    assert got[("*", "2025")]["new_readers"] == 2
    assert got[(A, "2025")]["active_readers"] == 2 and got[(B, "2025")]["active_readers"] == 1
    assert got[("town:咸水沽镇", "2025-05")]["active_readers"] == 2  # R1 in A and B counts once
    assert got[("town:葛沽镇", "2025")]["new_readers"] == 1
    assert got[("*", "2025-06")]["active_readers"] == 0  # counted: nobody borrowed
    assert "reader_id" not in got[("*", "2025")] and not any(isinstance(v, ObjectId) for v in got[("*", "2025")].values())

    # A year and more later the loans lose their readers; a recount finds nobody …
    report = await anonymise_loan_history(seeded, datetime(2027, 1, 1, tzinfo=UTC))
    assert report.loans == 5
    assert await db.loans.count_documents({"reader_id": {"$ne": None}}) == 0
    await rs.snapshot(seeded, TODAY, ["2025", "2025-05"])
    # … and the stored figures stay what they were.
    again = await rs.stored(seeded, ["*", A, "town:咸水沽镇"], ["2025", "2025-05"])
    assert again[("*", "2025")]["active_readers"] == 3 and again[(A, "2025")]["active_readers"] == 2
    assert again[("town:咸水沽镇", "2025-05")]["active_readers"] == 2
    assert rs.active_readers(again, ["*"], "2025") == 3
    assert rs.active_readers(again, ["*"], "2019") is None

    # New loans in the period raise the figure again.
    await db.loans.insert_many([loan(ObjectId(), A, may) for _ in range(4)])
    await rs.snapshot(seeded, TODAY, ["2025"])
    assert (await rs.stored(seeded, ["*"], ["2025"]))[("*", "2025")]["active_readers"] == 4
