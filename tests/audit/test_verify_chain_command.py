"""``verify_audit_chain`` notices altered, inserted and removed entries."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from audit import record
from audit.enums import Action
from audit.models import AuditEntry
from audit.services import compute_hash
from tests.audit.utils import tamper


def _three_entries(organization, actor):
    return [
        record(Action.ROLE_CHANGED, actor=actor, organization=organization, n=n) for n in (1, 2, 3)
    ]


def _verify(*args) -> str:
    out = io.StringIO()
    call_command("verify_audit_chain", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _verify_fails(*args) -> tuple[CommandError, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError) as excinfo:
        call_command("verify_audit_chain", *args, stdout=out, stderr=err)
    return excinfo.value, out.getvalue(), err.getvalue()


def _insert_raw(entry: AuditEntry) -> int:
    """INSERT ``entry``'s fields as a new row with raw SQL; returns the new id."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_auditentry (chain, seq, organization_id, created_at, actor_id, "
            "actor_label, action, target_type, target_id, target_label, ip, user_agent, "
            "details, prev_hash, hash) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, '', '', '', NULL, '', '{}', %s, %s) "
            "RETURNING id",
            [
                entry.chain,
                entry.seq,
                entry.organization_id,
                entry.created_at,
                entry.actor_id,
                entry.actor_label,
                entry.action,
                entry.prev_hash,
                entry.hash,
            ],
        )
        return cursor.fetchone()[0]


def _make_room_at_seq_2(chain: str) -> None:
    # Two steps, because the (chain, seq) unique constraint is checked row by row.
    tamper("UPDATE audit_auditentry SET seq = seq + 1000 WHERE chain = %s AND seq >= 2", [chain])
    tamper("UPDATE audit_auditentry SET seq = seq - 999 WHERE chain = %s AND seq >= 1000", [chain])


def test_verify_audit_chain_passes_on_intact_chains(admin, org_a, outsider, org_b):
    _three_entries(org_a, admin.user)
    _three_entries(org_b, outsider.user)

    output = _verify()

    assert output.splitlines() == [
        f"org:{org_a.pk}: intact (3 entries)",
        f"org:{org_b.pk}: intact (3 entries)",
        "2 chain(s) verified.",
    ]


def test_verify_audit_chain_with_org_checks_only_that_chain(admin, org_a, outsider, org_b):
    _three_entries(org_a, admin.user)
    _three_entries(org_b, outsider.user)

    output = _verify("--org", org_b.slug)

    assert output.splitlines() == [f"org:{org_b.pk}: intact (3 entries)", "1 chain(s) verified."]


def test_verify_audit_chain_rejects_an_unknown_slug(org_a):
    error, out, _err = _verify_fails("--org", "no-such-org")

    assert str(error) == "No organisation with the slug 'no-such-org'."
    assert error.returncode == 1
    assert out == ""


def test_verify_audit_chain_catches_an_altered_entry(admin, org_a):
    _first, second, _third = _three_entries(org_a, admin.user)

    tamper(
        "UPDATE audit_auditentry SET actor_label = %s WHERE id = %s",
        ["someone-else@a.example", second.pk],
    )
    error, _out, err = _verify_fails()

    expected = (
        f"chain org:{org_a.pk} BROKEN: entry id {second.pk}, seq 2: content does not match its hash"
    )
    assert error.returncode == 1
    assert str(error) == f"1 of 1 audit chain(s) broken; first bad entry: {expected}"
    assert err.splitlines() == [expected]


def test_verify_audit_chain_catches_an_inserted_entry_with_a_forged_hash(admin, org_a):
    first, _second, _third = _three_entries(org_a, admin.user)
    chain = f"org:{org_a.pk}"
    _make_room_at_seq_2(chain)

    forged = AuditEntry(
        chain=chain,
        seq=2,
        organization=org_a,
        created_at=first.created_at,
        actor=admin.user,
        actor_label=admin.user.email,
        action=Action.ROLE_CHANGED,
        prev_hash=first.hash,
        hash="f" * 64,
    )
    forged_id = _insert_raw(forged)
    error, _out, _err = _verify_fails()

    assert error.returncode == 1
    assert str(error).endswith(
        f"chain {chain} BROKEN: entry id {forged_id}, seq 2: content does not match its hash"
    )


def test_verify_audit_chain_catches_an_inserted_entry_even_with_a_valid_hash(admin, org_a):
    # Someone who also holds AUDIT_CHAIN_KEY can hash the inserted entry correctly; the
    # next entry still links to the hash it was written after.
    first, second, _third = _three_entries(org_a, admin.user)
    chain = f"org:{org_a.pk}"
    _make_room_at_seq_2(chain)
    inserted = AuditEntry(
        chain=chain,
        seq=2,
        organization=org_a,
        created_at=first.created_at,
        actor=admin.user,
        actor_label=admin.user.email,
        action=Action.ROLE_CHANGED,
        prev_hash=first.hash,
    )
    inserted.hash = compute_hash(inserted)
    _insert_raw(inserted)

    error, _out, _err = _verify_fails()

    assert error.returncode == 1
    assert str(error).endswith(
        f"chain {chain} BROKEN: entry id {second.pk}, seq 3: "
        "does not link to the previous entry's hash"
    )


def test_verify_audit_chain_catches_a_deleted_middle_entry(admin, org_a):
    _first, second, third = _three_entries(org_a, admin.user)

    tamper("DELETE FROM audit_auditentry WHERE id = %s", [second.pk])
    error, _out, _err = _verify_fails()

    assert error.returncode == 1
    assert str(error).endswith(
        f"chain org:{org_a.pk} BROKEN: entry id {third.pk}, seq 3: expected sequence 2, found 3"
    )


def test_verify_audit_chain_catches_a_deleted_last_entry(admin, org_a):
    _first, _second, third = _three_entries(org_a, admin.user)

    tamper("DELETE FROM audit_auditentry WHERE id = %s", [third.pk])
    error, _out, _err = _verify_fails()

    assert error.returncode == 1
    assert str(error).endswith(
        f"chain org:{org_a.pk} BROKEN: entry id none (the chain's end), seq 3: "
        "chain head is at 3 but entries end at 2"
    )


def test_chains_of_two_organizations_are_independent(admin, org_a, outsider, org_b):
    a_entries = _three_entries(org_a, admin.user)
    b_entries = _three_entries(org_b, outsider.user)

    tamper("DELETE FROM audit_auditentry WHERE id = %s", [a_entries[0].pk])

    assert [e.seq for e in b_entries] == [1, 2, 3]
    assert _verify("--org", org_b.slug).splitlines()[0] == f"org:{org_b.pk}: intact (3 entries)"
    error, out, err = _verify_fails()
    assert out.splitlines() == [f"org:{org_b.pk}: intact (3 entries)"]
    assert err.splitlines() == [
        f"chain org:{org_a.pk} BROKEN: entry id {a_entries[1].pk}, seq 2: "
        "expected sequence 1, found 2"
    ]
    assert str(error).startswith("1 of 2 audit chain(s) broken")
    a_only_error, _out, _err = _verify_fails("--org", org_a.slug)
    assert a_only_error.returncode == 1


def test_verify_audit_chain_covers_the_platform_chain(db):
    unknown = record(Action.LOGIN_FAILED, actor="nobody@x.example", organization=None)

    tamper(
        "UPDATE audit_auditentry SET actor_label = %s WHERE id = %s", ["x@x.example", unknown.pk]
    )
    error, _out, _err = _verify_fails()

    assert str(error).endswith(
        f"chain platform BROKEN: entry id {unknown.pk}, seq 1: content does not match its hash"
    )
