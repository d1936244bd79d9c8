"""Who is calling the mini-program API, and the one check every family route makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.errors import NotFound, RuleViolation
from server.ids import parse_object_id

if TYPE_CHECKING:
    from server.resources import Deps


@dataclass(frozen=True)
class Principal:
    """A logged-in mini-program account (one WeChat user) and where the request came from."""

    account_id: ObjectId
    openid: str
    request_id: str = ""
    ip: str = ""

    def op_key(self, op_id: str) -> str:
        """A reader's op_id, made unique per account: two readers' ids never collide, and
        nobody can replay another account's operation to read its answer."""
        return f"mp-{self.account_id}-{op_id}"


async def require_member(deps: Deps, principal: Principal, member_id: str, *,
                         loc: tuple[str, ...] = ("path", "member_id"), active: bool = True) -> dict[str, Any]:
    """The family member ``member_id`` of the calling account.

    NotFound when it does not exist *or* belongs to another account (a reader cannot
    even learn that someone else's member exists). With ``active``, a child whose
    consent was withdrawn is refused (RuleViolation): nothing new is recorded for them.
    """
    from miniprogram_api.accounts import repo

    doc = await repo.member_by_id(deps.db, parse_object_id(member_id, loc=loc))
    if doc is None or doc["account_id"] != principal.account_id:
        raise NotFound("没有这位家庭成员", code="member_not_found")
    if active and doc.get("status") != "active":
        raise RuleViolation("监护人已撤回同意，不能再为这位孩子记录信息", code="consent_withdrawn")
    return doc
