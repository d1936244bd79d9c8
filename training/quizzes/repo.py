"""Question banks and attempts in MongoDB, and the read of a course's quiz settings.

``training_courses`` belongs to training/courses; it is only read here (contract fields:
code, title, hours, level, kind, quiz, active).
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

QUESTIONS = "training_quiz_questions"
ATTEMPTS = "training_quiz_attempts"
COURSES = "training_courses"
INDEXES = {
    QUESTIONS: [IndexModel([("course_id", ASCENDING), ("active", ASCENDING), ("_id", ASCENDING)])],
    ATTEMPTS: [
        IndexModel([("course_id", ASCENDING), ("staff_id", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("staff_id", ASCENDING), ("passed", ASCENDING)]),
        # One open attempt per (course, person): ``open_key`` exists only while it is open.
        IndexModel([("open_key", ASCENDING)], unique=True,
                   partialFilterExpression={"open_key": {"$type": "string"}}),
    ],
}


def object_id(value: str) -> ObjectId | None:
    try:
        return ObjectId(value)
    except (InvalidId, TypeError):
        return None


async def course(db: AsyncDatabase, course_id: ObjectId) -> dict[str, Any] | None:
    return await db[COURSES].find_one({"_id": course_id})


async def questions_of(db: AsyncDatabase, course_id: ObjectId, *, active_only: bool = False) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"course_id": course_id}
    if active_only:
        flt["active"] = True
    return await db[QUESTIONS].find(flt).sort("_id", ASCENDING).to_list()


async def question(db: AsyncDatabase, course_id: ObjectId, question_id: ObjectId) -> dict[str, Any] | None:
    return await db[QUESTIONS].find_one({"_id": question_id, "course_id": course_id})


async def count_questions(db: AsyncDatabase, course_id: ObjectId) -> int:
    return await db[QUESTIONS].count_documents({"course_id": course_id})


async def insert_questions(db: AsyncDatabase, docs: list[dict[str, Any]], *,
                           session: AsyncClientSession | None = None) -> None:
    if docs:
        await db[QUESTIONS].insert_many(docs, session=session)


async def update_question(db: AsyncDatabase, question_id: ObjectId, changes: dict[str, Any], *,
                          session: AsyncClientSession | None = None) -> dict[str, Any] | None:
    return await db[QUESTIONS].find_one_and_update({"_id": question_id}, {"$set": changes},
                                                   return_document=ReturnDocument.AFTER, session=session)


async def attempt(db: AsyncDatabase, attempt_id: ObjectId, *, session: AsyncClientSession | None = None
                  ) -> dict[str, Any] | None:
    return await db[ATTEMPTS].find_one({"_id": attempt_id}, session=session)


async def open_attempt(db: AsyncDatabase, course_id: ObjectId, staff_id: str, *,
                       session: AsyncClientSession | None = None) -> dict[str, Any] | None:
    return await db[ATTEMPTS].find_one({"open_key": open_key(course_id, staff_id)}, session=session)


def open_key(course_id: ObjectId, staff_id: str) -> str:
    return f"{course_id}:{staff_id}"


async def insert_attempt(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession) -> None:
    await db[ATTEMPTS].insert_one(doc, session=session)


async def update_attempt(db: AsyncDatabase, attempt_id: ObjectId, flt: dict[str, Any], update: dict[str, Any], *,
                         session: AsyncClientSession) -> dict[str, Any] | None:
    return await db[ATTEMPTS].find_one_and_update({"_id": attempt_id, **flt}, update,
                                                  return_document=ReturnDocument.AFTER, session=session)


async def attempts_of(db: AsyncDatabase, course_id: ObjectId, staff_id: str, limit: int = 50) -> list[dict[str, Any]]:
    return await db[ATTEMPTS].find({"course_id": course_id, "staff_id": staff_id},
                                   {"questions": 0, "answers": 0}).sort("_id", DESCENDING).limit(limit).to_list()


async def passed_attempts(db: AsyncDatabase, *, staff_ids: list[str] | None = None,
                          course_ids: list[ObjectId] | None = None) -> list[dict[str, Any]]:
    """Passed attempts (of ``staff_ids``, of ``course_ids`` when given), oldest first."""
    flt: dict[str, Any] = {"passed": True}
    if staff_ids is not None:
        flt["staff_id"] = {"$in": staff_ids}
    if course_ids is not None:
        flt["course_id"] = {"$in": course_ids}
    return await db[ATTEMPTS].find(flt, {"course_id": 1, "staff_id": 1, "submitted_at": 1, "score_percent": 1}
                                   ).sort("submitted_at", ASCENDING).to_list()
