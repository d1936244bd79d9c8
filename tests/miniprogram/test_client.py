"""The mini-program's own tests, run from pytest so CI runs them with everything else.

1. ``npm ci`` in ``miniprogram/`` when ``node_modules`` is missing or older than
   ``package-lock.json`` (idempotent: a second run skips it);
2. ``node --test test/unit`` (no backend);
3. seed what the page tests need through the real APIs (a title on JN-XSG-001's shelf, a
   published challenge open today, an open contest), write
   ``miniprogram/test/integration/fixtures.json``, and run ``node --test test/integration``
   against the in-process app and the fake WeChat server (``SHUWU_BASE_URL`` /
   ``SHUWU_FAKE_WECHAT``), as a subprocess so this event loop keeps serving.

fixtures.json (what the page engineers' integration tests read via
``test/support/wx-node.js: loadFixtures()``)::

    {"base_url": ..., "fake_wechat": ..., "room": "JN-XSG-001", "room_name": ...,
     "other_room": "JN-GG-001", "title_id": ..., "isbn": ..., "title": ..., "author": ...,
     "title_pinyin_query": ..., "challenge_id": ..., "challenge_title": ...,
     "contest_id": ..., "contest_title": ..., "phone": "138…", "child_birth_year": ...}

Node is required: ``ops/test`` installs Debian's nodejs and npm. Only a developer machine
without node skips (with a message saying how to get it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.fake_wechat.client import FakeWeChatControl
from ops.stack import Stack
from server.readers.service import local_today
from server.resources import Deps
from tests.circulation import new_isbn, new_phone
from tests.conftest import Session
from tests.miniprogram_api.test_challenges import challenge_body

MINIPROGRAM = Path(__file__).resolve().parents[2] / "miniprogram"
FIXTURES = MINIPROGRAM / "test" / "integration" / "fixtures.json"
HOME_ROOM = "JN-XSG-001"
OTHER_ROOM = "JN-GG-001"
NODE_TIMEOUT_SECS = 240
FILE_TIMEOUT_SECS = 90
NPM_TIMEOUT_SECS = 300


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):
            pytest.fail("node is missing in CI: ops/test installs Debian's nodejs and npm")
        pytest.skip(
            "node is not installed: run ./ops/test (installs nodejs npm) or apt-get install nodejs npm"
        )
    return node


def _npm_ci() -> None:
    """Install the dev dependencies once; again only when package-lock.json changed."""
    marker = MINIPROGRAM / "node_modules" / ".package-lock.json"
    lock = MINIPROGRAM / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: apt-get install npm (ops/test does it)")
    result = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund"],
        cwd=MINIPROGRAM,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_SECS,
    )
    assert result.returncode == 0, f"npm ci failed:\n{result.stdout}\n{result.stderr}"
    marker.touch()


async def _run_node(
    args: list[str], env: dict[str, str], timeout_secs: float = NODE_TIMEOUT_SECS
) -> tuple[int, str]:
    """Run node in its own process group (its test runner forks one child per file), so a
    hung test is killed with all its children."""
    process = await asyncio.create_subprocess_exec(
        _node(),
        *args,
        cwd=MINIPROGRAM,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout_secs)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        out, _ = await process.communicate()
        return (
            -1,
            f"node {' '.join(args)} timed out after {timeout_secs}s\n{out.decode(errors='replace')}",
        )
    return int(process.returncode or 0), out.decode(errors="replace")


def _ok(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200, 201)), response.text
    return dict(response.json())


async def _seed(client: httpx.AsyncClient, admin: Session) -> dict[str, Any]:
    """A title on the home room's shelf, a challenge open today, an open contest."""
    today = local_today()
    isbn = new_isbn()
    title = f"西游记（少儿版）{uuid.uuid4().hex[:4]}"
    created = _ok(
        await client.post(
            "/api/v1/catalog/titles",
            headers=admin.headers,
            json={"isbn": isbn, "title": title, "author": "吴承恩", "format": "book"},
        ),
        201,
    )
    title_id = str(created["title_id"])
    _ok(
        await client.post(
            f"/api/v1/rooms/{HOME_ROOM}/receipts",
            headers=admin.headers,
            json={"op_id": uuid.uuid4().hex, "lines": [{"title_id": title_id, "quantity": 2}]},
        )
    )
    challenge = _ok(
        await client.post(
            "/api/v1/challenges",
            headers=admin.headers,
            # the challenge tests' body, with a badge soon enough for two children's logs to earn it
            json=challenge_body(
                title="暑期阅读挑战（小程序测试）",
                starts_on=(today - timedelta(days=5)).isoformat(),
                milestones=[{"threshold": 2, "badge": "阅读新星", "icon": "badge-star"}],
            ),
        ),
        201,
    )
    contest = _ok(
        await client.post(
            "/api/v1/contests",
            headers=admin.headers,
            json={
                "year": today.year,
                "title": f"{today.year}年“我的书屋·我的梦”小程序测试{uuid.uuid4().hex[:4]}",
                "opens_on": today.isoformat(),
                "closes_on": (today + timedelta(days=30)).isoformat(),
            },
        ),
        201,
    )
    contest = _ok(
        await client.patch(
            f"/api/v1/contests/{contest['id']}", json={"status": "open"}, headers=admin.headers
        )
    )
    room = await client.get(f"/mp/v1/rooms/{HOME_ROOM}")
    room_name = room.json().get("name", "") if room.status_code == 200 else ""
    return {
        "room": HOME_ROOM,
        "room_name": room_name,
        "other_room": OTHER_ROOM,
        "title_id": title_id,
        "isbn": isbn,
        "title": title,
        "author": "吴承恩",
        "title_pinyin_query": "xiyouji",
        "challenge_id": str(challenge["id"]),
        "challenge_title": challenge["title"],
        "contest_id": str(contest["id"]),
        "contest_title": contest["title"],
        "phone": new_phone(),
        "child_birth_year": today.year - 9,
    }


async def test_miniprogram_node_tests(
    seeded: Deps,
    base_url: str,
    client: httpx.AsyncClient,
    as_role: dict[str, Session],
    stack: Stack,
) -> None:
    _node()
    await asyncio.to_thread(_npm_ci)

    code, output = await _run_node(["--test", "test/unit"], {})
    assert code == 0, f"node --test test/unit failed (exit {code}):\n{output}"

    assert stack.wechat_base
    async with FakeWeChatControl(stack.wechat_base) as fake:
        await fake.rate_limit(10_000)  # many log-ins within a second
    fixtures = {
        "base_url": base_url,
        "fake_wechat": stack.wechat_base,
        **await _seed(client, as_role["district_admin"]),
    }
    FIXTURES.write_text(json.dumps(fixtures, ensure_ascii=False, indent=2), encoding="utf-8")

    env = {"SHUWU_BASE_URL": base_url, "SHUWU_FAKE_WECHAT": stack.wechat_base}
    # One file at a time, each with its own deadline: a failure or a hang names its file.
    files = sorted(p.name for p in (MINIPROGRAM / "test" / "integration").glob("*.test.js"))
    assert "login.test.js" in files, files
    failures = []
    for name in files:
        code, output = await _run_node(
            ["--test", f"test/integration/{name}"], env, FILE_TIMEOUT_SECS
        )
        if code != 0 or "# fail 0" not in output or "# pass 0" in output:
            failures.append(f"==== test/integration/{name} (exit {code})\n{output}")
    assert not failures, "node integration tests failed:\n" + "\n".join(failures)
