"""Inspectors' blind scoring (training/ratings/inspections): conflicts of interest, the blind
rule, drafts and submission, op_id replays, photos (EXIF stripped, limits), locked rounds,
roles, the phone pages and the console's progress page, and the demo seed.

Rounds and entries are written straight into ``rating_rounds`` / ``rating_entries`` in the
shape of the shared data contract, so these tests do not depend on how entries are made.
"""

from __future__ import annotations

import asyncio
import io
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId
from PIL import Image

from server.resources import Deps
from tests.conftest import Session, login
from tests.web.test_browser import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    HAVE_CHROMIUM,
    MIN_TOUCH_PX,
    WECHAT_UA,
    CspWatch,
)
from tests.web.test_pages import form_login, page_client

BASE = "/api/v1/ratings"
PASSWORD = "shuwu-2026"
CRITERIA = [
    {"key": "loans", "label": "借阅量", "group": "使用", "weight": 20, "source": "metric", "metric": "loans_per_resident",
     "zero_at": 0, "full_at": 2},
    {"key": "management", "label": "管理规范", "group": "管理", "weight": 25, "source": "inspector", "metric": None,
     "zero_at": None, "full_at": None},
    {"key": "environment", "label": "环境与阵地", "group": "建设", "weight": 15, "source": "inspector", "metric": None,
     "zero_at": None, "full_at": None},
]


def op() -> str:
    return uuid.uuid4().hex


def jpeg(seed: int = 0, *, exif: bool = False, size: tuple[int, int] = (320, 240)) -> bytes:
    picture = Image.new("RGB", size, ((seed * 37) % 256, (seed * 91) % 256, 120))
    out = io.BytesIO()
    if exif:
        tags = Image.Exif()
        tags[0x010F] = "ShuwuTestCamera"  # Make
        tags[0x0132] = "2026:05:01 10:00:00"  # DateTime
        picture.save(out, format="JPEG", exif=tags.tobytes())
    else:
        picture.save(out, format="JPEG")
    return out.getvalue()


def _round(status: str = "district_review", *, kind: str = "model_room", locked: bool = False) -> dict[str, Any]:
    now = datetime.now(UTC)
    year = datetime.now(UTC).year  # the demo seed looks for this year's round
    return {"_id": ObjectId(), "year": year, "kind": kind, "level": "district", "title": f"{year} 年评选（{kind}）",
            "period": {"from": "2026-01-01", "to": "2026-11-30"}, "rubric": {"criteria": CRITERIA, "tie_break": []},
            "quotas": {"award": 3, "nominate": 1}, "publicity_days": 5, "status": status, "publicity": None,
            "locked": locked, "history": False, "created_at": now, "updated_at": now}


def _entry(round_doc: dict[str, Any], code: str, town: str, *, by: str = "room", reviewer: str = "xsg",
           status: str = "town_passed") -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"_id": ObjectId(), "round_id": round_doc["_id"], "kind": round_doc["kind"],
            "subject": {"type": "room", "room": code, "staff_id": None, "account_id": None, "reader_id": None,
                        "name": f"{code} 书屋"},
            "subject_key": f"room:{code}", "town": town,
            "applicant": {"by": code.lower() if by == "room" else by, "channel": "room", "at": now},
            "statement": "我们书屋每周开放六天。", "evidence": {},
            "status": status, "town_review": {"passed": True, "comment": "", "by": reviewer, "at": now},
            "metrics": {"loans_per_resident": {"value": 1.25, "unit": "册/人", "label": "人均借阅",
                                               "detail": "借出 412 册 ÷ 常住人口 330", "links": []}},
            "metrics_at": now, "scores": {}, "total": None, "rank": None, "outcome": None, "certificate_no": None,
            "history": False, "created_at": now, "updated_at": now}


