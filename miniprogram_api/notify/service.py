"""The family's message list: every event recorded for the account or its members' cards,
whether or not it could be sent (no subscription, no credit: the event is still here)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.accounts.principal import Principal
from miniprogram_api.notify import repo, templates
from miniprogram_api.notify.models import NotificationOut, NotificationPage, NotificationQuery
from server.pagination import decode_cursor, encode_cursor

if TYPE_CHECKING:
    from server.resources import Deps

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _millis(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def _cursor_key(cursor: str) -> tuple[datetime, str]:
    millis, last_id = decode_cursor(cursor, arity=2)
    if not isinstance(millis, int) or not isinstance(last_id, str):
        decode_cursor("", arity=2)  # raises the same InvalidInput as any forged cursor
    return _EPOCH + timedelta(milliseconds=millis), last_id


def notification_out(doc: dict[str, Any], member_of_reader: dict[ObjectId, ObjectId]) -> NotificationOut:
    member_id = doc.get("member_id") or member_of_reader.get(doc.get("reader_id"))  # type: ignore[arg-type]
    return NotificationOut(
        id=doc["_id"], event=doc["event"], title=templates.event_title(doc["event"]),
        member_id=str(member_id) if member_id else None,
        data={str(k): str(v) for k, v in (doc.get("data") or {}).items()}, page=doc.get("page") or "",
        status=doc["status"], reason=doc.get("reason"), created_at=doc["created_at"], sent_at=doc.get("sent_at"))


async def list_notifications(deps: Deps, principal: Principal, query: NotificationQuery) -> NotificationPage:
    """The family's events, newest first (three queries whatever the page size)."""
    after = _cursor_key(query.cursor) if query.cursor else None
    members = await accounts_repo.members_of(deps.db, principal.account_id)
    member_of_reader = {m["reader_id"]: m["_id"] for m in members if m.get("reader_id")}
    docs = await repo.family_page(deps.db, principal.account_id, list(member_of_reader), after=after,
                                  limit=query.limit + 1)
    page = docs[: query.limit]
    next_cursor = None
    if len(docs) > query.limit and page:
        last = page[-1]
        next_cursor = encode_cursor([_millis(last["created_at"]), last["_id"]])
    return NotificationPage(items=[notification_out(d, member_of_reader) for d in page], next_cursor=next_cursor)
