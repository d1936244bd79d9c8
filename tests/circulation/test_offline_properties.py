"""Random interleavings of desk (online) operations and offline logs from several phones
(hypothesis): three rooms, a few readers and titles, random event times, random upload
order, batches uploaded again under the same batch_id, operations re-sent in a new batch,
malformed operations. After every upload and at the end:

- no operation is lost: every batch gets exactly one outcome per operation, in order;
- none is applied twice: each valid op_id is applied (or recorded as a conflict) by exactly
  one batch, its ledger entries are those of one operation, and it has one ``operations``
  record; a replayed batch answers exactly its first outcomes;
- stock is never negative; holdings equal the fold of the ledger (``check_ledger``); each
  room's ``on_loan`` equals the open loans it lent; each reader's counters equal their loans;
- every conflict outcome has its stored conflict record.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.circulation import offline, service
from server.circulation.models import LendIn, ReturnIn
from server.circulation.offline_models import OfflineBatchIn, OfflineBatchOut
from server.circulation.rules import LOCAL_TZ
from server.errors import DomainError
from server.resources import Deps
from server.staff.service import SYSTEM
from server.stock.service import check_ledger
from tests.circulation import add_reader, add_title, op, receive

pytestmark = pytest.mark.usefixtures("ledger_stays_clean")

ROOMS = ("JN-XSG-001", "JN-GG-001", "JN-XZ-001")
READERS, TITLES, PHONES = 3, 2, 3
# Ledger entries one offline operation may write, by type.
MOVES_PER_OP = {"loan": {0, 1, 2}, "return": {0, 1, 2}, "renew": {0}, "in_room_use": {0}}

room_i, reader_i, title_i = st.integers(0, len(ROOMS) - 1), st.integers(0, READERS - 1), st.integers(0, TITLES - 1)
phone_i = st.integers(0, PHONES - 1)
# Minutes from now: up to three days back, and a few minutes ahead (so some offline events are
# newer than the desk operations of the same run).
minutes = st.integers(-3 * 24 * 60, 5)
gap = st.integers(1, 24 * 60)
steps = st.lists(st.one_of(
    st.tuples(st.just("log"), phone_i, st.sampled_from(["loan", "return", "renew", "in_room_use"]),
              room_i, reader_i, title_i, minutes, st.booleans()),
    # A loan, maybe renewed, then returned — possibly in another room, logged by another phone.
    st.tuples(st.just("log_cycle"), phone_i, phone_i, room_i, room_i, reader_i, title_i, minutes, gap, gap,
              st.booleans(), st.booleans()),
    st.tuples(st.just("log_cycle"), phone_i, phone_i, room_i, room_i, reader_i, title_i, minutes, gap, gap,
              st.booleans(), st.booleans()),
    st.tuples(st.just("log_bad"), phone_i),
    st.tuples(st.just("desk_lend"), room_i, reader_i, title_i),
    st.tuples(st.just("desk_return"), room_i, title_i),
    st.tuples(st.just("upload"), phone_i, st.randoms(use_true_random=False), st.booleans()),
    st.tuples(st.just("upload"), phone_i, st.randoms(use_true_random=False), st.just(False)),
    st.tuples(st.just("replay"), st.integers(0, 20)),
    st.tuples(st.just("resend"), phone_i),
), min_size=6, max_size=24)


@dataclass
class World:
    titles: list[str]
    readers: list[dict[str, Any]]
    queues: list[list[dict[str, Any]]] = field(default_factory=lambda: [[] for _ in range(PHONES)])
    sent: list[list[dict[str, Any]]] = field(default_factory=lambda: [[] for _ in range(PHONES)])
    batches: list[tuple[OfflineBatchIn, OfflineBatchOut]] = field(default_factory=list)
    valid_ops: dict[str, str] = field(default_factory=dict)  # op_id -> type


async def _upload(deps: Deps, w: World, phone: int, ops: list[dict[str, Any]], batch_id: str | None = None
                  ) -> OfflineBatchOut:
    body = OfflineBatchIn.model_validate({"batch_id": batch_id or op(), "device_id": f"phone-{phone}", "ops": ops})
    out = await offline.upload_batch(deps, SYSTEM, body)
    # No operation lost: one outcome each, in the order sent.
    assert [o.op_id for o in out.outcomes] == [o.get("op_id", "") if isinstance(o, dict) else "" for o in ops]
    assert [o.type for o in out.outcomes] == [o.get("type", "") if isinstance(o, dict) else "" for o in ops]
    if batch_id is None:
        w.batches.append((body, out))
    return out


async def _check_state(deps: Deps, w: World) -> None:
    holdings = await deps.db.holdings.find({"title_id": {"$in": w.titles}}).to_list()
    for doc in holdings:
        assert all(doc[s] >= 0 for s in ("on_shelf", "on_loan", "in_transit", "lost", "damaged")), doc
    open_loans = await deps.db.loans.find({"title_id": {"$in": w.titles}, "returned_at": None}).to_list()
    lent_by = Counter((loan["room"], loan["title_id"]) for loan in open_loans)
    assert {(d["room"], d["title_id"]): d["on_loan"] for d in holdings if d["on_loan"]} == dict(lent_by)
    per_reader = Counter(loan["reader_id"] for loan in open_loans)
    for reader in await deps.db.readers.find({"card_no": {"$in": [r["card_no"] for r in w.readers]}}).to_list():
        assert reader["open_loans"]["book"] == per_reader.get(reader["_id"], 0)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                    HealthCheck.too_slow])
@given(history=steps)
async def test_interleaved_online_and_offline_histories(seeded: Deps, history: list[tuple[Any, ...]]) -> None:
    w = World(titles=[await add_title(seeded) for _ in range(TITLES)],
              readers=[await add_reader(seeded, ROOMS[i % len(ROOMS)]) for i in range(READERS)])
    for i, title in enumerate(w.titles):
        await receive(seeded, ROOMS[0], title, 1 + i)
        await receive(seeded, ROOMS[1], title, 1)
    now = datetime.now(UTC)

    def log(phone: int, op_type: str, room: int, reader: int, title: int, at: datetime, with_card: bool) -> None:
        entry = {"op_id": op(), "type": op_type, "room": ROOMS[room], "code": w.titles[title],
                 "at": min(at, now + timedelta(minutes=5)).astimezone(LOCAL_TZ).isoformat()}
        if op_type in ("loan", "renew") or with_card:
            entry["card"] = w.readers[reader]["card_no"]
        w.queues[phone].append(entry)
        w.valid_ops[entry["op_id"]] = op_type

    for step in [*history, *[("upload", p, random.Random(p), False) for p in range(PHONES)]]:
        kind = step[0]
        if kind == "log":
            _, phone, op_type, room, reader, title, offset, with_card = step
            log(phone, op_type, room, reader, title, now + timedelta(minutes=offset), with_card)
        elif kind == "log_cycle":
            _, lender, receiver, room, back_room, reader, title, offset, renew_after, back_after, renew, card = step
            at = now + timedelta(minutes=offset)
            log(lender, "loan", room, reader, title, at, True)
            if renew:
                log(lender, "renew", room, reader, title, at + timedelta(minutes=renew_after), True)
            log(receiver, "return", back_room, reader, title, at + timedelta(minutes=renew_after + back_after), card)
        elif kind == "log_bad":
            w.queues[step[1]].append({"op_id": op(), "type": "loan", "room": ROOMS[0], "code": "not-an-isbn",
                                      "at": now.isoformat()})
        elif kind == "desk_lend":
            _, room, reader, title = step
            try:
                await service.lend(seeded, SYSTEM, ROOMS[room], LendIn(
                    op_id=op(), card_no=w.readers[reader]["card_no"], title_id=w.titles[title]))
            except DomainError:
                pass
        elif kind == "desk_return":
            _, room, title = step
            try:
                await service.return_item(seeded, SYSTEM, ROOMS[room], ReturnIn(op_id=op(), title_id=w.titles[title]))
            except DomainError:
                pass
        elif kind == "upload":
            _, phone, rnd, twice = step
            ops = w.queues[phone]
            if not ops:
                continue
            rnd.shuffle(ops)  # a batch's operations arrive in any order
            await _upload(seeded, w, phone, [*ops, dict(ops[0])] if twice else ops)  # or one of them twice
            w.sent[phone] += ops
            w.queues[phone] = []
        elif kind == "resend" and w.sent[step[1]]:
            # The phone lost the answer and sends what it had sent again, under a new batch_id.
            await _upload(seeded, w, step[1], w.sent[step[1]][-3:])
        elif kind == "replay" and w.batches:
            body, first = w.batches[step[1] % len(w.batches)]
            moves = await seeded.db.stock_moves.count_documents({})
            again = await _upload(seeded, w, int(body.device_id[-1]), body.ops, batch_id=body.batch_id)
            assert again.replayed is True and again.outcomes == first.outcomes
            assert await seeded.db.stock_moves.count_documents({}) == moves, "a replayed batch moved stock"
        await _check_state(seeded, w)

    _, problems = await check_ledger(seeded)
    assert problems == [], [str(p) for p in problems]
    # Each valid op_id took effect in exactly one batch; everywhere else it is a duplicate.
    took: Counter[str] = Counter()
    for _, out in w.batches:
        for o in out.outcomes:
            if o.outcome in ("applied", "conflict"):
                took[o.op_id] += 1
            elif o.op_id in w.valid_ops:
                assert o.outcome == "duplicate", o
    assert set(took) == set(w.valid_ops) and set(took.values()) == {1} if w.valid_ops else not took, took
    for op_id, op_type in w.valid_ops.items():
        assert await seeded.db.operations.count_documents({"_id": op_id}) == 1
        assert await seeded.db.stock_moves.count_documents({"op_id": op_id}) in MOVES_PER_OP[op_type]
    conflicts = {(o.op_id, o.code) for _, out in w.batches for o in out.outcomes if o.outcome == "conflict"}
    stored = await seeded.db.offline_conflicts.find({"op_id": {"$in": list(w.valid_ops)}}).to_list()
    assert {(c["op_id"], c["code"]) for c in stored} == conflicts
