"""The audit log page and its CSV export: thin doors onto ``audit.services``.

Both read only the organisation's own entries and share one filter form, so what an
admin sees on the page is what the export contains.
"""

from __future__ import annotations

import csv
import json

from django.core.paginator import Paginator
from django.db.models import Max
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from accounts.access import org_view
from accounts.reauth import reauth_required
from audit import record
from audit.enums import Action
from audit.forms import AuditFilterForm
from audit.models import AuditEntry
from audit.services import export_rows

PAGE_SIZE = 50
_ACTION_LABELS = dict(Action.choices)


def _filter_form(request) -> AuditFilterForm:
    present = (
        AuditEntry.objects.for_organization(request.organization)
        .order_by()
        .values_list("action", flat=True)
        .distinct()
    )
    return AuditFilterForm(request.GET, present_actions=list(present))


def _invalid_filters(request, form):
    return render(request, "audit/log.html", {"form": form, "page_obj": None}, status=400)


@org_view("audit.view")
def audit_log(request):
    form = _filter_form(request)
    if not form.is_valid():
        return _invalid_filters(request, form)
    entries = form.filter(AuditEntry.objects.for_organization(request.organization))
    paginator = Paginator(entries.order_by("-created_at", "-seq"), PAGE_SIZE)
    # get_page() turns a missing, malformed or out-of-range page number into a valid page.
    page_obj = paginator.get_page(request.GET.get("page"))
    for entry in page_obj:
        entry.action_label = _ACTION_LABELS.get(entry.action, entry.action)
        entry.details_text = (
            json.dumps(entry.details, ensure_ascii=False, sort_keys=True) if entry.details else ""
        )
    return render(request, "audit/log.html", {"form": form, "page_obj": page_obj})


class _Echo:
    """A file-like object whose write() returns the line, so csv.writer can feed a stream."""

    def write(self, value: str) -> str:
        return value


def _csv_stream(entries):
    writer = csv.writer(_Echo())
    # The BOM makes Excel read the file as UTF-8 (names in Japanese stay readable).
    yield "\ufeff"
    for row in export_rows(entries.iterator(chunk_size=1000)):
        yield writer.writerow(row)


@org_view("audit.export")
@reauth_required(login_counts=False)
def audit_export(request):
    """Stream the filtered entries as CSV, oldest first (in chain order, with seq and hash).

    The export is itself audited before the first byte goes out. Its row count is exact:
    the rows are bounded by the chain's last sequence number read before counting, and
    since entries are append-only and numbered under a lock, the set below that bound
    can never change, while entries appended meanwhile (this export's own included) are
    left out.
    """
    organization = request.organization
    form = _filter_form(request)
    if not form.is_valid():
        return _invalid_filters(request, form)
    own = AuditEntry.objects.for_organization(organization)
    last_seq = own.aggregate(last=Max("seq"))["last"] or 0
    entries = form.filter(own.filter(seq__lte=last_seq)).order_by("seq")
    count = entries.count()
    record(
        Action.AUDIT_EXPORTED,
        actor=request.user,
        organization=organization,
        request=request,
        filters=form.active_filters(),
        rows=count,
    )
    response = StreamingHttpResponse(_csv_stream(entries), content_type="text/csv; charset=utf-8")
    filename = f"audit-{organization.slug}-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response
