"""A 书香之家 round from the families' side, through the real API: two families nominate
themselves in the mini-program, the district takes the round to its decision, and both
families are told the result (a ``rating_result`` notification each, in the same transaction
as the decision) and see it in the mini-program."""

from __future__ import annotations

from typing import Any

import httpx
from bson import ObjectId

from server.resources import Deps
from tests.conftest import Session
from tests.miniprogram_api.conftest import MakeUser, op_id

RATINGS = "/api/v1/ratings"
FAMILY = "/mp/v1/reading-family"


async def test_families_hear_the_decision(client: httpx.AsyncClient, make_user: MakeUser, seeded: Deps,
                                          as_role: dict[str, Session]) -> None:
    admin = as_role["district_admin"]
    created = await client.post(f"{RATINGS}/rounds", headers=admin.headers, json={
        "year": 2030, "kind": "reading_family", "quotas": {"award": 1, "nominate": 0}})
    assert created.status_code == 201, created.text
    rid = created.json()["round_id"]

    async def move(to: str, **extra: Any) -> None:
        r = await client.post(f"{RATINGS}/rounds/{rid}/transition", headers=admin.headers, json={"to": to, **extra})
        assert r.status_code == 200, r.text

    await move("open")
    families = []
    for name, books in (("王秀英", 300), ("张志强", 20)):
        user = await make_user(name=name)
        r = await client.post(f"{FAMILY}/entries", headers=user.headers, json={
            "op_id": op_id(), "family_name": f"{name}家庭", "statement": "全家每天一起读书。", "books_owned": books,
            "reading_minutes_per_week": 300})
        assert r.status_code == 201, r.text
        families.append((user, r.json()["id"]))
    await move("town_review")
    for _, entry_id in families:
        r = await client.post(f"{RATINGS}/entries/{entry_id}/town-review", headers=admin.headers, json={"passed": True})
        assert r.status_code == 200, r.text
    await move("district_review")
    await move("shortlisted", allow_missing_inspections=True)
    await move("publicity")
    await seeded.db.rating_rounds.update_one({"_id": ObjectId(rid)}, {"$set": {"publicity.ends_on": "2000-01-01"}})
    assert await seeded.db.notifications.count_documents({"event": "rating_result"}) == 0
    await move("decided")

    events = await seeded.db.notifications.find({"event": "rating_result"}).to_list()
    by_account = {e["account_id"]: e["data"]["phrase2"] for e in events}
    assert by_account == {ObjectId(families[0][0].account_id): "入选", ObjectId(families[1][0].account_id): "未入选"}
    seen = (await client.get(FAMILY, headers=families[0][0].headers)).json()
    assert seen["entry"]["outcome"] in ("awarded", "nominated")
    # A second decision is impossible (the round is locked), so nobody is told twice.
    again = await client.post(f"{RATINGS}/rounds/{rid}/transition", headers=admin.headers, json={"to": "decided"})
    assert again.status_code == 409
    assert await seeded.db.notifications.count_documents({"event": "rating_result"}) == 2
