"""The demo year: readers and twelve months of circulation in every active room, so the
console's dashboard, map, charts and annual report have something true to show.

``seed_demo_year(deps)`` (called at the end of ``server.seed._seed_content``) loads, in
order: the backlist (``server.catalog.demo_backlist``), each room's opening stock and this
year's deliveries (``server.stock.demo``), ~25–60 readers a room (about 35 % children,
each with a guardian and a consent record), the last 12 months of loans up to today, a
few approved stocktakes with a small loss, and last summer's reading challenge
(``miniprogram_api.challenges.demo_summer``).

The year is simulated in memory, room by room in time order, with the lending rules of
``server.circulation.rules`` (due dates, one renewal, limits, no loans while overdue,
periodicals in the room only) and never more copies lent than the room has on the shelf
at that moment; then every document is written with bulk inserts, shaped as the desk
writes it: ``loans``, a LOAN and a RETURN ``stock_moves`` entry per loan (so the ledger
folds to the holdings), ``loan_stats`` counted with ``repo.stats_key`` (no reader
identity), each reader's ``open_loans``. Deterministic for a seed, dated relative to
``local_today()``, every document flagged ``demo: True`` where the collection allows.
Idempotent: an ``operations`` record ``demo-year`` marks it done (a second run does
nothing).
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import math
import random
import time as clock
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

from pymongo import ReturnDocument, UpdateOne

from server.circulation.repo import LOANS, STATS, stats_key
from server.circulation.rules import (
    LOCAL_TZ,
    due_date,
    end_of_local_day,
    limit_kind,
    local_date,
    month_key,
    renewed_due_date,
)
from server.readers import repo as readers_repo
from server.readers.demo import Reader, object_id_at, plan_readers
from server.readers.service import local_today
from server.stock import demo as stock_demo
from server.stock.ledger import Move, MoveKind

if TYPE_CHECKING:
    from server.district import LendingRules
    from server.resources import Deps

log = logging.getLogger(__name__)

SEED: Final = 20260702
MARKER: Final = "demo-year"  # the operations record that says the demo year is loaded
DORMANT_ROOMS: Final = 6  # rooms with no activity in the last 3–5 weeks ("not opened for two weeks")
# Loans per room per month by activity profile: (share of rooms, low, high, readers low, high).
PROFILES: Final = (("busy", 0.08, 45, 85, 50, 60), ("normal", 0.40, 15, 25, 35, 50), ("quiet", 0.35, 6, 12, 25, 36),
                   ("idle", 0.17, 1, 4, 20, 28))
# Month → seasonal factor: winter holidays and Spring Festival, summer holidays.
SEASON: Final = {1: 1.3, 2: 1.4, 3: 0.9, 4: 0.85, 5: 0.9, 6: 0.9, 7: 1.35, 8: 1.4, 9: 0.85, 10: 0.8, 11: 0.9, 12: 1.0}
CHILD_CATEGORIES: Final = {"少儿": 0.62, "文化": 0.2, "科技": 0.1, "生活": 0.05, "其他": 0.02, "政经": 0.01}
WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
RENEW_SHARE, LOST_TRACK_SHARE, AV_SHARE = 0.1, 0.004, 0.1


@dataclass
class Year:
    """Everything the simulation produced, ready to insert."""

    moves: list[dict[str, Any]] = field(default_factory=list)
    loans: list[dict[str, Any]] = field(default_factory=list)
    stocktakes: list[dict[str, Any]] = field(default_factory=list)
    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    state: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    updated: dict[tuple[str, str], datetime] = field(default_factory=dict)

    def count(self, room: str, at: datetime, fmt: str, category: str, age_group: str, what: str) -> None:
        key = stats_key(room, month_key(at), fmt, category, age_group)
        row = self.stats.setdefault(key, {"room": room, "month": month_key(at), "format": fmt, "category": category,
                                          "age_group": age_group})
        row[what] = row.get(what, 0) + 1

    def move(self, room: str, title_id: str, kind: MoveKind, at: datetime, op_id: str, reference: dict[str, Any],
             actor: str) -> None:
        m = Move(room, title_id, kind)
        self.moves += stock_demo.move_docs(op_id, [m], at=at, reference=reference, actor=actor)
        self.add(room, title_id, m.delta, at)

    def add(self, room: str, title_id: str, delta: dict[str, int], at: datetime) -> None:
        """Fold one move's ``delta`` into the holding; ``updated_at`` is its latest move's time."""
        key = (room, title_id)
        counts = self.state.setdefault(key, {})
        for s, n in delta.items():
            counts[s] = counts.get(s, 0) + n
        self.updated[key] = max(self.updated.get(key, at), at)


def _at(day: date, hours: float) -> datetime:
    """Local ``day`` at ``hours`` past midnight, in UTC, to the second."""
    local = datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ) + timedelta(seconds=int(hours * 3600))
    return local.astimezone(UTC)


def _spans(room: dict[str, Any]) -> dict[int, list[tuple[float, float]]]:
    """Weekday → opening spans in hours (a room without hours: every day 9–17)."""
    hours = room.get("opening_hours") or {}
    out: dict[int, list[tuple[float, float]]] = {}
    for i, name in enumerate(WEEKDAYS):
        for span in hours.get(name, []):
            a, b = span.split("-")
            out.setdefault(i, []).append((int(a[:2]) + int(a[3:]) / 60, int(b[:2]) + int(b[3:]) / 60))
    return out or {i: [(9.0, 17.0)] for i in range(7)}


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def _open_moment(rng: random.Random, day: date, spans: dict[int, list[tuple[float, float]]], *,
                 latest: date) -> datetime | None:
    """A moment the room is open on ``day`` or the next open day (None past ``latest``)."""
    while day <= latest:
        if day.weekday() in spans:
            a, b = rng.choice(spans[day.weekday()])
            return _at(day, rng.uniform(a, b))
        day += timedelta(days=1)
    return None


# -- one room's year -----------------------------------------------------------------------------------


@dataclass
class RoomYear:
    """What a room's year is made from: its stock plan, readers and activity."""

    room: dict[str, Any]
    stock: stock_demo.RoomStock
    readers: list[Reader]
    per_month: float
    dormant_from: datetime | None
    admin: str


