"""Past years (2012–2015) loaded from the published figures, and the per-year trend.

The district's record gives totals for the four years together: 223,808 books and
15,400 discs. The split by year below is ours (a steady rise, as the programme grew);
money is an estimate at an average ¥26.00 a book and ¥15.00 a disc, marked as such:

    year   books    discs   fen (estimate)
    2012   52,000   3,600   52,000 × 2600 + 3,600 × 1500
    2013   55,000   3,800
    2014   57,500   3,900
    2015   59,308   4,100
    sum   223,808  15,400

``load_history`` is idempotent: a year already present (history or a real plan) is left alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId

from distribution.plans import repo
from distribution.plans.models import DEFAULTS, HistoryOut, YearFigures, YearsOut
from server.audit import repo as audit
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

BOOK_FEN_ESTIMATE = 2600
DISC_FEN_ESTIMATE = 1500
HISTORY: dict[int, tuple[int, int]] = {2012: (52_000, 3_600), 2013: (55_000, 3_800), 2014: (57_500, 3_900),
                                       2015: (59_308, 4_100)}
assert sum(b for b, _ in HISTORY.values()) == 223_808 and sum(d for _, d in HISTORY.values()) == 15_400


def history_documents() -> list[dict[str, Any]]:
    now = db_now()
    docs = []
    for year, (books, discs) in HISTORY.items():
        fen = books * BOOK_FEN_ESTIMATE + discs * DISC_FEN_ESTIMATE
        docs.append({**DEFAULTS, "_id": ObjectId(), "year": year, "title": f"{year} 年农家书屋补充更新（历史数据）",
                     "budget_fen": fen, "rooms": [], "window": None, "status": "closed", "chosen_run_id": None,
                     "history": True, "history_totals": {"books": books, "discs": discs, "fen": fen},
                     "fen_is_estimate": True, "created_at": now, "updated_at": now})
    return docs


async def load_history(deps: Deps, actor: Actor | None = None) -> HistoryOut:
    """Store 2012–2015 as closed past-year plans (idempotent). Audited when ``actor`` is given."""
    docs = history_documents()

    async def work(session: Any) -> int:
        created = await repo.upsert_history(deps.db, docs, session=session)
        if actor is not None:
            await audit.record(deps.db, actor, "dist_plan.history_load", target_type="dist_plan", target_id="history",
                               changes={"years": sorted(HISTORY), "created": created}, session=session)
        return created

    created = await in_transaction(deps.mongo, work)
    return HistoryOut(years=sorted(HISTORY), created=created)


async def years(deps: Deps) -> YearsOut:
    """Per year: books, discs, fen. Past years from their history_totals; other plans from
    their chosen run (locked or later) else their newest run (copies count as books; a
    plan's lines carry no format, so discs are 0), or zeros before any run."""
    plans = await repo.plans(deps.db)
    chosen = await repo.runs_totals(deps.db, [p["chosen_run_id"] for p in plans if p.get("chosen_run_id")])
    latest = await repo.latest_runs_totals(deps.db, [p["_id"] for p in plans
                                                     if not p.get("history") and not p.get("chosen_run_id")])
    items = []
    for p in sorted(plans, key=lambda d: d["year"]):
        if p.get("history"):
            t = p.get("history_totals") or {}
            items.append(YearFigures(year=p["year"], books=t.get("books", 0), discs=t.get("discs", 0),
                                     fen=t.get("fen", 0), history=True, plan_id=str(p["_id"])))
            continue
        run = (chosen.get(p["chosen_run_id"]) if p.get("chosen_run_id") else None) or latest.get(p["_id"]) or {}
        totals = run.get("totals") or {}
        items.append(YearFigures(year=p["year"], books=int(totals.get("copies", 0)), discs=0,
                                 fen=int(totals.get("fen", 0)), history=False, plan_id=str(p["_id"])))
    return YearsOut(items=items)
