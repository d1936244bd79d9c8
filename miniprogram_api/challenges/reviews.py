"""Readers' reviews of books: checked by WeChat's msgSecCheck (v2) at submission, shown only
after staff approval.

- ``risky`` is refused at once, kindly; nothing is stored.
- ``review`` and ``pass`` both wait for staff: a pass only marks the review low-risk.
- WeChat busy or unreachable: 503 with Retry-After, nothing stored (the op_id is not
  used up, so the same submission can be sent again).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bson import ObjectId
from pydantic import TypeAdapter, ValidationError
from pymongo.errors import DuplicateKeyError

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.accounts.principal import Principal, require_member
from miniprogram_api.accounts.service import wechat_problem
from miniprogram_api.challenges import repo
from miniprogram_api.challenges.models import (
    DecisionIn,
    PageQuery,
    PublicReview,
    ReviewIn,
    ReviewOut,
    ReviewPage,
    ReviewQuery,
    TitleId,
    TitleReviews,
)
from miniprogram_api.wechat import WeChatError
from server import idempotency
from server.audit import repo as audit
from server.catalog import repo as catalog_repo
from server.crypto import mask_name
from server.errors import Conflict, FieldProblem, InvalidInput, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_id_cursor, split_page
from server.staff.roles import Actor
from server.storage import db_now, in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

SCENE_COMMENT = 2  # msgSecCheck scene: 评论
RISKY_MESSAGE = "谢谢你的分享！书评里有一些不适合公开的内容，请修改后再提交。"
_TITLE_ID: TypeAdapter[str] = TypeAdapter(TitleId)
_MOVES = {("pending", "approved"), ("pending", "rejected"), ("approved", "rejected"), ("rejected", "approved")}


async def _out(deps: Deps, docs: list[dict[str, Any]]) -> list[ReviewOut]:
    """Reviews with the member's masked name and the book's title: two queries."""
    members = await accounts_repo.members_by_ids(deps.db, [d["member_id"] for d in docs if d.get("member_id")])
    titles = {t["_id"]: t.get("title") for t in await catalog_repo.by_ids(deps.db, sorted({d["title_id"] for d in docs}))}
    out = []
    for d in docs:
        m = members.get(d["member_id"]) if d.get("member_id") else None
        out.append(ReviewOut(id=str(d["_id"]), member_id=str(d["member_id"]) if d.get("member_id") else None,
                             name=mask_name(m["name"]) if m else "读者", title_id=d["title_id"],
                             title=titles.get(d["title_id"]), rating=d["rating"], text=d["text"], status=d["status"],
                             risk=d["risk"], reason=d.get("reason"), created_at=d["created_at"],
                             decided_at=d.get("decided_at")))
    return out


async def submit(deps: Deps, principal: Principal, data: ReviewIn) -> ReviewOut:
    """A member's review of a catalog title, pending staff approval. One per member and title."""
    member = await require_member(deps, principal, data.member_id, loc=("body", "member_id"))
    op_id = principal.op_key(data.op_id)
    prior = await idempotency.previous(deps.db, op_id, "book_review")
    if prior is not None:  # a replay: the first answer, without asking WeChat again
        if not prior["ok"]:
            idempotency.reraise(prior)
        doc = await repo.review_by_id(deps.db, ObjectId(prior["result"]["review_id"]))
        if doc is None:
            raise Conflict("这条书评已被删除", code="review_erased")
        return (await _out(deps, [doc]))[0]
    if await catalog_repo.by_id(deps.db, data.title_id) is None:
        raise InvalidInput(f"目录中没有 {data.title_id}", code="unknown_title",
                           errors=[FieldProblem(("body", "title_id"), "目录中没有这本书")])
    if await repo.has_review(deps.db, member["_id"], data.title_id):
        raise Conflict("已经为这本书写过书评了", code="review_exists")
    try:
        verdict = await deps.wechat.msg_sec_check(openid=principal.openid, content=data.text, scene=SCENE_COMMENT)
    except WeChatError as exc:
        raise wechat_problem(exc, field=("body", "text")) from None
    if verdict == "risky":
        raise RuleViolation(RISKY_MESSAGE, code="content_risky", errors=[FieldProblem(("body", "text"), "请修改后再提交")])
    doc = {"_id": ObjectId(), "account_id": principal.account_id, "member_id": member["_id"], "title_id": data.title_id,
           "rating": data.rating, "text": data.text, "status": "pending", "risk": verdict, "reason": None,
           "created_at": db_now(), "decided_at": None, "decided_by": None}

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        try:
            await repo.insert_review(deps.db, doc, session=session)
        except DuplicateKeyError:
            raise Conflict("已经为这本书写过书评了", code="review_exists") from None
        return {"review_id": str(doc["_id"])}

    await idempotency.run_once(deps.db, deps.mongo, op_id=op_id, kind="book_review", room=member["home_room"],
                               actor=f"mp:{principal.account_id}", work=work)
    return (await _out(deps, [doc]))[0]


