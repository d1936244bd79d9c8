"""Subscribe-message credits: one per consent, per (account, template).

WeChat's one-time subscribe messages need one user consent per message. The mini-program
reports each ``wx.requestSubscribeMessage`` answer here; every ``accept`` adds a credit,
every message sent spends one, and WeChat's 43101 ("the user refused") zeroes it.
Collection ``subscribe_credits``: ``_id`` "<account id>:<template id>", ``credits`` ≥ 0.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo import ASCENDING, IndexModel, ReturnDocument, UpdateOne
from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.asynchronous.database import AsyncDatabase

from miniprogram_api.accounts.principal import Principal
from miniprogram_api.notify import templates
from miniprogram_api.notify.models import SubscriptionsIn, SubscriptionsOut, TemplateCredit
from server import idempotency
from server.errors import FieldProblem, InvalidInput
from server.storage import db_now

if TYPE_CHECKING:
    from server.resources import Deps

COLLECTION = "subscribe_credits"
INDEXES = {COLLECTION: [IndexModel([("account_id", ASCENDING)])]}


def credit_id(account_id: ObjectId, template_id: str) -> str:
    return f"{account_id}:{template_id}"


# -- the collection ---------------------------------------------------------------------------


async def add(db: AsyncDatabase, session: AsyncClientSession | None, account_id: ObjectId,
              counts: dict[str, int], now: datetime) -> None:
    """Add ``counts[template_id]`` credits for each template (one round trip)."""
    updates = [
        UpdateOne({"_id": credit_id(account_id, template_id)},
                  {"$inc": {"credits": n}, "$set": {"updated_at": now},
                   "$setOnInsert": {"account_id": account_id, "template_id": template_id}},
                  upsert=True)
        for template_id, n in counts.items() if n > 0
    ]
    if updates:
        await db[COLLECTION].bulk_write(updates, ordered=False, session=session)


async def spend(db: AsyncDatabase, account_id: ObjectId, template_id: str, now: datetime) -> bool:
    """Take one credit if there is one (atomic: two senders never spend the same credit)."""
    doc = await db[COLLECTION].find_one_and_update(
        {"_id": credit_id(account_id, template_id), "credits": {"$gt": 0}},
        {"$inc": {"credits": -1}, "$set": {"updated_at": now}},
        return_document=ReturnDocument.AFTER, projection={"credits": 1})
    return doc is not None


async def give_back(db: AsyncDatabase, account_id: ObjectId, template_id: str, now: datetime) -> None:
    """Return a credit spent on a message WeChat did not deliver (its consent is still unused)."""
    await db[COLLECTION].update_one({"_id": credit_id(account_id, template_id)},
                                    {"$inc": {"credits": 1}, "$set": {"updated_at": now}})


async def zero(db: AsyncDatabase, account_id: ObjectId, template_id: str, now: datetime) -> None:
    """WeChat says the user has no consent left (43101): our count was wrong, forget it."""
    await db[COLLECTION].update_one({"_id": credit_id(account_id, template_id)},
                                    {"$set": {"credits": 0, "updated_at": now}})


async def of_account(db: AsyncDatabase, account_id: ObjectId) -> list[dict[str, Any]]:
    return await db[COLLECTION].find({"account_id": account_id}).sort("_id", ASCENDING).to_list()


async def delete_account(db: AsyncDatabase, account_id: ObjectId) -> int:
    return (await db[COLLECTION].delete_many({"account_id": account_id})).deleted_count


# -- the mini-program's view ------------------------------------------------------------------


def _view(deps: Deps, docs: list[dict[str, Any]], *, added: int = 0, replayed: bool = False) -> SubscriptionsOut:
    have = {d["template_id"]: int(d.get("credits", 0)) for d in docs}
    return SubscriptionsOut(
        templates=[TemplateCredit(event=event, title=templates.event_title(event), template_id=template_id,
                                  credits=have.get(template_id, 0))
                   for event, template_id in templates.configured_templates(deps.settings).items()],
        added=added, replayed=replayed)


async def subscriptions(deps: Deps, principal: Principal) -> SubscriptionsOut:
    """The templates the mini-program may ask consent for, by event, with the caller's credits."""
    return _view(deps, await of_account(deps.db, principal.account_id))


async def record_consents(deps: Deps, principal: Principal, data: SubscriptionsIn) -> SubscriptionsOut:
    """Add one credit per ``accept``. Template ids the district has not configured are
    refused (InvalidInput naming each); a replayed ``op_id`` adds nothing."""
    unknown = templates.unknown_template_ids(deps.settings, data.results)
    if unknown:
        raise InvalidInput("有未配置的订阅消息模板", code="unknown_template",
                           errors=[FieldProblem(("body", "results", t), "不是本小程序的订阅消息模板") for t in unknown])
    counts = Counter(t for t, result in data.results.items() if result == "accept")

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        await add(deps.db, session, principal.account_id, dict(counts), db_now())
        return {"added": sum(counts.values())}

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=principal.op_key(data.op_id), kind="mp_subscribe", room=None,
        actor=f"mp:{principal.account_id}", work=work)
    docs = await of_account(deps.db, principal.account_id)
    return _view(deps, docs, added=0 if replayed else int(result["added"]), replayed=replayed)
