"""The contest's editions (opened by district staff) and entries (sent by families from the
mini-program, moderated by staff).

Rules kept here:
- an edition moves draft → open → judging → awarded → reported; entries are taken while it
  is open and today (Asia/Shanghai) is within its dates;
- an entry is made by a member of the caller's own family: a child (under 14) only as a
  child member with a guardian's consent in force, never as an account of their own; the
  group must fit the author's age (``rules.GROUP_AGES``); one entry per member, category
  and edition;
- an essay fits its group's limit (whitespace not counted); the title and text pass
  WeChat's content check first: ``risky`` is refused and nothing is kept, ``review``
  waits for staff (``in_review``), ``pass`` is ``submitted``;
- a picture category's work is an image uploaded afterwards (``files``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pymongo.errors import DuplicateKeyError

from miniprogram_api.accounts.principal import Principal, require_member
from miniprogram_api.contest import files, repo, rules
from miniprogram_api.contest.models import (
    ContestIn,
    ContestOut,
    ContestPage,
    ContestPublicList,
    ContestQuery,
    ContestUpdate,
    EntryIn,
    EntryList,
    EntryOut,
    EntryPage,
    EntryQuery,
    ModerationIn,
    MyEntriesQuery,
    QuotaMatrix,
    StaffEntryOut,
)
from miniprogram_api.contest.views import (
    PHONE_CONTEXT,
    accepting,
    contest_out,
    contest_public,
    day,
    entry_out,
    staff_entry_out,
)
from miniprogram_api.wechat import WeChatError
from server import idempotency
from server.audit import repo as audit
from server.errors import (
    Conflict,
    FieldProblem,
    InvalidInput,
    NotFound,
    RuleViolation,
    ServiceUnavailable,
)
from server.ids import parse_object_id
from server.pagination import decode_id_cursor, split_page
from server.readers.service import local_today
from server.staff import repo as staff_repo
from server.staff.roles import DISTRICT, Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

log = logging.getLogger("shuwu.mp.contest")

ENTRY_OP_KIND = "mp_contest_entry"
SELF_MIN_AGE = 14  # as accounts: an account holder is 14 or older by birth year
CONTENT_SCENE = 1  # msgSecCheck scene 1: 资料 (a profile-like text the user publishes)
PUBLIC_STATUSES = ["open", "judging", "awarded", "reported"]
PUBLIC_LIST_LIMIT = 20
RISKY_MESSAGE = "作品里有些内容不太合适，请修改后再提交吧。如有疑问，可以请书屋管理员帮忙看看。"


# -- look-ups -----------------------------------------------------------------------------


async def load_contest(deps: Deps, contest_id: str | ObjectId, *, session: AsyncClientSession | None = None
                       ) -> dict[str, Any]:
    cid = contest_id if isinstance(contest_id, ObjectId) else parse_object_id(contest_id, loc=("path", "contest_id"))
    doc = await repo.contest_by_id(deps.db, cid, session=session)
    if doc is None:
        raise NotFound("没有这届比赛", code="contest_not_found")
    return doc


async def load_entry(deps: Deps, contest_id: str, entry_id: str, *, account_id: ObjectId | None = None
                     ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(contest, entry). With ``account_id``, an entry of another account does not exist."""
    contest = await load_contest(deps, contest_id)
    doc = await repo.entry_by_id(deps.db, parse_object_id(entry_id, loc=("path", "entry_id")))
    if doc is None or doc["contest_id"] != contest["_id"] or (account_id is not None and doc["account_id"] != account_id):
        raise NotFound("没有这件作品", code="entry_not_found")
    return contest, doc


def _require_accepting(contest: dict[str, Any]) -> None:
    if not accepting(contest):
        raise RuleViolation(f"“{contest['title']}”现在不接受投稿（征集时间 {contest['opens_on']} 至 {contest['closes_on']}）",
                            code="contest_closed")


# -- editions (staff) ------------------------------------------------------------------------------


