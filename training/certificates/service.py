"""Certificates (培训证书): issue for completed courses, list, print, export, revoke, verify.

A course is COMPLETED by a person when they were ``present`` at a finished session of it
AND (the course has no quiz OR they have a passed attempt). ``issue_due`` issues one
certificate per completed (course, person) that has none, numbered JNPX-<year>-<NNNN> in
the order issued within the year of ``issued_on`` (the day the course was completed: the
later of the session's end and the passing attempt, Asia/Shanghai).
"""

from __future__ import annotations

import asyncio
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from bson import ObjectId
from pymongo.errors import BulkWriteError, DuplicateKeyError

from server.audit import repo as audit
from server.errors import NotFound, RuleViolation
from server.pagination import decode_id_cursor, split_page
from server.resources import Deps
from server.staff.roles import DISTRICT, Actor, Role
from server.storage import db_now, in_transaction
from server.web.templating import LOCAL_TZ
from training.certificates import documents, repo
from training.certificates.models import (
    KIND_LABELS,
    LEVEL_LABELS,
    CertificateOut,
    CertificatePage,
    CertificateQuery,
    ExportQuery,
    PublicCertificate,
    RevokeIn,
    certificate_number,
)
from training.quizzes import repo as quizzes_repo

MANAGERS = DISTRICT | {Role.TRAINER}
ISSUE_RETRIES = 8  # a concurrent issue for the same person wins the unique key; re-read and go on
EXPORT_MAX_ROWS = 20_000


def verify_url(deps: Deps, token: str) -> str:
    return f"{deps.settings.public_url.rstrip('/')}/public/training/certificates/{token}"


def certificate_out(deps: Deps, doc: dict[str, Any]) -> CertificateOut:
    return CertificateOut(
        number=doc["number"], course_id=str(doc["course_id"]) if doc.get("course_id") else None,
        course_code=doc.get("course_code") or "", course_title=doc["course_title"], hours=doc["hours"],
        level=doc["level"], level_label=LEVEL_LABELS[doc["level"]], kind=doc["kind"], kind_label=KIND_LABELS[doc["kind"]],
        staff_id=doc.get("staff_id"), username=doc.get("username"), name=doc["name"], rooms=doc.get("rooms") or [],
        issued_on=datetime.fromisoformat(doc["issued_on"]).date(), issued_at=doc["issued_at"], source=doc["source"],
        revoked=doc["revoked"], revoked_reason=doc.get("revoked_reason"), verify_url=verify_url(deps, doc["verify_token"]))


def new_token() -> str:
    return secrets.token_urlsafe(18)


