"""Mini-program benchmark: an evening peak of a summer reading challenge — reading logs and
"top 50 + my rank" board reads over HTTP — with the raw Redis commands of the same work as
the baseline, measured in the same run. Printed figures, not a timed test.

    python -m ops.bench.miniprogram --quick      # 2,000 children, 20 clients (under a minute)
    python -m ops.bench.miniprogram              # 40,000 children, 200 clients

Starts its own embedded stack (SecantusDB + redis-server + the fake WeChat server on free
ports, throw-away data), seeds the demo rooms, creates one published challenge and
registers ``--children`` children (two per family account, each with its own guardian
account holder) as participants with bulk inserts, spread over the rooms, their towns,
``SCHOOLS_PER_TOWN`` schools per town and their classes. Session tokens are issued
directly in Redis (``server.sessions.issue``, as log-in does after WeChat answers).

Then ``--clients`` concurrent clients loop for ``--seconds`` against the real app, served
in this process (as the tests do; ``--subprocess`` runs ``python -m server serve``
instead): each request is, with probability ``--log-share``, a reading log for one of a
family's children (POST /mp/v1/challenges/{id}/logs), otherwise that child's board
(GET …/board?scope=challenge|room|school&member_id=…&limit=50: top 50 + my rank).

Baseline, same machine, same keys, same mix, from as many asyncio clients: a log is a
ZINCRBY on each board the child is on (challenge, room, school, town) in one pipeline; a
board read is ZREVRANGE 0 49 WITHSCORES + ZREVRANK + ZSCORE in one pipeline.

Everything runs on this machine: with the in-process server, the load generator and the
server share one Python process (and its one core); the output says how much CPU each
process used. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import random
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import redis.asyncio as aioredis
from bson import ObjectId

from ops.bench.stats import CpuMeter, Samples, ratio_lines
from ops.stack import free_port, temporary_stack

FULL = {"children": 40_000, "clients": 200, "seconds": 30.0, "families_online": 8000}
QUICK = {"children": 2000, "clients": 20, "seconds": 8.0, "families_online": 1000}
SCHOOLS_PER_TOWN = 6
PUBLIC_SHARE = 0.95  # children shown on public boards; the rest opted out
REQUEST_TIMEOUT_SECS = 30.0
SCOPES = ("challenge", "room", "school")


def say(text: str = "") -> None:
    print(text, flush=True)


def section(title: str) -> None:
    say()
    say(f"== {title} " + "=" * max(0, 76 - len(title)))


@dataclass
class Family:
    token: str
    children: list[dict[str, Any]] = field(default_factory=list)  # id, member_id and teams of each child


# -- data ----------------------------------------------------------------------------------------------


async def create_challenge(deps: Any) -> dict[str, Any]:
    from miniprogram_api.challenges import definitions
    from miniprogram_api.challenges.models import ChallengeIn
    from server.readers.service import local_today
    from server.staff.service import actor_for

    admin = await deps.db.staff.find_one({"username": "admin"})
    today = local_today()
    body = ChallengeIn.model_validate({
        "title": "津南区暑期阅读挑战（基准测试）", "starts_on": (today - timedelta(days=30)).isoformat(),
        "ends_on": (today + timedelta(days=30)).isoformat(), "unit": "books", "cap_per_log": 5,
        "cap_per_day": 200, "teams": ["room", "school", "town"], "status": "published", "draw": {"min_total": 5},
        "milestones": [{"threshold": t, "badge": b, "icon": f"badge-{n}"}
                       for n, (t, b) in enumerate(((10, "阅读新星"), (30, "阅读达人"), (60, "书香少年")))]})
    out = await definitions.create_challenge(deps, actor_for(admin, request_id="bench"), body)
    doc = await deps.db.challenges.find_one({"_id": ObjectId(out.id)})
    assert doc is not None
    return doc


async def register_children(deps: Any, challenge: dict[str, Any], n: int, seed: int
                            ) -> list[tuple[ObjectId, list[dict[str, Any]]]]:
    """``n`` children in ``n // 2`` families, all joined: accounts, members and participants
    by bulk insert. Returns (account id, its children's participant docs) per family."""
    from ops.bench import data as bench_data

    rng = random.Random(seed)
    rooms = await deps.db.rooms.find({"status": "active"}, {"code": 1, "town": 1, "name": 1}).to_list()
    schools = {r["town"]: [f"{r['town']}第{k}小学" for k in range(1, SCHOOLS_PER_TOWN + 1)] for r in rooms}
    now = datetime.now(UTC).replace(microsecond=0)
    year = int(challenge["starts_on"][:4])
    accounts, members, participants = [], [], []
    families: list[tuple[ObjectId, list[dict[str, Any]]]] = []
    surnames = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
    for f in range((n + 1) // 2):
        account_id = ObjectId()
        room = rng.choice(rooms)
        surname = rng.choice(surnames)
        accounts.append({"_id": account_id, "openid": f"bench-{f}-{uuid.uuid4().hex[:6]}", "created_at": now,
                         "last_login_at": now, "status": "active"})
        members.append({"_id": ObjectId(), "account_id": account_id, "relation": "self", "name": surname + "家长",
                        "birth_year": year - 38, "birth_date": None, "home_room": room["code"],
                        "home_town": room["town"], "school": None, "class_name": None, "public_board": True,
                        "history_enabled": True, "status": "active", "reader_id": None, "consent": None,
                        "created_at": now, "updated_at": now})
        kids = []
        for _ in range(2 if 2 * f + 1 < n else 1):
            age = rng.randint(6, 12)
            school = rng.choice(schools[room["town"]])
            public = rng.random() < PUBLIC_SHARE
            member = {"_id": ObjectId(), "account_id": account_id, "relation": "child",
                      "name": surname + rng.choice("小大") + rng.choice("明红刚丽军华芳伟强静"),
                      "birth_year": year - age, "birth_date": None, "home_room": room["code"],
                      "home_town": room["town"], "school": school, "class_name": f"{max(age - 5, 1)}年级{rng.randint(1, 4)}班",
                      "guardian_relation": "母亲", "public_board": public, "history_enabled": True, "status": "active",
                      "reader_id": None, "consent": {"version": "2026.1", "signed_at": now, "channel": "miniprogram",
                                                     "withdrawn_at": None}, "created_at": now, "updated_at": now}
            members.append(member)
            total = rng.choice([0, 0, 1, 2, 3, 5, 8, 12, 20])
            p = {"_id": ObjectId(), "challenge_id": challenge["_id"], "member_id": member["_id"],
                 "account_id": account_id, "reader_id": None, "name": member["name"], "room": room["code"],
                 "room_name": room["name"], "town": room["town"], "school": school,
                 "class_name": member["class_name"], "public": public, "status": "active", "age": age,
                 "age_group": "小学低年级" if age <= 9 else "小学高年级", "total": total, "log_count": 1 if total else 0,
                 "days": {}, "recent": [total] if total else [], "badges": [], "joined_at": now,
                 "joined_by": f"mp:{account_id}", "updated_at": now}
            participants.append(p)
            kids.append({k: p[k] for k in ("_id", "member_id", "room", "town", "school", "class_name")})
        families.append((account_id, kids))
    await bench_data.insert_all(deps, "mp_accounts", accounts)
    await bench_data.insert_all(deps, "members", members)
    await bench_data.insert_all(deps, "participants", participants)
    return families


async def issue_tokens(deps: Any, account_ids: list[ObjectId]) -> list[str]:
    from server import sessions

    gate = asyncio.Semaphore(64)

    async def one(account_id: ObjectId) -> str:
        async with gate:
            token, _ = await sessions.issue(deps.redis, str(account_id), kind="mp",
                                            ttl_secs=deps.settings.mp_session_ttl_secs, namespace="reader")
            return token

    return list(await asyncio.gather(*(one(a) for a in account_ids)))


# -- the server under test -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def in_process_server(deps: Any) -> AsyncIterator[str]:
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from server.app import make_app

    server = HTTPServer(make_app(deps), xheaders=True)
    sockets = bind_sockets(0, "127.0.0.1")
    server.add_sockets(sockets)
    try:
        yield f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    finally:
        server.stop()
        await server.close_all_connections()


# -- the peak ---------------------------------------------------------------------------------------------


async def http_peak(base_url: str, challenge_id: str, families: list[Family], args: argparse.Namespace
                    ) -> tuple[Samples, Samples]:
    logs, boards = Samples("HTTP log reading (POST …/logs)"), Samples("HTTP top 50 + my rank (GET …/board)")
    deadline = time.perf_counter() + args.seconds
    from server.readers.service import local_today

    today = local_today().isoformat()

    async def client(http: httpx.AsyncClient, rng: random.Random) -> None:
        while time.perf_counter() < deadline:
            family = rng.choice(families)
            child = rng.choice(family.children)
            headers = {"Authorization": f"Bearer {family.token}"}
            writing = rng.random() < args.log_share
            t0 = time.perf_counter()
            try:
                if writing:
                    r = await http.post(f"/mp/v1/challenges/{challenge_id}/logs", headers=headers, json={
                        "op_id": uuid.uuid4().hex, "member_ids": [str(child["member_id"])],
                        "amount": rng.randint(1, 3), "read_on": today, "book_title": "小王子"})
                    want = 201
                else:
                    r = await http.get(f"/mp/v1/challenges/{challenge_id}/board", headers=headers, params={
                        "scope": rng.choice(SCOPES), "member_id": str(child["member_id"]), "limit": 50})
                    want = 200
            except httpx.HTTPError as exc:
                (logs if writing else boards).fail(type(exc).__name__)
                continue
            took = time.perf_counter() - t0
            samples = logs if writing else boards
            if r.status_code == want:
                samples.ok(took)
            else:
                try:
                    code = r.json().get("code", "")
                except ValueError:
                    code = ""
                samples.fail(f"{r.status_code} {code}".strip())

    limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
    async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_SECS, limits=limits) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(http, random.Random(args.seed + i)) for i in range(args.clients)))
        logs.elapsed = boards.elapsed = time.perf_counter() - t0
    return logs, boards


