"""Template tags that let other apps' pages show delivery's parts without importing
delivery (imports point one way: accounts never imports delivery; its dashboard template
only loads this library)."""

from __future__ import annotations

from django import template
from django.urls import reverse

from accounts.access import has_perm
from delivery import reports

register = template.Library()


@register.inclusion_tag("delivery/_dashboard.html", takes_context=True)
def delivery_dashboard(context, organization):
    """The organisation dashboard's sending part: the onboarding checklist while
    something is left to do, sends this month against the plan's limit, and the last
    campaigns with their open and click rates."""
    request = context.get("request")
    membership = getattr(request, "membership", None)
    if membership is None or membership.organization_id != organization.pk:
        return {"show": False}
    steps = []
    for step in reports.onboarding_steps(membership):
        url = ""
        if has_perm(membership, step.perm):
            url = reverse(step.url_name, args=(organization.slug, *step.url_args))
        steps.append({"step": step, "url": url})
    may_report = has_perm(membership, "reports.view")
    return {
        "show": True,
        "current_org": organization,
        "steps": steps,
        "steps_done": sum(1 for s in steps if s["step"].done),
        "all_done": all(s["step"].done for s in steps),
        "overview": reports.organization_overview(organization) if may_report else None,
    }


@register.filter
def rate(value) -> str:
    """A report rate (``Decimal`` or ``None``) as text: ``12.5 %`` or a dash."""
    return reports.format_rate(value)
