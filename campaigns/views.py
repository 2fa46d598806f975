"""Thin views onto ``campaigns.services``; every page goes through ``org_view``.

Another organisation's campaign or layout is a 404 (``get_campaign_for_member``); a
member without the permission gets 403. Actions that change state take POST only.
"""

from __future__ import annotations

from csp.decorators import csp_replace
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST, require_safe

from accounts.access import has_perm, org_view
from accounts.reauth import require_recent_auth
from audit.enums import Action
from audit.models import AuditEntry
from campaigns import audience, hooks, notifications, services
from campaigns.checks import run_checks
from campaigns.enums import (
    APPROVED_STATES,
    AWAITING_APPROVAL_STATES,
    EDITABLE_STATES,
    CampaignState,
)
from campaigns.forms import (
    ApproveForm,
    CampaignForm,
    LayoutForm,
    RejectForm,
    SenderProfileForm,
    TestSendForm,
)
from campaigns.models import Approval, Campaign, Layout, SenderProfile
from campaigns.rendering import SAMPLE_CONTACT, contact_data, render_for_contact
from campaigns.templating import RenderError
from campaigns.text import html_to_text

# The preview document is the marketer's HTML: its own policy, stricter than the app's
# in what it may run (nothing) and looser only where an e-mail needs it (inline styles,
# remote https images). ``sandbox`` gives it an opaque origin even if opened directly.
PREVIEW_CSP = {
    "default-src": ["'none'"],
    "script-src": ["'none'"],
    "style-src": ["'unsafe-inline'"],
    "img-src": ["https:", "data:"],
    "font-src": ["https:", "data:"],
    "connect-src": ["'none'"],
    "object-src": ["'none'"],
    "base-uri": ["'none'"],
    "form-action": ["'none'"],
    "frame-ancestors": ["'self'"],
    "sandbox": True,
}


def _error_messages(error: ValidationError) -> list[str]:
    return [str(m) for m in error.messages]


def _flash(request, error: ValidationError) -> None:
    for message in _error_messages(error):
        messages.error(request, message)


def _detail(request, campaign):
    return redirect("campaigns:detail", request.organization.slug, campaign.pk)


# --- List, detail, editor -------------------------------------------------------------


@require_safe
@org_view("campaigns.view")
def campaign_list(request):
    state = request.GET.get("state", "")
    campaigns = (
        Campaign.objects.for_organization(request.organization)
        .select_related("created_by", "submitted_by")
        .order_by("-updated_at", "-pk")
    )
    counts = dict(
        Campaign.objects.for_organization(request.organization)
        .order_by()
        .values_list("state")
        .annotate(n=Count("pk"))
    )
    if state in CampaignState.values:
        campaigns = campaigns.filter(state=state)
    else:
        state = ""
    states = [(value, label, counts.get(value, 0)) for value, label in CampaignState.choices]
    return render(
        request,
        "campaigns/list.html",
        {
            "campaigns": campaigns[:200],
            "states": states,
            "state": state,
            "total": sum(counts.values()),
            "unread": services.notifications_for(request.membership).unread().count(),
        },
    )


def _editor(request, form, campaign=None):
    return render(
        request,
        "campaigns/form.html",
        {
            "form": form,
            "campaign": campaign,
            "profile": SenderProfile.for_organization(request.organization),
        },
    )


def _save(request, form, action):
    try:
        return action(form.to_input())
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                for item in errors:
                    form.add_error(field if field in form.fields else None, item)
        else:
            for message in _error_messages(error):
                form.add_error(None, message)
    return None


@org_view("campaigns.edit")
def campaign_create(request):
    profile = SenderProfile.for_organization(request.organization)
    initial = {"from_name": profile.sender_name, "html_body": services.DEFAULT_HTML_BODY}
    form = CampaignForm(request.POST or None, initial=initial, membership=request.membership)
    if request.method == "POST" and form.is_valid():
        campaign = _save(
            request,
            form,
            lambda data: services.create_campaign(request.membership, data, request),
        )
        if campaign is not None:
            messages.success(request, _("Campaign saved as a draft."))
            return _detail(request, campaign)
    return _editor(request, form)


