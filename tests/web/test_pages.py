"""The console and phone pages over HTTP: log-in forms, sessions, XSRF, areas, error pages.

Each test user gets its own httpx client (``page_client``) so their cookies never mix;
every response still goes through ``check_invariants``.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.console.maps import KM_PER_DEGREE_LAT, Projection, place_labels
from server.district import JINNAN
from server.phone.handlers import OpenNow, open_now
from server.resources import Deps
from server.seed import DEMO_PASSWORD
from server.web.pages import SESSION_COOKIE
from server.web.templating import LOCAL_TZ
from tests.conftest import check_invariants, login

ROOM = "JN-XSG-001"  # jn-xsg-001's room, in 咸水沽镇 (xsg's town)
OTHER_TOWN_ROOM = "JN-GG-001"
ROOM_LINK = re.compile(r'<td class="code"><a href="/console/rooms/(JN-[A-Z]+-\d{3})">')
DOT = re.compile(r'<circle class="dot [^"]*"')
MASKED_PHONE = re.compile(r"\d{3}\*{4}\d{4}")


@asynccontextmanager
async def page_client(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """A browser-like client with its own cookie jar."""
    async with httpx.AsyncClient(base_url=base_url, event_hooks={"response": [check_invariants]},
                                 timeout=30) as http:
        yield http


def form_fields(page: httpx.Response) -> tuple[str, str]:
    """(action, _xsrf) of the page's log-in form."""
    action = re.search(r'<form method="post" action="([^"]+)"', page.text)
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert action and token, page.text[:500]
    return html.unescape(action.group(1)), token.group(1)


async def form_login(http: httpx.AsyncClient, login_path: str, username: str, password: str = DEMO_PASSWORD,
                     **params: str) -> httpx.Response:
    """Fetch the log-in page, then post its form the way a browser would."""
    page = await http.get(login_path, params=params)
    assert page.status_code == 200
    assert page.headers["Content-Type"].startswith("text/html")
    assert "_xsrf" in http.cookies, "the log-in page must set the XSRF cookie"
    action, token = form_fields(page)
    return await http.post(action, data={"_xsrf": token, "username": username, "password": password})


async def xsrf_token(http: httpx.AsyncClient, path: str) -> str:
    page = await http.get(path)
    token = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert token, page.text[:500]
    return token.group(1)


async def api_room(client: httpx.AsyncClient, code: str) -> dict[str, Any]:
    session = await login(client, "inspector")
    response = await client.get(f"/api/v1/rooms/{code}", headers=session.headers)
    assert response.status_code == 200
    return response.json()


# -- the console -------------------------------------------------------------


async def test_console_page_without_session_redirects_to_login(seeded: Deps, base_url: str) -> None:
    async with page_client(base_url) as http:
        response = await http.get("/console/rooms", params={"town": "咸水沽镇"})
        assert response.status_code == 302
        location = httpx.URL(response.headers["Location"])
        assert location.path == "/console/login"
        wanted = str(response.request.url.raw_path, "ascii")
        assert location.params["next"] == wanted
        # Logging in from there lands on the page that was asked for.
        response = await form_login(http, "/console/login", "clerk", next=location.params["next"])
        assert response.status_code == 302 and response.headers["Location"] == wanted
        page = await http.get(wanted)
        assert page.status_code == 200 and '<option value="咸水沽镇" selected>' in page.text
    async with page_client(base_url) as http:
        response = await http.get("/m/")
        assert response.status_code == 302
        assert response.headers["Location"] == "/m/login?next=/m/"


