"""Readers at the desk: registration, lookup, changes, blocking.

Scope (one card across the district, 通借通还): any desk role (room administrator,
town coordinator, district staff) finds any reader by card number or full phone
number and may open that reader; browsing readers by name or room stays within
the caller's rooms (a town coordinator: their towns; district roles: everyone).
Changing a reader belongs to the reader's home-room scope; blocking to the district.

Phones and ID numbers are encrypted at rest and masked in every answer; audit
entries name the fields that changed, never their values.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from server import idempotency
from server.audit import repo as audit
from server.crypto import mask_name, mask_phone
from server.errors import Conflict, FieldProblem, Forbidden, InvalidInput, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_cursor, split_page
from server.readers import repo
from server.readers.models import (
    CONSENT_CHANNEL_DESK,
    BlockIn,
    ConsentIn,
    ConsentOut,
    GuardianIn,
    GuardianOut,
    OpenLoans,
    ReaderBrief,
    ReaderCreate,
    ReaderOut,
    ReaderPage,
    ReaderQuery,
    ReaderRegistered,
    ReaderUpdate,
    check_birth,
    id_number_birth_date,
    is_child,
    mask_id_number,
)
from server.rooms import repo as rooms_repo
from server.staff.roles import Actor, Role
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

PHONE_CONTEXT = "reader.phone"
ID_NUMBER_CONTEXT = "reader.id_number"
MAX_AGE_YEARS = 120
# A consent form may be typed in a little after it was signed, never before.
CONSENT_CLOCK_SKEW = timedelta(minutes=10)


def local_today() -> date:
    from server.circulation.rules import LOCAL_TZ  # the one definition of the district's clock

    return datetime.now(LOCAL_TZ).date()


# -- documents out ----------------------------------------------------------------


def reader_out(deps: Deps, doc: dict[str, Any], today: date | None = None) -> ReaderOut:
    """The API view of a stored reader: phone, guardian phone and ID number masked."""
    cipher = deps.cipher
    guardian = doc.get("guardian")
    consent = doc.get("consent")
    birth_date = date.fromisoformat(doc["birth_date"]) if doc.get("birth_date") else None
    blocked = doc.get("blocked")
    return ReaderOut(
        id=str(doc["_id"]),
        card_no=doc["card_no"],
        name=doc["name"],
        phone=mask_phone(cipher.decrypt(doc["phone_enc"], context=PHONE_CONTEXT)) if doc.get("phone_enc") else None,
        id_number=mask_id_number(cipher.decrypt(doc["id_enc"], context=ID_NUMBER_CONTEXT))
        if doc.get("id_enc") else None,
        birth_year=doc["birth_year"],
        birth_date=birth_date,
        child=is_child(doc["birth_year"], birth_date, today or local_today()),
        home_room=doc["home_room"],
        guardian=GuardianOut(
            name=guardian["name"], relation=guardian["relation"],
            phone=mask_phone(cipher.decrypt(guardian["phone_enc"], context=PHONE_CONTEXT)),
        ) if guardian else None,
        consent=ConsentOut(**consent) if consent else None,
        blocked=bool(blocked),
        blocked_reason=blocked["reason"] if blocked else None,
        open_loans=OpenLoans(**doc.get("open_loans", {})),
        created_at=doc["created_at"],
    )


def reader_brief(doc: dict[str, Any]) -> ReaderBrief:
    return ReaderBrief(id=str(doc["_id"]), card_no=doc["card_no"], name=mask_name(doc["name"]))


# -- lookups -------------------------------------------------------------------------


async def require_reader(deps: Deps, reader_id: str, *, loc: tuple[str, ...] = ("path", "reader_id")
                         ) -> dict[str, Any]:
    doc = await repo.by_id(deps.db, parse_object_id(reader_id, loc=loc))
    if doc is None:
        raise NotFound("没有这位读者", code="reader_not_found")
    return doc


async def reader_by_card(deps: Deps, card_no: str, *, loc: tuple[str, ...] = ("body", "card_no"),
                         session: AsyncClientSession | None = None) -> dict[str, Any]:
    """The reader holding ``card_no``; InvalidInput naming the field if no such card."""
    doc = await repo.by_card(deps.db, card_no, session=session)
    if doc is None:
        raise InvalidInput("没有这个借阅证号，请核对或先办理借阅证", code="unknown_card",
                           errors=[FieldProblem(loc, "借阅证号不存在")])
    return doc


def phone_key(deps: Deps, phone: str) -> str:
    return deps.cipher.blind_index(phone, context=PHONE_CONTEXT)


def _scope_filter(actor: Actor) -> dict[str, Any]:
    if actor.role in {Role.DISTRICT_ADMIN, Role.DISTRICT_STAFF}:
        return {}
    if actor.role is Role.TOWN_COORDINATOR:
        return {"home_town": {"$in": sorted(actor.towns)}}
    if actor.role is Role.ROOM_ADMIN:
        return {"home_room": {"$in": sorted(actor.rooms)}}
    return {"_id": None}  # nobody else browses readers


def _in_home_scope(actor: Actor, doc: dict[str, Any]) -> bool:
    if actor.role in {Role.INSPECTOR, Role.TRAINER}:
        return False
    return actor.can_access_room(doc["home_room"], doc.get("home_town", ""))


async def _room_for(deps: Deps, actor: Actor, code: str, loc: tuple[str, ...]) -> dict[str, Any]:
    """A room named in a body: 422 if unknown, 403 if outside the caller's scope, 422 if inactive."""
    room = await rooms_repo.by_code(deps.db, code)
    if room is None:
        raise InvalidInput(f"没有编号为 {code} 的书屋", code="unknown_room", errors=[FieldProblem(loc, "书屋不存在")])
    if not actor.can_access_room(room["code"], room["town"]):
        raise Forbidden("这个书屋不在您的负责范围内", code="room_out_of_scope")
    if room["status"] != "active":
        raise RuleViolation(f"{room['name']}已停用", code="room_inactive", errors=[FieldProblem(loc, "书屋已停用")])
    return room


