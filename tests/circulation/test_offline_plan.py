"""The offline conflict rules as plain functions (``offline_plan.plan_ops``: no database),
and the ledger guard of ``stock.repo.apply_move_groups`` against the real one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from server.circulation.offline_plan import PendingOp, Snapshot, plan_ops
from server.district import LendingRules
from server.resources import Deps
from server.staff.service import SYSTEM
from server.stock import repo as stock_repo
from server.stock.ledger import Move, MoveKind
from server.storage import in_transaction
from tests.circulation import add_title, holding, op, receive

RULES = LendingRules()
NOW = datetime(2026, 5, 10, 8, 0, tzinfo=UTC)
T = "9787020002207"
READER = {"_id": ObjectId(), "card_no": "JN00000001", "birth_year": 1980, "open_loans": {"book": 0}, "blocked": None}


def snapshot(*, shelf: int = 1, on_loan: int = 0, loans: list[dict[str, Any]] | None = None,
             orphans: list[dict[str, Any]] | None = None, known: dict[str, Any] | None = None) -> Snapshot:
    return Snapshot(
        known_ops=known or {}, titles={T: {"title": "红楼梦", "format": "book", "category": "文化"}},
        readers={READER["card_no"]: READER},
        holdings={("R1", T): {"on_shelf": shelf, "on_loan": on_loan, "in_transit": 0, "lost": 0, "damaged": 0}},
        loans=loans or [], holds=[], orphans=orphans or [], rooms={"R1": {"name": "一号书屋"}, "R2": {"name": "二号书屋"}})


def pending(kind: str, hours_ago: float, *, room: str = "R1", card: str | None = READER["card_no"],
            batch: str = "batch-a", index: int = 0, op_id: str | None = None) -> PendingOp:
    return PendingOp(batch_id=batch, index=index, device_id="phone", actor=SYSTEM, op_id=op_id or op(), type=kind,
                     at=NOW - timedelta(hours=hours_ago), room=room, title_id=T, card=card)


def loan(hours_ago: float, *, reader: ObjectId | None = None, returned: float | None = None) -> dict[str, Any]:
    return {"_id": ObjectId(), "reader_id": reader or ObjectId(), "room": "R1", "title_id": T, "format": "book",
            "category": "文化", "age_group": "adult", "lent_at": NOW - timedelta(hours=hours_ago),
            "due_at": NOW + timedelta(days=5), "renewals": 0, "renewed_at": [], "op_ids": [],
            "returned_at": NOW - timedelta(hours=returned) if returned is not None else None, "returned_room": "R1"}


def test_operations_apply_in_event_time_order_whatever_the_order_sent() -> None:
    back, out = pending("return", 1, index=0), pending("loan", 5, index=1)
    plan = plan_ops(snapshot(), [back, out], RULES, NOW)
    assert [plan.outcomes[p.key]["outcome"] for p in (back, out)] == ["applied", "applied"]
    assert [str(m.kind) for g in plan.move_groups for m in g.moves] == ["loan", "return"]
    (new,) = plan.new_loans
    assert new["returned_at"] == back.at and plan.reader_incs[READER["_id"]]["book"] == 0


def test_a_copy_out_to_someone_else_is_returned_at_the_offline_time() -> None:
    earlier, later = loan(48), loan(30)
    p = pending("loan", 10)
    plan = plan_ops(snapshot(shelf=0, on_loan=2, loans=[later, earlier]), [p], RULES, NOW)
    assert plan.outcomes[p.key]["code"] == "copy_out_to_another"
    (update,) = plan.loan_updates
    assert update[0]["_id"] == earlier["_id"] and update[1]["returned_at"] == p.at
    assert [str(m.kind) for m in plan.move_groups[0].moves] == ["return", "loan"]
    (conflict,) = plan.conflicts
    assert conflict["applied"] and conflict["other_loan_id"] == earlier["_id"]


def test_a_loan_made_after_the_offline_one_wins() -> None:
    p = pending("loan", 10)
    plan = plan_ops(snapshot(shelf=0, on_loan=1, loans=[loan(2)]), [p], RULES, NOW)
    assert plan.outcomes[p.key]["code"] == "copy_lent_later"
    assert not plan.move_groups and not plan.new_loans and not plan.loan_updates


def test_a_late_loan_closes_on_the_return_that_came_before_it() -> None:
    orphan = {"_id": ObjectId(), "title_id": T, "room": "R2", "at": NOW - timedelta(hours=3), "reader_id": None,
              "op_id": "orphan-return", "uploaded_by": "jn-gg-001", "resolved": False}
    p = pending("loan", 20)
    plan = plan_ops(snapshot(orphans=[orphan]), [p], RULES, NOW)
    assert (plan.outcomes[p.key]["outcome"], plan.outcomes[p.key]["code"]) == ("applied", "matched_earlier_return")
    assert [(m.room, str(m.kind)) for m in plan.move_groups[0].moves] == [("R1", "loan"), ("R1", "return_out")]
    assert plan.new_loans[0]["returned_room"] == "R2" and not plan.reader_incs
    assert plan.conflict_updates[0][0] == {"_id": orphan["_id"], "resolved": False}


def test_a_return_the_server_recorded_later_changes_nothing() -> None:
    p = pending("return", 10)
    plan = plan_ops(snapshot(shelf=1, loans=[loan(30, reader=READER["_id"], returned=2)]), [p], RULES, NOW)
    assert plan.outcomes[p.key]["code"] == "already_returned" and not plan.move_groups


def test_duplicates_and_interrupted_runs() -> None:
    first, again = pending("in_room_use", 3, op_id="op-same-1", index=0), pending("in_room_use", 3, op_id="op-same-1",
                                                                                  index=1)
    plan = plan_ops(snapshot(), [first, again], RULES, NOW)
    assert [plan.outcomes[p.key]["outcome"] for p in (first, again)] == ["applied", "duplicate"]
    recorded = {"op-same-1": {"_id": "op-same-1", "batch_id": "batch-a", "index": 0, "result": {"outcome": "applied"}}}
    plan = plan_ops(snapshot(known=recorded), [first, again], RULES, NOW)
    assert plan.outcomes[first.key] == {"outcome": "applied"} and plan.outcomes[again.key]["outcome"] == "duplicate"
    assert not plan.operations


@pytest.mark.usefixtures("ledger_stays_clean")
async def test_apply_move_groups_guards_every_step_not_just_the_sum(seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, "JN-XSG-001", title, 1)

    def groups(*kinds: MoveKind) -> list[stock_repo.MoveGroup]:
        return [stock_repo.MoveGroup(op_id=op(), moves=[Move("JN-XSG-001", title, k)], actor="t", at=NOW) for k in kinds]

    async def apply(gs: list[stock_repo.MoveGroup]) -> None:
        async def work(session: Any) -> None:
            await stock_repo.apply_move_groups(seeded.db, session, gs)
        await in_transaction(seeded.mongo, work)

    await apply(groups(MoveKind.LOAN, MoveKind.RETURN, MoveKind.LOAN))  # 1 → 0 → 1 → 0 on the shelf
    assert await holding(seeded, "JN-XSG-001", title) == {"on_shelf": 0, "on_loan": 1, "in_transit": 0, "lost": 0,
                                                          "damaged": 0}
    moves = await seeded.db.stock_moves.count_documents({"title_id": title})
    with pytest.raises(stock_repo.InsufficientStock):  # nets to zero, but the shelf would go to -1 first
        await apply(groups(MoveKind.LOAN, MoveKind.RETURN))
    assert await seeded.db.stock_moves.count_documents({"title_id": title}) == moves
    await apply(groups(MoveKind.RETURN_IN))  # only increases: a holding never seen before is created
    other = await add_title(seeded)
    await apply([stock_repo.MoveGroup(op_id=op(), moves=[Move("JN-GG-001", other, MoveKind.RETURN_IN)], actor="t",
                                      at=NOW)])
    assert (await holding(seeded, "JN-GG-001", other))["on_shelf"] == 1
