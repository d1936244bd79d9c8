"""Circulation benchmark: loans and returns over HTTP, offline batches, catalog search —
each with a baseline measured in the same run. Printed figures, not a timed test.

    python -m ops.bench.circulation --quick     # smoke run, about a minute
    python -m ops.bench.circulation             # full run (several minutes)

Starts its own embedded stack (SecantusDB + redis-server on free ports, throw-away data)
and its own ``python -m server serve`` subprocess, generates the data with bulk inserts,
then measures:

1. ``--phones`` simulated phones (one room administrator each, Bearer token) looping
   lend → return over HTTP for ``--seconds``; then the same loop as bare PyMongo
   transactions (``ops/bench/baseline.py``) from as many coroutines, as the baseline.
2. ``--offline-ops`` operations in offline logs of every room's phone, uploaded at once
   (POST /api/v1/offline-batches); baseline: the same operations as bare transactions.
3. ``--queries`` catalog searches (汉字, pinyin, initials, ISBN) in-process and over HTTP;
   baseline: a ``$regex`` scan of the title field on a subset of the same queries.

Everything runs on this machine: server, database, Redis and load generator share its
cores, and the output says how much CPU each used. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ops.bench import data as bench_data
from ops.bench import offline as bench_offline
from ops.bench import phones as bench_phones
from ops.bench import search as bench_search
from ops.bench.stats import CpuMeter, ratio, ratio_lines
from ops.stack import Stack, _die_with_parent, free_port, temporary_stack

ROOT = Path(__file__).resolve().parents[2]
SERVER_START_SECS = 60.0
SERVER_STOP_SECS = 20.0
FULL = {"titles": 100_000, "rooms": 110, "phones": 50, "seconds": 60.0, "offline_ops": 10_000,
        "offline_direct_ops": 2000, "queries": 1000, "regex_queries": 50, "titles_per_room": 200,
        "readers_per_room": 20}
QUICK = {"titles": 5000, "rooms": 110, "phones": 50, "seconds": 8.0, "offline_ops": 600,
         "offline_direct_ops": 220, "queries": 200, "regex_queries": 20, "titles_per_room": 40,
         "readers_per_room": 10}


def say(text: str = "") -> None:
    print(text, flush=True)


def section(title: str) -> None:
    say()
    say(f"== {title} " + "=" * max(0, 76 - len(title)))


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, {platform.system()} {platform.release()}"


# -- the server under test ------------------------------------------------------------------------


def _spawn_server(stack: Stack, db_name: str, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHUWU_")}
    env.update({"SHUWU_MONGO_URL": stack.mongo_url, "SHUWU_MONGO_DB": db_name, "SHUWU_REDIS_URL": stack.redis_url,
                "SHUWU_HOST": "127.0.0.1", "SHUWU_PORT": str(port), "SHUWU_LOG_LEVEL": "WARNING",
                "SHUWU_MODE": "development"})
    with log_path.open("ab") as log:
        return subprocess.Popen([sys.executable, "-m", "server", "serve"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)


def _stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(SERVER_STOP_SECS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@asynccontextmanager
async def server_process(stack: Stack, db_name: str, port: int):  # type: ignore[no-untyped-def]
    """``python -m server serve`` on ``port`` against the stack; stopped with SIGTERM afterwards."""
    log_path = stack.data_dir / "server.log"
    proc = _spawn_server(stack, db_name, port, log_path)
    try:
        deadline = time.monotonic() + SERVER_START_SECS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the server exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the server did not listen on {port} within {SERVER_START_SECS}s") from None
                await asyncio.sleep(0.1)
        yield proc
    finally:
        await asyncio.get_running_loop().run_in_executor(None, _stop_server, proc)
        errors = [line for line in log_path.read_text(errors="replace").splitlines() if "ERROR" in line or "Traceback" in line]
        if errors:
            say(f"[server log: {len(errors)} error line(s), e.g. {errors[0][:200]}]")


# -- the run ------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> None:
    from server.config import load_settings
    from server.resources import open_resources
    from server.seed import seed_demo
    from server.staff.service import actor_for
    from server.stock.service import check_ledger

    say(f"shuwu circulation benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    say(f"machine: {machine()}")
    say("NOTE: the server, SecantusDB, redis-server and this load generator all share these cores;")
    say("      figures are for this machine as a whole, not for the server alone.")
    say("options: " + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in sorted(vars(args).items())
                               if k not in {"quick", "parts"}) + f" --parts {','.join(map(str, sorted(args.parts)))}")

    with temporary_stack(cache_size="4G") as stack:
        pids: dict[str, int | None] = {"server": None, "secantusd": None, "redis": None}
        for name, proc in stack.procs:
            if name in {"secantusd", "redis-server"}:
                pids["secantusd" if name == "secantusd" else "redis"] = proc.pid
        db_name = "shuwu_bench"
        port = free_port()
        settings = load_settings({}, mode="development", mongo_url=stack.mongo_url, mongo_db=db_name,
                                 redis_url=stack.redis_url, port=port, log_level="WARNING")
        async with open_resources(settings) as deps:
            section("data")
            t0 = time.perf_counter()
            say(str(await seed_demo(deps)))
            room_docs = (await bench_data.rooms(deps))[: args.rooms]
            rows = await bench_data.load_catalog(deps, args.titles, seed=args.seed)
            say(f"catalog: {len(rows)} titles in {time.perf_counter() - t0:.1f}s "
                f"(built by {'server.catalog' if bench_data.uses_catalog_builder() else 'ops.bench.data (catalog builder not found)'})")
            t0 = time.perf_counter()
            rooms = await bench_data.stock_rooms(deps, room_docs, [str(r["isbn"]) for r in rows],
                                                 titles_per_room=args.titles_per_room,
                                                 readers_per_room=args.readers_per_room, seed=args.seed)
            say(f"stock: {len(rooms)} rooms × {args.titles_per_room} titles × {bench_data.COPIES_PER_HOLDING} copies, "
                f"{args.readers_per_room} readers per room, in {time.perf_counter() - t0:.1f}s")
            # Part 1 uses the first half of each room's titles and readers, part 2 the second half.
            half_t, half_r = args.titles_per_room // 2, args.readers_per_room // 2
            online = [bench_data.RoomData(r.code, r.username, r.titles[:half_t], r.cards[:half_r], r.reader_ids)
                      for r in rooms[: args.phones]]

            async with server_process(stack, db_name, port) as proc:
                pids["server"] = proc.pid
                all_pids: dict[str, int | None] = {"bench": None, **pids}
                async with bench_phones.http_client(f"http://127.0.0.1:{port}", max(args.phones, len(rooms))) as client:
                    t0 = time.perf_counter()
                    tokens = await bench_phones.log_in(client, [rooms[0].username])  # the real route works
                    tokens.update(await bench_phones.issue_tokens(deps, [r.username for r in rooms[1:]]))
                    say(f"{len(tokens)} room administrators have Bearer tokens ({time.perf_counter() - t0:.1f}s; "
                        f"one by POST /api/v1/auth/token, the rest issued directly to skip argon2)")

                    if 1 in args.parts:
                        await part_online(deps, client, online, tokens, args, all_pids)
                    if 2 in args.parts:
                        await part_offline(deps, client, rooms, tokens, args, all_pids, half_t, half_r)
                    if 3 in args.parts:
                        await part_search(deps, client, rows, rooms, tokens, args, all_pids, actor_for)

            section("consistency")
            checked, problems = await check_ledger(deps)
            say(f"check-ledger: {checked} holdings, {len(problems)} mismatch(es)"
                + ("" if not problems else f" — e.g. {problems[0]}"))


async def part_online(deps: Any, client: Any, online: list[Any], tokens: dict[str, str], args: argparse.Namespace,
                      pids: dict[str, int | None]) -> None:
    section(f"1. loans and returns: {len(online)} phones × {args.seconds:g}s")
    meter = CpuMeter(pids).start()
    loans, returns = await bench_phones.http_phones(client, online, tokens, args.seconds, args.seed)
    meter.stop()
    app = bench_phones.combined("HTTP lend + return", loans, returns)
    for s in (app, loans, returns):
        say(s.line())
    say(meter.line())
    meter = CpuMeter({k: v for k, v in pids.items() if k != "server"}).start()
    d_loans, d_returns = await bench_phones.direct_phones(deps, online, args.seconds, args.seed)
    meter.stop()
    base = bench_phones.combined("baseline: direct PyMongo txns", d_loans, d_returns)
    for s in (base, d_loans, d_returns):
        say(s.line())
    say(meter.line())
    for line in ratio_lines(app, base):
        say(line)


async def part_offline(deps: Any, client: Any, rooms: list[Any], tokens: dict[str, str], args: argparse.Namespace,
                       pids: dict[str, int | None], half_t: int, half_r: int) -> None:
    section(f"2. offline batches: {args.offline_ops} operations from {len(rooms)} phones")
    try:
        from server.circulation import offline
    except ImportError as exc:
        say(f"not available: server.circulation.offline is missing ({exc})")
        return
    logs = bench_offline.build_logs(rooms, args.offline_ops, titles=slice(half_t, None), cards=slice(half_r, None))
    meter = CpuMeter(pids).start()
    result = await bench_offline.upload_all(client, logs, tokens)
    meter.stop()
    say(f"HTTP upload + apply: {result.ops} ops in {result.seconds:.1f}s = {result.rate:.1f} ops/s"
        f" (sync_busy retries {result.retries}; errors {dict(result.errors) or 0})")
    say("outcomes: " + ", ".join(f"{k} ×{v}" for k, v in sorted(result.outcomes.items())))
    say(meter.line())
    chunk = getattr(offline, "CHUNK_OPS", 500)
    meter = CpuMeter({k: v for k, v in pids.items() if k != "server"}).start()
    bulk = await bench_offline.direct_bulk(deps, logs, chunk)
    meter.stop()
    say(f"baseline A, bulk writes ({chunk} ops per txn, one applier, as the server): {result.ops} ops in "
        f"{bulk:.1f}s = {result.ops / bulk:.1f} ops/s")
    say(meter.line())
    say(f"ratio app/baseline A: seconds {ratio(result.seconds, bulk)}, ops/s {ratio(result.rate, result.ops / bulk)}")
    meter = CpuMeter({k: v for k, v in pids.items() if k != "server"}).start()
    some = bench_offline.first_ops(logs, min(args.offline_direct_ops, result.ops))
    base = await bench_offline.direct_all(deps, some)
    meter.stop()
    say(f"baseline B, one txn per op ({len(logs)} phones concurrently, each in order; the first "
        f"{sum(len(log.ops) for log in some)} of the same ops, for time): {base.count} ops in "
        f"{base.elapsed:.1f}s = {base.throughput:.1f} ops/s")
    say(base.line())
    say(meter.line())
    say(f"ratio app/baseline B: ops/s {ratio(result.rate, base.throughput)}")


async def part_search(deps: Any, client: Any, rows: list[dict[str, Any]], rooms: list[Any], tokens: dict[str, str],
                      args: argparse.Namespace, pids: dict[str, int | None], actor_for: Any) -> None:
    section(f"3. search: {args.queries} queries against {len(rows)} titles")
    found = bench_search.find_search_function()
    queries = bench_search.make_queries(rows, args.queries, args.seed)
    mix = {k: sum(q.kind == k for q in queries) for k in bench_search.KINDS}
    say("queries: " + ", ".join(f"{k} {v}" for k, v in mix.items()) + "; e.g. "
        + ", ".join(next(q.q for q in queries if q.kind == k) for k in bench_search.KINDS if mix[k]))
    room = rooms[0]
    indexes = bench_search.subset(queries, args.regex_queries)
    service = http = None
    if isinstance(found, str):
        say(f"not available: {found}")
    else:
        staff = await deps.db.staff.find_one({"username": room.username})
        actor = actor_for(staff, request_id="bench", ip="127.0.0.1")
        meter = CpuMeter({"bench (incl. service)": None, "secantusd": pids["secantusd"]}).start()
        service, by_kind, per_query = await bench_search.time_service(deps, actor, queries, room.code)
        meter.stop()
        say(service.line(rate=False))
        for s in by_kind.values():
            say(s.line(rate=False))
        say(meter.line())
        http = await bench_search.time_http(client, tokens[room.username], queries, room.code)
        say(http.line(rate=False))
    regex = await bench_search.time_regex(deps, [queries[i] for i in indexes])
    say(regex.line(rate=False))
    if service is not None:
        same = bench_search.pick_per_query(per_query, indexes, f"service function, same {len(indexes)} q")
        say(same.line(rate=False))
        a, b = same.pcts(), regex.pcts()
        say(f"ratio service/regex (same queries): p50 {ratio(a[0], b[0])}  p95 {ratio(a[1], b[1])}"
            f"  p99 {ratio(a[2], b[2])}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.bench.circulation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small smoke run (about a minute)")
    for name, default in FULL.items():
        kind = float if isinstance(default, float) else int
        parser.add_argument(f"--{name.replace('_', '-')}", type=kind, default=None,
                            help=f"default {default} (--quick: {QUICK[name]})")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--parts", default="1,2,3", help="which parts to run, e.g. 1,3 (default: all)")
    args = parser.parse_args(argv)
    preset = QUICK if args.quick else FULL
    for name, default in preset.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    try:
        args.parts = {int(p) for p in args.parts.split(",") if p.strip()}
    except ValueError:
        parser.error("--parts takes numbers, e.g. 1,3")
    if not args.parts <= {1, 2, 3}:
        parser.error("--parts: choose from 1, 2, 3")
    if args.phones > args.rooms:
        parser.error("--phones cannot exceed --rooms (one phone per room)")
    asyncio.run(run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
