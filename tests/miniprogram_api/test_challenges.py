"""Reading challenges: staff definitions, joining (families and the desk), logging with caps,
outlier flags, milestones and badges, prize draws, exports and privacy — over HTTP against
the real stack, plus the pure rules as plain functions."""

from __future__ import annotations

import io
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId
from hypothesis import given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from miniprogram_api.challenges import draw, privacy, rules
from miniprogram_api.challenges.models import DEFAULT_AGE_GROUPS
from server.readers.service import local_today
from server.resources import Deps
from server.storage import db_now
from tests.conftest import CommandCounter, Session
from tests.miniprogram_api.conftest import HOME_ROOM, AddChild, MakeUser, MpUser, op_id

OTHER_ROOM = "JN-GG-001"
YEAR = local_today().year
CHILD_YEAR = YEAR - 9  # 小学低年级 (7–9) in the challenge's year


def challenge_body(**changes: Any) -> dict[str, Any]:
    today = local_today()
    body: dict[str, Any] = {
        "title": "暑期阅读挑战",
        "description": "读书打卡，赢取徽章",
        "starts_on": (today - timedelta(days=20)).isoformat(),
        "ends_on": (today + timedelta(days=20)).isoformat(),
        "unit": "books",
        "cap_per_log": 5,
        "cap_per_day": 8,
        "milestones": [{"threshold": 5, "badge": "阅读新星", "icon": "badge-star"},
                       {"threshold": 12, "badge": "阅读达人", "icon": "badge-gold"}],
        "teams": ["room", "school", "class", "town"],
        "draw": {"min_total": 3},
        "status": "published",
    }
    body.update(changes)
    return body


