"""The arq worker: its schedule (district time), its jobs run inline, and a real
``python -m server worker`` process delivering notifications through the fake WeChat server."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from bson import ObjectId

from miniprogram_api.notify import sender
from ops.fake_wechat.client import FakeWeChatControl
from ops.stack import Stack
from server import outbox, worker
from server.config import Settings
from server.resources import Deps
from server.stats import service as stats_service
from server.storage import db_now
from tests.miniprogram_api.conftest import MakeUser, MpUser, op_id

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = "tmpl-contest_result"
WORKER_DEADLINE_SECS = 15.0


def _cron(settings: Settings, name: str) -> Any:
    return next(c for c in worker.worker_settings(settings).cron_jobs if c.name == f"cron:{name}")


def test_schedules_are_in_district_time_whatever_the_host_clock(settings: Settings) -> None:
    cls = worker.worker_settings(settings)
    assert cls.timezone.utcoffset(datetime(2026, 7, 1)).total_seconds() == 8 * 3600
    assert cls.redis_settings.port == int(settings.redis_url.rsplit(":", 1)[1].split("/")[0])
    assert cls.redis_settings.database == int(settings.redis_url.rsplit("/", 1)[1])
    # 08:00 in Tianjin is midnight UTC: the reminders go out in the morning, not at 16:00.
    remind = _cron(settings, "remind_due_tomorrow")
    remind.calculate_next(datetime(2026, 7, 1, 1, 0, tzinfo=UTC).astimezone(cls.timezone))
    assert remind.next_run.astimezone(UTC).replace(microsecond=0) == datetime(2026, 7, 2, 0, 0, tzinfo=UTC)
    nightly = _cron(settings, "anonymise_loan_history")
    nightly.calculate_next(datetime(2026, 7, 1, 12, 0, tzinfo=UTC).astimezone(cls.timezone))
    assert nightly.next_run.astimezone(UTC).replace(microsecond=0) == datetime(2026, 7, 1, 18, 0, tzinfo=UTC)
    sweep = _cron(settings, "sweep_notifications")
    assert sweep.run_at_startup and sweep.second == 0 and sweep.minute is None
    names = {c.name for c in cls.cron_jobs}
    assert {"cron:mark_overdue", "cron:expire_and_promote_holds", "cron:erase_withdrawn_children"} <= names
    assert [f.name for f in cls.functions] == [sender.SEND_JOB, stats_service.REFRESH_JOB]
    assert "cron:stats_snapshot" in names


async def test_the_jobs_run_inline(seeded: Deps) -> None:
    ctx: dict[str, Any] = {"deps": seeded}
    assert isinstance(await worker.sweep_notifications(ctx), dict)
    assert await worker.remind_due_tomorrow(ctx) == 0
    overdue = await worker.mark_overdue(ctx)
    assert set(overdue) >= {"_newly_overdue", "_holds_expired", "_holds_ready", "_messages"}
    assert set(await worker.expire_and_promote_holds(ctx)) == {"expired", "ready"}
    assert (await worker.anonymise_loan_history(ctx))["loans"] == 0
    assert await worker.erase_withdrawn_children(ctx) == 0
    assert await worker.purge_room_visit_marks(ctx) == 0
    assert await worker.send_notification(ctx, "nothing:here") == "noop"


async def _pending_event(deps: Deps, client: httpx.AsyncClient, fake: FakeWeChatControl, user: MpUser) -> str:
    await fake.accept(user.openid, TEMPLATE)
    response = await client.post("/mp/v1/subscriptions", headers=user.headers,
                                 json={"op_id": op_id(), "results": {TEMPLATE: "accept"}})
    assert response.status_code == 200, response.text
    key = op_id()
    await outbox.record(deps.db, None, event="contest_result", key=key,
                        data={"thing1": "我的书屋·我的梦", "phrase2": "一等奖"}, page="pages/contest/index",
                        now=db_now(), account_id=ObjectId(user.account_id), member_id=ObjectId(user.member_id))
    return f"contest_result:{key}"


async def _wait_sent(fake: FakeWeChatControl, user: MpUser, count: int, proc: asyncio.subprocess.Process,
                     deadline: float) -> None:
    while time.monotonic() < deadline:
        if len(await fake.sent(touser=user.openid)) >= count:
            return
        assert proc.returncode is None, "the worker exited early"
        await asyncio.sleep(0.1)
    pytest.fail(f"the worker did not send {count} message(s) in time")


async def test_a_worker_process_delivers_pending_and_kicked_events(
        settings: Settings, stack: Stack, seeded: Deps, client: httpx.AsyncClient, make_user: MakeUser,
        fake_wechat: FakeWeChatControl, tmp_path: Path) -> None:
    user = await make_user(name="郑工作")
    waiting = await _pending_event(seeded, client, fake_wechat, user)  # recorded while no worker runs
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHUWU_")},
        "SHUWU_MODE": "test", "SHUWU_MONGO_URL": settings.mongo_url, "SHUWU_MONGO_DB": settings.mongo_db,
        "SHUWU_REDIS_URL": settings.redis_url, "SHUWU_WECHAT_API_BASE": str(stack.wechat_base),
        "SHUWU_WECHAT_TEMPLATES": json.dumps(settings.wechat_templates), "SHUWU_MINIPROGRAM_STATE": "developer",
        "SHUWU_SHUTDOWN_DEADLINE_SECS": "2", "SHUWU_LOG_LEVEL": "INFO",
    }
    log = (tmp_path / "worker.log").open("wb")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "server", "worker", cwd=REPO_ROOT, env=env,
                                                stdout=log, stderr=asyncio.subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WORKER_DEADLINE_SECS
        await _wait_sent(fake_wechat, user, 1, proc, deadline)  # the start-up sweep
        kicked = await _pending_event(seeded, client, fake_wechat, user)
        assert await sender.kick(seeded, [kicked]) == 1
        await _wait_sent(fake_wechat, user, 2, proc, deadline)
        for nid in (waiting, kicked):
            assert (await seeded.db.notifications.find_one({"_id": nid}))["status"] == "sent"
        assert [m["data"]["phrase2"]["value"] for m in await fake_wechat.sent(touser=user.openid)] == ["一等奖"] * 2
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(proc.wait(), 10)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
        log.close()
    output = (tmp_path / "worker.log").read_text(errors="replace")
    assert code == 0, output
    assert "worker resources closed" in output
