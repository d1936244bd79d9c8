"""What every circulation operation needs first: the desk's room, the catalog entry, the
way results are stored for replays. Shared by ``service`` (loans) and ``holds``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from server.crypto import mask_name
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, RuleViolation
from server.readers.models import ReaderBrief
from server.rooms import repo as rooms_repo
from server.rooms.service import authorize_room
from server.staff.roles import Actor
from server.stock.service import TITLES

if TYPE_CHECKING:
    from server.resources import Deps

# op kinds recorded in ``operations`` by circulation (anonymised with the loan history).
OP_KINDS = ("loan", "return", "renew", "in_room_use", "hold", "hold_cancel")
UNCATEGORISED = "未分类"


async def desk_room(deps: Deps, actor: Actor, code: str, *, loc: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The room a circulation write happens in: in the actor's scope and active.

    ``loc`` names a body field (an unknown room there is bad input, 422); without it
    the code came from the path (404 if unknown). Forbidden if out of scope.
    """
    if loc is None:
        room = await authorize_room(deps, actor, code)
    else:
        found = await rooms_repo.by_code(deps.db, code)
        if found is None:
            raise InvalidInput(f"没有编号为 {code} 的书屋", code="unknown_room", errors=[FieldProblem(loc, "书屋不存在")])
        room = found
        if not actor.can_access_room(room["code"], room["town"]):
            raise Forbidden("这个书屋不在您的负责范围内", code="room_out_of_scope")
    if room["status"] != "active":
        raise RuleViolation(f"{room['name']}已停用，不能办理借还", code="room_inactive")
    return room


async def catalog_title(deps: Deps, title_id: str, *, loc: tuple[str, ...] = ("body", "title_id")) -> dict[str, Any]:
    """The catalog entry with a normalised ``format``; InvalidInput if the catalog lacks it."""
    doc = await deps.db[TITLES].find_one({"_id": title_id}, {"title": 1, "author": 1, "format": 1, "category": 1})
    if doc is None:
        raise InvalidInput("目录中没有这种书，请核对 ISBN 或先登记书目", code="unknown_title",
                           errors=[FieldProblem(loc, f"{title_id} 不在目录中")])
    return with_format(doc)


def with_format(doc: dict[str, Any]) -> dict[str, Any]:
    fmt = str(doc.get("format") or "book").replace("-", "_")
    return {**doc, "format": fmt if fmt in {"book", "periodical", "audio_visual"} else "book",
            "category": doc.get("category") or UNCATEGORISED, "title": doc.get("title") or doc["_id"]}


async def titles_by_id(deps: Deps, title_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not title_ids:
        return {}
    docs = await deps.db[TITLES].find({"_id": {"$in": list(set(title_ids))}}, {"title": 1, "format": 1}).to_list()
    return {d["_id"]: d for d in docs}


def brief(reader: dict[str, Any] | None) -> ReaderBrief | None:
    if reader is None:
        return None
    return ReaderBrief(id=str(reader["_id"]), card_no=reader["card_no"], name=mask_name(reader["name"]))


def stored(result: dict[str, Any], replayed: bool) -> dict[str, Any]:
    """A stored operation result ready to answer with; a replay of an anonymised one is refused."""
    if result.get("anonymised"):
        raise Conflict("这个操作的记录已按借阅记录保护规定匿名化，无法重放", code="operation_anonymised")
    return {**result, "replayed": replayed}


def local_day_text(moment: datetime) -> str:
    from server.circulation.rules import LOCAL_TZ

    return moment.astimezone(LOCAL_TZ).strftime("%Y年%m月%d日").replace("年0", "年").replace("月0", "月")


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