async def _judges(deps: Deps, usernames: list[str], loc: tuple[str, ...]) -> list[str]:
    """Every judge is an active district staff member (one query)."""
    if not usernames:
        return []
    wanted = list(dict.fromkeys(usernames))
    docs = await deps.db[staff_repo.COLLECTION].find({"username": {"$in": wanted}}, {"username": 1, "role": 1,
                                                                                     "active": 1}).to_list()
    ok = {d["username"] for d in docs if d.get("role") in {r.value for r in DISTRICT} and d.get("active", True)}
    bad = [FieldProblem((*loc, i), "不是在职的区馆工作人员") for i, u in enumerate(usernames) if u not in ok]
    if bad:
        raise InvalidInput("评委须是区馆工作人员", code="unknown_judge", errors=bad)
    return wanted


def _check_dates(year: int, opens_on: date, closes_on: date) -> None:
    if opens_on.year != year:
        raise InvalidInput("开始日期应在本届比赛的年份内", code="invalid_dates",
                           errors=[FieldProblem(("body", "opens_on"), f"应在 {year} 年内")])
    if closes_on < opens_on or (closes_on - opens_on).days > 366:
        raise InvalidInput("截止日期应在开始日期之后（一年之内）", code="invalid_dates",
                           errors=[FieldProblem(("body", "closes_on"), "应不早于开始日期，且在一年之内")])


def _quotas(given: QuotaMatrix) -> dict[str, dict[str, dict[str, int]]]:
    plain: dict[str, dict[str, dict[str, int]]] = {
        str(c): {str(g): q.model_dump() for g, q in groups.items()} for c, groups in given.items()}
    return rules.full_quotas(plain)


async def create_contest(deps: Deps, actor: Actor, data: ContestIn) -> ContestOut:
    """Open an edition (as a draft). Conflict if the year already has one of that title."""
    _check_dates(data.year, data.opens_on, data.closes_on)
    judges = await _judges(deps, data.judges, ("body", "judges"))
    now = db_now()
    doc: dict[str, Any] = {
        "year": data.year, "title": data.title, "opens_on": data.opens_on.isoformat(),
        "closes_on": data.closes_on.isoformat(), "status": "draft", "award_quotas": _quotas(data.award_quotas),
        "judges": judges, "created_by": actor.username, "created_at": now, "updated_at": now,
        "awarded_at": None, "reported_at": None,
    }

    async def work(session: AsyncClientSession) -> None:
        try:
            doc["_id"] = await repo.insert_contest(deps.db, doc, session=session)
        except DuplicateKeyError:
            raise Conflict(f"{data.year} 年已有同名的比赛", code="contest_exists",
                           errors=[FieldProblem(("body", "title"), "同一年内名称不能重复")]) from None
        await audit.record(deps.db, actor, "contest.created", target_type="contest", target_id=str(doc["_id"]),
                           changes={"year": data.year, "title": data.title, "opens_on": doc["opens_on"],
                                    "closes_on": doc["closes_on"], "judges": judges}, session=session)

    await in_transaction(deps.mongo, work)
    return contest_out(doc)


async def list_contests(deps: Deps, query: ContestQuery) -> ContestPage:
    flt: dict[str, Any] = {}
    if query.year is not None:
        flt["year"] = query.year
    if query.status is not None:
        flt["status"] = query.status
    before = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.contests_page(deps.db, flt, before=before, limit=query.limit + 1)
    page, cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    today = local_today()
    return ContestPage(items=[contest_out(d, today) for d in page], next_cursor=cursor)


async def get_contest(deps: Deps, contest_id: str) -> ContestOut:
    return contest_out(await load_contest(deps, contest_id))


