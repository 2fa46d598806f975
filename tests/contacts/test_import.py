# ruff: noqa: RUF001 - full-width characters are the input under test
"""CSV import rules, from real bytes, through both engines (PostgreSQL COPY and ORM)."""

from __future__ import annotations

import codecs

import pytest

from accounts.enums import Role
from audit.enums import Action
from audit.models import AuditEntry
from contacts import services
from contacts.enums import ContactStatus, FieldType, ImportStatus, SuppressionReason
from contacts.importing import ImportFileError, create_import_job, execute_import
from contacts.models import (
    Contact,
    ContactEvent,
    ContactList,
    ImportJob,
    ListMembership,
    Suppression,
)
from tests.contacts.conftest import csv_bytes, report_rows, run_import, run_member_import
from tests.factories import make_member, make_organization

pytestmark = pytest.mark.django_db

NEC_IBM = "①㈱髙﨑"


def _contacts(org):
    return {
        c.email: (c.last_name, c.first_name, c.company, c.status)
        for c in Contact.objects.filter(organization=org)
    }


def test_cp932_file_with_japanese_headers_imports_and_reports_every_rejected_row(engine, org_a):
    data = csv_bytes(
        [
            ["メールアドレス", "姓", "名", "会社名", "電話番号"],
            ["taro@example.jp", "髙橋", "太郎", f"{NEC_IBM}商事", "03-1234-5678"],
            ["not-an-address", "山田", "花子", "", ""],
            ["", "空", "欄", "", ""],
            ["jiro@例え.jp", "鈴木", "次郎", "", ""],
            ["taro..old.@docomo.ne.jp", "古い", "携帯", "", ""],
        ],
        encoding="cp932",
    )
    job = run_import(org_a, data)
    assert job.status == ImportStatus.DONE
    assert job.encoding == "cp932"
    assert _contacts(org_a) == {
        "taro@example.jp": ("髙橋", "太郎", f"{NEC_IBM}商事", "subscribed"),
        "jiro@xn--r8jz45g.jp": ("鈴木", "次郎", "", "subscribed"),
        "taro..old.@docomo.ne.jp": ("古い", "携帯", "", "subscribed"),
    }
    assert {k: job.counts[k] for k in ("rows", "created", "rejected", "warnings")} == {
        "rows": 5,
        "created": 3,
        "rejected": 2,
        "warnings": 1,
    }
    rows = report_rows(job)
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [
        ("3", "rejected", "メールアドレス", "not-an-address"),
        ("4", "rejected", "メールアドレス", ""),
        ("6", "warning", "", ""),
    ]
    assert rows[0][5].startswith("Not a valid e-mail address")
    assert rows[1][5] == "No e-mail address."
    assert "Old Japanese mobile address" in rows[2][5]


def test_utf8_bom_file_with_quoted_line_breaks_reports_physical_line_numbers(engine, org_a):
    text = (
        "email,company,last_name\r\n"
        'a@example.jp,"Line one\r\nLine two",A\r\n'
        "\r\n"
        'bad@@example.jp,"x, y",B\r\n'
        'c@example.jp,"multi\nline\nthree",C\r\n'
        "also bad,,D\r\n"
    )
    data = codecs.BOM_UTF8 + text.encode()
    job = run_import(org_a, data)
    assert job.encoding == "utf-8-sig"
    assert [(r[0], r[4]) for r in report_rows(job)] == [("5", "bad@@example.jp"), ("9", "also bad")]
    assert Contact.objects.get(email="a@example.jp").company == "Line one\r\nLine two"
    assert job.counts["created"] == 2


def test_duplicate_rows_are_merged_into_the_first_and_reported(engine, org_a):
    data = csv_bytes(
        [
            ["email", "last_name", "company", "tags"],
            ["dup@example.jp", "First", "", "a"],
            ["other@example.jp", "Other", "", ""],
            ["DUP@example.jp", "", "Later Co", "b"],
            ["dup@example.jp", "Last", "", "a"],
        ]
    )
    job = run_import(org_a, data)
    assert job.counts["created"] == 2
    assert job.counts["merged"] == 2
    contact = Contact.objects.get(organization=org_a, email__iexact="dup@example.jp")
    assert (contact.last_name, contact.company) == ("Last", "Later Co")
    assert sorted(contact.tags.values_list("name", flat=True)) == ["a", "b"]
    assert [(r[0], r[1], r[5]) for r in report_rows(job)] == [
        ("4", "merged", "Same address as line 2: merged into that row."),
        ("5", "merged", "Same address as line 2: merged into that row."),
    ]