class RoomSimulation:
    """One room's year in time order: deliveries, loans, renewals, returns, a stocktake."""

    def __init__(self, rng: random.Random, ry: RoomYear, titles: dict[str, dict[str, Any]], year: Year, *,
                 rules: LendingRules, now: datetime, approver: str) -> None:
        self.rng, self.ry, self.titles, self.year, self.rules = rng, ry, titles, year, rules
        self.now, self.approver, self.code = now, approver, ry.room["code"]
        self.spans = _spans(ry.room)
        self.stop = min(now, ry.dormant_from) if ry.dormant_from else now  # no desk activity from then on
        self.shelf: dict[str, int] = {}
        self.on_loan: dict[str, int] = {}
        self.lost: dict[str, int] = {}
        self.lists: dict[tuple[str, str], list[str]] = {}
        self.adult_mix: dict[str, float] = {}
        self.returns: list[tuple[datetime, str]] = []
        self.pending: list[tuple[datetime, int, Any]] = sorted(
            [(d.at, 0, d) for d in ry.stock.deliveries]
            + ([(ry.stock.stocktake.at, 1, ry.stock.stocktake)] if ry.stock.stocktake else []),
            key=lambda e: (e[0], e[1]))
        self.weights = [r.weight for r in ry.readers]

    def run(self, start: date) -> None:
        day = start
        while day <= local_date(self.stop):
            if day.weekday() in self.spans:
                rate = self.ry.per_month * SEASON[day.month] * 12 / 365 * 7 / len(self.spans)
                n = _poisson(self.rng, rate)
                for t in sorted(_at(day, self.rng.uniform(*self.rng.choice(self.spans[day.weekday()])))
                                for _ in range(n)):
                    if t < self.stop:
                        self.settle(t)
                        self.lend(t)
            day += timedelta(days=1)
        self.settle(self.now)

    # events before ``t``: returns, deliveries, the stocktake
    def settle(self, t: datetime) -> None:
        while self.returns and self.returns[0][0] <= t:
            _, tid = heapq.heappop(self.returns)
            self.shelf[tid] += 1
            self.on_loan[tid] -= 1
        while self.pending and self.pending[0][0] <= t:
            _, _, event = self.pending.pop(0)
            if isinstance(event, stock_demo.Delivery):
                self.deliver(event)
            else:
                self.take_stock(event)

    def deliver(self, delivery: stock_demo.Delivery) -> None:
        self.year.moves += stock_demo.delivery_moves(self.code, delivery)
        for tid, n in delivery.lines.items():
            meta = self.titles[tid]
            if tid not in self.shelf:
                self.lists.setdefault((meta["format"], meta["category"]), []).append(tid)
            self.shelf[tid] = self.shelf.get(tid, 0) + n
            self.on_loan.setdefault(tid, 0)
            if meta["format"] == "book":
                self.adult_mix[meta["category"]] = self.adult_mix.get(meta["category"], 0) + n
            self.year.add(self.code, tid, {"on_shelf": n}, delivery.at)

    def take_stock(self, take: stock_demo.Stocktake) -> None:
        snapshot = {tid: {"on_shelf": n, "on_loan": self.on_loan[tid], "lost": self.lost.get(tid, 0)}
                    for tid, n in self.shelf.items()}
        take.missing = stock_demo.choose_missing(self.rng, self.shelf)
        doc, moves = stock_demo.stocktake_documents(self.code, take, snapshot, {}, approver=self.approver)
        self.year.stocktakes.append(doc)
        self.year.moves += moves
        for m in moves:
            tid = m["title_id"]
            self.year.add(self.code, tid, m["delta"], m["at"])
            self.shelf[tid] += m["delta"].get("on_shelf", 0)
            self.lost[tid] = self.lost.get(tid, 0) + m["delta"].get("lost", 0)

    def pick_reader(self, t: datetime, kind: str) -> Reader | None:
        limit = self.rules.max_audio_visual if kind == "audio_visual" else self.rules.max_books
        for reader in self.rng.choices(self.ry.readers, self.weights, k=6) if self.ry.readers else []:
            if reader.doc["created_at"] > t:
                continue
            reader.open = [o for o in reader.open if o[1] is None or o[1] > t]
            if any(due < t for due, _, _ in reader.open):
                continue  # block_when_overdue: no new loans while something is overdue
            if sum(1 for _, _, k in reader.open if k == kind) < limit:
                return reader
        return None

    def pick_title(self, reader: Reader, fmt: str) -> str | None:
        mix = CHILD_CATEGORIES if reader.child else {
            c: w * (0.25 if c == "少儿" else 1.0) for c, w in self.adult_mix.items()}
        for category in self.rng.choices(list(mix), list(mix.values()), k=4):
            pool = self.lists.get((fmt, category), [])
            for tid in self.rng.sample(pool, min(6, len(pool))):
                if self.shelf[tid] > 0:
                    return tid
        return None

    def lend(self, t: datetime) -> None:
        fmt = "audio_visual" if self.rng.random() < AV_SHARE else "book"
        reader = self.pick_reader(t, limit_kind(fmt))
        title_id = self.pick_title(reader, fmt) if reader is not None and self.adult_mix else None
        if reader is None or title_id is None:
            return
        rng, rules, meta = self.rng, self.rules, self.titles[title_id]
        loan_id = object_id_at(rng, t)
        due = due_date(t, rules).astimezone(UTC)
        renewed: list[datetime] = []
        returned: datetime | None = None
        latest = local_date(self.stop - timedelta(seconds=1))
        if rng.random() >= LOST_TRACK_SHARE:
            if rng.random() < RENEW_SHARE:
                renew_at = t + timedelta(days=rng.uniform(4, 9.5))
                if renew_at < min(due, self.stop):
                    renewed.append(renew_at.replace(microsecond=0))
                    due = renewed_due_date(due, renew_at, rules).astimezone(UTC)
            back = local_date(renewed[0] if renewed else t) + timedelta(days=round(rng.triangular(3, 20, 7)))
            returned = _open_moment(rng, back, self.spans, latest=latest)
        if returned is not None and returned >= self.stop:
            returned = None
        age_group = "child" if reader.child else "adult"
        ops = [f"demo-{loan_id}-l"] + [f"demo-{loan_id}-n"] * len(renewed) + ([f"demo-{loan_id}-r"] if returned else [])
        # the nightly flag_overdue job marks a loan still out after its due date (02:00 the next night)
        overdue_night = (end_of_local_day(local_date(due)) + timedelta(hours=2, seconds=1)).astimezone(UTC)
        late = overdue_night <= min(returned or self.now, self.now)
        self.year.loans.append({
            "_id": loan_id, "reader_id": reader.doc["_id"], "room": self.code, "title_id": title_id,
            "format": meta["format"], "category": meta["category"], "age_group": age_group, "lent_at": t,
            "due_at": due, "renewals": len(renewed), "renewed_at": renewed, "returned_at": returned,
            "returned_room": self.code if returned else None, "lent_by": self.ry.admin, "op_ids": ops,
            "overdue_since": overdue_night if late else None, "demo": True,
            **({"returned_by": self.ry.admin} if returned else {})})
        reference = {"loan_id": str(loan_id)}
        self.year.move(self.code, title_id, MoveKind.LOAN, t, ops[0], reference, self.ry.admin)
        self.year.count(self.code, t, meta["format"], meta["category"], age_group, "loans")
        self.shelf[title_id] -= 1
        self.on_loan[title_id] += 1
        for at in renewed:
            self.year.count(self.code, at, meta["format"], meta["category"], age_group, "renewals")
        if returned is not None:
            self.year.move(self.code, title_id, MoveKind.RETURN, returned, ops[-1], reference, self.ry.admin)
            self.year.count(self.code, returned, meta["format"], meta["category"], age_group, "returns")
            heapq.heappush(self.returns, (returned, title_id))
        reader.open.append((due, returned, limit_kind(meta["format"])))
        if returned is None:
            reader.doc["open_loans"][limit_kind(meta["format"])] += 1


