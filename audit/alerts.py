"""Alerts: the audit log watched for patterns an admin should look at.

Contract
--------
- Every audit entry of a *watched* action (``WATCHED_ACTIONS``) in an organisation's chain
  is evaluated after its transaction commits: ``audit.services.record`` queues
  ``audit.tasks.evaluate_alerts(entry_id)`` with ``transaction.on_commit``. The beat job
  ``audit.tasks.sweep_alerts`` evaluates the last few minutes again, so an entry whose
  task was lost (broker down at commit time) is still evaluated within a minute or two.
- Evaluation is deterministic and idempotent: each rule looks only at the entry and the
  entries *before it* in its chain, and an alert is made at most once per (entry, kind)
  (a unique constraint). A redelivered task or the sweep never duplicates an alert.
- Evaluations of one organisation run one at a time (its ``AlertRule`` row is locked),
  so two workers never both raise the "first" alert of a pattern.
- A new alert e-mails every active admin of the organisation, one message each, after
  the alert is committed. The alerts page lists them; acknowledging one is audited.
- Thresholds are per organisation (``audit.models.AlertRule``) with defaults; admins edit
  them on the alerts page (audited with before/after).

The rules
---------
=========================  ================================================================
kind                       fires on
=========================  ================================================================
large_export               a contacts, campaign report or audit export of more than
                           ``export_rows`` rows (``details["rows"]`` of
                           ``contacts_exported``/``report_exported``/``audit_exported``)
mass_deletion              more than ``deleted_contacts_per_hour`` ``contact_deleted``
                           entries within the hour up to this one (once per hour)
failed_logins_account      ``failed_logins`` failed logins on one account within
                           ``failed_login_window_minutes`` (once per window)
failed_logins_address      the same from one client address
admin_new_address          an admin logs in from an address none of their earlier logins
                           in this organisation came from (their very first login is not
                           an alert: there is nothing to compare with)
role_raised                a role changed to admin, or from viewer/marketer to approver
api_token_created          ``api_token_created`` (written by the API's token service)
off_hours_approval         a campaign of more than ``large_campaign_recipients``
                           recipients approved outside business hours (organisation's
                           time zone; weekends optional; public holidays are not known)
=========================  ================================================================

Failed logins for an address nobody uses are written to the platform chain (no
organisation), so no organisation is alerted about them; they stay in the platform log.

The views live here too (the alerts page, acknowledging, thresholds): they are thin
doors onto the service functions below, mounted by ``config.urls``.
"""

from __future__ import annotations

import datetime
import logging
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.access import get_object_for_member, org_view, require_perm
from accounts.enums import Role
from accounts.models import Membership
from audit.enums import Action
from audit.models import Alert, AlertKind, AlertRule, AlertSeverity, AuditEntry

logger = logging.getLogger(__name__)

MASS_DELETION_WINDOW = datetime.timedelta(hours=1)
# The sweep looks this far back (the beat job runs every minute).
SWEEP_WINDOW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class Finding:
    kind: str
    severity: str
    message: str
    details: dict = field(default_factory=dict)
    # Findings of one ongoing pattern share a key; within ``window`` only the first alerts.
    dedupe_key: str = ""
    window: datetime.timedelta | None = None


# --- The rules --------------------------------------------------------------------------


def _chain_before(entry: AuditEntry, action: str):
    """Entries of ``action`` in ``entry``'s chain up to and including ``entry``."""
    return AuditEntry.objects.filter(chain=entry.chain, action=action, seq__lte=entry.seq)


def _large_export(entry: AuditEntry, rule: AlertRule) -> Iterator[Finding]:
    rows = entry.details.get("rows")
    if isinstance(rows, int) and rows > rule.export_rows:
        what = {
            Action.CONTACTS_EXPORTED: _("contacts"),
            Action.REPORT_EXPORTED: _("campaign report"),
        }.get(entry.action, _("audit log"))
        yield Finding(
            AlertKind.LARGE_EXPORT,
            AlertSeverity.WARNING,
            _("%(actor)s exported %(rows)s rows (%(what)s); the threshold is %(limit)s.")
            % {"actor": entry.actor_label, "rows": rows, "what": what, "limit": rule.export_rows},
            {"rows": rows, "threshold": rule.export_rows, "export": entry.action},
        )


