"""The catalog: titles, their search, and imports.

Contracts:
- A title is keyed by its ISBN-13, or an internal id ("SW" + 11 digits) for items
  without one; ``resolve_scan`` turns whatever a scanner or a person produced
  into that key.
- Every write runs in a transaction with its audit entry; an import writes with
  bulk_write (no query per row), in chunks of IMPORT_CHUNK titles, each chunk one
  transaction with one audit entry carrying the import's counts.
- Search makes one query for the candidates, one for the page's documents and one
  aggregation for availability, whatever the page size.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server.audit import repo as audit
from server.catalog import imports, repo
from server.catalog.classification import category_for
from server.catalog.isbn import IsbnError, title_id_for_code
from server.catalog.models import (
    ImportReport,
    TitleHit,
    TitleInput,
    TitleOut,
    TitlePage,
    TitleQuery,
    TitleUpdate,
)
from server.catalog.searchkeys import TIER_NAMES, plan_query, rank, search_fields, search_keys
from server.errors import Conflict, FieldProblem, InvalidInput, NotFound
from server.pagination import decode_cursor, encode_cursor
from server.staff.roles import Actor
from server.storage import in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

# Candidates a search ranks at most (shortest titles first); a query matching more
# is too broad to page through on a phone: the first pages are the best matches.
CANDIDATE_CAP = 2000
IMPORT_CHUNK = 2000
EDITABLE = ("title", "author", "publisher", "year", "clc", "category", "children", "format", "price_cents",
            "list_year", "publisher_province")


# -- documents -----------------------------------------------------------------


def _derive(fields: dict[str, Any], *, explicit_category: bool) -> dict[str, Any]:
    """Set ``category`` from ``clc``/``children`` unless it was given explicitly."""
    if not explicit_category or not fields.get("category"):
        fields["category"] = category_for(fields.get("clc"), children=bool(fields.get("children")))
        fields["category_derived"] = True
    else:
        fields["category_derived"] = False
    return fields


def _with_search(doc: dict[str, Any]) -> dict[str, Any]:
    found = search_fields(doc["title"], doc.get("author"))
    doc["search"] = found.as_doc()
    doc["search_keys"] = search_keys(found, doc["_id"])
    if doc.get("isbn"):
        doc.pop("identity_key", None)
    else:
        doc["identity_key"] = imports.identity_key(doc)
    return doc


def title_document(data: TitleInput | dict[str, Any], title_id: str, *, now: datetime | None = None) -> dict[str, Any]:
    """The stored document of a new title (search keys included). ``data`` is a
    TitleInput or the dict of fields it gave. Public so that seeders and benchmarks
    write exactly what the catalog writes."""
    given = data.model_dump(include=data.model_fields_set) if isinstance(data, TitleInput) else dict(data)
    now = now or datetime.now(UTC)
    fields: dict[str, Any] = {name: None for name in EDITABLE}
    fields.update(format="book", children=False)
    fields.update({k: v for k, v in given.items() if k in EDITABLE})
    _derive(fields, explicit_category="category" in given and given["category"] is not None)
    doc = {"_id": title_id, "isbn": given.get("isbn"), **fields, "created_at": now, "updated_at": now}
    return _with_search(doc)


def _merge(existing: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``existing`` with the fields ``given`` names (non-empty cells win); the category
    follows clc/children unless it was set explicitly (now or before)."""
    merged = {name: existing.get(name) for name in EDITABLE}
    merged.update({k: v for k, v in given.items() if k in EDITABLE and v is not None})
    if given.get("category") is not None:
        _derive(merged, explicit_category=True)
    elif existing.get("category_derived", True):
        _derive(merged, explicit_category=False)
    else:
        merged["category_derived"] = False
    return merged


def _changes(existing: dict[str, Any], merged: dict[str, Any]) -> dict[str, Any]:
    changed = {k: v for k, v in merged.items() if existing.get(k) != v}
    if not changed:
        return {}
    doc = _with_search({**existing, **merged})
    changed.update(search=doc["search"], search_keys=doc["search_keys"], updated_at=datetime.now(UTC))
    if "identity_key" in doc and doc["identity_key"] != existing.get("identity_key"):
        changed["identity_key"] = doc["identity_key"]
    return changed


