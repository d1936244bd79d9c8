"""The activity register and opening check-ins: who may record, when, and how often.

Writers: the room's administrator, the town coordinator of its town, district staff
(the endpoint's roles; ``authorize_room`` checks the scope). Every write runs once per
client op_id, in one transaction with its audit entry.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server import idempotency
from server.activities import repo
from server.activities.models import (
    EDIT_WINDOW_DAYS,
    RECORD_WINDOW_DAYS,
    ActivityIn,
    ActivityOut,
    ActivityPage,
    ActivityQuery,
    ActivityRecorded,
    ActivityUpdate,
    OpeningIn,
    OpeningOut,
    RoomActivityQuery,
)
from server.audit import repo as audit
from server.circulation.rules import LOCAL_TZ
from server.errors import FieldProblem, Forbidden, InvalidInput, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_cursor, encode_cursor
from server.readers.service import local_today
from server.rooms.service import authorize_room
from server.staff.roles import Actor, Role
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps


def activity_out(doc: dict[str, Any]) -> ActivityOut:
    return ActivityOut(
        id=str(doc["_id"]), room=doc["room"], town=doc["town"], held_on=date.fromisoformat(doc["held_on"]),
        title=doc["title"], kind=doc["kind"], attendance=doc["attendance"], children=doc.get("children", 0),
        notes=doc.get("notes", ""), recorded_by=doc["recorded_by"], created_at=doc["created_at"],
        updated_at=doc["updated_at"], editable_until=doc["created_at"] + timedelta(days=EDIT_WINDOW_DAYS))


def _check_held_on(held_on: date, today: date) -> None:
    if held_on > today:
        raise InvalidInput("活动日期不能晚于今天", code="held_on_in_future",
                           errors=[FieldProblem(("body", "held_on"), f"不能晚于今天（{today.isoformat()}）")])
    earliest = today - timedelta(days=RECORD_WINDOW_DAYS)
    if held_on < earliest:
        raise InvalidInput("一年以前的活动不能再补记", code="held_on_too_old",
                           errors=[FieldProblem(("body", "held_on"), f"不能早于 {earliest.isoformat()}")])


async def record_activity(deps: Deps, actor: Actor, code: str, data: ActivityIn) -> ActivityRecorded:
    """Add one activity to ``code``'s register. NotFound/Forbidden for the room, InvalidInput
    for a date in the future or more than a year ago. A replayed op_id records nothing."""
    room = await authorize_room(deps, actor, code)
    _check_held_on(data.held_on, local_today())

    async def work(session: Any) -> dict[str, Any]:
        now = db_now()
        doc = {"_id": ObjectId(), "room": room["code"], "town": room["town"], "held_on": data.held_on.isoformat(),
               "title": data.title, "kind": data.kind, "attendance": data.attendance, "children": data.children,
               "notes": data.notes, "recorded_by": actor.username, "op_id": data.op_id, "created_at": now,
               "updated_at": now}
        await repo.insert_activity(deps.db, doc, session=session)
        await audit.record(deps.db, actor, "activity.record", target_type="room_activity", target_id=str(doc["_id"]),
                           room=room["code"], changes={"op_id": data.op_id, "held_on": doc["held_on"],
                                                       "title": data.title, "attendance": data.attendance},
                           session=session)
        return {"op_id": data.op_id, "activity": activity_out(doc).model_dump(mode="json")}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="room_activity",
                                                  room=room["code"], actor=actor.username, work=work)
    return ActivityRecorded.model_validate({**result, "replayed": replayed})


async def update_activity(deps: Deps, actor: Actor, code: str, activity_id: str, data: ActivityUpdate) -> ActivityOut:
    """Correct an activity within EDIT_WINDOW_DAYS of recording it (RuleViolation after); audited
    with each field's before and after."""
    room = await authorize_room(deps, actor, code)
    oid = parse_object_id(activity_id, loc=("path", "activity_id"))
    current = await repo.activity_by_id(deps.db, oid)
    if current is None or current["room"] != room["code"]:
        raise NotFound("这个书屋没有这条活动记录", code="activity_not_found")
    if db_now() > current["created_at"] + timedelta(days=EDIT_WINDOW_DAYS):
        raise RuleViolation(f"活动记录超过 {EDIT_WINDOW_DAYS} 天后不能再修改", code="edit_window_closed")
    given = data.model_dump(exclude_unset=True)
    if any(v is None for v in given.values()):
        nulls = [k for k, v in given.items() if v is None]
        raise InvalidInput("这些信息不能清空", code="required_field",
                           errors=[FieldProblem(("body", k), "不能为空") for k in nulls])
    if "held_on" in given:
        _check_held_on(given["held_on"], local_today())
        given["held_on"] = given["held_on"].isoformat()
    attendance = given.get("attendance", current["attendance"])
    if given.get("children", current.get("children", 0)) > attendance:
        raise InvalidInput("儿童人数不能多于参加人数", code="children_over_attendance",
                           errors=[FieldProblem(("body", "children"), "不能多于参加人数")])
    changes = {k: v for k, v in given.items() if current.get(k) != v}
    if not changes:
        return activity_out(current)
    before = {k: current.get(k) for k in changes}

    async def work(session: Any) -> dict[str, Any] | None:
        doc = await repo.update_activity(deps.db, oid, {**changes, "updated_at": db_now(),
                                                        "updated_by": actor.username}, session=session)
        await audit.record(deps.db, actor, "activity.update", target_type="room_activity", target_id=activity_id,
                           room=room["code"], changes={k: {"from": before[k], "to": changes[k]} for k in changes},
                           session=session)
        return doc

    doc = await in_transaction(deps.mongo, work)
    assert doc is not None
    return activity_out(doc)


