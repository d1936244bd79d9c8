"""The figures behind the console's 藏书与流通 pages and its Excel exports (filters, the
queries — one per collection whatever the number of rooms — and pure row builders).
The export tables themselves are in ``tables.py``. No Tornado here.

Scope: district roles, inspectors and trainers see the whole district; a town coordinator
only the rooms of their towns (``Actor.room_filter``). Loans are counted from ``loan_stats``
only (per room, month, format, category and age group — no reader; Public Library Law art. 43),
so the figures survive the anonymisation of loan histories.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pymongo.asynchronous.database import AsyncDatabase

from server.catalog.classification import CATEGORIES
from server.district import RoomStandards
from server.rooms import repo as rooms_repo
from server.rooms.models import RoomKind, RoomStatus
from server.staff.models import RoomCode
from server.staff.roles import Actor
from server.stats import roomstats
from server.stats.yearfacts import FIRST_YEAR

if TYPE_CHECKING:
    from server.resources import Deps

STRICT = ConfigDict(extra="forbid", str_strip_whitespace=True)
TownText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]
SearchText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
ObjectIdText = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{24}$")]
Year = Annotated[int, Field(ge=FIRST_YEAR, le=2100)]
ROOM_FIELDS = {"_id": 0, "code": 1, "name": 1, "kind": 1, "town": 1, "village": 1, "residents": 1, "area_m2": 1,
               "seats": 1, "opening_hours": 1, "status": 1}
LOAN_FIGURES = ("loans", "renewals", "returns", "in_room_uses")
ROOM_STATUS_LABELS = {"active": "启用", "inactive": "停用"}
MONTHS = tuple(f"{m:02d}" for m in range(1, 13))


# -- filters ------------------------------------------------------------------------------------


class RoomsFilter(BaseModel):
    """The rooms list's filters (/console/rooms), without paging."""

    model_config = STRICT
    town: TownText | None = None
    kind: RoomKind | None = None
    status: RoomStatus | None = None
    q: SearchText | None = Field(None, description="part of the name, village or code")


class StockFilter(BaseModel):
    model_config = STRICT
    town: TownText | None = None
    year: Year | None = Field(None, description="holdings at the end of that year; now when left out")
    below: bool = Field(False, description="only rooms below a holdings standard")
    q: SearchText | None = Field(None, description="part of the room's name, village or code")


StockSort = Literal["code", "town", "volumes", "titles", "periodicals", "audio_visual", "residents", "per_resident"]


class StockPageQuery(StockFilter):
    sort: StockSort = "code"
    desc: bool = False


class LoansFilter(BaseModel):
    model_config = STRICT
    year: Year | None = Field(None, description="calendar year; this year when left out")
    town: TownText | None = None
    room: RoomCode | None = None
    by: Literal["month", "category"] = Field("month", description="rows per room × month, or × month × category")


class LoansPageQuery(BaseModel):
    model_config = STRICT
    year: Year | None = None
    town: TownText | None = None
    cols: Literal["month", "quarter"] = Field("month", description="the per-town table's columns")


class ShipmentsFilter(BaseModel):
    model_config = STRICT
    plan_id: ObjectIdText | None = Field(None, description="one plan's shipments; else the year's")
    year: Year | None = Field(None, description="this year when neither plan_id nor year is given")
    town: TownText | None = None


class TrainingFilter(BaseModel):
    model_config = STRICT
    year: Year | None = Field(None, description="certificates issued that year")
    course: ObjectIdText | None = Field(None, description="one course's certificates")


class RatingsFilter(BaseModel):
    model_config = STRICT
    round: ObjectIdText | None = Field(None, description="the rating round; the newest one when left out")



def six_class(category: Any) -> str:
    return category if category in CATEGORIES else "其他"


# -- rooms ----------------------------------------------------------------------------------------


async def scoped_rooms(db: AsyncDatabase, actor: Actor, *, town: str | None = None, kind: str | None = None,
                       status: str | None = None, q: str | None = None) -> list[dict[str, Any]]:
    """Rooms in ``actor``'s scope matching the filters, by code (one query)."""
    flt = rooms_repo.list_filter(scope=actor.room_filter(), town=town, kind=kind, status=status, q=q)
    return await db["rooms"].find(flt, ROOM_FIELDS).sort("code", 1).to_list()


async def administrator_names(db: AsyncDatabase, codes: list[str]) -> dict[str, list[str]]:
    """Room → its active administrators' names (names only: no phone, no username); one query."""
    docs = await db["staff"].find({"rooms": {"$in": codes}, "role": "room_admin", "active": True},
                                  {"_id": 0, "name": 1, "rooms": 1}).sort("username", 1).to_list() if codes else []
    out: dict[str, list[str]] = defaultdict(list)
    wanted = set(codes)
    for d in docs:
        for code in d.get("rooms") or []:
            if code in wanted:
                out[code].append(d["name"])
    return out


