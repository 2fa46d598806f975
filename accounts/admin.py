"""Organisations, users, memberships and invitations in the Django admin.

The admin is the platform operator's tool (``is_staff``; the site requires a verified
second factor, see ``config.urls``). Rules still go through ``accounts.services`` where
one exists: a new organisation is made by ``create_organization`` (so it always has an
admin and an audit entry), and a change of plan limits or policies is written to the
organisation's audit log, so its admins can see what the platform changed.

Nothing here deletes: users are deactivated, not deleted, and organisations, memberships
and invitations are what the audit log refers to.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.utils.translation import gettext_lazy as _

from accounts import services
from accounts.enums import Role
from accounts.models import Invitation, Membership, Organization, User
from audit import record
from audit.enums import Action

PLAN_FIELDS = ("max_contacts", "monthly_send_limit")


class OrganizationCreationForm(forms.ModelForm):
    admin_email = forms.EmailField(
        label=_("first admin's e-mail address"),
        help_text=_("They get an admin membership and an invitation link to set a password."),
    )

    class Meta:
        model = Organization
        fields = ("name", "slug", "time_zone", *PLAN_FIELDS)


class MembershipInline(admin.TabularInline):
    """Who belongs to the organisation; changes go through ``MembershipAdmin`` (link)."""

    model = Membership
    fields = ("user", "role", "is_active", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Organization)
class OrganizationAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "is_active", *PLAN_FIELDS, "require_2fa", "created_at")
    list_filter = ("is_active", "require_2fa")
    search_fields = ("name", "slug")
    ordering = ("name",)
    readonly_fields = ("created_at",)
    inlines = [MembershipInline]
    fieldsets = (
        (None, {"fields": ("name", "slug", "time_zone", "is_active", "created_at")}),
        (_("Plan limits"), {"fields": PLAN_FIELDS}),
        (
            _("Policies"),
            {
                "fields": (
                    "approvals_required",
                    "require_2fa",
                    "session_timeout_minutes",
                    "ip_allowlist",
                )
            },
        ),
    )
    add_fieldsets = (
        (None, {"fields": ("name", "slug", "time_zone", "admin_email")}),
        (_("Plan limits"), {"fields": PLAN_FIELDS}),
    )

    def get_fieldsets(self, request, obj=None):
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = OrganizationCreationForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_readonly_fields(self, request, obj=None):
        # The slug is in every URL and bookmark of the organisation: fixed once made.
        return ("slug", "created_at") if obj is not None else ()

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        if change:
            self._save_change(request, obj, form)
            return
        organization, invitation = services.create_organization(
            name=obj.name,
            slug=obj.slug,
            admin_email=form.cleaned_data["admin_email"],
            actor=request.user,
            time_zone=obj.time_zone,
        )
        limits = {field: getattr(obj, field) for field in PLAN_FIELDS}
        Organization.objects.filter(pk=organization.pk).update(**limits)
        # The admin goes on with ``obj`` (log entry, redirect): make it the saved row.
        obj.pk = organization.pk
        obj._state.adding = False
        obj.refresh_from_db()
        self.message_user(
            request,
            _("Send the admin this invitation link (it works once and expires): %(url)s")
            % {"url": services.invitation_url(invitation)},
            messages.WARNING,
        )

    def _save_change(self, request, obj, form):
        before = Organization.objects.get(pk=obj.pk)
        diff = {
            field: [getattr(before, field), getattr(obj, field)]
            for field in form.changed_data
            if getattr(before, field) != getattr(obj, field)
        }
        obj.save()
        if diff:
            record(
                Action.POLICY_CHANGED,
                actor=request.user,
                organization=obj,
                target=obj,
                request=request,
                changes=diff,
                by_platform=True,
            )


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    """Django's user admin without a username: people log in by e-mail address."""

    form = UserEditForm
    add_form = UserCreationForm
    list_display = ("email", "full_name", "is_active", "is_staff", "date_joined", "last_login")
    list_filter = ("is_active", "is_staff", "is_superuser")
    search_fields = ("email", "full_name")
    ordering = ("email",)
    readonly_fields = ("date_joined", "last_login")
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("full_name",)}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("email", "usable_password", "password1", "password2"),
            },
        ),
    )

    def has_delete_permission(self, request, obj=None):
        return False  # deactivate instead: the audit log refers to people


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ("user", "organization", "role", "is_active")

    def clean(self):
        data = super().clean()
        current = self.instance  # not yet changed: the form writes into it after clean()
        if current.pk is None or current.role != Role.ADMIN or not current.is_active:
            return data
        if data.get("role") == Role.ADMIN and data.get("is_active"):
            return data
        other_admins = (
            Membership.objects.active()
            .filter(organization_id=current.organization_id, role=Role.ADMIN)
            .exclude(pk=current.pk)
        )
        if not other_admins.exists():
            raise forms.ValidationError(
                _("%(email)s is the last active admin; make someone else admin first."),
                params={"email": current.user.email},
                code="last_admin",
            )
        return data


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    """The operator's way to repair an organisation (e.g. make someone admin when the only
    admin has left). Keeps the last-admin rule, and writes the change to the
    organisation's audit log."""

    form = MembershipForm
    list_display = ("user", "organization", "role", "is_active", "created_at")
    list_filter = ("role", "is_active")
    list_select_related = ("user", "organization")
    search_fields = ("user__email", "organization__name", "organization__slug")
    raw_id_fields = ("user", "organization")

    def get_readonly_fields(self, request, obj=None):
        return ("user", "organization", "created_at") if obj is not None else ("created_at",)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        before = Membership.objects.get(pk=obj.pk) if change else None
        obj.save()
        if before is not None and before.role != obj.role:
            record(
                Action.ROLE_CHANGED,
                actor=request.user,
                organization=obj.organization,
                target=obj,
                request=request,
                email=obj.user.email,
                before=before.role,
                after=obj.role,
                by_platform=True,
            )
        if before is not None and before.is_active and not obj.is_active:
            record(
                Action.MEMBER_DEACTIVATED,
                actor=request.user,
                organization=obj.organization,
                target=obj,
                request=request,
                email=obj.user.email,
                role=obj.role,
                by_platform=True,
            )


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Invitations are made by organisation admins (or ``create_organization``); here they
    are only looked at. The nonce is shown, never editable: changing it would revive or
    break links already sent."""

    list_display = ("email", "organization", "role", "created_at", "accepted_at", "revoked_at")
    list_filter = ("role",)
    list_select_related = ("organization",)
    search_fields = ("email", "organization__name", "organization__slug")
    readonly_fields = (
        "organization",
        "email",
        "role",
        "invited_by",
        "nonce",
        "created_at",
        "accepted_at",
        "accepted_by",
        "revoked_at",
    )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