async def _page(deps: Deps, flt: dict[str, Any], query: RoomActivityQuery) -> ActivityPage:
    after = None
    if query.cursor:
        day, last = decode_cursor(query.cursor, arity=2)
        if not ObjectId.is_valid(str(last)):
            decode_cursor("", arity=2)  # the same InvalidInput as any forged cursor
        after = (str(day), ObjectId(str(last)))
    docs = await repo.activities_page(deps.db, flt, after=after, limit=query.limit + 1)
    page = docs[:query.limit]
    cursor = encode_cursor([page[-1]["held_on"], str(page[-1]["_id"])]) if len(docs) > query.limit else None
    count, people = await repo.activity_totals(deps.db, flt)
    return ActivityPage(items=[activity_out(d) for d in page], next_cursor=cursor, count=count,
                        total_attendance=people)


def _days(query: RoomActivityQuery) -> dict[str, Any]:
    if query.since and query.until and query.since > query.until:
        raise InvalidInput("开始日期不能晚于结束日期", code="bad_period",
                           errors=[FieldProblem(("query", "since"), "应早于或等于 until")])
    return {"day_from": query.since.isoformat() if query.since else None,
            "day_to": query.until.isoformat() if query.until else None}


async def room_activities(deps: Deps, actor: Actor, code: str, query: RoomActivityQuery) -> ActivityPage:
    """One room's register, newest first (any staff who may see the room)."""
    room = await authorize_room(deps, actor, code)
    return await _page(deps, repo.activity_filter(rooms=[room["code"]], **_days(query)), query)


async def district_activities(deps: Deps, actor: Actor, query: ActivityQuery) -> ActivityPage:
    """Activities across the district (district roles) or the coordinator's towns."""
    towns: list[str] | None = None
    if actor.role is Role.TOWN_COORDINATOR:
        if query.town and query.town not in actor.towns:
            raise Forbidden("这个镇街不在您的负责范围内", code="town_out_of_scope",
                            errors=[FieldProblem(("query", "town"), "不在您的负责范围内")])
        towns = [query.town] if query.town else sorted(actor.towns)
    elif query.town:
        towns = [query.town]
    return await _page(deps, repo.activity_filter(towns=towns, **_days(query)), query)


async def record_opening(deps: Deps, actor: Actor, code: str, data: OpeningIn) -> OpeningOut:
    """"今日开馆": mark ``code`` open today (local date). Once per room per day: a second tap,
    by anyone, changes nothing (``first`` false). RuleViolation for an inactive room."""
    room = await authorize_room(deps, actor, code)
    if room["status"] != "active":
        raise RuleViolation(f"{room['name']}已停用，不能打卡开馆", code="room_inactive")

    async def work(session: Any) -> dict[str, Any]:
        now = db_now()
        day = now.astimezone(LOCAL_TZ).date().isoformat()
        doc = {"_id": repo.opening_id(room["code"], day), "room": room["code"], "day": day, "by": actor.username,
               "at": now}
        first = await repo.insert_opening(deps.db, doc, session=session)
        if first:
            await audit.record(deps.db, actor, "room.opening", target_type="room", target_id=room["code"],
                               room=room["code"], changes={"op_id": data.op_id, "day": day}, session=session)
        else:
            doc = await repo.opening(deps.db, room["code"], day, session=session) or doc
        return {"op_id": data.op_id, "room": room["code"], "day": day, "first": first, "by": doc["by"],
                "at": doc["at"].isoformat() if isinstance(doc["at"], datetime) else doc["at"]}

    result, replayed = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="room_opening",
                                                  room=room["code"], actor=actor.username, work=work)
    return OpeningOut.model_validate({**result, "replayed": replayed})


async def opened_today(deps: Deps, code: str) -> dict[str, Any] | None:
    """Today's opening check-in of ``code``, if any (for the phone page)."""
    return await repo.opening(deps.db, code, local_today().isoformat())
