"""The 2014/2015 results (idempotent, the published counts) and the ratings demo (runs twice)."""

from __future__ import annotations

from collections import Counter

import httpx

from server.readers.service import local_today
from server.resources import Deps
from tests.conftest import Session
from training.ratings.demo import seed_demo
from training.ratings.history import load_history


async def test_history_loads_once_with_the_published_counts(seeded: Deps, client: httpx.AsyncClient,
                                                            as_role: dict[str, Session]) -> None:
    assert (await client.post("/api/v1/ratings/history", headers=as_role["district_staff"].headers)).status_code == 403
    first = await client.post("/api/v1/ratings/history", headers=as_role["district_admin"].headers)
    assert first.status_code == 200 and first.json()["rounds_created"] == 5 and first.json()["entries_created"] == 48
    again = await load_history(seeded)
    assert again.rounds_created == 0 and again.entries_created == 0
    rounds = await seeded.db.rating_rounds.find({"history": True}).to_list()
    assert {(r["year"], r["kind"], r["level"]) for r in rounds} == {
        (2014, "model_room", "city"), (2014, "model_admin", "city"), (2015, "model_room", "district"),
        (2015, "model_admin", "district"), (2015, "reading_family", "district")}
    assert all(r["status"] == "reported" and r["locked"] for r in rounds)
    by_round = {r["_id"]: (r["year"], r["kind"]) for r in rounds}
    counts = Counter(by_round[e["round_id"]] for e in await seeded.db.rating_entries.find({"history": True}).to_list())
    assert counts == {(2014, "model_room"): 3, (2014, "model_admin"): 5, (2015, "model_room"): 10,
                      (2015, "model_admin"): 20, (2015, "reading_family"): 10}
    entries = await seeded.db.rating_entries.find({"history": True}).to_list()
    assert {e["outcome"] for e in entries} == {"awarded"}
    codes = {d["code"]: d["name"] for d in await seeded.db.rooms.find({}, {"code": 1, "name": 1}).to_list()}
    rooms_2015 = [e for e in entries if by_round[e["round_id"]] == (2015, "model_room")]
    assert all(codes[e["subject"]["room"]] == e["subject"]["name"] for e in rooms_2015)
    assert len({e["subject"]["room"] for e in rooms_2015}) == 10
    assert len({e["certificate_no"] for e in entries}) == 48
    # a past round's result is locked, public, and prints
    rid = next(str(r["_id"]) for r in rounds if r["year"] == 2015 and r["kind"] == "reading_family")
    locked = await client.patch(f"/api/v1/ratings/rounds/{rid}", json={"title": "改名"},
                                headers=as_role["district_admin"].headers)
    assert locked.status_code == 409 and locked.json()["code"] == "round_locked"
    page = await client.get(f"/public/ratings/{rid}")
    assert page.status_code == 200 and "评选结果" in page.text
    family = next(e for e in entries if e["round_id"] == rounds[-1]["_id"] or by_round[e["round_id"]][1] == "reading_family")
    assert family["subject"]["name"] not in page.text and family["subject"]["name"][0] in page.text
    cert = await client.get(f"/api/v1/ratings/entries/{family['_id']}/certificate.pdf",
                            headers=as_role["district_admin"].headers)
    assert cert.status_code == 200 and cert.content.startswith(b"%PDF")


async def test_the_demo_seeds_once_and_leaves_a_round_in_district_review(seeded: Deps) -> None:
    await seed_demo(seeded)
    year = local_today().year
    rnd = await seeded.db.rating_rounds.find_one({"year": year, "kind": "model_room", "level": "district"})
    assert rnd is not None and rnd["status"] == "district_review"
    entries = await seeded.db.rating_entries.find({"round_id": rnd["_id"]}).to_list()
    assert 10 <= len(entries) <= 13
    statuses = Counter(e["status"] for e in entries)
    assert statuses["town_rejected"] == 1 and statuses["town_passed"] == len(entries) - 1
    assert all(e["metrics"] for e in entries if e["status"] == "town_passed")
    counts = {n: await seeded.db[n].count_documents({}) for n in ("rating_rounds", "rating_entries", "audit")}
    await seed_demo(seeded)
    assert {n: await seeded.db[n].count_documents({}) for n in counts} == counts
