"""Timed quiz attempts, taken on the phone. Every write carries a client op_id (a replay
changes nothing and returns the first answer) and is audited.

Rules:
- The course must be active and have a quiz with at least ``questions_per_attempt`` active
  questions. Starting draws that many at random, with their options shuffled, and sets
  ``deadline = now + time_limit_min``. The right answers stay on the server until the
  attempt is submitted.
- One open attempt per (course, person): starting again while one is open returns it (the
  phone resumes it). An open attempt past its deadline and the grace is closed as
  ``expired`` (scored on what was saved) before a new one starts.
- Answers can be saved until the deadline plus ``GRACE_SECS``; later saves are refused.
- Submitting within the deadline plus the grace scores the saved answers (status
  ``submitted``). Submitting later scores only what was saved in time and marks the attempt
  ``expired`` and ``late``; the score counts the same way (the answers were all given in
  time). Submitting a finished attempt again returns its result unchanged.
- Only the person who started an attempt sees or changes it (anyone else: 404).
- A passed attempt issues the course's certificate when the person's attendance is there too.
"""

from __future__ import annotations

import logging
import random
from datetime import datetime, timedelta
from typing import Any

from bson import ObjectId

from server import idempotency
from server.audit import repo as audit
from server.errors import FieldProblem, InvalidInput, NotFound, RuleViolation
from server.resources import Deps
from server.staff.roles import Actor
from server.storage import db_now
from training.quizzes import repo, scoring
from training.quizzes.models import (
    ATTEMPT_STATUS_LABELS,
    GRACE_SECS,
    AnswersIn,
    AttemptOut,
    AttemptQuestion,
    AttemptStartIn,
    AttemptSummary,
    MyAttempts,
    SubmitIn,
)
from training.quizzes.service import course_doc

log = logging.getLogger(__name__)
_rng = random.SystemRandom()


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)


def attempt_out(doc: dict[str, Any], course: dict[str, Any], *, now: datetime,
                certificate_number: str | None = None) -> AttemptOut:
    """The attempt as its owner sees it: the right answers only once it is finished."""
    finished = doc["status"] != "open"
    answers = doc.get("answers") or {}
    deadline = _aware(doc["deadline"])
    return AttemptOut(
        id=str(doc["_id"]), course_id=str(doc["course_id"]), course_title=course.get("title", ""),
        status=doc["status"], status_label=ATTEMPT_STATUS_LABELS[doc["status"]], started_at=doc["started_at"],
        deadline=deadline, seconds_left=0 if finished else max(0, int((deadline - now).total_seconds())),
        submitted_at=doc.get("submitted_at"), pass_mark=doc["pass_mark"],
        questions=[AttemptQuestion(id=q["id"], text=q["text"], options=q["options"], chosen=answers.get(q["id"]),
                                   correct=q["answer"] if finished else None) for q in doc["questions"]],
        answered=sum(1 for q in doc["questions"] if q["id"] in answers), total=len(doc["questions"]),
        correct=doc.get("correct"), score_percent=doc.get("score_percent"), passed=doc.get("passed"),
        late=bool(doc.get("late")), certificate_number=certificate_number,
    )


def _finish(doc: dict[str, Any], now: datetime, *, late: bool) -> dict[str, Any]:
    """The $set that scores ``doc`` on its saved answers."""
    key = {q["id"]: q["answer"] for q in doc["questions"]}
    result = scoring.score_attempt(key, doc.get("answers") or {}, doc["pass_mark"])
    return {"status": "expired" if late else "submitted", "late": late, "submitted_at": now,
            "correct": result.correct, "score_percent": result.percent, "passed": result.passed}


def _past_grace(doc: dict[str, Any], now: datetime) -> bool:
    return now > _aware(doc["deadline"]) + timedelta(seconds=GRACE_SECS)


