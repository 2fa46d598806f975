"""Celery's configuration and its Redis transport (config/celery.py, config/broker.py),
against the suite's real Redis."""

from __future__ import annotations

from django.conf import settings

from config.broker import Transport
from config.celery import CELERY_SETTINGS, app


def test_celery_reads_every_celery_setting_from_django_settings():
    names = sorted(name for name in dir(settings) if name.startswith("CELERY_"))

    assert sorted(CELERY_SETTINGS) == names
    assert {name: CELERY_SETTINGS[name] for name in names} == {
        name: getattr(settings, name) for name in names
    }
    assert (
        app.conf.task_acks_late,
        app.conf.task_reject_on_worker_lost,
        app.conf.worker_prefetch_multiplier,
        app.conf.task_ignore_result,
    ) == (True, True, 1, True)


def test_the_redis_broker_shares_one_client_per_channel():
    with app.connection_for_write() as connection:
        assert connection.transport_cls == "config.broker:Transport"
        assert isinstance(connection.transport, Transport)
        channel = connection.default_channel
        with channel.conn_or_acquire() as first, channel.conn_or_acquire() as second:
            assert first is second
            assert first.ping() is True
        given = object()
        with channel.conn_or_acquire(given) as passed:
            assert passed is given
        # A replaced pool (kombu drops it after a connection error) gets a new client.
        channel._pool = None
        with channel.conn_or_acquire() as third:
            assert third is not first
            assert third.connection_pool is channel.pool
            assert third.ping() is True