async def make_challenge(client: httpx.AsyncClient, admin: Session, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/challenges", json=challenge_body(**changes), headers=admin.headers)
    assert response.status_code == 201, response.text
    return response.json()


async def join(client: httpx.AsyncClient, user: MpUser, challenge_id: str, member_ids: list[str]) -> list[dict[str, Any]]:
    response = await client.post(f"/mp/v1/challenges/{challenge_id}/participants",
                                 json={"op_id": op_id(), "member_ids": member_ids}, headers=user.headers)
    assert response.status_code == 201, response.text
    return response.json()["participants"]


async def log(client: httpx.AsyncClient, user: MpUser, challenge_id: str, member_ids: list[str], amount: int,
              read_on: date | None = None, **extra: Any) -> httpx.Response:
    body = {"op_id": op_id(), "member_ids": member_ids, "amount": amount,
            "read_on": (read_on or local_today()).isoformat(), **extra}
    return await client.post(f"/mp/v1/challenges/{challenge_id}/logs", json=body, headers=user.headers)


# -- the pure rules --------------------------------------------------------------------------------------


def test_age_groups_place_ages_and_refuse_overlaps() -> None:
    groups = [g.model_dump() for g in DEFAULT_AGE_GROUPS]
    assert rules.age_group_problems(groups) == []
    assert [rules.age_group_for(groups, a) for a in (2, 3, 6, 7, 12, 15, 17, 18, 80)] == [
        None, "学前", "学前", "小学低年级", "小学高年级", "初中", "高中", "成人", "成人"]
    overlapping = [{"name": "甲", "min_age": 3, "max_age": 8}, {"name": "乙", "min_age": 8, "max_age": 10}]
    assert rules.age_group_problems(overlapping) == [((1, "min_age"), "与年龄组“甲”重叠")]
    open_ended_first = [{"name": "甲", "min_age": 3, "max_age": None}, {"name": "乙", "min_age": 10, "max_age": 12}]
    assert rules.age_group_problems(open_ended_first)


def test_caps_name_the_cap() -> None:
    assert rules.cap_problem(5, 0, 5, 8, "本") is None
    assert "每次最多记录 5 本" in (rules.cap_problem(6, 0, 5, 8, "本") or "")
    message = rules.cap_problem(3, 6, 5, 8, "本") or ""
    assert "每天最多记录 8 本" in message and "最多还能记录 2 本" in message


def test_outliers() -> None:
    day = date(2026, 7, 10)
    assert rules.outlier_reasons(9, [], {day.isoformat(): 9}, day, 100) == []  # a first log is never odd
    assert rules.outlier_reasons(9, [1, 2, 3], {day.isoformat(): 9}, day, 100) == ["big_log"]
    assert rules.outlier_reasons(5, [1, 2, 3], {day.isoformat(): 5}, day, 100) == []
    at_cap = {(day - timedelta(days=i)).isoformat(): 8 for i in range(3)}
    assert rules.outlier_reasons(2, [2, 2, 2], at_cap, day, 8) == ["cap_streak"]
    assert rules.cap_streak({**at_cap, (day - timedelta(days=1)).isoformat(): 7}, day, 8) == 1


def test_milestones_are_awarded_once_and_taken_back_when_a_total_falls() -> None:
    ms = [{"threshold": 5}, {"threshold": 12}, {"threshold": 30}]
    assert rules.newly_reached(ms, 12, []) == [0, 1]
    assert rules.newly_reached(ms, 13, [0, 1]) == []
    assert rules.no_longer_reached(ms, 6, [0, 1]) == [1]
    assert rules.next_milestone(ms, 12) == 2 and rules.next_milestone(ms, 30) is None


ids_strategy = st.lists(st.text(alphabet="0123456789abcdef", min_size=24, max_size=24), min_size=1, max_size=60,
                        unique=True)


@settings(max_examples=60, deadline=None)
@given(ids=ids_strategy, seed=st.text(alphabet="abcXYZ019_-", min_size=1, max_size=20), n=st.integers(1, 70))
def test_draw_is_reproducible_and_ignores_list_order(ids: list[str], seed: str, n: int) -> None:
    winners = draw.pick_winners(ids, seed, n)
    assert winners == draw.pick_winners(list(reversed(ids)), seed, n)
    assert len(winners) == min(n, len(ids)) and len(set(winners)) == len(winners) and set(winners) <= set(ids)
    assert draw.list_hash(ids) == draw.list_hash(sorted(ids, reverse=True))


def test_draw_eligibility_filters() -> None:
    people = [
        {"id": "a", "total": 10, "room": "R1", "age_group": "学前", "days": {"2026-07-02": 3}, "status": "active"},
        {"id": "b", "total": 2, "room": "R1", "age_group": "学前", "days": {"2026-07-02": 2}, "status": "active"},
        {"id": "c", "total": 10, "room": "R2", "age_group": "初中", "days": {"2026-07-20": 4}, "status": "active"},
        {"id": "d", "total": 10, "room": "R1", "age_group": "学前", "days": {}, "status": "withdrawn"},
    ]
    common: dict[str, Any] = {"rooms": None, "age_groups": None, "logged_from": None, "logged_to": None}
    assert draw.eligible_ids(people, min_total=3, **common) == ["a", "c"]
    assert draw.eligible_ids(people, min_total=0, **{**common, "rooms": {"R1"}}) == ["a", "b"]
    assert draw.eligible_ids(people, min_total=0, **{**common, "age_groups": {"初中"}}) == ["c"]
    assert draw.eligible_ids(people, min_total=0, **{**common, "logged_from": date(2026, 7, 10)}) == ["c"]
    assert draw.eligible_ids(people, min_total=0, exclude={"a"}, **common) == ["b", "c"]


# -- staff define challenges ------------------------------------------------------------------------------


async def test_staff_create_and_publish_a_challenge(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                    deps: Deps) -> None:
    admin = as_role["district_admin"]
    created = await make_challenge(client, admin, status="draft", rooms=[HOME_ROOM], towns=["葛沽镇"])
    assert created["status"] == "draft" and created["participants"] == 0 and created["unit_label"] == "本"
    assert [g["name"] for g in created["age_groups"]][:2] == ["学前", "小学低年级"]
    assert await deps.db["audit"].count_documents({"action": "challenge.create", "target_id": created["id"]}) == 1
    # readers never see a draft
    assert created["id"] not in [c["id"] for c in (await client.get("/mp/v1/challenges")).json()["items"]]
    response = await client.patch(f"/api/v1/challenges/{created['id']}", json={"status": "published"},
                                  headers=as_role["district_staff"].headers)
    assert response.status_code == 200 and response.json()["status"] == "published"
    assert created["id"] in [c["id"] for c in (await client.get("/mp/v1/challenges")).json()["items"]]
    audit = await deps.db["audit"].find_one({"action": "challenge.update", "target_id": created["id"]})
    assert audit is not None and audit["changes"] == {"status": "published"}
    for role in ("room_admin", "town_coordinator", "inspector"):
        response = await client.post("/api/v1/challenges", json=challenge_body(), headers=as_role[role].headers)
        assert response.status_code == 403
    listed = (await client.get("/api/v1/challenges", params={"status": "published"},
                               headers=as_role["room_admin"].headers)).json()
    assert created["id"] in [c["id"] for c in listed["items"]]


@pytest.mark.parametrize(("changes", "loc"), [
    ({"ends_on": (local_today() - timedelta(days=30)).isoformat()}, ["body", "ends_on"]),
    ({"cap_per_log": 9}, ["body", "cap_per_log"]),
    ({"age_groups": [{"name": "甲", "min_age": 3, "max_age": 9}, {"name": "乙", "min_age": 9, "max_age": 12}]},
     ["body", "age_groups", 1, "min_age"]),
    ({"milestones": [{"threshold": 9, "badge": "甲", "icon": "a"}, {"threshold": 3, "badge": "乙", "icon": "b"}]},
     ["body", "milestones", 1, "threshold"]),
    ({"rooms": ["JN-XSG-999"]}, ["body", "rooms", 0]),
    ({"towns": ["不存在镇"]}, ["body", "towns", 0]),
    ({"teams": ["room", "room"]}, ["body", "teams"]),
    ({"cap_per_log": 0}, ["body", "cap_per_log"]),
])
async def test_bad_definitions_are_refused_naming_the_field(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                           deps: Deps, changes: dict[str, Any], loc: list[Any]) -> None:
    before = await deps.db["challenges"].count_documents({})
    response = await client.post("/api/v1/challenges", json=challenge_body(**changes),
                                 headers=as_role["district_admin"].headers)
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["errors"]], response.json()
    assert await deps.db["challenges"].count_documents({}) == before


