"""Staff accounts and log-in: the rules.

Every write runs in one transaction with its audit entry. Passwords are argon2
hashes, computed off the event loop.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from server import sessions
from server.audit import repo as audit
from server.crypto import mask_phone
from server.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
)
from server.ids import parse_object_id
from server.pagination import decode_cursor, split_page
from server.rooms import repo as rooms_repo
from server.staff import lockout
from server.staff import repo as staff_repo
from server.staff.models import (
    StaffCreate,
    StaffOut,
    StaffPage,
    StaffQuery,
    StaffUpdate,
    check_scope,
)
from server.staff.roles import ROLE_LABELS, Actor, Role
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from server.resources import Deps

_hasher = PasswordHasher()
PHONE_CONTEXT = "staff.phone"
# Used for the system itself (create-admin, seed-demo) in audit entries.
SYSTEM = Actor(staff_id="system", username="system", name="系统", role=Role.DISTRICT_ADMIN)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


_DUMMY_HASH: list[str] = []


async def _dummy_hash() -> str:
    if not _DUMMY_HASH:
        _DUMMY_HASH.append(await hash_password("not-a-real-password"))
    return _DUMMY_HASH[0]


async def _verify_password(hashed: str, password: str) -> bool:
    def _verify() -> bool:
        try:
            return _hasher.verify(hashed, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(_verify)


def to_out(doc: dict[str, Any], deps: Deps) -> StaffOut:
    phone = doc.get("phone_enc")
    return StaffOut(
        id=str(doc["_id"]),
        username=doc["username"],
        name=doc["name"],
        role=doc["role"],
        role_label=ROLE_LABELS[Role(doc["role"])],
        rooms=doc.get("rooms", []),
        towns=doc.get("towns", []),
        phone=mask_phone(deps.cipher.decrypt(phone, context=PHONE_CONTEXT)) if phone else None,
        active=doc.get("active", True),
        created_at=doc["created_at"],
    )


def actor_for(doc: dict[str, Any], *, request_id: str = "", ip: str = "") -> Actor:
    return Actor(
        staff_id=str(doc["_id"]),
        username=doc["username"],
        name=doc["name"],
        role=Role(doc["role"]),
        rooms=frozenset(doc.get("rooms", [])),
        towns=frozenset(doc.get("towns", [])),
        request_id=request_id,
        ip=ip,
    )


async def _check_scope_exists(deps: Deps, rooms: list[str] | None, towns: list[str] | None) -> None:
    problems = []
    if rooms:
        known = await rooms_repo.existing_codes(deps.db, rooms)
        problems += [FieldProblem(("body", "rooms", i), f"书屋 {c} 不存在") for i, c in enumerate(rooms) if c not in known]
    if towns:
        problems += [
            FieldProblem(("body", "towns", i), f"{t} 不是{deps.settings.district.name}的镇街")
            for i, t in enumerate(towns)
            if deps.settings.district.town(t) is None
        ]
    if problems:
        raise InvalidInput("负责范围有误", code="invalid_scope", errors=problems)


async def create_staff(deps: Deps, actor: Actor, data: StaffCreate) -> StaffOut:
    """Create an account. Raises InvalidInput (unknown room/town), Conflict (username taken)."""
    await _check_scope_exists(deps, data.rooms, data.towns)
    doc: dict[str, Any] = {
        "username": data.username.lower(),
        "name": data.name,
        "password_hash": await hash_password(data.password),
        "role": str(data.role),
        "rooms": sorted(set(data.rooms)),
        "towns": sorted(set(data.towns)),
        "active": True,
        "created_at": db_now(),
        "created_by": actor.username,
    }
    if data.phone:
        doc["phone_enc"] = deps.cipher.encrypt(data.phone, context=PHONE_CONTEXT)

    async def work(session: Any) -> None:
        doc.pop("_id", None)
        staff_id = await staff_repo.insert(deps.db, doc, session=session)
        await audit.record(
            deps.db, actor, "staff.create", target_type="staff", target_id=str(staff_id),
            changes={"username": doc["username"], "role": doc["role"], "rooms": doc["rooms"], "towns": doc["towns"]},
            session=session,
        )

    try:
        await in_transaction(deps.mongo, work)
    except DuplicateKeyError:
        raise Conflict(
            f"用户名 {data.username} 已被使用", code="username_taken",
            errors=[FieldProblem(("body", "username"), "用户名已被使用")],
        ) from None
    return to_out(doc, deps)


async def get_staff(deps: Deps, actor: Actor, staff_id: str) -> StaffOut:
    oid = parse_object_id(staff_id, loc=("path", "staff_id"))
    doc = await staff_repo.by_id(deps.db, oid)
    if doc is None or not _visible(actor, doc):
        raise NotFound("没有这位工作人员", code="staff_not_found")
    return to_out(doc, deps)


def _visible(actor: Actor, doc: dict[str, Any]) -> bool:
    """District roles see everyone; others see themselves only."""
    return actor.role in {Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF} or str(doc["_id"]) == actor.staff_id


async def list_staff(deps: Deps, actor: Actor, query: StaffQuery) -> StaffPage:
    flt: dict[str, Any] = {}
    if query.role:
        flt["role"] = str(query.role)
    if query.room:
        flt["rooms"] = query.room
    if query.active is not None:
        flt["active"] = query.active
    after = decode_cursor(query.cursor, arity=1)[0] if query.cursor else None
    docs = await staff_repo.page(deps.db, flt, after=after, limit=query.limit + 1)
    docs, next_cursor = split_page(docs, query.limit, lambda d: [d["username"]])
    return StaffPage(items=[to_out(d, deps) for d in docs], next_cursor=next_cursor)


# StaffUpdate fields where an explicit null would store a broken account (phone null clears the number).
_NOT_NULLABLE = frozenset({"name", "role", "rooms", "towns", "active", "password"})


async def update_staff(deps: Deps, actor: Actor, staff_id: str, data: StaffUpdate) -> StaffOut:
    """Change an account. Ending someone's access (deactivate, new password) ends their sessions."""
    oid = parse_object_id(staff_id, loc=("path", "staff_id"))
    current = await staff_repo.by_id(deps.db, oid)
    if current is None:
        raise NotFound("没有这位工作人员", code="staff_not_found")
    given = data.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in given.items() if v is None and k in _NOT_NULLABLE)
    if nulls:
        raise InvalidInput("必填信息不能清空", code="required_field",
                           errors=[FieldProblem(("body", k), "不能为空") for k in nulls])
    if str(oid) == actor.staff_id and ({"role", "active"} & given.keys()):
        raise Forbidden("不能修改自己的角色或停用自己的账号", code="self_demotion")
    role = Role(given.get("role", current["role"]))
    rooms = given.get("rooms", current.get("rooms", []) if "role" not in given else [])
    towns = given.get("towns", current.get("towns", []) if "role" not in given else [])
    try:
        check_scope(role, rooms, towns)
    except ValueError as exc:
        raise InvalidInput(str(exc), code="invalid_scope", errors=[FieldProblem(("body", "role"), str(exc))]) from None
    await _check_scope_exists(deps, rooms, towns)
    changes: dict[str, Any] = {"role": str(role), "rooms": sorted(set(rooms)), "towns": sorted(set(towns))}
    if "name" in given:
        changes["name"] = given["name"]
    if "active" in given:
        changes["active"] = given["active"]
    if "phone" in given:  # null clears the number
        changes["phone_enc"] = deps.cipher.encrypt(given["phone"], context=PHONE_CONTEXT) if given["phone"] else None
    if given.get("password"):
        changes["password_hash"] = await hash_password(given["password"])
    changes["updated_at"] = datetime.now(UTC)
    logged = {k: v for k, v in changes.items()
              if k not in {"password_hash", "phone_enc", "updated_at"} and current.get(k) != v}
    if "phone_enc" in changes:
        logged["phone"] = "已修改" if changes["phone_enc"] else "已清除"
    if "password_hash" in changes:
        logged["password"] = "已重置"

    async def work(session: Any) -> dict[str, Any] | None:
        doc = await staff_repo.update(deps.db, oid, changes, session=session)
        await audit.record(deps.db, actor, "staff.update", target_type="staff", target_id=str(oid),
                           changes=logged, session=session)
        return doc

    doc = await in_transaction(deps.mongo, work)
    assert doc is not None
    if changes.get("active") is False or "password_hash" in changes:
        await sessions.revoke_all(deps.redis, str(oid))
    return to_out(doc, deps)


