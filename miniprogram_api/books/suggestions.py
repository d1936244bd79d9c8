"""Purchase suggestions (荐购): readers ask the library to buy a book; the district office
moves each suggestion through its states (DOMAIN.md):

    submitted → under_review → accepted → in_order → fulfilled
    any open state → merged (a duplicate, with merged_into) | rejected (with a reason)

Rules:
- a book already in the catalog is not suggested (409 ``already_in_catalog`` naming the
  title, so the client offers a hold); the same book suggested again while a suggestion
  for it is open makes the reader one more supporter of that suggestion;
- every state change records a ``suggestion_status`` event for every supporter in the
  same transaction as the change and its audit entry;
- fulfilled: a hold is placed (the reader hold core) for each supporter with a library
  card, at their home room, where the rules allow; otherwise they are told where to go.
Replenishment reads the accepted ones through ``demand_for_room``.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from typing import TYPE_CHECKING, Any, Final

from bson import ObjectId

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.accounts.principal import Principal, require_member
from miniprogram_api.books import repo as books_repo
from miniprogram_api.books import suggestions_repo as repo
from miniprogram_api.books.models import (
    HoldOutcome,
    StaffSuggestionOut,
    StaffSuggestionPage,
    StaffSuggestionQuery,
    StatusChange,
    SuggestionIn,
    SuggestionListQuery,
    SuggestionOut,
    SuggestionPage,
    SuggestionSubmitted,
    TransitionIn,
    TransitionOut,
)
from server import idempotency, outbox
from server.audit import repo as audit
from server.catalog.searchkeys import normalize
from server.circulation import holds
from server.circulation.desk import catalog_title
from server.errors import Conflict, DomainError, FieldProblem, InvalidInput, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_id_cursor, split_page
from server.readers import repo as readers_repo
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

OPEN_STATES: Final = ("submitted", "under_review", "accepted", "in_order")
FORWARD: Final[dict[str, str]] = {"submitted": "under_review", "under_review": "accepted", "accepted": "in_order",
                                  "in_order": "fulfilled"}
# ``phrase`` fields of a subscribe message hold at most 5 Chinese characters.
STATUS_LABELS: Final[dict[str, str]] = {"submitted": "已提交", "under_review": "审核中", "accepted": "已采纳",
                                        "in_order": "采购中", "fulfilled": "已到馆", "merged": "已合并",
                                        "rejected": "未采纳"}
REASON_LABELS: Final[dict[str, str]] = {"not_in_list": "不在推荐目录内", "out_of_print": "已绝版，无法采购",
                                        "budget": "今年购书经费已用完", "policy": "不符合馆藏政策"}
NEXT_STEPS: Final[dict[str, str]] = {"under_review": "图书馆正在审核", "accepted": "将在下次采购时购买",
                                     "in_order": "已下单，到馆后通知您", "merged": "已与相同的荐购合并"}
FULFILLED_STEPS: Final[dict[str, str]] = {
    "hold_placed": "已为您预约，到书后通知取书", "on_shelf": "已上架，可到书屋直接借阅",
    "no_card": "已上架，办理借阅证后可借阅", "already_has_it": "已上架，您已预约或借阅",
    "not_possible": "已上架，可到书屋借阅"}
# A reader asking for more books at once than this is flooding the queue.
MAX_OPEN_PER_MEMBER = 20
PAGE = "pages/loans/loans?tab=suggestions"
_NATIONALITY = re.compile(r"^\s*[\[［(（【〔][^\]］)）】〕]{1,6}[\]］)）】〕]\s*")
_ROLE_WORDS = re.compile(r"\s*等?\s*(?:原著|编著|主编|编写|改编|整理|译注|校注|撰写|著|编|译|绘)\s*$")


# -- pure rules ----------------------------------------------------------------------------------


def may_move(from_status: str, to_status: str) -> bool:
    """The state machine: one step forward, or merged/rejected from any open state."""
    if from_status not in OPEN_STATES:
        return False
    return to_status == FORWARD.get(from_status) or to_status in ("merged", "rejected")


def norm_author(author: str | None) -> str:
    """An author as compared for duplicates: no nationality mark ("[美]"), no role word
    ("著", "主编" …), then the catalog's normalisation."""
    text = unicodedata.normalize("NFKC", author or "")
    text = _ROLE_WORDS.sub("", _NATIONALITY.sub("", text))
    return normalize(text)


def same_author(a: str, b: str) -> bool:
    """Unknown on either side matches; otherwise equal, or one a prefix of the other
    ("刘慈欣" and "刘慈欣王晋康")."""
    return not a or not b or a.startswith(b) or b.startswith(a)


