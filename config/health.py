"""``/healthz``: is every part of the running product up?

Public (load balancers call it) and reveals nothing but up/down per part: no versions,
host names, error texts or timings. 200 when every part is up, 503 otherwise.

Parts: ``database``; ``redis`` (only with ``REDIS_URL``); ``broker``; ``worker`` and
``beat`` (a heartbeat they write into the cache at most ``HEALTH_STALE_AFTER`` seconds
ago, see ``config.celery``); ``smtp_sink`` (only with ``SMTP_SINK_ENABLED``: it answers
EHLO and offers STARTTLS).
"""

from __future__ import annotations

import os
import smtplib
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache


def _database() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            return cursor.fetchone() == (1,)
    except Exception:
        return False


def _redis() -> bool | None:
    if not settings.REDIS_URL:
        return None  # not used: `make run` without REDIS_URL has no Redis
    try:
        import redis

        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2).ping())
    except Exception:
        return False


def _broker() -> bool:
    from config.celery import app

    if settings.CELERY_BROKER_URL.startswith("filesystem://"):
        # kombu's filesystem transport "connects" without touching the disk; what can
        # actually fail is the spool folder the web and the worker share.
        options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
        folders = {options.get("data_folder_in"), options.get("data_folder_out")}
        return all(
            folder and os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)
            for folder in folders
        )
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


def _heartbeat(key: str) -> bool:
    try:
        last = float(cache.get(key))
    except Exception:  # cache down, no heartbeat yet (None) or garbage: all mean "down"
        return False
    return time.time() - last < settings.HEALTH_STALE_AFTER


def _smtp_sink() -> bool | None:
    if not settings.SMTP_SINK_ENABLED:
        return None
    try:
        with smtplib.SMTP(settings.SMTP_SINK_HOST, settings.SMTP_SINK_PORT, timeout=3) as smtp:
            smtp.ehlo()
            return smtp.has_extn("starttls")
    except (OSError, smtplib.SMTPException):
        return False


@never_cache
def healthz(request):
    checks = {
        "database": _database(),
        "redis": _redis(),
        "broker": _broker(),
        "worker": _heartbeat("health:worker"),
        "beat": _heartbeat("health:beat"),
        "smtp_sink": _smtp_sink(),
    }
    parts = {name: ("up" if ok else "down") for name, ok in checks.items() if ok is not None}
    healthy = all(value == "up" for value in parts.values())
    return JsonResponse(
        {"status": "ok" if healthy else "degraded", "parts": parts},
        status=200 if healthy else 503,
    )
