"""Contacts pages: thin doors onto contacts.services / importing / exporting.

Every view goes through ``accounts.access.org_view`` (login, membership -> 404, IP
allow-list, 2FA) and reaches objects through the organisation-scoped service helpers:
another organisation's object is a 404, a missing permission a 403.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import Lower
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.access import get_object_for_member, has_perm, org_view, require_perm
from accounts.enums import Role
from accounts.models import Membership
from accounts.reauth import CREDENTIAL_FIELD, recently_reauthenticated, require_recent_auth
from audit.models import AuditEntry
from contacts import exporting, importing, services
from contacts.attributes import display_value
from contacts.enums import ImportStatus
from contacts.forms import (
    ContactForm,
    CustomFieldEditForm,
    CustomFieldForm,
    ExportForm,
    GrantForm,
    LiftForm,
    ListForm,
    MappingForm,
    RoleGrantForm,
    SearchForm,
    SuppressForm,
    UploadForm,
    split_tags,
)
from contacts.models import (
    Contact,
    ContactEvent,
    CustomField,
    ImportJob,
    ListMembership,
    Suppression,
    Tag,
)

PAGE_SIZE = 50


def _page(request, queryset):
    paginator = Paginator(queryset, PAGE_SIZE)
    return paginator.get_page(request.GET.get("page"))


def _query_without_page(request) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _form_error(form, error: ValidationError) -> None:
    if hasattr(error, "error_dict"):
        for field, errors in error.error_dict.items():
            name = field.replace("attr:", "attr_")
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, error)


# --- Contacts ---------------------------------------------------------------------------


def _search_form(request, membership):
    lists = list(services.visible_lists(membership).only("pk", "name"))
    tags = Tag.objects.for_organization(membership.organization_id).values_list("name", flat=True)
    return SearchForm(request.GET or None, lists=lists, tags=list(tags))


@org_view()
def contact_list(request):
    membership = request.membership
    services.require_contacts_access(membership)
    form = _search_form(request, membership)
    # An invalid filter (a list this person cannot see) filters to nothing, not to all.
    filters = form.filters() if form.is_bound and form.is_valid() else _filters_from(request.GET)
    contacts = services.search_contacts(membership, **filters).prefetch_related("tags")
    page = _page(request, contacts.order_by(Lower("email"), "pk"))
    return render(
        request,
        "contacts/list.html",
        {
            "form": form,
            "page": page,
            "query_string": _query_without_page(request),
            "can_edit": has_perm(membership, "contacts.edit"),
            "can_import": has_perm(membership, "contacts.import"),
            "can_export": has_perm(membership, "contacts.export"),
        },
    )


def _contact_form(request, membership, *, initial=None, contact=None):
    editable = services.visible_lists(membership, "contacts.edit")
    fields = CustomField.objects.for_organization(membership.organization_id)
    return ContactForm(request.POST or None, initial=initial, lists=editable, custom_fields=fields)


def _contact_input(form) -> services.ContactInput:
    data = form.cleaned_data
    return services.ContactInput(
        email=data["email"],
        last_name=data["last_name"],
        first_name=data["first_name"],
        company=data["company"],
        phone=data["phone"],
        attributes=form.attributes(),
        tags=split_tags(data["tags"]),
        lists=list(data["lists"]),
        consent_method=data["consent_method"],
        consent_evidence=data["consent_evidence"],
    )


@org_view("contacts.edit")
def contact_create(request):
    membership = request.membership
    form = _contact_form(request, membership)
    if request.method == "POST" and form.is_valid():
        try:
            contact = services.create_contact(membership, _contact_input(form), request)
        except ValidationError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Contact added."))
            return redirect("contacts:detail", request.organization.slug, contact.pk)
    return render(
        request,
        "contacts/form.html",
        {"form": form, "contact": None},
        status=400 if form.errors else 200,
    )


@org_view()
def contact_detail(request, contact_id):
    membership = request.membership
    contact = services.get_contact_for_member(membership, contact_id)
    list_names = dict(services.visible_lists(membership).values_list("pk", "name"))
    memberships = [m for m in contact.memberships.all() if m.contact_list_id in list_names]
    fields = CustomField.objects.for_organization(membership.organization_id)
    attributes = [
        (f.label, display_value(f.field_type, contact.attributes.get(f.key))) for f in fields
    ]
    return render(
        request,
        "contacts/detail.html",
        {
            "contact": contact,
            "tags": contact.tags.all(),
            "memberships": [(m, list_names[m.contact_list_id]) for m in memberships],
            "attributes": attributes,
            "history": _history(contact, list_names),
            "suppression": services.active_suppression(contact.organization_id, contact.email),
            "can_edit": services.visible_contacts(membership, "contacts.edit")
            .filter(pk=contact.pk)
            .exists(),
        },
    )


def _history(contact: Contact, visible_list_names: dict) -> list[dict]:
    """One timeline: contact events, audit entries about it, its import and suppressions."""
    items = []
    for event in ContactEvent.objects.filter(contact=contact):
        details = dict(event.details)
        if details.get("list") and details["list"] not in visible_list_names.values():
            details.pop("list")  # a restricted list's name is not shown to everyone
        items.append(
            {
                "at": event.created_at,
                "what": event.get_kind_display(),
                "who": event.actor_label,
                "details": details,
            }
        )
    for entry in AuditEntry.objects.for_organization(contact.organization_id).filter(
        target_type="contacts.contact", target_id=str(contact.pk)
    ):
        items.append(
            {
                "at": entry.created_at,
                "what": entry.action,
                "who": entry.actor_label,
                "details": entry.details,
                "audit": True,
            }
        )
    if contact.import_job_id:
        job = ImportJob.objects.defer("file_data", "report_data").filter(pk=contact.import_job_id)
        job = job.first()
        if job is not None:
            items.append(
                {
                    "at": contact.created_at,
                    "what": _("Created by an import"),
                    "who": job.created_by_label,
                    "details": {"file": job.file_name},
                }
            )
    for suppression in (
        Suppression.objects.for_organization(contact.organization_id)
        .for_address(contact.email)
        .order_by("created_at")
    ):
        items.append(
            {
                "at": suppression.created_at,
                "what": _("Suppressed"),
                "who": suppression.source,
                "details": {"reason": suppression.get_reason_display()},
            }
        )
        if suppression.lifted_at:
            items.append(
                {
                    "at": suppression.lifted_at,
                    "what": _("Suppression lifted"),
                    "who": getattr(suppression.lifted_by, "email", ""),
                    "details": {"reason": suppression.lift_reason},
                }
            )
    items.sort(key=lambda item: item["at"], reverse=True)
    return items


@org_view()
def contact_edit(request, contact_id):
    membership = request.membership
    contact = services.get_contact_for_member(membership, contact_id, "contacts.edit")
    initial = {
        "email": contact.email,
        "last_name": contact.last_name,
        "first_name": contact.first_name,
        "company": contact.company,
        "phone": contact.phone,
        "tags": ", ".join(contact.tags.values_list("name", flat=True)),
        "lists": list(contact.memberships.values_list("contact_list_id", flat=True)),
        "consent_method": contact.consent_method,
        "consent_evidence": contact.consent_evidence,
        **{f"attr_{k}": v for k, v in contact.attributes.items()},
    }
    for key, value in contact.attributes.items():
        if isinstance(value, bool):
            initial[f"attr_{key}"] = "yes" if value else "no"
    form = _contact_form(request, membership, initial=initial, contact=contact)
    if request.method == "POST" and form.is_valid():
        try:
            changed = services.update_contact(membership, contact, _contact_input(form), request)
        except ValidationError as error:
            _form_error(form, error)
        else:
            if changed:
                messages.success(request, _("Contact saved."))
            return redirect("contacts:detail", request.organization.slug, contact.pk)
    return render(
        request,
        "contacts/form.html",
        {"form": form, "contact": contact},
        status=400 if form.errors else 200,
    )


@org_view()
@require_POST
def contact_delete(request, contact_id):
    contact = services.get_contact_for_member(request.membership, contact_id, "contacts.edit")
    services.delete_contact(request.membership, contact, request)
    messages.success(
        request,
        _("Contact deleted. Its suppression, if any, stays on the suppression list."),
    )
    return redirect("contacts:list", request.organization.slug)


@org_view()
@require_POST
def contact_suppress(request, contact_id):
    contact = services.get_contact_for_member(request.membership, contact_id, "contacts.edit")
    services.suppress_address(request.membership, contact.email, request=request)
    messages.success(request, _("No more mail will be sent to this address."))
    return redirect("contacts:detail", request.organization.slug, contact.pk)


# --- Lists and grants -----------------------------------------------------------------


@org_view()
def lists(request):
    membership = request.membership
    services.require_contacts_access(membership)
    visible = services.visible_contacts(membership)
    contact_lists = services.visible_lists(membership).order_by(Lower("name"))
    # "Contacts" counts subscribed members only (who a campaign to the list reaches,
    # before suppressions); people who left the list from a message are shown apart.
    counts = {
        list_id: (subscribed, left)
        for list_id, subscribed, left in ListMembership.objects.filter(
            contact_list__in=contact_lists, contact__in=visible
        )
        .values("contact_list_id")
        .annotate(
            subscribed=Count("pk", filter=Q(unsubscribed_at__isnull=True)),
            left=Count("pk", filter=Q(unsubscribed_at__isnull=False)),
        )
        .values_list("contact_list_id", "subscribed", "left")
    }
    form = ListForm(request.POST or None)
    if request.method == "POST":
        require_perm(membership, "contacts.edit")
        if form.is_valid():
            try:
                created = services.create_list(
                    membership,
                    form.cleaned_data["name"],
                    form.cleaned_data["description"],
                    form.cleaned_data["is_restricted"],
                    request,
                )
            except ValidationError as error:
                _form_error(form, error)
            else:
                messages.success(request, _("List created."))
                return redirect("contacts:list_detail", request.organization.slug, created.pk)
    return render(
        request,
        "contacts/lists.html",
        {
            "lists": [(cl, *counts.get(cl.pk, (0, 0))) for cl in contact_lists],
            "form": form,
            "can_edit": has_perm(membership, "contacts.edit"),
            "can_restrict": has_perm(membership, "grants.manage"),
        },
        status=400 if form.errors else 200,
    )


@org_view()
def list_detail(request, list_id):
    membership = request.membership
    contact_list = services.get_list_for_member(membership, list_id)
    contacts = (
        services.visible_contacts(membership)
        .filter(services.in_lists([contact_list.pk], subscribed_only=True))
        .prefetch_related("tags")
        .order_by(Lower("email"), "pk")
    )
    return render(
        request,
        "contacts/list_detail.html",
        {
            "contact_list": contact_list,
            "page": _page(request, contacts),
            "query_string": _query_without_page(request),
            "can_edit": has_perm(membership, "contacts.edit", contact_list),
            "can_manage_grants": has_perm(membership, "grants.manage", contact_list),
        },
    )


@org_view()
def list_edit(request, list_id):
    membership = request.membership
    contact_list = services.get_list_for_member(membership, list_id, "contacts.edit")
    form = ListForm(
        request.POST or None,
        initial={
            "name": contact_list.name,
            "description": contact_list.description,
            "is_restricted": contact_list.is_restricted,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_list(membership, contact_list, request=request, **form.cleaned_data)
        except ValidationError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("List saved."))
            return redirect("contacts:list_detail", request.organization.slug, contact_list.pk)
    return render(
        request,
        "contacts/list_form.html",
        {
            "form": form,
            "contact_list": contact_list,
            "can_restrict": has_perm(membership, "grants.manage"),
        },
        status=400 if form.errors else 200,
    )


@org_view()
@require_POST
def list_delete(request, list_id):
    contact_list = services.get_list_for_member(request.membership, list_id, "contacts.edit")
    services.delete_list(request.membership, contact_list, request)
    messages.success(request, _("List deleted; its contacts were kept."))
    return redirect("contacts:lists", request.organization.slug)


@org_view("grants.manage")
def list_grants(request, list_id):
    membership = request.membership
    contact_list = services.get_list_for_member(membership, list_id, "grants.manage")
    if request.method == "POST":
        if "role" in request.POST:
            form = RoleGrantForm(request.POST)
            if form.is_valid():
                changed = services.grant_to_role(
                    membership,
                    contact_list,
                    form.cleaned_data["role"],
                    form.cleaned_data["level"],
                    request,
                )
                messages.success(request, _("Access changed for %(n)s people.") % {"n": changed})
        else:
            form = GrantForm(request.POST)
            if form.is_valid():
                target = get_object_for_member(
                    membership,
                    Membership.objects.active().select_related("user"),
                    "grants.manage",
                    pk=form.cleaned_data["member"],
                )
                services.set_list_grant(
                    membership, contact_list, target, form.cleaned_data["level"], request
                )
                messages.success(
                    request, _("Access of %(email)s changed.") % {"email": target.user.email}
                )
        return redirect("contacts:list_grants", request.organization.slug, contact_list.pk)
    return render(
        request,
        "contacts/list_grants.html",
        {
            "contact_list": contact_list,
            "grants": services.list_grants(contact_list),
            "levels": GrantForm.base_fields["level"].choices,
            "role_form": RoleGrantForm(),
            "admin_role": Role.ADMIN,
        },
    )


# --- Custom fields --------------------------------------------------------------------


@org_view("org.manage")
def fields(request):
    membership = request.membership
    form = CustomFieldForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_custom_field(
                membership,
                key=form.cleaned_data["key"],
                label=form.cleaned_data["label"],
                field_type=form.cleaned_data["field_type"],
                choices=form.choice_list(),
                request=request,
            )
        except ValidationError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Field added."))
            return redirect("contacts:fields", request.organization.slug)
    return render(
        request,
        "contacts/fields.html",
        {"fields": CustomField.objects.for_organization(request.organization), "form": form},
        status=400 if form.errors else 200,
    )


@org_view("org.manage")
def field_edit(request, field_id):
    membership = request.membership
    field = get_object_for_member(membership, CustomField.objects.all(), "org.manage", pk=field_id)
    if request.method == "POST" and "delete" in request.POST:
        services.delete_custom_field(membership, field, request)
        messages.success(request, _("Field removed. Stored values are kept, hidden."))
        return redirect("contacts:fields", request.organization.slug)
    form = CustomFieldEditForm(
        request.POST or None,
        initial={"label": field.label, "choices": "\n".join(field.choices)},
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.update_custom_field(
                membership,
                field,
                label=form.cleaned_data["label"],
                choices=form.choice_list(),
                request=request,
            )
        except ValidationError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Field saved."))
            return redirect("contacts:fields", request.organization.slug)
    return render(
        request,
        "contacts/field_form.html",
        {"field": field, "form": form},
        status=400 if form.errors else 200,
    )


# --- Suppressions ------------------------------------------------------------------------


@org_view("contacts.view")
def suppressions(request):
    membership = request.membership
    form = SuppressForm(request.POST or None)
    if request.method == "POST":
        require_perm(membership, "contacts.edit")
        if form.is_valid():
            try:
                services.suppress_address(
                    membership,
                    form.cleaned_data["address"],
                    form.cleaned_data["reason"],
                    request,
                )
            except ValidationError as error:
                _form_error(form, error)
            else:
                messages.success(request, _("Address suppressed."))
                return redirect("contacts:suppressions", request.organization.slug)
    query = request.GET.get("q", "").strip()
    items = services.visible_suppressions(membership).select_related("created_by", "lifted_by")
    if query:
        items = items.filter(address__icontains=query)
    show_lifted = request.GET.get("lifted") == "1"
    if not show_lifted:
        items = items.filter(lifted_at__isnull=True)
    return render(
        request,
        "contacts/suppressions.html",
        {
            "page": _page(request, items.order_by("-created_at", "-pk")),
            "query_string": _query_without_page(request),
            "query": query,
            "show_lifted": show_lifted,
            "form": form,
            "can_edit": has_perm(membership, "contacts.edit"),
            "can_lift": has_perm(membership, "suppressions.lift"),
        },
        status=400 if form.errors else 200,
    )


@org_view("suppressions.lift")
def suppression_lift(request, suppression_id):
    membership = request.membership
    suppression = get_object_for_member(
        membership,
        services.visible_suppressions(membership),
        "suppressions.lift",
        pk=suppression_id,
    )
    form = LiftForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.lift_suppression(membership, suppression, form.cleaned_data["reason"], request)
        except ValidationError as error:
            _form_error(form, error)
        else:
            messages.success(request, _("Suppression lifted."))
            return redirect("contacts:suppressions", request.organization.slug)
    return render(
        request,
        "contacts/lift.html",
        {"suppression": suppression, "form": form},
        status=400 if form.errors else 200,
    )


# --- Import -------------------------------------------------------------------------------


def _jobs_for(membership):
    """Import jobs this person may see: their own; admins see everyone's."""
    jobs = importing.jobs().filter(organization_id=membership.organization_id)
    if membership.role != Role.ADMIN:
        jobs = jobs.filter(created_by=membership.user)
    return jobs


