"""miniprogram_api.wechat against the real local fake WeChat server (ops/fake_wechat)
started by the session stack: login codes, the shared access token, phone numbers,
content checks, subscribe messages, mini-program codes, and secrets kept out of logs."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from PIL import Image

from miniprogram_api.wechat import (
    ACCESS_TOKEN_KEY,
    MSG_SEC_CHECK_MAX_CHARS,
    WeChat,
    WeChatError,
    WxSession,
    fit_template_data,
    split_for_check,
)
from ops.fake_wechat.client import FakeWeChatControl
from ops.stack import Stack
from server.config import DEV_WECHAT_APPID, DEV_WECHAT_SECRET
from server.resources import Deps

TEMPLATE = "TPL_hold_ready_0001"


def new_openid() -> str:
    return f"o_test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def wechat_base(stack: Stack) -> str:
    assert stack.wechat_base, "the session stack starts the fake WeChat server"
    return stack.wechat_base


def make_wechat(
    base: str, deps: Deps, *, secret: str = DEV_WECHAT_SECRET, timeout_secs: float = 5
) -> WeChat:
    return WeChat(
        appid=DEV_WECHAT_APPID,
        secret=secret,
        api_base=base,
        redis=deps.redis,
        timeout_secs=timeout_secs,
        threads=4,
    )


@pytest_asyncio.fixture(scope="module")
async def wechat(wechat_base: str, deps: Deps) -> AsyncIterator[WeChat]:
    client = make_wechat(wechat_base, deps)
    yield client
    await client.close()


@pytest_asyncio.fixture(scope="module")
async def fake(wechat_base: str) -> AsyncIterator[FakeWeChatControl]:
    async with FakeWeChatControl(wechat_base) as control:
        yield control


async def calls_to(fake: FakeWeChatControl, path: str) -> int:
    return (await fake.calls()).get(path, 0)


async def logged_in(wechat: WeChat, fake: FakeWeChatControl) -> str:
    """A fresh user who has just logged in (msg_sec_check wants an active user)."""
    openid = new_openid()
    await wechat.code2session(await fake.login_code(openid))
    return openid


# --- code2session ---------------------------------------------------------------------------


async def test_code2session_returns_openid_and_unionid(
    wechat: WeChat, fake: FakeWeChatControl
) -> None:
    openid = new_openid()
    session = await wechat.code2session(await fake.login_code(openid, unionid="u_" + openid))
    assert (session.openid, session.unionid) == (openid, "u_" + openid)
    assert session.session_key
    plain = await wechat.code2session(await fake.login_code(new_openid()))
    assert plain.unionid is None


async def test_reused_code_is_40029_and_never_retried(
    wechat: WeChat, fake: FakeWeChatControl
) -> None:
    code = await fake.login_code(new_openid())
    await wechat.code2session(code)
    before = await calls_to(fake, "/sns/jscode2session")
    with pytest.raises(WeChatError) as caught:
        await wechat.code2session(code)
    assert caught.value.errcode == 40029 and not caught.value.transient
    assert await calls_to(fake, "/sns/jscode2session") == before + 1


async def test_code2session_is_not_retried_when_busy(
    wechat: WeChat, fake: FakeWeChatControl
) -> None:
    code = await fake.login_code(new_openid())
    await fake.fail_next("/sns/jscode2session", -1)
    before = await calls_to(fake, "/sns/jscode2session")
    with pytest.raises(WeChatError) as caught:
        await wechat.code2session(code)
    assert caught.value.errcode == -1 and caught.value.transient
    assert await calls_to(fake, "/sns/jscode2session") == before + 1


async def test_expired_code_is_40029(wechat: WeChat, fake: FakeWeChatControl) -> None:
    code = await fake.login_code(new_openid(), ttl_secs=0)
    with pytest.raises(WeChatError) as caught:
        await wechat.code2session(code)
    assert caught.value.errcode == 40029


async def test_blocked_user_is_40226(wechat: WeChat, fake: FakeWeChatControl) -> None:
    openid = new_openid()
    await fake.block(openid)
    with pytest.raises(WeChatError) as caught:
        await wechat.code2session(await fake.login_code(openid))
    assert caught.value.errcode == 40226 and not caught.value.transient


async def test_hammering_login_gets_45011_which_is_transient(
    wechat: WeChat, fake: FakeWeChatControl
) -> None:
    codes = [await fake.login_code(new_openid()) for _ in range(6)]
    await fake.rate_limit(2)
    try:
        results = await asyncio.gather(
            *(wechat.code2session(c) for c in codes), return_exceptions=True
        )
    finally:
        await fake.rate_limit(30)
    errors = [r for r in results if isinstance(r, WeChatError)]
    assert errors and all(e.errcode == 45011 and e.transient for e in errors), results
    assert len(errors) >= len(codes) - 2
    assert isinstance(await wechat.code2session(await fake.login_code(new_openid())), WxSession)


async def test_network_failure_and_timeout_are_transient(deps: Deps) -> None:
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        slow = make_wechat(f"http://127.0.0.1:{silent.getsockname()[1]}", deps, timeout_secs=0.3)
        try:
            with pytest.raises(WeChatError) as caught:
                await slow.code2session("some-code")
        finally:
            await slow.close()
    assert caught.value.errcode == -2 and caught.value.transient

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    refused = make_wechat(f"http://127.0.0.1:{closed_port}", deps)
    try:
        with pytest.raises(WeChatError) as caught:
            await refused.code2session("some-code")
    finally:
        await refused.close()
    assert caught.value.errcode == -2 and caught.value.transient
    assert DEV_WECHAT_SECRET not in str(caught.value)  # requests' message holds the URL


# --- the access token -----------------------------------------------------------------------


async def test_token_is_fetched_once_for_all_instances(
    wechat: WeChat, wechat_base: str, deps: Deps, fake: FakeWeChatControl
) -> None:
    await deps.redis.delete(ACCESS_TOKEN_KEY)
    other = make_wechat(wechat_base, deps)
    try:
        before = await fake.calls()
        tokens = await asyncio.gather(
            wechat.access_token(), other.access_token(), wechat.access_token()
        )
        assert await other.access_token() == tokens[0]
    finally:
        await other.close()
    after = await fake.calls()
    assert len(set(tokens)) == 1
    assert after.get("/cgi-bin/stable_token", 0) - before.get("/cgi-bin/stable_token", 0) == 1
    assert after.get("/cgi-bin/token", 0) == before.get("/cgi-bin/token", 0)
    # Kept 5 minutes less than WeChat gives it (a stable token fetched earlier in the session
    # comes back with what is left of its two hours).
    assert 0 < await deps.redis.ttl(ACCESS_TOKEN_KEY) <= 7200 - 300


async def test_classic_token_when_stable_token_fails(
    wechat: WeChat, deps: Deps, fake: FakeWeChatControl
) -> None:
    await deps.redis.delete(ACCESS_TOKEN_KEY)
    await fake.fail_next("/cgi-bin/stable_token", 45009)
    before = await calls_to(fake, "/cgi-bin/token")
    token = await wechat.access_token()
    assert await calls_to(fake, "/cgi-bin/token") == before + 1
    assert await deps.redis.get(ACCESS_TOKEN_KEY) == token
    assert await wechat.phone_number(await fake.phone_code("13800000001")) == "13800000001"


async def test_invalid_token_is_refreshed_once_and_the_call_retried(
    wechat: WeChat, deps: Deps, fake: FakeWeChatControl
) -> None:
    await deps.redis.set(ACCESS_TOKEN_KEY, "bogus-token", ex=600)
    before = await fake.calls()
    assert await wechat.phone_number(await fake.phone_code("13800000002")) == "13800000002"
    after = await fake.calls()
    assert after["/cgi-bin/stable_token"] - before.get("/cgi-bin/stable_token", 0) == 1
    assert (
        after["/wxa/business/getuserphonenumber"]
        - before.get("/wxa/business/getuserphonenumber", 0)
        == 2
    )
    assert await deps.redis.get(ACCESS_TOKEN_KEY) not in (None, "bogus-token")

    await fake.revoke_tokens()  # WeChat itself ended the token
    assert await wechat.phone_number(await fake.phone_code("13800000003")) == "13800000003"


async def test_a_token_rejected_twice_gives_up(wechat: WeChat, fake: FakeWeChatControl) -> None:
    openid = await logged_in(wechat, fake)
    await fake.fail_next("/wxa/msg_sec_check", 40001, times=2)
    before = await calls_to(fake, "/wxa/msg_sec_check")
    with pytest.raises(WeChatError) as caught:
        await wechat.msg_sec_check(openid=openid, content="你好", scene=2)
    assert caught.value.errcode == 40001
    assert await calls_to(fake, "/wxa/msg_sec_check") == before + 2


# --- phone ----------------------------------------------------------------------------------


async def test_phone_number_and_used_code(wechat: WeChat, fake: FakeWeChatControl) -> None:
    code = await fake.phone_code("13912345678")
    assert await wechat.phone_number(code) == "13912345678"
    with pytest.raises(WeChatError) as caught:
        await wechat.phone_number(code)
    assert caught.value.errcode == 40029


# --- msg_sec_check --------------------------------------------------------------------------


async def test_msg_sec_check_suggests(wechat: WeChat, fake: FakeWeChatControl) -> None:
    openid = await logged_in(wechat, fake)
    assert (
        await wechat.msg_sec_check(openid=openid, content="今天读了《城南旧事》。", scene=2)
        == "pass"
    )
    assert await wechat.msg_sec_check(openid=openid, content="这里有审核词。", scene=2) == "review"
    assert await wechat.msg_sec_check(openid=openid, content="这里有违规词。", scene=2) == "risky"
    assert await wechat.msg_sec_check(openid=openid, content="   ", scene=2) == "pass"
    with pytest.raises(ValueError):
        await wechat.msg_sec_check(openid=openid, content="你好", scene=9)


async def test_msg_sec_check_chunks_long_text(wechat: WeChat, fake: FakeWeChatControl) -> None:
    openid = await logged_in(wechat, fake)
    text = "书" * 5997 + "违规词"
    chunks = split_for_check(text)
    assert len(chunks) == 3 and all(len(c) <= MSG_SEC_CHECK_MAX_CHARS for c in chunks)
    before = await calls_to(fake, "/wxa/msg_sec_check")
    assert await wechat.msg_sec_check(openid=openid, content=text, scene=1) == "risky"
    assert await calls_to(fake, "/wxa/msg_sec_check") == before + 3
    assert await wechat.msg_sec_check(openid=openid, content="书" * 6000, scene=1) == "pass"
    # a word cut by a chunk boundary is still seen whole in the overlap
    straddling = "书" * (MSG_SEC_CHECK_MAX_CHARS - 1) + "审核词" + "书" * 100
    assert await wechat.msg_sec_check(openid=openid, content=straddling, scene=1) == "review"


async def test_msg_sec_check_unknown_openid_is_40003(wechat: WeChat) -> None:
    with pytest.raises(WeChatError) as caught:
        await wechat.msg_sec_check(openid=new_openid(), content="你好", scene=2)
    assert caught.value.errcode == 40003 and not caught.value.transient


async def test_busy_is_retried_for_idempotent_calls(
    wechat: WeChat, fake: FakeWeChatControl
) -> None:
    openid = await logged_in(wechat, fake)
    await fake.fail_next("/wxa/msg_sec_check", -1)
    before = await calls_to(fake, "/wxa/msg_sec_check")
    assert await wechat.msg_sec_check(openid=openid, content="你好", scene=2) == "pass"
    assert await calls_to(fake, "/wxa/msg_sec_check") == before + 2


# --- subscribe messages ---------------------------------------------------------------------


def test_fit_template_data() -> None:
    fitted = fit_template_data(
        {
            "thing1": "书" * 40,
            "phrase2": "已经可以取书了",
            "name3": "欧阳" * 8,
            "character_string4": "A" * 40,
            "number5": "12",
            "time6": "2025年5月1日 14:00",
            "short_thing7": "预约已到馆",
            "amount8": "¥1,000,000.00",
            "thing9": "  短  ",
        }
    )
    assert fitted["thing1"]["value"] == "书" * 19 + "…"
    assert fitted["phrase2"] == {"value": "已经可以取"}
    assert len(fitted["name3"]["value"]) == 10
    assert fitted["character_string4"]["value"] == "A" * 32
    assert fitted["number5"] == {"value": "12"}
    assert fitted["time6"] == {"value": "2025年5月1日 14:00"}
    assert fitted["short_thing7"] == {"value": "预约已到馆"}
    assert fitted["amount8"] == {"value": "¥1,000,000.00"}
    assert fitted["thing9"] == {"value": "短"}


async def test_send_subscribe_needs_a_consent_per_message(
    wechat: WeChat, fake: FakeWeChatControl
) -> None:
    openid = await logged_in(wechat, fake)
    data = {
        "thing1": "《平凡的世界》（全三册）典藏版，咸水沽镇第一农家书屋预约到馆",
        "time2": "2025-05-01 14:00",
        "phrase3": "已到馆",
    }

    async def send() -> None:
        await wechat.send_subscribe(
            openid=openid, template_id=TEMPLATE, data=data, page="pages/holds/index", state="formal"
        )

    with pytest.raises(WeChatError) as caught:
        await send()
    assert caught.value.errcode == 43101 and not caught.value.transient

    await fake.accept(openid, TEMPLATE, count=1)
    await send()
    [message] = await fake.sent(touser=openid)
    assert message["template_id"] == TEMPLATE and message["page"] == "pages/holds/index"
    assert len(message["data"]["thing1"]["value"]) == 20
    assert message["miniprogram_state"] == "formal"

    with pytest.raises(WeChatError) as caught:  # the one consent is used up
        await send()
    assert caught.value.errcode == 43101


async def test_fake_rejects_unfitted_data_with_47003(
    wechat: WeChat, wechat_base: str, fake: FakeWeChatControl
) -> None:
    openid = await logged_in(wechat, fake)
    await fake.accept(openid, TEMPLATE)
    body = {
        "touser": openid,
        "template_id": TEMPLATE,
        "page": "pages/index/index",
        "miniprogram_state": "formal",
        "lang": "zh_CN",
        "data": {"thing1": {"value": "书" * 21}},
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{wechat_base}/cgi-bin/message/subscribe/send",
            params={"access_token": await wechat.access_token()},
            json=body,
        )
    assert response.json()["errcode"] == 47003
    assert await fake.sent(touser=openid) == []


async def test_send_subscribe_is_not_retried_when_busy(
    wechat: WeChat, fake: FakeWeChatControl
) -> None:
    openid = await logged_in(wechat, fake)
    await fake.accept(openid, TEMPLATE)
    await fake.fail_next("/cgi-bin/message/subscribe/send", -1)
    before = await calls_to(fake, "/cgi-bin/message/subscribe/send")
    with pytest.raises(WeChatError) as caught:
        await wechat.send_subscribe(
            openid=openid,
            template_id=TEMPLATE,
            data={"thing1": "到馆"},
            page="pages/index/index",
            state="trial",
        )
    assert caught.value.errcode == -1 and caught.value.transient
    assert await calls_to(fake, "/cgi-bin/message/subscribe/send") == before + 1


# --- mini-program codes ---------------------------------------------------------------------


async def test_wxacode_unlimit_returns_png(wechat: WeChat) -> None:
    png = await wechat.wxacode_unlimit(
        scene="r=JN-XSG-017", page="pages/room/index", env_version="release"
    )
    assert png.startswith(b"\x89PNG")
    assert Image.open(io.BytesIO(png)).size == (430, 430)


@pytest.mark.parametrize("scene", ["", "x" * 33, "书屋=1", "a%20b", "a b"])
async def test_invalid_scene_raises_before_any_call(
    wechat: WeChat, fake: FakeWeChatControl, scene: str
) -> None:
    before = await fake.calls()
    with pytest.raises(ValueError):
        await wechat.wxacode_unlimit(scene=scene, page="pages/room/index", env_version="release")
    assert await fake.calls() == before


async def test_fake_answers_json_for_a_long_scene(wechat: WeChat, wechat_base: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            f"{wechat_base}/wxa/getwxacodeunlimit",
            params={"access_token": await wechat.access_token()},
            json={"scene": "x" * 33, "page": "pages/room/index"},
        )
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["errcode"] == 40169


# --- secrets --------------------------------------------------------------------------------


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)  # urllib3 logs full URLs at DEBUG
    yield caplog


async def test_secrets_stay_out_of_reprs_errors_and_logs(
    wechat_base: str, deps: Deps, fake: FakeWeChatControl, debug_logs: pytest.LogCaptureFixture
) -> None:
    await deps.redis.delete(ACCESS_TOKEN_KEY)
    await fake.fail_next(
        "/cgi-bin/stable_token", 40164
    )  # force the classic GET /cgi-bin/token?secret=…
    client = make_wechat(wechat_base, deps)
    wrong_secret = "wrong-secret-" + uuid.uuid4().hex
    wrong = make_wechat(wechat_base, deps, secret=wrong_secret)
    try:
        code = await fake.login_code(new_openid())
        session = await client.code2session(code)
        await client.access_token()
        with pytest.raises(WeChatError) as reused:
            await client.code2session(code)
        with pytest.raises(WeChatError) as refused:
            await wrong.code2session(await fake.login_code(new_openid()))
    finally:
        await client.close()
        await wrong.close()
    assert refused.value.errcode == 40125
    assert session.session_key not in repr(session) and session.session_key not in str(session)
    assert DEV_WECHAT_SECRET not in repr(client)
    shown = " ".join(
        [repr(reused.value), str(reused.value), repr(refused.value), str(refused.value)]
    )
    assert DEV_WECHAT_SECRET not in shown and wrong_secret not in shown
    text = debug_logs.text
    assert "/sns/jscode2session" in text and "/cgi-bin/token" in text  # the calls were logged …
    assert DEV_WECHAT_SECRET not in text and wrong_secret not in text  # … without the secret
    assert session.session_key not in text and code not in text
    call_lines = [r.getMessage() for r in debug_logs.records if r.name == "shuwu.wechat"]
    assert any("GET /sns/jscode2session errcode=40029" in line for line in call_lines), call_lines
