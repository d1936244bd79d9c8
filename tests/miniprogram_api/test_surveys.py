"""The readers' satisfaction survey in the mini-program: who may answer, one answer a year,
replace and replay, privacy (export, erase), and the staff's aggregates."""

from __future__ import annotations

import httpx

from miniprogram_api.accounts.privacy import PARTS
from server.resources import Deps
from tests.conftest import Session
from tests.miniprogram_api.conftest import AddChild, MakeUser, op_id

ROOM = "JN-XSG-001"  # the make_user default home room
OTHER = "JN-GG-003"


def _answers(q5: int = 5, rest: int = 4) -> dict[str, int]:
    return {"q1": rest, "q2": rest, "q3": rest, "q4": rest, "q5": q5}


async def test_the_survey_shows_questions_and_no_answer_yet(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user()
    response = await client.get(f"/mp/v1/rooms/{ROOM}/survey", headers=user.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [q["key"] for q in body["questions"]] == ["q1", "q2", "q3", "q4", "q5"]
    assert body["can_answer"] is True and body["mine"] is None and body["reason"] is None
    unknown = await client.get("/mp/v1/rooms/JN-XSG-999/survey", headers=user.headers)
    assert unknown.status_code == 404
    assert (await client.get(f"/mp/v1/rooms/{ROOM}/survey")).status_code == 401


async def test_one_answer_a_year_replaced_and_replayed(client: httpx.AsyncClient, seeded: Deps,
                                                       make_user: MakeUser) -> None:
    user = await make_user()
    url = f"/mp/v1/rooms/{ROOM}/survey"
    op = op_id()
    first = await client.post(url, headers=user.headers, json={"op_id": op, "answers": _answers(5),
                                                               "comment": "希望周末多开一会儿"})
    assert first.status_code == 200, first.text
    assert first.json()["replaced"] is False and first.json()["replayed"] is False
    replay = await client.post(url, headers=user.headers, json={"op_id": op, "answers": _answers(1)})
    assert replay.json()["replayed"] is True and replay.json()["mine"]["answers"]["q5"] == 5
    second = await client.post(url, headers=user.headers, json={"op_id": op_id(), "answers": _answers(2)})
    assert second.status_code == 200 and second.json()["replaced"] is True
    docs = await seeded.db["room_surveys"].find({"room": ROOM, "account_id": {"$exists": True}}).to_list()
    mine = [d for d in docs if str(d["account_id"]) == user.account_id]
    assert len(mine) == 1 and mine[0]["answers"]["q5"] == 2
    shown = (await client.get(url, headers=user.headers)).json()
    assert shown["mine"]["answers"]["q5"] == 2 and shown["mine"]["comment"] == ""


async def test_another_account_sees_only_its_own_answer(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    one, two = await make_user(), await make_user()
    url = f"/mp/v1/rooms/{ROOM}/survey"
    await client.post(url, headers=one.headers, json={"op_id": op_id(), "answers": _answers(4), "comment": "秘密"})
    other = (await client.get(url, headers=two.headers)).json()
    assert other["mine"] is None
    assert "秘密" not in (await client.get(url, headers=two.headers)).text


async def test_only_families_tied_to_the_room_may_answer(client: httpx.AsyncClient, seeded: Deps,
                                                         make_user: MakeUser, add_child: AddChild) -> None:
    user = await make_user(room=ROOM)
    url = f"/mp/v1/rooms/{OTHER}/survey"
    view = (await client.get(url, headers=user.headers)).json()
    assert view["can_answer"] is False and "书屋" in view["reason"]
    refused = await client.post(url, headers=user.headers, json={"op_id": op_id(), "answers": _answers()})
    assert refused.status_code == 422 and refused.json()["code"] == "survey_not_eligible"
    assert await seeded.db["room_surveys"].count_documents({"room": OTHER}) == 0
    # a child of the family with OTHER as home room makes the family eligible
    await add_child(user, room=OTHER)
    ok = await client.post(url, headers=user.headers, json={"op_id": op_id(), "answers": _answers()})
    assert ok.status_code == 200, ok.text
    # a check-in at a third room makes it eligible too
    third = "JN-GG-004"
    assert (await client.post(f"/mp/v1/rooms/{third}/visits", headers=user.headers,
                              json={"op_id": op_id()})).status_code == 200
    checked = await client.post(f"/mp/v1/rooms/{third}/survey", headers=user.headers,
                                json={"op_id": op_id(), "answers": _answers()})
    assert checked.status_code == 200, checked.text


async def test_bad_answers_name_the_field(client: httpx.AsyncClient, make_user: MakeUser) -> None:
    user = await make_user()
    url = f"/mp/v1/rooms/{ROOM}/survey"
    for answers, loc in ((_answers(6), ["body", "answers", "q5"]), ({"q1": 3}, ["body", "answers", "q2"]),
                         ({**_answers(), "q6": 3}, ["body", "answers", "q6"])):
        response = await client.post(url, headers=user.headers, json={"op_id": op_id(), "answers": answers})
        assert response.status_code == 422
        assert loc in [e["loc"] for e in response.json()["errors"]]
    long = await client.post(url, headers=user.headers, json={"op_id": op_id(), "answers": _answers(),
                                                              "comment": "好" * 201})
    assert long.status_code == 422 and ["body", "comment"] in [e["loc"] for e in long.json()["errors"]]


async def test_export_and_erase_through_the_privacy_parts(client: httpx.AsyncClient, seeded: Deps,
                                                          make_user: MakeUser) -> None:
    assert "miniprogram_api.surveys.privacy" in PARTS
    user = await make_user()
    await client.post(f"/mp/v1/rooms/{ROOM}/survey", headers=user.headers,
                      json={"op_id": op_id(), "answers": _answers(3), "comment": "书有点旧"})
    exported = (await client.get("/mp/v1/me/export", headers=user.headers)).json()
    mine = exported["data"]["room_surveys"]
    assert len(mine) == 1 and mine[0]["room"] == ROOM and mine[0]["comment"] == "书有点旧"
    before = await seeded.db["room_surveys"].count_documents({"room": ROOM})
    deleted = await client.delete("/mp/v1/me", headers=user.headers)
    assert deleted.status_code == 200, deleted.text
    from bson import ObjectId

    assert await seeded.db["room_surveys"].count_documents({"account_id": ObjectId(user.account_id)}) == 0
    # the scores stay, anonymous, in the room's statistics; the comment is gone
    assert await seeded.db["room_surveys"].count_documents({"room": ROOM}) == before
    assert await seeded.db["room_surveys"].count_documents({"comment": "书有点旧"}) == 0


async def test_staff_see_aggregates_only(client: httpx.AsyncClient, seeded: Deps, make_user: MakeUser,
                                         as_role: dict[str, Session]) -> None:
    room = "JN-XSG-002"
    users = [await make_user(name=f"读者{i}", room=room) for i in range(4)]
    for user, q5 in zip(users, (5, 4, 3, 5), strict=True):
        r = await client.post(f"/mp/v1/rooms/{room}/survey", headers=user.headers,
                              json={"op_id": op_id(), "answers": _answers(q5), "comment": "环境很好" if q5 == 3 else ""})
        assert r.status_code == 200, r.text
    response = await client.get(f"/api/v1/rooms/{room}/survey-results", headers=as_role["district_staff"].headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["responses"], body["satisfied"], body["satisfaction_rate"]) == (4, 3, 0.75)
    q5 = next(q for q in body["questions"] if q["key"] == "q5")
    assert q5["counts"] == {"1": 0, "2": 0, "3": 1, "4": 1, "5": 2} and q5["mean"] == 4.25
    assert [c["text"] for c in body["comments"]] == ["环境很好"]
    for u in users:  # no respondent identity anywhere
        assert u.account_id not in response.text and u.openid not in response.text
    other_room = await client.get(f"/api/v1/rooms/{room}/survey-results", headers=as_role["room_admin"].headers)
    assert other_room.status_code == 403
