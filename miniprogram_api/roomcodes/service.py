"""Room mini-program codes, the landing page a scan opens, and check-ins.

A room's code (``getwxacodeunlimit``: page ``pages/rooms/choose``, scene = the room code,
e.g. "JN-XSG-017") is made once and stored; it is made again only when the mini-program
version it should open (``Settings.wxacode_env_version``) changes or district staff ask.
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.accounts.principal import Principal, require_member
from miniprogram_api.roomcodes import repo
from miniprogram_api.roomcodes.models import (
    NEW_TITLES_SHOWN,
    ROOM_PAGE,
    NewTitle,
    QrCodeOut,
    RegenerateIn,
    RoomLanding,
    VisitIn,
    VisitOut,
)
from miniprogram_api.wechat import WeChatError, validate_scene
from server import idempotency
from server.audit import repo as audit
from server.circulation.rules import local_date
from server.errors import NotFound, RuleViolation, ServiceUnavailable
from server.rooms import repo as rooms_repo
from server.rooms.service import authorize_room
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

log = logging.getLogger("shuwu.roomcodes")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
RECEIPTS_SCANNED = 200  # receive moves looked at to find the 10 latest distinct titles
VISIT_MARK_KEEP_DAYS = 2
RETRY_AFTER_SECS = 30


# -- codes ----------------------------------------------------------------------------------


async def _make_code(deps: Deps, room: str) -> dict[str, Any]:
    """Ask WeChat for the room's code image. ServiceUnavailable if WeChat cannot make it."""
    env_version = deps.settings.wxacode_env_version
    try:
        validate_scene(room)
        png = await deps.wechat.wxacode_unlimit(scene=room, page=ROOM_PAGE, env_version=env_version)
    except ValueError as exc:  # a room code WeChat would refuse as a scene (not one of ours)
        raise RuleViolation(f"书屋编号 {room} 不能用作小程序码参数", code="scene_invalid") from exc
    except WeChatError as exc:
        log.warning("wxacode for %s failed: %s", room, exc)
        raise ServiceUnavailable("微信暂时无法生成小程序码，请稍后再试", code="wechat_unavailable",
                                 retry_after_secs=RETRY_AFTER_SECS) from None
    if not png.startswith(PNG_MAGIC):
        raise ServiceUnavailable("微信返回的小程序码不是 PNG 图片，请稍后再试", code="wechat_unavailable",
                                 retry_after_secs=RETRY_AFTER_SECS)
    return {"_id": room, "room": room, "page": ROOM_PAGE, "env_version": env_version, "png": png,
            "sha256": hashlib.sha256(png).hexdigest(), "created_at": db_now()}


def _qr_out(doc: dict[str, Any]) -> QrCodeOut:
    return QrCodeOut(room=doc["room"], page=doc["page"], env_version=doc["env_version"], sha256=doc["sha256"],
                     size_bytes=len(doc["png"]), created_at=doc["created_at"])


async def ensure_code(deps: Deps, room: str) -> dict[str, Any]:
    """The stored code of ``room``, made first if missing or made for another env_version."""
    doc = await repo.qrcode(deps.db, room)
    if doc is not None and doc.get("env_version") == deps.settings.wxacode_env_version:
        return doc
    doc = await _make_code(deps, room)
    await repo.save_qrcode(deps.db, doc)
    return doc


async def qr_png(deps: Deps, actor: Actor, code: str) -> bytes:
    """The PNG of a room's code, for staff who may see the room (NotFound/Forbidden otherwise)."""
    room = await authorize_room(deps, actor, code)
    return bytes((await ensure_code(deps, room["code"]))["png"])


async def regenerate(deps: Deps, actor: Actor, code: str, data: RegenerateIn) -> QrCodeOut:
    """Make the room's code again and replace the stored one, audited with the reason."""
    room = await authorize_room(deps, actor, code)
    previous = await repo.qrcode(deps.db, room["code"])
    doc = await _make_code(deps, room["code"])

    async def work(session: AsyncClientSession) -> None:
        await repo.save_qrcode(deps.db, doc, session=session)
        await audit.record(deps.db, actor, "room.qrcode_regenerate", target_type="room", target_id=room["code"],
                           room=room["code"], session=session,
                           changes={"reason": data.reason, "env_version": doc["env_version"], "sha256": doc["sha256"],
                                    "previous_sha256": previous["sha256"] if previous else None})

    await in_transaction(deps.mongo, work)
    return _qr_out(doc)