async def authenticate(deps: Deps, username: str, password: str) -> dict[str, Any]:
    """The active account matching ``username``/``password``.

    Raises TooManyAttempts while locked out, NotAuthenticated otherwise (the
    same message whether the name or the password was wrong).
    """
    settings = deps.settings
    await lockout.check(deps.redis, username, max_failures=settings.login_max_failures)
    doc = await staff_repo.by_username(deps.db, username)
    # Verify against a real hash even for unknown or inactive names, so the answer
    # takes the same time and does not reveal which usernames exist.
    hashed = doc["password_hash"] if doc is not None else await _dummy_hash()
    verified = await _verify_password(hashed, password)
    ok = doc is not None and doc.get("active", True) and verified
    if not ok or doc is None:
        failures = await lockout.record_failure(deps.redis, username, lockout_secs=settings.login_lockout_secs)
        left = settings.login_max_failures - failures
        hint = f"，再错 {left} 次将锁定账号" if 0 < left <= 2 else ""
        if left <= 0:
            await lockout.check(deps.redis, username, max_failures=settings.login_max_failures)
        raise NotAuthenticated(f"用户名或密码错误{hint}", code="bad_credentials")
    await lockout.clear(deps.redis, username)
    return doc


async def change_own_password(deps: Deps, actor: Actor, current_password: str, new_password: str) -> None:
    doc = await staff_repo.by_id(deps.db, ObjectId(actor.staff_id))
    if doc is None or not await _verify_password(doc["password_hash"], current_password):
        raise InvalidInput("当前密码不正确", code="bad_password",
                           errors=[FieldProblem(("body", "current_password"), "当前密码不正确")])
    await update_staff_password(deps, actor, doc["_id"], new_password)


async def update_staff_password(deps: Deps, actor: Actor, oid: ObjectId, new_password: str) -> None:
    hashed = await hash_password(new_password)

    async def work(session: Any) -> None:
        await staff_repo.update(deps.db, oid, {"password_hash": hashed, "updated_at": datetime.now(UTC)}, session=session)
        await audit.record(deps.db, actor, "staff.password", target_type="staff", target_id=str(oid), session=session)

    await in_transaction(deps.mongo, work)
    await sessions.revoke_all(deps.redis, str(oid))


async def staff_for_token(deps: Deps, token: str) -> dict[str, Any] | None:
    """The active account behind a session token, or None."""
    staff_id = await sessions.resolve(deps.redis, token)
    if staff_id is None or not ObjectId.is_valid(staff_id):
        return None
    doc = await staff_repo.by_id(deps.db, ObjectId(staff_id))
    if doc is None or not doc.get("active", True):
        return None
    return doc
