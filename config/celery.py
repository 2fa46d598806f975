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
from celery.signals import beat_init, task_postrun, task_prerun, worker_ready

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


# Database connections across tasks. Celery's Django fix-up closes every connection
# before and after every task unless CELERY_DB_REUSE_MAX is set (settings.py sets it
# high): a per-recipient task would otherwise open a new PostgreSQL connection per
# message, which costs more than the message. Django's own rule applies instead, as in
# a request cycle: a connection older than CONN_MAX_AGE, or one that saw an error and no
# longer answers, is closed (and reopened by the next query).
@task_prerun.connect
@task_postrun.connect
def _close_old_connections(**_kwargs) -> None:
    from django.db import close_old_connections

    close_old_connections()
