"""Delivery of reader events (``notifications``, see server/outbox.py) as WeChat
subscribe messages.

Rules (issue 4, "Notifications"):
- *Never twice for the same event*: a delivery first claims the event with a guarded
  update (pending → sending, with a lease), sends, then records the outcome under the
  same claim. A second job for the same event finds nothing to claim and does nothing.
  A worker that dies mid-delivery loses its lease after ``LEASE_SECS`` and the event is
  taken over (the lease is far longer than a WeChat call may take, see
  ``Settings.wechat_timeout_secs``).
- *A failure never loses the event*: the event document is the record. A transient
  WeChat error puts it back to ``pending`` with a later ``next_attempt_at``
  (``RETRY_DELAYS_SECS``), and the sweeper (every minute) delivers whatever is due.
- Credits: one is spent per message; it is given back when WeChat did not deliver, and
  zeroed on 43101 (the user has no consent left).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from bson import ObjectId
from redis.exceptions import RedisError

from miniprogram_api.accounts import repo as accounts_repo
from miniprogram_api.notify import credits, repo, templates
from miniprogram_api.wechat import WeChatError
from server.storage import db_now

if TYPE_CHECKING:
    from server.resources import Deps

log = logging.getLogger("shuwu.notify")

LEASE_SECS = 5 * 60
# Waits after the 1st, 2nd, … failed attempt; after the last one the event is marked failed.
RETRY_DELAYS_SECS = (60, 5 * 60, 30 * 60, 2 * 3600, 12 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS_SECS) + 1
ERR_REFUSED = 43101  # the user has no consent left for this template
SWEEP_BATCH = 100
SWEEP_MAX_BATCHES = 20  # a sweep delivers at most 2,000 events; the next minute's sweep goes on
SWEEP_CONCURRENCY = 8
LAST_ERROR_MAX_CHARS = 300
SEND_JOB = "send_notification"  # the arq function name (server/worker.py)

# What one ``deliver`` call did: sent, skipped (reason on the event), retry (scheduled
# again after a transient error), failed (gave up), or noop (nothing to claim).
Outcome = Literal["sent", "skipped", "retry", "failed", "noop"]


def job_id(notification_id: str) -> str:
    """The arq job id for an event: the queue holds at most one job per event."""
    return f"notify:{notification_id}"


async def deliver(deps: Deps, notification_id: str, *, now: datetime | None = None) -> Outcome:
    """Deliver one event if it is due, and record the outcome on it.

    ``now`` lets a test (or a catch-up run) choose the moment. Never raises for a WeChat
    error; a Mongo failure propagates (the event stays claimed until its lease ends and
    is then taken over).
    """
    now = now or db_now()
    token = secrets.token_hex(8)
    doc = await repo.claim(deps.db, notification_id, now, lease_secs=LEASE_SECS, token=token)
    if doc is None:
        return "noop"

    async def finish(status: str, **fields: Any) -> None:
        changes = {"status": status, "last_attempt_at": now, **fields}
        if not await repo.finish(deps.db, notification_id, token, changes):
            log.warning("notification %s: claim lost before its outcome (%s) was recorded", notification_id, status)

    recipient = await _recipient(deps, doc)
    if isinstance(recipient, str):
        await finish("skipped", reason=recipient)
        return "skipped"
    account_id, openid = recipient
    template_id = templates.template_for(deps.settings, doc["event"])
    if template_id is None:
        await finish("skipped", reason="no_template")
        return "skipped"
    if not await credits.spend(deps.db, account_id, template_id, now):
        await finish("skipped", reason="no_credit")
        return "skipped"
    try:
        await deps.wechat.send_subscribe(openid=openid, template_id=template_id, data=doc.get("data") or {},
                                         page=doc.get("page") or "", state=deps.settings.miniprogram_state)
    except WeChatError as exc:
        return await _after_error(deps, doc, account_id, template_id, exc, exc.transient, finish, now)
    except ValueError as exc:  # refused before any call: our configuration or data is wrong
        await credits.give_back(deps.db, account_id, template_id, now)
        await finish("failed", last_error=_text(exc))
        return "failed"
    except Exception as exc:  # anything else is worth another try; the event must not be lost
        log.exception("notification %s: unexpected error while sending", notification_id)
        return await _after_error(deps, doc, account_id, template_id, exc, True, finish, now)
    await finish("sent", sent_at=now, reason=None, last_error=None)
    return "sent"


async def _after_error(deps: Deps, doc: dict[str, Any], account_id: ObjectId, template_id: str, exc: Exception,
                       transient: bool, finish: Any, now: datetime) -> Outcome:
    if isinstance(exc, WeChatError) and exc.errcode == ERR_REFUSED:
        await credits.zero(deps.db, account_id, template_id, now)
        await finish("skipped", reason="refused", last_error=_text(exc))
        return "skipped"
    await credits.give_back(deps.db, account_id, template_id, now)
    attempts = int(doc.get("attempts", 1))
    if transient and attempts < MAX_ATTEMPTS:
        retry_at = now + timedelta(seconds=RETRY_DELAYS_SECS[attempts - 1])
        await finish("pending", next_attempt_at=retry_at, last_error=_text(exc))
        log.info("notification %s: attempt %d failed (%s); next at %s", doc["_id"], attempts, exc, retry_at)
        return "retry"
    await finish("failed", last_error=_text(exc))
    log.warning("notification %s: failed after %d attempt(s): %s", doc["_id"], attempts, exc)
    return "failed"


def _text(exc: Exception) -> str:
    return str(exc)[:LAST_ERROR_MAX_CHARS]


async def _recipient(deps: Deps, doc: dict[str, Any]) -> tuple[ObjectId, str] | str:
    """(account id, openid) of the mini-program account the event goes to, or why none:
    ``no_miniprogram`` (the card has no mini-program member, or the account is gone) or
    ``member_inactive`` (a child whose guardian withdrew consent)."""
    member: dict[str, Any] | None = None
    if doc.get("account_id") is not None:
        account_id = doc["account_id"]
        if doc.get("member_id") is not None:
            member = await accounts_repo.member_by_id(deps.db, doc["member_id"])
            if member is None or member.get("status") != "active":
                return "member_inactive"
    elif doc.get("reader_id") is not None:
        member = await accounts_repo.member_of_reader(deps.db, doc["reader_id"])
        if member is None:
            return "no_miniprogram"
        if member.get("status") != "active":
            return "member_inactive"
        account_id = member["account_id"]
    else:
        return "no_miniprogram"
    account = await accounts_repo.account_by_id(deps.db, account_id)
    if account is None or not account.get("openid"):
        return "no_miniprogram"
    return account_id, str(account["openid"])


async def sweep(deps: Deps, now: datetime | None = None, *, batch: int = SWEEP_BATCH,
                max_batches: int = SWEEP_MAX_BATCHES) -> dict[str, int]:
    """Deliver every event due at ``now`` (pending, or a lease that ran out), ``batch`` at
    a time and at most ``max_batches`` batches. Returns the count of each outcome."""
    now = now or db_now()
    outcomes: Counter[str] = Counter()
    gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

    async def one(notification_id: str) -> Outcome:
        async with gate:
            return await deliver(deps, notification_id, now=now)

    for _ in range(max_batches):
        ids = await repo.due_ids(deps.db, now, limit=batch)
        if not ids:
            break
        outcomes.update(await asyncio.gather(*(one(i) for i in ids)))
        if len(ids) < batch:
            break
    return dict(outcomes)


async def kick(deps: Deps, notification_ids: Iterable[str]) -> int:
    """Ask the worker to deliver these events now (call it after the transaction that
    recorded them has committed). Returns how many jobs were queued; an event already
    queued is not queued twice. If Redis refuses, nothing is lost: the sweeper delivers
    the events within a minute."""
    queued = 0
    for notification_id in dict.fromkeys(notification_ids):
        try:
            job = await deps.jobs.enqueue_job(SEND_JOB, notification_id, _job_id=job_id(notification_id))
        except (RedisError, OSError) as exc:
            log.warning("could not queue notification jobs (%s); the sweeper will deliver them", exc)
            break
        queued += job is not None
    return queued
