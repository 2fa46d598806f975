"""Campaigns in the Django admin, for platform operators.

Campaigns, approvals, layouts and notifications are read-only here: states change only
through ``campaigns.services`` (which enforces two-person approval and voids approvals on
every content change), so the admin cannot approve a campaign, move its state or edit
what an approval covers. The sender profile is editable; a footer change returns
campaigns awaiting approval or approved to draft, as on the settings page.
"""

from __future__ import annotations

from django.contrib import admin
from django.db import transaction

from campaigns import services
from campaigns.models import Approval, Campaign, Layout, Notification, SenderProfile


class ReadOnlyAdmin(admin.ModelAdmin):
    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields] + [
            f.name for f in self.model._meta.many_to_many
        ]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ApprovalInline(admin.TabularInline):
    model = Approval
    fields = ("approver", "decision", "fingerprint", "comment", "created_at", "voided_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Campaign)
class CampaignAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "state", "submitted_by", "approved_at", "updated_at")
    list_filter = ("state",)
    list_select_related = ("organization", "submitted_by")
    search_fields = ("name", "subject", "organization__name")
    inlines = [ApprovalInline]


@admin.register(Approval)
class ApprovalAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "approver", "decision", "created_at", "voided_at")
    list_filter = ("decision",)
    list_select_related = ("campaign", "approver")


@admin.register(Layout)
class LayoutAdmin(ReadOnlyAdmin):
    list_display = ("name", "organization", "updated_at")
    list_select_related = ("organization",)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("campaign", "user", "kind", "created_at", "read_at")
    list_filter = ("kind",)


@admin.register(SenderProfile)
class SenderProfileAdmin(admin.ModelAdmin):
    list_display = ("organization", "sender_name", "undo_window_minutes", "drift_threshold_percent")
    list_select_related = ("organization",)
    readonly_fields = ("updated_at",)

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        diff = {
            name: [str(form.initial.get(name, "")), str(form.cleaned_data.get(name, ""))]
            for name in form.changed_data
        }
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            if change and diff:
                services.sender_profile_changed(obj, diff, actor=request.user, request=request)
