"""The records behind a metric, for the evidence pages: what a reviewer needs to check a
figure, and nothing more. Loans are shown by date and title only — never who borrowed
(Public Library Law art. 43); survey answers as distributions; family records as titles
and counts, not which member."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import TYPE_CHECKING, Any

from miniprogram_api.surveys.service import summarise
from server.errors import FieldProblem, Forbidden, InvalidInput, NotFound
from server.ids import parse_object_id
from server.readers.service import local_today
from server.rooms.service import authorize_room
from server.staff.roles import Actor, Role
from training.ratings.metrics import METRICS, compute, repo
from server.stats.period import Period, local_day, period_of
from training.ratings.metrics.rooms import SIGN_LABELS, WEEKDAY_KEYS

if TYPE_CHECKING:
    from server.resources import Deps

# metric key → which records prove it
EVIDENCE_KINDS: dict[str, str] = {
    **dict.fromkeys(("volumes", "titles", "periodicals", "audio_visual", "holdings_ratio", "stars"), "holdings"),
    **dict.fromkeys(("loans", "loans_per_resident", "borrowing_rate", "readers_share", "residents"), "loans"),
    "opening_days_ratio": "opening",
    **dict.fromkeys(("activities_held", "activity_attendance"), "activities"),
    "stocktake_loss_rate": "stocktake",
    **dict.fromkeys(("satisfaction_rate", "survey_responses"), "survey"),
    **dict.fromkeys(("admin_training_hours", "admin_inducted"), "training"),
    **dict.fromkeys(("family_books_logged", "family_minutes_logged"), "family_logs"),
    "family_loans": "family_loans",
    "family_activities": "family_activities",
    "family_visits": "family_visits",
}
FORMAT_LABELS = {"book": "图书", "periodical": "报刊", "audio_visual": "电子音像制品"}
LOAN_ROWS = 500  # loan records listed on a page (newest first); the counts cover all
MAX_DAYS = 731


def _period(day_from: date | None, day_to: date | None, *, default: Period | None = None,
            names: tuple[str, str] = ("from", "to")) -> Period:
    today = local_today()
    if default is not None and day_from is None and day_to is None:
        return default
    first = day_from or date(today.year, 1, 1)
    last = day_to or min(date(first.year, 12, 31), today)
    if last < first:
        raise InvalidInput("开始日期不能晚于结束日期", code="bad_period",
                           errors=[FieldProblem(("query", names[0]), f"应早于或等于 {names[1]}")])
    if (last - first).days > MAX_DAYS:
        raise InvalidInput("期间最长两年", code="period_too_long",
                           errors=[FieldProblem(("query", names[1]), f"与 {names[0]} 相差不能超过 {MAX_DAYS} 天")])
    return Period(first=first, last=last, today=today)


def _known(key: str, allowed: tuple[str, ...], loc: tuple[str, ...] | None = None) -> str:
    """The evidence kind of metric ``key``: NotFound (a page) or InvalidInput naming ``loc`` (the API)."""
    if key not in EVIDENCE_KINDS or EVIDENCE_KINDS[key] not in allowed:
        if loc is not None:
            raise InvalidInput(f"没有指标 {key} 的依据", code="unknown_metric",
                               errors=[FieldProblem(loc, "应为：" + "、".join(
                                   k for k, v in EVIDENCE_KINDS.items() if v in allowed))])
        raise NotFound(f"没有指标 {key} 的依据页", code="metric_not_found")
    return EVIDENCE_KINDS[key]


ROOM_KINDS = ("holdings", "loans", "opening", "activities", "stocktake", "survey", "training")
FAMILY_KINDS = ("family_logs", "family_loans", "family_activities", "family_visits")


async def room_evidence(deps: Deps, actor: Actor, code: str, key: str, day_from: date | None,
                        day_to: date | None, *, loc: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The figure of ``key`` for room ``code`` over the period and the records behind it.
    An unknown ``key`` is NotFound, or InvalidInput naming ``loc`` when given."""
    kind = _known(key, ROOM_KINDS, loc)
    room = await authorize_room(deps, actor, code)
    period = _period(day_from, day_to, names=("since", "until") if loc else ("from", "to"))
    round_doc = {"year": period.first.year, "period": {"from": period.first.isoformat(),
                                                       "to": period.last.isoformat()}}
    figures = (await compute.compute_metrics(deps, round_doc, [
        {"_id": "room", "subject": {"type": "room", "room": room["code"]}}]))["room"]
    out: dict[str, Any] = {"kind": kind, "key": key, "label": METRICS[key][0], "room": _room_brief(room),
                           "period": {"from": period.first.isoformat(), "to": period.last.isoformat(),
                                      "text": period.text},
                           "metric": figures.get(key), "related": {k: figures[k] for k in figures
                                                                   if EVIDENCE_KINDS.get(k) == kind}}
    out.update(await _ROOM_RECORDS[kind](deps, room, period))
    return out


def _room_brief(room: dict[str, Any]) -> dict[str, Any]:
    return {"code": room["code"], "name": room["name"], "town": room["town"], "residents": room.get("residents"),
            "href": f"/console/rooms/{room['code']}"}


