"""The room registry: the rules for creating, changing and deactivating rooms.

Every write runs in one transaction with its audit entry. Scope: district roles,
inspectors and trainers see every room; a town coordinator the rooms of their
towns; a room administrator their own rooms (and may edit only the practical
details, ROOM_ADMIN_EDITABLE).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pymongo.errors import DuplicateKeyError

from server.audit import repo as audit
from server.crypto import mask_phone
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, RuleViolation
from server.pagination import decode_cursor, split_page
from server.rooms import repo
from server.rooms.models import (
    ROOM_ADMIN_EDITABLE,
    AdministratorBrief,
    Deactivation,
    Location,
    RoomCreate,
    RoomOut,
    RoomPage,
    RoomQuery,
    RoomUpdate,
    check_standards,
)
from server.staff import repo as staff_repo
from server.staff.roles import Actor, Role
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps


def to_out(doc: dict[str, Any], deps: Deps, admins: list[dict[str, Any]] | None = None) -> RoomOut:
    lng, lat = doc["location"]["coordinates"]
    return RoomOut(
        code=doc["code"],
        name=doc["name"],
        kind=doc["kind"],
        town=doc["town"],
        village=doc["village"],
        address=doc.get("address", ""),
        location=Location(lat=lat, lng=lng),
        area_m2=doc["area_m2"],
        seats=doc["seats"],
        opening_hours=doc["opening_hours"],
        phone=doc.get("phone"),
        established_year=doc.get("established_year"),
        residents=doc.get("residents"),
        status=doc["status"],
        deactivated_reason=doc.get("deactivated_reason"),
        demo=doc.get("demo", False),
        standards=check_standards(doc["opening_hours"], doc["area_m2"], deps.settings.district.standards),
        administrators=[_admin_brief(a, deps) for a in admins or [] if doc["code"] in a.get("rooms", [])],
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
    )


def _admin_brief(doc: dict[str, Any], deps: Deps) -> AdministratorBrief:
    from server.staff.service import PHONE_CONTEXT  # staff imports rooms; keep the cycle local

    phone = doc.get("phone_enc")
    return AdministratorBrief(
        id=str(doc["_id"]),
        username=doc["username"],
        name=doc["name"],
        phone=mask_phone(deps.cipher.decrypt(phone, context=PHONE_CONTEXT)) if phone else None,
    )


def _geo(location: Location) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [location.lng, location.lat]}


def _check_location(deps: Deps, location: Location) -> None:
    bbox = deps.settings.district.bbox
    if not bbox.contains(location.lat, location.lng):
        raise InvalidInput(
            f"坐标不在{deps.settings.district.name}范围内", code="outside_district",
            errors=[FieldProblem(("body", "location"),
                                 f"纬度应在 {bbox.min_lat}–{bbox.max_lat}，经度应在 {bbox.min_lng}–{bbox.max_lng}")],
        )


def room_document(deps: Deps, data: RoomCreate, *, demo: bool = False) -> dict[str, Any]:
    """Validate a new room against the district and build its stored document."""
    district = deps.settings.district
    town = district.town(data.town)
    if town is None:
        raise InvalidInput(
            f"{data.town} 不是{district.name}的镇街", code="unknown_town",
            errors=[FieldProblem(("body", "town"), "应为：" + "、".join(t.name for t in district.towns))],
        )
    if not re.fullmatch(rf"{district.code}-{town.code}-\d{{3}}", data.code):
        raise InvalidInput(
            "书屋编号与所在镇街不符", code="code_town_mismatch",
            errors=[FieldProblem(("body", "code"), f"{town.name}的书屋编号应为 {district.code}-{town.code}-三位数字")],
        )
    _check_location(deps, data.location)
    now = db_now()
    doc = data.model_dump(exclude={"location"})
    doc.update(location=_geo(data.location), status="active", demo=demo, created_at=now, updated_at=now)
    return doc


async def create_room(deps: Deps, actor: Actor, data: RoomCreate) -> RoomOut:
    """Register a room. Raises InvalidInput (town, code, location), Conflict (code taken)."""
    doc = room_document(deps, data)

    async def work(session: Any) -> None:
        doc.pop("_id", None)
        await repo.insert(deps.db, doc, session=session)
        await audit.record(deps.db, actor, "room.create", target_type="room", target_id=data.code,
                           room=data.code, changes={"name": data.name, "kind": data.kind, "town": data.town},
                           session=session)

    try:
        await in_transaction(deps.mongo, work)
    except DuplicateKeyError:
        raise Conflict(f"书屋编号 {data.code} 已存在", code="room_code_taken",
                       errors=[FieldProblem(("body", "code"), "编号已存在")]) from None
    return to_out(doc, deps)


async def authorize_room(deps: Deps, actor: Actor, code: str) -> dict[str, Any]:
    """The room ``code`` if ``actor`` may act on it; NotFound or Forbidden otherwise."""
    doc = await repo.by_code(deps.db, code)
    if doc is None:
        raise NotFound(f"没有编号为 {code} 的书屋", code="room_not_found")
    if not actor.can_access_room(doc["code"], doc["town"]):
        raise Forbidden("这个书屋不在您的负责范围内", code="room_out_of_scope")
    return doc


async def get_room(deps: Deps, actor: Actor, code: str) -> RoomOut:
    doc = await authorize_room(deps, actor, code)
    admins = await staff_repo.administrators_of(deps.db, [code])
    return to_out(doc, deps, admins)


async def list_rooms(deps: Deps, actor: Actor, query: RoomQuery) -> RoomPage:
    """Rooms in the actor's scope matching the filters, by code, one page at a time."""
    flt = repo.list_filter(scope=actor.room_filter(), town=query.town, kind=query.kind,
                           status=query.status, q=query.q)
    after = str(decode_cursor(query.cursor, arity=1)[0]) if query.cursor else None
    docs = await repo.page(deps.db, flt, after=after, limit=query.limit + 1)
    docs, next_cursor = split_page(docs, query.limit, lambda d: [d["code"]])
    admins = await staff_repo.administrators_of(deps.db, [d["code"] for d in docs]) if docs else []
    return RoomPage(
        items=[to_out(d, deps, admins) for d in docs],
        next_cursor=next_cursor,
        total=await repo.count(deps.db, flt),
    )