def title_key(norm_title: str) -> str:
    """One of the catalog's ``search_keys`` every title with this normalised title carries."""
    if len(norm_title) == 1:
        return "^" + norm_title
    return "~" + norm_title[:3]


def next_step(to_status: str, reason: str | None) -> str:
    if to_status == "rejected":
        return REASON_LABELS.get(reason or "", "未能采购")
    return NEXT_STEPS.get(to_status, "")


# -- views --------------------------------------------------------------------------------------


def reader_view(doc: dict[str, Any], family: set[ObjectId]) -> SuggestionOut:
    return SuggestionOut(
        id=str(doc["_id"]), title=doc["title"], author=doc.get("author"), isbn=doc.get("isbn"),
        publisher=doc.get("publisher"), status=doc["status"], status_label=STATUS_LABELS[doc["status"]],
        reason=doc.get("reason"), reason_label=REASON_LABELS.get(doc.get("reason") or ""),
        supporters=int(doc.get("supporter_count", len(doc["supporters"]))),
        member_ids=[str(s["member_id"]) for s in doc["supporters"] if s["member_id"] in family],
        merged_into=str(doc["merged_into"]) if doc.get("merged_into") else None, title_id=doc.get("title_id"),
        created_at=doc["created_at"], updated_at=doc["updated_at"])


def staff_view(doc: dict[str, Any]) -> StaffSuggestionOut:
    rooms = Counter(s["room"] for s in doc["supporters"] if s.get("room"))
    return StaffSuggestionOut(
        id=str(doc["_id"]), title=doc["title"], author=doc.get("author"), isbn=doc.get("isbn"),
        publisher=doc.get("publisher"), notes=[s["note"] for s in doc["supporters"] if s.get("note")],
        status=doc["status"], status_label=STATUS_LABELS[doc["status"]], reason=doc.get("reason"),
        merged_into=str(doc["merged_into"]) if doc.get("merged_into") else None, title_id=doc.get("title_id"),
        supporters=int(doc.get("supporter_count", len(doc["supporters"]))),
        rooms=[{"room": room, "supporters": n} for room, n in sorted(rooms.items(), key=lambda r: (-r[1], r[0]))],
        history=[StatusChange(**h) for h in doc.get("history", [])],
        created_at=doc["created_at"], updated_at=doc["updated_at"])


# -- readers -----------------------------------------------------------------------------------


async def _in_catalog(deps: Deps, isbn: str | None, norm_title: str, author: str) -> tuple[dict[str, Any], str] | None:
    """The catalog title this suggestion names (by ISBN, or by title and author), and the
    body field that matched."""
    if isbn:
        doc = await repo.catalog_title(deps.db, isbn)
        if doc is not None:
            return doc, "isbn"
    if not norm_title:
        return None
    for doc in await repo.catalog_titles_named(deps.db, title_key(norm_title), norm_title):
        if same_author(norm_author(doc.get("author")), author):
            return doc, "title"
    return None


