"""书香之家's part of "export my data" and "erase my data" (``accounts.privacy``).

Export: the family's entries (name, statement, declared figures, status, outcome once
decided). Erase, when the account holder is erased (the entry is the family's, i.e. the
account's; erasing only a child leaves it): an entry of a round not yet decided is
withdrawn and anonymised (name → "已注销家庭", statement and figures cleared); an entry of
a decided round keeps only what was published — the family name, room and result.
Either way the link to the account and the library card goes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from miniprogram_api.families import repo
from miniprogram_api.families.service import DECIDED
from server.storage import in_transaction
from training.ratings.models import ENTRY_STATUS_LABELS, OUTCOME_LABELS

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

NAME = "reading_family"
ERASED_NAME = "已注销家庭"


async def export(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]]) -> object:
    rounds = await repo.family_rounds(deps.db)
    entries = await repo.entries_of(deps.db, account["_id"], list(rounds))
    out = []
    for e in entries:
        round_doc = rounds.get(e["round_id"], {})
        decided = round_doc.get("status") in DECIDED
        out.append({
            "id": str(e["_id"]), "round": round_doc.get("title"), "year": round_doc.get("year"),
            "family_name": e["subject"]["name"], "room": e["subject"].get("room"), "town": e.get("town"),
            "statement": e.get("statement"), "evidence": e.get("evidence") or {},
            "status": ENTRY_STATUS_LABELS.get(e["status"], e["status"]),
            "outcome": OUTCOME_LABELS.get(e.get("outcome") or "") if decided else None,
            "submitted_at": e.get("created_at"),
        })
    return out


async def erase(deps: Deps, account: dict[str, Any], members: list[dict[str, Any]], now: datetime) -> None:
    if not any(m.get("relation") == "self" for m in members):
        return  # a child erased on their own: the family's entry is the holder's
    rounds = await repo.family_rounds(deps.db)
    entries = await repo.entries_of(deps.db, account["_id"], list(rounds))
    if not entries:
        return

    planned: list[tuple[Any, dict[str, Any]]] = []
    for e in entries:
        changes: dict[str, Any] = {
            "subject_key": f"family:erased:{e['_id']}", "subject.account_id": None, "subject.reader_id": None,
            "applicant.by": "mp:erased", "statement": "", "evidence": {}, "updated_at": now}
        if rounds.get(e["round_id"], {}).get("status") not in DECIDED and not e.get("history"):
            changes["subject.name"] = ERASED_NAME
            if e["status"] != "withdrawn":
                changes["status"] = "withdrawn"
                changes["withdrawn"] = {"by": "mp:erased", "reason": "家庭注销了小程序账号", "at": now}
        planned.append((e["_id"], changes))

    async def work(session: AsyncClientSession) -> None:
        await repo.anonymise(deps.db, planned, session=session)

    await in_transaction(deps.mongo, work)