@pytest.fixture(scope="module")
async def world(seeded: Deps, client: httpx.AsyncClient, as_role: dict[str, Session]) -> dict[str, Any]:
    """A model-room round in district review with entries around two inspectors: the demo
    ``inspector`` (咸水沽镇) and ``inspector2`` (葛沽镇, made through the staff API)."""
    made = await client.post("/api/v1/staff", headers=as_role["district_admin"].headers, json={
        "username": "inspector2", "name": "钱立", "password": PASSWORD, "role": "inspector", "towns": ["葛沽镇"]})
    assert made.status_code == 201, made.text
    assert made.json()["towns"] == ["葛沽镇"]
    review, locked, open_round = _round(), _round(kind="model_admin", locked=True), _round("open", kind="reading_family")
    entries = {
        "xsg": _entry(review, "JN-XSG-001", "咸水沽镇"),  # inspector's own town
        "gg": _entry(review, "JN-GG-001", "葛沽镇"),  # inspector2's own town
        "main": _entry(review, "JN-XZ-001", "小站镇"),
        "applied": _entry(review, "JN-SG-001", "双港镇", by="inspector"),
        "reviewed": _entry(review, "JN-HT-001", "海棠街道", reviewer="inspector"),
        "photos": _entry(review, "JN-BLT-001", "八里台镇"),
        "incomplete": _entry(review, "JN-XZ-002", "小站镇"),
        "phone": _entry(review, "JN-XZ-006", "小站镇"),
        "browser": _entry(review, "JN-XZ-007", "小站镇"),
        "withdrawn": _entry(review, "JN-XZ-003", "小站镇", status="withdrawn"),
        "locked": _entry(locked, "JN-SL-001", "双林街道"),
        "open": _entry(open_round, "JN-BZK-001", "北闸口镇"),
    }
    await seeded.db.rating_rounds.insert_many([review, locked, open_round])
    await seeded.db.rating_entries.insert_many(list(entries.values()))
    return {"round": review, "entries": {k: str(v["_id"]) for k, v in entries.items()},
            "a": as_role["inspector"], "b": await login(client, "inspector2"), "admin": as_role["district_admin"]}


def _url(world: dict[str, Any], key: str, tail: str = "score") -> str:
    return f"{BASE}/entries/{world['entries'][key]}/{tail}"


async def _put(client: httpx.AsyncClient, world: dict[str, Any], who: Session, key: str,
               criteria: dict[str, float], **extra: Any) -> httpx.Response:
    return await client.put(_url(world, key), headers=who.headers,
                            json={"op_id": extra.pop("op_id", op()), "criteria": criteria, **extra})


async def _submit(client: httpx.AsyncClient, world: dict[str, Any], who: Session, key: str,
                  op_id: str | None = None) -> httpx.Response:
    return await client.post(_url(world, key, "score/submit"), headers=who.headers, json={"op_id": op_id or op()})


# -- conflicts of interest and the listing -------------------------------------------------------


async def test_conflicts_are_refused_with_the_reason(world: dict[str, Any], client: httpx.AsyncClient,
                                                     seeded: Deps) -> None:
    before = await seeded.db.rating_scores.count_documents({})
    audit_before = await seeded.db.audit.count_documents({})
    for key, words in (("xsg", "咸水沽镇"), ("applied", "您提交"), ("reviewed", "初审")):
        response = await _put(client, world, world["a"], key, {"management": 80})
        assert response.status_code == 403, response.text
        body = response.json()
        assert body["code"] == "conflict_of_interest" and words in body["detail"], body
        photo = await client.post(_url(world, key, "score/photos"), content=jpeg(), headers={
            **world["a"].headers, "Content-Type": "image/jpeg"})
        assert photo.status_code == 403 and photo.json()["code"] == "conflict_of_interest"
        scores = await client.get(_url(world, key, "scores"), headers=world["a"].headers)
        assert scores.status_code == 403 and scores.json()["code"] == "conflict_of_interest"
    # the other inspector's town is theirs to recuse, not the first inspector's
    assert (await _put(client, world, world["b"], "gg", {"management": 1})).json()["code"] == "conflict_of_interest"
    assert await seeded.db.rating_scores.count_documents({}) == before
    assert await seeded.db.audit.count_documents({}) == audit_before


