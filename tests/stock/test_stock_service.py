"""Stock service against the real stack: receive, write-off, idempotency, concurrency, ledger check."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from server.errors import Conflict, InvalidInput
from server.idempotency import run_once
from server.staff import repo as staff_repo
from server.staff import service as staff_service
from server.stock import repo, service
from server.stock.ledger import Move, MoveKind
from server.stock.models import ReceiptIn, WriteOffIn

ISBN_A = "9787020002207"
ISBN_B = "9787530212004"


def op() -> str:
    return uuid.uuid4().hex


@pytest.fixture(scope="module")
async def actor(seeded):
    doc = await staff_repo.by_username(seeded.db, "jn-xsg-001")
    await seeded.db.titles.insert_many([
        {"_id": ISBN_A, "title": "红楼梦", "author": "曹雪芹", "format": "book"},
        {"_id": ISBN_B, "title": "平凡的世界", "author": "路遥", "format": "book"},
    ])
    return staff_service.actor_for(doc)


async def test_receive_is_idempotent_and_audited(seeded, actor):
    body = ReceiptIn(op_id=op(), reference="S-2026-001", lines=[{"title_id": ISBN_A, "quantity": 3}])
    first = await service.receive(seeded, actor, "JN-XSG-001", body)
    again = await service.receive(seeded, actor, "JN-XSG-001", body)
    assert not first.replayed and again.replayed and again.result == first.result
    h = await repo.holding(seeded.db, "JN-XSG-001", ISBN_A)
    assert h["on_shelf"] == 3
    assert await seeded.db.stock_moves.count_documents({"op_id": body.op_id}) == 1
    assert await seeded.db.audit.count_documents({"action": "stock.receive", "changes.op_id": body.op_id}) == 1


async def test_unknown_title_writes_nothing(seeded, actor):
    before = await seeded.db.stock_moves.count_documents({})
    with pytest.raises(InvalidInput) as err:
        await service.receive(seeded, actor, "JN-XSG-001", ReceiptIn(
            op_id=op(), lines=[{"title_id": ISBN_B, "quantity": 1}, {"title_id": "9787111111116", "quantity": 1}]))
    assert err.value.errors[0].loc == ("body", "lines", 1, "title_id")
    assert await seeded.db.stock_moves.count_documents({}) == before


async def test_write_off_cannot_go_negative_and_refusal_is_remembered(seeded, actor):
    await service.receive(seeded, actor, "JN-XSG-001", ReceiptIn(op_id=op(), lines=[{"title_id": ISBN_B, "quantity": 1}]))
    body = WriteOffIn(op_id=op(), title_id=ISBN_B, quantity=2, reason="lost")
    with pytest.raises(Conflict):
        await service.write_off(seeded, actor, "JN-XSG-001", body)
    # More stock arrives, but the same op_id still gets its first answer.
    await service.receive(seeded, actor, "JN-XSG-001", ReceiptIn(op_id=op(), lines=[{"title_id": ISBN_B, "quantity": 5}]))
    with pytest.raises(Conflict):
        await service.write_off(seeded, actor, "JN-XSG-001", body)
    ok = await service.write_off(seeded, actor, "JN-XSG-001", WriteOffIn(op_id=op(), title_id=ISBN_B, quantity=2, reason="damaged"))
    assert ok.result["quantity"] == 2
    h = await repo.holding(seeded.db, "JN-XSG-001", ISBN_B)
    assert (h["on_shelf"], h["damaged"], h["lost"]) == (4, 2, 0)


async def test_two_lends_of_the_last_copy_exactly_one_wins(seeded, actor):
    room = "JN-XSG-002"
    await seeded.db.holdings.delete_many({"room": room})
    await service.receive(seeded, staff_service.SYSTEM, room, ReceiptIn(op_id=op(), lines=[{"title_id": ISBN_A, "quantity": 1}]))

    async def lend() -> str:
        async def work(session):
            from datetime import UTC, datetime
            await repo.apply_moves(seeded.db, session, [Move(room, ISBN_A, MoveKind.LOAN)], op_id=key,
                                   actor="t", at=datetime.now(UTC))
            return {"ok": True}
        key = op()
        try:
            await run_once(seeded.db, seeded.mongo, op_id=key, kind="loan", room=room, actor="t", work=work)
            return "ok"
        except Conflict:
            return "conflict"

    outcomes = await asyncio.gather(*[lend() for _ in range(6)])
    assert sorted(outcomes) == ["conflict"] * 5 + ["ok"]
    h = await repo.holding(seeded.db, room, ISBN_A)
    assert (h["on_shelf"], h["on_loan"]) == (0, 1)


async def test_check_ledger_finds_tampering(seeded, actor):
    checked, problems = await service.check_ledger(seeded)
    assert checked >= 3 and problems == []
    await seeded.db.holdings.update_one({"room": "JN-XSG-001", "title_id": ISBN_A}, {"$inc": {"on_shelf": 1}})
    _, problems = await service.check_ledger(seeded)
    assert [(p.room, p.title_id) for p in problems] == [("JN-XSG-001", ISBN_A)]
    await seeded.db.holdings.update_one({"room": "JN-XSG-001", "title_id": ISBN_A}, {"$inc": {"on_shelf": -1}})