async def update_contest(deps: Deps, actor: Actor, contest_id: str, data: ContestUpdate) -> ContestOut:
    """Change an edition's details or move its status on (``rules.TRANSITIONS``). Nothing
    that decided the results changes once they exist; dates change only before judging."""
    current = await load_contest(deps, contest_id)
    given = data.model_dump(exclude_unset=True)
    for name, value in given.items():
        if value is None:
            raise InvalidInput("这一项不能清空", code="required_field", errors=[FieldProblem(("body", name), "不能为空")])
    status = current["status"]
    changes: dict[str, Any] = {}
    if "title" in given and given["title"] != current["title"]:
        changes["title"] = given["title"]
    if {"opens_on", "closes_on"} & given.keys():
        opens_on = data.opens_on or day(current["opens_on"])
        closes_on = data.closes_on or day(current["closes_on"])
        if (opens_on.isoformat(), closes_on.isoformat()) != (current["opens_on"], current["closes_on"]):
            if status not in {"draft", "open"}:
                raise Conflict("征集已结束，不能再修改日期", code="dates_locked")
            _check_dates(current["year"], opens_on, closes_on)
            changes.update(opens_on=opens_on.isoformat(), closes_on=closes_on.isoformat())
    if data.award_quotas is not None:
        changes["award_quotas"] = _quotas(data.award_quotas)
    if data.judges is not None:
        changes["judges"] = await _judges(deps, data.judges, ("body", "judges"))
    if changes and status in rules.SETTLED:
        raise Conflict("比赛已评奖，名称、日期、名额和评委都不能再修改", code="contest_settled")
    if data.status is not None and data.status != status:
        if data.status == "awarded":
            raise RuleViolation("请通过“计算评奖结果”完成评奖", code="use_awards",
                                errors=[FieldProblem(("body", "status"), "评奖结果须计算产生")])
        if data.status not in rules.TRANSITIONS[status]:
            raise RuleViolation(f"比赛不能从“{rules.STATUS_LABELS[status]}”改为“{rules.STATUS_LABELS[data.status]}”",
                                code="bad_transition", errors=[FieldProblem(("body", "status"), "不允许的状态变更")])
        changes["status"] = data.status
        if data.status == "reported":
            changes["reported_at"] = db_now()
    if not changes:
        return contest_out(current)
    changes["updated_at"] = db_now()

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        doc = await repo.update_contest(deps.db, current["_id"], changes, status_in=[status], session=session)
        if doc is None:
            raise Conflict("比赛状态刚刚被别人改过，请刷新后再试", code="contest_changed")
        await audit.record(deps.db, actor, "contest.updated", target_type="contest", target_id=str(current["_id"]),
                           changes={k: v for k, v in changes.items() if k != "updated_at"}, session=session)
        return doc

    return contest_out(await in_transaction(deps.mongo, work))


async def public_contests(deps: Deps) -> ContestPublicList:
    """Editions families can see (every one past its draft), newest first."""
    docs = await repo.contests_page(deps.db, {"status": {"$in": PUBLIC_STATUSES}}, before=None,
                                    limit=PUBLIC_LIST_LIMIT)
    today = local_today()
    return ContestPublicList(items=[contest_public(d, today) for d in docs])


# -- entries (mini-program) --------------------------------------------------------------------------


def _check_author(member: dict[str, Any], group: str, year: int, today: date) -> None:
    if member["relation"] == "child":
        consent = member.get("consent") or {}
        if not consent.get("signed_at") or consent.get("withdrawn_at"):
            raise RuleViolation("孩子参赛须有监护人的同意", code="consent_required",
                                errors=[FieldProblem(("body", "member_id"), "监护人同意不存在或已撤回")])
    elif today.year - member["birth_year"] < SELF_MIN_AGE:
        raise RuleViolation("未满 14 周岁的小作者，请爸爸妈妈在自己的微信里添加孩子后为孩子报名", code="guardian_required",
                            errors=[FieldProblem(("body", "member_id"), "未满 14 周岁须由监护人报名")])
    if not rules.group_fits(group, member["birth_year"], year):
        low, high = rules.GROUP_AGES[group]
        age = rules.age_in_year(member["birth_year"], year)
        raise InvalidInput(f"{group}适合 {year} 年满 {low}–{high} 岁的学生，{member['name']}今年 {age} 岁，请选择合适的组别",
                           code="group_mismatch", errors=[FieldProblem(("body", "group"), f"{group}为 {low}–{high} 岁")])


