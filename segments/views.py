"""Segment pages: thin doors onto ``segments.services``.

The builder page is one form. Changing a field or an operator, or adding or removing a
condition or group, posts the whole form to ``builder`` (htmx), which answers with the
rebuilt rule tree and, out of band, the live preview; typing a value posts it to
``preview``, which answers with the preview alone. Without JavaScript the same buttons
submit the form and the page comes back rebuilt. Saving is an ordinary POST.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.access import has_perm, org_view
from segments import engagement
from segments.builder import apply_action, describe, draft_from_post, new_draft, view_tree
from segments.forms import SegmentForm
from segments.rules import MAX_DEPTH, RuleError, check_rules
from segments.services import (
    catalogue_for,
    create_segment,
    delete_segment,
    get_segment_for_member,
    preview_rules,
    segment_preview,
    segments_for_member,
    update_segment,
)


@org_view("segments.view")
def segment_list(request):
    segments = segments_for_member(request.membership)
    return render(
        request,
        "segments/list.html",
        {"segments": segments, "can_edit": has_perm(request.membership, "segments.edit")},
    )


@org_view("segments.view")
def segment_detail(request, segment_id):
    membership = request.membership
    segment = get_segment_for_member(membership, segment_id)
    catalogue = catalogue_for(request.organization, membership=membership)
    return render(
        request,
        "segments/detail.html",
        {
            "segment": segment,
            "summary": describe(segment.rules, catalogue),
            "can_edit": has_perm(membership, "segments.edit"),
        },
    )


@org_view("segments.view")
def segment_count(request, segment_id):
    """The saved segment's recipients as this person may see them (loaded by htmx)."""
    segment = get_segment_for_member(request.membership, segment_id)
    preview = segment_preview(request.membership, segment)
    return render(request, "segments/_preview.html", {"preview": preview})


@org_view("segments.edit")
def segment_create(request):
    if request.method == "POST":
        return _save(request, segment=None)
    return _page(request, SegmentForm(), new_draft(), segment=None)


@org_view("segments.edit")
def segment_edit(request, segment_id):
    segment = get_segment_for_member(request.membership, segment_id, "segments.edit")
    if request.method == "POST":
        return _save(request, segment=segment)
    form = SegmentForm(initial={"name": segment.name, "description": segment.description})
    return _page(request, form, segment.rules, segment=segment)


@org_view("segments.edit")
def segment_delete(request, segment_id):
    segment = get_segment_for_member(request.membership, segment_id, "segments.edit")
    if request.method == "POST":
        try:
            delete_segment(request.membership, segment, request=request)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
            return redirect("segments:detail", request.organization.slug, segment.pk)
        messages.success(request, _("Segment “%(name)s” deleted.") % {"name": segment.name})
        return redirect("segments:list", request.organization.slug)
    return render(request, "segments/delete.html", {"segment": segment})


@org_view("segments.edit")
@require_POST
def builder(request):
    """The rebuilt rule tree after a structural change, plus the preview (out of band)."""
    draft = _posted_draft(request)
    context = _builder_context(request, draft)
    context["preview"] = preview_rules(request.membership, draft)
    context["preview_oob"] = True
    return render(request, "segments/_builder_response.html", context)


@org_view("segments.edit")
@require_POST
def preview(request):
    """The live count and sample for the rules on the page as they are now, and each
    condition's problems."""
    draft = _posted_draft(request)
    context = _builder_context(request, draft)
    context["preview"] = preview_rules(request.membership, draft)
    # Each condition's messages come along (out of band), so none is left stale.
    return render(request, "segments/_preview_response.html", context)


# --- helpers --------------------------------------------------------------------------------


def _posted_draft(request) -> dict:
    catalogue = catalogue_for(request.organization, membership=request.membership)
    draft = draft_from_post(request.POST, catalogue)
    action = request.POST.get("action", "")
    return apply_action(draft, action) if action else draft


def _builder_context(request, draft: dict, extra_errors=()) -> dict:
    organization = request.organization
    catalogue = catalogue_for(organization, membership=request.membership)
    _canonical, errors = check_rules(draft, catalogue)
    errors = errors or list(extra_errors)
    return {
        "tree": view_tree(draft, catalogue, errors, engagement.campaign_choices(organization)),
        "sections": catalogue.sections(),
        "max_depth": MAX_DEPTH,
        "engagement_available": engagement.current() is not None,
        "builder_url": reverse("segments:builder", args=[organization.slug]),
        "preview_url": reverse("segments:preview", args=[organization.slug]),
    }


def _page(request, form, draft, *, segment, status=200, extra_errors=()) -> HttpResponse:
    context = _builder_context(request, draft, extra_errors)
    context.update(
        form=form,
        segment=segment,
        preview=preview_rules(request.membership, draft),
    )
    return render(request, "segments/form.html", context, status=status)


def _save(request, *, segment):
    membership = request.membership
    form = SegmentForm(request.POST)
    draft = _posted_draft(request)
    if request.POST.get("action", "save") != "save":
        # A builder button without JavaScript: show the rebuilt page, save nothing.
        unbound = SegmentForm(initial={k: request.POST.get(k, "") for k in ("name", "description")})
        return _page(request, unbound, draft, segment=segment)
    rule_errors = []
    if form.is_valid():
        data = form.cleaned_data
        try:
            if segment is None:
                segment = create_segment(
                    membership,
                    name=data["name"],
                    description=data["description"],
                    rules=draft,
                    request=request,
                )
                messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
            else:
                segment = update_segment(
                    membership,
                    segment,
                    name=data["name"],
                    description=data["description"],
                    rules=draft,
                    request=request,
                )
                messages.success(request, _("Segment “%(name)s” saved.") % {"name": segment.name})
            return redirect("segments:detail", request.organization.slug, segment.pk)
        except ValidationError as error:
            for name, problems in error.message_dict.items():
                for problem in problems:
                    form.add_error(name if name in form.fields else None, problem)
        except RuleError as error:
            rule_errors = error.errors
    return _page(request, form, draft, segment=segment, status=400, extra_errors=rule_errors)
