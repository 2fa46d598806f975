"""Are the services the test suite needs reachable? (``make test`` runs this first.)

Checks PostgreSQL (``DATABASE_URL``; the connection goes to the server's ``postgres``
database, since the suite creates its own test database) and Redis (``REDIS_URL``).
Stops at the first one that is not reachable, saying which and how to start it, and
exits 1; prints one line per service and exits 0 when both answer.
"""

from __future__ import annotations

import os
import sys

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/tayori"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"

START_POSTGRES = "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"
START_REDIS = 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no'
TIMEOUT_SECONDS = 3


def _where(params: dict) -> str:
    return f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}"


class ServiceProblem(Exception):
    """A service is not usable; ``hint`` says what to do about it."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


def check_postgres(url: str) -> str:
    """Connect to the server behind ``url``; returns ``host:port``, raises ``ServiceProblem``."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        params = conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise ServiceProblem(
            f"DATABASE_URL is not a valid PostgreSQL URL: {str(exc).strip()}",
            "Use the form postgres://USER@HOST:PORT/NAME",
        ) from None
    params["dbname"] = "postgres"
    params["connect_timeout"] = TIMEOUT_SECONDS
    try:
        with psycopg.connect(**params) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        text = str(exc).strip()
        reason = text.splitlines()[0] if text else type(exc).__name__
        raise ServiceProblem(
            f"PostgreSQL at {_where(params)} is not reachable: {reason}",
            f"Start it with:\n  {START_POSTGRES}",
        ) from None
    return _where(params)


def check_redis(url: str) -> str:
    """PING the server behind ``url``; returns ``host:port``, raises ``ServiceProblem``."""
    import redis

    try:
        client = redis.Redis.from_url(
            url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
        )
    except ValueError as exc:
        raise ServiceProblem(
            f"REDIS_URL is not a valid Redis URL: {exc}", "Use the form redis://HOST:PORT/DB"
        ) from None
    kwargs = client.connection_pool.connection_kwargs
    where = f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceProblem(
            f"Redis at {where} is not reachable: {exc}", f"Start it with:\n  {START_REDIS}"
        ) from None
    return where


def main() -> int:
    # Credentials in the URLs are never printed: only host and port.
    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    try:
        print(f"PostgreSQL: ok ({check_postgres(database_url)})")
        print(f"Redis: ok ({check_redis(redis_url)})")
    except ServiceProblem as problem:
        print(f"{problem}\n{problem.hint}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