def _check_work(data: EntryIn) -> None:
    if data.category == rules.ESSAY:
        if not data.text:
            raise InvalidInput("请填写征文正文", code="text_required", errors=[FieldProblem(("body", "text"), "征文须有正文")])
        limit, length = rules.ESSAY_LIMITS[data.group], rules.essay_length(data.text)
        if length > limit:
            raise InvalidInput(f"{data.group}征文不超过 {limit} 字（不计空格和换行），现在是 {length} 字",
                               code="essay_too_long",
                               errors=[FieldProblem(("body", "text"), f"不超过 {limit} 字（现有 {length} 字）")])
    elif data.text is not None:
        raise InvalidInput(f"{data.category}作品请在提交后上传作品图片，不需要填写正文", code="text_not_allowed",
                           errors=[FieldProblem(("body", "text"), "只有征文需要正文")])


async def content_check(deps: Deps, principal: Principal, *, title: str, text: str | None) -> str:
    """WeChat's verdict on what the family wrote: "pass" or "review"; refuses "risky"."""
    content = f"{title}\n{text}" if text else title
    try:
        verdict = await deps.wechat.msg_sec_check(openid=principal.openid, content=content, scene=CONTENT_SCENE)
    except WeChatError as exc:
        if exc.transient:
            raise ServiceUnavailable("微信内容检查服务繁忙，请稍后再提交", code="wechat_busy", retry_after_secs=5) from None
        log.warning("msg_sec_check refused: errcode %s", exc.errcode)
        raise ServiceUnavailable("暂时无法检查作品内容，请稍后再提交", code="wechat_error", retry_after_secs=30) from None
    if verdict == "risky":
        raise RuleViolation(RISKY_MESSAGE, code="content_refused",
                            errors=[FieldProblem(("body", "text" if text else "title"), "内容未通过安全检查")])
    return verdict


def _duplicate(data: EntryIn) -> Conflict:
    return Conflict(f"这位小作者已经提交过{data.category}作品了（每人每类只能投一件）", code="duplicate_entry",
                    errors=[FieldProblem(("body", "category"), "已投过这一类")])


async def submit_entry(deps: Deps, principal: Principal, contest_id: str, data: EntryIn) -> EntryOut:
    """Send a work for a family member. A replayed ``op_id`` returns the first answer
    without a second content check. Errors: NotFound (contest, member), RuleViolation
    (closed, consent, content refused), InvalidInput (group, essay length), Conflict
    (a second entry in the category), ServiceUnavailable (WeChat busy; nothing kept)."""
    op_key = principal.op_key(data.op_id)
    prior = await idempotency.previous(deps.db, op_key, ENTRY_OP_KIND)
    if prior is not None:
        if not prior["ok"]:
            idempotency.reraise(prior)
        earlier_contest, earlier = await load_entry(deps, contest_id, prior["result"]["entry_id"],
                                                    account_id=principal.account_id)
        return entry_out(deps, earlier, earlier_contest)
    contest = await load_contest(deps, contest_id)
    _require_accepting(contest)
    member = await require_member(deps, principal, data.member_id, loc=("body", "member_id"))
    _check_author(member, data.group, contest["year"], local_today())
    _check_work(data)
    if await repo.entry_of_member(deps.db, contest["_id"], member["_id"], data.category) is not None:
        raise _duplicate(data)
    verdict = await content_check(deps, principal, title=data.title, text=data.text)
    teacher = data.teacher.model_dump() if data.teacher is not None and not isinstance(data.teacher, list) else None
    now = db_now()
    doc: dict[str, Any] = {
        "contest_id": contest["_id"], "account_id": principal.account_id, "member_id": member["_id"],
        "category": data.category, "group": data.group, "title": data.title,
        "text": data.text if data.category == rules.ESSAY else None, "teacher": teacher,
        "phone_enc": deps.cipher.encrypt(data.phone_contact, context=PHONE_CONTEXT) if data.phone_contact else None,
        "author": {"name": member["name"], "relation": member["relation"], "birth_year": member["birth_year"],
                   "school": member.get("school"), "class_name": member.get("class_name"),
                   "home_room": member["home_room"], "home_town": member.get("home_town")},
        "status": "in_review" if verdict == "review" else "submitted", "content_check": verdict,
        "moderation": None, "image": None, "rank": None, "award": None, "mean_score": None, "score_count": 0,
        "recommended": False, "certificate_no": None, "op_id": op_key, "submitted_at": now, "updated_at": now,
    }

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        fresh = await load_contest(deps, contest["_id"], session=session)
        _require_accepting(fresh)
        try:
            entry_id = await repo.insert_entry(deps.db, dict(doc), session=session)
        except DuplicateKeyError:
            raise _duplicate(data) from None
        return {"entry_id": str(entry_id)}

    result, _ = await idempotency.run_once(deps.db, deps.mongo, op_id=op_key, kind=ENTRY_OP_KIND,
                                           room=member["home_room"], actor=f"mp:{principal.account_id}", work=work)
    contest, saved = await load_entry(deps, contest_id, result["entry_id"], account_id=principal.account_id)
    return entry_out(deps, saved, contest)