async def test_console_login_lists_110_rooms_with_a_map(seeded: Deps, base_url: str) -> None:
    async with page_client(base_url) as http:
        response = await form_login(http, "/console/login", "admin")
        assert response.status_code == 302
        assert response.headers["Location"] == "/console/"  # the dashboard (总览)
        assert SESSION_COOKIE in http.cookies

        page = await http.get("/console/rooms")
        assert page.status_code == 200
        text = page.text
        assert "共 <strong>110</strong> 个" in text
        svg = text[text.index('<svg class="map"'):text.index("</svg>", text.index('<svg class="map"'))]
        assert len(DOT.findall(svg)) == 110, "one dot per room on the map, whatever the table page"
        assert len(set(re.findall(r'<a href="/console/rooms/(JN-[A-Z]+-\d{3})" class="room">', svg))) == 110
        assert svg.count("<title>") == 110
        assert "咸水沽镇" in svg and "海棠街道" in svg  # town names at the town centres
        # 总览, 书屋, 藏书与流通, 离线冲突, 年度配送, 培训, 评选, 统计报表: every section is a link now.
        nav = text[text.index('<nav class="mainnav"'):text.index("</nav>")]
        assert "建设中" not in nav
        assert nav.count("<a ") == 8
        assert '<a href="/console/">总览</a>' in nav and '<a href="/console/reports">统计报表</a>' in nav
        assert '<a href="/console/training">培训</a>' in nav and '<a href="/console/ratings">评选</a>' in nav
        assert '<a href="/console/offline-conflicts">离线冲突</a>' in nav
        assert '<a href="/console/distribution">年度配送</a>' in nav

        # Cursor pagination through the table reaches every room exactly once.
        codes = ROOM_LINK.findall(text)
        assert len(codes) == 50
        while (more := re.search(r'<a class="button" rel="next" href="([^"]+)">下一页</a>', text)):
            text = (await http.get(html.unescape(more.group(1)))).text
            codes += ROOM_LINK.findall(text)
        assert len(codes) == len(set(codes)) == 110
        assert codes == sorted(codes)


async def test_rooms_filters_narrow_table_count_and_map(seeded: Deps, base_url: str) -> None:
    async with page_client(base_url) as http:
        await form_login(http, "/console/login", "clerk")
        page = await http.get("/console/rooms", params={"town": "葛沽镇", "kind": "社区书吧"})
        assert page.status_code == 200
        codes = ROOM_LINK.findall(page.text)
        assert codes and all(c.startswith("JN-GG-") for c in codes)
        assert f"共 <strong>{len(codes)}</strong> 个（已筛选）" in page.text
        assert len(DOT.findall(page.text)) == len(codes)
        assert "清除筛选" in page.text

        # The form sends every field; "全部…" is an empty value and means no filter.
        everything = await http.get("/console/rooms", params={"town": "", "kind": "", "status": "", "q": " "})
        assert everything.status_code == 200 and "共 <strong>110</strong> 个" in everything.text
        form = await http.get("/console/rooms", params={"town": "", "kind": "分馆", "status": "active", "q": ""})
        assert form.status_code == 200
        assert len(ROOM_LINK.findall(form.text)) == len(DOT.findall(form.text)) > 0

        empty = await http.get("/console/rooms", params={"q": "没有这个村"})
        assert "没有符合条件的书屋" in empty.text and "共 <strong>0</strong> 个" in empty.text

        bad = await http.get("/console/rooms", params={"kind": "图书馆"})
        assert bad.status_code == 422
        assert bad.headers["Content-Type"].startswith("text/html")
        assert "query.kind" in bad.text


async def test_room_page(seeded: Deps, base_url: str, client: httpx.AsyncClient) -> None:
    room = await api_room(client, ROOM)
    async with page_client(base_url) as http:
        await form_login(http, "/console/login", "xsg")
        page = await http.get(f"/console/rooms/{ROOM}")
        assert page.status_code == 200
        text = page.text
        assert room["name"] in text and room["code"] in text and room["village"] in text
        assert "演示数据" in text  # demo rooms say so
        assert room["standards"]["warnings"], "JN-XSG-001 is below standard in the demo data"
        for warning in room["standards"]["warnings"]:
            assert html.escape(warning) in text
        for admin in room["administrators"]:
            assert admin["name"] in text
            assert admin["phone"] and MASKED_PHONE.fullmatch(admin["phone"]) and admin["phone"] in text
        assert all(f">{d}" in text for d in ("周一", "周二", "周三", "周四", "周五", "周六", "周日"))
        assert len(DOT.findall(text)) == 1, "the locator map shows this room only"
        assert 'class="map"' in text

        # A town coordinator opening another town's room gets a friendly refusal, not a crash.
        other = await http.get(f"/console/rooms/{OTHER_TOWN_ROOM}")
        assert other.status_code == 403
        assert "这个书屋不在您的负责范围内" in other.text
        missing = await http.get("/console/rooms/JN-XSG-999")
        assert missing.status_code == 404
        assert "没有编号为 JN-XSG-999 的书屋" in missing.text