async def submit(deps: Deps, principal: Principal, data: SuggestionIn) -> SuggestionSubmitted:
    """A family member suggests a book. Conflict ``already_in_catalog`` (409, the title id
    in ``errors`` at ``["catalog", "title_id"]``) when the library has it; joining an open
    suggestion for the same book (``merged: true``) when someone asked first; RuleViolation
    past ``MAX_OPEN_PER_MEMBER`` open suggestions. Idempotent per op_id."""
    member = await require_member(deps, principal, data.member_id, loc=("body", "member_id"))
    norm_title, author = normalize(data.title), norm_author(data.author)
    if not norm_title:
        raise InvalidInput("书名至少要有一个汉字、字母或数字", code="validation_failed",
                           errors=[FieldProblem(("body", "title"), "请填写书名")])
    keys = [f"t:{norm_title}"] + ([f"isbn:{data.isbn}"] if data.isbn else [])
    family = {member["_id"]}

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        found = await _in_catalog(deps, data.isbn, norm_title, author)
        if found is not None:
            doc, field = found
            raise Conflict(f"图书馆已经有《{doc.get('title') or data.title}》了，可以直接预约或到书屋借阅",
                           code="already_in_catalog",
                           errors=[FieldProblem(("body", field), "目录中已有这本书"),
                                   FieldProblem(("catalog", "title_id"), str(doc["_id"]))])
        supporter = {"member_id": member["_id"], "account_id": principal.account_id, "room": member["home_room"],
                     "at": now, "note": data.note}
        candidates = await repo.open_matches(deps.db, keys, session=session)
        match = next((c for c in candidates if (data.isbn and c.get("isbn") == data.isbn)
                      or (c["t"] == norm_title and same_author(c["a"], author))), None)
        if match is not None:
            n = int(match.get("supporter_count", len(match["supporters"])))
            if any(s["member_id"] == member["_id"] for s in match["supporters"]):
                message = f"{member['name']}已经推荐过这本书了（共 {n} 位读者推荐）"
                doc = match
            else:
                updated = await repo.add_supporters(deps.db, match["_id"], [supporter], now, session=session)
                if updated is None:
                    raise Conflict("这条荐购刚刚有变化，请重试", code="suggestion_changed")
                doc = updated
                message = f"已有读者推荐过这本书，已把{member['name']}加入推荐（共 {n + 1} 位读者）"
            out = SuggestionSubmitted(op_id=data.op_id, replayed=False, merged=True,
                                      suggestion=reader_view(doc, family), message=message)
            return out.model_dump(mode="json")
        if await repo.count_open_for_member(deps.db, member["_id"], session=session) >= MAX_OPEN_PER_MEMBER:
            raise RuleViolation(f"每位读者同时最多有 {MAX_OPEN_PER_MEMBER} 条处理中的荐购，请等图书馆处理后再推荐",
                                code="too_many_suggestions")
        doc = {"title": data.title, "author": data.author, "isbn": data.isbn, "publisher": data.publisher,
               "t": norm_title, "a": author, "match_keys": keys, "status": "submitted", "open": True, "reason": None,
               "merged_into": None, "title_id": None, "supporters": [supporter], "supporter_count": 1,
               "history": [{"from_status": None, "to": "submitted", "at": now, "by": f"mp:{principal.account_id}",
                            "reason": None}],
               "created_at": now, "updated_at": now}
        doc["_id"] = await repo.insert(deps.db, doc, session=session)
        out = SuggestionSubmitted(op_id=data.op_id, replayed=False, merged=False, suggestion=reader_view(doc, family),
                                  message="已收到荐购，图书馆处理后会通知您")
        return out.model_dump(mode="json")

    result, replayed = await idempotency.run_once(
        deps.db, deps.mongo, op_id=principal.op_key(data.op_id), kind="mp_suggestion", room=member["home_room"],
        actor=f"mp:{principal.account_id}", work=work)
    return SuggestionSubmitted.model_validate({**result, "replayed": replayed})


async def my_suggestions(deps: Deps, principal: Principal, query: SuggestionListQuery) -> SuggestionPage:
    """Suggestions the family (or one member) made or supports, newest first, with their status."""
    if query.member_id:
        members = [await require_member(deps, principal, query.member_id, loc=("query", "member_id"), active=False)]
    else:
        members = await accounts_repo.members_of(deps.db, principal.account_id)
    family = {m["_id"] for m in members}
    before = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.page_for_members(deps.db, list(family), before=before, limit=query.limit + 1)
    docs, next_cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    return SuggestionPage(items=[reader_view(d, family) for d in docs], next_cursor=next_cursor)


# -- the district office ---------------------------------------------------------------------------


async def staff_list(deps: Deps, actor: Actor, query: StaffSuggestionQuery) -> StaffSuggestionPage:
    """Suggestions newest first (optionally one status), with supporter counts by room."""
    before = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.staff_page(deps.db, status=query.status, before=before, limit=query.limit + 1)
    docs, next_cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    return StaffSuggestionPage(items=[staff_view(d) for d in docs], next_cursor=next_cursor)


def _only_with(data: TransitionIn, name: str, state: str) -> None:
    if getattr(data, name) is not None and data.to != state:
        raise InvalidInput(f"只有改为 {state} 时才填写 {name}", code="validation_failed",
                           errors=[FieldProblem(("body", name), f"仅用于 {state}")])