def _mass_deletion(entry: AuditEntry, rule: AlertRule) -> Iterator[Finding]:
    since = entry.created_at - MASS_DELETION_WINDOW
    deleted = _chain_before(entry, Action.CONTACT_DELETED).filter(created_at__gt=since).count()
    if deleted > rule.deleted_contacts_per_hour:
        yield Finding(
            AlertKind.MASS_DELETION,
            AlertSeverity.CRITICAL,
            _(
                "%(count)s contacts were deleted within an hour (latest by %(actor)s); the "
                "threshold is %(limit)s."
            )
            % {
                "count": deleted,
                "actor": entry.actor_label,
                "limit": rule.deleted_contacts_per_hour,
            },
            {"deleted": deleted, "threshold": rule.deleted_contacts_per_hour},
            dedupe_key="contacts",
            window=MASS_DELETION_WINDOW,
        )


def _failed_logins(entry: AuditEntry, rule: AlertRule) -> Iterator[Finding]:
    window = datetime.timedelta(minutes=rule.failed_login_window_minutes)
    recent = _chain_before(entry, Action.LOGIN_FAILED).filter(
        created_at__gt=entry.created_at - window
    )
    common = {"threshold": rule.failed_logins, "minutes": rule.failed_login_window_minutes}
    if entry.target_id:
        failures = recent.filter(target_type=entry.target_type, target_id=entry.target_id).count()
        if failures >= rule.failed_logins:
            account = entry.target_label or entry.actor_label
            yield Finding(
                AlertKind.FAILED_LOGINS_ACCOUNT,
                AlertSeverity.WARNING,
                _("%(count)s failed logins on %(account)s within %(minutes)s minutes.")
                % {"count": failures, "account": account, "minutes": common["minutes"]},
                {**common, "failures": failures, "account": account},
                dedupe_key=f"account:{entry.target_type}:{entry.target_id}",
                window=window,
            )
    if entry.ip:
        failures = recent.filter(ip=entry.ip).count()
        if failures >= rule.failed_logins:
            yield Finding(
                AlertKind.FAILED_LOGINS_ADDRESS,
                AlertSeverity.WARNING,
                _("%(count)s failed logins from %(ip)s within %(minutes)s minutes.")
                % {"count": failures, "ip": entry.ip, "minutes": common["minutes"]},
                {**common, "failures": failures, "ip": entry.ip},
                dedupe_key=f"ip:{entry.ip}",
                window=window,
            )


def _admin_new_address(entry: AuditEntry, rule: AlertRule) -> Iterator[Finding]:
    if entry.actor_id is None or not entry.ip:
        return
    is_admin = Membership.objects.filter(
        user_id=entry.actor_id,
        organization_id=entry.organization_id,
        role=Role.ADMIN,
        is_active=True,
    ).exists()
    if not is_admin:
        return
    earlier = _chain_before(entry, Action.LOGIN).filter(actor_id=entry.actor_id, seq__lt=entry.seq)
    if earlier.exists() and not earlier.filter(ip=entry.ip).exists():
        yield Finding(
            AlertKind.ADMIN_NEW_ADDRESS,
            AlertSeverity.WARNING,
            _("Admin %(actor)s logged in from %(ip)s, an address not seen before.")
            % {"actor": entry.actor_label, "ip": entry.ip},
            {"ip": entry.ip, "user_agent": entry.user_agent},
        )


# A change *to* one of these roles, *from* one of the listed roles, is a raise.
_RAISES = {
    Role.ADMIN: {Role.APPROVER, Role.MARKETER, Role.VIEWER},
    Role.APPROVER: {Role.MARKETER, Role.VIEWER},
}


def _role_raised(entry: AuditEntry, rule: AlertRule) -> Iterator[Finding]:
    before, after = entry.details.get("before"), entry.details.get("after")
    if before in _RAISES.get(after, ()):
        yield Finding(
            AlertKind.ROLE_RAISED,
            AlertSeverity.WARNING,
            _("%(actor)s changed the role of %(member)s from %(before)s to %(after)s.")
            % {
                "actor": entry.actor_label or _("the platform"),
                "member": entry.details.get("email") or entry.target_label,
                "before": Role(before).label,
                "after": Role(after).label,
            },
            {"before": before, "after": after, "member": entry.details.get("email", "")},
        )


