"""Leaderboards: Redis sorted sets per challenge and team, top N and my rank in one call,
masked names, opting out, visibility changes from accounts, and rebuilding from Mongo."""

from __future__ import annotations

import random
from typing import Any

import httpx
from bson import ObjectId

from miniprogram_api.challenges import service
from miniprogram_api.challenges.leaderboard import board_key
from server.resources import Deps
from server.storage import db_now
from tests.conftest import CommandCounter, Session
from tests.miniprogram_api.conftest import HOME_ROOM, AddChild, MakeUser, MpUser
from tests.miniprogram_api.test_challenges import CHILD_YEAR, YEAR, join, log, make_challenge

OTHER_ROOM = "JN-GG-001"
SCHOOL = "咸水沽第一小学"


async def board(client: httpx.AsyncClient, user: MpUser, challenge_id: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/mp/v1/challenges/{challenge_id}/board", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def _family(client: httpx.AsyncClient, make_user: MakeUser, add_child: AddChild, challenge_id: str,
                  kids: list[tuple[str, str, str, int]]) -> tuple[MpUser, list[dict[str, Any]]]:
    """A parent with children (name, room, school, books read today), all joined and logged."""
    parent = await make_user(name="家长", birth_year=YEAR - 40)
    members = [await add_child(parent, name=name, birth_year=CHILD_YEAR, room=room, school=school)
               for name, room, school, _ in kids]
    await join(client, parent, challenge_id, [m["id"] for m in members])
    for m, (_, _, _, books) in zip(members, kids, strict=True):
        assert (await log(client, parent, challenge_id, [m["id"]], books)).status_code == 201
    return parent, members


async def test_top_n_and_my_rank_with_masked_names_and_team_boards(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild) -> None:
    challenge = await make_challenge(client, as_role["district_admin"], teams=["room", "school", "town"])
    cid = challenge["id"]
    parent, kids = await _family(client, make_user, add_child, cid, [
        ("张小明", HOME_ROOM, SCHOOL, 5), ("张小红", HOME_ROOM, "咸水沽第二小学", 3), ("张小刚", OTHER_ROOM, "葛沽小学", 4)])
    whole = await board(client, parent, cid, member_id=kids[1]["id"])
    assert [(e["rank"], e["name"], e["total"], e["me"]) for e in whole["items"]] == [
        (1, "张**", 5, False), (2, "张**", 4, False), (3, "张**", 3, True)]
    assert whole["items"][0]["room_name"] and whole["size"] == 3
    assert whole["me"] == {"member_id": kids[1]["id"], "participant_id": whole["me"]["participant_id"], "rank": 3,
                           "total": 3, "public_board": True}
    room = await board(client, parent, cid, scope="room", member_id=kids[1]["id"])
    assert room["team"] == HOME_ROOM and [e["total"] for e in room["items"]] == [5, 3] and room["me"]["rank"] == 2
    other_room = await board(client, parent, cid, scope="room", team=OTHER_ROOM)
    assert [e["total"] for e in other_room["items"]] == [4] and other_room["me"] is None
    school = await board(client, parent, cid, scope="school", member_id=kids[0]["id"])
    assert (school["team"], school["size"], school["me"]["rank"]) == (SCHOOL, 1, 1)
    town = await board(client, parent, cid, scope="town", member_id=kids[0]["id"])
    assert town["team"] == "咸水沽镇" and [e["total"] for e in town["items"]] == [5, 3]
    top1 = await board(client, parent, cid, limit=1, member_id=kids[1]["id"])
    assert len(top1["items"]) == 1 and top1["me"]["rank"] == 3  # my rank even when I am not in the top N
    for params, loc in (({"scope": "class", "member_id": kids[0]["id"]}, "scope"), ({"scope": "room"}, "team"),
                        ({"limit": "0"}, "limit"), ({"scope": "galaxy"}, "scope")):
        response = await client.get(f"/mp/v1/challenges/{cid}/board", params=params, headers=parent.headers)
        assert response.status_code == 422 and response.json()["errors"][0]["loc"] == ["query", loc], response.text
    stranger = await make_user(name="路人", birth_year=YEAR - 30)
    response = await client.get(f"/mp/v1/challenges/{cid}/board", params={"member_id": kids[0]["id"]},
                                headers=stranger.headers)
    assert response.status_code == 404
    assert (await board(client, stranger, cid))["size"] == 3  # anyone logged in sees the public board


