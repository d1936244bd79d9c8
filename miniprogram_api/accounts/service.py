"""Mini-program accounts: log-in with a wx.login code, the family an account speaks for,
children with a guardian's consent, library cards, and the account holder's PIPL rights.

Rules:
- one account per openid; our own opaque token (Redis, revocable), never the
  session_key, which is dropped as soon as code2Session answers;
- the account holder is 14 or older; a child (under 14) exists only as a member of a
  guardian's account with a consent record (version, time, channel);
- a phone number is asked for only when a library card is requested (WeChat charges
  per number), and then a desk card with that number is linked instead of a second one;
- withdrawing a child's consent stops all new records at once and erases the child's
  data after the retention period; deleting the account erases everything now.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from miniprogram_api.accounts import repo
from miniprogram_api.accounts.models import (
    CHILD_RULES_VERSION,
    CONSENT_CHANNEL_MINIPROGRAM,
    AccountOut,
    CardIn,
    CardOut,
    ChildIn,
    ChildRules,
    ConsentOut,
    MemberOut,
    MemberUpdate,
    ProfileIn,
    RoomBrief,
    RoomList,
    RoomQuery,
    RulesSection,
    SessionOut,
    WithdrawIn,
)
from miniprogram_api.accounts.principal import Principal, require_member
from miniprogram_api.wechat import WeChatError
from server import idempotency, ratelimit, sessions
from server.crypto import mask_phone
from server.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    RuleViolation,
    ServiceUnavailable,
    TooManyAttempts,
)
from server.geo import coordinates, distance_km
from server.readers import repo as readers_repo
from server.readers import service as readers
from server.readers.models import is_child
from server.rooms import repo as rooms_repo
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

log = logging.getLogger("shuwu.mp.accounts")

# How long a withdrawn child's data is kept before it is erased (time for a
# guardian who withdrew by mistake to come back, and for open loans to be returned).
CHILD_ERASE_DAYS = 30
SELF_MIN_AGE = 14


# -- WeChat errors as our errors ---------------------------------------------------------


def wechat_problem(exc: WeChatError, *, field: tuple[str, ...]) -> Exception:
    """What a WeChat refusal means to the mini-program user."""
    if exc.errcode == 40029:
        return InvalidInput("登录凭证已失效，请重新打开小程序", code="invalid_code",
                            errors=[FieldProblem(field, "凭证无效或已使用（每个凭证只能用一次）")])
    if exc.errcode == 40226:
        return Forbidden("该微信账号已被限制使用，请联系书屋管理员", code="wechat_user_blocked")
    if exc.errcode in {45011, 45009}:
        return TooManyAttempts("访问太频繁了，请稍后再试", code="wechat_rate_limited", retry_after_secs=60)
    if exc.transient:
        return ServiceUnavailable("微信服务繁忙，请稍后再试", code="wechat_busy", retry_after_secs=5)
    log.warning("wechat refused: errcode %s", exc.errcode)
    return ServiceUnavailable("微信服务暂时无法完成请求，请稍后再试", code="wechat_error", retry_after_secs=30)


# -- log-in ------------------------------------------------------------------------------


async def login(deps: Deps, code: str, *, ip: str) -> SessionOut:
    """Exchange a wx.login code for our session token. The code is sent to WeChat once:
    a failed exchange is reported, never retried with the same code."""
    await ratelimit.hit(deps.redis, f"mp-login:{ip}", limit=deps.settings.mp_login_per_minute,
                        message="登录太频繁了，请一分钟后再试")
    try:
        wx = await deps.wechat.code2session(code)
    except WeChatError as exc:
        raise wechat_problem(exc, field=("body", "code")) from None
    now = db_now()
    account, created = await repo.upsert_account(deps.db, wx.openid, wx.unionid, now)
    token, expires = await sessions.issue(deps.redis, str(account["_id"]), kind="mp",
                                          ttl_secs=deps.settings.mp_session_ttl_secs, namespace="reader")
    return SessionOut(token=token, expires_at=expires, new_account=created,
                      account=await _account_out(deps, account))


async def logout(deps: Deps, token: str) -> None:
    await sessions.revoke(deps.redis, token, namespace="reader")


async def principal_for_token(deps: Deps, token: str, *, request_id: str = "", ip: str = "") -> Principal | None:
    account_id = await sessions.resolve(deps.redis, token, namespace="reader")
    if account_id is None or not ObjectId.is_valid(account_id):
        return None
    account = await repo.account_by_id(deps.db, ObjectId(account_id))
    if account is None:  # deleted meanwhile
        return None
    return Principal(account_id=account["_id"], openid=account["openid"], request_id=request_id, ip=ip)


async def check_write_rate(deps: Deps, principal: Principal) -> None:
    await ratelimit.hit(deps.redis, f"mp-write:{principal.account_id}", limit=deps.settings.mp_writes_per_minute)


# -- views ---------------------------------------------------------------------------------


def member_out(doc: dict[str, Any], *, card_no: str | None = None, room_name: str | None = None,
               today: date | None = None) -> MemberOut:
    birth_date = date.fromisoformat(doc["birth_date"]) if doc.get("birth_date") else None
    consent = doc.get("consent")
    return MemberOut(
        id=str(doc["_id"]), relation=doc["relation"], name=doc["name"], birth_year=doc["birth_year"],
        birth_date=birth_date, child=is_child(doc["birth_year"], birth_date, today or readers.local_today()),
        home_room=doc["home_room"], home_room_name=room_name, school=doc.get("school"),
        class_name=doc.get("class_name"), guardian_relation=doc.get("guardian_relation"),
        consent=ConsentOut(**{k: consent.get(k) for k in ("version", "signed_at", "channel", "withdrawn_at")})
        if consent else None,
        card_no=card_no, public_board=doc.get("public_board", True), history_enabled=doc.get("history_enabled", True),
        status=doc.get("status", "active"), erase_after=doc.get("erase_after"),
    )


async def members_out(deps: Deps, docs: list[dict[str, Any]]) -> list[MemberOut]:
    """Members with their card numbers and room names: two queries, whatever the family size."""
    readers_by_id = await readers_repo.by_ids(deps.db, [d["reader_id"] for d in docs if d.get("reader_id")])
    codes = sorted({d["home_room"] for d in docs})
    rooms = {r["code"]: r["name"] for r in await deps.db[rooms_repo.COLLECTION].find(
        {"code": {"$in": codes}}, {"code": 1, "name": 1}).to_list()} if codes else {}
    today = readers.local_today()
    return [member_out(d, card_no=(readers_by_id.get(d["reader_id"]) or {}).get("card_no") if d.get("reader_id")
                       else None, room_name=rooms.get(d["home_room"]), today=today) for d in docs]


async def _account_out(deps: Deps, account: dict[str, Any]) -> AccountOut:
    members = await repo.members_of(deps.db, account["_id"])
    return AccountOut(id=str(account["_id"]), has_unionid=bool(account.get("unionid")),
                      created_at=account["created_at"], members=await members_out(deps, members))


async def get_account(deps: Deps, principal: Principal) -> AccountOut:
    account = await repo.account_by_id(deps.db, principal.account_id)
    if account is None:
        raise NotAuthenticated("账号已注销，请重新登录", code="not_authenticated")
    return await _account_out(deps, account)


async def _active_room(deps: Deps, code: str, loc: tuple[str, ...]) -> dict[str, Any]:
    room = await rooms_repo.by_code(deps.db, code)
    if room is None or room.get("status") != "active":
        raise InvalidInput(f"没有编号为 {code} 的书屋（或已停用）", code="unknown_room",
                           errors=[FieldProblem(loc, "书屋不存在或已停用")])
    return room


async def _one_member_out(deps: Deps, doc: dict[str, Any]) -> MemberOut:
    return (await members_out(deps, [doc]))[0]


# -- profile and family --------------------------------------------------------------------------


async def set_profile(deps: Deps, principal: Principal, data: ProfileIn) -> MemberOut:
    """Create or change the account holder's own profile. Under 14 is refused: a child is
    added by a guardian from the guardian's own WeChat."""
    today = readers.local_today()
    # Only the year is asked: someone born 14 years ago this year may be 13 or 14, and is let in.
    if today.year - data.birth_year < SELF_MIN_AGE:
        raise RuleViolation("未满 14 周岁的小读者请让爸爸妈妈用他们的微信添加你", code="guardian_required",
                            errors=[FieldProblem(("body", "birth_year"), "未满 14 周岁须由监护人添加")])
    if today.year - data.birth_year > 120 or data.birth_year > today.year:
        raise InvalidInput("出生年份不合理", code="invalid_birth", errors=[FieldProblem(("body", "birth_year"), "请核对")])
    room = await _active_room(deps, data.home_room, ("body", "home_room"))
    now = db_now()
    fields = {"name": data.name, "birth_year": data.birth_year, "home_room": room["code"], "home_town": room["town"],
              "school": data.school, "class_name": data.class_name, "updated_at": now}

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        members = await repo.members_of(deps.db, principal.account_id, session=session)
        own = next((m for m in members if m["relation"] == "self"), None)
        if own is not None:
            updated = await repo.update_member(deps.db, own["_id"], fields, session=session)
            assert updated is not None
            return updated
        doc = {**fields, "account_id": principal.account_id, "relation": "self", "birth_date": None,
               "public_board": True, "history_enabled": True, "status": "active", "reader_id": None,
               "consent": None, "created_at": now}
        doc["_id"] = await repo.insert_member(deps.db, doc, session=session)
        return doc

    return await _one_member_out(deps, await in_transaction(deps.mongo, work))