# -- families join ------------------------------------------------------------------------------------------


async def test_a_parent_joins_two_children_at_once_and_sees_them_joined(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        deps: Deps) -> None:
    challenge = await make_challenge(client, as_role["district_admin"])
    parent = await make_user(name="王芳", birth_year=YEAR - 38)
    a = await add_child(parent, name="王小明", birth_year=CHILD_YEAR)
    b = await add_child(parent, name="王小红", birth_year=YEAR - 5, class_name="大班")
    body = {"op_id": op_id(), "member_ids": [a["id"], b["id"]]}
    response = await client.post(f"/mp/v1/challenges/{challenge['id']}/participants", json=body,
                                 headers=parent.headers)
    assert response.status_code == 201, response.text
    joined = response.json()["participants"]
    assert [(p["name"], p["age_group"], p["via"]) for p in joined] == [
        ("王小明", "小学低年级", "miniprogram"), ("王小红", "学前", "miniprogram")]
    again = await client.post(f"/mp/v1/challenges/{challenge['id']}/participants", json=body, headers=parent.headers)
    assert again.status_code == 201 and again.json() == response.json()  # a replayed op_id
    # joining again with a new op_id changes nothing either
    assert [p["id"] for p in await join(client, parent, challenge["id"], [a["id"]])] == [joined[0]["id"]]
    assert await deps.db["participants"].count_documents({"challenge_id": ObjectId(challenge["id"])}) == 2
    mine = (await client.get("/mp/v1/challenges", headers=parent.headers)).json()["items"]
    entry = next(c for c in mine if c["id"] == challenge["id"])
    family = {f["name"]: f for f in entry["family"]}
    assert family["王小明"]["joined"] and family["王小红"]["joined"]
    assert family["王芳"]["joined"] is False and family["王芳"]["can_join"] and family["王芳"]["age_group"] == "成人"
    anonymous = (await client.get("/mp/v1/challenges")).json()["items"]
    assert next(c for c in anonymous if c["id"] == challenge["id"])["family"] == []