def _api_token_created(entry: AuditEntry, rule: AlertRule) -> Iterator[Finding]:
    # The only e-mail admins get about a new token (the token service sends none): the
    # prefix names the token on the tokens page, where it can be revoked.
    name = entry.details.get("name") or entry.target_label
    prefix = entry.details.get("prefix", "")
    yield Finding(
        AlertKind.API_TOKEN_CREATED,
        AlertSeverity.INFO,
        _("%(actor)s created an API token (%(name)s, tyr_%(prefix)s_…).")
        % {"actor": entry.actor_label, "name": name, "prefix": prefix},
        {"name": name, "prefix": prefix, "scopes": entry.details.get("scopes", [])},
    )


def outside_business_hours(moment: datetime.datetime, rule: AlertRule, time_zone: str) -> bool:
    local = moment.astimezone(zoneinfo.ZoneInfo(time_zone))
    if rule.weekends_outside_business_hours and local.weekday() >= 5:
        return True
    return not (rule.business_hours_start <= local.hour < rule.business_hours_end)


def _off_hours_approval(entry: AuditEntry, rule: AlertRule) -> Iterator[Finding]:
    recipients = entry.details.get("recipient_count")
    if not isinstance(recipients, int) or recipients <= rule.large_campaign_recipients:
        return
    time_zone = entry.organization.time_zone
    if outside_business_hours(entry.created_at, rule, time_zone):
        local = entry.created_at.astimezone(zoneinfo.ZoneInfo(time_zone))
        yield Finding(
            AlertKind.OFF_HOURS_APPROVAL,
            AlertSeverity.WARNING,
            _(
                "%(actor)s approved “%(campaign)s” (%(count)s recipients) at %(time)s, outside "
                "business hours."
            )
            % {
                "actor": entry.actor_label,
                "campaign": entry.target_label,
                "count": recipients,
                "time": local.strftime("%Y-%m-%d %H:%M"),
            },
            {
                "recipient_count": recipients,
                "threshold": rule.large_campaign_recipients,
                "local_time": local.isoformat(),
            },
        )


RULES: dict[str, list[Callable[[AuditEntry, AlertRule], Iterator[Finding]]]] = {
    Action.CONTACTS_EXPORTED: [_large_export],
    Action.REPORT_EXPORTED: [_large_export],
    Action.AUDIT_EXPORTED: [_large_export],
    Action.CONTACT_DELETED: [_mass_deletion],
    Action.LOGIN_FAILED: [_failed_logins],
    Action.LOGIN: [_admin_new_address],
    Action.ROLE_CHANGED: [_role_raised],
    Action.API_TOKEN_CREATED: [_api_token_created],
    Action.CAMPAIGN_APPROVED: [_off_hours_approval],
}
WATCHED_ACTIONS = frozenset(str(action) for action in RULES)


# --- Evaluation -------------------------------------------------------------------------


def is_watched(entry: AuditEntry) -> bool:
    return entry.organization_id is not None and entry.action in WATCHED_ACTIONS


def queue_evaluation(entry: AuditEntry) -> None:
    """Called by ``audit.services.record`` inside the writer's transaction: evaluate the
    entry once it is committed. A broker that cannot take the task does not fail the
    operation (``robust``); the sweep evaluates the entry later."""
    if is_watched(entry):
        transaction.on_commit(partial(_send_task, entry.pk), robust=True)


def _send_task(entry_id: int) -> None:
    from audit.tasks import evaluate_alerts

    # A short retry covers a pooled broker connection that went stale (Redis restarted);
    # a broker that is really down costs the request that wrote the entry half a second
    # at most, and the sweep catches up.
    evaluate_alerts.apply_async(
        (entry_id,),
        retry=True,
        retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.2},
    )


def _locked_rule(organization) -> AlertRule:
    rule, _created = AlertRule.objects.get_or_create(organization=organization)
    return AlertRule.objects.select_for_update().get(pk=rule.pk)


