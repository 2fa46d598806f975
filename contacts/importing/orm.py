"""The portable import engine (plain ORM), for SQLite in ``make run`` development mode.

Same rules as ``contacts.importing.postgres``, step by step, with the staged rows held in
memory: fine for the files a developer tries, not for a million rows.
"""

from __future__ import annotations

from itertools import islice

from django.db.models.functions import Lower

from contacts.enums import STATUS_SUPPRESSION_REASON, ContactEventKind, ContactStatus
from contacts.importing.plan import (
    ImportPlan,
    ImportResult,
    Progress,
    build_report,
    empty_counts,
    report_entry,
    staged_tuples,
)
from contacts.importing.rows import StagedRow, merge_group
from contacts.importing.storage import open_file
from contacts.models import (
    Contact,
    ContactEvent,
    ContactTag,
    ListMembership,
    Suppression,
    Tag,
)

_CHUNK = 500
_FIELDS = ("last_name", "first_name", "company", "phone")


def _chunks(items, size=_CHUNK):
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def run(plan: ImportPlan, progress: Progress) -> ImportResult:
    org = plan.organization
    with open_file(plan.job.pk) as handle:
        rows = [StagedRow.from_tuple(v) for v in staged_tuples(plan, handle, progress)]
    progress("checking", 62, force=True)

    # Duplicates within the file.
    groups: dict[str, list[StagedRow]] = {}
    for row in rows:
        if row.reject_reason is None:
            groups.setdefault(row.key, []).append(row)
    for group in groups.values():
        if len(group) > 1:
            merge_group(group, plan.messages["merged"])
    candidates = [row for row in rows if row.ok]

    contacts = Contact.objects.for_organization(org).annotate(key=Lower("email"))
    existing: dict[str, Contact] = {}
    for chunk in _chunks([row.key for row in candidates]):
        existing.update((c.key, c) for c in contacts.filter(key__in=chunk))
    suppressions = Suppression.objects.for_organization(org).active().annotate(key=Lower("address"))
    suppressed: dict[str, str] = {}
    for chunk in _chunks([row.key for row in candidates]):
        suppressed.update(suppressions.filter(key__in=chunk).values_list("key", "reason"))
    restricted: set[int] = set()
    if plan.hidden_edit_list_ids:
        ids = [c.pk for c in existing.values()]
        for chunk in _chunks(ids):
            restricted.update(
                ListMembership.objects.filter(
                    contact_list_id__in=plan.hidden_edit_list_ids, contact_id__in=chunk
                ).values_list("contact_id", flat=True)
            )
    for row in candidates:
        if row.key in suppressed:
            row.reject_reason = plan.messages[f"suppressed:{suppressed[row.key]}"]
            continue
        contact = existing.get(row.key)
        if contact is not None and contact.pk in restricted:
            row.reject_reason = plan.messages["restricted"]
            continue
        if (
            contact is not None
            and row.status == ContactStatus.SUBSCRIBED
            and contact.status != ContactStatus.SUBSCRIBED
        ):
            row.add_note(plan.messages["resubscribe"])
    room = max(0, org.max_contacts - Contact.objects.for_organization(org).count())
    new_rows = [row for row in candidates if row.ok and row.key not in existing]
    for row in new_rows[room:]:
        row.reject_reason = plan.messages["limit"]
    progress("writing", 72, force=True)

    outcome: dict[int, dict] = {}  # line -> {"contact": Contact, "created", "changed"}
    to_update = []
    for row in candidates:
        contact = existing.get(row.key)
        if not row.ok or contact is None:
            continue
        before = (*(getattr(contact, f) for f in _FIELDS), contact.status, contact.attributes)
        for name in _FIELDS:
            value = getattr(row, name)
            if value:
                setattr(contact, name, value)
        if row.status in STATUS_SUPPRESSION_REASON:
            contact.status = row.status
        contact.attributes = {**contact.attributes, **row.attributes}
        after = (*(getattr(contact, f) for f in _FIELDS), contact.status, contact.attributes)
        changed = before != after
        if changed:
            contact.updated_at = plan.now
            to_update.append(contact)
        outcome[row.line] = {"contact": contact, "created": False, "changed": changed}
    if to_update:
        Contact.objects.bulk_update(to_update, [*_FIELDS, "status", "attributes", "updated_at"])

    fresh = [row for row in candidates if row.ok and row.key not in existing]
    created = Contact.objects.bulk_create(
        [
            Contact(
                organization=org,
                email=row.email,
                last_name=row.last_name,
                first_name=row.first_name,
                company=row.company,
                phone=row.phone,
                attributes=row.attributes,
                status=row.status or ContactStatus.SUBSCRIBED,
                consent_method=plan.job.consent_method,
                consent_at=plan.now,
                consent_evidence=plan.job.file_name,
                import_job=plan.job,
                created_at=plan.now,
                updated_at=plan.now,
            )
            for row in fresh
        ]
    )
    if created and created[0].pk is None:  # backends that return no ids
        by_key = {c.key: c for c in contacts.filter(key__in=[r.key for r in fresh])}
        created = [by_key[row.key] for row in fresh]
    for row, contact in zip(fresh, created, strict=True):
        outcome[row.line] = {"contact": contact, "created": True, "changed": False}
    progress("writing", 84, force=True)

    ok_rows = [row for row in candidates if row.ok]
    names = {tag for row in ok_rows for tag in row.tags}
    if names:
        tags = {t.name: t for t in Tag.objects.for_organization(org).filter(name__in=names)}
        missing = [Tag(organization=org, name=n) for n in names if n not in tags]
        if missing:
            Tag.objects.bulk_create(missing, ignore_conflicts=True)
            tags = {t.name: t for t in Tag.objects.for_organization(org).filter(name__in=names)}
        pairs = {
            (outcome[row.line]["contact"].pk, tags[name].pk) for row in ok_rows for name in row.tags
        }
        present = set()
        contact_ids = {pair[0] for pair in pairs}
        for chunk in _chunks(contact_ids):
            present.update(
                ContactTag.objects.filter(contact_id__in=chunk).values_list("contact_id", "tag_id")
            )
        new_pairs = pairs - present
        ContactTag.objects.bulk_create(
            [ContactTag(organization=org, contact_id=c, tag_id=t) for c, t in new_pairs]
        )
        tagged = {c for c, _t in new_pairs}
        for row in ok_rows:
            result = outcome[row.line]
            if not result["created"] and result["contact"].pk in tagged:
                result["changed"] = True

    suppressions_added = 0
    for row in ok_rows:
        reason = STATUS_SUPPRESSION_REASON.get(row.status)
        if reason is not None and row.key not in suppressed:
            Suppression.objects.create(
                organization=org,
                address=row.email,
                reason=reason,
                source=f"import: {plan.job.file_name}"[:300],
                created_at=plan.now,
                created_by=plan.actor,
            )
            suppressed[row.key] = reason
            suppressions_added += 1

    list_added: set[int] = set()
    if plan.contact_list is not None:
        ids = [outcome[row.line]["contact"].pk for row in ok_rows]
        already = set()
        for chunk in _chunks(ids):
            already.update(
                ListMembership.objects.filter(
                    contact_list=plan.contact_list, contact_id__in=chunk
                ).values_list("contact_id", flat=True)
            )
        list_added = set(ids) - already
        ListMembership.objects.bulk_create(
            [
                ListMembership(
                    organization=org,
                    contact_id=pk,
                    contact_list=plan.contact_list,
                    added_at=plan.now,
                    added_by=plan.actor,
                    import_job=plan.job,
                )
                for pk in ids
                if pk in list_added
            ]
        )
    progress("writing", 90, force=True)

    events = []
    for row in ok_rows:
        result = outcome[row.line]
        pk = result["contact"].pk
        in_list = pk in list_added
        # Created contacts show the import through Contact.import_job (as on PostgreSQL).
        if not result["created"] and (result["changed"] or in_list):
            events.append(
                ContactEvent(
                    organization=org,
                    contact_id=pk,
                    kind=ContactEventKind.IMPORTED,
                    created_at=plan.now,
                    actor=plan.actor,
                    actor_label=plan.actor_label,
                    import_job=plan.job,
                    details={
                        "file": plan.job.file_name,
                        "line": row.line,
                        "updated": result["changed"],
                        "list": plan.contact_list.name if in_list else None,
                        "status": row.status,
                    },
                )
            )
    ContactEvent.objects.bulk_create(events)

    counts = empty_counts()
    counts["rows"] = len(rows)
    for row in rows:
        if row.reject_reason is not None:
            counts["rejected"] += 1
        elif row.merged_into is not None:
            counts["merged"] += 1
        else:
            result = outcome[row.line]
            if result["created"]:
                counts["created"] += 1
            elif result["changed"]:
                counts["updated"] += 1
            else:
                counts["unchanged"] += 1
            if row.note:
                counts["warnings"] += 1
    counts["added_to_list"] = len(list_added)
    counts["suppressed"] = suppressions_added
    progress("report", 95, force=True)
    email_column = plan.validator.column_name(plan.validator.email_index)
    entries = (
        report_entry(
            row.line,
            row.email,
            row.reject_reason,
            row.reject_column,
            row.reject_value,
            row.note,
            row.merged_into,
            email_column,
        )
        for row in rows
        if row.reject_reason is not None or row.merged_into is not None or row.note
    )
    report, sample = build_report(entries)
    return ImportResult(counts=counts, report=report, sample=sample)