async def test_joining_is_all_or_nothing_and_only_for_my_family(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        deps: Deps) -> None:
    challenge = await make_challenge(client, as_role["district_admin"])
    parent = await make_user(name="赵敏", birth_year=YEAR - 35)
    fine = await add_child(parent, name="赵一", birth_year=CHILD_YEAR)
    baby = await add_child(parent, name="赵二", birth_year=YEAR - 1)  # 1 year old: no age group fits
    url = f"/mp/v1/challenges/{challenge['id']}/participants"
    response = await client.post(url, json={"op_id": op_id(), "member_ids": [fine["id"], baby["id"]]},
                                 headers=parent.headers)
    assert response.status_code == 422 and response.json()["code"] == "outside_age_groups", response.text
    assert response.json()["errors"][0]["loc"] == ["body", "member_ids", 1]
    assert await deps.db["participants"].count_documents({"challenge_id": ObjectId(challenge["id"])}) == 0
    stranger = await make_user(name="钱多", birth_year=YEAR - 40)
    response = await client.post(url, json={"op_id": op_id(), "member_id": fine["id"]}, headers=stranger.headers)
    assert response.status_code == 404 and response.json()["code"] == "member_not_found"
    response = await client.post(url, json={"op_id": op_id(), "member_id": fine["id"], "member_ids": [fine["id"]]},
                                 headers=parent.headers)
    assert response.status_code == 422
    limited = await make_challenge(client, as_role["district_admin"], rooms=[OTHER_ROOM])
    response = await client.post(f"/mp/v1/challenges/{limited['id']}/participants",
                                 json={"op_id": op_id(), "member_id": fine["id"]}, headers=parent.headers)
    assert response.status_code == 422 and response.json()["code"] == "not_covered"
    draft = await make_challenge(client, as_role["district_admin"], status="draft")
    response = await client.post(f"/mp/v1/challenges/{draft['id']}/participants",
                                 json={"op_id": op_id(), "member_id": fine["id"]}, headers=parent.headers)
    assert response.status_code == 404


async def test_what_may_change_once_readers_have_joined(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        deps: Deps) -> None:
    admin = as_role["district_admin"]
    challenge = await make_challenge(client, admin, teams=["room"])
    cid, url = challenge["id"], f"/api/v1/challenges/{challenge['id']}"
    parent = await make_user(name="林峰", birth_year=YEAR - 36)
    kid = await add_child(parent, name="林小溪", birth_year=CHILD_YEAR)
    await join(client, parent, cid, [kid["id"]])
    assert (await log(client, parent, cid, [kid["id"]], 2)).status_code == 201
    for body, code in (({"unit": "pages"}, "unit_locked"), ({"status": "draft"}, "status_move_refused"),
                       ({"title": None}, "required_field")):
        response = await client.patch(url, json=body, headers=admin.headers)
        assert response.status_code == 422 and response.json()["code"] == code, response.text
    response = await client.patch(url, json={"teams": ["room", "school"], "cap_per_day": 20}, headers=admin.headers)
    assert response.status_code == 200 and response.json()["participants"] == 1, response.text
    school = await client.get(f"/mp/v1/challenges/{cid}/board", params={"scope": "school", "member_id": kid["id"]},
                              headers=parent.headers)
    assert school.status_code == 200 and school.json()["me"]["rank"] == 1  # the new board was built from Mongo
    response = await client.patch(url, json={"status": "closed"}, headers=admin.headers)
    assert response.status_code == 200
    response = await log(client, parent, cid, [kid["id"]], 1)
    assert response.status_code == 422 and response.json()["code"] == "challenge_not_open"
    mine = (await client.get("/mp/v1/challenges", headers=parent.headers)).json()["items"]
    assert next(c for c in mine if c["id"] == cid)["status"] == "closed"  # still listed: the family took part
    assert await deps.db["audit"].count_documents({"action": "challenge.update", "target_id": cid}) == 2


# -- logging -------------------------------------------------------------------------------------------------------