def test_reimport_upserts_and_empty_cells_keep_stored_values(engine, org_a):
    run_import(org_a, csv_bytes([["email", "姓", "会社名"], ["t@example.jp", "山田", "旧社名"]]))
    job = run_import(
        org_a,
        csv_bytes(
            [
                ["email", "姓", "会社名"],
                ["T@EXAMPLE.JP", "", "新社名"],
                ["new@example.jp", "新規", ""],
                ["same@example.jp", "", ""],
            ]
        ),
    )
    assert job.counts == {
        "rows": 3,
        "created": 2,
        "updated": 1,
        "unchanged": 0,
        "rejected": 0,
        "merged": 0,
        "warnings": 0,
        "added_to_list": 0,
        "suppressed": 0,
    }
    assert _contacts(org_a)["t@example.jp"] == ("山田", "", "新社名", "subscribed")
    again = run_import(org_a, csv_bytes([["email", "姓"], ["t@example.jp", "山田"]]))
    assert (again.counts["updated"], again.counts["unchanged"]) == (0, 1)


def test_dry_run_counts_exactly_what_the_import_does_and_writes_nothing(engine, org_a):
    run_import(org_a, csv_bytes([["email", "会社名"], ["old@example.jp", "A"]]))
    data = csv_bytes(
        [
            ["email", "会社名"],
            ["old@example.jp", "B"],
            ["new@example.jp", ""],
            ["broken", ""],
        ]
    )
    before = (Contact.objects.count(), ContactList.objects.count(), AuditEntry.objects.count())
    dry = run_import(org_a, data, dry_run=True, list_name="Never created")
    assert dry.status == ImportStatus.READY
    assert {k: dry.dry_run_counts[k] for k in ("created", "updated", "unchanged", "rejected")} == {
        "created": 1,
        "updated": 1,
        "unchanged": 0,
        "rejected": 1,
    }
    assert (
        Contact.objects.count(),
        ContactList.objects.count(),
        AuditEntry.objects.count(),
    ) == before
    assert Contact.objects.get(email="old@example.jp").company == "A"
    real = run_import(org_a, data)
    assert {k: real.counts[k] for k in ("created", "updated", "rejected")} == {
        "created": 1,
        "updated": 1,
        "rejected": 1,
    }


def test_file_without_an_email_column_is_refused_before_anything_is_written(engine, org_a):
    data = csv_bytes([["氏名", "会社名", "電話番号"], ["山田", "たより", "03"]], encoding="cp932")
    with pytest.raises(ImportFileError) as raised:
        run_import(org_a, data, list_name="L")
    assert raised.value.messages == [
        "The file has no e-mail address column. Columns found: “氏名”, “会社名”, “電話番号”."
    ]
    assert ImportJob.objects.count() == 0
    assert ContactList.objects.count() == 0
    assert Contact.objects.count() == 0


def test_suppressed_address_stays_suppressed_through_delete_and_reimport(engine, org_a, admin):
    run_import(org_a, csv_bytes([["email"], ["gone@example.jp"]]))
    services.suppress_address(admin, "gone@example.jp", SuppressionReason.UNSUBSCRIBED)
    contact = Contact.objects.get(email="gone@example.jp")
    assert contact.status == ContactStatus.UNSUBSCRIBED
    services.delete_contact(admin, contact)

    job = run_import(
        org_a,
        csv_bytes([["email", "status"], ["Gone@Example.jp", "subscribed"], ["ok@example.jp", ""]]),
    )
    assert not Contact.objects.filter(email__iexact="gone@example.jp").exists()
    assert job.counts["rejected"] == 1
    rejected = report_rows(job)[0]
    assert rejected[:3] == ["2", "rejected", "Gone@example.jp"]
    assert rejected[5].startswith("The address is on the suppression list (Unsubscribed)")
    assert Suppression.objects.active().for_address("gone@example.jp").count() == 1


def test_the_member_door_also_never_resubscribes(engine, org_a, marketer):
    services.add_suppression(org_a, "x@example.jp", SuppressionReason.HARD_BOUNCE, source="test")
    job = run_member_import(marketer, csv_bytes([["email"], ["x@example.jp"]]))
    assert job.counts["rejected"] == 1
    assert not Contact.objects.filter(email="x@example.jp").exists()


