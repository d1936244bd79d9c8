"""Question banks: add, change, deactivate, import from Excel. Every write is audited.

Attempts live in ``training.quizzes.attempts``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bson import ObjectId
from pydantic import ValidationError

from server.audit import repo as audit
from server.catalog.searchkeys import normalize
from server.errors import FieldProblem, InvalidInput, NotFound
from server.resources import Deps
from server.sheet_import import RowProblem
from server.staff.roles import Actor
from server.storage import db_now, in_transaction
from training.quizzes import repo, sheets
from training.quizzes.models import (
    MAX_QUESTIONS_PER_BANK,
    OPTION_LETTERS,
    QuestionImportReport,
    QuestionIn,
    QuestionList,
    QuestionOut,
    QuestionPatch,
)

MAX_PROBLEMS_IN_ERROR = 50
BANK_HEADERS = {normalize("题目"): "text", normalize("题干"): "text", normalize("答案"): "answer",
                normalize("正确答案"): "answer",
                **{normalize(f"选项{letter}"): f"option_{letter}" for letter in OPTION_LETTERS},
                **{normalize(letter): f"option_{letter}" for letter in OPTION_LETTERS}}


async def course_doc(deps: Deps, course_id: str) -> dict[str, Any]:
    """The course ``course_id`` (24 hex digits); NotFound otherwise."""
    oid = repo.object_id(course_id)
    doc = await repo.course(deps.db, oid) if oid is not None else None
    if doc is None:
        raise NotFound("没有这门课程", code="course_not_found")
    return doc


def question_out(doc: dict[str, Any]) -> QuestionOut:
    return QuestionOut(id=str(doc["_id"]), course_id=str(doc["course_id"]), text=doc["text"], options=doc["options"],
                       answer=doc["answer"], active=doc["active"], created_at=doc["created_at"],
                       updated_at=doc["updated_at"])


async def list_questions(deps: Deps, course_id: str) -> QuestionList:
    """The course's question bank with the answers (for those who manage it)."""
    course = await course_doc(deps, course_id)
    docs = await repo.questions_of(deps.db, course["_id"])
    return QuestionList(course_id=str(course["_id"]), quiz=course.get("quiz"),
                        active=sum(1 for d in docs if d["active"]), items=[question_out(d) for d in docs])


def _question_doc(course_id: ObjectId, q: QuestionIn, actor: Actor, now: Any) -> dict[str, Any]:
    return {"_id": ObjectId(), "course_id": course_id, "text": q.text, "options": q.options, "answer": q.answer,
            "active": True, "created_at": now, "updated_at": now, "created_by": actor.username}


async def _check_room(deps: Deps, course_id: ObjectId, adding: int) -> None:
    if await repo.count_questions(deps.db, course_id) + adding > MAX_QUESTIONS_PER_BANK:
        raise InvalidInput(f"一门课程最多 {MAX_QUESTIONS_PER_BANK} 道题", code="bank_full",
                           errors=[FieldProblem(("body",), f"最多 {MAX_QUESTIONS_PER_BANK} 道题")])


async def add_question(deps: Deps, actor: Actor, course_id: str, body: QuestionIn) -> QuestionOut:
    """Add one question to the course's bank (audited)."""
    course = await course_doc(deps, course_id)
    await _check_room(deps, course["_id"], 1)
    doc = _question_doc(course["_id"], body, actor, db_now())

    async def work(session: Any) -> None:
        await repo.insert_questions(deps.db, [doc], session=session)
        await audit.record(deps.db, actor, "training_question.create", target_type="training_course",
                           target_id=str(course["_id"]), changes={"question_id": str(doc["_id"])}, session=session)

    await in_transaction(deps.mongo, work)
    return question_out(doc)