async def add_child(deps: Deps, principal: Principal, data: ChildIn) -> MemberOut:
    """A guardian adds a child under 14 with their consent (the current rules' version)."""
    if data.consent.version != CHILD_RULES_VERSION:
        raise RuleViolation("儿童个人信息保护规则已更新，请重新阅读后再同意", code="consent_version_outdated",
                            errors=[FieldProblem(("body", "consent", "version"), f"当前版本为 {CHILD_RULES_VERSION}")])
    today = readers.local_today()
    if data.birth_date is not None and data.birth_date.year != data.birth_year:
        raise InvalidInput("出生年份与出生日期不一致", code="invalid_birth",
                           errors=[FieldProblem(("body", "birth_date"), "与出生年份不一致")])
    if data.birth_year > today.year or (data.birth_date and data.birth_date > today):
        raise InvalidInput("出生日期不合理", code="invalid_birth", errors=[FieldProblem(("body", "birth_year"), "请核对")])
    if not is_child(data.birth_year, data.birth_date, today):
        raise RuleViolation("年满 14 周岁的读者请用自己的微信登录", code="not_a_child",
                            errors=[FieldProblem(("body", "birth_year"), "家庭成员中只能添加未满 14 周岁的孩子")])
    room = await _active_room(deps, data.home_room, ("body", "home_room"))

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        members = await repo.members_of(deps.db, principal.account_id, session=session)
        if not any(m["relation"] == "self" for m in members):
            raise RuleViolation("请先填写您（监护人）本人的信息", code="guardian_profile_required")
        if sum(1 for m in members if m["relation"] == "child" and m.get("status") == "active") >= 8:
            raise RuleViolation("一个账号最多添加 8 位孩子", code="too_many_children")
        doc = {"account_id": principal.account_id, "relation": "child", "name": data.name,
               "birth_year": data.birth_year, "birth_date": data.birth_date.isoformat() if data.birth_date else None,
               "home_room": room["code"], "home_town": room["town"], "school": data.school,
               "class_name": data.class_name, "guardian_relation": data.relation,
               "consent": {"version": data.consent.version, "signed_at": now, "channel": CONSENT_CHANNEL_MINIPROGRAM,
                           "withdrawn_at": None},
               "public_board": True, "history_enabled": True, "status": "active", "reader_id": None,
               "created_at": now, "updated_at": now}
        doc["_id"] = await repo.insert_member(deps.db, doc, session=session)
        return {"member_id": str(doc["_id"])}

    result, _ = await idempotency.run_once(deps.db, deps.mongo, op_id=principal.op_key(data.op_id), kind="mp_child",
                                           room=room["code"], actor=f"mp:{principal.account_id}", work=work)
    doc = await repo.member_by_id(deps.db, ObjectId(result["member_id"]))
    if doc is None:  # erased since (consent withdrawn and the retention period passed)
        raise Conflict("这个操作添加的孩子信息已被删除", code="member_erased")
    return await _one_member_out(deps, doc)


