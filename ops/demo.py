"""The demo launcher behind ``./ops/run`` (which sets up .venv and redis-server, then execs this).

    python -m ops.demo [--data var]

1. starts SecantusDB (--sync-on-commit) and redis-server (AOF) with data under ``var/``,
2. loads the Jinnan demo data unless it is already there (``seed-demo --if-empty``),
3. runs ``python -m server serve`` (SHUWU_PORT, default 8888) and ``python -m server worker``
   (notifications, reminders, nightly jobs), pointed at the local fake WeChat server, and
   prints the console, phone and mini-program URLs and the demo log-ins,
4. on Ctrl-C, SIGTERM or SIGHUP — or if any of them dies — stops everything it started in
   reverse order: the web server (graceful, SHUWU_SHUTDOWN_DEADLINE_SECS), redis-server,
   SecantusDB. The data under ``var/`` is kept for the next run.

Every child runs in its own session, so a Ctrl-C in the terminal reaches only this launcher,
which then stops the children one by one. A lock file stops two launchers sharing one data
folder, and a pid file lets the next run stop children left behind by a launcher that was
killed with SIGKILL.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ops.stack import Stack, start_stack
from server.config import ConfigError, Settings, load_settings

ROOT = Path(__file__).resolve().parent.parent
SERVE_START_TIMEOUT_SECS = 90.0  # index creation on a cold SecantusDB takes a few seconds
SERVE_STOP_MARGIN_SECS = 10.0  # on top of SHUWU_SHUTDOWN_DEADLINE_SECS: closing Mongo, Redis, HTTP
SEED_TIMEOUT_SECS = 900.0  # the first run loads a year of circulation (1–3 minutes on 2 cores)
LEFTOVER_STOP_TIMEOUT_SECS = 15.0
POLL_SECS = 0.2
LISTENING = re.compile(r"shuwu listening on http://(?P<host>\[[^\]]*\]|[^/:]+):(?P<port>\d+)/")
PR_SET_PDEATHSIG = 1
DEMO_TEMPLATES = {event: f"demo-{event}" for event in (
    "hold_ready", "due_tomorrow", "overdue", "suggestion_status", "challenge_milestone", "contest_result",
    "prize_won", "rating_result")}


def say(message: str) -> None:
    print(f"[ops] {message}", flush=True)


class Stopping(Exception):
    """A stop was asked for (signal) while something was still starting."""


class ChildFailed(Exception):
    """A child process exited on its own or did not start."""


def _die_with_parent() -> None:
    """preexec_fn: the child gets SIGTERM if this launcher dies (even by SIGKILL). Linux only."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (tells a reused pid from ours), or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of /proc/PID/stat


