"""The account holder's PIPL rights: export everything (art. 45) and delete everything
(art. 47), and the nightly erasure of children whose guardian withdrew consent.

Each part of the mini-program keeps its own data and knows how to export and erase it:
a module in ``PARTS`` has ``NAME``, ``async export(deps, account, members) -> object``
and ``async erase(deps, account, members, now) -> None``. Erasure runs part by part and
the account's own records last, so an interrupted deletion is simply run again.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from miniprogram_api.accounts import repo
from miniprogram_api.accounts.models import ErasedOut, ExportOut
from miniprogram_api.accounts.principal import Principal
from miniprogram_api.accounts.service import get_account
from server import sessions
from server.errors import Conflict, NotAuthenticated
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

log = logging.getLogger("shuwu.mp.privacy")

PARTS = (
    "miniprogram_api.books.privacy",
    "miniprogram_api.challenges.privacy",
    "miniprogram_api.contest.privacy",
    "miniprogram_api.notify.privacy",
    "miniprogram_api.surveys.privacy",
    "miniprogram_api.families.privacy",
)
_MEMBER_FIELDS = ("relation", "name", "birth_year", "birth_date", "home_room", "school", "class_name",
                  "guardian_relation", "consent", "public_board", "history_enabled", "status", "erase_after",
                  "created_at")


def parts() -> list[ModuleType]:
    return [importlib.import_module(name) for name in PARTS]


async def _account(deps: Deps, principal: Principal) -> dict[str, Any]:
    account = await repo.account_by_id(deps.db, principal.account_id)
    if account is None:
        raise NotAuthenticated("账号已注销，请重新登录", code="not_authenticated")
    return account


async def export(deps: Deps, principal: Principal) -> ExportOut:
    account = await _account(deps, principal)
    members = await repo.members_of(deps.db, account["_id"])
    view = await get_account(deps, principal)
    cards = {m.id: m.card_no for m in view.members}
    data: dict[str, object] = {}
    for part in parts():
        data[part.NAME] = await part.export(deps, account, members)
    return ExportOut(
        exported_at=db_now(),
        account={"id": str(account["_id"]), "created_at": account["created_at"],
                 "last_login_at": account.get("last_login_at"), "has_unionid": bool(account.get("unionid"))},
        members=[{"id": str(m["_id"]), **{k: m.get(k) for k in _MEMBER_FIELDS}, "card_no": cards.get(str(m["_id"]))}
                 for m in members],
        data=data,
    )


async def _open_loans(deps: Deps, members: list[dict[str, Any]]) -> int:
    reader_ids = [m["reader_id"] for m in members if m.get("reader_id")]
    if not reader_ids:
        return 0
    return await deps.db["loans"].count_documents({"reader_id": {"$in": reader_ids}, "returned_at": None})


async def erase_members(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]], now: datetime) -> int:
    """Erase ``members`` from every part, then the members themselves. The library card
    (a desk record the library keeps under its own retention rules) is unlinked and,
    for a child, stays suspended."""
    if not members:
        return 0
    for part in parts():
        await part.erase(deps, account, members, now)

    async def work(session: AsyncClientSession) -> int:
        return await repo.delete_members(deps.db, [m["_id"] for m in members], session=session)

    return await in_transaction(deps.mongo, work)


async def delete_account(deps: Deps, principal: Principal) -> ErasedOut:
    """Delete the account and all its family's mini-program data now. Refused while a
    member has books on loan (they belong to the library until returned)."""
    account = await _account(deps, principal)
    members = await repo.members_of(deps.db, account["_id"])
    open_loans = await _open_loans(deps, members)
    if open_loans:
        raise Conflict(f"您的家庭还有 {open_loans} 本书未归还，请先到书屋还书后再注销账号", code="loans_open")
    now = db_now()
    erased = await erase_members(deps, account, members, now)

    async def work(session: AsyncClientSession) -> None:
        await repo.delete_account(deps.db, account["_id"], session=session)

    await in_transaction(deps.mongo, work)
    await sessions.revoke_all(deps.redis, str(account["_id"]), namespace="reader")
    log.info("mini-program account erased (%d members)", erased)
    return ErasedOut(erased_members=erased, detail="账号及家庭成员的信息已删除")


async def erase_withdrawn_children(deps: Deps, now: datetime) -> int:
    """The nightly job: children whose consent was withdrawn and whose retention period is
    over are erased. Returns how many."""
    due = await repo.due_for_erasure(deps.db, now, limit=1000)
    by_account: dict[Any, list[dict[str, Any]]] = {}
    for member in due:
        by_account.setdefault(member["account_id"], []).append(member)
    erased = 0
    for account_id, members in by_account.items():
        account = await repo.account_by_id(deps.db, account_id) or {"_id": account_id}
        erased += await erase_members(deps, account, members, now)
    return erased