async def my_entries(deps: Deps, principal: Principal, contest_id: str, query: MyEntriesQuery) -> EntryList:
    """The caller's family's entries in an edition (or one member's), with status and result."""
    contest = await load_contest(deps, contest_id)
    member_id = None
    if query.member_id is not None:
        member = await require_member(deps, principal, query.member_id, loc=("query", "member_id"), active=False)
        member_id = member["_id"]
    docs = await repo.entries_of_account(deps.db, contest["_id"], principal.account_id, member_id)
    return EntryList(items=[entry_out(deps, d, contest) for d in docs])


async def my_entry(deps: Deps, principal: Principal, contest_id: str, entry_id: str) -> EntryOut:
    contest, doc = await load_entry(deps, contest_id, entry_id, account_id=principal.account_id)
    return entry_out(deps, doc, contest)


async def withdraw_entry(deps: Deps, principal: Principal, contest_id: str, entry_id: str) -> None:
    """The family takes an entry back while the edition is open (e.g. to send another in
    its place); its picture goes too unless another entry shows the same one."""
    contest, doc = await load_entry(deps, contest_id, entry_id, account_id=principal.account_id)
    _require_accepting(contest)

    async def work(session: AsyncClientSession) -> None:
        await repo.delete_entry(deps.db, doc["_id"], session=session)
        if doc.get("image"):
            await repo.delete_unreferenced_files(deps.db, [doc["image"]["sha256"]], session=session)

    await in_transaction(deps.mongo, work)


async def upload_image(deps: Deps, principal: Principal, contest_id: str, entry_id: str, body: bytes,
                       content_type: str | None) -> EntryOut:
    """Attach (or replace) the picture of a picture-category entry while the edition is open."""
    files.check_declared_type(content_type, len(body), files.IMAGE_MAX_BYTES)
    contest, doc = await load_entry(deps, contest_id, entry_id, account_id=principal.account_id)
    _require_accepting(contest)
    if doc["category"] not in rules.IMAGE_CATEGORIES:
        raise RuleViolation("征文作品不需要上传图片", code="image_not_needed")
    if doc["status"] == "rejected":
        raise RuleViolation("这件作品没有通过审核，请删除后重新投稿", code="entry_rejected")
    clean = await asyncio.to_thread(files.clean_image, body)
    now = db_now()
    old = (doc.get("image") or {}).get("sha256")

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        await repo.put_file(deps.db, sha256=clean.sha256, data=clean.data, content_type=clean.content_type,
                            width=clean.width, height=clean.height, now=now, session=session)
        updated = await repo.update_entry(deps.db, doc["_id"], {
            "image": {"sha256": clean.sha256, "content_type": clean.content_type, "width": clean.width,
                      "height": clean.height, "size": len(clean.data), "uploaded_at": now},
            "updated_at": now}, session=session)
        if updated is None:
            raise NotFound("没有这件作品", code="entry_not_found")
        if old and old != clean.sha256:
            await repo.delete_unreferenced_files(deps.db, [old], session=session)
        return updated

    return entry_out(deps, await in_transaction(deps.mongo, work), contest)