async def test_listing_hides_conflicts_unless_asked(world: dict[str, Any], client: httpx.AsyncClient) -> None:
    ids = world["entries"]
    mine = (await client.get(f"{BASE}/inspections", headers=world["a"].headers)).json()
    listed = {i["entry_id"] for i in mine["items"]}
    assert {ids["main"], ids["gg"], ids["photos"]} <= listed
    assert not listed & {ids["xsg"], ids["applied"], ids["reviewed"], ids["withdrawn"], ids["locked"], ids["open"]}
    assert all(i["my_status"] in {"missing", "draft", "submitted"} and i["conflict"] is None for i in mine["items"])
    keys = [c["key"] for c in mine["criteria"][str(world["round"]["_id"])]]
    assert keys == ["management", "environment"]  # inspector criteria only
    everything = (await client.get(f"{BASE}/inspections", params={"include_conflicts": "true"},
                                   headers=world["a"].headers)).json()
    reasons = {i["entry_id"]: i["conflict"] for i in everything["items"]}
    assert "咸水沽镇" in reasons[ids["xsg"]] and reasons[ids["main"]] is None
    district = (await client.get(f"{BASE}/inspections", headers=world["admin"].headers)).json()
    assert {ids["xsg"], ids["applied"], ids["main"]} <= {i["entry_id"] for i in district["items"]}
    assert all(i["my_status"] is None and i["conflict"] is None for i in district["items"])


async def test_lists_do_one_query_per_collection(world: dict[str, Any], client: httpx.AsyncClient,
                                                 command_counter: Any) -> None:
    for who in (world["a"], world["admin"]):
        command_counter.reset()
        response = await client.get(f"{BASE}/inspections", headers=who.headers)
        assert response.status_code == 200 and len(response.json()["items"]) >= 5
        finds = sorted(c for c in command_counter.commands if c.startswith(("find:", "aggregate:")))
        # the session's staff look-up, then rounds, entries, rooms and scores once each
        assert finds == ["find:rating_entries", "find:rating_rounds", "find:rating_scores", "find:rooms",
                         "find:staff"], command_counter.commands


async def test_roles(world: dict[str, Any], client: httpx.AsyncClient, as_role: dict[str, Session]) -> None:
    for role in ("district_admin", "district_staff", "room_admin", "town_coordinator", "trainer"):
        response = await _put(client, world, as_role[role], "main", {"management": 50})
        assert response.status_code == 403 and response.json()["code"] == "role_forbidden", (role, response.text)
    for role in ("room_admin", "town_coordinator", "trainer"):
        for url in (f"{BASE}/inspections", _url(world, "main", "scores")):
            assert (await client.get(url, headers=as_role[role].headers)).status_code == 403


# -- drafts, submission, replays -------------------------------------------------------------------


async def test_only_inspector_criteria_in_range(world: dict[str, Any], client: httpx.AsyncClient,
                                                seeded: Deps) -> None:
    wrong = await _put(client, world, world["a"], "gg", {"management": 70, "loans": 90})
    assert wrong.status_code == 422 and wrong.json()["code"] == "not_inspector_criterion", wrong.text
    assert ["body", "criteria", "loans"] in [e["loc"] for e in wrong.json()["errors"]]
    unknown = await _put(client, world, world["a"], "gg", {"cleanliness": 70})
    assert ["body", "criteria", "cleanliness"] in [e["loc"] for e in unknown.json()["errors"]]
    too_high = await _put(client, world, world["a"], "gg", {"management": 101})
    assert too_high.status_code == 422 and too_high.json()["errors"][0]["loc"][:3] == ["body", "criteria", "management"]
    future = await _put(client, world, world["a"], "gg", {"management": 50}, visited_on="2999-01-01")
    assert future.status_code == 422 and future.json()["errors"][0]["loc"] == ["body", "visited_on"]
    assert await seeded.db.rating_scores.count_documents({"entry_id": ObjectId(world["entries"]["gg"])}) == 0


