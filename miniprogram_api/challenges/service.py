"""Reading challenges: readers (or a parent for several children, or an administrator for a
child without a phone) join, and everyone sees progress and boards.

Staff define challenges in ``definitions.py``; logging reading is in ``reading.py``,
prize draws and exports in ``prizes.py``, book reviews in ``reviews.py``. Rules as plain
functions are in ``rules.py``; the Redis boards in ``leaderboard.py``.

Other parts call:
- ``member_visibility_changed(deps, member)`` when a member toggles ``public_board``, is
  renamed, changes room or withdraws consent (accounts);
- ``rebuild_boards(deps, challenge_id)`` to rebuild a challenge's boards from Mongo.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, cast

from bson import ObjectId

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.accounts.principal import Principal, require_member
from miniprogram_api.challenges import definitions, repo, rules
from miniprogram_api.challenges import leaderboard as lb
from miniprogram_api.challenges.definitions import load_challenge
from miniprogram_api.challenges.models import (
    UNIT_LABELS,
    AgeGroup,
    BadgeOut,
    BoardEntry,
    BoardOut,
    BoardQuery,
    DeskJoinIn,
    FamilyEntry,
    JoinIn,
    JoinOut,
    Milestone,
    MpChallenge,
    MpChallengeList,
    MyRank,
    NextMilestone,
    ParticipantOut,
    ParticipantPage,
    ParticipantQuery,
    ProgressOut,
    ProgressQuery,
    ReadingLogOut,
)
from server import idempotency
from server.audit import repo as audit
from server.errors import FieldProblem, Forbidden, InvalidInput, NotFound, RuleViolation
from server.ids import parse_object_id
from server.pagination import decode_id_cursor, split_page
from server.readers import repo as readers_repo
from server.readers.service import local_today
from server.rooms import repo as rooms_repo
from server.staff.roles import Actor, Role
from server.storage import db_now

if TYPE_CHECKING:
    from pymongo.asynchronous.client_session import AsyncClientSession

    from server.resources import Deps

__all__ = ["load_challenge", "member_visibility_changed", "rebuild_boards"]


# -- the family's view -----------------------------------------------------------------------------


async def family_members(deps: Deps, principal: Principal, ids: list[str], loc: tuple[str | int, ...]
                         ) -> list[dict[str, Any]]:
    """The caller's own active members ``ids`` (in order), in one query. Another account's
    member is NotFound, as if it did not exist."""
    # (the models already checked the pattern; a position in a list is an int in a loc)
    oids = [parse_object_id(i, loc=cast(tuple[str, ...], (*loc, n))) for n, i in enumerate(ids)]
    found = await accounts_repo.members_by_ids(deps.db, oids)
    out = []
    for n, oid in enumerate(oids):
        doc = found.get(oid)
        if doc is None or doc["account_id"] != principal.account_id:
            raise NotFound("没有这位家庭成员", code="member_not_found", errors=[FieldProblem((*loc, n), "不是您的家庭成员")])
        if doc.get("status") != "active":
            raise RuleViolation("监护人已撤回同意，不能再为这位孩子记录信息", code="consent_withdrawn",
                                errors=[FieldProblem((*loc, n), "已撤回同意")])
        out.append(doc)
    return out


def _member_standing(challenge: dict[str, Any], member: dict[str, Any], today: date
                     ) -> tuple[str | None, str | None, str | None]:
    """(age group, why the member cannot join or None, the refusal's code)."""
    age = rules.age_in(date.fromisoformat(challenge["starts_on"]).year, member["birth_year"])
    group = rules.age_group_for(challenge["age_groups"], age)
    why = rules.join_problem(challenge, today)
    if why is not None:
        return group, why, "challenge_not_open"
    if not rules.covers(challenge, member["home_room"], member.get("home_town")):
        return group, "这个活动不包括您所在的书屋", "not_covered"
    if group is None:
        return group, f"这个活动没有适合 {age} 岁的年龄组", "outside_age_groups"
    return group, None, None


async def mp_challenges(deps: Deps, principal: Principal | None) -> MpChallengeList:
    """Published challenges (and closed ones the family took part in), each with every
    active family member's standing when a reader asks. Three queries, whatever the family size."""
    members = [] if principal is None else [
        m for m in await accounts_repo.members_of(deps.db, principal.account_id) if m.get("status") == "active"]
    docs = await repo.list_challenges(deps.db, statuses=["published", "closed"], before=None, limit=100)
    parts = await repo.participants_of_members(deps.db, [d["_id"] for d in docs], [m["_id"] for m in members])
    joined = {(p["challenge_id"], p["member_id"]): p for p in parts}
    today = local_today()
    items = []
    for doc in docs:
        family = []
        for m in members:
            p = joined.get((doc["_id"], m["_id"]))
            group, why, _ = _member_standing(doc, m, today)
            family.append(FamilyEntry(member_id=str(m["_id"]), name=m["name"], joined=p is not None,
                                      participant_id=str(p["_id"]) if p else None, total=p["total"] if p else 0,
                                      age_group=p["age_group"] if p else group, can_join=p is None and why is None,
                                      reason=None if p else why))
        if doc["status"] == "closed" and not any(f.joined for f in family):
            continue
        items.append(MpChallenge(
            id=str(doc["_id"]), title=doc["title"], description=doc["description"],
            starts_on=date.fromisoformat(doc["starts_on"]), ends_on=date.fromisoformat(doc["ends_on"]),
            status=doc["status"], age_groups=[AgeGroup(**g) for g in doc["age_groups"]], unit=doc["unit"],
            unit_label=UNIT_LABELS[doc["unit"]], cap_per_log=doc["cap_per_log"], cap_per_day=doc["cap_per_day"],
            milestones=[Milestone(**m) for m in doc["milestones"]], teams=doc["teams"], has_draw=bool(doc.get("draw")),
            family=family))
    return MpChallengeList(items=items)


def participant_out(doc: dict[str, Any]) -> ParticipantOut:
    return ParticipantOut(
        id=str(doc["_id"]), challenge_id=str(doc["challenge_id"]),
        member_id=str(doc["member_id"]) if doc.get("member_id") else None, name=doc["name"],
        age_group=doc["age_group"], room=doc["room"], room_name=doc.get("room_name"), town=doc.get("town"),
        school=doc.get("school"), class_name=doc.get("class_name"), public_board=lb.on_boards(doc),
        total=doc["total"], log_count=doc["log_count"], joined_at=doc["joined_at"],
        via="miniprogram" if str(doc.get("joined_by", "")).startswith("mp:") else "desk")


async def room_names(deps: Deps, codes: list[str]) -> dict[str, str]:
    codes = sorted(set(codes))
    if not codes:
        return {}
    docs = await deps.db[rooms_repo.COLLECTION].find({"code": {"$in": codes}}, {"code": 1, "name": 1}).to_list()
    return {d["code"]: d["name"] for d in docs}


def _person_fields(*, member: dict[str, Any] | None, reader: dict[str, Any] | None, room_name: str | None
                   ) -> dict[str, Any]:
    """Who a participant is: a family member (with their card, if any) or a desk reader."""
    if member is not None:
        return {"member_id": member["_id"], "account_id": member["account_id"], "reader_id": member.get("reader_id"),
                "name": member["name"], "room": member["home_room"], "town": member.get("home_town"),
                "school": member.get("school"), "class_name": member.get("class_name"), "room_name": room_name,
                "public": bool(member.get("public_board", True)) and member.get("status") == "active",
                "status": "active" if member.get("status") == "active" else "withdrawn"}
    assert reader is not None
    return {"member_id": None, "account_id": None, "reader_id": reader["_id"], "name": reader["name"],
            "room": reader["home_room"], "town": reader.get("home_town"), "school": None, "class_name": None,
            "room_name": room_name, "public": True, "status": "active"}


def _new_participant(challenge: dict[str, Any], person: dict[str, Any], *, age: int, group: str, by: str
                     ) -> dict[str, Any]:
    now = db_now()
    return {**person, "_id": ObjectId(), "challenge_id": challenge["_id"], "age": age, "age_group": group,
            "total": 0, "log_count": 0, "days": {}, "recent": [], "badges": [], "joined_at": now, "joined_by": by,
            "updated_at": now}


async def _join_people(deps: Deps, challenge: dict[str, Any], people: list[dict[str, Any]], by: str,
                       session: AsyncClientSession, *, actor: Actor | None = None) -> list[str]:
    """Join each prepared participant (see ``_person_fields`` plus age and group) unless they
    are in already — possibly as the desk reader a member's card belongs to. Returns the
    participant ids in order."""
    member_ids = [p["member_id"] for p in people if p["member_id"]]
    reader_ids = [p["reader_id"] for p in people if p["reader_id"]]
    existing = await repo.participants_for(deps.db, challenge["_id"], member_ids, reader_ids, session=session)
    ids = []
    for person in people:
        found = next((e for e in existing if (person["member_id"] and e.get("member_id") == person["member_id"])
                      or (person["reader_id"] and e.get("reader_id") == person["reader_id"])), None)
        if found is not None:
            if person["member_id"] and not found.get("member_id"):  # the desk reader's card joined a family
                await repo.update_participant(deps.db, found["_id"], {"$set": {
                    k: person[k] for k in ("member_id", "account_id", "name", "school", "class_name", "public",
                                           "status")}}, session=session)
            ids.append(str(found["_id"]))
            continue
        doc = _new_participant(challenge, {k: v for k, v in person.items() if k not in {"age", "age_group"}},
                               age=person["age"], group=person["age_group"], by=by)
        await repo.insert_participant(deps.db, doc, session=session)
        if actor is not None:
            await audit.record(deps.db, actor, "challenge.join", target_type="participant", target_id=str(doc["_id"]),
                               room=doc["room"], changes={"challenge_id": str(challenge["_id"]), "name": doc["name"]},
                               session=session)
        ids.append(str(doc["_id"]))
    return ids


async def _joined(deps: Deps, challenge: dict[str, Any], ids: list[str]) -> list[dict[str, Any]]:
    docs = await repo.participants_by_ids(deps.db, [ObjectId(i) for i in ids])
    ordered = [docs[ObjectId(i)] for i in ids if ObjectId(i) in docs]
    await lb.replace_entries(deps.redis, challenge, [(None, d) for d in ordered])
    return ordered


async def join(deps: Deps, principal: Principal, challenge_id: str, data: JoinIn) -> JoinOut:
    """Family members join (one call for several children). All or none: a member outside
    every age group, or whose room the challenge does not cover, refuses the whole call."""
    challenge = await load_challenge(deps, challenge_id, readers=True)
    loc = ("body", "member_ids") if data.member_ids is not None else ("body", "member_id")
    members = await family_members(deps, principal, data.ids, loc)
    today = local_today()
    why = rules.join_problem(challenge, today)
    if why:
        raise RuleViolation(why, code="challenge_not_open")
    problems, people, codes = [], [], []
    names = await room_names(deps, [m["home_room"] for m in members])
    year = date.fromisoformat(challenge["starts_on"]).year
    for n, m in enumerate(members):
        group, why, code = _member_standing(challenge, m, today)
        where = (*loc, n) if data.member_ids is not None else loc
        if why:
            problems.append(FieldProblem(where, f"{m['name']}：{why}"))
            codes.append(code)
            continue
        assert group is not None
        people.append({**_person_fields(member=m, reader=None, room_name=names.get(m["home_room"])),
                       "age": rules.age_in(year, m["birth_year"]), "age_group": group})
    if problems:
        raise RuleViolation(problems[0].msg, code=codes[0] or "cannot_join", errors=problems)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        return {"participant_ids": await _join_people(deps, challenge, people, f"mp:{principal.account_id}", session)}

    result, _ = await idempotency.run_once(deps.db, deps.mongo, op_id=principal.op_key(data.op_id),
                                           kind="challenge_join", room=members[0]["home_room"],
                                           actor=f"mp:{principal.account_id}", work=work)
    return JoinOut(participants=[participant_out(d) for d in await _joined(deps, challenge, result["participant_ids"])])


async def desk_join(deps: Deps, actor: Actor, challenge_id: str, data: DeskJoinIn) -> ParticipantOut:
    """A room administrator joins a reader by library card (within the reader's home-room
    scope); a card linked to a family member joins that member. Audited."""
    challenge = await load_challenge(deps, challenge_id)
    why = rules.join_problem(challenge, local_today())
    if why:
        raise RuleViolation(why, code="challenge_not_open")
    reader = await readers_repo.by_card(deps.db, data.card_no)
    if reader is None:
        raise NotFound(f"没有借阅证 {data.card_no}", code="reader_not_found")
    if not actor.can_access_room(reader["home_room"], reader.get("home_town", "")):
        raise Forbidden("这位读者的借阅证不是您负责的书屋办理的", code="reader_out_of_scope")
    member = await accounts_repo.member_of_reader(deps.db, reader["_id"])
    if member is not None and member.get("status") != "active":
        raise RuleViolation("监护人已撤回同意，不能再为这位孩子记录信息", code="consent_withdrawn")
    if not rules.covers(challenge, reader["home_room"], reader.get("home_town")):
        raise RuleViolation("这个活动不包括这位读者所在的书屋", code="not_covered",
                            errors=[FieldProblem(("body", "card_no"), "书屋不在活动范围内")])
    year = date.fromisoformat(challenge["starts_on"]).year
    age = rules.age_in(year, reader["birth_year"])
    group = rules.age_group_for(challenge["age_groups"], age)
    if group is None:
        raise RuleViolation(f"这个活动没有适合 {age} 岁的年龄组", code="outside_age_groups",
                            errors=[FieldProblem(("body", "card_no"), "不在任何年龄组内")])
    names = await room_names(deps, [reader["home_room"]])
    person = _person_fields(member=member, reader=reader if member is None else None,
                            room_name=names.get(reader["home_room"]))
    person["reader_id"] = reader["_id"]
    if member is None:
        person["public"] = data.public_board
    person.update(age=age, age_group=group)

    async def work(session: AsyncClientSession) -> dict[str, Any]:
        return {"participant_ids": await _join_people(deps, challenge, [person], actor.username, session,
                                                      actor=actor)}

    result, _ = await idempotency.run_once(deps.db, deps.mongo, op_id=data.op_id, kind="challenge_desk_join",
                                           room=reader["home_room"], actor=actor.username, work=work)
    return participant_out((await _joined(deps, challenge, result["participant_ids"]))[0])


def scope_filter(actor: Actor) -> dict[str, Any]:
    """A filter on participants (and logs) keeping to the actor's rooms."""
    if actor.sees_whole_district:
        return {}
    if actor.role is Role.TOWN_COORDINATOR:
        return {"town": {"$in": sorted(actor.towns)}}
    return {"room": {"$in": sorted(actor.rooms)}}


async def list_participants(deps: Deps, actor: Actor, challenge_id: str, query: ParticipantQuery) -> ParticipantPage:
    challenge = await load_challenge(deps, challenge_id)
    scope = scope_filter(actor)
    if query.room:
        scope = {"$and": [scope, {"room": query.room}]} if scope else {"room": query.room}
    after = decode_id_cursor(query.cursor) if query.cursor else None
    docs = await repo.participants_page(deps.db, challenge["_id"], scope, after=after, limit=query.limit + 1)
    docs, cursor = split_page(docs, query.limit, lambda d: [str(d["_id"])])
    return ParticipantPage(items=[participant_out(d) for d in docs], next_cursor=cursor)


# -- progress ------------------------------------------------------------------------------------------


async def my_participant(deps: Deps, principal: Principal, challenge: dict[str, Any], member_id: str
                         ) -> dict[str, Any]:
    """The caller's member's participant: one query when it exists (a participant records
    its account), the member check only to tell "not yours" from "not joined"."""
    oid = parse_object_id(member_id, loc=("query", "member_id"))
    found = await repo.participants_of_members(deps.db, [challenge["_id"]], [oid])
    if found and found[0].get("account_id") == principal.account_id:
        return found[0]
    await require_member(deps, principal, member_id, loc=("query", "member_id"), active=False)
    raise NotFound("这位家庭成员还没有参加这个活动", code="participant_not_found")


def log_out(doc: dict[str, Any]) -> ReadingLogOut:
    return ReadingLogOut(id=str(doc["_id"]), read_on=date.fromisoformat(doc["read_on"]), amount=doc["amount"],
                         points=doc["points"], title_id=doc.get("title_id"), book_title=doc.get("book_title"),
                         status=doc["status"], flagged=doc.get("flag") is not None, created_at=doc["created_at"])


async def progress(deps: Deps, principal: Principal, challenge_id: str, query: ProgressQuery) -> ProgressOut:
    """A member's total, badges, next milestone and logs (newest first, paginated)."""
    challenge = await load_challenge(deps, challenge_id, readers=True)
    p = await my_participant(deps, principal, challenge, query.member_id)
    before = decode_id_cursor(query.cursor) if query.cursor else None
    logs = await repo.logs_of(deps.db, p["_id"], before=before, limit=query.limit + 1)
    logs, cursor = split_page(logs, query.limit, lambda d: [str(d["_id"])])
    badges = await repo.badges_of(deps.db, p["_id"])
    milestones = challenge["milestones"]
    nxt = rules.next_milestone(milestones, p["total"])
    return ProgressOut(
        challenge_id=str(challenge["_id"]), participant_id=str(p["_id"]), member_id=query.member_id,
        unit=challenge["unit"], unit_label=UNIT_LABELS[challenge["unit"]], age_group=p["age_group"],
        total=p["total"], today_total=p.get("days", {}).get(local_today().isoformat(), 0), log_count=p["log_count"],
        badges=[BadgeOut(milestone_index=b["milestone_index"], badge=b["badge"], icon=b["icon"],
                         threshold=b["threshold"], awarded_at=b["awarded_at"]) for b in badges],
        next_milestone=None if nxt is None else NextMilestone(
            threshold=milestones[nxt]["threshold"], badge=milestones[nxt]["badge"], icon=milestones[nxt]["icon"],
            remaining=milestones[nxt]["threshold"] - p["total"]),
        logs=[log_out(d) for d in logs], next_cursor=cursor)


# -- boards ------------------------------------------------------------------------------------------------


async def board(deps: Deps, principal: Principal, challenge_id: str, query: BoardQuery) -> BoardOut:
    """Top N of a board and the member's own rank, in one call (Redis; rebuilt from Mongo
    if Redis lost it)."""
    challenge = await load_challenge(deps, challenge_id, readers=True)
    me = await my_participant(deps, principal, challenge, query.member_id) if query.member_id else None
    cid = str(challenge["_id"])
    team = None
    if query.scope != "challenge":
        if query.scope not in challenge["teams"]:
            raise InvalidInput("这个活动没有这种排行榜", code="board_not_kept",
                               errors=[FieldProblem(("query", "scope"), f"可选：challenge, {', '.join(challenge['teams'])}")])
        team = query.team or (lb.team_of(me, query.scope) if me else None)
        if not team:
            raise InvalidInput("请指定要看哪个队伍的排行榜", code="team_required",
                               errors=[FieldProblem(("query", "team"), "需要 team 或 member_id")])
    key = lb.board_key(cid, query.scope, team)
    data = await lb.read(deps.redis, cid, key, query.limit, me)
    if data is None:
        await definitions.rebuild(deps, challenge)
        data = await lb.read(deps.redis, cid, key, query.limit, me) or {"top": [], "size": 0, "my_rank": None}
    missing = [ObjectId(pid) for pid, _, name in data["top"] if name is None]
    if missing:  # the names hash lost entries: fill them from Mongo
        found = await repo.participants_by_ids(deps.db, missing, projection=repo.BOARD_FIELDS)
        await lb.replace_entries(deps.redis, challenge, [(None, d) for d in found.values()])
        shown = {str(k): lb.display(v) for k, v in found.items()}
        data["top"] = [(pid, score, name or shown.get(pid, "|")) for pid, score, name in data["top"]]
    items = []
    for rank, (pid, score, name) in enumerate(data["top"], start=1):
        masked, _, room_name = (name or "|").rpartition("|")
        items.append(BoardEntry(rank=rank, name=masked or "读者", room_name=room_name or None, total=score,
                                me=me is not None and lb.on_boards(me) and pid == str(me["_id"])))
    mine = None
    if me is not None:
        mine = MyRank(member_id=str(me["member_id"]), participant_id=str(me["_id"]), rank=data["my_rank"],
                      total=me["total"], public_board=lb.on_boards(me))
    return BoardOut(scope=query.scope, team=team, unit=challenge["unit"], unit_label=UNIT_LABELS[challenge["unit"]],
                    size=data["size"], items=items, me=mine)


async def rebuild_boards(deps: Deps, challenge_id: str | ObjectId) -> int:
    """Rebuild every board of a challenge from the participants in Mongo (the source of
    truth). Returns how many participants are on the boards."""
    return await definitions.rebuild(deps, await load_challenge(deps, challenge_id))


async def member_visibility_changed(deps: Deps, member: dict[str, Any]) -> None:
    """A member toggled ``public_board``, was renamed, moved room or withdrew consent:
    update their participants and their board entries in every challenge."""
    parts = await repo.participants_of_members(deps.db, None, [member["_id"]])
    if not parts:
        return
    names = await room_names(deps, [member["home_room"]])
    fields = {k: v for k, v in _person_fields(member=member, reader=None,
                                             room_name=names.get(member["home_room"])).items()
              if k not in {"member_id", "account_id", "reader_id"}}
    await repo.set_member_fields(deps.db, member["_id"], fields)
    challenges = await repo.challenges_by_ids(deps.db, [p["challenge_id"] for p in parts])
    for p in parts:  # one per challenge the member joined: a handful
        challenge = challenges.get(p["challenge_id"])
        if challenge is not None:
            await lb.replace_entries(deps.redis, challenge, [(p, {**p, **fields})])
