"""The Celery app. Tasks are thin doors onto services (see DESIGN.md).

The worker and beat each write a heartbeat into the cache so ``/healthz`` can say whether
they are alive without needing a broadcast channel (the serverless filesystem broker used
by ``make run`` has none).
"""

from __future__ import annotations

import os
import threading
import time

from celery import Celery
from celery.signals import beat_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("tayori")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

HEARTBEAT_INTERVAL = 10


def _beat_forever(key: str) -> None:
    from django.core.cache import cache

    while True:
        cache.set(key, time.time(), timeout=None)
        time.sleep(HEARTBEAT_INTERVAL)


def _start_heartbeat(key: str) -> None:
    threading.Thread(target=_beat_forever, args=(key,), daemon=True, name=key).start()


@worker_ready.connect
def _worker_heartbeat(**_kwargs) -> None:
    _start_heartbeat("health:worker")


@beat_init.connect
def _beat_heartbeat(**_kwargs) -> None:
    _start_heartbeat("health:beat")