def _get_job(membership, pk) -> ImportJob:
    return get_object_for_member(membership, _jobs_for(membership), "contacts.import", pk=pk)


@org_view("contacts.import")
def imports(request):
    membership = request.membership
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > importing.MAX_FILE_BYTES:
            form.add_error(
                "file",
                _("The file is larger than %(mb)s MB; split it into smaller files.")
                % {"mb": importing.MAX_FILE_BYTES // (1024 * 1024)},
            )
        else:
            try:
                job = importing.create_import_job(
                    membership, file_name=upload.name, data=upload.read(), request=request
                )
            except ValidationError as error:
                form.add_error("file", error)
            else:
                return redirect("contacts:import_detail", request.organization.slug, job.pk)
    return render(
        request,
        "contacts/imports.html",
        {"form": form, "jobs": _jobs_for(membership)[:20]},
        status=400 if form.errors else 200,
    )


def _mapping_form(request, membership, job):
    lists = services.visible_lists(membership, "contacts.edit").order_by(Lower("name"))
    initial = {
        "encoding": job.encoding,
        "delimiter": job.delimiter,
        "has_header": job.has_header,
        "contact_list": job.contact_list_id,
        "consent_method": job.consent_method,
        **{f"col_{i}": target for i, target in job.mapping.items()},
    }
    return MappingForm(
        request.POST if request.method == "POST" else None,
        initial=initial,
        columns=job.columns,
        targets=importing.mapping_targets(membership.organization_id),
        lists=lists,
    )


@org_view("contacts.import")
def import_detail(request, import_id):
    membership = request.membership
    job = _get_job(membership, import_id)
    form = _mapping_form(request, membership, job)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # A new list exists only if the mapping is accepted too.
            with transaction.atomic():
                contact_list = None
                if data["new_list"].strip():
                    contact_list = services.create_list(
                        membership, data["new_list"], request=request
                    )
                elif data["contact_list"]:
                    contact_list = services.get_list_for_member(
                        membership, data["contact_list"], "contacts.edit"
                    )
                job = importing.set_mapping(
                    membership,
                    job,
                    mapping=form.mapping(),
                    encoding=data["encoding"],
                    delimiter=data["delimiter"],
                    has_header=data["has_header"],
                    contact_list=contact_list,
                    consent_method=data["consent_method"],
                )
            if "preview" not in request.POST:
                importing.request_dry_run(membership, job)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            return redirect("contacts:import_detail", request.organization.slug, job.pk)
    job.refresh_from_db(fields=["status", "dry_run_counts", "counts", "error", "report_sample"])
    return render(
        request,
        "contacts/import_detail.html",
        {
            "job": job,
            "form": form,
            "preview": importing.preview(job),
            "progress": importing.progress_of(job),
            "statuses": ImportStatus,
            "stuck": importing.is_stuck(job),
        },
        status=400 if form.errors else 200,
    )


@org_view("contacts.import")
def import_progress(request, import_id):
    job = _get_job(request.membership, import_id)
    response = render(
        request,
        "contacts/_import_progress.html",
        {
            "job": job,
            "progress": importing.progress_of(job),
            "statuses": ImportStatus,
            "stuck": importing.is_stuck(job),
        },
    )
    if not job.is_in_progress and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"  # finished: reload the page to show the results
    return response


@org_view("contacts.import")
@require_POST
def import_requeue(request, import_id):
    job = _get_job(request.membership, import_id)
    try:
        importing.requeue(request.membership, job)
    except ValidationError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _("The import was sent to a worker again."))
    return redirect("contacts:import_detail", request.organization.slug, job.pk)