async def redis_peak(redis_url: str, challenge: dict[str, Any], families: list[Family], args: argparse.Namespace
                     ) -> tuple[Samples, Samples]:
    """The same mix as bare Redis commands on the same keys, from as many asyncio clients."""
    from miniprogram_api.challenges import leaderboard as lb

    logs, boards = Samples("baseline: ZINCRBY ×4 (pipeline)"), Samples("baseline: ZREVRANGE+ZREVRANK+ZSCORE")
    cid = str(challenge["_id"])
    deadline = time.perf_counter() + args.seconds
    redis = aioredis.from_url(redis_url, decode_responses=True, max_connections=args.clients + 10)

    async def client(rng: random.Random) -> None:
        while time.perf_counter() < deadline:
            child = rng.choice(rng.choice(families).children)
            pid = str(child["_id"])
            writing = rng.random() < args.log_share
            t0 = time.perf_counter()
            try:
                async with redis.pipeline(transaction=False) as pipe:
                    if writing:
                        amount = rng.randint(1, 3)
                        for key in lb.keys_for(challenge, child):
                            pipe.zincrby(key, amount, pid)
                    else:
                        scope = rng.choice(SCOPES)
                        key = lb.board_key(cid, scope, lb.team_of(child, scope))
                        pipe.zrevrange(key, 0, 49, withscores=True)
                        pipe.zrevrank(key, pid)
                        pipe.zscore(key, pid)
                    await pipe.execute()
            except aioredis.RedisError as exc:
                (logs if writing else boards).fail(type(exc).__name__)
                continue
            (logs if writing else boards).ok(time.perf_counter() - t0)

    try:
        t0 = time.perf_counter()
        await asyncio.gather(*(client(random.Random(args.seed + 1000 + i)) for i in range(args.clients)))
        logs.elapsed = boards.elapsed = time.perf_counter() - t0
    finally:
        await redis.aclose()
    return logs, boards


