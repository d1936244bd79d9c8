"""Console benchmark: how long the district office waits for each console page, download and
JSON figure on the Jinnan demo data (a year of circulation). Printed figures, not a timed test.

    python -m ops.bench.console                 # throw-away stack, full demo seed, 7 rounds
    python -m ops.bench.console --data var      # an existing demo data folder (ops/run's), no seeding

Starts the embedded stack (SecantusDB + redis-server on free ports) unless ``--mongo-url`` /
``--redis-url`` are given, seeds the demo data, and runs ``python -m server serve`` as a
separate process so the client and the server do not share a core. The client logs in to
the console like a browser (XSRF cookie + form) and gets an API token for the JSON routes.

For every URL: one *cold* request right after the district figures' cache is dropped
(the Redis keys ``server.stats.service.invalidate`` drops), then ``--rounds`` warm requests; it prints the cold time and
the warm median, p95 and maximum, the response size and whether the page met the 1 s bar.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from ops.bench.stats import percentile
from ops.stack import free_port, start_stack, temporary_stack
from server.seed import DEMO_PASSWORD

BAR_SECS = 1.0
ROOM = "JN-XSG-001"


def urls(year: int) -> list[tuple[str, str, bool]]:
    """(label, path, needs the API token)."""
    return [
        ("总览 (this year)", "/console/", False),
        ("总览 (last year)", f"/console/?year={year - 1}", False),
        ("书屋 list", "/console/rooms", False),
        ("书屋 page", f"/console/rooms/{ROOM}", False),
        ("藏书", "/console/stock", False),
        ("流通", f"/console/loans?year={year}", False),
        ("统计报表", "/console/reports", False),
        ("离线冲突", "/console/offline-conflicts", False),
        ("年度配送", "/console/distribution", False),
        ("培训", "/console/training", False),
        ("评选", "/console/ratings", False),
        ("dashboard JSON", f"/api/v1/stats/dashboard?year={year}", True),
        ("annual report PDF", f"/api/v1/stats/annual-report.pdf?year={year}", False),
        ("rooms.xlsx", "/api/v1/exports/rooms.xlsx", False),
        ("stock.xlsx", "/api/v1/exports/stock.xlsx", False),
        ("loans.xlsx", f"/api/v1/exports/loans.xlsx?year={year}", False),
    ]


async def log_in(http: httpx.AsyncClient) -> str:
    """Log in to the console (cookie) and get an API token; returns the token."""
    page = await http.get("/console/login")
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    if not xsrf:
        raise SystemExit("no log-in form at /console/login")
    done = await http.post("/console/login", data={"_xsrf": xsrf.group(1), "username": "admin",
                                                   "password": DEMO_PASSWORD}, follow_redirects=False)
    if done.status_code not in (302, 303):
        raise SystemExit(f"console log-in failed: {done.status_code}")
    token = await http.post("/api/v1/auth/token", json={"username": "admin", "password": DEMO_PASSWORD})
    token.raise_for_status()
    return str(token.json()["token"])


async def timed(http: httpx.AsyncClient, path: str, headers: dict[str, str]) -> tuple[float, int, int]:
    started = time.perf_counter()
    response = await http.get(path, headers=headers)
    return time.perf_counter() - started, response.status_code, len(response.content)


async def measure(base_url: str, redis_url: str, rounds: int, year: int) -> None:
    import redis.asyncio as aioredis

    from server.stats.service import CACHE_PREFIX

    cache = aioredis.from_url(redis_url)
    async with httpx.AsyncClient(base_url=base_url, timeout=120) as http:
        token = await log_in(http)
        bearer = {"Authorization": f"Bearer {token}"}
        print(f"{'what':<22}{'status':>7}{'cold ms':>9}{'warm p50':>10}{'p95':>8}{'max':>8}{'size kB':>9}  <1 s")
        worst = 0.0
        for label, path, api in urls(year):
            headers = bearer if api else {}
            stale = [k async for k in cache.scan_iter(match=f"{CACHE_PREFIX}*")]
            if stale:
                await cache.delete(*stale)
            cold, status, size = await timed(http, path, headers)
            warm = sorted([(await timed(http, path, headers))[0] for _ in range(rounds)])
            p50, p95, top = percentile(warm, 50), percentile(warm, 95), warm[-1]
            worst = max(worst, cold, top)
            ok = "yes" if max(cold, top) < BAR_SECS and status == 200 else "NO"
            print(f"{label:<22}{status:>7}{cold * 1000:>9.0f}{p50 * 1000:>10.0f}{p95 * 1000:>8.0f}"
                  f"{top * 1000:>8.0f}{size / 1024:>9.0f}  {ok}")
        print(f"slowest single request: {worst * 1000:.0f} ms (bar: {BAR_SECS * 1000:.0f} ms)")
    await cache.aclose()


async def seed(mongo_url: str, redis_url: str) -> None:
    from server.config import Settings
    from server.resources import open_resources
    from server.seed import seed_demo

    started = time.perf_counter()
    settings = Settings(mongo_url=mongo_url, redis_url=redis_url)
    async with open_resources(settings) as deps:
        report = await seed_demo(deps, if_empty=True, circulation=True)
    print(f"demo data: {report} ({time.perf_counter() - started:.0f} s)", flush=True)


def serve(mongo_url: str, redis_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHUWU_MONGO_URL": mongo_url, "SHUWU_REDIS_URL": redis_url, "SHUWU_PORT": str(port),
           "SHUWU_HOST": "127.0.0.1", "SHUWU_LOG_LEVEL": "WARNING"}
    proc = subprocess.Popen([sys.executable, "-m", "server", "serve"], env=env, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    if "listening" not in line:
        proc.kill()
        raise SystemExit(f"the server did not start: {line!r}")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help="an existing stack data folder (e.g. var); default: throw-away")
    parser.add_argument("--rounds", type=int, default=7, help="warm requests per URL")
    args = parser.parse_args()
    from server.readers.service import local_today

    with ExitStack() as stack:
        if args.data:
            running = start_stack(args.data)
            stack.callback(running.stop)
        else:
            running = stack.enter_context(temporary_stack(wechat=False))
        asyncio.run(seed(running.mongo_url, running.redis_url))
        port = free_port()
        server = serve(running.mongo_url, running.redis_url, port)
        stack.callback(server.terminate)
        print(f"server: python -m server serve on port {port}, {os.cpu_count()} cores shared with this client")
        asyncio.run(measure(f"http://127.0.0.1:{port}", running.redis_url, args.rounds, local_today().year))


if __name__ == "__main__":
    main()