async def test_logging_with_caps_back_dating_and_replays(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        deps: Deps) -> None:
    challenge = await make_challenge(client, as_role["district_admin"])
    cid = challenge["id"]
    parent = await make_user(name="孙丽", birth_year=YEAR - 36)
    a = await add_child(parent, name="孙小一", birth_year=CHILD_YEAR)
    b = await add_child(parent, name="孙小二", birth_year=CHILD_YEAR)
    await join(client, parent, cid, [a["id"], b["id"]])
    today = local_today()
    body = {"op_id": op_id(), "member_ids": [a["id"], b["id"]], "amount": 3, "read_on": today.isoformat(),
            "book_title": "小王子"}
    first = await client.post(f"/mp/v1/challenges/{cid}/logs", json=body, headers=parent.headers)
    assert first.status_code == 201, first.text
    assert [(e["total"], e["day_total"], e["flagged"]) for e in first.json()["entries"]] == [(3, 3, False)] * 2
    replay = await client.post(f"/mp/v1/challenges/{cid}/logs", json=body, headers=parent.headers)
    assert replay.json() == first.json()
    assert await deps.db["reading_logs"].count_documents({"challenge_id": ObjectId(cid)}) == 2
    # one child is ahead today: logging 5 more would pass the daily cap of 8 for her, so nobody gets it
    assert (await log(client, parent, cid, [a["id"]], 3)).status_code == 201
    response = await log(client, parent, cid, [a["id"], b["id"]], 5)
    assert response.status_code == 422 and response.json()["code"] == "over_cap", response.text
    assert "每天最多记录 8 本" in response.json()["detail"] and "孙小一" in response.json()["detail"]
    assert await deps.db["reading_logs"].count_documents({"challenge_id": ObjectId(cid)}) == 3
    response = await log(client, parent, cid, [b["id"]], 6)
    assert response.status_code == 422 and "每次最多记录 5 本" in response.json()["detail"]
    assert response.json()["errors"][0]["loc"] == ["body", "amount"]
    # back-dating inside the window is fine; the future and before the start are not
    assert (await log(client, parent, cid, [b["id"]], 2, today - timedelta(days=19))).status_code == 201
    for day in (today + timedelta(days=1), today - timedelta(days=21)):
        response = await log(client, parent, cid, [b["id"]], 1, day)
        assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "read_on"]
    totals = {p["name"]: p["total"] async for p in deps.db["participants"].find({"challenge_id": ObjectId(cid)})}
    assert totals == {"孙小一": 6, "孙小二": 5}
    stranger = await make_user(name="周全", birth_year=YEAR - 30)
    response = await log(client, stranger, cid, [a["id"]], 1)
    assert response.status_code == 404
    response = await log(client, parent, cid, [parent.member_id], 1)
    assert response.status_code == 422 and response.json()["code"] == "not_joined"
    response = await log(client, parent, cid, [a["id"]], 1, title_id="9789999999991")
    assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["body", "title_id"]


async def test_log_posting_makes_a_bounded_number_of_queries(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        command_counter: CommandCounter) -> None:
    challenge = await make_challenge(client, as_role["district_admin"], cap_per_log=50, cap_per_day=500)
    parent = await make_user(name="吴刚", birth_year=YEAR - 40)
    kids = [await add_child(parent, name=f"吴小{n}", birth_year=CHILD_YEAR) for n in "一二三四"]
    await join(client, parent, challenge["id"], [k["id"] for k in kids[:1]])
    await join(client, parent, challenge["id"], [k["id"] for k in kids[1:]])
    counts = []
    for group in (kids[:1], kids):
        command_counter.reset()
        assert (await log(client, parent, challenge["id"], [k["id"] for k in group], 2)).status_code == 201
        counts.append(len(command_counter.commands))
    assert counts[0] == counts[1], counts  # one child or four: the same queries
    assert counts[0] <= 9, command_counter.commands  # (the challenge itself may be cached)


async def test_milestones_award_badges_once_and_record_events(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        deps: Deps) -> None:
    challenge = await make_challenge(client, as_role["district_admin"])
    cid = challenge["id"]
    parent = await make_user(name="郑洁", birth_year=YEAR - 33)
    kid = await add_child(parent, name="郑小果", birth_year=CHILD_YEAR)
    (p,) = await join(client, parent, cid, [kid["id"]])
    today = local_today()
    for days_ago, amount in ((3, 2), (2, 2), (1, 2)):
        response = await log(client, parent, cid, [kid["id"]], amount, today - timedelta(days=days_ago))
        assert response.status_code == 201
    assert response.json()["entries"][0]["new_badges"] == ["阅读新星"]
    response = await log(client, parent, cid, [kid["id"]], 1)
    assert response.json()["entries"][0]["new_badges"] == []
    events = await deps.db["notifications"].find({"event": "challenge_milestone", "member_id": ObjectId(kid["id"])}
                                                 ).to_list()
    assert [(e["_id"], e["data"]) for e in events] == [
        (f"challenge_milestone:{p['id']}:0", {"thing1": "暑期阅读挑战", "thing2": "阅读新星", "number3": "6"})]
    assert events[0]["account_id"] == ObjectId(parent.account_id)
    progress = await client.get(f"/mp/v1/challenges/{cid}/me", params={"member_id": kid["id"], "limit": 3},
                                headers=parent.headers)
    assert progress.status_code == 200, progress.text
    body = progress.json()
    assert (body["total"], body["today_total"], body["log_count"]) == (7, 1, 4)
    assert [b["badge"] for b in body["badges"]] == ["阅读新星"]
    assert body["next_milestone"] == {"threshold": 12, "badge": "阅读达人", "icon": "badge-gold", "remaining": 5}
    assert len(body["logs"]) == 3 and body["next_cursor"]
    rest = (await client.get(f"/mp/v1/challenges/{cid}/me", headers=parent.headers,
                             params={"member_id": kid["id"], "cursor": body["next_cursor"]})).json()
    assert [x["amount"] for x in body["logs"] + rest["logs"]] == [1, 2, 2, 2] and rest["next_cursor"] is None
    other = await make_user(name="冯远", birth_year=YEAR - 33)
    response = await client.get(f"/mp/v1/challenges/{cid}/me", params={"member_id": kid["id"]}, headers=other.headers)
    assert response.status_code == 404


