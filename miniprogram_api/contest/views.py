"""How the contest's documents look to the outside: editions for staff and for families,
entries for their family and for the judges. Pure functions of documents (the phone is
decrypted only to be masked)."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from miniprogram_api.contest import files, rules
from miniprogram_api.contest.models import (
    AuthorOut,
    ContestOut,
    ContestPublic,
    EntryOut,
    GroupRule,
    ImageOut,
    ModerationOut,
    Quota,
    ResultOut,
    ScoreOut,
    StaffEntryOut,
    TeacherOut,
)
from server.crypto import mask_phone
from server.readers.service import local_today

if TYPE_CHECKING:
    from server.resources import Deps
    from server.staff.roles import Actor

PHONE_CONTEXT = "contest.phone"  # the associated data of an entry's encrypted contact phone


def day(value: str) -> date:
    return date.fromisoformat(value)


def accepting(contest: dict[str, Any], today: date | None = None) -> bool:
    return rules.accepting_entries(contest["status"], day(contest["opens_on"]), day(contest["closes_on"]),
                                   today or local_today())


def contest_out(doc: dict[str, Any], today: date | None = None) -> ContestOut:
    return ContestOut(
        id=str(doc["_id"]), year=doc["year"], title=doc["title"], opens_on=day(doc["opens_on"]),
        closes_on=day(doc["closes_on"]), status=doc["status"], status_label=rules.STATUS_LABELS[doc["status"]],
        accepting_entries=accepting(doc, today),
        award_quotas={c: {g: Quota(**q) for g, q in groups.items()} for c, groups in doc["award_quotas"].items()},
        judges=doc.get("judges", []), created_at=doc["created_at"], updated_at=doc["updated_at"],
        awarded_at=doc.get("awarded_at"), reported_at=doc.get("reported_at"),
    )


def contest_public(doc: dict[str, Any], today: date | None = None) -> ContestPublic:
    return ContestPublic(
        id=str(doc["_id"]), year=doc["year"], title=doc["title"], opens_on=day(doc["opens_on"]),
        closes_on=day(doc["closes_on"]), status=doc["status"], status_label=rules.STATUS_LABELS[doc["status"]],
        accepting_entries=accepting(doc, today), categories=list(rules.CATEGORIES),
        image_categories=[c for c in rules.CATEGORIES if c in rules.IMAGE_CATEGORIES],
        groups=[GroupRule(group=g, essay_limit=rules.ESSAY_LIMITS[g], min_age=rules.GROUP_AGES[g][0],
                          max_age=rules.GROUP_AGES[g][1]) for g in rules.GROUPS],
        image_types=list(files.IMAGE_TYPES), image_max_bytes=files.IMAGE_MAX_BYTES,
    )


def _teacher(doc: dict[str, Any]) -> TeacherOut | None:
    return TeacherOut(**doc["teacher"]) if doc.get("teacher") else None


def _phone(deps: Deps, doc: dict[str, Any]) -> str | None:
    enc = doc.get("phone_enc")
    return mask_phone(deps.cipher.decrypt(enc, context=PHONE_CONTEXT)) if enc else None


def _image(doc: dict[str, Any]) -> ImageOut | None:
    image = doc.get("image")
    return ImageOut(content_type=image["content_type"], width=image["width"], height=image["height"],
                    size=image["size"]) if image else None


def complete(doc: dict[str, Any]) -> bool:
    """The work itself is there: an essay's text, a picture's image."""
    return bool(doc.get("image")) if doc["category"] in rules.IMAGE_CATEGORIES else bool(doc.get("text"))


def has_certificate(entry: dict[str, Any], contest: dict[str, Any]) -> bool:
    return contest["status"] in rules.SETTLED and entry.get("award") not in (None, "none")


def entry_out(deps: Deps, doc: dict[str, Any], contest: dict[str, Any]) -> EntryOut:
    result = None
    if contest["status"] in rules.SETTLED and doc["status"] == "submitted":
        award = doc.get("award") or "none"
        result = ResultOut(award=award, award_label=rules.award_label(award), recommended=doc.get("recommended", False),
                           certificate_available=has_certificate(doc, contest))
    moderation = doc.get("moderation") or {}
    return EntryOut(
        id=str(doc["_id"]), contest_id=str(doc["contest_id"]), member_id=str(doc["member_id"]),
        member_name=doc["author"]["name"], category=doc["category"], group=doc["group"], title=doc["title"],
        text=doc.get("text"), teacher=_teacher(doc), phone_contact=_phone(deps, doc), status=doc["status"],
        status_label=rules.ENTRY_STATUS_LABELS[doc["status"]],
        rejection_reason=moderation.get("reason") if doc["status"] == "rejected" else None,
        needs_image=doc["category"] in rules.IMAGE_CATEGORIES and not doc.get("image"), image=_image(doc),
        result=result, submitted_at=doc["submitted_at"],
    )


def mean_of(scores: list[int]) -> float | None:
    return round(sum(scores) / len(scores), 2) if scores else None


def staff_entry_out(deps: Deps, doc: dict[str, Any], scores: list[dict[str, Any]], *, actor: Actor,
                    with_scores: bool = False) -> StaffEntryOut:
    values = [s["score"] for s in scores]
    mine = next((s["score"] for s in scores if s["judge_id"] == actor.staff_id), None)
    moderation = doc.get("moderation")
    award = doc.get("award")
    return StaffEntryOut(
        id=str(doc["_id"]), contest_id=str(doc["contest_id"]), category=doc["category"], group=doc["group"],
        title=doc["title"], text=doc.get("text"), teacher=_teacher(doc), phone_contact=_phone(deps, doc),
        author=AuthorOut(**doc["author"]), status=doc["status"], status_label=rules.ENTRY_STATUS_LABELS[doc["status"]],
        content_check=doc.get("content_check", "pass"),
        moderation=ModerationOut(**moderation) if moderation else None, image=_image(doc), complete=complete(doc),
        score_count=len(values), mean_score=mean_of(values), my_score=mine,
        scores=[ScoreOut(judge=s["judge"], score=s["score"], comment=s.get("comment"), scored_at=s["scored_at"],
                         updated_at=s["updated_at"]) for s in scores] if with_scores else None,
        rank=doc.get("rank"), award=award, award_label=rules.award_label(award) if award else None,
        recommended=doc.get("recommended", False), certificate_no=doc.get("certificate_no"),
        submitted_at=doc["submitted_at"],
    )
