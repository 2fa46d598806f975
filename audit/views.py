from __future__ import annotations

from django.shortcuts import render

from accounts.access import org_view
from audit.models import AuditEntry


@org_view("audit.view")
def audit_log(request):
    entries = AuditEntry.objects.for_organization(request.organization).order_by("-seq")[:50]
    return render(request, "audit/log.html", {"entries": entries})