def test_status_in_the_file_suppresses_and_never_resubscribes(engine, org_a):
    job = run_import(
        org_a,
        csv_bytes(
            [
                ["email", "配信状態"],
                ["stop@example.jp", "配信停止"],
                ["bounce@example.jp", "bounced"],
                ["fine@example.jp", "購読中"],
                ["what@example.jp", "maybe"],
            ],
            encoding="cp932",
        ),
    )
    assert job.counts["suppressed"] == 2
    assert _contacts(org_a) == {
        "stop@example.jp": ("", "", "", "unsubscribed"),
        "bounce@example.jp": ("", "", "", "bounced"),
        "fine@example.jp": ("", "", "", "subscribed"),
    }
    assert report_rows(job)[0][4] == "maybe"
    reasons = dict(Suppression.objects.values_list("address", "reason"))
    assert reasons == {"stop@example.jp": "unsubscribed", "bounce@example.jp": "hard_bounce"}
    again = run_import(org_a, csv_bytes([["email", "status"], ["stop@example.jp", "subscribed"]]))
    assert again.counts["rejected"] == 1
    assert Contact.objects.get(email="stop@example.jp").status == ContactStatus.UNSUBSCRIBED


def test_max_contacts_rejects_rows_over_the_limit_in_file_order(engine):
    org = make_organization("small", max_contacts=3)
    run_import(org, csv_bytes([["email"], ["a@example.jp"]]))
    job = run_import(
        org,
        csv_bytes(
            [["email"], ["b@example.jp"], ["a@example.jp"], ["c@example.jp"], ["d@example.jp"]]
        ),
    )
    assert sorted(Contact.objects.filter(organization=org).values_list("email", flat=True)) == [
        "a@example.jp",
        "b@example.jp",
        "c@example.jp",
    ]
    assert (job.counts["created"], job.counts["unchanged"], job.counts["rejected"]) == (2, 1, 1)
    line, _result, email, *_rest, message = report_rows(job)[0]
    assert (line, email) == ("5", "d@example.jp")
    assert message.startswith("Over your plan's limit of 3 contacts")


def test_custom_attributes_are_validated_against_their_definition(engine, org_a, admin):
    services.create_custom_field(admin, key="birthday", label="誕生日", field_type=FieldType.DATE)
    services.create_custom_field(admin, key="visits", label="来店回数", field_type=FieldType.NUMBER)
    services.create_custom_field(
        admin, key="plan", label="プラン", field_type=FieldType.CHOICE, choices=["Gold", "Silver"]
    )
    job = run_import(
        org_a,
        csv_bytes(
            [
                ["email", "誕生日", "来店回数", "プラン"],
                ["a@example.jp", "1990年4月1日", "１，２３４", "gold"],
                ["b@example.jp", "1990/02/30", "", ""],
                ["c@example.jp", "", "many", ""],
                ["d@example.jp", "", "", "Bronze"],
            ]
        ),
    )
    assert Contact.objects.get(email="a@example.jp").attributes == {
        "birthday": "1990-04-01",
        "visits": 1234,
        "plan": "Gold",
    }
    assert [(r[0], r[3], r[5]) for r in report_rows(job)] == [
        ("3", "誕生日", "誕生日: Not a date (use YYYY-MM-DD)."),
        ("4", "来店回数", "来店回数: Not a number."),
        ("5", "プラン", "プラン: Not one of the choices (Gold, Silver)."),
    ]


def test_import_into_a_list_adds_members_and_records_history(engine, org_a):
    run_import(org_a, csv_bytes([["email"], ["old@example.jp"]]))
    job = run_import(
        org_a,
        csv_bytes([["email", "tags"], ["old@example.jp", "VIP"], ["new@example.jp", ""]]),
        list_name="展示会",
    )
    contact_list = ContactList.objects.get(organization=org_a, name="展示会")
    assert set(contact_list.contacts.values_list("email", flat=True)) == {
        "old@example.jp",
        "new@example.jp",
    }
    assert job.counts["added_to_list"] == 2
    assert job.counts["updated"] == 1  # a new tag is a change
    new = Contact.objects.get(email="new@example.jp")
    assert new.import_job_id == job.pk
    assert new.consent_evidence == "c.csv"
    event = ContactEvent.objects.get(contact__email="old@example.jp", import_job=job)
    assert event.details["list"] == "展示会"
    entry = AuditEntry.objects.get(action=Action.CONTACTS_IMPORTED, target_id=str(job.pk))
    assert entry.details["file"] == "c.csv"
    assert entry.details["created"] == 1
    assert entry.actor_label == "manage.py import_contacts"