# -- the district's year ---------------------------------------------------------------------------------


@dataclass
class DemoYearReport:
    titles: int = 0
    volumes: int = 0
    readers: int = 0
    children: int = 0
    loans: int = 0
    open_loans: int = 0
    stocktakes: int = 0
    participants: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    skipped: bool = False

    def __str__(self) -> str:
        if self.skipped:
            return "demo year already loaded; nothing added"
        took = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        return (f"demo year: {self.titles} titles, {self.volumes} volumes, {self.readers} readers "
                f"({self.children} children), {self.loans} loans ({self.open_loans} out today), "
                f"{self.stocktakes} stocktakes, {self.participants} summer-challenge participants ({took})")


def _profiles(rng: random.Random, codes: list[str], now: datetime) -> dict[str, tuple[float, int, datetime | None]]:
    """Room → (loans a month, readers, dormant since): busy, normal, quiet and idle rooms, and
    DORMANT_ROOMS ordinary rooms where nothing happened for the last three to five weeks."""
    shuffled = rng.sample(codes, len(codes))
    out: dict[str, tuple[float, int, datetime | None]] = {}
    start = 0
    for n, (_, share, low, high, r_low, r_high) in enumerate(PROFILES):
        end = len(codes) if n == len(PROFILES) - 1 else start + round(share * len(codes))
        for code in shuffled[start:end]:
            out[code] = (rng.uniform(low, high), rng.randint(r_low, r_high), None)
        start = end
    for code in rng.sample([c for c in codes if out[c][0] >= 8], min(DORMANT_ROOMS, len(codes))):
        out[code] = (*out[code][:2], now - timedelta(days=rng.randint(21, 35), hours=rng.randint(0, 12)))
    return out


