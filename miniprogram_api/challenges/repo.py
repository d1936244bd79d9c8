"""The challenge collections and their queries.

- ``challenges``: a staff-defined reading challenge (dates as ISO strings, local).
- ``participants``: one per (challenge, person): a family member of a mini-program
  account (``member_id``) or a desk reader without a phone (``reader_id``). The running
  ``total`` and per-day totals (``days``) live here: Mongo is the source of truth and the
  Redis leaderboards are rebuilt from it.
- ``reading_logs``: every log; an outlier carries a ``flag`` for staff.
- ``badges``: a milestone reached, once per (participant, milestone).
- ``book_reviews``: readers' reviews, shown after staff approval.
- ``prize_draws``: a seeded draw with its eligible list and winners.
"""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import ASCENDING, DESCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

CHALLENGES = "challenges"
PARTICIPANTS = "participants"
LOGS = "reading_logs"
BADGES = "badges"
REVIEWS = "book_reviews"
DRAWS = "prize_draws"

_OBJECT_ID = {"$type": "objectId"}
INDEXES = {
    CHALLENGES: [IndexModel([("status", ASCENDING), ("_id", DESCENDING)])],
    PARTICIPANTS: [
        IndexModel([("challenge_id", ASCENDING), ("member_id", ASCENDING)], unique=True,
                   partialFilterExpression={"member_id": _OBJECT_ID}),
        IndexModel([("challenge_id", ASCENDING), ("reader_id", ASCENDING)], unique=True,
                   partialFilterExpression={"reader_id": _OBJECT_ID}),
        IndexModel([("challenge_id", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("challenge_id", ASCENDING), ("room", ASCENDING), ("_id", ASCENDING)]),
        IndexModel([("member_id", ASCENDING)]),
    ],
    LOGS: [
        IndexModel([("participant_id", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("challenge_id", ASCENDING), ("flag.status", ASCENDING), ("_id", DESCENDING)],
                   partialFilterExpression={"flag": {"$type": "object"}}),
        IndexModel([("member_id", ASCENDING)]),
    ],
    BADGES: [
        IndexModel([("participant_id", ASCENDING), ("milestone_index", ASCENDING)], unique=True),
        IndexModel([("member_id", ASCENDING)]),
    ],
    REVIEWS: [
        IndexModel([("member_id", ASCENDING), ("title_id", ASCENDING)], unique=True),
        IndexModel([("title_id", ASCENDING), ("status", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("status", ASCENDING), ("_id", DESCENDING)]),
        IndexModel([("account_id", ASCENDING), ("_id", DESCENDING)]),
    ],
    DRAWS: [IndexModel([("challenge_id", ASCENDING), ("_id", ASCENDING)])],
}

Session = AsyncClientSession | None
# What a leaderboard needs of a participant.
BOARD_FIELDS = {"name": 1, "room": 1, "room_name": 1, "town": 1, "school": 1, "class_name": 1, "public": 1,
                "status": 1, "total": 1}


# -- challenges ---------------------------------------------------------------------------------


async def insert_challenge(db: AsyncDatabase, doc: dict[str, Any], *, session: Session = None) -> ObjectId:
    return (await db[CHALLENGES].insert_one(doc, session=session)).inserted_id


async def challenge_by_id(db: AsyncDatabase, challenge_id: ObjectId, *, session: Session = None
                          ) -> dict[str, Any] | None:
    return await db[CHALLENGES].find_one({"_id": challenge_id}, session=session)


async def challenges_by_ids(db: AsyncDatabase, ids: list[ObjectId]) -> dict[ObjectId, dict[str, Any]]:
    if not ids:
        return {}
    return {d["_id"]: d for d in await db[CHALLENGES].find({"_id": {"$in": list(set(ids))}}).to_list()}


async def update_challenge(db: AsyncDatabase, challenge_id: ObjectId, changes: dict[str, Any], *,
                           session: Session = None) -> dict[str, Any] | None:
    return await db[CHALLENGES].find_one_and_update({"_id": challenge_id}, {"$set": changes},
                                                    return_document=ReturnDocument.AFTER, session=session)


async def list_challenges(db: AsyncDatabase, *, statuses: list[str] | None, before: ObjectId | None, limit: int
                          ) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {}
    if statuses is not None:
        flt["status"] = {"$in": statuses}
    if before is not None:
        flt["_id"] = {"$lt": before}
    return await db[CHALLENGES].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def participant_counts(db: AsyncDatabase, challenge_ids: list[ObjectId]) -> dict[ObjectId, int]:
    """Participants per challenge, in one aggregation."""
    if not challenge_ids:
        return {}
    rows = await (await db[PARTICIPANTS].aggregate([
        {"$match": {"challenge_id": {"$in": challenge_ids}}},
        {"$group": {"_id": "$challenge_id", "n": {"$sum": 1}}},
    ])).to_list()
    return {r["_id"]: int(r["n"]) for r in rows}


# -- participants ---------------------------------------------------------------------------------


async def participant_by_id(db: AsyncDatabase, participant_id: ObjectId, *, session: Session = None
                            ) -> dict[str, Any] | None:
    return await db[PARTICIPANTS].find_one({"_id": participant_id}, session=session)


async def participants_by_ids(db: AsyncDatabase, ids: list[ObjectId], *, projection: dict[str, int] | None = None,
                              session: Session = None) -> dict[ObjectId, dict[str, Any]]:
    if not ids:
        return {}
    docs = await db[PARTICIPANTS].find({"_id": {"$in": list(set(ids))}}, projection, session=session).to_list()
    return {d["_id"]: d for d in docs}


async def participants_of_members(db: AsyncDatabase, challenge_ids: list[ObjectId] | None,
                                  member_ids: list[ObjectId], *, session: Session = None) -> list[dict[str, Any]]:
    """Participants of these members (in these challenges, or in all when None)."""
    if not member_ids:
        return []
    flt: dict[str, Any] = {"member_id": {"$in": list(set(member_ids))}}
    if challenge_ids is not None and len(set(challenge_ids)) == 1:
        flt["challenge_id"] = challenge_ids[0]  # an equality is cheaper than a one-element $in
    elif challenge_ids is not None:
        flt["challenge_id"] = {"$in": list(set(challenge_ids))}
    return await db[PARTICIPANTS].find(flt, session=session).to_list()


async def participant_of(db: AsyncDatabase, challenge_id: ObjectId, *, member_id: ObjectId | None = None,
                         reader_id: ObjectId | None = None, session: Session = None) -> dict[str, Any] | None:
    """The participant who is this member or this desk reader (either may match)."""
    ors: list[dict[str, Any]] = []
    if member_id is not None:
        ors.append({"member_id": member_id})
    if reader_id is not None:
        ors.append({"reader_id": reader_id})
    if not ors:
        return None
    return await db[PARTICIPANTS].find_one({"challenge_id": challenge_id, "$or": ors}, session=session)


async def participants_for(db: AsyncDatabase, challenge_id: ObjectId, member_ids: list[ObjectId],
                           reader_ids: list[ObjectId], *, session: Session = None) -> list[dict[str, Any]]:
    """Participants of a challenge who are one of these members or one of these desk readers."""
    ors: list[dict[str, Any]] = []
    if member_ids:
        ors.append({"member_id": {"$in": member_ids}})
    if reader_ids:
        ors.append({"reader_id": {"$in": reader_ids}})
    if not ors:
        return []
    return await db[PARTICIPANTS].find({"challenge_id": challenge_id, "$or": ors}, session=session).to_list()


async def insert_participant(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession) -> ObjectId:
    return (await db[PARTICIPANTS].insert_one(doc, session=session)).inserted_id


async def update_participant(db: AsyncDatabase, participant_id: ObjectId, update: dict[str, Any], *,
                             session: Session = None) -> dict[str, Any] | None:
    return await db[PARTICIPANTS].find_one_and_update({"_id": participant_id}, update,
                                                      return_document=ReturnDocument.AFTER, session=session)


async def bulk_update_participants(db: AsyncDatabase, updates: list[tuple[ObjectId, dict[str, Any]]], *,
                                   session: AsyncClientSession) -> None:
    if updates:
        await db[PARTICIPANTS].bulk_write([UpdateOne({"_id": pid}, u) for pid, u in updates], ordered=True,
                                          session=session)


async def set_member_fields(db: AsyncDatabase, member_id: ObjectId, fields: dict[str, Any]) -> None:
    await db[PARTICIPANTS].update_many({"member_id": member_id}, {"$set": fields})


async def participants_page(db: AsyncDatabase, challenge_id: ObjectId, scope: dict[str, Any], *,
                            after: ObjectId | None, limit: int) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"challenge_id": challenge_id, **scope}
    if after is not None:
        flt["_id"] = {"$gt": after}
    return await db[PARTICIPANTS].find(flt, {"days": 0, "recent": 0}).sort("_id", ASCENDING).limit(limit).to_list()


async def all_participants(db: AsyncDatabase, challenge_id: ObjectId, scope: dict[str, Any] | None = None, *,
                           projection: dict[str, int] | None = None) -> list[dict[str, Any]]:
    flt = {"challenge_id": challenge_id, **(scope or {})}
    return await db[PARTICIPANTS].find(flt, projection).sort("_id", ASCENDING).to_list()


# -- logs and badges -------------------------------------------------------------------------------------


async def insert_logs(db: AsyncDatabase, docs: list[dict[str, Any]], *, session: AsyncClientSession) -> None:
    if docs:
        await db[LOGS].insert_many(docs, session=session)


async def log_by_id(db: AsyncDatabase, log_id: ObjectId, *, session: Session = None) -> dict[str, Any] | None:
    return await db[LOGS].find_one({"_id": log_id}, session=session)


async def update_log(db: AsyncDatabase, log_id: ObjectId, changes: dict[str, Any], *,
                     session: AsyncClientSession) -> None:
    await db[LOGS].update_one({"_id": log_id}, {"$set": changes}, session=session)


async def logs_of(db: AsyncDatabase, participant_id: ObjectId, *, before: ObjectId | None, limit: int
                  ) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"participant_id": participant_id}
    if before is not None:
        flt["_id"] = {"$lt": before}
    return await db[LOGS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def flags_page(db: AsyncDatabase, challenge_id: ObjectId, status: str, scope: dict[str, Any], *,
                     before: ObjectId | None, limit: int) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"challenge_id": challenge_id, "flag.status": status, **scope}
    if before is not None:
        flt["_id"] = {"$lt": before}
    return await db[LOGS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def insert_badges(db: AsyncDatabase, docs: list[dict[str, Any]], *, session: AsyncClientSession) -> None:
    if docs:
        await db[BADGES].insert_many(docs, session=session)


async def delete_badges(db: AsyncDatabase, participant_id: ObjectId, indexes: list[int], *,
                        session: AsyncClientSession) -> None:
    if indexes:
        await db[BADGES].delete_many({"participant_id": participant_id, "milestone_index": {"$in": indexes}},
                                     session=session)


async def badges_of(db: AsyncDatabase, participant_id: ObjectId) -> list[dict[str, Any]]:
    return await db[BADGES].find({"participant_id": participant_id}).sort("milestone_index", ASCENDING).to_list()


# -- reviews ------------------------------------------------------------------------------------------------


async def review_by_id(db: AsyncDatabase, review_id: ObjectId, *, session: Session = None) -> dict[str, Any] | None:
    return await db[REVIEWS].find_one({"_id": review_id}, session=session)


async def has_review(db: AsyncDatabase, member_id: ObjectId, title_id: str) -> bool:
    return await db[REVIEWS].find_one({"member_id": member_id, "title_id": title_id}, {"_id": 1}) is not None


async def insert_review(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession) -> None:
    """Raises DuplicateKeyError for a second review of the same title by the same member."""
    await db[REVIEWS].insert_one(doc, session=session)


async def set_review(db: AsyncDatabase, review_id: ObjectId, changes: dict[str, Any], *,
                     session: AsyncClientSession) -> None:
    await db[REVIEWS].update_one({"_id": review_id}, {"$set": changes}, session=session)


async def reviews_page(db: AsyncDatabase, flt: dict[str, Any], *, before: ObjectId | None, limit: int
                       ) -> list[dict[str, Any]]:
    """Newest first; ``flt`` is one of: {account_id}, {status}, {title_id, status} (each indexed)."""
    if before is not None:
        flt = {**flt, "_id": {"$lt": before}}
    return await db[REVIEWS].find(flt).sort("_id", DESCENDING).limit(limit).to_list()


async def review_summary(db: AsyncDatabase, title_id: str) -> tuple[int, float | None]:
    """(approved reviews, their mean rating) of a title."""
    rows = await (await db[REVIEWS].aggregate([
        {"$match": {"title_id": title_id, "status": "approved"}},
        {"$group": {"_id": None, "n": {"$sum": 1}, "avg": {"$avg": "$rating"}}}])).to_list()
    if not rows or not rows[0]["n"]:
        return 0, None
    return int(rows[0]["n"]), float(rows[0]["avg"])


# -- draws ------------------------------------------------------------------------------------------------------


async def insert_draw(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession) -> ObjectId:
    return (await db[DRAWS].insert_one(doc, session=session)).inserted_id


async def draw_by_id(db: AsyncDatabase, challenge_id: ObjectId, draw_id: ObjectId) -> dict[str, Any] | None:
    return await db[DRAWS].find_one({"_id": draw_id, "challenge_id": challenge_id})


async def previous_winners(db: AsyncDatabase, challenge_id: ObjectId, *, session: Session = None) -> set[str]:
    docs = await db[DRAWS].find({"challenge_id": challenge_id}, {"winners": 1}, session=session).to_list()
    return {w for d in docs for w in d.get("winners", [])}


# -- erasure (privacy) ---------------------------------------------------------------------------------------


async def delete_of_members(db: AsyncDatabase, member_ids: list[ObjectId], *, session: AsyncClientSession) -> None:
    flt = {"member_id": {"$in": member_ids}}
    for name in (LOGS, BADGES, REVIEWS, PARTICIPANTS):
        await db[name].delete_many(flt, session=session)


async def of_members(db: AsyncDatabase, name: str, member_ids: list[ObjectId]) -> list[dict[str, Any]]:
    if not member_ids:
        return []
    return await db[name].find({"member_id": {"$in": member_ids}}).sort("_id", ASCENDING).to_list()