def to_out(doc: dict[str, Any]) -> TitleOut:
    """The API view of a stored title (tolerates documents written before a field existed)."""
    values = {k: doc.get(k) for k in TitleOut.model_fields if k != "title_id"}
    values["title"] = values["title"] or doc["_id"]
    values["category"] = values["category"] or category_for(doc.get("clc"), children=bool(doc.get("children")))
    values["format"] = values["format"] if values["format"] in {"book", "periodical", "audio_visual"} else "book"
    values["children"] = bool(values["children"])
    return TitleOut(title_id=doc["_id"], **values)


# -- reading -------------------------------------------------------------------


def _code_or_error(raw: str, loc: tuple[str, ...]) -> str:
    try:
        return title_id_for_code(raw)
    except IsbnError as exc:
        raise InvalidInput(f"“{raw[:40]}” 不是有效的 ISBN 或馆内编号：{exc}", code="invalid_code",
                           errors=[FieldProblem(loc, str(exc))]) from None


async def find_titles(db: AsyncDatabase, ids: list[str]) -> dict[str, TitleOut]:
    """The titles with these ids (one query); ids not in the catalog are absent."""
    return {d["_id"]: to_out(d) for d in await repo.by_ids(db, list(dict.fromkeys(ids)))}


async def resolve_scan(db: AsyncDatabase, code: str, *, loc: tuple[str, ...] = ("body", "code")) -> TitleOut:
    """The title a scanned or typed code names: ISBN-13, ISBN-10, with or without
    hyphens, a barcode with a price add-on, or an internal id. InvalidInput (naming
    ``loc``) if the code is malformed; NotFound if it is not in the catalog."""
    title_id = _code_or_error(code, loc)
    doc = await repo.by_id(db, title_id)
    if doc is None:
        raise NotFound(f"目录中没有 {title_id}，请核对或先登记书目", code="title_not_found")
    return to_out(doc)


def _path_id(raw: str) -> str:
    """The title id in a URL; a path that cannot name a title names nothing (404)."""
    try:
        return title_id_for_code(raw)
    except IsbnError as exc:
        raise NotFound(f"目录中没有 “{raw[:40]}”：{exc}", code="title_not_found",
                       errors=[FieldProblem(("path", "title_id"), str(exc))]) from None


async def get_title(deps: Deps, title_id: str) -> TitleOut:
    """One title by ISBN-13, ISBN-10 (any form) or internal id; NotFound otherwise."""
    title_id = _path_id(title_id)
    doc = await repo.by_id(deps.db, title_id)
    if doc is None:
        raise NotFound(f"目录中没有 {title_id}", code="title_not_found")
    return to_out(doc)


async def search_titles(deps: Deps, query: TitleQuery) -> TitlePage:
    """Titles matching ``q`` best first (or, without ``q``, the catalog by id), with
    availability in ``query.room``. Three round trips whatever the page size: the
    candidates (ranking fields only), the page's documents, the availability."""
    if query.q:
        hits = await _search(deps.db, query)
        offset = decode_cursor(query.cursor, arity=1)[0] if query.cursor else 0
        if not isinstance(offset, int) or not 0 <= offset <= CANDIDATE_CAP:
            decode_cursor("", arity=1)  # the same InvalidInput as any forged cursor
        assert isinstance(offset, int)
        ranked = hits[offset : offset + query.limit]
        more = offset + query.limit < len(hits)
        next_cursor = encode_cursor([offset + query.limit]) if more else None
        full = {d["_id"]: d for d in await repo.by_ids(deps.db, [d["_id"] for _, d in ranked])}
        page = [(match, full[d["_id"]]) for match, d in ranked if d["_id"] in full]
    else:
        after = str(decode_cursor(query.cursor, arity=1)[0]) if query.cursor else None
        docs = await repo.list_page(deps.db, fmt=query.format, category=query.category, after=after,
                                    limit=query.limit + 1)
        more = len(docs) > query.limit
        page = [("list", d) for d in docs[: query.limit]]
        next_cursor = encode_cursor([page[-1][1]["_id"]]) if more and page else None
    counts = await repo.availability(deps.db, [d["_id"] for _, d in page], query.room)
    items = [
        TitleHit(**to_out(d).model_dump(), match=match,  # type: ignore[arg-type]
                 on_shelf_here=counts.get(d["_id"], (0, 0))[0] if query.room else None,
                 rooms_on_shelf=counts.get(d["_id"], (0, 0))[1])
        for match, d in page
    ]
    return TitlePage(items=items, next_cursor=next_cursor, room=query.room)


