"""python -m ops.fake_wechat [--port P] [--appid A] [--secret S]

Serves the fake WeChat API until SIGTERM/SIGINT, after printing
``fake wechat listening on http://HOST:PORT``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets

from ops.fake_wechat.server import make_app
from ops.fake_wechat.state import DEFAULT_RATE_PER_SEC, FakeWeChat
from server.config import DEV_WECHAT_APPID, DEV_WECHAT_SECRET


async def serve(host: str, port: int, fake: FakeWeChat) -> None:
    sockets = bind_sockets(port, host)
    server = HTTPServer(make_app(fake))
    server.add_sockets(sockets)
    print(f"fake wechat listening on http://{host}:{sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    server.stop()
    await server.close_all_connections()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--appid", default=DEV_WECHAT_APPID)
    parser.add_argument("--secret", default=DEV_WECHAT_SECRET)
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=DEFAULT_RATE_PER_SEC,
        help="jscode2session calls per second before 45011",
    )
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    fake = FakeWeChat(args.appid, args.secret, rate_per_sec=args.rate_limit)
    asyncio.run(serve(args.host, args.port, fake))


if __name__ == "__main__":
    main()
