"""python -m server serve | worker | seed-demo | create-admin | check-ledger | config

Each sub-command exists because the code behind it does; later issues add theirs.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import signal
import sys

from server.config import ConfigError, Settings, describe_settings, load_settings
from server.web.logs import configure_logging

log = logging.getLogger("shuwu")


async def serve(settings: Settings, *, ready: asyncio.Event | None = None) -> None:
    """Run the web server until SIGTERM/SIGINT, then shut down gracefully (HOW_WE_BUILD §8)."""
    from tornado.httpserver import HTTPServer

    from server.app import make_app
    from server.resources import open_resources

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    async with open_resources(settings) as deps:
        app = make_app(deps)
        # Tornado's own cap is a backstop; the handlers answer 413 problem+json below it.
        server = HTTPServer(app, xheaders=True, max_body_size=settings.max_body_bytes * 4, idle_connection_timeout=60)
        from tornado.netutil import bind_sockets

        sockets = bind_sockets(settings.port, settings.host)
        server.add_sockets(sockets)
        port = sockets[0].getsockname()[1]
        log.info("shuwu listening on http://%s:%s/", settings.host, port)
        print(f"shuwu listening on http://{settings.host}:{port}/", flush=True)
        if ready is not None:
            ready.set()
        await stop.wait()
        log.info("stopping: no new connections; waiting up to %ss for %d request(s) in flight",
                 settings.shutdown_deadline_secs, app.in_flight.count)
        server.stop()
        if not await app.in_flight.wait_idle(settings.shutdown_deadline_secs):
            log.warning("deadline passed with %d request(s) still in flight", app.in_flight.count)
        await server.close_all_connections()
        log.info("web server stopped")
    log.info("all resources closed; bye")


async def seed_demo(settings: Settings, *, if_empty: bool, circulation: bool = False) -> None:
    from server.resources import open_resources
    from server.seed import seed_demo as run

    async with open_resources(settings) as deps:
        report = await run(deps, if_empty=if_empty, circulation=circulation)
    print(report)


async def create_admin(settings: Settings, username: str, name: str, password: str) -> None:
    from server.resources import open_resources
    from server.staff import service
    from server.staff.models import StaffCreate
    from server.staff.roles import Role

    data = StaffCreate(username=username, name=name, password=password, role=Role.DISTRICT_ADMIN)
    async with open_resources(settings) as deps:
        out = await service.create_staff(deps, service.SYSTEM, data)
    print(f"created district administrator {out.username} ({out.id})")


async def check_ledger(settings: Settings) -> int:
    """Exit status 0 when every holding equals the fold of its ledger entries, 1 otherwise."""
    from server.resources import open_resources
    from server.stock.service import check_ledger as check

    async with open_resources(settings, create_indexes=False) as deps:
        checked, problems = await check(deps)
    for problem in problems:
        print(f"MISMATCH {problem}")
    print(f"checked {checked} holdings: {len(problems)} mismatch(es)")
    return 1 if problems else 0


async def stats_snapshot(settings: Settings, year: int | None) -> None:
    """Count distinct readers and fold the per-room figures (the nightly job), or a whole ``year``."""
    from server.readers.service import local_today
    from server.resources import open_resources
    from server.stats import readers_stats, roomstats, service

    async with open_resources(settings) as deps:
        today = local_today()
        periods = readers_stats.year_periods(year, today) if year else None
        readers = await readers_stats.snapshot(deps, today, periods)
        rooms = await roomstats.refresh(deps, today, [year] if year else None)
        await service.invalidate(deps)
    print(f"reader counts: {readers} documents; room figures: {rooms} documents")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m server", description="shuwu 书屋")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the web server")
    sub.add_parser("worker", help="run the job worker (notifications, reminders, nightly jobs)")
    seed = sub.add_parser("seed-demo", help="load the Jinnan demo data (rooms, staff)")
    seed.add_argument("--if-empty", action="store_true", help="do nothing if rooms already exist")
    seed.add_argument("--circulation", action="store_true",
                      help="also a year of circulation: backlist, opening stock, readers, loans (1–3 minutes, once)")
    admin = sub.add_parser("create-admin", help="create a district administrator account")
    admin.add_argument("--username", required=True)
    admin.add_argument("--name", default="区馆管理员")
    admin.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sub.add_parser("check-ledger", help="verify holdings equal the fold of the stock ledger (exit 1 if not)")
    snap = sub.add_parser("stats-snapshot", help="count distinct readers and fold the per-room statistics now")
    snap.add_argument("--year", type=int, help="a whole past year (default: the current periods)")
    sub.add_parser("config", help="list every SHUWU_* setting")
    args = parser.parse_args(argv)

    if args.command == "config":
        for var, default, description in describe_settings():
            print(f"{var:32} {description}" + (f" (default: {default})" if default else ""))
        return 0
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level)

    if args.command == "serve":
        asyncio.run(serve(settings))
    elif args.command == "worker":
        from arq.worker import run_worker

        from server.worker import worker_settings

        run_worker(worker_settings(settings))  # arq: SIGTERM lets jobs in flight finish, then closes
    elif args.command == "stats-snapshot":
        if args.year is not None and not 2012 <= args.year <= 9999:
            print("--year must be 2012 or later", file=sys.stderr)
            return 2
        asyncio.run(stats_snapshot(settings, args.year))
    elif args.command == "check-ledger":
        return asyncio.run(check_ledger(settings))
    elif args.command == "seed-demo":
        if settings.mode == "production":
            print("seed-demo refuses to run in production mode", file=sys.stderr)
            return 2
        asyncio.run(seed_demo(settings, if_empty=args.if_empty, circulation=args.circulation))
    elif args.command == "create-admin":
        password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("密码 password: ")
        try:
            asyncio.run(create_admin(settings, args.username, args.name, password))
        except Exception as exc:  # a readable message, not a traceback, for an operator
            from pydantic import ValidationError

            from server.errors import DomainError

            if isinstance(exc, ValidationError | DomainError):
                print(f"cannot create the account: {exc}", file=sys.stderr)
                return 1
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