async def _search(db: AsyncDatabase, query: TitleQuery) -> list[tuple[str, dict[str, Any]]]:
    assert query.q
    try:
        code: str | None = title_id_for_code(query.q)
    except IsbnError:
        code = None
    plan = plan_query(query.q, code=code)
    if plan.empty:
        return []
    docs = await repo.search_candidates(db, plan.keys, fmt=query.format, category=query.category,
                                        cap=CANDIDATE_CAP)
    return [(TIER_NAMES[tier], doc) for tier, doc in rank(plan, docs)]


# -- writing -------------------------------------------------------------------


async def create_title(deps: Deps, actor: Actor, data: TitleInput) -> TitleOut:
    """Catalogue one title. Conflict if its ISBN (or, without one, the same title,
    author, publisher, year and format) is already catalogued."""
    if data.isbn:
        title_id = data.isbn
    else:
        doc = title_document(data, "SW00000000000")
        same = await repo.by_identity_keys(deps.db, [doc["identity_key"]])
        if same:
            raise Conflict(f"目录中已有相同的条目 {same[0]['_id']}", code="title_exists",
                           errors=[FieldProblem(("body", "title"), f"与 {same[0]['_id']} 相同")])
        (title_id,) = await repo.allocate_internal_ids(deps.db, 1)
    doc = title_document(data, title_id)

    async def work(session: Any) -> None:
        await repo.insert(deps.db, dict(doc), session=session)
        await audit.record(deps.db, actor, "title.create", target_type="title", target_id=title_id,
                           changes={"title": doc["title"], "isbn": doc["isbn"], "category": doc["category"]},
                           session=session)

    try:
        await in_transaction(deps.mongo, work)
    except DuplicateKeyError:
        raise Conflict(f"ISBN {title_id} 已在目录中", code="title_exists",
                       errors=[FieldProblem(("body", "isbn"), "已在目录中")]) from None
    return to_out(doc)


async def update_title(deps: Deps, actor: Actor, title_id: str, data: TitleUpdate) -> TitleOut:
    """Change a title's fields; null clears an optional one (the title cannot be
    cleared). The category follows a changed clc unless it was set explicitly."""
    title_id = _path_id(title_id)
    current = await repo.by_id(deps.db, title_id)
    if current is None:
        raise NotFound(f"目录中没有 {title_id}", code="title_not_found")
    given = data.model_dump(exclude_unset=True)
    for name in ("title", "format", "children"):
        if name in given and given[name] is None:
            raise InvalidInput("必填信息不能清空", code="required_field", errors=[FieldProblem(("body", name), "不能为空")])
    merged = {name: current.get(name) for name in EDITABLE}
    merged.update(given)
    if "category" in given:
        _derive(merged, explicit_category=given["category"] is not None)
    elif current.get("category_derived", True):
        _derive(merged, explicit_category=False)
    changes = _changes(current, merged)
    if not changes:
        return to_out(current)
    before = {k: current.get(k) for k in EDITABLE if k in changes}

    async def work(session: Any) -> dict[str, Any] | None:
        doc = await repo.update(deps.db, title_id, changes, session=session)
        await audit.record(deps.db, actor, "title.update", target_type="title", target_id=title_id,
                           changes={k: {"from": before[k], "to": changes[k]} for k in before}, session=session)
        return doc

    doc = await in_transaction(deps.mongo, work)
    if doc is None:
        raise NotFound(f"目录中没有 {title_id}", code="title_not_found")
    return to_out(doc)