async def _claim(deps: Deps) -> bool:
    """Record that the demo year is being loaded; False if it was (or is being) loaded already."""
    from pymongo.errors import DuplicateKeyError

    from server import idempotency

    try:
        await deps.db[idempotency.COLLECTION].insert_one(
            {"_id": MARKER, "kind": "demo_year", "room": None, "actor": stock_demo.ACTOR, "at": datetime.now(UTC),
             "ok": True, "result": {"state": "loading"}})
    except DuplicateKeyError:
        return False
    return True


async def _write_stats(deps: Deps, stats: dict[str, dict[str, Any]]) -> None:
    """Add the year's counts to ``loan_stats``: new rows inserted, rows already there incremented."""
    counted = ("loans", "renewals", "returns")
    have = {d["_id"] for d in await deps.db[STATS].find({"_id": {"$in": list(stats)}}, {"_id": 1}).to_list()}
    await stock_demo.insert_chunked(deps, STATS, [{"_id": key, **row} for key, row in stats.items() if key not in have])
    if have:
        await deps.db[STATS].bulk_write([UpdateOne({"_id": key}, {"$inc": {k: v for k, v in stats[key].items()
                                                                            if k in counted}}) for key in have])


async def _reserve_cards(deps: Deps, n: int) -> int:
    """The first of ``n`` card serials taken from the registration counter in one step."""
    doc = await deps.db[readers_repo.COUNTERS].find_one_and_update(
        {"_id": readers_repo.CARD_COUNTER}, {"$inc": {"seq": n}}, upsert=True, return_document=ReturnDocument.AFTER)
    assert doc is not None
    return int(doc["seq"]) - n + 1