async def test_a_child_who_opts_out_disappears_for_others_but_sees_their_own_rank(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        deps: Deps) -> None:
    challenge = await make_challenge(client, as_role["district_admin"])
    cid = challenge["id"]
    parent, (shy, bold) = await _family(client, make_user, add_child, cid, [
        ("李安静", HOME_ROOM, SCHOOL, 5), ("李活泼", HOME_ROOM, SCHOOL, 2)])
    neighbour, (other,) = await _family(client, make_user, add_child, cid, [("周邻居", HOME_ROOM, SCHOOL, 4)])
    response = await client.patch(f"/mp/v1/members/{shy['id']}", json={"public_board": False}, headers=parent.headers)
    assert response.status_code == 200, response.text
    seen = await board(client, neighbour, cid, member_id=other["id"])
    assert [(e["name"], e["total"]) for e in seen["items"]] == [("周**", 4), ("李**", 2)] and seen["size"] == 2
    mine = await board(client, parent, cid, member_id=shy["id"])
    assert mine["me"]["rank"] == 1 and mine["me"]["public_board"] is False and mine["me"]["total"] == 5
    assert not any(e["me"] for e in mine["items"])
    assert (await log(client, parent, cid, [shy["id"]], 1)).status_code == 201  # logging keeps them hidden
    assert (await board(client, neighbour, cid))["size"] == 2
    pid = mine["me"]["participant_id"]
    assert await deps.redis.hget(board_key(cid, "names"), pid) is None
    # renaming shows at once; moving room moves the child to the other room's board
    response = await client.patch(f"/mp/v1/members/{bold['id']}", json={"name": "欧阳活泼", "home_room": OTHER_ROOM},
                                  headers=parent.headers)
    assert response.status_code == 200, response.text
    seen = await board(client, neighbour, cid)
    assert ("欧***", 2) in [(e["name"], e["total"]) for e in seen["items"]]
    here = await board(client, neighbour, cid, scope="room", team=HOME_ROOM)
    assert [e["name"] for e in here["items"]] == ["周**"]
    there = await board(client, neighbour, cid, scope="room", team=OTHER_ROOM)
    assert [e["name"] for e in there["items"]] == ["欧***"]
    # back on the board
    await client.patch(f"/mp/v1/members/{shy['id']}", json={"public_board": True}, headers=parent.headers)
    assert [e["total"] for e in (await board(client, neighbour, cid))["items"]] == [6, 4, 2]
    # withdrawing consent takes a child off every board
    response = await client.post(f"/mp/v1/members/{shy['id']}/consent/withdraw", json={"reason": "不想参加了"},
                                 headers=parent.headers)
    assert response.status_code == 200, response.text
    assert [e["total"] for e in (await board(client, neighbour, cid))["items"]] == [4, 2]


async def test_boards_are_rebuilt_from_mongo_when_redis_loses_them(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        deps: Deps) -> None:
    challenge = await make_challenge(client, as_role["district_admin"])
    cid = challenge["id"]
    parent, kids = await _family(client, make_user, add_child, cid, [
        ("钱一", HOME_ROOM, SCHOOL, 3), ("钱二", HOME_ROOM, SCHOOL, 5)])
    before = await board(client, parent, cid, scope="room", member_id=kids[0]["id"])
    keys = [k async for k in deps.redis.scan_iter(match=f"shuwu:board:{{{cid}}}:*")]
    assert board_key(cid, "built") in keys
    await deps.redis.delete(*keys)
    assert await board(client, parent, cid, scope="room", member_id=kids[0]["id"]) == before
    await deps.redis.delete(board_key(cid, "built"), board_key(cid, "challenge"))
    # a log after a loss rebuilds too, and counts once
    assert (await log(client, parent, cid, [kids[0]["id"]], 4)).status_code == 201
    after = await board(client, parent, cid, member_id=kids[0]["id"])
    assert [e["total"] for e in after["items"]] == [7, 5] and after["me"]["rank"] == 1
    await deps.redis.delete(board_key(cid, "names"))  # names alone lost: filled from Mongo
    assert [e["name"] for e in (await board(client, parent, cid))["items"]] == ["钱*", "钱*"]
    assert await service.rebuild_boards(deps, cid) == 2


async def test_a_large_board_agrees_with_mongo_in_one_redis_round_trip(
        client: httpx.AsyncClient, as_role: dict[str, Session], make_user: MakeUser, add_child: AddChild,
        deps: Deps, command_counter: CommandCounter) -> None:
    challenge = await make_challenge(client, as_role["district_admin"])
    cid = challenge["id"]
    rng = random.Random(4)
    now = db_now()
    docs = [{"challenge_id": ObjectId(cid), "member_id": ObjectId(), "account_id": ObjectId(), "reader_id": None,
             "name": f"{rng.choice('赵钱孙李周吴郑王')}同学{n}", "room": rng.choice([HOME_ROOM, OTHER_ROOM]),
             "room_name": "书屋", "town": "咸水沽镇", "school": SCHOOL, "class_name": None, "public": n % 7 != 0,
             "status": "active", "age": 9, "age_group": "小学低年级", "total": rng.randrange(1, 400), "log_count": 1,
             "days": {}, "recent": [], "badges": [], "joined_at": now, "joined_by": "mp:x", "updated_at": now}
            for n in range(600)]
    await deps.db["participants"].insert_many(docs)
    parent, (kid,) = await _family(client, make_user, add_child, cid, [("自己", HOME_ROOM, SCHOOL, 5)])
    assert await service.rebuild_boards(deps, cid) == sum(1 for d in docs if d["public"]) + 1
    stats_before = await deps.redis.info("commandstats")
    command_counter.reset()
    top = await board(client, parent, cid, member_id=kid["id"], limit=50)
    stats_after = await deps.redis.info("commandstats")
    public = sorted([d["total"] for d in docs if d["public"]] + [5], reverse=True)
    assert [e["total"] for e in top["items"]] == public[:50] and top["size"] == len(public)
    assert top["me"]["rank"] == public.index(5) + 1 or public[top["me"]["rank"] - 1] == 5
    calls = {name: stats_after.get(f"cmdstat_{name}", {}).get("calls", 0)
             - stats_before.get(f"cmdstat_{name}", {}).get("calls", 0)
             for name in ("zrevrange", "zrevrank", "zscore", "hmget", "zadd")}
    assert calls == {"zrevrange": 1, "zrevrank": 1, "zscore": 1, "hmget": 1, "zadd": 0}
    assert len(command_counter.commands) <= 3, command_counter.commands  # account, challenge (or cached), participant
    hidden = next(d for d in docs if not d["public"])
    assert await deps.redis.zscore(board_key(cid, "challenge"), str(hidden["_id"])) is None