async def mine(deps: Deps, principal: Principal, query: PageQuery) -> ReviewPage:
    """The family's own reviews, whatever their status."""
    before = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.reviews_page(deps.db, {"account_id": principal.account_id}, before=before,
                                   limit=query.limit + 1)
    docs, cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    return ReviewPage(items=await _out(deps, docs), next_cursor=cursor)


async def staff_queue(deps: Deps, query: ReviewQuery) -> ReviewPage:
    before = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.reviews_page(deps.db, {"status": query.status}, before=before, limit=query.limit + 1)
    docs, cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    return ReviewPage(items=await _out(deps, docs), next_cursor=cursor)


async def decide(deps: Deps, actor: Actor, review_id: str, data: DecisionIn) -> ReviewOut:
    """Approve (shown to everyone) or reject (with a reason the author sees). An approved
    review may be taken down later. Audited."""
    oid = parse_object_id(review_id, loc=("path", "review_id"))
    status = "approved" if data.decision == "approve" else "rejected"

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        doc = await repo.review_by_id(deps.db, oid, session=session)
        if doc is None:
            raise NotFound("没有这条书评", code="review_not_found")
        if (doc["status"], status) not in _MOVES:
            raise Conflict("这条书评已经是这个状态了", code="review_unchanged")
        changes = {"status": status, "reason": data.reason or None, "decided_at": db_now(),
                   "decided_by": actor.username}
        await repo.set_review(deps.db, oid, changes, session=session)
        await audit.record(deps.db, actor, f"review.{data.decision}", target_type="book_review", target_id=str(oid),
                           changes={"from": doc["status"], "to": status, "reason": data.reason}, session=session)
        return {**doc, **changes}

    doc = await in_transaction(deps.mongo, work)
    return (await _out(deps, [doc]))[0]


async def for_title(deps: Deps, title_id: str, query: PageQuery) -> TitleReviews:
    """Approved reviews of a title, newest first, names masked; with the count and mean rating."""
    before = decode_id_cursor(query.cursor) if query.cursor else None  # the query first, then the path
    try:
        _TITLE_ID.validate_python(title_id)
    except ValidationError:
        raise InvalidInput("书号格式不正确", code="invalid_title_id",
                           errors=[FieldProblem(("path", "title_id"), "应为 ISBN-13 或内部编号")]) from None
    count, average = await repo.review_summary(deps.db, title_id)
    docs = await repo.reviews_page(deps.db, {"title_id": title_id, "status": "approved"}, before=before,
                                   limit=query.limit + 1)
    docs, cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    members = await accounts_repo.members_by_ids(deps.db, [d["member_id"] for d in docs if d.get("member_id")])
    items = [PublicReview(id=str(d["_id"]), name=mask_name(members[d["member_id"]]["name"])
                          if d.get("member_id") in members else "读者", rating=d["rating"], text=d["text"],
                          created_at=d["created_at"]) for d in docs]
    return TitleReviews(title_id=title_id, count=count, average=round(average, 2) if average is not None else None,
                        items=items, next_cursor=cursor)