async def seed_demo_year(deps: Deps, *, scale: float = 1.0, seed: int = SEED) -> DemoYearReport:
    """Load the demo year once (see the module docstring). ``scale`` shrinks stock, readers
    and loans alike (the tests use less than 1 to stay fast); the shape stays the same."""
    from miniprogram_api.challenges.demo_summer import seed_summer_challenge
    from server.catalog.demo_backlist import seed_backlist

    report = DemoYearReport()
    if not await _claim(deps):
        return DemoYearReport(skipped=True)
    rng = random.Random(seed)
    today, now = local_today(), datetime.now(UTC).replace(microsecond=0)
    started = clock.perf_counter()

    def lap(name: str) -> None:
        nonlocal started
        report.seconds[name] = clock.perf_counter() - started
        started = clock.perf_counter()

    titles = {t["_id"]: t for t in await seed_backlist(deps)}
    report.titles = len(titles)
    lap("titles")
    rooms = await deps.db["rooms"].find({"status": "active"}, {"code": 1, "name": 1, "kind": 1, "town": 1,
                                                               "opening_hours": 1}).sort("code", 1).to_list()
    admins = {s["rooms"][0]: (s["username"], str(s["_id"])) for s in await deps.db["staff"].find(
        {"role": "room_admin"}, {"username": 1, "rooms": 1}).to_list() if s.get("rooms")}
    approver = await deps.db["staff"].find_one({"role": "district_admin"}, {"username": 1}, sort=[("_id", 1)])
    codes = [r["code"] for r in rooms]
    plans = stock_demo.plan_stock(rooms, list(titles.values()), seed=seed, today=today, scale=scale)
    profiles = _profiles(rng, codes, now)
    year, rules, readers = Year(), deps.settings.district.lending, []
    start = today - timedelta(days=364)
    for room in rooms:
        code = room["code"]
        per_month, n_readers, dormant = profiles[code]
        admin = admins.get(code, (code.lower(), ""))
        people = plan_readers(rng, deps, room, max(round(n_readers * scale), 3), admin=admin, today=today, now=now)
        ry = RoomYear(room, plans[code], people, per_month * scale, dormant, admin[0])
        RoomSimulation(rng, ry, titles, year, rules=rules, now=now,
                       approver=approver["username"] if approver else stock_demo.ACTOR).run(start)
        readers += people
    lap("simulation")
    first = await _reserve_cards(deps, len(readers))
    docs = sorted((r.doc for r in readers), key=lambda d: d["created_at"])
    for n, doc in enumerate(docs):
        doc["card_no"] = f"{deps.settings.district.code}{first + n:08d}"
    await asyncio.gather(
        stock_demo.insert_chunked(deps, readers_repo.COLLECTION, docs),
        stock_demo.insert_ledger(deps, stock_demo.holding_docs(year.state, year.updated), year.moves),
        stock_demo.insert_chunked(deps, LOANS, year.loans),
        stock_demo.insert_chunked(deps, "stocktakes", year.stocktakes),
        _write_stats(deps, year.stats))
    lap("writes")
    report.participants = await seed_summer_challenge(deps, seed=seed, scale=scale)
    lap("challenge")
    report.volumes = sum(sum(d.lines.values()) for p in plans.values() for d in p.deliveries)
    report.readers, report.children = len(docs), sum(1 for r in readers if r.child)
    report.loans, report.open_loans = len(year.loans), sum(1 for d in year.loans if d["returned_at"] is None)
    report.stocktakes = len(year.stocktakes)
    await deps.db["operations"].update_one({"_id": MARKER}, {"$set": {"result": {
        "state": "done", **{k: v for k, v in report.__dict__.items() if isinstance(v, int)}}}})
    log.info("%s", report)
    return report