async def import_titles(deps: Deps, actor: Actor, data: bytes, content_type: str | None, *,
                        dry_run: bool) -> ImportReport:
    """Import a CSV, Excel or MARC file. Dry run: the report only, nothing written.
    Otherwise the accepted rows are written (new titles created, catalogued ones
    merged: non-empty cells win) and the same report returned.

    Raises UnsupportedMediaType for an unknown Content-Type and InvalidInput for a
    file that cannot be read at all; bad rows are reported, never raised.
    """
    file_format = imports.detect_format(content_type)
    parsed = await asyncio.to_thread(imports.parse, data, file_format)
    rejected = list(parsed.rejected)
    accepted: list[tuple[int, TitleInput]] = []
    for row in parsed.rows:
        outcome = imports.validate(row)
        if isinstance(outcome, TitleInput):
            accepted.append((row.number, outcome))
        else:
            rejected.append(outcome)
    rejected.sort(key=lambda r: r.row)
    groups = imports.fold(accepted)

    by_isbn = {d["_id"]: d for d in await repo.by_ids(deps.db, [g.key for g in groups if g.isbn])}
    identities = [g.key[1:] for g in groups if not g.isbn]
    by_identity = {d["identity_key"]: d for d in await repo.by_identity_keys(deps.db, identities)}
    creates: list[imports.Group] = []
    updates: list[tuple[str, dict[str, Any]]] = []
    existing_ids: dict[str, str] = {}
    unchanged = 0
    for group in groups:
        found = by_isbn.get(group.key) if group.isbn else by_identity.get(group.key[1:])
        if found is None:
            creates.append(group)
            continue
        existing_ids[group.key] = found["_id"]
        changes = _changes(found, _merge(found, group.given))
        if changes:
            updates.append((found["_id"], changes))
        else:
            unchanged += 1
    report = ImportReport(
        dry_run=dry_run, file_format=file_format, rows=len(parsed.rows) + len(parsed.rejected),
        accepted=len(accepted), rejected=rejected, created=len(creates), updated=len(updates),
        unchanged=unchanged, merged=imports.duplicates(groups, existing_ids), ignored_columns=parsed.ignored_columns,
    )
    if dry_run or not (creates or updates):
        return report

    new_ids = iter(await repo.allocate_internal_ids(deps.db, sum(1 for g in creates if not g.isbn)))
    now = datetime.now(UTC)
    docs = await asyncio.to_thread(
        lambda: [title_document(g.given, g.isbn or next(new_ids), now=now) for g in creates])
    await _write_import(deps, actor, docs, updates, report)
    return report


async def _write_import(deps: Deps, actor: Actor, docs: list[dict[str, Any]],
                        updates: list[tuple[str, dict[str, Any]]], report: ImportReport) -> None:
    import_id = uuid.uuid4().hex
    totals = report.model_dump(include={"file_format", "rows", "accepted", "created", "updated", "unchanged"})
    totals["rejected"] = len(report.rejected)
    totals["merged"] = len(report.merged)
    chunks = max(1, -(-(len(docs) + len(updates)) // IMPORT_CHUNK))
    for n in range(chunks):
        part_docs = docs[n * IMPORT_CHUNK : (n + 1) * IMPORT_CHUNK]
        start = max(0, n * IMPORT_CHUNK - len(docs))
        end = max(0, (n + 1) * IMPORT_CHUNK - len(docs))
        part_updates = updates[start:end]

        async def work(session: Any, part_docs: list[dict[str, Any]] = part_docs,
                       part_updates: list[tuple[str, dict[str, Any]]] = part_updates, n: int = n) -> None:
            await repo.write_many(deps.db, part_docs, part_updates, session=session)
            await audit.record(deps.db, actor, "catalog.import", target_type="import", target_id=import_id,
                               changes={**totals, "part": n + 1, "parts": chunks, "part_created": len(part_docs),
                                        "part_updated": len(part_updates)}, session=session)

        await in_transaction(deps.mongo, work)
