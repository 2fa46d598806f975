"""The newcomer's path: ``python -m config.dev`` (what ``make run`` runs) with no services
and no environment brings up every part, the printed demo login works, and Ctrl-C leaves
no process behind. A child that dies takes the rest down with a non-zero exit.

Runs beside a developer's own ``make run``: free ports, its own ``TAYORI_VAR_DIR``.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
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
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.servers import free_port

pytestmark = pytest.mark.slow

BASE_DIR = Path(__file__).resolve().parents[2]
HEALTHY_WITHIN = 90
STOPPED_WITHIN = 30
# What a newcomer's shell would not have; the suite's own environment does.
_STRIPPED = {
    "DATABASE_URL",
    "REDIS_URL",
    "DEBUG",
    "SECRET_KEY",
    "SITE_URL",
    "SMTP_SINK_ENABLED",
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # set by the browser tests for their own process only
}
EXPECTED_PARTS = {"database", "broker", "worker", "beat", "smtp_sink"}


@dataclass
class DevRun:
    """One running ``python -m config.dev`` and everything it printed so far."""

    process: subprocess.Popen
    var_dir: Path
    port: int
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


def _collect(run: DevRun) -> None:
    for raw in iter(run.process.stdout.readline, b""):
        run.lines.append(raw.decode("utf-8", "replace"))


def _start(var_dir: Path) -> DevRun:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in _STRIPPED}
    env.update(
        TAYORI_VAR_DIR=str(var_dir),
        PORT=str(port),
        SMTP_SINK_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "config.dev"],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Like a terminal's foreground job: Ctrl-C is a SIGINT to this process group.
        start_new_session=True,
    )
    run = DevRun(process, var_dir, port)
    threading.Thread(target=_collect, args=(run,), daemon=True).start()
    return run


def _health(run: DevRun) -> tuple[int, dict] | None:
    try:
        # S310: the URL is http://127.0.0.1:<port>/healthz, built just above.
        with urllib.request.urlopen(run.url("/healthz"), timeout=5) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)
    except OSError:
        return None


def _wait_until_healthy(run: DevRun) -> dict:
    deadline = time.monotonic() + HEALTHY_WITHIN
    last = None
    while time.monotonic() < deadline:
        assert run.process.poll() is None, f"config.dev exited early:\n{run.output}"
        last = _health(run)
        if last is not None and last[0] == 200:
            return last[1]
        time.sleep(0.5)
    raise AssertionError(f"not healthy within {HEALTHY_WITHIN} s (last: {last}):\n{run.output}")


def _processes_of(var_dir: Path) -> dict[int, str]:
    """Every live process whose environment names ``var_dir``: the supervisor and all
    its descendants, even ones re-parented after their parent died."""
    marker = f"TAYORI_VAR_DIR={var_dir}".encode()
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue  # gone meanwhile, or a zombie
        if marker in environ and cmdline:
            found[int(entry.name)] = cmdline
    return found


def _wait_for_no_processes(var_dir: Path, timeout: float = 15) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    left = _processes_of(var_dir)
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _processes_of(var_dir)
    return left


def _stop(run: DevRun) -> None:
    """Last-resort cleanup so a failing test leaves nothing running."""
    if run.process.poll() is None:
        os.killpg(run.process.pid, signal.SIGKILL)
        run.process.wait()
    for pid in _processes_of(run.var_dir):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _login(run: DevRun, email: str, password: str):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    with opener.open(run.url("/login/"), timeout=10) as response:
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode(
        {"username": email, "password": password, "csrfmiddlewaretoken": token, "next": ""}
    ).encode()
    return opener.open(run.url("/login/"), data=form, timeout=10)


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("newcomer-var")


def test_make_run_brings_up_every_part_and_ctrl_c_stops_them_all(var_dir):
    run = _start(var_dir)
    try:
        health = _wait_until_healthy(run)
        password = re.search(r"Password for all of them: (\S+)", run.output).group(1)
        with _login(run, "admin@demo.example", password) as response:
            landed_on, status, page = response.url, response.status, response.read().decode()
        processes = _processes_of(var_dir)

        os.killpg(run.process.pid, signal.SIGINT)
        returncode = run.process.wait(timeout=STOPPED_WITHIN)
        left = _wait_for_no_processes(var_dir)
    finally:
        _stop(run)

    assert health == {"status": "ok", "parts": dict.fromkeys(EXPECTED_PARTS, "up")}
    for email in (
        "admin@demo.example",
        "marketer@demo.example",
        "approver@demo.example",
        "viewer@demo.example",
        "operator@demo.example",
    ):
        assert email in run.output
    # Admins must use two-factor: the first stop after logging in is setting it up.
    assert (status, landed_on) == (200, run.url("/account/2fa/setup/?next=/o/demo/"))
    assert "Set up two-factor authentication" in page
    # supervisor, web, worker (main + a pool of 2), beat, sink
    assert sorted(_role(cmd) for cmd in processes.values()) == [
        "beat",
        "sink",
        "supervisor",
        "web",
        "worker",
        "worker",
        "worker",
    ]
    assert returncode == 0, run.output
    assert left == {}
    assert "tayori | received SIGINT; stopping every process" in run.output
    assert run.output.rstrip().endswith("tayori | stopped")


def test_a_child_that_dies_stops_the_rest_and_fails_naming_it(var_dir):
    run = _start(var_dir)
    try:
        _wait_until_healthy(run)
        [sink_pid] = [pid for pid, cmd in _processes_of(var_dir).items() if _role(cmd) == "sink"]

        os.kill(sink_pid, signal.SIGKILL)
        returncode = run.process.wait(timeout=STOPPED_WITHIN)
        left = _wait_for_no_processes(var_dir)
    finally:
        _stop(run)

    assert returncode == 1, run.output
    assert "tayori | sink exited with status -9; stopping the others" in run.output
    assert run.output.rstrip().endswith("tayori | stopped: sink died (exit status -9)")
    assert left == {}


def _role(cmdline: str) -> str:
    if "config.dev" in cmdline:
        return "supervisor"
    if "runserver" in cmdline:
        return "web"
    if "run_smtp_sink" in cmdline:
        return "sink"
    if "celery" in cmdline and " worker" in cmdline:
        return "worker"
    if "celery" in cmdline and " beat" in cmdline:
        return "beat"
    return cmdline


def test_a_port_in_use_is_refused_before_anything_starts(tmp_path):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if k not in _STRIPPED}
        result = subprocess.run(
            [sys.executable, "-m", "config.dev"],
            cwd=BASE_DIR,
            env={**env, "TAYORI_VAR_DIR": str(tmp_path), "PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    assert result.returncode == 1
    assert result.stdout == (
        f"tayori | PORT {port} is already in use on 127.0.0.1; choose another: PORT=...\n"
    )
    assert list(tmp_path.iterdir()) == []