async def _holdings(deps: Deps, room: dict[str, Any], period: Period) -> dict[str, Any]:
    counts = (await repo.holdings(deps.db, [room["code"]])).get(room["code"], {})
    return {"formats": [{"format": f, "label": label, **counts.get(f, {"copies": 0, "titles": 0})}
                        for f, label in FORMAT_LABELS.items()],
            "links": [{"label": "书屋信息与馆藏", "href": f"/console/rooms/{room['code']}"}]}


async def _loans(deps: Deps, room: dict[str, Any], period: Period) -> dict[str, Any]:
    bounds = {"$gte": period.start_utc, "$lt": period.end_utc}
    months = await (await deps.db["loans"].aggregate([
        {"$match": {"room": room["code"], "lent_at": bounds}},
        {"$group": {"_id": {"$dateToString": {"format": "%Y-%m", "date": "$lent_at", "timezone": repo.LOCAL_OFFSET}},
                    "n": {"$sum": 1}}}])).to_list()
    # Only what the figure needs: when, which title, whether it came back. No reader field is read.
    docs = await deps.db["loans"].find({"room": room["code"], "lent_at": bounds},
                                       {"title_id": 1, "lent_at": 1, "returned_at": 1, "_id": 0}
                                       ).sort("lent_at", -1).limit(LOAN_ROWS).to_list()
    titles = await _titles(deps, sorted({d["title_id"] for d in docs}))
    return {"months": sorted(({"month": m["_id"], "loans": int(m["n"])} for m in months), key=lambda m: m["month"]),
            "loans": [{"lent_on": local_day(d["lent_at"]), "title": titles.get(d["title_id"], d["title_id"]),
                       "returned": d.get("returned_at") is not None,
                       "returned_on": local_day(d["returned_at"]) if d.get("returned_at") else None} for d in docs],
            "loan_rows_capped": len(docs) >= LOAN_ROWS}


