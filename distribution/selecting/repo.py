"""``dist_selection_runs`` queries. Its index (plan_id, run_no unique) is declared by
``distribution.plans.repo.INDEXES``, which creates the collection contract."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from pymongo import DESCENDING
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from distribution.plans.repo import RUNS

INDEXES: dict[str, list[Any]] = {}  # see the module docstring
SUMMARY = {"lines": 0}


async def insert_run(db: AsyncDatabase, doc: dict[str, Any], *, session: AsyncClientSession | None = None) -> None:
    await db[RUNS].insert_one(doc, session=session)


async def latest_run_no(db: AsyncDatabase, plan_id: ObjectId) -> tuple[int, ObjectId | None]:
    doc = await db[RUNS].find_one({"plan_id": plan_id}, {"run_no": 1}, sort=[("run_no", DESCENDING)])
    return (int(doc["run_no"]), doc["_id"]) if doc else (0, None)


async def runs(db: AsyncDatabase, plan_id: ObjectId, limit: int = 100) -> list[dict[str, Any]]:
    return await db[RUNS].find({"plan_id": plan_id}, SUMMARY).sort("run_no", DESCENDING).limit(limit).to_list()


async def run(db: AsyncDatabase, plan_id: ObjectId, run_id: ObjectId, *, lines: bool = True) -> dict[str, Any] | None:
    return await db[RUNS].find_one({"_id": run_id, "plan_id": plan_id}, None if lines else SUMMARY)


async def previous_run(db: AsyncDatabase, plan_id: ObjectId, run_no: int) -> dict[str, Any] | None:
    return await db[RUNS].find_one({"plan_id": plan_id, "run_no": {"$lt": run_no}}, sort=[("run_no", DESCENDING)])
