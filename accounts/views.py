"""Thin views onto ``accounts.services``; every organisation page goes through ``org_view``."""

from __future__ import annotations

import base64
import copy
import io

import qrcode
import qrcode.image.svg
from django.contrib import messages
from django.contrib.auth import login, logout
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_otp import devices_for_user

from accounts import services
from accounts.access import get_object_for_member, org_view, url_with_next
from accounts.forms import (
    AcceptInvitationForm,
    InviteForm,
    LoginForm,
    PolicyForm,
    RoleForm,
    TokenForm,
)
from accounts.models import Invitation, Membership
from accounts.reauth import require_recent_auth


def _safe_next(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _has_confirmed_device(user) -> bool:
    return any(True for _ in devices_for_user(user, confirmed=True))


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        if _has_confirmed_device(form.get_user()):
            return redirect(url_with_next(reverse("accounts:2fa_verify"), self.get_success_url()))
        return response


@require_POST
def logout_view(request):
    logout(request)
    return redirect("accounts:login")


@login_required
def home(request):
    memberships = list(
        request.user.memberships.filter(is_active=True, organization__is_active=True)
        .select_related("organization")
        .order_by("organization__name")
    )
    if len(memberships) == 1 and not request.user.is_staff:
        return redirect("accounts:dashboard", memberships[0].organization.slug)
    return render(request, "accounts/home.html", {"memberships": memberships})


def _qr_data_uri(url: str) -> str:
    image = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=12)
    buffer = io.BytesIO()
    image.save(buffer)
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode()