async def _titles(deps: Deps, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    return {d["_id"]: d.get("title") or d["_id"]
            for d in await deps.db["titles"].find({"_id": {"$in": ids}}, {"title": 1}).to_list()}


async def _opening(deps: Deps, room: dict[str, Any], period: Period) -> dict[str, Any]:
    codes = [room["code"]]
    circulation = (await repo.circulation_days(deps.db, codes, period)).get(room["code"], set())
    openings = (await repo.opening_days(deps.db, codes, period)).get(room["code"], set())
    visits = (await repo.visit_days(deps.db, codes, period)).get(room["code"], {})
    held = {a["held_on"] for a in (await repo.activities(deps.db, codes, period)).get(room["code"], [])}
    open_weekdays = {d for d, spans in (room.get("opening_hours") or {}).items() if spans}
    months: list[dict[str, Any]] = []
    for day in period.days():
        if not months or months[-1]["month"] != day.strftime("%Y-%m"):
            # a grid row starts on Monday: ``lead`` blank cells before the month's first shown day
            months.append({"month": day.strftime("%Y-%m"), "lead": day.weekday(), "days": []})
        iso = day.isoformat()
        signs = [label for kind, label in SIGN_LABELS.items() if
                 (kind == "circulation" and iso in circulation) or (kind == "opening" and iso in openings)
                 or (kind == "activity" and iso in held) or (kind == "visit" and visits.get(iso))]
        expected = WEEKDAY_KEYS[day.weekday()] in open_weekdays
        months[-1]["days"].append({"day": iso, "dom": day.day, "expected": expected, "signs": signs,
                                   "state": "open" if signs and expected else "missed" if expected
                                   else "extra" if signs else "closed"})
    return {"months": months, "weekdays": ["一", "二", "三", "四", "五", "六", "日"],
            "opening_hours": room.get("opening_hours") or {}}


async def _activities(deps: Deps, room: dict[str, Any], period: Period) -> dict[str, Any]:
    docs = (await repo.activities(deps.db, [room["code"]], period)).get(room["code"], [])
    return {"activities": [{"held_on": a["held_on"], "title": a["title"], "kind": a["kind"],
                            "attendance": a["attendance"], "children": a.get("children", 0),
                            "recorded_by": a["recorded_by"]} for a in docs]}


async def _stocktake(deps: Deps, room: dict[str, Any], period: Period) -> dict[str, Any]:
    docs = await deps.db["stocktakes"].find(
        {"room": room["code"], "started_at": {"$lt": period.end_utc}},
        {"state": 1, "started_at": 1, "approved_at": 1, "report.expected_copies": 1, "report.scanned_copies": 1,
         "report.missing": 1}).sort("_id", -1).limit(20).to_list()
    return {"stocktakes": [{
        "id": str(d["_id"]), "state": d["state"], "started_on": local_day(d["started_at"]),
        "approved_on": local_day(d["approved_at"]) if d.get("approved_at") else None,
        "counts": period.start_utc <= d["approved_at"] < period.end_utc if d.get("approved_at") else False,
        "expected": d.get("report", {}).get("expected_copies"), "scanned": d.get("report", {}).get("scanned_copies"),
        "missing": sum(int(m.get("missing", 0)) for m in d.get("report", {}).get("missing", [])),
        "href": f"/api/v1/stocktakes/{d['_id']}"} for d in docs]}


async def _survey(deps: Deps, room: dict[str, Any], period: Period) -> dict[str, Any]:
    docs = (await repo.survey_answers(deps.db, [room["code"]], period)).get(room["code"], [])
    responses, satisfied, questions = summarise(docs)
    return {"responses": responses, "satisfied": satisfied,
            "questions": [q.model_dump(mode="json") for q in questions]}


async def _training(deps: Deps, room: dict[str, Any], period: Period) -> dict[str, Any]:
    admins = (await repo.administrators(deps.db, [room["code"]])).get(room["code"], [])
    return {"administrators": [{"name": a["name"], "username": a["username"],
                                "href": f"/console/training/certificates?staff_id={a['_id']}"} for a in admins]}


_ROOM_RECORDS = {"holdings": _holdings, "loans": _loans, "opening": _opening, "activities": _activities,
                 "stocktake": _stocktake, "survey": _survey, "training": _training}


# -- families ------------------------------------------------------------------------------------------


async def family_evidence(deps: Deps, actor: Actor, entry_id: str, key: str, day_from: date | None,
                          day_to: date | None) -> dict[str, Any]:
    """A 书香之家 entry's figure of ``key`` and the records behind it (titles and counts only)."""
    kind = _known(key, FAMILY_KINDS)
    entry = await deps.db["rating_entries"].find_one({"_id": parse_object_id(entry_id, loc=("path", "entry_id"))})
    if entry is None or entry.get("subject", {}).get("type") != "family":
        raise NotFound("没有这个书香之家申报", code="entry_not_found")
    if actor.role is Role.TOWN_COORDINATOR and entry.get("town") not in actor.towns:
        raise Forbidden("这个申报不在您负责的镇街", code="entry_out_of_scope")
    round_doc = await deps.db["rating_rounds"].find_one({"_id": entry.get("round_id")}, {"year": 1, "period": 1}) or {}
    period = _period(day_from, day_to, default=period_of(round_doc, local_today()))
    doc = {"year": period.first.year, "period": {"from": period.first.isoformat(), "to": period.last.isoformat()}}
    figures = (await compute.compute_metrics(deps, doc, [entry]))[str(entry["_id"])]
    out: dict[str, Any] = {"kind": kind, "key": key, "label": METRICS[key][0], "entry_id": str(entry["_id"]),
                           "family": entry["subject"].get("name", ""), "town": entry.get("town"),
                           "period": {"from": period.first.isoformat(), "to": period.last.isoformat(),
                                      "text": period.text}, "metric": figures.get(key)}
    members, cards = await _family_people(deps, entry)
    if kind == "family_logs":
        parts = await repo.participants(deps.db, members, cards)
        logs = await repo.counted_logs(deps.db, [p["_id"] for p in parts], period)
        challenges = await repo.challenges(deps.db, sorted({p["challenge_id"] for p in parts}))
        out["logs"] = [{"read_on": g["read_on"], "book": g.get("book_title") or "（未填书名）", "amount": g["amount"],
                        "unit": challenges.get(g["challenge_id"], {}).get("unit", ""),
                        "challenge": challenges.get(g["challenge_id"], {}).get("title", "")}
                       for g in sorted(logs, key=lambda g: g["read_on"])]
    elif kind == "family_loans":
        docs = await deps.db["loans"].find(
            {"reader_id": {"$in": cards}, "lent_at": {"$gte": period.start_utc, "$lt": period.end_utc}},
            {"title_id": 1, "lent_at": 1, "_id": 0}).sort("lent_at", 1).to_list() if cards else []
        titles = await _titles(deps, sorted({d["title_id"] for d in docs}))
        out["months"] = sorted(Counter(local_day(d["lent_at"])[:7] for d in docs).items())
        out["loans"] = [{"lent_on": local_day(d["lent_at"]), "title": titles.get(d["title_id"], d["title_id"])}
                        for d in docs]
    elif kind == "family_activities":
        parts = await repo.participants(deps.db, members, cards)
        challenges = await repo.challenges(deps.db, sorted({p["challenge_id"] for p in parts}))
        out["challenges"] = sorted({challenges.get(p["challenge_id"], {}).get("title", "阅读打卡活动") for p in parts})
        out["contest"] = [{"category": c.get("category", ""), "title": c.get("title", ""),
                           "on": local_day(c["submitted_at"])}
                          for c in await repo.contest_entries(deps.db, members, period)]
    return out


async def _family_people(deps: Deps, entry: dict[str, Any]) -> tuple[list[Any], list[Any]]:
    subject = entry["subject"]
    account = compute.oid(subject.get("account_id"))
    members = await repo.members_of_accounts(deps.db, [account]) if account else []
    cards = {m["reader_id"] for m in members if m.get("reader_id")}
    desk = compute.oid(subject.get("reader_id"))
    if desk:
        cards.add(desk)
    return [m["_id"] for m in members], sorted(cards)
