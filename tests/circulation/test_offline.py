"""Offline sync, by example: every conflict rule, replays and duplicates, per-operation
validation, room scope, bad envelopes, the conflicts API and the console page.

Times are event times on the phone: an operation "at" two days ago is applied as of
two days ago (lent_at, returned_at, due dates, monthly statistics).
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from server.circulation import jobs, offline, offline_repo, service
from server.circulation.models import LendIn, ReturnIn
from server.circulation.offline_models import OfflineBatchIn, OfflineBatchOut, ResolveIn
from server.circulation.offline_state import PendingOp
from server.circulation.rules import LOCAL_TZ
from server.errors import Conflict, InvalidInput
from server.resources import Deps
from server.staff.roles import Actor
from server.staff.service import SYSTEM
from tests.circulation import add_reader, add_title, holding, new_isbn, op, receive
from tests.conftest import CommandCounter, Session, check_invariants
from tests.web.test_pages import form_login

pytestmark = pytest.mark.usefixtures("ledger_stays_clean")
ROOM = "JN-XSG-001"   # as_role["room_admin"]'s room
OTHER = "JN-GG-001"   # as_role["room_admin_other"]'s room
THIRD = "JN-XZ-001"


def ago(**delta: float) -> datetime:
    return datetime.now(UTC) - timedelta(**delta)


def oop(kind: str, room: str, code: str, at: datetime, card: str | None = None, **extra: Any) -> dict[str, Any]:
    """One operation as the phone logs it (local time with its +08:00 offset)."""
    body: dict[str, Any] = {"op_id": extra.pop("op_id", None) or op(), "type": kind, "room": room, "code": code,
                            "at": at.astimezone(LOCAL_TZ).isoformat()}
    if card is not None:
        body["card"] = card
    return {**body, **extra}


async def upload(deps: Deps, ops: list[Any], *, device: str = "phone-1", batch_id: str | None = None,
                 actor: Actor = SYSTEM) -> OfflineBatchOut:
    body = OfflineBatchIn.model_validate({"batch_id": batch_id or op(), "device_id": device, "ops": ops})
    return await offline.upload_batch(deps, actor, body)


def outcomes(out: OfflineBatchOut) -> list[tuple[str, str | None]]:
    return [(o.outcome, o.code) for o in out.outcomes]


async def loan_doc(deps: Deps, loan_id: str | None) -> dict[str, Any]:
    assert loan_id
    doc = await deps.db.loans.find_one({"_id": ObjectId(loan_id)})
    assert doc is not None
    return doc


async def open_conflicts(deps: Deps, op_id: str) -> list[dict[str, Any]]:
    return await deps.db.offline_conflicts.find({"op_id": op_id}).to_list()


# -- the plain case ---------------------------------------------------------------------------------


async def test_a_day_offline_is_applied_in_event_time_order(seeded: Deps) -> None:
    title = await add_title(seeded, title="平凡的世界", category="文化")
    await receive(seeded, ROOM, title, 2)
    reader = await add_reader(seeded, ROOM)
    card = reader["card_no"]
    t_loan, t_renew, t_return = ago(days=3), ago(days=2), ago(days=1)
    ops = [  # sent out of order: the server sorts by event time
        oop("return", ROOM, title, t_return, card),
        oop("renew", ROOM, title, t_renew, card),
        oop("loan", ROOM, title, t_loan, card),
        oop("in_room_use", ROOM, title, t_loan, count=3),
    ]
    out = await upload(seeded, ops)
    assert out.replayed is False
    assert [o.op_id for o in out.outcomes] == [o["op_id"] for o in ops]
    assert outcomes(out) == [("applied", None)] * 4, out
    assert "平凡的世界" in out.outcomes[2].message
    loan = await loan_doc(seeded, out.outcomes[2].loan_id)
    assert out.outcomes[0].loan_id == out.outcomes[1].loan_id == str(loan["_id"])
    assert abs(loan["lent_at"] - t_loan) < timedelta(milliseconds=1)
    assert abs(loan["returned_at"] - t_return) < timedelta(milliseconds=1)
    assert loan["renewals"] == 1 and loan["lent_by"] == "system"
    assert await holding(seeded, ROOM, title) == {"on_shelf": 2, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0}
    stored = await seeded.db.readers.find_one({"card_no": card})
    assert stored["open_loans"]["book"] == 0
    batch = await seeded.db.offline_batches.find_one({"_id": out.batch_id})
    assert batch["state"] == "applied" and batch["actor"]["username"] == "system"
    assert len(batch["body"]["ops"]) == 4  # the operations as received
    for o in ops:
        record = await seeded.db.operations.find_one({"_id": o["op_id"]})
        assert record["kind"] == f"offline_{o['type']}" and record["batch_id"] == out.batch_id


async def test_replay_answers_the_stored_outcomes_and_applies_nothing(seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 1)
    reader = await add_reader(seeded, ROOM)
    ops = [oop("loan", ROOM, title, ago(hours=5), reader["card_no"]), {"op_id": "broken"}]
    first = await upload(seeded, ops)
    moves = await seeded.db.stock_moves.count_documents({})
    again = await upload(seeded, ops, batch_id=first.batch_id)
    assert again.replayed is True
    assert again.outcomes == first.outcomes and again.stored_at == first.stored_at
    assert await seeded.db.stock_moves.count_documents({}) == moves
    assert await seeded.db.offline_batches.count_documents({"_id": first.batch_id}) == 1
    with pytest.raises(Conflict) as refused:
        await upload(seeded, ops[:1], batch_id=first.batch_id)
    assert refused.value.code == "batch_id_reused"


async def test_an_op_applied_online_or_in_another_batch_is_a_duplicate(seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 3)
    reader = await add_reader(seeded, ROOM)
    online = await service.lend(seeded, SYSTEM, ROOM, LendIn(op_id=op(), card_no=reader["card_no"], title_id=title))
    # The phone's request timed out, so it also queued the same operation offline.
    replayed_online = oop("loan", ROOM, title, ago(minutes=1), reader["card_no"], op_id=online.op_id)
    fresh = oop("loan", ROOM, title, ago(minutes=2), reader["card_no"])
    out = await upload(seeded, [replayed_online, fresh, dict(fresh)])  # and one listed twice
    assert outcomes(out) == [("duplicate", "already_applied"), ("applied", None), ("duplicate", "already_applied")]
    assert out.outcomes[0].loan_id == online.loan.id
    other_phone = await upload(seeded, [fresh], device="phone-2")
    assert outcomes(other_phone) == [("duplicate", "already_applied")]
    assert other_phone.outcomes[0].loan_id == out.outcomes[1].loan_id
    assert await holding(seeded, ROOM, title) == {"on_shelf": 1, "on_loan": 2, "in_transit": 0, "lost": 0, "damaged": 0}


async def test_concurrent_uploads_and_desk_writes_apply_each_op_once(seeded: Deps) -> None:
    """Real concurrency: the same batch twice, the same operation in two batches from two phones,
    and desk loans of the same title, all at once."""
    import asyncio

    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 3)
    readers = [await add_reader(seeded, ROOM) for _ in range(4)]
    shared = oop("loan", ROOM, title, ago(hours=4), readers[0]["card_no"])
    a = [shared, oop("return", ROOM, title, ago(hours=2), readers[0]["card_no"])]
    b = [dict(shared), oop("in_room_use", ROOM, title, ago(hours=3))]
    batch_a = op()
    results = await asyncio.gather(
        upload(seeded, a, batch_id=batch_a), upload(seeded, a, batch_id=batch_a), upload(seeded, b, device="phone-2"),
        *[service.lend(seeded, SYSTEM, ROOM, LendIn(op_id=op(), card_no=r["card_no"], title_id=title))
          for r in readers[1:]], return_exceptions=True)
    first, again, other = results[:3]
    assert isinstance(first, OfflineBatchOut) and isinstance(again, OfflineBatchOut), results
    assert first.outcomes == again.outcomes and {first.replayed, again.replayed} == {False, True}
    assert isinstance(other, OfflineBatchOut)
    # The shared operation took effect once (applied, or — if the desk took every copy first —
    # a copy_lent_later conflict); the other batch got "duplicate".
    shared_outcomes = sorted(o.outcome for o in (first.outcomes[0], other.outcomes[0]))
    assert shared_outcomes in (["applied", "duplicate"], ["conflict", "duplicate"]), (first.outcomes, other.outcomes)
    assert await seeded.db.operations.count_documents({"_id": shared["op_id"]}) == 1
    assert await seeded.db.stock_moves.count_documents({"op_id": shared["op_id"]}) <= 1
    for refused in (r for r in results[3:] if isinstance(r, BaseException)):
        assert getattr(refused, "code", "") == "none_on_shelf", refused
    open_loans = await seeded.db.loans.count_documents({"title_id": title, "returned_at": None})
    shelf = await holding(seeded, ROOM, title)
    # Copies: the three received, plus any return the server could not match (put on the shelf, listed).
    unmatched = await seeded.db.offline_conflicts.count_documents({"title_id": title, "code": "return_without_loan"})
    assert shelf["on_loan"] == open_loans and shelf["on_shelf"] + shelf["on_loan"] == 3 + unmatched


# -- conflicts -------------------------------------------------------------------------------------------


async def test_copy_out_to_someone_else_is_closed_at_the_offline_time(seeded: Deps) -> None:
    title = await add_title(seeded, title="围城")
    await receive(seeded, ROOM, title, 1)
    first, second = await add_reader(seeded, ROOM), await add_reader(seeded, ROOM)
    lent = await upload(seeded, [oop("loan", ROOM, title, ago(days=4), first["card_no"])])
    t = ago(days=1)
    out = await upload(seeded, [oop("loan", ROOM, title, t, second["card_no"])], device="phone-2")
    (result,) = out.outcomes
    assert (result.outcome, result.code) == ("conflict", "copy_out_to_another")
    old = await loan_doc(seeded, lent.outcomes[0].loan_id)
    assert abs(old["returned_at"] - t) < timedelta(milliseconds=1) and "closed_by_offline_loan" in old["flags"]
    new = await loan_doc(seeded, result.loan_id)
    assert new["returned_at"] is None and str(new["reader_id"]) == second["id"]
    assert await holding(seeded, ROOM, title) == {"on_shelf": 0, "on_loan": 1, "in_transit": 0, "lost": 0, "damaged": 0}
    (conflict,) = await open_conflicts(seeded, result.op_id)
    assert conflict["applied"] is True and conflict["other_loan_id"] == old["_id"] and not conflict["resolved"]
    counts = {r["card_no"]: r["open_loans"]["book"]
              for r in await seeded.db.readers.find({"card_no": {"$in": [first["card_no"], second["card_no"]]}}).to_list()}
    assert counts == {first["card_no"]: 0, second["card_no"]: 1}


async def test_a_newer_server_loan_wins_over_an_older_offline_one(seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 1)
    online_reader, offline_reader = await add_reader(seeded, ROOM), await add_reader(seeded, ROOM)
    await service.lend(seeded, SYSTEM, ROOM, LendIn(op_id=op(), card_no=online_reader["card_no"], title_id=title))
    before = await holding(seeded, ROOM, title)
    out = await upload(seeded, [oop("loan", ROOM, title, ago(hours=3), offline_reader["card_no"])])
    assert outcomes(out) == [("conflict", "copy_lent_later")] and out.outcomes[0].loan_id is None
    assert await holding(seeded, ROOM, title) == before
    (conflict,) = await open_conflicts(seeded, out.outcomes[0].op_id)
    assert conflict["applied"] is False


async def test_no_copy_in_the_room_is_a_conflict_and_changes_nothing(seeded: Deps) -> None:
    title = await add_title(seeded)
    reader = await add_reader(seeded, ROOM)
    out = await upload(seeded, [oop("loan", ROOM, title, ago(hours=3), reader["card_no"])])
    assert outcomes(out) == [("conflict", "no_copy_on_shelf")]
    assert await seeded.db.loans.count_documents({"title_id": title}) == 0


async def test_return_without_loan_is_shelved_and_matched_when_the_loan_arrives(seeded: Deps) -> None:
    title = await add_title(seeded, title="活着")
    await receive(seeded, ROOM, title, 1)
    reader = await add_reader(seeded, ROOM)
    t_loan, t_return = ago(days=3), ago(days=1)
    # Phone 2 (another room) syncs first: a return of a loan the server has not heard of.
    back = await upload(seeded, [oop("return", OTHER, title, t_return)], device="phone-2")
    assert outcomes(back) == [("conflict", "return_without_loan")]
    assert "放回" in back.outcomes[0].message
    assert (await holding(seeded, OTHER, title))["on_shelf"] == 1  # physically there: it can be lent again
    (orphan,) = await open_conflicts(seeded, back.outcomes[0].op_id)
    assert orphan["applied"] is True and not orphan["resolved"]
    # Phone 1 syncs later: the loan that copy belonged to.
    late = await upload(seeded, [oop("loan", ROOM, title, t_loan, reader["card_no"])])
    assert outcomes(late) == [("applied", "matched_earlier_return")]
    loan = await loan_doc(seeded, late.outcomes[0].loan_id)
    assert loan["returned_room"] == OTHER and abs(loan["returned_at"] - t_return) < timedelta(milliseconds=1)
    assert await holding(seeded, ROOM, title) == {"on_shelf": 0, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0}
    assert await holding(seeded, OTHER, title) == {"on_shelf": 1, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0}
    (orphan,) = await open_conflicts(seeded, back.outcomes[0].op_id)
    assert orphan["resolved"] and orphan["resolved_by"] == "system" and orphan["loan_id"] == loan["_id"]
    assert (await seeded.db.readers.find_one({"card_no": reader["card_no"]}))["open_loans"]["book"] == 0


async def test_a_return_recorded_later_online_wins(seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 1)
    reader = await add_reader(seeded, ROOM)
    await upload(seeded, [oop("loan", ROOM, title, ago(days=3), reader["card_no"])])
    await service.return_item(seeded, SYSTEM, ROOM, ReturnIn(op_id=op(), title_id=title))
    before = await holding(seeded, ROOM, title)
    out = await upload(seeded, [oop("return", ROOM, title, ago(days=1), reader["card_no"]),
                                oop("renew", ROOM, title, ago(days=2), reader["card_no"])], device="phone-2")
    assert outcomes(out) == [("conflict", "already_returned"), ("conflict", "returned_later")]
    assert await holding(seeded, ROOM, title) == before
    loan = await loan_doc(seeded, out.outcomes[1].loan_id)
    assert loan["renewals"] == 0


async def test_offline_loans_beyond_the_rules_are_applied_and_flagged(seeded: Deps) -> None:
    discs = [await add_title(seeded, fmt="audio_visual") for _ in range(3)]
    paper = await add_title(seeded, fmt="periodical")
    for t in [*discs, paper]:
        await receive(seeded, ROOM, t, 1)
    reader = await add_reader(seeded, ROOM)
    card = reader["card_no"]
    out = await upload(seeded, [oop("loan", ROOM, t, ago(hours=5 - i), card) for i, t in enumerate(discs)]
                       + [oop("loan", ROOM, paper, ago(hours=1), card)])
    assert outcomes(out) == [("applied", None), ("applied", None), ("conflict", "over_limit"),
                             ("conflict", "periodical_in_room_only")]
    assert all(o.loan_id for o in out.outcomes)  # the books left the room: every loan is recorded
    stored = await seeded.db.readers.find_one({"card_no": card})
    assert stored["open_loans"] == {"book": 1, "audio_visual": 3}


async def test_blocked_reader_and_renewal_rules(seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 1)
    reader = await add_reader(seeded, ROOM)
    await seeded.db.readers.update_one({"card_no": reader["card_no"]}, {"$set": {"blocked": {"reason": "损坏图书未赔偿"}}})
    card = reader["card_no"]
    out = await upload(seeded, [oop("loan", ROOM, title, ago(days=6), card),
                                oop("renew", ROOM, title, ago(days=5), card)])
    assert outcomes(out) == [("conflict", "reader_blocked"), ("conflict", "reader_blocked")]
    assert "续借没有生效" in out.outcomes[1].message
    await seeded.db.readers.update_one({"card_no": card}, {"$set": {"blocked": None}})
    out = await upload(seeded, [oop("renew", ROOM, title, ago(days=4), card),
                                oop("renew", ROOM, title, ago(days=3), card)])
    assert outcomes(out) == [("applied", None), ("conflict", "renewal_limit_reached")]
    stranger = await add_reader(seeded, ROOM)
    out = await upload(seeded, [oop("renew", ROOM, title, ago(days=3), stranger["card_no"])])
    assert outcomes(out) == [("conflict", "renew_without_loan")]


async def test_unknown_card_keeps_the_loan_for_a_pending_reader(seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 2)
    out = await upload(seeded, [oop("loan", ROOM, title, ago(hours=2), "JN99999999"),
                                oop("renew", ROOM, title, ago(hours=1), "JN99999998")])
    assert outcomes(out) == [("conflict", "unknown_card"), ("conflict", "unknown_card")]
    loan = await loan_doc(seeded, out.outcomes[0].loan_id)
    assert loan["reader_id"] is None and loan["pending_card"] == "JN99999999"
    assert (await holding(seeded, ROOM, title))["on_loan"] == 1
    (conflict,) = await open_conflicts(seeded, out.outcomes[0].op_id)
    cid = str(conflict["_id"])
    with pytest.raises(Conflict) as still:
        await offline.resolve_conflict(seeded, SYSTEM, cid, _resolve(note="读者尚未登记"))
    assert still.value.code == "card_still_unknown"
    reader = await add_reader(seeded, ROOM)  # registered afterwards (the phone typed a wrong number)
    done = await offline.resolve_conflict(seeded, SYSTEM, cid, _resolve(note="补办借阅证", card=reader["card_no"]))
    assert done.reapplied and done.conflict.resolved and done.conflict.reader and done.conflict.reader.id == reader["id"]
    loan = await loan_doc(seeded, out.outcomes[0].loan_id)
    assert str(loan["reader_id"]) == reader["id"] and "pending_card" not in loan
    assert (await seeded.db.readers.find_one({"card_no": reader["card_no"]}))["open_loans"]["book"] == 1
    (renew_conflict,) = await open_conflicts(seeded, out.outcomes[1].op_id)
    closed = await offline.resolve_conflict(seeded, SYSTEM, str(renew_conflict["_id"]), _resolve(note="已核对"))
    assert not closed.reapplied and closed.conflict.resolved
    # A card nobody can find: the loan stays with its pending reader once the district closes the case.
    lost = await upload(seeded, [oop("loan", ROOM, title, ago(minutes=30), "JN99999997")])
    (conflict,) = await open_conflicts(seeded, lost.outcomes[0].op_id)
    with pytest.raises(InvalidInput):
        await offline.resolve_conflict(seeded, SYSTEM, str(conflict["_id"]), _resolve(note="改号", card="JN99999996"))
    dismissed = await offline.resolve_conflict(seeded, SYSTEM, str(conflict["_id"]),
                                               _resolve(note="读者无法联系", dismiss=True))
    assert dismissed.conflict.resolved and not dismissed.reapplied
    assert (await loan_doc(seeded, lost.outcomes[0].loan_id))["pending_card"] == "JN99999997"


def _resolve(**fields: Any) -> ResolveIn:
    return ResolveIn.model_validate(fields)


async def test_holds_are_met_and_promoted_by_offline_operations(seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 1)
    borrower, waiter = await add_reader(seeded, ROOM), await add_reader(seeded, ROOM)
    now = datetime.now(UTC)
    await seeded.db.holds.insert_many([
        {"reader_id": ObjectId(borrower["id"]), "title_id": title, "pickup_room": ROOM, "status": "waiting",
         "placed_at": now - timedelta(days=9), "active_key": f"{borrower['id']}|{title}", "routed_from": None},
        {"reader_id": ObjectId(waiter["id"]), "title_id": title, "pickup_room": ROOM, "status": "waiting",
         "placed_at": now - timedelta(days=8), "active_key": f"{waiter['id']}|{title}", "routed_from": None},
    ])
    out = await upload(seeded, [oop("loan", ROOM, title, ago(days=3), borrower["card_no"]),
                                oop("return", ROOM, title, ago(days=1), borrower["card_no"])])
    assert outcomes(out) == [("applied", None), ("applied", None)]
    holds = {str(h["reader_id"]): h for h in await seeded.db.holds.find({"title_id": title}).to_list()}
    assert holds[borrower["id"]]["status"] == "fulfilled" and str(holds[borrower["id"]]["loan_id"]) == out.outcomes[0].loan_id
    assert holds[waiter["id"]]["status"] == "ready" and holds[waiter["id"]]["expires_at"]
    # The waiting reader hears about it, like after a return at the desk.
    event = await seeded.db.notifications.find_one({"_id": f"hold_ready:{holds[waiter['id']]['_id']}"})
    assert event is not None and event["reader_id"] == ObjectId(waiter["id"]) and event["status"] == "pending"
    assert await seeded.db.notifications.count_documents({"reader_id": ObjectId(borrower["id"])}) == 0


# -- validation and storage ---------------------------------------------------------------------------


async def test_each_operation_is_validated_on_its_own(seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 1)
    reader = await add_reader(seeded, ROOM)
    good = oop("in_room_use", ROOM, title, ago(hours=1))
    naive = oop("in_room_use", ROOM, title, ago(hours=1))
    naive["at"] = "2026-01-01T10:00:00"
    ops: list[Any] = [
        good,
        {"type": "loan", "room": ROOM, "code": title, "at": good["at"]},                # no op_id
        oop("loan", ROOM, "9787000000000", ago(hours=1), reader["card_no"]),               # bad check digit
        naive,
        oop("in_room_use", ROOM, title, datetime.now(UTC) + timedelta(days=2)),            # phone clock ahead
        oop("in_room_use", "JN-XSG-999", title, ago(hours=1)),                             # no such room
        oop("loan", ROOM, title, ago(hours=1)),                                             # loan without a card
        oop("in_room_use", ROOM, title, ago(hours=1), extra_field=1),
        oop("in_room_use", ROOM, new_isbn(), ago(hours=1)),                                 # not catalogued
        42,
        oop("in_room_use", ROOM, title, ago(hours=1), note="x\ud800y"),
        oop("return", ROOM, title, ago(days=400)),
    ]
    out = await upload(seeded, ops)
    assert len(out.outcomes) == len(ops)
    assert out.outcomes[0].outcome == "applied"
    assert [o.outcome for o in out.outcomes[1:]] == ["rejected"] * (len(ops) - 1), out
    codes = [o.code for o in out.outcomes[1:]]
    assert codes[:7] == ["invalid_op", "invalid_op", "invalid_op", "future_time", "unknown_room", "invalid_op",
                         "invalid_op"]
    assert codes[7:] == ["unknown_title", "invalid_op", "invalid_op", "too_old"]
    assert "缺少操作编号" in out.outcomes[1].message and "ISBN" in out.outcomes[2].message
    assert "时区" in out.outcomes[3].message and "借阅证号" in out.outcomes[6].message
    assert out.outcomes[9].op_id == "" and out.outcomes[9].type == ""
    assert "无法识别的字符" in out.outcomes[10].message or "多余的字段" in out.outcomes[10].message
    stored = await seeded.db.offline_batches.find_one({"_id": out.batch_id})
    assert len(stored["body"]["ops"]) == len(ops) and "\\ud800" in stored["body"]["ops"][10]


async def test_a_batch_interrupted_before_applying_is_finished_by_the_next_upload(seeded: Deps) -> None:
    """Batches are stored before they are applied; whatever is pending is applied with the next
    upload, every phone's operations together in event-time order."""
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 1)
    reader = await add_reader(seeded, ROOM)
    loan = oop("loan", ROOM, title, ago(days=2), reader["card_no"])
    body = OfflineBatchIn.model_validate({"batch_id": op(), "device_id": "phone-1", "ops": [loan]})
    texts = [offline.raw_text(o) for o in body.ops]
    # What upload_batch stores before applying; the process "dies" right after.
    await offline_repo.insert_batch(seeded.db, {
        "_id": body.batch_id, "device_id": body.device_id, "actor": offline._actor_doc(SYSTEM),
        "received_at": datetime.now(UTC), "digest": offline._digest(body, texts), "state": "stored",
        "outcomes": None, "body": {"batch_id": body.batch_id, "device_id": body.device_id, "ops": texts},
        "ops": await offline._check_ops(seeded, SYSTEM, body, texts)})
    # Another room's phone returns the book later in event time, and uploads first.
    back = await upload(seeded, [oop("return", OTHER, title, ago(days=1))], device="phone-9")
    assert outcomes(back) == [("applied", None)]  # the pending loan was applied first
    first = await upload(seeded, [loan], batch_id=body.batch_id)
    assert first.replayed is True and outcomes(first) == [("applied", None)]
    assert await holding(seeded, OTHER, title) == {"on_shelf": 1, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0}


