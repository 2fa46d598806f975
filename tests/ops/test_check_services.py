"""``scripts/check_services.py`` (run by ``make test``): says which service is missing."""

from __future__ import annotations

import os
import subprocess
import sys

from django.conf import settings

from tests.servers import free_port

SCRIPT = settings.BASE_DIR / "scripts" / "check_services.py"


def _run(**env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    return subprocess.run(
        [sys.executable, str(SCRIPT)],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _database_url() -> str:
    db = settings.DATABASES["default"]
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/does_not_matter"


def _redis_url() -> str:
    return os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")


def test_it_passes_when_both_services_answer():
    result = _run(DATABASE_URL=_database_url(), REDIS_URL=_redis_url())

    db = settings.DATABASES["default"]
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"PostgreSQL: ok ({db['HOST']}:{db['PORT']})",
        f"Redis: ok ({_redis_url().split('//', 1)[1].split('/', 1)[0]})",
    ]


def test_it_names_postgresql_and_how_to_start_it():
    port = free_port()

    result = _run(DATABASE_URL=f"postgres://postgres@127.0.0.1:{port}/tayori")

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"PostgreSQL at 127.0.0.1:{port} is not reachable: ")
    assert lines[1:] == [
        "Start it with:",
        "  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    ]
    assert result.stdout == ""


def test_it_names_redis_and_how_to_start_it_without_printing_its_password():
    port = free_port()

    result = _run(
        DATABASE_URL=_database_url(), REDIS_URL=f"redis://:hunter2secret@127.0.0.1:{port}/0"
    )

    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0].startswith(f"Redis at 127.0.0.1:{port} is not reachable: ")
    assert lines[1:] == [
        "Start it with:",
        '  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no',
    ]
    assert "hunter2secret" not in result.stderr + result.stdout


def test_it_explains_a_malformed_url():
    result = _run(DATABASE_URL=_database_url(), REDIS_URL="http://not-redis")

    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == "Use the form redis://HOST:PORT/DB"