async def test_submit_requires_every_criterion(world: dict[str, Any], client: httpx.AsyncClient) -> None:
    nothing = await _submit(client, world, world["a"], "incomplete")
    assert nothing.status_code == 422 and nothing.json()["code"] == "criteria_missing"
    draft = await _put(client, world, world["a"], "incomplete", {"management": 70}, comment="书架整齐")
    assert draft.status_code == 200 and draft.json()["status"] == "draft", draft.text
    response = await _submit(client, world, world["a"], "incomplete")
    assert response.status_code == 422 and response.json()["code"] == "criteria_missing"
    assert [e["loc"] for e in response.json()["errors"]] == [["body", "criteria", "environment"]]
    assert "环境与阵地" in response.json()["detail"]


async def test_blind_rule_drafts_submit_and_replay(world: dict[str, Any], client: httpx.AsyncClient,
                                                   seeded: Deps) -> None:
    a, b, admin = world["a"], world["b"], world["admin"]
    # B scores and submits first
    assert (await _put(client, world, b, "main", {"management": 90, "environment": 80},
                       comment="阵地宽敞", visited_on="2026-05-02")).status_code == 200
    submit_op = op()
    first = await _submit(client, world, b, "main", submit_op)
    assert first.status_code == 200 and first.json()["status"] == "submitted", first.text
    again = await _submit(client, world, b, "main", submit_op)  # a replay: the first answer
    assert again.status_code == 200 and again.json() == first.json()
    late = await _submit(client, world, b, "main")
    assert late.status_code == 409 and late.json()["code"] == "already_submitted"
    change = await _put(client, world, b, "main", {"management": 10, "environment": 10})
    assert change.status_code == 409 and change.json()["code"] == "already_submitted"
    # A sees nothing of B's before submitting
    view = (await client.get(_url(world, "main", "scores"), headers=a.headers)).json()
    assert view["blind"] is True and view["scores"] == []
    draft_op = op()
    draft = await _put(client, world, a, "main", {"management": 60}, op_id=draft_op, comment="草稿")
    assert draft.status_code == 200
    replay = await _put(client, world, a, "main", {"management": 1, "environment": 1}, op_id=draft_op)
    assert replay.json() == draft.json()  # the first answer; nothing changed
    stored = await seeded.db.rating_scores.find_one({"entry_id": ObjectId(world["entries"]["main"]), "inspector": "inspector"})
    assert stored["criteria"] == {"management": 60}
    view = (await client.get(_url(world, "main", "scores"), headers=a.headers)).json()
    assert view["blind"] is True and [(s["inspector"], s["status"]) for s in view["scores"]] == [("inspector", "draft")]
    # district roles and B see submitted scores only, never A's draft
    for who in (admin, b):
        view = (await client.get(_url(world, "main", "scores"), headers=who.headers)).json()
        assert [(s["inspector"], s["status"]) for s in view["scores"]] == [("inspector2", "submitted")], view
        assert view["blind"] is False
    # A submits and then sees both, with names
    assert (await _put(client, world, a, "main", {"management": 60, "environment": 75})).status_code == 200
    assert (await _submit(client, world, a, "main")).status_code == 200
    view = (await client.get(_url(world, "main", "scores"), headers=a.headers)).json()
    assert view["blind"] is False
    assert sorted((s["inspector_name"], s["criteria"]["management"]) for s in view["scores"]) == [("赵立新", 60), ("钱立", 90)]
    assert [c["key"] for c in view["criteria"]] == ["management", "environment"]
    actions = [d["action"] async for d in seeded.db.audit.find({"target_id": world["entries"]["main"]})]
    assert actions.count("ratings.score.submit") == 2 and actions.count("ratings.score.draft") == 3


async def test_withdrawn_locked_and_closed_rounds(world: dict[str, Any], client: httpx.AsyncClient) -> None:
    for key, code in (("locked", "round_locked"), ("open", "not_in_review"), ("withdrawn", "entry_not_in_review")):
        response = await _put(client, world, world["a"], key, {"management": 50})
        assert response.status_code == 409 and response.json()["code"] == code, response.text
        assert (await _submit(client, world, world["a"], key)).json()["code"] == code
    unknown = await client.put(f"{BASE}/entries/{'0' * 24}/score", headers=world["a"].headers,
                               json={"op_id": op(), "criteria": {}})
    assert unknown.status_code == 404 and unknown.json()["code"] == "entry_not_found"