@org_view("campaigns.edit")
def campaign_edit(request, campaign_id):
    campaign = services.get_campaign_for_member(request.membership, campaign_id, "campaigns.edit")
    if campaign.state not in EDITABLE_STATES:
        messages.error(request, _("This campaign can no longer be changed; clone it instead."))
        return _detail(request, campaign)
    form = CampaignForm(request.POST or None, instance=campaign, membership=request.membership)
    if request.method == "POST" and form.is_valid():
        before = campaign.state
        updated = _save(
            request,
            form,
            lambda data: services.update_campaign(request.membership, campaign, data, request),
        )
        if updated is not None:
            if before != CampaignState.DRAFT and updated.state == CampaignState.DRAFT:
                messages.warning(
                    request,
                    _(
                        "Saved. What it sends changed, so its approvals were voided: it is a "
                        "draft again and needs submitting."
                    ),
                )
            else:
                messages.success(request, _("Saved."))
            return _detail(request, updated)
    return _editor(request, form, campaign)


def _history(campaign) -> list:
    labels = dict(Action.choices)
    entries = list(
        AuditEntry.objects.filter(
            organization_id=campaign.organization_id,
            target_type="campaigns.campaign",
            target_id=str(campaign.pk),
            action__startswith="campaign_",
        ).order_by("seq")
    )
    for entry in entries:
        entry.action_label = labels.get(entry.action, entry.action)
    return entries


@require_safe
@org_view("campaigns.view")
def campaign_detail(request, campaign_id):
    membership = request.membership
    campaign = services.get_campaign_for_member(membership, campaign_id)
    fingerprint = services.content_fingerprint(campaign)
    approvals = Approval.objects.filter(campaign=campaign).select_related("approver")
    context = {
        "campaign": campaign,
        "fingerprint": fingerprint,
        "approvals": approvals,
        "current_approvals": services.current_approvals(campaign, fingerprint).count(),
        "approvals_required": request.organization.approvals_required,
        "may_approve": services.may_approve(membership, campaign),
        "may_cancel": services.may_cancel(membership, campaign),
        "may_stop": services.may_stop(membership, campaign),
        "may_edit": has_perm(membership, "campaigns.edit", campaign)
        and campaign.state in EDITABLE_STATES,
        "may_submit": has_perm(membership, "campaigns.submit", campaign)
        and campaign.state == CampaignState.DRAFT,
        "may_withdraw": has_perm(membership, "campaigns.submit", campaign)
        and campaign.state in AWAITING_APPROVAL_STATES,
        "may_test_send": has_perm(membership, "campaigns.test_send", campaign),
        "may_clone": has_perm(membership, "campaigns.edit", campaign),
        "self_refusal": services.self_approval_refusal(membership.user, campaign)
        if campaign.state in AWAITING_APPROVAL_STATES
        and has_perm(membership, "campaigns.approve", campaign)
        else None,
        "history": _history(campaign),
        "stale_approval": campaign.state in APPROVED_STATES
        and fingerprint != campaign.approved_fingerprint,
        "in_undo_window": campaign.state in APPROVED_STATES
        and campaign.undo_until is not None
        and campaign.undo_until > timezone.now(),
        "show_check": campaign.state in EDITABLE_STATES,
    }
    return render(request, "campaigns/detail.html", context)


@require_safe
@org_view("campaigns.view")
def campaign_check(request, campaign_id):
    """The pre-send check as an HTML fragment (htmx loads it into the pages)."""
    campaign = services.get_campaign_for_member(request.membership, campaign_id)
    report = run_checks(campaign)
    return render(request, "campaigns/_check.html", {"report": report, "campaign": campaign})


# --- Preview ----------------------------------------------------------------------------


def _preview_contact(request, campaign):
    """The chosen contact of the audience (visible to this person), or the sample."""
    raw = request.GET.get("contact", "")
    if not raw:
        return None, dict(SAMPLE_CONTACT)
    if not raw.isdigit():
        raise Http404
    contact = audience.find_recipient(campaign, request.membership, int(raw))
    if contact is None:
        raise Http404
    return contact, contact_data(contact)


