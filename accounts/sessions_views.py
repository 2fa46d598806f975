"""The sessions page (``/account/sessions/``) and an admin's "sign out everywhere":
thin views onto ``accounts.sessions``."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import sessions
from accounts.access import get_object_for_member, org_view
from accounts.models import Membership


@login_required
def sessions_page(request):
    rows = sessions.active_sessions(request.user)
    current_key = request.session.session_key
    for row in rows:
        row.is_current = row.session_key == current_key
    return render(request, "accounts/sessions.html", {"sessions": rows})


@login_required
@require_POST
def session_sign_out(request):
    session_id = request.POST.get("session", "")
    if not session_id.isdigit():
        raise Http404
    current_key = request.session.session_key
    is_current = sessions.UserSession.objects.filter(
        pk=int(session_id), user=request.user, session_key=current_key
    ).exists()
    if not sessions.sign_out_session(request.user, int(session_id), request):
        raise Http404
    if is_current:
        return redirect("accounts:login")
    messages.success(request, _("That session is signed out."))
    return redirect("accounts:sessions")


@login_required
@require_POST
def sessions_sign_out_others(request):
    count = sessions.sign_out_other_sessions(request.user, request)
    messages.success(request, _("%(count)s other session(s) signed out.") % {"count": count})
    return redirect("accounts:sessions")


@org_view("members.manage")
@require_POST
def member_sign_out(request, member_id):
    target = get_object_for_member(
        request.membership,
        Membership.objects.select_related("user"),
        "members.manage",
        pk=member_id,
    )
    count = sessions.sign_out_everywhere(request.membership, target, request)
    if target.user_id == request.user.pk:
        return redirect("accounts:login")
    messages.success(
        request,
        _("%(email)s is signed out of %(count)s session(s).")
        % {"email": target.user.email, "count": count},
    )
    return redirect("accounts:members", request.organization.slug)
