"""The audit tables refuse UPDATE and DELETE at the database, and the ORM refuses too."""

from __future__ import annotations

import psycopg
import pytest
from auditlog.models import LogEntry
from django.db import ProgrammingError, connection, transaction

from audit import record
from audit.enums import Action
from audit.models import AppendOnlyError, AuditEntry


def _refused(sql: str, params) -> psycopg.errors.InsufficientPrivilege:
    # The savepoint (atomic) keeps the test's own transaction usable after the error.
    with (
        pytest.raises(ProgrammingError) as excinfo,
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(sql, params)
    cause = excinfo.value.__cause__
    assert isinstance(cause, psycopg.errors.InsufficientPrivilege)
    assert "append-only" in str(excinfo.value)
    return cause


@pytest.fixture
def entry(admin, org_a):
    return record(
        Action.ROLE_CHANGED, actor=admin.user, organization=org_a, target=admin, before="x"
    )


def test_raw_update_of_audit_entry_is_refused_by_the_database(entry):
    cause = _refused("UPDATE audit_auditentry SET action = %s WHERE id = %s", ["forged", entry.pk])

    assert cause.diag.message_primary == (
        "audit log is append-only: UPDATE on audit_auditentry refused"
    )
    assert AuditEntry.objects.get(pk=entry.pk).action == Action.ROLE_CHANGED


def test_raw_delete_of_audit_entry_is_refused_by_the_database(entry):
    cause = _refused("DELETE FROM audit_auditentry WHERE id = %s", [entry.pk])

    assert cause.diag.message_primary == (
        "audit log is append-only: DELETE on audit_auditentry refused"
    )
    assert AuditEntry.objects.filter(pk=entry.pk).count() == 1


def test_raw_update_of_auditlog_entry_is_refused_by_the_database(org_a):
    log_entry = LogEntry.objects.get_for_object(org_a).get()

    cause = _refused(
        "UPDATE auditlog_logentry SET object_repr = %s WHERE id = %s", ["forged", log_entry.pk]
    )

    assert cause.diag.message_primary == (
        "audit log is append-only: UPDATE on auditlog_logentry refused"
    )
    assert LogEntry.objects.get(pk=log_entry.pk).object_repr == "Organisation A"


def test_raw_delete_of_auditlog_entry_is_refused_by_the_database(org_a):
    log_entry = LogEntry.objects.get_for_object(org_a).get()

    cause = _refused("DELETE FROM auditlog_logentry WHERE id = %s", [log_entry.pk])

    assert cause.diag.message_primary == (
        "audit log is append-only: DELETE on auditlog_logentry refused"
    )
    assert LogEntry.objects.filter(pk=log_entry.pk).count() == 1


def test_model_save_of_existing_entry_is_refused(entry):
    entry.action = "forged"

    with pytest.raises(AppendOnlyError):
        entry.save()

    assert AuditEntry.objects.get(pk=entry.pk).action == Action.ROLE_CHANGED


def test_model_delete_is_refused(entry):
    with pytest.raises(AppendOnlyError):
        entry.delete()

    assert AuditEntry.objects.filter(pk=entry.pk).count() == 1


def test_queryset_update_is_refused(entry):
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).update(action="forged")

    assert AuditEntry.objects.get(pk=entry.pk).action == Action.ROLE_CHANGED


def test_queryset_delete_is_refused(entry):
    with pytest.raises(AppendOnlyError):
        AuditEntry.objects.filter(pk=entry.pk).delete()

    assert AuditEntry.objects.filter(pk=entry.pk).count() == 1


def test_bulk_update_is_refused(entry):
    entry.action = "forged"

    # bulk_update() joins the caller's transaction (savepoint=False): give it its own.
    with pytest.raises(AppendOnlyError), transaction.atomic():
        AuditEntry.objects.bulk_update([entry], ["action"])

    assert AuditEntry.objects.get(pk=entry.pk).action == Action.ROLE_CHANGED


@pytest.mark.django_db
def test_chain_head_cannot_be_rolled_back_or_deleted(org_a, admin):
    record(Action.POLICY_CHANGED, actor=admin.user, organization=org_a)
    record(Action.POLICY_CHANGED, actor=admin.user, organization=org_a)
    chain = f"org:{org_a.pk}"
    for statement in (
        "UPDATE audit_auditchainhead SET seq = seq - 1 WHERE chain = %s",
        "UPDATE audit_auditchainhead SET seq = seq + 1 WHERE chain = %s",
        "DELETE FROM audit_auditchainhead WHERE chain = %s",
    ):
        with (
            pytest.raises(ProgrammingError, match="audit chain head"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [chain])