# -- photos ----------------------------------------------------------------------------------------


async def _photo(client: httpx.AsyncClient, world: dict[str, Any], who: Session, data: bytes,
                 ctype: str = "image/jpeg", key: str = "photos") -> httpx.Response:
    return await client.post(_url(world, key, "score/photos"), content=data,
                             headers={**who.headers, "Content-Type": ctype})


async def test_photos(world: dict[str, Any], client: httpx.AsyncClient, seeded: Deps, settings: Any) -> None:
    a, b, admin = world["a"], world["b"], world["admin"]
    wrong_type = await _photo(client, world, a, b"hello", "text/plain")
    assert wrong_type.status_code == 415 and wrong_type.json()["code"] == "unsupported_image_type"
    not_image = await _photo(client, world, a, b"this is not a picture at all" * 20)
    assert not_image.status_code == 422 and not_image.json()["code"] == "not_an_image"
    assert not_image.json()["errors"][0]["loc"] == ["body"]
    limit = min(8_000_000, int(settings.max_body_bytes * 4 * 0.95))
    too_big = await _photo(client, world, a, b"\xff\xd8\xff" + b"0" * limit)
    assert too_big.status_code == 413
    assert await seeded.db.rating_photos.count_documents({}) == 0

    original = jpeg(1, exif=True)
    assert b"ShuwuTestCamera" in original
    made = await _photo(client, world, a, original)
    assert made.status_code == 201, made.text
    photo_id = made.json()["photo_id"]
    assert made.json()["photos"] == 1 and len(photo_id) == 64
    served = await client.get(f"{BASE}/photos/{photo_id}", headers=a.headers)
    assert served.status_code == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert b"ShuwuTestCamera" not in served.content and b"Exif" not in served.content
    with Image.open(io.BytesIO(served.content)) as kept:
        assert kept.format == "JPEG" and not kept.getexif()
    # the same picture twice is one photo
    assert (await _photo(client, world, a, original)).json()["photos"] == 1
    # blind: nobody else sees a draft's photo
    for who in (b, admin):
        hidden = await client.get(f"{BASE}/photos/{photo_id}", headers=who.headers)
        assert hidden.status_code == 404 and hidden.json()["code"] == "photo_not_found"
    # at most 12
    for seed in range(2, 13):
        assert (await _photo(client, world, a, jpeg(seed))).status_code == 201
    full = await _photo(client, world, a, jpeg(99))
    assert full.status_code == 422 and full.json()["code"] == "too_many_photos"
    # delete one, then there is room again
    gone = await client.delete(_url(world, "photos", f"score/photos/{photo_id}"), headers=a.headers)
    assert gone.status_code == 204
    assert await seeded.db.rating_photos.count_documents({"_id": photo_id}) == 0
    assert (await client.get(f"{BASE}/photos/{photo_id}", headers=a.headers)).status_code == 404
    again = await client.delete(_url(world, "photos", f"score/photos/{photo_id}"), headers=a.headers)
    assert again.status_code == 404 and again.json()["code"] == "photo_not_found"
    assert (await _photo(client, world, a, jpeg(99))).json()["photos"] == 12
    # submitted: the photos are fixed, and now district staff see them
    assert (await _put(client, world, a, "photos", {"management": 70, "environment": 70})).status_code == 200
    assert (await _submit(client, world, a, "photos")).status_code == 200
    score = (await client.get(_url(world, "photos", "scores"), headers=admin.headers)).json()["scores"][0]
    assert len(score["photos"]) == 12
    assert (await client.get(f"{BASE}/photos/{score['photos'][0]}", headers=admin.headers)).status_code == 200
    assert (await client.get(f"{BASE}/photos/{score['photos'][0]}", headers=b.headers)).status_code == 404
    late = await _photo(client, world, a, jpeg(100))
    assert late.status_code == 409 and late.json()["code"] == "already_submitted"
    assert (await client.delete(_url(world, "photos", f"score/photos/{score['photos'][0]}"),
                                headers=a.headers)).status_code == 409


