"""Client-made op_ids: a replayed write changes nothing and returns the first answer.

The ``operations`` collection keeps, per op_id, the outcome of the first attempt
(success or refusal). A successful operation's record is written in the same
transaction as its effects, so there is never an effect without a record.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from server.errors import Conflict, DomainError, FieldProblem

COLLECTION = "operations"
INDEXES = {COLLECTION: [IndexModel([("room", ASCENDING), ("at", ASCENDING)])]}
OP_ID_PATTERN = r"^[A-Za-z0-9_-]{8,64}$"


async def previous(db: AsyncDatabase, op_id: str, kind: str) -> dict[str, Any] | None:
    """The recorded outcome of ``op_id``, or None. Conflict if the id was used for another kind."""
    doc = await db[COLLECTION].find_one({"_id": op_id})
    if doc is None:
        return None
    if doc["kind"] != kind:
        raise Conflict(
            "这个操作编号已用于另一种操作", code="op_id_reused",
            errors=[FieldProblem(("body", "op_id"), f"已用于 {doc['kind']}")],
        )
    return doc


async def record_success(
    db: AsyncDatabase, session: AsyncClientSession, *, op_id: str, kind: str, room: str | None,
    actor: str, result: dict[str, Any],
) -> None:
    await db[COLLECTION].insert_one(
        {"_id": op_id, "kind": kind, "room": room, "actor": actor, "at": datetime.now(UTC),
         "ok": True, "result": result},
        session=session,
    )


async def record_refusal(db: AsyncDatabase, *, op_id: str, kind: str, room: str | None, actor: str,
                         error: DomainError) -> None:
    """Remember a refusal so a replay gets the same answer, not a different one later."""
    try:
        await db[COLLECTION].insert_one(
            {"_id": op_id, "kind": kind, "room": room, "actor": actor, "at": datetime.now(UTC), "ok": False,
             "error": {"type": type(error).__name__, "code": error.code, "detail": error.detail,
                       "errors": [{"loc": list(p.loc), "msg": p.msg} for p in error.errors]}},
        )
    except DuplicateKeyError:
        pass  # a concurrent attempt recorded first; its answer stands


def reraise(doc: dict[str, Any]) -> None:
    """Raise the refusal recorded in ``doc`` again."""
    from server import errors

    err = doc["error"]
    cls = getattr(errors, err["type"], errors.Conflict)
    raise cls(err["detail"], code=err["code"],
              errors=[FieldProblem(tuple(e["loc"]), e["msg"]) for e in err.get("errors", [])])


async def run_once(
    db: AsyncDatabase,
    client: Any,
    *,
    op_id: str,
    kind: str,
    room: str | None,
    actor: str,
    work: Any,
) -> tuple[dict[str, Any], bool]:
    """Run ``work(session) -> result dict`` once per ``op_id`` inside one transaction.

    Returns (result, replayed). A replay returns the first result, or raises the
    first refusal again (Conflict and RuleViolation are remembered; bad input is
    not, since nothing was decided).
    """
    from server.errors import RuleViolation
    from server.storage import in_transaction

    prior = await previous(db, op_id, kind)
    if prior is not None:
        if not prior["ok"]:
            reraise(prior)
        return prior["result"], True

    async def txn(session: AsyncClientSession) -> dict[str, Any]:
        result = await work(session)
        await record_success(db, session, op_id=op_id, kind=kind, room=room, actor=actor, result=result)
        return result

    try:
        return await in_transaction(client, txn), False
    except DuplicateKeyError as exc:
        if f".{COLLECTION} " not in str(exc) and "_id_" not in str(exc):
            raise
        # The same op_id committed concurrently (a double tap on two connections).
        prior = await previous(db, op_id, kind)
        if prior is None:
            raise
        if not prior["ok"]:
            reraise(prior)
        return prior["result"], True
    except (Conflict, RuleViolation) as exc:
        await record_refusal(db, op_id=op_id, kind=kind, room=room, actor=actor, error=exc)
        raise