async def consistency(deps: Any, challenge: dict[str, Any]) -> str:
    """Boards against Mongo after the peak: every public participant's score equals their total."""
    from miniprogram_api.challenges import leaderboard as lb

    key = lb.board_key(str(challenge["_id"]), "challenge")
    docs = await deps.db.participants.find({"challenge_id": challenge["_id"]},
                                           {"total": 1, "public": 1, "status": 1}).to_list()
    async with deps.redis.pipeline(transaction=False) as pipe:
        for d in docs:
            pipe.zscore(key, str(d["_id"]))
        scores = await pipe.execute()
    bad = sum(1 for d, s in zip(docs, scores, strict=True)
              if (int(s) if s is not None else 0) != (d["total"] if lb.on_boards(d) else 0))
    logs = await deps.db.reading_logs.count_documents({"challenge_id": challenge["_id"]})
    return f"{len(docs)} participants, {logs} logs written; board/Mongo mismatches: {bad}"


# -- the run -----------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    from ops.bench.circulation import machine
    from server.config import load_settings
    from server.resources import open_resources
    from server.seed import seed_demo

    say(f"shuwu mini-program benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    say(f"machine: {machine()}")
    say("NOTE: the server, SecantusDB, redis-server and this load generator all share these cores;")
    say("      " + ("the server runs in this process, so the load generator's CPU is counted with it."
                    if not args.subprocess else "the server runs as its own process (python -m server serve)."))
    say("options: " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(vars(args).items())
                               if k not in {"quick"}))
    with temporary_stack(cache_size="4G") as stack:
        pids: dict[str, int | None] = {"bench+server" if not args.subprocess else "bench": None}
        for name, proc in stack.procs:
            if name in {"secantusd", "redis-server"}:
                pids[name] = proc.pid
        db_name, port = "shuwu_bench_mp", free_port()
        settings = load_settings({}, mode="development", mongo_url=stack.mongo_url, mongo_db=db_name,
                                 redis_url=stack.redis_url, port=port, log_level="WARNING",
                                 wechat_api_base=stack.wechat_base)
        async with open_resources(settings) as deps:
            section("data")
            t0 = time.perf_counter()
            say(str(await seed_demo(deps, content=False)))
            challenge = await create_challenge(deps)
            t1 = time.perf_counter()
            registered = await register_children(deps, challenge, args.children, args.seed)
            n_children = sum(len(k) for _, k in registered)
            say(f"{n_children} children in {len(registered)} families joined one challenge "
                f"(bulk insert {time.perf_counter() - t1:.1f}s)")
            from miniprogram_api.challenges import service

            t1 = time.perf_counter()
            shown = await service.rebuild_boards(deps, challenge["_id"])
            keys = [k async for k in deps.redis.scan_iter(match=f"shuwu:board:{{{challenge['_id']}}}:*")]
            say(f"boards rebuilt from Mongo: {shown} on public boards, {len(keys)} keys ({time.perf_counter() - t1:.1f}s)")
            online = random.Random(args.seed).sample(registered, min(args.families_online, len(registered)))
            t1 = time.perf_counter()
            tokens = await issue_tokens(deps, [a for a, _ in online])
            families = [Family(t, kids) for t, (_, kids) in zip(tokens, online, strict=True)]
            say(f"{len(families)} families online with session tokens ({time.perf_counter() - t1:.1f}s); "
                f"set-up {time.perf_counter() - t0:.1f}s")
            del registered, online
            gc.collect()
            gc.freeze()  # the set-up's objects are not the server's garbage: keep them out of every GC pass

            section(f"1. evening peak over HTTP: {args.clients} clients × {args.seconds:g}s, "
                    f"{args.log_share:.0%} logs")
            server_cm = (_subprocess_server(stack, db_name, port, pids) if args.subprocess
                         else in_process_server(deps))
            async with server_cm as base_url:
                meter = CpuMeter(pids).start()
                logs, boards = await http_peak(base_url, str(challenge["_id"]), families, args)
                meter.stop()
            both = Samples("HTTP all requests", elapsed=logs.elapsed)
            both.merge(logs)
            both.merge(boards)
            for s in (both, logs, boards):
                say(s.line())
            say(meter.line())
            say("consistency: " + await consistency(deps, challenge))

            section(f"2. baseline: raw Redis, {args.clients} asyncio clients × {args.seconds:g}s, same mix")
            meter = CpuMeter({k: v for k, v in pids.items() if k != "server"}).start()
            r_logs, r_boards = await redis_peak(stack.redis_url, challenge, families, args)
            meter.stop()
            r_both = Samples("baseline all commands", elapsed=r_logs.elapsed)
            r_both.merge(r_logs)
            r_both.merge(r_boards)
            for s in (r_both, r_logs, r_boards):
                say(s.line())
            say(meter.line())
            section("ratios")
            for name, app, base in (("log reading", logs, r_logs), ("top 50 + my rank", boards, r_boards)):
                for line in ratio_lines(app, base):
                    say(f"{name}: {line}")



@contextlib.asynccontextmanager
async def _subprocess_server(stack: Any, db_name: str, port: int, pids: dict[str, int | None]
                             ) -> AsyncIterator[str]:
    from ops.bench.circulation import server_process

    async with server_process(stack, db_name, port) as proc:
        pids["server"] = proc.pid
        yield f"http://127.0.0.1:{port}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench.miniprogram", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run (under a minute)")
    for name, default in FULL.items():
        kind = float if isinstance(default, float) else int
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None,
                            help=f"default {default} (--quick: {QUICK[name]})")
    parser.add_argument("--log-share", type=float, default=0.5, help="share of requests that are logs (0..1)")
    parser.add_argument("--subprocess", action="store_true", help="serve from `python -m server serve`")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for name, default in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if not 0 <= args.log_share <= 1:
        parser.error("--log-share is a share between 0 and 1")
    if args.children < 1 or args.clients < 1:
        parser.error("--children and --clients must be positive")
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