@login_required
def two_factor_setup(request):
    # Replacing the authenticator needs the current one: otherwise a password alone would
    # let anyone enrol their own phone and pass two-factor.
    if _has_confirmed_device(request.user) and not request.user.is_verified():
        return redirect(
            url_with_next(reverse("accounts:2fa_verify"), _safe_next(request, "") or "/")
        )
    device = services.totp_device_for_enrolment(request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        codes = services.confirm_totp_device(request.user, form.cleaned_data["token"], request)
        if codes is not None:
            return render(
                request,
                "accounts/recovery_codes.html",
                {"codes": codes, "next": _safe_next(request, reverse("accounts:home"))},
            )
        form.add_error("token", _("That code is not right. Check the time on your phone."))
    context = {
        "form": form,
        "qr": _qr_data_uri(device.config_url),
        "secret": base64.b32encode(device.bin_key).decode(),
        "next": _safe_next(request, ""),
    }
    return render(request, "accounts/2fa_setup.html", context)


@login_required
def two_factor_verify(request):
    if not _has_confirmed_device(request.user):
        return redirect(url_with_next(reverse("accounts:2fa_setup"), _safe_next(request, "")))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if services.verify_second_factor(request, form.cleaned_data["token"]):
            return redirect(_safe_next(request, reverse("accounts:home")))
        form.add_error("token", _("That code is not right, or was already used."))
    return render(
        request, "accounts/2fa_verify.html", {"form": form, "next": _safe_next(request, "")}
    )


@login_required
def security(request):
    return render(
        request,
        "accounts/security.html",
        {"has_device": _has_confirmed_device(request.user), "verified": request.user.is_verified()},
    )


@login_required
@require_POST
def recovery_codes(request):
    if not request.user.is_verified():
        return redirect(url_with_next(reverse("accounts:2fa_verify"), reverse("accounts:security")))
    codes = services.generate_recovery_codes(request.user, request)
    return render(
        request,
        "accounts/recovery_codes.html",
        {"codes": codes, "next": reverse("accounts:security")},
    )


# Refusals from ``services.accept_invitation`` and the status each one gets.
_INVITATION_REFUSAL_STATUS = {
    "expired": 410,
    "used": 410,
    "revoked": 410,
    "wrong_user": 403,
    "login_required": 403,
}


def accept_invitation(request, token):
    try:
        invitation = services.load_invitation(token)
    except services.InvitationError as error:
        return render(
            request,
            "accounts/invitation_invalid.html",
            {"error": error.messages[0]},
            status=410 if error.code in {"expired", "used", "revoked"} else 404,
        )
    user = request.user if request.user.is_authenticated else None
    logged_in_as_invitee = user is not None and user.email.lower() == invitation.email.lower()
    # Someone with an account logs in first; a newcomer chooses a password here.
    must_log_in = user is None and services.invitee_has_account(invitation)
    chooses_password = user is None and not must_log_in
    form = AcceptInvitationForm(request.POST or None)
    refusal = ""
    status = 200
    if request.method == "POST":
        if chooses_password and not form.is_valid():
            status = 400
        else:
            try:
                membership = services.accept_invitation(
                    token,
                    user=user,
                    full_name=form.cleaned_data.get("full_name", "") if chooses_password else "",
                    password=form.cleaned_data["password1"] if chooses_password else None,
                    request=request,
                )
            except services.InvitationError as error:
                refusal = error.messages[0]
                status = _INVITATION_REFUSAL_STATUS.get(error.code, 400)
            except ValidationError as error:  # the password validators
                form.add_error("password1", error)
                status = 400
            else:
                if user is None:
                    login(
                        request,
                        membership.user,
                        backend="django.contrib.auth.backends.ModelBackend",
                    )
                messages.success(
                    request, _("Welcome to %(org)s.") % {"org": membership.organization.name}
                )
                return redirect("accounts:dashboard", membership.organization.slug)
    return render(
        request,
        "accounts/accept_invitation.html",
        {
            "invitation": invitation,
            "form": form,
            "refusal": refusal,
            "logged_in_as_invitee": logged_in_as_invitee,
            "must_log_in": must_log_in,
            "chooses_password": chooses_password,
            "login_url": url_with_next(reverse("accounts:login"), request.path),
        },
        status=status,
    )


@org_view("org.view")
def dashboard(request):
    organization = request.organization
    context = {
        "member_count": Membership.objects.for_organization(organization).active().count(),
    }
    return render(request, "accounts/dashboard.html", context)


@org_view("members.view")
def members(request):
    organization = request.organization
    context = {
        "members": Membership.objects.for_organization(organization)
        .select_related("user")
        .order_by("-is_active", "user__email"),
        "invitations": Invitation.objects.for_organization(organization)
        .filter(accepted_at=None, revoked_at=None)
        .select_related("invited_by"),
        "invite_form": InviteForm(),
        "role_form": RoleForm(),
    }
    return render(request, "accounts/members.html", context)


@org_view("members.manage")
def invite(request):
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            invitation = services.invite_member(
                request.membership, form.cleaned_data["email"], form.cleaned_data["role"], request
            )
        except ValidationError as error:
            form.add_error("email", error)
        else:
            messages.success(
                request, _("Invitation sent to %(email)s.") % {"email": invitation.email}
            )
            return redirect("accounts:members", request.organization.slug)
    return render(
        request, "accounts/invite.html", {"form": form}, status=400 if form.errors else 200
    )


@org_view("members.manage")
@require_POST
def member_role(request, member_id):
    target = get_object_for_member(
        request.membership,
        Membership.objects.select_related("user"),
        "members.manage",
        pk=member_id,
    )
    # A role change hands out (or takes away) power: the password or a code again first.
    reauth = require_recent_auth(request)
    if reauth is not None:
        return reauth
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
    else:
        try:
            services.change_role(request.membership, target, form.cleaned_data["role"], request)
            messages.success(
                request, _("Role of %(email)s changed.") % {"email": target.user.email}
            )
        except ValidationError as error:
            messages.error(request, error.messages[0])
    return redirect("accounts:members", request.organization.slug)


@org_view("members.manage")
@require_POST
def member_deactivate(request, member_id):
    target = get_object_for_member(
        request.membership,
        Membership.objects.select_related("user"),
        "members.manage",
        pk=member_id,
    )
    try:
        services.deactivate_member(request.membership, target, request)
        messages.success(
            request,
            _("%(email)s can no longer access this organisation.") % {"email": target.user.email},
        )
    except ValidationError as error:
        messages.error(request, error.messages[0])
    return redirect("accounts:members", request.organization.slug)


@org_view("members.manage")
@require_POST
def invitation_revoke(request, invitation_id):
    invitation = get_object_for_member(
        request.membership, Invitation.objects.all(), "members.manage", pk=invitation_id
    )
    services.revoke_invitation(request.membership, invitation, request)
    messages.success(request, _("Invitation withdrawn."))
    return redirect("accounts:members", request.organization.slug)


@org_view("org.manage")
def org_settings(request):
    organization = request.organization
    # The form edits a copy: validating a ModelForm writes into its instance, and a
    # refused change must not show up in the page around the form (title, navigation).
    form = PolicyForm(request.POST or None, instance=copy.copy(organization))
    if request.method == "POST" and form.is_valid():
        changes = {field: form.cleaned_data[field] for field in form.fields}
        try:
            diff = services.update_policies(request.membership, changes, request)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            if diff:
                messages.success(request, _("Settings saved."))
            return redirect("accounts:settings", organization.slug)
    return render(
        request, "accounts/settings.html", {"form": form}, status=400 if form.errors else 200
    )