async def _own_attempt(deps: Deps, actor: Actor, attempt_id: str, course_id: str | None = None,
                       session: Any = None) -> dict[str, Any]:
    oid = repo.object_id(attempt_id)
    doc = await repo.attempt(deps.db, oid, session=session) if oid is not None else None
    # Someone else's attempt does not exist as far as this person is concerned.
    if doc is None or doc["staff_id"] != actor.staff_id or (course_id is not None and str(doc["course_id"]) != course_id):
        raise NotFound("没有找到这次答题", code="attempt_not_found")
    return doc


async def _certificate_number(deps: Deps, course_id: ObjectId, staff_id: str) -> str | None:
    doc = await deps.db["training_certificates"].find_one(
        {"course_id": course_id, "staff_id": staff_id, "revoked": False}, {"number": 1})
    return doc["number"] if doc else None


async def start_attempt(deps: Deps, actor: Actor, course_id: str, body: AttemptStartIn) -> AttemptOut:
    """Start (or resume) an attempt at the course's quiz. RuleViolation when the course has
    no quiz, is inactive or has too few active questions."""
    course = await course_doc(deps, course_id)
    quiz = course.get("quiz")
    if not course.get("active", True):
        raise RuleViolation("这门课程已停用", code="course_inactive")
    if not quiz:
        raise RuleViolation("这门课程没有测验", code="course_has_no_quiz")
    questions = await repo.questions_of(deps.db, course["_id"], active_only=True)
    wanted = int(quiz["questions_per_attempt"])
    if len(questions) < wanted:
        raise RuleViolation(f"题库里启用的题目不够（需要 {wanted} 道，现有 {len(questions)} 道），请联系培训老师",
                            code="not_enough_questions")

    async def work(session: Any) -> dict[str, Any]:
        now = db_now()
        current = await repo.open_attempt(deps.db, course["_id"], actor.staff_id, session=session)
        if current is not None and not _past_grace(current, now):
            return {"attempt_id": str(current["_id"]), "resumed": True}
        if current is not None:  # left open past its time: score what was saved
            await repo.update_attempt(deps.db, current["_id"], {"status": "open"},
                                      {"$set": _finish(current, now, late=True), "$unset": {"open_key": ""}},
                                      session=session)
        by_id = {str(q["_id"]): q for q in questions}
        drawn = []
        for qid in scoring.draw_questions(sorted(by_id), wanted, _rng):
            options, answer = scoring.shuffle_options(by_id[qid]["options"], by_id[qid]["answer"], _rng)
            drawn.append({"id": qid, "text": by_id[qid]["text"], "options": options, "answer": answer})
        doc = {"_id": ObjectId(), "course_id": course["_id"], "staff_id": actor.staff_id, "username": actor.username,
               "name": actor.name, "status": "open", "open_key": repo.open_key(course["_id"], actor.staff_id),
               "questions": drawn, "answers": {}, "pass_mark": int(quiz["pass_mark"]), "started_at": now,
               "deadline": now + timedelta(minutes=int(quiz["time_limit_min"])), "submitted_at": None,
               "score_percent": None, "passed": None, "late": False}
        await repo.insert_attempt(deps.db, doc, session=session)
        await audit.record(deps.db, actor, "training_quiz.start", target_type="training_quiz_attempt",
                           target_id=str(doc["_id"]), changes={"course_id": course_id, "questions": len(drawn)},
                           session=session)
        return {"attempt_id": str(doc["_id"]), "resumed": False}

    result, _ = await idempotency.run_once(deps.db, deps.mongo, op_id=body.op_id, kind="training.quiz.start",
                                           room=None, actor=actor.username, work=work)
    return await get_attempt(deps, actor, course_id, result["attempt_id"])


async def get_attempt(deps: Deps, actor: Actor, course_id: str, attempt_id: str) -> AttemptOut:
    course = await course_doc(deps, course_id)
    doc = await _own_attempt(deps, actor, attempt_id, course_id)
    number = await _certificate_number(deps, course["_id"], actor.staff_id) if doc.get("passed") else None
    return attempt_out(doc, course, now=db_now(), certificate_number=number)