async def test_outliers_are_flagged_and_a_rejection_takes_the_points_and_badge_back(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        deps: Deps) -> None:
    challenge = await make_challenge(client, as_role["district_admin"], cap_per_log=10, cap_per_day=10)
    cid = challenge["id"]
    parent = await make_user(name="陈静", birth_year=YEAR - 37)
    kid = await add_child(parent, name="陈小宝", birth_year=CHILD_YEAR)
    await join(client, parent, cid, [kid["id"]])
    today = local_today()
    for days_ago in (6, 5, 4):
        assert (await log(client, parent, cid, [kid["id"]], 1, today - timedelta(days=days_ago))).status_code == 201
    response = await log(client, parent, cid, [kid["id"]], 9, today - timedelta(days=3))
    entry = response.json()["entries"][0]
    assert entry["flagged"] and entry["total"] == 12 and entry["new_badges"] == ["阅读新星", "阅读达人"]
    staff = as_role["room_admin"]  # the child's room is JN-XSG-001
    flags = (await client.get(f"/api/v1/challenges/{cid}/flags", headers=staff.headers)).json()["items"]
    assert [(f["id"], f["reasons"], f["name"]) for f in flags] == [(entry["log_id"], ["单次记录异常偏大"], "陈小宝")]
    assert "中位数为 1 本" in flags[0]["detail"]
    other = as_role["room_admin_other"]
    assert (await client.get(f"/api/v1/challenges/{cid}/flags", headers=other.headers)).json()["items"] == []
    url = f"/api/v1/challenges/{cid}/flags/{entry['log_id']}/resolve"
    response = await client.post(url, json={"decision": "reject"}, headers=other.headers)
    assert response.status_code == 403
    response = await client.post(url, json={"decision": "reject", "note": "与家长核实，误填"}, headers=staff.headers)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "rejected" and response.json()["participant_total"] == 3
    assert (await client.post(url, json={"decision": "accept"}, headers=staff.headers)).status_code == 409
    p = await deps.db["participants"].find_one({"member_id": ObjectId(kid["id"])})
    assert p is not None and (p["total"], p["badges"], p["log_count"]) == (3, [], 3)
    assert p["days"][(today - timedelta(days=3)).isoformat()] == 0
    assert await deps.db["badges"].count_documents({"participant_id": p["_id"]}) == 0
    assert await deps.db["audit"].count_documents({"action": "challenge.flag.reject", "target_id": entry["log_id"]}) == 1
    progress = (await client.get(f"/mp/v1/challenges/{cid}/me", params={"member_id": kid["id"]},
                                 headers=parent.headers)).json()
    assert progress["logs"][0]["status"] == "rejected" and progress["logs"][0]["points"] == 0
    # three days running at the daily cap is the other kind of outlier
    for days_ago in (2, 1, 0):
        response = await log(client, parent, cid, [kid["id"]], 10, today - timedelta(days=days_ago))
        assert response.status_code == 201
    assert response.json()["entries"][0]["flagged"]
    flag = await deps.db["reading_logs"].find_one({"_id": ObjectId(response.json()["entries"][0]["log_id"])})
    assert flag is not None and "cap_streak" in flag["flag"]["reasons"]


# -- the desk: children without a phone ---------------------------------------------------------------------


async def _desk_reader(deps: Deps, card_no: str, room: str, town: str, name: str) -> None:
    await deps.db["readers"].insert_one({"card_no": card_no, "name": name, "birth_year": CHILD_YEAR,
                                         "home_room": room, "home_town": town, "lookup_keys": []})


