"""The contest's part of "export my data" and "erase my data" (``accounts.privacy``).

Export: every entry of the members — the work (title, essay text, picture's details), the
teacher named, the status and result. Erase: the entries, the judges' scores of them, and
their pictures (unless another entry shows the very same picture).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from miniprogram_api.contest import repo, rules
from miniprogram_api.contest.views import PHONE_CONTEXT
from server.storage import in_transaction

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

NAME = "contest"


async def export(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]]) -> object:
    entries = await repo.entries_of_members(deps.db, [m["_id"] for m in members])
    contests = await repo.contests_by_ids(deps.db, [e["contest_id"] for e in entries])
    out = []
    for e in entries:
        contest = contests.get(e["contest_id"]) or {}
        settled = contest.get("status") in rules.SETTLED
        image = e.get("image")
        out.append({
            "id": str(e["_id"]), "member_id": str(e["member_id"]), "contest": contest.get("title"),
            "year": contest.get("year"), "category": e["category"], "group": e["group"], "title": e["title"],
            "text": e.get("text"), "teacher": e.get("teacher"), "phone_contact": deps.cipher.decrypt(e["phone_enc"], context=PHONE_CONTEXT) if e.get("phone_enc") else None,
            "author": e.get("author"), "status": e["status"],
            "rejection_reason": (e.get("moderation") or {}).get("reason") if e["status"] == "rejected" else None,
            "image": {k: image[k] for k in ("sha256", "content_type", "width", "height", "size")} if image else None,
            "award": rules.award_label(e.get("award")) if settled else None,
            "recommended": e.get("recommended", False) if settled else None,
            "certificate_no": e.get("certificate_no"), "submitted_at": e["submitted_at"],
        })
    return out


async def erase(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]], now: datetime) -> None:
    entries = await repo.entries_of_members(deps.db, [m["_id"] for m in members])
    if not entries:
        return
    ids = [e["_id"] for e in entries]
    shas = [e["image"]["sha256"] for e in entries if e.get("image")]

    async def work(session: AsyncClientSession) -> None:
        await repo.delete_scores(deps.db, ids, session=session)
        await repo.delete_entries(deps.db, ids, session=session)
        await repo.delete_unreferenced_files(deps.db, shas, session=session)

    await in_transaction(deps.mongo, work)