async def update_member(deps: Deps, principal: Principal, member_id: str, data: MemberUpdate) -> MemberOut:
    current = await require_member(deps, principal, member_id)
    given = data.model_dump(exclude_unset=True)
    for name in ("name", "public_board", "history_enabled", "home_room"):
        if name in given and given[name] is None:
            raise InvalidInput("必填信息不能清空", code="required_field", errors=[FieldProblem(("body", name), "不能为空")])
    changes: dict[str, Any] = {k: v for k, v in given.items() if k != "home_room"}
    if given.get("home_room") and given["home_room"] != current["home_room"]:
        room = await _active_room(deps, given["home_room"], ("body", "home_room"))
        changes.update(home_room=room["code"], home_town=room["town"])
    if not changes:
        return await _one_member_out(deps, current)
    changes["updated_at"] = db_now()
    doc = await repo.update_member(deps.db, current["_id"], changes)
    assert doc is not None
    if "public_board" in changes or "name" in changes or "home_room" in changes:
        await _board_changed(deps, doc)
    if changes.get("history_enabled") is False and doc.get("reader_id"):
        from miniprogram_api.books import service as books

        await books.forget_history(deps, doc)  # "off" means the past too, not only the future
    return await _one_member_out(deps, doc)


async def _board_changed(deps: Deps, member: dict[str, Any]) -> None:
    """Leaderboards cache who is shown; tell them (opt-out hides a child at once)."""
    from miniprogram_api.challenges import service as challenges

    await challenges.member_visibility_changed(deps, member)


