"""Contacts API: contacts, bulk upsert, lists and their members, suppressions, custom
fields. Thin: serializers validate the shape, ``contacts.services`` and
``contacts.importing`` decide (visibility, restricted lists, suppressions, plan limits)
and audit, exactly as for the pages.

Bulk upsert is a CSV import whose file is the request: the rows are written as a CSV
file and run through ``contacts.importing`` synchronously, so it follows every import
rule (docs/api.md): a suppressed address is rejected and never resubscribed, an empty
value never clears a stored one, duplicates merge into their first row, the plan's
contact limit holds, restricted lists stay out of reach. One ``contacts_imported``
audit entry per call; the job shows on the imports page.
"""

from __future__ import annotations

import csv
import io

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.db.models.functions import Lower
from django.urls import path
from django.utils import translation
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response

from accounts.access import get_object_for_member, require_perm
from accounts.api.errors import PayloadTooLarge
from accounts.api.fields import id_field, no_nul, valid
from accounts.api.views import (
    IDEMPOTENCY_HEADER,
    PAGINATION_PARAMETERS,
    ApiView,
    paginate,
    paginated,
)
from accounts.models import Membership
from contacts import importing, services
from contacts.emails import InvalidEmail, normalise_email
from contacts.enums import (
    ConsentMethod,
    ContactStatus,
    FieldType,
    ImportStatus,
    ReportOutcome,
    SuppressionReason,
)
from contacts.models import Contact, ContactEvent, ContactList, CustomField, Suppression

BULK_MAX_ROWS = 10_000
BULK_MAX_BYTES = 32 * 1024 * 1024
_TAG_SEPARATORS = set(",;、|，；｜")  # noqa: RUF001 - the import splits tags at these
_LINE_BREAKS = set("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")


# --- Serializers ---------------------------------------------------------------------


class ContactSerializer(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()
    lists = serializers.SerializerMethodField()
    left_lists = serializers.SerializerMethodField()
    attributes = serializers.DictField(child=serializers.JSONField())

    class Meta:
        model = Contact
        fields = (
            "id",
            "email",
            "last_name",
            "first_name",
            "company",
            "phone",
            "status",
            "attributes",
            "tags",
            "lists",
            "left_lists",
            "consent_method",
            "consent_at",
            "consent_evidence",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields

    def get_tags(self, contact) -> list[str]:
        return sorted(tag.name for tag in contact.tags.all())

    def get_lists(self, contact) -> list[int]:
        """Ids of the visible lists the contact is a subscribed member of."""
        return self._list_ids(contact, left=False)

    def get_left_lists(self, contact) -> list[int]:
        """Ids of the visible lists the contact left from a message's preference page.
        Naming one in a write does not subscribe the person again."""
        return self._list_ids(contact, left=True)

    def _list_ids(self, contact, *, left: bool) -> list[int]:
        visible = self.context["visible_list_ids"]
        return sorted(
            m.contact_list_id
            for m in contact.memberships.all()
            if m.contact_list_id in visible and (m.unsubscribed_at is not None) == left
        )


class ContactWriteSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=320)
    last_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)
    attributes = serializers.DictField(
        child=serializers.JSONField(allow_null=True),
        required=False,
        validators=[no_nul],
        help_text="Custom field values by key; null or an empty string removes a value.",
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=100
    )
    lists = serializers.ListField(
        child=id_field(),
        required=False,
        max_length=500,
        help_text="Ids of the lists the contact is in (lists you cannot change are kept).",
    )
    consent_method = serializers.ChoiceField(choices=ConsentMethod.choices, required=False)
    consent_evidence = serializers.CharField(max_length=2000, required=False, allow_blank=True)


class ContactFilterSerializer(serializers.Serializer):
    q = serializers.CharField(required=False, max_length=200, allow_blank=True)
    email = serializers.CharField(required=False, max_length=320)
    list = id_field(required=False)
    tag = serializers.CharField(required=False, max_length=100)
    status = serializers.ChoiceField(choices=ContactStatus.choices, required=False)
    updated_since = serializers.DateTimeField(required=False)


class BulkRowSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=320)
    last_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    first_name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    company = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=50, required=False, allow_blank=True)
    status = serializers.ChoiceField(
        choices=ContactStatus.choices,
        required=False,
        help_text="unsubscribed, bounced or complained also suppress the address; "
        "subscribed never resubscribes a contact.",
    )
    attributes = serializers.DictField(
        child=serializers.JSONField(allow_null=True), required=False, validators=[no_nul]
    )
    tags = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False, max_length=100
    )


class BulkUpsertSerializer(serializers.Serializer):
    contacts = serializers.ListField(
        child=serializers.JSONField(allow_null=True),
        allow_empty=False,
        help_text=f"Up to {BULK_MAX_ROWS} contacts (more: 413). Each row as BulkContact.",
    )
    list = id_field(
        required=False, allow_null=True, help_text="Add every accepted contact to this list."
    )


class BulkRowResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text="Position of the row in the request (from 0).")
    email = serializers.CharField()
    result = serializers.ChoiceField(
        choices=["created", "updated", "unchanged", "merged", "rejected"]
    )
    contact_id = serializers.IntegerField(allow_null=True)
    errors = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())


class BulkUpsertResultSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    import_id = serializers.IntegerField()
    results = BulkRowResultSerializer(many=True)


class ContactListSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContactList
        fields = ("id", "name", "description", "is_restricted", "created_at")
        read_only_fields = fields


class ContactListWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=5000)
    is_restricted = serializers.BooleanField(required=False)


class ListMembersSerializer(serializers.Serializer):
    add = serializers.ListField(child=id_field(), required=False, max_length=BULK_MAX_ROWS)
    remove = serializers.ListField(child=id_field(), required=False, max_length=BULK_MAX_ROWS)


class ListMembersResultSerializer(serializers.Serializer):
    added = serializers.IntegerField()
    removed = serializers.IntegerField()


class SuppressionSerializer(serializers.ModelSerializer):
    is_active = serializers.BooleanField()

    class Meta:
        model = Suppression
        fields = ("id", "address", "reason", "source", "created_at", "lifted_at", "is_active")
        read_only_fields = fields


class SuppressionWriteSerializer(serializers.Serializer):
    address = serializers.CharField(max_length=320)
    reason = serializers.ChoiceField(
        choices=SuppressionReason.choices, required=False, default=SuppressionReason.MANUAL
    )


class SuppressionFilterSerializer(serializers.Serializer):
    address = serializers.CharField(required=False, max_length=320)
    include_lifted = serializers.BooleanField(required=False, default=False)


class CustomFieldSerializer(serializers.ModelSerializer):
    choices = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = CustomField
        fields = ("id", "key", "label", "field_type", "choices", "created_at")
        read_only_fields = fields


class CustomFieldCreateSerializer(serializers.Serializer):
    key = serializers.SlugField(max_length=50)
    label = serializers.CharField(max_length=100)
    field_type = serializers.ChoiceField(choices=FieldType.choices)
    choices = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=200
    )


class CustomFieldUpdateSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=100, required=False)
    choices = serializers.ListField(
        child=serializers.CharField(max_length=200), required=False, max_length=200
    )


# --- Helpers ---------------------------------------------------------------------------


def _contacts_with_relations(queryset):
    return queryset.prefetch_related("tags", "memberships")


def _contact_context(membership: Membership) -> dict:
    return {
        "visible_list_ids": set(services.visible_lists(membership).values_list("pk", flat=True))
    }


def _contact_response(membership, contact, status_code=200) -> Response:
    contact = _contacts_with_relations(Contact.objects.filter(pk=contact.pk)).get()
    data = ContactSerializer(contact, context=_contact_context(membership)).data
    return Response(data, status=status_code)


