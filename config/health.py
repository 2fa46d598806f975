"""``/healthz``: is every part of the running product up?

Public (load balancers call it) and reveals nothing but up/down per part. 200 when every
part is up, 503 otherwise.
"""

from __future__ import annotations

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

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
        return True
    except Exception:
        return False


def _heartbeat(key: str) -> bool:
    try:
        last = cache.get(key)
    except Exception:
        return False
    return last is not None and time.time() - float(last) < settings.HEALTH_STALE_AFTER


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
