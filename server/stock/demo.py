"""Demo stock for the demo year: each active room's opening stock (期初库存) of backlist
titles, this year's deliveries, approved stocktakes with a small loss — as ledger entries
shaped exactly as ``stock.repo.apply_moves`` writes them, so ``check_ledger`` holds.

The plan is pure (``plan_stock``); the loan simulation (``server.circulation.demo``) walks
it in time order, then writes the holdings it ends with and every move with
``insert_ledger``. A spread around the standards keeps the dashboard interesting: most
rooms hold 1,550–3,000 books over 510–760 titles (one in ten up to 1,100); about one room in eight is below
1,500 volumes or 500 titles; 20–40 报刊 and 60–150 audio-visual items, the six-class mix
varying from room to room.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final

from server.circulation.rules import LOCAL_TZ
from server.stock.ledger import STATES, Move, MoveKind
from server.stock.stocktake import build_report

if TYPE_CHECKING:
    from server.resources import Deps

ACTOR: Final = "seed-demo"
OPEN_OP: Final = "demo-year-open-{room}"
DELIVERY_OP: Final = "demo-year-recv-{room}"
STOCKTAKE_OP: Final = "demo-year-stocktake-{room}"
# DOMAIN.md's six-class target mix; each room's own mix is this with noise.
TARGET_MIX: Final[dict[str, float]] = {"政经": 0.04, "科技": 0.40, "生活": 0.10, "文化": 0.35, "少儿": 0.10,
                                       "其他": 0.01}
BELOW_STANDARD_SHARE: Final = 0.12
STOCKTAKE_ROOMS: Final = 20
INSERT_CHUNK: Final = 2000


@dataclass
class Delivery:
    """Copies that arrive in a room at one moment (one receive operation)."""

    op_id: str
    at: datetime
    lines: dict[str, int]
    reference: str


@dataclass
class Stocktake:
    """An approved stocktake: when it started and how many copies of which titles were missing."""

    at: datetime
    missing: dict[str, int]


@dataclass
class RoomStock:
    code: str
    deliveries: list[Delivery] = field(default_factory=list)
    stocktake: Stocktake | None = None


def local_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=LOCAL_TZ)


def _mix(rng: random.Random) -> dict[str, float]:
    noisy = {c: w * rng.lognormvariate(0, 0.35) for c, w in TARGET_MIX.items()}
    total = sum(noisy.values())
    return {c: w / total for c, w in noisy.items()}


def _spread(rng: random.Random, ids: list[str], volumes: int, most: int) -> dict[str, int]:
    """``volumes`` copies over ``ids`` (one each, the rest at random, at most ``most`` a title)."""
    lines = dict.fromkeys(ids, 1)
    extra = max(volumes - len(ids), 0)
    while extra > 0:
        t = rng.choice(ids)
        if lines[t] < most:
            lines[t] += 1
            extra -= 1
    return lines


def _pick(rng: random.Random, pools: dict[str, list[str]], mix: dict[str, float], n: int,
          exclude: set[str]) -> list[str]:
    """``n`` titles from the category pools in proportion to ``mix``, none of ``exclude``."""
    out: list[str] = []
    for category, share in mix.items():
        pool = [t for t in pools.get(category, []) if t not in exclude]
        out += rng.sample(pool, min(len(pool), round(n * share)))
    return out


def plan_room(rng: random.Random, code: str, titles: list[dict[str, Any]], *, below: bool, scale: float,
              today: date) -> RoomStock:
    """The opening stock (1 January last year) and this year's delivery of one room."""
    pools: dict[tuple[str, str], list[str]] = {}
    for t in titles:
        pools.setdefault((t["format"], t["category"]), []).append(t["_id"])
    books = {c: ids for (f, c), ids in pools.items() if f == "book"}
    mix = _mix(rng)
    if below:
        n_titles = rng.randint(380, 560)
        volumes = rng.randint(950, 1480) if n_titles >= 500 or rng.random() < 0.6 else rng.randint(1520, 1800)
    else:
        n_titles = round(rng.triangular(510, 1100, 520) if rng.random() < 0.1 else rng.triangular(510, 760, 520))
        volumes = max(round(rng.triangular(1550, 3000, 1800)), n_titles + 200)
    n_titles, volumes = max(round(n_titles * scale), 1), max(round(volumes * scale), 1)
    chosen = _pick(rng, books, mix, n_titles, set())
    lines = _spread(rng, chosen, volumes, most=8)
    periodicals = [t for (f, _), ids in pools.items() if f == "periodical" for t in ids]
    n_periodicals = max(round(rng.triangular(20, 40, 34) * scale), 1)
    lines.update(dict.fromkeys(rng.sample(periodicals, min(n_periodicals, len(periodicals))), 1))
    av = [t for (f, _), ids in pools.items() if f == "audio_visual" for t in ids]
    av_items = max(round(rng.triangular(60, 150, 115) * scale), 1)
    av_titles = rng.sample(av, min(max(av_items * 2 // 5, 1), len(av)))
    lines.update(_spread(rng, av_titles, av_items, most=4))
    opening = local_midnight(date(today.year - 1, 1, 1))
    stock = RoomStock(code, [Delivery(OPEN_OP.format(room=code), opening, lines, "期初库存（演示数据）")])
    days_this_year = (today - date(today.year, 1, 1)).days
    if days_this_year > 30 and rng.random() < 0.75:
        new = _pick(rng, books, mix, max(round(rng.randint(30, 70) * scale), 1), set(lines))
        day = date(today.year, 1, 1) + timedelta(days=rng.randint(10, days_this_year - 14))
        at = local_midnight(day) + timedelta(hours=rng.randint(9, 16), minutes=rng.randint(0, 59))
        stock.deliveries.append(Delivery(DELIVERY_OP.format(room=code), at, _spread(rng, new, len(new) * 3 // 2, 2),
                                         f"{today.year}年补充更新（演示数据）"))
    return stock


def plan_stock(rooms: list[dict[str, Any]], titles: list[dict[str, Any]], *, seed: int, today: date,
               scale: float = 1.0) -> dict[str, RoomStock]:
    """Every room's stock plan (rooms in code order; deterministic for ``seed``), with an
    approved stocktake this year in ``STOCKTAKE_ROOMS`` of them."""
    rng = random.Random(seed)
    codes = sorted(r["code"] for r in rooms)
    mobile = {r["code"] for r in rooms if r.get("kind") == "流动服务点"}
    n_below = round(len(codes) * BELOW_STANDARD_SHARE)
    below = set(sorted(mobile)[: n_below // 2])
    below |= set(rng.sample([c for c in codes if c not in below], n_below - len(below)))
    plans = {code: plan_room(rng, code, titles, below=code in below, scale=scale, today=today) for code in codes}
    days_this_year = (today - date(today.year, 1, 1)).days
    if days_this_year > 14:
        for code in rng.sample(codes, min(STOCKTAKE_ROOMS, len(codes))):
            day = date(today.year, 1, 1) + timedelta(days=rng.randint(7, days_this_year - 7))
            plans[code].stocktake = Stocktake(local_midnight(day) + timedelta(hours=rng.randint(9, 11)), {})
    return plans


def choose_missing(rng: random.Random, on_shelf: dict[str, int]) -> dict[str, int]:
    """A small loss found by a stocktake: one copy of 1–6 titles on the shelf."""
    shelved = sorted(t for t, n in on_shelf.items() if n > 0)
    return dict.fromkeys(rng.sample(shelved, min(rng.randint(1, 6), len(shelved))), 1)


# -- documents, as the stock code writes them --------------------------------------------------


def move_docs(op_id: str, moves: list[Move], *, at: datetime, reference: dict[str, Any], actor: str = ACTOR
              ) -> list[dict[str, Any]]:
    """The ``stock_moves`` documents ``repo.apply_moves`` writes for one operation."""
    return [{"op_id": op_id, "seq": seq, "room": m.room, "title_id": m.title_id, "kind": str(m.kind),
             "quantity": m.quantity, "delta": m.delta, "actor": actor, "at": at, "reference": reference}
            for seq, m in enumerate(moves)]


def delivery_moves(room: str, delivery: Delivery) -> list[dict[str, Any]]:
    moves = [Move(room, t, MoveKind.RECEIVE, n) for t, n in sorted(delivery.lines.items())]
    return move_docs(delivery.op_id, moves, at=delivery.at, reference={"receipt": delivery.reference})


def stocktake_documents(room: str, take: Stocktake, snapshot: dict[str, dict[str, int]], names: dict[str, str],
                        *, approver: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """An approved stocktake (the shape ``stock.stocktake`` stores after start, scans, finish
    and approve) and its STOCKTAKE_ADJUST moves. ``snapshot``: title → counters at the start."""
    from bson import ObjectId

    frozen = {t: {s: n for s, n in c.items() if n} for t, c in snapshot.items()}
    frozen = {t: c for t, c in frozen.items() if c}
    counts = {t: c.get("on_shelf", 0) - take.missing.get(t, 0) for t, c in frozen.items() if c.get("on_shelf", 0)}
    counts = {t: n for t, n in counts.items() if n > 0}
    report = build_report(frozen, counts, {}, {}, {t: names.get(t, t) for t in frozen})
    oid = ObjectId()
    finished = take.at + timedelta(hours=3)
    approved = take.at + timedelta(days=2)
    doc = {"_id": oid, "room": room, "state": "approved", "note": "年度盘点（演示数据）", "started_at": take.at,
           "started_by": room.lower(), "snapshot": frozen, "counts": counts, "unknown": {}, "devices": {},
           "scanned_copies": sum(counts.values()),
           "expected_titles": sum(1 for c in frozen.values() if c.get("on_shelf")),
           "expected_copies": sum(c.get("on_shelf", 0) for c in frozen.values()),
           "finished_at": finished, "finished_by": room.lower(), "report": report.model_dump(mode="json"),
           "loan_returns": [], "approved_at": approved, "approved_by": approver, "demo": True}
    moves = [Move(room, a.title_id, MoveKind.STOCKTAKE_ADJUST, explicit_delta=a.delta) for a in report.adjustments]
    return doc, move_docs(STOCKTAKE_OP.format(room=room), moves, at=approved, reference={"stocktake": str(oid)},
                          actor=approver)


def holding_docs(state: dict[tuple[str, str], dict[str, int]], updated: dict[tuple[str, str], datetime]
                 ) -> list[dict[str, Any]]:
    """``holdings`` documents from (room, title) → counters (the fold of the moves), each
    ``updated_at`` its last move's time, as ``apply_moves`` leaves it."""
    return [{"room": room, "title_id": title_id, **{s: counts.get(s, 0) for s in STATES},
             "updated_at": updated[(room, title_id)]}
            for (room, title_id), counts in sorted(state.items())]


async def insert_ledger(deps: Deps, holdings: list[dict[str, Any]], moves: list[dict[str, Any]]) -> None:
    """Insert new holdings and their moves in chunks, both collections at once (the demo's
    (room, title) pairs are new: backlist titles no room held before)."""
    await asyncio.gather(insert_chunked(deps, "holdings", holdings), insert_chunked(deps, "stock_moves", moves))


async def insert_chunked(deps: Deps, name: str, docs: list[dict[str, Any]]) -> None:
    for i in range(0, len(docs), INSERT_CHUNK):
        await deps.db[name].insert_many(docs[i : i + INSERT_CHUNK], ordered=False)
