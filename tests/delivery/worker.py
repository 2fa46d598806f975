"""A real Celery worker process for the delivery tests, against the test database and
the test Redis, started in its own process group so it can be killed whole (-9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def worker_env(relay_address, ca_file: str) -> dict:
    db = connection.settings_dict
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env.update(
        DATABASE_URL=f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}",
        REDIS_URL=settings.REDIS_URL,
        DELIVERY_RELAY_HOST=relay_address[0],
        DELIVERY_RELAY_PORT=str(relay_address[1]),
        DELIVERY_RELAY_CA_FILE=ca_file,
        DNS_NAMESERVERS=",".join(settings.DNS_NAMESERVERS),
        DEBUG="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def start_worker(env: dict, log_path: Path, concurrency: int = 2) -> subprocess.Popen:
    log = open(log_path, "ab")  # noqa: SIM115 - closed with the process by the caller
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "--concurrency",
            str(concurrency),
            "--pool",
            "prefork",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def kill_hard(process: subprocess.Popen) -> None:
    """SIGKILL the worker and its pool children: no cleanup, no acks, like a power cut."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            kill_hard(process)


def purge_queue() -> None:
    from config.celery import app

    with app.connection_for_write() as conn:
        app.control.purge(connection=conn)


def wait_until(predicate, timeout: float, interval: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