# -- registration ------------------------------------------------------------------------


def _resolve_birth(birth_year: int | None, birth_date: date | None, id_number: str | None, today: date,
                   ) -> tuple[int, date | None]:
    if id_number is not None and birth_date is None:
        birth_date = id_number_birth_date(id_number)
    year = birth_date.year if birth_date is not None else birth_year
    assert year is not None  # the models require one of them
    if (birth_date or date(year, 1, 1)) > today or today.year - year > MAX_AGE_YEARS:
        field = "birth_date" if birth_date is not None else "birth_year"
        raise InvalidInput("出生日期不合理", code="invalid_birth", errors=[FieldProblem(("body", field), "请核对出生日期")])
    return year, birth_date


def _require_consent(child: bool, guardian: Any, consent: Any, phone: Any) -> None:
    if child:
        missing = [name for name, value in (("guardian", guardian), ("consent", consent)) if value is None]
        if missing:
            raise RuleViolation(
                "未满 14 周岁的读者须由监护人登记并签署《儿童个人信息保护同意书》后才能办理借阅证",
                code="guardian_consent_required",
                errors=[FieldProblem(("body", m), "未满 14 周岁须填写" + ("监护人信息" if m == "guardian" else "监护人同意记录"))
                        for m in missing],
            )
    elif phone is None:
        raise InvalidInput("请填写读者的手机号", code="phone_required", errors=[FieldProblem(("body", "phone"), "必填")])