async def update_question(deps: Deps, actor: Actor, course_id: str, question_id: str,
                          body: QuestionPatch) -> QuestionOut:
    """Change a question's text, options and answer, or (de)activate it (audited). Attempts
    already started keep the question as it was asked."""
    course = await course_doc(deps, course_id)
    qid = repo.object_id(question_id)
    doc = await repo.question(deps.db, course["_id"], qid) if qid is not None else None
    if doc is None:
        raise NotFound("题库里没有这道题", code="question_not_found")
    changes = body.model_dump(exclude_none=True)
    if not changes:
        return question_out(doc)

    async def work(session: Any) -> dict[str, Any] | None:
        updated = await repo.update_question(deps.db, doc["_id"], {**changes, "updated_at": db_now()},
                                             session=session)
        await audit.record(deps.db, actor, "training_question.update", target_type="training_course",
                           target_id=str(course["_id"]), changes={"question_id": question_id, **changes},
                           session=session)
        return updated

    updated = await in_transaction(deps.mongo, work)
    assert updated is not None
    return question_out(updated)


# -- import from Excel --------------------------------------------------------------


def parse_bank(data: bytes) -> tuple[int, list[QuestionIn], list[RowProblem]]:
    """Rows of a question bank sheet: 题目, 选项A … 选项F, 答案 (a letter). Returns (rows,
    valid questions, problems with row and column)."""
    table = sheets.read_table(data, BANK_HEADERS, ("text", "answer", "option_A", "option_B"))
    label = table.labels.get
    valid: list[QuestionIn] = []
    problems: list[RowProblem] = []
    seen: dict[str, int] = {}
    for number, cells in table.rows:
        options = [sheets.text(cells.get(f"option_{letter}")) for letter in OPTION_LETTERS]
        while options and not options[-1]:
            options.pop()
        row_problems: list[RowProblem] = []
        if "" in options:
            gap = OPTION_LETTERS[options.index("")]
            row_problems.append(RowProblem(row=number, column=label(f"option_{gap}", f"选项{gap}"),
                                           message="选项中间不能空着"))
        letter = sheets.text(cells.get("answer")).upper()
        if len(letter) != 1 or letter not in OPTION_LETTERS[:max(len(options), 1)]:
            row_problems.append(RowProblem(row=number, column=label("answer", "答案"),
                                           message=f"答案应为 A 到 {OPTION_LETTERS[max(len(options), 2) - 1]} 中的一个字母"))
        text = sheets.text(cells.get("text"))
        if text and normalize(text) in seen:
            row_problems.append(RowProblem(row=number, column=label("text", "题目"),
                                           message=f"与第 {seen[normalize(text)]} 行的题目重复"))
        if not row_problems:
            try:
                valid.append(QuestionIn(text=text, options=options, answer=OPTION_LETTERS.index(letter)))
                seen[normalize(text)] = number
            except ValidationError as exc:
                for err in exc.errors():
                    field = str(err["loc"][0]) if err["loc"] else ""
                    column = label("text", "题目") if field == "text" else "选项" if field == "options" else "行"
                    row_problems.append(RowProblem(row=number, column=column, message=str(err["msg"])[:200]))
        problems.extend(row_problems)
    return len(table.rows), valid, problems


async def import_questions(deps: Deps, actor: Actor, course_id: str, data: bytes, content_type: str | None, *,
                           dry_run: bool) -> QuestionImportReport:
    """Import a question bank sheet. All or nothing: with any bad row a real import raises
    InvalidInput listing every problem (row + column) and writes nothing."""
    course = await course_doc(deps, course_id)
    sheets.require_xlsx(content_type)
    rows, valid, problems = await asyncio.to_thread(parse_bank, data)
    report = QuestionImportReport(dry_run=dry_run, rows=rows, valid=len(valid), problems=problems, imported=False)
    if problems and not dry_run:
        raise InvalidInput(f"题库文件有 {len(problems)} 处错误，未导入任何题目（可先试运行查看）", code="bank_rows_invalid",
                           errors=[FieldProblem(("body", p.row, p.column), p.message)
                                   for p in problems[:MAX_PROBLEMS_IN_ERROR]])
    if dry_run or not valid:
        return report
    await _check_room(deps, course["_id"], len(valid))
    now = db_now()
    docs = [_question_doc(course["_id"], q, actor, now) for q in valid]

    async def work(session: Any) -> None:
        await repo.insert_questions(deps.db, docs, session=session)
        await audit.record(deps.db, actor, "training_question.import", target_type="training_course",
                           target_id=str(course["_id"]), changes={"created": len(docs)}, session=session)

    await in_transaction(deps.mongo, work)
    return report.model_copy(update={"imported": True, "created": len(docs)})