def _rendered(campaign, data):
    try:
        return render_for_contact(campaign, data), None
    except RenderError as error:
        return None, str(error)


@require_safe
@org_view("campaigns.view")
def campaign_preview(request, campaign_id):
    campaign = services.get_campaign_for_member(request.membership, campaign_id)
    contact, data = _preview_contact(request, campaign)
    message, error = _rendered(campaign, data)
    try:
        sample = audience.sample(campaign, request.membership, n=20)
    except ValueError:
        sample = []
    return render(
        request,
        "campaigns/preview.html",
        {
            "campaign": campaign,
            "contact": contact,
            "sample": sample,
            "message": message,
            "error": error,
        },
    )


def _preview_document(view):
    return xframe_options_sameorigin(csp_replace(PREVIEW_CSP)(view))


@require_safe
@org_view("campaigns.view")
@_preview_document
def campaign_preview_html(request, campaign_id):
    """The rendered HTML alone, for the sandboxed preview ``<iframe>``: its own CSP
    (``PREVIEW_CSP``: no scripts, sandboxed, framable by this site only)."""
    campaign = services.get_campaign_for_member(request.membership, campaign_id)
    _contact, data = _preview_contact(request, campaign)
    message, error = _rendered(campaign, data)
    if message is None:
        body = render_to_string("campaigns/_preview_error.html", {"error": error}, request)
        return HttpResponse(body, status=200)
    # Served as UTF-8 whatever the campaign's charset: this is the page, not the e-mail.
    return HttpResponse(message.html or "", content_type="text/html; charset=utf-8")


# --- Workflow actions -----------------------------------------------------------------


def _act(request, campaign_id, perm, action, success):
    campaign = services.get_campaign_for_member(request.membership, campaign_id, perm)
    try:
        action(campaign)
    except ValidationError as error:
        _flash(request, error)
    else:
        messages.success(request, success)
    return _detail(request, campaign)


@require_POST
@org_view("campaigns.submit")
def campaign_submit(request, campaign_id):
    response = _act(
        request,
        campaign_id,
        "campaigns.submit",
        lambda c: services.submit_campaign(request.membership, c, request),
        _("Submitted for approval. The approvers have been told."),
    )
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.state == CampaignState.SUBMITTED:
        available = len(notifications.approvers_for(campaign))
        if available < request.organization.approvals_required:
            messages.warning(
                request,
                _(
                    "%(needed)s approvals are required but only %(available)s other people "
                    "can approve it: ask an admin to add approvers."
                )
                % {"needed": request.organization.approvals_required, "available": available},
            )
    return response


@require_POST
@org_view("campaigns.submit")
def campaign_withdraw(request, campaign_id):
    return _act(
        request,
        campaign_id,
        "campaigns.submit",
        lambda c: services.withdraw_campaign(request.membership, c, request),
        _("Withdrawn: the campaign is a draft again."),
    )


@require_POST
@org_view("campaigns.approve")
def campaign_approve(request, campaign_id):
    campaign = services.get_campaign_for_member(
        request.membership, campaign_id, "campaigns.approve"
    )
    reauth = require_recent_auth(request)  # the approver's password or code, again
    if reauth is not None:
        return reauth
    form = ApproveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Open the approval page and review the campaign first."))
        return redirect("campaigns:review", request.organization.slug, campaign.pk)
    try:
        updated = services.approve_campaign(
            request.membership,
            campaign,
            comment=form.cleaned_data["comment"],
            expected_fingerprint=form.cleaned_data["fingerprint"],
            request=request,
        )
    except ValidationError as error:
        _flash(request, error)
        return redirect("campaigns:review", request.organization.slug, campaign.pk)
    if updated.state in APPROVED_STATES:
        messages.success(request, _("Approved. It goes out after the undo window."))
    else:
        messages.success(request, _("Your approval is recorded; more approvals are needed."))
    return _detail(request, updated)