async def image_bytes(deps: Deps, entry: dict[str, Any]) -> bytes:
    image = entry.get("image")
    stored = await repo.file_by_sha(deps.db, image["sha256"]) if image else None
    if stored is None:
        raise NotFound("这件作品还没有上传图片", code="image_not_found")
    return bytes(stored["data"])


async def my_image(deps: Deps, principal: Principal, contest_id: str, entry_id: str) -> bytes:
    _, doc = await load_entry(deps, contest_id, entry_id, account_id=principal.account_id)
    return await image_bytes(deps, doc)


# -- entries (staff) ------------------------------------------------------------------------------


async def list_entries(deps: Deps, actor: Actor, contest_id: str, query: EntryQuery) -> EntryPage:
    """Entries of an edition, oldest first; ``status=in_review`` is the moderation queue.
    Three queries whatever the page size (contest, entries, their scores)."""
    contest = await load_contest(deps, contest_id)
    flt = {k: v for k, v in (("status", query.status), ("category", query.category), ("group", query.group)) if v}
    after = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.entries_page(deps.db, contest["_id"], flt, after=after, limit=query.limit + 1)
    page, cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    by_entry: dict[ObjectId, list[dict[str, Any]]] = {}
    for score in await repo.scores_of_entries(deps.db, [d["_id"] for d in page]):
        by_entry.setdefault(score["entry_id"], []).append(score)
    return EntryPage(items=[staff_entry_out(deps, d, by_entry.get(d["_id"], []), actor=actor) for d in page],
                     next_cursor=cursor)


async def staff_entry(deps: Deps, actor: Actor, contest_id: str, entry_id: str) -> StaffEntryOut:
    _, doc = await load_entry(deps, contest_id, entry_id)
    scores = await repo.scores_of_entries(deps.db, [doc["_id"]])
    return staff_entry_out(deps, doc, scores, actor=actor, with_scores=True)


async def staff_image(deps: Deps, contest_id: str, entry_id: str) -> bytes:
    _, doc = await load_entry(deps, contest_id, entry_id)
    return await image_bytes(deps, doc)


async def moderate(deps: Deps, actor: Actor, contest_id: str, entry_id: str, data: ModerationIn) -> StaffEntryOut:
    """Decide an entry WeChat sent for review: accept (it is ``submitted``) or reject with
    a reason the family sees. Conflict unless it is waiting for review."""
    if data.decision == "reject" and not data.reason:
        raise InvalidInput("不通过时请写明原因（家长会看到）", code="reason_required",
                           errors=[FieldProblem(("body", "reason"), "不通过须写明原因")])
    contest, doc = await load_entry(deps, contest_id, entry_id)
    if contest["status"] in rules.SETTLED:
        raise Conflict("比赛已评奖，不能再审核作品", code="contest_settled")
    if doc["status"] != "in_review":
        raise Conflict(f"这件作品{rules.ENTRY_STATUS_LABELS[doc['status']]}，不在待审核队列中", code="not_in_review")
    now = db_now()
    status = "submitted" if data.decision == "accept" else "rejected"
    changes = {"status": status, "updated_at": now,
               "moderation": {"decision": data.decision, "reason": data.reason, "by": actor.username, "at": now}}

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        updated = await repo.update_entry(deps.db, doc["_id"], changes, status_in=["in_review"], session=session)
        if updated is None:
            raise Conflict("这件作品刚刚被别人审核过了", code="not_in_review")
        await audit.record(deps.db, actor, "contest.entry_moderated", target_type="contest_entry",
                           target_id=str(doc["_id"]), room=doc["author"]["home_room"],
                           changes={"decision": data.decision, "reason": data.reason}, session=session)
        return updated

    updated = await in_transaction(deps.mongo, work)
    return staff_entry_out(deps, updated, await repo.scores_of_entries(deps.db, [doc["_id"]]), actor=actor)
