"""Readers at the desk over HTTP: registration (with PIPL consent for children), lookup,
scope, changes, blocking, and personal data kept out of responses, storage and logs."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import date
from typing import Any

import httpx
import pytest

from server.resources import Deps
from server.web.logs import ScrubbingFormatter
from tests.conftest import Session

ROOM, OTHER = "JN-XSG-001", "JN-GG-001"
GUARDIAN = {"name": "王建国", "phone": "13700001111", "relation": "父亲"}
CONSENT = {"version": "2026.1", "agreed": True}


def op() -> str:
    return uuid.uuid4().hex


def child_year() -> int:
    return date.today().year - 8


async def register(client: httpx.AsyncClient, who: Session, **fields: Any) -> httpx.Response:
    body = {"op_id": op(), "name": "赵读者", "phone": "13900000000", "birth_year": 1985, "home_room": ROOM, **fields}
    return await client.post("/api/v1/readers", headers=who.headers, json=body)


async def counts(deps: Deps) -> dict[str, int]:
    return {n: await deps.db[n].count_documents({}) for n in ("readers", "audit", "operations", "counters")}


async def test_register_an_adult(client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    response = await register(client, as_role["room_admin"], name="赵一", phone="138 1111 2222")
    assert response.status_code == 201, response.text
    reader = response.json()["reader"]
    assert reader["card_no"].startswith("JN") and len(reader["card_no"]) == 10
    assert (reader["phone"], reader["child"], reader["home_room"], reader["blocked"]) == ("138****2222", False, ROOM, False)
    assert reader["open_loans"] == {"book": 0, "audio_visual": 0} and reader["consent"] is None
    stored = await seeded.db.readers.find_one({"card_no": reader["card_no"]})
    assert "13811112222" not in json.dumps(stored, default=str)
    assert stored["phone_enc"].startswith("k1:") and stored["lookup_keys"] == [stored["phone_key"]]
    entry = await seeded.db.audit.find_one({"action": "reader.register", "target_id": reader["id"]})
    assert entry["changes"]["card_no"] == reader["card_no"] and "13811112222" not in json.dumps(entry, default=str)
    # Card numbers come from one counter: the next reader gets the next number.
    nxt = (await register(client, as_role["room_admin"])).json()["reader"]["card_no"]
    assert int(nxt[2:]) == int(reader["card_no"][2:]) + 1


async def test_a_child_needs_a_guardian_and_consent(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                     seeded: Deps) -> None:
    admin = as_role["room_admin"]
    for fields, missing in [({}, ["guardian", "consent"]), ({"guardian": GUARDIAN}, ["consent"]),
                            ({"consent": CONSENT}, ["guardian"])]:
        before = await counts(seeded)
        response = await register(client, admin, birth_year=child_year(), phone=None, **fields)
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["code"] == "guardian_consent_required" and "14 周岁" in body["detail"]
        assert [e["loc"] for e in body["errors"]] == [["body", m] for m in missing]
        assert await counts(seeded) == before
    refused = await register(client, admin, birth_year=child_year(), guardian=GUARDIAN,
                             consent={"version": "2026.1", "agreed": False})
    assert refused.status_code == 422
    response = await register(client, admin, name="王小明", birth_year=child_year(), phone=None, guardian=GUARDIAN,
                              consent=CONSENT)
    assert response.status_code == 201, response.text
    reader = response.json()["reader"]
    assert reader["child"] is True and reader["phone"] is None
    assert reader["guardian"] == {"name": "王建国", "phone": "137****1111", "relation": "父亲"}
    consent = reader["consent"]
    assert (consent["version"], consent["channel"], consent["recorded_by"], consent["room"]) == (
        "2026.1", "desk", "jn-xsg-001", ROOM)
    # The guardian's number finds the child (a parent at the desk without the child's card).
    found = (await client.get("/api/v1/readers", headers=admin.headers, params={"phone": "13700001111"})).json()
    assert reader["id"] in [r["id"] for r in found["items"]]
    # An adult must give a phone; a child may not drop the guardian later.
    assert (await register(client, admin, phone=None)).json()["code"] == "phone_required"
    cleared = await client.patch(f"/api/v1/readers/{reader['id']}", headers=admin.headers, json={"guardian": None})
    assert cleared.status_code == 422 and cleared.json()["code"] == "guardian_consent_required"
    no_consent = await client.patch(f"/api/v1/readers/{reader['id']}", headers=admin.headers, json={"consent": None})
    assert no_consent.status_code == 422


async def test_id_numbers(client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    admin = as_role["room_admin"]
    number = "120112199105061248"
    bad = await register(client, admin, id_number="120112199105061249")
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["body", "id_number"]
    assert "120112199105061249" not in bad.text
    ok = await register(client, admin, id_number=number, birth_year=None)
    assert ok.status_code == 201, ok.text
    reader = ok.json()["reader"]
    assert reader["id_number"] == "1201**********1248"
    assert (reader["birth_year"], reader["birth_date"]) == (1991, "1991-05-06")  # read from the ID number
    before = await counts(seeded)
    again = await register(client, admin, id_number=number, birth_year=None)
    assert again.status_code == 409 and again.json()["code"] == "id_number_registered"
    assert number not in again.text
    assert await counts(seeded) == before
    stored = await seeded.db.readers.find_one({"_id": __import__("bson").ObjectId(reader["id"])})
    assert number not in json.dumps(stored, default=str)


async def test_find_readers_across_the_district_but_browse_only_your_own(
        client: httpx.AsyncClient, as_role: dict[str, Session], seeded: Deps) -> None:
    here = (await register(client, as_role["room_admin"], name="钱多多", phone="13922223333")).json()["reader"]
    there = (await register(client, as_role["room_admin_other"], name="钱少少", phone="13922224444",
                            home_room=OTHER)).json()["reader"]
    other_admin = as_role["room_admin_other"]
    # One card for the district: room B's desk finds room A's reader by card or full phone.
    by_card = (await client.get("/api/v1/readers", headers=other_admin.headers,
                                params={"card": here["card_no"].lower()})).json()
    assert [r["id"] for r in by_card["items"]] == [here["id"]]
    by_phone = (await client.get("/api/v1/readers", headers=other_admin.headers,
                                 params={"phone": "139-2222-3333"})).json()
    assert [r["id"] for r in by_phone["items"]] == [here["id"]]
    assert (await client.get(f"/api/v1/readers/{here['id']}", headers=other_admin.headers)).status_code == 200
    # …but browsing by name stays within the caller's rooms.
    mine = (await client.get("/api/v1/readers", headers=other_admin.headers, params={"name": "钱"})).json()
    assert [r["id"] for r in mine["items"]] == [there["id"]]
    refused = await client.get("/api/v1/readers", headers=other_admin.headers, params={"room": ROOM})
    assert refused.status_code == 403 and refused.json()["code"] == "room_out_of_scope"
    town = (await client.get("/api/v1/readers", headers=as_role["town_coordinator"].headers,
                             params={"name": "钱"})).json()
    assert [r["id"] for r in town["items"]] == [here["id"]]
    everyone = (await client.get("/api/v1/readers", headers=as_role["district_staff"].headers,
                                 params={"name": "钱"})).json()
    assert [r["id"] for r in everyone["items"]] == [here["id"], there["id"]]  # by name (code points)
    for who in ("inspector", "trainer"):
        assert (await client.get("/api/v1/readers", headers=as_role[who].headers)).status_code == 403
        assert (await client.get(f"/api/v1/readers/{here['id']}", headers=as_role[who].headers)).status_code == 403
    missing = await client.get("/api/v1/readers", headers=other_admin.headers, params={"card": "JN99999999"})
    assert missing.json()["items"] == []
    assert (await client.get("/api/v1/readers/nonsense", headers=other_admin.headers)).status_code == 422
    assert (await client.get(f"/api/v1/readers/{'0' * 24}", headers=other_admin.headers)).status_code == 404


async def test_browse_pages_through_every_reader(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                 seeded: Deps) -> None:
    admin = as_role["room_admin_other"]
    made = {(await register(client, admin, name=f"孙{i % 3}", home_room=OTHER)).json()["reader"]["id"] for i in range(7)}
    seen: list[str] = []
    params: dict[str, Any] = {"name": "孙", "limit": 3}
    while True:
        page = (await client.get("/api/v1/readers", headers=admin.headers, params=params)).json()
        seen += [r["id"] for r in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert sorted(seen) == sorted(made) and len(seen) == len(set(seen))
    forged = await client.get("/api/v1/readers", headers=admin.headers, params={"cursor": "bm9wZQ"})
    assert forged.status_code == 422 and forged.json()["code"] == "invalid_cursor"


async def test_changes_stay_in_the_home_scope(client: httpx.AsyncClient, as_role: dict[str, Session],
                                              seeded: Deps) -> None:
    reader = (await register(client, as_role["room_admin"], name="周改名")).json()["reader"]
    url = f"/api/v1/readers/{reader['id']}"
    audit_before = await seeded.db.audit.count_documents({})
    refused = await client.patch(url, headers=as_role["room_admin_other"].headers, json={"name": "别人改"})
    assert refused.status_code == 403 and refused.json()["code"] == "reader_out_of_scope"
    moved = await client.patch(url, headers=as_role["room_admin"].headers, json={"home_room": OTHER})
    assert moved.status_code == 403  # not the administrator's room
    assert await seeded.db.audit.count_documents({}) == audit_before
    changed = await client.patch(url, headers=as_role["room_admin"].headers,
                                 json={"name": "周新名", "phone": "13955556666"})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["name"], changed.json()["phone"]) == ("周新名", "139****6666")
    entry = await seeded.db.audit.find_one({"action": "reader.update", "target_id": reader["id"]})
    assert entry["changes"] == {"fields": ["name", "phone"]}
    found = (await client.get("/api/v1/readers", headers=as_role["room_admin"].headers,
                              params={"phone": "13955556666"})).json()
    assert [r["id"] for r in found["items"]] == [reader["id"]]
    moved = await client.patch(url, headers=as_role["district_admin"].headers, json={"home_room": OTHER})
    assert moved.status_code == 200 and moved.json()["home_room"] == OTHER
    assert (await client.patch(url, headers=as_role["room_admin"].headers, json={"name": "又改"})).status_code == 403
    assert (await client.patch(url, headers=as_role["district_admin"].headers, json={"name": None})).status_code == 422


async def test_blocking_is_for_the_district(client: httpx.AsyncClient, as_role: dict[str, Session],
                                            seeded: Deps) -> None:
    reader = (await register(client, as_role["room_admin"])).json()["reader"]
    url = f"/api/v1/readers/{reader['id']}"
    for who in ("room_admin", "town_coordinator", "inspector"):
        assert (await client.post(f"{url}/block", headers=as_role[who].headers, json={"reason": "逾期不还"})).status_code == 403
    blocked = await client.post(f"{url}/block", headers=as_role["district_admin"].headers, json={"reason": "逾期不还"})
    assert blocked.status_code == 200 and blocked.json()["blocked_reason"] == "逾期不还"
    twice = await client.post(f"{url}/block", headers=as_role["district_admin"].headers, json={"reason": "逾期不还"})
    assert twice.status_code == 422 and twice.json()["code"] == "block_unchanged"
    lifted = await client.post(f"{url}/unblock", headers=as_role["district_staff"].headers, json={"note": "已归还"})
    assert lifted.status_code == 200 and lifted.json()["blocked"] is False
    actions = [e["action"] async for e in seeded.db.audit.find({"target_id": reader["id"]}).sort("_id")]
    assert actions == ["reader.register", "reader.block", "reader.unblock"]


async def test_registering_for_another_room_or_a_bad_room(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                          seeded: Deps) -> None:
    before = await counts(seeded)
    other = await register(client, as_role["room_admin"], home_room=OTHER)
    assert other.status_code == 403 and other.json()["code"] == "room_out_of_scope"
    unknown = await register(client, as_role["district_admin"], home_room="JN-XSG-999")
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["loc"] == ["body", "home_room"]
    future = await register(client, as_role["room_admin"], birth_year=date.today().year + 1)
    assert future.status_code == 422 and future.json()["code"] == "invalid_birth"
    assert (await register(client, as_role["inspector"])).status_code == 403
    assert await counts(seeded) == before


async def test_phone_numbers_stay_out_of_the_logs(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                  seeded: Deps, caplog: pytest.LogCaptureFixture) -> None:
    await register(client, as_role["room_admin"], phone="13977778888")
    caplog.set_level(logging.DEBUG)
    await client.get("/api/v1/readers", headers=as_role["room_admin"].headers, params={"phone": "13977778888"})
    await register(client, as_role["room_admin"], phone="1397777888")  # invalid: the 422 is logged too
    formatter = ScrubbingFormatter("%(name)s %(message)s")
    lines = [formatter.format(r) for r in caplog.records]
    assert any("/api/v1/readers" in line for line in lines)
    assert not any("13977778888" in line or "1397777888" in line for line in lines), lines