def _already_alerted(entry: AuditEntry, finding: Finding) -> bool:
    if not finding.dedupe_key or finding.window is None:
        return False
    return (
        Alert.objects.filter(
            organization_id=entry.organization_id,
            kind=finding.kind,
            dedupe_key=finding.dedupe_key,
            audit_entry__created_at__gt=entry.created_at - finding.window,
            audit_entry__created_at__lte=entry.created_at,
        )
        .exclude(audit_entry=entry)
        .exists()
    )


def evaluate_entry(entry_id: int) -> list[Alert]:
    """Evaluate one audit entry; returns the alerts *newly* raised by it.

    Safe to call any number of times for the same entry. Each new alert's e-mail goes
    out after the transaction that created it commits.
    """
    entry = AuditEntry.objects.select_related("organization").filter(pk=entry_id).first()
    if entry is None or not is_watched(entry):
        return []
    raised = []
    with transaction.atomic(), translation.override(settings.LANGUAGE_CODE):
        rule = _locked_rule(entry.organization)
        for check in RULES[entry.action]:
            for finding in check(entry, rule):
                if _already_alerted(entry, finding):
                    continue
                alert, created = Alert.objects.get_or_create(
                    audit_entry=entry,
                    kind=finding.kind,
                    defaults={
                        "organization_id": entry.organization_id,
                        "severity": finding.severity,
                        "message": finding.message[:500],
                        "details": finding.details,
                        "dedupe_key": finding.dedupe_key,
                    },
                )
                if created:
                    raised.append(alert)
                    transaction.on_commit(partial(send_alert_email, alert.pk), robust=True)
    return raised


def recent_watched_entries(now: datetime.datetime | None = None) -> list[tuple[int, int]]:
    """``(entry id, organisation id)`` of every watched entry of the last
    ``SWEEP_WINDOW``, in chain order: what the sweep evaluates again."""
    now = now or timezone.now()
    return list(
        AuditEntry.objects.filter(
            created_at__gt=now - SWEEP_WINDOW,
            organization__isnull=False,
            action__in=WATCHED_ACTIONS,
        )
        .order_by("organization_id", "seq")
        .values_list("pk", "organization_id")
    )


def sweep(now: datetime.datetime | None = None) -> int:
    """Evaluate every watched entry of the last ``SWEEP_WINDOW`` again (the safety net
    for evaluations whose task never ran). Returns the number of alerts raised."""
    return sum(len(evaluate_entry(pk)) for pk, _org in recent_watched_entries(now))


# --- Notification -----------------------------------------------------------------------


def alerts_url(organization) -> str:
    return f"{settings.SITE_URL}{reverse('alerts:list', args=[organization.slug])}"