async def withdraw_consent(deps: Deps, principal: Principal, member_id: str, data: WithdrawIn) -> MemberOut:
    """The guardian withdraws consent for a child: nothing new is recorded from now on, the
    child leaves every public board and their library card is suspended; the data is erased
    ``CHILD_ERASE_DAYS`` later (a deletion the guardian may also ask for at once by
    deleting the child)."""
    current = await require_member(deps, principal, member_id, active=False)
    if current["relation"] != "child":
        raise RuleViolation("只能为孩子撤回监护人同意；注销本人账号请使用“注销账号”", code="not_a_child")
    if current.get("status") == "withdrawn":
        return await _one_member_out(deps, current)
    now = db_now()

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        doc = await repo.update_member(deps.db, current["_id"], {
            "status": "withdrawn", "consent.withdrawn_at": now, "consent.withdraw_reason": data.reason,
            "public_board": False, "erase_after": now + timedelta(days=CHILD_ERASE_DAYS), "updated_at": now,
        }, session=session)
        assert doc is not None
        if current.get("reader_id"):
            await readers_repo.update(deps.db, current["reader_id"], {
                "blocked": {"reason": "监护人已撤回同意", "at": now, "by": f"mp:{principal.account_id}"},
                "updated_at": now}, session=session)
        return doc

    doc = await in_transaction(deps.mongo, work)
    await _board_changed(deps, doc)
    return await _one_member_out(deps, doc)


def child_rules() -> ChildRules:
    return ChildRules(
        version=CHILD_RULES_VERSION,
        title="儿童个人信息保护规则",
        sections=[RulesSection(heading=h, text=t) for h, t in (
            ("我们收集什么", "孩子的姓名、出生年份（或日期）、所在书屋、学校和班级，以及孩子的借阅、阅读打卡、书评和参赛作品。"),
            ("为什么收集", "用于办理借阅证、借书还书、参加暑期阅读活动和“我的书屋·我的梦”征文等活动，不用于其他目的。"),
            ("谁能看到", "您和孩子所在书屋的管理员。排行榜上只显示打码后的姓名（如“张**”），您可以随时让孩子不上榜。"),
            ("保存多久", f"借阅记录按规定期限匿名化；撤回同意后，孩子的信息在 {CHILD_ERASE_DAYS} 天内删除。"),
            ("怎样撤回", "在“家庭”页面选择孩子，点“撤回同意”。撤回后不再记录孩子的任何新信息。"),
            ("不同意会怎样", "不同意就不会添加孩子的信息，您本人的使用不受影响。"),
            ("联系我们", "如有疑问或投诉，请联系津南区图书馆儿童个人信息保护负责人。"),
        )],
        retention_days=CHILD_ERASE_DAYS,
        contact="津南区图书馆 儿童个人信息保护负责人（电话见馆内公示）",
    )


# -- library cards ----------------------------------------------------------------------------