class PidFile:
    """``var/.ops-run.pids``: the children of the running launcher, removed after a clean stop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: list[dict[str, Any]] = []

    def add(self, name: str, pid: int) -> None:
        self.entries.append({"name": name, "pid": pid, "start": _start_time(pid)})
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.entries))
        tmp.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)

    def stop_leftovers(self) -> None:
        """Stop children of an earlier launcher that was killed before it could stop them."""
        try:
            entries = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return
        for entry in reversed(entries):
            pid = int(entry["pid"])
            if entry.get("start") is None or _start_time(pid) != entry["start"]:
                continue
            say(f"stopping {entry['name']} (pid {pid}) left running by an earlier ./ops/run …")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + LEFTOVER_STOP_TIMEOUT_SECS
            while _start_time(pid) == entry["start"] and time.monotonic() < deadline:
                time.sleep(POLL_SECS)
            if _start_time(pid) == entry["start"]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self.remove()


def _lock(data_dir: Path) -> IO[str]:
    """Hold ``var/.ops-run.lock`` for the life of this process; fail if another launcher has it."""
    handle = (data_dir / ".ops-run.lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        other = handle.read().strip() or "?"
        raise SystemExit(
            f"[ops] error: another ./ops/run (pid {other}) is using {data_dir}; stop it first"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


def _check_port_free(host: str, port: int) -> None:
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Tornado does
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"[ops] error: cannot listen on {host}:{port} ({exc.strerror}); "
                f"is another shuwu running? Choose another port: SHUWU_PORT=8890 ./ops/run"
            ) from None


def _browser_host(host: str) -> str:
    return "127.0.0.1" if host in {"", "0.0.0.0", "::", "[::]"} else host


class Demo:
    def __init__(self, settings: Settings, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self.pids = PidFile(data_dir / ".ops-run.pids")
        self.stack: Stack | None = None
        self.serve: subprocess.Popen[str] | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.stop_requested = threading.Event()
        self.listening = threading.Event()
        self.url = ""

    # --- signals -------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        def on_signal(signum: int, _frame: object) -> None:
            if self.stop_requested.is_set():
                say("still stopping — waiting for the servers to shut down cleanly …")
                return
            say(f"{signal.Signals(signum).name} received: stopping …")
            self.stop_requested.set()

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if self.stop_requested.is_set():
                raise Stopping
            if time.monotonic() > deadline:
                raise ChildFailed(f"{what} did not finish within {timeout:.0f}s")
            time.sleep(POLL_SECS)

    # --- children ------------------------------------------------------------------------
    def child_env(self) -> dict[str, str]:
        assert self.stack is not None
        env = dict(os.environ)
        env.update(
            SHUWU_MONGO_URL=self.stack.mongo_url,
            SHUWU_REDIS_URL=self.stack.redis_url,
            PYTHONUNBUFFERED="1",
        )
        if self.stack.wechat_base:
            # The local fake WeChat server (ops/fake_wechat) and template ids it accepts.
            env.setdefault("SHUWU_WECHAT_API_BASE", self.stack.wechat_base)
            env.setdefault("SHUWU_WECHAT_TEMPLATES", json.dumps(DEMO_TEMPLATES))
            env.setdefault("SHUWU_MINIPROGRAM_STATE", "developer")
        return env

    def start_stack(self) -> None:
        say(f"starting SecantusDB, redis-server and the fake WeChat server (data in {self._shown(self.data_dir)}) …")
        self.stack = start_stack(self.data_dir)
        for name, proc in self.stack.procs:
            self.pids.add(name, proc.pid)
        say(
            f"SecantusDB on 127.0.0.1:{self.stack.mongo_port} (pid {self.stack.procs[0][1].pid}), "
            f"redis-server on 127.0.0.1:{self.stack.redis_port} (pid {self.stack.procs[1][1].pid}), "
            f"fake WeChat at {self.stack.wechat_base}"
        )
        if self.stop_requested.is_set():
            raise Stopping

    def seed(self) -> None:
        say(
            "loading the demo data if it is not there yet (python -m server seed-demo --if-empty --circulation; "
            "the first time takes a few minutes) …"
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "seed-demo", "--if-empty", "--circulation"],
            cwd=ROOT,
            env=self.child_env(),
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.pids.add("seed-demo", proc.pid)
        try:
            self._wait(lambda: proc.poll() is not None, SEED_TIMEOUT_SECS, "seed-demo")
        except (Stopping, ChildFailed):
            self._terminate("seed-demo", proc, 10.0)
            raise
        if proc.returncode != 0:
            raise ChildFailed(f"seed-demo failed with exit code {proc.returncode}")

    def start_serve(self) -> None:
        say("starting the web server (python -m server serve) …")
        self.serve = subprocess.Popen(
            [sys.executable, "-m", "server", "serve"],
            cwd=ROOT,
            env=self.child_env(),
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.pids.add("serve", self.serve.pid)
        threading.Thread(
            target=self._forward_serve_output, name="serve-stdout", daemon=True
        ).start()
        serve = self.serve
        self._wait(
            lambda: self.listening.is_set() or serve.poll() is not None,
            SERVE_START_TIMEOUT_SECS,
            "the web server's start",
        )
        if not self.listening.is_set():
            raise ChildFailed(
                f"the web server exited with code {serve.returncode} before listening"
            )

    def start_worker(self) -> None:
        """The background worker (notifications, reminders, nightly jobs); its log goes to a file."""
        log = self.data_dir / "worker.log"
        say(f"starting the background worker (python -m server worker; log in {self._shown(log)}) …")
        self.worker = subprocess.Popen(
            [sys.executable, "-m", "server", "worker"],
            cwd=ROOT,
            env=self.child_env(),
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        self.pids.add("worker", self.worker.pid)

    def _forward_serve_output(self) -> None:
        assert self.serve is not None and self.serve.stdout is not None
        for line in self.serve.stdout:
            sys.stdout.write(line)
            sys.stdout.flush()
            match = LISTENING.search(line)
            if match and not self.listening.is_set():
                self.url = f"http://{_browser_host(match['host'])}:{match['port']}"
                self.listening.set()

    def readiness(self) -> str:
        try:
            # No proxy: an http_proxy in the environment must not intercept a loopback call.
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(f"{self.url}/readyz", timeout=5) as response:
                return f"{response.status} {json.loads(response.read()).get('status')}"
        except urllib.error.HTTPError as exc:
            return f"{exc.code} (not ready yet: {exc.read()[:200]!r})"
        except (OSError, ValueError) as exc:
            return f"no answer ({exc})"

    def banner(self) -> None:
        from server.seed import DEMO_PASSWORD, demo_logins

        assert self.stack is not None
        lines = [
            "",
            "shuwu 书屋 is running — Ctrl-C stops it; the data stays in ./var",
            "",
            f"  console 区馆后台 (district office):    {self.url}/console/",
            f"  phone   手机页面 (room administrators): {self.url}/m/",
            f"  API:  {self.url}/api/v1/   OpenAPI: {self.url}/api/openapi.json   readiness: {self.readiness()}",
            f"  mini-program API 小程序接口: {self.url}/mp/v1/   fake WeChat 模拟微信: {self.stack.wechat_base}",
            "",
            f"  demo log-ins (password for all: {DEMO_PASSWORD}):",
            *[f"    {username:<12} {label}" for username, label in demo_logins()],
            "  room administrators (jn-…), the trainer and the inspector log in on the phone pages (/m/);"
            " district staff on the console.",
            "",
            f"  SHUWU_MONGO_URL={self.stack.mongo_url}",
            f"  SHUWU_REDIS_URL={self.stack.redis_url}",
            "",
        ]
        print("\n".join(lines), flush=True)

    def watch(self) -> int:
        """Wait until a stop is asked for (0) or a child dies on its own (1)."""
        assert self.stack is not None and self.serve is not None
        while not self.stop_requested.wait(POLL_SECS):
            if self.serve.poll() is not None:
                say(
                    f"error: the web server exited on its own (code {self.serve.returncode}); stopping the rest"
                )
                return 1
            if self.worker is not None and self.worker.poll() is not None:
                say(f"error: the worker exited on its own (code {self.worker.returncode}; see "
                    f"{self._shown(self.data_dir)}/worker.log); stopping the rest")
                return 1
            for name, proc in self.stack.procs:
                if proc.poll() is not None:
                    say(
                        f"error: {name} exited on its own (code {proc.returncode}; see "
                        f"{self._shown(self.data_dir)}/*.log); stopping the rest"
                    )
                    return 1
        return 0

    # --- stopping ------------------------------------------------------------------------
    @staticmethod
    def _terminate(name: str, proc: subprocess.Popen[Any], timeout: float) -> None:
        if proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            say(f"{name} did not stop within {timeout:.0f}s; killing it")
            proc.kill()
            proc.wait()

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            say(f"stopping the worker (pid {self.worker.pid}) …")
            self._terminate("the worker", self.worker, SERVE_STOP_MARGIN_SECS)
        if self.serve is not None and self.serve.poll() is None:
            say(f"stopping the web server (pid {self.serve.pid}) …")
            self._terminate(
                "the web server",
                self.serve,
                self.settings.shutdown_deadline_secs + SERVE_STOP_MARGIN_SECS,
            )
        if self.stack is not None:
            for name, proc in reversed(self.stack.procs):
                if proc.poll() is None:
                    say(f"stopping {name} (pid {proc.pid}) …")
            self.stack.stop()  # reverse start order: redis-server, then SecantusDB
        os.sync()
        self.pids.remove()
        say(f"stopped; the data is kept in {self._shown(self.data_dir)} for the next ./ops/run")

    @staticmethod
    def _shown(path: Path) -> str:
        with contextlib.suppress(ValueError):
            return "./" + str(path.relative_to(Path.cwd()))
        return str(path)

    def run(self) -> int:
        self.install_signal_handlers()
        self.pids.stop_leftovers()
        try:
            self.start_stack()
            self.seed()
            self.start_serve()
            self.start_worker()
            self.banner()
            return self.watch()
        except Stopping:
            return 0
        except (ChildFailed, RuntimeError) as exc:
            say(f"error: {exc}")
            return 1
        finally:
            # A second signal while stopping must not interrupt the clean shutdown.
            self.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m ops.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data", type=Path, default=ROOT / "var", help="data folder (default: ./var)"
    )
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.mode == "production":
        print(
            "[ops] error: ./ops/run is the demo and refuses SHUWU_MODE=production; production runs "
            "`python -m server serve` against MongoDB and Redis (README, ops/deploy/)",
            file=sys.stderr,
        )
        return 2
    data_dir = args.data.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    _check_port_free(settings.host, settings.port)
    lock = _lock(data_dir)
    try:
        return Demo(settings, data_dir).run()
    finally:
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