async def _check_transition(deps: Deps, current: dict[str, Any], data: TransitionIn
                            ) -> tuple[ObjectId | None, dict[str, Any] | None]:
    """Refuse what the state machine or the target state's fields forbid; returns
    (the merge target's id, the catalog title) where they apply."""
    frm, to = current["status"], data.to
    if not may_move(frm, to):
        raise Conflict(f"荐购不能从“{STATUS_LABELS[frm]}”（{frm}）改为“{STATUS_LABELS[to]}”（{to}）",
                       code="illegal_transition", errors=[FieldProblem(("body", "to"), f"{frm} → {to} 不允许")])
    for name, state in (("reason", "rejected"), ("merged_into", "merged"), ("title_id", "fulfilled")):
        _only_with(data, name, state)
    if to == "rejected" and data.reason is None:
        raise InvalidInput("不采纳须说明原因", code="reason_required",
                           errors=[FieldProblem(("body", "reason"), "须为 not_in_list、out_of_print、budget 或 policy")])
    if to == "merged":
        if data.merged_into is None:
            raise InvalidInput("合并须指明合并到哪条荐购", code="merged_into_required",
                               errors=[FieldProblem(("body", "merged_into"), "必填")])
        target_id = parse_object_id(data.merged_into, loc=("body", "merged_into"))
        target = await repo.by_id(deps.db, target_id)
        if target is None or target_id == current["_id"] or not target.get("open"):
            raise InvalidInput("只能合并到另一条处理中的荐购", code="invalid_merge_target",
                               errors=[FieldProblem(("body", "merged_into"), "不是另一条处理中的荐购")])
        return target_id, None
    if to == "fulfilled":
        if data.title_id is None:
            raise InvalidInput("到馆须指明目录中的书", code="title_id_required",
                               errors=[FieldProblem(("body", "title_id"), "必填")])
        return None, await catalog_title(deps, data.title_id)
    return None, None


async def _hold_for_supporters(deps: Deps, suggestion: dict[str, Any], title: dict[str, Any]
                               ) -> list[HoldOutcome]:
    """A hold for each supporter with a library card at their home room, where the rules
    allow (each its own idempotent operation, so running this again changes nothing)."""
    supporters = suggestion["supporters"]
    members = await accounts_repo.members_by_ids(deps.db, [s["member_id"] for s in supporters])
    cards = await readers_repo.by_ids(deps.db, [m["reader_id"] for m in members.values() if m.get("reader_id")])
    rooms = await books_repo.rooms_by_codes(deps.db, [m["home_room"] for m in members.values()])
    outcomes = []
    for s in supporters:
        member = members.get(s["member_id"])
        reader = cards.get(member["reader_id"]) if member and member.get("reader_id") else None
        room = rooms.get(member["home_room"]) if member else None
        outcome = HoldOutcome(member_id=str(s["member_id"]), outcome="no_card")
        if member is not None and reader is not None:
            outcome.outcome = "not_possible"
            if room is not None and room.get("status") == "active" and member.get("status") == "active":
                outcome = await _try_hold(deps, suggestion["_id"], member, reader, room, title)
        outcomes.append(outcome)
    return outcomes


async def _try_hold(deps: Deps, suggestion_id: ObjectId, member: dict[str, Any], reader: dict[str, Any],
                    room: dict[str, Any], title: dict[str, Any]) -> HoldOutcome:
    op = f"suggestion-{suggestion_id}-{member['_id']}"
    try:
        placed = await holds.place_hold_for(
            deps, reader=reader, room=room, title=title, op_key=op, op_id=op, kind="hold",
            origin=holds.Origin(label=f"suggestion:{suggestion_id}", subject=member["name"]))
    except DomainError as exc:
        kind = {"available_on_shelf": "on_shelf", "hold_exists": "already_has_it",
                "already_borrowed": "already_has_it"}.get(exc.code, "not_possible")
        return HoldOutcome(member_id=str(member["_id"]), outcome=kind)  # type: ignore[arg-type]
    return HoldOutcome(member_id=str(member["_id"]), outcome="hold_placed", hold_id=placed.hold.id)