# -- pages -----------------------------------------------------------------------------------------


async def test_phone_pages(world: dict[str, Any], base_url: str) -> None:
    ids = world["entries"]
    async with page_client(base_url) as http:
        assert (await form_login(http, "/m/login", "inspector")).status_code == 302
        listing = await http.get("/m/inspect")
        assert listing.status_code == 200, listing.text[:300]
        assert "JN-XZ-001 书屋" in listing.text and "需回避" in listing.text and "咸水沽镇" in listing.text
        assert f'/m/inspect/entries/{ids["xsg"]}' not in listing.text  # greyed, no link
        page = await http.get(f"/m/inspect/entries/{ids['phone']}")
        assert page.status_code == 200
        assert 'type="range"' in page.text and "管理规范" in page.text and 'capture="environment"' in page.text
        assert "借出 412 册" in page.text and "inspect.js" in page.text
        token = re.search(r'<meta name="shuwu-xsrf" content="([^"]+)"', page.text).group(1)
        conflicted = await http.get(f"/m/inspect/entries/{ids['xsg']}")
        assert conflicted.status_code == 200 and "需回避" in conflicted.text and 'type="range"' not in conflicted.text
        # the page's JSON: XSRF required, op_id replay
        url = f"/m/api/inspect/entries/{ids['phone']}/score"
        body = {"op_id": op(), "criteria": {"management": 66, "environment": 77}, "comment": "手机上打的分"}
        assert (await http.put(url, json=body)).status_code == 403
        saved = await http.put(url, json=body, headers={"X-XSRFToken": token})
        assert saved.status_code == 200 and saved.json()["criteria"] == {"management": 66, "environment": 77}
        shot = await http.post(f"{url}/photos", content=jpeg(7), headers={"X-XSRFToken": token,
                                                                           "Content-Type": "image/jpeg"})
        assert shot.status_code == 201, shot.text
        thumb = await http.get(f"/m/api/inspect/photos/{shot.json()['photo_id']}")
        assert thumb.status_code == 200 and thumb.headers["Content-Type"] == "image/jpeg"
        done = await http.post(f"{url}/submit", json={"op_id": op()}, headers={"X-XSRFToken": token})
        assert done.status_code == 200 and done.json()["status"] == "submitted"
        # an inspector does not get the desk pages: the phone's home sends them to theirs
        home = await http.get("/m/")
        assert home.status_code == 302 and home.headers["Location"] == "/m/inspect"
        assert (await http.get("/m/rooms/JN-XSG-001/lend")).status_code == 403
    async with page_client(base_url) as http:
        assert (await form_login(http, "/m/login", "jn-xsg-001")).status_code == 302
        assert (await http.get("/m/inspect")).status_code == 403