@require_POST
@org_view("campaigns.approve")
def campaign_reject(request, campaign_id):
    campaign = services.get_campaign_for_member(
        request.membership, campaign_id, "campaigns.approve"
    )
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Say what needs to change."))
        return redirect("campaigns:review", request.organization.slug, campaign.pk)
    try:
        services.reject_campaign(
            request.membership,
            campaign,
            comment=form.cleaned_data["comment"],
            expected_fingerprint=form.cleaned_data["fingerprint"],
            request=request,
        )
    except ValidationError as error:
        _flash(request, error)
        return redirect("campaigns:review", request.organization.slug, campaign.pk)
    messages.success(request, _("Rejected: the campaign is a draft again, with your comment."))
    return _detail(request, campaign)


def _stop_action(request, campaign_id, action, success):
    # Cancel, pause and resume are open to marketers and approvers alike: the service
    # checks "campaigns.edit or campaigns.approve".
    campaign = services.get_campaign_for_member(request.membership, campaign_id)
    if not services.may_stop(request.membership, campaign):
        raise PermissionDenied("campaigns.edit")
    try:
        action(campaign)
    except ValidationError as error:
        _flash(request, error)
    else:
        messages.success(request, success)
    return _detail(request, campaign)


@require_POST
@org_view()
def campaign_cancel(request, campaign_id):
    return _stop_action(
        request,
        campaign_id,
        lambda c: services.cancel_campaign(request.membership, c, request),
        _("Cancelled. Nothing more of this campaign will be sent."),
    )


@require_POST
@org_view()
def campaign_pause(request, campaign_id):
    return _stop_action(
        request,
        campaign_id,
        lambda c: services.pause_campaign(request.membership, c, request),
        _("Paused."),
    )


@require_POST
@org_view()
def campaign_resume(request, campaign_id):
    return _stop_action(
        request,
        campaign_id,
        lambda c: services.resume_campaign(request.membership, c, request),
        _("Resumed."),
    )


@require_POST
@org_view("campaigns.edit")
def campaign_clone(request, campaign_id):
    campaign = services.get_campaign_for_member(request.membership, campaign_id, "campaigns.edit")
    copy = services.clone_campaign(request.membership, campaign, request)
    messages.success(request, _("Cloned: this is a new draft."))
    return redirect("campaigns:edit", request.organization.slug, copy.pk)


@org_view("campaigns.test_send")
def campaign_test_send(request, campaign_id):
    membership = request.membership
    campaign = services.get_campaign_for_member(membership, campaign_id, "campaigns.test_send")
    available = hooks.test_sender() is not None
    try:
        contacts = audience.sample(campaign, membership, n=20)
    except ValueError:
        contacts = []
    form = TestSendForm(
        request.POST or None,
        addresses=services.allowed_test_addresses(membership),
        contacts=contacts,
        initial={"recipients": [membership.user.email.lower()]},
    )
    results = None
    if request.method == "POST" and form.is_valid():
        try:
            results = services.send_test(
                membership,
                campaign,
                form.cleaned_data["recipients"],
                contact_id=form.cleaned_data["contact"],
                request=request,
            )
        except ValidationError as error:
            for message in _error_messages(error):
                form.add_error(None, message)
    return render(
        request,
        "campaigns/test_send.html",
        {"campaign": campaign, "form": form, "results": results, "available": available},
    )


# --- Approval ---------------------------------------------------------------------------


