"""The 2014 and 2015 results (DOMAIN / issue 6): in 2014, 3 city-level model rooms and 5 model
administrators; in 2015, 10 district model rooms, 20 model administrators and 10 书香之家.

The real names are not in the system: rooms are demo rooms picked deterministically from the
``rooms`` collection, people and families carry demo names. Each past round is stored decided,
reported and locked, with ``history: true``; ids derive from (year, kind, level, n), so
``load_history`` is idempotent, and a (year, kind, level) that already has a round is left alone.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bson import ObjectId

from server.audit import repo as audit
from server.staff.roles import Actor
from server.storage import db_now, in_transaction
from training.ratings import repo, rubrics
from training.ratings.models import KIND_LABELS, LEVEL_LABELS, HistoryOut
from training.ratings.service import KIND_CODES, LEVEL_CODES

if TYPE_CHECKING:
    from server.resources import Deps

# (year, kind, level, how many were awarded)
HISTORY: tuple[tuple[int, str, str, int], ...] = (
    (2014, "model_room", "city", 3), (2014, "model_admin", "city", 5),
    (2015, "model_room", "district", 10), (2015, "model_admin", "district", 20),
    (2015, "reading_family", "district", 10),
)
_SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶"
_GIVEN = ("秀英 桂英 秀兰 玉兰 淑珍 建国 建华 志强 永刚 海燕 春梅 丽华 国庆 红霞 晓东 文静 宏伟 志明 凤琴 淑华 德胜 玉梅 "
          "俊峰 金凤 立新 晓燕 振华 美玲 广平 雪梅").split()


def _fixed_id(*parts: object) -> ObjectId:
    return ObjectId(hashlib.sha256("|".join(map(str, ("rating-history", *parts))).encode()).hexdigest()[:24])


def _names(rng: random.Random, count: int) -> list[str]:
    names: list[str] = []
    while len(names) < count:
        name = rng.choice(_SURNAMES) + rng.choice(_GIVEN)
        if name not in names:
            names.append(name)
    return names


def history_documents(rooms: list[dict[str, Any]], skip: set[tuple[int, str, str]]
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rounds, entries) of the past results, leaving out the (year, kind, level) in ``skip``."""
    now = db_now()
    ordered = sorted(rooms, key=lambda r: r["code"])
    round_docs, entry_docs = [], []
    for year, kind, level, count in HISTORY:
        if (year, kind, level) in skip:
            continue
        rng = random.Random(f"{year}-{kind}-{level}")
        round_id = _fixed_id(year, kind, level)
        decided = datetime(year, 12, 20, 2, 0, tzinfo=UTC)
        round_docs.append({
            "_id": round_id, "year": year, "kind": kind, "level": level,
            "title": f"{year}年度{LEVEL_LABELS[level]}{KIND_LABELS[kind]}评选（历史记录）",
            "period": {"from": f"{year}-01-01", "to": f"{year}-12-31"},
            "rubric": rubrics.default_rubric(kind), "quotas": {"award": count, "nominate": 0}, "publicity_days": 5,
            "status": "reported", "publicity": None, "locked": True, "history": True, "missing_inspections": [],
            "decided_at": decided, "created_at": now, "updated_at": now})
        picked = rng.sample(ordered, min(count, len(ordered)))
        people = _names(rng, count)
        for n, (room, person) in enumerate(zip(picked, people, strict=False), start=1):
            if kind == "model_room":
                subject = {"type": "room", "room": room["code"], "staff_id": None, "account_id": None,
                           "reader_id": None, "name": room["name"]}
            elif kind == "model_admin":
                subject = {"type": "staff", "room": room["code"], "staff_id": None, "account_id": None,
                           "reader_id": None, "name": person}
            else:
                subject = {"type": "family", "room": room["code"], "staff_id": None, "account_id": None,
                           "reader_id": None, "name": f"{person}家庭"}
            entry_docs.append({
                "_id": _fixed_id(year, kind, level, n), "round_id": round_id, "kind": kind, "subject": subject,
                "subject_key": f"history:{year}:{kind}:{n:03d}", "town": room["town"],
                "applicant": {"by": "history", "channel": "district", "at": decided}, "statement": "历史记录",
                "evidence": {}, "status": "awarded", "town_review": None, "metrics": {}, "metrics_at": None,
                "scores": {}, "total": None, "rank": n, "outcome": "awarded",
                "certificate_no": f"JNPY-{year}-{KIND_CODES[kind]}{LEVEL_CODES[level]}-{n:03d}", "history": True,
                "created_at": now, "updated_at": now})
    return round_docs, entry_docs


async def load_history(deps: Deps, actor: Actor | None = None) -> HistoryOut:
    """Store the 2014/2015 results (idempotent). Audited when ``actor`` is given."""
    rooms = await deps.db["rooms"].find({}, {"code": 1, "name": 1, "town": 1}).to_list()
    existing = await repo.rounds(deps.db, {"year": {"$in": sorted({y for y, *_ in HISTORY})}})
    skip = {(d["year"], d["kind"], d["level"]) for d in existing if d["_id"] != _fixed_id(d["year"], d["kind"], d["level"])}
    round_docs, entry_docs = history_documents(rooms, skip)

    async def work(session: Any) -> tuple[int, int]:
        rounds_created = await repo.upsert_rounds(deps.db, round_docs, session=session)
        entries_created = await repo.upsert_entries(deps.db, entry_docs, session=session)
        if actor is not None and (rounds_created or entries_created):
            await audit.record(deps.db, actor, "rating_round.history_load", target_type="rating_round",
                               target_id="history", changes={"rounds": rounds_created, "entries": entries_created},
                               session=session)
        return rounds_created, entries_created

    rounds_created, entries_created = await in_transaction(deps.mongo, work)
    return HistoryOut(rounds_created=rounds_created, entries_created=entries_created,
                      rounds=[str(d["_id"]) for d in round_docs])