async def test_unknown_page_is_a_chinese_404(seeded: Deps, client: httpx.AsyncClient) -> None:
    for path in ("/console/no-such-page", "/m/no-such-page", "/nowhere"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("text/html")
        assert "没有找到这个页面" in response.text
        assert response.headers["X-Request-Id"] in response.text  # people can quote it on the phone


async def test_post_without_xsrf_is_refused(seeded: Deps, base_url: str) -> None:
    async with page_client(base_url) as http:
        response = await http.post("/console/login", data={"username": "admin", "password": DEMO_PASSWORD})
        assert response.status_code == 403
        assert "请刷新页面后重试" in response.text
        # A cookie without the matching form field is refused too.
        await http.get("/console/login")
        assert "_xsrf" in http.cookies
        response = await http.post("/m/login", data={"username": "admin", "password": DEMO_PASSWORD})
        assert response.status_code == 403
        assert SESSION_COOKIE not in http.cookies


async def test_login_failures_warn_then_lock_out(seeded: Deps, base_url: str) -> None:
    async with page_client(base_url) as http:
        answers = [await form_login(http, "/m/login", "jn-gg-009", "wrong-password") for _ in range(5)]
        assert [a.status_code for a in answers[:4]] == [401] * 4
        assert "用户名或密码错误" in answers[0].text
        assert "再错 1 次将锁定账号" in answers[3].text
        assert answers[4].status_code == 429
        assert "账号已锁定" in answers[4].text
        # Locked means locked: the right password does not help until the lock-out ends.
        locked = await form_login(http, "/m/login", "jn-gg-009")
        assert locked.status_code == 429
        assert "账号已锁定" in locked.text
        assert int(locked.headers["Retry-After"]) > 0
        assert 'value="jn-gg-009"' in locked.text  # the form keeps the user name
        assert SESSION_COOKIE not in http.cookies


# -- areas: room administrators use the phone pages --------------------------------


async def test_room_admin_is_sent_to_the_phone_pages(seeded: Deps, base_url: str, client: httpx.AsyncClient) -> None:
    room = await api_room(client, ROOM)
    async with page_client(base_url) as http:
        refused = await form_login(http, "/console/login", "jn-xsg-001")
        assert refused.status_code == 200
        assert "该账号是书屋管理员账号" in refused.text and 'href="/m/login"' in refused.text
        assert SESSION_COOKIE not in http.cookies

        response = await form_login(http, "/m/login", "jn-xsg-001")
        assert response.status_code == 302
        assert response.headers["Location"] == "/m/"
        home = await http.get("/m/")
        assert home.status_code == 200
        assert room["name"] in home.text and ROOM in home.text
        assert "本周开放时间" in home.text
        assert re.search(r"正在开放|现在闭馆", home.text)
        for warning in room["standards"]["warnings"]:
            assert html.escape(warning) in home.text
        # The desk's work, one tile per page of this room (tests/web/test_phone_desk.py goes further).
        tiles = re.findall(rf'<a class="tile" href="/m/rooms/{ROOM}/\w+">.*?tile-label">(\w+)<', home.text, re.S)
        assert tiles == ["借书", "还书", "续借", "阅览登记", "今日借还", "逾期", "收货", "盘点"]
        assert "即将开通" not in home.text

        # The phone session does not open the console.
        console = await http.get("/console/rooms")
        assert console.status_code == 403
        assert console.headers["Content-Type"].startswith("text/html")
        assert "无权访问" in console.text and 'href="/m/"' in console.text
        # "换个账号登录" on that page logs out and opens the phone log-in.
        token = re.search(r'name="_xsrf" value="([^"]+)"', console.text)
        assert token and 'action="/m/logout"' in console.text
        out = await http.post("/m/logout", data={"_xsrf": token.group(1)})
        assert out.status_code == 302 and out.headers["Location"] == "/m/login"
        assert (await http.get("/m/")).status_code == 302


async def test_district_account_on_phone(seeded: Deps, base_url: str) -> None:
    # Every role may log in on the phone now: inspectors and trainers land on pages of their
    # own (tests/training/test_cycle.py).
    async with page_client(base_url) as http:
        assert (await form_login(http, "/m/login", "xsg")).status_code == 302
        home = await http.get("/m/")
        assert home.status_code == 200
        assert home.text.count('class="card room-card"') == 18  # every room of 咸水沽镇


async def test_next_cannot_leave_the_site(seeded: Deps, base_url: str) -> None:
    for evil in ("https://evil.example", "//evil.example/console", "/m/", "javascript:alert(1)"):
        async with page_client(base_url) as http:
            page = await http.get("/console/login", params={"next": evil})
            assert "evil" not in form_fields(page)[0]
            response = await form_login(http, "/console/login", "clerk", next=evil)
            assert response.status_code == 302
            assert response.headers["Location"] == "/console/", evil
            # Already logged in: the log-in page sends people on, still not off-site.
            again = await http.get("/console/login", params={"next": evil})
            assert again.status_code == 302 and again.headers["Location"] == "/console/"
    async with page_client(base_url) as http:
        response = await form_login(http, "/console/login", "clerk", next=f"/console/rooms/{ROOM}")
        assert response.headers["Location"] == f"/console/rooms/{ROOM}"
    async with page_client(base_url) as http:
        response = await form_login(http, "/m/login", "jn-xsg-001", next="https://evil.example/m/")
        assert response.headers["Location"] == "/m/"


@pytest.mark.parametrize("area", ["console", "m"])
async def test_logout_ends_the_session(seeded: Deps, base_url: str, area: str) -> None:
    username = "trainer" if area == "console" else "jn-xsg-002"
    home = "/console/rooms" if area == "console" else "/m/"
    async with page_client(base_url) as http:
        await form_login(http, f"/{area}/login", username)
        old_cookie = http.cookies[SESSION_COOKIE]
        assert (await http.get(home)).status_code == 200
        token = await xsrf_token(http, home)
        response = await http.post(f"/{area}/logout", data={"_xsrf": token})
        assert response.status_code == 302
        assert response.headers["Location"] == f"/{area}/login"
        assert SESSION_COOKIE not in http.cookies
    async with page_client(base_url) as replay:
        # Someone who kept a copy of the cookie gets nothing from it.
        replay.cookies.set(SESSION_COOKIE, old_cookie)
        response = await replay.get(home)
        assert response.status_code == 302
        assert response.headers["Location"].startswith(f"/{area}/login?next=")


async def test_security_headers_and_no_inline_code(seeded: Deps, base_url: str) -> None:
    async with page_client(base_url) as console, page_client(base_url) as phone:
        login_page = await console.get("/console/login")
        response = await form_login(console, "/console/login", "admin")
        session_cookie = next(v for k, v in response.headers.multi_items()
                              if k.lower() == "set-cookie" and v.startswith(SESSION_COOKIE))
        assert "httponly" in session_cookie.lower() and "samesite=lax" in session_cookie.lower()
        phone_login_page = await phone.get("/m/login")
        await form_login(phone, "/m/login", "jn-xsg-001")
        pages = [
            login_page,
            await console.get("/console/rooms"),
            await console.get(f"/console/rooms/{ROOM}"),
            await console.get("/console/nothing-here"),
            phone_login_page,
            await phone.get("/m/"),
            await phone.get("/console/rooms"),
        ]
        for page in pages:
            path = page.request.url.path
            csp = page.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "style-src 'self'" in csp and "frame-ancestors 'none'" in csp
            assert page.headers["X-Frame-Options"] == "DENY"
            assert page.headers["X-Content-Type-Options"] == "nosniff"
            assert page.headers["Content-Type"] == "text/html; charset=UTF-8"
            assert '<meta name="viewport"' in page.text
            assert '<html lang="zh-CN">' in page.text
            # The CSP would block these, so none may be written (scripts come from /static, by src).
            assert not re.search(r"<script(?![^>]*\ssrc=\"/static/)|<style|\sstyle=|\son[a-z]+=", page.text, re.I), path
            own = page.text.replace('xmlns="http://www.w3.org/2000/svg"', "")
            assert "http://" not in own and "https://" not in own, f"{path}: no external resources"
        for page in pages[1:3] + pages[5:6]:
            assert page.headers["Cache-Control"] == "no-store", page.request.url.path
        css = await console.get("/static/shuwu.css")
        assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")


# -- the pure helpers behind the pages ------------------------------------------


def test_open_now_says_when_a_room_opens_and_closes() -> None:
    hours = {"mon": ["09:00-11:30", "14:00-17:30"], "wed": ["19:00-21:00"]}
    monday = datetime(2026, 11, 23, tzinfo=LOCAL_TZ)
    assert open_now(hours, monday.replace(hour=8)) == OpenNow(False, "现在闭馆", "今天 09:00 开门")
    assert open_now(hours, monday.replace(hour=9)) == OpenNow(True, "正在开放", "开放到 11:30")
    assert open_now(hours, monday.replace(hour=11, minute=30)) == OpenNow(False, "现在闭馆", "今天 14:00 开门")
    assert open_now(hours, monday.replace(hour=17, minute=29)).is_open
    assert open_now(hours, monday.replace(hour=18)) == OpenNow(False, "现在闭馆", "下次开放：周三 19:00")
    assert open_now(hours, monday.replace(day=25, hour=22)) == OpenNow(False, "现在闭馆", "下次开放：周一 09:00")
    sunday = monday.replace(day=29, hour=12)
    assert open_now(hours, sunday).detail == "下次开放：明天 09:00"
    assert open_now({}, sunday) == OpenNow(False, "现在闭馆", "还没有登记开放时间")


def test_projection_keeps_kilometres_equal_both_ways() -> None:
    bbox = JINNAN.bbox
    projection = Projection.fit(bbox, 480)
    assert projection.point(bbox.max_lat, bbox.min_lng) == (0, 0)
    x, y = projection.point(bbox.min_lat, bbox.max_lng)
    assert x == pytest.approx(480, abs=0.1) and y == pytest.approx(projection.height, abs=0.1)
    # 1 km north and 1 km east are the same length on screen at the district's latitude.
    mid_lat = (bbox.min_lat + bbox.max_lat) / 2
    north = projection.point(mid_lat + 1 / KM_PER_DEGREE_LAT, 117.4)
    east = projection.point(mid_lat, 117.4 + 1 / (KM_PER_DEGREE_LAT * math.cos(math.radians(mid_lat))))
    centre = projection.point(mid_lat, 117.4)
    assert abs(centre[1] - north[1]) == pytest.approx(east[0] - centre[0], abs=0.15)
    assert projection.km(1) == pytest.approx(abs(centre[1] - north[1]), abs=0.15)


@pytest.mark.parametrize(("width", "font_size"), [(468, 13), (346, 12)])
def test_town_labels_of_the_district_never_overlap(width: float, font_size: float) -> None:
    towns = [(*Projection.fit(JINNAN.bbox, width).point(t.lat, t.lng), t.name) for t in JINNAN.towns]
    height = Projection.fit(JINNAN.bbox, width).height
    centres = place_labels(towns, font_size, width, height)
    boxes = [(x - len(n) * font_size / 2, y - font_size * 0.7, x + len(n) * font_size / 2, y + font_size * 0.7)
             for (x, y), (_, _, n) in zip(centres, towns, strict=True)]
    for i, a in enumerate(boxes):
        assert 0 <= a[0] and a[2] <= width and 0 <= a[1] and a[3] <= height
        for b in boxes[i + 1:]:
            assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1]), (a, b)


@given(st.lists(st.tuples(st.floats(0, 400), st.floats(0, 400), st.text("镇村街道社区", min_size=2, max_size=6)),
                max_size=12))
def test_labels_stay_inside_the_map(anchors: list[tuple[float, float, str]]) -> None:
    for (x, y), (_, _, text) in zip(place_labels(anchors, 13, 400, 400), anchors, strict=True):
        assert len(text) * 13 / 2 <= x <= 400 - len(text) * 13 / 2
        assert 0 < y < 400