async def ensure_all(deps: Deps) -> int:
    """Make the missing (or outdated) code of every active room; returns how many were made.
    A room WeChat refuses is logged and left for the next run."""
    rooms = [d["code"] for d in await deps.db[rooms_repo.COLLECTION].find({"status": "active"}, {"code": 1}
                                                                             ).sort("code", 1).to_list()]
    have = await repo.current_codes(deps.db, rooms, deps.settings.wxacode_env_version)
    made = 0
    for room in rooms:
        if room in have:
            continue
        try:
            await repo.save_qrcode(deps.db, await _make_code(deps, room))
        except (ServiceUnavailable, RuleViolation) as exc:
            log.warning("room code for %s not made: %s", room, exc)
            continue
        made += 1
    return made


# -- the landing page -----------------------------------------------------------------------


async def _room(deps: Deps, code: str) -> dict[str, Any]:
    room = await rooms_repo.by_code(deps.db, code)
    if room is None:
        raise NotFound("没有这个书屋", code="room_not_found")
    return room


def _today(now: datetime) -> str:
    return local_date(now).isoformat()


async def landing(deps: Deps, principal: Principal | None, code: str) -> RoomLanding:
    """The room a scanned code names: where and when it is open, what it received lately,
    today's check-ins and (for a logged-in reader) whether it is the family's home room."""
    room = await _room(deps, code)
    receipts = await repo.recent_receipts(deps.db, room["code"], limit=RECEIPTS_SCANNED)
    latest: dict[str, datetime] = {}
    for move in receipts:
        latest.setdefault(move["title_id"], move["at"])
        if len(latest) == NEW_TITLES_SHOWN:
            break
    titles = await repo.titles_brief(deps.db, list(latest))
    home = None
    if principal is not None:
        members = await accounts_repo.members_of(deps.db, principal.account_id)
        home = any(m.get("home_room") == room["code"] and m.get("status") == "active" for m in members)
    return RoomLanding(
        code=room["code"], name=room["name"], kind=room["kind"], town=room["town"], village=room.get("village", ""),
        address=room.get("address", ""), opening_hours=room.get("opening_hours", {}), phone=room.get("phone"),
        active=room.get("status") == "active",
        new_titles=[NewTitle(title_id=t, title=titles.get(t, {}).get("title") or t, author=titles.get(t, {}).get("author"),
                             received_at=at) for t, at in latest.items()],
        visits_today=await repo.visits_on(deps.db, room["code"], _today(db_now())),
        home_room=home,
    )


# -- check-ins ------------------------------------------------------------------------------


async def check_in(deps: Deps, principal: Principal, code: str, data: VisitIn) -> VisitOut:
    """Count a visit: one per account per room per local day; a second scan that day (or a
    replayed op_id) changes nothing. NotFound for an unknown room or another family's
    member; RuleViolation for a closed room."""
    room = await _room(deps, code)
    if room.get("status") != "active":
        raise RuleViolation(f"{room['name']}暂停开放，不能签到", code="room_inactive")
    member = await require_member(deps, principal, data.member_id, loc=("body", "member_id")) \
        if data.member_id else None

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        day = _today(now)
        counted, visits = await repo.count_visit(deps.db, session, room=room["code"], day=day,
                                                 account_id=principal.account_id,
                                                 member_id=member["_id"] if member else None, now=now)
        return {"room": room["code"], "day": day, "visits": visits, "counted": counted}

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=principal.op_key(data.op_id), kind="mp_room_visit", room=room["code"],
        actor=f"mp:{principal.account_id}", work=work)
    return VisitOut(**result, replayed=replayed)


async def purge_visit_marks(deps: Deps, now: datetime) -> int:
    """Forget who checked in where after ``VISIT_MARK_KEEP_DAYS`` (the nightly job)."""
    return await repo.purge_marks_before(deps.db, (local_date(now) - timedelta(days=VISIT_MARK_KEEP_DAYS)).isoformat())