async def test_a_run_cut_short_keeps_the_outcomes_already_applied(seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 2)
    reader = await add_reader(seeded, ROOM)
    ops = [oop("loan", ROOM, title, ago(days=2), reader["card_no"]), oop("in_room_use", ROOM, title, ago(days=1))]
    body = OfflineBatchIn.model_validate({"batch_id": op(), "device_id": "phone-1", "ops": ops})
    texts = [offline.raw_text(o) for o in body.ops]
    checked = await offline._check_ops(seeded, SYSTEM, body, texts)
    await offline_repo.insert_batch(seeded.db, {
        "_id": body.batch_id, "device_id": body.device_id, "actor": offline._actor_doc(SYSTEM),
        "received_at": datetime.now(UTC), "digest": offline._digest(body, texts), "state": "stored",
        "outcomes": None, "body": {}, "ops": checked})
    # The first chunk (the loan) committed, then the process died.
    first = PendingOp(batch_id=body.batch_id, index=0, device_id="phone-1", actor=SYSTEM, op_id=ops[0]["op_id"],
                              type="loan", at=checked[0]["at"], room=ROOM, title_id=title, card=reader["card_no"])
    decided = await offline._apply_chunk(seeded, [first], await offline_repo.rooms(seeded.db))
    out = await upload(seeded, ops, batch_id=body.batch_id)
    assert outcomes(out) == [("applied", None), ("applied", None)]
    assert out.outcomes[0].model_dump() == decided[first.key]  # its first outcome, not "duplicate"
    assert await seeded.db.loans.count_documents({"title_id": title}) == 1