async def test_an_administrator_joins_and_logs_for_a_child_without_a_phone(
        client: httpx.AsyncClient, as_role: dict[str, Session], deps: Deps) -> None:
    challenge = await make_challenge(client, as_role["district_admin"])
    cid = challenge["id"]
    await _desk_reader(deps, "JN90000001", HOME_ROOM, "咸水沽镇", "刘小川")
    body = {"op_id": op_id(), "card_no": "JN90000001"}
    other = await client.post(f"/api/v1/challenges/{cid}/participants", json=body,
                              headers=as_role["room_admin_other"].headers)
    assert other.status_code == 403 and other.json()["code"] == "reader_out_of_scope"
    response = await client.post(f"/api/v1/challenges/{cid}/participants", json=body,
                                 headers=as_role["room_admin"].headers)
    assert response.status_code == 201, response.text
    p = response.json()
    assert (p["name"], p["via"], p["member_id"], p["age_group"]) == ("刘小川", "desk", None, "小学低年级")
    assert await deps.db["audit"].count_documents({"action": "challenge.join", "target_id": p["id"]}) == 1
    url = f"/api/v1/challenges/{cid}/participants/{p['id']}/logs"
    entry = {"op_id": op_id(), "amount": 2, "read_on": local_today().isoformat(), "book_title": "草房子"}
    response = await client.post(url, json=entry, headers=as_role["room_admin_other"].headers)
    assert response.status_code == 403
    response = await client.post(url, json=entry, headers=as_role["town_coordinator"].headers)
    assert response.status_code == 201 and response.json()["entries"][0]["total"] == 2, response.text
    assert await deps.db["audit"].count_documents({"action": "challenge.log", "target_id": p["id"]}) == 1
    listed = (await client.get(f"/api/v1/challenges/{cid}/participants", headers=as_role["room_admin"].headers)).json()
    assert p["id"] in [x["id"] for x in listed["items"]]
    listed = (await client.get(f"/api/v1/challenges/{cid}/participants",
                               headers=as_role["room_admin_other"].headers)).json()
    assert listed["items"] == []
    response = await client.post(f"/api/v1/challenges/{cid}/participants",
                                 json={"op_id": op_id(), "card_no": "JN99999999"}, headers=as_role["room_admin"].headers)
    assert response.status_code == 404 and response.json()["code"] == "reader_not_found"


# -- prize draws and exports -----------------------------------------------------------------------------------


async def test_prize_draws_are_reproducible_audited_and_notified(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        deps: Deps) -> None:
    admin = as_role["district_admin"]
    challenge = await make_challenge(client, admin, cap_per_log=10, cap_per_day=20)
    cid = challenge["id"]
    parent = await make_user(name="何平", birth_year=YEAR - 39)
    kids = [await add_child(parent, name=f"何小{n}", birth_year=CHILD_YEAR) for n in "一二三四五"]
    joined = await join(client, parent, cid, [k["id"] for k in kids])
    for n, k in enumerate(kids):
        assert (await log(client, parent, cid, [k["id"]], n + 1)).status_code == 201  # totals 1..5; min_total 3
    url = f"/api/v1/challenges/{cid}/draws"
    first = await client.post(url, json={"seed": "summer2026", "winners": 2, "prize": "图书礼包",
                                          "exclude_previous_winners": False}, headers=admin.headers)
    assert first.status_code == 201, first.text
    body = first.json()
    eligible = sorted(p["id"] for p in joined[2:])
    assert body["eligible_count"] == 3 and body["eligible_hash"] == draw.list_hash(eligible)
    assert [w["participant_id"] for w in body["winners"]] == draw.pick_winners(eligible, "summer2026", 2)
    assert {w["name"] for w in body["winners"]} <= {"何小三", "何小四", "何小五"}  # staff see full names
    second = await client.post(url, json={"seed": "summer2026", "winners": 2, "prize": "图书礼包",
                                          "exclude_previous_winners": False}, headers=admin.headers)
    assert [w["participant_id"] for w in second.json()["winners"]] == [w["participant_id"] for w in body["winners"]]
    third = await client.post(url, json={"winners": 5}, headers=admin.headers)  # earlier winners left out
    assert third.status_code == 201 and third.json()["seed"]
    assert [w["participant_id"] for w in third.json()["winners"]] == sorted(
        set(eligible) - {w["participant_id"] for w in body["winners"]})
    got = await client.get(f"{url}/{body['id']}", params={"include_eligible": "true"}, headers=admin.headers)
    assert got.status_code == 200 and got.json()["eligible_ids"] == eligible
    events = await deps.db["notifications"].find({"event": "prize_won", "_id": {"$regex": f"^prize_won:{body['id']}"}}
                                                 ).to_list()
    assert len(events) == 2 and all(e["data"]["thing2"] == "图书礼包" for e in events)
    assert await deps.db["audit"].count_documents({"action": "challenge.draw", "target_id": cid}) == 3
    xlsx = await client.get(f"{url}/{body['id']}/winners.xlsx", headers=admin.headers)
    assert xlsx.status_code == 200 and xlsx.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("序号", "姓名", "借阅证号") and {r[1] for r in rows[1:]} == {
        w["name"] for w in body["winners"]}
    nobody = await client.post(url, json={"winners": 1, "filters": {"age_groups": ["初中"]}}, headers=admin.headers)
    assert nobody.status_code == 422 and nobody.json()["code"] == "nobody_eligible"
    unknown = await client.post(url, json={"winners": 1, "filters": {"age_groups": ["大学"]}}, headers=admin.headers)
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "filters", "age_groups", 0]
    for role in ("room_admin", "town_coordinator"):
        assert (await client.post(url, json={"winners": 1}, headers=as_role[role].headers)).status_code == 403


