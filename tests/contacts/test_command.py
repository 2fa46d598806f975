"""``manage.py import_contacts``: the same service as the browser, for operators."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from contacts import services
from contacts.enums import SuppressionReason
from contacts.models import Contact, ContactList, ImportJob
from tests.contacts.conftest import csv_bytes

pytestmark = pytest.mark.django_db


def _call(*args):
    out = io.StringIO()
    call_command("import_contacts", *args, stdout=out)
    return out.getvalue()


def test_command_imports_a_cp932_file_into_a_list(tmp_path, org_a):
    path = tmp_path / "展示会.csv"
    path.write_bytes(
        csv_bytes(
            [["メールアドレス", "姓"], ["a@example.jp", "髙橋"], ["oops", "x"]], encoding="cp932"
        )
    )
    report = tmp_path / "report.csv"
    output = _call("--org", org_a.slug, str(path), "--list", "展示会", "--report", str(report))
    assert output.startswith(
        "Imported: 2 rows: 1 created, 0 updated, 0 unchanged, 1 rejected, 0 merged duplicates"
    )
    assert "line 3: rejected: oops: Not a valid e-mail address" in output
    assert Contact.objects.get().last_name == "髙橋"
    assert list(ContactList.objects.get().contacts.values_list("email", flat=True)) == [
        "a@example.jp"
    ]
    assert report.read_bytes().decode("utf-8-sig").splitlines()[1].startswith("3,rejected,")


def test_command_dry_run_writes_nothing(tmp_path, org_a):
    path = tmp_path / "c.csv"
    path.write_bytes(csv_bytes([["email"], ["a@example.jp"]]))
    output = _call("--org", org_a.slug, str(path), "--list", "New", "--dry-run")
    assert output.startswith("Dry run (nothing written): 1 rows: 1 created")
    assert not Contact.objects.exists()
    assert not ContactList.objects.exists()


def test_command_never_resubscribes_a_suppressed_address(tmp_path, org_a):
    services.add_suppression(org_a, "gone@example.jp", SuppressionReason.COMPLAINT, source="t")
    path = tmp_path / "c.csv"
    path.write_bytes(csv_bytes([["email", "status"], ["gone@example.jp", "subscribed"]]))
    output = _call("--org", org_a.slug, str(path))
    assert "1 rejected" in output
    assert "suppression list (Complaint)" in output
    assert not Contact.objects.exists()


def test_command_refuses_a_file_without_an_email_column(tmp_path, org_a):
    path = tmp_path / "c.csv"
    path.write_bytes(csv_bytes([["name", "phone"], ["A", "1"]]))
    with pytest.raises(CommandError, match="Columns found: “name”, “phone”"):
        _call("--org", org_a.slug, str(path))
    assert not ImportJob.objects.exists()


def test_command_refuses_an_unknown_organisation(tmp_path):
    path = tmp_path / "c.csv"
    path.write_bytes(b"email\na@example.jp\n")
    with pytest.raises(CommandError, match="No active organisation"):
        _call("--org", "nope", str(path))