# -- stock ----------------------------------------------------------------------------------------


@dataclass
class StockRow:
    """One room's holdings: book volumes (册) and titles (种), periodical kinds (种),
    audio-visual items (件), book volumes per six-class category; copies held = on the shelf,
    on loan or in transit (not lost or damaged)."""

    code: str
    name: str
    town: str
    residents: int | None
    volumes: int = 0
    titles: int = 0
    periodicals: int = 0
    audio_visual: int = 0
    by_category: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CATEGORIES, 0))
    below: list[tuple[str, str]] = field(default_factory=list)

    @property
    def per_resident(self) -> float | None:
        return self.volumes / self.residents if self.residents else None

    def share(self, category: str) -> float | None:
        return self.by_category[category] / self.volumes if self.volumes else None


async def folded_figures(deps: Deps, codes: list[str], year: int, today: date) -> list[dict[str, Any]]:
    """Per (room, format, category): copies held and titles with a copy held, read from the
    per-room figures folded nightly (``server.stats.roomstats``: holdings at the end of
    ``year``, or today for this year) — folding 80,000 holdings on every view takes seconds. Book titles come as one row per
    room (category 其他 with no copies): the fold keeps titles per format, copies per category."""
    folded = (await roomstats.stock(deps, codes, [year], today))[year]
    rows: list[dict[str, Any]] = []
    for room, doc in folded.items():
        for fmt, f in (doc.get("formats") or {}).items():
            book = fmt == "book"
            rows.append({"room": room, "format": fmt, "category": "其他", "copies": 0 if book else int(f["copies"]),
                         "titles": int(f["titles"])})
        rows += [{"room": room, "format": "book", "category": six_class(cat), "copies": int(n), "titles": 0}
                 for cat, n in (doc.get("categories") or {}).items()]
    return rows


def below_standards(row: StockRow, standards: RoomStandards) -> list[tuple[str, str]]:
    """(short label, full text) for each holdings standard the room falls short of."""
    checks = [("册数", "图书册数", row.volumes, standards.min_volumes, "册"),
              ("种数", "图书种数", row.titles, standards.min_titles, "种"),
              ("报刊", "报刊", row.periodicals, standards.min_periodicals, "种"),
              ("音像", "音像制品", row.audio_visual, standards.min_audio_visual, "件")]
    return [(f"{short}不足", f"{label} {have:,} {unit}，低于 {need:,} {unit}的标准")
            for short, label, have, need, unit in checks if have < need]


def stock_rows(rooms: list[dict[str, Any]], figures: list[dict[str, Any]], standards: RoomStandards) -> list[StockRow]:
    """One StockRow per room (in ``rooms``' order), below-standard checks included."""
    rows = {r["code"]: StockRow(code=r["code"], name=r["name"], town=r["town"], residents=r.get("residents"))
            for r in rooms}
    for f in figures:
        row = rows.get(f["room"])
        if row is None:
            continue
        if f["format"] == "book":
            row.volumes += f["copies"]
            row.titles += f["titles"]
            row.by_category[f["category"]] += f["copies"]
        elif f["format"] == "periodical":
            row.periodicals += f["titles"]
        elif f["format"] == "audio_visual":
            row.audio_visual += f["copies"]
    for row in rows.values():
        row.below = below_standards(row, standards)
    return list(rows.values())


def sort_stock(rows: list[StockRow], key: str, desc: bool) -> list[StockRow]:
    """Sorted by ``key``; rooms without the figure (no residents) always last."""
    if key in {"code", "town"}:
        return sorted(rows, key=lambda r: (getattr(r, key), r.code), reverse=desc)
    known = [r for r in rows if getattr(r, key) is not None]
    unknown = [r for r in rows if getattr(r, key) is None]
    return sorted(known, key=lambda r: (getattr(r, key), r.code), reverse=desc) + unknown


@dataclass(frozen=True)
class StockTotals:
    rooms: int
    volumes: int
    titles: int
    periodicals: int
    audio_visual: int
    residents: int | None
    below: int

    @property
    def per_resident(self) -> float | None:
        return self.volumes / self.residents if self.residents else None


def stock_totals(rows: list[StockRow]) -> StockTotals:
    """Sums; the residents (and volumes per resident) only over rooms whose residents are known —
    a titles total is a sum of per-room titles (a title held in two rooms counts twice)."""
    known = [r for r in rows if r.residents]
    return StockTotals(rooms=len(rows), volumes=sum(r.volumes for r in rows), titles=sum(r.titles for r in rows),
                       periodicals=sum(r.periodicals for r in rows), audio_visual=sum(r.audio_visual for r in rows),
                       residents=sum(r.residents or 0 for r in known) or None, below=sum(1 for r in rows if r.below))


