"""Part 2: offline batches — every phone uploads the log it kept while offline.

Each of the rooms' phones has a log of lend → return pairs from the last few hours
(titles and readers not used by part 1, so the two parts never meet). All phones upload
at once over HTTP (POST /api/v1/offline-batches); the server stores each batch and applies
every pending operation in event-time order. Timed from the first upload to the last answer.

Baseline: the same operations as bare PyMongo transactions (``baseline.lend`` /
``return_item``, one transaction per operation), one coroutine per phone, each phone's
operations in order.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from ops.bench import baseline
from ops.bench.data import RoomData
from ops.bench.stats import Samples

BUSY_RETRIES = 10


@dataclass
class PhoneLog:
    room: RoomData
    device_id: str
    ops: list[dict[str, Any]] = field(default_factory=list)


def build_logs(rooms: list[RoomData], total_ops: int, *, titles: slice, cards: slice) -> list[PhoneLog]:
    """``total_ops`` operations over the rooms' phones: lend/return pairs (dealt whole, so
    every loan is returned), a minute apart, in the three hours before now."""
    start = datetime.now(UTC) - timedelta(hours=3)
    pairs, odd = divmod(total_ops, 2)
    counts = [2 * (pairs // len(rooms) + (1 if i < pairs % len(rooms) else 0)) for i in range(len(rooms))]
    counts[-1] += odd
    logs = []
    for i, (room, n) in enumerate(zip(rooms, counts, strict=True)):
        log = PhoneLog(room=room, device_id=f"bench-phone-{i:03d}")
        room_titles, room_cards = room.titles[titles], room.cards[cards]
        for k in range(n):
            pair, second = divmod(k, 2)
            title, card = room_titles[pair % len(room_titles)], room_cards[pair % len(room_cards)]
            at = start + timedelta(minutes=k, seconds=i % 60)
            log.ops.append({"op_id": uuid.uuid4().hex, "type": "return" if second else "loan",
                            "at": at.isoformat(timespec="milliseconds"), "room": room.code, "code": title,
                            "card": card})
        if log.ops:  # a phone with nothing logged uploads nothing
            logs.append(log)
    return logs


@dataclass
class OfflineResult:
    seconds: float
    ops: int
    outcomes: Counter[str]
    errors: Counter[str]
    retries: int

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds else float("nan")


async def upload_all(client: httpx.AsyncClient, logs: list[PhoneLog], tokens: dict[str, str]) -> OfflineResult:
    """Every phone uploads its whole log at once; a ``sync_busy`` answer is sent again (same batch_id)."""
    outcomes: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    retries = 0

    async def phone(log: PhoneLog) -> None:
        nonlocal retries
        body = {"batch_id": uuid.uuid4().hex, "device_id": log.device_id, "ops": log.ops}
        headers = {"Authorization": f"Bearer {tokens[log.room.username]}"}
        for _ in range(BUSY_RETRIES):
            try:
                r = await client.post("/api/v1/offline-batches", json=body, headers=headers, timeout=600)
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                return
            if r.status_code == 409 and r.json().get("code") == "sync_busy":
                retries += 1
                continue
            if r.status_code != 200:
                errors[f"{r.status_code} {r.text[:80]}"] += 1
                return
            for o in r.json()["outcomes"]:
                outcomes[f"{o['type']} {o['outcome']}{' ' + o['code'] if o.get('code') else ''}"] += 1
            return
        errors["sync_busy after retries"] += 1

    t0 = time.perf_counter()
    await asyncio.gather(*(phone(log) for log in logs))
    return OfflineResult(time.perf_counter() - t0, sum(len(log.ops) for log in logs), outcomes, errors, retries)


async def direct_bulk(deps: Any, logs: list[PhoneLog], chunk_ops: int) -> float:
    """The same operations as bare bulk writes, ``chunk_ops`` per transaction, one applier in
    event-time order (the shape the server uses). Returns seconds."""
    ops = sorted(((op, log.device_id) for log in logs for op in log.ops),
                 key=lambda pair: (pair[0]["at"], pair[1], pair[0]["op_id"]))
    renamed = [{**op, "op_id": op["op_id"] + "c"} for op, _ in ops]
    t0 = time.perf_counter()
    await baseline.apply_bulk(deps, renamed, {log.room.code: log.room for log in logs}, chunk_ops=chunk_ops)
    return time.perf_counter() - t0


def first_ops(logs: list[PhoneLog], total: int) -> list[PhoneLog]:
    """About ``total`` operations: the first whole lend/return pairs of every phone's log."""
    per_phone = max(2, 2 * round(total / len(logs) / 2))
    return [PhoneLog(log.room, log.device_id, log.ops[:per_phone]) for log in logs]


async def direct_all(deps: Any, logs: list[PhoneLog]) -> Samples:
    """The same operations as one bare transaction each; one coroutine per phone, in its log's order."""
    samples = Samples("direct, 1 txn per op")

    async def phone(log: PhoneLog) -> None:
        open_loans: dict[tuple[str, str], baseline.OpenLoan] = {}
        room = log.room
        for op in log.ops:
            t0 = time.perf_counter()
            key = (op["code"], op["card"])
            try:
                if op["type"] == "loan":
                    open_loans[key] = await baseline.lend(
                        deps, room=room.code, title_id=op["code"], reader_id=room.reader_ids[op["card"]],
                        card=op["card"], actor=room.username, op_id=op["op_id"] + "b")
                else:
                    await baseline.return_item(deps, open_loans.pop(key), card=op["card"], actor=room.username,
                                               op_id=op["op_id"] + "b")
            except Exception as exc:  # counted, not raised: a benchmark reports
                samples.fail(type(exc).__name__)
                continue
            samples.ok(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(phone(log) for log in logs))
    samples.elapsed = time.perf_counter() - t0
    return samples
