"""Property: random sequences of receive / write-off / transfer request, send, arrive
(right or wrong room), cancel — with replays — across three rooms, through the real
services and database, keep the ledger invariants: stock never negative, holdings equal
the fold of the ledger, every operation applied exactly once, and everything agrees
with a plain model of the rules."""

from __future__ import annotations

import itertools
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from server.errors import Conflict
from server.staff.service import SYSTEM
from server.stock import service, transfers
from server.stock.ledger import STATES
from server.stock.models import (
    ReceiptIn,
    TransferArrivalIn,
    TransferCancelIn,
    TransferRequestIn,
    TransferStepIn,
    WriteOffIn,
)

ROOMS = ("JN-XSG-001", "JN-XSG-002", "JN-GG-001")
_serial = itertools.count(1)


def isbn13(n: int) -> str:
    body = f"978753{n:06d}"
    total = sum((1 if i % 2 == 0 else 3) * int(d) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


room = st.integers(0, 2)
title = st.integers(0, 1)
qty = st.integers(1, 3)
recent = st.integers(0, 3)  # which transfer: 0 is the newest
steps = st.lists(st.one_of(
    st.tuples(st.just("receive"), room, title, qty),
    st.tuples(st.just("write_off"), room, title, qty, st.sampled_from(["lost", "damaged"])),
    st.tuples(st.just("request"), room, st.integers(1, 2), title, qty),
    st.tuples(st.just("send"), recent),
    st.tuples(st.just("arrive"), recent, st.sampled_from([None, None, 0, 1, 2])),
    st.tuples(st.just("cancel"), recent),
    st.tuples(st.just("replay"), st.integers(0, 40)),
    # A whole journey (request, then scripted steps on it), so histories reach every state often.
    st.tuples(st.just("journey"), room, st.integers(1, 2), title, qty, st.sampled_from([
        (("send", 0),),
        (("send", 0), ("arrive", 0, None)),
        (("send", 0), ("arrive", 0, 0)),
        (("send", 0), ("arrive", 0, 1), ("send", 0), ("arrive", 0, None)),  # misdelivered, then onward
        (("send", 0), ("cancel", 0)),
        (("cancel", 0),),
    ])),
), min_size=2, max_size=10)


def expand(plan: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    flat: list[tuple[Any, ...]] = []
    for item in plan:
        if item[0] == "journey":
            flat.append(("request", *item[1:5]))
            flat += item[5]
        else:
            flat.append(item)
    return flat


@dataclass
class Model:
    stock: dict[tuple[str, str], dict[str, int]] = field(
        default_factory=lambda: defaultdict(lambda: dict.fromkeys(STATES, 0)))
    transfers: list[dict[str, Any]] = field(default_factory=list)  # id, origin, destination, title, q, state

    def add(self, room: str, title: str, **delta: int) -> None:
        for state, n in delta.items():
            self.stock[(room, title)][state] += n


@dataclass
class Call:
    op_id: str
    run: Any            # () -> awaitable
    ok: bool
    moves: int          # ledger entries when ok


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(plan=steps)
async def test_random_histories_keep_the_ledger(seeded, plan):
    deps = seeded
    titles = [isbn13(next(_serial)) for _ in range(2)]
    await deps.db.titles.insert_many([{"_id": t, "title": "性质测试", "format": "book"} for t in titles])
    model = Model()
    calls: list[Call] = []
    for r in ROOMS:  # some stock everywhere, so sends and write-offs are not all refused
        await service.receive(deps, SYSTEM, r, ReceiptIn(op_id=uuid.uuid4().hex, lines=[
            {"title_id": t, "quantity": 3} for t in titles]))
        for t in titles:
            model.add(r, t, on_shelf=3)

    async def attempt(call: Call) -> None:
        try:
            await call.run()
            outcome = True
        except Conflict:
            outcome = False
        assert outcome == call.ok, (call.op_id, call.ok)

    for action, *args in expand(plan):
        op_id = uuid.uuid4().hex
        call: Call | None = None
        if action == "receive":
            r, t, q = ROOMS[args[0]], titles[args[1]], args[2]
            body = ReceiptIn(op_id=op_id, lines=[{"title_id": t, "quantity": q}])
            call = Call(op_id, lambda r=r, body=body: service.receive(deps, SYSTEM, r, body), True, 1)
            model.add(r, t, on_shelf=q)
        elif action == "write_off":
            r, t, q, reason = ROOMS[args[0]], titles[args[1]], args[2], args[3]
            body = WriteOffIn(op_id=op_id, title_id=t, quantity=q, reason=reason)
            ok = model.stock[(r, t)]["on_shelf"] >= q
            call = Call(op_id, lambda r=r, body=body: service.write_off(deps, SYSTEM, r, body), ok, 1)
            if ok:
                model.add(r, t, on_shelf=-q, **{reason: q})
        elif action == "request":
            origin, dest = ROOMS[args[0]], ROOMS[(args[0] + args[1]) % 3]
            t, q = titles[args[2]], args[3]
            body = TransferRequestIn(op_id=op_id, origin=origin, destination=dest, lines=[{"title_id": t, "quantity": q}])
            out = await transfers.request_transfer(deps, SYSTEM, body)
            model.transfers.append({"id": out.transfer.id, "origin": origin, "destination": dest, "title": t, "q": q,
                                    "state": "requested"})
            call = Call(op_id, lambda body=body: transfers.request_transfer(deps, SYSTEM, body), True, 0)
            calls.append(call)
            event("request")
            continue
        elif action in {"send", "arrive", "cancel"} and model.transfers:
            tr = model.transfers[-1 - args[0] % len(model.transfers)]
            o, t, q = tr["origin"], tr["title"], tr["q"]
            if action == "send":
                ok = tr["state"] == "requested" and model.stock[(o, t)]["on_shelf"] >= q
                body = TransferStepIn(op_id=op_id)
                call = Call(op_id, lambda tid=tr["id"], body=body: transfers.send_transfer(deps, SYSTEM, tid, body), ok, 1)
                if ok:
                    model.add(o, t, on_shelf=-q, in_transit=q)
                    tr["state"] = "sent"
            elif action == "arrive":
                actual = tr["destination"] if args[1] is None else ROOMS[args[1]]
                ok = tr["state"] == "sent"
                body = TransferArrivalIn(op_id=op_id, room=actual)
                call = Call(op_id, lambda tid=tr["id"], body=body: transfers.confirm_arrival(deps, SYSTEM, tid, body), ok, 2)
                if ok:
                    model.add(o, t, in_transit=-q)
                    model.add(actual, t, on_shelf=q)
                    tr["state"] = "arrived" if actual == tr["destination"] else "arrived_elsewhere"
            else:
                ok = tr["state"] in {"requested", "sent"}
                body = TransferCancelIn(op_id=op_id, reason="性质测试")
                call = Call(op_id, lambda tid=tr["id"], body=body: transfers.cancel_transfer(deps, SYSTEM, tid, body), ok,
                            1 if tr["state"] == "sent" else 0)
                if ok and tr["state"] == "sent":
                    model.add(o, t, in_transit=-q, on_shelf=q)
                if ok:
                    tr["state"] = "cancelled"
        elif action == "replay" and calls:
            before = await _holdings(deps, titles)
            await attempt(calls[args[0] % len(calls)])
            event("replay")
            assert await _holdings(deps, titles) == before, "a replay changed the stock"
            continue
        if call is None:
            continue
        await attempt(call)
        event(f"{action} {'applied' if call.ok else 'refused'}")
        calls.append(call)
        if action == "arrive" and call.ok and tr["state"] == "arrived_elsewhere":
            doc = await deps.db.transfers.find_one({"parent_id": __import__("bson").ObjectId(tr["id"])})
            event("misdelivery")
            model.transfers.append({"id": str(doc["_id"]), "origin": actual, "destination": tr["destination"],
                                    "title": t, "q": q, "state": "requested"})

    stored = await _holdings(deps, titles)
    expected = {k: v for k, v in model.stock.items() if any(v.values())}
    assert {k: v for k, v in stored.items() if any(v.values())} == expected
    assert all(n >= 0 for counts in stored.values() for n in counts.values())
    for call in calls:
        n = await deps.db.stock_moves.count_documents({"op_id": call.op_id})
        assert n == (call.moves if call.ok else 0), (call.op_id, n)
        assert await deps.db.operations.count_documents({"_id": call.op_id}) == 1
    states = {str(d["_id"]): d["state"] for d in await deps.db.transfers.find(
        {"lines.title_id": {"$in": titles}}, {"state": 1}).to_list()}
    assert states == {tr["id"]: tr["state"] for tr in model.transfers}
    _, problems = await service.check_ledger(deps)
    assert problems == [], [str(p) for p in problems]


async def _holdings(deps, titles: list[str]) -> dict[tuple[str, str], dict[str, int]]:
    docs = await deps.db.holdings.find({"title_id": {"$in": titles}}).to_list()
    return {(d["room"], d["title_id"]): {s: d.get(s, 0) for s in STATES} for d in docs}
