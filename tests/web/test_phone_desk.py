"""The phone desk over HTTP: its pages and every /m JSON endpoint, logged in through the
phone's log-in form (cookie session), with the XSRF token the pages hand their scripts.

Every response goes through ``check_invariants`` (problem+json for /m/api errors).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from server.circulation import holds as holds_service
from server.circulation.models import HoldIn
from server.phone.desk_handlers import offline_service
from server.readers import service as readers_service
from server.readers.models import BlockIn
from server.resources import Deps
from server.staff import service as staff_service
from server.stock.service import check_ledger
from tests.circulation import add_reader, add_title, new_isbn, receive
from tests.web.test_pages import form_login, page_client

ROOM = "JN-XSG-001"   # jn-xsg-001's room
OTHER = "JN-GG-001"   # jn-gg-001's room (another town)
PAGES = ("lend", "return", "renew", "inroom", "today", "overdue", "receive", "stocktake", "log")
XSRF_META = re.compile(r'<meta name="shuwu-xsrf" content="([^"]+)">')
OFFLINE = offline_service()
NO_OFFLINE = "server/circulation/offline.py (upload_batch) does not exist yet"


def op() -> str:
    return str(uuid.uuid4())


@dataclass
class Desk:
    """A logged-in phone: its cookie jar and the XSRF token its pages carry."""

    http: httpx.AsyncClient
    token: str

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params)

    async def post(self, path: str, body: Any, *, xsrf: bool = True) -> httpx.Response:
        headers = {"X-XSRFToken": self.token} if xsrf else {}
        return await self.http.post(path, json=body, headers=headers)


@asynccontextmanager
async def desk(base_url: str, username: str = "jn-xsg-001", room: str = ROOM) -> AsyncIterator[Desk]:
    async with page_client(base_url) as http:
        assert (await form_login(http, "/m/login", username)).status_code == 302
        page = await http.get(f"/m/rooms/{room}/log")
        assert page.status_code == 200, page.text[:300]
        token = XSRF_META.search(page.text)
        assert token, "a desk page hands its script the XSRF token"
        yield Desk(http, token.group(1))


async def stocked_title(deps: Deps, copies: int = 2, room: str = ROOM, **kw: Any) -> str:
    title_id = await add_title(deps, **kw)
    await receive(deps, room, title_id, copies)
    return title_id


# -- pages ---------------------------------------------------------------------------------


async def test_home_tiles_link_to_every_desk_page(seeded: Deps, base_url: str) -> None:
    async with desk(base_url) as d:
        home = await d.get("/m/")
        assert home.status_code == 200
        links = re.findall(r'<a class="tile" href="/m/rooms/JN-XSG-001/(\w+)">', home.text)
        assert links == ["lend", "return", "renew", "inroom", "today", "overdue", "receive", "stocktake"]
        assert "即将开通" not in home.text and "aria-disabled" not in home.text
        for page in PAGES:
            response = await d.get(f"/m/rooms/{ROOM}/{page}")
            assert response.status_code == 200, page
            text = response.text
            csp = response.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "style-src 'self'" in csp and "'unsafe-inline'" not in csp
            assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{page}: inline script"
            assert " style=" not in text and "<style" not in text, f"{page}: inline style"
            assert not re.search(r"\son[a-z]+=", text), f"{page}: inline event handler"
            assert 'id="netbar"' in text and "待上传" in text and "导出" in text
            assert XSRF_META.search(text)
        # Scanning: a camera button beside every code field, the typed field always there.
        lend = (await d.get(f"/m/rooms/{ROOM}/lend")).text
        assert lend.count('class="scan-btn"') == 2 and 'id="card"' in lend and 'id="book"' in lend
        assert "/static/phone/vendor/zxing-browser.min.js" in lend
        vendor = await d.http.get(re.search(r'data-scanner="([^"]+)"', lend).group(1).replace("&amp;", "&"))
        assert vendor.status_code == 200 and "javascript" in vendor.headers["Content-Type"]
        assert "ZXingBrowser" in vendor.text[:400]


async def test_desk_pages_keep_to_the_room_and_role(seeded: Deps, base_url: str) -> None:
    async with desk(base_url) as d:
        other = await d.get(f"/m/rooms/{OTHER}/lend")
        assert other.status_code == 403 and "无权访问" in other.text
        assert other.headers["Content-Type"].startswith("text/html")
        assert (await d.get("/m/rooms/JN-XSG-999/lend")).status_code == 404
    async with page_client(base_url) as http:
        page = await http.get(f"/m/rooms/{ROOM}/lend")
        assert page.status_code == 302 and page.headers["Location"].startswith("/m/login?next=")
    async with desk(base_url, "xsg") as coordinator:  # a town coordinator lends, but does not receive stock
        home = (await coordinator.get("/m/")).text
        assert "/receive" not in home and "/stocktake" not in home and "/lend" in home
        assert 'name="room"' in home  # a town's rooms: pick the desk's room
        picked = await coordinator.get("/m/", room="JN-XSG-002")
        assert 'href="/m/rooms/JN-XSG-002/lend"' in picked.text
        assert (await coordinator.get(f"/m/rooms/{ROOM}/receive")).status_code == 403


# -- XSRF, sessions, problems -------------------------------------------------------------------


async def test_writes_need_the_xsrf_token_and_a_session(seeded: Deps, base_url: str) -> None:
    title_id = await stocked_title(seeded)
    reader = await add_reader(seeded, ROOM)
    body = {"op_id": op(), "card_no": reader["card_no"], "title_id": title_id}
    async with desk(base_url) as d:
        missing = await d.post(f"/m/api/rooms/{ROOM}/loans", body, xsrf=False)
        assert missing.status_code == 403 and missing.json()["code"] == "xsrf_failed"
        assert missing.json()["detail"] == "页面已过期，请刷新页面后再试"
        wrong = await d.http.post(f"/m/api/rooms/{ROOM}/loans", json=body, headers={"X-XSRFToken": "2|abc|def|123"})
        assert wrong.status_code == 403
        for path in ("/m/sync", f"/m/api/rooms/{ROOM}/receipts", f"/m/api/rooms/{ROOM}/stocktake"):
            assert (await d.post(path, {}, xsrf=False)).status_code == 403, path
        assert await seeded.db.loans.count_documents({"title_id": title_id}) == 0
        assert (await d.post(f"/m/api/rooms/{ROOM}/loans", body)).status_code == 201
        unknown = await d.get("/m/api/no-such-thing")
        assert unknown.status_code == 404 and unknown.json()["code"] == "http_404"
    async with page_client(base_url) as anonymous:
        # Reads need a session: 401 in problem+json, not a log-in page.
        response = await anonymous.get("/m/api/readers", params={"card": reader["card_no"]})
        assert response.status_code == 401 and response.json()["detail"].startswith("登录已过期")
        assert "WWW-Authenticate" not in response.headers


async def test_problems_are_chinese_sentences(seeded: Deps, base_url: str) -> None:
    title_id = await stocked_title(seeded)
    async with desk(base_url) as d:
        bad = await d.post(f"/m/api/rooms/{ROOM}/loans", {"op_id": op(), "card_no": "JN00000001", "title_id": "978123"})
        assert bad.status_code == 422 and bad.json()["code"] == "validation_failed"
        assert any("ISBN" in e["msg"] for e in bad.json()["errors"])
        unknown = await d.post(f"/m/api/rooms/{ROOM}/loans", {"op_id": op(), "card_no": "JN99999999", "title_id": title_id})
        assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_card"
        assert unknown.json()["detail"] == "没有这个借阅证号，请核对或先办理借阅证"
        malformed = await d.get(f"/m/api/rooms/{ROOM}/titles/12345")
        assert malformed.status_code == 422 and malformed.json()["code"] == "invalid_code"
        missing = await d.get(f"/m/api/rooms/{ROOM}/titles/{new_isbn()}")
        assert missing.status_code == 404 and missing.json()["code"] == "title_not_found"
        assert "请核对或先登记书目" in missing.json()["detail"]
        both = await d.get("/m/api/readers", card="JN00000001", phone="13800138000")
        assert both.status_code == 422 and "只填一种" in both.json()["errors"][0]["msg"]


# -- circulation -------------------------------------------------------------------------------


async def test_lend_renew_return_today_with_replays(seeded: Deps, base_url: str) -> None:
    title_id = await stocked_title(seeded, 2, title="平凡的世界")
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    reader = await add_reader(seeded, ROOM, name="王读者", phone=phone)
    async with desk(base_url) as d:
        found = (await d.get("/m/api/readers", card=reader["card_no"].lower())).json()["items"]
        assert [(r["card_no"], r["name"], r["blocked"], r["loans"]) for r in found] == [
            (reader["card_no"], "王读者", False, [])]
        by_phone = (await d.get("/m/api/readers", phone=phone)).json()["items"]
        assert [r["card_no"] for r in by_phone] == [reader["card_no"]]
        assert "phone" not in by_phone[0] and phone not in str(by_phone)

        title = (await d.get(f"/m/api/rooms/{ROOM}/titles/{title_id[:3]}-{title_id[3:]}")).json()
        assert (title["title_id"], title["title"], title["on_shelf"], title["on_loan"]) == (title_id, "平凡的世界", 2, 0)

        lend_body = {"op_id": op(), "card_no": reader["card_no"], "title_id": title_id}
        lent = await d.post(f"/m/api/rooms/{ROOM}/loans", lend_body)
        assert lent.status_code == 201 and lent.json()["replayed"] is False
        assert "已借出《平凡的世界》" in lent.json()["message"]
        again = await d.post(f"/m/api/rooms/{ROOM}/loans", lend_body)
        assert again.status_code == 201 and again.json()["replayed"] is True
        assert again.json()["loan"] == lent.json()["loan"]
        loan_id = lent.json()["loan"]["id"]
        assert await seeded.db.loans.count_documents({"title_id": title_id}) == 1

        found = (await d.get("/m/api/readers", card=reader["card_no"])).json()["items"][0]
        assert [loan["id"] for loan in found["loans"]] == [loan_id] and found["open_loans"]["book"] == 1
        today = (await d.get(f"/m/api/rooms/{ROOM}/loans/today")).json()
        assert loan_id in [loan["id"] for loan in today["lent"]] and today["truncated"] is False
        page = await d.get(f"/m/rooms/{ROOM}/today")
        assert "《平凡的世界》" in page.text and reader["card_no"] in page.text

        renew_body = {"op_id": op(), "room": ROOM}
        renewed = await d.post(f"/m/api/loans/{loan_id}/renew", renew_body)
        assert renewed.status_code == 200 and renewed.json()["loan"]["renewals"] == 1
        replay = await d.post(f"/m/api/loans/{loan_id}/renew", renew_body)
        assert replay.json()["replayed"] is True and replay.json()["loan"] == renewed.json()["loan"]
        refused = await d.post(f"/m/api/loans/{loan_id}/renew", {"op_id": op(), "room": ROOM})
        assert refused.status_code == 422 and refused.json()["code"] == "renewal_limit_reached"

        back_body = {"op_id": op(), "title_id": title_id}
        back = await d.post(f"/m/api/rooms/{ROOM}/returns", back_body)
        assert back.status_code == 200 and back.json()["message"].startswith("《平凡的世界》已归还")
        assert (await d.post(f"/m/api/rooms/{ROOM}/returns", back_body)).json()["replayed"] is True
        never = await d.post(f"/m/api/rooms/{ROOM}/returns", {"op_id": op(), "title_id": title_id})
        assert never.status_code == 409 and never.json()["code"] == "not_on_loan"
        today = (await d.get(f"/m/api/rooms/{ROOM}/loans/today")).json()
        assert loan_id in [loan["id"] for loan in today["returned"]]
    assert (await check_ledger(seeded))[1] == []


async def test_return_says_when_a_hold_waits(seeded: Deps, base_url: str) -> None:
    title_id = await stocked_title(seeded, 1, title="红岩")
    borrower, waiting = await add_reader(seeded, ROOM), await add_reader(seeded, ROOM, name="赵等待")
    async with desk(base_url) as d:
        lent = await d.post(f"/m/api/rooms/{ROOM}/loans",
                            {"op_id": op(), "card_no": borrower["card_no"], "title_id": title_id})
        assert lent.status_code == 201
        await holds_service.place_hold(seeded, staff_service.SYSTEM, HoldIn(
            op_id=op(), card_no=waiting["card_no"], title_id=title_id, pickup_room=ROOM))
        back = await d.post(f"/m/api/rooms/{ROOM}/returns", {"op_id": op(), "title_id": title_id})
        assert back.status_code == 200
        notice = back.json()["notice"]
        assert notice["action"] == "keep" and notice["reader"]["card_no"] == waiting["card_no"]
        assert notice["message"] in back.json()["message"]


async def test_in_room_use_counts_and_replays(seeded: Deps, base_url: str) -> None:
    title_id = await stocked_title(seeded, 1, fmt="periodical")
    async with desk(base_url) as d:
        body = {"op_id": op(), "title_id": title_id, "count": 3}
        first = await d.post(f"/m/api/rooms/{ROOM}/in-room-uses", body)
        assert first.status_code == 201 and first.json()["count"] == 3
        assert (await d.post(f"/m/api/rooms/{ROOM}/in-room-uses", body)).json() == {**first.json(), "replayed": True}
        too_many = await d.post(f"/m/api/rooms/{ROOM}/in-room-uses", {"op_id": op(), "title_id": title_id, "count": 0})
        assert too_many.status_code == 422
    stats = await seeded.db.loan_stats.find({"room": ROOM, "format": "periodical"}).to_list()
    assert sum(s.get("in_room_uses", 0) for s in stats) == 3


async def test_overdue_list_and_offline_roster(seeded: Deps, base_url: str) -> None:
    title_id = await stocked_title(seeded, 1, title="活着")
    late, blocked = await add_reader(seeded, ROOM), await add_reader(seeded, OTHER)
    await readers_service.set_blocked(seeded, staff_service.SYSTEM, blocked["id"], BlockIn(reason="多次损坏图书"))
    async with desk(base_url) as d:
        lent = await d.post(f"/m/api/rooms/{ROOM}/loans", {"op_id": op(), "card_no": late["card_no"], "title_id": title_id})
        loan_id = lent.json()["loan"]["id"]
        await seeded.db.loans.update_one({"_id": ObjectId(loan_id)},
                                         {"$set": {"due_at": datetime.now(UTC) - timedelta(days=4)}})
        overdue = (await d.get(f"/m/api/rooms/{ROOM}/overdue")).json()
        row = next(i for i in overdue["items"] if i["id"] == loan_id)
        assert row["days_overdue"] == 4 and row["reader"]["card_no"] == late["card_no"]
        page = await d.get(f"/m/rooms/{ROOM}/overdue")
        assert "《活着》" in page.text and "逾期 4 天" in page.text

        roster = (await d.get(f"/m/api/rooms/{ROOM}/blocked-cards")).json()
        # One card works in every room, so blocked cards come from the whole district.
        assert {"card_no": blocked["card_no"], "reason": "多次损坏图书"} in roster["blocked"]
        assert late["card_no"] in roster["overdue"] and roster["truncated"] is False
        assert (await d.post(f"/m/api/rooms/{ROOM}/returns", {"op_id": op(), "title_id": title_id})).status_code == 200
        roster = (await d.get(f"/m/api/rooms/{ROOM}/blocked-cards")).json()
        assert late["card_no"] not in roster["overdue"]


async def test_room_admin_cannot_act_on_another_room(seeded: Deps, base_url: str) -> None:
    theirs = await stocked_title(seeded, 1, room=OTHER)
    their_reader = await add_reader(seeded, OTHER)
    async with desk(base_url, "jn-gg-001", OTHER) as them:
        loan = (await them.post(f"/m/api/rooms/{OTHER}/loans",
                                {"op_id": op(), "card_no": their_reader["card_no"], "title_id": theirs})).json()["loan"]
        stocktake = await them.post(f"/m/api/rooms/{OTHER}/stocktake", {"op_id": op()})
        assert stocktake.status_code == 201
        stocktake_id = stocktake.json()["stocktake"]["id"]
    async with desk(base_url) as d:
        writes = {
            f"/m/api/rooms/{OTHER}/loans": {"op_id": op(), "card_no": their_reader["card_no"], "title_id": theirs},
            f"/m/api/rooms/{OTHER}/returns": {"op_id": op(), "title_id": theirs},
            f"/m/api/rooms/{OTHER}/in-room-uses": {"op_id": op(), "title_id": theirs},
            f"/m/api/rooms/{OTHER}/receipts": {"op_id": op(), "lines": [{"code": theirs, "quantity": 1}]},
            f"/m/api/rooms/{OTHER}/stocktake": {"op_id": op()},
            f"/m/api/loans/{loan['id']}/renew": {"op_id": op(), "room": OTHER},
            f"/m/api/stocktakes/{stocktake_id}/scans": {"op_id": op(), "code": theirs},
            f"/m/api/stocktakes/{stocktake_id}/finish": {"op_id": op()},
        }
        for path, body in writes.items():
            response = await d.post(path, body)
            assert response.status_code == 403, (path, response.text)
            assert response.json()["code"] == "room_out_of_scope"
        for path in (f"/m/api/rooms/{OTHER}/loans/today", f"/m/api/rooms/{OTHER}/overdue",
                     f"/m/api/rooms/{OTHER}/blocked-cards", f"/m/api/rooms/{OTHER}/titles/{theirs}",
                     f"/m/api/rooms/{OTHER}/stocktake"):
            assert (await d.get(path)).status_code == 403, path
        # Their renewal at my desk is mine to do (通借通还), with my room named.
        assert (await d.post(f"/m/api/loans/{loan['id']}/renew", {"op_id": op(), "room": ROOM})).status_code == 200
    async with desk(base_url, "xsg") as coordinator:
        refused = await coordinator.post(f"/m/api/rooms/{ROOM}/receipts",
                                         {"op_id": op(), "lines": [{"code": theirs, "quantity": 1}]})
        assert refused.status_code == 403 and refused.json()["code"] == "role_forbidden"
    assert await seeded.db.stock_moves.count_documents({"room": OTHER, "title_id": theirs}) == 2  # receipt, loan


# -- stock ---------------------------------------------------------------------------------------


async def test_receive_a_delivery(seeded: Deps, base_url: str) -> None:
    first, second = await add_title(seeded, title="三体"), await add_title(seeded, title="围城")
    isbn10 = first[3:12] + str((11 - sum(int(c) * (10 - i) for i, c in enumerate(first[3:12])) % 11) % 11).replace("10", "X")
    body = {"op_id": op(), "reference": "PS-2026-0042",
            "lines": [{"code": isbn10, "quantity": 3}, {"code": f"{second[:3]}-{second[3:]}", "quantity": 2},
                      {"code": first, "quantity": 1}]}
    async with desk(base_url) as d:
        received = await d.post(f"/m/api/rooms/{ROOM}/receipts", body)
        assert received.status_code == 201, received.text
        assert received.json()["result"] == {"room": ROOM, "lines": 2, "copies": 6}
        assert (await d.post(f"/m/api/rooms/{ROOM}/receipts", body)).json()["replayed"] is True
        assert (await d.get(f"/m/api/rooms/{ROOM}/titles/{first}")).json()["on_shelf"] == 4
        unknown = await d.post(f"/m/api/rooms/{ROOM}/receipts",
                               {"op_id": op(), "lines": [{"code": first, "quantity": 1}, {"code": new_isbn(), "quantity": 1}]})
        assert unknown.status_code == 422 and unknown.json()["code"] == "unknown_title"
        assert [e["loc"] for e in unknown.json()["errors"]] == [["body", "lines", 1, "title_id"]]
        negative = await d.post(f"/m/api/rooms/{ROOM}/receipts",
                                {"op_id": op(), "lines": [{"code": first, "quantity": -2}]})
        assert negative.status_code == 422
        empty = await d.post(f"/m/api/rooms/{ROOM}/receipts", {"op_id": op(), "lines": []})
        assert empty.status_code == 422
    assert (await check_ledger(seeded))[1] == []


async def test_stocktake_start_scan_finish(seeded: Deps, base_url: str) -> None:
    room = "JN-XSG-003"  # a room of its own: one stocktake per room at a time
    shelved = await stocked_title(seeded, 2, room=room, title="骆驼祥子")
    async with desk(base_url, "jn-xsg-003", room) as d:
        assert (await d.get(f"/m/api/rooms/{room}/stocktake")).json() == {"stocktake": None}
        start = {"op_id": op(), "note": "年终盘点"}
        started = await d.post(f"/m/api/rooms/{room}/stocktake", start)
        assert started.status_code == 201 and started.json()["stocktake"]["expected_copies"] == 2
        assert (await d.post(f"/m/api/rooms/{room}/stocktake", start)).json()["replayed"] is True
        again = await d.post(f"/m/api/rooms/{room}/stocktake", {"op_id": op()})
        assert again.status_code == 409 and again.json()["code"] == "stocktake_already_open"
        st = started.json()["stocktake"]["id"]

        scan = {"op_id": op(), "code": shelved, "device": "ph-test"}
        counted = await d.post(f"/m/api/stocktakes/{st}/scans", scan)
        assert counted.status_code == 201
        assert (counted.json()["status"], counted.json()["scanned"], counted.json()["expected"]) == ("counted", 1, 2)
        assert (await d.post(f"/m/api/stocktakes/{st}/scans", scan)).json()["scanned"] == 1  # a replay counts once
        stranger = new_isbn()
        unknown = await d.post(f"/m/api/stocktakes/{st}/scans", {"op_id": op(), "code": stranger})
        assert unknown.json()["status"] == "unknown"
        bad = await d.post(f"/m/api/stocktakes/{st}/scans", {"op_id": op(), "code": "not-a-code"})
        assert bad.status_code == 422 and bad.json()["code"] == "malformed_code"
        current = (await d.get(f"/m/api/rooms/{room}/stocktake")).json()["stocktake"]
        assert current["state"] == "open" and current["scanned_copies"] == 2 and current["devices"] == {"ph-test": 1}

        finished = await d.post(f"/m/api/stocktakes/{st}/finish", {"op_id": op()})
        assert finished.status_code == 200
        report = finished.json()["stocktake"]["report"]
        assert [(m["title_id"], m["missing"]) for m in report["missing"]] == [(shelved, 1)]
        assert [u["code"] for u in report["unknown"]] == [stranger]
        current = (await d.get(f"/m/api/rooms/{room}/stocktake")).json()["stocktake"]
        assert current["state"] == "finished" and current["report"] == report
        late = await d.post(f"/m/api/stocktakes/{st}/scans", {"op_id": op(), "code": shelved})
        assert late.status_code == 409 and late.json()["code"] == "stocktake_state"


# -- offline sync ---------------------------------------------------------------------------------


@pytest.mark.skipif(OFFLINE is not None, reason="the offline sync service exists; its upload is tested below")
async def test_sync_says_when_the_service_is_missing(seeded: Deps, base_url: str) -> None:
    async with desk(base_url) as d:
        response = await d.post("/m/sync", {"batch_id": op(), "device_id": "ph-test", "ops": []})
        assert response.status_code == 503 and response.json()["code"] == "sync_unavailable"


@pytest.mark.skipif(OFFLINE is None, reason=NO_OFFLINE)
async def test_sync_applies_an_offline_batch_once(seeded: Deps, base_url: str) -> None:
    title_id = await stocked_title(seeded, 1)
    reader = await add_reader(seeded, ROOM)
    now = datetime.now(UTC).astimezone()
    loan_op, return_op, bad_op = op(), op(), op()
    batch = {"batch_id": op(), "device_id": "ph-test-sync", "ops": [
        {"op_id": loan_op, "type": "loan", "at": (now - timedelta(minutes=5)).isoformat(), "room": ROOM,
         "card": reader["card_no"], "code": title_id, "count": 1},
        {"op_id": return_op, "type": "return", "at": (now - timedelta(minutes=2)).isoformat(), "room": ROOM,
         "code": title_id, "count": 1},
        {"op_id": bad_op, "type": "loan", "at": now.isoformat(), "room": ROOM, "card": "JN99999999",
         "code": title_id, "count": 1},
    ]}
    async with desk(base_url) as d:
        assert (await d.post("/m/sync", batch, xsrf=False)).status_code == 403
        first = await d.post("/m/sync", batch)
        assert first.status_code == 200, first.text
        out = first.json()
        assert out["batch_id"] == batch["batch_id"]
        outcomes = {o["op_id"]: o for o in out["outcomes"]}
        assert set(outcomes) == {loan_op, return_op, bad_op}  # one outcome per op, none dropped
        assert outcomes[loan_op]["outcome"] == "applied" and outcomes[return_op]["outcome"] == "applied"
        assert outcomes[bad_op]["outcome"] in {"rejected", "conflict"} and outcomes[bad_op]["message"]
        again = (await d.post("/m/sync", {**batch, "batch_id": op()})).json()
        assert {o["op_id"]: o["outcome"] for o in again["outcomes"]}[loan_op] == "duplicate"
        theirs = {**batch, "batch_id": op(), "ops": [{**batch["ops"][0], "op_id": op(), "room": OTHER}]}
        refused = await d.post("/m/sync", theirs)
        assert refused.status_code == 403 or refused.json()["outcomes"][0]["outcome"] == "rejected"
    assert (await check_ledger(seeded))[1] == []
