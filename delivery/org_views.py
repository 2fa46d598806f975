"""The organisation's sending pages: sending domains and SMTP relays (admins), a
campaign's live progress and report (an htmx fragment on the campaign page), the report's
CSV, and hot prospects.

Thin doors onto ``delivery.services`` and ``delivery.reports``; every view goes through
``org_view`` and fetches objects with the per-kind access helpers, so another
organisation's domain, relay or campaign is a 404 and a member without the permission
gets 403. State changes take POST only.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from accounts.access import org_view, require_perm
from accounts.reauth import CREDENTIAL_FIELD, recently_reauthenticated, require_recent_auth
from campaigns.enums import CampaignState
from campaigns.services import get_campaign_for_member
from delivery import reports, services
from delivery.enums import DeliveryStatus
from delivery.forms import RelayForm, SendingDomainForm
from delivery.models import SendingDomain, SmtpRelay

# What each DNS check is about, for people (the check results store the kind).
CHECK_KINDS = {
    "dkim_rsa": gettext_lazy("DKIM (RSA-2048)"),
    "dkim_ed25519": gettext_lazy("DKIM (Ed25519)"),
    "spf": gettext_lazy("SPF"),
    "dmarc": gettext_lazy("DMARC"),
}
CHECK_STATUSES = {
    "ok": gettext_lazy("OK"),
    "missing": gettext_lazy("Missing"),
    "wrong": gettext_lazy("Wrong"),
    "unavailable": gettext_lazy("Could not check"),
}


def _attachment(file_name: str) -> str:
    return f'attachment; filename="{file_name}"'


# --- Sending domains ------------------------------------------------------------------


def _domains_page(request, form, status=200):
    require_perm(request.membership, "domains.manage")
    domains = SendingDomain.objects.filter(organization=request.organization).order_by("domain")
    return render(
        request,
        "delivery/domains.html",
        {"domains": domains, "form": form},
        status=status,
    )


@require_safe
@org_view("domains.manage")
def domain_list(request):
    return _domains_page(request, SendingDomainForm())


@require_POST
@org_view("domains.manage")
def domain_add(request):
    form = SendingDomainForm(request.POST)
    if form.is_valid():
        try:
            domain = services.add_sending_domain(
                request.membership, form.cleaned_data["domain"], request=request
            )
        except ValidationError as error:
            for message in error.messages:
                form.add_error("domain", message)
        else:
            messages.success(
                request,
                _("%(domain)s added. Publish the DNS records below, then press Verify.")
                % {"domain": domain.domain},
            )
            return redirect("sending:domain_detail", request.organization.slug, domain.pk)
    return _domains_page(request, form, status=400)


def _check_rows(domain: SendingDomain) -> list[dict]:
    rows = []
    for check in domain.check_results or []:
        if not isinstance(check, dict):
            continue
        found = check.get("found") or []
        rows.append(
            {
                "kind": str(CHECK_KINDS.get(check.get("kind"), check.get("kind", ""))),
                "name": str(check.get("name", "")),
                "status": str(check.get("status", "")),
                "status_label": str(CHECK_STATUSES.get(check.get("status"), check.get("status"))),
                "message": str(check.get("message", "")),
                "found": [str(value) for value in found] if isinstance(found, list) else [],
            }
        )
    return rows


@require_safe
@org_view("domains.manage")
def domain_detail(request, domain_id):
    domain = services.get_domain_for_member(request.membership, domain_id)
    records = [
        {**record, "label": str(CHECK_KINDS.get(record["kind"], record["kind"]))}
        for record in services.dns_records(domain)
    ]
    return render(
        request,
        "delivery/domain_detail.html",
        {"domain": domain, "records": records, "checks": _check_rows(domain)},
    )


@require_POST
@org_view("domains.manage")
def domain_verify(request, domain_id):
    domain = services.get_domain_for_member(request.membership, domain_id)
    domain = services.verify_sending_domain(domain, actor=request.user, request=request)
    if domain.is_verified:
        messages.success(request, _("%(domain)s is verified.") % {"domain": domain.domain})
    elif any(c.get("status") == "unavailable" for c in domain.check_results or []):
        messages.warning(request, _("DNS did not answer for some records; try again in a minute."))
    else:
        messages.error(
            request,
            _("%(domain)s is not verified yet: see what is missing below.")
            % {"domain": domain.domain},
        )
    return redirect("sending:domain_detail", request.organization.slug, domain.pk)


@require_POST
@org_view("domains.manage")
def domain_remove(request, domain_id):
    domain = services.get_domain_for_member(request.membership, domain_id)
    name = domain.domain
    services.remove_sending_domain(request.membership, domain, request=request)
    messages.success(request, _("%(domain)s removed.") % {"domain": name})
    return redirect("sending:domains", request.organization.slug)


# --- SMTP relays ----------------------------------------------------------------------


@require_safe
@org_view("relays.manage")
def relay_list(request):
    relays = list(SmtpRelay.objects.filter(organization=request.organization).order_by("pk"))
    in_use = next((relay for relay in relays if relay.is_active), None)
    relays.sort(key=lambda relay: (relay.name.lower(), relay.pk))
    return render(request, "delivery/relays.html", {"relays": relays, "in_use": in_use})


def _relay_form_page(request, relay: SmtpRelay | None):
    form = RelayForm(request.POST or None, relay=relay)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        clear_password = data.pop("clear_password", False)
        try:
            saved = services.save_relay(
                request.membership,
                data,
                relay=relay,
                request=request,
                clear_password=clear_password,
            )
        except ValidationError as error:
            form.add_service_error(error)
        else:
            messages.success(
                request,
                _("%(name)s saved. Press Test to check the connection.") % {"name": saved.name},
            )
            return redirect("sending:relays", request.organization.slug)
    return render(
        request,
        "delivery/relay_form.html",
        {"form": form, "relay": relay},
        status=400 if form.errors else 200,
    )


@require_http_methods(["GET", "HEAD", "POST"])
@org_view("relays.manage")
def relay_add(request):
    return _relay_form_page(request, None)


@require_http_methods(["GET", "HEAD", "POST"])
@org_view("relays.manage")
def relay_edit(request, relay_id):
    relay = services.get_relay_for_member(request.membership, relay_id)
    return _relay_form_page(request, relay)


@require_POST
@org_view("relays.manage")
def relay_test(request, relay_id):
    relay = services.get_relay_for_member(request.membership, relay_id)
    ok, message = services.test_relay(request.membership, relay, request=request)
    if ok:
        messages.success(
            request, _("%(name)s works: %(message)s") % {"name": relay.name, "message": message}
        )
    else:
        messages.error(
            request, _("%(name)s failed: %(message)s") % {"name": relay.name, "message": message}
        )
    return redirect("sending:relays", request.organization.slug)


@require_POST
@org_view("relays.manage")
def relay_remove(request, relay_id):
    relay = services.get_relay_for_member(request.membership, relay_id)
    name = relay.name
    services.remove_relay(request.membership, relay, request=request)
    messages.success(request, _("%(name)s removed.") % {"name": name})
    return redirect("sending:relays", request.organization.slug)


# --- Campaign progress and report ------------------------------------------------------


# How often the progress fragment reloads itself, by campaign state: every 2 s while
# rows move; slowly while waiting for the dispatcher (undo window, scheduled time).
POLL_EVERY = {
    CampaignState.SENDING: "2s",
    CampaignState.PAUSED: "2s",
    CampaignState.APPROVED: "10s",
    CampaignState.SCHEDULED: "10s",
}


@require_safe
@org_view("reports.view")
def campaign_progress(request, campaign_id):
    """The progress (and, once sending is over, the report) as an htmx fragment for the
    campaign page.

    It reloads itself while the campaign may still change (``POLL_EVERY``). The page
    passes the state it showed (``?state=``); when a poll finds another state (sending
    started, paused, finished), ``HX-Refresh`` reloads the whole page so its state badge
    and buttons change with it.
    """
    membership = request.membership
    campaign = get_campaign_for_member(membership, campaign_id, "reports.view")
    progress = reports.campaign_progress(campaign)
    context = {
        "campaign": campaign,
        "progress": progress,
        "poll_every": POLL_EVERY.get(campaign.state, ""),
        "unknown_rows": reports.unknown_deliveries(membership, campaign)
        if progress.counts[DeliveryStatus.UNKNOWN]
        else [],
        "may_export": reports.may_export_report(membership, campaign),
    }
    if not progress.active and progress.total:
        report = reports.campaign_report(campaign)
        context["report"] = report
        context["metrics"] = _metrics(report)
        context["chart"] = reports.chart_svg(reports.campaign_series(campaign))
    response = render(request, "delivery/_campaign_progress.html", context)
    shown = request.GET.get("state")
    if shown and shown != campaign.state and request.headers.get("HX-Request"):
        response["HX-Refresh"] = "true"
    return response


def _metrics(report: reports.Report) -> list[tuple[str, str, int, str]]:
    """(test id, label, count, rate) rows of the report table."""
    rate = reports.format_rate
    return [
        ("recipients", _("Recipients"), report.recipients, ""),
        ("sent", pgettext("number of messages", "Sent"), report.sent, ""),
        ("delivered", _("Delivered"), report.delivered, rate(report.delivery_rate)),
        ("hard-bounced", _("Bounced (hard)"), report.hard_bounced, rate(report.hard_bounce_rate)),
        ("soft-bounced", _("Bounced (soft)"), report.soft_bounced, rate(report.soft_bounce_rate)),
        ("suppressed", _("Suppressed before sending"), report.suppressed, ""),
        ("unknown", _("Unknown"), report.unknown, ""),
        ("opens-unique", _("Opened (unique)"), report.opens_unique, rate(report.open_rate)),
        ("opens-total", _("Opens (total)"), report.opens_total, ""),
        ("clicks-unique", _("Clicked (unique)"), report.clicks_unique, rate(report.click_rate)),
        ("clicks-total", _("Clicks (total)"), report.clicks_total, ""),
        (
            "click-to-open",
            _("Click-to-open"),
            report.clicks_unique,
            rate(report.click_to_open_rate),
        ),
        ("unsubscribes", _("Unsubscribed"), report.unsubscribes, rate(report.unsubscribe_rate)),
        ("complaints", _("Complaints"), report.complaints, rate(report.complaint_rate)),
    ]


@require_http_methods(["GET", "HEAD", "POST"])
@org_view("contacts.export")
def campaign_report_csv(request, campaign_id):
    """The per-recipient CSV. It lists addresses, so it asks for the password or a
    two-factor code entered after signing in (``accounts.reauth``, as every export of
    personal data does)."""
    membership = request.membership
    campaign = get_campaign_for_member(membership, campaign_id, "reports.view")
    if request.method == "POST":
        reauth = require_recent_auth(request, login_counts=False)
        if reauth is not None:
            return reauth
        result = reports.export_report_csv(membership, campaign, request=request)
        response = FileResponse(result.file, content_type=result.content_type)
        response["Content-Disposition"] = _attachment(result.file_name)
        return response
    return render(
        request,
        "delivery/report_export.html",
        {
            "campaign": campaign,
            "needs_credential": not recently_reauthenticated(request, login_counts=False),
            "credential_field": CREDENTIAL_FIELD,
        },
    )


# --- Hot prospects --------------------------------------------------------------------


@require_safe
@org_view("contacts.view")
def prospects(request):
    return render(
        request,
        "delivery/prospects.html",
        {
            "prospects": reports.hot_prospects(request.membership),
            "days": reports.PROSPECT_DAYS,
            "click_weight": reports.PROSPECT_CLICK_WEIGHT,
            "open_weight": reports.PROSPECT_OPEN_WEIGHT,
        },
    )
