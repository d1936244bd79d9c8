"""The arq worker: WeChat notifications, loan reminders and the nightly jobs.

    python -m server worker            # or: arq server.worker.WorkerSettings

It opens the same resources as the web server (``open_resources``) once at start-up and
keeps the ``Deps`` in the job context; on SIGTERM it stops taking jobs, lets the jobs in
flight finish within ``Settings.shutdown_deadline_secs`` and closes everything in reverse.

Schedules are in the district's time (Asia/Shanghai), whatever the host's clock says:
arq evaluates cron fields in ``WorkerSettings.timezone``. Every job is safe to run twice
or late (each is idempotent), and cron jobs are unique per run across workers.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import asdict
from typing import Any

from arq import cron, func
from arq.connections import RedisSettings

from miniprogram_api.accounts import privacy as mp_privacy
from miniprogram_api.books import service as books
from miniprogram_api.notify import reminders, sender
from miniprogram_api.roomcodes import service as roomcodes
from server.circulation import holds, jobs
from server.circulation.rules import LOCAL_TZ
from server.config import Settings, load_settings
from server.resources import Deps, open_resources
from server.storage import db_now

log = logging.getLogger("shuwu.worker")

SEND_JOB_TRIES = 3  # arq's own retries: only for a Mongo/Redis outage; WeChat errors are handled inside
JOB_TIMEOUT_SECS = 15 * 60
MAX_CONCURRENT_JOBS = 20


def _deps(ctx: dict[str, Any]) -> Deps:
    deps: Deps = ctx["deps"]
    return deps


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx.get("settings") or load_settings()
    stack = contextlib.AsyncExitStack()
    ctx["deps"] = await stack.enter_async_context(open_resources(settings))
    ctx["resources"] = stack
    log.info("worker ready (WeChat %s)", settings.wechat_api_base)


async def shutdown(ctx: dict[str, Any]) -> None:
    stack: contextlib.AsyncExitStack | None = ctx.pop("resources", None)
    ctx.pop("deps", None)
    if stack is not None:
        await stack.aclose()
    log.info("worker resources closed")


# -- notifications ----------------------------------------------------------------------------


async def send_notification(ctx: dict[str, Any], notification_id: str) -> str:
    """Deliver one event now (queued by ``miniprogram_api.notify.sender.kick``)."""
    outcome = await sender.deliver(_deps(ctx), notification_id)
    log.info("notification %s: %s", notification_id, outcome)
    return outcome


async def sweep_notifications(ctx: dict[str, Any]) -> dict[str, int]:
    """Every minute: deliver whatever is due (new events, retries, expired leases)."""
    outcomes = await sender.sweep(_deps(ctx))
    if outcomes:
        log.info("notification sweep: %s", outcomes)
    return outcomes


async def remind_due_tomorrow(ctx: dict[str, Any]) -> int:
    """08:00: "due tomorrow" for every open loan due on the next local day."""
    recorded = await reminders.record_due_tomorrow(_deps(ctx), db_now())
    log.info("due-tomorrow reminders recorded: %d", recorded)
    return recorded


async def mark_overdue(ctx: dict[str, Any]) -> dict[str, int]:
    """08:00: flag loans that fell overdue (and expire/promote holds), and record their messages."""
    deps, now = _deps(ctx), db_now()
    counts = await jobs.mark_overdue(deps, now)
    recorded = await reminders.record_overdue(deps, now)
    summary = {k: v for k, v in counts.items() if k.startswith("_")}
    log.info("overdue: %s, %d message(s) recorded", summary, recorded)
    return {**summary, "_messages": recorded}


# -- circulation and privacy ------------------------------------------------------------------


async def expire_and_promote_holds(ctx: dict[str, Any]) -> dict[str, int]:
    """Hourly: ready holds past their pick-up date expire; queues with shelf copies move on."""
    result = await holds.expire_and_promote_holds(_deps(ctx), db_now())
    log.info("holds: %s", result)
    return result


async def anonymise_loan_history(ctx: dict[str, Any]) -> dict[str, int]:
    """Nightly: remove readers from loan records past the retention period (Public Library Law art. 43)."""
    report = asdict(await jobs.anonymise_loan_history(_deps(ctx), db_now()))
    log.info("loan history anonymised: %s", report)
    return report


async def forget_histories_turned_off(ctx: dict[str, Any]) -> int:
    """Nightly: loans returned by readers who turned their reading history off lose the reader."""
    forgotten = await books.forget_histories_turned_off(_deps(ctx))
    log.info("loans unlinked for readers with history off: %d", forgotten)
    return forgotten


async def erase_withdrawn_children(ctx: dict[str, Any]) -> int:
    """Nightly: erase children whose guardian withdrew consent, once their retention period is over."""
    erased = await mp_privacy.erase_withdrawn_children(_deps(ctx), db_now())
    log.info("withdrawn children erased: %d", erased)
    return erased


async def purge_room_visit_marks(ctx: dict[str, Any]) -> int:
    """Nightly: forget who checked in at which room a few days ago (the day counts stay)."""
    return await roomcodes.purge_visit_marks(_deps(ctx), db_now())


async def stats_snapshot(ctx: dict[str, Any]) -> int:
    """Nightly, after the anonymisation: count this period's distinct readers (kept apart from
    the loans) and fold the per-room figures the dashboard reads."""
    from server.readers.service import local_today
    from server.stats import readers_stats, roomstats, service

    deps, today = _deps(ctx), local_today()
    written = await readers_stats.snapshot(deps, today) + await roomstats.refresh(deps, today)
    await service.invalidate(deps)
    log.info("statistics snapshot: %d documents", written)
    return written


async def stats_refresh(ctx: dict[str, Any]) -> int:
    """On request (the console's 重新计算): refold this year's figures and drop the cache."""
    from server.stats import service

    return await service.refresh(_deps(ctx))


async def ensure_room_codes(ctx: dict[str, Any]) -> int:
    """Nightly: make the mini-program code of every active room that has none yet."""
    made = await roomcodes.ensure_all(_deps(ctx))
    log.info("room mini-program codes made: %d", made)
    return made


# -- settings ---------------------------------------------------------------------------------


def worker_settings(settings: Settings | None = None) -> type:
    """arq ``WorkerSettings`` for ``settings`` (default: from the SHUWU_* environment)."""
    chosen = settings or load_settings()

    class WorkerSettings:
        functions = [func(send_notification, name="send_notification", keep_result=0, max_tries=SEND_JOB_TRIES),
                     func(stats_refresh, name="stats_refresh", keep_result=0, max_tries=1)]
        cron_jobs = [
            # every minute, and once at start-up to catch up after a restart
            cron(sweep_notifications, second=0, run_at_startup=True),
            cron(remind_due_tomorrow, hour=8, minute=0),
            cron(mark_overdue, hour=8, minute=0),
            cron(expire_and_promote_holds, minute=5),
            cron(anonymise_loan_history, hour=2, minute=0),
            cron(erase_withdrawn_children, hour=2, minute=30),
            cron(forget_histories_turned_off, hour=2, minute=15),
            cron(purge_room_visit_marks, hour=2, minute=45),
            cron(stats_snapshot, hour=2, minute=30),
            cron(ensure_room_codes, hour=3, minute=0),
        ]
        redis_settings = RedisSettings.from_dsn(chosen.redis_url)
        on_startup = startup
        on_shutdown = shutdown
        ctx = {"settings": chosen}
        timezone = LOCAL_TZ  # cron hours are the district's hours
        job_completion_wait = max(int(chosen.shutdown_deadline_secs), 1)
        job_timeout = JOB_TIMEOUT_SECS
        max_jobs = MAX_CONCURRENT_JOBS
        keep_result = 0
        poll_delay = 0.5

    return WorkerSettings


def __getattr__(name: str) -> Any:
    # ``arq server.worker.WorkerSettings`` works too; built on first use, not at import.
    if name == "WorkerSettings":
        return worker_settings()
    raise AttributeError(name)
