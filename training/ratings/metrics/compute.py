"""``compute_metrics``: every metric of a round's entries from shuwu's own records.

One query per collection for all the entries together (rooms, staff, holdings, loans,
visits, openings, activities, stocktakes, surveys, training; members, participants, logs,
challenges, contest entries for families), so the cost does not grow with the entries.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.readers.service import local_today
from training.ratings.metrics import repo
from training.ratings.metrics.families import FamilyFacts, family_metrics
from server.stats.period import Period, period_of
from training.ratings.metrics.rooms import RoomFacts, holdings_standards, metric, room_metrics
from training.ratings.metrics.stars import star_detail, star_level

if TYPE_CHECKING:
    from server.resources import Deps


async def compute_metrics(deps: Deps, round: dict[str, Any], entries: list[dict[str, Any]]
                          ) -> dict[str, dict[str, dict[str, Any]]]:
    """entry id (str) → metric key → Metric ``{value, unit, label, detail, links}`` for the
    round's ``period``. Rooms and administrators get the room metrics (an administrator's
    over their rooms, with their own training); families the family metrics. Reads only."""
    period = period_of(round, local_today())
    year = int(round.get("year") or period.first.year)
    room_entries = [e for e in entries if e.get("subject", {}).get("type") in ("room", "staff")]
    family_entries = [e for e in entries if e.get("subject", {}).get("type") == "family"]
    out: dict[str, dict[str, dict[str, Any]]] = {}
    if room_entries:
        out.update(await _room_entries(deps, room_entries, period, year))
    if family_entries:
        out.update(await _family_entries(deps, family_entries, period))
    return out


def _rooms_of(entry: dict[str, Any], staff: dict[str, dict[str, Any]]) -> list[str]:
    subject = entry["subject"]
    if subject["type"] == "staff":
        doc = staff.get(str(subject.get("staff_id")))
        if doc and doc.get("rooms"):
            return sorted(doc["rooms"])
    return [subject["room"]] if subject.get("room") else []


async def _training(deps: Deps, staff_ids: list[str], year: int) -> dict[str, Any] | None:
    """staff id → TrainingStatus, or None when the training records cannot be read."""
    try:
        from training.certificates.requirements import training_status
    except ImportError:
        return None
    return await training_status(deps, staff_ids, year) if staff_ids else {}


def _person(staff_id: str, name: str, statuses: dict[str, Any]) -> dict[str, Any]:
    s = statuses.get(staff_id)
    return {"staff_id": staff_id, "name": name, "hours": float(getattr(s, "hours_in_year", 0.0) or 0.0),
            "inducted": bool(getattr(s, "inducted", False)), "induction_number": getattr(s, "induction_number", None)}


async def _room_entries(deps: Deps, entries: list[dict[str, Any]], period: Period, year: int
                        ) -> dict[str, dict[str, dict[str, Any]]]:
    db = deps.db
    staff_ids = [str(e["subject"]["staff_id"]) for e in entries if e["subject"]["type"] == "staff"
                 and e["subject"].get("staff_id")]
    staff = await repo.staff(db, staff_ids) if staff_ids else {}
    rooms_of = {str(e["_id"]): _rooms_of(e, staff) for e in entries}
    codes = sorted({c for cs in rooms_of.values() for c in cs})
    rooms = await repo.rooms(db, codes)
    holdings = await repo.holdings(db, codes)
    loans = await repo.loans(db, codes, period)
    circulation = await repo.circulation_days(db, codes, period)
    visits = await repo.visit_days(db, codes, period)
    openings = await repo.opening_days(db, codes, period)
    activities = await repo.activities(db, codes, period)
    stocktakes = await repo.stocktakes(db, codes, period)
    answers = await repo.survey_answers(db, codes, period)
    admins = await repo.administrators(db, codes)
    people = sorted({str(a["_id"]) for room_admins in admins.values() for a in room_admins} | set(staff_ids))
    statuses = await _training(deps, people, year)
    standards = holdings_standards(deps.settings.district.standards)

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for entry in entries:
        key = str(entry["_id"])
        subject = entry["subject"]
        codes_here = [c for c in rooms_of[key] if c in rooms]
        facts = RoomFacts(codes=codes_here, rooms=[rooms[c] for c in codes_here])
        for code in codes_here:
            for fmt, counts in holdings.get(code, {}).items():
                into = facts.holdings.setdefault(fmt, {"copies": 0, "titles": 0})
                into["copies"] += counts["copies"]
                into["titles"] += counts["titles"]
            lent = loans.get(code, {})
            facts.loans += lent.get("loans", 0)
            facts.readers += lent.get("readers", 0)
            facts.anonymised += lent.get("anonymised", 0)
            signs: dict[str, set[str]] = defaultdict(set)
            for day in circulation.get(code, ()):
                signs[day].add("circulation")
            for day in openings.get(code, ()):
                signs[day].add("opening")
            for day, n in visits.get(code, {}).items():
                if n:
                    signs[day].add("visit")
            for a in activities.get(code, []):
                signs[a["held_on"]].add("activity")
            facts.signs[code] = signs
            facts.activities += activities.get(code, [])
            if code in stocktakes:
                facts.stocktakes.append(stocktakes[code])
            facts.answers += answers.get(code, [])
        if statuses is not None:
            if subject["type"] == "staff":
                sid = str(subject.get("staff_id"))
                who = [_person(sid, staff.get(sid, {}).get("name") or subject.get("name", ""), statuses)]
            else:
                who = [_person(str(a["_id"]), a["name"], statuses)
                       for c in codes_here for a in admins.get(c, [])]
            facts.training = {"year": year, "people": who}
        if not codes_here:
            out[key] = {"volumes": metric("volumes", None, "找不到对应的书屋，无法计算")}
            continue
        metrics = room_metrics(facts, period, standards)
        if subject["type"] == "room":
            room = rooms[codes_here[0]]
            level, _ = star_level(room, metrics)
            metrics["stars"] = metric("stars", level, star_detail(room, metrics),
                                      [{"label": "查看书屋信息", "href": f"/console/rooms/{room['code']}"}])
        out[key] = metrics
    return out


def oid(value: Any) -> ObjectId | None:
    if isinstance(value, ObjectId):
        return value
    return ObjectId(value) if isinstance(value, str) and ObjectId.is_valid(value) else None


async def _family_entries(deps: Deps, entries: list[dict[str, Any]], period: Period
                          ) -> dict[str, dict[str, dict[str, Any]]]:
    db = deps.db
    accounts = {str(e["_id"]): oid(e["subject"].get("account_id")) for e in entries}
    desk_cards = {str(e["_id"]): oid(e["subject"].get("reader_id")) for e in entries}
    members = await repo.members_of_accounts(db, sorted({a for a in accounts.values() if a}))
    by_account: dict[ObjectId, list[dict[str, Any]]] = defaultdict(list)
    for m in members:
        by_account[m["account_id"]].append(m)
    family_members: dict[str, list[ObjectId]] = {}
    family_cards: dict[str, set[ObjectId]] = {}
    for key in accounts:
        account = accounts[key]
        mine = by_account.get(account, []) if account is not None else []
        family_members[key] = [m["_id"] for m in mine]
        family_cards[key] = {m["reader_id"] for m in mine if m.get("reader_id")} | (
            {desk_cards[key]} if desk_cards[key] else set())  # type: ignore[arg-type]
    all_members = sorted({m for ms in family_members.values() for m in ms})
    all_cards = sorted({c for cs in family_cards.values() for c in cs})
    loans = await repo.loans_by_reader(db, all_cards, period)
    parts = await repo.participants(db, all_members, all_cards)
    logs = await repo.counted_logs(db, [p["_id"] for p in parts], period)
    challenges = await repo.challenges(db, sorted({p["challenge_id"] for p in parts}))
    contest = await repo.contest_entries(db, all_members, period)

    owner: dict[Any, set[str]] = defaultdict(set)  # member id / card → entry ids
    for key in accounts:
        for member_id in family_members[key]:
            owner[member_id].add(key)
        for card in family_cards[key]:
            owner[card].add(key)
    part_owner: dict[ObjectId, set[str]] = {p["_id"]: owner.get(p.get("member_id"), set())
                                            | owner.get(p.get("reader_id"), set()) for p in parts}
    facts = {key: FamilyFacts(people=len(family_members[key]) or (1 if desk_cards[key] else 0),
                              cards=len(family_cards[key]),
                              loans=sum(loans.get(c, 0) for c in family_cards[key])) for key in accounts}
    for p in parts:
        joined = p.get("joined_at")
        if joined is not None and period.start_utc <= joined < period.end_utc:
            for key in part_owner[p["_id"]]:
                facts[key].challenges.add(p["challenge_id"])
    for log in logs:
        unit = challenges.get(log["challenge_id"], {}).get("unit")
        for key in part_owner.get(log["participant_id"], set()):
            facts[key].logs.append({**log, "unit": unit})
            facts[key].challenges.add(log["challenge_id"])
    for work in contest:
        for key in owner.get(work["member_id"], set()):
            facts[key].contest_entries += 1
    return {key: family_metrics(key, facts[key], period) for key in accounts}
