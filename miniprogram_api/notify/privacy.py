"""PIPL export and erasure for notifications (the contract in miniprogram_api/accounts/privacy.py):
the account's subscribe-message credits, the family's notification events, and (kept by
miniprogram_api/roomcodes) the room check-ins."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.notify import credits, repo, templates
from miniprogram_api.notify.service import notification_out
from miniprogram_api.roomcodes import repo as roomcodes_repo

if TYPE_CHECKING:
    from server.resources import Deps

NAME = "notifications"


async def _scope(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]]) -> tuple[dict[str, Any], bool]:
    """The events filter for ``members``, and whether they are the whole family (then the
    account's own records go too; otherwise only those about these members)."""
    member_ids = [m["_id"] for m in members]
    family = await accounts_repo.members_of(deps.db, account["_id"])
    whole = {m["_id"] for m in family} <= set(member_ids)
    reader_ids = [m["reader_id"] for m in members if m.get("reader_id")]
    return repo.family_filter(account["_id"], member_ids, reader_ids, whole_account=whole), whole


async def export(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]]) -> object:
    flt, whole = await _scope(deps, account, members)
    member_of_reader = {m["reader_id"]: m["_id"] for m in members if m.get("reader_id")}
    events = [notification_out(d, member_of_reader).model_dump(mode="json")
              for d in await repo.family_events(deps.db, flt)]
    credit_docs = await credits.of_account(deps.db, account["_id"]) if whole else []
    event_of = {t: e for e, t in templates.configured_templates(deps.settings).items()}
    visits = await roomcodes_repo.visits_of(deps.db, account["_id"], [m["_id"] for m in members],
                                            whole_account=whole)
    return {
        "subscribe_credits": [{"template_id": d["template_id"], "event": event_of.get(d["template_id"]),
                               "credits": d.get("credits", 0)} for d in credit_docs],
        "notifications": events,
        "room_check_ins": [{"room": v["room"], "day": v["day"],
                            "member_id": str(v["member_id"]) if v.get("member_id") else None,
                            "at": v["at"].isoformat()} for v in visits],
    }


async def erase(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]], now: datetime) -> None:
    flt, whole = await _scope(deps, account, members)
    await repo.delete_events(deps.db, flt)
    await roomcodes_repo.delete_visits_of(deps.db, account["_id"], [m["_id"] for m in members], whole_account=whole)
    if whole:
        await credits.delete_account(deps.db, account["_id"])
