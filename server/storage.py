"""MongoDB plumbing shared by every repository: index creation and transactions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TypeVar

from pymongo import AsyncMongoClient, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

T = TypeVar("T")
IndexSpec = Mapping[str, Sequence[IndexModel]]


def db_now() -> datetime:
    """The current UTC time at the precision MongoDB stores (milliseconds).

    A document built in memory and returned to the client must agree with what a
    later read returns; BSON dates drop microseconds.
    """
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


async def ensure_indexes(db: AsyncDatabase, *specs: IndexSpec) -> None:
    """Create every declared index (idempotent; run at start-up)."""
    for spec in specs:
        for collection, indexes in spec.items():
            if indexes:
                await db[collection].create_indexes(list(indexes))


async def in_transaction(
    client: AsyncMongoClient, work: Callable[[AsyncClientSession], Awaitable[T]]
) -> T:
    """Run ``work(session)`` in one multi-document transaction.

    PyMongo's ``with_transaction`` retries the whole callback on
    TransientTransactionError and the commit on UnknownTransactionCommitResult,
    so ``work`` must be safe to run more than once (no side effects outside Mongo).
    """
    async with client.start_session() as session:
        return await session.with_transaction(
            work,
            read_concern=ReadConcern("snapshot"),
            write_concern=WriteConcern("majority"),
        )