def _consent_record(consent: ConsentIn, actor: Actor, room: str, now: datetime) -> dict[str, Any]:
    signed_at = consent.signed_at.astimezone(UTC) if consent.signed_at and consent.signed_at.tzinfo else None
    if consent.signed_at is not None and signed_at is None:
        raise InvalidInput("签署时间须带时区", code="invalid_consent_time",
                           errors=[FieldProblem(("body", "consent", "signed_at"), "例如 2026-05-01T10:00:00+08:00")])
    if signed_at is not None and signed_at > now + CONSENT_CLOCK_SKEW:
        raise InvalidInput("签署时间不能晚于现在", code="invalid_consent_time",
                           errors=[FieldProblem(("body", "consent", "signed_at"), "不能是将来的时间")])
    signed = signed_at.replace(microsecond=signed_at.microsecond // 1000 * 1000) if signed_at else now
    return {"version": consent.version, "signed_at": signed, "recorded_at": now, "channel": CONSENT_CHANNEL_DESK,
            "recorded_by": actor.username, "recorded_by_id": actor.staff_id, "room": room}


def _guardian_doc(deps: Deps, guardian: GuardianIn) -> dict[str, Any]:
    return guardian_document(deps, name=guardian.name, relation=guardian.relation, phone=guardian.phone)


def guardian_document(deps: Deps, *, name: str, relation: str, phone: str) -> dict[str, Any]:
    """A stored guardian: phone encrypted, with its blind index for lookup."""
    return {"name": name, "relation": relation, "phone_enc": deps.cipher.encrypt(phone, context=PHONE_CONTEXT),
            "phone_key": phone_key(deps, phone)}


def new_reader_document(deps: Deps, *, name: str, birth_year: int, birth_date: date | None, room: dict[str, Any],
                        phone: str | None, guardian: dict[str, Any] | None, consent: dict[str, Any] | None,
                        created_by: str, now: datetime) -> dict[str, Any]:
    """A reader document before its card number (``insert_reader`` gives one). Shared by the
    desk and the mini-program, so both make the same record."""
    doc: dict[str, Any] = {
        "name": name, "birth_year": birth_year, "birth_date": birth_date.isoformat() if birth_date else None,
        "home_room": room["code"], "home_town": room["town"],
        "phone_enc": deps.cipher.encrypt(phone, context=PHONE_CONTEXT) if phone else None,
        "phone_key": phone_key(deps, phone) if phone else None,
        "id_enc": None, "guardian": guardian, "consent": consent,
        "blocked": None, "open_loans": {"book": 0, "audio_visual": 0},
        "created_at": now, "created_by": created_by, "updated_at": now,
    }
    doc["lookup_keys"] = _lookup_keys(doc)
    return doc


async def insert_reader(deps: Deps, session: AsyncClientSession, doc: dict[str, Any]) -> dict[str, Any]:
    """Insert ``doc`` with the next card number, in the caller's transaction (safe to retry)."""
    fresh = {k: v for k, v in doc.items() if k != "_id"}
    fresh["card_no"] = f"{deps.settings.district.code}{await repo.next_card_serial(deps.db, session):08d}"
    fresh["_id"] = await repo.insert(deps.db, fresh, session=session)
    return fresh


def _lookup_keys(doc: dict[str, Any]) -> list[str]:
    keys = [doc.get("phone_key"), (doc.get("guardian") or {}).get("phone_key")]
    return sorted({k for k in keys if k})


def _id_taken() -> Conflict:
    return Conflict("这个身份证号已经办理过借阅证，请用原借阅证或按手机号查找", code="id_number_registered",
                    errors=[FieldProblem(("body", "id_number"), "已登记")])


async def register(deps: Deps, actor: Actor, data: ReaderCreate) -> ReaderRegistered:
    """Register a walk-in reader at ``data.home_room`` and issue a card number.

    Raises InvalidInput (unknown room, birth, missing phone), Forbidden (room out of
    scope), RuleViolation (a child without guardian and consent; inactive room),
    Conflict (ID number already registered). Idempotent per op_id.
    """
    room = await _room_for(deps, actor, data.home_room, ("body", "home_room"))
    today = local_today()
    birth_year, birth_date = _resolve_birth(data.birth_year, data.birth_date, data.id_number, today)
    child = is_child(birth_year, birth_date, today)
    _require_consent(child, data.guardian, data.consent, data.phone)
    now = db_now()
    id_key = deps.cipher.blind_index(data.id_number, context=ID_NUMBER_CONTEXT) if data.id_number else None
    if id_key and await repo.by_id_key(deps.db, id_key) is not None:
        prior = await idempotency.previous(deps.db, data.op_id, "reader_register")
        if prior is None:  # not a replay of the registration that took it
            raise _id_taken()
    doc = new_reader_document(
        deps, name=data.name, birth_year=birth_year, birth_date=birth_date, room=room, phone=data.phone,
        guardian=_guardian_doc(deps, data.guardian) if data.guardian else None,
        consent=_consent_record(data.consent, actor, room["code"], now) if data.consent else None,
        created_by=actor.username, now=now)
    if data.id_number:
        doc["id_enc"] = deps.cipher.encrypt(data.id_number, context=ID_NUMBER_CONTEXT)
    if id_key:
        doc["id_key"] = id_key

    async def work(session: Any) -> dict[str, Any]:
        fresh = await insert_reader(deps, session, doc)
        await audit.record(deps.db, actor, "reader.register", target_type="reader", target_id=str(fresh["_id"]),
                           room=room["code"], changes={"op_id": data.op_id, "card_no": fresh["card_no"], "child": child,
                                                       "consent_version": data.consent.version if data.consent else None},
                           session=session)
        out = ReaderRegistered(op_id=data.op_id, replayed=False, reader=reader_out(deps, fresh, today))
        return out.model_dump(mode="json")

    try:
        result, replayed = await idempotency.run_once(
            deps.db, deps.mongo, op_id=data.op_id, kind="reader_register", room=room["code"], actor=actor.username,
            work=work)
    except DuplicateKeyError:
        raise _id_taken() from None
    return ReaderRegistered.model_validate({**result, "replayed": replayed})


# -- finding and reading ----------------------------------------------------------------


async def find_readers(deps: Deps, actor: Actor, query: ReaderQuery) -> ReaderPage:
    """By card or full phone: anyone in the district. Otherwise a page of the caller's readers by name."""
    today = local_today()
    if query.card is not None:
        doc = await repo.by_card(deps.db, query.card)
        return ReaderPage(items=[reader_out(deps, doc, today)] if doc else [])
    if query.phone is not None:
        docs = await repo.by_lookup_key(deps.db, phone_key(deps, query.phone), limit=query.limit)
        return ReaderPage(items=[reader_out(deps, d, today) for d in docs])
    if query.room is not None:
        room = await rooms_repo.by_code(deps.db, query.room)
        if room is None:
            raise InvalidInput(f"没有编号为 {query.room} 的书屋", code="unknown_room",
                               errors=[FieldProblem(("query", "room"), "书屋不存在")])
        if not actor.can_access_room(room["code"], room["town"]):
            raise Forbidden("只能查看本人负责书屋的读者名单", code="room_out_of_scope")
    after = None
    if query.cursor:
        name, last = decode_cursor(query.cursor, arity=2)
        if not isinstance(name, str) or not ObjectId.is_valid(str(last)):
            decode_cursor("", arity=2)
        after = (name, ObjectId(str(last)))
    flt = repo.browse_filter(_scope_filter(actor), name=query.name, room=query.room)
    docs = await repo.page(deps.db, flt, after=after, limit=query.limit + 1)
    docs, next_cursor = split_page(docs, query.limit, lambda d: [d["name"], str(d["_id"])])
    return ReaderPage(items=[reader_out(deps, d, today) for d in docs], next_cursor=next_cursor)


async def get_reader(deps: Deps, actor: Actor, reader_id: str) -> ReaderOut:
    """One reader (any desk role, district-wide: the reader has shown their card)."""
    return reader_out(deps, await require_reader(deps, reader_id))


# -- changes -----------------------------------------------------------------------------------

_NOT_NULLABLE = frozenset({"name", "birth_year", "birth_date", "home_room", "consent"})


async def update_reader(deps: Deps, actor: Actor, reader_id: str, data: ReaderUpdate) -> ReaderOut:
    """Change a reader's details (their home-room scope). The result must still satisfy the
    registration rules: a child keeps a guardian and a consent record, an adult a phone."""
    current = await require_reader(deps, reader_id)
    if not _in_home_scope(actor, current):
        raise Forbidden("这位读者的借阅证不是您负责的书屋办理的，请到读者所属书屋修改", code="reader_out_of_scope")
    given = data.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in given.items() if v is None and k in _NOT_NULLABLE)
    if nulls:
        raise InvalidInput("必填信息不能清空", code="required_field", errors=[FieldProblem(("body", k), "不能为空") for k in nulls])
    now, today = db_now(), local_today()
    changes: dict[str, Any] = {}
    unset: list[str] = []
    home = current["home_room"]
    if given.get("home_room") and given["home_room"] != current["home_room"]:
        room = await _room_for(deps, actor, given["home_room"], ("body", "home_room"))
        home = room["code"]
        changes.update(home_room=room["code"], home_town=room["town"])
    if "name" in given and given["name"] != current["name"]:
        changes["name"] = given["name"]

    id_number = data.id_number if "id_number" in given else (
        deps.cipher.decrypt(current["id_enc"], context=ID_NUMBER_CONTEXT) if current.get("id_enc") else None)
    birth_given = {"birth_year", "birth_date", "id_number"} & given.keys()
    if birth_given:
        year = data.birth_year if "birth_year" in given else None
        day = data.birth_date if "birth_date" in given else None
        if year is None and day is None:  # keep the stored birth unless the caller gave a new one
            year = current["birth_year"]
            day = date.fromisoformat(current["birth_date"]) if current.get("birth_date") else None
        try:
            check_birth(year, day, id_number, required=True)
        except ValueError as exc:
            raise InvalidInput(str(exc), code="invalid_birth",
                               errors=[FieldProblem(("body", sorted(birth_given)[0]), str(exc))]) from None
        birth_year, birth_date = _resolve_birth(year, day, id_number, today)
        changes.update(birth_year=birth_year, birth_date=birth_date.isoformat() if birth_date else None)
    else:
        birth_year = current["birth_year"]
        birth_date = date.fromisoformat(current["birth_date"]) if current.get("birth_date") else None
    if "id_number" in given:
        if data.id_number is None:
            unset += ["id_key"]
            changes["id_enc"] = None
        else:
            changes["id_enc"] = deps.cipher.encrypt(data.id_number, context=ID_NUMBER_CONTEXT)
            changes["id_key"] = deps.cipher.blind_index(data.id_number, context=ID_NUMBER_CONTEXT)
    if "phone" in given:
        changes["phone_enc"] = deps.cipher.encrypt(data.phone, context=PHONE_CONTEXT) if data.phone else None
        changes["phone_key"] = phone_key(deps, data.phone) if data.phone else None
    if "guardian" in given:
        changes["guardian"] = _guardian_doc(deps, data.guardian) if data.guardian else None
    if data.consent is not None:
        changes["consent"] = _consent_record(data.consent, actor, home, now)

    merged = {**current, **changes}
    _require_consent(is_child(birth_year, birth_date, today), merged.get("guardian"), merged.get("consent"),
                     merged.get("phone_enc"))
    merged_keys = _lookup_keys(merged)
    if merged_keys != current.get("lookup_keys", []):
        changes["lookup_keys"] = merged_keys
    if not changes and not unset:
        return reader_out(deps, current, today)
    changes["updated_at"] = now
    changed_fields = sorted(given)  # names only: values may be personal data

    async def work(session: Any) -> dict[str, Any] | None:
        doc = await repo.update(deps.db, current["_id"], changes, session=session, unset=unset)
        await audit.record(deps.db, actor, "reader.update", target_type="reader", target_id=str(current["_id"]),
                           room=home, changes={"fields": changed_fields}, session=session)
        return doc

    try:
        doc = await in_transaction(deps.mongo, work)
    except DuplicateKeyError:
        raise _id_taken() from None
    assert doc is not None
    return reader_out(deps, doc, today)


async def set_blocked(deps: Deps, actor: Actor, reader_id: str, block: BlockIn | None, note: str = "") -> ReaderOut:
    """District staff block a reader (no loans, renewals or holds) with a reason, or lift the block.
    RuleViolation if the reader is already in that state."""
    current = await require_reader(deps, reader_id)
    if bool(current.get("blocked")) == (block is not None):
        raise RuleViolation("该读者已被停借" if block else "该读者没有被停借", code="block_unchanged")
    now = db_now()
    value = {"reason": block.reason, "at": now, "by": actor.username} if block else None

    async def work(session: Any) -> dict[str, Any] | None:
        doc = await repo.update(deps.db, current["_id"], {"blocked": value, "updated_at": now}, session=session)
        await audit.record(deps.db, actor, "reader.block" if block else "reader.unblock", target_type="reader",
                           target_id=str(current["_id"]), room=current["home_room"],
                           changes={"reason": block.reason} if block else {"note": note}, session=session)
        return doc

    doc = await in_transaction(deps.mongo, work)
    assert doc is not None
    return reader_out(deps, doc)