@org_view("contacts.import")
@require_POST
def import_confirm(request, import_id):
    job = _get_job(request.membership, import_id)
    try:
        importing.confirm_import(request.membership, job, request)
    except ValidationError as error:
        messages.error(request, _error_text(error))
    return redirect("contacts:import_detail", request.organization.slug, job.pk)


@org_view("contacts.import")
def import_report(request, import_id):
    job = _get_job(request.membership, import_id)
    data = ImportJob.objects.filter(pk=job.pk).values_list("report_data", flat=True).get()
    if not data:
        raise Http404
    response = HttpResponse(bytes(data), content_type="text/csv; charset=utf-8")
    stem = job.file_name.rsplit(".", 1)[0] or "import"
    kind = "dry-run-report" if job.report_is_dry_run else "report"
    response["Content-Disposition"] = _attachment(f"{stem}-{kind}.csv")
    return response


def _attachment(file_name: str) -> str:
    from urllib.parse import quote

    ascii_name = file_name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}"


# --- Export -------------------------------------------------------------------------------


@org_view("contacts.export")
def export(request):
    membership = request.membership
    if request.method == "POST":
        source = request.POST
        form = ExportForm(source)
    else:
        source = request.GET
        form = ExportForm(initial={"encoding": "utf-8-sig", **source.dict()})
    if request.method == "POST" and form.is_valid():
        # Personal data leaves the building: a credential entered after signing in.
        reauth = require_recent_auth(request, login_counts=False)
        if reauth is not None:
            return reauth
        filters = form.filters()
        contacts = services.search_contacts(membership, **filters)
        try:
            result = exporting.export_contacts(
                membership,
                contacts,
                encoding=form.cleaned_data["encoding"],
                description={k: v for k, v in filters.items() if v},
                request=request,
            )
        except exporting.ExportError as error:
            form.add_error("encoding", str(error))
        else:
            response = FileResponse(result.file, content_type=result.content_type)
            response["Content-Disposition"] = _attachment(result.file_name)
            return response
    filters = form.filters() if form.is_bound and form.is_valid() else _filters_from(source)
    count = services.search_contacts(membership, **filters).count()
    return render(
        request,
        "contacts/export.html",
        {
            "form": form,
            "count": count,
            "filters": {k: v for k, v in filters.items() if v},
            "needs_credential": not recently_reauthenticated(request, login_counts=False),
            "credential_field": CREDENTIAL_FIELD,
        },
        status=400 if form.errors else 200,
    )


def _filters_from(data) -> dict:
    try:
        list_id = int(data.get("list")) if data.get("list") else None
    except (TypeError, ValueError):
        list_id = None
    return {
        "query": data.get("q", ""),
        "list_id": list_id,
        "tag": data.get("tag", ""),
        "status": data.get("status", ""),
    }
