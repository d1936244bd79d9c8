"""Rating metrics on a small hand-built dataset: each figure equals the hand count, the
records behind it are on its evidence page (without reader identity), and the number of
Mongo commands does not grow with the number of entries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import pytest_asyncio
from bson import ObjectId

from server.circulation.rules import LOCAL_TZ
from server.resources import Deps
from tests.conftest import Session
from tests.web.test_pages import form_login, page_client
from training.ratings.metrics.compute import compute_metrics

ROOM = "JN-XSG-090"  # a room of this test only, Monday–Friday hours
ROUND = {"year": 2025, "period": {"from": "2025-03-01", "to": "2025-03-31"}}  # 21 weekdays
WEEKDAYS_IN_MARCH_2025 = 21
READER_1, READER_2, DESK_READER = ObjectId(), ObjectId(), ObjectId()
ACCOUNT, MEMBER_1, MEMBER_2 = ObjectId(), ObjectId(), ObjectId()
CARD_1 = ObjectId()
CH_BOOKS, CH_MINUTES = ObjectId(), ObjectId()
P1, P2, P3 = ObjectId(), ObjectId(), ObjectId()
ADMIN = ObjectId()


def local(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00").replace(tzinfo=LOCAL_TZ).astimezone(UTC)


def loan(room: str, reader: ObjectId | None, title: str, lent: str, returned: str | None = None,
         renewed: list[str] | None = None, returned_room: str | None = None) -> dict[str, Any]:
    return {"room": room, "reader_id": reader, "title_id": title, "lent_at": local(lent),
            "returned_at": local(returned) if returned else None,
            "returned_room": (returned_room or room) if returned else None,
            "renewed_at": [local(d) for d in renewed or []], "renewals": len(renewed or []), "due_at": local(lent)}


@pytest_asyncio.fixture(scope="module")
async def data(seeded: Deps) -> Deps:
    db = seeded.db
    template = await db.rooms.find_one({"code": "JN-XSG-001"})
    assert template
    room = {k: v for k, v in template.items() if k != "_id"} | {
        "code": ROOM, "name": "测试村农家书屋", "residents": 1000, "area_m2": 40, "seats": 20,
        "opening_hours": {d: ["09:00-17:00"] for d in ("mon", "tue", "wed", "thu", "fri")}}
    for code in ("JN-XSG-091", "JN-XSG-092"):
        await db.rooms.insert_one({**room, "code": code, "name": f"{code} 书屋"})
    await db.rooms.insert_one(room)
    await db.titles.insert_many([
        {"_id": "T-B1", "title": "平凡的世界", "format": "book"}, {"_id": "T-B2", "title": "红岩", "format": "book"},
        {"_id": "T-B3", "title": "遗失的书", "format": "book"}, {"_id": "T-P1", "title": "农家书屋报", "format": "periodical"},
        {"_id": "T-A1", "title": "种植技术光盘", "format": "audio_visual"}])
    await db.holdings.insert_many([
        {"room": ROOM, "title_id": "T-B1", "on_shelf": 800, "on_loan": 2, "in_transit": 0, "lost": 0, "damaged": 0},
        {"room": ROOM, "title_id": "T-B2", "on_shelf": 700, "on_loan": 0, "in_transit": 1, "lost": 0, "damaged": 0},
        {"room": ROOM, "title_id": "T-B3", "on_shelf": 0, "on_loan": 0, "in_transit": 0, "lost": 5, "damaged": 0},
        {"room": ROOM, "title_id": "T-P1", "on_shelf": 3, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0},
        {"room": ROOM, "title_id": "T-A1", "on_shelf": 50, "on_loan": 0, "in_transit": 0, "lost": 0, "damaged": 0}])
    await db.loans.insert_many([
        loan(ROOM, READER_1, "T-B1", "2025-03-03", returned="2025-03-05"),
        loan(ROOM, READER_1, "T-B2", "2025-03-04"),
        loan(ROOM, READER_2, "T-B1", "2025-03-10", renewed=["2025-03-12"]),
        loan(ROOM, None, "T-B2", "2025-03-11"),  # anonymised: counts in loans, not in readers
        loan("JN-XSG-001", READER_2, "T-B1", "2025-02-27", returned="2025-03-17", returned_room=ROOM),
        loan("JN-XSG-001", READER_1, "T-B1", "2025-03-06"),  # another room's loan
        loan("JN-XSG-001", CARD_1, "T-B1", "2025-03-07"), loan("JN-XSG-001", CARD_1, "T-B2", "2025-03-08"),
        loan("JN-XSG-001", CARD_1, "T-B2", "2025-04-08"), loan("JN-XSG-001", DESK_READER, "T-B2", "2025-03-09"),
    ])
    await db.room_visits.insert_many([{"_id": f"{ROOM}:2025-03-18", "room": ROOM, "day": "2025-03-18", "visits": 2},
                                      {"_id": f"{ROOM}:2025-03-19", "room": ROOM, "day": "2025-03-19", "visits": 0}])
    now = datetime.now(UTC)
    await db.room_activities.insert_many([
        {"room": ROOM, "town": "咸水沽镇", "held_on": day, "title": title, "kind": "读书会", "attendance": n,
         "children": 0, "notes": "", "recorded_by": "admin", "created_at": now, "updated_at": now}
        for day, title, n in (("2025-03-20", "三月读书会", 30), ("2025-03-22", "周六亲子阅读", 12),
                              ("2025-04-02", "四月讲座", 50))])
    await db.room_openings.insert_many([{"_id": f"{ROOM}:{d}", "room": ROOM, "day": d, "by": "x", "at": now}
                                        for d in ("2025-03-21", "2025-03-24")])
    await db.stocktakes.insert_many([
        {"room": ROOM, "state": "approved", "started_at": local("2025-03-01"), "approved_at": local("2025-03-02"),
         "report": {"expected_copies": 900, "scanned_copies": 810, "missing": [{"missing": 90}]}},
        {"room": ROOM, "state": "approved", "started_at": local("2025-03-14"), "approved_at": local("2025-03-15"),
         "report": {"expected_copies": 1000, "scanned_copies": 995, "missing": [{"missing": 3}, {"missing": 2}]}},
        {"room": ROOM, "state": "cancelled", "started_at": local("2025-03-25")}])
    await db.room_surveys.insert_many([
        {"room": ROOM, "year": 2025, "account_id": ObjectId(), "answers": {f"q{i}": 4 for i in range(1, 5)} | {"q5": q5},
         "answered_on": day, "answered_at": local(day), "comment": ""}
        for q5, day in ((5, "2025-03-02"), (4, "2025-03-09"), (3, "2025-03-10"), (5, "2025-03-30"), (1, "2025-04-02"))])
    await db.staff.insert_one({"_id": ADMIN, "username": "jn-xsg-090", "name": "测试管理员", "role": "room_admin",
                               "rooms": [ROOM], "towns": [], "active": True})
    await db.training_certificates.insert_many([
        {"number": "JNPX-2025-9001", "staff_id": str(ADMIN), "kind": "induction", "hours": 16, "issued_on": "2025-02-10",
         "revoked": False, "verify_token": "test-metrics-token-1"},
        {"number": "JNPX-2025-9002", "staff_id": str(ADMIN), "kind": "topic", "hours": 4, "issued_on": "2025-06-01",
         "revoked": False, "verify_token": "test-metrics-token-2"}])
    # a family: two members, one with a library card; a desk reader on their own
    await db.members.insert_many([
        {"_id": MEMBER_1, "account_id": ACCOUNT, "name": "王秀英", "reader_id": CARD_1, "status": "active",
         "created_at": now},
        {"_id": MEMBER_2, "account_id": ACCOUNT, "name": "王小明", "reader_id": None, "status": "active",
         "created_at": now}])
    await db.challenges.insert_many([{"_id": CH_BOOKS, "title": "春季读书打卡", "unit": "books"},
                                     {"_id": CH_MINUTES, "title": "每日阅读", "unit": "minutes"}])
    await db.participants.insert_many([
        {"_id": P1, "challenge_id": CH_BOOKS, "member_id": MEMBER_1, "reader_id": CARD_1, "joined_at": local("2025-03-02")},
        {"_id": P2, "challenge_id": CH_MINUTES, "member_id": MEMBER_2, "reader_id": None,
         "joined_at": local("2025-01-01")},
        {"_id": P3, "challenge_id": CH_BOOKS, "member_id": None, "reader_id": DESK_READER,
         "joined_at": local("2024-12-01")}])

    def log(p: ObjectId, ch: ObjectId, amount: int, day: str, status: str = "counted",
            flag: str | None = None) -> dict[str, Any]:
        return {"participant_id": p, "challenge_id": ch, "amount": amount, "read_on": day, "status": status,
                "flag": {"status": flag} if flag else None, "book_title": f"书{amount}"}

    await db.reading_logs.insert_many([
        log(P1, CH_BOOKS, 3, "2025-03-05"), log(P1, CH_BOOKS, 2, "2025-03-06", flag="open"),
        log(P1, CH_BOOKS, 4, "2025-03-07", status="rejected", flag="rejected"),
        log(P1, CH_BOOKS, 1, "2025-03-08", flag="accepted"),
        log(P2, CH_MINUTES, 30, "2025-03-06"), log(P2, CH_MINUTES, 20, "2025-04-06"),
        log(P3, CH_BOOKS, 5, "2025-03-09")])
    await db.contest_entries.insert_many([
        {"member_id": MEMBER_1, "account_id": ACCOUNT, "category": "征文", "title": "我的书屋",
         "submitted_at": local("2025-03-15")},
        {"member_id": MEMBER_2, "account_id": ACCOUNT, "category": "绘画", "title": "去年的画",
         "submitted_at": local("2024-08-15")}])
    return seeded


ROOM_ENTRY = {"_id": ObjectId(), "subject": {"type": "room", "room": ROOM, "name": "测试村农家书屋"}}
STAFF_ENTRY = {"_id": ObjectId(), "subject": {"type": "staff", "room": ROOM, "staff_id": str(ADMIN), "name": "测试管理员"}}
FAMILY_ENTRY = {"_id": ObjectId(), "subject": {"type": "family", "room": "JN-XSG-001", "account_id": str(ACCOUNT),
                                               "reader_id": None, "name": "王秀英家庭"}}
DESK_ENTRY = {"_id": ObjectId(), "subject": {"type": "family", "room": "JN-XSG-001", "account_id": None,
                                             "reader_id": str(DESK_READER), "name": "李家"}}


def values(metrics: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {k: m["value"] for k, m in metrics.items()}


async def test_room_metrics_equal_the_hand_count(data: Deps) -> None:
    result = await compute_metrics(data, ROUND, [ROOM_ENTRY])
    m = result[str(ROOM_ENTRY["_id"])]
    v = values(m)
    assert (v["volumes"], v["titles"], v["periodicals"], v["audio_visual"]) == (1503, 2, 1, 50)
    assert v["holdings_ratio"] == round(2 / 500, 4)
    assert (v["residents"], v["loans"]) == (1000, 4)
    assert v["loans_per_resident"] == round(4 / 1000, 4)
    assert v["borrowing_rate"] == round(4 / 1503, 4)
    assert v["readers_share"] == round(2 / 1000, 4)  # the anonymised loan has no reader
    assert "1 册次已按规定匿名化" in m["loans"]["detail"] and "不计入人数" in m["readers_share"]["detail"]
    # open on 3,4,5,10,11,12,17,18,20,21,24 March of 21 weekdays; Saturday 22 (activity) is extra
    assert v["opening_days_ratio"] == round(11 / WEEKDAYS_IN_MARCH_2025, 4)
    assert "应开放 21 天，其中 11 天" in m["opening_days_ratio"]["detail"] and "另有 1 天" in m["opening_days_ratio"]["detail"]
    assert (v["activities_held"], v["activity_attendance"]) == (2, 42)
    assert v["stocktake_loss_rate"] == round(5 / 1000, 4)
    assert (v["satisfaction_rate"], v["survey_responses"]) == (0.75, 4)
    assert (v["admin_training_hours"], v["admin_inducted"]) == (20, 1)
    assert "JNPX-2025-9001" in m["admin_inducted"]["detail"]
    assert v["stars"] == 0 and "升到 1 星还需" in m["stars"]["detail"]
    assert m["loans"]["links"] == [{"label": "查看记录",
                                    "href": f"/console/ratings/evidence/{ROOM}/loans?from=2025-03-01&to=2025-03-31"}]
    assert m["admin_training_hours"]["links"][0]["href"] == f"/console/training/certificates?staff_id={ADMIN}"
    assert {k for k in m} >= {"volumes", "loans", "opening_days_ratio", "stars", "satisfaction_rate"}
    for metric in m.values():
        assert set(metric) == {"value", "unit", "label", "detail", "links"}


async def test_an_administrator_gets_their_rooms_and_own_training(data: Deps) -> None:
    m = (await compute_metrics(data, ROUND, [STAFF_ENTRY]))[str(STAFF_ENTRY["_id"])]
    assert (m["loans"]["value"], m["admin_training_hours"]["value"]) == (4, 20)
    assert "stars" not in m


async def test_family_metrics_equal_the_hand_count(data: Deps) -> None:
    result = await compute_metrics(data, ROUND, [FAMILY_ENTRY, DESK_ENTRY])
    fam = values(result[str(FAMILY_ENTRY["_id"])])
    # books: 3 + 1 (accepted flag); the open flag (2) and the rejected log (4) do not count
    assert (fam["family_books_logged"], fam["family_minutes_logged"], fam["family_loans"]) == (4, 30, 2)
    assert fam["family_activities"] == 3  # two challenges + one contest entry in the period
    assert fam["family_visits"] is None
    desk = values(result[str(DESK_ENTRY["_id"])])
    assert (desk["family_books_logged"], desk["family_loans"], desk["family_activities"]) == (5, 1, 1)


async def test_training_unavailable_is_said_not_guessed(data: Deps, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "training.certificates.requirements", None)  # the import fails
    m = (await compute_metrics(data, ROUND, [ROOM_ENTRY]))[str(ROOM_ENTRY["_id"])]
    assert m["admin_training_hours"]["value"] is None and m["admin_training_hours"]["detail"] == "培训记录暂不可用"
    assert m["loans"]["value"] == 4


async def test_command_count_does_not_grow_with_entries(data: Deps, command_counter: Any) -> None:
    def entries(n: int) -> list[dict[str, Any]]:
        rooms = [ROOM, "JN-XSG-091", "JN-XSG-092", "JN-XSG-001", "JN-XSG-002"][:n]
        return ([{"_id": ObjectId(), "subject": {"type": "room", "room": c}} for c in rooms]
                + [{**FAMILY_ENTRY, "_id": ObjectId()} for _ in range(n)] + [{**STAFF_ENTRY, "_id": ObjectId()}])

    command_counter.reset()
    await compute_metrics(data, ROUND, entries(1))
    one = len(command_counter.commands)
    command_counter.reset()
    result = await compute_metrics(data, ROUND, entries(5))
    assert len(command_counter.commands) == one, command_counter.commands
    assert len(result) == 11


async def test_evidence_pages_show_the_records_without_readers(data: Deps, base_url: str, client: httpx.AsyncClient,
                                                               as_role: dict[str, Session]) -> None:
    await data.db.readers.insert_one({"_id": READER_1, "name": "借书人张三", "card_no": "JN09990001"})
    period = "from=2025-03-01&to=2025-03-31"
    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "clerk")).status_code == 302
        loans = await http.get(f"/console/ratings/evidence/{ROOM}/loans?{period}")
        assert loans.status_code == 200, loans.text
        assert "平凡的世界" in loans.text and "2025-03-03" in loans.text and "2025-03" in loans.text
        for secret in ("借书人张三", "JN09990001", str(READER_1), str(READER_2)):
            assert secret not in loans.text
        opening = await http.get(f"/console/ratings/evidence/{ROOM}/opening_days_ratio?{period}")
        assert opening.status_code == 200 and "cal-missed" in opening.text and "读者签到" in opening.text
        acts = await http.get(f"/console/ratings/evidence/{ROOM}/activities_held?{period}")
        assert "三月读书会" in acts.text and "四月讲座" not in acts.text
        stock = await http.get(f"/console/ratings/evidence/{ROOM}/stocktake_loss_rate?{period}")
        assert stock.status_code == 200 and "/api/v1/stocktakes/" in stock.text
        survey = await http.get(f"/console/ratings/evidence/{ROOM}/satisfaction_rate?{period}")
        assert survey.status_code == 200 and "75.0%" in survey.text
        holdings = await http.get(f"/console/ratings/evidence/{ROOM}/volumes?{period}")
        assert "1503" in holdings.text and f"/console/rooms/{ROOM}" in holdings.text
        assert (await http.get(f"/console/ratings/evidence/{ROOM}/nonsense")).status_code == 404
        assert (await http.get(f"/console/ratings/evidence/{ROOM}/loans?from=2025-04-01&to=2025-03-01")).status_code == 422
    api = await client.get(f"/api/v1/ratings/evidence/{ROOM}?metric=loans&since=2025-03-01&until=2025-03-31",
                           headers=as_role["inspector"].headers)
    assert api.status_code == 200, api.text
    assert api.json()["metric"]["value"] == 4 and len(api.json()["records"]["loans"]) == 4
    assert "reader_id" not in api.text and str(READER_1) not in api.text
    bad = await client.get(f"/api/v1/ratings/evidence/{ROOM}?metric=nope", headers=as_role["inspector"].headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "metric"]
    other_town = await client.get("/api/v1/ratings/evidence/JN-GG-001", headers=as_role["town_coordinator"].headers)
    assert other_town.status_code == 403


async def test_family_evidence_lists_titles_not_members(data: Deps, base_url: str) -> None:
    round_id = ObjectId()
    await data.db.rating_rounds.insert_one({"_id": round_id, **ROUND, "kind": "reading_family"})
    entry = {**FAMILY_ENTRY, "_id": ObjectId(), "round_id": round_id, "town": "咸水沽镇",
             "subject_key": f"family:acc:{ACCOUNT}"}
    await data.db.rating_entries.insert_one(entry)
    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "clerk")).status_code == 302
        logs = await http.get(f"/console/ratings/evidence/family/{entry['_id']}/family_books_logged")
        assert logs.status_code == 200, logs.text
        assert "书3" in logs.text and "书1" in logs.text and "书2" not in logs.text and "书4" not in logs.text
        assert "王小明" not in logs.text
        acts = await http.get(f"/console/ratings/evidence/family/{entry['_id']}/family_activities")
        assert "春季读书打卡" in acts.text and "我的书屋" in acts.text
        assert (await http.get(f"/console/ratings/evidence/family/{ObjectId()}/family_loans")).status_code == 404
    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "xsg")).status_code == 302
        other = {**entry, "_id": ObjectId(), "town": "葛沽镇", "subject_key": "family:acc:other"}
        await data.db.rating_entries.insert_one(other)
        assert (await http.get(f"/console/ratings/evidence/family/{other['_id']}/family_loans")).status_code == 403