async def my_attempts(deps: Deps, actor: Actor, course_id: str) -> MyAttempts:
    course = await course_doc(deps, course_id)
    docs = await repo.attempts_of(deps.db, course["_id"], actor.staff_id)
    return MyAttempts(course_id=course_id, items=[
        AttemptSummary(id=str(d["_id"]), status=d["status"], started_at=d["started_at"],
                       submitted_at=d.get("submitted_at"), score_percent=d.get("score_percent"),
                       passed=d.get("passed")) for d in docs])


async def save_answers(deps: Deps, actor: Actor, course_id: str, attempt_id: str, body: AnswersIn) -> AttemptOut:
    """Merge ``body.answers`` into the open attempt. RuleViolation once its time is over."""
    course = await course_doc(deps, course_id)
    doc = await _own_attempt(deps, actor, attempt_id, course_id)
    options = {q["id"]: len(q["options"]) for q in doc["questions"]}
    problems = [FieldProblem(("body", "answers", qid), "这道题不在本次答题中" if qid not in options
                             else f"选项序号应为 0 到 {options[qid] - 1}")
                for qid, chosen in body.answers.items() if qid not in options or chosen >= options[qid]]
    if problems:
        raise InvalidInput("答案有误", code="validation_failed", errors=problems)

    async def work(session: Any) -> dict[str, Any]:
        now = db_now()
        current = await _own_attempt(deps, actor, attempt_id, course_id, session=session)
        if current["status"] != "open":
            raise RuleViolation("这次答题已经交卷，不能再改答案", code="attempt_finished")
        if _past_grace(current, now):
            raise RuleViolation("答题时间已到，不能再保存答案，请交卷", code="attempt_time_over")
        if body.answers:
            await repo.update_attempt(deps.db, current["_id"], {"status": "open"},
                                      {"$set": {f"answers.{qid}": v for qid, v in body.answers.items()}},
                                      session=session)
        await audit.record(deps.db, actor, "training_quiz.answer", target_type="training_quiz_attempt",
                           target_id=attempt_id, changes={"answers": len(body.answers)}, session=session)
        return {"attempt_id": attempt_id}

    await idempotency.run_once(deps.db, deps.mongo, op_id=body.op_id, kind="training.quiz.answers", room=None,
                               actor=actor.username, work=work)
    fresh = await _own_attempt(deps, actor, attempt_id, course_id)
    return attempt_out(fresh, course, now=db_now())


async def submit_attempt(deps: Deps, actor: Actor, course_id: str, attempt_id: str, body: SubmitIn) -> AttemptOut:
    """Score the attempt (see the module rules); a pass may issue the course's certificate."""
    await course_doc(deps, course_id)
    await _own_attempt(deps, actor, attempt_id, course_id)

    async def work(session: Any) -> dict[str, Any]:
        now = db_now()
        current = await _own_attempt(deps, actor, attempt_id, course_id, session=session)
        if current["status"] != "open":
            return {"attempt_id": attempt_id, "passed": current.get("passed")}
        result = _finish(current, now, late=_past_grace(current, now))
        await repo.update_attempt(deps.db, current["_id"], {"status": "open"},
                                  {"$set": result, "$unset": {"open_key": ""}}, session=session)
        await audit.record(deps.db, actor, "training_quiz.submit", target_type="training_quiz_attempt",
                           target_id=attempt_id, changes={k: result[k] for k in ("score_percent", "passed", "late")},
                           session=session)
        return {"attempt_id": attempt_id, "passed": result["passed"]}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=body.op_id, kind="training.quiz.submit",
                                                  room=None, actor=actor.username, work=work)
    if result.get("passed"):
        from training.certificates.service import issue_due

        try:
            await issue_due(deps, actor, course_id=course_id, staff_ids=[actor.staff_id])
        except Exception:  # the submission stands; the district's "issue" button catches up
            log.exception("issuing certificates after a passed quiz failed (course %s)", course_id)
    return await get_attempt(deps, actor, course_id, attempt_id)