async def transition(deps: Deps, actor: Actor, suggestion_id: str, data: TransitionIn) -> TransitionOut:
    """Move a suggestion to ``data.to`` (audited; every supporter notified in the same
    transaction). Raises NotFound, Conflict (``illegal_transition`` naming from and to;
    moved by someone else meanwhile), InvalidInput (a missing reason, merge target or
    title; a field that does not belong to the target state)."""
    oid = parse_object_id(suggestion_id, loc=("path", "suggestion_id"))
    current = await repo.by_id(deps.db, oid)
    if current is None:
        raise NotFound("没有这条荐购", code="suggestion_not_found")
    target_id, title = await _check_transition(deps, current, data)
    frm, to = current["status"], data.to
    outcomes = await _hold_for_supporters(deps, current, title) if title is not None else []
    by_member = {o.member_id: o.outcome for o in outcomes}

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        now = db_now()
        changes: dict[str, Any] = {"status": to, "open": to in OPEN_STATES, "updated_at": now}
        if to == "rejected":
            changes["reason"] = data.reason
        if title is not None:
            changes["title_id"] = title["_id"]
        if target_id is not None:
            changes["merged_into"] = target_id
        entry = {"from_status": frm, "to": to, "at": now, "by": actor.username, "reason": data.reason}
        doc = await repo.apply_transition(deps.db, oid, frm, changes, entry, session=session)
        if doc is None:
            raise Conflict("这条荐购刚刚被别人处理过，请刷新后再试", code="suggestion_changed")
        if target_id is not None:
            target = await repo.by_id(deps.db, target_id, session=session)
            if target is None or not target.get("open"):
                raise Conflict("要合并到的荐购刚刚已经结束，请刷新后再试", code="suggestion_changed")
            have = {s["member_id"] for s in target["supporters"]}
            moved = [s for s in doc["supporters"] if s["member_id"] not in have]
            if moved and await repo.add_supporters(deps.db, target_id, moved, now, session=session) is None:
                raise Conflict("要合并到的荐购刚刚有变化，请刷新后再试", code="suggestion_changed")
        for s in doc["supporters"]:
            step = FULFILLED_STEPS[by_member.get(str(s["member_id"]), "not_possible")] if to == "fulfilled" \
                else next_step(to, data.reason)
            await outbox.record(deps.db, session, event="suggestion_status", key=f"{oid}:{to}:{s['member_id']}",
                                account_id=s["account_id"], member_id=s["member_id"], page=PAGE, now=now,
                                data={"thing1": doc["title"], "phrase2": STATUS_LABELS[to], "thing3": step})
        await audit.record(deps.db, actor, "suggestion.transition", target_type="suggestion", target_id=str(oid),
                           changes={"from": frm, "to": to, "reason": data.reason,
                                    "merged_into": str(target_id) if target_id else None,
                                    "title_id": title["_id"] if title else None,
                                    "supporters": len(doc["supporters"]),
                                    "holds_placed": sum(o.outcome == "hold_placed" for o in outcomes)},
                           session=session)
        return doc

    doc = await in_transaction(deps.mongo, work)
    return TransitionOut(suggestion=staff_view(doc), notified=len(doc["supporters"]), holds=outcomes)


# -- replenishment and privacy ----------------------------------------------------------------------


async def demand_for_room(deps: Deps, room_code: str) -> list[dict[str, Any]]:
    """Accepted suggestions some reader of ``room_code`` supports, most wanted first:
    ``{suggestion_id, title, author, isbn, publisher, supporters (of this room),
    supporters_total, status}``. Read by replenishment (title selection)."""
    out = []
    for doc in await repo.accepted_for_room(deps.db, room_code):
        out.append({"suggestion_id": str(doc["_id"]), "title": doc["title"], "author": doc.get("author"),
                    "isbn": doc.get("isbn"), "publisher": doc.get("publisher"),
                    "supporters": sum(1 for s in doc["supporters"] if s.get("room") == room_code),
                    "supporters_total": int(doc.get("supporter_count", len(doc["supporters"]))),
                    "status": doc["status"]})
    out.sort(key=lambda d: (-d["supporters"], -d["supporters_total"], d["suggestion_id"]))
    return out


async def export_for(deps: Deps, member_ids: list[ObjectId]) -> list[dict[str, Any]]:
    """What the suggestions part keeps about these members: the books they asked for,
    with what they wrote and each suggestion's state."""
    ids = set(member_ids)
    return [{"id": str(d["_id"]), "title": d["title"], "author": d.get("author"), "isbn": d.get("isbn"),
             "publisher": d.get("publisher"), "status": d["status"], "reason": d.get("reason"),
             "supporters": int(d.get("supporter_count", len(d["supporters"]))),
             "mine": [{"member_id": str(s["member_id"]), "at": s["at"], "note": s.get("note"),
                       "room": s.get("room")} for s in d["supporters"] if s["member_id"] in ids]}
            for d in await repo.of_members(deps.db, member_ids)]


async def forget_supporters(deps: Deps, member_ids: list[ObjectId]) -> None:
    """Erase these members from suggestions: a suggestion only they support is deleted,
    others lose them as supporters (the count follows)."""
    ids = set(member_ids)
    docs = await repo.of_members(deps.db, member_ids)
    delete, remaining = [], {}
    for doc in docs:
        left = [s for s in doc["supporters"] if s["member_id"] not in ids]
        if left:
            remaining[doc["_id"]] = len(left)
        else:
            delete.append(doc["_id"])
    await repo.drop_supporters(deps.db, delete=delete, remaining=remaining, member_ids=list(ids), now=db_now())
