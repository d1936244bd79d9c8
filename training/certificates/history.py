"""Past training records from Excel (.xlsx) become certificates with ``source: "history"``.

Columns: 姓名, 书屋编码 (optional), 课程, 类别 (岗前培训/年度轮训/专题培训), 级别 (区级/市级),
学时, 培训日期, 证书编号 (optional: a JNPX number of that year is given when left empty).

- All or nothing: any bad row imports nothing; a dry run lists every problem (row + column).
- Idempotent: a row whose (name, course, date) was imported before adds nothing.
- A row is matched to a staff account by name + room (by name alone when no room is given)
  when exactly one account matches; otherwise its ``staff_id`` stays empty.
- The course is linked when exactly one course in the system has that title.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date
from typing import Any

from bson import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError

from server.audit import repo as audit
from server.catalog.searchkeys import normalize
from server.errors import Conflict, FieldProblem, InvalidInput
from server.readers.service import local_today
from server.resources import Deps
from server.sheet_import import RowProblem
from server.staff.roles import Actor
from server.storage import db_now, in_transaction
from training.certificates import repo
from training.certificates.models import (
    KIND_LABELS,
    LEVEL_LABELS,
    HistoryReport,
    certificate_number,
)
from training.certificates.service import new_token
from training.quizzes import sheets

MAX_PROBLEMS_IN_ERROR = 50
COLUMNS = {"name": "姓名", "room": "书屋编码", "course": "课程", "kind": "类别", "level": "级别", "hours": "学时",
           "date": "培训日期", "number": "证书编号"}
HEADERS = {normalize(label): key for key, label in COLUMNS.items()} | {
    normalize("书屋编号"): "room", normalize("课程名称"): "course", normalize("日期"): "date",
    normalize("培训类别"): "kind", normalize("培训级别"): "level"}
REQUIRED = ("name", "course", "kind", "level", "hours", "date")
KINDS = {label: key for key, label in KIND_LABELS.items()} | {"岗前": "induction", "轮训": "refresher",
                                                               "专题": "topic"}
LEVELS = {label: key for key, label in LEVEL_LABELS.items()}
EARLIEST = date(1990, 1, 1)


@dataclass
class HistoryRow:
    row: int
    name: str
    room: str | None
    course: str
    kind: str
    level: str
    hours: float
    on: date
    number: str | None

    @property
    def key(self) -> str:
        return f"{normalize(self.name)}|{normalize(self.course)}|{self.on.isoformat()}"


def parse_history(data: bytes, today: date) -> tuple[int, list[HistoryRow], list[RowProblem], list[tuple[int, str]]]:
    """The rows of the sheet, checked one by one (pure: the room codes, returned as (row,
    code) for every row, and the numbers are checked against the database afterwards)."""
    table = sheets.read_table(data, HEADERS, REQUIRED)
    label = lambda key: table.labels.get(key, COLUMNS[key])  # noqa: E731
    rows: list[HistoryRow] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    numbers: dict[str, int] = {}
    room_refs: list[tuple[int, str]] = []
    for number, cells in table.rows:
        bad: list[RowProblem] = []

        def problem(key: str, message: str, number: int = number, bad: list[RowProblem] = bad) -> None:
            bad.append(RowProblem(row=number, column=label(key), message=message))

        name = sheets.text(cells.get("name"))
        if not 2 <= len(name) <= 20:
            problem("name", "姓名应为 2 到 20 个字")
        room = sheets.text(cells.get("room")).upper() or None
        if room is not None and len(room) > 20:
            problem("room", "书屋编码太长")
        elif room is not None:
            room_refs.append((number, room))
        course = sheets.text(cells.get("course"))
        if not 2 <= len(course) <= 60:
            problem("course", "课程名称应为 2 到 60 个字")
        kind = KINDS.get(sheets.text(cells.get("kind")))
        if kind is None:
            problem("kind", "类别应为 岗前培训、年度轮训 或 专题培训")
        level = LEVELS.get(sheets.text(cells.get("level")))
        if level is None:
            problem("level", "级别应为 区级 或 市级")
        hours: float | None
        try:
            hours = float(sheets.text(cells.get("hours")))
            if not 0 < hours <= 200:
                raise ValueError
        except ValueError:
            hours = None
            problem("hours", "学时应为大于 0、不超过 200 的数")
        on = sheets.as_date(cells.get("date"))
        if on is None or not EARLIEST <= on <= today:
            problem("date", "培训日期应为 1990 年以后、不晚于今天的日期，如 2015-06-18")
            on = None
        cert_no = sheets.text(cells.get("number")) or None
        if cert_no is not None and not 4 <= len(cert_no) <= 40:
            problem("number", "证书编号应为 4 到 40 个字符")
        elif cert_no is not None and cert_no in numbers:
            problem("number", f"与第 {numbers[cert_no]} 行的证书编号重复")
        if not bad and kind and level and hours is not None and on is not None:
            item = HistoryRow(number, name, room, course, kind, level, hours, on, cert_no)
            if item.key in seen:
                problem("name", f"与第 {seen[item.key]} 行是同一条记录（姓名、课程、日期相同）")
            else:
                seen[item.key] = number
                if cert_no:
                    numbers[cert_no] = number
                rows.append(item)
        problems.extend(bad)
    return len(table.rows), rows, problems, room_refs


async def _check_against_db(deps: Deps, rows: list[HistoryRow], room_refs: list[tuple[int, str]],
                            labels: dict[str, str]) -> list[RowProblem]:
    problems = []
    codes = sorted({code for _, code in room_refs})
    known = {d["code"] for d in await deps.db["rooms"].find({"code": {"$in": codes}}, {"code": 1}).to_list()}
    problems += [RowProblem(row=row, column=labels["room"], message=f"没有编号为 {code} 的书屋")
                 for row, code in room_refs if code not in known]
    given = [r.number for r in rows if r.number]
    taken = {d["number"]: d.get("history_key") for d in await deps.db[repo.CERTIFICATES].find(
        {"number": {"$in": given}}, {"number": 1, "history_key": 1}).to_list()}
    for r in rows:
        if r.number and r.number in taken and taken[r.number] != r.key:
            problems.append(RowProblem(row=r.row, column=labels["number"], message="这个证书编号已被另一张证书使用"))
    return problems


def _unique(matches: list[dict[str, Any]]) -> dict[str, Any] | None:
    return matches[0] if len(matches) == 1 else None


async def import_history(deps: Deps, actor: Actor, data: bytes, content_type: str | None, *,
                         dry_run: bool) -> HistoryReport:
    """Import the sheet (see the module docstring). Raises InvalidInput listing every problem
    for a real import with bad rows; nothing is written then."""
    sheets.require_xlsx(content_type)
    total, rows, problems, room_refs = await asyncio.to_thread(parse_history, data, local_today())
    problems += await _check_against_db(deps, rows, room_refs, {"room": COLUMNS["room"], "number": COLUMNS["number"]})
    problems.sort(key=lambda p: p.row)
    have = await repo.existing_history_keys(deps.db, [r.key for r in rows]) if rows else set()
    new = [r for r in rows if r.key not in have]
    staff = await deps.db["staff"].find({"name": {"$in": sorted({r.name for r in new})}},
                                        {"username": 1, "name": 1, "rooms": 1}).to_list()
    courses = await deps.db["training_courses"].find({"title": {"$in": sorted({r.course for r in new})}},
                                                     {"title": 1, "code": 1}).to_list()
    matched = {r.row: _unique([s for s in staff if s["name"] == r.name and (r.room is None or r.room in
                                                                             (s.get("rooms") or []))]) for r in new}
    bad_rows = {p.row for p in problems}
    report = HistoryReport(dry_run=dry_run, rows=total, valid=sum(1 for r in rows if r.row not in bad_rows),
                           problems=problems, imported=False, already_there=len(rows) - len(new),
                           matched_to_staff=sum(1 for m in matched.values() if m))
    if problems and not dry_run:
        raise InvalidInput(f"培训记录有 {len(problems)} 处错误，未导入任何记录（可先试运行查看）", code="history_rows_invalid",
                           errors=[FieldProblem(("body", p.row, p.column), p.message)
                                   for p in problems[:MAX_PROBLEMS_IN_ERROR]])
    if dry_run or not new:
        return report
    now = db_now()

    async def work(session: Any) -> int:
        # Numbers for rows without one: reserved per year in one step each.
        years = sorted({r.on.year for r in new if not r.number})
        firsts = {y: await repo.next_numbers(deps.db, y, sum(1 for r in new if not r.number and r.on.year == y),
                                             session=session) for y in years}
        docs = []
        for r in new:
            person = matched[r.row]
            course = _unique([c for c in courses if c["title"] == r.course])
            number = r.number
            if number is None:
                number = certificate_number(r.on.year, firsts[r.on.year])
                firsts[r.on.year] += 1
            docs.append({
                "_id": ObjectId(), "number": number, "verify_token": new_token(),
                "course_id": course["_id"] if course else None, "course_code": course.get("code", "") if course else "",
                "course_title": r.course, "hours": r.hours, "level": r.level, "kind": r.kind,
                "staff_id": str(person["_id"]) if person else None, "username": person["username"] if person else None,
                "name": r.name, "rooms": [r.room] if r.room else list(person.get("rooms") or []) if person else [],
                "issued_on": r.on.isoformat(), "issued_at": now, "source": "history", "revoked": False,
                "revoked_reason": None, "history_key": r.key, "issued_by": actor.username})
        await repo.insert_many(deps.db, docs, session=session)
        await audit.record(deps.db, actor, "training_certificate.history_import", target_type="training_certificates",
                           target_id=str(docs[0]["number"]), changes={"created": len(docs), "rows": total},
                           session=session)
        return len(docs)

    try:
        created = await in_transaction(deps.mongo, work)
    except (DuplicateKeyError, BulkWriteError):
        raise Conflict("同一批记录正在被导入，请稍后刷新查看", code="history_import_concurrent") from None
    return report.model_copy(update={"imported": True, "created": created})
