"""The embedded stack for the demo, the tests and CI: SecantusDB, redis-server and the
local fake WeChat server (ops/fake_wechat).

Starts them as child processes on free loopback ports and stops them in reverse
order. Production never uses this: it points SHUWU_MONGO_URL, SHUWU_REDIS_URL and
SHUWU_WECHAT_API_BASE at a real MongoDB replica set, Redis and api.weixin.qq.com.

    python -m ops.stack --data var      # run all three until Ctrl-C, printing the URLs
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT_SECS = 30.0
STOP_TIMEOUT_SECS = 15.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within {START_TIMEOUT_SECS}s; see {log}")


def _die_with_parent() -> None:
    """Run in the child before exec: Linux sends it SIGTERM when the parent dies, so a
    killed test run or launcher never leaves servers behind (no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _secantusd() -> str:
    exe = Path(sys.executable).with_name("secantusd-py")
    if exe.exists():
        return str(exe)
    found = shutil.which("secantusd-py")
    if not found:
        raise RuntimeError("secantusd-py not found: pip install secantusdb (ops/test does this)")
    return found


def _redis_server() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None)
    if not found:
        raise RuntimeError("redis-server not found: apt-get install redis-server (ops/test does this)")
    return found


@dataclass
class Stack:
    """A running SecantusDB + redis-server (+ fake WeChat server, unless started without)."""

    data_dir: Path
    mongo_port: int
    redis_port: int
    wechat_port: int | None = None
    procs: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    @property
    def mongo_url(self) -> str:
        return f"mongodb://127.0.0.1:{self.mongo_port}/?directConnection=true"

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def wechat_base(self) -> str | None:
        """The fake WeChat server's base URL (SHUWU_WECHAT_API_BASE), or None if not started."""
        return None if self.wechat_port is None else f"http://127.0.0.1:{self.wechat_port}"

    def stop(self) -> None:
        """Stop the servers in reverse start order; SIGTERM first, SIGKILL after a deadline."""
        for name, proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_TIMEOUT_SECS)
                except subprocess.TimeoutExpired:
                    print(f"[stack] {name} did not stop in time; killing", file=sys.stderr)
                    proc.kill()
                    proc.wait()
        self.procs.clear()


def start_stack(data_dir: Path, *, mongo_port: int | None = None, redis_port: int | None = None,
                cache_size: str = "1G", wechat: bool = True, wechat_port: int | None = None) -> Stack:
    """Start SecantusDB (--sync-on-commit), redis-server (AOF on) with data under ``data_dir``,
    and (``wechat``) the fake WeChat server, which keeps its state in memory only."""
    data_dir = Path(data_dir).resolve()
    (data_dir / "mongo").mkdir(parents=True, exist_ok=True)
    (data_dir / "redis").mkdir(parents=True, exist_ok=True)
    stack = Stack(data_dir, mongo_port or free_port(), redis_port or free_port(),
                  (wechat_port or free_port()) if wechat else None)
    try:
        mongo_log = data_dir / "secantusd.log"
        mongo = subprocess.Popen(
            [_secantusd(), "--host", "127.0.0.1", "--port", str(stack.mongo_port),
             "--storage-path", str(data_dir / "mongo"), "--sync-on-commit",
             "--log-level", "WARNING", "--cache-size", cache_size],
            stdout=mongo_log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        stack.procs.append(("secantusd", mongo))
        redis_log = data_dir / "redis.log"
        redis = subprocess.Popen(
            [_redis_server(), "--port", str(stack.redis_port), "--bind", "127.0.0.1",
             "--dir", str(data_dir / "redis"), "--appendonly", "yes", "--save", "",
             "--protected-mode", "yes", "--daemonize", "no", "--logfile", str(redis_log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        stack.procs.append(("redis-server", redis))
        wechat_log = data_dir / "fake_wechat.log"
        fake = None
        if stack.wechat_port is not None:
            fake = subprocess.Popen(
                [sys.executable, "-m", "ops.fake_wechat", "--port", str(stack.wechat_port)],
                cwd=REPO_ROOT, stdout=wechat_log.open("ab"), stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent,
            )
            stack.procs.append(("fake-wechat", fake))
        _wait_for_port(stack.mongo_port, mongo, "secantusd-py", mongo_log)
        _wait_for_port(stack.redis_port, redis, "redis-server", redis_log)
        if fake is not None and stack.wechat_port is not None:
            _wait_for_port(stack.wechat_port, fake, "fake WeChat server", wechat_log)
    except BaseException:
        stack.stop()
        raise
    return stack


@contextlib.contextmanager
def temporary_stack(*, cache_size: str = "1G", wechat: bool = True) -> Iterator[Stack]:
    """A stack with throw-away data, removed afterwards (tests, CI)."""
    tmp = Path(tempfile.mkdtemp(prefix="shuwu-stack-"))
    stack = start_stack(tmp, cache_size=cache_size, wechat=wechat)
    try:
        yield stack
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("var"))
    parser.add_argument("--mongo-port", type=int, default=None)
    parser.add_argument("--redis-port", type=int, default=None)
    parser.add_argument("--wechat-port", type=int, default=None)
    parser.add_argument("--no-wechat", action="store_true", help="do not start the fake WeChat server")
    args = parser.parse_args()
    stack = start_stack(args.data, mongo_port=args.mongo_port, redis_port=args.redis_port,
                        wechat=not args.no_wechat, wechat_port=args.wechat_port)
    print(f"SHUWU_MONGO_URL={stack.mongo_url}\nSHUWU_REDIS_URL={stack.redis_url}", flush=True)
    if stack.wechat_base:
        print(f"SHUWU_WECHAT_API_BASE={stack.wechat_base}", flush=True)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        while not stopping and all(p.poll() is None for _, p in stack.procs):
            time.sleep(0.2)
    finally:
        stack.stop()
        os.sync()


if __name__ == "__main__":
    main()