def _local_day(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(LOCAL_TZ).date().isoformat()


# -- issuing ------------------------------------------------------------------------------


async def _completions(deps: Deps, course_oid: ObjectId | None, staff_ids: list[str] | None) -> list[dict[str, Any]]:
    """Every completed (course, person) in scope, with what a certificate needs (one query
    per collection)."""
    db = deps.db
    flt: dict[str, Any] = {"status": "present"}
    if course_oid is not None:
        flt["course_id"] = course_oid
    if staff_ids is not None:
        flt["staff_id"] = {"$in": staff_ids}
    present = await db["training_attendance"].find(flt, {"session_id": 1, "course_id": 1, "staff_id": 1,
                                                          "username": 1, "name": 1}).to_list()
    if not present:
        return []
    sessions = {s["_id"]: s for s in await db["training_sessions"].find(
        {"_id": {"$in": list({p["session_id"] for p in present})}, "status": "finished"},
        {"course_id": 1, "ends_at": 1}).to_list()}
    courses = {c["_id"]: c for c in await db["training_courses"].find(
        {"_id": {"$in": list({p["course_id"] for p in present})}}).to_list()}
    people = sorted({p["staff_id"] for p in present})
    quiz_courses = [cid for cid, c in courses.items() if c.get("quiz")]
    passes: dict[tuple[ObjectId, str], datetime] = {}
    if quiz_courses:
        for a in await quizzes_repo.passed_attempts(db, staff_ids=people, course_ids=quiz_courses):
            passes.setdefault((a["course_id"], a["staff_id"]), a["submitted_at"])  # the first pass
    staff = {str(s["_id"]): s for s in await db["staff"].find(
        {"_id": {"$in": [ObjectId(p) for p in people if ObjectId.is_valid(p)]}},
        {"username": 1, "name": 1, "rooms": 1}).to_list()}
    done: dict[tuple[ObjectId, str], dict[str, Any]] = {}
    for p in present:
        session, course = sessions.get(p["session_id"]), courses.get(p["course_id"])
        if session is None or course is None:
            continue
        key = (course["_id"], p["staff_id"])
        when = session["ends_at"]
        if course.get("quiz"):
            if key not in passes:
                continue
            when = max(when, passes[key])
        if key in done and done[key]["when"] <= when:
            continue
        person = staff.get(p["staff_id"], {})
        done[key] = {"course": course, "staff_id": p["staff_id"], "when": when,
                     "username": person.get("username", p.get("username")), "name": person.get("name", p.get("name")),
                     "rooms": list(person.get("rooms") or [])}
    return sorted(done.values(), key=lambda d: (d["when"], d["staff_id"]))


async def issue_due(deps: Deps, actor: Actor, *, course_id: str | None = None,
                    staff_ids: list[str] | None = None) -> list[CertificateOut]:
    """Issue the certificates due (see the module docstring) for ``course_id`` and/or
    ``staff_ids`` (everything when both are None); returns the new ones. Safe to call at
    any time and concurrently: a (course, person) never gets two. Audited.

    Call it when a session is finished or attendance is corrected (training/courses), and
    after a passed quiz (done by ``training.quizzes.attempts``)."""
    course_oid = None
    if course_id is not None:
        course_oid = quizzes_repo.object_id(course_id)
        if course_oid is None or await quizzes_repo.course(deps.db, course_oid) is None:
            raise NotFound("没有这门课程", code="course_not_found")
    for attempt in range(ISSUE_RETRIES):
        completions = await _completions(deps, course_oid, staff_ids)
        keys = [f"{c['course']['_id']}:{c['staff_id']}" for c in completions]
        have = await repo.existing_completion_keys(deps.db, keys) if keys else set()
        due = [c for c, k in zip(completions, keys, strict=True) if k not in have]
        if not due:
            return []
        try:
            async def work(session: Any, due: list[dict[str, Any]] = due) -> list[dict[str, Any]]:
                return await _insert_due(deps, actor, due, session)

            docs = await in_transaction(deps.mongo, work)
        except (DuplicateKeyError, BulkWriteError) as exc:
            if attempt == ISSUE_RETRIES - 1 or not _duplicate(exc):
                raise
            continue
        return [certificate_out(deps, d) for d in docs]
    return []


def _duplicate(exc: DuplicateKeyError | BulkWriteError) -> bool:
    """A concurrent issue inserted the same (course, person) first."""
    if isinstance(exc, DuplicateKeyError):
        return True
    return all(e.get("code") == 11000 for e in exc.details.get("writeErrors", [])) and bool(
        exc.details.get("writeErrors"))


async def _insert_due(deps: Deps, actor: Actor, due: list[dict[str, Any]], session: Any) -> list[dict[str, Any]]:
    now = db_now()
    by_year: dict[int, list[dict[str, Any]]] = {}
    for c in due:
        c["issued_on"] = _local_day(c["when"])
        by_year.setdefault(int(c["issued_on"][:4]), []).append(c)
    docs = []
    for year, items in sorted(by_year.items()):
        first = await repo.next_numbers(deps.db, year, len(items), session=session)
        for offset, c in enumerate(items):
            course = c["course"]
            docs.append({
                "_id": ObjectId(), "number": certificate_number(year, first + offset), "verify_token": new_token(),
                "course_id": course["_id"], "course_code": course.get("code", ""), "course_title": course["title"],
                "hours": float(course["hours"]), "level": course.get("level", "district"),
                "kind": course.get("kind", "topic"), "staff_id": c["staff_id"], "username": c["username"],
                "name": c["name"], "rooms": c["rooms"], "issued_on": c["issued_on"], "issued_at": now,
                "source": "system", "revoked": False, "revoked_reason": None,
                "completion_key": f"{course['_id']}:{c['staff_id']}", "issued_by": actor.username})
    await repo.insert_many(deps.db, docs, session=session)
    await audit.record(deps.db, actor, "training_certificate.issue", target_type="training_certificates",
                       target_id=docs[0]["number"], changes={"numbers": [d["number"] for d in docs][:1000],
                                                             "count": len(docs)}, session=session)
    return docs


# -- reading ---------------------------------------------------------------------------------


async def _town_rooms(deps: Deps, actor: Actor) -> list[str]:
    docs = await deps.db["rooms"].find({"town": {"$in": sorted(actor.towns)}}, {"code": 1}).to_list()
    return [d["code"] for d in docs]


async def scope_filter(deps: Deps, actor: Actor) -> dict[str, Any]:
    """Managers (district, trainers) see every certificate; a town coordinator those of
    people in their towns' rooms; everybody else only their own."""
    if actor.role in MANAGERS:
        return {}
    if actor.role is Role.TOWN_COORDINATOR:
        return {"$or": [{"rooms": {"$in": await _town_rooms(deps, actor)}}, {"staff_id": actor.staff_id}]}
    return {"staff_id": actor.staff_id}


def _filters(query: CertificateQuery | ExportQuery) -> dict[str, Any]:
    flt: dict[str, Any] = {}
    if getattr(query, "staff_id", None):
        flt["staff_id"] = query.staff_id  # type: ignore[union-attr]
    if query.course_id:
        flt["course_id"] = ObjectId(query.course_id)
    if query.year:
        flt["issued_on"] = {"$gte": f"{query.year}-01-01", "$lte": f"{query.year}-12-31"}
    if query.source:
        flt["source"] = query.source
    q = getattr(query, "q", None)
    if q:
        flt["$or"] = [{"name": {"$regex": re.escape(q)}}, {"number": {"$regex": re.escape(q), "$options": "i"}}]
    return flt


async def list_certificates(deps: Deps, actor: Actor, query: CertificateQuery) -> CertificatePage:
    """Newest first, one page at a time, in the actor's scope."""
    flt = {"$and": [await scope_filter(deps, actor), _filters(query)]}
    if query.cursor:
        flt["$and"].append({"_id": {"$lt": decode_id_cursor(query.cursor)}})
    docs = await repo.page(deps.db, flt, limit=query.limit + 1)
    docs, cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    return CertificatePage(items=[certificate_out(deps, d) for d in docs], next_cursor=cursor)


async def export_xlsx(deps: Deps, actor: Actor, query: ExportQuery) -> bytes:
    flt = {"$and": [await scope_filter(deps, actor), _filters(query)]}
    docs = await repo.page(deps.db, flt, limit=EXPORT_MAX_ROWS)
    certs = [certificate_out(deps, d) for d in docs]
    return await asyncio.to_thread(documents.certificates_xlsx, certs)


async def _visible(deps: Deps, actor: Actor, number: str) -> dict[str, Any]:
    doc = await repo.by_number(deps.db, number)
    if doc is not None and actor.role not in MANAGERS and doc.get("staff_id") != actor.staff_id:
        if actor.role is not Role.TOWN_COORDINATOR or not set(doc.get("rooms") or []) & set(
                await _town_rooms(deps, actor)):
            doc = None  # another person's certificate does not exist for this actor
    if doc is None:
        raise NotFound(f"没有编号为 {number[:40]} 的证书", code="certificate_not_found")
    return doc


async def get_certificate(deps: Deps, actor: Actor, number: str) -> CertificateOut:
    return certificate_out(deps, await _visible(deps, actor, number))


async def certificate_pdf(deps: Deps, actor: Actor, number: str) -> bytes:
    doc = await _visible(deps, actor, number)
    course = await quizzes_repo.course(deps.db, doc["course_id"]) if doc.get("course_id") else None
    return await asyncio.to_thread(documents.certificate_pdf, certificate_out(deps, doc),
                                   issuer=f"{deps.settings.district.name}图书馆",
                                   has_quiz=bool(course and course.get("quiz")))


async def revoke_certificate(deps: Deps, actor: Actor, number: str, body: RevokeIn) -> CertificateOut:
    """Revoke (作废) a certificate with a reason; the verification page then says so.
    Audited. NotFound for an unknown number; a revoked one stays as it was."""
    doc = await repo.by_number(deps.db, number)
    if doc is None:
        raise NotFound(f"没有编号为 {number[:40]} 的证书", code="certificate_not_found")
    if doc["revoked"]:
        raise RuleViolation("这张证书已经作废", code="certificate_already_revoked")

    async def work(session: Any) -> dict[str, Any] | None:
        updated = await repo.revoke(deps.db, number, body.reason, actor.username, db_now(), session=session)
        await audit.record(deps.db, actor, "training_certificate.revoke", target_type="training_certificate",
                           target_id=number, room=(doc.get("rooms") or [None])[0],
                           changes={"reason": body.reason}, session=session)
        return updated

    updated = await in_transaction(deps.mongo, work)
    if updated is None:
        raise RuleViolation("这张证书已经作废", code="certificate_already_revoked")
    return certificate_out(deps, updated)


async def public_certificate(deps: Deps, token: str) -> PublicCertificate:
    """What the public verification page shows for ``token``; NotFound if it names nothing."""
    doc = await repo.by_token(deps.db, token) if 10 <= len(token) <= 64 else None
    if doc is None:
        raise NotFound("没有找到这张证书，请核对二维码或链接", code="certificate_not_found")
    return PublicCertificate(number=doc["number"], name=doc["name"], course_title=doc["course_title"],
                             hours=doc["hours"], level_label=LEVEL_LABELS[doc["level"]],
                             issued_on=datetime.fromisoformat(doc["issued_on"]).date(), valid=not doc["revoked"],
                             revoked_reason=doc.get("revoked_reason"))
