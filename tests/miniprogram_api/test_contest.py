"""The contest 我的书屋·我的梦 (miniprogram_api/contest): editions, entries with WeChat's
content check, pictures, moderation, judging, awards within quotas, notifications,
results and their Excel report, certificates, privacy. Against the real stack and the
fake WeChat server; the pure rules as plain functions."""

from __future__ import annotations

import io
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import openpyxl
import pytest
import pytest_asyncio
from bson import ObjectId
from PIL import Image
from pypdf import PdfReader

from miniprogram_api.contest import files, privacy, rules
from miniprogram_api.contest.rules import Scored
from ops.fake_wechat.client import FakeWeChatControl
from server.errors import InvalidInput
from server.readers.service import local_today
from server.resources import Deps
from tests.conftest import CommandCounter, Session
from tests.miniprogram_api.conftest import AddChild, MakeUser, MpUser, mp_login, op_id

TODAY = local_today()
YEAR = TODAY.year
MSG_SEC_CHECK = "/wxa/msg_sec_check"
_titles = itertools.count(1)


# -- helpers ----------------------------------------------------------------------------------


def _problem(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    if code is not None:
        assert body["code"] == code, body
    return body


def _locs(body: dict[str, Any]) -> list[list[Any]]:
    return [e["loc"] for e in body["errors"]]


async def new_contest(client: httpx.AsyncClient, admin: Session, *, status: str = "open",
                      quotas: dict[str, Any] | None = None, judges: list[str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"year": YEAR, "title": f"{YEAR}年“我的书屋·我的梦”测试第{next(_titles)}届",
                            "opens_on": TODAY.isoformat(), "closes_on": (TODAY + timedelta(days=30)).isoformat()}
    if quotas is not None:
        body["award_quotas"] = quotas
    if judges is not None:
        body["judges"] = judges
    response = await client.post("/api/v1/contests", json=body, headers=admin.headers)
    assert response.status_code == 201, response.text
    contest = response.json()
    assert contest["status"] == "draft"
    for step in {"draft": [], "open": ["open"], "judging": ["open", "judging"]}[status]:
        response = await client.patch(f"/api/v1/contests/{contest['id']}", json={"status": step},
                                      headers=admin.headers)
        assert response.status_code == 200, response.text
        contest = response.json()
    return contest


async def enter(client: httpx.AsyncClient, user: MpUser, contest_id: str, member_id: str, *,
                category: str = "征文", group: str = "小学组", title: str = "我和书屋的故事",
                text: str | None = "我家门口有一间农家书屋。", op: str | None = None, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"op_id": op or op_id(), "member_id": member_id, "category": category, "group": group,
                            "title": title, **extra}
    if text is not None and category == "征文":
        body["text"] = text
    return await client.post(f"/mp/v1/contests/{contest_id}/entries", json=body, headers=user.headers)


async def entered(client: httpx.AsyncClient, user: MpUser, contest_id: str, member_id: str, **kw: Any) -> dict[str, Any]:
    response = await enter(client, user, contest_id, member_id, **kw)
    assert response.status_code == 201, response.text
    return response.json()


def picture(size: tuple[int, int] = (640, 480), fmt: str = "PNG", **save: Any) -> bytes:
    img = Image.new("RGB", size, (200, 40, 40))
    for x in range(0, size[0], 40):  # some detail, so it is not a flat colour
        img.paste((20, 20, 160), (x, 0, x + 10, size[1]))
    out = io.BytesIO()
    img.save(out, format=fmt, **save)
    return out.getvalue()


def jpeg_with_gps() -> bytes:
    """A phone photo: EXIF with a camera, a GPS position and orientation 6 (turn 90°)."""
    exif = Image.Exif()
    exif[0x010F] = "TestPhone"  # Make
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (38.0, 59.0, 17.0), "E", (117.0, 22.0, 48.0)
    data = picture((640, 480), "JPEG", exif=exif)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "the test photo must carry GPS"
    return data


def upload(client: httpx.AsyncClient, user: MpUser, contest_id: str, entry_id: str, data: bytes,
           content_type: str = "image/jpeg") -> Any:
    return client.post(f"/mp/v1/contests/{contest_id}/entries/{entry_id}/image", content=data,
                       headers={**user.headers, "Content-Type": content_type})


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return "".join(text.split())  # lines wrap anywhere in Chinese text


@pytest_asyncio.fixture(scope="module")
async def raw_client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """For JPEG answers: the shared client's invariant hook knows only PNG, PDF and XLSX."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        yield http


@pytest_asyncio.fixture(scope="module")
async def admin(as_role: dict[str, Session]) -> Session:
    return as_role["district_admin"]


@pytest_asyncio.fixture(scope="module")
async def contest(client: httpx.AsyncClient, admin: Session) -> dict[str, Any]:
    return await new_contest(client, admin)


@pytest_asyncio.fixture(scope="module")
async def family(make_user: MakeUser, add_child: AddChild) -> tuple[MpUser, dict[str, Any]]:
    """A mother and her 10-year-old (小学组)."""
    parent = await make_user(name="王芳", birth_year=1985)
    child = await add_child(parent, name="王小明", birth_year=YEAR - 10)
    return parent, child


# -- the pure rules -------------------------------------------------------------------------------


def test_essay_length_does_not_count_whitespace() -> None:
    assert rules.essay_length("书 屋\n\t梦　想 ") == 4  # a full-width space is whitespace too
    assert rules.essay_length("") == 0


def test_groups_fit_the_age_reached_in_the_contest_year() -> None:
    assert rules.group_fits("小学组", 2016, 2026) and not rules.group_fits("中学组", 2016, 2026)  # 10
    assert rules.group_fits("小学组", 2014, 2026) and rules.group_fits("中学组", 2014, 2026)  # 12: either
    assert not rules.group_fits("小学组", 2010, 2026) and rules.group_fits("中学组", 2010, 2026)  # 16
    assert not rules.group_fits("小学组", 2021, 2026)  # 5
    assert not rules.group_fits("中学组", 1985, 2026)


def test_ranking_breaks_ties_by_judges_then_submission_and_keeps_quotas() -> None:
    t0 = datetime(2026, 7, 1, tzinfo=UTC)
    entries = [
        Scored("a", "征文", "小学组", t0 + timedelta(hours=3), (90, 80)),  # 85
        Scored("b", "征文", "小学组", t0 + timedelta(hours=2), (88, 88)),  # 88, two judges
        Scored("c", "征文", "小学组", t0 + timedelta(hours=1), (88,)),  # 88, one judge
        Scored("d", "征文", "小学组", t0 + timedelta(hours=5), (85, 85)),  # 85, later than a? no: same count
        Scored("e", "征文", "小学组", t0, ()),  # never scored
        Scored("f", "绘画", "中学组", t0, (60,)),
    ]
    quotas = rules.full_quotas({"征文": {"小学组": {"first": 1, "second": 1, "third": 1, "excellent": 1}}})
    placings = {p.entry_id: p for p in rules.rank_entries(entries, quotas, recommend_top=1, recommend=["f"])}
    assert [placings[k].award for k in "bcadef"] == ["first", "second", "third", "excellent", "none", "first"]
    assert [placings[k].rank for k in "bcad"] == [1, 2, 3, 4]  # a and d tie on 85 with two judges: a came first
    assert placings["e"].rank is None and placings["e"].mean is None
    assert placings["b"].recommended and placings["f"].recommended and not placings["c"].recommended
    assert rules.certificate_numbers(placings.values(), prefix="JN2026")["b"] == "JN2026-0001"
    assert placings["a"].mean == 85.0


def test_quotas_default_to_one_two_three() -> None:
    quotas = rules.full_quotas({"绘画": {"中学组": {"first": 2, "second": 0, "third": 0, "excellent": 5}}})
    assert quotas["征文"]["小学组"] == {"first": 1, "second": 2, "third": 3, "excellent": 0}
    assert quotas["绘画"]["中学组"]["first"] == 2 and len(quotas) == 5


# -- picture checks as plain functions -----------------------------------------------------------


def test_clean_image_strips_exif_and_gps_and_turns_it_upright() -> None:
    clean = files.clean_image(jpeg_with_gps())
    kept = Image.open(io.BytesIO(clean.data))
    assert kept.format == "JPEG" and clean.content_type == "image/jpeg"
    assert (clean.width, clean.height) == (480, 640) == kept.size  # orientation applied, then dropped
    assert not kept.getexif() and "exif" not in kept.info
    assert b"TestPhone" not in clean.data


def test_clean_image_refuses_what_is_not_a_whole_picture() -> None:
    for data, code in ((b"hello, I am text" * 100, "not_an_image"),
                       (picture()[:300], "broken_image"),
                       (picture(fmt="JPEG")[:-200], "broken_image"),  # cut off: no end-of-image marker
                       (picture((120, 80)), "image_too_small"),
                       (b"%PDF-1.7\n" + b"0" * 500, "not_an_image")):
        with pytest.raises(InvalidInput) as caught:
            files.clean_image(data)
        assert caught.value.code == code
        assert caught.value.errors[0].loc == ("body",)


def test_transparent_png_is_laid_on_white() -> None:
    img = Image.new("RGBA", (300, 300), (0, 0, 0, 0))
    out = io.BytesIO()
    img.save(out, format="PNG")
    clean = files.clean_image(out.getvalue())
    assert clean.source_format == "PNG"
    assert Image.open(io.BytesIO(clean.data)).convert("RGB").getpixel((5, 5)) == (255, 255, 255)


# -- editions (staff) -----------------------------------------------------------------------------


async def test_staff_open_an_edition_and_move_it_on(client: httpx.AsyncClient, admin: Session, deps: Deps) -> None:
    contest = await new_contest(client, admin, status="draft",
                                quotas={"征文": {"中学组": {"first": 2, "second": 2, "third": 2}}})
    assert contest["award_quotas"]["征文"]["中学组"] == {"first": 2, "second": 2, "third": 2, "excellent": 0}
    assert contest["award_quotas"]["绘画"]["小学组"] == {"first": 1, "second": 2, "third": 3, "excellent": 0}
    assert not contest["accepting_entries"]
    url = f"/api/v1/contests/{contest['id']}"
    _problem(await client.patch(url, json={"status": "judging"}, headers=admin.headers), 422, "bad_transition")
    body = _problem(await client.patch(url, json={"status": "awarded"}, headers=admin.headers), 422, "use_awards")
    assert ["body", "status"] in _locs(body)
    response = await client.patch(url, json={"status": "open", "closes_on": (TODAY + timedelta(days=60)).isoformat()},
                                  headers=admin.headers)
    assert response.status_code == 200 and response.json()["accepting_entries"]
    assert await deps.db["audit"].count_documents({"target_id": contest["id"], "action": {"$regex": "^contest"}}) == 2
    listed = (await client.get("/api/v1/contests", params={"year": YEAR, "limit": 200}, headers=admin.headers)).json()
    assert contest["id"] in [c["id"] for c in listed["items"]]


async def test_edition_input_is_checked(client: httpx.AsyncClient, admin: Session, contest: dict[str, Any]) -> None:
    base = {"year": YEAR, "title": "检查用的比赛", "opens_on": TODAY.isoformat(), "closes_on": TODAY.isoformat()}
    cases = [({"closes_on": (TODAY - timedelta(days=1)).isoformat()}, ["body", "closes_on"]),
             ({"year": YEAR + 1}, ["body", "opens_on"]),
             ({"judges": ["admin", "trainer"]}, ["body", "judges", 1]),  # a trainer is no district staff
             ({"award_quotas": {"征文": {"大学组": {"first": 1}}}}, None),
             ({"award_quotas": {"征文": {"小学组": {"first": -1}}}}, None)]
    for change, loc in cases:
        body = _problem(await client.post("/api/v1/contests", json={**base, **change}, headers=admin.headers), 422)
        if loc:
            assert loc in _locs(body), body
    again = {**base, "title": contest["title"]}
    _problem(await client.post("/api/v1/contests", json=again, headers=admin.headers), 409, "contest_exists")


async def test_only_district_staff_run_the_contest(client: httpx.AsyncClient, as_role: dict[str, Session],
                                                   contest: dict[str, Any], family: tuple[MpUser, dict[str, Any]]) -> None:
    for role in ("room_admin", "town_coordinator", "inspector", "trainer"):
        headers = as_role[role].headers
        _problem(await client.get(f"/api/v1/contests/{contest['id']}/entries", headers=headers), 403, "role_forbidden")
        _problem(await client.post("/api/v1/contests", json={}, headers=headers), 403, "role_forbidden")
    parent, _ = family  # a reader's token opens no staff route
    _problem(await client.get(f"/api/v1/contests/{contest['id']}/results", headers=parent.headers), 401)


async def test_families_see_editions_past_their_draft(client: httpx.AsyncClient, admin: Session,
                                                      contest: dict[str, Any]) -> None:
    draft = await new_contest(client, admin, status="draft")
    items = (await client.get("/mp/v1/contests")).json()["items"]
    ids = [c["id"] for c in items]
    assert contest["id"] in ids and draft["id"] not in ids
    shown = next(c for c in items if c["id"] == contest["id"])
    assert shown["accepting_entries"] and shown["categories"] == list(rules.CATEGORIES)
    assert {g["group"]: g["essay_limit"] for g in shown["groups"]} == {"小学组": 800, "中学组": 1500}


# -- entries --------------------------------------------------------------------------------------


async def test_essay_limits_per_group(client: httpx.AsyncClient, contest: dict[str, Any], make_user: MakeUser,
                                      family: tuple[MpUser, dict[str, Any]]) -> None:
    parent, child = family
    body = _problem(await enter(client, parent, contest["id"], child["id"], text="书" * 801), 422, "essay_too_long")
    assert _locs(body) == [["body", "text"]] and "800" in body["errors"][0]["msg"]
    # Whitespace and line breaks do not count: 800 characters in lines pass.
    essay = "\n".join("书" * 80 for _ in range(10)) + "   "
    created = await entered(client, parent, contest["id"], child["id"], text=essay)
    assert created["status"] == "submitted" and created["member_name"] == "王小明" and not created["needs_image"]
    teen = await make_user(name="李华", birth_year=YEAR - 16)
    body = _problem(await enter(client, teen, contest["id"], teen.member_id, group="中学组", text="文" * 1501), 422)
    assert "1500" in body["errors"][0]["msg"]
    await entered(client, teen, contest["id"], teen.member_id, group="中学组", text="文 " * 1500)


async def test_group_must_fit_the_age(client: httpx.AsyncClient, contest: dict[str, Any], make_user: MakeUser,
                                      add_child: AddChild) -> None:
    parent = await make_user(name="陈静", birth_year=1988)
    child = await add_child(parent, name="陈小雨", birth_year=YEAR - 9)
    body = _problem(await enter(client, parent, contest["id"], child["id"], group="中学组"), 422, "group_mismatch")
    assert _locs(body) == [["body", "group"]]
    # The account holder (an adult) is no pupil in either group.
    for group in ("小学组", "中学组"):
        _problem(await enter(client, parent, contest["id"], parent.member_id, group=group), 422, "group_mismatch")


async def test_a_withdrawn_child_cannot_enter(client: httpx.AsyncClient, contest: dict[str, Any],
                                              make_user: MakeUser, add_child: AddChild, deps: Deps) -> None:
    parent = await make_user(name="周丽", birth_year=1987)
    child = await add_child(parent, name="周小乐", birth_year=YEAR - 8)
    response = await client.post(f"/mp/v1/members/{child['id']}/consent/withdraw", json={"reason": "不想参加了"},
                                 headers=parent.headers)
    assert response.status_code == 200, response.text
    _problem(await enter(client, parent, contest["id"], child["id"]), 422, "consent_withdrawn")
    assert await deps.db["contest_entries"].count_documents({"member_id": ObjectId(child["id"])}) == 0


async def test_a_child_cannot_enter_from_their_own_account(client: httpx.AsyncClient, contest: dict[str, Any],
                                                             fake_wechat: FakeWeChatControl) -> None:
    session = await mp_login(client, fake_wechat, f"o-contest-kid-{op_id()[:12]}")
    headers = {"Authorization": f"Bearer {session['token']}"}
    profile = {"name": "小小作者", "birth_year": YEAR - 11, "home_room": "JN-XSG-001"}
    _problem(await client.put("/mp/v1/me/profile", json=profile, headers=headers), 422, "guardian_required")
    # Without a member of their own there is nobody to enter.
    body = {"op_id": op_id(), "member_id": "0" * 24, "category": "征文", "group": "小学组", "title": "我",
            "text": "我想参赛。"}
    _problem(await client.post(f"/mp/v1/contests/{contest['id']}/entries", json=body, headers=headers), 404,
             "member_not_found")


async def test_another_familys_member_cannot_be_entered(client: httpx.AsyncClient, contest: dict[str, Any],
                                                        make_user: MakeUser,
                                                        family: tuple[MpUser, dict[str, Any]]) -> None:
    _, child = family
    stranger = await make_user(name="吴强", birth_year=1980)
    body = _problem(await enter(client, stranger, contest["id"], child["id"], category="绘画"), 404, "member_not_found")
    assert body["errors"] == [] or body["errors"][0]["loc"] == ["body", "member_id"]


async def test_one_teacher_at_most(client: httpx.AsyncClient, contest: dict[str, Any], make_user: MakeUser,
                                   add_child: AddChild) -> None:
    parent = await make_user(name="孙燕", birth_year=1986)
    child = await add_child(parent, name="孙小北", birth_year=YEAR - 11)
    two = [{"name": "刘老师", "school": "咸水沽第一小学"}, {"name": "张老师", "school": "咸水沽第一小学"}]
    body = _problem(await enter(client, parent, contest["id"], child["id"], teacher=two), 422, "validation_failed")
    assert ["body", "teacher"] in _locs(body) and "一位" in body["errors"][0]["msg"]
    created = await entered(client, parent, contest["id"], child["id"], teacher=two[:1], phone_contact="13800138000")
    assert created["teacher"] == two[0] and created["phone_contact"] == "138****8000"


async def test_duplicate_entries_and_replays(client: httpx.AsyncClient, contest: dict[str, Any], make_user: MakeUser,
                                             add_child: AddChild, deps: Deps, fake_wechat: FakeWeChatControl) -> None:
    parent = await make_user(name="郑洁", birth_year=1984)
    child = await add_child(parent, name="郑小溪", birth_year=YEAR - 10)
    op = op_id()
    first = await entered(client, parent, contest["id"], child["id"], op=op)
    checks = (await fake_wechat.calls()).get(MSG_SEC_CHECK, 0)
    replay = await enter(client, parent, contest["id"], child["id"], op=op)
    assert replay.status_code == 201 and replay.json()["id"] == first["id"]
    assert (await fake_wechat.calls()).get(MSG_SEC_CHECK, 0) == checks  # the replay asked WeChat nothing
    _problem(await enter(client, parent, contest["id"], child["id"]), 409, "duplicate_entry")
    assert await deps.db["contest_entries"].count_documents({"member_id": ObjectId(child["id"])}) == 1
    # Another category is another entry; withdrawing one frees its place.
    drawing = await entered(client, parent, contest["id"], child["id"], category="绘画", title="我的书屋")
    assert drawing["needs_image"]
    url = f"/mp/v1/contests/{contest['id']}/entries/{first['id']}"
    assert (await client.delete(url, headers=parent.headers)).status_code == 204
    await entered(client, parent, contest["id"], child["id"], title="重新写的")
    assert await deps.db["contest_entries"].count_documents({"member_id": ObjectId(child["id"])}) == 2


async def test_essays_only_while_open(client: httpx.AsyncClient, admin: Session,
                                      family: tuple[MpUser, dict[str, Any]], deps: Deps) -> None:
    parent, child = family
    draft = await new_contest(client, admin, status="draft")
    _problem(await enter(client, parent, draft["id"], child["id"]), 422, "contest_closed")
    judging = await new_contest(client, admin, status="judging")
    _problem(await enter(client, parent, judging["id"], child["id"]), 422, "contest_closed")
    _problem(await enter(client, parent, "0" * 24, child["id"]), 404, "contest_not_found")
    body = _problem(await enter(client, parent, "not-an-id", child["id"]), 422, "invalid_id")
    assert _locs(body) == [["path", "contest_id"]]
    _problem(await enter(client, parent, draft["id"], child["id"], category="散文"), 422, "validation_failed")
    assert await deps.db["contest_entries"].count_documents({"contest_id": {"$in": [
        ObjectId(draft["id"]), ObjectId(judging["id"])]}}) == 0


# -- WeChat's content check ----------------------------------------------------------------------------


async def test_content_check_pass_review_risky(client: httpx.AsyncClient, contest: dict[str, Any], admin: Session,
                                               make_user: MakeUser, add_child: AddChild, deps: Deps) -> None:
    parent = await make_user(name="冯梅", birth_year=1983)
    kids = [await add_child(parent, name=f"冯小{n}", birth_year=YEAR - 10) for n in "一二三"]
    reviewed = await entered(client, parent, contest["id"], kids[0]["id"], text="这篇文章里有审核词。")
    assert reviewed["status"] == "in_review" and reviewed["status_label"] == "审核中"
    body = _problem(await enter(client, parent, contest["id"], kids[1]["id"], text="这篇文章里有违规词。"), 422,
                    "content_refused")
    assert "修改" in body["detail"] and _locs(body) == [["body", "text"]]
    # A picture's title is checked too.
    body = _problem(await enter(client, parent, contest["id"], kids[1]["id"], category="绘画", title="违规词"), 422,
                    "content_refused")
    assert _locs(body) == [["body", "title"]]
    assert await deps.db["contest_entries"].count_documents({"member_id": ObjectId(kids[1]["id"])}) == 0
    # The staff queue has the reviewed one.
    queue = (await client.get(f"/api/v1/contests/{contest['id']}/entries", params={"status": "in_review"},
                              headers=admin.headers)).json()["items"]
    assert reviewed["id"] in [e["id"] for e in queue]
    assert all(e["status"] == "in_review" for e in queue)


async def test_long_essays_are_checked_in_chunks(client: httpx.AsyncClient, contest: dict[str, Any],
                                                 make_user: MakeUser, fake_wechat: FakeWeChatControl,
                                                 deps: Deps) -> None:
    teen = await make_user(name="韩梅梅", birth_year=YEAR - 15)
    # 1,400 characters that count, but over 4,000 with the spaces: WeChat sees it in chunks,
    # and the word at the very end (far past the first 2,500 characters) is still found.
    essay = "读 书 " * 700 + "违规词"
    assert rules.essay_length(essay) <= 1500 < 2500 < len(essay)
    before = (await fake_wechat.calls()).get(MSG_SEC_CHECK, 0)
    _problem(await enter(client, teen, contest["id"], teen.member_id, group="中学组", text=essay), 422,
             "content_refused")
    assert (await fake_wechat.calls()).get(MSG_SEC_CHECK, 0) - before >= 2
    assert await deps.db["contest_entries"].count_documents({"member_id": ObjectId(teen.member_id)}) == 0


async def test_wechat_busy_is_503_and_nothing_is_kept(client: httpx.AsyncClient, raw_client: httpx.AsyncClient,
                                                      contest: dict[str, Any], make_user: MakeUser,
                                                      add_child: AddChild, fake_wechat: FakeWeChatControl,
                                                      deps: Deps) -> None:
    parent = await make_user(name="曹红", birth_year=1982)
    child = await add_child(parent, name="曹小满", birth_year=YEAR - 10)
    op = op_id()
    await fake_wechat.fail_next(MSG_SEC_CHECK, -1, times=10)
    try:  # the shared client refuses any 5xx: this is the one place a 503 is expected
        response = await enter(raw_client, parent, contest["id"], child["id"], op=op)
    finally:
        await fake_wechat.fail_next(MSG_SEC_CHECK, -1, times=0)
    _problem(response, 503, "wechat_busy")
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert 0 < int(response.headers["Retry-After"]) <= 60
    assert await deps.db["contest_entries"].count_documents({"member_id": ObjectId(child["id"])}) == 0
    # The same op_id goes through once WeChat is back.
    await entered(client, parent, contest["id"], child["id"], op=op)


# -- pictures -----------------------------------------------------------------------------------------


async def test_picture_upload_checks_and_strips(client: httpx.AsyncClient, raw_client: httpx.AsyncClient,
                                                contest: dict[str, Any], make_user: MakeUser, add_child: AddChild,
                                                admin: Session, deps: Deps) -> None:
    parent = await make_user(name="许静", birth_year=1985)
    child = await add_child(parent, name="许小画", birth_year=YEAR - 9)
    entry = await entered(client, parent, contest["id"], child["id"], category="手抄报", title="书香满家")
    eid = entry["id"]
    # Refusals first: nothing is stored by any of them.
    _problem(await upload(client, parent, contest["id"], eid, b"just some text, not a picture" * 20, "image/png"), 422,
             "not_an_image")
    _problem(await upload(client, parent, contest["id"], eid, picture(), "application/pdf"), 415,
             "unsupported_image_type")
    _problem(await upload(client, parent, contest["id"], eid, b"\xff\xd8\xff" + b"\0" * 4_100_000), 413,
             "body_too_large")
    _problem(await upload(client, parent, contest["id"], eid, b"", "image/png"), 422, "empty_image")
    assert await deps.db["contest_files"].count_documents({}) == 0
    # A PNG sent as image/jpeg: the bytes decide, and it is kept (as JPEG).
    response = await upload(client, parent, contest["id"], eid, picture(), "image/jpeg")
    assert response.status_code == 200, response.text
    assert response.json()["image"]["content_type"] == "image/jpeg" and not response.json()["needs_image"]
    # A phone photo with GPS replaces it; the first file is gone, the kept copy has no EXIF.
    response = await upload(client, parent, contest["id"], eid, jpeg_with_gps())
    image = response.json()["image"]
    assert (image["width"], image["height"]) == (480, 640)
    assert await deps.db["contest_files"].count_documents({}) == 1
    got = await raw_client.get(f"/mp/v1/contests/{contest['id']}/entries/{eid}/image", headers=parent.headers)
    assert got.status_code == 200 and got.headers["Content-Type"] == "image/jpeg"
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    kept = Image.open(io.BytesIO(got.content))
    assert kept.size == (480, 640) and not kept.getexif() and b"TestPhone" not in got.content
    staff = await raw_client.get(f"/api/v1/contests/{contest['id']}/entries/{eid}/image", headers=admin.headers)
    assert staff.status_code == 200 and staff.content == got.content
    # An essay takes no picture.
    essay = await entered(client, parent, contest["id"], child["id"], text="短文")
    _problem(await upload(client, parent, contest["id"], essay["id"], picture(), "image/png"), 422, "image_not_needed")
    _problem(await client.get(f"/mp/v1/contests/{contest['id']}/entries/{essay['id']}/image",
                              headers=parent.headers), 404, "image_not_found")


# -- reader isolation --------------------------------------------------------------------------------


async def test_a_family_sees_only_its_own_entries(client: httpx.AsyncClient, contest: dict[str, Any],
                                                  make_user: MakeUser, family: tuple[MpUser, dict[str, Any]]) -> None:
    parent, child = family
    mine = (await client.get(f"/mp/v1/contests/{contest['id']}/entries", headers=parent.headers)).json()["items"]
    assert mine and {e["member_id"] for e in mine} == {child["id"]}
    eid = mine[0]["id"]
    other = await make_user(name="钱多", birth_year=1979)
    base = f"/mp/v1/contests/{contest['id']}/entries"
    assert (await client.get(base, headers=other.headers)).json()["items"] == []
    _problem(await client.get(base, params={"member_id": child["id"]}, headers=other.headers), 404, "member_not_found")
    for method, path in (("GET", f"{base}/{eid}"), ("DELETE", f"{base}/{eid}"), ("GET", f"{base}/{eid}/image"),
                         ("GET", f"{base}/{eid}/certificate.pdf")):
        _problem(await client.request(method, path, headers=other.headers), 404, "entry_not_found")
    _problem(await upload(client, other, contest["id"], eid, picture(), "image/png"), 404, "entry_not_found")
    assert (await client.get(f"{base}/{eid}", headers=parent.headers)).status_code == 200
    one = (await client.get(base, params={"member_id": child["id"]}, headers=parent.headers)).json()["items"]
    assert [e["id"] for e in one] == [e["id"] for e in mine]


async def test_staff_entry_list_has_no_query_per_entry(client: httpx.AsyncClient, contest: dict[str, Any],
                                                       admin: Session, command_counter: CommandCounter) -> None:
    url = f"/api/v1/contests/{contest['id']}/entries"
    counts = []
    for limit in (1, 8):
        command_counter.reset()
        page = (await client.get(url, params={"limit": limit}, headers=admin.headers)).json()
        assert len(page["items"]) == limit
        counts.append(len([c for c in command_counter.commands if c.split(":")[0] in {"find", "aggregate"}]))
    assert counts[0] == counts[1], command_counter.commands
    # Pages join up with the cursor.
    first = (await client.get(url, params={"limit": 3}, headers=admin.headers)).json()
    second = (await client.get(url, params={"limit": 3, "cursor": first["next_cursor"]}, headers=admin.headers)).json()
    everything = (await client.get(url, params={"limit": 6}, headers=admin.headers)).json()
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in everything["items"]]


# -- moderation, judging, awards, results, certificates --------------------------------------------------


async def test_judging_awards_and_certificates(client: httpx.AsyncClient, as_role: dict[str, Session],
                                               make_user: MakeUser, add_child: AddChild, deps: Deps) -> None:
    admin, clerk = as_role["district_admin"], as_role["district_staff"]
    contest = await new_contest(client, admin, quotas={"征文": {"小学组": {"first": 1, "second": 1, "third": 0,
                                                                          "excellent": 1}}})
    cid = contest["id"]
    parent = await make_user(name="赵敏", birth_year=1986)
    kids = {n: await add_child(parent, name=f"赵{n}", birth_year=YEAR - 9) for n in ("一", "二", "三", "四", "五")}
    teacher = {"name": "刘老师", "school": "咸水沽第一小学"}
    a = await entered(client, parent, cid, kids["一"]["id"], title="书屋里的夏天", teacher=teacher)
    b = await entered(client, parent, cid, kids["二"]["id"], title="我爱读书")
    c = await entered(client, parent, cid, kids["三"]["id"], title="书香")
    d = await entered(client, parent, cid, kids["四"]["id"], title="读书乐", text="读书真快乐，没有审核词。")
    e = await entered(client, parent, cid, kids["一"]["id"], category="绘画", title="画书屋")
    assert (await upload(client, parent, cid, e["id"], picture(), "image/png")).status_code == 200
    bare = await entered(client, parent, cid, kids["二"]["id"], category="绘画", title="没有图片")
    gone = await entered(client, parent, cid, kids["五"]["id"], title="撤回同意的孩子")
    assert d["status"] == "in_review"
    entries_url = f"/api/v1/contests/{cid}/entries"

    def score(who: Session, entry: dict[str, Any], value: int) -> Any:
        return client.post(f"{entries_url}/{entry['id']}/scores", json={"score": value}, headers=who.headers)

    _problem(await score(admin, a, 90), 422, "not_judging")  # still open
    response = await client.patch(f"/api/v1/contests/{cid}", json={"status": "judging"}, headers=admin.headers)
    assert response.status_code == 200
    _problem(await enter(client, parent, cid, kids["三"]["id"], category="绘画"), 422, "contest_closed")
    _problem(await score(admin, d, 70), 422, "entry_not_accepted")
    _problem(await score(admin, bare, 70), 422, "work_missing")
    body = _problem(await score(admin, a, 101), 422, "validation_failed")
    assert _locs(body) == [["body", "score"]]
    awards_url = f"/api/v1/contests/{cid}/awards"
    _problem(await client.post(awards_url, json={}, headers=admin.headers), 409, "entries_in_review")
    # Moderation: a rejection needs a reason; the queue entry is accepted once.
    moderation = f"{entries_url}/{d['id']}/moderation"
    _problem(await client.post(moderation, json={"decision": "reject"}, headers=clerk.headers), 422, "reason_required")
    accepted = await client.post(moderation, json={"decision": "accept"}, headers=clerk.headers)
    assert accepted.status_code == 200 and accepted.json()["status"] == "submitted"
    _problem(await client.post(moderation, json={"decision": "reject", "reason": "重复"}, headers=clerk.headers), 409,
             "not_in_review")
    # Judges: only those named, once the edition names them.
    await client.patch(f"/api/v1/contests/{cid}", json={"judges": ["admin"]}, headers=admin.headers)
    _problem(await score(clerk, a, 80), 403, "not_a_judge")
    await client.patch(f"/api/v1/contests/{cid}", json={"judges": ["admin", "clerk"]}, headers=admin.headers)
    for who, entry, value in ((admin, a, 90), (admin, b, 88), (admin, c, 88), (admin, d, 70), (admin, e, 75),
                              (clerk, a, 70), (clerk, b, 88), (admin, gone, 100)):
        response = await score(who, entry, value)
        assert response.status_code == 200, response.text
    changed = (await score(clerk, a, 80)).json()  # a judge may change their score: one per judge
    assert (changed["score"], changed["score_count"], changed["mean_score"]) == (80, 2, 85.0)
    detail = (await client.get(f"{entries_url}/{a['id']}", headers=clerk.headers)).json()
    assert detail["my_score"] == 80 and sorted(s["judge"] for s in detail["scores"]) == ["admin", "clerk"]
    provisional = (await client.get(f"/api/v1/contests/{cid}/results", headers=admin.headers)).json()
    assert provisional["provisional"] is True
    assert provisional["pools"][0]["entries"][0]["entry_id"] == gone["id"]  # 100 points, for now
    # Her guardian withdraws consent: the work is no longer judged, awarded or announced.
    withdrawn = await client.post(f"/mp/v1/members/{kids['五']['id']}/consent/withdraw", json={},
                                  headers=parent.headers)
    assert withdrawn.status_code == 200, withdrawn.text
    bad = _problem(await client.post(awards_url, json={"recommend_entry_ids": ["0" * 24]}, headers=admin.headers), 422,
                   "unknown_entry")
    assert _locs(bad) == [["body", "recommend_entry_ids", 0]]

    response = await client.post(awards_url, json={"recommend_top": 1, "recommend_entry_ids": [c["id"]]},
                                 headers=admin.headers)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["provisional"] is False and result["contest"]["status"] == "awarded"
    pools = {(p["category"], p["group"]): p["entries"] for p in result["pools"]}
    essay_pool = pools[("征文", "小学组")]
    # b and c tie on 88: b has two judges' scores. Quota 1/1/0 and one 优秀奖.
    assert [(r["entry_id"], r["rank"], r["award_label"]) for r in essay_pool] == [
        (b["id"], 1, "一等奖"), (c["id"], 2, "二等奖"), (a["id"], 3, "优秀奖"), (d["id"], 4, "未获奖")]
    assert [r["recommended"] for r in essay_pool] == [True, True, False, False]
    drawings = pools[("绘画", "小学组")]
    assert [(r["entry_id"], r["award"]) for r in drawings] == [(e["id"], "first"), (bare["id"], "none")]
    assert drawings[1]["rank"] is None

    # Every entrant's result is waiting in the outbox, once.
    events = await deps.db["notifications"].find({"event": "contest_result", "_id": {"$regex": f"^contest_result:{cid}:"}
                                                  }).to_list()
    by_entry = {ev["_id"].rsplit(":", 1)[1]: ev for ev in events}
    assert set(by_entry) == {x["id"] for x in (a, b, c, d, e, bare)}  # not the withdrawn child's
    assert by_entry[b["id"]]["data"] == {"thing1": contest["title"], "phrase2": "一等奖",
                                         "thing3": "作品已推荐参加上一级评选"}
    assert by_entry[d["id"]]["data"]["phrase2"] == "未获奖"
    assert by_entry[a["id"]]["data"]["thing3"] == "可在小程序中下载获奖证书"
    assert all(len(ev["data"]["phrase2"]) <= 5 for ev in events)
    assert {str(ev["account_id"]) for ev in events} == {parent.account_id}
    assert str(by_entry[a["id"]]["member_id"]) == kids["一"]["id"]
    assert await deps.db["audit"].count_documents({"action": "contest.awarded", "target_id": cid}) == 1

    # Scores are locked, and the awards are computed once.
    _problem(await score(admin, d, 99), 409, "scores_locked")
    _problem(await client.post(awards_url, json={}, headers=admin.headers), 409, "already_awarded")
    assert len(await deps.db["notifications"].find({"_id": {"$regex": f"^contest_result:{cid}:"}}).to_list()) == 6

    # The family sees the results.
    mine = (await client.get(f"/mp/v1/contests/{cid}/entries", headers=parent.headers)).json()["items"]
    labels = {x["id"]: x["result"]["award_label"] for x in mine}
    assert labels[b["id"]] == "一等奖" and labels[d["id"]] == "未获奖"

    # Certificates: the author's from the mini-program, the teacher's from the office.
    pdf = await client.get(f"/mp/v1/contests/{cid}/entries/{b['id']}/certificate.pdf", headers=parent.headers)
    assert pdf.status_code == 200 and pdf.headers["Content-Type"] == "application/pdf"
    text = pdf_text(pdf.content)
    for expected in ("赵二", "一等奖", "天津市津南区图书馆", "征文", "小学组", "我爱读书", "证书编号"):
        assert expected in text, (expected, text)
    _problem(await client.get(f"/mp/v1/contests/{cid}/entries/{d['id']}/certificate.pdf", headers=parent.headers),
             422, "no_certificate")
    teacher_pdf = await client.get(f"{entries_url}/{a['id']}/certificate.pdf", params={"for": "teacher"},
                                   headers=admin.headers)
    assert teacher_pdf.status_code == 200
    text = pdf_text(teacher_pdf.content)
    assert "刘老师" in text and "优秀指导老师" in text and "赵一" in text
    _problem(await client.get(f"{entries_url}/{b['id']}/certificate.pdf", params={"for": "teacher"},
                              headers=admin.headers), 422, "no_teacher")

    # The report for the level above.
    xlsx = await client.get(f"/api/v1/contests/{cid}/results.xlsx", headers=admin.headers)
    assert xlsx.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("类别", "组别", "名次", "奖项") and "指导老师" in rows[0]
    assert len(rows) == 1 + 6
    assert rows[1][:4] == ("征文", "小学组", 1, "一等奖") and rows[1][8] == "赵二"

    # Reported; nothing that decided the results changes any more.
    reported = await client.patch(f"/api/v1/contests/{cid}", json={"status": "reported"}, headers=admin.headers)
    assert reported.status_code == 200 and reported.json()["reported_at"]
    _problem(await client.patch(f"/api/v1/contests/{cid}", json={"title": "改个名字"}, headers=admin.headers), 409,
             "contest_settled")


# -- privacy --------------------------------------------------------------------------------------------


async def test_privacy_export_and_erase(client: httpx.AsyncClient, admin: Session, make_user: MakeUser,
                                        add_child: AddChild, deps: Deps) -> None:
    contest = await new_contest(client, admin)
    cid = contest["id"]
    parent = await make_user(name="林芳", birth_year=1984)
    child = await add_child(parent, name="林小书", birth_year=YEAR - 10)
    essay = await entered(client, parent, cid, child["id"], text="我在书屋读了十本书。", phone_contact="13900139000")
    drawing = await entered(client, parent, cid, child["id"], category="硬笔书法", title="静夜思")
    assert (await upload(client, parent, cid, drawing["id"], picture((500, 700), "JPEG"))).status_code == 200
    await client.patch(f"/api/v1/contests/{cid}", json={"status": "judging"}, headers=admin.headers)
    assert (await client.post(f"/api/v1/contests/{cid}/entries/{essay['id']}/scores", json={"score": 91},
                              headers=admin.headers)).status_code == 200
    account = await deps.db["mp_accounts"].find_one({"_id": ObjectId(parent.account_id)})
    members = await deps.db["members"].find({"account_id": ObjectId(parent.account_id)}).to_list()

    exported = await privacy.export(deps, account, members)
    assert privacy.NAME == "contest"
    by_id = {x["id"]: x for x in exported}  # type: ignore[attr-defined]
    assert by_id[essay["id"]]["text"] == "我在书屋读了十本书。" and by_id[essay["id"]]["phone_contact"] == "13900139000"
    assert by_id[drawing["id"]]["image"]["content_type"] == "image/jpeg"
    sha = by_id[drawing["id"]]["image"]["sha256"]

    await privacy.erase(deps, account, members, datetime.now(UTC))
    ids = [ObjectId(essay["id"]), ObjectId(drawing["id"])]
    assert await deps.db["contest_entries"].count_documents({"_id": {"$in": ids}}) == 0
    assert await deps.db["contest_scores"].count_documents({"entry_id": {"$in": ids}}) == 0
    assert await deps.db["contest_files"].count_documents({"_id": sha}) == 0
    assert await privacy.export(deps, account, members) == []