async def issue_card(deps: Deps, principal: Principal, member_id: str, data: CardIn) -> CardOut:
    """A library card for a member, with the phone number WeChat confirms (the guardian's
    for a child). A desk card already registered with that number (and, for a child, the
    same name) is linked rather than duplicated."""
    member = await require_member(deps, principal, member_id)
    if member.get("reader_id"):
        reader = await readers_repo.by_id(deps.db, member["reader_id"])
        if reader is not None:
            phone = _reader_phone(deps, reader)
            return CardOut(member_id=member_id, card_no=reader["card_no"], qr_text=reader["card_no"],
                           linked_existing=False, phone=mask_phone(phone) if phone else "")
    members = await repo.members_of(deps.db, principal.account_id)
    own = next((m for m in members if m["relation"] == "self"), None)
    if member["relation"] == "child" and own is None:
        raise RuleViolation("请先填写您（监护人）本人的信息", code="guardian_profile_required")
    try:
        phone = await deps.wechat.phone_number(data.phone_code)
    except WeChatError as exc:
        raise wechat_problem(exc, field=("body", "phone_code")) from None
    key = readers.phone_key(deps, phone)
    room = await _active_room(deps, member["home_room"], ("body", "home_room"))
    birth_date = date.fromisoformat(member["birth_date"]) if member.get("birth_date") else None

    async def work(session: AsyncClientSession) -> tuple[dict[str, Any], bool]:
        now = db_now()
        fresh = await repo.member_by_id(deps.db, member["_id"], session=session)
        if fresh is None or fresh.get("reader_id"):
            raise Conflict("这位成员已经有借阅证了，请刷新", code="card_exists")
        candidates = await deps.db[readers_repo.COLLECTION].find(
            {"lookup_keys": key}, session=session).to_list()
        taken = {m["reader_id"] for m in await deps.db[repo.MEMBERS].find(
            {"reader_id": {"$in": [c["_id"] for c in candidates]}}, {"reader_id": 1}, session=session).to_list()}
        match = None
        for c in candidates:
            if c["_id"] in taken:
                continue
            if member["relation"] == "self" and c.get("phone_key") == key:
                match = c
            elif member["relation"] == "child" and c["name"] == member["name"] and \
                    c["birth_year"] == member["birth_year"]:
                match = c
            if match:
                break
        if match is not None:
            reader = match
        else:
            guardian = None
            consent = None
            if member["relation"] == "child":
                assert own is not None
                guardian = readers.guardian_document(deps, name=own["name"], phone=phone,
                                                     relation=member.get("guardian_relation") or "其他监护人")
                c = member["consent"]
                consent = {"version": c["version"], "signed_at": c["signed_at"], "recorded_at": now,
                           "channel": CONSENT_CHANNEL_MINIPROGRAM, "recorded_by": f"mp:{principal.account_id}",
                           "recorded_by_id": str(principal.account_id), "room": room["code"]}
            doc = readers.new_reader_document(
                deps, name=member["name"], birth_year=member["birth_year"], birth_date=birth_date, room=room,
                phone=phone if member["relation"] == "self" else None, guardian=guardian, consent=consent,
                created_by=f"mp:{principal.account_id}", now=now)
            doc["source"] = "miniprogram"
            reader = await readers.insert_reader(deps, session, doc)
        await repo.update_member(deps.db, member["_id"], {"reader_id": reader["_id"], "updated_at": now},
                                 session=session)
        return reader, match is not None

    linked_reader: tuple[dict[str, Any], bool] = await in_transaction(deps.mongo, work)
    reader, linked = linked_reader
    return CardOut(member_id=member_id, card_no=reader["card_no"], qr_text=reader["card_no"], linked_existing=linked,
                   phone=mask_phone(phone))


def _reader_phone(deps: Deps, reader: dict[str, Any]) -> str | None:
    enc = reader.get("phone_enc") or (reader.get("guardian") or {}).get("phone_enc")
    return deps.cipher.decrypt(enc, context=readers.PHONE_CONTEXT) if enc else None


# -- rooms to choose from ------------------------------------------------------------------------


def room_brief(deps: Deps, doc: dict[str, Any], *, near: tuple[float, float] | None = None) -> RoomBrief:
    point = coordinates(doc)
    lng, lat = point if point else (None, None)
    town = deps.settings.district.town(doc["town"])
    return RoomBrief(code=doc["code"], name=doc["name"], kind=doc["kind"], town=doc["town"],
                     town_name=town.name if town else doc["town"], village=doc.get("village"),
                     address=doc.get("address") or None, lat=lat, lng=lng,
                     distance_km=round(distance_km((near[1], near[0]), point), 2) if near and point else None)


async def list_rooms(deps: Deps, query: RoomQuery) -> RoomList:
    """Active rooms to choose from: by town, by part of the name, nearest first with lat/lng."""
    if (query.lat is None) != (query.lng is None):
        raise InvalidInput("经纬度须同时提供", code="validation_failed",
                           errors=[FieldProblem(("query", "lat" if query.lat is None else "lng"), "须与另一项同时提供")])
    flt: dict[str, Any] = {"status": "active"}
    if query.town:
        flt["town"] = query.town
    docs = await deps.db[rooms_repo.COLLECTION].find(flt).to_list()
    if query.q:
        docs = [d for d in docs if query.q in d["name"] or query.q in (d.get("village") or "")]
    near = (query.lat, query.lng) if query.lat is not None and query.lng is not None else None
    items = [room_brief(deps, d, near=near) for d in docs]
    items.sort(key=lambda r: (r.distance_km if r.distance_km is not None else 0.0, r.code))
    return RoomList(items=items[: query.limit])