async def update_room(deps: Deps, actor: Actor, code: str, data: RoomUpdate) -> RoomOut:
    """Change a room's details. A room administrator may change only ROOM_ADMIN_EDITABLE fields."""
    current = await authorize_room(deps, actor, code)
    given = data.model_dump(exclude_unset=True)
    refused = sorted(set(given) - ROOM_ADMIN_EDITABLE) if actor.role is Role.ROOM_ADMIN else []
    if refused:
        raise Forbidden("这些信息由区馆维护：" + "、".join(refused), code="field_not_editable",
                        errors=[FieldProblem(("body", f), "无权修改") for f in refused])
    changes: dict[str, Any] = {}
    before: dict[str, Any] = {}
    for name, value in given.items():
        if value is None and name in {"name", "kind", "village", "location", "area_m2", "seats", "opening_hours"}:
            raise InvalidInput("必填信息不能清空", code="required_field",
                               errors=[FieldProblem(("body", name), "不能为空")])
        if name == "location":
            loc = Location.model_validate(value)
            _check_location(deps, loc)
            value = _geo(loc)
        if current.get(name) != value:
            changes[name] = value
            before[name] = current.get(name)
    if not changes:
        return to_out(current, deps, await staff_repo.administrators_of(deps.db, [code]))
    changes["updated_at"] = datetime.now(UTC)

    async def work(session: Any) -> dict[str, Any] | None:
        doc = await repo.update(deps.db, code, changes, session=session)
        await audit.record(deps.db, actor, "room.update", target_type="room", target_id=code, room=code,
                           changes={k: {"from": before[k], "to": changes[k]} for k in before}, session=session)
        return doc

    doc = await in_transaction(deps.mongo, work)
    assert doc is not None
    return to_out(doc, deps, await staff_repo.administrators_of(deps.db, [code]))


async def set_room_status(deps: Deps, actor: Actor, code: str, *, active: bool,
                          body: Deactivation | None = None) -> RoomOut:
    """Deactivate (with a reason) or reactivate a room; its history stays. RuleViolation if unchanged."""
    current = await authorize_room(deps, actor, code)
    target = "active" if active else "inactive"
    if current["status"] == target:
        raise RuleViolation("书屋已经是启用状态" if active else "书屋已经停用", code="status_unchanged")
    now = datetime.now(UTC)
    changes: dict[str, Any] = {"status": target, "updated_at": now}
    if not active:
        assert body is not None
        changes.update(deactivated_reason=body.reason, deactivated_at=now, deactivated_by=actor.username)

    async def work(session: Any) -> dict[str, Any] | None:
        doc = await repo.update(deps.db, code, changes, session=session,
                                unset=["deactivated_reason", "deactivated_at", "deactivated_by"] if active else None)
        await audit.record(deps.db, actor, "room.activate" if active else "room.deactivate", target_type="room",
                           target_id=code, room=code, changes={"reason": body.reason} if body else {},
                           session=session)
        return doc

    doc = await in_transaction(deps.mongo, work)
    assert doc is not None
    return to_out(doc, deps, await staff_repo.administrators_of(deps.db, [code]))