def category_mix(rows: list[StockRow], targets: dict[str, float]) -> list[dict[str, Any]]:
    """The six classes' share of the book volumes of ``rows`` against the district's targets."""
    total = sum(r.volumes for r in rows)
    out = []
    for c in CATEGORIES:
        volumes = sum(r.by_category[c] for r in rows)
        share = volumes / total if total else None
        target = targets.get(c, 0.0)
        out.append({"category": c, "volumes": volumes, "share": share, "target": target,
                    "gap": None if share is None else share - target})
    return out


# -- loans (loan_stats only) ------------------------------------------------------------------------


@dataclass(frozen=True)
class LoanCell:
    """One room's figures for one month ("YYYY-MM") and one six-class category."""

    room: str
    month: str
    category: str
    loans: int
    renewals: int
    returns: int
    in_room_uses: int


async def loan_cells(db: AsyncDatabase, codes: list[str], year: int) -> list[LoanCell]:
    """``loan_stats`` of ``codes`` in ``year``, summed over format and age group (one query).
    The query selects by month only and keeps ``codes`` here: the district's whole year is a
    few thousand small documents, and a room ``$in`` beside the month range made the dev
    database (SecantusDB) scan five times longer."""
    if not codes:
        return []
    wanted = set(codes)
    docs = await db["loan_stats"].find({"month": {"$gte": f"{year}-01", "$lte": f"{year}-12"}},
                                       {"_id": 0, "room": 1, "month": 1, "category": 1,
                                        **dict.fromkeys(LOAN_FIGURES, 1)}).to_list()
    merged: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for d in docs:
        if d.get("room") not in wanted:
            continue
        key = (d["room"], d["month"], six_class(d.get("category")))
        for i, f in enumerate(LOAN_FIGURES):
            merged[key][i] += int(d.get(f) or 0)
    return [LoanCell(room, month, category, *values) for (room, month, category), values in sorted(merged.items())]


def loans_by_month_and_category(cells: list[LoanCell]) -> list[dict[str, Any]]:
    """Twelve rows (months 01–12): loans per six-class category and their total."""
    grid: dict[str, dict[str, int]] = {m: dict.fromkeys(CATEGORIES, 0) for m in MONTHS}
    for c in cells:
        grid[c.month[5:7]][c.category] += c.loans
    return [{"month": m, "label": f"{int(m)}月", "values": [grid[m][c] for c in CATEGORIES],
             "total": sum(grid[m].values())} for m in MONTHS]


def period_labels(cols: str) -> list[str]:
    return [f"{int(m)}月" for m in MONTHS] if cols == "month" else ["一季度", "二季度", "三季度", "四季度"]


def loans_by_town(cells: list[LoanCell], rooms: list[dict[str, Any]], towns: list[str], cols: str
                  ) -> list[dict[str, Any]]:
    """One row per town (``towns``' order, then any other town of ``rooms``): loans per month or quarter."""
    town_of = {r["code"]: r["town"] for r in rooms}
    width = 12 if cols == "month" else 4
    order = [*towns, *sorted({r["town"] for r in rooms} - set(towns))]
    grid: dict[str, list[int]] = {t: [0] * width for t in order}
    counts: dict[str, int] = defaultdict(int)
    for r in rooms:
        counts[r["town"]] += 1
    for c in cells:
        month = int(c.month[5:7])
        grid[town_of[c.room]][month - 1 if cols == "month" else (month - 1) // 3] += c.loans
    return [{"town": t, "rooms": counts[t], "values": grid[t], "total": sum(grid[t])} for t in order if counts[t]]


def loans_by_room(cells: list[LoanCell], rooms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every room in ``rooms`` with its year's loans, most first (ties by code)."""
    totals: dict[str, int] = defaultdict(int)
    for c in cells:
        totals[c.room] += c.loans
    rows = [{"code": r["code"], "name": r["name"], "town": r["town"], "loans": totals.get(r["code"], 0)}
            for r in rooms]
    return sorted(rows, key=lambda r: (-r["loans"], r["code"]))


def loan_rows_by_month(cells: list[LoanCell], rooms: list[dict[str, Any]], months: list[str]
                       ) -> list[tuple[dict[str, Any], str, list[int]]]:
    """(room, month, [loans, renewals, returns, in-room uses]) for every room and month — zeros included."""
    sums: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for c in cells:
        row = sums[(c.room, c.month)]
        for i, value in enumerate((c.loans, c.renewals, c.returns, c.in_room_uses)):
            row[i] += value
    return [(r, m, sums.get((r["code"], m), [0, 0, 0, 0])) for r in rooms for m in months]