def _lists_by_id(membership: Membership, ids) -> list[ContactList]:
    """The member's visible lists for ``ids``; an id they cannot see is refused as
    unknown (the same answer as for an id that does not exist)."""
    ids = list(dict.fromkeys(ids))
    found = {cl.pk: cl for cl in services.visible_lists(membership).filter(pk__in=ids)}
    missing = [pk for pk in ids if pk not in found]
    if missing:
        raise serializers.ValidationError(
            {"lists": [_("Unknown list ids: %(ids)s.") % {"ids": ", ".join(map(str, missing))}]}
        )
    return [found[pk] for pk in ids]


def _attribute_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return str(value)
    raise ValueError


# --- Contacts ---------------------------------------------------------------------------


class ContactListView(ApiView):
    @extend_schema(
        operation_id="contacts_list",
        tags=["contacts"],
        parameters=[*PAGINATION_PARAMETERS, ContactFilterSerializer],
        responses=paginated(ContactSerializer),
        summary="Contacts you can see, in id order, filtered",
    )
    def get(self, request):
        membership = self.membership
        services.require_contacts_access(membership)
        filters = valid(ContactFilterSerializer, request.query_params)
        contacts = services.search_contacts(
            membership,
            query=filters.get("q", ""),
            list_id=filters.get("list"),
            tag=filters.get("tag", ""),
            status=filters.get("status", ""),
        )
        if "email" in filters:
            contacts = contacts.annotate(email_key=Lower("email")).filter(
                email_key=filters["email"].strip().lower()
            )
        if "updated_since" in filters:
            contacts = contacts.filter(updated_at__gte=filters["updated_since"])
        return paginate(
            self,
            _contacts_with_relations(contacts),
            ContactSerializer,
            **_contact_context(membership),
        )

    @extend_schema(
        operation_id="contacts_create",
        tags=["contacts"],
        request=ContactWriteSerializer,
        responses={201: ContactSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Add one contact (refused for a suppressed or existing address)",
    )
    def post(self, request):
        return self.idempotent(self._create)

    def _create(self):
        membership = self.membership
        data = valid(ContactWriteSerializer, self.request.data)
        lists = _lists_by_id(membership, data.get("lists", []))
        contact = services.create_contact(
            membership,
            services.ContactInput(
                email=data["email"],
                last_name=data.get("last_name", ""),
                first_name=data.get("first_name", ""),
                company=data.get("company", ""),
                phone=data.get("phone", ""),
                attributes={
                    k: _checked_attribute(k, v) for k, v in data.get("attributes", {}).items()
                },
                tags=data.get("tags", []),
                lists=lists,
                consent_method=data.get("consent_method", ConsentMethod.API),
                consent_evidence=data.get("consent_evidence")
                or _("API token %(name)s") % {"name": self.request.auth.name},
            ),
            self.django_request,
        )
        return _contact_response(membership, contact, status.HTTP_201_CREATED)


def _checked_attribute(key: str, value) -> str:
    try:
        return _attribute_text(value)
    except ValueError:
        raise serializers.ValidationError(
            {f"attributes.{key}": [_("Give a text, number, true/false or null.")]}
        ) from None


class ContactDetailView(ApiView):
    @extend_schema(operation_id="contacts_read", tags=["contacts"], responses=ContactSerializer)
    def get(self, request, pk):
        contact = services.get_contact_for_member(self.membership, pk)
        return _contact_response(self.membership, contact)

    @extend_schema(
        operation_id="contacts_update",
        tags=["contacts"],
        request=ContactWriteSerializer(partial=True),
        responses=ContactSerializer,
        summary="Change the fields given; attributes are merged by key",
    )
    def patch(self, request, pk):
        membership = self.membership
        contact = services.get_contact_for_member(membership, pk)
        data = valid(ContactWriteSerializer, request.data, partial=True)
        attributes = None
        if "attributes" in data:
            defined = set(
                CustomField.objects.for_organization(contact.organization_id).values_list(
                    "key", flat=True
                )
            )
            attributes = {
                k: _attribute_text(v) for k, v in contact.attributes.items() if k in defined
            }
            for key, value in data["attributes"].items():
                attributes[key] = _checked_attribute(key, value)
        services.update_contact(
            membership,
            contact,
            services.ContactInput(
                email=data.get("email", contact.email),
                last_name=data.get("last_name", contact.last_name),
                first_name=data.get("first_name", contact.first_name),
                company=data.get("company", contact.company),
                phone=data.get("phone", contact.phone),
                attributes=attributes,
                tags=data.get("tags"),
                lists=_lists_by_id(membership, data["lists"]) if "lists" in data else None,
                consent_method=data.get("consent_method", contact.consent_method),
                consent_evidence=data.get("consent_evidence", contact.consent_evidence),
            ),
            self.django_request,
        )
        return _contact_response(membership, contact)

    @extend_schema(operation_id="contacts_delete", tags=["contacts"], responses={204: None})
    def delete(self, request, pk):
        contact = services.get_contact_for_member(self.membership, pk)
        services.delete_contact(self.membership, contact, self.django_request)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Bulk upsert ----------------------------------------------------------------------


class BulkUpsertView(ApiView):
    @extend_schema(
        operation_id="contacts_bulk_upsert",
        tags=["contacts"],
        request=inline_serializer(
            "BulkUpsert",
            {
                "contacts": serializers.ListField(
                    child=BulkRowSerializer(), help_text=f"1 to {BULK_MAX_ROWS} contacts."
                ),
                "list": id_field(required=False, allow_null=True),
            },
        ),
        responses={
            200: BulkUpsertResultSerializer,
            413: OpenApiTypes.OBJECT,
        },
        parameters=[IDEMPOTENCY_HEADER],
        summary="Create or update up to 10,000 contacts by address, a result per row",
        description=(
            "Follows the CSV import's rules: a suppressed address is rejected and never "
            "resubscribed; an empty or missing value leaves the stored one as it is; rows "
            "repeating an address are merged into the first; rows beyond the plan's "
            "contact limit are rejected. All accepted rows are written in one transaction. "
            "Needs the contacts.import permission."
        ),
    )
    def post(self, request):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > BULK_MAX_BYTES:
            raise PayloadTooLarge(
                _("The request is larger than %(mb)s MB.") % {"mb": BULK_MAX_BYTES // 2**20}
            )
        rows = request.data.get("contacts") if isinstance(request.data, dict) else None
        if isinstance(rows, list) and len(rows) > BULK_MAX_ROWS:
            raise PayloadTooLarge(
                _("At most %(max)s contacts per call; this one has %(n)s. Split it.")
                % {"max": BULK_MAX_ROWS, "n": len(rows)}
            )
        return self.idempotent(self._upsert)

    def _upsert(self):
        membership = self.membership
        require_perm(membership, "contacts.import")
        data = valid(BulkUpsertSerializer, self.request.data)
        contact_list = None
        if data.get("list") is not None:
            contact_list = _lists_by_id(membership, [data["list"]])[0]
        with transaction.atomic():
            upsert = BulkUpsert(membership, data["contacts"], contact_list)
            return Response(upsert.run(self.django_request))


class BulkUpsert:
    """One bulk call: validate each row, write the valid ones as a CSV file, import it
    now, and read each row's outcome back."""

    def __init__(self, membership: Membership, rows: list[dict], contact_list):
        self.membership = membership
        self.rows = rows
        self.contact_list = contact_list
        self.fields = {
            f.key: f for f in CustomField.objects.for_organization(membership.organization_id)
        }
        self.results: list[dict] = []
        self.sent: list[int] = []  # indexes of rows written to the file, in file order

    def _result(self, index: int, email: str) -> dict:
        return {
            "index": index,
            "email": email,
            "result": "rejected",
            "contact_id": None,
            "errors": [],
            "warnings": [],
        }

    def _check_row(self, index: int, raw: dict) -> dict | None:
        result = self._result(index, str(raw.get("email", ""))[:320])
        self.results.append(result)
        serializer = BulkRowSerializer(data=raw)
        if not serializer.is_valid():
            result["errors"] = [
                f"{name}: {message}"
                for name, messages in serializer.errors.items()
                for message in _messages(messages)
            ]
            return None
        row = dict(serializer.validated_data)
        try:
            normalised = normalise_email(row["email"])
        except InvalidEmail as error:
            result["errors"] = [f"email: {error}"]
            return None
        result["email"] = normalised.address
        problems = []
        for name in ("last_name", "first_name", "company", "phone"):
            if _LINE_BREAKS & set(row.get(name, "")):
                problems.append(f"{name}: " + _("Line breaks are not allowed."))
        for tag in row.get("tags", []):
            if _TAG_SEPARATORS & set(tag) or _LINE_BREAKS & set(tag):
                problems.append(
                    "tags: "
                    + _("A tag cannot contain , ; 、 | or a line break: %(tag)s") % {"tag": tag}
                )
        attributes = {}
        for key, value in (row.get("attributes") or {}).items():
            if key not in self.fields:
                problems.append(f"attributes.{key}: " + _("Unknown custom field."))
                continue
            try:
                text = _attribute_text(value)
            except ValueError:
                problems.append(
                    f"attributes.{key}: " + _("Give a text, number, true/false or null.")
                )
                continue
            if _LINE_BREAKS & set(text):
                problems.append(f"attributes.{key}: " + _("Line breaks are not allowed."))
            attributes[key] = text
        if problems:
            result["errors"] = problems
            return None
        row["email"] = normalised.address
        row["attributes"] = attributes
        return row

    def run(self, request) -> dict:
        valid = []
        for index, raw in enumerate(self.rows):
            if not isinstance(raw, dict):
                self.results.append(self._result(index, ""))
                self.results[-1]["errors"] = [_("Each row must be an object.")]
                continue
            row = self._check_row(index, raw)
            if row is not None:
                valid.append((index, row))
        counts = {"rows": len(self.rows), "created": 0, "updated": 0, "unchanged": 0}
        counts.update({"merged": 0, "rejected": 0, "warnings": 0})
        job = None
        if valid:
            job = self._import(valid, request)
            self._read_outcomes(job)
        for result in self.results:
            counts[result["result"]] += 1
            counts["warnings"] += bool(result["warnings"])
        return {"counts": counts, "import_id": job.pk if job else 0, "results": self.results}

    def _import(self, valid: list[tuple[int, dict]], request):
        keys = sorted({key for _i, row in valid for key in row["attributes"]})
        header = ["email", "last_name", "first_name", "company", "phone", "status", "tags"]
        # Column names appear in the import's messages; the mapping below says what they are.
        header += [f"attributes.{key}" for key in keys]
        buffer = io.StringIO()
        writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
        writer.writerow(header)
        for index, row in valid:
            self.sent.append(index)
            writer.writerow(
                [
                    row["email"],
                    row.get("last_name", ""),
                    row.get("first_name", ""),
                    row.get("company", ""),
                    row.get("phone", ""),
                    row.get("status", ""),
                    "|".join(row.get("tags", [])),
                    *(row["attributes"].get(key, "") for key in keys),
                ]
            )
        data = buffer.getvalue().encode("utf-8-sig")
        targets = [*header[:7], *(f"attr:{key}" for key in keys)]
        mapping = {str(i): target for i, target in enumerate(targets)}
        membership = self.membership
        job = importing.create_import_job(
            membership,
            file_name="api-bulk-upsert.csv",
            data=data,
            contact_list=self.contact_list,
            request=request,
        )
        job = importing.set_mapping(
            membership,
            job,
            mapping=mapping,
            encoding="utf-8-sig",
            delimiter=",",
            has_header=True,
            contact_list=self.contact_list,
            consent_method=ConsentMethod.API,
        )
        # The API's call is the confirmation: no separate dry run (as on the command line).
        job.status = ImportStatus.QUEUED
        job.save(update_fields=["status"])
        job = importing.execute_import(job.pk, dry_run=False)
        if job.status != ImportStatus.DONE:
            raise DjangoValidationError(job.error or _("The import failed; nothing was changed."))
        return job

    def _read_outcomes(self, job) -> None:
        by_index = {result["index"]: result for result in self.results}
        line_to_index = {line: index for line, index in enumerate(self.sent, start=2)}
        first_of: dict[str, int] = {}
        for index in self.sent:
            first_of.setdefault(by_index[index]["email"].lower(), index)
        reported = _report(job)
        for index in self.sent:
            result = by_index[index]
            result["result"] = "ok"
        for line, outcome, message in reported:
            index = line_to_index.get(line)
            if index is None:
                continue
            result = by_index[index]
            if outcome == ReportOutcome.REJECTED:
                result["result"] = "rejected"
                result["errors"].append(message)
            elif outcome == ReportOutcome.MERGED:
                result["result"] = "merged"
                first = first_of[result["email"].lower()]
                result["warnings"].append(
                    _("Same address as row %(index)s: merged into it.") % {"index": first}
                )
            else:
                result["warnings"].append(message)
        ok = [by_index[i] for i in self.sent if by_index[i]["result"] == "ok"]
        keys = {r["email"].lower() for r in ok}
        found = (
            Contact.objects.for_organization(job.organization_id)
            .annotate(key=Lower("email"))
            .filter(key__in=keys)
            .annotate(
                changed=Exists(
                    ContactEvent.objects.filter(
                        contact=OuterRef("pk"), import_job=job, details__updated=True
                    )
                )
            )
            .values_list("key", "pk", "import_job_id", "changed")
        )
        contacts = {key: (pk, job_id, changed) for key, pk, job_id, changed in found}
        for result in ok:
            found_row = contacts.get(result["email"].lower())
            if found_row is None:  # not in the report, not stored: say so, never guess
                result["result"] = "rejected"
                result["errors"].append(_("The import did not accept this row."))
                continue
            pk, job_id, changed = found_row
            result["contact_id"] = pk
            if job_id == job.pk:
                result["result"] = "created"
            else:
                result["result"] = "updated" if changed else "unchanged"


def _messages(messages) -> list[str]:
    if isinstance(messages, dict):
        return [f"{k}: {m}" for k, v in messages.items() for m in _messages(v)]
    if isinstance(messages, list):
        return [m for item in messages for m in _messages(item)]
    return [str(messages)]


def _report(job) -> list[tuple[int, str, str]]:
    """``(line, outcome, message)`` of the job's report (rejected, merged, warnings)."""
    with translation.override(job.language):
        outcomes = {str(label): value for value, label in ReportOutcome.choices}
    text = bytes(job.report_data).decode("utf-8-sig")
    entries = []
    for cells in list(csv.reader(io.StringIO(text)))[1:]:
        line, outcome, _email, _column, _value, message = cells
        # The report neutralises cells for Excel (a leading quote before =, +, -, @).
        if message[:2] in {"'=", "'+", "'-", "'@"}:
            message = message[1:]
        entries.append((int(line), outcomes.get(outcome, outcome), message))
    return entries


# --- Lists -------------------------------------------------------------------------------


class ListsView(ApiView):
    @extend_schema(
        operation_id="lists_list",
        tags=["lists"],
        parameters=PAGINATION_PARAMETERS,
        responses=paginated(ContactListSerializer),
    )
    def get(self, request):
        services.require_contacts_access(self.membership)
        return paginate(self, services.visible_lists(self.membership), ContactListSerializer)

    @extend_schema(
        operation_id="lists_create",
        tags=["lists"],
        request=ContactListWriteSerializer,
        responses={201: ContactListSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request):
        return self.idempotent(self._create)

    def _create(self):
        data = valid(ContactListWriteSerializer, self.request.data)
        contact_list = services.create_list(
            self.membership,
            data["name"],
            data.get("description", ""),
            data.get("is_restricted", False),
            self.django_request,
        )
        return Response(ContactListSerializer(contact_list).data, status=status.HTTP_201_CREATED)


class ListDetailView(ApiView):
    @extend_schema(operation_id="lists_read", tags=["lists"], responses=ContactListSerializer)
    def get(self, request, pk):
        services.require_contacts_access(self.membership)
        contact_list = services.get_list_for_member(self.membership, pk)
        return Response(ContactListSerializer(contact_list).data)

    @extend_schema(
        operation_id="lists_update",
        tags=["lists"],
        request=ContactListWriteSerializer(partial=True),
        responses=ContactListSerializer,
    )
    def patch(self, request, pk):
        contact_list = services.get_list_for_member(self.membership, pk)
        data = valid(ContactListWriteSerializer, request.data, partial=True)
        services.update_list(
            self.membership,
            contact_list,
            name=data.get("name", contact_list.name),
            description=data.get("description", contact_list.description),
            is_restricted=data.get("is_restricted", contact_list.is_restricted),
            request=self.django_request,
        )
        return Response(ContactListSerializer(contact_list).data)

    @extend_schema(operation_id="lists_delete", tags=["lists"], responses={204: None})
    def delete(self, request, pk):
        contact_list = services.get_list_for_member(self.membership, pk)
        services.delete_list(self.membership, contact_list, self.django_request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ListContactsView(ApiView):
    @extend_schema(
        operation_id="lists_contacts",
        tags=["lists"],
        parameters=PAGINATION_PARAMETERS,
        responses=paginated(ContactSerializer),
        summary="The contacts of a list that you can see",
    )
    def get(self, request, pk):
        membership = self.membership
        services.require_contacts_access(membership)
        contact_list = services.get_list_for_member(membership, pk)
        contacts = services.search_contacts(membership, list_id=contact_list.pk)
        return paginate(
            self,
            _contacts_with_relations(contacts),
            ContactSerializer,
            **_contact_context(membership),
        )


class ListMembersView(ApiView):
    @extend_schema(
        operation_id="lists_members_change",
        tags=["lists"],
        request=ListMembersSerializer,
        responses=ListMembersResultSerializer,
        summary="Add and remove contacts (by id) to and from a list",
    )
    def post(self, request, pk):
        membership = self.membership
        contact_list = services.get_list_for_member(membership, pk)
        data = valid(ListMembersSerializer, request.data)
        visible = services.visible_contacts(membership)
        added, removed = services.change_list_members(
            membership,
            contact_list,
            add=list(visible.filter(pk__in=data.get("add", []))),
            remove=list(visible.filter(pk__in=data.get("remove", []))),
            request=self.django_request,
        )
        return Response({"added": added, "removed": removed})


# --- Suppressions ------------------------------------------------------------------------


class SuppressionsView(ApiView):
    @extend_schema(
        operation_id="suppressions_list",
        tags=["suppressions"],
        parameters=[*PAGINATION_PARAMETERS, SuppressionFilterSerializer],
        responses=paginated(SuppressionSerializer),
        summary="Suppressed addresses (active ones unless include_lifted=true)",
    )
    def get(self, request):
        require_perm(self.membership, "contacts.view")
        filters = valid(SuppressionFilterSerializer, request.query_params)
        items = services.visible_suppressions(self.membership)
        if filters.get("address"):
            items = items.annotate(address_key=Lower("address")).filter(
                address_key=filters["address"].strip().lower()
            )
        if not filters["include_lifted"]:
            items = items.filter(lifted_at__isnull=True)
        return paginate(self, items, SuppressionSerializer)

    @extend_schema(
        operation_id="suppressions_create",
        tags=["suppressions"],
        request=SuppressionWriteSerializer,
        responses={201: SuppressionSerializer, 200: SuppressionSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        summary="Suppress an address (200 with the existing one if already suppressed)",
    )
    def post(self, request):
        return self.idempotent(self._create)

    def _create(self):
        membership = self.membership
        data = valid(SuppressionWriteSerializer, self.request.data)
        try:
            existing = services.active_suppression(
                membership.organization_id, normalise_email(data["address"]).address
            )
        except InvalidEmail as error:
            raise serializers.ValidationError({"address": [str(error)]}) from None
        suppression = services.suppress_address(
            membership, data["address"], data["reason"], self.django_request
        )
        code = status.HTTP_200_OK if existing is not None else status.HTTP_201_CREATED
        return Response(SuppressionSerializer(suppression).data, status=code)


# --- Custom fields ---------------------------------------------------------------------


class FieldsView(ApiView):
    @extend_schema(
        operation_id="fields_list",
        tags=["fields"],
        parameters=PAGINATION_PARAMETERS,
        responses=paginated(CustomFieldSerializer),
    )
    def get(self, request):
        services.require_contacts_access(self.membership)
        fields = CustomField.objects.for_organization(self.membership.organization_id)
        return paginate(self, fields, CustomFieldSerializer)

    @extend_schema(
        operation_id="fields_create",
        tags=["fields"],
        request=CustomFieldCreateSerializer,
        responses={201: CustomFieldSerializer},
        parameters=[IDEMPOTENCY_HEADER],
    )
    def post(self, request):
        return self.idempotent(self._create)

    def _create(self):
        data = valid(CustomFieldCreateSerializer, self.request.data)
        field = services.create_custom_field(
            self.membership,
            key=data["key"],
            label=data["label"],
            field_type=data["field_type"],
            choices=data.get("choices"),
            request=self.django_request,
        )
        return Response(CustomFieldSerializer(field).data, status=status.HTTP_201_CREATED)


class FieldDetailView(ApiView):
    def _field(self, pk, perm: str) -> CustomField:
        return get_object_for_member(self.membership, CustomField.objects.all(), perm, pk=pk)

    @extend_schema(operation_id="fields_read", tags=["fields"], responses=CustomFieldSerializer)
    def get(self, request, pk):
        services.require_contacts_access(self.membership)
        return Response(CustomFieldSerializer(self._field(pk, "org.view")).data)

    @extend_schema(
        operation_id="fields_update",
        tags=["fields"],
        request=CustomFieldUpdateSerializer,
        responses=CustomFieldSerializer,
        summary="Change the label or choices (the key and type never change)",
    )
    def patch(self, request, pk):
        field = self._field(pk, "org.manage")
        data = valid(CustomFieldUpdateSerializer, request.data)
        field = services.update_custom_field(
            self.membership,
            field,
            label=data.get("label", field.label),
            choices=data.get("choices", field.choices),
            request=self.django_request,
        )
        return Response(CustomFieldSerializer(field).data)

    @extend_schema(operation_id="fields_delete", tags=["fields"], responses={204: None})
    def delete(self, request, pk):
        field = self._field(pk, "org.manage")
        services.delete_custom_field(self.membership, field, self.django_request)
        return Response(status=status.HTTP_204_NO_CONTENT)


urlpatterns = [
    path("contacts/", ContactListView.as_view(), name="contacts"),
    path("contacts/bulk/", BulkUpsertView.as_view(), name="contacts_bulk"),
    path("contacts/<int:pk>/", ContactDetailView.as_view(), name="contact"),
    path("lists/", ListsView.as_view(), name="lists"),
    path("lists/<int:pk>/", ListDetailView.as_view(), name="list"),
    path("lists/<int:pk>/contacts/", ListContactsView.as_view(), name="list_contacts"),
    path("lists/<int:pk>/members/", ListMembersView.as_view(), name="list_members"),
    path("suppressions/", SuppressionsView.as_view(), name="suppressions"),
    path("fields/", FieldsView.as_view(), name="fields"),
    path("fields/<int:pk>/", FieldDetailView.as_view(), name="field"),
]
