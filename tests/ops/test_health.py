"""``/healthz``: public, up/down per part and nothing else, 503 unless everything is up."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache
from django.test import Client

HEARTBEATS = ("health:worker", "health:beat")


@pytest.fixture(autouse=True)
def _real_redis(settings):
    # The expected parts below include Redis and a Redis broker, as in production.
    assert settings.REDIS_URL, "the suite runs against real Redis: set REDIS_URL (make test does)"


@pytest.fixture
def no_heartbeats():
    for key in HEARTBEATS:
        cache.delete(key)
    yield
    for key in HEARTBEATS:
        cache.delete(key)


@pytest.fixture
def fresh_heartbeats(no_heartbeats):
    for key in HEARTBEATS:
        cache.set(key, time.time(), timeout=None)


@pytest.mark.django_db
def test_worker_and_beat_are_down_without_heartbeats(no_heartbeats):
    response = Client().get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "degraded",
        "parts": {
            "database": "up",
            "redis": "up",
            "broker": "up",
            "worker": "down",
            "beat": "down",
        },
    }


@pytest.mark.django_db
def test_everything_is_up_with_fresh_heartbeats(fresh_heartbeats):
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "parts": {"database": "up", "redis": "up", "broker": "up", "worker": "up", "beat": "up"},
    }


@pytest.mark.django_db
def test_a_stale_heartbeat_is_down(settings, fresh_heartbeats):
    cache.set("health:beat", time.time() - settings.HEALTH_STALE_AFTER - 1, timeout=None)

    response = Client().get("/healthz")

    assert response.status_code == 503
    assert response.json()["parts"]["beat"] == "down"
    assert response.json()["parts"]["worker"] == "up"


@pytest.mark.django_db
def test_a_garbage_heartbeat_is_down_not_an_error(fresh_heartbeats):
    cache.set("health:worker", "not a time", timeout=None)

    response = Client().get("/healthz")

    assert response.status_code == 503
    assert response.json()["parts"]["worker"] == "down"


@pytest.mark.django_db
def test_it_is_public_and_reveals_nothing_else(fresh_heartbeats):
    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert "no-cache" in response["Cache-Control"]
    assert response.cookies == {}
    assert set(response.json()) == {"status", "parts"}
    assert set(response.json()["parts"].values()) == {"up"}


@pytest.mark.django_db
def test_the_sink_is_checked_when_enabled(settings, fresh_heartbeats, sink):
    settings.SMTP_SINK_ENABLED = True
    settings.SMTP_SINK_HOST, settings.SMTP_SINK_PORT = sink

    response = Client().get("/healthz")

    assert response.status_code == 200
    assert response.json()["parts"]["smtp_sink"] == "up"


@pytest.mark.django_db
def test_a_sink_without_starttls_is_down(settings, fresh_heartbeats, plain_smtp):
    settings.SMTP_SINK_ENABLED = True
    settings.SMTP_SINK_HOST, settings.SMTP_SINK_PORT = plain_smtp

    response = Client().get("/healthz")

    assert response.status_code == 503
    assert response.json()["parts"]["smtp_sink"] == "down"


@pytest.mark.django_db
def test_a_sink_that_does_not_answer_is_down(settings, fresh_heartbeats):
    from tests.servers import free_port

    settings.SMTP_SINK_ENABLED = True
    settings.SMTP_SINK_HOST, settings.SMTP_SINK_PORT = "127.0.0.1", free_port()

    response = Client().get("/healthz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "degraded",
        "parts": {
            "database": "up",
            "redis": "up",
            "broker": "up",
            "worker": "up",
            "beat": "up",
            "smtp_sink": "down",
        },
    }


@pytest.mark.django_db
def test_a_missing_filesystem_broker_spool_is_down(settings, fresh_heartbeats, tmp_path):
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "queue"),
        "data_folder_out": str(tmp_path / "queue"),
    }

    missing = Client().get("/healthz").json()["parts"]["broker"]
    (tmp_path / "queue").mkdir()
    present = Client().get("/healthz").json()["parts"]["broker"]

    assert (missing, present) == ("down", "up")
