"""Concurrent writers extend one chain one entry at a time."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from audit import record
from audit.models import AuditEntry
from audit.services import chain_for, verify_chain
from tests.factories import make_organization

THREADS = 4
RECORDS_PER_THREAD = 10


@pytest.mark.django_db(transaction=True)
def test_chain_stays_intact_with_concurrent_writers():
    organization = make_organization("concurrent")
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def write(thread: int) -> None:
        try:
            start.wait()
            for n in range(RECORDS_PER_THREAD):
                record("test_concurrent", actor=None, organization=organization, thread=thread, n=n)
        except BaseException as error:  # reported to the test below, not swallowed
            errors.append(error)
        finally:
            connection.close()  # each thread opened its own connection

    threads = [threading.Thread(target=write, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    chain = chain_for(organization)
    entries = list(AuditEntry.objects.filter(chain=chain).order_by("seq"))
    assert [e.seq for e in entries] == list(range(1, THREADS * RECORDS_PER_THREAD + 1))
    assert verify_chain(chain) is None
    per_thread = sorted(
        (t, sum(1 for e in entries if e.details["thread"] == t)) for t in range(THREADS)
    )
    assert per_thread == [(t, RECORDS_PER_THREAD) for t in range(THREADS)]