async def test_uploading_costs_a_fixed_number_of_commands(seeded: Deps, command_counter: CommandCounter) -> None:
    """HOW_WE_BUILD §6: no query in a loop — a batch of 150 operations and one of 15 send as many."""
    titles = [await add_title(seeded) for _ in range(5)]
    for t in titles:
        await receive(seeded, ROOM, t, 40)
    readers = [await add_reader(seeded, ROOM) for _ in range(25)]  # none goes over the limit

    async def count(n: int) -> int:
        ops = [oop("loan" if i % 3 else "in_room_use", ROOM, titles[i % 5], ago(minutes=300 - i),
                   readers[i % 25]["card_no"] if i % 3 else None) for i in range(n)]
        command_counter.reset()
        out = await upload(seeded, ops)
        assert {o.outcome for o in out.outcomes} <= {"applied", "conflict"}
        return len(command_counter.commands)

    small, large = await count(15), await count(150)
    assert large == small, (small, large, command_counter.commands)
    assert large <= 40, command_counter.commands


# -- over HTTP: scope, bad envelopes, conflicts API -------------------------------------------------------


def batch_body(ops: list[Any], **extra: Any) -> dict[str, Any]:
    return {"batch_id": op(), "device_id": "phone-http", "ops": ops, **extra}


async def test_a_room_admin_cannot_upload_for_another_room(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                           seeded: Deps) -> None:
    title = await add_title(seeded)
    await receive(seeded, ROOM, title, 1)
    await receive(seeded, OTHER, title, 1)
    response = await client.post("/api/v1/offline-batches", headers=as_role["room_admin"].headers, json=batch_body([
        oop("in_room_use", ROOM, title, ago(hours=1)), oop("in_room_use", OTHER, title, ago(hours=1))]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [(o["outcome"], o["code"]) for o in body["outcomes"]] == [("applied", None), ("rejected", "room_out_of_scope")]
    assert body["replayed"] is False and body["stored_at"]
    # The town coordinator covers ROOM's town, not OTHER's.
    response = await client.post("/api/v1/offline-batches", headers=as_role["town_coordinator"].headers,
                                 json=batch_body([oop("in_room_use", OTHER, title, ago(hours=1))]))
    assert response.json()["outcomes"][0]["code"] == "room_out_of_scope"
    for role in ("inspector", "trainer"):
        response = await client.post("/api/v1/offline-batches", headers=as_role[role].headers,
                                     json=batch_body([oop("in_room_use", ROOM, title, ago(hours=1))]))
        assert response.status_code == 403


@pytest.mark.parametrize(("what", "body"), [
    ("no batch_id", {"device_id": "p", "ops": [{}]}),
    ("bad batch_id", {"batch_id": "short", "device_id": "p", "ops": [{}]}),
    ("no ops", {"batch_id": "b" * 16, "device_id": "p", "ops": []}),
    ("ops not a list", {"batch_id": "b" * 16, "device_id": "p", "ops": {"op_id": "x"}}),
    ("too many ops", {"batch_id": "b" * 16, "device_id": "p", "ops": [1] * 5001}),
    ("device id too long", {"batch_id": "b" * 16, "device_id": "p" * 65, "ops": [{}]}),
    ("device id with a control character", {"batch_id": "b" * 16, "device_id": "p\u0007", "ops": [{}]}),
    ("unknown field", {"batch_id": "b" * 16, "device_id": "p", "ops": [{}], "phone": "x"}),
])
async def test_a_malformed_envelope_is_422_and_stores_nothing(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                              seeded: Deps, what: str, body: dict[str, Any]) -> None:
    before = await seeded.db.offline_batches.count_documents({})
    response = await client.post("/api/v1/offline-batches", headers=as_role["room_admin"].headers, json=body)
    assert response.status_code == 422, (what, response.text)
    assert response.json()["code"] == "validation_failed"
    assert await seeded.db.offline_batches.count_documents({}) == before


async def test_conflicts_api_lists_scopes_and_resolves(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                        seeded: Deps) -> None:
    title = await add_title(seeded)
    reader = await add_reader(seeded, ROOM)
    response = await client.post("/api/v1/offline-batches", headers=as_role["room_admin"].headers, json=batch_body([
        oop("loan", ROOM, title, ago(hours=2), reader["card_no"])]))
    (result,) = response.json()["outcomes"]
    assert (result["outcome"], result["code"]) == ("conflict", "no_copy_on_shelf")
    url = f"/api/v1/rooms/{ROOM}/offline-conflicts"
    mine = (await client.get(url, headers=as_role["room_admin"].headers)).json()
    (item,) = [i for i in mine["items"] if i["op_id"] == result["op_id"]]
    assert item["card"] == reader["card_no"] and item["reader"]["id"] == reader["id"] and item["applied"] is False
    inspected = (await client.get(url, headers=as_role["inspector"].headers)).json()
    (seen,) = [i for i in inspected["items"] if i["op_id"] == result["op_id"]]
    assert seen["reader"] is None and seen["card"] != reader["card_no"] and "****" in seen["card"]
    assert (await client.get(url, headers=as_role["room_admin_other"].headers)).status_code == 403
    assert (await client.get(url, headers=as_role["trainer"].headers)).status_code == 403
    resolve = f"/api/v1/offline-conflicts/{item['id']}/resolve"
    refused = await client.post(resolve, headers=as_role["room_admin_other"].headers, json={"note": "不是我的书屋"})
    assert refused.status_code == 403 and refused.json()["code"] == "room_out_of_scope"
    done = await client.post(resolve, headers=as_role["room_admin"].headers, json={"note": "书在另一个书屋，已补登"})
    assert done.status_code == 200, done.text
    assert done.json()["conflict"]["resolved"] is True and done.json()["conflict"]["resolved_by"] == "jn-xsg-001"
    again = await client.post(resolve, headers=as_role["district_admin"].headers, json={"note": "再处理一次"})
    assert again.status_code == 409 and again.json()["code"] == "already_resolved"
    left = (await client.get(url, headers=as_role["room_admin"].headers)).json()
    assert item["id"] not in [i["id"] for i in left["items"]]
    closed = (await client.get(url, headers=as_role["room_admin"].headers, params={"resolved": "true"})).json()
    assert item["id"] in [i["id"] for i in closed["items"]]
    missing = await client.post(f"/api/v1/offline-conflicts/{'0' * 24}/resolve",
                                headers=as_role["district_admin"].headers, json={"note": "没有这条"})
    assert missing.status_code == 404 and missing.json()["code"] == "conflict_not_found"


async def test_console_lists_and_resolves_conflicts(base_url: str, seeded: Deps) -> None:
    title = await add_title(seeded, title="边城")
    out = await upload(seeded, [oop("return", THIRD, title, ago(hours=3))])
    assert outcomes(out) == [("conflict", "return_without_loan")]
    (conflict,) = await open_conflicts(seeded, out.outcomes[0].op_id)
    cid = str(conflict["_id"])
    async with httpx.AsyncClient(base_url=base_url, event_hooks={"response": [check_invariants]}, timeout=30) as http:
        assert (await form_login(http, "/console/login", "admin")).status_code == 302
        home = await http.get("/console/rooms")
        assert 'href="/console/offline-conflicts"' in home.text and "离线冲突" in home.text
        page = await http.get("/console/offline-conflicts", params={"room": THIRD})
        assert page.status_code == 200
        assert f'id="conflict-{cid}"' in page.text and "边城" in page.text and "还书无借阅记录" in page.text
        token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        assert token
        done = await http.post(f"/console/offline-conflicts/{cid}/resolve", follow_redirects=False,
                               data={"_xsrf": html.unescape(token.group(1)), "note": "是馆藏登记漏了，已补",
                                     "back": f"/console/offline-conflicts?room={THIRD}"})
        assert done.status_code == 302 and done.headers["Location"] == f"/console/offline-conflicts?room={THIRD}"
        page = await http.get("/console/offline-conflicts", params={"room": THIRD})
        assert f'id="conflict-{cid}"' not in page.text
        page = await http.get("/console/offline-conflicts", params={"room": THIRD, "resolved": "true"})
        assert f'id="conflict-{cid}"' in page.text and "是馆藏登记漏了" in page.text
    # Inspectors see the list but get no resolve form; a room administrator has no console.
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        assert (await form_login(http, "/console/login", "inspector")).status_code == 302
        page = await http.get("/console/offline-conflicts", params={"room": THIRD, "resolved": "true"})
        assert page.status_code == 200 and f'id="conflict-{cid}"' in page.text and "/resolve" not in page.text


async def test_old_offline_records_forget_the_reader(seeded: Deps) -> None:
    title = await add_title(seeded)
    reader = await add_reader(seeded, ROOM)
    out = await upload(seeded, [oop("loan", ROOM, title, ago(hours=2), reader["card_no"])])
    (conflict,) = await open_conflicts(seeded, out.outcomes[0].op_id)
    await offline.resolve_conflict(seeded, SYSTEM, str(conflict["_id"]), _resolve(note="已核对"))
    retention = seeded.settings.district.lending.loan_record_retention_days
    report = await jobs.anonymise_loan_history(seeded, datetime.now(UTC) + timedelta(days=retention + 1))
    assert report.offline_records >= 2
    batch = await seeded.db.offline_batches.find_one({"_id": out.batch_id})
    assert batch["body"] is None and [o["card"] for o in batch["ops"]] == [None]
    assert batch["outcomes"] == [o.model_dump() for o in out.outcomes]  # the outcomes stay
    (conflict,) = await open_conflicts(seeded, out.outcomes[0].op_id)
    assert (conflict["reader_id"], conflict["card"], conflict["code"]) == (None, None, "no_copy_on_shelf")


async def test_an_operation_that_cannot_be_applied_does_not_stall_the_others(seeded: Deps) -> None:
    """Data no rule foresaw (here a damaged loan record) fails that operation alone: it is answered
    rejected/server_error and left unrecorded, and every other operation is applied."""
    broken, fine = await add_title(seeded), await add_title(seeded)
    damaged = await seeded.db.loans.insert_one({"title_id": broken, "room": ROOM, "returned_at": None})
    try:
        out = await upload(seeded, [oop("return", ROOM, broken, ago(hours=2)), oop("in_room_use", ROOM, fine, ago(hours=1))])
    finally:
        await seeded.db.loans.delete_one({"_id": damaged.inserted_id})
    assert outcomes(out) == [("rejected", "server_error"), ("applied", None)]
    assert await seeded.db.operations.count_documents({"_id": out.outcomes[0].op_id}) == 0
    assert (await seeded.db.offline_batches.find_one({"_id": out.batch_id}))["state"] == "applied"
