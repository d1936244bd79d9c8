"""The reader-event outbox: things a reader should hear about (a hold is ready, a book is
due tomorrow, a suggestion moved on, a challenge milestone, a contest result).

Domain code records an event in the same transaction as the change that caused it,
under an idempotency key naming the event (``hold_ready:<hold id>``), so an event
exists exactly when its cause committed, and recording it twice changes nothing.
Delivery is someone else's job: the notification worker (``miniprogram_api/notify``)
sends what is pending through the channels the reader has (WeChat subscribe
messages today) and marks each event sent, skipped or failed — never lost.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from bson import ObjectId
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

COLLECTION = "notifications"
Event = Literal["hold_ready", "due_tomorrow", "overdue", "suggestion_status", "challenge_milestone",
                "contest_result", "prize_won", "rating_result"]
EVENTS: tuple[str, ...] = ("hold_ready", "due_tomorrow", "overdue", "suggestion_status", "challenge_milestone",
                           "contest_result", "prize_won", "rating_result")
Status = Literal["pending", "sent", "skipped", "failed"]

INDEXES = {
    COLLECTION: [
        IndexModel([("status", ASCENDING), ("next_attempt_at", ASCENDING)]),
        IndexModel([("account_id", ASCENDING), ("created_at", ASCENDING)]),
        IndexModel([("reader_id", ASCENDING)]),
    ]
}


async def record(
    db: AsyncDatabase,
    session: AsyncClientSession | None,
    *,
    event: Event,
    key: str,
    data: dict[str, str],
    page: str,
    now: datetime,
    reader_id: ObjectId | None = None,
    account_id: ObjectId | None = None,
    member_id: ObjectId | None = None,
) -> bool:
    """Record ``event`` for a reader (by library card ``reader_id``) or a mini-program
    account (``account_id``, with the family ``member_id`` it is about).

    ``key`` is the event's identity: the same key twice is one event. ``data`` holds the
    message fields by template key (``thing1`` …); the sender fits them to WeChat's
    limits. Returns True when the event is new. Safe inside a transaction (an upsert,
    not an insert that could abort it on a duplicate).
    """
    if reader_id is None and account_id is None:
        raise ValueError("an event needs a reader_id or an account_id")
    result = await db[COLLECTION].update_one(
        {"_id": f"{event}:{key}"},
        {"$setOnInsert": {
            "event": event, "reader_id": reader_id, "account_id": account_id, "member_id": member_id,
            "data": data, "page": page, "status": "pending", "attempts": 0, "created_at": now,
            "next_attempt_at": now, "sent_at": None, "last_error": None,
        }},
        upsert=True,
        session=session,
    )
    return result.upserted_id is not None


async def pending(db: AsyncDatabase, now: datetime, *, limit: int) -> list[dict[str, Any]]:
    """Events due for a (first or next) delivery attempt, oldest first."""
    return await db[COLLECTION].find({"status": "pending", "next_attempt_at": {"$lte": now}}
                                     ).sort("next_attempt_at", ASCENDING).limit(limit).to_list()