def admin_addresses(organization) -> list[str]:
    return list(
        Membership.objects.filter(
            organization=organization, role=Role.ADMIN, is_active=True, user__is_active=True
        )
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


def send_alert_email(alert_id: int) -> int:
    """E-mail the alert to each active admin of its organisation (one message each: an
    admin never sees who else received it). Returns the number of messages sent."""
    alert = Alert.objects.select_related("organization", "audit_entry").filter(pk=alert_id).first()
    if alert is None:
        return 0
    organization = alert.organization
    context = {"alert": alert, "organization": organization, "url": alerts_url(organization)}
    with translation.override(settings.LANGUAGE_CODE):
        subject = " ".join(render_to_string("emails/alert_subject.txt", context).split())
        text = render_to_string("emails/alert_body.txt", context)
        html = render_to_string("emails/alert_body.html", context)
    mails = []
    for address in admin_addresses(organization):
        message = EmailMultiAlternatives(subject, text, to=[address])
        message.attach_alternative(html, "text/html")
        mails.append(message)
    if not mails:
        return 0
    try:
        return get_connection().send_messages(mails) or 0
    except Exception:
        # The alert is on the alerts page whatever happens to the mail; say so loudly.
        logger.exception("alert %s: e-mail to the admins of %s failed", alert.pk, organization)
        return 0


# --- Services (the page's rules) ----------------------------------------------------------


@transaction.atomic
def acknowledge_alert(membership: Membership, alert: Alert, request=None) -> Alert:
    """Mark the alert as seen by ``membership``'s user (admins only; audited once)."""
    require_perm(membership, "audit.view", alert)
    alert = Alert.objects.select_for_update().get(pk=alert.pk)
    if alert.acknowledged_at is not None:
        return alert
    alert.acknowledged_at = timezone.now()
    alert.acknowledged_by = membership.user
    alert.save(update_fields=["acknowledged_at", "acknowledged_by"])
    from audit import record

    record(
        Action.ALERT_ACKNOWLEDGED,
        actor=membership.user,
        organization=alert.organization,
        target=alert,
        request=request,
        kind=alert.kind,
        alert_entry=alert.audit_entry_id,
    )
    return alert


RULE_FIELDS = (
    "export_rows",
    "deleted_contacts_per_hour",
    "failed_logins",
    "failed_login_window_minutes",
    "large_campaign_recipients",
    "business_hours_start",
    "business_hours_end",
    "weekends_outside_business_hours",
)


@transaction.atomic
def update_alert_rules(membership: Membership, changes: dict, request=None) -> dict:
    """Change the organisation's thresholds; returns ``{field: [before, after]}`` (audited).
    Invalid values (``ValidationError``) change nothing."""
    require_perm(membership, "org.manage")
    organization = membership.organization
    AlertRule.objects.get_or_create(organization=organization)
    rule = AlertRule.objects.select_for_update().get(organization=organization)
    diff = {}
    for name in RULE_FIELDS:
        if name in changes and getattr(rule, name) != changes[name]:
            diff[name] = [getattr(rule, name), changes[name]]
            setattr(rule, name, changes[name])
    if not diff:
        return {}
    rule.full_clean()
    rule.updated_at = timezone.now()
    rule.updated_by = membership.user
    rule.save()
    from audit import record

    record(
        Action.ALERT_RULES_CHANGED,
        actor=membership.user,
        organization=organization,
        target=organization,
        request=request,
        changes=diff,
    )
    return diff


# --- Views --------------------------------------------------------------------------------


class AlertRuleForm(forms.ModelForm):
    # Input validation only; the model's validators and constraint (business hours end
    # after they start) give the errors.
    class Meta:
        model = AlertRule
        fields = RULE_FIELDS


PAGE_SIZE = 50


@org_view("audit.view")
def alert_list(request):
    show_all = request.GET.get("show") == "all"
    alerts = Alert.objects.for_organization(request.organization).select_related("acknowledged_by")
    if not show_all:
        alerts = alerts.open()
    page_obj = Paginator(alerts, PAGE_SIZE).get_page(request.GET.get("page"))
    open_count = (
        Alert.objects.for_organization(request.organization).open().count()
        if show_all
        else page_obj.paginator.count
    )
    context = {"page_obj": page_obj, "show_all": show_all, "open_count": open_count}
    return render(request, "audit/alerts.html", context)


@org_view("audit.view")
@require_POST
def alert_acknowledge(request):
    alert_id = request.POST.get("alert", "")
    if not alert_id.isdigit():
        raise Http404
    alert = get_object_for_member(
        request.membership, Alert.objects.all(), "audit.view", pk=int(alert_id)
    )
    acknowledge_alert(request.membership, alert, request)
    messages.success(request, _("Alert acknowledged."))
    return redirect("alerts:list", request.organization.slug)


@org_view("org.manage")
def alert_rules(request):
    rule = AlertRule.for_organization(request.organization)
    form = AlertRuleForm(request.POST or None, instance=rule)
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in RULE_FIELDS}
        diff = update_alert_rules(request.membership, changes, request)
        if diff:
            messages.success(request, _("Alert thresholds saved."))
        return redirect("alerts:rules", request.organization.slug)
    return render(
        request, "audit/alerts_rules.html", {"form": form}, status=400 if form.errors else 200
    )


app_name = "alerts"
urlpatterns = [
    path("", alert_list, name="list"),
    path("acknowledge/", alert_acknowledge, name="acknowledge"),
    path("thresholds/", alert_rules, name="rules"),
]