@require_safe
@org_view("campaigns.approve")
def campaign_review(request, campaign_id):
    """The approval page: the message exactly as it goes out, the recipient count and a
    sample, the pre-send check, the domain status and the diff since the last approval."""
    membership = request.membership
    campaign = services.get_campaign_for_member(membership, campaign_id, "campaigns.approve")
    fingerprint = services.content_fingerprint(campaign)
    report = run_checks(campaign)
    try:
        sample = audience.sample(campaign, membership, n=10)
    except ValueError:
        sample = []
    return render(
        request,
        "campaigns/review.html",
        {
            "campaign": campaign,
            "fingerprint": fingerprint,
            "report": report,
            "sample": sample,
            "diff": services.snapshot_diff(campaign),
            "approvals": services.current_approvals(campaign, fingerprint).select_related(
                "approver"
            ),
            "approvals_required": request.organization.approvals_required,
            "may_approve": services.may_approve(membership, campaign),
            "self_refusal": services.self_approval_refusal(membership.user, campaign),
            "approve_form": ApproveForm(initial={"fingerprint": fingerprint}),
            "reject_form": RejectForm(initial={"fingerprint": fingerprint}),
        },
    )


@require_safe
@org_view("campaigns.approve")
def approval_queue(request):
    membership = request.membership
    campaigns = list(
        Campaign.objects.for_organization(request.organization)
        .awaiting_approval()
        .select_related("submitted_by", "content_changed_by")
        .order_by("submitted_at", "pk")
    )
    rows = [
        (campaign, services.self_approval_refusal(membership.user, campaign))
        for campaign in campaigns
    ]
    return render(request, "campaigns/queue.html", {"rows": rows})


@org_view("campaigns.view")
def notification_list(request):
    if request.method == "POST":
        services.mark_notifications_read(request.membership)
        return redirect("campaigns:notifications", request.organization.slug)
    items = services.notifications_for(request.membership).select_related("campaign")[:100]
    return render(request, "campaigns/notifications.html", {"notifications": items})


# --- Layouts and settings ---------------------------------------------------------------


@require_safe
@org_view("campaigns.view")
def layout_list(request):
    layouts = Layout.objects.for_organization(request.organization).annotate(
        used=Count("campaigns")
    )
    return render(request, "campaigns/layouts.html", {"layouts": layouts})


def _layout_form(request, form, layout=None):
    return render(request, "campaigns/layout_form.html", {"form": form, "layout": layout})


def _save_layout(request, form, action):
    try:
        return action()
    except ValidationError as error:
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                for item in errors:
                    form.add_error(field if field in form.fields else None, item)
        else:
            form.add_error(None, error)
    return None


@org_view("campaigns.edit")
def layout_create(request):
    form = LayoutForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        layout = _save_layout(
            request,
            form,
            lambda: services.create_layout(
                request.membership,
                name=data["name"],
                html=data["html"],
                text=data["text"],
                request=request,
            ),
        )
        if layout is not None:
            messages.success(request, _("Layout saved."))
            return redirect("campaigns:layouts", request.organization.slug)
    return _layout_form(request, form)


@org_view("campaigns.edit")
def layout_edit(request, layout_id):
    layout = services.get_layout_for_member(request.membership, layout_id, "campaigns.edit")
    form = LayoutForm(request.POST or None, instance=layout)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        saved = _save_layout(
            request,
            form,
            lambda: services.update_layout(
                request.membership,
                layout,
                name=data["name"],
                html=data["html"],
                text=data["text"],
                request=request,
            ),
        )
        if saved is not None:
            messages.success(request, _("Layout saved."))
            return redirect("campaigns:layouts", request.organization.slug)
    return _layout_form(request, form, layout)


@org_view("org.manage")
def sender_settings(request):
    profile = SenderProfile.for_organization(request.organization)
    form = SenderProfileForm(request.POST or None, instance=profile)
    if request.method == "POST" and form.is_valid():
        try:
            services.update_sender_profile(request.membership, form.cleaned_data, request)
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, errors in error.error_dict.items():
                    for item in errors:
                        form.add_error(field if field in form.fields else None, item)
            else:
                form.add_error(None, error)
        else:
            messages.success(request, _("Campaign settings saved."))
            return redirect("campaigns:settings", request.organization.slug)
    return render(request, "campaigns/settings.html", {"form": form})


@require_POST
@org_view("campaigns.edit")
def generate_text(request):
    """The text body generated from the HTML body in the editor (htmx swaps it in)."""
    text = html_to_text(request.POST.get("html_body", ""))
    return render(request, "campaigns/_text_body.html", {"text": text})