def test_a_failure_midway_leaves_the_database_as_it_was(engine, org_a, monkeypatch):
    data = csv_bytes([["email"], ["a@example.jp"], ["b@example.jp"]])

    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    # The one stand-in here: a failure in the middle of an import (a full disk, a dropped
    # connection) cannot be caused on demand, so one step of the real engine raises.
    # Fail after the contacts are written, before the list memberships.
    target = "_add_to_list" if engine.__name__.endswith("postgres") else "empty_counts"
    monkeypatch.setattr(engine, target, explode)
    job = run_import(org_a, data, list_name="L")
    assert job.status == ImportStatus.FAILED
    assert job.error == "The import failed and nothing was changed: disk full"
    assert Contact.objects.count() == 0
    assert ListMembership.objects.count() == 0
    assert not AuditEntry.objects.filter(action=Action.CONTACTS_IMPORTED).exists()


def test_the_file_is_deleted_once_imported_and_kept_until_then(engine, org_a):
    data = csv_bytes([["email"], ["a@example.jp"]])
    dry = run_import(org_a, data, dry_run=True)
    assert bytes(ImportJob.objects.get(pk=dry.pk).file_data) == data
    done = run_import(org_a, data)
    job = ImportJob.objects.get(pk=done.pk)
    assert bytes(job.file_data) == b""
    assert (job.file_name, job.file_size, job.counts["created"]) == ("c.csv", len(data), 1)


def test_a_redelivered_task_does_not_import_twice(engine, org_a):
    job = run_import(org_a, csv_bytes([["email"], ["a@example.jp"]]))
    again = execute_import(job.pk, dry_run=False)
    assert again.status == ImportStatus.DONE
    assert AuditEntry.objects.filter(action=Action.CONTACTS_IMPORTED).count() == 1


def test_restricted_list_contacts_the_importer_cannot_change_are_rejected(
    engine, org_a, admin, marketer
):
    secret = services.create_list(admin, "Board", is_restricted=True)
    contact = services.create_contact(
        admin, services.ContactInput(email="ceo@example.jp", lists=[secret])
    )
    job = run_member_import(
        marketer, csv_bytes([["email", "company"], ["ceo@example.jp", "Leak Co"]])
    )
    assert job.counts["rejected"] == 1
    contact.refresh_from_db()
    assert contact.company == ""
    assert "restricted list" in report_rows(job)[0][5]


def test_html_in_cells_is_stored_as_text(engine, org_a):
    run_import(org_a, csv_bytes([["email", "姓"], ["x@example.jp", "<script>alert(1)</script>"]]))
    assert Contact.objects.get(email="x@example.jp").last_name == "<script>alert(1)</script>"


def test_report_cells_are_neutralised_for_excel(engine, org_a):
    job = run_import(org_a, csv_bytes([["email"], ['=HYPERLINK("http://evil")']]))
    assert report_rows(job)[0][4] == '\'=HYPERLINK("http://evil")'


def test_a_member_who_lost_the_import_permission_cannot_run_the_queued_import(
    engine, org_a, marketer
):
    job = create_import_job(
        marketer, file_name="c.csv", data=csv_bytes([["email"], ["a@example.jp"]])
    )
    job.status = ImportStatus.QUEUED
    job.save(update_fields=["status"])
    marketer.role = Role.VIEWER
    marketer.save(update_fields=["role"])
    job = execute_import(job.pk, dry_run=False)
    assert job.status == ImportStatus.FAILED
    assert job.error == "marketer@a.example may no longer import contacts."
    assert not Contact.objects.exists()


def test_imports_stay_within_their_organisation(engine, org_a, org_b):
    run_import(org_b, csv_bytes([["email", "会社名"], ["shared@example.jp", "B社"]]))
    job = run_import(org_a, csv_bytes([["email", "会社名"], ["shared@example.jp", "A社"]]))
    assert job.counts["created"] == 1
    assert Contact.objects.get(organization=org_b).company == "B社"
    assert Contact.objects.get(organization=org_a).company == "A社"


def test_member_import_with_a_manual_mapping(engine, org_a, marketer):
    data = csv_bytes([["連絡先", "備考"], ["a@example.jp", "山田 太郎"]], encoding="cp932")
    job = run_member_import(marketer, data, mapping={"0": "email", "1": "full_name"})
    assert job.status == ImportStatus.DONE
    assert _contacts(org_a) == {"a@example.jp": ("山田", "太郎", "", "subscribed")}


def test_second_organisation_member_factory_is_isolated(org_b):
    # The outsider persona is admin of B: make sure fixtures build what tests assume.
    member = make_member(org_b, Role.MARKETER, "m@b.example")
    assert member.organization == org_b