async def test_librarians_export_their_rooms_participants(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild) -> None:
    challenge = await make_challenge(client, as_role["district_admin"])
    parent = await make_user(name="许可", birth_year=YEAR - 34)
    kid = await add_child(parent, name="许小诺", birth_year=CHILD_YEAR)
    await join(client, parent, challenge["id"], [kid["id"]])
    await log(client, parent, challenge["id"], [kid["id"]], 4)
    own = await client.get(f"/api/v1/challenges/{challenge['id']}/export.xlsx", headers=as_role["room_admin"].headers)
    assert own.status_code == 200
    rows = list(load_workbook(io.BytesIO(own.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "姓名" and rows[0][8] == "累计（本）"
    assert [(r[0], r[3], r[8]) for r in rows[1:]] == [("许小诺", HOME_ROOM, 4)]
    other = await client.get(f"/api/v1/challenges/{challenge['id']}/export.xlsx",
                             headers=as_role["room_admin_other"].headers)
    assert len(list(load_workbook(io.BytesIO(other.content)).active.iter_rows())) == 1  # the headers only


# -- privacy ----------------------------------------------------------------------------------------------------------


async def test_export_and_erase_a_family(client: httpx.AsyncClient, as_role: dict[str, Session],
                                         make_user: MakeUser, add_child: AddChild, deps: Deps) -> None:
    challenge = await make_challenge(client, as_role["district_admin"])
    cid = challenge["id"]
    parent = await make_user(name="蒋文", birth_year=YEAR - 41)
    kid = await add_child(parent, name="蒋小乐", birth_year=CHILD_YEAR)
    (p,) = await join(client, parent, cid, [kid["id"]])
    await log(client, parent, cid, [kid["id"]], 5)
    board = (await client.get(f"/mp/v1/challenges/{cid}/board", params={"member_id": kid["id"]},
                              headers=parent.headers)).json()
    assert board["me"]["rank"] == 1
    account = await deps.db["mp_accounts"].find_one({"_id": ObjectId(parent.account_id)})
    members = await deps.db["members"].find({"account_id": ObjectId(parent.account_id)}).to_list()
    exported = await privacy.export(deps, account, members)
    assert isinstance(exported, dict)
    assert [x["challenge_title"] for x in exported["participations"]] == ["暑期阅读挑战"]
    assert len(exported["reading_logs"]) == 1 and exported["badges"][0]["badge"] == "阅读新星"
    await privacy.erase(deps, account, members, db_now())
    for name in ("participants", "reading_logs", "badges"):
        assert await deps.db[name].count_documents({"member_id": ObjectId(kid["id"])}) == 0, name
    key = f"shuwu:board:{{{cid}}}:all"
    assert await deps.redis.zscore(key, p["id"]) is None
    assert await deps.redis.hget(f"shuwu:board:{{{cid}}}:names", p["id"]) is None
