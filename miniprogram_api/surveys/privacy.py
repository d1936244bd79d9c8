"""PIPL export and erasure for the satisfaction survey (the contract in
miniprogram_api/accounts/privacy.py). Answers belong to the account, not to a member, so
they go only when the whole family does: the scores stay in the room's statistics without
the account or the comment (anonymous data)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.surveys import repo

if TYPE_CHECKING:
    from server.resources import Deps

NAME = "room_surveys"


async def _whole_family(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]]) -> bool:
    family = await accounts_repo.members_of(deps.db, account["_id"])
    return {m["_id"] for m in family} <= {m["_id"] for m in members}


async def export(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]]) -> object:
    docs = await repo.answers_of_account(deps.db, account["_id"])
    return [{"room": d["room"], "year": d["year"], "answers": d["answers"], "comment": d.get("comment", ""),
             "answered_at": d["answered_at"].isoformat()} for d in docs]


async def erase(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]], now: datetime) -> None:
    if await _whole_family(deps, account, members):
        await repo.anonymise_account(deps.db, account["_id"])