async def test_phone_entry_page_in_a_browser(world: dict[str, Any], base_url: str, seeded: Deps,
                                             tmp_path: Path) -> None:
    """Chromium at 360 px with WeChat's user agent: slide and type scores, save, take a photo
    (a file here), submit after the confirmation; no CSP complaints, thumb-sized controls."""
    if not HAVE_CHROMIUM:
        pytest.skip(f"{CHROMIUM} is not installed; browser tests need it")
    from playwright.async_api import async_playwright

    photo = tmp_path / "shelf.jpg"
    photo.write_bytes(jpeg(5, exif=True, size=(1200, 900)))
    entry_id = world["entries"]["browser"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True,
                                            user_agent=WECHAT_UA, locale="zh-CN", timezone_id="Asia/Shanghai")
        page = await context.new_page()
        watch = CspWatch(page)
        try:
            await page.goto(f"{base_url}/m/login")
            await page.fill("input[name=username]", "inspector")
            await page.fill("input[name=password]", PASSWORD)
            await page.tap("button[type=submit]")
            await page.wait_for_url(f"{base_url}/m/inspect")
            await page.goto(f"{base_url}/m/inspect/entries/{entry_id}")
            assert await page.evaluate("document.documentElement.scrollWidth") <= 360
            for control in await page.locator("main button:visible, main input:visible:not(.sr), main .button:visible").all():
                box = await control.bounding_box()
                assert box is None or box["height"] >= MIN_TOUCH_PX, await control.evaluate("e => e.outerHTML")
            await page.fill(".inspect-number[data-key=management]", "85")
            await page.press(".inspect-number[data-key=management]", "Tab")
            await page.evaluate("""() => { const r = document.querySelector('input[type=range][data-key=environment]');
                r.value = '70'; r.dispatchEvent(new Event('input', {bubbles: true})); }""")
            assert await page.input_value(".inspect-number[data-key=environment]") == "70"
            await page.tap("#save-btn")
            await page.wait_for_selector("#result:has-text('草稿已保存')")
            await page.set_input_files("#photo-input", str(photo))
            await page.wait_for_selector("#result:has-text('已上传 1 张照片')")
            assert await page.locator("#photo-list li img").count() == 1
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=ARTIFACTS / "phone-inspect-entry.png", full_page=True)
            page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
            await page.tap("#submit-btn")
            await page.wait_for_selector("#result:has-text('评分已提交')")
            watch.assert_clean()
        finally:
            await context.close()
            await browser.close()
    score = await seeded.db.rating_scores.find_one({"entry_id": ObjectId(entry_id), "inspector": "inspector"})
    assert score["status"] == "submitted" and score["criteria"] == {"management": 85, "environment": 70}
    assert len(score["photos"]) == 1 and score["visited_on"]  # the page fills in today
    kept = await seeded.db.rating_photos.find_one({"_id": score["photos"][0]})
    assert kept["width"] <= 1600 and b"ShuwuTestCamera" not in bytes(kept["data"])


async def test_console_progress(world: dict[str, Any], base_url: str) -> None:
    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "admin")).status_code == 302
        page = await http.get("/console/ratings/inspections")
        assert page.status_code == 200
        assert "现场评分进度" in page.text and "钱立" in page.text and "回避" in page.text and "已提交" in page.text
    async with page_client(base_url) as http:
        assert (await form_login(http, "/console/login", "inspector")).status_code == 302
        assert (await http.get("/console/ratings/inspections")).status_code == 403


async def test_demo_seed_is_idempotent(seeded: Deps, world: dict[str, Any]) -> None:
    """On a round of its own, so that the other tests' scores (in any order) do not matter."""
    from training.ratings.inspections.demo import seed_demo

    db = seeded.db
    await db.rating_rounds.update_one({"_id": world["round"]["_id"]}, {"$inc": {"year": -10}})  # out of the way
    demo = _round()
    entries = [_entry(demo, code, town) for code, town in (
        ("JN-XSG-002", "咸水沽镇"), ("JN-XZ-004", "小站镇"), ("JN-XZ-005", "小站镇"), ("JN-SG-002", "双港镇"),
        ("JN-SG-003", "双港镇"), ("JN-GG-002", "葛沽镇"), ("JN-XSG-003", "咸水沽镇"))]
    await db.rating_rounds.insert_one(demo)
    await db.rating_entries.insert_many(entries)
    try:
        await seed_demo(seeded)
        scores = await db.rating_scores.find({"round_id": demo["_id"]}).to_list(None)
        await seed_demo(seeded)
        assert await db.rating_scores.count_documents({"round_id": demo["_id"]}) == len(scores) == 3
        towns = {e["_id"]: e["town"] for e in entries}
        assert all(s["inspector"] == "inspector" and towns[s["entry_id"]] != "咸水沽镇" for s in scores)
        assert all(len(s["photos"]) == 1 and set(s["criteria"]) == {"management", "environment"} for s in scores)
        assert sorted(s["status"] for s in scores) == ["draft", "submitted", "submitted"]
        assert await db.rating_photos.count_documents({"_id": {"$in": [s["photos"][0] for s in scores]}}) == 3
    finally:
        await db.rating_rounds.delete_one({"_id": demo["_id"]})
        await db.rating_scores.delete_many({"round_id": demo["_id"]})
        await db.rating_entries.delete_many({"round_id": demo["_id"]})
        await db.rating_rounds.update_one({"_id": world["round"]["_id"]}, {"$inc": {"year": 10}})
