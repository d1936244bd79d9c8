"""A plan's candidate titles: the year's recommended list (imported) and titles the
district adds. Every candidate is also in the catalog ``titles`` so that receiving works.

Contracts:
- ``import_list``: all or nothing. A dry run, or a file with any bad row, writes nothing
  and reports every problem; otherwise the valid rows become candidates (on_list=true,
  source "list") and catalog titles (new ones created with the catalog's own document
  builder; existing ones get list_year and the list's price, category and province) in
  one transaction with one audit entry.
- Candidates change only while the plan is draft or selection_open.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from distribution.plans import listimport, repo
from distribution.plans.models import (
    CandidateIn,
    CandidateOut,
    CandidatePage,
    CandidateQuery,
    ListImportReport,
)
from distribution.plans.service import EDITABLE_STATES, STATUS_LABELS, get_plan_doc
from server.audit import repo as audit
from server.catalog import repo as catalog_repo
from server.catalog.isbn import IsbnError, to_isbn13
from server.catalog.service import title_document
from server.errors import FieldProblem, InvalidInput, RuleViolation
from server.pagination import decode_cursor, encode_cursor
from server.sheet_import import RowProblem
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

MAX_PROBLEMS_IN_ERROR = 100


def to_out(doc: dict[str, Any]) -> CandidateOut:
    return CandidateOut(candidate_id=str(doc["_id"]), plan_id=str(doc["plan_id"]),
                        **{k: doc.get(k) for k in CandidateOut.model_fields if k not in {"candidate_id", "plan_id"}})


def _editable(plan: dict[str, Any]) -> None:
    if plan["status"] not in EDITABLE_STATES or plan.get("history"):
        raise RuleViolation(f"计划处于“{STATUS_LABELS[plan['status']]}”状态，不能再改候选书目", code="plan_not_editable")


def _catalog_writes(existing: dict[str, dict[str, Any]], rows: list[dict[str, Any]], year: int | None
                    ) -> tuple[list[dict[str, Any]], list[tuple[str, dict[str, Any]]]]:
    """New title documents and changes to catalogued titles for candidate ``rows``."""
    now = db_now()
    creates, updates = [], []
    for row in rows:
        fields = {"price_cents": row["price_fen"], "category": row["category"],
                  "publisher_province": row["publisher_province"]}
        if year is not None:
            fields["list_year"] = year
        found = existing.get(row["title_id"])
        if found is None:
            given = {"isbn": row["title_id"], "title": row["title"], "author": row.get("author"),
                     "publisher": row.get("publisher"), "clc": row.get("clc"), **fields}
            creates.append(title_document({k: v for k, v in given.items() if v is not None}, row["title_id"], now=now))
        else:
            changes = {k: v for k, v in fields.items() if found.get(k) != v}
            if "category" in changes:
                changes["category_derived"] = False
            if changes:
                updates.append((row["title_id"], {**changes, "updated_at": now}))
    return creates, updates


async def import_list(deps: Deps, actor: Actor, plan_id: str, data: bytes, content_type: str | None, *,
                      dry_run: bool) -> ListImportReport:
    """Import the year's list into the plan (see the module docstring). Raises
    InvalidInput (every problem, row + column) for a real import with bad rows."""
    plan = await get_plan_doc(deps, plan_id)
    _editable(plan)
    parsed = await asyncio.to_thread(listimport.parse_list, data, content_type)
    problems = [RowProblem(row=r, column=c, message=m) for r, c, m in parsed.problems]
    report = ListImportReport(dry_run=dry_run, rows=parsed.rows, valid=len(parsed.valid), problems=problems,
                              imported=False)
    if problems and not dry_run:
        raise InvalidInput(f"推荐目录有 {len(problems)} 处错误，未导入任何内容（可先试运行查看）", code="list_rows_invalid",
                           errors=[FieldProblem(("body", p.row, p.column), p.message)
                                   for p in problems[:MAX_PROBLEMS_IN_ERROR]])
    if dry_run or not parsed.valid:
        return report
    rows = [{"title_id": r.isbn, "title": r.title, "author": r.author, "publisher": r.publisher,
             "publisher_province": r.publisher_province, "price_fen": r.price_fen, "category": r.category,
             "clc": r.clc} for r in parsed.valid]
    existing = {d["_id"]: d for d in await catalog_repo.by_ids(deps.db, [str(r["title_id"]) for r in rows])}
    creates, updates = _catalog_writes(existing, rows, plan["year"])
    docs = [{"plan_id": plan["_id"], **{k: v for k, v in r.items() if k != "clc"}, "on_list": True, "source": "list"}
            for r in rows]

    async def work(session: Any) -> tuple[int, int]:
        await catalog_repo.write_many(deps.db, creates, updates, session=session)
        created, updated = await repo.upsert_candidates(deps.db, docs, session=session)
        await audit.record(deps.db, actor, "dist_plan.list_import", target_type="dist_plan", target_id=plan_id,
                           changes={"rows": parsed.rows, "candidates_created": created, "candidates_updated": updated,
                                    "titles_created": len(creates), "titles_updated": len(updates)}, session=session)
        return created, updated

    created, updated = await in_transaction(deps.mongo, work)
    return report.model_copy(update={"imported": True, "candidates_created": created, "candidates_updated": updated,
                                     "titles_created": len(creates)})


async def add_candidate(deps: Deps, actor: Actor, plan_id: str, data: CandidateIn) -> CandidateOut:
    """One title the district adds (on_list=false, source "district"); a title already a
    candidate keeps its on_list flag. Also upserted into the catalog."""
    plan = await get_plan_doc(deps, plan_id)
    _editable(plan)
    try:
        title_id = to_isbn13(data.isbn)
    except IsbnError as exc:
        raise InvalidInput(f"ISBN 有误：{exc}", code="invalid_isbn", errors=[FieldProblem(("body", "isbn"), str(exc))]) \
            from None
    row = {"title_id": title_id, **data.model_dump(exclude={"isbn"})}
    current = (await repo.candidates_by_title(deps.db, plan["_id"], [title_id])).get(title_id)
    existing = {d["_id"]: d for d in await catalog_repo.by_ids(deps.db, [title_id])}
    creates, updates = _catalog_writes(existing, [row], None)
    doc = {"plan_id": plan["_id"], **row, "on_list": bool(current and current.get("on_list")),
           "source": current["source"] if current else "district"}

    async def work(session: Any) -> None:
        await catalog_repo.write_many(deps.db, creates, updates, session=session)
        await repo.upsert_candidates(deps.db, [doc], session=session)
        await audit.record(deps.db, actor, "dist_plan.candidate_add", target_type="dist_plan", target_id=plan_id,
                           changes={"title_id": title_id, "title": data.title, "price_fen": data.price_fen},
                           session=session)

    await in_transaction(deps.mongo, work)
    stored = (await repo.candidates_by_title(deps.db, plan["_id"], [title_id]))[title_id]
    return to_out(stored)


async def list_candidates(deps: Deps, plan_id: str, query: CandidateQuery) -> CandidatePage:
    """One page of candidates by title id, filtered; with the whole plan's counts per category."""
    plan = await get_plan_doc(deps, plan_id)
    after = str(decode_cursor(query.cursor, arity=1)[0]) if query.cursor else None
    docs = await repo.candidate_page(deps.db, plan["_id"], category=query.category, on_list=query.on_list, q=query.q,
                                     after=after, limit=query.limit + 1)
    page = docs[: query.limit]
    cursor = encode_cursor([page[-1]["title_id"]]) if len(docs) > query.limit and page else None
    return CandidatePage(items=[to_out(d) for d in page], next_cursor=cursor,
                         counts=await repo.category_counts(deps.db, plan["_id"]))
