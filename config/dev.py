"""``python -m config.dev`` (``make run``): the whole product on one machine, one command.

Prepares, then supervises:

1. migrates the database and seeds the demo accounts (``seed_demo``), printing them;
2. generates the development TLS material for the SMTP sink (``delivery.tls``);
3. creates the filesystem broker's spool folders (without ``REDIS_URL``);
4. starts ``web`` (runserver on 127.0.0.1:$PORT), ``worker``, ``beat`` and ``sink``
   (``run_smtp_sink``), each in its own process group, output prefixed with its name.

Contract: SIGINT (Ctrl-C) or SIGTERM stops every child (SIGTERM, then SIGKILL of its
whole process group after ``STOP_TIMEOUT`` seconds) and exits 0. If a child exits on
its own, the others are stopped the same way and the exit status is 1, naming the child.
No child outlives the supervisor: on Linux each also gets SIGKILL if the supervisor dies.

With no environment it needs no services (SQLite and the filesystem broker under
``var/``, or ``$TAYORI_VAR_DIR``); ``DATABASE_URL`` / ``REDIS_URL`` switch to PostgreSQL
and Redis. ``SMTP_SINK_ENABLED=1`` is set for the children so ``/healthz`` checks the sink.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 10.0
_PR_SET_PDEATHSIG = 1


class Stop(Exception):
    """Raised in the main thread by the SIGINT/SIGTERM handler."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen | None = None
    reader: threading.Thread | None = field(default=None, repr=False)


def _say(text: str) -> None:
    sys.stdout.write(f"tayori | {text}\n")
    sys.stdout.flush()


def _die_with_parent() -> None:
    """``preexec_fn``: ask Linux to SIGKILL the child if the supervisor dies first."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _prepare() -> None:
    """Migrate, seed, make the TLS material and the broker spool. Runs in this process."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    from accounts.management.commands.seed_demo import DEMO_PASSWORD, banner, seed_demo
    from delivery.tls import ensure_dev_tls

    if not settings.DEBUG:
        # The demo accounts have a published password: never on a production database.
        raise SystemExit("config.dev is for development only; unset DEBUG (DEBUG=0 is set).")
    _say(f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
    call_command("migrate", interactive=False, verbosity=0)
    seed_demo(DEMO_PASSWORD)
    connections.close_all()
    ensure_dev_tls(settings.TLS_DIR)
    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # kombu's filesystem transport does not create its folders; the worker would
        # fail on the first poll without them.
        for key in ("data_folder_in", "data_folder_out", "control_folder", "processed_folder"):
            Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS[key]).mkdir(parents=True, exist_ok=True)
    # WhiteNoise warns on every start when its root is missing; runserver serves from
    # the finders anyway.
    Path(settings.STATIC_ROOT).mkdir(parents=True, exist_ok=True)
    for line in banner(DEMO_PASSWORD).splitlines():
        _say(line)


def _children(port: int) -> list[Child]:
    python = sys.executable
    manage = str(BASE_DIR / "manage.py")
    return [
        Child("web", [python, manage, "runserver", f"127.0.0.1:{port}", "--noreload"]),
        Child(
            "worker",
            [python, "-m", "celery", "-A", "config", "worker", "-l", "info", "--concurrency", "2"],
        ),
        Child("beat", [python, "-m", "celery", "-A", "config", "beat", "-l", "info"]),
        Child("sink", [python, manage, "run_smtp_sink"]),
    ]


def _pump(name: str, stream) -> None:
    """Copy a child's output to ours, each line prefixed with the child's name."""
    prefix = f"{name:<6} | ".encode()
    out = sys.stdout.buffer
    for line in iter(stream.readline, b""):
        out.write(prefix + line if line.endswith(b"\n") else prefix + line + b"\n")
        out.flush()
    stream.close()


def _start(child: Child, env: dict[str, str]) -> None:
    child.process = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
        child.argv,
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Own process group: Ctrl-C reaches only the supervisor, which then stops each
        # child in order, and a stuck child's helpers (Celery's pool) die with it.
        start_new_session=True,
        preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
    )
    _say(f"started {child.name} (pid {child.process.pid}): {' '.join(child.argv[1:])}")


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_all(children: list[Child]) -> None:
    """SIGTERM every running child, wait, then SIGKILL whatever is left of each group."""
    running = [c for c in children if c.process is not None]
    for child in running:
        if child.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in running:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _say(f"{child.name} did not stop within {STOP_TIMEOUT:.0f} s; killing it")
    for child in running:
        # The group id is the child's pid (start_new_session). Kill helpers it left.
        if _group_alive(child.process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.process.wait(timeout=5)
    for child in running:
        if child.reader is not None:
            child.reader.join(timeout=5)


def _on_signal(signum, _frame) -> None:
    raise Stop(signum)


def main() -> int:
    os.chdir(BASE_DIR)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["SMTP_SINK_ENABLED"] = "1"
    port = int(os.environ.get("PORT") or 8000)
    os.environ.setdefault("SITE_URL", f"http://127.0.0.1:{port}")
    sink_port = int(os.environ.get("SMTP_SINK_PORT") or 8025)
    for what, number in (("PORT", port), ("SMTP_SINK_PORT", sink_port)):
        if not _port_is_free("127.0.0.1", number):
            _say(f"{what} {number} is already in use on 127.0.0.1; choose another: {what}=...")
            return 1

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    children = _children(port)
    try:
        _prepare()
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        for child in children:
            _start(child, env)
        # Readers start after every fork: no thread may run while preexec_fn does.
        for child in children:
            child.reader = threading.Thread(
                target=_pump, args=(child.name, child.process.stdout), daemon=True
            )
            child.reader.start()
        _say(f"up: http://127.0.0.1:{port}/  (health: /healthz)  Ctrl-C stops everything")
        while True:
            for child in children:
                code = child.process.poll()
                if code is not None:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                    _say(f"{child.name} exited with status {code}; stopping the others")
                    _stop_all(children)
                    _say(f"stopped: {child.name} died (exit status {code})")
                    return 1
            time.sleep(0.5)
    except Stop as stop:
        # A second Ctrl-C while stopping must not abandon children half-stopped.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _say(f"received {signal.Signals(stop.signum).name}; stopping every process")
        _stop_all(children)
        _say("stopped")
        return 0


if __name__ == "__main__":
    sys.exit(main())
